//! The Cisco device export reader (`Reader::device`, issue 13) on
//! `show running-config` files written from Cisco's documentation
//! (`tests/fixtures/devices/cisco/`, sources in each file's header), not
//! by wardwall's renderer: the verdicts of concrete packets with the
//! deciding line, the skipped summary, hand edits of each kind (exposure,
//! breakage, undecidable), a cross-check of the block structure with the
//! PyPI parser ciscoconfparse2 and of the IPv4 entries with cisco-acl, and
//! a differential test on wardwall's own output for every policy.

use std::path::Path;

use crate::common::drift::{self, filter_decision, rule_index, union_of};
use crate::common::{self, probes::HOSPITAL_PROBES, probes::PROBE_DATE};
use wardwall::analysis::space::Space;
use wardwall::diff::drift::{Comparison, DriftKind, compare};
use wardwall::ir::{Ir, Packet, Proto};
use wardwall::read::device::Device;
use wardwall::vocab::{Action, Target};

const DIR: &str = "tests/fixtures/devices/cisco";

fn fixture(name: &str) -> String {
    common::read(Path::new(DIR).join(name))
}

fn device(text: &str) -> Device {
    wardwall::registry::reader(Target::Cisco)
        .device(text)
        .unwrap_or_else(|e| panic!("the reader refuses the fixture: {e}"))
}

/// The 1-based line of the only line that is `entry` (trimmed) after the
/// line `block` (the ACL or interface header).
fn line_in(text: &str, block: &str, entry: &str) -> usize {
    let start = text
        .lines()
        .position(|l| l == block)
        .unwrap_or_else(|| panic!("no `{block}` in the fixture"));
    let found = text
        .lines()
        .enumerate()
        .skip(start + 1)
        .take_while(|(_, l)| l.starts_with(' ') || *l == block)
        .find(|(_, l)| l.trim() == entry)
        .unwrap_or_else(|| panic!("no `{entry}` under `{block}`"));
    found.0 + 1
}

/// What the device decides, and the line and text of the decision that
/// settled it (the last step met).
fn decide(
    d: &Device,
    src: &str,
    dst: &str,
    proto: &str,
    ingress: &str,
    egress: &str,
) -> (Action, usize, String, usize) {
    let packet = Packet::parse(src, dst, proto).unwrap();
    let o = d.decide(&packet, Some(ingress), Some(egress));
    let (line, text) = o
        .steps
        .last()
        .map_or((0, "no filter".to_string()), |(_, dec)| {
            (dec.origin.line, dec.origin.text.clone())
        });
    (o.action, line, text, o.undecided.len())
}

/// One expected verdict: the packet, where it enters and leaves, the
/// action and the deciding entry (`None`: no filter met).
struct Case {
    what: &'static str,
    src: &'static str,
    dst: &'static str,
    proto: &'static str,
    ingress: &'static str,
    egress: &'static str,
    action: Action,
    /// (block header, entry text), or (`""`, implicit text) for line 0.
    by: Option<(&'static str, &'static str)>,
}

const QUARANTINE: &str = "ip access-list extended QUARANTINE-IN";
const ICU: &str = "ip access-list extended ICU-MONITORS-IN";
const INTERNET: &str = "ip access-list extended INTERNET-IN";
const TO_QUARANTINE: &str = "ip access-list extended TO-QUARANTINE";
const CLINICAL: &str = "ip access-list extended CLINICAL-APPS-IN";
const ICU6: &str = "ipv6 access-list ICU-MONITORS-IN6";
const CONTEC_BLOCK: &str = "10 deny ip any 202.114.4.0 0.0.0.255 log";

