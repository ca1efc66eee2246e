//! The analysis through the command line: `check` formats (human, JSON,
//! SARIF 2.1.0), `--deny-warnings`, exit codes, and `explain`.

use serde_json::Value;

const POLICY: &str = crate::common::HOSPITAL;
const DATE: &str = "2026-11-25";

use crate::common::wardwall;

fn sarif(deny_warnings: bool) -> (i32, Value) {
    let mut cmd = wardwall();
    cmd.args(["check", POLICY, "--date", DATE, "--format", "sarif"]);
    if deny_warnings {
        cmd.arg("--deny-warnings");
    }
    let out = cmd.output().unwrap();
    let log: Value = serde_json::from_slice(&out.stdout).expect("SARIF is JSON");
    (out.status.code().unwrap(), log)
}

/// 1-based line and column (in characters) of the first occurrence of
/// `needle` in the policy.
fn position_of(needle: &str) -> (u64, u64) {
    let text = std::fs::read_to_string(POLICY).unwrap();
    let offset = text.find(needle).expect("needle in policy");
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (line as u64, col as u64)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str()
        .unwrap_or_else(|| panic!("{path:?} is not a string in {v}"))
}

#[test]
fn sarif_log_has_the_required_structure() {
    let (code, log) = sarif(false);
    assert_eq!(code, 0, "warnings only: exit 0");
    assert_eq!(log["version"], "2.1.0");
    assert!(str_at(&log, &["$schema"]).contains("sarif-2.1.0"));
    let runs = log["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run["columnKind"], "unicodeCodePoints");
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "wardwall");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    let rules = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| str_at(r, &["id"])).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(ids, sorted, "rule ids are unique and sorted");
    for (code, _, _) in wardwall::analysis::CODES {
        assert!(ids.contains(code), "driver rule for {code}");
    }
    for r in rules {
        assert!(!str_at(r, &["shortDescription", "text"]).is_empty());
        assert!(!str_at(r, &["help", "text"]).is_empty());
    }
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        let id = str_at(r, &["ruleId"]);
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(ids[idx], id, "ruleIndex points at ruleId");
        assert!(["error", "warning", "note"].contains(&str_at(r, &["level"])));
        assert!(!str_at(r, &["message", "text"]).is_empty());
        for loc in r["locations"]
            .as_array()
            .unwrap()
            .iter()
            .chain(r["relatedLocations"].as_array().into_iter().flatten())
        {
            let phys = &loc["physicalLocation"];
            assert_eq!(str_at(phys, &["artifactLocation", "uri"]), POLICY);
            let region = &phys["region"];
            for k in ["startLine", "startColumn", "endLine", "endColumn"] {
                assert!(region[k].as_u64().unwrap() >= 1, "{k} is 1-based");
            }
        }
    }
}

#[test]
fn sarif_locations_point_at_the_rule_names() {
    let (_, log) = sarif(false);
    let results = log["runs"][0]["results"].as_array().unwrap();
    let egress: Vec<&Value> = results
        .iter()
        .filter(|r| r["ruleId"] == "clinical-internet-egress")
        .collect();
    assert_eq!(egress.len(), 1);
    let r = egress[0];
    let region = &r["locations"][0]["physicalLocation"]["region"];
    let (line, col) = position_of("\"ct-vendor-telemetry\"");
    assert_eq!(region["startLine"].as_u64(), Some(line));
    assert_eq!(region["startColumn"].as_u64(), Some(col));
    assert_eq!(region["endLine"].as_u64(), Some(line));
    assert_eq!(
        region["endColumn"].as_u64(),
        Some(col + "\"ct-vendor-telemetry\"".len() as u64),
        "endColumn is one past the last character"
    );
    let related = r["relatedLocations"].as_array().unwrap();
    assert_eq!(related.len(), 1);
    let (line, col) = position_of("\"ct-scanners\" {");
    let region = &related[0]["physicalLocation"]["region"];
    assert_eq!(region["startLine"].as_u64(), Some(line));
    assert_eq!(region["startColumn"].as_u64(), Some(col));
    assert_eq!(related[0]["id"], 1);
}

