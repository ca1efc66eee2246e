//! The pfSense device reader (`src/read/export/pfsense.rs`) on full
//! `config.xml` backups written from pfSense's documentation and source
//! (`tests/fixtures/devices/pfsense/`, each citing its sources), on hand
//! edits of them (exposure, breakage, undecidable), cross-checked with
//! pfSense's own config reader (PHP's expat, `xmlparse.inc` rules), and on
//! wardwall's own rendering of every policy, against the IR.

use std::path::Path;

use crate::common::drift::{self, filter_decision, rule_index, union_of};
use crate::common::{self, probes::HOSPITAL_PROBES, probes::PROBE_DATE};
use wardwall::addrset::{AddrSet, PortSet};
use wardwall::analysis::space::Space;
use wardwall::diff::drift::{Comparison, DriftKind, compare};
use wardwall::ir::{Packet, Proto};
use wardwall::read::device::Device;
use wardwall::vocab::{Action, ServiceSet, Target};

const DIR: &str = "tests/fixtures/devices/pfsense";

fn fixture(name: &str) -> String {
    common::read(Path::new(DIR).join(name))
}

fn device(name: &str) -> Device {
    wardwall::registry::reader(Target::PfSense)
        .device(&fixture(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What the device does with a packet: the action, and the deciding
/// entry's line and text (the inbound decision when the packet passes,
/// the refusing one when it does not), and how many undecidable entries
/// it met.
fn verdict(
    d: &Device,
    src: &str,
    dst: &str,
    proto: &str,
    ingress: &str,
    egress: &str,
) -> (Action, usize, String, usize) {
    let packet = Packet::parse(src, dst, proto).unwrap();
    let o = d.decide(&packet, Some(ingress), Some(egress));
    let step = if o.action.permits() {
        o.steps.first()
    } else {
        o.steps.last()
    };
    let (line, text) = step.map_or((0, String::new()), |(_, dec)| {
        (dec.origin.line, dec.origin.text.clone())
    });
    (o.action, line, text, o.undecided.len())
}

const CONTEC_BLOCK: &str = "block floating quick any on lan,opt1,opt2,opt3 inet from any to CONTEC_CMS8000 log \"Contec CMS8000: block the advisory subnet\"";
const MONITORS_TO_CENTRAL: &str = "pass on opt1 inet tcp from ICU_MONITORS to CENTRAL_STATION port CENTRAL_PORTS \"Monitors to central station\"";
const MONITORS_DENY: &str =
    "block on opt1 inet46 from any to any log \"Monitors: deny everything else\"";

/// A packet (source, destination, service, ingress, egress) and the
/// device's verdict: action, deciding line and text.
type Case<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Action,
    usize,
    &'a str,
);

#[test]
fn the_hospital_firewall_decides_as_written() {
    let d = device("hospital.xml");
    assert_eq!(
        d.places.as_deref().unwrap(),
        ["wan", "lan", "opt1", "opt2", "opt3", "opt4"]
    );
    let cases: &[Case] = &[
        // The Contec block, floating and quick: before every interface rule.
        (
            "10.20.8.5",
            "202.114.4.119",
            "tcp/515",
            "opt1",
            "wan",
            Action::Deny,
            286,
            CONTEC_BLOCK,
        ),
        (
            "10.40.1.1",
            "202.114.4.1",
            "tcp/443",
            "lan",
            "wan",
            Action::Deny,
            286,
            CONTEC_BLOCK,
        ),
        (
            "202.114.4.119",
            "10.20.8.5",
            "tcp/22",
            "wan",
            "opt1",
            Action::Deny,
            317,
            "block floating quick in on wan inet from CONTEC_CMS8000 to any log \"Contec CMS8000: block in from the advisory subnet\"",
        ),
        // Monitors to the central station (a port alias with a range).
        (
            "10.20.8.5",
            "10.10.20.30",
            "tcp/515",
            "opt1",
            "opt2",
            Action::Allow,
            388,
            MONITORS_TO_CENTRAL,
        ),
        (
            "10.20.8.5",
            "10.10.20.31",
            "tcp/6670",
            "opt1",
            "opt2",
            Action::Allow,
            388,
            MONITORS_TO_CENTRAL,
        ),
        (
            "10.20.8.5",
            "10.10.20.30",
            "tcp/22",
            "opt1",
            "opt2",
            Action::Deny,
            404,
            MONITORS_DENY,
        ),
        // The interface-group rule (nested alias, port alias).
        (
            "10.20.8.5",
            "10.10.0.53",
            "udp/53",
            "opt1",
            "opt3",
            Action::Allow,
            372,
            "pass on CLINICAL inet udp from CLINICAL_NETS to INFRA_DNS_NTP port DNS_NTP_PORTS \"Clinical devices to DNS and NTP\"",
        ),
        (
            "10.20.8.5",
            "10.10.0.53",
            "icmp/echo-request",
            "opt1",
            "opt3",
            Action::Deny,
            404,
            MONITORS_DENY,
        ),
        // A non-quick floating pass decides where no quick rule does.
        (
            "10.10.0.5",
            "10.40.0.9",
            "icmp/echo-request",
            "opt3",
            "lan",
            Action::Allow,
            354,
            "pass floating in on opt3 inet icmp icmptype echoreq from opt3 net to any \"Infrastructure may ping\"",
        ),
        (
            "10.10.0.5",
            "10.40.0.9",
            "tcp/22",
            "opt3",
            "lan",
            Action::Deny,
            0,
            "pfSense default deny rule: block in log inet/inet6 all (\"Default deny rule\")",
        ),
        // Staff: a range port, a reject, the default allow with `! opt3 net`.
        (
            "10.40.1.1",
            "10.10.20.30",
            "tcp/8444",
            "lan",
            "opt2",
            Action::Allow,
            451,
            "pass on lan inet tcp from lan net to CENTRAL_STATION port 8443-8444 \"Staff to the central station viewer\"",
        ),
        (
            "10.40.1.1",
            "10.10.20.30",
            "tcp/8445",
            "lan",
            "opt2",
            Action::Reject,
            482,
            "reject on lan inet from lan net to CLINICAL_NETS log \"Staff may not reach clinical networks\"",
        ),
        (
            "10.40.1.1",
            "93.184.216.34",
            "tcp/443",
            "lan",
            "wan",
            Action::Allow,
            497,
            "pass on lan inet from lan net to !opt3 net \"Default allow LAN to any rule\"",
        ),
        (
            "10.40.1.1",
            "10.10.0.53",
            "udp/53",
            "lan",
            "opt3",
            Action::Deny,
            0,
            "pfSense default deny rule: block in log inet/inet6 all (\"Default deny rule\")",
        ),
        // The outbound floating rule (non-quick, out on wan).
        (
            "10.40.1.1",
            "93.184.216.34",
            "tcp/25",
            "lan",
            "wan",
            Action::Deny,
            336,
            "block floating out on wan inet tcp from any to any port 25 \"No direct SMTP to the internet\"",
        ),
        // IPv6: the LAN's inet6 rule; the ICMPv6 pfSense passes itself.
        (
            "fd42:1:0:40::5",
            "2001:db8::1",
            "tcp/443",
            "lan",
            "wan",
            Action::Allow,
            512,
            "pass on lan inet6 from lan net to any \"Default allow LAN IPv6 to any rule\"",
        ),
        (
            "fd42:1:0:8::5",
            "fd42:1:0:40::5",
            "icmpv6/1",
            "opt1",
            "lan",
            Action::Allow,
            0,
            "pfSense system rule: pass quick inet6 proto ipv6-icmp from any to any icmp6-type {1,2,135,136} (IPv6 requirements)",
        ),
        // WAN: private sources blocked first; the port forward's rule.
        (
            "10.1.2.3",
            "10.10.20.80",
            "tcp/443",
            "wan",
            "opt2",
            Action::Deny,
            0,
            "pfSense system rule: block in log quick on wan from 10.0.0.0/8 to any (\"Block private networks from wan\")",
        ),
        (
            "198.51.100.7",
            "10.10.20.80",
            "tcp/443",
            "wan",
            "opt2",
            Action::Allow,
            526,
            "pass on wan inet tcp from any to 10.10.20.80 port 443 \"NAT Patient portal\"",
        ),
        // The disabled interface, link-local.
        (
            "192.168.99.5",
            "10.40.0.9",
            "tcp/443",
            "opt4",
            "lan",
            Action::Deny,
            141,
            "interface opt4 is not enabled: it forwards nothing",
        ),
        (
            "10.40.1.1",
            "169.254.1.1",
            "tcp/443",
            "lan",
            "opt2",
            Action::Deny,
            0,
            "pfSense system rule: block in log quick from any to 169.254.0.0/16 (\"Block IPv4 link-local\")",
        ),
    ];
    let mut wrong = Vec::new();
    for &(src, dst, proto, ingress, egress, action, line, text) in cases {
        let (a, l, t, _) = verdict(&d, src, dst, proto, ingress, egress);
        if (a, l, t.as_str()) != (action, line, text) {
            wrong.push(format!(
                "{src} -> {dst} {proto} ({ingress} -> {egress}): got {a} at line {l}: {t}\n  want {action} at line {line}: {text}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // WAN traffic meets the bogon tables pfSense downloads: undecidable.
    let (_, _, _, undecided) = verdict(&d, "198.51.100.7", "10.10.20.80", "tcp/443", "wan", "opt2");
    assert_eq!(undecided, 1);
    assert_eq!(
        verdict(&d, "10.20.8.5", "10.10.20.30", "tcp/515", "opt1", "opt2").3,
        0
    );
    assert_eq!(
        d.skipped,
        [
            "management (7 sections)",
            "users (2 users)",
            "user groups (2 groups)",
            "static routes (1 entry)",
            "DHCP (2 interfaces)",
            "services (3 sections)",
            "syslog (1 section)",
            "NAT port forwards (1 rule)",
            "NAT outbound (1 rule)",
            "traffic shaping (2 sections)",
            "OpenVPN (1 instance)",
            "gateways (1 entry)",
            "DNS (1 section)",
            "rules to or from the firewall itself (2 rules)",
            "disabled rules (1 rule)",
        ]
    );
}

#[test]
fn an_allow_inserted_before_the_contec_block_exposes_it() {
    let d = device("hospital-exposure.xml");
    let (a, line, text, _) = verdict(&d, "10.20.8.5", "202.114.4.119", "tcp/515", "opt1", "wan");
    assert_eq!(
        (a, line, text.as_str()),
        (
            Action::Allow,
            291,
            "pass floating quick any on opt1 inet tcp from ICU_MONITORS to CONTEC_CMS8000 port 515 \"Vendor support session (temporary)\""
        )
    );
    // Only that port, and only from the monitors: the block still holds
    // the rest (it moved down by the inserted rule).
    let (a, line, _, _) = verdict(&d, "10.20.8.5", "202.114.4.119", "udp/2049", "opt1", "wan");
    assert_eq!((a, line), (Action::Deny, 310));
    let (a, line, _, _) = verdict(&d, "10.40.1.1", "202.114.4.119", "tcp/515", "lan", "wan");
    assert_eq!((a, line), (Action::Deny, 310));
    // The original decides the same packet by the block.
    let (a, line, _, _) = verdict(
        &device("hospital.xml"),
        "10.20.8.5",
        "202.114.4.119",
        "tcp/515",
        "opt1",
        "wan",
    );
    assert_eq!((a, line), (Action::Deny, 286));
}

#[test]
fn a_deleted_allow_cuts_the_monitors_off() {
    let d = device("hospital-breakage.xml");
    let (a, line, text, _) = verdict(&d, "10.20.8.5", "10.10.20.30", "tcp/515", "opt1", "opt2");
    assert_eq!((a, line, text.as_str()), (Action::Deny, 393, MONITORS_DENY));
    // Everything else is as before.
    let (a, line, _, _) = verdict(&d, "10.20.8.5", "10.10.0.53", "udp/123", "opt1", "opt3");
    assert_eq!((a, line), (Action::Allow, 377));
}

#[test]
fn an_fqdn_alias_and_a_schedule_are_undecidable() {
    let d = device("hospital-undecidable.xml");
    let packet = Packet::parse("10.20.8.5", "203.0.113.10", "tcp/443").unwrap();
    let o = d.decide(&packet, Some("opt1"), Some("wan"));
    // Taken not to match, listed, and the verdict comes from the next
    // decided entry.
    assert_eq!(o.action, Action::Deny);
    assert_eq!(o.steps[0].1.origin.line, 449);
    let why: Vec<&str> = o
        .undecided
        .iter()
        .map(|e| e.undecidable.as_deref().unwrap())
        .collect();
    assert_eq!(
        why,
        ["FQDN updates.monitor-vendor.example in alias VENDOR_CLOUD (resolved at run time)"]
    );
    assert_eq!(o.undecided[0].decision.origin.line, 416);
    assert_eq!(
        o.undecided[0].decision.origin.text,
        "pass on opt1 inet tcp from ICU_MONITORS to VENDOR_CLOUD port 443 \"Monitor firmware updates from the vendor\""
    );
    let ssh = Packet::parse("10.20.8.5", "10.10.20.30", "tcp/22").unwrap();
    let o = d.decide(&ssh, Some("opt1"), Some("opt2"));
    assert_eq!(o.action, Action::Deny);
    let why: Vec<&str> = o
        .undecided
        .iter()
        .map(|e| e.undecidable.as_deref().unwrap())
        .collect();
    assert_eq!(why, ["schedule BIOMED_HOURS"]);
    assert_eq!(o.undecided[0].decision.origin.line, 432);
    // Nothing undecidable on the decided paths.
    let (a, line, _, n) = verdict(&d, "10.20.8.5", "10.10.20.30", "tcp/515", "opt1", "opt2");
    assert_eq!((a, line, n), (Action::Allow, 400, 0));
}

// ------------------------------------------------------------------ pfSense's own reader

/// `tests/support/pfsense_xmlparse.php backup` on a fixture (PHP's expat
/// with xmlparse.inc's rules); `None` (a visible skip) without PHP.
fn php_parse(name: &str) -> Option<serde_json::Value> {
    let available = std::process::Command::new("php")
        .args(["-r", "exit(function_exists('xml_parser_create') ? 0 : 3);"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        common::skip::skip(
            "the pfSense config reader check needs php with the xml extension (apt-get install php-cli php-xml)",
        );
        return None;
    }
    let out = std::process::Command::new("php")
        .args(["tests/support/pfsense_xmlparse.php", "backup"])
        .arg(Path::new(DIR).join(name))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pfSense's reader rejects {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// The rules pfSense sees, and the ones the device model decides by, are
/// the same rules in the same order; the interfaces are the places.
#[test]
fn pfsenses_own_reader_sees_the_same_configuration() {
    let to_firewall = ["Web GUI from staff", "OpenVPN for on-call staff"];
    for name in [
        "hospital.xml",
        "hospital-exposure.xml",
        "hospital-breakage.xml",
        "hospital-undecidable.xml",
    ] {
        let Some(php) = php_parse(name) else { return };
        let d = device(name);
        let text = fixture(name);
        // (serde_json's objects are sorted by key.)
        let keys: Vec<&str> = php["interfaces"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut places = d.places.clone().unwrap();
        places.sort();
        assert_eq!(places, keys, "{name}");
        // A disabled interface forwards nothing in the model.
        for (key, iface) in php["interfaces"].as_object().unwrap() {
            let filter = d.layers[0]
                .filters
                .iter()
                .find(|f| f.name.starts_with(&format!("in on {key}")))
                .unwrap();
            assert_eq!(
                iface["enable"].as_bool().unwrap(),
                !filter.name.ends_with("(disabled)"),
                "{name} {key}"
            );
        }
        // Aliases: the ones the rules use are all PHP sees by those names.
        let php_aliases: Vec<&str> = php["aliases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        let doc = roxmltree::Document::parse(&text).unwrap();
        let ours: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("alias"))
            .map(|a| {
                a.children()
                    .find(|c| c.has_tag_name("name"))
                    .unwrap()
                    .text()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(php_aliases, ours, "{name}");
        // Rules: PHP's enabled rules, less those to the firewall itself,
        // are exactly the rules the device's entries come from, in order.
        let expected: Vec<String> = php["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| !r["disabled"].as_bool().unwrap())
            .map(|r| r["descr"].as_str().unwrap().to_string())
            .filter(|d| !to_firewall.contains(&d.as_str()))
            .collect();
        let mut lines: Vec<usize> = d
            .layers
            .iter()
            .flat_map(|l| &l.filters)
            .flat_map(|f| &f.entries)
            .map(|e| e.decision.origin.line)
            .filter(|l| *l > 0)
            .collect();
        lines.sort();
        lines.dedup();
        let descr_at = |line: usize| {
            let rule = doc
                .descendants()
                .find(|n| {
                    n.has_tag_name("rule") && doc.text_pos_at(n.range().start).row as usize == line
                })
                .unwrap();
            rule.children()
                .find(|c| c.has_tag_name("descr"))
                .unwrap()
                .text()
                .unwrap()
                .to_string()
        };
        let used: Vec<String> = lines.into_iter().map(descr_at).collect();
        assert_eq!(used, expected, "{name}");
        // And the type and interface PHP reads are the ones the texts show.
        for r in php["rules"].as_array().unwrap() {
            let (ty, iface) = (
                r["type"].as_str().unwrap(),
                r["interface"].as_str().unwrap(),
            );
            let descr = r["descr"].as_str().unwrap();
            for e in d
                .layers
                .iter()
                .flat_map(|l| &l.filters)
                .flat_map(|f| &f.entries)
            {
                if e.decision.origin.text.ends_with(&format!("\"{descr}\"")) {
                    assert!(e.decision.origin.text.starts_with(ty), "{name}: {descr}");
                    assert!(
                        e.decision.origin.text.contains(&format!(" on {iface} ")),
                        "{name}: {descr}"
                    );
                }
            }
        }
    }
}

// ------------------------------------------------------------------ wardwall's own output

/// pfSense's own rules that come before every rule of the file and differ
/// from the IR by design (docs/targets/pfsense.md, "What pfSense adds
/// before these rules"): the ICMPv6 passes, the port 0 and link-local
/// blocks.
fn designed_difference(packet: &Packet, text: &str) -> bool {
    let system = |label: &str| text.starts_with("pfSense system rule:") && text.contains(label);
    (packet.src.is_ipv6()
        && matches!(
            packet.proto,
            Proto::Icmp {
                ty: 1 | 2 | 135 | 136
            }
        )
        && system("IPv6 requirements"))
        || (matches!(
            packet.proto,
            Proto::Tcp { dport: 0 } | Proto::Udp { dport: 0 }
        ) && system("Block traffic to port 0"))
        || system("Block IPv4 link-local")
}

#[test]
fn wardwalls_own_output_reads_back_as_the_ir_decides() {
    let mut policies = common::shipped_policies();
    let mut tests: Vec<_> = std::fs::read_dir("tests/policies")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    tests.sort();
    let shipped = policies.len();
    policies.extend(tests);
    let reader = wardwall::registry::reader(Target::PfSense);
    let mut wrong = Vec::new();
    let (mut compared, mut read) = (0, 0);
    for (i, path) in policies.iter().enumerate() {
        let ir = common::compile_ok(path, PROBE_DATE);
        if i >= shipped && common::try_render(&ir, Target::PfSense).is_err() {
            continue;
        }
        let (file, _) = common::readable(&ir, Target::PfSense);
        let d = reader
            .device(&wardwall::read::pfsense::restored(&ir, &file.contents))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        read += 1;
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
            0xdf5e_0000 + i as u64,
            400,
        ));
        let place = |ip| {
            ir.zone_of(ip)
                .and_then(|z| z.bindings.get("pfsense"))
                .map(String::as_str)
        };
        for packet in &packets {
            let policy = ir.evaluate(packet);
            let o = d.decide(packet, place(packet.src), place(packet.dst));
            compared += 1;
            assert!(
                o.undecided.is_empty(),
                "wardwall writes nothing undecidable"
            );
            let inbound = &o.steps[0].1.origin;
            let step = if o.action.permits() {
                inbound
            } else {
                &o.steps.last().unwrap().1.origin
            };
            if o.action.permits() != policy.action.permits()
                && !designed_difference(packet, &step.text)
            {
                wrong.push(format!(
                    "{}: {packet:?}: the IR says {} by `{}`, the device {} by line {}: {}",
                    path.display(),
                    policy.action,
                    ir.verdict_rule_name(&policy),
                    o.action,
                    step.line,
                    step.text
                ));
            }
            if let Some(rule) = &inbound.rule
                && o.action.permits() == policy.action.permits()
                && rule != ir.verdict_rule_name(&policy)
            {
                wrong.push(format!(
                    "{}: {packet:?}: the IR decides by `{}`, the device by `{rule}` (line {})",
                    path.display(),
                    ir.verdict_rule_name(&policy),
                    inbound.line
                ));
            }
        }
    }
    assert!(
        read > shipped && compared >= HOSPITAL_PROBES.len() + shipped * 400,
        "{read} files, {compared} packets"
    );
    assert!(
        wrong.is_empty(),
        "{} disagreement(s):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// The differential check can fail: the hospital with its Contec block
/// turned into a pass disagrees on the Contec probe.
#[test]
fn a_tampered_rendering_is_caught() {
    let ir = common::compile_ok(common::hospital(), PROBE_DATE);
    let (file, reader) = common::readable(&ir, Target::PfSense);
    let tampered = file
        .contents
        .replace("<type>block</type>", "<type>pass</type>");
    let d = reader
        .device(&wardwall::read::pfsense::restored(&ir, &tampered))
        .unwrap();
    let probe = HOSPITAL_PROBES
        .iter()
        .find(|p| p.what.starts_with("contec monitor"))
        .unwrap();
    let packet = Packet::parse(probe.src, probe.dst, probe.proto).unwrap();
    let place = |ip| {
        ir.zone_of(ip)
            .and_then(|z| z.bindings.get("pfsense"))
            .map(String::as_str)
    };
    assert!(!ir.evaluate(&packet).action.permits());
    assert!(
        d.decide(&packet, place(packet.src), place(packet.dst))
            .action
            .permits()
    );
}

#[test]
fn what_is_not_understood_is_an_error_with_its_place() {
    let reader = wardwall::registry::reader(Target::PfSense);
    let base = fixture("hospital.xml");
    for (from, to, line, message) in [
        (
            "<type>reject</type>",
            "<type>deny</type>",
            485,
            "rule type `deny`",
        ),
        (
            "\t<wol></wol>\n",
            "\t<frobnicator></frobnicator>\n",
            587,
            "section <frobnicator>",
        ),
        (
            "<address>10.10.20.80</address>",
            "<address>2001:db8::80</address>",
            537,
            "pfctl refuses the whole ruleset",
        ),
        (
            "<port>8443-8444</port>",
            "<port>8443-http</port>",
            463,
            "port `8443-http`",
        ),
    ] {
        assert!(base.contains(from), "{from}");
        let e = reader.device(&base.replacen(from, to, 1)).unwrap_err();
        assert_eq!(e.line, line, "{e}");
        assert!(e.message.contains(message), "{e}");
    }
    // Not a full backup: wardwall's own fragment has no <interfaces>.
    let ir = common::compile_ok(common::hospital(), PROBE_DATE);
    let (file, _) = common::readable(&ir, Target::PfSense);
    assert!(
        reader
            .device(&file.contents)
            .unwrap_err()
            .message
            .contains("no <interfaces>")
    );
}

// ------------------------------------------------------------------ drift

/// The policy `hospital-no-bogons.xml` implements (see its header).
const DRIFT_POLICY: &str = "tests/policies/drift/pfsense.kdl";
const AGREES: &str = "hospital-no-bogons.xml";
/// The base fixture and its hand edits, all with WAN's bogon block.
const WITH_BOGONS: [&str; 4] = [
    "hospital.xml",
    "hospital-exposure.xml",
    "hospital-breakage.xml",
    "hospital-undecidable.xml",
];
const INSERTED_ALLOW: &str = "pass floating quick any on opt1 inet tcp from ICU_MONITORS to CONTEC_CMS8000 port 515 \"Vendor support session (temporary)\"";
const BOGONS: &str = "pfSense system rule: block in log quick on wan from <bogons> to any (\"block bogon IPv4 networks from wan\")";

fn drift_ir() -> wardwall::ir::Ir {
    common::compile_ok(Path::new(DRIFT_POLICY), PROBE_DATE)
}

fn fixture_path(name: &str) -> String {
    format!("{DIR}/{name}")
}

/// `compare` as `wardwall drift` runs it: beyond what the policy's own
/// rendering, deployed, does too.
fn drift_of(ir: &wardwall::ir::Ir, name: &str) -> Comparison {
    drift::beyond_baseline(ir, &device(name))
}

fn addrs(nets: &[&str]) -> AddrSet {
    AddrSet::from_nets(nets.iter().map(|n| n.parse::<ipnet::IpNet>().unwrap()))
}

fn tcp(ports: &[(u16, u16)]) -> ServiceSet {
    let mut s = ServiceSet::default();
    for &(lo, hi) in ports {
        s.tcp = s.tcp.union(&PortSet::range(lo, hi));
    }
    s
}

/// What WAN's bogon block leaves undecided: the internet (less the
/// addresses the link-local and Contec blocks decide first) to the patient
/// portal, the one thing WAN passes.
fn bogon_space(ir: &wardwall::ir::Ir) -> Space {
    let internet = &ir
        .zones
        .iter()
        .find(|z| z.name == "internet")
        .unwrap()
        .addrs;
    let src = internet.difference(&addrs(&["202.114.4.0/24", "169.254.0.0/16", "::/0"]));
    Space::from_parts(&src, &addrs(&["10.10.20.80/32"]), &tcp(&[(443, 443)]))
}

fn drift_cli(name: &str, format: &str) -> common::Ran {
    drift::cli(
        DRIFT_POLICY,
        Target::PfSense,
        &fixture_path(name),
        &["--format", format],
    )
}

fn json_findings(name: &str, code: i32) -> serde_json::Value {
    drift::json_device(&drift_cli(name, "json").expect_code(code).stdout)
}

#[test]
fn drift_the_fixture_the_policy_describes_agrees() {
    let out = drift_cli(AGREES, "text").expect_code(0);
    assert!(
        out.stdout.starts_with(&format!(
            "pfsense ({}): the device agrees with the policy\n",
            fixture_path(AGREES)
        )),
        "{}",
        out.stdout
    );
    let json = json_findings(AGREES, 0);
    assert_eq!(json["findings"].as_array().unwrap().len(), 0);
    assert_eq!(
        json["summary"],
        serde_json::json!({"exposure": 0, "breakage": 0, "undecidable": 0})
    );
    let ir = drift_ir();
    let c = drift_of(&ir, AGREES);
    assert!(c.regions.is_empty(), "{:?}", c.regions);
    assert!(c.not_compared.is_empty(), "{:?}", c.not_compared);
    // What is inherent is pfSense's own rules (the link-local blocks, the
    // ICMPv6 passes, port 0), never a line of the file.
    let d = device(AGREES);
    assert!(!c.inherent.is_empty());
    for r in &c.inherent {
        let at = *r.device.last().unwrap();
        let origin = &filter_decision(&d, at).origin;
        assert_eq!(origin.line, 0, "{}", origin.text);
        assert!(
            origin.text.starts_with("pfSense system rule:"),
            "{}",
            origin.text
        );
    }
}

#[test]
fn drift_the_bogon_block_makes_what_wan_passes_undecidable() {
    let ir = drift_ir();
    let c = drift_of(&ir, "hospital.xml");
    let d = device("hospital.xml");
    assert!(
        c.regions.iter().all(|r| r.kind == DriftKind::Undecidable),
        "{:?}",
        c.regions
    );
    assert!(union_of(&c.regions, DriftKind::Undecidable).same_as(&bogon_space(&ir)));
    let portal = rule_index(&ir, "internet-to-patient-portal");
    for r in &c.regions {
        assert_eq!(r.policy, Some(portal));
        let (at, why) = r.undecided.as_ref().unwrap();
        assert_eq!(filter_decision(&d, *at).origin.text, BOGONS);
        assert_eq!(
            why,
            "the source in table bogons, the bogon list pfSense downloads"
        );
    }
    // The policy's own rules, restored into this firewall, meet the same
    // bogon block: the CLI lists it as inherent, not as drift.
    let out = drift_cli("hospital.xml", "text").expect_code(0);
    assert!(
        out.stdout.contains("the device agrees with the policy"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("inherent to pfsense"), "{}", out.stdout);
    let json: serde_json::Value =
        serde_json::from_str(&drift_cli("hospital.xml", "json").expect_code(0).stdout).unwrap();
    let inherent = json["devices"][0]["inherent"].as_array().unwrap();
    assert!(
        inherent
            .iter()
            .any(|f| f["kind"] == "undecidable" && f["undecided"]["text"] == BOGONS),
        "the bogon block is listed as inherent"
    );
}

#[test]
fn drift_an_allow_before_the_contec_block_is_exactly_its_traffic_exposed() {
    let ir = drift_ir();
    let name = "hospital-exposure.xml";
    let c = drift_of(&ir, name);
    let d = device(name);
    // The inserted entry's box: nothing of it is allowed by the policy.
    let inserted = Space::from_parts(
        &addrs(&["10.20.8.0/24"]),
        &addrs(&["202.114.4.0/24"]),
        &tcp(&[(515, 515)]),
    );
    assert!(union_of(&c.regions, DriftKind::Exposure).same_as(&inserted));
    assert!(union_of(&c.regions, DriftKind::Breakage).is_empty());
    assert!(union_of(&c.regions, DriftKind::Undecidable).same_as(&bogon_space(&ir)));
    let block = &ir.rules[ir
        .rules
        .iter()
        .position(|r| matches!(r.origin, wardwall::ir::RuleOrigin::AdvisoryBlock { .. }))
        .unwrap()];
    for r in c.regions.iter().filter(|r| r.kind == DriftKind::Exposure) {
        let policy = &ir.rules[r.policy.unwrap()];
        assert!(
            matches!(
                policy.origin,
                wardwall::ir::RuleOrigin::AdvisoryBlock { .. }
            ),
            "{}",
            policy.name
        );
        let inbound = filter_decision(&d, r.device[0]);
        assert_eq!(
            (inbound.origin.line, inbound.origin.text.as_str()),
            (291, INSERTED_ALLOW)
        );
    }
    let out = drift_cli(name, "text").expect_code(1);
    let file = fixture_path(name);
    assert!(
        out.stdout
            .contains(&format!("icu-monitors (10.20.8.0/24) → contec-cms8000 (202.114.4.0/24)  tcp/515  device allow, policy deny by advisory block {}", block.name)),
        "{}",
        out.stdout
    );
    let json = json_findings(name, 1);
    let exposed: Vec<&serde_json::Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "exposure")
        .collect();
    assert!(!exposed.is_empty());
    for f in exposed {
        assert_eq!(f["code"], "advisory-block-weakened", "{f}");
        assert_eq!(f["severity"], "critical", "{f}");
        assert_eq!(f["policy"]["rule"], block.name.as_str(), "{f}");
        let first = &f["device"]["entries"][0];
        assert_eq!(first["line"], 291);
        assert_eq!(first["text"], INSERTED_ALLOW);
    }
    // The text names the entry that lets it through, not only the last
    // layer's `pass out all`.
    assert!(
        out.stdout.contains(&format!(
            "    {file}:291:3: {INSERTED_ALLOW} (in on opt1)\n"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("advisory-block-weakened"),
        "{}",
        out.stdout
    );
}

#[test]
fn drift_a_deleted_allow_is_exactly_its_traffic_broken() {
    let ir = drift_ir();
    let name = "hospital-breakage.xml";
    let c = drift_of(&ir, name);
    let d = device(name);
    let deleted = Space::from_parts(
        &addrs(&["10.20.8.0/24"]),
        &addrs(&["10.10.20.30/32", "10.10.20.31/32"]),
        &tcp(&[(515, 515), (6661, 6670)]),
    );
    assert!(union_of(&c.regions, DriftKind::Breakage).same_as(&deleted));
    assert!(union_of(&c.regions, DriftKind::Exposure).is_empty());
    assert!(union_of(&c.regions, DriftKind::Undecidable).same_as(&bogon_space(&ir)));
    let rule = rule_index(&ir, "monitors-to-central-station");
    for r in c.regions.iter().filter(|r| r.kind == DriftKind::Breakage) {
        assert_eq!(r.policy, Some(rule));
        let at = filter_decision(&d, *r.device.last().unwrap());
        assert_eq!(
            (at.origin.line, at.origin.text.as_str()),
            (393, MONITORS_DENY)
        );
    }
    let out = drift_cli(name, "text").expect_code(1);
    let file = fixture_path(name);
    for want in [
        "- breakage     icu-monitors (10.20.8.0/24) → central-stations (10.10.20.30/31)  tcp/515, tcp/6661-6670  device deny, policy allow by rule monitors-to-central-station\n".to_string(),
        format!("    {file}:393:3: {MONITORS_DENY} (in on opt1)\n"),
    ] {
        assert!(out.stdout.contains(&want), "{want}\n{}", out.stdout);
    }
}

#[test]
fn drift_an_fqdn_and_a_schedule_are_undecidable_never_exposure() {
    let ir = drift_ir();
    let name = "hospital-undecidable.xml";
    let c = drift_of(&ir, name);
    let d = device(name);
    assert!(union_of(&c.regions, DriftKind::Exposure).is_empty());
    assert!(union_of(&c.regions, DriftKind::Breakage).is_empty());
    // The FQDN alias may hold any address: every destination the monitors
    // reach through it, but those blocked first (the Contec subnet,
    // link-local) and those no packet leaves for (spare is disabled).
    let fqdn = Space::from_parts(
        &addrs(&["10.20.8.0/24"]),
        &addrs(&["0.0.0.0/0"]).difference(&addrs(&[
            "202.114.4.0/24",
            "169.254.0.0/16",
            "192.168.99.0/24",
        ])),
        &tcp(&[(443, 443)]),
    );
    let schedule = Space::from_parts(
        &addrs(&["10.20.8.0/24"]),
        &addrs(&["10.10.20.0/24"]),
        &tcp(&[(22, 22)]),
    );
    let by = |line: usize| {
        c.regions
            .iter()
            .filter(|r| {
                filter_decision(&d, r.undecided.as_ref().unwrap().0)
                    .origin
                    .line
                    == line
            })
            .fold(Space::empty(), |acc, r| acc.union(&r.space))
    };
    assert!(by(416).same_as(&fqdn), "{:?}", by(416).difference(&fqdn));
    assert!(by(432).same_as(&schedule));
    assert!(by(0).same_as(&bogon_space(&ir)));
    for r in &c.regions {
        assert_eq!(r.kind, DriftKind::Undecidable);
        let (at, why) = r.undecided.as_ref().unwrap();
        let expected = match filter_decision(&d, *at).origin.line {
            416 => {
                "FQDN updates.monitor-vendor.example in alias VENDOR_CLOUD (resolved at run time)"
            }
            432 => "schedule BIOMED_HOURS",
            0 => "the source in table bogons, the bogon list pfSense downloads",
            l => panic!("line {l}"),
        };
        assert_eq!(why, expected);
    }
    let out = drift_cli(name, "text").expect_code(1);
    let file = fixture_path(name);
    for want in [
        format!(
            "    {file}:416:3: pass on opt1 inet tcp from ICU_MONITORS to VENDOR_CLOUD port 443 \"Monitor firmware updates from the vendor\" (in on opt1) — undecidable: FQDN updates.monitor-vendor.example in alias VENDOR_CLOUD (resolved at run time)\n"
        ),
        format!(
            "    {file}:432:3: pass on opt1 inet tcp from ICU_MONITORS to opt2 net port 22 \"Biomed maintenance window\" (in on opt1) — undecidable: schedule BIOMED_HOURS\n"
        ),
    ] {
        assert!(out.stdout.contains(&want), "{want}\n{}", out.stdout);
    }
    assert!(
        !out.stdout
            .lines()
            .any(|l| l.starts_with("+ exposure") || l.starts_with("- breakage")),
        "{}",
        out.stdout
    );
}

/// Every possible verdict of the device for a packet: each undecidable
/// entry it meets may match (its box, as decided) or not.
fn possible_verdicts(
    d: &Device,
    p: &Packet,
    ingress: Option<&str>,
    egress: Option<&str>,
) -> Vec<Action> {
    let o = d.decide(p, ingress, egress);
    let Some(first) = o.undecided.first() else {
        return vec![o.action];
    };
    let mut at = None;
    for (l, layer) in d.layers.iter().enumerate() {
        for (f, filter) in layer.filters.iter().enumerate() {
            for (e, entry) in filter.entries.iter().enumerate() {
                if std::ptr::eq(entry, *first) {
                    at = Some((l, f, e));
                }
            }
        }
    }
    let (l, f, e) = at.unwrap();
    let mut matches = d.clone();
    matches.layers[l].filters[f].entries[e].undecidable = None;
    let mut not = d.clone();
    not.layers[l].filters[f].entries[e].src = AddrSet::default();
    let mut out = possible_verdicts(&matches, p, ingress, egress);
    out.extend(possible_verdicts(&not, p, ingress, egress));
    out
}

/// For the policy's edge packets and probes of each change, on every
/// fixture: a packet is in an exposure (breakage) region exactly when
/// `Device::decide`, with nothing undecidable on its way, allows (denies)
/// what the policy denies (allows); in an undecidable region exactly when
/// it meets an undecidable entry and one of the verdicts it may get
/// disagrees with the policy.
#[test]
fn drift_regions_are_what_the_device_model_decides_packet_by_packet() {
    let ir = drift_ir();
    let mut packets: Vec<Packet> = [
        ("10.20.8.5", "202.114.4.119", "tcp/515"),
        ("10.20.8.5", "202.114.4.119", "tcp/516"),
        ("10.20.8.5", "10.10.20.30", "tcp/515"),
        ("10.20.8.5", "10.10.20.31", "tcp/6670"),
        ("10.20.8.5", "10.10.20.30", "tcp/6671"),
        ("10.20.8.5", "10.10.20.40", "tcp/22"),
        ("10.20.8.5", "203.0.113.10", "tcp/443"),
        ("10.20.8.5", "192.168.99.5", "tcp/443"),
        ("10.20.8.5", "10.99.1.1", "tcp/443"),
        ("10.20.8.5", "10.10.0.53", "udp/123"),
        ("198.51.100.7", "10.10.20.80", "tcp/443"),
        ("10.1.2.3", "10.10.20.80", "tcp/443"),
        ("10.40.1.1", "93.184.216.34", "tcp/25"),
        ("10.40.1.1", "10.99.0.1", "tcp/25"),
        ("10.40.1.1", "192.168.99.5", "tcp/443"),
        ("10.40.1.1", "10.10.20.31", "tcp/8444"),
        ("10.10.0.5", "192.168.99.5", "icmp/echo-request"),
        ("10.10.0.5", "10.99.0.1", "icmp/echo-request"),
        ("fd42:1:0:40::5", "2001:db8::1", "tcp/25"),
    ]
    .iter()
    .map(|(s, d, p)| Packet::parse(s, d, p).unwrap())
    .collect();
    packets.extend(common::edge_packets::edge_packets(&ir, 0xd21f_7000, 1500));
    let place = |ip| {
        ir.zone_of(ip)
            .and_then(|z| z.bindings.get("pfsense"))
            .map(String::as_str)
    };
    let mut wrong = Vec::new();
    for name in std::iter::once(AGREES).chain(WITH_BOGONS) {
        let d = device(name);
        let c = compare(&ir, &d);
        let mut seen = [0usize; 3];
        for p in &packets {
            let policy = ir.evaluate(p).action.permits();
            let (ingress, egress) = (place(p.src), place(p.dst));
            let o = d.decide(p, ingress, egress);
            let expected = if o.undecided.is_empty() {
                match (o.action.permits(), policy) {
                    (true, false) => Some(DriftKind::Exposure),
                    (false, true) => Some(DriftKind::Breakage),
                    _ => None,
                }
            } else {
                possible_verdicts(&d, p, ingress, egress)
                    .iter()
                    .any(|a| a.permits() != policy)
                    .then_some(DriftKind::Undecidable)
            };
            let found: Vec<DriftKind> = c
                .regions
                .iter()
                .filter(|r| r.space.contains(p))
                .map(|r| r.kind)
                .collect();
            if let Some(k) = expected {
                seen[k as usize] += 1;
            }
            if found != expected.into_iter().collect::<Vec<_>>() {
                wrong.push(format!(
                    "{name}: {p} ({ingress:?} -> {egress:?}): regions {found:?}, the model says {expected:?} (device {}, policy {})",
                    o.action,
                    ir.evaluate(p).action
                ));
            }
        }
        // Each copy's change is among the packets.
        let want_seen = match name {
            "hospital-exposure.xml" => DriftKind::Exposure,
            "hospital-breakage.xml" => DriftKind::Breakage,
            _ => DriftKind::Undecidable,
        };
        assert!(
            name == AGREES || seen[want_seen as usize] > 0,
            "{name}: no packet in a {want_seen:?} region"
        );
    }
    assert!(
        wrong.is_empty(),
        "{} packet(s):\n{}",
        wrong.len(),
        wrong[..wrong.len().min(30)].join("\n")
    );
}

#[test]
fn drift_text_markdown_and_json_list_the_same_findings() {
    for name in std::iter::once(AGREES).chain(WITH_BOGONS) {
        // hospital.xml differs only by its bogon block, which the policy's
        // own rules restored into it meet too (inherent, not drift).
        let code = if name == AGREES || name == "hospital.xml" {
            0
        } else {
            1
        };
        let text = drift_cli(name, "text").expect_code(code).stdout;
        let markdown = drift_cli(name, "markdown").expect_code(code).stdout;
        let json = json_findings(name, code);
        for (kind, sign) in [("exposure", '+'), ("breakage", '-'), ("undecidable", '?')] {
            let in_json = json["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["kind"] == kind)
                .count();
            let in_text = text
                .lines()
                .filter(|l| l.starts_with(&format!("{sign} {kind}")))
                .count();
            let in_markdown = markdown
                .lines()
                .filter(|l| l.starts_with(&format!("| {sign} | {kind} |")))
                .count();
            assert_eq!(json["summary"][kind], in_json, "{name} {kind}");
            assert_eq!((in_text, in_markdown), (in_json, in_json), "{name} {kind}");
        }
        // Each finding's boxes and device lines agree across the formats.
        for f in json["findings"].as_array().unwrap() {
            let (src, dst, service) = (
                f["src"]["name"].as_str().unwrap_or_default(),
                f["dst"]["name"].as_str().unwrap_or_default(),
                f["service"].as_str().unwrap(),
            );
            for out in [&text, &markdown] {
                assert!(out.contains(src) && out.contains(dst) && out.contains(service));
            }
            let deciding = f["undecided"]
                .as_object()
                .map_or(f["device"]["entries"][0].clone(), |u| {
                    serde_json::Value::Object(u.clone())
                });
            let line = deciding["line"].as_u64().unwrap();
            if line > 0 {
                let located = format!("{}:{line}:", fixture_path(name));
                assert!(text.contains(&located), "{name}: {located}");
                assert!(markdown.contains(&located), "{name}: {located}");
            }
        }
    }
}

#[test]
fn drift_an_unreadable_export_is_exit_2_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let base = fixture("hospital.xml");
    for (file, text, place) in [
        (
            "deny.xml",
            base.replacen("<type>reject</type>", "<type>deny</type>", 1),
            ":485:4: ",
        ),
        (
            "cut.xml",
            base[..base.find("<filter>").unwrap() + 30].to_string(),
            "",
        ),
    ] {
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        let out = common::run([
            "drift",
            DRIFT_POLICY,
            "--device",
            &format!("pfsense={}", path.display()),
            "--date",
            PROBE_DATE,
        ])
        .expect_code(2);
        let shown = path.display().to_string();
        let at = out
            .stderr
            .find(&shown)
            .unwrap_or_else(|| panic!("{}", out.stderr));
        let rest = &out.stderr[at + shown.len()..];
        if place.is_empty() {
            let mut parts = rest.splitn(4, ':');
            assert_eq!(parts.next(), Some(""), "{}", out.stderr);
            for _ in 0..2 {
                let n = parts.next().unwrap();
                assert!(
                    !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()),
                    "{}",
                    out.stderr
                );
            }
        } else {
            assert!(rest.starts_with(place), "{}", out.stderr);
        }
        assert!(
            out.stdout.is_empty(),
            "nothing half-reported: {}",
            out.stdout
        );
    }
}

#[test]
fn explain_against_the_exposure_copy_names_the_inserted_entry() {
    let file = fixture_path("hospital-exposure.xml");
    let out = common::run([
        "explain",
        DRIFT_POLICY,
        "10.20.8.5",
        "202.114.4.119",
        "tcp/515",
        "--target",
        "pfsense",
        "--against",
        &file,
        "--date",
        PROBE_DATE,
    ])
    .expect_code(1);
    assert!(out.stdout.contains("DISAGREES"), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "in on opt1: {file}:291:3: {INSERTED_ALLOW} -> allow\n"
        )),
        "{}",
        out.stdout
    );
    // The agreeing copy agrees on it.
    let out = common::run([
        "explain",
        DRIFT_POLICY,
        "10.20.8.5",
        "202.114.4.119",
        "tcp/515",
        "--target",
        "pfsense",
        "--against",
        &fixture_path(AGREES),
        "--date",
        PROBE_DATE,
    ])
    .expect_code(0);
    assert!(
        out.stdout.contains("pfsense agrees with the policy"),
        "{}",
        out.stdout
    );
}
