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
//! Option: [`Nftables::match_interfaces`] adds `iifname`/`oifname` (from the
//! zones' `nftables` interface bindings) to *allow* rules only, so it can only
//! narrow what is permitted (anti-spoofing), never widen it.

pub mod readback;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::{RenderedFile, Renderer, Templates, template_error, truncate_bytes};
use crate::addrset::{AddrSet, ByteSet, PortSet};
use crate::diagnostics::Diagnostic;
use crate::ir::{Action, Endpoint, Family, Ir, ObjectKind, Rule, ServiceSet};

/// The target name (`-t nftables`, `targets/nftables/`, `out/nftables/`).
pub const TARGET: &str = "nftables";
/// The table wardwall owns and replaces as a whole.
pub const TABLE: &str = "wardwall";
/// nft 1.0.6: comments longer than this are rejected.
pub const MAX_COMMENT: usize = 128;
/// nft 1.0.6: a longer log prefix fails at commit.
pub const MAX_LOG_PREFIX: usize = 127;
/// Interface names are at most 15 bytes on Linux.
pub const MAX_IFNAME: usize = 15;

const TEMPLATES: &[(&str, &str)] = &[(
    "ruleset.nft.j2",
    include_str!("../../../targets/nftables/ruleset.nft.j2"),
)];

/// The nftables renderer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Nftables {
    /// Also match `iifname`/`oifname` of the source and destination zones on
    /// allow rules. Needs an `nftables` interface binding on every zone an
    /// allow rule touches.
    pub match_interfaces: bool,
}

/// The view model handed to the template.
#[derive(Debug, Serialize)]
pub struct View {
    pub policy: String,
    pub table: &'static str,
    /// Table comment (the policy description), sanitised.
    pub comment: Option<String>,
    pub sets: Vec<SetView>,
    pub rules: Vec<RuleView>,
    pub default: LineView,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct SetView {
    pub name: String,
    /// `ipv4_addr` or `ipv6_addr`.
    #[serde(rename = "type")]
    pub ty: &'static str,
    pub comment: Option<String>,
    pub elements: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RuleView {
    pub name: String,
    pub lines: Vec<LineView>,
}

#[derive(Debug, Serialize, Clone)]
pub struct LineView {
    /// Match expressions, space separated (empty: matches everything).
    pub matches: String,
    pub log_prefix: Option<String>,
    pub verdict: String,
    pub comment: String,
}

impl Renderer for Nftables {
    fn target(&self) -> &'static str {
        TARGET
    }

    fn embedded_templates(&self) -> &'static [(&'static str, &'static str)] {
        TEMPLATES
    }

    fn render(&self, ir: &Ir, templates: &Templates) -> Result<Vec<RenderedFile>, Vec<Diagnostic>> {
        let view = self.view(ir)?;
        let env = templates.environment(self);
        let text = env
            .get_template("ruleset.nft.j2")
            .and_then(|t| t.render(minijinja::value::Serde(&view)))
            .map_err(|e| vec![template_error(TARGET, &e)])?;
        Ok(vec![RenderedFile {
            path: PathBuf::from(TARGET).join(format!("{}.nft", view.policy)),
            contents: text,
        }])
    }
}

