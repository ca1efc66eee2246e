//! A strict reader for exactly the IOS subset the cisco renderer emits, and
//! a first-match evaluator over what it read.
//!
//! The reader *executes* the file line by line as a router would (define
//! groups and ACLs, bind them to interfaces, delete ACLs) and refuses
//! anything outside the emitted subset, and any step that would leave an
//! interface unprotected: binding an ACL that does not exist, deleting an
//! ACL that is still bound, redefining an ACL or group without deleting it,
//! using a group before it is defined. IPv4 entries may name an IOS-XE
//! `object-group service` in the protocol position; its members are read
//! exactly (`tcp|udp eq P`, `tcp|udp range A B`, bare `tcp`/`udp`/`icmp`,
//! `icmp KEYWORD`) and an entry matches when any member does.
//! The final state is what [`Config::evaluate`] answers from; tests hold it
//! to the IR's reference evaluator, and `wardwall explain --target cisco`
//! can answer from it.
//!
//! Nothing here is taken from the renderer (see the note on the reader's
//! own knowledge of IOS below).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::{Reader, TargetVerdict, same_subnet_note};
use crate::ir::Family;
use crate::vocab::Target;

// The reader's own knowledge of IOS, written from Cisco's documentation and
// never taken from the renderer: a mistake shared by the renderer and its
// reader would read back green.

/// The target the reader answers for (`explain --target cisco`).
const TARGET: &str = Target::Cisco.name();

/// Longest remark (and description) IOS-XE takes: "Each remark is limited
/// to 100 characters" (IOS-XE 16.7 security configuration guide, IP access
/// lists); Cisco-IOS-XE-acl.yang, `acl-remark-grouping`: `length "1..100"`.
const IOS_REMARK_MAX: usize = 100;

/// Most ports on one `eq`: Cisco-IOS-XE-acl.yang (`tcp-dst-multi-port-grouping`
/// and its siblings: "Match only packets on a given port number up to 10
/// ports", leaves `...-port-1` to `...-port-10`).
const IOS_EQ_MAX: usize = 10;

/// The ICMP keywords of `permit icmp` that name a whole ICMP type (every
/// code), per family, and their type numbers.
///
/// Names: the IOS `permit icmp` message keywords as Cisco-IOS-XE-acl.yang
/// (YangModels/yang `vendor/cisco/xe/17121`) lists them, groupings
/// `ipv4-acl-icmp-match` and `ipv6-acl-icmp-match` (`named-msg-type`).
/// Numbers: Cisco's ICMP type literal table (0 echo-reply, 3 unreachable, 4
/// source-quench, 5 redirect, 6 alternate-address, 8 echo, 9
/// router-advertisement, 10 router-solicitation, 11 time-exceeded, 12
/// parameter-problem, 13 timestamp-request, 14 timestamp-reply, 15
/// information-request, 16 information-reply, 17 mask-request, 18
/// mask-reply, 30 traceroute, 31 conversion-error, 32 mobile-redirect), which
/// follows the IANA ICMP registry (RFC 792, 950, 1256, 1393, 1475, 2002);
/// ICMPv6 by RFC 4443 (1-4, 128, 129) and RFC 4861 (133-136).
///
/// Keywords that name a type *and* a code (`port-unreachable`,
/// `ttl-exceeded`, IPv4 `packet-too-big`, `host-unreachable`, ...) match
/// less than a whole type; they are not here, so the reader refuses them.
const ICMP_KEYWORDS: &[(Family, &str, u8)] = &[
    (Family::V4, "echo-reply", 0),
    (Family::V4, "unreachable", 3),
    (Family::V4, "source-quench", 4),
    (Family::V4, "redirect", 5),
    (Family::V4, "alternate-address", 6),
    (Family::V4, "echo", 8),
    (Family::V4, "router-advertisement", 9),
    (Family::V4, "router-solicitation", 10),
    (Family::V4, "time-exceeded", 11),
    (Family::V4, "parameter-problem", 12),
    (Family::V4, "timestamp-request", 13),
    (Family::V4, "timestamp-reply", 14),
    (Family::V4, "information-request", 15),
    (Family::V4, "information-reply", 16),
    (Family::V4, "mask-request", 17),
    (Family::V4, "mask-reply", 18),
    (Family::V4, "traceroute", 30),
    (Family::V4, "conversion-error", 31),
    (Family::V4, "mobile-redirect", 32),
    (Family::V6, "unreachable", 1),
    (Family::V6, "packet-too-big", 2),
    (Family::V6, "time-exceeded", 3),
    (Family::V6, "parameter-problem", 4),
    (Family::V6, "echo-request", 128),
    (Family::V6, "echo-reply", 129),
    (Family::V6, "router-solicitation", 133),
    (Family::V6, "router-advertisement", 134),
    (Family::V6, "nd-ns", 135),
    (Family::V6, "nd-na", 136),
];

/// The ICMP type a whole-type `permit icmp` keyword names, by the reader's
/// own table.
pub(crate) fn icmp_type_of_keyword(keyword: &str, family: Family) -> Option<u8> {
    ICMP_KEYWORDS
        .iter()
        .find(|&&(f, k, _)| f == family && k == keyword)
        .map(|&(_, _, t)| t)
}

/// The whole-type keyword of an ICMP type, by the reader's own table.
pub fn icmp_keyword_of_type(ty: u8, family: Family) -> Option<&'static str> {
    ICMP_KEYWORDS
        .iter()
        .find(|&&(f, _, t)| f == family && t == ty)
        .map(|&(_, k, _)| k)
}

