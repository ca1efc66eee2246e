//! Exact first-match analysis of the rule list: shadowed, redundant and
//! conflicting rules.
//!
//! One sweep over the rules in evaluation order keeps the *remaining* space
//! (packets no earlier rule matched). Rule `i` decides
//! `decided[i] = box(i) ∩ remaining`, then `remaining -= box(i)`; what is
//! left at the end goes to the default rule. The `decided` spaces partition
//! the universe, so:
//!
//! - rule `i` is **shadowed** iff it matches something but `decided[i]` is
//!   empty; the rules that decide its packets instead are exactly the `j < i`
//!   with `decided[j] ∩ box(i)` non-empty (one rule or the union of several);
//! - rule `i` is **redundant** iff every packet of `decided[i]` gets the same
//!   verdict from the next matching rule after `i` (or the default); the
//!   verdict is the action *and* the log flag, and deny and reject differ
//!   (one drops, the other answers). Absolute rules (advisory blocks and
//!   `absolute` denies) are never reported redundant: they are guards
//!   against future rules, not the only reason a packet is denied today.
//!   Redundancy is per rule: removing two redundant rules together may
//!   change verdicts;
//! - an earlier allow `j` **conflicts** with a later deny/reject `i` when it
//!   decides part of `box(i)` (`decided[j] ∩ box(i)` non-empty), unless `j`
//!   is one of `i`'s own exceptions (carving those out is their purpose) or
//!   `i` is shadowed altogether (reported as such).

use crate::ir::{Action, Ir, Packet, RuleOrigin};

use super::space::Space;

/// The result of the first-match sweep.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// Every packet rule `i` matches.
    pub matched: Vec<Space>,
    /// The packets rule `i` decides (matches, and no earlier rule matches).
    pub decided: Vec<Space>,
    /// The packets the default rule decides.
    pub default: Space,
}

impl Sweep {
    pub fn run(ir: &Ir) -> Self {
        let mut remaining = Space::universe();
        let mut matched = Vec::with_capacity(ir.rules.len());
        let mut decided = Vec::with_capacity(ir.rules.len());
        for rule in &ir.rules {
            let m = Space::of_rule(rule);
            let (d, rest) = remaining.split(&m);
            remaining = rest;
            matched.push(m);
            decided.push(d);
        }
        Self {
            matched,
            decided,
            default: remaining,
        }
    }

    /// The rules that decide some packet of `space` (in rule order), and
    /// whether the default rule decides some of it.
    pub fn deciders_of(&self, space: &Space) -> (Vec<usize>, bool) {
        let rules = self
            .decided
            .iter()
            .enumerate()
            .filter(|(_, d)| d.overlaps(space))
            .map(|(j, _)| j)
            .collect();
        (rules, self.default.overlaps(space))
    }
}

/// A finding about one rule of [`Ir::rules`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleFinding {
    /// Rule `rule` matches packets but decides none: `by` decide them all.
    Shadowed {
        rule: usize,
        by: Vec<usize>,
        /// A packet the rule matches, decided by an earlier rule.
        sample: Packet,
    },
    /// Removing rule `rule` changes no verdict: the packets it decides fall
    /// to `takers` (`None` = the default rule) with the same verdict.
    Redundant {
        rule: usize,
        takers: Vec<Option<usize>>,
        /// A packet the rule decides today.
        sample: Packet,
    },
    /// The earlier allow `allow` decides part of the deny/reject `deny`.
    Conflict {
        allow: usize,
        deny: usize,
        /// A packet both match, allowed by `allow`.
        sample: Packet,
    },
}

/// Every shadowed, redundant and conflicting rule, in rule order.
pub fn rule_findings(ir: &Ir, sweep: &Sweep) -> Vec<RuleFinding> {
    let mut out = Vec::new();
    for (i, rule) in ir.rules.iter().enumerate() {
        let matched = &sweep.matched[i];
        if matched.is_empty() {
            // The model already reports rules that can match nothing.
            continue;
        }
        if sweep.decided[i].is_empty() {
            let (by, _) = sweep.deciders_of(matched);
            let sample = matched.sample().expect("non-empty space has a sample");
            out.push(RuleFinding::Shadowed {
                rule: i,
                by: by.into_iter().filter(|&j| j < i).collect(),
                sample,
            });
            continue;
        }
        if matches!(rule.action, Action::Deny | Action::Reject) {
            for j in 0..i {
                let earlier = &ir.rules[j];
                let own_exception = matches!(&earlier.origin,
                    RuleOrigin::Exception { parent } if *parent == rule.name);
                if earlier.action != Action::Allow || own_exception {
                    continue;
                }
                let hidden = sweep.decided[j].intersection(matched);
                if let Some(sample) = hidden.sample() {
                    out.push(RuleFinding::Conflict {
                        allow: j,
                        deny: i,
                        sample,
                    });
                }
            }
        }
        if !rule.absolute
            && let Some(takers) = same_verdict_without(ir, sweep, i)
        {
            out.push(RuleFinding::Redundant {
                rule: i,
                takers,
                sample: sweep.decided[i].sample().expect("checked non-empty"),
            });
        }
    }
    out
}

/// If every packet rule `i` decides would get the same verdict (action and
/// log) without it, the rules that would decide them (`None` = default).
fn same_verdict_without(ir: &Ir, sweep: &Sweep, i: usize) -> Option<Vec<Option<usize>>> {
    let rule = &ir.rules[i];
    let mut left = sweep.decided[i].clone();
    let mut takers = Vec::new();
    for (j, later) in ir.rules.iter().enumerate().skip(i + 1) {
        if left.is_empty() {
            break;
        }
        if !left.overlaps(&sweep.matched[j]) {
            continue;
        }
        if later.action != rule.action || later.log != rule.log {
            return None;
        }
        takers.push(Some(j));
        left = left.difference(&sweep.matched[j]);
    }
    if !left.is_empty() {
        if ir.default_action != rule.action || ir.default_log != rule.log {
            return None;
        }
        takers.push(None);
    }
    Some(takers)
}

/// Where the packets of `rule` would go if it were removed: used by tests.
pub fn verdict_without(ir: &Ir, skip: usize, packet: &Packet) -> (Action, bool) {
    ir.rules
        .iter()
        .enumerate()
        .find(|&(j, r)| j != skip && r.matches(packet))
        .map_or((ir.default_action, ir.default_log), |(_, r)| {
            (r.action, r.log)
        })
}
