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
use crate::read;
use crate::registry::{self, TargetOptions};
use crate::render::RenderedFile;
use crate::vocab::Target;
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
    #[command(flatten)]
    select: TargetArgs,
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

/// Which targets and with which target options: shared by `check`,
/// `build` and `diff`, so `check` validates exactly what `build` renders.
#[derive(Args, Debug)]
struct TargetArgs {
    /// Target to render (repeatable; default: the policy's `targets`, or
    /// every target).
    #[arg(short = 't', long = "target", value_name = "TARGET", value_parser = parse_target)]
    targets: Vec<Target>,
    /// nftables: match addresses only, without anti-spoofing: a packet with
    /// another zone's source address then passes that zone's allow rules.
    #[arg(long)]
    nft_address_only: bool,
    /// Accepted and ignored: anti-spoofing (interface matching) is the
    /// default now.
    #[arg(long, hide = true, conflicts_with = "nft_address_only")]
    nft_match_interfaces: bool,
}

impl TargetArgs {
    fn options(&self) -> TargetOptions {
        TargetOptions {
            nft_address_only: self.nft_address_only,
        }
    }

    /// The loud warning an explicit weakening deserves, once per run.
    fn warn_weakened(&self, renderer: &dyn crate::render::Renderer) {
        if self.nft_address_only && renderer.target() == Target::Nftables {
            eprintln!(
                "warning: --nft-address-only: the nftables ruleset matches addresses only; \
                 a packet with a spoofed source address (another zone's, sent from the wrong \
                 interface) passes that zone's allow rules"
            );
        }
    }

    /// Every problem `build` would report for `ir` on these targets.
    fn validate(&self, ir: &crate::ir::Ir) -> Vec<diagnostics::Diagnostic> {
        let renderers = registry::selected_renderers(ir, &self.targets, &self.options());
        renderers
            .iter()
            .for_each(|r| self.warn_weakened(r.as_ref()));
        renderers.iter().flat_map(|r| r.validate(ir)).collect()
    }
}

