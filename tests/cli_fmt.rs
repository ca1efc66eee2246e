//! `wardwall fmt` as a user runs it: which files it touches (the policies
//! named and what they include, nothing else), `--check` and `--diff`
//! writing nothing, exit codes, and the shipped policies being formatted.

use std::fs;
use std::path::Path;

use crate::common::{self, Ran, wardwall};

const MESSY: &str = "include \"parts/zones.kdl\"\nrules{allow \"a\" {from   \"icu\";to \"rest\"  // why\nservice https}}\n";
const TIDY: &str = "include \"parts/zones.kdl\"\nrules {\n    allow \"a\" {\n        from \"icu\"\n        to \"rest\" // why\n        service \"https\"\n    }\n}\n";
const MESSY_ZONES: &str =
    "zone icu {prefix \"10.2.0.0/16\"}\n\n\n/* the rest */ zone rest {residual #true}\n";
const TIDY_ZONES: &str = "zone \"icu\" {\n    prefix \"10.2.0.0/16\"\n}\n\n/* the rest */\nzone \"rest\" {\n    residual #true\n}\n";

/// A policy directory: `p.kdl` including `parts/zones.kdl`, both messy,
/// and `other.kdl`, messy too but included by nothing.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("parts")).unwrap();
    fs::write(dir.path().join("p.kdl"), MESSY).unwrap();
    fs::write(dir.path().join("parts/zones.kdl"), MESSY_ZONES).unwrap();
    fs::write(dir.path().join("other.kdl"), "a;b\n").unwrap();
    dir
}

fn fmt_in(dir: &Path, args: &[&str]) -> Ran {
    Ran::of(wardwall().current_dir(dir).arg("fmt").args(args))
}

/// Asserts that `output` contains `part`, showing all of it if not.
fn has(output: &str, part: &str) {
    assert!(output.contains(part), "no {part:?} in:\n{output}");
}

fn text(dir: &Path, file: &str) -> String {
    common::read(dir.join(file))
}

#[test]
fn rewrites_the_policy_and_its_includes_and_nothing_else() {
    let dir = project();
    let ran = fmt_in(dir.path(), &["p.kdl"]).expect_code(0);
    assert_eq!(text(dir.path(), "p.kdl"), TIDY);
    assert_eq!(text(dir.path(), "parts/zones.kdl"), TIDY_ZONES);
    assert_eq!(text(dir.path(), "other.kdl"), "a;b\n", "not included");
    has(&ran.stdout, "reformatted: p.kdl");
    has(&ran.stdout, "reformatted: parts/zones.kdl");
    // Formatted now: a second run changes nothing, and the policy compiles.
    let again = fmt_in(dir.path(), &["--check", "p.kdl"]).expect_code(0);
    has(&again.stderr, "0 of 2 files would be reformatted");
    common::compile_ok(&dir.path().join("p.kdl"), "2026-06-01");
}

#[test]
fn check_and_diff_list_what_would_change_exit_1_and_write_nothing() {
    let dir = project();
    let ran = fmt_in(dir.path(), &["--check", "p.kdl"]).expect_code(1);
    has(&ran.stdout, "would reformat: p.kdl");
    has(&ran.stdout, "would reformat: parts/zones.kdl");
    let diff = fmt_in(dir.path(), &["--diff", "p.kdl"]).expect_code(1);
    has(&diff.stdout, "--- p.kdl\n+++ p.kdl\n");
    has(&diff.stdout, "+        to \"rest\" // why\n");
    has(&diff.stdout, "-zone icu {prefix \"10.2.0.0/16\"}\n");
    assert_eq!(text(dir.path(), "p.kdl"), MESSY);
    assert_eq!(text(dir.path(), "parts/zones.kdl"), MESSY_ZONES);
}

#[test]
fn without_a_policy_it_formats_the_default_one() {
    let dir = project();
    fs::create_dir(dir.path().join("policies")).unwrap();
    fs::write(dir.path().join("policies/hospital.kdl"), "a;b\n").unwrap();
    fmt_in(dir.path(), &[]).expect_code(0);
    assert_eq!(text(dir.path(), "policies/hospital.kdl"), "a\nb\n");
    assert_eq!(text(dir.path(), "p.kdl"), MESSY);
}

#[test]
fn a_syntax_error_anywhere_writes_nothing_and_exits_2_with_its_place() {
    let dir = project();
    fs::write(
        dir.path().join("parts/zones.kdl"),
        "zone \"icu\" {\n    prefix 10.2.0.0/16\n}\n",
    )
    .unwrap();
    let ran = fmt_in(dir.path(), &["p.kdl"]).expect_code(2);
    has(&ran.stderr, "parts/zones.kdl:2:12");
    assert!(
        ran.stderr.contains("\"10.2.0.0/16\""),
        "the quoting hint: {}",
        ran.stderr
    );
    has(&ran.stderr, "nothing formatted");
    assert_eq!(
        text(dir.path(), "p.kdl"),
        MESSY,
        "the valid root is not written either"
    );
}

#[test]
fn an_include_outside_the_policy_directory_is_never_followed() {
    let outer = tempfile::tempdir().unwrap();
    let inner = outer.path().join("policy");
    fs::create_dir(&inner).unwrap();
    fs::write(outer.path().join("secret.kdl"), "a;b\n").unwrap();
    fs::write(
        inner.join("p.kdl"),
        "include \"../secret.kdl\"\nzone   \"x\"\n",
    )
    .unwrap();
    let ran = fmt_in(&inner, &["p.kdl"]).expect_code(2);
    has(&ran.stderr, "include-outside-tree");
    assert_eq!(common::read(outer.path().join("secret.kdl")), "a;b\n");
    assert_eq!(
        common::read(inner.join("p.kdl")),
        "include \"../secret.kdl\"\nzone   \"x\"\n"
    );
}

#[test]
fn a_missing_policy_is_a_usage_error() {
    let dir = project();
    let ran = fmt_in(dir.path(), &["nope.kdl"]).expect_code(2);
    has(&ran.stderr, "nope.kdl");
}

/// The shipped and test policies are kept formatted (`wardwall fmt`
/// leaves them as they are); only the two that are not KDL at all are
/// refused.
#[test]
fn shipped_and_test_policies_are_formatted() {
    let mut refused = Vec::new();
    let mut checked = 0;
    let mut stack = vec![Path::new("policies").to_path_buf(), "tests/policies".into()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "kdl") {
                continue;
            }
            let bytes = fs::read(&path).unwrap();
            let formatted = String::from_utf8(bytes)
                .ok()
                .and_then(|t| wardwall::source::format_text(&t).ok().map(|f| (t, f)));
            match formatted {
                Some((text, out)) => {
                    assert!(
                        text == out,
                        "{} is not formatted: run wardwall fmt",
                        path.display()
                    );
                    checked += 1;
                }
                None => refused.push(path.file_name().unwrap().to_string_lossy().into_owned()),
            }
        }
    }
    refused.sort();
    assert_eq!(refused, ["kdl-syntax.kdl", "not-utf8.kdl"]);
    assert!(checked > 50, "only {checked} policies found");
}
