//! The one integration test binary (`cargo test`): each `tests/*.rs` is a
//! module of it, so the library is linked once instead of once per file.
//! Shared helpers (the CLI runner, policy paths, rendering, probes, skips)
//! live in `tests/common`.
//!
//! A new test file must be declared here: `autotests = false` in
//! Cargo.toml, so cargo no longer finds `tests/*.rs` by itself.

mod common;

mod acknowledge;
mod analysis;
mod analysis_props;
mod cisco;
mod cli_analysis;
mod cli_build;
mod cli_check;
mod cli_conventions;
mod cli_diff;
mod cli_explain_target;
mod cli_fmt;
mod cli_input_hardening;
mod cli_project;
mod conformance;
mod device_cisco;
mod device_nftables;
mod device_panos;
mod device_pfsense;
mod diagnostics;
mod docs_examples;
mod drift;
mod drift_rendered;
mod evaluator;
mod expect;
mod expect_props;
mod expect_targets;
mod fmt_props;
mod hints;
mod import;
mod kernel;
mod model;
mod nft_readback;
mod nftables;
mod output_txn;
mod panos;
mod pfsense;
mod robustness;
mod synth;
mod traffic_diff;
mod traffic_diff_props;

/// With `autotests = false` a new `tests/NAME.rs` that is not declared above
/// would silently never run: every file there must be a module here.
#[test]
fn every_test_file_is_a_module_of_this_binary() {
    let lib = std::fs::read_to_string("tests/lib.rs").unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir("tests").unwrap() {
        let path = entry.unwrap().path();
        let (Some(stem), Some("rs")) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|e| e.to_str()),
        ) else {
            continue;
        };
        if stem != "lib" && !lib.lines().any(|l| l == format!("mod {stem};")) {
            missing.push(path.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "not declared in tests/lib.rs, so never run: {missing:?}"
    );
}

/// The checked-in proptest regressions are replayed: the persistence
/// `common::proptest_config` sets finds every seed of
/// `tests/analysis_props.proptest-regressions` for that file, where
/// proptest's default would look elsewhere now that `tests/lib.rs` exists.
#[test]
fn proptest_replays_the_checked_in_regressions() {
    let file = "tests/analysis_props.proptest-regressions";
    let seeds = std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("cc "))
        .count();
    assert!(seeds > 0, "{file} has no seeds");
    let config = common::proptest_config(1);
    let persistence = config.failure_persistence.as_ref().unwrap();
    let loaded = persistence.load_persisted_failures2(Some("tests/analysis_props.rs"));
    assert_eq!(loaded.len(), seeds, "seeds of {file} loaded");
    // Why the explicit setting is needed: the default finds none of them.
    let default = proptest::test_runner::Config::default();
    let by_default = default.failure_persistence.as_ref().unwrap();
    assert!(
        by_default
            .load_persisted_failures2(Some("tests/analysis_props.rs"))
            .is_empty()
    );
}
