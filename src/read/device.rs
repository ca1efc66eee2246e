//! The device model: what a device decides for forwarded traffic, read from
//! the configuration it really runs, in no vendor's words.
//!
//! Each reader turns its device's own export (`nft list ruleset`, `show
//! running-config`, a PAN-OS running-config, a pfSense backup) into a
//! [`Device`]; `drift` compares it exactly with the policy, `explain
//! --against FILE` evaluates one packet on it. Everything vendor-specific
//! (jumps and verdict maps, quick and non-quick rules, intrazone defaults,
//! implicit ACL entries, object groups) is resolved by the reader, so the
//! model has only these shapes:
//!
//! - a device is a list of [`Layer`]s; a forwarded packet passes only if
//!   every layer lets it pass (nftables: every base chain on the forward
//!   hook; Cisco: the inbound ACL, then the outbound one);
//! - in a layer, the packet meets the first [`Filter`] whose [`Guard`]
//!   holds for it (the ACL bound to the interface it enters by); a packet no
//!   filter's guard holds passes the layer unfiltered with
//!   [`Layer::unfiltered`];
//! - a filter is a first-match list of [`Entry`]s with a default
//!   [`Decision`] for the packets no entry matches.
//!
//! The packet is the first packet of a new flow: TCP SYN (no ACK or RST),
//! connection state `new`, from a client's source port. Readers resolve
//! matches on those facts themselves: `ct state established` and Cisco's
//! `established` never match it; a source-port match is decided by
//! [`source_ports`]. What cannot be evaluated offline (an FQDN, App-ID, a
//! schedule, a user, a rate limit) makes the entry
//! [`Entry::undecidable`]: it may or may not match, and drift reports the
//! traffic it could decide instead of guessing.
//!
//! Places (interfaces, zones) are the device's names; which addresses sit
//! behind them is the policy's business (its zone bindings), never the
//! reader's.

use std::net::IpAddr;

use crate::addrset::{AddrSet, PortSet};
use crate::ir::Packet;
#[cfg(test)]
use crate::ir::Proto;
use crate::vocab::{Action, Family, ServiceSet, Target};

/// What one device decides for forwarded traffic.
#[derive(Clone, Debug)]
pub struct Device {
    pub target: Target,
    /// Every place (interface, zone) the configuration declares, in its
    /// order; `None` when the format declares none (an nftables ruleset
    /// names interfaces only in its rules).
    pub places: Option<Vec<String>>,
    /// In the order a packet meets them.
    pub layers: Vec<Layer>,
    /// What the configuration holds that decides no forwarded traffic and
    /// was skipped, one item per kind: `NAT (3 rules)`, `VPN (1 tunnel)`.
    pub skipped: Vec<String>,
}

/// One stage every forwarded packet passes through.
#[derive(Clone, Debug)]
pub struct Layer {
    /// `inbound ACLs`, `table inet filter chain forward (priority 0)`.
    pub name: String,
    pub filters: Vec<Filter>,
    /// What happens to a packet no filter's guard holds: usually it
    /// passes (an interface without an ACL).
    pub unfiltered: Action,
}

/// A first-match list applied where its guard holds.
#[derive(Clone, Debug)]
pub struct Filter {
    /// As the device names it: `ACL MEDICAL-IN in on Vlan120`.
    pub name: String,
    pub guard: Guard,
    pub entries: Vec<Entry>,
    /// The decision for a packet no entry matches (an implicit deny, a
    /// chain's policy).
    pub default: Decision,
}

/// Which packets a filter or an entry applies to, beyond addresses and
/// services: where the packet enters and leaves, and its family.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Guard {
    /// The place the packet enters by must be in every one of these
    /// (several when conditions were joined, e.g. a jump's and its
    /// target's); empty = any place.
    pub ingress: Vec<PlaceSet>,
    /// The same for the place it leaves by.
    pub egress: Vec<PlaceSet>,
    /// `None` = both.
    pub family: Option<Family>,
}

/// A set of place names: listed names and name prefixes (`eth*`), or
/// everything but them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PlaceSet {
    pub names: Vec<String>,
    /// Names that start with one of these match (nftables `"eth*"`).
    pub prefixes: Vec<String>,
    /// Every place *except* the listed ones.
    pub negated: bool,
}

