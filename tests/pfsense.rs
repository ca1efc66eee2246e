//! The pfSense target, proven from its output: every rendered file is parsed
//! back with a real XML parser, checked against pfSense's own field rules
//! (the ones that make it skip a rule, pass instead of block, or refuse the
//! whole file), and then evaluated first-match per ingress interface the way
//! filter.inc turns it into pf rules. Its verdict must equal the IR
//! evaluator's for every probe and for seeded random packets.
//!
//! The parser and evaluator (`wardwall::read::pfsense`, which
//! `explain --target pfsense` also uses) are written from pfSense's
//! documented behaviour (see `docs/targets/pfsense.md`), not from the
//! renderer's code: they have their own ICMP and protocol tables and their
//! own port rules.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use common::probes::{HOSPITAL_PROBES, PROBE_DATE};
use ipnet::IpNet;
use wardwall::ir::{Action, Ir, Packet, Proto};
use wardwall::read::pfsense::{Parsed, ParsedRule, parse, pf_decide, rule_matches};
use wardwall::render::pfsense::{self, PfSense};
use wardwall::render::{Renderer, Templates};

// ------------------------------------------------------------------ helpers

fn compile_file(path: &Path) -> Ir {
    common::compile_ok(path, PROBE_DATE)
}

fn compile_text(name: &str, text: &str) -> Ir {
    common::compile_text_ok(&format!("{name}.kdl"), text, PROBE_DATE)
}

fn render(ir: &Ir) -> String {
    let files = PfSense
        .render(ir, &Templates::default())
        .unwrap_or_else(|e| panic!("pfSense refused the policy: {e:#?}"));
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0].path,
        Path::new("pfsense").join(format!("{}.xml", ir.name))
    );
    files[0].contents.clone()
}

fn render_err(ir: &Ir) -> Vec<wardwall::diagnostics::Diagnostic> {
    match PfSense.render(ir, &Templates::default()) {
        Ok(_) => panic!("pfSense accepted a policy it cannot express"),
        Err(e) => e,
    }
}

fn hospital() -> Ir {
    compile_file(common::hospital())
}

fn focused_policies() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir("tests/policies")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("pfsense-") && n.ends_with(".kdl"))
        })
        .collect();
    v.sort();
    assert!(v.len() >= 2, "focused pfSense policies are missing");
    v
}

fn action_type(a: Action) -> &'static str {
    match a {
        Action::Allow => "pass",
        Action::Deny => "block",
        Action::Reject => "reject",
    }
}

/// Compares pfSense's verdict with the IR's for one packet; `None` if equal.
fn disagreement(
    ir: &Ir,
    parsed: &Parsed,
    trackers: &BTreeMap<u64, Option<String>>,
    pkt: &Packet,
) -> Option<String> {
    let want = ir.evaluate(pkt);
    let want_rule = want.rule.map(|i| ir.rules[i].name.clone());
    let Some(zone) = ir.zone_of(pkt.src) else {
        return Some(format!("{pkt}: source in no zone"));
    };
    let Some(iface) = zone.bindings.get("pfsense") else {
        return Some(format!("{pkt}: zone {} has no pfsense binding", zone.name));
    };
    let Some(got) = pf_decide(parsed, iface, pkt) else {
        return Some(format!(
            "{pkt}: no rule on {iface} matched (no closing block-all?)"
        ));
    };
    let got_rule = trackers.get(&got.tracker).cloned().flatten();
    if got.kind != action_type(want.action) || got.log != want.log || got_rule != want_rule {
        return Some(format!(
            "{pkt} on {iface}: pfSense {} log={} by {:?} (tracker {}), IR {} log={} by {:?}",
            got.kind,
            got.log,
            got_rule,
            got.tracker,
            action_type(want.action),
            want.log,
            want_rule
        ));
    }
    None
}

fn tracker_map(ir: &Ir) -> BTreeMap<u64, Option<String>> {
    pfsense::build(ir)
        .unwrap()
        .rules
        .into_iter()
        .map(|r| (u64::from(r.tracker), r.ir_rule))
        .collect()
}

/// A small deterministic generator (SplitMix64), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next() % v.len() as u64) as usize]
    }
}

/// Interesting addresses of a policy: both ends of every zone, object and
/// rule-endpoint CIDR, one past each end, plus fixed outsiders.
fn interesting_addresses(ir: &Ir) -> (Vec<IpAddr>, Vec<IpAddr>) {
    let mut sets = Vec::new();
    sets.extend(ir.zones.iter().map(|z| z.addrs.clone()));
    sets.extend(ir.objects.values().map(|o| o.addrs.clone()));
    for r in &ir.rules {
        sets.push(r.src.addrs.clone());
        sets.push(r.dst.addrs.clone());
    }
    let (mut v4, mut v6) = (BTreeSet::new(), BTreeSet::new());
    for s in &sets {
        for net in s.v4_cidrs() {
            let (lo, hi) = (u32::from(net.network()), u32::from(net.broadcast()));
            for x in [
                lo,
                hi,
                lo.saturating_sub(1),
                hi.saturating_add(1),
                lo + (hi - lo) / 2,
            ] {
                v4.insert(IpAddr::from(std::net::Ipv4Addr::from(x)));
            }
        }
        for net in s.v6_cidrs() {
            let (lo, hi) = (u128::from(net.network()), u128::from(net.broadcast()));
            for x in [
                lo,
                hi,
                lo.saturating_sub(1),
                hi.saturating_add(1),
                lo + (hi - lo) / 2,
            ] {
                v6.insert(IpAddr::from(std::net::Ipv6Addr::from(x)));
            }
        }
    }
    for a in ["8.8.8.8", "0.0.0.0", "255.255.255.255", "192.0.2.1"] {
        v4.insert(a.parse().unwrap());
    }
    for a in ["2001:db8::1", "::", "ffff::1"] {
        v6.insert(a.parse().unwrap());
    }
    (v4.into_iter().collect(), v6.into_iter().collect())
}

