//! pfSense target: a `config.xml` fragment with `<aliases>` and `<filter>`.
//!
//! pfSense checks the rules of the interface a packet arrives on, in config
//! order, first `quick` match wins (interface rules are always `in quick`).
//! Each IR rule is therefore placed on the interface of every zone its
//! source addresses live in, in IR order, with its source restricted to the
//! addresses of that interface's zones; a packet arriving on that interface
//! has its source there, so the restriction changes nothing for it (and a
//! spoofed source from another zone matches nothing but the closing block).
//! Every interface ends with an explicit block-all carrying the IR's default
//! action and log flag.
//!
//! pfSense rules hold one protocol and one destination-port field, so one IR
//! rule may become several contiguous pfSense rules with the same verdict
//! (tcp and udp with different ports, ICMP per family, other protocols one
//! each). They are disjoint, so their order among themselves is irrelevant.
//! Addresses are always aliases (never literals), so an `inet46` rule never
//! holds a literal address and an `inet` rule never a literal IPv6 one.
//!
//! Everything pfSense cannot express exactly is an error naming the rule:
//! sources in a zone without a `pfsense` binding (or in no zone), ICMP types
//! pfSense has no name for, IP protocols it cannot name, port 0.

pub mod readback;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use minijinja::value::{Serde, Value};
use serde::Serialize;

use super::{
    Context, RenderedFile, Renderer, Section, SectionText, Templates, render_sized, template_error,
    truncate_bytes, write_entries, xml_escape_into,
};
use crate::addrset::{AddrSet, ByteSet, PortSet};
use crate::diagnostics::{Diagnostic, Span};
use crate::ir::{Action, Family, Ir, ObjectKind, Rule};

/// The target's name (`-t pfsense`, template folder, output folder).
pub const TARGET: &str = "pfsense";
const TEMPLATE: &str = "config.xml";
const EMBEDDED: &[(&str, &str)] = &[(
    TEMPLATE,
    include_str!("../../../targets/pfsense/config.xml"),
)];

/// The interface (bindings) key of this target in `Zone::bindings`.
pub const BINDING: &str = "pfsense";

/// Longest alias name pfSense accepts (`is_validaliasname`: fewer than 32).
pub const MAX_ALIAS_NAME: usize = 31;
/// Longest rule description kept whole in the pf label: the label is
/// `USER_RULE: <descr>` cut at 63 bytes (`PFLABEL_MAXLEN`), so 52 bytes.
pub const MAX_RULE_DESCR: usize = 52;
/// The GUI refuses aliases with more entries than this.
pub const MAX_ALIAS_ENTRIES: usize = 5000;
/// Trackers are drawn from `[TRACKER_BASE, TRACKER_BASE + TRACKER_SPAN)`:
/// below 2^32, far from the GUI's reserved 10000–13999 and from the
/// auto-numbered system rules just above 1000000000.
pub const TRACKER_BASE: u64 = 2_000_000_000;
pub const TRACKER_SPAN: u64 = 2_000_000_000;

/// Alias name prefixes. The four namespaces cannot collide with each other
/// (`WW_` objects and zones, `WWZ_` an object on one interface, `WWR_`
/// derived from a rule, `WWP_` ports), and the prefix keeps every name clear of pf
/// keywords, protocol and service names, interface macros and all-digit
/// names.
const OBJECT_PREFIX: &str = "WW_";
const DERIVED_PREFIX: &str = "WWR_";
const PORT_PREFIX: &str = "WWP_";
const PART_PREFIX: &str = "WWZ_";

/// The pfSense renderer.
pub struct PfSense;

impl Renderer for PfSense {
    fn target(&self) -> &'static str {
        TARGET
    }

    fn embedded_templates(&self) -> &'static [(&'static str, &'static str)] {
        EMBEDDED
    }

    fn render(&self, ir: &Ir, templates: &Templates) -> Result<Vec<RenderedFile>, Vec<Diagnostic>> {
        let view = Arc::new(build(ir)?);
        let env = templates.environment(self);
        let size = view.text_size();
        let contents = env
            .get_template(TEMPLATE)
            .and_then(|t| render_sized(&t, template_context(&view), size))
            .map_err(|e| vec![template_error(TARGET, &e)])?;
        Ok(vec![RenderedFile {
            path: PathBuf::from(TARGET).join(format!("{}.xml", ir.name)),
            contents,
        }])
    }
}

/// The view model: everything the template writes, decided here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct View {
    pub policy: String,
    /// Sorted by name.
    pub aliases: Vec<Alias>,
    /// Grouped by interface (interfaces in zone declaration order), IR order
    /// within each interface, each interface closed by its block-all.
    pub rules: Vec<PfRule>,
}

/// Text that many rules share (an interface, an alias name, an IR rule's
/// description and name): allocated once, cloned by reference count.
pub type Shared = Arc<str>;

fn serialize_shared<S: serde::Serializer>(text: &Shared, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(text)
}

