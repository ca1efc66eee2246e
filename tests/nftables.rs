//! The nftables target: snapshots of every shipped and focused policy,
//! `nft -c` acceptance in a fresh network namespace, determinism, stable
//! one-rule diffs, template overrides and target errors.

use crate::common;

use std::path::{Path, PathBuf};

use common::compile_ok;
use common::privileged::{self, Netns};
use common::probes::PROBE_DATE;
use wardwall::ir::Ir;
use wardwall::render::nftables::Nftables;
use wardwall::render::{Renderer, Templates};

/// Every policy in `policies/` and every focused policy in `tests/policies/`
/// and `tests/policies/nftables/`.
fn policy_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["policies", "tests/policies", "tests/policies/nftables"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "kdl") {
                out.push(path);
            }
        }
    }
    out.sort();
    assert!(out.len() >= 4, "{out:?}");
    out
}

fn render(ir: &Ir, renderer: &Nftables) -> String {
    let files = renderer
        .render(ir, &Templates::default())
        .unwrap_or_else(|e| panic!("render failed: {e:?}"));
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0].path,
        Path::new("nftables").join(format!("{}.nft", ir.name))
    );
    files.into_iter().next().unwrap().contents
}

/// Address-only rendering, for the one thing that needs it.
const ADDRESS_ONLY: Nftables = Nftables { address_only: true };

/// The policy rendered with anti-spoofing; address-only for a policy that
/// does not bind every zone to an nftables interface (the other targets'
/// focused policies), which anti-spoofing must refuse.
fn render_policy(ir: &Ir) -> String {
    match Nftables::default().render(ir, &Templates::default()) {
        Ok(_) => render(ir, &Nftables::default()),
        Err(e) => {
            assert!(
                e.iter().all(|d| d.code == "nftables-no-interface"),
                "{}: {e:?}",
                ir.name
            );
            render(ir, &ADDRESS_ONLY)
        }
    }
}

#[test]
fn snapshots_of_every_policy() {
    for path in policy_files() {
        let ir = compile_ok(&path, PROBE_DATE);
        let text = render_policy(&ir);
        let name = format!("nftables__{}", path.file_stem().unwrap().to_string_lossy());
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false, description => path.display().to_string()}, {
            insta::assert_snapshot!(name, text);
        });
    }
}

#[test]
fn snapshot_address_only() {
    let ir = compile_ok(common::hospital(), PROBE_DATE);
    let text = render(&ir, &ADDRESS_ONLY);
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("nftables__hospital_address_only", text);
    });
}

#[test]
fn output_is_deterministic() {
    for path in policy_files() {
        let a = render_policy(&compile_ok(&path, PROBE_DATE));
        let b = render_policy(&compile_ok(&path, PROBE_DATE));
        assert_eq!(a, b, "{}", path.display());
    }
}

#[test]
fn every_line_respects_nft_limits() {
    for path in policy_files() {
        for opts in [false, true] {
            let ir = compile_ok(&path, PROBE_DATE);
            let Ok(files) = (Nftables { address_only: opts }).render(&ir, &Templates::default())
            else {
                continue;
            };
            for line in files[0].contents.lines() {
                for (key, max) in [("comment \"", 128), ("log prefix \"", 127)] {
                    if let Some(i) = line.find(key) {
                        let rest = &line[i + key.len()..];
                        let end = rest.find('"').expect("closed string");
                        assert!(end <= max, "{key} too long in {line}");
                    }
                }
                // Every string is closed on its line: an even number of quotes.
                assert_eq!(line.matches('"').count() % 2, 0, "{line}");
            }
        }
    }
}

/// A one-rule change in the policy changes only that rule's lines.
#[test]
fn one_rule_change_gives_a_one_rule_diff() {
    let dir = tempfile::tempdir().unwrap();
    let copy = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    };
    crate::common::copy_includes(dir.path());
    let original = std::fs::read_to_string("policies/hospital.kdl").unwrap();
    let changed = original.replacen(
        "from \"infusion-pumps\"\n        to \"pump-server\"\n        service \"pump-server-api\" \"https\"",
        "from \"infusion-pumps\"\n        to \"pump-server\"\n        service \"pump-server-api\"",
        1,
    );
    assert_ne!(original, changed, "the edit must apply");
    let before = render(
        &compile_ok(&copy("hospital.kdl", &original), PROBE_DATE),
        &Nftables::default(),
    );
    let after = render(
        &compile_ok(&copy("hospital.kdl", &changed), PROBE_DATE),
        &Nftables::default(),
    );
    let diff = similar::TextDiff::from_lines(&before, &after);
    let changes: Vec<String> = diff
        .iter_all_changes()
        .filter(|c| c.tag() != similar::ChangeTag::Equal)
        .map(|c| format!("{}{}", c.tag(), c.value()))
        .collect();
    assert_eq!(changes.len(), 2, "{changes:#?}");
    assert!(
        changes[0].contains("tcp dport { 443, 8443 }"),
        "{changes:#?}"
    );
    assert!(changes[1].contains("tcp dport 8443 counter accept comment \"pumps-to-pump-server:"));
}

