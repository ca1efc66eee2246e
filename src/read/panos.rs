//! A strict reader for the PAN-OS XML the panos renderer writes (the vsys1
//! entry: address objects, static address groups, services and the security
//! rule base, in order), and a first-match evaluator over what it read:
//! zones, then address membership (groups resolved), then application /
//! service, then PAN-OS's predefined intrazone-default (allow) and
//! interzone-default (deny) after the last rule.
//!
//! The reader refuses anything outside the emitted subset (an unknown
//! element would be ignored by PAN-OS's own loaders and could change what a
//! rule matches unnoticed). The tests hold it to pan-os-python, which reads
//! the same files independently (`tests/panos.rs`), and `wardwall explain
//! --target panos` answers from it.
//!
//! It takes nothing from the renderer (tables, names, helpers): a mistake
//! the two shared would round-trip green.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

use super::{Reader, TargetVerdict, same_subnet_note};
use crate::ir::{Action, Ir, Packet, Proto};
use crate::vocab::Target;

/// The target the reader answers for; zones name their PAN-OS zones under
/// it.
const TARGET: &str = Target::Panos.name();
/// The name the renderer gives the final deny, read as the policy's
/// `default` rule. Written here again rather than taken from the renderer:
/// if the two drift apart, the round-trip tests see the final deny as
/// belonging to no rule and fail.
const DEFAULT_RULE: &str = "wardwall-default-deny";

/// A rule base as a parser saw it (this reader, pan-os-python through
/// `tests/panos/parse_xml.py`, or the tests' `set` reader).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Parsed {
    pub addresses: BTreeMap<String, ParsedAddress>,
    pub groups: BTreeMap<String, ParsedGroup>,
    pub services: BTreeMap<String, ParsedService>,
    pub rules: Vec<ParsedRule>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ParsedAddress {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ParsedGroup {
    pub members: Vec<String>,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ParsedService {
    pub protocol: String,
    pub port: String,
}

/// One security rule; `None` where the element is absent (PAN-OS defaults
/// apply: log-end yes, everything else no).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ParsedRule {
    pub name: String,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub source: Vec<String>,
    pub destination: Vec<String>,
    pub source_user: Vec<String>,
    pub category: Vec<String>,
    pub application: Vec<String>,
    pub service: Vec<String>,
    pub action: String,
    pub icmp_unreachable: Option<bool>,
    pub log_start: Option<bool>,
    pub log_end: Option<bool>,
    pub rule_type: Option<String>,
    pub negate_source: Option<bool>,
    pub negate_destination: Option<bool>,
    pub disabled: Option<bool>,
    pub description: Option<String>,
}

impl Parsed {
    /// The same rule base with every description removed.
    pub fn without_descriptions(&self) -> Parsed {
        let mut p = self.clone();
        for g in p.groups.values_mut() {
            g.description = None;
        }
        for r in &mut p.rules {
            r.description = None;
        }
        p
    }
}

// ------------------------------------------------------------------ reader

type Node<'a, 'i> = roxmltree::Node<'a, 'i>;

fn elements<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(|c| c.is_element())
}

/// The only child element of `node`, which must be `tag`.
fn only<'a, 'i>(node: Node<'a, 'i>, tag: &str) -> Result<Node<'a, 'i>, String> {
    let kids: Vec<Node<'a, 'i>> = elements(node).collect();
    match kids.as_slice() {
        [k] if k.has_tag_name(tag) => Ok(*k),
        _ => Err(format!(
            "<{}> must hold exactly one <{tag}>",
            node.tag_name().name()
        )),
    }
}

/// The text of a leaf element (no child elements, no attributes).
fn leaf(node: Node<'_, '_>) -> Result<String, String> {
    let name = node.tag_name().name();
    if elements(node).next().is_some() || node.attributes().len() != 0 {
        return Err(format!("<{name}> must be a plain text element"));
    }
    Ok(node
        .children()
        .filter(|c| c.is_text())
        .map(|c| c.text().unwrap_or(""))
        .collect())
}