/// Why the reader refused a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Protocol of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Proto {
    Any,
    Tcp,
    Udp,
    Icmp,
    Number(u8),
    /// `object-group NAME` in the protocol position: the entry matches a
    /// packet one member of service group `NAME` ([`Config::services`])
    /// matches (IPv4 only; the entry carries no ports, `established` or
    /// ICMP type of its own).
    Group(String),
}

/// An address match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    Any,
    /// Address and wildcard (IPv4) — contiguous, host bits clear.
    V4 {
        addr: u32,
        wildcard: u32,
    },
    V6(Ipv6Net),
    Group(String),
}

/// A port operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ports {
    All,
    Eq(Vec<u16>),
    Range(u16, u16),
}

impl Ports {
    fn matches(&self, p: u16) -> bool {
        match self {
            Ports::All => true,
            Ports::Eq(v) => v.contains(&p),
            Ports::Range(a, b) => *a <= p && p <= *b,
        }
    }
}

/// One parsed access-control entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: u32,
    pub permit: bool,
    pub proto: Proto,
    pub src: Addr,
    pub sport: Ports,
    pub dst: Addr,
    pub dport: Ports,
    pub established: bool,
    pub icmp: Option<u8>,
    pub log: bool,
    /// The IR rule the entry belongs to, from the remark that opens its
    /// block (`NAME: action`); `default` for the final deny, `None` for the
    /// neighbour-discovery permits.
    pub rule: Option<String>,
    /// A stateless return entry (its block says `replies`).
    pub reply: bool,
}

/// One ACL: entries in sequence order, and its remarks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    pub family: Family,
    pub entries: Vec<Entry>,
    pub remarks: Vec<String>,
}

/// A network object group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub family: Family,
    pub nets: Vec<IpNet>,
}

/// One member of a service object group: TCP or UDP with destination ports
/// (`Ports::All` for the bare protocol), or ICMP with a type (`None` for
/// every type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceMember {
    Tcp(Ports),
    Udp(Ports),
    Icmp(Option<u8>),
}

impl ServiceMember {
    /// Whether the member matches a packet's protocol fields.
    pub fn matches(&self, p: &AclProto) -> bool {
        match (self, p) {
            (ServiceMember::Tcp(ports), AclProto::Tcp { dport, .. })
            | (ServiceMember::Udp(ports), AclProto::Udp { dport, .. }) => ports.matches(*dport),
            (ServiceMember::Icmp(t), AclProto::Icmp { ty }) => t.is_none_or(|t| t == *ty),
            _ => false,
        }
    }
}

/// The member's line in the group, as wardwall writes it (`tcp eq 2575`,
/// `udp range 6661 6670`, `icmp echo`, `tcp`).
impl fmt::Display for ServiceMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (proto, ports) = match self {
            ServiceMember::Tcp(p) => ("tcp", p),
            ServiceMember::Udp(p) => ("udp", p),
            ServiceMember::Icmp(None) => return f.write_str("icmp"),
            ServiceMember::Icmp(Some(t)) => {
                return match icmp_keyword_of_type(*t, Family::V4) {
                    Some(k) => write!(f, "icmp {k}"),
                    None => write!(f, "icmp {t}"),
                };
            }
        };
        match ports {
            Ports::All => f.write_str(proto),
            Ports::Eq(v) => {
                write!(f, "{proto} eq")?;
                v.iter().try_for_each(|p| write!(f, " {p}"))
            }
            Ports::Range(a, b) => write!(f, "{proto} range {a} {b}"),
        }
    }
}

/// An IPv4 service object group (`object-group service`), members in file
/// order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceGroup {
    pub members: Vec<ServiceMember>,
}

/// Inbound bindings of one interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Binding {
    pub v4: Option<String>,
    pub v6: Option<String>,
}

/// The router state after the file ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Network object groups (`object-group network` / `v6-network`).
    pub groups: BTreeMap<String, Group>,
    /// Service object groups (`object-group service`); names are unique
    /// across both maps.
    pub services: BTreeMap<String, ServiceGroup>,
    pub acls: BTreeMap<String, Acl>,
    pub interfaces: BTreeMap<String, Binding>,
}

/// A packet as an ACL sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclPacket {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: AclProto,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclProto {
    /// `ack_or_rst`: what `established` looks at.
    Tcp {
        sport: u16,
        dport: u16,
        ack_or_rst: bool,
    },
    Udp {
        sport: u16,
        dport: u16,
    },
    /// ICMP (IPv4) or ICMPv6 (IPv6), by the packet's family.
    Icmp {
        ty: u8,
    },
    Other(u8),
}

/// Which entry decided a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclVerdict {
    pub acl: String,
    /// Sequence number of the matching entry; `None` for the implicit deny.
    pub seq: Option<u32>,
    pub permit: bool,
    /// The IR rule of the matching entry (see [`Entry::rule`]).
    pub rule: Option<String>,
    /// Whether the matching entry is a stateless return entry.
    pub reply: bool,
}

impl Config {
    /// The ACL bound inbound on `interface` for the packet's family, and its
    /// first-match verdict. `None` if the interface has no such binding.
    pub fn evaluate(&self, interface: &str, packet: &AclPacket) -> Option<AclVerdict> {
        let binding = self.interfaces.get(interface)?;
        let name = match packet.src {
            IpAddr::V4(_) => binding.v4.as_ref()?,
            IpAddr::V6(_) => binding.v6.as_ref()?,
        };
        let acl = self.acls.get(name)?;
        let hit = acl.entries.iter().find(|e| self.entry_matches(e, packet));
        Some(AclVerdict {
            acl: name.clone(),
            seq: hit.map(|e| e.seq),
            permit: hit.is_some_and(|e| e.permit),
            rule: hit.and_then(|e| e.rule.clone()),
            reply: hit.is_some_and(|e| e.reply),
        })
    }

