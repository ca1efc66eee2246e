//! `wardwall explain --target T`: the answer read back from T's rendered
//! output must give every hospital probe the policy's verdict and deciding
//! rule, and a tampered copy of the output (read with `--against DIR`) must
//! be reported as a disagreement (exit 1).

use crate::common;

use std::path::Path;

use common::probes::{HOSPITAL_PROBES, PROBE_DATE};

const POLICY: &str = common::HOSPITAL;

use common::wardwall;

/// Runs `explain POLICY SRC DST PROTO --target T [extra]`; (exit code,
/// stdout, stderr).
fn explain(
    target: &str,
    src: &str,
    dst: &str,
    proto: &str,
    extra: &[&str],
) -> (i32, String, String) {
    common::Ran::of(
        wardwall()
            .args(["explain", POLICY, src, dst, proto, "--date", PROBE_DATE])
            .args(["--target", target])
            .args(extra),
    )
    .parts()
}

/// The lines of the target's section: (deciding-entry line, verdict line,
/// agreement line).
fn target_section<'a>(target: &str, text: &'a str) -> (&'a str, &'a str, &'a str) {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with(&format!("target {target} (")))
        .unwrap_or_else(|| panic!("no target section: {text}"));
    let rest: Vec<&str> = lines[start..]
        .iter()
        .copied()
        .filter(|l| !l.starts_with("  note: "))
        .collect();
    assert_eq!(
        rest.len(),
        5,
        "header, place, entry, verdict, agreement: {text}"
    );
    assert!(rest[1].starts_with("  "), "{text}");
    (rest[2], rest[3], rest[4])
}

