//! The nftables target: one atomically re-loadable `table inet wardwall` for
//! a Linux router that forwards between the zones.
//!
//! Placement (see `docs/targets/nftables.md`):
//! - one `forward` base chain, `policy drop`, `ct state established,related
//!   accept` and `ct state invalid drop` first (rules are stateful: a rule
//!   permits the initiating direction, replies pass as established), then
//!   every IR rule in IR order (first match wins), then the default rule;
//! - one nft rule per (IR rule, family, protocol part): an `ip` and an `ip6`
//!   match cannot share a rule, and TCP, UDP, ICMP and other protocols need
//!   different matches. The lines of one IR rule are disjoint and adjacent,
//!   with the same verdict, so splitting keeps first-match semantics;
//! - a rule side that is exactly one named object uses a named interval set
//!   per family (`<kind>_<object>_v4|v6`); a side with a single prefix is
//!   written inline; any other side gets a named set scoped to the rule
//!   (`r_<rule>_src_v4`, ...). Names come from policy names, never positions;
//! - tcp and udp sharing the same ports become `meta l4proto { tcp, udp }
//!   th dport ...`; port lists are anonymous sets;
//! - `reject` refuses TCP with a reset and everything else with an ICMP(v6)
//!   administratively-prohibited error;
//! - every line has a `counter`, logged rules a `log prefix` (≤ 127 bytes),
//!   and a `comment` that starts with the IR rule name (≤ 128 bytes, no `"`).
//!
//! - anti-spoofing (on unless [`Nftables::address_only`]): before the
//!   connection-tracking rules, a packet whose source address is not of a
//!   zone bound to its input interface (`iifname`, from the zones'
//!   `nftables` interface bindings) is given the default verdict, as the
//!   interface-bound rules of pfSense, Cisco and PAN-OS give it. So every
//!   rule, and the `ct state established,related` reply path, only sees
//!   packets whose source address is where its zone lives.

use rustc_hash::FxBuildHasher;
use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Serde, Value};
use serde::Serialize;

use super::{RenderedFile, Renderer, Templates, template_error};
use crate::addrset::{AddrSet, ByteSet};
use crate::diagnostics::Diagnostic;
use crate::ir::{Action, AddressObject, Endpoint, Family, Ir, ObjectKind, Rule, ServiceSet, Zone};
use crate::place::{Placement, Reach};
use crate::render::{fnv1a, push_decimal, push_ipv4};
use crate::text::{self, Field, Overflow, truncate_bytes};
use crate::vocab::Target;

/// The target name (`-t nftables`, `targets/nftables/`, `out/nftables/`).
pub(crate) const TARGET: &str = Target::Nftables.name();
/// The table wardwall owns and replaces as a whole.
pub(crate) const TABLE: &str = "wardwall";
/// nft 1.0.6: comments longer than this are rejected.
pub(crate) const MAX_COMMENT: usize = 128;
/// nft 1.0.6: a longer log prefix fails at commit.
pub(crate) const MAX_LOG_PREFIX: usize = 127;
/// Interface names are at most 15 bytes on Linux.
pub(crate) const MAX_IFNAME: usize = 15;

const TEMPLATES: &[(&str, &str)] = &[(
    "ruleset.nft.j2",
    include_str!("../../../targets/nftables/ruleset.nft.j2"),
)];

/// The nftables renderer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Nftables {
    /// Match addresses only, without the anti-spoofing rules: a packet with
    /// another zone's source address then passes that zone's allow rules.
    /// Off by default; with it off, every zone needs an `nftables`
    /// interface binding.
    pub address_only: bool,
}

/// The view model handed to the template. The template lays out the frame
/// (header, table, chain, default rule); the sets and rules, which grow with
/// the policy, are written here as text: a template loop costs about a
/// microsecond per iteration, several times the cost of writing the line.
#[derive(Debug)]
pub struct View {
    pub policy: String,
    pub table: &'static str,
    /// Table comment (the policy description), sanitised.
    pub comment: Option<String>,
    /// The named sets, by name; fields `name`, `type`, `comment`.
    pub sets: Blocks,
    /// Every IR rule in IR order, `# <rule>` and its nft rules; field `name`.
    pub rules: Blocks,
    /// The anti-spoofing rules (one per line, no trailing newline), printed
    /// before the connection-tracking rules; empty when address-only.
    pub antispoof: String,
    pub default: LineView,
}

/// Text written here for a run of items (sets, rules): each item is a blank
/// line and then its own lines, so the whole run is one string. Templates
/// get the run as `<name>_text` and the items as `<name>`: each item's
/// `text` (without the blank line) and its fields, all parts of that text.
#[derive(Debug)]
pub struct Blocks {
    pub text: String,
    /// The names of the fields of every item.
    fields: &'static [&'static str],
    items: Vec<Block>,
}

/// Where one item and its fields are in the text (an empty field is none).
/// Offsets are `u32` to keep the index small next to the text.
#[derive(Debug)]
struct Block {
    text: Range<u32>,
    fields: [Range<u32>; 3],
}

impl Blocks {
    fn new(fields: &'static [&'static str], items: usize, bytes: usize) -> Self {
        debug_assert!(fields.len() <= 3);
        Self {
            text: String::with_capacity(bytes),
            fields,
            items: Vec::with_capacity(items),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Starts an item with its blank line; returns where its text starts.
    fn start(&mut self) -> u32 {
        self.text.push('\n');
        self.offset()
    }

    fn offset(&self) -> u32 {
        u32::try_from(self.text.len()).expect("rendered text below 4 GiB")
    }

    /// Appends a field's text and returns where it is.
    fn field(&mut self, text: &str) -> Range<u32> {
        let start = self.offset();
        self.text.push_str(text);
        start..self.offset()
    }

    /// Ends the item started at `start`.
    fn finish(&mut self, start: u32, fields: [Range<u32>; 3]) {
        let text = start..self.offset();
        self.items.push(Block { text, fields });
    }

    /// Drops an unfinished item's text (the rule had errors).
    fn abandon(&mut self, start: u32) {
        self.text.truncate(start as usize - 1);
    }

    /// The run as one template string, and the items as a sequence whose
    /// entries become template values only when a template reads them.
    fn into_values(self) -> (Value, Value) {
        let text = Value::from_safe_string(self.text);
        let items = Value::from_object(BlockItems {
            text: text.clone(),
            fields: self.fields,
            items: self.items,
        });
        (text, items)
    }
}

#[derive(Debug)]
struct BlockItems {
    text: Value,
    fields: &'static [&'static str],
    items: Vec<Block>,
}