fn interesting_ports(ir: &Ir) -> Vec<u16> {
    let mut ports = BTreeSet::from([0u16, 1, 2, 65534, 65535]);
    for r in &ir.rules {
        for set in [&r.service.set.tcp, &r.service.set.udp] {
            for &(lo, hi) in set.ranges() {
                for p in [lo, hi, lo.saturating_sub(1), hi.saturating_add(1)] {
                    ports.insert(p);
                }
            }
        }
    }
    ports.into_iter().collect()
}

fn random_packets(ir: &Ir, seed: u64, n: usize) -> Vec<Packet> {
    let (v4, v6) = interesting_addresses(ir);
    let ports = interesting_ports(ir);
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n / 2 {
        if let Some(p) = packet_near_a_rule(ir, &mut rng, &ports) {
            out.push(p);
        }
    }
    while out.len() < n {
        let six = rng.next().is_multiple_of(3);
        let pool = if six { &v6 } else { &v4 };
        let addr = |rng: &mut Rng| {
            if rng.next().is_multiple_of(5) {
                // Anywhere at all.
                if six {
                    IpAddr::from(std::net::Ipv6Addr::from(
                        (u128::from(rng.next()) << 64) | u128::from(rng.next()),
                    ))
                } else {
                    IpAddr::from(std::net::Ipv4Addr::from(rng.next() as u32))
                }
            } else {
                *rng.pick(pool)
            }
        };
        let src = addr(&mut rng);
        let dst = addr(&mut rng);
        let port = |rng: &mut Rng| {
            if rng.next().is_multiple_of(4) {
                rng.next() as u16
            } else {
                *rng.pick(&ports)
            }
        };
        let proto = match rng.next() % 10 {
            0..=3 => Proto::Tcp {
                dport: port(&mut rng),
            },
            4..=6 => Proto::Udp {
                dport: port(&mut rng),
            },
            7 | 8 => Proto::Icmp {
                ty: if rng.next().is_multiple_of(2) {
                    *rng.pick(&[0u8, 1, 2, 3, 4, 8, 11, 128, 129, 133, 135, 136, 7, 255])
                } else {
                    rng.next() as u8
                },
            },
            _ => Proto::Other(*rng.pick(&[2u8, 4, 41, 47, 50, 51, 89, 97, 103, 112, 132, 240, 99])),
        };
        out.push(Packet { src, dst, proto });
    }
    out
}

/// A member of `set` in the given family, if it has any.
fn sample(set: &wardwall::addrset::AddrSet, six: bool, rng: &mut Rng) -> Option<IpAddr> {
    if six {
        let nets = set.v6_cidrs();
        if nets.is_empty() {
            return None;
        }
        let net = *rng.pick(&nets);
        let size = u128::from(net.broadcast()) - u128::from(net.network());
        let off = ((u128::from(rng.next()) << 64) | u128::from(rng.next()))
            % size.saturating_add(1).max(1);
        Some(IpAddr::from(std::net::Ipv6Addr::from(
            u128::from(net.network()) + off,
        )))
    } else {
        let nets = set.v4_cidrs();
        if nets.is_empty() {
            return None;
        }
        let net = *rng.pick(&nets);
        let size = u64::from(u32::from(net.broadcast()) - u32::from(net.network())) + 1;
        let off = (rng.next() % size) as u32;
        Some(IpAddr::from(std::net::Ipv4Addr::from(
            u32::from(net.network()) + off,
        )))
    }
}

/// A packet aimed at a random rule: source and destination drawn from its
/// endpoints, protocol from its service (or near it).
fn packet_near_a_rule(ir: &Ir, rng: &mut Rng, ports: &[u16]) -> Option<Packet> {
    let rule = rng.pick(&ir.rules);
    let six = rng.next().is_multiple_of(3);
    let src = sample(&rule.src.addrs, six, rng)?;
    let dst = sample(&rule.dst.addrs, six, rng)?;
    let set = &rule.service.set;
    let port_of = |ps: &wardwall::addrset::PortSet, rng: &mut Rng| -> u16 {
        match ps.ranges() {
            [] => *rng.pick(ports),
            r => {
                let &(lo, hi) = rng.pick(r);
                match rng.next() % 4 {
                    0 => lo,
                    1 => hi,
                    2 => *rng.pick(ports),
                    _ => lo + (rng.next() % (u64::from(hi - lo) + 1)) as u16,
                }
            }
        }
    };
    let proto = match rng.next() % 4 {
        0 => Proto::Tcp {
            dport: port_of(&set.tcp, rng),
        },
        1 => Proto::Udp {
            dport: port_of(&set.udp, rng),
        },
        2 => {
            let types = if six { &set.icmp6 } else { &set.icmp4 };
            let ty = match types.ranges() {
                [] => rng.next() as u8,
                r => rng.pick(r).0,
            };
            Proto::Icmp { ty }
        }
        _ => Proto::Other(match set.protocols.ranges() {
            [] => *rng.pick(&[2u8, 4, 47, 50, 112]),
            r => rng.pick(r).0,
        }),
    };
    Some(Packet { src, dst, proto })
}

