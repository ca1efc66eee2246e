//! The model and lowering stages on small inline policies: rule order,
//! absolute blocks, exceptions, expiry, defaults and zone arithmetic.

use wardwall::ir::{Action, Ir, Packet, RuleOrigin};

fn compile(text: &str, date: &str) -> wardwall::Compiled {
    crate::common::compile_text("policy.kdl", text, date)
}

fn ir(text: &str) -> Ir {
    let c = compile(text, "2026-11-25");
    assert!(!c.diagnostics.has_errors(), "{:?}", c.diagnostics.items);
    c.ir.unwrap()
}

fn codes(text: &str) -> Vec<&'static str> {
    compile(text, "2026-11-25")
        .diagnostics
        .items
        .iter()
        .map(|d| d.code)
        .collect()
}

const ZONES: &str = r#"
zone "campus" {
    prefix "10.0.0.0/8" "fd00::/16"
}
zone "devices" {
    prefix "10.20.0.0/16" "fd00:20::/32"
}
zone "internet" {
    residual #true
}
class "pumps" {
    zone "devices"
    address "10.20.4.0/23"
}
advisory "bad-net" {
    block "198.18.0.0/24"
}
"#;

fn names(ir: &Ir) -> Vec<&str> {
    ir.rules.iter().map(|r| r.name.as_str()).collect()
}

#[test]
fn absolute_rules_move_to_the_top_in_declaration_order() {
    let ir = ir(&format!(
        r#"{ZONES}
rules {{
    allow "first" {{
        from "campus"
        to "internet"
        service "https"
    }}
    deny "hard" {{
        absolute #true
        from "devices"
        to "campus"
        service "any"
    }}
    block-advisory "bad-net"
}}"#
    ));
    assert_eq!(names(&ir), ["hard", "bad-net.out", "bad-net.in", "first"]);
    assert!(ir.rules[1].absolute && ir.rules[2].absolute);
    assert!(matches!(
        ir.rules[1].origin,
        RuleOrigin::AdvisoryBlock { .. }
    ));
}

#[test]
fn allow_to_the_residual_zone_does_not_conflict_with_an_advisory_block() {
    // "campus to the internet" overlaps the blocked net only through the
    // residual zone: accepted, and the block still wins for that net.
    let ir = ir(&format!(
        r#"{ZONES}
rules {{
    block-advisory "bad-net"
    allow "web" {{
        from "campus"
        to "internet"
        service "https"
    }}
}}"#
    ));
    let blocked = Packet::parse("10.1.1.1", "198.18.0.5", "tcp/443").unwrap();
    let open = Packet::parse("10.1.1.1", "198.19.0.5", "tcp/443").unwrap();
    assert_eq!(ir.evaluate(&blocked).action, Action::Deny);
    assert_eq!(ir.evaluate(&open).action, Action::Allow);
}

#[test]
fn allow_to_any_conflicts_only_through_specific_sides() {
    let text = |to: &str| {
        format!(
            r#"{ZONES}
rules {{
    block-advisory "bad-net"
    allow "x" {{
        from "pumps"
        to {to}
        service "any"
    }}
}}"#
        )
    };
    assert!(codes(&text("\"any\"")).is_empty());
    assert_eq!(
        codes(&text("\"198.18.0.0/25\"")),
        ["allow-overrides-absolute"]
    );
    assert_eq!(codes(&text("\"bad-net\"")), ["allow-overrides-absolute"]);
}

#[test]
fn exceptions_precede_their_rule_and_expire_with_it() {
    let policy = format!(
        r#"{ZONES}
rules {{
    deny "no-internet" {{
        from "devices"
        to "internet"
        service "any"
        expires "2026-12-31"
        exception "vendor" {{
            from "pumps"
            to "203.0.113.5"
            service "https"
        }}
    }}
}}"#
    );
    let active = compile(&policy, "2026-11-25").ir.unwrap();
    assert_eq!(names(&active), ["vendor", "no-internet"]);
    assert_eq!(
        active.rules[0].origin,
        RuleOrigin::Exception {
            parent: "no-internet".into()
        }
    );
    // After the deny expires, its exception must not survive as a bare allow.
    let expired = compile(&policy, "2027-01-01");
    assert!(expired.ir.as_ref().unwrap().rules.is_empty());
    let codes: Vec<_> = expired.diagnostics.items.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["rule-expired"]);
}

#[test]
fn deny_and_reject_log_by_default_allow_does_not() {
    let ir = ir(&format!(
        r#"{ZONES}
rules {{
    allow "a" {{
        from "pumps"
        to "campus"
        service "ntp"
    }}
    deny "d" {{
        from "pumps"
        to "campus"
        service "any"
    }}
    reject "r" {{
        from "campus"
        to "pumps"
        service "any"
        log #false
    }}
}}"#
    ));
    let logs: Vec<bool> = ir.rules.iter().map(|r| r.log).collect();
    assert_eq!(logs, [false, true, false]);
    assert!(ir.default_log);
    assert_eq!(ir.default_action, Action::Deny);
}

#[test]
fn families_restrict_a_rule_without_widening() {
    // The pumps class is IPv4-only, the campus zone has both families:
    // the rule can only match IPv4.
    let ir = ir(&format!(
        r#"{ZONES}
rules {{
    allow "a" {{
        from "pumps"
        to "campus"
        service "ping"
    }}
}}"#
    ));
    assert_eq!(ir.rules[0].families(), [wardwall::ir::Family::V4]);
    let v6 = Packet::parse("fd00:20::1", "fd00::1", "icmp/echo-request").unwrap();
    assert_eq!(ir.evaluate(&v6).rule, None);
}

#[test]
fn service_literals_and_catalogue_overrides() {
    let ir = ir(&format!(
        r#"{ZONES}
service "https" {{
    tcp 8443
}}
rules {{
    allow "a" {{
        from "pumps"
        to "campus"
        service "https" "udp/5000-5010" "icmpv6/packet-too-big" "proto/gre" "proto/50"
    }}
}}"#
    ));
    let set = &ir.rules[0].service.set;
    assert!(
        set.tcp.contains(8443) && !set.tcp.contains(443),
        "policy service replaces the built-in"
    );
    assert!(set.udp.contains(5000) && set.udp.contains(5010) && !set.udp.contains(5011));
    assert_eq!(set.icmp6.ranges(), &[(2, 2)]);
    assert_eq!(set.protocols.ranges(), &[(47, 47), (50, 50)]);
}

#[test]
fn a_zone_fully_covered_by_subzones_owns_nothing_but_the_gaps() {
    let ir = ir(r#"
policy "zones-only" {
    deny-all #true
}
zone "outer" {
    prefix "10.0.0.0/23"
}
zone "a" {
    prefix "10.0.0.0/24"
}
zone "b" {
    prefix "10.0.1.0/25"
}
"#);
    assert_eq!(ir.zone("outer").unwrap().addrs.to_string(), "10.0.1.128/25");
    assert_eq!(ir.zone("b").unwrap().addrs.to_string(), "10.0.1.0/25");
}
