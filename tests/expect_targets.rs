//! Expectations held against what the targets really do: the rendered
//! files read back through the readers (`check --rendered`), and device
//! exports (`drift`).

use predicates::prelude::*;

use crate::common::wardwall;

const DATE: &str = "2026-11-25";

/// The shipped policy's rendering keeps its promises; a hand edit of the
/// nftables file that lets guests in breaks the baseline's guest promise,
/// which the policy keeps, and the report names the file and the line.
#[test]
fn a_tampered_rendered_file_breaks_an_expectation_the_policy_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    wardwall()
        .args(["build", "--date", DATE, "-o"])
        .arg(&out)
        .assert()
        .code(0);
    wardwall()
        .args(["check", "--date", DATE, "--rendered"])
        .arg(&out)
        .assert()
        .code(0)
        .stderr(predicate::str::contains("expectation-violated").not());
    let file = out.join("nftables/st-example-general.nft");
    let text = std::fs::read_to_string(&file).unwrap();
    let reject = "meta l4proto tcp counter log prefix \"wardwall reject guest-isolation: \" reject with tcp reset";
    assert!(text.contains(reject), "the rendering has the guest reject");
    std::fs::write(
        &file,
        text.replacen(reject, "meta l4proto tcp counter accept", 1),
    )
    .unwrap();
    let assert = wardwall()
        .args([
            "check",
            "--date",
            DATE,
            "--color",
            "never",
            "-t",
            "nftables",
            "--format",
            "json",
            "--rendered",
        ])
        .arg(&out)
        .assert()
        .code(1);
    let json: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    let found: Vec<&serde_json::Value> = json[0]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "expectation-violated-on-target")
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    let d = found[0];
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], "policies/baselines/medical-devices.kdl");
    let message = d["message"].as_str().unwrap();
    assert!(
        message.contains("st-example-general.nft breaks expectation `baseline.guest-isolated` (never), which the policy keeps"),
        "{message}"
    );
    let help = d["help"].as_str().unwrap();
    assert!(help.contains("172.16.0.0/16 → 10.0.0.0/8, tcp"), "{help}");
    assert!(
        help.contains("counter accept"),
        "the tampered entry is quoted: {help}"
    );
    // The other targets' files are untouched and keep the promise.
    wardwall()
        .args([
            "check",
            "--date",
            DATE,
            "-t",
            "cisco",
            "-t",
            "panos",
            "-t",
            "pfsense",
            "--rendered",
        ])
        .arg(&out)
        .assert()
        .code(0);
}

#[test]
fn drift_names_the_device_entry_that_breaks_a_promise() {
    // The PAN-OS fixture's `temp-monitor-vendor-cloud` rule lets the
    // Contec monitors out: the advisory's and the baseline's promises.
    let assert = wardwall()
        .args([
            "drift",
            "--date",
            DATE,
            "--color",
            "never",
            "--device",
            "panos=tests/fixtures/devices/panos/exposure.xml",
        ])
        .assert()
        .code(1);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains("breaks expectation `contec-cms8000.unreachable-out` (never)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(rule `temp-monitor-vendor-cloud`)"),
        "{stdout}"
    );
    let json = wardwall()
        .args([
            "drift",
            "--date",
            DATE,
            "--format",
            "json",
            "--device",
            "panos=tests/fixtures/devices/panos/exposure.xml",
        ])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let broken = json["broken_expectations"].as_array().unwrap();
    assert!(
        broken
            .iter()
            .any(|b| b["expectation"] == "baseline.clinical-no-internet" && b["maybe"] == false)
    );
    // A device running the policy's own rendering breaks nothing.
    let dir = tempfile::tempdir().unwrap();
    wardwall()
        .args(["build", "--date", DATE, "-t", "panos", "-o"])
        .arg(dir.path())
        .assert()
        .code(0);
    wardwall()
        .args(["drift", "--date", DATE, "--device"])
        .arg(format!(
            "panos={}",
            dir.path().join("panos/st-example-general.xml").display()
        ))
        .assert()
        .stdout(predicate::str::contains("breaks expectation").not());
}

/// Traffic a device decides by something wardwall cannot evaluate offline
/// (here a rate limit the kernel prints back) *may* break a promise: drift
/// says "may break", names the entry, and marks it `maybe` in JSON; the
/// same dump without the edit breaks nothing.
#[test]
fn an_undecidable_entry_in_promised_space_may_break_the_promise() {
    use crate::common::privileged::{self, Netns};
    if !privileged::can_run("expectations on an nftables dump of the kernel") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    wardwall()
        .args(["build", "--date", DATE, "-t", "nftables", "-o"])
        .arg(&out)
        .assert()
        .code(0);
    let ns = Netns::new("mb");
    let nft = |args: &[&str]| {
        let o = ns.exec("nft", args);
        assert!(
            o.status.success(),
            "nft {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let rendered = out.join("nftables/st-example-general.nft");
    nft(&["-f", &rendered.to_string_lossy()]);
    let drift = |dump: &str, format: &str| {
        let file = dir.path().join("ruleset.txt");
        std::fs::write(&file, dump).unwrap();
        let o = wardwall()
            .args([
                "drift", "--date", DATE, "--color", "never", "--format", format, "--device",
            ])
            .arg(format!("nftables={}", file.display()))
            .output()
            .unwrap();
        (o.status.code(), String::from_utf8(o.stdout).unwrap())
    };
    let (code, text) = drift(&nft(&["list", "ruleset"]), "text");
    assert_eq!(code, Some(0), "the policy's own rendering agrees: {text}");
    // First in the forward chain: a rate-limited accept to the advisory's
    // network, ahead of the advisory block.
    nft(&[
        "insert",
        "rule",
        "inet",
        "wardwall",
        "forward",
        "ip",
        "daddr",
        "202.114.4.0/24",
        "limit",
        "rate",
        "10/second",
        "accept",
        "comment",
        "\"vendor-burst\"",
    ]);
    let dump = nft(&["list", "ruleset"]);
    let (code, text) = drift(&dump, "text");
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("may break expectation `contec-cms8000.unreachable-out` (never)"),
        "{text}"
    );
    assert!(
        !text.contains(": breaks expectation `contec-cms8000.unreachable-out`"),
        "an undecidable entry never certainly breaks it: {text}"
    );
    assert!(text.contains("vendor-burst"), "the entry is named: {text}");
    let (_, json) = drift(&dump, "json");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let broken = json["broken_expectations"].as_array().unwrap();
    let out_promise: Vec<_> = broken
        .iter()
        .filter(|b| b["expectation"] == "contec-cms8000.unreachable-out")
        .collect();
    assert_eq!(out_promise.len(), 1, "{json:#}");
    assert_eq!(out_promise[0]["maybe"], true, "{json:#}");
}
