//! The vocabulary every stage shares: what a rule does, address families,
//! kinds of address objects, endpoint references, service sets and the
//! targets wardwall knows. It sits below the pipeline (it depends only on
//! [`crate::addrset`]), so the source stage and the model use these words
//! without importing a later stage.

use std::fmt;

use serde::Serialize;

pub use crate::addrset::Family;
use crate::addrset::{AddrSet, ByteSet, PortSet};

/// A firewall target. This enum is the one list of targets: the policy
/// language's `targets` and zone bindings, `-t`, `explain --target` and the
/// registry of renderers and readers (`crate::render::registry`) all use it,
/// and an exhaustive `match` makes a new target fill every place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Nftables,
    PfSense,
    Cisco,
    Panos,
}

impl Target {
    /// Every target, in the fixed order in which they are rendered and listed.
    pub const ALL: [Target; 4] = [
        Target::Nftables,
        Target::PfSense,
        Target::Cisco,
        Target::Panos,
    ];

    /// The target's name: the `-t` value, the binding key, the template
    /// folder and the output subfolder.
    pub const fn name(self) -> &'static str {
        match self {
            Target::Nftables => "nftables",
            Target::PfSense => "pfsense",
            Target::Cisco => "cisco",
            Target::Panos => "panos",
        }
    }

    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Every target's name, in [`Target::ALL`] order.
    pub fn names() -> impl Iterator<Item = &'static str> + Clone {
        Target::ALL.into_iter().map(Target::name)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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
    pub(crate) fn as_str(self) -> &'static str {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    Zone,
    Class,
    Group,
    Advisory,
}

impl ObjectKind {
    /// The policy keyword of the kind (`zone`, `class`, `group`,
    /// `advisory`).
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Zone => "zone",
            ObjectKind::Class => "class",
            ObjectKind::Group => "group",
            ObjectKind::Advisory => "advisory",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointRef {
    Any,
    /// The name of an address object (a key of the IR's `objects`).
    Object(String),
    /// A literal address, CIDR or range.
    Literal(Literal),
}

/// A literal address, CIDR or range: the text as written and the addresses
/// it was parsed to (once, by the source stage's strict parser, so no later
/// stage parses it again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Literal {
    pub text: String,
    pub addrs: AddrSet,
}

impl fmt::Display for EndpointRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointRef::Any => f.write_str("any"),
            EndpointRef::Object(s) => f.write_str(s),
            EndpointRef::Literal(l) => f.write_str(&l.text),
        }
    }
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
    pub(crate) const ICMP: u8 = 1;
    pub(crate) const TCP: u8 = 6;
    pub(crate) const UDP: u8 = 17;
    pub(crate) const ICMPV6: u8 = 58;
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

    /// The destination ports TCP and UDP share when they are the same
    /// (and not empty): targets that can match both protocols in one entry
    /// (`tcp/udp`, `meta l4proto { tcp, udp }`) merge them on this.
    pub(crate) fn shared_tcp_udp_ports(&self) -> Option<&PortSet> {
        (!self.tcp.is_empty() && self.tcp == self.udp).then_some(&self.tcp)
    }

    /// Whether the set holds anything an IPv4 / IPv6 packet can carry.
    pub(crate) fn has_family(&self, family: Family) -> bool {
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
    pub(crate) fn expanded(&self) -> Self {
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
    pub(crate) fn is_subset(&self, other: &Self) -> bool {
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

    pub(crate) fn overlaps(&self, other: &Self) -> bool {
        !self.intersection(other).is_empty()
    }
}
