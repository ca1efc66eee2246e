//! Acknowledged findings: the policy's `accept` blocks matched to the
//! warnings found, once, after every stage has reported.
//!
//! An `accept "code"` written in a rule, exception, expectation or class
//! acknowledges the warnings of that code whose place lies in that
//! declaration (not in a nested one: a rule's `accept` does not cover its
//! exceptions). An acknowledged warning stays in the report, marked with
//! who accepted it and why, and no longer counts as a warning, so
//! `--deny-warnings` passes. Errors can never be acknowledged: a broken
//! expectation must be fixed, not accepted.
//!
//! An acknowledgement that acknowledges nothing (the finding is gone), or
//! whose `expires` is past, is itself a warning, so an acceptance cannot
//! silently outlive what it was written for.

use jiff::civil::Date;

use super::selection::Selection;
use crate::diagnostics::{Acknowledged, Diagnostic, Diagnostics, did_you_mean};
use crate::model::{Acknowledgement, Policy};

/// The codes of this module, in the registry ([`super::CODES`]).
pub(crate) const UNUSED: &str = "acknowledgement-unused";
pub(crate) const EXPIRED: &str = "acknowledgement-expired";

/// Warnings of the stages before analysis (the IR's expiry warnings).
const EARLIER_WARNINGS: &[&str] = &["rule-expired", "rule-expires-soon"];

/// Analysis codes that are errors: never acknowledgeable.
const ERRORS: &[&str] = &[super::expect::VIOLATED, "expectation-violated-on-target"];

/// Every code an `accept` may name: the warnings of the registry and of
/// the earlier stages, but not this module's own (an acknowledgement of
/// an unused acknowledgement is the same mistake twice).
pub(crate) fn acknowledgeable() -> impl Iterator<Item = &'static str> {
    super::CODES
        .iter()
        .map(|c| c.0)
        .filter(|c| !ERRORS.contains(c) && ![UNUSED, EXPIRED].contains(c))
        .chain(EARLIER_WARNINGS.iter().copied())
}

/// Which findings an acknowledgement is judged against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every finding of `check` (all stages, expectations and targets).
    All,
    /// Only the findings of [`super::analyze`] (what `diff --base`
    /// compares): an `accept` of another stage's code is left alone,
    /// neither applied nor reported unused.
    Analysis,
}

/// Matches the policy's acknowledgements to `diags` as of `date`: marks
/// each acknowledged warning, adds an error for each `accept` that names
/// no acknowledgeable code and a warning for each one that is expired or
/// matches nothing.
///
/// An `accept` of a lint `selection` does not report is left alone, as one
/// outside `scope` is: `check --select CODE` shows only CODE, and an
/// ignored lint's acknowledgements are not reported unused.
pub(crate) fn acknowledge(
    policy: &Policy,
    date: Date,
    scope: Scope,
    selection: &Selection,
    diags: &mut Diagnostics,
) {
    let mut found = Vec::new();
    for ack in &policy.acknowledgements {
        let code = ack.accept.code.value.as_str();
        if !acknowledgeable().any(|c| c == code) {
            found.push(refused(ack));
            continue;
        }
        if (scope == Scope::Analysis && !analysis_code(code)) || !selection.reports(code) {
            continue;
        }
        if let Some(until) = &ack.accept.expires
            && until.value < date
        {
            found.push(expired(ack, until.value, date));
            continue;
        }
        let mut matched = false;
        for d in diags.items.iter_mut().filter(|d| acknowledges(ack, d)) {
            d.acknowledged = Some(Box::new(Acknowledged {
                reason: ack.accept.reason.clone(),
                owner: ack.accept.owner.clone(),
                ticket: ack.accept.ticket.clone(),
                expires: ack.accept.expires.as_ref().map(|e| e.value),
                span: ack.accept.span,
            }));
            matched = true;
        }
        if !matched {
            found.push(unused(ack));
        }
    }
    if !found.is_empty() {
        diags.extend(found);
        diags.sort();
    }
}

/// Whether `code` is one [`super::analyze`] reports.
fn analysis_code(code: &str) -> bool {
    !EARLIER_WARNINGS.contains(&code) && code != super::expect::EXPIRED
}

fn acknowledges(ack: &Acknowledgement, d: &Diagnostic) -> bool {
    !d.is_error()
        && d.acknowledged.is_none()
        && d.code == ack.accept.code.value
        && d.primary.as_ref().is_some_and(|l| ack.covers(l.span))
}

/// An `accept` of an error, of this module's codes, or of no code at all.
fn refused(ack: &Acknowledgement) -> Diagnostic {
    let code = &ack.accept.code;
    let codes: Vec<&str> = acknowledgeable().collect();
    let (message, help) = if ERRORS.contains(&code.value.as_str()) {
        (
            format!("`{}` is an error and cannot be acknowledged", code.value),
            "an error is never accepted: a broken expectation is a promise the rules break, so change the rules, or the expectation if the promise itself was wrong".to_string(),
        )
    } else if [UNUSED, EXPIRED].contains(&code.value.as_str()) {
        (
            format!("`{}` cannot itself be acknowledged", code.value),
            "remove the `accept` that matches nothing, or renew the expired one's `expires`"
                .to_string(),
        )
    } else {
        let mean = did_you_mean(&code.value, codes.iter().copied())
            .map(|m| format!("{m} "))
            .unwrap_or_default();
        (
            format!("`{}` is not a warning code", code.value),
            format!(
                "{mean}warnings that can be acknowledged: {}",
                codes.join(", ")
            ),
        )
    };
    Diagnostic::error("not-acknowledgeable", message)
        .at(code.span, "not an acknowledgeable warning")
        .help(help)
}

fn expired(ack: &Acknowledgement, until: Date, date: Date) -> Diagnostic {
    Diagnostic::warning(
        EXPIRED,
        format!(
            "the acknowledgement of `{}` on {} expired on {until}: its findings are warnings again",
            ack.accept.code.value, ack.subject
        ),
    )
    .at(
        ack.accept
            .expires
            .as_ref()
            .map_or(ack.accept.span, |e| e.span),
        format!("expired (evaluated on {date})"),
    )
    .help("review the finding again: fix it, or renew `expires` with a new reason and ticket")
}

fn unused(ack: &Acknowledgement) -> Diagnostic {
    Diagnostic::warning(
        UNUSED,
        format!(
            "the acknowledgement of `{}` on {} matches no finding",
            ack.accept.code.value, ack.subject
        ),
    )
    .at(ack.accept.code.span, "acknowledges nothing")
    .help(format!(
        "{} has no `{}` finding (any more): remove the `accept`; an acknowledgement is written inside the rule, exception, expectation or class the finding points at",
        ack.subject, ack.accept.code.value
    ))
}
