//! The PAN-OS running configuration as the firewall exports it (Device >
//! Setup > Operations > "Export named configuration snapshot", the XML API's
//! `show config running` response, or `show config running` with `set cli
//! config-output-format xml`) into the device model.
//!
//! # What is read
//!
//! `<config>` (bare, or inside the XML API's `<response><result>`), with
//! `shared` and exactly one `devices/entry` holding exactly one
//! `vsys/entry` (the layout of the PAN-OS CLI "xpath location formats"
//! page, <https://docs.paloaltonetworks.com/pan-os/9-1/pan-os-cli-quick-start/use-the-cli/load-configurations/load-a-partial-configuration/xpath-location-formats-determined-by-device-configuration.html>):
//!
//! - zones (`zone/entry`, their interfaces): the device's places;
//! - address objects (`ip-netmask` with or without a prefix length,
//!   `ip-range`, `ip-wildcard`, `fqdn`) and address groups (`static`
//!   members, nested; `dynamic` filters), in `shared` and in the vsys; a
//!   vsys object shadows a shared one of the same name, a vsys object may
//!   use shared ones, a shared one only shared ones;
//! - service objects (`protocol/{tcp,udp,sctp}/port`, `source-port`) and
//!   service groups, and the predefined `service-http` / `service-https`;
//! - the security rule base in order: Panorama's pushed `pre-rulebase`
//!   (shared, then the vsys's), the local `rulebase`, then `post-rulebase`
//!   (the vsys's, then shared) — "Pre Rules are added to the top of the
//!   rule order and are evaluated first, and Post Rules are added after any
//!   locally defined rules", <https://docs.paloaltonetworks.com/pan-os/9-1/pan-os-panorama-api/get-started-with-the-pan-os-rest-api/work-with-policy-rules-on-panorama-rest-api>;
//! - `default-security-rules` overrides of `intrazone-default` and
//!   `interzone-default`.
//!
//! # Semantics
//!
//! One layer, one filter (guard any): the rules first-match, then the
//! predefined `intrazone-default` (allow, not logged) for a packet that
//! stays in its zone and `interzone-default` (deny, not logged) for one
//! that changes zone ("Security Policy Overview", PAN-OS web interface
//! help). Rule types follow "Components of a Security Policy Rule"
//! (<https://docs.paloaltonetworks.com/pan-os/11-1/pan-os-admin/policy/security-policy/components-of-a-security-policy-rule>):
//! `universal` matches any listed source zone to any listed destination
//! zone; `intrazone` matches within each listed source zone (one entry per
//! zone: ingress {z}, egress {z}); `interzone` matches between zones (one
//! entry per source zone z: ingress {z}, egress the destination zones but
//! z). Actions ("Security Policy Actions", <https://docs.paloaltonetworks.com/pan-os/9-1/pan-os-admin/policy/security-policy/security-policy-actions>):
//! `allow` passes; `deny` and `drop` drop (a `drop` with
//! `icmp-unreachable yes` rejects); `reset-client`, `reset-server` and
//! `reset-both` reject. Logging is `log-start` or `log-end` (PAN-OS's
//! default: `log-end yes`). `negate-source` / `negate-destination` match
//! every address outside the list.
//!
//! `Origin.text` is the rule's `<entry …>` start tag as the file prints it;
//! `Origin.rule` the rule's name, less the suffixes wardwall adds when it
//! splits a policy rule (`.ping`, `.ipproto`, `.from-ZONE` for one of the
//! rule's source zones), and `default` for wardwall's final
//! `wardwall-default-deny`.
//!
//! # Undecidable
//!
//! An FQDN address, a dynamic address group, a region (country code) or an
//! external dynamic list; an application other than `any` (App-ID); the
//! service `application-default` (each application's default ports come
//! from App-ID's content); a `source-user`, `category`, `source-hip`,
//! `destination-hip`, `hip-profiles` other than `any`; a `schedule`; a
//! source port that some client ports match and others do not; an SCTP
//! service (the model has no SCTP ports); an `ip-netmask` with host bits
//! set (whether the host or the subnet is matched is not documented in the
//! pages above). The exactly decided part of such a rule is kept as an
//! exact entry before the undecidable one.
//!
//! Known risks: the ports of the predefined `service-http` (tcp/80, 8080)
//! and `service-https` (tcp/443) are not confirmed by a documentation page
//! (see [`PREDEFINED_SERVICES`]); `service any` is taken to match every
//! protocol (ICMP too), as PAN-OS evaluates it for `application any`,
//! though the services page words it as "all TCP and UDP ports".
//!
//! # Skipped (listed in `Device::skipped`)
//!
//! NAT, policy-based forwarding without `discard`, decryption, QoS,
//! application override (it changes only which App-ID a session gets, and
//! every rule naming an application is undecidable already), SD-WAN and
//! packet broker rules; disabled security rules (by name); `mgt-config`,
//! `deviceconfig` (system, HA, management), `network` (interfaces, virtual
//! routers, IKE/IPsec, GlobalProtect), and the vsys's other settings
//! (applications, tags, profiles, log settings, imports).
//!
//! # Refused
//!
//! Several vsys (a packet's vsys is not known here, and zone names are per
//! vsys), a Panorama configuration (`device-group`), DoS rules with action
//! `deny`, PBF rules with action `discard`, authentication and tunnel
//! inspection rules that are not disabled (each can stop forwarded traffic
//! by what this model cannot evaluate), and any element of a rule, object
//! or rule base not listed above.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::addrset::{AddrSet, ByteSet, PortSet};
use crate::read::device::{
    Decision, Device, DeviceError, Entry, Filter, Guard, Layer, Origin, PlaceSet, SourcePorts,
    source_ports,
};
use crate::read::export::inventory::DisabledRule;
#[cfg(test)]
use crate::read::export::line_col;
use crate::read::export::{Known, LineIndex, memoized};
use crate::vocab::{Action, ServiceSet, Target};

use crate::read::xml::Document;

type Node<'a, 'i> = crate::read::xml::Node<'a, 'i>;

/// The name wardwall gives its final deny, read as the policy's `default`
/// rule (written again here, not taken from the renderer).
const WARDWALL_DEFAULT: &str = "wardwall-default-deny";

/// Suffixes wardwall appends to the parts of a split policy rule.
const WARDWALL_PART_SUFFIXES: [&str; 2] = [".ping", ".ipproto"];

/// PAN-OS's predefined services: "The HTTP and HTTPS services are
/// predefined" (Policy Object: Services,
/// <https://docs.paloaltonetworks.com/network-security/security-policy/objects/services>);
/// their ports as the firewall's Objects > Services page shows the
/// predefined objects (`service-http`: tcp/80 and tcp/8080;
/// `service-https`: tcp/443). No stored documentation page lists these
/// ports, so they rest on that listing (and pan-os-codegen's notes): a
/// known risk, named in the module doc.
const PREDEFINED_SERVICES: &[(&str, &[(u16, u16)])] = &[
    ("service-http", &[(80, 80), (8080, 8080)]),
    ("service-https", &[(443, 443)]),
];

/// Security rule actions, from the PAN-OS XML schema's enumeration
/// (PaloAltoNetworks/pan-os-codegen `specs/policies/security-policy-rule.yaml`)
/// and "Security Policy Actions" (URL in the module doc).
const ACTIONS: &[&str] = &[
    "allow",
    "deny",
    "drop",
    "reset-client",
    "reset-server",
    "reset-both",
];

/// Rule fields that must be `any` for the rule to be decided offline.
const IDENTITY_FIELDS: &[(&str, &str)] = &[
    ("source-user", "source user"),
    ("category", "URL category"),
    ("source-hip", "source HIP profile"),
    ("destination-hip", "destination HIP profile"),
    ("hip-profiles", "HIP profile"),
];

/// Rule elements that decide nothing about whether a new flow passes:
/// security profiles, log forwarding, tags, QoS marking, Panorama targets,
/// audit text.
const INERT_RULE_FIELDS: &[&str] = &[
    "description",
    "tag",
    "group-tag",
    "log-setting",
    "profile-setting",
    "option",
    "qos",
    "target",
    "audit-comment",
    "uuid",
];

/// Rule bases that decide no forwarded traffic's pass or drop, as the
/// skipped list names them.
const SKIPPED_RULEBASES: &[(&str, &str)] = &[
    ("nat", "NAT"),
    ("decryption", "decryption"),
    ("qos", "QoS"),
    ("application-override", "application override"),
    ("sdwan", "SD-WAN"),
    ("network-packet-broker", "network packet broker"),
];

// ------------------------------------------------------------------ model