/// The `name` attribute of an `<entry>` (its only attribute).
fn entry_name(node: Node<'_, '_>) -> Result<String, String> {
    if !node.has_tag_name("entry") {
        return Err(format!(
            "<{}> where an <entry> belongs",
            node.tag_name().name()
        ));
    }
    let attrs: Vec<_> = node.attributes().collect();
    match attrs.as_slice() {
        [a] if a.name() == "name" && !a.value().is_empty() => Ok(a.value().to_string()),
        _ => Err("an <entry> needs exactly one non-empty name attribute".into()),
    }
}

/// `<member>` children, at least one.
fn members(node: Node<'_, '_>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for m in elements(node) {
        if !m.has_tag_name("member") {
            return Err(format!(
                "<{}> inside <{}>",
                m.tag_name().name(),
                node.tag_name().name()
            ));
        }
        let text = leaf(m)?;
        if text.is_empty() || text.trim() != text {
            return Err(format!("empty or padded member `{text}`"));
        }
        out.push(text);
    }
    if out.is_empty() {
        return Err(format!("<{}> without members", node.tag_name().name()));
    }
    Ok(out)
}

fn yes_no(node: Node<'_, '_>) -> Result<bool, String> {
    match leaf(node)?.as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => Err(format!(
            "<{}> must be yes or no, not `{other}`",
            node.tag_name().name()
        )),
    }
}

/// Reads a PAN-OS XML file the panos renderer wrote. Anything outside the
/// emitted subset is an error.
pub fn parse_xml(text: &str) -> Result<Parsed, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    if !root.has_tag_name("config") {
        return Err(format!(
            "root is <{}>, not <config>",
            root.tag_name().name()
        ));
    }
    let devices = only(root, "devices")?;
    let device = only(devices, "entry")?;
    entry_name(device)?;
    let vsys_list = only(device, "vsys")?;
    let vsys = only(vsys_list, "entry")?;
    entry_name(vsys)?;
    let mut p = Parsed::default();
    let mut seen = BTreeSet::new();
    for section in elements(vsys) {
        let tag = section.tag_name().name();
        if !seen.insert(tag) {
            return Err(format!("<{tag}> twice in the vsys"));
        }
        match tag {
            "address" => {
                for e in elements(section) {
                    let name = entry_name(e)?;
                    let value = leaf(only(e, "ip-netmask")?)?;
                    value
                        .parse::<IpNet>()
                        .map_err(|_| format!("address {name}: `{value}` is not a prefix"))?;
                    let a = ParsedAddress {
                        kind: "ip-netmask".into(),
                        value,
                    };
                    if p.addresses.insert(name.clone(), a).is_some() {
                        return Err(format!("address {name} defined twice"));
                    }
                }
            }
            "address-group" => {
                for e in elements(section) {
                    let name = entry_name(e)?;
                    let mut group = None;
                    let mut description = None;
                    for c in elements(e) {
                        match c.tag_name().name() {
                            "static" if group.is_none() => group = Some(members(c)?),
                            "description" if description.is_none() => description = Some(leaf(c)?),
                            other => {
                                return Err(format!(
                                    "address group {name}: unexpected or repeated <{other}>"
                                ));
                            }
                        }
                    }
                    let members = group
                        .ok_or_else(|| format!("address group {name} is not a static group"))?;
                    let g = ParsedGroup {
                        members,
                        description,
                    };
                    if p.groups.insert(name.clone(), g).is_some() {
                        return Err(format!("address group {name} defined twice"));
                    }
                }
            }
            "service" => {
                for e in elements(section) {
                    let name = entry_name(e)?;
                    let proto = only(only(e, "protocol")?, "tcp")
                        .or_else(|_| only(only(e, "protocol")?, "udp"))
                        .map_err(|_| format!("service {name} must be one tcp or udp port"))?;
                    let port = leaf(only(proto, "port")?)?;
                    parse_port_spec(&port).map_err(|m| format!("service {name}: {m}"))?;
                    let s = ParsedService {
                        protocol: proto.tag_name().name().to_string(),
                        port,
                    };
                    if p.services.insert(name.clone(), s).is_some() {
                        return Err(format!("service {name} defined twice"));
                    }
                }
            }
            "rulebase" => {
                let rules = only(only(section, "security")?, "rules")?;
                for e in elements(rules) {
                    let rule = parse_rule(e)?;
                    if p.rules.iter().any(|r| r.name == rule.name) {
                        return Err(format!("rule {} defined twice", rule.name));
                    }
                    p.rules.push(rule);
                }
            }
            other => return Err(format!("unexpected vsys element <{other}>")),
        }
    }
    check_references(&p)?;
    Ok(p)
}

