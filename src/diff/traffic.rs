//! The traffic diff: which packets get a different verdict after a policy
//! change, computed exactly over (family × source × destination × service).
//!
//! The verdict of a packet is the deciding rule's action (allow / deny /
//! reject; deny and reject differ: one drops, the other answers). A change
//! of the log flag alone is not a traffic change; it is reported separately
//! as a logging change, because the configs differ and an auditor may care.
//!
//! # Algorithm
//!
//! 1. Rules of the two IRs are paired by name when their verdict and match
//!    box are identical (same action, log flag, source, destination and
//!    service sets); the longest subsequence of pairs in the same relative
//!    order is kept. Every other rule (added, removed, edited, moved) is
//!    *touched*.
//! 2. A packet that no touched rule matches gets the same verdict before
//!    and after: the rules matching it are kept pairs with identical boxes,
//!    in the same order on both sides, so the first match corresponds (or
//!    both sides fall to the default rule). The changed traffic therefore
//!    lies inside the union of the touched rules' boxes (the whole universe
//!    when the default rule itself changed).
//! 3. That union is cut into disjoint pieces; in each piece, each side's
//!    first-match decisions are computed exactly (every rule whose box meets
//!    the piece, minus the earlier such rules), and the decisions of the two
//!    sides are intersected wherever their verdicts differ. The result is a
//!    set of regions keyed by (new decider, old decider).
//!
//! Nothing is sampled: emptiness and set arithmetic are exact
//! ([`crate::analysis::space`]). The work is proportional to the touched
//! rules and the rules that overlap them, so a small change of a large
//! policy is fast; a pure reordering that keeps every verdict yields no
//! change at all.
//!
//! # Output
//!
//! Each region is split into boxes (one family, one source set, one
//! destination set, one service set), one line each; sets are named by the
//! policy object whose addresses they are exactly (class, advisory, group,
//! zone, or the union of two or three of these), else listed as CIDRs. Changes that an
//! advisory block or an absolute rule decided (before or after), newly
//! allowed traffic from or to a clinical device class or an advisory's
//! networks, and newly denied traffic from or to a clinical device class
//! carry highlights, each with a [`Risk`] code and [`Severity`]; changes
//! are listed worst first. [`TrafficDiff::matrix`] sums the changes up per
//! pair of zones.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::civil::Date;
use serde::Serialize;

use crate::addrset::AddrSet;
use crate::analysis::index::BoxIndex;
use crate::analysis::space::{AddrIntervals, Cube, Space, SvcSet, addr_part, svc, svc_universe};
use crate::ir::{Action, Family, Ir, ObjectKind, Rule, RuleOrigin};
use crate::model::Policy;

/// The rule deciding a packet: an index into [`Ir::rules`], `None` for the
/// default rule.
pub(crate) type Decider = Option<usize>;

/// Packets decided by `old` before and by `new` after, with a different
/// verdict (action or log flag).
#[derive(Clone, Debug)]
pub struct Region {
    pub old: Decider,
    pub new: Decider,
    pub space: Space,
}

/// What the diff needs to know beyond the two IRs.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Clinical device classes (name, addresses), of either policy.
    pub clinical: Vec<(String, AddrSet)>,
    /// Classes an advisory names in `affected-by`: (class, advisory,
    /// addresses), of either policy.
    pub advisory_classes: Vec<(String, String, AddrSet)>,
    /// Residual zones (the internet), of either policy.
    pub internet: Vec<(String, AddrSet)>,
    /// Vendor remote-access zones (`vendor #true`), of either policy.
    pub vendor: Vec<(String, AddrSet)>,
    /// The evaluation date: an old rule that is gone from the new IR and
    /// whose `expires` lies before it stopped matching because it expired.
    pub date: Option<Date>,
}

impl Context {
    /// The clinical classes of both policies (the new one's addresses win
    /// when a class is in both).
    pub fn from_policies(old: Option<&Policy>, new: Option<&Policy>) -> Self {
        let mut by_name: BTreeMap<String, AddrSet> = BTreeMap::new();
        for policy in [old, new].into_iter().flatten() {
            for o in policy.objects.values() {
                if o.kind == ObjectKind::Class && o.clinical {
                    by_name.insert(o.name.clone(), o.addrs.clone());
                }
            }
        }
        let mut affected: BTreeMap<(String, String), AddrSet> = BTreeMap::new();
        let mut internet: BTreeMap<String, AddrSet> = BTreeMap::new();
        let mut vendor: BTreeMap<String, AddrSet> = BTreeMap::new();
        for policy in [old, new].into_iter().flatten() {
            for a in policy.objects.values() {
                if a.kind != ObjectKind::Advisory {
                    continue;
                }
                for class in &a.concerns {
                    if let Some(c) = policy.objects.get(class) {
                        affected.insert((class.clone(), a.name.clone()), c.addrs.clone());
                    }
                }
            }
            for z in &policy.zones {
                if z.residual {
                    internet.insert(z.name.clone(), z.addrs.clone());
                }
                if z.vendor {
                    vendor.insert(z.name.clone(), z.addrs.clone());
                }
            }
        }
        Self {
            clinical: by_name.into_iter().collect(),
            advisory_classes: affected
                .into_iter()
                .map(|((c, a), addrs)| (c, a, addrs))
                .collect(),
            internet: internet.into_iter().collect(),
            vendor: vendor.into_iter().collect(),
            date: None,
        }
    }

    /// The same context, evaluated on `date` (see [`Context::date`]).
    pub fn on(mut self, date: Date) -> Self {
        self.date = Some(date);
        self
    }
}

/// Every packet whose verdict (action or log flag) differs between `old`
/// and `new`, grouped by (old decider, new decider). Regions are pairwise
/// disjoint; ordered by new decider, then old decider (the default last).
pub fn changed_regions(old: &Ir, new: &Ir) -> Vec<Region> {
    let mut old_side = Side::new(old);
    let mut new_side = Side::new(new);
    let touched = touched_spaces(&old_side, &new_side);
    // Cut the touched boxes into disjoint pieces.
    let mut pieces: Vec<(Space, Hull)> = Vec::new();
    for t in touched {
        let hull = Hull::of(&t);
        let mut p = t;
        let mut merged_len = p.cubes().len().max(1);
        for (q, qh) in &pieces {
            if p.is_empty() {
                break;
            }
            if hull.meets(qh) {
                p = p.difference_raw(q);
                if p.cubes().len() > 2 * merged_len {
                    p = p.compact();
                    merged_len = p.cubes().len().max(1);
                }
            }
        }
        let p = p.compact();
        if !p.is_empty() {
            let hull = Hull::of(&p);
            pieces.push((p, hull));
        }
    }
    let key = |d: Decider| d.unwrap_or(usize::MAX);
    let mut acc: BTreeMap<(usize, usize), Space> = BTreeMap::new();
    for (piece, hull) in &pieces {
        let od = old_side.decisions(piece, hull);
        let nd = new_side.decisions(piece, hull);
        for (n, ns, nh) in &nd {
            for (o, os, oh) in &od {
                if old_side.verdict(*o) == new_side.verdict(*n) || !nh.meets(oh) {
                    continue;
                }
                let x = ns.intersection(os);
                if x.is_empty() {
                    continue;
                }
                acc.entry((key(*n), key(*o)))
                    .and_modify(|s| *s = s.union(&x))
                    .or_insert(x);
            }
        }
    }
    let un = |k: usize| (k != usize::MAX).then_some(k);
    acc.into_iter()
        .map(|((n, o), space)| Region {
            old: un(o),
            new: un(n),
            space,
        })
        .collect()
}

