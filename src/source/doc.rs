//! The parsed KDL document the decoder reads: node names, entries, values,
//! children and the span of each, nothing else.
//!
//! kdl's `KdlDocument` keeps what it needs to print a document back exactly
//! (each value's original text, the whitespace and comments around every
//! entry and node): 139 MiB for a 2.2 MB, 10,000-rule policy, and most of
//! the compile time went into building and dropping it. The decoder needs
//! only names, values and spans, so the fast path ([`super::fastkdl`])
//! builds this document directly, borrowing every string without escapes
//! from the source text, and a document only kdl can read is converted with
//! [`Doc::from_kdl`]. The accessors are named as kdl's are.

use std::borrow::Cow;

use kdl::{KdlDocument, KdlEntry, KdlIdentifier, KdlNode, KdlValue};
use miette::SourceSpan;

/// A sequence of nodes: a file, or the block (`{ ... }`) of a node.
#[derive(Debug, PartialEq)]
pub struct Doc<'a> {
    pub(super) nodes: Vec<Node<'a>>,
    /// From the first node to the end of the last one, as kdl reports it.
    pub(super) span: SourceSpan,
}

#[derive(Debug, PartialEq)]
pub struct Node<'a> {
    pub(super) name: Ident<'a>,
    /// Arguments and properties, in the order written.
    pub(super) entries: Vec<Entry<'a>>,
    pub(super) children: Option<Doc<'a>>,
    pub(super) span: SourceSpan,
}

/// A node name or property key.
#[derive(Debug, PartialEq)]
pub struct Ident<'a> {
    pub(super) value: Cow<'a, str>,
    pub(super) span: SourceSpan,
}

/// An argument (`name` is None) or a property (`key=value`).
#[derive(Debug, PartialEq)]
pub struct Entry<'a> {
    pub(super) name: Option<Ident<'a>>,
    pub(super) value: Value<'a>,
    /// The whole entry: from the key (if any) to the end of the value.
    pub(super) span: SourceSpan,
}

#[derive(Debug, PartialEq)]
pub enum Value<'a> {
    String(Cow<'a, str>),
    Integer(i128),
    Float(f64),
    Bool(bool),
    Null,
}

impl<'a> Doc<'a> {
    pub fn nodes(&self) -> &[Node<'a>] {
        &self.nodes
    }

    pub fn span(&self) -> SourceSpan {
        self.span
    }

    /// The same document as kdl parsed it. Type annotations are dropped:
    /// the policy language has none, and the decoder never read them.
    pub fn from_kdl(doc: &KdlDocument) -> Doc<'static> {
        Doc {
            nodes: doc.nodes().iter().map(Node::from_kdl).collect(),
            span: doc.span(),
        }
    }
}

impl<'a> Node<'a> {
    pub fn name(&self) -> &Ident<'a> {
        &self.name
    }

    pub fn entries(&self) -> &[Entry<'a>] {
        &self.entries
    }

    pub fn children(&self) -> Option<&Doc<'a>> {
        self.children.as_ref()
    }

    pub fn span(&self) -> SourceSpan {
        self.span
    }

    fn from_kdl(node: &KdlNode) -> Node<'static> {
        Node {
            name: Ident::from_kdl(node.name()),
            entries: node.entries().iter().map(Entry::from_kdl).collect(),
            children: node.children().map(Doc::from_kdl),
            span: node.span(),
        }
    }
}

impl Ident<'_> {
    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn span(&self) -> SourceSpan {
        self.span
    }

    fn from_kdl(ident: &KdlIdentifier) -> Ident<'static> {
        Ident {
            value: Cow::Owned(ident.value().to_string()),
            span: ident.span(),
        }
    }
}

impl<'a> Entry<'a> {
    pub fn name(&self) -> Option<&Ident<'a>> {
        self.name.as_ref()
    }

    pub fn value(&self) -> &Value<'a> {
        &self.value
    }

    pub fn span(&self) -> SourceSpan {
        self.span
    }

    fn from_kdl(entry: &KdlEntry) -> Entry<'static> {
        Entry {
            name: entry.name().map(Ident::from_kdl),
            value: Value::from_kdl(entry.value()),
            span: entry.span(),
        }
    }
}

impl Value<'_> {
    fn from_kdl(value: &KdlValue) -> Value<'static> {
        match value {
            KdlValue::String(s) => Value::String(Cow::Owned(s.clone())),
            KdlValue::Integer(n) => Value::Integer(*n),
            KdlValue::Float(f) => Value::Float(*f),
            KdlValue::Bool(b) => Value::Bool(*b),
            KdlValue::Null => Value::Null,
        }
    }
}