impl Nftables {
    /// Builds the view model: every nftables decision is made here.
    pub fn view(&self, ir: &Ir) -> Result<View, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let policy = file_stem(&ir.name);
        let names = ObjectNames::new(ir);
        let mut sets = Sets::default();
        let mut rules = Vec::with_capacity(ir.rules.len());
        for rule in &ir.rules {
            match self.rule_view(ir, &names, rule, &mut sets) {
                Ok(v) => rules.push(v),
                Err(mut e) => errors.append(&mut e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
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
        Ok(View {
            policy,
            table: TABLE,
            comment: ir.description.as_deref().map(comment_text),
            sets: sets.by_name.into_values().map(|(_, set)| set).collect(),
            rules,
            default,
        })
    }

    fn rule_view(
        &self,
        ir: &Ir,
        names: &ObjectNames,
        rule: &Rule,
        sets: &mut Sets,
    ) -> Result<RuleView, Vec<Diagnostic>> {
        let comment = comment_text(&match &rule.description {
            Some(d) => format!("{}: {d}", rule.name),
            None => rule.name.clone(),
        });
        let log = rule.log.then(|| log_prefix(rule.action, &rule.name));
        let mut lines = Vec::new();
        let mut errors = Vec::new();
        for family in rule.families() {
            let src = endpoint_match(ir, names, rule, &rule.src, Side::Src, family, sets);
            let dst = endpoint_match(ir, names, rule, &rule.dst, Side::Dst, family, sets);
            let (src, dst) = match (src, dst) {
                (Ok(s), Ok(d)) => (s, d),
                (s, d) => {
                    errors.extend(s.err().map(|e| *e));
                    errors.extend(d.err().map(|e| *e));
                    continue;
                }
            };
            let mut prefix = Vec::new();
            if src.is_none() && dst.is_none() {
                prefix.push(
                    match family {
                        Family::V4 => "meta nfproto ipv4",
                        Family::V6 => "meta nfproto ipv6",
                    }
                    .to_string(),
                );
            }
            if self.match_interfaces && rule.action == Action::Allow {
                match interface_matches(ir, rule, family) {
                    Ok(ifs) => prefix.extend(ifs),
                    Err(mut e) => {
                        errors.append(&mut e);
                        continue;
                    }
                }
            }
            prefix.extend(src);
            prefix.extend(dst);
            for (service, verdict) in service_parts(&rule.service.set, family, rule.action) {
                let mut m = prefix.clone();
                if !service.is_empty() {
                    m.push(service);
                }
                lines.push(LineView {
                    matches: m.join(" "),
                    log_prefix: log.clone(),
                    verdict,
                    comment: comment.clone(),
                });
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
        Ok(RuleView {
            name: rule.name.clone(),
            lines,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Src,
    Dst,
}

/// One family of an address set.
fn family_part(set: &AddrSet, family: Family) -> AddrSet {
    match family {
        Family::V4 => AddrSet {
            v4: set.v4.clone(),
            ..AddrSet::default()
        },
        Family::V6 => AddrSet {
            v6: set.v6.clone(),
            ..AddrSet::default()
        },
    }
}

/// Minimal sorted CIDRs of one family, hosts written without `/32`, `/128`.
fn elements(set: &AddrSet, family: Family) -> Vec<String> {
    match family {
        Family::V4 => set
            .v4_cidrs()
            .iter()
            .map(|n| {
                if n.prefix_len() == 32 {
                    n.addr().to_string()
                } else {
                    n.to_string()
                }
            })
            .collect(),
        Family::V6 => set
            .v6_cidrs()
            .iter()
            .map(|n| {
                if n.prefix_len() == 128 {
                    n.addr().to_string()
                } else {
                    n.to_string()
                }
            })
            .collect(),
    }
}

/// The address match for one side and family, or `None` when the side
/// covers the whole family (nothing to match).
fn endpoint_match(
    ir: &Ir,
    names: &ObjectNames,
    rule: &Rule,
    ep: &Endpoint,
    side: Side,
    family: Family,
    sets: &mut Sets,
) -> Result<Option<String>, Box<Diagnostic>> {
    let full = match family {
        Family::V4 => ep.addrs.v4.is_full(),
        Family::V6 => ep.addrs.v6.is_full(),
    };
    if full {
        return Ok(None);
    }
    let (proto, ty, suffix) = match family {
        Family::V4 => ("ip", "ipv4_addr", "v4"),
        Family::V6 => ("ip6", "ipv6_addr", "v6"),
    };
    let field = match side {
        Side::Src => "saddr",
        Side::Dst => "daddr",
    };
    let elems = elements(&ep.addrs, family);
    // A side that is exactly one named object (with the same addresses):
    // a named set shared by every rule that uses the object.
    let object = ep
        .single_object()
        .and_then(|n| ir.objects.get(n))
        .filter(|o| o.addrs == ep.addrs);
    let name = if let Some(obj) = object {
        let name = format!("{}_{suffix}", names.object(&obj.name));
        let set = SetView {
            name: name.clone(),
            ty,
            comment: Some(comment_text(&match &obj.description {
                Some(d) => format!("{} {}: {d}", kind_word(obj.kind), obj.name),
                None => format!("{} {}", kind_word(obj.kind), obj.name),
            })),
            elements: elems,
        };
        sets.add(format!("object {}", obj.name), set, rule)?;
        name
    } else if elems.len() == 1 {
        return Ok(Some(format!("{proto} {field} {}", elems[0])));
    } else {
        let name = format!(
            "{}_{}_{suffix}",
            names.rule(&rule.name),
            match side {
                Side::Src => "src",
                Side::Dst => "dst",
            }
        );
        let set = SetView {
            name: name.clone(),
            ty,
            comment: Some(comment_text(&format!(
                "rule {} {}",
                rule.name,
                match side {
                    Side::Src => "from",
                    Side::Dst => "to",
                }
            ))),
            elements: elems,
        };
        sets.add(format!("rule {} {suffix}", rule.name), set, rule)?;
        name
    };
    Ok(Some(format!("{proto} {field} @{name}")))
}

/// The named sets of the table, by name, with the policy object (or rule
/// side) each one stands for.
#[derive(Default)]
struct Sets {
    by_name: BTreeMap<String, (String, SetView)>,
}

impl Sets {
    /// Adds a set, or reuses it for the same owner. Two owners whose names
    /// map to the same identifier would silently share one set: an error.
    fn add(&mut self, owner: String, set: SetView, rule: &Rule) -> Result<(), Box<Diagnostic>> {
        match self.by_name.get(&set.name) {
            Some((o, existing)) if *o == owner && *existing == set => Ok(()),
            Some((o, _)) => Err(Box::new(
                Diagnostic::error(
                    "nftables-name-clash",
                    format!(
                        "nftables set name `{}` would stand for both {o} and {owner}",
                        set.name
                    ),
                )
                .at(rule.span, "in this rule")
                .help("rename one of them"),
            )),
            None => {
                self.by_name.insert(set.name.clone(), (owner, set));
                Ok(())
            }
        }
    }
}

fn kind_word(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Zone => "zone",
        ObjectKind::Class => "class",
        ObjectKind::Group => "group",
        ObjectKind::Advisory => "advisory",
    }
}

/// `iifname`/`oifname` for an allow rule: the interfaces of every zone that
/// owns part of each side (in this family).
fn interface_matches(ir: &Ir, rule: &Rule, family: Family) -> Result<Vec<String>, Vec<Diagnostic>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (side, ep, keyword) in [
        (Side::Src, &rule.src, "iifname"),
        (Side::Dst, &rule.dst, "oifname"),
    ] {
        let mut ifaces = BTreeSet::new();
        for (zone, part) in ir.split_by_zone(&family_part(&ep.addrs, family)) {
            let what = if side == Side::Src {
                "source"
            } else {
                "destination"
            };
            let Some(zone) = zone else {
                errors.push(
                    Diagnostic::error(
                        "nftables-no-zone",
                        format!(
                            "rule `{}`: {what} addresses {part} belong to no zone, so no interface can be matched",
                            rule.name
                        ),
                    )
                    .at(rule.span, "in this rule")
                    .help("add a residual zone, or render without interface matching"),
                );
                continue;
            };
            match zone.bindings.get(TARGET) {
                Some(iface) if valid_ifname(iface) => {
                    ifaces.insert(iface.clone());
                }
                Some(iface) => errors.push(
                    Diagnostic::error(
                        "nftables-bad-interface",
                        format!(
                            "zone `{}`: `{iface}` is not a usable Linux interface name (1-15 of A-Z a-z 0-9 . _ - *)",
                            zone.name
                        ),
                    )
                    .at(zone.span, "zone declared here"),
                ),
                None => errors.push(
                    Diagnostic::error(
                        "nftables-no-interface",
                        format!(
                            "rule `{}` needs an nftables interface for zone `{}` (interface matching is on)",
                            rule.name, zone.name
                        ),
                    )
                    .at(rule.span, "in this rule")
                    .also(zone.span, "zone without `interface nftables=...`")
                    .help("add `interface nftables=\"IFNAME\"` to the zone, or render without interface matching"),
                ),
            }
        }
        let quoted: Vec<String> = ifaces.iter().map(|i| format!("\"{i}\"")).collect();
        match quoted.len() {
            0 => {}
            1 => out.push(format!("{keyword} {}", quoted[0])),
            _ => out.push(format!("{keyword} {{ {} }}", quoted.join(", "))),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_IFNAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'*'))
}

/// `a`, `a-b`, or `{ a, b-c }` for an interval set of numbers.
fn number_set<T: Copy + PartialEq + std::fmt::Display>(ranges: &[(T, T)]) -> String {
    let items: Vec<String> = ranges
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect();
    if items.len() == 1 {
        items[0].clone()
    } else {
        format!("{{ {} }}", items.join(", "))
    }
}

fn ports(proto: &str, set: &PortSet) -> String {
    if set.is_full() {
        format!("meta l4proto {proto}")
    } else {
        format!("{proto} dport {}", number_set(set.ranges()))
    }
}

/// The service matches of one rule in one family, each with its verdict.
/// An empty match string means "every protocol".
fn service_parts(set: &ServiceSet, family: Family, action: Action) -> Vec<(String, String)> {
    let verdict = |tcp_only: bool| -> String {
        match action {
            Action::Allow => "accept".into(),
            Action::Deny => "drop".into(),
            Action::Reject if tcp_only => "reject with tcp reset".into(),
            Action::Reject => "reject with icmpx admin-prohibited".into(),
        }
    };
    if set.any {
        return if action == Action::Reject {
            // A TCP reset where TCP can be refused, an ICMP error otherwise.
            vec![
                ("meta l4proto tcp".into(), verdict(true)),
                (String::new(), verdict(false)),
            ]
        } else {
            vec![(String::new(), verdict(false))]
        };
    }
    let mut out = Vec::new();
    if !set.tcp.is_empty() && set.tcp == set.udp && action != Action::Reject {
        let m = if set.tcp.is_full() {
            "meta l4proto { tcp, udp }".to_string()
        } else {
            format!(
                "meta l4proto {{ tcp, udp }} th dport {}",
                number_set(set.tcp.ranges())
            )
        };
        out.push((m, verdict(false)));
    } else {
        if !set.tcp.is_empty() {
            out.push((ports("tcp", &set.tcp), verdict(true)));
        }
        if !set.udp.is_empty() {
            out.push((ports("udp", &set.udp), verdict(false)));
        }
    }
    let (icmp, keyword, l4): (&ByteSet, &str, &str) = match family {
        Family::V4 => (&set.icmp4, "icmp type", "icmp"),
        Family::V6 => (&set.icmp6, "icmpv6 type", "ipv6-icmp"),
    };
    if !icmp.is_empty() {
        let m = if icmp.is_full() {
            format!("meta l4proto {l4}")
        } else {
            format!("{keyword} {}", number_set(icmp.ranges()))
        };
        out.push((m, verdict(false)));
    }
    if !set.protocols.is_empty() {
        out.push((
            format!("meta l4proto {}", number_set(set.protocols.ranges())),
            verdict(false),
        ));
    }
    out
}

/// Text from the policy, made safe for an nft double-quoted string (which
/// has no escapes): `"` becomes `'`, control characters become spaces, and
/// the result is cut to [`MAX_COMMENT`] bytes on a character boundary.
pub fn comment_text(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| match c {
            '"' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    truncate_bytes(&cleaned, MAX_COMMENT).to_string()
}

/// `wardwall <action> <rule>: `, within [`MAX_LOG_PREFIX`] bytes.
pub fn log_prefix(action: Action, rule: &str) -> String {
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
struct ObjectNames {
    objects: BTreeMap<String, String>,
    rules: BTreeMap<String, String>,
}

impl ObjectNames {
    fn new(ir: &Ir) -> Self {
        let objects = ir
            .objects
            .values()
            .map(|o| {
                let prefix = match o.kind {
                    ObjectKind::Zone => "z",
                    ObjectKind::Class => "c",
                    ObjectKind::Group => "g",
                    ObjectKind::Advisory => "a",
                };
                (o.name.clone(), format!("{prefix}_{}", ident(&o.name)))
            })
            .collect();
        let rules = ir
            .rules
            .iter()
            .map(|r| (r.name.clone(), format!("r_{}", ident(&r.name))))
            .collect();
        let mut names = Self { objects, rules };
        names.disambiguate();
        names
    }

    fn disambiguate(&mut self) {
        let mut count: BTreeMap<String, usize> = BTreeMap::new();
        for v in self.objects.values().chain(self.rules.values()) {
            *count.entry(v.clone()).or_default() += 1;
        }
        for map in [&mut self.objects, &mut self.rules] {
            for (orig, v) in map.iter_mut() {
                if count[v.as_str()] > 1 {
                    let _ = write!(v, "_{:08x}", fnv1a(orig.as_bytes()) as u32);
                }
            }
        }
    }

    fn object(&self, name: &str) -> &str {
        &self.objects[name]
    }

    fn rule(&self, name: &str) -> &str {
        &self.rules[name]
    }
}

fn ident(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// FNV-1a, 64 bit: a fixed, platform-independent hash for stable names.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(ident("ICU.monitors-2"), "icu_monitors_2");
        assert_eq!(file_stem("st-example general"), "st-example_general");
        assert_eq!(file_stem("../x"), "_x");
    }

    #[test]
    fn number_sets() {
        assert_eq!(number_set(&[(443u16, 443u16)]), "443");
        assert_eq!(number_set(&[(6661u16, 6670u16)]), "6661-6670");
        assert_eq!(number_set(&[(22u16, 22u16), (80, 81)]), "{ 22, 80-81 }");
    }

    #[test]
    fn tcp_and_udp_with_the_same_ports_share_one_line() {
        let set = ServiceSet {
            tcp: PortSet::single(53),
            udp: PortSet::single(53),
            ..ServiceSet::default()
        };
        let parts = service_parts(&set, Family::V4, Action::Allow);
        assert_eq!(
            parts,
            vec![(
                "meta l4proto { tcp, udp } th dport 53".to_string(),
                "accept".to_string()
            )]
        );
        // Reject needs a TCP reset for TCP, so the two stay apart.
        let parts = service_parts(&set, Family::V4, Action::Reject);
        assert_eq!(parts[0].1, "reject with tcp reset");
        assert_eq!(parts[1].1, "reject with icmpx admin-prohibited");
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

    #[test]
    fn stable_hash() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