fn serialize_opt_shared<S: serde::Serializer>(
    text: &Option<Shared>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match text {
        Some(t) => s.serialize_some(&**t),
        None => s.serialize_none(),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Alias {
    #[serde(serialize_with = "serialize_shared")]
    pub name: Shared,
    /// `host`, `network` or `port`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Entries joined by one space.
    pub address: String,
    pub descr: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PfRule {
    pub tracker: u32,
    /// `pass`, `block` or `reject`: nothing else (an unknown type is PASS).
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(serialize_with = "serialize_shared")]
    pub interface: Shared,
    /// `inet`, `inet6` or `inet46`.
    pub ipprotocol: &'static str,
    /// `None` = every protocol (element omitted).
    pub protocol: Option<&'static str>,
    /// pf ICMP type names joined by `,`; `None` = every type.
    pub icmptype: Option<String>,
    pub source: Addr,
    pub destination: Addr,
    /// `N`, `N-M` or a port alias; `None` = every port.
    #[serde(serialize_with = "serialize_opt_shared")]
    pub destination_port: Option<Shared>,
    #[serde(serialize_with = "serialize_shared")]
    pub descr: Shared,
    pub log: bool,
    /// The IR rule this comes from; `None` for an interface's block-all.
    #[serde(serialize_with = "serialize_opt_shared")]
    pub ir_rule: Option<Shared>,
}

/// One side of a rule: `<any/>` or `<address>ALIAS</address>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Addr {
    pub any: bool,
    #[serde(serialize_with = "serialize_opt_shared")]
    pub address: Option<Shared>,
}

impl Addr {
    fn any() -> Self {
        Self {
            any: true,
            address: None,
        }
    }

    fn alias(name: Shared) -> Self {
        Self {
            any: false,
            address: Some(name),
        }
    }
}

/// What the template sees: `policy`; `alias_entries` and `rule_entries`,
/// the `<alias>` and `<rule>` elements written here (XML-escaped, each
/// element starting on a new line; what the default template prints); and
/// the structured `aliases` and `rules` for override templates (converted
/// only if a template uses them).
fn template_context(view: &Arc<View>) -> Value {
    let with = |f: fn(&View) -> Value| {
        let view = Arc::clone(view);
        move || f(&view)
    };
    let section = |f: fn(&View, &mut String, usize), len: usize| {
        let view = Arc::clone(view);
        move || {
            let view = Arc::clone(&view);
            Section::value(SectionText::Xml, len == 0, move |out| {
                write_entries(out, 0..len, |buf, i| f(&view, buf, i))
            })
        }
    };
    Context::new()
        .with("policy", with(|v| Value::from(v.policy.as_str())))
        .with("aliases", with(|v| Value::from(Serde(&v.aliases))))
        .with("rules", with(|v| Value::from(Serde(&v.rules))))
        .with(
            "alias_entries",
            section(
                |v, buf, i| write_alias(buf, &v.aliases[i]),
                view.aliases.len(),
            ),
        )
        .with(
            "rule_entries",
            section(|v, buf, i| write_rule(buf, &v.rules[i]), view.rules.len()),
        )
        .into_value()
}

/// `open`, then `text` XML-escaped, then `close`.
fn element(out: &mut String, open: &str, text: &str, close: &str) {
    out.push_str(open);
    xml_escape_into(out, text);
    out.push_str(close);
}

const ALIAS_TEXT: &str = "\n\t\t<alias>\n\t\t\t<name></name>\n\t\t\t<type></type>\n\t\t\t<address></address>\n\t\t\t<descr></descr>\n\t\t</alias>";

/// One `<alias>` element (every value XML-escaped).
fn write_alias(out: &mut String, a: &Alias) {
    element(out, "\n\t\t<alias>\n\t\t\t<name>", &a.name, "</name>");
    element(out, "\n\t\t\t<type>", a.kind, "</type>");
    element(out, "\n\t\t\t<address>", &a.address, "</address>");
    element(out, "\n\t\t\t<descr>", &a.descr, "</descr>\n\t\t</alias>");
}

/// Every line a `<rule>` element can have, for the size estimate.
const RULE_TEXT: &str = "\n\t\t<rule>\n\t\t\t<tracker>4294967295</tracker>\n\t\t\t<type></type>\n\t\t\t<interface></interface>\n\t\t\t<ipprotocol></ipprotocol>\n\t\t\t<protocol></protocol>\n\t\t\t<icmptype></icmptype>\n\t\t\t<source>\n\t\t\t\t<address></address>\n\t\t\t</source>\n\t\t\t<destination>\n\t\t\t\t<address></address>\n\t\t\t\t<port></port>\n\t\t\t</destination>\n\t\t\t<descr></descr>\n\t\t\t<log/>\n\t\t</rule>";

/// One `<rule>` element (every value XML-escaped; optional elements only
/// when set).
fn write_rule(out: &mut String, r: &PfRule) {
    let _ = write!(out, "\n\t\t<rule>\n\t\t\t<tracker>{}</tracker>", r.tracker);
    element(out, "\n\t\t\t<type>", r.kind, "</type>");
    element(out, "\n\t\t\t<interface>", &r.interface, "</interface>");
    element(out, "\n\t\t\t<ipprotocol>", r.ipprotocol, "</ipprotocol>");
    if let Some(p) = r.protocol {
        element(out, "\n\t\t\t<protocol>", p, "</protocol>");
    }
    if let Some(t) = &r.icmptype {
        element(out, "\n\t\t\t<icmptype>", t, "</icmptype>");
    }
    out.push_str("\n\t\t\t<source>");
    write_addr(out, &r.source);
    out.push_str("\n\t\t\t</source>\n\t\t\t<destination>");
    write_addr(out, &r.destination);
    if let Some(p) = &r.destination_port {
        element(out, "\n\t\t\t\t<port>", p, "</port>");
    }
    out.push_str("\n\t\t\t</destination>");
    element(out, "\n\t\t\t<descr>", &r.descr, "</descr>");
    if r.log {
        out.push_str("\n\t\t\t<log/>");
    }
    out.push_str("\n\t\t</rule>");
}

fn write_addr(out: &mut String, a: &Addr) {
    if a.any {
        out.push_str("\n\t\t\t\t<any/>");
    } else {
        // (An alias side always has a name; "none" is what the template
        // printed for a missing one.)
        let name = a.address.as_deref().unwrap_or("none");
        element(out, "\n\t\t\t\t<address>", name, "</address>");
    }
}

impl View {
    /// Bytes of the default template's output, a little over unless much
    /// text needs escaping: the buffer it is written into is this big.
    fn text_size(&self) -> usize {
        let aliases: usize = self
            .aliases
            .iter()
            .map(|a| {
                ALIAS_TEXT.len() + a.name.len() + a.kind.len() + a.address.len() + a.descr.len()
            })
            .sum();
        let opt = |s: &Option<Shared>| s.as_ref().map_or(0, |s| s.len());
        let rules: usize = self
            .rules
            .iter()
            .map(|r| {
                RULE_TEXT.len()
                    + r.kind.len()
                    + r.interface.len()
                    + r.ipprotocol.len()
                    + r.protocol.map_or(0, str::len)
                    + r.icmptype.as_ref().map_or(0, String::len)
                    + opt(&r.source.address)
                    + opt(&r.destination.address)
                    + opt(&r.destination_port)
                    + r.descr.len()
            })
            .sum();
        let text = aliases + rules;
        text + text / 64 + 4096
    }
}

/// One pfSense interface and the zones bound to it.
struct Iface<'a> {
    key: Shared,
    zones: Vec<&'a str>,
    addrs: AddrSet,
}

