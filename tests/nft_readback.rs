//! The nftables ruleset read back by the strict reader in
//! `wardwall::render::nftables::readback` (the one behind `explain --target
//! nftables`): it reads every rendered policy, with and without interface
//! matching, and its first-match evaluation of the forward chain gives the
//! IR evaluator's action, log flag and deciding rule for the hospital
//! probes and for seeded packets around every edge of each policy. The
//! real-kernel check of the same files is `tests/kernel.rs`.

mod common;

use std::net::IpAddr;
use std::path::PathBuf;

use common::edge_packets::edge_packets;
use common::probes::{HOSPITAL_PROBES, PROBE_DATE};
use wardwall::ir::{Action, Ir, Packet};
use wardwall::render::nftables::Nftables;
use wardwall::render::nftables::readback::{self, Forwarded, Ruleset};
use wardwall::render::{Renderer, Templates};

fn policy_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["policies", "tests/policies"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "kdl") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn compile(path: &std::path::Path) -> Option<Ir> {
    let compiled = wardwall::compile(path, PROBE_DATE.parse().unwrap()).unwrap();
    compiled.ir
}

fn render(ir: &Ir, match_interfaces: bool) -> Option<String> {
    Nftables { match_interfaces }
        .render(ir, &Templates::default())
        .ok()
        .map(|f| f[0].contents.clone())
}

fn forwarded(ir: &Ir, packet: Packet) -> Forwarded {
    let iface = |a: IpAddr| {
        ir.zone_of(a)
            .and_then(|z| z.bindings.get("nftables"))
            .cloned()
    };
    Forwarded {
        iif: iface(packet.src),
        oif: iface(packet.dst),
        packet,
    }
}

/// `None` if the ruleset gives `packet` the IR's verdict, log flag and
/// rule; `Some(reason)` otherwise. `Err` when the ruleset cannot answer
/// (an interface match on a packet from a zone without a binding).
fn disagreement(ir: &Ir, rs: &Ruleset, packet: Packet) -> Result<Option<String>, String> {
    let want = ir.evaluate(&packet);
    let want_rule = ir.verdict_rule_name(&want);
    let got = rs.evaluate(&forwarded(ir, packet))?;
    let (action, log, rule) = match got {
        Some(i) => {
            let r = &rs.rules[i];
            (
                r.verdict.action(),
                r.log_prefix.is_some(),
                r.block.clone().unwrap_or_else(|| "(ct rule)".into()),
            )
        }
        None => (rs.policy.action(), false, "(chain policy)".into()),
    };
    Ok(
        if (action, log, rule.as_str()) != (want.action, want.log, want_rule) {
            Some(format!(
                "{packet}: IR {} log={} by `{want_rule}`, nftables {action} log={log} by `{rule}`",
                want.action, want.log
            ))
        } else {
            None
        },
    )
}

#[test]
fn every_hospital_probe_gets_the_ir_verdict_and_rule() {
    let ir = compile(std::path::Path::new("policies/hospital.kdl")).unwrap();
    for match_interfaces in [false, true] {
        let text = render(&ir, match_interfaces).expect("the hospital policy renders");
        let rs = readback::parse(&text).unwrap_or_else(|e| panic!("{e}"));
        let mut failures = Vec::new();
        for probe in HOSPITAL_PROBES {
            let p = Packet::parse(probe.src, probe.dst, probe.proto).unwrap();
            if let Some(d) = disagreement(&ir, &rs, p).unwrap() {
                failures.push(format!("{}: {d}", probe.what));
            }
        }
        assert!(
            failures.is_empty(),
            "match_interfaces={match_interfaces}:\n{}",
            failures.join("\n")
        );
    }
}

#[test]
fn every_policy_reads_back_and_decides_like_the_ir() {
    let mut rendered = 0;
    for path in policy_files() {
        let Some(ir) = compile(&path) else { continue };
        for match_interfaces in [false, true] {
            let Some(text) = render(&ir, match_interfaces) else {
                continue;
            };
            rendered += 1;
            let rs = readback::parse(&text)
                .unwrap_or_else(|e| panic!("{} ({match_interfaces}): {e}", path.display()));
            // Every rule line is read: the two conntrack rules and every
            // line with a trailing comment (set and table comments stand
            // alone on their lines).
            let lines = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.starts_with("comment") && l.contains(" comment \""))
                .count();
            assert_eq!(rs.rules.len(), lines + 2, "{}", path.display());
            let mut failures = Vec::new();
            let mut answered = 0;
            let all = edge_packets(&ir, 0x5eed_0100 + rendered, 4000);
            for p in &all {
                match disagreement(&ir, &rs, *p) {
                    Ok(None) => answered += 1,
                    Ok(Some(d)) => failures.push(d),
                    // No interface for a zone without a binding: the
                    // renderer only matches interfaces on allow rules, so
                    // such a packet is one that rule cannot admit.
                    Err(_) => assert!(match_interfaces),
                }
            }
            assert!(
                failures.is_empty(),
                "{} (match_interfaces={match_interfaces}): {} of {} differ:\n{}",
                path.display(),
                failures.len(),
                all.len(),
                failures[..failures.len().min(30)].join("\n")
            );
            assert!(answered * 2 > all.len(), "{}", path.display());
        }
    }
    assert!(rendered >= 4, "only {rendered} rulesets rendered");
}