impl Object for BlockItems {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let item = self.items.get(key.as_usize()?)?;
        let text = self.text.as_str()?;
        let part =
            |r: &Range<u32>| Value::from_safe_string(text[r.start as usize..r.end as usize].into());
        let fields = self.fields.iter().zip(&item.fields).map(|(name, r)| {
            let value = if r.is_empty() {
                Value::from(())
            } else {
                part(r)
            };
            (*name, value)
        });
        Some(Value::from_pairs(
            fields.chain([("text", part(&item.text))]),
        ))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.items.len())
    }
}

/// The default rule, laid out by the template.
#[derive(Debug, Serialize, Clone)]
pub struct LineView {
    /// Match expressions, space separated (empty: matches everything).
    pub matches: String,
    pub log_prefix: Option<String>,
    pub verdict: String,
    pub comment: String,
}

impl Renderer for Nftables {
    fn target(&self) -> Target {
        Target::Nftables
    }

    fn embedded_templates(&self) -> &'static [(&'static str, &'static str)] {
        TEMPLATES
    }

    fn render(&self, ir: &Ir, templates: &Templates) -> Result<Vec<RenderedFile>, Vec<Diagnostic>> {
        let view = self.view(ir)?;
        let path = PathBuf::from(TARGET).join(format!("{}.nft", view.policy));
        // The frame adds a few hundred bytes to the written text.
        let size = view.sets.text.len() + view.rules.text.len() + 4096;
        let (sets_text, sets) = view.sets.into_values();
        let (rules_text, rules) = view.rules.into_values();
        let antispoof = view.antispoof;
        let context = minijinja::context! {
            policy => view.policy,
            table => view.table,
            comment => view.comment,
            sets_text,
            sets,
            rules_text,
            rules,
            antispoof_text => Value::from_safe_string(antispoof.clone()),
            default => Value::from(Serde(&view.default)),
        };
        let env = templates.environment(self);
        let mut out = Vec::with_capacity(size);
        env.get_template("ruleset.nft.j2")
            .and_then(|t| t.render_captured_to(context, &mut out))
            .map_err(|e| vec![template_error(TARGET, &e)])?;
        let contents = String::from_utf8(out).expect("templates write UTF-8");
        check_antispoof_printed(&contents, &antispoof)?;
        Ok(vec![RenderedFile { path, contents }])
    }

    fn validate(&self, ir: &Ir) -> Vec<Diagnostic> {
        self.view(ir).err().unwrap_or_default()
    }
}

impl Nftables {
    /// Builds the view model: every nftables decision is made here.
    pub fn view(&self, ir: &Ir) -> Result<View, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let policy = file_stem(&ir.name);
        let names = ObjectNames::new(ir);
        // Unions of the zones sharing an interface; they outlive `sets`.
        let bindings = if self.address_only {
            Ok(Bindings::default())
        } else {
            Bindings::new(ir)
        };
        // With anti-spoofing, a source address can arrive only on its
        // zone's interface and a reply only on its responder's, so both
        // sides of an allow must be placed. Checked once every zone has an
        // interface (until then the missing interfaces are the error).
        let every_zone_bound = ir.zones.iter().all(|z| z.bindings.contains_key(TARGET));
        let placement = (!self.address_only && every_zone_bound)
            .then(|| Placement::new(ir, Target::Nftables, Reach::Replies));
        let bindings = match bindings {
            Ok(b) => b,
            Err(mut e) => {
                errors.append(&mut e);
                Bindings::default()
            }
        };
        let mut sets = Sets::with_capacity(ir.rules.len() * 2);
        // About 200 bytes per rule in generated policies; the estimate only
        // saves reallocations.
        let mut rules = Blocks::new(&["name"], ir.rules.len(), ir.rules.len() * 224);
        let mut scratch = Scratch::default();
        for (pos, rule) in ir.rules.iter().enumerate() {
            let start = rules.start();
            let rule_names = RuleNames {
                ident: &names.rules[pos],
                objects: &names,
            };
            rules.text.push_str("        # ");
            let name = rules.field(&rule.name);
            rules.text.push('\n');
            if let Some(placement) = &placement {
                errors.extend(placement.check(rule));
            }
            match self.write_rule(&rule_names, rule, &mut sets, &mut scratch, &mut rules.text) {
                Ok(()) => rules.finish(start, [name, 0..0, 0..0]),
                Err(mut e) => {
                    rules.abandon(start);
                    errors.append(&mut e);
                }
            }
        }
        let default = LineView {
            matches: String::new(),
            log_prefix: ir
                .default_log
                .then(|| log_prefix(ir.default_action, "default")),
            verdict: match ir.default_action {
                Action::Allow => "accept".into(),
                Action::Deny => "drop".into(),
                Action::Reject => "reject with icmpx admin-prohibited".into(),
            },
            comment: "default: no rule matched".into(),
        };
        let antispoof = if self.address_only || !errors.is_empty() {
            String::new()
        } else {
            antispoof_rules(ir, &names, &bindings, &default, &mut sets)
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(View {
            policy,
            table: TABLE,
            comment: ir.description.as_deref().map(comment_text),
            sets: sets.into_blocks(),
            rules,
            antispoof,
            default,
        })
    }

