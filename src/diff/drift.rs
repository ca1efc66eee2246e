//! Drift: the exact traffic on which a device's verdict differs from the
//! policy's.
//!
//! The device comes as the readers' target-neutral model
//! ([`crate::read::device`]); this stage puts it into the policy's terms
//! and compares it over the whole traffic space, with no sampling:
//!
//! 1. **Places become addresses.** A packet enters the device by the place
//!    (interface, zone) its source's zone is bound to on the target, and
//!    leaves by its destination's: the policy's zone bindings
//!    ([`crate::place`]) say which addresses sit behind which place, so a
//!    guard "enters by Vlan120" is "source in icu-devices". Only traffic
//!    between bound places is compared (the device sees no other); a
//!    policy with no bindings on the target (an address-only nftables
//!    ruleset) compares everything, and an entry that matches on a place
//!    is then undecidable.
//! 2. **The device becomes one first-match list.** Each layer's filters
//!    are concatenated with their guards folded into the entries' boxes
//!    (a packet meets the first filter whose guard holds), followed by the
//!    layer's fate for unfiltered packets; layers are joined by replacing
//!    every allowing entry of the first with the second layer's entries
//!    inside it (a packet passes only if every layer allows). The last
//!    layer is joined only where a walk meets an entry ([`Dev`]).
//! 3. **Both lists are swept** ([`Sweep`]):
//!    each device entry's reach is intersected with the decided regions of
//!    the policy rules of the other verdict, and its part no policy rule
//!    matches with the policy's default when that differs.
//!
//! An undecidable entry (an FQDN, App-ID, schedule, ...) may or may not
//! match: the sweep lets packets pass it by (it binds nothing), and the
//! packets it reaches are reported as undecidable wherever either
//! possibility disagrees with the policy: where the entry's own verdict
//! does, or where what decides the packet without it does.
//!
//! Verdicts compare by whether the packet passes: a device that rejects
//! what the policy drops agrees with it.

use crate::addrset::AddrSet;
use crate::analysis::index::BoxIndex;
use crate::analysis::space::Space;
use crate::analysis::sweep::Sweep;
use crate::ir::{Action, Ir};
use crate::place::{Placement, Reach};
use crate::read::device::{Decision, Device, Guard, Layer, PlaceSet};
use crate::vocab::ServiceSet;
use rustc_hash::FxHashMap;

/// One decision of the device, by position in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum At {
    /// Entry `entry` of filter `filter` of layer `layer`.
    Entry {
        layer: usize,
        filter: usize,
        entry: usize,
    },
    /// The filter's default (no entry matched).
    Default { layer: usize, filter: usize },
    /// No filter of the layer applies to the packet.
    Unfiltered { layer: usize },
}

/// How a region of traffic differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftKind {
    /// The device allows what the policy does not.
    Exposure,
    /// The device does not allow what the policy allows.
    Breakage,
    /// What the device does depends on something it cannot evaluate
    /// offline, and one of the possibilities disagrees with the policy.
    Undecidable,
}

/// Traffic on which the device and the policy differ.
#[derive(Clone, Debug)]
pub struct DriftRegion {
    pub kind: DriftKind,
    /// The deciding policy rule ([`Ir::rules`]); `None` = the default.
    pub policy: Option<usize>,
    /// The device decisions the traffic meets, one per layer that decides
    /// it, in order: the last is the verdict (the first that does not
    /// allow, or the last allow).
    pub device: Vec<At>,
    /// For undecidable traffic: the entry that may or may not match, and
    /// why it cannot be decided.
    pub undecided: Option<(At, String)>,
    pub space: Space,
}

/// The comparison of one device with the policy.
#[derive(Clone, Debug, Default)]
pub struct Comparison {
    /// Pairwise disjoint.
    pub regions: Vec<DriftRegion>,
    /// Differences the policy's own rendering for the target has too (see
    /// [`Comparison::beyond`]): what the target does differently from the
    /// policy by design, not drift.
    pub inherent: Vec<DriftRegion>,
    /// What was not compared, and why (one line each).
    pub not_compared: Vec<String>,
}

impl Comparison {
    /// [`Comparison::beyond`] the comparison of `baseline` (the policy's own
    /// rendering, as deployed) with the policy. That comparison is needed
    /// only on the traffic this one's regions hold, and is made there
    /// alone: the same result there as everywhere, at a fraction of the
    /// cost.
    pub fn beyond_baseline(self, ir: &Ir, baseline: &Device) -> Comparison {
        let mut on = Pieces::default();
        for r in &self.regions {
            on.entry(r.policy).or_default().push(r.space.clone());
        }
        let shared = compare_in(ir, baseline, Some(&on));
        self.beyond(&shared)
    }

