//! The reference evaluator on the shipped hospital policy: every probe is
//! decided by the rule the policy author expects (longest-prefix zones,
//! exceptions, absolute blocks, expiry, IPv6, ICMP, port-range edges).

use crate::common;

use common::probes::{HOSPITAL_PROBES, PROBE_DATE};
use wardwall::ir::{Action, Ir, Packet};

fn hospital(date: &str) -> Ir {
    let compiled =
        wardwall::compile(common::hospital(), date.parse().unwrap()).expect("policy readable");
    assert!(
        !compiled.diagnostics.has_errors(),
        "{:?}",
        compiled.diagnostics
    );
    compiled.ir.expect("no errors, so an IR")
}

#[test]
fn every_probe_is_decided_by_the_expected_rule() {
    let ir = hospital(PROBE_DATE);
    let mut failures = Vec::new();
    for probe in HOSPITAL_PROBES {
        let packet = Packet::parse(probe.src, probe.dst, probe.proto).unwrap();
        let verdict = ir.evaluate(&packet);
        let got = ir.verdict_rule_name(&verdict);
        if got != probe.expect_rule {
            failures.push(format!(
                "{}: {packet} decided by `{got}`, expected `{}`",
                probe.what, probe.expect_rule
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(HOSPITAL_PROBES.len() >= 40);
}

#[test]
fn advisory_blocks_come_first_and_deny_every_protocol() {
    let ir = hospital(PROBE_DATE);
    assert_eq!(ir.rules[0].name, "contec-cms8000.out");
    assert_eq!(ir.rules[1].name, "contec-cms8000.in");
    assert_eq!(ir.rules[2].name, "guest-isolation");
    for proto in [
        "tcp/1",
        "tcp/65535",
        "udp/2049",
        "icmp/echo-request",
        "gre",
        "esp",
    ] {
        for (src, dst) in [
            ("10.20.8.5", "202.114.4.119"),
            ("202.114.4.255", "10.10.0.53"),
        ] {
            let v = ir.evaluate(&Packet::parse(src, dst, proto).unwrap());
            assert_eq!(v.action, Action::Deny, "{src} -> {dst} {proto}");
            assert!(v.log, "advisory blocks are always logged");
            assert!(v.rule.unwrap() < 2);
        }
    }
}

#[test]
fn expiry_follows_the_evaluation_date() {
    let jump = Packet::parse("10.99.0.10", "10.30.1.10", "tcp/22").unwrap();
    let migration = Packet::parse("10.10.20.50", "10.50.0.9", "tcp/104").unwrap();
    // The grant's last day is 2026-12-15, inclusive.
    for (date, jump_allowed, migration_allowed) in [
        ("2026-06-30", true, true),
        ("2026-07-01", true, false),
        ("2026-12-15", true, false),
        ("2026-12-16", false, false),
    ] {
        let ir = hospital(date);
        assert_eq!(
            ir.evaluate(&jump).action == Action::Allow,
            jump_allowed,
            "jump host on {date}"
        );
        assert_eq!(
            ir.evaluate(&migration).action == Action::Allow,
            migration_allowed,
            "migration on {date}"
        );
    }
}

#[test]
fn the_exception_sits_right_before_its_rule() {
    let ir = hospital(PROBE_DATE);
    let ex = ir
        .rules
        .iter()
        .position(|r| r.name == "ct-vendor-telemetry")
        .unwrap();
    assert_eq!(ir.rules[ex + 1].name, "clinical-no-internet");
}

#[test]
fn zones_partition_by_longest_prefix() {
    let ir = hospital(PROBE_DATE);
    let zone = |a: &str| ir.zone_of(a.parse().unwrap()).map(|z| z.name.clone());
    assert_eq!(zone("10.20.7.255").as_deref(), Some("icu-devices"));
    assert_eq!(zone("10.20.8.0").as_deref(), Some("monitor-quarantine"));
    assert_eq!(zone("10.20.8.255").as_deref(), Some("monitor-quarantine"));
    assert_eq!(zone("10.20.9.0").as_deref(), Some("icu-devices"));
    assert_eq!(zone("10.10.0.1").as_deref(), Some("infrastructure"));
    assert_eq!(zone("10.10.1.1").as_deref(), Some("corporate"));
    assert_eq!(zone("10.255.255.255").as_deref(), Some("corporate"));
    assert_eq!(zone("11.0.0.0").as_deref(), Some("internet"));
    assert_eq!(zone("fd42:1:0:200::1").as_deref(), Some("icu-devices"));
    assert_eq!(zone("fd42:1:0:201::1").as_deref(), Some("corporate"));
    assert_eq!(zone("::1").as_deref(), Some("internet"));
    // Zones are disjoint and, with the residual zone, cover everything.
    let mut union = wardwall::addrset::AddrSet::empty();
    for z in &ir.zones {
        assert!(
            !union.overlaps(&z.addrs),
            "zone {} overlaps another",
            z.name
        );
        union = union.union(&z.addrs);
    }
    assert!(union.is_any());
    // The quarantine is carved out of the ICU zone exactly.
    let icu = ir.zone("icu-devices").unwrap();
    assert!(
        icu.addrs
            .v4_cidrs()
            .iter()
            .all(|n| n.to_string() != "10.20.0.0/16")
    );
}

#[test]
fn icmp_names_resolve_per_family() {
    let ir = hospital(PROBE_DATE);
    // echo-request is ICMP type 8 for IPv4 and ICMPv6 type 128 for IPv6.
    let v4 = Packet::parse("10.40.1.1", "10.10.0.53", "icmp/8").unwrap();
    let v6 = Packet::parse("fd42:1::5", "fd42:1:0:10::53", "icmpv6/128").unwrap();
    let v6_wrong = Packet::parse("fd42:1::5", "fd42:1:0:10::53", "icmpv6/8").unwrap();
    assert_eq!(ir.evaluate(&v4).action, Action::Allow);
    assert_eq!(ir.evaluate(&v6).action, Action::Allow);
    assert_eq!(ir.evaluate(&v6_wrong).action, Action::Deny);
}

#[test]
fn explain_packets_follow_the_policy_literal_rules() {
    // Numeric ICMP types belong to one family; TCP and UDP need a port in
    // 1..65535; addresses are strict (no leading zeros, no IPv4-mapped IPv6).
    for (src, dst, proto) in [
        ("fd42:1::5", "fd42:1::6", "icmp/8"),
        ("10.0.0.1", "10.0.0.2", "icmpv6/128"),
        ("10.0.0.1", "10.0.0.2", "tcp"),
        ("10.0.0.1", "10.0.0.2", "tcp/0"),
        ("10.0.0.1", "10.0.0.2", "tcp/70000"),
        ("10.0.0.1", "10.0.0.2", "proto/6"),
        ("10.0.0.01", "10.0.0.2", "tcp/22"),
        ("::ffff:10.0.0.1", "::1", "tcp/22"),
    ] {
        assert!(
            Packet::parse(src, dst, proto).is_err(),
            "{src} {dst} {proto} must be refused"
        );
    }
    let e = Packet::parse("10.0.0.1", "10.0.0.2", "tcp/70000").unwrap_err();
    assert!(e.to_string().contains("out of range"), "{e}");
    let e = Packet::parse("10.0.0.1", "10.0.0.2", "tcp").unwrap_err();
    assert!(e.to_string().contains("tcp/443"), "{e}");
}