/// One entry of a filter.
#[derive(Clone, Debug)]
pub struct Entry {
    pub guard: Guard,
    pub src: AddrSet,
    pub dst: AddrSet,
    /// Protocols and destination ports / ICMP types.
    pub service: ServiceSet,
    pub decision: Decision,
    /// Why the entry may or may not match a packet inside its box (`FQDN
    /// address updates.vendor.example`, `application ms-rdp`); `None` when
    /// it is decided exactly.
    pub undecidable: Option<String>,
}

/// What a filter does with a packet, and where the device says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Allow, deny (drop) or reject.
    pub action: Action,
    pub log: bool,
    pub origin: Origin,
}

/// Where a decision comes from in the device's file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// 1-based; 0 for a decision the device makes without a line saying so
    /// (an implicit deny, a default rule the export leaves out).
    pub line: usize,
    /// 1-based; 0 with `line`.
    pub column: usize,
    /// The entry as the device prints it, trimmed, or what stands for it
    /// (`implicit deny at the end of ACL MEDICAL-IN`).
    pub text: String,
    /// The policy rule the entry says it comes from (its comment, remark or
    /// rule name, as wardwall writes them), when it says so.
    pub rule: Option<String>,
}

/// A device's export that cannot be read: where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceError {
    /// 1-based; 0 when the error concerns the whole file.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for DeviceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "{}:{}: {}", self.line, self.column, self.message)
        }
    }
}

impl std::error::Error for DeviceError {}

impl DeviceError {
    pub fn at(line: usize, column: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            column,
            message: message.into(),
        }
    }
}

/// The source ports a client's new flow may come from: the registered and
/// dynamic ranges (RFC 6335), where every operating system's ephemeral
/// ports lie. A new flow from a well-known port (below 1024) is not
/// modelled.
pub(crate) const CLIENT_PORTS: (u16, u16) = (1024, 65535);

/// How a match on the source port holds for a new flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SourcePorts {
    /// Every client port is in the set: the match always holds.
    Always,
    /// No client port is: the match never holds (a return entry).
    Never,
    /// Some are: whether it holds depends on the port the client picked,
    /// which is not known offline.
    Sometimes,
}

/// Decides a source-port match (`ports`, the ports it accepts) for a new
/// flow, by [`CLIENT_PORTS`].
pub(crate) fn source_ports(ports: &PortSet) -> SourcePorts {
    let client = PortSet::range(CLIENT_PORTS.0, CLIENT_PORTS.1);
    let inside = ports.intersection(&client);
    if inside.is_empty() {
        SourcePorts::Never
    } else if inside == client {
        SourcePorts::Always
    } else {
        SourcePorts::Sometimes
    }
}

impl PlaceSet {
    /// Exactly these names.
    pub fn of<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self {
            names: names.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    pub fn contains(&self, place: &str) -> bool {
        let listed = self.names.iter().any(|n| n == place)
            || self.prefixes.iter().any(|p| place.starts_with(p.as_str()));
        listed != self.negated
    }
}

impl Guard {
    /// Any packet.
    pub fn any() -> Self {
        Self::default()
    }

    /// Packets entering by one of `places`.
    pub fn ingress(places: PlaceSet) -> Self {
        Self {
            ingress: vec![places],
            ..Self::default()
        }
    }

    /// Packets leaving by one of `places`.
    pub(crate) fn egress(places: PlaceSet) -> Self {
        Self {
            egress: vec![places],
            ..Self::default()
        }
    }

    /// Both guards at once (an entry inside a filter, a jump's condition
    /// and its target's entries).
    pub(crate) fn and(&self, other: &Guard) -> Option<Guard> {
        let family = match (self.family, other.family) {
            (Some(a), Some(b)) if a != b => return None,
            (a, b) => a.or(b),
        };
        Some(Guard {
            ingress: self.ingress.iter().chain(&other.ingress).cloned().collect(),
            egress: self.egress.iter().chain(&other.egress).cloned().collect(),
            family,
        })
    }

