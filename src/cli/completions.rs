//! `wardwall completions SHELL`: a completion script for SHELL, generated
//! from the clap definition itself, so it always knows every command and
//! option the binary has.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;
use super::common::print_stdout;

#[derive(Args, Debug)]
pub(super) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_name = "SHELL", value_enum)]
    shell: Shell,
}

pub(super) fn completions(args: CompletionsArgs) -> u8 {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "wardwall", &mut script);
    print_stdout(&script)
}
