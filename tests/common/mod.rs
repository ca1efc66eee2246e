//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod edge_packets;
pub mod privileged;
pub mod probes;
pub mod skip;
pub mod small_domain;

use std::path::Path;

use wardwall::ir::Ir;

/// Compiles a policy that must have no errors.
pub fn compile_ok(path: &Path, date: &str) -> Ir {
    let compiled = wardwall::compile(path, date.parse().unwrap()).expect("policy readable");
    assert!(
        !compiled.diagnostics.has_errors(),
        "{}: {:?}",
        path.display(),
        compiled.diagnostics
    );
    compiled.ir.expect("no errors, so an IR")
}

/// proptest's configuration for `cases` cases, with failures persisted next
/// to the test's source file (`tests/NAME.proptest-regressions`), where they
/// were before the tests became one binary: proptest's default
/// (`SourceParallel`) finds `tests/lib.rs` now and would look in
/// `proptest-regressions/NAME.txt` at the root instead, silently no longer
/// replaying the checked-in cases.
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..proptest::test_runner::Config::default()
    }
}
