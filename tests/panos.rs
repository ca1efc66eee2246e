//! The PAN-OS target, proven by parsers rather than by reading:
//!
//! * snapshots of both forms (hospital policy and focused policies);
//! * the XML is loaded by pan-os-python (`tests/panos/parse_xml.py`), and the
//!   parsed rule base is evaluated first-match by the library's evaluator
//!   (`wardwall::read::panos`: zones from addresses, groups
//!   resolved, services and applications, PAN-OS's built-in intrazone allow
//!   / interzone deny after the last rule) against the IR evaluator for
//!   every hospital probe and for seeded random packets;
//! * the library's own XML reader (behind `explain --target panos`) must
//!   read the same rule base as pan-os-python;
//! * the `set` form is read by a strict parser of the subset wardwall emits
//!   and must describe the same rule base as the XML;
//! * descriptions full of quoting and injection attempts change no rule and
//!   no object;
//! * what PAN-OS cannot express is an error at the rule.

use crate::common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::edge_packets::edge_packets;
use common::probes::{HOSPITAL_PROBES, PROBE_DATE};
use wardwall::ir::{Action, Ir, Packet};
use wardwall::read::panos::{
    self as readback, PanVerdict, Parsed, ParsedAddress, ParsedGroup, ParsedRule, ParsedService,
};
use wardwall::render::panos::{self, DEFAULT_RULE, PanosRenderer};
use wardwall::render::{Renderer, Templates};

// ------------------------------------------------------------------ helpers

fn compile(path: &Path) -> Ir {
    common::compile_ok(path, PROBE_DATE)
}

fn compile_text(kdl: &str) -> Ir {
    common::compile_text_ok("policy.kdl", kdl, PROBE_DATE)
}

/// (set form, XML form)
fn render(ir: &Ir) -> (String, String) {
    let files = PanosRenderer
        .render(ir, &Templates::default())
        .unwrap_or_else(|d| panic!("render failed: {d:#?}"));
    assert_eq!(files.len(), 2);
    assert_eq!(
        files[0].path,
        PathBuf::from(format!("panos/{}.set", ir.name))
    );
    assert_eq!(
        files[1].path,
        PathBuf::from(format!("panos/{}.xml", ir.name))
    );
    (files[0].contents.clone(), files[1].contents.clone())
}

fn render_errors(kdl: &str) -> Vec<wardwall::diagnostics::Diagnostic> {
    let ir = compile_text(kdl);
    match PanosRenderer.render(&ir, &Templates::default()) {
        Ok(_) => panic!("expected the PAN-OS renderer to refuse the policy"),
        Err(d) => d,
    }
}

// ------------------------------------------------------------ parsed model

// The rule base model and the first-match evaluator are the library's
// (`wardwall::read::panos`, also behind `explain --target
// panos`); pan-os-python and the `set` reader below fill the same model
// independently, and the library's own XML reader must read the same.

// ------------------------------------------------------------ pan-os-python

/// The Python interpreter with pan-os-python, or `None` (with a message)
/// when it is missing; a missing one fails the test in CI.
fn python() -> Option<PathBuf> {
    common::skip::python_with(
        &["WARDWALL_PYTHON"],
        "panos.firewall",
        "pan-os-python==1.13.1",
    )
}

fn parse_xml(python: &Path, xml: &str) -> Parsed {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.xml");
    std::fs::write(&path, xml).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/panos/parse_xml.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(&path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "parse_xml.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("parse_xml.py prints the parsed config")
}

// ------------------------------------------------------------ set parser

/// Splits one `set` line into words: `"…"` is one word (no escapes: the
/// renderer never writes `"` or `\` inside quotes, and a stray one is an
/// error here), `[` and `]` are words of their own.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut w = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => panic!("backslash inside a quoted word: {line}"),
                    Some(c) => w.push(c),
                    None => panic!("unterminated quote: {line}"),
                }
            }
            assert!(
                matches!(chars.peek(), None | Some(' ')),
                "text glued to a quoted word: {line}"
            );
            out.push(format!("\"{w}"));
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                assert!(c != '"', "quote inside a bare word: {line}");
                w.push(c);
                chars.next();
            }
            out.push(w);
        }
    }
    out
}

/// A bare name: the subset of characters wardwall writes unquoted.
fn bare(w: &str) -> String {
    assert!(
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/:".contains(c)),
        "not a bare word: {w:?}"
    );
    w.to_string()
}

fn quoted(w: &str) -> String {
    w.strip_prefix('"')
        .unwrap_or_else(|| panic!("expected a quoted string, got {w:?}"))
        .to_string()
}

/// A value or `[ a b … ]` list starting at `ws[*i]`.
fn list(ws: &[String], i: &mut usize) -> Vec<String> {
    if ws[*i] == "[" {
        *i += 1;
        let mut out = Vec::new();
        while ws[*i] != "]" {
            out.push(bare(&ws[*i]));
            *i += 1;
        }
        *i += 1;
        assert!(!out.is_empty(), "empty list");
        out
    } else {
        let v = bare(&ws[*i]);
        *i += 1;
        vec![v]
    }
}

