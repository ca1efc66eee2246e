//! Acknowledged findings (`accept` in the policy): which warnings an
//! acknowledgement covers, how `check` reports them in every format, the
//! warnings of an unused or expired acknowledgement, and the codes that
//! are refused.

use serde_json::Value;

use crate::common::{HOSPITAL, Ran, wardwall};

const DATE: &str = "2026-11-25";

/// A small policy whose `icu-no-internet` deny restates the default (a
/// `redundant-rule`) and whose `monitors-out` exception lets a clinical
/// class reach the internet (`clinical-internet-egress`); `RULE_ACCEPT`,
/// `EXCEPTION_ACCEPT` and `EXPECT_ACCEPT` are replaced by each test.
const POLICY: &str = r#"
zone "icu" {
    prefix "10.20.0.0/16"
    interface nftables="icu0" pfsense="opt1" cisco="Vlan20" panos="icu"
}
zone "servers" {
    prefix "10.10.0.0/16"
    interface nftables="srv0" pfsense="opt2" cisco="Vlan10" panos="servers"
}
zone "internet" {
    residual #true
    interface nftables="wan0" pfsense="wan" cisco="Gi0/0" panos="untrust"
}
class "monitors" {
    zone "icu"
    address "10.20.1.0/24"
    clinical #true
}
rules {
    allow "monitors-to-servers" {
        description "Monitors report to the central station"
        from "monitors"
        to "servers"
        service "https"
    }
    deny "icu-no-internet" {
        description "Guard against a future allow"
        from "icu"
        to "internet"
        service "any"
        RULE_ACCEPT
        exception "monitors-out" {
            description "Vendor cloud"
            from "monitors"
            to "203.0.113.7"
            service "https"
            EXCEPTION_ACCEPT
        }
    }
}
expect {
    never "no-ssh-out" {
        from "icu"
        to "internet"
        service "ssh"
        expires "2026-01-31"
        EXPECT_ACCEPT
    }
}
"#;

const GUARD: &str = r#"accept "redundant-rule" { reason "deliberate guard"; owner "net@example.org"; ticket "NET-7"; expires "2027-01-31"; }"#;

/// `POLICY` with the three placeholders replaced, written to a fresh
/// directory.
fn policy(rule: &str, exception: &str, expect: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ward.kdl");
    let text = POLICY
        .replace("RULE_ACCEPT", rule)
        .replace("EXCEPTION_ACCEPT", exception)
        .replace("EXPECT_ACCEPT", expect);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// The element of the JSON array `list` whose `key` is `code`.
fn with_code<'a>(list: &'a Value, key: &str, code: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|d| d[key] == code)
        .unwrap_or_else(|| panic!("no {key} {code} in {list:#}"))
}

/// Asserts that `check` printed `text` on stderr.
fn says(ran: &Ran, text: &str) {
    assert!(ran.stderr.contains(text), "no {text:?} in:\n{}", ran.stderr);
}

fn check(path: &std::path::Path, date: &str, extra: &[&str]) -> Ran {
    Ran::of(
        wardwall()
            .arg("check")
            .arg(path)
            .args(["--date", date])
            .args(extra),
    )
}

