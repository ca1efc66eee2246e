//! A compact, read-only XML element tree for the device readers (PAN-OS
//! running-config, pfSense config.xml).
//!
//! A device export is tens of megabytes of indented XML. A full DOM
//! (roxmltree) keeps a node for every element *and* for every run of
//! indentation between them, about 70 bytes each, and grows that vector
//! while it parses: at 10,000 rules that is a few hundred megabytes of
//! fresh memory per document, and a drift reads two or three documents.
//! The readers only ever ask an element for its children, its name, an
//! attribute, its place in the file, and its text trimmed, so that is all
//! this tree keeps: elements only, about 40 bytes each, every name and
//! nearly every text borrowed from the file.
//!
//! The tokens come from `xmlparser` (the tokenizer roxmltree itself was
//! built on), which checks the XML 1.0 grammar and characters. This module
//! adds what a tree builder must check: end tags match start tags, entity
//! and character references are known and valid, namespace prefixes are
//! bound, no attribute is given twice, and no DTD declares anything (as
//! roxmltree's default refuses one). A file this module refuses gets
//! roxmltree's own message and position, so errors read as they did; and
//! in debug builds every document is parsed by roxmltree too and must give
//! the same elements, attributes and texts (see [`same_as_roxmltree`]), so
//! every test holds the two parsers to one answer.

use std::borrow::Cow;

use xmlparser::{ElementEnd, Token, Tokenizer};

/// No node: the end of a sibling chain, or no first child.
const NONE: u32 = u32::MAX;

/// A span of text that is owned (see [`Document::owned`]) instead of
/// borrowed from the file: its `len` is this, its `start` the index.
const OWNED: u32 = u32::MAX;

/// A parsed document: its elements in document order.
pub(crate) struct Document<'i> {
    text: &'i str,
    nodes: Vec<NodeData<'i>>,
    attrs: Vec<AttrData>,
    /// Texts that are not a slice of the file (entities decoded, line ends
    /// normalized, or pieces joined).
    owned: Vec<String>,
}

#[derive(Clone, Copy, Debug)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    const EMPTY: Span = Span { start: 0, len: 0 };
}

#[derive(Clone, Debug)]
struct NodeData<'i> {
    /// The local name (after any prefix).
    name: &'i str,
    /// The byte offset of the start tag's `<`.
    start: u32,
    first_child: u32,
    next_sibling: u32,
    attrs: (u32, u32),
    /// The element's own text (its text and CDATA children joined), trimmed.
    text: Span,
}

#[derive(Clone, Debug)]
struct AttrData {
    /// The local name.
    name: Span,
    /// Whether the name has a prefix (so it is in a namespace).
    prefixed: bool,
    value: Span,
}

/// One element of a [`Document`].
#[derive(Clone, Copy)]
pub(crate) struct Node<'a, 'i> {
    doc: &'a Document<'i>,
    id: u32,
}

impl std::fmt::Debug for Node<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{}> at byte {}", self.name(), self.start())
    }
}

impl PartialEq for Node<'_, '_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.doc, other.doc) && self.id == other.id
    }
}

/// Why a file is not well-formed XML, where (1-based line and column, as
/// roxmltree counts them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct XmlError {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
}

impl<'i> Document<'i> {
    /// Parses `text`; an error carries roxmltree's message and position.
    pub(crate) fn parse(text: &'i str) -> Result<Document<'i>, XmlError> {
        let parsed = match fast(text) {
            Some(doc) => Ok(doc),
            None => Builder::new(text).and_then(Builder::run),
        };
        #[cfg(debug_assertions)]
        same_as_roxmltree(text, parsed.as_ref().ok());
        parsed.map_err(|ours| explained(text, ours))
    }

    /// The root element.
    pub(crate) fn root_element<'a>(&'a self) -> Node<'a, 'i> {
        Node { doc: self, id: 0 }
    }

    fn slice(&self, span: Span) -> &str {
        if span.len == OWNED {
            &self.owned[span.start as usize]
        } else {
            &self.text[span.start as usize..(span.start + span.len) as usize]
        }
    }

    fn node(&self, id: u32) -> Option<Node<'_, 'i>> {
        (id != NONE).then_some(Node { doc: self, id })
    }

    /// An empty document of `text`, with room for its elements.
    fn of(text: &'i str) -> Self {
        Document {
            text,
            nodes: Vec::with_capacity(node_capacity(text)),
            attrs: Vec::new(),
            owned: Vec::new(),
        }
    }

    /// Adds an element starting at byte `start`, as the last child of
    /// `parent` (its id and last child) if it has one; its attributes are
    /// the ones pushed after it. `None` past the last possible id.
    fn push_element(
        &mut self,
        name: &'i str,
        start: usize,
        parent: Option<(u32, &mut u32)>,
    ) -> Option<u32> {
        let id = u32::try_from(self.nodes.len())
            .ok()
            .filter(|&id| id != NONE)?;
        if let Some((parent, last)) = parent {
            if *last == NONE {
                self.nodes[parent as usize].first_child = id;
            } else {
                self.nodes[*last as usize].next_sibling = id;
            }
            *last = id;
        }
        self.nodes.push(NodeData {
            name,
            start: start as u32,
            first_child: NONE,
            next_sibling: NONE,
            attrs: (self.attrs.len() as u32, 0),
            text: Span::EMPTY,
        });
        Some(id)
    }

