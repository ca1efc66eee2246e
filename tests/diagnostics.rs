//! One policy per diagnostic kind in `tests/policies/invalid/`, named after
//! the diagnostic code it must produce. Each test asserts the code, that the
//! diagnostic points at a file, line and column, and snapshots the rendered
//! report (message, snippet, label, hint) in `snapshots/`.

use std::path::Path;

use wardwall::diagnostics::{Severity, Style, render_all};

const DATE: &str = "2026-11-25";

fn rendered(path: &Path) -> (wardwall::Compiled, String) {
    let compiled = wardwall::compile(path, DATE.parse().unwrap()).expect("readable");
    let text = render_all(&compiled.sources, &compiled.diagnostics, Style::Plain);
    (compiled, text)
}

#[test]
fn every_diagnostic_kind_names_file_line_and_column() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    insta::glob!("policies/invalid/*.kdl", |path| {
        // Relative paths keep the snapshots identical on every machine.
        let path = path.strip_prefix(root).unwrap_or(path);
        let code = path.file_stem().unwrap().to_str().unwrap();
        let (compiled, text) = rendered(path);
        let diag = compiled
            .diagnostics
            .items
            .iter()
            .find(|d| d.code == code)
            .unwrap_or_else(|| panic!("{code}.kdl did not produce `{code}`:\n{text}"));
        let label = diag.primary.as_ref().expect("diagnostic has a location");
        let location = compiled.sources.location(label.span);
        assert!(
            location.contains(&format!("{code}.kdl:")) || location.contains("include/"),
            "location {location} does not name the policy file"
        );
        assert!(text.contains(&format!("[{location}]")), "{text}");
        let warning_only = code.starts_with("rule-expire");
        assert_eq!(
            compiled.diagnostics.has_errors(),
            !warning_only,
            "{code}: unexpected severity\n{text}"
        );
        if warning_only {
            assert_eq!(diag.severity, Severity::Warning);
            assert!(compiled.ir.is_some(), "warnings alone still give an IR");
        } else {
            assert!(compiled.ir.is_none(), "errors must not give an IR");
        }
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(format!("diagnostic-{code}"), text);
        });
    });
}

#[test]
fn all_errors_are_collected_not_just_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("many.kdl");
    std::fs::write(
        &policy,
        r#"
zone "icu" {
    prefix "10.20.0.0/16"
}
class "pumps" {
    zone "icu"
    address "10.20.4.0/23"
}
service "odd" {
    tcp 0 "9-1"
}
rules {
    allow "a" {
        from "pump"
        to "hl7"
        service "htps"
    }
    allow "a" {
        from "pumps"
        to "any"
        service "https"
    }
}
"#,
    )
    .unwrap();
    let compiled = wardwall::compile(&policy, DATE.parse().unwrap()).unwrap();
    let codes: Vec<&str> = compiled.diagnostics.items.iter().map(|d| d.code).collect();
    // Source-stage errors are all reported together.
    assert_eq!(codes, ["port-out-of-range", "inverted-range"], "{codes:?}");

    // Once the source is clean, every model error is reported together.
    std::fs::write(
        &policy,
        r#"
zone "icu" {
    prefix "10.20.0.0/16"
}
class "pumps" {
    zone "icu"
    address "10.20.4.0/23"
}
rules {
    allow "a" {
        from "pump"
        to "hl7"
        service "htps"
    }
    allow "a" {
        from "pumps"
        to "any"
        service "https"
    }
}
"#,
    )
    .unwrap();
    let compiled = wardwall::compile(&policy, DATE.parse().unwrap()).unwrap();
    let mut codes: Vec<&str> = compiled.diagnostics.items.iter().map(|d| d.code).collect();
    codes.sort_unstable();
    assert_eq!(
        codes,
        [
            "duplicate-name",
            "unknown-reference",
            "unknown-reference",
            "unknown-reference"
        ]
    );
    let text = render_all(&compiled.sources, &compiled.diagnostics, Style::Plain);
    assert!(text.contains("did you mean `pumps`?"), "{text}");
    assert!(text.contains("did you mean `https`?"), "{text}");
}

#[test]
fn the_shipped_policies_are_clean() {
    for policy in ["policies/hospital.kdl", "policies/clinic.kdl"] {
        let compiled = wardwall::compile(Path::new(policy), DATE.parse().unwrap()).unwrap();
        assert!(
            !compiled.diagnostics.has_errors(),
            "{policy}: {:?}",
            compiled.diagnostics
        );
    }
    // An include fragment is clean, but not a policy on its own: checked
    // alone, its only error is that it has no zones and no rules.
    let fragment = "policies/advisories/contec-cms8000.kdl";
    let compiled = wardwall::compile(Path::new(fragment), DATE.parse().unwrap()).unwrap();
    let codes: Vec<&str> = compiled.diagnostics.items.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["empty-policy"], "{fragment}");
}

