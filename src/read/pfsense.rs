//! A reader for the pfSense `config.xml` the pfsense renderer writes, and a
//! first-match model of how pfSense's `filter.inc` turns its rules into pf
//! rules, per ingress interface.
//!
//! The reader checks every pfSense field rule (the ones that make pfSense
//! skip a rule, pass instead of block, or refuse the whole file) and refuses
//! the file on any violation. It and the evaluator are written from
//! pfSense's documented behaviour (see `docs/targets/pfsense.md`), not from
//! the renderer's code: they have their own ICMP and protocol tables and
//! their own port rules, so the tests that hold the renderer's output to
//! the IR through them are an independent check. `wardwall explain --target
//! pfsense` answers from them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

use super::{Reader, TargetVerdict, same_subnet_note};
use crate::ir::{Action, Ir, Packet, Proto};
use crate::vocab::Target;

/// The target the reader answers for; zones name their interfaces under
/// it.
const TARGET: &str = Target::PfSense.name();

// ------------------------------------------------------------------ parsing

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedAlias {
    pub kind: String,
    pub entries: Vec<String>,
    pub descr: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedRule {
    pub tracker: u64,
    pub kind: String,
    pub interface: String,
    pub ipprotocol: String,
    pub protocol: Option<String>,
    pub icmptype: Option<String>,
    /// `None` = `<any/>`.
    pub source: Option<String>,
    pub destination: Option<String>,
    pub port: Option<String>,
    pub descr: String,
    pub log: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub aliases: BTreeMap<String, ParsedAlias>,
    pub rules: Vec<ParsedRule>,
}

/// Tags pfSense's xmlparse.inc lets repeat (`listtags()`, the part that
/// can occur in these sections).
pub(crate) const LIST_TAGS: &[&str] = &["rule", "alias"];

pub(crate) const RESERVED_ALIAS_NAMES: &[&str] = &[
    // `port` / `pass`, protocol names, common service names, pf keywords,
    // reserved tables, interface macros.
    "port",
    "pass",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "ipv6-icmp",
    "gre",
    "esp",
    "ah",
    "igmp",
    "pim",
    "ospf",
    "sctp",
    "carp",
    "pfsync",
    "etherip",
    "ipv6",
    "http",
    "https",
    "ssh",
    "domain",
    "ntp",
    "all",
    "any",
    "block",
    "in",
    "out",
    "on",
    "from",
    "to",
    "inet",
    "inet6",
    "keep",
    "state",
    "label",
    "quick",
    "log",
    "table",
    "self",
    "bogons",
    "bogonsv6",
    "sshguard",
    "snort2c",
    "virusprot",
    "vpn_networks",
    "negate_networks",
    "tonatsubnets",
    "wan",
    "lan",
    "WAN",
    "LAN",
    "OPT1",
    "LAN__NETWORK",
    "WAN__NETWORK",
];

/// pfSense's ICMP type names with the families each is valid for
/// (filter.inc `$icmptypes`), and their numbers (pf's tables).
pub(crate) const ICMP4: &[(&str, u8)] = &[
    ("echorep", 0),
    ("unreach", 3),
    ("squench", 4),
    ("redir", 5),
    ("althost", 6),
    ("echoreq", 8),
    ("routeradv", 9),
    ("routersol", 10),
    ("timex", 11),
    ("paramprob", 12),
    ("timereq", 13),
    ("timerep", 14),
    ("inforeq", 15),
    ("inforep", 16),
    ("maskreq", 17),
    ("maskrep", 18),
    ("trace", 30),
    ("dataconv", 31),
    ("mobredir", 32),
    ("ipv6-where", 33),
    ("ipv6-here", 34),
    ("mobregreq", 35),
    ("mobregrep", 36),
    ("skip", 39),
    ("photuris", 40),
];
pub(crate) const ICMP6: &[(&str, u8)] = &[
    ("unreach", 1),
    ("toobig", 2),
    ("timex", 3),
    ("paramprob", 4),
    ("echoreq", 128),
    ("echorep", 129),
    ("groupqry", 130),
    ("listqry", 130),
    ("grouprep", 131),
    ("listenrep", 131),
    ("groupterm", 132),
    ("listendone", 132),
    ("routersol", 133),
    ("routeradv", 134),
    ("neighbrsol", 135),
    ("neighbradv", 136),
    ("redir", 137),
    ("routrrenum", 138),
    ("wrureq", 139),
    ("fqdnreq", 139),
    ("niqry", 139),
    ("wrurep", 140),
    ("fqdnrep", 140),
    ("nirep", 140),
    ("mtraceresp", 200),
    ("mtrace", 201),
];

/// `<protocol>` values pfSense rules accept, with their IP protocol numbers
/// (tcp/udp/icmp handled separately).
pub(crate) const PROTOCOLS: &[(&str, u8)] = &[
    ("igmp", 2),
    ("ipv6", 41),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("ospf", 89),
    ("etherip", 97),
    ("pim", 103),
    ("carp", 112),
    ("sctp", 132),
    ("pfsync", 240),
];

pub(crate) fn icmp_number(name: &str, v6: bool) -> Option<u8> {
    let table = if v6 { ICMP6 } else { ICMP4 };
    table.iter().find(|(n, _)| *n == name).map(|&(_, t)| t)
}

pub(crate) fn is_port(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
        && !s.starts_with('0')
        && s.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p))
}

