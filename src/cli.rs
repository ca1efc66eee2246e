//! The command line: `wardwall check | build | diff | explain`.
//!
//! Every command shares option names and exit codes:
//! 0 ok, 1 findings or differences (policy errors, stale outputs, ...),
//! 2 usage or I/O errors.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use jiff::civil::Date;

use crate::analysis;
use crate::diagnostics::{self, Style};
use crate::ir::Packet;
use crate::render::RenderedFile;
use crate::{Compiled, DEFAULT_POLICY};

/// Exit code: everything is fine.
pub const EXIT_OK: u8 = 0;
/// Exit code: the policy has errors, or outputs differ / are stale.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: bad usage or an I/O error.
pub const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "wardwall",
    version,
    about = "Compile one segmentation policy to nftables, pfSense, Cisco IOS and PAN-OS",
    long_about = None,
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate policies and report errors and warnings.
    Check(CheckArgs),
    /// Render a policy to every (or the selected) target: one file per target.
    Build(BuildArgs),
    /// Show what a policy change does to every rendered config and, with
    /// --base, to the traffic (which packets change verdict).
    Diff(DiffArgs),
    /// Show which rule decides a packet.
    Explain(ExplainArgs),
}

/// Options every command shares.
#[derive(Args, Debug)]
struct Common {
    /// Evaluation date for rule expiry (YYYY-MM-DD); defaults to today in
    /// UTC (never the local time zone, so every machine agrees).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    date: Option<Date>,
    /// When to colour output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    /// SARIF 2.1.0, for CI annotations.
    Sarif,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Policy files (default: the shipped example policy).
    #[arg(value_name = "POLICY")]
    policies: Vec<PathBuf>,
    #[command(flatten)]
    common: Common,
    /// Output format for diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Treat warnings as errors (exit 1 when there are any).
    #[arg(long)]
    deny_warnings: bool,
}

#[derive(Args, Debug)]
struct BuildArgs {
    /// Policy file (default: the shipped example policy).
    #[arg(value_name = "POLICY")]
    policy: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
    /// Output directory; files go to DIR/<target>/<policy>.<ext>.
    #[arg(short = 'o', long = "out", value_name = "DIR", default_value = "out")]
    out: PathBuf,
    #[command(flatten)]
    render: RenderArgs,
    /// Write nothing; exit 1 if any file on disk (or the manifest,
    /// DIR/wardwall-manifest.json) differs from what a build would write.
    #[arg(long)]
    check: bool,
}

/// What to render and how: shared by `build` and `diff`.
#[derive(Args, Debug)]
struct RenderArgs {
    /// Target to render (repeatable; default: every target).
    #[arg(short = 't', long = "target", value_name = "TARGET", value_parser = parse_target)]
    targets: Vec<String>,
    /// Directory of template overrides (DIR/<target>/<file>).
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
    /// nftables: also match iifname/oifname of the zones' `nftables`
    /// interface bindings on allow rules (anti-spoofing).
    #[arg(long)]
    nft_match_interfaces: bool,
}

/// Why rendering stopped: a target could not express the policy (every
/// target's failures, collected), or the sink could not take a target's files.
enum RenderFailure {
    Policy(diagnostics::Diagnostics),
    Io(std::io::Error),
}

impl RenderArgs {
    /// Renders every selected target in memory; any failure is returned as
    /// diagnostics and nothing is produced.
    fn render(&self, ir: &crate::ir::Ir) -> Result<Vec<RenderedFile>, diagnostics::Diagnostics> {
        let mut files = Vec::new();
        let result = self.render_each(ir, |mut f| {
            files.append(&mut f);
            Ok(())
        });
        match result {
            Ok(()) => Ok(files),
            Err(RenderFailure::Policy(failures)) => Err(failures),
            Err(RenderFailure::Io(_)) => unreachable!("collecting in memory cannot fail"),
        }
    }

