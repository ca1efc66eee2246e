//! A fast path for reading the KDL v2 subset policies are written in.
//!
//! kdl's parser is exact but slow (about 3 MB/s: most of `check` on a
//! 10,000-rule policy) and its document is large. This reader handles the
//! common subset — nodes, quoted and bare strings, decimal integers,
//! `#true`/`#false`/`#null`, properties, blocks, `//` and `/* */` comments —
//! in one pass and builds the light [`Doc`] the decoder reads, with the same
//! names, values and spans kdl's `KdlDocument::parse_v2` reports. Strings
//! without escapes borrow from the text.
//!
//! It never decides that a document is invalid: on anything outside the
//! subset, or anything wrong, it returns `None` and the caller parses with
//! kdl, which accepts or rejects the text and reports errors. A
//! differential test holds the fast path to kdl's own document (every node,
//! entry, value and span) on every document the fast path accepts.

use std::borrow::Cow;

use super::doc::{BlockData, Builder, Doc, Span32, StoredValue, Str};

/// Parses `text`, or returns `None` to defer to kdl.
pub fn parse(text: &str) -> Option<Doc<'_>> {
    // Control characters other than tab and newline (CR, FF, VT, ...) are
    // newlines or errors in KDL; leave them to kdl.
    if has_control_bytes(text.as_bytes()) {
        return None;
    }
    if !text.is_ascii() && !non_ascii_only_in_safe_places(text) {
        return None;
    }
    let mut p = Parser {
        b: text.as_bytes(),
        text,
        pos: 0,
        out: Builder::new(text),
    };
    let top = p.nodes(false)?;
    (p.pos == p.b.len()).then(|| p.out.finish(top))
}

/// Whether `bytes` holds an ASCII control character other than tab and
/// newline. Tested a block at a time without stopping early, which the
/// compiler turns into vector instructions (the byte-at-a-time `any` was a
/// millisecond of a 2 MB policy).
fn has_control_bytes(bytes: &[u8]) -> bool {
    let control = |c: u8| ((c < 0x20) & (c != b'\t') & (c != b'\n')) | (c == 0x7f);
    bytes
        .chunks(256)
        .any(|block| block.iter().fold(false, |found, &c| found | control(c)))
}

/// Code points that KDL forbids or treats as whitespace or newlines; the
/// fast path leaves any text containing them to kdl.
fn is_special_non_ascii(c: char) -> bool {
    matches!(c as u32,
        0x80..=0xA0 | 0x1680 | 0x2000..=0x200F | 0x2028..=0x202F | 0x205F
        | 0x2066..=0x2069 | 0x3000 | 0xFEFF)
}

/// Non-ASCII text is accepted only if it contains no special code point;
/// the parser itself allows non-ASCII only inside quoted strings and
/// comments.
fn non_ascii_only_in_safe_places(text: &str) -> bool {
    !text.chars().any(is_special_non_ascii)
}

