//! Times each stage on a policy file, in one process:
//! `cargo run --release --example stage_timing -- POLICY [CHANGED_POLICY]`.
//! Prints compile (read, validate, lower), analysis, diagnostics rendering,
//! rendering of all four targets, and, given a second version of the policy,
//! the exact traffic diff between the two (what `wardwall diff --base` adds
//! to the config diff). Used by `benches/run.sh` and docs/performance.md.

use std::path::Path;
use std::time::Instant;

use wardwall::diagnostics::{Style, render_all};
use wardwall::registry::all_renderers;
use wardwall::render::Templates;

/// Peak resident memory so far (Linux `VmHWM`), in MiB; 0 elsewhere.
fn peak_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

/// The same allocator as the `wardwall` binary, so that figures match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("a policy path");
    let changed = args.next();
    let date = "2026-11-25".parse().unwrap();
    let t = Instant::now();
    let mut compiled = wardwall::compile(Path::new(&path), date).expect("readable");
    let t_compile = t.elapsed();
    let peak_compile = peak_mib();
    let t = Instant::now();
    compiled.analyze();
    let t_analysis = t.elapsed();
    let peak_analysis = peak_mib();
    let t = Instant::now();
    let text = render_all(&compiled.sources, &compiled.diagnostics, Style::Plain);
    let t_diags = t.elapsed();
    let ir = compiled.ir.as_ref().expect("the policy compiles");
    let t = Instant::now();
    let mut bytes = 0;
    let mut per_target = Vec::new();
    for r in all_renderers() {
        let t = Instant::now();
        for f in r.render(ir, &Templates::default()).expect("renders") {
            bytes += f.contents.len();
        }
        per_target.push(format!("{} {:.2?}", r.target(), t.elapsed()));
    }
    let t_render = t.elapsed();
    let peak_render = peak_mib();
    print!(
        "peak MiB after compile {peak_compile}, analysis {peak_analysis}, render {peak_render}\n\
         compile {t_compile:.2?}, analysis {t_analysis:.2?}, diagnostics {t_diags:.2?} ({} warnings, {} bytes), render {t_render:.2?} ({bytes} bytes: {})",
        compiled.diagnostics.warning_count(),
        text.len(),
        per_target.join(", ")
    );
    if let Some(changed) = changed {
        let new = wardwall::compile(Path::new(&changed), date).expect("readable");
        let ctx = wardwall::diff::traffic::Context::from_policies(
            compiled.policy.as_ref(),
            new.policy.as_ref(),
        );
        let t = Instant::now();
        let diff =
            wardwall::diff::traffic::traffic_diff(ir, new.ir.as_ref().expect("compiles"), &ctx);
        print!(
            ", traffic diff {:.2?} ({} changes)",
            t.elapsed(),
            diff.changes.len() + diff.log_changes.len()
        );
    }
    println!();
}
