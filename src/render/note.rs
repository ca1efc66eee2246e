//! What a rule's entries say of it on a device besides the verdict,
//! decided once for every target: the rule's name, its reason (the
//! description) and its bookkeeping (an exception's parent rule, the
//! owner, the ticket, the expiry), so an auditor reading any device sees
//! why an entry is there and who answers for it.
//!
//! Each target gives only its field's limit, and then cleans the text for
//! its field ([`crate::text::Field`]). The order is the order of need: the
//! name, then the description (which the field may cut), then the
//! bookkeeping. A piece of bookkeeping is written whole or not at all: a
//! cut ticket number (`SEC-2025-0` for `SEC-2025-014`) would name another
//! ticket. Limits count the text before cleaning, which never lengthens it.

use crate::ir::{Rule, RuleOrigin};

/// The rule's bookkeeping, each piece whole: `exception to P`, `owner O`,
/// `ticket T`, `expires E` (those it has).
fn pieces(rule: &Rule) -> Vec<String> {
    let mut out = Vec::new();
    if let RuleOrigin::Exception { parent } = &rule.origin {
        out.push(format!("exception to {parent}"));
    }
    if let Some(o) = &rule.owner {
        out.push(format!("owner {o}"));
    }
    if let Some(t) = &rule.ticket {
        out.push(format!("ticket {t}"));
    }
    if let Some(e) = &rule.expires {
        out.push(format!("expires {e}"));
    }
    out
}

/// The first pieces that fit in `room` bytes joined by `; ` inside
/// `open`..`close`, or `None` when not even the first does.
fn fitted(pieces: &[String], room: usize, open: &str, close: &str) -> Option<String> {
    let mut out = String::new();
    for p in pieces {
        let sep = if out.is_empty() { "" } else { "; " };
        if open.len() + out.len() + sep.len() + p.len() + close.len() > room {
            break;
        }
        out.push_str(sep);
        out.push_str(p);
    }
    (!out.is_empty()).then(|| format!("{open}{out}{close}"))
}

/// The bookkeeping alone, `exception to P; owner O; ticket T; expires E`,
/// the pieces that fit whole in `max` bytes, for a target with a line of
/// its own for it: `None` only for a rule with no bookkeeping, so the line
/// is there exactly when the rule has bookkeeping (free text never adds or
/// removes an entry). When not even the first piece fits, all of it is
/// given for the field to cut.
pub(crate) fn bookkeeping(rule: &Rule, max: usize) -> Option<String> {
    let pieces = pieces(rule);
    if pieces.is_empty() {
        return None;
    }
    fitted(&pieces, max, "", "").or_else(|| Some(pieces.join("; ")))
}

/// `text`, then ` [bookkeeping]` as far as it fits in `max` bytes.
fn with_bookkeeping(rule: &Rule, text: String, max: usize) -> String {
    let sep = " ";
    match fitted(
        &pieces(rule),
        max.saturating_sub(text.len() + sep.len()),
        "[",
        "]",
    ) {
        Some(b) => format!("{text}{sep}{b}"),
        None => text,
    }
}

fn description(rule: &Rule) -> Option<&str> {
    rule.description.as_deref().filter(|d| !d.is_empty())
}

/// The description and the bookkeeping in one line, `D [B]` (or `D`, or
/// `[B]`), within `max` bytes as far as the bookkeeping goes: for a target
/// whose entry names the rule in a field of its own.
pub(crate) fn about(rule: &Rule, max: usize) -> Option<String> {
    match description(rule) {
        Some(d) => Some(with_bookkeeping(rule, d.to_string(), max)),
        None => fitted(&pieces(rule), max, "[", "]"),
    }
}

/// The rule's name followed by [`about`], `N: D [B]` (or just `N`), for a
/// target with one free-text field per entry. Readers find the rule's
/// name as the text before the first `: `.
pub(crate) fn titled(rule: &Rule, max: usize) -> String {
    let name = &rule.name;
    match description(rule) {
        Some(d) => with_bookkeeping(rule, format!("{name}: {d}"), max),
        None => match fitted(&pieces(rule), max.saturating_sub(name.len() + 2), "[", "]") {
            Some(b) => format!("{name}: {b}"),
            None => name.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(description: Option<&str>, owner: Option<&str>, exception: bool) -> Rule {
        let policy = std::path::Path::new("policies/clinic.kdl");
        let ir = crate::compile(policy, jiff::civil::date(2026, 12, 1))
            .unwrap()
            .ir
            .unwrap();
        let mut r = ir.rules[0].clone();
        r.name = "r".to_string();
        r.origin = RuleOrigin::Rule;
        r.expires = None;
        r.description = description.map(str::to_string);
        r.owner = owner.map(str::to_string);
        r.ticket = owner.map(|_| "CHG-1".to_string());
        if exception {
            r.origin = RuleOrigin::Exception {
                parent: "p".to_string(),
            };
        }
        r
    }

    #[test]
    fn every_part_in_its_place_and_only_the_parts_there_are() {
        assert_eq!(titled(&rule(None, None, false), 100), "r");
        assert_eq!(titled(&rule(Some("why"), None, false), 100), "r: why");
        assert_eq!(titled(&rule(Some(""), None, false), 100), "r");
        assert_eq!(
            titled(&rule(None, Some("netops"), false), 100),
            "r: [owner netops; ticket CHG-1]"
        );
        assert_eq!(
            about(&rule(Some("why"), Some("netops"), true), 100).as_deref(),
            Some("why [exception to p; owner netops; ticket CHG-1]")
        );
        assert_eq!(bookkeeping(&rule(Some("why"), None, false), 100), None);
    }

    #[test]
    fn bookkeeping_is_written_whole_or_not_at_all() {
        let r = rule(Some("why"), Some("netops"), false);
        // "r: why [owner netops; ticket CHG-1]" is 35 bytes.
        assert_eq!(titled(&r, 35), "r: why [owner netops; ticket CHG-1]");
        assert_eq!(titled(&r, 34), "r: why [owner netops]");
        assert_eq!(titled(&r, 21), "r: why [owner netops]");
        assert_eq!(titled(&r, 20), "r: why");
        // A description longer than the field: the field cuts it, and no
        // bookkeeping is added.
        assert_eq!(titled(&r, 4), "r: why");
        assert_eq!(bookkeeping(&r, 12).as_deref(), Some("owner netops"));
        // Its own line is there whenever there is bookkeeping.
        assert_eq!(
            bookkeeping(&r, 11).as_deref(),
            Some("owner netops; ticket CHG-1")
        );
        for max in 0..40 {
            let t = titled(&r, max);
            assert!(t.len() <= max.max("r: why".len()), "{max}: {t}");
            assert!(!t.contains("CHG-") || t.contains("CHG-1]"), "{max}: {t}");
        }
    }
}