/// One IR with its rules' boxes, their bounding hulls and an index over
/// them.
struct Side<'a> {
    ir: &'a Ir,
    matched: Vec<Space>,
    hulls: Vec<Hull>,
    index: BoxIndex,
}

impl<'a> Side<'a> {
    fn new(ir: &'a Ir) -> Self {
        let matched: Vec<Space> = ir.rules.iter().map(Space::of_rule).collect();
        let hulls = matched.iter().map(Hull::of).collect();
        let index = BoxIndex::new(&matched);
        Self {
            ir,
            matched,
            hulls,
            index,
        }
    }

    fn verdict(&self, d: Decider) -> (Action, bool) {
        match d {
            Some(i) => (self.ir.rules[i].action, self.ir.rules[i].log),
            None => (self.ir.default_action, self.ir.default_log),
        }
    }

    /// First-match decisions inside `piece`: the deciders and their
    /// (disjoint, non-empty) parts of it, which together are all of it.
    fn decisions(&mut self, piece: &Space, hull: &Hull) -> Vec<(Decider, Space, Hull)> {
        // The index narrows the rules to test from all of them to those
        // sharing sources and destinations with the piece (ascending).
        let mut near = Vec::new();
        self.index.candidates_of(piece, &mut near);
        let cand: Vec<usize> = near
            .into_iter()
            .map(|i| i as usize)
            .filter(|&i| self.hulls[i].meets(hull) && self.matched[i].overlaps(piece))
            .collect();
        let mut out = Vec::new();
        for (k, &i) in cand.iter().enumerate() {
            let d = self.matched[i].intersection(piece);
            let hd = Hull::of(&d);
            let d = self.minus(d, &cand[..k], Some(&hd));
            if !d.is_empty() {
                let h = Hull::of(&d);
                out.push((Some(i), d, h));
            }
        }
        let rest = self.minus(piece.clone(), &cand, None);
        if !rest.is_empty() {
            let h = Hull::of(&rest);
            out.push((None, rest, h));
        }
        out
    }

    /// `space` minus the boxes of `rules`, skipping those whose hull misses
    /// `within` (when given); merged only when fragments pile up.
    fn minus(&self, mut space: Space, rules: &[usize], within: Option<&Hull>) -> Space {
        let mut merged_len = space.cubes().len().max(1);
        for &j in rules {
            if space.is_empty() {
                break;
            }
            if within.is_some_and(|h| !h.meets(&self.hulls[j])) {
                continue;
            }
            space = space.difference_raw(&self.matched[j]);
            if space.cubes().len() > 2 * merged_len {
                space = space.compact();
                merged_len = space.cubes().len().max(1);
            }
        }
        space.compact()
    }
}

/// What makes two rules interchangeable for first-match: verdict and box.
type RuleKey<'a> = (
    Action,
    bool,
    &'a AddrSet,
    &'a AddrSet,
    &'a crate::ir::ServiceSet,
);

fn rule_key(r: &Rule) -> RuleKey<'_> {
    (r.action, r.log, &r.src.addrs, &r.dst.addrs, &r.service.set)
}

/// The boxes of every touched rule (see the module docs), or the universe
/// when the default rule changed.
fn touched_spaces(old: &Side, new: &Side) -> Vec<Space> {
    let (o, n) = (old.ir, new.ir);
    if (o.default_action, o.default_log) != (n.default_action, n.default_log) {
        return vec![Space::universe()];
    }
    let by_name: BTreeMap<&str, usize> = n
        .rules
        .iter()
        .enumerate()
        .map(|(j, r)| (r.name.as_str(), j))
        .collect();
    // Same-name, same-key pairs in old order.
    let pairs: Vec<(usize, usize)> = o
        .rules
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let &j = by_name.get(r.name.as_str())?;
            (rule_key(&n.rules[j]) == rule_key(r)).then_some((i, j))
        })
        .collect();
    let kept = longest_increasing(&pairs.iter().map(|&(_, j)| j).collect::<Vec<_>>());
    let mut old_kept = vec![false; o.rules.len()];
    let mut new_kept = vec![false; n.rules.len()];
    for k in kept {
        let (i, j) = pairs[k];
        old_kept[i] = true;
        new_kept[j] = true;
    }
    let mut out = Vec::new();
    for (side, kept) in [(old, &old_kept), (new, &new_kept)] {
        for (m, &k) in side.matched.iter().zip(kept) {
            if !k && !m.is_empty() {
                out.push(m.clone());
            }
        }
    }
    out
}

/// Indices of a longest strictly increasing subsequence of `seq`
/// (patience sorting, O(n log n)); ties resolved deterministically.
fn longest_increasing(seq: &[usize]) -> Vec<usize> {
    // tails[l] = index in seq of the smallest tail of an increasing run of length l+1.
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; seq.len()];
    for (k, &v) in seq.iter().enumerate() {
        let pos = tails.partition_point(|&t| seq[t] < v);
        prev[k] = pos.checked_sub(1).map(|p| tails[p]);
        if pos == tails.len() {
            tails.push(k);
        } else {
            tails[pos] = k;
        }
    }
    let mut out = Vec::with_capacity(tails.len());
    let mut cur = tails.last().copied();
    while let Some(k) = cur {
        out.push(k);
        cur = prev[k];
    }
    out.reverse();
    out
}

/// Per family, the smallest box holding a space.
#[derive(Clone, Debug, Default)]
struct Hull([Option<[(u128, u128); 3]>; 2]);

impl Hull {
    fn of(space: &Space) -> Self {
        let mut h = Hull::default();
        for c in space.cubes() {
            let span = |r: &[(u128, u128)]| (r[0].0, r[r.len() - 1].1);
            let s = c.svc.ranges();
            let b = [
                span(c.src.ranges()),
                span(c.dst.ranges()),
                (u128::from(s[0].0), u128::from(s[s.len() - 1].1)),
            ];
            let slot = &mut h.0[usize::from(c.family == Family::V6)];
            *slot = Some(match slot.take() {
                None => b,
                Some(a) => std::array::from_fn(|k| (a[k].0.min(b[k].0), a[k].1.max(b[k].1))),
            });
        }
        h
    }

