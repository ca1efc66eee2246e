//! Interval sets: the set arithmetic behind zones, classes and services.
//!
//! A zone owns the addresses its prefixes cover *minus* the more specific
//! prefixes of other zones, and the residual zone owns the complement of all
//! other zones. `ipnet` can aggregate CIDR lists but cannot subtract, so the
//! sets here are sorted lists of disjoint inclusive intervals over the raw
//! integer value of an address (or a port, or an ICMP type), with linear
//! merge-based union, intersection and difference, and a conversion back to
//! the minimal list of CIDRs.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Serialize;

/// An unsigned integer domain an [`IntervalSet`] ranges over.
pub trait Domain: Copy + Ord + fmt::Debug {
    const MIN: Self;
    const MAX: Self;
    /// Width in bits, used for CIDR conversion.
    const BITS: u32;
    fn to_u128(self) -> u128;
    fn from_u128(v: u128) -> Self;
}

macro_rules! domain {
    ($($t:ty),*) => {$(
        impl Domain for $t {
            const MIN: Self = <$t>::MIN;
            const MAX: Self = <$t>::MAX;
            const BITS: u32 = <$t>::BITS;
            fn to_u128(self) -> u128 { self as u128 }
            fn from_u128(v: u128) -> Self { v as $t }
        }
    )*};
}
domain!(u8, u16, u32, u128);

/// A set of values stored as sorted, disjoint, non-adjacent inclusive ranges.
///
/// The representation is canonical: two sets are equal exactly when their
/// range lists are equal, which keeps output deterministic.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IntervalSet<T> {
    ranges: Vec<(T, T)>,
}

impl<T: Domain> Default for IntervalSet<T> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<T: Domain> fmt::Debug for IntervalSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.ranges.iter().map(|(a, b)| {
                if a == b {
                    format!("{a:?}")
                } else {
                    format!("{a:?}-{b:?}")
                }
            }))
            .finish()
    }
}

impl<T: Domain> IntervalSet<T> {
    pub const fn empty() -> Self {
        Self { ranges: Vec::new() }
    }

    pub(crate) fn full() -> Self {
        Self::range(T::MIN, T::MAX)
    }

    /// The inclusive range `lo..=hi`; empty when `lo > hi`.
    pub fn range(lo: T, hi: T) -> Self {
        if lo > hi {
            return Self::empty();
        }
        Self {
            ranges: vec![(lo, hi)],
        }
    }

    pub fn single(v: T) -> Self {
        Self::range(v, v)
    }

