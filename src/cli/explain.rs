//! `wardwall explain`: which rule decides a packet, and with `--target`,
//! what the target's rendered output says.

use std::path::PathBuf;

use clap::Args;

use super::args::{Common, RenderArgs, TargetArgs, parse_target};
use super::common::compile_or_report;
use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::ir::Packet;
use crate::vocab::Target;
use crate::{Compiled, DEFAULT_POLICY, analysis, diagnostics, read, registry};

#[derive(Args, Debug)]
pub(super) struct ExplainArgs {
    /// `[POLICY] SRC DST PROTO`, where PROTO is tcp/PORT, udp/PORT,
    /// icmp/TYPE (IPv4) or icmpv6/TYPE (IPv6) (number or name, e.g.
    /// echo-request), or a protocol name; written as in the policy.
    #[arg(value_name = "ARGS", num_args = 3..=4, required = true)]
    args: Vec<String>,
    /// Answer from this target's rendered output, parsed back, instead of
    /// from the policy.
    #[arg(long, value_name = "TARGET", value_parser = parse_target)]
    target: Option<Target>,
    /// With --target: answer from a device's exported configuration FILE
    /// (as `drift --device` reads it: `nft list ruleset`, `show
    /// running-config`, ...), naming the deciding device entry; or, given a
    /// directory, from the target's rendered file in it
    /// (DIR/<target>/<policy>.<ext>, as `build -o DIR` writes it).
    #[arg(long, value_name = "FILE|DIR", requires = "target")]
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

pub(super) fn explain(args: ExplainArgs) -> u8 {
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
    if let Some(file) = args.against.as_deref().filter(|p| !p.is_dir()) {
        return super::drift::explain_device(target, file, ir, packet);
    }
    let evaluator = registry::reader(target);
    let render = RenderArgs {
        select: TargetArgs {
            targets: vec![target],
            nft_address_only: args.nft_address_only,
            nft_match_interfaces: args.nft_match_interfaces,
        },
        templates: args.templates.clone(),
        previous: Default::default(),
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
