//! Reads a full pfSense `config.xml` backup (Diagnostics → Backup & Restore,
//! "Download configuration as XML") into the device model: what pf, loaded
//! by pfSense's `filter.inc` from that configuration, decides for forwarded
//! traffic.
//!
//! # What is read
//!
//! - `<interfaces>`: every interface key (`wan`, `lan`, `optN`) is a place;
//!   an interface without `<enable/>` forwards nothing. Static addresses
//!   give the interface subnets `<network>lan</network>` stands for; DHCP,
//!   PPPoE, `track6`, SLAAC... addresses are learnt at run time, so a rule
//!   using such a subnet is undecidable.
//! - `<ifgroups>`: interface group rules apply to every member.
//! - `<aliases>`: `host` and `network` aliases (addresses, CIDRs, ranges,
//!   nested aliases), `port` aliases (`N`, `A:B`, nested). FQDN entries and
//!   `url`/`urltable` aliases are resolved at run time: undecidable.
//! - `<filter><rule>`: pass/block/reject, floating (quick and non-quick,
//!   direction in/out/any, interface lists), interface-group and
//!   interface rules, families, protocols, ICMP types, addresses with
//!   `<not/>`, `<network>` specials, ports, TCP flags (decided for a SYN),
//!   `<disabled/>`, `<log/>`.
//! - `<system>` settings that change the rule set: `ipv6allow`,
//!   `disablefilter`, `no_apipa_block`, `skip_rules_gw_down`; `<syslog>`
//!   settings that change the log flag of system rules; `<virtualip>`
//!   (interface networks include their VIP subnets), `<bridges>` (no
//!   private-network block on bridge members), `<schedules>`,
//!   `<captiveportal>`, `<installedpackages>` (Snort/Suricata fill the
//!   `snort2c` table).
//!
//! # Semantics
//!
//! pf evaluates every rule; a `quick` rule that matches ends the
//! evaluation, otherwise the *last* matching rule decides (pf.conf(5)).
//! pfSense writes its ruleset (filter.inc `filter_rules_generate`, read at
//! github.com/pfsense/pfsense commit 9985ed7, src/etc/inc/filter.inc) as:
//! system rules (the `Block all IPv6` rules without `ipv6allow`, the IPv4
//! link-local blocks, the non-quick default deny, the quick ICMPv6 passes,
//! the port 0 blocks, `snort2c`, `virusprot`, per interface the bogon and
//! private-network blocks), then the user rules: floating rules, then
//! interface-group (and OpenVPN/IPsec/PPPoE...) rules, then interface rules,
//! each class in configuration order ("NB: The order must be: Floating
//! rules, then interface group and then regular ones"). Interface and group
//! rules are always `in quick`; floating rules are quick only with
//! `<quick>` (docs.netgate.com/pfsense/en/latest/firewall/floating-rules.html,
//! .../firewall/firewall-rule-processing-order.html).
//!
//! So, per interface a packet enters by, the first-match list is: every
//! quick rule that applies there, in ruleset order, then the non-quick ones
//! in *reverse* order, then the default deny (layer `inbound`). pfSense
//! filters the way out too: its non-quick `pass out all` ("let out
//! anything") passes what no later floating rule with direction `out` or
//! `any` decides (layer `outbound`, per egress interface).
//!
//! Left out because they match no forwarded packet: rules to or from the
//! firewall itself (`(self)`, `lanip`, the anti-lockout rule, sshguard,
//! DHCP/DHCPv6 client and server rules, whose source ports are all below
//! 1024 or link-local), loopback rules. The anti-spoofing rules
//! (`spoofcheck`) are non-quick blocks placed before every user rule: any
//! packet they match and no later rule does is blocked by the default deny
//! as well, so they change no verdict and are not modelled.
//!
//! # Undecidable
//!
//! FQDN alias entries, URL-table aliases, dynamic interface subnets,
//! schedules, `tagged`, OS fingerprints, DSCP and VLAN-priority matches,
//! state and connection limits (`max-src-*`), source ports that only some
//! client ports meet, SCTP ports, the bogon tables (downloaded), the
//! `snort2c`/`virusprot` tables when something fills them, captive portal
//! zones, and policy-routed rules under "skip rules when gateway is down".
//!
//! # Skipped and listed
//!
//! NAT (port forwards, outbound, 1:1, NPt), VPNs (OpenVPN, IPsec), routes
//! and gateways, DHCP, DNS, users and groups, packages, syslog and the
//! other service and management sections; disabled rules, floating `match`
//! rules, rules to or from the firewall, and rules pfSense does not load
//! (an unresolvable alias, an interface it does not have).
//!
//! # Refused
//!
//! Anything else: a section, rule field or value this reader does not
//! know, a rule type other than pass/block/reject/match (filter.inc would
//! load it as *pass*), an address of the wrong family for its rule (pfctl
//! refuses the whole ruleset), PPTP/6rd/6to4 interfaces, static-route
//! filter bypass.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

use crate::addrset::{AddrSet, ByteSet, PortSet};
use crate::read::device::{
    Decision, Device, DeviceError, Entry, Filter, Guard, Layer, Origin, PlaceSet, SourcePorts,
    source_ports,
};
use crate::read::export::inventory::DisabledRule;
use crate::read::export::{Known, line_col};
use crate::read::pfsense::{PROTOCOLS, icmp_number, rule_name};
use crate::read::xml::{Document, Node};
use crate::vocab::{Action, Family, ServiceSet, Target};

/// Reads a pfSense `config.xml` backup into the device model.
pub fn read(text: &str) -> Result<Device, DeviceError> {
    let doc = parse_document(text)?;
    let root = doc.root_element();
    if !root.has_tag_name("pfsense") {
        return Err(err_at(
            text,
            root,
            format!(
                "expected a pfSense configuration (<pfsense>), found <{}>",
                root.name()
            ),
        ));
    }
    let config = Config::read(text, root)?;
    config.device()
}

/// Each disabled `<rule>` of a pfSense `config.xml` with the device this
/// reader reads when that one rule is enabled (`import` writes it as a
/// commented-out rule where it stands; [`read`] is unchanged).
pub(crate) fn disabled_rules(text: &str) -> Result<Vec<DisabledRule>, DeviceError> {
    let doc = parse_document(text)?;
    let root = doc.root_element();
    let config = Config::read(text, root)?;
    let mut out = Vec::new();
    for r in config.rules.iter().filter(|r| flag(**r, "disabled")) {
        let fields = rule_fields(*r);
        let (line, column) = config.lines.at(text, r.start());
        let enabled = Config::read(text, root).and_then(|mut c| {
            c.enabling = Some(r.start());
            c.virusprot = c.fills_virusprot();
            c.device()
        });
        out.push(DisabledRule {
            line,
            column,
            text: rule_text(&fields),
            enabled,
        });
    }
    Ok(out)
}

// ------------------------------------------------------------------ helpers

fn parse_document(text: &str) -> Result<Document<'_>, DeviceError> {
    Document::parse(text)
        .map_err(|e| DeviceError::at(e.line, e.column, format!("not XML: {}", e.message)))
}

fn err_at(text: &str, node: Node<'_, '_>, message: impl Into<String>) -> DeviceError {
    let (line, column) = line_col(text, node.start());
    DeviceError::at(line, column, message)
}

fn child<'a, 'i>(node: Node<'a, 'i>, tag: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|c| c.has_tag_name(tag))
}

fn elements<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
}

/// A field's text, trimmed as pfSense's xmlparse.inc trims it.
fn field(node: Node<'_, '_>, tag: &str) -> Option<String> {
    child(node, tag).map(|c| c.text().to_string())
}

/// A field that is present and not empty (PHP's `!empty()`).
fn nonempty(node: Node<'_, '_>, tag: &str) -> Option<String> {
    nonempty_str(node, tag).map(str::to_string)
}

/// [`nonempty`], borrowed from the document.
fn nonempty_str<'a>(node: Node<'a, '_>, tag: &str) -> Option<&'a str> {
    child(node, tag).map(|c| c.text()).filter(|s| !s.is_empty())
}

/// pfSense's flags are presence tests (`isset`): `<log/>`, even
/// `<disabled>no</disabled>`, are set.
fn flag(node: Node<'_, '_>, tag: &str) -> bool {
    child(node, tag).is_some()
}

/// pfSense's questions of a [`Known`] element's fields.
impl<'a, 'i, const N: usize> Known<'a, 'i, N> {
    /// [`field`], borrowed.
    fn field(&self, k: impl Into<usize>) -> Option<&'a str> {
        self.found[k.into()].map(|c| c.text())
    }

    /// [`nonempty_str`].
    fn nonempty(&self, k: impl Into<usize>) -> Option<&'a str> {
        self.field(k).filter(|s| !s.is_empty())
    }

    /// [`flag`].
    fn flag(&self, k: impl Into<usize>) -> bool {
        self.found[k.into()].is_some()
    }
}

/// What the configuration holds that decides no forwarded traffic, one
/// item per kind with a count, in the order first met.
#[derive(Default)]
struct Skips {
    items: Vec<(String, usize, &'static str, &'static str)>,
}

impl Skips {
    fn add(&mut self, kind: &str, n: usize, one: &'static str, many: &'static str) {
        if n == 0 {
            return;
        }
        match self.items.iter_mut().find(|i| i.0 == kind) {
            Some(item) => item.1 += n,
            None => self.items.push((kind.to_string(), n, one, many)),
        }
    }

    fn list(&self) -> Vec<String> {
        self.items
            .iter()
            .map(|(kind, n, one, many)| {
                format!("{kind} ({n} {})", if *n == 1 { one } else { many })
            })
            .collect()
    }
}

// ------------------------------------------------------------------ interfaces

/// How an interface gets its address of one family.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Addressing {
    /// No address of this family.
    None,
    /// A static address with its prefix length (`192.168.1.1/24`).
    Static(IpNet),
    /// Learnt at run time (`dhcp`, `pppoe`, `track6`, `slaac`...).
    Dynamic(String),
}

#[derive(Clone, Debug)]
struct Interface {
    key: String,
    enabled: bool,
    /// The operating system's interface (`<if>`): `ovpns1` makes it a
    /// member of the `openvpn` group.
    device: String,
    v4: Addressing,
    v6: Addressing,
    blockpriv: bool,
    blockbogons: bool,
    line: usize,
    column: usize,
}

/// `<ipaddr>` values that are not addresses (interfaces_assign and
/// interfaces.php; src/etc/inc/interfaces.inc `interface_configure`).
const DYNAMIC_V4: &[&str] = &["dhcp", "pppoe", "pptp", "l2tp", "ppp"];
/// `<ipaddrv6>` values that are not addresses.
const DYNAMIC_V6: &[&str] = &["dhcp6", "slaac", "track6", "6rd", "6to4"];

fn read_addressing(
    text: &str,
    iface: Node<'_, '_>,
    addr_tag: &str,
    bits_tag: &str,
    dynamic: &[&str],
    v6: bool,
) -> Result<Addressing, DeviceError> {
    let Some(addr) = nonempty(iface, addr_tag) else {
        return Ok(Addressing::None);
    };
    if dynamic.contains(&addr.as_str()) {
        return Ok(Addressing::Dynamic(addr));
    }
    let node = child(iface, addr_tag).expect("present");
    let ip: IpAddr = addr.parse().map_err(|_| {
        err_at(
            text,
            node,
            format!(
                "<{addr_tag}> `{addr}`: expected an address or one of {}",
                dynamic.join(", ")
            ),
        )
    })?;
    if ip.is_ipv6() != v6 {
        return Err(err_at(
            text,
            node,
            format!("<{addr_tag}> `{addr}` is of the wrong family"),
        ));
    }
    let bits = nonempty(iface, bits_tag).unwrap_or_default();
    let net = bits
        .parse::<u8>()
        .ok()
        .and_then(|b| IpNet::new(ip, b).ok())
        .ok_or_else(|| {
            err_at(
                text,
                child(iface, bits_tag).unwrap_or(node),
                format!("<{bits_tag}> `{bits}`: expected the prefix length of {addr}"),
            )
        })?;
    Ok(Addressing::Static(net))
}

