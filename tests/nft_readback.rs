//! The nftables ruleset read back by the strict reader in
//! `wardwall::read::nftables` (the one behind `explain --target
//! nftables`): it reads every rendered policy, with anti-spoofing and
//! address-only, and its first-match evaluation of the forward chain gives
//! the IR evaluator's action, log flag and deciding rule for the hospital
//! probes and for seeded packets around every edge of each policy, sent
//! from their zone's interface and, spoofed, from every other interface
//! (where the other targets, and so the reference, give the default). The
//! real-kernel check of the same files is `tests/kernel.rs`.

use crate::common;

use std::net::IpAddr;
use std::path::PathBuf;

use common::edge_packets::edge_packets;
use common::probes::{HOSPITAL_PROBES, PROBE_DATE};
use wardwall::ir::{Action, Ir, Packet};
use wardwall::read::nftables::{self as readback, Forwarded, Ruleset};
use wardwall::render::nftables::Nftables;
use wardwall::render::{Renderer, Templates};

fn policy_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["policies", "tests/policies", "tests/policies/nftables"] {
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

fn render(ir: &Ir, address_only: bool) -> Option<String> {
    Nftables { address_only }
        .render(ir, &Templates::default())
        .ok()
        .map(|f| f[0].contents.clone())
}

/// The nftables interface of the zone that owns `a`.
fn iface(ir: &Ir, a: IpAddr) -> Option<String> {
    ir.zone_of(a)
        .and_then(|z| z.bindings.get("nftables"))
        .cloned()
}

/// The packet as it arrives from its source's own zone.
fn forwarded(ir: &Ir, packet: Packet) -> Forwarded {
    Forwarded {
        iif: iface(ir, packet.src),
        oif: iface(ir, packet.dst),
        packet,
    }
}

/// What the four targets do with a packet arriving on `f.iif`: the IR's
/// verdict when that is the interface of its source address's zone; the
/// default otherwise (pfSense, Cisco and PAN-OS bind every rule to the
/// ingress interface with the source cut to its zones, so a spoofed source
/// matches none of them). An address-only ruleset answers the IR's
/// verdict wherever the packet comes from.
fn reference(ir: &Ir, f: &Forwarded, address_only: bool) -> (Action, bool, String) {
    let own = iface(ir, f.packet.src);
    if address_only || (own.is_some() && own == f.iif) {
        let want = ir.evaluate(&f.packet);
        let rule = ir.verdict_rule_name(&want).to_string();
        (want.action, want.log, rule)
    } else {
        (ir.default_action, ir.default_log, "default".into())
    }
}

/// `None` if the ruleset gives `packet` the IR's verdict, log flag and
/// rule; `Some(reason)` otherwise.
fn disagreement(
    ir: &Ir,
    rs: &Ruleset,
    packet: Packet,
    address_only: bool,
) -> Result<Option<String>, String> {
    disagreement_from(ir, rs, &forwarded(ir, packet), address_only)
}

/// [`disagreement`] for a packet arriving on `f.iif`, against [`reference`].
fn disagreement_from(
    ir: &Ir,
    rs: &Ruleset,
    f: &Forwarded,
    address_only: bool,
) -> Result<Option<String>, String> {
    let packet = f.packet;
    let (want_action, want_log, want_rule) = reference(ir, f, address_only);
    let got = rs.evaluate(f)?;
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
        if (action, log, rule.as_str()) != (want_action, want_log, want_rule.as_str()) {
            Some(format!(
                "{packet} in {:?}: IR {want_action} log={want_log} by `{want_rule}`, nftables {action} log={log} by `{rule}`",
                f.iif
            ))
        } else {
            None
        },
    )
}

#[test]
fn every_hospital_probe_gets_the_ir_verdict_and_rule() {
    let ir = compile(common::hospital()).unwrap();
    for address_only in [false, true] {
        let text = render(&ir, address_only).expect("the hospital policy renders");
        let rs = readback::parse(&text).unwrap_or_else(|e| panic!("{e}"));
        let mut failures = Vec::new();
        for probe in HOSPITAL_PROBES {
            let p = Packet::parse(probe.src, probe.dst, probe.proto).unwrap();
            if let Some(d) = disagreement(&ir, &rs, p, address_only).unwrap() {
                failures.push(format!("{}: {d}", probe.what));
            }
        }
        assert!(
            failures.is_empty(),
            "address_only={address_only}:\n{}",
            failures.join("\n")
        );
    }
}