/// What a single pfSense rule's protocol fields hold.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Clause {
    Any,
    Ports {
        protocol: &'static str,
        ports: PortSet,
    },
    Icmp {
        v4: bool,
        v6: bool,
        /// `None`: every type.
        types: Option<String>,
    },
    Protocol(&'static str),
}

impl Clause {
    /// Stable tag, part of the tracker key.
    fn tag(&self) -> Cow<'static, str> {
        match self {
            Clause::Any => "any".into(),
            Clause::Ports { protocol, .. } => (*protocol).into(),
            Clause::Icmp { v4, v6, .. } => match (v4, v6) {
                (true, true) => "icmp".into(),
                (true, false) => "icmp4".into(),
                _ => "icmp6".into(),
            },
            Clause::Protocol(p) => format!("proto-{p}").into(),
        }
    }

    fn allows(&self, family: Family) -> bool {
        match self {
            Clause::Icmp { v4, v6, .. } => match family {
                Family::V4 => *v4,
                Family::V6 => *v6,
            },
            _ => true,
        }
    }
}

/// An `<icmptype>` value: pf names joined by `,`; `None` for every type.
type IcmpTypes = Option<String>;

/// Builds the view model, or every reason the policy cannot be expressed.
pub fn build(ir: &Ir) -> Result<View, Vec<Diagnostic>> {
    let mut b = Builder::new(ir);
    let ifaces = b.interfaces();
    let covered = AddrSet::union_all(ifaces.iter().map(|i| &i.addrs));
    let mut per_iface: Vec<Vec<PfRule>> = vec![Vec::new(); ifaces.len()];
    for rule in &ir.rules {
        b.check_sources(rule, &covered);
        let Some(clauses) = b.clauses(rule) else {
            continue;
        };
        let shared = RuleText {
            name: rule.name.as_str().into(),
            descr: rule_descr(&rule.name, rule.description.as_deref()).into(),
        };
        let mut destinations = AddrCache::default();
        let mut ports = vec![None; clauses.len()];
        for (i, iface) in ifaces.iter().enumerate() {
            let part = rule.src.addrs.intersection(&iface.addrs);
            if part.is_empty() {
                continue;
            }
            let mut sources = AddrCache::default();
            for (clause, port) in clauses.iter().zip(&mut ports) {
                let cache = (&mut sources, &mut destinations, port);
                if let Some(r) = b.rule(rule, &shared, iface, &part, clause, cache) {
                    per_iface[i].push(r);
                }
            }
        }
    }
    for (i, iface) in ifaces.iter().enumerate() {
        let r = b.block_all(iface);
        per_iface[i].push(r);
    }
    if !b.errors.is_empty() {
        return Err(b.errors);
    }
    let rules: Vec<PfRule> = per_iface.into_iter().flatten().collect();
    let aliases: Vec<Alias> = b.aliases.into_values().map(|a| a.alias).collect();
    // Never reference an alias that is not emitted (pfSense would skip the
    // rule, or drop its port clause). A bug here must not ship a config.
    // (A set: a linear search per reference was quadratic at 10,000 rules.)
    let defined: std::collections::HashSet<&str> = aliases.iter().map(|a| &*a.name).collect();
    let undefined: Vec<&Shared> = rules
        .iter()
        .flat_map(|r| {
            [&r.source.address, &r.destination.address]
                .into_iter()
                .flatten()
                .chain(
                    r.destination_port
                        .iter()
                        .filter(|p| !p.starts_with(|c: char| c.is_ascii_digit())),
                )
        })
        .filter(|n| !defined.contains(&***n))
        .collect();
    if let Some(name) = undefined.first() {
        return Err(vec![Diagnostic::error(
            "pfsense-internal",
            format!("internal error: the pfSense rules refer to alias `{name}`, which was not generated"),
        )
        .help("this is a wardwall bug; please report it with the policy")]);
    }
    Ok(View {
        policy: ir.name.clone(),
        aliases,
        rules,
    })
}

/// The text every pfSense rule of one IR rule shares.
struct RuleText {
    name: Shared,
    descr: Shared,
}

/// One side of one IR rule (on one interface), as already resolved for
/// each `ipprotocol` (the families decide whether it is `<any/>`): the
/// clauses and interfaces of a rule ask for the same side again and again
/// (see [`Builder::cached`]).
#[derive(Default)]
struct AddrCache([Option<Addr>; 3]);

impl AddrCache {
    fn slot(&mut self, (v4, v6): (bool, bool)) -> &mut Option<Addr> {
        &mut self.0[usize::from(v4) + 2 * usize::from(v6) - 1]
    }
}

/// A destination-port field (see [`Builder::port_field`]), kept per clause
/// of an IR rule: every interface asks for it again.
type Port = Option<Shared>;

struct Builder<'a> {
    ir: &'a Ir,
    errors: Vec<Diagnostic>,
    /// pfSense name → the alias and where it came from.
    aliases: BTreeMap<Shared, Registered<'a>>,
    /// tracker → key it was derived from.
    trackers: HashMap<u32, String>,
    /// Reused for alias names being looked up.
    name_buf: String,
}

/// An alias and what it was made from: a name asked for again with the same
/// key is compared by content without writing its text again (most aliases
/// are asked for by several rules or interfaces).
struct Registered<'a> {
    prefix: &'static str,
    key: Cow<'a, str>,
    content: Content,
    /// Number of entries.
    entries: usize,
    alias: Alias,
}

