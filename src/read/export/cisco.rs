//! The Cisco IOS / IOS-XE device export reader: `show running-config` as
//! the router prints it (or a configuration pasted in global configuration
//! mode, such as wardwall's own output) → the [`Device`] model.
//!
//! # What is read
//! - The header and identity lines IOS prints (`Building configuration...`,
//!   `Current configuration : N bytes`, `version`, `hostname`, `!`
//!   separators and comments, `end`).
//! - `interface NAME` blocks, names as IOS prints them (`Vlan120`,
//!   `GigabitEthernet1/0/1`, `Port-channel1`, `GigabitEthernet0/0.10`):
//!   `ip access-group ACL in|out`, `ipv6 traffic-filter ACL in|out` (and
//!   their `no` forms), `shutdown` / `no shutdown`. Every other interface
//!   line is a property that filters nothing (`ip address`, `description`,
//!   `switchport ...`, `standby ...`), except the ones that would filter
//!   forwarded traffic and are not modelled (`ip verify unicast` (uRPF),
//!   `ip inspect`, `zone-member security`, `service-policy type inspect`),
//!   which are errors.
//! - ACLs: `ip access-list extended|standard NAME` blocks, numbered
//!   `access-list N ...` lines (standard 1-99 and 1300-1999, extended
//!   100-199 and 2000-2699), `ipv6 access-list NAME` blocks; entries with
//!   or without sequence numbers (IPv4 ` 10 permit ...`, IPv6 ` sequence
//!   10 permit ...` or a trailing `sequence 10`), ordered by sequence
//!   number as IOS orders them, unnumbered lines taking the highest number
//!   so far + 10 ("If you do not specify a sequence number, the entry is
//!   assigned a number 10 greater than the last", Catalyst 3750 Metro
//!   command reference, deny (IPv6 access-list configuration)); `remark`s.
//! - `object-group network` (`host`, `A.B.C.D M.M.M.M` netmask, `A.B.C.D
//!   /nn`, `range A B`, `any`, `group-object`, `description`),
//!   `object-group v6-network` (`host`, `X::/len`, `any`, `group-object`,
//!   `description`) and `object-group service` (`tcp|udp|tcp-udp` with
//!   `[source OP P]` and `[OP P]`, `icmp [TYPE]`, protocols by name or
//!   number, `group-object`, `description`), per the IOS-XE "Object Groups
//!   for ACLs" configuration guide.
//!
//! # Semantics
//! Layer 1 "inbound ACLs": per interface in declaration order, a filter for
//! its inbound IPv4 ACL (guard: ingress = the interface, family IPv4) and
//! one for its inbound IPv6 filter; layer 2 "outbound ACLs" likewise on
//! egress. An interface without an ACL for a family passes it
//! (`unfiltered` = allow). Every ACL ends with IOS's implicit `deny ip any
//! any` (`deny ipv6 any any`), line 0; every IPv6 ACL has the implicit
//! `permit icmp any any nd-na` and `permit icmp any any nd-ns` before it,
//! line 0 ("Every IPv6 ACL has implicit permit icmp any any nd-na, permit
//! icmp any any nd-ns, and deny ipv6 any any statements as its last match
//! conditions ... For the three implicit statements to take effect, an IPv6
//! ACL must contain at least one entry", Catalyst 3750 Metro / 3560
//! command references, deny (IPv6) and ipv6 access-list), so an IPv6 ACL
//! without entries passes everything. An IPv4 ACL without entries is not
//! documented either way: it becomes one undecidable entry. An ACL applied
//! but not defined passes everything ("When you apply an undefined ACL to
//! an interface, the switch acts as if the ACL has not been applied to the
//! interface and permits all packets", Catalyst 3560-CX/2960-CX 15.2(5)E
//! configuration guide, IPv4 ACLs; "If the specified access list does not
//! exist, all packets are passed", IOS ip access-group command reference).
//! A `shutdown` interface forwards nothing: a filter of no entries and a
//! deny default, at the `shutdown` line, guards it before its ACLs on
//! ingress and on egress, for both families.
//!
//! The packet is the first of a new flow (TCP SYN) from a client port:
//! `established` (ACK or RST set), `fragments` (non-initial fragments only)
//! and the TCP flags `ack fin psh rst urg` never match it, so such entries
//! are dropped; `syn`, `match-any` / `match-all +flag -flag` are decided on
//! the SYN. A source port match is decided by [`source_ports`]: never (the
//! entry is dropped), always, or sometimes (undecidable). IPv4 wildcards
//! are modelled exactly, non-contiguous ones too, as long as they span at
//! most 2^16 intervals; a larger one is undecidable, its box the range from
//! its lowest to its highest address. An entry naming a service object
//! group becomes one entry for its decided members and one per undecidable
//! member, in that order (first match keeps the union's meaning).
//!
//! # Undecidable
//! `dscp`, `precedence`, `tos`, `ttl`, `option` (the packet model carries
//! none of them), `time-range` (a schedule), `dynamic` (lock-and-key: the
//! entry exists only after a user authenticates), `evaluate` (a reflexive
//! ACL: matches depend on sessions seen before), ICMP codes (the packet
//! model has types only), IGMP types, IPv6 extension-header matches
//! (`routing`, `hbh`, `dest-option`, `mobility`, `flow-label`,
//! `undetermined-transport`, `auth`), source ports some client ports match.
//! `reflect NAME` on a permit is exact: it only adds return entries.
//!
//! # Skipped and listed
//! Routing protocols, static routes, route maps and prefix lists, NAT,
//! crypto/VPN, `line` blocks (management `access-class`), SNMP, AAA and
//! users, logging, NTP, banners, QoS (`class-map`, `policy-map`,
//! `service-policy`), `control-plane`, DHCP, VRF definitions, time-range
//! definitions, IP SLA and tracking.
//!
//! # Refused (errors)
//! Anything not understood, and what would decide forwarded traffic but is
//! not modelled: zone-based firewall (`zone`, `zone-pair`, `policy-map type
//! inspect`, `parameter-map`), CBAC `ip inspect`, VLAN access maps (`vlan
//! access-map`, `vlan filter`), uRPF, `addrgroup` and `any4` (not IOS-XE
//! syntax).

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;

use super::cisco_tables::{icmp_name, port_name, protocol_name};
use crate::addrset::{AddrSet, ByteSet, IntervalSet, PortSet, V4Set};
use crate::read::device::{
    Decision, Device, DeviceError, Entry, Filter, Guard, Layer, Origin, PlaceSet, SourcePorts,
    source_ports,
};
use crate::vocab::{Action, Family, ServiceSet, Target, proto};

/// Reads a Cisco IOS / IOS-XE `show running-config` into the device model.
pub fn read(text: &str) -> Result<Device, DeviceError> {
    let mut config = Running::default();
    config.run(text)?;
    config.into_device()
}

// ------------------------------------------------------------------ lines

/// One line of the configuration. [`Running::run`] reads every line into
/// one `Line`, so its word lists are allocated once, not once per line.
#[derive(Clone, Debug, Default)]
struct Line<'a> {
    number: usize,
    /// Leading whitespace, in characters.
    indent: usize,
    /// Without the indentation or trailing whitespace.
    text: &'a str,
    /// The words, for matching on them.
    words: Vec<&'a str>,
    /// The address where the line starts: a word's column is its byte
    /// offset from there, plus one, unless `columns` holds the columns.
    start: usize,
    /// The words' 1-based columns in a line with characters of more than
    /// one byte (or whitespace other than spaces); empty in any other.
    columns: Vec<usize>,
}

impl<'a> Line<'a> {
    /// Makes this the line `raw`, numbered `number`.
    fn read(&mut self, number: usize, raw: &'a str) {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed_start = raw.trim_start();
        let indent = raw.len() - trimmed_start.len();
        let text = trimmed_start.trim_end();
        self.words.clear();
        self.columns.clear();
        self.start = raw.as_ptr() as usize;
        // Printable ASCII, as a router prints its configuration: one byte
        // per character and no whitespace but spaces.
        let printable = text
            .bytes()
            .fold(true, |all, b| all & (b' '..=b'~').contains(&b));
        if printable {
            // (A byte loop: words are too short for `split`'s memchr.)
            let mut start = 0;
            // Columns are `indent + 1 + start`: byte offsets from `raw`.
            let mut word = |start: usize, end: usize| {
                if end > start {
                    self.words.push(&text[start..end]);
                }
            };
            for (at, &b) in text.as_bytes().iter().enumerate() {
                if b == b' ' {
                    word(start, at);
                    start = at + 1;
                }
            }
            word(start, text.len());
        } else {
            let mut column = indent + 1;
            let mut rest = text;
            while !rest.is_empty() {
                let word_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let word = &rest[..word_len];
                self.words.push(word);
                self.columns.push(column);
                let after = &rest[word_len..];
                let next = after.trim_start();
                column += word.chars().count() + (after.len() - next.len());
                rest = next;
            }
        }
        self.number = number;
        self.indent = indent;
        self.text = text;
    }

    /// Makes this the line that starts at byte `start` of `text`, numbered
    /// `number`, if that line is printable ASCII (but for a `\r` before its
    /// `\n`): what [`Line::read`] makes of it, in one pass that also finds
    /// the line's end, eight bytes at a time. Returns where the next line
    /// starts (past the end of `text` after the last line), or `None` for
    /// any other line, which [`Line::read`] then reads.
    fn read_printable(&mut self, number: usize, text: &'a str, start: usize) -> Option<usize> {
        let bytes = text.as_bytes();
        // A byte at or after the end reads as `\n`: the last line ends
        // there, as `split('\n')` ends it.
        let byte = |at: usize| bytes.get(at).copied().unwrap_or(b'\n');
        self.words.clear();
        self.columns.clear();
        self.start = text.as_ptr() as usize + start;
        let mut word_start = start;
        let mut at = start;
        loop {
            let v = match bytes.get(at..at + 8) {
                Some(chunk) => u64::from_le_bytes(chunk.try_into().expect("eight bytes")),
                None => {
                    let mut chunk = [b'\n'; 8];
                    let rest = &bytes[at..];
                    chunk[..rest.len()].copy_from_slice(rest);
                    u64::from_le_bytes(chunk)
                }
            };
            let bad = not_printable(v);
            let mut spaces = zero_bytes(v ^ (u64::from(b' ') * ONES));
            let end = (bad != 0).then(|| {
                let k = bad.trailing_zeros() / 8;
                spaces &= (1u64 << (8 * k)) - 1;
                at + k as usize
            });
            while spaces != 0 {
                let space = at + (spaces.trailing_zeros() / 8) as usize;
                self.push_word(text, word_start, space);
                word_start = space + 1;
                spaces &= spaces - 1;
            }
            if let Some(end) = end {
                let next = match byte(end) {
                    b'\n' => end + 1,
                    b'\r' if byte(end + 1) == b'\n' => end + 2,
                    _ => return None,
                };
                self.push_word(text, word_start, end);
                let offset = |word: &str| word.as_ptr() as usize - text.as_ptr() as usize;
                let (indent, text) = match (self.words.first(), self.words.last()) {
                    (Some(first), Some(last)) => {
                        let (from, to) = (offset(first), offset(last) + last.len());
                        (from - start, &text[from..to])
                    }
                    _ => (end - start, ""),
                };
                self.number = number;
                self.indent = indent;
                self.text = text;
                return Some(next);
            }
            at += 8;
        }
    }

    /// Adds the word `text[from..to]` (none if empty).
    fn push_word(&mut self, text: &'a str, from: usize, to: usize) {
        if to > from {
            self.words.push(&text[from..to]);
        }
    }

    /// The 1-based column of word `i`, if there is one.
    fn word_column(&self, i: usize) -> Option<usize> {
        let word = self.words.get(i)?;
        Some(match self.columns.get(i) {
            Some(&column) => column,
            None => word.as_ptr() as usize - self.start + 1,
        })
    }

    fn column(&self) -> usize {
        self.indent + 1
    }

    fn err(&self, message: impl Into<String>) -> DeviceError {
        DeviceError::at(self.number, self.column(), message)
    }

    fn err_at(&self, word: usize, message: impl Into<String>) -> DeviceError {
        let column = self
            .word_column(word)
            .unwrap_or_else(|| self.column() + self.text.chars().count());
        DeviceError::at(self.number, column, message)
    }

    fn texts(&self) -> &[&'a str] {
        &self.words
    }
}

/// Each byte's lowest bit.
const ONES: u64 = 0x0101_0101_0101_0101;
/// Each byte's highest bit.
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The highest bit of each byte of `v` that is zero, and no other bit
/// (exact: no carry crosses a byte).
fn zero_bytes(v: u64) -> u64 {
    !(((v & !HIGH) + !HIGH) | v) & HIGH
}