    /// Builds a set from arbitrary (possibly overlapping, unsorted) ranges.
    /// Ranges with `lo > hi` are ignored.
    pub fn from_ranges(ranges: impl IntoIterator<Item = (T, T)>) -> Self {
        let mut v: Vec<(T, T)> = ranges.into_iter().filter(|(a, b)| a <= b).collect();
        v.sort_unstable();
        let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            push_merged(&mut out, lo, hi);
        }
        Self { ranges: out }
    }

    /// [`IntervalSet::from_ranges`] of ranges already in ascending order
    /// of their starts (each `lo <= hi`): merged, not sorted again. Sets
    /// made from another set's ranges, in order, are built this way often.
    pub(crate) fn from_sorted_ranges(ranges: impl IntoIterator<Item = (T, T)>) -> Self {
        let ranges = ranges.into_iter();
        let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.size_hint().0);
        for (lo, hi) in ranges {
            debug_assert!(lo <= hi, "an empty range");
            debug_assert!(out.last().is_none_or(|l| l.0 <= lo), "ranges out of order");
            push_merged(&mut out, lo, hi);
        }
        Self { ranges: out }
    }

    pub fn ranges(&self) -> &[(T, T)] {
        &self.ranges
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.ranges == [(T::MIN, T::MAX)]
    }

    pub fn contains(&self, v: T) -> bool {
        // First range whose upper end is >= v.
        let i = self.ranges.partition_point(|&(_, hi)| hi < v);
        self.ranges.get(i).is_some_and(|&(lo, _)| lo <= v)
    }

    /// The smallest member, if any.
    pub(crate) fn first(&self) -> Option<T> {
        self.ranges.first().map(|r| r.0)
    }

    /// Number of members, saturating at `u128::MAX`.
    pub(crate) fn len(&self) -> u128 {
        self.ranges.iter().fold(0u128, |acc, &(a, b)| {
            acc.saturating_add(b.to_u128() - a.to_u128())
                .saturating_add(1)
        })
    }

    pub fn union(&self, other: &Self) -> Self {
        let mut out = Vec::with_capacity(self.ranges.len() + other.ranges.len());
        let (mut i, mut j) = (0, 0);
        while i < self.ranges.len() || j < other.ranges.len() {
            let take_left = match (self.ranges.get(i), other.ranges.get(j)) {
                (Some(a), Some(b)) => a.0 <= b.0,
                (Some(_), None) => true,
                _ => false,
            };
            let (lo, hi) = if take_left {
                i += 1;
                self.ranges[i - 1]
            } else {
                j += 1;
                other.ranges[j - 1]
            };
            push_merged(&mut out, lo, hi);
        }
        Self { ranges: out }
    }

    pub fn intersection(&self, other: &Self) -> Self {
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a_lo, a_hi) = self.ranges[i];
            let (b_lo, b_hi) = other.ranges[j];
            let lo = a_lo.max(b_lo);
            let hi = a_hi.min(b_hi);
            if lo <= hi {
                out.push((lo, hi));
            }
            if a_hi < b_hi {
                i += 1;
            } else {
                j += 1;
            }
        }
        Self { ranges: out }
    }

    pub(crate) fn complement(&self) -> Self {
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        let mut next: Option<T> = Some(T::MIN);
        for &(lo, hi) in &self.ranges {
            if let Some(start) = next
                && start < lo
            {
                out.push((start, pred(lo)));
            }
            next = succ(hi);
        }
        if let Some(start) = next {
            out.push((start, T::MAX));
        }
        Self { ranges: out }
    }

    pub fn difference(&self, other: &Self) -> Self {
        let mut out = Vec::with_capacity(self.ranges.len());
        let mut j = 0;
        for &(lo, hi) in &self.ranges {
            let mut cur = Some(lo);
            // Skip subtrahend ranges entirely below this range.
            while j < other.ranges.len() && other.ranges[j].1 < lo {
                j += 1;
            }
            let mut k = j;
            while let Some(start) = cur {
                match other.ranges.get(k) {
                    Some(&(b_lo, b_hi)) if b_lo <= hi => {
                        if start < b_lo {
                            out.push((start, pred(b_lo)));
                        }
                        cur = if b_hi >= hi {
                            None
                        } else {
                            succ(b_hi).filter(|&s| s <= hi)
                        };
                        if b_hi <= hi {
                            k += 1;
                        } else {
                            break;
                        }
                    }
                    _ => {
                        out.push((start, hi));
                        cur = None;
                    }
                }
            }
            j = k;
        }
        Self { ranges: out }
    }

    pub(crate) fn is_subset(&self, other: &Self) -> bool {
        self.difference(other).is_empty()
    }

    pub(crate) fn overlaps(&self, other: &Self) -> bool {
        let (mut i, mut j) = (0, 0);
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a_lo, a_hi) = self.ranges[i];
            let (b_lo, b_hi) = other.ranges[j];
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

    /// The minimal list of aligned power-of-two blocks (CIDR prefixes) that
    /// covers exactly this set, as `(network, prefix length)` in ascending order.
    pub(crate) fn to_prefixes(&self) -> Vec<(T, u8)> {
        self.ranges
            .iter()
            .flat_map(|&(lo, hi)| CidrBlocks::new(lo.to_u128(), hi.to_u128(), T::BITS))
            .map(|(net, len)| (T::from_u128(net), len))
            .collect()
    }
}

fn succ<T: Domain>(v: T) -> Option<T> {
    (v < T::MAX).then(|| T::from_u128(v.to_u128() + 1))
}

fn pred<T: Domain>(v: T) -> T {
    T::from_u128(v.to_u128() - 1)
}

