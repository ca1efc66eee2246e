//! Which of many spaces can meet a box: an index over their source and
//! destination address sets.
//!
//! The boundaries of every indexed set cut each family's address line into
//! *atoms* (elementary intervals), separately for sources and destinations:
//! an indexed set is a union of whole atoms, so it meets a query range iff it
//! holds one of the atoms the range touches. Per atom the index lists the
//! spaces holding it. A query walks the lists of the dimension that is
//! cheaper to walk and, when it pays, keeps only the spaces also found in the
//! other dimension's lists.
//!
//! Why both dimensions: with a fixed pool of networks, the number of rule
//! pairs sharing a destination grows with the square of the rule count
//! (6 million pairs at 100,000 synthetic rules), while pairs sharing a
//! source *and* a destination stay few.
//!
//! A set spanning more than [`BoxIndex::WIDE`] atoms (`any`, a whole zone)
//! is not listed per atom: it is a candidate for every query in that
//! dimension, so a policy full of `any` does not fill every list.
//!
//! Candidates are a superset: they share an atom in both address
//! dimensions, but may differ in service (or the boxes of a space may pair
//! its sources and destinations differently). Callers test overlap exactly.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;

use crate::ir::Family;

use super::space::{AddrIntervals, Cube, Space};

/// The spaces (by position) whose boxes may meet a query box.
pub(crate) struct BoxIndex {
    /// Per family (IPv4, IPv6): sources and destinations.
    families: [[AtomLists; 2]; 2],
    scratch: Scratch,
}

/// Inclusive ranges of atom numbers.
type Atoms = Vec<(u32, u32)>;

/// Per query state, kept to avoid an allocation per query.
struct Scratch {
    /// Per space, the query stamp that last saw it.
    seen: Vec<u32>,
    stamp: u32,
    /// The spaces found in the first dimension walked.
    hits: Vec<u32>,
    /// The atoms of a query box's sources and destinations.
    src: Atoms,
    dst: Atoms,
}

const SRC: usize = 0;
const DST: usize = 1;

fn family_slot(f: Family) -> usize {
    usize::from(f == Family::V6)
}

impl BoxIndex {
    /// A set spanning more atoms than this is "wide" (see the module docs).
    pub(crate) const WIDE: usize = 64;

    pub(crate) fn new(spaces: &[Space]) -> Self {
        Self::over(spaces)
    }

    /// [`BoxIndex::new`] with another width limit (tests use tiny ones to
    /// exercise the wide lists).
    #[cfg(test)]
    pub(crate) fn with_wide(spaces: &[Space], wide: usize) -> Self {
        Self::over_with_wide(spaces, wide)
    }

    /// [`BoxIndex::new`] over spaces that are not in one slice (the
    /// regions of a comparison), numbered in order.
    pub(crate) fn over<'a>(spaces: impl IntoIterator<Item = &'a Space>) -> Self {
        Self::over_with_wide(spaces, Self::WIDE)
    }

    fn over_with_wide<'a>(spaces: impl IntoIterator<Item = &'a Space>, wide: usize) -> Self {
        // One pass over the spaces (their sets live all over the heap),
        // gathering every range per family and dimension as (space, lo, hi).
        let mut ranges: [[Vec<(u32, u128, u128)>; 2]; 2] = Default::default();
        let mut n = 0;
        for (k, s) in spaces.into_iter().enumerate() {
            n = k + 1;
            for c in s.cubes() {
                let [src, dst] = &mut ranges[family_slot(c.family)];
                src.extend(c.src.ranges().iter().map(|&(lo, hi)| (k as u32, lo, hi)));
                dst.extend(c.dst.ranges().iter().map(|&(lo, hi)| (k as u32, lo, hi)));
            }
        }
        let [[s4, d4], [s6, d6]] = ranges;
        Self {
            families: [
                [AtomLists::new(n, &s4, wide), AtomLists::new(n, &d4, wide)],
                [AtomLists::new(n, &s6, wide), AtomLists::new(n, &d6, wide)],
            ],
            scratch: Scratch {
                seen: vec![0; n],
                stamp: 0,
                hits: Vec::new(),
                src: Vec::new(),
                dst: Vec::new(),
            },
        }
    }

    /// Appends to `out` every indexed space with a box of `q`'s family whose
    /// sources meet `q.src` and whose destinations meet `q.dst` (and maybe a
    /// few others), each once per call, in no particular order.
    pub(crate) fn candidates(&mut self, q: &Cube, out: &mut Vec<u32>) {
        let lists = &self.families[family_slot(q.family)];
        let s = &mut self.scratch;
        lists[SRC].atoms_of(&q.src, &mut s.src);
        lists[DST].atoms_of(&q.dst, &mut s.dst);
        let (src, dst) = (std::mem::take(&mut s.src), std::mem::take(&mut s.dst));
        s.walk(lists, &src, &dst, out);
        (s.src, s.dst) = (src, dst);
    }

    /// [`BoxIndex::candidates`] of every box of `q`, ascending, each once,
    /// into `out` (cleared first).
    pub(crate) fn candidates_of(&mut self, q: &Space, out: &mut Vec<u32>) {
        out.clear();
        for c in q.cubes() {
            self.candidates(c, out);
        }
        out.sort_unstable();
        out.dedup();
    }

    /// [`BoxIndex::candidates_of`] the indexed space `k` itself, without
    /// `k` (its atoms are known: no search).
    pub(crate) fn candidates_of_indexed(&mut self, k: usize, out: &mut Vec<u32>) {
        out.clear();
        for lists in &self.families {
            let (src, dst) = (lists[SRC].held_by(k), lists[DST].held_by(k));
            if !src.is_empty() && !dst.is_empty() {
                self.scratch.walk(lists, src, dst, out);
            }
        }
        out.sort_unstable();
        out.dedup();
        out.retain(|&j| j as usize != k);
    }
}

