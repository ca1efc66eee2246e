//! An exact algebra of traffic spaces: sets of first packets of flows.
//!
//! A packet, as the reference evaluator sees it, is a point
//! `(family, source, destination, service)`. The service coordinate folds
//! protocol and port / ICMP type into one integer (see [`svc`]) so that a
//! rule's service set is one interval set, like its addresses. A rule then
//! matches exactly one *box* per family: `src set × dst set × service set`.
//!
//! A [`Space`] is a finite union of pairwise disjoint boxes, with exact
//! union, intersection, difference, emptiness and a sample point. Nothing
//! here samples or approximates: emptiness is decided on the interval sets.
//!
//! The universe is every packet the evaluator can see: what
//! [`crate::ir::Packet::parse`] can produce, plus TCP and UDP port 0 (which
//! `explain` refuses as a typo but a bare `tcp` service matches on the
//! wire). That is TCP and UDP with any destination port, ICMP (ICMPv4 for IPv4, ICMPv6 for
//! IPv6) with any type, and every other IP protocol number except 1, 6, 17
//! and 58 (which are TCP, UDP and the ICMPs). This is the same universe as
//! [`ServiceSet::expanded`], so `any` is the whole universe.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::addrset::{AddrSet, ByteSet, Domain, IntervalSet};
use crate::ir::{Family, Packet, Proto, Rule, ServiceSet, proto};

/// The folded service coordinate.
pub(crate) mod svc {
    /// TCP destination port `p` is `TCP + p`.
    pub(crate) const TCP: u32 = 0;
    /// UDP destination port `p` is `UDP + p`.
    pub(crate) const UDP: u32 = 65_536;
    /// ICMP type `t` (of the packet's family) is `ICMP + t`.
    pub(crate) const ICMP: u32 = 131_072;
    /// Other IP protocol `n` is `OTHER + n`.
    pub(crate) const OTHER: u32 = 131_328;
    /// The largest coordinate.
    pub(crate) const MAX: u32 = OTHER + 255;
}

/// Addresses of one family, as integers (IPv4 in `0..=u32::MAX`).
pub(crate) type AddrIntervals = IntervalSet<u128>;
/// Service coordinates (see [`svc`]).
pub(crate) type SvcSet = IntervalSet<u32>;

/// Every service coordinate of the universe.
pub(crate) fn svc_universe() -> SvcSet {
    svc_universe_ref().clone()
}

/// [`svc_universe`], built once: every box of every device entry is cut
/// to it.
fn svc_universe_ref() -> &'static SvcSet {
    static UNIVERSE: std::sync::OnceLock<SvcSet> = std::sync::OnceLock::new();
    UNIVERSE.get_or_init(|| {
        let special = [proto::ICMP, proto::TCP, proto::UDP, proto::ICMPV6]
            .map(|p| (svc::OTHER + u32::from(p), svc::OTHER + u32::from(p)));
        SvcSet::range(0, svc::MAX).difference(&SvcSet::from_ranges(special))
    })
}

/// Every address of a family.
pub(crate) fn addr_universe(family: Family) -> AddrIntervals {
    match family {
        Family::V4 => AddrIntervals::range(0, u128::from(u32::MAX)),
        Family::V6 => AddrIntervals::full(),
    }
}

/// The addresses of `set` in `family`, widened to `u128`.
pub(crate) fn addr_part(set: &AddrSet, family: Family) -> AddrIntervals {
    match family {
        // In order and merged already: IPv4's order and adjacency are the
        // same on the wider line.
        Family::V4 => AddrIntervals::from_sorted_ranges(
            set.v4
                .ranges()
                .iter()
                .map(|&(a, b)| (u128::from(a), u128::from(b))),
        ),
        Family::V6 => set.v6.clone(),
    }
}

/// The part of a service set a packet of `family` can match, folded.
pub(crate) fn encode_service(set: &ServiceSet, family: Family) -> SvcSet {
    if set.any {
        return svc_universe();
    }
    let icmp = match family {
        Family::V4 => &set.icmp4,
        Family::V6 => &set.icmp6,
    };
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for (s, base) in [(&set.tcp, svc::TCP), (&set.udp, svc::UDP)] {
        ranges.extend(
            s.ranges()
                .iter()
                .map(|&(a, b)| (base + u32::from(a), base + u32::from(b))),
        );
    }
    for (s, base) in [(icmp, svc::ICMP), (&set.protocols, svc::OTHER)] {
        ranges.extend(
            s.ranges()
                .iter()
                .map(|&(a, b)| (base + u32::from(a), base + u32::from(b))),
        );
    }
    // In order: each part's ranges are, and the parts' bases ascend.
    let all = SvcSet::from_sorted_ranges(ranges);
    // `protocols` never holds 1, 6, 17 or 58; stay inside the universe anyway.
    all.intersection(svc_universe_ref())
}