    /// Writes the nft rules of one IR rule: one per (family,
    /// service part), each `<matches> counter [log prefix "…"] <verdict>
    /// comment "…"`.
    fn write_rule<'ir>(
        &self,
        names: &RuleNames<'_, 'ir>,
        rule: &'ir Rule,
        sets: &mut Sets<'ir>,
        scratch: &mut Scratch,
        out: &mut String,
    ) -> Result<(), Vec<Diagnostic>> {
        let Scratch {
            text,
            comment,
            src,
            dst,
            prefix,
        } = scratch;
        text.clear();
        text.push_str(&super::note::titled(rule, MAX_COMMENT));
        comment.clear();
        push_comment_text(comment, text);
        let log = rule
            .log
            .then(|| log_prefix(rule.action, &rule.name))
            .filter(|l| !l.is_empty());
        let mut errors = Vec::new();
        for family in rule.families() {
            let s = endpoint_match(names, rule, &rule.src, Side::Src, family, sets, src);
            let d = endpoint_match(names, rule, &rule.dst, Side::Dst, family, sets, dst);
            if s.is_err() || d.is_err() {
                errors.extend(s.err().map(|e| *e));
                errors.extend(d.err().map(|e| *e));
                continue;
            }
            // The matches before the service, space separated.
            prefix.clear();
            if src.is_empty() && dst.is_empty() {
                prefix.push_str(match family {
                    Family::V4 => "meta nfproto ipv4",
                    Family::V6 => "meta nfproto ipv6",
                });
            }
            push_word(prefix, src);
            push_word(prefix, dst);
            for (service, verdict) in service_parts(&rule.service.set, family, rule.action) {
                out.push_str("        ");
                out.push_str(prefix);
                if let ServiceMatch::Any = service {
                    if !prefix.is_empty() {
                        out.push(' ');
                    }
                } else {
                    if !prefix.is_empty() {
                        out.push(' ');
                    }
                    service.write(out);
                    out.push(' ');
                }
                out.push_str("counter");
                if let Some(log) = &log {
                    out.push_str(" log prefix \"");
                    out.push_str(log);
                    out.push('"');
                }
                out.push(' ');
                out.push_str(verdict);
                out.push_str(" comment \"");
                out.push_str(comment);
                out.push_str("\"\n");
            }
        }
        if !errors.is_empty() {
            // The same problem is found once per family: report it once.
            let mut unique: Vec<Diagnostic> = Vec::new();
            for e in errors {
                if !unique.contains(&e) {
                    unique.push(e);
                }
            }
            return Err(unique);
        }
        Ok(())
    }
}

/// Buffers reused from rule to rule (so writing a rule allocates little).
#[derive(Default)]
struct Scratch {
    text: String,
    comment: String,
    src: String,
    dst: String,
    prefix: String,
}

/// Appends `word` (if any) to a space-separated list.
fn push_word(list: &mut String, word: &str) {
    if word.is_empty() {
        return;
    }
    if !list.is_empty() {
        list.push(' ');
    }
    list.push_str(word);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Src,
    Dst,
}

/// The elements of a set: the minimal sorted CIDR blocks of one family of
/// an address set (as `AddrSet::v4_cidrs`/`v6_cidrs`), computed as they are
/// written instead of collected.
#[derive(Clone, Copy)]
struct Elements<'a> {
    addrs: &'a AddrSet,
    family: Family,
}

impl<'a> Elements<'a> {
    /// (network, prefix length) of every block, in order.
    fn blocks(self) -> impl Iterator<Item = (u128, u8)> + 'a {
        self.addrs.blocks(self.family)
    }

    fn is_single(self) -> bool {
        self.blocks().nth(1).is_none()
    }

    /// The length of the elements' lines (an upper bound for IPv6).
    fn text_len(self) -> usize {
        const LINE: usize = "            ,\n".len();
        match self.family {
            Family::V4 => self
                .blocks()
                .map(|(net, len)| {
                    let addr: usize = (net as u32)
                        .to_be_bytes()
                        .iter()
                        .map(|&o| decimal_len(o))
                        .sum();
                    let suffix = if len == 32 { 0 } else { 1 + decimal_len(len) };
                    LINE + addr + 3 + suffix
                })
                .sum(),
            Family::V6 => {
                let max = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128".len();
                self.blocks().count() * (LINE + max)
            }
        }
    }

    /// Writes one block, a host without `/32` or `/128`.
    fn write(self, (net, len): (u128, u8), out: &mut String) {
        let host = match self.family {
            Family::V4 => {
                push_ipv4(out, net as u32);
                32
            }
            Family::V6 => {
                let _ = write!(out, "{}", std::net::Ipv6Addr::from(net));
                128
            }
        };
        if len != host {
            out.push('/');
            push_octet(out, len);
        }
    }
}

fn decimal_len(n: u8) -> usize {
    match n {
        0..=9 => 1,
        10..=99 => 2,
        _ => 3,
    }
}

fn push_octet(out: &mut String, n: u8) {
    if n >= 100 {
        out.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        out.push(char::from(b'0' + n / 10 % 10));
    }
    out.push(char::from(b'0' + n % 10));
}

