//! Skipping a test for a missing tool, visibly.
//!
//! libtest captures `eprintln!` of passing tests, so a skip written that way
//! is invisible and `cargo test` says "ok" for a check that never ran. A
//! skip therefore:
//! - writes its reason straight to the stderr handle (not captured), at
//!   once;
//! - is recorded, and when the test binary exits (after libtest's
//!   `test result:` line) every skip is listed again in one summary, so a
//!   skip cannot scroll by unseen;
//! - is a failure (a panic) under `WARDWALL_REQUIRE_PRIVILEGED_TESTS=1`,
//!   as `.ci/run` sets it, so CI never passes a check that did not run.
//!
//! Every skip for a missing tool (nft, root and network namespaces, php,
//! the Pythons of `WARDWALL_PYTHON` / `WARDWALL_CISCO_ACL_PYTHON`) goes
//! through [`skip`].

use std::io::Write;
use std::sync::{Mutex, Once};

pub const REQUIRE_VAR: &str = "WARDWALL_REQUIRE_PRIVILEGED_TESTS";

/// Whether skips are failures here (CI sets the variable).
pub fn required() -> bool {
    std::env::var_os(REQUIRE_VAR).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Every skip of this run, in order.
static SKIPPED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static SUMMARY: Once = Once::new();

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
    SKIPPED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(why.to_string());
    SUMMARY.call_once(|| {
        // SAFETY: registers a plain function with no preconditions; it runs
        // once at process exit, after libtest has printed its results.
        unsafe { libc::atexit(print_summary) };
    });
}

/// The skips of this run, so far.
pub fn skipped() -> Vec<String> {
    SKIPPED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

extern "C" fn print_summary() {
    let skipped = skipped();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "\nSKIPPED {} check(s) for missing tools (set {REQUIRE_VAR}=1 to make skips failures):",
        skipped.len()
    );
    for why in skipped {
        let _ = writeln!(err, "  - {why}");
    }
}

/// The Python a third-party cross-check runs with: the first of `vars`
/// that is set, else `python3`, if it can `import {module}`; otherwise
/// `None` after a visible [`skip`] that says which PyPI package(s) to
/// install.
pub fn python_with(vars: &[&str], module: &str, package: &str) -> Option<std::path::PathBuf> {
    let python = vars
        .iter()
        .find_map(std::env::var_os)
        .map_or_else(|| "python3".into(), std::path::PathBuf::from);
    let importable = std::process::Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if importable {
        return Some(python);
    }
    skip(&format!(
        "{} cannot import {module} (set {} to a Python with the PyPI package {package}; see \
         .ci/run)",
        python.display(),
        vars.join(" or ")
    ));
    None
}