pub(crate) fn text_of(node: roxmltree::Node<'_, '_>) -> String {
    node.children()
        .filter(|c| c.is_text())
        .map(|c| c.text().unwrap_or(""))
        .collect()
}

/// Parses a rendered file and checks every pfSense field rule; returns the
/// parsed sections or the list of violations.
pub fn parse(xml: &str) -> Result<Parsed, Vec<String>> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| vec![format!("not XML: {e}")])?;
    let mut errors = Vec::new();
    let root = doc.root_element();
    if root.tag_name().name() != "pfsense" {
        errors.push(format!("root is <{}>", root.tag_name().name()));
    }
    // Area restore finds the section by the literal, attribute-less tag.
    for tag in ["<filter>", "<aliases>"] {
        if !xml.contains(tag) {
            errors.push(format!("literal {tag} missing"));
        }
    }
    for node in doc.descendants().filter(|n| n.is_element()) {
        let name = node.tag_name().name();
        if name != name.to_ascii_lowercase() {
            errors.push(format!("tag <{name}> is not lower case"));
        }
        if node.attributes().len() != 0 {
            errors.push(format!("<{name}> has attributes (pfSense ignores them)"));
        }
        // Repeated non-list tags make the whole file fail to load.
        let mut seen = BTreeSet::new();
        for child in node.children().filter(|c| c.is_element()) {
            let cname = child.tag_name().name();
            if !seen.insert(cname) && !LIST_TAGS.contains(&cname) {
                errors.push(format!("<{cname}> repeated under <{name}>"));
            }
        }
    }
    let section = |tag: &str| root.children().find(|c| c.has_tag_name(tag));
    let mut aliases = BTreeMap::new();
    if let Some(sec) = section("aliases") {
        for a in sec.children().filter(|c| c.is_element()) {
            if !a.has_tag_name("alias") {
                errors.push(format!("<{}> inside <aliases>", a.tag_name().name()));
                continue;
            }
            let field = |f: &str| a.children().find(|c| c.has_tag_name(f)).map(text_of);
            for c in a.children().filter(|c| c.is_element()) {
                let n = c.tag_name().name();
                if !["name", "type", "address", "descr"].contains(&n) {
                    errors.push(format!("unexpected <{n}> in an alias"));
                }
            }
            let name = field("name").unwrap_or_default();
            check_alias_name(&name, &mut errors);
            let kind = field("type").unwrap_or_default();
            let address = field("address").unwrap_or_default();
            let entries: Vec<String> = address.split(' ').map(str::to_string).collect();
            if address.is_empty() || entries.iter().any(String::is_empty) {
                errors.push(format!(
                    "alias {name}: entries must be separated by exactly one space: `{address}`"
                ));
            }
            if entries.len() > 5000 {
                errors.push(format!("alias {name} has more than 5000 entries"));
            }
            if entries.contains(&name) {
                errors.push(format!("alias {name} contains itself"));
            }
            for e in &entries {
                let ok = match kind.as_str() {
                    "host" => e.parse::<IpAddr>().is_ok(),
                    "network" => e
                        .parse::<IpNet>()
                        .is_ok_and(|n| n.trunc() == n && e.contains('/')),
                    "port" => match e.split_once(':') {
                        None => is_port(e),
                        Some((lo, hi)) => {
                            is_port(lo)
                                && is_port(hi)
                                && lo.parse::<u32>().unwrap() < hi.parse::<u32>().unwrap()
                        }
                    },
                    other => {
                        errors.push(format!("alias {name} has type `{other}`"));
                        true
                    }
                };
                if !ok {
                    errors.push(format!("alias {name} ({kind}) has a bad entry `{e}`"));
                }
            }
            let descr = field("descr").unwrap_or_default();
            if aliases
                .insert(
                    name.clone(),
                    ParsedAlias {
                        kind,
                        entries,
                        descr,
                    },
                )
                .is_some()
            {
                errors.push(format!("alias {name} defined twice"));
            }
        }
    } else {
        errors.push("no <aliases>".into());
    }
    let mut rules = Vec::new();
    let mut trackers = BTreeSet::new();
    if let Some(sec) = section("filter") {
        for r in sec.children().filter(|c| c.is_element()) {
            if !r.has_tag_name("rule") {
                errors.push(format!("<{}> inside <filter>", r.tag_name().name()));
                continue;
            }
            match parse_rule(r, &aliases, &mut errors) {
                Some(rule) => {
                    if !trackers.insert(rule.tracker) {
                        errors.push(format!("tracker {} is used twice", rule.tracker));
                    }
                    rules.push(rule);
                }
                None => errors.push("a rule could not be read".into()),
            }
        }
    } else {
        errors.push("no <filter>".into());
    }
    if errors.is_empty() {
        Ok(Parsed { aliases, rules })
    } else {
        Err(errors)
    }
}