fn parse_rule(e: Node<'_, '_>) -> Result<ParsedRule, String> {
    let name = entry_name(e)?;
    let mut r = ParsedRule {
        name: name.clone(),
        ..Default::default()
    };
    let mut seen = BTreeSet::new();
    let mut action = None;
    for c in elements(e) {
        let tag = c.tag_name().name();
        if !seen.insert(tag) {
            return Err(format!("rule {name}: <{tag}> twice"));
        }
        match tag {
            "from" => r.from = members(c)?,
            "to" => r.to = members(c)?,
            "source" => r.source = members(c)?,
            "destination" => r.destination = members(c)?,
            "source-user" => r.source_user = members(c)?,
            "category" => r.category = members(c)?,
            "application" => r.application = members(c)?,
            "service" => r.service = members(c)?,
            "action" => action = Some(leaf(c)?),
            "icmp-unreachable" => r.icmp_unreachable = Some(yes_no(c)?),
            "log-start" => r.log_start = Some(yes_no(c)?),
            "log-end" => r.log_end = Some(yes_no(c)?),
            "rule-type" => r.rule_type = Some(leaf(c)?),
            "negate-source" => r.negate_source = Some(yes_no(c)?),
            "negate-destination" => r.negate_destination = Some(yes_no(c)?),
            "disabled" => r.disabled = Some(yes_no(c)?),
            "description" => r.description = Some(leaf(c)?),
            other => return Err(format!("rule {name}: unexpected element <{other}>")),
        }
    }
    for (what, list) in [
        ("from", &r.from),
        ("to", &r.to),
        ("source", &r.source),
        ("destination", &r.destination),
        ("source-user", &r.source_user),
        ("category", &r.category),
        ("application", &r.application),
        ("service", &r.service),
    ] {
        if list.is_empty() {
            return Err(format!("rule {name}: no <{what}>"));
        }
    }
    r.action = action.ok_or_else(|| format!("rule {name}: no <action>"))?;
    Ok(r)
}

/// Every member a rule or group names exists (a missing one makes PAN-OS
/// refuse the commit; here it is refused at once), and the rules use only
/// what the evaluator models.
fn check_references(p: &Parsed) -> Result<(), String> {
    for (name, g) in &p.groups {
        for m in &g.members {
            if !p.addresses.contains_key(m) && !p.groups.contains_key(m) {
                return Err(format!("address group {name}: unknown member {m}"));
            }
        }
    }
    for r in &p.rules {
        let n = &r.name;
        for m in r.source.iter().chain(&r.destination) {
            if m != "any" && !p.addresses.contains_key(m) && !p.groups.contains_key(m) {
                return Err(format!("rule {n}: unknown address or group {m}"));
            }
        }
        if r.source_user != ["any"] || r.category != ["any"] {
            return Err(format!("rule {n}: source-user and category must be any"));
        }
        if r.rule_type.as_deref().unwrap_or("universal") != "universal"
            || r.negate_source == Some(true)
            || r.negate_destination == Some(true)
        {
            return Err(format!(
                "rule {n}: only universal rules without negation are modelled"
            ));
        }
        if !["allow", "drop", "reset-client"].contains(&r.action.as_str()) {
            return Err(format!("rule {n}: unexpected action {}", r.action));
        }
        if r.action == "reset-client" && r.icmp_unreachable != Some(true) {
            return Err(format!("rule {n}: reset-client without icmp-unreachable"));
        }
        if r.application == ["any"] {
            if r.service != ["any"] {
                for s in &r.service {
                    if !p.services.contains_key(s) {
                        return Err(format!("rule {n}: unknown service {s}"));
                    }
                }
            }
        } else {
            if r.service != ["application-default"] {
                return Err(format!(
                    "rule {n}: applications go with service application-default"
                ));
            }
            for a in &r.application {
                if !["ping", "gre", "ipsec-esp"].contains(&a.as_str()) {
                    return Err(format!("rule {n}: no model of application {a}"));
                }
            }
        }
    }
    // Group nesting must end (PAN-OS refuses cycles).
    for name in p.groups.keys() {
        group_depth(p, name, 0)?;
    }
    Ok(())
}

