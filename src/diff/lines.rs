//! The line diff of one file as a unified diff, computed over one hash per
//! line rather than over the lines, so that the old side can be held
//! packed ([`PackedText`]) while the new one is compared with it.
//!
//! The format is that of `similar`'s `TextDiff::from_lines(...)
//! .unified_diff()` (3 lines of context, the missing-newline hint), and a
//! file within one search window gets its very edit script (Myers over
//! hashes that stand for the lines); a larger file is searched a window at
//! a time, which may place a hunk differently where several scripts are
//! equally good (see [`script`]). Equal hashes are only a claim:
//! every pair of lines the script keeps as equal is checked against the
//! text, and if one is not (a hash collision, accidental or made), the
//! file is diffed again over its text.

use std::borrow::Cow;
use std::fmt::Write as _;

use similar::{Algorithm, DiffOp, DiffTag};

use crate::packed_text::{self, PackedLines, PackedText};

/// Context lines around each change, as in `diff -u`.
const CONTEXT: usize = 3;

/// Lines of each side that one Myers search covers at first. Myers (as
/// `similar` runs it) needs tens of bytes per line of what it compares,
/// which for a 6-million-line rendering is most of a gigabyte; a window
/// bounds that, and a change larger than a window widens it.
const WINDOW: usize = 1 << 16;

/// Equal lines in a row that end a window's trusted part: the script is
/// kept up to a few lines before the end of the last such run, and the
/// next window starts there, on lines both sides share.
const ANCHOR: usize = 32;