pub(crate) fn check_alias_name(name: &str, errors: &mut Vec<String>) {
    let ok = !name.is_empty()
        && name.len() <= 31
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.bytes().all(|b| b.is_ascii_digit())
        && !name.bytes().all(|b| b == b'_')
        && !name.starts_with("pkg_")
        && !name.starts_with("cpzoneid_")
        && !RESERVED_ALIAS_NAMES
            .iter()
            .any(|r| r.eq_ignore_ascii_case(name));
    if !ok {
        errors.push(format!("`{name}` is not a valid pfSense alias name"));
    }
}

pub(crate) fn parse_rule(
    r: roxmltree::Node<'_, '_>,
    aliases: &BTreeMap<String, ParsedAlias>,
    errors: &mut Vec<String>,
) -> Option<ParsedRule> {
    const FIELDS: &[&str] = &[
        "tracker",
        "type",
        "interface",
        "ipprotocol",
        "protocol",
        "icmptype",
        "source",
        "destination",
        "descr",
        "log",
    ];
    for c in r.children().filter(|c| c.is_element()) {
        let n = c.tag_name().name();
        if !FIELDS.contains(&n) {
            // e.g. <disabled> (a presence flag: any value disables) or
            // <floating>: neither may ever be written.
            errors.push(format!("unexpected <{n}> in a rule"));
        }
    }
    let el = |f: &str| r.children().find(|c| c.has_tag_name(f));
    let field = |f: &str| el(f).map(text_of);
    let tracker_text = field("tracker")?;
    let tracker: u64 = tracker_text.parse().ok()?;
    if tracker >= 1 << 32
        || (10_000..14_000).contains(&tracker)
        || (1_000_000_000..1_001_000_000).contains(&tracker)
    {
        errors.push(format!("tracker {tracker} is outside the safe range"));
    }
    let kind = field("type")?;
    if !["pass", "block", "reject"].contains(&kind.as_str()) {
        // Anything else becomes PASS in filter.inc.
        errors.push(format!("rule type `{kind}`"));
    }
    let interface = field("interface")?;
    if !(interface == "wan"
        || interface == "lan"
        || interface.strip_prefix("opt").is_some_and(is_port))
    {
        errors.push(format!("interface `{interface}`"));
    }
    let ipprotocol = field("ipprotocol")?;
    if !["inet", "inet6", "inet46"].contains(&ipprotocol.as_str()) {
        errors.push(format!("ipprotocol `{ipprotocol}`"));
    }
    let protocol = field("protocol");
    if let Some(p) = &protocol
        && !["tcp", "udp", "tcp/udp", "icmp"].contains(&p.as_str())
        && !PROTOCOLS.iter().any(|(n, _)| n == p)
    {
        errors.push(format!("protocol `{p}`"));
    }
    let icmptype = field("icmptype");
    if let Some(t) = &icmptype {
        if protocol.as_deref() != Some("icmp") {
            errors.push("icmptype without protocol icmp".into());
        }
        for name in t.split(',') {
            let v4 = icmp_number(name, false).is_some();
            let v6 = icmp_number(name, true).is_some();
            let ok = match ipprotocol.as_str() {
                "inet" => v4,
                "inet6" => v6,
                _ => v4 && v6,
            };
            if !ok {
                errors.push(format!("icmptype `{name}` is not valid for {ipprotocol}"));
            }
        }
    }
    let side = |tag: &str, errors: &mut Vec<String>| -> Option<(Option<String>, Option<String>)> {
        let node = el(tag)?;
        let any = node.children().any(|c| c.has_tag_name("any"));
        let address = node
            .children()
            .find(|c| c.has_tag_name("address"))
            .map(text_of);
        let port = node
            .children()
            .find(|c| c.has_tag_name("port"))
            .map(text_of);
        for c in node.children().filter(|c| c.is_element()) {
            let n = c.tag_name().name();
            if !["any", "address", "port"].contains(&n) {
                errors.push(format!("<{n}> in <{tag}>"));
            }
        }
        if any == address.is_some() {
            errors.push(format!("<{tag}> needs exactly one of <any/> and <address>"));
        }
        if let Some(a) = &address {
            match aliases.get(a) {
                Some(al) if al.kind == "host" || al.kind == "network" => {}
                Some(al) => errors.push(format!("<{tag}> uses {} alias {a}", al.kind)),
                None => {
                    // A literal: pfSense takes it, but an IPv6 literal in
                    // an inet rule or any literal in an inet46 rule is
                    // wrong. This renderer never writes literals at all.
                    if a.parse::<IpAddr>().is_ok() || a.parse::<IpNet>().is_ok() {
                        errors.push(format!("<{tag}> holds the literal `{a}`"));
                    } else {
                        // An undefined alias makes pfSense skip the rule.
                        errors.push(format!("<{tag}> refers to undefined alias `{a}`"));
                    }
                }
            }
        }
        Some((address, port))
    };
    let (source, sport) = side("source", errors)?;
    if sport.is_some() {
        errors.push("source port".into());
    }
    let (destination, port) = side("destination", errors)?;
    if let Some(p) = &port {
        if !matches!(protocol.as_deref(), Some("tcp" | "udp" | "tcp/udp")) {
            errors.push(format!("port `{p}` without tcp/udp"));
        }
        let literal = match p.split_once('-') {
            None => is_port(p),
            Some((lo, hi)) => {
                is_port(lo)
                    && is_port(hi)
                    && lo.parse::<u32>().unwrap() < hi.parse::<u32>().unwrap()
            }
        };
        if !literal && aliases.get(p).is_none_or(|a| a.kind != "port") {
            // An undefined port alias drops the port clause: a pass rule
            // would then match every port.
            errors.push(format!("port `{p}` is neither N, N-M nor a port alias"));
        }
        if p.contains(':') {
            errors.push(format!("port `{p}`: rules take N-M, not A:B"));
        }
    }
    let descr = field("descr")?;
    if descr.len() > 52 || descr.contains('"') || descr.contains('\\') || descr.is_empty() {
        errors.push(format!("descr `{descr}` does not survive the pf label"));
    }
    let log = match el("log") {
        None => false,
        Some(n) => {
            if !text_of(n).is_empty() || n.children().any(|c| c.is_element()) {
                errors.push("<log> must be empty (presence flag)".into());
            }
            true
        }
    };
    Some(ParsedRule {
        tracker,
        kind,
        interface,
        ipprotocol,
        protocol,
        icmptype,
        source,
        destination,
        port,
        descr,
        log,
    })
}

