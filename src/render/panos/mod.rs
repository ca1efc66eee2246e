//! The PAN-OS target: security rules for one vsys, in `set` command form and
//! as XML (`/config/devices/entry/vsys/entry`).
//!
//! Placement. Every IR rule becomes one PAN-OS security rule per *part* of
//! its service, in IR order: the TCP/UDP part (`application any` + service
//! objects, or `application any` + `service any` for an `any` service), the
//! ICMP echo part (`application ping` + `service application-default`) and
//! the IP-protocol part (`application [ gre ipsec-esp ]` +
//! `service application-default`). PAN-OS matches the cross product of a
//! rule's applications and services, so these parts cannot share one rule.
//! The parts of one rule are disjoint in packet space and share the action,
//! so their relative order does not matter. The first part keeps the IR
//! rule's name; later parts get `.ping` / `.ipproto` suffixes.
//!
//! Zones. PAN-OS puts a packet in the zone of the interface it arrives on,
//! whatever its source address. A rule's source PAN-OS zones are the
//! `panos` bindings of the zones its source addresses lie in
//! (`Ir::split_by_zone`; zones sharing one PAN-OS zone count once). One
//! source zone: `from` that zone, the rule's name. Several: one PAN-OS rule
//! per source zone, `RULE.from-ZONE`, with the source cut to that zone's
//! addresses, so no `from` zone is ever paired with another zone's
//! addresses and a spoofed source meets only the final default deny (as on
//! pfSense, Cisco and nftables). `to` is the PAN-OS zones of the
//! destination addresses with the full destination: the egress zone follows
//! the route to the destination address, which the sender cannot forge.
//! Addresses in a zone without a `panos` binding are an error.
//!
//! Addresses. Named policy objects become static address groups of the same
//! name over address objects named after their value (`n4-10.20.8.0_25`,
//! `n6-fd42.1.0.200..100_120`), so names never depend on positions or on
//! which rule uses an object first. `any` is written only when the IR
//! endpoint is the whole IPv4+IPv6 space: PAN-OS `any` matches both families.
//!
//! Services. One service object per protocol and port range, named after its
//! value (`tcp-443`, `tcp-6661-6670`, `udp-53`).
//!
//! Actions. allow → `allow`; deny → `drop` (silent; PAN-OS `deny` would use
//! the application's own deny action, which may send resets); reject →
//! `reset-client` with `icmp-unreachable yes` (TCP reset to the initiator,
//! ICMP unreachable for other protocols). `log-end` follows the rule's log
//! flag and is always written (PAN-OS defaults it to yes); `log-start` is
//! always `no`: a dropped flow's session ends at once, so `log-end` records
//! it and `log-start` would only double each deny log line.
//!
//! Default deny. PAN-OS ends the rulebase with `intrazone-default` (allow!)
//! and `interzone-default` (deny). A final rule `wardwall-default-deny`
//! (from any to any, every address, application and service, universal) with
//! the IR default action and log flag overrides both.
//!
//! ICMP echo of one family only (`icmpv4 "echo-request"`) cuts that part's
//! addresses to the family, since App-ID `ping` covers both (an assumption to
//! confirm on a device: see docs/targets/panos.md).
//!
//! Refused (an error at the rule): ICMP types other than echo-request (v4
//! type 8, v6 type 128), IP protocols other than GRE (47) and ESP (50),
//! addresses in a zone without a `panos` binding, names that collide after
//! truncation to 63 characters, PAN-OS zone names that are not
//! `[A-Za-z0-9][A-Za-z0-9._-]{0,30}`.
//!
//! Descriptions: `"` → `'`, `\` → `/`, `?` → `.` (the CLI has no safe escape
//! for the first two, and `?` asks for help when pasted), control characters
//! → space, then cut to 1024 bytes for rules and 1023 for groups (ending in
//! `...`). Both forms carry the same text; the XML form is XML-escaped.

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap, FxHashSet};
use std::fmt::Write as _;
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::sync::Arc;

use ipnet::IpNet;
use minijinja::value::{Serde, Value};
use serde::Serialize;

use super::{
    Context, RenderedFile, Renderer, Section, SectionText, Templates, render_sized, template_error,
    truncate_bytes, write_entries, xml_escape_into,
};
use crate::addrset::AddrSet;
use crate::diagnostics::{Diagnostic, Span};
use crate::ir::{Action, AddressObject, EndpointRef, Family, Ir, Rule};
use crate::place::{Placement, Reach};
use crate::text::{self, Field, Overflow};
use crate::vocab::Target;

pub(crate) const TARGET: &str = Target::Panos.name();
/// Name of the final rule that replaces PAN-OS's intrazone allow.
pub const DEFAULT_RULE: &str = "wardwall-default-deny";
/// PAN-OS limits.
pub const NAME_MAX: usize = 63;
pub(crate) const ZONE_MAX: usize = 31;
pub const RULE_DESCRIPTION_MAX: usize = 1024;
pub const OBJECT_DESCRIPTION_MAX: usize = 1023;

const SET_TEMPLATE: &str = "panos.set.j2";
const XML_TEMPLATE: &str = "panos.xml.j2";