    /// Adds an attribute to the element pushed last.
    fn push_attribute(&mut self, name: &'i str, prefixed: bool, value: Cow<'i, str>) {
        let name = span_in(self.text, name);
        let value = doc_span(self, value);
        self.attrs.push(AttrData {
            name,
            prefixed,
            value,
        });
        self.nodes.last_mut().expect("an element holds it").attrs.1 += 1;
    }
}

impl<'a, 'i> Node<'a, 'i> {
    fn data(&self) -> &'a NodeData<'i> {
        &self.doc.nodes[self.id as usize]
    }

    /// The local name (`entry` for `<entry name="x">`).
    pub(crate) fn name(&self) -> &'a str {
        self.data().name
    }

    pub(crate) fn has_tag_name(&self, name: &str) -> bool {
        self.name() == name
    }

    /// The value of the unprefixed attribute `name`.
    pub(crate) fn attribute(&self, name: &str) -> Option<&'a str> {
        self.attributes()
            .find(|(n, prefixed, _)| !prefixed && *n == name)
            .map(|(_, _, v)| v)
    }

    /// Every attribute (namespace declarations left out): its local name,
    /// whether it has a prefix, and its value, normalized as XML says.
    pub(crate) fn attributes(&self) -> impl Iterator<Item = (&'a str, bool, &'a str)> + 'a {
        let (start, len) = self.data().attrs;
        let doc = self.doc;
        doc.attrs[start as usize..(start + len) as usize]
            .iter()
            .map(move |a| (doc.slice(a.name), a.prefixed, doc.slice(a.value)))
    }

    /// The child elements, in order.
    pub(crate) fn children(&self) -> Children<'a, 'i> {
        Children {
            doc: self.doc,
            next: self.data().first_child,
        }
    }

    /// The element's text: its text and CDATA children joined, trimmed
    /// (comments and child elements are not part of it).
    pub(crate) fn text(&self) -> &'a str {
        self.doc.slice(self.data().text)
    }

    /// The byte offset of the start tag's `<`.
    pub(crate) fn start(&self) -> usize {
        self.data().start as usize
    }
}

/// [`Node::children`].
pub(crate) struct Children<'a, 'i> {
    doc: &'a Document<'i>,
    next: u32,
}

impl<'a, 'i> Iterator for Children<'a, 'i> {
    type Item = Node<'a, 'i>;

    fn next(&mut self) -> Option<Node<'a, 'i>> {
        let node = self.doc.node(self.next)?;
        self.next = node.data().next_sibling;
        Some(node)
    }
}

// ------------------------------------------------------------------ the fast path

/// The file as devices write it, read a byte at a time: an XML
/// declaration of the usual form, ASCII names without prefixes, quoted
/// attributes, text, CDATA and comments. `None` for anything else, and
/// for anything wrong: the full [`Builder`] then reads the file and finds
/// the error, so this path only has to be right about what it accepts.
/// (The tokenizer checks each character through general XML grammar
/// rules; nearly every byte of a device file is indentation, an ASCII
/// name or a short value, which this path passes over directly.)
fn fast(text: &str) -> Option<Document<'_>> {
    u32::try_from(text.len()).ok()?;
    let b = text.as_bytes();
    let mut doc = Document::of(text);
    let mut open: Vec<FastOpen<'_>> = Vec::new();
    let mut i = declaration_end(b);
    let mut rooted = false;
    while i < b.len() {
        if open.is_empty() {
            // Outside the root: only spaces and comments (and the root).
            i = skip_spaces(b, i);
            if i == b.len() {
                break;
            }
            if b[i..].starts_with(b"<!--") {
                i = comment_end(b, i)?;
                continue;
            }
            if rooted {
                return None;
            }
            rooted = true;
        }
        if b[i] != b'<' {
            // Indentation before a tag, nearly half of a device file: with
            // no text yet it adds nothing, so it is only skipped.
            let blank_end = skip_indentation(b, i);
            if b.get(blank_end) == Some(&b'<') && open.last()?.text.text.is_none() {
                i = blank_end;
                continue;
            }
            let (end, kind) = scan_text(b, i)?;
            let raw = &text[i..end];
            let into = &mut open.last_mut()?.text;
            match kind {
                TextKind::Blank => into.push_classified(Cow::Borrowed(raw), true),
                TextKind::Plain => into.push_classified(Cow::Borrowed(raw), false),
                TextKind::Other => into.push(decoded(raw, i, true).ok()?),
            }
            i = end;
            continue;
        }
        match b.get(i + 1)? {
            b'/' => {
                // The end tag must name the open element: compared in place
                // rather than scanned as a name first.
                let closed = open.pop()?;
                let after = i + 2 + closed.name.len();
                if !b[i + 2..].starts_with(closed.name.as_bytes()) {
                    return None;
                }
                let after = skip_spaces(b, after);
                if b.get(after) != Some(&b'>') {
                    return None;
                }
                if let Some(t) = closed.text.finish() {
                    doc.nodes[closed.id as usize].text = doc_span(&mut doc, t);
                }
                i = after + 1;
            }
            b'!' if b[i..].starts_with(b"<!--") => i = comment_end(b, i)?,
            b'!' if b[i..].starts_with(b"<![CDATA[") && !open.is_empty() => {
                let body = i + 9;
                let end = find(b, body, b"]]>")?;
                let raw = &text[body..end];
                if !chars_ok(raw.as_bytes()) {
                    return None;
                }
                let piece = decoded(raw, body, false).ok()?;
                open.last_mut()?.text.push(piece);
                i = end + 3;
            }
            _ => {
                let (id, name, after, empty) = start_tag(text, &mut doc, &mut open, i)?;
                if !empty {
                    open.push(FastOpen {
                        id,
                        name,
                        last_child: NONE,
                        text: TextSoFar::default(),
                    });
                }
                i = after;
            }
        }
    }
    (rooted && open.is_empty()).then_some(doc)
}

