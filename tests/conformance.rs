//! Conformance: every registered target (`wardwall::vocab::Target::ALL`)
//! renders every shipped policy (`policies/*.kdl`) through the registry,
//! reads the rendered file back with the registry's reader, and decides
//! every packet of a shared set as the IR's reference evaluator
//! (`Ir::evaluate`) does: the packet passes or not alike, and the deciding
//! entry belongs to the deciding rule. The set is the hospital probes
//! (`tests/common/probes.rs`) for the hospital policy, plus edge packets
//! (`tests/common/edge_packets.rs`) for every policy. The test policies
//! under `tests/policies/*.kdl` are held to the same where the target
//! renders them (some are written to be refused by some targets).
//!
//! It fails if a target's renderer refuses a shipped policy, if its reader
//! cannot read what its renderer wrote or cannot answer a packet, or if any
//! answer disagrees with the IR. The comparison is written out here rather
//! than taken from `explain --target`'s `compare`, so a fault there cannot
//! hide one here. Targets are reached only through `wardwall::registry`
//! and the reader trait (imported once, in `tests/common`).

use std::path::{Path, PathBuf};

use crate::common::{self, Reader, probes::HOSPITAL_PROBES, probes::PROBE_DATE};
use wardwall::ir::{Ir, Packet, Proto};
use wardwall::vocab::Target;

/// Edge packets per policy and target: enough to reach every rule's
/// address and port edges of the shipped policies, few enough that the
/// reader (which parses the file again for each packet) stays fast in a
/// debug build.
const EDGE_PACKETS: usize = 400;

/// The packets a policy is held to: its probes (the hospital's) and edge
/// packets, each with a label for the failure message.
fn packets(path: &Path, ir: &Ir, seed: u64) -> Vec<(String, Packet)> {
    let mut out = Vec::new();
    if path == common::hospital() {
        for probe in HOSPITAL_PROBES {
            let packet = Packet::parse(probe.src, probe.dst, probe.proto)
                .unwrap_or_else(|e| panic!("probe {}: {e}", probe.what));
            out.push((format!("probe `{}`", probe.what), packet));
        }
        assert!(!out.is_empty(), "the hospital has probes");
    }
    for (i, packet) in common::edge_packets::edge_packets(ir, seed, EDGE_PACKETS)
        .into_iter()
        .enumerate()
    {
        out.push((format!("edge packet {i}"), packet));
    }
    out
}

/// Every disagreement of `target` with the IR on `policy`'s packets (empty
/// when they agree); the number of packets compared.
fn disagreements(target: Target, path: &Path, ir: &Ir, seed: u64) -> (Vec<String>, usize) {
    disagreements_of(target, path, ir, seed, str::to_string)
}

/// [`disagreements`] on the rendered file as `edit` changes it (the
/// tampering tests below).
fn disagreements_of(
    target: Target,
    path: &Path,
    ir: &Ir,
    seed: u64,
    edit: impl Fn(&str) -> String,
) -> (Vec<String>, usize) {
    let (mut file, reader): (_, Box<dyn Reader>) = common::readable(ir, target);
    file.contents = edit(&file.contents);
    let mut wrong = Vec::new();
    let packets = packets(path, ir, seed);
    for (what, packet) in &packets {
        let policy = ir.evaluate(packet);
        let want_rule = ir.verdict_rule_name(&policy);
        let at = format!(
            "{target} on {} ({}), {what} {packet:?}",
            path.display(),
            file.path.display()
        );
        let answer = match reader.evaluate(ir, &file.contents, packet) {
            Ok(answer) => answer,
            Err(e) => {
                wrong.push(format!("{at}: the reader cannot answer: {e}"));
                continue;
            }
        };
        if answer.action.permits() != policy.action.permits()
            && !(target == Target::Cisco && neighbour_discovery(packet, &policy, &answer))
        {
            wrong.push(format!(
                "{at}: the IR says {} by `{want_rule}`, the target {} by {:?} ({})",
                policy.action, answer.action, answer.rule, answer.entry
            ));
        }
        // An answer tied to no policy rule (traffic the target never
        // filters, an implicit default) is held to the verdict only, as
        // the reader's contract says; one tied to a rule must name the
        // IR's.
        if let Some(rule) = &answer.rule
            && rule != want_rule
        {
            wrong.push(format!(
                "{at}: the IR decides by `{want_rule}`, the target by `{rule}` ({})",
                answer.entry
            ));
        }
    }
    (wrong, packets.len())
}

/// The one designed difference from the IR: Cisco permits IPv6 neighbour
/// discovery (ICMPv6 135/136) that the IR leaves to its default, by an entry
/// of no policy rule before the explicit final deny, which would otherwise
/// kill neighbour discovery (`src/render/cisco/mod.rs`, ACL layout item 4;
/// `tests/cisco.rs` expects the same). Only that: a packet some policy rule
/// decides is held to the rule.
fn neighbour_discovery(
    packet: &Packet,
    policy: &wardwall::ir::Verdict,
    answer: &common::ReaderVerdict,
) -> bool {
    packet.src.is_ipv6()
        && matches!(packet.proto, Proto::Icmp { ty: 135 | 136 })
        && policy.rule.is_none()
        && answer.rule.is_none()
        && answer.action.permits()
}

/// The policies under `dir` (`*.kdl`, not recursing), sorted.
fn kdl_files(dir: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    found.sort();
    found
}