// ------------------------------------------------------------------ evaluation

pub(crate) fn alias_contains(parsed: &Parsed, name: &str, addr: IpAddr) -> bool {
    let alias = &parsed.aliases[name];
    alias.entries.iter().any(|e| match alias.kind.as_str() {
        "host" => e.parse::<IpAddr>().unwrap() == addr,
        _ => e.parse::<IpNet>().unwrap().contains(&addr),
    })
}

/// filter.inc `filter_generate_port` for a rule's destination port.
pub(crate) fn port_matches(parsed: &Parsed, field: &str, port: u16) -> bool {
    let p = u32::from(port);
    if let Some(alias) = parsed.aliases.get(field) {
        return alias.entries.iter().any(|e| match e.split_once(':') {
            None => e.parse::<u32>().unwrap() == p,
            Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).contains(&p),
        });
    }
    match field.split_once('-') {
        None => field.parse::<u32>().unwrap() == p,
        Some((a, b)) => {
            let (a, b): (u32, u32) = (a.parse().unwrap(), b.parse().unwrap());
            if a == b {
                p == a
            } else if a == 1 && b == 65535 {
                true // no port statement at all
            } else if b == 65535 {
                p >= a
            } else if a == 1 {
                p <= b // `port <= M`: port 0 too
            } else {
                a - 1 < p && p < b + 1 // `port a-1 >< b+1`
            }
        }
    }
}

pub fn rule_matches(parsed: &Parsed, r: &ParsedRule, pkt: &Packet) -> bool {
    let v6 = pkt.src.is_ipv6();
    let family_ok = match r.ipprotocol.as_str() {
        "inet" => !v6,
        "inet6" => v6,
        _ => true,
    };
    if !family_ok {
        return false;
    }
    let addr_ok =
        |a: &Option<String>, ip: IpAddr| a.as_ref().is_none_or(|n| alias_contains(parsed, n, ip));
    if !addr_ok(&r.source, pkt.src) || !addr_ok(&r.destination, pkt.dst) {
        return false;
    }
    let port_ok = |port: u16| {
        r.port
            .as_ref()
            .is_none_or(|f| port_matches(parsed, f, port))
    };
    match (r.protocol.as_deref(), pkt.proto) {
        (None, _) => true,
        (Some("tcp" | "tcp/udp"), Proto::Tcp { dport }) => port_ok(dport),
        (Some("udp" | "tcp/udp"), Proto::Udp { dport }) => port_ok(dport),
        // `icmp` with inet6 is `proto ipv6-icmp` and `icmp6-type`.
        (Some("icmp"), Proto::Icmp { ty }) => r
            .icmptype
            .as_ref()
            .is_none_or(|list| list.split(',').any(|n| icmp_number(n, v6) == Some(ty))),
        (Some(name), Proto::Other(p)) => PROTOCOLS.iter().any(|&(n, num)| n == name && num == p),
        _ => false,
    }
}

/// The first rule of `interface` matching `pkt`.
pub fn pf_decide<'a>(parsed: &'a Parsed, interface: &str, pkt: &Packet) -> Option<&'a ParsedRule> {
    parsed
        .rules
        .iter()
        .filter(|r| r.interface == interface)
        .find(|r| rule_matches(parsed, r, pkt))
}

// ------------------------------------------------------------------ explain

