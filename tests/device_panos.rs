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

use crate::common::{self, probes::HOSPITAL_PROBES, probes::PROBE_DATE};
use wardwall::ir::{Ir, Packet};
use wardwall::read::device::{Device, Outcome};
use wardwall::read::export::panos::{self as reader, Parsed};
use wardwall::vocab::{Action, Target};

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
    let python = std::env::var_os("WARDWALL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let ok = Command::new(&python)
        .args(["-c", "import panos.firewall"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    common::skip::skip(&format!(
        "pan-os-python is not importable with {} (set WARDWALL_PYTHON; see .ci/run)",
        python.display()
    ));
    None
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
