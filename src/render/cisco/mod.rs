//! The Cisco IOS / IOS-XE target: interface ACLs on one central router.
//!
//! Placement: every zone with a `cisco` binding is one routed interface. Each
//! gets one named extended IPv4 ACL and one IPv6 ACL, applied inbound. An IR
//! rule is placed on the inbound ACLs of the zones its *source* addresses
//! live in, with the source cut to that zone's part, in IR order, so first
//! match holds per interface.
//!
//! Extended ACLs are stateless, so every allow also gets return entries on
//! the ACL of the zone(s) its destination lives in: TCP replies with
//! `established` and the service port as source port, UDP replies with the
//! service port as source port, ICMP echo/timestamp/info/mask replies, and
//! other protocols in the reverse direction. A return entry covers exactly
//! the flows the IR permits through that rule: earlier deny/reject rules are
//! subtracted from the rule's (source × destination × service) box first, so
//! a return entry can never re-open what an advisory or any other earlier
//! deny blocks. Each ACL is laid out as
//!
//! 1. the advisory blocks whose source lies in the zone (defence in depth:
//!    advisory blocks are symmetric, so they never stop a legitimate reply),
//! 2. the return entries (exact, see above),
//! 3. every other rule whose source lies in the zone, in IR order,
//! 4. for IPv6, `permit icmp any any nd-na` / `nd-ns` (an explicit final deny
//!    would otherwise kill neighbour discovery),
//! 5. an explicit final `deny ip any any log` (`deny ipv6 any any log`).
//!
//! Sides with several prefixes become content-named network object groups.
//! In IPv4, a forward entry whose service would need two entries or more
//! becomes one content-named `object-group service` and one entry naming it
//! in the protocol position (`forward_aces`); return entries and IPv6 keep
//! plain entries.
//!
//! Every target decision (names, sequence numbers, remarks, wildcards) is
//! made here; the template `targets/cisco/acl.ios.j2` only lays the lines out.

pub mod readback;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use ipnet::{IpNet, Ipv4Net};
use serde::Serialize;

use crate::addrset::{AddrSet, ByteSet, PortSet};
use crate::diagnostics::Diagnostic;
use crate::ir::{Action, Family, Ir, Rule, RuleOrigin, ServiceSet};
use crate::render::{RenderedFile, Renderer, Templates, template_error};

/// The target name (`-t cisco`, the template folder, the output folder).
pub const TARGET: &str = "cisco";

/// Cisco's limit on one remark (and what we use for descriptions).
pub const REMARK_MAX: usize = 100;

/// Ports on one `eq` (IOS-XE YANG allows up to 10).
pub const EQ_MAX: usize = 10;

/// Sequence numbers are spaced by this much.
pub const SEQ_STEP: u32 = 10;

/// The Cisco IOS-XE renderer.
pub struct Cisco;

const TEMPLATES: &[(&str, &str)] = &[(
    "acl.ios.j2",
    include_str!("../../../targets/cisco/acl.ios.j2"),
)];

impl Renderer for Cisco {
    fn target(&self) -> &'static str {
        TARGET
    }

    fn embedded_templates(&self) -> &'static [(&'static str, &'static str)] {
        TEMPLATES
    }

    fn render(&self, ir: &Ir, templates: &Templates) -> Result<Vec<RenderedFile>, Vec<Diagnostic>> {
        let view = build_view(ir)?;
        let env = templates.environment(self);
        let template = env
            .get_template("acl.ios.j2")
            .map_err(|e| vec![template_error(TARGET, &e)])?;
        let contents = template
            .render(minijinja::context! { v => minijinja::value::Serde(&view) })
            .map_err(|e| vec![template_error(TARGET, &e)])?;
        Ok(vec![RenderedFile {
            path: PathBuf::from(TARGET).join(format!("{}.ios", ir.name)),
            contents,
        }])
    }
}

// ------------------------------------------------------------------ view model

/// Everything the template needs; every string is final IOS text.
#[derive(Clone, Debug, Serialize)]
pub struct View {
    pub policy: String,
    /// Comment lines for the header (without the leading `! `).
    pub header: Vec<String>,
    /// Content hash of the stable configuration (16 hex digits, FNV-1a 64).
    pub version: String,
    pub groups: Vec<GroupView>,
    pub acls: Vec<AclView>,
    pub interfaces: Vec<InterfaceView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupView {
    /// `network` (IPv4), `v6-network` (IPv6) or `service` (IPv4 services;
    /// `entries` are then member lines such as `tcp eq 2575`).
    pub kind: &'static str,
    pub name: String,
    pub description: String,
    pub entries: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AclView {
    /// `ip access-list extended` or `ipv6 access-list`.
    pub command: &'static str,
    pub zone: String,
    pub interface: String,
    /// The stable name the ACL ends up with.
    pub name: String,
    /// The versioned name it is built and bound under first.
    pub staging: String,
    /// The entry lines, without the one-space indentation.
    pub lines: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct InterfaceView {
    pub name: String,
    pub zone: String,
    pub v4: String,
    pub v4_staging: String,
    pub v6: String,
    pub v6_staging: String,
}

// ------------------------------------------------------------------ ACEs

/// Protocol field of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AceProto {
    /// `ip` / `ipv6`: every protocol.
    Ip,
    Tcp,
    Udp,
    /// ICMP in an IPv4 ACL, ICMPv6 in an IPv6 ACL.
    Icmp,
    Number(u8),
    /// `object-group NAME` in the protocol position: a service object group
    /// (IPv4 only); no ports, `established` or ICMP type follow.
    Group(String),
}

/// An address field of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AceAddr {
    Any,
    Net(IpNet),
    Group(String),
}

/// A port match (TCP/UDP only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortMatch {
    All,
    Eq(Vec<u16>),
    Range(u16, u16),
}

/// One access-control entry, before numbering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ace {
    pub permit: bool,
    pub proto: AceProto,
    pub src: AceAddr,
    pub sport: PortMatch,
    pub dst: AceAddr,
    pub dport: PortMatch,
    pub established: bool,
    pub icmp: Option<u8>,
    pub log: bool,
}

/// A line of an ACL body before numbering.
#[derive(Clone, Debug)]
enum Line {
    Remark(String),
    Ace(Ace),
}

/// The wildcard (inverse) mask of an IPv4 prefix: `/24` → `0.0.0.255`.
pub fn wildcard(net: &Ipv4Net) -> std::net::Ipv4Addr {
    net.hostmask()
}