/// What the reader read, in PAN-OS's terms (names, members, order), for
/// comparison with another parser (the tests hold it to pan-os-python).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parsed {
    pub vsys: String,
    /// Zone → its interfaces, in file order of zones.
    pub zones: Vec<(String, Vec<String>)>,
    /// Keyed `shared/NAME` or `vsys/NAME`.
    pub addresses: BTreeMap<String, ParsedAddress>,
    pub groups: BTreeMap<String, ParsedGroup>,
    pub services: BTreeMap<String, ParsedService>,
    pub service_groups: BTreeMap<String, Vec<String>>,
    /// Every security rule in evaluation order, disabled ones included.
    pub rules: Vec<ParsedRule>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedAddress {
    /// `ip-netmask`, `ip-range`, `ip-wildcard` or `fqdn`.
    pub kind: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedGroup {
    /// Static members, or `None` for a dynamic group.
    pub members: Option<Vec<String>>,
    /// A dynamic group's filter.
    pub filter: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedService {
    pub protocol: String,
    pub port: String,
    pub source_port: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedRule {
    pub name: String,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub source: Vec<String>,
    pub destination: Vec<String>,
    pub application: Vec<String>,
    pub service: Vec<String>,
    pub action: String,
    pub rule_type: String,
    pub negate_source: bool,
    pub negate_destination: bool,
    pub disabled: bool,
}

/// Reads a PAN-OS running configuration into the device model.
pub fn read(text: &str) -> Result<Device, DeviceError> {
    let doc = parse_document(text)?;
    let r = Reader::new(text);
    let config = r.config(&doc)?;
    r.device(&config)
}

/// Each disabled security rule of a PAN-OS running configuration with the
/// device this reader reads when that one rule is enabled (`import` writes
/// it as a commented-out rule where it stands; [`read`] is unchanged).
pub(crate) fn disabled_rules(text: &str) -> Result<Vec<DisabledRule>, DeviceError> {
    let doc = parse_document(text)?;
    let r = Reader::new(text);
    let config = r.config(&doc)?;
    let mut out = Vec::new();
    for (i, rule) in config.rules.iter().enumerate() {
        let parsed = &config.parsed.rules[i];
        if !parsed.disabled {
            continue;
        }
        let (line, column) = r.at(rule.node);
        out.push(DisabledRule {
            line,
            column,
            text: format!("security rule {}", parsed.name),
            enabled: r.device_enabling(&config, Some(i)),
        });
    }
    Ok(out)
}

/// Reads a PAN-OS running configuration into PAN-OS's own terms (for
/// comparison with other parsers).
pub fn parse(text: &str) -> Result<Parsed, DeviceError> {
    let doc = parse_document(text)?;
    let r = Reader::new(text);
    Ok(r.config(&doc)?.parsed)
}

fn parse_document(text: &str) -> Result<Document<'_>, DeviceError> {
    Document::parse(text).map_err(|e| {
        DeviceError::at(
            e.line,
            e.column,
            format!("not well-formed XML: {}", e.message),
        )
    })
}

/// The configuration as read, before it becomes a device.
struct Config<'a, 'i> {
    parsed: Parsed,
    shared: Scope<'a, 'i>,
    vsys: Scope<'a, 'i>,
    zones: Vec<String>,
    /// Security rules in evaluation order.
    rules: Vec<Rule<'a, 'i>>,
    intrazone_override: Option<Node<'a, 'i>>,
    interzone_override: Option<Node<'a, 'i>>,
    skipped: Vec<String>,
}

/// The objects of one scope (`shared` or the vsys), by name.
#[derive(Default)]
struct Scope<'a, 'i> {
    addresses: BTreeMap<String, Node<'a, 'i>>,
    groups: BTreeMap<String, Node<'a, 'i>>,
    services: BTreeMap<String, Node<'a, 'i>>,
    service_groups: BTreeMap<String, Node<'a, 'i>>,
    external_lists: BTreeSet<String>,
    regions: BTreeSet<String>,
    schedules: BTreeSet<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
enum ScopeKind {
    Shared,
    Vsys,
}

/// A set of addresses a rule field matches: `exact` for certain, `maybe`
/// where it depends on what cannot be evaluated offline (`why`).
#[derive(Clone, Default)]
struct Addrs {
    exact: AddrSet,
    maybe: AddrSet,
    why: Vec<String>,
}

/// The same for services.
#[derive(Clone, Default)]
struct Services {
    exact: ServiceSet,
    maybe: ServiceSet,
    why: Vec<String>,
}

struct Reader<'t> {
    text: &'t str,
    lines: LineIndex,
    /// What each address and service name resolves to, per scope it is
    /// looked up from (`ScopeKind as usize`): thousands of rules name the
    /// same objects, and a name resolves alike wherever it is used (only
    /// successes are kept; an error is reported at its first use).
    addresses: [RefCell<FxHashMap<String, Addrs>>; 2],
    services: [RefCell<FxHashMap<String, Services>>; 2],
}

// ------------------------------------------------------------------ XML helpers

fn elements<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
}

fn tag<'a>(node: Node<'a, '_>) -> &'a str {
    node.name()
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    elements(node).find(|c| c.has_tag_name(name))
}

known_tags! {
    /// The elements a rule's reading asks for by name: the modelled ones,
    /// then [`IDENTITY_FIELDS`].
    E, rule_element:
    From = "from",
    To = "to",
    Source = "source",
    Destination = "destination",
    Application = "application",
    Service = "service",
    Action = "action",
    IcmpUnreachable = "icmp-unreachable",
    LogStart = "log-start",
    LogEnd = "log-end",
    RuleType = "rule-type",
    NegateSource = "negate-source",
    NegateDestination = "negate-destination",
    Disabled = "disabled",
    Schedule = "schedule",
    SourceUser = "source-user",
    Category = "category",
    SourceHip = "source-hip",
    DestinationHip = "destination-hip",
    HipProfiles = "hip-profiles",
}

/// A security rule (or a predefined rule's override) with its elements
/// looked up once: a rule's dozen elements are asked for some thirty
/// times while it is read.
type Rule<'a, 'i> = Known<'a, 'i, { E::COUNT }>;

fn rule_of<'a, 'i>(node: Node<'a, 'i>) -> Rule<'a, 'i> {
    Known::of(node, rule_element)
}

impl<'a, 'i> Rule<'a, 'i> {
    /// The first element `name` (one of [`E`]'s tags), as [`child`] finds
    /// it.
    fn element(&self, name: &str) -> Option<Node<'a, 'i>> {
        let k = rule_element(name);
        debug_assert!(k.is_some(), "<{name}> is not looked up once");
        k.and_then(|k| self.child(k))
    }
}

/// `<entry>` children of `<rules>` (or of the element itself).
fn entries<'a, 'i>(node: Node<'a, 'i>) -> Vec<Node<'a, 'i>> {
    let holder = child(node, "rules").unwrap_or(node);
    elements(holder)
        .filter(|c| c.has_tag_name("entry"))
        .collect()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl<'t> Reader<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            text,
            lines: LineIndex::new(text),
            addresses: Default::default(),
            services: Default::default(),
        }
    }

    fn at(&self, node: Node<'_, '_>) -> (usize, usize) {
        self.lines.at(self.text, node.start())
    }

    fn err(&self, node: Node<'_, '_>, message: impl Into<String>) -> DeviceError {
        let (line, column) = self.at(node);
        DeviceError::at(line, column, message)
    }

    /// The text of a leaf element, trimmed.
    fn leaf(&self, node: Node<'_, '_>) -> Result<String, DeviceError> {
        self.leaf_str(node).map(str::to_string)
    }

    /// [`Reader::leaf`], borrowed from the document.
    fn leaf_str<'a>(&self, node: Node<'a, '_>) -> Result<&'a str, DeviceError> {
        if elements(node).next().is_some() {
            return Err(self.err(
                node,
                format!("<{}> must hold text, not elements", tag(node)),
            ));
        }
        Ok(node.text())
    }

    fn yes_no(&self, node: Node<'_, '_>) -> Result<bool, DeviceError> {
        match self.leaf_str(node)? {
            "yes" => Ok(true),
            "no" => Ok(false),
            other => Err(self.err(
                node,
                format!("<{}> must be yes or no, not `{other}`", tag(node)),
            )),
        }
    }

    /// An `<entry>`'s name attribute.
    fn name(&self, node: Node<'_, '_>) -> Result<String, DeviceError> {
        if !node.has_tag_name("entry") {
            return Err(self.err(
                node,
                format!("expected <entry name=\"…\">, found <{}>", tag(node)),
            ));
        }
        match node.attribute("name") {
            Some(n) if !n.is_empty() => Ok(n.to_string()),
            _ => Err(self.err(node, "an <entry> needs a non-empty name attribute")),
        }
    }

    /// `<member>` children (a bare text value counts as one member, as
    /// older exports write `<service>any</service>` in NAT rules).
    fn members(&self, node: Node<'_, '_>) -> Result<Vec<String>, DeviceError> {
        let mut out = Vec::new();
        for m in elements(node) {
            if !m.has_tag_name("member") {
                return Err(self.err(
                    m,
                    format!(
                        "expected <member> inside <{}>, found <{}>",
                        tag(node),
                        tag(m)
                    ),
                ));
            }
            let v = self.leaf(m)?;
            if v.is_empty() {
                return Err(self.err(m, "empty <member>"));
            }
            out.push(v);
        }
        if out.is_empty() {
            let v = self.leaf(node)?;
            if v.is_empty() {
                return Err(self.err(node, format!("<{}> without members", tag(node))));
            }
            out.push(v);
        }
        Ok(out)
    }

    /// The start tag of `node` as the file prints it (`<entry name="x">`).
    fn start_tag(&self, node: Node<'_, '_>) -> String {
        let rest = &self.text[node.start()..];
        let mut quote = None;
        for (i, c) in rest.char_indices() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '>') => return rest[..=i].trim().to_string(),
                _ => {}
            }
        }
        rest.lines().next().unwrap_or("").trim().to_string()
    }

    fn origin(&self, node: Node<'_, '_>, rule: Option<String>) -> Origin {
        let (line, column) = self.at(node);
        Origin {
            line,
            column,
            text: self.start_tag(node),
            rule,
        }
    }
}

// ------------------------------------------------------------------ layout

impl<'t> Reader<'t> {
    fn config<'a, 'i>(&self, doc: &'a Document<'i>) -> Result<Config<'a, 'i>, DeviceError> {
        let config = self.config_element(doc.root_element())?;
        let mut skipped = Vec::new();
        let mut shared = None;
        let mut device = None;
        for section in elements(config) {
            match tag(section) {
                "shared" => shared = Some(section),
                "devices" => {
                    let list: Vec<_> = elements(section).collect();
                    match list.as_slice() {
                        [one] => {
                            self.name(*one)?;
                            device = Some(*one);
                        }
                        _ => {
                            return Err(self.err(
                                section,
                                "expected exactly one <devices><entry> (the firewall)",
                            ));
                        }
                    }
                }
                "mgt-config" => skipped.push(self.summary("management (mgt-config)", section)),
                other => skipped.push(format!("<{other}>")),
            }
        }
        let device = device.ok_or_else(|| {
            self.err(
                config,
                "no <devices><entry>: not a firewall's configuration",
            )
        })?;
        let mut vsys = None;
        for section in elements(device) {
            match tag(section) {
                "vsys" => vsys = Some(self.one_vsys(section)?),
                "deviceconfig" => {
                    skipped.push(self.summary("device configuration (deviceconfig)", section))
                }
                "network" => skipped.push(self.network_summary(section)),
                "device-group" | "template" | "template-stack" => {
                    return Err(self.err(
                        section,
                        "a Panorama configuration (device groups, templates): read the \
                         firewall's own running configuration instead",
                    ));
                }
                other => skipped.push(format!("<{other}>")),
            }
        }
        let vsys = vsys.ok_or_else(|| self.err(device, "no <vsys><entry> in the device"))?;
        let mut c = Config {
            parsed: Parsed {
                vsys: self.name(vsys)?,
                ..Parsed::default()
            },
            shared: Scope::default(),
            vsys: Scope::default(),
            zones: Vec::new(),
            rules: Vec::new(),
            intrazone_override: None,
            interzone_override: None,
            skipped,
        };
        let mut shared_pre = Vec::new();
        let mut shared_post = Vec::new();
        if let Some(shared) = shared {
            let mut other = Vec::new();
            for section in elements(shared) {
                match tag(section) {
                    "pre-rulebase" => shared_pre = self.pushed_rules(section, &mut c)?,
                    "post-rulebase" => shared_post = self.pushed_rules(section, &mut c)?,
                    _ => {
                        if !self.objects(section, ScopeKind::Shared, &mut c)? {
                            other.push(tag(section).to_string());
                        }
                    }
                }
            }
            if !other.is_empty() {
                c.skipped
                    .push(format!("shared settings ({})", other.join(", ")));
            }
        }
        let mut pre = Vec::new();
        let mut local = Vec::new();
        let mut post = Vec::new();
        let mut other = Vec::new();
        for section in elements(vsys) {
            match tag(section) {
                "zone" => self.zones(section, &mut c)?,
                "rulebase" => local = self.rulebase(section, &mut c)?,
                "pre-rulebase" => pre = self.pushed_rules(section, &mut c)?,
                "post-rulebase" => post = self.pushed_rules(section, &mut c)?,
                _ => {
                    if !self.objects(section, ScopeKind::Vsys, &mut c)? {
                        other.push(tag(section).to_string());
                    }
                }
            }
        }
        if !other.is_empty() {
            c.skipped
                .push(format!("{} settings ({})", c.parsed.vsys, other.join(", ")));
        }
        c.rules = [shared_pre, pre, local, post, shared_post]
            .concat()
            .into_iter()
            .map(rule_of)
            .collect();
        self.record_rules(&mut c)?;
        Ok(c)
    }

