//! What a policy change does to its expectations: the promises the change
//! breaks and the ones that hold again, shown first in a `diff --base`
//! review (a broken promise outweighs every other change).
//!
//! An expectation is matched by name between the two sides. It is
//! *broken by the change* when the new side breaks it and the old side
//! kept it (or did not have it); it *holds again* when the old side broke
//! it and the new side keeps it. Each side is checked exactly with
//! [`crate::analysis::expect`], on the review's date.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Serialize;

use crate::analysis::expect::{Promise, check_all, promises, violation_help};
use crate::analysis::sweep::Sweep;
use crate::ir::Ir;
use crate::model::Policy;

/// One expectation whose status the change flips.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Flip {
    pub expectation: String,
    /// `never`, `always` or `only`.
    pub kind: &'static str,
    /// For a broken one: the rules, the box and a packet (from the side
    /// that breaks it).
    pub detail: String,
}

/// The expectations the change breaks, and those that hold again.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ExpectDiff {
    pub broken: Vec<Flip>,
    pub now_held: Vec<Flip>,
}

impl ExpectDiff {
    pub fn is_empty(&self) -> bool {
        self.broken.is_empty() && self.now_held.is_empty()
    }
}

/// Name → (kind, how it is broken) for the broken promises of one side,
/// and the names of all its active promises.
fn status(policy: &Policy, ir: &Ir, date: Date) -> (BTreeMap<String, Flip>, Vec<String>) {
    let (promises, _) = promises(policy, date);
    let names = promises.iter().map(|p| p.name.clone()).collect();
    let sweep = Sweep::run(ir);
    let broken = check_all(ir, &sweep, &promises)
        .into_iter()
        .map(|v| {
            let p: &Promise = &promises[v.promise];
            (
                p.name.clone(),
                Flip {
                    expectation: p.name.clone(),
                    kind: p.kind.as_str(),
                    detail: violation_help(ir, &v),
                },
            )
        })
        .collect();
    (broken, names)
}

/// Compares the expectations of both sides (`old` is `None` for a policy
/// new on the branch).
pub fn expect_diff(old: Option<(&Policy, &Ir)>, new: (&Policy, &Ir), date: Date) -> ExpectDiff {
    let (old_broken, _) = old.map(|(p, ir)| status(p, ir, date)).unwrap_or_default();
    let (new_broken, new_names) = status(new.0, new.1, date);
    let broken = new_broken
        .iter()
        .filter(|(name, _)| !old_broken.contains_key(*name))
        .map(|(_, f)| f.clone())
        .collect();
    let now_held = old_broken
        .into_iter()
        .filter(|(name, _)| new_names.contains(name) && !new_broken.contains_key(name))
        .map(|(_, mut f)| {
            f.detail = String::new();
            f
        })
        .collect();
    ExpectDiff { broken, now_held }
}

/// The text section (empty when nothing flips).
pub fn to_text(d: &ExpectDiff) -> String {
    let mut out = String::new();
    if d.is_empty() {
        return out;
    }
    out.push_str(&format!(
        "expectations: {} broken by this change, {} hold again\n",
        d.broken.len(),
        d.now_held.len()
    ));
    for f in &d.broken {
        out.push_str(&format!(
            "  BROKEN  `{}` ({}): {}\n",
            f.expectation, f.kind, f.detail
        ));
    }
    for f in &d.now_held {
        out.push_str(&format!("  holds   `{}` ({})\n", f.expectation, f.kind));
    }
    out
}

/// The Markdown section (empty when nothing flips).
pub fn to_markdown(d: &ExpectDiff) -> String {
    let mut out = String::new();
    if d.is_empty() {
        return out;
    }
    out.push_str("### Expectations\n\n");
    for f in &d.broken {
        out.push_str(&format!(
            "- :x: **broken by this change**: `{}` ({}): {}\n",
            f.expectation,
            f.kind,
            // Names, addresses and services only: nothing Markdown reads.
            f.detail
        ));
    }
    for f in &d.now_held {
        out.push_str(&format!(
            "- :white_check_mark: holds again: `{}` ({})\n",
            f.expectation, f.kind
        ));
    }
    out.push('\n');
    out
}