/// The highest bit of each byte of `v` outside printable ASCII (`' '` to
/// `'~'`), and no other bit. Per byte, on its low seven bits: adding 0x60
/// sets bit 7 from 0x20 up, adding 1 sets it at 0x7F only; neither carries
/// out of the byte.
fn not_printable(v: u64) -> u64 {
    let low = v & !HIGH;
    (v | !(low + 0x60 * ONES) | (low + ONES)) & HIGH
}

/// The lines of a configuration, as `text.split('\n')` cuts them,
/// numbered from 1.
struct LineReader<'a> {
    text: &'a str,
    /// Where the next line starts; past the end after the last line.
    start: usize,
    number: usize,
}

impl<'a> LineReader<'a> {
    /// Reads the next line into `line`; `false` after the last.
    fn next(&mut self, line: &mut Line<'a>) -> bool {
        let (text, start) = (self.text, self.start);
        if start > text.len() {
            return false;
        }
        self.number += 1;
        self.start = match line.read_printable(self.number, text, start) {
            Some(next) => next,
            None => {
                let end = memchr::memchr(b'\n', &text.as_bytes()[start..])
                    .map_or(text.len(), |i| start + i);
                line.read(self.number, &text[start..end]);
                end + 1
            }
        };
        true
    }
}

// ------------------------------------------------------------------ state

/// The router's configuration as the file builds it, borrowing its names
/// and entry texts from the file.
#[derive(Default)]
struct Running<'a> {
    interfaces: Vec<Interface>,
    /// ACLs by name, indexed by `Family as usize` (IPv4 and IPv6 names are
    /// separate).
    acls: [HashMap<&'a str, Acl<'a>>; 2],
    networks: HashMap<String, NetworkGroup>,
    services: HashMap<String, ServiceGroup>,
    /// Skipped kinds in the order first met: (kind, unit, count).
    skipped: Vec<(&'static str, &'static str, usize)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    In,
    Out,
}

struct Interface {
    name: String,
    /// The `shutdown` line, while the interface is shut down.
    shutdown: Option<(usize, usize, String)>,
    /// Bound ACLs: [in, out] × [IPv4, IPv6].
    bindings: [[Option<Binding>; 2]; 2],
}

#[derive(Clone)]
struct Binding {
    acl: String,
    line: usize,
    column: usize,
    text: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum AclKind {
    Standard,
    Extended,
    V6,
}

impl AclKind {
    fn family(self) -> Family {
        match self {
            AclKind::V6 => Family::V6,
            _ => Family::V4,
        }
    }
}

struct Acl<'a> {
    kind: AclKind,
    /// Remarks and entries with their place in the list.
    items: Vec<Item<'a>>,
    /// IPv4 remarks without a number wait for the entry they annotate.
    pending_remarks: Vec<Item<'a>>,
    /// The sequence numbers taken, ascending.
    taken: Vec<u32>,
}

/// Where an item sits in its ACL: sequence number, then remarks before the
/// entry of the same number, then file order (the item's line number, so
/// no two items have the same key).
type SortKey = (u32, u8, usize);

struct Item<'a> {
    /// Its line is `key.2`.
    key: SortKey,
    column: usize,
    text: &'a str,
    body: ItemBody<'a>,
}

