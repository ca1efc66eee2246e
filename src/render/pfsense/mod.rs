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

use rustc_hash::FxBuildHasher;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use minijinja::value::{Serde, Value};
use serde::Serialize;

use super::{
    Context, RenderedFile, Renderer, Section, SectionText, Templates, push_ipv4, render_sized,
    template_error, write_entries, xml_escape_into,
};
use crate::addrset::{AddrSet, ByteSet, PortSet};
use crate::diagnostics::{Diagnostic, Span};
use crate::ir::{Action, Family, Ir, Rule};
use crate::place::{Placement, Reach};
use crate::render::{fnv1a, push_decimal};
use crate::text::{Field, Overflow};
use crate::vocab::Target;

/// The target's name (`-t pfsense`, template folder, output folder).
pub(crate) const TARGET: &str = Target::PfSense.name();
const TEMPLATE: &str = "config.xml";
const EMBEDDED: &[(&str, &str)] = &[(
    TEMPLATE,
    include_str!("../../../targets/pfsense/config.xml"),
)];

/// Longest alias name pfSense accepts (`is_validaliasname`: fewer than 32).
pub(crate) const MAX_ALIAS_NAME: usize = 31;
/// Longest rule description kept whole in the pf label: the label is
/// `USER_RULE: <descr>` cut at 63 bytes (`PFLABEL_MAXLEN`), so 52 bytes.
pub(crate) const MAX_RULE_DESCR: usize = 52;
/// The GUI refuses aliases with more entries than this.
pub(crate) const MAX_ALIAS_ENTRIES: usize = 5000;
/// Trackers are drawn from `[TRACKER_BASE, TRACKER_BASE + TRACKER_SPAN)`:
/// below 2^32, far from the GUI's reserved 10000–13999 and from the
/// auto-numbered system rules just above 1000000000.
pub(crate) const TRACKER_BASE: u64 = 2_000_000_000;
pub(crate) const TRACKER_SPAN: u64 = 2_000_000_000;

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
    fn target(&self) -> Target {
        Target::PfSense
    }

    fn embedded_templates(&self) -> &'static [(&'static str, &'static str)] {
        EMBEDDED
    }

    fn render(&self, ir: &Ir, templates: &Templates) -> Result<Vec<RenderedFile>, Vec<Diagnostic>> {
        let plan = Arc::new(plan(ir)?);
        let env = templates.environment(self);
        let size = plan.text_size();
        let contents = env
            .get_template(TEMPLATE)
            .and_then(|t| render_sized(&t, template_context(&plan), size))
            .map_err(|e| vec![template_error(TARGET, &e)])?;
        Ok(vec![RenderedFile {
            path: PathBuf::from(TARGET).join(format!("{}.xml", ir.name)),
            contents,
        }])
    }

    fn validate(&self, ir: &Ir) -> Vec<Diagnostic> {
        plan(ir).err().unwrap_or_default()
    }
}

/// The view model: everything the template writes, decided here (built
/// from the [`Plan`] the renderer writes; for tests and override templates).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct View {
    pub policy: String,
    /// Sorted by name.
    pub aliases: Vec<Alias>,
    /// Grouped by interface (interfaces in zone declaration order), IR order
    /// within each interface, each interface closed by its block-all.
    pub rules: Vec<PfRule>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Alias {
    pub name: String,
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
    pub interface: String,
    /// `inet`, `inet6` or `inet46`.
    pub ipprotocol: &'static str,
    /// `None` = every protocol (element omitted).
    pub protocol: Option<&'static str>,
    /// pf ICMP type names joined by `,`; `None` = every type.
    pub icmptype: Option<String>,
    pub source: Addr,
    pub destination: Addr,
    /// `N`, `N-M` or a port alias; `None` = every port.
    pub destination_port: Option<String>,
    pub descr: String,
    pub log: bool,
    /// The IR rule this comes from; `None` for an interface's block-all.
    pub ir_rule: Option<String>,
}

/// One side of a rule: `<any/>` or `<address>ALIAS</address>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Addr {
    pub any: bool,
    pub address: Option<String>,
}