/// The diagnostics of `check --format json` as (severity, code).
fn json_findings(path: &std::path::Path, date: &str) -> Vec<(String, String)> {
    let ran = check(path, date, &["--format", "json"]);
    let v: Value = serde_json::from_str(&ran.stdout).unwrap();
    let mut out: Vec<(String, String)> = v[0]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["severity"].as_str().unwrap().to_string(),
                d["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|(s, c)| (s.to_string(), c.to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn without_accepts_the_policy_has_its_three_warnings() {
    let (_d, path) = policy("", "", "");
    assert_eq!(
        json_findings(&path, DATE),
        pairs(&[
            ("warning", "redundant-rule"),
            ("warning", "clinical-internet-egress"),
            ("warning", "expectation-expired"),
        ])
    );
    check(&path, DATE, &["--deny-warnings"]).expect_code(1);
}

#[test]
fn each_accept_acknowledges_the_finding_of_its_own_declaration() {
    let egress = r#"accept "clinical-internet-egress" { reason "vendor cloud, reviewed"; owner "biomed@example.org"; }"#;
    let expired = r#"accept "expectation-expired" { reason "no ssh server faces the internet any more"; owner "net@example.org"; }"#;
    let (_d, path) = policy(GUARD, egress, expired);
    assert_eq!(
        json_findings(&path, DATE),
        pairs(&[
            ("acknowledged", "redundant-rule"),
            ("acknowledged", "clinical-internet-egress"),
            ("acknowledged", "expectation-expired"),
        ])
    );
    let ran = check(&path, DATE, &["--deny-warnings"]).expect_code(0);
    says(&ran, "0 errors, 0 warnings, 3 acknowledged");
    says(&ran, "acknowledged wardwall::redundant-rule at ");
    says(
        &ran,
        "ward.kdl:26:10\n  rule `icu-no-internet` is redundant",
    );
    says(
        &ran,
        "by net@example.org, ticket NET-7, until 2027-01-31\n  reason: deliberate guard",
    );
    assert!(
        !ran.stderr.contains("⚠"),
        "no warning is drawn: {}",
        ran.stderr
    );
}

#[test]
fn a_rules_accept_does_not_cover_its_exceptions() {
    // The egress finding is the exception's: accepted in the deny, it
    // acknowledges nothing there.
    let egress = r#"accept "clinical-internet-egress" { reason "r"; owner "o"; }"#;
    let (_d, path) = policy(egress, "", "");
    assert_eq!(
        json_findings(&path, DATE),
        pairs(&[
            ("warning", "redundant-rule"),
            ("warning", "clinical-internet-egress"),
            ("warning", "expectation-expired"),
            ("warning", "acknowledgement-unused"),
        ])
    );
    let ran = check(&path, DATE, &[]).expect_code(0);
    says(
        &ran,
        "the acknowledgement of `clinical-internet-egress` on rule `icu-no-internet` matches no finding",
    );
}

#[test]
fn an_unmatched_accept_is_a_warning_that_fails_the_gate() {
    let unused = r#"accept "shadowed-rule" { reason "r"; owner "o"; }"#;
    let (_d, path) = policy(&format!("{GUARD}\n{unused}"), "", "");
    let found = json_findings(&path, DATE);
    assert!(found.contains(&("warning".into(), "acknowledgement-unused".into())));
    assert!(found.contains(&("acknowledged".into(), "redundant-rule".into())));
    check(&path, DATE, &[]).expect_code(0);
    let ran = check(&path, DATE, &["--deny-warnings"]).expect_code(1);
    says(&ran, "wardwall::acknowledgement-unused");
}

#[test]
fn an_expired_accept_is_a_warning_and_its_finding_is_a_warning_again() {
    let (_d, path) = policy(GUARD, "", "");
    // The guard's acknowledgement holds through 2027-01-31.
    let on_last_day = json_findings(&path, "2027-01-31");
    assert!(on_last_day.contains(&("acknowledged".into(), "redundant-rule".into())));
    assert!(
        !on_last_day
            .iter()
            .any(|(_, c)| c == "acknowledgement-expired")
    );
    let after = json_findings(&path, "2027-02-01");
    assert!(
        after.contains(&("warning".into(), "redundant-rule".into())),
        "{after:?}"
    );
    assert!(
        after.contains(&("warning".into(), "acknowledgement-expired".into())),
        "{after:?}"
    );
    let ran = check(&path, "2027-02-01", &[]);
    says(
        &ran,
        "the acknowledgement of `redundant-rule` on rule `icu-no-internet` expired on 2027-01-31",
    );
}

#[test]
fn errors_cannot_be_acknowledged() {
    let violated = r#"accept "expectation-violated" { reason "r"; owner "o"; }"#;
    let (_d, path) = policy("", "", violated);
    let ran = check(&path, DATE, &[]).expect_code(1);
    says(&ran, "wardwall::not-acknowledgeable");
    says(
        &ran,
        "`expectation-violated` is an error and cannot be acknowledged",
    );
    says(&ran, "an error is never accepted");
    for own in ["acknowledgement-unused", "acknowledgement-expired"] {
        let text = format!(r#"accept "{own}" {{ reason "r"; owner "o"; }}"#);
        let (_d, path) = policy(&text, "", "");
        let ran = check(&path, DATE, &[]).expect_code(1);
        says(&ran, &format!("`{own}` cannot itself be acknowledged"));
    }
}

#[test]
fn a_misspelled_code_is_an_error_with_a_suggestion() {
    let typo = r#"accept "redundant-rul" { reason "r"; owner "o"; }"#;
    let (_d, path) = policy(typo, "", "");
    let ran = check(&path, DATE, &[]).expect_code(1);
    says(&ran, "`redundant-rul` is not a warning code");
    says(&ran, "did you mean `redundant-rule`?");
    says(&ran, "ward.kdl:");
}

#[test]
fn reason_and_owner_are_required() {
    let (_d, path) = policy(r#"accept "redundant-rule" { owner "o"; }"#, "", "");
    let ran = check(&path, DATE, &[]).expect_code(1);
    says(&ran, "`accept \"redundant-rule\"` has no `reason`");
    let (_d, path) = policy(r#"accept "redundant-rule" { reason "r"; }"#, "", "");
    let ran = check(&path, DATE, &[]).expect_code(1);
    says(&ran, "`accept \"redundant-rule\"` has no `owner`");
    // Naming the subject is refused with the way it is written instead.
    let (_d, path) = policy(
        r#"accept "redundant-rule" { rule "icu-no-internet"; reason "r"; owner "o"; }"#,
        "",
        "",
    );
    let ran = check(&path, DATE, &[]).expect_code(1);
    says(
        &ran,
        "it acknowledges the findings of the node it is written in",
    );
}

#[test]
fn json_carries_who_accepted_it_and_where() {
    let (_d, path) = policy(GUARD, "", "");
    let ran = check(&path, DATE, &["--format", "json", "--deny-warnings"]);
    let v: Value = serde_json::from_str(&ran.stdout).unwrap();
    // The expectation-expired warning remains, so the gate fails.
    assert_eq!(ran.code, 1);
    assert_eq!(v[0]["ok"], false);
    let d = with_code(&v[0]["diagnostics"], "code", "redundant-rule");
    assert_eq!(d["severity"], "acknowledged");
    let a = &d["acknowledged"];
    assert_eq!(a["reason"], "deliberate guard");
    assert_eq!(a["owner"], "net@example.org");
    assert_eq!(a["ticket"], "NET-7");
    assert_eq!(a["expires"], "2027-01-31");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text[..text.find("accept \"redundant-rule\"").unwrap()]
        .matches('\n')
        .count()
        + 1;
    assert_eq!(a["line"].as_u64(), Some(line as u64));
    assert_eq!(a["column"].as_u64(), Some(9));
    let other = with_code(&v[0]["diagnostics"], "code", "expectation-expired");
    assert_eq!(other["severity"], "warning");
    assert!(other.get("acknowledged").is_none());
}

#[test]
fn sarif_has_an_in_source_suppression_and_the_codes_as_rules() {
    let (_d, path) = policy(GUARD, "", "");
    let ran = check(&path, DATE, &["--format", "sarif", "--deny-warnings"]);
    let log: Value = serde_json::from_str(&ran.stdout).unwrap();
    let run = &log["runs"][0];
    let acked = with_code(&run["results"], "ruleId", "redundant-rule");
    assert_eq!(
        acked["level"], "warning",
        "not an error under --deny-warnings"
    );
    let s = &acked["suppressions"][0];
    assert_eq!(s["kind"], "inSource");
    assert_eq!(s["status"], "accepted");
    let justification = s["justification"].as_str().unwrap();
    assert!(
        justification.starts_with("deliberate guard"),
        "{justification}"
    );
    assert!(justification.contains("net@example.org"), "{justification}");
    assert!(justification.contains("NET-7"), "{justification}");
    assert!(
        s["location"]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("ward.kdl")
    );
    let other = with_code(&run["results"], "ruleId", "expectation-expired");
    assert_eq!(other["level"], "error");
    assert!(other.get("suppressions").is_none());
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    for code in ["acknowledgement-unused", "acknowledgement-expired"] {
        let rule = rules.iter().find(|r| r["id"] == code).unwrap();
        assert!(!rule["help"]["text"].as_str().unwrap().is_empty());
    }
}

#[test]
fn the_shipped_policy_passes_the_gate_and_fails_it_without_its_accepts() {
    let ran = Ran::of(wardwall().args(["check", HOSPITAL, "--date", DATE, "--deny-warnings"]))
        .expect_code(0);
    says(&ran, "0 errors, 0 warnings, 5 acknowledged");
    for code in [
        "rule-expires-soon",
        "rule-expired",
        "redundant-rule",
        "clinical-internet-egress",
    ] {
        says(&ran, &format!("acknowledged wardwall::{code} at "));
    }
    let dir = tempfile::tempdir().unwrap();
    let bare = crate::common::unacknowledged_hospital(dir.path());
    let ran = Ran::of(
        wardwall()
            .arg("check")
            .arg(&bare)
            .args(["--date", DATE, "--deny-warnings"]),
    )
    .expect_code(1);
    says(&ran, "0 errors, 5 warnings");
}

#[test]
fn accepts_change_no_rendered_output() {
    // An acknowledgement is about the report, never the wire.
    for target in wardwall::vocab::Target::ALL {
        let dir = tempfile::tempdir().unwrap();
        let bare = crate::common::unacknowledged_hospital(dir.path());
        let with = crate::common::compile_ok(std::path::Path::new(HOSPITAL), DATE);
        let without = crate::common::compile_ok(&bare, DATE);
        let a = crate::common::render(&with, target);
        let b = crate::common::render(&without, target);
        assert_eq!(
            a.iter().map(|f| &f.contents).collect::<Vec<_>>(),
            b.iter().map(|f| &f.contents).collect::<Vec<_>>(),
            "{target}"
        );
    }
}

#[test]
fn free_text_of_an_accept_is_refused_at_the_character() {
    // A reason or owner is printed in every report: a line break or a bidi
    // control there could forge a line or hide text.
    for fields in [
        r#"reason "ok\nwarning: forged"; owner "o";"#,
        r#"reason "r"; owner "net\u{202E}gro";"#,
    ] {
        let (_d, path) = policy(
            &format!(r#"accept "redundant-rule" {{ {fields} }}"#),
            "",
            "",
        );
        let ran = check(&path, DATE, &[]).expect_code(1);
        says(&ran, "wardwall::invalid-text");
        assert!(
            !ran.stderr.contains("acknowledged wardwall::"),
            "{}",
            ran.stderr
        );
    }
}