struct Parser<'a> {
    b: &'a [u8],
    text: &'a str,
    pos: usize,
    out: Builder<'a>,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn at(&self, s: &[u8]) -> bool {
        self.b[self.pos..].starts_with(s)
    }

    /// `nodes := line-space* (node terminator line-space*)*`; the span runs
    /// from the first node to the end of the last one.
    fn nodes(&mut self, in_block: bool) -> Option<BlockData> {
        let mark = self.out.block_start();
        self.line_space()?;
        let start = self.pos;
        let mut end = start;
        loop {
            match self.peek() {
                None if in_block => return None,
                None => break,
                Some(b'}') if in_block => break,
                Some(b'}') => return None,
                _ => {}
            }
            self.node()?;
            end = self.pos;
            match self.peek() {
                Some(b';') | Some(b'\n') => self.pos += 1,
                Some(b'/') if self.at(b"//") => self.line_comment(),
                None => {}
                Some(b'}') if in_block => {}
                _ => return None,
            }
            self.line_space()?;
        }
        Some(self.out.block_end(mark, Span32::new(start, end)))
    }
    /// Whitespace, newlines and comments between nodes.
    fn line_space(&mut self) -> Option<()> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n') => self.pos += 1,
                Some(b'/') if self.at(b"//") => self.line_comment(),
                Some(b'/') if self.at(b"/*") => self.block_comment()?,
                Some(b'/') if self.at(b"/-") => return None,
                _ => return Some(()),
            }
        }
    }

    /// Whitespace and block comments inside a node; true if any was consumed.
    fn node_space(&mut self) -> Option<bool> {
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.pos += 1,
                Some(b'/') if self.at(b"/*") => self.block_comment()?,
                Some(b'/') if self.at(b"/-") => return None,
                Some(b'\\') => return None, // line continuation
                _ => return Some(self.pos > start),
            }
        }
    }

    /// `// ...` up to and including the newline.
    fn line_comment(&mut self) {
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == b'\n' {
                break;
            }
        }
    }

    /// `/* ... */`, nested.
    fn block_comment(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            if self.at(b"/*") {
                depth += 1;
                self.pos += 2;
            } else if self.at(b"*/") {
                depth -= 1;
                self.pos += 2;
                if depth == 0 {
                    return Some(());
                }
            } else if self.pos >= self.b.len() {
                return None;
            } else {
                self.pos += 1;
            }
        }
    }

    /// A node, added to the output with its entries and block.
    fn node(&mut self) -> Option<()> {
        let start = self.pos;
        if self.peek() == Some(b'(') {
            return None; // type annotation
        }
        let (name, name_span) = self.string()?;
        let entries_start = self.out.entries_mark();
        let mut entries_end = None;
        let mut children = None;
        loop {
            let spaced = self.node_space()?;
            match self.peek() {
                Some(b'{') => {
                    self.pos += 1;
                    entries_end = Some(self.out.entries_mark());
                    let block = self.nodes(true)?;
                    if self.peek() != Some(b'}') {
                        return None;
                    }
                    self.pos += 1;
                    children = Some(block);
                    self.node_space()?;
                    break;
                }
                None | Some(b'\n' | b';' | b'}') => break,
                Some(b'/') if self.at(b"//") => break,
                _ if !spaced => return None,
                _ => self.entry()?,
            }
        }
        let span = Span32::new(start, self.pos);
        let entries = entries_start..entries_end.unwrap_or_else(|| self.out.entries_mark());
        self.out.node(name, name_span, span, entries, children);
        Some(())
    }

    /// `value | key=value`, added to the output.
    fn entry(&mut self) -> Option<()> {
        let start = self.pos;
        let first = self.value()?;
        let before_eq = self.pos;
        // A property key may be followed by spaces before `=`.
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        if self.peek() != Some(b'=') {
            self.pos = before_eq;
            let span = Span32::new(start, self.pos);
            self.out.entry(None, first.value, span);
            return self.value_ends().then_some(());
        }
        let StoredValue::String(key) = first.value else {
            return None;
        };
        if !first.is_string {
            return None;
        }
        self.pos += 1;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        let value = self.value()?;
        let span = Span32::new(start, self.pos);
        self.out.entry(Some((key, first.span)), value.value, span);
        self.value_ends().then_some(())
    }

    /// What may follow a value: space, a terminator, a block, a comment.
    fn value_ends(&self) -> bool {
        match self.peek() {
            None | Some(b' ' | b'\t' | b'\n' | b';' | b'}' | b'{') => true,
            Some(b'/') => self.at(b"//") || self.at(b"/*"),
            _ => false,
        }
    }

    fn value(&mut self) -> Option<Spanned> {
        let start = self.pos;
        let c = self.peek()?;
        let value = match c {
            b'#' => {
                let word = self.bare_word();
                match word {
                    "#true" => StoredValue::Bool(true),
                    "#false" => StoredValue::Bool(false),
                    "#null" => StoredValue::Null,
                    _ => return None,
                }
            }
            b'0'..=b'9' => self.integer()?,
            b'-' | b'+' if self.b.get(self.pos + 1).is_some_and(u8::is_ascii_digit) => {
                self.integer()?
            }
            _ => {
                let (s, span) = self.string()?;
                return Some(Spanned {
                    value: StoredValue::String(s),
                    span,
                    is_string: true,
                });
            }
        };
        Some(Spanned {
            value,
            span: Span32::new(start, self.pos),
            is_string: false,
        })
    }

    /// A decimal integer (`-12`, `1_000`); anything fancier goes to kdl.
    fn integer(&mut self) -> Option<StoredValue> {
        let word = self.bare_word();
        let (neg, digits) = match word.as_bytes()[0] {
            b'-' => (true, &word[1..]),
            b'+' => (false, &word[1..]),
            _ => (false, word),
        };
        if digits.is_empty()
            || !digits.bytes().all(|c| c.is_ascii_digit() || c == b'_')
            || digits.starts_with('_')
        {
            return None;
        }
        let n: i128 = digits.replace('_', "").parse().ok()?;
        Some(StoredValue::integer(if neg { -n } else { n }))
    }

    /// The run of identifier characters at the cursor.
    fn bare_word(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !is_ident_byte(c) && c != b'#' {
                break;
            }
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    /// A quoted string or a bare identifier string, with its span.
    fn string(&mut self) -> Option<(Str, Span32)> {
        let start = self.pos;
        if self.peek() == Some(b'"') {
            if self.at(b"\"\"\"") {
                return None; // multi-line string
            }
            self.pos += 1;
            let body_start = self.pos;
            let value = self.quoted_body()?;
            if value
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
            {
                return None;
            }
            let s = match value {
                Cow::Borrowed(_) => self.out.slice(body_start, self.pos - 1),
                Cow::Owned(s) => self.out.owned(s),
            };
            return Some((s, Span32::new(start, self.pos)));
        }
        // Bare identifier: ASCII only, not a number, not a bare keyword.
        while self.peek().is_some_and(is_ident_byte) {
            self.pos += 1;
        }
        let word = &self.text[start..self.pos];
        let bytes = word.as_bytes();
        let looks_numeric = match bytes {
            [] => true,
            [c, ..] if c.is_ascii_digit() => true,
            [b'-' | b'+' | b'.', c, ..] if c.is_ascii_digit() => true,
            [b'-' | b'+', b'.', c, ..] if c.is_ascii_digit() => true,
            _ => false,
        };
        if looks_numeric || matches!(word, "true" | "false" | "null" | "inf" | "-inf" | "nan") {
            return None;
        }
        Some((
            self.out.slice(start, self.pos),
            Span32::new(start, self.pos),
        ))
    }

    /// The rest of a quoted string after its opening quote, up to and
    /// including the closing one. Borrowed from the text unless it has
    /// escapes.
    fn quoted_body(&mut self) -> Option<Cow<'a, str>> {
        let text = self.text;
        let body_start = self.pos;
        let mut owned: Option<String> = None;
        loop {
            let rest = &text[self.pos..];
            let stop = rest.find(['"', '\\', '\n', '\r'])?;
            if let Some(out) = &mut owned {
                out.push_str(&rest[..stop]);
            }
            self.pos += stop;
            match self.b[self.pos] {
                b'"' => {
                    let value = match owned {
                        Some(out) => Cow::Owned(out),
                        None => Cow::Borrowed(&text[body_start..self.pos]),
                    };
                    self.pos += 1;
                    return Some(value);
                }
                b'\\' => {
                    let escaped = match self.b.get(self.pos + 1)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        _ => return None,
                    };
                    let out = owned.get_or_insert_with(|| text[body_start..self.pos].to_string());
                    out.push(escaped);
                    self.pos += 2;
                }
                _ => return None, // a raw newline inside a string
            }
        }
    }
}

