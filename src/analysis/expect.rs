//! Expectations checked exactly: which traffic breaks a promise, and which
//! rule decides it.
//!
//! An expectation is a promise about the set of packets the rules allow
//! (`A`, the union of the allow rules' decided spaces of the first-match
//! sweep):
//!
//! - `never S`: `A ∩ S` must be empty;
//! - `always S`: `S − A` must be empty;
//! - `only` from `F`, permitting `P` (destinations × services):
//!   `A ∩ (F × any × any) − P` must be empty.
//!
//! Written as a [`Promise`], each is a *scope* and a *permitted* space:
//! a forbidding promise (`never`, `only`) is broken by allowed traffic in
//! `scope − permitted`, a requiring one (`always`) by traffic in `scope`
//! that is not allowed. The sweep's decided spaces and the default's
//! partition the universe, so the broken traffic, split by the rule (or
//! the default) that decides it, is exact: no sampling, nothing missed.
//! Only the rules whose boxes meet the scope are visited (through a
//! [`BoxIndex`]), so a thousand promises over ten thousand rules stay
//! cheap.
//!
//! The check speaks of allowed traffic only, so it applies unchanged to
//! anything that decides packets: a device or a rendered file is checked by
//! `diff::expect_check` with the same promises.

use std::fmt::Write;

use jiff::civil::Date;

use crate::addrset::AddrSet;
use crate::diagnostics::{Diagnostic, Span};
use crate::ir::{Family, Ir, ServiceSet};
use crate::model::{Endpoint, ExpectKind, Expectation, Policy, RuleService};

use super::RuleNames;
use super::index::BoxIndex;
use super::space::{AddrIntervals, Cube, Space, SvcSet, addr_universe, svc, svc_universe};
use super::sweep::Sweep;

/// The codes of this module, in the registry ([`super::CODES`]).
pub(crate) const VIOLATED: &str = "expectation-violated";
pub(crate) const EXPIRED: &str = "expectation-expired";

/// An expectation as two spaces (see the module documentation).
#[derive(Clone, Debug)]
pub struct Promise {
    pub name: String,
    pub kind: ExpectKind,
    pub scope: Space,
    pub permitted: Space,
    /// The expectation's name, for labels.
    pub span: Span,
}

impl Promise {
    /// The promise an expectation makes.
    pub fn of(e: &Expectation) -> Self {
        let mut p = Self::from_sets(&e.name, e.kind, &e.src.addrs, &pairs(&e.reach), e.name_span);
        if !e.except.is_empty() {
            // `except` carves the site's named exceptions out of a `never`:
            // permitted, like what an `only` lists.
            p.permitted = Self::from_sets(
                "",
                ExpectKind::Never,
                &e.src.addrs,
                &pairs(&e.except),
                e.name_span,
            )
            .scope;
        }
        p
    }

    /// The promise of kind `kind` from `src` over `reach` (destinations and
    /// services: the space of `never` and `always`, what `only` permits).
    pub fn from_sets(
        name: &str,
        kind: ExpectKind,
        src: &AddrSet,
        reach: &[(&AddrSet, &ServiceSet)],
        span: Span,
    ) -> Self {
        let reached = reach.iter().fold(Space::empty(), |acc, (to, svc)| {
            acc.union(&Space::from_parts(src, to, svc))
        });
        let (scope, permitted) = match kind {
            ExpectKind::Never | ExpectKind::Always => (reached, Space::empty()),
            ExpectKind::Only => (Space::between(src, &AddrSet::any()), reached),
        };
        Self {
            name: name.to_string(),
            kind,
            scope,
            permitted,
            span,
        }
    }

    /// Whether allowed traffic breaks it (`never`, `only`), rather than
    /// traffic that is not allowed (`always`).
    pub(crate) fn forbids(&self) -> bool {
        self.kind != ExpectKind::Always
    }

