//! Known answers for every analysis finding: small policies where the
//! expected findings are worked out by hand.

use std::path::Path;

use wardwall::analysis::sweep::{RuleFinding, Sweep, rule_findings};
use wardwall::diagnostics::{Diagnostic, Severity};
use wardwall::ir::Packet;

/// Zones and classes every test policy shares.
const HEADER: &str = r#"
zone "lan" {
    prefix "10.0.0.0/24"
}
zone "icu" {
    prefix "10.20.0.0/24"
}
zone "vend" {
    prefix "10.99.0.0/24"
    vendor #true
}
zone "net" {
    residual #true
}
class "pumps" {
    zone "icu"
    address "10.20.0.16/28"
    affected-by "bad-vendor"
}
class "monitors" {
    zone "icu"
    address "10.20.0.64/28"
}
class "printers" {
    zone "lan"
    address "10.0.0.250"
}
class "jump" {
    zone "vend"
    address "10.99.0.10"
}
group "medical" {
    clinical #true
    member "pumps" "monitors"
}
advisory "bad-vendor" {
    block "203.0.113.0/24"
}
"#;

struct Checked {
    compiled: wardwall::Compiled,
    _dir: tempfile::TempDir,
}

fn check(rules: &str) -> Checked {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.kdl");
    std::fs::write(&path, format!("{HEADER}\nrules {{\n{rules}\n}}\n")).unwrap();
    let mut compiled = wardwall::compile(&path, "2026-01-01".parse().unwrap()).unwrap();
    assert!(
        !compiled.diagnostics.has_errors(),
        "{}",
        wardwall::diagnostics::render_all(
            &compiled.sources,
            &compiled.diagnostics,
            wardwall::diagnostics::Style::Plain
        )
    );
    compiled.analyze();
    Checked {
        compiled,
        _dir: dir,
    }
}

/// The first `name` quoted in a message.
fn subject(d: &Diagnostic) -> &str {
    d.message.split('`').nth(1).unwrap_or("")
}

impl Checked {
    fn diags(&self) -> &[Diagnostic] {
        &self.compiled.diagnostics.items
    }

    /// `code subject` of every diagnostic with one of `codes`, in order.
    fn found(&self, codes: &[&str]) -> Vec<String> {
        self.diags()
            .iter()
            .filter(|d| codes.contains(&d.code))
            .map(|d| format!("{} {}", d.code, subject(d)))
            .collect()
    }

    fn one(&self, code: &str, subj: &str) -> &Diagnostic {
        let v: Vec<&Diagnostic> = self
            .diags()
            .iter()
            .filter(|d| d.code == code && subject(d) == subj)
            .collect();
        assert_eq!(v.len(), 1, "{code} {subj}: {:#?}", self.diags());
        v[0]
    }

    /// The text a label points at.
    fn text_at(&self, span: wardwall::diagnostics::Span) -> &str {
        let f = self.compiled.sources.file(span.file);
        &f.text[span.offset..span.offset + span.len]
    }

    fn ir(&self) -> &wardwall::ir::Ir {
        self.compiled.ir.as_ref().unwrap()
    }
}

const RULE_CODES: &[&str] = &["shadowed-rule", "redundant-rule", "rule-conflict"];

