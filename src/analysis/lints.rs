//! Medical-device lints.
//!
//! Definitions (also in `docs/analysis.md`):
//! - a **clinical device class** is a class with `clinical #true`, or a
//!   member (directly or through nested groups) of a group with
//!   `clinical #true` ([`crate::model::Object::clinical`]);
//! - the **internet** is the residual zone, or, in a policy without one,
//!   every address no zone holds;
//! - a **vendor-access rule** is an allow whose source, or whose
//!   destination, lies entirely inside zones marked `vendor #true`.
//!
//! Traffic lints are computed on what each rule *decides* (from the
//! first-match sweep), so a rule hidden by an absolute block is not blamed
//! for traffic it never allows.

use crate::addrset::AddrSet;
use crate::diagnostics::Diagnostic;
use crate::ir::{Action, Ir, ObjectKind};
use crate::model::{self, Policy};

use super::space::Space;
use super::sweep::Sweep;
use super::{RuleNames, decided_by, verdict_text};

pub(crate) fn lints(policy: &Policy, ir: &Ir, sweep: &Sweep, names: &RuleNames) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let clinical: Vec<&model::Object> = policy
        .objects
        .values()
        .filter(|o| o.kind == ObjectKind::Class && o.clinical)
        .collect();
    let internet = internet(policy);
    clinical_egress(ir, sweep, names, &clinical, &internet, &mut out);
    any_to_clinical(ir, sweep, names, &clinical, &mut out);
    advisories(policy, ir, sweep, &mut out);
    rule_hygiene(policy, &mut out);
    out
}

fn internet(policy: &Policy) -> AddrSet {
    match policy.zones.iter().find(|z| z.residual) {
        Some(z) => z.addrs.clone(),
        None => AddrSet::union_all(policy.zones.iter().map(|z| &z.addrs)).complement(),
    }
}

fn clinical_egress(
    ir: &Ir,
    sweep: &Sweep,
    names: &RuleNames,
    clinical: &[&model::Object],
    internet: &AddrSet,
    out: &mut Vec<Diagnostic>,
) {
    let per_class: Vec<Space> = clinical
        .iter()
        .map(|c| Space::between(&c.addrs, internet))
        .collect();
    let all = Space::between(
        &AddrSet::union_all(clinical.iter().map(|c| &c.addrs)),
        internet,
    );
    for (i, rule) in ir.rules.iter().enumerate() {
        if rule.action != Action::Allow || !sweep.decided(i).overlaps(&all) {
            continue;
        }
        let mut hit: Vec<(&model::Object, Space)> = Vec::new();
        for (c, space) in clinical.iter().zip(&per_class) {
            let s = sweep.decided(i).intersection(space);
            if !s.is_empty() {
                hit.push((c, s));
            }
        }
        let Some((_, first)) = hit.first() else {
            continue;
        };
        let sample = first.sample().expect("non-empty");
        let classes: Vec<String> = hit.iter().map(|(c, _)| format!("`{}`", c.name)).collect();
        let mut d = Diagnostic::warning(
            "clinical-internet-egress",
            format!(
                "{} `{}` lets clinical device class {} reach the internet",
                super::kind_of(rule),
                rule.name,
                classes.join(", ")
            ),
        )
        .at(
            names.span(rule),
            "allows clinical devices out to the internet",
        );
        for (c, _) in &hit {
            d = d.also(c.span, "clinical device class");
        }
        out.push(d.help(format!(
            "e.g. {sample} is {}; if a vendor endpoint is required, keep it to one host and service, with an owner, a ticket and an expiry",
            decided_by(ir, &sample)
        )));
    }
}

fn any_to_clinical(
    ir: &Ir,
    sweep: &Sweep,
    names: &RuleNames,
    clinical: &[&model::Object],
    out: &mut Vec<Diagnostic>,
) {
    let per_class: Vec<Space> = clinical
        .iter()
        .map(|c| Space::between(&AddrSet::any(), &c.addrs))
        .collect();
    for (i, rule) in ir.rules.iter().enumerate() {
        if rule.action != Action::Allow || !rule.service.set.any {
            continue;
        }
        let hit: Vec<&&model::Object> = clinical
            .iter()
            .zip(&per_class)
            .filter(|(_, space)| sweep.decided(i).overlaps(space))
            .map(|(c, _)| c)
            .collect();
        if hit.is_empty() {
            continue;
        }
        let classes: Vec<String> = hit.iter().map(|c| format!("`{}`", c.name)).collect();
        let mut d = Diagnostic::warning(
            "any-service-to-clinical",
            format!(
                "{} `{}` allows every service to clinical device class {}",
                super::kind_of(rule),
                rule.name,
                classes.join(", ")
            ),
        )
        .at(names.span(rule), "service `any` to clinical devices");
        for c in hit {
            d = d.also(c.span, "clinical device class");
        }
        out.push(d.help(
            "name the services the device needs (its manufacturer's MDS2 form lists them) instead of `any`",
        ));
    }
}

