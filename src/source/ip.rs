//! Strict IP address and prefix literals: the one parser the policy
//! (`source`) and `explain`'s packet arguments (`ir::Packet::parse`) share.
//!
//! Firewall configs are read by many tools, and several of them read the
//! same text differently: `inet_aton` and many vendors read `010.1.1.1` as
//! octal (8.1.1.1); `::ffff:10.0.0.1` is an IPv6 address to one tool and an
//! IPv4 host to another; `fe80::1%eth0` carries an interface that a rule
//! cannot. A literal is accepted only in the one form every reader agrees
//! on:
//!
//! - IPv4: exactly four decimal parts `0..=255`, no leading zeros.
//! - IPv6: hexadecimal groups (std's grammar), no embedded dotted IPv4
//!   part, no zone id, and not an IPv4-mapped address (`::ffff:0:0/96`).
//! - Prefix lengths: decimal, no leading zeros, at most 32 / 128.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why a literal is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpProblem {
    /// Not an address at all.
    NotAnAddress,
    /// An IPv4 part (or a prefix length) with a leading zero; carries the
    /// literal written without them.
    LeadingZero { canonical: String },
    /// IPv6 with an embedded dotted IPv4 part, or an IPv4-mapped address.
    EmbeddedIpv4,
    /// IPv6 with a `%zone` suffix.
    ZoneId,
    /// A prefix length beyond the family's width.
    PrefixTooLong { max: u8 },
}

impl IpProblem {
    /// The stable diagnostic code for the problem.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            IpProblem::NotAnAddress => "invalid-address",
            IpProblem::LeadingZero { .. } => "leading-zero",
            IpProblem::EmbeddedIpv4 | IpProblem::ZoneId => "ambiguous-address",
            IpProblem::PrefixTooLong { .. } => "invalid-prefix",
        }
    }

    /// A short label for the literal's span.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            IpProblem::NotAnAddress => "not an address",
            IpProblem::LeadingZero { .. } => "leading zero",
            IpProblem::EmbeddedIpv4 => "IPv4 form of an IPv6 address",
            IpProblem::ZoneId => "zone id",
            IpProblem::PrefixTooLong { .. } => "prefix too long",
        }
    }

    /// A hint that says how to write the literal instead.
    pub(crate) fn hint(&self) -> String {
        match self {
            IpProblem::NotAnAddress => "write a host (\"10.1.2.3\"), a CIDR (\"10.1.2.0/24\") or a range (\"10.1.2.10-10.1.2.20\")".to_string(),
            IpProblem::LeadingZero { canonical } => format!(
                "write \"{canonical}\": many tools read a part with a leading zero as octal (020 is 16)"
            ),
            IpProblem::EmbeddedIpv4 => "write the IPv4 address itself (\"10.0.0.1\"): IPv4-mapped and dotted forms of IPv6 addresses are read as IPv4 by some tools and as IPv6 by others".to_string(),
            IpProblem::ZoneId => "remove the `%zone` suffix: a zone id names an interface, which a rule address cannot carry".to_string(),
            IpProblem::PrefixTooLong { max } => format!("prefix lengths are 0 to {max} for this family"),
        }
    }
}

impl fmt::Display for IpProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpProblem::NotAnAddress => "is not an IP address",
            IpProblem::LeadingZero { .. } => "has a number with a leading zero",
            IpProblem::EmbeddedIpv4 => "is an IPv6 address in IPv4 form (IPv4-mapped or dotted)",
            IpProblem::ZoneId => "has a zone id",
            IpProblem::PrefixTooLong { .. } => "has a prefix length beyond the family's width",
        })
    }
}

/// A host address.
pub(crate) fn parse_addr(text: &str) -> Result<IpAddr, IpProblem> {
    if text.contains(':') {
        parse_v6(text).map(IpAddr::V6)
    } else {
        parse_v4(text).map(IpAddr::V4)
    }
}

/// `ADDR/LEN`. Host bits are the caller's business (the policy reports
/// them with a hint of its own).
pub(crate) fn parse_net(text: &str) -> Result<IpNet, IpProblem> {
    let (addr, len) = text.split_once('/').ok_or(IpProblem::NotAnAddress)?;
    let addr_result = parse_addr(addr);
    let len_result = parse_decimal(len);
    let (addr, len) = match (addr_result, len_result) {
        (Ok(a), Ok(l)) => (a, l),
        (Err(IpProblem::LeadingZero { .. }), _) | (_, Err(IpProblem::LeadingZero { .. })) => {
            return Err(IpProblem::LeadingZero {
                canonical: canonical_net(addr, len),
            });
        }
        (Err(p), _) | (_, Err(p)) => return Err(p),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = u8::try_from(len)
        .ok()
        .filter(|&l| l <= max)
        .ok_or(IpProblem::PrefixTooLong { max })?;
    IpNet::new(addr, len).map_err(|_| IpProblem::PrefixTooLong { max })
}

fn parse_v4(text: &str) -> Result<Ipv4Addr, IpProblem> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 4 {
        return Err(IpProblem::NotAnAddress);
    }
    let mut octets = [0u8; 4];
    let mut leading_zero = false;
    for (octet, part) in octets.iter_mut().zip(&parts) {
        match parse_decimal(part) {
            Ok(n) => *octet = u8::try_from(n).map_err(|_| IpProblem::NotAnAddress)?,
            Err(IpProblem::LeadingZero { canonical }) => {
                leading_zero = true;
                *octet = canonical
                    .parse::<u8>()
                    .map_err(|_| IpProblem::NotAnAddress)?;
            }
            Err(p) => return Err(p),
        }
    }
    let addr = Ipv4Addr::from(octets);
    if leading_zero {
        return Err(IpProblem::LeadingZero {
            canonical: addr.to_string(),
        });
    }
    Ok(addr)
}