fn yes_no(w: &str) -> bool {
    match w {
        "yes" => true,
        "no" => false,
        other => panic!("expected yes/no, got {other:?}"),
    }
}

/// A strict reader of the `set` subset the PAN-OS renderer emits. Rule order
/// follows PAN-OS semantics: a new rule is appended, `move … bottom` moves a
/// rule to the end. Anything else is a test failure.
fn parse_set(text: &str) -> Parsed {
    let mut p = Parsed::default();
    let mut rules: Vec<ParsedRule> = Vec::new();
    for line in text.lines() {
        let ws = words(line);
        let w: Vec<&str> = ws.iter().map(String::as_str).collect();
        match w.as_slice() {
            ["set", "address", name, "ip-netmask", value] => {
                let value = bare(value);
                let prev = p.addresses.insert(
                    bare(name),
                    ParsedAddress {
                        kind: "ip-netmask".into(),
                        value,
                    },
                );
                assert!(prev.is_none(), "address {name} set twice");
            }
            ["set", "address-group", name, "static", ..] => {
                let mut i = 4;
                let members = list(&ws, &mut i);
                assert_eq!(i, ws.len(), "trailing words: {line}");
                let prev = p.groups.insert(
                    bare(name),
                    ParsedGroup {
                        members,
                        description: None,
                    },
                );
                assert!(prev.is_none(), "group {name} set twice");
            }
            ["set", "address-group", name, "description", d] => {
                let g = p
                    .groups
                    .get_mut(*name)
                    .expect("description of a known group");
                assert!(g.description.is_none());
                g.description = Some(quoted(d));
            }
            [
                "set",
                "service",
                name,
                "protocol",
                proto @ ("tcp" | "udp"),
                "port",
                port,
            ] => {
                let prev = p.services.insert(
                    bare(name),
                    ParsedService {
                        protocol: proto.to_string(),
                        port: bare(port),
                    },
                );
                assert!(prev.is_none(), "service {name} set twice");
            }
            [
                "set",
                "rulebase",
                "security",
                "rules",
                name,
                "description",
                d,
            ] => {
                let r = rules
                    .iter_mut()
                    .find(|r| r.name == *name)
                    .expect("description of a known rule");
                assert!(r.description.is_none());
                r.description = Some(quoted(d));
            }
            ["set", "rulebase", "security", "rules", name, ..] => {
                let name = bare(name);
                assert!(
                    !rules.iter().any(|r| r.name == name),
                    "rule {name} set twice"
                );
                let mut r = ParsedRule {
                    name,
                    ..Default::default()
                };
                let mut i = 5;
                let mut seen = std::collections::BTreeSet::new();
                while i < ws.len() {
                    let key = ws[i].clone();
                    assert!(seen.insert(key.clone()), "{key} twice: {line}");
                    i += 1;
                    match key.as_str() {
                        "from" => r.from = list(&ws, &mut i),
                        "to" => r.to = list(&ws, &mut i),
                        "source" => r.source = list(&ws, &mut i),
                        "destination" => r.destination = list(&ws, &mut i),
                        "source-user" => r.source_user = list(&ws, &mut i),
                        "category" => r.category = list(&ws, &mut i),
                        "application" => r.application = list(&ws, &mut i),
                        "service" => r.service = list(&ws, &mut i),
                        _ => {
                            let v = ws[i].clone();
                            i += 1;
                            match key.as_str() {
                                "action" => r.action = bare(&v),
                                "icmp-unreachable" => r.icmp_unreachable = Some(yes_no(&v)),
                                "log-start" => r.log_start = Some(yes_no(&v)),
                                "log-end" => r.log_end = Some(yes_no(&v)),
                                "rule-type" => r.rule_type = Some(bare(&v)),
                                "negate-source" => r.negate_source = Some(yes_no(&v)),
                                "negate-destination" => r.negate_destination = Some(yes_no(&v)),
                                "disabled" => r.disabled = Some(yes_no(&v)),
                                other => panic!("unknown rule keyword {other:?}: {line}"),
                            }
                        }
                    }
                }
                rules.push(r);
            }
            ["move", "rulebase", "security", "rules", name, "bottom"] => {
                let pos = rules
                    .iter()
                    .position(|r| r.name == *name)
                    .expect("move of a known rule");
                let r = rules.remove(pos);
                rules.push(r);
            }
            _ => panic!("line outside the emitted subset: {line:?}"),
        }
    }
    p.rules = rules;
    p
}

// ------------------------------------------------------------ evaluator

/// The library's evaluator, with the PAN-OS zones of the packet's addresses
/// from the policy's panos bindings.
fn pan_evaluate(p: &Parsed, ir: &Ir, packet: &Packet) -> PanVerdict {
    let zone = |a: IpAddr| -> String {
        let z = ir.zone_of(a).expect("every address has a zone here");
        z.bindings
            .get("panos")
            .unwrap_or_else(|| panic!("zone {} has no panos binding", z.name))
            .clone()
    };
    readback::evaluate(p, &zone(packet.src), &zone(packet.dst), packet)
        .unwrap_or_else(|e| panic!("{packet}: {e}"))
}

