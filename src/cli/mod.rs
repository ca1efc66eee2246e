//! The command line: `wardwall check | build | diff | explain | drift | import |
//! fmt | completions | man`.
//!
//! Every command shares option names and exit codes:
//! 0 ok, 1 findings or differences (policy errors, stale outputs, ...),
//! 2 usage or I/O errors.
//!
//! - `mod.rs`: the parser, the command list, exit codes and dispatch.
//! - `args.rs`: argument groups every command shares (`Common`, the
//!   global options; `TargetArgs`, `RenderArgs`, `LintArgs`) and value
//!   parsers.
//! - `project.rs`: the project file, `wardwall.toml`, which the flags
//!   override.
//! - `common.rs`: helpers several commands use.
//! - `check.rs`, `build.rs`, `diff.rs`, `explain.rs`, `drift.rs`, `import.rs`,
//!   `fmt.rs`: one command each,
//!   its arguments and its implementation.
//! - `completions.rs`, `man.rs`: shell completions and man pages, generated
//!   from this parser; `help.rs`: the examples, exit codes and environment
//!   `--help` shows; `templates.rs`: `--templates DIR`, checked as parsed.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod args;
mod build;
mod check;
mod common;
mod completions;
mod diff;
mod drift;
mod explain;
mod fmt;
mod help;
mod import;
mod man;
mod project;
mod templates;

use build::BuildArgs;
use check::CheckArgs;
use completions::CompletionsArgs;
use diff::DiffArgs;
use drift::DriftArgs;
use explain::ExplainArgs;
use fmt::FmtArgs;
use import::ImportArgs;
use man::ManArgs;

/// Exit code: everything is fine.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code: the policy has errors, or outputs differ / are stale.
pub(crate) const EXIT_FINDINGS: u8 = 1;
/// Exit code: bad usage or an I/O error.
pub(crate) const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "wardwall",
    version,
    about = "Compile one segmentation policy to nftables, pfSense, Cisco IOS and PAN-OS",
    long_about = None,
    after_help = help::TOP,
)]
struct Cli {
    #[command(flatten)]
    common: args::Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate policies and report errors and warnings.
    #[command(after_help = help::CHECK)]
    Check(CheckArgs),
    /// Render a policy to every (or the selected) target: one file per target.
    #[command(after_help = help::BUILD)]
    Build(BuildArgs),
    /// Show what a policy change does to every rendered config and, with
    /// --base, to the traffic (which packets change verdict).
    #[command(after_help = help::DIFF)]
    Diff(DiffArgs),
    /// Show which rule decides a packet.
    #[command(after_help = help::EXPLAIN)]
    Explain(ExplainArgs),
    /// Compare what devices really run (their exported configurations)
    /// with the policy: exposure, breakage and undecidable traffic.
    #[command(after_help = help::DRIFT)]
    Drift(DriftArgs),
    /// Turn a device's running configuration into a policy, and prove it
    /// decides every packet as the device does.
    #[command(after_help = help::IMPORT)]
    Import(ImportArgs),
    /// Lay out policy files (and the files they include) canonically,
    /// keeping every comment; --check / --diff write nothing.
    #[command(after_help = help::FMT)]
    Fmt(FmtArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = help::COMPLETIONS)]
    Completions(CompletionsArgs),
    /// Print the manual page of wardwall or of one command (roff).
    #[command(after_help = help::MAN)]
    Man(ManArgs),
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
    let mut common = cli.common;
    // Completions and man pages describe the parser, not a project: a
    // broken project file must not stop them.
    let generated = matches!(cli.command, Command::Completions(_) | Command::Man(_));
    if !generated {
        common.project = match project::load(common.config.as_deref(), common.style()) {
            Ok(project) => project,
            Err(report) => {
                eprint!("{report}");
                return ExitCode::from(EXIT_USAGE);
            }
        };
    }
    let code = match cli.command {
        Command::Check(args) => check::check(args, &common),
        Command::Build(args) => build::build(args, &common),
        Command::Diff(args) => diff::diff(args, &common),
        Command::Explain(args) => explain::explain(args, &common),
        Command::Drift(args) => drift::drift(args, &common),
        Command::Import(args) => import::import(args, &common),
        Command::Fmt(args) => fmt::fmt(args, &common),
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => man::man(args),
    };
    ExitCode::from(code)
}
