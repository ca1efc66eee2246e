//! Exact first-match analysis of the rule list: shadowed, redundant and
//! conflicting rules.
//!
//! Rule `i` decides `decided[i] = box(i) − ⋃_{j<i} box(j)`: the packets it
//! matches that no earlier rule matches (a first-match sweep of the
//! *remaining* space computes the same sets; subtracting only the earlier
//! boxes that can meet `box(i)` keeps the fragmentation local to each rule).
//! The `decided` spaces and the default's space partition the universe, so:
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
//!   `i` is shadowed altogether (reported as such), or `i` is a
//!   **catch-all** (it matches every packet): the allows before a
//!   deny-everything rule are what it is written to carve out, so each of
//!   them "conflicting" with it says nothing;
//! - a final catch-all with the default's verdict (action and log)
//!   **restates the default**: removing it changes no verdict, whether or
//!   not earlier rules leave it anything to decide. It is one finding, and
//!   its decided space (the complement of every earlier rule, the one space
//!   that fragments with all of them) is computed only if someone asks.

use std::sync::OnceLock;

use crate::ir::{Action, Ir, Packet, RuleOrigin};

use super::index::BoxIndex;
use super::space::Space;

/// The result of the first-match sweep.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// Every packet rule `i` matches.
    pub matched: Vec<Space>,
    /// The packets rule `i` decides (matches, and no earlier rule matches),
    /// except for [`Sweep::restating_default`], whose entry is empty and
    /// whose set is [`Sweep::decided`]'s to compute on demand.
    decided: Vec<Space>,
    /// Per rule, the other rules that share packets with it (ascending).
    neighbours: Vec<Vec<u32>>,
    /// The final rule, when it matches every packet with the default's
    /// verdict, and its decided space once computed.
    restating_default: Option<(usize, OnceLock<Space>)>,
}

impl Sweep {
    /// `decided[i] = matched[i] − ⋃ matched[j]` over the earlier `j` that
    /// share packets with rule `i`: the same set as sweeping a global
    /// remaining space, but each rule only fragments its own box, by the
    /// rules that overlap it.
    pub fn run(ir: &Ir) -> Self {
        let matched: Vec<Space> = ir.rules.iter().map(Space::of_rule).collect();
        let neighbours = neighbours(&matched);
        let restating = restating_default(ir, &matched);
        let decided = decide(&matched, &neighbours, restating);
        Self {
            matched,
            decided,
            neighbours,
            restating_default: restating.map(|i| (i, OnceLock::new())),
        }
    }

    /// The packets rule `i` decides: it matches them and no earlier rule does.
    pub fn decided(&self, i: usize) -> &Space {
        match &self.restating_default {
            Some((r, cell)) if *r == i => cell.get_or_init(|| {
                let earlier = self.neighbours(i).take_while(|&j| j < i);
                self.matched[i]
                    .clone()
                    .minus_each(earlier.map(|j| &self.matched[j]))
            }),
            _ => &self.decided[i],
        }
    }

    /// The final rule, if it matches every packet and gives the default's
    /// verdict (it restates the default).
    pub(crate) fn restating_default(&self) -> Option<usize> {
        self.restating_default.as_ref().map(|&(i, _)| i)
    }

    /// The rules (ascending, without `i`) that share packets with rule `i`.
    pub(crate) fn neighbours(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.neighbours[i].iter().map(|&j| j as usize)
    }

    /// The packets the default rule decides (no rule matches them).
    /// Computed on demand: it is the one space that fragments with every rule.
    pub fn default_space(&self) -> Space {
        self.matched
            .iter()
            .fold(Space::universe(), |rest, m| rest.difference(m))
    }

    /// The other rules that decide some packet matched by rule `i` (in rule
    /// order): only earlier rules can, since `i` decides what they leave.
    pub(crate) fn deciders_of(&self, i: usize) -> Vec<usize> {
        self.neighbours(i)
            .take_while(|&j| j < i)
            .filter(|&j| self.decided(j).overlaps(&self.matched[i]))
            .collect()
    }
}

/// Whether rule `i` matches every packet.
fn is_catch_all(matched: &Space) -> bool {
    Space::universe().is_subset(matched)
}

/// The last rule, if it is a catch-all with the default's action and log.
fn restating_default(ir: &Ir, matched: &[Space]) -> Option<usize> {
    let last = ir.rules.len().checked_sub(1)?;
    let rule = &ir.rules[last];
    (rule.action == ir.default_action && rule.log == ir.default_log && is_catch_all(&matched[last]))
        .then_some(last)
}

/// `decided[i]`: rule `i`'s box minus the earlier boxes it meets (left
/// empty for the rule that restates the default: see [`Sweep::decided`]).
fn decide(matched: &[Space], neighbours: &[Vec<u32>], lazy: Option<usize>) -> Vec<Space> {
    matched
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if Some(i) == lazy {
                return Space::empty();
            }
            let earlier = neighbours[i]
                .iter()
                .map(|&j| j as usize)
                .take_while(|&j| j < i);
            m.clone().minus_each(earlier.map(|j| &matched[j]))
        })
        .collect()
}

/// For each rule, the other rules (ascending) that share packets with it:
/// exactly those, found through a [`BoxIndex`] rather than by comparing
/// every pair.
fn neighbours(matched: &[Space]) -> Vec<Vec<u32>> {
    let mut index = BoxIndex::new(matched);
    let mut near = Vec::new();
    (0..matched.len())
        .map(|i| {
            index.candidates_of_indexed(i, &mut near);
            near.iter()
                .copied()
                .filter(|&j| matched[i].overlaps(&matched[j as usize]))
                .collect()
        })
        .collect()
}