const fn case(
    what: &'static str,
    (src, dst, proto): (&'static str, &'static str, &'static str),
    (ingress, egress): (&'static str, &'static str),
    action: Action,
    by: Option<(&'static str, &'static str)>,
) -> Case {
    Case {
        what,
        src,
        dst,
        proto,
        ingress,
        egress,
        action,
        by,
    }
}

use Action::{Allow, Deny};

/// The base fixture's segmentation, packet by packet.
fn base_cases() -> Vec<Case> {
    let (q, up, apps, infra, icu) = (
        "Vlan128",
        "GigabitEthernet1/0/1",
        "Vlan110",
        "Vlan100",
        "Vlan120",
    );
    vec![
        case(
            "contec monitor to the backdoor .119",
            ("10.20.8.5", "202.114.4.119", "tcp/515"),
            (q, up),
            Deny,
            Some((QUARANTINE, CONTEC_BLOCK)),
        ),
        case(
            "contec monitor to its central station",
            ("10.20.8.5", "10.10.20.30", "tcp/515"),
            (q, apps),
            Allow,
            Some((
                QUARANTINE,
                "20 permit tcp object-group CONTEC-MONITORS object-group CENTRAL-STATIONS eq lpd log",
            )),
        ),
        case(
            "contec monitor ssh to the central station",
            ("10.20.8.5", "10.10.20.30", "tcp/22"),
            (q, apps),
            Deny,
            Some((QUARANTINE, "40 deny ip any any log")),
        ),
        case(
            "an address outside the object-group range",
            ("10.20.8.127", "10.10.20.30", "tcp/515"),
            (q, apps),
            Deny,
            Some((QUARANTINE, "40 deny ip any any log")),
        ),
        case(
            "contec DNS over udp (tcp-udp eq domain)",
            ("10.20.8.5", "10.10.0.53", "udp/53"),
            (q, infra),
            Allow,
            Some((
                QUARANTINE,
                "30 permit object-group DNS-NTP 10.20.8.0 0.0.0.127 object-group DNS-NTP-SERVERS",
            )),
        ),
        case(
            "contec DNS over tcp",
            ("10.20.8.5", "10.10.0.54", "tcp/53"),
            (q, infra),
            Allow,
            Some((
                QUARANTINE,
                "30 permit object-group DNS-NTP 10.20.8.0 0.0.0.127 object-group DNS-NTP-SERVERS",
            )),
        ),
        case(
            "contec NTP",
            ("10.20.8.5", "10.10.0.123", "udp/123"),
            (q, infra),
            Allow,
            Some((
                QUARANTINE,
                "30 permit object-group DNS-NTP 10.20.8.0 0.0.0.127 object-group DNS-NTP-SERVERS",
            )),
        ),
        case(
            "NTP is udp only",
            ("10.20.8.5", "10.10.0.123", "tcp/123"),
            (q, infra),
            Deny,
            Some((QUARANTINE, "40 deny ip any any log")),
        ),
        case(
            "ICU monitor to the central station",
            ("10.20.1.7", "10.10.20.30", "udp/24105"),
            (icu, apps),
            Allow,
            Some((
                ICU,
                "20 permit udp object-group ICU-MONITORS object-group CENTRAL-STATIONS eq 24105",
            )),
        ),
        case(
            "ICU monitor to the backdoor range",
            ("10.20.1.7", "202.114.4.1", "tcp/443"),
            (icu, up),
            Deny,
            Some((ICU, CONTEC_BLOCK)),
        ),
        case(
            "ICU monitor DNS",
            ("10.20.1.7", "10.10.0.53", "udp/53"),
            (icu, infra),
            Allow,
            Some((
                ICU,
                "30 permit object-group DNS-NTP object-group ICU-MONITORS object-group DNS-NTP-SERVERS",
            )),
        ),
        case(
            "ICU monitor ping",
            ("10.20.1.7", "10.10.0.1", "icmp/8"),
            (icu, infra),
            Allow,
            Some((
                ICU,
                "40 permit icmp 10.20.1.0 0.0.0.255 10.10.0.0 0.0.0.255 echo",
            )),
        ),
        // The infrastructure VLAN has no ACL; the quarantine's outbound ACL decides.
        case(
            "a resolver's reply from port 53 is no new flow",
            ("10.10.0.53", "10.20.8.5", "udp/5353"),
            (infra, q),
            Deny,
            Some((TO_QUARANTINE, "50 deny ip any any log")),
        ),
        case(
            "echo-reply into the quarantine",
            ("10.10.0.53", "10.20.8.5", "icmp/0"),
            (infra, q),
            Allow,
            Some((
                TO_QUARANTINE,
                "30 permit icmp any 10.20.8.0 0.0.0.255 echo-reply",
            )),
        ),
        case(
            "unreachable into the quarantine",
            ("10.10.0.53", "10.20.8.5", "icmp/3"),
            (infra, q),
            Allow,
            Some((
                TO_QUARANTINE,
                "40 permit icmp any 10.20.8.0 0.0.0.255 unreachable",
            )),
        ),
        case(
            "infrastructure to clinical apps: no ACL anywhere",
            ("10.10.0.5", "10.10.20.30", "tcp/443"),
            (infra, apps),
            Allow,
            None,
        ),
        case(
            "central station replies are `established` only",
            ("10.10.20.30", "10.20.8.5", "tcp/515"),
            (apps, q),
            Deny,
            Some((CLINICAL, "30 deny ip any any log")),
        ),
        // Non-contiguous wildcard 0.0.254.255: even third octets of 10.20/16.
        case(
            "internet to an even clinical subnet",
            ("198.51.100.7", "10.20.8.5", "tcp/443"),
            (up, q),
            Deny,
            Some((INTERNET, "20 deny ip any 10.20.0.0 0.0.254.255 log")),
        ),
        case(
            "vendor to an odd clinical subnet",
            ("198.51.100.7", "10.20.9.5", "tcp/443"),
            (up, "Vlan129"),
            Allow,
            Some((
                INTERNET,
                "40 permit tcp 198.51.100.0 0.0.0.255 10.20.0.0 0.0.255.255 eq 443",
            )),
        ),
        case(
            "the backdoor range calling in",
            ("202.114.4.9", "10.40.1.1", "tcp/443"),
            (up, "Vlan10"),
            Deny,
            Some((INTERNET, "10 deny ip 202.114.4.0 0.0.0.255 any log")),
        ),
        case(
            "staff web (numbered ACL 110, port name www)",
            ("10.40.3.3", "93.184.216.34", "tcp/80"),
            ("Vlan10", up),
            Allow,
            Some((
                "",
                "access-list 110 permit tcp 10.40.0.0 0.0.255.255 any eq www",
            )),
        ),
        case(
            "staff other ports",
            ("10.40.3.3", "93.184.216.34", "tcp/8080"),
            ("Vlan10", up),
            Deny,
            Some(("", "access-list 110 deny   ip any any log")),
        ),
        case(
            "IPv6 monitor feed",
            ("FD42:1:0:120::5", "FD42:1:0:20::30", "udp/24105"),
            (icu, apps),
            Allow,
            Some((
                ICU6,
                "sequence 20 permit udp object-group ICU-MONITORS-V6 host FD42:1:0:20::30 eq 24105",
            )),
        ),
        case(
            "IPv6: the implicit deny",
            ("FD42:1:0:120::5", "FD42:1:0:10::53", "udp/53"),
            (icu, infra),
            Deny,
            Some((
                "",
                "implicit deny ipv6 any any at the end of IPv6 ACL ICU-MONITORS-IN6",
            )),
        ),
        case(
            "IPv6: the implicit nd-ns permit",
            ("FD42:1:0:120::5", "FD42:1:0:10::53", "icmpv6/135"),
            (icu, infra),
            Allow,
            Some((
                "",
                "implicit permit icmp any any nd-ns at the end of IPv6 ACL ICU-MONITORS-IN6",
            )),
        ),
        case(
            "IPv6 on an interface with no IPv6 filter",
            ("FD42:1:0:10::5", "FD42:1:0:120::5", "udp/53"),
            (infra, icu),
            Allow,
            None,
        ),
        case(
            "a shut-down port forwards nothing",
            ("10.20.1.9", "10.10.0.53", "udp/53"),
            ("GigabitEthernet1/0/3", infra),
            Deny,
            Some(("interface GigabitEthernet1/0/3", "shutdown")),
        ),
    ]
}

/// Checks every case on `text`, after `edit` changed the expectations.
fn check(text: &str, cases: &[Case]) {
    let d = device(text);
    let mut wrong = Vec::new();
    for c in cases {
        let got = decide(&d, c.src, c.dst, c.proto, c.ingress, c.egress);
        let (line, entry) = match c.by {
            None => (0, "no filter".to_string()),
            Some(("", implicit)) if implicit.starts_with("implicit") => (0, implicit.to_string()),
            Some(("", numbered)) => (
                text.lines()
                    .position(|l| l == numbered)
                    .expect("numbered line")
                    + 1,
                numbered.to_string(),
            ),
            Some((block, "shutdown")) => (
                line_in(text, block, "shutdown"),
                format!(
                    "shutdown (interface {} is shut down: it forwards nothing)",
                    &block[10..]
                ),
            ),
            Some((block, entry)) => (line_in(text, block, entry), entry.to_string()),
        };
        if (got.0, got.1, got.2.as_str()) != (c.action, line, entry.as_str()) {
            wrong.push(format!(
                "{}: expected {} at line {line} `{entry}`, got {} at line {} `{}`",
                c.what, c.action, got.0, got.1, got.2
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_base_fixture_decides_the_segmentation() {
    let text = fixture("core-sw1.running-config");
    check(&text, &base_cases());
    let d = device(&text);
    // No entry of the base fixture is undecidable.
    for c in base_cases() {
        assert_eq!(
            decide(&d, c.src, c.dst, c.proto, c.ingress, c.egress).3,
            0,
            "{}",
            c.what
        );
    }
}

#[test]
fn the_base_fixture_lists_what_it_skips_and_every_interface() {
    let d = device(&fixture("core-sw1.running-config"));
    assert_eq!(
        d.skipped,
        [
            "VRF definitions (1 VRF)",
            "logging (2 lines)",
            "AAA and users (5 lines)",
            "QoS (3 maps)",
            "NAT (1 rule)",
            "static routes (2 routes)",
            "SNMP (3 lines)",
            "routing protocols (1 process)",
            "control plane (1 block)",
            "banners (1 banner)",
            "management lines (line, access-class) (3 line blocks)",
            "NTP (1 line)",
        ]
    );
    assert_eq!(
        d.places.as_deref().unwrap(),
        [
            "GigabitEthernet0/0",
            "GigabitEthernet1/0/1",
            "GigabitEthernet1/0/2",
            "GigabitEthernet1/0/3",
            "Port-channel1",
            "Vlan1",
            "Vlan10",
            "Vlan100",
            "Vlan110",
            "Vlan120",
            "Vlan128",
        ]
    );
    let names: Vec<Vec<&str>> = d
        .layers
        .iter()
        .map(|l| l.filters.iter().map(|f| f.name.as_str()).collect())
        .collect();
    assert_eq!(
        names,
        [
            vec![
                "ACL INTERNET-IN in on GigabitEthernet1/0/1",
                "interface GigabitEthernet1/0/3 (shut down)",
                "interface Vlan1 (shut down)",
                "ACL 110 in on Vlan10",
                "ACL CLINICAL-APPS-IN in on Vlan110",
                "ACL ICU-MONITORS-IN in on Vlan120",
                "IPv6 ACL ICU-MONITORS-IN6 in on Vlan120",
                "ACL QUARANTINE-IN in on Vlan128",
            ],
            vec![
                "interface GigabitEthernet1/0/3 (shut down)",
                "interface Vlan1 (shut down)",
                "ACL TO-QUARANTINE out on Vlan128",
            ],
        ]
    );
}

/// Replaces the expectation of the case `what`.
fn with(
    mut cases: Vec<Case>,
    what: &str,
    action: Action,
    by: (&'static str, &'static str),
) -> Vec<Case> {
    let c = cases.iter_mut().find(|c| c.what == what).expect("a case");
    c.action = action;
    c.by = Some(by);
    cases
}

#[test]
fn an_allow_inserted_before_the_contec_block_is_an_exposure() {
    let text = fixture("core-sw1.exposure.running-config");
    let cases = with(
        base_cases(),
        "contec monitor to the backdoor .119",
        Allow,
        (
            QUARANTINE,
            "5 permit ip 10.20.8.0 0.0.0.255 202.114.4.0 0.0.0.255",
        ),
    );
    check(&text, &cases);
}

#[test]
fn a_deleted_allow_is_a_breakage() {
    let text = fixture("core-sw1.breakage.running-config");
    let cases = with(
        base_cases(),
        "ICU monitor to the central station",
        Deny,
        (ICU, "50 deny ip any any log"),
    );
    check(&text, &cases);
}

#[test]
fn a_scheduled_entry_is_undecidable_never_guessed() {
    let text = fixture("core-sw1.undecidable.running-config");
    check(&text, &base_cases());
    let d = device(&text);
    let packet = Packet::parse("198.51.100.7", "10.10.20.30", "tcp/22").unwrap();
    let o = d.decide(&packet, Some("GigabitEthernet1/0/1"), Some("Vlan110"));
    assert_eq!(
        o.action, Deny,
        "taken not to match, the entry after it decides"
    );
    assert_eq!(o.undecided.len(), 1);
    let e = o.undecided[0];
    assert_eq!(
        e.decision.origin.text,
        "35 permit tcp 198.51.100.0 0.0.0.255 host 10.10.20.30 eq 22 time-range VENDOR-WINDOW"
    );
    assert_eq!(
        e.decision.origin.line,
        line_in(&text, INTERNET, &e.decision.origin.text)
    );
    assert!(
        e.undecidable
            .as_deref()
            .unwrap()
            .contains("time-range VENDOR-WINDOW"),
        "{:?}",
        e.undecidable
    );
    assert!(
        d.skipped
            .iter()
            .any(|s| s == "time-range definitions (1 time-range)")
    );
    // Outside the entry's box nothing is undecided.
    let other = Packet::parse("198.51.100.7", "10.10.20.30", "tcp/23").unwrap();
    assert!(
        d.decide(&other, Some("GigabitEthernet1/0/1"), Some("Vlan110"))
            .undecided
            .is_empty()
    );
}

// ------------------------------------------------------------ third parties

/// The Python that has the third-party parsers, or a visible skip.
fn python_with(module: &str, install: &str) -> Option<std::path::PathBuf> {
    common::skip::python_with(
        &["WARDWALL_CISCO_ACL_PYTHON", "WARDWALL_PYTHON"],
        module,
        install,
    )
}

fn fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".running-config"))
        .collect();
    names.sort();
    assert!(names.len() >= 4, "{names:?}");
    names
}

/// ciscoconfparse2 reads every fixture's block structure: the same
/// interfaces, the same ACL bindings, and every entry the reader keeps is a
/// child of the ACL it was bound as.
#[test]
fn ciscoconfparse2_sees_the_same_interfaces_acls_and_entries() {
    let Some(python) = python_with("ciscoconfparse2", "ciscoconfparse2") else {
        return;
    };
    for name in fixtures() {
        let path = Path::new(DIR).join(&name);
        let out = std::process::Command::new(&python)
            .arg("tests/device_cisco_confparse.py")
            .arg(&path)
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let d = device(&common::read(&path));
        let interfaces: Vec<&str> = parsed["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            d.places.as_deref().unwrap(),
            interfaces.as_slice(),
            "{name}"
        );
        // Bindings: `ACL X in on IFACE` per parsed interface child.
        let mut bound: Vec<String> = Vec::new();
        for i in parsed["interfaces"].as_array().unwrap() {
            for b in i["bindings"].as_array().unwrap() {
                bound.push(format!(
                    "{} on {}",
                    b.as_str().unwrap(),
                    i["name"].as_str().unwrap()
                ));
            }
        }
        let mut ours: Vec<String> = d
            .layers
            .iter()
            .flat_map(|l| &l.filters)
            .filter(|f| !f.name.ends_with("(shut down)"))
            .map(|f| f.name.clone())
            .collect();
        bound.sort();
        ours.sort();
        assert_eq!(ours, bound, "{name}");
        // Every entry with a line is that line of the ACL's block.
        let acls = parsed["acls"].as_object().unwrap();
        for f in d.layers.iter().flat_map(|l| &l.filters) {
            let Some(acl) = f.name.split(' ').rev().nth(3) else {
                continue;
            };
            let Some(children) = acls.get(acl) else {
                continue;
            };
            let lines: Vec<u64> = children
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["line"].as_u64().unwrap())
                .collect();
            for e in &f.entries {
                if e.decision.origin.line > 0 {
                    assert!(
                        lines.contains(&(e.decision.origin.line as u64)),
                        "{name}: {} line {} is no child of {acl} for ciscoconfparse2",
                        f.name,
                        e.decision.origin.line
                    );
                }
            }
        }
        assert!(!acls.is_empty(), "{name}: ciscoconfparse2 found no ACL");
    }
}

/// cisco-acl parses every IPv4 entry of every fixture that names no object
/// group (it reads none) with the same action and logging.
#[test]
fn cisco_acl_parses_the_fixture_entries_alike() {
    let Some(python) = python_with("cisco_acl", "cisco-acl==3.3.5") else {
        return;
    };
    let mut compared = 0;
    for name in fixtures() {
        let path = Path::new(DIR).join(&name);
        let text = common::read(&path);
        let d = device(&text);
        let mut lines = Vec::new();
        for f in d.layers.iter().flat_map(|l| &l.filters) {
            for e in &f.entries {
                let t = &e.decision.origin.text;
                if e.decision.origin.line > 0
                    && !t.contains("object-group")
                    && !t.contains("time-range")
                    && !t.starts_with("sequence ")
                    && !t.starts_with("access-list ")
                    && !lines.iter().any(|(l, _, _)| l == t)
                {
                    lines.push((t.clone(), e.decision.action, e.decision.log));
                }
            }
        }
        let script = "import sys, json\nfrom cisco_acl import Ace\nfor l in sys.stdin.read().splitlines():\n    a = Ace(l)\n    print(json.dumps({'action': a.action, 'log': bool(a.option.logs)}))\n";
        let mut child = std::process::Command::new(&python)
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let input: String = lines.iter().map(|(l, _, _)| format!("{l}\n")).collect();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let records: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), lines.len(), "{name}");
        for ((line, action, log), rec) in lines.iter().zip(&records) {
            let theirs = rec["action"].as_str().unwrap();
            assert_eq!(theirs == "permit", action.permits(), "{name}: `{line}`");
            assert_eq!(rec["log"].as_bool().unwrap(), *log, "{name}: `{line}`");
            compared += 1;
        }
    }
    assert!(compared >= 10, "only {compared} entries compared");
}

