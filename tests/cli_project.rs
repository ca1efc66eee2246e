//! The project file (`wardwall.toml`), the global options and the lint
//! selection, through the CLI: discovery, `--config`, precedence of flags,
//! errors with location and suggestion, relative paths, `--quiet`.

use std::path::{Path, PathBuf};

use crate::common::{self, Ran};

/// A repository in a temporary directory: a `.git` (the boundary the
/// search stops at) and copies of the shipped policies with their
/// includes in `policies/`.
fn repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::copy(common::clinic(), policies.join("clinic.kdl")).unwrap();
    std::fs::copy(common::hospital(), policies.join("hospital.kdl")).unwrap();
    common::copy_includes(&policies);
    dir
}

fn write(path: impl AsRef<Path>, text: &str) {
    let path = path.as_ref();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `wardwall ARGS...` run in `dir`.
fn run_in(dir: &Path, args: &[&str]) -> Ran {
    Ran::of(common::wardwall().current_dir(dir).args(args))
}

/// The codes and severities `check --format json` reports, in order.
fn reported(ran: &Ran) -> Vec<(String, String)> {
    let json: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap_or_else(|e| {
        panic!("{e}: stdout {} stderr {}", ran.stdout, ran.stderr);
    });
    json.as_array()
        .unwrap()
        .iter()
        .flat_map(|policy| policy["diagnostics"].as_array().unwrap().clone())
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const CLINIC_IN_BUILT: &str = "[[policy]]\npath = \"policies/clinic.kdl\"\nout = \"built\"\n";

#[test]
fn the_project_file_is_found_above_the_working_directory() {
    let repo = repository();
    write(repo.path().join("wardwall.toml"), CLINIC_IN_BUILT);
    let deeper = repo.path().join("sub/deeper");
    std::fs::create_dir_all(&deeper).unwrap();
    let ran = run_in(&deeper, &["build", "-t", "nftables"]).expect_code(0);
    // The paths of the file are relative to the file, and shown relative
    // to the working directory.
    assert_eq!(ran.stdout.trim(), "wrote ../../built/nftables/clinic.nft");
    assert!(repo.path().join("built/nftables/clinic.nft").is_file());
    assert!(
        !deeper.join("out").exists(),
        "nothing written to the default out/"
    );
}

#[test]
fn the_search_stops_at_the_repository_root() {
    let outer = tempfile::tempdir().unwrap();
    write(outer.path().join("wardwall.toml"), "not-a-key = 1\n");
    let repo = outer.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    let policy = common::policy("policies/clinic.kdl");
    let policy = policy.to_str().unwrap();
    // Outside the repository the broken file is found and refused ...
    let ran = run_in(outer.path(), &["check", policy]).expect_code(2);
    assert!(ran.stderr.contains("not-a-key"), "{}", ran.stderr);
    // ... inside it, the search ends at the `.git` and never reads it.
    run_in(&repo, &["check", policy]).expect_code(0);
}

#[test]
fn config_names_the_file_and_its_paths_are_relative_to_it() {
    let repo = repository();
    write(
        repo.path().join("conf/project.toml"),
        "[[policy]]\npath = \"../policies/clinic.kdl\"\nout = \"../built\"\n",
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let config = repo.path().join("conf/project.toml");
    run_in(
        elsewhere.path(),
        &["build", "--config", config.to_str().unwrap(), "-t", "cisco"],
    )
    .expect_code(0);
    assert!(repo.path().join("built/cisco/clinic.ios").is_file());
    assert!(!elsewhere.path().join("out").exists());
}

#[test]
fn a_missing_config_file_is_an_io_error() {
    let repo = repository();
    let ran = run_in(repo.path(), &["check", "--config", "missing.toml"]).expect_code(2);
    assert!(
        ran.stderr
            .contains("cannot read the project file missing.toml"),
        "{}",
        ran.stderr
    );
}

#[test]
fn flags_override_the_project_file() {
    let repo = repository();
    write(
        repo.path().join("wardwall.toml"),
        "[[policy]]\npath = \"policies/clinic.kdl\"\nout = \"from-file\"\ntargets = [\"nftables\"]\n",
    );
    // The file alone: its directory and its targets.
    run_in(repo.path(), &["build"]).expect_code(0);
    let from_file = repo.path().join("from-file");
    assert!(from_file.join("nftables/clinic.nft").is_file());
    assert!(!from_file.join("cisco").exists(), "only the file's targets");
    // The flags win over both.
    run_in(repo.path(), &["build", "-o", "from-flags", "-t", "cisco"]).expect_code(0);
    let from_flags = repo.path().join("from-flags");
    assert!(from_flags.join("cisco/clinic.ios").is_file());
    assert!(!from_flags.join("nftables").exists());
}

#[test]
fn an_unknown_key_is_an_error_at_its_place_with_a_suggestion() {
    let repo = repository();
    write(
        repo.path().join("wardwall.toml"),
        "[[policy]]\npath = \"policies/clinic.kdl\"\noutt = \"built\"\n",
    );
    let ran = run_in(repo.path(), &["check"]).expect_code(2);
    assert!(ran.stderr.contains("wardwall.toml:3:1"), "{}", ran.stderr);
    assert!(ran.stderr.contains("unknown key `outt`"), "{}", ran.stderr);
    assert!(ran.stderr.contains("did you mean `out`?"), "{}", ran.stderr);
    assert!(
        !repo.path().join("built").exists() && !repo.path().join("out").exists(),
        "nothing was done"
    );
}

#[test]
fn bad_values_are_errors_at_their_place_with_a_suggestion() {
    let cases = [
        (
            "[lint]\nignore = [\"redundant-rul\"]\n",
            "2:11",
            "did you mean `redundant-rule`?",
        ),
        (
            "[lint]\nseverity = { redundant-rule = \"eror\" }\n",
            "2:31",
            "did you mean `error`?",
        ),
        (
            "[[policy]]\npath = \"policies/clinic.kdl\"\ntargets = [\"nftable\"]\n",
            "3:12",
            "did you mean `nftables`?",
        ),
        (
            "[lint]\nselect = [\"expectation-violated\"]\n",
            "2:11",
            "errors cannot be selected",
        ),
        ("[diff]\nbudget = \"big\"\n", "2:10", "expected usize"),
    ];
    let repo = repository();
    for (text, at, hint) in cases {
        write(repo.path().join("wardwall.toml"), text);
        let ran = run_in(repo.path(), &["check"]).expect_code(2);
        assert!(
            ran.stderr.contains(&format!("wardwall.toml:{at}")),
            "{text}: {}",
            ran.stderr
        );
        assert!(ran.stderr.contains(hint), "{text}: {}", ran.stderr);
    }
}

#[test]
fn an_unknown_lint_code_on_the_command_line_is_a_usage_error() {
    let ran = common::run(["check", "--ignore", "shadowed-rul"]).expect_code(2);
    assert!(
        ran.stderr.contains("did you mean `shadowed-rule`?"),
        "{}",
        ran.stderr
    );
}

#[test]
fn the_lint_selection_of_the_file_and_the_flags() {
    let repo = repository();
    write(repo.path().join("wardwall.toml"), CLINIC_IN_BUILT);
    let json = ["check", "--format", "json"];
    let all = reported(&run_in(repo.path(), &json).expect_code(0));
    let codes = |found: &[(String, String)]| found.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert!(
        codes(&all).contains(&"redundant-rule".to_string()),
        "{all:?}"
    );
    assert!(
        codes(&all).contains(&"rule-no-description".to_string()),
        "{all:?}"
    );
    let without = |code: &str| {
        all.iter()
            .filter(|f| f.0 != code)
            .cloned()
            .collect::<Vec<_>>()
    };

    // The file ignores one lint: every other finding stays.
    write(
        repo.path().join("wardwall.toml"),
        &format!("{CLINIC_IN_BUILT}[lint]\nignore = [\"rule-no-description\"]\n"),
    );
    let ran = run_in(repo.path(), &json).expect_code(0);
    assert_eq!(reported(&ran), without("rule-no-description"));
    // The flags add an ignore to the file's.
    let ran = run_in(
        repo.path(),
        &[&json[..], &["--ignore", "redundant-rule"]].concat(),
    );
    let neither: Vec<_> = without("rule-no-description")
        .into_iter()
        .filter(|f| f.0 != "redundant-rule")
        .collect();
    assert_eq!(reported(&ran), neither);

    // The file makes a lint an error: check fails; the flag makes it a
    // warning again.
    write(
        repo.path().join("wardwall.toml"),
        &format!(
            "{CLINIC_IN_BUILT}[lint]\nselect = [\"rule-no-description\"]\n\
             [lint.severity]\nredundant-rule = \"error\"\n"
        ),
    );
    let ran = run_in(repo.path(), &json).expect_code(0);
    assert!(
        reported(&ran).iter().all(|f| f.0 == "rule-no-description"),
        "the file's select: {:?}",
        reported(&ran)
    );
    let ran = run_in(
        repo.path(),
        &[
            &json[..],
            &["--select", "redundant-rule,rule-no-description"],
        ]
        .concat(),
    )
    .expect_code(1);
    let raised: Vec<_> = all
        .iter()
        .map(|(code, severity)| {
            let severity = if code == "redundant-rule" {
                "error"
            } else {
                severity
            };
            (code.clone(), severity.to_string())
        })
        .filter(|f| f.0 == "redundant-rule" || f.0 == "rule-no-description")
        .collect();
    assert_eq!(
        reported(&ran),
        raised,
        "the flag's select replaced the file's"
    );
    run_in(
        repo.path(),
        &[
            &json[..],
            &[
                "--select",
                "redundant-rule",
                "--severity",
                "redundant-rule=warning",
            ],
        ]
        .concat(),
    )
    .expect_code(0);
}

#[test]
fn a_raised_lint_stops_build_too() {
    let repo = repository();
    let build = [
        "build",
        "policies/hospital.kdl",
        "--date",
        "2026-12-02",
        "-o",
        "o",
    ];
    // The hospital policy has an expired rule on that date: a warning ...
    let ran = run_in(repo.path(), &build).expect_code(0);
    assert!(ran.stderr.contains("rule-expired"), "{}", ran.stderr);
    std::fs::remove_dir_all(repo.path().join("o")).unwrap();
    // ... that the project file makes an error: nothing is built.
    write(
        repo.path().join("wardwall.toml"),
        "[lint.severity]\nrule-expired = \"error\"\n",
    );
    let ran = run_in(repo.path(), &build).expect_code(1);
    assert!(ran.stderr.contains("not built"), "{}", ran.stderr);
    assert!(!repo.path().join("o").exists());
}

#[test]
fn global_options_go_before_or_after_the_subcommand() {
    let policy = common::CLINIC;
    let before =
        common::run(["--color", "never", "--date", "2026-01-05", "check", policy]).expect_code(0);
    let after =
        common::run(["check", policy, "--color", "never", "--date", "2026-01-05"]).expect_code(0);
    assert_eq!(before.parts(), after.parts());
    let ran = common::run(["--date", "2026-01-05", "check", policy]).expect_code(0);
    assert!(ran.stderr.contains("as of 2026-01-05"), "{}", ran.stderr);
    let quiet_before = common::run(["-q", "check", policy]).expect_code(0);
    let quiet_after = common::run(["check", policy, "--quiet"]).expect_code(0);
    assert_eq!(quiet_before.parts(), quiet_after.parts());
}

#[test]
fn quiet_keeps_findings_and_errors_only() {
    let policy = common::CLINIC;
    let loud = common::run(["check", policy]).expect_code(0);
    let quiet = common::run(["check", policy, "--quiet"]).expect_code(0);
    assert!(loud.stderr.contains(": ok, "), "{}", loud.stderr);
    assert!(!quiet.stderr.contains(": ok, "), "{}", quiet.stderr);
    assert!(
        quiet.stderr.contains("redundant-rule"),
        "findings stay: {}",
        quiet.stderr
    );

    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let ran = common::run(["build", policy, "-o", dir, "--quiet"]).expect_code(0);
    assert_eq!(ran.stdout, "", "no `wrote` lines");
    assert!(out.path().join("nftables/clinic.nft").is_file());
    let ran = common::run(["build", policy, "-o", dir, "--check", "-q"]).expect_code(0);
    assert_eq!((ran.stdout.as_str(), ran.stderr.as_str()), ("", ""));

    let broken = common::run([
        "check",
        "-q",
        "tests/policies/invalid/unknown-reference.kdl",
    ])
    .expect_code(1);
    assert!(
        broken.stderr.contains("unknown-reference"),
        "{}",
        broken.stderr
    );
}

#[test]
fn several_policies_are_all_checked_and_one_must_be_named_for_diff() {
    let repo = repository();
    let policies = repo.path().join("policies");
    std::fs::copy(policies.join("clinic.kdl"), policies.join("second.kdl")).unwrap();
    write(
        repo.path().join("wardwall.toml"),
        "[[policy]]\npath = \"policies/clinic.kdl\"\n[[policy]]\npath = \"policies/second.kdl\"\n",
    );
    let ran = run_in(repo.path(), &["check"]).expect_code(0);
    let ok: Vec<_> = ran
        .stderr
        .lines()
        .filter(|l| l.contains(": ok, "))
        .collect();
    assert_eq!(ok.len(), 2, "{}", ran.stderr);
    assert!(ok[0].starts_with("policies/clinic.kdl") && ok[1].starts_with("policies/second.kdl"));
    let ran = run_in(repo.path(), &["diff"]).expect_code(2);
    assert!(ran.stderr.contains("name the one to use"), "{}", ran.stderr);
}

#[test]
fn the_review_budget_comes_from_the_file_unless_given() {
    let repo = repository();
    // out/ holds an older rendering: the diff is not empty.
    run_in(
        repo.path(),
        &["build", "policies/clinic.kdl", "-t", "nftables"],
    )
    .expect_code(0);
    let nft = repo.path().join("out/nftables/clinic.nft");
    let text = std::fs::read_to_string(&nft).unwrap();
    std::fs::write(&nft, text.replace("accept", "drop")).unwrap();
    let markdown = |extra: &[&str]| {
        let args = [
            &["diff", "-t", "nftables", "--format", "markdown"][..],
            extra,
        ]
        .concat();
        run_in(repo.path(), &args).expect_code(1).stdout.len()
    };
    let unlimited = markdown(&[]);
    write(repo.path().join("wardwall.toml"), "[diff]\nbudget = 600\n");
    let from_file = markdown(&[]);
    assert!(from_file < unlimited, "{from_file} of {unlimited}");
    let from_flag = markdown(&["--budget", "100000"]);
    assert_eq!(from_flag, unlimited, "the flag wins");
}

/// The shipped project file restates the defaults: the README's commands,
/// run in the repository, do what they did without it.
#[test]
fn the_shipped_project_file_builds_the_hospital_policy_into_out() {
    let text = common::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("wardwall.toml"));
    let out = tempfile::tempdir().unwrap();
    let config = out.path().join("wardwall.toml");
    // The same file, its paths made to point at the repository and a
    // temporary out/.
    let repo = env!("CARGO_MANIFEST_DIR");
    let moved = text
        .replace("\"policies/", &format!("\"{repo}/policies/"))
        .replace("out = \"out\"", "out = \"built\"");
    assert_ne!(moved, text, "the shipped file names the policy and out/");
    std::fs::write(&config, moved).unwrap();
    let ran = run_in(out.path(), &["build", "-t", "nftables"]).expect_code(0);
    let wrote: Vec<_> = ran.stdout.lines().collect();
    assert!(
        wrote.len() == 1 && wrote[0].starts_with("wrote built/nftables/"),
        "{}",
        ran.stdout
    );
}

#[test]
fn project_file_text_never_reaches_the_terminal_raw() {
    let repo = repository();
    let cases = [
        // An escaped control character in a quoted key.
        "[lint]\n\"sel\\u001b[31mect\" = []\n",
        // A raw right-to-left override inside a value.
        "[[policy]]\npath = \"policies/clinic.kdl\"\ntargets = [\"nft\u{202e}ables\"]\n",
    ];
    for text in cases {
        write(repo.path().join("wardwall.toml"), text);
        let ran = run_in(repo.path(), &["check"]).expect_code(2);
        assert!(
            !ran.stderr.chars().any(|c| c == '\u{1b}' || c == '\u{202e}'),
            "{text:?}: {:?}",
            ran.stderr
        );
        assert!(ran.stderr.contains("wardwall.toml:"), "{:?}", ran.stderr);
    }
}

#[test]
fn the_project_files_templates_are_checked_as_the_flag_is() {
    let repo = repository();
    std::fs::create_dir_all(repo.path().join("tpl/nftable")).unwrap();
    write(
        repo.path().join("wardwall.toml"),
        "[[policy]]\npath = \"policies/clinic.kdl\"\ntemplates = \"tpl\"\n",
    );
    let ran = run_in(repo.path(), &["build", "-t", "nftables"]).expect_code(2);
    assert!(ran.stderr.contains("wardwall.toml:3:13"), "{}", ran.stderr);
    assert!(ran.stderr.contains("nftable"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("nftables"),
        "names the valid target: {}",
        ran.stderr
    );
    assert!(!repo.path().join("out").exists(), "nothing written");
}

#[test]
fn a_selection_leaves_the_other_acknowledgements_alone_and_a_raised_lint_is_not_acknowledged() {
    let hospital = common::hospital();
    let hospital = hospital.to_str().unwrap();
    let selected = common::run([
        "check",
        hospital,
        "--date",
        common::probes::PROBE_DATE,
        "--format",
        "json",
        "--select",
        "redundant-rule",
    ])
    .expect_code(0);
    let found = reported(&selected);
    assert!(!found.is_empty());
    assert!(
        found.iter().all(|(code, _)| code == "redundant-rule"),
        "only the selected lint, no acknowledgement-unused for the others: {found:?}"
    );
    assert!(found.iter().any(|(_, s)| s == "acknowledged"), "{found:?}");

    let ignored = common::run([
        "check",
        hospital,
        "--date",
        common::probes::PROBE_DATE,
        "--format",
        "json",
        "--deny-warnings",
        "--ignore",
        "redundant-rule",
    ])
    .expect_code(0);
    let found = reported(&ignored);
    assert!(
        found
            .iter()
            .all(|(code, _)| code != "redundant-rule" && code != "acknowledgement-unused"),
        "an ignored lint's acknowledgement is not unused: {found:?}"
    );

    let raised = common::run([
        "check",
        hospital,
        "--date",
        common::probes::PROBE_DATE,
        "--format",
        "json",
        "--severity",
        "redundant-rule=error",
    ])
    .expect_code(1);
    let found = reported(&raised);
    assert!(
        found.contains(&("redundant-rule".to_string(), "error".to_string())),
        "{found:?}"
    );
    assert!(
        !found.contains(&("redundant-rule".to_string(), "acknowledged".to_string())),
        "an error is never acknowledged: {found:?}"
    );
}

#[test]
fn completions_and_man_do_not_read_the_project_file() {
    let repo = repository();
    write(repo.path().join("wardwall.toml"), "not-a-key = 1\n");
    run_in(repo.path(), &["check"]).expect_code(2);
    for args in [&["completions", "bash"][..], &["man", "check"]] {
        let ran = run_in(repo.path(), args).expect_code(0);
        assert!(!ran.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn fmt_formats_the_project_files_policies_and_is_quiet_with_q() {
    let repo = repository();
    write(repo.path().join("wardwall.toml"), CLINIC_IN_BUILT);
    let clinic = repo.path().join("policies/clinic.kdl");
    let text = std::fs::read_to_string(&clinic).unwrap();
    std::fs::write(&clinic, text.replacen("\n", "\n\n\n\n", 1)).unwrap();
    let hospital = repo.path().join("policies/hospital.kdl");
    let before = std::fs::read_to_string(&hospital).unwrap();
    std::fs::write(&hospital, before.replacen("\n", "\n\n\n\n", 1)).unwrap();
    let ran = run_in(repo.path(), &["fmt", "--check"]).expect_code(1);
    assert_eq!(
        ran.stdout.trim(),
        "would reformat: policies/clinic.kdl",
        "{}",
        ran.stderr
    );
    let quiet = run_in(repo.path(), &["fmt", "--check", "-q"]).expect_code(1);
    assert_eq!(
        (quiet.stdout.as_str(), quiet.stderr.as_str()),
        (ran.stdout.as_str(), "")
    );
}
