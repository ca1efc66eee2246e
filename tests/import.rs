//! `wardwall import`: device exports (fixtures written from vendor
//! documentation, and the kernel's own dumps) become policies that
//! `check` accepts, that build back to the same target, and that `drift`
//! finds no difference in against the original export.

use std::path::Path;

use crate::common::{self, privileged};

const DATE: &str = "2026-12-02";

/// Imports `file` for `target` into a temporary directory, requires the
/// proof to say "equivalent", `check` to find no error, `build` for the
/// target to succeed, and `drift` of the imported policy against the
/// original export to agree. Returns the policy's text.
fn round_trip(target: &str, file: &Path, zones: Option<&Path>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("policy");
    let mut args = vec![
        "import".to_string(),
        target.to_string(),
        file.to_string_lossy().into_owned(),
        "-o".into(),
        out.to_string_lossy().into_owned(),
        "--date".into(),
        DATE.into(),
    ];
    if let Some(z) = zones {
        args.extend(["--zones".to_string(), z.to_string_lossy().into_owned()]);
    }
    let ran = common::run(&args).expect_code(0);
    assert!(
        ran.stdout
            .contains("equivalent: the policy decides every packet as"),
        "{}",
        ran.stdout
    );
    let policy = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "kdl"))
        .expect("a policy was written");
    let text = common::read(&policy);
    let p = policy.to_string_lossy().into_owned();
    let check = common::run(["check", &p, "--date", DATE]).expect_code(0);
    let said = format!("{}{}", check.stdout, check.stderr);
    assert!(
        said.contains(": ok,") && said.contains("0 errors"),
        "{said}"
    );
    let built = dir.path().join("built");
    common::run([
        "build",
        &p,
        "-t",
        target,
        "-o",
        &built.to_string_lossy(),
        "--date",
        DATE,
    ])
    .expect_code(0);
    let device = format!("{target}={}", file.to_string_lossy());
    let drift = common::run(["drift", &p, "--device", &device, "--date", DATE]).expect_code(0);
    assert!(
        drift.stdout.contains("agrees with the policy"),
        "{}",
        drift.stdout
    );
    text
}

#[test]
fn a_cisco_running_config_imports_with_its_objects_and_proves_equivalent() {
    let text = round_trip(
        "cisco",
        Path::new("tests/fixtures/devices/cisco/core-sw1.running-config"),
        None,
    );
    // Zones from the SVIs' addresses; the uplink (the default route's) is residual.
    assert!(text.contains("zone \"Vlan120\" {"), "{text}");
    assert!(text.contains("prefix \"10.20.1.0/24\" \"fd42:1:0:120::/64\""));
    assert!(text.contains(
        "zone \"GigabitEthernet1-0-1\" {\n    description \"GigabitEthernet1/0/1 uplink"
    ));
    assert!(text.contains("    residual #true\n    interface cisco=\"GigabitEthernet1/0/1\""));
    // Object groups keep their names and descriptions; a nested group stays a group.
    assert!(text.contains("class \"CONTEC-MONITORS\" {\n    zone \"Vlan128\"\n    description \"Contec CMS8000 patient monitors under CISA advisory\"\n    address \"10.20.8.1-10.20.8.126\""));
    assert!(text.contains("group \"CLINICAL-DEVICES\" {\n    description \"every monitor\"\n    member \"ICU-MONITORS\" \"CONTEC-MONITORS\""));
    assert!(text.contains("service \"DNS-NTP\" {"));
    // Remarks become descriptions; an `established` entry never opens a new flow.
    assert!(
        text.contains(
            "description \"monitors stream waveforms and alarms to the central station\""
        )
    );
    assert!(!text.contains("10.20.8.0 0.0.0.127 established\n    allow"));
    // The header names the file, its checksum and what was skipped.
    assert!(text.starts_with("// Imported by `wardwall import cisco` from tests/fixtures/devices/cisco/core-sw1.running-config\n// sha256 "));
    assert!(text.contains("// Skipped (decides no forwarded traffic): "));
    assert!(text.contains("NAT (1 rule)"));
}

#[test]
fn the_drift_fixtures_differences_survive_import_as_exact_equivalence() {
    // Every edited copy imports to its own equivalent policy: the proof
    // holds for exposure, breakage and shut-down variants alike.
    for f in [
        "core-sw1.drift.running-config",
        "core-sw1.exposure.running-config",
        "core-sw1.breakage.running-config",
    ] {
        round_trip(
            "cisco",
            &Path::new("tests/fixtures/devices/cisco").join(f),
            None,
        );
    }
}

