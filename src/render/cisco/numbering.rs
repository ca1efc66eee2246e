//! Sequence numbers that survive a change.
//!
//! IOS orders an ACL's entries by sequence number, so the numbers must rise
//! in the order wardwall lays the entries out. Numbers by position (10, 20,
//! 30, ...) do, but then one inserted or grown rule renumbers every later
//! line of its ACL, and a one-rule change becomes a diff of thousands of
//! lines. No number derived from the policy alone can both rise in rule
//! order and leave room for any future insertion, so the numbers already in
//! use are read back from the previous output (`PreviousTree`), and:
//!
//! * an ACL is cut into **blocks**: a run of remarks and the entries after
//!   them (one rule's forward entries, one rule's return entries, the
//!   closing lines). A block is known by its first line (the rule's
//!   `remark NAME: ACTION`, its `remark NAME: replies ...`), and by how
//!   many blocks before it have the same first line;
//! * the blocks that are still there and still in the same relative order
//!   (the longest such run, so one moved rule does not unpin the rest) keep
//!   their first number; one that still has the same number of lines keeps
//!   every number;
//! * new blocks go into the gap after the block before them, at steps of
//!   10 while the gap allows (down to steps of 1);
//! * when a gap has run out, the ACL is numbered afresh and a warning says
//!   so: its diff then shows every line of that ACL, which is still correct
//!   (phase 2 rebuilds each stable ACL from nothing).
//!
//! A fresh ACL starts every block at a multiple of [`BLOCK_STEP`] with
//! [`SEQ_STEP`] between lines, leaving room for later insertions.
//!
//! The previous file only ever contributes numbers, never text, and any
//! numbering it yields is rechecked here to rise; a hand-edited or foreign
//! file can change which numbers are used, never what the ACL says or in
//! which order.

use std::collections::HashMap;

use super::SEQ_STEP;

/// Where a fresh block starts: the next multiple of this.
pub(crate) const BLOCK_STEP: u32 = 100;

/// The highest sequence number IOS accepts (1..2147483647).
pub(crate) const SEQ_MAX: u32 = 2_147_483_647;

/// The sequence numbers of the previous output, per stable ACL name.
#[derive(Debug, Default)]
pub(crate) struct PreviousNumbers {
    acls: HashMap<String, Vec<OldBlock>>,
}

#[derive(Debug)]
struct OldBlock {
    key: BlockKey,
    numbers: Vec<u32>,
}

/// A block's first line and how many blocks before it begin the same way.
type BlockKey = (String, usize);

impl PreviousNumbers {
    /// The numbers of every ACL in a previous Cisco output. Only the
    /// stable ACLs matter (phase 2); the versioned ones of phase 1 have
    /// other names and are never asked for. Lines that do not look like
    /// numbered entries end the ACL they are in.
    pub fn parse(text: &str) -> Self {
        let mut acls: HashMap<String, Vec<(u32, &str)>> = HashMap::new();
        let mut current: Option<Vec<(u32, &str)>> = None;
        let mut name = "";
        for line in text.lines() {
            if let Some(entry) = line.strip_prefix(' ').and_then(numbered) {
                if let Some(lines) = current.as_mut() {
                    lines.push(entry);
                }
                continue;
            }
            if let Some(lines) = current.take() {
                acls.insert(name.to_string(), lines);
            }
            if let Some(n) = line
                .strip_prefix("ip access-list extended ")
                .or_else(|| line.strip_prefix("ipv6 access-list "))
            {
                name = n.trim_end();
                current = Some(Vec::new());
            }
        }
        if let Some(lines) = current.take() {
            acls.insert(name.to_string(), lines);
        }
        let acls = acls
            .into_iter()
            .filter_map(|(name, lines)| {
                // Numbers that do not rise are not ours: ignore that ACL.
                let rises = lines.windows(2).all(|w| w[0].0 < w[1].0);
                let texts: Vec<&str> = lines.iter().map(|l| l.1).collect();
                let blocks = blocks(&texts)
                    .into_iter()
                    .map(|(key, range)| OldBlock {
                        key,
                        numbers: lines[range].iter().map(|l| l.0).collect(),
                    })
                    .collect();
                rises.then_some((name, blocks))
            })
            .collect();
        PreviousNumbers { acls }
    }

    /// Sequence numbers for the lines of ACL `name`, one per line, rising;
    /// and whether a gap ran out (the ACL was numbered afresh).
    pub(crate) fn number(&self, name: &str, lines: &[&str]) -> (Vec<u32>, bool) {
        // A fresh layout needs only where blocks begin, not their keys.
        let Some(old) = self.acls.get(name) else {
            return (fresh(&block_ranges(lines)), false);
        };
        match keep(old, &blocks(lines)) {
            Some(numbers) => (numbers, false),
            None => (fresh(&block_ranges(lines)), true),
        }
    }
}

