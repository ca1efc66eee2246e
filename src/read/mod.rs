//! Readers: a target's configuration text → a decision model → which entry
//! decides a packet. `explain --target` answers from them (and compares the
//! answer with the policy's, [`compare`]); the tests hold every renderer's
//! output to the IR's reference evaluator through them.
//!
//! This layer sits beside `render`, not under it: a reader knows its
//! device's language from the device's documentation and never borrows the
//! renderer's tables, limits or helpers, because a mistake the two shared
//! would round-trip green. It imports only the earlier stages it needs
//! (`ir`, `vocab`, `addrset`, `catalogue`, `diagnostics`), never `analysis`
//! or `render`; `tests::readers_import_neither_analysis_nor_render` holds
//! every file here to that.
//!
//! One module per target; each registers in [`crate::registry::reader`].

pub mod cisco;
pub mod device;
pub mod export;
pub mod nftables;
pub mod panos;
pub mod pfsense;
pub(crate) mod xml;

use std::fmt::Write;

use crate::ir::{Action, Ir, Packet, Verdict};
use crate::vocab::Target;

/// A target's decision for a packet, read from its configuration text.
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

/// Parses a target's configuration text into its decision model and
/// evaluates a packet on it.
pub trait Reader {
    /// The target this reader reads.
    fn target(&self) -> Target;
    /// The extension of the rendered file this reader reads (the target
    /// may write several).
    fn extension(&self) -> &'static str;
    /// Parses `text` (a file the target's renderer wrote for `ir`, rendered
    /// now or read from disk) with the target's strict reader and evaluates
    /// `packet`, the first packet of a new flow, on what was read. The IR
    /// supplies only what the file cannot: where the packet enters (the
    /// zone bindings). An error means the file cannot be read back or the
    /// question cannot be answered from it.
    fn evaluate(&self, ir: &Ir, text: &str, packet: &Packet) -> Result<TargetVerdict, String>;
    /// Reads the configuration a device really runs, as the device itself
    /// prints or exports it (not only as wardwall writes it), into the
    /// target-neutral [`device::Device`] model. Errors carry the line and
    /// column of what is not understood.
    fn device(&self, text: &str) -> Result<device::Device, device::DeviceError>;
    /// What a device runs once `rendered` (this target's file, as wardwall
    /// wrote it for `ir`) is deployed on it: `drift`'s baseline, which holds
    /// everything the target does differently from the policy by design
    /// (stateless return entries, implicit permits, App-ID rules). The file
    /// itself, read as a device export, unless the target's files are
    /// fragments a device merges into its configuration; `onto` is the
    /// device's own export, for a target whose deployment keeps part of it
    /// (pfSense restores two areas into the device's configuration).
    fn deployed(
        &self,
        ir: &Ir,
        rendered: &str,
        onto: Option<&str>,
    ) -> Result<device::Device, device::DeviceError> {
        let _ = (ir, onto);
        self.device(rendered)
    }
}

/// The caveat every reader adds when source and destination sit on the
/// same side of the device: traffic within one subnet is delivered on the
/// segment and never meets the filter the answer comes from. `together`
/// says where both are ("both behind em1"), `unseen` what the device then
/// misses ("never reaches pfSense ...").
pub(crate) fn same_subnet_note(together: &str, unseen: &str) -> String {
    format!("source and destination are {together}: if they share a subnet the packet {unseen}")
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
        let dir = std::env::temp_dir().join(format!("ww-read-{}", std::process::id()));
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

    /// Every reader's source, named for the failure message. Listed here,
    /// not found by walking the directory at run time, so a reader added
    /// without an entry fails `every_reader_module_is_scanned` instead of
    /// going unchecked.
    const READERS: &[(&str, &str)] = &[
        ("mod.rs", include_str!("mod.rs")),
        ("cisco.rs", include_str!("cisco.rs")),
        ("nftables.rs", include_str!("nftables.rs")),
        ("panos.rs", include_str!("panos.rs")),
        ("pfsense.rs", include_str!("pfsense.rs")),
        ("device.rs", include_str!("device.rs")),
        ("export/mod.rs", include_str!("export/mod.rs")),
        ("export/cisco.rs", include_str!("export/cisco.rs")),
        (
            "export/cisco_tables.rs",
            include_str!("export/cisco_tables.rs"),
        ),
        ("export/nftables.rs", include_str!("export/nftables.rs")),
        (
            "export/nftables_json.rs",
            include_str!("export/nftables_json.rs"),
        ),
        (
            "export/nftables_json_tree.rs",
            include_str!("export/nftables_json_tree.rs"),
        ),
        (
            "export/nftables_lower.rs",
            include_str!("export/nftables_lower.rs"),
        ),
        (
            "export/nftables_text.rs",
            include_str!("export/nftables_text.rs"),
        ),
        ("export/panos.rs", include_str!("export/panos.rs")),
        ("export/pfsense.rs", include_str!("export/pfsense.rs")),
        (
            "export/cisco_inventory.rs",
            include_str!("export/cisco_inventory.rs"),
        ),
        ("export/inventory.rs", include_str!("export/inventory.rs")),
        (
            "export/nftables_inventory.rs",
            include_str!("export/nftables_inventory.rs"),
        ),
        (
            "export/panos_inventory.rs",
            include_str!("export/panos_inventory.rs"),
        ),
        (
            "export/pfsense_inventory.rs",
            include_str!("export/pfsense_inventory.rs"),
        ),
        ("xml.rs", include_str!("xml.rs")),
    ];

    /// A reader takes nothing from the renderer (tables, limits, names: a
    /// mistake they shared would read back green) and nothing from
    /// analysis, an earlier stage that must not depend on this one. The
    /// test modules are scanned too: a unit test that asks the renderer
    /// for its output tests the renderer, and belongs with it.
    #[test]
    fn readers_import_neither_analysis_nor_render() {
        // Built from parts so this file's own source does not match.
        // Any path through either module, however it is reached
        // (from `crate`, two levels of `super`, a grouped `use`).
        let forbidden = [
            ["analysis", "::"].concat(),
            ["render", "::"].concat(),
            ["super", "::super"].concat(),
        ];
        for (name, source) in READERS {
            for word in &forbidden {
                assert!(
                    !source.contains(word.as_str()),
                    "src/read/{name} uses `{word}`"
                );
            }
        }
    }

    #[test]
    fn every_reader_module_is_scanned() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/read");
        let mut on_disk: Vec<String> = Vec::new();
        for sub in ["", "export/"] {
            for e in std::fs::read_dir(dir.join(sub)).unwrap() {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                if name.ends_with(".rs") {
                    on_disk.push(format!("{sub}{name}"));
                }
            }
        }
        on_disk.sort();
        let mut listed: Vec<&str> = READERS.iter().map(|(n, _)| *n).collect();
        listed.sort();
        assert_eq!(on_disk, listed);
    }
}