    fn meets(&self, o: &Self) -> bool {
        self.0.iter().zip(&o.0).any(|(a, b)| match (a, b) {
            (Some(a), Some(b)) => (0..3).all(|k| a[k].0 <= b[k].1 && b[k].0 <= a[k].1),
            _ => false,
        })
    }
}

// ------------------------------------------------------------------ report

/// The traffic diff, ready to show.
#[derive(Clone, Debug, Serialize)]
pub struct TrafficDiff {
    pub summary: Summary,
    /// Verdict changes: newly allowed first, then newly denied / rejected,
    /// then deny ↔ reject; within each, in new-rule order.
    pub changes: Vec<Change>,
    /// Same action, different log flag.
    pub log_changes: Vec<Change>,
    /// The zone pairs that gain or lose allowed traffic, in zone
    /// declaration order (from, then to); pairs that do not change are
    /// left out.
    pub matrix: Vec<ZonePair>,
}

/// One row of the zone-by-zone reachability matrix.
#[derive(Clone, Debug, Serialize)]
pub struct ZonePair {
    pub from: String,
    pub to: String,
    /// Services newly allowed from `from` to `to` (somewhere in them), as
    /// text; `null` when none.
    pub gained: Option<String>,
    /// Services allowed before and denied or rejected now; `null` when none.
    pub lost: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Lines (boxes) of traffic that is allowed now and was not.
    pub newly_allowed: usize,
    /// Lines of traffic that was allowed and is denied or rejected now.
    pub newly_denied: usize,
    /// Lines of traffic that moved between deny and reject.
    pub deny_reject: usize,
    /// Lines of traffic whose log flag alone changed.
    pub log_only: usize,
    /// Changes (of all kinds) with at least one highlight.
    pub highlighted: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    NewlyAllowed,
    NewlyDenied,
    DenyReject,
    LogOnly,
}

/// One box of changed traffic.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    pub kind: ChangeKind,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    pub src: Addresses,
    pub dst: Addresses,
    /// The services, as text (`tcp/6661-6670, udp/53`, `any`, ...).
    pub service: String,
    pub old: Decision,
    pub new: Decision,
    /// The worst risk of the highlights (`other` without one).
    pub code: Risk,
    pub severity: Severity,
    pub highlights: Vec<Highlight>,
    /// The exact box (for tests and tools).
    #[serde(skip)]
    pub cube: Cube,
}

/// An address set as shown: the object it is exactly, and its CIDRs.
#[derive(Clone, Debug, Serialize)]
pub struct Addresses {
    /// A policy object (or `a + b` for a union of named sets, or `any`)
    /// whose addresses of this family are exactly this set.
    pub name: Option<String>,
    /// Every CIDR of the set.
    pub cidrs: Vec<String>,
}

/// Who decided, and how.
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    pub action: Action,
    pub log: bool,
    /// The deciding rule; `null` for the default rule.
    pub rule: Option<String>,
    /// `rule`, `absolute rule`, `exception`, `advisory block` or `default`.
    pub rule_kind: &'static str,
    /// Old side only: the rule's `expires` date when it is gone from the
    /// new policy because it expired (not because someone removed it).
    pub expired_on: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Highlight {
    pub kind: HighlightKind,
    pub code: Risk,
    pub severity: Severity,
    pub text: String,
}

impl Highlight {
    /// `[critical advisory-class-new-reach] newly allowed ...`.
    pub fn tagged(&self) -> String {
        format!("[{} {}] {}", self.severity, self.code.code(), self.text)
    }

    pub(crate) fn new(kind: HighlightKind, code: Risk, text: String) -> Self {
        Self {
            kind,
            code,
            severity: code.severity(),
            text,
        }
    }
}

/// What a change risks, worst first: the order changes are shown in. Each
/// has a stable code (README "Diff previews" has the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Risk {
    /// Traffic an advisory block decided is allowed now.
    AdvisoryBlockWeakened,
    /// Traffic an absolute rule denied or rejected is allowed now.
    AbsoluteBlockWeakened,
    /// An advisory's networks are newly reachable (to or from).
    AdvisoryNetworkReach,
    /// A device class under an advisory gains new reachability.
    AdvisoryClassNewReach,
    /// Clinical devices newly reach the internet (a residual zone).
    ClinicalInternetEgress,
    /// The internet newly reaches clinical devices.
    ClinicalInternetIngress,
    /// Clinical devices and a vendor zone newly reach each other.
    ClinicalVendorReach,
    /// Clinical flows newly denied or rejected.
    ClinicalFlowDenied,
    /// Clinical devices newly reach (or are reached from) inside the hospital.
    ClinicalNewReach,
    /// An advisory block decides differently without allowing anything
    /// (deny ↔ reject, logging, or it now decides more traffic).
    AdvisoryBlockChanged,
    /// The same for an absolute rule.
    AbsoluteBlockChanged,
    /// Anything else.
    Other,
}

/// How bad a [`Risk`] is, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl Risk {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Risk::AdvisoryBlockWeakened => "advisory-block-weakened",
            Risk::AbsoluteBlockWeakened => "absolute-block-weakened",
            Risk::AdvisoryNetworkReach => "advisory-network-reach",
            Risk::AdvisoryClassNewReach => "advisory-class-new-reach",
            Risk::ClinicalInternetEgress => "clinical-internet-egress",
            Risk::ClinicalInternetIngress => "clinical-internet-ingress",
            Risk::ClinicalVendorReach => "clinical-vendor-reach",
            Risk::ClinicalFlowDenied => "clinical-flow-denied",
            Risk::ClinicalNewReach => "clinical-new-reach",
            Risk::AdvisoryBlockChanged => "advisory-block-changed",
            Risk::AbsoluteBlockChanged => "absolute-block-changed",
            Risk::Other => "other",
        }
    }

    pub(crate) fn severity(self) -> Severity {
        match self {
            Risk::AdvisoryBlockWeakened
            | Risk::AbsoluteBlockWeakened
            | Risk::AdvisoryNetworkReach
            | Risk::AdvisoryClassNewReach => Severity::Critical,
            Risk::ClinicalInternetEgress
            | Risk::ClinicalInternetIngress
            | Risk::ClinicalVendorReach
            | Risk::ClinicalFlowDenied => Severity::High,
            Risk::ClinicalNewReach | Risk::AdvisoryBlockChanged | Risk::AbsoluteBlockChanged => {
                Severity::Medium
            }
            Risk::Other => Severity::Low,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HighlightKind {
    /// An advisory block decided this traffic before or decides it now.
    AdvisoryBlock,
    /// An absolute rule decided this traffic before or decides it now.
    AbsoluteRule,
    /// Newly allowed traffic from or to a clinical device class.
    Clinical,
    /// Newly allowed traffic from or to an advisory's networks.
    AdvisoryNetworks,
    /// Newly denied or rejected traffic from or to a clinical device class
    /// (a device cut off from the systems it reports to).
    ClinicalDenied,
    /// Newly allowed traffic from or to a class under an advisory.
    AdvisoryClass,
}

impl TrafficDiff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.log_changes.is_empty()
    }
}

