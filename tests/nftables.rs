//! The nftables target: snapshots of every shipped and focused policy,
//! `nft -c` acceptance in a fresh network namespace, determinism, stable
//! one-rule diffs, template overrides and target errors.

mod common;

use std::path::{Path, PathBuf};

use common::compile_ok;
use common::privileged::{self, Netns};
use common::probes::PROBE_DATE;
use wardwall::ir::Ir;
use wardwall::render::nftables::Nftables;
use wardwall::render::{Renderer, Templates};

/// Every policy in `policies/` and every focused policy in `tests/policies/`.
fn policy_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["policies", "tests/policies"] {
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

#[test]
fn snapshots_of_every_policy() {
    for path in policy_files() {
        let ir = compile_ok(&path, PROBE_DATE);
        let text = render(&ir, &Nftables::default());
        let name = format!("nftables__{}", path.file_stem().unwrap().to_string_lossy());
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false, description => path.display().to_string()}, {
            insta::assert_snapshot!(name, text);
        });
    }
}

#[test]
fn snapshot_with_interface_matching() {
    let ir = compile_ok(Path::new("policies/hospital.kdl"), PROBE_DATE);
    let text = render(
        &ir,
        &Nftables {
            match_interfaces: true,
        },
    );
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("nftables__hospital_interfaces", text);
    });
}

#[test]
fn output_is_deterministic() {
    for path in policy_files() {
        let a = render(&compile_ok(&path, PROBE_DATE), &Nftables::default());
        let b = render(&compile_ok(&path, PROBE_DATE), &Nftables::default());
        assert_eq!(a, b, "{}", path.display());
    }
}

#[test]
fn every_line_respects_nft_limits() {
    for path in policy_files() {
        for opts in [false, true] {
            let ir = compile_ok(&path, PROBE_DATE);
            let Ok(files) = (Nftables {
                match_interfaces: opts,
            })
            .render(&ir, &Templates::default()) else {
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
    copy(
        "advisories/contec-cms8000.kdl",
        &std::fs::read_to_string("policies/advisories/contec-cms8000.kdl").unwrap(),
    );
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
    let ir = compile_ok(Path::new("policies/hospital.kdl"), PROBE_DATE);
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
    };
    for path in policy_files() {
        let ir = compile_ok(&path, PROBE_DATE);
        let expected = render(&ir, &Nftables::default());
        let files = Nftables::default().render(&ir, &templates).unwrap();
        assert_eq!(files[0].contents, expected, "{}", path.display());

        let listed = Nftables::default().render(&ir, &fields).unwrap();
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
fn interface_matching_needs_a_binding_and_points_at_the_rule() {
    let ir = compile_ok(Path::new("tests/policies/nft-text.kdl"), PROBE_DATE);
    // The focused text policy binds no interfaces.
    let err = Nftables {
        match_interfaces: true,
    }
    .view(&ir)
    .unwrap_err();
    assert!(
        err.iter().all(|d| d.code == "nftables-no-interface"),
        "{err:?}"
    );
    let rule = ir.rules.iter().find(|r| r.name == "quoted").unwrap();
    assert_eq!(err[0].primary.as_ref().unwrap().span, rule.span);
    // Without the option the same policy renders.
    assert!(Nftables::default().view(&ir).is_ok());
    // A dual-stack rule reports a missing binding once, not once per family.
    let ir = compile_ok(Path::new("tests/policies/nft-protocols.kdl"), PROBE_DATE);
    let mut ir = ir;
    for zone in &mut ir.zones {
        zone.bindings.remove("nftables");
    }
    let err = Nftables {
        match_interfaces: true,
    }
    .view(&ir)
    .unwrap_err();
    let tunnels = ir.rules.iter().find(|r| r.name == "tunnels").unwrap();
    let for_tunnels: Vec<_> = err
        .iter()
        .filter(|d| d.primary.as_ref().unwrap().span == tunnels.span)
        .collect();
    // One per zone (lan, outside), whatever the number of families.
    assert_eq!(for_tunnels.len(), 2, "{for_tunnels:#?}");
}

#[test]
fn interface_matching_only_narrows_allow_rules() {
    let ir = compile_ok(Path::new("policies/hospital.kdl"), PROBE_DATE);
    let plain = render(&ir, &Nftables::default());
    let with = render(
        &ir,
        &Nftables {
            match_interfaces: true,
        },
    );
    let rule_lines = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.contains(" comment \"") && !l.trim_start().starts_with("comment"))
            .map(str::to_string)
            .collect()
    };
    let (a, b) = (rule_lines(&plain), rule_lines(&with));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        if x.contains(" accept comment") {
            assert!(y.contains("iifname") && y.contains("oifname"), "{y}");
        } else {
            assert_eq!(x, y, "deny/reject lines are never narrowed");
        }
    }
    assert!(with.contains(
        "iifname \"guest0\" oifname \"wan0\" ip saddr @z_guest_wifi_v4 ip daddr @z_internet_v4"
    ));
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
            let Ok(files) = (Nftables {
                match_interfaces: opts,
            })
            .render(&ir, &Templates::default()) else {
                assert!(opts, "{} renders without options", path.display());
                continue;
            };
            let file = dir.path().join(format!("{}-{opts}.nft", ir.name));
            std::fs::write(&file, &files[0].contents).unwrap();
            let (ok, stderr) = ns.nft_check(&file);
            if !ok {
                failures.push(format!("{} (interfaces: {opts}): {stderr}", path.display()));
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
    let err = Nftables::default().view(&ir).unwrap_err();
    assert_eq!(err.len(), 1, "{err:?}");
    assert_eq!(err[0].code, "nftables-name-clash");
    let two = ir.rules.iter().find(|r| r.name == "two").unwrap();
    assert_eq!(err[0].primary.as_ref().unwrap().span, two.span);
}