static TEMPLATES: &[(&str, &str)] = &[
    (
        SET_TEMPLATE,
        include_str!("../../../targets/panos/panos.set.j2"),
    ),
    (
        XML_TEMPLATE,
        include_str!("../../../targets/panos/panos.xml.j2"),
    ),
];

/// IP protocols with a PAN-OS application identified by the protocol number
/// alone.
const PROTOCOL_APPS: &[(u8, &str)] = &[(47, "gre"), (50, "ipsec-esp")];
const ICMP4_ECHO_REQUEST: u8 = 8;
const ICMP6_ECHO_REQUEST: u8 = 128;

pub struct PanosRenderer;

/// The whole vsys configuration, every decision made.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PanosView {
    pub policy: String,
    pub addresses: Vec<AddressView>,
    pub groups: Vec<GroupView>,
    pub services: Vec<ServiceView>,
    pub rules: Vec<RuleView>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AddressView {
    pub name: String,
    /// A CIDR for `ip-netmask`.
    pub ip_netmask: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct GroupView {
    pub name: String,
    pub members: Vec<String>,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ServiceView {
    pub name: String,
    /// `tcp` or `udp`.
    pub protocol: &'static str,
    /// `443` or `6661-6670`.
    pub port: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RuleView {
    pub name: String,
    /// The IR rule this PAN-OS rule implements (`None` for the default deny).
    pub ir_rule: Option<String>,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub source: Vec<String>,
    pub destination: Vec<String>,
    pub application: Vec<String>,
    pub service: Vec<String>,
    pub action: &'static str,
    pub icmp_unreachable: bool,
    pub log_start: bool,
    pub log_end: bool,
    pub description: Option<String>,
}

impl Renderer for PanosRenderer {
    fn target(&self) -> Target {
        Target::Panos
    }

    fn embedded_templates(&self) -> &'static [(&'static str, &'static str)] {
        TEMPLATES
    }

    fn render(&self, ir: &Ir, templates: &Templates) -> Result<Vec<RenderedFile>, Vec<Diagnostic>> {
        self.render_forms(ir, templates, &["set", "xml"])
    }

    /// Only the form asked for: reading back the XML need not write the
    /// `set` commands.
    fn render_file(
        &self,
        ir: &Ir,
        templates: &Templates,
        extension: &str,
    ) -> Result<Option<RenderedFile>, Vec<Diagnostic>> {
        Ok(self.render_forms(ir, templates, &[extension])?.pop())
    }

    fn validate(&self, ir: &Ir) -> Vec<Diagnostic> {
        build(ir).err().unwrap_or_default()
    }
}

impl PanosRenderer {
    /// The files of the forms named by extension (`set`, `xml`), in that
    /// order; an unknown extension renders nothing.
    fn render_forms(
        &self,
        ir: &Ir,
        templates: &Templates,
        forms: &[&str],
    ) -> Result<Vec<RenderedFile>, Vec<Diagnostic>> {
        let view = Arc::new(build(ir)?);
        let env = templates.environment(self);
        let context = template_context(&view);
        let (set_size, xml_size) = view.text_sizes();
        let mut files = Vec::new();
        for (template, ext, size) in [
            (SET_TEMPLATE, "set", set_size),
            (XML_TEMPLATE, "xml", xml_size),
        ] {
            if !forms.contains(&ext) {
                continue;
            }
            let contents = env
                .get_template(template)
                .and_then(|t| render_sized(&t, context.clone(), size))
                .map_err(|e| vec![template_error(TARGET, &e)])?;
            files.push(RenderedFile {
                path: PathBuf::from(TARGET).join(format!("{}.{ext}", ir.name)),
                contents,
            });
        }
        Ok(files)
    }
}

/// What the templates see: `policy`; the structured `addresses`, `groups`,
/// `services` and `rules` (for override templates; converted only if a
/// template uses them); and the bulk text written here, for the default
/// templates: `address_entries`, `group_entries`, `service_entries`,
/// `rule_entries` (XML `<entry>` elements, XML-escaped, each starting on a
/// new line) and `address_commands`, `group_commands`, `service_commands`,
/// `rule_commands` (`set` / `move` lines, each ending in a newline).
fn template_context(view: &Arc<PanosView>) -> Value {
    let with = |f: fn(&PanosView) -> Value| {
        let view = Arc::clone(view);
        move || f(&view)
    };
    let section = |text: SectionText, f: fn(&PanosView, &mut String, usize), len: usize| {
        let view = Arc::clone(view);
        move || {
            let view = Arc::clone(&view);
            Section::value(text, len == 0, move |out| {
                write_entries(out, 0..len, |buf, i| f(&view, buf, i))
            })
        }
    };
    let xml = SectionText::Xml;
    let set = SectionText::Plain;
    let (a, g, s, r) = (
        view.addresses.len(),
        view.groups.len(),
        view.services.len(),
        view.rules.len(),
    );
    Context::new()
        .with("policy", with(|v| Value::from(v.policy.as_str())))
        .with("addresses", with(|v| Value::from(Serde(&v.addresses))))
        .with("groups", with(|v| Value::from(Serde(&v.groups))))
        .with("services", with(|v| Value::from(Serde(&v.services))))
        .with("rules", with(|v| Value::from(Serde(&v.rules))))
        .with(
            "address_entries",
            section(xml, |v, o, i| xml_address(o, &v.addresses[i]), a),
        )
        .with(
            "group_entries",
            section(xml, |v, o, i| xml_group(o, &v.groups[i]), g),
        )
        .with(
            "service_entries",
            section(xml, |v, o, i| xml_service(o, &v.services[i]), s),
        )
        .with(
            "rule_entries",
            section(xml, |v, o, i| xml_rule(o, &v.rules[i]), r),
        )
        .with(
            "address_commands",
            section(set, |v, o, i| set_address(o, &v.addresses[i]), a),
        )
        .with(
            "group_commands",
            section(set, |v, o, i| set_group(o, &v.groups[i]), g),
        )
        .with(
            "service_commands",
            section(set, |v, o, i| set_service(o, &v.services[i]), s),
        )
        .with(
            "rule_commands",
            section(set, |v, o, i| set_rule(o, &v.rules[i]), r),
        )
        .into_value()
}

/// `open`, then `text` XML-escaped, then `close`.
fn element(out: &mut String, open: &str, text: &str, close: &str) {
    out.push_str(open);
    xml_escape_into(out, text);
    out.push_str(close);
}

/// `<member>` elements, one per name (XML-escaped).
fn members(out: &mut String, names: &[String]) {
    for n in names {
        element(out, "<member>", n, "</member>");
    }
}

const XML_ADDRESS: &str = "\n            <entry name=\"\">\n              <ip-netmask></ip-netmask>\n            </entry>";

fn xml_address(out: &mut String, a: &AddressView) {
    element(out, "\n            <entry name=\"", &a.name, "\">");
    element(
        out,
        "\n              <ip-netmask>",
        &a.ip_netmask,
        "</ip-netmask>\n            </entry>",
    );
}

const XML_GROUP: &str = "\n            <entry name=\"\">\n              <static></static>\n              <description></description>\n            </entry>";

fn xml_group(out: &mut String, g: &GroupView) {
    element(
        out,
        "\n            <entry name=\"",
        &g.name,
        "\">\n              <static>",
    );
    members(out, &g.members);
    out.push_str("</static>");
    if let Some(d) = g.description.as_deref().filter(|d| !d.is_empty()) {
        element(out, "\n              <description>", d, "</description>");
    }
    out.push_str("\n            </entry>");
}

const XML_SERVICE: &str = "\n            <entry name=\"\">\n              <protocol><><port></port></></protocol>\n            </entry>";

fn xml_service(out: &mut String, s: &ServiceView) {
    element(out, "\n            <entry name=\"", &s.name, "\">");
    element(out, "\n              <protocol><", s.protocol, ">");
    element(out, "<port>", &s.port, "</port>");
    element(out, "</", s.protocol, "></protocol>\n            </entry>");
}

const XML_RULE: &str = "\n                <entry name=\"\">\n                  <from></from>\n                  <to></to>\n                  <source></source>\n                  <destination></destination>\n                  <source-user><member>any</member></source-user>\n                  <category><member>any</member></category>\n                  <application></application>\n                  <service></service>\n                  <action></action>\n                  <icmp-unreachable>yes</icmp-unreachable>\n                  <log-start>yes</log-start>\n                  <log-end>yes</log-end>\n                  <rule-type>universal</rule-type>\n                  <negate-source>no</negate-source>\n                  <negate-destination>no</negate-destination>\n                  <disabled>no</disabled>\n                  <description></description>\n                </entry>";
/// The bytes of one `<member></member>`.
const XML_MEMBER: usize = "<member></member>".len();

fn xml_rule(out: &mut String, r: &RuleView) {
    element(
        out,
        "\n                <entry name=\"",
        &r.name,
        "\">\n                  <from>",
    );
    members(out, &r.from);
    out.push_str("</from>\n                  <to>");
    members(out, &r.to);
    out.push_str("</to>\n                  <source>");
    members(out, &r.source);
    out.push_str("</source>\n                  <destination>");
    members(out, &r.destination);
    out.push_str(
        "</destination>\n                  <source-user><member>any</member></source-user>\n                  <category><member>any</member></category>\n                  <application>",
    );
    members(out, &r.application);
    out.push_str("</application>\n                  <service>");
    members(out, &r.service);
    out.push_str("</service>");
    element(out, "\n                  <action>", r.action, "</action>");
    if r.icmp_unreachable {
        out.push_str("\n                  <icmp-unreachable>yes</icmp-unreachable>");
    }
    out.push_str("\n                  <log-start>");
    out.push_str(yes_no(r.log_start));
    out.push_str("</log-start>\n                  <log-end>");
    out.push_str(yes_no(r.log_end));
    out.push_str(
        "</log-end>\n                  <rule-type>universal</rule-type>\n                  <negate-source>no</negate-source>\n                  <negate-destination>no</negate-destination>\n                  <disabled>no</disabled>",
    );
    if let Some(d) = r.description.as_deref().filter(|d| !d.is_empty()) {
        element(
            out,
            "\n                  <description>",
            d,
            "</description>",
        );
    }
    out.push_str("\n                </entry>");
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn set_address(out: &mut String, a: &AddressView) {
    let _ = writeln!(out, "set address {} ip-netmask {}", a.name, a.ip_netmask);
}

fn set_group(out: &mut String, g: &GroupView) {
    let _ = write!(out, "set address-group {} static [ ", g.name);
    join(out, &g.members);
    out.push_str(" ]\n");
    if let Some(d) = g.description.as_deref().filter(|d| !d.is_empty()) {
        let _ = writeln!(out, "set address-group {} description \"{d}\"", g.name);
    }
}

fn set_service(out: &mut String, s: &ServiceView) {
    let _ = writeln!(
        out,
        "set service {} protocol {} port {}",
        s.name, s.protocol, s.port
    );
}

fn set_rule(out: &mut String, r: &RuleView) {
    let name = &r.name;
    let _ = write!(out, "set rulebase security rules {name} from ");
    list(out, &r.from);
    out.push_str(" to ");
    list(out, &r.to);
    out.push_str(" source ");
    list(out, &r.source);
    out.push_str(" destination ");
    list(out, &r.destination);
    out.push_str(" source-user any category any application ");
    list(out, &r.application);
    out.push_str(" service ");
    list(out, &r.service);
    out.push_str(" action ");
    out.push_str(r.action);
    if r.icmp_unreachable {
        out.push_str(" icmp-unreachable yes");
    }
    out.push_str(" log-start ");
    out.push_str(yes_no(r.log_start));
    out.push_str(" log-end ");
    out.push_str(yes_no(r.log_end));
    out.push_str(" rule-type universal negate-source no negate-destination no disabled no\n");
    if let Some(d) = r.description.as_deref().filter(|d| !d.is_empty()) {
        let _ = writeln!(
            out,
            "set rulebase security rules {name} description \"{d}\""
        );
    }
    let _ = writeln!(out, "move rulebase security rules {name} bottom");
}

/// Names joined by one space.
fn join(out: &mut String, names: &[String]) {
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(n);
    }
}

/// One name as is, several as `[ a b ]`.
fn list(out: &mut String, names: &[String]) {
    if let [one] = names {
        out.push_str(one);
    } else {
        out.push_str("[ ");
        join(out, names);
        out.push_str(" ]");
    }
}

impl PanosView {
    /// Bytes of the default templates' outputs (`set`, XML), a little over
    /// unless much text needs escaping: the buffers they are written into
    /// are this big.
    fn text_sizes(&self) -> (usize, usize) {
        let names = |xs: &[String]| xs.iter().map(|x| x.len() + 1).sum::<usize>() + 4;
        let tags = |xs: &[String]| xs.len() * XML_MEMBER;
        let desc = |d: &Option<String>| d.as_ref().map_or(0, String::len);
        let (mut set, mut xml) = (0, 0);
        for a in &self.addresses {
            set += 32 + a.name.len() + a.ip_netmask.len();
            xml += XML_ADDRESS.len() + a.name.len() + a.ip_netmask.len();
        }
        for g in &self.groups {
            set += 64 + 2 * g.name.len() + names(&g.members) + desc(&g.description);
            xml += XML_GROUP.len() + g.name.len() + names(&g.members) + tags(&g.members);
            xml += desc(&g.description);
        }
        for s in &self.services {
            set += 32 + s.name.len() + s.protocol.len() + s.port.len();
            xml += XML_SERVICE.len() + s.name.len() + 2 * s.protocol.len() + s.port.len();
        }
        for r in &self.rules {
            let lists = [
                &r.from,
                &r.to,
                &r.source,
                &r.destination,
                &r.application,
                &r.service,
            ];
            let listed: usize = lists.iter().map(|l| names(l)).sum();
            let tagged: usize = lists.iter().map(|l| tags(l)).sum();
            set += 320 + 3 * r.name.len() + listed + desc(&r.description);
            xml += XML_RULE.len() + r.name.len() + listed + tagged + desc(&r.description);
        }
        let pad = |n: usize| n + n / 64 + 4096;
        (pad(set), pad(xml))
    }
}

/// Builds the view model, or every reason the policy cannot be expressed.
pub fn build(ir: &Ir) -> Result<PanosView, Vec<Diagnostic>> {
    let mut b = Builder {
        ir,
        placement: Placement::new(ir, Target::Panos, Reach::ZonePairs),
        objects: ir
            .objects
            .iter()
            .map(|(k, o)| (k.as_str(), (o, false)))
            .collect(),
        addresses: BTreeMap::new(),
        groups: BTreeMap::new(),
        services: BTreeMap::new(),
        errors: Vec::new(),
    };
    b.check_zones();
    let mut rules = Vec::new();
    for rule in &ir.rules {
        rules.extend(b.rule(rule));
    }
    rules.push(RuleView {
        name: DEFAULT_RULE.to_string(),
        ir_rule: None,
        from: vec!["any".into()],
        to: vec!["any".into()],
        source: vec!["any".into()],
        destination: vec!["any".into()],
        application: vec!["any".into()],
        service: vec!["any".into()],
        action: action_name(ir.default_action),
        icmp_unreachable: ir.default_action == Action::Reject,
        log_start: false,
        log_end: ir.default_log,
        description: Some(
            "wardwall: the policy's default deny; replaces PAN-OS intrazone-default (allow) and interzone-default".into(),
        ),
    });
    b.check_rule_names(&rules);
    b.check_object_names();
    if !b.errors.is_empty() {
        return Err(b.errors);
    }
    Ok(PanosView {
        policy: ir.name.clone(),
        addresses: b.addresses.into_values().collect(),
        groups: b.groups.into_values().collect(),
        services: b.services.into_values().collect(),
        rules,
    })
}

/// Sort key of an address object: family, then network, then length.
type AddrKey = (u8, u128, u8);
/// Sort key of a service object: protocol, then first and last port.
type ServiceKey = (u8, u16, u16);

/// Objects are kept by value (their names are made from their values, one
/// name per value), so they come out sorted by value and a value already
/// seen costs no name formatting.
struct Builder<'a> {
    ir: &'a Ir,
    /// PAN-OS rules name `from` and `to` zones, so an allow's destinations
    /// (its replies' sources) must lie in bound zones too.
    placement: Placement<'a>,
    /// `ir.objects`, hashed (every endpoint reference is looked up), and
    /// whether the object is in `groups` yet.
    objects: FxHashMap<&'a str, (&'a AddressObject, bool)>,
    addresses: BTreeMap<AddrKey, AddressView>,
    groups: BTreeMap<String, GroupView>,
    services: BTreeMap<ServiceKey, ServiceView>,
    errors: Vec<Diagnostic>,
}

