//! The drift report: [`super::drift::compare`]'s regions as boxes of
//! traffic in the traffic diff's terms (the policy's names for address
//! sets, the same service text and risk codes), each with the device entry
//! that decides it (file, line, text) and the policy rule, worst first; as
//! terminal text, Markdown or JSON.

use std::fmt::Write as _;

use serde::Serialize;

use super::drift::{At, Comparison, DriftKind, DriftRegion};
use super::traffic::{
    self, Addresses, ChangeKind, Context, Decision, Highlight, HighlightKind, Namer, Phrase, Risk,
    Severity, service_text,
};
use crate::analysis::space::Cube;
use crate::ir::{Action, Family, Ir, RuleOrigin};
use crate::read::device::{Decision as DeviceDecision, Device};

/// Inherent differences shown in text (the JSON has them all).
pub const INHERENT_SHOWN: usize = 10;

/// One device compared with the policy.
#[derive(Clone, Debug, Serialize)]
pub struct DriftReport {
    /// The target's name.
    pub target: String,
    /// The device file as given.
    pub file: String,
    pub summary: DriftSummary,
    /// Worst first.
    pub findings: Vec<DriftFinding>,
    /// Differences the policy's own rendering for this target has too:
    /// what the target does differently by design (not counted as drift).
    pub inherent: Vec<DriftFinding>,
    /// Inherent boxes counted but not described ([`Listing::First`]).
    #[serde(skip)]
    pub inherent_unlisted: usize,
    /// Traffic left out of the comparison, and why.
    pub not_compared: Vec<String>,
    /// What the file holds that decides no forwarded traffic.
    pub skipped: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct DriftSummary {
    /// Boxes of traffic the device allows and the policy does not.
    pub exposure: usize,
    /// Boxes the policy allows and the device does not.
    pub breakage: usize,
    /// Boxes where the device's verdict cannot be decided offline.
    pub undecidable: usize,
}

/// One box of traffic on which the device and the policy differ.
#[derive(Clone, Debug, Serialize)]
pub struct DriftFinding {
    pub kind: DriftKind,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    pub src: Addresses,
    pub dst: Addresses,
    pub service: String,
    /// A packet of the box: `explain` it to see both sides.
    pub example: String,
    /// What the policy does with it, and by which rule.
    pub policy: Decision,
    /// What the device does with it: the verdict and the entries that lead
    /// to it (one per layer the traffic passes; the last decides).
    pub device: DeviceVerdict,
    /// For undecidable traffic: the entry that may or may not match.
    pub undecided: Option<DeviceEntry>,
    pub code: Risk,
    pub severity: Severity,
    pub highlights: Vec<Highlight>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DeviceVerdict {
    pub action: Action,
    pub entries: Vec<DeviceEntry>,
}

/// A device entry as the device prints it, and where.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceEntry {
    /// The filter it belongs to (`ACL MEDICAL-IN in on Vlan120`).
    pub filter: String,
    /// 1-based; 0 for a decision no line states (an implicit deny).
    pub line: usize,
    pub column: usize,
    pub text: String,
    /// The policy rule the entry names, if it names one.
    pub rule: Option<String>,
    /// Why it cannot be evaluated (undecidable entries only).
    pub reason: Option<String>,
}

/// How many inherent boxes a report describes (the rest are counted):
/// naming boxes costs, and text lists only the first few.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    All,
    First(usize),
}

/// The report for one device.
pub fn report(
    ir: &Ir,
    device: &Device,
    file: &str,
    comparison: &Comparison,
    ctx: &Context,
    inherent_listing: Listing,
) -> DriftReport {
    let names = Namer::new(ir, ir);
    let advisories = traffic::advisories(&[ir]);
    let build = |regions: &[DriftRegion], listing: Listing| {
        let mut boxes = Vec::new();
        for region in regions {
            boxes_of(ir, region, ctx, &advisories, &mut boxes);
        }
        // Worst risk first, then exposure before breakage before
        // undecidable; stable, so ties keep the device's order.
        boxes.sort_by_key(|b: &Pending| (b.code, b.region.kind));
        let total = boxes.len();
        if let Listing::First(n) = listing {
            boxes.truncate(n);
        }
        let listed: Vec<DriftFinding> = boxes
            .into_iter()
            .map(|b| b.finding(ir, device, &names))
            .collect();
        (total - listed.len(), listed)
    };
    let (_, findings) = build(&comparison.regions, Listing::All);
    let (inherent_unlisted, inherent) = build(&comparison.inherent, inherent_listing);
    let count = |k| findings.iter().filter(|f| f.kind == k).count();
    DriftReport {
        target: device.target.name().to_string(),
        file: file.to_string(),
        summary: DriftSummary {
            exposure: count(DriftKind::Exposure),
            breakage: count(DriftKind::Breakage),
            undecidable: count(DriftKind::Undecidable),
        },
        findings,
        inherent,
        inherent_unlisted,
        not_compared: comparison.not_compared.clone(),
        skipped: device.skipped.clone(),
    }
}

