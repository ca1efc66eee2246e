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
