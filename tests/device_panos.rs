//! The PAN-OS device-export reader (`wardwall::read::export::panos`,
//! behind `Reader::device`), held to:
//!
//! * hand-written running configurations in the firewall's export form
//!   (`tests/fixtures/devices/panos/`, each citing the documentation its
//!   constructs come from): verdicts with the deciding line and text on
//!   concrete packets, the skipped list, and the three kinds of hand edit
//!   drift must see (exposure, breakage, undecidable);
//! * pan-os-python, which loads every fixture independently
//!   (`tests/panos/parse_running.py`) and must see the same zones, objects
//!   and rules (names, order, members);
//! * wardwall's own PAN-OS output for every shipped policy (and every test
//!   policy the target renders): the device model must decide the probes
//!   and edge packets as the IR does, except where it says a packet meets
//!   an undecidable entry (wardwall writes App-ID `ping` rules), and then
//!   the IR's verdict must be one the device could reach.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::drift::{self, decision_at, rule_index, union_of};
use crate::common::{self, probes::HOSPITAL_PROBES, probes::PROBE_DATE};
use wardwall::addrset::{AddrSet, PortSet};
use wardwall::analysis::space::Space;
use wardwall::diff::drift::{Comparison, DriftKind, DriftRegion, compare};
use wardwall::ir::{Ir, Packet};
use wardwall::read::device::{Decision, Device, Outcome};
use wardwall::read::export::panos::{self as reader, Parsed};
use wardwall::vocab::{Action, ServiceSet, Target};

const DIR: &str = "tests/fixtures/devices/panos";

fn fixture(name: &str) -> String {
    common::read(Path::new(DIR).join(name))
}

