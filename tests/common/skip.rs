//! Skipping a test for a missing tool, visibly.
//!
//! libtest captures `eprintln!` of passing tests, so a skip written that way
//! is invisible and `cargo test` says "ok" for a check that never ran. A
//! skip goes straight to the stderr handle instead, and under
//! `WARDWALL_REQUIRE_PRIVILEGED_TESTS=1` (CI) it is a failure.

use std::io::Write;

pub const REQUIRE_VAR: &str = "WARDWALL_REQUIRE_PRIVILEGED_TESTS";

/// Whether skips are failures here (CI sets the variable).
pub fn required() -> bool {
    std::env::var_os(REQUIRE_VAR).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Says that a check is skipped because `why`; panics instead when skips
/// are failures.
pub fn skip(why: &str) {
    if required() {
        panic!("{why}, and {REQUIRE_VAR} is set: failing instead of skipping");
    }
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED: {why} (set {REQUIRE_VAR}=1 to make this a failure)"
    );
}