/// What an alias holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ContentRef<'s> {
    Addrs(&'s AddrSet),
    Ports(&'s PortSet),
}

#[derive(PartialEq, Eq)]
enum Content {
    Addrs(AddrSet),
    Ports(PortSet),
}

impl Content {
    fn is(&self, other: ContentRef<'_>) -> bool {
        match (self, other) {
            (Content::Addrs(a), ContentRef::Addrs(b)) => a == b,
            (Content::Ports(a), ContentRef::Ports(b)) => a == b,
            _ => false,
        }
    }
}

impl ContentRef<'_> {
    fn to_owned(self) -> Content {
        match self {
            ContentRef::Addrs(a) => Content::Addrs(a.clone()),
            ContentRef::Ports(p) => Content::Ports(p.clone()),
        }
    }

    /// The alias type, its entries joined by one space, and their number.
    /// Addresses: CIDRs, or bare addresses when every entry is one host;
    /// ports: `N` or `A:B`.
    fn text(self) -> (&'static str, String, usize) {
        let mut sep = "";
        match self {
            ContentRef::Addrs(set) => {
                let (v4, v6) = (set.v4.to_prefixes(), set.v6_cidrs());
                let hosts =
                    v4.iter().all(|n| n.1 == 32) && v6.iter().all(|n| n.prefix_len() == 128);
                // `255.255.255.255/32 `, or more for IPv6 (then it grows).
                let mut text = String::with_capacity(19 * v4.len() + 44 * v6.len());
                for &(addr, len) in &v4 {
                    text.push_str(sep);
                    push_ipv4(&mut text, addr);
                    if !hosts {
                        text.push('/');
                        push_decimal(&mut text, u32::from(len));
                    }
                    sep = " ";
                }
                for net in &v6 {
                    let _ = if hosts {
                        write!(text, "{sep}{}", net.addr())
                    } else {
                        write!(text, "{sep}{net}")
                    };
                    sep = " ";
                }
                let kind = if hosts { "host" } else { "network" };
                (kind, text, v4.len() + v6.len())
            }
            ContentRef::Ports(ports) => {
                let mut text = String::with_capacity(12 * ports.ranges().len());
                for (lo, hi) in ports.ranges() {
                    let _ = if lo == hi {
                        write!(text, "{sep}{lo}")
                    } else {
                        write!(text, "{sep}{lo}:{hi}")
                    };
                    sep = " ";
                }
                ("port", text, ports.ranges().len())
            }
        }
    }

    fn len(self) -> usize {
        match self {
            ContentRef::Addrs(set) => set.v4.to_prefixes().len() + set.v6.to_prefixes().len(),
            ContentRef::Ports(ports) => ports.ranges().len(),
        }
    }
}

impl<'a> Builder<'a> {
    fn new(ir: &'a Ir) -> Self {
        Builder {
            ir,
            errors: Vec::new(),
            aliases: BTreeMap::new(),
            trackers: HashMap::new(),
            name_buf: String::new(),
        }
    }