/// The policy rule a pfSense rule belongs to, read from its description:
/// the renderer writes `NAME` or `NAME: description` (cut to 52 bytes with
/// `...`), and `default: ...` for an interface's closing rule. `None` when
/// the name itself was cut.
pub(crate) fn rule_name(descr: &str) -> Option<&str> {
    match descr.split_once(": ") {
        Some((name, _)) => Some(name),
        None if descr.ends_with("...") => None,
        None => Some(descr),
    }
}

/// The policy rule a description names ([`rule_name`]); a name cut by the
/// 52-byte limit is mapped to the one rule of `ir` it starts.
pub(crate) fn policy_rule_name(ir: &Ir, descr: &str) -> Option<String> {
    if let Some(name) = rule_name(descr) {
        return Some(name.to_string());
    }
    let cut = descr.strip_suffix("...")?;
    let mut hits = ir.rules.iter().filter(|r| r.name.starts_with(cut));
    match (hits.next(), hits.next()) {
        (Some(r), None) => Some(r.name.clone()),
        _ => None,
    }
}

/// `explain --target pfsense`: the packet arrives on the pfSense interface
/// bound to its source's zone and is decided by the first rule of that
/// interface that matches it.
pub(crate) struct Evaluator;

impl Reader for Evaluator {
    fn target(&self) -> Target {
        Target::PfSense
    }

    fn extension(&self) -> &'static str {
        "xml"
    }

    fn device(&self, text: &str) -> Result<super::device::Device, super::device::DeviceError> {
        super::export::pfsense::read(text)
    }

    /// The rendered file is a restore fragment (aliases and rules): it is
    /// deployed by restoring those two areas into the firewall's own
    /// configuration, which keeps everything else (interfaces, their
    /// bogon and private-network blocks, IPv6 settings). Onto the device's
    /// export when there is one; else into a configuration whose
    /// interfaces are the bound ones, enabled, with IPv6 allowed.
    fn deployed(
        &self,
        ir: &Ir,
        rendered: &str,
        onto: Option<&str>,
    ) -> Result<super::device::Device, super::device::DeviceError> {
        let text = match onto.and_then(|device| restored_into(device, rendered)) {
            Some(text) => text,
            None => restored(ir, rendered),
        };
        super::export::pfsense::read(&text)
    }

    fn evaluate(&self, ir: &Ir, text: &str, packet: &Packet) -> Result<TargetVerdict, String> {
        let parsed = parse(text).map_err(|errors| {
            format!(
                "the pfSense file cannot be read back: {}",
                errors.join("; ")
            )
        })?;
        let zone = ir
            .zone_of(packet.src)
            .ok_or_else(|| format!("source {} is in no zone of the policy", packet.src))?;
        let iface = zone.bindings.get(TARGET).ok_or_else(|| {
            format!(
                "zone {} has no pfsense interface binding: the packet arrives on no \
                 interface wardwall filters, so the pfSense output cannot answer",
                zone.name
            )
        })?;
        let place = format!("interface {iface} (zone {})", zone.name);
        let mut notes: Vec<String> = pfsense_own_rules(packet).into_iter().collect();
        if let Some(dst) = ir.zone_of(packet.dst)
            && dst.bindings.get(TARGET) == Some(iface)
        {
            notes.push(same_subnet_note(
                &format!("both behind {iface}"),
                "never reaches pfSense and no rule of this file applies",
            ));
        }
        let Some(rule) = pf_decide(&parsed, iface, packet) else {
            return Ok(TargetVerdict {
                action: Action::Deny,
                rule: None,
                place,
                entry: format!(
                    "none: no rule of {iface} matches, pfSense's implicit default block drops it"
                ),
                log: false,
                notes,
            });
        };
        let action = match rule.kind.as_str() {
            "pass" => Action::Allow,
            "reject" => Action::Reject,
            _ => Action::Deny,
        };
        Ok(TargetVerdict {
            action,
            rule: policy_rule_name(ir, &rule.descr),
            place,
            entry: format!(
                "tracker {}: `{}` (\"{}\")",
                rule.tracker,
                rule_text(rule),
                rule.descr
            ),
            log: rule.log,
            notes,
        })
    }
}

/// A rule on one line, in the order of pfSense's rule editor: action,
/// family, protocol, ICMP types, source, destination, port, log.
pub(crate) fn rule_text(r: &ParsedRule) -> String {
    let mut s = format!("{} {}", r.kind, r.ipprotocol);
    if let Some(p) = &r.protocol {
        s.push_str(&format!(" {p}"));
    }
    if let Some(t) = &r.icmptype {
        s.push_str(&format!(" icmptype {t}"));
    }
    let side = |a: &Option<String>| a.clone().unwrap_or_else(|| "any".into());
    s.push_str(&format!(
        " from {} to {}",
        side(&r.source),
        side(&r.destination)
    ));
    if let Some(p) = &r.port {
        s.push_str(&format!(" port {p}"));
    }
    if r.log {
        s.push_str(" log");
    }
    s
}

