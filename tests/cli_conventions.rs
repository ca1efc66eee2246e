//! CLI conventions: shell completions and man pages generated from the
//! parser, help with examples, exit codes and environment, the default
//! policy's message, `build --check`'s kinds of difference, and
//! `--templates` checked against the targets' templates.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common;
use common::probes::PROBE_DATE;
use common::{run, wardwall};

/// The commands `wardwall --help` lists (the parser's own list, read from
/// its help, not from the man or completion code under test).
fn commands() -> Vec<String> {
    let help = run(["--help"]).expect_code(0).stdout;
    let list = help
        .split("Commands:\n")
        .nth(1)
        .expect("help lists the commands")
        .split("\n\n")
        .next()
        .unwrap();
    // A wrapped description continues on a line indented further.
    let names: Vec<String> = list
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect();
    assert!(names.len() >= 8, "{names:?}");
    names
}

/// Every long option a command's `--help` shows (`--date`, `--target`, ...).
fn long_options(command: &str) -> Vec<String> {
    let help = run([command, "--help"]).expect_code(0).stdout;
    // An option's line is indented by 2 (`  -o, --out`) or 6 (`      --date`);
    // a wrapped description continues further in.
    let mut out: Vec<String> = help
        .lines()
        .filter(|l| l.len() - l.trim_start().len() <= 6)
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| {
            l.split([' ', ','])
                .find(|w| w.starts_with("--"))
                .map(str::to_string)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Runs `program args` with `input` on standard input.
fn pipe(program: &str, args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// What bash completes for `words` (the last one being completed), with
/// `script` loaded: the completion function `complete -p` names is called
/// as bash calls it.
fn bash_completes(script: &str, words: &[&str]) -> Vec<String> {
    let driver = format!(
        "{script}\nfunction=$(complete -p wardwall | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p')\n\
         COMP_WORDS=({words}); COMP_CWORD={cword}\n\
         \"$function\" wardwall {current} {previous}\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        words = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" "),
        cword = words.len() - 1,
        current = format_args!("'{}'", words[words.len() - 1]),
        previous = format_args!("'{}'", words[words.len() - 2]),
    );
    let out = pipe("bash", &[], driver.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_bash_completion_parses_and_completes_every_command_and_option() {
    let script = run(["completions", "bash"]).expect_code(0).stdout;
    let checked = pipe("bash", &["-n"], script.as_bytes());
    assert!(
        checked.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let offered = bash_completes(&script, &["wardwall", ""]);
    for command in commands() {
        assert!(
            offered.contains(&command),
            "`{command}` not offered: {offered:?}"
        );
        let options = bash_completes(&script, &["wardwall", &command, "--"]);
        for option in long_options(&command) {
            assert!(options.contains(&option), "{command} {option}: {options:?}");
        }
    }
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_shell_is_a_usage_error() {
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let script = run(["completions", shell]).expect_code(0).stdout;
        assert!(script.contains("explain"), "{shell}");
    }
    let ran = run(["completions", "tcsh"]).expect_code(2);
    assert!(ran.stderr.contains("bash"), "{}", ran.stderr);
}

/// A man page rendered to plain text by groff (the formatter `man` runs),
/// failing on any groff warning.
fn rendered_man(args: &[&str]) -> Option<String> {
    if !common::privileged::runs("groff", "--version") {
        common::skip::skip("man page rendering skipped: groff is not installed");
        return None;
    }
    let roff = run([&["man"], args].concat()).expect_code(0).stdout;
    let out = pipe(
        "groff",
        &["-man", "-Tascii", "-P-cbou", "-ww", "-rHY=0", "-rLL=200n"],
        roff.as_bytes(),
    );
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && warnings.is_empty(), "{warnings}");
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn the_man_pages_render_and_list_every_command_and_option() {
    let Some(top) = rendered_man(&[]) else {
        return;
    };
    assert!(top.contains("Exit codes"), "{top}");
    let listed = run(["man", "--list"]).expect_code(0).stdout;
    let commands = commands();
    assert_eq!(listed.lines().collect::<Vec<_>>(), commands);
    for command in &commands {
        assert!(top.contains(&format!("wardwall-{command}(1)")), "{command}");
        let page = rendered_man(&[command]).unwrap();
        assert!(page.contains(&format!("wardwall {command}")), "{page}");
        for option in long_options(command) {
            assert!(page.contains(&option), "{command}'s page lacks {option}");
        }
    }
    let ran = run(["man", "buidl"]).expect_code(2);
    assert!(
        ran.stderr.contains("did you mean `build`?"),
        "{}",
        ran.stderr
    );
}

#[test]
fn help_shows_examples_exit_codes_and_environment() {
    let help = run(["--help"]).expect_code(0).stdout;
    for needle in [
        "Examples:",
        "Exit codes",
        "  2  usage",
        "Environment:",
        "NO_COLOR",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
    for command in commands() {
        let help = run([command.as_str(), "--help"]).expect_code(0).stdout;
        assert!(
            help.contains(&format!("\n  wardwall {command} ")),
            "`{command} --help` has no example: {help}"
        );
    }
    let explain = run(["explain", "--help"]).expect_code(0).stdout;
    assert!(
        explain.contains("Usage: wardwall explain [OPTIONS] [POLICY] <SRC> <DST> <PROTO>"),
        "{explain}"
    );
    assert!(!explain.contains("<ARGS>"), "{explain}");
}

/// The top-level help's examples of `check` and `explain` work as typed in
/// a checkout (the others need a device export, a git remote or write out/).
#[test]
fn the_help_examples_run_as_typed() {
    let help = run(["--help"]).expect_code(0).stdout;
    let examples: Vec<Vec<&str>> = help
        .lines()
        .filter_map(|l| l.strip_prefix("  wardwall "))
        .map(|l| l.split('#').next().unwrap().split_whitespace().collect())
        .filter(|words: &Vec<&str>| {
            matches!(words.first(), Some(&"check" | &"explain")) && !words.contains(&">")
        })
        .collect();
    assert!(examples.len() >= 2, "{examples:?}");
    for words in examples {
        let ran = run(&words);
        assert_eq!(ran.code, 0, "{words:?}: {}", ran.stderr);
    }
}

#[test]
fn a_missing_default_policy_says_it_is_relative_to_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    for command in [
        &["check"][..],
        &["build"],
        &["explain", "10.0.0.1", "10.0.0.2", "tcp/1"],
        &["drift", "--device", "nftables=/dev/null"],
        &["fmt", "--check"],
        &["diff"],
    ] {
        let ran = common::Ran::of(wardwall().current_dir(dir.path()).args(command)).expect_code(2);
        assert!(
            ran.stderr.contains("no POLICY was given")
                && ran.stderr.contains("relative to the working directory")
                && ran.stderr.contains(&dir.path().display().to_string()),
            "{command:?}: {}",
            ran.stderr
        );
    }
    let ran = common::Ran::of(
        wardwall()
            .current_dir(dir.path())
            .args(["check", "site.kdl"]),
    )
    .expect_code(2);
    assert!(
        ran.stderr
            .contains("site.kdl is relative to the working directory")
            && !ran.stderr.contains("no POLICY"),
        "{}",
        ran.stderr
    );
}

/// `build --check`'s lines on stdout, sorted: `KIND: PATH` relative to `dir`.
fn check_lines(dir: &Path) -> (i32, Vec<String>, String) {
    let ran = run([
        "build",
        "--date",
        PROBE_DATE,
        "--check",
        "-o",
        dir.to_str().unwrap(),
    ]);
    let prefix = format!("{}/", dir.display());
    let mut lines: Vec<String> = ran.stdout.lines().map(|l| l.replace(&prefix, "")).collect();
    lines.sort();
    (ran.code, lines, ran.stderr)
}

#[test]
fn build_check_lists_missing_stale_and_orphan_files_by_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let (code, lines, _) = check_lines(&dir);
    assert_eq!(code, 1);
    assert!(
        !lines.is_empty() && lines.iter().all(|l| l.starts_with("missing: ")),
        "{lines:?}"
    );
    run(["build", "--date", PROBE_DATE, "-o", dir.to_str().unwrap()]).expect_code(0);
    assert_eq!(check_lines(&dir).0, 0);

    fs::remove_file(dir.join("cisco/st-example-general.ios")).unwrap();
    let nft = dir.join("nftables/st-example-general.nft");
    let text = fs::read_to_string(&nft).unwrap();
    fs::write(&nft, format!("{text}# hand edit\n")).unwrap();
    // Orphans: a copy no policy writes, in a target folder this build writes.
    fs::write(dir.join("panos/st-example-general.xml.orig"), "old").unwrap();
    fs::write(dir.join("nftables/renamed-policy.nft"), "old").unwrap();
    // Not outputs: hidden files, files beside the target folders,
    // subfolders, folders of no target.
    fs::write(dir.join("nftables/.gitkeep"), "").unwrap();
    fs::write(dir.join("README.md"), "the rendered configs").unwrap();
    fs::create_dir_all(dir.join("nftables/archive")).unwrap();
    fs::write(dir.join("nftables/archive/x.nft"), "old").unwrap();
    fs::create_dir_all(dir.join("notes")).unwrap();
    fs::write(dir.join("notes/x.txt"), "old").unwrap();

    let (code, lines, stderr) = check_lines(&dir);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        lines,
        [
            "missing: cisco/st-example-general.ios",
            "orphan: nftables/renamed-policy.nft",
            "orphan: panos/st-example-general.xml.orig",
            "stale: nftables/st-example-general.nft",
        ]
    );
    assert!(
        stderr.contains("1 missing, 1 stale, 2 orphan") && stderr.contains("remove each orphan"),
        "{stderr}"
    );
    // `build` restores the missing and stale files and keeps the orphans:
    // only removing them makes the check pass.
    run(["build", "--date", PROBE_DATE, "-o", dir.to_str().unwrap()]).expect_code(0);
    let (code, lines, _) = check_lines(&dir);
    assert_eq!(code, 1);
    assert!(lines.iter().all(|l| l.starts_with("orphan: ")), "{lines:?}");
    fs::remove_file(dir.join("panos/st-example-general.xml.orig")).unwrap();
    fs::remove_file(dir.join("nftables/renamed-policy.nft")).unwrap();
    let (code, lines, _) = check_lines(&dir);
    assert_eq!((code, lines), (0, vec![]));
}

#[test]
fn another_policys_outputs_are_not_orphans_but_a_limited_build_checks_only_its_targets() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let out = dir.to_str().unwrap();
    let build = |extra: &[&str]| run([&["build", "--date", PROBE_DATE, "-o", out], extra].concat());
    build(&[common::CLINIC]).expect_code(0);
    build(&[]).expect_code(0);
    build(&["--check"]).expect_code(0);
    build(&["--check", common::CLINIC]).expect_code(0);
    // An orphan in cisco/ is not looked for by a build of nftables only.
    fs::write(dir.join("cisco/stray.ios"), "old").unwrap();
    build(&["--check", "-t", "nftables"]).expect_code(0);
    let ran = build(&["--check", "-t", "cisco"]).expect_code(1);
    assert!(ran.stdout.contains("orphan: ") && ran.stdout.contains("cisco/stray.ios"));
}

/// Files of an override directory: (relative path, text).
type TemplateFiles = [(&'static str, &'static str)];

/// An override directory in `tmp` with `files`.
fn templates(tmp: &Path, files: &TemplateFiles) -> String {
    let dir = tmp.join("tpl");
    fs::create_dir_all(&dir).unwrap();
    for (path, text) in files {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir.to_str().unwrap().to_string()
}

#[test]
fn a_template_folder_or_file_that_matches_nothing_is_a_usage_error() {
    let cases: &[(&TemplateFiles, &[&str])] = &[
        (
            &[("nftable/ruleset.nft.j2", "x")],
            &[
                "nftable matches no target",
                "did you mean `nftables`?",
                "pfsense, cisco, panos",
            ],
        ),
        (
            &[("nftables/rulset.nft.j2", "x")],
            &[
                "rulset.nft.j2 matches no nftables template",
                "did you mean `ruleset.nft.j2`?",
            ],
        ),
        (
            &[("acl.ios.j2", "x")],
            &[
                "acl.ios.j2 matches no target",
                "move it to",
                "cisco/acl.ios.j2",
            ],
        ),
        (
            &[("panos/panos.xml.j2", "x"), ("panos/old/panos.xml.j2", "x")],
            &[
                "panos/old matches no panos template",
                "panos.set.j2, panos.xml.j2",
            ],
        ),
    ];
    for (files, needles) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let tpl = templates(tmp.path(), files);
        let out = tmp.path().join("out");
        let ran = run(["build", "--templates", &tpl, "-o", out.to_str().unwrap()]).expect_code(2);
        for needle in *needles {
            assert!(
                ran.stderr.contains(needle),
                "{files:?}: {needle}: {}",
                ran.stderr
            );
        }
        assert!(!out.exists(), "nothing written");
        // The same check wherever --templates is taken.
        let ran = run([
            "explain",
            "10.20.8.5",
            "202.114.4.119",
            "tcp/515",
            "--target",
            "nftables",
            "--templates",
            &tpl,
        ]);
        assert_eq!(ran.code, 2, "{}", ran.stderr);
        run(["diff", "--templates", &tpl]).expect_code(2);
    }
    let ran = run(["build", "--templates", "no/such/dir"]).expect_code(2);
    assert!(ran.stderr.contains("no/such/dir"), "{}", ran.stderr);
}

#[test]
fn hidden_files_and_partials_in_a_template_folder_are_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let tpl = templates(
        tmp.path(),
        &[
            (".gitkeep", ""),
            ("nftables/.ruleset.nft.j2.swp", "x"),
            ("nftables/_header.j2", "# site header for {{ policy }}\n"),
            (
                "nftables/ruleset.nft.j2",
                "{% include \"_header.j2\" %}{{ rules | length }} rules\n",
            ),
        ],
    );
    let out = tmp.path().join("out");
    run([
        "build",
        "--date",
        PROBE_DATE,
        "-t",
        "nftables",
        "--templates",
        &tpl,
        "-o",
        out.to_str().unwrap(),
    ])
    .expect_code(0);
    let text = fs::read_to_string(out.join("nftables/st-example-general.nft")).unwrap();
    assert!(
        text.starts_with("# site header for st-example-general\n") && text.ends_with(" rules\n"),
        "{text}"
    );
}
