//! `wardwall diff` as a reviewer runs it: against the rendered files in a
//! directory, and against the policy at a git revision (a repository made
//! in a temporary directory with two commits of a policy), with the traffic
//! diff of the two policies.

use std::path::Path;
use std::process::Command as Process;

use assert_cmd::Command;
use predicates::prelude::*;

const DATE: &str = "2026-11-25";

/// wardwall run in `dir` (a scratch copy of the repository).
fn wardwall(dir: &Path) -> Command {
    let mut cmd = crate::common::wardwall();
    cmd.current_dir(dir);
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
        // Fixed dates give the same commit ids on every run, so outputs
        // that name the compared commits can be snapshotted.
        .env("GIT_AUTHOR_DATE", "2026-11-25T12:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-11-25T12:00:00Z")
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

/// A repository holding the shipped policies, committed once.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("policies")).unwrap();
    std::fs::copy("policies/hospital.kdl", root.join("policies/hospital.kdl")).unwrap();
    crate::common::copy_includes(&root.join("policies"));
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

/// `diff --base HEAD` of the nftables target in `format`, which must
/// report differences (exit 1): its standard output.
fn nftables_review(root: &Path, format: &str) -> String {
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
    let run = |format: &str| nftables_review(root, format);
    let text = run("text");
    // The promise the change breaks comes first (the advisory's own
    // expectation), then the traffic matrix.
    assert!(
        text.starts_with("expectations: 1 broken by this change, 0 hold again\n  BROKEN  `contec-cms8000.unreachable-out` (never): "),
        "the broken promise comes first: {text}"
    );
    let text = &text[text.find("traffic: ").unwrap()..];
    assert!(text.starts_with(
        "traffic: 4 newly allowed, 2 newly denied, 4 highlighted\nzones that gain or lose allowed traffic:\n  corporate → internet  gains tcp/80, tcp/443 (IPv4)\n"
    ), "the matrix comes first: {text}");
    assert!(
        text.contains("  monitor-quarantine → clinical-apps  gains tcp/6661-6665 (IPv4)\n"),
        "{text}"
    );
    let details = &text[text.find("\n+ ").unwrap() + 1..];
    assert!(details.starts_with(
        "+ allow   dns-servers (10.10.0.53, 10.10.0.54) → contec-cms8000 (202.114.4.0/24)  tcp/53, udp/53  by rule resolvers-to-internet (was deny by advisory block contec-cms8000.out)\n    ! [critical advisory-block-weakened] was decided by advisory block contec-cms8000.out (advisory contec-cms8000)\n"
    ), "the weakened advisory block comes first: {text}");
    assert!(text.contains(
        "+ allow   contec-monitors (10.20.8.0/25) → hl7-engine (10.10.21.10)  tcp/6661-6665  by rule contec-hl7 (was deny by the default rule)\n    ! [critical advisory-class-new-reach] newly allowed from devices under an advisory: contec-monitors (advisory contec-cms8000)\n    ! [medium clinical-new-reach] newly allowed from clinical devices: contec-monitors\n"
    ), "{text}");
    snapshot("diff-base-traffic-text", text);
    let md = run("markdown");
    assert!(md.contains("#### ⚠️ Needs attention"), "{md}");
    assert!(md.contains("| nftables | 1 | "), "{md}");
    snapshot("diff-base-traffic-markdown", &md);

    let json: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let traffic = &json["traffic"];
    assert_eq!(traffic["summary"]["newly_allowed"], 4);
    assert_eq!(traffic["summary"]["newly_denied"], 2);
    assert_eq!(traffic["summary"]["highlighted"], 4);
    let row = traffic["matrix"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["from"] == "monitor-quarantine" && z["to"] == "clinical-apps")
        .expect("the Contec monitors' new pair is in the matrix");
    assert_eq!(row["gained"], "tcp/6661-6665 (IPv4)");
    assert_eq!(row["lost"], serde_json::Value::Null);
    assert_eq!(traffic["changes"][0]["code"], "advisory-block-weakened");
    assert_eq!(traffic["changes"][0]["severity"], "critical");
    assert_eq!(
        traffic["changes"][0]["highlights"][0]["code"],
        "advisory-block-weakened"
    );
    let first = &traffic["changes"][3];
    assert_eq!(first["code"], "advisory-class-new-reach");
    assert_eq!(first["highlights"][0]["severity"], "critical");
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
    assert_eq!(first["highlights"][0]["kind"], "advisory-class");
    assert_eq!(first["highlights"][1]["kind"], "clinical");
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

/// A change that mends a broken promise says so first, in every format,
/// and lists no promise as broken.
#[test]
fn a_change_that_mends_a_broken_promise_shows_it_holds_again() {
    let dir = repo();
    let root = dir.path();
    let kept = std::fs::read_to_string(root.join("policies/hospital.kdl")).unwrap();
    delete_rule(root, "block-advisory \"contec-cms8000\"");
    git(root, &["commit", "-q", "-am", "drop the advisory block"]);
    std::fs::write(root.join("policies/hospital.kdl"), kept).unwrap();
    let run = |format: &str| nftables_review(root, format);
    let text = run("text");
    assert!(
        text.starts_with(
            "expectations: 0 broken by this change, 1 hold again\n  holds   `contec-cms8000.unreachable-out` (never)\n"
        ),
        "the mended promise comes first: {text}"
    );
    assert!(!text.contains("BROKEN"), "{text}");
    let md = run("markdown");
    assert!(
        md.contains("### Expectations\n\n- :white_check_mark: holds again: `contec-cms8000.unreachable-out` (never)\n\n"),
        "{md}"
    );
    assert!(!md.contains("broken by this change"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let expectations = &json["expectations"];
    assert_eq!(expectations["broken"], serde_json::json!([]), "{json:#}");
    let held = expectations["now_held"].as_array().unwrap();
    assert_eq!(held.len(), 1, "{json:#}");
    assert_eq!(held[0]["expectation"], "contec-cms8000.unreachable-out");
    assert_eq!(held[0]["kind"], "never");
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
    wardwall(root)
        .args(["diff", "--base", "HEAD...no-such-branch", "--date", DATE])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`no-such-branch` is not a commit"));
}

/// The traffic summary line of a text diff.
fn traffic_line(root: &Path, base: &str) -> (String, String) {
    let out = wardwall(root)
        .args(["diff", "--base", base, "--date", DATE, "-t", "nftables"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let summary = stdout.lines().next().unwrap_or("").to_string();
    (summary, stderr)
}

#[test]
fn a_branch_behind_its_base_is_shown_only_its_own_changes() {
    let dir = repo();
    let root = dir.path();
    git(root, &["branch", "-q", "-M", "main"]);
    git(root, &["checkout", "-q", "-b", "feature"]);
    edit(root, "service \"dicom\" \"dicom-tls\"", "service \"dicom\"");
    git(root, &["commit", "-q", "-am", "feature: narrow DICOM"]);
    // main moves on after the branch left it: a rule is removed there.
    git(root, &["checkout", "-q", "main"]);
    delete_rule(root, "allow \"pumps-to-pump-server\"");
    git(
        root,
        &["commit", "-q", "-am", "main: drop pumps-to-pump-server"],
    );
    git(root, &["checkout", "-q", "feature"]);

    // `--base main` and `main...HEAD` compare with the merge base: only the
    // branch's own change (DICOM-TLS newly denied), nothing of main's.
    let own = "traffic: 0 newly allowed, 1 newly denied, 1 highlighted";
    for base in ["main", "main...HEAD", "main..."] {
        let (summary, stderr) = traffic_line(root, base);
        assert_eq!(summary, own, "--base {base}: {stderr}");
        assert!(stderr.contains("(merge base of main and "), "{stderr}");
    }
    assert!(
        traffic_line(root, "main")
            .1
            .contains("with the working tree")
    );
    // `main..HEAD` compares the tips, as `git diff main..HEAD` does: main's
    // removal shows up as the branch allowing the pump flow again.
    let (summary, stderr) = traffic_line(root, "main..HEAD");
    assert_ne!(summary, own, "{stderr}");
    assert!(summary.contains("1 newly denied"), "{summary}");
    assert!(
        !summary.starts_with("traffic: 0 newly allowed"),
        "{summary}"
    );
    assert!(stderr.contains("(main) with "), "{stderr}");

    // The review comment names both sides.
    let md = wardwall(root)
        .args([
            "diff", "--base", "main", "--date", DATE, "-t", "nftables", "--format", "markdown",
        ])
        .output()
        .unwrap();
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(md.contains("Compared `"), "{md}");
    assert!(
        md.contains("(merge base of main and HEAD)` with `the working tree`."),
        "{md}"
    );
    let json = wardwall(root)
        .args([
            "diff",
            "--base",
            "main...feature",
            "--date",
            DATE,
            "-t",
            "nftables",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        json["compared"]["new"]
            .as_str()
            .unwrap()
            .ends_with("(feature)"),
        "{json}"
    );
    assert_eq!(json["traffic"]["summary"]["newly_denied"], 1, "{json}");
}

#[test]
fn a_policy_new_on_the_branch_is_reviewed_as_all_new() {
    let dir = repo();
    let root = dir.path();
    std::fs::copy(
        root.join("policies/hospital.kdl"),
        root.join("policies/annex.kdl"),
    )
    .unwrap();
    let out = wardwall(root)
        .args([
            "diff",
            "policies/annex.kdl",
            "--base",
            "HEAD",
            "--date",
            DATE,
            "-t",
            "nftables",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("does not exist at"), "{stderr}");
    // A file new on the branch is no error: nothing says it cannot be read.
    assert!(!stderr.contains("error"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Every allowed flow is new; nothing is newly denied.
    assert!(
        json["traffic"]["summary"]["newly_allowed"]
            .as_u64()
            .unwrap()
            > 10,
        "{json}"
    );
    assert_eq!(json["traffic"]["summary"]["newly_denied"], 0, "{json}");
    // The whole file is added.
    let file = &json["files"][0];
    assert_eq!(file["removed"], 0, "{json}");
    assert!(file["added"].as_u64().unwrap() > 50, "{json}");
}

#[test]
fn a_broken_policy_gets_a_review_comment_that_shows_the_errors() {
    let dir = repo();
    let root = dir.path();
    edit(root, "from \"pacs\"", "from \"pacs-typo\"");
    let md = wardwall(root)
        .args([
            "diff", "--base", "HEAD", "--date", DATE, "--format", "markdown",
        ])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let md = String::from_utf8(md).unwrap();
    assert!(md.contains("The policy does not compile (1 error)"), "{md}");
    assert!(
        md.contains("unknown zone, class, group or advisory `pacs-typo`"),
        "{md}"
    );
    assert!(md.contains("policies/hospital.kdl:"), "{md}");
    let json = wardwall(root)
        .args(["diff", "--base", "HEAD", "--date", DATE, "--format", "json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json["errors"], 1, "{json}");
    assert!(
        json["report"].as_str().unwrap().contains("pacs-typo"),
        "{json}"
    );
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

/// A repository with a synthetic policy of `rules` rules committed as
/// `synth.kdl`.
fn committed_synth(rules: usize) -> (tempfile::TempDir, wardwall::synth::Synth) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let base = wardwall::synth::Synth::new(rules, 1);
    std::fs::write(root.join("synth.kdl"), base.generate()).unwrap();
    git(root, &["init", "-q"]);
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "policy"]);
    (dir, base)
}

/// A repository with the 2,000-rule synthetic policy committed, and 1% of
/// its rules changed in the working tree.
fn synth_repo() -> tempfile::TempDir {
    let (dir, base) = committed_synth(2_000);
    std::fs::write(dir.path().join("synth.kdl"), base.changed(20).generate()).unwrap();
    dir
}

#[test]
fn a_large_review_comment_fits_its_budget_and_counts_what_it_leaves_out() {
    let dir = synth_repo();
    let root = dir.path();
    let review = |extra: &[&str]| -> String {
        let out = wardwall(root)
            .args([
                "diff",
                "synth.kdl",
                "--base",
                "HEAD",
                "--date",
                DATE,
                "--format",
                "markdown",
            ])
            .args(["-t", "cisco", "-t", "nftables"])
            .args(extra)
            .assert()
            .code(1)
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    };
    let json = wardwall(root)
        .args([
            "diff",
            "synth.kdl",
            "--base",
            "HEAD",
            "--date",
            DATE,
            "--format",
            "json",
        ])
        .args(["-t", "cisco", "-t", "nftables"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let changes = json["traffic"]["changes"].as_array().unwrap().len()
        + json["traffic"]["log_changes"].as_array().unwrap().len();
    let full: usize = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["unified"].as_str().unwrap().len())
        .sum();
    assert!(full > 200_000, "the change is large: {full} bytes of diffs");

    let md = review(&["--output-dir", "artifacts"]);
    assert!(md.len() <= 65_536, "{} bytes", md.len());
    assert_every_traffic_change_is_shown_or_counted(&md, changes);
    assert!(md.contains("not shown to fit the comment"), "{md}");
    assert!(md.contains("every full diff is in `artifacts`"), "{md}");
    // The artifacts hold every full diff and every traffic change.
    for f in json["files"].as_array().unwrap() {
        let path = root
            .join("artifacts")
            .join(format!("{}.diff", f["path"].as_str().unwrap()));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            f["unified"].as_str().unwrap()
        );
    }
    let traffic = std::fs::read_to_string(root.join("artifacts/traffic.txt")).unwrap();
    assert_eq!(
        traffic
            .lines()
            .filter(|l| ["+ ", "- ", "~ "].iter().any(|p| l.starts_with(p)))
            .count(),
        changes
    );

    // A smaller budget is kept too, and still counts everything.
    for budget in [20_000, 4_000] {
        let md = review(&["--budget", &budget.to_string()]);
        assert!(md.len() <= budget, "{budget}: {} bytes", md.len());
        let counted = assert_every_traffic_change_is_shown_or_counted(&md, changes);
        assert_eq!(counted > 0, budget == 4_000, "{budget}: {md}");
        assert!(
            md.contains("`wardwall diff --output-dir DIR` writes every full diff"),
            "{md}"
        );
    }
}

/// The traffic section of a review lists each change on a line of its own
/// (`+ allow ...`) or counts it in an "… and N more" line.
fn assert_every_traffic_change_is_shown_or_counted(md: &str, changes: usize) -> usize {
    let start = md.find("### Traffic changes").expect("a traffic section");
    let end = ["### Analysis findings", "### Rendered configs"]
        .iter()
        .filter_map(|h| md[start..].find(h).map(|i| start + i))
        .min()
        .unwrap_or(md.len());
    let section = &md[start..end];
    let shown = section
        .lines()
        .filter(|l| ["+ ", "- ", "~ "].iter().any(|p| l.starts_with(p)))
        .count();
    let counted: usize = section
        .lines()
        .filter_map(|l| l.strip_prefix("… and "))
        .filter(|l| l.contains("more traffic change"))
        .map(|l| l.split(' ').next().unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(
        shown + counted,
        changes,
        "shown {shown} + counted {counted}:\n{section}"
    );
    counted
}

#[test]
fn new_and_resolved_findings_are_part_of_the_review() {
    let dir = repo();
    let root = dir.path();
    // A rule hidden by staff-to-internet (web is tcp 80 and 443) is a new
    // `shadowed-rule`; dropping the redundant clinical-no-internet resolves
    // its `redundant-rule`.
    edit(
        root,
        "    allow \"guest-to-internet\" {",
        "    allow \"staff-https\" {\n        description \"Staff HTTPS\"\n        from \"corporate\"\n        to \"internet\"\n        service \"https\"\n    }\n\n    allow \"guest-to-internet\" {",
    );
    delete_rule(root, "deny \"clinical-no-internet\"");
    let run = |format: &str| {
        let out = wardwall(root)
            .args([
                "diff", "--base", "HEAD", "--date", DATE, "-t", "nftables", "--format", format,
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let json: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let codes = |key: &str| -> Vec<String> {
        json["findings"][key]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(codes("new"), ["shadowed-rule"], "{json:#}");
    assert!(
        codes("resolved").contains(&"redundant-rule".to_string()),
        "{json:#}"
    );
    assert!(
        json["findings"]["new"][0]["message"]
            .as_str()
            .unwrap()
            .contains("`staff-https`"),
        "{json:#}"
    );
    let text = run("text");
    assert!(
        text.contains("\n+ warning shadowed-rule: rule `staff-https`"),
        "{text}"
    );
    assert!(
        text.contains("\n- acknowledged redundant-rule: rule `clinical-no-internet`"),
        "{text}"
    );
    let md = run("markdown");
    assert!(md.contains("### Analysis findings"), "{md}");
    assert!(
        md.contains("- ⚠️ <code>shadowed-rule</code> rule `staff-https`"),
        "{md}"
    );
    assert!(
        md.contains("- ✅ <code>redundant-rule</code> (acknowledged) rule `clinical-no-internet`"),
        "{md}"
    );
    // A tight budget still counts the findings it cannot show.
    let out = wardwall(root)
        .args([
            "diff", "--base", "HEAD", "--date", DATE, "-t", "nftables", "--format", "markdown",
            "--budget", "6000",
        ])
        .output()
        .unwrap();
    let small = String::from_utf8(out.stdout).unwrap();
    assert!(small.len() <= 6000, "{}", small.len());
    let listed = small
        .lines()
        .filter(|l| l.starts_with("- ⚠️ <code>") || l.starts_with("- ✅ <code>"))
        .count();
    let counted: usize = small
        .lines()
        .filter_map(|l| l.strip_prefix("- … and "))
        .filter(|l| l.contains("more finding"))
        .map(|l| l.split(' ').next().unwrap().parse::<usize>().unwrap())
        .sum();
    let total = codes("new").len() + codes("resolved").len();
    assert_eq!(listed + counted, total, "{small}");
}

/// issue 16 item 1, through `diff`: a one-rule change of a 600-rule policy
/// is a small Cisco diff with `--base` (the branch keeps the base
/// rendering's numbers) and with `--against out` (the numbers `build`
/// finds there), and the latter shows exactly what `build` then writes.
#[test]
fn a_one_rule_change_is_a_small_cisco_diff_and_diff_shows_what_build_writes() {
    let (dir, base) = committed_synth(600);
    let root = dir.path();
    let build = || {
        wardwall(root)
            .args(["build", "--date", DATE, "-t", "cisco", "synth.kdl"])
            .assert()
            .success();
    };
    build();
    std::fs::write(root.join("synth.kdl"), base.changed(1).generate()).unwrap();
    let changed_lines = |args: &[&str]| {
        let out = wardwall(root)
            .args(["diff", "--date", DATE, "-t", "cisco", "--format", "json"])
            .args(args)
            .arg("synth.kdl")
            .assert()
            .code(1)
            .get_output()
            .stdout
            .clone();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let files = json["files"].as_array().unwrap();
        assert_eq!(files.len(), 1);
        let f = &files[0];
        (
            f["added"].as_u64().unwrap() + f["removed"].as_u64().unwrap(),
            f["unified"].as_str().unwrap().to_string(),
        )
    };
    let (base_lines, _) = changed_lines(&["--base", "HEAD"]);
    let (against_lines, unified) = changed_lines(&["--against", "out"]);
    // The rule's own lines twice, its groups, the version and the
    // versioned names of the ACLs it lands on; renumbering would be
    // thousands of lines.
    assert!(base_lines <= 250, "--base: {base_lines} lines");
    assert!(against_lines <= 250, "--against: {against_lines} lines");
    // What the diff added is what build now writes.
    build();
    let written = std::fs::read_to_string(root.join("out/cisco/synthetic.ios")).unwrap();
    for line in unified
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
    {
        assert!(written.contains(&format!("{}\n", &line[1..])), "{line}");
    }
    // Built: nothing left to show.
    wardwall(root)
        .args([
            "diff",
            "--date",
            DATE,
            "-t",
            "cisco",
            "--against",
            "out",
            "synth.kdl",
        ])
        .assert()
        .code(0);
}
