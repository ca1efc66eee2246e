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
//! The universe is every packet [`crate::ir::Packet::parse`] can produce:
//! TCP and UDP with any destination port, ICMP (ICMPv4 for IPv4, ICMPv6 for
//! IPv6) with any type, and every other IP protocol number except 1, 6, 17
//! and 58 (which are TCP, UDP and the ICMPs). This is the same universe as
//! [`ServiceSet::expanded`], so `any` is the whole universe.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::addrset::{AddrSet, IntervalSet};
use crate::ir::{Family, Packet, Proto, Rule, ServiceSet, proto};

/// The folded service coordinate.
pub mod svc {
    /// TCP destination port `p` is `TCP + p`.
    pub const TCP: u32 = 0;
    /// UDP destination port `p` is `UDP + p`.
    pub const UDP: u32 = 65_536;
    /// ICMP type `t` (of the packet's family) is `ICMP + t`.
    pub const ICMP: u32 = 131_072;
    /// Other IP protocol `n` is `OTHER + n`.
    pub const OTHER: u32 = 131_328;
    /// The largest coordinate.
    pub const MAX: u32 = OTHER + 255;
}

/// Addresses of one family, as integers (IPv4 in `0..=u32::MAX`).
pub type AddrIntervals = IntervalSet<u128>;
/// Service coordinates (see [`svc`]).
pub type SvcSet = IntervalSet<u32>;

/// Every service coordinate of the universe.
pub fn svc_universe() -> SvcSet {
    let special = [proto::ICMP, proto::TCP, proto::UDP, proto::ICMPV6]
        .map(|p| (svc::OTHER + u32::from(p), svc::OTHER + u32::from(p)));
    SvcSet::range(0, svc::MAX).difference(&SvcSet::from_ranges(special))
}

/// Every address of a family.
pub fn addr_universe(family: Family) -> AddrIntervals {
    match family {
        Family::V4 => AddrIntervals::range(0, u128::from(u32::MAX)),
        Family::V6 => AddrIntervals::full(),
    }
}

/// The addresses of `set` in `family`, widened to `u128`.
pub fn addr_part(set: &AddrSet, family: Family) -> AddrIntervals {
    match family {
        Family::V4 => AddrIntervals::from_ranges(
            set.v4
                .ranges()
                .iter()
                .map(|&(a, b)| (u128::from(a), u128::from(b))),
        ),
        Family::V6 => set.v6.clone(),
    }
}

/// The part of a service set a packet of `family` can match, folded.
pub fn encode_service(set: &ServiceSet, family: Family) -> SvcSet {
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
    let all = SvcSet::from_ranges(ranges);
    // `protocols` never holds 1, 6, 17 or 58; stay inside the universe anyway.
    all.intersection(&svc_universe())
}

/// The coordinate of a packet's protocol field.
pub fn encode_proto(p: Proto) -> u32 {
    match p {
        Proto::Tcp { dport } => svc::TCP + u32::from(dport),
        Proto::Udp { dport } => svc::UDP + u32::from(dport),
        Proto::Icmp { ty } => svc::ICMP + u32::from(ty),
        Proto::Other(n) => svc::OTHER + u32::from(n),
    }
}

/// The protocol field of a coordinate.
pub fn decode_proto(code: u32) -> Proto {
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
    pub fn universe(family: Family) -> Self {
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

    pub fn contains(&self, p: &Packet) -> bool {
        self.family == family_of(p.src)
            && family_of(p.dst) == self.family
            && self.src.contains(addr_value(p.src))
            && self.dst.contains(addr_value(p.dst))
            && self.svc.contains(encode_proto(p.proto))
    }

    fn overlaps(&self, o: &Self) -> bool {
        self.family == o.family
            && self.src.overlaps(&o.src)
            && self.dst.overlaps(&o.dst)
            && self.svc.overlaps(&o.svc)
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
    pub fn universe() -> Self {
        Self {
            cubes: vec![Cube::universe(Family::V4), Cube::universe(Family::V6)],
        }
    }

    pub fn from_cube(c: Cube) -> Self {
        if c.is_empty() {
            Self::empty()
        } else {
            Self { cubes: vec![c] }
        }
    }

    /// `src × dst × service`, over both families.
    pub fn from_parts(src: &AddrSet, dst: &AddrSet, service: &ServiceSet) -> Self {
        let cubes = [Family::V4, Family::V6]
            .into_iter()
            .map(|family| Cube {
                family,
                src: addr_part(src, family),
                dst: addr_part(dst, family),
                svc: encode_service(service, family),
            })
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
    pub fn difference_raw(&self, o: &Self) -> Self {
        if !self.overlaps(o) {
            return self.clone();
        }
        self.clone().difference_raw_owned(o)
    }

    /// [`Space::difference_raw`], consuming `self`: a series of
    /// subtractions (the sweep) does not copy the remainder each time.
    pub fn difference_raw_owned(self, o: &Self) -> Self {
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

    /// The same set with boxes merged where two dimensions agree.
    pub fn compact(self) -> Self {
        self.coalesced()
    }

    pub fn union(&self, o: &Self) -> Self {
        let mut cubes = self.cubes.clone();
        cubes.extend(o.difference(self).cubes);
        Self { cubes }.coalesced()
    }

    /// Splits `self` into (`self ∩ o`, `self − o`) in one pass.
    pub fn split(&self, o: &Self) -> (Self, Self) {
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
    /// same set of packets.
    fn coalesced(mut self) -> Self {
        if self.cubes.len() < 2 {
            return self;
        }
        loop {
            let before = self.cubes.len();
            self.cubes = merge_on(
                self.cubes,
                |c| (c.family, c.dst.clone(), c.svc.clone()),
                |a, b| {
                    a.src = a.src.union(&b.src);
                },
            );
            self.cubes = merge_on(
                self.cubes,
                |c| (c.family, c.src.clone(), c.svc.clone()),
                |a, b| {
                    a.dst = a.dst.union(&b.dst);
                },
            );
            self.cubes = merge_on(
                self.cubes,
                |c| (c.family, c.src.clone(), c.dst.clone()),
                |a, b| {
                    a.svc = a.svc.union(&b.svc);
                },
            );
            if self.cubes.len() == before {
                break;
            }
        }
        self.cubes.sort();
        self
    }
}

/// Groups boxes by `key` and folds each group with `merge` (disjoint boxes
/// that agree on the key's two dimensions unite into one box).
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    proptest! {
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
        let v6 = Packet::parse("fd00::1", "fd00::2", "icmp/8").unwrap();
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
