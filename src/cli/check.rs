//! `wardwall check`: validate policies and report errors and warnings.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::args::{Common, LintArgs, TargetArgs};
use super::common::{compile_or_report, repository_root};
use super::{EXIT_FINDINGS, EXIT_OK};
use wardwall::diagnostics;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Human-readable (`human` is the old name).
    #[value(alias = "human")]
    Text,
    Json,
    /// SARIF 2.1.0, for CI annotations.
    Sarif,
}

#[derive(Args, Debug)]
pub(super) struct CheckArgs {
    /// Policy files (default: the project file's policies, else
    /// policies/hospital.kdl, relative to the working directory).
    #[arg(value_name = "POLICY")]
    policies: Vec<PathBuf>,
    /// Output format for diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Treat warnings as errors (exit 1 when there are any).
    #[arg(long)]
    deny_warnings: bool,
    #[command(flatten)]
    select: TargetArgs,
    #[command(flatten)]
    lint: LintArgs,
    /// Also hold the expectations against the rendered files in DIR (as
    /// `build -o DIR` wrote them: DIR/<target>/<policy>.<ext>), read back
    /// through each target's reader: a hand edit or a renderer bug that
    /// breaks a promise is an error (`expectation-violated-on-target`).
    #[arg(long, value_name = "DIR")]
    rendered: Option<PathBuf>,
}

pub(super) fn check(args: CheckArgs, common: &Common) -> u8 {
    let date = common.date();
    let style = common.style();
    let lint = args.lint.selection(&common.project.lint);
    let mut worst = EXIT_OK;
    let mut json = Vec::new();
    let mut checked = Vec::new();
    for settings in common.project.policies(&args.policies) {
        let path = settings.path.clone();
        let select = args.select.configured(&settings);
        let mut compiled = match compile_or_report(&path, date, &lint) {
            Ok(c) => c,
            Err(code) => {
                worst = worst.max(code);
                continue;
            }
        };
        compiled.analyze();
        compiled.check_expectations(date);
        if let Some(dir) = &args.rendered
            && let Err(e) = check_rendered(&mut compiled, dir, &select, date)
        {
            eprintln!("error: {e}");
            worst = worst.max(super::EXIT_USAGE);
            continue;
        }
        // What `build` would refuse for the targets this policy builds.
        if let Some(ir) = &compiled.ir {
            compiled.diagnostics.extend(select.validate(ir));
            compiled.diagnostics.sort();
        }
        lint.apply(&mut compiled.diagnostics.items);
        // Then an acknowledgement is judged against every finding the
        // selection reports (a lint it raised to an error is an error, which
        // nothing acknowledges); the selection then acts on the unused or
        // expired acknowledgements as on any lint.
        compiled.acknowledge(date, &lint);
        lint.apply(&mut compiled.diagnostics.items);
        let diags = &compiled.diagnostics;
        let failed = diags.has_errors() || (args.deny_warnings && diags.warning_count() > 0);
        if failed {
            worst = worst.max(EXIT_FINDINGS);
        }
        match args.format {
            Format::Text => {
                let mut err = std::io::stderr().lock();
                let _ = err
                    .write_all(diagnostics::render_all(&compiled.sources, diags, style).as_bytes());
                if !diags.has_errors() && !common.quiet {
                    let rules = compiled.ir.as_ref().map_or(0, |ir| ir.rules.len());
                    let _ = writeln!(
                        err,
                        "{}: ok, {} active {} as of {date}{}{}",
                        wardwall::source::display_path(&path),
                        rules,
                        if rules == 1 { "rule" } else { "rules" },
                        match diags.warning_count() {
                            0 => String::new(),
                            n => format!(", {n} {}", if n == 1 { "warning" } else { "warnings" }),
                        },
                        match diags.acknowledged_count() {
                            0 => String::new(),
                            n => format!(", {n} acknowledged"),
                        }
                    );
                }
            }
            Format::Json => json.push(serde_json::json!({
                "policy": path.display().to_string(),
                "ok": !failed,
                "diagnostics": diags.items.iter()
                    .map(|d| diagnostics::to_json(&compiled.sources, d))
                    .collect::<Vec<_>>(),
            })),
            Format::Sarif => {}
        }
        checked.push(compiled);
    }
    if args.format == Format::Sarif {
        let runs: Vec<_> = checked
            .iter()
            .map(|c| (&c.sources, &c.diagnostics))
            .collect();
        let root = repository_root();
        // Where each rule's help links to: the docs the reader can open
        // (a mirror, a pinned version), else the project's own.
        let docs = std::env::var("WARDWALL_DOCS_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| wardwall::sarif::DEFAULT_DOCS_URL.to_string());
        let log = wardwall::sarif::to_sarif(&runs, args.deny_warnings, root.as_deref(), &docs);
        println!(
            "{}",
            serde_json::to_string_pretty(&log).expect("JSON of plain data")
        );
    }
    if args.format == Format::Json {
        let text = serde_json::to_string_pretty(&json).expect("JSON of plain data");
        println!("{text}");
    }
    worst
}

/// The expectations held against the rendered files of each selected
/// target in `dir`; their breaks join the policy's diagnostics.
fn check_rendered(
    compiled: &mut wardwall::Compiled,
    dir: &std::path::Path,
    select: &TargetArgs,
    date: jiff::civil::Date,
) -> Result<(), String> {
    let (Some(policy), Some(ir)) = (&compiled.policy, &compiled.ir) else {
        return Ok(());
    };
    let mut found = Vec::new();
    for renderer in wardwall::registry::selected_renderers(ir, &select.targets, &select.options()) {
        let target = renderer.target();
        let reader = wardwall::registry::reader(target);
        let path = dir
            .join(target.name())
            .join(format!("{}.{}", ir.name, reader.extension()));
        let shown = wardwall::source::display_path(&path);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let breaks = wardwall::diff::expect_check::rendered_breaks(
            policy,
            ir,
            date,
            target,
            &select.options(),
            &text,
            &shown,
        )?;
        found.extend(breaks.iter().map(|b| b.diagnostic()));
    }
    compiled.diagnostics.extend(found);
    compiled.diagnostics.sort();
    Ok(())
}
