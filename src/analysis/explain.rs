//! The decision path of one packet: the zones and objects its addresses
//! resolve to, every earlier rule and the dimensions on which it failed to
//! match, and the deciding rule.

use std::fmt::Write;

use crate::diagnostics::SourceMap;
use crate::ir::{Ir, ObjectKind, Packet, Rule, Verdict};
use crate::model::Policy;

/// A dimension a rule can fail to match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    Source,
    Destination,
    Service,
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Source => "source",
            Dimension::Destination => "destination",
            Dimension::Service => "service",
        }
    }
}

/// A rule evaluated before the deciding one, and why it did not match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Index into [`Ir::rules`].
    pub rule: usize,
    /// Never empty.
    pub failed: Vec<Dimension>,
}

/// Why a packet gets its verdict.
#[derive(Clone, Debug)]
pub struct Explanation {
    pub packet: Packet,
    pub src_zone: Option<String>,
    pub dst_zone: Option<String>,
    /// Classes, groups and advisories (by kind, then name) holding the source.
    pub src_objects: Vec<(ObjectKind, String)>,
    pub dst_objects: Vec<(ObjectKind, String)>,
    /// Every rule before the deciding one, in order.
    pub skipped: Vec<Skipped>,
    pub verdict: Verdict,
}

/// The dimensions on which `rule` does not match `packet` (empty: it matches).
pub(crate) fn failed_dimensions(rule: &Rule, packet: &Packet) -> Vec<Dimension> {
    let mut out = Vec::new();
    if !rule.src.addrs.contains(packet.src) {
        out.push(Dimension::Source);
    }
    if !rule.dst.addrs.contains(packet.dst) {
        out.push(Dimension::Destination);
    }
    if !rule.service.set.matches(packet) {
        out.push(Dimension::Service);
    }
    out
}

/// The decision path of `packet`. Objects holding each address are taken
/// from `policy` when given (every class, group and advisory), else from the
/// IR (only the objects some rule refers to).
pub fn explain(ir: &Ir, policy: Option<&Policy>, packet: &Packet) -> Explanation {
    let verdict = ir.evaluate(packet);
    let until = verdict.rule.unwrap_or(ir.rules.len());
    let skipped = ir.rules[..until]
        .iter()
        .enumerate()
        .map(|(i, r)| Skipped {
            rule: i,
            failed: failed_dimensions(r, packet),
        })
        .collect();
    let all: Vec<(ObjectKind, &str, &crate::addrset::AddrSet)> = match policy {
        Some(p) => p
            .objects
            .values()
            .map(|o| (o.kind, o.name.as_str(), &o.addrs))
            .collect(),
        None => ir
            .objects
            .values()
            .map(|o| (o.kind, o.name.as_str(), &o.addrs))
            .collect(),
    };
    let objects = |addr| {
        let mut v: Vec<(ObjectKind, String)> = all
            .iter()
            .filter(|(k, _, a)| *k != ObjectKind::Zone && a.contains(addr))
            .map(|(k, n, _)| (*k, n.to_string()))
            .collect();
        v.sort_by_key(|(k, n)| (kind_rank(*k), n.clone()));
        v
    };
    Explanation {
        packet: *packet,
        src_zone: ir.zone_of(packet.src).map(|z| z.name.clone()),
        dst_zone: ir.zone_of(packet.dst).map(|z| z.name.clone()),
        src_objects: objects(packet.src),
        dst_objects: objects(packet.dst),
        skipped,
        verdict,
    }
}

fn kind_rank(k: ObjectKind) -> u8 {
    match k {
        ObjectKind::Class => 0,
        ObjectKind::Group => 1,
        ObjectKind::Advisory => 2,
        ObjectKind::Zone => 3,
    }
}

impl Explanation {
    /// The human-readable decision path.
    pub fn render(&self, ir: &Ir, sources: &SourceMap) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "packet: {}", self.packet);
        for (what, addr, zone, objs) in [
            ("source", self.packet.src, &self.src_zone, &self.src_objects),
            (
                "destination",
                self.packet.dst,
                &self.dst_zone,
                &self.dst_objects,
            ),
        ] {
            let _ = write!(
                s,
                "  {what} {addr} is in zone {}",
                zone.as_deref().unwrap_or("(none)")
            );
            if objs.is_empty() {
                let _ = writeln!(s);
            } else {
                let list: Vec<String> = objs
                    .iter()
                    .map(|(k, n)| format!("{} {n}", k.as_str()))
                    .collect();
                let _ = writeln!(s, "; {}", list.join(", "));
            }
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(s, "rules before the decision (first match wins):");
        }
        for sk in &self.skipped {
            let r = &ir.rules[sk.rule];
            let failed: Vec<&str> = sk.failed.iter().map(|d| d.as_str()).collect();
            let _ = writeln!(
                s,
                "  {:>3}. {} `{}` ({}): no match on {}",
                sk.rule + 1,
                r.action,
                r.name,
                sources.location(r.span),
                failed.join(", ")
            );
        }
        let v = &self.verdict;
        let log = if v.log { ", logged" } else { "" };
        match v.rule {
            Some(i) => {
                let r = &ir.rules[i];
                let _ = writeln!(
                    s,
                    "verdict: {} by rule `{}` ({}, rule {} of {}){log}",
                    v.action,
                    r.name,
                    sources.location(r.span),
                    i + 1,
                    ir.rules.len()
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "verdict: {} by the default rule (no rule matched){log}",
                    v.action
                );
            }
        }
        s
    }
}