/// For each advisory and each class it concerns: traffic between the class
/// and the advisory's networks, both ways, every protocol, must be decided
/// by absolute deny/reject rules.
fn advisories(policy: &Policy, ir: &Ir, sweep: &Sweep, out: &mut Vec<Diagnostic>) {
    for adv in policy
        .objects
        .values()
        .filter(|o| o.kind == ObjectKind::Advisory)
    {
        for class_name in &adv.concerns {
            let Some(class) = policy.objects.get(class_name) else {
                continue;
            };
            let both = Space::between(&class.addrs, &adv.addrs)
                .union(&Space::between(&adv.addrs, &class.addrs));
            if both.is_empty() {
                continue;
            }
            let allowed = ir
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.action == Action::Allow)
                .map(|(i, _)| both.intersection(sweep.decided(i)))
                .find(|s| !s.is_empty());
            if let Some(allowed) = allowed {
                let sample = allowed.sample().expect("non-empty");
                out.push(
                    Diagnostic::warning(
                        "advisory-block-missing",
                        format!(
                            "class `{}` is affected by advisory `{}`, but traffic between them is allowed",
                            class.name, adv.name
                        ),
                    )
                    .at(class.span, "affected device class")
                    .also(adv.span, "advisory")
                    .help(format!(
                        "e.g. {sample} is {}; add `block-advisory \"{}\"` to the rules",
                        decided_by(ir, &sample),
                        adv.name
                    )),
                );
                continue;
            }
            let mut not_absolute = both.clone();
            for (i, r) in ir.rules.iter().enumerate() {
                if r.absolute && r.action != Action::Allow {
                    not_absolute = not_absolute.difference(sweep.decided(i));
                }
            }
            if let Some(sample) = not_absolute.sample() {
                out.push(
                    Diagnostic::warning(
                        "advisory-block-not-absolute",
                        format!(
                            "class `{}` is affected by advisory `{}`, but not every packet between them is blocked by an absolute rule",
                            class.name, adv.name
                        ),
                    )
                    .at(class.span, "affected device class")
                    .also(adv.span, "advisory")
                    .help(format!(
                        "e.g. {sample} is {}, which a rule added later could override; use `block-advisory \"{}\"` (absolute, both directions)",
                        decided_by(ir, &sample),
                        adv.name
                    )),
                );
            }
        }
    }
}

/// Lints on how rules are written: descriptions, logging, vendor expiry.
fn rule_hygiene(policy: &Policy, out: &mut Vec<Diagnostic>) {
    let vendor = AddrSet::union_all(policy.zones.iter().filter(|z| z.vendor).map(|z| &z.addrs));
    let all = policy
        .rules
        .iter()
        .flat_map(|r| std::iter::once(r).chain(r.exceptions.iter()));
    for r in all {
        let what = match r.kind {
            model::ModelRuleKind::Exception { .. } => "exception",
            model::ModelRuleKind::BlockAdvisory { .. } => "advisory block",
            model::ModelRuleKind::Plain => "rule",
        };
        if r.description.is_none() {
            out.push(
                Diagnostic::warning(
                    "rule-no-description",
                    format!("{what} `{}` has no description", r.name),
                )
                .at(r.name_span, "no `description`")
                .help("add `description \"...\"` saying why the rule exists"),
            );
        }
        if r.action != Action::Allow && !r.log {
            out.push(
                Diagnostic::warning(
                    "deny-not-logged",
                    format!(
                        "{what} `{}` {} without logging",
                        r.name,
                        if r.action == Action::Reject {
                            "rejects"
                        } else {
                            "denies"
                        }
                    ),
                )
                .at(r.name_span, verdict_text(r.action, r.log))
                .help("denied traffic is evidence in an incident: remove `log #false`"),
            );
        }
        let inside = |a: &AddrSet| !a.is_empty() && !vendor.is_empty() && a.is_subset(&vendor);
        if r.action == Action::Allow
            && r.expires.is_none()
            && (inside(&r.src.addrs) || inside(&r.dst.addrs))
        {
            out.push(
                Diagnostic::warning(
                    "vendor-access-no-expiry",
                    format!("vendor-access {what} `{}` has no expiry", r.name),
                )
                .at(r.name_span, "vendor access without `expires`")
                .help("time-box vendor access: add `expires \"YYYY-MM-DD\"` with the end of the support window"),
            );
        }
    }
}