    /// `<config>`, bare or as the XML API answers `show config running`
    /// (`<response status="success"><result><config>`).
    fn config_element<'a, 'i>(&self, root: Node<'a, 'i>) -> Result<Node<'a, 'i>, DeviceError> {
        if root.has_tag_name("config") {
            return Ok(root);
        }
        if root.has_tag_name("response")
            && let Some(result) = child(root, "result")
            && let Some(config) = child(result, "config")
        {
            return Ok(config);
        }
        Err(self.err(
            root,
            format!(
                "expected <config> (or <response><result><config>), found <{}>",
                tag(root)
            ),
        ))
    }

    fn one_vsys<'a, 'i>(&self, list: Node<'a, 'i>) -> Result<Node<'a, 'i>, DeviceError> {
        let all: Vec<_> = elements(list).collect();
        match all.as_slice() {
            [one] => Ok(*one),
            [] => Err(self.err(list, "<vsys> without an <entry>")),
            _ => Err(self.err(
                list,
                format!(
                    "{} virtual systems: zone names are per vsys and which vsys a packet \
                     belongs to is not in this model; export one vsys per file",
                    all.len()
                ),
            )),
        }
    }

    /// `KIND (child, child, …)`.
    fn summary(&self, kind: &str, node: Node<'_, '_>) -> String {
        let kids: Vec<&str> = elements(node).map(tag).collect();
        if kids.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}: {}", kids.join(", "))
        }
    }

    /// The network section, with routers and tunnels counted.
    fn network_summary(&self, network: Node<'_, '_>) -> String {
        let count = |path: &[&str]| {
            let mut node = Some(network);
            for p in path {
                node = node.and_then(|n| child(n, p));
            }
            node.map_or(0, |n| elements(n).count())
        };
        let mut parts = Vec::new();
        let routers = count(&["virtual-router"]) + count(&["logical-router"]);
        if routers > 0 {
            parts.push(plural(routers, "virtual router", "virtual routers"));
        }
        let tunnels = count(&["tunnel", "ipsec"]);
        if tunnels > 0 {
            parts.push(plural(tunnels, "IPsec tunnel", "IPsec tunnels"));
        }
        let gateways = count(&["ike", "gateway"]);
        if gateways > 0 {
            parts.push(plural(gateways, "IKE gateway", "IKE gateways"));
        }
        let kids: Vec<&str> = elements(network).map(tag).collect();
        format!(
            "network (routing, VPN, interfaces{}): {}",
            if parts.is_empty() {
                String::new()
            } else {
                format!("; {}", parts.join(", "))
            },
            kids.join(", ")
        )
    }

    fn zones<'a, 'i>(
        &self,
        section: Node<'a, 'i>,
        c: &mut Config<'a, 'i>,
    ) -> Result<(), DeviceError> {
        for z in elements(section) {
            let name = self.name(z)?;
            if c.zones.contains(&name) {
                return Err(self.err(z, format!("zone {name} defined twice")));
            }
            let mut interfaces = Vec::new();
            if let Some(network) = child(z, "network") {
                // The mode element lists the interfaces; zone protection
                // and log forwarding decide no rule match.
                let modes = [
                    "layer3",
                    "layer2",
                    "virtual-wire",
                    "tap",
                    "external",
                    "tunnel",
                ];
                for mode in elements(network).filter(|m| modes.contains(&tag(*m))) {
                    if elements(mode).next().is_some() {
                        interfaces.extend(self.members(mode)?);
                    }
                }
            }
            c.zones.push(name.clone());
            c.parsed.zones.push((name, interfaces));
        }
        Ok(())
    }

    /// Reads an object section into `kind`'s scope; `false` when the
    /// section holds no object kind a rule's match can use.
    fn objects<'a, 'i>(
        &self,
        section: Node<'a, 'i>,
        kind: ScopeKind,
        c: &mut Config<'a, 'i>,
    ) -> Result<bool, DeviceError> {
        let prefix = match kind {
            ScopeKind::Shared => "shared",
            ScopeKind::Vsys => "vsys",
        };
        let tag_name = tag(section);
        const OBJECT_KINDS: &[&str] = &[
            "address",
            "address-group",
            "service",
            "service-group",
            "external-list",
            "region",
            "schedule",
        ];
        if !OBJECT_KINDS.contains(&tag_name) {
            return Ok(false);
        }
        for e in elements(section) {
            let name = self.name(e)?;
            let key = format!("{prefix}/{name}");
            let scope = match kind {
                ScopeKind::Shared => &mut c.shared,
                ScopeKind::Vsys => &mut c.vsys,
            };
            let fresh = match tag_name {
                "address" => {
                    let a = self.parsed_address(e, &name)?;
                    c.parsed.addresses.insert(key, a);
                    scope.addresses.insert(name.clone(), e).is_none()
                        && !scope.groups.contains_key(&name)
                }
                "address-group" => {
                    let g = self.parsed_group(e, &name)?;
                    c.parsed.groups.insert(key, g);
                    scope.groups.insert(name.clone(), e).is_none()
                        && !scope.addresses.contains_key(&name)
                }
                "service" => {
                    let s = self.parsed_service(e, &name)?;
                    c.parsed.services.insert(key, s);
                    scope.services.insert(name.clone(), e).is_none()
                        && !scope.service_groups.contains_key(&name)
                }
                "service-group" => {
                    let members = child(e, "members").ok_or_else(|| {
                        self.err(e, format!("service group {name}: no <members>"))
                    })?;
                    c.parsed.service_groups.insert(key, self.members(members)?);
                    scope.service_groups.insert(name.clone(), e).is_none()
                        && !scope.services.contains_key(&name)
                }
                "external-list" => scope.external_lists.insert(name.clone()),
                "region" => scope.regions.insert(name.clone()),
                _ => scope.schedules.insert(name.clone()),
            };
            if !fresh {
                return Err(self.err(e, format!("{tag_name} {name}: the name is used twice")));
            }
        }
        Ok(true)
    }

    fn parsed_address(&self, e: Node<'_, '_>, name: &str) -> Result<ParsedAddress, DeviceError> {
        let mut value = None;
        for c in elements(e) {
            match tag(c) {
                k @ ("ip-netmask" | "ip-range" | "ip-wildcard" | "fqdn") => {
                    if value.is_some() {
                        return Err(self.err(c, format!("address {name}: two values")));
                    }
                    value = Some(ParsedAddress {
                        kind: k.to_string(),
                        value: self.leaf(c)?,
                    });
                }
                "description" | "tag" | "disable-override" => {}
                other => {
                    return Err(self.err(
                        c,
                        format!(
                            "address {name}: unexpected <{other}> (expected ip-netmask, \
                             ip-range, ip-wildcard or fqdn)"
                        ),
                    ));
                }
            }
        }
        value.ok_or_else(|| self.err(e, format!("address {name}: no value")))
    }

    fn parsed_group(&self, e: Node<'_, '_>, name: &str) -> Result<ParsedGroup, DeviceError> {
        let mut group = None;
        for c in elements(e) {
            match tag(c) {
                "static" if group.is_none() => {
                    group = Some(ParsedGroup {
                        members: Some(self.members(c)?),
                        filter: None,
                    })
                }
                "dynamic" if group.is_none() => {
                    let filter = child(c, "filter")
                        .map(|f| self.leaf(f))
                        .transpose()?
                        .unwrap_or_default();
                    group = Some(ParsedGroup {
                        members: None,
                        filter: Some(filter),
                    })
                }
                "description" | "tag" | "disable-override" => {}
                other => {
                    return Err(self.err(
                        c,
                        format!(
                            "address group {name}: unexpected or repeated <{other}> \
                             (expected one static or dynamic)"
                        ),
                    ));
                }
            }
        }
        group.ok_or_else(|| {
            self.err(
                e,
                format!("address group {name}: neither static nor dynamic"),
            )
        })
    }

    fn parsed_service(&self, e: Node<'_, '_>, name: &str) -> Result<ParsedService, DeviceError> {
        let protocol = child(e, "protocol")
            .ok_or_else(|| self.err(e, format!("service {name}: no <protocol>")))?;
        for c in elements(e) {
            if !matches!(
                tag(c),
                "protocol" | "description" | "tag" | "disable-override"
            ) {
                return Err(self.err(c, format!("service {name}: unexpected <{}>", tag(c))));
            }
        }
        let protos: Vec<_> = elements(protocol).collect();
        let [p] = protos.as_slice() else {
            return Err(self.err(protocol, format!("service {name}: expected one protocol")));
        };
        if !matches!(tag(*p), "tcp" | "udp" | "sctp") {
            return Err(self.err(
                *p,
                format!(
                    "service {name}: protocol <{}> (expected tcp, udp or sctp)",
                    tag(*p)
                ),
            ));
        }
        let mut port = None;
        let mut source_port = None;
        for c in elements(*p) {
            match tag(c) {
                "port" => port = Some(self.leaf(c)?),
                "source-port" => source_port = Some(self.leaf(c)?),
                // Session timeouts decide no match.
                "override" => {}
                other => {
                    return Err(self.err(c, format!("service {name}: unexpected <{other}>")));
                }
            }
        }
        Ok(ParsedService {
            protocol: tag(*p).to_string(),
            port: port.ok_or_else(|| self.err(*p, format!("service {name}: no <port>")))?,
            source_port,
        })
    }

    /// The vsys's `<rulebase>`: its security rules (returned), default rule
    /// overrides, and the rule bases that are skipped or refused.
    fn rulebase<'a, 'i>(
        &self,
        section: Node<'a, 'i>,
        c: &mut Config<'a, 'i>,
    ) -> Result<Vec<Node<'a, 'i>>, DeviceError> {
        let mut security = Vec::new();
        for base in elements(section) {
            match tag(base) {
                "security" => security = entries(base),
                "default-security-rules" => self.default_overrides(base, c)?,
                other => self.other_rulebase(other, base, c)?,
            }
        }
        Ok(security)
    }

    /// A Panorama-pushed `pre-rulebase` / `post-rulebase`: its security
    /// rules; default rule overrides belong to the local rule base only.
    fn pushed_rules<'a, 'i>(
        &self,
        section: Node<'a, 'i>,
        c: &mut Config<'a, 'i>,
    ) -> Result<Vec<Node<'a, 'i>>, DeviceError> {
        let mut security = Vec::new();
        for base in elements(section) {
            match tag(base) {
                "security" => security = entries(base),
                "default-security-rules" => {
                    return Err(self.err(
                        base,
                        "default-security-rules in a pushed rule base: where they apply \
                         is not modelled",
                    ));
                }
                other => self.other_rulebase(other, base, c)?,
            }
        }
        Ok(security)
    }

    fn other_rulebase(
        &self,
        kind: &str,
        base: Node<'_, '_>,
        c: &mut Config<'_, '_>,
    ) -> Result<(), DeviceError> {
        let rules = entries(base);
        let enabled = |r: &Node<'_, '_>| -> Result<bool, DeviceError> {
            Ok(!child(*r, "disabled")
                .map(|d| self.yes_no(d))
                .transpose()?
                .unwrap_or(false))
        };
        if let Some((_, label)) = SKIPPED_RULEBASES.iter().find(|(k, _)| *k == kind) {
            c.skipped.push(format!(
                "{label} ({})",
                plural(rules.len(), "rule", "rules")
            ));
            return Ok(());
        }
        let refuse = |r: Node<'_, '_>, why: &str| -> DeviceError {
            let name = r.attribute("name").unwrap_or("?");
            self.err(r, format!("{kind} rule {name}: {why}; it is not modelled"))
        };
        match kind {
            // PBF forwards (routing) unless it discards.
            "pbf" => {
                for r in &rules {
                    if enabled(r)?
                        && child(*r, "action")
                            .and_then(|a| child(a, "discard"))
                            .is_some()
                    {
                        return Err(refuse(*r, "a PBF discard drops forwarded traffic"));
                    }
                }
                c.skipped.push(format!(
                    "policy-based forwarding ({})",
                    plural(rules.len(), "rule", "rules")
                ));
            }
            "dos" => {
                for r in &rules {
                    let denies = child(*r, "action").and_then(|a| child(a, "deny")).is_some();
                    if enabled(r)? && denies {
                        return Err(refuse(*r, "a DoS rule with action deny drops traffic"));
                    }
                }
                c.skipped.push(format!(
                    "DoS protection ({})",
                    plural(rules.len(), "rule", "rules")
                ));
            }
            "authentication" | "tunnel-inspect" => {
                for r in &rules {
                    if enabled(r)? {
                        return Err(refuse(*r, "it can stop forwarded traffic"));
                    }
                }
                c.skipped.push(format!(
                    "{kind} ({}, all disabled)",
                    plural(rules.len(), "rule", "rules")
                ));
            }
            other => {
                return Err(self.err(
                    base,
                    format!("unknown rule base <{other}>: it may decide forwarded traffic"),
                ));
            }
        }
        Ok(())
    }

    fn default_overrides<'a, 'i>(
        &self,
        base: Node<'a, 'i>,
        c: &mut Config<'a, 'i>,
    ) -> Result<(), DeviceError> {
        for e in entries(base) {
            let name = self.name(e)?;
            let slot = match name.as_str() {
                "intrazone-default" => &mut c.intrazone_override,
                "interzone-default" => &mut c.interzone_override,
                other => {
                    return Err(self.err(
                        e,
                        format!(
                            "unknown default rule {other} (expected intrazone-default or \
                             interzone-default)"
                        ),
                    ));
                }
            };
            if slot.replace(e).is_some() {
                return Err(self.err(e, format!("{name} overridden twice")));
            }
        }
        Ok(())
    }

    /// Records every security rule in PAN-OS's terms, refusing a name
    /// used twice.
    fn record_rules(&self, c: &mut Config<'_, '_>) -> Result<(), DeviceError> {
        let mut seen = BTreeSet::new();
        for rule in c.rules.clone() {
            let r = rule.node;
            let name = self.name(r)?;
            if !seen.insert(name.clone()) {
                return Err(self.err(r, format!("security rule {name} defined twice")));
            }
            let list = |field: &str| -> Result<Vec<String>, DeviceError> {
                rule.element(field)
                    .map(|n| self.members(n))
                    .transpose()
                    .map(|v| v.unwrap_or_default())
            };
            let flag = |field: &str| -> Result<bool, DeviceError> {
                Ok(rule
                    .element(field)
                    .map(|n| self.yes_no(n))
                    .transpose()?
                    .unwrap_or(false))
            };
            c.parsed.rules.push(ParsedRule {
                name,
                from: list("from")?,
                to: list("to")?,
                source: list("source")?,
                destination: list("destination")?,
                application: list("application")?,
                service: list("service")?,
                action: rule
                    .element("action")
                    .map(|a| self.leaf(a))
                    .transpose()?
                    .unwrap_or_default(),
                rule_type: rule
                    .element("rule-type")
                    .map(|a| self.leaf(a))
                    .transpose()?
                    .unwrap_or_else(|| "universal".into()),
                negate_source: flag("negate-source")?,
                negate_destination: flag("negate-destination")?,
                disabled: flag("disabled")?,
            });
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ objects

impl<'t> Reader<'t> {
    /// The addresses a rule's `source` / `destination` list matches,
    /// resolved from the vsys (then shared).
    fn address_list(
        &self,
        c: &Config<'_, '_>,
        field: Node<'_, '_>,
        members: &[String],
    ) -> Result<Addrs, DeviceError> {
        if members == ["any"] {
            return Ok(Addrs {
                exact: AddrSet::any(),
                ..Addrs::default()
            });
        }
        let mut out = Addrs::default();
        for m in members {
            if m == "any" {
                return Err(self.err(field, "`any` beside other members"));
            }
            let a = self.address_member(c, ScopeKind::Vsys, m, field, &mut Vec::new())?;
            out.union_with(a);
        }
        Ok(out)
    }

    /// One member name: an object or group of `scope` (a vsys name may
    /// use shared objects), an external list, a region, or a literal
    /// address, CIDR or range.
    fn address_member(
        &self,
        c: &Config<'_, '_>,
        scope: ScopeKind,
        name: &str,
        at: Node<'_, '_>,
        path: &mut Vec<String>,
    ) -> Result<Addrs, DeviceError> {
        if path.iter().any(|p| p == name) {
            return Err(self.err(
                at,
                format!("address group cycle: {} → {name}", path.join(" → ")),
            ));
        }
        memoized(&self.addresses[scope as usize], name, || {
            self.resolve_address(c, scope, name, at, path)
        })
    }

    /// [`Reader::address_member`], not yet resolved.
    fn resolve_address(
        &self,
        c: &Config<'_, '_>,
        scope: ScopeKind,
        name: &str,
        at: Node<'_, '_>,
        path: &mut Vec<String>,
    ) -> Result<Addrs, DeviceError> {
        let scopes: &[ScopeKind] = match scope {
            ScopeKind::Vsys => &[ScopeKind::Vsys, ScopeKind::Shared],
            ScopeKind::Shared => &[ScopeKind::Shared],
        };
        for &s in scopes {
            let objects = match s {
                ScopeKind::Vsys => &c.vsys,
                ScopeKind::Shared => &c.shared,
            };
            if let Some(e) = objects.addresses.get(name) {
                return self.address_object(*e, name);
            }
            if let Some(g) = objects.groups.get(name) {
                path.push(name.to_string());
                let r = self.address_group(c, s, *g, name, path);
                path.pop();
                return r;
            }
            if objects.external_lists.contains(name) {
                return Ok(Addrs::undecidable(format!("external dynamic list {name}")));
            }
            if objects.regions.contains(name) {
                return Ok(Addrs::undecidable(format!("region {name}")));
            }
        }
        if let Some(set) = literal_address(name) {
            return Ok(Addrs {
                exact: set,
                ..Addrs::default()
            });
        }
        // Predefined regions are two-letter country codes.
        if name.len() == 2 && name.bytes().all(|b| b.is_ascii_uppercase()) {
            return Ok(Addrs::undecidable(format!("region {name} (geolocation)")));
        }
        Err(self.err(
            at,
            format!(
                "`{name}` is no address object, group, external list, region or address literal"
            ),
        ))
    }

    fn address_object(&self, e: Node<'_, '_>, name: &str) -> Result<Addrs, DeviceError> {
        let a = self.parsed_address(e, name)?;
        let bad = |why: &str| self.err(e, format!("address {name}: `{}` {why}", a.value));
        let exact = |set| Addrs {
            exact: set,
            ..Addrs::default()
        };
        match a.kind.as_str() {
            "ip-netmask" => {
                if let Ok(ip) = a.value.parse::<IpAddr>() {
                    return Ok(exact(AddrSet::from_addr(ip)));
                }
                let net: IpNet = a
                    .value
                    .parse()
                    .map_err(|_| bad("is not an address or prefix"))?;
                if net.addr() != net.network() {
                    return Ok(Addrs {
                        maybe: AddrSet::from_net(net),
                        why: vec![format!("address {name} ({}) has host bits set", a.value)],
                        ..Addrs::default()
                    });
                }
                Ok(exact(AddrSet::from_net(net)))
            }
            "ip-range" => parse_range(&a.value)
                .map(exact)
                .ok_or_else(|| bad("is not a range FIRST-LAST of one family")),
            "ip-wildcard" => parse_wildcard(&a.value).map(exact).map_err(|why| bad(&why)),
            _ => Ok(Addrs::undecidable(format!(
                "FQDN address {name} ({})",
                a.value
            ))),
        }
    }

    fn address_group(
        &self,
        c: &Config<'_, '_>,
        scope: ScopeKind,
        g: Node<'_, '_>,
        name: &str,
        path: &mut Vec<String>,
    ) -> Result<Addrs, DeviceError> {
        let parsed = self.parsed_group(g, name)?;
        let Some(members) = parsed.members else {
            return Ok(Addrs::undecidable(format!(
                "dynamic address group {name} ({})",
                parsed.filter.unwrap_or_default()
            )));
        };
        let mut out = Addrs::default();
        for m in &members {
            out.union_with(self.address_member(c, scope, m, g, path)?);
        }
        Ok(out)
    }

    /// The services a rule's `service` list matches.
    fn service_list(
        &self,
        c: &Config<'_, '_>,
        field: Node<'_, '_>,
        members: &[String],
    ) -> Result<Services, DeviceError> {
        match members {
            [one] if one == "any" => {
                return Ok(Services {
                    exact: ServiceSet::any(),
                    ..Services::default()
                });
            }
            [one] if one == "application-default" => {
                return Ok(Services {
                    maybe: ServiceSet::any(),
                    why: vec!["service application-default (each application's default ports, from App-ID)".into()],
                    ..Services::default()
                });
            }
            _ => {}
        }
        let mut out = Services::default();
        for m in members {
            if m == "any" || m == "application-default" {
                return Err(self.err(field, format!("`{m}` beside other services")));
            }
            out.union_with(self.service_member(c, ScopeKind::Vsys, m, field, &mut Vec::new())?);
        }
        Ok(out)
    }

    fn service_member(
        &self,
        c: &Config<'_, '_>,
        scope: ScopeKind,
        name: &str,
        at: Node<'_, '_>,
        path: &mut Vec<String>,
    ) -> Result<Services, DeviceError> {
        if path.iter().any(|p| p == name) {
            return Err(self.err(
                at,
                format!("service group cycle: {} → {name}", path.join(" → ")),
            ));
        }
        memoized(&self.services[scope as usize], name, || {
            self.resolve_service(c, scope, name, at, path)
        })
    }

    /// [`Reader::service_member`], not yet resolved.
    fn resolve_service(
        &self,
        c: &Config<'_, '_>,
        scope: ScopeKind,
        name: &str,
        at: Node<'_, '_>,
        path: &mut Vec<String>,
    ) -> Result<Services, DeviceError> {
        let scopes: &[ScopeKind] = match scope {
            ScopeKind::Vsys => &[ScopeKind::Vsys, ScopeKind::Shared],
            ScopeKind::Shared => &[ScopeKind::Shared],
        };
        for &s in scopes {
            let objects = match s {
                ScopeKind::Vsys => &c.vsys,
                ScopeKind::Shared => &c.shared,
            };
            if let Some(e) = objects.services.get(name) {
                return self.service_object(*e, name);
            }
            if let Some(g) = objects.service_groups.get(name) {
                let members = child(*g, "members")
                    .ok_or_else(|| self.err(*g, format!("service group {name}: no <members>")))?;
                path.push(name.to_string());
                let mut out = Services::default();
                for m in self.members(members)? {
                    out.union_with(self.service_member(c, s, &m, *g, path)?);
                }
                path.pop();
                return Ok(out);
            }
        }
        if let Some((_, ports)) = PREDEFINED_SERVICES.iter().find(|(n, _)| *n == name) {
            return Ok(Services {
                exact: ServiceSet {
                    tcp: PortSet::from_ranges(ports.iter().copied()),
                    ..ServiceSet::default()
                },
                ..Services::default()
            });
        }
        Err(self.err(
            at,
            format!("`{name}` is no service, service group or predefined service"),
        ))
    }

    fn service_object(&self, e: Node<'_, '_>, name: &str) -> Result<Services, DeviceError> {
        let s = self.parsed_service(e, name)?;
        let ports =
            parse_ports(&s.port).map_err(|m| self.err(e, format!("service {name}: {m}")))?;
        let mut set = ServiceSet::default();
        match s.protocol.as_str() {
            "tcp" => set.tcp = ports,
            "udp" => set.udp = ports,
            _ => {
                // SCTP (protocol 132): the model has no SCTP ports.
                set.protocols = ByteSet::single(132);
                return Ok(Services {
                    maybe: set,
                    why: vec![format!("SCTP service {name} (ports not modelled)")],
                    ..Services::default()
                });
            }
        }
        let Some(sp) = &s.source_port else {
            return Ok(Services {
                exact: set,
                ..Services::default()
            });
        };
        let sports = parse_ports(sp).map_err(|m| self.err(e, format!("service {name}: {m}")))?;
        Ok(match source_ports(&sports) {
            SourcePorts::Always => Services {
                exact: set,
                ..Services::default()
            },
            SourcePorts::Never => Services::default(),
            SourcePorts::Sometimes => Services {
                maybe: set,
                why: vec![format!(
                    "service {name} matches source ports {sp}, some client ports only"
                )],
                ..Services::default()
            },
        })
    }
}

impl Addrs {
    fn undecidable(why: String) -> Self {
        Self {
            maybe: AddrSet::any(),
            why: vec![why],
            ..Self::default()
        }
    }

    fn union_with(&mut self, other: Addrs) {
        // Most lists name one object: the first member is taken as it is.
        if self.exact.is_empty() && self.maybe.is_empty() && self.why.is_empty() {
            self.maybe = if other.maybe.is_empty() {
                other.maybe
            } else {
                other.maybe.difference(&other.exact)
            };
            self.exact = other.exact;
            self.why = other.why;
            return;
        }
        self.exact = self.exact.union(&other.exact);
        self.maybe = self.maybe.union(&other.maybe).difference(&self.exact);
        self.why.extend(other.why);
    }

    /// Every address outside the list: certainly outside the exact and
    /// the maybe parts; maybe where the list maybe holds it.
    fn negated(&self) -> Self {
        Self {
            exact: self.exact.union(&self.maybe).complement(),
            maybe: self.maybe.difference(&self.exact),
            why: self.why.clone(),
        }
    }

    /// Everything the list might match.
    fn hull(&self) -> AddrSet {
        self.exact.union(&self.maybe)
    }
}

impl Services {
    fn union_with(&mut self, other: Services) {
        if self.exact.is_empty() && self.maybe.is_empty() && self.why.is_empty() {
            *self = other;
            return;
        }
        self.exact = self.exact.union(&other.exact);
        self.maybe = self.maybe.union(&other.maybe);
        self.why.extend(other.why);
    }

    fn hull(&self) -> ServiceSet {
        self.exact.union(&self.maybe)
    }
}

/// A literal in a rule: an address, a CIDR or a range `FIRST-LAST`.
fn literal_address(text: &str) -> Option<AddrSet> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(AddrSet::from_addr(ip));
    }
    if let Ok(net) = text.parse::<IpNet>() {
        return (net.addr() == net.network()).then(|| AddrSet::from_net(net));
    }
    parse_range(text)
}