    /// The traffic whose verdict the promise is about: allowed traffic in
    /// it breaks a forbidding promise, traffic not allowed in it breaks a
    /// requiring one.
    pub(crate) fn watched(&self) -> Space {
        if self.permitted.is_empty() {
            self.scope.clone()
        } else {
            self.scope.difference(&self.permitted)
        }
    }
}

/// The promises of the policy's expectations that are active on `date`,
/// and a warning for each expectation that has expired (it is no longer
/// checked: that must not pass unnoticed).
pub(crate) fn promises(policy: &Policy, date: Date) -> (Vec<Promise>, Vec<Diagnostic>) {
    let mut active = Vec::new();
    let mut expired = Vec::new();
    for e in &policy.expectations {
        match &e.expires {
            Some(until) if until.value < date => expired.push(
                Diagnostic::warning(
                    EXPIRED,
                    format!(
                        "expectation `{}` expired on {}: it is no longer checked",
                        e.name, until.value
                    ),
                )
                .at(until.span, "expired")
                .also(e.name_span, "this expectation")
                .help("renew the date if the promise still holds, or remove the expectation"),
            ),
            _ => active.push(Promise::of(e)),
        }
    }
    (active, expired)
}

fn pairs(list: &[(Endpoint, RuleService)]) -> Vec<(&AddrSet, &ServiceSet)> {
    list.iter().map(|(to, svc)| (&to.addrs, &svc.set)).collect()
}

/// Who decides a piece of traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Decider {
    /// The rule of [`Ir::rules`] at this index.
    Rule(usize),
    /// The default rule.
    Default,
}

/// Traffic that breaks a promise, decided by one rule (or the default).
#[derive(Clone, Debug)]
pub struct Piece {
    pub decider: Decider,
    pub space: Space,
}

/// A broken promise: the traffic that breaks it, by decider (pairwise
/// disjoint, in rule order, the default last).
#[derive(Clone, Debug)]
pub struct Violation {
    /// Index into the promises checked.
    pub promise: usize,
    pub pieces: Vec<Piece>,
}

impl Violation {
    /// All the traffic that breaks the promise.
    pub fn space(&self) -> Space {
        self.pieces
            .iter()
            .fold(Space::empty(), |acc, p| acc.union(&p.space))
    }
}

/// The policy's rules, ready to check promises against: the sweep and an
/// index of the rules' boxes.
pub(crate) struct Checker<'a> {
    ir: &'a Ir,
    sweep: &'a Sweep,
    index: BoxIndex,
    near: Vec<u32>,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(ir: &'a Ir, sweep: &'a Sweep) -> Self {
        Self {
            ir,
            sweep,
            index: BoxIndex::new(&sweep.matched),
            near: Vec::new(),
        }
    }

    /// The traffic of `space` the policy allows, by deciding rule.
    pub(crate) fn allowed_within(&mut self, space: &Space) -> Vec<Piece> {
        self.pieces(space, true)
    }

    /// The traffic of `space` the policy does not allow, by deciding rule
    /// (the default last).
    pub(crate) fn refused_within(&mut self, space: &Space) -> Vec<Piece> {
        self.pieces(space, false)
    }

    fn pieces(&mut self, space: &Space, allowed: bool) -> Vec<Piece> {
        let mut out = Vec::new();
        if space.is_empty() {
            return out;
        }
        self.index.candidates_of(space, &mut self.near);
        let mut near: Vec<usize> = self.near.iter().map(|&j| j as usize).collect();
        near.sort_unstable();
        for &i in &near {
            if self.ir.rules[i].action.permits() != allowed {
                continue;
            }
            let piece = self.sweep.decided(i).intersection(space);
            if !piece.is_empty() {
                out.push(Piece {
                    decider: Decider::Rule(i),
                    space: piece,
                });
            }
        }
        if self.ir.default_action.permits() == allowed {
            let rest = space
                .clone()
                .minus_each(near.iter().map(|&i| &self.sweep.matched[i]));
            if !rest.is_empty() {
                out.push(Piece {
                    decider: Decider::Default,
                    space: rest,
                });
            }
        }
        out
    }

    /// Whether the policy keeps `promise`; if not, the traffic that breaks it.
    pub(crate) fn check(&mut self, k: usize, promise: &Promise) -> Option<Violation> {
        let watched = promise.watched();
        let pieces = if promise.forbids() {
            self.allowed_within(&watched)
        } else {
            self.refused_within(&watched)
        };
        (!pieces.is_empty()).then_some(Violation { promise: k, pieces })
    }
}

