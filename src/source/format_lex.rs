//! The formatter's tokens: KDL v2 text cut into the pieces a layout is made
//! of, comments and newlines included (the parser proper drops them).
//!
//! Only text kdl has already accepted is lexed (see `format.rs`), so the
//! lexer never has to explain an error: it returns `None` on anything it
//! does not recognise and the formatter refuses the file.

/// One token. `text` is the exact source slice (a value keeps its
/// quoting, a comment its delimiters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Token<'a> {
    pub(super) kind: Kind,
    pub(super) text: &'a str,
    pub(super) offset: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A line break of any of KDL's kinds.
    Newline,
    /// `// ...` up to (not including) the line break.
    LineComment,
    /// `/* ... */`, nesting included.
    BlockComment,
    /// `/-`: the next node, entry or block is a comment.
    Slashdash,
    /// `\` continuing a node on the next line (its comment and line break
    /// are separate tokens).
    Continuation,
    /// An identifier, number, keyword (`#true`) or bare word.
    Bare,
    /// `"..."` or `"""..."""`, escapes processed by KDL.
    Quoted,
    /// `#"..."#` and the multi-line raw forms.
    Raw,
    OpenBrace,
    CloseBrace,
    OpenParen,
    CloseParen,
    Semicolon,
    Equals,
}

impl Kind {
    /// Whether this token is a value or a name.
    pub(super) fn is_string_or_value(self) -> bool {
        matches!(self, Kind::Bare | Kind::Quoted | Kind::Raw)
    }

    pub(super) fn is_comment(self) -> bool {
        matches!(self, Kind::LineComment | Kind::BlockComment)
    }
}

/// Line breaks as KDL v2 defines them (CRLF is one).
fn newline_len(rest: &str) -> Option<usize> {
    if rest.starts_with("\r\n") {
        return Some(2);
    }
    let c = rest.chars().next()?;
    matches!(
        c,
        '\r' | '\n' | '\u{85}' | '\u{0B}' | '\u{0C}' | '\u{2028}' | '\u{2029}'
    )
    .then(|| c.len_utf8())
}

/// KDL v2's `unicode-space`.
pub(super) fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// A character that may appear in an identifier (or a number, or after
/// the `#` of a keyword).
pub(super) fn is_ident_char(c: char) -> bool {
    !(is_space(c)
        || newline_len(c.encode_utf8(&mut [0; 4])).is_some()
        || "\\/(){}[];\"#=".contains(c)
        || matches!(c, '\u{0}'..='\u{8}' | '\u{E}'..='\u{1F}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'))
}

/// Cuts `text` into tokens; whitespace inside a line is dropped (the
/// printer decides all spacing).
pub(super) fn tokens(text: &str) -> Option<Vec<Token<'_>>> {
    let mut out = Vec::new();
    let mut pos = text.strip_prefix('\u{FEFF}').map_or(0, |_| 3);
    while pos < text.len() {
        let rest = &text[pos..];
        let c = rest.chars().next()?;
        if is_space(c) {
            pos += c.len_utf8();
            continue;
        }
        let (kind, len) = token_at(rest, c)?;
        out.push(Token {
            kind,
            text: &rest[..len],
            offset: pos,
        });
        pos += len;
    }
    Some(out)
}

/// The token that starts `rest` (whose first character is `c`).
fn token_at(rest: &str, c: char) -> Option<(Kind, usize)> {
    if let Some(len) = newline_len(rest) {
        return Some((Kind::Newline, len));
    }
    let single = |kind| Some((kind, 1));
    match c {
        '{' => single(Kind::OpenBrace),
        '}' => single(Kind::CloseBrace),
        '(' => single(Kind::OpenParen),
        ')' => single(Kind::CloseParen),
        ';' => single(Kind::Semicolon),
        '=' => single(Kind::Equals),
        '\\' => single(Kind::Continuation),
        '/' if rest.starts_with("//") => {
            let end = (0..rest.len())
                .filter(|&i| rest.is_char_boundary(i))
                .find(|&i| newline_len(&rest[i..]).is_some())
                .unwrap_or(rest.len());
            Some((Kind::LineComment, end))
        }
        '/' if rest.starts_with("/*") => Some((Kind::BlockComment, block_comment_len(rest)?)),
        '/' if rest.starts_with("/-") => Some((Kind::Slashdash, 2)),
        '"' => Some((Kind::Quoted, quoted_len(rest)?)),
        '#' if rest[1..].starts_with(['#', '"']) => Some((Kind::Raw, raw_len(rest)?)),
        _ => {
            let len = bare_len(rest);
            (len > 0).then_some((Kind::Bare, len))
        }
    }
}