enum ItemBody<'a> {
    Remark(&'a str),
    Ace(Box<Ace<'a>>),
    /// An entry that never matches the first packet of a flow: it yields
    /// no model entry, but the ACL has an entry.
    Never,
}

/// One access-control entry as written, groups unresolved, their names
/// borrowed from the file.
#[derive(Clone, Debug)]
struct Ace<'a> {
    action: Action,
    log: bool,
    protocol: Protocol<'a>,
    src: AddrMatch<'a>,
    sport: Option<PortSet>,
    dst: AddrMatch<'a>,
    dport: Option<PortSet>,
    icmp: Option<(u8, Option<u8>)>,
    /// Why the entry never matches the first packet of a flow.
    never: Option<Cow<'static, str>>,
    /// Why it may or may not match.
    undecidable: Vec<String>,
    /// The line and column of the words that name groups, for errors.
    at: (usize, usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Protocol<'a> {
    /// `ip` / `ipv6`.
    Any,
    Number(u8),
    /// `object-group NAME` in the protocol position.
    Group(&'a str),
}

#[derive(Clone, Debug)]
enum AddrMatch<'a> {
    Set(AddrSet),
    /// The IPv4 addresses `lo..=hi`: most addresses (`host A`, `any`, a
    /// contiguous wildcard), a set only when the entry becomes a model
    /// entry (an entry that never matches a new flow needs none).
    V4(u32, u32),
    /// A network group, and the column of its name.
    Group(&'a str, usize),
    /// A wildcard too wide to model exactly: its hull.
    Hull(AddrSet, String),
}

struct NetworkGroup {
    family: Family,
    line: usize,
    addrs: AddrSet,
    /// The ranges of the members read since the block opened, merged into
    /// `addrs` when it closes ([`NetworkGroup::settle`]): one merge for the
    /// block, not one set per member.
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
    members: Vec<(String, usize, usize)>,
}

impl NetworkGroup {
    fn settle(&mut self) {
        if self.v4.is_empty() && self.v6.is_empty() {
            return;
        }
        let read = AddrSet {
            v4: IntervalSet::from_ranges(std::mem::take(&mut self.v4)),
            v6: IntervalSet::from_ranges(std::mem::take(&mut self.v6)),
        };
        self.addrs = if self.addrs.is_empty() {
            read
        } else {
            self.addrs.union(&read)
        };
    }
}

struct ServiceGroup {
    line: usize,
    members: Vec<ServiceMember>,
}

#[derive(Clone, Debug)]
enum ServiceMember {
    Piece(Piece),
    Group(String, usize, usize),
}

/// Part of a service, with why it is undecidable, if it is.
#[derive(Clone, Debug)]
struct Piece {
    service: ServiceSet,
    undecidable: Option<String>,
}

/// What the lines under the current top-level line belong to. The ACL or
/// object group they define is taken out of its map while they are read
/// (so that no line looks it up), and [`Running::close`] puts it back.
enum Block<'a> {
    None,
    /// A block whose children decide no forwarded traffic.
    Ignored,
    Interface(usize),
    Acl(Family, &'a str, Acl<'a>),
    Network(String, NetworkGroup),
    Service(String, ServiceGroup),
}

// ------------------------------------------------------------------ top level

/// How the reader treats a top-level command it does not model.
enum TopLevel {
    /// Identity and housekeeping that decide nothing: ignored.
    Noise,
    /// Decides no forwarded traffic: skipped and listed (kind, unit).
    Skip(&'static str, &'static str),
    /// Would decide forwarded traffic and is not modelled.
    Refuse(&'static str),
}

/// The reader's table of IOS top-level commands it does not model.
fn top_level(words: &[&str]) -> Option<TopLevel> {
    use TopLevel::*;
    Some(match words {
        // Refused before the noise below, whose patterns are wider.
        ["vlan", "access-map", ..] | ["vlan", "filter", ..] => Refuse("VLAN access maps"),
        ["Building", "configuration..."]
        | ["Current", "configuration", ..]
        | ["version", ..]
        | ["hostname", ..]
        | ["boot-start-marker"]
        | ["boot-end-marker"]
        | ["boot", ..]
        | ["service", ..]
        | ["platform", ..]
        | ["license", ..]
        | ["memory", ..]
        | ["diagnostic", ..]
        | ["redundancy"]
        | ["mode", ..]
        | ["transceiver", ..]
        | ["vtp", ..]
        | ["spanning-tree", ..]
        | ["vlan", ..]
        | ["system", "mtu", ..]
        | ["ip", "routing"]
        | ["ipv6", "unicast-routing"]
        | ["ip", "cef", ..]
        | ["ipv6", "cef", ..]
        | ["ip", "domain", ..]
        | ["ip", "domain-name", ..]
        | ["ip", "name-server", ..]
        | ["ip", "forward-protocol", ..]
        | ["ip", "http", ..]
        | ["ip", "ssh", ..]
        | ["ip", "scp", ..]
        | ["ip", "tftp", ..]
        | ["ip", "source-route"]
        | ["ip", "subnet-zero"]
        | ["ip", "classless"]
        | ["login", ..]
        | ["multilink", ..]
        | ["archive"]
        | ["cdp", ..]
        | ["lldp", ..]
        | ["udld", ..]
        | ["errdisable", ..]
        | ["port-channel", ..]
        | ["clock", ..]
        | ["enable", ..]
        | ["subscriber", ..]
        | ["call-home"]
        | ["device-tracking", ..]
        | ["alias", ..]
        | ["wsma", ..]
        | ["netconf-yang", ..]
        | ["restconf"]
        | ["end"] => Noise,
        ["router", ..] => Skip("routing protocols", "process"),
        ["ip", "route", ..] | ["ipv6", "route", ..] => Skip("static routes", "route"),
        ["route-map", ..] | ["ip", "prefix-list", ..] | ["ipv6", "prefix-list", ..] => {
            Skip("route maps and prefix lists", "line")
        }
        ["ip", "nat", ..] => Skip("NAT", "rule"),
        ["crypto", ..] => Skip("crypto/VPN", "item"),
        ["line", ..] => Skip("management lines (line, access-class)", "line block"),
        ["snmp-server", ..] | ["snmp", ..] => Skip("SNMP", "line"),
        ["aaa", ..]
        | ["username", ..]
        | ["tacacs", ..]
        | ["radius", ..]
        | ["tacacs-server", ..]
        | ["radius-server", ..] => Skip("AAA and users", "line"),
        ["logging", ..] => Skip("logging", "line"),
        ["ntp", ..] => Skip("NTP", "line"),
        ["banner", ..] => Skip("banners", "banner"),
        ["policy-map", "type", "inspect", ..] | ["class-map", "type", "inspect", ..] => {
            Refuse("zone-based firewall inspection")
        }
        ["class-map", ..] | ["policy-map", ..] | ["table-map", ..] => Skip("QoS", "map"),
        ["control-plane", ..] => Skip("control plane", "block"),
        ["ip", "dhcp", ..] | ["ipv6", "dhcp", ..] => Skip("DHCP", "line"),
        ["vrf", "definition", ..] | ["ip", "vrf", ..] => Skip("VRF definitions", "VRF"),
        ["time-range", ..] => Skip("time-range definitions", "time-range"),
        ["ip", "sla", ..] | ["track", ..] => Skip("IP SLA and tracking", "line"),
        ["key", "chain", ..] => Skip("key chains", "chain"),
        ["event", "manager", ..] => Skip("event manager", "line"),
        ["zone", ..] | ["zone-pair", ..] | ["parameter-map", ..] => Refuse("zone-based firewall"),
        ["ip", "inspect", ..] | ["ipv6", "inspect", ..] => Refuse("CBAC inspection"),
        _ => return None,
    })
}

/// Interface lines that would filter forwarded traffic and are not
/// modelled; every other interface line is a property that filters
/// nothing.
fn refused_interface_line(words: &[&str]) -> Option<&'static str> {
    match words {
        ["ip", "verify", ..] | ["ipv6", "verify", ..] => Some("unicast RPF (ip verify)"),
        ["ip", "inspect", ..] | ["ipv6", "inspect", ..] => Some("CBAC inspection"),
        ["zone-member", ..] => Some("zone-based firewall membership"),
        ["service-policy", "type", "inspect", ..] => Some("zone-based firewall policy"),
        ["ip", "access-group", ..] | ["ipv6", "traffic-filter", ..] => {
            Some("this form of ACL binding")
        }
        ["ipv6", "access-group", ..] => Some("`ipv6 access-group` (IOS-XR syntax)"),
        _ => None,
    }
}

impl<'a> Running<'a> {
    fn run(&mut self, text: &'a str) -> Result<(), DeviceError> {
        let mut block = Block::None;
        let mut banner_end: Option<String> = None;
        let mut line = Line::default();
        let mut lines = LineReader {
            text,
            start: 0,
            number: 0,
        };
        while lines.next(&mut line) {
            if let Some(end) = &banner_end {
                if line.text.contains(end.as_str()) {
                    banner_end = None;
                }
                continue;
            }
            if line.text.is_empty() || line.text.starts_with('!') {
                continue;
            }
            if line.indent > 0 {
                self.child(&mut block, &line)?;
                continue;
            }
            self.close(std::mem::replace(&mut block, Block::None));
            if let Some(end) = banner_delimiter(&line) {
                self.skip("banners", "banner");
                banner_end = end;
                continue;
            }
            block = self.top(&line)?;
        }
        self.close(block);
        if banner_end.is_some() {
            return Err(DeviceError::at(0, 0, "a banner is not closed"));
        }
        Ok(())
    }

    fn skip(&mut self, kind: &'static str, unit: &'static str) {
        match self.skipped.iter_mut().find(|(k, _, _)| *k == kind) {
            Some(s) => s.2 += 1,
            None => self.skipped.push((kind, unit, 1)),
        }
    }

    /// Puts what `block` defined back in its map.
    fn close(&mut self, block: Block<'a>) {
        match block {
            Block::None | Block::Ignored | Block::Interface(_) => {}
            Block::Acl(family, name, acl) => {
                self.acls[family as usize].insert(name, acl);
            }
            Block::Network(name, mut group) => {
                group.settle();
                self.networks.insert(name, group);
            }
            Block::Service(name, group) => {
                self.services.insert(name, group);
            }
        }
    }

    /// The ACL `name` of `family`, out of its map for its block.
    fn open_acl(&mut self, family: Family, name: &'a str) -> Block<'a> {
        let (name, acl) = self.acls[family as usize]
            .remove_entry(name)
            .expect("the ACL is defined");
        Block::Acl(family, name, acl)
    }

    /// A top-level line: what it defines, and what its children belong to.
    fn top(&mut self, line: &Line<'a>) -> Result<Block<'a>, DeviceError> {
        let w = line.texts();
        Ok(match w {
            ["interface", name] => Block::Interface(self.interface(name)),
            ["ip", "access-list", kind @ ("extended" | "standard"), name] => {
                let kind = if *kind == "extended" {
                    AclKind::Extended
                } else {
                    AclKind::Standard
                };
                self.define_acl(line, kind, name)?;
                self.open_acl(Family::V4, name)
            }
            ["ipv6", "access-list", name] => {
                self.define_acl(line, AclKind::V6, name)?;
                self.open_acl(Family::V6, name)
            }
            ["no", "ip", "access-list", "extended" | "standard", name]
            | ["no", "access-list", name] => {
                self.acls[Family::V4 as usize].remove(*name);
                Block::None
            }
            ["no", "ipv6", "access-list", name] => {
                self.acls[Family::V6 as usize].remove(*name);
                Block::None
            }
            ["access-list", _, ..] => {
                self.numbered_line(line)?;
                Block::None
            }
            ["object-group", "network", name] => self.open_network(line, name, Family::V4)?,
            ["object-group", "v6-network", name] => self.open_network(line, name, Family::V6)?,
            ["object-group", "service", name] => self.open_service(line, name)?,
            ["object-group", ..] => {
                return Err(
                    line.err_at(1, "expected `object-group network|v6-network|service NAME`")
                );
            }
            ["ip", "access-list", ..] | ["ipv6", "access-list", ..] => {
                return Err(line.err(
                    "expected `ip access-list extended|standard NAME` or `ipv6 access-list NAME`",
                ));
            }
            words => {
                let known = match words {
                    ["no", rest @ ..] => top_level(rest),
                    _ => top_level(words),
                };
                match known {
                    Some(TopLevel::Noise) => Block::Ignored,
                    Some(TopLevel::Skip(kind, unit)) => {
                        // A `no` line only restates a default.
                        if words[0] != "no" {
                            self.skip(kind, unit);
                        }
                        Block::Ignored
                    }
                    Some(TopLevel::Refuse(what)) => {
                        return Err(line.err(format!(
                            "{what} decides forwarded traffic and is not modelled: \
                             wardwall reads interface ACLs only"
                        )));
                    }
                    None => {
                        return Err(line.err(format!(
                            "unknown command `{}`: expected an interface, ACL or object-group \
                             definition, or a command known to decide no forwarded traffic",
                            line.text
                        )));
                    }
                }
            }
        })
    }

    fn child(&mut self, block: &mut Block<'a>, line: &Line<'a>) -> Result<(), DeviceError> {
        match block {
            Block::None => Err(line.err("an indented line outside any block")),
            Block::Ignored => Ok(()),
            Block::Interface(i) => self.interface_line(*i, line),
            Block::Acl(family, _, acl) => acl_line(acl, *family, line),
            Block::Network(_, group) => network_line(group, line),
            Block::Service(_, group) => service_line(group, line),
        }
    }

    // -------------------------------------------------------------- interfaces

    fn interface(&mut self, name: &str) -> usize {
        if let Some(i) = self.interfaces.iter().position(|i| i.name == name) {
            return i;
        }
        self.interfaces.push(Interface {
            name: name.to_string(),
            shutdown: None,
            bindings: Default::default(),
        });
        self.interfaces.len() - 1
    }

    fn interface_line(&mut self, index: usize, line: &Line) -> Result<(), DeviceError> {
        let w = line.texts();
        let iface = &mut self.interfaces[index];
        let bind = |family: Family, acl: &str, dir: &str| -> Result<_, DeviceError> {
            let dir = match dir {
                "in" => Direction::In,
                "out" => Direction::Out,
                _ => return Err(line.err_at(3, "expected `in` or `out`")),
            };
            Ok((family, dir, acl.to_string()))
        };
        let binding = match w {
            ["shutdown"] => {
                iface.shutdown = Some((line.number, line.column(), line.text.to_string()));
                return Ok(());
            }
            ["no", "shutdown"] => {
                iface.shutdown = None;
                return Ok(());
            }
            ["ip", "access-group", acl, dir] => Some(bind(Family::V4, acl, dir)?),
            ["ipv6", "traffic-filter", acl, dir] => Some(bind(Family::V6, acl, dir)?),
            ["no", "ip", "access-group", acl, dir] => {
                let (f, d, _) = bind(Family::V4, acl, dir)?;
                iface.bindings[d as usize][f as usize] = None;
                return Ok(());
            }
            ["no", "ipv6", "traffic-filter", acl, dir] => {
                let (f, d, _) = bind(Family::V6, acl, dir)?;
                iface.bindings[d as usize][f as usize] = None;
                return Ok(());
            }
            words => {
                if let Some(what) = refused_interface_line(words) {
                    return Err(line.err(format!(
                        "{what} on an interface is not modelled (expected `ip access-group ACL \
                         in|out` or `ipv6 traffic-filter ACL in|out`)"
                    )));
                }
                None
            }
        };
        if let Some((family, dir, acl)) = binding {
            iface.bindings[dir as usize][family as usize] = Some(Binding {
                acl,
                line: line.number,
                column: line.column(),
                text: line.text.to_string(),
            });
        }
        Ok(())
    }

    // -------------------------------------------------------------- ACLs

    fn define_acl(&mut self, line: &Line, kind: AclKind, name: &'a str) -> Result<(), DeviceError> {
        check_acl_name(line, name, kind)?;
        let acls = &mut self.acls[kind.family() as usize];
        if let Some(acl) = acls.get(name) {
            if acl.kind != kind {
                return Err(line.err(format!(
                    "`{name}` is already a {:?} ACL: a standard and an extended ACL cannot \
                     have the same name",
                    acl.kind
                )));
            }
            return Ok(());
        }
        acls.insert(
            name,
            Acl {
                kind,
                items: Vec::new(),
                pending_remarks: Vec::new(),
                taken: Vec::new(),
            },
        );
        Ok(())
    }

    /// `access-list N ...`: a line of a numbered IPv4 ACL, appended.
    fn numbered_line(&mut self, line: &Line<'a>) -> Result<(), DeviceError> {
        let number = line.words[1];
        let kind = numbered_kind(number)
            .ok_or_else(|| line.err_at(1, format!("`{number}` is not an IP access list number (standard 1-99, 1300-1999; extended 100-199, 2000-2699)")))?;
        self.define_acl(line, kind, number)?;
        let acl = self.acls[Family::V4 as usize]
            .get_mut(number)
            .expect("defined");
        add_acl_item(acl, line, 2, None)
    }

    // -------------------------------------------------------------- groups

    /// `object-group network|v6-network NAME`: the block of the group, a
    /// new one or the one defined before (re-entering a group adds to it;
    /// only a change of kind is wrong).
    fn open_network(
        &mut self,
        line: &Line,
        name: &str,
        family: Family,
    ) -> Result<Block<'a>, DeviceError> {
        let other_kind = || {
            line.err_at(
                2,
                format!("object-group `{name}` is already of another kind"),
            )
        };
        if self.services.contains_key(name) {
            return Err(other_kind());
        }
        let (name, group) = match self.networks.remove_entry(name) {
            Some((_, group)) if group.family != family => return Err(other_kind()),
            Some(defined) => defined,
            None if name.is_empty() => return Err(line.err("missing object-group name")),
            None => (
                name.to_string(),
                NetworkGroup {
                    family,
                    line: line.number,
                    addrs: AddrSet::empty(),
                    v4: Vec::new(),
                    v6: Vec::new(),
                    members: Vec::new(),
                },
            ),
        };
        Ok(Block::Network(name, group))
    }

    /// `object-group service NAME`, as [`Self::open_network`].
    fn open_service(&mut self, line: &Line, name: &str) -> Result<Block<'a>, DeviceError> {
        if self.networks.contains_key(name) {
            return Err(line.err_at(
                2,
                format!("object-group `{name}` is already of another kind"),
            ));
        }
        let (name, group) = match self.services.remove_entry(name) {
            Some(defined) => defined,
            None if name.is_empty() => return Err(line.err("missing object-group name")),
            None => (
                name.to_string(),
                ServiceGroup {
                    line: line.number,
                    members: Vec::new(),
                },
            ),
        };
        Ok(Block::Service(name, group))
    }

    /// The addresses of network group `name`, its nested groups included.
    fn network(
        &self,
        name: &str,
        family: Family,
        at: (usize, usize),
    ) -> Result<AddrSet, DeviceError> {
        let mut seen = Vec::new();
        self.network_of(name, family, at, &mut seen)
    }

    fn network_of<'s>(
        &'s self,
        name: &'s str,
        family: Family,
        at: (usize, usize),
        seen: &mut Vec<&'s str>,
    ) -> Result<AddrSet, DeviceError> {
        let group = self.networks.get(name).ok_or_else(|| {
            DeviceError::at(
                at.0,
                at.1,
                format!("object-group `{name}` is not defined as a network group"),
            )
        })?;
        if group.family != family {
            return Err(DeviceError::at(
                at.0,
                at.1,
                format!("object-group `{name}` is of the other address family"),
            ));
        }
        if seen.contains(&name) {
            return Err(DeviceError::at(
                group.line,
                1,
                format!("object-group `{name}` contains itself"),
            ));
        }
        seen.push(name);
        let mut addrs = group.addrs.clone();
        for (member, line, column) in &group.members {
            addrs = addrs.union(&self.network_of(member, family, (*line, *column), seen)?);
        }
        seen.pop();
        Ok(addrs)
    }

    /// The members of service group `name`, nested groups flattened.
    fn service(&self, name: &str, at: (usize, usize)) -> Result<Vec<Piece>, DeviceError> {
        let mut seen = Vec::new();
        let mut out = Vec::new();
        self.service_of(name, at, &mut seen, &mut out)?;
        Ok(out)
    }

    fn service_of<'s>(
        &'s self,
        name: &'s str,
        at: (usize, usize),
        seen: &mut Vec<&'s str>,
        out: &mut Vec<Piece>,
    ) -> Result<(), DeviceError> {
        let group = self.services.get(name).ok_or_else(|| {
            DeviceError::at(
                at.0,
                at.1,
                format!("object-group `{name}` is not defined as a service group"),
            )
        })?;
        if seen.contains(&name) {
            return Err(DeviceError::at(
                group.line,
                1,
                format!("object-group `{name}` contains itself"),
            ));
        }
        seen.push(name);
        for member in &group.members {
            match member {
                ServiceMember::Piece(p) => out.push(p.clone()),
                ServiceMember::Group(g, line, column) => {
                    self.service_of(g, (*line, *column), seen, out)?
                }
            }
        }
        seen.pop();
        Ok(())
    }

    // -------------------------------------------------------------- the model

    fn into_device(mut self) -> Result<Device, DeviceError> {
        for acl in self.acls.iter_mut().flat_map(HashMap::values_mut) {
            let pending = std::mem::take(&mut acl.pending_remarks);
            acl.items.extend(pending);
            // Keys are unique (they end in the line number): an unstable
            // sort orders them as a stable one would.
            acl.items.sort_unstable_by_key(|i| i.key);
        }
        // Each ACL's entries and how many bindings will take them: the
        // last one takes them without a copy.
        let mut converted: Converted = HashMap::new();
        let acls = std::mem::take(&mut self.acls);
        // The maps give the ACLs in no fixed order: of the errors in
        // several ACLs, the one first in the file is reported, the same
        // one every time.
        let mut error: Option<DeviceError> = None;
        for (family, acls) in [Family::V4, Family::V6].into_iter().zip(acls) {
            for (name, acl) in acls {
                let empty = entries_are_empty(&acl);
                match self.entries(name, acl) {
                    Ok(entries) => {
                        converted.insert((family, name.to_string()), (0, empty, entries));
                    }
                    Err(e) => {
                        if error
                            .as_ref()
                            .is_none_or(|first| (e.line, e.column) < (first.line, first.column))
                        {
                            error = Some(e);
                        }
                    }
                }
            }
        }
        if let Some(e) = error {
            return Err(e);
        }
        for iface in &self.interfaces {
            for per_family in &iface.bindings {
                for (family, b) in [Family::V4, Family::V6].into_iter().zip(per_family) {
                    if let Some(b) = b
                        && let Some((uses, _, _)) = converted.get_mut(&(family, b.acl.clone()))
                    {
                        *uses += 1;
                    }
                }
            }
        }
        let mut layers = Vec::new();
        for (dir, layer_name) in [
            (Direction::In, "inbound ACLs"),
            (Direction::Out, "outbound ACLs"),
        ] {
            let mut filters = Vec::new();
            for iface in &self.interfaces {
                let places = PlaceSet::of([iface.name.clone()]);
                let guard = |family: Option<Family>| {
                    let mut g = match dir {
                        Direction::In => Guard::ingress(places.clone()),
                        Direction::Out => Guard::egress(places.clone()),
                    };
                    g.family = family;
                    g
                };
                if let Some((line, column, text)) = &iface.shutdown {
                    filters.push(Filter {
                        name: format!("interface {} (shut down)", iface.name),
                        guard: guard(None),
                        entries: Vec::new(),
                        default: Decision {
                            action: Action::Deny,
                            log: false,
                            origin: Origin {
                                line: *line,
                                column: *column,
                                text: format!(
                                    "{text} (interface {} is shut down: it forwards nothing)",
                                    iface.name
                                ),
                                rule: None,
                            },
                        },
                    });
                }
                for family in [Family::V4, Family::V6] {
                    let Some(b) = &iface.bindings[dir as usize][family as usize] else {
                        continue;
                    };
                    filters.push(self.filter(
                        &mut converted,
                        family,
                        b,
                        &iface.name,
                        dir,
                        guard(Some(family)),
                    ));
                }
            }
            layers.push(Layer {
                name: layer_name.to_string(),
                filters,
                unfiltered: Action::Allow,
            });
        }
        Ok(Device {
            target: Target::Cisco,
            places: Some(self.interfaces.iter().map(|i| i.name.clone()).collect()),
            layers,
            skipped: self
                .skipped
                .iter()
                .map(|(kind, unit, n)| {
                    format!("{kind} ({n} {unit}{})", if *n == 1 { "" } else { "s" })
                })
                .collect(),
        })
    }

    fn filter(
        &self,
        converted: &mut Converted,
        family: Family,
        b: &Binding,
        iface: &str,
        dir: Direction,
        guard: Guard,
    ) -> Filter {
        let (fam, dir_word) = (
            if family == Family::V4 {
                "ACL"
            } else {
                "IPv6 ACL"
            },
            if dir == Direction::In { "in" } else { "out" },
        );
        let name = format!("{fam} {} {dir_word} on {iface}", b.acl);
        let decision = |action, text: String| Decision {
            action,
            log: false,
            origin: Origin {
                line: 0,
                column: 0,
                text,
                rule: None,
            },
        };
        let Some((uses, empty, entries)) = converted.get_mut(&(family, b.acl.clone())) else {
            return Filter {
                name,
                guard,
                entries: Vec::new(),
                default: Decision {
                    action: Action::Allow,
                    log: false,
                    origin: Origin {
                        line: b.line,
                        column: b.column,
                        text: format!(
                            "{} ({fam} {} is applied but not defined: IOS passes every packet)",
                            b.text, b.acl
                        ),
                        rule: None,
                    },
                },
            };
        };
        *uses -= 1;
        let entries = if *uses == 0 {
            std::mem::take(entries)
        } else {
            entries.clone()
        };
        let default = if family == Family::V6 && *empty {
            decision(
                Action::Allow,
                format!(
                    "IPv6 ACL {} has no entries: its implicit entries take effect only in an ACL with at least one entry, so IOS passes every packet",
                    b.acl
                ),
            )
        } else {
            decision(
                Action::Deny,
                format!(
                    "implicit deny {} any any at the end of {fam} {}",
                    if family == Family::V4 { "ip" } else { "ipv6" },
                    b.acl
                ),
            )
        };
        Filter {
            name,
            guard,
            entries,
            default,
        }
    }

    /// The model entries of one ACL, its implicit ones included, its items
    /// in order.
    fn entries(&self, name: &str, acl: Acl) -> Result<Vec<Entry>, DeviceError> {
        let family = acl.kind.family();
        // Mostly one model entry per entry (a service group's undecidable
        // members add more), and the implicit ones.
        let aces = acl
            .items
            .iter()
            .filter(|i| matches!(i.body, ItemBody::Ace(_)))
            .count();
        let mut out = Vec::with_capacity(aces + 2);
        let mut rule: Option<String> = None;
        let mut after_entry = true;
        let mut any_entry = false;
        for item in acl.items {
            match item.body {
                ItemBody::Remark(text) => {
                    // wardwall opens each rule's block with a remark
                    // `NAME: action` (the first remark after an entry).
                    if after_entry {
                        rule = rule_label(text);
                    }
                    after_entry = false;
                }
                ItemBody::Ace(ace) => {
                    after_entry = true;
                    any_entry = true;
                    let origin = Origin {
                        line: item.key.2,
                        column: item.column,
                        text: item.text.to_string(),
                        rule: rule.clone(),
                    };
                    self.ace_entries(*ace, family, origin, &mut out)?;
                }
                ItemBody::Never => {
                    after_entry = true;
                    any_entry = true;
                }
            }
        }
        if !any_entry && family == Family::V4 {
            out.push(Entry {
                guard: Guard::any(),
                src: AddrSet::any().of_family(family),
                dst: AddrSet::any().of_family(family),
                service: ServiceSet::any(),
                decision: Decision {
                    action: Action::Allow,
                    log: false,
                    origin: Origin {
                        line: 0,
                        column: 0,
                        text: format!("ACL {name} has no entries"),
                        rule: None,
                    },
                },
                undecidable: Some(format!(
                    "ACL {name} has no entries: IOS documents no verdict for an empty IPv4 ACL"
                )),
            });
        }
        if family == Family::V6 && any_entry {
            for (keyword, ty) in [("nd-na", 136u8), ("nd-ns", 135u8)] {
                let service = ServiceSet {
                    icmp6: ByteSet::single(ty),
                    ..ServiceSet::default()
                };
                out.push(Entry {
                    guard: Guard::any(),
                    src: AddrSet::any().of_family(family),
                    dst: AddrSet::any().of_family(family),
                    service,
                    decision: Decision {
                        action: Action::Allow,
                        log: false,
                        origin: Origin {
                            line: 0,
                            column: 0,
                            text: format!(
                                "implicit permit icmp any any {keyword} at the end of IPv6 ACL {name}"
                            ),
                            rule: None,
                        },
                    },
                    undecidable: None,
                });
            }
        }
        Ok(out)
    }

    /// One entry (that may match a new flow) as model entries, appended to
    /// `out`.
    fn ace_entries(
        &self,
        ace: Ace<'_>,
        family: Family,
        origin: Origin,
        out: &mut Vec<Entry>,
    ) -> Result<(), DeviceError> {
        let mut reasons = ace.undecidable;
        let mut addr = |m: AddrMatch| -> Result<AddrSet, DeviceError> {
            Ok(match m {
                // As `of_family` makes of its set below.
                AddrMatch::V4(lo, hi) => match family {
                    Family::V4 => v4_range(lo, hi),
                    Family::V6 => AddrSet::empty(),
                },
                // `of_family`, without copying the set.
                AddrMatch::Set(s) => match family {
                    Family::V4 => AddrSet {
                        v4: s.v4,
                        v6: Default::default(),
                    },
                    Family::V6 => AddrSet {
                        v4: Default::default(),
                        v6: s.v6,
                    },
                },
                AddrMatch::Group(g, column) => self.network(g, family, (ace.at.0, column))?,
                AddrMatch::Hull(s, why) => {
                    reasons.push(why);
                    s
                }
            })
        };
        let src = addr(ace.src)?;
        let dst = addr(ace.dst)?;
        let (one, group) = match &ace.protocol {
            Protocol::Group(g) => (None, self.service(g, ace.at)?),
            Protocol::Any => (
                Some(Piece {
                    service: ServiceSet::any(),
                    undecidable: None,
                }),
                Vec::new(),
            ),
            Protocol::Number(n) => (
                protocol_piece(*n, family, ace.sport.as_ref(), ace.dport, ace.icmp),
                Vec::new(),
            ),
        };
        let mut decided: Option<ServiceSet> = None;
        let mut undecided = Vec::new();
        for p in one.into_iter().chain(group) {
            let why = p
                .undecidable
                .into_iter()
                .chain(reasons.iter().cloned())
                .collect::<Vec<_>>();
            if why.is_empty() {
                decided = Some(match decided {
                    None => p.service,
                    Some(d) => d.union(&p.service),
                });
            } else {
                undecided.push((p.service, Some(why.join("; "))));
            }
        }
        let mut services = decided
            .filter(|d| !d.is_empty())
            .map(|d| (d, None))
            .into_iter()
            .chain(undecided)
            .peekable();
        // The last entry takes the addresses and origin, the others copy.
        let mut parts = Some((src, dst, origin));
        while let Some((service, why)) = services.next() {
            let (src, dst, origin) = if services.peek().is_none() {
                parts.take().expect("taken by the last entry only")
            } else {
                let (src, dst, origin) = parts.as_ref().expect("not taken yet");
                (src.clone(), dst.clone(), origin.clone())
            };
            out.push(Entry {
                guard: Guard::any(),
                src,
                dst,
                service,
                decision: Decision {
                    action: ace.action,
                    log: ace.log,
                    origin,
                },
                undecidable: why,
            });
        }
        Ok(())
    }
}

