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
    for policy in [
        "policies/hospital.kdl",
        "policies/advisories/contec-cms8000.kdl",
    ] {
        let compiled = wardwall::compile(Path::new(policy), DATE.parse().unwrap()).unwrap();
        assert!(
            !compiled.diagnostics.has_errors(),
            "{policy}: {:?}",
            compiled.diagnostics
        );
    }
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