/// IOS text of an address field.
fn addr_text(a: &AceAddr, family: Family) -> String {
    match a {
        AceAddr::Any => "any".to_string(),
        AceAddr::Group(n) => format!("object-group {n}"),
        AceAddr::Net(IpNet::V4(n)) if n.prefix_len() == 32 => format!("host {}", n.addr()),
        AceAddr::Net(IpNet::V4(n)) => format!("{} {}", n.network(), wildcard(n)),
        AceAddr::Net(IpNet::V6(n)) if n.prefix_len() == 128 => {
            format!("host {}", n.addr().to_string().to_uppercase())
        }
        AceAddr::Net(IpNet::V6(n)) => {
            debug_assert_eq!(family, Family::V6);
            format!(
                "{}/{}",
                n.network().to_string().to_uppercase(),
                n.prefix_len()
            )
        }
    }
}

fn port_text(p: &PortMatch) -> Option<String> {
    match p {
        PortMatch::All => None,
        PortMatch::Eq(ports) => Some(format!(
            "eq {}",
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        )),
        PortMatch::Range(a, b) => Some(format!("range {a} {b}")),
    }
}

/// IOS keywords that name a whole ICMP type (every code), per family. Other
/// types are written as numbers, which IOS also accepts. Keywords that name
/// a type *and* a code (`packet-too-big` in IPv4, `ttl-exceeded`,
/// `port-unreachable`, ...) are never used: they would match less than the
/// IR's type.
pub fn icmp_keyword(ty: u8, family: Family) -> Option<&'static str> {
    match (family, ty) {
        (Family::V4, 0) => Some("echo-reply"),
        (Family::V4, 3) => Some("unreachable"),
        (Family::V4, 4) => Some("source-quench"),
        (Family::V4, 5) => Some("redirect"),
        (Family::V4, 6) => Some("alternate-address"),
        (Family::V4, 8) => Some("echo"),
        (Family::V4, 9) => Some("router-advertisement"),
        (Family::V4, 10) => Some("router-solicitation"),
        (Family::V4, 11) => Some("time-exceeded"),
        (Family::V4, 12) => Some("parameter-problem"),
        (Family::V4, 13) => Some("timestamp-request"),
        (Family::V4, 14) => Some("timestamp-reply"),
        (Family::V4, 15) => Some("information-request"),
        (Family::V4, 16) => Some("information-reply"),
        (Family::V4, 17) => Some("mask-request"),
        (Family::V4, 18) => Some("mask-reply"),
        (Family::V4, 30) => Some("traceroute"),
        (Family::V4, 31) => Some("conversion-error"),
        (Family::V4, 32) => Some("mobile-redirect"),
        (Family::V6, 1) => Some("unreachable"),
        (Family::V6, 2) => Some("packet-too-big"),
        (Family::V6, 3) => Some("time-exceeded"),
        (Family::V6, 4) => Some("parameter-problem"),
        (Family::V6, 128) => Some("echo-request"),
        (Family::V6, 129) => Some("echo-reply"),
        (Family::V6, 133) => Some("router-solicitation"),
        (Family::V6, 134) => Some("router-advertisement"),
        (Family::V6, 135) => Some("nd-ns"),
        (Family::V6, 136) => Some("nd-na"),
        _ => None,
    }
}

/// The reply type of an ICMP query type, if the query has one.
pub fn icmp_reply(ty: u8, family: Family) -> Option<u8> {
    match (family, ty) {
        (Family::V4, 8) => Some(0),
        (Family::V4, 13) => Some(14),
        (Family::V4, 15) => Some(16),
        (Family::V4, 17) => Some(18),
        (Family::V6, 128) => Some(129),
        _ => None,
    }
}

/// The text of an entry after the sequence number.
pub fn ace_text(ace: &Ace, family: Family) -> String {
    let mut parts: Vec<String> = vec![if ace.permit { "permit" } else { "deny" }.to_string()];
    parts.push(match (&ace.proto, family) {
        (AceProto::Ip, Family::V4) => "ip".to_string(),
        (AceProto::Ip, Family::V6) => "ipv6".to_string(),
        (AceProto::Tcp, _) => "tcp".to_string(),
        (AceProto::Udp, _) => "udp".to_string(),
        (AceProto::Icmp, _) => "icmp".to_string(),
        (AceProto::Number(n), _) => n.to_string(),
        (AceProto::Group(name), _) => {
            debug_assert_eq!(family, Family::V4);
            format!("object-group {name}")
        }
    });
    parts.push(addr_text(&ace.src, family));
    parts.extend(port_text(&ace.sport));
    parts.push(addr_text(&ace.dst, family));
    parts.extend(port_text(&ace.dport));
    if ace.established {
        parts.push("established".to_string());
    }
    if let Some(t) = ace.icmp {
        parts.push(
            icmp_keyword(t, family)
                .map(str::to_string)
                .unwrap_or_else(|| t.to_string()),
        );
    }
    if ace.log {
        parts.push("log".to_string());
    }
    parts.join(" ")
}

// ------------------------------------------------------------------ text

/// Makes free text safe for a `remark` or `description`: printable ASCII
/// only (no `?`, which the IOS CLI treats as a help request when pasted),
/// no leading `!`, whitespace collapsed, cut to [`REMARK_MAX`] characters.
/// The result is one line and cannot contain anything but remark text.
pub fn sanitize_remark(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = true;
    for c in text.chars() {
        let c = if c.is_whitespace() {
            ' '
        } else if (c.is_ascii_graphic()) && c != '?' {
            c
        } else {
            '_'
        };
        if c == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        out.push(c);
    }
    let trimmed = out.trim_start_matches(['!', ' ']).trim_end();
    let mut cut: String = trimmed.chars().take(REMARK_MAX).collect();
    while cut.ends_with(' ') {
        cut.pop();
    }
    cut
}

/// An ACL or group name from a policy name: `.` becomes `_`.
fn name_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// FNV-1a 64: a small, dependency-free, stable content hash.
pub fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

// ------------------------------------------------------------------ sets

fn family_part(a: &AddrSet, f: Family) -> AddrSet {
    match f {
        Family::V4 => AddrSet {
            v4: a.v4.clone(),
            v6: Default::default(),
        },
        Family::V6 => AddrSet {
            v4: Default::default(),
            v6: a.v6.clone(),
        },
    }
}

fn cidrs(a: &AddrSet, f: Family) -> Vec<IpNet> {
    match f {
        Family::V4 => a.v4_cidrs().into_iter().map(IpNet::V4).collect(),
        Family::V6 => a.v6_cidrs().into_iter().map(IpNet::V6).collect(),
    }
}

/// The part of a service one family can carry (the other family's ICMP
/// types removed). `any` stays `any`.
fn service_for(s: &ServiceSet, f: Family) -> ServiceSet {
    let mut s = s.clone();
    if !s.any {
        match f {
            Family::V4 => s.icmp6 = ByteSet::empty(),
            Family::V6 => s.icmp4 = ByteSet::empty(),
        }
    }
    s
}

