//! Expectations (`expect { never / always / only }`): known answers for
//! each kind, the errors bad input gets, and what `check` and `build`
//! report.

use std::path::{Path, PathBuf};

use predicates::prelude::*;

use crate::common::wardwall;

/// Zones with IPv4 and IPv6 prefixes, bound on every target, and `rules`
/// and `expect` blocks as given.
fn policy(rules: &str, expect: &str) -> String {
    format!(
        r#"policy "p"
zone "a" {{
    prefix "10.1.0.0/16" "fd00:1::/64"
    interface nftables="a0" pfsense="opt1" cisco="Vlan10" panos="a"
}}
zone "b" {{
    prefix "10.2.0.0/16" "fd00:2::/64"
    interface nftables="b0" pfsense="opt2" cisco="Vlan20" panos="b"
}}
zone "internet" {{
    residual #true
    interface nftables="wan0" pfsense="wan" cisco="GigabitEthernet0/0" panos="untrust"
}}
class "a-hosts" {{
    zone "a"
    address "10.1.1.0/24" "fd00:1::/120"
}}
rules {{
{rules}
}}
expect {{
{expect}
}}
"#
    )
}

struct Written {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn write(text: &str) -> Written {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.kdl");
    std::fs::write(&path, text).unwrap();
    Written { _dir: dir, path }
}

/// The expectation findings of a policy on `date`: (code, message, help).
fn findings(text: &str, date: &str) -> Vec<(String, String, String)> {
    let w = write(text);
    findings_at(&w.path, date)
}

fn findings_at(path: &Path, date: &str) -> Vec<(String, String, String)> {
    let mut c = wardwall::compile(path, date.parse().unwrap()).unwrap();
    assert!(
        c.ir.is_some(),
        "{:?}",
        c.diagnostics
            .items
            .iter()
            .map(|d| &d.message)
            .collect::<Vec<_>>()
    );
    c.check_expectations(date.parse().unwrap());
    c.diagnostics
        .items
        .iter()
        .filter(|d| d.code.starts_with("expectation-"))
        .map(|d| {
            (
                d.code.to_string(),
                d.message.clone(),
                d.help.clone().unwrap_or_default(),
            )
        })
        .collect()
}

const DATE: &str = "2026-11-25";

const WEB: &str = r#"
    allow "a-to-b-web" {
        from "a"
        to "b"
        service "https"
    }"#;

#[test]
fn kept_promises_of_each_kind_report_nothing() {
    let expect = r#"
    never "no-ssh" {
        from "a"
        to "b"
        service "ssh"
    }
    always "web" {
        description "the web front end must work"
        owner "apps@example.org"
        from "a"
        to "b"
        service "https"
    }
    only "a-only-web" {
        from "a"
        to "b"
        service "https"
    }"#;
    assert_eq!(findings(&policy(WEB, expect), DATE), vec![]);
}

#[test]
fn a_never_broken_by_one_rule_names_it_the_box_and_a_packet() {
    let rules = format!(
        r#"{WEB}
    allow "ssh-from-hosts" {{
        from "a-hosts"
        to "b"
        service "ssh"
    }}"#
    );
    let expect = r#"
    never "no-ssh" {
        from "a"
        to "b"
        service "ssh"
    }"#;
    let f = findings(&policy(&rules, expect), DATE);
    assert_eq!(f.len(), 1, "{f:?}");
    let (code, message, help) = &f[0];
    assert_eq!(code, "expectation-violated");
    assert!(
        message.contains("`no-ssh` (never) is broken: `ssh-from-hosts` allows"),
        "{message}"
    );
    // Both families of the class, nothing more.
    assert!(
        help.contains(
            "is exactly 10.1.1.0/24 → 10.2.0.0/16, tcp/22 and fd00:1::/120 → fd00:2::/64, tcp/22"
        ),
        "{help}"
    );
    assert!(
        help.contains("e.g. 10.1.1.1 -> 10.2.0.1 tcp/22 is allowed by `ssh-from-hosts`"),
        "{help}"
    );
}

#[test]
fn a_promise_broken_by_several_rules_names_every_one_of_them() {
    // Neither allow covers the promised-away range alone; together they
    // open all of it, and the deny between them decides none of it.
    let rules = r#"
    allow "low-ports" {
        from "a"
        to "b"
        service "tcp/1-100"
    }
    deny "mid" {
        from "a"
        to "b"
        service "tcp/50-60"
    }
    allow "high-ports" {
        from "a"
        to "b"
        service "tcp/80-200"
    }"#;
    let expect = r#"
    never "no-low-tcp" {
        from "a"
        to "b"
        service "tcp/1-200"
    }"#;
    let f = findings(&policy(rules, expect), DATE);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].1
            .contains("broken: `low-ports` and `high-ports` allow"),
        "{}",
        f[0].1
    );
    assert!(f[0].2.contains("tcp/1-200"), "{}", f[0].2);
}