#[test]
fn deny_warnings_makes_findings_errors_in_every_format() {
    // The shipped policy acknowledges its warnings; without its `accept`
    // blocks they fail the gate.
    let dir = tempfile::tempdir().unwrap();
    let policy = crate::common::unacknowledged_hospital(dir.path());
    let out = wardwall()
        .args([
            "check",
            "--date",
            DATE,
            "--format",
            "sarif",
            "--deny-warnings",
        ])
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log: Value = serde_json::from_slice(&out.stdout).expect("SARIF is JSON");
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        assert_eq!(r["level"], "error");
    }
    let human = wardwall()
        .args(["check", "--date", DATE, "--deny-warnings"])
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(human.status.code(), Some(1));
    let stderr = String::from_utf8(human.stderr).unwrap();
    assert!(stderr.contains("wardwall::redundant-rule"), "{stderr}");
    assert!(stderr.contains("clinical-no-internet"), "{stderr}");
}

#[test]
fn json_output_carries_analysis_findings() {
    let out = wardwall()
        .args(["check", POLICY, "--date", DATE, "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let diags = v[0]["diagnostics"].as_array().unwrap();
    let codes: Vec<&str> = diags.iter().map(|d| str_at(d, &["code"])).collect();
    assert!(codes.contains(&"clinical-internet-egress"));
    assert!(codes.contains(&"redundant-rule"));
    // Secondary spans are kept, with their locations.
    let egress = diags
        .iter()
        .find(|d| d["code"] == "clinical-internet-egress")
        .unwrap();
    let (line, col) = position_of("\"ct-scanners\" {");
    assert_eq!(egress["related"][0]["file"], POLICY);
    assert_eq!(egress["related"][0]["line"].as_u64(), Some(line));
    assert_eq!(egress["related"][0]["column"].as_u64(), Some(col));
    assert_eq!(egress["related"][0]["label"], "clinical device class");
}

#[test]
fn check_of_a_missing_file_is_an_io_error_in_every_format() {
    for format in ["human", "json", "sarif"] {
        wardwall()
            .args(["check", "no/such/policy.kdl", "--format", format])
            .assert()
            .code(2);
    }
}

#[test]
fn explain_prints_the_decision_path() {
    let out = wardwall()
        .args([
            "explain",
            POLICY,
            "10.20.1.7",
            "10.10.0.14",
            "udp/514",
            "--date",
            DATE,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "packet: 10.20.1.7 -> 10.10.0.14 udp/514");
    assert!(
        lines[1].starts_with("  source 10.20.1.7 is in zone icu-devices; class icu-monitors"),
        "{text}"
    );
    assert!(lines[1].contains("group clinical-devices"), "{text}");
    assert!(
        lines[2].starts_with(
            "  destination 10.10.0.14 is in zone infrastructure; class syslog-collector"
        ),
        "{text}"
    );
    // Every earlier rule is listed with the dimension it failed on.
    assert!(
        text.contains("deny `contec-cms8000.out` (policies/hospital.kdl:"),
        "{text}"
    );
    assert!(
        text.contains("allow `devices-to-dns-ntp` (policies/hospital.kdl:")
            && text.contains("): no match on destination, service\n"),
        "{text}"
    );
    assert!(
        text.contains("allow `monitor-data-export` (policies/hospital.kdl:")
            && text.contains("): no match on destination, service\n"),
        "{text}"
    );
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("verdict: allow by rule ") && last.contains("`devices-to-syslog`"),
        "{text}"
    );
}

#[test]
fn explain_default_deny_lists_every_rule() {
    let out = wardwall()
        .args(["explain", "10.0.0.5", "10.20.1.7", "tcp/22", "--date", DATE])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let listed = text
        .lines()
        .filter(|l| l.contains(": no match on "))
        .count();
    assert_eq!(listed, 21, "every active rule is listed: {text}");
    assert!(
        text.ends_with("verdict: deny by the default rule (no rule matched), logged\n"),
        "{text}"
    );
}

#[test]
fn explain_target_rejects_unknown_targets() {
    wardwall()
        .args([
            "explain",
            "10.20.1.7",
            "8.8.8.8",
            "udp/53",
            "--target",
            "juniper",
        ])
        .assert()
        .code(2);
}

/// A repository (a temporary folder with `.git`) holding the hospital
/// policy as `net policies/site.kdl`, with its includes: a folder name
/// that SARIF URIs must percent-encode. Returns the repository (dropped
/// last) and the policy folder.
fn repository_with_a_spaced_folder() -> (tempfile::TempDir, std::path::PathBuf) {
    let repo = tempfile::tempdir().unwrap();
    let policies = repo.path().join("net policies");
    crate::common::copy_includes(&policies);
    std::fs::copy(POLICY, policies.join("site.kdl")).unwrap();
    std::fs::create_dir(repo.path().join(".git")).unwrap();
    (repo, policies)
}

/// The results of `check --format sarif` run in `dir` on `policy`.
fn sarif_results(dir: &std::path::Path, policy: &str) -> Vec<Value> {
    let out = wardwall()
        .current_dir(dir)
        .args(["check", policy, "--date", DATE, "--format", "sarif"])
        .output()
        .unwrap();
    let log: Value = serde_json::from_slice(&out.stdout).expect("SARIF is JSON");
    log["runs"][0]["results"].as_array().unwrap().clone()
}

#[test]
fn sarif_uris_are_repository_relative_and_fingerprints_survive_unrelated_edits() {
    let (_repo, policies) = repository_with_a_spaced_folder();

    // Run from inside the policy folder: URIs are still from the root,
    // percent-encoded, against %SRCROOT%.
    let before = sarif_results(&policies, "site.kdl");
    assert!(!before.is_empty());
    for r in &before {
        let artifact = &r["locations"][0]["physicalLocation"]["artifactLocation"];
        assert_eq!(artifact["uri"], "net%20policies/site.kdl", "{r}");
        assert_eq!(artifact["uriBaseId"], "%SRCROOT%");
    }
    let prints = |results: &[Value]| -> Vec<String> {
        results
            .iter()
            .map(|r| str_at(r, &["partialFingerprints", "wardwall/v1"]).to_string())
            .collect()
    };
    let mut unique = prints(&before);
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), before.len(), "one fingerprint per finding");

    // Unrelated lines above every finding move them all, but no
    // fingerprint changes.
    let path = policies.join("site.kdl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!("// reviewed 2026-11\n\n// by netsec\n{text}"),
    )
    .unwrap();
    let after = sarif_results(&policies, "site.kdl");
    let line = |r: &Value| r["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64();
    assert!(
        before
            .iter()
            .zip(&after)
            .all(|(b, a)| line(a) == line(b).map(|l| l + 3))
    );
    assert_eq!(prints(&before), prints(&after));
}

#[test]
fn sarif_rules_have_a_full_description_and_a_help_uri_into_the_docs() {
    let run = |docs: Option<&str>| -> Vec<Value> {
        let mut cmd = wardwall();
        cmd.args(["check", POLICY, "--date", DATE, "--format", "sarif"]);
        cmd.env_remove("WARDWALL_DOCS_URL");
        if let Some(url) = docs {
            cmd.env("WARDWALL_DOCS_URL", url);
        }
        let out = cmd.output().unwrap();
        let log: Value = serde_json::from_slice(&out.stdout).expect("SARIF is JSON");
        log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .clone()
    };
    let analysis_md = std::fs::read_to_string("docs/analysis.md").unwrap();
    for r in run(None) {
        let id = str_at(&r, &["id"]);
        assert!(!str_at(&r, &["fullDescription", "text"]).is_empty(), "{r}");
        let uri = str_at(&r, &["helpUri"]);
        let anchor = if wardwall::analysis::code_info(id).is_some() {
            id
        } else {
            "other-codes"
        };
        assert_eq!(
            uri,
            format!("{}analysis.md#{anchor}", wardwall::sarif::DEFAULT_DOCS_URL)
        );
        // The anchor is a heading of docs/analysis.md.
        assert!(
            analysis_md.contains(&format!("\n### {anchor}\n")),
            "docs/analysis.md has no section for {anchor}"
        );
    }
    for r in run(Some("https://docs.example.net/wardwall/1.2")) {
        let uri = str_at(&r, &["helpUri"]);
        assert!(
            uri.starts_with("https://docs.example.net/wardwall/1.2/analysis.md#"),
            "{uri}"
        );
    }
}

#[test]
fn sarif_fingerprints_survive_an_unrelated_rule_added_above() {
    let (_repo, policies) = repository_with_a_spaced_folder();
    let path = policies.join("site.kdl");
    let before = sarif_results(&policies, "site.kdl");
    assert!(!before.is_empty(), "findings to follow");
    let text = std::fs::read_to_string(&path).unwrap();
    let unrelated = "rules {\n    deny \"unrelated-guard\" {\n        \
                     description \"Added by the test, above every finding\"\n        \
                     from \"guest-wifi\"\n        to \"guest-wifi\"\n        \
                     service \"ssh\"\n    }\n";
    assert_eq!(text.matches("\nrules {\n").count(), 1);
    std::fs::write(
        &path,
        text.replacen("\nrules {\n", &format!("\n{unrelated}"), 1),
    )
    .unwrap();
    let after = sarif_results(&policies, "site.kdl");
    let print = |r: &Value| str_at(r, &["partialFingerprints", "wardwall/v1"]).to_string();
    let after_prints: Vec<String> = after.iter().map(print).collect();
    for r in &before {
        assert!(
            after_prints.contains(&print(r)),
            "a finding lost its fingerprint when an unrelated rule was added: {r}"
        );
        assert_eq!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "net%20policies/site.kdl"
        );
    }
    // Whatever is new is about the new rule only.
    for r in after
        .iter()
        .filter(|r| !before.iter().any(|b| print(b) == print(r)))
    {
        assert!(
            str_at(r, &["message", "text"]).contains("unrelated-guard"),
            "{r}"
        );
    }
}

