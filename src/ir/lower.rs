//! Stage 3, lowering: the validated policy, on a given date, becomes the
//! ordered rule list every target renders.
//!
//! Order: absolute rules (advisory blocks and `absolute` denies) first, in
//! declaration order, so no allow can ever precede them; then the ordinary
//! rules in declaration order, each deny/reject preceded by its active
//! exceptions; the default rule (deny, logged) closes the list. A rule whose
//! expiry date has passed is left out, and so are its exceptions: an
//! exception without its block would allow traffic on its own.

use std::collections::BTreeMap;

use jiff::ToSpan;
use jiff::civil::Date;

use super::{
    Action, AddressObject, Direction, Endpoint, EndpointRef, Ir, Rule, RuleOrigin, Service,
    ServiceObject, Zone,
};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::model::{self, ModelRuleKind, NameSet, Policy};

/// Rules expiring within this many days get a warning.
pub(crate) const EXPIRY_WARNING_DAYS: i32 = 30;

/// Lowers `policy` as it stands on `date`. Expiry warnings go to `diags`.
pub(crate) fn lower(policy: &Policy, date: Date, diags: &mut Diagnostics) -> Ir {
    let mut lowering = Lowering {
        policy,
        date,
        diags,
        rules: Vec::with_capacity(policy.rules.len() + 2),
        objects: BTreeMap::new(),
        services: BTreeMap::new(),
        seen_objects: NameSet::default(),
        seen_services: NameSet::default(),
    };
    for rule in policy.rules.iter().filter(|r| r.absolute) {
        lowering.rule_with_exceptions(rule);
    }
    for rule in policy.rules.iter().filter(|r| !r.absolute) {
        lowering.rule_with_exceptions(rule);
    }
    let Lowering {
        rules,
        objects,
        services,
        ..
    } = lowering;
    Ir {
        name: policy.name.clone(),
        description: policy.description.clone(),
        targets: policy.targets.clone(),
        zones: policy
            .zones
            .iter()
            .map(|z| Zone {
                name: z.name.clone(),
                description: z.description.clone(),
                residual: z.residual,
                prefixes: z.prefixes.clone(),
                addrs: z.addrs.clone(),
                bindings: z.bindings.clone(),
                span: z.span,
            })
            .collect(),
        objects,
        services,
        rules,
        default_action: Action::Deny,
        default_log: true,
    }
}

struct Lowering<'a> {
    policy: &'a Policy,
    date: Date,
    diags: &'a mut Diagnostics,
    rules: Vec<Rule>,
    objects: BTreeMap<String, AddressObject>,
    services: BTreeMap<String, ServiceObject>,
    /// Names already looked up for `objects` and `services` (a hash lookup
    /// per reference instead of B-tree lookups among thousands of names).
    seen_objects: NameSet<&'a str>,
    seen_services: NameSet<&'a str>,
}

impl<'a> Lowering<'a> {
    fn rule_with_exceptions(&mut self, rule: &'a model::Rule) {
        if !self.active(rule) {
            return;
        }
        for ex in &rule.exceptions {
            if self.active(ex) {
                self.push(ex);
            }
        }
        self.push(rule);
    }

    /// Whether the rule applies on the evaluation date; warns about expired
    /// rules and rules about to expire.
    fn active(&mut self, rule: &model::Rule) -> bool {
        let Some(expires) = &rule.expires else {
            return true;
        };
        let what = match rule.kind {
            ModelRuleKind::Exception { .. } => "exception",
            _ => "rule",
        };
        if expires.value < self.date {
            self.diags.push(
                Diagnostic::warning(
                    "rule-expired",
                    format!(
                        "{what} `{}` expired on {} and is inactive",
                        rule.name, expires.value
                    ),
                )
                .at(
                    expires.span,
                    format!("expired (evaluated on {})", self.date),
                )
                .help("remove it, or extend `expires` if the grant was renewed"),
            );
            return false;
        }
        let soon = self.date.saturating_add(EXPIRY_WARNING_DAYS.days());
        if expires.value < soon {
            let days = (expires.value - self.date).get_days();
            self.diags.push(
                Diagnostic::warning(
                    "rule-expires-soon",
                    format!(
                        "{what} `{}` expires on {} ({} {} from {})",
                        rule.name,
                        expires.value,
                        days,
                        if days == 1 { "day" } else { "days" },
                        self.date
                    ),
                )
                .at(expires.span, "expires soon")
                .help("renew it or plan its removal; after this date it stops matching"),
            );
        }
        true
    }