impl Scratch {
    /// Appends the spaces listed under an atom of `src` (in the source
    /// lists) and under an atom of `dst` (destinations), or wide there.
    fn walk(
        &mut self,
        lists: &[AtomLists; 2],
        src: &[(u32, u32)],
        dst: &[(u32, u32)],
        out: &mut Vec<u32>,
    ) {
        let (cs, cd) = (lists[SRC].cost(src), lists[DST].cost(dst));
        let ((first, first_atoms), (second, second_atoms), second_cost) = if cs <= cd {
            ((&lists[SRC], src), (&lists[DST], dst), cd)
        } else {
            ((&lists[DST], dst), (&lists[SRC], src), cs)
        };
        // Two fresh stamps: `found` marks the first dimension's spaces,
        // `taken` the ones already returned.
        if self.stamp >= u32::MAX - 2 {
            self.seen.fill(0);
            self.stamp = 0;
        }
        let found = self.stamp + 1;
        let taken = self.stamp + 2;
        self.stamp = taken;
        let seen = &mut self.seen;
        let hits = &mut self.hits;
        hits.clear();
        first.for_each(first_atoms, |k| {
            if seen[k as usize] != found {
                seen[k as usize] = found;
                hits.push(k);
            }
        });
        // Walking the second dimension's lists is sequential and cheap next
        // to testing each hit's boxes, so filter when it is not much longer.
        if second_cost <= 8 * hits.len() {
            second.for_each(second_atoms, |k| {
                if seen[k as usize] == found {
                    seen[k as usize] = taken;
                    out.push(k);
                }
            });
        } else {
            out.extend_from_slice(hits);
        }
    }
}

/// One dimension of one family: atoms and, per atom, the spaces holding it.
struct AtomLists {
    /// Atom `a` is `starts[a] ..= starts[a + 1] - 1` (the last one runs to
    /// the end of the line); `starts[0]` is 0.
    starts: Vec<u128>,
    /// Each atom's number by its start.
    atom_at: HashMap<u128, u32, FxBuildHasher>,
    /// The spaces holding atom `a` are `entries[offsets[a]..offsets[a + 1]]`
    /// (ascending, each once). Two flat vectors: one list per atom would be
    /// thousands of small allocations.
    offsets: Vec<usize>,
    entries: Vec<u32>,
    /// Spaces with a set spanning more than the width limit.
    wide: Vec<u32>,
    /// The atoms of space `k`'s sets are `held[held_at[k]..held_at[k + 1]]`.
    held_at: Vec<usize>,
    held: Atoms,
}

impl AtomLists {
    /// `ranges`: (space, lo, hi) of the sets of `n` spaces, ascending by space.
    fn new(n: usize, ranges: &[(u32, u128, u128)], wide: usize) -> Self {
        let (starts, atom_at) = atom_starts(ranges);
        let mut out = Self {
            offsets: vec![0; starts.len() + 1],
            starts,
            atom_at,
            entries: Vec::new(),
            wide: Vec::new(),
            held_at: vec![0; n + 1],
            held: Vec::with_capacity(ranges.len()),
        };
        // Every range starts at an atom and ends before one (or at the end
        // of the line): look both up by value, not by binary search (the
        // ranges outnumber the atoms, and searching was most of the build).
        let last_atom = (out.starts.len() - 1) as u32;
        for &(k, lo, hi) in ranges {
            let atoms = (
                out.atom_at[&lo],
                hi.checked_add(1)
                    .map_or(last_atom, |next| out.atom_at[&next] - 1),
            );
            out.held.push(atoms);
            out.held_at[k as usize + 1] = out.held.len();
        }
        // Spaces without a set here hold nothing: carry the offsets over.
        for k in 1..=n {
            out.held_at[k] = out.held_at[k].max(out.held_at[k - 1]);
        }
        for k in 0..n {
            let span: usize = out
                .held_by(k)
                .iter()
                .map(|&(a, b)| (b - a) as usize + 1)
                .sum();
            if span > wide {
                out.wide.push(k as u32);
            }
        }
        out.list_narrow_sets();
        out
    }