#[test]
fn an_undecidable_entry_is_not_imported_and_the_proof_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let ran = common::run([
        "import",
        "cisco",
        "tests/fixtures/devices/cisco/core-sw1.undecidable.running-config",
        "-o",
        &dir.path().to_string_lossy(),
        "--date",
        DATE,
    ]);
    assert_eq!(ran.code, 1, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout
            .contains("differences: the policy does not decide every packet as"),
        "{}",
        ran.stdout
    );
    let text = common::read(dir.path().join("core-sw1.undecidable.kdl"));
    assert!(text.contains("// NOT IMPORTED: "), "{text}");
}

#[test]
fn without_a_zones_file_an_interface_ruleset_says_which_zones_lack_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ruleset.nft");
    std::fs::write(
        &file,
        "table inet filter {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\tiifname \"icu0\" oifname \"srv0\" tcp dport 443 accept\n\t}\n}\n",
    )
    .unwrap();
    let ran = common::run([
        "import",
        "nftables",
        &file.to_string_lossy(),
        "--date",
        DATE,
    ])
    .expect_code(2);
    assert!(
        ran.stderr.contains("zones lack prefixes: icu0, srv0"),
        "{}",
        ran.stderr
    );
    assert!(ran.stdout.is_empty(), "nothing is written: {}", ran.stdout);
}

#[test]
fn a_zones_file_error_has_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let zones = dir.path().join("zones.kdl");
    std::fs::write(&zones, "zone \"a\" {\n    prefix \"10.020.0.0/16\"\n}\n").unwrap();
    let ran = common::run([
        "import",
        "cisco",
        "tests/fixtures/devices/cisco/core-sw1.running-config",
        "--zones",
        &zones.to_string_lossy(),
    ])
    .expect_code(2);
    assert!(ran.stderr.contains("zones.kdl:2:12: "), "{}", ran.stderr);
}

#[test]
fn hostile_device_names_become_valid_names_and_one_line_text() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evil.running-config");
    std::fs::write(
        &file,
        "hostname evil\n!\nobject-group network \"}\n description a \"quoted\" \\ name\u{202E}txt\n host 10.1.0.5\n!\n\
         interface Vlan1\n description x\" }\n ip address 10.1.0.1 255.255.255.0\n ip access-group IN in\n!\n\
         interface Gi0\n ip address 192.0.2.2 255.255.255.252\n!\n\
         ip route 0.0.0.0 0.0.0.0 192.0.2.1\n\
         ip access-list extended IN\n 10 remark say \"hi\" // not a comment\n 10 permit tcp object-group \"} any eq 443\n!\nend\n",
    )
    .unwrap();
    let text = round_trip("cisco", &file, None);
    assert!(text.contains("class \"x\" {"), "{text}");
    assert!(
        text.contains("description \"\\\"} a \\\"quoted\\\" \\\\ name<U+202E>txt\""),
        "{text}"
    );
    assert!(
        text.contains("description \"say \\\"hi\\\" // not a comment\""),
        "{text}"
    );
}