/// What pfSense's own rules, which come before every rule of the file, do
/// to the packet (see `docs/targets/pfsense.md`).
fn pfsense_own_rules(packet: &Packet) -> Option<String> {
    let link_local = "169.254.0.0/16".parse::<IpNet>().expect("valid");
    match packet.proto {
        Proto::Icmp { ty: 1 | 2 | 135 | 136 } if packet.src.is_ipv6() => Some(
            "pfSense's own rules pass ICMPv6 types 1, 2, 135 and 136 before any rule of this file"
                .into(),
        ),
        Proto::Tcp { dport: 0 } | Proto::Udp { dport: 0 } => Some(
            "pfSense's own rules block TCP/UDP port 0 before any rule of this file".into(),
        ),
        _ if link_local.contains(&packet.src) || link_local.contains(&packet.dst) => Some(
            "pfSense's own rules block 169.254.0.0/16 (unless disabled) before any rule of this file"
                .into(),
        ),
        _ => None,
    }
}

/// `rendered` (wardwall's pfSense file for `ir`) inside the configuration
/// it is restored into: the bound interfaces, enabled, and IPv6 allowed.
pub fn restored(ir: &Ir, rendered: &str) -> String {
    let mut keys: Vec<&str> = ir
        .zones
        .iter()
        .filter_map(|z| z.bindings.get(Target::PfSense.name()))
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let interfaces: String = keys
        .iter()
        .map(|k| {
            format!("\t\t<{k}>\n\t\t\t<enable></enable>\n\t\t\t<if>vtnet{k}</if>\n\t\t</{k}>\n")
        })
        .collect();
    let frame = format!(
        "<pfsense>\n\t<system>\n\t\t<ipv6allow></ipv6allow>\n\t</system>\n\t<interfaces>\n{interfaces}\t</interfaces>\n"
    );
    rendered.replacen("<pfsense>\n", &frame, 1)
}

/// `device` (a full config.xml) with its `<aliases>` and `<filter>`
/// sections replaced by `rendered`'s, as restoring those two areas does;
/// `None` when either is not the XML it should be.
pub(crate) fn restored_into(device: &str, rendered: &str) -> Option<String> {
    // Only the root's children are needed: a scan finds them without the
    // whole document tree (a fifth of a drift run at 10,000 rules, mostly
    // fresh memory); a file the scan does not take is parsed in full.
    let found = match root_children(device) {
        Some(children) => {
            let found = areas(Some(children));
            debug_assert_eq!(found, areas_parsed(device));
            found
        }
        None => areas_parsed(device),
    }?;
    let mut edits: Vec<(std::ops::Range<usize>, &str)> = Vec::new();
    for (area, old) in AREAS.into_iter().zip(found) {
        let new = section(rendered, area)?;
        match old {
            Some(old) => edits.push((old, new)),
            None => {
                let end = device.rfind("</pfsense>")?;
                edits.push((end..end, new));
            }
        }
    }
    // In the text's order, written once at its size; a device with
    // neither area gets both before `</pfsense>`, the later of `AREAS`
    // first.
    let mut order: Vec<usize> = (0..edits.len()).collect();
    order.sort_by_key(|&k| (edits[k].0.start, std::cmp::Reverse(k)));
    let size = edits
        .iter()
        .fold(device.len(), |n, (range, new)| n - range.len() + new.len());
    let mut out = String::with_capacity(size);
    let mut at = 0;
    for k in order {
        let (range, new) = &edits[k];
        out.push_str(&device[at..range.start]);
        out.push_str(new);
        at = range.end;
    }
    out.push_str(&device[at..]);
    Some(out)
}

/// The areas a restore replaces, in the order [`areas`] gives them.
const AREAS: [&str; 2] = ["aliases", "filter"];

/// Where each of [`AREAS`] is among a `<pfsense>` root's children (its
/// first element of that name), `None` for one it does not have; `None`
/// in all when the root is another element.
type Areas = Option<[Option<std::ops::Range<usize>>; 2]>;

/// [`Areas`] from [`root_children`].
fn areas(found: Option<RootChildren<'_>>) -> Areas {
    let (root, children) = found?;
    (root == "pfsense").then(|| {
        AREAS.map(|area| {
            children
                .iter()
                .find(|(name, _)| *name == area)
                .map(|(_, r)| r.clone())
        })
    })
}

/// [`Areas`] from the whole document tree: `None` when `xml` is not XML.
fn areas_parsed(xml: &str) -> Areas {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let root = doc.root_element();
    (root.tag_name().name() == "pfsense").then(|| {
        AREAS.map(|area| {
            root.children()
                .find(|c| c.is_element() && c.tag_name().name() == area)
                .map(|c| c.range())
        })
    })
}