    /// Moves to [`Comparison::inherent`] what the policy's own rendering
    /// for `target`, as deployed (see [`own_rendering`]), differs in too.
    /// Only the rules whose traffic can meet this comparison's regions are
    /// rendered: the rest cannot decide a packet there (see
    /// [`rules_near`]). On an error (the rendering cannot be made or read
    /// back) the comparison is left as it is.
    pub fn set_apart_inherent(
        &mut self,
        ir: &Ir,
        target: crate::vocab::Target,
        options: &crate::registry::TargetOptions,
        onto: Option<&str>,
    ) -> Result<(), String> {
        if self.regions.is_empty() {
            return Ok(());
        }
        let near = ir.with_rules(&rules_near(ir, &self.regions));
        let baseline = own_rendering(&near, target, options, onto)?;
        #[cfg(debug_assertions)]
        let reference = own_rendering(ir, target, options, onto)
            .ok()
            .map(|full| self.clone().beyond_baseline(ir, &full));
        *self = std::mem::take(self).beyond_baseline(ir, &baseline);
        // The whole rendering must find the same, region for region: a
        // renderer whose entries reach beyond its rules' addresses breaks
        // this in every test that compares a device with a baseline.
        #[cfg(debug_assertions)]
        if let Some(reference) = reference {
            debug_assert_eq!(format!("{self:?}"), format!("{reference:?}"));
        }
        Ok(())
    }

    /// This comparison with what `baseline` (the comparison of the policy's
    /// own rendering, as deployed) shares moved to [`Comparison::inherent`]:
    /// a stateless ACL's return entries let unsolicited replies through,
    /// an App-ID rule is undecidable offline, on every device running the
    /// reviewed file. A difference counts as inherent only where the
    /// baseline differs the same way (same kind) on the same traffic.
    pub fn beyond(mut self, baseline: &Comparison) -> Comparison {
        // Each region meets few of the baseline's: an index finds them,
        // rather than uniting thousands of regions first.
        let mut index = BoxIndex::over(baseline.regions.iter().map(|r| &r.space));
        let mut near = Vec::new();
        let mut regions = Vec::new();
        for mut r in std::mem::take(&mut self.regions) {
            index.candidates_of(&r.space, &mut near);
            let same = near
                .iter()
                .map(|&b| b as usize)
                .filter(|&b| baseline.regions[b].kind == r.kind)
                .map(|b| &baseline.regions[b].space);
            let rest = r.space.clone().minus_each(same);
            let shared = r.space.difference(&rest);
            if !shared.is_empty() {
                self.inherent.push(DriftRegion {
                    space: shared,
                    ..r.clone()
                });
            }
            if !rest.is_empty() {
                r.space = rest;
                regions.push(r);
            }
        }
        self.regions = regions;
        self
    }
}

/// The device the policy's own rendering for `target` makes, as deployed
/// (onto the device's own export where the target keeps more than
/// wardwall's part, as pfSense's backup does): what the target does
/// differently from the policy by design, the baseline drift, import and
/// the expectations' target check count as inherent.
pub fn own_rendering(
    ir: &Ir,
    target: crate::vocab::Target,
    options: &crate::registry::TargetOptions,
    onto: Option<&str>,
) -> Result<Device, String> {
    let reader = crate::registry::reader(target);
    let file = crate::registry::renderer(target, options)
        .render_file(ir, &crate::render::Templates::default(), reader.extension())
        .map_err(|_| format!("the policy cannot be rendered for {target}"))?
        .ok_or_else(|| format!("{target} renders no .{} file", reader.extension()))?;
    reader
        .deployed(ir, &file.contents, onto)
        .map_err(|e| format!("its own rendering cannot be read back ({e})"))
}

/// The rules (positions in [`Ir::rules`], ascending) whose sources and
/// destinations, either way round, meet the traffic of `regions`. A
/// renderer writes a rule as entries between the rule's own addresses,
/// or between its destinations and its sources (a stateless ACL's
/// return entries), whatever the services; entries that come from no rule
/// (implicit and system rules, the default) stay. So on the regions'
/// traffic the rendering of these rules alone decides as the whole
/// rendering does: no other rule's entry can match a packet there.
fn rules_near(ir: &Ir, regions: &[DriftRegion]) -> Vec<usize> {
    // A rule's box holds every service, so it meets a region exactly
    // where their addresses do.
    let drifted = Within::of(regions.iter().map(|r| &r.space));
    (0..ir.rules.len())
        .filter(|&i| {
            let rule = &ir.rules[i];
            drifted.meets(&Space::between(&rule.src.addrs, &rule.dst.addrs))
                || drifted.meets(&Space::between(&rule.dst.addrs, &rule.src.addrs))
        })
        .collect()
}

/// Compares `device` with the policy `ir` for the device's target.
pub fn compare(ir: &Ir, device: &Device) -> Comparison {
    compare_in(ir, device, None)
}

/// Traffic to compare, per policy decider (a rule of [`Ir::rules`], `None`
/// = the default): pieces that decider decides.
type Pieces = FxHashMap<Option<usize>, Vec<Space>>;

/// [`compare`], or only on the traffic `on` holds: every step is
/// pointwise, so the regions found are exactly those of the whole
/// comparison, cut to `on`.
fn compare_in(ir: &Ir, device: &Device, on: Option<&Pieces>) -> Comparison {
    let places = Places::new(ir, device);
    let within = on.map(Within::new);
    let dev = Dev::new(device, &places, within.as_ref());
    let sweep = Sweep::run(ir);
    let found = walk_all(ir, &sweep, &dev, &places, on);
    // The reference: the joined list built in full and walked without
    // skipping anything, which must find exactly the same regions, box for
    // box (the report prints each box as it is cut).
    #[cfg(debug_assertions)]
    {
        let full = Dev::joined(device, &places, within.as_ref());
        let reference = walk_all(ir, &sweep, &full, &places, on);
        debug_assert_eq!(
            format!("{:?}", found.definite),
            format!("{:?}", reference.definite)
        );
        debug_assert_eq!(
            format!("{:?}", found.undecidable),
            format!("{:?}", reference.undecidable)
        );
    }
    Comparison {
        regions: found.regions(),
        inherent: Vec::new(),
        not_compared: places.notes,
    }
}

