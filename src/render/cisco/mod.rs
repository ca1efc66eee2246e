//! The Cisco IOS / IOS-XE target: interface ACLs on one central router.
//!
//! Placement ([`crate::place`]): every `cisco` binding is one routed
//! interface (zones bound to the same one share it). Each gets one named
//! extended IPv4 ACL and one IPv6 ACL, applied inbound. An IR rule is placed
//! on the inbound ACLs of the interfaces its *source* addresses arrive on,
//! with the source cut to that interface's part, in IR order, so first match
//! holds per interface.
//!
//! Extended ACLs are stateless, so every allow also gets return entries on
//! the ACL of the zone(s) its destination lives in: TCP replies with
//! `established` and the service port as source port, UDP replies with the
//! service port as source port, ICMP echo/timestamp/info/mask replies, and
//! other protocols in the reverse direction. A return entry covers exactly
//! the flows the IR permits through that rule: earlier deny/reject rules are
//! subtracted from the rule's (source × destination × service) box first
//! (by the traffic-space algebra of [`crate::analysis::space`]), so
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
//! made here, and the entries and object groups are written here as text;
//! the template `targets/cisco/acl.ios.j2` lays out the frame around them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::path::PathBuf;

use ipnet::{IpNet, Ipv4Net};
use minijinja::Value;
use serde::Serialize;

use crate::addrset::{AddrSet, ByteSet, PortSet};
use crate::analysis::index::BoxIndex;
use crate::analysis::space::{Cube, Space};
use crate::diagnostics::Diagnostic;
use crate::ir::{Action, Family, Ir, Rule, RuleOrigin, ServiceSet};
use crate::place::{Binding, Placement, Reach};
use crate::render::{
    Fnv1a, RenderedFile, Renderer, Templates, fnv1a, push_decimal, push_ipv4, template_error,
};
use crate::text::{Field, Overflow};
use crate::vocab::Target;

mod numbering;
use numbering::PreviousNumbers;

/// The target name (`-t cisco`, the template folder, the output folder).
pub(crate) const TARGET: &str = Target::Cisco.name();

/// Cisco's limit on one remark (and what we use for descriptions).
pub(crate) const REMARK_MAX: usize = 100;

/// Ports on one `eq` (IOS-XE YANG allows up to 10).
pub(crate) const EQ_MAX: usize = 10;

/// Sequence numbers are spaced by this much.
pub(crate) const SEQ_STEP: u32 = 10;

/// The Cisco IOS-XE renderer.
pub struct Cisco;

const TEMPLATES: &[(&str, &str)] = &[(
    "acl.ios.j2",
    include_str!("../../../targets/cisco/acl.ios.j2"),
)];

impl Renderer for Cisco {
    fn target(&self) -> Target {
        Target::Cisco
    }

    /// Its stateless return entries would open the reverse direction of
    /// an allowed `any` wholly.
    fn refuses_allow_any(&self) -> bool {
        true
    }

    fn embedded_templates(&self) -> &'static [(&'static str, &'static str)] {
        TEMPLATES
    }

    fn render(&self, ir: &Ir, templates: &Templates) -> Result<Vec<RenderedFile>, Vec<Diagnostic>> {
        let path = PathBuf::from(TARGET).join(format!("{}.ios", ir.name));
        let previous = templates
            .previous
            .read(&path)
            .map(|text| PreviousNumbers::parse(&text))
            .unwrap_or_default();
        let view = build_view(ir, &previous)?;
        for warning in &view.warnings {
            eprintln!("warning: {warning}");
        }
        let env = templates.environment(self);
        let template = env
            .get_template("acl.ios.j2")
            .map_err(|e| vec![template_error(TARGET, &e)])?;
        // The built-in template prints every ACL twice; the frame adds a few
        // kilobytes.
        let acl_bytes: usize = view.acls.iter().map(|a| a.text.len()).sum();
        let size = view.groups_text.len() + 2 * acl_bytes + 64 * 1024;
        let mut out = Vec::with_capacity(size);
        template
            .render_captured_to(minijinja::context! { v => view.into_value() }, &mut out)
            .map_err(|e| vec![template_error(TARGET, &e)])?;
        let contents = String::from_utf8(out).expect("templates write UTF-8");
        Ok(vec![RenderedFile { path, contents }])
    }

    fn validate(&self, ir: &Ir) -> Vec<Diagnostic> {
        plan(ir).err().unwrap_or_default()
    }
}

// ------------------------------------------------------------------ view model