/// One PAN-OS rule's worth of an IR rule's service.
struct Part {
    suffix: &'static str,
    application: Vec<String>,
    service: Vec<String>,
    /// Restrict the addresses to one family (ICMP echo of one family only).
    family: Option<Family>,
}

impl<'a> Builder<'a> {
    fn check_zones(&mut self) {
        for zone in &self.ir.zones {
            if let Some(name) = zone.bindings.get(TARGET)
                && !valid_zone_name(name)
            {
                self.errors.push(
                    Diagnostic::error(
                        "panos-zone-name",
                        format!(
                            "PAN-OS zone name `{}` of zone `{}` is not valid",
                            name.escape_debug(),
                            zone.name
                        ),
                    )
                    .at(zone.span, "this zone's panos binding")
                    .help(format!(
                        "PAN-OS zone names start with a letter or digit, use letters, digits, `.`, `_` and `-`, and are at most {ZONE_MAX} characters"
                    )),
                );
            }
        }
    }

    fn rule(&mut self, rule: &Rule) -> Vec<RuleView> {
        let parts = self.parts(rule);
        let unplaced = self.placement.check(rule);
        if !unplaced.is_empty() {
            self.errors.extend(unplaced);
            return Vec::new();
        }
        let Some(parts) = parts else {
            return Vec::new();
        };
        let description = rule_description(rule);
        // Per part: its source addresses by PAN-OS zone, its `to` zones and
        // its destination addresses.
        let mut placed = Vec::new();
        for part in parts {
            let src = of_family(&rule.src.addrs, part.family);
            let dst = of_family(&rule.dst.addrs, part.family);
            if src.is_empty() || dst.is_empty() {
                // This part matches no packet in the IR either.
                continue;
            }
            let (from, to) = (self.by_zone(&src), self.zones(&dst));
            if from.is_empty() || to.is_empty() {
                // Never crosses the firewall (a deny of unplaced traffic).
                continue;
            }
            placed.push((part, from, to, dst));
        }
        // The rule's source PAN-OS zones, in zone order.
        let mut zones: Vec<&str> = Vec::new();
        for z in self.placement.bindings().iter().map(|b| b.name) {
            if placed
                .iter()
                .any(|(_, from, _, _)| from.iter().any(|(f, _)| f == z))
            {
                zones.push(z);
            }
        }
        // One source zone: the rule as written (no churn). Several: one
        // PAN-OS rule per source zone with the source cut to that zone's
        // addresses, so a packet arriving in one zone never matches with
        // another zone's source address.
        let split = zones.len() > 1;
        let mut out = Vec::new();
        for zone in zones {
            let zone_suffix = if split {
                format!(".from-{zone}")
            } else {
                String::new()
            };
            let mut first = true;
            for (part, from, to, dst) in &placed {
                let Some((_, src)) = from.iter().find(|(f, _)| f == zone) else {
                    continue;
                };
                let source = self.members(&rule.src.refs, src, part.family, split);
                let destination = self.members(&rule.dst.refs, dst, part.family, false);
                let suffix = if first { "" } else { part.suffix };
                first = false;
                let name = if zone_suffix.is_empty() && suffix.is_empty() {
                    rule.name.clone()
                } else {
                    let base =
                        truncate_bytes(&rule.name, NAME_MAX - zone_suffix.len() - suffix.len());
                    format!("{base}{zone_suffix}{suffix}")
                };
                out.push(RuleView {
                    name,
                    ir_rule: Some(rule.name.clone()),
                    from: vec![zone.to_string()],
                    to: to.clone(),
                    source,
                    destination,
                    application: part.application.clone(),
                    service: part.service.clone(),
                    action: action_name(rule.action),
                    icmp_unreachable: rule.action == Action::Reject,
                    log_start: false,
                    log_end: rule.log,
                    description: description.clone(),
                });
            }
        }
        out
    }

