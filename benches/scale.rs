//! In-process benchmarks of every stage on synthetic policies of 1,000,
//! 10,000 and 100,000 rules (`wardwall::synth`, seed 1):
//! `cargo bench --bench scale` (add `-- check` etc. to run one bench).
//!
//! Whole-process wall time and peak memory (what a pre-commit hook sees)
//! come from `benches/run.sh`; `docs/performance.md` has the figures.

use std::path::PathBuf;
use std::sync::OnceLock;

use wardwall::diff::traffic::Context;
use wardwall::registry::all_renderers;
use wardwall::render::Templates;
use wardwall::synth::Synth;

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

/// The same allocator as the `wardwall` binary, so that figures match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

fn date() -> jiff::civil::Date {
    "2026-11-25".parse().unwrap()
}

/// The policy file of `n` rules (written once per process), and, for the
/// traffic diff, its version with 1% of the rules changed.
fn policy(n: usize, changed: bool) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap());
    let path = dir.path().join(format!(
        "synthetic-{n}{}.kdl",
        if changed { "b" } else { "" }
    ));
    if !path.exists() {
        let synth = Synth::new(n, 1);
        let synth = if changed {
            synth.changed(n / 100)
        } else {
            synth
        };
        std::fs::write(&path, synth.generate()).unwrap();
    }
    path
}

fn compiled(n: usize) -> wardwall::Compiled {
    let c = wardwall::compile(&policy(n, false), date()).unwrap();
    assert!(c.ir.is_some(), "the synthetic policy compiles");
    c
}

/// `wardwall check` as the user runs it: read, validate, lower, analyse,
/// and render the diagnostics.
#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn check(bencher: divan::Bencher, n: usize) {
    let path = policy(n, false);
    bencher.bench(|| {
        let mut c = wardwall::compile(&path, date()).unwrap();
        c.analyze();
        wardwall::diagnostics::render_all(
            &c.sources,
            &c.diagnostics,
            wardwall::diagnostics::Style::Plain,
        )
    });
}

/// The front of the pipeline alone: source → model → IR.
#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn compile(bencher: divan::Bencher, n: usize) {
    let path = policy(n, false);
    bencher.bench(|| wardwall::compile(&path, date()).unwrap());
}

/// The analysis stage alone (exact shadowing, redundancy, conflicts, lints).
#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn analysis(bencher: divan::Bencher, n: usize) {
    let c = compiled(n);
    let (policy, ir) = (c.policy.as_ref().unwrap(), c.ir.as_ref().unwrap());
    bencher.bench(|| wardwall::analysis::analyze(policy, ir));
}

/// Checking 1,000 expectations (`never`, `always`, `only` between pool
/// classes) exactly against the policy: the sweep, the index and every
/// promise's broken traffic and its message (issue 15: under 1 s on one
/// core at 10,000 rules).
#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn expectations_1000(bencher: divan::Bencher, n: usize) {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap());
    let path = dir.path().join(format!("expect-{n}.kdl"));
    if !path.exists() {
        std::fs::write(&path, Synth::new(n, 1).expectations(1_000).generate()).unwrap();
    }
    let c = wardwall::compile(&path, date()).unwrap();
    let (policy, ir) = (c.policy.as_ref().unwrap(), c.ir.as_ref().unwrap());
    assert_eq!(policy.expectations.len(), 1_000);
    bencher.bench(|| wardwall::analysis::expect::diagnostics(policy, ir, date()));
}

/// Rendering all four targets in memory from the IR (`build` minus compile
/// and file writes).
#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn render_all_targets(bencher: divan::Bencher, n: usize) {
    let c = compiled(n);
    let ir = c.ir.as_ref().unwrap();
    let templates = Templates::default();
    bencher.bench(|| {
        let mut files = Vec::new();
        for r in all_renderers() {
            files.extend(r.render(ir, &templates).expect("renders"));
        }
        files
    });
}

/// The exact traffic diff (`wardwall diff --base`'s traffic part) between
/// the policy and its version with 1% of the rules replaced, from the two
/// compiled policies.
#[divan::bench(args = SIZES, sample_count = 3, sample_size = 1)]
fn traffic_diff(bencher: divan::Bencher, n: usize) {
    let old = compiled(n);
    let new = wardwall::compile(&policy(n, true), date()).unwrap();
    let ctx = Context::from_policies(old.policy.as_ref(), new.policy.as_ref());
    let (old_ir, new_ir) = (old.ir.as_ref().unwrap(), new.ir.as_ref().unwrap());
    bencher.bench(|| wardwall::diff::traffic::traffic_diff(old_ir, new_ir, &ctx));
}