    /// Interfaces in the order their first zone is declared.
    fn interfaces(&mut self) -> Vec<Iface<'a>> {
        let mut out: Vec<Iface<'a>> = Vec::new();
        for zone in &self.ir.zones {
            let Some(key) = zone.bindings.get(BINDING) else {
                continue;
            };
            if !is_interface_key(key) {
                self.errors.push(
                    Diagnostic::error(
                        "pfsense-interface",
                        format!(
                            "zone `{}` is bound to pfSense interface `{key}`, which is not an interface key",
                            zone.name
                        ),
                    )
                    .at(zone.span, "pfsense binding")
                    .help(
                        "use the key under <interfaces> in config.xml: `wan`, `lan` or `optN`; \
                         interface groups are evaluated before interface rules and would break first-match order",
                    ),
                );
                continue;
            }
            match out.iter_mut().find(|i| *i.key == **key) {
                Some(iface) => {
                    iface.zones.push(&zone.name);
                    iface.addrs = iface.addrs.union(&zone.addrs);
                }
                None => out.push(Iface {
                    key: key.as_str().into(),
                    zones: vec![&zone.name],
                    addrs: zone.addrs.clone(),
                }),
            }
        }
        out
    }

    /// Every source address must arrive on some pfSense interface.
    fn check_sources(&mut self, rule: &Rule, covered: &AddrSet) {
        let missing = rule.src.addrs.difference(covered);
        if missing.is_empty() {
            return;
        }
        for (zone, part) in self.ir.split_by_zone(&missing) {
            let msg = match zone {
                Some(z) => format!(
                    "rule `{}` has sources in zone `{}` ({}), which has no pfSense interface binding",
                    rule.name, z.name, part
                ),
                None => format!(
                    "rule `{}` has sources in no zone ({}), so no pfSense interface receives them",
                    rule.name, part
                ),
            };
            let mut d = Diagnostic::error("pfsense-unplaced-source", msg)
                .at(rule.span, "cannot be placed on a pfSense interface")
                .help("add `pfsense=\"optN\"` to the zone's `interface` line, or narrow the rule's `from`");
            if let Some(z) = zone {
                d = d.also(z.span, "zone without a pfsense binding");
            }
            self.errors.push(d);
        }
    }

    /// The rule's service split into pfSense protocol clauses.
    fn clauses(&mut self, rule: &Rule) -> Option<Vec<Clause>> {
        let set = &rule.service.set;
        if set.any {
            return Some(vec![Clause::Any]);
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (name, ports) in [("tcp", &set.tcp), ("udp", &set.udp)] {
            if ports.contains(0) && !ports.is_full() {
                self.errors.push(
                    Diagnostic::error(
                        "pfsense-port",
                        format!(
                            "rule `{}` matches {name} port 0, which pfSense cannot express",
                            rule.name
                        ),
                    )
                    .at(rule.span, "port 0")
                    .help("pfSense ports are 1..65535"),
                );
                ok = false;
            }
        }
        if !set.tcp.is_empty() && set.tcp == set.udp {
            out.push(Clause::Ports {
                protocol: "tcp/udp",
                ports: set.tcp.clone(),
            });
        } else {
            if !set.tcp.is_empty() {
                out.push(Clause::Ports {
                    protocol: "tcp",
                    ports: set.tcp.clone(),
                });
            }
            if !set.udp.is_empty() {
                out.push(Clause::Ports {
                    protocol: "udp",
                    ports: set.udp.clone(),
                });
            }
        }
        let n4 = self.icmp_names(rule, &set.icmp4, Family::V4);
        let n6 = self.icmp_names(rule, &set.icmp6, Family::V6);
        match (n4, n6) {
            (Err(()), _) | (_, Err(())) => ok = false,
            (Ok(Some(a)), Ok(Some(b))) if a == b => out.push(Clause::Icmp {
                v4: true,
                v6: true,
                types: a,
            }),
            (Ok(a), Ok(b)) => {
                if let Some(types) = a {
                    out.push(Clause::Icmp {
                        v4: true,
                        v6: false,
                        types,
                    });
                }
                if let Some(types) = b {
                    out.push(Clause::Icmp {
                        v4: false,
                        v6: true,
                        types,
                    });
                }
            }
        }
        for (lo, hi) in set.protocols.ranges() {
            for p in *lo..=*hi {
                match protocol_name(p) {
                    Some(name) => out.push(Clause::Protocol(name)),
                    None => {
                        let shown = crate::catalogue::protocol_name(p)
                            .map_or_else(|| format!("protocol {p}"), |n| format!("`{n}` ({p})"));
                        self.errors.push(
                            Diagnostic::error(
                                "pfsense-protocol",
                                format!(
                                    "rule `{}` matches IP {shown}, which pfSense rules cannot select",
                                    rule.name
                                ),
                            )
                            .at(rule.span, "protocol not expressible on pfSense")
                            .help(
                                "pfSense rules take tcp, udp, icmp, igmp, ipv6, gre, esp, ah, \
                                 ospf, etherip, pim, carp/vrrp, sctp and pfsync",
                            ),
                        );
                        ok = false;
                    }
                }
            }
        }
        ok.then_some(out)
    }

    /// `Ok(None)`: no type of this family; `Ok(Some(None))`: every type;
    /// `Ok(Some(Some(list)))`: pf names joined by `,`; `Err` when a type has
    /// no pf name (the error is recorded).
    fn icmp_names(
        &mut self,
        rule: &Rule,
        set: &ByteSet,
        family: Family,
    ) -> Result<Option<IcmpTypes>, ()> {
        if set.is_empty() {
            return Ok(None);
        }
        if set.is_full() {
            return Ok(Some(None));
        }
        let mut names = Vec::new();
        let mut missing = Vec::new();
        for (lo, hi) in set.ranges() {
            for t in *lo..=*hi {
                match icmp_type_name(t, family) {
                    Some(n) => names.push(n),
                    None => missing.push(t.to_string()),
                }
            }
        }
        if !missing.is_empty() {
            let fam = match family {
                Family::V4 => "ICMP",
                Family::V6 => "ICMPv6",
            };
            self.errors.push(
                Diagnostic::error(
                    "pfsense-icmp-type",
                    format!(
                        "rule `{}` matches {fam} type {}, which pfSense has no name for",
                        rule.name,
                        missing.join(", ")
                    ),
                )
                .at(rule.span, "ICMP type not expressible on pfSense")
                .help("pfSense selects ICMP types by pf name only (echoreq, unreach, timex, ...)"),
            );
            return Err(());
        }
        Ok(Some(Some(names.join(","))))
    }

    /// One pfSense rule for `rule` on `iface` with protocol fields `clause`,
    /// or `None` when it can match no packet there (no common family).
    fn rule(
        &mut self,
        rule: &Rule,
        text: &RuleText,
        iface: &Iface<'_>,
        part: &AddrSet,
        clause: &Clause,
        (sources, destinations, port): (&mut AddrCache, &mut AddrCache, &mut Option<Port>),
    ) -> Option<PfRule> {
        let has = |a: &AddrSet, f: Family| match f {
            Family::V4 => !a.v4.is_empty(),
            Family::V6 => !a.v6.is_empty(),
        };
        let fam = |f: Family| has(part, f) && has(&rule.dst.addrs, f) && clause.allows(f);
        let (v4, v6) = (fam(Family::V4), fam(Family::V6));
        let ipprotocol = match (v4, v6) {
            (true, true) => "inet46",
            (true, false) => "inet",
            (false, true) => "inet6",
            // Never widen an empty family: the rule matches nothing here.
            (false, false) => return None,
        };
        let source = self.cached(sources.slot((v4, v6)), |b| {
            b.address(
                part,
                (v4, v6),
                rule.src.single_object(),
                || format!("{}_S_{}", rule.name, iface.key),
                || format!("source of {} on {}", rule.name, iface.key),
                rule.span,
                Some(iface),
            )
        });
        let destination = self.cached(destinations.slot((v4, v6)), |b| {
            b.address(
                &rule.dst.addrs,
                (v4, v6),
                rule.dst.single_object(),
                || format!("{}_D", rule.name),
                || format!("destination of {}", rule.name),
                rule.span,
                None,
            )
        });
        let (protocol, icmptype, destination_port) = match clause {
            Clause::Any => (None, None, None),
            Clause::Ports { protocol, ports } => {
                let port = self.cached(port, |b| b.port_field(rule, protocol, ports));
                (Some(*protocol), None, port)
            }
            Clause::Icmp { types, .. } => (Some("icmp"), types.clone(), None),
            Clause::Protocol(p) => (Some(*p), None, None),
        };
        let tracker = self.tracker(format!("{}|{}|{}", rule.name, iface.key, clause.tag()));
        Some(PfRule {
            tracker,
            kind: rule_type(rule.action),
            interface: iface.key.clone(),
            ipprotocol,
            protocol,
            icmptype,
            source,
            destination,
            destination_port,
            descr: text.descr.clone(),
            log: rule.log,
            ir_rule: Some(text.name.clone()),
        })
    }

    /// The answer in `slot`, or `resolve`d and kept there when that raised
    /// no error (so a kept answer is exactly what resolving again gives).
    fn cached<T: Clone>(
        &mut self,
        slot: &mut Option<T>,
        resolve: impl FnOnce(&mut Self) -> T,
    ) -> T {
        if let Some(answer) = slot {
            return answer.clone();
        }
        let errors = self.errors.len();
        let answer = resolve(self);
        if self.errors.len() == errors {
            *slot = Some(answer.clone());
        }
        answer
    }

    /// The closing rule of an interface: the IR's default, for everything.
    fn block_all(&mut self, iface: &Iface<'_>) -> PfRule {
        let tracker = self.tracker(format!("default|{}", iface.key));
        PfRule {
            tracker,
            kind: rule_type(self.ir.default_action),
            interface: iface.key.clone(),
            ipprotocol: "inet46",
            protocol: None,
            icmptype: None,
            source: Addr::any(),
            destination: Addr::any(),
            destination_port: None,
            descr: rule_descr(
                "default",
                Some(&format!("deny the rest of {}", iface.zones.join(", "))),
            )
            .into(),
            log: self.ir.default_log,
            ir_rule: None,
        }
    }

    /// `<any/>` when `set` holds every address of the rule's families, else
    /// an alias holding exactly `set`: the endpoint's object when it is that
    /// object, a zone's alias when it is that zone, else one derived from the
    /// rule name.
    #[allow(clippy::too_many_arguments)]
    fn address(
        &mut self,
        set: &AddrSet,
        (v4, v6): (bool, bool),
        object: Option<&str>,
        derived: impl FnOnce() -> String,
        derived_descr: impl FnOnce() -> String,
        span: Span,
        iface: Option<&Iface<'_>>,
    ) -> Addr {
        if (!v4 || set.v4.is_full()) && (!v6 || set.v6.is_full()) {
            return Addr::any();
        }
        let content = ContentRef::Addrs(set);
        let ir = self.ir;
        if let Some(o) = object.and_then(|n| ir.objects.get(n))
            && o.addrs == *set
        {
            let descr = || {
                o.description
                    .clone()
                    .unwrap_or_else(|| format!("{} {}", object_kind(o.kind), o.name))
            };
            let key = Cow::Borrowed(o.name.as_str());
            return Addr::alias(self.register(OBJECT_PREFIX, key, content, descr, span));
        }
        let on_iface =
            |z: &&crate::ir::Zone| iface.is_none_or(|i| i.zones.contains(&z.name.as_str()));
        if let Some(z) = ir.zones.iter().filter(on_iface).find(|z| z.addrs == *set) {
            let descr = || {
                z.description
                    .clone()
                    .unwrap_or_else(|| format!("zone {}", z.name))
            };
            let key = Cow::Borrowed(z.name.as_str());
            return Addr::alias(self.register(OBJECT_PREFIX, key, content, descr, span));
        }
        // A single object cut to one interface's zones: named after both, so
        // every rule from that object on that interface shares the alias.
        if let (Some(o), Some(i)) = (object, iface) {
            let descr = || format!("{o} arriving on {}", i.key);
            let key = Cow::Owned(format!("{o}_{}", i.key));
            return Addr::alias(self.register(PART_PREFIX, key, content, descr, span));
        }
        let key = Cow::Owned(derived());
        Addr::alias(self.register(DERIVED_PREFIX, key, content, derived_descr, span))
    }

    /// The destination-port field: a literal when pfSense reads it exactly,
    /// else a port alias (`A:B` entries).
    fn port_field(&mut self, rule: &Rule, protocol: &str, ports: &PortSet) -> Option<Shared> {
        if ports.is_full() {
            return None;
        }
        if let [(lo, hi)] = ports.ranges() {
            // filter.inc reads `1-M` as `port <= M` and `1-65535` as no
            // port at all: both would also match port 0. Single ports and
            // ranges starting above 1 are exact.
            if lo == hi {
                return Some(lo.to_string().into());
            }
            if *lo >= 2 {
                return Some(format!("{lo}-{hi}").into());
            }
        }
        let tag = protocol.replace('/', "");
        Some(self.register(
            PORT_PREFIX,
            Cow::Owned(format!("{}_{tag}", rule.name)),
            ContentRef::Ports(ports),
            || format!("{protocol} ports of {}", rule.name),
            rule.span,
        ))
    }

    /// Adds an alias (or finds the one already added for the same key) and
    /// returns its name. The text of an alias is written once, when it is
    /// added.
    fn register(
        &mut self,
        prefix: &'static str,
        key: Cow<'a, str>,
        content: ContentRef<'_>,
        descr: impl FnOnce() -> String,
        span: Span,
    ) -> Shared {
        let mut buf = std::mem::take(&mut self.name_buf);
        alias_name_into(&mut buf, prefix, &key);
        let found = self.aliases.get_key_value(buf.as_str());
        let found = found.map(|(name, existing)| (name.clone(), existing));
        let new_name = found.is_none().then(|| Shared::from(buf.as_str()));
        self.name_buf = buf;
        let Some((name, existing)) = found else {
            let name = new_name.expect("set when not found");
            let (kind, address, entries) = content.text();
            self.check_size(&name, entries, span);
            let alias = Alias {
                name: name.clone(),
                kind,
                address,
                descr: sanitize(descr(), 200),
            };
            let registered = Registered {
                prefix,
                key,
                content: content.to_owned(),
                entries,
                alias,
            };
            self.aliases.insert(name.clone(), registered);
            return name;
        };
        // (The prefixes differ in their third character, so this is the
        // same as comparing prefix and key as one string.)
        let same_key = existing.prefix == prefix && existing.key == key;
        if same_key && existing.content.is(content) {
            let entries = existing.entries;
            self.check_size(&name, entries, span);
            return name;
        }
        let origin = format!("{}{}", existing.prefix, existing.key);
        let first = origin.trim_start_matches(prefix).to_string();
        self.check_size(&name, content.len(), span);
        let error = if same_key {
            // Same policy name, different content: cannot happen for
            // objects and zones (one set each); guard anyway.
            Diagnostic::error(
                "pfsense-alias-collision",
                format!("alias `{name}` is needed with two different contents"),
            )
            .at(span, "here")
        } else {
            Diagnostic::error(
                "pfsense-alias-collision",
                format!("`{first}` and `{key}` both map to the pfSense alias name `{name}`"),
            )
            .at(span, "referenced here")
            .help("alias names are upper-cased with `_` for other characters and cut to 31 characters; rename one of them")
        };
        self.errors.push(error);
        name
    }

    /// pfSense refuses an alias with too many entries (checked at every
    /// reference, so each one is pointed at).
    fn check_size(&mut self, name: &str, entries: usize, span: Span) {
        if entries > MAX_ALIAS_ENTRIES {
            self.errors.push(
                Diagnostic::error(
                    "pfsense-alias-size",
                    format!(
                        "alias `{name}` would hold {entries} entries; pfSense accepts at most {MAX_ALIAS_ENTRIES}"
                    ),
                )
                .at(span, "referenced here"),
            );
        }
    }

    /// The tracker of `key`: [`tracker_for`] of the key, or, if another key
    /// already has that number, of `key#1`, `key#2`, ... until one is free.
    /// Deterministic for a given policy; a key keeps its plain hash unless
    /// an earlier key took it. (The synthetic 10,000-rule policy has about
    /// 29,000 keys: a one-in-five chance of a collision; 100,000 rules
    /// expect about twenty. Refusing them made large policies unbuildable.)
    fn tracker(&mut self, key: String) -> u32 {
        let mut t = tracker_for(&key);
        let mut probe = 0u32;
        while self.trackers.get(&t).is_some_and(|other| *other != key) {
            probe += 1;
            t = tracker_for(&format!("{key}#{probe}"));
        }
        self.trackers.insert(t, key);
        t
    }
}