    fn push(&mut self, rule: &'a model::Rule) {
        match &rule.kind {
            ModelRuleKind::BlockAdvisory { advisory } => {
                // Both directions, every protocol: traffic to the advisory's
                // networks, then traffic from them.
                for (suffix, direction, src, dst) in [
                    ("out", Direction::Outbound, &rule.src, &rule.dst),
                    ("in", Direction::Inbound, &rule.dst, &rule.src),
                ] {
                    let lowered = Rule {
                        name: format!("{}.{suffix}", rule.name),
                        origin: RuleOrigin::AdvisoryBlock {
                            advisory: advisory.clone(),
                            direction,
                        },
                        src: self.endpoint(src),
                        dst: self.endpoint(dst),
                        ..self.base(rule)
                    };
                    self.rules.push(lowered);
                }
            }
            ModelRuleKind::Exception { parent } => {
                let lowered = Rule {
                    origin: RuleOrigin::Exception {
                        parent: parent.clone(),
                    },
                    ..self.plain(rule)
                };
                self.rules.push(lowered);
            }
            ModelRuleKind::Plain => {
                let lowered = self.plain(rule);
                self.rules.push(lowered);
            }
        }
    }

    fn plain(&mut self, rule: &'a model::Rule) -> Rule {
        Rule {
            src: self.endpoint(&rule.src),
            dst: self.endpoint(&rule.dst),
            ..self.base(rule)
        }
    }

    /// Everything but the endpoints and origin.
    fn base(&mut self, rule: &'a model::Rule) -> Rule {
        let service = self.service(&rule.service);
        Rule {
            name: rule.name.clone(),
            origin: RuleOrigin::Rule,
            action: rule.action,
            absolute: rule.absolute,
            src: Endpoint {
                refs: Vec::new(),
                addrs: Default::default(),
            },
            dst: Endpoint {
                refs: Vec::new(),
                addrs: Default::default(),
            },
            service,
            log: rule.log,
            description: rule.description.clone(),
            owner: rule.owner.clone(),
            ticket: rule.ticket.clone(),
            expires: rule.expires.as_ref().map(|d| d.value.to_string()),
            span: rule.span,
        }
    }

    fn endpoint(&mut self, ep: &'a model::Endpoint) -> Endpoint {
        let refs = ep
            .refs
            .iter()
            .map(|r| match r {
                EndpointRef::Any => EndpointRef::Any,
                EndpointRef::Literal(lit) => EndpointRef::Literal(lit.clone()),
                EndpointRef::Object(name) => {
                    if self.seen_objects.insert(name) {
                        let o = &self.policy.objects[name];
                        self.objects.insert(
                            name.clone(),
                            AddressObject {
                                name: name.clone(),
                                kind: o.kind,
                                description: o.description.clone(),
                                addrs: o.addrs.clone(),
                            },
                        );
                    }
                    EndpointRef::Object(name.clone())
                }
            })
            .collect();
        Endpoint {
            refs,
            addrs: ep.addrs.clone(),
        }
    }

    fn service(&mut self, svc: &'a model::RuleService) -> Service {
        for name in &svc.refs {
            if !self.seen_services.insert(name) {
                continue;
            }
            if let Some(s) = self.policy.services.get(name) {
                self.services.insert(
                    name.clone(),
                    ServiceObject {
                        name: name.clone(),
                        description: s.description.clone(),
                        set: s.set.clone(),
                    },
                );
            }
        }
        Service {
            refs: svc.refs.clone(),
            set: svc.set.clone(),
        }
    }
}
