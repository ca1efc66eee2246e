//! `wardwall build`: writes one file per target, `--check` reports stale
//! files, and a policy or renderer error writes nothing.

use crate::common;

use std::fs;
use std::path::Path;

use common::probes::PROBE_DATE;
use predicates::prelude::*;

use common::wardwall;

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if !dir.exists() {
        return out;
    }
    for entry in walk(dir) {
        out.push(
            entry
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn build_writes_one_file_per_target_and_check_sees_it_fresh() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("out");
    wardwall()
        .args(["build", "--date", PROBE_DATE, "-o"])
        .arg(&dir)
        .assert()
        .success()
        .stdout(predicate::str::contains("wrote "))
        .stdout(predicate::str::contains("st-example-general.nft"));
    assert_eq!(
        files_under(&dir),
        vec![
            "cisco/st-example-general.ios",
            "nftables/st-example-general.nft",
            "panos/st-example-general.set",
            "panos/st-example-general.xml",
            "pfsense/st-example-general.xml",
            "wardwall-manifest.json",
        ]
    );
    let text = std::fs::read_to_string(dir.join("nftables/st-example-general.nft")).unwrap();
    assert!(text.starts_with("#!/usr/sbin/nft -f\n"));
    assert!(text.contains("delete table inet wardwall\n"));

    // Fresh: exit 0, nothing printed on stdout.
    wardwall()
        .args(["build", "--date", PROBE_DATE, "--check", "-o"])
        .arg(&dir)
        .assert()
        .code(0)
        .stdout("");

    // Building again gives the same bytes.
    wardwall()
        .args(["build", "--date", PROBE_DATE, "-t", "nftables", "-o"])
        .arg(&dir)
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(dir.join("nftables/st-example-general.nft")).unwrap(),
        text
    );
}

#[test]
fn check_reports_stale_and_missing_files_and_writes_nothing() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("out");
    // Missing output: every file is listed as missing.
    wardwall()
        .args(["build", "--date", PROBE_DATE, "--check", "-o"])
        .arg(&dir)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("missing: "))
        .stdout(predicate::str::contains("stale: ").not())
        .stderr(predicate::str::contains("out of date"));
    assert!(!dir.exists(), "--check must not write");

    wardwall()
        .args(["build", "--date", PROBE_DATE, "-o"])
        .arg(&dir)
        .assert()
        .success();
    let file = dir.join("nftables/st-example-general.nft");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("# local edit\n");
    std::fs::write(&file, &text).unwrap();
    wardwall()
        .args(["build", "--date", PROBE_DATE, "--check", "-o"])
        .arg(&dir)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("stale: "))
        .stdout(predicate::str::contains("nftables/st-example-general.nft"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text, "left alone");

    // A different date changes the active rules: stale again.
    wardwall()
        .args(["build", "--date", "2026-12-16", "--check", "-o"])
        .arg(&dir)
        .assert()
        .code(1);
}

#[test]
fn a_policy_error_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("broken.kdl");
    std::fs::write(
        &policy,
        "zone \"a\" {\n    prefix \"10.0.0.0/8\"\n}\nrules {\n    allow \"x\" {\n        from \"a\"\n        to \"nowhere\"\n        service \"https\"\n    }\n}\n",
    )
    .unwrap();
    let dir = tmp.path().join("out");
    wardwall()
        .args(["build", "--date", PROBE_DATE, "--color", "never", "-o"])
        .arg(&dir)
        .arg(&policy)
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("nowhere"))
        .stderr(predicate::str::contains("nothing written"));
    assert!(!dir.exists());
}

#[test]
fn a_renderer_error_writes_nothing() {
    // Interface matching on a policy without interface bindings fails in
    // the renderer, after validation succeeded.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    wardwall()
        .args([
            "build",
            "tests/policies/nft-text.kdl",
            "--nft-match-interfaces",
            "--date",
            PROBE_DATE,
            "--color",
            "never",
            "-o",
        ])
        .arg(&dir)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nftables-no-interface"))
        .stderr(predicate::str::contains("nft-text.kdl"));
    assert!(!dir.exists());
}

