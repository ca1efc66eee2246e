//! Literal values and free text: names, addresses, CIDRs and ranges,
//! ports, service literals, identifiers and CVE ids.

use ipnet::IpNet;

use super::ip::{self, IpProblem};

use super::decode::Cx;
use super::tree::{AddrLiteral, EndpointText, ServiceText, Spanned};

use crate::addrset::{AddrSet, ByteSet, PortSet};
use crate::catalogue;
use crate::diagnostics::{Diagnostic, Span};
use crate::vocab::ServiceSet;

/// What kind of forbidden character `c` is, for messages.
pub(super) fn char_kind(c: char) -> &'static str {
    match u32::from(c) {
        0x0A | 0x0D => "a line break",
        0x2028 | 0x2029 => "a line or paragraph separator",
        0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069 => {
            "a bidirectional text control"
        }
        _ if c.is_control() => "a control character",
        _ => "a noncharacter (XML cannot carry it)",
    }
}

pub(super) fn name_problem(name: &str) -> Option<&'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Some("it is empty"),
        Some(c) if !c.is_ascii_alphabetic() => return Some("it must start with a letter"),
        _ => {}
    }
    if name.len() > 63 {
        return Some("it is longer than 63 characters");
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Some("it contains a character other than a letter, digit, `-`, `_` or `.`");
    }
    if name == "any" {
        return Some("`any` is reserved");
    }
    None
}
pub(super) fn is_interface_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 31
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | ':' | '-'))
}

pub(super) fn parse_prefix(cx: &mut Cx<'_>, s: &Spanned<String>) -> Option<Spanned<IpNet>> {
    match parse_addr_literal(&s.value) {
        Ok((set, Some(net))) => {
            let _ = set;
            Some(Spanned {
                value: net,
                span: s.span,
            })
        }
        Ok((_, None)) => {
            let d = Diagnostic::error(
                "invalid-prefix",
                format!("`{}` is a range, not a prefix", s.value),
            )
            .at(s.span, "zones take CIDR prefixes")
            .help("write the zone as one or more CIDR prefixes, e.g. \"10.20.0.0/16\"");
            cx.error(d);
            None
        }
        Err(problem) => {
            cx.error(problem.into_diagnostic(s));
            None
        }
    }
}

/// A problem with an address literal.
#[derive(Debug)]
pub(super) enum AddrProblem {
    /// The literal itself (a host, a prefix, an end of a range) is refused
    /// by the strict parser.
    Ip(IpProblem),
    HostBits(IpNet),
    Inverted,
    MixedRange,
}

impl From<IpProblem> for AddrProblem {
    fn from(p: IpProblem) -> Self {
        AddrProblem::Ip(p)
    }
}

impl AddrProblem {
    fn into_diagnostic(self, s: &Spanned<String>) -> Diagnostic {
        match self {
            AddrProblem::Ip(IpProblem::NotAnAddress) => Diagnostic::error(
                "invalid-address",
                format!(
                    "`{}` is not an IP address, CIDR or range",
                    s.value.escape_debug()
                ),
            )
            .at(s.span, "not an address")
            .help(IpProblem::NotAnAddress.hint()),
            AddrProblem::Ip(p) => {
                Diagnostic::error(p.code(), format!("`{}` {p}", s.value.escape_debug()))
                    .at(s.span, p.label())
                    .help(p.hint())
            }
            AddrProblem::HostBits(net) => {
                Diagnostic::error("host-bits-set", format!("`{}` has host bits set", s.value))
                    .at(s.span, "host bits set")
                    .help(format!(
                        "did you mean \"{}\"? (or \"{}\" for the single host)",
                        net.trunc(),
                        net.addr()
                    ))
            }
            AddrProblem::Inverted => Diagnostic::error(
                "inverted-range",
                format!("range `{}` ends before it starts", s.value),
            )
            .at(s.span, "inverted range")
            .help("write the lower address first"),
            AddrProblem::MixedRange => Diagnostic::error(
                "mixed-family-range",
                format!("range `{}` mixes IPv4 and IPv6", s.value),
            )
            .at(s.span, "mixed families")
            .help("both ends of a range must be of the same family"),
        }
    }
}

