//! Free text from a policy (names, descriptions, owners, tickets) on its way
//! into a target's comment, remark or description field: cleaned and fitted
//! to the field in one place, each target giving only its [`Field`] — which
//! characters it cannot carry, and its limit.
//!
//! The source stage already refuses control characters, bidi controls and
//! the like in free text; the cleaning here is the targets' own line of
//! defence (a character that would end a quoted string, start a comment or
//! be read as a help request by a CLI), and it never lets a cut split a
//! character.

use std::borrow::Cow;

/// How a target's text field takes free text.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    /// The target's replacement for a character it cannot carry as is
    /// (`None`: kept).
    pub replace: fn(char) -> Option<char>,
    /// Runs of spaces become one space, and leading spaces go.
    pub collapse_spaces: bool,
    /// Characters removed from the start (after replacing).
    pub trim_start: fn(char) -> bool,
    /// Whitespace removed from the end, before fitting and again after a
    /// cut.
    pub trim_end: bool,
    /// Longest text the field holds, in bytes.
    pub max: usize,
    /// What a text over `max` becomes.
    pub overflow: Overflow,
}

/// What a text too long for its field becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// Cut at `max` bytes.
    Cut,
    /// Cut at `max - 3` bytes, followed by `...`: a reader sees that text
    /// is missing.
    Ellipsis,
}

impl Field {
    /// `text` cleaned and fitted to the field.
    pub(crate) fn fit<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let clean = self.clean(text);
        if clean.len() <= self.max {
            return clean;
        }
        let keep = match self.overflow {
            Overflow::Cut => self.max,
            Overflow::Ellipsis => self.max.saturating_sub(3),
        };
        let mut cut = truncate_bytes(&clean, keep);
        if self.trim_end {
            cut = cut.trim_end();
        }
        let mut out = cut.to_string();
        if self.overflow == Overflow::Ellipsis {
            out.push_str("...");
        }
        Cow::Owned(out)
    }

    /// [`Field::fit`], appended to `out`.
    pub(crate) fn push_fit(&self, out: &mut String, text: &str) {
        out.push_str(&self.fit(text));
    }

    /// Replacing, collapsing and trimming, without the fit.
    fn clean<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let unchanged = text.chars().all(|c| (self.replace)(c).is_none())
            && !(self.collapse_spaces && (text.starts_with(' ') || text.contains("  ")))
            && !text.starts_with(self.trim_start)
            && !(self.trim_end && text.ends_with(char::is_whitespace));
        if unchanged {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut after_space = true;
        for c in text.chars() {
            let c = (self.replace)(c).unwrap_or(c);
            if self.collapse_spaces && c == ' ' {
                if after_space {
                    continue;
                }
                after_space = true;
            } else {
                after_space = false;
            }
            out.push(c);
        }
        let mut clean = out.trim_start_matches(self.trim_start);
        if self.trim_end {
            clean = clean.trim_end();
        }
        Cow::Owned(clean.to_string())
    }
}

/// For [`Field::trim_start`]: trims nothing.
pub(crate) fn nothing(_: char) -> bool {
    false
}

/// Cuts `text` to at most `max` bytes on a character boundary.
pub(crate) fn truncate_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quotes(c: char) -> Option<char> {
        match c {
            '"' => Some('\''),
            c if c.is_control() => Some(' '),
            _ => None,
        }
    }

    const PLAIN: Field = Field {
        replace: quotes,
        collapse_spaces: false,
        trim_start: nothing,
        trim_end: false,
        max: 8,
        overflow: Overflow::Cut,
    };

    #[test]
    fn text_that_fits_and_needs_nothing_is_borrowed() {
        assert!(matches!(PLAIN.fit("a b"), Cow::Borrowed("a b")));
    }

    #[test]
    fn replacing_then_cutting_never_splits_a_character() {
        assert_eq!(PLAIN.fit("say \"hi\"\n"), "say 'hi'");
        assert_eq!(PLAIN.fit("ééééé"), "éééé");
        assert_eq!(PLAIN.fit("abcdefgé"), "abcdefg");
    }

    #[test]
    fn collapsing_trimming_and_ellipsis() {
        let field = Field {
            collapse_spaces: true,
            trim_start: |c| c == '!' || c == ' ',
            trim_end: true,
            max: 10,
            overflow: Overflow::Ellipsis,
            ..PLAIN
        };
        assert_eq!(field.fit("  !a   b  "), "a b");
        assert_eq!(field.fit("!! a"), "a");
        // Cut at 7 bytes ("abc def"), then the ellipsis: 10 bytes.
        assert_eq!(field.fit("abc def ghi"), "abc def...");
        // A cut that ends in a space loses it before the ellipsis.
        assert_eq!(field.fit("abc de  fghij"), "abc de...");
        assert_eq!(field.fit("abcdefghij"), "abcdefghij");
    }
}