/// Checks every promise against the policy.
pub fn check_all(ir: &Ir, sweep: &Sweep, promises: &[Promise]) -> Vec<Violation> {
    let mut checker = Checker::new(ir, sweep);
    promises
        .iter()
        .enumerate()
        .filter_map(|(k, p)| checker.check(k, p))
        .collect()
}

/// The expectation diagnostics of a policy on `date`: an error for each
/// broken promise, a warning for each expired expectation.
pub fn diagnostics(policy: &Policy, ir: &Ir, date: Date) -> Vec<Diagnostic> {
    let (promises, mut out) = promises(policy, date);
    if promises.is_empty() {
        return out;
    }
    let sweep = Sweep::run(ir);
    let names = RuleNames::new(policy);
    for v in check_all(ir, &sweep, &promises) {
        out.push(violation_diagnostic(ir, &names, &promises[v.promise], &v));
    }
    out
}

fn violation_diagnostic(ir: &Ir, names: &RuleNames, p: &Promise, v: &Violation) -> Diagnostic {
    let verb = if p.forbids() { "allow" } else { "refuse" };
    let deciders: Vec<String> = v
        .pieces
        .iter()
        .map(|piece| format!("`{}`", decider_name(ir, piece.decider)))
        .collect();
    let by = match deciders.as_slice() {
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
        [] => unreachable!("a violation has traffic"),
    };
    let what = match p.kind {
        ExpectKind::Never => "traffic it promises is never allowed",
        ExpectKind::Always => "traffic it promises is always allowed",
        ExpectKind::Only => "traffic outside what it permits",
    };
    let mut d = Diagnostic::error(
        VIOLATED,
        format!(
            "expectation `{}` ({}) is broken: {by} {} {what}",
            p.name,
            p.kind.as_str(),
            if deciders.len() == 1 {
                format!("{verb}s")
            } else {
                verb.to_string()
            },
        ),
    )
    .at(p.span, "broken");
    for piece in &v.pieces {
        if let Decider::Rule(i) = piece.decider {
            d = d.also(
                names.span(&ir.rules[i]),
                if p.forbids() {
                    "allows it"
                } else {
                    "refuses it"
                },
            );
        }
    }
    d.help(violation_help(ir, v))
}

/// The smallest box holding the broken traffic, and one packet of it with
/// the rule that decides it.
pub(crate) fn violation_help(ir: &Ir, v: &Violation) -> String {
    let space = v.space();
    let mut help = format!("the broken traffic {}", hull_text(&space));
    let first = &v.pieces[0];
    if let Some(packet) = first.space.sample() {
        let _ = write!(
            help,
            "; e.g. {packet} is {}",
            super::decided_by(ir, &packet)
        );
    }
    help
}

pub(crate) fn decider_name(ir: &Ir, d: Decider) -> &str {
    match d {
        Decider::Rule(i) => &ir.rules[i].name,
        Decider::Default => "default",
    }
}

/// Per family, the smallest box holding every packet of `space`.
pub(crate) fn hull(space: &Space) -> Vec<Cube> {
    let mut boxes: Vec<Cube> = Vec::new();
    let span = |r: &[(u128, u128)]| AddrIntervals::range(r[0].0, r[r.len() - 1].1);
    for c in space.cubes() {
        let svc_span = |s: &SvcSet| {
            let r = s.ranges();
            SvcSet::range(r[0].0, r[r.len() - 1].1)
        };
        let (src, dst, s) = (span(c.src.ranges()), span(c.dst.ranges()), svc_span(&c.svc));
        match boxes.iter_mut().find(|b| b.family == c.family) {
            Some(b) => {
                b.src = span(b.src.union(&src).ranges());
                b.dst = span(b.dst.union(&dst).ranges());
                b.svc = svc_span(&b.svc.union(&s));
            }
            None => boxes.push(Cube {
                family: c.family,
                src,
                dst,
                svc: s,
            }),
        }
    }
    boxes
}