/// Every probe: the policy's decision path is printed first, then the
/// target's deciding entry belongs to the rule the probe expects, with the
/// policy's verdict, and the command says so (exit 0).
fn every_probe_agrees(target: &str) {
    let mut failures = Vec::new();
    for probe in HOSPITAL_PROBES {
        let (code, out, err) = explain(target, probe.src, probe.dst, probe.proto, &[]);
        if code != 0 {
            failures.push(format!("{}: exit {code}\n{out}{err}", probe.what));
            continue;
        }
        assert!(out.starts_with("packet: "), "{out}");
        let policy_verdict = out
            .lines()
            .find(|l| l.starts_with("verdict: "))
            .unwrap_or_else(|| panic!("no policy verdict: {out}"));
        let policy_action = policy_verdict.split(' ').nth(1).unwrap();
        let (entry, verdict, agreement) = target_section(target, &out);
        let want_rule = format!("deciding entry (rule `{}`): ", probe.expect_rule);
        if !entry.starts_with(&format!("  {want_rule}")) {
            failures.push(format!("{}: expected {want_rule}, got {entry}", probe.what));
        }
        let target_action = verdict.trim_start().split([' ', ',']).nth(1).unwrap();
        let passes = |a: &str| a == "allow";
        if passes(target_action) != passes(policy_action) {
            failures.push(format!(
                "{}: policy {policy_action}, {target} {target_action}",
                probe.what
            ));
        }
        if agreement != format!("{target} agrees with the policy") {
            failures.push(format!("{}: {agreement}", probe.what));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Builds the target into a fresh directory and returns it with the path
/// of the rendered file.
fn build(target: &str, ext: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    wardwall()
        .args(["build", POLICY, "--date", PROBE_DATE, "-t", target, "-o"])
        .arg(dir.path())
        .assert()
        .code(0);
    let files: Vec<_> = std::fs::read_dir(dir.path().join(target))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let file = files[0].clone();
    (dir, file)
}

/// Replaces every occurrence of `from` by `to` in `file` (at least one).
fn tamper(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{from} not in {}", file.display());
    std::fs::write(file, text.replace(from, to)).unwrap();
}

/// An untouched build read with `--against` agrees; after `tamper` it
/// disagrees (exit 1) on the contec probe, naming both verdicts.
fn tampered_copy_disagrees(target: &str, ext: &str, tamper_it: impl Fn(&Path)) {
    let (dir, file) = build(target, ext);
    let against = ["--against", dir.path().to_str().unwrap()];
    let (src, dst, proto) = ("10.20.8.5", "202.114.4.119", "tcp/515");
    let (code, out, err) = explain(target, src, dst, proto, &against);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("target {target} ({})", file.display())),
        "{out}"
    );
    assert!(
        out.ends_with(&format!("{target} agrees with the policy\n")),
        "{out}"
    );
    tamper_it(&file);
    let (code, out, err) = explain(target, src, dst, proto, &against);
    assert_eq!(code, 1, "{out}{err}");
    let (_, verdict, agreement) = target_section(target, &out);
    assert!(verdict.starts_with("  verdict: allow"), "{out}");
    assert!(
        agreement.starts_with(&format!(
            "{target} DISAGREES with the policy: the policy says deny, the target says allow"
        )),
        "{out}"
    );
    // The policy's own path still comes first, unchanged.
    assert!(
        out.contains("verdict: deny by rule `contec-cms8000.out`"),
        "{out}"
    );
}

/// A file that is not the target's output is an error (exit 2), as is a
/// missing one; neither is answered.
fn unreadable_files_are_usage_errors(target: &str, ext: &str) {
    let (dir, file) = build(target, ext);
    let against = ["--against", dir.path().to_str().unwrap()];
    std::fs::write(&file, "this is not a firewall configuration\n").unwrap();
    let (code, out, err) = explain(target, "10.20.8.5", "8.8.8.8", "tcp/443", &against);
    assert_eq!(code, 2, "{out}{err}");
    assert!(!out.contains(&format!("target {target}")), "{out}");
    assert!(err.contains(&file.display().to_string()), "{err}");
    std::fs::remove_file(&file).unwrap();
    let (code, _, err) = explain(target, "10.20.8.5", "8.8.8.8", "tcp/443", &against);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read"), "{err}");
}

// ------------------------------------------------------------------ cisco

#[test]
fn cisco_agrees_with_the_policy_on_every_probe() {
    every_probe_agrees("cisco");
}

#[test]
fn cisco_tampered_deny_is_a_disagreement() {
    tampered_copy_disagrees("cisco", "ios", |file| {
        // contec-cms8000.out's entry on the quarantine's ACL (both the
        // versioned and the stable copy).
        tamper(
            file,
            "deny ip 10.20.8.0 0.0.0.255 202.114.4.0 0.0.0.255 log",
            "permit ip 10.20.8.0 0.0.0.255 202.114.4.0 0.0.0.255 log",
        )
    });
}

#[test]
fn cisco_unreadable_files_are_usage_errors() {
    unreadable_files_are_usage_errors("cisco", "ios");
}

#[test]
fn cisco_quotes_the_deciding_entry_and_the_interface() {
    let (code, out, _) = explain("cisco", "10.20.1.7", "10.10.0.14", "udp/514", &[]);
    assert_eq!(code, 0, "{out}");
    let (entry, verdict, _) = target_section("cisco", &out);
    assert!(
        out.contains(
            "\n  interface Vlan120 (zone icu-devices), inbound IPv4 ACL WW-icu-devices-IN4\n"
        ),
        "{out}"
    );
    assert!(
        entry.starts_with("  deciding entry (rule `devices-to-syslog`): `")
            && entry.contains(" permit object-group WW-SVC-")
            && entry.contains(" host 10.10.0.14` (member `udp eq 514` of object-group WW-SVC-"),
        "{out}"
    );
    assert_eq!(verdict, "  verdict: allow");
}

/// An entry that names a service object group is quoted with the member
/// that matched.
#[test]
fn cisco_names_the_service_group_member_that_matched() {
    let (code, out, _) = explain("cisco", "10.10.20.30", "10.10.21.10", "tcp/6665", &[]);
    assert_eq!(code, 0, "{out}");
    let (entry, _, _) = target_section("cisco", &out);
    assert!(
        entry.starts_with("  deciding entry (rule `clinical-apps-to-hl7`): `")
            && entry.contains(" permit object-group WW-SVC-")
            && entry.contains("` (member `tcp range 6661 6670` of object-group WW-SVC-"),
        "{out}"
    );
}

#[test]
fn cisco_a_missing_binding_in_the_file_is_unfiltered_and_disagrees() {
    // Removing the quarantine's binding leaves its traffic unfiltered: the
    // file no longer protects what the policy denies.
    let (dir, file) = build("cisco", "ios");
    let text = std::fs::read_to_string(&file).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(" ip access-group WW-monitor-quarantine-IN4"))
        .collect();
    assert!(kept.len() < text.lines().count());
    std::fs::write(&file, kept.join("\n") + "\n").unwrap();
    let against = ["--against", dir.path().to_str().unwrap()];
    let (code, out, err) = explain("cisco", "10.20.8.5", "202.114.4.119", "tcp/515", &against);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("no IPv4 ACL is bound inbound on Vlan128"),
        "{out}"
    );
    assert!(out.contains("cisco DISAGREES with the policy"), "{out}");
}