/// Room for the elements of `text` without growing: an element takes
/// well over 16 bytes (`<a></a>`, and indentation), and room reserved but
/// never written costs no memory, only address space, while growing a
/// vector copies it into fresh memory (which the kernel must zero).
fn node_capacity(text: &str) -> usize {
    text.len() / 16 + 1
}

/// What [`scan_text`] found in a run of character data.
enum TextKind {
    /// Only ASCII spaces, tabs and newlines.
    Blank,
    /// ASCII, not blank, with nothing to decode.
    Plain,
    /// Anything else: references, carriage returns, non-ASCII.
    Other,
}

/// How [`scan_text`] takes a byte.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TextByte {
    /// Printable ASCII but `<`, `&` and `]`: nearly every byte of a text.
    Word,
    /// A space, tab or line feed.
    Blank,
    /// A carriage return, `&`, or non-ASCII but `0xEF`: not plain.
    Other,
    /// `<`, `]`, `0xEF` and the other C0 controls: looked at closely.
    Check,
}

const TEXT_BYTE: [TextByte; 256] = {
    let mut table = [TextByte::Other; 256];
    let mut c = 0;
    while c < 256 {
        table[c] = match c as u8 {
            b' ' | b'\t' | b'\n' => TextByte::Blank,
            b'\r' | b'&' => TextByte::Other,
            b'<' | b']' | 0xEF | 0..0x20 => TextByte::Check,
            0x80.. => TextByte::Other,
            _ => TextByte::Word,
        };
        c += 1;
    }
    table
};

/// The run of character data at `i`: where it ends (the next `<`) and
/// what it holds, in one pass; `None` if XML does not allow it.
fn scan_text(b: &[u8], i: usize) -> Option<(usize, TextKind)> {
    let mut blank = true;
    let mut plain = true;
    let mut k = i;
    loop {
        // A run of word bytes in a loop of its own: a text is mostly one.
        let word = k;
        while let Some(&c) = b.get(k)
            && TEXT_BYTE[c as usize] == TextByte::Word
        {
            k += 1;
        }
        if k > word {
            blank = false;
        }
        let Some(&c) = b.get(k) else { break };
        match TEXT_BYTE[c as usize] {
            TextByte::Word | TextByte::Blank => {}
            TextByte::Other => plain = false,
            TextByte::Check => match c {
                b'<' => break,
                b']' if b[k..].starts_with(b"]]>") => return None,
                b']' => blank = false,
                0xEF if non_character_at(b, k) => return None,
                0xEF => plain = false,
                _ => return None,
            },
        }
        k += 1;
    }
    let kind = match (plain, blank) {
        (true, true) => TextKind::Blank,
        (true, false) => TextKind::Plain,
        (false, _) => TextKind::Other,
    };
    Some((k, kind))
}

struct FastOpen<'i> {
    id: u32,
    name: &'i str,
    last_child: u32,
    text: TextSoFar<'i>,
}

/// Reads the start tag at `i`: the new element's id and name, where the
/// tag ends, and whether it is empty (`/>`).
fn start_tag<'i>(
    text: &'i str,
    doc: &mut Document<'i>,
    open: &mut [FastOpen<'i>],
    i: usize,
) -> Option<(u32, &'i str, usize, bool)> {
    let b = text.as_bytes();
    let (name, mut j) = ascii_name(text, i + 1)?;
    let parent = open.last_mut().map(|p| (p.id, &mut p.last_child));
    let id = doc.push_element(name, i, parent)?;
    let first_attr = doc.attrs.len();
    loop {
        let spaced = skip_spaces(b, j);
        match b.get(spaced)? {
            b'>' => {
                j = spaced + 1;
                break;
            }
            b'/' if b.get(spaced + 1) == Some(&b'>') => {
                j = spaced + 2;
                break;
            }
            _ if spaced == j => return None,
            _ => {}
        }
        let (attr, after) = ascii_name(text, spaced)?;
        if attr == "xmlns" {
            return None;
        }
        let eq = skip_spaces(b, after);
        if b.get(eq) != Some(&b'=') {
            return None;
        }
        let q = skip_spaces(b, eq + 1);
        let quote = *b.get(q)?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let close = b[q + 1..].iter().position(|&c| c == quote)? + q + 1;
        let raw = &text[q + 1..close];
        if raw.contains('<') || !chars_ok(raw.as_bytes()) {
            return None;
        }
        let value = attribute_value(raw, q + 1).ok()?;
        let named = |a: &AttrData| doc.slice(a.name) == attr;
        if doc.attrs[first_attr..].iter().any(named) {
            return None;
        }
        doc.push_attribute(attr, false, value);
        j = close + 1;
    }
    let empty = b[j - 2] == b'/';
    Some((id, name, j, empty))
}

