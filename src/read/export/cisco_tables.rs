//! The Cisco IOS / IOS-XE keyword tables of the device export reader
//! ([`super::cisco`]), written from Cisco's documentation and models, never
//! taken from the renderer: a mistake the two shared would read back green.

use crate::vocab::Family;

/// TCP port names IOS takes in `eq`/`neq`/`lt`/`gt`/`range`, and their
/// numbers: the `acl-tcp-port-type` enumeration of Cisco-IOS-XE-types.yang
/// (YangModels/yang `vendor/cisco/xe`, as generated into CiscoDevNet
/// ydk-cpp `cisco_ios_xe/Cisco_IOS_XE_types.cpp`), which is the list IOS
/// prints for `permit tcp any any eq ?` (TechRepublic, "Why you need to
/// know Cisco IOS ACL port numbers", IOS 12.4 on a 2800).
pub(crate) const TCP_PORTS: &[(&str, u16)] = &[
    ("bgp", 179),
    ("chargen", 19),
    ("cmd", 514),
    ("daytime", 13),
    ("discard", 9),
    ("domain", 53),
    ("echo", 7),
    ("exec", 512),
    ("finger", 79),
    ("ftp", 21),
    ("ftp-data", 20),
    ("gopher", 70),
    ("hostname", 101),
    ("ident", 113),
    ("irc", 194),
    ("klogin", 543),
    ("kshell", 544),
    ("login", 513),
    ("lpd", 515),
    ("msrpc", 135),
    ("nntp", 119),
    ("pim-auto-rp", 496),
    ("pop2", 109),
    ("pop3", 110),
    ("smtp", 25),
    ("sunrpc", 111),
    ("tacacs", 49),
    ("talk", 517),
    ("telnet", 23),
    ("time", 37),
    ("uucp", 540),
    ("whois", 43),
    ("www", 80),
];

/// UDP port names: the `acl-udp-port-type` enumeration of the same model.
pub(crate) const UDP_PORTS: &[(&str, u16)] = &[
    ("biff", 512),
    ("bootpc", 68),
    ("bootps", 67),
    ("discard", 9),
    ("dnsix", 195),
    ("domain", 53),
    ("echo", 7),
    ("isakmp", 500),
    ("mobile-ip", 434),
    ("nameserver", 42),
    ("netbios-dgm", 138),
    ("netbios-ns", 137),
    ("netbios-ss", 139),
    ("non500-isakmp", 4500),
    ("ntp", 123),
    ("pim-auto-rp", 496),
    ("rip", 520),
    ("ripv6", 521),
    ("snmp", 161),
    ("snmptrap", 162),
    ("sunrpc", 111),
    ("syslog", 514),
    ("tacacs", 49),
    ("talk", 517),
    ("tftp", 69),
    ("time", 37),
    ("who", 513),
    ("xdmcp", 177),
];

/// IP protocol names of `permit`/`deny` in an IPv4 ACL (besides `ip`,
/// `tcp`, `udp`, `icmp`, `object-group`), per the IOS command reference,
/// "deny (IP)" / "permit (IP)": ahp, eigrp, esp, gre, igmp, ipinip, nos,
/// ospf, pcp, pim (Cisco IOS Security Command Reference; numbers from the
/// IANA protocol registry, as IOS prints them in `show access-lists` when
/// given as numbers).
pub(crate) const V4_PROTOCOLS: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("ipinip", 4),
    ("tcp", 6),
    ("udp", 17),
    ("gre", 47),
    ("esp", 50),
    ("ahp", 51),
    ("eigrp", 88),
    ("ospf", 89),
    ("nos", 94),
    ("pim", 103),
    ("pcp", 108),
];

/// IP protocol names of `permit`/`deny` in an IPv6 ACL (besides `ipv6`):
/// IOS IPv6 command reference, "permit (IPv6)": ahp, esp, icmp (ICMPv6),
/// pcp, sctp, tcp, udp.
pub(crate) const V6_PROTOCOLS: &[(&str, u8)] = &[
    ("tcp", 6),
    ("udp", 17),
    ("esp", 50),
    ("ahp", 51),
    ("icmp", 58),
    ("pcp", 108),
    ("sctp", 132),
];

/// An ICMP message keyword: its type and, when it names one, its code
/// (`None`: every code of the type).
pub(crate) struct IcmpName {
    pub family: Family,
    pub name: &'static str,
    pub ty: u8,
    pub code: Option<u8>,
}

const fn v4(name: &'static str, ty: u8, code: Option<u8>) -> IcmpName {
    IcmpName {
        family: Family::V4,
        name,
        ty,
        code,
    }
}

const fn v6(name: &'static str, ty: u8) -> IcmpName {
    IcmpName {
        family: Family::V6,
        name,
        ty,
        code: None,
    }
}