/// Writes the address match for one side and family into `out` (cleared
/// first); nothing when the side covers the whole family.
#[allow(clippy::too_many_arguments)]
fn endpoint_match<'ir>(
    names: &RuleNames<'_, 'ir>,
    rule: &'ir Rule,
    ep: &'ir Endpoint,
    side: Side,
    family: Family,
    sets: &mut Sets<'ir>,
    out: &mut String,
) -> Result<(), Box<Diagnostic>> {
    out.clear();
    let full = match family {
        Family::V4 => ep.addrs.v4.is_full(),
        Family::V6 => ep.addrs.v6.is_full(),
    };
    if full {
        return Ok(());
    }
    let (proto, ty, suffix) = match family {
        Family::V4 => ("ip ", "ipv4_addr", "_v4"),
        Family::V6 => ("ip6 ", "ipv6_addr", "_v6"),
    };
    out.push_str(proto);
    out.push_str(match side {
        Side::Src => "saddr ",
        Side::Dst => "daddr ",
    });
    // A side that is exactly one named object (with the same addresses):
    // a named set shared by every rule that uses the object.
    let object = ep
        .single_object()
        .and_then(|n| names.objects.object(n))
        .filter(|(o, _)| o.addrs == ep.addrs);
    let content = SetContent {
        ty,
        elements: Elements {
            addrs: &ep.addrs,
            family,
        },
    };
    out.push('@');
    let name_at = out.len();
    if let Some((obj, ident)) = object {
        out.push_str(ident);
        out.push_str(suffix);
        sets.add(&out[name_at..], Owner::Object(obj), content, rule)?;
        return Ok(());
    }
    if content.elements.is_single() {
        // A single prefix is written inline.
        out.pop();
        let block = content.elements.blocks().next().expect("one block");
        content.elements.write(block, out);
        return Ok(());
    }
    out.push_str(names.ident);
    out.push_str(match side {
        Side::Src => "_src",
        Side::Dst => "_dst",
    });
    out.push_str(suffix);
    let owner = Owner::Rule {
        rule: &rule.name,
        side,
        family,
    };
    sets.add(&out[name_at..], owner, content, rule)?;
    Ok(())
}

/// The policy object, or the side of a rule (in one family), a named set
/// stands for.
#[derive(Clone, Copy)]
enum Owner<'ir> {
    Object(&'ir AddressObject),
    /// The zones sharing one interface (anti-spoofing).
    Interface(&'ir str, &'ir Interface<'ir>),
    Rule {
        rule: &'ir str,
        side: Side,
        family: Family,
    },
}

impl Owner<'_> {
    /// Whether two owners are the same (the sides of one rule in one family
    /// count as one owner, as they always have).
    fn same(self, other: Owner<'_>) -> bool {
        match (self, other) {
            (Owner::Object(a), Owner::Object(b)) => a.name == b.name,
            (Owner::Interface(a, _), Owner::Interface(b, _)) => a == b,
            (
                Owner::Rule { rule, family, .. },
                Owner::Rule {
                    rule: r2,
                    family: f2,
                    ..
                },
            ) => rule == r2 && family == f2,
            _ => false,
        }
    }

    /// Appends the set's comment (sanitised) to `out`; `scratch` holds the
    /// raw text.
    fn write_comment(self, out: &mut String, scratch: &mut String) {
        scratch.clear();
        match self {
            Owner::Object(obj) => {
                scratch.push_str(obj.kind.as_str());
                scratch.push(' ');
                scratch.push_str(&obj.name);
                if let Some(d) = &obj.description {
                    scratch.push_str(": ");
                    scratch.push_str(d);
                }
            }
            Owner::Interface(iface, interface) => {
                scratch.push_str("interface ");
                scratch.push_str(iface);
                scratch.push_str(if interface.zones.len() == 1 {
                    ": zone"
                } else {
                    ": zones"
                });
                for zone in &interface.zones {
                    scratch.push(' ');
                    scratch.push_str(&zone.name);
                }
            }
            Owner::Rule { rule, side, .. } => {
                scratch.push_str("rule ");
                scratch.push_str(rule);
                scratch.push_str(match side {
                    Side::Src => " from",
                    Side::Dst => " to",
                });
            }
        }
        push_comment_text(out, scratch);
    }

    /// At least the length of the comment.
    fn comment_len(self) -> usize {
        let raw = match self {
            Owner::Object(obj) => {
                obj.kind.as_str().len()
                    + 1
                    + obj.name.len()
                    + obj.description.as_ref().map_or(0, |d| 2 + d.len())
            }
            Owner::Interface(iface, interface) => {
                "interface : zones".len()
                    + iface.len()
                    + interface
                        .zones
                        .iter()
                        .map(|z| 1 + z.name.len())
                        .sum::<usize>()
            }
            Owner::Rule { rule, .. } => "rule  from".len() + rule.len(),
        };
        raw.min(MAX_COMMENT)
    }
}

impl fmt::Display for Owner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Object(obj) => write!(f, "object {}", obj.name),
            Owner::Interface(iface, _) => write!(f, "interface {iface}"),
            Owner::Rule { rule, family, .. } => {
                let suffix = match family {
                    Family::V4 => "v4",
                    Family::V6 => "v6",
                };
                write!(f, "rule {rule} {suffix}")
            }
        }
    }
}

/// What a named set holds.
struct SetContent<'ir> {
    ty: &'static str,
    elements: Elements<'ir>,
}

impl SetContent<'_> {
    fn same_as(&self, other: &SetContent<'_>) -> bool {
        let (a, b) = (self.elements, other.elements);
        self.ty == other.ty
            && a.family == b.family
            && match a.family {
                Family::V4 => a.addrs.v4 == b.addrs.v4,
                Family::V6 => a.addrs.v6 == b.addrs.v6,
            }
    }
}

struct NamedSet<'ir> {
    owner: Owner<'ir>,
    content: SetContent<'ir>,
}

/// The named sets of the table, by name, with the policy object (or rule
/// side) each one stands for.
struct Sets<'ir> {
    by_name: NameMap<String, NamedSet<'ir>>,
}

impl<'ir> Sets<'ir> {
    fn with_capacity(sets: usize) -> Self {
        Self {
            by_name: NameMap::with_capacity_and_hasher(sets, Default::default()),
        }
    }