/// The root element's name and its child elements' names and byte
/// ranges, in order.
type RootChildren<'x> = (&'x str, Vec<(&'x str, std::ops::Range<usize>)>);

/// The root element's children, found by scanning the tags without a
/// document tree; `None` for anything the scan does not take (a DOCTYPE,
/// which may declare entities; a prefixed name; tags that do not match;
/// text outside the root), which the full parse then decides. On a
/// well-formed document it finds what roxmltree finds (a debug assertion
/// in [`restored_into`] holds every test to that).
fn root_children(xml: &str) -> Option<RootChildren<'_>> {
    // A byte at a time (every tag of a 16 MB file passes through here): an
    // end tag is compared with the open element's name in place.
    let b = xml.as_bytes();
    let mut open: Vec<&str> = Vec::new();
    let mut root: Option<&str> = None;
    let mut children = Vec::new();
    let mut child_start = 0;
    let mut i = 0;
    loop {
        // Tags are a few bytes apart: a plain loop finds the next one
        // sooner than a call to `memchr`.
        let mut at = i;
        while at < b.len() && b[at] != b'<' {
            at += 1;
        }
        if at == b.len() {
            break;
        }
        if open.is_empty() && !xml[i..at].trim().is_empty() {
            return None;
        }
        let rest = &b[at..];
        match rest.get(1) {
            Some(b'!') => {
                if rest.starts_with(b"<!--") {
                    i = at + 4 + find(&rest[4..], b"-->")? + 3;
                    continue;
                }
                if rest.starts_with(b"<![CDATA[") && !open.is_empty() {
                    i = at + 9 + find(&rest[9..], b"]]>")? + 3;
                    continue;
                }
                return None;
            }
            Some(b'?') => {
                i = at + 2 + find(&rest[2..], b"?>")? + 2;
                continue;
            }
            Some(b'/') => {
                let name = open.pop()?;
                let mut j = at + 2;
                if !b[j..].starts_with(name.as_bytes()) {
                    return None;
                }
                j += name.len();
                while matches!(b.get(j), Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')) {
                    j += 1;
                }
                if b.get(j) != Some(&b'>') {
                    return None;
                }
                i = j + 1;
                match open.len() {
                    0 => return after_root(xml, i, (root?, children)),
                    1 => children.push((name, child_start..i)),
                    _ => {}
                }
                continue;
            }
            _ => {}
        }
        // The name ends at a space, `/` or `>`; one with a prefix is not
        // taken.
        let mut name_end = at + 1;
        loop {
            match *b.get(name_end)? {
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'>' => break,
                b':' => return None,
                _ => name_end += 1,
            }
        }
        let name_len = name_end - at - 1;
        let name = &xml[at + 1..name_end];
        if name.is_empty() || (open.is_empty() && root.is_some()) {
            return None;
        }
        // The tag ends at the first `>` outside a quoted attribute value.
        let mut quote = None;
        let mut j = at + 1 + name_len;
        loop {
            let c = *b.get(j)?;
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == b'"' || c == b'\'' => quote = Some(c),
                None if c == b'<' => return None,
                None if c == b'>' => break,
                None => {}
            }
            j += 1;
        }
        i = j + 1;
        let empty = b[j - 1] == b'/';
        if open.is_empty() {
            root = Some(name);
            if empty {
                return after_root(xml, i, (name, children));
            }
        } else if open.len() == 1 {
            child_start = at;
            if empty {
                children.push((name, at..i));
            }
        }
        if !empty {
            open.push(name);
        }
    }
    None
}

/// Where `what` first starts in `b`.
fn find(b: &[u8], what: &[u8]) -> Option<usize> {
    memchr::memmem::find(b, what)
}

/// `found`, when what follows the root element (from `i`) is only
/// whitespace, comments and processing instructions.
fn after_root<'x>(xml: &'x str, mut i: usize, found: RootChildren<'x>) -> Option<RootChildren<'x>> {
    loop {
        let rest = xml[i..].trim_start();
        if rest.is_empty() {
            return Some(found);
        }
        let at = xml.len() - rest.len();
        i = if let Some(r) = rest.strip_prefix("<!--") {
            at + 4 + r.find("-->")? + 3
        } else if let Some(r) = rest.strip_prefix("<?") {
            at + 2 + r.find("?>")? + 2
        } else {
            return None;
        };
    }
}