#[test]
fn shadow_by_the_union_of_three_earlier_rules() {
    // `all-lan` is covered by no single earlier rule: `low`, `mid` and
    // `high` each cover a part of its sources (and `high` more than it).
    let c = check(
        r#"
    allow "low" {
        description "first quarter"
        from "10.0.0.0/26"
        to "10.20.0.64/28"
        service "https"
        log #true
    }
    allow "mid" {
        description "second quarter"
        from "10.0.0.64/26"
        to "10.20.0.64/28"
        service "https"
    }
    allow "high" {
        description "upper half, wider"
        from "10.0.0.128/25"
        to "monitors" "printers"
        service "https" "ssh"
    }
    allow "all-lan" {
        description "covered by the three above together"
        from "lan"
        to "monitors"
        service "https"
    }
"#,
    );
    // `mid` is also redundant: without it, `all-lan` would allow its packets
    // the same way (unlogged). `low` is not: it logs.
    assert_eq!(
        c.found(RULE_CODES),
        ["redundant-rule mid", "shadowed-rule all-lan"]
    );
    let d = c.one("shadowed-rule", "all-lan");
    assert_eq!(d.severity, Severity::Warning);
    assert!(
        d.message.contains("union of 3 earlier rules"),
        "{}",
        d.message
    );
    assert_eq!(c.text_at(d.primary.as_ref().unwrap().span), "\"all-lan\"");
    let related: Vec<&str> = d.secondary.iter().map(|l| c.text_at(l.span)).collect();
    assert_eq!(related, ["\"low\"", "\"mid\"", "\"high\""]);
    // What a user sees (file name normalised: the policy is in a temp dir).
    let path = c
        .compiled
        .sources
        .file(d.primary.as_ref().unwrap().span.file)
        .name
        .clone();
    let text =
        wardwall::diagnostics::render(&c.compiled.sources, d, wardwall::diagnostics::Style::Plain)
            .replace(&path, "policy.kdl");
    insta::with_settings!({
        snapshot_path => "../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!("analysis-shadowed-by-union", text);
    });
    // The structured finding: the sample is matched by the rule and decided
    // by one of the rules named.
    let ir = c.ir();
    let sweep = Sweep::run(ir);
    let f = rule_findings(ir, &sweep);
    let [
        _,
        RuleFinding::Shadowed {
            rule,
            by,
            covered_by: None,
            sample,
        },
    ] = f.as_slice()
    else {
        panic!("{f:?}")
    };
    assert_eq!(ir.rules[*rule].name, "all-lan");
    assert_eq!(by, &[0, 1, 2]);
    assert!(ir.rules[*rule].matches(sample));
    assert!(by.contains(&ir.evaluate(sample).rule.unwrap()));
}

#[test]
fn shadow_by_several_rules_where_one_covers_it_alone_says_so() {
    let c = check(
        r#"
    allow "part" {
        description "decides part of `whole-again` first"
        from "10.0.0.0/26"
        to "monitors"
        service "https"
        log #true
    }
    allow "whole" {
        description "covers all of `whole-again`"
        from "lan"
        to "monitors"
        service "https" "ssh"
    }
    allow "whole-again" {
        description "shadowed"
        from "lan"
        to "monitors"
        service "https"
    }
"#,
    );
    let d = c.one("shadowed-rule", "whole-again");
    assert!(
        d.message
            .ends_with("2 earlier rules (`part` and `whole`) decide all of it first, and `whole` alone covers it"),
        "{}",
        d.message
    );
}

#[test]
fn no_shadow_when_the_union_leaves_a_gap() {
    // Same as above but `high` misses 10.0.0.255: `all-lan` decides that.
    let c = check(
        r#"
    allow "low" {
        description "d"
        from "10.0.0.0/26"
        to "monitors"
        service "https"
    }
    allow "mid" {
        description "d"
        from "10.0.0.64/26"
        to "monitors"
        service "https"
    }
    allow "high" {
        description "d"
        from "10.0.0.128-10.0.0.254"
        to "monitors"
        service "https"
    }
    allow "all-lan" {
        description "d"
        from "lan"
        to "monitors"
        service "https"
    }
"#,
    );
    assert!(c.found(&["shadowed-rule"]).is_empty(), "{:?}", c.diags());
    // Each of the three is redundant on its own (all-lan would take over
    // with the same verdict); all-lan is not (the default would deny).
    assert_eq!(
        c.found(&["redundant-rule"]),
        [
            "redundant-rule low",
            "redundant-rule mid",
            "redundant-rule high"
        ]
    );
}

#[test]
fn redundancy_needs_the_same_action_and_logging() {
    let c = check(
        r#"
    allow "narrow" {
        description "https only"
        from "printers"
        to "monitors"
        service "https"
    }
    allow "narrow-logged" {
        description "ssh, logged: differs from `wide` in logging"
        from "printers"
        to "monitors"
        service "ssh"
        log #true
    }
    allow "wide" {
        description "https, ssh and rdp"
        from "printers"
        to "monitors"
        service "https" "ssh" "rdp"
    }
    deny "deny-logged" {
        description "same as the default deny"
        from "jump"
        to "monitors"
        service "any"
    }
    reject "reject-jump" {
        description "reject differs from the default deny"
        from "jump"
        to "pumps"
        service "any"
    }
"#,
    );
    assert_eq!(
        c.found(RULE_CODES),
        ["redundant-rule narrow", "redundant-rule deny-logged"]
    );
    let d = c.one("redundant-rule", "narrow");
    assert!(d.help.as_ref().unwrap().contains("from `wide`"), "{d:?}");
    let d = c.one("redundant-rule", "deny-logged");
    assert!(
        d.help.as_ref().unwrap().contains("the default rule"),
        "{d:?}"
    );
}

