//! Placement: which of a target's zone bindings (an interface, a firewall
//! zone) receives which part of a rule's addresses, decided once for every
//! target.
//!
//! A zone reaches a target through its binding (`interface TARGET="..."`).
//! Zones bound to the same name are one binding: the target cannot tell
//! them apart, so their addresses are united. Traffic whose addresses lie in
//! a zone without a binding (or in no zone) never crosses that target, so:
//!
//! - a **deny** of it holds vacuously (nothing allows it either), and the
//!   unplaced part is simply left out;
//! - an **allow** of it, or a **reject** (which must answer actively),
//!   cannot be honoured: its sources must all be placed; an allow's
//!   destinations too where the target checks replies where they arrive
//!   ([`Reach::Replies`]); and every destination where rules name the zone
//!   a flow leaves by ([`Reach::ZonePairs`]).
//!
//! That rule and its one diagnostic (`unplaced`) are the same on every
//! target; a target adds only what its syntax needs (valid interface or zone
//! names, one ACL per interface, ...). Only the rule's effective addresses
//! count: the families it can match ([`Rule::families`]).

use crate::addrset::AddrSet;
use crate::diagnostics::Diagnostic;
use crate::ir::{Action, Ir, Rule, Zone};
use crate::vocab::Target;

/// One binding on a target: the zones bound to one name.
#[derive(Debug)]
pub(crate) struct Binding<'ir> {
    /// The binding as written: an interface or zone name on the target.
    pub name: &'ir str,
    /// In declaration order.
    pub zones: Vec<&'ir Zone>,
    /// The union of the zones' addresses.
    pub addrs: AddrSet,
}

/// Every binding of one target, and where each zone is bound.
#[derive(Debug)]
pub(crate) struct Placement<'ir> {
    target: Target,
    reach: Reach,
    ir: &'ir Ir,
    /// In the order of each binding's first declared zone.
    bindings: Vec<Binding<'ir>>,
    /// Per zone of [`Ir::zones`], the index of its binding.
    binding_of_zone: Vec<Option<usize>>,
    /// Every address some binding receives: a rule side inside it needs no
    /// per-zone split to be found placed.
    bound: AddrSet,
}

/// Which sides of a rule a target must place: the one thing about
/// placement a target decides, from how it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Rules match where a flow enters; replies pass by connection state
    /// wherever they arrive: sources only.
    Ingress,
    /// Replies are checked where they arrive too (stateless return entries,
    /// an ingress anti-spoofing guard): an allow's destinations as well.
    Replies,
    /// Rules name the zone a flow enters by and the zone it leaves by: the
    /// destinations of allows and rejects as well.
    ZonePairs,
}

/// A rule side, as the `unplaced` diagnostic names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Sources,
    Destinations,
}

impl<'ir> Placement<'ir> {
    /// The bindings of `target` in `ir`; `reach` says which sides of a
    /// rule the target must place.
    pub(crate) fn new(ir: &'ir Ir, target: Target, reach: Reach) -> Self {
        let mut bindings: Vec<Binding<'ir>> = Vec::new();
        let mut binding_of_zone = Vec::with_capacity(ir.zones.len());
        for zone in &ir.zones {
            let Some(name) = zone.bindings.get(target.name()) else {
                binding_of_zone.push(None);
                continue;
            };
            let at = match bindings.iter().position(|b| b.name == name.as_str()) {
                Some(at) => {
                    let b = &mut bindings[at];
                    b.zones.push(zone);
                    b.addrs = b.addrs.union(&zone.addrs);
                    at
                }
                None => {
                    bindings.push(Binding {
                        name,
                        zones: vec![zone],
                        addrs: zone.addrs.clone(),
                    });
                    bindings.len() - 1
                }
            };
            binding_of_zone.push(Some(at));
        }
        let bound = AddrSet::union_all(bindings.iter().map(|b| &b.addrs));
        Self {
            target,
            reach,
            ir,
            bindings,
            binding_of_zone,
            bound,
        }
    }

    /// Every binding, in the order of its first declared zone.
    pub(crate) fn bindings(&self) -> &[Binding<'ir>] {
        &self.bindings
    }

    /// `addrs` split over the bindings that receive parts of it, each with
    /// its part, in the order in which the zones owning the parts are
    /// declared (a binding appears where its first such zone does); what no
    /// binding receives is left out (see [`Placement::unplaced`]).
    pub(crate) fn split(&self, addrs: &AddrSet) -> Vec<(&Binding<'ir>, AddrSet)> {
        let mut out: Vec<(usize, AddrSet)> = Vec::new();
        for (zone, part) in self.zone_parts(addrs) {
            let Some(b) = zone.and_then(|z| self.binding_of_zone[z]) else {
                continue;
            };
            match out.iter_mut().find(|(at, _)| *at == b) {
                Some((_, united)) => *united = united.union(&part),
                None => out.push((b, part)),
            }
        }
        out.into_iter()
            .map(|(b, part)| (&self.bindings[b], part))
            .collect()
    }