/// The library's XML reader reads `xml` as pan-os-python does.
fn assert_readers_agree(py_parsed: &Parsed, xml: &str) {
    let ours = readback::parse_xml(xml).unwrap_or_else(|e| panic!("the Rust reader refuses: {e}"));
    assert_eq!(&ours, py_parsed, "the Rust reader and pan-os-python differ");
}

/// Compares the PAN-OS verdict with the IR's for every packet; returns the
/// mismatches.
fn compare(p: &Parsed, ir: &Ir, packets: &[(String, Packet)]) -> Vec<String> {
    let view = panos::build(ir).expect("renders");
    let ir_name: BTreeMap<String, String> = view
        .rules
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                r.ir_rule.clone().unwrap_or_else(|| "default".into()),
            )
        })
        .collect();
    let mut failures = Vec::new();
    for (what, packet) in packets {
        let want = ir.evaluate(packet);
        let want_rule = ir.verdict_rule_name(&want);
        let got = pan_evaluate(p, ir, packet);
        let got_rule = ir_name
            .get(&got.rule)
            .map_or(got.rule.as_str(), String::as_str);
        if (got.action, got.log, got_rule) != (want.action, want.log, want_rule) {
            failures.push(format!(
                "{what}: {packet}: IR {} (log {}) by `{want_rule}`, PAN-OS {} (log {}) by `{}`",
                want.action, want.log, got.action, got.log, got.rule
            ));
        }
    }
    failures
}

// ------------------------------------------------------------ random packets

/// Seeded packets around every edge of the policy (see
/// `common::edge_packets`), labelled for failure messages.
fn random_packets(ir: &Ir, seed: u64, count: usize) -> Vec<(String, Packet)> {
    edge_packets(ir, seed, count)
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("random #{i}"), p))
        .collect()
}

fn probe_packets() -> Vec<(String, Packet)> {
    HOSPITAL_PROBES
        .iter()
        .map(|p| {
            (
                p.what.to_string(),
                Packet::parse(p.src, p.dst, p.proto).unwrap(),
            )
        })
        .collect()
}

fn hospital() -> Ir {
    compile(common::hospital())
}

fn families() -> Ir {
    compile(Path::new("tests/policies/panos-families.kdl"))
}

// ------------------------------------------------------------ snapshots

fn snapshot(name: &str, ir: &Ir) {
    let (set, xml) = render(ir);
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(format!("panos-{name}.set"), set);
        insta::assert_snapshot!(format!("panos-{name}.xml"), xml);
    });
}

#[test]
fn snapshot_hospital() {
    snapshot("hospital", &hospital());
}

#[test]
fn snapshot_families() {
    snapshot("families", &families());
}

#[test]
fn output_is_byte_stable() {
    let ir = hospital();
    assert_eq!(render(&ir), render(&hospital()));
}

// ------------------------------------------------------------ the proofs

#[test]
fn hospital_probes_decided_alike_by_pan_os_python_parse_and_ir() {
    let Some(py) = python() else { return };
    let ir = hospital();
    let (set, xml) = render(&ir);
    let parsed = parse_xml(&py, &xml);
    assert_readers_agree(&parsed, &xml);
    // The parse is not vacuous.
    assert!(parsed.rules.len() > ir.rules.len());
    assert_eq!(parsed.rules.last().unwrap().name, DEFAULT_RULE);
    let failures = compare(&parsed, &ir, &probe_packets());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(parse_set(&set), parsed);
}

#[test]
fn random_packets_decided_alike_hospital() {
    let Some(py) = python() else { return };
    let ir = hospital();
    let parsed = parse_xml(&py, &render(&ir).1);
    let packets = random_packets(&ir, 0x5eed_0001, 20_000);
    let failures = compare(&parsed, &ir, &packets);
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        packets.len(),
        failures[..failures.len().min(40)].join("\n")
    );
    // The packets reach most of the rule base.
    let view = panos::build(&ir).unwrap();
    let hit: std::collections::BTreeSet<String> = packets
        .iter()
        .map(|(_, p)| pan_evaluate(&parsed, &ir, p).rule)
        .collect();
    assert!(hit.len() * 2 > view.rules.len(), "only {hit:?} were hit");
}