/// Appends `lo..=hi` (with `lo` >= every start already in `out`), merging it
/// with the last range when they overlap or touch.
fn push_merged<T: Domain>(out: &mut Vec<(T, T)>, lo: T, hi: T) {
    if let Some(last) = out.last_mut()
        && succ(last.1).is_none_or(|next| lo <= next)
    {
        last.1 = last.1.max(hi);
        return;
    }
    out.push((lo, hi));
}

/// The CIDR blocks covering `next..=hi` exactly in a `bits`-bit space, each
/// the largest aligned block that starts where the previous one ended.
pub struct CidrBlocks {
    next: Option<u128>,
    hi: u128,
    bits: u32,
}

impl Iterator for CidrBlocks {
    type Item = (u128, u8);

    fn next(&mut self) -> Option<(u128, u8)> {
        let lo = self.next?;
        let align = if lo == 0 {
            self.bits
        } else {
            lo.trailing_zeros().min(self.bits)
        };
        let remaining = self.hi - lo; // number of values minus one
        let fit = if remaining == u128::MAX {
            128
        } else {
            127 - (remaining + 1).leading_zeros()
        };
        let size_bits = align.min(fit);
        let last = if size_bits == 128 {
            u128::MAX
        } else {
            lo + ((1u128 << size_bits) - 1)
        };
        self.next = (last < self.hi).then(|| last + 1);
        Some((lo, (self.bits - size_bits) as u8))
    }
}

impl CidrBlocks {
    /// The blocks of `lo..=hi` in a `bits`-bit address space (32 or 128).
    pub(crate) fn new(lo: u128, hi: u128, bits: u32) -> Self {
        CidrBlocks {
            next: Some(lo),
            hi,
            bits,
        }
    }
}

/// An IP address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Family {
    V4,
    V6,
}

pub(crate) type V4Set = IntervalSet<u32>;
pub(crate) type V6Set = IntervalSet<u128>;
/// Destination ports (0..=65535).
pub type PortSet = IntervalSet<u16>;
/// ICMP / ICMPv6 message types (0..=255), and IP protocol numbers.
pub(crate) type ByteSet = IntervalSet<u8>;

/// A set of IPv4 and IPv6 addresses.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddrSet {
    pub v4: V4Set,
    pub v6: V6Set,
}

impl fmt::Debug for AddrSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl fmt::Display for AddrSet {
    /// Minimal CIDR list, IPv4 first: `10.0.0.0/24, fd00::/64`; `(none)` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nets = self.to_cidrs();
        if nets.is_empty() {
            return f.write_str("(none)");
        }
        for (i, net) in nets.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

impl AddrSet {
    pub const fn empty() -> Self {
        Self {
            v4: IntervalSet::empty(),
            v6: IntervalSet::empty(),
        }
    }

    /// Every IPv4 and every IPv6 address.
    pub fn any() -> Self {
        Self {
            v4: IntervalSet::full(),
            v6: IntervalSet::full(),
        }
    }

    pub fn from_net(net: IpNet) -> Self {
        match net {
            IpNet::V4(n) => Self {
                v4: IntervalSet::range(u32::from(n.network()), u32::from(n.broadcast())),
                v6: IntervalSet::empty(),
            },
            IpNet::V6(n) => Self {
                v4: IntervalSet::empty(),
                v6: IntervalSet::range(u128::from(n.network()), u128::from(n.broadcast())),
            },
        }
    }

    /// The inclusive range `lo..=hi`. Both ends must be of the same family;
    /// a mixed or inverted pair gives the empty set.
    pub fn from_range(lo: IpAddr, hi: IpAddr) -> Self {
        match (lo, hi) {
            (IpAddr::V4(a), IpAddr::V4(b)) => Self {
                v4: IntervalSet::range(u32::from(a), u32::from(b)),
                v6: IntervalSet::empty(),
            },
            (IpAddr::V6(a), IpAddr::V6(b)) => Self {
                v4: IntervalSet::empty(),
                v6: IntervalSet::range(u128::from(a), u128::from(b)),
            },
            _ => Self::empty(),
        }
    }