    /// The parts of `addrs` no binding receives, by the zone that owns them
    /// (`None`: no zone), in zone order.
    fn unplaced(&self, addrs: &AddrSet) -> Vec<(Option<&'ir Zone>, AddrSet)> {
        let missing = addrs.difference(&self.bound);
        if missing.is_empty() {
            return Vec::new();
        }
        self.zone_parts(&missing)
            .into_iter()
            .map(|(zone, part)| (zone.map(|z| &self.ir.zones[z]), part))
            .collect()
    }

    /// Every part of `rule` this target cannot honour (see the module
    /// documentation): one `unplaced` error per side and zone.
    pub(crate) fn check(&self, rule: &Rule) -> Vec<Diagnostic> {
        let both = &[Side::Sources, Side::Destinations];
        let sides: &[Side] = match (rule.action, self.reach) {
            (Action::Deny, _) => &[],
            (Action::Allow, Reach::Replies) | (_, Reach::ZonePairs) => both,
            _ => &[Side::Sources],
        };
        let families = rule.families();
        let mut errors = Vec::new();
        for &side in sides {
            let addrs = match side {
                Side::Sources => &rule.src.addrs,
                Side::Destinations => &rule.dst.addrs,
            };
            let effective = families
                .iter()
                .fold(AddrSet::empty(), |all, &f| all.union(&addrs.of_family(f)));
            for (zone, part) in self.unplaced(&effective) {
                errors.push(unplaced_error(self.target, rule, side, zone, &part));
            }
        }
        errors
    }

    /// `addrs` split over the zones that own parts of it, by index into
    /// [`Ir::zones`], in zone order, then what no zone owns (`None`), as
    /// [`Ir::split_by_zone`] splits.
    fn zone_parts(&self, addrs: &AddrSet) -> Vec<(Option<usize>, AddrSet)> {
        let mut rest = addrs.clone();
        let mut out = Vec::new();
        for (i, zone) in self.ir.zones.iter().enumerate() {
            if rest.is_empty() {
                break;
            }
            let part = rest.intersection(&zone.addrs);
            if !part.is_empty() {
                rest = rest.difference(&part);
                out.push((Some(i), part));
            }
        }
        if !rest.is_empty() {
            out.push((None, rest));
        }
        out
    }
}

