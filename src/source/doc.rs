//! The parsed KDL document the decoder reads: node names, entries, values,
//! children and the span of each, nothing else.
//!
//! kdl's `KdlDocument` keeps what it needs to print a document back exactly
//! (each value's original text, the whitespace and comments around every
//! entry and node): 139 MiB for a 2.2 MB, 10,000-rule policy, and most of
//! the compile time went into building and dropping it. The decoder needs
//! only names, values and spans, so the fast path ([`super::fastkdl`])
//! builds this document directly and a document only kdl can read is
//! converted with [`Doc::from_kdl`].
//!
//! The document is three flat arrays (nodes, entries, property keys) and a
//! table of the few strings that are not a slice of the source text (those
//! with escapes): a 10,000-rule policy is about 65,000 nodes and 155,000
//! entries, which as separately allocated nodes cost more memory and time
//! than everything built from them. The nodes of one block are contiguous,
//! and so are the entries of one node. The decoder walks it through the
//! [`Node`], [`Entry`] and [`Block`] handles, whose accessors are named as
//! kdl's are.

use std::ops::Range;

use kdl::{KdlDocument, KdlNode, KdlValue};
use miette::SourceSpan;

/// A parsed document; `'a` is the source text its strings borrow from.
#[derive(Debug)]
pub(crate) struct Doc<'a> {
    text: &'a str,
    /// Strings that are not a slice of `text`.
    owned: Vec<Box<str>>,
    nodes: Vec<NodeData>,
    entries: Vec<EntryData>,
    /// Property keys (few: only `interface` takes properties).
    keys: Vec<(Str, Span32)>,
    top: BlockData,
}

/// A string: `len` bytes of the text at `at`, or `owned[at]` when `len` is
/// [`Str::OWNED`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Str {
    at: u32,
    len: u32,
}

impl Str {
    const OWNED: u32 = u32::MAX;
}

/// A span in 8 bytes instead of `SourceSpan`'s 16 (policy files are at
/// most 64 MiB).
#[derive(Debug, Clone, Copy)]
pub(super) struct Span32 {
    offset: u32,
    len: u32,
}

impl Span32 {
    /// The span from byte `start` to byte `end`.
    pub(super) fn new(start: usize, end: usize) -> Span32 {
        Span32 {
            offset: to_u32(start),
            len: to_u32(end - start),
        }
    }

    fn from_source(s: SourceSpan) -> Span32 {
        Span32::new(s.offset(), s.offset() + s.len())
    }

    fn source(self) -> SourceSpan {
        SourceSpan::new((self.offset as usize).into(), self.len as usize)
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("policy files are at most 64 MiB")
}

/// The nodes `first..first + len` of [`Doc::nodes`].
#[derive(Debug, Clone, Copy)]
pub(super) struct BlockData {
    first: u32,
    len: u32,
    span: Span32,
}

#[derive(Debug)]
pub(super) struct NodeData {
    name: Str,
    name_span: Span32,
    span: Span32,
    /// The entries `first..first + count` of [`Doc::entries`].
    entries_first: u32,
    entries_count: u32,
    children: Option<BlockData>,
}

#[derive(Debug)]
pub(super) struct EntryData {
    value: StoredValue,
    span: Span32,
    /// Index into [`Doc::keys`] for a property; [`EntryData::ARGUMENT`] for
    /// an argument.
    key: u32,
}

impl EntryData {
    const ARGUMENT: u32 = u32::MAX;
}

/// A value as stored: 20 bytes, 4-aligned (an `i128` or `f64` field would
/// make every entry 8 or 16 bytes larger).
#[derive(Debug, Clone, Copy)]
pub(super) enum StoredValue {
    String(Str),
    Integer([u32; 4]),
    Float([u32; 2]),
    Bool(bool),
    Null,
}

impl StoredValue {
    pub(super) fn integer(n: i128) -> StoredValue {
        let b = n.to_le_bytes();
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        StoredValue::Integer([word(0), word(4), word(8), word(12)])
    }

    fn float(f: f64) -> StoredValue {
        let bits = f.to_bits();
        StoredValue::Float([bits as u32, (bits >> 32) as u32])
    }
}

/// A value, as the decoder sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'d> {
    String(&'d str),
    Integer(i128),
    Float(f64),
    Bool(bool),
    Null,
}

/// A node name or property key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ident<'d> {
    value: &'d str,
    span: SourceSpan,
}