    /// Splits the rule's service into PAN-OS expressible parts, or records
    /// why it cannot be expressed.
    fn parts(&mut self, rule: &Rule) -> Option<Vec<Part>> {
        let set = &rule.service.set;
        if set.any {
            return Some(vec![Part {
                suffix: "",
                application: vec!["any".into()],
                service: vec!["any".into()],
                family: None,
            }]);
        }
        let mut parts = Vec::new();
        let mut ok = true;
        let mut services = Vec::new();
        for (proto_name, ports, key) in [("tcp", &set.tcp, 0u8), ("udp", &set.udp, 1u8)] {
            for &(lo, hi) in ports.ranges() {
                let service = self.services.entry((key, lo, hi)).or_insert_with(|| {
                    let port = if lo == hi {
                        lo.to_string()
                    } else {
                        format!("{lo}-{hi}")
                    };
                    ServiceView {
                        name: format!("{proto_name}-{port}"),
                        protocol: proto_name,
                        port,
                    }
                });
                services.push(service.name.clone());
            }
        }
        if !services.is_empty() {
            parts.push(Part {
                suffix: "",
                application: vec!["any".into()],
                service: services,
                family: None,
            });
        }
        // ICMP: only echo-request, which App-ID `ping` identifies in both
        // families.
        let v4 = set.icmp4.ranges();
        let v6 = set.icmp6.ranges();
        let v4_echo = v4.is_empty() || v4 == [(ICMP4_ECHO_REQUEST, ICMP4_ECHO_REQUEST)];
        let v6_echo = v6.is_empty() || v6 == [(ICMP6_ECHO_REQUEST, ICMP6_ECHO_REQUEST)];
        if !(v4_echo && v6_echo) {
            ok = false;
            self.errors.push(
                Diagnostic::error(
                    "panos-icmp-type",
                    format!(
                        "rule `{}`: PAN-OS can express ICMP only as the `ping` application (echo-request); this rule's service has other ICMP types",
                        rule.name
                    ),
                )
                .at(rule.span, "ICMP types PAN-OS cannot match exactly")
                .help("PAN-OS service objects carry only TCP, UDP and SCTP ports; use `icmp \"echo-request\"` only, or leave this rule out of the PAN-OS policy"),
            );
        } else if !v4.is_empty() || !v6.is_empty() {
            let family = match (v4.is_empty(), v6.is_empty()) {
                (false, true) => Some(Family::V4),
                (true, false) => Some(Family::V6),
                _ => None,
            };
            parts.push(Part {
                suffix: ".ping",
                application: vec!["ping".into()],
                service: vec!["application-default".into()],
                family,
            });
        }
        let mut apps = Vec::new();
        for &(lo, hi) in set.protocols.ranges() {
            for p in lo..=hi {
                match PROTOCOL_APPS.iter().find(|(n, _)| *n == p) {
                    Some((_, app)) => apps.push(app.to_string()),
                    None => {
                        ok = false;
                        let name = crate::catalogue::protocol_name(p)
                            .map(|n| format!("{n} ({p})"))
                            .unwrap_or_else(|| format!("protocol {p}"));
                        self.errors.push(
                            Diagnostic::error(
                                "panos-ip-protocol",
                                format!(
                                    "rule `{}`: PAN-OS has no exact match for IP {name}",
                                    rule.name
                                ),
                            )
                            .at(rule.span, "IP protocol PAN-OS cannot match exactly")
                            .help("wardwall maps only GRE (47) to application `gre` and ESP (50) to `ipsec-esp`"),
                        );
                    }
                }
            }
        }
        if !apps.is_empty() {
            parts.push(Part {
                suffix: ".ipproto",
                application: apps,
                service: vec!["application-default".into()],
                family: None,
            });
        }
        ok.then_some(parts)
    }