    /// For an entry naming a service group that matches `packet`: the
    /// first member that matches it (what `explain` can quote). `None` for
    /// other entries or when the entry does not match.
    pub fn matching_member(&self, e: &Entry, packet: &AclPacket) -> Option<&ServiceMember> {
        let Proto::Group(g) = &e.proto else {
            return None;
        };
        if !self.entry_matches(e, packet) {
            return None;
        }
        self.services
            .get(g)?
            .members
            .iter()
            .find(|m| m.matches(&packet.proto))
    }

    fn addr_matches(&self, a: &Addr, ip: IpAddr) -> bool {
        match (a, ip) {
            (Addr::Any, _) => true,
            (Addr::V4 { addr, wildcard }, IpAddr::V4(ip)) => {
                u32::from(ip) & !wildcard == *addr & !wildcard
            }
            (Addr::V6(net), IpAddr::V6(ip)) => net.contains(&ip),
            (Addr::Group(g), ip) => self
                .groups
                .get(g)
                .is_some_and(|g| g.nets.iter().any(|n| n.contains(&ip))),
            _ => false,
        }
    }

    /// Whether one entry matches a packet.
    pub(crate) fn entry_matches(&self, e: &Entry, p: &AclPacket) -> bool {
        if !self.addr_matches(&e.src, p.src) || !self.addr_matches(&e.dst, p.dst) {
            return false;
        }
        match (&e.proto, p.proto) {
            (Proto::Any, _) => true,
            (Proto::Group(g), proto) => {
                p.src.is_ipv4()
                    && self
                        .services
                        .get(g)
                        .is_some_and(|g| g.members.iter().any(|m| m.matches(&proto)))
            }
            (
                Proto::Tcp,
                AclProto::Tcp {
                    sport,
                    dport,
                    ack_or_rst,
                },
            ) => e.sport.matches(sport) && e.dport.matches(dport) && (!e.established || ack_or_rst),
            (Proto::Udp, AclProto::Udp { sport, dport }) => {
                e.sport.matches(sport) && e.dport.matches(dport)
            }
            (Proto::Icmp, AclProto::Icmp { ty }) => e.icmp.is_none_or(|t| t == ty),
            (Proto::Number(n), AclProto::Other(m)) => *n == m,
            _ => false,
        }
    }
}

// ------------------------------------------------------------------ reader

enum Block {
    None,
    Group(String),
    Service(String),
    Acl(String),
    Interface(String),
}

/// Reads a file the cisco renderer wrote. Anything else is an error.
pub fn parse(text: &str) -> Result<Config, ParseError> {
    let mut cfg = Config::default();
    let mut block = Block::None;
    let mut blocks: BTreeMap<String, BlockState> = BTreeMap::new();
    let mut ended = false;
    let lines: Vec<&str> = text.split('\n').collect();
    let count = lines.len();
    for (i, raw) in lines.into_iter().enumerate() {
        let n = i + 1;
        let err = |m: String| ParseError {
            line: n,
            message: m,
        };
        if raw.is_empty() && i + 1 == count {
            break; // the final newline
        }
        if ended {
            return Err(err("text after `end`".into()));
        }
        if raw.chars().any(|c| !(c.is_ascii_graphic() || c == ' ')) {
            return Err(err("non-printable or non-ASCII character".into()));
        }
        if raw.ends_with(' ') || raw.is_empty() {
            return Err(err("empty line or trailing space".into()));
        }
        if let Some(child) = raw.strip_prefix(' ') {
            if child.starts_with(' ') {
                return Err(err("indentation other than one space".into()));
            }
            match &block {
                Block::None => return Err(err("indented line outside a block".into())),
                Block::Group(g) => group_line(&mut cfg, g, child).map_err(err)?,
                Block::Service(g) => service_line(&mut cfg, g, child).map_err(err)?,
                Block::Acl(a) => {
                    let a = a.clone();
                    let state = blocks.entry(a.clone()).or_default();
                    acl_line(&mut cfg, &a, child, state).map_err(err)?
                }
                Block::Interface(iface) => interface_line(&mut cfg, iface, child).map_err(err)?,
            }
            continue;
        }
        block = Block::None;
        let words: Vec<&str> = raw.split(' ').collect();
        match words.as_slice() {
            ["!", ..] => {}
            ["end"] => ended = true,
            ["object-group", "service", name] => {
                check_name(name).map_err(err)?;
                if cfg.groups.contains_key(*name) || cfg.services.contains_key(*name) {
                    return Err(err(format!("object-group `{name}` defined twice")));
                }
                cfg.services.insert(
                    name.to_string(),
                    ServiceGroup {
                        members: Vec::new(),
                    },
                );
                block = Block::Service(name.to_string());
            }
            ["object-group", kind, name] => {
                let family = match *kind {
                    "network" => Family::V4,
                    "v6-network" => Family::V6,
                    k => return Err(err(format!("unknown object-group kind `{k}`"))),
                };
                check_name(name).map_err(err)?;
                if cfg.groups.contains_key(*name) || cfg.services.contains_key(*name) {
                    return Err(err(format!("object-group `{name}` defined twice")));
                }
                cfg.groups.insert(
                    name.to_string(),
                    Group {
                        family,
                        nets: Vec::new(),
                    },
                );
                block = Block::Group(name.to_string());
            }
            ["ip", "access-list", "extended", name] => {
                define_acl(&mut cfg, name, Family::V4).map_err(err)?;
                block = Block::Acl(name.to_string());
            }
            ["ipv6", "access-list", name] => {
                define_acl(&mut cfg, name, Family::V6).map_err(err)?;
                block = Block::Acl(name.to_string());
            }
            ["no", "ip", "access-list", "extended", name] => {
                delete_acl(&mut cfg, name, Family::V4).map_err(err)?;
                // A deleted ACL takes its sequence numbers with it.
                blocks.remove(*name);
            }
            ["no", "ipv6", "access-list", name] => {
                delete_acl(&mut cfg, name, Family::V6).map_err(err)?;
                blocks.remove(*name);
            }
            ["interface", name] => {
                block = Block::Interface(name.to_string());
                cfg.interfaces.entry(name.to_string()).or_default();
            }
            _ => return Err(err(format!("unexpected command `{raw}`"))),
        }
    }
    if !ended {
        return Err(ParseError {
            line: text.lines().count(),
            message: "missing final `end`".into(),
        });
    }
    for (name, acl) in &cfg.acls {
        if acl.entries.is_empty() {
            return Err(ParseError {
                line: 0,
                message: format!("ACL `{name}` has no entries"),
            });
        }
    }
    Ok(cfg)
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not a safe IOS name"))
    }
}