// ------------------------------------------------------------ wardwall's own output

/// The policies rendered for Cisco: every shipped one, and the test
/// policies Cisco renders.
fn policies() -> Vec<(std::path::PathBuf, Ir)> {
    let mut out = Vec::new();
    let mut tests: Vec<_> = std::fs::read_dir("tests/policies")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    tests.sort();
    for (i, path) in common::shipped_policies()
        .into_iter()
        .chain(tests)
        .enumerate()
    {
        let ir = common::compile_ok(&path, PROBE_DATE);
        if common::try_render(&ir, Target::Cisco).is_err() {
            assert!(
                i >= common::shipped_policies().len(),
                "{} must render",
                path.display()
            );
            continue;
        }
        out.push((path, ir));
    }
    out
}

/// The one designed difference: Cisco permits IPv6 neighbour discovery
/// (ICMPv6 135/136) the IR leaves to its default (tests/conformance.rs).
fn neighbour_discovery(packet: &Packet, policy: &wardwall::ir::Verdict) -> bool {
    packet.src.is_ipv6()
        && matches!(packet.proto, Proto::Icmp { ty: 135 | 136 })
        && policy.rule.is_none()
}

/// Rendered by wardwall, read as a device: every probe and edge packet is
/// decided as the IR decides it, by the IR's rule where the entry names one.
#[test]
fn wardwall_output_read_as_a_device_decides_as_the_ir() {
    let mut wrong = Vec::new();
    let mut compared = 0;
    for (i, (path, ir)) in policies().into_iter().enumerate() {
        let (file, _) = common::readable(&ir, Target::Cisco);
        let d = wardwall::registry::reader(Target::Cisco)
            .device(&file.contents)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut packets: Vec<Packet> = Vec::new();
        if path == common::hospital() {
            packets.extend(
                HOSPITAL_PROBES
                    .iter()
                    .map(|p| Packet::parse(p.src, p.dst, p.proto).unwrap()),
            );
        }
        packets.extend(common::edge_packets::edge_packets(
            &ir,
            0xd0c0_0000 + i as u64,
            400,
        ));
        let place = |a| {
            ir.zone_of(a)
                .and_then(|z| z.bindings.get("cisco"))
                .map(String::as_str)
        };
        for packet in &packets {
            // A zone without a Cisco interface meets no ACL wardwall wrote.
            let Some(ingress) = place(packet.src) else {
                continue;
            };
            let policy = ir.evaluate(packet);
            let o = d.decide(packet, Some(ingress), place(packet.dst));
            compared += 1;
            let at = format!("{} {packet:?} in {ingress}", path.display());
            if o.action.permits() != policy.action.permits()
                && !neighbour_discovery(packet, &policy)
            {
                wrong.push(format!(
                    "{at}: the IR says {} by `{}`, the device {} by {:?}",
                    policy.action,
                    ir.verdict_rule_name(&policy),
                    o.action,
                    o.steps.last().map(|s| &s.1.origin.text)
                ));
            }
            if let Some(rule) = o.steps.last().and_then(|s| s.1.origin.rule.as_ref())
                && rule != ir.verdict_rule_name(&policy)
            {
                wrong.push(format!(
                    "{at}: the IR decides by `{}`, the device by `{rule}`",
                    ir.verdict_rule_name(&policy)
                ));
            }
        }
    }
    assert!(
        compared >= HOSPITAL_PROBES.len() + 400,
        "only {compared} packets compared"
    );
    assert!(
        wrong.is_empty(),
        "{} disagreement(s):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// The differential test can fail: the hospital's Contec block turned
/// into a permit is caught.
#[test]
fn a_tampered_rendering_read_as_a_device_disagrees() {
    let ir = common::compile_ok(common::hospital(), PROBE_DATE);
    let (file, _) = common::readable(&ir, Target::Cisco);
    let from = "deny ip 10.20.8.0 0.0.0.255 202.114.4.0 0.0.0.255 log";
    assert!(file.contents.contains(from));
    let tampered = file.contents.replace(
        from,
        "permit ip 10.20.8.0 0.0.0.255 202.114.4.0 0.0.0.255 log",
    );
    let d = device(&tampered);
    let probe = HOSPITAL_PROBES
        .iter()
        .find(|p| p.what.starts_with("contec monitor"))
        .unwrap();
    let packet = Packet::parse(probe.src, probe.dst, probe.proto).unwrap();
    let ingress = ir.zone_of(packet.src).unwrap().bindings["cisco"].clone();
    assert!(!ir.evaluate(&packet).action.permits());
    assert!(d.decide(&packet, Some(&ingress), None).action.permits());
}

// ------------------------------------------------------------ drift
//
// `wardwall drift` on the fixtures, against the policy they implement
// (tests/policies/drift/cisco.kdl). The drift fixtures are the fixtures
// above with one edit (INFRA-IN on Vlan100, see the policy's header): the
// base fixture's infrastructure VLAN reaches the Contec range the policy
// blocks, which the first test shows.

const DRIFT_POLICY: &str = "tests/policies/drift/cisco.kdl";

/// The INFRA-IN edit of the drift fixtures: the lines it adds.
const INFRA_EDIT: [&str; 5] = [
    " ip access-group INFRA-IN in",
    "ip access-list extended INFRA-IN",
    " 10 remark CISA ICSMA-25-030-01 / FDA: block the Contec CMS8000 backdoor range",
    " 10 deny ip any 202.114.4.0 0.0.0.255 log",
    " 20 permit ip any any",
];

/// The variants of the fixture: base, and one hand edit of each kind.
const VARIANTS: [&str; 4] = ["", ".exposure", ".breakage", ".undecidable"];

fn drift_path(variant: &str) -> String {
    format!("{DIR}/core-sw1.drift{variant}.running-config")
}

fn drift_ir() -> Ir {
    common::compile_ok(Path::new(DRIFT_POLICY), PROBE_DATE)
}

fn drift_cli(file: &str, format: &str) -> common::Ran {
    drift::cli(DRIFT_POLICY, Target::Cisco, file, &["--format", format])
}

fn drift_json(file: &str) -> serde_json::Value {
    let ran = drift_cli(file, "json");
    assert!(ran.code == 0 || ran.code == 1, "{}", ran.stderr);
    drift::json_device(&ran.stdout)
}

fn nets(list: &[&str]) -> wardwall::addrset::AddrSet {
    wardwall::addrset::AddrSet::from_nets(list.iter().map(|n| {
        let n = if n.contains('/') {
            n.to_string()
        } else {
            format!("{n}/32")
        };
        n.parse::<ipnet::IpNet>().unwrap()
    }))
}

fn service(f: impl FnOnce(&mut wardwall::vocab::ServiceSet)) -> wardwall::vocab::ServiceSet {
    let mut s = wardwall::vocab::ServiceSet::default();
    f(&mut s);
    s
}

/// What the policy allows.
fn policy_allows(ir: &Ir) -> Space {
    let sweep = wardwall::analysis::sweep::Sweep::run(ir);
    ir.rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.action.permits())
        .fold(Space::empty(), |acc, (i, _)| acc.union(sweep.decided(i)))
}

/// The drift fixtures are the fixtures with the INFRA-IN edit only.
#[test]
fn the_drift_fixtures_are_the_fixtures_with_the_infra_acl_only() {
    for v in VARIANTS {
        let copy = common::read(drift_path(v));
        let original = fixture(&format!("core-sw1{v}.running-config"));
        let header: Vec<&str> = copy
            .lines()
            .take_while(|l| original.lines().next().is_none_or(|first| *l != first))
            .collect();
        assert_eq!(header.len(), 6, "{v}: the drift header is 6 lines");
        assert!(header[0].starts_with("! wardwall drift fixture"));
        let mut kept: Vec<&str> = copy.lines().skip(header.len()).collect();
        // The ACL, as one block before INTERNET-IN.
        let acl = kept
            .iter()
            .position(|l| *l == INFRA_EDIT[1])
            .expect("the INFRA-IN ACL");
        assert_eq!(kept[acl..acl + 4], INFRA_EDIT[1..], "{v}");
        assert_eq!(kept[acl + 4], INTERNET, "{v}");
        kept.drain(acl..acl + 4);
        // Its binding, the last line of interface Vlan100.
        let bound: Vec<usize> = (0..kept.len())
            .filter(|&i| kept[i] == INFRA_EDIT[0])
            .collect();
        assert_eq!(bound.len(), 1, "{v}");
        let vlan100 = kept[..bound[0]]
            .iter()
            .rposition(|l| !l.starts_with(' '))
            .unwrap();
        assert_eq!(kept[vlan100], "interface Vlan100", "{v}");
        assert_eq!(kept[bound[0] + 1], "!", "{v}");
        kept.remove(bound[0]);
        assert_eq!(kept, original.lines().collect::<Vec<_>>(), "{v}");
    }
}

/// Why the drift fixtures exist: on the base fixture itself, the one
/// difference is that the infrastructure VLAN (no ACL) reaches the
/// Contec range, which the policy's advisory block denies.
#[test]
fn the_base_fixture_lets_the_infrastructure_vlan_reach_the_contec_range() {
    let ir = drift_ir();
    let c = compare(&ir, &device(&fixture("core-sw1.running-config")));
    assert_eq!(c.regions.len(), 1, "{:?}", c.regions);
    let r = &c.regions[0];
    assert_eq!(r.kind, DriftKind::Exposure);
    assert_eq!(ir.rules[r.policy.unwrap()].name, "contec-cms8000.out");
    let want = Space::from_parts(
        &nets(&["10.10.0.0/24"]),
        &nets(&["202.114.4.0/24"]),
        &wardwall::vocab::ServiceSet::any(),
    );
    assert!(r.space.same_as(&want), "{:?}", r.space.sample());
    let ran = drift_cli(&format!("{DIR}/core-sw1.running-config"), "text").expect_code(1);
    assert!(
        ran.stdout.contains(
            "+ exposure     infrastructure (10.10.0.0/24) → contec-cms8000 (202.114.4.0/24)  any"
        ),
        "{}",
        ran.stdout
    );
}

#[test]
fn drift_the_base_fixture_agrees_with_its_policy() {
    let ir = drift_ir();
    let file = drift_path("");
    let c = compare(&ir, &device(&common::read(&file)));
    assert!(
        c.regions.is_empty(),
        "exact, before any baseline: {:?}",
        c.regions
            .iter()
            .map(|r| (r.kind, r.space.sample()))
            .collect::<Vec<_>>()
    );
    let ran = drift_cli(&file, "text").expect_code(0);
    assert!(
        ran.stdout.starts_with(&format!(
            "cisco ({file}): the device agrees with the policy\n"
        )),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("skipped (decides no forwarded traffic): VRF definitions (1 VRF)"),
        "{}",
        ran.stdout
    );
    let json = drift_json(&file);
    assert_eq!(json["findings"].as_array().unwrap().len(), 0, "{json:#}");
    assert_eq!(json["inherent"].as_array().unwrap().len(), 0, "{json:#}");
    for k in ["exposure", "breakage", "undecidable"] {
        assert_eq!(json["summary"][k], 0, "{k}");
    }
    // The baseline was computed (the policy renders for Cisco): nothing
    // says it was not.
    assert!(
        json["not_compared"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| !n.as_str().unwrap().contains("inherent")),
        "{json:#}"
    );
    drift_cli(&file, "markdown").expect_code(0);
}

#[test]
fn drift_an_allow_before_the_contec_block_is_exactly_its_exposure() {
    let ir = drift_ir();
    let file = drift_path(".exposure");
    let text = common::read(&file);
    let d = device(&text);
    let c = compare(&ir, &d);
    let entry = "5 permit ip 10.20.8.0 0.0.0.255 202.114.4.0 0.0.0.255";
    let line = line_in(&text, QUARANTINE, entry);
    // The inserted entry's box, minus what the policy allows anyway, in
    // the compared traffic.
    let want = Space::from_parts(
        &nets(&["10.20.8.0/24"]),
        &nets(&["202.114.4.0/24"]),
        &wardwall::vocab::ServiceSet::any(),
    )
    .intersection(&drift::compared(&ir, Target::Cisco))
    .difference(&policy_allows(&ir));
    assert!(!want.is_empty());
    assert_eq!(c.regions.len(), 1, "{:?}", c.regions);
    let r = &c.regions[0];
    assert_eq!(r.kind, DriftKind::Exposure);
    assert!(r.space.same_as(&want), "{:?}", r.space.sample());
    assert_eq!(r.policy, Some(rule_index(&ir, "contec-cms8000.out")));
    assert!(r.undecided.is_none());
    let first = filter_decision(&d, r.device[0]);
    assert_eq!(
        (first.origin.line, first.origin.text.as_str()),
        (line, entry)
    );

    let ran = drift_cli(&file, "text").expect_code(1);
    let out = &ran.stdout;
    assert!(
        out.starts_with(&format!(
            "cisco ({file}): 1 exposure, 0 breakage, 0 undecidable\n"
        )),
        "{out}"
    );
    assert!(
        out.contains(
            "+ exposure     monitor-quarantine (10.20.8.0/24) → contec-cms8000 (202.114.4.0/24)  any  device allow, policy deny by advisory block contec-cms8000.out"
        ),
        "{out}"
    );
    assert!(out.contains("[critical advisory-block-weakened]"), "{out}");
    // The entry that lets it through, by file, line and text.
    assert!(
        out.contains(&format!(
            "{file}:{line}:2: {entry} (ACL QUARANTINE-IN in on Vlan128)"
        )),
        "the finding names the inserted entry:\n{out}"
    );

    let json = drift_json(&file);
    let findings = json["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{json:#}");
    let f = &findings[0];
    assert_eq!(f["kind"], "exposure");
    assert_eq!(f["code"], "advisory-block-weakened");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["policy"]["rule"], "contec-cms8000.out");
    assert_eq!(f["policy"]["rule_kind"], "advisory block");
    assert_eq!(f["device"]["action"], "allow");
    assert_eq!(f["device"]["entries"][0]["line"], line);
    assert_eq!(f["device"]["entries"][0]["text"], entry);
    assert_eq!(f["src"]["cidrs"][0], "10.20.8.0/24");
    assert_eq!(f["dst"]["cidrs"][0], "202.114.4.0/24");
}