fn parse_range(text: &str) -> Option<AddrSet> {
    let (lo, hi) = text.split_once('-')?;
    let (lo, hi): (IpAddr, IpAddr) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
    let set = AddrSet::from_range(lo, hi);
    (!set.is_empty()).then_some(set)
}

/// An IPv4 `ADDRESS/WILDCARD-MASK`: a 1 bit in the mask matches either
/// value, a 0 bit must equal the address's ("Components of a Security
/// Policy Rule", wildcard address objects). The set is the union of one
/// interval per value of the mask's 1 bits above its trailing run.
fn parse_wildcard(text: &str) -> Result<AddrSet, String> {
    let (addr, mask) = text.split_once('/').ok_or("is not ADDRESS/WILDCARD-MASK")?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| "has no IPv4 address")?;
    let mask: Ipv4Addr = mask.parse().map_err(|_| "has no dotted wildcard mask")?;
    let (addr, mask) = (u32::from(addr), u32::from(mask));
    let trailing = mask.trailing_ones();
    let block = if trailing == 32 {
        u32::MAX
    } else {
        (1u32 << trailing) - 1
    };
    let high = mask & !block;
    if high.count_ones() > 16 {
        return Err("has more than 16 non-contiguous wildcard bits".into());
    }
    let bits: Vec<u32> = (0..32).filter(|b| high >> b & 1 == 1).collect();
    let base = addr & !mask;
    let mut ranges = Vec::with_capacity(1 << bits.len());
    for combo in 0u32..(1 << bits.len()) {
        let mut v = base;
        for (i, b) in bits.iter().enumerate() {
            if combo >> i & 1 == 1 {
                v |= 1 << b;
            }
        }
        ranges.push((v, v | block));
    }
    Ok(AddrSet {
        v4: crate::addrset::V4Set::from_ranges(ranges),
        v6: Default::default(),
    })
}

