//! Helpers the drift tests of every target share: `wardwall drift` through
//! the CLI, its JSON, and the comparison as the command makes it.

use wardwall::addrset::AddrSet;
use wardwall::analysis::space::Space;
use wardwall::diff::drift::{At, Comparison, DriftKind, DriftRegion, compare};
use wardwall::ir::Ir;
use wardwall::read::device::{Decision, Device};
use wardwall::vocab::Target;

use super::probes::PROBE_DATE;
use super::{Ran, run};

/// `wardwall drift POLICY --device TARGET=FILE --date PROBE_DATE [extra...]`.
pub fn cli(policy: &str, target: Target, file: &str, extra: &[&str]) -> Ran {
    let device = format!("{}={file}", target.name());
    let mut args = vec![
        "drift",
        policy,
        "--device",
        device.as_str(),
        "--date",
        PROBE_DATE,
    ];
    args.extend_from_slice(extra);
    run(args)
}

/// The one device of `drift --format json` output.
pub fn json_device(stdout: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("drift --format json is not JSON ({e}):\n{stdout}"));
    let devices = v["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 1);
    devices[0].clone()
}

/// `compare` as `wardwall drift` runs it: beyond what the policy's own
/// rendering for the target, deployed, does too.
pub fn beyond_baseline(ir: &Ir, device: &Device) -> Comparison {
    let (file, reader) = super::readable(ir, device.target);
    let baseline = reader.deployed(ir, &file.contents, None).unwrap();
    compare(ir, device).beyond(&compare(ir, &baseline))
}

/// The traffic drift compares: between the addresses of the zones the
/// policy binds on `target`.
pub fn compared(ir: &Ir, target: Target) -> Space {
    let bound = AddrSet::union_all(
        ir.zones
            .iter()
            .filter(|z| z.bindings.contains_key(target.name()))
            .map(|z| &z.addrs),
    );
    Space::between(&bound, &bound)
}

/// The position of the policy rule `name` in [`Ir::rules`].
pub fn rule_index(ir: &Ir, name: &str) -> usize {
    ir.rules
        .iter()
        .position(|r| r.name == name)
        .unwrap_or_else(|| panic!("no rule {name}"))
}

/// All the traffic of `regions` of one kind.
pub fn union_of(regions: &[DriftRegion], kind: DriftKind) -> Space {
    regions
        .iter()
        .filter(|r| r.kind == kind)
        .fold(Space::empty(), |acc, r| acc.union(&r.space))
}

/// The device decision at `at`; `None` where no filter decides.
pub fn decision_at(d: &Device, at: At) -> Option<&Decision> {
    match at {
        At::Entry {
            layer,
            filter,
            entry,
        } => Some(&d.layers[layer].filters[filter].entries[entry].decision),
        At::Default { layer, filter } => Some(&d.layers[layer].filters[filter].default),
        At::Unfiltered { .. } => None,
    }
}

/// [`decision_at`] where a filter must decide.
pub fn filter_decision(d: &Device, at: At) -> &Decision {
    decision_at(d, at).unwrap_or_else(|| panic!("no filter decides {at:?}"))
}