#[test]
fn drift_a_deleted_allow_is_exactly_its_breakage() {
    let ir = drift_ir();
    let file = drift_path(".breakage");
    let text = common::read(&file);
    let d = device(&text);
    let c = compare(&ir, &d);
    // The deleted entry: `20 permit udp object-group ICU-MONITORS
    // object-group CENTRAL-STATIONS eq 24105`, IPv4 (the IPv6 ACL keeps its
    // own).
    let want = Space::from_parts(
        &nets(&["10.20.1.0/24"]),
        &nets(&["10.10.20.30"]),
        &service(|s| s.udp = wardwall::addrset::PortSet::single(24105)),
    )
    .intersection(&drift::compared(&ir, Target::Cisco))
    .intersection(&policy_allows(&ir));
    assert!(!want.is_empty());
    assert_eq!(c.regions.len(), 1, "{:?}", c.regions);
    let r = &c.regions[0];
    assert_eq!(r.kind, DriftKind::Breakage);
    assert!(r.space.same_as(&want), "{:?}", r.space.sample());
    assert_eq!(r.policy, Some(rule_index(&ir, "icu-waveforms")));
    let deny = "50 deny ip any any log";
    let line = line_in(&text, ICU, deny);
    let last = filter_decision(&d, *r.device.last().unwrap());
    assert_eq!((last.origin.line, last.origin.text.as_str()), (line, deny));

    let ran = drift_cli(&file, "text").expect_code(1);
    let out = &ran.stdout;
    assert!(
        out.contains(
            "- breakage     icu (10.20.1.0/24) → central-stations (10.10.20.30)  udp/24105  device deny, policy allow by rule icu-waveforms"
        ),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{file}:{line}:2: {deny} (ACL ICU-MONITORS-IN in on Vlan120)"
        )),
        "{out}"
    );
    let json = drift_json(&file);
    let findings = json["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{json:#}");
    assert_eq!(findings[0]["kind"], "breakage");
    assert_eq!(findings[0]["policy"]["rule"], "icu-waveforms");
    assert_eq!(findings[0]["device"]["action"], "deny");
}