/// Everything the template needs; every string is final IOS text. The
/// template lays out the frame (header, phases, interface bindings); the
/// object groups and the ACL entries, which grow with the policy, are
/// written here as text: a template loop costs about a microsecond per
/// iteration, several times the cost of writing the line.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct View {
    pub policy: String,
    /// Comment lines for the header (without the leading `! `).
    pub header: Vec<String>,
    /// Content hash of the stable configuration (16 hex digits, FNV-1a 64).
    pub version: String,
    /// Every object group, by name (network groups, then service groups):
    /// `object-group <kind> <name>`, ` description ...`, one line per entry,
    /// and `!`.
    pub groups_text: String,
    pub acls: Vec<AclView>,
    pub interfaces: Vec<InterfaceView>,
    /// What the build should say on stderr (an ACL numbered afresh).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl View {
    /// The template's `v`. The large strings are moved into template values
    /// one at a time (each is copied once), so the view and its values do
    /// not both hold all the text.
    fn into_value(self) -> Value {
        let acls: Vec<Value> = self
            .acls
            .into_iter()
            .map(|a| {
                minijinja::context! {
                    command => a.command,
                    zone => a.zone,
                    interface => a.interface,
                    name => a.name,
                    staging => a.staging,
                    text => Value::from_safe_string(a.text),
                }
            })
            .collect();
        minijinja::context! {
            policy => self.policy,
            header => self.header,
            version => self.version,
            groups_text => Value::from_safe_string(self.groups_text),
            acls,
            interfaces => Value::from(minijinja::value::Serde(&self.interfaces)),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct AclView {
    /// `ip access-list extended` or `ipv6 access-list`.
    pub command: &'static str,
    pub zone: String,
    pub interface: String,
    /// The stable name the ACL ends up with.
    pub name: String,
    /// The versioned name it is built and bound under first.
    pub staging: String,
    /// The entry lines, numbered, each indented by one space and ending in
    /// a newline.
    pub text: String,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct InterfaceView {
    pub name: String,
    pub zone: String,
    pub v4: String,
    pub v4_staging: String,
    pub v6: String,
    pub v6_staging: String,
}

// ------------------------------------------------------------------ ACEs

/// Protocol field of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AceProto {
    /// `ip` / `ipv6`: every protocol.
    Ip,
    Tcp,
    Udp,
    /// ICMP in an IPv4 ACL, ICMPv6 in an IPv6 ACL.
    Icmp,
    Number(u8),
    /// `object-group NAME` in the protocol position: a service object group
    /// (IPv4 only); no ports, `established` or ICMP type follow.
    Group(GroupName),
}

/// An address field of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AceAddr {
    Any,
    Net(IpNet),
    Group(GroupName),
}

/// A port match (TCP/UDP only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PortMatch {
    All,
    Eq(EqPorts),
    Range(u16, u16),
}

/// The ports of one `eq`: 1 to [`EQ_MAX`], kept inline (entries are made
/// by the hundred thousand).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EqPorts {
    len: u8,
    ports: [u16; EQ_MAX],
}

impl EqPorts {
    /// At most [`EQ_MAX`] ports.
    pub(crate) fn new(ports: &[u16]) -> Self {
        assert!(
            !ports.is_empty() && ports.len() <= EQ_MAX,
            "1 to {EQ_MAX} ports"
        );
        let mut out = Self {
            len: ports.len() as u8,
            ports: [0; EQ_MAX],
        };
        out.ports[..ports.len()].copy_from_slice(ports);
        out
    }

    pub(crate) fn ports(&self) -> &[u16] {
        &self.ports[..usize::from(self.len)]
    }
}

/// One access-control entry, before numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ace {
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

/// The name of a content-named object group: its kind and the FNV-1a 64
/// hash of its content (`WW-NET4-<16 hex digits>`, `WW-NET6-...`,
/// `WW-SVC-...`). Ordered as the names are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct GroupName {
    kind: GroupKind,
    hash: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum GroupKind {
    Net4,
    Net6,
    Service,
}

impl GroupName {
    fn write(self, out: &mut String) {
        out.push_str(match self.kind {
            GroupKind::Net4 => "WW-NET4-",
            GroupKind::Net6 => "WW-NET6-",
            GroupKind::Service => "WW-SVC-",
        });
        push_hex16(out, self.hash);
    }

    /// The `object-group` keyword of the group's kind.
    fn keyword(self) -> &'static str {
        match self.kind {
            GroupKind::Net4 => "network",
            GroupKind::Net6 => "v6-network",
            GroupKind::Service => "service",
        }
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write(&mut s);
        f.write_str(&s)
    }
}

/// The wildcard (inverse) mask of an IPv4 prefix: `/24` → `0.0.0.255`.
pub(crate) fn wildcard(net: &Ipv4Net) -> std::net::Ipv4Addr {
    net.hostmask()
}

/// Writes an address field.
fn write_addr(out: &mut String, a: &AceAddr) {
    match a {
        AceAddr::Any => out.push_str("any"),
        AceAddr::Group(n) => {
            out.push_str("object-group ");
            n.write(out);
        }
        AceAddr::Net(IpNet::V4(n)) if n.prefix_len() == 32 => {
            out.push_str("host ");
            push_ipv4(out, n.addr().into());
        }
        AceAddr::Net(IpNet::V4(n)) => {
            push_ipv4(out, n.network().into());
            out.push(' ');
            push_ipv4(out, wildcard(n).into());
        }
        AceAddr::Net(IpNet::V6(n)) if n.prefix_len() == 128 => {
            out.push_str("host ");
            push_ipv6_upper(out, n.addr());
        }
        AceAddr::Net(IpNet::V6(n)) => {
            push_ipv6_upper(out, n.network());
            out.push('/');
            push_decimal(out, u32::from(n.prefix_len()));
        }
    }
}

/// IOS text of an address field.
#[cfg(test)]
fn addr_text(a: &AceAddr) -> String {
    let mut out = String::new();
    write_addr(&mut out, a);
    out
}

