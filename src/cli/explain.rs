//! `wardwall explain`: which rule decides a packet, and with `--target`,
//! what the target's rendered output says.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::args::{Common, RenderArgs, TargetArgs, parse_target};
use super::common::compile_or_report;
use super::project::PolicySettings;
use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use serde_json::{Value, json};
use wardwall::ir::Packet;
use wardwall::vocab::Target;
use wardwall::{Compiled, analysis, diagnostics, read, registry};

#[derive(Args, Debug)]
// `[POLICY] SRC DST PROTO` is one list of three or four values: clap cannot
// have an optional positional before several required ones. Its generated
// usage would read `<ARGS> <ARGS> <ARGS>...`, so the usage line is written
// out and the values are described under "Arguments" (help::EXPLAIN).
#[command(override_usage = "wardwall explain [OPTIONS] [POLICY] <SRC> <DST> <PROTO>")]
pub(super) struct ExplainArgs {
    /// [POLICY] SRC DST PROTO (see "Arguments" below).
    #[arg(
        value_names = ["SRC", "DST", "PROTO"],
        num_args = 3..=4,
        required = true,
        hide = true
    )]
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
    #[arg(
        long,
        value_name = "DIR",
        requires = "target",
        value_parser = super::templates::parse_templates_dir
    )]
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
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
    format: ExplainFormat,
}

/// The same names as every command's `--format` (`text`, `json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ExplainFormat {
    #[value(alias = "human")]
    Text,
    Json,
}

pub(super) fn explain(args: ExplainArgs, common: &Common) -> u8 {
    let (given, packet_args) = match args.args.as_slice() {
        [p, rest @ ..] if rest.len() == 3 => (Some(Path::new(p)), rest),
        rest => (None, rest),
    };
    let settings = match common.project.policy_or_report(given) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let policy = settings.path.clone();
    let packet = match Packet::parse(&packet_args[0], &packet_args[1], &packet_args[2]) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let date = common.date();
    let compiled = match compile_or_report(&policy, date, &common.project.lint) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(ir) = &compiled.ir else {
        eprint!(
            "{}",
            diagnostics::render_all(&compiled.sources, &compiled.diagnostics, common.style())
        );
        return EXIT_FINDINGS;
    };
    let explanation = analysis::explain::explain(ir, compiled.policy.as_ref(), &packet);
    if args.format == ExplainFormat::Text {
        print!("{}", explanation.render(ir, &compiled.sources));
    }
    let (code, target) = match &args.target {
        Some(target) => {
            match explain_target(&args, common, &settings, *target, ir, &compiled, &packet) {
                Ok((code, json)) => (code, json),
                Err(code) => return code,
            }
        }
        None => (EXIT_OK, None),
    };
    if args.format == ExplainFormat::Json {
        let mut json = explanation_json(&explanation, ir, &compiled.sources);
        if let Some(target) = target {
            json["target"] = target;
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&json).expect("JSON of plain data")
        );
    }
    code
}

/// A place in the policy, as `check --format json` gives it.
fn location_json(sources: &diagnostics::SourceMap, span: wardwall::diagnostics::Span) -> Value {
    let (line, column) = sources.line_col(span);
    json!({ "file": sources.file(span.file).name, "line": line, "column": column })
}

/// The decision path as JSON: the same facts as the text, rules by name,
/// index (1-based, as the text numbers them) and place.
fn explanation_json(
    e: &analysis::explain::Explanation,
    ir: &wardwall::ir::Ir,
    sources: &diagnostics::SourceMap,
) -> Value {
    let side = |addr: std::net::IpAddr,
                zone: &Option<String>,
                objects: &[(wardwall::ir::ObjectKind, String)]| {
        json!({
            "address": addr.to_string(),
            "zone": zone,
            "objects": objects
                .iter()
                .map(|(kind, name)| json!({ "kind": kind.as_str(), "name": name }))
                .collect::<Vec<_>>(),
        })
    };
    let rule = |i: usize| {
        let r = &ir.rules[i];
        json!({
            "name": r.name,
            "index": i + 1,
            "action": r.action.to_string(),
            "location": location_json(sources, r.span),
        })
    };
    let skipped: Vec<Value> = e
        .skipped
        .iter()
        .map(|sk| {
            let mut r = rule(sk.rule);
            r["no_match_on"] = sk.failed.iter().map(|d| d.as_str()).collect();
            r
        })
        .collect();
    json!({
        "packet": e.packet.to_string(),
        "source": side(e.packet.src, &e.src_zone, &e.src_objects),
        "destination": side(e.packet.dst, &e.dst_zone, &e.dst_objects),
        "rules_before": skipped,
        "verdict": {
            "action": e.verdict.action.to_string(),
            "log": e.verdict.log,
            "rule": e.verdict.rule.map(rule),
            "rules": ir.rules.len(),
        },
    })
}