/// The traffic diff between two IRs.
pub fn traffic_diff(old: &Ir, new: &Ir, ctx: &Context) -> TrafficDiff {
    let names = Namer::new(old, new);
    let advisories = advisories(&[old, new]);
    let new_names: std::collections::BTreeSet<&str> =
        new.rules.iter().map(|r| r.name.as_str()).collect();
    let mut changes = Vec::new();
    let mut log_changes = Vec::new();
    for region in changed_regions(old, new) {
        let mut od = decision(old, region.old);
        if let (Some(i), Some(date)) = (region.old, ctx.date) {
            od.expired_on = expired_on(&old.rules[i], &new_names, date);
        }
        let nd = decision(new, region.new);
        let kind = if od.action == nd.action {
            ChangeKind::LogOnly
        } else if nd.action == Action::Allow {
            ChangeKind::NewlyAllowed
        } else if od.action == Action::Allow {
            ChangeKind::NewlyDenied
        } else {
            ChangeKind::DenyReject
        };
        for cube in region.space.cubes() {
            let fam = cube.family;
            let mut highlights = decider_highlights(old, new, &region, kind);
            highlights.extend(reach_highlights(
                ctx,
                Phrase::Change,
                &advisories,
                kind,
                cube,
            ));
            // Worst first within a change too (stable: ties keep their order).
            highlights.sort_by_key(|h| h.code);
            let (code, severity) = highlights
                .iter()
                .map(|h| (h.code, h.severity))
                .min()
                .unwrap_or((Risk::Other, Severity::Low));
            let change = Change {
                kind,
                family: match fam {
                    Family::V4 => "ipv4",
                    Family::V6 => "ipv6",
                },
                src: names.describe(fam, &cube.src),
                dst: names.describe(fam, &cube.dst),
                service: service_text(fam, &cube.svc),
                old: od.clone(),
                new: nd.clone(),
                code,
                severity,
                highlights,
                cube: cube.clone(),
            };
            if kind == ChangeKind::LogOnly {
                log_changes.push(change);
            } else {
                changes.push(change);
            }
        }
    }
    // Regions come in (new decider, old decider) order; the worst risk
    // first, then by kind (the sort is stable).
    changes.sort_by_key(|c| (c.code, c.kind));
    log_changes.sort_by_key(|c| c.code);
    let count = |k| changes.iter().filter(|c| c.kind == k).count();
    let summary = Summary {
        newly_allowed: count(ChangeKind::NewlyAllowed),
        newly_denied: count(ChangeKind::NewlyDenied),
        deny_reject: count(ChangeKind::DenyReject),
        log_only: log_changes.len(),
        highlighted: changes
            .iter()
            .chain(&log_changes)
            .filter(|c| !c.highlights.is_empty())
            .count(),
    };
    let matrix = zone_matrix(old, new, &changes);
    TrafficDiff {
        summary,
        changes,
        log_changes,
        matrix,
    }
}

/// Every advisory's networks, by name, of any of `irs`.
pub(crate) fn advisories(irs: &[&Ir]) -> Vec<(String, AddrSet)> {
    let mut by: BTreeMap<&str, &AddrSet> = BTreeMap::new();
    for ir in irs {
        for o in ir.objects.values() {
            if o.kind == ObjectKind::Advisory {
                by.insert(&o.name, &o.addrs);
            }
        }
    }
    by.into_iter()
        .map(|(n, a)| (n.to_string(), a.clone()))
        .collect()
}

/// Which zone pairs gain or lose allowed traffic, and on which services:
/// every newly allowed (denied) box adds its services to each pair of
/// zones its sources and destinations meet. Zones of the new policy first,
/// then those only the old one had.
fn zone_matrix(old: &Ir, new: &Ir, changes: &[Change]) -> Vec<ZonePair> {
    let mut zones: Vec<(&str, &AddrSet)> = Vec::new();
    for z in new.zones.iter().chain(&old.zones) {
        if !zones.iter().any(|(n, _)| *n == z.name) {
            zones.push((&z.name, &z.addrs));
        }
    }
    // (from, to) → [gained, lost] per family (v4, v6).
    let mut acc: BTreeMap<(usize, usize), [[SvcSet; 2]; 2]> = BTreeMap::new();
    for c in changes {
        let side = match c.kind {
            ChangeKind::NewlyAllowed => 0,
            ChangeKind::NewlyDenied => 1,
            ChangeKind::DenyReject | ChangeKind::LogOnly => continue,
        };
        let fam = c.cube.family;
        let meets = |part: &AddrIntervals| -> Vec<usize> {
            (0..zones.len())
                .filter(|&i| addr_part(zones[i].1, fam).overlaps(part))
                .collect()
        };
        let (froms, tos) = (meets(&c.cube.src), meets(&c.cube.dst));
        for &f in &froms {
            for &t in &tos {
                let slot =
                    &mut acc.entry((f, t)).or_default()[side][usize::from(fam == Family::V6)];
                *slot = slot.union(&c.cube.svc);
            }
        }
    }
    acc.into_iter()
        .map(|((f, t), [gained, lost])| ZonePair {
            from: zones[f].0.to_string(),
            to: zones[t].0.to_string(),
            gained: families_text(&gained),
            lost: families_text(&lost),
        })
        .collect()
}

