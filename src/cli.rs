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
    /// Show which rule decides a packet.
    Explain(ExplainArgs),
}

/// Options every command shares.
#[derive(Args, Debug)]
struct Common {
    /// Evaluation date for rule expiry (YYYY-MM-DD); defaults to today.
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
struct ExplainArgs {
    /// `[POLICY] SRC DST PROTO`, where PROTO is tcp/PORT, udp/PORT,
    /// icmp/TYPE (number or name, e.g. echo-request) or a protocol name.
    #[arg(value_name = "ARGS", num_args = 3..=4, required = true)]
    args: Vec<String>,
    /// Answer from this target's rendered output, parsed back, instead of
    /// from the policy.
    #[arg(long, value_name = "TARGET", value_parser = clap::builder::PossibleValuesParser::new(crate::source::TARGETS))]
    target: Option<String>,
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
        Command::Explain(args) => explain(args),
    };
    ExitCode::from(code)
}

impl Common {
    fn date(&self) -> Date {
        self.date
            .unwrap_or_else(|| jiff::ZonedDateTime::now().date())
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
    if let Some(target) = &args.target {
        let Some(evaluator) = analysis::explain::target_evaluator(target) else {
            eprintln!(
                "error: `explain --target {target}` is not yet available for this target: \
                 it needs the target's output parsed back, which `{target}` does not implement yet"
            );
            return EXIT_USAGE;
        };
        let policy_says = ir.evaluate(&packet);
        return match evaluator.evaluate(ir, &packet) {
            Ok(t) => {
                println!(
                    "{target}: {} by {}{}",
                    t.action,
                    t.rule.as_deref().unwrap_or("the target's default"),
                    if t.log { ", logged" } else { "" }
                );
                println!(
                    "policy: {} by `{}`{}",
                    policy_says.action,
                    ir.verdict_rule_name(&policy_says),
                    if policy_says.log { ", logged" } else { "" }
                );
                if t.action == policy_says.action && t.log == policy_says.log {
                    EXIT_OK
                } else {
                    println!("the target disagrees with the policy");
                    EXIT_FINDINGS
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_USAGE
            }
        };
    }
    print!(
        "{}",
        analysis::explain::explain(ir, &packet).render(ir, &compiled.sources)
    );
    EXIT_OK
}