/// A finding about one rule of [`Ir::rules`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleFinding {
    /// Rule `rule` matches packets but decides none: `by` decide them all.
    Shadowed {
        rule: usize,
        by: Vec<usize>,
        /// The first earlier rule that matches everything this one matches,
        /// if one does (else only the union of `by` covers it).
        covered_by: Option<usize>,
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
    /// The final rule `rule` matches every packet with the default's
    /// verdict: removing it changes no verdict.
    RestatesDefault { rule: usize },
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
        if sweep.restating_default() == Some(i) {
            out.push(RuleFinding::RestatesDefault { rule: i });
            continue;
        }
        if sweep.decided(i).is_empty() {
            let by = sweep.deciders_of(i);
            let covered_by = sweep
                .neighbours(i)
                .take_while(|&j| j < i)
                .find(|&j| matched.is_subset(&sweep.matched[j]));
            let sample = matched.sample().expect("non-empty space has a sample");
            out.push(RuleFinding::Shadowed {
                rule: i,
                by: by.into_iter().filter(|&j| j < i).collect(),
                covered_by,
                sample,
            });
            continue;
        }
        if matches!(rule.action, Action::Deny | Action::Reject) && !is_catch_all(matched) {
            for j in sweep.neighbours(i).take_while(|&j| j < i) {
                let earlier = &ir.rules[j];
                let own_exception = matches!(&earlier.origin,
                    RuleOrigin::Exception { parent } if *parent == rule.name);
                if earlier.action != Action::Allow || own_exception {
                    continue;
                }
                let hidden = sweep.decided(j).intersection(matched);
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
                sample: sweep.decided(i).sample().expect("checked non-empty"),
            });
        }
    }
    out
}

/// If every packet rule `i` decides would get the same verdict (action and
/// log) without it, the rules that would decide them (`None` = default).
fn same_verdict_without(ir: &Ir, sweep: &Sweep, i: usize) -> Option<Vec<Option<usize>>> {
    let rule = &ir.rules[i];
    let mut left = sweep.decided(i).clone();
    let mut takers = Vec::new();
    for j in sweep.neighbours(i).skip_while(|&j| j < i) {
        let later = &ir.rules[j];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addrset::{AddrSet, IntervalSet};
    use crate::diagnostics::Span;
    use crate::ir::{Endpoint, Rule, Service, ServiceSet};

    /// A larger policy than the property tests draw, with IPv4 and IPv6,
    /// `any` endpoints and overlapping networks: the neighbour index and the
    /// delayed merging must give exactly the sets of a plain global sweep.
    #[test]
    fn indexed_sweep_equals_the_plain_remaining_space_sweep() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let net = |k: u64, len: u64| {
            if k.is_multiple_of(5) {
                AddrSet::from_net(
                    format!("fd00:{:x}::/{}", k % 40, 48 + len % 17)
                        .parse()
                        .unwrap(),
                )
            } else {
                AddrSet::from_net(
                    format!("10.{}.0.0/{}", k % 40, 16 + len % 9)
                        .parse()
                        .unwrap(),
                )
            }
        };
        let pick = |next: &mut dyn FnMut(u64) -> u64| match next(12) {
            0 => AddrSet::any(),
            _ => net(next(200), next(100)).union(&net(next(200), next(100))),
        };
        let rules: Vec<Rule> = (0..300)
            .map(|i| {
                let src = pick(&mut next);
                let dst = pick(&mut next);
                let set = match next(6) {
                    0 => ServiceSet::any(),
                    _ => ServiceSet {
                        tcp: IntervalSet::range(next(5) as u16 * 100, 250 + next(5) as u16 * 100),
                        icmp6: IntervalSet::single(128),
                        ..ServiceSet::default()
                    },
                };
                let action = if next(3) == 0 {
                    Action::Deny
                } else {
                    Action::Allow
                };
                Rule {
                    name: format!("r{i}"),
                    origin: crate::ir::RuleOrigin::Rule,
                    action,
                    absolute: false,
                    src: Endpoint {
                        refs: Vec::new(),
                        addrs: src,
                    },
                    dst: Endpoint {
                        refs: Vec::new(),
                        addrs: dst,
                    },
                    service: Service {
                        refs: Vec::new(),
                        set,
                    },
                    log: next(2) == 0,
                    description: None,
                    owner: None,
                    ticket: None,
                    expires: None,
                    span: Span::default(),
                }
            })
            .collect();
        let ir = Ir {
            targets: Vec::new(),
            name: "t".into(),
            description: None,
            zones: Vec::new(),
            objects: Default::default(),
            services: Default::default(),
            rules,
            default_action: Action::Deny,
            default_log: true,
        };
        let sweep = Sweep::run(&ir);
        let mut remaining = Space::universe();
        let mut shadowed = 0;
        for (i, rule) in ir.rules.iter().enumerate() {
            let (d, rest) = remaining.split(&Space::of_rule(rule));
            remaining = rest;
            assert!(d.same_as(sweep.decided(i)), "rule {i}");
            shadowed += usize::from(d.is_empty());
        }
        assert!(remaining.same_as(&sweep.default_space()));
        assert!(
            shadowed > 10,
            "the test policy exercises shadowing ({shadowed})"
        );
        assert!(shadowed < 250, "and not only shadowing ({shadowed})");
    }
}