    /// The PAN-OS zones the addresses of `set` lie in, in zone order.
    fn zones(&self, set: &AddrSet) -> Vec<String> {
        self.by_zone(set).into_iter().map(|(z, _)| z).collect()
    }

    /// `set` split by PAN-OS zone (zones sharing one PAN-OS zone united, by
    /// [`Placement`]), in zone order. What lies in no bound zone is left
    /// out: [`Placement::check`] has refused the rules for which that
    /// matters.
    fn by_zone(&self, set: &AddrSet) -> Vec<(String, AddrSet)> {
        self.placement
            .split(set)
            .into_iter()
            .map(|(b, part)| (b.name.to_string(), part))
            .collect()
    }

    /// Address members for one endpoint, restricted to `target` (the IR set,
    /// possibly restricted to one family and, with `by_zone`, cut to one
    /// PAN-OS zone). Named objects become groups when they are used whole;
    /// with `by_zone`, the cut of an object that is a whole policy zone
    /// becomes that zone's group; everything else becomes value-named
    /// objects. The result is checked to cover exactly `target`.
    fn members(
        &mut self,
        refs: &[EndpointRef],
        target: &AddrSet,
        family: Option<Family>,
        by_zone: bool,
    ) -> Vec<String> {
        if target.is_any() {
            return vec!["any".into()];
        }
        let mut members: Vec<String> = Vec::new();
        let mut covered = AddrSet::empty();
        let mut exact = true;
        for r in refs {
            let (whole, object) = match r {
                EndpointRef::Any => (AddrSet::any(), None),
                EndpointRef::Object(name) => match self.objects.get(name.as_str()) {
                    Some(&(o, _)) => (o.addrs.clone(), Some(o)),
                    None => {
                        exact = false;
                        break;
                    }
                },
                EndpointRef::Literal(lit) => (lit.addrs.clone(), None),
            };
            // `target` lies inside the union of the refs, so this is the
            // ref's share of it.
            let part = if by_zone {
                whole.intersection(target)
            } else {
                of_family(&whole, family)
            };
            if part.is_empty() {
                continue;
            }
            covered = covered.union(&part);
            match object {
                Some(o) if part == whole => {
                    let name = self.object_group(o);
                    push_unique(&mut members, name);
                }
                _ if by_zone => {
                    let ir = self.ir;
                    for (zone, zpart) in ir.split_by_zone(&part) {
                        match zone {
                            Some(z) if zpart == z.addrs => {
                                let name = self.zone_group(z);
                                push_unique(&mut members, name);
                            }
                            _ => {
                                for net in zpart.to_cidrs() {
                                    let name = self.address(net);
                                    push_unique(&mut members, name);
                                }
                            }
                        }
                    }
                }
                _ => {
                    for net in part.to_cidrs() {
                        let name = self.address(net);
                        push_unique(&mut members, name);
                    }
                }
            }
        }
        if !exact || &covered != target {
            // The refs do not describe the IR set exactly: use its CIDRs.
            members.clear();
            for net in target.to_cidrs() {
                let name = self.address(net);
                members.push(name);
            }
        }
        members
    }