/// `N rest` or `sequence N rest`: the number and the rest.
fn numbered(line: &str) -> Option<(u32, &str)> {
    let line = line.strip_prefix("sequence ").unwrap_or(line);
    let (number, rest) = line.split_once(' ')?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((number.parse().ok()?, rest))
}

/// Cuts lines into blocks: a block begins at a remark that follows an entry
/// (or at the first line).
fn block_ranges(lines: &[&str]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=lines.len() {
        let begins = i == lines.len() || (is_remark(lines[i]) && !is_remark(lines[i - 1]));
        if begins {
            out.push(start..i);
            start = i;
        }
    }
    out
}

/// The blocks of [`block_ranges`], each keyed by its first line.
fn blocks(lines: &[&str]) -> Vec<(BlockKey, std::ops::Range<usize>)> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    block_ranges(lines)
        .into_iter()
        .map(|range| {
            let first = lines[range.start];
            let nth = seen.entry(first).or_insert(0);
            let key = (first.to_string(), *nth);
            *nth += 1;
            (key, range)
        })
        .collect()
}

fn is_remark(line: &str) -> bool {
    line.starts_with("remark ")
}

type Blocks = [(BlockKey, std::ops::Range<usize>)];

/// The fresh layout: every block from the next multiple of `BLOCK_STEP`,
/// lines `SEQ_STEP` apart (packed when that would pass `SEQ_MAX`).
fn fresh(current: &[std::ops::Range<usize>]) -> Vec<u32> {
    let total = current.last().map_or(0, |b| b.end);
    let mut numbers = Vec::with_capacity(total);
    let mut last = 0u64;
    for range in current {
        let mut at = (last / u64::from(BLOCK_STEP) + 1) * u64::from(BLOCK_STEP);
        for _ in range.clone() {
            numbers.push(at);
            last = at;
            at += u64::from(SEQ_STEP);
        }
    }
    if last <= u64::from(SEQ_MAX) {
        return numbers.into_iter().map(|n| n as u32).collect();
    }
    spread(0, SEQ_MAX + 1, total).expect("fewer lines than sequence numbers")
}

/// `count` rising numbers strictly between `lo` and `hi`, `SEQ_STEP` apart
/// or closer; `None` when they do not fit.
fn spread(lo: u32, hi: u32, count: usize) -> Option<Vec<u32>> {
    if count == 0 {
        return Some(Vec::new());
    }
    let room = u64::from(hi).checked_sub(u64::from(lo) + 1)?;
    let step = (room / count as u64).min(u64::from(SEQ_STEP));
    (step > 0).then(|| {
        (1..=count as u64)
            .map(|k| (u64::from(lo) + step * k) as u32)
            .collect()
    })
}

/// Numbers that keep the pinned blocks' numbers (see the module
/// documentation); `None` when a gap runs out.
fn keep(old: &[OldBlock], current: &Blocks) -> Option<Vec<u32>> {
    let by_key: HashMap<&BlockKey, &OldBlock> = old.iter().map(|b| (&b.key, b)).collect();
    let olds: Vec<Option<&OldBlock>> = current
        .iter()
        .map(|(k, _)| by_key.get(k).copied())
        .collect();
    let pinned = rising_run(&olds);
    let total = current.last().map_or(0, |b| b.1.end);
    let mut numbers = Vec::with_capacity(total);
    let mut last = 0u32;
    for (i, (_, range)) in current.iter().enumerate() {
        // The first number of the next pinned block bounds this one.
        let hi = (i + 1..current.len())
            .find(|&j| pinned[j])
            .map_or(SEQ_MAX + 1, |j| {
                olds[j].expect("pinned blocks are old").numbers[0]
            });
        let lines = range.len();
        if pinned[i] {
            let old = olds[i].expect("pinned blocks are old");
            let first = old.numbers[0];
            if first <= last {
                return None;
            }
            if old.numbers.len() == lines && *old.numbers.last()? < hi {
                numbers.extend_from_slice(&old.numbers);
            } else {
                numbers.push(first);
                numbers.extend(spread(first, hi, lines - 1)?);
            }
        } else {
            numbers.extend(spread(last, hi, lines)?);
        }
        last = *numbers.last()?;
        if last >= hi {
            return None;
        }
    }
    Some(numbers)
}

