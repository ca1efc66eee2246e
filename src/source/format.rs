//! `wardwall fmt`'s canonical layout of a policy file.
//!
//! Why a printer of its own: kdl's `KdlDocument::autoformat` drops what it
//! keeps between entries and before a block (`/* */` comments, `/-`
//! entries and blocks) and re-indents the inside of block comments, so it
//! cannot promise to keep every comment. This printer lays out the tokens
//! of the file as written (`format_lex`, `format_tree`):
//!
//! - one node per line (`;` between nodes becomes a line break), four
//!   spaces per block level, one space between entries, `{` on the node's
//!   line and `}` on its own;
//! - at most one empty line between nodes, none at the start or end of a
//!   block; the file ends with one line break (LF);
//! - values that are bare identifiers are quoted (`zone icu` → `zone
//!   "icu"`), names and property keys written as quoted strings that need
//!   no quotes lose them; other strings, numbers and keywords stay as
//!   written (escapes, raw and multi-line strings included);
//! - every comment stays, in order: an own-line comment on its own line,
//!   one after text at the end of that line, one between entries between
//!   them; `/-` keeps what it comments out, laid out like the rest;
//! - a `\` line continuation the author wrote is kept.
//!
//! Every result is checked before it is returned: kdl reads the same
//! document from both texts (every name, type, value and block), and the
//! same comments come in the same order. A layout that fails either check
//! is a bug and is refused, never written.

use kdl::{KdlDocument, KdlNode};

use super::format_lex::{self, Kind, Token, as_bare, is_identifier};
use super::format_tree::{self, Block, Entry, Item, Node, Part};

const INDENT: &str = "    ";

/// Why a text was not formatted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// Byte offset in the input the problem is at.
    pub offset: usize,
    pub kind: FormatErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatErrorKind {
    /// The text is not KDL v2 (kdl's message).
    Syntax(String),
    /// Valid KDL the layout does not handle without moving a comment.
    Unsupported,
    /// The layout would change the document or its comments (a bug).
    Changed(&'static str),
}

/// The canonical layout of `text` (see the module documentation).
pub fn format_text(text: &str) -> Result<String, FormatError> {
    let before = KdlDocument::parse_v2(text).map_err(|e| {
        let first = e.diagnostics.first();
        FormatError {
            offset: first.map_or(0, |d| d.span.offset()),
            kind: FormatErrorKind::Syntax(
                first
                    .and_then(|d| d.message.clone())
                    .unwrap_or_else(|| "invalid KDL".to_string()),
            ),
        }
    })?;
    let unsupported = |offset| FormatError {
        offset,
        kind: FormatErrorKind::Unsupported,
    };
    let tokens = format_lex::tokens(text).ok_or_else(|| unsupported(0))?;
    let tree = format_tree::document(&tokens).map_err(unsupported)?;
    let mut out = String::with_capacity(text.len());
    print_block(&mut out, &tree, 0);
    verify(&before, &tokens, &out)?;
    Ok(out)
}

/// The checks every layout passes before it is returned.
fn verify(before: &KdlDocument, tokens: &[Token<'_>], out: &str) -> Result<(), FormatError> {
    let changed = |what| FormatError {
        offset: 0,
        kind: FormatErrorKind::Changed(what),
    };
    let after = KdlDocument::parse_v2(out).map_err(|_| changed("the result is not KDL"))?;
    if !same_document(before, &after) {
        return Err(changed("the document read from the result differs"));
    }
    let out_tokens = format_lex::tokens(out).ok_or_else(|| changed("the result is not KDL"))?;
    if commentary(tokens) != commentary(&out_tokens) {
        return Err(changed("comments would be lost or moved"));
    }
    Ok(())
}

/// The comments and `/-` marks, in order, as the printer writes them.
fn commentary<'a>(tokens: &[Token<'a>]) -> Vec<&'a str> {
    tokens
        .iter()
        .filter(|t| t.kind.is_comment() || t.kind == Kind::Slashdash)
        .map(|t| comment_text(t))
        .collect()
}

/// A comment as printed: a line comment loses trailing spaces.
fn comment_text<'a>(t: &Token<'a>) -> &'a str {
    match t.kind {
        Kind::LineComment => t.text.trim_end(),
        _ => t.text,
    }
}

