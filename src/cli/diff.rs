//! `wardwall diff`: what a policy change does to every rendered config
//! and, with `--base`, to the traffic.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use jiff::civil::Date;

use super::args::{Common, RenderArgs, stdout_colour};
use super::common::report_unreadable;
use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use wardwall::Compiled;
use wardwall::diagnostics::{self, Style};
use wardwall::render::RenderedFile;

#[derive(Args, Debug)]
pub(super) struct DiffArgs {
    /// Policy file (default: the project file's policy, else
    /// policies/hospital.kdl, relative to the working directory).
    #[arg(value_name = "POLICY")]
    policy: Option<PathBuf>,
    /// Compare with the rendered files in DIR (default: the policy's `out`
    /// in the project file, else out/).
    #[arg(long, value_name = "DIR", conflicts_with = "base")]
    against: Option<PathBuf>,
    /// Compare with the policy as it was at a git revision (e.g. origin/main).
    #[arg(long, value_name = "GITREF")]
    base: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    format: DiffFormat,
    /// Most bytes a Markdown report may have (a GitHub comment holds
    /// 65,536); what does not fit is counted and named (default: the
    /// project file's `[diff] budget`, else 65,536).
    #[arg(long, value_name = "BYTES")]
    budget: Option<usize>,
    /// Also write every full diff here: DIR/<target>/<file>.diff, and
    /// DIR/traffic.txt with every traffic change (e.g. a CI artifact).
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,
    #[command(flatten)]
    render: RenderArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DiffFormat {
    Text,
    Markdown,
    Json,
}

pub(super) fn diff(mut args: DiffArgs, common: &Common) -> u8 {
    let date = common.date();
    let style = common.style();
    let lint = &common.project.lint;
    let settings = match common.project.policy_or_report(args.policy.as_deref()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let policy = settings.path.clone();
    args.render = args.render.configured(&settings);
    let against =
        (args.against.clone().or(settings.out.clone())).unwrap_or_else(|| PathBuf::from("out"));
    let comparison = match &args.base {
        Some(spec) => match wardwall::diff::git::Comparison::resolve(Path::new("."), spec) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        },
        None => None,
    };
    let new_files: &dyn wardwall::source::Files =
        match comparison.as_ref().and_then(|c| c.new.as_ref()) {
            Some(rev) => rev,
            None => &wardwall::source::Disk,
        };
    let mut findings: Option<wardwall::diff::FindingDiff> = None;
    let mut expectations = wardwall::diff::expect_diff::ExpectDiff::default();
    let (diffs, traffic, sides) = match &comparison {
        Some(cmp) => {
            let mut old = compile_policy(&cmp.old, &policy, date, style);
            let mut new = match compile_policy(new_files, &policy, date, style) {
                Ok(c) => c,
                Err(why) => return report_not_rendered(args.format, &policy, why),
            };
            let new_ir = new.ir.as_ref().expect("compiled policies have an IR");
            // A policy file that is new on the branch: everything in it is
            // new, reviewed against nothing.
            let absent = matches!(&old, Err(NotRendered::Unreadable(e))
                if e.source.kind() == std::io::ErrorKind::NotFound);
            let nothing = absent.then(|| wardwall::ir::Ir::deny_all(new_ir));
            let old_side = match (&old, &nothing) {
                (Ok(c), _) => c.ir.as_ref().map(|ir| (ir, c.policy.as_ref())),
                (Err(_), Some(ir)) => Some((ir, None)),
                (Err(_), None) => None,
            };
            // The traffic, findings and expectations first: they need the
            // policy models, which are dropped before the renderings are
            // made (the renderers need the IRs only).
            let mut traffic = None;
            if let Some((old_ir, old_policy)) = old_side {
                let ctx = wardwall::diff::traffic::Context::from_policies(
                    old_policy,
                    new.policy.as_ref(),
                )
                .on(date);
                traffic = Some(wardwall::diff::traffic::traffic_diff(old_ir, new_ir, &ctx));
                // The `check` findings of both sides (a policy new on the
                // branch had none).
                let old_found = old_policy
                    .map(|p| wardwall::diff::findings::findings_of(p, old_ir, date, lint))
                    .unwrap_or_default();
                let new_found = new
                    .policy
                    .as_ref()
                    .map(|p| wardwall::diff::findings::findings_of(p, new_ir, date, lint))
                    .unwrap_or_default();
                findings = Some(wardwall::diff::findings::finding_diff(
                    &old_found, &new_found,
                ));
                if let Some(new_policy) = &new.policy {
                    expectations = wardwall::diff::expect_diff::expect_diff(
                        old_policy.map(|p| (p, old_ir)),
                        (new_policy, new_ir),
                        date,
                    );
                }
            }
            new.policy = None;
            if let Ok(old) = &mut old {
                old.policy = None;
            }
            let new_ir = new.ir.as_ref().expect("compiled policies have an IR");
            let old_ir = old.as_ref().ok().and_then(|c| c.ir.as_ref());
            let (diffs, old_failures, new_failures) =
                config_diff_by_target(&args.render, old_ir, new_ir);
            if let (Ok(old), Some(failures)) = (&old, &old_failures) {
                eprint!("{}", diagnostics::render_all(&old.sources, failures, style));
            }
            if let Some(failures) = &new_failures {
                eprint!("{}", diagnostics::render_all(&new.sources, failures, style));
                let report = diagnostics::render_all(&new.sources, failures, Style::Plain);
                return report_unbuildable(args.format, &report, failures.items.len());
            }
            let sides = wardwall::diff::Sides {
                old: cmp.old_label.clone(),
                new: cmp.new_label.clone(),
            };
            if args.format == DiffFormat::Text && !common.quiet {
                eprintln!("comparing {} with {}", sides.old, sides.new);
            }
            if absent {
                eprintln!(
                    "note: {} does not exist at {}: every rule is new",
                    wardwall::source::display_path(&policy),
                    sides.old
                );
            } else if old.is_err() || old_failures.is_some() {
                if let Err(NotRendered::Unreadable(e)) = &old {
                    eprintln!("error: {e}");
                }
                eprintln!(
                    "error: the policy at {} cannot be rendered (see above); nothing to compare with",
                    sides.old
                );
                return EXIT_USAGE;
            }
            let traffic = traffic.expect("compared when the base compiled or is absent");
            (diffs, Some(traffic), Some(sides))
        }
        None => {
            args.render.previous = wardwall::render::PreviousTree::Dir(against.clone());
            let new = match render_policy(new_files, &policy, date, &args.render, style) {
                Ok(r) => r,
                Err(why) => return report_not_rendered(args.format, &policy, why),
            };
            match wardwall::output::read_existing(&against, &new.files) {
                Ok(files) => (wardwall::diff::config_diff(&files, &new.files), None, None),
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_USAGE;
                }
            }
        }
    };
    let traffic_changed = traffic.as_ref().is_some_and(|t| !t.is_empty());
    if let Some(dir) = &args.output_dir
        && let Err(e) = write_full_diffs(dir, &diffs, traffic.as_ref())
    {
        eprintln!(
            "error: cannot write the full diffs to {}: {e}",
            dir.display()
        );
        return EXIT_USAGE;
    }
    let budget = wardwall::diff::Budget {
        max: args
            .budget
            .or(common.project.budget)
            .unwrap_or(wardwall::diff::DEFAULT_BUDGET),
        full_diffs: args.output_dir.as_ref().map(|d| d.display().to_string()),
    };
    let text = match args.format {
        DiffFormat::Text => {
            let colour = stdout_colour(common);
            // Broken promises first: they outweigh every other change.
            let mut text = wardwall::diff::expect_diff::to_text(&expectations);
            if let Some(t) = &traffic
                && (traffic_changed || !diffs.is_empty())
            {
                text.push_str(&wardwall::diff::traffic::to_text(t, colour));
                if !diffs.is_empty() {
                    text.push('\n');
                }
            }
            if let Some(f) = findings.as_ref().filter(|f| !f.is_empty()) {
                text.push_str(&wardwall::diff::findings::to_text(f));
                text.push('\n');
            }
            text.push_str(&wardwall::diff::to_text(&diffs, colour));
            text
        }
        DiffFormat::Markdown => with_expectations_first(
            wardwall::diff::to_markdown_review(
                &diffs,
                traffic.as_ref(),
                findings.as_ref(),
                sides.as_ref(),
                &budget,
            ),
            &expectations,
        ),
        DiffFormat::Json => {
            let mut text = serde_json::to_string_pretty(&serde_json::json!({
                "compared": sides,
                "files": diffs,
                "traffic": traffic,
                "findings": findings,
                "expectations": expectations,
            }))
            .expect("JSON of plain data");
            text.push('\n');
            text
        }
    };
    print!("{text}");
    if traffic.is_none() && args.format == DiffFormat::Text && !common.quiet {
        eprintln!(
            "note: no traffic diff when comparing with rendered files; use --base GITREF for one"
        );
    }
    if diffs.is_empty() && !traffic_changed && expectations.broken.is_empty() {
        if args.format == DiffFormat::Text && !common.quiet {
            eprintln!("no differences");
        }
        EXIT_OK
    } else {
        EXIT_FINDINGS
    }
}

