//! Never panic on any input: random mutations of the shipped policy,
//! arbitrary bytes, and pathological shapes all end in diagnostics.

use proptest::prelude::*;

const DATE: &str = "2026-11-25";

fn compile_text(bytes: &[u8]) -> wardwall::Compiled {
    crate::common::compile_text("policy.kdl", bytes, DATE)
}

fn hospital() -> String {
    crate::common::read(crate::common::HOSPITAL)
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    Duplicate(usize, usize),
}

fn apply(text: &str, edits: &[Edit]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for edit in edits {
        let len = bytes.len().max(1);
        match edit {
            Edit::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(bytes.len());
                bytes.drain(at.min(bytes.len())..end);
            }
            Edit::Insert(at, s) => {
                let at = (at % len).min(bytes.len());
                bytes.splice(at..at, s.bytes());
            }
            Edit::Duplicate(at, n) => {
                let at = (at % len).min(bytes.len());
                let end = (at + n).min(bytes.len());
                let chunk: Vec<u8> = bytes[at..end].to_vec();
                bytes.splice(at..at, chunk);
            }
        }
    }
    bytes
}

fn edit() -> impl Strategy<Value = Edit> {
    let fragments = prop::sample::select(vec![
        "{",
        "}",
        "\"",
        "#true",
        "/",
        "-",
        "0",
        "65536",
        "10.0.0.0/33",
        "::",
        "\n",
        "\\",
        " any",
        "include \"hospital.kdl\"",
        "r#\"",
        "/*",
        "é",
        "\u{0}",
    ]);
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), fragments).prop_map(|(a, s)| Edit::Insert(a, s.to_string())),
        (any::<usize>(), 1usize..200).prop_map(|(a, n)| Edit::Duplicate(a, n)),
    ]
}

proptest! {
    #![proptest_config(crate::common::proptest_config(96))]

    #[test]
    fn mutated_policies_never_panic(edits in prop::collection::vec(edit(), 1..6)) {
        let compiled = compile_text(&apply(&hospital(), &edits));
        // Either a clean IR or at least one error, never both, never neither.
        prop_assert_eq!(compiled.ir.is_some(), !compiled.diagnostics.has_errors());
        let _ = wardwall::diagnostics::render_all(
            &compiled.sources, &compiled.diagnostics, wardwall::diagnostics::Style::Plain);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let compiled = compile_text(&bytes);
        let _ = wardwall::diagnostics::render_all(
            &compiled.sources, &compiled.diagnostics, wardwall::diagnostics::Style::Plain);
    }
}

#[test]
fn an_empty_policy_is_an_error_unless_it_says_deny_all() {
    // An empty or truncated file must not build a deny-everything firewall.
    for text in [
        &b""[..],
        b"// nothing\n",
        b"zone \"icu\" {\n    prefix \"10.20.0.0/16\"\n}\n",
    ] {
        let compiled = compile_text(text);
        let codes: Vec<_> = compiled.diagnostics.items.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            ["empty-policy"],
            "{:?}",
            String::from_utf8_lossy(text)
        );
        assert!(compiled.ir.is_none());
    }
    let compiled = compile_text(b"policy \"closed\" {\n    deny-all #true\n}\n");
    let ir = compiled.ir.expect("deny-all #true is valid");
    assert!(ir.rules.is_empty());
    let p = wardwall::ir::Packet::parse("10.0.0.1", "10.0.0.2", "tcp/22").unwrap();
    assert_eq!(ir.evaluate(&p).action, wardwall::ir::Action::Deny);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let text = "a {".repeat(100_000) + &"}".repeat(100_000);
    let compiled = compile_text(text.as_bytes());
    assert!(
        compiled
            .diagnostics
            .items
            .iter()
            .any(|d| d.code == "nesting-too-deep")
    );
}

#[test]
fn huge_policies_are_handled() {
    // 5,000 classes in one file: parses, validates, no quadratic blow-up
    // that would make this test noticeably slow.
    let mut text = String::from(
        "policy \"big\" {\n    deny-all #true\n}\nzone \"big\" {\n    prefix \"10.0.0.0/8\"\n}\n",
    );
    for i in 0..5_000u32 {
        let [_, _, b, c] = i.to_be_bytes();
        text.push_str(&format!(
            "class \"c{i}\" {{\n    zone \"big\"\n    address \"10.1.{b}.{c}\"\n}}\n"
        ));
    }
    let compiled = compile_text(text.as_bytes());
    assert!(
        !compiled.diagnostics.has_errors(),
        "{:?}",
        compiled.diagnostics.items.first()
    );
}

#[test]
fn binary_garbage_is_reported_as_not_utf8() {
    let compiled = compile_text(&[0xff, 0xfe, 0x00, 0x7b]);
    assert_eq!(compiled.diagnostics.items[0].code, "not-utf8");
}