#[test]
fn an_always_held_only_by_the_union_of_allows_holds_and_first_match_order_breaks_it() {
    let two_halves = r#"
    allow "first-half" {
        from "a"
        to "10.2.0.0/17"
        service "https"
    }
    allow "second-half" {
        from "a"
        to "10.2.128.0/17"
        service "https"
    }
    allow "v6" {
        from "a"
        to "fd00:2::/64"
        service "https"
    }"#;
    let expect = r#"
    always "web" {
        from "a"
        to "b"
        service "https"
    }"#;
    assert_eq!(findings(&policy(two_halves, expect), DATE), vec![]);
    // A deny above the allow decides part of the promised traffic first.
    let denied_first = format!(
        r#"
    deny "quarantine-host" {{
        from "10.1.1.7"
        to "b"
        service "any"
    }}
{WEB}"#
    );
    let f = findings(&policy(&denied_first, expect), DATE);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].1.contains("`quarantine-host` refuses"), "{}", f[0].1);
    assert!(
        f[0].2
            .contains("is exactly 10.1.1.7 → 10.2.0.0/16, tcp/443"),
        "{}",
        f[0].2
    );
}

#[test]
fn a_promise_broken_only_on_ipv6_is_found() {
    let rules = format!(
        r#"{WEB}
    allow "v6-ssh" {{
        from "fd00:1::/64"
        to "b"
        service "ssh"
    }}"#
    );
    let expect = r#"
    only "a-only-web" {
        from "a"
        to "b"
        service "https"
    }"#;
    let f = findings(&policy(&rules, expect), DATE);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].1.contains("(only) is broken: `v6-ssh` allows"),
        "{}",
        f[0].1
    );
    assert!(
        f[0].2
            .contains("is exactly fd00:1::/64 → fd00:2::/64, tcp/22"),
        "{}",
        f[0].2
    );
}

#[test]
fn only_permits_its_also_blocks_and_nothing_else() {
    let rules = format!(
        r#"{WEB}
    allow "dns-out" {{
        from "a"
        to "internet"
        service "dns"
    }}"#
    );
    let with_also = r#"
    only "a-reach" {
        from "a"
        to "b"
        service "https"
        also {
            to "internet"
            service "dns"
        }
    }"#;
    assert_eq!(findings(&policy(&rules, with_also), DATE), vec![]);
    let without = r#"
    only "a-reach" {
        from "a"
        to "b"
        service "https"
    }"#;
    let f = findings(&policy(&rules, without), DATE);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].1.contains("`dns-out` allows"), "{}", f[0].1);
}

#[test]
fn a_promise_broken_only_after_an_exception_expires() {
    // The vendor exception keeps the promise until its last day.
    let rules = r#"
    deny "b-no-internet" {
        from "b"
        to "internet"
        service "any"
        exception "vendor-telemetry" {
            from "10.2.0.5"
            to "203.0.113.50"
            service "https"
            expires "2027-01-31"
        }
    }"#;
    let expect = r#"
    always "telemetry-works" {
        from "10.2.0.5"
        to "203.0.113.50"
        service "https"
    }"#;
    let text = policy(rules, expect);
    assert_eq!(findings(&text, "2027-01-31"), vec![]);
    let f = findings(&text, "2027-02-01");
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].1.contains("`b-no-internet` refuses"), "{}", f[0].1);
}

#[test]
fn an_expired_expectation_is_not_checked_and_says_so() {
    let rules = format!(
        r#"{WEB}
    allow "ssh" {{
        from "a"
        to "b"
        service "ssh"
    }}"#
    );
    let expect = r#"
    never "no-ssh-until-migration" {
        from "a"
        to "b"
        service "ssh"
        expires "2026-06-30"
    }"#;
    let text = policy(&rules, expect);
    assert_eq!(findings(&text, "2026-06-30")[0].0, "expectation-violated");
    let after = findings(&text, "2026-07-01");
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].0, "expectation-expired");
    assert!(
        after[0]
            .1
            .contains("expired on 2026-06-30: it is no longer checked")
    );
}