/// One side of a file diff: a text in memory, or one held packed.
#[derive(Clone, Copy)]
pub(crate) enum Side<'a> {
    Text(&'a str),
    Packed(&'a PackedText),
}

/// A file's unified diff and its counts of added and removed lines.
pub(crate) struct LineDiff {
    pub unified: String,
    pub added: usize,
    pub removed: usize,
}

/// The unified diff from `old` to `new`, with `--- old_name` and
/// `+++ new_name` headers (nothing at all when they are equal).
pub(crate) fn unified(old: Side, new: Side, old_name: &str, new_name: &str) -> LineDiff {
    let ops = script(&old.hashes(), &new.hashes());
    written(ops, old, new, old_name, new_name)
}

/// The unified diff that the script `ops` makes of `old` and `new`, or, if
/// the script calls two different lines equal, the one over the text.
fn written(ops: Vec<DiffOp>, old: Side, new: Side, old_name: &str, new_name: &str) -> LineDiff {
    if !equal_lines_are_equal(&ops, old, new) {
        return unified_over_text(old, new, old_name, new_name);
    }
    let (mut added, mut removed) = (0, 0);
    for op in ops.iter().filter(|op| op.tag() != DiffTag::Equal) {
        removed += op.old_range().len();
        added += op.new_range().len();
    }
    let mut unified = String::new();
    let (mut old_lines, mut new_lines) = (old.reader(), new.reader());
    for (i, hunk) in similar::group_diff_ops(ops, CONTEXT)
        .into_iter()
        .filter(|hunk| !hunk.is_empty())
        .enumerate()
    {
        if i == 0 {
            let _ = writeln!(unified, "--- {old_name}\n+++ {new_name}");
        }
        let _ = writeln!(unified, "{}", similar::udiff::UnifiedHunkHeader::new(&hunk));
        for op in &hunk {
            let (tag, old_range, new_range) = op.as_tag_tuple();
            if tag == DiffTag::Equal {
                // The same text on both sides (checked above).
                for i in new_range {
                    push_line(&mut unified, ' ', new_lines.line(i));
                }
                continue;
            }
            for i in old_range {
                push_line(&mut unified, '-', old_lines.line(i));
            }
            for i in new_range {
                push_line(&mut unified, '+', new_lines.line(i));
            }
        }
    }
    LineDiff {
        unified,
        added,
        removed,
    }
}

/// The edit script from `old` to `new` (line hashes), one window at a
/// time. Where changes are separated by runs of equal lines, which is how
/// a policy change moves a rendering, this finds what one search over both
/// whole files finds, up to where Myers' heuristics or hunk sliding pick
/// among scripts of the same size; anywhere else it is still a correct
/// script.
fn script(old: &[u64], new: &[u64]) -> Vec<DiffOp> {
    let mut ops = Vec::new();
    let (mut i, mut j, mut window) = (0, 0, WINDOW);
    loop {
        let (old_end, new_end) = ((i + window).min(old.len()), (j + window).min(new.len()));
        let found = similar::capture_diff_deadline(
            Algorithm::Myers,
            old,
            i..old_end,
            new,
            j..new_end,
            None,
        );
        if old_end == old.len() && new_end == new.len() {
            found.into_iter().for_each(|op| push_op(&mut ops, op));
            return ops;
        }
        // The end of a window cuts the files at an arbitrary line, so what
        // the search found near it is not trusted: keep the script up to
        // the last long run of equal lines, less a few lines to start the
        // next window on.
        let Some(last) = found
            .iter()
            .rposition(|op| matches!(op, DiffOp::Equal { len, .. } if *len >= ANCHOR))
        else {
            window *= 2;
            continue;
        };
        let DiffOp::Equal {
            old_index,
            new_index,
            len,
        } = found[last]
        else {
            unreachable!("rposition found an equal run")
        };
        let kept = len - ANCHOR / 2;
        found[..last].iter().for_each(|op| push_op(&mut ops, *op));
        push_op(
            &mut ops,
            DiffOp::Equal {
                old_index,
                new_index,
                len: kept,
            },
        );
        (i, j, window) = (old_index + kept, new_index + kept, WINDOW);
    }
}

/// Appends `op`, joining it to an equal run it continues (the hunks are
/// cut where equal runs are long, so a run split across windows must be
/// one again).
fn push_op(ops: &mut Vec<DiffOp>, op: DiffOp) {
    if let (
        Some(DiffOp::Equal {
            old_index: at, len, ..
        }),
        DiffOp::Equal {
            old_index,
            len: more,
            ..
        },
    ) = (ops.last_mut(), op)
        && *at + *len == old_index
    {
        *len += more;
        return;
    }
    ops.push(op);
}

/// One line of a hunk: its mark, the line with its ending, and the hint
/// when it has none (the last line of a file without a final newline).
fn push_line(out: &mut String, mark: char, line: &str) {
    out.push(mark);
    out.push_str(line);
    if !line.ends_with(['\r', '\n']) {
        out.push_str("\n\\ No newline at end of file\n");
    }
}

/// Whether every pair of lines the script keeps equal has the same text.
fn equal_lines_are_equal(ops: &[DiffOp], old: Side, new: Side) -> bool {
    let (mut old_lines, mut new_lines) = (old.reader(), new.reader());
    ops.iter().all(|op| match *op {
        DiffOp::Equal {
            old_index,
            new_index,
            len,
        } => (0..len).all(|i| old_lines.line(old_index + i) == new_lines.line(new_index + i)),
        _ => true,
    })
}

/// The diff over the texts themselves, for when line hashes collided.
fn unified_over_text(old: Side, new: Side, old_name: &str, new_name: &str) -> LineDiff {
    let (old, new) = (old.text(), new.text());
    let diff = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
    let (mut added, mut removed) = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Insert => added += 1,
            similar::ChangeTag::Delete => removed += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    let unified = diff
        .unified_diff()
        .context_radius(CONTEXT)
        .missing_newline_hint(true)
        .header(old_name, new_name)
        .to_string();
    LineDiff {
        unified,
        added,
        removed,
    }
}

impl<'a> Side<'a> {
    fn hashes(self) -> Cow<'a, [u64]> {
        match self {
            Side::Text(text) => packed_text::lines(text)
                .map(packed_text::line_hash)
                .collect(),
            Side::Packed(packed) => Cow::Borrowed(packed.hashes()),
        }
    }

    fn text(self) -> Cow<'a, str> {
        match self {
            Side::Text(text) => Cow::Borrowed(text),
            Side::Packed(packed) => Cow::Owned(packed.unpack()),
        }
    }

    fn reader(self) -> Lines<'a> {
        match self {
            Side::Text(text) => Lines::Text {
                text,
                next: 0,
                at: 0,
            },
            Side::Packed(packed) => Lines::Packed(packed.reader()),
        }
    }
}

/// Reads single lines of a side. A text is read forward without an index
/// of its lines (the passes here only ever ask for later lines).
enum Lines<'a> {
    Text {
        text: &'a str,
        /// The index of the line that starts at byte `at`.
        next: usize,
        at: usize,
    },
    Packed(PackedLines<'a>),
}