/// The address set of `family` holding exactly `addrs`: the inverse of
/// [`addr_part`].
pub(crate) fn addr_set(addrs: &AddrIntervals, family: Family) -> AddrSet {
    match family {
        Family::V4 => AddrSet {
            // The v4 universe is 0..=u32::MAX, so the casts are exact.
            v4: IntervalSet::from_ranges(addrs.ranges().iter().map(|&(a, b)| (a as u32, b as u32))),
            v6: IntervalSet::empty(),
        },
        Family::V6 => AddrSet {
            v4: IntervalSet::empty(),
            v6: addrs.clone(),
        },
    }
}

/// The service set (never `any`; ICMP types in `family`'s field) holding
/// exactly `set`: the inverse of [`encode_service`], so that a box cut by
/// the algebra can be written back as protocols and ports.
pub(crate) fn decode_service(set: &SvcSet, family: Family) -> ServiceSet {
    // The coordinates between `base` and `base + max`, shifted down to 0.
    fn segment<T: Domain + TryFrom<u32>>(set: &SvcSet, base: u32, max: u32) -> IntervalSet<T>
    where
        <T as TryFrom<u32>>::Error: std::fmt::Debug,
    {
        let (lo, hi) = (base, base + max);
        IntervalSet::from_ranges(
            set.ranges()
                .iter()
                .filter(|&&(a, b)| a <= hi && b >= lo)
                .map(|&(a, b)| {
                    let cut =
                        |v: u32| T::try_from(v.clamp(lo, hi) - base).expect("inside the segment");
                    (cut(a), cut(b))
                }),
        )
    }
    let icmp = segment(set, svc::ICMP, 255);
    let (icmp4, icmp6) = match family {
        Family::V4 => (icmp, ByteSet::empty()),
        Family::V6 => (ByteSet::empty(), icmp),
    };
    ServiceSet {
        any: false,
        tcp: segment(set, svc::TCP, 65_535),
        udp: segment(set, svc::UDP, 65_535),
        icmp4,
        icmp6,
        protocols: segment(set, svc::OTHER, 255),
    }
}

/// The coordinate of a packet's protocol field.
pub(crate) fn encode_proto(p: Proto) -> u32 {
    match p {
        Proto::Tcp { dport } => svc::TCP + u32::from(dport),
        Proto::Udp { dport } => svc::UDP + u32::from(dport),
        Proto::Icmp { ty } => svc::ICMP + u32::from(ty),
        Proto::Other(n) => svc::OTHER + u32::from(n),
    }
}

/// The protocol field of a coordinate.
pub(crate) fn decode_proto(code: u32) -> Proto {
    // The casts are exact: each branch's offset fits its field.
    if code < svc::UDP {
        Proto::Tcp {
            dport: (code - svc::TCP) as u16,
        }
    } else if code < svc::ICMP {
        Proto::Udp {
            dport: (code - svc::UDP) as u16,
        }
    } else if code < svc::OTHER {
        Proto::Icmp {
            ty: (code - svc::ICMP) as u8,
        }
    } else {
        Proto::Other((code - svc::OTHER) as u8)
    }
}

