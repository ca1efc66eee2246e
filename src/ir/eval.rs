//! The reference semantics: which rule decides a packet.
//!
//! Every target is tested against this function. It reads the IR only, so a
//! renderer that disagrees with it is wrong by definition.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::{Action, Ir, Rule, ServiceSet, proto};

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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {} {}", self.src, self.dst, self.proto)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketParseError {
    #[error("`{0}` is not an IP address")]
    Address(String),
    #[error("source and destination must be of the same family (IPv4 or IPv6)")]
    MixedFamilies,
    #[error(
        "`{0}` is not a protocol: expected tcp/PORT, udp/PORT, icmp/TYPE (a number or a name such as echo-request), or proto/NUMBER"
    )]
    Proto(String),
}

impl Proto {
    /// Parses `tcp/443`, `udp/53`, `icmp/echo-request`, `icmp/8`, `proto/47`
    /// (or `gre`, `esp`, ...). ICMP type names are resolved for `family`.
    pub fn parse(text: &str, v6: bool) -> Result<Self, PacketParseError> {
        let err = || PacketParseError::Proto(text.to_string());
        let (name, arg) = match text.split_once('/') {
            Some((n, a)) => (n, Some(a)),
            None => (text, None),
        };
        match (name, arg) {
            ("tcp", Some(p)) => Ok(Proto::Tcp {
                dport: p.parse().map_err(|_| err())?,
            }),
            ("udp", Some(p)) => Ok(Proto::Udp {
                dport: p.parse().map_err(|_| err())?,
            }),
            ("icmp" | "icmpv6", Some(t)) => {
                let ty = match t.parse::<u8>() {
                    Ok(n) => n,
                    Err(_) => crate::catalogue::icmp_type(t, v6).ok_or_else(err)?,
                };
                Ok(Proto::Icmp { ty })
            }
            ("proto", Some(p)) => {
                let n: u8 = p.parse().map_err(|_| err())?;
                Ok(Self::from_number(n, v6))
            }
            (other, None) => crate::catalogue::ip_protocol(other)
                .map(|n| Self::from_number(n, v6))
                .ok_or_else(err),
            _ => Err(err()),
        }
    }

    /// A protocol without a port or type: TCP/UDP default to port 0, which no
    /// service names, so only `any` rules match it. ICMP is the family's own
    /// ICMP (1 for IPv4, 58 for IPv6); the other family's number is just
    /// another protocol.
    fn from_number(n: u8, v6: bool) -> Self {
        match n {
            proto::TCP => Proto::Tcp { dport: 0 },
            proto::UDP => Proto::Udp { dport: 0 },
            proto::ICMP if !v6 => Proto::Icmp { ty: 0 },
            proto::ICMPV6 if v6 => Proto::Icmp { ty: 0 },
            other => Proto::Other(other),
        }
    }
}

impl Packet {
    /// Builds a packet from command-line style text: `SRC DST PROTO`.
    pub fn parse(src: &str, dst: &str, proto: &str) -> Result<Self, PacketParseError> {
        let src_addr =
            IpAddr::from_str(src).map_err(|_| PacketParseError::Address(src.to_string()))?;
        let dst_addr =
            IpAddr::from_str(dst).map_err(|_| PacketParseError::Address(dst.to_string()))?;
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

    #[test]
    fn icmp_protocol_numbers_follow_the_family() {
        let v4 = |t| Proto::parse(t, false).unwrap();
        let v6 = |t| Proto::parse(t, true).unwrap();
        assert_eq!(v4("proto/1"), Proto::Icmp { ty: 0 });
        assert_eq!(v4("proto/58"), Proto::Other(58));
        assert_eq!(v6("proto/58"), Proto::Icmp { ty: 0 });
        assert_eq!(v6("proto/1"), Proto::Other(1));
        assert_eq!(v4("gre"), Proto::Other(47));
        assert_eq!(v6("icmp/echo-request"), Proto::Icmp { ty: 128 });
        assert_eq!(v4("icmp/echo-request"), Proto::Icmp { ty: 8 });
    }
}