/// A line of an ACL block.
fn acl_line<'a>(acl: &mut Acl<'a>, family: Family, line: &Line<'a>) -> Result<(), DeviceError> {
    let w = line.texts();
    // The sequence number: IPv4 `N ...`, IPv6 `sequence N ...` or a
    // trailing `... sequence N`.
    let (seq, first) = match (family, w) {
        (Family::V4, [n, ..]) if n.starts_with(|c: char| c.is_ascii_digit()) => {
            (Some(seq_number(line, 0)?), 1)
        }
        (Family::V6, ["sequence", ..]) => (Some(seq_number(line, 1)?), 2),
        (Family::V6, [first, .., "sequence", _]) if *first != "remark" => {
            (Some(seq_number(line, w.len() - 1)?), 0)
        }
        _ => (None, 0),
    };
    add_acl_item(acl, line, first, seq)
}

/// The column of the second word of `line`, which has two.
fn second_column(line: &Line) -> usize {
    line.word_column(1).expect("two words")
}

/// A line of an `object-group network|v6-network` block.
fn network_line(group: &mut NetworkGroup, line: &Line) -> Result<(), DeviceError> {
    /// A member's addresses: IPv4 ones as a range, without a set.
    enum Member {
        V4(u32, u32),
        Set(AddrSet),
    }
    use Member::{Set, V4};
    let w = line.texts();
    let addrs = match (group.family, w) {
        (_, ["description", ..]) => return Ok(()),
        (_, ["group-object", member]) => {
            group
                .members
                .push((member.to_string(), line.number, second_column(line)));
            return Ok(());
        }
        (f, ["any"]) => Set(AddrSet::any().of_family(f)),
        (Family::V4, ["host", a]) => {
            let a = u32::from(v4_addr(line, 1, a)?);
            V4(a, a)
        }
        (Family::V4, ["range", a, b]) => {
            let (a, b) = (v4_addr(line, 1, a)?, v4_addr(line, 2, b)?);
            if a > b {
                return Err(line.err_at(1, "a range must run from low to high"));
            }
            V4(a.into(), b.into())
        }
        (Family::V4, [a, len]) if len.starts_with('/') => {
            let len: u8 = len[1..]
                .parse()
                .ok()
                .filter(|l| *l <= 32)
                .ok_or_else(|| line.err_at(1, "expected a prefix length /0 to /32"))?;
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            let a = u32::from(v4_addr(line, 0, a)?);
            V4(a & mask, (a & mask) | !mask)
        }
        (Family::V4, [a, m]) => {
            let mask = u32::from(v4_addr(line, 1, m)?);
            if mask.leading_ones() + mask.trailing_zeros() != 32 {
                return Err(line.err_at(1, format!("`{m}` is not a contiguous netmask")));
            }
            let a = u32::from(v4_addr(line, 0, a)?);
            V4(a & mask, (a & mask) | !mask)
        }
        (Family::V6, ["host", a]) => Set(AddrSet::from_addr(v6_addr(line, 1, a)?.into())),
        (Family::V6, [p]) => Set(AddrSet::from_net(v6_prefix(line, 0, p)?.into())),
        _ => {
            return Err(line.err(format!(
                "expected an object-group member (`host A`, {}, `range A B`, `any`, \
                 `group-object NAME`, `description TEXT`)",
                if group.family == Family::V4 {
                    "`A.B.C.D M.M.M.M`"
                } else {
                    "`X::/len`"
                }
            )));
        }
    };
    match addrs {
        V4(lo, hi) => group.v4.push((lo, hi)),
        Set(set) => {
            group.v4.extend_from_slice(set.v4.ranges());
            group.v6.extend_from_slice(set.v6.ranges());
        }
    }
    Ok(())
}

