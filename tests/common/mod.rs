//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod drift;
pub mod edge_packets;
pub mod privileged;
pub mod probes;
pub mod skip;
pub mod small_domain;

use std::path::{Path, PathBuf};

use wardwall::ir::Ir;
use wardwall::render::{RenderedFile, Templates};
use wardwall::vocab::Target;

/// The trait of the registry's readers (`wardwall::registry::reader`),
/// imported here only, so that its move or rename is a one-line change.
pub use wardwall::read::Reader;
pub use wardwall::read::TargetVerdict as ReaderVerdict;

/// The `wardwall` binary cargo built for these tests.
pub const WARDWALL: &str = env!("CARGO_BIN_EXE_wardwall");
/// The `wardwall-synth` binary (synthetic policies of any size).
pub const WARDWALL_SYNTH: &str = env!("CARGO_BIN_EXE_wardwall-synth");

/// The shipped policies, relative to the crate root (the tests' working
/// directory).
pub const HOSPITAL: &str = "policies/hospital.kdl";
pub const CLINIC: &str = "policies/clinic.kdl";

/// The shipped hospital policy.
pub fn hospital() -> &'static Path {
    Path::new(HOSPITAL)
}

/// The shipped clinic policy.
pub fn clinic() -> &'static Path {
    Path::new(CLINIC)
}

/// A file of the crate by its path from the crate root, e.g.
/// `policy("tests/policies/cisco-edge.kdl")`; absolute, so it holds in a
/// command run in another directory.
pub fn policy(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Every shipped policy (`policies/*.kdl`), sorted.
pub fn shipped_policies() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("policies")
        .expect("policies/ readable")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    found.sort();
    found
}

/// The text of a policy file.
pub fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A command running the `wardwall` binary from the crate root, without
/// colour (`NO_COLOR=1`) so that output compares as plain text. Change the
/// directory or environment on the returned command as needed.
pub fn wardwall() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(WARDWALL);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1");
    cmd
}

/// What a finished command did: its exit code and its output as text.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Runs `cmd` to the end; panics if it cannot start, was killed by a
    /// signal, or wrote output that is not UTF-8.
    pub fn of(cmd: &mut assert_cmd::Command) -> Ran {
        let out = cmd.output().expect("wardwall runs");
        Ran {
            code: out
                .status
                .code()
                .unwrap_or_else(|| panic!("killed by a signal: {:?}", out.status)),
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        }
    }

    /// The triple most tests compare: (exit code, stdout, stderr).
    pub fn parts(self) -> (i32, String, String) {
        (self.code, self.stdout, self.stderr)
    }

    /// Asserts the exit code, showing all output when it differs.
    pub fn expect_code(self, code: i32) -> Ran {
        assert_eq!(
            self.code, code,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// `wardwall ARGS...` run to the end.
pub fn run<I, S>(args: I) -> Ran
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Ran::of(wardwall().args(args))
}

/// Renders `ir` for `target` with the registry's renderer (default options,
/// embedded templates); panics with the diagnostics if the target refuses.
pub fn render(ir: &Ir, target: Target) -> Vec<RenderedFile> {
    try_render(ir, target).unwrap_or_else(|d| panic!("{target} refuses the policy: {d:?}"))
}

/// Renders `ir` for `target`, or the diagnostics of the refusal.
pub fn try_render(
    ir: &Ir,
    target: Target,
) -> Result<Vec<RenderedFile>, Vec<wardwall::diagnostics::Diagnostic>> {
    wardwall::registry::renderer(target, &Default::default()).render(ir, &Templates::default())
}

/// The rendered file of `target` its reader reads (by the reader's
/// extension): (file, reader).
pub fn readable(ir: &Ir, target: Target) -> (RenderedFile, Box<dyn Reader>) {
    let reader = wardwall::registry::reader(target);
    let files = render(ir, target);
    let mut of_reader = files
        .into_iter()
        .filter(|f| f.path.extension().is_some_and(|e| e == reader.extension()));
    let file = of_reader
        .next()
        .unwrap_or_else(|| panic!("{target} rendered no .{} file", reader.extension()));
    assert!(
        of_reader.next().is_none(),
        "{target} rendered several .{} files",
        reader.extension()
    );
    (file, reader)
}

/// Compiles a policy that must have no errors (shown as `check` shows them
/// if it has).
pub fn compile_ok(path: &Path, date: &str) -> Ir {
    let compiled = wardwall::compile(path, date.parse().unwrap()).expect("policy readable");
    assert!(
        !compiled.diagnostics.has_errors(),
        "{}:\n{}",
        path.display(),
        wardwall::diagnostics::render_all(
            &compiled.sources,
            &compiled.diagnostics,
            wardwall::diagnostics::Style::Plain
        )
    );
    compiled.ir.expect("no errors, so an IR")
}

/// Compiles policy text written to a fresh directory as `file_name` (the
/// policy's name comes from it, and a temporary file's name is not a valid
/// one), whatever its diagnostics.
pub fn compile_text(file_name: &str, text: impl AsRef<[u8]>, date: &str) -> wardwall::Compiled {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name);
    std::fs::write(&path, text).unwrap();
    wardwall::compile(&path, date.parse().unwrap()).expect("the file exists")
}

/// [`compile_text`] for text that must have no errors.
pub fn compile_text_ok(file_name: &str, text: impl AsRef<[u8]>, date: &str) -> Ir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name);
    std::fs::write(&path, text).unwrap();
    compile_ok(&path, date)
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

/// Copies what the shipped hospital policy includes (`policies/advisories/`
/// and `policies/baselines/`) into `dir`, for a test that compiles a copy of
/// it elsewhere: includes stay inside the policy's directory.
pub fn copy_includes(dir: &std::path::Path) {
    for folder in ["advisories", "baselines"] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
        for entry in std::fs::read_dir(Path::new("policies").join(folder)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.join(folder).join(path.file_name().unwrap())).unwrap();
        }
    }
}

/// `text` without its `accept` blocks (each `accept "code" { ... }` on
/// lines of its own, with no block inside, as the shipped policies write
/// them).
pub fn without_accepts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        if !inside && line.trim_start().starts_with("accept \"") {
            inside = !line.contains('}');
            continue;
        }
        if inside {
            inside = !line.contains('}');
            continue;
        }
        out.push_str(line);
    }
    out
}

/// A copy of the shipped hospital policy (with its includes) in `dir`
/// without its acknowledgements: its deliberate warnings are warnings
/// again.
pub fn unacknowledged_hospital(dir: &Path) -> PathBuf {
    copy_includes(dir);
    let path = dir.join("hospital.kdl");
    let text = without_accepts(&read(HOSPITAL));
    assert!(!text.contains("accept \""), "every accept removed");
    std::fs::write(&path, text).unwrap();
    path
}