/// After the XML declaration, if the file starts with one of the forms
/// devices write; 0 when it has none (anything else is left to the full
/// parser, which checks a declaration's grammar).
fn declaration_end(b: &[u8]) -> usize {
    const USUAL: [&[u8]; 6] = [
        b"<?xml version=\"1.0\"?>",
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?>",
        b"<?xml version='1.0'?>",
        b"<?xml version='1.0' encoding='UTF-8'?>",
        b"<?xml version='1.0' encoding='utf-8'?>",
    ];
    USUAL
        .iter()
        .find(|d| b.starts_with(d))
        .map_or(0, |d| d.len())
}

/// Past a comment at `i`, if it is one XML allows (no `--` inside, not
/// ending in `-`).
fn comment_end(b: &[u8], i: usize) -> Option<usize> {
    let body = i + 4;
    let end = find(b, body, b"-->")?;
    let inside = &b[body..end];
    let dashes = inside.windows(2).any(|w| w == b"--");
    (!dashes && inside.last() != Some(&b'-') && chars_ok(inside)).then_some(end + 3)
}

fn find(b: &[u8], from: usize, what: &[u8]) -> Option<usize> {
    b[from..]
        .windows(what.len())
        .position(|w| w == what)
        .map(|p| from + p)
}

/// The ASCII bytes a name may hold after its first.
const NAME_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        table[c] = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.';
        c += 1;
    }
    table
};

/// An ASCII name without a prefix at `i`, and where it ends.
fn ascii_name(text: &str, i: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    let first = *b.get(i)?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    let len = b[i..]
        .iter()
        .position(|&c| !NAME_BYTE[c as usize])
        .unwrap_or(b.len() - i);
    // A prefix or a non-ASCII name: the full parser's.
    if matches!(b.get(i + len), Some(&c) if c == b':' || c >= 0x80) {
        return None;
    }
    Some((&text[i..i + len], i + len))
}

/// Past the spaces, tabs and newlines at `i` (not carriage returns,
/// which a text must have normalized).
fn skip_indentation(b: &[u8], mut i: usize) -> usize {
    // Exported configurations indent deeply with spaces: eight at a time
    // (tried only at a space: pfSense indents with tabs).
    const SPACES: u64 = u64::from_ne_bytes([b' '; 8]);
    loop {
        match b.get(i) {
            Some(b' ') => match b.get(i..i + 8) {
                Some(chunk)
                    if u64::from_ne_bytes(chunk.try_into().expect("eight bytes")) == SPACES =>
                {
                    i += 8
                }
                _ => i += 1,
            },
            Some(b'\t' | b'\n') => i += 1,
            _ => return i,
        }
    }
}

fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Whether every character is one XML allows (in valid UTF-8, the only
/// ones it does not are the C0 controls but tab and line ends, and
/// U+FFFE and U+FFFF).
fn chars_ok(b: &[u8]) -> bool {
    let mut k = 0;
    while k < b.len() {
        let c = b[k];
        if c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r') {
            return false;
        }
        if c == 0xEF && non_character_at(b, k) {
            return false;
        }
        k += 1;
    }
    true
}

/// Whether U+FFFE or U+FFFF (`EF BF BE`, `EF BF BF`) starts at `k`.
fn non_character_at(b: &[u8], k: usize) -> bool {
    b[k] == 0xEF && b.get(k + 1) == Some(&0xBF) && matches!(b.get(k + 2), Some(0xBE | 0xBF))
}

fn span_in(text: &str, s: &str) -> Span {
    Span {
        start: (s.as_ptr() as usize - text.as_ptr() as usize) as u32,
        len: s.len() as u32,
    }
}

fn doc_span<'i>(doc: &mut Document<'i>, s: Cow<'i, str>) -> Span {
    match s {
        Cow::Borrowed("") => Span::EMPTY,
        Cow::Borrowed(s) => span_in(doc.text, s),
        Cow::Owned(s) => {
            doc.owned.push(s);
            Span {
                start: (doc.owned.len() - 1) as u32,
                len: OWNED,
            }
        }
    }
}

// ------------------------------------------------------------------ building

/// Our reason for refusing a file, at a byte offset; replaced by
/// roxmltree's (see [`explained`]).
struct Refusal {
    at: usize,
    message: String,
}

/// An element whose end tag has not come yet.
struct Open<'i> {
    id: u32,
    prefix: &'i str,
    local: &'i str,
    /// How many namespace declarations were in scope before it.
    scope: usize,
    last_child: u32,
    text: TextSoFar<'i>,
}

/// An element's text as its pieces come: leading and trailing blanks are
/// trimmed in the end, so a blank piece matters only between two others.
#[derive(Default)]
struct TextSoFar<'i> {
    text: Option<Cow<'i, str>>,
    /// Blank pieces since the last non-blank one.
    blanks: String,
}

impl<'i> TextSoFar<'i> {
    fn push(&mut self, piece: Cow<'i, str>) {
        let blank = piece.trim().is_empty();
        self.push_classified(piece, blank);
    }