/// `a.b.c.d` (what `Ipv4Addr` prints), without the formatting machinery.
fn push_ipv4(out: &mut String, addr: u32) {
    for (i, byte) in addr.to_be_bytes().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_decimal(out, u32::from(byte));
    }
}

/// `n` in decimal.
fn push_decimal(out: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[start..] {
        out.push(char::from(d));
    }
}

/// `wan`, `lan` or `optN`: the only keys whose rules pfSense evaluates as
/// plain interface rules (groups and VPN pseudo-interfaces come first).
pub fn is_interface_key(key: &str) -> bool {
    match key {
        "wan" | "lan" => true,
        _ => key.strip_prefix("opt").is_some_and(|n| {
            !n.is_empty()
                && n.len() <= 4
                && !n.starts_with('0')
                && n.bytes().all(|b| b.is_ascii_digit())
        }),
    }
}

fn object_kind(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Zone => "zone",
        ObjectKind::Class => "class",
        ObjectKind::Group => "group",
        ObjectKind::Advisory => "advisory",
    }
}

fn rule_type(action: Action) -> &'static str {
    match action {
        Action::Allow => "pass",
        Action::Deny => "block",
        Action::Reject => "reject",
    }
}

/// 64-bit FNV-1a: stable across platforms and releases (unlike std's hasher).
pub fn fnv1a(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The tracker of a rule key: a hash into the safe range.
pub fn tracker_for(key: &str) -> u32 {
    u32::try_from(TRACKER_BASE + fnv1a(key) % TRACKER_SPAN).expect("range is below 2^32")
}

/// Maps a policy name to a pfSense alias name: prefix, upper case, `_` for
/// anything outside `[A-Za-z0-9]`; names over 31 characters are cut and get
/// a hash of the full name so different long names stay different.
pub fn alias_name(prefix: &str, key: &str) -> String {
    let mut name = String::new();
    alias_name_into(&mut name, prefix, key);
    name
}

/// [`alias_name`], written into `name` (cleared first).
fn alias_name_into(name: &mut String, prefix: &str, key: &str) {
    name.clear();
    name.push_str(prefix);
    for c in key.chars() {
        name.push(if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        });
    }
    if name.len() <= MAX_ALIAS_NAME {
        return;
    }
    let hash = fnv1a(&format!("{prefix}{key}")) & 0xFF_FFFF;
    name.truncate(MAX_ALIAS_NAME - 7);
    let _ = write!(name, "_{hash:06X}");
}