fn family_of(addr: IpAddr) -> Family {
    match addr {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}

fn addr_value(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn addr_of(family: Family, v: u128) -> IpAddr {
    match family {
        // The v4 universe is 0..=u32::MAX, so the cast is exact.
        Family::V4 => IpAddr::V4(Ipv4Addr::from(v as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

/// One box: every packet of `family` with source in `src`, destination in
/// `dst` and service coordinate in `svc`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cube {
    pub family: Family,
    pub src: AddrIntervals,
    pub dst: AddrIntervals,
    pub svc: SvcSet,
}

impl Cube {
    /// The whole universe of one family.
    pub(crate) fn universe(family: Family) -> Self {
        Self {
            family,
            src: addr_universe(family),
            dst: addr_universe(family),
            svc: svc_universe(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.src.is_empty() || self.dst.is_empty() || self.svc.is_empty()
    }

    /// `src × dst × service` in one family.
    pub fn of(family: Family, src: &AddrSet, dst: &AddrSet, service: &ServiceSet) -> Self {
        Self {
            family,
            src: addr_part(src, family),
            dst: addr_part(dst, family),
            svc: encode_service(service, family),
        }
    }

    /// The box as the sets it was made of ([`Cube::of`] in reverse):
    /// sources, destinations and services, all of the box's family.
    pub(crate) fn sets(&self) -> (AddrSet, AddrSet, ServiceSet) {
        (
            addr_set(&self.src, self.family),
            addr_set(&self.dst, self.family),
            decode_service(&self.svc, self.family),
        )
    }

    /// An empty box (no allocation), a placeholder.
    fn nothing() -> Self {
        Self {
            family: Family::V4,
            src: AddrIntervals::empty(),
            dst: AddrIntervals::empty(),
            svc: SvcSet::empty(),
        }
    }

    pub fn contains(&self, p: &Packet) -> bool {
        self.family == family_of(p.src)
            && family_of(p.dst) == self.family
            && self.src.contains(addr_value(p.src))
            && self.dst.contains(addr_value(p.dst))
            && self.svc.contains(encode_proto(p.proto))
    }

    fn overlaps(&self, o: &Self) -> bool {
        self.family == o.family
            && ranges_overlap(self.src.ranges(), o.src.ranges())
            && ranges_overlap(self.dst.ranges(), o.dst.ranges())
            && ranges_overlap(self.svc.ranges(), o.svc.ranges())
    }

    fn intersection(&self, o: &Self) -> Option<Self> {
        if !self.overlaps(o) {
            return None;
        }
        Some(Self {
            family: self.family,
            src: self.src.intersection(&o.src),
            dst: self.dst.intersection(&o.dst),
            svc: self.svc.intersection(&o.svc),
        })
    }

    /// `self − o` as at most three disjoint boxes, pushed onto `out`.
    fn difference_into(&self, o: &Self, out: &mut Vec<Self>) {
        if !self.overlaps(o) {
            out.push(self.clone());
            return;
        }
        let family = self.family;
        let src_out = self.src.difference(&o.src);
        if !src_out.is_empty() {
            out.push(Self {
                family,
                src: src_out,
                dst: self.dst.clone(),
                svc: self.svc.clone(),
            });
        }
        let src_in = self.src.intersection(&o.src);
        let dst_out = self.dst.difference(&o.dst);
        if !dst_out.is_empty() {
            out.push(Self {
                family,
                src: src_in.clone(),
                dst: dst_out,
                svc: self.svc.clone(),
            });
        }
        let svc_out = self.svc.difference(&o.svc);
        if !svc_out.is_empty() {
            out.push(Self {
                family,
                src: src_in,
                dst: self.dst.intersection(&o.dst),
                svc: svc_out,
            });
        }
    }

    /// A representative packet: a readable one where there is a choice
    /// (a host address rather than the network address, port 1 rather than
    /// port 0).
    pub fn sample(&self) -> Option<Packet> {
        if self.is_empty() {
            return None;
        }
        // Prefer addresses outside 0.0.0.0/8 and ::/3 (unspecified,
        // loopback, "this network"): a sample from `any` reads 1.0.0.1 or
        // 2000::1, not 0.0.0.1 or ::1.
        let floor = match self.family {
            Family::V4 => 0x0100_0000,
            Family::V6 => 0x2000_u128 << 112,
        };
        let pick_addr = |s: &AddrIntervals| {
            let (lo, hi) = s
                .ranges()
                .iter()
                .find(|&&(_, hi)| hi >= floor)
                .map_or(s.ranges()[0], |&(lo, hi)| (lo.max(floor), hi));
            if hi > lo && lo % 2 == 0 { lo + 1 } else { lo }
        };
        let (lo, hi) = self.svc.ranges()[0];
        let code = if (lo == svc::TCP || lo == svc::UDP) && hi > lo {
            lo + 1
        } else {
            lo
        };
        Some(Packet {
            src: addr_of(self.family, pick_addr(&self.src)),
            dst: addr_of(self.family, pick_addr(&self.dst)),
            proto: decode_proto(code),
        })
    }
}

/// A set of packets: a union of pairwise disjoint, non-empty boxes.
///
/// Equality of two spaces is set equality only after [`Space::same_as`]
/// (the box decomposition is not canonical).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Space {
    cubes: Vec<Cube>,
}

impl Space {
    pub fn empty() -> Self {
        Self::default()
    }

    /// Every packet of both families.
    pub(crate) fn universe() -> Self {
        Self {
            cubes: vec![Cube::universe(Family::V4), Cube::universe(Family::V6)],
        }
    }

    pub(crate) fn from_cube(c: Cube) -> Self {
        if c.is_empty() {
            Self::empty()
        } else {
            Self { cubes: vec![c] }
        }
    }

    /// `src × dst × service`, over both families.
    pub fn from_parts(src: &AddrSet, dst: &AddrSet, service: &ServiceSet) -> Self {
        // A family without sources or destinations has an empty box:
        // not built (most entries are of one family).
        let has = |a: &AddrSet, family: Family| match family {
            Family::V4 => !a.v4.is_empty(),
            Family::V6 => !a.v6.is_empty(),
        };
        let cubes = [Family::V4, Family::V6]
            .into_iter()
            .filter(|&family| has(src, family) && has(dst, family))
            .map(|family| Cube::of(family, src, dst, service))
            .filter(|c| !c.is_empty())
            .collect();
        Self { cubes }
    }

    /// Every packet `rule` matches (exactly [`Rule::matches`] on the universe).
    pub fn of_rule(rule: &Rule) -> Self {
        Self::from_parts(&rule.src.addrs, &rule.dst.addrs, &rule.service.set)
    }

    /// Every packet between two address sets, any service.
    pub fn between(src: &AddrSet, dst: &AddrSet) -> Self {
        Self::from_parts(src, dst, &ServiceSet::any())
    }

    pub fn cubes(&self) -> &[Cube] {
        &self.cubes
    }

    pub fn is_empty(&self) -> bool {
        self.cubes.is_empty()
    }

    pub fn contains(&self, p: &Packet) -> bool {
        self.cubes.iter().any(|c| c.contains(p))
    }

    pub fn overlaps(&self, o: &Self) -> bool {
        self.cubes
            .iter()
            .any(|a| o.cubes.iter().any(|b| a.overlaps(b)))
    }

    pub fn intersection(&self, o: &Self) -> Self {
        let mut cubes = Vec::new();
        for a in &self.cubes {
            for b in &o.cubes {
                if let Some(c) = a.intersection(b) {
                    cubes.push(c);
                }
            }
        }
        Self { cubes }.coalesced()
    }

    pub fn difference(&self, o: &Self) -> Self {
        if !self.overlaps(o) {
            return self.clone();
        }
        let mut cur = self.cubes.clone();
        for b in &o.cubes {
            if cur.is_empty() {
                break;
            }
            let mut next = Vec::with_capacity(cur.len());
            for a in &cur {
                a.difference_into(b, &mut next);
            }
            cur = next;
        }
        Self { cubes: cur }.coalesced()
    }

    /// `self − o` without re-merging boxes: cheaper for a long series of
    /// subtractions, followed by one [`Space::compact`].
    pub(crate) fn difference_raw(&self, o: &Self) -> Self {
        if !self.overlaps(o) {
            return self.clone();
        }
        self.clone().difference_raw_owned(o)
    }

    /// [`Space::difference_raw`], consuming `self`: a series of
    /// subtractions (the sweep) does not copy the remainder each time.
    pub(crate) fn difference_raw_owned(self, o: &Self) -> Self {
        if !self.overlaps(o) {
            return self;
        }
        let mut cur = self.cubes;
        for b in &o.cubes {
            let mut next = Vec::with_capacity(cur.len());
            for a in cur {
                // A box `b` misses moves on as it is: cloning it (what
                // `difference_into` does) was a third of the sweep's time.
                if a.overlaps(b) {
                    a.difference_into(b, &mut next);
                } else {
                    next.push(a);
                }
            }
            cur = next;
        }
        Self { cubes: cur }
    }

    /// `self` minus each of `others` in turn, as the first-match sweep needs
    /// it: boxes are merged only when their count has doubled since the
    /// last merge (merging after every subtraction costs more than it
    /// saves), and once at the end. Stops early once nothing is left.
    ///
    /// The result is exactly that of [`Space::difference_raw_owned`] in a
    /// loop with those merges: the boxes a subtraction produces, and so what
    /// a merge makes of them, do not depend on the order they are kept in
    /// (see [`Fragments`]).
    pub(crate) fn minus_each<'a>(self, others: impl IntoIterator<Item = &'a Space>) -> Self {
        let mut rest = Fragments::new(self.cubes);
        let mut merged_len = 1;
        for o in others {
            if rest.cubes.is_empty() {
                break;
            }
            for b in &o.cubes {
                rest.subtract(b);
            }
            if rest.cubes.len() > 2 * merged_len {
                rest = Fragments::new(Self { cubes: rest.cubes }.coalesced().cubes);
                merged_len = rest.cubes.len().max(1);
            }
        }
        Self { cubes: rest.cubes }.coalesced()
    }

    /// The same set with boxes merged where two dimensions agree.
    pub(crate) fn compact(self) -> Self {
        self.coalesced()
    }

    pub fn union(&self, o: &Self) -> Self {
        let mut cubes = self.cubes.clone();
        cubes.extend(o.difference(self).cubes);
        Self { cubes }.coalesced()
    }

    /// Splits `self` into (`self ∩ o`, `self − o`) in one pass.
    pub(crate) fn split(&self, o: &Self) -> (Self, Self) {
        (self.intersection(o), self.difference(o))
    }

    pub fn is_subset(&self, o: &Self) -> bool {
        self.difference(o).is_empty()
    }

    /// Set equality.
    pub fn same_as(&self, o: &Self) -> bool {
        self.is_subset(o) && o.is_subset(self)
    }

    /// A representative packet (from the first box), if not empty.
    pub fn sample(&self) -> Option<Packet> {
        self.cubes.first().and_then(Cube::sample)
    }

    /// Merges boxes that agree on two dimensions (their union is then one
    /// box), repeating until nothing merges, and orders boxes canonically.
    /// Keeps spaces small through long first-match sweeps; the result is the
    /// same set of packets, and depends only on the boxes, not their order.
    fn coalesced(self) -> Self {
        if self.cubes.len() < 2 {
            return self;
        }
        let mut boxes: Vec<Printed> = self.cubes.into_iter().map(Printed::new).collect();
        loop {
            let before = boxes.len();
            for dim in [Dim::Src, Dim::Dst, Dim::Svc] {
                boxes = merge_along(boxes, dim);
            }
            if boxes.len() == before {
                break;
            }
        }
        let mut cubes: Vec<Cube> = boxes.into_iter().map(|b| b.cube).collect();
        cubes.sort();
        Self { cubes }
    }
}

/// A dimension of a box.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dim {
    Src,
    Dst,
    Svc,
}

impl Dim {
    fn index(self) -> usize {
        match self {
            Dim::Src => 0,
            Dim::Dst => 1,
            Dim::Svc => 2,
        }
    }
}

/// A box with a fingerprint of each of its three sets, so that grouping
/// boxes by two of their sets does not re-read sets of hundreds of ranges
/// on every pass.
struct Printed {
    cube: Cube,
    prints: [u64; 3],
}

impl Printed {
    fn new(cube: Cube) -> Self {
        let prints = [
            set_print(&cube.src),
            set_print(&cube.dst),
            set_print(&cube.svc),
        ];
        Self { cube, prints }
    }

    /// A fingerprint of everything but `dim`: equal for boxes that agree
    /// there, almost never equal otherwise.
    fn print_without(&self, dim: Dim) -> u64 {
        let mut h = u64::from(self.cube.family == Family::V6);
        for (d, &p) in self.prints.iter().enumerate() {
            if d != dim.index() {
                h = mix(h, p);
            }
        }
        h
    }

    /// Whether two boxes agree on everything but `dim`.
    fn agrees_without(&self, o: &Self, dim: Dim) -> bool {
        let (a, b) = (&self.cube, &o.cube);
        a.family == b.family
            && (dim == Dim::Src || a.src == b.src)
            && (dim == Dim::Dst || a.dst == b.dst)
            && (dim == Dim::Svc || a.svc == b.svc)
    }
}

fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95)
}

/// A fingerprint of a set: one multiply per word, far cheaper than the
/// standard hasher.
fn set_print<T: Domain>(s: &IntervalSet<T>) -> u64 {
    let mut h = s.ranges().len() as u64;
    for &(lo, hi) in s.ranges() {
        for v in [lo.to_u128(), hi.to_u128()] {
            h = mix(mix(h, v as u64), (v >> 64) as u64);
        }
    }
    h
}

/// Unites boxes that agree on everything but `dim` (disjoint boxes with the
/// same other two dimensions unite into one box). The order of the result
/// is unspecified ([`Space::coalesced`] sorts at the end), which allows
/// grouping by fingerprint rather than in a sorted map keyed by copies of
/// the sets (the copies were a fifth of the sweep's time).
fn merge_along(boxes: Vec<Printed>, dim: Dim) -> Vec<Printed> {
    let leader = leaders(&boxes, dim);
    let mut members = vec![0usize; boxes.len()];
    for &l in &leader {
        members[l] += 1;
    }
    if members.iter().all(|&m| m <= 1) {
        return boxes;
    }
    // Per group of several boxes, their `dim` ranges: one canonical set
    // from all of them is the same set as uniting the boxes one by one.
    let mut ranges: Vec<Vec<(u128, u128)>> = vec![Vec::new(); boxes.len()];
    let mut svc_ranges: Vec<Vec<(u32, u32)>> = vec![Vec::new(); boxes.len()];
    let mut out: Vec<Printed> = Vec::new();
    let mut slot = vec![usize::MAX; boxes.len()];
    for (i, b) in boxes.into_iter().enumerate() {
        let l = leader[i];
        if members[l] > 1 {
            let c = &b.cube;
            match dim {
                Dim::Src => ranges[l].extend_from_slice(c.src.ranges()),
                Dim::Dst => ranges[l].extend_from_slice(c.dst.ranges()),
                Dim::Svc => svc_ranges[l].extend_from_slice(c.svc.ranges()),
            }
        }
        if l == i {
            slot[i] = out.len();
            out.push(b);
        }
    }
    for (l, &at) in slot.iter().enumerate() {
        if at == usize::MAX || members[l] < 2 {
            continue;
        }
        let b = &mut out[at];
        let c = &mut b.cube;
        b.prints[dim.index()] = match dim {
            Dim::Src => {
                c.src = AddrIntervals::from_ranges(std::mem::take(&mut ranges[l]));
                set_print(&c.src)
            }
            Dim::Dst => {
                c.dst = AddrIntervals::from_ranges(std::mem::take(&mut ranges[l]));
                set_print(&c.dst)
            }
            Dim::Svc => {
                c.svc = SvcSet::from_ranges(std::mem::take(&mut svc_ranges[l]));
                set_print(&c.svc)
            }
        };
    }
    out
}

/// Per box, the first box that agrees with it on everything but `dim`.
/// Boxes are grouped by fingerprint; sets are compared only within one.
fn leaders(boxes: &[Printed], dim: Dim) -> Vec<usize> {
    use std::collections::hash_map::Entry;
    // Fingerprint → first leader with it; `next[l]`: the next leader with
    // the same fingerprint.
    let mut head: std::collections::HashMap<u64, usize, rustc_hash::FxBuildHasher> =
        std::collections::HashMap::with_capacity_and_hasher(boxes.len(), Default::default());
    let mut next = vec![usize::MAX; boxes.len()];
    let mut leader = Vec::with_capacity(boxes.len());
    for (i, b) in boxes.iter().enumerate() {
        match head.entry(b.print_without(dim)) {
            Entry::Vacant(v) => {
                v.insert(i);
                leader.push(i);
            }
            Entry::Occupied(o) => {
                let mut l = *o.get();
                loop {
                    if boxes[l].agrees_without(b, dim) {
                        leader.push(l);
                        break;
                    }
                    if next[l] == usize::MAX {
                        next[l] = i;
                        leader.push(i);
                        break;
                    }
                    l = next[l];
                }
            }
        }
    }
    leader
}

/// Whether two sorted lists of disjoint ranges share a value. A long list
/// against a short one (a remainder that lost hundreds of sources against
/// one rule's few) is searched, not merged.
fn ranges_overlap<T: Ord + Copy>(a: &[(T, T)], b: &[(T, T)]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.len() * 8 < long.len() {
        return short.iter().any(|&(lo, hi)| {
            // The first range of `long` ending at or after `lo`.
            let i = long.partition_point(|&(_, h)| h < lo);
            long.get(i).is_some_and(|&(l, _)| l <= hi)
        });
    }
    let (mut i, mut j) = (0, 0);
    while i < short.len() && j < long.len() {
        let (a_lo, a_hi) = short[i];
        let (b_lo, b_hi) = long[j];
        if a_lo.max(b_lo) <= a_hi.min(b_hi) {
            return true;
        }
        if a_hi < b_hi {
            i += 1;
        } else {
            j += 1;
        }
    }
    false
}

/// The smallest box around a cube (lowest and highest value per
/// dimension): most pairs of boxes are told apart by these alone, without
/// reading their interval sets.
#[derive(Clone, Copy, Debug)]
struct Bounds {
    family: Family,
    src: (u128, u128),
    dst: (u128, u128),
    svc: (u32, u32),
}

impl Bounds {
    fn of(c: &Cube) -> Self {
        fn span<T: Copy + From<u8>>(r: &[(T, T)]) -> (T, T) {
            match (r.first(), r.last()) {
                (Some(f), Some(l)) => (f.0, l.1),
                // An empty set meets nothing: an inverted span.
                _ => (T::from(1), T::from(0)),
            }
        }
        Self {
            family: c.family,
            src: span(c.src.ranges()),
            dst: span(c.dst.ranges()),
            svc: span(c.svc.ranges()),
        }
    }

    fn meets(&self, o: &Self) -> bool {
        self.family == o.family
            && self.src.0 <= o.src.1
            && o.src.0 <= self.src.1
            && self.dst.0 <= o.dst.1
            && o.dst.0 <= self.dst.1
            && self.svc.0 <= o.svc.1
            && o.svc.0 <= self.svc.1
    }
}

/// Disjoint boxes being cut down by a series of subtractions, each with its
/// [`Bounds`] alongside (scanning those is cheap; reading every box's sets
/// for every subtraction is what made wide rules slow).
///
/// A subtraction replaces each box `a` that meets the subtracted box by the
/// pieces of `a − b` ([`Cube::difference_into`]), in place or at the end:
/// the order of boxes changes, the set of boxes is exactly that of
/// [`Space::difference_raw_owned`], and [`Space::coalesced`] does not
/// depend on the order.
struct Fragments {
    cubes: Vec<Cube>,
    bounds: Vec<Bounds>,
}

impl Fragments {
    fn new(cubes: Vec<Cube>) -> Self {
        let bounds = cubes.iter().map(Bounds::of).collect();
        Self { cubes, bounds }
    }

    fn subtract(&mut self, b: &Cube) {
        let bb = Bounds::of(b);
        let n = self.cubes.len();
        let mut pieces = Vec::new();
        let mut emptied = false;
        for i in 0..n {
            if !self.bounds[i].meets(&bb) || !self.cubes[i].overlaps(b) {
                continue;
            }
            pieces.clear();
            self.cubes[i].difference_into(b, &mut pieces);
            let mut rest = pieces.drain(..);
            match rest.next() {
                Some(first) => {
                    self.bounds[i] = Bounds::of(&first);
                    self.cubes[i] = first;
                }
                None => {
                    // Nothing left of this box: emptied below.
                    self.cubes[i] = Cube::nothing();
                    emptied = true;
                }
            }
            for c in rest {
                self.bounds.push(Bounds::of(&c));
                self.cubes.push(c);
            }
        }
        if emptied {
            let keep: Vec<bool> = self.cubes.iter().map(|c| !c.is_empty()).collect();
            let mut k = keep.iter();
            self.cubes.retain(|_| *k.next().expect("one flag per box"));
            let mut k = keep.iter();
            self.bounds.retain(|_| *k.next().expect("one flag per box"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A small domain where every point can be enumerated: addresses 0..8
    /// plus one value (100) standing for "everything else", the same for
    /// service coordinates around each protocol's base.
    const ADDRS: [u128; 9] = [0, 1, 2, 3, 4, 5, 6, 7, 100];
    const SVCS: [u32; 9] = [
        svc::TCP,
        svc::TCP + 1,
        svc::TCP + 2,
        svc::UDP + 1,
        svc::UDP + 2,
        svc::ICMP + 8,
        svc::OTHER + 47,
        svc::OTHER + 50,
        svc::TCP + 100,
    ];

    fn points() -> impl Iterator<Item = (Family, u128, u128, u32)> {
        [Family::V4, Family::V6].into_iter().flat_map(|f| {
            ADDRS.into_iter().flat_map(move |s| {
                ADDRS
                    .into_iter()
                    .flat_map(move |d| SVCS.into_iter().map(move |v| (f, s, d, v)))
            })
        })
    }

    fn has(space: &Space, (f, s, d, v): (Family, u128, u128, u32)) -> bool {
        space.contains(&Packet {
            src: addr_of(f, s),
            dst: addr_of(f, d),
            proto: decode_proto(v),
        })
    }

    fn arb_addrs() -> impl Strategy<Value = AddrIntervals> {
        prop::collection::vec((0u128..8, 0u128..8), 0..3).prop_map(|r| {
            AddrIntervals::from_ranges(r.into_iter().map(|(a, b)| (a.min(b), a.max(b))))
        })
    }

    fn arb_svc() -> impl Strategy<Value = SvcSet> {
        prop::collection::vec(prop::sample::select(SVCS.to_vec()), 0..4)
            .prop_map(|v| SvcSet::from_ranges(v.into_iter().map(|c| (c, c))))
    }

    fn arb_cube() -> impl Strategy<Value = Cube> {
        (
            prop::bool::ANY,
            arb_addrs(),
            arb_addrs(),
            arb_svc(),
            prop::bool::ANY,
        )
            .prop_map(|(v6, src, dst, svc, any_src)| Cube {
                family: if v6 { Family::V6 } else { Family::V4 },
                src: if any_src {
                    addr_universe(if v6 { Family::V6 } else { Family::V4 })
                } else {
                    src
                },
                dst,
                svc,
            })
    }

    fn arb_space() -> impl Strategy<Value = Space> {
        prop::collection::vec(arb_cube(), 0..4).prop_map(|cs| {
            cs.into_iter()
                .fold(Space::empty(), |acc, c| acc.union(&Space::from_cube(c)))
        })
    }

    fn disjoint(s: &Space) -> bool {
        let c = s.cubes();
        (0..c.len()).all(|i| (i + 1..c.len()).all(|j| !c[i].overlaps(&c[j])))
            && c.iter().all(|x| !x.is_empty())
    }

    /// Service coordinates as ranges anywhere in the universe, so that
    /// ranges cross the TCP/UDP/ICMP/other boundaries.
    fn arb_wide_svc() -> impl Strategy<Value = SvcSet> {
        prop::collection::vec((0..=svc::MAX, 0..=svc::MAX), 0..4).prop_map(|r| {
            SvcSet::from_ranges(r.into_iter().map(|(a, b)| (a.min(b), a.max(b))))
                .intersection(&svc_universe())
        })
    }

    proptest! {
        #[test]
        fn a_box_is_rebuilt_from_its_sets(c in arb_cube(), svc in arb_wide_svc()) {
            let c = Cube { svc, ..c };
            let (src, dst, service) = c.sets();
            prop_assert!(!service.any);
            prop_assert_eq!(Cube::of(c.family, &src, &dst, &service), c);
        }

        #[test]
        fn operations_match_pointwise_oracle(a in arb_space(), b in arb_space()) {
            let (u, i, d) = (a.union(&b), a.intersection(&b), a.difference(&b));
            let (si, sd) = a.split(&b);
            for s in [&a, &b, &u, &i, &d, &si, &sd] {
                prop_assert!(disjoint(s), "boxes overlap or are empty: {:?}", s);
            }
            for p in points() {
                let (x, y) = (has(&a, p), has(&b, p));
                prop_assert_eq!(has(&u, p), x || y, "union at {:?}", p);
                prop_assert_eq!(has(&i, p), x && y, "intersection at {:?}", p);
                prop_assert_eq!(has(&d, p), x && !y, "difference at {:?}", p);
                prop_assert_eq!(has(&si, p), x && y);
                prop_assert_eq!(has(&sd, p), x && !y);
            }
            let any_common = points().any(|p| has(&a, p) && has(&b, p));
            prop_assert_eq!(a.overlaps(&b), any_common);
            prop_assert_eq!(i.is_empty(), !any_common);
            prop_assert_eq!(a.is_subset(&b), points().all(|p| !has(&a, p) || has(&b, p)));
        }

        #[test]
        fn sample_is_a_member(a in arb_space()) {
            match a.sample() {
                Some(p) => prop_assert!(a.contains(&p)),
                None => prop_assert!(a.is_empty()),
            }
        }

        #[test]
        fn universe_minus_space_complements(a in arb_space()) {
            let c = Space::universe().difference(&a);
            for p in points() {
                prop_assert_eq!(has(&c, p), !has(&a, p));
            }
            prop_assert!(c.union(&a).same_as(&Space::universe()));
        }

        /// Samples (and so the analysis' output) depend on the exact boxes
        /// of a space, not only its set: `minus_each` (boxes kept with
        /// bounds, merged by fingerprint) gives exactly the boxes of the
        /// plain loop it replaced, subtracting and merging in a sorted map.
        #[test]
        fn minus_each_keeps_the_boxes_of_the_plain_loop(
            a in prop_oneof![Just(Space::universe()), arb_space()],
            others in prop::collection::vec(arb_space(), 0..16),
        ) {
            let mut plain = a.clone();
            let mut merged_len = 1;
            for o in &others {
                if plain.is_empty() {
                    break;
                }
                plain = plain.difference_raw_owned(o);
                if plain.cubes.len() > 2 * merged_len {
                    plain = map_coalesced(plain);
                    merged_len = plain.cubes.len().max(1);
                }
            }
            let plain = map_coalesced(plain);
            prop_assert_eq!(a.minus_each(&others).cubes, plain.cubes);
        }

        /// The same for merging alone, on spaces cut into many boxes.
        #[test]
        fn coalesced_keeps_the_boxes_of_the_map_merge(
            a in prop_oneof![Just(Space::universe()), arb_space()],
            others in prop::collection::vec(arb_space(), 0..10),
        ) {
            let cut = others.iter().fold(a, |acc, o| acc.difference_raw_owned(o));
            prop_assert_eq!(cut.clone().coalesced().cubes, map_coalesced(cut).cubes);
        }
    }

    /// The merge `coalesced` replaced: boxes grouped in a sorted map keyed
    /// by copies of the two other dimensions, until nothing merges.
    fn map_coalesced(mut s: Space) -> Space {
        fn merge_on<K: Ord>(
            cubes: Vec<Cube>,
            key: impl Fn(&Cube) -> K,
            merge: impl Fn(&mut Cube, &Cube),
        ) -> Vec<Cube> {
            let mut groups: BTreeMap<K, Cube> = BTreeMap::new();
            for c in cubes {
                match groups.entry(key(&c)) {
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(c);
                    }
                    std::collections::btree_map::Entry::Occupied(mut o) => merge(o.get_mut(), &c),
                }
            }
            groups.into_values().collect()
        }
        if s.cubes.len() < 2 {
            return s;
        }
        loop {
            let before = s.cubes.len();
            s.cubes = merge_on(
                s.cubes,
                |c| (c.family, c.dst.clone(), c.svc.clone()),
                |a, b| {
                    a.src = a.src.union(&b.src);
                },
            );
            s.cubes = merge_on(
                s.cubes,
                |c| (c.family, c.src.clone(), c.svc.clone()),
                |a, b| {
                    a.dst = a.dst.union(&b.dst);
                },
            );
            s.cubes = merge_on(
                s.cubes,
                |c| (c.family, c.src.clone(), c.dst.clone()),
                |a, b| {
                    a.svc = a.svc.union(&b.svc);
                },
            );
            if s.cubes.len() == before {
                break;
            }
        }
        s.cubes.sort();
        s
    }

    #[test]
    fn service_coordinates_round_trip() {
        for p in [
            Proto::Tcp { dport: 0 },
            Proto::Tcp { dport: 65535 },
            Proto::Udp { dport: 0 },
            Proto::Udp { dport: 65535 },
            Proto::Icmp { ty: 0 },
            Proto::Icmp { ty: 255 },
            Proto::Other(0),
            Proto::Other(255),
        ] {
            assert_eq!(decode_proto(encode_proto(p)), p);
        }
        assert_eq!(svc_universe().len(), 65536 * 2 + 256 + 256 - 4);
        assert_eq!(
            encode_service(&ServiceSet::any(), Family::V4),
            encode_service(&ServiceSet::any().expanded(), Family::V4),
            "`any` is exactly the expanded universe"
        );
    }

    #[test]
    fn icmp_types_are_per_family() {
        let set = ServiceSet {
            icmp4: IntervalSet::single(8),
            ..ServiceSet::default()
        };
        let any = AddrSet::any();
        let s = Space::from_parts(&any, &any, &set);
        let v4 = Packet::parse("10.0.0.1", "10.0.0.2", "icmp/8").unwrap();
        let v6 = Packet::parse("fd00::1", "fd00::2", "icmpv6/8").unwrap();
        assert!(s.contains(&v4));
        assert!(
            !s.contains(&v6),
            "an icmp4 type never matches an IPv6 packet"
        );
    }

    #[test]
    fn space_of_rule_agrees_with_rule_matches_on_edges() {
        let src = AddrSet::from_net("10.0.0.0/30".parse().unwrap());
        let dst = AddrSet::from_net("fd00::/127".parse().unwrap())
            .union(&AddrSet::from_addr("10.9.9.9".parse().unwrap()));
        let set = ServiceSet {
            tcp: IntervalSet::range(80, 443),
            protocols: IntervalSet::single(47),
            ..ServiceSet::default()
        };
        let s = Space::from_parts(&src, &dst, &set);
        let yes = [
            ("10.0.0.0", "10.9.9.9", "tcp/80"),
            ("10.0.0.3", "10.9.9.9", "tcp/443"),
            ("10.0.0.1", "10.9.9.9", "gre"),
        ];
        let no = [
            ("10.0.0.4", "10.9.9.9", "tcp/80"),
            ("10.0.0.0", "10.9.9.8", "tcp/80"),
            ("10.0.0.0", "10.9.9.9", "tcp/444"),
            ("10.0.0.0", "10.9.9.9", "udp/80"),
            ("fd00::", "fd00::1", "tcp/80"),
        ];
        for (a, b, p) in yes {
            assert!(s.contains(&Packet::parse(a, b, p).unwrap()), "{a} {b} {p}");
        }
        for (a, b, p) in no {
            assert!(!s.contains(&Packet::parse(a, b, p).unwrap()), "{a} {b} {p}");
        }
    }
}