#[test]
fn template_override_is_used_and_strict() {
    let ir = compile_ok(common::hospital(), PROBE_DATE);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("nftables")).unwrap();
    let file = dir.path().join("nftables/ruleset.nft.j2");
    std::fs::write(
        &file,
        "# site header\n{% for rule in rules %}{{ rule.name }}\n{% endfor %}",
    )
    .unwrap();
    let templates = Templates {
        override_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let files = Nftables::default().render(&ir, &templates).unwrap();
    assert!(
        files[0]
            .contents
            .starts_with("# site header\ncontec-cms8000.out\n")
    );
    // An undefined variable is an error, not empty text.
    std::fs::write(&file, "{{ no_such_variable }}\n").unwrap();
    let err = Nftables::default().render(&ir, &templates).unwrap_err();
    assert_eq!(err[0].code, "template-error");
}

/// The built-in template prints the sets and rules as two strings; a
/// template that walks the items instead (each item's fields and text) must
/// give the same file, so the items are exactly the pieces of those strings.
#[test]
fn template_items_are_the_pieces_of_the_written_text() {
    // (`trim_blocks` drops the newline right after a tag: the item's blank
    // line is printed, and the line after the loop needs a second newline.)
    let items = "{% for set in sets %}{{ \"\\n\" ~ set.text }}{% endfor %}\n\n";
    let rules = "{% for rule in rules %}{{ \"\\n\" ~ rule.text }}{% endfor %}\n\n";
    let builtin = include_str!("../targets/nftables/ruleset.nft.j2");
    let walking = builtin
        .replace("{{ sets_text }}\n", items)
        .replace("{{ rules_text }}\n", rules);
    assert_ne!(walking, builtin);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("nftables")).unwrap();
    std::fs::write(dir.path().join("nftables/ruleset.nft.j2"), walking).unwrap();
    let templates = Templates {
        override_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    // The fields: each is the text it names.
    let fields_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(fields_dir.path().join("nftables")).unwrap();
    std::fs::write(
        fields_dir.path().join("nftables/ruleset.nft.j2"),
        "{% for s in sets %}{{ s.name }}|{{ s.type }}|{{ s.comment }}\n{% endfor %}\
         {% for r in rules %}{{ r.name }}\n{% endfor %}",
    )
    .unwrap();
    let fields = Templates {
        override_dir: Some(fields_dir.path().to_path_buf()),
        ..Default::default()
    };
    for path in policy_files() {
        let ir = compile_ok(&path, PROBE_DATE);
        let expected = render_policy(&ir);
        let renderer = Nftables {
            address_only: Nftables::default().view(&ir).is_err(),
        };
        let files = renderer.render(&ir, &templates).unwrap();
        assert_eq!(files[0].contents, expected, "{}", path.display());

        let listed = renderer.render(&ir, &fields).unwrap();
        let mut want = String::new();
        let sets_part = expected.split("    chain forward {").next().unwrap();
        for line in sets_part.lines() {
            if let Some(name) = line.strip_prefix("    set ") {
                want.push_str(name.trim_end_matches(" {"));
            } else if let Some(ty) = line.strip_prefix("        type ") {
                want.push('|');
                want.push_str(ty);
            } else if let Some(c) = line.strip_prefix("        comment \"") {
                want.push('|');
                want.push_str(c.trim_end_matches('"'));
                want.push('\n');
            }
        }
        for rule in &ir.rules {
            want.push_str(&rule.name);
            want.push('\n');
        }
        assert_eq!(listed[0].contents, want, "{}", path.display());
    }
}

#[test]
fn anti_spoofing_needs_every_zone_bound_and_points_at_the_zone() {
    let ir = compile_ok(Path::new("tests/policies/nft-text.kdl"), PROBE_DATE);
    // The focused text policy binds no interfaces: one error per zone, at
    // the zone, with the way out in the help.
    let err = Nftables::default().view(&ir).unwrap_err();
    assert_eq!(err.len(), ir.zones.len(), "{err:?}");
    for (d, zone) in err.iter().zip(&ir.zones) {
        assert_eq!(d.code, "nftables-no-interface");
        assert!(
            d.message.contains(&format!("zone `{}`", zone.name)),
            "{d:?}"
        );
        assert_eq!(d.primary.as_ref().unwrap().span, zone.span);
        let help = d.help.as_deref().unwrap();
        assert!(help.contains("interface nftables=") && help.contains("--nft-address-only"));
    }
    // Address-only, the same policy renders.
    assert!(ADDRESS_ONLY.view(&ir).is_ok());
}