/// Which blocks stay pinned: the longest run of old blocks whose first
/// numbers rise in the current order (patience sorting; ties go to the
/// earliest blocks, so the choice is deterministic).
fn rising_run(olds: &[Option<&OldBlock>]) -> Vec<bool> {
    // tails[k]: index of the smallest last element of a rising run of
    // length k + 1; back[i]: the element before i in its run.
    let mut tails: Vec<usize> = Vec::new();
    let mut back: Vec<Option<usize>> = vec![None; olds.len()];
    let first = |i: usize| olds[i].map(|b| b.numbers[0]);
    for (i, old) in olds.iter().enumerate() {
        let Some(old) = old else { continue };
        let n = old.numbers[0];
        let at = tails.partition_point(|&t| first(t) < Some(n));
        back[i] = at.checked_sub(1).map(|k| tails[k]);
        if at == tails.len() {
            tails.push(i);
        } else {
            tails[at] = i;
        }
    }
    let mut pinned = vec![false; olds.len()];
    let mut at = tails.last().copied();
    while let Some(i) = at {
        pinned[i] = true;
        at = back[i];
    }
    pinned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(lines: &[(u32, &str)]) -> String {
        let mut text = String::from("ip access-list extended WW-a-IN4\n");
        for (n, line) in lines {
            text.push_str(&format!(" {n} {line}\n"));
        }
        text.push_str("!\n");
        text
    }

    #[test]
    fn fresh_blocks_start_at_multiples_of_the_block_step() {
        let lines = [
            "remark a: allow",
            "permit ip any any",
            "remark b: deny",
            "deny ip any any",
        ];
        let (numbers, renumbered) = PreviousNumbers::default().number("WW-a-IN4", &lines);
        assert_eq!(numbers, [100, 110, 200, 210]);
        assert!(!renumbered);
    }

    #[test]
    fn an_insertion_renumbers_nothing_else() {
        let old = acl(&[
            (100, "remark a: allow"),
            (110, "permit ip any any"),
            (200, "remark b: deny"),
            (210, "deny ip any any"),
        ]);
        let previous = PreviousNumbers::parse(&old);
        let lines = [
            "remark a: allow",
            "permit ip any any",
            "remark new: allow",
            "permit tcp any any",
            "remark b: deny",
            "deny ip any any",
        ];
        let (numbers, renumbered) = previous.number("WW-a-IN4", &lines);
        assert_eq!(numbers, [100, 110, 120, 130, 200, 210]);
        assert!(!renumbered);
        // And numbering that output again changes nothing.
        let again = acl(&lines
            .iter()
            .zip(&numbers)
            .map(|(l, n)| (*n, *l))
            .collect::<Vec<_>>());
        assert_eq!(
            PreviousNumbers::parse(&again).number("WW-a-IN4", &lines).0,
            numbers
        );
    }

    #[test]
    fn a_grown_block_keeps_its_first_number_and_the_rest_stay() {
        let old = acl(&[
            (100, "remark a: allow"),
            (110, "permit ip any any"),
            (200, "remark b: deny"),
            (210, "deny ip any any"),
        ]);
        let lines = [
            "remark a: allow",
            "permit tcp any any",
            "permit udp any any",
            "remark b: deny",
            "deny ip any any",
        ];
        let (numbers, _) = PreviousNumbers::parse(&old).number("WW-a-IN4", &lines);
        assert_eq!(numbers, [100, 110, 120, 200, 210]);
    }

    #[test]
    fn a_moved_block_unpins_only_itself() {
        let old = acl(&[
            (100, "remark a: allow"),
            (110, "permit ip any any"),
            (200, "remark b: allow"),
            (210, "permit ip any any"),
            (300, "remark c: allow"),
            (310, "permit ip any any"),
        ]);
        let lines = [
            "remark c: allow",
            "permit ip any any",
            "remark a: allow",
            "permit ip any any",
            "remark b: allow",
            "permit ip any any",
        ];
        let (numbers, renumbered) = PreviousNumbers::parse(&old).number("WW-a-IN4", &lines);
        assert_eq!(numbers, [10, 20, 100, 110, 200, 210]);
        assert!(!renumbered);
    }

    #[test]
    fn a_full_gap_renumbers_the_acl_and_says_so() {
        let old = acl(&[(1, "remark a: allow"), (2, "permit ip any any")]);
        let lines = [
            "remark new: allow",
            "permit tcp any any",
            "remark a: allow",
            "permit ip any any",
        ];
        let (numbers, renumbered) = PreviousNumbers::parse(&old).number("WW-a-IN4", &lines);
        assert!(renumbered);
        assert_eq!(numbers, [100, 110, 200, 210]);
    }

    #[test]
    fn numbers_that_do_not_rise_are_ignored() {
        let old = acl(&[(200, "remark a: allow"), (100, "permit ip any any")]);
        let lines = ["remark a: allow", "permit ip any any"];
        assert_eq!(
            PreviousNumbers::parse(&old).number("WW-a-IN4", &lines),
            (vec![100, 110], false)
        );
    }
}