/// A value with its span.
struct Spanned {
    value: StoredValue,
    span: Span32,
    /// Written as a string (so it may be a property key).
    is_string: bool,
}

/// Bytes allowed in a bare identifier (ASCII subset).
fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_graphic()
        && !matches!(
            c,
            b'\\' | b'/' | b'(' | b')' | b'{' | b'}' | b';' | b'[' | b']' | b'"' | b'#' | b'='
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::doc::{Block, Value};
    use kdl::{KdlDocument, KdlValue};
    use proptest::prelude::*;

    // Both documents are printed in one format, each by its own walk, so
    // the comparison holds the fast path (and `Doc::from_kdl`) to kdl's own
    // document: structure, names, values and every span.

    /// kdl's document: structure, values and every span, as text.
    fn dump_kdl(doc: &KdlDocument) -> String {
        let mut out = String::new();
        dump_kdl_into(doc, &mut out);
        out
    }

    fn dump_kdl_into(doc: &KdlDocument, out: &mut String) {
        let s = doc.span();
        out.push_str(&format!("doc {}+{} [\n", s.offset(), s.len()));
        for n in doc.nodes() {
            let (s, ns) = (n.span(), n.name().span());
            out.push_str(&format!(
                "node {:?} {}+{} name {}+{}\n",
                n.name().value(),
                s.offset(),
                s.len(),
                ns.offset(),
                ns.len()
            ));
            for e in n.entries() {
                let s = e.span();
                let key = e
                    .name()
                    .map(|k| format!("{:?}@{}+{}", k.value(), k.span().offset(), k.span().len()));
                let value = match e.value() {
                    KdlValue::String(v) => format!("String({v:?})"),
                    KdlValue::Integer(n) => format!("Integer({n})"),
                    KdlValue::Float(f) => format!("Float({f:?})"),
                    KdlValue::Bool(b) => format!("Bool({b})"),
                    KdlValue::Null => "Null".to_string(),
                };
                out.push_str(&format!(
                    "  entry {key:?} {value} {}+{}\n",
                    s.offset(),
                    s.len()
                ));
            }
            if let Some(c) = n.children() {
                dump_kdl_into(c, out);
            }
        }
        out.push_str("]\n");
    }

    /// The light document, in the same format as [`dump_kdl`].
    fn dump(doc: &Doc<'_>) -> String {
        let mut out = String::new();
        dump_into(doc.top(), &mut out);
        out
    }

    fn dump_into(doc: Block<'_>, out: &mut String) {
        let s = doc.span();
        out.push_str(&format!("doc {}+{} [\n", s.offset(), s.len()));
        for n in doc.nodes() {
            let (s, ns) = (n.span(), n.name().span());
            out.push_str(&format!(
                "node {:?} {}+{} name {}+{}\n",
                n.name().value(),
                s.offset(),
                s.len(),
                ns.offset(),
                ns.len()
            ));
            for e in n.entries() {
                let s = e.span();
                let key = e
                    .name()
                    .map(|k| format!("{:?}@{}+{}", k.value(), k.span().offset(), k.span().len()));
                let value = match e.value() {
                    Value::String(v) => format!("String({v:?})"),
                    Value::Integer(n) => format!("Integer({n})"),
                    Value::Float(f) => format!("Float({f:?})"),
                    Value::Bool(b) => format!("Bool({b})"),
                    Value::Null => "Null".to_string(),
                };
                out.push_str(&format!(
                    "  entry {key:?} {value} {}+{}\n",
                    s.offset(),
                    s.len()
                ));
            }
            if let Some(c) = n.children() {
                dump_into(c, out);
            }
        }
        out.push_str("]\n");
    }

    /// The fast path agrees with kdl whenever it answers, and so does the
    /// conversion of kdl's document.
    fn agrees(text: &str) -> bool {
        match parse(text) {
            None => false,
            Some(fast) => {
                let slow = KdlDocument::parse_v2(text).unwrap_or_else(|e| {
                    panic!("fast path accepted what kdl rejects: {text:?}\n{e:?}")
                });
                let expected = dump_kdl(&slow);
                assert_eq!(dump(&fast), expected, "for {text:?}");
                let converted = Doc::from_kdl(&slow);
                assert_eq!(dump(&converted), expected, "conversion of {text:?}");
                true
            }
        }
    }

    /// The conversion alone, for text only kdl reads.
    fn converts(text: &str) {
        let slow = KdlDocument::parse_v2(text).unwrap();
        assert_eq!(
            dump(&Doc::from_kdl(&slow)),
            dump_kdl(&slow),
            "conversion of {text:?}"
        );
    }

    #[test]
    fn shipped_and_test_policies_take_the_fast_path_and_agree() {
        let mut files = vec![
            "policies/hospital.kdl".to_string(),
            "policies/clinic.kdl".to_string(),
            "policies/advisories/contec-cms8000.kdl".to_string(),
            "src/catalogue.kdl".to_string(),
        ];
        for dir in ["tests/policies", "tests/policies/invalid"] {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.extension().is_some_and(|x| x == "kdl") {
                    files.push(p.display().to_string());
                }
            }
        }
        let mut fast = 0;
        for f in &files {
            let Ok(text) = std::fs::read_to_string(f) else {
                continue;
            };
            if KdlDocument::parse_v2(&text).is_err() {
                assert!(parse(&text).is_none(), "{f}: accepted invalid KDL");
                continue;
            }
            if agrees(&text) {
                fast += 1;
            }
        }
        assert!(
            fast >= files.len() - 5,
            "only {fast} of {} files took the fast path",
            files.len()
        );
        assert!(agrees(
            &std::fs::read_to_string("policies/hospital.kdl").unwrap()
        ));
    }

    #[test]
    fn the_subset_matches_kdl_exactly() {
        for text in [
            "",
            "\n\n",
            "a",
            "a;b;c",
            "a 1 -2 +3 1_000 \"s\" bare #true #false #null",
            "a k=1 k2 = \"v\" \"quoted key\"=#true",
            "zone \"icu\" {\n    prefix \"10.20.0.0/16\"   \"a\" ; x 1\n  description \"d\" /* c */ // t\n  k a=#true  -5 bare  { }\n}\n\nrules {\n}\n// end\n",
            "a{b{c}}",
            "a { }",
            "a {\n}\n",
            "  a 1  \n  b 2 // c\n",
            "a \"esc \\\" \\\\ \\n \\t\" \"caf\u{e9}\"",
            "/* /* nested */ */ a /* x */ 1 /* y */",
            "a \"\" x",
            "node-name.with_chars 1",
            "a \"x\\ny\" \"\\\"lead\" \"trail\\\\\" \"mid\\tdle\"",
            "a \"k\\\"ey\"=\"v\\\\\" k2=\"plain\"",
        ] {
            assert!(agrees(text), "fast path declined {text:?}");
        }
    }

    #[test]
    fn outside_the_subset_it_defers() {
        for text in [
            "a 1.5",
            "a 0x10",
            "a #inf",
            "(t)a",
            "a (t)1",
            "/- a",
            "a /- 1",
            "a #\"raw\"#",
            "a \"\"\"\nmulti\n\"\"\"",
            "a \\\n 1",
            "a \"\\u{41}\"",
            "a true",
            "a \"unterminated",
            "a {",
            "}",
            "a 1}",
            "a\r\nb",
            "\u{feff}a",
            "a\u{a0}1",
        ] {
            assert!(parse(text).is_none(), "fast path took {text:?}");
            if KdlDocument::parse_v2(text).is_ok() {
                converts(text);
            }
        }
    }

    #[test]
    fn control_characters_anywhere_defer() {
        let body = "a 1\n".repeat(200);
        assert!(parse(&body).is_some());
        for at in [0, 255, 256, 257, body.len()] {
            for c in ['\r', '\u{b}', '\u{c}', '\u{0}', '\u{7f}'] {
                let mut text = body.clone();
                text.insert(at, c);
                assert!(parse(&text).is_none(), "{c:?} at {at}");
            }
        }
    }

    fn token() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "a",
            "zone",
            "\"x y\"",
            "\"10.0.0.0/8\"",
            "k=1",
            "k = \"v\"",
            "1",
            "-7",
            "#true",
            "#null",
            " ",
            "  ",
            "\t",
            "\n",
            ";",
            "{",
            "}",
            "/* c */",
            "// c\n",
            "\"\\\"\"",
            "bare-id",
            "x.y",
            "=",
            "#",
            "\"é\"",
            "0",
            "+1",
            "-",
            "1_0",
            "\"a\\\\b\"",
            "\"\\n\"",
            "1.5",
            "(t)",
        ])
        .prop_map(str::to_string)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        #[test]
        fn random_token_soup_agrees_when_accepted(tokens in prop::collection::vec(token(), 0..24)) {
            let text: String = tokens.concat();
            let slow = KdlDocument::parse_v2(&text);
            if let Some(fast) = parse(&text) {
                prop_assert!(slow.is_ok(), "accepted invalid KDL {:?}", text);
                let slow = slow.unwrap();
                prop_assert_eq!(dump(&fast), dump_kdl(&slow), "for {:?}", text);
            } else if let Ok(slow) = slow {
                prop_assert_eq!(dump(&Doc::from_kdl(&slow)), dump_kdl(&slow), "for {:?}", text);
            }
        }
    }
}