fn define_acl(cfg: &mut Config, name: &str, family: Family) -> Result<(), String> {
    check_name(name)?;
    if cfg.acls.contains_key(name) {
        return Err(format!("ACL `{name}` redefined without deleting it first"));
    }
    cfg.acls.insert(
        name.to_string(),
        Acl {
            family,
            entries: Vec::new(),
            remarks: Vec::new(),
        },
    );
    Ok(())
}

fn delete_acl(cfg: &mut Config, name: &str, family: Family) -> Result<(), String> {
    for (iface, b) in &cfg.interfaces {
        if b.v4.as_deref() == Some(name) || b.v6.as_deref() == Some(name) {
            return Err(format!(
                "deleting ACL `{name}` while interface `{iface}` uses it leaves the interface unprotected"
            ));
        }
    }
    if let Some(acl) = cfg.acls.get(name)
        && acl.family != family
    {
        return Err(format!("`{name}` is an ACL of the other family"));
    }
    cfg.acls.remove(name);
    Ok(())
}

fn interface_line(cfg: &mut Config, iface: &str, line: &str) -> Result<(), String> {
    let words: Vec<&str> = line.split(' ').collect();
    let (family, name) = match words.as_slice() {
        ["ip", "access-group", name, "in"] => (Family::V4, *name),
        ["ipv6", "traffic-filter", name, "in"] => (Family::V6, *name),
        _ => return Err(format!("unexpected interface line `{line}`")),
    };
    let acl = cfg
        .acls
        .get(name)
        .ok_or_else(|| format!("binding ACL `{name}`, which does not exist"))?;
    if acl.family != family {
        return Err(format!("binding `{name}` as the wrong family"));
    }
    if acl.entries.last().is_none_or(|e| {
        e.permit || e.proto != Proto::Any || e.src != Addr::Any || e.dst != Addr::Any
    }) {
        return Err(format!(
            "binding ACL `{name}`, which does not end in an explicit deny-all"
        ));
    }
    let b = cfg
        .interfaces
        .get_mut(iface)
        .expect("interface block exists");
    match family {
        Family::V4 => b.v4 = Some(name.to_string()),
        Family::V6 => b.v6 = Some(name.to_string()),
    }
    Ok(())
}

fn group_line(cfg: &mut Config, group: &str, line: &str) -> Result<(), String> {
    let g = cfg.groups.get_mut(group).expect("group block exists");
    if let Some(d) = line.strip_prefix("description ") {
        return check_remark(d);
    }
    let words: Vec<&str> = line.split(' ').collect();
    let net = match (g.family, words.as_slice()) {
        (Family::V4, ["host", a]) => IpNet::V4(Ipv4Net::new(v4(a)?, 32).expect("/32")),
        (Family::V4, [a, m]) => {
            let mask = u32::from(v4(m)?);
            if mask.leading_ones() + mask.trailing_zeros() != 32 {
                return Err(format!("`{m}` is not a contiguous netmask"));
            }
            let net = Ipv4Net::new(v4(a)?, mask.leading_ones() as u8).expect("valid len");
            if net.network() != net.addr() {
                return Err(format!("`{a} {m}` has host bits set"));
            }
            if mask == 0 {
                return Err("0.0.0.0/0 in a group: write `any`".into());
            }
            IpNet::V4(net)
        }
        (Family::V6, ["host", a]) => IpNet::V6(Ipv6Net::new(v6(a)?, 128).expect("/128")),
        (Family::V6, [p]) => IpNet::V6(prefix6(p)?),
        _ => return Err(format!("unexpected object-group line `{line}`")),
    };
    if g.nets.contains(&net) {
        return Err(format!("duplicate group entry {net}"));
    }
    g.nets.push(net);
    Ok(())
}