    /// The text, trimmed (`None` when there is none).
    fn finish(self) -> Option<Cow<'i, str>> {
        Some(match self.text? {
            Cow::Borrowed(t) => Cow::Borrowed(t.trim_end()),
            Cow::Owned(t) => Cow::Owned(t.trim_end().to_string()),
        })
    }

    /// [`TextSoFar::push`] of a piece known to be blank or not.
    fn push_classified(&mut self, piece: Cow<'i, str>, blank: bool) {
        if blank {
            if self.text.is_some() {
                self.blanks.push_str(&piece);
            }
            return;
        }
        self.text = Some(match self.text.take() {
            None => match piece {
                Cow::Borrowed(p) => Cow::Borrowed(p.trim_start()),
                Cow::Owned(p) => Cow::Owned(p.trim_start().to_string()),
            },
            Some(before) => {
                let mut joined = before.into_owned();
                joined.push_str(&self.blanks);
                joined.push_str(&piece);
                self.blanks.clear();
                Cow::Owned(joined)
            }
        });
    }
}

struct Builder<'i> {
    doc: Document<'i>,
    open: Vec<Open<'i>>,
    /// Namespace declarations in scope: (prefix, URI); `""` is the default.
    namespaces: Vec<(&'i str, Cow<'i, str>)>,
    /// The element whose start tag is being read, with its name.
    starting: Option<(u32, &'i str, &'i str, usize)>,
    /// Its attributes' prefixes, to check once the tag ends.
    attr_prefixes: Vec<&'i str>,
}

impl<'i> Builder<'i> {
    fn new(text: &'i str) -> Result<Self, Refusal> {
        if u32::try_from(text.len()).is_err() {
            return Err(Refusal {
                at: 0,
                message: "an XML file larger than 4 GiB is not read".into(),
            });
        }
        Ok(Builder {
            doc: Document::of(text),
            open: Vec::new(),
            namespaces: Vec::new(),
            starting: None,
            attr_prefixes: Vec::new(),
        })
    }

    fn run(mut self) -> Result<Document<'i>, Refusal> {
        for token in Tokenizer::from(self.doc.text) {
            let token = token.map_err(|e| Refusal {
                at: self.offset_of(e.pos()),
                message: e.to_string(),
            })?;
            self.token(token)?;
        }
        if self.doc.nodes.is_empty() || !self.open.is_empty() || self.starting.is_some() {
            return Err(Refusal {
                at: self.doc.text.len(),
                message: "the document has no complete root element".into(),
            });
        }
        Ok(self.doc)
    }

    fn offset_of(&self, pos: xmlparser::TextPos) -> usize {
        let mut offset = 0;
        for (i, line) in self.doc.text.split_inclusive('\n').enumerate() {
            if i + 1 == pos.row as usize {
                let col = pos.col as usize - 1;
                return offset + line.char_indices().nth(col).map_or(line.len(), |(b, _)| b);
            }
            offset += line.len();
        }
        self.doc.text.len()
    }

    fn token(&mut self, token: Token<'i>) -> Result<(), Refusal> {
        match token {
            Token::Declaration { .. }
            | Token::ProcessingInstruction { .. }
            | Token::Comment { .. } => {}
            // As roxmltree's default: a DTD could declare entities that
            // expand without bound.
            Token::DtdStart { span, .. }
            | Token::EmptyDtd { span, .. }
            | Token::EntityDeclaration { span, .. }
            | Token::DtdEnd { span } => return Err(refusal(span.start(), "a DTD is not read")),
            Token::ElementStart {
                prefix,
                local,
                span,
            } => self.start_element(prefix.as_str(), local.as_str(), span.start())?,
            Token::Attribute {
                prefix,
                local,
                value,
                span,
            } => self.attribute(prefix.as_str(), local.as_str(), value, span.start())?,
            Token::ElementEnd { end, span } => self.end_element(end, span.start())?,
            Token::Text { text } => {
                let piece = decoded(text.as_str(), text.start(), true)?;
                self.text_piece(piece);
            }
            Token::Cdata { text, .. } => {
                let piece = decoded(text.as_str(), text.start(), false)?;
                self.text_piece(piece);
            }
        }
        Ok(())
    }

    fn start_element(&mut self, prefix: &'i str, local: &'i str, at: usize) -> Result<(), Refusal> {
        if prefix == "xmlns" {
            return Err(refusal(at, "an element cannot have the prefix xmlns"));
        }
        let parent = self.open.last_mut().map(|p| (p.id, &mut p.last_child));
        let id = self
            .doc
            .push_element(local, at, parent)
            .ok_or_else(|| refusal(at, "too many elements"))?;
        self.starting = Some((id, prefix, local, self.namespaces.len()));
        self.attr_prefixes.clear();
        Ok(())
    }

    fn attribute(
        &mut self,
        prefix: &'i str,
        local: &'i str,
        value: xmlparser::StrSpan<'i>,
        at: usize,
    ) -> Result<(), Refusal> {
        let value = attribute_value(value.as_str(), value.start())?;
        if prefix == "xmlns" || (prefix.is_empty() && local == "xmlns") {
            let declared = if prefix.is_empty() { "" } else { local };
            if !declared.is_empty() && value.is_empty() {
                return Err(refusal(at, "a namespace prefix cannot be undeclared"));
            }
            self.namespaces.push((declared, value));
            return Ok(());
        }
        assert!(
            self.starting.is_some(),
            "an attribute is inside a start tag"
        );
        self.doc.push_attribute(local, !prefix.is_empty(), value);
        // Namespaces are known, and duplicates found, at the tag's end.
        self.attr_prefixes.push(prefix);
        Ok(())
    }

    fn end_element(&mut self, end: ElementEnd<'i>, at: usize) -> Result<(), Refusal> {
        match end {
            ElementEnd::Open | ElementEnd::Empty => {
                let (id, prefix, local, scope) = self
                    .starting
                    .take()
                    .expect("a start tag ends after it starts");
                self.check_start_tag(id, prefix, at)?;
                if let ElementEnd::Open = end {
                    self.open.push(Open {
                        id,
                        prefix,
                        local,
                        scope,
                        last_child: NONE,
                        text: TextSoFar::default(),
                    });
                } else {
                    self.namespaces.truncate(scope);
                }
            }
            ElementEnd::Close(prefix, local) => {
                let open = self
                    .open
                    .pop()
                    .ok_or_else(|| refusal(at, "an end tag without a start tag"))?;
                if open.prefix != prefix.as_str() || open.local != local.as_str() {
                    return Err(refusal(at, "an end tag that does not match its start tag"));
                }
                self.namespaces.truncate(open.scope);
                if let Some(text) = open.text.finish() {
                    self.doc.nodes[open.id as usize].text = doc_span(&mut self.doc, text);
                }
            }
        }
        Ok(())
    }

    /// The checks a start tag needs once all its attributes are read.
    fn check_start_tag(&self, id: u32, prefix: &str, at: usize) -> Result<(), Refusal> {
        let node = &self.doc.nodes[id as usize];
        self.namespace_of(prefix, at)?;
        let (first, len) = node.attrs;
        let attrs = &self.doc.attrs[first as usize..(first + len) as usize];
        let mut names = Vec::with_capacity(attrs.len());
        for (a, p) in attrs.iter().zip(&self.attr_prefixes) {
            let namespace = if p.is_empty() {
                None
            } else {
                Some(self.namespace_of(p, at)?)
            };
            let name = (namespace, self.doc.slice(a.name));
            if names.contains(&name) {
                return Err(refusal(at, "an attribute given twice"));
            }
            names.push(name);
        }
        Ok(())
    }

    /// The URI a prefix is bound to (`""` for no prefix and no default).
    fn namespace_of(&self, prefix: &str, at: usize) -> Result<&str, Refusal> {
        if prefix == "xml" {
            return Ok("http://www.w3.org/XML/1998/namespace");
        }
        match self.namespaces.iter().rev().find(|(p, _)| *p == prefix) {
            Some((_, uri)) => Ok(uri),
            None if prefix.is_empty() => Ok(""),
            None => Err(refusal(at, format!("the prefix {prefix} is not bound"))),
        }
    }

    fn text_piece(&mut self, piece: Cow<'i, str>) {
        if let Some(open) = self.open.last_mut() {
            open.text.push(piece);
        }
    }
}