/// `N`, `N-M`, or a comma list of them (0–65535).
fn parse_ports(spec: &str) -> Result<PortSet, String> {
    let port = |s: &str| -> Result<u16, String> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("bad port `{s}` in `{spec}`"));
        }
        s.parse()
            .map_err(|_| format!("port `{s}` out of range in `{spec}`"))
    };
    let mut ranges = Vec::new();
    for item in spec.split(',') {
        let (lo, hi) = match item.split_once('-') {
            Some((lo, hi)) => (port(lo)?, port(hi)?),
            None => {
                let p = port(item)?;
                (p, p)
            }
        };
        if lo > hi {
            return Err(format!("empty range `{item}` in `{spec}`"));
        }
        ranges.push((lo, hi));
    }
    Ok(PortSet::from_ranges(ranges))
}

// ------------------------------------------------------------------ rules

/// One rule's match, resolved.
struct RuleMatch {
    src: Addrs,
    dst: Addrs,
    service: Services,
    /// Reasons the whole rule is undecidable (App-ID, users, schedule).
    why: Vec<String>,
}

impl<'t> Reader<'t> {
    fn device(&self, c: &Config<'_, '_>) -> Result<Device, DeviceError> {
        self.device_enabling(c, None)
    }

    /// The device, with the disabled rule at index `enable` (if any) read
    /// as if it were enabled.
    fn device_enabling(
        &self,
        c: &Config<'_, '_>,
        enable: Option<usize>,
    ) -> Result<Device, DeviceError> {
        let mut entries = Vec::new();
        let mut disabled = Vec::new();
        for (i, r) in c.rules.iter().enumerate() {
            let parsed = &c.parsed.rules[i];
            self.check_rule_fields(r, &parsed.name)?;
            if parsed.disabled && enable != Some(i) {
                disabled.push(parsed.name.clone());
                continue;
            }
            entries.extend(self.rule_entries(c, r, parsed)?);
        }
        let intrazone =
            self.default_decision(c.intrazone_override, "intrazone-default", Action::Allow)?;
        let interzone =
            self.default_decision(c.interzone_override, "interzone-default", Action::Deny)?;
        entries.extend(self.intrazone_entries(c, &intrazone, &interzone));
        let mut skipped = c.skipped.clone();
        if !disabled.is_empty() {
            skipped.push(format!(
                "disabled security rules ({}: {})",
                disabled.len(),
                disabled.join(", ")
            ));
        }
        let vsys = &c.parsed.vsys;
        Ok(Device {
            target: Target::Panos,
            places: (!c.zones.is_empty()).then(|| c.zones.clone()),
            layers: vec![Layer {
                name: format!("{vsys} security policy"),
                filters: vec![Filter {
                    name: format!("security rules of {vsys}"),
                    guard: Guard::any(),
                    entries,
                    default: interzone,
                }],
                unfiltered: Action::Deny,
            }],
            skipped,
        })
    }