/// One line of an `object-group service`: exactly the member forms the
/// renderer emits (one `eq` port per line, numeric ports, ICMP by keyword).
fn service_line(cfg: &mut Config, group: &str, line: &str) -> Result<(), String> {
    let g = cfg.services.get_mut(group).expect("service block exists");
    if let Some(d) = line.strip_prefix("description ") {
        return check_remark(d);
    }
    let words: Vec<&str> = line.split(' ').collect();
    let port = |p: &str| -> Result<u16, String> {
        if !p.chars().all(|c| c.is_ascii_digit()) || (p.len() > 1 && p.starts_with('0')) {
            return Err(format!("port `{p}` is not a plain number"));
        }
        p.parse().map_err(|_| format!("port `{p}` out of range"))
    };
    let ports = |rest: &[&str]| -> Result<Ports, String> {
        match rest {
            [] => Ok(Ports::All),
            ["eq", p] => Ok(Ports::Eq(vec![port(p)?])),
            ["range", a, b] => {
                let (a, b) = (port(a)?, port(b)?);
                if a >= b {
                    return Err(format!("range {a} {b} is empty or one port"));
                }
                Ok(Ports::Range(a, b))
            }
            _ => Err(format!("unexpected service member `{line}`")),
        }
    };
    let member = match words.as_slice() {
        ["tcp", rest @ ..] => ServiceMember::Tcp(ports(rest)?),
        ["udp", rest @ ..] => ServiceMember::Udp(ports(rest)?),
        ["icmp"] => ServiceMember::Icmp(None),
        ["icmp", t] => {
            if t.chars().all(|c| c.is_ascii_digit()) {
                return Err(format!("ICMP type `{t}` in a service group: only keywords"));
            }
            ServiceMember::Icmp(Some(icmp_type(t, Family::V4)?))
        }
        _ => return Err(format!("unexpected service member `{line}`")),
    };
    if g.members.contains(&member) {
        return Err(format!("duplicate service member `{line}`"));
    }
    g.members.push(member);
    Ok(())
}

fn check_remark(text: &str) -> Result<(), String> {
    if text.len() > IOS_REMARK_MAX {
        return Err(format!("remark longer than {IOS_REMARK_MAX} characters"));
    }
    if text.is_empty() || text.starts_with('!') || text.contains('?') {
        return Err("remark is empty, starts with `!` or contains `?`".into());
    }
    Ok(())
}

fn v4(s: &str) -> Result<Ipv4Addr, String> {
    s.parse()
        .map_err(|_| format!("`{s}` is not an IPv4 address"))
}

fn v6(s: &str) -> Result<Ipv6Addr, String> {
    if s.contains('.') || s.chars().any(|c| c.is_ascii_lowercase()) {
        return Err(format!("`{s}`: IPv6 addresses are written in upper case"));
    }
    s.parse()
        .map_err(|_| format!("`{s}` is not an IPv6 address"))
}

fn prefix6(s: &str) -> Result<Ipv6Net, String> {
    let (a, l) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not an IPv6 prefix"))?;
    let len: u8 = l
        .parse()
        .map_err(|_| format!("bad prefix length in `{s}`"))?;
    let net = Ipv6Net::new(v6(a)?, len).map_err(|_| format!("bad prefix length in `{s}`"))?;
    if net.network() != net.addr() {
        return Err(format!("`{s}` has host bits set"));
    }
    if len == 0 || len == 128 {
        return Err(format!("`{s}`: write `any` or `host`"));
    }
    Ok(net)
}