    /// Adds a set, or reuses it for the same owner. Two owners whose names
    /// map to the same identifier would silently share one set: an error.
    fn add(
        &mut self,
        name: &str,
        owner: Owner<'ir>,
        content: SetContent<'ir>,
        rule: &Rule,
    ) -> Result<(), Box<Diagnostic>> {
        self.add_set(name, owner, content).map_err(|existing| {
            Box::new(
                Diagnostic::error(
                    "nftables-name-clash",
                    format!(
                        "nftables set name `{name}` would stand for both {existing} and {owner}"
                    ),
                )
                .at(rule.span, "in this rule")
                .help("rename one of them"),
            )
        })
    }

    /// [`Sets::add`]; on a clash, the owner the name already stands for.
    fn add_set(
        &mut self,
        name: &str,
        owner: Owner<'ir>,
        content: SetContent<'ir>,
    ) -> Result<(), String> {
        match self.by_name.get(name) {
            Some(existing) if existing.owner.same(owner) && existing.content.same_as(&content) => {
                Ok(())
            }
            Some(existing) => Err(existing.owner.to_string()),
            None => {
                self.by_name
                    .insert(name.to_string(), NamedSet { owner, content });
                Ok(())
            }
        }
    }

    /// The set definitions, ordered by name.
    fn into_blocks(self) -> Blocks {
        let sets: Vec<(&str, &NamedSet)> =
            self.by_name.iter().map(|(n, s)| (n.as_str(), s)).collect();
        let bytes = sets
            .iter()
            .map(|(name, set)| {
                let c = &set.content;
                SET_FRAME_BYTES
                    + name.len()
                    + set.owner.comment_len()
                    + c.ty.len()
                    + c.elements.text_len()
            })
            .sum();
        let mut blocks = Blocks::new(&["name", "type", "comment"], sets.len(), bytes);
        let mut scratch = String::new();
        for i in order_by_name(&sets, |s| s.0) {
            let (name, set) = sets[i];
            let (ty, elements) = (set.content.ty, set.content.elements);
            let start = blocks.start();
            blocks.text.push_str("    set ");
            let name = blocks.field(name);
            blocks.text.push_str(" {\n        type ");
            let ty = blocks.field(ty);
            blocks.text.push_str("\n        flags interval\n");
            // (Never empty: it starts with the kind of owner.)
            blocks.text.push_str("        comment \"");
            let comment_at = blocks.offset();
            set.owner.write_comment(&mut blocks.text, &mut scratch);
            let comment_at = comment_at..blocks.offset();
            blocks.text.push_str("\"\n");
            blocks.text.push_str("        elements = {\n");
            for block in elements.blocks() {
                blocks.text.push_str("            ");
                elements.write(block, &mut blocks.text);
                blocks.text.push_str(",\n");
            }
            blocks.text.push_str("        }\n    }\n");
            blocks.finish(start, [name, ty, comment_at]);
        }
        debug_assert!(blocks.text.len() <= bytes, "the size is an upper bound");
        blocks
    }
}

/// The positions of `items` in the order of their names. The first 16
/// bytes of each name are compared as one number first: names share long
/// prefixes, and sorting the items themselves by string comparison was a
/// quarter of this renderer.
fn order_by_name<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<usize> {
    let head = |s: &str| {
        let mut b = [0u8; 16];
        let n = s.len().min(16);
        b[..n].copy_from_slice(&s.as_bytes()[..n]);
        u128::from_be_bytes(b)
    };
    let mut keyed: Vec<(u128, usize)> = items
        .iter()
        .enumerate()
        .map(|(i, t)| (head(name(t)), i))
        .collect();
    keyed.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| name(&items[a.1]).cmp(name(&items[b.1])))
    });
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// The bytes of a set definition besides its name, type, comment and
/// elements (with the blank line before it).
const SET_FRAME_BYTES: usize = "\n    set  {\n        type \n        flags interval\n        comment \"\"\n        elements = {\n        }\n    }\n".len();

/// The zones' `nftables` interface bindings: every interface, by name, with
/// the zones bound to it.
#[derive(Default)]
struct Bindings<'ir> {
    interfaces: BTreeMap<&'ir str, Interface<'ir>>,
}

/// One interface and what may arrive on it: the addresses of its zones.
struct Interface<'ir> {
    /// In declaration order.
    zones: Vec<&'ir Zone>,
    addrs: AddrSet,
}

impl<'ir> Bindings<'ir> {
    /// Every zone's interface. A zone without one is an error: a packet
    /// with its source address could not be told from a spoofed one.
    fn new(ir: &'ir Ir) -> Result<Self, Vec<Diagnostic>> {
        let mut interfaces: BTreeMap<&str, Interface> = BTreeMap::new();
        let mut errors = Vec::new();
        for zone in &ir.zones {
            match zone.bindings.get(TARGET) {
                Some(iface) if valid_ifname(iface) => {
                    let entry = interfaces.entry(iface).or_insert_with(|| Interface {
                        zones: Vec::new(),
                        addrs: AddrSet::default(),
                    });
                    entry.zones.push(zone);
                    entry.addrs = entry.addrs.union(&zone.addrs);
                }
                Some(iface) => errors.push(bad_interface(zone, iface)),
                None => errors.push(
                    Diagnostic::error(
                        "nftables-no-interface",
                        format!(
                            "zone `{}` has no nftables interface: anti-spoofing (on by default) \
                             must know on which interface each zone's source addresses may arrive",
                            zone.name
                        ),
                    )
                    .at(zone.span, "zone without `interface nftables=...`")
                    .help(
                        "add `interface nftables=\"IFNAME\"` to the zone, or build with \
                         `--nft-address-only` (then a spoofed source address passes the allow \
                         rules of the zone it belongs to)",
                    ),
                ),
            }
        }
        if errors.is_empty() {
            Ok(Self { interfaces })
        } else {
            Err(errors)
        }
    }
}