/// Every walk of [`compare_in`]: each policy rule's decided traffic, then
/// the traffic no rule matches.
fn walk_all(ir: &Ir, sweep: &Sweep, dev: &Dev, places: &Places, on: Option<&Pieces>) -> Found {
    let mut found = Found::default();
    // The traffic each policy rule decides, walked through the device's
    // entries that meet it: local to the rule, however wide the device's
    // defaults are.
    let decided = |i: usize| sweep.decided(i).intersection(&places.compared);
    match on {
        None => {
            for i in 0..ir.rules.len() {
                dev.walk(
                    Some(i),
                    ir.rules[i].action.permits(),
                    decided(i),
                    &mut found,
                );
            }
        }
        Some(on) => {
            let mut rules: Vec<usize> = on.keys().flatten().copied().collect();
            rules.sort_unstable();
            for i in rules {
                let all = decided(i);
                for piece in &on[&Some(i)] {
                    let passes = ir.rules[i].action.permits();
                    dev.walk(Some(i), passes, all.intersection(piece), &mut found);
                }
            }
        }
    }
    // The traffic no policy rule matches.
    let unmatched = Unmatched::new(ir, &sweep.matched);
    match on {
        None => unmatched.walk(dev, &places.compared, &mut found),
        Some(on) => {
            for piece in on.get(&None).into_iter().flatten() {
                unmatched.walk(dev, &piece.intersection(&places.compared), &mut found);
            }
        }
    }
    found
}

/// The traffic no policy rule matches, which the policy's default decides.
struct Unmatched<'a> {
    default: bool,
    matched: &'a [Space],
    index: std::cell::RefCell<BoxIndex>,
}

impl<'a> Unmatched<'a> {
    fn new(ir: &Ir, matched: &'a [Space]) -> Self {
        Self {
            default: ir.default_action.permits(),
            matched,
            index: std::cell::RefCell::new(BoxIndex::new(matched)),
        }
    }

    /// `space` minus every policy rule's match.
    fn unmatched(&self, space: Space, near: &mut Vec<u32>) -> Space {
        self.index.borrow_mut().candidates_of(&space, near);
        space.minus_each(near.iter().map(|&i| &self.matched[i as usize]))
    }

    /// Only device entries whose verdict differs from the policy's default
    /// can differ there; each one's reach inside `within` minus every
    /// policy rule is local to that entry.
    fn walk(&self, dev: &Dev, within: &Space, found: &mut Found) {
        let default = self.default;
        let mut near = Vec::new();
        for i in dev.first.near(within) {
            // What reaches a piece of a joined entry lies in what reaches the
            // whole entry past the decided entries before it: where that is
            // empty, or every policy rule together covers it, none of its
            // pieces is looked at. Only emptiness is used, so the boxes of
            // what is reported are cut as without this test.
            if dev.skips && dev.joins(i) {
                let reach = dev.first_reach(i, within);
                if reach.is_empty() || self.unmatched(reach, &mut near).is_empty() {
                    continue;
                }
            }
            // The verdict is checked before the box: `within` is usually
            // all the compared traffic, which nearly every entry meets, and
            // most entries (every pfSense entry joined with a passing
            // outbound rule) agree with the default.
            for h in dev.group(i, within, |_, permits, _| permits != default) {
                let undecided = h.undecided().is_some();
                // An undecidable entry reports what no earlier undecidable
                // entry that also differs from the default reported (it
                // reaches all of that too: fewer decided entries come
                // before the earlier one).
                let reach = dev.reach(&h, within, |permits, u| {
                    !u || (undecided && permits != default)
                });
                if reach.is_empty() {
                    continue;
                }
                let rest = self.unmatched(reach, &mut near);
                if rest.is_empty() {
                    continue;
                }
                if undecided {
                    found.maybe(None, &h, rest);
                } else {
                    dev.split_by_earlier_undecided(&h, default, rest, None, found);
                }
            }
        }
    }
}

/// A list of flat entries with an index over their boxes.
struct List {
    flat: Vec<Flat>,
    spaces: Vec<Space>,
    /// A cheap size of each box: wide boxes are subtracted first, so a
    /// reach behind a filter's default empties at once.
    volume: Vec<f64>,
    index: std::cell::RefCell<BoxIndex>,
}

impl List {
    fn new(mut flat: Vec<Flat>) -> Self {
        // The boxes move to `spaces`: `flat` keeps the rest of each entry.
        let spaces: Vec<Space> = flat
            .iter_mut()
            .map(|f| std::mem::take(&mut f.space))
            .collect();
        let volume = spaces.iter().map(volume).collect();
        let index = std::cell::RefCell::new(BoxIndex::new(&spaces));
        Self {
            flat,
            spaces,
            volume,
            index,
        }
    }