fn acl_line(
    cfg: &mut Config,
    acl_name: &str,
    line: &str,
    block: &mut BlockState,
) -> Result<(), String> {
    let family = cfg.acls[acl_name].family;
    let mut words: Vec<&str> = line.split(' ').collect();
    // Sequence number: IPv6 writes `sequence N`, IPv4 a bare `N`. An IPv6
    // line without one (remark or entry) is numbered as the router numbers
    // it; IPv4 lines are always numbered by wardwall.
    let explicit = match (family, words.first().copied()) {
        (Family::V6, Some("sequence")) => {
            let s = words.get(1).ok_or("missing sequence number")?;
            let s = seq_number(s)?;
            words.drain(..2);
            Some(s)
        }
        (Family::V6, Some(_)) => None,
        (Family::V4, Some(s)) if s.starts_with(|c: char| c.is_ascii_digit()) => {
            let s = seq_number(s)?;
            words.remove(0);
            Some(s)
        }
        _ => return Err(format!("unexpected ACL line `{line}`")),
    };
    let seq = block.numbering.take(explicit)?;
    if words.first() == Some(&"remark") {
        let text = line.split_once("remark ").map(|x| x.1).unwrap_or("");
        check_remark(text)?;
        cfg.acls
            .get_mut(acl_name)
            .expect("acl")
            .remarks
            .push(text.to_string());
        // The first remark after an entry (or at the start) opens a rule
        // block: `NAME: ...`; the remarks after it are free text.
        if !block.in_remarks {
            block.in_remarks = true;
            let label = text.split_once(": ").map(|x| x.0);
            block.rule = label
                .filter(|l| {
                    l.starts_with(|c: char| c.is_ascii_alphabetic())
                        && l.chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                })
                .map(str::to_string);
            block.reply = text.ends_with(": replies (stateless return entries)");
        }
        return Ok(());
    }
    let mut w = words.into_iter().peekable();
    let permit = match w.next() {
        Some("permit") => true,
        Some("deny") => false,
        other => return Err(format!("expected permit or deny, found {other:?}")),
    };
    let proto = match (family, w.next()) {
        (Family::V4, Some("ip")) | (Family::V6, Some("ipv6")) => Proto::Any,
        (Family::V4, Some("object-group")) => {
            let name = w.next().ok_or("missing service group name")?;
            let g = cfg
                .services
                .get(name)
                .ok_or_else(|| format!("unknown service object-group `{name}`"))?;
            if g.members.len() < 2 {
                return Err(format!("service object-group `{name}` is trivial"));
            }
            Proto::Group(name.to_string())
        }
        (_, Some("tcp")) => Proto::Tcp,
        (_, Some("udp")) => Proto::Udp,
        (_, Some("icmp")) => Proto::Icmp,
        (_, Some(n)) if n.chars().all(|c| c.is_ascii_digit()) => {
            let n: u8 = n
                .parse()
                .map_err(|_| format!("protocol `{n}` out of range"))?;
            if [1, 6, 17, 58].contains(&n) {
                return Err(format!("protocol {n} must be written by name"));
            }
            Proto::Number(n)
        }
        (_, other) => return Err(format!("unknown protocol {other:?}")),
    };
    // A service group entry takes no ports, `established` or ICMP type:
    // what would follow the addresses is rejected below.
    let has_ports = matches!(proto, Proto::Tcp | Proto::Udp);
    let addr = |w: &mut std::iter::Peekable<std::vec::IntoIter<&str>>| -> Result<Addr, String> {
        match (family, w.next()) {
            (_, Some("any")) => Ok(Addr::Any),
            (_, Some("object-group")) => {
                let name = w.next().ok_or("missing group name")?;
                let g = cfg
                    .groups
                    .get(name)
                    .ok_or_else(|| format!("unknown object-group `{name}`"))?;
                if g.family != family || g.nets.len() < 2 {
                    return Err(format!(
                        "object-group `{name}` is of the wrong family or trivial"
                    ));
                }
                Ok(Addr::Group(name.to_string()))
            }
            (Family::V4, Some("host")) => Ok(Addr::V4 {
                addr: u32::from(v4(w.next().ok_or("missing host")?)?),
                wildcard: 0,
            }),
            (Family::V6, Some("host")) => Ok(Addr::V6(
                Ipv6Net::new(v6(w.next().ok_or("missing host")?)?, 128).expect("/128"),
            )),
            (Family::V4, Some(a)) => {
                let addr = u32::from(v4(a)?);
                let wc = w.next().ok_or("missing wildcard")?;
                let wildcard = u32::from(v4(wc)?);
                if wildcard.trailing_ones() + wildcard.leading_zeros() != 32 {
                    return Err(format!("`{wc}` is not a contiguous wildcard"));
                }
                if addr & wildcard != 0 {
                    return Err(format!("`{a} {wc}` has bits set under the wildcard"));
                }
                if wildcard == 0 || wildcard == u32::MAX {
                    return Err(format!("`{a} {wc}`: write `host` or `any`"));
                }
                Ok(Addr::V4 { addr, wildcard })
            }
            (Family::V6, Some(p)) => Ok(Addr::V6(prefix6(p)?)),
            (_, None) => Err("missing address".into()),
        }
    };
    let ports = |w: &mut std::iter::Peekable<std::vec::IntoIter<&str>>| -> Result<Ports, String> {
        match w.peek().copied() {
            Some("eq") => {
                w.next();
                let mut v = Vec::new();
                while let Some(p) = w.peek().copied() {
                    if !p.chars().all(|c| c.is_ascii_digit()) {
                        break;
                    }
                    w.next();
                    v.push(
                        p.parse::<u16>()
                            .map_err(|_| format!("port `{p}` out of range"))?,
                    );
                }
                if v.is_empty() || v.len() > IOS_EQ_MAX {
                    return Err("`eq` needs 1 to 10 port numbers".into());
                }
                Ok(Ports::Eq(v))
            }
            Some("range") => {
                w.next();
                let a: u16 = w
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or("bad range start")?;
                let b: u16 = w
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or("bad range end")?;
                if a >= b {
                    return Err(format!("range {a} {b} is empty or one port"));
                }
                Ok(Ports::Range(a, b))
            }
            Some(op @ ("neq" | "lt" | "gt")) => Err(format!("`{op}` is not emitted by wardwall")),
            _ => Ok(Ports::All),
        }
    };
    let src = addr(&mut w)?;
    let sport = if has_ports {
        ports(&mut w)?
    } else {
        Ports::All
    };
    let dst = addr(&mut w)?;
    let dport = if has_ports {
        ports(&mut w)?
    } else {
        Ports::All
    };
    let mut established = false;
    let mut icmp = None;
    let mut log = false;
    if w.peek() == Some(&"established") {
        if proto != Proto::Tcp {
            return Err("`established` on a non-TCP entry".into());
        }
        w.next();
        established = true;
    }
    if proto == Proto::Icmp
        && let Some(t) = w.peek().copied()
        && t != "log"
    {
        w.next();
        icmp = Some(icmp_type(t, family)?);
    }
    if w.peek() == Some(&"log") {
        w.next();
        log = true;
    }
    if let Some(extra) = w.next() {
        return Err(format!("unexpected `{extra}` in `{line}`"));
    }
    cfg.acls
        .get_mut(acl_name)
        .expect("acl")
        .entries
        .push(Entry {
            seq,
            permit,
            proto,
            src,
            sport,
            dst,
            dport,
            established,
            icmp,
            log,
            rule: block.rule.clone(),
            reply: block.reply,
        });
    block.in_remarks = false;
    Ok(())
}

