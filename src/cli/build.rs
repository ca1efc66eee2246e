//! `wardwall build`: render a policy to every (or the selected) target.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::args::{Common, RenderArgs, RenderFailure};
use super::common::compile_or_report;
use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use wardwall::diagnostics;
use wardwall::output::Difference;
use wardwall::render::RenderedFile;

#[derive(Args, Clone, Debug)]
pub(super) struct BuildArgs {
    /// Policy file (default: every policy of the project file, else
    /// policies/hospital.kdl, relative to the working directory).
    #[arg(value_name = "POLICY")]
    policy: Option<PathBuf>,
    /// Output directory; files go to DIR/<target>/<policy>.<ext> (default:
    /// the policy's `out` in the project file, else out/).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    out_flag: Option<PathBuf>,
    /// The output directory this build writes: `-o`, else the project
    /// file's, else out/.
    #[arg(skip)]
    out: PathBuf,
    #[command(flatten)]
    render: RenderArgs,
    /// Write nothing; exit 1 and list each file that is missing, stale
    /// (differs from what a build would write; the manifest,
    /// DIR/wardwall-manifest.json, too) or an orphan (see below).
    #[arg(long)]
    check: bool,
}

pub(super) fn build(args: BuildArgs, common: &Common) -> u8 {
    let given: Vec<PathBuf> = args.policy.iter().cloned().collect();
    let mut worst = EXIT_OK;
    for settings in common.project.policies(&given) {
        let mut one = args.clone();
        one.out = (args.out_flag.clone().or(settings.out.clone()))
            .unwrap_or_else(|| PathBuf::from("out"));
        one.render = args.render.configured(&settings);
        worst = worst.max(build_one(one, &settings.path, common));
    }
    worst
}

/// Builds one policy (as configured) into `args.out`.
fn build_one(mut args: BuildArgs, policy: &std::path::Path, common: &Common) -> u8 {
    // What is already in the output directory keeps its numbering (Cisco
    // sequence numbers), so a one-rule change is a one-rule diff.
    args.render.previous = wardwall::render::PreviousTree::Dir(args.out.clone());
    let date = common.date();
    let style = common.style();
    let mut compiled = match compile_or_report(policy, date, &common.project.lint) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // What `check` refuses, `build` refuses: a broken expectation is an
    // error, though the policy lowers.
    compiled.check_expectations(date);
    common.project.lint.apply(&mut compiled.diagnostics.items);
    if compiled.diagnostics.has_errors() {
        compiled.ir = None;
    }
    // Renderers read only the IR: free the validated model (a sixth of the
    // memory at 10,000 rules) before the largest allocations start.
    compiled.policy = None;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(
        diagnostics::render_all(&compiled.sources, &compiled.diagnostics, style).as_bytes(),
    );
    let Some(ir) = &compiled.ir else {
        let _ = writeln!(
            err,
            "{}: not built, nothing written",
            wardwall::source::display_path(policy)
        );
        return EXIT_FINDINGS;
    };
    let outcome = if args.check {
        report_stale(&args, ir, common.quiet)
    } else {
        write_streamed(&args, ir, common.quiet)
    };
    match outcome {
        Ok(code) => code,
        Err(RenderFailure::Policy(failures)) => {
            let _ = err
                .write_all(diagnostics::render_all(&compiled.sources, &failures, style).as_bytes());
            let _ = writeln!(
                err,
                "{}: not built, nothing written",
                wardwall::source::display_path(policy)
            );
            EXIT_FINDINGS
        }
        Err(RenderFailure::Io(e)) => {
            let _ = writeln!(err, "error: {e}");
            let _ = writeln!(
                err,
                "{}: not built, nothing written",
                wardwall::source::display_path(policy)
            );
            EXIT_USAGE
        }
    }
}

/// `build`: stages each target's files as soon as it is rendered (its text
/// is dropped right after) into a complete new output directory, swapped in
/// only when every target rendered and staged: all or nothing for the whole
/// directory, without holding every target in memory (`output::Staging`).
fn write_streamed(
    args: &BuildArgs,
    ir: &wardwall::ir::Ir,
    quiet: bool,
) -> Result<u8, RenderFailure> {
    let mut staging = wardwall::output::Staging::new(&args.out);
    args.render.render_each(ir, |files| {
        files.iter().try_for_each(|file| staging.add(file))
    })?;
    // Dropping `staging` on an error above removed the staging directory.
    let committed = staging
        .commit(Some((&ir.name, ir.rules.len())))
        .map_err(RenderFailure::Io)?;
    for path in committed.paths.iter().filter(|_| !quiet) {
        println!("wrote {}", path.display());
    }
    warn_if_most_rules_dropped(args, ir, committed.previous_rules);
    Ok(EXIT_OK)
}