    /// The entries (ascending) whose boxes meet `space`.
    fn near(&self, space: &Space) -> Vec<usize> {
        self.near_where(space, |_| true)
    }

    /// [`List::near`], only the entries `keep` holds for (tested before
    /// the boxes are).
    fn near_where(&self, space: &Space, keep: impl Fn(usize) -> bool) -> Vec<usize> {
        let mut near = Vec::new();
        self.index.borrow_mut().candidates_of(space, &mut near);
        near.into_iter()
            .map(|k| k as usize)
            .filter(|&k| keep(k) && self.spaces[k].overlaps(space))
            .collect()
    }
}

/// An entry's place in the device's one first-match list: the entry of
/// [`Dev::first`], and the entry of [`Dev::last`] joined to it (0 where
/// none is). In the list's order.
type Pos = (u32, u32);

/// One entry of the device's first-match list, as a query meets it.
#[derive(Clone, Debug)]
struct Hit<'d> {
    pos: Pos,
    space: std::borrow::Cow<'d, Space>,
    volume: f64,
    first: &'d Flat,
    /// The entry of the last layer, for a joined pair.
    last: Option<&'d Flat>,
}

impl Hit<'_> {
    fn permits(&self) -> bool {
        self.last.unwrap_or(self.first).action.permits()
    }

    fn undecided(&self) -> Option<&(At, String)> {
        self.first
            .undecided
            .as_ref()
            .or_else(|| self.last.and_then(|b| b.undecided.as_ref()))
    }

    fn path(&self) -> Vec<At> {
        let mut path = self.first.path.clone();
        if let Some(b) = self.last {
            path.extend(&b.path);
        }
        path
    }
}

/// The device as one first-match list ([`flatten`]), with the last layer
/// joined only where a query meets it.
///
/// Joining a layer copies every allowing entry of the layers before it
/// once per entry of the layer it meets: for pfSense, every inbound rule
/// once per outbound interface (115,016 entries for 12,000 rules), nearly
/// all of them an inbound pass joined with "pass out all". Here the last
/// layer stays apart; a query meets an allowing entry of [`Dev::first`]
/// as its pieces, each box cut as [`join`] cuts it, in the joined list's
/// order, so every walk sees exactly the list [`join`] builds. The walks
/// test emptiness on whole entries first ([`Dev::skips`]) and cut pieces
/// only where something may be reported.
struct Dev {
    first: List,
    /// The last layer as a list, when it filters anything.
    last: Option<List>,
    /// Whether the walks may pass over traffic that provably reports
    /// nothing (off for the reference the debug assertions compare with).
    skips: bool,
}

impl Dev {
    fn new(device: &Device, places: &Places, within: Option<&Within>) -> Self {
        let n = device.layers.len();
        if n < 2 {
            return Self::joined(device, places, within);
        }
        let last = flat_layer(n - 1, &device.layers[n - 1], places);
        let first = flatten(&device.layers[..n - 1], places, within);
        // As `join` has it: a layer with no filters lets everything pass.
        let last = (!(last.len() == 1 && last[0].action.permits())).then(|| List::new(last));
        Self {
            first: List::new(first),
            last,
            skips: true,
        }
    }

    /// Every layer joined in full, nothing skipped: what [`Dev::new`]
    /// must walk the same as.
    fn joined(device: &Device, places: &Places, within: Option<&Within>) -> Self {
        Self {
            first: List::new(flatten(&device.layers, places, within)),
            last: None,
            skips: false,
        }
    }

    /// Whether entry `i` of [`Dev::first`] is replaced by the last layer's
    /// entries inside it.
    fn joins(&self, i: usize) -> bool {
        self.last.is_some()
            && self.first.flat[i].action.permits()
            && !self.first.spaces[i].is_empty()
    }