/// Parses a host, CIDR or range with the strict literal rules of
/// [`ip`]. Returns the set and, for hosts and CIDRs, the prefix.
pub(super) fn parse_addr_literal(text: &str) -> Result<(AddrSet, Option<IpNet>), AddrProblem> {
    if text.contains('/') {
        let net = ip::parse_net(text)?;
        if net.trunc() != net {
            return Err(AddrProblem::HostBits(net));
        }
        return Ok((AddrSet::from_net(net), Some(net)));
    }
    if let Some((lo, hi)) = text.split_once('-') {
        let (lo, hi) = match (ip::parse_addr(lo.trim()), ip::parse_addr(hi.trim())) {
            (Ok(lo), Ok(hi)) => (lo, hi),
            (Err(IpProblem::LeadingZero { .. }), _) | (_, Err(IpProblem::LeadingZero { .. })) => {
                return Err(IpProblem::LeadingZero {
                    canonical: format!(
                        "{}-{}",
                        without_leading_zeros(lo),
                        without_leading_zeros(hi)
                    ),
                }
                .into());
            }
            (Err(p), _) | (_, Err(p)) => return Err(p.into()),
        };
        if lo.is_ipv4() != hi.is_ipv4() {
            return Err(AddrProblem::MixedRange);
        }
        if lo > hi {
            return Err(AddrProblem::Inverted);
        }
        return Ok((AddrSet::from_range(lo, hi), None));
    }
    let addr = ip::parse_addr(text)?;
    let net = IpNet::from(addr);
    Ok((AddrSet::from_net(net), Some(net)))
}

/// One end of a range as the hint should show it.
pub(super) fn without_leading_zeros(end: &str) -> String {
    match ip::parse_addr(end.trim()) {
        Err(IpProblem::LeadingZero { canonical }) => canonical,
        _ => end.trim().to_string(),
    }
}

/// Whether text looks like an address literal rather than a name (so that a
/// bad literal gets an address error, not "unknown name").
/// Whether an unquoted token is a date written `YYYY-MM-DD` (KDL reads
/// it as a broken number; the usual address hint would mislead).
pub(super) fn looks_like_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

pub(super) fn looks_like_address(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_digit()) || text.contains(':')
}

pub(super) fn addr_literal(cx: &mut Cx<'_>, s: &Spanned<String>) -> Option<Spanned<AddrLiteral>> {
    match parse_addr_literal(&s.value) {
        Ok((set, _)) => Some(Spanned {
            value: AddrLiteral {
                text: s.value.clone(),
                set,
            },
            span: s.span,
        }),
        Err(p) => {
            cx.error(p.into_diagnostic(s));
            None
        }
    }
}
pub(super) fn port_number(n: i128) -> Option<u16> {
    u16::try_from(n).ok().filter(|&p| p >= 1)
}

pub(super) fn port_range_error(span: Span, text: &str) -> Diagnostic {
    Diagnostic::error(
        "port-out-of-range",
        format!("port `{text}` is outside 1..65535"),
    )
    .at(span, "not a valid port")
    .help("ports are 1 to 65535; leave the port list out (`tcp`) to mean every port")
}

pub(super) fn is_identifier_text(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 512
        && s.chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '<' | '>' | '\\' | '`'))
}

pub(super) fn is_cve(s: &str) -> bool {
    let mut parts = s.split('-');
    parts.next() == Some("CVE")
        && parts
            .next()
            .is_some_and(|y| y.len() == 4 && y.chars().all(|c| c.is_ascii_digit()))
        && parts
            .next()
            .is_some_and(|n| n.len() >= 4 && n.chars().all(|c| c.is_ascii_digit()))
        && parts.next().is_none()
}

pub(super) fn endpoint_text(cx: &mut Cx<'_>, s: Spanned<String>) -> Option<Spanned<EndpointText>> {
    let value = if s.value == "any" {
        EndpointText::Any
    } else if looks_like_address(&s.value) {
        EndpointText::Literal(Box::new(addr_literal(cx, &s)?.value))
    } else if cx.check_name(&s) {
        EndpointText::Name(s.value)
    } else {
        return None;
    };
    Some(Spanned {
        value,
        span: s.span,
    })
}