/// Which rule block an ACL is in while it is read, and its numbering.
#[derive(Default)]
struct BlockState {
    in_remarks: bool,
    rule: Option<String>,
    reply: bool,
    numbering: Numbering,
}

/// The step IOS numbers unnumbered entries by ("If it is omitted, the
/// entry goes in at the last sequence number + 10", IOS-XE IP access list
/// entry sequence numbering). The reader's own value: a renderer that
/// stepped differently would still have to agree with it.
const IOS_SEQ_STEP: u32 = 10;

/// The highest sequence number IOS takes (`1..2147483647`).
const IOS_SEQ_MAX: u32 = 2_147_483_647;

/// The sequence numbers an ACL holds, as IOS assigns them while the ACL is
/// configured line by line.
///
/// Every line of an ACL that carries a number occupies it: in IPv6 that is
/// every line, remarks included (Cisco-IOS-XE-acl.yang, `ipv6-acl-grouping`:
/// each `access-list-seq-rule`, keyed by `sequence`, holds either an
/// `ace-rule` or a `remark`; IOS-XE running configurations show `sequence 10
/// remark ...`, `sequence 20 remark ...`, `sequence 30 permit ...`; the
/// cisco.ios Ansible collection, issue 1336, had to write IPv6 remarks as
/// `sequence N remark`). An IPv6 line without a number, remark or entry,
/// takes the next multiple of [`IOS_SEQ_STEP`] above the highest number so
/// far, and a number already taken is refused, as the router refuses a
/// duplicate sequence number: an unnumbered remark followed by `sequence 10
/// permit ...` is the collision this models. (In IPv4 a remark shares the
/// number of the entry it annotates, but wardwall numbers every IPv4 line
/// and the reader requires them in ascending order, so they never share.)
/// Numbers must also ascend in the file: IOS orders entries by number, and
/// reading them in file order is only the same when they ascend.
#[derive(Default)]
struct Numbering {
    taken: BTreeSet<u32>,
}

impl Numbering {
    /// The number of the next line: `explicit`, or the router's choice.
    fn take(&mut self, explicit: Option<u32>) -> Result<u32, String> {
        let highest = self.taken.last().copied().unwrap_or(0);
        let seq = match explicit {
            Some(s) => s,
            None => (highest / IOS_SEQ_STEP + 1)
                .checked_mul(IOS_SEQ_STEP)
                .filter(|&s| s <= IOS_SEQ_MAX)
                .ok_or("no sequence number is left for an unnumbered line")?,
        };
        if self.taken.contains(&seq) {
            return Err(format!(
                "sequence {seq} is already taken (an unnumbered line, such as an IPv6 \
                 remark, takes the next multiple of {IOS_SEQ_STEP}): IOS rejects a \
                 duplicate sequence number"
            ));
        }
        if seq < highest {
            return Err(format!("sequence {seq} not above the previous {highest}"));
        }
        self.taken.insert(seq);
        Ok(seq)
    }
}

fn seq_number(s: &str) -> Result<u32, String> {
    let n: u32 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a sequence number"))?;
    if n == 0 || n > 2_147_483_647 || s.starts_with('0') {
        return Err(format!("sequence number `{s}` out of range"));
    }
    Ok(n)
}

fn icmp_type(t: &str, family: Family) -> Result<u8, String> {
    if t.chars().all(|c| c.is_ascii_digit()) {
        let n: u8 = t
            .parse()
            .map_err(|_| format!("ICMP type `{t}` out of range"))?;
        if icmp_keyword_of_type(n, family).is_some() {
            return Err(format!("ICMP type {n} must be written by its keyword"));
        }
        return Ok(n);
    }
    icmp_type_of_keyword(t, family).ok_or_else(|| format!("unknown ICMP type `{t}`"))
}

// ------------------------------------------------------------------ explain

/// The source port assumed for the first packet of a flow: an ephemeral
/// port, which no return entry (`eq SERVICE-PORT` on the source) matches.
pub(crate) const EPHEMERAL_PORT: u16 = 50000;

/// `explain --target cisco`: the packet enters the router on the interface
/// bound to its source's zone and is decided by the ACL bound inbound there.
pub(crate) struct Evaluator;

impl Reader for Evaluator {
    fn target(&self) -> Target {
        Target::Cisco
    }

