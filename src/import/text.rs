//! Writing policy text safely: names the policy language accepts, KDL
//! strings quoted and escaped, free text and comments that stay one line.
//!
//! Device names can hold anything (spaces, slashes, quotes, line breaks a
//! hostile export smuggles in); the policy keeps them only in descriptions
//! and comments, cleaned by the policy language's free-text rules
//! (docs/policy-language.md, "Names" and free text).

use std::collections::BTreeSet;

use crate::diagnostics::is_unsafe_char;

/// Longest free text the policy language takes, in bytes.
const MAX_TEXT: usize = 1024;

/// A KDL string literal of `s`: quotes and backslashes escaped. Callers
/// pass cleaned text ([`free_text`]) or names and literals, which hold no
/// control characters.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `s` as free text: every character the policy language refuses in free
/// text (controls, line breaks, bidi controls, noncharacters) shown as
/// `<U+XXXX>`, so the text stays one line and reads as what it is; cut to
/// the language's limit on a character boundary.
pub(crate) fn free_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.trim().chars() {
        if is_unsafe_char(c) {
            out.push_str(&format!("<U+{:04X}>", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    crate::text::truncate_bytes(&out, MAX_TEXT).to_string()
}

/// `s` for a `//` comment: one line ([`free_text`], no length limit that
/// matters here).
pub(crate) fn comment(s: &str) -> String {
    free_text(s)
}

/// Hands out valid, unique policy names in one namespace.
#[derive(Default)]
pub struct Names {
    taken: BTreeSet<String>,
}

impl Names {
    /// A valid policy name for the device's `raw` name, unique in this
    /// namespace: a letter first, then letters, digits, `-`, `_`, `.`; at
    /// most 63 characters; never `any` or `default`.
    pub fn name(&mut self, raw: &str) -> String {
        let base = valid_name(raw);
        let mut name = base.clone();
        let mut n = 2;
        while self.taken.contains(&name.to_ascii_lowercase()) {
            let suffix = format!("-{n}");
            name = format!("{}{suffix}", &base[..base.len().min(63 - suffix.len())]);
            n += 1;
        }
        self.taken.insert(name.to_ascii_lowercase());
        name
    }
}

fn valid_name(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    let mut out = if out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out
    } else {
        format!("x-{out}").trim_end_matches('-').to_string()
    };
    if matches!(out.to_ascii_lowercase().as_str(), "any" | "default") {
        out.push_str("-1");
    }
    out.truncate(63);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_become_valid_unique_names() {
        let mut n = Names::default();
        assert_eq!(n.name("GigabitEthernet1/0/1"), "GigabitEthernet1-0-1");
        assert_eq!(n.name("10 net"), "x-10-net");
        assert_eq!(n.name("any"), "any-1");
        assert_eq!(n.name("a b"), "a-b");
        assert_eq!(n.name("a/b"), "a-b-2");
        assert_eq!(n.name("\"; rm -rf /\n"), "rm--rf");
        assert_eq!(n.name(&"x".repeat(80)).len(), 63);
        assert_eq!(n.name(""), "x");
    }

    #[test]
    fn text_stays_one_line_and_quotes_are_escaped() {
        assert_eq!(free_text("a\nb\u{202E}c"), "a<U+000A>b<U+202E>c");
        assert_eq!(quote("say \"hi\" \\"), "\"say \\\"hi\\\" \\\\\"");
        assert!(free_text(&"é".repeat(600)).len() <= 1024);
    }
}