#[test]
fn a_file_name_that_is_not_a_name_needs_a_declared_policy_name() {
    let dir = tempfile::tempdir().unwrap();
    for stem in ["1st-floor", "has space", "p\nend", &"a".repeat(64)] {
        let path = dir.path().join(format!("{stem}.kdl"));
        std::fs::write(&path, "zone \"icu\" {\n    prefix \"10.20.0.0/16\"\n}\n").unwrap();
        let (compiled, text) = rendered(&path);
        let codes: Vec<&str> = compiled.diagnostics.items.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["invalid-policy-name"], "{stem:?}: {text}");
        assert!(text.contains("add `policy \"name\"`"), "{text}");
        assert!(!text.contains("p\nend"), "raw line break in: {text}");
        let location = compiled
            .sources
            .location(compiled.diagnostics.items[0].primary.as_ref().unwrap().span);
        assert!(location.ends_with(".kdl:1:1"), "{location}");
    }
    // Declared, the file name does not matter; a bad declared name is the
    // ordinary invalid-name.
    let path = dir.path().join("1st-floor.kdl");
    std::fs::write(&path, "policy \"floor-1\" {\n    deny-all #true\n}\n").unwrap();
    let (compiled, text) = rendered(&path);
    assert!(compiled.ir.is_some(), "{text}");
    assert_eq!(compiled.policy.unwrap().name, "floor-1");
    std::fs::write(&path, "policy \"floor 1\" {\n    deny-all #true\n}\n").unwrap();
    let (compiled, _) = rendered(&path);
    let codes: Vec<&str> = compiled.diagnostics.items.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["invalid-name"]);
}

#[test]
fn free_text_refuses_what_a_target_cannot_carry_at_the_character() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text.kdl");
    for (escape, code_point) in [
        ("\\t", "U+0009"),
        ("\\r", "U+000D"),
        ("\\u{1B}", "U+001B"),
        ("\\u{85}", "U+0085"),
        ("\\u{2028}", "U+2028"),
        ("\\u{2029}", "U+2029"),
        ("\\u{202E}", "U+202E"),
        ("\\u{2066}", "U+2066"),
        ("\\u{200F}", "U+200F"),
        ("\\u{61C}", "U+061C"),
        ("\\u{FDD0}", "U+FDD0"),
        ("\\u{FFFE}", "U+FFFE"),
        ("\\u{FFFF}", "U+FFFF"),
        ("\\u{1FFFE}", "U+1FFFE"),
        ("\\u{10FFFF}", "U+10FFFF"),
    ] {
        for field in ["description", "owner", "ticket"] {
            std::fs::write(
                &path,
                format!(
                    "zone \"icu\" {{\n    prefix \"10.20.0.0/16\"\n}}\nrules {{\n    deny \"r\" {{\n        from \"icu\"\n        to \"any\"\n        service \"any\"\n        {field} \"ok {escape} tail\"\n    }}\n}}\n"
                ),
            )
            .unwrap();
            let (compiled, text) = rendered(&path);
            let d = &compiled.diagnostics.items[0];
            assert_eq!(d.code, "invalid-text", "{escape} in {field}: {text}");
            assert!(d.message.contains(code_point), "{escape}: {text}");
            // The span is on the escape itself, after `"ok `.
            let location = compiled.sources.location(d.primary.as_ref().unwrap().span);
            let column = 8 + field.len() + " \"ok ".len() + 1;
            assert!(
                location.ends_with(&format!(":9:{column}")),
                "{escape}: {location}"
            );
        }
    }
    // Ordinary Unicode is free text.
    std::fs::write(
        &path,
        "policy \"t\" {\n    description \"Kardiologie – Überwachung, 心電図 ✓\"\n    deny-all #true\n}\n",
    )
    .unwrap();
    let (compiled, text) = rendered(&path);
    assert!(!compiled.diagnostics.has_errors(), "{text}");
}

#[test]
fn the_language_reference_example_is_the_shipped_clinic_policy() {
    let doc = std::fs::read_to_string("docs/policy-language.md").unwrap();
    let clinic = std::fs::read_to_string("policies/clinic.kdl").unwrap();
    assert!(
        doc.contains(&format!("```kdl\n{clinic}```")),
        "docs/policy-language.md's complete example differs from policies/clinic.kdl"
    );
}

#[test]
fn far_apart_related_places_are_listed_not_drawn() {
    // A duplicate defined 40 lines after the original: the snippet shows the
    // duplicate only, and names the original's place, instead of printing
    // every line in between.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("far.kdl");
    let filler = "// filler\n".repeat(40);
    std::fs::write(
        &policy,
        format!(
            "zone \"icu\" {{\n    prefix \"10.20.0.0/16\"\n}}\n{filler}class \"icu\" {{\n    zone \"icu\"\n    address \"10.20.1.0/24\"\n}}\n"
        ),
    )
    .unwrap();
    let (compiled, text) = rendered(&policy);
    assert_eq!(compiled.diagnostics.items[0].code, "duplicate-name");
    assert!(text.contains("far.kdl:1:6: first defined here"), "{text}");
    assert!(text.lines().count() < 20, "{text}");
}
