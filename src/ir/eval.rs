//! The reference semantics: which rule decides a packet.
//!
//! Every target is tested against this function. It reads the IR only, so a
//! renderer that disagrees with it is wrong by definition.

use std::fmt;
use std::net::IpAddr;

use super::{Action, Ir, Rule, ServiceSet, proto};
use crate::source::ip::{self, IpProblem};

/// The first packet of a flow (the initiating direction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Packet {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: Proto,
}

/// Protocol and the field a rule can match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp {
        dport: u16,
    },
    Udp {
        dport: u16,
    },
    /// ICMP for an IPv4 packet, ICMPv6 for an IPv6 packet.
    Icmp {
        ty: u8,
    },
    /// Any other IP protocol number.
    Other(u8),
}

/// The decision for a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub action: Action,
    /// Index into [`Ir::rules`] of the deciding rule; `None` for the default rule.
    pub rule: Option<usize>,
    pub log: bool,
}

impl Ir {
    /// First-match evaluation of `packet` against the active rules.
    pub fn evaluate(&self, packet: &Packet) -> Verdict {
        match self.rules.iter().position(|r| r.matches(packet)) {
            Some(i) => Verdict {
                action: self.rules[i].action,
                rule: Some(i),
                log: self.rules[i].log,
            },
            None => Verdict {
                action: self.default_action,
                rule: None,
                log: self.default_log,
            },
        }
    }

    /// The name of the deciding rule, or `default` for the default rule.
    pub fn verdict_rule_name(&self, verdict: &Verdict) -> &str {
        verdict
            .rule
            .map_or("default", |i| self.rules[i].name.as_str())
    }
}

impl Rule {
    pub fn matches(&self, packet: &Packet) -> bool {
        self.src.addrs.contains(packet.src)
            && self.dst.addrs.contains(packet.dst)
            && self.service.set.matches(packet)
    }
}

impl ServiceSet {
    pub fn matches(&self, packet: &Packet) -> bool {
        if self.any {
            return true;
        }
        match packet.proto {
            Proto::Tcp { dport } => self.tcp.contains(dport),
            Proto::Udp { dport } => self.udp.contains(dport),
            Proto::Icmp { ty } => match packet.src {
                IpAddr::V4(_) => self.icmp4.contains(ty),
                IpAddr::V6(_) => self.icmp6.contains(ty),
            },
            Proto::Other(p) => self.protocols.contains(p),
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proto::Tcp { dport } => write!(f, "tcp/{dport}"),
            Proto::Udp { dport } => write!(f, "udp/{dport}"),
            Proto::Icmp { ty } => write!(f, "icmp/{ty}"),
            Proto::Other(p) => write!(f, "proto/{p}"),
        }
    }
}

impl fmt::Display for Packet {
    /// The packet as `explain` reads it back: ICMPv6 is written `icmpv6/N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {} ", self.src, self.dst)?;
        match self.proto {
            Proto::Icmp { ty } if self.src.is_ipv6() => write!(f, "icmpv6/{ty}"),
            proto => write!(f, "{proto}"),
        }
    }
}

/// Why packet text was refused; each message says how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketParseError {
    #[error("`{text}` {problem}; {hint}", hint = problem.hint())]
    Address { text: String, problem: IpProblem },
    #[error("source and destination must be of the same family (IPv4 or IPv6)")]
    MixedFamilies,
    #[error(
        "`{0}` is not a protocol: expected tcp/PORT, udp/PORT, icmp/TYPE or icmpv6/TYPE (a number or a name such as echo-request), or proto/NUMBER or a protocol name such as gre"
    )]
    Proto(String),
    #[error("port `{0}` is out of range: ports are 1 to 65535")]
    PortOutOfRange(String),
    #[error("`{0}` needs a port: write e.g. `{0}/443`")]
    MissingPort(String),
    #[error("`{0}` needs a type: write e.g. `{0}/echo-request`")]
    MissingType(String),
    #[error("ICMP type `{0}` is outside 0..255")]
    IcmpTypeOutOfRange(String),
    #[error("`{text}` is not for {family} packets: {hint}")]
    IcmpFamily {
        text: String,
        family: &'static str,
        hint: &'static str,
    },
    #[error("unknown ICMP type `{name}` for `{proto}`; `{proto}` knows: {known}")]
    UnknownIcmpType {
        name: String,
        proto: String,
        known: String,
    },
    #[error(
        "protocol {0} has its own form: write tcp/PORT, udp/PORT, icmp/TYPE (IPv4) or icmpv6/TYPE (IPv6)"
    )]
    SpecialProtocol(u8),
}