#[test]
fn earlier_allow_hiding_part_of_a_later_deny_is_a_conflict() {
    let c = check(
        r#"
    allow "lan-web-out" {
        description "staff browse the web"
        from "lan"
        to "net"
        service "https"
    }
    deny "no-printer-egress" {
        description "printers never talk to the internet"
        from "printers"
        to "net"
        service "any"
        exception "printer-vendor" {
            description "own exception: not a conflict"
            from "printers"
            to "198.51.100.7"
            service "ssh"
        }
    }
"#,
    );
    // The deny is also redundant: what it still decides, the default rule
    // would deny and log the same way.
    assert_eq!(
        c.found(RULE_CODES),
        [
            "rule-conflict lan-web-out",
            "redundant-rule no-printer-egress"
        ],
        "{:#?}",
        c.diags()
    );
    let d = c.one("rule-conflict", "lan-web-out");
    assert_eq!(
        c.text_at(d.primary.as_ref().unwrap().span),
        "\"no-printer-egress\""
    );
    assert_eq!(c.text_at(d.secondary[0].span), "\"lan-web-out\"");
    let help = d.help.as_ref().unwrap();
    assert!(help.contains("10.0.0.250 -> "), "{help}");
    assert!(help.contains("tcp/443"), "{help}");
}

#[test]
fn clinical_class_with_internet_egress() {
    let c = check(
        r#"
    allow "monitor-cloud" {
        description "vendor cloud"
        from "monitors"
        to "net"
        service "https"
    }
    allow "printer-cloud" {
        description "not clinical: no finding"
        from "printers"
        to "net"
        service "https"
    }
    deny "no-pump-egress" {
        description "pumps never reach the internet"
        from "pumps"
        to "net"
        service "any"
    }
    allow "pump-cloud" {
        description "hidden by the deny above: allows nothing, so not blamed"
        from "pumps"
        to "net"
        service "https"
    }
"#,
    );
    assert_eq!(
        c.found(&["clinical-internet-egress", "shadowed-rule"]),
        [
            "clinical-internet-egress monitor-cloud",
            "shadowed-rule pump-cloud"
        ],
        "{:#?}",
        c.diags()
    );
    let d = c.one("clinical-internet-egress", "monitor-cloud");
    let related: Vec<&str> = d.secondary.iter().map(|l| c.text_at(l.span)).collect();
    assert_eq!(related, ["\"monitors\""]);
}

#[test]
fn advisory_block_missing_not_absolute_and_present() {
    let allowed = check(
        r#"
    allow "pumps-out" {
        description "d"
        from "pumps"
        to "net"
        service "https"
    }
"#,
    );
    assert_eq!(
        allowed.found(&["advisory-block-missing", "advisory-block-not-absolute"]),
        ["advisory-block-missing pumps"]
    );
    let d = allowed.one("advisory-block-missing", "pumps");
    assert!(
        d.help.as_ref().unwrap().contains("allowed by `pumps-out`"),
        "{d:?}"
    );

    // Nothing allows it, but only the default rule denies it.
    let default_only = check(
        r#"
    allow "unrelated" {
        description "d"
        from "printers"
        to "monitors"
        service "https"
    }
"#,
    );
    assert_eq!(
        default_only.found(&["advisory-block-missing", "advisory-block-not-absolute"]),
        ["advisory-block-not-absolute pumps"]
    );

    // A hand-written absolute deny of one direction only is not enough.
    let one_way = check(
        r#"
    deny "to-bad" {
        description "d"
        absolute #true
        from "pumps"
        to "bad-vendor"
        service "any"
    }
"#,
    );
    let d = one_way.one("advisory-block-not-absolute", "pumps");
    assert!(
        d.help.as_ref().unwrap().contains("203.0.113."),
        "the sample comes from the advisory networks: {d:?}"
    );

    let blocked = check(
        r#"
    block-advisory "bad-vendor" {
        description "d"
    }
    allow "pumps-out" {
        description "d"
        from "pumps"
        to "net"
        service "https"
    }
"#,
    );
    assert!(
        blocked
            .found(&["advisory-block-missing", "advisory-block-not-absolute"])
            .is_empty()
    );
}

#[test]
fn any_service_to_a_clinical_class() {
    let c = check(
        r#"
    allow "jump-to-monitors" {
        description "d"
        from "jump"
        to "monitors"
        service "any"
        expires "2026-12-31"
    }
    allow "lan-to-printers" {
        description "not clinical"
        from "lan"
        to "printers"
        service "any"
    }
    allow "jump-to-pumps" {
        description "named services: fine"
        from "jump"
        to "pumps"
        service "ssh"
        expires "2026-12-31"
    }
"#,
    );
    assert_eq!(
        c.found(&["any-service-to-clinical"]),
        ["any-service-to-clinical jump-to-monitors"]
    );
}