/// A build with fewer than half the active rules of the previous build of
/// the same policy in this directory (its count is in the directory's
/// manifest) says so loudly: a truncated or half-merged policy file is
/// valid KDL and would otherwise pass unnoticed. A warning, not a failure:
/// removing most rules can be intended.
fn warn_if_most_rules_dropped(args: &BuildArgs, ir: &wardwall::ir::Ir, previous: Option<usize>) {
    let now = ir.rules.len();
    let Some(before) = previous.filter(|&before| drops_most(before, now)) else {
        return;
    };
    eprintln!(
        "warning: policy `{}` now has {now} active {} but the previous build in {} had {before}: \
         {} ({}%) dropped. If the policy file was truncated or a merge lost rules, \
         do not deploy this output.",
        ir.name,
        if now == 1 { "rule" } else { "rules" },
        args.out.display(),
        before - now,
        (before - now) * 100 / before,
    );
}

/// "Most": more than half of the previous build's rules are gone.
fn drops_most(before: usize, now: usize) -> bool {
    now < before && (before - now) * 2 > before
}

/// `build --check`: compares each target's files, and the manifest the
/// build would write, with the disk as soon as rendered, then looks for
/// orphans in the target directories it renders (`output::orphans`); lists
/// every difference by kind: missing, stale, orphan.
fn report_stale(args: &BuildArgs, ir: &wardwall::ir::Ir, quiet: bool) -> Result<u8, RenderFailure> {
    let mut differences = Vec::new();
    let mut count = 0;
    // Paths only: the manifest lists files, not contents.
    let mut rendered = Vec::new();
    args.render.render_each(ir, |files| {
        count += files.len();
        differences.extend(wardwall::output::stale(&args.out, &files)?);
        rendered.extend(files.into_iter().map(|f| RenderedFile {
            path: f.path,
            contents: String::new(),
        }));
        Ok(())
    })?;
    let old = wardwall::output::Manifest::read(&args.out);
    let previous = old.policies.get(&ir.name).map(|e| e.rules);
    let manifest = old.with(&ir.name, ir.rules.len(), &rendered).to_file();
    let io = RenderFailure::Io;
    differences.extend(wardwall::output::stale(&args.out, &[manifest]).map_err(io)?);
    let written: Vec<PathBuf> = rendered.into_iter().map(|f| f.path).collect();
    let orphans = wardwall::output::orphans(&args.out, &ir.name, &written, &old).map_err(io)?;
    differences.extend(orphans.into_iter().map(|p| (Difference::Orphan, p)));
    warn_if_most_rules_dropped(args, ir, previous);
    let mut err = std::io::stderr().lock();
    if differences.is_empty() {
        if !quiet {
            let _ = writeln!(err, "{count} rendered files are up to date");
        }
        return Ok(EXIT_OK);
    }
    for (kind, path) in &differences {
        println!("{}: {}", kind.label(), path.display());
    }
    let _ = writeln!(
        err,
        "rendered configs are out of date: {}",
        summary(&differences)
    );
    Ok(EXIT_FINDINGS)
}

/// "2 missing, 1 orphan: ..." and what to do about each kind present.
fn summary(differences: &[(Difference, PathBuf)]) -> String {
    let kinds = [Difference::Missing, Difference::Stale, Difference::Orphan];
    let counts: Vec<String> = kinds
        .iter()
        .map(|&k| (k, differences.iter().filter(|(d, _)| *d == k).count()))
        .filter(|&(_, n)| n > 0)
        .map(|(k, n)| format!("{n} {}", k.label()))
        .collect();
    let mut todo = String::new();
    if differences.iter().any(|(d, _)| *d != Difference::Orphan) {
        todo.push_str("run `wardwall build` and commit the result");
    }
    if differences.iter().any(|(d, _)| *d == Difference::Orphan) {
        if !todo.is_empty() {
            todo.push_str("; ");
        }
        // `build` keeps every file it does not write (other policies'),
        // so it cannot tell an orphan from theirs: only a person can.
        todo.push_str(
            "remove each orphan (no policy built here writes it; `build` never deletes files)",
        );
    }
    format!("{}: {todo}", counts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_means_more_than_half() {
        assert!(drops_most(10, 4));
        assert!(drops_most(1, 0));
        assert!(!drops_most(10, 5));
        assert!(!drops_most(10, 12));
        assert!(!drops_most(0, 0));
    }
}