/// The rendering decided: the [`View`] with every repeated string (an
/// interface, an alias name, an IR rule's name and description) stored
/// once and referred to by index, so 30,000 rules cost no allocation each.
/// Owned (no borrow of the IR): the template's sections keep it.
struct Plan {
    policy: String,
    /// Interface keys.
    ifaces: Vec<String>,
    texts: Vec<RuleText>,
    /// Sorted by name.
    aliases: Vec<Alias>,
    rules: Vec<Planned>,
}

/// The name and description every pfSense rule of one IR rule shares
/// (no name for an interface's block-all).
struct RuleText {
    name: Option<String>,
    descr: String,
}

/// A [`PfRule`] with its strings as indices into the [`Plan`].
struct Planned {
    tracker: u32,
    kind: &'static str,
    iface: u32,
    ipprotocol: &'static str,
    protocol: Option<&'static str>,
    icmptype: Option<String>,
    source: Side,
    destination: Side,
    port: PortField,
    text: u32,
    log: bool,
}

/// `<any/>`, or an alias (index into the aliases).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Any,
    Alias(u32),
}

/// The destination-port field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PortField {
    Every,
    Port(u16),
    /// `N-M`, N >= 2.
    Range(u16, u16),
    Alias(u32),
}

impl Plan {
    fn alias_name(&self, side: Side) -> Option<&str> {
        match side {
            Side::Any => None,
            Side::Alias(i) => Some(&self.aliases[i as usize].name),
        }
    }

    fn port_text(&self, port: PortField) -> Option<String> {
        match port {
            PortField::Every => None,
            PortField::Port(p) => Some(p.to_string()),
            PortField::Range(lo, hi) => Some(format!("{lo}-{hi}")),
            PortField::Alias(i) => Some(self.aliases[i as usize].name.clone()),
        }
    }

    fn rule_view(&self, r: &Planned) -> PfRule {
        let addr = |side| Addr {
            any: side == Side::Any,
            address: self.alias_name(side).map(str::to_string),
        };
        let text = &self.texts[r.text as usize];
        PfRule {
            tracker: r.tracker,
            kind: r.kind,
            interface: self.ifaces[r.iface as usize].clone(),
            ipprotocol: r.ipprotocol,
            protocol: r.protocol,
            icmptype: r.icmptype.clone(),
            source: addr(r.source),
            destination: addr(r.destination),
            destination_port: self.port_text(r.port),
            descr: text.descr.clone(),
            log: r.log,
            ir_rule: text.name.clone(),
        }
    }

    fn rule_views(&self) -> Vec<PfRule> {
        self.rules.iter().map(|r| self.rule_view(r)).collect()
    }
}