#[test]
fn unknown_target_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    wardwall()
        .args(["build", "-t", "iptables", "-o"])
        .arg(tmp.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("known: nftables"));
}

#[test]
fn templates_override_changes_the_output() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("tpl/nftables")).unwrap();
    std::fs::write(
        tmp.path().join("tpl/nftables/ruleset.nft.j2"),
        "# {{ policy }}: {{ rules | length }} rules\n",
    )
    .unwrap();
    let dir = tmp.path().join("out");
    wardwall()
        .args(["build", "--date", PROBE_DATE, "--templates"])
        .arg(tmp.path().join("tpl"))
        .arg("-o")
        .arg(&dir)
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(dir.join("nftables/st-example-general.nft")).unwrap(),
        "# st-example-general: 21 rules\n"
    );
}

#[test]
fn the_policy_chooses_its_default_targets() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("site.kdl");
    let clinic = std::fs::read_to_string("policies/clinic.kdl").unwrap();
    let text = clinic.replace(
        "policy \"clinic\" {\n",
        "policy \"clinic\" {\n    targets \"nftables\" \"panos\"\n",
    );
    // Includes stay inside the policy's directory: bring the advisory along.
    crate::common::copy_includes(dir.path());
    std::fs::write(&policy, text).unwrap();
    let out = dir.path().join("out");
    let run = |extra: &[&str]| {
        let _ = std::fs::remove_dir_all(&out);
        let mut args = vec![
            "build",
            policy.to_str().unwrap(),
            "--date",
            PROBE_DATE,
            "-o",
        ];
        args.push(out.to_str().unwrap());
        args.extend_from_slice(extra);
        wardwall().args(&args).assert().code(0);
        files_under(&out)
    };
    assert_eq!(
        run(&[]),
        [
            "nftables/clinic.nft",
            "panos/clinic.set",
            "panos/clinic.xml",
            "wardwall-manifest.json"
        ]
    );
    // An explicit -t overrides the policy's list.
    assert_eq!(
        run(&["-t", "cisco"]),
        ["cisco/clinic.ios", "wardwall-manifest.json"]
    );

    std::fs::write(&policy, "policy \"p\" {\n    targets \"nftable\"\n}\n").unwrap();
    wardwall()
        .args(["check", policy.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("did you mean `nftables`?"));
}

/// A policy every target but Cisco renders: Cisco refuses an allow of
/// `service "any"` (its replies cannot be expressed statelessly). Cisco
/// renders after nftables and pfSense, whose files are already staged then.
const LATE_TARGET_FAILS: &str = r#"
zone "a" {
    prefix "10.1.0.0/16"
    interface nftables="eth1" pfsense="opt1" cisco="Vlan11" panos="ethernet1/1"
}
zone "b" {
    residual #true
    interface nftables="eth2" pfsense="opt2" cisco="Vlan12" panos="ethernet1/2"
}
rules {
    allow "everything" {
        from "a"
        to "b"
        service "any"
    }
}
"#;

#[test]
fn a_late_renderer_error_removes_what_earlier_targets_staged() {
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("late.kdl");
    fs::write(&policy, LATE_TARGET_FAILS).unwrap();
    // A fresh output directory: it must not exist afterwards.
    let fresh = tmp.path().join("fresh/out");
    // An existing output directory with an older build: untouched, and no
    // temporary file left in it.
    let existing = tmp.path().join("existing");
    for (target, file) in [("nftables", "late.nft"), ("pfsense", "late.xml")] {
        fs::create_dir_all(existing.join(target)).unwrap();
        fs::write(existing.join(target).join(file), "old build\n").unwrap();
    }
    let before = files_under(&existing);
    for dir in [&fresh, &existing] {
        wardwall()
            .args(["build", "--date", PROBE_DATE, "--color", "never", "-o"])
            .arg(dir)
            .arg(&policy)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("cisco"))
            .stderr(predicate::str::contains("nothing written"));
    }
    assert!(
        !tmp.path().join("fresh").exists(),
        "created directories removed"
    );
    assert_eq!(files_under(&existing), before);
    for (target, file) in [("nftables", "late.nft"), ("pfsense", "late.xml")] {
        assert_eq!(
            fs::read_to_string(existing.join(target).join(file)).unwrap(),
            "old build\n"
        );
    }
    // Without Cisco the same policy builds: the failure above was Cisco's,
    // after the other targets had rendered.
    wardwall()
        .args([
            "build", "--date", PROBE_DATE, "-t", "nftables", "-t", "pfsense", "-o",
        ])
        .arg(&fresh)
        .arg(&policy)
        .assert()
        .code(0);
    assert_eq!(files_under(&fresh).len(), 3, "two configs and the manifest");
}