/// A rule description for pfSense: the rule name, then its description;
/// no `"` (pf strips it from labels) and no `\`, control characters as
/// spaces, cut to [`MAX_RULE_DESCR`] bytes.
///
/// XML escaping is the template's, and it is all the text needs: pfSense's
/// reader (xmlparse.inc) runs `html_entity_decode` on each text chunk the
/// XML parser hands it, but expat hands over every entity reference as a
/// chunk of its own (`&amp;lt;` arrives as `&` then `lt;`), so that second
/// decoding never sees a whole entity and the text arrives as written.
/// `tests/support/pfsense_xmlparse.php` checks this with PHP's own parser.
pub fn rule_descr(name: &str, description: Option<&str>) -> String {
    let text = match description {
        Some(d) if !d.is_empty() => format!("{name}: {d}"),
        _ => name.to_string(),
    };
    sanitize(text, MAX_RULE_DESCR)
}

fn sanitize(text: String, max: usize) -> String {
    let replaced = |c: char| matches!(c, '"' | '\\') || c.is_control();
    // Most text needs no change: keep it (and its allocation) then.
    let clean = if text.contains(replaced) {
        text.chars()
            .map(|c| match c {
                '"' => '\'',
                '\\' => '/',
                c if c.is_control() => ' ',
                c => c,
            })
            .collect()
    } else {
        text
    };
    let trimmed = clean.trim();
    let clean = if trimmed.len() == clean.len() {
        clean
    } else {
        trimmed.to_string()
    };
    if clean.len() <= max {
        return clean;
    }
    format!("{}...", truncate_bytes(&clean, max - 3).trim_end())
}

/// pf names of IP protocols pfSense rules can select, by number.
pub fn protocol_name(p: u8) -> Option<&'static str> {
    Some(match p {
        2 => "igmp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        89 => "ospf",
        97 => "etherip",
        103 => "pim",
        // VRRP and CARP share protocol number 112; pf resolves `carp` to 112.
        112 => "carp",
        132 => "sctp",
        240 => "pfsync",
        _ => return None,
    })
}