/// Whether two documents say the same (layout and comments aside).
fn same_document(a: &KdlDocument, b: &KdlDocument) -> bool {
    a.nodes().len() == b.nodes().len()
        && a.nodes()
            .iter()
            .zip(b.nodes())
            .all(|(x, y)| same_node(x, y))
}

fn same_node(a: &KdlNode, b: &KdlNode) -> bool {
    let ty = |n: &KdlNode| n.ty().map(|t| t.value().to_string());
    let entries_agree = a.entries().len() == b.entries().len()
        && a.entries().iter().zip(b.entries()).all(|(x, y)| {
            x.name().map(|n| n.value()) == y.name().map(|n| n.value())
                && x.ty().map(|t| t.value()) == y.ty().map(|t| t.value())
                && x.value() == y.value()
        });
    let children_agree = match (a.children(), b.children()) {
        (None, None) => true,
        (Some(x), Some(y)) => same_document(x, y),
        _ => false,
    };
    a.name().value() == b.name().value() && ty(a) == ty(b) && entries_agree && children_agree
}

fn indent(out: &mut String, depth: usize) {
    (0..depth).for_each(|_| out.push_str(INDENT));
}

fn print_block(out: &mut String, block: &Block<'_>, depth: usize) {
    for item in &block.items {
        match item {
            Item::Node(node) => {
                indent(out, depth);
                print_node(out, node, depth);
                out.push('\n');
            }
            Item::Comment {
                text,
                same_line: true,
            } if out.ends_with('\n') => {
                out.pop();
                out.push(' ');
                out.push_str(text.trim_end());
                out.push('\n');
            }
            Item::Comment { text, .. } => {
                indent(out, depth);
                out.push_str(text.trim_end());
                out.push('\n');
            }
            Item::Blank => out.push('\n'),
        }
    }
}

fn print_node(out: &mut String, node: &Node<'_>, depth: usize) {
    if node.slashdash {
        out.push_str("/-");
    }
    if let Some(ty) = node.ty {
        print_type(out, ty);
    }
    out.push_str(name_text(node.name));
    // After a continuation the next part starts the line: no space.
    let mut line_start = false;
    for (i, part) in node.parts.iter().enumerate() {
        if !line_start {
            out.push(' ');
        }
        line_start = false;
        match part {
            Part::Entry(entry) => print_entry(out, entry),
            Part::Comment(text) => out.push_str(text),
            Part::Continuation(comment) => {
                let continues = node.parts[i + 1..]
                    .iter()
                    .any(|p| !matches!(p, Part::Continuation(None)));
                line_start = continuation(out, *comment, continues, depth);
            }
            Part::Children { slashdash, block } => {
                if *slashdash {
                    out.push_str("/-");
                }
                print_children(out, block, depth);
            }
        }
    }
    for comment in &node.trailing {
        if !out.ends_with(' ') {
            out.push(' ');
        }
        out.push_str(comment.trim_end());
    }
}

/// Writes a line continuation; returns whether a new line was started.
/// One with nothing after it is dropped (its comment, if any, ends the
/// line as a trailing comment would).
fn continuation(out: &mut String, comment: Option<&str>, continues: bool, depth: usize) -> bool {
    if !continues {
        match comment {
            Some(c) => out.push_str(c.trim_end()),
            None => {
                out.pop(); // the space before it
            }
        }
        return false;
    }
    out.push('\\');
    if let Some(c) = comment {
        out.push(' ');
        out.push_str(c.trim_end());
    }
    out.push('\n');
    indent(out, depth + 1);
    true
}

fn print_children(out: &mut String, block: &Block<'_>, depth: usize) {
    out.push('{');
    if block.items.is_empty() {
        out.push('}');
        return;
    }
    out.push('\n');
    print_block(out, block, depth + 1);
    indent(out, depth);
    out.push('}');
}

fn print_entry(out: &mut String, entry: &Entry<'_>) {
    if entry.slashdash {
        out.push_str("/-");
    }
    if let Some(key) = entry.key {
        out.push_str(name_text(key.text));
        out.push('=');
    }
    if let Some(ty) = entry.ty {
        print_type(out, ty);
    }
    print_value(out, entry.value);
}

