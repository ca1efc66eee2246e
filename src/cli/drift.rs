//! `wardwall drift`: what the devices really run, compared exactly with the
//! policy.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::args::{Common, stdout_colour};
use super::common::compile_or_report;
use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use wardwall::diff::drift;
use wardwall::diff::drift_report::{self, DriftReport, Listing};
use wardwall::diff::traffic::Context;
use wardwall::read::device::Device;
use wardwall::vocab::Target;
use wardwall::{diagnostics, registry};

#[derive(Args, Debug)]
pub(super) struct DriftArgs {
    /// Policy file (default: policies/hospital.kdl, relative to the working
    /// directory).
    #[arg(value_name = "POLICY")]
    policy: Option<PathBuf>,
    /// A device's exported configuration, as TARGET=FILE (repeatable):
    /// nftables=`nft list ruleset` or `nft -j list ruleset` output,
    /// cisco=`show running-config`, panos=the running-config XML,
    /// pfsense=a config.xml backup.
    #[arg(long = "device", value_name = "TARGET=FILE", value_parser = parse_device, required = true)]
    devices: Vec<(Target, PathBuf)>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DriftFormat::Text)]
    format: DriftFormat,
    /// nftables: the device runs the address-only rendering (`build
    /// --nft-address-only`): its baseline is that one.
    #[arg(long)]
    nft_address_only: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DriftFormat {
    Text,
    Markdown,
    Json,
}

/// Device exports larger than this are refused rather than read into
/// memory: a 100,000-rule configuration is a few tens of MiB.
const MAX_DEVICE_BYTES: u64 = 512 << 20;

fn parse_device(spec: &str) -> Result<(Target, PathBuf), String> {
    let Some((target, file)) = spec.split_once('=') else {
        return Err(format!(
            "expected TARGET=FILE (e.g. nftables=ruleset.txt), got `{spec}`"
        ));
    };
    let target = super::args::parse_target(target)?;
    if file.is_empty() {
        return Err("the file after `=` is empty".to_string());
    }
    Ok((target, PathBuf::from(file)))
}