/// The review with the expectations section right after its heading and
/// the line that says what was compared.
fn with_expectations_first(review: String, d: &wardwall::diff::expect_diff::ExpectDiff) -> String {
    let section = wardwall::diff::expect_diff::to_markdown(d);
    if section.is_empty() {
        return review;
    }
    let at = review
        .match_indices("\n\n")
        .nth(1)
        .map_or(review.len(), |(i, _)| i + 2);
    format!("{}{section}{}", &review[..at], &review[at..])
}

/// `diff --output-dir`: every full diff, for when the review comment had
/// to leave some out.
fn write_full_diffs(
    dir: &Path,
    diffs: &[wardwall::diff::FileDiff],
    traffic: Option<&wardwall::diff::TrafficDiff>,
) -> std::io::Result<()> {
    for d in diffs {
        let mut name = d.path.clone().into_os_string();
        name.push(".diff");
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, &d.unified)?;
    }
    std::fs::create_dir_all(dir)?;
    if let Some(t) = traffic {
        std::fs::write(
            dir.join("traffic.txt"),
            wardwall::diff::traffic::to_text(t, false),
        )?;
    }
    Ok(())
}

/// `diff` of a policy with errors: exit 1 like any finding, and a review
/// comment (Markdown) or document (JSON) that shows the errors, so a
/// pipeline that posts the output on exit 1 posts the reason, never an
/// empty review. Text output already has the report on stderr.
fn report_unbuildable(format: DiffFormat, report: &str, errors: usize) -> u8 {
    match format {
        DiffFormat::Text => {}
        DiffFormat::Markdown => print!("{}", wardwall::diff::errors_to_markdown(report, errors)),
        DiffFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "errors": errors,
                "report": report,
                "files": [],
                "traffic": null,
            }))
            .expect("JSON of plain data")
        ),
    }
    EXIT_FINDINGS
}