/// A focused policy written to a temporary file.
fn compile_text(text: &str) -> Ir {
    common::compile_text_ok("p.kdl", text, PROBE_DATE)
}

#[test]
fn anti_spoofing_refuses_bad_names_and_unzoned_allows() {
    let ir = compile_text(
        "zone \"a\" {\n    prefix \"10.1.0.0/16\"\n    interface nftables=\"ethernet1/1\"\n}\n\
         rules {\n    allow \"x\" {\n        from \"a\"\n        to \"any\"\n        service \"https\"\n    }\n}\n",
    );
    let err = Nftables::default().view(&ir).unwrap_err();
    let codes: Vec<&str> = err.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["nftables-bad-interface", "unplaced"], "{err:?}");
    assert!(
        err[0].message.contains("not a Linux interface name"),
        "{err:?}"
    );
    assert_eq!(err[1].primary.as_ref().unwrap().span, ir.rules[0].span);
    // A deny of unzoned sources is fine: the guard drops them as well.
    let ir = compile_text(
        "zone \"a\" {\n    prefix \"10.1.0.0/16\"\n    interface nftables=\"a0\"\n}\n\
         rules {\n    deny \"x\" {\n        from \"any\"\n        to \"a\"\n        service \"any\"\n    }\n}\n",
    );
    assert!(Nftables::default().view(&ir).is_ok());
}

/// Anti-spoofing adds the guard in front of the `ct state` rules and
/// changes nothing else: every rule line is the address-only line.
#[test]
fn anti_spoofing_only_adds_the_guard_before_conntrack() {
    for path in [
        "policies/hospital.kdl",
        "tests/policies/nftables/antispoof.kdl",
    ] {
        let ir = compile_ok(Path::new(path), PROBE_DATE);
        let plain = render(&ir, &ADDRESS_ONLY);
        let with = render(&ir, &Nftables::default());
        let chain = |t: &str| -> Vec<String> {
            let start = t.find("    chain forward {").unwrap();
            t[start..].lines().map(str::to_string).collect()
        };
        let (a, b) = (chain(&plain), chain(&with));
        let guard: Vec<&String> = b.iter().filter(|l| l.contains("anti-spoofing")).collect();
        // Per interface and family one line, plus unknown interfaces.
        let interfaces: std::collections::BTreeSet<&String> =
            ir.zones.iter().map(|z| &z.bindings["nftables"]).collect();
        assert_eq!(guard.len(), 2 * interfaces.len() + 1, "{path}");
        for line in &guard {
            assert!(line.trim_start().starts_with("iifname "), "{line}");
            assert!(
                line.contains(" drop comment \"default: anti-spoofing: "),
                "{line}"
            );
        }
        // The guard sits right after the chain header, before conntrack.
        assert_eq!(
            b[2 + guard.len()],
            "        ct state established,related accept"
        );
        let rest: Vec<&String> = b.iter().filter(|l| !l.contains("anti-spoofing")).collect();
        assert_eq!(
            rest,
            a.iter().collect::<Vec<_>>(),
            "{path}: rule lines differ"
        );
    }
    // Zones sharing an interface are one union set.
    let ir = compile_ok(
        Path::new("tests/policies/nftables/antispoof.kdl"),
        PROBE_DATE,
    );
    let with = render(&ir, &Nftables::default());
    assert!(
        with.contains("iifname \"ward0\" ip saddr != @i_ward0_v4 "),
        "{with}"
    );
    assert!(with.contains("comment \"interface ward0: zones wards theatres\""));
    assert!(with.contains("iifname \"lab0\" meta nfproto ipv4 counter"));
}

/// An override template that writes the chain without the guard is an
/// error, not a spoofable ruleset.
#[test]
fn a_template_without_the_guard_is_an_error() {
    let ir = compile_ok(common::hospital(), PROBE_DATE);
    let builtin = include_str!("../targets/nftables/ruleset.nft.j2");
    let stripped = builtin.replace("{{ antispoof_text }}\n", "");
    assert_ne!(stripped, builtin);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("nftables")).unwrap();
    std::fs::write(dir.path().join("nftables/ruleset.nft.j2"), stripped).unwrap();
    let templates = Templates {
        override_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let err = Nftables::default().render(&ir, &templates).unwrap_err();
    assert_eq!(err[0].code, "template-error");
    assert!(err[0].message.contains("antispoof_text"));
    assert!(ADDRESS_ONLY.render(&ir, &templates).is_ok());
}