    fn one(&self, i: usize) -> Hit<'_> {
        Hit {
            pos: (i as u32, 0),
            space: std::borrow::Cow::Borrowed(&self.first.spaces[i]),
            volume: self.first.volume[i],
            first: &self.first.flat[i],
            last: None,
        }
    }

    /// The entries of the list that entry `i` of [`Dev::first`] becomes
    /// which meet `q`, in order, `keep` (of a position, whether the entry
    /// passes and whether it is undecidable) tested before the box.
    fn group(&self, i: usize, q: &Space, keep: impl Fn(Pos, bool, bool) -> bool) -> Vec<Hit<'_>> {
        let a = &self.first.flat[i];
        let space = &self.first.spaces[i];
        let Some(last) = self.last.as_ref().filter(|_| self.joins(i)) else {
            let h = self.one(i);
            let kept = keep(h.pos, h.permits(), a.undecided.is_some()) && space.overlaps(q);
            return if kept { vec![h] } else { Vec::new() };
        };
        let mut near = Vec::new();
        last.index.borrow_mut().candidates_of(space, &mut near);
        let mut out = Vec::new();
        let mut pair = |j: u32, piece: Space| {
            let h = Hit {
                pos: (i as u32, j),
                volume: volume(&piece),
                space: std::borrow::Cow::Owned(piece),
                first: a,
                last: Some(&last.flat[j as usize]),
            };
            out.push(h);
        };
        if a.undecided.is_some() {
            // As `join` cuts an undecidable entry: given that it matches,
            // the last layer is still first-match, so each piece leaves out
            // what a decided earlier entry of it takes.
            let mut rest = space.clone();
            for j in near {
                let b = &last.flat[j as usize];
                let bs = &last.spaces[j as usize];
                let piece = rest.intersection(bs);
                if b.undecided.is_none() {
                    rest = rest.difference(bs);
                }
                if !piece.is_empty()
                    && keep((i as u32, j), b.action.permits(), true)
                    && piece.overlaps(q)
                {
                    pair(j, piece);
                }
            }
        } else {
            for j in near {
                let b = &last.flat[j as usize];
                let bs = &last.spaces[j as usize];
                if !keep((i as u32, j), b.action.permits(), b.undecided.is_some())
                    || !bs.overlaps(q)
                {
                    continue;
                }
                let piece = space.intersection(bs);
                if !piece.is_empty() && piece.overlaps(q) {
                    pair(j, piece);
                }
            }
        }
        out
    }

    /// The entries of the list whose boxes meet `q`, in order, `keep` as
    /// in [`Dev::group`].
    fn near_where(&self, q: &Space, keep: impl Fn(Pos, bool, bool) -> bool) -> Vec<Hit<'_>> {
        let mut out = Vec::new();
        for i in self.first.near(q) {
            out.extend(self.group(i, q, &keep));
        }
        out
    }

    /// What reaches entry `k` inside `within`: its box minus every earlier
    /// entry `subtracts` (of whether it passes and whether it is
    /// undecidable) holds for (the decided ones: undecidable entries let
    /// packets pass on).
    fn reach(&self, k: &Hit, within: &Space, subtracts: impl Fn(bool, bool) -> bool) -> Space {
        let own = k.space.intersection(within);
        if own.is_empty() {
            return own;
        }
        let mut earlier = self.near_where(&own, |j, p, u| j < k.pos && subtracts(p, u));
        earlier.sort_by(|a, b| b.volume.total_cmp(&a.volume));
        own.minus_each(earlier.iter().map(|h| &*h.space))
    }

    /// What reaches entry `i` of [`Dev::first`] inside `within` past the
    /// decided entries of [`Dev::first`] before it: it holds what reaches
    /// each of the entry's pieces ([`Dev::reach`]), as every decided entry
    /// before it is taken whole by its own decided pieces (the last layer
    /// ends with an entry for everything).
    fn first_reach(&self, i: usize, within: &Space) -> Space {
        let own = self.first.spaces[i].intersection(within);
        if own.is_empty() {
            return own;
        }
        let first = &self.first;
        let mut earlier = first.near_where(&own, |j| j < i && first.flat[j].undecided.is_none());
        earlier.sort_by(|&a, &b| first.volume[b].total_cmp(&first.volume[a]));
        own.minus_each(earlier.iter().map(|&j| &first.spaces[j]))
    }

    /// `space`, which the decided entry `k` decides against the policy's
    /// verdict `passes`, split by the earlier undecidable entries that
    /// reached it (each with what reached it, ascending): what one that
    /// differs from the policy reached it reported itself; what only
    /// entries that agree reached is reported under the first of them;
    /// the rest is certain.
    fn settle(
        &self,
        k: &Hit,
        passes: bool,
        space: Space,
        earlier: &[(&Hit, &Space)],
        policy: Option<usize>,
        found: &mut Found,
    ) {
        let differs = |u: &Hit| u.permits() != passes;
        let mut rest = space.minus_each(
            earlier
                .iter()
                .filter(|(u, _)| differs(u))
                .map(|(_, reached)| *reached),
        );
        for (u, reached) in earlier.iter().filter(|(u, _)| !differs(u)) {
            if rest.is_empty() {
                break;
            }
            let (taken, left) = rest.split(reached);
            found.maybe(policy, u, taken);
            rest = left;
        }
        found.sure(policy, k, rest);
    }

    /// [`Dev::settle`] where what reached each earlier undecidable entry
    /// is not tracked: inside `space`, which reaches `k`, that is the part
    /// of its box (every decided entry before it is before `k` too).
    fn split_by_earlier_undecided(
        &self,
        k: &Hit,
        passes: bool,
        space: Space,
        policy: Option<usize>,
        found: &mut Found,
    ) {
        let earlier = self.near_where(&space, |u, _, undecided| u < k.pos && undecided);
        let earlier: Vec<(&Hit, &Space)> = earlier.iter().map(|u| (u, &*u.space)).collect();
        self.settle(k, passes, space, &earlier, policy, found);
    }

    /// Whether walking `piece` (decided by a policy rule with verdict
    /// `passes`) may report anything: the walk's steps on whole entries of
    /// [`Dev::first`], not on their pieces. A joined, decided entry's
    /// pieces together take exactly its box (the last layer ends with an
    /// entry for everything), and report only where one of the last
    /// layer's entries that meets what reaches it is undecidable or
    /// disagrees with `passes`; an undecidable entry is not looked into.
    /// `false` means the walk reports nothing.
    fn may_report(&self, passes: bool, piece: &Space) -> bool {
        let Some(last) = &self.last else {
            return true;
        };
        let mut rest = piece.clone();
        for i in self.first.near(piece) {
            if rest.is_empty() {
                return false;
            }
            let a = &self.first.flat[i];
            let space = &self.first.spaces[i];
            let part = rest.intersection(space);
            if part.is_empty() {
                continue;
            }
            if a.undecided.is_some() {
                return true;
            }
            if self.joins(i) {
                let differs = last.near(&part).into_iter().any(|j| {
                    let b = &last.flat[j];
                    b.undecided.is_some() || b.action.permits() != passes
                });
                if differs {
                    return true;
                }
            } else if a.action.permits() != passes {
                return true;
            }
            rest = rest.difference(space);
        }
        false
    }

    /// First-match through the device inside `piece`, all of which one
    /// policy decider (`policy`, verdict `passes`) decides.
    fn walk(&self, policy: Option<usize>, passes: bool, piece: Space, found: &mut Found) {
        if piece.is_empty() {
            return;
        }
        if self.skips && self.last.is_some() && !self.may_report(passes, &piece) {
            return;
        }
        let mut rest = piece.clone();
        // The undecidable entries met so far, each with what reached it,
        // and what those that differ from the policy reported.
        let mut maybe: Vec<(Hit, Space)> = Vec::new();
        let mut reported = Space::empty();
        'entries: for i in self.first.near(&piece) {
            if rest.is_empty() {
                break;
            }
            for h in self.group(i, &piece, |_, _, _| true) {
                if rest.is_empty() {
                    break 'entries;
                }
                let part = rest.intersection(&h.space);
                if part.is_empty() {
                    continue;
                }
                if h.undecided().is_some() {
                    if h.permits() != passes {
                        let new = part.difference(&reported);
                        reported = reported.union(&new);
                        found.maybe(policy, &h, new);
                    }
                    maybe.push((h, part));
                    continue;
                }
                rest = rest.difference(&h.space);
                if h.permits() != passes {
                    let earlier: Vec<(&Hit, &Space)> = maybe.iter().map(|(u, r)| (u, r)).collect();
                    self.settle(&h, passes, part, &earlier, policy, found);
                }
            }
        }
    }
}