/// The services of both families as one text: once when both families
/// read the same, else each marked with its family (`tcp/443 (IPv4)`).
fn families_text(sets: &[SvcSet; 2]) -> Option<String> {
    let texts: Vec<(&str, String)> = [(Family::V4, "IPv4"), (Family::V6, "IPv6")]
        .into_iter()
        .zip(sets)
        .filter(|(_, s)| !s.is_empty())
        .map(|((f, label), s)| (label, service_text(f, s)))
        .collect();
    match texts.as_slice() {
        [] => None,
        [(_, a), (_, b)] if a == b => Some(a.clone()),
        _ => Some(
            texts
                .iter()
                .map(|(label, t)| format!("{t} ({label})"))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

impl ZonePair {
    /// `corporate → internet  gains tcp/443  loses udp/53`.
    pub fn line(&self) -> String {
        let mut out = format!("{} → {}", self.from, self.to);
        if let Some(g) = &self.gained {
            out.push_str(&format!("  gains {g}"));
        }
        if let Some(l) = &self.lost {
            out.push_str(&format!("  loses {l}"));
        }
        out
    }
}

/// `Some(expires)` when `rule` is gone from the new policy and its last
/// active day is before `date` (so it stopped matching by expiring).
fn expired_on(
    rule: &Rule,
    new_names: &std::collections::BTreeSet<&str>,
    date: Date,
) -> Option<String> {
    let expires = rule.expires.as_ref()?;
    let last: Date = expires.parse().ok()?;
    (last < date && !new_names.contains(rule.name.as_str())).then(|| expires.clone())
}

/// Highlights for an advisory block or absolute rule that decided before
/// or decides now: weakened when it decided before and the traffic is
/// allowed now.
fn decider_highlights(old: &Ir, new: &Ir, region: &Region, kind: ChangeKind) -> Vec<Highlight> {
    let mut out = Vec::new();
    for (side, ir, d) in [("was", old, region.old), ("now", new, region.new)] {
        let Some(rule) = d.map(|i| &ir.rules[i]) else {
            continue;
        };
        let weakened = side == "was" && kind == ChangeKind::NewlyAllowed;
        if let RuleOrigin::AdvisoryBlock { advisory, .. } = &rule.origin {
            let code = if weakened {
                Risk::AdvisoryBlockWeakened
            } else {
                Risk::AdvisoryBlockChanged
            };
            out.push(Highlight::new(
                HighlightKind::AdvisoryBlock,
                code,
                format!(
                    "{side} decided by advisory block {} (advisory {advisory})",
                    rule.name
                ),
            ));
        } else if rule.absolute {
            let code = if weakened {
                Risk::AbsoluteBlockWeakened
            } else {
                Risk::AbsoluteBlockChanged
            };
            out.push(Highlight::new(
                HighlightKind::AbsoluteRule,
                code,
                format!("{side} decided by absolute rule {}", rule.name),
            ));
        }
    }
    out
}

/// Names of the sets in `sets` that share addresses of family `fam`
/// with `part`.
fn hits<'a>(
    sets: impl IntoIterator<Item = (&'a str, &'a AddrSet)>,
    fam: Family,
    part: &AddrIntervals,
) -> Vec<String> {
    sets.into_iter()
        .filter(|(_, a)| addr_part(a, fam).overlaps(part))
        .map(|(n, _)| n.to_string())
        .collect()
}

fn named(v: &[(String, AddrSet)]) -> Vec<(&str, &AddrSet)> {
    v.iter().map(|(n, a)| (n.as_str(), a)).collect()
}

/// How a highlight says what changed: a policy change (`newly allowed`),
/// or a device that differs from the policy (`allowed on the device`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phrase {
    Change,
    Drift,
}

impl Phrase {
    fn of(self, verb: &str) -> String {
        match self {
            Phrase::Change => format!("newly {verb}"),
            Phrase::Drift => format!("{verb} on the device"),
        }
    }
}

/// Highlights for who newly reaches whom: clinical devices, classes under
/// an advisory and advisory networks (newly allowed), clinical devices cut
/// off (newly denied; a device cut off from its central station or server
/// is a patient-safety risk too).
pub(crate) fn reach_highlights(
    ctx: &Context,
    phrase: Phrase,
    advisories: &[(String, AddrSet)],
    kind: ChangeKind,
    cube: &Cube,
) -> Vec<Highlight> {
    let fam = cube.family;
    let clinical = named(&ctx.clinical);
    let meets =
        |v: &[(String, AddrSet)], part: &AddrIntervals| !hits(named(v), fam, part).is_empty();
    let mut out = Vec::new();
    let mut push = |hk, code, verb: &str, what: &str, dir: &str, list: Vec<String>| {
        if !list.is_empty() {
            out.push(Highlight::new(
                hk,
                code,
                format!("{} {dir} {what}: {}", phrase.of(verb), list.join(", ")),
            ));
        }
    };
    match kind {
        ChangeKind::NewlyAllowed => {
            for (dir, own, other) in [("to", &cube.dst, &cube.src), ("from", &cube.src, &cube.dst)]
            {
                // Where the clinical devices' new traffic goes (or comes from).
                let code = if meets(&ctx.internet, other) {
                    if dir == "from" {
                        Risk::ClinicalInternetEgress
                    } else {
                        Risk::ClinicalInternetIngress
                    }
                } else if meets(&ctx.vendor, other) {
                    Risk::ClinicalVendorReach
                } else {
                    Risk::ClinicalNewReach
                };
                let list = hits(clinical.iter().copied(), fam, own);
                push(
                    HighlightKind::Clinical,
                    code,
                    "allowed",
                    "clinical devices",
                    dir,
                    list,
                );
            }
            for dir_is_dst in [true, false] {
                let (dir, own) = if dir_is_dst {
                    ("to", &cube.dst)
                } else {
                    ("from", &cube.src)
                };
                let list: Vec<String> = ctx
                    .advisory_classes
                    .iter()
                    .filter(|(_, _, a)| addr_part(a, fam).overlaps(own))
                    .map(|(c, a, _)| format!("{c} (advisory {a})"))
                    .collect();
                push(
                    HighlightKind::AdvisoryClass,
                    Risk::AdvisoryClassNewReach,
                    "allowed",
                    "devices under an advisory",
                    dir,
                    list,
                );
            }
            for (dir, own) in [("to", &cube.dst), ("from", &cube.src)] {
                let list = hits(named(advisories), fam, own);
                push(
                    HighlightKind::AdvisoryNetworks,
                    Risk::AdvisoryNetworkReach,
                    "allowed",
                    "advisory networks",
                    dir,
                    list,
                );
            }
        }
        ChangeKind::NewlyDenied => {
            for (dir, own) in [("to", &cube.dst), ("from", &cube.src)] {
                let list = hits(clinical.iter().copied(), fam, own);
                push(
                    HighlightKind::ClinicalDenied,
                    Risk::ClinicalFlowDenied,
                    "denied",
                    "clinical devices",
                    dir,
                    list,
                );
            }
        }
        ChangeKind::DenyReject | ChangeKind::LogOnly => {}
    }
    out
}

pub(crate) fn decision(ir: &Ir, d: Decider) -> Decision {
    match d {
        Some(i) => {
            let r = &ir.rules[i];
            Decision {
                action: r.action,
                log: r.log,
                rule: Some(r.name.clone()),
                rule_kind: match r.origin {
                    RuleOrigin::AdvisoryBlock { .. } => "advisory block",
                    RuleOrigin::Exception { .. } => "exception",
                    RuleOrigin::Rule if r.absolute => "absolute rule",
                    RuleOrigin::Rule => "rule",
                },
                expired_on: None,
            }
        }
        None => Decision {
            action: ir.default_action,
            log: ir.default_log,
            rule: None,
            rule_kind: "default",
            expired_on: None,
        },
    }
}

/// Names address sets after the objects and zones of both policies.
pub(crate) struct Namer {
    exact: BTreeMap<(Family, AddrIntervals), String>,
    /// The same sets by family and lowest address, with their bounds: the
    /// searches for unions and exceptions look only at the sets whose
    /// bounds can fit (a report names thousands of boxes against
    /// thousands of named sets).
    by_start: Vec<(Family, u128, u128, AddrIntervals, String)>,
    /// Every range of those sets as (IPv6?, low, high, the set's place in
    /// `by_start`), in order, and the highest end of each
    /// [`Namer::BLOCK`] of them: the searches for sets meeting or holding
    /// a range skip the blocks of ranges that end below it, which is
    /// nearly all of them (a set spread over the address line has small
    /// ranges, where its bounds span it all).
    ranges: Vec<(bool, u128, u128, u32)>,
    block_end: Vec<u128>,
}

impl Namer {
    pub(crate) fn new(old: &Ir, new: &Ir) -> Self {
        let mut exact = BTreeMap::new();
        let families = [Family::V4, Family::V6];
        for kind in [
            ObjectKind::Class,
            ObjectKind::Advisory,
            ObjectKind::Group,
            ObjectKind::Zone,
        ] {
            for ir in [new, old] {
                for o in ir.objects.values().filter(|o| o.kind == kind) {
                    for f in families {
                        let part = addr_part(&o.addrs, f);
                        if !part.is_empty() {
                            exact.entry((f, part)).or_insert_with(|| o.name.clone());
                        }
                    }
                }
            }
        }
        for ir in [new, old] {
            for z in &ir.zones {
                for f in families {
                    let part = addr_part(&z.addrs, f);
                    if part.is_empty() {
                        continue;
                    }
                    exact.entry((f, part)).or_insert_with(|| z.name.clone());
                }
            }
        }
        Self::of(exact)
    }

    /// The namer of these named sets.
    fn of(exact: BTreeMap<(Family, AddrIntervals), String>) -> Self {
        let mut by_start: Vec<_> = exact
            .iter()
            .map(|((f, part), name)| {
                let r = part.ranges();
                (*f, r[0].0, r[r.len() - 1].1, part.clone(), name.clone())
            })
            .collect();
        by_start.sort_by_key(|e| (e.0 == Family::V6, e.1));
        let mut ranges: Vec<(bool, u128, u128, u32)> = by_start
            .iter()
            .enumerate()
            .flat_map(|(k, (f, _, _, part, _))| {
                part.ranges()
                    .iter()
                    .map(move |&(lo, hi)| (*f == Family::V6, lo, hi, k as u32))
            })
            .collect();
        ranges.sort_unstable();
        let block_end = ranges
            .chunks(Self::BLOCK)
            .map(|c| c.iter().map(|r| r.2).max().unwrap_or(0))
            .collect();
        Self {
            exact,
            by_start,
            ranges,
            block_end,
        }
    }

    const BLOCK: usize = 32;

    /// The named sets of `family` with a range meeting `lo..=hi`, by their
    /// place in `by_start`, into `out` (some more than once).
    fn meeting(&self, family: Family, lo: u128, hi: u128, out: &mut Vec<u32>) {
        let v6 = family == Family::V6;
        let from = self.ranges.partition_point(|r| !r.0 & v6);
        let to = self
            .ranges
            .partition_point(|r| (r.0, r.1) <= (v6, hi))
            .max(from);
        for b in from / Self::BLOCK..to.div_ceil(Self::BLOCK) {
            if self.block_end[b] < lo {
                continue;
            }
            let run = &self.ranges[(b * Self::BLOCK).max(from)..((b + 1) * Self::BLOCK).min(to)];
            out.extend(run.iter().filter(|r| r.2 >= lo).map(|r| r.3));
        }
    }

    /// The named sets of `family` with a range meeting one of `set`'s, in
    /// `by_start`'s order, each once.
    fn meeting_set(
        &self,
        family: Family,
        set: &AddrIntervals,
    ) -> impl Iterator<Item = (&AddrIntervals, &str)> {
        let mut found = Vec::new();
        for &(lo, hi) in set.ranges() {
            self.meeting(family, lo, hi, &mut found);
        }
        found.sort_unstable();
        found.dedup();
        found.into_iter().map(|k| {
            let (_, _, _, part, name) = &self.by_start[k as usize];
            (part, name.as_str())
        })
    }

    /// The named sets of `family` that start at or after `lo` and no later
    /// than `last_start`.
    fn starting(
        &self,
        family: Family,
        lo: u128,
        last_start: u128,
    ) -> impl Iterator<Item = (&AddrIntervals, u128, &str)> {
        let key = |f: Family, at: u128| (f == Family::V6, at);
        let from = self
            .by_start
            .partition_point(|e| key(e.0, e.1) < key(family, lo));
        let to = self
            .by_start
            .partition_point(|e| key(e.0, e.1) <= key(family, last_start));
        self.by_start[from..to.max(from)]
            .iter()
            .map(|(_, _, hi, part, name)| (part, *hi, name.as_str()))
    }

    pub(crate) fn describe(&self, family: Family, set: &AddrIntervals) -> Addresses {
        let cidrs = cidrs(family, set);
        let name = if *set == crate::analysis::space::addr_universe(family) {
            Some(
                match family {
                    Family::V4 => "any IPv4",
                    Family::V6 => "any IPv6",
                }
                .to_string(),
            )
        } else if let Some(n) = self.exact.get(&(family, set.clone())) {
            Some(n.clone())
        } else {
            self.union_name(family, set)
                .or_else(|| self.except_name(family, set))
        };
        Addresses { name, cidrs }
    }

    /// `a except b` (or `a except b and c`, at most three) when `set` is
    /// exactly named set `a` minus named sets `b`, `c`: `a` is one of the
    /// three smallest named sets holding `set`, and the excluded sets are
    /// disjoint from `set` and together cover all of `a` that `set` lacks.
    /// Only exact equality is named; anything else stays CIDRs.
    fn except_name(&self, family: Family, set: &AddrIntervals) -> Option<String> {
        if set.is_empty() {
            return None;
        }
        // A set holding `set` holds its lowest address.
        let lowest = set.ranges()[0].0;
        let mut outer: Vec<(&AddrIntervals, &str)> = self
            .meeting_set(family, &AddrIntervals::single(lowest))
            .filter(|(part, _)| *part != set && set.is_subset(part))
            .collect();
        outer.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.1.cmp(b.1)));
        outer.into_iter().take(3).find_map(|(whole, name)| {
            let missing = whole.difference(set);
            let excluded = self.cover(family, &missing, set)?;
            Some(format!("{name} except {}", excluded.join(" and ")))
        })
    }

    /// Up to three named sets, disjoint from `avoid`, whose union covers
    /// `missing` (largest share of it first), or `None`.
    fn cover(
        &self,
        family: Family,
        missing: &AddrIntervals,
        avoid: &AddrIntervals,
    ) -> Option<Vec<&str>> {
        if missing.is_empty() {
            return None;
        }
        let parts: Vec<(AddrIntervals, &str)> = self
            .meeting_set(family, missing)
            .filter(|(part, _)| !part.overlaps(avoid))
            .map(|(part, name)| (part.intersection(missing), name))
            .collect();
        greedy_cover(parts, missing)
    }

    /// `a + b + c` when `set` is exactly the union of two or three named
    /// sets (largest first, the names sorted within equal sizes).
    fn union_name(&self, family: Family, set: &AddrIntervals) -> Option<String> {
        let &(_, hi) = set.ranges().last()?;
        // A set inside `set` starts inside one of its ranges (a wide set
        // with gaps has most named sets starting between its bounds).
        let parts: Vec<(&AddrIntervals, &str)> = set
            .ranges()
            .iter()
            .flat_map(|&(first, last)| self.starting(family, first, last))
            .filter(|(part, end, _)| *end <= hi && part.is_subset(set))
            .map(|(part, _, name)| (part, name))
            .collect();
        greedy_cover(parts, set)
            .filter(|names| names.len() >= 2)
            .map(|names| names.join(" + "))
    }
}