    /// The address group of a policy object used whole.
    fn object_group(&mut self, o: &'a AddressObject) -> String {
        if let Some(entry) = self.objects.get_mut(o.name.as_str())
            && !entry.1
        {
            entry.1 = true;
            self.add_group(&o.name, &o.addrs, o.description.as_deref());
        }
        o.name.clone()
    }

    /// Adds the address group `name` with one member per CIDR of `addrs`.
    fn add_group(&mut self, name: &str, addrs: &AddrSet, description: Option<&str>) {
        let members = addrs
            .to_cidrs()
            .into_iter()
            .map(|n| self.address(n))
            .collect();
        let group = GroupView {
            name: name.to_string(),
            members,
            description: description.map(|d| clean_description(d, OBJECT_DESCRIPTION_MAX)),
        };
        self.groups.insert(name.to_string(), group);
    }

    /// The address group of a whole policy zone (the zone's own object when
    /// a rule names it, else made from the zone: same name, same members).
    fn zone_group(&mut self, z: &'a crate::ir::Zone) -> String {
        if let Some(&(o, _)) = self.objects.get(z.name.as_str()) {
            return self.object_group(o);
        }
        if !self.groups.contains_key(&z.name) {
            self.add_group(&z.name, &z.addrs, z.description.as_deref());
        }
        z.name.clone()
    }

