//! The exact analysis checked against brute-force evaluation.
//!
//! Random rule lists are drawn over a small vocabulary: addresses among
//! x.0–x.7 of one IPv4 and one IPv6 network (or `any`), TCP/UDP ports 1–4,
//! ICMP types 0 and 8, protocol 47 (or service `any`). Every packet outside
//! that vocabulary behaves like one representative (address .100, port 100,
//! ICMP type 100, protocol 100), so evaluating the enumerated packets below
//! covers every behaviour of the whole packet universe: the brute force is
//! exact, not a sample.

use crate::common;

use common::small_domain::{arb_rule, ir_of, packets, v4, v6};
use proptest::prelude::*;
use wardwall::addrset::AddrSet;
use wardwall::analysis::space::Space;
use wardwall::analysis::sweep::{RuleFinding, Sweep, rule_findings, verdict_without};
use wardwall::ir::{Action, Ir, Packet, Proto, ServiceSet};

fn without(ir: &Ir, i: usize) -> Ir {
    let mut out = ir.clone();
    out.rules.remove(i);
    out
}

/// An action and a log flag.
fn arb_verdict() -> impl Strategy<Value = (Action, bool)> {
    (
        prop::sample::select(vec![Action::Allow, Action::Deny, Action::Reject]),
        prop::bool::ANY,
    )
}

/// The rules, then (if given) a rule matching every packet with that verdict.
fn with_catch_all(
    mut rules: Vec<common::small_domain::RuleSpec>,
    catch_all: Option<(Action, bool)>,
) -> Vec<common::small_domain::RuleSpec> {
    if let Some((action, log)) = catch_all {
        rules.push((
            action,
            log,
            AddrSet::any(),
            AddrSet::any(),
            ServiceSet::any(),
        ));
    }
    rules
}

fn arb_packet() -> impl Strategy<Value = Packet> {
    let host = prop_oneof![3 => 0u8..8, 1 => any::<u8>()];
    let proto = prop_oneof![
        (0u16..6).prop_map(|p| Proto::Tcp { dport: p }),
        any::<u16>().prop_map(|p| Proto::Tcp { dport: p }),
        (0u16..6).prop_map(|p| Proto::Udp { dport: p }),
        any::<u8>().prop_map(|t| Proto::Icmp { ty: t }),
        prop::sample::select(vec![0u8, 2, 47, 50, 132, 255]).prop_map(Proto::Other),
    ];
    (prop::bool::ANY, host.clone(), host, proto).prop_map(|(six, s, d, proto)| {
        let f = if six { v6 } else { v4 };
        Packet {
            src: f(s),
            dst: f(d),
            proto,
        }
    })
}