fn group_depth(p: &Parsed, name: &str, depth: usize) -> Result<(), String> {
    if depth >= 8 {
        return Err(format!(
            "address group nesting too deep (or cyclic) at {name}"
        ));
    }
    for m in &p.groups[name].members {
        if p.groups.contains_key(m) {
            group_depth(p, m, depth + 1)?;
        }
    }
    Ok(())
}

/// `N`, `N-M` or a comma list of them.
fn parse_port_spec(spec: &str) -> Result<Vec<(u16, u16)>, String> {
    let port = |s: &str| -> Result<u16, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("bad port `{s}` in `{spec}`"));
        }
        s.parse::<u16>()
            .map_err(|_| format!("port `{s}` out of range in `{spec}`"))
    };
    spec.split(',')
        .map(|item| match item.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (port(lo)?, port(hi)?);
                if lo > hi {
                    return Err(format!("empty range `{item}`"));
                }
                Ok((lo, hi))
            }
            None => port(item).map(|p| (p, p)),
        })
        .collect()
}

// ------------------------------------------------------------------ evaluation

/// Which PAN-OS rule decides a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanVerdict {
    pub action: Action,
    pub log: bool,
    /// The PAN-OS rule name, or `intrazone-default` / `interzone-default`.
    pub rule: String,
    /// Index into [`Parsed::rules`]; `None` for a predefined rule.
    pub index: Option<usize>,
}