/// pf ICMP type names pfSense offers (filter.inc `$icmptypes`), by number
/// and family. One name per number (pf has aliases for some ICMPv6 types).
pub fn icmp_type_name(t: u8, family: Family) -> Option<&'static str> {
    Some(match family {
        Family::V4 => match t {
            0 => "echorep",
            3 => "unreach",
            4 => "squench",
            5 => "redir",
            6 => "althost",
            8 => "echoreq",
            9 => "routeradv",
            10 => "routersol",
            11 => "timex",
            12 => "paramprob",
            13 => "timereq",
            14 => "timerep",
            15 => "inforeq",
            16 => "inforep",
            17 => "maskreq",
            18 => "maskrep",
            30 => "trace",
            31 => "dataconv",
            32 => "mobredir",
            33 => "ipv6-where",
            34 => "ipv6-here",
            35 => "mobregreq",
            36 => "mobregrep",
            39 => "skip",
            40 => "photuris",
            _ => return None,
        },
        Family::V6 => match t {
            1 => "unreach",
            2 => "toobig",
            3 => "timex",
            4 => "paramprob",
            128 => "echoreq",
            129 => "echorep",
            130 => "listqry",
            131 => "listenrep",
            132 => "listendone",
            133 => "routersol",
            134 => "routeradv",
            135 => "neighbrsol",
            136 => "neighbradv",
            137 => "redir",
            138 => "routrrenum",
            139 => "niqry",
            140 => "nirep",
            200 => "mtraceresp",
            201 => "mtrace",
            _ => return None,
        },
    })
}

/// The ICMP type number of a pf name in a family (the inverse of
/// [`icmp_type_name`], including pf's alternative ICMPv6 names).
pub fn icmp_type_number(name: &str, family: Family) -> Option<u8> {
    let alt = match (family, name) {
        (Family::V6, "groupqry") => Some(130),
        (Family::V6, "grouprep") => Some(131),
        (Family::V6, "groupterm") => Some(132),
        (Family::V6, "wrureq" | "fqdnreq") => Some(139),
        (Family::V6, "wrurep" | "fqdnrep") => Some(140),
        _ => None,
    };
    alt.or_else(|| (0..=255u8).find(|&t| icmp_type_name(t, family) == Some(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_names_are_valid_and_cut_with_a_hash() {
        assert_eq!(alias_name("WW_", "contec-monitors"), "WW_CONTEC_MONITORS");
        let long = alias_name("WWR_", "vendor-jump-to-modalities_S_opt7");
        assert_eq!(long.len(), 31);
        assert!(long.starts_with("WWR_VENDOR_JUMP_TO_MODAL_"), "{long}");
        let other = alias_name("WWR_", "vendor-jump-to-modalities_S_opt6");
        assert_ne!(long, other, "the hash keeps long names apart");
        for n in [long, other] {
            assert!(n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        }
    }

    #[test]
    fn trackers_stay_in_the_safe_range() {
        for key in ["a", "contec-cms8000.out|opt4|any", "default|wan", ""] {
            let t = u64::from(tracker_for(key));
            assert!((TRACKER_BASE..TRACKER_BASE + TRACKER_SPAN).contains(&t));
            assert!(!(10_000..14_000).contains(&t));
            assert!(!(1_000_000_000..1_001_000_000).contains(&t));
        }
        assert_eq!(tracker_for("x"), tracker_for("x"));
    }

    #[test]
    fn tracker_collisions_are_resolved_by_rehashing() {
        let ir = crate::ir::Ir {
            targets: Vec::new(),
            name: "t".into(),
            description: None,
            zones: Vec::new(),
            objects: BTreeMap::new(),
            services: BTreeMap::new(),
            rules: Vec::new(),
            default_action: Action::Deny,
            default_log: true,
        };
        let mut b = Builder::new(&ir);
        let t = b.tracker("one".into());
        assert_eq!(t, tracker_for("one"));
        assert_eq!(b.tracker("one".into()), t, "the same key keeps its tracker");
        // Pretend another key already took this number.
        b.trackers.insert(t, "other".into());
        let again = b.tracker("one".into());
        assert_eq!(again, tracker_for("one#1"));
        assert!(b.errors.is_empty());
    }

    #[test]
    fn alias_collisions_after_mapping_are_errors() {
        let ir = crate::ir::Ir {
            targets: Vec::new(),
            name: "t".into(),
            description: None,
            zones: Vec::new(),
            objects: BTreeMap::new(),
            services: BTreeMap::new(),
            rules: Vec::new(),
            default_action: Action::Deny,
            default_log: true,
        };
        let mut b = Builder::new(&ir);
        let set = AddrSet::from_net("10.0.0.0/8".parse().unwrap());
        let a = b.register(
            OBJECT_PREFIX,
            "a-b".into(),
            ContentRef::Addrs(&set),
            || "x".into(),
            Span::default(),
        );
        let c = b.register(
            OBJECT_PREFIX,
            "a.b".into(),
            ContentRef::Addrs(&set),
            || "x".into(),
            Span::default(),
        );
        assert_eq!(a, c);
        assert_eq!(b.errors.len(), 1);
        assert_eq!(b.errors[0].code, "pfsense-alias-collision");
        // The same key again is reuse, not a collision.
        b.register(
            OBJECT_PREFIX,
            "a-b".into(),
            ContentRef::Addrs(&set),
            || "x".into(),
            Span::default(),
        );
        assert_eq!(b.errors.len(), 1);
    }

    #[test]
    fn descriptions_lose_quotes_and_backslashes_and_fit_the_label() {
        let d = rule_descr("r", Some("say \"hi\" \\ there"));
        assert_eq!(d, "r: say 'hi' / there");
        let long = rule_descr("r", Some(&"é".repeat(100)));
        assert!(long.len() <= MAX_RULE_DESCR);
        assert!(long.ends_with("..."));
    }

    #[test]
    fn interface_keys() {
        for ok in ["wan", "lan", "opt1", "opt12"] {
            assert!(is_interface_key(ok), "{ok}");
        }
        for bad in [
            "", "opt", "opt0", "opt01", "LAN", "lan ", "opt1<", "mygroup", "openvpn",
        ] {
            assert!(!is_interface_key(bad), "{bad}");
        }
    }

    #[test]
    fn icmp_names_round_trip() {
        for f in [Family::V4, Family::V6] {
            for t in 0..=255u8 {
                if let Some(n) = icmp_type_name(t, f) {
                    assert_eq!(icmp_type_number(n, f), Some(t));
                }
            }
        }
    }
}