// ------------------------------------------------------------------ pfsense

#[test]
fn pfsense_agrees_with_the_policy_on_every_probe() {
    every_probe_agrees("pfsense");
}

#[test]
fn pfsense_tampered_deny_is_a_disagreement() {
    tampered_copy_disagrees("pfsense", "xml", |file| {
        // The first rule of every interface is its contec-cms8000.out
        // block; turn every one of them into a pass.
        let text = std::fs::read_to_string(file).unwrap();
        let mut out = String::new();
        let mut changed = 0;
        let mut pending_block = false;
        for line in text.lines() {
            if line.trim() == "<type>block</type>" {
                pending_block = true;
            }
            if pending_block && line.contains("<descr>contec-cms8000.out") {
                // Rewrite the type line already written for this rule.
                let at = out.rfind("<type>block</type>").unwrap();
                out.replace_range(at..at + "<type>block</type>".len(), "<type>pass</type>");
                changed += 1;
            }
            if line.contains("<descr>") {
                pending_block = false;
            }
            out.push_str(line);
            out.push('\n');
        }
        assert!(changed > 0);
        std::fs::write(file, out).unwrap();
    });
}

#[test]
fn pfsense_unreadable_files_are_usage_errors() {
    unreadable_files_are_usage_errors("pfsense", "xml");
}

#[test]
fn pfsense_quotes_the_deciding_rule_and_the_interface() {
    let (code, out, _) = explain("pfsense", "10.20.8.5", "202.114.4.119", "tcp/515", &[]);
    assert_eq!(code, 0, "{out}");
    let (entry, verdict, _) = target_section("pfsense", &out);
    assert!(
        out.contains("\n  interface opt4 (zone monitor-quarantine)\n"),
        "{out}"
    );
    assert!(
        entry.starts_with("  deciding entry (rule `contec-cms8000.out`): tracker ")
            && entry.contains(": `block inet from WW_MONITOR_QUARANTINE to WW_CONTEC_CMS8000 log` (\"contec-cms8000.out: "),
        "{out}"
    );
    assert_eq!(verdict, "  verdict: deny, logged");
}

// ------------------------------------------------------------------ panos

#[test]
fn panos_agrees_with_the_policy_on_every_probe() {
    every_probe_agrees("panos");
}

