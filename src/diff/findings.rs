//! The `check` findings (analysis warnings) a policy change introduces and
//! the ones it resolves.
//!
//! Findings are compared by code and message, never by span: an unrelated
//! edit above a finding moves its span but is not a new finding. Messages
//! name the rules involved, so a finding about other rules is another
//! finding. Equal findings are counted (a multiset difference), so a second
//! copy of the same finding is new.
//!
//! Each side's acknowledgements (`accept`) are applied as `check` applies
//! them, and whether a finding is acknowledged is part of it: a change
//! that acknowledges a warning shows the warning resolved and the
//! acknowledged finding new, so a reviewer sees every acceptance; an
//! `accept` that matches nothing is a new warning of its own.

use std::collections::BTreeMap;

use serde::Serialize;

use jiff::civil::Date;

use crate::analysis::ack::Scope;
use crate::analysis::selection::Selection;
use crate::diagnostics::{Diagnostic, Diagnostics, Severity};
use crate::ir::Ir;
use crate::model::Policy;

/// One finding as a reviewer sees it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// The diagnostic's stable code (`shadowed-rule`, ...).
    pub code: &'static str,
    pub message: String,
    /// A warning the policy acknowledges.
    pub acknowledged: bool,
}

/// Findings only the new policy has, and findings only the old one had;
/// each sorted by (severity, code, message), errors first.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FindingDiff {
    pub new: Vec<Finding>,
    pub resolved: Vec<Finding>,
}

impl FindingDiff {
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.resolved.is_empty()
    }
}

/// The analysis findings of a policy (what `check` adds to the errors) as
/// the lint selection has them, with its acknowledgements applied as of
/// `date` (in the order `check` applies them).
pub fn findings_of(policy: &Policy, ir: &Ir, date: Date, lint: &Selection) -> Vec<Diagnostic> {
    let mut found = Diagnostics {
        items: crate::analysis::analyze(policy, ir),
    };
    lint.apply(&mut found.items);
    crate::analysis::ack::acknowledge(policy, date, Scope::Analysis, lint, &mut found);
    lint.apply(&mut found.items);
    found.items
}

/// The findings in `new` and not in `old`, and the other way round.
pub fn finding_diff(old: &[Diagnostic], new: &[Diagnostic]) -> FindingDiff {
    let count = |ds: &[Diagnostic]| {
        let mut by: BTreeMap<Finding, usize> = BTreeMap::new();
        for d in ds {
            let f = Finding {
                severity: d.severity,
                code: d.code,
                message: d.message.clone(),
                acknowledged: d.is_acknowledged(),
            };
            *by.entry(f).or_default() += 1;
        }
        by
    };
    let (o, n) = (count(old), count(new));
    let minus = |a: &BTreeMap<Finding, usize>, b: &BTreeMap<Finding, usize>| {
        let mut out = Vec::new();
        for (f, &k) in a {
            let extra = k.saturating_sub(b.get(f).copied().unwrap_or(0));
            out.extend(std::iter::repeat_n(f.clone(), extra));
        }
        // Errors first (Severity orders warnings first), then code,
        // message, and warnings before acknowledged ones.
        out.sort_by(|x, y| {
            y.severity
                .cmp(&x.severity)
                .then(x.code.cmp(y.code))
                .then(x.message.cmp(&y.message))
                .then(x.acknowledged.cmp(&y.acknowledged))
        });
        out
    };
    FindingDiff {
        new: minus(&n, &o),
        resolved: minus(&o, &n),
    }
}

impl Finding {
    /// `warning shadowed-rule: rule `x` can never match: ...`.
    pub fn line(&self) -> String {
        let severity = match (self.severity, self.acknowledged) {
            (Severity::Warning, false) => "warning",
            (Severity::Warning, true) => "acknowledged",
            (Severity::Error, _) => "error",
        };
        format!("{severity} {}: {}", self.code, self.message)
    }
}

/// `findings: 1 new, 0 resolved` and one line each (`+` new, `-` resolved).
pub fn to_text(diff: &FindingDiff) -> String {
    let mut out = format!(
        "findings: {} new, {} resolved\n",
        diff.new.len(),
        diff.resolved.len()
    );
    for (sign, list) in [('+', &diff.new), ('-', &diff.resolved)] {
        for f in list {
            out.push_str(&format!("{sign} {}\n", f.line()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compared_by_code_and_message_not_span_and_counted() {
        let span = |offset| crate::diagnostics::Span {
            offset,
            ..Default::default()
        };
        let a = Diagnostic::warning("shadowed-rule", "rule `x` can never match").at(span(1), "");
        let moved =
            Diagnostic::warning("shadowed-rule", "rule `x` can never match").at(span(90), "");
        let b = Diagnostic::warning("redundant-rule", "rule `y` is redundant");
        let d = finding_diff(&[a.clone(), b.clone()], &[moved.clone(), moved]);
        assert_eq!(d.new.len(), 1, "the second copy is new");
        assert_eq!(d.new[0].code, "shadowed-rule");
        assert_eq!(d.resolved.len(), 1);
        assert_eq!(d.resolved[0].code, "redundant-rule");
        let same = std::slice::from_ref(&a);
        assert!(finding_diff(same, same).is_empty());
    }

    #[test]
    fn acknowledging_a_warning_resolves_it_and_adds_the_acknowledged_finding() {
        let warning = Diagnostic::warning("redundant-rule", "rule `y` is redundant");
        let mut acked = warning.clone();
        acked.acknowledged = Some(Box::new(crate::diagnostics::Acknowledged {
            reason: "guard".into(),
            owner: "net".into(),
            ticket: None,
            expires: None,
            span: Default::default(),
        }));
        let d = finding_diff(std::slice::from_ref(&warning), std::slice::from_ref(&acked));
        assert_eq!(d.resolved.len(), 1);
        assert!(!d.resolved[0].acknowledged);
        assert_eq!(d.new.len(), 1);
        assert!(d.new[0].acknowledged);
        assert_eq!(
            to_text(&d),
            "findings: 1 new, 1 resolved\n+ acknowledged redundant-rule: rule `y` is redundant\n- warning redundant-rule: rule `y` is redundant\n"
        );
    }

    #[test]
    fn findings_of_judges_only_the_analysis_codes() {
        // The hospital policy acknowledges two analysis findings and three
        // of other stages (rule expiry): only the first two are judged, and
        // none of the others is reported unused.
        let date = "2026-11-25".parse().unwrap();
        let c = crate::compile(std::path::Path::new(crate::DEFAULT_POLICY), date).unwrap();
        let found = findings_of(
            c.policy.as_ref().unwrap(),
            c.ir.as_ref().unwrap(),
            date,
            &Selection::default(),
        );
        let codes: Vec<(&str, bool)> = found
            .iter()
            .map(|d| (d.code, d.is_acknowledged()))
            .collect();
        assert_eq!(
            codes,
            [("redundant-rule", true), ("clinical-internet-egress", true)]
        );
    }
}
