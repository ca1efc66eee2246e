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
pub mod lower;

use std::collections::BTreeMap;
use std::fmt;

use ipnet::IpNet;
use serde::Serialize;

pub use eval::{Packet, PacketParseError, Proto, Verdict};

use crate::addrset::{AddrSet, ByteSet, PortSet};
use crate::diagnostics::Span;

/// What a rule does with the packets it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Permit the initiating direction; replies of the flow are permitted too.
    Allow,
    /// Drop silently.
    Deny,
    /// Refuse actively (TCP reset / ICMP unreachable).
    Reject,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
            Action::Reject => "reject",
        }
    }

    pub fn permits(self) -> bool {
        self == Action::Allow
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IP address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Family {
    V4,
    V6,
}

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    Zone,
    Class,
    Group,
    Advisory,
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
    pub fn single_object(&self) -> Option<&str> {
        match self.refs.as_slice() {
            [EndpointRef::Object(name)] => Some(name),
            _ => None,
        }
    }

    pub fn is_any(&self) -> bool {
        self.addrs.is_any()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointRef {
    Any,
    /// A key of [`Ir::objects`].
    Object(String),
    /// A literal address, CIDR or range, as written.
    Literal(String),
}

impl fmt::Display for EndpointRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointRef::Any => f.write_str("any"),
            EndpointRef::Object(s) | EndpointRef::Literal(s) => f.write_str(s),
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

/// A set of (protocol, destination port / ICMP type) pairs.
///
/// `any` means every packet of every protocol; when it is set every other
/// field is empty. ICMP types are per family: `icmp4` are ICMP (protocol 1)
/// types and only match IPv4 packets, `icmp6` are ICMPv6 (protocol 58) types
/// and only match IPv6 packets. `protocols` are other IP protocol numbers,
/// matched whole (never 6, 17, 1 or 58).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceSet {
    pub any: bool,
    pub tcp: PortSet,
    pub udp: PortSet,
    pub icmp4: ByteSet,
    pub icmp6: ByteSet,
    pub protocols: ByteSet,
}

/// IP protocol numbers the service model treats specially.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

impl ServiceSet {
    pub fn any() -> Self {
        Self {
            any: true,
            ..Self::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.any
            && self.tcp.is_empty()
            && self.udp.is_empty()
            && self.icmp4.is_empty()
            && self.icmp6.is_empty()
            && self.protocols.is_empty()
    }

    /// Whether the set holds anything an IPv4 / IPv6 packet can carry.
    pub fn has_family(&self, family: Family) -> bool {
        let icmp = match family {
            Family::V4 => &self.icmp4,
            Family::V6 => &self.icmp6,
        };
        self.any
            || !self.tcp.is_empty()
            || !self.udp.is_empty()
            || !self.protocols.is_empty()
            || !icmp.is_empty()
    }

    /// Union of two sets; an `any` absorbs everything.
    pub fn union(&self, other: &Self) -> Self {
        if self.any || other.any {
            return Self::any();
        }
        Self {
            any: false,
            tcp: self.tcp.union(&other.tcp),
            udp: self.udp.union(&other.udp),
            icmp4: self.icmp4.union(&other.icmp4),
            icmp6: self.icmp6.union(&other.icmp6),
            protocols: self.protocols.union(&other.protocols),
        }
    }

    /// The explicit form of `any`: every port, type and protocol spelled out.
    /// Used for set arithmetic; never rendered.
    pub fn expanded(&self) -> Self {
        if !self.any {
            return self.clone();
        }
        let special = [proto::ICMP, proto::TCP, proto::UDP, proto::ICMPV6];
        Self {
            any: false,
            tcp: PortSet::full(),
            udp: PortSet::full(),
            icmp4: ByteSet::full(),
            icmp6: ByteSet::full(),
            protocols: ByteSet::from_ranges(
                (0..=255u8).filter(|p| !special.contains(p)).map(|p| (p, p)),
            ),
        }
    }

    /// Both sets expanded, then compared field by field.
    pub fn is_subset(&self, other: &Self) -> bool {
        if other.any {
            return true;
        }
        let (a, b) = (self.expanded(), other.expanded());
        a.tcp.is_subset(&b.tcp)
            && a.udp.is_subset(&b.udp)
            && a.icmp4.is_subset(&b.icmp4)
            && a.icmp6.is_subset(&b.icmp6)
            && a.protocols.is_subset(&b.protocols)
    }

    pub fn intersection(&self, other: &Self) -> Self {
        if self.any {
            return other.clone();
        }
        if other.any {
            return self.clone();
        }
        Self {
            any: false,
            tcp: self.tcp.intersection(&other.tcp),
            udp: self.udp.intersection(&other.udp),
            icmp4: self.icmp4.intersection(&other.icmp4),
            icmp6: self.icmp6.intersection(&other.icmp6),
            protocols: self.protocols.intersection(&other.protocols),
        }
    }

    pub fn overlaps(&self, other: &Self) -> bool {
        !self.intersection(other).is_empty()
    }
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
    pub fn split_by_zone(&self, set: &AddrSet) -> Vec<(Option<&Zone>, AddrSet)> {
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