/// Writes ` eq 1 2 3` or ` range 1 9` (nothing for every port).
fn write_ports(out: &mut String, p: &PortMatch) {
    match p {
        PortMatch::All => {}
        PortMatch::Eq(ports) => {
            out.push_str(" eq");
            for &p in ports.ports() {
                out.push(' ');
                push_decimal(out, u32::from(p));
            }
        }
        PortMatch::Range(a, b) => {
            out.push_str(" range ");
            push_decimal(out, u32::from(*a));
            out.push(' ');
            push_decimal(out, u32::from(*b));
        }
    }
}

/// IOS keywords that name a whole ICMP type (every code), per family. Other
/// types are written as numbers, which IOS also accepts. Keywords that name
/// a type *and* a code (`packet-too-big` in IPv4, `ttl-exceeded`,
/// `port-unreachable`, ...) are never used: they would match less than the
/// IR's type.
pub(crate) fn icmp_keyword(ty: u8, family: Family) -> Option<&'static str> {
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
pub(crate) fn icmp_reply(ty: u8, family: Family) -> Option<u8> {
    match (family, ty) {
        (Family::V4, 8) => Some(0),
        (Family::V4, 13) => Some(14),
        (Family::V4, 15) => Some(16),
        (Family::V4, 17) => Some(18),
        (Family::V6, 128) => Some(129),
        _ => None,
    }
}

/// Writes the text of an entry after the sequence number.
fn write_ace(out: &mut String, ace: &Ace, family: Family) {
    out.push_str(if ace.permit { "permit " } else { "deny " });
    match (&ace.proto, family) {
        (AceProto::Ip, Family::V4) => out.push_str("ip"),
        (AceProto::Ip, Family::V6) => out.push_str("ipv6"),
        (AceProto::Tcp, _) => out.push_str("tcp"),
        (AceProto::Udp, _) => out.push_str("udp"),
        (AceProto::Icmp, _) => out.push_str("icmp"),
        (AceProto::Number(n), _) => push_decimal(out, u32::from(*n)),
        (AceProto::Group(name), _) => {
            debug_assert_eq!(family, Family::V4);
            out.push_str("object-group ");
            name.write(out);
        }
    }
    out.push(' ');
    write_addr(out, &ace.src);
    write_ports(out, &ace.sport);
    out.push(' ');
    write_addr(out, &ace.dst);
    write_ports(out, &ace.dport);
    if ace.established {
        out.push_str(" established");
    }
    if let Some(t) = ace.icmp {
        out.push(' ');
        match icmp_keyword(t, family) {
            Some(k) => out.push_str(k),
            None => push_decimal(out, u32::from(t)),
        }
    }
    if ace.log {
        out.push_str(" log");
    }
}

/// An IPv6 address as IOS shows it: `Ipv6Addr`'s `Display`, upper case.
fn push_ipv6_upper(out: &mut String, addr: std::net::Ipv6Addr) {
    let start = out.len();
    let _ = write!(out, "{addr}");
    out[start..].make_ascii_uppercase();
}

/// Writes 16 upper-case hex digits (`{:016X}`).
fn push_hex16(out: &mut String, n: u64) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.extend((0..16).map(|i| char::from(HEX[(n >> (60 - 4 * i)) as usize & 0xf])));
}

// ------------------------------------------------------------------ text

/// A `remark` or `description`: printable ASCII only (no `?`, which the
/// IOS CLI treats as a help request when pasted), no leading `!` (a comment
/// line), whitespace collapsed, cut to [`REMARK_MAX`] characters. The result
/// is one line and cannot contain anything but remark text.
const REMARK: Field = Field {
    replace: |c| match c {
        ' ' => None,
        c if c.is_whitespace() => Some(' '),
        c if c.is_ascii_graphic() && c != '?' => None,
        _ => Some('_'),
    },
    collapse_spaces: true,
    trim_start: |c| c == '!' || c == ' ',
    trim_end: true,
    max: REMARK_MAX,
    overflow: Overflow::Cut,
};