/// Holds `target` to the IR on every shipped policy (which it must render)
/// and on every test policy it renders.
fn conforms(target: Target) {
    let shipped = common::shipped_policies();
    assert!(
        shipped.iter().any(|p| p == common::hospital())
            && shipped.iter().any(|p| p == common::clinic()),
        "the shipped policies are found: {shipped:?}"
    );
    let mut wrong = Vec::new();
    let mut compared = 0;
    for (i, path) in shipped
        .iter()
        .chain(&kdl_files("tests/policies"))
        .enumerate()
    {
        let ir = common::compile_ok(path, PROBE_DATE);
        let is_shipped = i < shipped.len();
        if let Err(refused) = common::try_render(&ir, target) {
            // A shipped policy must render on every target; a test policy
            // may be one the target cannot express.
            assert!(
                !is_shipped,
                "{target} refuses the shipped {}: {refused:?}",
                path.display()
            );
            continue;
        }
        let (w, n) = disagreements(target, path, &ir, 0xc0f0_0000 + i as u64);
        wrong.extend(w);
        compared += n;
    }
    // Not vacuous: at least the hospital's probes and every shipped
    // policy's edge packets were compared.
    assert!(
        compared >= HOSPITAL_PROBES.len() + shipped.len() * EDGE_PACKETS,
        "{target}: only {compared} packets compared"
    );
    assert!(
        wrong.is_empty(),
        "{} disagreement(s) of {target} with the IR:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// One test per target (they run in parallel), and the list of targets
/// they check.
macro_rules! per_target {
    ($($test:ident => $target:expr),* $(,)?) => {
        const CHECKED: &[Target] = &[$($target),*];
        $(
            #[test]
            fn $test() {
                conforms($target);
            }
        )*
    };
}

per_target! {
    nftables_decides_as_the_ir => Target::Nftables,
    pfsense_decides_as_the_ir => Target::PfSense,
    cisco_decides_as_the_ir => Target::Cisco,
    panos_decides_as_the_ir => Target::Panos,
}

/// A target added to the registry fails here until it has a test above.
#[test]
fn every_registered_target_is_checked() {
    assert_eq!(CHECKED, Target::ALL.as_slice());
}

/// The harness can fail: a hospital rendering with its advisory block
/// turned into a pass must be reported as a disagreement on the Contec
/// probe, for every target.
#[test]
fn a_tampered_rendering_disagrees_on_every_target() {
    let ir = common::compile_ok(common::hospital(), PROBE_DATE);
    // Replaces every `from` by `to`, at least once.
    let swap = |from: &'static str, to: &'static str| {
        move |text: &str| {
            assert!(text.contains(from), "{from} not in the rendering");
            text.replace(from, to)
        }
    };
    for target in Target::ALL {
        let edit: Box<dyn Fn(&str) -> String> = match target {
            Target::Nftables => Box::new(swap(
                "\"wardwall deny contec-cms8000.out: \" drop",
                "\"wardwall deny contec-cms8000.out: \" accept",
            )),
            Target::Cisco => Box::new(swap(
                "deny ip 10.20.8.0 0.0.0.255 202.114.4.0 0.0.0.255 log",
                "permit ip 10.20.8.0 0.0.0.255 202.114.4.0 0.0.0.255 log",
            )),
            Target::PfSense => Box::new(swap("<type>block</type>", "<type>pass</type>")),
            Target::Panos => Box::new(swap("<action>drop</action>", "<action>allow</action>")),
        };
        let (wrong, _) = disagreements_of(target, common::hospital(), &ir, 1, edit);
        assert!(
            wrong.iter().any(|w| w.contains("probe `contec monitor")),
            "{target}: the tampered rendering was not caught: {wrong:?}"
        );
    }
}

/// Why a rule is there and who answers for it reads the same on every
/// target (`wardwall::render::note`): a short rule's owner, ticket and
/// expiry, and an exception's parent, appear in each target's own field.
#[test]
fn every_target_carries_the_same_bookkeeping() {
    let policy = r#"policy "notes"
zone "devices" {
    prefix "10.20.0.0/16"
    interface nftables="dev0" pfsense="opt1" cisco="Vlan20" panos="devices"
}
zone "servers" {
    prefix "10.10.0.0/24"
    interface nftables="srv0" pfsense="opt2" cisco="Vlan10" panos="servers"
}
rules {
    allow "ntp" {
        from "devices"
        to "servers"
        service "ntp"
        owner "biomed"
        ticket "CHG-7"
        expires "2027-01-31"
    }
    deny "no-ssh" {
        from "devices"
        to "servers"
        service "ssh"
        exception "jump" {
            from "10.20.0.9"
            to "servers"
            service "ssh"
        }
    }
}
"#;
    let ir = common::compile_text_ok("notes.kdl", policy, PROBE_DATE);
    for target in Target::ALL {
        let text: String = common::render(&ir, target)
            .iter()
            .map(|f| f.contents.clone())
            .collect();
        // pfSense's 52 bytes hold the pieces that fit whole, here all
        // but the expiry; the other fields hold all of them.
        let expected = if target == Target::PfSense {
            "ntp: [owner biomed; ticket CHG-7]<"
        } else {
            "owner biomed; ticket CHG-7; expires 2027-01-31"
        };
        for words in [expected, "exception to no-ssh"] {
            assert!(text.contains(words), "{target:?} lacks `{words}`:\n{text}");
        }
    }
}
