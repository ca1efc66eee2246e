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
pub(crate) struct Placed<'a> {
    pub boxed: Boxed,
    /// The disabled rule it comes from, and whether the rule has more
    /// boxes than this one; `None` for a box in force.
    pub disabled: Option<(&'a DisabledRule, bool)>,
}

/// `boxes` (the device's list) with every writable disabled rule's boxes
/// inserted in place; and, for the rules that cannot be written, why.
pub(crate) fn place<'a>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addrset::AddrSet;
    use crate::read::device::{Decision, Device, Entry, Filter, Guard, Layer, Origin};
    use crate::vocab::{Action, ServiceSet, Target};

    fn entry(line: usize, dst: &str, action: Action) -> Entry {
        Entry {
            guard: Guard::any(),
            src: AddrSet::any(),
            dst: AddrSet::from_net(dst.parse().unwrap()),
            service: ServiceSet::any(),
            decision: Decision {
                action,
                log: false,
                origin: Origin {
                    line,
                    column: 1,
                    text: format!("line {line}"),
                    rule: None,
                },
            },
            undecidable: None,
        }
    }

    fn device(entries: Vec<Entry>) -> Device {
        Device {
            target: Target::Panos,
            places: None,
            layers: vec![Layer {
                name: "layer".into(),
                filters: vec![Filter {
                    name: "rules".into(),
                    guard: Guard::any(),
                    entries,
                    default: entry(0, "0.0.0.0/0", Action::Deny).decision,
                }],
                unfiltered: Action::Deny,
            }],
            skipped: Vec::new(),
        }
    }

    fn disabled(line: usize, enabled: Device) -> DisabledRule {
        DisabledRule {
            line,
            column: 1,
            text: format!("rule at {line}"),
            enabled: Ok(enabled),
        }
    }

    #[test]
    fn a_disabled_rule_stands_between_the_entries_around_it() {
        let behind = Behind { places: Vec::new() };
        let a = entry(2, "10.0.0.0/8", Action::Allow);
        let b = entry(9, "192.0.2.0/24", Action::Allow);
        let off = entry(5, "10.1.0.0/16", Action::Deny);
        let (boxes, _) = flat::flatten(&device(vec![a.clone(), b.clone()]), &behind);
        let rules = [disabled(5, device(vec![a.clone(), off, b.clone()]))];
        let (placed, unwritable) = place(boxes, &rules, &behind);
        assert!(unwritable.is_empty());
        let lines: Vec<(usize, bool)> = placed
            .iter()
            .map(|p| {
                let line = p.boxed.path.iter().flatten().next();
                (line.map_or(0, |(_, d)| d.origin.line), p.disabled.is_some())
            })
            .collect();
        assert_eq!(lines[..3], [(2, false), (5, true), (9, false)]);

        // Enabled, the device would change more than its own entry (here
        // another entry's action): not placed, and said why.
        let mut changed = b.clone();
        changed.decision.action = Action::Deny;
        let rules = [disabled(5, device(vec![a.clone(), changed]))];
        let (boxes, _) = flat::flatten(&device(vec![a, b]), &behind);
        let (placed, unwritable) = place(boxes, &rules, &behind);
        assert!(placed.iter().all(|p| p.disabled.is_none()));
        assert_eq!(unwritable.len(), 1);
        assert!(
            unwritable[0].1.contains("changes more"),
            "{}",
            unwritable[0].1
        );
    }
}