/// The `--target` half of `explain`: the target's answer from its rendered
/// output parsed back (rendered now, or read from `--against DIR`), and
/// whether it agrees with the policy.
fn explain_target(
    args: &ExplainArgs,
    common: &Common,
    settings: &PolicySettings,
    target: Target,
    ir: &wardwall::ir::Ir,
    compiled: &Compiled,
    packet: &Packet,
) -> Result<(u8, Option<Value>), u8> {
    if let Some(file) = args.against.as_deref().filter(|p| !p.is_dir()) {
        let (code, text, json) = super::drift::explain_device(target, file, ir, packet)?;
        if args.format == ExplainFormat::Text {
            print!("{text}");
            return Ok((code, None));
        }
        return Ok((code, Some(json)));
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
    }
    .configured(settings);
    // Rendered now even with --against: the rendering names the file to
    // read, and a policy the target cannot express has no answer.
    let files = match render.render(ir) {
        Ok(files) => files,
        Err(failures) => {
            eprint!(
                "{}",
                diagnostics::render_all(&compiled.sources, &failures, common.style())
            );
            eprintln!("error: the policy cannot be rendered for {target} (see above)");
            return Err(EXIT_FINDINGS);
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
        return Err(EXIT_USAGE);
    };
    let (text, from, read_from) = match &args.against {
        None => (
            file.contents.clone(),
            "rendered from the policy now".to_string(),
            None,
        ),
        Some(dir) => {
            let path = dir.join(&file.path);
            match std::fs::read(&path) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => (
                        text,
                        path.display().to_string(),
                        Some(wardwall::source::display_path(&path)),
                    ),
                    Err(_) => {
                        eprintln!(
                            "error: {} is not UTF-8 text",
                            wardwall::source::display_path(&path)
                        );
                        return Err(EXIT_USAGE);
                    }
                },
                Err(e) => {
                    eprintln!(
                        "error: cannot read {}: {e}",
                        wardwall::source::display_path(&path)
                    );
                    return Err(EXIT_USAGE);
                }
            }
        }
    };
    let answer = match evaluator.evaluate(ir, &text, packet) {
        Ok(answer) => answer,
        Err(e) => {
            eprintln!("error: {from}: {e}");
            return Err(EXIT_USAGE);
        }
    };
    let agreement = read::compare(ir, &ir.evaluate(packet), &answer);
    let code = match agreement {
        read::Agreement::Agrees => EXIT_OK,
        read::Agreement::Disagrees(_) => EXIT_FINDINGS,
    };
    if args.format == ExplainFormat::Text {
        print!("{}", answer.render(target.name(), &from, &agreement));
        return Ok((code, None));
    }
    let (agrees, disagreements) = match &agreement {
        read::Agreement::Agrees => (true, Vec::new()),
        read::Agreement::Disagrees(why) => (false, why.clone()),
    };
    // The keys a device export's answer has too (`drift::explain_device`),
    // with the same types: the strict readers quote the deciding entry but
    // do not locate it, so its line and column are null.
    Ok((
        code,
        Some(json!({
            "target": target.name(),
            "from": from,
            "place": answer.place,
            "rule": answer.rule,
            "entry": {
                "file": read_from,
                "line": null,
                "column": null,
                "text": answer.entry,
                "rule": answer.rule,
            },
            "action": answer.action.to_string(),
            "log": answer.log,
            "notes": answer.notes,
            "agrees": agrees,
            "certain": true,
            "disagreements": disagreements,
        })),
    ))
}