    pub fn from_addr(addr: IpAddr) -> Self {
        Self::from_range(addr, addr)
    }

    pub fn from_nets(nets: impl IntoIterator<Item = IpNet>) -> Self {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for net in nets {
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        Self {
            v4: IntervalSet::from_ranges(v4),
            v6: IntervalSet::from_ranges(v6),
        }
    }

    /// The union of many sets at once (one sort instead of repeated merges).
    pub fn union_all<'a>(sets: impl IntoIterator<Item = &'a AddrSet>) -> Self {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for s in sets {
            v4.extend_from_slice(s.v4.ranges());
            v6.extend_from_slice(s.v6.ranges());
        }
        Self {
            v4: IntervalSet::from_ranges(v4),
            v6: IntervalSet::from_ranges(v6),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn is_any(&self) -> bool {
        self.v4.is_full() && self.v6.is_full()
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => self.v4.contains(u32::from(a)),
            IpAddr::V6(a) => self.v6.contains(u128::from(a)),
        }
    }

    pub fn union(&self, other: &Self) -> Self {
        Self {
            v4: self.v4.union(&other.v4),
            v6: self.v6.union(&other.v6),
        }
    }

    pub fn intersection(&self, other: &Self) -> Self {
        Self {
            v4: self.v4.intersection(&other.v4),
            v6: self.v6.intersection(&other.v6),
        }
    }

    pub fn difference(&self, other: &Self) -> Self {
        Self {
            v4: self.v4.difference(&other.v4),
            v6: self.v6.difference(&other.v6),
        }
    }

    pub fn complement(&self) -> Self {
        Self {
            v4: self.v4.complement(),
            v6: self.v6.complement(),
        }
    }

    pub(crate) fn is_subset(&self, other: &Self) -> bool {
        self.v4.is_subset(&other.v4) && self.v6.is_subset(&other.v6)
    }

    pub fn overlaps(&self, other: &Self) -> bool {
        self.v4.overlaps(&other.v4) || self.v6.overlaps(&other.v6)
    }

    /// Whether the set holds an address of `family` (`of_family` is not
    /// empty), without building that part.
    pub(crate) fn has_family(&self, family: Family) -> bool {
        match family {
            Family::V4 => !self.v4.is_empty(),
            Family::V6 => !self.v6.is_empty(),
        }
    }

    /// The part of the set in `family`.
    pub(crate) fn of_family(&self, family: Family) -> AddrSet {
        match family {
            Family::V4 => AddrSet {
                v4: self.v4.clone(),
                v6: V6Set::empty(),
            },
            Family::V6 => AddrSet {
                v4: V4Set::empty(),
                v6: self.v6.clone(),
            },
        }
    }

    /// The minimal sorted CIDR blocks of one family, as (network, prefix
    /// length), without collecting them.
    pub(crate) fn blocks(&self, family: Family) -> impl Iterator<Item = (u128, u8)> + '_ {
        let (v4, v6, bits) = match family {
            Family::V4 => (self.v4.ranges(), &[][..], 32),
            Family::V6 => (&[][..], self.v6.ranges(), 128),
        };
        let v4 = v4.iter().map(|&(lo, hi)| (u128::from(lo), u128::from(hi)));
        v4.chain(v6.iter().copied())
            .flat_map(move |(lo, hi)| CidrBlocks::new(lo, hi, bits))
    }

    /// [`AddrSet::blocks`] as networks.
    pub fn cidrs_of(&self, family: Family) -> impl Iterator<Item = IpNet> + '_ {
        self.blocks(family).map(move |(net, len)| match family {
            Family::V4 => IpNet::V4(Ipv4Net::new((net as u32).into(), len).expect("length <= 32")),
            Family::V6 => IpNet::V6(Ipv6Net::new(net.into(), len).expect("length <= 128")),
        })
    }

    /// The minimal sorted IPv4 CIDR list covering exactly the IPv4 part.
    pub fn v4_cidrs(&self) -> Vec<Ipv4Net> {
        self.v4
            .to_prefixes()
            .into_iter()
            .map(|(net, len)| Ipv4Net::new(Ipv4Addr::from(net), len).expect("prefix length <= 32"))
            .collect()
    }