fn snapshot(name: &str, xml: &str) {
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, xml);
    });
}

// ------------------------------------------------------------------ tests

/// The shipped policies (`policies/*.kdl`) and the focused ones.
fn all_policies() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir("policies")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    v.sort();
    assert!(v.iter().any(|p| p.ends_with("hospital.kdl")));
    v.extend(focused_policies());
    v
}

#[test]
fn shipped_policy_snapshots() {
    for path in std::fs::read_dir("policies")
        .unwrap()
        .map(|e| e.unwrap().path())
    {
        if path.extension().is_some_and(|e| e == "kdl") {
            let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
            snapshot(&format!("pfsense-{stem}"), &render(&compile_file(&path)));
        }
    }
}

#[test]
fn focused_snapshots() {
    for path in focused_policies() {
        let ir = compile_file(&path);
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        snapshot(&stem, &render(&ir));
    }
}

#[test]
fn output_is_byte_stable() {
    let ir = hospital();
    let a = render(&ir);
    let b = render(&hospital());
    assert_eq!(a, b);
}

#[test]
fn every_output_obeys_pfsense_field_rules() {
    let irs: Vec<Ir> = all_policies().iter().map(|p| compile_file(p)).collect();
    for ir in &irs {
        let xml = render(ir);
        let parsed = parse(&xml).unwrap_or_else(|e| panic!("{}:\n{}", ir.name, e.join("\n")));
        // Every alias defined is used, and every used one is defined
        // (checked in parse); no stray aliases.
        let mut used = BTreeSet::new();
        for r in &parsed.rules {
            used.extend(r.source.iter().cloned());
            used.extend(r.destination.iter().cloned());
            used.extend(
                r.port
                    .iter()
                    .filter(|p| parsed.aliases.contains_key(*p))
                    .cloned(),
            );
        }
        let defined: BTreeSet<_> = parsed.aliases.keys().cloned().collect();
        assert_eq!(used, defined, "{}: unused aliases", ir.name);
        // Each interface ends with a logged block-all for both families.
        let ifaces: BTreeSet<_> = parsed.rules.iter().map(|r| r.interface.clone()).collect();
        for iface in &ifaces {
            let last = parsed
                .rules
                .iter()
                .rfind(|r| &r.interface == iface)
                .unwrap();
            assert_eq!(
                (
                    last.kind.as_str(),
                    last.log,
                    last.ipprotocol.as_str(),
                    &last.source,
                    &last.destination,
                    &last.protocol
                ),
                ("block", true, "inet46", &None, &None, &None),
                "{}: {iface} does not end with a logged block-all",
                ir.name
            );
        }
        // Rules of one interface are contiguous (config order per interface).
        let mut order: Vec<&str> = parsed.rules.iter().map(|r| r.interface.as_str()).collect();
        order.dedup();
        let distinct: BTreeSet<_> = order.iter().collect();
        assert_eq!(
            order.len(),
            distinct.len(),
            "{}: interfaces interleave",
            ir.name
        );
    }
}