#[test]
fn panos_tampered_deny_is_a_disagreement() {
    tampered_copy_disagrees("panos", "xml", |file| {
        // The first rules of the rule base are contec-cms8000.out, one per
        // source zone; the probe's source is in the quarantine zone.
        let text = std::fs::read_to_string(file).unwrap();
        let at = text
            .find("<entry name=\"contec-cms8000.out.from-quarantine\">")
            .unwrap();
        let drop = at + text[at..].find("<action>drop</action>").unwrap();
        let mut out = text.clone();
        out.replace_range(
            drop..drop + "<action>drop</action>".len(),
            "<action>allow</action>",
        );
        std::fs::write(file, out).unwrap();
    });
}

#[test]
fn panos_unreadable_files_are_usage_errors() {
    unreadable_files_are_usage_errors("panos", "xml");
}

#[test]
fn panos_quotes_the_deciding_rule_and_the_zones() {
    let (code, out, _) = explain("panos", "10.20.1.7", "10.10.0.14", "udp/514", &[]);
    assert_eq!(code, 0, "{out}");
    let (entry, verdict, _) = target_section("panos", &out);
    assert!(
        out.contains(
            "\n  from zone icu-devices (policy zone icu-devices) to zone infrastructure (policy zone infrastructure)\n"
        ),
        "{out}"
    );
    assert!(
        entry.starts_with("  deciding entry (rule `devices-to-syslog`): rule ")
            && entry.contains(": `devices-to-syslog.from-icu-devices from icu-devices to ")
            && entry.contains(" destination syslog-collector ")
            && entry.ends_with(" action allow`"),
        "{out}"
    );
    assert_eq!(verdict, "  verdict: allow");
}

#[test]
fn panos_removed_final_deny_lets_intrazone_traffic_through_and_disagrees() {
    // Without wardwall's final deny, PAN-OS's predefined intrazone-default
    // allows what the policy denies between two staff PCs.
    let (dir, file) = build("panos", "xml");
    let text = std::fs::read_to_string(&file).unwrap();
    let start = text.find("<entry name=\"wardwall-default-deny\">").unwrap();
    let end = start + text[start..].find("</entry>").unwrap() + "</entry>".len();
    let mut cut = text.clone();
    cut.replace_range(start..end, "");
    std::fs::write(&file, cut).unwrap();
    let against = ["--against", dir.path().to_str().unwrap()];
    let (code, out, err) = explain("panos", "10.40.1.1", "10.40.1.2", "tcp/22", &against);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("PAN-OS's predefined intrazone-default rule decides"),
        "{out}"
    );
    assert!(
        out.contains(
            "panos DISAGREES with the policy: the policy says deny, the target says allow"
        ),
        "{out}"
    );
}

// ------------------------------------------------------------------ nftables

#[test]
fn nftables_agrees_with_the_policy_on_every_probe() {
    every_probe_agrees("nftables");
}