/// The nftables ruleset `file` as the kernel prints it, in both forms.
fn kernel_dumps(file: &Path) -> Option<(String, String)> {
    if !privileged::can_run("import of kernel-dumped nftables rulesets") {
        return None;
    }
    let ns = privileged::Netns::new("import");
    let load = ns.exec("nft", &["-f", &file.to_string_lossy()]);
    assert!(
        load.status.success(),
        "{}",
        String::from_utf8_lossy(&load.stderr)
    );
    let dump = |args: &[&str]| {
        let out = ns.exec("nft", args);
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    Some((dump(&["list", "ruleset"]), dump(&["-j", "list", "ruleset"])))
}

/// The nftables ruleset `file`, loaded into the kernel and imported from
/// both its dumps (text and JSON) with `zones` by [`round_trip`]: (form,
/// policy) each.
fn kernel_imports(file: &Path, zones: &Path) -> Option<Vec<(&'static str, String)>> {
    let (text, json) = kernel_dumps(file)?;
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    for (name, dump) in [("ruleset.txt", text), ("ruleset.json", json)] {
        let file = dir.path().join(name);
        std::fs::write(&file, dump).unwrap();
        out.push((name, round_trip("nftables", &file, Some(zones))));
    }
    Some(out)
}

#[test]
fn nftables_dumps_import_with_a_zones_file_text_and_json_and_several_tables() {
    for fixture in ["hospital.nft", "hospital-second-table.nft"] {
        let Some(policies) = kernel_imports(
            &Path::new("tests/fixtures/devices/nftables").join(fixture),
            Path::new("tests/fixtures/import/hospital.zones.kdl"),
        ) else {
            return;
        };
        for (_, policy) in policies {
            assert!(policy.contains("zone \"icu\" {"), "{policy}");
            assert!(policy.contains("interface nftables=\"icu0\""));
        }
    }
}

#[test]
fn nftables_named_address_sets_become_classes_and_groups_the_rules_use() {
    let Some(policies) = kernel_imports(
        Path::new("tests/fixtures/import/named-sets.nft"),
        Path::new("tests/fixtures/import/named-sets.zones.kdl"),
    ) else {
        return;
    };
    for (name, policy) in policies {
        for class in [
            // Hosts (no interval flag), the set's comment the description.
            "class \"pacs_hosts\" {\n    zone \"servers\"\n    description \"PACS archive servers\"\n    address \"10.10.40.10/31\"\n}",
            // Prefixes and ranges of an interval set.
            "class \"icu_monitors\" {\n    zone \"icu\"\n    description \"ICU bedside monitors\"\n    address \"10.20.1.0/25\" \"10.20.1.200-10.20.1.210\"\n}",
            // `typeof ip6 saddr`; the kernel prints the range as a prefix.
            "class \"imaging_v6\" {\n    zone \"icu\"\n    description \"ICU imaging carts\"\n    address \"fd42:20::100/120\"\n}",
            // A set across two zones is a group of its parts.
            "group \"all_monitors\" {\n    member \"all_monitors-icu\" \"all_monitors-quarantine\"\n}",
            // Another table's set of the same name is qualified by its table.
            "class \"ip-legacy-pacs_hosts\" {\n    zone \"servers\"\n    description \"retired PACS\"\n    address \"10.10.40.12\"\n}",
        ] {
            assert!(policy.contains(class), "{name}: {class}\n{policy}");
        }
        // The rules matching `@set` name its class.
        for rule in [
            "        from \"any\"\n        to \"pacs_hosts\"\n        service \"tcp/22\" \"tcp/3389\"\n",
            "        from \"icu_monitors\"\n        to \"pacs_hosts\"\n        service \"tcp/104\"\n",
            "        from \"imaging_v6\"\n        to \"fd42:10::40\"\n",
            "        from \"icu\"\n        to \"ip-legacy-pacs_hosts\"\n        service \"tcp/104\"\n",
            "        from \"all_monitors\"\n        to \"10.10.0.53\"\n        service \"udp/53\"\n",
        ] {
            assert!(policy.contains(rule), "{name}: {rule}\n{policy}");
        }
        // Not address objects: a port set, a set filled at run time.
        for set in ["admin_ports", "seen_scanners"] {
            assert!(
                !policy.contains(&format!("class \"{set}"))
                    && !policy.contains(&format!("group \"{set}")),
                "{set}: {policy}"
            );
        }
    }
}

/// Probes of core-sw1's traffic, allowed and denied, in both families.
const CISCO_PROBES: &[(&str, &str, &str)] = &[
    ("10.20.1.10", "10.10.20.30", "udp/24105"),
    ("10.20.1.10", "10.10.0.53", "udp/53"),
    ("10.20.1.10", "10.10.0.53", "tcp/53"),
    ("10.20.1.10", "10.10.0.123", "udp/123"),
    ("10.20.1.10", "10.10.0.5", "icmp/echo-request"),
    ("10.20.1.10", "202.114.4.7", "tcp/443"),
    ("10.20.1.10", "10.40.0.5", "tcp/22"),
    ("10.40.0.9", "203.0.113.9", "tcp/80"),
    ("10.40.0.9", "203.0.113.9", "tcp/443"),
    ("10.40.0.9", "203.0.113.9", "tcp/22"),
    ("10.40.0.9", "10.10.0.53", "udp/53"),
    ("10.40.0.9", "10.20.8.5", "tcp/80"),
    ("198.51.100.7", "10.20.1.10", "tcp/443"),
    ("198.51.100.7", "10.20.8.5", "tcp/443"),
    ("198.51.100.7", "10.40.0.9", "tcp/443"),
    ("202.114.4.7", "10.10.0.53", "udp/53"),
    ("10.20.8.5", "10.10.20.30", "tcp/515"),
    ("10.20.8.100", "10.10.0.54", "udp/53"),
    ("10.20.8.200", "10.10.20.30", "tcp/515"),
    ("10.20.8.5", "203.0.113.9", "tcp/443"),
    ("10.10.0.53", "10.20.8.5", "icmp/echo-request"),
    ("10.10.0.53", "203.0.113.9", "tcp/443"),
    ("10.10.20.30", "10.10.0.5", "icmp/echo-request"),
    ("10.10.20.30", "10.20.8.5", "tcp/515"),
    ("fd42:1:0:120::10", "fd42:1:0:10::5", "icmp/echo-request"),
    ("fd42:1:0:120::10", "fd42:1:0:20::30", "udp/24105"),
    ("fd42:1:0:120::10", "fd42:1:0:10::5", "tcp/22"),
    ("fd42:1:0:10::5", "fd42:1:0:120::10", "tcp/22"),
];

#[test]
fn a_cisco_import_built_for_nftables_decides_in_the_kernel_like_the_cisco_original() {
    if !privileged::can_run("the cross-vendor import test in the kernel") {
        return;
    }
    let fixture = "tests/fixtures/devices/cisco/core-sw1.running-config";
    let dir = tempfile::tempdir().unwrap();
    common::run([
        "import",
        "cisco",
        fixture,
        "-o",
        &dir.path().to_string_lossy(),
        "--date",
        DATE,
    ])
    .expect_code(0);
    // Building for another target needs that target's interfaces: bind
    // every zone to a bridge of the test router, as a user adds them.
    let mut text = common::read(dir.path().join("core-sw1.kdl"));
    let mut i = 0;
    while let Some(at) = text.find("interface cisco=\"").filter(|_| i < 64) {
        let end = at + text[at..].find('\n').unwrap();
        let line = text[at..end].replace("interface cisco=", "interface  cisco=");
        text.replace_range(at..end, &format!("{line} nftables=\"z{i}\""));
        i += 1;
    }
    let ir = common::compile_text_ok("core-sw1.kdl", &text, DATE);
    let device = wardwall::registry::reader(wardwall::vocab::Target::Cisco)
        .device(&common::read(fixture))
        .unwrap();
    let place = |a| ir.zone_of(a).and_then(|z| z.bindings.get("cisco").cloned());
    let mut packets = Vec::new();
    let mut labels = Vec::new();
    let mut allowed = 0;
    for (src, dst, proto) in CISCO_PROBES {
        let packet = wardwall::ir::Packet::parse(src, dst, proto).unwrap();
        // The Cisco original's answer is the expected one.
        let cisco = device.decide(
            &packet,
            place(packet.src).as_deref(),
            place(packet.dst).as_deref(),
        );
        assert!(cisco.undecided.is_empty());
        assert_eq!(
            ir.evaluate(&packet).action.permits(),
            cisco.action.permits(),
            "{src} -> {dst} {proto}: the imported policy and the Cisco original differ"
        );
        allowed += usize::from(cisco.action.permits());
        labels.push(format!("{src} -> {dst} {proto} (Cisco: {})", cisco.action));
        packets.push(packet);
    }
    assert!(
        allowed >= 8 && packets.len() - allowed >= 8,
        "{allowed} of {} allowed",
        packets.len()
    );
    // The kernel, with the nftables rendering loaded, gives every probe
    // (and generated edge packets) the policy's verdict: the Cisco one.
    crate::kernel::run_in_kernel(&ir, labels, packets, 60);
}

#[test]
fn a_panos_running_config_imports_zones_objects_and_proves_equivalent() {
    let text = round_trip(
        "panos",
        Path::new("tests/fixtures/import/panos-decidable.xml"),
        None,
    );
    // Zones with their interfaces' networks; the default route's is residual.
    assert!(text.contains("zone \"icu-devices\" {\n    description \"zone of ethernet1/4 (zone icu-devices)\"\n    prefix \"10.20.0.0/16\"\n    interface panos=\"icu-devices\""), "{text}");
    assert!(text.contains("zone \"untrust\" {"));
    assert!(
        text.contains("class \"icu-monitors\" {"),
        "an ip-range object: {text}"
    );
    assert!(
        text.contains("service \"svc-snmp\" {\n    udp \"161-162\""),
        "{text}"
    );
}

#[test]
fn a_panos_app_id_rule_is_not_imported_and_its_traffic_is_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    let ran = common::run([
        "import",
        "panos",
        "tests/fixtures/devices/panos/running-config.xml",
        "-o",
        &dir.path().to_string_lossy(),
        "--date",
        DATE,
    ]);
    assert_eq!(ran.code, 1, "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains("undecidable"), "{}", ran.stdout);
    let text = common::read(dir.path().join("running-config.kdl"));
    assert!(text.contains("// NOT IMPORTED: tests/fixtures/devices/panos/running-config.xml:692: `<entry name=\"icu-ping-infrastructure\""), "{text}");
    let p = dir.path().join("running-config.kdl");
    common::run(["check", &p.to_string_lossy(), "--date", DATE]).expect_code(0);
}

#[test]
fn a_pfsense_backup_imports_interfaces_aliases_and_proves_equivalent() {
    for f in [
        "hospital.xml",
        "hospital-no-bogons.xml",
        "hospital-exposure.xml",
        "hospital-breakage.xml",
    ] {
        let text = round_trip(
            "pfsense",
            &Path::new("tests/fixtures/devices/pfsense").join(f),
            None,
        );
        assert!(text.contains("zone \"lan\" {\n    description \"STAFF (interface lan)\"\n    prefix \"10.40.0.0/16\" \"fd42:1:0:40::/64\"\n    interface pfsense=\"lan\""), "{text}");
        assert!(text.contains("zone \"wan\" {"));
        // A nested alias is a group of its member and its own addresses.
        assert!(text.contains("group \"CLINICAL_NETS\" {"), "{text}");
        assert!(
            text.contains("member \"ICU_MONITORS\" \"CLINICAL_NETS-opt2\""),
            "{text}"
        );
        assert!(text.contains("service \"CENTRAL_PORTS\" {"));
    }
}

#[test]
fn a_zones_file_names_and_replaces_a_configured_place() {
    let dir = tempfile::tempdir().unwrap();
    let zones = dir.path().join("zones.kdl");
    std::fs::write(
        &zones,
        "zone \"icu\" {\n    interface \"Vlan120\"\n    description \"ICU bedside monitors\"\n    prefix \"10.20.1.0/24\" \"fd42:1:0:120::/64\"\n}\n",
    )
    .unwrap();
    let text = round_trip(
        "cisco",
        Path::new("tests/fixtures/devices/cisco/core-sw1.running-config"),
        Some(&zones),
    );
    assert!(text.contains("zone \"icu\" {\n    description \"ICU bedside monitors\"\n    prefix \"10.20.1.0/24\" \"fd42:1:0:120::/64\"\n    interface cisco=\"Vlan120\""), "{text}");
    assert!(!text.contains("zone \"Vlan120\""), "{text}");
}

#[test]
fn without_out_dir_the_policy_goes_to_stdout_and_the_proof_to_stderr() {
    let ran = common::run([
        "import",
        "cisco",
        "tests/fixtures/devices/cisco/core-sw1.running-config",
        "--date",
        DATE,
    ])
    .expect_code(0);
    assert!(
        ran.stdout
            .starts_with("// Imported by `wardwall import cisco`"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("\n// Proof: equivalent: the policy decides every packet as ")
    );
    assert!(ran.stderr.contains("equivalent: the policy decides every packet as tests/fixtures/devices/cisco/core-sw1.running-config does"), "{}", ran.stderr);
    // The same text compiles: what was proven is what was printed.
    let ir = common::compile_text_ok("core-sw1.kdl", &ran.stdout, DATE);
    assert!(!ir.rules.is_empty());
}

/// `drift` of the policy `text` (written as NAME.kdl) against the device
/// export `device` (written beside it): the exit code and what it said.
fn drift_of(text: &str, target: &str, device: &str, device_name: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("imported.kdl");
    std::fs::write(&policy, text).unwrap();
    let export = dir.path().join(device_name);
    std::fs::write(&export, device).unwrap();
    let ran = common::run([
        "drift",
        &policy.to_string_lossy(),
        "--device",
        &format!("{target}={}", export.to_string_lossy()),
        "--date",
        DATE,
    ]);
    (ran.code, format!("{}{}", ran.stdout, ran.stderr))
}

/// A disabled entry's commented-out rule means what the device does with
/// the entry enabled: with `/-` removed, the policy agrees with the
/// export whose `disabled` mark is removed, and no longer with the
/// original (so the rule decides something).
fn enabling_agrees_with_the_enabled_device(
    text: &str,
    target: &str,
    original: &str,
    enabled: &str,
    device_name: &str,
) {
    assert_ne!(original, enabled, "the test enables a rule");
    let uncommented = text.replace("    /-", "    ");
    assert_ne!(uncommented, text, "a rule is commented out: {text}");
    let (code, said) = drift_of(&uncommented, target, enabled, device_name);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("agrees with the policy"), "{said}");
    let (code, said) = drift_of(&uncommented, target, original, device_name);
    assert_eq!(code, 1, "the enabled rule decides some traffic: {said}");
    let (code, said) = drift_of(text, target, enabled, device_name);
    assert_eq!(code, 1, "commented out, the rule decides nothing: {said}");
}

#[test]
fn a_disabled_panos_rule_is_a_commented_out_rule_in_place_that_decides_like_it_enabled() {
    let fixture = "tests/fixtures/import/panos-disabled.xml";
    let text = round_trip("panos", Path::new(fixture), None);
    let marked = "    // disabled on the device: tests/fixtures/import/panos-disabled.xml:599: security rule temp-infra-snmp-to-monitors\n    /-allow \"temp-infra-snmp-to-monitors\" {\n";
    let at = text.find(marked).unwrap_or_else(|| panic!("{text}"));
    let body = &text[at + marked.len()..];
    assert!(
        body.starts_with("        description \"<entry name=\\\"temp-infra-snmp-to-monitors\\\"")
            && body.contains(
                "\n        from \"infrastructure\"\n        to \"icu-monitors\"\n        service \"svc-snmp\"\n        log #true\n    }\n"
            ),
        "{body}"
    );
    // Where it stood: after the rule before it, before the rule after it.
    let before = text.find("allow \"apps-web-to-internet\" {").unwrap();
    let after = text
        .find("\n    allow \"infra-snmp-to-icu-gateways\" {")
        .unwrap();
    assert!(before < at && at < after, "{text}");
    // A disabled rule the policy could not decide is said so, plainly.
    assert!(
        text.contains("    // disabled on the device, not written as a rule: tests/fixtures/import/panos-disabled.xml:683: security rule legacy-telnet-to-monitors: the policy cannot decide it like the device (application telnet (App-ID)"),
        "{text}"
    );
    assert!(!text.contains("/-allow \"legacy-telnet"), "{text}");
    let original = common::read(fixture);
    let mark =
        "                  <log-end>yes</log-end>\n                  <disabled>yes</disabled>\n";
    assert_eq!(original.matches(mark).count(), 1);
    let enabled = original.replace(mark, "                  <log-end>yes</log-end>\n");
    enabling_agrees_with_the_enabled_device(&text, "panos", &original, &enabled, "enabled.xml");
}

#[test]
fn a_disabled_pfsense_rule_is_commented_out_in_place_and_decides_like_it_enabled() {
    let fixture = "tests/fixtures/devices/pfsense/hospital.xml";
    let text = round_trip("pfsense", Path::new(fixture), None);
    let marked = "    // disabled on the device: tests/fixtures/devices/pfsense/hospital.xml:467: pass on lan inet from lan net to ICU_MONITORS \"Temporary: staff to monitors\"";
    let first = text.find(marked).unwrap_or_else(|| panic!("{text}"));
    let last = text.rfind(marked).unwrap();
    // Its last piece is the rule's own entry on lan, then the rule after it.
    assert!(
        text[last..].starts_with(&format!(
            "{marked} (one of several rules: remove `/-` from each rule marked with this line to enable it)\n    /-allow \"in-on-lan-467\" {{\n        description \"pass on lan inet from lan net to ICU_MONITORS \\\"Temporary: staff to monitors\\\"\"\n        from \"lan\"\n        to \"opt1\"\n        service \"any\"\n    }}\n\n    // in on lan: tests/fixtures/devices/pfsense/hospital.xml:482: "
        )),
        "{}",
        &text[last..]
    );
    assert!(
        text.find("\"Staff to the central station viewer\"")
            .unwrap()
            < first,
        "{text}"
    );
    let original = common::read(fixture);
    let mark = "\t\t\t<disabled></disabled>\n";
    assert_eq!(original.matches(mark).count(), 1);
    let enabled = original.replace(mark, "");
    enabling_agrees_with_the_enabled_device(&text, "pfsense", &original, &enabled, "enabled.xml");
}
