//! Stage 4, analysis: what the policy does, computed exactly.
//!
//! - [`space`]: an exact algebra of traffic spaces (sets of packets as
//!   unions of disjoint boxes), reusable by any stage that needs set
//!   arithmetic over (family × source × destination × service);
//! - [`index`]: which of many spaces can meet a box, without testing each;
//! - [`sweep`]: the first-match sweep, and shadowed / redundant /
//!   conflicting rules found from it;
//! - [`lints`]: medical-device lints over the model and the sweep;
//! - [`explain`]: the decision path of one packet;
//! - [`expect`]: the policy's expectations (`never`, `always`, `only`),
//!   checked exactly; a broken one is an error;
//! - [`selection`]: which lints are reported and how severely (`check
//!   --select/--ignore/--severity`, the project file's `[lint]`).
//!
//! - [`ack`]: the policy's acknowledgements (`accept`) matched to the
//!   findings of every stage; an acknowledged warning is reported as such.
//!
//! [`analyze`] turns all findings into warnings with stable codes (see
//! [`CODES`]); `check` reports them and `--deny-warnings` fails on them,
//! unless the policy acknowledges them.

pub(crate) mod ack;
pub mod expect;
pub mod explain;
pub(crate) mod index;
pub(crate) mod lints;
pub mod selection;
pub mod space;
pub mod sweep;

use std::collections::BTreeMap;

use crate::diagnostics::{Diagnostic, Span};
use crate::ir::{Ir, Packet, Rule, RuleOrigin};
use crate::model::{ModelRuleKind, Policy};

use sweep::{RuleFinding, Sweep};

/// Every finding code of the analysis stage: (code, short description, help).
pub const CODES: &[(&str, &str, &str)] = &[
    (
        "shadowed-rule",
        "A rule can never match: earlier rules decide all of its traffic",
        "Remove the rule, or move it above the rules that hide it. The union of several earlier rules can shadow a rule that none of them covers alone.",
    ),
    (
        "redundant-rule",
        "Removing the rule changes no verdict",
        "Every packet the rule decides gets the same action and logging from the rules after it (or the default rule). Remove it, or keep it deliberately as a guard against future allows.",
    ),
    (
        "rule-conflict",
        "An earlier allow hides part of a later deny",
        "Packets the deny/reject was written for are allowed first. Narrow the allow, or move the deny above it (or make it an exception of the deny if the allow is intended).",
    ),
    (
        "clinical-internet-egress",
        "A clinical device class can reach the internet",
        "Medical devices should not talk to the internet. If a vendor endpoint is required, scope it to one host and service and give the rule an owner, a ticket and an expiry.",
    ),
    (
        "advisory-block-missing",
        "Traffic between an affected device class and an advisory's networks is allowed",
        "Add `block-advisory \"<advisory>\"` to the rules: it denies both directions, every protocol, ahead of every other rule.",
    ),
    (
        "advisory-block-not-absolute",
        "An advisory's networks are blocked for an affected class only by ordinary rules or the default",
        "Use `block-advisory \"<advisory>\"` (absolute, both directions): an ordinary deny or the default can be overridden by a rule added later.",
    ),
    (
        "any-service-to-clinical",
        "An allow of service `any` to a clinical device class",
        "Name the services the device needs (its manufacturer's MDS2 form lists them) instead of `any`.",
    ),
    (
        "vendor-access-no-expiry",
        "A vendor-access rule has no expiry",
        "Vendor access should be time-boxed: add `expires \"YYYY-MM-DD\"` with the end of the support window, and an owner and ticket.",
    ),
    (
        "rule-no-description",
        "A rule has no description",
        "Add `description \"...\"` saying why the rule exists, so reviewers and auditors can judge it.",
    ),
    (
        "expectation-violated",
        "The rules break an expectation of the policy",
        "An `expect` block promises what the rules never, always or only allow, and some traffic breaks the promise: the message names the rules that decide it, the smallest box holding it and one packet of it. Change the rules, or the expectation if the promise itself was wrong.",
    ),
    (
        "expectation-expired",
        "An expectation is past its expiry date and no longer checked",
        "Renew `expires` if the promise still holds, or remove the expectation.",
    ),
    (
        "expectation-violated-on-target",
        "A rendered file or a device breaks an expectation",
        "What the target really does (read back from the rendered file, or from the device's own export in `drift`) breaks a promise of the policy: a hand edit, drift or a renderer bug. The message names the file and the entry that decides the traffic.",
    ),
    (
        "acknowledgement-unused",
        "An acknowledgement (`accept`) matches no finding",
        "The finding it was written for is gone, or the `accept` is not inside the rule, exception, expectation or class the finding points at. Remove it, or move it there.",
    ),
    (
        "acknowledgement-expired",
        "An acknowledgement (`accept`) is past its expiry date",
        "The findings it acknowledged are warnings again. Review them: fix them, or renew `expires` with a new reason and ticket.",
    ),
    (
        "deny-not-logged",
        "A deny or reject rule has logging turned off",
        "Denied traffic from or to medical devices is evidence in an incident: remove `log #false`.",
    ),
];

