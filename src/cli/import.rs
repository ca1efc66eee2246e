//! `wardwall import TARGET FILE`: a device's running configuration as a
//! wardwall policy, with the proof that it decides every packet alike.

use std::path::PathBuf;

use clap::Args;

use super::args::{Common, stdout_colour};
use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use wardwall::diff::drift_report;
use wardwall::diff::traffic::Context;
use wardwall::import::{self, Source, zones};
use wardwall::read::export::inventory::Inventory;
use wardwall::render::RenderedFile;
use wardwall::vocab::Target;

#[derive(Args, Debug)]
pub(super) struct ImportArgs {
    /// The device's target: nftables, cisco, panos or pfsense.
    #[arg(value_name = "TARGET", value_parser = super::args::parse_target)]
    target: Target,
    /// The device's export: `nft list ruleset` or `nft -j list ruleset`
    /// output, `show running-config`, the PAN-OS running-config XML, a
    /// pfSense config.xml backup.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Write the policy to DIR/NAME.kdl (NAME: the file's name without
    /// its extension); default: standard output.
    #[arg(short = 'o', long = "out-dir", value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Zones the configuration cannot state (KDL: `zone "NAME" {
    /// interface "PLACE"; prefix "CIDR" ...; residual #true }`).
    #[arg(long, value_name = "FILE")]
    zones: Option<PathBuf>,
}

pub(super) fn import(args: ImportArgs, common: &Common) -> u8 {
    let shown = wardwall::source::display_path(&args.file);
    let (device, text) = match super::drift::read_device(args.target, &args.file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let inventory = match inventory(args.target, &text) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {shown}: {e}");
            return EXIT_USAGE;
        }
    };
    let given = match &args.zones {
        Some(path) => match zones::read(path) {
            Ok(z) => z,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        },
        None => Vec::new(),
    };
    let (mut zone_specs, notes, lacking) = import::zones_for(&device, &inventory, &given);
    if !lacking.is_empty() {
        eprintln!(
            "warning: zones lack prefixes: {} (the device filters on {}, and the configuration does not say which addresses lie behind {}): give them in --zones FILE",
            lacking.join(", "),
            if lacking.len() == 1 {
                "this place"
            } else {
                "these places"
            },
            if lacking.len() == 1 { "it" } else { "them" },
        );
        if zone_specs.is_empty() {
            eprintln!("error: no zone is known: nothing was imported");
            return EXIT_USAGE;
        }
    }
    if zone_specs.is_empty() {
        zone_specs.push(zones::ZoneSpec {
            name: "everything".into(),
            description: Some("every address: the device matches no interface".into()),
            prefixes: Vec::new(),
            residual: true,
            place: None,
        });
    }
    for n in &notes {
        eprintln!("note: not imported: {n}");
    }
    let name = policy_name(&args.file);
    let imported = import::import(
        &device,
        &inventory,
        &zone_specs,
        &Source {
            file: &shown,
            bytes: text.as_bytes(),
            notes: &notes,
        },
        &name,
    );
    let date = common.date();
    let (compiled, comparison) = match import::prove(&imported, &device, date) {
        Ok(p) => p,
        Err(compiled) => {
            eprint!(
                "{}",
                wardwall::diagnostics::render_all(
                    &compiled.sources,
                    &compiled.diagnostics,
                    common.style()
                )
            );
            eprintln!(
                "error: the imported policy does not compile (a bug in wardwall import): nothing was written"
            );
            return EXIT_FINDINGS;
        }
    };
    let mut report = String::new();
    let (Some(ir), Some(model)) = (&compiled.ir, &compiled.policy) else {
        unreachable!("prove returns a compiled policy");
    };
    // What wardwall's own rendering for the target does differently by
    // design (pfSense's port-0 block, stateless return entries) is not a
    // difference of the import: drift counts it as inherent too.
    let mut comparison = comparison;
    if let Err(why) = comparison.set_apart_inherent(
        ir,
        args.target,
        &wardwall::registry::TargetOptions::default(),
        Some(&text),
    ) {
        comparison.not_compared.push(format!(
            "nothing is counted as inherent to {}: {why}",
            args.target
        ));
    }
    let agrees = comparison.regions.is_empty();
    if agrees {
        report.push_str(&format!(
            "equivalent: the policy decides every packet as {shown} does\n"
        ));
        if !comparison.inherent.is_empty() {
            report.push_str(&format!(
                "  inherent to {}: {} region{} {} decides alike once this policy is built for it (as drift counts them)\n",
                args.target,
                comparison.inherent.len(),
                if comparison.inherent.len() == 1 { "" } else { "s" },
                args.target,
            ));
        }
        for n in &comparison.not_compared {
            report.push_str(&format!("  not compared: {n}\n"));
        }
    } else {
        let ctx = Context::from_policies(None, Some(model)).on(date);
        let r = drift_report::report(
            ir,
            &device,
            &shown,
            &comparison,
            &ctx,
            drift_report::Listing::First(drift_report::INHERENT_SHOWN),
        );
        report.push_str(&r.to_text(stdout_colour(common) && args.out_dir.is_some()));
        report.push_str(&format!(
            "differences: the policy does not decide every packet as {shown} does ({} region{})\n",
            comparison.regions.len(),
            if comparison.regions.len() == 1 {
                ""
            } else {
                "s"
            }
        ));
    }
    let outcome = if agrees {
        format!("equivalent: the policy decides every packet as {shown} does")
    } else {
        format!(
            "{} differences from {shown}: `wardwall drift` on this policy reports them",
            comparison.regions.len()
        )
    };
    let written = imported.with_proof(&outcome);
    let to_stdout = args.out_dir.is_none();
    match &args.out_dir {
        Some(dir) => {
            let file = RenderedFile {
                path: PathBuf::from(format!("{name}.kdl")),
                contents: written,
            };
            if let Err(e) = wardwall::output::write_all(dir, &[file]) {
                eprintln!(
                    "error: cannot write {}: {e}",
                    wardwall::source::display_path(dir)
                );
                return EXIT_USAGE;
            }
            if !common.quiet {
                println!(
                    "wrote {}",
                    wardwall::source::display_path(&dir.join(format!("{name}.kdl")))
                );
            }
        }
        None => print!("{written}"),
    }
    if to_stdout {
        eprint!("{report}");
    } else {
        print!("{report}");
    }
    if agrees { EXIT_OK } else { EXIT_FINDINGS }
}

/// What the configuration names, per target.
fn inventory(target: Target, text: &str) -> Result<Inventory, wardwall::read::device::DeviceError> {
    match target {
        Target::Cisco => wardwall::read::export::cisco_inventory::read(text),
        Target::Panos => wardwall::read::export::panos_inventory::read(text),
        Target::PfSense => wardwall::read::export::pfsense_inventory::read(text),
        Target::Nftables => wardwall::read::export::nftables::read_inventory(text),
    }
}

/// The policy's name: the export's file name without its extension, made
/// a valid name.
fn policy_name(file: &std::path::Path) -> String {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    import::text::Names::default().name(&stem)
}