    /// The value-named address object for one CIDR.
    fn address(&mut self, net: IpNet) -> String {
        let key = match net {
            IpNet::V4(n) => (4, u128::from(u32::from(n.network())), n.prefix_len()),
            IpNet::V6(n) => (6, u128::from(n.network()), n.prefix_len()),
        };
        let address = self.addresses.entry(key).or_insert_with(|| AddressView {
            name: match net {
                IpNet::V4(n) => format!("n4-{}_{}", n.network(), n.prefix_len()),
                IpNet::V6(n) => format!("n6-{}_{}", v6_name(n.network()), n.prefix_len()),
            },
            ip_netmask: net.to_string(),
        });
        address.name.clone()
    }

    fn check_rule_names(&mut self, rules: &[RuleView]) {
        let mut seen: FxHashMap<&str, &RuleView> =
            FxHashMap::with_capacity_and_hasher(rules.len(), Default::default());
        for r in rules {
            if r.name.len() > NAME_MAX {
                let mut d = Diagnostic::error(
                    "panos-name-too-long",
                    format!(
                        "PAN-OS rule name `{}` is longer than {NAME_MAX} characters",
                        r.name
                    ),
                );
                if let Some(span) = self.span_of(r) {
                    d = d.at(span, "this rule");
                }
                self.errors.push(d);
            }
            if let Some(prev) = seen.insert(&r.name, r) {
                let mut d = Diagnostic::error(
                    "panos-name-collision",
                    format!("two PAN-OS rules would be named `{}`", r.name),
                );
                if let Some(span) = self.span_of(r) {
                    d = d.at(span, "this rule's PAN-OS name");
                }
                if let Some(span) = self.span_of(prev) {
                    d = d.also(span, "collides with this rule's PAN-OS name");
                }
                self.errors.push(d.help(format!(
                    "rename one of the rules: PAN-OS rule names are at most {NAME_MAX} characters, and parts of one rule get `.ping` / `.ipproto` suffixes; `{DEFAULT_RULE}` is reserved"
                )));
            }
        }
    }