/// The short description and help of a finding code, if it is an analysis code.
pub fn code_info(code: &str) -> Option<(&'static str, &'static str)> {
    CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|&(_, short, help)| (short, help))
}

/// Runs every analysis on a policy that compiled without errors.
pub fn analyze(policy: &Policy, ir: &Ir) -> Vec<Diagnostic> {
    let sweep = Sweep::run(ir);
    let names = RuleNames::new(policy);
    let mut out = Vec::new();
    for f in sweep::rule_findings(ir, &sweep) {
        out.push(rule_finding_diagnostic(ir, &names, &f));
    }
    out.extend(lints::lints(policy, ir, &sweep, &names));
    out
}

/// Where each rule's name is written, for labels (the IR only has the span
/// of the whole rule node).
pub(crate) struct RuleNames {
    spans: BTreeMap<String, Span>,
}

impl RuleNames {
    pub(crate) fn new(policy: &Policy) -> Self {
        let mut spans = BTreeMap::new();
        for r in &policy.rules {
            match r.kind {
                ModelRuleKind::BlockAdvisory { .. } => {
                    spans.insert(format!("{}.out", r.name), r.name_span);
                    spans.insert(format!("{}.in", r.name), r.name_span);
                }
                _ => {
                    spans.insert(r.name.clone(), r.name_span);
                }
            }
            for ex in &r.exceptions {
                spans.insert(ex.name.clone(), ex.name_span);
            }
        }
        Self { spans }
    }

    /// The span of a lowered rule's name, else of the whole rule.
    pub(crate) fn span(&self, rule: &Rule) -> Span {
        self.spans.get(&rule.name).copied().unwrap_or(rule.span)
    }
}

/// `allow`, `deny, logged`, ...
pub(crate) fn verdict_text(action: crate::ir::Action, log: bool) -> String {
    format!("{action}{}", if log { ", logged" } else { ", not logged" })
}

pub(crate) fn kind_of(rule: &Rule) -> &'static str {
    match rule.origin {
        RuleOrigin::Rule => "rule",
        RuleOrigin::Exception { .. } => "exception",
        RuleOrigin::AdvisoryBlock { .. } => "advisory block",
    }
}

fn names(ir: &Ir, rules: &[usize]) -> String {
    let v: Vec<String> = rules
        .iter()
        .map(|&j| format!("`{}`", ir.rules[j].name))
        .collect();
    match v.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// `allowed by `x``, `denied and logged by `default``, ...
pub(crate) fn decided_by(ir: &Ir, packet: &Packet) -> String {
    let v = ir.evaluate(packet);
    format!(
        "{}{} by `{}`",
        past_tense(v.action),
        if v.log { " and logged" } else { "" },
        ir.verdict_rule_name(&v)
    )
}

fn past_tense(a: crate::ir::Action) -> &'static str {
    match a {
        crate::ir::Action::Allow => "allowed",
        crate::ir::Action::Deny => "denied",
        crate::ir::Action::Reject => "rejected",
    }
}

