//! Disabled entries (PAN-OS `<disabled>yes</disabled>`, pfSense
//! `<disabled/>`) placed where they stand in the device's first-match
//! list, so the policy can keep them as commented-out rules.
//!
//! The reader reads the device once more with just that rule enabled
//! ([`DisabledRule::enabled`]); flattened like the device, that list is
//! the device's list with the rule's boxes inserted. Those boxes are the
//! rule as it would be enabled, and the boxes around them say where it
//! stands. When the two lists differ elsewhere (enabling the rule changes
//! more than its own entries, e.g. a pfSense rule that fills a system
//! table) or the rule cannot be decided, it is not written as a rule and
//! the reason is returned instead.

use crate::read::export::inventory::DisabledRule;

use super::flat::{self, Behind, Boxed};

/// One box of the list the policy is written from.
pub struct Placed<'a> {
    pub boxed: Boxed,
    /// The disabled rule it comes from, and whether the rule has more
    /// boxes than this one; `None` for a box in force.
    pub disabled: Option<(&'a DisabledRule, bool)>,
}

/// `boxes` (the device's list) with every writable disabled rule's boxes
/// inserted in place; and, for the rules that cannot be written, why.
pub fn place<'a>(
    boxes: Vec<Boxed>,
    disabled: &'a [DisabledRule],
    behind: &Behind,
) -> (Vec<Placed<'a>>, Vec<(&'a DisabledRule, String)>) {
    // inserted[i]: the disabled boxes that stand before boxes[i].
    let mut inserted: Vec<Vec<Placed<'a>>> = (0..=boxes.len()).map(|_| Vec::new()).collect();
    let mut unwritable = Vec::new();
    for rule in disabled {
        match own_boxes(&boxes, rule, behind) {
            Ok(found) => {
                let several = found.len() > 1;
                for (at, b) in found {
                    inserted[at].push(Placed {
                        boxed: b,
                        disabled: Some((rule, several)),
                    });
                }
            }
            Err(why) => unwritable.push((rule, why)),
        }
    }
    let mut out = Vec::new();
    let mut inserted = inserted.into_iter();
    for b in boxes {
        out.extend(inserted.next().into_iter().flatten());
        out.push(Placed {
            boxed: b,
            disabled: None,
        });
    }
    out.extend(inserted.flatten());
    (out, unwritable)
}

/// The rule's boxes with the index of the device box each stands before.
fn own_boxes(
    boxes: &[Boxed],
    rule: &DisabledRule,
    behind: &Behind,
) -> Result<Vec<(usize, Boxed)>, String> {
    let device = rule
        .enabled
        .as_ref()
        .map_err(|e| format!("enabled, the device's configuration could not be read: {e}"))?;
    let (with_rule, undecided) = flat::flatten(device, behind);
    if let Some(u) = undecided.iter().find(|u| is_rule(rule, &u.decision)) {
        return Err(format!(
            "the policy cannot decide it like the device ({})",
            u.why
        ));
    }
    let mut found = Vec::new();
    let mut at = 0;
    for b in with_rule {
        if b.path.iter().flatten().any(|(_, d)| is_rule(rule, d)) {
            found.push((at, b));
        } else if boxes.get(at).is_some_and(|o| same(o, &b)) {
            at += 1;
        } else {
            return Err(
                "enabling it changes more of what the device decides than its own entries".into(),
            );
        }
    }
    if at != boxes.len() {
        return Err(
            "enabling it changes more of what the device decides than its own entries".into(),
        );
    }
    if found.is_empty() {
        return Err("enabled, it would match no forwarded new flow".into());
    }
    Ok(found)
}

fn is_rule(rule: &DisabledRule, d: &crate::read::device::Decision) -> bool {
    d.origin.line == rule.line && d.origin.column == rule.column && rule.line > 0
}

fn same(a: &Boxed, b: &Boxed) -> bool {
    a.src == b.src
        && a.dst == b.dst
        && a.service == b.service
        && a.action == b.action
        && a.log == b.log
        && a.path == b.path
}