/// A line of an `object-group service` block.
fn service_line(group: &mut ServiceGroup, line: &Line) -> Result<(), DeviceError> {
    let w = line.texts();
    let member = match w {
        ["description", ..] => return Ok(()),
        ["group-object", member] => {
            ServiceMember::Group(member.to_string(), line.number, second_column(line))
        }
        _ => ServiceMember::Piece(service_member(line)?),
    };
    group.members.push(member);
    Ok(())
}

/// Each ACL's model entries by family and name, with how many bindings
/// have yet to take them and whether the ACL has no entries.
type Converted = HashMap<(Family, String), (usize, bool, Vec<Entry>)>;

fn entries_are_empty(acl: &Acl) -> bool {
    !acl.items
        .iter()
        .any(|i| matches!(i.body, ItemBody::Ace(_) | ItemBody::Never))
}

/// The policy rule a remark names the way wardwall writes it: `NAME:
/// ...`, NAME a policy rule name.
fn rule_label(remark: &str) -> Option<String> {
    let (label, _) = remark.split_once(": ")?;
    let ok = label.starts_with(|c: char| c.is_ascii_alphabetic())
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    ok.then(|| label.to_string())
}

/// The kind of numbered ACL `number` is, by IOS's number ranges.
fn numbered_kind(number: &str) -> Option<AclKind> {
    let n: u32 = number.parse().ok()?;
    match n {
        1..=99 | 1300..=1999 => Some(AclKind::Standard),
        100..=199 | 2000..=2699 => Some(AclKind::Extended),
        _ => None,
    }
}

fn check_acl_name(line: &Line, name: &str, kind: AclKind) -> Result<(), DeviceError> {
    if kind != AclKind::V6
        && name.chars().all(|c| c.is_ascii_digit())
        && numbered_kind(name) != Some(kind)
    {
        return Err(line.err(format!(
            "`{name}` is not a {} ACL number",
            if kind == AclKind::Standard {
                "standard (1-99, 1300-1999)"
            } else {
                "extended (100-199, 2000-2699)"
            }
        )));
    }
    Ok(())
}

/// `banner TYPE DELIM...`: the delimiter that ends it, `None` when it ends
/// on its own line. Not a banner: `None` outer.
fn banner_delimiter(line: &Line) -> Option<Option<String>> {
    if *line.words.first()? != "banner" {
        return None;
    }
    let third = line.word_column(2)?;
    let after_type = &line.text[third - 1 - line.indent..];
    // IOS prints the delimiter as `^C`; a typed one is one character.
    let delim = if after_type.starts_with("^C") {
        "^C".to_string()
    } else {
        after_type.chars().next()?.to_string()
    };
    let rest = &after_type[delim.len()..];
    Some((!rest.contains(delim.as_str())).then_some(delim))
}

fn seq_number(line: &Line, word: usize) -> Result<u32, DeviceError> {
    let text = line.words.get(word).copied().unwrap_or("");
    decimal(text)
        .or_else(|| text.parse::<u32>().ok())
        .filter(|n| (1..=2_147_483_647).contains(n))
        .ok_or_else(|| {
            line.err_at(
                word,
                format!("expected a sequence number 1-2147483647, found `{text}`"),
            )
        })
}

/// Adds a remark or an entry (its words from `first`, without a trailing
/// `sequence N`) to `acl`, numbered `seq` or as IOS numbers it.
fn add_acl_item<'a>(
    acl: &mut Acl<'a>,
    line: &Line<'a>,
    first: usize,
    seq: Option<u32>,
) -> Result<(), DeviceError> {
    let family = acl.kind.family();
    let mut end = line.words.len();
    if family == Family::V6 && first == 0 && seq.is_some() {
        end -= 2;
    }
    let words = &line.words[first..end];
    let Some(&head) = words.first() else {
        return Err(line.err("expected permit, deny or remark"));
    };
    if head == "remark" {
        let column = line.word_column(first).expect("the first word");
        let text = line.text[column - 1 - line.indent..]
            .strip_prefix("remark")
            .unwrap_or("")
            .trim();
        let mut item = Item {
            key: (0, 0, line.number),
            column: line.column(),
            text: line.text,
            body: ItemBody::Remark(text),
        };
        match (family, seq) {
            // An IPv6 remark holds its own sequence number.
            (Family::V6, _) => {
                item.key.0 = take_number(acl, line, seq)?;
                acl.items.push(item);
            }
            // An IPv4 remark shares the number of its entry.
            (Family::V4, Some(n)) => {
                item.key.0 = n;
                acl.items.push(item);
            }
            (Family::V4, None) => acl.pending_remarks.push(item),
        }
        return Ok(());
    }
    let ace = parse_ace(line, first, words, acl.kind)?;
    let n = take_number(acl, line, seq)?;
    for mut r in acl.pending_remarks.drain(..) {
        r.key.0 = n;
        acl.items.push(r);
    }
    acl.items.push(Item {
        key: (n, 1, line.number),
        column: line.column(),
        text: line.text,
        body: if ace.never.is_some() {
            ItemBody::Never
        } else {
            ItemBody::Ace(Box::new(ace))
        },
    });
    Ok(())
}

/// The sequence number of a new line: `explicit`, or 10 above the highest.
fn take_number(acl: &mut Acl, line: &Line, explicit: Option<u32>) -> Result<u32, DeviceError> {
    let n = match explicit {
        Some(n) => n,
        None => acl
            .taken
            .last()
            .copied()
            .unwrap_or(0)
            .checked_add(10)
            .filter(|n| *n <= 2_147_483_647)
            .ok_or_else(|| line.err("no sequence number is left for this line"))?,
    };
    // Numbers mostly come in rising order: appended, not searched.
    if acl.taken.last().is_none_or(|last| *last < n) {
        acl.taken.push(n);
        return Ok(n);
    }
    match acl.taken.binary_search(&n) {
        Ok(_) => Err(line.err(format!("sequence number {n} is used twice in this ACL"))),
        Err(at) => {
            acl.taken.insert(at, n);
            Ok(n)
        }
    }
}

// ------------------------------------------------------------------ entries

/// A cursor over an entry's words: those of its line from word `base`.
struct Cursor<'l, 'a> {
    line: &'l Line<'a>,
    words: &'l [&'a str],
    base: usize,
    at: usize,
}

impl<'a> Cursor<'_, 'a> {
    fn peek(&self) -> Option<&'a str> {
        self.words.get(self.at).copied()
    }

    /// The column of the cursor's word `i`, if there is one.
    fn column(&self, i: usize) -> Option<usize> {
        if i < self.words.len() {
            self.line.word_column(self.base + i)
        } else {
            None
        }
    }

    fn next(&mut self) -> Option<&'a str> {
        let w = self.peek();
        self.at += 1;
        w
    }

    fn err(&self, message: impl Into<String>) -> DeviceError {
        let column = self
            .column(self.at)
            .unwrap_or_else(|| self.line.column() + self.line.text.chars().count());
        DeviceError::at(self.line.number, column, message)
    }

    fn err_prev(&self, message: impl Into<String>) -> DeviceError {
        let column = self
            .column(self.at.saturating_sub(1))
            .unwrap_or(self.line.column());
        DeviceError::at(self.line.number, column, message)
    }

    fn expect(&mut self, what: &str) -> Result<&'a str, DeviceError> {
        match self.peek() {
            Some(w) => {
                self.at += 1;
                Ok(w)
            }
            None => Err(self.err(format!("expected {what}"))),
        }
    }
}

fn parse_ace<'a>(
    line: &Line<'a>,
    first: usize,
    words: &[&'a str],
    kind: AclKind,
) -> Result<Ace<'a>, DeviceError> {
    let family = kind.family();
    let mut c = Cursor {
        line,
        words,
        base: first,
        at: 0,
    };
    let mut undecidable = Vec::new();
    if c.peek() == Some("evaluate") {
        c.next();
        let name = c.expect("a reflexive ACL name")?;
        if c.peek().is_some() {
            return Err(c.err("unexpected word after `evaluate NAME`"));
        }
        return Ok(Ace {
            action: Action::Allow,
            log: false,
            protocol: Protocol::Any,
            src: AddrMatch::Set(AddrSet::any()),
            sport: None,
            dst: AddrMatch::Set(AddrSet::any()),
            dport: None,
            icmp: None,
            never: None,
            undecidable: vec![format!(
                "reflexive ACL `evaluate {name}`: it matches replies to sessions seen before"
            )],
            at: (line.number, line.column()),
        });
    }
    if c.peek() == Some("dynamic") {
        c.next();
        let name = c.expect("a dynamic entry name")?;
        if c.peek() == Some("timeout") {
            c.next();
            c.expect("a timeout")?;
        }
        undecidable.push(format!(
            "lock-and-key dynamic entry `{name}`: it exists only after a user authenticates"
        ));
    }
    let action = match c.next() {
        Some("permit") => Action::Allow,
        Some("deny") => Action::Deny,
        _ => return Err(c.err_prev("expected `permit`, `deny` or `remark`")),
    };
    let at = (line.number, c.column(c.at).unwrap_or(line.column()));
    if kind == AclKind::Standard {
        let src = address(&mut c, family, true)?;
        let mut ace = Ace {
            action,
            log: false,
            protocol: Protocol::Any,
            src,
            sport: None,
            dst: AddrMatch::Set(AddrSet::any()),
            dport: None,
            icmp: None,
            never: None,
            undecidable,
            at,
        };
        while let Some(w) = c.next() {
            match w {
                "log" | "log-input" => {
                    ace.log = true;
                    if c.peek().is_some() {
                        c.next();
                    }
                }
                _ => {
                    return Err(c.err_prev(format!(
                        "unexpected `{w}` in a standard ACL entry (expected `log`)"
                    )));
                }
            }
        }
        return Ok(ace);
    }
    let protocol = match c.expect("a protocol")? {
        "ip" if family == Family::V4 => Protocol::Any,
        "ipv6" if family == Family::V6 => Protocol::Any,
        "object-group" if family == Family::V4 => {
            Protocol::Group(c.expect("a service object-group name")?)
        }
        n if n.chars().all(|ch| ch.is_ascii_digit()) => Protocol::Number(
            n.parse()
                .map_err(|_| c.err_prev(format!("protocol number `{n}` is not 0-255")))?,
        ),
        n => Protocol::Number(protocol_name(n, family).ok_or_else(|| {
            c.err_prev(format!(
                "unknown protocol `{n}` (expected {}, a protocol keyword or 0-255)",
                if family == Family::V4 {
                    "`ip`, `object-group NAME`"
                } else {
                    "`ipv6`"
                }
            ))
        })?),
    };
    let with_ports = matches!(protocol, Protocol::Number(proto::TCP | proto::UDP));
    let udp = protocol == Protocol::Number(proto::UDP);
    let src = address(&mut c, family, false)?;
    let sport = if with_ports {
        ports(&mut c, udp)?
    } else {
        None
    };
    let dst = address(&mut c, family, false)?;
    let dport = if with_ports {
        ports(&mut c, udp)?
    } else {
        None
    };
    let mut ace = Ace {
        action,
        log: false,
        protocol: protocol.clone(),
        src,
        sport,
        dst,
        dport,
        icmp: None,
        never: None,
        undecidable,
        at,
    };
    let icmp = match family {
        Family::V4 => proto::ICMP,
        Family::V6 => proto::ICMPV6,
    };
    if protocol == Protocol::Number(icmp) {
        ace.icmp = icmp_match(&mut c, family)?;
    }
    if protocol == Protocol::Number(2)
        && family == Family::V4
        && let Some(t) = c.peek().filter(|t| is_igmp_type(t))
    {
        c.next();
        ace.undecidable.push(format!("IGMP type `{t}`"));
    }
    options(&mut c, &mut ace, family)?;
    Ok(ace)
}

/// IGMP message types IOS takes after `igmp` (a number or a keyword).
fn is_igmp_type(word: &str) -> bool {
    word.chars().all(|c| c.is_ascii_digit())
        || matches!(
            word,
            "dvmrp"
                | "host-query"
                | "host-report"
                | "mtrace-response"
                | "mtrace-route"
                | "pim"
                | "trace"
                | "v2-leave"
                | "v2-report"
                | "v3-report"
        )
}