/// One box of a region, with what ranks it, not yet described.
struct Pending<'r> {
    region: &'r DriftRegion,
    cube: &'r Cube,
    code: Risk,
    severity: Severity,
    highlights: Vec<Highlight>,
}

/// The boxes of one region, ranked.
fn boxes_of<'r>(
    ir: &Ir,
    region: &'r DriftRegion,
    ctx: &Context,
    advisories: &[(String, crate::addrset::AddrSet)],
    out: &mut Vec<Pending<'r>>,
) {
    let policy = traffic::decision(ir, region.policy);
    for cube in region.space.cubes() {
        let mut highlights = policy_highlights(ir, region);
        let change = match region.kind {
            DriftKind::Exposure => ChangeKind::NewlyAllowed,
            DriftKind::Breakage => ChangeKind::NewlyDenied,
            DriftKind::Undecidable if policy.action.permits() => ChangeKind::NewlyDenied,
            DriftKind::Undecidable => ChangeKind::NewlyAllowed,
        };
        highlights.extend(traffic::reach_highlights(
            ctx,
            Phrase::Drift,
            advisories,
            change,
            cube,
        ));
        highlights.sort_by_key(|h| h.code);
        let (code, severity) = highlights
            .iter()
            .map(|h| (h.code, h.severity))
            .min()
            .unwrap_or((Risk::Other, Severity::Low));
        out.push(Pending {
            region,
            cube,
            code,
            severity,
            highlights,
        });
    }
}

impl Pending<'_> {
    fn finding(self, ir: &Ir, device: &Device, names: &Namer) -> DriftFinding {
        let (region, cube) = (self.region, self.cube);
        let family = cube.family;
        DriftFinding {
            kind: region.kind,
            family: match family {
                Family::V4 => "ipv4",
                Family::V6 => "ipv6",
            },
            src: names.describe(family, &cube.src),
            dst: names.describe(family, &cube.dst),
            service: service_text(family, &cube.svc),
            example: cube.sample().map(|p| p.to_string()).unwrap_or_default(),
            policy: traffic::decision(ir, region.policy),
            device: device_verdict(device, region),
            undecided: region
                .undecided
                .as_ref()
                .map(|(at, why)| entry(device, *at, Some(why.clone()))),
            code: self.code,
            severity: self.severity,
            highlights: self.highlights,
        }
    }
}

/// An advisory block or absolute rule the device does not honour.
fn policy_highlights(ir: &Ir, region: &DriftRegion) -> Vec<Highlight> {
    let Some(rule) = region.policy.map(|i| &ir.rules[i]) else {
        return Vec::new();
    };
    let exposed = region.kind != DriftKind::Breakage && !rule.action.permits();
    let (kind, code, what) = match &rule.origin {
        RuleOrigin::AdvisoryBlock { advisory, .. } => (
            HighlightKind::AdvisoryBlock,
            if exposed {
                Risk::AdvisoryBlockWeakened
            } else {
                Risk::AdvisoryBlockChanged
            },
            format!("advisory block {} (advisory {advisory})", rule.name),
        ),
        _ if rule.absolute => (
            HighlightKind::AbsoluteRule,
            if exposed {
                Risk::AbsoluteBlockWeakened
            } else {
                Risk::AbsoluteBlockChanged
            },
            format!("absolute rule {}", rule.name),
        ),
        _ => return Vec::new(),
    };
    vec![Highlight::new(
        kind,
        code,
        format!("the policy decides this by {what}"),
    )]
}