impl Proto {
    /// Parses `tcp/443`, `udp/53`, `icmp/echo-request`, `icmp/8` (IPv4),
    /// `icmpv6/128` (IPv6), `proto/47` or `gre`, for a packet of the given
    /// family, with the policy's literal rules: ports are 1..65535, TCP and
    /// UDP need a port and ICMP a type, numeric ICMP types belong to one
    /// family (`icmp`/`icmpv4` for IPv4, `icmpv6` for IPv6; a name such as
    /// `echo-request` that exists in both families works with `icmp` for
    /// either), and protocols 1, 6, 17 and 58 have their own forms.
    pub fn parse(text: &str, v6: bool) -> Result<Self, PacketParseError> {
        let err = || PacketParseError::Proto(text.to_string());
        let (name, arg) = match text.split_once('/') {
            Some((n, a)) => (n, Some(a)),
            None => (text, None),
        };
        match (name, arg) {
            ("tcp", Some(p)) => Ok(Proto::Tcp { dport: port(p)? }),
            ("udp", Some(p)) => Ok(Proto::Udp { dport: port(p)? }),
            ("tcp" | "udp", None) => Err(PacketParseError::MissingPort(name.to_string())),
            ("icmp" | "icmpv4" | "icmpv6", Some(t)) => icmp(name, t, v6),
            ("icmp" | "icmpv4" | "icmpv6", None) => {
                Err(PacketParseError::MissingType(name.to_string()))
            }
            ("proto", Some(p)) => {
                let n: u8 = match p.parse() {
                    Ok(n) if p.bytes().all(|b| b.is_ascii_digit()) => n,
                    _ => return Err(err()),
                };
                other_protocol(n)
            }
            (other, None) => crate::catalogue::protocol_number(other)
                .ok_or_else(err)
                .and_then(other_protocol),
            _ => Err(err()),
        }
    }
}

/// A destination port: decimal, 1..65535.
fn port(text: &str) -> Result<u16, PacketParseError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PacketParseError::Proto(text.to_string()));
    }
    text.parse::<u16>()
        .ok()
        .filter(|&p| p >= 1)
        .ok_or_else(|| PacketParseError::PortOutOfRange(text.to_string()))
}