fn bad_interface(zone: &Zone, iface: &str) -> Diagnostic {
    let why = if iface.contains('*') {
        "a wildcard cannot be checked against one zone's addresses (it may cover another zone's interface)"
    } else {
        "not a Linux interface name (1-15 of A-Z a-z 0-9 . _ -)"
    };
    Diagnostic::error(
        "nftables-bad-interface",
        format!("zone `{}`: nftables interface `{iface}`: {why}", zone.name),
    )
    .at(zone.span, "zone declared here")
    .help("bind the zone to one interface by its exact name")
}

/// The anti-spoofing rules, in front of the connection-tracking rules:
/// per interface and family, a packet whose source address is not of a
/// zone bound to that interface gets the default verdict; so does a packet
/// from an interface no zone is bound to. This is what the other targets
/// do: their rules are bound to the ingress interface with the source cut
/// to that interface's zones, so a spoofed source matches none of them and
/// falls to the default. Comments start with `default`, the rule that
/// decides such a packet.
fn antispoof_rules<'s>(
    ir: &Ir,
    names: &ObjectNames<'s>,
    bindings: &'s Bindings<'s>,
    default: &LineView,
    sets: &mut Sets<'s>,
) -> String {
    let mut out = String::new();
    let tail = |out: &mut String, why: &str| {
        out.push_str(" counter");
        if default.log_prefix.is_some() {
            out.push_str(" log prefix \"");
            out.push_str(&log_prefix(ir.default_action, "default (spoofed)"));
            out.push('"');
        }
        out.push(' ');
        out.push_str(&default.verdict);
        out.push_str(" comment \"");
        push_comment_text(out, &format!("default: anti-spoofing: {why}"));
        out.push_str("\"\n");
    };
    for (iface, interface) in &bindings.interfaces {
        for family in [Family::V4, Family::V6] {
            let (proto, ty, suffix, fam) = match family {
                Family::V4 => ("ip", "ipv4_addr", "_v4", "IPv4"),
                Family::V6 => ("ip6", "ipv6_addr", "_v6", "IPv6"),
            };
            let _ = write!(out, "        iifname \"{iface}\" ");
            let elements = Elements {
                addrs: &interface.addrs,
                family,
            };
            if elements.blocks().next().is_none() {
                let _ = write!(out, "meta nfproto {}", fam.to_ascii_lowercase());
                tail(&mut out, &format!("no {fam} zone on {iface}"));
                continue;
            }
            let name = interface_set_name(names, iface, interface, suffix);
            let owner = match interface.zones.as_slice() {
                [zone] => names.object(&zone.name).map(|(o, _)| Owner::Object(o)),
                _ => None,
            }
            .unwrap_or(Owner::Interface(iface, interface));
            sets.add_set(&name, owner, SetContent { ty, elements })
                .expect("interface set names are unique");
            let _ = write!(out, "{proto} saddr != @{name}");
            tail(&mut out, &format!("source not of a zone on {iface}"));
        }
    }
    out.push_str("        iifname != ");
    let quoted: Vec<String> = bindings
        .interfaces
        .keys()
        .map(|i| format!("\"{i}\""))
        .collect();
    match quoted.as_slice() {
        [one] => out.push_str(one),
        many => {
            let _ = write!(out, "{{ {} }}", many.join(", "));
        }
    }
    tail(&mut out, "input interface of no zone");
    out.pop();
    out
}

/// The set of the source addresses an interface admits: the zone's own set
/// when one zone is bound to it, else a set of their union named after
/// the interface.
fn interface_set_name(
    names: &ObjectNames<'_>,
    iface: &str,
    interface: &Interface<'_>,
    suffix: &str,
) -> String {
    if let [zone] = interface.zones.as_slice()
        && let Some((obj, ident)) = names.object(&zone.name)
        && obj.addrs == zone.addrs
    {
        return format!("{ident}{suffix}");
    }
    format!("{}{suffix}", names.interfaces[iface])
}

/// A template override that writes a forward chain (its `ct state` rule)
/// without the anti-spoofing rules would silently let spoofed sources in.
fn check_antispoof_printed(contents: &str, antispoof: &str) -> Result<(), Vec<Diagnostic>> {
    if antispoof.is_empty()
        || !contents.contains("ct state established,related accept")
        || contents.contains(antispoof)
    {
        return Ok(());
    }
    Err(vec![
        Diagnostic::error(
            "template-error",
            "nftables template writes the forward chain without `antispoof_text`: spoofed source addresses would pass",
        )
        .help("print `{{ antispoof_text }}` on its own line right before the `ct state` rules (see targets/nftables/ruleset.nft.j2)"),
    ])
}

fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_IFNAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Writes `a`, `a-b`, or `{ a, b-c }` for an interval set of numbers.
fn push_number_set<T: Copy + PartialEq + Into<u32>>(out: &mut String, ranges: &[(T, T)]) {
    let several = ranges.len() != 1;
    if several {
        out.push_str("{ ");
    }
    for (i, &(lo, hi)) in ranges.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_decimal(out, lo.into());
        if lo != hi {
            out.push('-');
            push_decimal(out, hi.into());
        }
    }
    if several {
        out.push_str(" }");
    }
}

/// The service match of one nft rule.
#[derive(Debug, PartialEq, Eq)]
enum ServiceMatch<'a> {
    /// Every protocol: nothing to match.
    Any,
    /// A match without numbers, such as `meta l4proto tcp`.
    Fixed(&'static str),
    /// A keyword and a set of ports: `tcp dport { 22, 80-81 }`.
    Ports(&'static str, &'a [(u16, u16)]),
    /// A keyword and a set of ICMP types or protocol numbers.
    Bytes(&'static str, &'a [(u8, u8)]),
}

