//! `wardwall check` and `explain` as a user runs them: exit codes 0 (ok),
//! 1 (policy errors), 2 (usage or I/O errors), and what they print.

use assert_cmd::Command;
use predicates::prelude::*;

fn wardwall() -> Command {
    let mut cmd = Command::cargo_bin("wardwall").unwrap();
    cmd.env("NO_COLOR", "1");
    cmd
}

#[test]
fn check_defaults_to_the_shipped_policy_and_passes() {
    wardwall()
        .args(["check", "--date", "2026-11-25"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "policies/hospital.kdl: ok, 21 active rules as of 2026-11-25, 5 warnings",
        ))
        .stderr(predicate::str::contains(
            "rule `pacs-migration` expired on 2026-06-30",
        ));
}

#[test]
fn check_fails_with_1_on_policy_errors_and_names_the_place() {
    wardwall()
        .args([
            "check",
            "--date",
            "2026-11-25",
            "tests/policies/invalid/unknown-node.kdl",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "[tests/policies/invalid/unknown-node.kdl:2:5]",
        ))
        .stderr(predicate::str::contains("did you mean `prefix`?"));
}

#[test]
fn deny_warnings_turns_warnings_into_failure() {
    wardwall()
        .args(["check", "--date", "2026-11-25", "--deny-warnings"])
        .assert()
        .code(1);
}

#[test]
fn a_missing_file_is_an_io_error() {
    wardwall()
        .args(["check", "no/such/policy.kdl"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read policy file no/such/policy.kdl",
        ));
}

#[test]
fn bad_usage_exits_2() {
    wardwall()
        .args(["check", "--date", "2026-13-01"])
        .assert()
        .code(2);
    wardwall().args(["check", "--frobnicate"]).assert().code(2);
    wardwall().assert().code(2);
}

#[test]
fn several_policies_report_the_worst_outcome() {
    wardwall()
        .args([
            "check",
            "--date",
            "2026-11-25",
            "policies/hospital.kdl",
            "tests/policies/invalid/cyclic-group.kdl",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("policies/hospital.kdl: ok"));
}

#[test]
fn json_output_is_machine_readable() {
    let out = wardwall()
        .args([
            "check",
            "--format",
            "json",
            "--date",
            "2026-11-25",
            "tests/policies/invalid/host-bits-set.kdl",
        ])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let d = &json[0]["diagnostics"][0];
    assert_eq!(d["code"], "host-bits-set");
    assert_eq!(d["file"], "tests/policies/invalid/host-bits-set.kdl");
    assert_eq!(d["line"], 2);
    assert_eq!(d["column"], 12);
    assert_eq!(d["severity"], "error");
    assert_eq!(json[0]["ok"], false);
}

#[test]
fn explain_names_the_deciding_rule() {
    wardwall()
        .args([
            "explain",
            "--date",
            "2026-11-25",
            "10.20.8.5",
            "202.114.4.119",
            "tcp/515",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "source 10.20.8.5 is in zone monitor-quarantine",
        ))
        .stdout(predicate::str::contains(
            "verdict: deny by rule `contec-cms8000.out`",
        ));
    wardwall()
        .args([
            "explain",
            "--date",
            "2026-11-25",
            "10.20.8.5",
            "fd00::1",
            "tcp/515",
        ])
        .assert()
        .code(2);
}

#[test]
fn pre_commit_hook_entries_are_real_commands() {
    // Each hook's `entry` must parse as a wardwall command line: a finding
    // (exit 1) is fine, a usage error (exit 2) means the hook is broken.
    let hooks = std::fs::read_to_string(".pre-commit-hooks.yaml").unwrap();
    let entries: Vec<&str> = hooks
        .lines()
        .filter_map(|l| l.trim().strip_prefix("entry: "))
        .collect();
    assert_eq!(entries.len(), 2);
    let out_dir = tempfile::tempdir().unwrap();
    for entry in entries {
        let mut words = entry.split_whitespace();
        assert_eq!(words.next(), Some("wardwall"));
        let mut args: Vec<String> = words.map(String::from).collect();
        if args[0] == "build" {
            args.extend(["-o".into(), out_dir.path().display().to_string()]);
        }
        let code = wardwall().args(&args).assert().get_output().status.code();
        assert!(matches!(code, Some(0) | Some(1)), "{entry}: exit {code:?}");
    }
}