impl Lines<'_> {
    fn line(&mut self, index: usize) -> &str {
        match self {
            Lines::Text { text, next, at } => {
                if index < *next {
                    (*next, *at) = (0, 0);
                }
                let mut rest = packed_text::lines(&text[*at..]);
                for _ in *next..index {
                    *at += rest.next().expect("line index within the text").len();
                }
                let line = rest.next().expect("line index within the text");
                (*next, *at) = (index + 1, *at + line.len());
                line
            }
            Lines::Packed(reader) => reader.line(index),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `similar` itself writes for the two texts.
    fn similar_unified(old: &str, new: &str) -> (String, usize, usize) {
        let d = unified_over_text(Side::Text(old), Side::Text(new), "a/f", "b/f");
        (d.unified, d.added, d.removed)
    }

    fn ours(old: Side, new: &str) -> (String, usize, usize) {
        let d = unified(old, Side::Text(new), "a/f", "b/f");
        (d.unified, d.added, d.removed)
    }

    #[test]
    fn a_change_in_a_large_file_is_the_hunk_similar_writes() {
        let old: String = (0..50_000).map(|i| format!("rule {}\n", i % 977)).collect();
        let mut new = old.replacen("rule 500\n", "rule 500 changed\n", 3);
        new.push_str("tail without newline");
        let packed = PackedText::pack(&old);
        let expected = similar_unified(&old, &new);
        assert_eq!(ours(Side::Packed(&packed), &new), expected);
        assert_eq!(ours(Side::Text(&old), &new), expected);
        assert!(expected.0.contains("\\ No newline at end of file"));
    }

    #[test]
    fn a_hash_collision_does_not_hide_a_change() {
        // As if "same" and "SAME" had one hash: the script over hashes
        // calls every line equal; the check against the text finds the
        // pair that is not, and the diff is made over the text.
        let old = "a\nsame\nc\n";
        let new = "a\nSAME\nc\n";
        let all_equal = vec![DiffOp::Equal {
            old_index: 0,
            new_index: 0,
            len: 3,
        }];
        let packed = PackedText::pack(old);
        for old in [Side::Text(old), Side::Packed(&packed)] {
            let d = written(all_equal.clone(), old, Side::Text(new), "a/f", "b/f");
            assert!(d.unified.contains("-same\n+SAME\n"), "{}", d.unified);
            assert_eq!((d.added, d.removed), (1, 1));
        }
    }

    /// Checks that `ops` turns `old` into `new`: every line of both sides
    /// once, in order, and the lines it keeps equal are equal.
    fn assert_script(ops: &[DiffOp], old: &[u64], new: &[u64]) {
        let (mut i, mut j) = (0, 0);
        for op in ops {
            let (tag, o, n) = op.as_tag_tuple();
            assert_eq!((o.start, n.start), (i, j), "{op:?} continues the script");
            if tag == DiffTag::Equal {
                assert_eq!(old[o.clone()], new[n.clone()], "{op:?}");
            }
            (i, j) = (o.end, n.end);
        }
        assert_eq!((i, j), (old.len(), new.len()));
    }

    fn hashes(text: &str) -> Vec<u64> {
        packed_text::lines(text)
            .map(packed_text::line_hash)
            .collect()
    }

    #[test]
    fn sparse_changes_across_many_windows_diff_as_one_search_would() {
        // Distinct lines, so the shortest script is the only one: the
        // windows must find exactly what `similar` finds over the whole.
        let old: String = (0..300_000).map(|i| format!("rule {i}\n")).collect();
        let new = (0..300_000)
            .filter(|i| i % 7919 != 13)
            .map(|i| match i % 10_007 {
                5 => format!("rule {i} changed\n"),
                6 => format!("rule {i}\nrule {i} inserted\n"),
                _ => format!("rule {i}\n"),
            })
            .collect::<String>();
        let ops = script(&hashes(&old), &hashes(&new));
        assert_script(&ops, &hashes(&old), &hashes(&new));
        let ours = ours(Side::Packed(&PackedText::pack(&old)), &new);
        assert_eq!(ours, similar_unified(&old, &new));
        // 38 deleted, 30 changed and 30 inserted: 60 added, 68 removed.
        assert_eq!((ours.1, ours.2), (60, 68));
    }

    #[test]
    fn a_change_larger_than_a_window_widens_it() {
        // Nothing in common for more than a window: the script is still
        // correct, and the common tail is found again.
        let common = |tag: &str| -> String { (0..1000).map(|i| format!("{tag} {i}\n")).collect() };
        let old_mid: String = (0..WINDOW * 2).map(|i| format!("old {i}\n")).collect();
        let new_mid: String = (0..WINDOW * 3).map(|i| format!("new {i}\n")).collect();
        let old = format!("{}{old_mid}{}", common("head"), common("tail"));
        let new = format!("{}{new_mid}{}", common("head"), common("tail"));
        let ops = script(&hashes(&old), &hashes(&new));
        assert_script(&ops, &hashes(&old), &hashes(&new));
        let kept: usize = ops
            .iter()
            .filter(|op| op.tag() == DiffTag::Equal)
            .map(|op| op.old_range().len())
            .sum();
        assert_eq!(kept, 2000);
    }

    proptest! {
        #[test]
        fn the_diff_is_the_one_similar_writes(
            // Past 100 lines `similar` takes another path (trimmed, lines
            // numbered): both are covered.
            old in proptest::collection::vec("[abc]{0,2}(\n|\r\n|\r)?", 0..300),
            new in proptest::collection::vec("[abc]{0,2}(\n|\r\n|\r)?", 0..300),
        ) {
            let (old, new) = (old.concat(), new.concat());
            let expected = similar_unified(&old, &new);
            prop_assert_eq!(ours(Side::Packed(&PackedText::pack(&old)), &new), expected.clone());
            prop_assert_eq!(ours(Side::Text(&old), &new), expected);
        }
    }
}