/// `icmp/T`, `icmpv4/T`, `icmpv6/T` for a packet of family `v6`.
fn icmp(proto: &str, ty: &str, v6: bool) -> Result<Proto, PacketParseError> {
    let wrong_family = |hint| PacketParseError::IcmpFamily {
        text: format!("{proto}/{ty}"),
        family: if v6 { "IPv6" } else { "IPv4" },
        hint,
    };
    let numeric = !ty.is_empty() && ty.bytes().all(|b| b.is_ascii_digit());
    let for_v6 = match proto {
        "icmpv6" => true,
        "icmpv4" => false,
        // A number in `icmp` is an ICMPv4 type; a name in `icmp` means the
        // message of the packet's own family (as in the policy language).
        _ if numeric => false,
        _ => v6,
    };
    if for_v6 != v6 {
        return Err(wrong_family(if v6 {
            "between IPv6 addresses write icmpv6/TYPE (e.g. icmpv6/128 for echo-request)"
        } else {
            "between IPv4 addresses write icmp/TYPE (e.g. icmp/8 for echo-request)"
        }));
    }
    if numeric {
        return ty
            .parse::<u8>()
            .map(|ty| Proto::Icmp { ty })
            .map_err(|_| PacketParseError::IcmpTypeOutOfRange(ty.to_string()));
    }
    match crate::catalogue::icmp_type(ty, v6) {
        Some(ty) => Ok(Proto::Icmp { ty }),
        None if crate::catalogue::icmp_type(ty, !v6).is_some() => Err(wrong_family(if v6 {
            "that message exists only in ICMP (IPv4)"
        } else {
            "that message exists only in ICMPv6 (IPv6)"
        })),
        None => Err(PacketParseError::UnknownIcmpType {
            name: ty.to_string(),
            proto: proto.to_string(),
            known: crate::catalogue::icmp_names(v6)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// A protocol matched whole; TCP, UDP and the ICMPs have their own forms
/// (the analysis universe, `analysis::space`, has no such packets).
fn other_protocol(n: u8) -> Result<Proto, PacketParseError> {
    match n {
        proto::TCP | proto::UDP | proto::ICMP | proto::ICMPV6 => {
            Err(PacketParseError::SpecialProtocol(n))
        }
        other => Ok(Proto::Other(other)),
    }
}

impl Packet {
    /// Builds a packet from command-line style text: `SRC DST PROTO`, with
    /// the policy's strict address rules ([`crate::source::ip`]).
    pub fn parse(src: &str, dst: &str, proto: &str) -> Result<Self, PacketParseError> {
        let addr = |text: &str| {
            ip::parse_addr(text).map_err(|problem| PacketParseError::Address {
                text: text.to_string(),
                problem,
            })
        };
        let (src_addr, dst_addr) = (addr(src)?, addr(dst)?);
        if src_addr.is_ipv4() != dst_addr.is_ipv4() {
            return Err(PacketParseError::MixedFamilies);
        }
        Ok(Packet {
            src: src_addr,
            dst: dst_addr,
            proto: Proto::parse(proto, src_addr.is_ipv6())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(t: &str) -> Result<Proto, PacketParseError> {
        Proto::parse(t, false)
    }

    fn v6(t: &str) -> Result<Proto, PacketParseError> {
        Proto::parse(t, true)
    }

    #[test]
    fn icmp_follows_the_family() {
        assert_eq!(v6("icmp/echo-request"), Ok(Proto::Icmp { ty: 128 }));
        assert_eq!(v4("icmp/echo-request"), Ok(Proto::Icmp { ty: 8 }));
        assert_eq!(v4("icmp/8"), Ok(Proto::Icmp { ty: 8 }));
        assert_eq!(v4("icmpv4/8"), Ok(Proto::Icmp { ty: 8 }));
        assert_eq!(v6("icmpv6/128"), Ok(Proto::Icmp { ty: 128 }));
        assert!(matches!(
            v6("icmp/8"),
            Err(PacketParseError::IcmpFamily { .. })
        ));
        assert!(matches!(
            v4("icmpv6/128"),
            Err(PacketParseError::IcmpFamily { .. })
        ));
        assert!(matches!(
            v6("icmp/timestamp-request"),
            Err(PacketParseError::IcmpFamily { .. })
        ));
        assert_eq!(
            v4("icmp/256"),
            Err(PacketParseError::IcmpTypeOutOfRange("256".into()))
        );
        assert_eq!(
            v4("icmp"),
            Err(PacketParseError::MissingType("icmp".into()))
        );
    }

    #[test]
    fn ports_are_1_to_65535_and_required() {
        assert_eq!(v4("tcp/443"), Ok(Proto::Tcp { dport: 443 }));
        assert_eq!(v4("udp/65535"), Ok(Proto::Udp { dport: 65535 }));
        assert_eq!(
            v4("tcp/0"),
            Err(PacketParseError::PortOutOfRange("0".into()))
        );
        assert_eq!(
            v4("tcp/70000"),
            Err(PacketParseError::PortOutOfRange("70000".into()))
        );
        assert_eq!(v4("tcp"), Err(PacketParseError::MissingPort("tcp".into())));
        assert_eq!(v6("udp"), Err(PacketParseError::MissingPort("udp".into())));
        assert!(matches!(v4("tcp/+443"), Err(PacketParseError::Proto(_))));
        assert!(matches!(v4("tcp/"), Err(PacketParseError::Proto(_))));
    }

    #[test]
    fn other_protocols_exclude_the_ones_with_their_own_form() {
        assert_eq!(v4("gre"), Ok(Proto::Other(47)));
        assert_eq!(v6("proto/47"), Ok(Proto::Other(47)));
        for special in ["proto/1", "proto/6", "proto/17", "proto/58"] {
            assert!(
                matches!(v4(special), Err(PacketParseError::SpecialProtocol(_))),
                "{special}"
            );
            assert!(matches!(
                v6(special),
                Err(PacketParseError::SpecialProtocol(_))
            ));
        }
        assert!(matches!(v4("proto/256"), Err(PacketParseError::Proto(_))));
    }

    #[test]
    fn addresses_follow_the_policy_literal_rules() {
        let p = |s, d| Packet::parse(s, d, "tcp/443");
        assert!(p("10.0.0.1", "10.0.0.2").is_ok());
        assert!(matches!(
            p("10.0.0.01", "10.0.0.2"),
            Err(PacketParseError::Address {
                problem: IpProblem::LeadingZero { .. },
                ..
            })
        ));
        assert!(matches!(
            p("::ffff:10.0.0.1", "::1"),
            Err(PacketParseError::Address {
                problem: IpProblem::EmbeddedIpv4,
                ..
            })
        ));
        assert!(matches!(
            p("fe80::1%eth0", "fe80::2"),
            Err(PacketParseError::Address {
                problem: IpProblem::ZoneId,
                ..
            })
        ));
        assert_eq!(
            p("10.0.0.1", "fd00::1"),
            Err(PacketParseError::MixedFamilies)
        );
    }

    #[test]
    fn display_reads_back() {
        for (s, d, proto) in [
            ("10.0.0.1", "10.0.0.2", "icmp/8"),
            ("fd00::1", "fd00::2", "icmpv6/128"),
            ("10.0.0.1", "10.0.0.2", "tcp/22"),
            ("fd00::1", "fd00::2", "proto/47"),
        ] {
            let packet = Packet::parse(s, d, proto).unwrap();
            assert_eq!(packet.to_string(), format!("{s} -> {d} {proto}"));
        }
    }
}