/// The exit status, and the report, for a branch policy that was not
/// rendered: unreadable (a usage error, with the missing-policy hint) or
/// with errors (shown in the review's format).
fn report_not_rendered(format: DiffFormat, policy: &Path, why: NotRendered) -> u8 {
    match why {
        NotRendered::Errors { report, errors } => report_unbuildable(format, &report, errors),
        NotRendered::Unreadable(e) => {
            report_unreadable(policy, &e);
            EXIT_USAGE
        }
    }
}

/// A policy rendered for `--against DIR`.
struct Rendered {
    /// Kept for its lifetime only: the files are all that is compared.
    _compiled: Compiled,
    files: Vec<RenderedFile>,
}

/// Why a policy was not rendered (the report is already on stderr).
enum NotRendered {
    /// The root file could not be read (not yet reported: at the base, a
    /// missing file is a policy new on the branch, not an error).
    Unreadable(wardwall::source::ReadError),
    /// Policy or target errors: the plain report and how many errors.
    Errors { report: String, errors: usize },
}

/// Compiles a policy read through `files`, keeping only the errors (a diff
/// is about changes, not lint: `check` shows the warnings); prints them to
/// stderr when there is no IR.
fn compile_policy(
    files: &dyn wardwall::source::Files,
    policy: &Path,
    date: Date,
    style: Style,
) -> Result<Compiled, NotRendered> {
    let mut compiled =
        wardwall::compile_from(files, policy, date).map_err(NotRendered::Unreadable)?;
    compiled.diagnostics.items.retain(|d| d.is_error());
    if compiled.ir.is_none() {
        eprint!(
            "{}",
            diagnostics::render_all(&compiled.sources, &compiled.diagnostics, style)
        );
        return Err(NotRendered::Errors {
            report: diagnostics::render_all(&compiled.sources, &compiled.diagnostics, Style::Plain),
            errors: compiled.diagnostics.items.len(),
        });
    }
    Ok(compiled)
}

