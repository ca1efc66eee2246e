//! Readers of device exports: the configuration a device really runs, as
//! the device prints it, into the [`super::device::Device`] model. One
//! module per target; each target's [`super::Reader::device`] calls it.
//!
//! These read what a device prints, which is far more than wardwall writes
//! (other tools' tables, object groups, NAT, VPNs): what decides forwarded
//! traffic is modelled, what does not is skipped and listed
//! ([`super::device::Device::skipped`]), and what is not understood is an
//! error with its line and column, never a guess.

/// Generates a set of known child tags: an enum (a variant per tag, in
/// order) and `$index`, a tag's variant number, for [`Known`]. Defined before the
/// reader modules, which use it.
macro_rules! known_tags {
    ($(#[$meta:meta])* $name:ident, $index:ident: $($variant:ident = $tag:literal,)*) => {
        $(#[$meta])*
        #[derive(Clone, Copy)]
        enum $name {
            $($variant,)*
        }

        impl $name {
            const COUNT: usize = [$($tag),*].len();
        }

        impl From<$name> for usize {
            fn from(k: $name) -> usize {
                k as usize
            }
        }

        fn $index(tag: &str) -> Option<usize> {
            match tag {
                $($tag => Some($name::$variant as usize),)*
                _ => None,
            }
        }
    };
}

pub mod cisco;
pub mod cisco_inventory;
pub(crate) mod cisco_tables;
pub mod inventory;
pub mod nftables;
pub mod panos;
pub mod panos_inventory;
pub mod pfsense;
pub mod pfsense_inventory;

use crate::read::xml::Node;

/// Where each line of a text starts: a reader that locates every entry of
/// a large export builds it once (a scan from the start per entry would
/// make reading quadratic in the file's size).
#[derive(Clone, Debug)]
pub(crate) struct LineIndex {
    /// Byte offset of each line's first character.
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let mut starts = vec![0];
        // memchr's search runs many bytes a step; lines are short, so a
        // search per line (`match_indices`) cost more than the lines.
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        Self { starts }
    }

    /// The 1-based line and column of byte `offset` in `text` (the text
    /// the index was built from; columns count characters).
    pub fn at(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(text.len());
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        (line, text[start..offset].chars().count() + 1)
    }

    /// Line `line` (1-based) of `text`, without its line break.
    pub fn line<'t>(&self, text: &'t str, line: usize) -> &'t str {
        let Some(&start) = self.starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let end = self.starts.get(line).map_or(text.len(), |&e| e - 1);
        text[start..end].trim_end_matches('\r')
    }
}

/// `name`'s entry in `cache`, else what `resolve` makes of it, kept only
/// when it succeeds (an error is reported where the name is first used).
pub(crate) fn memoized<T: Clone>(
    cache: &std::cell::RefCell<rustc_hash::FxHashMap<String, T>>,
    name: &str,
    resolve: impl FnOnce() -> Result<T, crate::read::device::DeviceError>,
) -> Result<T, crate::read::device::DeviceError> {
    if let Some(found) = cache.borrow().get(name) {
        return Ok(found.clone());
    }
    // Not borrowed while resolving: a group's members are looked up
    // through the same cache.
    let found = resolve()?;
    cache.borrow_mut().insert(name.to_string(), found.clone());
    Ok(found)
}

/// [`LineIndex::at`] for offsets met in ascending order: each line's
/// characters are counted once, however long the line (`nft -j list
/// ruleset` prints megabytes on one line, and a column counted from the
/// line's start for every element made reading it quadratic).
pub(crate) struct Ascending<'i> {
    index: &'i LineIndex,
    /// The last offset located, with its line and column.
    last: (usize, usize, usize),
}

impl<'i> Ascending<'i> {
    pub(crate) fn new(index: &'i LineIndex) -> Self {
        Self {
            index,
            last: (0, 1, 1),
        }
    }

    /// The same as [`LineIndex::at`]; fastest when `offset` is at or after
    /// the previous one on the same line.
    pub(crate) fn at(&mut self, text: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(text.len());
        let (last, last_line, last_column) = self.last;
        let line = self.index.starts.partition_point(|&s| s <= offset);
        let at = if line == last_line && offset >= last {
            (line, last_column + text[last..offset].chars().count())
        } else {
            self.index.at(text, offset)
        };
        self.last = (offset, at.0, at.1);
        at
    }
}

/// The 1-based line and column of byte `offset` in `text` (columns count
/// characters). Scans from the start: for one error; use [`LineIndex`] to
/// locate many entries.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// An element's children of the tags a reader knows (numbered by `index`),
/// found in one pass: the first child of each tag, as a search of its children finds it,
/// and the first child of a tag not among them. A rule's fields are asked
/// for many times each; scanning the children for every question was most
/// of reading a rule (pfSense and PAN-OS alike).
#[derive(Clone, Copy)]
pub(crate) struct Known<'a, 'i, const N: usize> {
    pub(crate) node: Node<'a, 'i>,
    found: [Option<Node<'a, 'i>>; N],
    pub(crate) unknown: Option<Node<'a, 'i>>,
}

impl<'a, 'i, const N: usize> Known<'a, 'i, N> {
    pub(crate) fn of(node: Node<'a, 'i>, index: impl Fn(&str) -> Option<usize>) -> Self {
        let mut found = [None; N];
        let mut unknown = None;
        for c in node.children() {
            match index(c.name()) {
                Some(k) => {
                    found[k].get_or_insert(c);
                }
                None => {
                    unknown.get_or_insert(c);
                }
            }
        }
        Known {
            node,
            found,
            unknown,
        }
    }

    /// The first child of tag `k`.
    pub(crate) fn child(&self, k: impl Into<usize>) -> Option<Node<'a, 'i>> {
        self.found[k.into()]
    }

    /// [`Known::child`], else the element itself (where an error about a field
    /// that is not there points).
    pub(crate) fn at(&self, k: impl Into<usize>) -> Node<'a, 'i> {
        self.found[k.into()].unwrap_or(self.node)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_col_counts_lines_and_characters() {
        let t = "ab\ncdé\nf";
        assert_eq!(super::line_col(t, 0), (1, 1));
        assert_eq!(super::line_col(t, 3), (2, 1));
        assert_eq!(super::line_col(t, t.find('f').unwrap()), (3, 1));
        assert_eq!(super::line_col(t, t.len()), (3, 2));
        let index = super::LineIndex::new(t);
        for at in [0, 1, 2, 3, 5, t.find('f').unwrap(), t.len()] {
            if t.is_char_boundary(at) {
                assert_eq!(index.at(t, at), super::line_col(t, at), "offset {at}");
            }
        }
        let mut ascending = super::Ascending::new(&index);
        for at in [0, 1, 3, 5, 4, t.find('f').unwrap(), 2, t.len()] {
            if t.is_char_boundary(at) {
                assert_eq!(ascending.at(t, at), super::line_col(t, at), "offset {at}");
            }
        }
        assert_eq!(index.line(t, 2), "cdé");
        assert_eq!(index.line(t, 3), "f");
        assert_eq!(index.line(t, 4), "");
    }
}