#[test]
fn drift_a_scheduled_entry_is_undecidable_never_exposure_or_breakage() {
    let ir = drift_ir();
    let file = drift_path(".undecidable");
    let text = common::read(&file);
    let d = device(&text);
    let c = compare(&ir, &d);
    let entry =
        "35 permit tcp 198.51.100.0 0.0.0.255 host 10.10.20.30 eq 22 time-range VENDOR-WINDOW";
    let line = line_in(&text, INTERNET, entry);
    assert!(
        c.regions.iter().all(|r| r.kind == DriftKind::Undecidable),
        "{:?}",
        c.regions
    );
    let want = Space::from_parts(
        &nets(&["198.51.100.0/24"]),
        &nets(&["10.10.20.30"]),
        &service(|s| s.tcp = wardwall::addrset::PortSet::single(22)),
    )
    .intersection(&drift::compared(&ir, Target::Cisco))
    .difference(&policy_allows(&ir));
    assert!(
        union_of(&c.regions, DriftKind::Undecidable).same_as(&want),
        "{:?}",
        c.regions
    );
    for r in &c.regions {
        let (at, why) = r.undecided.as_ref().expect("the undecidable entry");
        let e = filter_decision(&d, *at);
        assert_eq!((e.origin.line, e.origin.text.as_str()), (line, entry));
        assert!(why.contains("time-range VENDOR-WINDOW"), "{why}");
    }

    let ran = drift_cli(&file, "text").expect_code(1);
    let out = &ran.stdout;
    assert!(
        out.contains(&format!(
            "cisco ({file}): 0 exposure, 0 breakage, {} undecidable\n",
            c.regions
                .iter()
                .map(|r| r.space.cubes().len())
                .sum::<usize>()
        )),
        "{out}"
    );
    assert!(
        out.contains("? undecidable  198.51.100.0/24 → central-stations (10.10.20.30)  tcp/22"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{file}:{line}:2: {entry} (ACL INTERNET-IN in on GigabitEthernet1/0/1) — undecidable: schedule (time-range VENDOR-WINDOW)"
        )),
        "{out}"
    );
    let json = drift_json(&file);
    let findings = json["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    for f in findings {
        assert_eq!(f["kind"], "undecidable", "{f:#}");
        assert_eq!(f["undecided"]["line"], line);
        assert_eq!(f["undecided"]["text"], entry);
        assert!(
            f["undecided"]["reason"]
                .as_str()
                .unwrap()
                .contains("time-range VENDOR-WINDOW")
        );
    }
}