/// The ICMP message keywords of `permit icmp` / `deny icmp`.
///
/// IPv4: the IOS `icmp-message` keyword table of "deny (IP)" / "permit
/// (IP)" in the Cisco IOS Security Command Reference (the same 43 names
/// the IOS-XE YANG model's `ipv4-acl-icmp-match` groups list), with the
/// type and code each names: the codes follow RFC 792, RFC 1122 and RFC
/// 1812 (destination unreachable codes 0-15, redirect codes 0-3,
/// time-exceeded codes 0-1, parameter-problem codes 0-2).
///
/// IPv6: the whole-type keywords of "permit icmp (IPv6)" (RFC 4443 types
/// 1-4, 128, 129; RFC 4861 types 133-136). IPv6 keywords that name a code
/// are not in the table, so the reader refuses them rather than guess.
pub(crate) const ICMP_NAMES: &[IcmpName] = &[
    v4("administratively-prohibited", 3, Some(13)),
    v4("alternate-address", 6, None),
    v4("conversion-error", 31, None),
    v4("dod-host-prohibited", 3, Some(10)),
    v4("dod-net-prohibited", 3, Some(9)),
    v4("echo", 8, None),
    v4("echo-reply", 0, None),
    v4("general-parameter-problem", 12, Some(0)),
    v4("host-isolated", 3, Some(8)),
    v4("host-precedence-unreachable", 3, Some(14)),
    v4("host-redirect", 5, Some(1)),
    v4("host-tos-redirect", 5, Some(3)),
    v4("host-tos-unreachable", 3, Some(12)),
    v4("host-unknown", 3, Some(7)),
    v4("host-unreachable", 3, Some(1)),
    v4("information-reply", 16, None),
    v4("information-request", 15, None),
    v4("mask-reply", 18, None),
    v4("mask-request", 17, None),
    v4("mobile-redirect", 32, None),
    v4("net-redirect", 5, Some(0)),
    v4("net-tos-redirect", 5, Some(2)),
    v4("net-tos-unreachable", 3, Some(11)),
    v4("net-unreachable", 3, Some(0)),
    v4("network-unknown", 3, Some(6)),
    v4("no-room-for-option", 12, Some(2)),
    v4("option-missing", 12, Some(1)),
    v4("packet-too-big", 3, Some(4)),
    v4("parameter-problem", 12, None),
    v4("port-unreachable", 3, Some(3)),
    v4("precedence-unreachable", 3, Some(15)),
    v4("protocol-unreachable", 3, Some(2)),
    v4("reassembly-timeout", 11, Some(1)),
    v4("redirect", 5, None),
    v4("router-advertisement", 9, None),
    v4("router-solicitation", 10, None),
    v4("source-quench", 4, None),
    v4("source-route-failed", 3, Some(5)),
    v4("time-exceeded", 11, None),
    v4("timestamp-reply", 14, None),
    v4("timestamp-request", 13, None),
    v4("traceroute", 30, None),
    v4("ttl-exceeded", 11, Some(0)),
    v4("unreachable", 3, None),
    v6("unreachable", 1),
    v6("packet-too-big", 2),
    v6("time-exceeded", 3),
    v6("parameter-problem", 4),
    v6("echo-request", 128),
    v6("echo-reply", 129),
    v6("router-solicitation", 133),
    v6("router-advertisement", 134),
    v6("nd-ns", 135),
    v6("nd-na", 136),
];

/// The ICMP keyword `name` of `family`.
pub(crate) fn icmp_name(name: &str, family: Family) -> Option<&'static IcmpName> {
    ICMP_NAMES
        .iter()
        .find(|n| n.family == family && n.name == name)
}

/// The port number of a port name for `udp` (else TCP).
pub(crate) fn port_name(name: &str, udp: bool) -> Option<u16> {
    let table = if udp { UDP_PORTS } else { TCP_PORTS };
    table.iter().find(|(n, _)| *n == name).map(|&(_, p)| p)
}

/// The protocol number of a protocol keyword in an ACL of `family`.
pub(crate) fn protocol_name(name: &str, family: Family) -> Option<u8> {
    let table = match family {
        Family::V4 => V4_PROTOCOLS,
        Family::V6 => V6_PROTOCOLS,
    };
    table.iter().find(|(n, _)| *n == name).map(|&(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_name_each_keyword_once() {
        for table in [TCP_PORTS, UDP_PORTS] {
            for (i, (n, _)) in table.iter().enumerate() {
                assert!(!table[..i].iter().any(|(m, _)| m == n), "{n}");
                // The reader takes a word that starts with a digit for a
                // number or nothing, never a name.
                assert!(!n.starts_with(|c: char| c.is_ascii_digit()), "{n}");
            }
        }
        for (i, a) in ICMP_NAMES.iter().enumerate() {
            assert!(
                !ICMP_NAMES[..i]
                    .iter()
                    .any(|b| b.family == a.family && b.name == a.name),
                "{}",
                a.name
            );
        }
    }

    #[test]
    fn documented_values() {
        assert_eq!(port_name("www", false), Some(80));
        assert_eq!(port_name("www", true), None, "www is a TCP name only");
        assert_eq!(port_name("ntp", true), Some(123));
        assert_eq!(port_name("domain", true), Some(53));
        assert_eq!(port_name("lpd", false), Some(515));
        let port_unreachable = icmp_name("port-unreachable", Family::V4).unwrap();
        assert_eq!((port_unreachable.ty, port_unreachable.code), (3, Some(3)));
        assert_eq!(icmp_name("echo", Family::V4).unwrap().ty, 8);
        assert_eq!(icmp_name("echo-request", Family::V6).unwrap().ty, 128);
        assert!(icmp_name("echo", Family::V6).is_none());
        assert_eq!(icmp_name("nd-na", Family::V6).unwrap().ty, 136);
        assert_eq!(protocol_name("gre", Family::V4), Some(47));
        assert_eq!(protocol_name("icmp", Family::V6), Some(58));
    }
}