/// The "as of DATE" that `check` reports with the default `--date`.
fn default_date_under(tz: &str) -> String {
    let out = wardwall()
        .env("TZ", tz)
        .args(["check", "--color", "never"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let at = text.find(" as of ").expect("check reports its date") + 7;
    text[at..at + 10].to_string()
}

fn utc_today() -> String {
    jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
        .to_string()
}

#[test]
fn the_default_date_is_today_in_utc_in_every_time_zone() {
    // UTC+14 and UTC-12 are 26 hours apart: at any instant at least one of
    // them has a different local date than UTC.
    for tz in ["Etc/GMT-14", "Etc/GMT+12", "UTC"] {
        let before = utc_today();
        let got = default_date_under(tz);
        let after = utc_today();
        assert!(
            got == before || got == after,
            "TZ={tz}: {got}, UTC {before}"
        );
    }
    wardwall()
        .args(["build", "--help"])
        .assert()
        .stdout(predicate::str::contains("today in UTC"));
}

fn synth_policy(path: &Path, rules: usize) {
    let text = std::process::Command::new(common::WARDWALL_SYNTH)
        .args([rules.to_string(), "1".to_string()])
        .output()
        .unwrap()
        .stdout;
    fs::write(path, text).unwrap();
}

#[test]
fn a_build_that_drops_most_rules_warns_with_the_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("site.kdl");
    let dir = tmp.path().join("out");
    let build = |extra: &[&str]| {
        let mut cmd = wardwall();
        cmd.args([
            "build", "--date", PROBE_DATE, "--color", "never", "-t", "nftables",
        ])
        .args(extra)
        .arg("-o")
        .arg(&dir)
        .arg(&policy);
        cmd.assert()
    };
    const LOUD: &str = "warning: policy `synthetic` now has";
    synth_policy(&policy, 40);
    build(&[])
        .success()
        .stderr(predicate::str::contains(LOUD).not());
    // "Truncated" to 10 of 40 rules: `--check` and `build` both say so.
    synth_policy(&policy, 10);
    let counts = "now has 10 active rules but the previous build in";
    build(&["--check"])
        .code(1)
        .stderr(predicate::str::contains(counts))
        .stderr(predicate::str::contains("had 40: 30 (75%) dropped"));
    build(&[])
        .success()
        .stderr(predicate::str::contains(counts))
        .stderr(predicate::str::contains("had 40: 30 (75%) dropped"));
    // The count is the last build's: 10 → 6 drops 40%, not most.
    synth_policy(&policy, 6);
    build(&[])
        .success()
        .stderr(predicate::str::contains(LOUD).not());
    let manifest = fs::read_to_string(dir.join("wardwall-manifest.json")).unwrap();
    assert!(manifest.contains("\"rules\": 6"), "{manifest}");
}

#[test]
fn building_one_policy_keeps_the_other_policies_files_and_check_sees_them_fresh() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let policy = tmp.path().join("site.kdl");
    synth_policy(&policy, 20);
    for p in [
        Path::new("policies/clinic.kdl"),
        &policy,
        Path::new("policies/clinic.kdl"),
    ] {
        wardwall()
            .args(["build", "--date", PROBE_DATE, "-t", "nftables", "-o"])
            .arg(&dir)
            .arg(p)
            .assert()
            .success();
    }
    assert_eq!(
        files_under(&dir),
        [
            "nftables/clinic.nft",
            "nftables/synthetic.nft",
            "wardwall-manifest.json"
        ]
    );
    for p in [Path::new("policies/clinic.kdl"), &policy] {
        wardwall()
            .args([
                "build", "--date", PROBE_DATE, "-t", "nftables", "--check", "-o",
            ])
            .arg(&dir)
            .arg(p)
            .assert()
            .code(0);
    }
    // Byte-identical across runs.
    let before = fs::read(dir.join("wardwall-manifest.json")).unwrap();
    wardwall()
        .args(["build", "--date", PROBE_DATE, "-t", "nftables", "-o"])
        .arg(&dir)
        .arg(&policy)
        .assert()
        .success();
    assert_eq!(
        fs::read(dir.join("wardwall-manifest.json")).unwrap(),
        before
    );
}