    /// Every element of a rule is known: the ones modelled, the ones that
    /// decide nothing (`INERT_RULE_FIELDS`).
    fn check_rule_fields(&self, rule: &Rule<'_, '_>, name: &str) -> Result<(), DeviceError> {
        let r = rule.node;
        // The modelled elements are the ones looked up once; the inert
        // ones are few per rule, so a list finds a repeat of one fastest.
        let mut modelled = [false; E::COUNT];
        let mut inert: Vec<&str> = Vec::new();
        for f in elements(r) {
            let t = tag(f);
            let repeated = match rule_element(t) {
                Some(k) => std::mem::replace(&mut modelled[k], true),
                None if INERT_RULE_FIELDS.contains(&t) => {
                    let seen = inert.contains(&t);
                    inert.push(t);
                    seen
                }
                None => {
                    return Err(self.err(
                        f,
                        format!(
                            "rule {name}: unknown element <{t}>, which may change what the rule matches"
                        ),
                    ));
                }
            };
            if repeated {
                return Err(self.err(f, format!("rule {name}: <{t}> twice")));
            }
        }
        for required in ["from", "to", "source", "destination", "action"] {
            if rule.element(required).is_none() {
                return Err(self.err(r, format!("rule {name}: no <{required}>")));
            }
        }
        Ok(())
    }

    fn rule_entries(
        &self,
        c: &Config<'_, '_>,
        rule: &Rule<'_, '_>,
        parsed: &ParsedRule,
    ) -> Result<Vec<Entry>, DeviceError> {
        let name = &parsed.name;
        let r = rule.node;
        let m = self.rule_match(c, rule, parsed)?;
        let decision = Decision {
            action: self.rule_action(rule, name)?,
            log: self.logged(rule, false, true)?,
            origin: self.origin(r, Some(wardwall_rule_name(name, &parsed.from))),
        };
        let from = self.zone_list(c, rule, "from", &parsed.from, name)?;
        let to = self.zone_list(c, rule, "to", &parsed.to, name)?;
        let guards = self.rule_guards(c, rule, &parsed.rule_type, from, to, name)?;
        let exact_box = m.why.is_empty()
            && !m.src.exact.is_empty()
            && !m.dst.exact.is_empty()
            && !m.service.exact.is_empty();
        let why: Vec<&str> = m
            .why
            .iter()
            .chain(&m.src.why)
            .chain(&m.dst.why)
            .chain(&m.service.why)
            .map(String::as_str)
            .collect();
        // The box of what the rule may match, where something in it is
        // undecidable (the same for every guard).
        let hull = (!why.is_empty())
            .then(|| (m.src.hull(), m.dst.hull(), m.service.hull()))
            .filter(|(src, dst, service)| !src.is_empty() && !dst.is_empty() && !service.is_empty())
            .map(|hull| (hull, why.join("; ")));
        let mut out = Vec::new();
        for guard in guards {
            if exact_box {
                out.push(Entry {
                    guard: guard.clone(),
                    src: m.src.exact.clone(),
                    dst: m.dst.exact.clone(),
                    service: m.service.exact.clone(),
                    decision: decision.clone(),
                    undecidable: None,
                });
            }
            if let Some(((src, dst, service), why)) = &hull {
                out.push(Entry {
                    guard,
                    src: src.clone(),
                    dst: dst.clone(),
                    service: service.clone(),
                    decision: decision.clone(),
                    undecidable: Some(why.clone()),
                });
            }
        }
        Ok(out)
    }

    /// What rule `r` matches; its member lists as [`Reader::record_rules`]
    /// read them (`parsed`), not read again.
    fn rule_match(
        &self,
        c: &Config<'_, '_>,
        rule: &Rule<'_, '_>,
        parsed: &ParsedRule,
    ) -> Result<RuleMatch, DeviceError> {
        let name = &parsed.name;
        let r = rule.node;
        let field = |f: &str| {
            rule.element(f)
                .ok_or_else(|| self.err(r, format!("rule {name}: no <{f}>")))
        };
        let mut src = self.address_list(c, field("source")?, &parsed.source)?;
        if parsed.negate_source {
            src = src.negated();
        }
        let mut dst = self.address_list(c, field("destination")?, &parsed.destination)?;
        if parsed.negate_destination {
            dst = dst.negated();
        }
        let mut why = Vec::new();
        // Empty when the rule has no <application> (which matches any).
        let apps = parsed.application.as_slice();
        if !apps.is_empty() && apps != ["any"] {
            why.push(format!("application {} (App-ID)", apps.join(", ")));
        }
        let service = match rule.element("service") {
            Some(s) => self.service_list(c, s, &parsed.service)?,
            None => Services {
                exact: ServiceSet::any(),
                ..Services::default()
            },
        };
        for (f, what) in IDENTITY_FIELDS {
            if let Some(n) = rule.element(f) {
                let v = self.members(n)?;
                if v != ["any"] {
                    why.push(format!("{what} {}", v.join(", ")));
                }
            }
        }
        if let Some(s) = rule.element("schedule") {
            let v = self.leaf_str(s)?;
            if !v.is_empty() && v != "none" {
                why.push(format!("schedule {v}"));
            }
        }
        Ok(RuleMatch {
            src,
            dst,
            service,
            why,
        })
    }

    fn rule_action(&self, rule: &Rule<'_, '_>, name: &str) -> Result<Action, DeviceError> {
        let node = rule
            .element("action")
            .ok_or_else(|| self.err(rule.node, format!("rule {name}: no <action>")))?;
        let action = self.leaf_str(node)?;
        let unreachable = rule
            .element("icmp-unreachable")
            .map(|n| self.yes_no(n))
            .transpose()?
            .unwrap_or(false);
        Ok(match action {
            "allow" => Action::Allow,
            "drop" if unreachable => Action::Reject,
            "deny" | "drop" => Action::Deny,
            "reset-client" | "reset-server" | "reset-both" => Action::Reject,
            other => {
                return Err(self.err(
                    node,
                    format!(
                        "rule {name}: action `{other}` (expected one of {})",
                        ACTIONS.join(", ")
                    ),
                ));
            }
        })
    }

    /// Whether a session the rule decides is logged: at its start or end.
    fn logged(&self, rule: &Rule<'_, '_>, start: bool, end: bool) -> Result<bool, DeviceError> {
        let get = |f: &str, d: bool| -> Result<bool, DeviceError> {
            Ok(rule
                .element(f)
                .map(|n| self.yes_no(n))
                .transpose()?
                .unwrap_or(d))
        };
        Ok(get("log-start", start)? || get("log-end", end)?)
    }

    /// A `from` / `to` list: `None` for `any`, else zones of the vsys
    /// (every name must be a declared zone when the vsys declares any).
    /// A rule's `from` or `to` zones (`zones`, as `record_rules` read
    /// them); `None` for `any`.
    fn zone_list(
        &self,
        c: &Config<'_, '_>,
        rule: &Rule<'_, '_>,
        field: &str,
        zones: &[String],
        name: &str,
    ) -> Result<Option<Vec<String>>, DeviceError> {
        let node = rule
            .element(field)
            .ok_or_else(|| self.err(rule.node, format!("rule {name}: no <{field}>")))?;
        if zones == ["any"] {
            return Ok(None);
        }
        for z in zones {
            if z == "any" {
                return Err(self.err(node, format!("rule {name}: `any` beside other zones")));
            }
            if !c.zones.is_empty() && !c.zones.contains(z) {
                return Err(self.err(node, format!("rule {name}: unknown zone {z}")));
            }
        }
        Ok(Some(zones.to_vec()))
    }

    /// The guards of a rule's entries, by its type.
    fn rule_guards(
        &self,
        c: &Config<'_, '_>,
        rule: &Rule<'_, '_>,
        rule_type: &str,
        from: Option<Vec<String>>,
        to: Option<Vec<String>>,
        name: &str,
    ) -> Result<Vec<Guard>, DeviceError> {
        let r = rule.node;
        let known = || -> Result<Vec<String>, DeviceError> {
            if c.zones.is_empty() {
                Err(self.err(
                    r,
                    format!("rule {name}: a {rule_type} rule from any zone needs the zones the vsys declares, and it declares none"),
                ))
            } else {
                Ok(c.zones.clone())
            }
        };
        Ok(match rule_type {
            "universal" => {
                let mut g = Guard::any();
                if let Some(f) = from {
                    g.ingress.push(PlaceSet::of(f));
                }
                if let Some(t) = to {
                    g.egress.push(PlaceSet::of(t));
                }
                vec![g]
            }
            "intrazone" => {
                let zones = match from {
                    Some(f) => f,
                    None => known()?,
                };
                if to.as_ref().is_some_and(|t| {
                    t.iter().collect::<BTreeSet<_>>() != zones.iter().collect::<BTreeSet<_>>()
                }) {
                    return Err(self.err(
                        r,
                        format!("rule {name}: an intrazone rule whose destination zones differ from its source zones"),
                    ));
                }
                zones
                    .into_iter()
                    .map(|z| Guard {
                        ingress: vec![PlaceSet::of([z.clone()])],
                        egress: vec![PlaceSet::of([z])],
                        family: None,
                    })
                    .collect()
            }
            "interzone" => {
                let zones = match from {
                    Some(f) => f,
                    None => known()?,
                };
                zones
                    .into_iter()
                    .map(|z| {
                        let mut egress = vec![PlaceSet {
                            names: vec![z.clone()],
                            negated: true,
                            ..PlaceSet::default()
                        }];
                        if let Some(t) = &to {
                            egress.insert(0, PlaceSet::of(t.clone()));
                        }
                        Guard {
                            ingress: vec![PlaceSet::of([z])],
                            egress,
                            family: None,
                        }
                    })
                    .collect()
            }
            other => {
                return Err(self.err(
                    rule.element("rule-type").unwrap_or(rule.node),
                    format!("rule {name}: rule-type `{other}` (expected universal, intrazone or interzone)"),
                ));
            }
        })
    }

    /// A predefined rule's decision, overridden or not.
    fn default_decision(
        &self,
        over: Option<Node<'_, '_>>,
        name: &str,
        predefined: Action,
    ) -> Result<Decision, DeviceError> {
        let Some(e) = over else {
            return Ok(Decision {
                action: predefined,
                log: false,
                origin: Origin {
                    text: format!("PAN-OS predefined {name} rule ({predefined}, not logged)"),
                    ..Origin::default()
                },
            });
        };
        for f in elements(e) {
            if !matches!(
                tag(f),
                "action"
                    | "log-start"
                    | "log-end"
                    | "log-setting"
                    | "profile-setting"
                    | "icmp-unreachable"
                    | "tag"
                    | "description"
            ) {
                return Err(self.err(f, format!("{name} override: unexpected <{}>", tag(f))));
            }
        }
        let rule = rule_of(e);
        let action = match rule.element("action") {
            Some(_) => self.rule_action(&rule, name)?,
            None => predefined,
        };
        Ok(Decision {
            action,
            log: self.logged(&rule, false, false)?,
            origin: self.origin(e, None),
        })
    }