/// `"https"` (a name), `"any"`, or a literal such as `"tcp/443"`,
/// `"udp/5000-5010"`, `"icmp/echo-request"`, `"proto/gre"`, `"proto/47"`.
pub(super) fn service_text(cx: &mut Cx<'_>, s: Spanned<String>) -> Option<Spanned<ServiceText>> {
    if s.value == "any" {
        return Some(Spanned {
            value: ServiceText::Literal("any".to_string(), ServiceSet::any()),
            span: s.span,
        });
    }
    let Some((proto, arg)) = s.value.split_once('/') else {
        if cx.check_name(&s) {
            return Some(Spanned {
                value: ServiceText::Name(s.value),
                span: s.span,
            });
        }
        return None;
    };
    let mut set = ServiceSet::default();
    let bad = |cx: &mut Cx<'_>, why: String| {
        let d = Diagnostic::error("invalid-service", format!("`{}` is not a service", s.value))
            .at(s.span, why)
            .help("write a service name, `any`, or a literal such as \"tcp/443\", \"udp/5000-5010\", \"icmp/echo-request\", \"proto/gre\"");
        cx.error(d);
    };
    match proto {
        "tcp" | "udp" => {
            let range = match arg.split_once('-') {
                Some((a, b)) => (a.parse::<i128>().ok(), b.parse::<i128>().ok()),
                None => (arg.parse::<i128>().ok(), arg.parse::<i128>().ok()),
            };
            let ports = match range {
                (Some(a), Some(b)) => match (port_number(a), port_number(b)) {
                    (Some(a), Some(b)) if a <= b => PortSet::range(a, b),
                    (Some(_), Some(_)) => {
                        let d = Diagnostic::error(
                            "inverted-range",
                            format!("port range `{}` ends before it starts", s.value),
                        )
                        .at(s.span, "inverted range")
                        .help("write the lower port first");
                        cx.error(d);
                        return None;
                    }
                    _ => {
                        cx.error(port_range_error(s.span, arg));
                        return None;
                    }
                },
                _ => {
                    bad(
                        cx,
                        "expected a port or FIRST-LAST after the slash".to_string(),
                    );
                    return None;
                }
            };
            if proto == "tcp" {
                set.tcp = ports
            } else {
                set.udp = ports
            }
        }
        "icmp" | "icmpv4" | "icmpv6" => {
            let v6 = proto == "icmpv6";
            let both = proto == "icmp";
            let t4 = (!v6).then(|| catalogue::icmp_type(arg, false)).flatten();
            let t6 = (v6 || both)
                .then(|| catalogue::icmp_type(arg, true))
                .flatten();
            let numeric = arg.parse::<u8>().ok().filter(|_| !both);
            match (t4, t6, numeric) {
                (_, _, Some(n)) if v6 => set.icmp6 = ByteSet::single(n),
                (_, _, Some(n)) => set.icmp4 = ByteSet::single(n),
                (Some(a), Some(b), None) if both => {
                    set.icmp4 = ByteSet::single(a);
                    set.icmp6 = ByteSet::single(b);
                }
                (Some(a), None, None) if !both => set.icmp4 = ByteSet::single(a),
                (None, Some(b), None) if !both => set.icmp6 = ByteSet::single(b),
                _ => {
                    bad(cx, format!("unknown ICMP type `{arg}` for `{proto}`"));
                    return None;
                }
            }
        }
        "proto" => {
            let number = arg
                .parse::<u8>()
                .ok()
                .or_else(|| catalogue::protocol_number(arg));
            match number {
                Some(1 | 6 | 17 | 58) => {
                    bad(
                        cx,
                        format!("use tcp/, udp/, icmpv4/ or icmpv6/ for protocol `{arg}`"),
                    );
                    return None;
                }
                Some(n) => set.protocols = ByteSet::single(n),
                None => {
                    bad(cx, format!("unknown protocol `{arg}`"));
                    return None;
                }
            }
        }
        _ => {
            bad(cx, format!("unknown protocol `{proto}`"));
            return None;
        }
    }
    Some(Spanned {
        value: ServiceText::Literal(s.value, set),
        span: s.span,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_restricted() {
        assert!(name_problem("icu-monitors").is_none());
        assert!(name_problem("a.b_c-1").is_none());
        assert!(name_problem("1abc").is_some());
        assert!(name_problem("has space").is_some());
        assert!(name_problem("quote\"").is_some());
        assert!(name_problem("any").is_some());
        assert!(name_problem(&"a".repeat(64)).is_some());
    }

    #[test]
    fn address_literals() {
        assert!(parse_addr_literal("10.0.0.1").is_ok());
        assert!(matches!(
            parse_addr_literal("10.0.0.1/24"),
            Err(AddrProblem::HostBits(_))
        ));
        assert!(matches!(
            parse_addr_literal("10.0.0.9-10.0.0.1"),
            Err(AddrProblem::Inverted)
        ));
        assert!(matches!(
            parse_addr_literal("10.0.0.1-::1"),
            Err(AddrProblem::MixedRange)
        ));
        assert!(matches!(
            parse_addr_literal("10.0.0.256"),
            Err(AddrProblem::Ip(IpProblem::NotAnAddress))
        ));
        for zeros in ["10.020.4.0/23", "10.10.020.40", "10.0.0.01-10.0.0.9"] {
            assert!(
                matches!(
                    parse_addr_literal(zeros),
                    Err(AddrProblem::Ip(IpProblem::LeadingZero { .. }))
                ),
                "{zeros}"
            );
        }
        let (set, _) = parse_addr_literal("fd00:20::/48").unwrap();
        assert!(set.contains("fd00:20::1".parse().unwrap()));
    }
}
