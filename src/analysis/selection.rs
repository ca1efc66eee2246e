//! The lint selection: which warnings are reported and how severely.
//!
//! One mechanism for `check --select/--ignore/--severity` and the project
//! file's `[lint]` table, applied by every command to what it reports. Only
//! lints (warnings) can be selected: an error means the policy cannot be
//! built as written, and no setting may hide it or make it a warning.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostics::{Diagnostic, Severity};

/// The expiry warnings of the lowering stage, which are lints like the
/// analysis findings but not in [`super::CODES`].
const EXPIRY_LINTS: &[&str] = &["rule-expired", "rule-expires-soon"];

/// Codes in [`super::CODES`] that are always errors.
const ERRORS: &[&str] = &[super::expect::VIOLATED, "expectation-violated-on-target"];

/// Every code the selection can name: the warnings wardwall reports.
pub(crate) fn lint_codes() -> impl Iterator<Item = &'static str> {
    super::CODES
        .iter()
        .map(|c| c.0)
        .filter(|c| !ERRORS.contains(c))
        .chain(EXPIRY_LINTS.iter().copied())
}

/// `name` as a lint code, or why it is not one (with a suggestion).
pub fn lint_code(name: &str) -> Result<&'static str, String> {
    if let Some(code) = lint_codes().find(|c| *c == name) {
        return Ok(code);
    }
    if ERRORS.contains(&name) {
        return Err(format!(
            "`{name}` is an error, not a lint: errors cannot be selected, ignored or made warnings"
        ));
    }
    let hint = crate::diagnostics::did_you_mean(name, lint_codes())
        .map(|s| format!("; {s}"))
        .unwrap_or_default();
    Err(format!(
        "unknown lint code `{}`{hint} (lint codes: {})",
        crate::diagnostics::escape_unsafe(name),
        lint_codes().collect::<Vec<_>>().join(", ")
    ))
}

/// Which lints are reported, and at which severity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only these lints are reported; `None`: every lint.
    pub select: Option<BTreeSet<&'static str>>,
    /// Never reported, even when selected.
    pub ignore: BTreeSet<&'static str>,
    /// Lints reported at another severity than warning.
    pub severity: BTreeMap<&'static str, Severity>,
}

impl Selection {
    /// This selection with `later`'s on top, as command-line flags go on
    /// top of the project file: a `select` replaces the earlier one (ruff's
    /// `--select`), ignores add up, and a severity replaces the earlier
    /// one for its code.
    pub fn then(mut self, later: Selection) -> Selection {
        if later.select.is_some() {
            self.select = later.select;
        }
        self.ignore.extend(later.ignore);
        self.severity.extend(later.severity);
        self
    }

    /// Whether the lint `code` is reported.
    pub(crate) fn reports(&self, code: &str) -> bool {
        !self.ignore.contains(code) && self.select.as_ref().is_none_or(|s| s.contains(code))
    }

    /// Drops the lints that are not selected and gives the others their
    /// severity. Errors are kept as they are.
    pub fn apply(&self, diagnostics: &mut Vec<Diagnostic>) {
        if *self == Selection::default() {
            return;
        }
        let is_lint = |d: &Diagnostic| d.severity == Severity::Warning || self.raised(d.code);
        diagnostics.retain(|d| !is_lint(d) || self.reports(d.code));
        for d in diagnostics.iter_mut().filter(|d| !d.is_error()) {
            if let Some(&severity) = self.severity.get(d.code) {
                d.severity = severity;
            }
        }
    }

    /// Whether the selection made `code` an error (so a second `apply`
    /// still treats it as the lint it is).
    fn raised(&self, code: &str) -> bool {
        self.severity.get(code) == Some(&Severity::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warning(code: &'static str) -> Diagnostic {
        Diagnostic::warning(code, "w")
    }

    fn codes(ds: &[Diagnostic]) -> Vec<(&str, Severity)> {
        ds.iter().map(|d| (d.code, d.severity)).collect()
    }

    #[test]
    fn select_ignore_and_severity_act_on_lints_only() {
        let selection = Selection {
            select: Some(["redundant-rule", "rule-conflict"].into()),
            ignore: ["rule-conflict"].into(),
            severity: [("redundant-rule", Severity::Error)].into(),
        };
        let mut found = vec![
            warning("redundant-rule"),
            warning("rule-conflict"),
            warning("shadowed-rule"),
            Diagnostic::error("unknown-reference", "e"),
        ];
        selection.apply(&mut found);
        assert_eq!(
            codes(&found),
            [
                ("redundant-rule", Severity::Error),
                ("unknown-reference", Severity::Error)
            ]
        );
        let once = found.clone();
        selection.apply(&mut found);
        assert_eq!(found, once, "applying twice is applying once");
    }

    #[test]
    fn later_select_replaces_and_ignores_add_up() {
        let file = Selection {
            select: Some(["redundant-rule"].into()),
            ignore: ["shadowed-rule"].into(),
            severity: [("rule-conflict", Severity::Error)].into(),
        };
        let flags = Selection {
            select: Some(["rule-conflict"].into()),
            ignore: ["deny-not-logged"].into(),
            severity: [("rule-conflict", Severity::Warning)].into(),
        };
        let both = file.then(flags);
        assert_eq!(both.select, Some(["rule-conflict"].into()));
        assert_eq!(both.ignore, ["deny-not-logged", "shadowed-rule"].into());
        assert_eq!(both.severity["rule-conflict"], Severity::Warning);
    }

    #[test]
    fn codes_are_checked_with_a_suggestion() {
        assert_eq!(lint_code("rule-expired"), Ok("rule-expired"));
        let misspelt = lint_code("redundant-rules").unwrap_err();
        assert!(
            misspelt.contains("did you mean `redundant-rule`?"),
            "{misspelt}"
        );
        let error = lint_code("expectation-violated").unwrap_err();
        assert!(error.contains("is an error"), "{error}");
    }
}