/// Compiles and renders every selected target of a policy read through
/// `files`; prints diagnostics to stderr on failure.
fn render_policy(
    files: &dyn wardwall::source::Files,
    policy: &Path,
    date: Date,
    render: &RenderArgs,
    style: Style,
) -> Result<Rendered, NotRendered> {
    let compiled = compile_policy(files, policy, date, style)?;
    let ir = compiled.ir.as_ref().expect("compiled policies have an IR");
    match render.render(ir) {
        Ok(files) => Ok(Rendered {
            _compiled: compiled,
            files,
        }),
        Err(failures) => {
            eprint!(
                "{}",
                diagnostics::render_all(&compiled.sources, &failures, style)
            );
            Err(NotRendered::Errors {
                report: diagnostics::render_all(&compiled.sources, &failures, Style::Plain),
                errors: failures.items.len(),
            })
        }
    }
}

/// The config diff of `diff --base`, one target at a time: the base's
/// rendering of a target (`old`: `None` when the base has no policy or did
/// not compile), then the branch's, which keeps the base's numbering (Cisco
/// sequence numbers, as `build` keeps what is in the output directory, so
/// the diff shows what `build` would change), then their diff; both
/// renderings are dropped before the next target, so at most one target's
/// rendering, the base's packed one and their line hashes are in memory at
/// once. Returns the changed files sorted by path, and each side's render
/// failures (every target's, collected; once the branch fails nothing more
/// is compared).
fn config_diff_by_target(
    render: &RenderArgs,
    old: Option<&wardwall::ir::Ir>,
    new: &wardwall::ir::Ir,
) -> (
    Vec<wardwall::diff::FileDiff>,
    Option<diagnostics::Diagnostics>,
    Option<diagnostics::Diagnostics>,
) {
    let mut diffs = Vec::new();
    let mut old_failures = diagnostics::Diagnostics::default();
    let mut new_failures = diagnostics::Diagnostics::default();
    let old_renderers = old.map(|ir| render.renderers(ir)).unwrap_or_default();
    let new_renderers = render.renderers(new);
    // One target's files, or none when it failed (its failures collected).
    let render_one = |renderer: &dyn wardwall::render::Renderer,
                      ir: &wardwall::ir::Ir,
                      previous: wardwall::render::PreviousTree,
                      failures: &mut diagnostics::Diagnostics| {
        render.select.warn_weakened(renderer);
        renderer
            .render(ir, &render.templates(previous))
            .unwrap_or_else(|diags| {
                failures.extend(diags);
                Vec::new()
            })
    };
    for target in wardwall::vocab::Target::ALL {
        // The base's rendering is packed as soon as it is made, so the
        // branch's is made and compared beside a tenth of it.
        let old_files: Vec<wardwall::render::PackedFile> =
            match (old, old_renderers.iter().find(|r| r.target() == target)) {
                (Some(ir), Some(r)) => {
                    render_one(r.as_ref(), ir, Default::default(), &mut old_failures)
                        .into_iter()
                        .map(wardwall::render::PackedFile::from)
                        .collect()
                }
                _ => Vec::new(),
            };
        let old_files = std::sync::Arc::new(old_files);
        let new_files = match new_renderers.iter().find(|r| r.target() == target) {
            Some(r) => {
                let previous = if old.is_some() && old_failures.items.is_empty() {
                    wardwall::render::PreviousTree::Packed(old_files.clone())
                } else {
                    wardwall::render::PreviousTree::None
                };
                render_one(r.as_ref(), new, previous, &mut new_failures)
            }
            None => Vec::new(),
        };
        if new_failures.items.is_empty() {
            diffs.extend(wardwall::diff::config_diff_packed(&old_files, new_files));
        }
    }
    diffs.sort_by(|a, b| a.path.cmp(&b.path));
    let failed = |mut d: diagnostics::Diagnostics| {
        (!d.items.is_empty()).then(|| {
            d.sort();
            d
        })
    };
    (diffs, failed(old_failures), failed(new_failures))
}