/// `/* ... */` with nesting.
fn block_comment_len(rest: &str) -> Option<usize> {
    let b = rest.as_bytes();
    let (mut depth, mut i) = (0usize, 0);
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// A quoted string, single- or multi-line: up to the closing quote(s),
/// a backslash escaping the character after it.
fn quoted_len(rest: &str) -> Option<usize> {
    let close = if rest.starts_with("\"\"\"") {
        "\"\"\""
    } else {
        "\""
    };
    let b = rest.as_bytes();
    let mut i = close.len();
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
        } else if b[i..].starts_with(close.as_bytes()) {
            return Some(i + close.len());
        } else {
            i += 1;
        }
    }
    None
}

/// A raw string: `#`×n, `"` or `"""`, text without escapes, the same
/// quotes and `#`×n.
fn raw_len(rest: &str) -> Option<usize> {
    let hashes = rest.bytes().take_while(|&b| b == b'#').count();
    let after = &rest[hashes..];
    let quotes = if after.starts_with("\"\"\"") { 3 } else { 1 };
    let close = format!("{}{}", "\"".repeat(quotes), "#".repeat(hashes));
    let body = hashes + quotes;
    rest.get(body..)?
        .find(&close)
        .map(|i| body + i + close.len())
}

/// An identifier, number or keyword (`#` then identifier characters).
fn bare_len(rest: &str) -> usize {
    let start = usize::from(rest.starts_with('#'));
    start
        + rest[start..]
            .char_indices()
            .find(|&(_, c)| !is_ident_char(c))
            .map_or(rest.len() - start, |(i, _)| i)
}

/// Whether a bare token is a string (an identifier), not a number or a
/// keyword: KDL reads `1.5`, `-3`, `+7` and `#true` otherwise.
pub(super) fn is_identifier(bare: &str) -> bool {
    let mut chars = bare.chars();
    let starts_numeric = match chars.next() {
        Some(c) if c.is_ascii_digit() => true,
        Some('+' | '-' | '.') => chars.next().is_some_and(|c| c.is_ascii_digit()),
        Some('#') | None => true,
        _ => false,
    };
    !starts_numeric
}

/// The bare identifier a quoted string could be written as, if any: no
/// escapes, only identifier characters, and not a word KDL v2 reserves
/// (`true`, `inf`, ...) or would read as a number.
pub(super) fn as_bare(quoted: &str) -> Option<&str> {
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let reserved = matches!(inner, "true" | "false" | "null" | "inf" | "-inf" | "nan");
    let plain = !inner.is_empty() && inner.chars().all(is_ident_char) && !inner.starts_with('"');
    (plain && !reserved && is_identifier(inner)).then_some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        tokens(text)
            .unwrap()
            .into_iter()
            .map(|t| (t.kind, t.text))
            .collect()
    }

    #[test]
    fn comments_strings_and_breaks_are_tokens() {
        use Kind::*;
        assert_eq!(
            kinds("a \"x // y\" /* b /* c */ */ #\"r\"# \\ // d\r\n/-e;"),
            vec![
                (Bare, "a"),
                (Quoted, "\"x // y\""),
                (BlockComment, "/* b /* c */ */"),
                (Raw, "#\"r\"#"),
                (Continuation, "\\"),
                (LineComment, "// d"),
                (Newline, "\r\n"),
                (Slashdash, "/-"),
                (Bare, "e"),
                (Semicolon, ";"),
            ]
        );
    }

    #[test]
    fn escaped_quotes_and_multiline_strings_stay_whole() {
        use Kind::*;
        assert_eq!(
            kinds(
                r#"d "a\"b" """
  x "" y
  """"#
            ),
            vec![
                (Bare, "d"),
                (Quoted, r#""a\"b""#),
                (Quoted, "\"\"\"\n  x \"\" y\n  \"\"\""),
            ]
        );
        assert_eq!(kinds("##\"a\"#b\"##"), vec![(Raw, "##\"a\"#b\"##")]);
    }

    #[test]
    fn identifiers_are_told_from_numbers_and_keywords() {
        for ident in ["icu", "a-1", "-x", "+", "-", "a.b"] {
            assert!(is_identifier(ident), "{ident}");
        }
        for other in ["1", "-1", "+2.5", "0x10", "#true", ".5"] {
            assert!(!is_identifier(other), "{other}");
        }
        assert_eq!(as_bare("\"zone\""), Some("zone"));
        for keep in [
            r#""a b""#,
            r#""a\n""#,
            r#""true""#,
            r#""1x""#,
            r#""""#,
            r#""a/b""#,
        ] {
            assert_eq!(as_bare(keep), None, "{keep}");
        }
    }
}