#[test]
fn hospital_probes_get_the_ir_verdict() {
    let ir = hospital();
    let parsed = parse(&render(&ir)).unwrap();
    let trackers = tracker_map(&ir);
    let mut failures = Vec::new();
    for probe in HOSPITAL_PROBES {
        let pkt = Packet::parse(probe.src, probe.dst, probe.proto).unwrap();
        // The probe's expected rule holds in the IR (tests/evaluator.rs);
        // here pfSense must agree with the IR on verdict, log and rule.
        if let Some(d) = disagreement(&ir, &parsed, &trackers, &pkt) {
            failures.push(format!("{}: {d}", probe.what));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn random_packets_get_the_ir_verdict() {
    let irs: Vec<Ir> = all_policies().iter().map(|p| compile_file(p)).collect();
    for (i, ir) in irs.iter().enumerate() {
        let parsed = parse(&render(ir)).unwrap();
        let trackers = tracker_map(ir);
        let mut failures = Vec::new();
        let mut decided_by_rules = 0;
        for pkt in random_packets(ir, 0x5eed_0000 + i as u64, 20_000) {
            if let Some(d) = disagreement(ir, &parsed, &trackers, &pkt) {
                failures.push(d);
            }
            if ir.evaluate(&pkt).rule.is_some() {
                decided_by_rules += 1;
            }
        }
        assert!(
            failures.is_empty(),
            "{}: {} disagreements, first:\n{}",
            ir.name,
            failures.len(),
            failures
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        // The sample must exercise the rules, not only the default deny.
        assert!(
            decided_by_rules > 2500,
            "{}: only {decided_by_rules} packets hit a rule",
            ir.name
        );
    }
}

#[test]
fn the_evaluator_here_catches_a_wrong_rule_base() {
    // Guard against a vacuous check: flip one pass into a block, drop a
    // port alias entry and swap two rules; each must be noticed.
    let ir = hospital();
    let xml = render(&ir);
    let trackers = tracker_map(&ir);
    let probes: Vec<Packet> = HOSPITAL_PROBES
        .iter()
        .map(|p| Packet::parse(p.src, p.dst, p.proto).unwrap())
        .collect();
    let count = |xml: &str| {
        let parsed = parse(xml).unwrap();
        probes
            .iter()
            .filter(|p| disagreement(&ir, &parsed, &trackers, p).is_some())
            .count()
    };
    assert_eq!(count(&xml), 0);
    let flipped = xml.replacen("<type>pass</type>", "<type>block</type>", 1);
    assert!(count(&flipped) > 0, "flipping a pass went unnoticed");
    let narrowed = xml.replace(
        "<address>2575 6661:6670</address>",
        "<address>2575</address>",
    );
    assert_ne!(narrowed, xml);
    assert!(count(&narrowed) > 0, "dropping a port went unnoticed");
    // Moving the advisory block after the rules of its interface.
    let mut parsed = parse(&xml).unwrap();
    let i = parsed
        .rules
        .iter()
        .position(|r| r.descr.starts_with("contec-cms8000.out"))
        .unwrap();
    let rule = parsed.rules.remove(i);
    let last = parsed
        .rules
        .iter()
        .rposition(|r| r.interface == rule.interface)
        .unwrap();
    parsed.rules.insert(last, rule);
    let bad = probes
        .iter()
        .filter(|p| disagreement(&ir, &parsed, &trackers, p).is_some())
        .count();
    assert!(bad > 0, "reordering went unnoticed");
}

#[test]
fn hospital_placement_follows_source_zones() {
    let ir = hospital();
    let parsed = parse(&render(&ir)).unwrap();
    let trackers = tracker_map(&ir);
    let on = |rule: &str| -> Vec<String> {
        let mut v: Vec<String> = parsed
            .rules
            .iter()
            .filter(|r| trackers[&r.tracker].as_deref() == Some(rule))
            .map(|r| r.interface.clone())
            .collect();
        v.dedup();
        v
    };
    // The outbound advisory block sits on every internal interface, first.
    assert_eq!(on("contec-cms8000.in"), ["wan"]);
    assert!(on("contec-cms8000.out").len() >= 8);
    for iface in on("contec-cms8000.out") {
        let first = parsed.rules.iter().find(|r| r.interface == iface).unwrap();
        assert_eq!(
            trackers[&first.tracker].as_deref(),
            Some("contec-cms8000.out"),
            "{iface}"
        );
        assert_eq!((first.kind.as_str(), first.log), ("block", true));
    }
    assert_eq!(on("guest-isolation"), ["opt6"]);
    assert_eq!(on("contec-to-central-station"), ["opt4"]);
    // clinical-devices lives in three zones.
    assert_eq!(on("devices-to-syslog"), ["opt3", "opt4", "opt5"]);
    // The expired migration rule is not in the IR, so not here either.
    assert!(on("pacs-migration").is_empty());
    // The IPv4-only destination makes the advisory rules inet only.
    for r in parsed
        .rules
        .iter()
        .filter(|r| r.descr.starts_with("contec-cms8000"))
    {
        assert_eq!(r.ipprotocol, "inet");
    }
}

#[test]
fn protocols_are_split_one_per_rule() {
    let ir = compile_file(Path::new("tests/policies/pfsense-protocols.kdl"));
    let parsed = parse(&render(&ir)).unwrap();
    let trackers = tracker_map(&ir);
    let of = |rule: &str| -> Vec<&ParsedRule> {
        parsed
            .rules
            .iter()
            .filter(|r| trackers[&r.tracker].as_deref() == Some(rule))
            .collect()
    };
    let protos = |rule: &str| -> Vec<Option<String>> {
        of(rule).iter().map(|r| r.protocol.clone()).collect()
    };
    assert_eq!(protos("mixed"), [Some("tcp".into()), Some("udp".into())]);
    assert_eq!(
        protos("same"),
        [Some("tcp/udp".into()), Some("tcp/udp".into())]
    );
    assert_eq!(
        protos("tunnels"),
        [Some("gre".into()), Some("esp".into()), Some("carp".into())]
    );
    // `1-1024` and `1-65535` would include port 0 as literals: aliases.
    assert!(parsed.aliases[of("low")[0].port.as_ref().unwrap()].entries == ["1:1024"]);
    assert!(parsed.aliases[of("almost")[0].port.as_ref().unwrap()].entries == ["1:65535"]);
    assert_eq!(of("high")[0].port.as_deref(), Some("1024-65535"));
    assert_eq!(of("mid")[0].port.as_deref(), Some("2000-3000"));
    // ICMP: one inet46 rule when the names agree, else one per family.
    let ping = of("ping-both");
    assert_eq!(ping.len(), 1);
    assert_eq!(
        (ping[0].ipprotocol.as_str(), ping[0].icmptype.as_deref()),
        ("inet46", Some("echoreq"))
    );
    let split: Vec<_> = of("icmp-split")
        .iter()
        .map(|r| (r.ipprotocol.clone(), r.icmptype.clone().unwrap()))
        .collect();
    assert_eq!(
        split,
        [
            ("inet".into(), "unreach".into()),
            ("inet6".into(), "toobig".into())
        ]
    );
    // Families are never widened.
    assert!(
        of("v4-only-destination")
            .iter()
            .all(|r| r.ipprotocol == "inet")
    );
    assert!(of("v6-only-source").iter().all(|r| r.ipprotocol == "inet6"));
    assert_eq!(of("low")[0].kind, "reject");
    assert!(of("almost")[0].log && of("almost")[0].kind == "block");
}

#[test]
fn shared_interface_keeps_ir_order_and_union_of_zones() {
    let ir = compile_file(Path::new("tests/policies/pfsense-shared-interface.kdl"));
    let parsed = parse(&render(&ir)).unwrap();
    let trackers = tracker_map(&ir);
    let opt3: Vec<_> = parsed
        .rules
        .iter()
        .filter(|r| r.interface == "opt3")
        .map(|r| trackers[&r.tracker].clone())
        .collect();
    assert_eq!(
        opt3,
        [
            Some("no-internet-for-clinical".to_string()),
            Some("wards-to-station".to_string()),
            Some("clinical-to-apps".to_string()),
            None
        ]
    );
    // The source on opt3 is both zones bound to it.
    let first = parsed.rules.iter().find(|r| r.interface == "opt3").unwrap();
    let src = &parsed.aliases[first.source.as_ref().unwrap()];
    assert_eq!(
        src.entries,
        [
            "10.20.0.0/21",
            "10.20.9.0/24",
            "10.20.10.0/23",
            "10.20.12.0/22",
            "10.20.16.0/20",
            "10.20.32.0/19",
            "10.20.64.0/18",
            "10.20.128.0/17",
            "10.21.0.0/16"
        ]
    );
}

// ------------------------------------------------------------------ refusals

const BASE: &str = r#"
zone "lan-zone" {
    prefix "10.1.0.0/16" "fd00:1::/64"
    interface pfsense="lan"
}
zone "servers" {
    prefix "10.2.0.0/24"
    interface pfsense="opt1"
}
zone "outside" {
    residual #true
    interface pfsense="wan"
}
"#;

fn codes(ir: &Ir) -> Vec<&'static str> {
    render_err(ir).iter().map(|d| d.code).collect()
}

#[test]
fn sources_without_a_pfsense_interface_are_refused() {
    let ir = compile_text(
        "unbound",
        &format!(
            r#"{BASE}
zone "lab" {{
    prefix "10.3.0.0/24"
    interface nftables="lab0"
}}
rules {{
    allow "lab-to-servers" {{
        from "lab"
        to "servers"
        service "https"
    }}
}}"#
        ),
    );
    let errs = render_err(&ir);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].code, "unplaced");
    assert!(errs[0].message.contains("lab-to-servers") && errs[0].message.contains("`lab`"));
    assert_eq!(errs[0].primary.as_ref().unwrap().span, ir.rules[0].span);
}

#[test]
fn sources_in_no_zone_are_refused() {
    let ir = compile_text(
        "nozone",
        r#"
zone "lan-zone" {
    prefix "10.1.0.0/16"
    interface pfsense="lan"
}
rules {
    allow "stray" {
        from "192.0.2.0/24"
        to "lan-zone"
        service "https"
    }
}"#,
    );
    assert_eq!(codes(&ir), ["unplaced"]);
}

#[test]
fn unnamed_icmp_types_and_protocols_are_refused() {
    let ir = compile_text(
        "icmp",
        &format!(
            r#"{BASE}
service "odd-icmp" {{
    icmpv4 7
}}
service "ipip" {{
    protocol "ipip"
}}
rules {{
    allow "odd" {{
        from "lan-zone"
        to "servers"
        service "odd-icmp"
    }}
    allow "tunnel" {{
        from "lan-zone"
        to "servers"
        service "ipip"
    }}
}}"#
        ),
    );
    let mut c = codes(&ir);
    c.sort();
    assert_eq!(c, ["pfsense-icmp-type", "pfsense-protocol"]);
}

#[test]
fn interface_groups_and_bad_keys_are_refused() {
    for key in ["LAN", "clinical_grp", "opt0", "opt01", "openvpn"] {
        let text = BASE.replace(r#"pfsense="opt1""#, &format!("pfsense={key:?}"));
        let text = format!("policy \"badkey\" {{\n    deny-all #true\n}}\n{text}");
        let ir = compile_text("badkey", &text);
        assert!(codes(&ir).contains(&"pfsense-interface"), "{key}");
    }
}

#[test]
fn a_policy_without_pfsense_bindings_is_refused_per_rule() {
    // Rules whose sources no pfSense interface receives: refused, per rule.
    let ir = compile_text(
        "nobind",
        r#"
zone "a" {
    prefix "10.1.0.0/16"
    interface nftables="a0"
}
zone "b" {
    prefix "10.2.0.0/16"
    interface nftables="b0"
}
rules {
    allow "a-to-b" {
        from "a"
        to "b"
        service "https"
    }
}
"#,
    );
    assert_eq!(codes(&ir), ["unplaced"]);
    // Nothing to place and nothing bound: an empty rule base, no error
    // (pfSense refuses to restore an empty section, so it cannot be
    // loaded by accident).
    let ir = compile_text("empty", "policy \"empty\" {\n    deny-all #true\n}\n");
    let parsed = parse(&render(&ir)).unwrap();
    assert!(parsed.rules.is_empty() && parsed.aliases.is_empty());
}

#[test]
fn alias_name_collisions_after_mapping_are_refused() {
    let ir = compile_text(
        "collide",
        &format!(
            r#"{BASE}
class "db-1" {{
    zone "servers"
    address "10.2.0.1"
}}
class "db.1" {{
    zone "servers"
    address "10.2.0.2"
}}
rules {{
    allow "one" {{
        from "lan-zone"
        to "db-1"
        service "https"
    }}
    allow "two" {{
        from "lan-zone"
        to "db.1"
        service "https"
    }}
}}"#
        ),
    );
    let errs = render_err(&ir);
    assert!(
        errs.iter().any(|d| d.code == "pfsense-alias-collision"),
        "{errs:#?}"
    );
}

// ------------------------------------------------------------------ injection

/// A policy whose zone, class, service and rule descriptions are `text`
/// (already escaped for a KDL string).
fn injection_policy(kdl_text: &str) -> String {
    format!(
        r#"
zone "lan-zone" {{
    description "{kdl_text}"
    prefix "10.1.0.0/16" "fd00:1::/64"
    interface pfsense="lan"
}}
zone "outside" {{
    residual #true
    interface pfsense="wan"
}}
class "printer" {{
    description "{kdl_text}"
    zone "lan-zone"
    address "10.1.0.9"
}}
service "ipp" {{
    description "{kdl_text}"
    tcp 631
}}
rules {{
    allow "print" {{
        description "{kdl_text}"
        from "lan-zone"
        to "printer"
        service "ipp" "ping"
        log #true
    }}
    deny "no-web" {{
        description "{kdl_text}"
        from "lan-zone"
        to "outside"
        service "https"
    }}
}}
"#
    )
}

fn kdl_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[test]
fn descriptions_cannot_change_rules_or_aliases() {
    let nasty = [
        "\"",
        "'",
        "<",
        "&",
        "]]>",
        "#",
        "!",
        ";",
        "\\",
        "</descr></rule><rule><type>pass</type>",
        "</descr><disabled/><descr>",
        "<![CDATA[ x ]]>",
        "&amp; &lt; &#60; &",
        "<!-- -- -->",
        "{{ rules }} {% for r in rules %}x{% endfor %}",
        "Überwachung – 監視 🚑 ¼ \u{a0}",
        // (A tab is refused by the source stage: free text is one line of
        // printable characters.)
        &"long text ".repeat(40),
        "USER_RULE: \" label \"pass\" ",
    ];
    let plain_ir = compile_text("inject", &injection_policy("plain"));
    let plain = parse(&render(&plain_ir)).unwrap();
    let strip = |p: &Parsed| {
        let mut p = p.clone();
        for a in p.aliases.values_mut() {
            a.descr.clear();
        }
        for r in &mut p.rules {
            r.descr.clear();
        }
        p
    };
    for text in nasty {
        let ir = compile_text("inject", &injection_policy(&kdl_escape(text)));
        let xml = render(&ir);
        let parsed = parse(&xml).unwrap_or_else(|e| panic!("{text:?}: {}", e.join("\n")));
        assert_eq!(
            strip(&parsed),
            strip(&plain),
            "{text:?} changed the rule base"
        );
        // The text arrives as text: exactly what the renderer meant to say.
        let view = pfsense::build(&ir).unwrap();
        for (r, v) in parsed.rules.iter().zip(&view.rules) {
            assert_eq!(r.descr, v.descr, "{text:?}");
        }
        for (name, a) in &parsed.aliases {
            let v = view.aliases.iter().find(|v| &v.name == name).unwrap();
            assert_eq!(a.descr, v.descr, "{text:?}");
        }
        let print = parsed
            .rules
            .iter()
            .find(|r| r.descr.starts_with("print"))
            .unwrap();
        assert_eq!(
            print.descr,
            pfsense::rule_descr("print", Some(text)),
            "{text:?}"
        );
        // pfSense itself reads the same rules, and the text exactly as
        // written (up to the label rules: no `"`, no `\`, 52 bytes).
        if let Some(php) = php_parse(&xml) {
            assert_php_agrees(&php, &parsed);
            let shown = php["filter"]
                .as_array()
                .unwrap()
                .iter()
                .find_map(|r| r["descr"].as_str().filter(|d| d.starts_with("print")))
                .unwrap()
                .to_string();
            let want: String = format!("print: {text}")
                .chars()
                .map(|c| match c {
                    '"' => '\'',
                    '\\' => '/',
                    c if c.is_control() => ' ',
                    c => c,
                })
                .collect();
            let want = want.trim();
            if want.len() <= 52 {
                assert_eq!(shown, want, "{text:?}");
            } else {
                let kept = shown.strip_suffix("...").unwrap();
                assert!(want.starts_with(kept), "{text:?}: {shown}");
            }
        }
    }
}

// ------------------------------------------------------------------ pfSense's own reader

/// Runs `tests/support/pfsense_xmlparse.php fragment` (PHP's expat parser with
/// pfSense's reading rules) on `xml`. `None` when PHP with the xml
/// extension is missing, unless `WARDWALL_REQUIRE_PRIVILEGED_TESTS=1`
/// (CI), where that is a failure.
fn php_parse(xml: &str) -> Option<serde_json::Value> {
    let available = std::process::Command::new("php")
        .args(["-r", "exit(function_exists('xml_parser_create') ? 0 : 3);"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        common::skip::skip(
            "the pfSense PHP reader check needs php with the xml extension (apt-get install php-cli php-xml)",
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.xml");
    std::fs::write(&file, xml).unwrap();
    let out = std::process::Command::new("php")
        .args(["tests/support/pfsense_xmlparse.php", "fragment"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pfSense's reader rejects the file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// pfSense's reading of the file equals ours, field for field.
fn assert_php_agrees(php: &serde_json::Value, parsed: &Parsed) {
    let s = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let aliases = php["aliases"].as_array().cloned().unwrap_or_default();
    assert_eq!(aliases.len(), parsed.aliases.len());
    for a in &aliases {
        let name = s(&a["name"]).unwrap();
        let ours = &parsed.aliases[&name];
        assert_eq!(s(&a["type"]).unwrap(), ours.kind);
        assert_eq!(s(&a["address"]).unwrap(), ours.entries.join(" "));
        assert_eq!(s(&a["descr"]).unwrap(), ours.descr);
        assert_eq!(a.as_object().unwrap().len(), 4, "{a}");
    }
    let rules = php["filter"].as_array().unwrap();
    assert_eq!(rules.len(), parsed.rules.len());
    for (r, ours) in rules.iter().zip(&parsed.rules) {
        let keys: BTreeSet<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        let allowed = [
            "tracker",
            "type",
            "interface",
            "ipprotocol",
            "protocol",
            "icmptype",
            "source",
            "destination",
            "descr",
            "log",
        ];
        assert!(keys.iter().all(|k| allowed.contains(k)), "{keys:?}");
        assert_eq!(s(&r["tracker"]).unwrap(), ours.tracker.to_string());
        assert_eq!(s(&r["type"]).unwrap(), ours.kind);
        assert_eq!(s(&r["interface"]).unwrap(), ours.interface);
        assert_eq!(s(&r["ipprotocol"]).unwrap(), ours.ipprotocol);
        assert_eq!(s(&r["protocol"]), ours.protocol);
        assert_eq!(s(&r["icmptype"]), ours.icmptype);
        for (side, addr) in [("source", &ours.source), ("destination", &ours.destination)] {
            match addr {
                None => assert_eq!(r[side]["any"], serde_json::json!("")),
                Some(a) => {
                    assert_eq!(s(&r[side]["address"]).as_ref(), Some(a));
                    assert!(r[side].get("any").is_none());
                }
            }
        }
        assert_eq!(s(&r["destination"]["port"]), ours.port);
        // Presence flag: isset() is what pfSense tests.
        assert_eq!(r.get("log").is_some(), ours.log);
        assert_eq!(s(&r["descr"]).unwrap(), ours.descr);
    }
}

#[test]
fn pfsense_reader_loads_every_output_as_we_read_it() {
    for path in all_policies() {
        let xml = render(&compile_file(&path));
        let parsed = parse(&xml).unwrap();
        let Some(php) = php_parse(&xml) else {
            return;
        };
        assert_php_agrees(&php, &parsed);
    }
    // And it does refuse what pfSense refuses: a repeated non-list tag.
    let broken = render(&hospital()).replacen(
        "<type>block</type>",
        "<type>block</type><type>pass</type>",
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.xml");
    std::fs::write(&file, broken).unwrap();
    let out = std::process::Command::new("php")
        .args(["tests/support/pfsense_xmlparse.php", "fragment"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot occur more than once"));
}

#[test]
fn each_rule_matches_the_same_packets_on_the_ingress_interface() {
    // Stronger than comparing verdicts (where shadowing can hide a wrong
    // rule): for every IR rule and packet, the pfSense rules made from that
    // IR rule on the packet's ingress interface match it exactly when the IR
    // rule does, so cutting sources to the interface changes nothing; and
    // on every other interface they match none of its packets.
    for path in all_policies() {
        let ir = compile_file(&path);
        let parsed = parse(&render(&ir)).unwrap();
        let trackers = tracker_map(&ir);
        let mut failures = Vec::new();
        for pkt in random_packets(&ir, 0xfeed, 4_000) {
            let iface = &ir.zone_of(pkt.src).unwrap().bindings["pfsense"];
            for rule in &ir.rules {
                let want = rule.matches(&pkt);
                let mut on_ingress = false;
                for r in parsed
                    .rules
                    .iter()
                    .filter(|r| trackers[&r.tracker].as_deref() == Some(rule.name.as_str()))
                {
                    let m = rule_matches(&parsed, r, &pkt);
                    if &r.interface == iface {
                        on_ingress |= m;
                    } else if m {
                        failures.push(format!(
                            "{pkt}: {} matches on {} too",
                            rule.name, r.interface
                        ));
                    }
                }
                if on_ingress != want {
                    failures.push(format!(
                        "{pkt}: IR rule {} matches={want}, on {iface} pfSense={on_ingress}",
                        rule.name
                    ));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{}: {}",
            ir.name,
            failures
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn template_override_is_used() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pfsense")).unwrap();
    std::fs::write(
        dir.path().join("pfsense/config.xml"),
        "<pfsense><filter>{% for r in rules %}<rule><descr>{{ r.descr }}</descr></rule>{% endfor %}</filter></pfsense>\n",
    )
    .unwrap();
    let templates = Templates {
        override_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let ir = compile_text("override", &injection_policy("a <b> & c"));
    let out = PfSense.render(&ir, &templates).unwrap();
    assert!(
        out[0]
            .contents
            .starts_with("<pfsense><filter><rule><descr>print: a &lt;b&gt; &amp; c</descr>"),
        "{}",
        out[0].contents
    );
}

// ------------------------------------------------------------------ random policies

/// A random small policy: zones on a few shared interfaces, classes,
/// services with random ports, rules with random sides, services and
/// actions. Some come out invalid (the model refuses them); those are
/// skipped.
fn random_policy(rng: &mut Rng) -> String {
    const PREFIXES: &[&str] = &[
        "10.0.0.0/8",
        "10.1.0.0/16",
        "10.1.2.0/24",
        "10.2.0.0/16",
        "192.168.0.0/16",
        "192.168.1.0/24",
        "fd00::/48",
        "fd00:0:0:1::/64",
        "fd01::/64",
    ];
    const IFACES: &[&str] = &["lan", "opt1", "opt2", "opt3"];
    const SERVICES: &[&str] = &[
        "dns", "ntp", "https", "ssh", "rdp", "ping", "dicom", "syslog", "snmp", "any",
    ];
    let mut text = String::new();
    let nzones = 2 + rng.next() % 3;
    let mut zones = Vec::new();
    let mut used = BTreeSet::new();
    for z in 0..nzones {
        let mut prefixes = Vec::new();
        for _ in 0..1 + rng.next() % 2 {
            let p = *rng.pick(PREFIXES);
            if used.insert(p) {
                prefixes.push(format!("{p:?}"));
            }
        }
        if prefixes.is_empty() {
            continue;
        }
        let name = format!("z{z}");
        text += &format!(
            "zone {name:?} {{\n    prefix {}\n    interface pfsense={:?}\n}}\n",
            prefixes.join(" "),
            rng.pick(IFACES)
        );
        zones.push((name, prefixes[0].trim_matches('"').to_string()));
    }
    text += "zone \"outside\" {\n    residual #true\n    interface pfsense=\"wan\"\n}\n";
    let mut sides: Vec<String> = zones.iter().map(|(n, _)| format!("{n:?}")).collect();
    sides.push("\"outside\"".into());
    sides.push("\"any\"".into());
    sides.push("\"203.0.113.0/24\"".into());
    sides.push("\"2001:db8::/32\"".into());
    for (i, (zone, prefix)) in zones.iter().enumerate() {
        if rng.next().is_multiple_of(2) {
            let net: IpNet = prefix.parse().unwrap();
            let host = match net {
                IpNet::V4(n) => IpAddr::from(std::net::Ipv4Addr::from(u32::from(n.network()) + 5)),
                IpNet::V6(n) => IpAddr::from(std::net::Ipv6Addr::from(u128::from(n.network()) + 5)),
            };
            text += &format!("class \"c{i}\" {{\n    zone {zone:?}\n    address \"{host}\"\n}}\n");
            sides.push(format!("\"c{i}\""));
        }
    }
    let lo = 1 + rng.next() % 3000;
    let hi = lo + rng.next() % 200;
    text += &format!(
        "service \"custom\" {{\n    tcp \"{lo}-{hi}\" {}\n    udp {}\n}}\n",
        1 + rng.next() % 65535,
        1 + rng.next() % 65535
    );
    text += "rules {\n";
    for r in 0..1 + rng.next() % 6 {
        let action = *rng.pick(&["allow", "allow", "deny", "reject"]);
        let svc = if rng.next().is_multiple_of(3) {
            "custom"
        } else {
            rng.pick(SERVICES)
        };
        text += &format!(
            "    {action} \"r{r}\" {{\n        from {}\n        to {}\n        service {svc:?}\n        log {}\n    }}\n",
            rng.pick(&sides),
            rng.pick(&sides),
            if rng.next().is_multiple_of(2) {
                "#true"
            } else {
                "#false"
            }
        );
    }
    text += "}\n";
    text
}

#[test]
fn random_policies_get_the_ir_verdict() {
    let mut rng = Rng(0x0070_f5e5);
    let mut accepted = 0;
    for i in 0..300 {
        let text = random_policy(&mut rng);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("random.kdl");
        std::fs::write(&path, &text).unwrap();
        let compiled = wardwall::compile(&path, PROBE_DATE.parse().unwrap()).unwrap();
        let Some(ir) = compiled.ir.filter(|_| !compiled.diagnostics.has_errors()) else {
            continue;
        };
        if ir.rules.is_empty() {
            continue;
        }
        accepted += 1;
        let xml = match PfSense.render(&ir, &Templates::default()) {
            Ok(files) => files[0].contents.clone(),
            Err(e) => panic!("policy {i} refused:\n{text}\n{e:#?}"),
        };
        let parsed =
            parse(&xml).unwrap_or_else(|e| panic!("policy {i}:\n{text}\n{}", e.join("\n")));
        if i % 10 == 0
            && let Some(php) = php_parse(&xml)
        {
            assert_php_agrees(&php, &parsed);
        }
        let trackers = tracker_map(&ir);
        for pkt in random_packets(&ir, i, 1_000) {
            if let Some(d) = disagreement(&ir, &parsed, &trackers, &pkt) {
                panic!("policy {i}:\n{text}\n{d}");
            }
        }
    }
    eprintln!("{accepted} random policies checked");
    assert!(
        accepted >= 100,
        "only {accepted} random policies were valid"
    );
}