/// Packets around the policy's edges and the fixture's own.
fn drift_packets(ir: &Ir) -> Vec<Packet> {
    let mut out: Vec<Packet> = base_cases()
        .iter()
        .map(|c| Packet::parse(c.src, c.dst, c.proto).unwrap())
        .collect();
    for (src, dst, proto) in [
        ("10.20.8.5", "202.114.4.119", "tcp/515"),
        ("10.20.8.0", "202.114.4.255", "udp/53"),
        ("10.20.8.255", "202.114.4.0", "icmp/8"),
        ("10.20.9.5", "202.114.4.119", "tcp/515"),
        ("10.10.0.5", "202.114.4.1", "tcp/443"),
        ("202.114.4.1", "10.10.0.5", "tcp/443"),
        ("10.20.1.0", "10.10.20.30", "udp/24105"),
        ("10.20.1.255", "10.10.20.30", "udp/24105"),
        ("10.20.1.7", "10.10.20.31", "udp/24105"),
        ("10.20.1.7", "10.10.20.30", "udp/24106"),
        ("fd42:1:0:120::7", "fd42:1:0:20::30", "udp/24105"),
        ("198.51.100.0", "10.10.20.30", "tcp/22"),
        ("198.51.100.255", "10.10.20.30", "tcp/22"),
        ("198.51.101.0", "10.10.20.30", "tcp/22"),
        ("198.51.100.7", "10.10.20.30", "tcp/23"),
        ("198.51.100.7", "10.20.3.4", "tcp/443"),
        ("198.51.100.7", "10.20.4.4", "tcp/443"),
        ("198.51.100.7", "10.20.255.4", "tcp/443"),
        ("198.51.100.7", "10.20.1.4", "tcp/443"),
        ("10.10.0.9", "10.20.8.3", "icmp/0"),
        ("10.10.0.9", "10.20.8.3", "icmp/3"),
        ("10.10.0.9", "10.20.8.3", "icmp/8"),
        ("10.40.0.1", "10.20.8.3", "tcp/443"),
        ("10.40.0.1", "8.8.8.8", "tcp/443"),
        ("10.40.0.1", "10.10.0.54", "udp/53"),
        ("10.40.0.1", "10.10.0.54", "tcp/53"),
        ("10.10.20.7", "10.10.0.200", "icmp/8"),
        ("10.10.20.7", "10.10.0.200", "icmp/0"),
        ("fd42:1:0:120::7", "2001:db8::1", "icmpv6/135"),
        ("fd42:1:0:120::7", "2001:db8::1", "icmpv6/128"),
        ("fd42:1:0:120::7", "fd42:1:0:10::1", "icmpv6/128"),
        ("2001:db8::1", "fd42:1:0:120::7", "tcp/22"),
        ("fd42:1:0:20::30", "fd42:1:0:120::7", "gre"),
        ("10.10.0.9", "10.10.20.30", "gre"),
        ("10.20.8.200", "10.10.0.53", "udp/53"),
        ("10.20.8.100", "10.10.0.123", "udp/123"),
        ("10.20.1.7", "10.10.0.123", "udp/123"),
        ("10.20.1.7", "10.10.0.53", "tcp/53"),
        ("10.20.8.127", "10.10.20.30", "tcp/515"),
    ] {
        out.push(Packet::parse(src, dst, proto).unwrap());
    }
    out.extend(common::edge_packets::edge_packets(ir, 0xc15c_0d71, 3000));
    out
}