fn read_interfaces(text: &str, section: Node<'_, '_>) -> Result<Vec<Interface>, DeviceError> {
    let mut out = Vec::new();
    for iface in elements(section) {
        let key = iface.name().to_string();
        if !(key == "wan" || key == "lan" || key.strip_prefix("opt").is_some_and(is_number)) {
            return Err(err_at(
                text,
                iface,
                format!("interface key <{key}>: expected wan, lan or optN"),
            ));
        }
        let v4 = read_addressing(text, iface, "ipaddr", "subnet", DYNAMIC_V4, false)?;
        let v6 = read_addressing(text, iface, "ipaddrv6", "subnetv6", DYNAMIC_V6, true)?;
        let enabled = flag(iface, "enable");
        // filter.inc opens these with pass rules of their own for the
        // tunnel transport: refused rather than modelled halfway.
        for (fam, unsupported) in [(&v4, &["pptp"][..]), (&v6, &["6rd", "6to4"][..])] {
            if let Addressing::Dynamic(kind) = fam
                && unsupported.contains(&kind.as_str())
                && enabled
            {
                return Err(err_at(
                    text,
                    iface,
                    format!(
                        "interface {key} is configured as {kind}: the pass rules pfSense adds for it are not supported"
                    ),
                ));
            }
        }
        let (line, column) = line_col(text, iface.start());
        out.push(Interface {
            key,
            enabled,
            device: field(iface, "if").unwrap_or_default(),
            v4,
            v6,
            blockpriv: flag(iface, "blockpriv"),
            blockbogons: flag(iface, "blockbogons"),
            line,
            column,
        });
    }
    Ok(out)
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

// ------------------------------------------------------------------ aliases

#[derive(Clone, Debug)]
struct Alias<'a, 'i> {
    kind: &'a str,
    entries: Vec<&'a str>,
    node: Node<'a, 'i>,
    /// Being expanded (a cycle meets it again).
    expanding: std::cell::Cell<bool>,
    /// Its addresses once resolved: every rule naming it reads the same
    /// entries (only a success is kept).
    addresses: std::cell::OnceCell<Addresses>,
}

/// An address set as far as it is known offline.
#[derive(Clone, Debug)]
struct Addresses {
    set: AddrSet,
    /// Why the set is only partly known (the known part is `set`).
    undecidable: Option<String>,
}

impl Addresses {
    fn exact(set: AddrSet) -> Self {
        Self {
            set,
            undecidable: None,
        }
    }
}

/// Ports as far as they are known offline.
#[derive(Clone, Debug)]
struct Ports {
    set: PortSet,
    undecidable: Option<String>,
}

/// Alias types (firewall_aliases_edit.php; docs.netgate.com/pfsense/en/
/// latest/firewall/aliases.html).
const ADDRESS_ALIASES: &[&str] = &["host", "network"];
const URL_ADDRESS_ALIASES: &[&str] = &["url", "urltable"];
const PORT_ALIASES: &[&str] = &["port"];
const URL_PORT_ALIASES: &[&str] = &["url_ports", "urltable_ports"];

fn read_aliases<'a, 'i>(text: &str, section: Node<'a, 'i>) -> Result<Aliases<'a, 'i>, DeviceError> {
    let mut out = Aliases::default();
    for a in elements(section) {
        if !a.has_tag_name("alias") {
            return Err(err_at(
                text,
                a,
                format!("<{}> in <aliases>: expected <alias>", a.name()),
            ));
        }
        let name =
            nonempty_str(a, "name").ok_or_else(|| err_at(text, a, "an alias without a <name>"))?;
        let kind = nonempty_str(a, "type").unwrap_or_default();
        let known = [
            ADDRESS_ALIASES,
            URL_ADDRESS_ALIASES,
            PORT_ALIASES,
            URL_PORT_ALIASES,
        ]
        .iter()
        .any(|t| t.contains(&kind));
        if !known {
            return Err(err_at(
                text,
                a,
                format!(
                    "alias {name} has type `{kind}`: expected host, network, port, url, url_ports, urltable or urltable_ports"
                ),
            ));
        }
        let entries = child(a, "address")
            .map_or("", |c| c.text())
            .split_whitespace()
            .collect();
        if out
            .insert(
                name,
                Alias {
                    kind,
                    entries,
                    node: a,
                    expanding: Default::default(),
                    addresses: Default::default(),
                },
            )
            .is_some()
        {
            return Err(err_at(text, a, format!("alias {name} is defined twice")));
        }
    }
    Ok(out)
}

/// Aliases by name.
type Aliases<'a, 'i> = rustc_hash::FxHashMap<&'a str, Alias<'a, 'i>>;

/// One address-alias entry, outside aliases: an address, a CIDR (host bits
/// masked, as pf masks table entries), or a range `A-B`.
fn literal_addresses(entry: &str) -> Option<AddrSet> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(AddrSet::from_addr(ip));
    }
    if let Ok(net) = entry.parse::<IpNet>() {
        return Some(AddrSet::from_net(net.trunc()));
    }
    let (lo, hi) = entry.split_once('-')?;
    let (lo, hi): (IpAddr, IpAddr) = (lo.parse().ok()?, hi.parse().ok()?);
    if lo.is_ipv6() != hi.is_ipv6() || lo > hi {
        return None;
    }
    Some(AddrSet::from_range(lo, hi))
}

