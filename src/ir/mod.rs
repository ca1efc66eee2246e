//! The target-independent intermediate representation.
//!
//! Lowering (`ir::lower`) turns the validated policy into one ordered list of
//! rules over resolved, aggregated address sets and service sets. The list is
//! evaluated first-match: absolute blocks first (in declaration order), then
//! the ordinary rules in declaration order with each deny's active exceptions
//! placed immediately before it, then the default rule (deny, logged).
//! Expired rules are not in the list at all.
//!
//! Every renderer reads this and nothing else, so every target implements the
//! same semantics; [`Ir::evaluate`] is the reference those targets are tested
//! against. The IR names no vendor: per-target interface bindings are opaque
//! strings keyed by target name.

mod eval;
pub(crate) mod lower;

use std::collections::BTreeMap;

use ipnet::IpNet;

pub use eval::{Packet, PacketParseError, Proto, Verdict};

use crate::addrset::AddrSet;
use crate::diagnostics::Span;
pub use crate::vocab::{Action, EndpointRef, Family, ObjectKind, ServiceSet, proto};

/// The whole lowered policy.
#[derive(Clone, Debug)]
pub struct Ir {
    /// The policy's name (from its `policy` node, else the root file's stem):
    /// used for output file names.
    pub name: String,
    pub description: Option<String>,
    /// The targets the policy is compiled to by default (`policy { targets
    /// ... }`); empty means every target.
    pub targets: Vec<String>,
    /// Zones in declaration order, with their effective (longest-prefix) sets.
    pub zones: Vec<Zone>,
    /// Every named address object a rule refers to, by name.
    pub objects: BTreeMap<String, AddressObject>,
    /// Every named service a rule refers to, by name.
    pub services: BTreeMap<String, ServiceObject>,
    /// Active rules in evaluation order (first match wins).
    pub rules: Vec<Rule>,
    /// What happens to a packet no rule matches: deny, logged.
    pub default_action: Action,
    pub default_log: bool,
}

/// A network segment. An address belongs to the zone with the longest
/// matching prefix; the residual zone holds what no other zone holds.
#[derive(Clone, Debug)]
pub struct Zone {
    pub name: String,
    pub description: Option<String>,
    pub residual: bool,
    /// The prefixes as declared (empty for the residual zone).
    pub prefixes: Vec<IpNet>,
    /// The addresses the zone really owns.
    pub addrs: AddrSet,
    /// Per-target placement: target name → interface / zone name on that target.
    pub bindings: BTreeMap<String, String>,
    pub span: Span,
}

/// A named address set (zone, device class, group, advisory networks).
#[derive(Clone, Debug)]
pub struct AddressObject {
    pub name: String,
    pub kind: ObjectKind,
    pub description: Option<String>,
    pub addrs: AddrSet,
}

/// A named service.
#[derive(Clone, Debug)]
pub struct ServiceObject {
    pub name: String,
    pub description: Option<String>,
    pub set: ServiceSet,
}

/// How a rule came to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleOrigin {
    /// An `allow`/`deny`/`reject` rule of the policy.
    Rule,
    /// A named exception carved out of the deny/reject rule `parent`.
    Exception { parent: String },
    /// One direction of a `block-advisory` line.
    AdvisoryBlock {
        advisory: String,
        direction: Direction,
    },
}

/// The direction of an advisory block relative to the blocked networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Traffic to the blocked networks.
    Outbound,
    /// Traffic from the blocked networks.
    Inbound,
}

/// One ordered rule over resolved sets.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Unique and stable (derived from policy names, never from positions).
    pub name: String,
    pub origin: RuleOrigin,
    pub action: Action,
    /// Nothing may override it; it is placed before every ordinary rule.
    pub absolute: bool,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub service: Service,
    pub log: bool,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub ticket: Option<String>,
    /// Last day the rule is active (inclusive), as `YYYY-MM-DD`.
    pub expires: Option<String>,
    /// Where the rule is written in the policy.
    pub span: Span,
}