proptest! {
    #![proptest_config(common::proptest_config(96))]

    /// The sweep's decided spaces are exactly what the evaluator decides.
    #[test]
    fn sweep_matches_brute_force(
        rules in prop::collection::vec(arb_rule(), 1..8),
        catch_all in prop::option::weighted(0.3, arb_verdict()),
    ) {
        let ir = ir_of(with_catch_all(rules, catch_all));
        let sweep = Sweep::run(&ir);
        let default = sweep.default_space();
        for p in packets() {
            let v = ir.evaluate(&p);
            for (i, d) in (0..ir.rules.len()).map(|i| (i, sweep.decided(i))) {
                prop_assert_eq!(d.contains(&p), v.rule == Some(i), "rule {} at {}", i, p);
                prop_assert_eq!(sweep.matched[i].contains(&p), ir.rules[i].matches(&p));
            }
            prop_assert_eq!(default.contains(&p), v.rule.is_none(), "default at {}", p);
        }
    }

    /// Every finding, and every absence of a finding, agrees with brute force.
    #[test]
    fn findings_match_brute_force(
        rules in prop::collection::vec(arb_rule(), 1..8),
        catch_all in prop::option::weighted(0.3, arb_verdict()),
    ) {
        let ir = ir_of(with_catch_all(rules, catch_all));
        let sweep = Sweep::run(&ir);
        let findings = rule_findings(&ir, &sweep);
        let all = packets();
        for (i, rule) in ir.rules.iter().enumerate() {
            let matches_some = all.iter().any(|p| rule.matches(p));
            let decides: Vec<&Packet> =
                all.iter().filter(|p| ir.evaluate(p).rule == Some(i)).collect();
            // A catch-all (every packet of the universe) at the end with the
            // default's verdict is one finding: it restates the default.
            let catch_all = all.iter().all(|p| rule.matches(p));
            let restates = catch_all
                && i + 1 == ir.rules.len()
                && (rule.action, rule.log) == (ir.default_action, ir.default_log);
            let reported_restates = findings.iter().any(|f| matches!(f,
                RuleFinding::RestatesDefault { rule } if *rule == i));
            prop_assert_eq!(reported_restates, restates, "restating the default: r{}", i);
            let removable = all.iter().all(|p| {
                let v = ir.evaluate(p);
                verdict_without(&ir, i, p) == (v.action, v.log)
            });
            prop_assert!(!restates || removable, "r{} restates the default", i);
            let shadowed = !restates && matches_some && decides.is_empty();
            let reported_shadow = findings.iter().any(|f| matches!(f,
                RuleFinding::Shadowed { rule, .. } if *rule == i));
            prop_assert_eq!(reported_shadow, shadowed, "shadow of r{}", i);

            let redundant = !restates && matches_some && !shadowed && decides.iter().all(|p| {
                verdict_without(&ir, i, p) == (rule.action, rule.log)
            });
            let reported_redundant = findings.iter().any(|f| matches!(f,
                RuleFinding::Redundant { rule, .. } if *rule == i));
            prop_assert_eq!(reported_redundant, redundant, "redundancy of r{}", i);

            for j in 0..i {
                // The allows before a deny-everything rule are what it is
                // written to carve out: no conflict with a catch-all.
                let conflict = !shadowed
                    && !catch_all
                    && rule.action != Action::Allow
                    && ir.rules[j].action == Action::Allow
                    && all.iter().any(|p| rule.matches(p) && ir.evaluate(p).rule == Some(j));
                let reported = findings.iter().any(|f| matches!(f,
                    RuleFinding::Conflict { allow, deny, .. } if *allow == j && *deny == i));
                prop_assert_eq!(reported, conflict, "conflict r{} / r{}", j, i);
            }
        }
        // Samples are honest: in the rule, decided as the finding says.
        for f in &findings {
            match f {
                RuleFinding::Shadowed { rule, by, covered_by, sample } => {
                    prop_assert!(ir.rules[*rule].matches(sample));
                    // `covered_by` is the first earlier rule matching all of it.
                    let covers = |j: usize| all.iter().all(|p| !ir.rules[*rule].matches(p) || ir.rules[j].matches(p));
                    prop_assert_eq!(*covered_by, (0..*rule).find(|&j| covers(j)));
                    let d = ir.evaluate(sample).rule.unwrap();
                    prop_assert!(by.contains(&d));
                    prop_assert!(by.iter().all(|&j| j < *rule));
                }
                RuleFinding::Redundant { rule, sample, .. } => {
                    prop_assert_eq!(ir.evaluate(sample).rule, Some(*rule));
                }
                RuleFinding::Conflict { allow, deny, sample } => {
                    prop_assert_eq!(ir.evaluate(sample).rule, Some(*allow));
                    prop_assert!(ir.rules[*deny].matches(sample));
                }
                RuleFinding::RestatesDefault { .. } => {}
            }
        }
    }

    /// A rule reported shadowed (or redundant) can be removed without
    /// changing any verdict, on every representative packet and on random
    /// packets from the whole universe.
    #[test]
    fn removing_a_shadowed_or_redundant_rule_changes_no_verdict(
        rules in prop::collection::vec(arb_rule(), 1..8),
        catch_all in prop::option::weighted(0.3, arb_verdict()),
        randoms in prop::collection::vec(arb_packet(), 64),
    ) {
        let ir = ir_of(with_catch_all(rules, catch_all));
        let sweep = Sweep::run(&ir);
        for f in rule_findings(&ir, &sweep) {
            let i = match f {
                RuleFinding::Shadowed { rule, .. }
                | RuleFinding::Redundant { rule, .. }
                | RuleFinding::RestatesDefault { rule } => rule,
                RuleFinding::Conflict { .. } => continue,
            };
            let smaller = without(&ir, i);
            for p in packets().iter().chain(&randoms) {
                let (a, b) = (ir.evaluate(p), smaller.evaluate(p));
                prop_assert_eq!((a.action, a.log), (b.action, b.log), "removing r{} changes {}", i, p);
            }
        }
    }

    /// Spaces built from rules agree with `Rule::matches` on random packets.
    #[test]
    fn rule_space_matches_rule(rule in arb_rule(), randoms in prop::collection::vec(arb_packet(), 64)) {
        let ir = ir_of(vec![rule]);
        let space = Space::of_rule(&ir.rules[0]);
        for p in &randoms {
            prop_assert_eq!(space.contains(p), ir.rules[0].matches(p), "at {}", p);
        }
    }
}