fn device(name: &str) -> Device {
    reader::read(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The 1-based line of the only line of `text` holding `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(hits.len(), 1, "`{needle}` is on lines {hits:?}");
    hits[0]
}

fn packet(src: &str, dst: &str, proto: &str) -> Packet {
    Packet::parse(src, dst, proto).unwrap()
}

/// What the device does with a packet between two zones.
fn decide<'d>(
    d: &'d Device,
    src: &str,
    dst: &str,
    proto: &str,
    from: &str,
    to: &str,
) -> Outcome<'d> {
    d.decide(&packet(src, dst, proto), Some(from), Some(to))
}

/// The deciding decision's (action, line, text, rule) and the reasons of
/// the undecidable entries met before it.
fn verdict(o: &Outcome<'_>) -> (Action, usize, String, Option<String>, Vec<String>) {
    let (_, decision) = o.steps.last().expect("the packet met the filter");
    (
        o.action,
        decision.origin.line,
        decision.origin.text.clone(),
        decision.origin.rule.clone(),
        o.undecided
            .iter()
            .map(|e| e.undecidable.clone().unwrap())
            .collect(),
    )
}

/// Asserts the packet is decided by the rule `name` of `text` with `action`.
fn assert_rule(text: &str, o: &Outcome<'_>, action: Action, name: &str) {
    let (got, line, entry, rule, undecided) = verdict(o);
    let needle = format!("<entry name=\"{name}\"");
    assert_eq!(
        (got, line),
        (action, line_of(text, &needle)),
        "decided by {entry} ({rule:?})"
    );
    assert!(entry.starts_with(&needle), "{entry}");
    assert_eq!(rule.as_deref(), Some(name));
    assert!(undecided.is_empty(), "{undecided:?}");
}

// ------------------------------------------------------------ the fixture

#[test]
fn the_running_config_decides_the_hospital_segmentation() {
    let text = fixture("running-config.xml");
    let d = reader::read(&text).unwrap();
    assert_eq!(d.target, Target::Panos);
    assert_eq!(
        d.places.as_deref(),
        Some(
            &[
                "untrust",
                "clinical-apps",
                "quarantine",
                "icu-devices",
                "infrastructure"
            ]
            .map(String::from)[..]
        )
    );
    let cases: &[(&str, &str, &str, &str, &str, Action, &str)] = &[
        // The Contec block, both ways, before everything else.
        (
            "10.20.8.5",
            "202.114.4.10",
            "tcp/443",
            "quarantine",
            "untrust",
            Action::Deny,
            "block-contec-cms8000-out",
        ),
        (
            "10.10.20.30",
            "202.114.4.200",
            "udp/53",
            "clinical-apps",
            "untrust",
            Action::Deny,
            "block-contec-cms8000-out",
        ),
        (
            "202.114.4.7",
            "10.20.8.5",
            "tcp/515",
            "untrust",
            "quarantine",
            Action::Reject,
            "block-contec-cms8000-in",
        ),
        // Monitors to the central station: the vsys object (10.10.20.30)
        // shadows the shared one (10.10.20.99).
        (
            "10.20.8.5",
            "10.10.20.30",
            "tcp/515",
            "quarantine",
            "clinical-apps",
            Action::Allow,
            "contec-to-central-station",
        ),
        (
            "10.20.8.5",
            "10.10.20.99",
            "tcp/515",
            "quarantine",
            "clinical-apps",
            Action::Deny,
            "quarantine-lockdown",
        ),
        (
            "10.20.8.200",
            "10.10.20.30",
            "tcp/515",
            "quarantine",
            "clinical-apps",
            Action::Deny,
            "quarantine-lockdown",
        ),
        (
            "10.20.1.9",
            "10.10.20.30",
            "udp/24105",
            "icu-devices",
            "clinical-apps",
            Action::Allow,
            "monitor-data-export",
        ),
        // DNS and NTP through the shared group and the service group; the
        // NTP service's source ports are every client port.
        (
            "10.20.8.5",
            "10.10.0.53",
            "udp/53",
            "quarantine",
            "infrastructure",
            Action::Allow,
            "devices-to-dns-ntp",
        ),
        (
            "10.20.3.3",
            "10.10.0.54",
            "tcp/53",
            "icu-devices",
            "infrastructure",
            Action::Allow,
            "devices-to-dns-ntp",
        ),
        (
            "10.20.3.3",
            "10.10.0.123",
            "udp/123",
            "icu-devices",
            "infrastructure",
            Action::Allow,
            "devices-to-dns-ntp",
        ),
        (
            "10.20.8.5",
            "10.10.0.53",
            "tcp/22",
            "quarantine",
            "infrastructure",
            Action::Deny,
            "quarantine-lockdown",
        ),
        // Negated destination with literal CIDRs and a range; the
        // predefined web services.
        (
            "10.10.20.30",
            "93.184.216.34",
            "tcp/8080",
            "clinical-apps",
            "untrust",
            Action::Allow,
            "apps-web-to-internet",
        ),
        (
            "10.10.20.30",
            "192.168.1.1",
            "tcp/443",
            "clinical-apps",
            "untrust",
            Action::Deny,
            "interzone-default",
        ),
        // The wildcard object: the .1 of every ICU /24.
        (
            "10.10.0.161",
            "10.20.77.1",
            "udp/162",
            "infrastructure",
            "icu-devices",
            Action::Allow,
            "infra-snmp-to-icu-gateways",
        ),
        (
            "10.10.0.161",
            "10.20.77.2",
            "udp/162",
            "infrastructure",
            "icu-devices",
            Action::Deny,
            "interzone-default",
        ),
        // An intrazone rule, and the overridden intrazone-default.
        (
            "10.10.0.53",
            "10.10.0.14",
            "udp/514",
            "infrastructure",
            "infrastructure",
            Action::Allow,
            "infra-intrazone",
        ),
        (
            "10.20.1.9",
            "10.20.4.4",
            "tcp/443",
            "icu-devices",
            "icu-devices",
            Action::Deny,
            "intrazone-default",
        ),
    ];
    for &(src, dst, proto, from, to, action, rule) in cases {
        let o = decide(&d, src, dst, proto, from, to);
        let what = format!("{src} {dst} {proto} {from}->{to}");
        if rule.ends_with("-default") {
            let (got, line, entry, r, _) = verdict(&o);
            assert_eq!(got, action, "{what}");
            assert_eq!(
                line,
                line_of(&text, &format!("<entry name=\"{rule}\"")),
                "{what}: {entry}"
            );
            assert_eq!(r, None, "{what}");
        } else {
            assert_rule(&text, &o, action, rule);
        }
    }
}

#[test]
fn undecidable_rules_of_the_fixture_are_listed_not_guessed() {
    let text = fixture("running-config.xml");
    let d = reader::read(&text).unwrap();
    // The FQDN object: the packet may or may not be the vendor's server.
    let o = decide(
        &d,
        "10.10.20.30",
        "203.0.113.80",
        "tcp/22",
        "clinical-apps",
        "untrust",
    );
    let (action, line, _, _, why) = verdict(&o);
    assert_eq!(
        (action, line),
        (
            Action::Deny,
            line_of(&text, "<entry name=\"interzone-default\"")
        )
    );
    assert_eq!(
        why,
        ["FQDN address vendor-updates (updates.vendor.example)"]
    );
    // The dynamic group.
    let o = decide(
        &d,
        "198.51.100.77",
        "10.10.20.30",
        "tcp/443",
        "untrust",
        "clinical-apps",
    );
    assert_eq!(
        verdict(&o).4,
        ["dynamic address group quarantined-hosts ('quarantine')"]
    );
    // App-ID with application-default.
    let o = decide(
        &d,
        "10.20.1.9",
        "10.10.0.53",
        "icmp/echo-request",
        "icu-devices",
        "infrastructure",
    );
    let why = verdict(&o).4;
    assert_eq!(why.len(), 1);
    assert!(why[0].starts_with("application ping (App-ID)"), "{why:?}");
    // Traffic the disabled rule would allow is decided past it.
    let o = decide(
        &d,
        "10.10.20.30",
        "10.20.1.9",
        "tcp/23",
        "clinical-apps",
        "icu-devices",
    );
    let (action, _, _, _, why) = verdict(&o);
    assert_eq!(action, Action::Deny);
    assert!(
        why.is_empty(),
        "a disabled rule is not even undecidable: {why:?}"
    );
}

#[test]
fn what_decides_no_forwarded_traffic_is_skipped_and_listed() {
    let d = device("running-config.xml");
    let skipped = d.skipped.join("\n");
    for item in [
        "management (mgt-config): users, password-complexity",
        "shared settings (application, application-group, log-settings)",
        "network (routing, VPN, interfaces; 1 virtual router): interface, virtual-router",
        "device configuration (deviceconfig): system, setting",
        "NAT (2 rules)",
        "vsys1 settings (application, application-group, tag, import)",
        "disabled security rules (1: legacy-telnet-to-monitors)",
    ] {
        assert!(
            d.skipped.iter().any(|s| s == item),
            "{item} not in:\n{skipped}"
        );
    }
    assert_eq!(d.skipped.len(), 7, "{skipped}");
}

// ------------------------------------------------------------ hand edits

const MONITOR_TO_CLOUD: (&str, &str, &str, &str, &str) = (
    "10.20.8.5",
    "202.114.4.10",
    "tcp/443",
    "quarantine",
    "untrust",
);
const MONITOR_TO_CENTRAL: (&str, &str, &str, &str, &str) = (
    "10.20.8.5",
    "10.10.20.30",
    "tcp/515",
    "quarantine",
    "clinical-apps",
);

fn decide_case<'d>(d: &'d Device, c: (&str, &str, &str, &str, &str)) -> Outcome<'d> {
    decide(d, c.0, c.1, c.2, c.3, c.4)
}

#[test]
fn an_allow_inserted_before_the_contec_block_is_an_exposure() {
    let base = device("running-config.xml");
    assert_eq!(decide_case(&base, MONITOR_TO_CLOUD).action, Action::Deny);
    let text = fixture("exposure.xml");
    let d = reader::read(&text).unwrap();
    let o = decide_case(&d, MONITOR_TO_CLOUD);
    assert_rule(&text, &o, Action::Allow, "temp-monitor-vendor-cloud");
    // Only the monitors' traffic to the internet moved.
    let o = decide(
        &d,
        "10.20.1.9",
        "202.114.4.10",
        "tcp/443",
        "icu-devices",
        "untrust",
    );
    assert_rule(&text, &o, Action::Deny, "block-contec-cms8000-out");
    assert_rule(
        &text,
        &decide_case(&d, MONITOR_TO_CENTRAL),
        Action::Allow,
        "contec-to-central-station",
    );
}

#[test]
fn a_deleted_allow_is_a_breakage() {
    let base_text = fixture("running-config.xml");
    let base = reader::read(&base_text).unwrap();
    assert_rule(
        &base_text,
        &decide_case(&base, MONITOR_TO_CENTRAL),
        Action::Allow,
        "contec-to-central-station",
    );
    let text = fixture("breakage.xml");
    let d = reader::read(&text).unwrap();
    assert_rule(
        &text,
        &decide_case(&d, MONITOR_TO_CENTRAL),
        Action::Deny,
        "quarantine-lockdown",
    );
    assert_rule(
        &text,
        &decide_case(&d, MONITOR_TO_CLOUD),
        Action::Deny,
        "block-contec-cms8000-out",
    );
}

#[test]
fn a_scheduled_rule_is_undecidable() {
    let text = fixture("undecidable.xml");
    let d = reader::read(&text).unwrap();
    let o = decide_case(&d, MONITOR_TO_CENTRAL);
    // Taken not to match, and listed: during the schedule it denies.
    assert_eq!(o.action, Action::Allow);
    assert_eq!(o.undecided.len(), 1);
    let e = o.undecided[0];
    assert_eq!(e.undecidable.as_deref(), Some("schedule vendor-hours"));
    assert_eq!(e.decision.action, Action::Deny);
    assert_eq!(
        e.decision.origin.line,
        line_of(&text, "<entry name=\"vendor-hours-monitor-block\"")
    );
    assert_eq!(
        e.decision.origin.rule.as_deref(),
        Some("vendor-hours-monitor-block")
    );
    // Outside its box the schedule does not matter.
    let o = decide(
        &d,
        "10.20.8.5",
        "10.10.0.53",
        "udp/53",
        "quarantine",
        "infrastructure",
    );
    assert!(o.undecided.is_empty());
}

// ------------------------------------------------------------ pan-os-python

/// The Python with pan-os-python, or `None` after a visible skip.
fn python() -> Option<PathBuf> {
    common::skip::python_with(
        &["WARDWALL_PYTHON"],
        "panos.firewall",
        "pan-os-python==1.13.1",
    )
}

fn pan_os_python_parse(python: &Path, file: &Path) -> Parsed {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/panos/parse_running.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(file)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "parse_running.py {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("parse_running.py prints the parse")
}

#[test]
fn pan_os_python_reads_every_fixture_as_the_reader_does() {
    let Some(py) = python() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    for file in files {
        let ours = reader::parse(&common::read(&file)).unwrap();
        let theirs = pan_os_python_parse(&py, &file);
        assert_eq!(ours, theirs, "{}", file.display());
        // Not vacuous.
        assert!(ours.rules.len() >= 12 && ours.zones.len() == 5);
    }
}

// ------------------------------------------------------------ wardwall's output

/// The PAN-OS zone of `addr`: the `panos` binding of the policy zone that
/// owns it.
fn zone(ir: &Ir, addr: IpAddr) -> Option<String> {
    ir.zone_of(addr)?.bindings.get("panos").cloned()
}

fn kdl_files(dir: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    found.sort();
    found
}

/// Every disagreement of the device model of `ir`'s rendering with the
/// IR, and (decided, undecidable) packet counts.
fn differential(path: &Path, ir: &Ir, seed: u64) -> (Vec<String>, usize, usize) {
    let (file, reader) = common::readable(ir, Target::Panos);
    let d = reader
        .device(&file.contents)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut packets: Vec<Packet> = Vec::new();
    if path == common::hospital() {
        packets.extend(
            HOSPITAL_PROBES
                .iter()
                .map(|p| packet(p.src, p.dst, p.proto)),
        );
    }
    packets.extend(common::edge_packets::edge_packets(ir, seed, 2000));
    let (mut wrong, mut decided, mut undecided) = (Vec::new(), 0, 0);
    for p in &packets {
        let want = ir.evaluate(p);
        let want_rule = ir.verdict_rule_name(&want);
        let (from, to) = (zone(ir, p.src), zone(ir, p.dst));
        let o = d.decide(p, from.as_deref(), to.as_deref());
        let at = format!("{}: {p} ({from:?} -> {to:?})", path.display());
        if !o.undecided.is_empty() {
            undecided += 1;
            // Wardwall writes App-ID only for what a port cannot say.
            for e in &o.undecided {
                let why = e.undecidable.as_deref().unwrap();
                if !why.starts_with("application ") {
                    wrong.push(format!("{at}: undecidable for {why}"));
                }
            }
            let reachable = std::iter::once(o.action)
                .chain(o.undecided.iter().map(|e| e.decision.action))
                .any(|a| a.permits() == want.action.permits());
            if !reachable {
                wrong.push(format!(
                    "{at}: the IR's {} is no verdict the device can reach",
                    want.action
                ));
            }
            continue;
        }
        decided += 1;
        let (_, decision) = o.steps.last().unwrap();
        let rule = decision.origin.rule.as_deref();
        // A name cut to PAN-OS's 63 characters names the rule it starts.
        let same_rule =
            rule.is_some_and(|r| r == want_rule || (r.len() == 63 && want_rule.starts_with(r)));
        if o.action.permits() != want.action.permits() || decision.log != want.log || !same_rule {
            wrong.push(format!(
                "{at}: the IR says {} (log {}) by `{want_rule}`, the device {} (log {}) by {rule:?} at line {} `{}`",
                want.action, want.log, o.action, decision.log, decision.origin.line, decision.origin.text
            ));
        }
    }
    (wrong, decided, undecided)
}

#[test]
fn the_device_model_of_wardwalls_output_decides_as_the_ir() {
    let shipped = common::shipped_policies();
    let (mut wrong, mut decided, mut undecided, mut policies) = (Vec::new(), 0, 0, 0);
    for (i, path) in shipped
        .iter()
        .chain(&kdl_files("tests/policies"))
        .enumerate()
    {
        let ir = common::compile_ok(path, PROBE_DATE);
        if common::try_render(&ir, Target::Panos).is_err() {
            assert!(
                i >= shipped.len(),
                "PAN-OS refuses the shipped {}",
                path.display()
            );
            continue;
        }
        let (w, d, u) = differential(path, &ir, 0xd7e1_0000 + i as u64);
        wrong.extend(w);
        decided += d;
        undecided += u;
        policies += 1;
    }
    assert!(
        wrong.is_empty(),
        "{} disagreement(s):\n{}",
        wrong.len(),
        wrong[..wrong.len().min(40)].join("\n")
    );
    // Not vacuous: most packets are decided exactly.
    assert!(
        policies > shipped.len(),
        "only {policies} policies rendered"
    );
    // (The undecidable ones meet wardwall's App-ID `ping` rules.)
    assert!(
        decided > 3 * undecided,
        "{decided} decided, {undecided} undecidable"
    );
}

/// The differential can fail: a rendering whose drops became allows
/// disagrees on the Contec probe.
#[test]
fn the_differential_sees_a_tampered_rendering() {
    let ir = common::compile_ok(common::hospital(), PROBE_DATE);
    let (file, _) = common::readable(&ir, Target::Panos);
    let tampered = file
        .contents
        .replace("<action>drop</action>", "<action>allow</action>");
    let d = reader::read(&tampered).unwrap();
    let contec = HOSPITAL_PROBES
        .iter()
        .find(|p| p.what.starts_with("contec monitor"))
        .expect("a Contec probe");
    let p = packet(contec.src, contec.dst, contec.proto);
    let want = ir.evaluate(&p);
    let o = d.decide(&p, zone(&ir, p.src).as_deref(), zone(&ir, p.dst).as_deref());
    assert!(!want.action.permits());
    assert!(o.action.permits(), "the tampered rule was not read");
}

// ------------------------------------------------------------ drift

/// The policy the base fixture implements (its header says which, and why
/// the zone behind `untrust` holds only the Contec network).
const DRIFT_POLICY: &str = "tests/policies/drift/panos.kdl";

/// The fixtures as the CLI names them (relative to the crate root, where
/// `common::wardwall()` runs).
fn fixture_path(name: &str) -> String {
    format!("{DIR}/{name}")
}

fn drift_ir() -> Ir {
    common::compile_ok(Path::new(DRIFT_POLICY), PROBE_DATE)
}

/// `wardwall drift DRIFT_POLICY --device panos=FIXTURE [extra...]`.
fn drift_cli(name: &str, extra: &[&str]) -> common::Ran {
    drift::cli(DRIFT_POLICY, Target::Panos, &fixture_path(name), extra)
}

/// The comparison `drift` reports: the fixture against the policy, less
/// what the policy's own rendering does too.
fn drift_of(ir: &Ir, name: &str) -> (Device, Comparison) {
    let d = device(name);
    let c = drift::beyond_baseline(ir, &d);
    (d, c)
}

/// The addresses behind a PAN-OS zone: the policy zones bound to it.
fn behind(ir: &Ir, place: &str) -> AddrSet {
    AddrSet::union_all(
        ir.zones
            .iter()
            .filter(|z| z.bindings.get("panos").is_some_and(|b| b == place))
            .map(|z| &z.addrs),
    )
}

fn object(ir: &Ir, name: &str) -> AddrSet {
    ir.objects
        .get(name)
        .unwrap_or_else(|| panic!("no object {name}"))
        .addrs
        .clone()
}

fn deciding(d: &Device, r: &DriftRegion) -> Decision {
    decision_at(d, *r.device.last().expect("a device path"))
        .expect("decided by a filter")
        .clone()
}

fn tcp_only(ports: (u16, u16)) -> ServiceSet {
    ServiceSet {
        tcp: PortSet::range(ports.0, ports.1),
        ..ServiceSet::default()
    }
}

/// The findings of one device in `drift --format json`.
fn json_findings(stdout: &str) -> Vec<serde_json::Value> {
    drift::json_device(stdout)["findings"]
        .as_array()
        .expect("findings")
        .clone()
}

#[test]
fn drift_the_base_fixture_agrees_with_its_policy() {
    let ran = drift_cli("running-config.xml", &[]).expect_code(0);
    assert!(
        ran.stdout.contains(&format!(
            "panos ({}): the device agrees with the policy",
            fixture_path("running-config.xml")
        )),
        "{}",
        ran.stdout
    );
    // The App-ID ping rule is inherent (wardwall writes one too), and the
    // skipped list is shown.
    assert!(ran.stdout.contains("inherent to panos"), "{}", ran.stdout);
    assert!(ran.stdout.contains("NAT (2 rules)"), "{}", ran.stdout);
    let json = drift_cli("running-config.xml", &["--format", "json"]).expect_code(0);
    assert!(json_findings(&json.stdout).is_empty(), "{}", json.stdout);

    // The library: without the baseline, the only differences are the
    // App-ID rule's, undecidable and inside icu-devices → infrastructure.
    let ir = drift_ir();
    let d = device("running-config.xml");
    let raw = compare(&ir, &d);
    assert!(!raw.regions.is_empty(), "the App-ID rule is compared");
    let icu_to_infra = Space::between(&behind(&ir, "icu-devices"), &behind(&ir, "infrastructure"));
    let text = fixture("running-config.xml");
    for r in &raw.regions {
        assert_eq!(r.kind, DriftKind::Undecidable, "{r:?}");
        let (at, why) = r.undecided.as_ref().unwrap();
        assert!(why.starts_with("application ping (App-ID)"), "{why}");
        assert_eq!(
            decision_at(&d, *at).unwrap().origin.line,
            line_of(&text, "<entry name=\"icu-ping-infrastructure\"")
        );
        assert!(r.space.is_subset(&icu_to_infra));
    }
    let (_, c) = drift_of(&ir, "running-config.xml");
    assert!(c.regions.is_empty(), "{:?}", c.regions);
    assert!(!c.inherent.is_empty());
}

#[test]
fn drift_the_inserted_allow_is_exactly_an_advisory_exposure() {
    let ir = drift_ir();
    let name = "exposure.xml";
    let text = fixture(name);
    let line = line_of(&text, "<entry name=\"temp-monitor-vendor-cloud\"");
    let (d, c) = drift_of(&ir, name);
    // The entry's box: contec-monitors (from quarantine) to anything behind
    // untrust, every service; the policy allows none of it.
    let expected = Space::from_parts(
        &object(&ir, "contec-monitors").intersection(&behind(&ir, "quarantine")),
        &behind(&ir, "untrust"),
        &ServiceSet::any(),
    )
    .intersection(&drift::compared(&ir, Target::Panos));
    assert!(!expected.is_empty());
    assert!(
        c.regions.iter().all(|r| r.kind == DriftKind::Exposure),
        "{:?}",
        c.regions
    );
    assert!(union_of(&c.regions, DriftKind::Exposure).same_as(&expected));
    let block = rule_index(&ir, "contec-cms8000.out");
    for r in &c.regions {
        assert_eq!(r.policy, Some(block), "denied by the advisory block");
        let dec = deciding(&d, r);
        assert_eq!((dec.action, dec.origin.line), (Action::Allow, line));
        assert!(
            dec.origin
                .text
                .starts_with("<entry name=\"temp-monitor-vendor-cloud\"")
        );
    }

    let ran = drift_cli(name, &[]).expect_code(1);
    let located = format!(
        "{}:{line}:17: <entry name=\"temp-monitor-vendor-cloud\"",
        fixture_path(name)
    );
    assert!(ran.stdout.contains(&located), "{}", ran.stdout);
    assert!(
        ran.stdout
            .contains("policy deny by advisory block contec-cms8000.out"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("[critical advisory-block-weakened]"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains(": 1 exposure, 0 breakage, 0 undecidable")
    );
    let json = drift_cli(name, &["--format", "json"]).expect_code(1);
    let findings = json_findings(&json.stdout);
    assert_eq!(findings.len(), 1, "{}", json.stdout);
    let f = &findings[0];
    assert_eq!(f["kind"], "exposure");
    assert_eq!(f["code"], "advisory-block-weakened");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["policy"]["rule"], "contec-cms8000.out");
    assert_eq!(f["device"]["action"], "allow");
    let entry = f["device"]["entries"].as_array().unwrap().last().unwrap();
    assert_eq!(entry["line"], line);
    assert_eq!(entry["rule"], "temp-monitor-vendor-cloud");
}

#[test]
fn drift_the_deleted_allow_is_exactly_a_breakage() {
    let ir = drift_ir();
    let name = "breakage.xml";
    let text = fixture(name);
    let lockdown = line_of(&text, "<entry name=\"quarantine-lockdown\"");
    let (d, c) = drift_of(&ir, name);
    let expected = Space::from_parts(
        &object(&ir, "contec-monitors"),
        &object(&ir, "central-station"),
        &tcp_only((515, 515)),
    );
    assert!(
        c.regions.iter().all(|r| r.kind == DriftKind::Breakage),
        "{:?}",
        c.regions
    );
    assert!(union_of(&c.regions, DriftKind::Breakage).same_as(&expected));
    let allow = rule_index(&ir, "contec-to-central-station");
    for r in &c.regions {
        assert_eq!(r.policy, Some(allow));
        let dec = deciding(&d, r);
        assert_eq!((dec.action, dec.origin.line), (Action::Deny, lockdown));
    }

    let ran = drift_cli(name, &[]).expect_code(1);
    assert!(
        ran.stdout
            .contains(": 0 exposure, 1 breakage, 0 undecidable")
    );
    assert!(
        ran.stdout
            .contains("device deny, policy allow by rule contec-to-central-station"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(&format!(
            "{}:{lockdown}:17: <entry name=\"quarantine-lockdown\"",
            fixture_path(name)
        )),
        "{}",
        ran.stdout
    );
}

#[test]
fn drift_the_scheduled_rule_is_undecidable_never_certain() {
    let ir = drift_ir();
    let name = "undecidable.xml";
    let text = fixture(name);
    let line = line_of(&text, "<entry name=\"vendor-hours-monitor-block\"");
    let (d, c) = drift_of(&ir, name);
    let expected = Space::from_parts(
        &object(&ir, "contec-monitors"),
        &object(&ir, "central-station"),
        &tcp_only((515, 515)),
    );
    assert!(
        c.regions.iter().all(|r| r.kind == DriftKind::Undecidable),
        "{:?}",
        c.regions
    );
    assert!(union_of(&c.regions, DriftKind::Undecidable).same_as(&expected));
    for r in &c.regions {
        let (at, why) = r.undecided.as_ref().expect("the undecidable entry");
        assert_eq!(why, "schedule vendor-hours");
        assert_eq!(decision_at(&d, *at).unwrap().origin.line, line);
        assert_eq!(r.policy, Some(rule_index(&ir, "contec-to-central-station")));
    }

    let ran = drift_cli(name, &[]).expect_code(1);
    assert!(
        ran.stdout
            .contains(": 0 exposure, 0 breakage, 1 undecidable")
    );
    assert!(
        ran.stdout.contains(&format!(
            "{}:{line}:17: <entry name=\"vendor-hours-monitor-block\" uuid=\"8a2b6c4d-2222-4e5f-8a9b-0000000000e2\"> (security rules of vsys1) — undecidable: schedule vendor-hours",
            fixture_path(name)
        )),
        "{}",
        ran.stdout
    );
    let json = drift_cli(name, &["--format", "json"]).expect_code(1);
    let findings = json_findings(&json.stdout);
    assert_eq!(findings.len(), 1, "{}", json.stdout);
    assert_eq!(findings[0]["kind"], "undecidable");
    assert_eq!(findings[0]["undecided"]["reason"], "schedule vendor-hours");
    assert_eq!(findings[0]["undecided"]["line"], line);
}

/// Packets at the edited boxes' edges, beside the edge packets.
const DRIFT_PROBES: &[(&str, &str, &str)] = &[
    ("10.20.8.5", "202.114.4.119", "tcp/443"),
    ("10.20.8.127", "202.114.4.0", "udp/53"),
    ("10.20.8.128", "202.114.4.255", "tcp/443"),
    ("10.20.8.0", "202.114.4.120", "icmp/echo-request"),
    ("202.114.4.119", "10.20.8.5", "tcp/515"),
    ("10.20.8.5", "10.10.20.30", "tcp/515"),
    ("10.20.8.127", "10.10.20.30", "tcp/515"),
    ("10.20.8.128", "10.10.20.30", "tcp/515"),
    ("10.20.8.5", "10.10.20.30", "tcp/514"),
    ("10.20.8.5", "10.10.20.30", "tcp/516"),
    ("10.20.8.5", "10.10.20.29", "tcp/515"),
    ("10.20.8.5", "10.10.20.99", "tcp/515"),
    ("10.20.1.0", "10.10.20.30", "udp/24105"),
    ("10.20.1.255", "10.10.20.30", "udp/24105"),
    ("10.20.2.0", "10.10.20.30", "udp/24105"),
    ("10.20.8.5", "10.10.0.53", "udp/53"),
    ("10.20.3.3", "10.10.0.123", "tcp/53"),
    ("10.20.3.3", "10.10.0.54", "udp/123"),
    ("10.20.3.3", "10.10.0.55", "udp/53"),
    ("10.20.3.3", "10.10.0.1", "icmp/echo-request"),
    ("10.10.0.161", "10.20.77.1", "udp/162"),
    ("10.10.0.161", "10.20.77.2", "udp/161"),
    ("10.10.0.161", "10.20.8.1", "udp/161"),
    ("10.10.0.161", "10.20.255.1", "udp/163"),
    ("10.10.0.5", "10.10.0.6", "tcp/22"),
    ("10.20.8.5", "10.20.8.6", "tcp/22"),
    ("10.10.20.30", "10.10.21.4", "tcp/443"),
    ("10.10.20.30", "202.114.4.1", "tcp/443"),
    ("10.10.20.30", "93.184.216.34", "tcp/443"),
    ("fd00::1", "fd00::2", "tcp/443"),
];

#[test]
fn drift_regions_hold_exactly_the_packets_the_device_decides_otherwise() {
    let ir = drift_ir();
    let mut packets: Vec<Packet> = DRIFT_PROBES
        .iter()
        .map(|(s, d, p)| packet(s, d, p))
        .collect();
    packets.extend(common::edge_packets::edge_packets(&ir, 0xd71f_7a05, 4000));
    for (name, must_hit) in [
        ("running-config.xml", None),
        ("exposure.xml", Some(DriftKind::Exposure)),
        ("breakage.xml", Some(DriftKind::Breakage)),
        ("undecidable.xml", Some(DriftKind::Undecidable)),
    ] {
        let d = device(name);
        let c = compare(&ir, &d);
        let mut wrong = Vec::new();
        let mut hits = [0usize; 3];
        for p in &packets {
            let want = ir.evaluate(p);
            let (from, to) = (zone(&ir, p.src), zone(&ir, p.dst));
            let o = d.decide(p, from.as_deref(), to.as_deref());
            let allows = want.action.permits();
            let expected = if from.is_none() || to.is_none() {
                None
            } else if o.undecided.is_empty() {
                match (o.action.permits(), allows) {
                    (true, false) => Some(DriftKind::Exposure),
                    (false, true) => Some(DriftKind::Breakage),
                    _ => None,
                }
            } else {
                let disagrees = std::iter::once(o.action)
                    .chain(o.undecided.iter().map(|e| e.decision.action))
                    .any(|a| a.permits() != allows);
                disagrees.then_some(DriftKind::Undecidable)
            };
            let found: Vec<&DriftRegion> =
                c.regions.iter().filter(|r| r.space.contains(p)).collect();
            assert!(found.len() <= 1, "{name}: {p} in {} regions", found.len());
            let got = found.first().map(|r| r.kind);
            if got != expected {
                wrong.push(format!(
                    "{name}: {p} ({from:?} -> {to:?}): expected {expected:?}, in {got:?}; device {} (undecided {}), policy {} by {}",
                    o.action,
                    o.undecided.len(),
                    want.action,
                    ir.verdict_rule_name(&want)
                ));
                continue;
            }
            let Some(r) = found.first() else { continue };
            hits[r.kind as usize] += 1;
            if r.kind != DriftKind::Undecidable {
                // The region names the deciding rule and entry.
                let (_, dec) = o.steps.last().unwrap();
                if r.policy != want.rule || deciding(&d, r).origin != dec.origin {
                    wrong.push(format!(
                        "{name}: {p}: region says rule {:?} and line {}, decide says rule {:?} and line {}",
                        r.policy,
                        deciding(&d, r).origin.line,
                        want.rule,
                        dec.origin.line
                    ));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{} wrong:\n{}",
            wrong.len(),
            wrong[..wrong.len().min(30)].join("\n")
        );
        if let Some(kind) = must_hit {
            assert!(
                hits[kind as usize] > 0,
                "{name}: no packet in a {kind:?} region"
            );
        }
        // The App-ID rule's traffic is undecidable in every copy.
        assert!(
            hits[DriftKind::Undecidable as usize] > 0,
            "{name}: {hits:?}"
        );
    }
}

#[test]
fn drift_text_markdown_and_json_report_the_same_findings() {
    for name in ["exposure.xml", "breakage.xml", "undecidable.xml"] {
        let text = drift_cli(name, &[]).expect_code(1).stdout;
        let markdown = drift_cli(name, &["--format", "markdown"])
            .expect_code(1)
            .stdout;
        let json = drift_cli(name, &["--format", "json"]).expect_code(1).stdout;
        let findings = json_findings(&json);
        assert!(!findings.is_empty());
        for kind in ["exposure", "breakage", "undecidable"] {
            let in_json = findings.iter().filter(|f| f["kind"] == kind).count();
            let sign = match kind {
                "exposure" => '+',
                "breakage" => '-',
                _ => '?',
            };
            let in_text = text
                .lines()
                .filter(|l| l.starts_with(&format!("{sign} {kind}")))
                .count();
            let in_markdown = markdown
                .lines()
                .filter(|l| l.starts_with(&format!("| {sign} | {kind} |")))
                .count();
            assert_eq!(
                (in_text, in_markdown),
                (in_json, in_json),
                "{name} {kind}:\n{text}\n{markdown}"
            );
        }
        for f in &findings {
            let e = f["undecided"]
                .as_object()
                .map(|_| &f["undecided"])
                .unwrap_or_else(|| f["device"]["entries"].as_array().unwrap().last().unwrap());
            let located = format!(
                "{}:{}:{}: {}",
                fixture_path(name),
                e["line"],
                e["column"],
                e["text"].as_str().unwrap()
            );
            assert!(text.contains(&located), "{located} not in\n{text}");
            assert!(markdown.contains(&located), "{located} not in\n{markdown}");
            let by = format!("by rule {}", f["policy"]["rule"].as_str().unwrap());
            let advisory = format!(
                "by advisory block {}",
                f["policy"]["rule"].as_str().unwrap()
            );
            assert!(
                text.contains(&by) || text.contains(&advisory),
                "{by} not in\n{text}"
            );
            assert!(
                markdown.contains(&by) || markdown.contains(&advisory),
                "{by} not in\n{markdown}"
            );
        }
    }
}

#[test]
fn drift_an_unreadable_device_file_exits_2_at_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let base = fixture("running-config.xml");
    let bad_action = "<action>permit</action>";
    let cases = [
        (
            "bad-action.xml",
            base.replacen("<action>allow</action>", bad_action, 1),
            bad_action,
            "action `permit`",
        ),
        (
            "not-xml.xml",
            base.replacen("<log-end>yes</log-end>", "<log-end>yes</log-start>", 1),
            "<log-end>yes</log-start>",
            "not well-formed XML",
        ),
    ];
    for (file, contents, needle, message) in cases {
        let path = dir.path().join(file);
        std::fs::write(&path, &contents).unwrap();
        let line = line_of(&contents, needle);
        let ran = common::run([
            "drift",
            DRIFT_POLICY,
            "--device",
            &format!("panos={}", path.display()),
        ])
        .expect_code(2);
        let at = format!("{}:{line}:", path.display());
        assert!(ran.stderr.contains(&at), "{at} not in {}", ran.stderr);
        assert!(ran.stderr.contains(message), "{}", ran.stderr);
        let col = ran.stderr.split(&at).nth(1).unwrap();
        assert!(
            col.split(':')
                .next()
                .unwrap()
                .parse::<usize>()
                .is_ok_and(|c| c > 0),
            "no column in {}",
            ran.stderr
        );
        assert!(
            ran.stdout.is_empty(),
            "nothing half-reported: {}",
            ran.stdout
        );
    }
}

#[test]
fn explain_against_the_exposure_copy_names_the_inserted_entry() {
    let name = "exposure.xml";
    let line = line_of(&fixture(name), "<entry name=\"temp-monitor-vendor-cloud\"");
    let args = |file: &str| {
        common::run([
            "explain",
            DRIFT_POLICY,
            "10.20.8.5",
            "202.114.4.119",
            "tcp/443",
            "--target",
            "panos",
            "--against",
            &fixture_path(file),
            "--date",
            PROBE_DATE,
        ])
    };
    let ran = args(name).expect_code(1);
    assert!(
        ran.stdout.contains("panos DISAGREES with the policy"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(&format!(
            "{}:{line}:17: <entry name=\"temp-monitor-vendor-cloud\"",
            fixture_path(name)
        )),
        "{}",
        ran.stdout
    );
    // The base fixture drops it by the Contec block.
    let base = args("running-config.xml").expect_code(0);
    assert!(
        base.stdout.contains("panos agrees with the policy"),
        "{}",
        base.stdout
    );
    assert!(
        base.stdout
            .contains("<entry name=\"block-contec-cms8000-out\"")
    );
}