/// `a` minus `b`, for one family (small additive helper; the IR has no
/// service difference).
fn service_difference(a: &ServiceSet, b: &ServiceSet, f: Family) -> ServiceSet {
    if b.any {
        return ServiceSet::default();
    }
    let (a, b) = (a.expanded(), b.expanded());
    service_for(
        &ServiceSet {
            any: false,
            tcp: a.tcp.difference(&b.tcp),
            udp: a.udp.difference(&b.udp),
            icmp4: a.icmp4.difference(&b.icmp4),
            icmp6: a.icmp6.difference(&b.icmp6),
            protocols: a.protocols.difference(&b.protocols),
        },
        f,
    )
}

/// A box of flows: sources × destinations × services, all of one family.
#[derive(Clone, Debug)]
struct Region {
    src: AddrSet,
    dst: AddrSet,
    svc: ServiceSet,
}

impl Region {
    fn of(rule: &Rule, f: Family) -> Self {
        Self {
            src: family_part(&rule.src.addrs, f),
            dst: family_part(&rule.dst.addrs, f),
            svc: service_for(&rule.service.set, f),
        }
    }

    fn is_empty(&self) -> bool {
        self.src.is_empty() || self.dst.is_empty() || self.svc.is_empty()
    }

    fn overlaps(&self, other: &Region) -> bool {
        self.src.overlaps(&other.src)
            && self.dst.overlaps(&other.dst)
            && self.svc.overlaps(&other.svc)
    }

    /// `self` minus `other`, as disjoint boxes.
    fn subtract(&self, other: &Region, f: Family) -> Vec<Region> {
        if !self.overlaps(other) {
            return vec![self.clone()];
        }
        let src_in = self.src.intersection(&other.src);
        let dst_in = self.dst.intersection(&other.dst);
        [
            Region {
                src: self.src.difference(&other.src),
                dst: self.dst.clone(),
                svc: self.svc.clone(),
            },
            Region {
                src: src_in.clone(),
                dst: self.dst.difference(&other.dst),
                svc: self.svc.clone(),
            },
            Region {
                src: src_in,
                dst: dst_in,
                svc: service_difference(&self.svc, &other.svc, f),
            },
        ]
        .into_iter()
        .filter(|r| !r.is_empty())
        .collect()
    }
}

/// Which denies' sources can overlap a set of sources: an index over the
/// source ranges of a family's deny regions, so that finding the denies an
/// allow's replies must subtract is not a scan of every earlier deny (which
/// made the cisco target quadratic in the number of rules).
struct SrcIndex {
    /// Denies with a source range wider than [`SrcIndex::NARROW`]: always
    /// candidates.
    wide: Vec<usize>,
    /// `(lo, hi, deny)` for every source range of the other denies, by `lo`.
    narrow: Vec<(u128, u128, usize)>,
}

impl SrcIndex {
    const NARROW: u128 = 1 << 16;

    fn new(denies: &[(usize, Region)], f: Family) -> Self {
        let mut wide = Vec::new();
        let mut narrow = Vec::new();
        for (pos, (_, d)) in denies.iter().enumerate() {
            let ranges = src_ranges(&d.src, f);
            if ranges.iter().any(|&(lo, hi)| hi - lo >= Self::NARROW) {
                wide.push(pos);
            } else {
                narrow.extend(ranges.into_iter().map(|(lo, hi)| (lo, hi, pos)));
            }
        }
        narrow.sort_unstable();
        Self { wide, narrow }
    }