/// The names of at most three of `parts` whose union is `goal`, taken
/// largest first (names sorted within equal sizes), each adding to what
/// the ones before cover; `None` when three do not reach it.
fn greedy_cover<'n, P: std::borrow::Borrow<AddrIntervals>>(
    mut parts: Vec<(P, &'n str)>,
    goal: &AddrIntervals,
) -> Option<Vec<&'n str>> {
    parts.sort_by(|a, b| {
        b.0.borrow()
            .len()
            .cmp(&a.0.borrow().len())
            .then(a.1.cmp(b.1))
    });
    let mut covered = AddrIntervals::empty();
    let mut names = Vec::new();
    for (part, name) in parts {
        if part.borrow().is_subset(&covered) {
            continue;
        }
        covered = covered.union(part.borrow());
        names.push(name);
        if covered == *goal {
            return Some(names);
        }
        if names.len() == 3 {
            return None;
        }
    }
    None
}

fn cidrs(family: Family, set: &AddrIntervals) -> Vec<String> {
    let addrs = crate::analysis::space::addr_set(set, family);
    addrs
        .to_cidrs()
        .into_iter()
        .map(|n| {
            if n.prefix_len() == n.max_prefix_len() {
                n.addr().to_string()
            } else {
                n.to_string()
            }
        })
        .collect()
}