impl<'d> Ident<'d> {
    pub(crate) fn value(&self) -> &'d str {
        self.value
    }

    pub(crate) fn span(&self) -> SourceSpan {
        self.span
    }
}

/// A sequence of nodes: the file, or the block (`{ ... }`) of a node.
#[derive(Clone, Copy)]
pub(crate) struct Block<'d> {
    doc: &'d Doc<'d>,
    data: BlockData,
}

impl<'d> Block<'d> {
    pub(crate) fn nodes(self) -> impl ExactSizeIterator<Item = Node<'d>> + 'd {
        let doc = self.doc;
        let (first, len) = (self.data.first as usize, self.data.len as usize);
        doc.nodes[first..first + len]
            .iter()
            .map(move |data| Node { doc, data })
    }

    /// From the first node to the end of the last one, as kdl reports it.
    pub(crate) fn span(self) -> SourceSpan {
        self.data.span.source()
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Node<'d> {
    doc: &'d Doc<'d>,
    data: &'d NodeData,
}

impl<'d> Node<'d> {
    pub fn name(self) -> Ident<'d> {
        Ident {
            value: self.doc.str(self.data.name),
            span: self.data.name_span.source(),
        }
    }

    /// Arguments and properties, in the order written.
    pub(crate) fn entries(self) -> impl ExactSizeIterator<Item = Entry<'d>> + 'd {
        let doc = self.doc;
        let first = self.data.entries_first as usize;
        doc.entries[first..first + self.data.entries_count as usize]
            .iter()
            .map(move |data| Entry { doc, data })
    }

    pub(crate) fn children(self) -> Option<Block<'d>> {
        self.data.children.map(|data| Block {
            doc: self.doc,
            data,
        })
    }

    pub(crate) fn span(self) -> SourceSpan {
        self.data.span.source()
    }
}

/// An argument (no name) or a property (`key=value`).
#[derive(Clone, Copy)]
pub struct Entry<'d> {
    doc: &'d Doc<'d>,
    data: &'d EntryData,
}

impl<'d> Entry<'d> {
    pub fn name(self) -> Option<Ident<'d>> {
        let &(key, span) = self.doc.keys.get(self.data.key as usize)?;
        Some(Ident {
            value: self.doc.str(key),
            span: span.source(),
        })
    }

    pub(crate) fn value(self) -> Value<'d> {
        match self.data.value {
            StoredValue::String(s) => Value::String(self.doc.str(s)),
            StoredValue::Integer(words) => {
                let mut bytes = [0u8; 16];
                for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
                    chunk.copy_from_slice(&word.to_le_bytes());
                }
                Value::Integer(i128::from_le_bytes(bytes))
            }
            StoredValue::Float([lo, hi]) => {
                Value::Float(f64::from_bits(u64::from(lo) | (u64::from(hi) << 32)))
            }
            StoredValue::Bool(b) => Value::Bool(b),
            StoredValue::Null => Value::Null,
        }
    }

    /// The whole entry: from the key (if any) to the end of the value.
    pub(crate) fn span(self) -> SourceSpan {
        self.data.span.source()
    }
}

impl<'a> Doc<'a> {
    /// The top-level nodes.
    pub(crate) fn top(&self) -> Block<'_> {
        Block {
            doc: self,
            data: self.top,
        }
    }

    fn str(&self, s: Str) -> &str {
        if s.len == Str::OWNED {
            &self.owned[s.at as usize]
        } else {
            &self.text[s.at as usize..(s.at + s.len) as usize]
        }
    }

    /// The same document as kdl parsed it. Type annotations are dropped:
    /// the policy language has none, and the decoder never read them.
    pub(crate) fn from_kdl(doc: &KdlDocument) -> Doc<'static> {
        let mut b = Builder::new("");
        let top = convert_block(&mut b, doc);
        b.finish(top)
    }
}

fn convert_block(b: &mut Builder<'_>, doc: &KdlDocument) -> BlockData {
    let mark = b.block_start();
    for node in doc.nodes() {
        convert_node(b, node);
    }
    b.block_end(mark, Span32::from_source(doc.span()))
}

