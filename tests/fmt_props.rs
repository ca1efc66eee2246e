//! `wardwall fmt`'s promises on random layouts of real policies: the
//! layout is canonical (any respacing of a policy formats to the same
//! text), idempotent, never changes what the policy compiles to, and keeps
//! every comment.
//!
//! Each case takes a policy of tests/policies and rewrites its layout line
//! by line from random bits: indentation, CRLF, nodes joined with `;`,
//! quoted names unquoted, and (when comments are on) block, line and
//! own-line comments, `/-` nodes and blank lines, each with a unique text
//! the generator knows.

use crate::common;

use proptest::prelude::*;
use wardwall::source::format_text;
use wardwall::vocab::Target;

/// Policies without includes (compiled from a temporary directory).
const BASES: [&str; 6] = [
    "tests/policies/cisco-edge.kdl",
    "tests/policies/drift/cisco.kdl",
    "tests/policies/nft-protocols.kdl",
    "tests/policies/nft-text.kdl",
    "tests/policies/panos-families.kdl",
    "tests/policies/pfsense-shared-interface.kdl",
];

const DATE: &str = "2026-06-01";

/// A line that is one whole node without a block or comment, so it can be
/// joined to its neighbour with `;`.
fn simple(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.contains(['{', '}']) && !t.contains("//") && !t.contains("/*")
}

/// `"name"` → `name` for every quoted string of the line that is a plain
/// lower-case identifier (KDL reads both as the same string).
fn unquote(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after
            .char_indices()
            .scan(false, |escaped, (i, c)| {
                let close = c == '"' && !*escaped;
                *escaped = c == '\\' && !*escaped;
                Some((i, close))
            })
            .find(|&(_, close)| close)
            .map(|(i, _)| i);
        let Some(end) = end else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let plain = inner.starts_with(|c: char| c.is_ascii_lowercase())
            && inner
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !matches!(inner, "true" | "false" | "null" | "inf" | "nan");
        if plain {
            out.push_str(inner);
        } else {
            out.push('"');
            out.push_str(inner);
            out.push('"');
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `base` laid out anew from `bits` (one byte per line); returns the text
/// and the comments it added.
fn scramble(base: &str, bits: &[u8], comments: bool, crlf: bool) -> (String, Vec<String>) {
    let mut lines: Vec<String> = Vec::new();
    let mut added = Vec::new();
    let mut joinable = false;
    for (i, line) in base.lines().enumerate() {
        let b = bits[i % bits.len()];
        let b = if comments { b } else { b & 0b1100_0011 };
        let mut text = line.trim_start().to_string();
        if text.is_empty() {
            lines.push(String::new());
            joinable = false;
            continue;
        }
        if b & 1 << 4 != 0 {
            let c = format!("// own-{i}");
            lines.push(c.clone());
            added.push(c);
            let dead = format!("/-node \"dead-{i}\" x=\"y\"");
            lines.push(dead.clone());
            added.push(dead);
            joinable = false;
        }
        if b & 1 << 5 != 0 {
            lines.push(String::new());
            joinable = false;
        }
        if b & 1 << 7 != 0 && !text.contains("//") {
            text = unquote(&text);
        }
        let was_simple = simple(&text);
        if b & 1 << 2 != 0
            && let Some(space) = text.find(' ')
            && !text.starts_with("//")
        {
            let c = format!("/* mid-{i} */");
            text = format!("{} {c}{}", &text[..space], &text[space..]);
            added.push(c);
        }
        if b & 1 << 3 != 0 && !text.starts_with("//") {
            let c = format!("// tail-{i}");
            text = format!("{text}   {c}");
            added.push(c);
        }
        let indent = ["", " ", "\t", "          "][usize::from(b & 3)];
        if b & 1 << 6 != 0 && joinable && was_simple {
            let last = lines.last_mut().expect("joinable follows a line");
            *last = format!("{last};{indent}{text}");
        } else {
            lines.push(format!("{indent}{text}"));
        }
        joinable = was_simple && b & 0b1100 == 0;
    }
    let newline = if crlf { "\r\n" } else { "\n" };
    (lines.join(newline) + newline, added)
}

/// The first line where two texts differ, for a short failure message.
fn first_difference(a: &str, b: &str) -> String {
    let (n, (x, y)) = a
        .lines()
        .zip(b.lines())
        .enumerate()
        .find(|(_, (x, y))| x != y)
        .unwrap_or((0, ("", "")));
    format!("line {}: {x:?} vs {y:?}", n + 1)
}

/// Every target's rendering of `text` (a refusal as `None`), nftables
/// also without interfaces (the bases that bind no nftables interface).
fn renderings(text: &str) -> Vec<Option<Vec<wardwall::render::RenderedFile>>> {
    let ir = common::compile_text_ok("p.kdl", text, DATE);
    let address_only = wardwall::registry::TargetOptions {
        nft_address_only: true,
    };
    let nft = wardwall::registry::renderer(Target::Nftables, &address_only)
        .render(&ir, &Default::default())
        .ok();
    Target::ALL
        .into_iter()
        .map(|t| common::try_render(&ir, t).ok())
        .chain([nft])
        .collect()
}

proptest! {
    #![proptest_config(common::proptest_config(32))]

    #[test]
    fn formatting_is_canonical_idempotent_and_keeps_meaning_and_comments(
        base in 0..BASES.len(),
        bits in prop::collection::vec(any::<u8>(), 1..64),
        comments in any::<bool>(),
        crlf in any::<bool>(),
    ) {
        let original = common::read(BASES[base]);
        let (text, added) = scramble(&original, &bits, comments, crlf);
        let once = format_text(&text).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let twice = format_text(&once).map_err(|e| TestCaseError::fail(format!("{e:?} on its own output")))?;
        prop_assert!(twice == once, "twice differs from once: {}", first_difference(&twice, &once));
        for comment in &added {
            prop_assert!(once.contains(comment.as_str()), "lost {comment:?}");
        }
        if !comments {
            // Only the layout changed: the canonical text is the same.
            let canonical = format_text(&original).unwrap();
            prop_assert!(once == canonical, "not canonical:\n{}", first_difference(&once, &canonical));
        }
        let before = renderings(&text);
        prop_assert!(before.iter().any(Option::is_some), "no target renders {}", BASES[base]);
        prop_assert!(before == renderings(&once), "formatting changed a rendering");
    }
}