impl Addresses {
    /// `name (cidr, cidr)`, `name (12 prefixes)`, or the first CIDRs.
    pub(crate) fn text(&self) -> String {
        match &self.name {
            Some(n) if n.starts_with("any ") => n.clone(),
            Some(n) if self.cidrs.len() <= 2 => format!("{n} ({})", self.cidrs.join(", ")),
            Some(n) => format!("{n} ({} prefixes)", self.cidrs.len()),
            None => capped(&self.cidrs, 4),
        }
    }
}

fn capped(items: &[String], max: usize) -> String {
    if items.len() <= max {
        items.join(", ")
    } else {
        format!(
            "{} … and {} more",
            items[..max].join(", "),
            items.len() - max
        )
    }
}

/// `tcp/6661-6670, udp/53`, `icmp echo-request`, `any`, `any except tcp/443`.
pub(crate) fn service_text(family: Family, set: &SvcSet) -> String {
    let universe = svc_universe();
    if *set == universe {
        return "any".to_string();
    }
    let items = service_items(family, set);
    let except = service_items(family, &universe.difference(set));
    if except.len() < items.len() {
        format!("any except {}", capped(&except, 6))
    } else {
        capped(&items, 6)
    }
}

fn service_items(family: Family, set: &SvcSet) -> Vec<String> {
    let universe = svc_universe();
    let block = |lo: u32, hi: u32| set.intersection(&SvcSet::range(lo, hi));
    let mut out = Vec::new();
    for (name, base) in [("tcp", svc::TCP), ("udp", svc::UDP)] {
        let b = block(base, base + 65_535);
        if b.len() == 65_536 {
            out.push(format!("{name} (all ports)"));
            continue;
        }
        for &(a, z) in b.ranges() {
            let (a, z) = (a - base, z - base);
            out.push(if a == z {
                format!("{name}/{a}")
            } else {
                format!("{name}/{a}-{z}")
            });
        }
    }
    let icmp = match family {
        Family::V4 => "icmp",
        Family::V6 => "icmpv6",
    };
    let b = block(svc::ICMP, svc::ICMP + 255);
    if b.len() == 256 {
        out.push(format!("{icmp} (all types)"));
    } else {
        for &(a, z) in b.ranges() {
            let (a, z) = ((a - svc::ICMP) as u8, (z - svc::ICMP) as u8);
            for t in a..=z {
                if z - a > 3 {
                    out.push(format!("{icmp} types {a}-{z}"));
                    break;
                }
                let named = crate::catalogue::icmp_names(family == Family::V6)
                    .find(|n| crate::catalogue::icmp_type(n, family == Family::V6) == Some(t));
                out.push(match named {
                    Some(n) => format!("{icmp} {n}"),
                    None => format!("{icmp} type {t}"),
                });
            }
        }
    }
    let others = universe.intersection(&SvcSet::range(svc::OTHER, svc::MAX));
    let b = block(svc::OTHER, svc::MAX);
    if b == others {
        out.push("every other protocol".to_string());
    } else {
        for &(a, z) in b.ranges() {
            let (a, z) = ((a - svc::OTHER) as u8, (z - svc::OTHER) as u8);
            if z - a > 3 {
                out.push(format!("protocols {a}-{z}"));
                continue;
            }
            for p in a..=z {
                out.push(match crate::catalogue::protocol_name(p) {
                    Some(n) => n.to_string(),
                    None => format!("protocol {p}"),
                });
            }
        }
    }
    out
}

impl Decision {
    /// `rule x`, `advisory block y.out`, `the default rule`.
    pub(crate) fn by(&self) -> String {
        match (&self.rule, &self.expired_on) {
            (Some(name), Some(day)) => {
                format!("{} {name}, which expired after {day}", self.rule_kind)
            }
            (Some(name), None) => format!("{} {name}", self.rule_kind),
            (None, _) => "the default rule".to_string(),
        }
    }

    fn verdict(&self, with_log: bool) -> String {
        if with_log {
            format!(
                "{}, {}",
                self.action,
                if self.log { "logged" } else { "not logged" }
            )
        } else {
            self.action.to_string()
        }
    }
}

impl Change {
    pub(crate) fn sign(&self) -> char {
        match self.kind {
            ChangeKind::NewlyAllowed => '+',
            ChangeKind::NewlyDenied => '-',
            ChangeKind::DenyReject | ChangeKind::LogOnly => '~',
        }
    }

    /// One line: `+ allow   src → dst  service  by rule y (was deny by rule x)`.
    pub fn line(&self) -> String {
        let log = self.kind == ChangeKind::LogOnly;
        let width = if log { 18 } else { 6 };
        format!(
            "{} {:<width$}  {} → {}  {}  by {} (was {}{} by {})",
            self.sign(),
            self.new.verdict(log),
            self.src.text(),
            self.dst.text(),
            self.service,
            self.new.by(),
            self.old.verdict(log),
            if log { "," } else { "" },
            self.old.by(),
        )
    }
}

