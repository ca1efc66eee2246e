//! The traffic diff checked against brute-force evaluation of both policies.
//!
//! Random rule lists are drawn over a small vocabulary: addresses among
//! x.0–x.7 of one IPv4 and one IPv6 network (or `any`), TCP/UDP ports 1–4,
//! ICMP types 0 and 8, protocol 47 (or service `any`). Every packet outside
//! that vocabulary behaves like one representative (address .100, port 100,
//! ICMP type 100, protocol 100), so evaluating the enumerated packets below
//! covers every behaviour of the whole packet universe: the brute force is
//! exact, not a sample.

use crate::common;

use common::small_domain::{RuleSpec, arb_rule, ir_of, packets};
use proptest::prelude::*;
use wardwall::addrset::AddrSet;
use wardwall::diff::traffic::{ChangeKind, Context, changed_regions, traffic_diff};
use wardwall::ir::{Action, Ir, ServiceSet};

/// An edit of a rule list: the kinds of change a policy review sees.
#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, RuleSpec),
    Remove(usize),
    /// Move the rule at the first index to the second.
    Move(usize, usize),
    /// Replace a rule's contents, keeping its name.
    Modify(usize, RuleSpec),
    /// Flip a rule's log flag only.
    ToggleLog(usize),
    /// Same contents, new name.
    Rename(usize),
    /// A different default action.
    Default(Action),
}

fn arb_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<usize>(), arb_rule()).prop_map(|(i, r)| Edit::Insert(i, r)),
        2 => any::<usize>().prop_map(Edit::Remove),
        3 => (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Edit::Move(i, j)),
        2 => (any::<usize>(), arb_rule()).prop_map(|(i, r)| Edit::Modify(i, r)),
        1 => any::<usize>().prop_map(Edit::ToggleLog),
        1 => any::<usize>().prop_map(Edit::Rename),
        1 => prop::sample::select(vec![Action::Allow, Action::Reject]).prop_map(Edit::Default),
    ]
}

fn apply(ir: &Ir, edits: &[Edit]) -> Ir {
    let mut out = ir.clone();
    let template = ir_of(vec![(
        Action::Allow,
        false,
        AddrSet::any(),
        AddrSet::any(),
        ServiceSet::any(),
    )])
    .rules[0]
        .clone();
    let make = |name: String, (action, log, src, dst, set): RuleSpec| {
        let mut r = template.clone();
        r.name = name;
        r.action = action;
        r.log = log;
        r.src.addrs = src;
        r.dst.addrs = dst;
        r.service.set = set;
        r
    };
    for (k, e) in edits.iter().enumerate() {
        let n = out.rules.len();
        match e.clone() {
            Edit::Insert(i, spec) => out.rules.insert(i % (n + 1), make(format!("new{k}"), spec)),
            Edit::Remove(i) if n > 0 => {
                out.rules.remove(i % n);
            }
            Edit::Move(i, j) if n > 0 => {
                let r = out.rules.remove(i % n);
                out.rules.insert(j % n, r);
            }
            Edit::Modify(i, spec) if n > 0 => {
                let name = out.rules[i % n].name.clone();
                out.rules[i % n] = make(name, spec);
            }
            Edit::ToggleLog(i) if n > 0 => out.rules[i % n].log ^= true,
            Edit::Rename(i) if n > 0 => out.rules[i % n].name = format!("renamed{k}"),
            Edit::Default(a) => out.default_action = a,
            _ => {}
        }
    }
    out
}

/// Checks the diff of `old` → `new` packet by packet against evaluating
/// both: every packet whose verdict differs is in exactly one reported
/// region and one reported line, with the deciding rules and actions the
/// evaluator gives; every other packet is in none.
fn check(old: &Ir, new: &Ir) -> Result<(), TestCaseError> {
    let regions = changed_regions(old, new);
    let diff = traffic_diff(old, new, &Context::default());
    let lines: Vec<_> = diff.changes.iter().chain(&diff.log_changes).collect();
    for p in packets() {
        let (a, b) = (old.evaluate(&p), new.evaluate(&p));
        let differs = (a.action, a.log) != (b.action, b.log);
        let hits: Vec<_> = regions.iter().filter(|r| r.space.contains(&p)).collect();
        prop_assert_eq!(hits.len(), usize::from(differs), "regions at {}", p);
        if let Some(r) = hits.first() {
            prop_assert_eq!((r.old, r.new), (a.rule, b.rule), "deciders at {}", p);
        }
        let hits: Vec<_> = lines.iter().filter(|c| c.cube.contains(&p)).collect();
        prop_assert_eq!(hits.len(), usize::from(differs), "lines at {}", p);
        if let Some(c) = hits.first() {
            prop_assert_eq!(c.old.action, a.action);
            prop_assert_eq!(c.new.action, b.action);
            prop_assert_eq!(c.old.log, a.log);
            prop_assert_eq!(c.new.log, b.log);
            let name =
                |ir: &Ir, v: &wardwall::ir::Verdict| v.rule.map(|i| ir.rules[i].name.clone());
            prop_assert_eq!(&c.old.rule, &name(old, &a));
            prop_assert_eq!(&c.new.rule, &name(new, &b));
            let kind = if a.action == b.action {
                ChangeKind::LogOnly
            } else if b.action == Action::Allow {
                ChangeKind::NewlyAllowed
            } else if a.action == Action::Allow {
                ChangeKind::NewlyDenied
            } else {
                ChangeKind::DenyReject
            };
            prop_assert_eq!(c.kind, kind, "kind at {}", p);
        }
    }
    let s = &diff.summary;
    prop_assert_eq!(
        s.newly_allowed + s.newly_denied + s.deny_reject,
        diff.changes.len()
    );
    prop_assert_eq!(s.log_only, diff.log_changes.len());
    Ok(())
}

proptest! {
    #![proptest_config(common::proptest_config(256))]

    /// A policy against an edited copy of itself: added, removed, moved,
    /// modified and renamed rules, log-only changes, a new default.
    #[test]
    fn edits_match_brute_force(
        rules in prop::collection::vec(arb_rule(), 0..8),
        edits in prop::collection::vec(arb_edit(), 0..4),
    ) {
        let old = ir_of(rules);
        let new = apply(&old, &edits);
        check(&old, &new)?;
        check(&new, &old)?;
    }

    /// Two unrelated policies (every rule differs, names coincide).
    #[test]
    fn unrelated_policies_match_brute_force(
        a in prop::collection::vec(arb_rule(), 0..7),
        b in prop::collection::vec(arb_rule(), 0..7),
    ) {
        check(&ir_of(a), &ir_of(b))?;
    }

    /// Diffing a policy with itself, or with a reordering that keeps every
    /// verdict, reports nothing.
    #[test]
    fn verdict_preserving_reorders_report_nothing(
        rules in prop::collection::vec(arb_rule(), 0..8),
        i in any::<usize>(),
        j in any::<usize>(),
    ) {
        let old = ir_of(rules);
        prop_assert!(traffic_diff(&old, &old, &Context::default()).is_empty());
        let new = apply(&old, &[Edit::Move(i, j)]);
        let same = packets().iter().all(|p| {
            let (a, b) = (old.evaluate(p), new.evaluate(p));
            (a.action, a.log) == (b.action, b.log)
        });
        prop_assert_eq!(traffic_diff(&old, &new, &Context::default()).is_empty(), same);
    }
}