/// The options after the addresses and ports.
fn options(c: &mut Cursor, ace: &mut Ace<'_>, family: Family) -> Result<(), DeviceError> {
    let tcp = ace.protocol == Protocol::Number(proto::TCP);
    while let Some(w) = c.next() {
        match w {
            "log" | "log-input" => {
                ace.log = true;
                // An optional cookie, printed last.
                if c.peek().is_some()
                    && c.at + 1 == c.words.len()
                    && !is_option(c.peek().unwrap_or(""))
                {
                    c.next();
                }
            }
            "established" if tcp => ace.never = Some("established: ACK or RST set".into()),
            "ack" | "fin" | "psh" | "rst" | "urg" if tcp => {
                ace.never = Some(format!("TCP flag {w}").into());
            }
            "syn" if tcp => {}
            "match-all" | "match-any" if tcp => {
                let mut holds = Vec::new();
                while let Some(f) = c.peek().filter(|f| f.starts_with(['+', '-'])) {
                    c.next();
                    let set = f.starts_with('+');
                    let flag = &f[1..];
                    if !matches!(flag, "ack" | "fin" | "psh" | "rst" | "syn" | "urg") {
                        return Err(c.err_prev(format!("unknown TCP flag `{f}`")));
                    }
                    // The SYN has SYN set and every other flag clear.
                    holds.push((flag == "syn") == set);
                }
                if holds.is_empty() {
                    return Err(c.err(format!("expected `+flag` or `-flag` after `{w}`")));
                }
                let matches = if w == "match-all" {
                    holds.iter().all(|h| *h)
                } else {
                    holds.iter().any(|h| *h)
                };
                if !matches {
                    ace.never = Some(format!("TCP flags `{w}` do not hold for a SYN").into());
                }
            }
            "fragments" => {
                ace.never = Some("fragments: non-initial fragments only".into());
            }
            "dscp" | "precedence" | "tos" | "option" | "flow-label" | "routing-type"
            | "dest-option-type" | "mobility-type" => {
                let v = c.expect(&format!("a value after `{w}`"))?;
                ace.undecidable.push(format!("`{w} {v}`"));
            }
            "ttl" => {
                let op = c.expect("a ttl operator")?;
                let n = if op == "range" { 2 } else { 1 };
                for _ in 0..n {
                    c.expect("a ttl value")?;
                }
                ace.undecidable.push("`ttl` match".into());
            }
            "time-range" => {
                let name = c.expect("a time-range name")?;
                ace.undecidable
                    .push(format!("schedule (time-range {name})"));
            }
            "reflect" => {
                c.expect("a reflexive ACL name")?;
                if c.peek() == Some("timeout") {
                    c.next();
                    c.expect("a timeout")?;
                }
            }
            "routing" | "hbh" | "dest-option" | "mobility" | "undetermined-transport" | "auth"
                if family == Family::V6 =>
            {
                ace.undecidable
                    .push(format!("IPv6 extension header match `{w}`"));
            }
            "any4" | "addrgroup" => {
                return Err(c.err_prev(format!("`{w}` is not IOS-XE syntax")));
            }
            _ => {
                return Err(c.err_prev(format!(
                    "unexpected `{w}` (expected an option such as `log`, `established`, `dscp`, \
                     `time-range`, or the end of the entry)"
                )));
            }
        }
    }
    Ok(())
}

fn is_option(w: &str) -> bool {
    matches!(
        w,
        "log"
            | "log-input"
            | "established"
            | "fragments"
            | "dscp"
            | "precedence"
            | "tos"
            | "ttl"
            | "time-range"
            | "reflect"
            | "option"
    )
}

/// An address: `any`, `host A`, `A WILDCARD` (IPv4), `X::/len` (IPv6),
/// `object-group NAME`.
fn address<'a>(
    c: &mut Cursor<'_, 'a>,
    family: Family,
    bare_host: bool,
) -> Result<AddrMatch<'a>, DeviceError> {
    let w =
        c.expect("an address (`any`, `host A`, an address and wildcard, `object-group NAME`)")?;
    Ok(match (family, w) {
        (Family::V4, "any") => AddrMatch::V4(0, u32::MAX),
        (f, "any") => AddrMatch::Set(AddrSet::any().of_family(f)),
        (_, "object-group") => {
            let column = c.column(c.at).unwrap_or(0);
            AddrMatch::Group(c.expect("an object-group name")?, column)
        }
        (_, "any4" | "any6" | "addrgroup") => {
            return Err(c.err_prev(format!(
                "`{w}` is not IOS-XE syntax (expected `any` or `object-group NAME`)"
            )));
        }
        (Family::V4, "host") => {
            let a = c.expect("a host address")?;
            let a = u32::from(parse_v4(c, a)?);
            AddrMatch::V4(a, a)
        }
        (Family::V6, "host") => {
            let a = c.expect("a host address")?;
            let a: Ipv6Addr = a
                .parse()
                .map_err(|_| c.err_prev(format!("`{a}` is not an IPv6 address")))?;
            AddrMatch::Set(AddrSet::from_addr(a.into()))
        }
        (Family::V4, a) => {
            let addr = u32::from(parse_v4(c, a)?);
            // A standard ACL takes a bare address for one host; an
            // extended one needs the wildcard.
            let wildcard = match c.peek().and_then(ipv4) {
                Some(w) => {
                    c.next();
                    u32::from(w)
                }
                _ if bare_host => 0,
                _ => return Err(c.err(format!("expected a wildcard mask after `{a}`"))),
            };
            wildcard_set(addr, wildcard)
        }
        (Family::V6, p) => {
            let net: Ipv6Net = p
                .parse()
                .map_err(|_| c.err_prev(format!("`{p}` is not an IPv6 prefix X::/len")))?;
            AddrMatch::Set(AddrSet::from_net(net.trunc().into()))
        }
    })
}

fn parse_v4(c: &Cursor, a: &str) -> Result<Ipv4Addr, DeviceError> {
    ipv4(a).ok_or_else(|| c.err_prev(format!("`{a}` is not an IPv4 address")))
}

/// `a` as an IPv4 address, as `Ipv4Addr::from_str` reads it.
fn ipv4(a: &str) -> Option<Ipv4Addr> {
    dotted_quad(a).or_else(|| a.parse().ok())
}

/// `a` as an IPv4 address if it is four dot-separated decimal octets of
/// one to three digits, at most 255, without a leading zero (`0` alone
/// is one): the form a router prints, read without `Ipv4Addr::from_str`'s
/// general parser. Every address this accepts, that parser accepts too,
/// with the same value; for anything else it is asked ([`ipv4`]).
fn dotted_quad(a: &str) -> Option<Ipv4Addr> {
    let (mut addr, mut octet, mut digits, mut dots) = (0u32, 0u32, 0u32, 0u32);
    for b in a.bytes() {
        if b == b'.' {
            if digits == 0 || dots == 3 || octet > 255 {
                return None;
            }
            (addr, octet, digits, dots) = (addr << 8 | octet, 0, 0, dots + 1);
            continue;
        }
        let d = u32::from(b.wrapping_sub(b'0'));
        // A fourth digit, or a second after a leading `0`, is refused.
        if d > 9 || digits == 3 || (digits == 1 && octet == 0) {
            return None;
        }
        octet = octet * 10 + d;
        digits += 1;
    }
    if dots != 3 || digits == 0 || octet > 255 {
        return None;
    }
    Some(Ipv4Addr::from(addr << 8 | octet))
}

/// `text` as a `u32` if it is one to nine decimal digits (so it cannot
/// overflow): the common case of `str::parse`, which reads the rest.
fn decimal(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 9 {
        return None;
    }
    let mut n = 0u32;
    for b in text.bytes() {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + u32::from(d);
    }
    Some(n)
}

/// Most intervals a non-contiguous wildcard is expanded to.
const WILDCARD_INTERVALS_MAX: u32 = 16;

/// The addresses `addr WILDCARD` matches (a 1 bit: any value), exactly.
fn wildcard_set(addr: u32, wildcard: u32) -> AddrMatch<'static> {
    let base = addr & !wildcard;
    let low = wildcard.trailing_ones();
    let block = if low == 32 {
        u32::MAX
    } else {
        (1u32 << low) - 1
    };
    let holes = wildcard & !block;
    if holes == 0 {
        return AddrMatch::V4(base, base | block);
    }
    if holes.count_ones() > WILDCARD_INTERVALS_MAX {
        return AddrMatch::Hull(
            v4_range(base, base | wildcard),
            format!(
                "non-contiguous wildcard {} spans more than 2^{WILDCARD_INTERVALS_MAX} ranges",
                Ipv4Addr::from(wildcard)
            ),
        );
    }
    let mut ranges = Vec::new();
    let mut sub = holes;
    loop {
        let lo = base | sub;
        ranges.push((lo, lo | block));
        if sub == 0 {
            break;
        }
        sub = (sub - 1) & holes;
    }
    AddrMatch::Set(AddrSet {
        v4: V4Set::from_ranges(ranges),
        v6: Default::default(),
    })
}

fn v4_range(lo: u32, hi: u32) -> AddrSet {
    AddrSet::from_range(Ipv4Addr::from(lo).into(), Ipv4Addr::from(hi).into())
}

/// A port operator and its ports, if one follows.
fn ports(c: &mut Cursor, udp: bool) -> Result<Option<PortSet>, DeviceError> {
    let Some(op) = c
        .peek()
        .filter(|w| matches!(*w, "eq" | "neq" | "lt" | "gt" | "range"))
    else {
        return Ok(None);
    };
    c.next();
    let port = |c: &mut Cursor| -> Result<u16, DeviceError> {
        let p = c.expect("a port number or name")?;
        port_value(p, udp).ok_or_else(|| {
            c.err_prev(format!(
                "`{p}` is not a port number or an IOS {} port name",
                if udp { "UDP" } else { "TCP" }
            ))
        })
    };
    let set = match op {
        "eq" => {
            let mut set = PortSet::single(port(c)?);
            // IOS-XE takes up to 10 ports on one `eq`.
            while let Some(p) = c.peek().and_then(|p| port_value(p, udp)) {
                c.next();
                set = set.union(&PortSet::single(p));
            }
            set
        }
        "neq" => PortSet::single(port(c)?).complement(),
        "lt" => {
            let p = port(c)?;
            if p == 0 {
                PortSet::default()
            } else {
                PortSet::range(0, p - 1)
            }
        }
        "gt" => {
            let p = port(c)?;
            if p == u16::MAX {
                PortSet::default()
            } else {
                PortSet::range(p + 1, u16::MAX)
            }
        }
        _ => {
            let (a, b) = (port(c)?, port(c)?);
            if a > b {
                return Err(c.err_prev("a port range must run from low to high"));
            }
            PortSet::range(a, b)
        }
    };
    Ok(Some(set))
}

fn port_value(p: &str, udp: bool) -> Option<u16> {
    if p.bytes().all(|c| c.is_ascii_digit()) {
        decimal(p).map_or_else(|| p.parse().ok(), |n| u16::try_from(n).ok())
    } else if p.starts_with(|c: char| c.is_ascii_digit()) {
        // No port name starts with a digit (tested): an address after an
        // `eq` list, not worth a search of the table.
        None
    } else {
        port_name(p, udp)
    }
}

/// An ICMP type (and code) after the addresses, if one follows.
fn icmp_match(c: &mut Cursor, family: Family) -> Result<Option<(u8, Option<u8>)>, DeviceError> {
    let Some(w) = c.peek() else {
        return Ok(None);
    };
    if w.chars().all(|ch| ch.is_ascii_digit()) {
        c.next();
        let ty: u8 = w
            .parse()
            .map_err(|_| c.err_prev(format!("ICMP type `{w}` is not 0-255")))?;
        let code = match c.peek().filter(|w| w.chars().all(|ch| ch.is_ascii_digit())) {
            Some(code) => {
                c.next();
                Some(
                    code.parse()
                        .map_err(|_| c.err_prev(format!("ICMP code `{code}` is not 0-255")))?,
                )
            }
            None => None,
        };
        return Ok(Some((ty, code)));
    }
    if is_option(w) || matches!(w, "sequence") {
        return Ok(None);
    }
    c.next();
    let name = icmp_name(w, family).ok_or_else(|| {
        c.err_prev(format!(
            "unknown {} message keyword `{w}`",
            if family == Family::V4 {
                "ICMP"
            } else {
                "ICMPv6"
            }
        ))
    })?;
    Ok(Some((name.ty, name.code)))
}

/// The service of an entry of one protocol (`None`: it never matches a
/// new flow).
fn protocol_piece(
    number: u8,
    family: Family,
    sport: Option<&PortSet>,
    dport: Option<PortSet>,
    icmp: Option<(u8, Option<u8>)>,
) -> Option<Piece> {
    let mut service = ServiceSet::default();
    let mut undecidable = None;
    let ports = dport.unwrap_or_else(PortSet::full);
    match (number, family) {
        (proto::TCP, _) => service.tcp = ports,
        (proto::UDP, _) => service.udp = ports,
        (proto::ICMP, Family::V4) | (proto::ICMPV6, Family::V6) => {
            let types = match icmp {
                None => ByteSet::full(),
                Some((ty, code)) => {
                    if let Some(code) = code {
                        undecidable = Some(format!(
                            "ICMP type {ty} code {code}: the packet model has no ICMP codes"
                        ));
                    }
                    ByteSet::single(ty)
                }
            };
            match family {
                Family::V4 => service.icmp4 = types,
                Family::V6 => service.icmp6 = types,
            }
        }
        // ICMP of the other family: no packet of this ACL's family is one.
        (proto::ICMP | proto::ICMPV6, _) => return None,
        (n, _) => service.protocols = ByteSet::single(n),
    }
    if let Some(s) = sport {
        match source_ports(s) {
            SourcePorts::Always => {}
            SourcePorts::Never => return None,
            SourcePorts::Sometimes => {
                let why = "a source port match some client ports meet".to_string();
                undecidable = Some(match undecidable {
                    Some(u) => format!("{u}; {why}"),
                    None => why,
                });
            }
        }
    }
    Some(Piece {
        service,
        undecidable,
    })
}