#[test]
fn every_rendered_ruleset_passes_nft_check_in_a_fresh_namespace() {
    if !privileged::can_run("nft -c") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ns = Netns::new("chk");
    let mut failures = Vec::new();
    for path in policy_files() {
        let ir = compile_ok(&path, PROBE_DATE);
        for opts in [false, true] {
            let Ok(files) = (Nftables { address_only: opts }).render(&ir, &Templates::default())
            else {
                assert!(!opts, "{} renders address-only", path.display());
                continue;
            };
            let file = dir.path().join(format!("{}-{opts}.nft", ir.name));
            std::fs::write(&file, &files[0].contents).unwrap();
            let (ok, stderr) = ns.nft_check(&file);
            if !ok {
                failures.push(format!(
                    "{} (address-only: {opts}): {stderr}",
                    path.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn nft_check_catches_a_broken_ruleset() {
    // The check above is only meaningful if nft -c rejects bad input here.
    if !privileged::can_run("nft -c") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ns = Netns::new("bad");
    let file = dir.path().join("bad.nft");
    std::fs::write(
        &file,
        "table inet t {\n chain c {\n ip saddr 10.0.0.1 ip6 daddr ::1 accept comment \"x\"\n }\n}\n",
    )
    .unwrap();
    let (ok, _) = ns.nft_check(&file);
    assert!(!ok);
}

/// Names that still collide after hashing are an error, never a shared set.
#[test]
fn a_set_name_clash_is_an_error_not_a_shared_set() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("clash.kdl");
    // `icu-a` and `ICU.A` collide and get the FNV-1a suffix of their name;
    // `icu_a_d85f7252` is spelled like the suffixed `icu-a`.
    std::fs::write(
        &policy,
        r#"zone "ward" {
    prefix "10.3.0.0/16"
}
zone "rest" {
    residual #true
}
class "icu-a" {
    zone "ward"
    address "10.3.1.0/24"
}
class "ICU.A" {
    zone "ward"
    address "10.3.2.0/24"
}
class "icu_a_d85f7252" {
    zone "ward"
    address "10.3.3.0/24"
}
rules {
    allow "one" {
        from "icu-a"
        to "rest"
        service "ssh"
    }
    allow "two" {
        from "icu_a_d85f7252"
        to "rest"
        service "ssh"
    }
    allow "three" {
        from "ICU.A"
        to "rest"
        service "ssh"
    }
}
"#,
    )
    .unwrap();
    let ir = compile_ok(&policy, PROBE_DATE);
    let err = ADDRESS_ONLY.view(&ir).unwrap_err();
    assert_eq!(err.len(), 1, "{err:?}");
    assert_eq!(err[0].code, "nftables-name-clash");
    let two = ir.rules.iter().find(|r| r.name == "two").unwrap();
    assert_eq!(err[0].primary.as_ref().unwrap().span, two.span);
}

/// `--nft-address-only` renders without the guard and says what that
/// costs; `--nft-match-interfaces` is accepted and changes nothing (the
/// guard is the default); the two together are a usage error.
#[test]
fn address_only_flag_warns_and_the_old_flag_is_a_no_op() {
    let wardwall = || {
        let mut cmd = common::wardwall();
        cmd.args(["build", "--date", PROBE_DATE, "-t", "nftables", "-o"]);
        cmd
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = wardwall()
        .arg(tmp.path().join("a"))
        .args(["policies/clinic.kdl", "--nft-address-only"])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("warning: --nft-address-only") && stderr.contains("spoofed source"),
        "{stderr}"
    );
    let plain = std::fs::read_to_string(tmp.path().join("a/nftables/clinic.nft")).unwrap();
    assert!(!plain.contains("anti-spoofing"));
    for (dir, extra) in [("b", None), ("c", Some("--nft-match-interfaces"))] {
        let mut cmd = wardwall();
        cmd.arg(tmp.path().join(dir)).arg("policies/clinic.kdl");
        cmd.args(extra);
        let out = cmd.assert().success();
        assert!(!String::from_utf8_lossy(&out.get_output().stderr).contains("warning"));
        let text =
            std::fs::read_to_string(tmp.path().join(dir).join("nftables/clinic.nft")).unwrap();
        assert!(text.contains("default: anti-spoofing: "), "{dir}");
    }
    wardwall()
        .arg(tmp.path().join("d"))
        .args([
            "policies/clinic.kdl",
            "--nft-address-only",
            "--nft-match-interfaces",
        ])
        .assert()
        .code(2);
}
