//! `wardwall diff` as a reviewer runs it: against the rendered files in a
//! directory, and against the policy at a git revision (a repository made
//! in a temporary directory with two commits of a policy), with the traffic
//! diff of the two policies.

use std::path::Path;
use std::process::Command as Process;

use assert_cmd::Command;
use predicates::prelude::*;

const DATE: &str = "2026-11-25";

fn wardwall(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("wardwall").unwrap();
    cmd.current_dir(dir).env("NO_COLOR", "1");
    cmd
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Process::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

/// A repository holding the shipped policies, committed once.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("policies/advisories")).unwrap();
    for f in [
        "policies/hospital.kdl",
        "policies/advisories/contec-cms8000.kdl",
    ] {
        std::fs::copy(f, root.join(f)).unwrap();
    }
    git(root, &["init", "-q"]);
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "policy"]);
    dir
}

fn edit(root: &Path, from: &str, to: &str) {
    let path = root.join("policies/hospital.kdl");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// Cuts the rule block starting with `header` (e.g. `allow "x"`) out of
/// `text`: returns the text without it and the block (up to its closing
/// brace at rule indentation, with the newline).
fn cut_rule(text: &str, header: &str) -> (String, String) {
    let start = text
        .find(&format!("    {header} {{"))
        .unwrap_or_else(|| panic!("{header}"));
    let end = start + text[start..].find("\n    }\n").unwrap() + "\n    }\n".len();
    (
        format!("{}{}", &text[..start], &text[end..]),
        text[start..end].to_string(),
    )
}

/// Moves the rule block `header` in the repository's policy to just before
/// the rule block `before`.
fn move_rule(root: &Path, header: &str, before: &str) {
    let path = root.join("policies/hospital.kdl");
    let (rest, block) = cut_rule(&std::fs::read_to_string(&path).unwrap(), header);
    let anchor = format!("    {before} {{");
    assert!(rest.contains(&anchor), "{before}");
    std::fs::write(
        &path,
        rest.replacen(&anchor, &format!("{block}\n{anchor}"), 1),
    )
    .unwrap();
}

/// Deletes the rule block `header` from the repository's policy.
fn delete_rule(root: &Path, header: &str) {
    let path = root.join("policies/hospital.kdl");
    let (rest, _) = cut_rule(&std::fs::read_to_string(&path).unwrap(), header);
    std::fs::write(&path, rest).unwrap();
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({
        snapshot_path => "../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn base_revision_diff_shows_exactly_the_changed_lines() {
    let dir = repo();
    let root = dir.path();
    // Nothing changed yet: exit 0.
    wardwall(root)
        .args(["diff", "--base", "HEAD", "--date", DATE, "-t", "nftables"])
        .assert()
        .code(0)
        .stdout("");
    // Narrow a port list, then commit and diff against the previous commit.
    edit(root, "service \"dicom\" \"dicom-tls\"", "service \"dicom\"");
    git(root, &["commit", "-q", "-am", "narrow"]);
    let out = wardwall(root)
        .args(["diff", "--base", "HEAD~1", "--date", DATE, "-t", "nftables"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    // The traffic diff comes first: DICOM-TLS from the modalities to PACS
    // is denied now (IPv4 only: neither class has IPv6 addresses).
    assert!(
        text.starts_with("traffic: 0 newly allowed, 1 newly denied, 1 highlighted\n"),
        "{text}"
    );
    assert!(text.contains(
        "- deny    imaging-modalities (10.30.1.10/31, 10.30.2.10) → pacs (10.10.20.50/31, 10.10.20.52)  tcp/2762  by the default rule (was allow by rule modalities-to-pacs)\n"
    ), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("-  ")).count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("+  ")).count(),
        1,
        "{text}"
    );
    snapshot("diff-base-text", &text);

    let md = wardwall(root)
        .args([
            "diff", "--base", "HEAD~1", "--date", DATE, "-t", "nftables", "--format", "markdown",
        ])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    snapshot("diff-base-markdown", &String::from_utf8(md).unwrap());
}

#[test]
fn against_a_directory_compares_with_the_committed_outputs() {
    let dir = repo();
    let root = dir.path();
    wardwall(root)
        .args(["build", "--date", DATE])
        .assert()
        .code(0);
    wardwall(root)
        .args(["diff", "--date", DATE])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("no differences"));
    edit(root, "tcp 515", "tcp 515 516");
    wardwall(root)
        .args(["diff", "--date", DATE, "--against", "out"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "+        ip saddr @c_contec_monitors_v4",
        ));
    let json = wardwall(root)
        .args(["diff", "--date", DATE, "--format", "json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    // The nftables file (other targets' files are listed too).
    let nft = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["target"] == "nftables")
        .expect("an nftables file");
    assert_eq!(nft["status"], "modified");
    assert_eq!(nft["added"], 1);
    assert_eq!(nft["removed"], 1);
    // Rendered files are not a policy: no traffic diff, and the output says so.
    assert_eq!(json["traffic"], serde_json::Value::Null);
    wardwall(root)
        .args(["diff", "--date", DATE])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "note: no traffic diff when comparing with rendered files; use --base GITREF for one",
        ));
    wardwall(root)
        .args(["diff", "--date", DATE, "--format", "markdown"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "| nftables | 1 | +1 | -1 | n/a | n/a |",
        ))
        .stdout(predicate::str::contains(
            "Not available: the comparison is with rendered files (`--against`)",
        ));
}

#[test]
fn base_revision_traffic_diff_highlights_advisory_and_clinical_changes() {
    let dir = repo();
    let root = dir.path();
    // Drop the advisory block and open the HL7 listeners to the Contec
    // monitors; narrow the listener block at the same time.
    delete_rule(root, "block-advisory \"contec-cms8000\"");
    edit(
        root,
        "    allow \"monitor-data-export\" {",
        "    allow \"contec-hl7\" {\n        from \"contec-monitors\"\n        to \"hl7-engine\"\n        service \"hl7-listeners\"\n    }\n\n    allow \"monitor-data-export\" {",
    );
    edit(root, "tcp \"6661-6670\"", "tcp \"6661-6665\"");
    let run = |format: &str| {
        let out = wardwall(root)
            .args([
                "diff", "--base", "HEAD", "--date", DATE, "-t", "nftables", "--format", format,
            ])
            .assert()
            .code(1)
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    };
    let text = run("text");
    assert!(text.starts_with(
        "traffic: 4 newly allowed, 2 newly denied, 4 highlighted\n+ allow   contec-monitors (10.20.8.0/25) → hl7-engine (10.10.21.10)  tcp/6661-6665  by rule contec-hl7 (was deny by the default rule)\n    ! newly allowed from clinical devices: contec-monitors\n"
    ), "{text}");
    snapshot("diff-base-traffic-text", &text);
    let md = run("markdown");
    assert!(md.contains("#### ⚠️ Needs attention"), "{md}");
    assert!(md.contains("| nftables | 1 | "), "{md}");
    snapshot("diff-base-traffic-markdown", &md);

    let json: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let traffic = &json["traffic"];
    assert_eq!(traffic["summary"]["newly_allowed"], 4);
    assert_eq!(traffic["summary"]["newly_denied"], 2);
    assert_eq!(traffic["summary"]["highlighted"], 4);
    let first = &traffic["changes"][0];
    assert_eq!(first["kind"], "newly-allowed");
    assert_eq!(first["family"], "ipv4");
    assert_eq!(first["src"]["name"], "contec-monitors");
    assert_eq!(first["src"]["cidrs"], serde_json::json!(["10.20.8.0/25"]));
    assert_eq!(first["dst"]["name"], "hl7-engine");
    assert_eq!(first["service"], "tcp/6661-6665");
    assert_eq!(first["old"]["rule"], serde_json::Value::Null);
    assert_eq!(first["old"]["rule_kind"], "default");
    assert_eq!(first["old"]["action"], "deny");
    assert_eq!(first["new"]["rule"], "contec-hl7");
    assert_eq!(first["new"]["action"], "allow");
    assert_eq!(first["highlights"][0]["kind"], "clinical");
    // Every CIDR is listed in JSON, even where text shows a count.
    let corporate = traffic["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["src"]["name"] == "corporate")
        .unwrap();
    assert_eq!(corporate["src"]["cidrs"].as_array().unwrap().len(), 36);
    assert_eq!(corporate["highlights"][0]["kind"], "advisory-block");
}

#[test]
fn a_verdict_preserving_reorder_shows_config_changes_but_no_traffic_change() {
    let dir = repo();
    let root = dir.path();
    move_rule(
        root,
        "allow \"modalities-to-pacs\"",
        "allow \"pumps-to-pump-server\"",
    );
    let out = wardwall(root)
        .args(["diff", "--base", "HEAD", "--date", DATE, "-t", "nftables"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("traffic: no verdict changes\n\n--- a/nftables/"),
        "{text}"
    );
    let md = wardwall(root)
        .args([
            "diff", "--base", "HEAD", "--date", DATE, "-t", "nftables", "--format", "markdown",
        ])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let md = String::from_utf8(md).unwrap();
    assert!(md.contains("| nftables | 1 | +3 | -3 | 0 | 0 |"), "{md}");
    assert!(
        md.contains("No traffic changes: every packet keeps its verdict and logging."),
        "{md}"
    );
}

#[test]
fn errors_exit_2() {
    let dir = repo();
    let root = dir.path();
    wardwall(root)
        .args(["diff", "--base", "no-such-branch", "--date", DATE])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a commit"));
    wardwall(root)
        .args(["diff", "--base", "HEAD", "--against", "out"])
        .assert()
        .code(2);
    // A base revision without the policy file cannot be compared.
    std::fs::write(
        root.join("other.kdl"),
        "policy \"other\" {\n    deny-all #true\n}\n",
    )
    .unwrap();
    wardwall(root)
        .args(["diff", "other.kdl", "--base", "HEAD", "--date", DATE])
        .assert()
        .code(2);
}

#[test]
fn a_broken_working_policy_is_a_finding() {
    let dir = repo();
    let root = dir.path();
    edit(root, "from \"pacs\"", "from \"pacs-typo\"");
    wardwall(root)
        .args(["diff", "--base", "HEAD", "--date", DATE])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "unknown zone, class, group or advisory `pacs-typo`",
        ));
}