/// Every packet lies in an exposure (breakage) region exactly when the
/// device, deciding it where its zones are bound, allows (denies) what the
/// policy denies (allows); a packet that meets an undecidable entry is
/// never in either. Returns how many packets fell in each kind.
fn drift_holds_to_brute_force(
    ir: &Ir,
    d: &Device,
    c: &Comparison,
    packets: &[Packet],
) -> [usize; 3] {
    let place = |a| {
        ir.zone_of(a)
            .and_then(|z| z.bindings.get("cisco"))
            .map(String::as_str)
    };
    let mut counts = [0; 3];
    let mut wrong = Vec::new();
    for p in packets {
        let found: Vec<DriftKind> = c
            .regions
            .iter()
            .filter(|r| r.space.contains(p))
            .map(|r| r.kind)
            .collect();
        assert!(found.len() <= 1, "regions overlap at {p}: {found:?}");
        let got = found.first().copied();
        if let Some(k) = got {
            counts[k as usize] += 1;
        }
        let (ingress, egress) = (place(p.src), place(p.dst));
        assert!(
            ingress.is_some() && egress.is_some(),
            "{p}: every address is in a bound zone (the residual one is)"
        );
        let o = d.decide(p, ingress, egress);
        let policy = ir.evaluate(p).action.permits();
        let dev = o.action.permits();
        if o.undecided.is_empty() {
            let want = match (dev, policy) {
                (true, false) => Some(DriftKind::Exposure),
                (false, true) => Some(DriftKind::Breakage),
                _ => None,
            };
            if got != want {
                wrong.push(format!("{p}: device {dev}, policy {policy}: {got:?}"));
            }
        } else {
            let disagrees = dev != policy
                || o.undecided
                    .iter()
                    .any(|e| e.decision.action.permits() != policy);
            let want = disagrees.then_some(DriftKind::Undecidable);
            if got != want {
                wrong.push(format!("{p}: undecided, disagrees {disagrees}: {got:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    counts
}

#[test]
fn drift_regions_hold_to_the_device_model_packet_by_packet() {
    let ir = drift_ir();
    let packets = drift_packets(&ir);
    // Per file, the one kind of difference its edit makes (None: agrees).
    let files = [
        (drift_path(""), None),
        (drift_path(".exposure"), Some(DriftKind::Exposure)),
        (drift_path(".breakage"), Some(DriftKind::Breakage)),
        (drift_path(".undecidable"), Some(DriftKind::Undecidable)),
        (
            format!("{DIR}/core-sw1.running-config"),
            Some(DriftKind::Exposure),
        ),
    ];
    for (file, kind) in &files {
        let d = device(&common::read(file));
        let c = compare(&ir, &d);
        // And a packet of every box found, so that a region no probe
        // reaches is held to the model too.
        let mut packets = packets.clone();
        packets.extend(
            c.regions
                .iter()
                .flat_map(|r| r.space.cubes())
                .filter_map(|cube| cube.sample()),
        );
        let counts = drift_holds_to_brute_force(&ir, &d, &c, &packets);
        for k in [
            DriftKind::Exposure,
            DriftKind::Breakage,
            DriftKind::Undecidable,
        ] {
            // The packets reach every edit, and nothing else differs.
            assert_eq!(
                counts[k as usize] > 0,
                *kind == Some(k),
                "{file}: {counts:?} packets in [exposure, breakage, undecidable]"
            );
        }
    }
}

/// The findings, by kind, as text, Markdown and JSON show them.
#[test]
fn drift_text_markdown_and_json_show_the_same_findings() {
    for v in VARIANTS {
        let file = drift_path(v);
        let json = drift_json(&file);
        let findings = json["findings"].as_array().unwrap();
        let text = drift_cli(&file, "text").stdout;
        let markdown = drift_cli(&file, "markdown").stdout;
        for (sign, kind) in [('+', "exposure"), ('-', "breakage"), ('?', "undecidable")] {
            let n = findings.iter().filter(|f| f["kind"] == kind).count();
            assert_eq!(json["summary"][kind], n, "{file} {kind}");
            let in_text = text
                .lines()
                .filter(|l| l.starts_with(&format!("{sign} {kind}")))
                .count();
            let in_md = markdown
                .lines()
                .filter(|l| l.starts_with(&format!("| {sign} | {kind} |")))
                .count();
            assert_eq!(
                (in_text, in_md),
                (n, n),
                "{file} {kind}:\n{text}\n{markdown}"
            );
        }
        for f in findings {
            // Every stated device entry of a finding, and its risk code,
            // in both renderings.
            let entries = f["device"]["entries"]
                .as_array()
                .unwrap()
                .iter()
                .chain(f["undecided"].as_object().map(|_| &f["undecided"]));
            for e in entries.filter(|e| e["line"] != 0) {
                let at = format!(
                    "{file}:{}:{}: {}",
                    e["line"],
                    e["column"],
                    e["text"].as_str().unwrap()
                );
                assert!(text.contains(&at), "text lacks `{at}`:\n{text}");
                assert!(markdown.contains(&at), "markdown lacks `{at}`:\n{markdown}");
            }
            let code = f["code"].as_str().unwrap();
            assert!(text.contains(code) || code == "other", "{code}:\n{text}");
            assert!(
                markdown.contains(&format!("`{code}`")),
                "{code}:\n{markdown}"
            );
        }
        if findings.is_empty() {
            assert!(
                markdown.contains("The device agrees with the policy."),
                "{markdown}"
            );
        } else {
            let s = &json["summary"];
            assert!(
                markdown.contains(&format!(
                    "**{} exposure, {} breakage, {} undecidable**",
                    s["exposure"], s["breakage"], s["undecidable"]
                )),
                "{markdown}"
            );
        }
    }
}

#[test]
fn drift_an_unreadable_device_file_is_exit_2_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let base = common::read(drift_path(""));
    let anchor = " 20 permit ip any any";
    assert_eq!(base.matches(anchor).count(), 1);
    let broken = base.replace(
        anchor,
        &format!("{anchor}\n 30 permit tcp any any eq 70000"),
    );
    let line = broken
        .lines()
        .position(|l| l == " 30 permit tcp any any eq 70000")
        .unwrap()
        + 1;
    let path = dir.path().join("core-sw1.broken.running-config");
    std::fs::write(&path, broken).unwrap();
    let shown = path.display().to_string();
    let ran = drift_cli(&shown, "text").expect_code(2);
    let column = " 30 permit tcp any any eq ".len() + 1;
    assert!(
        ran.stderr
            .starts_with(&format!("error: {shown}:{line}:{column}: ")),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stdout.is_empty(),
        "nothing half-reported: {}",
        ran.stdout
    );
}

#[test]
fn explain_against_the_exposure_copy_disagrees_and_names_the_entry() {
    let file = drift_path(".exposure");
    let text = common::read(&file);
    let entry = "5 permit ip 10.20.8.0 0.0.0.255 202.114.4.0 0.0.0.255";
    let line = line_in(&text, QUARANTINE, entry);
    let explain = |file: &str| {
        common::run([
            "explain",
            DRIFT_POLICY,
            "10.20.8.5",
            "202.114.4.119",
            "tcp/515",
            "--target",
            "cisco",
            "--against",
            file,
            "--date",
            PROBE_DATE,
        ])
    };
    let ran = explain(&file).expect_code(1);
    assert!(
        ran.stdout.contains(&format!(
            "ACL QUARANTINE-IN in on Vlan128: {file}:{line}:2: {entry} -> allow"
        )),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(
            "cisco DISAGREES with the policy: the policy says deny by `contec-cms8000.out`, the device says allow"
        ),
        "{}",
        ran.stdout
    );
    let ran = explain(&drift_path("")).expect_code(0);
    assert!(
        ran.stdout
            .contains("cisco agrees with the policy (deny by `contec-cms8000.out`)"),
        "{}",
        ran.stdout
    );
}

#[test]
fn explain_json_against_a_device_export_names_the_deciding_entry() {
    let file = drift_path(".exposure");
    let text = common::read(&file);
    let entry = "5 permit ip 10.20.8.0 0.0.0.255 202.114.4.0 0.0.0.255";
    let line = line_in(&text, QUARANTINE, entry);
    // The packet the exposure copy lets through, explained in `format`,
    // with `device` as `[--target cisco --against FILE]` or nothing.
    let explain_in = |format: &str, device: &[&str]| {
        let mut args = vec![
            "explain",
            DRIFT_POLICY,
            "10.20.8.5",
            "202.114.4.119",
            "tcp/515",
            "--date",
            PROBE_DATE,
            "--format",
            format,
        ];
        args.extend_from_slice(device);
        common::run(args)
    };
    let explain =
        |file: &str, format: &str| explain_in(format, &["--target", "cisco", "--against", file]);
    let ran = explain(&file, "json").expect_code(1);
    let json: serde_json::Value = serde_json::from_str(&ran.stdout).expect("one JSON document");
    // The same document as `explain --format json` without a target...
    let plain = explain_in("json", &[]).expect_code(0);
    let mut plain: serde_json::Value = serde_json::from_str(&plain.stdout).unwrap();
    plain["target"] = json["target"].clone();
    assert_eq!(json, plain);
    // ...plus what the device does, naming the entry that decides.
    let t = &json["target"];
    assert_eq!(t["target"], "cisco");
    assert_eq!(t["action"], "allow");
    assert_eq!(t["agrees"], false);
    assert_eq!(t["certain"], true);
    assert_eq!(t["entry"]["file"], file.as_str());
    assert_eq!(t["entry"]["line"], line as u64);
    assert_eq!(t["entry"]["column"], 2);
    assert_eq!(t["entry"]["text"], entry);
    let layers = t["layers"].as_array().unwrap();
    assert_eq!(layers.last().unwrap()["entry"], t["entry"]);
    assert!(
        layers
            .iter()
            .any(|l| l["filter"] == "ACL QUARANTINE-IN in on Vlan128"),
        "{t}"
    );
    assert_eq!(json["verdict"]["action"], "deny");
    // The untouched export agrees; text output is unchanged by the format.
    let ran = explain(&drift_path(""), "json").expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(json["target"]["agrees"], true);
    assert_eq!(json["target"]["action"], "deny");
    let ran = explain(&file, "text").expect_code(1);
    assert!(
        ran.stdout.contains("cisco DISAGREES with the policy"),
        "{}",
        ran.stdout
    );
    // The answer from the rendered output has the same keys of the same
    // types, so one consumer reads both; the strict reader does not locate
    // the entry, and a rendering made now is no file.
    let ran = explain_in("json", &["--target", "cisco"]).expect_code(0);
    let rendered: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    let r = &rendered["target"];
    let kind = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    };
    // (`rule` is null on both when no policy rule is named: here the
    // device's entry is a hand edit.)
    assert!(r["rule"].is_string() && json["target"]["rule"].is_null());
    for key in [
        "target", "from", "action", "log", "agrees", "certain", "entry",
    ] {
        assert_eq!(kind(&r[key]), kind(&json["target"][key]), "{key}: {r}");
    }
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&r["entry"]), keys(&json["target"]["entry"]), "{r}");
    assert_eq!(r["entry"]["rule"], r["rule"]);
    assert!(r["entry"]["text"].as_str().unwrap().contains("deny"), "{r}");
    assert_eq!(
        (&r["entry"]["file"], &r["entry"]["line"]),
        (&serde_json::Value::Null, &serde_json::Value::Null)
    );
    assert_eq!(r["certain"], true);
}