/// A cheap size of a space (for ordering only).
fn volume(space: &Space) -> f64 {
    space
        .cubes()
        .iter()
        .map(|c| c.src.len() as f64 * c.dst.len() as f64 * c.svc.len() as f64)
        .sum()
}

/// The regions found, before undecidable traffic is made disjoint.
#[derive(Default)]
struct Found {
    definite: Vec<DriftRegion>,
    undecidable: Vec<DriftRegion>,
}

impl Found {
    fn region(policy: Option<usize>, f: &Hit, kind: DriftKind, space: Space) -> DriftRegion {
        DriftRegion {
            kind,
            policy,
            device: f.path(),
            undecided: f.undecided().cloned(),
            space,
        }
    }

    fn sure(&mut self, policy: Option<usize>, f: &Hit, space: Space) {
        if space.is_empty() {
            return;
        }
        let kind = if f.permits() {
            DriftKind::Exposure
        } else {
            DriftKind::Breakage
        };
        self.definite.push(Self::region(policy, f, kind, space));
    }

    fn maybe(&mut self, policy: Option<usize>, f: &Hit, space: Space) {
        if space.is_empty() {
            return;
        }
        self.undecidable
            .push(Self::region(policy, f, DriftKind::Undecidable, space));
    }

    /// Pairwise disjoint by construction: each region lies in what one
    /// policy decider decides, and in what one device entry decides or the
    /// first undecidable entry to reach it claims.
    fn regions(self) -> Vec<DriftRegion> {
        let mut out = self.definite;
        out.extend(self.undecidable);
        out
    }
}

/// One entry of the device as a single first-match list.
#[derive(Clone, Debug)]
struct Flat {
    space: Space,
    action: Action,
    /// The decisions that lead here, one per layer joined.
    path: Vec<At>,
    undecided: Option<(At, String)>,
}

/// The policy's bindings on the device's target, as the device's places.
struct Places {
    /// Bound place name → its addresses.
    bound: Vec<(String, AddrSet)>,
    /// No zone is bound on this target: addresses only.
    address_only: bool,
    /// The traffic compared: between bound places the device has.
    compared: Space,
    notes: Vec<String>,
    /// [`Places::addresses`] by the sets asked for: the entries of a
    /// filter, or of one pair of zones, all ask the same.
    behind: std::cell::RefCell<FxHashMap<Vec<PlaceSet>, AddrSet>>,
}