/// What the template sees: `policy`; `alias_entries` and `rule_entries`,
/// the `<alias>` and `<rule>` elements written here (XML-escaped, each
/// element starting on a new line; what the default template prints); and
/// the structured `aliases` and `rules` of the [`View`] for override
/// templates (converted only if a template uses them).
fn template_context(plan: &Arc<Plan>) -> Value {
    let with = |f: fn(&Plan) -> Value| {
        let plan = Arc::clone(plan);
        move || f(&plan)
    };
    let section = |f: fn(&Plan, &mut String, usize), len: usize| {
        let plan = Arc::clone(plan);
        move || {
            let plan = Arc::clone(&plan);
            Section::value(SectionText::Xml, len == 0, move |out| {
                write_entries(out, 0..len, |buf, i| f(&plan, buf, i))
            })
        }
    };
    Context::new()
        .with("policy", with(|p| Value::from(p.policy.as_str())))
        .with("aliases", with(|p| Value::from(Serde(&p.aliases))))
        .with("rules", with(|p| Value::from(Serde(&p.rule_views()))))
        .with(
            "alias_entries",
            section(
                |p, buf, i| write_alias(buf, &p.aliases[i]),
                plan.aliases.len(),
            ),
        )
        .with(
            "rule_entries",
            section(
                |p, buf, i| write_rule(buf, p, &p.rules[i]),
                plan.rules.len(),
            ),
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
fn write_rule(out: &mut String, plan: &Plan, r: &Planned) {
    out.push_str("\n\t\t<rule>\n\t\t\t<tracker>");
    push_decimal(out, r.tracker);
    out.push_str("</tracker>");
    element(out, "\n\t\t\t<type>", r.kind, "</type>");
    let iface = &plan.ifaces[r.iface as usize];
    element(out, "\n\t\t\t<interface>", iface, "</interface>");
    element(out, "\n\t\t\t<ipprotocol>", r.ipprotocol, "</ipprotocol>");
    if let Some(p) = r.protocol {
        element(out, "\n\t\t\t<protocol>", p, "</protocol>");
    }
    if let Some(t) = &r.icmptype {
        element(out, "\n\t\t\t<icmptype>", t, "</icmptype>");
    }
    out.push_str("\n\t\t\t<source>");
    write_side(out, plan.alias_name(r.source));
    out.push_str("\n\t\t\t</source>\n\t\t\t<destination>");
    write_side(out, plan.alias_name(r.destination));
    match r.port {
        PortField::Every => {}
        PortField::Port(p) => {
            out.push_str("\n\t\t\t\t<port>");
            push_decimal(out, u32::from(p));
            out.push_str("</port>");
        }
        PortField::Range(lo, hi) => {
            out.push_str("\n\t\t\t\t<port>");
            push_decimal(out, u32::from(lo));
            out.push('-');
            push_decimal(out, u32::from(hi));
            out.push_str("</port>");
        }
        PortField::Alias(i) => {
            let name = &plan.aliases[i as usize].name;
            element(out, "\n\t\t\t\t<port>", name, "</port>");
        }
    }
    out.push_str("\n\t\t\t</destination>");
    let descr = &plan.texts[r.text as usize].descr;
    element(out, "\n\t\t\t<descr>", descr, "</descr>");
    if r.log {
        out.push_str("\n\t\t\t<log/>");
    }
    out.push_str("\n\t\t</rule>");
}

fn write_side(out: &mut String, alias: Option<&str>) {
    match alias {
        None => out.push_str("\n\t\t\t\t<any/>"),
        Some(name) => element(out, "\n\t\t\t\t<address>", name, "</address>"),
    }
}

impl Plan {
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
        let side = |s| self.alias_name(s).map_or(0, str::len);
        let rules: usize = self
            .rules
            .iter()
            .map(|r| {
                let port = match r.port {
                    PortField::Alias(i) => self.aliases[i as usize].name.len(),
                    _ => 11,
                };
                RULE_TEXT.len()
                    + r.kind.len()
                    + self.ifaces[r.iface as usize].len()
                    + r.ipprotocol.len()
                    + r.protocol.map_or(0, str::len)
                    + r.icmptype.as_ref().map_or(0, String::len)
                    + side(r.source)
                    + side(r.destination)
                    + port
                    + self.texts[r.text as usize].descr.len()
            })
            .sum();
        let text = aliases + rules;
        text + text / 64 + 4096
    }
}

/// One pfSense interface and the zones bound to it.
struct Iface<'a> {
    key: &'a str,
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
    let plan = plan(ir)?;
    let rules = plan.rule_views();
    Ok(View {
        policy: plan.policy,
        aliases: plan.aliases,
        rules,
    })
}