/// One member line of an `object-group service`.
fn service_member(line: &Line) -> Result<Piece, DeviceError> {
    let mut c = Cursor {
        line,
        words: &line.words,
        base: 0,
        at: 0,
    };
    let head = c.expect("a service member")?;
    let protocols: &[u8] = match head {
        "tcp" => &[proto::TCP],
        "udp" => &[proto::UDP],
        "tcp-udp" => &[proto::TCP, proto::UDP],
        "ip" => {
            if c.peek().is_some() {
                return Err(c.err("unexpected word after `ip`"));
            }
            return Ok(Piece {
                service: ServiceSet::any(),
                undecidable: None,
            });
        }
        n if n.chars().all(|ch| ch.is_ascii_digit()) => {
            let n: u8 = n
                .parse()
                .map_err(|_| c.err_prev("protocol number is not 0-255"))?;
            return end_of_member(c, protocol_piece(n, Family::V4, None, None, None));
        }
        n => match protocol_name(n, Family::V4) {
            Some(proto::ICMP) => {
                let icmp = icmp_match(&mut c, Family::V4)?;
                return end_of_member(c, protocol_piece(proto::ICMP, Family::V4, None, None, icmp));
            }
            Some(n) => return end_of_member(c, protocol_piece(n, Family::V4, None, None, None)),
            None => {
                return Err(c.err_prev(format!(
                    "unknown service member `{n}` (expected tcp, udp, tcp-udp, icmp, ip, a \
                     protocol keyword or number, group-object, description)"
                )));
            }
        },
    };
    let mut sport = None;
    if c.peek() == Some("source") {
        c.next();
        sport = ports(&mut c, protocols == [proto::UDP])?;
        if sport.is_none() {
            return Err(c.err("expected a port operator after `source`"));
        }
    }
    let dport = ports(&mut c, protocols == [proto::UDP])?;
    if protocols.len() == 2 {
        // A port name must name the port for both protocols.
        let again = |udp| {
            let mut c2 = Cursor {
                line,
                words: &line.words,
                base: 0,
                at: 1,
            };
            if c2.peek() == Some("source") {
                c2.next();
                ports(&mut c2, udp)?;
            }
            ports(&mut c2, udp)
        };
        if again(true)? != dport {
            return Err(c.err("a port name of `tcp-udp` must name the same port for TCP and UDP"));
        }
    }
    let mut piece: Option<Piece> = None;
    for &p in protocols {
        if let Some(part) = protocol_piece(p, Family::V4, sport.as_ref(), dport.clone(), None) {
            piece = Some(match piece {
                None => part,
                Some(mut acc) => {
                    acc.service = acc.service.union(&part.service);
                    acc
                }
            });
        }
    }
    end_of_member(c, piece)
}

fn end_of_member(c: Cursor, piece: Option<Piece>) -> Result<Piece, DeviceError> {
    if let Some(w) = c.peek() {
        return Err(c.err(format!("unexpected `{w}` in a service member")));
    }
    // A member that never matches a new flow matches nothing.
    Ok(piece.unwrap_or(Piece {
        service: ServiceSet::default(),
        undecidable: None,
    }))
}

fn v4_addr(line: &Line, word: usize, a: &str) -> Result<Ipv4Addr, DeviceError> {
    ipv4(a).ok_or_else(|| line.err_at(word, format!("`{a}` is not an IPv4 address")))
}

fn v6_addr(line: &Line, word: usize, a: &str) -> Result<Ipv6Addr, DeviceError> {
    a.parse()
        .map_err(|_| line.err_at(word, format!("`{a}` is not an IPv6 address")))
}

fn v6_prefix(line: &Line, word: usize, p: &str) -> Result<Ipv6Net, DeviceError> {
    p.parse::<Ipv6Net>()
        .map(|n| n.trunc())
        .map_err(|_| line.err_at(word, format!("`{p}` is not an IPv6 prefix X::/len")))
}

/// The object groups of a `show running-config` as the ACLs resolve them,
/// in the order the file defines them, for `import`
/// ([`super::cisco_inventory`] adds their descriptions and the places):
/// network groups with their own addresses and nested groups, and the
/// service groups whose members are all decided, with their union.
pub(crate) type ObjectGroups = (
    Vec<(String, AddrSet, Vec<String>)>,
    Vec<(String, ServiceSet)>,
);