    /// Lists every space that is not wide under each atom it holds, in
    /// ascending order and once (two ranges of one space may share an
    /// atom). A counting sort: the spaces are visited in ascending order,
    /// so each atom's list comes out sorted without sorting the pairs.
    fn list_narrow_sets(&mut self) {
        let atoms = self.starts.len();
        let mut wide = self.wide.iter().copied().peekable();
        // `last[a]` is one more than the last space listed under atom `a`.
        let mut last = vec![0u32; atoms];
        let mut offsets = std::mem::take(&mut self.offsets);
        let mut narrow = Vec::with_capacity(self.held_at.len());
        for k in 0..self.held_at.len() - 1 {
            if wide.next_if_eq(&(k as u32)).is_some() {
                continue;
            }
            narrow.push(k as u32);
            for &(a, b) in self.held_by(k) {
                for a in a..=b {
                    if last[a as usize] != k as u32 + 1 {
                        last[a as usize] = k as u32 + 1;
                        offsets[a as usize + 1] += 1;
                    }
                }
            }
        }
        for a in 1..offsets.len() {
            offsets[a] += offsets[a - 1];
        }
        let mut next = offsets[..atoms].to_vec();
        last.fill(0);
        let mut entries = vec![0u32; offsets[atoms]];
        for k in narrow {
            for &(a, b) in self.held_by(k as usize) {
                for a in a..=b {
                    if last[a as usize] != k + 1 {
                        last[a as usize] = k + 1;
                        entries[next[a as usize]] = k;
                        next[a as usize] += 1;
                    }
                }
            }
        }
        self.offsets = offsets;
        self.entries = entries;
    }

    /// The atoms `lo..=hi` touches. Queries are mostly boxes of indexed
    /// spaces, whose bounds are atom bounds: those are looked up by value,
    /// others searched.
    fn atoms(&self, lo: u128, hi: u128) -> (u32, u32) {
        let first = match self.atom_at.get(&lo) {
            Some(&a) => a as usize,
            None => self.starts.partition_point(|&s| s <= lo) - 1,
        };
        let last = match hi.checked_add(1).map(|next| self.atom_at.get(&next)) {
            None => self.starts.len() - 1,
            Some(Some(&a)) => a as usize - 1,
            Some(None) => self.starts.partition_point(|&s| s <= hi) - 1,
        };
        // Atom numbers fit: there are at most two per indexed range.
        (first as u32, last as u32)
    }

    /// The atoms `set` touches (each of its ranges, as atom ranges), into
    /// `out` (cleared first).
    fn atoms_of(&self, set: &AddrIntervals, out: &mut Atoms) {
        out.clear();
        out.extend(set.ranges().iter().map(|&(lo, hi)| self.atoms(lo, hi)));
    }

    fn held_by(&self, k: usize) -> &[(u32, u32)] {
        &self.held[self.held_at[k]..self.held_at[k + 1]]
    }

    /// How many entries a walk over `atoms` reads (an upper bound).
    fn cost(&self, atoms: &[(u32, u32)]) -> usize {
        self.wide.len()
            + atoms
                .iter()
                .map(|&(a, b)| self.offsets[b as usize + 1] - self.offsets[a as usize])
                .sum::<usize>()
    }

    /// Calls `f` for every space listed under one of `atoms`, and for every
    /// wide space (some more than once).
    fn for_each(&self, atoms: &[(u32, u32)], mut f: impl FnMut(u32)) {
        self.wide.iter().for_each(|&k| f(k));
        for &(a, b) in atoms {
            let run = &self.entries[self.offsets[a as usize]..self.offsets[b as usize + 1]];
            run.iter().for_each(|&k| f(k));
        }
    }
}