/// `lies in 10.1.0.0/16 → any, tcp/443` (or `is exactly ...` when the
/// box holds nothing else), per family.
pub(crate) fn hull_text(space: &Space) -> String {
    let boxes = hull(space);
    let exact = boxes
        .iter()
        .fold(Space::empty(), |acc, b| {
            acc.union(&Space::from_cube(b.clone()))
        })
        .same_as(space);
    let texts: Vec<String> = boxes.iter().map(cube_text).collect();
    format!(
        "{} {}",
        if exact { "is exactly" } else { "lies within" },
        texts.join(" and ")
    )
}

/// `10.1.0.0/16 → 10.2.0.5, tcp/443-445`.
pub(crate) fn cube_text(c: &Cube) -> String {
    format!(
        "{} → {}, {}",
        addr_text(c.family, &c.src),
        addr_text(c.family, &c.dst),
        svc_text(c.family, &c.svc)
    )
}

fn addr_text(family: Family, set: &AddrIntervals) -> String {
    if *set == addr_universe(family) {
        return match family {
            Family::V4 => "any IPv4".into(),
            Family::V6 => "any IPv6".into(),
        };
    }
    let as_set = |lo: u128, hi: u128| match family {
        // The v4 universe is 0..=u32::MAX: the casts are exact.
        Family::V4 => AddrSet {
            v4: crate::addrset::IntervalSet::range(lo as u32, hi as u32),
            ..AddrSet::empty()
        },
        Family::V6 => AddrSet {
            v6: AddrIntervals::range(lo, hi),
            ..AddrSet::empty()
        },
    };
    let parts: Vec<String> = set
        .ranges()
        .iter()
        .map(|&(lo, hi)| {
            let s = as_set(lo, hi);
            let cidrs = s.to_cidrs();
            match cidrs.as_slice() {
                [one] if one.prefix_len() == one.max_prefix_len() => one.addr().to_string(),
                [one] => one.to_string(),
                _ => {
                    let ip = |v: u128| match family {
                        Family::V4 => std::net::IpAddr::V4((v as u32).into()),
                        Family::V6 => std::net::IpAddr::V6(v.into()),
                    };
                    format!("{}-{}", ip(lo), ip(hi))
                }
            }
        })
        .collect();
    parts.join(", ")
}

/// The services of a set of folded coordinates: `any`, `tcp`, `tcp/443`,
/// `udp/53-54`, `icmp/8`, `proto/47`.
pub(crate) fn svc_text(family: Family, set: &SvcSet) -> String {
    if *set == svc_universe() {
        return "any service".into();
    }
    let icmp = match family {
        Family::V4 => "icmp",
        Family::V6 => "icmpv6",
    };
    let mut parts = Vec::new();
    for (name, base, top) in [
        ("tcp", svc::TCP, svc::UDP - 1),
        ("udp", svc::UDP, svc::ICMP - 1),
        (icmp, svc::ICMP, svc::OTHER - 1),
        ("proto", svc::OTHER, svc::MAX),
    ] {
        let part = set.intersection(&SvcSet::range(base, top));
        if part.is_empty() {
            continue;
        }
        if part == SvcSet::range(base, top) && name != "proto" {
            parts.push(name.to_string());
            continue;
        }
        for &(lo, hi) in part.ranges() {
            let (a, b) = (lo - base, hi - base);
            parts.push(if a == b {
                format!("{name}/{a}")
            } else {
                format!("{name}/{a}-{b}")
            });
        }
    }
    parts.join(", ")
}