/// Decides the rendering, or finds every reason the policy cannot be
/// expressed.
fn plan(ir: &Ir) -> Result<Plan, Vec<Diagnostic>> {
    let mut b = Builder::new(ir);
    // pfSense filters where a flow enters and passes its replies by state.
    let placement = Placement::new(ir, Target::PfSense, Reach::Ingress);
    let ifaces = b.interfaces(&placement);
    let mut texts = Vec::new();
    let mut per_iface: Vec<Vec<Planned>> = ifaces.iter().map(|_| Vec::new()).collect();
    for rule in &ir.rules {
        b.errors.extend(placement.check(rule));
        let Some(clauses) = b.clauses(rule) else {
            continue;
        };
        let text = index(texts.len());
        texts.push(RuleText {
            name: Some(rule.name.clone()),
            descr: sanitize(super::note::titled(rule, MAX_RULE_DESCR), MAX_RULE_DESCR),
        });
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
                let on = (index(i), iface);
                if let Some(r) = b.rule(rule, text, on, &part, clause, cache) {
                    per_iface[i].push(r);
                }
            }
        }
    }
    for (i, iface) in ifaces.iter().enumerate() {
        let text = index(texts.len());
        texts.push(RuleText {
            name: None,
            descr: rule_descr(
                "default",
                Some(&format!("deny the rest of {}", iface.zones.join(", "))),
            ),
        });
        let r = b.block_all((index(i), iface), text);
        per_iface[i].push(r);
    }
    if !b.errors.is_empty() {
        return Err(b.errors);
    }
    // Rules refer to aliases by index into the emitted list, so a rule
    // cannot name an alias that is not generated (the check for that, by
    // name, is now the type).
    let (aliases, rank) = b.sorted_aliases();
    let ranked = |side| match side {
        Side::Alias(i) => Side::Alias(rank[i as usize]),
        Side::Any => Side::Any,
    };
    let mut rules: Vec<Planned> = per_iface.into_iter().flatten().collect();
    for r in &mut rules {
        r.source = ranked(r.source);
        r.destination = ranked(r.destination);
        if let PortField::Alias(i) = r.port {
            r.port = PortField::Alias(rank[i as usize]);
        }
    }
    Ok(Plan {
        policy: ir.name.clone(),
        ifaces: ifaces.iter().map(|i| i.key.to_string()).collect(),
        texts,
        aliases,
        rules,
    })
}

/// A position as a plan index (a policy has far fewer than 2^32 rules).
fn index(i: usize) -> u32 {
    u32::try_from(i).expect("fewer than 2^32 entries")
}

/// One side of one IR rule (on one interface), as already resolved for
/// each `ipprotocol` (the families decide whether it is `<any/>`): the
/// clauses and interfaces of a rule ask for the same side again and again
/// (see [`Builder::cached`]).
#[derive(Default)]
struct AddrCache([Option<Side>; 3]);

impl AddrCache {
    fn slot(&mut self, (v4, v6): (bool, bool)) -> &mut Option<Side> {
        &mut self.0[usize::from(v4) + 2 * usize::from(v6) - 1]
    }
}

