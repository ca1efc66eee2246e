//! `wardwall check` and `explain` as a user runs them: exit codes 0 (ok),
//! 1 (policy errors), 2 (usage or I/O errors), and what they print.

use predicates::prelude::*;

use crate::common::wardwall;

#[test]
fn check_defaults_to_the_shipped_policy_and_passes() {
    wardwall()
        .args(["check", "--date", "2026-11-25"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains(
            "policies/hospital.kdl: ok, 21 active rules as of 2026-11-25, 5 acknowledged",
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
    let dir = tempfile::tempdir().unwrap();
    let policy = crate::common::unacknowledged_hospital(dir.path());
    wardwall()
        .args(["check", "--date", "2026-11-25", "--deny-warnings"])
        .arg(&policy)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("5 warnings"));
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
    assert_eq!(entries.len(), 6);
    let out_dir = tempfile::tempdir().unwrap();
    for entry in entries {
        let mut words = entry.split_whitespace();
        assert_eq!(words.next(), Some("wardwall"));
        let mut args: Vec<String> = words.map(String::from).collect();
        if args[0] == "build" {
            args.extend(["-o".into(), out_dir.path().display().to_string()]);
        }
        if args[0] == "fmt" {
            args.push("--check".into()); // the test must not rewrite the checkout
        }
        let code = wardwall().args(&args).assert().get_output().status.code();
        assert!(matches!(code, Some(0) | Some(1)), "{entry}: exit {code:?}");
    }
}

/// The error codes, with their places, that `check --format json` reports.
fn check_errors(policy: &str, extra: &[&str]) -> (i32, Vec<(String, u64, u64)>) {
    let out = wardwall()
        .args(["check", "--date", "2026-11-25", "--format", "json"])
        .args(extra)
        .arg(policy)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("check prints JSON");
    let mut errors: Vec<_> = json[0]["diagnostics"]
        .as_array()
        .expect("a diagnostics list")
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap_or(0),
                d["column"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    errors.sort();
    (out.status.code().unwrap(), errors)
}

/// The error codes `build` prints before "not built".
fn build_error_codes(policy: &str, extra: &[&str]) -> (i32, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let out = wardwall()
        .args(["build", "--date", "2026-11-25", "-o"])
        .arg(dir.path())
        .args(extra)
        .arg(policy)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    // A report is `wardwall::CODE`, a blank line, then `  × message` for an
    // error (`  ⚠` for a warning).
    let lines: Vec<&str> = stderr.lines().collect();
    let mut codes: Vec<_> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| Some((i, l.strip_prefix("wardwall::")?)))
        .filter(|(i, _)| {
            lines[i + 1..]
                .iter()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.trim_start().starts_with('×'))
        })
        .map(|(_, code)| code.trim().to_string())
        .collect();
    codes.sort();
    (out.status.code().unwrap(), codes)
}

#[test]
fn check_reports_what_build_would_refuse_for_the_policys_targets() {
    let policy = "tests/policies/target-refused/pfsense-cisco.kdl";
    let (code, errors) = check_errors(policy, &[]);
    assert_eq!(code, 1, "{errors:?}");
    let codes: Vec<_> = errors.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(codes, ["cisco-allow-any-protocol", "unplaced"]);
    // Both point at the rule that cannot be rendered.
    assert!(errors.iter().all(|e| (e.1, e.2) == (21, 5)), "{errors:?}");
    // The human report names the place, and says nothing is ok.
    wardwall()
        .args(["check", "--date", "2026-11-25", policy])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("[{policy}:21:5]")))
        .stderr(predicate::str::contains(": ok,").not());
}

#[test]
fn check_validates_the_targets_named_with_t_like_build() {
    let policy = "tests/policies/target-refused/pfsense-cisco.kdl";
    // Cisco alone: only Cisco's refusal.
    let (code, errors) = check_errors(policy, &["-t", "cisco"]);
    assert_eq!(code, 1);
    let codes: Vec<_> = errors.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(codes, ["cisco-allow-any-protocol"]);
    // nftables binds every zone to an interface (anti-spoofing): none of
    // the three is bound, each is named at its declaration.
    let (code, errors) = check_errors(policy, &["-t", "nftables"]);
    assert_eq!(code, 1);
    assert_eq!(
        errors,
        [7, 11, 15].map(|line| ("nftables-no-interface".to_string(), line, 1))
    );
    // Matching addresses only, nftables can express both rules.
    assert_eq!(
        check_errors(policy, &["-t", "nftables", "--nft-address-only"]),
        (0, vec![])
    );
}

