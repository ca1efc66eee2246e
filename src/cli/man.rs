//! `wardwall man [COMMAND]`: the manual page of wardwall or of one of its
//! commands, in roff, generated from the clap definition (so it lists
//! exactly the options the binary has). `wardwall man --list` names the
//! commands that have a page, for a packaging loop.

use clap::{Args, CommandFactory};

use super::common::print_stdout;
use super::{Cli, EXIT_USAGE};
use wardwall::diagnostics::did_you_mean;

#[derive(Args, Debug)]
pub(super) struct ManArgs {
    /// The command whose page to print (default: wardwall's own page,
    /// which lists the commands).
    #[arg(value_name = "COMMAND", conflicts_with = "list")]
    command: Option<String>,
    /// Print the commands that have a page, one per line, instead.
    #[arg(long)]
    list: bool,
}

pub(super) fn man(args: ManArgs) -> u8 {
    let mut top = Cli::command().disable_help_subcommand(true);
    // Sets every subcommand's display name (`wardwall-build`), which the
    // page's title and file name are made of.
    top.build();
    let names: Vec<String> = top
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect();
    if args.list {
        return print_stdout(format!("{}\n", names.join("\n")).as_bytes());
    }
    let page = match &args.command {
        None => top,
        Some(name) => match top.find_subcommand(name) {
            Some(sub) if names.contains(name) => sub.clone(),
            _ => {
                let hint = did_you_mean(name, names.iter().map(String::as_str))
                    .map(|h| format!(" {h}"))
                    .unwrap_or_default();
                eprintln!(
                    "error: no command `{name}`.{hint}\n  help: the commands are {}",
                    names.join(", ")
                );
                return EXIT_USAGE;
            }
        },
    };
    let mut roff = Vec::new();
    if let Err(e) = clap_mangen::Man::new(page)
        .source(concat!("wardwall ", env!("CARGO_PKG_VERSION")))
        .render(&mut roff)
    {
        eprintln!("error: {e}");
        return EXIT_USAGE;
    }
    print_stdout(&roff)
}