    /// `intrazone-default` for each zone (ingress = egress = the zone);
    /// where the vsys declares no zones, the zones its rules name, and an
    /// undecidable entry for packets within a zone no rule names.
    fn intrazone_entries(
        &self,
        c: &Config<'_, '_>,
        intrazone: &Decision,
        interzone: &Decision,
    ) -> Vec<Entry> {
        let mut zones = c.zones.clone();
        let declared = !zones.is_empty();
        if !declared {
            for r in &c.parsed.rules {
                for z in r.from.iter().chain(&r.to) {
                    if z != "any" && !zones.contains(z) {
                        zones.push(z.clone());
                    }
                }
            }
        }
        let entry = |guard: Guard, undecidable: Option<String>| Entry {
            guard,
            src: AddrSet::any(),
            dst: AddrSet::any(),
            service: ServiceSet::any(),
            decision: intrazone.clone(),
            undecidable,
        };
        let mut out: Vec<Entry> = zones
            .into_iter()
            .map(|z| {
                entry(
                    Guard {
                        ingress: vec![PlaceSet::of([z.clone()])],
                        egress: vec![PlaceSet::of([z])],
                        family: None,
                    },
                    None,
                )
            })
            .collect();
        if !declared && intrazone.action != interzone.action {
            out.push(entry(
                Guard::any(),
                Some("intrazone-default: the file declares no zones, so whether source and destination share one is not known".into()),
            ));
        }
        out
    }
}

