//! The decision path of one packet: the zones and objects its addresses
//! resolve to, every earlier rule and the dimensions on which it failed to
//! match, and the deciding rule.
//!
//! `explain --target T` answers from a target's rendered output parsed
//! back; a target makes that possible by implementing [`TargetEvaluator`]
//! and registering it in [`crate::registry::reader`].

use std::fmt::Write;

use crate::diagnostics::SourceMap;
use crate::ir::{Action, Ir, ObjectKind, Packet, Rule, Verdict};
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
pub fn failed_dimensions(rule: &Rule, packet: &Packet) -> Vec<Dimension> {
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

fn kind_name(k: ObjectKind) -> &'static str {
    match k {
        ObjectKind::Class => "class",
        ObjectKind::Group => "group",
        ObjectKind::Advisory => "advisory",
        ObjectKind::Zone => "zone",
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
                    .map(|(k, n)| format!("{} {n}", kind_name(*k)))
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

/// A target's decision for a packet, read from its rendered output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetVerdict {
    pub action: Action,
    /// The policy rule the deciding entry belongs to, as the output names it
    /// (`default` for the target's final deny); `None` when the deciding
    /// entry belongs to no policy rule (an implicit default, traffic that
    /// no filter sees).
    pub rule: Option<String>,
    /// Where the target filters the packet (interface, zone, ACL or chain).
    pub place: String,
    /// The deciding entry, quoted from the output (or what stands for it,
    /// e.g. "no ACL bound").
    pub entry: String,
    pub log: bool,
    /// Caveats about how far the answer holds on the device.
    pub notes: Vec<String>,
}

/// Evaluates a packet against a target's rendered output, parsed back.
///
/// A target implements this once it can parse its own output; `explain
/// --target` then compares the answer with the policy's.
pub trait TargetEvaluator {
    /// The target name (one of [`crate::vocab::Target`]).
    fn target(&self) -> &'static str;
    /// The extension of the rendered file this evaluator reads (the target
    /// may write several).
    fn extension(&self) -> &'static str;
    /// Parses `text` (a file the target's renderer wrote for `ir`, rendered
    /// now or read from disk) with the target's strict reader and evaluates
    /// `packet`, the first packet of a new flow, on what was read. The IR
    /// supplies only what the file cannot: where the packet enters (the
    /// zone bindings). An error means the file cannot be read back or the
    /// question cannot be answered from it.
    fn evaluate(&self, ir: &Ir, text: &str, packet: &Packet) -> Result<TargetVerdict, String>;
}

/// How a target's answer compares with the policy's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Agreement {
    Agrees,
    /// Human-readable reasons, never empty.
    Disagrees(Vec<String>),
}

/// Compares a target's answer with the policy's verdict: the packet must
/// pass or be dropped alike, and the deciding entry must belong to the
/// deciding rule (`default` for the default rule). A `reject` the target
/// renders as a drop agrees with a deny (the packet does not pass either
/// way); the actions are shown as they are.
pub fn compare(ir: &Ir, policy: &Verdict, target: &TargetVerdict) -> Agreement {
    let mut why = Vec::new();
    if policy.action.permits() != target.action.permits() {
        why.push(format!(
            "the policy says {}, the target says {}",
            policy.action, target.action
        ));
    }
    let rule = ir.verdict_rule_name(policy);
    // An answer tied to no rule (traffic the target never filters, an
    // implicit default) is held to the verdict only.
    if target.rule.as_deref().is_some_and(|r| r != rule) {
        why.push(format!(
            "the policy decides by `{rule}`, the target by {}",
            match &target.rule {
                Some(r) => format!("`{r}`"),
                None => "no policy rule".into(),
            }
        ));
    }
    if why.is_empty() {
        Agreement::Agrees
    } else {
        Agreement::Disagrees(why)
    }
}

impl TargetVerdict {
    /// The target's section of `explain --target`: where, which entry, the
    /// verdict, and whether it agrees with the policy.
    pub fn render(&self, target: &str, from: &str, agreement: &Agreement) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "target {target} ({from}):");
        let _ = writeln!(s, "  {}", self.place);
        let _ = writeln!(
            s,
            "  deciding entry ({}): {}",
            match &self.rule {
                Some(r) => format!("rule `{r}`"),
                None => "no policy rule".into(),
            },
            self.entry
        );
        let _ = writeln!(
            s,
            "  verdict: {}{}",
            self.action,
            if self.log { ", logged" } else { "" }
        );
        for note in &self.notes {
            let _ = writeln!(s, "  note: {note}");
        }
        match agreement {
            Agreement::Agrees => {
                let _ = writeln!(s, "{target} agrees with the policy");
            }
            Agreement::Disagrees(why) => {
                let _ = writeln!(s, "{target} DISAGREES with the policy: {}", why.join("; "));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ir() -> Ir {
        let dir = std::env::temp_dir().join(format!("ww-explain-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.kdl");
        std::fs::write(
            &path,
            r#"policy "t"
zone "a" {
    prefix "10.1.0.0/16"
}
zone "b" {
    prefix "10.2.0.0/16"
}
rules {
    reject "r1" {
        from "a"
        to "b"
        service "ssh"
    }
    allow "r2" {
        from "a"
        to "b"
        service "https"
    }
}"#,
        )
        .unwrap();
        let c = crate::compile(&path, "2026-01-01".parse().unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        c.ir.unwrap_or_else(|| panic!("{:?}", c.diagnostics))
    }

    fn answer(action: Action, rule: Option<&str>) -> TargetVerdict {
        TargetVerdict {
            action,
            rule: rule.map(str::to_string),
            place: String::new(),
            entry: String::new(),
            log: false,
            notes: Vec::new(),
        }
    }

    #[test]
    fn agreement_needs_the_verdict_and_the_rule() {
        let ir = ir();
        let reject = ir.evaluate(&Packet::parse("10.1.0.1", "10.2.0.1", "tcp/22").unwrap());
        assert_eq!(ir.verdict_rule_name(&reject), "r1");
        // A reject the target renders as a drop still stops the packet.
        assert_eq!(
            compare(&ir, &reject, &answer(Action::Deny, Some("r1"))),
            Agreement::Agrees
        );
        let Agreement::Disagrees(why) = compare(&ir, &reject, &answer(Action::Allow, Some("r1")))
        else {
            panic!("a pass is not a reject")
        };
        assert_eq!(why, ["the policy says reject, the target says allow"]);
        let Agreement::Disagrees(why) = compare(&ir, &reject, &answer(Action::Deny, Some("r2")))
        else {
            panic!("another rule decided")
        };
        assert_eq!(why, ["the policy decides by `r1`, the target by `r2`"]);
        // No rule on the target's side: held to the verdict only.
        assert_eq!(
            compare(&ir, &reject, &answer(Action::Deny, None)),
            Agreement::Agrees
        );
        let default = ir.evaluate(&Packet::parse("10.2.0.1", "10.1.0.1", "tcp/22").unwrap());
        assert_eq!(
            compare(&ir, &default, &answer(Action::Deny, Some("default"))),
            Agreement::Agrees
        );
        assert!(matches!(
            compare(&ir, &default, &answer(Action::Allow, None)),
            Agreement::Disagrees(_)
        ));
    }
}