#[test]
fn families_policy_decided_alike() {
    let Some(py) = python() else { return };
    let ir = families();
    let (set, xml) = render(&ir);
    let parsed = parse_xml(&py, &xml);
    assert_readers_agree(&parsed, &xml);
    assert_eq!(parse_set(&set), parsed);
    let mut packets = random_packets(&ir, 0x5eed_0002, 20_000);
    for (src, dst, proto) in [
        ("10.1.0.5", "8.8.8.8", "icmp/echo-request"),
        ("2001:db8:1::5", "2001:db8:2::10", "icmp/echo-request"),
        ("2001:db8:1::5", "2001:db8:2::99", "icmp/echo-request"),
        ("10.1.0.5", "10.2.0.10", "icmp/echo-request"),
        ("10.1.0.5", "10.2.0.10", "udp/5010"),
        ("10.1.0.5", "10.2.0.10", "udp/5011"),
        ("10.1.0.5", "10.2.0.10", "gre"),
        ("10.1.0.1", "203.0.113.9", "esp"),
        ("2001:db8:1::1", "2001:db8:9::1", "esp"),
        ("10.1.0.1", "203.0.113.9", "ah"),
        ("10.1.2.9", "10.2.0.1", "tcp/22"),
        ("10.1.2.10", "10.2.0.1", "tcp/22"),
        ("10.1.5.1", "203.0.113.1", "tcp/443"),
        ("10.2.0.10", "10.1.0.1", "gre"),
        ("10.2.0.10", "10.2.0.11", "tcp/25"),
        ("10.1.0.1", "10.1.0.2", "tcp/25"),
    ] {
        packets.push((
            format!("{src} {dst} {proto}"),
            Packet::parse(src, dst, proto).unwrap(),
        ));
    }
    let failures = compare(&parsed, &ir, &packets);
    assert!(
        failures.is_empty(),
        "{} differ:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
}

/// Without Python: the library's XML reader reads what the strict `set`
/// reader reads (the two forms of one rendering), and its evaluator gives
/// every hospital probe the IR's verdict and rule.
#[test]
fn rust_xml_reader_matches_the_set_form_and_decides_alike() {
    for ir in [hospital(), families()] {
        let (set, xml) = render(&ir);
        let parsed = readback::parse_xml(&xml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, parse_set(&set), "{}", ir.name);
    }
    let ir = hospital();
    let parsed = readback::parse_xml(&render(&ir).1).unwrap();
    let failures = compare(&parsed, &ir, &probe_packets());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The XML reader refuses what wardwall does not emit, where PAN-OS's own
/// loaders would ignore it or read it differently.
#[test]
fn rust_xml_reader_refuses_what_wardwall_does_not_emit() {
    let xml = render(&hospital()).1;
    readback::parse_xml(&xml).unwrap();
    let cases: &[(&str, &str)] = &[
        ("<action>drop</action>", "<action>deny</action>"),
        ("<disabled>no</disabled>", "<disabled>maybe</disabled>"),
        (
            "<negate-source>no</negate-source>",
            "<negate-source>yes</negate-source>",
        ),
        (
            "<log-end>yes</log-end>",
            "<log-end>yes</log-end><log-setting>x</log-setting>",
        ),
        ("<source><member>any</member></source>", "<source></source>"),
        (
            "<member>contec-cms8000</member>",
            "<member>no-such-object</member>",
        ),
        ("<port>443</port>", "<port>443x</port>"),
        (
            "<ip-netmask>10.10.0.14/32</ip-netmask>",
            "<fqdn>example.org</fqdn>",
        ),
        ("<rulebase>", "<rulebase><nat/>"),
        (
            "<service><member>any</member></service>",
            "<service><member>tcp-80</member></service><service><member>any</member></service>",
        ),
        ("</config>", "</config><x/>"),
    ];
    for (i, (from, to)) in cases.iter().enumerate() {
        assert!(xml.contains(from), "case {i}: {from}");
        let bad = xml.replacen(from, to, 1);
        assert!(readback::parse_xml(&bad).is_err(), "case {i} was accepted");
    }
}

/// Without the final deny, PAN-OS's intrazone allow would let through what
/// the policy denies: the evaluator must see that (so the comparison above
/// is not vacuous about the default rule).
#[test]
fn the_final_deny_is_what_stops_intrazone_traffic() {
    let Some(py) = python() else { return };
    let ir = hospital();
    let mut parsed = parse_xml(&py, &render(&ir).1);
    let staff_ssh = Packet::parse("10.40.1.1", "10.40.1.2", "tcp/22").unwrap();
    assert_eq!(pan_evaluate(&parsed, &ir, &staff_ssh).rule, DEFAULT_RULE);
    parsed.rules.pop();
    let v = pan_evaluate(&parsed, &ir, &staff_ssh);
    assert_eq!(v.action, Action::Allow);
    assert!(!compare(&parsed, &ir, &[("ssh".into(), staff_ssh)]).is_empty());
}

/// Named objects stay named after policy names and values, never positions:
/// removing a rule only removes lines.
#[test]
fn removing_a_rule_only_removes_lines() {
    let text = std::fs::read_to_string("policies/hospital.kdl").unwrap();
    let start = text.find("    allow \"workstations-to-pacs\" {").unwrap();
    let end = start + text[start..].find("\n    }\n").unwrap() + "\n    }\n".len();
    let dir = tempfile::tempdir().unwrap();
    crate::common::copy_includes(dir.path());
    let path = dir.path().join("hospital.kdl");
    std::fs::write(&path, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let smaller = compile(&path);
    let full = hospital();
    assert_eq!(smaller.rules.len() + 1, full.rules.len());
    let (old_set, old_xml) = render(&full);
    let (new_set, new_xml) = render(&smaller);
    for (old, new) in [(old_set, new_set), (old_xml, new_xml)] {
        let mut removed = 0;
        let diff = similar::TextDiff::from_lines(&old, &new);
        for change in diff.iter_all_changes() {
            match change.tag() {
                similar::ChangeTag::Insert => panic!("line added: {change}"),
                similar::ChangeTag::Delete => removed += 1,
                similar::ChangeTag::Equal => {}
            }
        }
        assert!(removed > 0);
    }
}

// ------------------------------------------------------------ injection

const INJECTION_BASE: &str = r#"
policy "inject" { DESC }
zone "lan" {
    prefix "10.1.0.0/16"
    interface panos="lan"
}
zone "wan" {
    residual #true
    interface panos="untrust"
}
class "web" {
    zone "lan"
    DESC
    address "10.1.0.10"
}
rules {
    allow "web-in" {
        DESC
        from "any"
        to "web"
        service "https"
    }
    deny "lan-out" {
        DESC
        from "lan"
        to "wan"
        service "any"
        log #true
        owner "biomed@example.org"
    }
}
"#;

/// The parsed rule called `name`.
fn named<'a>(p: &'a Parsed, name: &str) -> &'a ParsedRule {
    p.rules
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no rule {name}"))
}

fn injection_policy(desc: Option<&str>) -> String {
    let line = desc.map_or(String::new(), |d| format!("description \"{d}\""));
    INJECTION_BASE.replace("DESC", &line)
}

#[test]
fn descriptions_cannot_change_rules_or_objects() {
    let py = python();
    let plain_ir = compile_text(&injection_policy(None));
    let (plain_set, plain_xml) = render(&plain_ir);
    let plain = parse_set(&plain_set);
    assert_eq!(plain.rules[0].description, None);
    assert_eq!(
        named(&plain, "lan-out").description.as_deref(),
        Some("[owner biomed@example.org]")
    );
    // The language itself refuses descriptions over 1024 bytes; a rule's
    // bookkeeping (owner, ticket, expiry) that would push the PAN-OS
    // description over it is left out whole, never cut into.
    let long = "é".repeat(510);
    let hostile: Vec<(&str, String)> = vec![
        ("double quote", r#"say \"hi\" then"#.into()),
        (
            "closing quote then command",
            r#"\" action allow log-end no \""#.into(),
        ),
        ("single quote", "it's".into()),
        ("xml", "<a>&amp;</description><action>allow</action>".into()),
        ("cdata end", "]]> <![CDATA[ x ]]>".into()),
        ("comment chars", "# ! ; -- //".into()),
        ("backslash", r"C:\\path\\ and \\".into()),
        (
            "keywords",
            "set rulebase security rules x action allow".into(),
        ),
        ("brackets", "[ any ] { }".into()),
        ("question mark", "why? because".into()),
        ("non-ascii", "Intensivstation Süd – 集中治療室 ✓".into()),
        ("long", long.clone()),
    ];
    for (what, desc) in &hostile {
        let ir = compile_text(&injection_policy(Some(desc)));
        let (set, xml) = render(&ir);
        let from_set = parse_set(&set);
        assert_eq!(
            from_set.without_descriptions(),
            plain.without_descriptions(),
            "{what}: the set form changed"
        );
        // The description is there, cleaned, once per rule.
        let rule_desc = from_set.rules[0].description.clone().expect("described");
        assert!(rule_desc.len() <= panos::RULE_DESCRIPTION_MAX, "{what}");
        assert!(
            !rule_desc.contains('"') && !rule_desc.contains('\\'),
            "{what}"
        );
        let group_desc = from_set.groups["web"]
            .description
            .clone()
            .expect("described");
        assert!(group_desc.len() <= panos::OBJECT_DESCRIPTION_MAX, "{what}");
        // The library's XML reader (explain --target panos) reads the same.
        assert_eq!(
            readback::parse_xml(&xml).unwrap_or_else(|e| panic!("{what}: {e}")),
            from_set,
            "{what}: the Rust XML reader and the set reader differ"
        );
        // Every line is still one command of the subset (parse_set checked)
        // and the XML is well-formed and equal in meaning.
        if let Some(py) = &py {
            let from_xml = parse_xml(py, &xml);
            assert_readers_agree(&from_xml, &xml);
            assert_eq!(from_xml, from_set, "{what}: set and XML differ");
            let plain_from_xml = parse_xml(py, &plain_xml);
            assert_eq!(
                from_xml.without_descriptions(),
                plain_from_xml.without_descriptions(),
                "{what}: the XML changed"
            );
        }
    }
    // What was kept and what was replaced.
    let keep = |d: &str| {
        let ir = compile_text(&injection_policy(Some(d)));
        parse_set(&render(&ir).0).rules[0]
            .description
            .clone()
            .unwrap()
    };
    assert_eq!(
        keep("Intensivstation Süd – 集中治療室 ✓"),
        "Intensivstation Süd – 集中治療室 ✓"
    );
    assert_eq!(keep(r#"say \"hi\" C:\\x why?"#), "say 'hi' C:/x why.");
    assert_eq!(keep("<a>&b ]]> # ! ;"), "<a>&b ]]> # ! ;");
    assert_eq!(keep(&long), long);
    let ir = compile_text(&injection_policy(Some(&long)));
    let cut = named(&parse_set(&render(&ir).0), "lan-out")
        .description
        .clone()
        .unwrap();
    assert_eq!(
        cut, long,
        "the description whole, without the owner that does not fit"
    );
    let roomy = "é".repeat(400);
    let ir = compile_text(&injection_policy(Some(&roomy)));
    let with_owner = named(&parse_set(&render(&ir).0), "lan-out")
        .description
        .clone()
        .unwrap();
    assert_eq!(with_owner, format!("{roomy} [owner biomed@example.org]"));
    // 1100 characters never reach a renderer.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.kdl");
    std::fs::write(&path, injection_policy(Some(&"x".repeat(1100)))).unwrap();
    let compiled = wardwall::compile(&path, PROBE_DATE.parse().unwrap()).unwrap();
    assert!(compiled.ir.is_none());
    assert!(
        compiled
            .diagnostics
            .items
            .iter()
            .any(|d| d.code == "text-too-long")
    );
}

// ------------------------------------------------------------ refusals

const REFUSAL_BASE: &str = r#"
zone "lan" {
    prefix "10.1.0.0/16" "2001:db8:1::/48"
    interface panos="lan"
}
zone "lab" {
    prefix "10.3.0.0/16"
    interface nftables="lab0"
}
zone "wan" {
    residual #true
    interface panos="untrust"
}
"#;

fn refused(rules: &str) -> Vec<wardwall::diagnostics::Diagnostic> {
    render_errors(&format!("{REFUSAL_BASE}\nrules {{\n{rules}\n}}\n"))
}

#[test]
fn icmp_types_other_than_echo_are_refused_at_the_rule() {
    let errs = refused(
        r#"allow "unreachables" {
            from "lan"
            to "wan"
            service "icmp/destination-unreachable"
        }"#,
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].code, "panos-icmp-type");
    assert!(errs[0].message.contains("unreachables"));
    assert!(errs[0].primary.is_some());
}

#[test]
fn ip_protocols_without_an_exact_application_are_refused() {
    let errs = render_errors(&format!(
        r#"{REFUSAL_BASE}
service "routing" {{
    protocol "ospf" "gre"
}}
rules {{
    allow "routing" {{
        from "lan"
        to "wan"
        service "routing"
    }}
}}"#
    ));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].code, "panos-ip-protocol");
    assert!(errs[0].message.contains("89"), "{}", errs[0].message);
}