fn rule_finding_diagnostic(ir: &Ir, names_: &RuleNames, f: &RuleFinding) -> Diagnostic {
    match f {
        RuleFinding::Shadowed {
            rule,
            by,
            covered_by,
            sample,
        } => {
            let r = &ir.rules[*rule];
            let how = match (by.len(), covered_by) {
                (1, _) => format!("{} decides all of it first", names(ir, by)),
                (n, Some(c)) => format!(
                    "{n} earlier rules ({}) decide all of it first, and `{}` alone covers it",
                    names(ir, by),
                    ir.rules[*c].name
                ),
                (n, None) => format!(
                    "the union of {n} earlier rules ({}) decides all of it first, though none covers it alone",
                    names(ir, by)
                ),
            };
            let mut d = Diagnostic::warning(
                "shadowed-rule",
                format!("{} `{}` can never match: {how}", kind_of(r), r.name),
            )
            .at(names_.span(r), "never decides any packet");
            for &j in by {
                d = d.also(
                    names_.span(&ir.rules[j]),
                    format!("decides part of `{}`'s traffic", r.name),
                );
            }
            d.help(format!(
                "e.g. {sample} is {}; remove the rule or move it above the rules that hide it",
                decided_by(ir, sample)
            ))
        }
        RuleFinding::Redundant {
            rule,
            takers,
            sample,
        } => {
            let r = &ir.rules[*rule];
            let rules: Vec<usize> = takers.iter().flatten().copied().collect();
            let mut who = names(ir, &rules);
            if takers.contains(&None) {
                if who.is_empty() {
                    who = "the default rule".to_string();
                } else {
                    who.push_str(" and the default rule");
                }
            }
            let mut d = Diagnostic::warning(
                "redundant-rule",
                format!(
                    "{} `{}` is redundant: removing it changes no verdict",
                    kind_of(r),
                    r.name
                ),
            )
            .at(names_.span(r), "redundant");
            for &j in &rules {
                d = d.also(names_.span(&ir.rules[j]), "gives the same verdict");
            }
            d.help(format!(
                "every packet it decides (e.g. {sample}) would get the same verdict ({}) from {who}; remove it, or keep it as a deliberate guard",
                verdict_text(r.action, r.log)
            ))
        }
        RuleFinding::RestatesDefault { rule } => {
            let r = &ir.rules[*rule];
            Diagnostic::warning(
                "redundant-rule",
                format!(
                    "{} `{}` restates the default: it matches every packet with the default's verdict, so removing it changes no verdict",
                    kind_of(r),
                    r.name
                ),
            )
            .at(names_.span(r), "same as the default")
            .help(format!(
                "the policy's default already gives every packet no rule matches the verdict {}; remove the rule (or acknowledge it if the explicit catch-all is your convention)",
                verdict_text(r.action, r.log)
            ))
        }
        RuleFinding::Conflict {
            allow,
            deny,
            sample,
        } => {
            let (a, dn) = (&ir.rules[*allow], &ir.rules[*deny]);
            Diagnostic::warning(
                "rule-conflict",
                format!(
                    "{} `{}` allows part of the traffic that the later {} `{}` is meant to {}",
                    kind_of(a),
                    a.name,
                    kind_of(dn),
                    dn.name,
                    dn.action
                ),
            )
            .at(names_.span(dn), format!("partly hidden by `{}`", a.name))
            .also(names_.span(a), "allows it first")
            .help(format!(
                "e.g. {sample} matches both and is allowed; narrow the allow, move the {} above it, or make the allow an exception of it",
                dn.action
            ))
        }
    }
}