fn device_verdict(device: &Device, region: &DriftRegion) -> DeviceVerdict {
    let entries: Vec<DeviceEntry> = region
        .device
        .iter()
        .map(|&at| entry(device, at, None))
        .collect();
    let action = region
        .device
        .last()
        .map_or(Action::Allow, |&at| decision_at(device, at).0);
    DeviceVerdict { action, entries }
}

/// The action at `at` and, for a filter's decision, the decision.
fn decision_at(device: &Device, at: At) -> (Action, Option<&DeviceDecision>) {
    match at {
        At::Entry {
            layer,
            filter,
            entry,
        } => {
            let d = &device.layers[layer].filters[filter].entries[entry].decision;
            (d.action, Some(d))
        }
        At::Default { layer, filter } => {
            let d = &device.layers[layer].filters[filter].default;
            (d.action, Some(d))
        }
        At::Unfiltered { layer } => (device.layers[layer].unfiltered, None),
    }
}

fn entry(device: &Device, at: At, reason: Option<String>) -> DeviceEntry {
    let layer = match at {
        At::Entry { layer, .. } | At::Default { layer, .. } | At::Unfiltered { layer } => layer,
    };
    let (filter, decision) = match at {
        At::Entry { filter, .. } | At::Default { filter, .. } => (
            device.layers[layer].filters[filter].name.clone(),
            decision_at(device, at).1,
        ),
        At::Unfiltered { .. } => (device.layers[layer].name.clone(), None),
    };
    match decision {
        Some(d) => DeviceEntry {
            filter,
            line: d.origin.line,
            column: d.origin.column,
            text: d.origin.text.clone(),
            rule: d.origin.rule.clone(),
            reason,
        },
        None => DeviceEntry {
            text: format!(
                "no filter of {filter} applies: {}",
                device.layers[layer].unfiltered
            ),
            filter,
            line: 0,
            column: 0,
            rule: None,
            reason,
        },
    }
}

impl DriftReport {
    /// Inherent boxes, described or only counted.
    pub(crate) fn inherent_count(&self) -> usize {
        self.inherent.len() + self.inherent_unlisted
    }

    /// Device and policy agree everywhere that was compared.
    pub fn agrees(&self) -> bool {
        self.findings.is_empty()
    }

    /// `nftables (fw1.nft): 1 exposure, 0 breakage, 0 undecidable`.
    pub(crate) fn summary_line(&self) -> String {
        let s = &self.summary;
        format!(
            "{} ({}): {} exposure, {} breakage, {} undecidable",
            self.target, self.file, s.exposure, s.breakage, s.undecidable
        )
    }