/// Every policy the project ships or tests with: `check` fails exactly when
/// `build` does, with the same error codes, for the default targets and for
/// each target alone.
#[test]
fn check_and_build_agree_on_every_shipped_and_test_policy() {
    let mut policies: Vec<String> = Vec::new();
    for dir in [
        "policies",
        "tests/policies",
        "tests/policies/target-refused",
    ] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "kdl") {
                policies.push(path.to_str().unwrap().to_string());
            }
        }
    }
    policies.sort();
    assert!(policies.len() >= 10, "{policies:?}");
    let mut refused = 0;
    for policy in &policies {
        for target in [
            None,
            Some("nftables"),
            Some("pfsense"),
            Some("cisco"),
            Some("panos"),
        ] {
            let extra: Vec<&str> = target.map(|t| vec!["-t", t]).unwrap_or_default();
            let (check_code, check) = check_errors(policy, &extra);
            let (build_code, build) = build_error_codes(policy, &extra);
            let check_codes: Vec<_> = check.into_iter().map(|e| e.0).collect();
            assert_eq!(
                (check_code != 0, &check_codes),
                (build_code != 0, &build),
                "{policy} {target:?}: check vs build"
            );
            refused += usize::from(build_code != 0);
        }
    }
    // The comparison means something only if some builds are refused.
    assert!(refused >= 3, "only {refused} refused builds");
}

/// Issue 17: an explicit final deny-everything rule that gives the default's
/// verdict is one finding ("restates the default"), not a `rule-conflict`
/// with every allow before it; one with another verdict (not logged) is the
/// new default in effect, and the allows before it do not conflict with it.
#[test]
fn a_final_catch_all_deny_is_one_finding_not_a_conflict_per_allow() {
    let shipped = std::fs::read_to_string("policies/hospital.kdl").unwrap();
    let end = shipped
        .trim_end()
        .rfind('}')
        .expect("the rules block closes");
    let codes = |log: &str| {
        // With the advisory and baselines the shipped policy includes
        // (relative to it).
        let dir = tempfile::tempdir().unwrap();
        crate::common::copy_includes(dir.path());
        let path = dir.path().join("catch-all.kdl");
        let policy = format!(
            "{}    deny \"deny-everything-else\" {{\n        description \"explicit default\"\n        from \"any\"\n        to \"any\"\n        service \"any\"\n{log}    }}\n}}\n",
            &shipped[..end]
        );
        std::fs::write(&path, policy).unwrap();
        let out = wardwall()
            .args(["check", "--format", "json", "--date", "2026-11-25"])
            .arg(&path)
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let about_it: Vec<(String, String)> = report[0]["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["message"]
                    .as_str()
                    .unwrap()
                    .contains("deny-everything-else")
            })
            .map(|d| {
                (
                    d["code"].as_str().unwrap().to_string(),
                    d["message"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        about_it
    };
    let restating = codes("");
    assert_eq!(restating.len(), 1, "{restating:?}");
    assert_eq!(restating[0].0, "redundant-rule");
    assert!(
        restating[0].1.contains("restates the default"),
        "{restating:?}"
    );

    let unlogged = codes("        log #false\n");
    assert!(
        unlogged.iter().all(|(code, _)| code != "rule-conflict"),
        "{unlogged:?}"
    );
    assert_eq!(
        unlogged.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
        ["deny-not-logged"],
        "{unlogged:?}"
    );
}

/// issue 16: the hooks run on a commit that only hand-edits a rendered
/// output, and what they run then fails. (pre-commit matches `files` with
/// Python's `re.search`; these patterns mean the same in Rust's regex.)
#[test]
fn pre_commit_hooks_catch_a_hand_edit_of_the_outputs() {
    let hooks = std::fs::read_to_string(".pre-commit-hooks.yaml").unwrap();
    // The check hooks (the fmt hooks run on policy files only).
    let patterns: Vec<&str> = hooks
        .lines()
        .filter_map(|l| l.trim().strip_prefix("files: "))
        .filter(|p| p.contains("out/"))
        .collect();
    assert_eq!(patterns.len(), 4);
    for pattern in patterns {
        let runs_on = predicate::str::is_match(pattern).unwrap();
        for path in [
            "policies/site.kdl",
            "out/cisco/site.ios",
            "out/wardwall-manifest.json",
        ] {
            assert!(runs_on.eval(path), "`{pattern}` misses {path}");
        }
        assert!(!runs_on.eval("README.md"), "`{pattern}` runs on README.md");
    }
    // The build check fails on a hand-edited output.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let build = |extra: &[&str]| {
        let mut cmd = wardwall();
        cmd.args(["build", "--date", "2026-11-25", "-t", "nftables", "-o"])
            .arg(&out)
            .args(extra)
            .arg(crate::common::hospital());
        cmd.assert()
    };
    build(&[]).success();
    build(&["--check"]).success();
    let file = out.join("nftables/st-example-general.nft");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("drop", "accept", 1)).unwrap();
    build(&["--check"])
        .code(1)
        .stderr(predicate::str::contains("stale"));
}