    /// Renders the selected targets one at a time and hands each target's
    /// files to `sink` as soon as they are rendered, so only one target's
    /// text is in memory at once. After a target fails, the others are
    /// still rendered (every failure is reported) but no longer handed over;
    /// an error from `sink` stops at once.
    fn render_each(
        &self,
        ir: &crate::ir::Ir,
        mut sink: impl FnMut(Vec<RenderedFile>) -> std::io::Result<()>,
    ) -> Result<(), RenderFailure> {
        use crate::render::{RenderOptions, Templates, renderers};
        let options = RenderOptions {
            nft_match_interfaces: self.nft_match_interfaces,
        };
        let templates = Templates {
            override_dir: self.templates.clone(),
        };
        let mut failures = diagnostics::Diagnostics::default();
        // `-t` wins; otherwise the policy's own `targets`; otherwise all.
        let selected = if self.targets.is_empty() {
            &ir.targets
        } else {
            &self.targets
        };
        for renderer in renderers(&options) {
            if !selected.is_empty() && !selected.iter().any(|t| t == renderer.target()) {
                continue;
            }
            match renderer.render(ir, &templates) {
                Ok(files) if failures.items.is_empty() => {
                    sink(files).map_err(RenderFailure::Io)?;
                }
                Ok(_) => {}
                Err(diags) => failures.extend(diags),
            }
        }
        if failures.items.is_empty() {
            Ok(())
        } else {
            failures.sort();
            Err(RenderFailure::Policy(failures))
        }
    }
}

#[derive(Args, Debug)]
struct DiffArgs {
    /// Policy file (default: the shipped example policy).
    #[arg(value_name = "POLICY")]
    policy: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
    /// Compare with the rendered files in DIR (default: out/).
    #[arg(long, value_name = "DIR", conflicts_with = "base")]
    against: Option<PathBuf>,
    /// Compare with the policy as it was at a git revision (e.g. origin/main).
    #[arg(long, value_name = "GITREF")]
    base: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    format: DiffFormat,
    #[command(flatten)]
    render: RenderArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DiffFormat {
    Text,
    Markdown,
    Json,
}

fn parse_target(s: &str) -> Result<String, String> {
    let names: Vec<&str> = crate::render::all_renderers()
        .iter()
        .map(|r| r.target())
        .collect();
    if names.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "unknown target `{s}` (known: {})",
            names.join(", ")
        ))
    }
}

#[derive(Args, Debug)]
struct ExplainArgs {
    /// `[POLICY] SRC DST PROTO`, where PROTO is tcp/PORT, udp/PORT,
    /// icmp/TYPE (number or name, e.g. echo-request) or a protocol name.
    #[arg(value_name = "ARGS", num_args = 3..=4, required = true)]
    args: Vec<String>,
    /// Answer from this target's rendered output, parsed back, instead of
    /// from the policy.
    #[arg(long, value_name = "TARGET", value_parser = clap::builder::PossibleValuesParser::new(crate::source::TARGETS))]
    target: Option<String>,
    /// With --target: read the target's rendered file from DIR
    /// (DIR/<target>/<policy>.<ext>, as `build -o DIR` writes it, e.g. a
    /// copy of the deployed file) instead of rendering the policy now.
    #[arg(long, value_name = "DIR", requires = "target")]
    against: Option<PathBuf>,
    /// With --target: directory of template overrides, as for `build`.
    #[arg(long, value_name = "DIR", requires = "target")]
    templates: Option<PathBuf>,
    /// With --target nftables: render with interface matching, as for `build`.
    #[arg(long, requires = "target")]
    nft_match_interfaces: bool,
    #[command(flatten)]
    common: Common,
}

fn parse_date(s: &str) -> Result<Date, String> {
    if s.len() != 10 {
        return Err(format!("`{s}` is not a date (YYYY-MM-DD)"));
    }
    s.parse::<Date>()
        .map_err(|e| format!("`{s}` is not a date (YYYY-MM-DD): {e}"))
}

/// The UTC calendar date of `instant`: the default evaluation date. Not the
/// local date, which differs between CI runners in different time zones
/// and would make them disagree about which rules have expired.
fn utc_date(instant: jiff::Timestamp) -> Date {
    instant.to_zoned_datetime(jiff::tz::TimeZone::UTC).date()
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout with exit 0, errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    let code = match cli.command {
        Command::Check(args) => check(args),
        Command::Build(args) => build(args),
        Command::Diff(args) => diff(args),
        Command::Explain(args) => explain(args),
    };
    ExitCode::from(code)
}

impl Common {
    fn date(&self) -> Date {
        self.date
            .unwrap_or_else(|| utc_date(jiff::Timestamp::now()))
    }

    fn style(&self) -> Style {
        let colour = match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stderr().is_terminal()
            }
        };
        if colour { Style::Colour } else { Style::Plain }
    }
}

/// Compiles one policy, printing an I/O error (exit 2) if it cannot be read.
fn compile_or_report(path: &Path, date: Date) -> Result<Compiled, u8> {
    crate::compile(path, date).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_USAGE
    })
}

fn default_policies(given: Vec<PathBuf>) -> Vec<PathBuf> {
    if given.is_empty() {
        vec![PathBuf::from(DEFAULT_POLICY)]
    } else {
        given
    }
}