/// The Python that has the PyPI packages `jsonschema` and
/// `rfc3986-validator` (without it the `uri` formats go unchecked), or a
/// visible skip.
fn python_with_jsonschema() -> Option<std::path::PathBuf> {
    crate::common::skip::python_with(
        &["WARDWALL_PYTHON"],
        "jsonschema, rfc3986_validator",
        "jsonschema==4.23.0 and rfc3986-validator==0.1.1",
    )
}

/// `sarif_validate.py`'s verdict on `logs`: the violations it printed, and
/// whether it found none.
fn schema_violations(python: &std::path::Path, logs: &[std::path::PathBuf]) -> (bool, String) {
    let out = std::process::Command::new(python)
        .arg("tests/support/sarif_validate.py")
        .arg("tests/fixtures/sarif/sarif-schema-2.1.0.json")
        .args(logs)
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => (true, printed),
        Some(1) => (false, printed),
        _ => panic!("sarif_validate.py failed: {printed}"),
    }
}

/// Every kind of log `check --format sarif` writes is valid SARIF 2.1.0
/// by the official schema, checked by a third-party validator (the schema
/// and its source: tests/fixtures/sarif/README.md): warnings, acknowledged
/// findings (suppressions), policy errors, and a path that needs
/// percent-encoding. A log with a broken field is refused, so the check
/// can fail.
#[test]
fn sarif_logs_are_valid_by_the_sarif_2_1_0_schema() {
    let Some(python) = python_with_jsonschema() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join(".git")).unwrap();
    let spaced = root.join("net policies");
    let unacknowledged = crate::common::unacknowledged_hospital(&spaced);
    let broken = root.join("broken.kdl");
    std::fs::write(
        &broken,
        "policy \"x\" {\n    zone \"a\" { prefix \"10.0.0.0/8\" }\n}\nrule \"r\" {\n    allow\n    from \"nowhere\"\n    to \"a\"\n    service \"https\"\n}\n",
    )
    .unwrap();
    let hospital = std::fs::canonicalize(POLICY).unwrap();
    let cases = [
        ("warnings", unacknowledged.as_path(), 0),
        ("acknowledged", hospital.as_path(), 0),
        ("errors", broken.as_path(), 1),
    ];
    let mut logs = Vec::new();
    for (name, policy, code) in cases {
        let out = wardwall()
            .current_dir(root)
            .arg("check")
            .arg(policy)
            .args(["--date", DATE, "--format", "sarif"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{name}");
        let log: Value = serde_json::from_slice(&out.stdout).expect("SARIF is JSON");
        let results = log["runs"][0]["results"].as_array().unwrap();
        assert!(!results.is_empty(), "{name}: a log with results");
        let path = root.join(format!("{name}.sarif"));
        std::fs::write(&path, &out.stdout).unwrap();
        logs.push(path);
    }
    let (valid, printed) = schema_violations(&python, &logs);
    assert!(valid, "wardwall's SARIF breaks the schema:\n{printed}");

    // The same log with a level SARIF does not have, and without its
    // version: both refused.
    let mut log: Value = serde_json::from_slice(&std::fs::read(&logs[0]).unwrap()).unwrap();
    log["runs"][0]["results"][0]["level"] = "severe".into();
    log.as_object_mut().unwrap().remove("version");
    let tampered = root.join("tampered.sarif");
    std::fs::write(&tampered, log.to_string()).unwrap();
    let (valid, printed) = schema_violations(&python, &[tampered]);
    assert!(!valid, "a broken log passed the schema");
    assert!(
        printed.contains("'version' is a required property") && printed.contains("severe"),
        "{printed}"
    );
}