/// `text` as a remark (see [`REMARK`]).
pub(crate) fn sanitize_remark(text: &str) -> String {
    REMARK.fit(text).into_owned()
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

/// Feeds the same bytes to two hashes in one pass. FNV is a chain of
/// dependent multiplications (a few cycles a byte, the cost of hashing the
/// 10 MB of entries at 10,000 rules); two independent chains in one loop
/// run side by side.
fn write_both(a: &mut Fnv1a, b: &mut Fnv1a, bytes: &[u8]) {
    let (mut x, mut y) = (a.0, b.0);
    for &c in bytes {
        x = (x ^ u64::from(c)).wrapping_mul(Fnv1a::PRIME);
        y = (y ^ u64::from(c)).wrapping_mul(Fnv1a::PRIME);
    }
    (a.0, b.0) = (x, y);
}

// ------------------------------------------------------------------ sets

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

/// Port matches covering exactly `ports`: single ports in `eq` lists of at
/// most [`EQ_MAX`], longer runs as inclusive `range`s.
pub(crate) fn port_matches(ports: &PortSet) -> Vec<PortMatch> {
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
        .map(|c| PortMatch::Eq(EqPorts::new(c)))
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
    /// Network groups: their prefixes.
    nets: BTreeMap<GroupName, Vec<IpNet>>,
    /// IPv4 service groups: their member lines, joined by newlines, and
    /// how many there are.
    services: BTreeMap<GroupName, (String, usize)>,
    /// The text hashed for a name (reused).
    scratch: String,
    /// The prefixes of the set being named (reused).
    prefixes: Vec<IpNet>,
}

impl Groups {
    /// The address field for `set` (one family): `None` when empty — the
    /// caller drops the entry, never widening it to `any`. A hash that
    /// names another set is an error (returned: the name).
    fn addr(&mut self, set: &AddrSet, f: Family) -> Result<Option<AceAddr>, GroupName> {
        let mut nets = std::mem::take(&mut self.prefixes);
        nets.clear();
        nets.extend(set.cidrs_of(f));
        let field = self.addr_of(&nets, f);
        self.prefixes = nets;
        field
    }

    fn addr_of(&mut self, nets: &[IpNet], f: Family) -> Result<Option<AceAddr>, GroupName> {
        match nets {
            [] => Ok(None),
            [net] if net.prefix_len() == 0 => Ok(Some(AceAddr::Any)),
            [net] => Ok(Some(AceAddr::Net(*net))),
            _ => {
                // The name hashes the prefixes as `10.1.0.0/24,10.2.0.0/24`.
                let text = &mut self.scratch;
                text.clear();
                for (i, net) in nets.iter().enumerate() {
                    if i > 0 {
                        text.push(',');
                    }
                    match net {
                        IpNet::V4(n) => {
                            push_ipv4(text, n.addr().into());
                            text.push('/');
                            push_decimal(text, u32::from(n.prefix_len()));
                        }
                        IpNet::V6(n) => {
                            let _ = write!(text, "{n}");
                        }
                    }
                }
                let name = GroupName {
                    kind: match f {
                        Family::V4 => GroupKind::Net4,
                        Family::V6 => GroupKind::Net6,
                    },
                    hash: fnv1a(text.as_bytes()),
                };
                match self.nets.get(&name) {
                    Some(existing) if existing != nets => return Err(name),
                    Some(_) => {}
                    None => {
                        self.nets.insert(name, nets.to_vec());
                    }
                }
                Ok(Some(AceAddr::Group(name)))
            }
        }
    }

    /// The service object group with exactly these member lines (joined by
    /// newlines, in this order), named by a hash of them.
    fn service(&mut self, members: &str, count: usize) -> Result<GroupName, GroupName> {
        let name = GroupName {
            kind: GroupKind::Service,
            hash: fnv1a(members.as_bytes()),
        };
        match self.services.get(&name) {
            Some((existing, _)) if existing != members => Err(name),
            Some(_) => Ok(name),
            None => {
                self.services.insert(name, (members.to_string(), count));
                Ok(name)
            }
        }
    }

    /// Writes every group (network groups, then service groups, each by
    /// name) and feeds `version` what the stable configuration says about
    /// them: `<kind> <name>\n["<entry>", ...]\n` per group.
    fn write(&self, version: &mut Fnv1a) -> String {
        let mut out = String::with_capacity(self.text_len());
        let mut entry = String::new();
        for (&name, nets) in &self.nets {
            let description = ("wardwall address set, ", nets.len(), " prefixes");
            write_group_head(&mut out, version, name, description);
            for (i, net) in nets.iter().enumerate() {
                entry.clear();
                match net {
                    IpNet::V4(n) if n.prefix_len() == 32 => {
                        entry.push_str("host ");
                        push_ipv4(&mut entry, n.addr().into());
                    }
                    IpNet::V4(n) => {
                        push_ipv4(&mut entry, n.network().into());
                        entry.push(' ');
                        push_ipv4(&mut entry, n.netmask().into());
                    }
                    IpNet::V6(n) if n.prefix_len() == 128 => {
                        entry.push_str("host ");
                        push_ipv6_upper(&mut entry, n.addr());
                    }
                    IpNet::V6(n) => {
                        push_ipv6_upper(&mut entry, n.network());
                        entry.push('/');
                        push_decimal(&mut entry, u32::from(n.prefix_len()));
                    }
                }
                write_entry(&mut out, version, &entry, i);
            }
            out.push_str("!\n");
            version.write_str("]\n");
        }
        for (&name, (members, count)) in &self.services {
            let description = ("wardwall service set, ", *count, " members");
            write_group_head(&mut out, version, name, description);
            for (i, member) in members.split('\n').enumerate() {
                write_entry(&mut out, version, member, i);
            }
            out.push_str("!\n");
            version.write_str("]\n");
        }
        out
    }

    /// At least the length of [`Groups::write`]'s text.
    fn text_len(&self) -> usize {
        const GROUP: usize = "object-group v6-network WW-NET6-0123456789ABCDEF\n description wardwall address set, 4294967295 prefixes\n!\n".len();
        const V4_ENTRY: usize = " 255.255.255.255 255.255.255.255\n".len();
        const V6_ENTRY: usize = " FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF/128\n".len();
        let nets: usize = self
            .nets
            .iter()
            .map(|(name, nets)| {
                let entry = match name.kind {
                    GroupKind::Net4 => V4_ENTRY,
                    _ => V6_ENTRY,
                };
                GROUP + entry * nets.len()
            })
            .sum();
        let services: usize = self
            .services
            .values()
            .map(|(members, count)| GROUP + members.len() + 2 * count)
            .sum();
        nets + services
    }
}

/// Writes `object-group <kind> <name>` and ` description <a><n><b>`, and
/// feeds the version `<kind> <name>\n[`.
fn write_group_head(
    out: &mut String,
    version: &mut Fnv1a,
    name: GroupName,
    (a, n, b): (&str, usize, &str),
) {
    out.push_str("object-group ");
    let start = out.len();
    out.push_str(name.keyword());
    out.push(' ');
    name.write(out);
    version.write_str(&out[start..]);
    version.write_str("\n[");
    out.push_str("\n description ");
    out.push_str(a);
    push_decimal(out, u32::try_from(n).expect("fewer than 2^32 entries"));
    out.push_str(b);
    out.push('\n');
}

/// Writes one group entry line and feeds its `Debug` form (the entries are
/// plain ASCII: `Debug` only adds the quotes) to the version hash.
fn write_entry(out: &mut String, version: &mut Fnv1a, entry: &str, i: usize) {
    debug_assert!(
        !entry.contains(['"', '\\']) && entry.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    );
    out.push(' ');
    out.push_str(entry);
    out.push('\n');
    version.write_str(if i == 0 { "\"" } else { ", \"" });
    version.write_str(entry);
    version.write_str("\"");
}

/// One ACL being filled: its three parts (see the module documentation).
struct AclBuild {
    zone: String,
    interface: String,
    family: Family,
    advisory: Lines,
    returns: Lines,
    forward: Lines,
}

/// Unnumbered lines (a part of an ACL, or a rule's remarks) and where each
/// ends, so that numbering them needs no scan for line ends.
#[derive(Clone, Default)]
struct Lines {
    text: String,
    ends: Vec<u32>,
}

impl Lines {
    fn end_line(&mut self) {
        let end = u32::try_from(self.text.len()).expect("ACL text below 4 GiB");
        self.ends.push(end);
    }

    /// A remark line (the text already sanitised).
    fn remark(&mut self, text: &str) {
        self.text.push_str("remark ");
        self.text.push_str(text);
        self.end_line();
    }

    fn ace(&mut self, ace: &Ace, f: Family) {
        write_ace(&mut self.text, ace, f);
        self.end_line();
    }

    fn append(&mut self, other: &Lines) {
        let base = u32::try_from(self.text.len()).expect("ACL text below 4 GiB");
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.iter().map(|&end| base + end));
    }

    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.text[start as usize..end as usize])
    }
}