/// Address-only, as `build --nft-address-only` renders it (the default is
/// anti-spoofing, which honest probes pass).
#[test]
fn nftables_address_only_agrees_on_every_probe() {
    let mut failures = Vec::new();
    for probe in HOSPITAL_PROBES {
        let (code, out, err) = explain(
            "nftables",
            probe.src,
            probe.dst,
            probe.proto,
            &["--nft-address-only"],
        );
        let (entry, _, agreement) = target_section("nftables", &out);
        if code != 0
            || agreement != "nftables agrees with the policy"
            || !entry.starts_with(&format!(
                "  deciding entry (rule `{}`): ",
                probe.expect_rule
            ))
        {
            failures.push(format!("{}: exit {code}\n{out}{err}", probe.what));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The option reaches the renderer: without the guard (and its sets) the
    // deciding line moves up; the former `--nft-match-interfaces` is the
    // default.
    let entry = |args: &[&str]| {
        let (_, out, _) = explain("nftables", "10.20.1.7", "10.10.0.14", "udp/514", args);
        target_section("nftables", &out).0.to_string()
    };
    let guarded = entry(&[]);
    assert_ne!(entry(&["--nft-address-only"]), guarded);
    assert_eq!(entry(&["--nft-match-interfaces"]), guarded);
}

#[test]
fn nftables_tampered_deny_is_a_disagreement() {
    tampered_copy_disagrees("nftables", "nft", |file| {
        tamper(
            file,
            "\"wardwall deny contec-cms8000.out: \" drop",
            "\"wardwall deny contec-cms8000.out: \" accept",
        )
    });
}

#[test]
fn nftables_unreadable_files_are_usage_errors() {
    unreadable_files_are_usage_errors("nftables", "nft");
}

#[test]
fn nftables_quotes_the_deciding_line_and_the_interfaces() {
    let (code, out, _) = explain("nftables", "10.20.1.7", "10.10.0.14", "udp/514", &[]);
    assert_eq!(code, 0, "{out}");
    let (entry, verdict, _) = target_section("nftables", &out);
    assert!(
        out.contains(
            "\n  table inet wardwall, chain forward: in icu0 (zone icu-devices), out infra0 (zone infrastructure)\n"
        ),
        "{out}"
    );
    assert!(
        entry.starts_with("  deciding entry (rule `devices-to-syslog`): line ")
            && entry.contains(": `ip saddr @g_clinical_devices_v4 ip daddr @c_syslog_collector_v4 udp dport 514 counter accept comment \"devices-to-syslog: "),
        "{out}"
    );
    assert_eq!(verdict, "  verdict: allow");
    assert!(
        out.contains("  note: evaluated as the first packet of a new flow (ct state new)\n"),
        "{out}"
    );
}

#[test]
fn against_requires_a_target() {
    wardwall()
        .args([
            "explain",
            "10.20.1.7",
            "8.8.8.8",
            "udp/53",
            "--against",
            "out",
        ])
        .assert()
        .code(2);
}

/// `explain --format json`: the deciding rule of every hospital probe (the
/// probes name it independently), the rules before it, and with `--target`
/// the target's answer, which agrees.
#[test]
fn explain_json_names_the_deciding_rule_and_the_targets_answer() {
    for probe in HOSPITAL_PROBES {
        let (code, out, err) = common::Ran::of(
            wardwall()
                .args(["explain", POLICY, probe.src, probe.dst, probe.proto])
                .args([
                    "--date", PROBE_DATE, "--format", "json", "--target", "cisco",
                ]),
        )
        .parts();
        assert_eq!(code, 0, "{}: {err}", probe.what);
        let json: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
        let rule = json["verdict"]["rule"]["name"]
            .as_str()
            .unwrap_or("default");
        assert_eq!(rule, probe.expect_rule, "{}", probe.what);
        let before = json["rules_before"].as_array().unwrap();
        assert_eq!(
            json["verdict"]["rule"]["index"]
                .as_u64()
                .map(|i| i as usize - 1),
            json["verdict"]["rule"].is_object().then_some(before.len()),
            "{}: every earlier rule is listed",
            probe.what
        );
        assert!(
            before
                .iter()
                .all(|r| !r["no_match_on"].as_array().unwrap().is_empty())
        );
        assert_eq!(json["target"]["target"], "cisco");
        assert_eq!(json["target"]["agrees"], true, "{}", probe.what);
        assert_eq!(
            json["target"]["rule"].as_str(),
            Some(probe.expect_rule),
            "{}",
            probe.what
        );
    }
    // `human` stays an alias of `text` for `check`; `text` is accepted everywhere.
    for args in [
        &["check", "--format", "human", POLICY][..],
        &["check", "--format", "text", POLICY],
        &[
            "explain",
            "--format",
            "text",
            POLICY,
            "10.20.8.5",
            "202.114.4.119",
            "tcp/515",
        ],
    ] {
        let code = wardwall()
            .args(args)
            .args(["--date", PROBE_DATE])
            .assert()
            .get_output()
            .status
            .code();
        assert!(matches!(code, Some(0 | 1)), "{args:?}: {code:?}");
    }
}