impl Places {
    fn new(ir: &Ir, device: &Device) -> Self {
        let placement = Placement::new(ir, device.target, Reach::Ingress);
        let mut notes = Vec::new();
        let mut bound = Vec::new();
        let mut missing = Vec::new();
        for b in placement.bindings() {
            let known = device
                .places
                .as_ref()
                .is_none_or(|p| p.iter().any(|n| n == b.name));
            if known {
                bound.push((b.name.to_string(), b.addrs.clone()));
            } else {
                missing.push(b.name.to_string());
            }
        }
        if !missing.is_empty() {
            notes.push(format!(
                "traffic from or to {}: the policy binds zones there, and the device has no such {}",
                missing.join(", "),
                if missing.len() == 1 { "place" } else { "places" }
            ));
        }
        if let Some(places) = &device.places {
            let unbound: Vec<&str> = places
                .iter()
                .filter(|p| !placement.bindings().iter().any(|b| b.name == p.as_str()))
                .map(String::as_str)
                .collect();
            if !unbound.is_empty() && !placement.bindings().is_empty() {
                notes.push(format!(
                    "traffic through {}: the device has {} no zone of the policy is bound to",
                    unbound.join(", "),
                    if unbound.len() == 1 {
                        "a place"
                    } else {
                        "places"
                    }
                ));
            }
        }
        let address_only = placement.bindings().is_empty();
        let compared = if address_only {
            Space::universe()
        } else {
            let all = AddrSet::union_all(bound.iter().map(|(_, a)| a));
            let unplaced = all.complement();
            if !unplaced.is_empty() {
                notes.push(
                    "traffic from or to addresses in no zone bound on this target: it does not cross the device"
                        .to_string(),
                );
            }
            Space::between(&all, &all)
        };
        Self {
            bound,
            address_only,
            compared,
            notes,
            behind: Default::default(),
        }
    }

    /// `addrs` where they are behind every place in all of `sets` ([`Places::addresses`]).
    fn behind(&self, sets: &[PlaceSet], addrs: &AddrSet) -> Result<AddrSet, String> {
        if sets.is_empty() {
            return Ok(addrs.clone());
        }
        if let Some(behind) = self.behind.borrow().get(sets) {
            return Ok(addrs.intersection(behind));
        }
        let behind = self.addresses(sets)?;
        let out = addrs.intersection(&behind);
        self.behind.borrow_mut().insert(sets.to_vec(), behind);
        Ok(out)
    }

    /// The addresses behind every place that is in all of `sets`; an error
    /// (why the guard is undecidable) when no zone is bound on the target.
    fn addresses(&self, sets: &[PlaceSet]) -> Result<AddrSet, String> {
        if sets.is_empty() {
            return Ok(AddrSet::any());
        }
        if self.address_only {
            return Err(
                "it matches where the packet enters or leaves, and the policy binds no zone on this target"
                    .to_string(),
            );
        }
        Ok(AddrSet::union_all(
            self.bound
                .iter()
                .filter(|(name, _)| sets.iter().all(|s| s.contains(name)))
                .map(|(_, a)| a),
        ))
    }

    /// The box of `src × dst × service` where `guard` holds, and why it is
    /// undecidable, if it is.
    fn boxed(
        &self,
        guard: Option<Guard>,
        src: &AddrSet,
        dst: &AddrSet,
        service: &ServiceSet,
    ) -> (Space, Option<String>) {
        let Some(guard) = guard else {
            return (Space::empty(), None);
        };
        let mut why = None;
        let mut side = |sets: &[PlaceSet], addrs: &AddrSet| match self.behind(sets, addrs) {
            Ok(behind) => behind,
            Err(e) => {
                why = Some(e);
                addrs.clone()
            }
        };
        let mut src = side(&guard.ingress, src);
        let dst = side(&guard.egress, dst);
        if let Some(f) = guard.family {
            src = src.of_family(f);
        }
        (Space::from_parts(&src, &dst, service), why)
    }
}

/// Traffic, indexed, to ask what meets it: the traffic a comparison is
/// cut to ([`compare_in`]'s `on`), or a comparison's regions
/// ([`rules_near`]).
///
/// The walks only ever look at device entries whose boxes meet the traffic
/// walked, and the entries keep their order, so leaving out every entry
/// that meets none of it changes nothing they find: the baseline device is
/// compared on a few regions, and most of its entries (pfSense: most of
/// the pairs of an inbound and an outbound rule) are never built.
struct Within<'a> {
    spaces: Vec<&'a Space>,
    index: std::cell::RefCell<BoxIndex>,
    near: std::cell::RefCell<Vec<u32>>,
}

impl<'a> Within<'a> {
    fn new(on: &'a Pieces) -> Self {
        Self::of(on.values().flatten())
    }

    /// The traffic of `spaces`, indexed.
    fn of(spaces: impl IntoIterator<Item = &'a Space>) -> Self {
        let spaces: Vec<&Space> = spaces.into_iter().collect();
        let index = std::cell::RefCell::new(BoxIndex::over(spaces.iter().copied()));
        Self {
            spaces,
            index,
            near: std::cell::RefCell::new(Vec::new()),
        }
    }

    fn meets(&self, space: &Space) -> bool {
        if space.is_empty() {
            return false;
        }
        let mut near = self.near.borrow_mut();
        self.index.borrow_mut().candidates_of(space, &mut near);
        near.iter()
            .any(|&i| self.spaces[i as usize].overlaps(space))
    }
}

/// The device as one first-match list (see the module docs); with
/// `within`, only the entries whose boxes meet it (see [`Within`]).
fn flatten(layers: &[Layer], places: &Places, within: Option<&Within>) -> Vec<Flat> {
    let mut acc: Option<Vec<Flat>> = None;
    for (l, layer) in layers.iter().enumerate() {
        let next = flat_layer(l, layer, places);
        acc = Some(match acc {
            None => first_layer(next, within),
            Some(acc) => join(acc, &next, within),
        });
    }
    acc.unwrap_or_else(|| vec![pass_all()])
}