    /// Positions (in rule order) of every deny whose sources overlap `src`,
    /// and possibly a few that do not.
    fn candidates(&self, src: &AddrSet, f: Family) -> Vec<usize> {
        let mut out = self.wide.clone();
        for (a, b) in src_ranges(src, f) {
            // A narrow range that reaches `a` starts after a - NARROW.
            let from = self
                .narrow
                .partition_point(|&(lo, _, _)| lo.saturating_add(Self::NARROW) <= a);
            out.extend(
                self.narrow[from..]
                    .iter()
                    .take_while(|&&(lo, _, _)| lo <= b)
                    .filter(|&&(_, hi, _)| hi >= a)
                    .map(|&(_, _, pos)| pos),
            );
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn src_ranges(a: &AddrSet, f: Family) -> Vec<(u128, u128)> {
    match f {
        Family::V4 => {
            a.v4.ranges()
                .iter()
                .map(|&(lo, hi)| (lo.into(), hi.into()))
                .collect()
        }
        Family::V6 => a.v6.ranges().to_vec(),
    }
}

/// Port matches covering exactly `ports`: single ports in `eq` lists of at
/// most [`EQ_MAX`], longer runs as inclusive `range`s.
pub fn port_matches(ports: &PortSet) -> Vec<PortMatch> {
    if ports.is_full() {
        return vec![PortMatch::All];
    }
    let mut singles = Vec::new();
    let mut ranges = Vec::new();
    for &(lo, hi) in ports.ranges() {
        match hi - lo {
            0 => singles.push(lo),
            1 => singles.extend([lo, hi]),
            _ => ranges.push(PortMatch::Range(lo, hi)),
        }
    }
    let mut out: Vec<PortMatch> = singles
        .chunks(EQ_MAX)
        .map(|c| PortMatch::Eq(c.to_vec()))
        .collect();
    out.extend(ranges);
    out
}

fn types(set: &ByteSet) -> impl Iterator<Item = u8> + '_ {
    set.ranges().iter().flat_map(|&(lo, hi)| lo..=hi)
}

// ------------------------------------------------------------------ building

/// Object groups, named by content so a name always means the same set.
#[derive(Default)]
struct Groups {
    /// name → (family, prefixes)
    by_name: BTreeMap<String, (Family, Vec<IpNet>)>,
    /// name → member lines of an IPv4 service object group
    services: BTreeMap<String, Vec<String>>,
}

impl Groups {
    /// The address field for `set` (one family): `None` when empty — the
    /// caller drops the entry, never widening it to `any`.
    fn addr(&mut self, set: &AddrSet, f: Family) -> Result<Option<AceAddr>, String> {
        let nets = cidrs(set, f);
        match nets.as_slice() {
            [] => Ok(None),
            [net] if net.prefix_len() == 0 => Ok(Some(AceAddr::Any)),
            [net] => Ok(Some(AceAddr::Net(*net))),
            _ => {
                let text: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
                let hash = fnv64(text.join(",").as_bytes());
                let name = match f {
                    Family::V4 => format!("WW-NET4-{hash:016X}"),
                    Family::V6 => format!("WW-NET6-{hash:016X}"),
                };
                let entry = self
                    .by_name
                    .entry(name.clone())
                    .or_insert_with(|| (f, nets.clone()));
                if entry.1 != nets {
                    return Err(name);
                }
                Ok(Some(AceAddr::Group(name)))
            }
        }
    }

    /// The service object group with exactly these member lines (in this
    /// order), named by a hash of them.
    fn service(&mut self, members: Vec<String>) -> Result<String, String> {
        let hash = fnv64(members.join("\n").as_bytes());
        let name = format!("WW-SVC-{hash:016X}");
        let entry = self
            .services
            .entry(name.clone())
            .or_insert_with(|| members.clone());
        if *entry != members {
            return Err(name);
        }
        Ok(name)
    }

    fn views(&self) -> Vec<GroupView> {
        let services = self.services.iter().map(|(name, members)| GroupView {
            kind: "service",
            name: name.clone(),
            description: format!("wardwall service set, {} members", members.len()),
            entries: members.clone(),
        });
        self.by_name
            .iter()
            .map(|(name, (f, nets))| GroupView {
                kind: match f {
                    Family::V4 => "network",
                    Family::V6 => "v6-network",
                },
                name: name.clone(),
                description: format!("wardwall address set, {} prefixes", nets.len()),
                entries: nets
                    .iter()
                    .map(|n| match n {
                        IpNet::V4(n) if n.prefix_len() == 32 => format!("host {}", n.addr()),
                        IpNet::V4(n) => format!("{} {}", n.network(), n.netmask()),
                        IpNet::V6(n) if n.prefix_len() == 128 => {
                            format!("host {}", n.addr().to_string().to_uppercase())
                        }
                        IpNet::V6(n) => format!(
                            "{}/{}",
                            n.network().to_string().to_uppercase(),
                            n.prefix_len()
                        ),
                    })
                    .collect(),
            })
            .chain(services)
            .collect()
    }
}

/// One ACL being filled.
struct AclBuild {
    zone: String,
    interface: String,
    family: Family,
    advisory: Vec<Line>,
    returns: Vec<Line>,
    forward: Vec<Line>,
}

fn remarks_for(rule: &Rule) -> Vec<Line> {
    let what = match rule.action {
        Action::Reject => {
            "reject, rendered as deny (ICMP unreachable only with ip unreachables)".to_string()
        }
        a => a.as_str().to_string(),
    };
    let mut out = vec![Line::Remark(sanitize_remark(&format!(
        "{}: {what}",
        rule.name
    )))];
    // A field that is present always gives its remark line (so free text
    // can never shift a sequence number), even when nothing printable is left.
    if let Some(d) = &rule.description {
        out.push(Line::Remark(remark_or_placeholder(d)));
    }
    let mut meta = Vec::new();
    if let Some(o) = &rule.owner {
        meta.push(format!("owner {o}"));
    }
    if let Some(t) = &rule.ticket {
        meta.push(format!("ticket {t}"));
    }
    if let Some(e) = &rule.expires {
        meta.push(format!("expires {e}"));
    }
    if !meta.is_empty() {
        out.push(Line::Remark(remark_or_placeholder(&meta.join(", "))));
    }
    out
}

fn remark_or_placeholder(text: &str) -> String {
    let r = sanitize_remark(text);
    if r.is_empty() {
        "(no printable text)".to_string()
    } else {
        r
    }
}

/// The line an entry's service takes in an `object-group service`, if a
/// service group can carry it: TCP/UDP destination ports (one `eq` port per
/// line, or an inclusive `range`, or the bare protocol for every port) and
/// ICMP as a whole or by a type keyword. Numeric ICMP types and other
/// protocols stay plain entries (see `docs/targets/cisco.md`).
fn service_members(ace: &Ace) -> Option<Vec<String>> {
    let proto = match ace.proto {
        AceProto::Tcp => "tcp",
        AceProto::Udp => "udp",
        AceProto::Icmp => {
            return match ace.icmp {
                None => Some(vec!["icmp".to_string()]),
                Some(t) => icmp_keyword(t, Family::V4).map(|k| vec![format!("icmp {k}")]),
            };
        }
        _ => return None,
    };
    if ace.sport != PortMatch::All || ace.established {
        return None;
    }
    Some(match &ace.dport {
        PortMatch::All => vec![proto.to_string()],
        PortMatch::Eq(ports) => ports.iter().map(|p| format!("{proto} eq {p}")).collect(),
        PortMatch::Range(a, b) => vec![format!("{proto} range {a} {b}")],
    })
}

/// Forward entries of a rule for one (source part, destination) pair.
///
/// In IPv4, when the part of the service a service object group can carry
/// would need two entries or more (more than [`EQ_MAX`] ports, ports and
/// ranges, TCP and UDP, several ICMP types), that part becomes one
/// `object-group service` and one entry `permit object-group SVC SRC DST`;
/// the rest (numeric ICMP types, other protocols) stays plain entries of the
/// same block. A service that fits one entry stays one plain entry.
fn forward_aces(
    src: AceAddr,
    dst: AceAddr,
    svc: &ServiceSet,
    f: Family,
    rule: &Rule,
    groups: &mut Groups,
) -> Result<Vec<Ace>, String> {
    let plain = plain_forward_aces(src, dst, svc, f, rule);
    if f != Family::V4 {
        return Ok(plain);
    }
    if plain
        .iter()
        .filter(|a| service_members(a).is_some())
        .count()
        < 2
    {
        return Ok(plain);
    }
    let (grouped, rest): (Vec<Ace>, Vec<Ace>) = plain
        .into_iter()
        .partition(|a| service_members(a).is_some());
    let members: Vec<String> = grouped
        .iter()
        .flat_map(|a| service_members(a).expect("partitioned on it"))
        .collect();
    let name = groups.service(members)?;
    let mut out = vec![Ace {
        proto: AceProto::Group(name),
        sport: PortMatch::All,
        dport: PortMatch::All,
        established: false,
        icmp: None,
        ..grouped[0].clone()
    }];
    out.extend(rest);
    Ok(out)
}

/// Forward entries of a rule for one (source part, destination) pair,
/// without service groups.
fn plain_forward_aces(
    src: AceAddr,
    dst: AceAddr,
    svc: &ServiceSet,
    f: Family,
    rule: &Rule,
) -> Vec<Ace> {
    let permit = rule.action.permits();
    let base = Ace {
        permit,
        proto: AceProto::Ip,
        src,
        sport: PortMatch::All,
        dst,
        dport: PortMatch::All,
        established: false,
        icmp: None,
        log: rule.log,
    };
    if svc.any {
        return vec![base];
    }
    let mut out = Vec::new();
    for pm in port_matches(&svc.tcp)
        .into_iter()
        .filter(|_| !svc.tcp.is_empty())
    {
        out.push(Ace {
            proto: AceProto::Tcp,
            dport: pm,
            ..base.clone()
        });
    }
    for pm in port_matches(&svc.udp)
        .into_iter()
        .filter(|_| !svc.udp.is_empty())
    {
        out.push(Ace {
            proto: AceProto::Udp,
            dport: pm,
            ..base.clone()
        });
    }
    let icmp = match f {
        Family::V4 => &svc.icmp4,
        Family::V6 => &svc.icmp6,
    };
    if icmp.is_full() {
        out.push(Ace {
            proto: AceProto::Icmp,
            ..base.clone()
        });
    } else {
        for t in types(icmp) {
            out.push(Ace {
                proto: AceProto::Icmp,
                icmp: Some(t),
                ..base.clone()
            });
        }
    }
    for p in types(&svc.protocols) {
        out.push(Ace {
            proto: AceProto::Number(p),
            ..base.clone()
        });
    }
    out
}

/// Return entries: replies from `resp` (the rule's destination side) to
/// `init` (its source side) for the flows of `svc`.
fn return_aces(resp: AceAddr, init: AceAddr, svc: &ServiceSet, f: Family) -> Vec<Ace> {
    let base = Ace {
        permit: true,
        proto: AceProto::Ip,
        src: resp,
        sport: PortMatch::All,
        dst: init,
        dport: PortMatch::All,
        established: false,
        icmp: None,
        log: false,
    };
    let mut out = Vec::new();
    if !svc.tcp.is_empty() {
        for pm in port_matches(&svc.tcp) {
            out.push(Ace {
                proto: AceProto::Tcp,
                sport: pm,
                established: true,
                ..base.clone()
            });
        }
    }
    if !svc.udp.is_empty() {
        for pm in port_matches(&svc.udp) {
            out.push(Ace {
                proto: AceProto::Udp,
                sport: pm,
                ..base.clone()
            });
        }
    }
    let icmp = match f {
        Family::V4 => &svc.icmp4,
        Family::V6 => &svc.icmp6,
    };
    let replies: BTreeSet<u8> = types(icmp).filter_map(|t| icmp_reply(t, f)).collect();
    for r in replies {
        out.push(Ace {
            proto: AceProto::Icmp,
            icmp: Some(r),
            ..base.clone()
        });
    }
    for p in types(&svc.protocols) {
        out.push(Ace {
            proto: AceProto::Number(p),
            ..base.clone()
        });
    }
    out
}

/// Lowers the IR to the Cisco view model, or explains what cannot be
/// expressed.
pub fn build_view(ir: &Ir) -> Result<View, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    if ir.default_action.permits() {
        errors.push(
            Diagnostic::error(
                "cisco-default-allow",
                "the cisco target only supports a default deny",
            )
            .help("IOS ACLs end in an implicit deny"),
        );
    }

    // ACLs per bound zone, in zone order.
    let mut acls: Vec<AclBuild> = Vec::new();
    let mut index: BTreeMap<(String, Family), usize> = BTreeMap::new();
    let mut base_names: BTreeMap<String, String> = BTreeMap::new();
    for zone in &ir.zones {
        let Some(iface) = zone.bindings.get(TARGET) else {
            continue;
        };
        let base = format!("WW-{}-IN", name_part(&zone.name));
        if let Some(other) = base_names.insert(base.clone(), zone.name.clone()) {
            errors.push(
                Diagnostic::error(
                    "cisco-name-clash",
                    format!(
                        "zones `{other}` and `{}` give the same cisco ACL name `{base}`",
                        zone.name
                    ),
                )
                .at(zone.span, "this zone")
                .help("rename one of the zones (`.` becomes `_` in ACL names)"),
            );
        }
        for f in [Family::V4, Family::V6] {
            index.insert((zone.name.clone(), f), acls.len());
            acls.push(AclBuild {
                zone: zone.name.clone(),
                interface: iface.clone(),
                family: f,
                advisory: Vec::new(),
                returns: Vec::new(),
                forward: Vec::new(),
            });
        }
    }
    let mut ifaces: BTreeMap<&str, &str> = BTreeMap::new();
    for a in &acls {
        if let Some(z) = ifaces.insert(&a.interface, &a.zone)
            && z != a.zone
        {
            let zone = ir.zone(&a.zone).expect("zone exists");
            errors.push(
                Diagnostic::error(
                    "cisco-interface-shared",
                    format!(
                        "zones `{z}` and `{}` are both bound to cisco interface `{}`",
                        a.zone, a.interface
                    ),
                )
                .at(zone.span, "second zone on the interface")
                .help("an interface takes one inbound ACL per family: give each zone its own interface"),
            );
        }
    }

    // The region of every deny and reject, per family ([V4, V6]), in rule
    // order: what the return entries of later allows subtract.
    let mut deny_regions: [Vec<(usize, Region)>; 2] = [Vec::new(), Vec::new()];
    for (i, rule) in ir.rules.iter().enumerate() {
        if rule.action.permits() {
            continue;
        }
        for f in rule.families() {
            deny_regions[f as usize].push((i, Region::of(rule, f)));
        }
    }

    let deny_index = [
        SrcIndex::new(&deny_regions[0], Family::V4),
        SrcIndex::new(&deny_regions[1], Family::V6),
    ];

    let mut groups = Groups::default();
    for (i, rule) in ir.rules.iter().enumerate() {
        if rule.action.permits() && rule.service.set.any {
            errors.push(
                Diagnostic::error(
                    "cisco-allow-any-protocol",
                    format!(
                        "rule `{}` allows every protocol; a stateless IOS ACL cannot return the replies of every protocol without opening the reverse direction completely",
                        rule.name
                    ),
                )
                .at(rule.span, "allows `any` service")
                .help("name the services (tcp/udp ports, ICMP types, protocols) the flow needs"),
            );
            continue;
        }
        // (for replies?, where): sources first, then replies.
        let mut missing: BTreeSet<(bool, String)> = BTreeSet::new();
        for f in rule.families() {
            let region = Region::of(rule, f);
            // Forward entries, on the zones the sources live in.
            for (zone, part) in ir.split_by_zone(&region.src) {
                let acl = zone.and_then(|z| index.get(&(z.name.clone(), f)).copied());
                let Some(acl) = acl else {
                    if rule.action.permits() {
                        missing.insert((false, place(zone, &part)));
                    }
                    // A deny for sources that never enter the router holds
                    // vacuously: no entry permits them either.
                    continue;
                };
                let src = groups.addr(&part, f);
                let dst = groups.addr(&region.dst, f);
                let (src, dst) = match (src, dst) {
                    (Ok(Some(s)), Ok(Some(d))) => (s, d),
                    (Err(n), _) | (_, Err(n)) => {
                        errors.push(Diagnostic::error(
                            "cisco-group-hash-collision",
                            format!("two address sets hash to object-group name `{n}`"),
                        ));
                        continue;
                    }
                    _ => continue,
                };
                let build = &mut acls[acl];
                let target = if matches!(rule.origin, RuleOrigin::AdvisoryBlock { .. }) {
                    &mut build.advisory
                } else {
                    &mut build.forward
                };
                match forward_aces(src, dst, &region.svc, f, rule, &mut groups) {
                    Ok(aces) => {
                        target.extend(remarks_for(rule));
                        target.extend(aces.into_iter().map(Line::Ace));
                    }
                    Err(n) => errors.push(Diagnostic::error(
                        "cisco-group-hash-collision",
                        format!("two service sets hash to object-group name `{n}`"),
                    )),
                }
            }
            if !rule.action.permits() {
                continue;
            }
            // Return entries: the flows this rule really permits (earlier
            // denies and rejects subtracted), on the responders' zones.
            // (Deny regions are built once per family; one that misses the
            // rule's whole region misses every part of it and is skipped
            // without copying the parts: this loop is allows × denies.)
            let mut parts = vec![region.clone()];
            let denies = &deny_regions[f as usize];
            for pos in deny_index[f as usize].candidates(&region.src, f) {
                let (at, d) = &denies[pos];
                if *at >= i {
                    break;
                }
                if !region.overlaps(d) {
                    continue;
                }
                parts = parts.iter().flat_map(|p| p.subtract(d, f)).collect();
            }
            let mut per_acl: BTreeMap<usize, Vec<Ace>> = BTreeMap::new();
            for part in &parts {
                for (zone, resp) in ir.split_by_zone(&part.dst) {
                    let acl = zone.and_then(|z| index.get(&(z.name.clone(), f)).copied());
                    let Some(acl) = acl else {
                        missing.insert((true, place(zone, &resp)));
                        continue;
                    };
                    let r = groups.addr(&resp, f);
                    let s = groups.addr(&part.src, f);
                    match (r, s) {
                        (Ok(Some(r)), Ok(Some(s))) => per_acl
                            .entry(acl)
                            .or_default()
                            .extend(return_aces(r, s, &part.svc, f)),
                        (Err(n), _) | (_, Err(n)) => errors.push(Diagnostic::error(
                            "cisco-group-hash-collision",
                            format!("two address sets hash to object-group name `{n}`"),
                        )),
                        _ => {}
                    }
                }
            }
            for (acl, aces) in per_acl {
                if aces.is_empty() {
                    continue;
                }
                let build = &mut acls[acl];
                build.returns.push(Line::Remark(sanitize_remark(&format!(
                    "{}: replies (stateless return entries)",
                    rule.name
                ))));
                build.returns.extend(aces.into_iter().map(Line::Ace));
            }
        }
        if !missing.is_empty() {
            errors.push(unplaceable(rule, &missing));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // Number the lines and assemble the stable text.
    let mut acl_views = Vec::new();
    for build in acls {
        let f = build.family;
        let suffix = match f {
            Family::V4 => "4",
            Family::V6 => "6",
        };
        let name = format!("WW-{}-IN{suffix}", name_part(&build.zone));
        let mut body = build.advisory;
        body.extend(build.returns);
        body.extend(build.forward);
        if f == Family::V6 {
            body.push(Line::Remark(
                "neighbour discovery: an explicit final deny would block it".to_string(),
            ));
            for t in [136u8, 135] {
                body.push(Line::Ace(Ace {
                    permit: true,
                    proto: AceProto::Icmp,
                    src: AceAddr::Any,
                    sport: PortMatch::All,
                    dst: AceAddr::Any,
                    dport: PortMatch::All,
                    established: false,
                    icmp: Some(t),
                    log: false,
                }));
            }
        }
        body.push(Line::Remark("default: deny everything else".to_string()));
        body.push(Line::Ace(Ace {
            permit: false,
            proto: AceProto::Ip,
            src: AceAddr::Any,
            sport: PortMatch::All,
            dst: AceAddr::Any,
            dport: PortMatch::All,
            established: false,
            icmp: None,
            log: ir.default_log,
        }));
        let mut seq = 0u32;
        let mut lines = Vec::with_capacity(body.len());
        for line in body {
            match (line, f) {
                (Line::Remark(text), Family::V4) => {
                    seq += SEQ_STEP;
                    lines.push(format!("{seq} remark {text}"));
                }
                (Line::Remark(text), Family::V6) => lines.push(format!("remark {text}")),
                (Line::Ace(ace), Family::V4) => {
                    seq += SEQ_STEP;
                    lines.push(format!("{seq} {}", ace_text(&ace, f)));
                }
                (Line::Ace(ace), Family::V6) => {
                    seq += SEQ_STEP;
                    lines.push(format!("sequence {seq} {}", ace_text(&ace, f)));
                }
            }
        }
        acl_views.push(AclView {
            command: match f {
                Family::V4 => "ip access-list extended",
                Family::V6 => "ipv6 access-list",
            },
            zone: build.zone,
            interface: build.interface,
            name,
            staging: String::new(),
            lines,
        });
    }
    let group_views = groups.views();

    // The version: a hash of everything the stable configuration says.
    let mut stable = String::new();
    for g in &group_views {
        stable.push_str(&format!("{} {}\n{:?}\n", g.kind, g.name, g.entries));
    }
    for a in &acl_views {
        stable.push_str(&format!("{} {} {}\n", a.command, a.name, a.interface));
        for l in &a.lines {
            stable.push_str(l);
            stable.push('\n');
        }
    }
    let version = format!("{:016X}", fnv64(stable.as_bytes()));
    // Each ACL's versioned name comes from its own text (group names are
    // content hashes, so the text fixes what it matches): an unchanged ACL
    // keeps its versioned name, and a leftover versioned ACL from an
    // interrupted run always has the same content.
    for a in &mut acl_views {
        let hash = fnv64(format!("{}\n{}", a.command, a.lines.join("\n")).as_bytes());
        a.staging = format!("{}-{hash:016X}", a.name);
    }
    let mut interfaces = Vec::new();
    for pair in acl_views.chunks(2) {
        let (v4, v6) = (&pair[0], &pair[1]);
        interfaces.push(InterfaceView {
            name: v4.interface.clone(),
            zone: v4.zone.clone(),
            v4: v4.name.clone(),
            v4_staging: v4.staging.clone(),
            v6: v6.name.clone(),
            v6_staging: v6.staging.clone(),
        });
    }

    let mut header = vec![format!(
        "wardwall policy {}: Cisco IOS-XE interface ACLs",
        ir.name
    )];
    if let Some(d) = &ir.description {
        header.push(remark_or_placeholder(d));
    }
    Ok(View {
        policy: ir.name.clone(),
        header,
        version,
        groups: group_views,
        acls: acl_views,
        interfaces,
    })
}

/// Where unplaceable addresses are: a zone without a cisco binding, or no
/// zone at all (with an example address).
fn place(zone: Option<&crate::ir::Zone>, part: &AddrSet) -> String {
    match zone {
        Some(z) => format!("zone `{}`", z.name),
        None => format!(
            "addresses in no zone (e.g. {})",
            part.sample().map_or_else(String::new, |a| a.to_string())
        ),
    }
}

fn unplaceable(rule: &Rule, missing: &BTreeSet<(bool, String)>) -> Diagnostic {
    let what: Vec<String> = missing
        .iter()
        .map(|(reply, place)| format!("{place} ({})", if *reply { "replies" } else { "sources" }))
        .collect();
    Diagnostic::error(
        "cisco-unplaceable",
        format!(
            "rule `{}` needs a cisco interface for {}: without one there is no ACL to place its entries on",
            rule.name,
            what.join(", ")
        ),
    )
    .at(rule.span, "this rule")
    .help("bind the zone to a cisco interface (`interface cisco=\"...\"`) or narrow the rule")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addrset::IntervalSet;

    /// The deny index never misses a deny whose sources overlap the query,
    /// and returns positions in rule order (narrow, wide and mixed ranges,
    /// both families).
    #[test]
    fn src_index_finds_every_overlapping_deny() {
        use proptest::prelude::*;
        use proptest::test_runner::TestRunner;
        // (start, length) pairs in a small space so that ranges meet often;
        // lengths around the NARROW threshold on both sides.
        let ranges = || {
            prop::collection::vec(
                (
                    0u32..400_000,
                    prop::sample::select(vec![0u32, 255, 65_534, 65_535, 200_000]),
                ),
                1..4,
            )
        };
        let case = (
            prop::collection::vec(ranges(), 0..30),
            ranges(),
            any::<bool>(),
        );
        TestRunner::default()
            .run(&case, |(denies, query, v6)| {
                let f = if v6 { Family::V6 } else { Family::V4 };
                let set = |rs: &[(u32, u32)]| {
                    let mut a = AddrSet::default();
                    if v6 {
                        a.v6 = IntervalSet::from_ranges(
                            rs.iter()
                                .map(|&(lo, len)| (u128::from(lo), u128::from(lo + len))),
                        );
                    } else {
                        a.v4 = IntervalSet::from_ranges(rs.iter().map(|&(lo, len)| (lo, lo + len)));
                    }
                    a
                };
                let regions: Vec<(usize, Region)> = denies
                    .iter()
                    .enumerate()
                    .map(|(i, rs)| {
                        (
                            i,
                            Region {
                                src: set(rs),
                                dst: AddrSet::any(),
                                svc: ServiceSet::any(),
                            },
                        )
                    })
                    .collect();
                let q = set(&query);
                let got = SrcIndex::new(&regions, f).candidates(&q, f);
                prop_assert!(got.windows(2).all(|w| w[0] < w[1]), "in rule order");
                for (pos, (_, d)) in regions.iter().enumerate() {
                    if d.src.overlaps(&q) {
                        prop_assert!(got.contains(&pos), "deny {pos} overlaps but is missing");
                    }
                }
                Ok(())
            })
            .unwrap();
    }

    fn wc(s: &str) -> String {
        wildcard(&s.parse().unwrap()).to_string()
    }

    #[test]
    fn wildcards_are_inverse_masks() {
        assert_eq!(wc("0.0.0.0/0"), "255.255.255.255");
        assert_eq!(wc("10.0.0.0/8"), "0.255.255.255");
        assert_eq!(wc("10.20.8.0/24"), "0.0.0.255");
        assert_eq!(wc("10.10.20.50/31"), "0.0.0.1");
        assert_eq!(wc("10.10.20.52/32"), "0.0.0.0");
        assert_eq!(wc("10.10.20.0/23"), "0.0.1.255");
    }

    #[test]
    fn address_fields() {
        let v4 = |s: &str| addr_text(&AceAddr::Net(s.parse().unwrap()), Family::V4);
        assert_eq!(v4("10.20.8.0/24"), "10.20.8.0 0.0.0.255");
        assert_eq!(v4("10.10.20.52/32"), "host 10.10.20.52");
        assert_eq!(v4("10.10.20.50/31"), "10.10.20.50 0.0.0.1");
        assert_eq!(v4("10.0.0.0/8"), "10.0.0.0 0.255.255.255");
        let v6 = |s: &str| addr_text(&AceAddr::Net(s.parse().unwrap()), Family::V6);
        assert_eq!(v6("fd42:1:0:20::/64"), "FD42:1:0:20::/64");
        assert_eq!(v6("fd42:1:0:20::30/128"), "host FD42:1:0:20::30");
    }

    #[test]
    fn ports_split_into_eq_lists_and_ranges() {
        let ps = PortSet::from_ranges([(80, 80), (443, 443), (6661, 6670), (8000, 8001)]);
        assert_eq!(
            port_matches(&ps),
            vec![
                PortMatch::Eq(vec![80, 443, 8000, 8001]),
                PortMatch::Range(6661, 6670)
            ]
        );
        let many = PortSet::from_ranges((0..12u16).map(|i| (i * 3, i * 3)));
        let m = port_matches(&many);
        assert_eq!(m.len(), 2);
        assert!(matches!(&m[0], PortMatch::Eq(v) if v.len() == EQ_MAX));
        assert_eq!(port_matches(&PortSet::full()), vec![PortMatch::All]);
    }

    #[test]
    fn remarks_are_one_safe_line() {
        assert_eq!(sanitize_remark("!! permit ip any any"), "permit ip any any");
        assert_eq!(sanitize_remark("a\nb\tc"), "a b c");
        assert_eq!(sanitize_remark("what? ünï"), "what_ _n_");
        let long = "x".repeat(300);
        assert_eq!(sanitize_remark(&long).len(), REMARK_MAX);
        for s in ["\"<&#!;\\", "ä".repeat(200).as_str(), " ! ! x "] {
            let r = sanitize_remark(s);
            assert!(r.len() <= REMARK_MAX);
            assert!(r.chars().all(|c| c.is_ascii_graphic() || c == ' '));
            assert!(!r.starts_with('!') && !r.contains('?'));
        }
    }

    #[test]
    fn icmp_replies_per_family() {
        assert_eq!(icmp_reply(8, Family::V4), Some(0));
        assert_eq!(icmp_reply(128, Family::V6), Some(129));
        assert_eq!(icmp_reply(8, Family::V6), None);
        assert_eq!(icmp_reply(3, Family::V4), None);
    }

    fn region(src: &str, dst: &str, tcp: &[(u16, u16)], icmp4: &[(u8, u8)]) -> Region {
        let set = |s: &str| {
            AddrSet::from_nets(
                s.split(',')
                    .filter(|x| !x.is_empty())
                    .map(|x| x.parse::<IpNet>().unwrap()),
            )
        };
        Region {
            src: set(src),
            dst: set(dst),
            svc: ServiceSet {
                tcp: PortSet::from_ranges(tcp.iter().copied()),
                icmp4: ByteSet::from_ranges(icmp4.iter().copied()),
                ..ServiceSet::default()
            },
        }
    }

    fn contains(r: &Region, src: u32, dst: u32, tcp: Option<u16>, icmp: Option<u8>) -> bool {
        r.src.v4.contains(src)
            && r.dst.v4.contains(dst)
            && (tcp.is_some_and(|p| r.svc.tcp.contains(p))
                || icmp.is_some_and(|t| r.svc.icmp4.contains(t)))
    }

    /// `subtract` is exact and its pieces are disjoint, checked on a grid
    /// of addresses around every boundary, ports and types.
    #[test]
    fn region_subtraction_is_exact_and_disjoint() {
        let cases = [
            (
                region(
                    "10.0.0.0/8",
                    "0.0.0.0/0",
                    &[(80, 80), (443, 443)],
                    &[(8, 8)],
                ),
                region("10.1.0.0/16", "202.114.4.0/24", &[(0, 65535)], &[(0, 255)]),
            ),
            (
                region("10.0.0.0/24", "10.2.0.0/16", &[(20, 30)], &[]),
                region("10.0.0.128/25", "10.2.3.0/24,10.2.9.9/32", &[(25, 40)], &[]),
            ),
            (
                region("10.0.0.0/24", "10.2.0.0/16", &[(20, 30)], &[(0, 20)]),
                region("11.0.0.0/8", "10.2.0.0/16", &[(20, 30)], &[]),
            ),
        ];
        let addrs: Vec<u32> = [
            "9.255.255.255",
            "10.0.0.0",
            "10.0.0.127",
            "10.0.0.128",
            "10.0.0.255",
            "10.0.1.0",
            "10.1.0.0",
            "10.1.255.255",
            "10.2.0.0",
            "10.2.3.7",
            "10.2.9.9",
            "10.2.9.10",
            "11.0.0.1",
            "202.114.3.255",
            "202.114.4.0",
            "202.114.4.255",
            "202.114.5.0",
        ]
        .iter()
        .map(|a| u32::from(a.parse::<std::net::Ipv4Addr>().unwrap()))
        .collect();
        let ports = [0u16, 19, 20, 24, 25, 30, 31, 40, 41, 80, 443, 65535];
        let types = [0u8, 8, 9, 20, 21, 255];
        for (a, b) in &cases {
            let pieces = a.subtract(b, Family::V4);
            for &s in &addrs {
                for &d in &addrs {
                    let probes = ports
                        .iter()
                        .map(|&p| (Some(p), None))
                        .chain(types.iter().map(|&t| (None, Some(t))));
                    for (p, t) in probes {
                        let want = contains(a, s, d, p, t) && !contains(b, s, d, p, t);
                        let hits = pieces.iter().filter(|r| contains(r, s, d, p, t)).count();
                        assert_eq!(hits, usize::from(want), "{s} {d} {p:?} {t:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn service_members_only_for_forms_a_group_carries() {
        let ace = |proto: AceProto, dport: PortMatch, icmp: Option<u8>| Ace {
            permit: true,
            proto,
            src: AceAddr::Any,
            sport: PortMatch::All,
            dst: AceAddr::Any,
            dport,
            established: false,
            icmp,
            log: false,
        };
        let m = |a: &Ace| service_members(a);
        assert_eq!(
            m(&ace(AceProto::Tcp, PortMatch::Eq(vec![80, 443]), None)),
            Some(vec!["tcp eq 80".to_string(), "tcp eq 443".to_string()])
        );
        assert_eq!(
            m(&ace(AceProto::Udp, PortMatch::Range(6661, 6670), None)),
            Some(vec!["udp range 6661 6670".to_string()])
        );
        assert_eq!(
            m(&ace(AceProto::Tcp, PortMatch::All, None)),
            Some(vec!["tcp".to_string()])
        );
        assert_eq!(
            m(&ace(AceProto::Icmp, PortMatch::All, None)),
            Some(vec!["icmp".to_string()])
        );
        assert_eq!(
            m(&ace(AceProto::Icmp, PortMatch::All, Some(8))),
            Some(vec!["icmp echo".to_string()])
        );
        // Numeric ICMP types, other protocols, `ip`, source ports and
        // `established` (return entries) never go into a group.
        assert_eq!(m(&ace(AceProto::Icmp, PortMatch::All, Some(1))), None);
        assert_eq!(m(&ace(AceProto::Number(47), PortMatch::All, None)), None);
        assert_eq!(m(&ace(AceProto::Ip, PortMatch::All, None)), None);
        let mut ret = ace(AceProto::Tcp, PortMatch::All, None);
        ret.sport = PortMatch::Eq(vec![443]);
        ret.established = true;
        assert_eq!(m(&ret), None);
    }

    #[test]
    fn service_group_names_are_content_hashes() {
        let mut g = Groups::default();
        let a = g
            .service(vec!["tcp eq 53".into(), "udp eq 53".into()])
            .unwrap();
        let b = g
            .service(vec!["tcp eq 53".into(), "udp eq 53".into()])
            .unwrap();
        let c = g
            .service(vec!["udp eq 53".into(), "tcp eq 53".into()])
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("WW-SVC-") && a.len() == 7 + 16, "{a}");
        assert_eq!(g.views().len(), 2);
        assert!(g.views().iter().all(|v| v.kind == "service"));
    }

    #[test]
    fn icmp_keywords_are_unique_per_family() {
        for f in [Family::V4, Family::V6] {
            let mut seen = BTreeSet::new();
            for t in 0..=255u8 {
                if let Some(k) = icmp_keyword(t, f) {
                    assert!(seen.insert(k), "{k} twice");
                }
            }
        }
        assert_eq!(icmp_keyword(13, Family::V4), Some("timestamp-request"));
        assert_eq!(icmp_keyword(2, Family::V4), None);
        assert_eq!(icmp_keyword(200, Family::V6), None);
    }
}