#[test]
fn vendor_access_without_expiry() {
    let c = check(
        r#"
    allow "jump-to-pumps" {
        description "from the vendor zone, no expiry"
        from "jump"
        to "pumps"
        service "ssh"
    }
    allow "vendor-in" {
        description "to the vendor zone, with expiry"
        from "198.51.100.0/24"
        to "jump"
        service "https"
        expires "2026-12-31"
    }
    allow "lan-in-vendor-too" {
        description "lan and vendor zone together: not vendor access"
        from "lan" "vend"
        to "printers"
        service "https"
    }
"#,
    );
    assert_eq!(
        c.found(&["vendor-access-no-expiry"]),
        ["vendor-access-no-expiry jump-to-pumps"]
    );
}

#[test]
fn descriptions_and_unlogged_denies() {
    let c = check(
        r#"
    allow "undocumented" {
        from "printers"
        to "monitors"
        service "https"
    }
    deny "quiet" {
        description "d"
        from "printers"
        to "pumps"
        service "any"
        log #false
    }
    reject "quiet-reject" {
        description "d"
        from "lan"
        to "pumps"
        service "any"
        log #false
    }
    deny "loud" {
        description "logged by default"
        from "lan"
        to "monitors"
        service "ssh"
    }
"#,
    );
    assert_eq!(
        c.found(&["rule-no-description", "deny-not-logged"]),
        [
            "rule-no-description undocumented",
            "deny-not-logged quiet",
            "deny-not-logged quiet-reject"
        ]
    );
    let d = c.one("deny-not-logged", "quiet-reject");
    assert!(
        d.message.contains("rejects without logging"),
        "{}",
        d.message
    );
}

#[test]
fn hospital_policy_findings_are_the_expected_ones() {
    let mut compiled = wardwall::compile(
        Path::new("policies/hospital.kdl"),
        "2026-11-25".parse().unwrap(),
    )
    .unwrap();
    compiled.analyze();
    let mut found: Vec<String> = compiled
        .diagnostics
        .items
        .iter()
        .filter(|d| wardwall::analysis::code_info(d.code).is_some())
        .map(|d| format!("{} {}", d.code, subject(d)))
        .collect();
    found.sort();
    // Every rule of the shipped example has a description; what remains are
    // the two findings the example keeps on purpose.
    let expected = [
        "clinical-internet-egress ct-vendor-telemetry",
        "redundant-rule clinical-no-internet",
    ];
    assert_eq!(found, expected);
}

#[test]
fn sample_packets_parse_back_from_their_text() {
    // Diagnostics print sample packets with `Packet`'s Display; `explain`
    // must accept that text back.
    let p = Packet::parse("10.0.0.1", "10.20.0.65", "tcp/443").unwrap();
    assert_eq!(p.to_string(), "10.0.0.1 -> 10.20.0.65 tcp/443");
}

use crate::common;
use common::probes;

#[test]
fn explain_agrees_with_the_evaluator_on_every_hospital_probe() {
    use wardwall::analysis::explain::{Dimension, explain};
    let compiled = wardwall::compile(
        Path::new("policies/hospital.kdl"),
        probes::PROBE_DATE.parse().unwrap(),
    )
    .unwrap();
    let ir = compiled.ir.as_ref().unwrap();
    for probe in probes::HOSPITAL_PROBES {
        let packet = Packet::parse(probe.src, probe.dst, probe.proto).unwrap();
        let e = explain(ir, compiled.policy.as_ref(), &packet);
        assert_eq!(e.verdict, ir.evaluate(&packet), "{}", probe.what);
        assert_eq!(
            ir.verdict_rule_name(&e.verdict),
            probe.expect_rule,
            "{}",
            probe.what
        );
        assert_eq!(
            e.skipped.len(),
            e.verdict.rule.unwrap_or(ir.rules.len()),
            "every earlier rule is listed: {}",
            probe.what
        );
        for s in &e.skipped {
            let r = &ir.rules[s.rule];
            assert!(!s.failed.is_empty(), "{}: {} matched", probe.what, r.name);
            assert_eq!(
                s.failed.contains(&Dimension::Source),
                !r.src.addrs.contains(packet.src)
            );
            assert_eq!(
                s.failed.contains(&Dimension::Destination),
                !r.dst.addrs.contains(packet.dst)
            );
        }
        assert_eq!(
            e.src_zone.as_deref(),
            ir.zone_of(packet.src).map(|z| z.name.as_str())
        );
    }
}
