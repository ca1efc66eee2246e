//! The synthetic benchmark policy (`wardwall::synth`): deterministic, valid,
//! and renderable by every target, through the real CLI.

use assert_cmd::Command;
use predicates::prelude::*;
use wardwall::synth::Synth;

use crate::common::wardwall;

#[test]
fn same_seed_same_text_other_seed_other_text() {
    let a = Synth::new(200, 7).generate();
    assert_eq!(a, Synth::new(200, 7).generate());
    assert_ne!(a, Synth::new(200, 8).generate());
}

#[test]
fn changed_version_differs_in_exactly_the_chosen_rules() {
    let base = Synth::new(1_000, 3);
    let changed = base.changed(10);
    assert_eq!(changed.changes.len(), 10);
    let (a, b) = (base.generate(), changed.generate());
    // Rules are five lines each; compare them rule by rule.
    let rules = |t: &str| -> Vec<String> {
        let body = &t[t.find("\nrules {\n").unwrap()..];
        body.split("\n    }\n").map(str::to_string).collect()
    };
    let (ra, rb) = (rules(&a), rules(&b));
    assert_eq!(ra.len(), rb.len());
    let differing: Vec<usize> = (0..ra.len()).filter(|&i| ra[i] != rb[i]).collect();
    assert_eq!(differing, changed.changes, "only the chosen rules change");
    assert_eq!(
        a[..a.find("\nrules {").unwrap()],
        b[..b.find("\nrules {").unwrap()]
    );
}

#[test]
fn thousand_rules_pass_check_and_build_to_every_target() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("synthetic.kdl");
    std::fs::write(&policy, Synth::new(1_000, 1).generate()).unwrap();
    wardwall()
        .args(["check", "--date", "2026-11-25", "--color", "never"])
        .arg(&policy)
        .assert()
        .success()
        .stderr(predicate::str::contains("ok, 1000 active rules"));
    let out = dir.path().join("out");
    wardwall()
        .args(["build", "--date", "2026-11-25", "--color", "never", "-o"])
        .arg(&out)
        .arg(&policy)
        .assert()
        .success();
    for target in ["nftables", "pfsense", "cisco", "panos"] {
        let files = std::fs::read_dir(out.join(target)).unwrap().count();
        assert!(files >= 1, "{target} wrote its file(s)");
    }
}

#[test]
fn generator_binary_writes_the_library_text() {
    let text = Synth::new(50, 9).changed(2).generate();
    Command::new(crate::common::WARDWALL_SYNTH)
        .args(["50", "9", "--changed", "2"])
        .assert()
        .success()
        .stdout(text);
}