    /// Whether the guard holds for a packet of `family` entering by
    /// `ingress` and leaving by `egress` (`None`: a place the device does
    /// not know, which no place set holds unless it is negated).
    pub fn holds(&self, family: Family, ingress: Option<&str>, egress: Option<&str>) -> bool {
        let place = |sets: &[PlaceSet], at: Option<&str>| {
            sets.iter().all(|s| match at {
                Some(p) => s.contains(p),
                None => s.negated && s.names.is_empty() && s.prefixes.is_empty(),
            })
        };
        self.family.is_none_or(|f| f == family)
            && place(&self.ingress, ingress)
            && place(&self.egress, egress)
    }
}

impl Entry {
    /// Whether the entry's box holds the packet (an undecidable entry's
    /// box holds every packet it *might* match).
    pub fn holds(&self, packet: &Packet, ingress: Option<&str>, egress: Option<&str>) -> bool {
        self.guard.holds(family_of(packet.src), ingress, egress)
            && self.src.contains(packet.src)
            && self.dst.contains(packet.dst)
            && self.service.matches(packet)
    }
}

/// One packet's way through a device.
#[derive(Clone, Debug)]
pub struct Outcome<'d> {
    /// Allow only when every layer allows.
    pub action: Action,
    /// Per layer the packet met a filter in: the filter and its decision
    /// (up to the first layer that does not allow).
    pub steps: Vec<(&'d Filter, &'d Decision)>,
    /// Undecidable entries the packet met before the decisions above:
    /// where they match, the outcome may differ.
    pub undecided: Vec<&'d Entry>,
}

impl Device {
    /// The reference semantics of the model: where `packet` enters by
    /// `ingress` and leaves by `egress` (the device's place names, `None`
    /// for a place it does not know), what the device does with it.
    /// Undecidable entries are taken not to match, and listed.
    pub fn decide(
        &self,
        packet: &Packet,
        ingress: Option<&str>,
        egress: Option<&str>,
    ) -> Outcome<'_> {
        let family = family_of(packet.src);
        let mut steps = Vec::new();
        let mut undecided = Vec::new();
        for layer in &self.layers {
            let Some(filter) = layer
                .filters
                .iter()
                .find(|f| f.guard.holds(family, ingress, egress))
            else {
                if !layer.unfiltered.permits() {
                    return Outcome {
                        action: layer.unfiltered,
                        steps,
                        undecided,
                    };
                }
                continue;
            };
            let mut decision = &filter.default;
            for e in &filter.entries {
                if !e.holds(packet, ingress, egress) {
                    continue;
                }
                if e.undecidable.is_some() {
                    undecided.push(e);
                    continue;
                }
                decision = &e.decision;
                break;
            }
            steps.push((filter, decision));
            if !decision.action.permits() {
                return Outcome {
                    action: decision.action,
                    steps,
                    undecided,
                };
            }
        }
        Outcome {
            action: Action::Allow,
            steps,
            undecided,
        }
    }
}