/// A report of `check` (human) on a policy text.
fn check_stderr(text: &str) -> (i32, String) {
    let w = write(text);
    let out = wardwall()
        .args(["check", "--date", DATE, "--color", "never"])
        .arg(&w.path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn bad_expectations_are_errors_with_file_line_column_and_hint() {
    let cases: [(&str, &str, &str); 5] = [
        (
            "never \"x\" {\n        from \"a\"\n        to \"b\"\n    }",
            "`never` expectation has no `service`",
            "p.kdl:27:11",
        ),
        (
            "forbid \"x\" {\n        from \"a\"\n    }",
            "unknown node `forbid` in `expect`",
            "p.kdl:27:5",
        ),
        (
            "allow \"x\" {\n        from \"a\"\n    }",
            "`allow` is a rule, not an expectation",
            "p.kdl:27:5",
        ),
        (
            "never \"x\" {\n        from \"a\"\n        to \"b\"\n        service \"ssh\"\n        also {\n            to \"b\"\n            service \"ssh\"\n        }\n    }",
            "`also` belongs in an `only` expectation",
            "p.kdl:31:9",
        ),
        (
            "always \"x\" {\n        from \"a\"\n        to \"nowhere\"\n        service \"ssh\"\n    }",
            "unknown zone, class, group or advisory `nowhere`",
            "p.kdl:29:12",
        ),
    ];
    for (expect, message, at) in cases {
        let (code, stderr) = check_stderr(&policy(WEB, &format!("    {expect}")));
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains(message), "{message}:\n{stderr}");
        assert!(stderr.contains(&format!("{at}]")), "{at}:\n{stderr}");
        // (An unknown name has a hint only when a name is near it.)
        if !message.starts_with("unknown zone") {
            assert!(stderr.contains("help:"), "{stderr}");
        }
    }
    // Two expectations of one name.
    let twice = "    never \"x\" {\n        from \"a\"\n        to \"b\"\n        service \"ssh\"\n    }\n    always \"x\" {\n        from \"a\"\n        to \"b\"\n        service \"https\"\n    }";
    let (code, stderr) = check_stderr(&policy(WEB, twice));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("expectation `x` is already defined"),
        "{stderr}"
    );
}

const BROKEN: &str = r#"
    never "no-web" {
        from "a"
        to "b"
        service "https"
    }"#;

#[test]
fn check_reports_a_broken_promise_in_every_format_and_build_refuses_it() {
    let w = write(&policy(WEB, BROKEN));
    let (code, stderr) = check_stderr(&policy(WEB, BROKEN));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("wardwall::expectation-violated"),
        "{stderr}"
    );
    assert!(stderr.contains("p.kdl:28:11]"), "{stderr}");
    assert!(!stderr.contains(": ok,"), "{stderr}");
    let json = wardwall()
        .args(["check", "--date", DATE, "--format", "json"])
        .arg(&w.path)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let d = json[0]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "expectation-violated")
        .expect("the violation is in the JSON");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(28), Some(11))
    );
    assert_eq!(d["severity"], "error");
    let sarif = wardwall()
        .args(["check", "--date", DATE, "--format", "sarif"])
        .arg(&w.path)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let sarif: serde_json::Value = serde_json::from_slice(&sarif).unwrap();
    let run = &sarif["runs"][0];
    let rule = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "expectation-violated")
        .expect("the registry documents the code");
    assert!(
        rule["shortDescription"]["text"]
            .as_str()
            .unwrap()
            .contains("expectation")
    );
    assert!(
        run["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["ruleId"] == "expectation-violated" && r["level"] == "error")
    );
    let out = tempfile::tempdir().unwrap();
    wardwall()
        .args(["build", "--date", DATE, "-o"])
        .arg(out.path())
        .arg(&w.path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("expectation-violated"))
        .stderr(predicate::str::contains("not built, nothing written"));
    assert!(std::fs::read_dir(out.path()).unwrap().next().is_none());
}

#[test]
fn expectations_decide_nothing_on_the_wire() {
    // The same rules, with and without expectations, render the same files.
    let render = |text: &str| {
        let w = write(text);
        let c = wardwall::compile(&w.path, DATE.parse().unwrap()).unwrap();
        let ir = c.ir.expect("compiles");
        wardwall::registry::all_renderers()
            .iter()
            .flat_map(|r| {
                r.render(&ir, &wardwall::render::Templates::default())
                    .unwrap()
            })
            .map(|f| f.contents)
            .collect::<Vec<_>>()
    };
    let kept = r#"
    always "web" {
        from "a"
        to "b"
        service "https"
    }"#;
    assert_eq!(render(&policy(WEB, kept)), render(&policy(WEB, "")));
    assert!(
        findings(&policy(WEB, kept), DATE).is_empty(),
        "the promise is kept"
    );
}

/// The shipped hospital policy keeps its baseline; an allow that lets the
/// clinical devices out (placed above the deny that keeps them in) breaks
/// the baseline's promise, and only that one.
#[test]
fn the_hospital_keeps_the_medical_device_baseline_until_a_rule_breaks_it() {
    assert_eq!(
        findings_at(Path::new("policies/hospital.kdl"), DATE),
        vec![]
    );
    let dir = tempfile::tempdir().unwrap();
    crate::common::copy_includes(dir.path());
    let text = std::fs::read_to_string("policies/hospital.kdl").unwrap();
    let opened = text.replacen(
        "    deny \"clinical-no-internet\" {",
        "    allow \"pumps-to-cloud\" {\n        description \"vendor cloud\"\n        from \"infusion-pumps\"\n        to \"internet\"\n        service \"https\"\n    }\n\n    deny \"clinical-no-internet\" {",
        1,
    );
    assert_ne!(opened, text);
    let path = dir.path().join("hospital.kdl");
    std::fs::write(&path, opened).unwrap();
    let f = findings_at(&path, DATE);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].1
            .contains("`baseline.clinical-no-internet` (never) is broken: `pumps-to-cloud` allows"),
        "{}",
        f[0].1
    );
}