impl Rule {
    /// The families this rule can match: both endpoints have addresses of the
    /// family and the service has something for it.
    pub fn families(&self) -> Vec<Family> {
        [Family::V4, Family::V6]
            .into_iter()
            .filter(|&f| {
                let has = |a: &AddrSet| match f {
                    Family::V4 => !a.v4.is_empty(),
                    Family::V6 => !a.v6.is_empty(),
                };
                has(&self.src.addrs) && has(&self.dst.addrs) && self.service.set.has_family(f)
            })
            .collect()
    }
}

/// One side of a rule.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// What the policy wrote, in order: object names, literals, `any`.
    pub refs: Vec<EndpointRef>,
    /// The union of all refs, aggregated.
    pub addrs: AddrSet,
}

impl Endpoint {
    /// The single named object this endpoint consists of, if it is exactly one.
    pub(crate) fn single_object(&self) -> Option<&str> {
        match self.refs.as_slice() {
            [EndpointRef::Object(name)] => Some(name),
            _ => None,
        }
    }
}

/// A rule's service side.
#[derive(Clone, Debug)]
pub struct Service {
    /// Names (keys of [`Ir::services`]) and literals as written, in order.
    pub refs: Vec<String>,
    pub set: ServiceSet,
}

impl Ir {
    /// A policy that allows nothing, named like `like`: the old side of a
    /// review where the policy file did not exist yet.
    pub fn deny_all(like: &Ir) -> Ir {
        Ir {
            name: like.name.clone(),
            description: None,
            targets: like.targets.clone(),
            zones: Vec::new(),
            objects: BTreeMap::new(),
            services: BTreeMap::new(),
            rules: Vec::new(),
            default_action: Action::Deny,
            default_log: true,
        }
    }

    /// This policy with only the rules at `keep` (positions in
    /// [`Ir::rules`], ascending), and only the objects and services they
    /// refer to: the same decision as this policy on every packet that no
    /// dropped rule matches.
    pub fn with_rules(&self, keep: &[usize]) -> Ir {
        let rules: Vec<Rule> = keep.iter().map(|&i| self.rules[i].clone()).collect();
        let mut objects_used = std::collections::BTreeSet::new();
        let mut services_used = std::collections::BTreeSet::new();
        for r in &rules {
            for e in r.src.refs.iter().chain(&r.dst.refs) {
                if let EndpointRef::Object(name) = e {
                    objects_used.insert(name.as_str());
                }
            }
            services_used.extend(r.service.refs.iter().map(String::as_str));
        }
        let objects = (self.objects.iter())
            .filter(|(name, _)| objects_used.contains(name.as_str()))
            .map(|(name, o)| (name.clone(), o.clone()))
            .collect();
        let services = (self.services.iter())
            .filter(|(name, _)| services_used.contains(name.as_str()))
            .map(|(name, s)| (name.clone(), s.clone()))
            .collect();
        Ir {
            name: self.name.clone(),
            description: self.description.clone(),
            targets: self.targets.clone(),
            zones: self.zones.clone(),
            objects,
            services,
            rules,
            default_action: self.default_action,
            default_log: self.default_log,
        }
    }

    pub fn zone(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.name == name)
    }

    /// The zone that owns `addr` (longest matching prefix, else the residual
    /// zone), if any.
    pub fn zone_of(&self, addr: std::net::IpAddr) -> Option<&Zone> {
        self.zones.iter().find(|z| z.addrs.contains(addr))
    }

    /// `set` split over the zones that own parts of it, in zone declaration
    /// order, plus what no zone owns (keyed `None`). Zone-based targets place
    /// a rule once per (source zone, destination zone) from this.
    pub(crate) fn split_by_zone(&self, set: &AddrSet) -> Vec<(Option<&Zone>, AddrSet)> {
        let mut rest = set.clone();
        let mut out = Vec::new();
        for zone in &self.zones {
            let part = rest.intersection(&zone.addrs);
            if !part.is_empty() {
                rest = rest.difference(&part);
                out.push((Some(zone), part));
            }
        }
        if !rest.is_empty() {
            out.push((None, rest));
        }
        out
    }
}