/// The remark lines that open a rule's entries.
fn remarks_for(rule: &Rule) -> Lines {
    let what = match rule.action {
        Action::Reject => {
            "reject, rendered as deny (ICMP unreachable only with ip unreachables)".to_string()
        }
        a => a.as_str().to_string(),
    };
    let mut out = Lines {
        text: String::with_capacity(2 * (REMARK_MAX + 8)),
        ends: Vec::with_capacity(3),
    };
    out.remark(&sanitize_remark(&format!("{}: {what}", rule.name)));
    // A field that is present always gives its remark line (so free text
    // can never shift a sequence number), even when nothing printable is left.
    if let Some(d) = &rule.description {
        out.remark(&remark_or_placeholder(d));
    }
    if let Some(b) = super::note::bookkeeping(rule, REMARK_MAX) {
        out.remark(&remark_or_placeholder(&b));
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

/// Whether an entry's service fits a line of an `object-group service`:
/// TCP/UDP destination ports (one `eq` port per line, or an inclusive
/// `range`, or the bare protocol for every port) and ICMP as a whole or by
/// a type keyword. Numeric ICMP types and other protocols stay plain
/// entries (see `docs/targets/cisco.md`).
fn groupable(ace: &Ace) -> bool {
    match ace.proto {
        AceProto::Tcp | AceProto::Udp => ace.sport == PortMatch::All && !ace.established,
        AceProto::Icmp => ace
            .icmp
            .is_none_or(|t| icmp_keyword(t, Family::V4).is_some()),
        _ => false,
    }
}

/// Writes the service group member lines of a [`groupable`] entry, each
/// after a newline unless `out` is empty; returns how many.
fn write_members(ace: &Ace, out: &mut String) -> usize {
    let line = |out: &mut String, write: &dyn Fn(&mut String)| {
        if !out.is_empty() {
            out.push('\n');
        }
        write(out);
    };
    let proto = match ace.proto {
        AceProto::Tcp => "tcp",
        AceProto::Udp => "udp",
        _ => {
            line(out, &|out| {
                out.push_str("icmp");
                if let Some(k) = ace.icmp.and_then(|t| icmp_keyword(t, Family::V4)) {
                    out.push(' ');
                    out.push_str(k);
                }
            });
            return 1;
        }
    };
    match &ace.dport {
        PortMatch::Eq(ports) => {
            for &p in ports.ports() {
                line(out, &|out| {
                    out.push_str(proto);
                    out.push_str(" eq ");
                    push_decimal(out, u32::from(p));
                });
            }
            ports.ports().len()
        }
        other => {
            line(out, &|out| {
                out.push_str(proto);
                write_ports(out, other);
            });
            1
        }
    }
}

/// The member lines of an entry's service, if a service group can carry it.
#[cfg(test)]
fn service_members(ace: &Ace) -> Option<Vec<String>> {
    if !groupable(ace) {
        return None;
    }
    let mut text = String::new();
    write_members(ace, &mut text);
    Some(text.split('\n').map(str::to_string).collect())
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
) -> Result<Vec<Ace>, GroupName> {
    let plain = plain_forward_aces(src, dst, svc, f, rule);
    if f != Family::V4 || plain.iter().filter(|a| groupable(a)).count() < 2 {
        return Ok(plain);
    }
    let mut members = String::new();
    let mut count = 0;
    let mut first = None;
    let mut rest = Vec::new();
    for ace in plain {
        if groupable(&ace) {
            count += write_members(&ace, &mut members);
            first.get_or_insert(ace);
        } else {
            rest.push(ace);
        }
    }
    let name = groups.service(&members, count)?;
    let mut out = vec![Ace {
        proto: AceProto::Group(name),
        sport: PortMatch::All,
        dport: PortMatch::All,
        established: false,
        icmp: None,
        ..first.expect("two or more grouped")
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
            ..base
        });
    }
    for pm in port_matches(&svc.udp)
        .into_iter()
        .filter(|_| !svc.udp.is_empty())
    {
        out.push(Ace {
            proto: AceProto::Udp,
            dport: pm,
            ..base
        });
    }
    let icmp = match f {
        Family::V4 => &svc.icmp4,
        Family::V6 => &svc.icmp6,
    };
    if icmp.is_full() {
        out.push(Ace {
            proto: AceProto::Icmp,
            ..base
        });
    } else {
        for t in types(icmp) {
            out.push(Ace {
                proto: AceProto::Icmp,
                icmp: Some(t),
                ..base
            });
        }
    }
    for p in types(&svc.protocols) {
        out.push(Ace {
            proto: AceProto::Number(p),
            ..base
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
                ..base
            });
        }
    }
    if !svc.udp.is_empty() {
        for pm in port_matches(&svc.udp) {
            out.push(Ace {
                proto: AceProto::Udp,
                sport: pm,
                ..base
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
            ..base
        });
    }
    for p in types(&svc.protocols) {
        out.push(Ace {
            proto: AceProto::Number(p),
            ..base
        });
    }
    out
}

/// Lowers the IR to the Cisco view model, or explains what cannot be
/// expressed.
pub(crate) fn build_view(ir: &Ir, previous: &PreviousNumbers) -> Result<View, Vec<Diagnostic>> {
    let (acls, groups) = plan(ir)?;
    Ok(finish_view(ir, acls, &groups, previous))
}

/// Every ACL's entries and the object groups they name, or every reason
/// the policy cannot be written for IOS: all that decides whether it can
/// (`validate` stops here; numbering and naming the ACLs refuse nothing).
fn plan(ir: &Ir) -> Result<(Vec<AclBuild>, Groups), Vec<Diagnostic>> {
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

    // Stateless ACLs check replies where they arrive: an allow's
    // destinations need an interface too.
    let placement = Placement::new(ir, Target::Cisco, Reach::Replies);
    // An IPv4 and an IPv6 ACL per interface, in the order of the
    // interfaces' first zones; zones sharing an interface share its ACLs,
    // named after the first of them.
    let mut acls: Vec<AclBuild> = Vec::new();
    let mut index: BTreeMap<(&str, Family), usize> = BTreeMap::new();
    let mut base_names: BTreeMap<String, String> = BTreeMap::new();
    for binding in placement.bindings() {
        let (zone, iface) = (binding.zones[0], binding.name);
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
            index.insert((iface, f), acls.len());
            acls.push(AclBuild {
                zone: zone.name.clone(),
                interface: iface.to_string(),
                family: f,
                advisory: Lines::default(),
                returns: Lines::default(),
                forward: Lines::default(),
            });
        }
    }
    let acl_of = |binding: &Binding, f: Family| index[&(binding.name, f)];

    // Every deny and reject in rule order (`deny_at`: their positions),
    // indexed by their boxes: what the return entries of later allows
    // subtract, found without scanning every earlier deny (that made this
    // target quadratic in the number of rules).
    let (deny_at, deny_spaces): (Vec<usize>, Vec<Space>) = ir
        .rules
        .iter()
        .enumerate()
        .filter(|(_, rule)| !rule.action.permits())
        .map(|(i, rule)| (i, Space::of_rule(rule)))
        .unzip();
    let mut deny_index = BoxIndex::new(&deny_spaces);
    let mut candidates = Vec::new();

    let address_collision = |n: GroupName| {
        Diagnostic::error(
            "cisco-group-hash-collision",
            format!("two address sets hash to object-group name `{n}`"),
        )
    };
    let mut groups = Groups::default();
    // The return entries of the rule at hand, per ACL (reused).
    let mut returns: Vec<Lines> = vec![Lines::default(); acls.len()];
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
        errors.extend(placement.check(rule));
        let remarks = remarks_for(rule);
        let mut reply_remark = None;
        for f in rule.families() {
            let (sources, destinations) =
                (rule.src.addrs.of_family(f), rule.dst.addrs.of_family(f));
            let service = service_for(&rule.service.set, f);
            // Forward entries, on the zones the sources live in. (A group
            // lookup gives the same answer every time after the first, so
            // the destination's is kept.)
            let mut dst_field = None;
            // (What lies on no interface is refused by the placement check
            // above, unless it is a deny, which holds vacuously.)
            for (binding, part) in placement.split(&sources) {
                let acl = acl_of(binding, f);
                let src = groups.addr(&part, f);
                let dst = *dst_field.get_or_insert_with(|| groups.addr(&destinations, f));
                let (src, dst) = match (src, dst) {
                    (Ok(Some(s)), Ok(Some(d))) => (s, d),
                    (Err(n), _) | (_, Err(n)) => {
                        errors.push(address_collision(n));
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
                match forward_aces(src, dst, &service, f, rule, &mut groups) {
                    Ok(aces) => {
                        target.append(&remarks);
                        for ace in &aces {
                            target.ace(ace, f);
                        }
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
            // The pieces are kept as the subtraction cuts them, unmerged:
            // each becomes its own entries.
            let region = Space::from_cube(Cube::of(f, &sources, &destinations, &service));
            deny_index.candidates_of(&region, &mut candidates);
            let mut parts = region;
            for &k in &candidates {
                if deny_at[k as usize] >= i {
                    break;
                }
                parts = parts.difference_raw_owned(&deny_spaces[k as usize]);
            }
            for part in parts.cubes() {
                let (init, resp, svc) = part.sets();
                let mut init_field = None;
                for (binding, resp) in placement.split(&resp) {
                    let acl = acl_of(binding, f);
                    let r = groups.addr(&resp, f);
                    let s = *init_field.get_or_insert_with(|| groups.addr(&init, f));
                    match (r, s) {
                        (Ok(Some(r)), Ok(Some(s))) => {
                            for ace in return_aces(r, s, &svc, f) {
                                returns[acl].ace(&ace, f);
                            }
                        }
                        (Err(n), _) | (_, Err(n)) => errors.push(address_collision(n)),
                        _ => {}
                    }
                }
            }
            // In ACL order, each after a remark.
            for (build, text) in acls.iter_mut().zip(&mut returns) {
                if text.is_empty() {
                    continue;
                }
                let remark = reply_remark.get_or_insert_with(|| {
                    sanitize_remark(&format!(
                        "{}: replies (stateless return entries)",
                        rule.name
                    ))
                });
                build.returns.remark(remark);
                build.returns.append(text);
                text.clear();
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok((acls, groups))
}

/// The view of what [`plan`] found: the ACLs numbered (keeping
/// `previous`'s numbers where it can) and named by their text's version.
fn finish_view(ir: &Ir, acls: Vec<AclBuild>, groups: &Groups, previous: &PreviousNumbers) -> View {
    // The version: a hash of everything the stable configuration says,
    // groups first; each ACL's versioned name comes from its own text.
    let mut version = Fnv1a::new();
    let mut warnings = Vec::new();
    let groups_text = groups.write(&mut version);
    let mut acl_views = Vec::with_capacity(acls.len());
    for build in acls {
        acl_views.push(finish_acl(
            build,
            ir.default_log,
            previous,
            &mut version,
            &mut warnings,
        ));
    }
    let version = format!("{:016X}", version.finish());
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
    View {
        policy: ir.name.clone(),
        header,
        version,
        groups_text,
        acls: acl_views,
        interfaces,
        warnings,
    }
}

/// Numbers an ACL's lines (advisory blocks, return entries, forward
/// entries, then the closing lines) into its text, and feeds what the
/// stable configuration says about it to `version`: `<command> <name>
/// <interface>` and every line. Its versioned name hashes the command and
/// its lines: an unchanged ACL keeps its versioned name, and a leftover
/// versioned ACL from an interrupted run always has the same content
/// (group names are content hashes, so the text fixes what it matches).
fn finish_acl(
    mut build: AclBuild,
    default_log: bool,
    previous: &PreviousNumbers,
    version: &mut Fnv1a,
    warnings: &mut Vec<String>,
) -> AclView {
    let f = build.family;
    let (command, suffix) = match f {
        Family::V4 => ("ip access-list extended", "4"),
        Family::V6 => ("ipv6 access-list", "6"),
    };
    let name = format!("WW-{}-IN{suffix}", name_part(&build.zone));
    let closing = &mut build.forward;
    if f == Family::V6 {
        closing.remark("neighbour discovery: an explicit final deny would block it");
        for t in [136u8, 135] {
            let nd = Ace {
                permit: true,
                proto: AceProto::Icmp,
                src: AceAddr::Any,
                sport: PortMatch::All,
                dst: AceAddr::Any,
                dport: PortMatch::All,
                established: false,
                icmp: Some(t),
                log: false,
            };
            closing.ace(&nd, f);
        }
    }
    closing.remark("default: deny everything else");
    let default = Ace {
        permit: false,
        proto: AceProto::Ip,
        src: AceAddr::Any,
        sport: PortMatch::All,
        dst: AceAddr::Any,
        dport: PortMatch::All,
        established: false,
        icmp: None,
        log: default_log,
    };
    closing.ace(&default, f);

    let sections = [build.advisory, build.returns, build.forward];
    let lines: Vec<&str> = sections.iter().flat_map(Lines::iter).collect();
    let (numbers, renumbered) = previous.number(&name, &lines);
    if renumbered {
        warnings.push(format!(
            "cisco: no free sequence numbers left where ACL `{name}` changed; \
             it is numbered afresh (its diff shows every line of it)"
        ));
    }
    let bytes: usize = sections.iter().map(|s| s.text.len()).sum();
    // Per line at most ` sequence <seq> ` and a newline.
    let number = " sequence ".len() + 10 + 2;
    let mut text = String::with_capacity(bytes + lines.len() * number);

    version.write_str(command);
    version.write_str(" ");
    version.write_str(&name);
    version.write_str(" ");
    version.write_str(&build.interface);
    version.write_str("\n");
    let mut staging = Fnv1a::new();
    staging.write_str(command);
    staging.write_str("\n");
    let mut first = true;
    for (line, &seq) in lines.iter().zip(&numbers) {
        text.push(' ');
        let start = text.len();
        // Every line is numbered, remarks included. In IPv6 this is what
        // keeps entries from colliding: on IOS-XE an IPv6 remark is an entry
        // of its own that takes a sequence number (Cisco-IOS-XE-acl.yang,
        // `ipv6-acl-grouping`: each `access-list-seq-rule` holds either an
        // `ace-rule` or a `remark`), so an unnumbered remark would take
        // the next multiple of 10 and the `sequence 10` entry after it
        // would be rejected as a duplicate. It is written `sequence N remark
        // TEXT` (ansible-collections/cisco.ios issue 1336 / PR 1341: `N
        // remark` is `% Invalid input` in an IPv6 ACL). In IPv4 a numbered
        // remark is a remark-only entry (the YANG's IPv4 remark sits beside
        // the ACE of its entry) and never collides with the next number.
        if f == Family::V6 {
            text.push_str("sequence ");
        }
        push_decimal(&mut text, seq);
        text.push(' ');
        text.push_str(line);
        // The versioned name hashes the lines joined by newlines, the
        // version every line and its newline.
        if !first {
            staging.write_str("\n");
        }
        first = false;
        write_both(version, &mut staging, &text.as_bytes()[start..]);
        version.write_str("\n");
        text.push('\n');
    }
    AclView {
        command,
        zone: build.zone,
        interface: build.interface,
        staging: format!("{name}-{:016X}", staging.finish()),
        name,
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let v4 = |s: &str| addr_text(&AceAddr::Net(s.parse().unwrap()));
        assert_eq!(v4("10.20.8.0/24"), "10.20.8.0 0.0.0.255");
        assert_eq!(v4("10.10.20.52/32"), "host 10.10.20.52");
        assert_eq!(v4("10.10.20.50/31"), "10.10.20.50 0.0.0.1");
        assert_eq!(v4("10.0.0.0/8"), "10.0.0.0 0.255.255.255");
        let v6 = |s: &str| addr_text(&AceAddr::Net(s.parse().unwrap()));
        assert_eq!(v6("fd42:1:0:20::/64"), "FD42:1:0:20::/64");
        assert_eq!(v6("fd42:1:0:20::30/128"), "host FD42:1:0:20::30");
    }

    #[test]
    fn ports_split_into_eq_lists_and_ranges() {
        let ps = PortSet::from_ranges([(80, 80), (443, 443), (6661, 6670), (8000, 8001)]);
        assert_eq!(
            port_matches(&ps),
            vec![
                PortMatch::Eq(EqPorts::new(&[80, 443, 8000, 8001])),
                PortMatch::Range(6661, 6670)
            ]
        );
        let many = PortSet::from_ranges((0..12u16).map(|i| (i * 3, i * 3)));
        let m = port_matches(&many);
        assert_eq!(m.len(), 2);
        assert!(matches!(&m[0], PortMatch::Eq(v) if v.ports().len() == EQ_MAX));
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
            m(&ace(
                AceProto::Tcp,
                PortMatch::Eq(EqPorts::new(&[80, 443])),
                None
            )),
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
        ret.sport = PortMatch::Eq(EqPorts::new(&[443]));
        ret.established = true;
        assert_eq!(m(&ret), None);
    }

    #[test]
    fn service_group_names_are_content_hashes() {
        let mut g = Groups::default();
        let a = g.service("tcp eq 53\nudp eq 53", 2).unwrap();
        let b = g.service("tcp eq 53\nudp eq 53", 2).unwrap();
        let c = g.service("udp eq 53\ntcp eq 53", 2).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let name = a.to_string();
        assert_eq!(
            name,
            format!("WW-SVC-{:016X}", fnv1a(b"tcp eq 53\nudp eq 53"))
        );
        let text = g.write(&mut Fnv1a::new());
        assert_eq!(text.matches("object-group service WW-SVC-").count(), 2);
        assert!(text.contains(&format!(
            "object-group service {name}\n description wardwall service set, 2 members\n tcp eq 53\n udp eq 53\n!\n"
        )));
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