#[test]
fn a_first_packet_is_new_to_conntrack() {
    let ir = compile(std::path::Path::new("policies/hospital.kdl")).unwrap();
    let text = render(&ir, false).unwrap();
    let rs = readback::parse(&text).unwrap();
    // The connection-tracking rules come first and never decide a first
    // packet (or every probe would be accepted as established).
    assert_eq!(rs.rules[0].block, None);
    assert_eq!(rs.rules[1].block, None);
    // A `ct state new accept` in front takes every first packet.
    let opened = text.replace(
        "        ct state invalid drop\n",
        "        ct state invalid drop\n        ct state new accept\n",
    );
    let rs = readback::parse(&opened).unwrap();
    for probe in HOSPITAL_PROBES {
        let p = Packet::parse(probe.src, probe.dst, probe.proto).unwrap();
        assert_eq!(
            rs.evaluate(&forwarded(&ir, p)).unwrap(),
            Some(2),
            "{}",
            probe.what
        );
    }
    let deny = HOSPITAL_PROBES
        .iter()
        .find(|p| p.expect_rule == "contec-cms8000.out")
        .unwrap();
    let p = Packet::parse(deny.src, deny.dst, deny.proto).unwrap();
    assert_eq!(ir.evaluate(&p).action, Action::Deny);
    assert!(disagreement(&ir, &rs, p).unwrap().is_some());
}

#[test]
fn the_reader_refuses_what_wardwall_does_not_emit() {
    let ir = compile(std::path::Path::new("policies/hospital.kdl")).unwrap();
    let good = render(&ir, false).unwrap();
    readback::parse(&good).unwrap();
    let cases: &[(&str, &str)] = &[
        // an unknown match, verdict or statement
        ("tcp dport 515", "tcp sport 515"),
        (" drop comment", " queue comment"),
        ("counter accept", "counter jump elsewhere"),
        ("ip daddr @a_contec", "ip daddr @no_such_set"),
        ("ip daddr @a_contec", "ip6 daddr @a_contec"),
        ("10.20.8.0/25,", "10.20.8.1/25,"),
        ("type ipv4_addr", "type ether_addr"),
        ("policy drop;", "policy continue;"),
        ("hook forward", "hook input"),
        ("        # contec-cms8000.out\n", ""),
        (
            "comment \"monitor-data-export:",
            "comment \"something-else:",
        ),
        ("delete table inet wardwall\n", ""),
        ("udp dport 24105", "udp dport 24105-24105"),
        ("icmp type 8", "icmp type 8-300"),
        ("ct state invalid drop", "ct state untracked drop"),
        ("    }\n}\n", "    }\n}\ntable inet other {\n}\n"),
        ("meta l4proto { tcp, udp } th dport 53", "th dport 53"),
        (
            "meta l4proto tcp counter log prefix \"wardwall reject guest-isolation: \" reject with tcp reset",
            "counter log prefix \"wardwall reject guest-isolation: \" reject with tcp reset",
        ),
    ];
    for (i, (from, to)) in cases.iter().enumerate() {
        assert!(good.contains(from), "case {i}: `{from}` not in the output");
        let bad = good.replacen(from, to, 1);
        assert!(
            readback::parse(&bad).is_err(),
            "case {i} was accepted: {to}"
        );
    }
}

/// The comparison is not vacuous: a moved port, a dropped set element and
/// a swapped pair of rule blocks are each noticed on the hospital probes.
#[test]
fn wrong_rulesets_are_noticed() {
    let ir = compile(std::path::Path::new("policies/hospital.kdl")).unwrap();
    let good = render(&ir, false).unwrap();
    let probes: Vec<Packet> = HOSPITAL_PROBES
        .iter()
        .map(|p| Packet::parse(p.src, p.dst, p.proto).unwrap())
        .collect();
    let wrong = |text: &str| {
        let rs = readback::parse(text).unwrap_or_else(|e| panic!("{e}"));
        probes
            .iter()
            .filter(|p| disagreement(&ir, &rs, **p).unwrap().is_some())
            .count()
    };
    assert_eq!(wrong(&good), 0);
    let moved = good.replacen(
        "@c_central_station_v4 tcp dport 515 ",
        "@c_central_station_v4 tcp dport 516 ",
        1,
    );
    assert_ne!(moved, good);
    assert!(wrong(&moved) > 0, "a moved port");
    let dropped = good.replacen("            202.114.4.0/24,\n", "", 1);
    assert_ne!(dropped, good);
    assert!(wrong(&dropped) > 0, "a dropped advisory element");
    // Order matters: staff-to-internet moved above the advisory block lets
    // staff web traffic reach the blocked subnet.
    let block = |name: &str| {
        let start = good.find(&format!("        # {name}\n")).unwrap();
        let end = start + good[start..].find("\n\n").unwrap() + 2;
        good[start..end].to_string()
    };
    let (contec, staff) = (block("contec-cms8000.out"), block("staff-to-internet"));
    let swapped = good
        .replacen(&contec, "@@A@@", 1)
        .replacen(&staff, &contec, 1)
        .replacen("@@A@@", &staff, 1);
    assert!(
        wrong(&swapped) > 0,
        "an allow moved above the advisory block"
    );
}