    pub fn to_text(&self, colour: bool) -> String {
        let paint = |code: &str, s: &str| {
            if colour {
                format!("\x1b[{code}m{s}\x1b[0m")
            } else {
                s.to_string()
            }
        };
        let mut out = String::new();
        if self.agrees() {
            let _ = writeln!(
                out,
                "{} ({}): the device agrees with the policy",
                self.target, self.file
            );
        } else {
            let _ = writeln!(out, "{}", paint("1", &self.summary_line()));
        }
        for f in &self.findings {
            let code = match f.kind {
                DriftKind::Exposure => "31",
                DriftKind::Breakage => "33",
                DriftKind::Undecidable => "35",
            };
            let _ = writeln!(out, "{}", paint(code, &f.line()));
            // The whole way: an allow's last entry is the last layer's
            // (often a default), not the one that let the traffic in.
            for e in f.undecided.iter().chain(
                f.device
                    .entries
                    .iter()
                    .filter(|e| f.undecided.as_ref().is_none_or(|u| !u.same_entry(e))),
            ) {
                let _ = writeln!(out, "    {}", e.located(&self.file));
            }
            for h in &f.highlights {
                let _ = writeln!(out, "{}", paint("1;33", &format!("    ! {}", h.tagged())));
            }
        }
        let inherent = self.inherent_count();
        if inherent > 0 {
            let _ = writeln!(
                out,
                "inherent to {} (wardwall's own rendering of the policy does the same; not drift): {inherent}",
                self.target,
            );
            for f in self.inherent.iter().take(INHERENT_SHOWN) {
                let _ = writeln!(out, "  {}", f.line());
            }
            if inherent > INHERENT_SHOWN {
                let _ = writeln!(
                    out,
                    "  ... and {} more (--format json lists them all)",
                    inherent - INHERENT_SHOWN
                );
            }
        }
        for n in &self.not_compared {
            let _ = writeln!(out, "not compared: {n}");
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(
                out,
                "skipped (decides no forwarded traffic): {}",
                self.skipped.join(", ")
            );
        }
        out
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### Drift: {} (`{}`)\n", self.target, self.file);
        if self.agrees() {
            let _ = writeln!(out, "The device agrees with the policy.\n");
        } else {
            let s = &self.summary;
            let _ = writeln!(
                out,
                "**{} exposure, {} breakage, {} undecidable**\n",
                s.exposure, s.breakage, s.undecidable
            );
            let _ = writeln!(
                out,
                "| | kind | risk | from | to | service | device | policy |\n|---|---|---|---|---|---|---|---|"
            );
            for f in &self.findings {
                let way: Vec<String> = f
                    .undecided
                    .iter()
                    .chain(
                        f.device
                            .entries
                            .iter()
                            .filter(|e| f.undecided.as_ref().is_none_or(|u| !u.same_entry(e))),
                    )
                    .map(|e| md(&e.located(&self.file)))
                    .collect();
                let _ = writeln!(
                    out,
                    "| {} | {} | {} `{}` | {} | {} | {} | {} {} | {} by {} |",
                    f.sign(),
                    f.kind.as_str(),
                    f.severity,
                    f.code.code(),
                    md(&f.src.text()),
                    md(&f.dst.text()),
                    md(&f.service),
                    f.device.action,
                    way.join(", then "),
                    f.policy.action,
                    md(&f.policy.by()),
                );
            }
            out.push('\n');
        }
        if self.inherent_count() > 0 {
            let _ = writeln!(
                out,
                "- inherent to {} (wardwall's own rendering of the policy does the same; not drift): {} boxes",
                self.target,
                self.inherent_count()
            );
        }
        for n in &self.not_compared {
            let _ = writeln!(out, "- not compared: {}", md(n));
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(
                out,
                "- skipped (decides no forwarded traffic): {}",
                md(&self.skipped.join(", "))
            );
        }
        out
    }
}

/// Table cells hold no pipes or line breaks; backticks would open code.
fn md(s: &str) -> String {
    s.replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('`', "'")
}

impl DriftKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DriftKind::Exposure => "exposure",
            DriftKind::Breakage => "breakage",
            DriftKind::Undecidable => "undecidable",
        }
    }
}

impl DriftFinding {
    fn sign(&self) -> char {
        match self.kind {
            DriftKind::Exposure => '+',
            DriftKind::Breakage => '-',
            DriftKind::Undecidable => '?',
        }
    }

    /// `+ exposure  src → dst  service  device allow, policy deny by rule x`;
    /// undecidable traffic: `device may allow` (if the entry matches).
    pub fn line(&self) -> String {
        let may = if self.kind == DriftKind::Undecidable {
            "may "
        } else {
            ""
        };
        format!(
            "{} {:<11}  {} → {}  {}  device {may}{}, policy {} by {}",
            self.sign(),
            self.kind.as_str(),
            self.src.text(),
            self.dst.text(),
            self.service,
            self.device.action,
            self.policy.action,
            self.policy.by(),
        )
    }
}

impl DeviceEntry {
    /// The same device entry (a reason aside).
    fn same_entry(&self, other: &DeviceEntry) -> bool {
        (&self.filter, self.line, self.column, &self.text)
            == (&other.filter, other.line, other.column, &other.text)
    }

    /// `fw.nft:42:3: ip saddr 10.0.0.0/8 accept (filter ...)`.
    pub(crate) fn located(&self, file: &str) -> String {
        let reason = self
            .reason
            .as_ref()
            .map_or(String::new(), |r| format!(" — undecidable: {r}"));
        if self.line == 0 {
            format!("{file}: {} ({}){reason}", self.text, self.filter)
        } else {
            format!(
                "{file}:{}:{}: {} ({}){reason}",
                self.line, self.column, self.text, self.filter
            )
        }
    }
}
