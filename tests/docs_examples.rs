//! The example outputs docs/analysis.md shows are what the commands print
//! today: each block after an `<!-- NAME-example -->` marker is compared
//! with the command's output, so a change that alters it fails here until
//! the documentation is regenerated.

use crate::common::{self, Ran, wardwall};

/// The fenced block after `<!-- {name}-example -->` in `doc`.
fn example(doc: &str, name: &str) -> String {
    let marker = format!("<!-- {name}-example -->\n```text\n");
    let start = doc.find(&marker).unwrap_or_else(|| panic!("no {marker:?}")) + marker.len();
    let len = doc[start..].find("```\n").expect("the block ends");
    doc[start..start + len].to_string()
}

fn output(args: &[&str]) -> String {
    let (_, stdout, stderr) = Ran::of(wardwall().args(args)).parts();
    stdout + &stderr
}

#[test]
fn analysis_md_shows_what_check_and_explain_print() {
    let doc = common::read("docs/analysis.md");
    assert_eq!(
        example(&doc, "check"),
        output(&["check", "--date", "2026-11-25"]),
        "regenerate docs/analysis.md's check example"
    );
    let explain = [
        "explain",
        "--date",
        "2026-11-25",
        "10.20.8.5",
        "202.114.4.119",
        "tcp/515",
        "--target",
        "cisco",
    ];
    assert_eq!(
        example(&doc, "explain"),
        output(&explain),
        "regenerate docs/analysis.md's explain example"
    );
}