impl ServiceMatch<'_> {
    fn write(&self, out: &mut String) {
        match self {
            ServiceMatch::Any => {}
            ServiceMatch::Fixed(m) => out.push_str(m),
            ServiceMatch::Ports(k, ranges) => {
                out.push_str(k);
                out.push(' ');
                push_number_set(out, ranges);
            }
            ServiceMatch::Bytes(k, ranges) => {
                out.push_str(k);
                out.push(' ');
                push_number_set(out, ranges);
            }
        }
    }
}

/// The service matches of one rule in one family, each with its verdict.
fn service_parts(
    set: &ServiceSet,
    family: Family,
    action: Action,
) -> Vec<(ServiceMatch<'_>, &'static str)> {
    let verdict = |tcp_only: bool| match action {
        Action::Allow => "accept",
        Action::Deny => "drop",
        Action::Reject if tcp_only => "reject with tcp reset",
        Action::Reject => "reject with icmpx admin-prohibited",
    };
    if set.any {
        return if action == Action::Reject {
            // A TCP reset where TCP can be refused, an ICMP error otherwise.
            vec![
                (ServiceMatch::Fixed("meta l4proto tcp"), verdict(true)),
                (ServiceMatch::Any, verdict(false)),
            ]
        } else {
            vec![(ServiceMatch::Any, verdict(false))]
        };
    }
    let mut out = Vec::new();
    if set.shared_tcp_udp_ports().is_some() && action != Action::Reject {
        let m = if set.tcp.is_full() {
            ServiceMatch::Fixed("meta l4proto { tcp, udp }")
        } else {
            ServiceMatch::Ports("meta l4proto { tcp, udp } th dport", set.tcp.ranges())
        };
        out.push((m, verdict(false)));
    } else {
        if !set.tcp.is_empty() {
            let m = if set.tcp.is_full() {
                ServiceMatch::Fixed("meta l4proto tcp")
            } else {
                ServiceMatch::Ports("tcp dport", set.tcp.ranges())
            };
            out.push((m, verdict(true)));
        }
        if !set.udp.is_empty() {
            let m = if set.udp.is_full() {
                ServiceMatch::Fixed("meta l4proto udp")
            } else {
                ServiceMatch::Ports("udp dport", set.udp.ranges())
            };
            out.push((m, verdict(false)));
        }
    }
    let (icmp, keyword, l4): (&ByteSet, &str, &str) = match family {
        Family::V4 => (&set.icmp4, "icmp type", "meta l4proto icmp"),
        Family::V6 => (&set.icmp6, "icmpv6 type", "meta l4proto ipv6-icmp"),
    };
    if !icmp.is_empty() {
        let m = if icmp.is_full() {
            ServiceMatch::Fixed(l4)
        } else {
            ServiceMatch::Bytes(keyword, icmp.ranges())
        };
        out.push((m, verdict(false)));
    }
    if !set.protocols.is_empty() {
        out.push((
            ServiceMatch::Bytes("meta l4proto", set.protocols.ranges()),
            verdict(false),
        ));
    }
    out
}

/// Text from the policy, made safe for an nft double-quoted string (which
/// has no escapes): `"` becomes `'`, control characters become spaces, and
/// the result is cut to [`MAX_COMMENT`] bytes on a character boundary.
pub(crate) fn comment_text(text: &str) -> String {
    COMMENT.fit(text).into_owned()
}

/// A `comment "..."`: a `"` would end the string and a control character
/// the line.
const COMMENT: Field = Field {
    replace: |c| match c {
        '"' => Some('\''),
        c if c.is_control() => Some(' '),
        _ => None,
    },
    collapse_spaces: false,
    trim_start: text::nothing,
    trim_end: false,
    max: MAX_COMMENT,
    overflow: Overflow::Cut,
};

/// Appends [`comment_text`] of `text` to `out`.
fn push_comment_text(out: &mut String, text: &str) {
    COMMENT.push_fit(out, text);
}

/// `wardwall <action> <rule>: `, within [`MAX_LOG_PREFIX`] bytes.
pub(crate) fn log_prefix(action: Action, rule: &str) -> String {
    let text = comment_text(&format!("wardwall {action} {rule}: "));
    truncate_bytes(&text, MAX_LOG_PREFIX).to_string()
}

/// The output file stem: the policy name, reduced to safe file-name bytes.
fn file_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.');
    if s.is_empty() {
        "policy".into()
    } else {
        s.into()
    }
}

/// nft identifiers for policy names: `[a-z][a-z0-9_]*` with a per-kind
/// prefix, so no policy name can be an nft keyword. Names that would
/// collide after lowering case and replacing `-`/`.` get a hash of the
/// original name appended, so they stay distinct and stable.
struct ObjectNames<'ir> {
    /// Every object by name, with its identifier.
    objects: NameMap<&'ir str, (&'ir AddressObject, String)>,
    /// The identifier of every rule, in IR order.
    rules: Vec<String>,
    /// Every `nftables` interface binding, with its identifier (`i_...`).
    interfaces: NameMap<&'ir str, String>,
}

impl<'ir> ObjectNames<'ir> {
    fn new(ir: &'ir Ir) -> Self {
        let mut objects: Vec<(&str, String)> = ir
            .objects
            .values()
            .map(|o| {
                let prefix = match o.kind {
                    ObjectKind::Zone => "z_",
                    ObjectKind::Class => "c_",
                    ObjectKind::Group => "g_",
                    ObjectKind::Advisory => "a_",
                };
                (o.name.as_str(), ident(prefix, &o.name))
            })
            .collect();
        let mut rules: Vec<(&str, String)> = ir
            .rules
            .iter()
            .map(|r| (r.name.as_str(), ident("r_", &r.name)))
            .collect();
        let mut interfaces: Vec<(&str, String)> = ir
            .zones
            .iter()
            .filter_map(|z| z.bindings.get(TARGET))
            .map(|i| (i.as_str(), ident("i_", i)))
            .collect();
        interfaces.sort();
        interfaces.dedup();
        disambiguate(&mut objects, &mut rules, &mut interfaces);
        Self {
            interfaces: interfaces.into_iter().collect(),
            objects: ir
                .objects
                .values()
                .zip(objects)
                .map(|(o, (name, ident))| (name, (o, ident)))
                .collect(),
            rules: rules.into_iter().map(|(_, v)| v).collect(),
        }
    }

