//! Drift on wardwall's own nftables output, edited the ways an operator
//! edits a ruleset file: random small policies ([`small_domain`]) rendered
//! by the registry's nftables renderer, then random edits of the rendered
//! *text* (a rule line inserted into the forward chain, a rule line
//! deleted, a verdict flipped, a second table whose forward chain drops),
//! read back with the registry's reader as deployed (`Reader::deployed`,
//! the `nft -f` script form) and compared with the policy
//! (`wardwall::diff::drift::compare`).
//!
//! Required: with no edit, no drift; with edits, for every representative
//! packet, the region the packet lies in is the one brute force gives
//! (`Device::decide` against `Ir::evaluate`). A handful of fixed cases are
//! also loaded into the kernel with `nft -f` and dumped (`nft list
//! ruleset`, `nft -j list ruleset`): drift on the dumps equals drift on the
//! edited text.

use proptest::prelude::*;

use crate::common::drift::union_of;
use crate::common::{self, privileged, privileged::Netns, probes::PROBE_DATE, small_domain};
use wardwall::addrset::AddrSet;
use wardwall::analysis::space::Space;
use wardwall::diff::drift::{Comparison, DriftKind, compare};
use wardwall::ir::{Action, Ir, Packet};
use wardwall::read::device::Device;
use wardwall::vocab::{Family, ServiceSet, Target};

/// The zones of the random policies: hosts 0-3 of the small domain behind
/// `lan0`, 4-7 behind `lan1`, everything else (host 100) behind `wan0`.
const ZONES: &str = r#"zone "low" {
    prefix "10.0.0.0/30" "fd00::/126"
    interface nftables="lan0"
}
zone "high" {
    prefix "10.0.0.4/30" "fd00::4/126"
    interface nftables="lan1"
}
zone "rest" {
    residual #true
    interface nftables="wan0"
}
"#;

/// The interfaces of [`ZONES`].
const PLACES: [&str; 3] = ["lan0", "lan1", "wan0"];