fn address_matches(p: &Parsed, member: &str, addr: IpAddr, depth: usize) -> Result<bool, String> {
    if depth >= 8 {
        return Err(format!("address group nesting too deep at {member}"));
    }
    if member == "any" {
        return Ok(true);
    }
    if let Some(a) = p.addresses.get(member) {
        if a.kind != "ip-netmask" {
            return Err(format!("address {member} is not an ip-netmask"));
        }
        let net: IpNet = a
            .value
            .parse()
            .map_err(|_| format!("address {member}: `{}` is not a prefix", a.value))?;
        return Ok(net.contains(&addr));
    }
    if let Some(g) = p.groups.get(member) {
        for m in &g.members {
            if address_matches(p, m, addr, depth + 1)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    Err(format!("{member} is neither an address object nor a group"))
}

fn any_address(p: &Parsed, list: &[String], addr: IpAddr) -> Result<bool, String> {
    for m in list {
        if address_matches(p, m, addr, 0)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn app_service_matches(p: &Parsed, r: &ParsedRule, packet: &Packet) -> Result<bool, String> {
    if r.application == ["any"] {
        if r.service == ["any"] {
            return Ok(true);
        }
        for s in &r.service {
            if s == "any" || s == "application-default" {
                return Err(format!("{}: service {s} in a list", r.name));
            }
            let svc = p
                .services
                .get(s)
                .ok_or_else(|| format!("{}: unknown service {s}", r.name))?;
            let hit = match (svc.protocol.as_str(), packet.proto) {
                ("tcp", Proto::Tcp { dport }) | ("udp", Proto::Udp { dport }) => {
                    parse_port_spec(&svc.port)?
                        .iter()
                        .any(|&(lo, hi)| lo <= dport && dport <= hi)
                }
                ("tcp" | "udp", _) => false,
                (other, _) => return Err(format!("unexpected service protocol {other}")),
            };
            if hit {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if r.service != ["application-default"] {
        return Err(format!(
            "{}: applications go with service application-default",
            r.name
        ));
    }
    for app in &r.application {
        let hit = match app.as_str() {
            // App-ID `ping`: ICMP echo request (type 8) or ICMPv6 echo
            // request (type 128) opens the session.
            "ping" => matches!(
                (packet.src, packet.proto),
                (IpAddr::V4(_), Proto::Icmp { ty: 8 }) | (IpAddr::V6(_), Proto::Icmp { ty: 128 })
            ),
            "gre" => packet.proto == Proto::Other(47),
            "ipsec-esp" => packet.proto == Proto::Other(50),
            other => return Err(format!("{}: no model of application {other}", r.name)),
        };
        if hit {
            return Ok(true);
        }
    }
    Ok(false)
}

/// First-match evaluation of `packet` arriving in PAN-OS zone `from` (the
/// zone of the interface it arrives on, which a spoofed source address does
/// not change) and leaving through zone `to` (the zone of the interface the
/// route to its destination leaves by).
pub fn evaluate(p: &Parsed, from: &str, to: &str, packet: &Packet) -> Result<PanVerdict, String> {
    for (i, r) in p.rules.iter().enumerate() {
        if r.source_user != ["any"]
            || r.category != ["any"]
            || r.rule_type.as_deref().unwrap_or("universal") != "universal"
            || r.negate_source.unwrap_or(false)
            || r.negate_destination.unwrap_or(false)
        {
            return Err(format!("{}: a rule outside the modelled subset", r.name));
        }
        if r.disabled.unwrap_or(false) {
            continue;
        }
        let zone_ok = |list: &[String], z: &str| list.iter().any(|m| m == "any" || m == z);
        if zone_ok(&r.from, from)
            && zone_ok(&r.to, to)
            && any_address(p, &r.source, packet.src)?
            && any_address(p, &r.destination, packet.dst)?
            && app_service_matches(p, r, packet)?
        {
            let action = match r.action.as_str() {
                "allow" => Action::Allow,
                "drop" => Action::Deny,
                "reset-client" if r.icmp_unreachable == Some(true) => Action::Reject,
                other => return Err(format!("{}: unexpected action {other}", r.name)),
            };
            return Ok(PanVerdict {
                action,
                // PAN-OS logs at session end unless told not to.
                log: r.log_end.unwrap_or(true),
                rule: r.name.clone(),
                index: Some(i),
            });
        }
    }
    // PAN-OS's predefined rules after the rule base.
    Ok(if from == to {
        PanVerdict {
            action: Action::Allow,
            log: false,
            rule: "intrazone-default".into(),
            index: None,
        }
    } else {
        PanVerdict {
            action: Action::Deny,
            log: false,
            rule: "interzone-default".into(),
            index: None,
        }
    })
}

// ------------------------------------------------------------------ explain

/// The policy rule a PAN-OS rule belongs to, from its name: the renderer
/// names a rule's first part after the rule (cut to 63 characters), later
/// parts with `.ping` / `.ipproto` suffixes, a rule split by source zone
/// `NAME.from-ZONE` (then the part suffix), and the final deny
/// [`DEFAULT_RULE`] (the policy's `default`). `None` when the name
/// fits no rule of `ir`.
pub fn policy_rule_name(ir: &Ir, name: &str) -> Option<String> {
    if name == DEFAULT_RULE {
        return Some("default".into());
    }
    if ir.rules.iter().any(|r| r.name == name) {
        return Some(name.to_string());
    }
    for suffix in [".ping", ".ipproto"] {
        if let Some(base) = name.strip_suffix(suffix)
            && let Some(r) = policy_rule_name(ir, base)
        {
            return Some(r);
        }
    }
    // A rule split by source zone: `NAME.from-ZONE` (ZONE a panos binding).
    if let Some((base, zone)) = name.rsplit_once(".from-")
        && ir
            .zones
            .iter()
            .any(|z| z.bindings.get(TARGET).is_some_and(|b| b == zone))
        && let Some(r) = policy_rule_name(ir, base)
    {
        return Some(r);
    }
    // A name cut to fit: the one rule it is a prefix of.
    let mut cut = ir
        .rules
        .iter()
        .filter(|r| r.name.len() > name.len() && r.name.starts_with(name));
    match (cut.next(), cut.next()) {
        (Some(r), None) => Some(r.name.clone()),
        _ => None,
    }
}

/// The zone of `addr` as PAN-OS sees it: the `panos` binding of the policy
/// zone that owns it.
fn pan_zone(ir: &Ir, addr: IpAddr) -> Result<(String, String), String> {
    let zone = ir
        .zone_of(addr)
        .ok_or_else(|| format!("{addr} is in no zone of the policy"))?;
    let pan = zone.bindings.get(TARGET).ok_or_else(|| {
        format!(
            "zone {} has no panos binding: the firewall's zone for {addr} is unknown, \
             so the PAN-OS output cannot answer",
            zone.name
        )
    })?;
    Ok((pan.clone(), zone.name.clone()))
}

/// One rule on one line, in the order of PAN-OS's rule table.
pub(crate) fn rule_text(r: &ParsedRule) -> String {
    let list = |v: &[String]| {
        if v.len() == 1 {
            v[0].clone()
        } else {
            format!("[ {} ]", v.join(" "))
        }
    };
    let mut s = format!(
        "{} from {} to {} source {} destination {} application {} service {} action {}",
        r.name,
        list(&r.from),
        list(&r.to),
        list(&r.source),
        list(&r.destination),
        list(&r.application),
        list(&r.service),
        r.action
    );
    if r.log_end.unwrap_or(true) {
        s.push_str(" log-end");
    }
    s
}

/// `explain --target panos`: zones from the policy's panos bindings, then
/// the rule base first-match, then PAN-OS's predefined rules.
pub(crate) struct Evaluator;

impl Reader for Evaluator {
    fn target(&self) -> Target {
        Target::Panos
    }

    fn extension(&self) -> &'static str {
        "xml"
    }

    fn device(&self, text: &str) -> Result<super::device::Device, super::device::DeviceError> {
        super::export::panos::read(text)
    }

    fn evaluate(&self, ir: &Ir, text: &str, packet: &Packet) -> Result<TargetVerdict, String> {
        let parsed =
            parse_xml(text).map_err(|e| format!("the PAN-OS file cannot be read back: {e}"))?;
        let (from, from_policy) = pan_zone(ir, packet.src)?;
        let (to, to_policy) = pan_zone(ir, packet.dst)?;
        let v = evaluate(&parsed, &from, &to, packet)?;
        let mut notes = Vec::new();
        if from == to {
            notes.push(same_subnet_note(
                &format!("both in PAN-OS zone {from}"),
                "never reaches the firewall and no rule of this file applies",
            ));
        }
        let place = format!(
            "from zone {from} (policy zone {from_policy}) to zone {to} (policy zone {to_policy})"
        );
        Ok(match v.index {
            Some(i) => {
                let r = &parsed.rules[i];
                TargetVerdict {
                    action: v.action,
                    rule: policy_rule_name(ir, &r.name),
                    place,
                    entry: format!(
                        "rule {} of {}: `{}`",
                        i + 1,
                        parsed.rules.len(),
                        rule_text(r)
                    ),
                    log: v.log,
                    notes,
                }
            }
            None => TargetVerdict {
                action: v.action,
                rule: None,
                place,
                entry: format!(
                    "none: no rule matches, PAN-OS's predefined {} rule decides",
                    v.rule
                ),
                log: v.log,
                notes,
            },
        })
    }
}