fn check(args: CheckArgs) -> u8 {
    let date = args.common.date();
    let style = args.common.style();
    let mut worst = EXIT_OK;
    let mut json = Vec::new();
    let mut checked = Vec::new();
    for path in default_policies(args.policies) {
        let mut compiled = match compile_or_report(&path, date) {
            Ok(c) => c,
            Err(code) => {
                worst = worst.max(code);
                continue;
            }
        };
        compiled.analyze();
        let diags = &compiled.diagnostics;
        let failed = diags.has_errors() || (args.deny_warnings && !diags.items.is_empty());
        if failed {
            worst = worst.max(EXIT_FINDINGS);
        }
        match args.format {
            Format::Human => {
                let mut err = std::io::stderr().lock();
                let _ = err
                    .write_all(diagnostics::render_all(&compiled.sources, diags, style).as_bytes());
                if !diags.has_errors() {
                    let rules = compiled.ir.as_ref().map_or(0, |ir| ir.rules.len());
                    let _ = writeln!(
                        err,
                        "{}: ok, {} active {} as of {date}{}",
                        path.display(),
                        rules,
                        if rules == 1 { "rule" } else { "rules" },
                        match diags.warning_count() {
                            0 => String::new(),
                            n => format!(", {n} {}", if n == 1 { "warning" } else { "warnings" }),
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
        let log = crate::sarif::to_sarif(&runs, args.deny_warnings);
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

fn build(args: BuildArgs) -> u8 {
    let date = args.common.date();
    let style = args.common.style();
    let policy = args
        .policy
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_POLICY));
    let mut compiled = match compile_or_report(&policy, date) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Renderers read only the IR: free the validated model (a sixth of the
    // memory at 10,000 rules) before the largest allocations start.
    compiled.policy = None;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(
        diagnostics::render_all(&compiled.sources, &compiled.diagnostics, style).as_bytes(),
    );
    let Some(ir) = &compiled.ir else {
        let _ = writeln!(err, "{}: not built, nothing written", policy.display());
        return EXIT_FINDINGS;
    };
    let outcome = if args.check {
        report_stale(&args, ir)
    } else {
        write_streamed(&args, ir)
    };
    match outcome {
        Ok(code) => code,
        Err(RenderFailure::Policy(failures)) => {
            let _ = err
                .write_all(diagnostics::render_all(&compiled.sources, &failures, style).as_bytes());
            let _ = writeln!(err, "{}: not built, nothing written", policy.display());
            EXIT_FINDINGS
        }
        Err(RenderFailure::Io(e)) => {
            let _ = writeln!(err, "error: {e}");
            let _ = writeln!(err, "{}: not built, nothing written", policy.display());
            EXIT_USAGE
        }
    }
}

/// `build`: stages each target's files as soon as it is rendered (its text
/// is dropped right after) into a complete new output directory, swapped in
/// only when every target rendered and staged: all or nothing for the whole
/// directory, without holding every target in memory (`output::Staging`).
fn write_streamed(args: &BuildArgs, ir: &crate::ir::Ir) -> Result<u8, RenderFailure> {
    let mut staging = crate::output::Staging::new(&args.out);
    args.render.render_each(ir, |files| {
        files.iter().try_for_each(|file| staging.add(file))
    })?;
    // Dropping `staging` on an error above removed the staging directory.
    let committed = staging
        .commit(Some((&ir.name, ir.rules.len())))
        .map_err(RenderFailure::Io)?;
    for path in &committed.paths {
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
fn warn_if_most_rules_dropped(args: &BuildArgs, ir: &crate::ir::Ir, previous: Option<usize>) {
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
/// build would write, with the disk as soon as rendered; lists the stale ones.
fn report_stale(args: &BuildArgs, ir: &crate::ir::Ir) -> Result<u8, RenderFailure> {
    let mut stale = Vec::new();
    let mut count = 0;
    // Paths only: the manifest lists files, not contents.
    let mut rendered = Vec::new();
    args.render.render_each(ir, |files| {
        count += files.len();
        stale.extend(crate::output::stale(&args.out, &files)?);
        rendered.extend(files.into_iter().map(|f| RenderedFile {
            path: f.path,
            contents: String::new(),
        }));
        Ok(())
    })?;
    let old = crate::output::Manifest::read(&args.out);
    let previous = old.policies.get(&ir.name).map(|e| e.rules);
    let manifest = old.with(&ir.name, ir.rules.len(), &rendered).to_file();
    stale.extend(crate::output::stale(&args.out, &[manifest]).map_err(RenderFailure::Io)?);
    warn_if_most_rules_dropped(args, ir, previous);
    let mut err = std::io::stderr().lock();
    if stale.is_empty() {
        let _ = writeln!(err, "{count} rendered files are up to date");
        return Ok(EXIT_OK);
    }
    for path in &stale {
        println!("stale: {}", path.display());
    }
    let _ = writeln!(
        err,
        "rendered configs are stale: run `wardwall build` and commit the result"
    );
    Ok(EXIT_FINDINGS)
}

fn diff(args: DiffArgs) -> u8 {
    let date = args.common.date();
    let style = args.common.style();
    let policy = args
        .policy
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_POLICY));
    let new = match render_policy(&crate::source::Disk, &policy, date, &args.render, style) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let (old_files, traffic) = match &args.base {
        Some(rev) => {
            let repo = match crate::diff::git::GitRevision::open(Path::new("."), rev) {
                Ok(repo) => repo,
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_USAGE;
                }
            };
            let old = match render_policy(&repo, &policy, date, &args.render, style) {
                Ok(r) => r,
                Err(_) => {
                    eprintln!(
                        "error: the policy at {rev} cannot be rendered (see above); nothing to compare with"
                    );
                    return EXIT_USAGE;
                }
            };
            let ctx = crate::diff::traffic::Context::from_policies(
                old.compiled.policy.as_ref(),
                new.compiled.policy.as_ref(),
            );
            let traffic = crate::diff::traffic::traffic_diff(old.ir(), new.ir(), &ctx);
            (old.files, Some(traffic))
        }
        None => {
            let dir = args.against.clone().unwrap_or_else(|| PathBuf::from("out"));
            match crate::output::read_existing(&dir, &new.files) {
                Ok(files) => (files, None),
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_USAGE;
                }
            }
        }
    };
    let diffs = crate::diff::config_diff(&old_files, &new.files);
    let traffic_changed = traffic.as_ref().is_some_and(|t| !t.is_empty());
    let text = match args.format {
        DiffFormat::Text => {
            let colour = stdout_colour(&args.common);
            let mut text = String::new();
            if let Some(t) = &traffic
                && (traffic_changed || !diffs.is_empty())
            {
                text.push_str(&crate::diff::traffic::to_text(t, colour));
                if !diffs.is_empty() {
                    text.push('\n');
                }
            }
            text.push_str(&crate::diff::to_text(&diffs, colour));
            text
        }
        DiffFormat::Markdown => crate::diff::to_markdown(&diffs, traffic.as_ref()),
        DiffFormat::Json => {
            let mut text = serde_json::to_string_pretty(
                &serde_json::json!({ "files": diffs, "traffic": traffic }),
            )
            .expect("JSON of plain data");
            text.push('\n');
            text
        }
    };
    print!("{text}");
    if traffic.is_none() && args.format == DiffFormat::Text {
        eprintln!(
            "note: no traffic diff when comparing with rendered files; use --base GITREF for one"
        );
    }
    if diffs.is_empty() && !traffic_changed {
        if args.format == DiffFormat::Text {
            eprintln!("no differences");
        }
        EXIT_OK
    } else {
        EXIT_FINDINGS
    }
}

/// A compiled and rendered policy.
struct Rendered {
    compiled: Compiled,
    files: Vec<RenderedFile>,
}

impl Rendered {
    fn ir(&self) -> &crate::ir::Ir {
        self.compiled
            .ir
            .as_ref()
            .expect("rendered policies have an IR")
    }
}

/// Compiles and renders a policy read through `files`; prints diagnostics
/// and returns the exit code on failure.
fn render_policy(
    files: &dyn crate::source::Files,
    policy: &Path,
    date: Date,
    render: &RenderArgs,
    style: Style,
) -> Result<Rendered, u8> {
    let mut compiled = crate::compile_from(files, policy, date).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_USAGE
    })?;
    // A diff is about changes, not lint: show errors only (`check` shows
    // the warnings).
    compiled.diagnostics.items.retain(|d| d.is_error());
    eprint!(
        "{}",
        diagnostics::render_all(&compiled.sources, &compiled.diagnostics, style)
    );
    let Some(ir) = &compiled.ir else {
        return Err(EXIT_FINDINGS);
    };
    let files = render.render(ir).map_err(|failures| {
        eprint!(
            "{}",
            diagnostics::render_all(&compiled.sources, &failures, style)
        );
        EXIT_FINDINGS
    })?;
    Ok(Rendered { compiled, files })
}

/// Colour for standard output: only on a terminal, never with NO_COLOR.
fn stdout_colour(common: &Common) -> bool {
    match common.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

fn explain(args: ExplainArgs) -> u8 {
    let (policy, packet_args) = match args.args.as_slice() {
        [p, rest @ ..] if rest.len() == 3 => (PathBuf::from(p), rest),
        rest => (PathBuf::from(DEFAULT_POLICY), rest),
    };
    let packet = match Packet::parse(&packet_args[0], &packet_args[1], &packet_args[2]) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let date = args.common.date();
    let compiled = match compile_or_report(&policy, date) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(ir) = &compiled.ir else {
        eprint!(
            "{}",
            diagnostics::render_all(
                &compiled.sources,
                &compiled.diagnostics,
                args.common.style()
            )
        );
        return EXIT_FINDINGS;
    };
    print!(
        "{}",
        analysis::explain::explain(ir, compiled.policy.as_ref(), &packet)
            .render(ir, &compiled.sources)
    );
    match &args.target {
        Some(target) => explain_target(&args, target, ir, &compiled, &packet),
        None => EXIT_OK,
    }
}

/// The `--target` half of `explain`: the target's answer from its rendered
/// output parsed back (rendered now, or read from `--against DIR`), and
/// whether it agrees with the policy.
fn explain_target(
    args: &ExplainArgs,
    target: &str,
    ir: &crate::ir::Ir,
    compiled: &Compiled,
    packet: &Packet,
) -> u8 {
    let Some(evaluator) = analysis::explain::target_evaluator(target) else {
        eprintln!(
            "error: `explain --target {target}` is not yet available for this target: \
             it needs the target's output parsed back, which `{target}` does not implement yet"
        );
        return EXIT_USAGE;
    };
    let render = RenderArgs {
        targets: vec![target.to_string()],
        templates: args.templates.clone(),
        nft_match_interfaces: args.nft_match_interfaces,
    };
    // Rendered now even with --against: the rendering names the file to
    // read, and a policy the target cannot express has no answer.
    let files = match render.render(ir) {
        Ok(files) => files,
        Err(failures) => {
            eprint!(
                "{}",
                diagnostics::render_all(&compiled.sources, &failures, args.common.style())
            );
            eprintln!("error: the policy cannot be rendered for {target} (see above)");
            return EXIT_FINDINGS;
        }
    };
    let Some(file) = files.iter().find(|f| {
        f.path
            .extension()
            .is_some_and(|e| e == evaluator.extension())
    }) else {
        eprintln!(
            "error: {target} rendered no .{} file for this policy",
            evaluator.extension()
        );
        return EXIT_USAGE;
    };
    let (text, from) = match &args.against {
        None => (
            file.contents.clone(),
            "rendered from the policy now".to_string(),
        ),
        Some(dir) => {
            let path = dir.join(&file.path);
            match std::fs::read(&path) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => (text, path.display().to_string()),
                    Err(_) => {
                        eprintln!("error: {} is not UTF-8 text", path.display());
                        return EXIT_USAGE;
                    }
                },
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", path.display());
                    return EXIT_USAGE;
                }
            }
        }
    };
    let answer = match evaluator.evaluate(ir, &text, packet) {
        Ok(answer) => answer,
        Err(e) => {
            eprintln!("error: {from}: {e}");
            return EXIT_USAGE;
        }
    };
    let agreement = analysis::explain::compare(ir, &ir.evaluate(packet), &answer);
    print!("{}", answer.render(target, &from, &agreement));
    match agreement {
        analysis::explain::Agreement::Agrees => EXIT_OK,
        analysis::explain::Agreement::Disagrees(_) => EXIT_FINDINGS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_date_is_the_utc_date() {
        // 23:30 UTC is already the next day east of UTC+1 and still the
        // same day everywhere west: the UTC date, whatever TZ says.
        let late: jiff::Timestamp = "2026-12-01T23:30:00Z".parse().unwrap();
        assert_eq!(utc_date(late), jiff::civil::date(2026, 12, 1));
        let early: jiff::Timestamp = "2026-12-02T00:10:00Z".parse().unwrap();
        assert_eq!(utc_date(early), jiff::civil::date(2026, 12, 2));
    }

    #[test]
    fn most_means_more_than_half() {
        assert!(drops_most(10, 4));
        assert!(drops_most(1, 0));
        assert!(!drops_most(10, 5));
        assert!(!drops_most(10, 12));
        assert!(!drops_most(0, 0));
    }
}