    /// Group names are policy names, address objects are value names: they
    /// share one PAN-OS namespace.
    fn check_object_names(&mut self) {
        let names: FxHashSet<&str> = self.addresses.values().map(|a| a.name.as_str()).collect();
        for g in self.groups.keys() {
            if names.contains(g.as_str()) {
                self.errors.push(
                    Diagnostic::error(
                        "panos-name-collision",
                        format!("the address group `{g}` has the name of a generated address object"),
                    )
                    .help("rename the policy object: names `n4-…` and `n6-…` are reserved for PAN-OS address objects"),
                );
            }
        }
    }

    fn span_of(&self, r: &RuleView) -> Option<Span> {
        let name = r.ir_rule.as_deref()?;
        self.ir
            .rules
            .iter()
            .find(|x| x.name == name)
            .map(|x| x.span)
    }
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

pub(crate) fn action_name(action: Action) -> &'static str {
    match action {
        Action::Allow => "allow",
        Action::Deny => "drop",
        Action::Reject => "reset-client",
    }
}

/// A PAN-OS zone name wardwall can write unquoted in both forms.
pub(crate) fn valid_zone_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && name.len() <= ZONE_MAX
}

/// An IPv6 address as a name fragment: RFC 5952 text with `:` written as
/// `.` (never the dotted IPv4-mapped form, which could collide).
fn v6_name(addr: Ipv6Addr) -> String {
    let seg = addr.segments();
    // Longest run of zero segments (at least two), first one on a tie.
    let (mut best, mut best_len) = (usize::MAX, 1usize);
    let mut i = 0;
    while i < 8 {
        if seg[i] == 0 {
            let start = i;
            while i < 8 && seg[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    let hex = |s: &[u16]| {
        s.iter()
            .map(|x| format!("{x:x}"))
            .collect::<Vec<_>>()
            .join(".")
    };
    if best == usize::MAX {
        hex(&seg)
    } else {
        format!("{}..{}", hex(&seg[..best]), hex(&seg[best + best_len..]))
    }
}

/// The rule's reason and bookkeeping ([`super::note::about`]) as its
/// description: the rule's name is a field of its own.
fn rule_description(rule: &Rule) -> Option<String> {
    super::note::about(rule, RULE_DESCRIPTION_MAX)
        .map(|text| clean_description(&text, RULE_DESCRIPTION_MAX))
}

/// Makes free text safe for both forms (see the module docs) and cuts it to
/// `max` bytes.
pub(crate) fn clean_description(text: &str, max: usize) -> String {
    Field {
        replace: |c| match c {
            '"' => Some('\''),
            '\\' => Some('/'),
            '?' => Some('.'),
            c if c.is_control() => Some(' '),
            _ => None,
        },
        collapse_spaces: false,
        trim_start: text::nothing,
        trim_end: false,
        max,
        overflow: Overflow::Ellipsis,
    }
    .fit(text)
    .into_owned()
}

/// `set`, or its part in `family` when a PAN-OS rule carries one family
/// only.
fn of_family(set: &AddrSet, family: Option<Family>) -> AddrSet {
    family.map_or_else(|| set.clone(), |f| set.of_family(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v6_names_compress_the_longest_zero_run_and_never_use_dotted_quads() {
        let n = |s: &str| v6_name(s.parse().unwrap());
        assert_eq!(n("fd42:1:0:200::100"), "fd42.1.0.200..100");
        assert_eq!(n("::"), "..");
        assert_eq!(n("::ffff:1.2.3.4"), "..ffff.102.304");
        assert_eq!(n("0:0:0:ffff:1:2:3:4"), "..ffff.1.2.3.4");
        assert_eq!(n("1:0:0:2:0:0:0:3"), "1.0.0.2..3");
        assert_eq!(n("1:2:3:4:5:6:7:8"), "1.2.3.4.5.6.7.8");
        assert_eq!(n("1:0:2:3:4:5:6:7"), "1.0.2.3.4.5.6.7");
    }

    #[test]
    fn descriptions_lose_only_what_the_cli_cannot_carry() {
        assert_eq!(
            clean_description("a \"b\" \\ c? <d> & é ; # !", 1024),
            "a 'b' / c. <d> & é ; # !"
        );
        let long = "é".repeat(600);
        let cut = clean_description(&long, 1024);
        assert!(cut.len() <= 1024 && cut.ends_with("..."));
    }

    #[test]
    fn zone_names() {
        assert!(valid_zone_name("icu-devices"));
        assert!(valid_zone_name("untrust"));
        assert!(!valid_zone_name("Gi0/1"));
        assert!(!valid_zone_name("-x"));
        assert!(!valid_zone_name(&"a".repeat(32)));
    }
}
