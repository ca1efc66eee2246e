//! Tests that need root, nftables and network namespaces.
//!
//! Without them such a test prints why it is skipped and passes; with
//! `WARDWALL_REQUIRE_PRIVILEGED_TESTS=1` (set by `.ci/run`) it fails
//! instead, so CI always runs it.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `cmd arg` (e.g. `nft --version`) starts and succeeds.
pub fn runs(cmd: &str, arg: &str) -> bool {
    runs_args(cmd, &[arg])
}

fn runs_args(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether `test` can run here. Returns `false` (after the skip is reported
/// through [`super::skip::skip`]) when it should be skipped; panics when it
/// cannot run but is required to.
pub fn can_run(test: &str) -> bool {
    let mut missing = Vec::new();
    if !is_root() {
        missing.push("root");
    }
    if !runs("nft", "--version") {
        missing.push("nft (nftables)");
    }
    if !runs("ip", "-V") {
        missing.push("ip (iproute2)");
    }
    if missing.is_empty() {
        // Root in a container may still lack network namespaces.
        // Unique per call: tests of one binary probe concurrently, and a
        // shared name made one of them fail with "File exists".
        static PROBES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let probe = format!("ww{}-probe{n}", std::process::id());
        if runs_args("ip", &["netns", "add", &probe]) {
            let _ = runs_args("ip", &["netns", "del", &probe]);
            return true;
        }
        missing.push("network namespaces (`ip netns add` failed)");
    }
    // Through the one skip path: visible despite libtest's capture, listed
    // again when the run ends, a failure under the CI variable.
    super::skip::skip(&format!("{test} needs {}", missing.join(", ")));
    false
}

/// Runs a command, panicking with its output if it fails.
pub fn run(cmd: &str, args: &[&str]) -> Output {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "`{cmd} {}` failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace, deleted when dropped (also on panic). Names are
/// unique per process and call, so parallel tests never collide.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(role: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("ww{}-{n}-{role}", std::process::id());
        run("ip", &["netns", "add", &name]);
        Netns { name }
    }

    /// `ip netns exec NAME cmd args...`, returning the output (not checked).
    pub fn exec(&self, cmd: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, cmd])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run ip netns exec: {e}"))
    }

    /// `nft -c -f FILE` inside this namespace: (success, stderr).
    pub fn nft_check(&self, file: &Path) -> (bool, String) {
        let out = self.exec("nft", &["-c", "-f", &file.to_string_lossy()]);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
