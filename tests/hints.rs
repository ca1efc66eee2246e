//! The hints a new user meets first (issue 17): an unquoted date, an
//! exception missing a field it does not inherit, and `to "internet"`
//! without a residual zone.

use crate::common;

const DATE: &str = "2026-06-01";

/// The help of the one diagnostic with `code`.
fn help_of(text: &str, code: &str) -> String {
    let compiled = common::compile_text("p.kdl", text, DATE);
    let found: Vec<_> = compiled
        .diagnostics
        .items
        .iter()
        .filter(|d| d.code == code)
        .collect();
    assert_eq!(found.len(), 1, "one {code} in {:?}", compiled.diagnostics);
    found[0].help.clone().unwrap_or_default()
}

const ZONES: &str = "zone \"icu\" {\n    prefix \"10.2.0.0/16\"\n}\n";

#[test]
fn an_unquoted_date_is_told_to_be_quoted_not_called_an_address() {
    let text = format!(
        "{ZONES}rules {{\n    deny \"x\" {{\n        from \"icu\"\n        to \"any\"\n        service \"any\"\n        expires 2026-01-01\n    }}\n}}\n"
    );
    let help = help_of(&text, "kdl-syntax");
    assert!(help.starts_with("dates must be quoted"), "{help}");
    assert!(help.contains("\"2026-01-01\""), "{help}");
    // An unquoted address keeps its own hint.
    let help = help_of("zone \"a\" {\n    prefix 10.0.0.0/8\n}\n", "kdl-syntax");
    assert!(
        help.starts_with("addresses and CIDRs must be quoted"),
        "{help}"
    );
}

#[test]
fn an_exception_without_from_or_service_says_it_inherits_nothing() {
    let text = format!(
        "{ZONES}rules {{\n    deny \"x\" {{\n        from \"icu\"\n        to \"any\"\n        service \"any\"\n        exception \"e\" {{\n            to \"10.9.0.1\"\n        }}\n    }}\n}}\n"
    );
    let compiled = common::compile_text("p.kdl", &text, DATE);
    let missing: Vec<_> = compiled
        .diagnostics
        .items
        .iter()
        .filter(|d| d.code == "missing-field")
        .collect();
    let messages: Vec<&str> = missing.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "exception `e` has no `from`",
            "exception `e` has no `service`"
        ]
    );
    for d in missing {
        let help = d.help.as_deref().unwrap_or_default();
        assert!(help.contains("does not take it from its rule"), "{help}");
    }
    // A plain rule's message stays a rule's.
    let text = format!(
        "{ZONES}rules {{\n    allow \"r\" {{\n        to \"any\"\n        service \"any\"\n    }}\n}}\n"
    );
    let compiled = common::compile_text("p.kdl", &text, DATE);
    assert!(
        compiled
            .diagnostics
            .items
            .iter()
            .any(|d| d.message == "rule `r` has no `from`"),
        "{:?}",
        compiled.diagnostics
    );
}

#[test]
fn to_internet_without_a_residual_zone_hints_at_residual() {
    let rules = "rules {\n    allow \"out\" {\n        from \"icu\"\n        to \"internet\"\n        service \"https\"\n    }\n}\n";
    let help = help_of(&format!("{ZONES}{rules}"), "unknown-reference");
    assert!(help.contains("residual #true"), "{help}");
    // With a residual zone of another name, the hint names it.
    let outside = "zone \"outside\" {\n    residual #true\n}\n";
    let help = help_of(&format!("{ZONES}{outside}{rules}"), "unknown-reference");
    assert!(help.contains("is `outside` here"), "{help}");
    // A misspelt name keeps its did-you-mean.
    let internet = "zone \"internets\" {\n    residual #true\n}\n";
    let help = help_of(&format!("{ZONES}{internet}{rules}"), "unknown-reference");
    assert_eq!(help, "did you mean `internets`?");
}