#[test]
fn addresses_in_a_zone_without_a_panos_binding_are_refused() {
    let errs = refused(
        r#"allow "to-lab" {
            from "lan"
            to "10.3.1.0/24"
            service "https"
        }"#,
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].code, "unplaced");
    assert!(errs[0].message.contains("lab"));
    assert_eq!(errs[0].secondary.len(), 1, "points at the zone too");
    // `any` touches the unbound zone as well.
    let errs = refused(
        r#"allow "lan-anywhere" {
            from "lan"
            to "any"
            service "https"
        }"#,
    );
    assert_eq!(errs[0].code, "unplaced");
    // A zone without a binding that no rule touches is fine.
    let ir = compile_text(&format!(
        "{REFUSAL_BASE}\nrules {{\nallow \"x\" {{\nfrom \"lan\"\nto \"wan\"\nservice \"https\"\n}}\n}}\n"
    ));
    render(&ir);
}

#[test]
fn names_colliding_after_truncation_are_refused() {
    // 63 characters: the ping part is cut to 58 + `.ping`, which is the
    // name of the next rule.
    let long = "a123456789b123456789c123456789d123456789e123456789f1234567xyz";
    assert_eq!(long.len(), 61);
    let long = format!("{long}zz");
    let cut = format!("{}.ping", &long[..58]);
    let errs = refused(&format!(
        r#"allow "{long}" {{
            from "lan"
            to "wan"
            service "https" "ping"
        }}
        allow "{cut}" {{
            from "lan"
            to "wan"
            service "ssh"
        }}"#
    ));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].code, "panos-name-collision");
    assert!(errs[0].message.contains(&cut));
    // The reserved name of the final rule.
    let errs = refused(&format!(
        r#"allow "{DEFAULT_RULE}" {{
            from "lan"
            to "wan"
            service "ssh"
        }}"#
    ));
    assert_eq!(errs[0].code, "panos-name-collision");
}