/// The `<area>...</area>` element of wardwall's rendered file, as text.
fn section<'t>(rendered: &'t str, area: &str) -> Option<&'t str> {
    let b = rendered.as_bytes();
    let start = find(b, format!("<{area}>").as_bytes())?;
    let close = format!("</{area}>");
    let end = find(&b[start..], close.as_bytes())? + start + close.len();
    Some(&rendered[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scan_finds_the_areas_the_parse_finds() {
        let docs = [
            "<?xml version=\"1.0\"?>\n<!-- <filter> -->\n<pfsense a='>'>\n<system><filter>x</filter></system>\n<!-- </pfsense> <aliases/> -->\n<aliases/>\n<notes><![CDATA[</filter><filter>]]></notes>\n<filter b=\"/>\" >\n<rule><descr>&lt;a&gt;</descr></rule></filter >\n<filter></filter>\n<?pi </filter> ?>\n</pfsense>\n<!-- after -->\n",
            "<pfsense/>",
            "<pfsense><filter/></pfsense>",
            "<opnsense><filter></filter></opnsense>",
        ];
        for doc in docs {
            assert!(root_children(doc).is_some(), "the scan takes {doc:?}");
            assert_eq!(areas(root_children(doc)), areas_parsed(doc), "{doc:?}");
        }
        // Not taken, so parsed (and not XML: none).
        for doc in [
            "<!DOCTYPE pfsense [<!ENTITY f \"<filter/>\">]><pfsense>&f;</pfsense>",
            "<pfsense><filter></aliases></pfsense>",
            "<pfsense></pfsense><pfsense></pfsense>",
            "text<pfsense></pfsense>",
            "<x:pfsense xmlns:x=\"u\"></x:pfsense>",
            "<pfsense><filter>",
        ] {
            assert_eq!(root_children(doc), None, "{doc:?}");
        }
        assert_eq!(areas_parsed("<pfsense><filter>"), None);
    }

    #[test]
    fn restoring_the_two_areas_replaces_them_and_keeps_the_rest() {
        let device = "<?xml version=\"1.0\"?>\n<pfsense>\n\t<interfaces><wan><blockbogons></blockbogons></wan></interfaces>\n\t<filter>\n\t\t<rule><descr>old</descr></rule>\n\t</filter>\n</pfsense>\n";
        let rendered = "<pfsense>\n\t<aliases>\n\t\t<alias><name>A</name></alias>\n\t</aliases>\n\t<filter>\n\t\t<rule><descr>new</descr></rule>\n\t</filter>\n</pfsense>\n";
        let out = restored_into(device, rendered).unwrap();
        assert!(
            out.contains("<blockbogons>"),
            "the device's interfaces stay"
        );
        assert!(out.contains("<descr>new</descr>") && !out.contains("<descr>old</descr>"));
        assert!(out.contains("<name>A</name>"), "a missing area is added");
        roxmltree::Document::parse(&out).expect("still XML");
        assert_eq!(restored_into("not xml", rendered), None);
        assert_eq!(restored_into("<cisco/>", rendered), None);
    }

    /// Exactly where each area goes, byte for byte: in place of the
    /// device's own, else before `</pfsense>` (a device with neither gets
    /// the filter first, then the aliases).
    #[test]
    fn restored_areas_land_in_place_or_before_the_root_end() {
        let rendered = "<pfsense><aliases><alias/></aliases><filter><rule/></filter></pfsense>";
        let cases = [
            (
                "<pfsense><system/></pfsense>",
                "<pfsense><system/><filter><rule/></filter><aliases><alias/></aliases></pfsense>",
            ),
            (
                "<pfsense><filter><old/></filter><system/></pfsense>",
                "<pfsense><filter><rule/></filter><system/><aliases><alias/></aliases></pfsense>",
            ),
            (
                "<pfsense><aliases/><system/><filter/></pfsense>\n",
                "<pfsense><aliases><alias/></aliases><system/><filter><rule/></filter></pfsense>\n",
            ),
            (
                "<pfsense><filter/><aliases><a/></aliases></pfsense>",
                "<pfsense><filter><rule/></filter><aliases><alias/></aliases></pfsense>",
            ),
        ];
        for (device, expected) in cases {
            assert_eq!(
                restored_into(device, rendered).as_deref(),
                Some(expected),
                "{device}"
            );
        }
    }

    #[test]
    fn rule_names_are_read_from_descriptions_even_when_cut() {
        assert_eq!(rule_name("allow-web: Staff web"), Some("allow-web"));
        assert_eq!(rule_name("allow-web"), Some("allow-web"));
        assert_eq!(rule_name("default: deny the rest of lan"), Some("default"));
        let long = "a-rule-name-that-is-far-too-long-for-a-pfsense-label-field";
        // `long` with the description "why", cut to pfSense's 52 bytes as it
        // arrives in the file (the renderer's tests hold it to writing that).
        let descr = "a-rule-name-that-is-far-too-long-for-a-pfsense-la...";
        assert_eq!(rule_name(descr), None);
        let dir = std::env::temp_dir().join(format!("ww-pf-names-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.kdl");
        std::fs::write(
            &path,
            format!(
                "policy \"t\"\nzone \"a\" {{\n    prefix \"10.1.0.0/16\"\n}}\nrules {{\n    allow \"{long}\" {{\n        from \"a\"\n        to \"a\"\n        service \"https\"\n    }}\n    allow \"{long}-2\" {{\n        from \"a\"\n        to \"a\"\n        service \"ssh\"\n    }}\n    allow \"other\" {{\n        from \"a\"\n        to \"a\"\n        service \"ssh\"\n    }}\n}}\n"
            ),
        )
        .unwrap();
        let c = crate::compile(&path, "2026-01-01".parse().unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let ir = c.ir.unwrap_or_else(|| panic!("{:?}", c.diagnostics));
        // Two rules start with the cut name: no guess.
        assert_eq!(policy_rule_name(&ir, descr), None);
        assert_eq!(policy_rule_name(&ir, "other"), Some("other".into()));
        let ir_one = Ir {
            rules: ir.rules[..1].to_vec(),
            ..ir.clone()
        };
        assert_eq!(policy_rule_name(&ir_one, descr), Some(long.to_string()));
    }
}