/// A host name as filterdns resolves it (letters, digits, `-`, `.`, `_`).
fn is_hostname(s: &str) -> bool {
    s.contains('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

/// Port-alias entries: `N`, `A:B`.
fn literal_ports(entry: &str) -> Option<PortSet> {
    let port = |s: &str| s.parse::<u16>().ok();
    match entry.split_once(':') {
        None => port(entry).map(PortSet::single),
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            (a <= b).then(|| PortSet::range(a, b))
        }
    }
}

// ------------------------------------------------------------------ config

/// The line and column of each rule, as `LineIndex::at` gives them, for
/// offsets met in document order (as the rules are): the line breaks
/// between one rule and the next are counted, rather than every line of
/// the file indexed first (a tenth of reading a 16 MB backup). An offset
/// before the last one is counted from the start.
struct Lines {
    /// The last offset, its line, and where that line starts.
    last: std::cell::Cell<(usize, usize, usize)>,
}

impl Lines {
    fn new() -> Self {
        Lines {
            last: std::cell::Cell::new((0, 1, 0)),
        }
    }

    fn at(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(text.len());
        let (mut from, mut line, mut start) = self.last.get();
        if offset < from {
            (from, line, start) = (0, 1, 0);
        }
        let between = &text.as_bytes()[from..offset];
        // memchr counts with vector instructions (a byte loop here cost
        // more than the index it replaces).
        line += memchr::memchr_iter(b'\n', between).count();
        if let Some(k) = memchr::memrchr(b'\n', between) {
            start = from + k + 1;
        }
        self.last.set((offset, line, start));
        (line, text[start..offset].chars().count() + 1)
    }
}

/// The parts of the configuration the filter depends on.
struct Config<'a, 'i> {
    text: &'i str,
    lines: Lines,
    /// [`Config::fills_virusprot`].
    virusprot: bool,
    interfaces: Vec<Interface>,
    /// Interface group name → member keys.
    groups: Vec<(String, Vec<String>)>,
    aliases: Aliases<'a, 'i>,
    rules: Vec<Node<'a, 'i>>,
    ipv6allow: bool,
    disablefilter: bool,
    apipa_block: bool,
    skip_rules_gw_down: bool,
    log_default_block: bool,
    log_default_pass: bool,
    log_bogons: bool,
    log_private: bool,
    /// Interface keys in a bridge (filter.inc tests with `stristr`).
    bridge_members: Vec<String>,
    /// Interface key → VIP networks on it.
    vips: BTreeMap<String, Vec<IpNet>>,
    /// Enabled captive portal zones: zone → interface keys.
    portals: Vec<(String, Vec<String>)>,
    /// Snort or Suricata installed: they fill `snort2c`.
    ids_package: Option<String>,
    skips: Skips,
    /// The disabled rule (by its offset in the text) read as if enabled:
    /// [`disabled_rules`].
    enabling: Option<usize>,
}

/// Top-level sections that decide no forwarded traffic, by kind
/// (src/conf.default/config.xml and the pages that write each section).
const SKIPPED_SECTIONS: &[(&str, &str)] = &[
    ("version", "management"),
    ("lastchange", "management"),
    ("revision", "management"),
    ("theme", "management"),
    ("widgets", "management"),
    ("rrd", "management"),
    ("cron", "management"),
    ("diag", "management"),
    ("sysctl", "management"),
    ("notifications", "management"),
    ("wizardtemp", "management"),
    ("hasync", "management"),
    ("cert", "certificates"),
    ("ca", "certificates"),
    ("crl", "certificates"),
    ("snmpd", "services"),
    ("ntpd", "services"),
    ("wol", "services"),
    ("load_balancer", "services"),
    ("dyndnses", "services"),
    ("dnsupdates", "services"),
    ("igmpproxy", "services"),
    ("voucher", "services"),
    ("proxyarp", "services"),
    ("unbound", "DNS"),
    ("dnsmasq", "DNS"),
    ("dhcpd", "DHCP"),
    ("dhcpdv6", "DHCP"),
    ("dhcrelay", "DHCP"),
    ("dhcrelay6", "DHCP"),
    ("kea", "DHCP"),
    ("shaper", "traffic shaping"),
    ("dnshaper", "traffic shaping"),
    ("gateways", "routing"),
    ("staticroutes", "routing"),
    ("ppps", "interface devices"),
    ("vlans", "interface devices"),
    ("laggs", "interface devices"),
    ("gifs", "interface devices"),
    ("gres", "interface devices"),
    ("qinqs", "interface devices"),
    ("wireless", "interface devices"),
    ("switches", "interface devices"),
    ("bridge", "interface devices"),
    ("l2tp", "VPN"),
    ("pptpd", "VPN"),
    ("pppoes", "VPN"),
    ("syslog", "syslog"),
];

impl<'a, 'i> Config<'a, 'i> {
    fn read(text: &'i str, root: Node<'a, 'i>) -> Result<Self, DeviceError> {
        let mut skips = Skips::default();
        let system = child(root, "system");
        let sys_flag = |tag: &str| system.is_some_and(|s| flag(s, tag));
        let syslog = child(root, "syslog");
        let syslog_flag = |tag: &str| syslog.is_some_and(|s| flag(s, tag));
        let mut config = Config {
            text,
            lines: Lines::new(),
            virusprot: false,
            interfaces: Vec::new(),
            groups: Vec::new(),
            aliases: Aliases::default(),
            rules: Vec::new(),
            ipv6allow: sys_flag("ipv6allow"),
            disablefilter: sys_flag("disablefilter"),
            apipa_block: !sys_flag("no_apipa_block"),
            skip_rules_gw_down: sys_flag("skip_rules_gw_down"),
            log_default_block: !syslog_flag("nologdefaultblock"),
            // filter.inc: `if (isset(nologdefaultpass)) $log['pass'] = "log"`.
            log_default_pass: syslog_flag("nologdefaultpass"),
            log_bogons: !syslog_flag("nologbogons"),
            log_private: !syslog_flag("nologprivatenets"),
            bridge_members: Vec::new(),
            vips: BTreeMap::new(),
            portals: Vec::new(),
            ids_package: None,
            skips: Skips::default(),
            enabling: None,
        };
        let mut seen_interfaces = false;
        for section in elements(root) {
            let name = section.name();
            match name {
                "interfaces" => {
                    config.interfaces = read_interfaces(text, section)?;
                    seen_interfaces = true;
                }
                "aliases" => config.aliases = read_aliases(text, section)?,
                "filter" => config.read_filter(section)?,
                "ifgroups" => config.read_groups(section)?,
                "system" => config.read_system(section, &mut skips)?,
                "nat" => read_nat(section, &mut skips),
                "openvpn" => {
                    let n = elements(section)
                        .filter(|c| {
                            c.has_tag_name("openvpn-server") || c.has_tag_name("openvpn-client")
                        })
                        .count();
                    skips.add("OpenVPN", n, "instance", "instances");
                }
                "ipsec" => {
                    let n = elements(section)
                        .filter(|c| c.has_tag_name("phase1"))
                        .count();
                    skips.add("IPsec", n, "tunnel", "tunnels");
                }
                "installedpackages" => config.read_packages(section, &mut skips),
                "virtualip" => config.read_vips(section)?,
                "bridges" => {
                    for b in elements(section).filter(|c| c.has_tag_name("bridged")) {
                        let members = field(b, "members").unwrap_or_default();
                        config
                            .bridge_members
                            .extend(members.split(',').map(str::to_string));
                    }
                    skips.add("interface devices", 1, "section", "sections");
                }
                "captiveportal" => config.read_portals(section),
                "schedules" => {}
                _ => match SKIPPED_SECTIONS.iter().find(|(s, _)| *s == name) {
                    Some((_, kind)) => {
                        let kind = *kind;
                        config.count_section(kind, section, &mut skips);
                    }
                    None => {
                        return Err(err_at(
                            text,
                            section,
                            format!(
                                "section <{name}>: not a section this reader knows; it cannot tell whether it decides forwarded traffic"
                            ),
                        ));
                    }
                },
            }
        }
        if !seen_interfaces {
            return Err(DeviceError::at(
                0,
                0,
                "no <interfaces>: expected a full configuration backup (Diagnostics > Backup & Restore, all areas)",
            ));
        }
        if let Some(staticroutes) = child(root, "staticroutes")
            && child(root, "filter").is_some_and(|f| flag(f, "bypassstaticroutes"))
            && elements(staticroutes).next().is_some()
        {
            return Err(err_at(
                text,
                staticroutes,
                "\"Bypass firewall rules for traffic on the same interface\" with static routes: the pass rules pfSense adds for it are not supported",
            ));
        }
        skips.items.append(&mut config.skips.items);
        config.skips = skips;
        config.virusprot = config.fills_virusprot();
        Ok(config)
    }

    fn count_section(&self, kind: &str, section: Node<'_, '_>, skips: &mut Skips) {
        match kind {
            "routing" => {
                let n = elements(section)
                    .filter(|c| c.has_tag_name("route") || c.has_tag_name("gateway_item"))
                    .count();
                skips.add(
                    if section.has_tag_name("gateways") {
                        "gateways"
                    } else {
                        "static routes"
                    },
                    n,
                    "entry",
                    "entries",
                );
            }
            "DHCP" => {
                let n = elements(section).count().max(1);
                skips.add("DHCP", n, "interface", "interfaces");
            }
            _ => skips.add(kind, 1, "section", "sections"),
        }
    }

    fn read_filter(&mut self, section: Node<'a, 'i>) -> Result<(), DeviceError> {
        for r in elements(section) {
            match r.name() {
                "rule" => self.rules.push(r),
                // GUI separators and the static-route bypass flag (checked
                // with the routes).
                "separator" | "bypassstaticroutes" => {}
                other => {
                    return Err(err_at(
                        self.text,
                        r,
                        format!("<{other}> in <filter>: expected <rule>"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn read_groups(&mut self, section: Node<'_, '_>) -> Result<(), DeviceError> {
        for g in elements(section) {
            if !g.has_tag_name("ifgroupentry") {
                return Err(err_at(
                    self.text,
                    g,
                    format!("<{}> in <ifgroups>: expected <ifgroupentry>", g.name()),
                ));
            }
            let name = nonempty(g, "ifname")
                .ok_or_else(|| err_at(self.text, g, "an interface group without <ifname>"))?;
            let members = field(g, "members")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect();
            self.groups.push((name, members));
        }
        Ok(())
    }

    fn read_system(&mut self, system: Node<'_, '_>, skips: &mut Skips) -> Result<(), DeviceError> {
        let users = elements(system).filter(|c| c.has_tag_name("user")).count();
        skips.add("users", users, "user", "users");
        let groups = elements(system).filter(|c| c.has_tag_name("group")).count();
        skips.add("user groups", groups, "group", "groups");
        Ok(())
    }

    fn read_packages(&mut self, section: Node<'_, '_>, skips: &mut Skips) {
        let packages: Vec<String> = elements(section)
            .filter(|c| c.has_tag_name("package"))
            .filter_map(|p| field(p, "name"))
            .collect();
        self.ids_package = packages
            .iter()
            .find(|n| {
                let n = n.to_ascii_lowercase();
                n == "snort" || n == "suricata"
            })
            .cloned();
        skips.add("packages", packages.len(), "package", "packages");
    }

    fn read_vips(&mut self, section: Node<'_, '_>) -> Result<(), DeviceError> {
        for vip in elements(section).filter(|c| c.has_tag_name("vip")) {
            let mode = field(vip, "mode").unwrap_or_default();
            let iface = field(vip, "interface").unwrap_or_default();
            let subnet = field(vip, "subnet").unwrap_or_default();
            let bits = field(vip, "subnet_bits").unwrap_or_default();
            let net = format!("{subnet}/{bits}").parse::<IpNet>().map_err(|_| {
                err_at(
                    self.text,
                    vip,
                    format!("virtual IP `{subnet}/{bits}`: expected an address and prefix length"),
                )
            })?;
            if !["ipalias", "carp", "proxyarp", "other"].contains(&mode.as_str()) {
                return Err(err_at(
                    self.text,
                    vip,
                    format!("virtual IP mode `{mode}`: expected ipalias, carp, proxyarp or other"),
                ));
            }
            self.vips.entry(iface).or_default().push(net.trunc());
        }
        Ok(())
    }

    fn read_portals(&mut self, section: Node<'_, '_>) {
        for zone in elements(section) {
            if flag(zone, "enable") {
                let ifaces = field(zone, "interface")
                    .unwrap_or_default()
                    .split(',')
                    .map(str::to_string)
                    .collect();
                self.portals.push((zone.name().to_string(), ifaces));
            }
        }
    }

    fn interface(&self, key: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.key == key)
    }

    fn enabled(&self, key: &str) -> bool {
        self.interface(key).is_some_and(|i| i.enabled)
    }
}

fn read_nat(section: Node<'_, '_>, skips: &mut Skips) {
    let count = |n: Node<'_, '_>, tag: &str| elements(n).filter(|c| c.has_tag_name(tag)).count();
    skips.add("NAT port forwards", count(section, "rule"), "rule", "rules");
    if let Some(outbound) = child(section, "outbound") {
        skips.add("NAT outbound", count(outbound, "rule"), "rule", "rules");
    }
    skips.add("NAT 1:1", count(section, "onetoone"), "mapping", "mappings");
    skips.add("NAT NPt", count(section, "npt"), "mapping", "mappings");
}

// ------------------------------------------------------------------ rules

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    In,
    Out,
    Any,
}

impl Direction {
    fn covers(self, way: Direction) -> bool {
        self == Direction::Any || self == way
    }
}

/// Where a user rule applies.
#[derive(Clone, Debug)]
enum Scope {
    /// `on` = the places it names (groups expanded); `None` = every
    /// interface (no `on` at all).
    Floating {
        quick: bool,
        direction: Direction,
        on: Option<BTreeSet<String>>,
    },
    /// An interface group or a VPN pseudo-interface: its members.
    Group(BTreeSet<String>),
    Interface(String),
}

/// One entry of a user rule (one per family for `inet46`).
#[derive(Clone, Debug)]
struct UserEntry {
    scope: Scope,
    /// Taken by the last filter it is in; the others take a copy.
    entry: Option<Entry>,
    /// How many filters it is in and has not been put into yet.
    left: usize,
}

known_tags! {
    /// The rule fields the edit pages write (firewall_rules_edit.php; the
    /// list in `filter_generate_user_rule`), and what this reader does with
    /// each beyond matching.
    F, rule_field:
    Id = "id",
    Tracker = "tracker",
    Type = "type",
    Interface = "interface",
    Ipprotocol = "ipprotocol",
    Protocol = "protocol",
    Icmptype = "icmptype",
    Source = "source",
    Destination = "destination",
    Descr = "descr",
    Log = "log",
    Disabled = "disabled",
    Floating = "floating",
    Quick = "quick",
    Direction = "direction",
    Tag = "tag",
    Tagged = "tagged",
    Nottagged = "nottagged",
    Max = "max",
    MaxSrcNodes = "max-src-nodes",
    MaxSrcConn = "max-src-conn",
    MaxSrcStates = "max-src-states",
    MaxSrcConnRate = "max-src-conn-rate",
    MaxSrcConnRates = "max-src-conn-rates",
    Statetimeout = "statetimeout",
    Statepolicy = "statepolicy",
    Statetype = "statetype",
    Os = "os",
    Gateway = "gateway",
    Dnpipe = "dnpipe",
    Pdnpipe = "pdnpipe",
    Defaultqueue = "defaultqueue",
    Ackqueue = "ackqueue",
    Sched = "sched",
    Vlanprio = "vlanprio",
    Vlanprioset = "vlanprioset",
    Dscp = "dscp",
    Allowopts = "allowopts",
    Disablereplyto = "disablereplyto",
    Nopfsync = "nopfsync",
    Nosync = "nosync",
    Tcpflags1 = "tcpflags1",
    Tcpflags2 = "tcpflags2",
    TcpflagsAny = "tcpflags_any",
    AssociatedRuleId = "associated-rule-id",
    Created = "created",
    Updated = "updated",
    SourceTrack = "source-track",
}

known_tags! {
    /// What a `<source>` or `<destination>` holds.
    S, side_field:
    Any = "any",
    Address = "address",
    Network = "network",
    Not = "not",
    Port = "port",
}

/// A `<rule>`'s fields.
type Rule<'a, 'i> = Known<'a, 'i, { F::COUNT }>;

/// A rule's `<source>` or `<destination>`.
type SideFields<'a, 'i> = Known<'a, 'i, { S::COUNT }>;

fn rule_fields<'a, 'i>(r: Node<'a, 'i>) -> Rule<'a, 'i> {
    Known::of(r, rule_field)
}

fn side_fields<'a, 'i>(side: Node<'a, 'i>) -> SideFields<'a, 'i> {
    Known::of(side, side_field)
}

/// The pseudo-interfaces whose rules are group rules in filter.inc
/// (`$vpn_and_ppp_ifs`), with the operating-system interface prefix of
/// their members.
const VPN_INTERFACES: &[(&str, &str)] = &[
    ("l2tp", "l2tp"),
    ("pptp", "pptp"),
    ("pppoe", "pppoe"),
    ("enc0", "ipsec"),
    ("openvpn", "ovpn"),
    ("wireguard", "tun_wg"),
];

/// TCP flag names of `<tcpflags1>`/`<tcpflags2>` (firewall_rules_edit.php)
/// and whether a SYN carries the flag.
const TCP_FLAGS: &[(&str, bool)] = &[
    ("fin", false),
    ("syn", true),
    ("rst", false),
    ("psh", false),
    ("ack", false),
    ("urg", false),
    ("ece", false),
    ("cwr", false),
];

/// What one family of one rule becomes.
enum Built {
    Entry(Box<Entry>),
    /// The rule matches only traffic to or from the firewall itself.
    Firewall,
    /// pfSense does not load it (`# ... ` comments in rules.debug).
    NotLoaded,
    /// It matches no new flow (a source port below 1024, TCP flags a SYN
    /// does not have).
    NoNewFlow,
}

/// An address side of a rule, for one family.
enum Side {
    Set(Addresses),
    Firewall,
    NotLoaded,
}

impl<'a, 'i> Config<'a, 'i> {
    fn err(&self, node: Node<'_, '_>, message: impl Into<String>) -> DeviceError {
        err_at(self.text, node, message)
    }

    /// Every place: the interface keys, then the VPN pseudo-interfaces the
    /// rules name.
    fn places(&self) -> Vec<String> {
        let mut places: Vec<String> = self.interfaces.iter().map(|i| i.key.clone()).collect();
        for r in &self.rules {
            let listed = child(*r, "interface").map_or("", |c| c.text());
            for name in listed.split(',') {
                if VPN_INTERFACES.iter().any(|(v, _)| *v == name)
                    && !places.iter().any(|p| p == name)
                {
                    places.push(name.to_string());
                }
            }
        }
        places
    }

    fn is_group(&self, name: &str) -> bool {
        self.groups.iter().any(|(g, _)| g == name) || VPN_INTERFACES.iter().any(|(v, _)| *v == name)
    }

    /// The enabled places a group or VPN pseudo-interface stands for.
    fn members(&self, name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (g, members) in &self.groups {
            if g == name {
                out.extend(members.iter().filter(|m| self.enabled(m)).cloned());
            }
        }
        if let Some((v, prefix)) = VPN_INTERFACES.iter().find(|(v, _)| *v == name) {
            out.insert(v.to_string());
            out.extend(
                self.interfaces
                    .iter()
                    .filter(|i| i.enabled && i.device.starts_with(prefix))
                    .map(|i| i.key.clone()),
            );
        }
        out
    }

    /// Every user rule, as entries in their classes' order: floating,
    /// group, interface.
    fn user_entries(&mut self) -> Result<Vec<UserEntry>, DeviceError> {
        let (mut floating, mut grouped, mut plain) = (Vec::new(), Vec::new(), Vec::new());
        let rules = self.rules.clone();
        for r in rules {
            for (scope, built) in self.rule(r)? {
                let class = match scope {
                    Scope::Floating { .. } => &mut floating,
                    Scope::Group(_) => &mut grouped,
                    Scope::Interface(_) => &mut plain,
                };
                class.push(UserEntry {
                    scope,
                    entry: Some(built),
                    left: 0,
                });
            }
        }
        floating.extend(grouped);
        floating.extend(plain);
        Ok(floating)
    }

    /// One `<rule>`: its entries (none when it is disabled, not loaded or
    /// matches no forwarded new flow; counted in `skips`).
    fn rule(&mut self, r: Node<'a, 'i>) -> Result<Vec<(Scope, Entry)>, DeviceError> {
        let r = rule_fields(r);
        if let Some(c) = r.unknown {
            return Err(self.err(
                c,
                format!("rule field <{}>: not a field this reader knows", c.name()),
            ));
        }
        if !self.applied(r.node) {
            self.skips.add("disabled rules", 1, "rule", "rules");
            return Ok(Vec::new());
        }
        let kind = r.field(F::Type).unwrap_or_default();
        let action = match kind {
            "pass" => Action::Allow,
            "block" => Action::Deny,
            "reject" => Action::Reject,
            "match" => {
                // pf's `match` sets queues and tags; it never passes or
                // blocks.
                self.skips.add("floating match rules", 1, "rule", "rules");
                return Ok(Vec::new());
            }
            other => {
                return Err(self.err(
                    r.at(F::Type),
                    format!(
                        "rule type `{other}`: expected pass, block, reject or match (filter.inc loads any other type as pass)"
                    ),
                ));
            }
        };
        let Some(scope) = self.scope(&r)? else {
            self.skips
                .add("rules pfSense does not load", 1, "rule", "rules");
            return Ok(Vec::new());
        };
        let families: &[Family] = match r.field(F::Ipprotocol) {
            // filter.inc: any other value (and none) is inet.
            None | Some("") | Some("inet") => &[Family::V4],
            Some("inet6") => &[Family::V6],
            Some("inet46") => &[Family::V4, Family::V6],
            Some(other) => {
                return Err(self.err(
                    r.at(F::Ipprotocol),
                    format!("<ipprotocol> `{other}`: expected inet, inet6 or inet46"),
                ));
            }
        };
        let mut out = Vec::new();
        let (mut firewall, mut not_loaded, mut no_flow) = (false, false, false);
        for &family in families {
            match self.build(&r, action, family)? {
                Built::Entry(e) => out.push((scope.clone(), *e)),
                Built::Firewall => firewall = true,
                Built::NotLoaded => not_loaded = true,
                Built::NoNewFlow => no_flow = true,
            }
        }
        // Every family's entry says the same: written once.
        if let Some(((_, last), others)) = out.split_last_mut() {
            let (text, rule) = (rule_text(&r), wardwall_rule(&r));
            for (_, e) in others {
                e.decision.origin.text = text.clone();
                e.decision.origin.rule = rule.clone();
            }
            last.decision.origin.text = text;
            last.decision.origin.rule = rule;
        }
        if out.is_empty() {
            let kind = if firewall {
                "rules to or from the firewall itself"
            } else if not_loaded {
                "rules pfSense does not load"
            } else if no_flow {
                "rules that match no new flow from a client port"
            } else {
                "rules of no family"
            };
            self.skips.add(kind, 1, "rule", "rules");
        }
        Ok(out)
    }

    /// Where a rule applies; `None` when pfSense does not load it (an
    /// interface it does not have).
    fn scope(&self, r: &Rule<'_, '_>) -> Result<Option<Scope>, DeviceError> {
        let interface = r.field(F::Interface).unwrap_or_default();
        match r.field(F::Floating) {
            None => {}
            Some("yes") => {
                let direction = match r.field(F::Direction) {
                    None | Some("") | Some("any") => Direction::Any,
                    Some("in") => Direction::In,
                    Some("out") => Direction::Out,
                    Some(other) => {
                        return Err(self.err(
                            r.at(F::Direction),
                            format!("<direction> `{other}`: expected in, out or any"),
                        ));
                    }
                };
                // filter.inc keeps the listed interfaces it has; with none
                // left the rule has no `on` and applies everywhere.
                let mut on = BTreeSet::new();
                for name in interface.split(',').filter(|n| !n.is_empty()) {
                    if self.enabled(name) {
                        on.insert(name.to_string());
                    } else if self.is_group(name) {
                        on.extend(self.members(name));
                        on.insert(name.to_string());
                    }
                }
                return Ok(Some(Scope::Floating {
                    quick: r.flag(F::Quick),
                    direction,
                    on: (!on.is_empty()).then_some(on),
                }));
            }
            Some(other) => {
                return Err(self.err(
                    r.at(F::Floating),
                    format!("<floating> `{other}`: expected yes"),
                ));
            }
        }
        if self.enabled(interface) {
            Ok(Some(Scope::Interface(interface.to_string())))
        } else if self.is_group(interface) {
            Ok(Some(Scope::Group(self.members(interface))))
        } else {
            // "array key ... does not exist": a disabled or unknown
            // interface.
            Ok(None)
        }
    }

    /// One family of one rule (its origin's text and rule are left empty:
    /// [`Config::rule`] fills them, once for every family).
    fn build(
        &self,
        r: &Rule<'_, '_>,
        action: Action,
        family: Family,
    ) -> Result<Built, DeviceError> {
        let mut undecidable: Vec<String> = Vec::new();
        let protocol = r.field(F::Protocol).unwrap_or_default();
        let protocol = if protocol.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(protocol.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(protocol)
        };
        let protocol = protocol.as_ref();
        let ported = matches!(protocol, "tcp" | "udp" | "tcp/udp");
        let (src, src_fields) = match self.side(r, F::Source, "source", family)? {
            (Side::Set(a), fields) => (a, fields),
            (Side::Firewall, _) => return Ok(Built::Firewall),
            (Side::NotLoaded, _) => return Ok(Built::NotLoaded),
        };
        let (dst, dst_fields) = match self.side(r, F::Destination, "destination", family)? {
            (Side::Set(a), fields) => (a, fields),
            (Side::Firewall, _) => return Ok(Built::Firewall),
            (Side::NotLoaded, _) => return Ok(Built::NotLoaded),
        };
        let (Some(sport), Some(dport)) = (self.port(&src_fields)?, self.port(&dst_fields)?) else {
            return Ok(Built::NotLoaded);
        };
        // filter_generate_port: ports count for tcp, udp and tcp/udp only.
        if ported && let Some(ports) = &sport {
            undecidable.extend(ports.undecidable.clone());
            match source_ports(&ports.set) {
                SourcePorts::Always => {}
                SourcePorts::Never => return Ok(Built::NoNewFlow),
                SourcePorts::Sometimes => undecidable.push(format!(
                    "source port {}: only some client ports match",
                    src_fields.field(S::Port).unwrap_or_default()
                )),
            }
        }
        let service = match self.service(r, protocol, family, dport.as_ref(), sport.is_some())? {
            Some(s) => s,
            None => return Ok(Built::NoNewFlow),
        };
        if let Some(ports) = &dport
            && ported
        {
            undecidable.extend(ports.undecidable.clone());
        }
        if protocol == "sctp" && dport.is_some() {
            undecidable.push("SCTP destination port".into());
        }
        if protocol == "tcp" && !self.syn_matches(r)? {
            return Ok(Built::NoNewFlow);
        }
        undecidable.extend(src.undecidable.clone());
        undecidable.extend(dst.undecidable.clone());
        undecidable.extend(self.undecidable_fields(r, action, protocol));
        let undecidable = (!undecidable.is_empty()).then(|| undecidable.join("; "));
        // An undecidable side may hold anything.
        let widen = |a: Addresses| {
            if a.undecidable.is_some() {
                AddrSet::any()
            } else {
                a.set
            }
        };
        let (line, column) = self.lines.at(self.text, r.node.start());
        Ok(Built::Entry(Box::new(Entry {
            guard: Guard {
                family: Some(family),
                ..Guard::default()
            },
            src: widen(src),
            dst: widen(dst),
            service,
            decision: Decision {
                action,
                log: r.flag(F::Log),
                origin: Origin {
                    line,
                    column,
                    text: String::new(),
                    rule: None,
                },
            },
            undecidable,
        })))
    }

    /// `<source>` or `<destination>` for one family, and its fields.
    fn side<'b, 'j>(
        &self,
        r: &Rule<'b, 'j>,
        which: F,
        tag: &str,
        family: Family,
    ) -> Result<(Side, SideFields<'b, 'j>), DeviceError> {
        let node = r
            .child(which)
            .ok_or_else(|| self.err(r.node, format!("a rule without <{tag}>")))?;
        let fields = side_fields(node);
        if let Some(c) = fields.unknown {
            return Err(self.err(
                c,
                format!(
                    "<{}> in <{tag}>: expected any, address, network, not or port",
                    c.name()
                ),
            ));
        }
        let not = fields.flag(S::Not);
        let side = if fields.flag(S::Any) {
            Side::Set(Addresses::exact(AddrSet::any()))
        } else if let Some(network) = fields.nonempty(S::Network) {
            self.network(fields.at(S::Network), network, family)?
        } else if let Some(address) = fields.nonempty(S::Address) {
            self.address(fields.at(S::Address), address, family)?
        } else {
            return Err(self.err(
                node,
                format!("<{tag}> holds none of <any/>, <address>, <network>"),
            ));
        };
        let side = match (side, not) {
            (Side::Set(a), true) => Side::Set(Addresses {
                set: a.set.complement(),
                undecidable: a.undecidable,
            }),
            // Everything but the firewall: every forwarded packet.
            (Side::Firewall, true) => Side::Set(Addresses::exact(AddrSet::any())),
            (side, _) => side,
        };
        Ok((side, fields))
    }

    /// `<network>`: util.inc `get_specialnet` as filter_generate_address
    /// reads it.
    fn network(
        &self,
        node: Node<'_, '_>,
        network: &str,
        family: Family,
    ) -> Result<Side, DeviceError> {
        if network == "(self)" {
            return Ok(Side::Firewall);
        }
        if let Some(key) = network.strip_suffix("ip")
            && self.interface(key).is_some()
        {
            // The interface's own address is the firewall's.
            return Ok(Side::Firewall);
        }
        if matches!(network, "pppoe" | "l2tp" | "pptp") {
            return Ok(Side::Set(Addresses {
                set: AddrSet::empty(),
                undecidable: Some(format!("{network} client subnets (assigned at run time)")),
            }));
        }
        let Some(iface) = self.interface(network) else {
            return Err(self.err(
                node,
                format!(
                    "<network> `{network}`: expected (self), an interface key, an interface key with `ip`, pppoe or l2tp"
                ),
            ));
        };
        let addressing = match family {
            Family::V4 => &iface.v4,
            Family::V6 => &iface.v6,
        };
        if !iface.enabled {
            return Ok(Side::NotLoaded);
        }
        let subnet = match addressing {
            Addressing::None => return Ok(Side::NotLoaded),
            Addressing::Dynamic(how) => {
                return Ok(Side::Set(Addresses {
                    set: AddrSet::empty(),
                    undecidable: Some(format!(
                        "the subnet of {network} ({how}, learnt at run time)"
                    )),
                }));
            }
            Addressing::Static(net) => net.trunc(),
        };
        // filter_address_add_vips_subnets: the interface's virtual IP
        // subnets of the same family.
        let mut nets = vec![subnet];
        for vip in self.vips.get(network).into_iter().flatten() {
            if vip.addr().is_ipv6() == subnet.addr().is_ipv6() {
                nets.push(*vip);
            }
        }
        Ok(Side::Set(Addresses::exact(AddrSet::from_nets(nets))))
    }

    /// `<address>`: an alias, or an address or CIDR of the rule's family
    /// (alias_expand); anything else makes pfSense skip the rule.
    fn address(
        &self,
        node: Node<'_, '_>,
        address: &str,
        family: Family,
    ) -> Result<Side, DeviceError> {
        if let Some(alias) = self.aliases.get(address) {
            return Ok(Side::Set(self.alias_addresses(node, address, alias)?));
        }
        let literal = address
            .parse::<IpAddr>()
            .map(IpNet::from)
            .or_else(|_| address.parse::<IpNet>().map(|n| n.trunc()));
        match literal {
            Ok(net) => {
                let six = net.addr().is_ipv6();
                if six != (family == Family::V6) {
                    return Err(self.err(
                        node,
                        format!(
                            "the literal `{address}` in a rule of the other family: pfctl refuses the whole ruleset"
                        ),
                    ));
                }
                Ok(Side::Set(Addresses::exact(AddrSet::from_net(net))))
            }
            Err(_) => Ok(Side::NotLoaded),
        }
    }

    /// The addresses of an address alias, nested aliases expanded.
    fn alias_addresses(
        &self,
        at: Node<'_, '_>,
        name: &str,
        alias: &Alias<'_, '_>,
    ) -> Result<Addresses, DeviceError> {
        if alias.expanding.get() {
            return Err(self.err(alias.node, format!("alias {name} contains itself")));
        }
        // An alias being expanded is never resolved yet, so a cycle is
        // still found where it was.
        if let Some(found) = alias.addresses.get() {
            return Ok(found.clone());
        }
        let found = self.resolve_alias_addresses(at, name, alias)?;
        Ok(alias.addresses.get_or_init(|| found).clone())
    }

    /// [`Config::alias_addresses`] of `alias`, not yet resolved.
    fn resolve_alias_addresses(
        &self,
        at: Node<'_, '_>,
        name: &str,
        alias: &Alias<'_, '_>,
    ) -> Result<Addresses, DeviceError> {
        if PORT_ALIASES.contains(&alias.kind) || URL_PORT_ALIASES.contains(&alias.kind) {
            return Err(self.err(
                at,
                format!("the {} alias {name} used as addresses", alias.kind),
            ));
        }
        if URL_ADDRESS_ALIASES.contains(&alias.kind) {
            return Ok(Addresses {
                set: AddrSet::empty(),
                undecidable: Some(format!(
                    "{} alias {name} (its addresses are downloaded at run time)",
                    alias.kind
                )),
            });
        }
        alias.expanding.set(true);
        let mut set = AddrSet::empty();
        let mut undecidable = Vec::new();
        for &entry in &alias.entries {
            if let Some(s) = literal_addresses(entry) {
                set = set.union(&s);
            } else if let Some(inner) = self.aliases.get(entry) {
                let inner = self.alias_addresses(alias.node, entry, inner)?;
                set = set.union(&inner.set);
                undecidable.extend(inner.undecidable);
            } else if is_hostname(entry) {
                undecidable.push(format!(
                    "FQDN {entry} in alias {name} (resolved at run time)"
                ));
            } else {
                return Err(self.err(
                    alias.node,
                    format!(
                        "alias {name} entry `{entry}`: expected an address, a CIDR, a range A-B, an alias or a host name"
                    ),
                ));
            }
        }
        alias.expanding.set(false);
        Ok(Addresses {
            set,
            undecidable: (!undecidable.is_empty()).then(|| undecidable.join("; ")),
        })
    }

    /// The ports of a port alias, nested aliases expanded.
    fn alias_ports(
        &self,
        at: Node<'_, '_>,
        name: &str,
        alias: &Alias<'_, '_>,
    ) -> Result<Ports, DeviceError> {
        if alias.expanding.get() {
            return Err(self.err(alias.node, format!("alias {name} contains itself")));
        }
        if URL_PORT_ALIASES.contains(&alias.kind) {
            return Ok(Ports {
                set: PortSet::default(),
                undecidable: Some(format!(
                    "{} alias {name} (its ports are downloaded at run time)",
                    alias.kind
                )),
            });
        }
        if !PORT_ALIASES.contains(&alias.kind) {
            return Err(self.err(at, format!("the {} alias {name} used as ports", alias.kind)));
        }
        alias.expanding.set(true);
        let mut set = PortSet::default();
        let mut undecidable = None;
        for &entry in &alias.entries {
            if let Some(p) = literal_ports(entry) {
                set = set.union(&p);
            } else if let Some(inner) = self.aliases.get(entry) {
                let inner = self.alias_ports(alias.node, entry, inner)?;
                set = set.union(&inner.set);
                undecidable = undecidable.or(inner.undecidable);
            } else {
                return Err(self.err(
                    alias.node,
                    format!("port alias {name} entry `{entry}`: expected N, A:B or a port alias"),
                ));
            }
        }
        alias.expanding.set(false);
        Ok(Ports { set, undecidable })
    }

    /// A side's `<port>`: `Some(None)` without one, `None` when pfSense
    /// does not load the rule (an unknown alias).
    fn port(&self, side: &SideFields<'_, '_>) -> Result<Option<Option<Ports>>, DeviceError> {
        let Some(text) = side.nonempty(S::Port) else {
            return Ok(Some(None));
        };
        let node = side.at(S::Port);
        let number = |s: &str| s.parse::<u16>().ok().filter(|p| *p >= 1);
        // filter_generate_port: `A-B` (`1-65535` = no port, `1-B` is
        // pf's `port <= B`, which holds port 0 too), or one port or alias.
        let parts: Vec<&str> = text.split('-').collect();
        let set = match parts.as_slice() {
            [one] => {
                if let Some(p) = number(one) {
                    PortSet::single(p)
                } else if let Some(alias) = self.aliases.get(*one) {
                    return Ok(Some(Some(self.alias_ports(node, one, alias)?)));
                } else {
                    return Ok(None);
                }
            }
            [a, b] => match (number(a), number(b)) {
                (Some(a), Some(b)) if a <= b => {
                    if a == 1 {
                        PortSet::range(0, b)
                    } else {
                        PortSet::range(a, b)
                    }
                }
                _ => {
                    return Err(self.err(
                        node,
                        format!("port `{text}`: expected N, A-B with A <= B, or a port alias"),
                    ));
                }
            },
            _ => {
                return Err(self.err(
                    node,
                    format!("port `{text}`: expected N, A-B or a port alias"),
                ));
            }
        };
        Ok(Some(Some(Ports {
            set,
            undecidable: None,
        })))
    }

    /// The rule's protocol and destination ports / ICMP types for one
    /// family; `None` when no packet of the family can match.
    fn service(
        &self,
        r: &Rule<'_, '_>,
        protocol: &str,
        family: Family,
        dport: Option<&Ports>,
        has_sport: bool,
    ) -> Result<Option<ServiceSet>, DeviceError> {
        let ports = || dport.map_or_else(PortSet::full, |p| p.set.clone());
        let mut s = ServiceSet::default();
        match protocol {
            // No protocol but a port: filter.inc writes `proto tcp`, and
            // (the protocol being empty) no port clause.
            "" if dport.is_some() || has_sport => s.tcp = PortSet::full(),
            "" => s = ServiceSet::any(),
            "tcp" => s.tcp = ports(),
            "udp" => s.udp = ports(),
            "tcp/udp" => {
                s.tcp = ports();
                s.udp = ports();
            }
            "icmp" => {
                let types = self.icmp_types(r, family)?;
                match family {
                    Family::V4 => s.icmp4 = types,
                    Family::V6 => s.icmp6 = types,
                }
            }
            other => {
                match PROTOCOLS.iter().find(|(n, _)| *n == other) {
                    Some(&(_, number)) => s.protocols = ByteSet::single(number),
                    None => {
                        return Err(self.err(
                        r.at(F::Protocol),
                        format!(
                            "<protocol> `{other}`: expected tcp, udp, tcp/udp, icmp or one of {}",
                            PROTOCOLS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                    }
                }
            }
        }
        Ok((!s.is_empty()).then_some(s))
    }

    /// `<icmptype>`: pf names valid for the family (filter.inc
    /// `$icmptypes`), comma separated; none or `any` = every type.
    fn icmp_types(&self, r: &Rule<'_, '_>, family: Family) -> Result<ByteSet, DeviceError> {
        let list = r.nonempty(F::Icmptype).unwrap_or_default();
        if list.is_empty() || list == "any" {
            return Ok(ByteSet::full());
        }
        let mut set = ByteSet::default();
        for name in list.split(',') {
            let ty = icmp_number(name, family == Family::V6).ok_or_else(|| {
                self.err(
                    r.at(F::Icmptype),
                    format!(
                        "ICMP type `{name}` is not an {} type pf knows: pfctl refuses the whole ruleset",
                        if family == Family::V6 { "ICMPv6" } else { "ICMP" }
                    ),
                )
            })?;
            set = set.union(&ByteSet::single(ty));
        }
        Ok(set)
    }

    /// Whether a TCP rule's flags (`flags X/Y`, default `S/SA`, or `flags
    /// any`) hold for a SYN: `SYN & Y == X`.
    fn syn_matches(&self, r: &Rule<'_, '_>) -> Result<bool, DeviceError> {
        if r.flag(F::TcpflagsAny) {
            return Ok(true);
        }
        let Some(mask) = r.nonempty(F::Tcpflags2) else {
            return Ok(true);
        };
        let read = |tag: F, list: &str| -> Result<BTreeSet<&'static str>, DeviceError> {
            let mut out = BTreeSet::new();
            for name in list.split(',').filter(|n| !n.is_empty()) {
                let known = TCP_FLAGS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
                    self.err(
                        r.at(tag),
                        format!(
                            "TCP flag `{name}`: expected fin, syn, rst, psh, ack, urg, ece or cwr"
                        ),
                    )
                })?;
                out.insert(known.0);
            }
            Ok(out)
        };
        let set = read(F::Tcpflags1, r.nonempty(F::Tcpflags1).unwrap_or_default())?;
        let mask = read(F::Tcpflags2, mask)?;
        let syn_in_mask: BTreeSet<&str> = mask.into_iter().filter(|f| *f == "syn").collect();
        Ok(set == syn_in_mask)
    }

    /// Fields whose match cannot be decided offline.
    fn undecidable_fields(&self, r: &Rule<'_, '_>, action: Action, protocol: &str) -> Vec<String> {
        let mut why = Vec::new();
        if let Some(s) = r.nonempty(F::Sched) {
            why.push(format!("schedule {s}"));
        }
        if let Some(t) = r.nonempty(F::Tagged) {
            why.push(format!("tagged {t}"));
        }
        if protocol == "tcp"
            && let Some(os) = r.nonempty(F::Os)
        {
            why.push(format!("OS fingerprint {os}"));
        }
        if let Some(d) = r.nonempty(F::Dscp) {
            why.push(format!("DSCP {d}"));
        }
        if let Some(p) = r.nonempty(F::Vlanprio).filter(|p| *p != "none") {
            why.push(format!("VLAN priority {p}"));
        }
        let stateless = r.field(F::Statetype) == Some("none");
        if action == Action::Allow && !stateless {
            let tcp = matches!(protocol, "tcp" | "tcp/udp");
            for (field, tag, tcp_only) in [
                (F::Max, "max", false),
                (F::MaxSrcNodes, "max-src-nodes", false),
                (F::MaxSrcStates, "max-src-states", false),
                (F::MaxSrcConn, "max-src-conn", true),
                (F::MaxSrcConnRate, "max-src-conn-rate", true),
            ] {
                if (!tcp_only || tcp)
                    && let Some(v) = r.nonempty(field)
                {
                    why.push(format!("state limit {tag} {v}"));
                }
            }
        }
        if action == Action::Allow
            && self.skip_rules_gw_down
            && let Some(gw) = r.nonempty(F::Gateway)
        {
            why.push(format!(
                "gateway {gw}: with \"skip rules when gateway is down\" the rule is not loaded while it is down"
            ));
        }
        why
    }

    /// Whether the rule is in force: not disabled, or the disabled one
    /// being read as enabled.
    fn applied(&self, r: Node<'_, '_>) -> bool {
        !flag(r, "disabled") || self.enabling == Some(r.start())
    }

    /// Whether some pass rule fills the `virusprot` table (computed once:
    /// every interface's system rules ask).
    fn fills_virusprot(&self) -> bool {
        self.rules.iter().any(|r| {
            self.applied(*r)
                && nonempty_str(*r, "max-src-conn-rate").is_some()
                && nonempty_str(*r, "max-src-conn-rates").is_some()
        })
    }
}

/// A rule on one line, in the rule editor's order.
fn rule_text<'a>(r: &Rule<'a, '_>) -> String {
    // Every rule gets one and most are never shown: its pieces are
    // gathered first, so the text is allocated once at its size.
    let mut pieces: [&'a str; 32] = [""; 32];
    let mut n = 0;
    let mut put = |piece: &'a str| {
        pieces[n] = piece;
        n += 1;
    };
    put(r.nonempty(F::Type).unwrap_or_default());
    if r.nonempty(F::Floating).is_some() {
        put(" floating");
        if r.flag(F::Quick) {
            put(" quick");
        }
        put(" ");
        put(r.nonempty(F::Direction).unwrap_or("any"));
    }
    put(" on ");
    put(r.nonempty(F::Interface).unwrap_or("any"));
    put(" ");
    put(r.nonempty(F::Ipprotocol).unwrap_or("inet"));
    if let Some(p) = r.nonempty(F::Protocol) {
        put(" ");
        put(p);
    }
    if let Some(t) = r.nonempty(F::Icmptype) {
        put(" icmptype ");
        put(t);
    }
    for (word, which) in [(" from ", F::Source), (" to ", F::Destination)] {
        let Some(side) = r.child(which) else { continue };
        let side = side_fields(side);
        put(word);
        if side.flag(S::Not) {
            put("!");
        }
        if side.flag(S::Any) {
            put("any");
        } else if let Some(network) = side.nonempty(S::Network) {
            put(network);
            put(" net");
        } else {
            put(side.nonempty(S::Address).unwrap_or_default());
        }
        if let Some(p) = side.nonempty(S::Port) {
            put(" port ");
            put(p);
        }
    }
    if r.flag(F::Log) {
        put(" log");
    }
    if let Some(d) = r.nonempty(F::Descr) {
        put(" \"");
        put(d);
        put("\"");
    }
    let pieces = &pieces[..n];
    let mut s = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
    for p in pieces {
        s.push_str(p);
    }
    s
}

/// The policy rule a wardwall-written rule names in its description; only
/// for wardwall's trackers (2000000000-3999999999, docs/targets/pfsense.md),
/// so a hand-made rule's description is never taken for a policy rule.
fn wardwall_rule(r: &Rule<'_, '_>) -> Option<String> {
    let tracker: u64 = r.nonempty(F::Tracker)?.parse().ok()?;
    if !(2_000_000_000..4_000_000_000).contains(&tracker) {
        return None;
    }
    rule_name(r.nonempty(F::Descr)?).map(str::to_string)
}

// ------------------------------------------------------------------ system rules

/// A rule pfSense writes itself (no line in config.xml).
fn system(
    action: Action,
    log: bool,
    family: Option<Family>,
    src: AddrSet,
    dst: AddrSet,
    service: ServiceSet,
    text: String,
) -> Entry {
    Entry {
        guard: Guard {
            family,
            ..Guard::default()
        },
        src,
        dst,
        service,
        decision: Decision {
            action,
            log,
            origin: Origin {
                line: 0,
                column: 0,
                text,
                rule: None,
            },
        },
        undecidable: None,
    }
}

fn net(s: &str) -> AddrSet {
    AddrSet::from_net(s.parse().expect("a valid network"))
}

fn icmp6(types: &[u8]) -> ServiceSet {
    let mut s = ServiceSet::default();
    for t in types {
        s.icmp6 = s.icmp6.union(&ByteSet::single(*t));
    }
    s
}

impl Config<'_, '_> {
    fn log_word(log: bool) -> &'static str {
        if log { " log" } else { "" }
    }

    /// pfSense's own quick rules for one way (`In`/`Out`) on one place
    /// (`None`: rules bound to no interface only), in filter.inc's order.
    fn system_quick(&self, way: Direction, place: Option<&str>) -> Vec<Entry> {
        let (lb, lp) = (
            Self::log_word(self.log_default_block),
            Self::log_word(self.log_default_pass),
        );
        let inbound = way == Direction::In;
        let dir = if inbound { "in" } else { "out" };
        let mut out = Vec::new();
        if !self.ipv6allow {
            out.push(system(
                Action::Deny,
                self.log_default_block,
                Some(Family::V6),
                AddrSet::any(),
                AddrSet::any(),
                ServiceSet::any(),
                format!("pfSense system rule: block {dir}{lb} quick inet6 all (\"Block all IPv6\": System > Advanced > Networking, Allow IPv6 is off)"),
            ));
        }
        if inbound && self.apipa_block {
            for (src, dst, text) in [
                ("169.254.0.0/16", "0.0.0.0/0", "from 169.254.0.0/16 to any"),
                ("0.0.0.0/0", "169.254.0.0/16", "from any to 169.254.0.0/16"),
            ] {
                out.push(system(
                    Action::Deny,
                    self.log_default_block,
                    Some(Family::V4),
                    net(src),
                    net(dst),
                    ServiceSet::any(),
                    format!(
                        "pfSense system rule: block in{lb} quick {text} (\"Block IPv4 link-local\")"
                    ),
                ));
            }
        }
        if self.ipv6allow {
            out.push(system(
                Action::Allow,
                self.log_default_pass,
                Some(Family::V6),
                AddrSet::any(),
                AddrSet::any(),
                icmp6(&[1, 2, 135, 136]),
                format!("pfSense system rule: pass{lp} quick inet6 proto ipv6-icmp from any to any icmp6-type {{1,2,135,136}} (IPv6 requirements)"),
            ));
            let pairs: &[(&str, &str)] = if inbound {
                &[
                    ("fe80::/10", "fe80::/10"),
                    ("ff02::/16", "fe80::/10"),
                    ("fe80::/10", "ff02::/16"),
                    ("::/128", "ff02::/16"),
                ]
            } else {
                &[("fe80::/10", "fe80::/10"), ("fe80::/10", "ff02::/16")]
            };
            let types: &[u8] = if inbound {
                &[128, 133, 134, 135, 136]
            } else {
                &[129, 133, 134, 135, 136]
            };
            for (src, dst) in pairs {
                out.push(system(
                    Action::Allow,
                    self.log_default_pass,
                    Some(Family::V6),
                    net(src),
                    net(dst),
                    icmp6(types),
                    format!(
                        "pfSense system rule: pass {dir}{lp} quick inet6 proto ipv6-icmp from {src} to {dst} icmp6-type {{{}}} (IPv6 requirements)",
                        types.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
                    ),
                ));
            }
        }
        // "Block traffic from port 0" needs a source port no client uses.
        let families: &[(Family, &str)] = if self.ipv6allow {
            &[(Family::V4, "inet"), (Family::V6, "inet6")]
        } else {
            &[(Family::V4, "inet")]
        };
        for (family, word) in families {
            let port0 = ServiceSet {
                tcp: PortSet::single(0),
                udp: PortSet::single(0),
                ..ServiceSet::default()
            };
            out.push(system(
                Action::Deny,
                self.log_default_block,
                Some(*family),
                AddrSet::any(),
                AddrSet::any(),
                port0,
                format!("pfSense system rule: block{lb} quick {word} proto {{ tcp, udp }} from any to any port = 0 (\"Block traffic to port 0\")"),
            ));
        }
        if let Some(package) = &self.ids_package {
            for (what, text) in [
                ("source", "from <snort2c> to any"),
                ("destination", "from any to <snort2c>"),
            ] {
                let mut e = system(
                    Action::Deny,
                    self.log_default_block,
                    None,
                    AddrSet::any(),
                    AddrSet::any(),
                    ServiceSet::any(),
                    format!(
                        "pfSense system rule: block{lb} quick {text} (\"Block snort2c hosts\")"
                    ),
                );
                e.undecidable = Some(format!(
                    "the {what} in table snort2c, which the {package} package fills at run time"
                ));
                out.push(e);
            }
        }
        if inbound && self.virusprot {
            let mut e = system(
                Action::Deny,
                self.log_default_block,
                None,
                AddrSet::any(),
                AddrSet::any(),
                ServiceSet::any(),
                format!(
                    "pfSense system rule: block in{lb} quick from <virusprot> to any (\"virusprot overload table\")"
                ),
            );
            e.undecidable = Some(
                "the source in table virusprot, which rules with max-src-conn-rate fill at run time".into(),
            );
            out.push(e);
        }
        if inbound && let Some(place) = place {
            out.extend(self.portal_entries(place));
            out.extend(self.interface_blocks(place));
        }
        out
    }

    fn portal_entries(&self, place: &str) -> Vec<Entry> {
        let mut out = Vec::new();
        for (zone, ifaces) in &self.portals {
            if ifaces.iter().any(|i| i == place) {
                let mut e = system(
                    Action::Deny,
                    false,
                    None,
                    AddrSet::any(),
                    AddrSet::any(),
                    ServiceSet::any(),
                    format!("captive portal zone {zone} on {place}"),
                );
                e.undecidable = Some(format!(
                    "captive portal zone {zone}: a client passes only once logged in"
                ));
                out.push(e);
            }
        }
        out
    }

    /// The bogon and private-network blocks of one interface.
    fn interface_blocks(&self, place: &str) -> Vec<Entry> {
        let Some(iface) = self.interface(place) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let lb = Self::log_word(self.log_bogons);
        if iface.blockbogons {
            let mut tables = vec![(Family::V4, "bogons", "IPv4")];
            if self.ipv6allow {
                tables.push((Family::V6, "bogonsv6", "IPv6"));
            }
            for (family, table, word) in tables {
                let mut e = system(
                    Action::Deny,
                    self.log_bogons,
                    Some(family),
                    AddrSet::any(),
                    AddrSet::any(),
                    ServiceSet::any(),
                    format!(
                        "pfSense system rule: block in{lb} quick on {place} from <{table}> to any (\"block bogon {word} networks from {place}\")"
                    ),
                );
                e.undecidable = Some(format!(
                    "the source in table {table}, the bogon list pfSense downloads"
                ));
                out.push(e);
            }
        }
        // filter.inc: `stristr($bridge['members'], $on)`, a substring test.
        let bridged = self.bridge_members.iter().any(|m| m.contains(place));
        if iface.blockpriv && !bridged {
            let lp = Self::log_word(self.log_private);
            for (n, family) in [
                ("10.0.0.0/8", Family::V4),
                ("127.0.0.0/8", Family::V4),
                ("172.16.0.0/12", Family::V4),
                ("192.168.0.0/16", Family::V4),
                ("fc00::/7", Family::V6),
            ] {
                out.push(system(
                    Action::Deny,
                    self.log_private,
                    Some(family),
                    net(n),
                    AddrSet::any(),
                    ServiceSet::any(),
                    format!("pfSense system rule: block in{lp} quick on {place} from {n} to any (\"Block private networks from {place}\")"),
                ));
            }
        }
        out
    }

    fn default_deny(&self) -> Decision {
        Decision {
            action: Action::Deny,
            log: self.log_default_block,
            origin: Origin {
                line: 0,
                column: 0,
                text: format!(
                    "pfSense default deny rule: block in{} inet/inet6 all (\"Default deny rule\")",
                    Self::log_word(self.log_default_block)
                ),
                rule: None,
            },
        }
    }

    fn let_out(&self) -> Decision {
        Decision {
            action: Action::Allow,
            log: self.log_default_pass,
            origin: Origin {
                line: 0,
                column: 0,
                text: format!(
                    "pfSense system rule: pass out{} all keep state (\"let out anything from firewall host itself\")",
                    Self::log_word(self.log_default_pass)
                ),
                rule: None,
            },
        }
    }
}

// ------------------------------------------------------------------ the device

/// Whether a user entry applies to packets going `way` on `place` (`None`:
/// a place the configuration does not declare).
fn applies(scope: &Scope, way: Direction, place: Option<&str>) -> Option<bool> {
    match scope {
        Scope::Floating {
            quick,
            direction,
            on,
        } => {
            let here = match (on, place) {
                (None, _) => true,
                (Some(on), Some(p)) => on.contains(p),
                (Some(_), None) => false,
            };
            (direction.covers(way) && here).then_some(*quick)
        }
        _ if way == Direction::Out => None,
        Scope::Group(members) => place.is_some_and(|p| members.contains(p)).then_some(true),
        Scope::Interface(key) => (place == Some(key.as_str())).then_some(true),
    }
}

/// The first-match list of one place and way: quick entries in order,
/// then the non-quick ones last-match first.
fn flatten(
    system: Vec<Entry>,
    user: &mut [UserEntry],
    way: Direction,
    place: Option<&str>,
) -> Vec<Entry> {
    let mut quick = system;
    let mut last_match = Vec::new();
    for u in user {
        let Some(is_quick) = applies(&u.scope, way, place) else {
            continue;
        };
        u.left -= 1;
        let entry = if u.left == 0 {
            u.entry.take()
        } else {
            u.entry.clone()
        };
        let entry = entry.expect("an entry is taken by its last filter only");
        if is_quick {
            quick.push(entry);
        } else {
            last_match.push(entry);
        }
    }
    quick.extend(last_match.into_iter().rev());
    quick
}

impl Config<'_, '_> {
    fn device(mut self) -> Result<Device, DeviceError> {
        let places = self.places();
        if self.disablefilter {
            return Ok(Device {
                target: Target::PfSense,
                places: Some(places),
                layers: vec![Layer {
                    name: "pf disabled".into(),
                    filters: vec![Filter {
                        name: "all interfaces".into(),
                        guard: Guard::any(),
                        entries: Vec::new(),
                        default: Decision {
                            action: Action::Allow,
                            log: false,
                            origin: Origin {
                                line: 0,
                                column: 0,
                                text: "packet filtering is disabled (System > Advanced > Firewall & NAT: Disable all packet filtering)".into(),
                                rule: None,
                            },
                        },
                    }],
                    unfiltered: Action::Allow,
                }],
                skipped: self.skips.list(),
            });
        }
        let mut user = self.user_entries()?;
        // The filters `layer` flattens, in its order: each entry counts
        // those it is in, so the last one takes it and only the others
        // copy it.
        for way in [Direction::In, Direction::Out] {
            let flattened = places.iter().filter(|p| self.forwards(p));
            for place in flattened.map(|p| Some(p.as_str())).chain([None]) {
                for u in &mut user {
                    if applies(&u.scope, way, place).is_some() {
                        u.left += 1;
                    }
                }
            }
        }
        let inbound = self.layer(&places, &mut user, Direction::In);
        let outbound = self.layer(&places, &mut user, Direction::Out);
        Ok(Device {
            target: Target::PfSense,
            places: Some(places),
            layers: vec![inbound, outbound],
            skipped: self.skips.list(),
        })
    }

    /// Whether a place has a filter of its own: not an interface that is
    /// declared but not enabled (which forwards nothing).
    fn forwards(&self, place: &str) -> bool {
        self.interface(place).is_none_or(|i| i.enabled)
    }

    fn layer(&self, places: &[String], user: &mut [UserEntry], way: Direction) -> Layer {
        let (word, guard): (&str, fn(PlaceSet) -> Guard) = match way {
            Direction::In => ("in on", Guard::ingress),
            _ => ("out on", Guard::egress),
        };
        let default = |s: &Self| match way {
            Direction::In => s.default_deny(),
            _ => s.let_out(),
        };
        let mut filters = Vec::new();
        for place in places {
            if !self.forwards(place) {
                let i = self.interface(place).expect("declared");
                filters.push(Filter {
                    name: format!("{word} {place} (disabled)"),
                    guard: guard(PlaceSet::of([place.as_str()])),
                    entries: Vec::new(),
                    default: Decision {
                        action: Action::Deny,
                        log: false,
                        origin: Origin {
                            line: i.line,
                            column: i.column,
                            text: format!("interface {place} is not enabled: it forwards nothing"),
                            rule: None,
                        },
                    },
                });
                continue;
            }
            let system = self.system_quick(way, Some(place));
            filters.push(Filter {
                name: format!("{word} {place}"),
                guard: guard(PlaceSet::of([place.as_str()])),
                entries: flatten(system, user, way, Some(place)),
                default: default(self),
            });
        }
        // A place the configuration does not declare meets the rules bound
        // to no interface.
        filters.push(Filter {
            name: format!("{word} an interface the configuration does not declare"),
            guard: Guard::any(),
            entries: flatten(self.system_quick(way, None), user, way, None),
            default: default(self),
        });
        Layer {
            name: match way {
                Direction::In => "inbound (pf rules in on the interface a packet enters by)".into(),
                _ => "outbound (pf rules out on the interface a packet leaves by)".into(),
            },
            filters,
            unfiltered: Action::Allow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Packet;

    /// A minimal backup: wan (DHCP, private and bogon blocks), lan and
    /// opt1 static, `extra` top-level sections and these rules.
    fn config(system: &str, aliases: &str, rules: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?>\n<pfsense>\n<system>{system}</system>\n<interfaces>\n\
             <wan><enable></enable><if>em0</if><ipaddr>dhcp</ipaddr><blockpriv></blockpriv><blockbogons></blockbogons></wan>\n\
             <lan><enable></enable><if>em1</if><ipaddr>10.0.0.1</ipaddr><subnet>24</subnet><ipaddrv6>fd00::1</ipaddrv6><subnetv6>64</subnetv6></lan>\n\
             <opt1><enable></enable><if>em2</if><ipaddr>10.1.0.1</ipaddr><subnet>24</subnet></opt1>\n\
             </interfaces>\n<aliases>{aliases}</aliases>\n<filter>\n{rules}</filter>\n</pfsense>\n"
        )
    }

    fn rule(fields: &str) -> String {
        format!("<rule>{fields}</rule>\n")
    }

    const ANY: &str = "<source><any></any></source><destination><any></any></destination>";

    fn decide(
        d: &Device,
        src: &str,
        dst: &str,
        proto: &str,
        ingress: &str,
        egress: &str,
    ) -> (Action, usize) {
        let o = d.decide(
            &Packet::parse(src, dst, proto).unwrap(),
            Some(ingress),
            Some(egress),
        );
        let step = if o.action.permits() {
            o.steps.first()
        } else {
            o.steps.last()
        };
        (o.action, step.map_or(0, |s| s.1.origin.line))
    }

    #[test]
    fn lines_agree_with_the_line_index_in_any_order() {
        let text = "<a>\n\t<é>x</é>\n\n<b/>\r\n  <c>\n</c></a>";
        let index = crate::read::export::LineIndex::new(text);
        let lines = Lines::new();
        let mut offsets: Vec<usize> = (0..=text.len())
            .filter(|&o| text.is_char_boundary(o))
            .collect();
        // Ascending, then again from the start, then descending.
        offsets.extend(offsets.clone());
        offsets.extend(offsets.clone().into_iter().rev());
        for o in offsets {
            assert_eq!(lines.at(text, o), index.at(text, o), "offset {o}");
        }
    }

    #[test]
    fn quick_rules_match_first_and_non_quick_ones_last() {
        let rules = [
            // line 11: non-quick floating pass, any interface
            rule(&format!("<type>pass</type><floating>yes</floating><interface></interface>{ANY}")),
            // line 12: non-quick floating block on lan for tcp
            rule(&format!("<type>block</type><floating>yes</floating><interface>lan</interface><protocol>tcp</protocol>{ANY}")),
            // line 13: interface rule (quick) on lan for tcp/22
            rule("<type>pass</type><interface>lan</interface><protocol>tcp</protocol><source><any></any></source><destination><any></any><port>22</port></destination>"),
        ]
        .concat();
        let d = read(&config("<ipv6allow></ipv6allow>", "", &rules)).unwrap();
        // tcp/22: the quick interface rule.
        assert_eq!(
            decide(&d, "10.0.0.5", "10.1.0.5", "tcp/22", "lan", "opt1"),
            (Action::Allow, 13)
        );
        // Other tcp: both floating rules match, the later one wins.
        assert_eq!(
            decide(&d, "10.0.0.5", "10.1.0.5", "tcp/80", "lan", "opt1"),
            (Action::Deny, 12)
        );
        // udp: only the first floating rule.
        assert_eq!(
            decide(&d, "10.0.0.5", "10.1.0.5", "udp/53", "lan", "opt1"),
            (Action::Allow, 11)
        );
        // From opt1 it passes inbound (the lan-only rule is not on opt1),
        // but that rule's direction is any: it blocks the way out on lan.
        let o = d.decide(
            &Packet::parse("10.1.0.5", "10.0.0.5", "tcp/80").unwrap(),
            Some("opt1"),
            Some("lan"),
        );
        assert_eq!(o.steps[0].1.origin.line, 11);
        assert_eq!((o.action, o.steps[1].1.origin.line), (Action::Deny, 12));
        // The floating rule without interfaces also filters the way out
        // (direction any); the catch-all filter of undeclared places too.
        let out = &d.layers[1].filters;
        assert!(
            out.iter()
                .all(|f| f.entries.iter().any(|e| e.decision.origin.line == 11))
        );
    }

    #[test]
    fn floating_rules_on_interfaces_it_lacks_apply_everywhere() {
        let rules = rule(&format!(
            "<type>block</type><floating>yes</floating><quick>yes</quick><interface>opt9</interface><direction>in</direction>{ANY}"
        ));
        let d = read(&config("", "", &rules)).unwrap();
        assert_eq!(
            decide(&d, "10.1.0.5", "10.0.0.5", "udp/53", "opt1", "lan"),
            (Action::Deny, 11)
        );
        // A non-floating rule on it is not loaded at all.
        let rules = rule(&format!(
            "<type>pass</type><interface>opt9</interface>{ANY}"
        ));
        let d = read(&config("", "", &rules)).unwrap();
        assert_eq!(d.skipped, ["rules pfSense does not load (1 rule)"]);
    }

    #[test]
    fn system_rules_follow_the_settings() {
        let rules = rule(&format!(
            "<type>pass</type><interface>wan</interface><ipprotocol>inet46</ipprotocol>{ANY}"
        ));
        // Without ipv6allow every IPv6 packet is blocked first.
        let d = read(&config("", "", &rules)).unwrap();
        assert_eq!(
            decide(&d, "2001:db8::1", "fd00::5", "tcp/443", "wan", "lan"),
            (Action::Deny, 0)
        );
        let d = read(&config("<ipv6allow></ipv6allow>", "", &rules)).unwrap();
        assert_eq!(
            decide(&d, "2001:db8::1", "fd00::5", "tcp/443", "wan", "lan"),
            (Action::Allow, 11)
        );
        // The private-network block on wan, before the rule.
        assert_eq!(
            decide(&d, "192.168.1.1", "10.0.0.5", "tcp/443", "wan", "lan"),
            (Action::Deny, 0)
        );
        // Port 0 and link-local.
        let port0 = Packet {
            src: "198.51.100.1".parse().unwrap(),
            dst: "10.0.0.5".parse().unwrap(),
            proto: crate::ir::Proto::Tcp { dport: 0 },
        };
        assert_eq!(
            d.decide(&port0, Some("wan"), Some("lan")).action,
            Action::Deny
        );
        assert_eq!(
            decide(&d, "169.254.0.9", "10.0.0.5", "tcp/443", "wan", "lan"),
            (Action::Deny, 0)
        );
        let d = read(&config(
            "<ipv6allow></ipv6allow><no_apipa_block></no_apipa_block>",
            "",
            &rules,
        ))
        .unwrap();
        assert_eq!(
            decide(&d, "169.254.0.9", "10.0.0.5", "tcp/443", "wan", "lan"),
            (Action::Allow, 11)
        );
        // The bogon tables are undecidable.
        let o = d.decide(
            &Packet::parse("198.51.100.1", "10.0.0.5", "tcp/443").unwrap(),
            Some("wan"),
            Some("lan"),
        );
        assert_eq!(o.undecided.len(), 1);
        // Filtering disabled: everything passes.
        let d = read(&config("<disablefilter></disablefilter>", "", "")).unwrap();
        assert_eq!(
            decide(&d, "10.0.0.5", "10.1.0.5", "tcp/22", "lan", "opt1").0,
            Action::Allow
        );
    }

    #[test]
    fn ports_flags_and_protocols_are_read_as_filter_inc_writes_them() {
        let rules = [
            // 11: `1-1024` is `port <= 1024`, port 0 included.
            rule("<type>pass</type><interface>lan</interface><protocol>udp</protocol><source><any></any></source><destination><any></any><port>1-1024</port></destination>"),
            // 12: a port without a protocol is all of TCP.
            rule("<type>pass</type><interface>lan</interface><source><any></any></source><destination><any></any><port>443</port></destination>"),
            // 13: flags a SYN does not carry: matches no new flow.
            rule(&("<type>block</type><interface>opt1</interface><protocol>tcp</protocol><tcpflags1>ack</tcpflags1><tcpflags2>syn,ack</tcpflags2>".to_string() + ANY)),
            // 14: a source port only some client ports meet.
            rule("<type>block</type><interface>opt1</interface><protocol>tcp</protocol><source><any></any><port>1024-2000</port></source><destination><any></any></destination>"),
            // 15: a source port below 1024: never.
            rule("<type>block</type><interface>opt1</interface><protocol>udp</protocol><source><any></any><port>53</port></source><destination><any></any></destination>"),
            // 16: esp, with a port that filter.inc ignores for it.
            rule("<type>pass</type><interface>opt1</interface><protocol>esp</protocol><source><any></any></source><destination><any></any><port>500</port></destination>"),
        ]
        .concat();
        let d = read(&config("", "", &rules)).unwrap();
        assert_eq!(
            decide(&d, "10.0.0.5", "10.1.0.5", "udp/1024", "lan", "opt1"),
            (Action::Allow, 11)
        );
        assert_eq!(
            decide(&d, "10.0.0.5", "10.1.0.5", "udp/1025", "lan", "opt1"),
            (Action::Deny, 0)
        );
        assert_eq!(
            decide(&d, "10.0.0.5", "10.1.0.5", "tcp/22", "lan", "opt1"),
            (Action::Allow, 12)
        );
        let o = d.decide(
            &Packet::parse("10.1.0.5", "10.0.0.5", "tcp/22").unwrap(),
            Some("opt1"),
            Some("lan"),
        );
        assert_eq!(o.action, Action::Deny);
        assert_eq!(
            o.steps[0].1.origin.line, 0,
            "the default, not line 13 or 15"
        );
        assert_eq!(o.undecided.len(), 1);
        assert_eq!(o.undecided[0].decision.origin.line, 14);
        assert_eq!(
            decide(&d, "10.1.0.5", "10.0.0.5", "esp", "opt1", "lan"),
            (Action::Allow, 16)
        );
        assert!(
            d.skipped
                .contains(&"rules that match no new flow from a client port (2 rules)".to_string())
        );
    }

    #[test]
    fn aliases_nest_and_fqdns_urls_and_dynamic_subnets_are_undecidable() {
        let aliases = "<alias><name>INNER</name><type>host</type><address>10.1.0.7</address></alias>\
             <alias><name>OUTER</name><type>network</type><address>INNER 10.1.0.16/28 10.1.0.40-10.1.0.41</address></alias>\
             <alias><name>CLOUD</name><type>host</type><address>cloud.example.com 10.1.0.99</address></alias>\
             <alias><name>FEED</name><type>urltable</type><url>https://feed.example/list.txt</url></alias>";
        let rules = [
            rule("<type>pass</type><interface>lan</interface><source><any></any></source><destination><address>OUTER</address></destination>"),
            rule("<type>pass</type><interface>lan</interface><source><any></any></source><destination><address>CLOUD</address></destination>"),
            rule("<type>block</type><interface>lan</interface><source><any></any></source><destination><address>FEED</address></destination>"),
            rule("<type>pass</type><interface>lan</interface><source><any></any></source><destination><network>wan</network></destination>"),
        ]
        .concat();
        let d = read(&config("", aliases, &rules)).unwrap();
        for ip in ["10.1.0.7", "10.1.0.20", "10.1.0.41"] {
            assert_eq!(
                decide(&d, "10.0.0.5", ip, "tcp/1", "lan", "opt1"),
                (Action::Allow, 11),
                "{ip}"
            );
        }
        let o = d.decide(
            &Packet::parse("10.0.0.5", "10.1.0.8", "tcp/1").unwrap(),
            Some("lan"),
            Some("opt1"),
        );
        let why: Vec<&str> = o
            .undecided
            .iter()
            .map(|e| e.undecidable.as_deref().unwrap())
            .collect();
        assert_eq!(
            why,
            [
                "FQDN cloud.example.com in alias CLOUD (resolved at run time)",
                "urltable alias FEED (its addresses are downloaded at run time)",
                "the subnet of wan (dhcp, learnt at run time)",
            ]
        );
        assert_eq!(o.action, Action::Deny);
    }

    #[test]
    fn disabled_match_and_self_rules_are_skipped_and_listed() {
        let rules = [
            rule(&format!("<type>pass</type><interface>lan</interface><disabled></disabled>{ANY}")),
            rule(&format!("<type>match</type><floating>yes</floating><interface>lan</interface>{ANY}")),
            rule("<type>pass</type><interface>lan</interface><source><any></any></source><destination><network>(self)</network></destination>"),
            rule("<type>pass</type><interface>lan</interface><source><any></any></source><destination><not></not><network>lanip</network></destination>"),
        ]
        .concat();
        let d = read(&config("", "", &rules)).unwrap();
        assert_eq!(
            d.skipped,
            [
                "disabled rules (1 rule)",
                "floating match rules (1 rule)",
                "rules to or from the firewall itself (1 rule)",
            ]
        );
        // `! lanip`: every forwarded packet.
        assert_eq!(
            decide(&d, "10.0.0.5", "10.1.0.5", "tcp/1", "lan", "opt1"),
            (Action::Allow, 14)
        );
    }

    #[test]
    fn what_is_not_understood_is_refused_with_its_place() {
        let cases = [
            (
                rule(&format!(
                    "<type>allow</type><interface>lan</interface>{ANY}"
                )),
                "rule type `allow`",
            ),
            (
                rule(&format!(
                    "<type>pass</type><interface>lan</interface><frob></frob>{ANY}"
                )),
                "rule field <frob>",
            ),
            (
                rule(&format!(
                    "<type>pass</type><interface>lan</interface><protocol>ipip</protocol>{ANY}"
                )),
                "<protocol> `ipip`",
            ),
            (
                rule(&format!(
                    "<type>pass</type><interface>lan</interface><protocol>icmp</protocol><icmptype>neighbrsol</icmptype>{ANY}"
                )),
                "ICMP type `neighbrsol`",
            ),
            (
                rule(
                    "<type>pass</type><interface>lan</interface><source><any></any></source><destination><address>fd00::1</address></destination>",
                ),
                "pfctl refuses",
            ),
        ];
        for (rules, message) in cases {
            let e = read(&config("", "", &rules)).unwrap_err();
            assert_eq!(e.line, 11, "{e}");
            assert!(e.message.contains(message), "{e}");
        }
        assert!(
            read("<pfsense><filter></filter></pfsense>")
                .unwrap_err()
                .message
                .contains("no <interfaces>")
        );
        let e = read("<pfsense>\n<a></b>").unwrap_err();
        assert!(e.line == 2 && e.message.starts_with("not XML"), "{e}");
    }
}
