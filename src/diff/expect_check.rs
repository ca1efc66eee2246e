//! Expectations held against what a target really does: a device's own
//! export (`drift`) or a rendered file read back through its reader
//! (`check --rendered`).
//!
//! The drift comparison ([`super::drift::compare`]) gives, exactly, the
//! traffic on which the device's verdict differs from the policy's (its
//! regions, and the inherent ones its rendering has by design). The device
//! allows what the policy allows, minus its breakage, plus its exposure;
//! so a promise the policy keeps is broken on the device exactly by
//!
//! - exposure inside the promise's watched traffic, for `never` / `only`;
//! - breakage inside it, for `always`;
//!
//! and may be broken by undecidable traffic there (an FQDN, App-ID, ...).
//! A promise the policy itself breaks is `check`'s finding; here only what
//! the device adds is reported, with the device entry that decides it, so
//! a hand edit, drift or a renderer bug is named as such.

use serde::Serialize;

use crate::analysis::expect::{Promise, hull_text, promises};
use crate::analysis::space::Space;
use crate::ir::Ir;
use crate::model::Policy;
use crate::read::device::{Decision, Device};

use super::drift::{At, Comparison, DriftKind, DriftRegion};

/// A promise the device breaks (or may break) where the policy keeps it.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceBreak {
    /// The file the device was read from.
    pub file: String,
    pub expectation: String,
    /// `never`, `always` or `only`.
    pub kind: &'static str,
    /// `false`: the device certainly breaks it; `true`: it may
    /// (undecidable entries decide the traffic).
    pub maybe: bool,
    /// The smallest box holding the breaking traffic.
    pub traffic: String,
    /// One packet of it.
    pub packet: String,
    /// The device entry that decides that packet: `line:col: text`.
    pub entry: String,
    /// The expectation's name in the policy.
    #[serde(skip)]
    pub span: crate::diagnostics::Span,
}

impl DeviceBreak {
    /// `FILE: breaks expectation `x` (never): ...`, one line.
    pub fn line(&self) -> String {
        format!(
            "{}: {} expectation `{}` ({}): the broken traffic {}; e.g. {} is decided by {}",
            self.file,
            if self.maybe { "may break" } else { "breaks" },
            self.expectation,
            self.kind,
            self.traffic,
            self.packet,
            self.entry
        )
    }
}

/// The promises of `policy` (active on `date`) that `device`, compared
/// with the policy as `comparison`, breaks where the policy keeps them.
pub fn breaks(
    policy: &Policy,
    date: jiff::civil::Date,
    device: &Device,
    file: &str,
    comparison: &Comparison,
) -> Vec<DeviceBreak> {
    let (promises, _) = promises(policy, date);
    // Inherent differences (what the target's own rendering does too, by
    // design: pfSense's IPv6 system rules, stateless return entries) are
    // listed by drift as such and not held against the promises here.
    let regions: Vec<&DriftRegion> = comparison.regions.iter().collect();
    let mut out = Vec::new();
    for p in &promises {
        out.extend(promise_breaks(p, &regions, device, file));
    }
    out
}

fn promise_breaks(
    p: &Promise,
    regions: &[&DriftRegion],
    device: &Device,
    file: &str,
) -> Vec<DeviceBreak> {
    let watched = p.watched();
    let against = if p.forbids() {
        DriftKind::Exposure
    } else {
        DriftKind::Breakage
    };
    let mut out = Vec::new();
    for (kind, maybe) in [(against, false), (DriftKind::Undecidable, true)] {
        let mut space = Space::empty();
        let mut first: Option<(&DriftRegion, Space)> = None;
        for r in regions.iter().filter(|r| r.kind == kind) {
            let piece = r.space.intersection(&watched);
            if piece.is_empty() {
                continue;
            }
            space = space.union(&piece);
            if first.is_none() {
                first = Some((r, piece));
            }
        }
        let Some((region, piece)) = first else {
            continue;
        };
        let packet = piece.sample().expect("a non-empty space has a sample");
        out.push(DeviceBreak {
            file: file.to_string(),
            expectation: p.name.clone(),
            kind: p.kind.as_str(),
            maybe,
            traffic: hull_text(&space),
            packet: packet.to_string(),
            span: p.span,
            entry: region
                .device
                .last()
                .map_or("the device".to_string(), |&at| entry_text(device, at)),
        });
    }
    out
}

/// `line 12:3: deny ip any any` (or what stands for an implicit decision).
pub(crate) fn entry_text(device: &Device, at: At) -> String {
    let decision: Option<&Decision> = match at {
        At::Entry {
            layer,
            filter,
            entry,
        } => Some(&device.layers[layer].filters[filter].entries[entry].decision),
        At::Default { layer, filter } => Some(&device.layers[layer].filters[filter].default),
        At::Unfiltered { layer } => {
            return format!("no filter of {} (unfiltered)", device.layers[layer].name);
        }
    };
    let Some(d) = decision else {
        return "the device".into();
    };
    let origin = &d.origin;
    let rule = origin
        .rule
        .as_deref()
        .map(|r| format!(" (rule `{r}`)"))
        .unwrap_or_default();
    if origin.line == 0 {
        format!("`{}`{rule}", origin.text)
    } else {
        format!(
            "line {}:{}: `{}`{rule}",
            origin.line, origin.column, origin.text
        )
    }
}

/// The promises the file `text` (this target's file for `ir`, read back
/// through its reader as deployed) breaks where the policy keeps them,
/// beyond what the target's fresh rendering does by design: a hand edit
/// or a stale file.
pub fn rendered_breaks(
    policy: &Policy,
    ir: &Ir,
    date: jiff::civil::Date,
    target: crate::vocab::Target,
    options: &crate::registry::TargetOptions,
    text: &str,
    file: &str,
) -> Result<Vec<DeviceBreak>, String> {
    let reader = crate::registry::reader(target);
    let device = reader
        .deployed(ir, text, None)
        .map_err(|e| format!("{file}: cannot be read back as {target}: {e}"))?;
    let mut comparison = super::drift::compare(ir, &device);
    comparison.set_apart_inherent(ir, target, options, None)?;
    Ok(breaks(policy, date, &device, file, &comparison))
}

impl DeviceBreak {
    /// The finding as a diagnostic at the expectation, for `check`.
    pub fn diagnostic(&self) -> crate::diagnostics::Diagnostic {
        crate::diagnostics::Diagnostic::error(
            "expectation-violated-on-target",
            format!(
                "{} {} expectation `{}` ({}), which the policy keeps",
                self.file,
                if self.maybe { "may break" } else { "breaks" },
                self.expectation,
                self.kind
            ),
        )
        .at(self.span, format!("broken in {}", self.file))
        .help(format!(
            "the broken traffic {}; e.g. {} is decided by {}: the file was edited by hand, or its renderer is wrong — rebuild it (`wardwall build`) and compare",
            self.traffic, self.packet, self.entry
        ))
    }
}