/// `traffic: 1 newly allowed, 2 newly denied`.
pub(crate) fn summary_line(diff: &TrafficDiff) -> String {
    let s = &diff.summary;
    let mut parts = vec![
        format!("{} newly allowed", s.newly_allowed),
        format!("{} newly denied", s.newly_denied),
    ];
    if s.deny_reject > 0 {
        parts.push(format!("{} between deny and reject", s.deny_reject));
    }
    if s.log_only > 0 {
        parts.push(format!("{} logging only", s.log_only));
    }
    if s.highlighted > 0 {
        parts.push(format!("{} highlighted", s.highlighted));
    }
    format!("traffic: {}", parts.join(", "))
}

/// The traffic diff as terminal text (coloured when asked).
pub fn to_text(diff: &TrafficDiff, colour: bool) -> String {
    let paint = |code: &str, s: &str| {
        if colour {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    if diff.is_empty() {
        let _ = writeln!(out, "traffic: no verdict changes");
        return out;
    }
    let _ = writeln!(out, "{}", paint("1", &summary_line(diff)));
    if !diff.matrix.is_empty() {
        let _ = writeln!(out, "zones that gain or lose allowed traffic:");
        for z in &diff.matrix {
            let _ = writeln!(out, "  {}", z.line());
        }
    }
    for c in diff.changes.iter().chain(&diff.log_changes) {
        let code = match c.kind {
            ChangeKind::NewlyAllowed => "32",
            ChangeKind::NewlyDenied => "31",
            _ => "33",
        };
        let _ = writeln!(out, "{}", paint(code, &c.line()));
        for h in &c.highlights {
            let _ = writeln!(out, "{}", paint("1;33", &format!("    ! {}", h.tagged())));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addrset::IntervalSet;
    use crate::analysis::space::encode_service;
    use crate::ir::ServiceSet;
    use proptest::prelude::*;

    /// Sets of a few ranges over 0..64, IPv4 or IPv6.
    fn arb_set() -> impl Strategy<Value = (Family, AddrIntervals)> {
        (
            prop::bool::ANY,
            prop::collection::vec((0u128..64, 0u128..8), 1..4),
        )
            .prop_map(|(six, rs)| {
                let family = if six { Family::V6 } else { Family::V4 };
                (
                    family,
                    IntervalSet::from_ranges(rs.into_iter().map(|(lo, w)| (lo, lo + w))),
                )
            })
    }

    /// The names [`Namer::describe`] finds, by brute force: every named
    /// set looked at, in the namer's order (ties sort alike).
    fn reference_name(n: &Namer, family: Family, set: &AddrIntervals) -> Option<String> {
        let named: Vec<(&AddrIntervals, &str)> = n
            .by_start
            .iter()
            .filter(|e| e.0 == family)
            .map(|e| (&e.3, e.4.as_str()))
            .collect();
        if set.is_empty() {
            return None;
        }
        if *set == crate::analysis::space::addr_universe(family) {
            return Some(match family {
                Family::V4 => "any IPv4".to_string(),
                Family::V6 => "any IPv6".to_string(),
            });
        }
        if let Some(name) = n.exact.get(&(family, set.clone())) {
            return Some(name.clone());
        }
        let inside: Vec<_> = named
            .iter()
            .filter(|(p, _)| p.is_subset(set))
            .copied()
            .collect();
        if let Some(names) = greedy_cover(inside, set).filter(|n| n.len() >= 2) {
            return Some(names.join(" + "));
        }
        let mut outer: Vec<_> = named
            .iter()
            .filter(|(p, _)| *p != set && set.is_subset(p))
            .collect();
        outer.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.1.cmp(b.1)));
        outer.into_iter().take(3).find_map(|(whole, name)| {
            let missing = whole.difference(set);
            if missing.is_empty() {
                return None;
            }
            let parts: Vec<_> = named
                .iter()
                .filter(|(p, _)| p.overlaps(&missing) && !p.overlaps(set))
                .map(|(p, name)| (p.intersection(&missing), *name))
                .collect();
            let excluded = greedy_cover(parts, &missing)?;
            Some(format!("{name} except {}", excluded.join(" and ")))
        })
    }

    proptest! {
        /// The namer's indexed searches name a set exactly as looking at
        /// every named set does.
        #[test]
        fn names_are_those_of_a_full_search(
            named in prop::collection::vec(arb_set(), 0..40),
            queries in prop::collection::vec(arb_set(), 1..8),
        ) {
            let mut exact = BTreeMap::new();
            for (i, (family, set)) in named.into_iter().enumerate() {
                exact.entry((family, set)).or_insert_with(|| format!("n{}", i % 7));
            }
            let n = Namer::of(exact);
            for (family, set) in &queries {
                prop_assert_eq!(n.describe(*family, set).name, reference_name(&n, *family, set));
            }
        }
    }

    fn text(family: Family, set: ServiceSet) -> String {
        service_text(family, &encode_service(&set, family))
    }

    #[test]
    fn services_read_like_the_policy() {
        let tcp = |lo, hi| ServiceSet {
            tcp: IntervalSet::range(lo, hi),
            ..ServiceSet::default()
        };
        assert_eq!(text(Family::V4, ServiceSet::any()), "any");
        assert_eq!(text(Family::V4, tcp(6661, 6670)), "tcp/6661-6670");
        assert_eq!(text(Family::V4, tcp(0, 65_535)), "tcp (all ports)");
        let mut web_dns = tcp(443, 443);
        web_dns.udp = IntervalSet::single(53);
        assert_eq!(text(Family::V6, web_dns), "tcp/443, udp/53");
        let ping = ServiceSet {
            icmp4: IntervalSet::single(8),
            icmp6: IntervalSet::single(128),
            ..ServiceSet::default()
        };
        assert_eq!(text(Family::V4, ping.clone()), "icmp echo-request");
        assert_eq!(text(Family::V6, ping), "icmpv6 echo-request");
        let protos = ServiceSet {
            protocols: IntervalSet::from_ranges([(47, 47), (99, 99)]),
            ..ServiceSet::default()
        };
        assert_eq!(text(Family::V4, protos), "gre, protocol 99");
        let all_but_https = svc_universe().difference(&SvcSet::single(svc::TCP + 443));
        assert_eq!(
            service_text(Family::V4, &all_but_https),
            "any except tcp/443"
        );
    }

    #[test]
    fn longest_increasing_keeps_the_most_pairs_in_order() {
        assert_eq!(longest_increasing(&[3, 1, 2, 5, 4]), [1, 2, 4]);
        assert_eq!(longest_increasing(&[]), Vec::<usize>::new());
        assert_eq!(longest_increasing(&[0, 1, 2]), [0, 1, 2]);
        assert_eq!(longest_increasing(&[2, 1, 0]).len(), 1);
    }
}