struct Builder<'a> {
    ir: &'a Ir,
    errors: Vec<Diagnostic>,
    /// The aliases in the order they were added, and where they came from.
    aliases: Vec<Registered<'a>>,
    /// pfSense name → index in `aliases`.
    names: HashMap<String, u32, FxBuildHasher>,
    /// tracker → key it was derived from.
    trackers: HashMap<u32, String, FxBuildHasher>,
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
            aliases: Vec::new(),
            names: HashMap::default(),
            trackers: HashMap::default(),
            name_buf: String::new(),
        }
    }

    /// Interfaces in the order their first zone is declared (zones bound
    /// to one interface united, by [`Placement`]).
    fn interfaces(&mut self, placement: &Placement<'a>) -> Vec<Iface<'a>> {
        let mut out = Vec::new();
        for binding in placement.bindings() {
            let key = binding.name;
            if !is_interface_key(key) {
                for zone in &binding.zones {
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
                }
                continue;
            }
            out.push(Iface {
                key,
                zones: binding.zones.iter().map(|z| z.name.as_str()).collect(),
                addrs: binding.addrs.clone(),
            });
        }
        out
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
        if let Some(ports) = set.shared_tcp_udp_ports() {
            out.push(Clause::Ports {
                protocol: "tcp/udp",
                ports: ports.clone(),
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
        text: u32,
        (i, iface): (u32, &Iface<'_>),
        part: &AddrSet,
        clause: &Clause,
        (sources, destinations, port): (&mut AddrCache, &mut AddrCache, &mut Option<PortField>),
    ) -> Option<Planned> {
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
        let (protocol, icmptype, port) = match clause {
            Clause::Any => (None, None, PortField::Every),
            Clause::Ports { protocol, ports } => {
                let port = self.cached(port, |b| b.port_field(rule, protocol, ports));
                (Some(*protocol), None, port)
            }
            Clause::Icmp { types, .. } => (Some("icmp"), types.clone(), PortField::Every),
            Clause::Protocol(p) => (Some(*p), None, PortField::Every),
        };
        let tracker = self.tracker(format!("{}|{}|{}", rule.name, iface.key, clause.tag()));
        Some(Planned {
            tracker,
            kind: rule_type(rule.action),
            iface: i,
            ipprotocol,
            protocol,
            icmptype,
            source,
            destination,
            port,
            text,
            log: rule.log,
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
    fn block_all(&mut self, (i, iface): (u32, &Iface<'_>), text: u32) -> Planned {
        let tracker = self.tracker(format!("default|{}", iface.key));
        Planned {
            tracker,
            kind: rule_type(self.ir.default_action),
            iface: i,
            ipprotocol: "inet46",
            protocol: None,
            icmptype: None,
            source: Side::Any,
            destination: Side::Any,
            port: PortField::Every,
            text,
            log: self.ir.default_log,
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
    ) -> Side {
        if (!v4 || set.v4.is_full()) && (!v6 || set.v6.is_full()) {
            return Side::Any;
        }
        let content = ContentRef::Addrs(set);
        let ir = self.ir;
        if let Some(o) = object.and_then(|n| ir.objects.get(n))
            && o.addrs == *set
        {
            let descr = || {
                o.description
                    .clone()
                    .unwrap_or_else(|| format!("{} {}", o.kind.as_str(), o.name))
            };
            let key = Cow::Borrowed(o.name.as_str());
            return Side::Alias(self.register(OBJECT_PREFIX, key, content, descr, span));
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
            return Side::Alias(self.register(OBJECT_PREFIX, key, content, descr, span));
        }
        // A single object cut to one interface's zones: named after both, so
        // every rule from that object on that interface shares the alias.
        if let (Some(o), Some(i)) = (object, iface) {
            let descr = || format!("{o} arriving on {}", i.key);
            let key = Cow::Owned(format!("{o}_{}", i.key));
            return Side::Alias(self.register(PART_PREFIX, key, content, descr, span));
        }
        let key = Cow::Owned(derived());
        Side::Alias(self.register(DERIVED_PREFIX, key, content, derived_descr, span))
    }

    /// The destination-port field: a literal when pfSense reads it exactly,
    /// else a port alias (`A:B` entries).
    fn port_field(&mut self, rule: &Rule, protocol: &str, ports: &PortSet) -> PortField {
        if ports.is_full() {
            return PortField::Every;
        }
        if let [(lo, hi)] = ports.ranges() {
            // filter.inc reads `1-M` as `port <= M` and `1-65535` as no
            // port at all: both would also match port 0. Single ports and
            // ranges starting above 1 are exact.
            if lo == hi {
                return PortField::Port(*lo);
            }
            if *lo >= 2 {
                return PortField::Range(*lo, *hi);
            }
        }
        let tag = protocol.replace('/', "");
        PortField::Alias(self.register(
            PORT_PREFIX,
            Cow::Owned(format!("{}_{tag}", rule.name)),
            ContentRef::Ports(ports),
            || format!("{protocol} ports of {}", rule.name),
            rule.span,
        ))
    }

    /// Adds an alias (or finds the one already added for the same key) and
    /// returns its index. The text of an alias is written once, when it is
    /// added.
    fn register(
        &mut self,
        prefix: &'static str,
        key: Cow<'a, str>,
        content: ContentRef<'_>,
        descr: impl FnOnce() -> String,
        span: Span,
    ) -> u32 {
        let mut name = std::mem::take(&mut self.name_buf);
        alias_name_into(&mut name, prefix, &key);
        let found = self.names.get(name.as_str()).copied();
        let Some(i) = found else {
            let i = index(self.aliases.len());
            let (kind, address, entries) = content.text();
            self.check_size(&name, entries, span);
            self.names.insert(name.clone(), i);
            let alias = Alias {
                name: name.clone(),
                kind,
                address,
                descr: sanitize(descr(), 200),
            };
            self.aliases.push(Registered {
                prefix,
                key,
                content: content.to_owned(),
                entries,
                alias,
            });
            self.name_buf = name;
            return i;
        };
        self.name_buf = name;
        let existing = &self.aliases[i as usize];
        // (The prefixes differ in their third character, so this is the
        // same as comparing prefix and key as one string.)
        let same_key = existing.prefix == prefix && existing.key == key;
        let (same_content, entries) = (existing.content.is(content), existing.entries);
        let name = existing.alias.name.clone();
        if same_key && same_content {
            self.check_size(&name, entries, span);
            return i;
        }
        let origin = format!("{}{}", existing.prefix, existing.key);
        let first = origin.trim_start_matches(prefix);
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
        i
    }

    /// The aliases sorted by name, and for each index `register` returned
    /// its position in that order.
    fn sorted_aliases(&mut self) -> (Vec<Alias>, Vec<u32>) {
        let registered = std::mem::take(&mut self.aliases);
        let mut order: Vec<usize> = (0..registered.len()).collect();
        // Names are unique. Stable sort: it is fast on the long runs of
        // names that were added in order.
        order.sort_by(|&a, &b| registered[a].alias.name.cmp(&registered[b].alias.name));
        let mut rank = vec![0; registered.len()];
        for (position, &i) in order.iter().enumerate() {
            rank[i] = index(position);
        }
        let mut aliases: Vec<Option<Alias>> =
            registered.into_iter().map(|r| Some(r.alias)).collect();
        let sorted = order
            .iter()
            .map(|&i| aliases[i].take().expect("each alias once"))
            .collect();
        (sorted, rank)
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

/// `wan`, `lan` or `optN`: the only keys whose rules pfSense evaluates as
/// plain interface rules (groups and VPN pseudo-interfaces come first).
pub(crate) fn is_interface_key(key: &str) -> bool {
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

fn rule_type(action: Action) -> &'static str {
    match action {
        Action::Allow => "pass",
        Action::Deny => "block",
        Action::Reject => "reject",
    }
}

/// The tracker of a rule key: a hash into the safe range.
pub(crate) fn tracker_for(key: &str) -> u32 {
    u32::try_from(TRACKER_BASE + fnv1a(key.as_bytes()) % TRACKER_SPAN).expect("range is below 2^32")
}

/// Maps a policy name to a pfSense alias name: prefix, upper case, `_` for
/// anything outside `[A-Za-z0-9]`; names over 31 characters are cut and get
/// a hash of the full name so different long names stay different.
#[cfg(test)]
fn alias_name(prefix: &str, key: &str) -> String {
    let mut name = String::new();
    alias_name_into(&mut name, prefix, key);
    name
}

/// The alias name of `key` (see above), written into `name` (cleared
/// first): the renderer makes thousands and reuses one buffer.
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
    let hash = fnv1a(format!("{prefix}{key}").as_bytes()) & 0xFF_FFFF;
    name.truncate(MAX_ALIAS_NAME - 7);
    let _ = write!(name, "_{hash:06X}");
}

/// A description for pfSense (a policy rule's is [`super::note::titled`]
/// through the same cleaning): the name, then the text;
/// no `"` (pf strips it from labels) and no `\`, control characters as
/// spaces, cut to [`MAX_RULE_DESCR`] bytes.
///
/// XML escaping (done by the renderer, `write_rule`) is all the text needs:
/// pfSense's reader (xmlparse.inc) runs `html_entity_decode` on each text
/// chunk the XML parser hands it, but expat hands over every entity
/// reference as a chunk of its own (`&amp;lt;` arrives as `&` then `lt;`), so that second
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
    let field = Field {
        replace: |c| match c {
            '"' => Some('\''),
            '\\' => Some('/'),
            c if c.is_control() => Some(' '),
            _ => None,
        },
        collapse_spaces: false,
        trim_start: char::is_whitespace,
        trim_end: true,
        max,
        overflow: Overflow::Ellipsis,
    };
    match field.fit(&text) {
        // Most text needs no change: keep it (and its allocation).
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(clean) => clean,
    }
}

/// pf names of IP protocols pfSense rules can select, by number.
pub(crate) fn protocol_name(p: u8) -> Option<&'static str> {
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
pub(crate) fn icmp_type_name(t: u8, family: Family) -> Option<&'static str> {
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
#[cfg(test)]
fn icmp_type_number(name: &str, family: Family) -> Option<u8> {
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
    use std::collections::BTreeMap;

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
