//! Built-in names: the service catalogue, ICMP type names and IP protocol
//! names. The catalogue is written in the policy language itself
//! (`catalogue.kdl`) so it is read, validated and documented like any other
//! policy file; a policy's own `service` of the same name replaces it.

/// The built-in service catalogue, as KDL.
pub(crate) const SERVICES_KDL: &str = include_str!("catalogue.kdl");

/// Name under which diagnostics show the catalogue.
pub(crate) const SERVICES_FILE: &str = "<built-in catalogue>";

/// ICMP (IPv4) type names.
const ICMP4: &[(&str, u8)] = &[
    ("echo-reply", 0),
    ("destination-unreachable", 3),
    ("redirect", 5),
    ("echo-request", 8),
    ("router-advertisement", 9),
    ("router-solicitation", 10),
    ("time-exceeded", 11),
    ("parameter-problem", 12),
    ("timestamp-request", 13),
    ("timestamp-reply", 14),
];

/// ICMPv6 type names.
const ICMP6: &[(&str, u8)] = &[
    ("destination-unreachable", 1),
    ("packet-too-big", 2),
    ("time-exceeded", 3),
    ("parameter-problem", 4),
    ("echo-request", 128),
    ("echo-reply", 129),
    ("mld-listener-query", 130),
    ("mld-listener-report", 131),
    ("mld-listener-done", 132),
    ("nd-router-solicit", 133),
    ("nd-router-advert", 134),
    ("nd-neighbor-solicit", 135),
    ("nd-neighbor-advert", 136),
    ("nd-redirect", 137),
];

/// The ICMP type number of `name` in the given family.
pub(crate) fn icmp_type(name: &str, v6: bool) -> Option<u8> {
    let table = if v6 { ICMP6 } else { ICMP4 };
    table.iter().find(|(n, _)| *n == name).map(|&(_, t)| t)
}

/// Names that exist in both families (valid in a family-neutral `icmp` line).
pub(crate) fn icmp_names_both() -> impl Iterator<Item = &'static str> {
    ICMP4
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| icmp_type(n, true).is_some())
}

pub(crate) fn icmp_names(v6: bool) -> impl Iterator<Item = &'static str> {
    (if v6 { ICMP6 } else { ICMP4 }).iter().map(|(n, _)| *n)
}

/// IP protocols that a service may name with `protocol`. TCP, UDP, ICMP and
/// ICMPv6 are not here: they have their own lines (with ports and types).
const PROTOCOLS: &[(&str, u8)] = &[
    ("igmp", 2),
    ("ipip", 4),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("ospf", 89),
    ("pim", 103),
    ("vrrp", 112),
    ("sctp", 132),
];

pub(crate) fn protocol_number(name: &str) -> Option<u8> {
    PROTOCOLS.iter().find(|(n, _)| *n == name).map(|&(_, p)| p)
}

pub(crate) fn protocol_names() -> impl Iterator<Item = &'static str> {
    PROTOCOLS.iter().map(|(n, _)| *n)
}

/// The name of a protocol number, for display.
pub(crate) fn protocol_name(number: u8) -> Option<&'static str> {
    PROTOCOLS
        .iter()
        .find(|(_, p)| *p == number)
        .map(|&(n, _)| n)
}