#[test]
fn invalid_panos_zone_names_are_refused() {
    let errs = render_errors(
        r#"
zone "lan" {
    prefix "10.1.0.0/16"
    interface panos="ethernet1/1"
}
zone "wan" {
    residual #true
    interface panos="untrust"
}
rules {
    allow "x" {
        from "lan"
        to "wan"
        service "https"
    }
}
"#,
    );
    assert!(
        errs.iter().any(|d| d.code == "panos-zone-name"),
        "{errs:#?}"
    );
}

#[test]
fn a_v4_only_rule_never_matches_ipv6() {
    let ir = families();
    let view = panos::build(&ir).unwrap();
    let r = view
        .rules
        .iter()
        .find(|r| r.name == "lan-ping4-anywhere")
        .unwrap();
    // The dual-stack `lan` and `any` are cut to their IPv4 halves.
    assert_eq!(r.destination, ["n4-0.0.0.0_0"]);
    assert!(
        r.source.iter().all(|m| m.starts_with("n4-")),
        "{:?}",
        r.source
    );
    let r = view
        .rules
        .iter()
        .find(|r| r.name == "v4-hosts-web")
        .unwrap();
    // `any` is full v4+v6: fine, since the source is IPv4 only.
    assert_eq!(r.destination, ["any"]);
    assert_eq!(r.source, ["v4-hosts"]);
}