/// The atoms' starts (0, every range's start and the value after its end,
/// ascending, each once) and each start's atom number. Ranges share their
/// bounds often (the same networks in many rules): the distinct bounds are
/// gathered first and only they are sorted.
fn atom_starts(ranges: &[(u32, u128, u128)]) -> (Vec<u128>, HashMap<u128, u32, FxBuildHasher>) {
    let mut atom_at: HashMap<u128, u32, FxBuildHasher> = HashMap::default();
    atom_at.insert(0, 0);
    for &(_, lo, hi) in ranges {
        atom_at.insert(lo, 0);
        if let Some(next) = hi.checked_add(1) {
            atom_at.insert(next, 0);
        }
    }
    let mut starts: Vec<u128> = atom_at.keys().copied().collect();
    starts.sort_unstable();
    for (a, s) in starts.iter().enumerate() {
        atom_at.insert(*s, a as u32);
    }
    (starts, atom_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addrset::{AddrSet, IntervalSet};
    use crate::analysis::space::{addr_part, encode_service};
    use crate::ir::ServiceSet;
    use proptest::prelude::*;

    /// Address sets over 0..64 of both families, with `any` now and then.
    fn arb_addrs() -> impl Strategy<Value = AddrSet> {
        let v4 = |lo: u32, hi: u32| AddrSet {
            v4: IntervalSet::range(lo, hi),
            v6: IntervalSet::empty(),
        };
        let v6 = |lo: u128, hi: u128| AddrSet {
            v4: IntervalSet::empty(),
            v6: IntervalSet::range(lo, hi),
        };
        prop_oneof![
            1 => Just(AddrSet::any()),
            8 => prop::collection::vec((0u32..64, 0u32..6, prop::bool::ANY), 1..4).prop_map(
                move |rs| {
                    rs.into_iter().fold(AddrSet::empty(), |acc, (lo, w, six)| {
                        let part = if six {
                            v6(u128::from(lo), u128::from(lo + w))
                        } else {
                            v4(lo, lo + w)
                        };
                        acc.union(&part)
                    })
                }
            ),
        ]
    }

    fn arb_space() -> impl Strategy<Value = Space> {
        let svc = prop_oneof![
            Just(ServiceSet::any()),
            (1u16..4).prop_map(|p| ServiceSet {
                tcp: IntervalSet::single(p),
                ..ServiceSet::default()
            }),
        ];
        prop::collection::vec((arb_addrs(), arb_addrs(), svc), 1..3).prop_map(|boxes| {
            boxes.into_iter().fold(Space::empty(), |acc, (s, d, v)| {
                acc.union(&Space::from_parts(&s, &d, &v))
            })
        })
    }

    proptest! {
        /// No space whose boxes meet the query is ever left out, whatever
        /// the width limit (0 makes every set wide, 1000 none), whether the
        /// query is any box or an indexed space itself.
        #[test]
        fn candidates_hold_every_overlapping_space(
            spaces in prop::collection::vec(arb_space(), 0..40),
            queries in prop::collection::vec(arb_space(), 1..6),
            wide in prop::sample::select(vec![0usize, 1, 3, 1000]),
        ) {
            let mut index = BoxIndex::with_wide(&spaces, wide);
            let mut got = Vec::new();
            for q in &queries {
                index.candidates_of(q, &mut got);
                prop_assert!(got.windows(2).all(|w| w[0] < w[1]), "ascending, each once");
                for (k, s) in spaces.iter().enumerate() {
                    if s.overlaps(q) {
                        prop_assert!(got.contains(&(k as u32)), "space {} missing", k);
                    }
                }
            }
            for (k, q) in spaces.iter().enumerate() {
                index.candidates_of_indexed(k, &mut got);
                prop_assert!(got.windows(2).all(|w| w[0] < w[1]), "ascending, each once");
                prop_assert!(!got.contains(&(k as u32)), "not itself");
                for (j, s) in spaces.iter().enumerate() {
                    if j != k && s.overlaps(q) {
                        prop_assert!(got.contains(&(j as u32)), "space {} missing for {}", j, k);
                    }
                }
            }
        }
    }

    /// The index does filter: a space sharing a destination but no source
    /// with the query is not a candidate, nor one in the other family.
    #[test]
    fn candidates_share_sources_and_destinations() {
        let net = |s: &str| AddrSet::from_net(s.parse().unwrap());
        let any_svc = ServiceSet::any();
        let spaces: Vec<Space> = [
            ("10.0.0.0/24", "10.9.0.0/24"), // shares the destination only
            ("10.1.0.0/24", "10.9.0.0/24"), // shares both
            ("10.1.0.0/24", "10.8.0.0/24"), // shares the source only
            ("fd00::/64", "fd09::/64"),     // other family
        ]
        .iter()
        .map(|(s, d)| Space::from_parts(&net(s), &net(d), &any_svc))
        .collect();
        let mut index = BoxIndex::new(&spaces);
        let q = Cube {
            family: Family::V4,
            src: addr_part(&net("10.1.0.0/16"), Family::V4),
            dst: addr_part(&net("10.9.0.0/16"), Family::V4),
            svc: encode_service(&any_svc, Family::V4),
        };
        let mut got = Vec::new();
        index.candidates_of(&Space::from_cube(q), &mut got);
        assert_eq!(got, [1]);
    }
}