/// What to render and how: shared by `build` and `diff`.
#[derive(Args, Debug)]
struct RenderArgs {
    #[command(flatten)]
    select: TargetArgs,
    /// Directory of template overrides (DIR/<target>/<file>).
    #[arg(long, value_name = "DIR")]
    templates: Option<PathBuf>,
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
        use crate::registry::selected_renderers;
        use crate::render::Templates;
        let templates = Templates {
            override_dir: self.templates.clone(),
        };
        let mut failures = diagnostics::Diagnostics::default();
        for renderer in selected_renderers(ir, &self.select.targets, &self.select.options()) {
            self.select.warn_weakened(renderer.as_ref());
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
    /// Most bytes a Markdown report may have (a GitHub comment holds
    /// 65,536); what does not fit is counted and named.
    #[arg(long, value_name = "BYTES", default_value_t = crate::diff::DEFAULT_BUDGET)]
    budget: usize,
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

fn parse_target(s: &str) -> Result<Target, String> {
    match Target::from_name(s) {
        Some(t) => Ok(t),
        None => Err(format!(
            "unknown target `{s}` (known: {})",
            Target::names().collect::<Vec<_>>().join(", ")
        )),
    }
}

#[derive(Args, Debug)]
struct ExplainArgs {
    /// `[POLICY] SRC DST PROTO`, where PROTO is tcp/PORT, udp/PORT,
    /// icmp/TYPE (IPv4) or icmpv6/TYPE (IPv6) (number or name, e.g.
    /// echo-request), or a protocol name; written as in the policy.
    #[arg(value_name = "ARGS", num_args = 3..=4, required = true)]
    args: Vec<String>,
    /// Answer from this target's rendered output, parsed back, instead of
    /// from the policy.
    #[arg(long, value_name = "TARGET", value_parser = parse_target)]
    target: Option<Target>,
    /// With --target: read the target's rendered file from DIR
    /// (DIR/<target>/<policy>.<ext>, as `build -o DIR` writes it, e.g. a
    /// copy of the deployed file) instead of rendering the policy now.
    #[arg(long, value_name = "DIR", requires = "target")]
    against: Option<PathBuf>,
    /// With --target: directory of template overrides, as for `build`.
    #[arg(long, value_name = "DIR", requires = "target")]
    templates: Option<PathBuf>,
    /// With --target nftables: render without anti-spoofing, as `build
    /// --nft-address-only` does.
    #[arg(long, requires = "target")]
    nft_address_only: bool,
    /// Accepted and ignored: anti-spoofing is the default now.
    #[arg(
        long,
        hide = true,
        requires = "target",
        conflicts_with = "nft_address_only"
    )]
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

/// The enclosing git repository's top level (the first ancestor of the
/// working directory with a `.git`), which SARIF URIs are relative to.
fn repository_root() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf)
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
        // What `build` would refuse for the targets this policy builds.
        if let Some(ir) = &compiled.ir {
            compiled.diagnostics.extend(args.select.validate(ir));
            compiled.diagnostics.sort();
        }
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
                        crate::source::display_path(&path),
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
        let root = repository_root();
        let log = crate::sarif::to_sarif(&runs, args.deny_warnings, root.as_deref());
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
        let _ = writeln!(
            err,
            "{}: not built, nothing written",
            crate::source::display_path(&policy)
        );
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
            let _ = writeln!(
                err,
                "{}: not built, nothing written",
                crate::source::display_path(&policy)
            );
            EXIT_FINDINGS
        }
        Err(RenderFailure::Io(e)) => {
            let _ = writeln!(err, "error: {e}");
            let _ = writeln!(
                err,
                "{}: not built, nothing written",
                crate::source::display_path(&policy)
            );
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
    let comparison = match &args.base {
        Some(spec) => match crate::diff::git::Comparison::resolve(Path::new("."), spec) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        },
        None => None,
    };
    let new_files: &dyn crate::source::Files =
        match comparison.as_ref().and_then(|c| c.new.as_ref()) {
            Some(rev) => rev,
            None => &crate::source::Disk,
        };
    let new = match render_policy(new_files, &policy, date, &args.render, style) {
        Ok(r) => r,
        Err(NotRendered::Errors { report, errors }) => {
            return report_unbuildable(args.format, &report, errors);
        }
        Err(NotRendered::Unreadable(_)) => return EXIT_USAGE,
    };
    let mut findings: Option<crate::diff::FindingDiff> = None;
    let (old_files, traffic, sides) = match &comparison {
        Some(cmp) => {
            let sides = crate::diff::Sides {
                old: cmp.old_label.clone(),
                new: cmp.new_label.clone(),
            };
            if args.format == DiffFormat::Text {
                eprintln!("comparing {} with {}", sides.old, sides.new);
            }
            let (old_files, old_ir, old_policy) = match render_policy(
                &cmp.old,
                &policy,
                date,
                &args.render,
                style,
            ) {
                Ok(old) => (old.files, old.compiled.ir, old.compiled.policy),
                // A policy file that is new on the branch: everything
                // in it is new, reviewed against nothing.
                Err(NotRendered::Unreadable(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    eprintln!(
                        "note: {} does not exist at {}: every rule is new",
                        crate::source::display_path(&policy),
                        sides.old
                    );
                    (Vec::new(), Some(crate::ir::Ir::deny_all(new.ir())), None)
                }
                Err(_) => {
                    eprintln!(
                        "error: the policy at {} cannot be rendered (see above); nothing to compare with",
                        sides.old
                    );
                    return EXIT_USAGE;
                }
            };
            let old_ir = old_ir.expect("rendered policies have an IR");
            let ctx = crate::diff::traffic::Context::from_policies(
                old_policy.as_ref(),
                new.compiled.policy.as_ref(),
            )
            .on(date);
            let traffic = crate::diff::traffic::traffic_diff(&old_ir, new.ir(), &ctx);
            // The `check` findings of both sides (a policy new on the
            // branch had none).
            let old_found = old_policy
                .as_ref()
                .map(|p| crate::diff::findings::findings_of(p, &old_ir))
                .unwrap_or_default();
            let new_found = new
                .compiled
                .policy
                .as_ref()
                .map(|p| crate::diff::findings::findings_of(p, new.ir()))
                .unwrap_or_default();
            findings = Some(crate::diff::findings::finding_diff(&old_found, &new_found));
            (old_files, Some(traffic), Some(sides))
        }
        None => {
            let dir = args.against.clone().unwrap_or_else(|| PathBuf::from("out"));
            match crate::output::read_existing(&dir, &new.files) {
                Ok(files) => (files, None, None),
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_USAGE;
                }
            }
        }
    };
    let diffs = crate::diff::config_diff(&old_files, &new.files);
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
    let budget = crate::diff::Budget {
        max: args.budget,
        full_diffs: args.output_dir.as_ref().map(|d| d.display().to_string()),
    };
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
            if let Some(f) = findings.as_ref().filter(|f| !f.is_empty()) {
                text.push_str(&crate::diff::findings::to_text(f));
                text.push('\n');
            }
            text.push_str(&crate::diff::to_text(&diffs, colour));
            text
        }
        DiffFormat::Markdown => crate::diff::to_markdown_review(
            &diffs,
            traffic.as_ref(),
            findings.as_ref(),
            sides.as_ref(),
            &budget,
        ),
        DiffFormat::Json => {
            let mut text = serde_json::to_string_pretty(&serde_json::json!({
                "compared": sides,
                "files": diffs,
                "traffic": traffic,
                "findings": findings,
            }))
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

/// `diff --output-dir`: every full diff, for when the review comment had
/// to leave some out.
fn write_full_diffs(
    dir: &Path,
    diffs: &[crate::diff::FileDiff],
    traffic: Option<&crate::diff::TrafficDiff>,
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
            crate::diff::traffic::to_text(t, false),
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
        DiffFormat::Markdown => print!("{}", crate::diff::errors_to_markdown(report, errors)),
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

/// Why a policy was not rendered (the report is already on stderr).
enum NotRendered {
    /// The root file could not be read.
    Unreadable(std::io::Error),
    /// Policy or target errors: the plain report and how many errors.
    Errors { report: String, errors: usize },
}

/// Compiles and renders a policy read through `files`; prints diagnostics
/// to stderr on failure.
fn render_policy(
    files: &dyn crate::source::Files,
    policy: &Path,
    date: Date,
    render: &RenderArgs,
    style: Style,
) -> Result<Rendered, NotRendered> {
    let mut compiled = crate::compile_from(files, policy, date).map_err(|e| {
        eprintln!("error: {e}");
        NotRendered::Unreadable(e.source)
    })?;
    // A diff is about changes, not lint: show errors only (`check` shows
    // the warnings).
    compiled.diagnostics.items.retain(|d| d.is_error());
    let failed = |compiled: &Compiled, diags: &diagnostics::Diagnostics| {
        eprint!(
            "{}",
            diagnostics::render_all(&compiled.sources, diags, style)
        );
        NotRendered::Errors {
            report: diagnostics::render_all(&compiled.sources, diags, Style::Plain),
            errors: diags.items.len(),
        }
    };
    let Some(ir) = &compiled.ir else {
        return Err(failed(&compiled, &compiled.diagnostics));
    };
    let files = render
        .render(ir)
        .map_err(|failures| failed(&compiled, &failures))?;
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
        Some(target) => explain_target(&args, *target, ir, &compiled, &packet),
        None => EXIT_OK,
    }
}

/// The `--target` half of `explain`: the target's answer from its rendered
/// output parsed back (rendered now, or read from `--against DIR`), and
/// whether it agrees with the policy.
fn explain_target(
    args: &ExplainArgs,
    target: Target,
    ir: &crate::ir::Ir,
    compiled: &Compiled,
    packet: &Packet,
) -> u8 {
    let evaluator = registry::reader(target);
    let render = RenderArgs {
        select: TargetArgs {
            targets: vec![target],
            nft_address_only: args.nft_address_only,
            nft_match_interfaces: args.nft_match_interfaces,
        },
        templates: args.templates.clone(),
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
                        eprintln!(
                            "error: {} is not UTF-8 text",
                            crate::source::display_path(&path)
                        );
                        return EXIT_USAGE;
                    }
                },
                Err(e) => {
                    eprintln!(
                        "error: cannot read {}: {e}",
                        crate::source::display_path(&path)
                    );
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
    let agreement = read::compare(ir, &ir.evaluate(packet), &answer);
    print!("{}", answer.render(target.name(), &from, &agreement));
    match agreement {
        read::Agreement::Agrees => EXIT_OK,
        read::Agreement::Disagrees(_) => EXIT_FINDINGS,
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