#[test]
fn every_policy_reads_back_and_decides_like_the_ir() {
    let mut rendered = 0;
    for path in policy_files() {
        let Some(ir) = compile(&path) else { continue };
        for address_only in [false, true] {
            let Some(text) = render(&ir, address_only) else {
                continue;
            };
            rendered += 1;
            let rs = readback::parse(&text)
                .unwrap_or_else(|e| panic!("{} ({address_only}): {e}", path.display()));
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
                match disagreement(&ir, &rs, *p, address_only) {
                    Ok(None) => answered += 1,
                    Ok(Some(d)) => failures.push(d),
                    Err(e) => panic!("{}: {e}", path.display()),
                }
            }
            assert!(
                failures.is_empty(),
                "{} (address_only={address_only}): {} of {} differ:\n{}",
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
    let ir = compile(common::hospital()).unwrap();
    let text = render(&ir, true).unwrap();
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
    assert!(disagreement(&ir, &rs, p, true).unwrap().is_some());
}

#[test]
fn the_reader_refuses_what_wardwall_does_not_emit() {
    let ir = compile(common::hospital()).unwrap();
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
        // the anti-spoofing rules: only drops of the shapes written
        (
            " drop comment \"default: anti-spoofing: input interface",
            " accept comment \"default: anti-spoofing: input interface",
        ),
        ("iifname != {", "oifname != {"),
        (
            "@c_central_station_v4 tcp dport 515 ",
            "!= @c_central_station_v4 tcp dport 515 ",
        ),
        (
            "ip saddr @c_contec_monitors_v4",
            "ip saddr != @c_contec_monitors_v4",
        ),
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
    let ir = compile(common::hospital()).unwrap();
    let good = render(&ir, false).unwrap();
    let probes: Vec<Packet> = HOSPITAL_PROBES
        .iter()
        .map(|p| Packet::parse(p.src, p.dst, p.proto).unwrap())
        .collect();
    let wrong = |text: &str| {
        let rs = readback::parse(text).unwrap_or_else(|e| panic!("{e}"));
        probes
            .iter()
            .filter(|p| disagreement(&ir, &rs, **p, false).unwrap().is_some())
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

/// Every interface of the policy's zones, plus one no zone is bound to.
fn interfaces(ir: &Ir) -> Vec<String> {
    let mut out: Vec<String> = ir
        .zones
        .iter()
        .filter_map(|z| z.bindings.get("nftables").cloned())
        .collect();
    out.sort();
    out.dedup();
    out.push("rogue0".into());
    out
}

/// Spoofed sources: every edge packet sent from every interface but its
/// source zone's own. With anti-spoofing the ruleset gives each one the
/// reference verdict (the default, where the IR allows the honest packet
/// too); address-only it lets the spoofed copies of allowed packets through,
/// so the check sees what the interface match is for.
#[test]
fn spoofed_sources_get_the_default_on_every_policy() {
    let mut rendered = 0;
    for path in policy_files() {
        let Some(ir) = compile(&path) else { continue };
        let Some(text) = render(&ir, false) else {
            continue;
        };
        rendered += 1;
        let rs = readback::parse(&text).unwrap();
        let plain = readback::parse(&render(&ir, true).unwrap()).unwrap();
        let ifaces = interfaces(&ir);
        let mut failures = Vec::new();
        let (mut spoofed_allowed, mut passed_address_only) = (0, 0);
        for p in edge_packets(&ir, 0x5eed_5900 + rendered, 1500) {
            let honest = forwarded(&ir, p);
            for iif in &ifaces {
                let f = Forwarded {
                    iif: Some(iif.clone()),
                    ..honest.clone()
                };
                if f.iif == honest.iif {
                    continue;
                }
                if let Some(d) = disagreement_from(&ir, &rs, &f, false).unwrap() {
                    failures.push(d);
                }
                if ir.evaluate(&p).action == Action::Allow {
                    spoofed_allowed += 1;
                    let got = plain.evaluate(&f).unwrap();
                    if got.is_some_and(|i| plain.rules[i].verdict.action() == Action::Allow) {
                        passed_address_only += 1;
                    }
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{}: {} spoofed packets differ:\n{}",
            path.display(),
            failures.len(),
            failures[..failures.len().min(30)].join("\n")
        );
        assert!(spoofed_allowed > 0, "{}", path.display());
        assert_eq!(passed_address_only, spoofed_allowed, "{}", path.display());
    }
    assert!(
        rendered >= 4,
        "only {rendered} rulesets rendered with anti-spoofing"
    );
}

/// A renderer that forgot one interface's guard, or matched addresses
/// without `iifname`, is caught: spoofed copies of the hospital probes
/// then disagree with the reference.
#[test]
fn a_missing_interface_match_is_noticed() {
    let ir = compile(common::hospital()).unwrap();
    let good = render(&ir, false).unwrap();
    let spoofed: Vec<Forwarded> = HOSPITAL_PROBES
        .iter()
        .map(|p| Packet::parse(p.src, p.dst, p.proto).unwrap())
        .flat_map(|p| {
            let honest = forwarded(&ir, p);
            interfaces(&ir)
                .into_iter()
                .filter(|i| Some(i) != honest.iif.as_ref())
                .map(|i| Forwarded {
                    iif: Some(i),
                    ..honest.clone()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let wrong = |text: &str| {
        let rs = readback::parse(text).unwrap_or_else(|e| panic!("{e}"));
        spoofed
            .iter()
            .filter(|f| disagreement_from(&ir, &rs, f, false).unwrap().is_some())
            .count()
    };
    assert_eq!(wrong(&good), 0);
    let guest = good
        .lines()
        .find(|l| l.contains("iifname \"guest0\" ip saddr != "))
        .unwrap();
    let no_guest = good.replacen(&format!("{guest}\n"), "", 1);
    assert!(wrong(&no_guest) > 0, "the guest interface's guard removed");
    // The guard bound to the wrong interface.
    let swapped = good.replacen(guest, &guest.replace("\"guest0\"", "\"corp0\""), 1);
    assert!(wrong(&swapped) > 0, "the guest guard on corp0");
    let unknown = good.lines().find(|l| l.contains("iifname != {")).unwrap();
    let no_unknown = good.replacen(&format!("{unknown}\n"), "", 1);
    assert!(wrong(&no_unknown) > 0, "packets from an unbound interface");
    assert!(wrong(&render(&ir, true).unwrap()) > 0, "address-only");
}