pub(crate) fn object_groups(text: &str) -> Result<ObjectGroups, DeviceError> {
    let mut config = Running::default();
    config.run(text)?;
    let mut networks: Vec<(usize, String, AddrSet, Vec<String>)> = config
        .networks
        .iter()
        .map(|(name, g)| {
            let members = g.members.iter().map(|(m, _, _)| m.clone()).collect();
            (g.line, name.clone(), g.addrs.clone(), members)
        })
        .collect();
    networks.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut services = Vec::new();
    let mut groups: Vec<(&String, &ServiceGroup)> = config.services.iter().collect();
    groups.sort_by_key(|(name, g)| (g.line, name.as_str()));
    for (name, g) in groups {
        let pieces = config.service(name, (g.line, 1))?;
        if pieces.iter().any(|p| p.undecidable.is_some()) {
            continue;
        }
        let set = pieces
            .iter()
            .fold(ServiceSet::default(), |acc, p| acc.union(&p.service));
        services.push((name.clone(), set));
    }
    Ok((
        networks.into_iter().map(|(_, n, a, m)| (n, a, m)).collect(),
        services,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Packet;

    fn dev(text: &str) -> Device {
        read(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(text: &str) -> DeviceError {
        read(text).expect_err("the reader must refuse this")
    }

    /// The action and deciding line for a packet entering `Vlan10` and
    /// leaving `Vlan20`, and how many undecidable entries it met.
    fn at(d: &Device, src: &str, dst: &str, proto: &str) -> (Action, usize, usize) {
        let p = Packet::parse(src, dst, proto).unwrap();
        let o = d.decide(&p, Some("Vlan10"), Some("Vlan20"));
        let line = o.steps.last().map_or(usize::MAX, |s| s.1.origin.line);
        (o.action, line, o.undecided.len())
    }

    fn acl(entries: &str) -> String {
        format!(
            "interface Vlan10\n ip access-group A in\n!\nip access-list extended A\n{entries}end\n"
        )
    }

    #[test]
    fn a_non_contiguous_wildcard_is_exact() {
        let d = dev(&acl(" 10 permit ip any 10.20.0.0 0.0.254.255\n"));
        assert_eq!(
            at(&d, "1.1.1.1", "10.20.8.1", "tcp/1"),
            (Action::Allow, 5, 0)
        );
        assert_eq!(
            at(&d, "1.1.1.1", "10.20.9.1", "tcp/1"),
            (Action::Deny, 0, 0)
        );
        assert_eq!(
            at(&d, "1.1.1.1", "10.21.8.1", "tcp/1"),
            (Action::Deny, 0, 0)
        );
        // Host bits under the wildcard are ignored, as IOS stores it.
        let d = dev(&acl(" 10 permit ip any 10.1.1.7 0.0.0.255\n"));
        assert_eq!(at(&d, "1.1.1.1", "10.1.1.200", "udp/9").0, Action::Allow);
        // A wildcard of more than 2^16 ranges is undecidable over its hull.
        let d = dev(&acl(" 10 permit ip any 0.0.0.0 234.170.170.170\n"));
        assert_eq!(at(&d, "1.1.1.1", "0.0.0.1", "tcp/1"), (Action::Deny, 0, 1));
    }

    #[test]
    fn matches_a_new_flow_never_meets_are_dropped() {
        let d = dev(&acl(
            " 10 permit tcp any any established\n 20 permit tcp any any ack\n 30 permit ip any any fragments\n 40 permit udp any eq domain any\n 50 permit tcp any any match-all +ack +syn\n 60 permit tcp any any match-any +syn +ack log\n",
        ));
        assert_eq!(
            at(&d, "1.1.1.1", "2.2.2.2", "tcp/80"),
            (Action::Allow, 10, 0)
        );
        assert_eq!(at(&d, "1.1.1.1", "2.2.2.2", "udp/80"), (Action::Deny, 0, 0));
    }

    #[test]
    fn port_operators_and_names() {
        let d = dev(&acl(
            " 10 permit tcp any any neq telnet\n 20 permit udp any any lt 10\n 30 permit udp any any gt 65534\n 40 permit udp any any range bootps tftp\n",
        ));
        assert_eq!(at(&d, "1.1.1.1", "2.2.2.2", "tcp/22").1, 5);
        assert_eq!(at(&d, "1.1.1.1", "2.2.2.2", "tcp/23").0, Action::Deny);
        assert_eq!(at(&d, "1.1.1.1", "2.2.2.2", "udp/9").1, 6);
        assert_eq!(at(&d, "1.1.1.1", "2.2.2.2", "udp/10").1, 0);
        assert_eq!(at(&d, "1.1.1.1", "2.2.2.2", "udp/65535").1, 7);
        assert_eq!(at(&d, "1.1.1.1", "2.2.2.2", "udp/68").1, 8);
        assert_eq!(at(&d, "1.1.1.1", "2.2.2.2", "udp/70").1, 0);
        // A TCP name is no UDP name.
        let e = err(&acl(" 10 permit udp any any eq www\n"));
        assert_eq!((e.line, e.column), (5, 27), "{e}");
        // A source port some client ports meet is undecidable.
        let d = dev(&acl(" 10 permit udp any gt 40000 any\n"));
        assert_eq!(at(&d, "1.1.1.1", "2.2.2.2", "udp/53"), (Action::Deny, 0, 1));
        let d = dev(&acl(" 10 permit udp any range 0 65535 any\n"));
        assert_eq!(
            at(&d, "1.1.1.1", "2.2.2.2", "udp/53"),
            (Action::Allow, 5, 0)
        );
    }

    #[test]
    fn undecidable_matches_are_listed_not_guessed() {
        for option in [
            "dscp ef",
            "precedence 5",
            "tos 4",
            "ttl gt 3",
            "time-range WORK",
            "option record-route",
        ] {
            let d = dev(&acl(&format!(" 10 permit tcp any any eq 443 {option}\n")));
            assert_eq!(
                at(&d, "1.1.1.1", "2.2.2.2", "tcp/443"),
                (Action::Deny, 0, 1),
                "{option}"
            );
        }
        let d = dev(&acl(
            " 10 dynamic TESTLIST timeout 10 permit ip any any\n 20 evaluate REFLECTED\n 30 permit icmp any any port-unreachable\n",
        ));
        let p = Packet::parse("1.1.1.1", "2.2.2.2", "icmp/3").unwrap();
        let o = d.decide(&p, Some("Vlan10"), None);
        assert_eq!((o.action, o.undecided.len()), (Action::Deny, 3));
        assert!(
            o.undecided[0]
                .undecidable
                .as_deref()
                .unwrap()
                .contains("lock-and-key")
        );
        assert!(
            o.undecided[1]
                .undecidable
                .as_deref()
                .unwrap()
                .contains("reflexive")
        );
        assert!(
            o.undecided[2]
                .undecidable
                .as_deref()
                .unwrap()
                .contains("code 3")
        );
        // `reflect` only adds return entries: the permit is exact.
        let d = dev(&acl(" 10 permit tcp any any reflect OUT timeout 300\n"));
        assert_eq!(at(&d, "1.1.1.1", "2.2.2.2", "tcp/1"), (Action::Allow, 5, 0));
    }

    #[test]
    fn a_service_group_splits_into_decided_and_undecidable_members() {
        let d = dev(&format!(
            "object-group service S\n tcp eq 443\n udp source range 1000 2000 eq 53\n udp source eq 53\n icmp echo\n!\n{}",
            acl(" 10 permit object-group S any any\n")
        ));
        assert_eq!(
            at(&d, "1.1.1.1", "2.2.2.2", "tcp/443"),
            (Action::Allow, 11, 0)
        );
        assert_eq!(
            at(&d, "1.1.1.1", "2.2.2.2", "icmp/8"),
            (Action::Allow, 11, 0)
        );
        assert_eq!(at(&d, "1.1.1.1", "2.2.2.2", "udp/53"), (Action::Deny, 0, 1));
        assert_eq!(at(&d, "1.1.1.1", "2.2.2.2", "udp/54"), (Action::Deny, 0, 0));
    }

    #[test]
    fn sequence_numbers_order_entries_as_ios_does() {
        // Entry 15 goes before 20 whatever the file order; an unnumbered
        // entry takes the highest + 10.
        let d = dev(&acl(
            " 20 deny tcp any any\n 15 permit tcp any any eq 22\n permit tcp any any\n",
        ));
        assert_eq!(
            at(&d, "1.1.1.1", "2.2.2.2", "tcp/22"),
            (Action::Allow, 6, 0)
        );
        assert_eq!(at(&d, "1.1.1.1", "2.2.2.2", "tcp/23"), (Action::Deny, 5, 0));
        let e = err(&acl(" 10 permit tcp any any\n 10 deny ip any any\n"));
        assert_eq!(e.line, 6, "{e}");
        // IPv6: `sequence N` first or last, remarks take numbers too.
        let d = dev(
            "interface Vlan10\n ipv6 traffic-filter B in\nipv6 access-list B\n remark first\n sequence 5 deny tcp any any eq 22\n permit tcp any any sequence 30\n permit udp any any\nend\n",
        );
        let p = |proto| Packet::parse("FD00::1", "FD00::2", proto).unwrap();
        let line = |proto| {
            d.decide(&p(proto), Some("Vlan10"), None).steps[0]
                .1
                .origin
                .line
        };
        assert_eq!((line("tcp/22"), line("tcp/23"), line("udp/1")), (5, 6, 7));
    }

    #[test]
    fn rule_names_come_from_wardwalls_remarks() {
        let d = dev(&acl(
            " 10 remark ping-infrastructure: allow\n 20 remark Internal hosts may ping\n 30 permit icmp any any echo\n 40 remark default: deny everything else\n 50 deny ip any any log\n",
        ));
        let rule = |proto| {
            let p = Packet::parse("1.1.1.1", "2.2.2.2", proto).unwrap();
            d.decide(&p, Some("Vlan10"), None).steps[0]
                .1
                .origin
                .rule
                .clone()
        };
        assert_eq!(rule("icmp/8").as_deref(), Some("ping-infrastructure"));
        assert_eq!(rule("tcp/1").as_deref(), Some("default"));
    }

    #[test]
    fn undefined_empty_and_shut_down() {
        // Applied but not defined: IOS passes everything, at the binding.
        let d = dev("interface Vlan10\n ip access-group NOPE in\nend\n");
        let o = at(&d, "1.1.1.1", "2.2.2.2", "tcp/1");
        assert_eq!((o.0, o.1), (Action::Allow, 2));
        // An empty IPv6 ACL passes everything; an empty IPv4 one is undecidable.
        let d = dev(
            "interface Vlan10\n ip access-group A in\n ipv6 traffic-filter A in\nip access-list extended A\n remark nothing yet\nipv6 access-list A\nend\n",
        );
        assert_eq!(at(&d, "1.1.1.1", "2.2.2.2", "tcp/1"), (Action::Deny, 0, 1));
        assert_eq!(at(&d, "FD00::1", "FD00::2", "tcp/1"), (Action::Allow, 0, 0));
        // Deleted ACLs and bindings; a later binding replaces an earlier one.
        let d = dev(
            "ip access-list extended A\n permit ip any any\nno ip access-list extended A\ninterface Vlan10\n ip access-group B in\n ip access-group A in\nend\n",
        );
        assert_eq!(at(&d, "1.1.1.1", "2.2.2.2", "tcp/1"), (Action::Allow, 6, 0));
        // A shut-down interface forwards nothing, both ways, both families.
        let d = dev("interface Vlan20\n shutdown\ninterface Vlan10\nend\n");
        assert_eq!(at(&d, "FD00::1", "FD00::2", "udp/1"), (Action::Deny, 2, 0));
        let d = dev("interface Vlan20\n shutdown\n no shutdown\ninterface Vlan10\nend\n");
        assert_eq!(at(&d, "FD00::1", "FD00::2", "udp/1").0, Action::Allow);
    }

    #[test]
    fn numbered_and_standard_acls() {
        let d = dev(
            "interface Vlan10\n ip access-group 10 in\n!\naccess-list 10 remark only the ward\naccess-list 10 deny   host 10.0.0.9 log\naccess-list 10 permit 10.0.0.0 0.0.0.255\naccess-list 10 permit 10.0.1.1\nend\n",
        );
        assert_eq!(at(&d, "10.0.0.9", "2.2.2.2", "tcp/1"), (Action::Deny, 5, 0));
        assert_eq!(
            at(&d, "10.0.0.8", "2.2.2.2", "udp/1"),
            (Action::Allow, 6, 0)
        );
        assert_eq!(
            at(&d, "10.0.1.1", "2.2.2.2", "udp/1"),
            (Action::Allow, 7, 0)
        );
        assert_eq!(at(&d, "10.0.1.2", "2.2.2.2", "udp/1"), (Action::Deny, 0, 0));
        let e = err("access-list 300 permit any\n");
        assert_eq!((e.line, e.column), (1, 13), "{e}");
        let e = err("ip access-list standard A\nip access-list extended A\n");
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn nested_groups_and_errors_in_them() {
        let d = dev(&format!(
            "object-group network IN\n 10.0.0.0 /24\n range 10.0.1.1 10.0.1.2\nobject-group network OUT\n group-object IN\n host 10.9.9.9\n{}",
            acl(" 10 permit ip object-group OUT any\n")
        ));
        for (src, want) in [
            ("10.0.0.200", Action::Allow),
            ("10.0.1.2", Action::Allow),
            ("10.0.1.3", Action::Deny),
            ("10.9.9.9", Action::Allow),
        ] {
            assert_eq!(at(&d, src, "1.1.1.1", "tcp/1").0, want, "{src}");
        }
        let e = err(&acl(" 10 permit ip object-group NOPE any\n"));
        assert_eq!((e.line, e.column), (5, 28), "{e}");
        let e = err(
            "object-group network L\n group-object L\nend\ninterface Vlan10\n ip access-group A in\nip access-list extended A\n permit ip object-group L any\n",
        );
        assert!(e.message.contains("contains itself"), "{e}");
    }

    #[test]
    fn what_is_not_understood_is_an_error_with_its_place() {
        for (text, line, column, says) in [
            ("hostname r1\nfrobnicate now\n", 2, 1, "unknown command"),
            ("zone security INSIDE\n", 1, 1, "zone-based firewall"),
            ("vlan filter MAP vlan-list 10\n", 1, 1, "VLAN access maps"),
            (
                "interface Vlan10\n ip verify unicast source reachable-via rx\n",
                2,
                2,
                "unicast RPF",
            ),
            (
                "ip access-list extended A\n permit ip addrgroup X any\n",
                2,
                12,
                "not IOS-XE",
            ),
            (
                "ip access-list extended A\n permit ip any4 any\n",
                2,
                12,
                "not IOS-XE",
            ),
            (
                "ip access-list extended A\n permit tcp any any eq 80 bogus\n",
                2,
                27,
                "unexpected `bogus`",
            ),
            (
                "ip access-list extended A\n permit icmp any any echo-request\n",
                2,
                22,
                "unknown ICMP",
            ),
            (
                "ipv6 access-list A\n permit icmp any any echo\n",
                2,
                22,
                "unknown ICMPv6",
            ),
            (
                "interface Vlan10\n ip access-group A sideways\n",
                2,
                20,
                "`in` or `out`",
            ),
            ("  permit ip any any\n", 1, 3, "outside any block"),
            (
                "ip access-list extended A\n permit ip 10.0.0.1 any\n",
                2,
                21,
                "wildcard",
            ),
            ("banner motd ^C\nnever closed\n", 0, 0, "banner"),
            // Columns count characters, across runs of spaces, tabs and
            // words that are not ASCII.
            (
                "ip access-list extended A\n permit tcp any  any eq 80 bogus\n",
                2,
                28,
                "unexpected `bogus`",
            ),
            (
                "ip access-list extended A\n permit\ttcp any \t any eq 80 bogus\n",
                2,
                29,
                "unexpected `bogus`",
            ),
            (
                "interface Vlan10\n ip access-group \u{e9} sideways\n",
                2,
                20,
                "`in` or `out`",
            ),
        ] {
            let e = err(text);
            assert_eq!((e.line, e.column), (line, column), "{text}: {e}");
            assert!(e.message.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn banners_and_skipped_parts() {
        let d = dev(
            "banner motd ^C\nip access-list extended X\n ^C\nbanner login #one-line#\nip route 0.0.0.0 0.0.0.0 1.1.1.1\nip nat inside source static 10.0.0.1 1.1.1.1\nip nat inside source static 10.0.0.2 1.1.1.2\nno ip http server\nend\n",
        );
        assert_eq!(
            d.skipped,
            [
                "banners (2 banners)",
                "static routes (1 route)",
                "NAT (2 rules)"
            ]
        );
        assert!(d.layers.iter().all(|l| l.filters.is_empty()));
    }

    /// Of undefined groups in several ACLs, the error names the one first
    /// in the file, whatever order the reader's maps give the ACLs in.
    #[test]
    fn of_errors_in_several_acls_the_first_in_the_file_is_reported() {
        let mut text = String::new();
        for i in 0..8 {
            text.push_str(&format!(
                "ip access-list extended A{i}\n 10 permit ip object-group MISSING{i} any\n"
            ));
        }
        for _ in 0..20 {
            let e = err(&text);
            assert_eq!((e.line, e.column), (2, 28), "{e}");
            assert!(e.message.contains("MISSING0"), "{e}");
        }
    }

    /// The line reader's fast path reads each line as the general one
    /// does (words, columns, indentation, text, numbers), and cuts the
    /// text into the same lines as `split('\n')`.
    #[test]
    fn the_fast_line_reader_reads_as_the_general_one() {
        let lines = [
            "",
            " ",
            "        ",
            "!",
            "a",
            "ab cd",
            "1234567",
            "12345678",
            "123456789",
            " 10 permit tcp host 10.0.0.1 eq 80 any   ",
            "  two  spaces  between  words  here",
            "remark trailing\r",
            "x\ry",
            "crlf at the end\r\r",
            "\tindented by a tab",
            " tab\tinside",
            "caf\u{e9} au lait",
            " \u{3000}ideographic space",
            "del \u{7f} byte",
            "0123456789abcdef0123456789abcdef",
        ];
        let mut texts = Vec::new();
        for a in lines {
            for b in lines {
                texts.push(format!("{a}\n{b}"));
                texts.push(format!("{a}\n{b}\n"));
                texts.push(format!("{a}\r\n{b}\r\n"));
            }
        }
        for text in &texts {
            let mut reader = LineReader {
                text,
                start: 0,
                number: 0,
            };
            let mut fast = Line::default();
            let mut general = Line::default();
            let mut cut = text.split('\n').enumerate();
            while reader.next(&mut fast) {
                let (i, raw) = cut.next().expect("no more lines than split");
                general.read(i + 1, raw);
                let words = |l: &Line| -> Vec<(String, usize)> {
                    (0..l.words.len())
                        .map(|i| (l.words[i].to_string(), l.word_column(i).expect("a word")))
                        .collect()
                };
                assert_eq!(
                    (
                        fast.number,
                        fast.indent,
                        fast.text,
                        words(&fast),
                        fast.texts()
                    ),
                    (
                        general.number,
                        general.indent,
                        general.text,
                        words(&general),
                        general.texts()
                    ),
                    "{text:?}"
                );
            }
            assert!(cut.next().is_none(), "{text:?}");
        }
    }

    #[test]
    fn addresses_and_numbers_read_as_std_reads_them() {
        for a in [
            "0.0.0.0",
            "10.1.2.3",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "1.2.3.4 ",
            "+1.2.3.4",
            "1.2.3.0004",
            "1234.1.1.1",
            "1.2.3.4444",
            "99999999999.1.1.1",
            "0.00.0.0",
            "300.1.1.1",
            "1.256.1.1",
            "1.1.1.999",
            "1.1.1.",
            ".1.1.1",
            "1.1.1.1.",
            "00.1.1.1",
            "0.0.0.10",
            "100.200.250.255",
            "",
            "a.b.c.d",
        ] {
            assert_eq!(ipv4(a), a.parse().ok(), "{a}");
        }
        for n in [
            "0",
            "7",
            "080",
            "10.1.2.3",
            "1a2",
            "0x10",
            "www",
            "65535",
            "65536",
            "999999999",
            "4294967295",
            "4294967296",
            "+5",
            "",
            "1a",
        ] {
            assert_eq!(
                decimal(n).or_else(|| n.parse().ok()),
                n.parse::<u32>().ok(),
                "{n}"
            );
            assert_eq!(
                port_value(n, false),
                if n.bytes().all(|b| b.is_ascii_digit()) {
                    n.parse::<u16>().ok()
                } else {
                    port_name(n, false)
                },
                "{n}"
            );
        }
    }
}