/// Builds `policy` into `out` (keeping what is there) and returns every
/// rendered file's text, by path.
fn build_texts(policy: &Path, out: &Path) -> std::collections::BTreeMap<String, String> {
    wardwall()
        .args(["build", "--date", PROBE_DATE, "--color", "never", "-o"])
        .arg(out)
        .arg(policy)
        .assert()
        .success();
    files_under(out)
        .into_iter()
        .filter(|f| !f.ends_with(".json"))
        .map(|f| (f.clone(), fs::read_to_string(out.join(&f)).unwrap()))
        .collect()
}

/// Lines removed and added from `old` to `new`.
fn changed_lines(old: &str, new: &str) -> (usize, usize) {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut counts = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Delete => counts.0 += 1,
            similar::ChangeTag::Insert => counts.1 += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    counts
}

/// The synthetic policy's text with a copy of rule `name` inserted before
/// it, as `inserted`.
fn with_rule_inserted_before(text: &str, name: &str) -> String {
    let start = text
        .find(&format!("\"{name}\" {{"))
        .and_then(|at| text[..at].rfind('\n'))
        .expect("the rule is in the policy")
        + 1;
    let end = start + text[start..].find("\n    }\n").unwrap() + "\n    }\n".len();
    let copy = text[start..end].replacen(&format!("\"{name}\""), "\"inserted\"", 1);
    format!("{}{copy}{}", &text[..start], &text[start..])
}

/// issue 16 item 1: a one-rule change is a one-rule diff on every target,
/// and a rule inserted in the middle renumbers nothing else. `build` keeps
/// the Cisco sequence numbers of what is in the output directory; before it
/// did, one changed rule of 2,000 changed 38,766 of 73,992 Cisco lines.
#[test]
fn a_one_rule_change_or_insertion_is_a_small_diff_on_every_target() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, changed, inserted) = (
        tmp.path().join("base.kdl"),
        tmp.path().join("changed.kdl"),
        tmp.path().join("inserted.kdl"),
    );
    let synth = |args: &[&str]| {
        let out = std::process::Command::new(common::WARDWALL_SYNTH)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let base_text = synth(&["600", "1"]);
    fs::write(&base, &base_text).unwrap();
    fs::write(&changed, synth(&["600", "1", "--changed", "1"])).unwrap();
    fs::write(&inserted, with_rule_inserted_before(&base_text, "r000300")).unwrap();

    let out = tmp.path().join("out");
    let before = build_texts(&base, &out);
    assert_eq!(
        build_texts(&base, &out),
        before,
        "a rebuild changes nothing"
    );
    assert!(before.keys().any(|f| f.starts_with("cisco/")));
    for (policy, what) in [
        (&changed, "one changed rule"),
        (&inserted, "one inserted rule"),
    ] {
        // Each from the base's output.
        let out = tmp.path().join(format!(
            "out-{}",
            policy.file_stem().unwrap().to_string_lossy()
        ));
        build_texts(&base, &out);
        let after = build_texts(policy, &out);
        for (file, old) in &before {
            let (removed, added) = changed_lines(old, &after[file]);
            let lines = old.lines().count();
            // The rule's own lines (twice in Cisco: phase 1 and phase 2),
            // its address and service groups, and per ACL it lands on the
            // versioned name in three places.
            assert!(
                removed + added <= 250,
                "{what}: {file} changes -{removed} +{added} of {lines} lines"
            );
            if policy == &inserted {
                // Nothing else renumbered: what goes is the version line,
                // versioned ACL names and reordered group lists.
                assert!(removed <= 40, "{what}: {file} loses {removed} lines");
            }
        }
    }
}