/// The policy rule a PAN-OS rule name says it comes from, as wardwall
/// names the parts of a rule it splits.
fn wardwall_rule_name(name: &str, from: &[String]) -> String {
    if name == WARDWALL_DEFAULT {
        return "default".into();
    }
    let mut base = name;
    for suffix in WARDWALL_PART_SUFFIXES {
        if let Some(b) = base.strip_suffix(suffix) {
            base = b;
            break;
        }
    }
    if let Some((b, zone)) = base.rsplit_once(".from-")
        && from.iter().any(|z| z == zone)
    {
        base = b;
    }
    base.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Packet;

    const ZONES: &str = r#"<zone>
  <entry name="a"><network><layer3><member>ethernet1/1</member></layer3></network></entry>
  <entry name="b"><network><layer3><member>ethernet1/2</member></layer3></network></entry>
  <entry name="c"><network><layer3><member>ethernet1/3</member></layer3></network></entry>
</zone>"#;

    /// A running config with `shared` and one vsys holding `vsys`.
    fn config(shared: &str, vsys: &str) -> String {
        format!(
            "<config version=\"10.2.0\">\n<shared>{shared}</shared>\n<devices><entry name=\"localhost.localdomain\">\n<vsys><entry name=\"vsys1\">\n{vsys}\n</entry></vsys></entry></devices></config>\n"
        )
    }

    /// A security rule: `body` holds its fields beside defaults for the
    /// ones it does not set.
    fn rule(name: &str, body: &str) -> String {
        let mut r = format!("<entry name=\"{name}\">{body}");
        for (f, v) in [
            ("from", "any"),
            ("to", "any"),
            ("source", "any"),
            ("destination", "any"),
            ("application", "any"),
            ("service", "any"),
        ] {
            if !body.contains(&format!("<{f}>")) {
                r.push_str(&format!("<{f}><member>{v}</member></{f}>"));
            }
        }
        if !body.contains("<action>") {
            r.push_str("<action>allow</action>");
        }
        r + "</entry>\n"
    }

    fn rules(rules: &[String]) -> String {
        format!(
            "{ZONES}\n<rulebase><security><rules>\n{}</rules></security></rulebase>",
            rules.concat()
        )
    }

    fn read_ok(text: &str) -> Device {
        read(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// The elements looked up once hold the identity elements, and no
    /// inert one.
    #[test]
    fn rule_elements_are_found_by_name() {
        for (e, _) in IDENTITY_FIELDS {
            assert!(rule_element(e).is_some(), "{e}");
        }
        for e in INERT_RULE_FIELDS {
            assert_eq!(rule_element(e), None, "{e}");
        }
    }

    fn read_err(text: &str) -> DeviceError {
        match read(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e,
        }
    }

    /// (action, deciding rule name or default text, undecidable reasons).
    fn decide(
        d: &Device,
        src: &str,
        dst: &str,
        proto: &str,
        from: &str,
        to: &str,
    ) -> (Action, String, Vec<String>) {
        let p = Packet::parse(src, dst, proto).unwrap();
        let o = d.decide(&p, Some(from), Some(to));
        let (_, decision) = o.steps.last().unwrap();
        let who = decision
            .origin
            .rule
            .clone()
            .unwrap_or_else(|| decision.origin.text.clone());
        let why = o
            .undecided
            .iter()
            .map(|e| e.undecidable.clone().unwrap())
            .collect();
        (o.action, who, why)
    }

    #[test]
    fn rule_types_expand_per_zone() {
        let d = read_ok(&config(
            "",
            &rules(&[
                rule(
                    "intra",
                    "<from><member>a</member><member>b</member></from><rule-type>intrazone</rule-type><action>deny</action>",
                ),
                rule(
                    "inter",
                    "<from><member>a</member></from><to><member>a</member><member>b</member></to><rule-type>interzone</rule-type><action>reset-client</action>",
                ),
                rule(
                    "universal",
                    "<from><member>c</member></from><to><member>c</member></to>",
                ),
            ]),
        ));
        let p = |from, to| decide(&d, "10.0.0.1", "10.0.0.2", "tcp/80", from, to);
        assert_eq!(p("a", "a").1, "intra");
        assert_eq!(p("b", "b").1, "intra");
        assert_eq!(p("a", "b"), (Action::Reject, "inter".into(), vec![]));
        assert_eq!(p("b", "a").0, Action::Deny, "interzone-default");
        assert_eq!(p("a", "c").0, Action::Deny, "c is not a destination");
        assert_eq!(p("c", "c").1, "universal");
        // The predefined defaults, at line 0.
        let (action, text, _) = p("b", "c");
        assert_eq!(action, Action::Deny);
        assert!(text.contains("predefined interzone-default"), "{text}");
        let (action, text, _) = decide(
            &read_ok(&config("", &rules(&[]))),
            "10.0.0.1",
            "10.0.0.2",
            "udp/53",
            "b",
            "b",
        );
        assert_eq!(action, Action::Allow);
        assert!(text.contains("predefined intrazone-default"), "{text}");
    }

    #[test]
    fn objects_resolve_vsys_first_then_shared() {
        let shared = r#"<address>
  <entry name="srv"><ip-netmask>10.9.9.9</ip-netmask></entry>
  <entry name="net"><ip-netmask>10.1.0.0/16</ip-netmask></entry>
</address>
<address-group><entry name="g"><static><member>net</member></static></entry></address-group>
<service><entry name="web"><protocol><tcp><port>80,8000-8010</port></tcp></protocol></entry></service>"#;
        let vsys = format!(
            r#"<address><entry name="srv"><ip-range>10.2.0.1-10.2.0.3</ip-range></entry></address>
<service-group><entry name="sg"><members><member>web</member><member>service-https</member></members></entry></service-group>
{}"#,
            rules(&[rule(
                "r",
                "<source><member>g</member></source><destination><member>srv</member></destination><service><member>sg</member></service>",
            )])
        );
        let d = read_ok(&config(shared, &vsys));
        let p = |dst, proto| decide(&d, "10.1.2.3", dst, proto, "a", "b").1;
        assert_eq!(p("10.2.0.3", "tcp/8005"), "r");
        assert_eq!(p("10.2.0.2", "tcp/443"), "r");
        assert_ne!(p("10.2.0.4", "tcp/80"), "r");
        assert_ne!(p("10.9.9.9", "tcp/80"), "r", "the shared srv is shadowed");
        assert_ne!(p("10.2.0.1", "tcp/8011"), "r");
        assert_ne!(p("10.2.0.1", "udp/80"), "r");
    }

    #[test]
    fn a_shared_group_sees_only_shared_objects() {
        let shared = r#"<address-group><entry name="g"><static><member>v</member></static></entry></address-group>"#;
        let vsys = format!(
            r#"<address><entry name="v"><ip-netmask>10.0.0.1</ip-netmask></entry></address>{}"#,
            rules(&[rule("r", "<source><member>g</member></source>")])
        );
        let e = read_err(&config(shared, &vsys));
        assert!(e.message.contains("`v` is no address object"), "{e}");
    }

    #[test]
    fn negation_literals_and_wildcards_are_exact() {
        let vsys = format!(
            r#"<address><entry name="w"><ip-wildcard>10.20.0.1/0.0.254.0</ip-wildcard></entry></address>{}"#,
            rules(&[
                rule(
                    "not-private",
                    "<destination><member>10.0.0.0/8</member><member>fd00::/8</member></destination><negate-destination>yes</negate-destination>"
                ),
                rule(
                    "wild",
                    "<destination><member>w</member></destination><action>drop</action><icmp-unreachable>yes</icmp-unreachable>"
                ),
                rule("rest", "<action>drop</action>"),
            ])
        );
        let d = read_ok(&config("", &vsys));
        let p = |dst| decide(&d, "10.1.1.1", dst, "tcp/443", "a", "b");
        assert_eq!(p("8.8.8.8").1, "not-private");
        let v6 = |dst| decide(&d, "fd00::9", dst, "tcp/443", "a", "b").1;
        assert_eq!(v6("2001:db8::1"), "not-private");
        assert_eq!(v6("fd00::1"), "rest", "the wildcard is IPv4 only");
        // 10.20.x.1 with x even.
        assert_eq!(p("10.20.4.1"), (Action::Reject, "wild".into(), vec![]));
        assert_eq!(p("10.20.5.1").1, "rest");
        assert_eq!(p("10.20.4.2").1, "rest");
    }

    #[test]
    fn undecidable_parts_keep_the_exact_part_decided() {
        let vsys = format!(
            r#"<address>
  <entry name="h"><ip-netmask>10.5.0.0/24</ip-netmask></entry>
  <entry name="f"><fqdn>pacs.example.org</fqdn></entry>
  <entry name="bits"><ip-netmask>10.7.0.1/24</ip-netmask></entry>
</address>
<address-group><entry name="mix"><static><member>h</member><member>f</member></static></entry></address-group>
{}"#,
            rules(&[
                rule("mixed", "<destination><member>mix</member></destination>"),
                rule(
                    "hostbits",
                    "<destination><member>bits</member></destination>"
                ),
                rule(
                    "negated",
                    "<source><member>f</member></source><negate-source>yes</negate-source><action>deny</action>"
                ),
            ])
        );
        let d = read_ok(&config("", &vsys));
        assert_eq!(
            decide(&d, "10.1.1.1", "10.5.0.9", "tcp/1", "a", "b"),
            (Action::Allow, "mixed".into(), vec![])
        );
        let (action, _, why) = decide(&d, "10.1.1.1", "10.6.0.9", "tcp/1", "a", "b");
        assert_eq!(action, Action::Deny);
        assert_eq!(
            why,
            [
                "FQDN address f (pacs.example.org)",
                "FQDN address f (pacs.example.org)"
            ],
            "the group's FQDN, then the negated FQDN"
        );
        let (_, _, why) = decide(&d, "10.1.1.1", "10.7.0.9", "tcp/1", "a", "b");
        assert!(
            why.contains(&"address bits (10.7.0.1/24) has host bits set".to_string()),
            "{why:?}"
        );
    }

    #[test]
    fn identity_schedules_and_applications_are_undecidable() {
        let vsys = rules(&[
            rule(
                "user",
                "<source-user><member>example\\nurses</member></source-user>",
            ),
            rule(
                "app",
                "<application><member>dicom</member></application><service><member>application-default</member></service><action>deny</action>",
            ),
            rule("sched", "<schedule>nights</schedule>"),
            rule(
                "hip",
                "<source-hip><member>managed</member></source-hip><destination-hip><member>any</member></destination-hip>",
            ),
        ]);
        let d = read_ok(&config("", &vsys));
        let (_, _, why) = decide(&d, "10.1.1.1", "10.2.2.2", "tcp/104", "a", "b");
        assert_eq!(
            why,
            [
                "source user example\\nurses",
                "application dicom (App-ID); service application-default (each application's default ports, from App-ID)",
                "schedule nights",
                "source HIP profile managed"
            ]
        );
    }

    #[test]
    fn source_ports_decide_for_client_ports() {
        let vsys = format!(
            r#"<service>
  <entry name="from-53"><protocol><udp><port>53</port><source-port>53</source-port></udp></protocol></entry>
  <entry name="some"><protocol><tcp><port>22</port><source-port>1000-2000</source-port></tcp></protocol></entry>
  <entry name="sctp"><protocol><sctp><port>2905</port></sctp></protocol></entry>
</service>{}"#,
            rules(&[
                rule("never", "<service><member>from-53</member></service>"),
                rule("sometimes", "<service><member>some</member></service>"),
                rule("sctp", "<service><member>sctp</member></service>"),
            ])
        );
        let d = read_ok(&config("", &vsys));
        assert_eq!(
            decide(&d, "10.1.1.1", "10.2.2.2", "udp/53", "a", "b").0,
            Action::Deny
        );
        let (_, _, why) = decide(&d, "10.1.1.1", "10.2.2.2", "tcp/22", "a", "b");
        assert_eq!(
            why,
            ["service some matches source ports 1000-2000, some client ports only"]
        );
        let (_, _, why) = decide(&d, "10.1.1.1", "10.2.2.2", "proto/132", "a", "b");
        assert_eq!(why, ["SCTP service sctp (ports not modelled)"]);
    }

    #[test]
    fn pushed_rule_bases_go_around_the_local_one() {
        let shared = format!(
            "<pre-rulebase><security><rules>{}</rules></security></pre-rulebase><post-rulebase><security><rules>{}</rules></security></post-rulebase>",
            rule(
                "shared-pre",
                "<service><member>service-https</member></service>"
            ),
            rule("shared-post", "<action>drop</action>")
        );
        let vsys = format!(
            "{ZONES}<pre-rulebase><security><rules>{}</rules></security></pre-rulebase><rulebase><security><rules>{}</rules></security></rulebase><post-rulebase><security><rules>{}</rules></security></post-rulebase>",
            rule(
                "vsys-pre",
                "<service><member>service-http</member></service>"
            ),
            rule(
                "local",
                "<destination><member>10.2.0.0/16</member></destination>"
            ),
            rule(
                "vsys-post",
                "<destination><member>10.3.0.0/16</member></destination>"
            )
        );
        let text = config(&shared, &vsys);
        let names: Vec<String> = parse(&text)
            .unwrap()
            .rules
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(
            names,
            [
                "shared-pre",
                "vsys-pre",
                "local",
                "vsys-post",
                "shared-post"
            ]
        );
        let d = read_ok(&text);
        let p = |dst, proto| decide(&d, "10.1.1.1", dst, proto, "a", "b").1;
        assert_eq!(p("10.2.0.1", "tcp/443"), "shared-pre");
        assert_eq!(p("10.2.0.1", "tcp/8080"), "vsys-pre");
        assert_eq!(p("10.2.0.1", "tcp/22"), "local");
        assert_eq!(p("10.3.0.1", "tcp/22"), "vsys-post");
        assert_eq!(p("10.4.0.1", "tcp/22"), "shared-post");
    }

    #[test]
    fn the_xml_api_answer_is_read_too() {
        let text = format!(
            "<response status=\"success\"><result>{}</result></response>",
            config("", &rules(&[rule("r", "")]))
        );
        assert_eq!(
            read_ok(&text).layers[0].filters[0].entries.len(),
            4,
            "r and three intrazone defaults"
        );
    }

    #[test]
    fn what_cannot_be_modelled_is_an_error_at_its_place() {
        let ok = config("", &rules(&[rule("r", "")]));
        read_ok(&ok);
        let cases: &[(&str, &str, &str)] = &[
            (
                "<action>allow</action>",
                "<action>permit</action>",
                "action `permit`",
            ),
            (
                "<action>allow</action>",
                "<action>allow</action><negate-user>yes</negate-user>",
                "unknown element <negate-user>",
            ),
            (
                "<from><member>any</member></from>",
                "<from><member>d</member></from>",
                "unknown zone d",
            ),
            (
                "<service><member>any</member></service>",
                "<service><member>svc-x</member></service>",
                "`svc-x` is no service",
            ),
            (
                "<source><member>any</member></source>",
                "<source><member>no-such</member></source>",
                "`no-such` is no address",
            ),
            (
                "</entry></vsys>",
                "</entry><entry name=\"vsys2\"/></vsys>",
                "2 virtual systems",
            ),
            (
                "<rulebase>",
                "<rulebase><pbf><rules><entry name=\"p\"><action><discard/></action></entry></rules></pbf>",
                "PBF discard",
            ),
            (
                "<rulebase>",
                "<rulebase><dos><rules><entry name=\"d\"><action><deny/></action></entry></rules></dos>",
                "action deny",
            ),
            (
                "<rulebase>",
                "<rulebase><future-policy/>",
                "unknown rule base <future-policy>",
            ),
            ("</config>", "</config", "not well-formed XML"),
            (
                "<devices>",
                "<devices><entry name=\"fw2\"/>",
                "exactly one <devices><entry>",
            ),
        ];
        for (from, to, want) in cases {
            assert!(ok.contains(from), "{from}");
            let bad = ok.replacen(from, to, 1);
            let e = read_err(&bad);
            assert!(e.message.contains(want), "{from} -> {to}: {e}");
            if !want.starts_with("not well") {
                assert!(e.line > 0 && e.column > 0, "{e}");
            }
        }
        // The error is at the element it is about.
        let bad = ok.replacen("<action>allow</action>", "<action>\n  permit</action>", 1);
        let e = read_err(&bad);
        let at = bad.find("<action>").unwrap();
        assert_eq!((e.line, e.column), line_col(&bad, at));
        let rt = config("", &rules(&[rule("r", "<rule-type>sideways</rule-type>")]));
        assert!(read_err(&rt).message.contains("rule-type `sideways`"));
        let bits = config(
            "<address><entry name=\"x\"><ip-netmask>10.0.0.0/33</ip-netmask></entry></address>",
            &rules(&[rule("r", "<source><member>x</member></source>")]),
        );
        assert!(
            read_err(&bits)
                .message
                .contains("is not an address or prefix")
        );
        let dg = ok.replacen(
            "<devices>",
            "<devices><entry name=\"x\"><device-group/></entry>",
            1,
        );
        assert!(read_err(&dg).message.contains("exactly one"));
    }

    #[test]
    fn a_file_without_zones_reads_with_the_zones_its_rules_name() {
        // wardwall's own output is such a fragment.
        let vsys = "<rulebase><security><rules>".to_string()
            + &rule(
                "r",
                "<from><member>x</member></from><to><member>y</member></to>",
            )
            + "</rules></security></rulebase>";
        let d = read_ok(&config("", &vsys));
        assert_eq!(d.places, None);
        assert_eq!(
            decide(&d, "10.0.0.1", "10.0.0.2", "tcp/1", "x", "x").0,
            Action::Allow
        );
        let (action, _, why) = decide(&d, "10.0.0.1", "10.0.0.2", "tcp/1", "z", "z");
        assert_eq!(action, Action::Deny);
        assert_eq!(why.len(), 1, "same zone or not is not known: {why:?}");
        let intra = "<rulebase><security><rules>".to_string()
            + &rule("r", "<rule-type>intrazone</rule-type>")
            + "</rules></security></rulebase>";
        assert!(
            read_err(&config("", &intra))
                .message
                .contains("declares none")
        );
    }

    #[test]
    fn wardwall_names_map_to_policy_rules() {
        let from = ["corporate".to_string()];
        assert_eq!(
            wardwall_rule_name("wardwall-default-deny", &from),
            "default"
        );
        assert_eq!(
            wardwall_rule_name("ping-infra.from-corporate", &from),
            "ping-infra"
        );
        assert_eq!(
            wardwall_rule_name("ping-infra.from-corporate.ping", &from),
            "ping-infra"
        );
        assert_eq!(
            wardwall_rule_name("device-monitoring.ping", &from),
            "device-monitoring"
        );
        assert_eq!(
            wardwall_rule_name("x.from-guest", &from),
            "x.from-guest",
            "not a source zone"
        );
        assert_eq!(wardwall_rule_name("allow-dns", &from), "allow-dns");
    }

    #[test]
    fn wildcards_and_ports_parse_exactly() {
        let w = parse_wildcard("10.132.1.2/0.0.2.255").unwrap();
        for (a, inside) in [
            ("10.132.1.0", true),
            ("10.132.3.255", true),
            ("10.132.2.0", false),
            ("10.132.0.9", false),
        ] {
            assert_eq!(w.contains(a.parse().unwrap()), inside, "{a}");
        }
        assert!(
            parse_wildcard("10.0.0.0/255.255.255.0").is_err(),
            "24 wildcard bits above the run"
        );
        assert!(parse_wildcard("fd00::/::ff").is_err());
        assert_eq!(
            parse_ports("80,8080-8090").unwrap(),
            PortSet::from_ranges([(80, 80), (8080, 8090)])
        );
        for bad in ["", "80,", "90-80", "65536", "8o"] {
            assert!(parse_ports(bad).is_err(), "{bad}");
        }
    }
}