/// An address set as KDL endpoint arguments: `"any"`, or its CIDRs.
fn endpoints(set: &AddrSet) -> String {
    if set.is_any() {
        return "\"any\"".to_string();
    }
    [Family::V4, Family::V6]
        .into_iter()
        .flat_map(|f| set.cidrs_of(f).collect::<Vec<_>>())
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A service's KDL lines; `None` for a service that matches nothing
/// (which a policy cannot declare).
fn service_lines(set: &ServiceSet) -> Option<Vec<String>> {
    let numbers = |ranges: &[(u16, u16)]| {
        ranges
            .iter()
            .flat_map(|&(a, b)| a..=b)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let bytes = |ranges: &[(u8, u8)]| {
        ranges
            .iter()
            .flat_map(|&(a, b)| a..=b)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = Vec::new();
    if !set.tcp.is_empty() {
        out.push(format!("tcp {}", numbers(set.tcp.ranges())));
    }
    if !set.udp.is_empty() {
        out.push(format!("udp {}", numbers(set.udp.ranges())));
    }
    if !set.icmp4.is_empty() {
        out.push(format!("icmpv4 {}", bytes(set.icmp4.ranges())));
    }
    if !set.icmp6.is_empty() {
        out.push(format!("icmpv6 {}", bytes(set.icmp6.ranges())));
    }
    if !set.protocols.is_empty() {
        out.push(format!("protocol {}", bytes(set.protocols.ranges())));
    }
    (!out.is_empty()).then_some(out)
}

/// A small policy in KDL from random rules of the small domain (a rule
/// that matches nothing is left out), over [`ZONES`].
fn policy_text(rules: &[small_domain::RuleSpec]) -> String {
    policy_text_over(ZONES, rules)
}

/// [`policy_text`] over other zones.
fn policy_text_over(zones: &str, rules: &[small_domain::RuleSpec]) -> String {
    let mut services = String::new();
    let mut body = String::new();
    for (i, (action, log, src, dst, service)) in rules.iter().enumerate() {
        // A rule that can match nothing (families that never meet) is an
        // error of the policy.
        if Space::from_parts(src, dst, service).is_empty() {
            continue;
        }
        let svc = if service.any {
            "any".to_string()
        } else {
            let Some(lines) = service_lines(service) else {
                continue;
            };
            services.push_str(&format!("service \"s{i}\" {{\n"));
            for l in lines {
                services.push_str(&format!("    {l}\n"));
            }
            services.push_str("}\n");
            format!("s{i}")
        };
        let verb = match action {
            Action::Allow => "allow",
            Action::Deny => "deny",
            Action::Reject => "reject",
        };
        body.push_str(&format!(
            "    {verb} \"r{i}\" {{\n        from {}\n        to {}\n        service \"{svc}\"\n{}    }}\n",
            endpoints(src),
            endpoints(dst),
            if *log { "        log #true\n" } else { "" },
        ));
    }
    if body.is_empty() {
        // A policy needs a rule; this one says what the default says.
        body.push_str("    deny \"r-none\" {\n        from \"any\"\n        to \"any\"\n        service \"any\"\n    }\n");
    }
    format!("{zones}{services}rules {{\n{body}}}\n")
}

fn ir_of(rules: &[small_domain::RuleSpec]) -> Ir {
    let text = policy_text(rules);
    common::compile_text_ok("random.kdl", &text, PROBE_DATE)
}

/// The policy's nftables file, as the registry renders it.
fn rendered(ir: &Ir) -> String {
    let (file, _) = common::readable(ir, Target::Nftables);
    file.contents
}

/// Where a packet from or to `addr` enters or leaves: its zone's
/// interface (every address is in a zone: one is residual).
fn place(ir: &Ir, addr: std::net::IpAddr) -> Option<&str> {
    ir.zone_of(addr)
        .and_then(|z| z.bindings.get("nftables"))
        .map(String::as_str)
}

/// The edited file as the reader reads a deployed script.
fn deployed(ir: &Ir, text: &str) -> Device {
    wardwall::registry::reader(Target::Nftables)
        .deployed(ir, text, None)
        .unwrap_or_else(|e| panic!("the edited ruleset cannot be read: {e}\n{text}"))
}

/// A rule line to insert: the interfaces it enters and leaves by (one of
/// [`PLACES`], or any), family (IPv6 when true), source and destination
/// host ranges of the small domain, protocol (UDP when true), port,
/// verdict (accept when true).
#[derive(Clone, Debug)]
struct Line {
    iif: Option<usize>,
    oif: Option<usize>,
    v6: bool,
    src: (u8, u8),
    dst: (u8, u8),
    udp: bool,
    port: u16,
    accept: bool,
}

impl Line {
    fn text(&self) -> String {
        let host = |i: u8| {
            if self.v6 {
                small_domain::v6(i)
            } else {
                small_domain::v4(i)
            }
        };
        let range = |(a, b): (u8, u8)| {
            let (lo, hi) = (a.min(b), a.max(b));
            if lo == hi {
                host(lo).to_string()
            } else {
                format!("{}-{}", host(lo), host(hi))
            }
        };
        let place = |key: &str, at: Option<usize>| {
            at.map(|i| format!("{key} \"{}\" ", PLACES[i % PLACES.len()]))
                .unwrap_or_default()
        };
        format!(
            "{}{}{fam} saddr {} {fam} daddr {} {} dport {} {}",
            place("iifname", self.iif),
            place("oifname", self.oif),
            range(self.src),
            range(self.dst),
            if self.udp { "udp" } else { "tcp" },
            self.port,
            if self.accept { "accept" } else { "drop" },
            fam = if self.v6 { "ip6" } else { "ip" },
        )
    }
}

/// One edit of the rendered text.
#[derive(Clone, Debug)]
enum Edit {
    /// Insert the line before the `at`-th line of the forward chain's body
    /// (modulo its length + 1).
    Insert(usize, Line),
    /// Delete the `at`-th rule line.
    Delete(usize),
    /// Flip the verdict of the `at`-th rule line that has one ([`flipped`]).
    Flip(usize),
    /// A second table, `inet extra`, whose forward chain (priority
    /// `filter + 10`, policy accept) has this rule (`fwd` is a keyword of
    /// nft's: not a chain name).
    SecondTable(Line),
}

/// The forward chain of the rendered text: (first body line, end line)
/// as line indices (the body is `first..end`, `end` the closing brace).
fn forward_body(lines: &[String]) -> (usize, usize) {
    let header = lines
        .iter()
        .position(|l| l.contains("type filter hook forward"))
        .expect("a forward chain");
    let end = header
        + lines[header..]
            .iter()
            .position(|l| l.trim() == "}")
            .expect("the chain ends");
    (header + 1, end)
}

/// The rule lines of the forward chain (not blank, not a comment).
fn rule_lines(lines: &[String]) -> Vec<usize> {
    let (first, end) = forward_body(lines);
    (first..end)
        .filter(|&i| {
            let t = lines[i].trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .collect()
}

/// The verdict of a rule line flipped (`accept` to `drop`, `drop` and
/// `reject ...` to `accept`), if it ends in one (before its comment).
fn flipped(line: &str) -> Option<String> {
    let (head, tail) = match line.find(" comment \"") {
        Some(at) => line.split_at(at),
        None => (line, ""),
    };
    let head = if let Some(h) = head.strip_suffix(" accept") {
        format!("{h} drop")
    } else if let Some(h) = head
        .strip_suffix(" drop")
        .or_else(|| head.strip_suffix(" reject with tcp reset"))
        .or_else(|| head.strip_suffix(" reject with icmpx admin-prohibited"))
    {
        format!("{h} accept")
    } else {
        return None;
    };
    Some(format!("{head}{tail}"))
}

/// The index among [`rule_lines`] of the one line holding `marker`.
fn rule_index(text: &str, marker: &str) -> usize {
    let lines: Vec<String> = text.lines().map(String::from).collect();
    let found: Vec<usize> = rule_lines(&lines)
        .into_iter()
        .enumerate()
        .filter(|(_, i)| lines[*i].contains(marker))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(found.len(), 1, "`{marker}`:\n{text}");
    found[0]
}

/// The index among the flippable rule lines of the first holding `marker`.
fn flip_index(text: &str, marker: &str) -> usize {
    let lines: Vec<String> = text.lines().map(String::from).collect();
    rule_lines(&lines)
        .into_iter()
        .filter(|&i| flipped(&lines[i]).is_some())
        .position(|i| lines[i].contains(marker))
        .unwrap_or_else(|| panic!("no flippable `{marker}`:\n{text}"))
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    match edit {
        Edit::Insert(at, line) => {
            let (first, end) = forward_body(&lines);
            let at = first + at % (end - first + 1);
            lines.insert(at, format!("        {}", line.text()));
        }
        Edit::Delete(at) => {
            let rules = rule_lines(&lines);
            if !rules.is_empty() {
                lines.remove(rules[at % rules.len()]);
            }
        }
        Edit::Flip(at) => {
            let flippable: Vec<usize> = rule_lines(&lines)
                .into_iter()
                .filter(|&i| flipped(&lines[i]).is_some())
                .collect();
            if !flippable.is_empty() {
                let i = flippable[at % flippable.len()];
                lines[i] = flipped(&lines[i]).unwrap();
            }
        }
        Edit::SecondTable(line) => {
            lines.extend([
                "table inet extra {".to_string(),
                "    chain extra_forward {".to_string(),
                "        type filter hook forward priority filter + 10; policy accept;".to_string(),
                format!("        {}", line.text()),
                "    }".to_string(),
                "}".to_string(),
            ]);
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn arb_line() -> impl Strategy<Value = Line> {
    (
        prop::option::of(0usize..3),
        prop::option::of(0usize..3),
        prop::bool::ANY,
        (0u8..8, 0u8..8),
        (0u8..8, 0u8..8),
        prop::bool::ANY,
        1u16..=5,
        prop::bool::ANY,
    )
        .prop_map(|(iif, oif, v6, src, dst, udp, port, accept)| Line {
            iif,
            oif,
            v6,
            src,
            dst,
            udp,
            port,
            accept,
        })
}

fn arb_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (0usize..40, arb_line()).prop_map(|(a, l)| Edit::Insert(a, l)),
        2 => (0usize..40).prop_map(Edit::Delete),
        2 => (0usize..40).prop_map(Edit::Flip),
        1 => arb_line().prop_map(Edit::SecondTable),
    ]
}

/// The kind of the region `p` lies in (regions are disjoint).
fn kind_at(c: &Comparison, p: &Packet) -> Option<DriftKind> {
    let found: Vec<DriftKind> = c
        .regions
        .iter()
        .filter(|r| r.space.contains(p))
        .map(|r| r.kind)
        .collect();
    assert!(found.len() <= 1, "regions overlap at {p}: {found:?}");
    found.first().copied()
}

/// Every packet: the region it lies in is brute force's difference, with
/// the zones' interfaces as the packet's places; the edits make nothing
/// undecidable.
fn holds_to_brute_force(ir: &Ir, d: &Device, c: &Comparison, text: &str) {
    for p in small_domain::packets() {
        let o = d.decide(&p, place(ir, p.src), place(ir, p.dst));
        assert!(o.undecided.is_empty(), "{p}: {:?}\n{text}", o.undecided);
        let (dev, policy) = (o.action.permits(), ir.evaluate(&p).action.permits());
        let want = match (dev, policy) {
            (true, false) => Some(DriftKind::Exposure),
            (false, true) => Some(DriftKind::Breakage),
            _ => None,
        };
        assert_eq!(
            kind_at(c, &p),
            want,
            "{p}: device {dev} by {:?}, policy {policy}\n{text}",
            o.steps.last().map(|s| &s.1.origin.text)
        );
    }
}

proptest! {
    #![proptest_config(common::proptest_config(128))]

    /// Random policies rendered, their text edited at random: drift on the
    /// edited text is brute force's difference, and nothing unedited.
    #[test]
    fn drift_on_edited_rendered_text_is_the_brute_force_difference(
        rules in prop::collection::vec(small_domain::arb_rule(), 0..5),
        edits in prop::collection::vec(arb_edit(), 0..3),
    ) {
        let ir = ir_of(&rules);
        let text = rendered(&ir);
        if edits.is_empty() {
            let c = compare(&ir, &deployed(&ir, &text));
            prop_assert!(c.regions.is_empty(), "{:?}\n{text}", c.regions.iter().map(|r| (r.kind, r.space.sample())).collect::<Vec<_>>());
        }
        let edited = edits.iter().fold(text, |t, e| apply(&t, e));
        let d = deployed(&ir, &edited);
        let c = compare(&ir, &d);
        holds_to_brute_force(&ir, &d, &c, &edited);
    }
}

/// [`ZONES`] bound on every target.
const ZONES_EVERYWHERE: &str = r#"zone "low" {
    prefix "10.0.0.0/30" "fd00::/126"
    interface nftables="lan0" pfsense="lan" cisco="Vlan10" panos="low"
}
zone "high" {
    prefix "10.0.0.4/30" "fd00::4/126"
    interface nftables="lan1" pfsense="opt1" cisco="Vlan20" panos="high"
}
zone "rest" {
    residual #true
    interface nftables="wan0" pfsense="wan" cisco="Vlan30" panos="rest"
}
"#;

/// An edit of a device read from a rendering: an entry inserted (before
/// entry `at` of filter `filter`, of layer 0), an entry deleted, a verdict
/// flipped.
#[derive(Clone, Debug)]
enum ModelEdit {
    Insert(usize, usize, Box<small_domain::RuleSpec>),
    Delete(usize, usize),
    Flip(usize, usize),
}

fn apply_to_model(device: &mut Device, edit: &ModelEdit) {
    let filters = &mut device.layers[0].filters;
    let (ModelEdit::Insert(f, ..) | ModelEdit::Delete(f, _) | ModelEdit::Flip(f, _)) = edit;
    let n = filters.len();
    let filter = &mut filters[f % n];
    let entries = &mut filter.entries;
    let len = entries.len();
    match edit {
        ModelEdit::Insert(_, at, spec) => {
            let (action, _, src, dst, service) = spec.as_ref();
            let mut decision = filter.default.clone();
            decision.action = *action;
            decision.origin.text = "edited".into();
            let entry = wardwall::read::device::Entry {
                guard: wardwall::read::device::Guard::any(),
                src: src.clone(),
                dst: dst.clone(),
                service: service.clone(),
                decision,
                undecidable: None,
            };
            entries.insert(at % (len + 1), entry);
        }
        ModelEdit::Delete(_, at) if len > 0 => {
            entries.remove(at % len);
        }
        ModelEdit::Flip(_, at) if len > 0 => {
            let d = &mut entries[at % len].decision;
            d.action = if d.action.permits() {
                Action::Deny
            } else {
                Action::Allow
            };
        }
        _ => {}
    }
}

fn arb_model_edit() -> impl Strategy<Value = ModelEdit> {
    prop_oneof![
        2 => (0usize..8, 0usize..12, small_domain::arb_rule())
            .prop_map(|(f, a, r)| ModelEdit::Insert(f, a, Box::new(r))),
        1 => (0usize..8, 0usize..12).prop_map(|(f, a)| ModelEdit::Delete(f, a)),
        1 => (0usize..8, 0usize..12).prop_map(|(f, a)| ModelEdit::Flip(f, a)),
    ]
}

/// A random rule whose service every target can express: TCP and UDP
/// ports and ICMP echo requests only (PAN-OS and pfSense refuse most ICMP
/// types and protocols), and `any` only to deny. An allowed echo request
/// makes a stateless target's return entry (echo replies the other way)
/// differ from the policy.
fn arb_portable_rule() -> impl Strategy<Value = small_domain::RuleSpec> {
    small_domain::arb_rule().prop_map(|(action, log, src, dst, service)| {
        let echo = wardwall::addrset::IntervalSet::single(8);
        let ports = ServiceSet {
            tcp: service.tcp,
            udp: service.udp,
            icmp4: service.icmp4.intersection(&echo),
            ..ServiceSet::default()
        };
        let nothing = ports.tcp.is_empty() && ports.udp.is_empty() && ports.icmp4.is_empty();
        let service = match (service.any || nothing, action) {
            (false, _) => ports,
            // Cisco refuses to allow every protocol (it cannot return the
            // replies statelessly).
            (true, Action::Allow) => ServiceSet {
                tcp: wardwall::addrset::IntervalSet::single(1),
                ..ServiceSet::default()
            },
            (true, _) => ServiceSet::any(),
        };
        (action, log, src, dst, service)
    })
}

proptest! {
    #![proptest_config(common::proptest_config(96))]

    /// On every target (nftables also address-only), random policies
    /// rendered and read back, the device edited at random: what `drift` sets apart as inherent, rendering
    /// only the rules near the drift, is what the whole rendering sets
    /// apart, kind by kind (the rules left out cannot decide there).
    #[test]
    fn the_rendering_of_the_rules_near_the_drift_sets_apart_what_the_whole_does(
        rules in prop::collection::vec(arb_portable_rule(), 0..5),
        edits in prop::collection::vec(arb_model_edit(), 0..3),
    ) {
        let text = policy_text_over(ZONES_EVERYWHERE, &rules);
        let ir = common::compile_text_ok("random.kdl", &text, PROBE_DATE);
        // Every target as `build` renders it, and nftables without its
        // interface guards too (`--nft-address-only`).
        let address_only = wardwall::registry::TargetOptions { nft_address_only: true };
        let renderings = Target::ALL
            .map(|t| (t, wardwall::registry::TargetOptions::default()))
            .into_iter()
            .chain([(Target::Nftables, address_only)]);
        for (target, options) in renderings {
            let whole = wardwall::diff::drift::own_rendering(&ir, target, &options, None)
                .unwrap_or_else(|e| panic!("{target}: {e}\n{text}"));
            let mut device = whole.clone();
            for e in &edits {
                apply_to_model(&mut device, e);
            }
            let drifted = compare(&ir, &device);
            let reference = drifted.clone().beyond(&compare(&ir, &whole));
            let mut near = drifted;
            near.set_apart_inherent(&ir, target, &options, None)
                .unwrap_or_else(|e| panic!("{target}: {e}\n{text}"));
            for kind in [DriftKind::Exposure, DriftKind::Breakage, DriftKind::Undecidable] {
                for (what, a, b) in [
                    ("drift", &near.regions, &reference.regions),
                    ("inherent", &near.inherent, &reference.inherent),
                ] {
                    prop_assert!(
                        union_of(a, kind).same_as(&union_of(b, kind)),
                        "{target}: {what} {kind:?} differs\n{text}"
                    );
                }
            }
        }
    }
}

/// A stateless target answers an allowed echo request with a return entry
/// the other way round, between addresses no rule matches in that
/// direction: the rule that makes it must be rendered for the baseline,
/// or the replies it lets through would count as drift.
#[test]
fn a_return_entry_is_inherent_though_its_rule_meets_the_replies_only_reversed() {
    let text = format!(
        "{ZONES_EVERYWHERE}service \"echo\" {{\n    icmpv4 8\n}}\nrules {{\n    allow \"ping\" {{\n        from \"10.0.0.1/32\"\n        to \"10.0.0.5/32\"\n        service \"echo\"\n    }}\n}}\n"
    );
    let ir = common::compile_text_ok("ping.kdl", &text, PROBE_DATE);
    let options = wardwall::registry::TargetOptions::default();
    let whole = wardwall::diff::drift::own_rendering(&ir, Target::Cisco, &options, None)
        .expect("the policy renders for Cisco");
    let mut comparison = compare(&ir, &whole);
    let reply = Packet::parse("10.0.0.5", "10.0.0.1", "icmp/echo-reply").unwrap();
    assert!(
        comparison.regions.iter().any(|r| r.space.contains(&reply)),
        "the echo reply entry differs from the policy"
    );
    comparison
        .set_apart_inherent(&ir, Target::Cisco, &options, None)
        .expect("the baseline renders");
    assert!(comparison.regions.is_empty(), "{:?}", comparison.regions);
    assert!(comparison.inherent.iter().any(|r| r.space.contains(&reply)));
}

// ------------------------------------------------------------ the kernel

fn of_kind(c: &Comparison, kind: DriftKind) -> Space {
    c.regions
        .iter()
        .filter(|r| r.kind == kind)
        .fold(Space::empty(), |acc, r| acc.union(&r.space))
}

fn same_drift(a: &Comparison, b: &Comparison) -> bool {
    [
        DriftKind::Exposure,
        DriftKind::Breakage,
        DriftKind::Undecidable,
    ]
    .into_iter()
    .all(|k| of_kind(a, k).same_as(&of_kind(b, k)))
}

fn nft(ns: &Netns, args: &[&str]) -> String {
    let out = ns.exec("nft", args);
    assert!(
        out.status.success(),
        "nft {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("nft prints UTF-8")
}

/// Fixed policies and edits: the edited file loaded with `nft -f` and
/// dumped by the kernel drifts exactly as the edited text does, and
/// differently from the unedited policy.
#[test]
fn drift_on_the_kernels_dump_equals_drift_on_the_edited_text() {
    if !privileged::can_run("drift on edited rulesets dumped by the kernel") {
        return;
    }
    use small_domain::{v4, v6};
    use wardwall::addrset::IntervalSet;
    let tcp = |p: u16| ServiceSet {
        tcp: IntervalSet::single(p),
        ..ServiceSet::default()
    };
    let rules = vec![
        (
            Action::Deny,
            true,
            AddrSet::any(),
            AddrSet::from_range(v4(5), v4(7)),
            ServiceSet::any(),
        ),
        (
            Action::Allow,
            false,
            AddrSet::from_range(v4(0), v4(3)),
            AddrSet::from_range(v4(0), v4(7)),
            tcp(2),
        ),
        (
            Action::Allow,
            false,
            AddrSet::from_range(v6(1), v6(2)),
            AddrSet::any(),
            tcp(3),
        ),
        (
            Action::Reject,
            false,
            AddrSet::from_range(v4(4), v4(4)),
            AddrSet::any(),
            ServiceSet::any(),
        ),
    ];
    let ir = ir_of(&rules);
    let text = rendered(&ir);
    let line = |v6, src, dst, udp, port, accept| Line {
        iif: None,
        oif: None,
        v6,
        src,
        dst,
        udp,
        port,
        accept,
    };
    let cases: Vec<Vec<Edit>> = vec![
        vec![Edit::Insert(0, line(false, (0, 7), (5, 6), false, 2, true))],
        vec![Edit::Insert(
            9,
            Line {
                iif: Some(0),
                oif: Some(1),
                ..line(true, (0, 7), (0, 7), true, 4, true)
            },
        )],
        vec![Edit::Delete(rule_index(&text, "comment \"r1\""))],
        vec![Edit::Flip(flip_index(&text, "comment \"r2\""))],
        vec![Edit::SecondTable(line(
            true,
            (1, 1),
            (0, 7),
            false,
            3,
            false,
        ))],
        vec![
            Edit::Insert(6, line(false, (4, 4), (1, 1), true, 1, true)),
            Edit::Flip(flip_index(&text, "comment \"r0\"")),
            Edit::SecondTable(line(false, (0, 1), (2, 2), false, 2, false)),
        ],
    ];
    let ns = Netns::new("drr");
    let dir = tempfile::tempdir().unwrap();
    for edits in cases {
        let edited = edits.iter().fold(text.clone(), |t, e| apply(&t, e));
        let on_text = compare(&ir, &deployed(&ir, &edited));
        assert!(!on_text.regions.is_empty(), "{edits:?} drifts\n{edited}");
        nft(&ns, &["flush", "ruleset"]);
        let file = dir.path().join("edited.nft");
        std::fs::write(&file, &edited).unwrap();
        nft(&ns, &["-f", &file.to_string_lossy()]);
        for form in [&["list", "ruleset"][..], &["-j", "list", "ruleset"]] {
            let dumped = nft(&ns, form);
            let d = wardwall::registry::reader(Target::Nftables)
                .device(&dumped)
                .unwrap_or_else(|e| panic!("{form:?}: {e}\n{dumped}"));
            let on_dump = compare(&ir, &d);
            assert!(
                same_drift(&on_text, &on_dump),
                "{edits:?} {form:?}:\n{edited}\n{dumped}"
            );
            holds_to_brute_force(&ir, &d, &on_dump, &dumped);
        }
    }
}