fn convert_node(b: &mut Builder<'_>, node: &KdlNode) {
    let name = b.owned(node.name().value().to_string());
    let entries_start = b.entries_mark();
    for e in node.entries() {
        let key = e.name().map(|k| {
            (
                b.owned(k.value().to_string()),
                Span32::from_source(k.span()),
            )
        });
        let value = match e.value() {
            KdlValue::String(s) => StoredValue::String(b.owned(s.clone())),
            KdlValue::Integer(n) => StoredValue::integer(*n),
            KdlValue::Float(f) => StoredValue::float(*f),
            KdlValue::Bool(v) => StoredValue::Bool(*v),
            KdlValue::Null => StoredValue::Null,
        };
        b.entry(key, value, Span32::from_source(e.span()));
    }
    let entries = entries_start..b.entries_mark();
    let children = node.children().map(|c| convert_block(b, c));
    b.node(
        name,
        Span32::from_source(node.name().span()),
        Span32::from_source(node.span()),
        entries,
        children,
    );
}

/// Builds a [`Doc`] in the order a parser meets it. A node's entries are
/// added before its children are parsed, so they are contiguous; a block's
/// nodes wait on a stack until the block ends and then move to the node
/// array together.
pub(super) struct Builder<'a> {
    doc: Doc<'a>,
    pending: Vec<NodeData>,
}

impl<'a> Builder<'a> {
    pub(super) fn new(text: &'a str) -> Builder<'a> {
        // Room for a typical policy's nodes and entries (about one node per
        // 34 bytes of text and one entry per 14), so the arrays are not
        // copied as they grow; capacity that is never written costs no
        // memory.
        Builder {
            doc: Doc {
                text,
                owned: Vec::new(),
                nodes: Vec::with_capacity(text.len() / 24),
                entries: Vec::with_capacity(text.len() / 10),
                keys: Vec::new(),
                top: BlockData {
                    first: 0,
                    len: 0,
                    span: Span32 { offset: 0, len: 0 },
                },
            },
            pending: Vec::new(),
        }
    }

    /// The text from byte `start` to byte `end`.
    pub(super) fn slice(&self, start: usize, end: usize) -> Str {
        debug_assert!(end <= self.doc.text.len());
        let s = Span32::new(start, end);
        Str {
            at: s.offset,
            len: s.len,
        }
    }

    /// A string that is not a slice of the text.
    pub(super) fn owned(&mut self, s: String) -> Str {
        let at = to_u32(self.doc.owned.len());
        self.doc.owned.push(s.into_boxed_str());
        Str {
            at,
            len: Str::OWNED,
        }
    }

    pub(super) fn entries_mark(&self) -> u32 {
        to_u32(self.doc.entries.len())
    }

    pub(super) fn entry(&mut self, key: Option<(Str, Span32)>, value: StoredValue, span: Span32) {
        let key = match key {
            Some(k) => {
                self.doc.keys.push(k);
                to_u32(self.doc.keys.len() - 1)
            }
            None => EntryData::ARGUMENT,
        };
        self.doc.entries.push(EntryData { value, span, key });
    }

    /// A node whose entries were added as `entries` (marks taken before
    /// and after them, not after its block) and whose block (if any) has
    /// ended.
    pub(super) fn node(
        &mut self,
        name: Str,
        name_span: Span32,
        span: Span32,
        entries: Range<u32>,
        children: Option<BlockData>,
    ) {
        self.pending.push(NodeData {
            name,
            name_span,
            span,
            entries_first: entries.start,
            entries_count: entries.end - entries.start,
            children,
        });
    }

    pub(super) fn block_start(&self) -> usize {
        self.pending.len()
    }

    /// Ends the block whose nodes were added since `mark`.
    pub(super) fn block_end(&mut self, mark: usize, span: Span32) -> BlockData {
        let first = to_u32(self.doc.nodes.len());
        self.doc.nodes.extend(self.pending.drain(mark..));
        BlockData {
            first,
            len: to_u32(self.doc.nodes.len()) - first,
            span,
        }
    }

    pub(super) fn finish(mut self, top: BlockData) -> Doc<'a> {
        debug_assert!(self.pending.is_empty());
        self.doc.top = top;
        self.doc
    }
}