    /// The minimal sorted IPv6 CIDR list covering exactly the IPv6 part.
    pub fn v6_cidrs(&self) -> Vec<Ipv6Net> {
        self.v6
            .to_prefixes()
            .into_iter()
            .map(|(net, len)| Ipv6Net::new(Ipv6Addr::from(net), len).expect("prefix length <= 128"))
            .collect()
    }

    /// Both families' minimal CIDR lists, IPv4 first.
    pub(crate) fn to_cidrs(&self) -> Vec<IpNet> {
        self.v4_cidrs()
            .into_iter()
            .map(IpNet::V4)
            .chain(self.v6_cidrs().into_iter().map(IpNet::V6))
            .collect()
    }

    /// Some address in the set (the lowest IPv4 one, else the lowest IPv6 one):
    /// used for sample packets in diagnostics.
    pub fn sample(&self) -> Option<IpAddr> {
        self.v4
            .first()
            .map(|v| IpAddr::V4(Ipv4Addr::from(v)))
            .or_else(|| self.v6.first().map(|v| IpAddr::V6(Ipv6Addr::from(v))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn set8(r: &[(u8, u8)]) -> IntervalSet<u8> {
        IntervalSet::from_ranges(r.iter().copied())
    }

    /// The oracle: a plain set of every member (the u8 domain is small enough).
    fn members(s: &IntervalSet<u8>) -> BTreeSet<u8> {
        (0..=255u8).filter(|&v| s.contains(v)).collect()
    }

    fn from_members(m: &BTreeSet<u8>) -> IntervalSet<u8> {
        IntervalSet::from_ranges(m.iter().map(|&v| (v, v)))
    }

    fn arb_set() -> impl Strategy<Value = IntervalSet<u8>> {
        prop::collection::vec((any::<u8>(), any::<u8>()), 0..8).prop_map(|r| set8(&r))
    }

    /// Canonical form: sorted, disjoint, and never touching.
    fn is_canonical(s: &IntervalSet<u8>) -> bool {
        s.ranges().iter().all(|(a, b)| a <= b)
            && s.ranges()
                .windows(2)
                .all(|w| (w[0].1 as u16) + 1 < w[1].0 as u16)
    }

    proptest! {
        #[test]
        fn union_matches_oracle(a in arb_set(), b in arb_set()) {
            let u = a.union(&b);
            prop_assert!(is_canonical(&u));
            let expect: BTreeSet<u8> = members(&a).union(&members(&b)).copied().collect();
            prop_assert_eq!(members(&u), expect.clone());
            prop_assert_eq!(u, from_members(&expect));
        }

        #[test]
        fn intersection_matches_oracle(a in arb_set(), b in arb_set()) {
            let i = a.intersection(&b);
            prop_assert!(is_canonical(&i));
            let expect: BTreeSet<u8> = members(&a).intersection(&members(&b)).copied().collect();
            prop_assert_eq!(members(&i), expect.clone());
            prop_assert_eq!(a.overlaps(&b), !expect.is_empty());
        }

        #[test]
        fn difference_matches_oracle(a in arb_set(), b in arb_set()) {
            let d = a.difference(&b);
            prop_assert!(is_canonical(&d));
            let expect: BTreeSet<u8> = members(&a).difference(&members(&b)).copied().collect();
            prop_assert_eq!(members(&d), expect);
            prop_assert_eq!(a.is_subset(&b), members(&a).is_subset(&members(&b)));
        }

        #[test]
        fn complement_matches_oracle(a in arb_set()) {
            let c = a.complement();
            prop_assert!(is_canonical(&c));
            let expect: BTreeSet<u8> = (0..=255u8).filter(|v| !a.contains(*v)).collect();
            prop_assert_eq!(members(&c), expect);
            prop_assert_eq!(c.complement(), a.clone());
            prop_assert_eq!(a.len() as usize, members(&a).len());
        }

        #[test]
        fn prefixes_cover_exactly_and_minimally(a in arb_set()) {
            let prefixes = a.to_prefixes();
            // Exact cover: the blocks rebuild the set.
            let rebuilt = IntervalSet::from_ranges(prefixes.iter().map(|&(net, len)| {
                let size = 1u16 << (8 - len);
                prop_assert_eq!(net as u16 % size, 0, "block {}/{} is not aligned", net, len);
                Ok((net, (net as u16 + size - 1) as u8))
            }).collect::<Result<Vec<_>, _>>()?);
            prop_assert_eq!(&rebuilt, &a);
            // Minimal: no two consecutive blocks of equal size merge into an aligned block.
            for w in prefixes.windows(2) {
                let ((n1, l1), (n2, l2)) = (w[0], w[1]);
                let size = 1u16 << (8 - l1);
                let mergeable = l1 == l2 && l1 > 0 && n1 as u16 + size == n2 as u16
                    && (n1 as u16).is_multiple_of(2 * size);
                prop_assert!(!mergeable, "{}/{} and {}/{} should be one block", n1, l1, n2, l2);
            }
            // Sorted.
            prop_assert!(prefixes.windows(2).all(|w| w[0].0 < w[1].0));
        }

        #[test]
        fn v4_cidrs_roundtrip(nets in prop::collection::vec((any::<u32>(), 0u8..=32), 0..12)) {
            let nets: Vec<IpNet> = nets.into_iter()
                .map(|(a, l)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc()))
                .collect();
            let set = AddrSet::from_nets(nets.iter().copied());
            let back = AddrSet::from_nets(set.to_cidrs());
            prop_assert_eq!(&back, &set);
            for net in &nets {
                prop_assert!(set.contains(net.network()));
                prop_assert!(set.contains(net.broadcast()));
            }
        }
    }

    #[test]
    fn full_domain_is_one_prefix() {
        assert_eq!(AddrSet::any().to_cidrs().len(), 2);
        assert_eq!(
            AddrSet::any().to_string(),
            "0.0.0.0/0, ::/0",
            "the full domain must collapse to /0"
        );
        assert_eq!(IntervalSet::<u128>::full().to_prefixes(), vec![(0, 0)]);
    }

    #[test]
    fn zone_minus_subzone_gives_expected_cidrs() {
        let corp = AddrSet::from_net("10.0.0.0/16".parse().unwrap());
        let biomed = AddrSet::from_net("10.0.8.0/26".parse().unwrap());
        let rest = corp.difference(&biomed);
        assert_eq!(
            rest.to_string(),
            "10.0.0.0/21, 10.0.8.64/26, 10.0.8.128/25, 10.0.9.0/24, 10.0.10.0/23, \
             10.0.12.0/22, 10.0.16.0/20, 10.0.32.0/19, 10.0.64.0/18, 10.0.128.0/17"
        );
        assert!(!rest.contains("10.0.8.63".parse().unwrap()));
        assert!(rest.contains("10.0.8.64".parse().unwrap()));
    }

    #[test]
    fn ranges_become_minimal_prefixes() {
        let r = AddrSet::from_range("10.0.0.1".parse().unwrap(), "10.0.0.6".parse().unwrap());
        assert_eq!(
            r.to_string(),
            "10.0.0.1/32, 10.0.0.2/31, 10.0.0.4/31, 10.0.0.6/32"
        );
        let mixed = AddrSet::from_range("10.0.0.1".parse().unwrap(), "::1".parse().unwrap());
        assert!(mixed.is_empty());
    }

    #[test]
    fn adjacent_ranges_merge_and_extremes_work() {
        let s = set8(&[(0, 3), (4, 7), (250, 255)]);
        assert_eq!(s.ranges(), &[(0, 7), (250, 255)]);
        assert_eq!(s.complement().ranges(), &[(8, 249)]);
        assert!(set8(&[(0, 255)]).is_full());
        assert!(set8(&[(0, 255)]).complement().is_empty());
        assert_eq!(
            set8(&[(5, 4)]),
            IntervalSet::empty(),
            "inverted ranges are empty"
        );
    }
}