/// The one diagnostic for traffic a target cannot place.
fn unplaced_error(
    target: Target,
    rule: &Rule,
    side: Side,
    zone: Option<&Zone>,
    part: &AddrSet,
) -> Diagnostic {
    let what = match side {
        Side::Sources => "sources",
        Side::Destinations if rule.action == Action::Allow => {
            "destinations (where its replies come from)"
        }
        Side::Destinations => "destinations",
    };
    let verb = if rule.action == Action::Allow {
        "allow"
    } else {
        "refuse"
    };
    let message = match zone {
        Some(z) => format!(
            "rule `{}`: its {what} {part} lie in zone `{}`, which has no {target} binding, so {target} cannot {verb} that traffic",
            rule.name, z.name
        ),
        None => format!(
            "rule `{}`: its {what} {part} lie in no zone, so no {target} binding receives them and {target} cannot {verb} that traffic",
            rule.name
        ),
    };
    let mut d = Diagnostic::error("unplaced", message)
        .at(rule.span, format!("cannot be placed on {target}"));
    match zone {
        Some(z) => {
            d = d
                .also(z.span, format!("zone without a {target} binding"))
                .help(format!(
                    "bind the zone (`interface {target}=\"...\"`), or narrow the rule"
                ));
        }
        None => {
            d = d.help(format!(
                "declare a residual zone (`residual #true`) with a {target} binding, or narrow the rule to zoned addresses"
            ));
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a` and `b` share the nftables interface `lan0`, `c` has its own,
    /// `u` has none; 192.0.2.0/24 and all of IPv6 lie in no zone.
    const ZONES: &str = r#"
zone "a" {
    prefix "10.1.0.0/16"
    interface nftables="lan0"
}
zone "c" {
    prefix "10.3.0.0/16"
    interface nftables="c0"
}
zone "b" {
    prefix "10.2.0.0/16"
    interface nftables="lan0"
}
zone "u" {
    prefix "10.9.0.0/16"
}
"#;

    fn ir(rules: &str) -> Ir {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.kdl");
        std::fs::write(&path, format!("{ZONES}rules {{\n{rules}\n}}\n")).unwrap();
        let date = jiff::civil::date(2026, 12, 1);
        let compiled = crate::compile(&path, date).unwrap();
        compiled
            .ir
            .unwrap_or_else(|| panic!("{:?}", compiled.diagnostics))
    }

    fn set(text: &str) -> AddrSet {
        let mut out = AddrSet::empty();
        for net in text.split(' ') {
            out = out.union(&AddrSet::from_net(net.parse().unwrap()));
        }
        out
    }

    #[test]
    fn zones_on_one_binding_are_one_binding_in_first_declared_order() {
        let ir = ir(r#"deny "x" { from "any"; to "any"; service "any"; }"#);
        let p = Placement::new(&ir, Target::Nftables, Reach::Replies);
        let names: Vec<_> = p.bindings().iter().map(|b| b.name).collect();
        assert_eq!(names, ["lan0", "c0"]);
        let lan = &p.bindings()[0];
        let zones: Vec<_> = lan.zones.iter().map(|z| z.name.as_str()).collect();
        assert_eq!(zones, ["a", "b"]);
        assert_eq!(lan.addrs, set("10.1.0.0/16 10.2.0.0/16"));
        // Split: parts of one binding united, bindings in the order their
        // zones own parts; unbound and unzoned parts left out.
        let split = p.split(&set(
            "10.3.1.0/24 10.2.0.0/24 10.1.0.0/24 10.9.0.0/24 192.0.2.0/24",
        ));
        let split: Vec<_> = split
            .iter()
            .map(|(b, part)| (b.name, part.clone()))
            .collect();
        assert_eq!(
            split,
            [
                ("lan0", set("10.1.0.0/24 10.2.0.0/24")),
                ("c0", set("10.3.1.0/24"))
            ]
        );
        let unplaced = p.unplaced(&set("10.9.0.0/24 192.0.2.0/24 10.1.0.0/24"));
        let unplaced: Vec<_> = unplaced
            .iter()
            .map(|(z, part)| (z.map(|z| z.name.as_str()), part.clone()))
            .collect();
        assert_eq!(
            unplaced,
            [(Some("u"), set("10.9.0.0/24")), (None, set("192.0.2.0/24"))]
        );
    }

    /// The `unplaced` errors of the only rule, as (zone, message) pairs.
    fn errors(rule: &str, reach: Reach) -> Vec<(Option<String>, String)> {
        let ir = ir(rule);
        let p = Placement::new(&ir, Target::Nftables, reach);
        ir.rules
            .iter()
            .flat_map(|r| p.check(r))
            .map(|d| {
                assert_eq!(d.code, "unplaced");
                assert_eq!(d.primary.as_ref().unwrap().span, ir.rules[0].span);
                let zone = d.secondary.first().map(|_| {
                    let start = d.message.find("zone `").unwrap() + 6;
                    let len = d.message[start..].find('`').unwrap();
                    d.message[start..start + len].to_string()
                });
                (zone, d.message)
            })
            .collect()
    }

    #[test]
    fn a_deny_of_unplaced_traffic_holds_vacuously() {
        for reach in [Reach::Ingress, Reach::Replies, Reach::ZonePairs] {
            let rule = r#"deny "d" { from "u" "192.0.2.0/24"; to "u"; service "https"; }"#;
            assert_eq!(errors(rule, reach), [], "{reach:?}");
        }
    }

    #[test]
    fn which_sides_must_be_placed_follows_the_action_and_the_reach() {
        let allow = r#"allow "x" { from "u"; to "192.0.2.0/24"; service "https"; }"#;
        let reject = r#"reject "x" { from "u"; to "192.0.2.0/24"; service "https"; }"#;
        let zones = |rule, reach| -> Vec<Option<String>> {
            errors(rule, reach).into_iter().map(|(z, _)| z).collect()
        };
        let u = || Some("u".to_string());
        assert_eq!(zones(allow, Reach::Ingress), [u()]);
        assert_eq!(zones(allow, Reach::Replies), [u(), None]);
        assert_eq!(zones(allow, Reach::ZonePairs), [u(), None]);
        assert_eq!(zones(reject, Reach::Ingress), [u()]);
        assert_eq!(zones(reject, Reach::Replies), [u()]);
        assert_eq!(zones(reject, Reach::ZonePairs), [u(), None]);
        let messages = errors(allow, Reach::Replies);
        assert!(
            messages[0]
                .1
                .contains("its sources 10.9.0.0/16 lie in zone `u`, which has no nftables binding"),
            "{}",
            messages[0].1
        );
        assert!(
            messages[1]
                .1
                .contains("destinations (where its replies come from) 192.0.2.0/24 lie in no zone"),
            "{}",
            messages[1].1
        );
    }

    #[test]
    fn only_the_families_a_rule_can_match_count() {
        // The IPv6 half of `any` can never match an IPv4 destination, so
        // its absence from every zone does not matter.
        let rule = r#"allow "x" { from "any"; to "10.1.0.0/16"; service "https"; }"#;
        let found = errors(rule, Reach::Ingress);
        assert!(found.iter().all(|(_, m)| !m.contains("::")), "{found:?}");
        assert_eq!(
            found.len(),
            2,
            "unbound `u` and the unzoned IPv4 rest: {found:?}"
        );
    }
}