pub(super) fn drift(mut args: DriftArgs, common: &Common) -> u8 {
    let settings = match common.project.policy_or_report(args.policy.as_deref()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let policy = settings.path;
    args.nft_address_only |= settings.nft_address_only;
    let date = common.date();
    let compiled = match compile_or_report(&policy, date, &common.project.lint) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (Some(ir), Some(model)) = (&compiled.ir, &compiled.policy) else {
        eprint!(
            "{}",
            diagnostics::render_all(&compiled.sources, &compiled.diagnostics, common.style())
        );
        eprintln!("error: the policy has errors; nothing was compared");
        return EXIT_FINDINGS;
    };
    // Every file is read before anything is compared: one unreadable
    // device fails the run with nothing half-reported.
    let mut devices = Vec::new();
    for (target, path) in &args.devices {
        match read_device(*target, path) {
            Ok((d, text)) => devices.push((d, text, wardwall::source::display_path(path))),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        }
    }
    let ctx = Context::from_policies(None, Some(model)).on(date);
    let mut reports: Vec<DriftReport> = Vec::new();
    let mut broken = Vec::new();
    for (device, text, file) in &devices {
        let mut comparison = drift::compare(ir, device);
        let options = registry::TargetOptions {
            nft_address_only: args.nft_address_only,
        };
        if let Err(why) = comparison.set_apart_inherent(ir, device.target, &options, Some(text)) {
            comparison.not_compared.push(format!(
                "nothing is counted as inherent to {}: {why}",
                device.target
            ));
        }
        broken.extend(wardwall::diff::expect_check::breaks(
            model,
            date,
            device,
            file,
            &comparison,
        ));
        let listing = match args.format {
            DriftFormat::Text => Listing::First(drift_report::INHERENT_SHOWN),
            DriftFormat::Markdown => Listing::First(0),
            DriftFormat::Json => Listing::All,
        };
        reports.push(drift_report::report(
            ir,
            device,
            file,
            &comparison,
            &ctx,
            listing,
        ));
    }
    match args.format {
        DriftFormat::Text => {
            let colour = stdout_colour(common);
            for b in &broken {
                println!("{}", b.line());
            }
            for r in &reports {
                print!("{}", r.to_text(colour));
            }
        }
        DriftFormat::Markdown => {
            for b in &broken {
                println!("- **{}**", b.line());
            }
            for r in &reports {
                println!("{}", r.to_markdown());
            }
        }
        DriftFormat::Json => {
            let json = serde_json::json!({ "devices": reports, "broken_expectations": broken });
            println!(
                "{}",
                serde_json::to_string_pretty(&json).expect("the report serialises")
            );
        }
    }
    if broken.is_empty() && reports.iter().all(DriftReport::agrees) {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    }
}

/// Reads and parses one device export; the error names the file (and the
/// line and column of what was not understood).
pub(super) fn read_device(
    target: Target,
    path: &std::path::Path,
) -> Result<(Device, String), String> {
    let shown = wardwall::source::display_path(path);
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    if meta.len() > MAX_DEVICE_BYTES {
        return Err(format!(
            "{shown} is {} bytes; device exports over {MAX_DEVICE_BYTES} bytes are refused",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "{shown}: not UTF-8 text (byte {}); export the configuration as text",
            e.utf8_error().valid_up_to()
        )
    })?;
    let device = registry::reader(target).device(&text).map_err(|e| {
        let hint = format!(
            "\n  hint: {} reads {}",
            target.name(),
            match target {
                Target::Nftables => "the output of `nft list ruleset` or `nft -j list ruleset`",
                Target::Cisco => "the output of `show running-config`",
                Target::Panos => "the running configuration XML (`show config running`)",
                Target::PfSense => "a config.xml backup (Diagnostics > Backup & Restore)",
            }
        );
        if e.line == 0 {
            format!("{shown}: {}{hint}", e.message)
        } else {
            format!("{shown}:{}:{}: {}{hint}", e.line, e.column, e.message)
        }
    })?;
    Ok((device, text))
}

/// `explain --target T --against FILE`: what the device's export does
/// with the packet, layer by layer, naming the deciding entry, and whether
/// that agrees with the policy. Returns the exit code, the text and the
/// same facts as JSON (`--format json`); a file that cannot be read is
/// reported here and is `Err` with the exit code.
pub(super) fn explain_device(
    target: Target,
    path: &std::path::Path,
    ir: &wardwall::ir::Ir,
    packet: &wardwall::ir::Packet,
) -> Result<(u8, String, serde_json::Value), u8> {
    use serde_json::json;
    let device = match read_device(target, path) {
        Ok((d, _)) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(EXIT_USAGE);
        }
    };
    let shown = wardwall::source::display_path(path);
    let place = |addr| {
        ir.zone_of(addr)
            .and_then(|z| z.bindings.get(target.name()).cloned())
    };
    let (ingress, egress) = (place(packet.src), place(packet.dst));
    let outcome = device.decide(packet, ingress.as_deref(), egress.as_deref());
    let policy = ir.evaluate(packet);
    let mut out = String::new();
    let at = |p: &Option<String>| {
        p.clone()
            .unwrap_or_else(|| "a place no zone is bound to".into())
    };
    out.push_str(&format!(
        "device {target} ({shown}): enters by {}, leaves by {}\n",
        at(&ingress),
        at(&egress)
    ));
    // An entry of the export as JSON: line and column are null for a
    // decision no line states (an implicit deny).
    let entry_json = |o: &wardwall::read::device::Origin| {
        let known = o.line != 0;
        json!({
            "file": shown,
            "line": known.then_some(o.line),
            "column": known.then_some(o.column),
            "text": o.text,
            "rule": o.rule,
        })
    };
    let mut layers = Vec::new();
    for (filter, d) in &outcome.steps {
        let line = if d.origin.line == 0 {
            String::new()
        } else {
            format!(":{}:{}", d.origin.line, d.origin.column)
        };
        out.push_str(&format!(
            "  {}: {shown}{line}: {} -> {}\n",
            filter.name, d.origin.text, d.action
        ));
        layers.push(json!({
            "filter": filter.name,
            "action": d.action.to_string(),
            "log": d.log,
            "entry": entry_json(&d.origin),
        }));
    }
    let mut undecidable = Vec::new();
    for e in &outcome.undecided {
        out.push_str(&format!(
            "  undecidable: {shown}:{}:{}: {} ({}): if it matches, {}\n",
            e.decision.origin.line,
            e.decision.origin.column,
            e.decision.origin.text,
            e.undecidable.as_deref().unwrap_or_default(),
            e.decision.action
        ));
        undecidable.push(json!({
            "entry": entry_json(&e.decision.origin),
            "why": e.undecidable,
            "action": e.decision.action.to_string(),
        }));
    }
    out.push_str(&format!("  verdict: {}\n", outcome.action));
    let agrees = outcome.action.permits() == policy.action.permits();
    let certain = outcome
        .undecided
        .iter()
        .all(|e| e.decision.action.permits() == policy.action.permits());
    let rule = ir.verdict_rule_name(&policy);
    let code = if !certain {
        out.push_str(&format!(
            "{target} may disagree with the policy ({} by `{rule}`): an undecidable entry decides the packet if it matches\n",
            policy.action
        ));
        EXIT_FINDINGS
    } else if agrees {
        out.push_str(&format!(
            "{target} agrees with the policy ({} by `{rule}`)\n",
            policy.action
        ));
        EXIT_OK
    } else {
        out.push_str(&format!(
            "{target} DISAGREES with the policy: the policy says {} by `{rule}`, the device says {}\n",
            policy.action, outcome.action
        ));
        EXIT_FINDINGS
    };
    // The last layer met decides: the first that does not allow, or the
    // last allow when every layer allows.
    let deciding = outcome.steps.last().map(|(_, d)| d);
    let json = json!({
        "target": target.name(),
        "from": shown,
        "ingress": ingress,
        "egress": egress,
        "layers": layers,
        "undecidable": undecidable,
        "entry": deciding.map(|d| entry_json(&d.origin)),
        "rule": deciding.and_then(|d| d.origin.rule.clone()),
        "action": outcome.action.to_string(),
        "log": deciding.is_some_and(|d| d.log),
        "agrees": agrees && certain,
        "certain": certain,
    });
    Ok((code, out, json))
}