fn family_of(ip: IpAddr) -> Family {
    match ip {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}

/// Which service a new flow of `proto` is, for readers that build a
/// [`ServiceSet`] from one protocol number: the whole protocol.
pub(crate) fn whole_protocol(number: u8) -> ServiceSet {
    use crate::vocab::proto;
    let mut s = ServiceSet::default();
    match number {
        proto::TCP => s.tcp = PortSet::full(),
        proto::UDP => s.udp = PortSet::full(),
        proto::ICMP => s.icmp4 = crate::addrset::ByteSet::full(),
        proto::ICMPV6 => s.icmp6 = crate::addrset::ByteSet::full(),
        n => s.protocols = crate::addrset::ByteSet::single(n),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(src: &str, action: Action, undecidable: Option<&str>) -> Entry {
        Entry {
            guard: Guard::any(),
            src: AddrSet::from_net(src.parse().unwrap()),
            dst: AddrSet::any(),
            service: ServiceSet::any(),
            decision: Decision {
                action,
                log: false,
                origin: Origin::default(),
            },
            undecidable: undecidable.map(String::from),
        }
    }

    fn filter(guard: Guard, entries: Vec<Entry>, default: Action) -> Filter {
        Filter {
            name: "f".into(),
            guard,
            entries,
            default: Decision {
                action: default,
                log: false,
                origin: Origin::default(),
            },
        }
    }

    fn packet(src: &str) -> Packet {
        Packet {
            src: src.parse().unwrap(),
            dst: "192.0.2.1".parse().unwrap(),
            proto: Proto::Tcp { dport: 443 },
        }
    }

    #[test]
    fn every_layer_must_allow_and_the_first_guarded_filter_decides() {
        let inbound = Layer {
            name: "in".into(),
            filters: vec![
                filter(
                    Guard::ingress(PlaceSet::of(["lan"])),
                    vec![entry("10.0.0.0/8", Action::Allow, None)],
                    Action::Deny,
                ),
                filter(Guard::any(), vec![], Action::Allow),
            ],
            unfiltered: Action::Allow,
        };
        let second = Layer {
            name: "other table".into(),
            filters: vec![filter(
                Guard::any(),
                vec![entry("10.1.0.0/16", Action::Deny, None)],
                Action::Allow,
            )],
            unfiltered: Action::Allow,
        };
        let d = Device {
            target: Target::Nftables,
            places: None,
            layers: vec![inbound, second],
            skipped: vec![],
        };
        assert_eq!(
            d.decide(&packet("10.2.0.1"), Some("lan"), None).action,
            Action::Allow
        );
        let cut = d.decide(&packet("10.1.0.1"), Some("lan"), None);
        assert_eq!(cut.action, Action::Deny);
        assert_eq!(cut.steps.len(), 2, "both layers were met");
        assert_eq!(
            d.decide(&packet("11.0.0.1"), Some("lan"), None).action,
            Action::Deny
        );
        // Another place meets the second filter of the first layer.
        assert_eq!(
            d.decide(&packet("11.0.0.1"), Some("wan"), None).action,
            Action::Allow
        );
    }

    #[test]
    fn undecidable_entries_are_listed_and_passed_over() {
        let d = Device {
            target: Target::Panos,
            places: None,
            layers: vec![Layer {
                name: "rules".into(),
                filters: vec![filter(
                    Guard::any(),
                    vec![
                        entry("10.0.0.0/8", Action::Allow, Some("FQDN address")),
                        entry("10.0.0.0/8", Action::Deny, None),
                    ],
                    Action::Allow,
                )],
                unfiltered: Action::Deny,
            }],
            skipped: vec![],
        };
        let o = d.decide(&packet("10.0.0.1"), None, None);
        assert_eq!(o.action, Action::Deny);
        assert_eq!(o.undecided.len(), 1);
        assert_eq!(d.decide(&packet("11.0.0.1"), None, None).undecided.len(), 0);
    }

    #[test]
    fn place_sets_match_names_prefixes_and_negation() {
        let s = PlaceSet {
            names: vec!["wan0".into()],
            prefixes: vec!["vlan".into()],
            negated: false,
        };
        assert!(s.contains("wan0") && s.contains("vlan120") && !s.contains("lan0"));
        let not = PlaceSet {
            negated: true,
            ..s.clone()
        };
        assert!(!not.contains("wan0") && not.contains("lan0"));
        let g = Guard::ingress(s);
        assert!(
            !g.holds(Family::V4, None, None),
            "an unknown place is in no listed set"
        );
        assert!(
            Guard::ingress(PlaceSet {
                negated: true,
                ..PlaceSet::default()
            })
            .holds(Family::V4, None, None)
        );
    }

    #[test]
    fn source_ports_are_decided_over_the_client_range() {
        assert_eq!(source_ports(&PortSet::full()), SourcePorts::Always);
        assert_eq!(
            source_ports(&PortSet::range(1024, 65535)),
            SourcePorts::Always
        );
        assert_eq!(source_ports(&PortSet::single(53)), SourcePorts::Never);
        assert_eq!(source_ports(&PortSet::range(0, 1023)), SourcePorts::Never);
        assert_eq!(
            source_ports(&PortSet::range(1000, 2000)),
            SourcePorts::Sometimes
        );
        assert_eq!(
            source_ports(&PortSet::single(50000)),
            SourcePorts::Sometimes
        );
    }
}