    fn extension(&self) -> &'static str {
        "ios"
    }

    fn device(&self, text: &str) -> Result<super::device::Device, super::device::DeviceError> {
        super::export::cisco::read(text)
    }

    fn evaluate(
        &self,
        ir: &crate::ir::Ir,
        text: &str,
        packet: &crate::ir::Packet,
    ) -> Result<TargetVerdict, String> {
        use crate::ir::{Action, Proto as IrProto};
        let cfg = parse(text).map_err(|e| {
            let line = text.split('\n').nth(e.line.saturating_sub(1)).unwrap_or("");
            format!("the cisco file cannot be read back: {e}: `{line}`")
        })?;
        let zone = ir
            .zone_of(packet.src)
            .ok_or_else(|| format!("source {} is in no zone of the policy", packet.src))?;
        let iface = zone.bindings.get(TARGET).ok_or_else(|| {
            format!(
                "zone {} has no cisco interface binding: the packet enters the router \
                 on no interface wardwall filters, so the cisco output cannot answer",
                zone.name
            )
        })?;
        // Traffic inside one zone reaches the router only when it is
        // routed between subnets of the zone's interface; within one subnet
        // it is switched and never meets the ACL.
        let notes: Vec<String> = ir
            .zone_of(packet.dst)
            .is_some_and(|d| d.name == zone.name)
            .then(|| {
                same_subnet_note(
                    &format!("both in zone {}", zone.name),
                    "is switched inside the VLAN and never reaches this ACL \
                     (docs/targets/cisco.md, \"Not covered\")",
                )
            })
            .into_iter()
            .collect();
        let acl_packet = AclPacket {
            src: packet.src,
            dst: packet.dst,
            proto: match packet.proto {
                IrProto::Tcp { dport } => AclProto::Tcp {
                    sport: EPHEMERAL_PORT,
                    dport,
                    ack_or_rst: false,
                },
                IrProto::Udp { dport } => AclProto::Udp {
                    sport: EPHEMERAL_PORT,
                    dport,
                },
                IrProto::Icmp { ty } => AclProto::Icmp { ty },
                IrProto::Other(n) => AclProto::Other(n),
            },
        };
        let family = if packet.src.is_ipv4() { "IPv4" } else { "IPv6" };
        let Some(v) = cfg.evaluate(iface, &acl_packet) else {
            return Ok(TargetVerdict {
                action: Action::Allow,
                rule: None,
                place: format!("interface {iface} (zone {})", zone.name),
                entry: format!(
                    "none: no {family} ACL is bound inbound on {iface}, nothing filters the packet"
                ),
                log: false,
                notes: notes.clone(),
            });
        };
        let place = format!(
            "interface {iface} (zone {}), inbound {family} ACL {}",
            zone.name, v.acl
        );
        let Some(seq) = v.seq else {
            return Ok(TargetVerdict {
                action: Action::Deny,
                rule: None,
                place,
                entry: "none: no entry matches, the implicit deny at the end of the ACL drops it"
                    .into(),
                log: false,
                notes: notes.clone(),
            });
        };
        let e = cfg.acls[&v.acl]
            .entries
            .iter()
            .find(|e| e.seq == seq)
            .expect("the deciding entry is in its ACL");
        let line = entry_line(text, &v.acl, seq).unwrap_or_default();
        // An entry naming a service group: which member matched.
        let member = match (&e.proto, cfg.matching_member(e, &acl_packet)) {
            (Proto::Group(g), Some(m)) => format!(" (member `{m}` of object-group {g})"),
            _ => String::new(),
        };
        Ok(TargetVerdict {
            action: if v.permit {
                Action::Allow
            } else {
                Action::Deny
            },
            rule: v.rule.clone(),
            place,
            entry: format!(
                "`{line}`{member}{}",
                if v.reply {
                    " (a stateless return entry)"
                } else {
                    ""
                }
            ),
            log: e.log,
            notes,
        })
    }
}

/// The text of entry `seq` in the last definition of ACL `acl` in `text`
/// (the definition that stays bound), without its indentation.
pub(crate) fn entry_line<'a>(text: &'a str, acl: &str, seq: u32) -> Option<&'a str> {
    let v4 = format!("ip access-list extended {acl}");
    let v6 = format!("ipv6 access-list {acl}");
    let (p4, p6) = (format!("{seq} "), format!("sequence {seq} "));
    let mut inside = false;
    let mut found = None;
    for line in text.lines() {
        match line.strip_prefix(' ') {
            Some(child) => {
                if inside && (child.starts_with(&p4) || child.starts_with(&p6)) {
                    found = Some(child);
                }
            }
            None => {
                inside = line == v4 || line == v6;
                if inside {
                    found = None;
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reader's ICMP table names each type once and each keyword once
    /// per family, and says what Cisco's literal table and the RFCs say.
    #[test]
    fn icmp_keywords_are_one_to_one_and_as_documented() {
        for f in [Family::V4, Family::V6] {
            for &(g, k, t) in ICMP_KEYWORDS.iter().filter(|e| e.0 == f) {
                assert_eq!(g, f);
                assert_eq!(icmp_type_of_keyword(k, f), Some(t), "{k}");
                assert_eq!(icmp_keyword_of_type(t, f), Some(k), "{t}");
            }
        }
        let v4 = |k| icmp_type_of_keyword(k, Family::V4);
        let v6 = |k| icmp_type_of_keyword(k, Family::V6);
        assert_eq!(v4("echo"), Some(8));
        assert_eq!(v4("echo-reply"), Some(0));
        assert_eq!(v4("unreachable"), Some(3));
        assert_eq!(v4("timestamp-request"), Some(13));
        assert_eq!(v4("mask-reply"), Some(18));
        assert_eq!(v6("echo-request"), Some(128));
        assert_eq!(v6("unreachable"), Some(1));
        assert_eq!(v6("nd-ns"), Some(135));
        // Keywords of the other family, and type-and-code keywords, are
        // not whole types here.
        assert_eq!(v4("echo-request"), None);
        assert_eq!(v6("echo"), None);
        for k in [
            "port-unreachable",
            "ttl-exceeded",
            "packet-too-big",
            "host-unreachable",
        ] {
            assert_eq!(v4(k), None, "{k}");
        }
    }

    #[test]
    fn icmp_types_are_read_by_the_readers_table() {
        assert_eq!(icmp_type("timestamp-reply", Family::V4), Ok(14));
        assert_eq!(icmp_type("200", Family::V4), Ok(200));
        assert!(icmp_type("8", Family::V4).is_err(), "8 has a keyword");
        assert!(icmp_type("port-unreachable", Family::V4).is_err());
        assert_eq!(icmp_type("echo-reply", Family::V6), Ok(129));
    }
}
