//! `wardwall diff` as a reviewer runs it: against the rendered files in a
//! directory, and against the policy at a git revision (a repository made
//! in a temporary directory with two commits of a policy).

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
    std::fs::write(root.join("other.kdl"), "").unwrap();
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