fn parse_v6(text: &str) -> Result<Ipv6Addr, IpProblem> {
    if text.contains('%') {
        return Err(IpProblem::ZoneId);
    }
    if text.contains('.') {
        // Validate that it would otherwise be an address, for a precise
        // message: `::ffff:10.0.0.1` is ambiguous, `::1.x` is just wrong.
        return match text.parse::<Ipv6Addr>() {
            Ok(_) => Err(IpProblem::EmbeddedIpv4),
            Err(_) => Err(IpProblem::NotAnAddress),
        };
    }
    let addr: Ipv6Addr = text.parse().map_err(|_| IpProblem::NotAnAddress)?;
    if addr.to_ipv4_mapped().is_some() {
        return Err(IpProblem::EmbeddedIpv4);
    }
    Ok(addr)
}

/// A decimal number of ASCII digits only (no sign, no spaces), without
/// leading zeros; at most 3 digits, which is all an octet or a prefix
/// length needs.
fn parse_decimal(text: &str) -> Result<u32, IpProblem> {
    if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IpProblem::NotAnAddress);
    }
    let n: u32 = text.parse().map_err(|_| IpProblem::NotAnAddress)?;
    if text.len() > 1 && text.starts_with('0') {
        return Err(IpProblem::LeadingZero {
            canonical: n.to_string(),
        });
    }
    Ok(n)
}

/// `addr/len` with the leading zeros of both parts removed (for the hint);
/// parts that are not numbers are kept as written.
fn canonical_net(addr: &str, len: &str) -> String {
    let strip = |part: &str| match parse_decimal(part) {
        Err(IpProblem::LeadingZero { canonical }) => canonical,
        _ => part.to_string(),
    };
    let addr = if addr.contains(':') {
        addr.to_string()
    } else {
        addr.split('.').map(strip).collect::<Vec<_>>().join(".")
    };
    format!("{addr}/{}", strip(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zero(canonical: &str) -> IpProblem {
        IpProblem::LeadingZero {
            canonical: canonical.to_string(),
        }
    }

    #[test]
    fn ipv4_is_four_plain_decimal_parts() {
        assert_eq!(parse_addr("10.0.0.1"), Ok("10.0.0.1".parse().unwrap()));
        assert_eq!(parse_addr("0.0.0.0"), Ok("0.0.0.0".parse().unwrap()));
        assert_eq!(parse_addr("10.10.020.40"), Err(zero("10.10.20.40")));
        assert_eq!(parse_addr("010.0.0.1"), Err(zero("10.0.0.1")));
        assert_eq!(parse_addr("00.0.0.1"), Err(zero("0.0.0.1")));
        for bad in [
            "10.0.0",
            "10.0.0.1.2",
            "10.0.0.256",
            "10.0.0.+1",
            " 10.0.0.1",
            "10.0.0.1 ",
            "10..0.1",
            "0x0a.0.0.1",
            "1e1.0.0.1",
            "10.0.0.0001",
            "",
        ] {
            assert_eq!(parse_addr(bad), Err(IpProblem::NotAnAddress), "{bad:?}");
        }
    }

    #[test]
    fn ipv6_refuses_forms_other_tools_read_differently() {
        assert!(parse_addr("fd42:1::5").is_ok());
        assert!(
            parse_addr("fd42:0001::0005").is_ok(),
            "hex groups may be padded"
        );
        assert!(parse_addr("::").is_ok());
        assert_eq!(parse_addr("::ffff:10.0.0.1"), Err(IpProblem::EmbeddedIpv4));
        assert_eq!(parse_addr("::10.0.0.1"), Err(IpProblem::EmbeddedIpv4));
        assert_eq!(parse_addr("64:ff9b::1.2.3.4"), Err(IpProblem::EmbeddedIpv4));
        assert_eq!(parse_addr("::ffff:a00:1"), Err(IpProblem::EmbeddedIpv4));
        assert_eq!(parse_addr("fe80::1%eth0"), Err(IpProblem::ZoneId));
        assert_eq!(parse_addr("fd42::1::2"), Err(IpProblem::NotAnAddress));
        assert_eq!(parse_addr("::1.2.3"), Err(IpProblem::NotAnAddress));
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            parse_net("10.20.4.0/23"),
            Ok("10.20.4.0/23".parse().unwrap())
        );
        assert_eq!(parse_net("10.020.4.0/23"), Err(zero("10.20.4.0/23")));
        assert_eq!(parse_net("10.20.4.0/023"), Err(zero("10.20.4.0/23")));
        assert_eq!(parse_net("fd00::/08"), Err(zero("fd00::/8")));
        assert_eq!(parse_net("0.0.0.0/0"), Ok("0.0.0.0/0".parse().unwrap()));
        assert_eq!(
            parse_net("10.0.0.0/33"),
            Err(IpProblem::PrefixTooLong { max: 32 })
        );
        assert_eq!(
            parse_net("fd00::/129"),
            Err(IpProblem::PrefixTooLong { max: 128 })
        );
        assert_eq!(parse_net("10.0.0.0/+8"), Err(IpProblem::NotAnAddress));
        assert_eq!(parse_net("10.0.0.0/"), Err(IpProblem::NotAnAddress));
        assert_eq!(parse_net("::ffff:0:0/96"), Err(IpProblem::EmbeddedIpv4));
        assert!(parse_net("::/0").is_ok());
        // Host bits are reported by the caller, with its own hint.
        assert_eq!(parse_net("10.0.0.1/24"), Ok("10.0.0.1/24".parse().unwrap()));
    }
}