    /// The object named `name` and its identifier.
    fn object(&self, name: &str) -> Option<(&'ir AddressObject, &str)> {
        self.objects
            .get(name)
            .map(|(o, ident)| (*o, ident.as_str()))
    }
}

/// Appends a hash of the original name to every identifier that more than
/// one name maps to.
fn disambiguate<'a>(
    objects: &mut [(&'a str, String)],
    rules: &mut [(&'a str, String)],
    interfaces: &mut [(&'a str, String)],
) {
    let mut count: NameMap<&str, usize> = NameMap::default();
    for (_, v) in objects.iter().chain(rules.iter()).chain(interfaces.iter()) {
        *count.entry(v.as_str()).or_default() += 1;
    }
    let taken: Vec<bool> = objects
        .iter()
        .chain(rules.iter())
        .chain(interfaces.iter())
        .map(|(_, v)| count[v.as_str()] > 1)
        .collect();
    for ((orig, v), taken) in objects
        .iter_mut()
        .chain(rules.iter_mut())
        .chain(interfaces.iter_mut())
        .zip(taken)
    {
        if taken {
            let _ = write!(v, "_{:08x}", fnv1a(orig.as_bytes()) as u32);
        }
    }
}

/// The names one rule's sets are made of.
struct RuleNames<'a, 'ir> {
    /// The rule's identifier.
    ident: &'a str,
    objects: &'a ObjectNames<'ir>,
}

fn ident(prefix: &str, name: &str) -> String {
    let safe = |c: char| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        }
    };
    if name.is_ascii() {
        // One byte per character: map the bytes (policy names are ASCII).
        let mut bytes = Vec::with_capacity(prefix.len() + name.len());
        bytes.extend_from_slice(prefix.as_bytes());
        bytes.extend(name.bytes().map(|b| safe(char::from(b)) as u8));
        String::from_utf8(bytes).expect("ASCII")
    } else {
        prefix.chars().chain(name.chars().map(safe)).collect()
    }
}

/// Name maps: FxHash (rustc-hash), fast on short keys; lookups only.
type NameMap<K, V> = HashMap<K, V, FxBuildHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addrset::PortSet;

    #[test]
    fn comments_cannot_break_out_and_fit_the_limit() {
        let nasty = "say \"hi\"\n; drop # é<&>!";
        let c = comment_text(nasty);
        assert!(!c.contains('"'));
        assert!(!c.chars().any(char::is_control));
        assert_eq!(c, "say 'hi' ; drop # é<&>!");
        let long = "é".repeat(100);
        let c = comment_text(&long);
        assert_eq!(c.len(), 128);
        assert_eq!(c.chars().count(), 64);
    }

    #[test]
    fn log_prefix_fits() {
        let name = "a".repeat(200);
        let p = log_prefix(Action::Deny, &name);
        assert!(p.len() <= MAX_LOG_PREFIX);
        assert_eq!(
            log_prefix(Action::Reject, "guest-isolation"),
            "wardwall reject guest-isolation: "
        );
    }

    #[test]
    fn identifiers_are_lowercase_and_safe() {
        assert_eq!(ident("c_", "ICU.monitors-2"), "c_icu_monitors_2");
        assert_eq!(ident("r_", "Ünï-2"), "r__n__2");
        assert_eq!(file_stem("st-example general"), "st-example_general");
        assert_eq!(file_stem("../x"), "_x");
    }

    #[test]
    fn number_sets() {
        let text = |ranges: &[(u16, u16)]| {
            let mut out = String::new();
            push_number_set(&mut out, ranges);
            out
        };
        assert_eq!(text(&[(443, 443)]), "443");
        assert_eq!(text(&[(6661, 6670)]), "6661-6670");
        assert_eq!(text(&[(22, 22), (80, 81)]), "{ 22, 80-81 }");
        assert_eq!(text(&[(0, 9), (10, 65535)]), "{ 0-9, 10-65535 }");
    }

    #[test]
    fn tcp_and_udp_with_the_same_ports_share_one_line() {
        let set = ServiceSet {
            tcp: PortSet::single(53),
            udp: PortSet::single(53),
            ..ServiceSet::default()
        };
        let text = |action| -> Vec<(String, &str)> {
            service_parts(&set, Family::V4, action)
                .into_iter()
                .map(|(m, verdict)| {
                    let mut out = String::new();
                    m.write(&mut out);
                    (out, verdict)
                })
                .collect()
        };
        assert_eq!(
            text(Action::Allow),
            vec![(
                "meta l4proto { tcp, udp } th dport 53".to_string(),
                "accept"
            )]
        );
        // Reject needs a TCP reset for TCP, so the two stay apart.
        assert_eq!(
            text(Action::Reject),
            vec![
                ("tcp dport 53".to_string(), "reject with tcp reset"),
                (
                    "udp dport 53".to_string(),
                    "reject with icmpx admin-prohibited"
                )
            ]
        );
    }

    #[test]
    fn icmp_types_are_per_family() {
        let set = ServiceSet {
            icmp4: ByteSet::single(8),
            ..ServiceSet::default()
        };
        assert_eq!(service_parts(&set, Family::V4, Action::Allow).len(), 1);
        assert!(service_parts(&set, Family::V6, Action::Allow).is_empty());
    }
}