fn print_type(out: &mut String, ty: &str) {
    out.push('(');
    out.push_str(name_text(ty));
    out.push(')');
}

/// A node name, property key or type: bare when it can be.
fn name_text(written: &str) -> &str {
    as_bare(written).unwrap_or(written)
}

/// A value: a bare identifier is quoted (it is a string; policies quote
/// their strings), everything else stays as written.
fn print_value(out: &mut String, value: &Token<'_>) {
    if value.kind == Kind::Bare && is_identifier(value.text) {
        out.push('"');
        out.push_str(value.text);
        out.push('"');
    } else {
        out.push_str(value.text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        format_text(text).unwrap_or_else(|e| panic!("{e:?} formatting {text:?}"))
    }

    #[test]
    fn lays_out_nodes_blocks_and_entries() {
        assert_eq!(
            fmt("zone   icu{prefix \"10.0.0.0/8\"   ;interface nftables=icu0}\n\n\n\nrules {}"),
            "zone \"icu\" {\n    prefix \"10.0.0.0/8\"\n    interface nftables=\"icu0\"\n}\n\nrules {}\n"
        );
        assert_eq!(fmt("\"zone\" \"a b\"\r\n"), "zone \"a b\"\n");
        assert_eq!(fmt("   \n\n"), "");
    }

    #[test]
    fn keeps_every_kind_of_comment_in_place() {
        let text = "// head\n\nzone \"a\" { // opens\n  /* own */\n  prefix /* mid */ \"10.0.0.0/8\" /-\"10.1.0.0/16\" // tail   \n  /-interface x=\"y\"\n}  // after\n/-rules /-{ allow \"x\" }\n";
        assert_eq!(
            fmt(text),
            "// head\n\nzone \"a\" { // opens\n    /* own */\n    prefix /* mid */ \"10.0.0.0/8\" /-\"10.1.0.0/16\" // tail\n    /-interface x=\"y\"\n} // after\n/-rules /-{\n    allow \"x\"\n}\n"
        );
    }

    #[test]
    fn continuations_with_words_stay_and_bare_ones_without_go() {
        assert_eq!(
            fmt("prefix \"a\" \\ // first\n   \"b\" \\\n \"c\" \\\n"),
            "prefix \"a\" \\ // first\n    \"b\" \\\n    \"c\"\n"
        );
        assert_eq!(fmt("n \"a\" \\ // why\n\n"), "n \"a\" // why\n");
        assert_eq!(fmt("a\n\\ // between\nb\n"), "a\n// between\nb\n");
    }

    #[test]
    fn strings_numbers_and_keywords_keep_their_spelling() {
        let text = "n #\"raw \\\"# \"esc\\n\" 0x1F 1.50 #true (t)\"v\" k=#null\n";
        assert_eq!(fmt(text), text);
        let multi = "n \"\"\"\n      keep\n   this\n   \"\"\"\n";
        assert_eq!(fmt(multi), multi);
    }

    #[test]
    fn formatting_is_idempotent_on_the_examples() {
        for text in [
            "a;b;c {d;e}",
            "x /* a\n   b */ y",
            "/- a { b }\n// z",
            "a { // x\n}",
        ] {
            let once = fmt(text);
            assert_eq!(fmt(&once), once, "{text:?}");
        }
    }

    proptest::proptest! {
        /// Any text at all: an answer (formatted or refused), never a panic,
        /// and a formatted text is its own layout.
        #[test]
        fn never_panics_and_what_it_formats_is_stable(
            text in "[a-z \"#/*\\=(){};\n\r\t1-]{0,60}"
        ) {
            if let Ok(out) = format_text(&text) {
                proptest::prop_assert_eq!(format_text(&out), Ok(out.clone()));
            }
        }
    }

    #[test]
    fn refuses_what_is_not_kdl_and_comments_it_would_move() {
        let err = format_text("zone \"a\" {\n  prefix 10.0.0.0/8\n}").unwrap_err();
        assert!(matches!(err.kind, FormatErrorKind::Syntax(_)), "{err:?}");
        assert_eq!(
            format_text("n /- /* c */ \"a\"").unwrap_err().kind,
            FormatErrorKind::Unsupported
        );
    }
}