fn refusal(at: usize, message: impl Into<String>) -> Refusal {
    Refusal {
        at,
        message: message.into(),
    }
}

/// A text piece as XML means it: line ends normalized to `\n` and, in
/// character data (not CDATA), entity and character references replaced.
fn decoded(raw: &str, at: usize, references: bool) -> Result<Cow<'_, str>, Refusal> {
    if !(raw.contains('\r') || references && raw.contains('&')) {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['\r', '&']) {
        out.push_str(&rest[..i]);
        if rest.as_bytes()[i] == b'\r' {
            out.push('\n');
            rest = &rest[i + 1..];
            rest = rest.strip_prefix('\n').unwrap_or(rest);
        } else if references {
            let (c, after) = reference(&rest[i..], at + (raw.len() - rest.len()) + i)?;
            out.push(c);
            rest = after;
        } else {
            out.push('&');
            rest = &rest[i + 1..];
        }
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// An attribute value as XML normalizes it: references replaced, and each
/// tab, line end and newline written as one space.
fn attribute_value(raw: &str, at: usize) -> Result<Cow<'_, str>, Refusal> {
    if !raw.contains(['&', '\t', '\n', '\r']) {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['&', '\t', '\n', '\r']) {
        out.push_str(&rest[..i]);
        match rest.as_bytes()[i] {
            b'&' => {
                let (c, after) = reference(&rest[i..], at + (raw.len() - rest.len()) + i)?;
                out.push(c);
                rest = after;
            }
            b'\r' => {
                out.push(' ');
                rest = &rest[i + 1..];
                rest = rest.strip_prefix('\n').unwrap_or(rest);
            }
            _ => {
                out.push(' ');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// The character `s` (starting with `&`) refers to, and what follows the
/// reference.
fn reference(s: &str, at: usize) -> Result<(char, &str), Refusal> {
    let end = s
        .find(';')
        .ok_or_else(|| refusal(at, "an unterminated reference"))?;
    let name = &s[1..end];
    let c = match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => name.strip_prefix('#').and_then(|n| {
            let code = match n.strip_prefix('x') {
                Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    u32::from_str_radix(hex, 16).ok()
                }
                Some(_) => None,
                None if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok(),
                None => None,
            }?;
            char::from_u32(code).filter(|&c| is_xml_char(c))
        }),
    };
    let c = c.ok_or_else(|| refusal(at, format!("an unknown or invalid reference &{name};")))?;
    Ok((c, &s[end + 1..]))
}

/// XML 1.0's `Char`.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The error for a file we refuse: roxmltree's message and position when
/// roxmltree refuses it too (so messages read as they always have).
fn explained(text: &str, ours: Refusal) -> XmlError {
    match roxmltree::Document::parse(text) {
        Err(e) => XmlError {
            line: e.pos().row as usize,
            column: e.pos().col as usize,
            message: e.to_string(),
        },
        Ok(_) => {
            let (line, column) = crate::read::export::line_col(text, ours.at);
            XmlError {
                line,
                column,
                message: ours.message,
            }
        }
    }
}

/// Debug builds: the tree must be roxmltree's, element for element.
#[cfg(debug_assertions)]
fn same_as_roxmltree(text: &str, ours: Option<&Document<'_>>) {
    let theirs = roxmltree::Document::parse(text);
    match (ours, &theirs) {
        (Some(ours), Ok(theirs)) => {
            let mine = described(ours);
            let expected: Vec<String> = theirs
                .descendants()
                .filter(|n| n.is_element())
                .map(describe_roxmltree)
                .collect();
            // roxmltree keeps a line end's `\r` when a reference follows
            // it (XML says every line end reads as `\n`): carriage returns
            // alone are not compared (in the texts' debug form).
            let lines = |v: Vec<String>| -> Vec<String> {
                v.into_iter().map(|s| s.replace("\\r", "\\n")).collect()
            };
            assert_eq!(
                lines(mine),
                lines(expected),
                "the compact XML tree differs from roxmltree's"
            );
        }
        (None, Err(_)) => {}
        // Beyond our limits.
        (None, Ok(_)) if text.len() > u32::MAX as usize => {}
        (ours, theirs) => panic!(
            "the compact XML parser {} a file roxmltree {}",
            if ours.is_some() { "accepts" } else { "refuses" },
            if theirs.is_ok() { "accepts" } else { "refuses" },
        ),
    }
}

/// Every element of `doc` in document order, [`describe`]d.
#[cfg(debug_assertions)]
fn described(doc: &Document<'_>) -> Vec<String> {
    fn walk(n: Node<'_, '_>, depth: usize, out: &mut Vec<String>) {
        out.push(describe(n, depth));
        for c in n.children() {
            walk(c, depth + 1, out);
        }
    }
    let mut out = Vec::new();
    walk(doc.root_element(), 0, &mut out);
    out
}

#[cfg(debug_assertions)]
fn describe(n: Node<'_, '_>, depth: usize) -> String {
    let attrs: Vec<String> = n
        .attributes()
        .map(|(name, prefixed, v)| format!("{}{name}={v:?}", if prefixed { "ns:" } else { "" }))
        .collect();
    format!(
        "{depth} {} @{} [{}] {:?}",
        n.name(),
        n.start(),
        attrs.join(" "),
        n.text()
    )
}

#[cfg(debug_assertions)]
fn describe_roxmltree(n: roxmltree::Node<'_, '_>) -> String {
    let attrs: Vec<String> = n
        .attributes()
        .map(|a| {
            let prefixed = a.namespace().is_some();
            format!(
                "{}{}={:?}",
                if prefixed { "ns:" } else { "" },
                a.name(),
                a.value()
            )
        })
        .collect();
    let text: String = n
        .children()
        .filter(|c| c.is_text())
        .map(|c| c.text().unwrap_or(""))
        .collect();
    let depth = n.ancestors().filter(|a| a.is_element()).count() - 1;
    format!(
        "{depth} {} @{} [{}] {:?}",
        n.tag_name().name(),
        n.range().start,
        attrs.join(" "),
        text.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Vec<String> {
        described(&Document::parse(text).expect("parses"))
    }

    #[test]
    fn elements_attributes_and_texts_are_roxmltrees() {
        // Each parse is also checked against roxmltree (debug builds).
        let docs = [
            "<a/>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c -->\n<a x='1' y=\"&lt;&#65;&#x42;\">\n  <b>  text  </b>\n  <c><![CDATA[ <raw> ]]></c>\n</a>\n<!-- after -->",
            "<a>one<!-- split --> two <b/> three\r\n four</a>",
            "<a>\r\n<b>x\ry</b><c v='a\tb\r\nc\nd'/></a>",
            "<a xmlns='urn:x' xmlns:p='urn:p'><p:b p:n='1' n='2'>v</p:b></a>",
            "<a xml:lang='en'>&amp;&apos;&quot;&gt;</a>",
            "<a>  <![CDATA[]]>  </a>",
            "<a>\u{a0}x\u{a0}</a>",
        ];
        for doc in docs {
            assert!(!tree(doc).is_empty(), "{doc:?}");
        }
        let t = tree("<a x='1'>\n  <b n=\"&amp;\">  v  </b>\n</a>");
        assert_eq!(t, ["0 a @0 [x=\"1\"] \"\"", "1 b @12 [n=\"&\"] \"v\""]);
    }

    #[test]
    fn what_roxmltree_refuses_is_refused_with_its_message() {
        let docs = [
            "",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "text",
            "<a>&unknown;</a>",
            "<a>&#0;</a>",
            "<a x='1' x='2'/>",
            "<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>",
            "<p:a/>",
            "<a p:x='1'/>",
            "<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>",
            "<!DOCTYPE a><a>x</a>",
            "<a>]]></a>",
            "<a x='<'/>",
        ];
        for doc in docs {
            let Err(ours) = Document::parse(doc) else {
                panic!("accepted {doc:?}")
            };
            let theirs = roxmltree::Document::parse(doc).expect_err("roxmltree refuses it");
            assert_eq!(ours.message, theirs.to_string(), "{doc:?}");
            assert_eq!(
                (ours.line, ours.column),
                (theirs.pos().row as usize, theirs.pos().col as usize)
            );
        }
    }

    #[test]
    fn device_files_take_the_fast_path() {
        let panos = "<?xml version=\"1.0\"?>\n<config version=\"10.1.0\">\n  <devices>\n    <entry name='localhost.localdomain'>\n      <member>any</member><x/>\n    </entry>\n  </devices>\n</config>\n";
        let pfsense = "<?xml version=\"1.0\"?>\n<!-- backup -->\n<pfsense>\n\t<descr><![CDATA[Patient monitors & pumps]]></descr>\n\t<enable></enable>\r\n\t<v>a &amp; b</v>\n</pfsense>\n";
        for doc in [panos, pfsense] {
            let fast = fast(doc).expect("the fast path reads it");
            let full = Builder::new(doc)
                .and_then(Builder::run)
                .ok()
                .expect("so does the full one");
            assert_eq!(described(&fast), described(&full));
        }
        // What it does not take is left to the full parser, not refused.
        for doc in [
            "<p:a xmlns:p='u'/>",
            "<a xmlns='u'/>",
            "\u{feff}<a/>",
            "<?xml version='1.1'?><a/>",
            "<a><?pi?></a>",
            "<é/>",
        ] {
            assert!(fast(doc).is_none(), "{doc:?}");
            assert!(Document::parse(doc).is_ok(), "{doc:?}");
        }
    }

    #[test]
    fn children_are_elements_in_order() {
        let doc = Document::parse("<r>t<a/><!--c--><b><c/></b>u<d/></r>").unwrap();
        let root = doc.root_element();
        let names: Vec<&str> = root.children().map(|c| c.name()).collect();
        assert_eq!(names, ["a", "b", "d"]);
        assert_eq!(root.text(), "tu");
        let b = root.children().nth(1).unwrap();
        assert_eq!(b.children().next().unwrap().name(), "c");
    }

    /// Pieces a random document is made of: well-formed and not, with
    /// every construct the builder treats specially.
    const PIECES: &[&str] = &[
        "<a",
        "<b",
        "<p:a",
        ">",
        "/>",
        "</a>",
        "</b>",
        "</p:a>",
        " x='1'",
        " x=\"2\"",
        " y='&amp;&#65;\t\r\n'",
        " p:x='3'",
        " xmlns:p='urn:p'",
        " xmlns='urn:d'",
        " xmlns:p=''",
        "text",
        " ",
        "\n  ",
        "\r\n",
        "\r",
        "&lt;",
        "&#x42;",
        "&#0;",
        "&nope;",
        "&amp",
        "<!--c-->",
        "<![CDATA[ c\r\n ]]>",
        "<?pi x?>",
        "]]>",
        "\u{a0}",
        "<?xml version='1.0'?>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
        "<!DOCTYPE a>",
        "'",
        "\"",
        "=",
        "<",
        "&",
        "<!-- a--b -->",
        "<!--->",
        "<!---->",
        "<![CDATA[]]]>",
        "\u{1}",
        "\u{fffe}",
        " x = '1'",
        " z='1'z='2'",
        "<a  >",
        "</a >",
        "</a\n>",
        "<a.b-c_d>",
        "</a.b-c_d>",
        "<1>",
        "<é>",
        "\u{feff}",
        " y='a<b'",
        "&#x;",
        "&#12a;",
        "&#xD;",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Whatever the input, the compact parser accepts exactly what
        /// roxmltree accepts and builds the same elements, attributes and
        /// texts (the debug assertion in `Document::parse` compares them),
        /// and a refusal carries roxmltree's message.
        #[test]
        fn any_input_gets_roxmltrees_answer(
            picks in proptest::collection::vec(0..PIECES.len(), 0..24),
            wrap in proptest::bool::ANY,
        ) {
            let body: String = picks.iter().map(|&i| PIECES[i]).collect();
            let doc = if wrap { format!("<r>{body}</r>") } else { body };
            if let Some(quick) = fast(&doc) {
                let full = Builder::new(&doc).and_then(Builder::run).ok();
                proptest::prop_assert!(full.is_some(), "the fast path accepts {:?}", doc);
                proptest::prop_assert_eq!(described(&quick), described(&full.unwrap()));
            }
            if let Err(ours) = Document::parse(&doc) {
                let theirs = roxmltree::Document::parse(&doc).expect_err("both refuse");
                proptest::prop_assert_eq!(ours.message, theirs.to_string());
            }
        }
    }
}