/// The list that allows everything, before any layer is joined.
fn pass_all() -> Flat {
    Flat {
        space: Space::universe(),
        action: Action::Allow,
        path: Vec::new(),
        undecided: None,
    }
}

/// [`join`] of [`pass_all`] with `layer`, without copying `layer`'s boxes:
/// every entry of `layer` lies inside the universe, so its piece is the
/// entry itself (its box merged, as an intersection merges it). Building
/// those copies and an index over them was most of the fresh memory of
/// a Cisco drift, whose first layer (the inbound ACLs) is nearly all of
/// the device.
fn first_layer(layer: Vec<Flat>, within: Option<&Within>) -> Vec<Flat> {
    #[cfg(debug_assertions)]
    let joined = join(vec![pass_all()], &layer, within);
    let meets = |s: &Space| within.is_none_or(|w| w.meets(s));
    let out = if !meets(&Space::universe()) {
        Vec::new()
    } else if layer.len() == 1 && layer[0].action.permits() {
        // As `join` has it: a layer with no filters adds nothing to a path.
        vec![pass_all()]
    } else {
        layer
            .into_iter()
            .filter(|b| !b.space.is_empty() && meets(&b.space))
            .map(|b| Flat {
                space: b.space.compact(),
                ..b
            })
            .collect()
    };
    #[cfg(debug_assertions)]
    debug_assert_eq!(format!("{out:?}"), format!("{joined:?}"));
    out
}

fn flat_layer(l: usize, layer: &Layer, places: &Places) -> Vec<Flat> {
    let mut out = Vec::new();
    for (fi, filter) in layer.filters.iter().enumerate() {
        for (ei, e) in filter.entries.iter().enumerate() {
            let at = At::Entry {
                layer: l,
                filter: fi,
                entry: ei,
            };
            let (space, why) = places.boxed(filter.guard.and(&e.guard), &e.src, &e.dst, &e.service);
            out.push(flat(space, &e.decision, at, e.undecidable.clone().or(why)));
        }
        let at = At::Default {
            layer: l,
            filter: fi,
        };
        let any = AddrSet::any();
        let (space, why) = places.boxed(Some(filter.guard.clone()), &any, &any, &ServiceSet::any());
        out.push(flat(space, &filter.default, at, why));
    }
    out.push(Flat {
        space: Space::universe(),
        action: layer.unfiltered,
        path: vec![At::Unfiltered { layer: l }],
        undecided: None,
    });
    out
}

fn flat(space: Space, d: &Decision, at: At, why: Option<String>) -> Flat {
    Flat {
        space,
        action: d.action,
        path: vec![at],
        undecided: why.map(|w| (at, w)),
    }
}

/// `first`, with every allowing entry replaced by `second`'s entries
/// inside it: the list that allows exactly what both allow.
///
/// With `within`, the entries that miss it are left out (see [`Within`]):
/// every entry made from one is inside it, so misses it too.
fn join(first: Vec<Flat>, second: &[Flat], within: Option<&Within>) -> Vec<Flat> {
    let meets = |s: &Space| within.is_none_or(|w| w.meets(s));
    // A layer with no filters lets everything pass: nothing to join.
    if second.len() == 1 && second[0].action.permits() {
        return first.into_iter().filter(|a| meets(&a.space)).collect();
    }
    let spaces: Vec<Space> = second.iter().map(|f| f.space.clone()).collect();
    let second_meets: Vec<bool> = spaces.iter().map(meets).collect();
    let mut index = BoxIndex::new(&spaces);
    let mut near = Vec::new();
    let mut out = Vec::new();
    for a in first {
        if !meets(&a.space) {
            continue;
        }
        if !a.action.permits() || a.space.is_empty() {
            out.push(a);
            continue;
        }
        index.candidates_of(&a.space, &mut near);
        near.sort_unstable();
        // Where `a` is undecidable, its pieces inherit that and shadow
        // nothing in `compare`: given that `a` matches, `second` is still
        // first-match, so each piece leaves out what a decided earlier
        // entry of `second` takes.
        let mut rest = a.space.clone();
        for &j in &near {
            let b = &second[j as usize];
            // An undecidable `a`'s pieces depend on every decided `b` before
            // them; a decided `a`'s piece inside a `b` that misses `within`
            // misses it too.
            if !second_meets[j as usize] && a.undecided.is_none() {
                continue;
            }
            let space = if a.undecided.is_some() {
                let piece = rest.intersection(&b.space);
                if b.undecided.is_none() {
                    rest = rest.difference(&b.space);
                }
                piece
            } else {
                a.space.intersection(&b.space)
            };
            if space.is_empty() || !second_meets[j as usize] {
                continue;
            }
            let mut path = a.path.clone();
            path.extend(&b.path);
            out.push(Flat {
                space,
                action: b.action,
                path,
                undecided: a.undecided.clone().or_else(|| b.undecided.clone()),
            });
        }
    }
    out
}