#[test]
fn templates_can_be_overridden_per_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("panos")).unwrap();
    std::fs::write(
        dir.path().join("panos/panos.set.j2"),
        "{% for r in rules %}{{ r.name }} {{ r.action }}\n{% endfor %}",
    )
    .unwrap();
    let ir = families();
    let files = PanosRenderer
        .render(
            &ir,
            &Templates {
                override_dir: Some(dir.path().to_path_buf()),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(files[0].contents.starts_with("lan-ping4-anywhere allow\n"));
    assert!(files[0].contents.ends_with("wardwall-default-deny drop\n"));
    // The XML template was not overridden.
    assert_eq!(files[1].contents, render(&ir).1);
}

/// Two policy zones bound to one PAN-OS zone: the zone is listed once, and
/// the addresses still keep the rule exact.
#[test]
fn zones_sharing_a_panos_zone_are_listed_once() {
    let ir = shared_zone_policy();
    let view = panos::build(&ir).unwrap();
    assert_eq!(view.rules[0].name, "inside-out");
    assert_eq!(view.rules[0].from, ["inside"]);
    assert_eq!(view.rules[0].to, ["untrust"]);
    assert_eq!(view.rules[0].source, ["wards", "labs"]);
    if let Some(py) = python() {
        let parsed = parse_xml(&py, &render(&ir).1);
        let packets = random_packets(&ir, 0x5eed_0003, 5_000);
        let failures = compare(&parsed, &ir, &packets);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

fn shared_zone_policy() -> Ir {
    compile_text(
        r#"
zone "wards" {
    prefix "10.1.0.0/16"
    interface panos="inside"
}
zone "labs" {
    prefix "10.2.0.0/16"
    interface panos="inside"
}
zone "wan" {
    residual #true
    interface panos="untrust"
}
rules {
    allow "inside-out" {
        from "wards" "labs"
        to "wan"
        service "https"
    }
    allow "any-to-labs" {
        from "any"
        to "labs"
        service "ssh"
    }
}
"#,
    )
}

// ------------------------------------------------------------ spoofed sources

/// The PAN-OS zone of `addr` (its policy zone's `panos` binding).
fn pan_zone_of(ir: &Ir, addr: IpAddr) -> String {
    ir.zone_of(addr).expect("a zone").bindings["panos"].clone()
}

/// The library's evaluator for a packet arriving in PAN-OS zone `ingress`
/// (the zone of the interface it arrives on, whatever its source address)
/// and leaving by its destination's zone (routing follows the destination
/// address, which the sender cannot forge).
fn pan_evaluate_in(p: &Parsed, ir: &Ir, ingress: &str, packet: &Packet) -> PanVerdict {
    readback::evaluate(p, ingress, &pan_zone_of(ir, packet.dst), packet)
        .unwrap_or_else(|e| panic!("{packet} arriving in {ingress}: {e}"))
}

/// The shipped policies and the PAN-OS test policies.
fn spoof_policies() -> Vec<(String, Ir)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir("policies")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    paths.sort();
    paths.push("tests/policies/panos-families.kdl".into());
    let mut out: Vec<(String, Ir)> = paths
        .iter()
        .map(|p| (p.display().to_string(), compile(p)))
        .collect();
    out.push(("zones sharing a PAN-OS zone".into(), shared_zone_policy()));
    out
}

/// Spoofed sources: for every policy, every packet of the candidates, and
/// every PAN-OS zone B other than the zone A of its source address, the
/// packet arriving in B must meet PAN-OS's verdict for the default rule
/// (`wardwall-default-deny`), as on pfSense and Cisco (rules bound to the
/// ingress interface with their sources cut to its zones) and nftables
/// (the anti-spoofing guard). Every ordered pair (A, B) is replayed with
/// packets the IR allows from A, and honest ingress (A) still gets the IR's
/// verdict, so the test sees what it claims to. Read by the library's
/// reader and, where installed, by pan-os-python.
#[test]
fn spoofed_sources_get_the_default_deny_on_every_policy() {
    let py = python();
    // Spoofed packets PAN-OS allows (the patient-safety failure), and
    // spoofed packets decided by another rule than the default.
    let mut leaks = Vec::new();
    let mut failures = Vec::new();
    for (label, ir) in spoof_policies() {
        let xml = render(&ir).1;
        let mut readings = vec![readback::parse_xml(&xml).unwrap()];
        if let Some(py) = &py {
            let parsed = parse_xml(py, &xml);
            assert_readers_agree(&parsed, &xml);
            readings.push(parsed);
        }
        let mut candidates: Vec<Packet> = random_packets(&ir, 0x5eed_0005, 4_000)
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        if label.ends_with("hospital.kdl") {
            candidates.extend(probe_packets().into_iter().map(|(_, p)| p));
        }
        let zones: std::collections::BTreeSet<String> = ir
            .zones
            .iter()
            .filter_map(|z| z.bindings.get("panos").cloned())
            .collect();
        assert!(zones.len() >= 2, "{label}: fewer than two PAN-OS zones");
        let mut pairs: BTreeMap<(String, String), usize> = BTreeMap::new();
        for parsed in &readings {
            for packet in &candidates {
                let honest = pan_zone_of(&ir, packet.src);
                let want = ir.evaluate(packet);
                let got = pan_evaluate_in(parsed, &ir, &honest, packet);
                assert_eq!(
                    (got.action, got.log),
                    (want.action, want.log),
                    "{label}: {packet} from its own zone {honest}"
                );
                for ingress in zones.iter().filter(|z| **z != honest) {
                    let got = pan_evaluate_in(parsed, &ir, ingress, packet);
                    if (got.action, got.log, got.rule.as_str())
                        != (ir.default_action, ir.default_log, DEFAULT_RULE)
                    {
                        let list = if got.action == Action::Allow {
                            &mut leaks
                        } else {
                            &mut failures
                        };
                        list.push(format!(
                            "{label}: {packet} (source zone {honest}) arriving in {ingress}: \
                             {} (log {}) by `{}`, IR with honest ingress {} by `{}`",
                            got.action,
                            got.log,
                            got.rule,
                            want.action,
                            ir.verdict_rule_name(&want)
                        ));
                    }
                    if want.action == Action::Allow {
                        *pairs.entry((honest.clone(), ingress.clone())).or_default() += 1;
                    }
                }
            }
        }
        // Every ordered pair of zones with allowed traffic from A is
        // replayed.
        let sources: std::collections::BTreeSet<&String> = pairs.keys().map(|(a, _)| a).collect();
        assert!(!sources.is_empty(), "{label}: no allowed traffic replayed");
        for a in &sources {
            for b in zones.iter().filter(|b| b != a) {
                assert!(
                    pairs.contains_key(&((*a).clone(), b.clone())),
                    "{label}: no allowed packet from {a} replayed in {b}"
                );
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{} spoofed packets allowed:\n{}",
        leaks.len(),
        leaks[..leaks.len().min(40)].join("\n")
    );
    assert!(
        failures.is_empty(),
        "{} spoofed packets not denied by default:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
}

/// The issue's case on the hospital policy: an ICU monitor's address on
/// a packet arriving from the guest Wi-Fi or the corporate network. The
/// honest packet is allowed by a rule whose sources span several PAN-OS
/// zones; spoofed, it meets the default deny.
#[test]
fn a_clinical_source_from_the_guest_zone_is_denied_by_default() {
    let ir = hospital();
    let parsed = readback::parse_xml(&render(&ir).1).unwrap();
    let packet = Packet::parse("10.20.1.7", "10.10.0.14", "udp/514").unwrap();
    let want = ir.evaluate(&packet);
    assert_eq!(want.action, Action::Allow);
    let honest = pan_evaluate_in(&parsed, &ir, "icu-devices", &packet);
    assert_eq!(honest.action, Action::Allow);
    assert_eq!(honest.rule, "devices-to-syslog.from-icu-devices");
    for ingress in ["guest", "corporate", "imaging", "quarantine"] {
        let v = pan_evaluate_in(&parsed, &ir, ingress, &packet);
        assert_eq!(v.rule, DEFAULT_RULE, "from {ingress}");
        assert_eq!(v.action, Action::Deny);
    }
}

/// Rules with one source zone keep their names; split rules are named
/// `RULE.from-ZONE` (cut to 63 characters), never by position, and each
/// pairs its one `from` zone with only that zone's addresses.
#[test]
fn split_rules_pair_each_zone_with_its_own_sources() {
    for (label, ir) in spoof_policies() {
        let view = panos::build(&ir).unwrap();
        for r in &view.rules {
            let Some(ir_rule) = &r.ir_rule else { continue };
            assert_eq!(r.from.len(), 1, "{label}: {} from {:?}", r.name, r.from);
            assert!(r.name.len() <= panos::NAME_MAX, "{}", r.name);
            let split = view
                .rules
                .iter()
                .any(|x| x.ir_rule == r.ir_rule && x.from != r.from);
            if split {
                let base = format!(".from-{}", r.from[0]);
                assert!(
                    r.name.contains(&base)
                        && ir_rule.starts_with(r.name.split(&base).next().unwrap()),
                    "{label}: {}",
                    r.name
                );
            } else {
                assert!(
                    r.name == *ir_rule || r.name.ends_with(".ping") || r.name.ends_with(".ipproto"),
                    "{label}: {} for {ir_rule}",
                    r.name
                );
            }
            assert_eq!(
                readback::policy_rule_name(&ir, &r.name).as_deref(),
                Some(ir_rule.as_str()),
                "{label}: {}",
                r.name
            );
        }
    }
}
