//! `build` is one transaction over the whole output directory: killed at
//! any instant (SIGKILL of the real binary, or the test-only abort points
//! of `WARDWALL_TEST_ABORT_AT` around the swap), the directory holds
//! exactly the previous build's files or exactly the new build's, other
//! policies' files included, and the next build leaves nothing behind.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const DATE: &str = "2026-11-25";

/// Every file under `dir` (relative path → contents).
type Tree = BTreeMap<String, Vec<u8>>;

fn tree(dir: &Path) -> Tree {
    fn walk(root: &Path, dir: &Path, out: &mut Tree) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let mut out = Tree::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

fn wardwall() -> Command {
    let mut cmd = Command::new(crate::common::WARDWALL);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("WARDWALL_TEST_ABORT_AT")
        .env_remove("WARDWALL_TEST_NO_EXCHANGE")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn build(policy: &Path, out: &Path) -> Command {
    let mut cmd = wardwall();
    cmd.args(["build", "--date", DATE, "--color", "never", "-o"])
        .arg(out)
        .arg(policy);
    cmd
}

fn run_ok(mut cmd: Command) {
    let status = cmd.status().unwrap();
    assert!(status.success(), "{cmd:?}: {status}");
}

fn synth(dir: &Path, name: &str, rules: usize, changed: usize) -> PathBuf {
    let text = Command::new(crate::common::WARDWALL_SYNTH)
        .args([
            rules.to_string(),
            "1".into(),
            "--changed".into(),
            changed.to_string(),
        ])
        .output()
        .unwrap()
        .stdout;
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

/// The names in `dir` other than `out`: leftovers of a build.
fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "out")
        .collect()
}

struct Site {
    _tmp: tempfile::TempDir,
    /// The output directory's parent, holding nothing but `out`.
    parent: PathBuf,
    out: PathBuf,
    v1: PathBuf,
    v2: PathBuf,
    /// `out` after building the example policy and then v1 / then v2.
    old: Tree,
    new: Tree,
    /// v1 built again over `new`. A build keeps the Cisco sequence numbers
    /// it finds in `out`, so this is not `old` (the same policy over
    /// another previous tree numbers new blocks elsewhere).
    back: Tree,
}

/// Writes `tree` as the whole of `dir`.
fn write_tree(dir: &Path, tree: &Tree) {
    if dir.exists() {
        fs::remove_dir_all(dir).unwrap();
    }
    for (rel, bytes) in tree {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }
}

/// An output directory holding the shipped example policy's files and
/// version 1 of a synthetic policy; the trees before and after building
/// version 2 over it (computed in a scratch copy).
fn site(rules: usize) -> Site {
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("site");
    fs::create_dir(&parent).unwrap();
    let out = parent.join("out");
    let v1 = synth(tmp.path(), "v1.kdl", rules, 0);
    let v2 = synth(tmp.path(), "v2.kdl", rules, rules / 10);
    let mut example = wardwall();
    example.args(["build", "--date", DATE, "-o"]).arg(&out);
    run_ok(example);
    run_ok(build(&v1, &out));
    let old = tree(&out);
    // The expected result of v2 over it, built in a copy.
    let scratch = tmp.path().join("scratch");
    write_tree(&scratch, &old);
    run_ok(build(&v2, &scratch));
    let new = tree(&scratch);
    run_ok(build(&v1, &scratch));
    let back = tree(&scratch);
    fs::remove_dir_all(&scratch).unwrap();
    assert_ne!(old, new);
    assert_eq!(old.len(), new.len(), "same files, other contents");
    Site {
        _tmp: tmp,
        parent,
        out,
        v1,
        v2,
        old,
        new,
        back,
    }
}

fn aborted_at(site: &Site, policy: &Path, point: &str, no_exchange: bool) {
    let mut cmd = build(policy, &site.out);
    cmd.env("WARDWALL_TEST_ABORT_AT", point);
    if no_exchange {
        cmd.env("WARDWALL_TEST_NO_EXCHANGE", "1");
    }
    let status = cmd.status().unwrap();
    assert!(!status.success(), "{point}: the build must have aborted");
}

#[test]
fn aborted_right_before_or_after_the_swap_the_directory_is_old_or_new() {
    let site = site(300);
    aborted_at(&site, &site.v2, "before-swap", false);
    assert!(
        tree(&site.out) == site.old,
        "before the swap: the old build"
    );
    assert!(
        !leftovers(&site.parent).is_empty(),
        "staging left by the abort"
    );

    aborted_at(&site, &site.v2, "after-swap", false);
    assert!(tree(&site.out) == site.new, "after the swap: the new build");

    // The next build removes what the aborted ones left.
    run_ok(build(&site.v2, &site.out));
    assert!(tree(&site.out) == site.new);
    assert_eq!(leftovers(&site.parent), Vec::<String>::new());
}

#[test]
fn without_rename_exchange_a_kill_between_the_renames_is_rolled_forward() {
    let site = site(300);
    // The fallback's two renames: after the first, `out` is missing for an
    // instant (never mixed).
    aborted_at(&site, &site.v2, "fallback-between-renames", true);
    assert!(!site.out.exists());
    // Any next build (here of v1 again) first completes the interrupted
    // one, then builds over it.
    let mut cmd = build(&site.v1, &site.out);
    cmd.env("WARDWALL_TEST_ABORT_AT", "before-swap");
    assert!(!cmd.status().unwrap().success());
    assert!(tree(&site.out) == site.new, "rolled forward to v2");
    // And the fallback completes normally.
    let mut cmd = build(&site.v1, &site.out);
    cmd.env("WARDWALL_TEST_NO_EXCHANGE", "1");
    run_ok(cmd);
    assert!(tree(&site.out) == site.back);
    assert_eq!(leftovers(&site.parent), Vec::<String>::new());
}

#[test]
fn killed_at_any_instant_the_directory_is_old_or_new() {
    let site = site(1000);
    // How long an uninterrupted build takes here.
    let start = Instant::now();
    run_ok(build(&site.v2, &site.out));
    let full = start.elapsed();
    // Every attempt builds v2 over the old tree: one that completed is
    // set back to it (a build keeps the Cisco numbers it finds, so v1 over
    // the new tree would be a third tree, `back`).
    write_tree(&site.out, &site.old);
    let (mut saw_old, mut saw_new) = (0, 0);
    // Delays spread over the whole build, denser near its end (the swap).
    let fractions = [0.2, 0.5, 0.7, 0.85, 0.93, 0.97, 1.0, 1.03, 1.08];
    for f in fractions {
        let mut child = build(&site.v2, &site.out).spawn().unwrap();
        std::thread::sleep(full.mul_f64(f));
        let _ = child.kill();
        let _ = child.wait();
        let now = tree(&site.out);
        if now == site.new {
            saw_new += 1;
            write_tree(&site.out, &site.old);
        } else {
            assert!(
                now == site.old,
                "killed at {f} × {full:?}: a mix of two builds"
            );
            saw_old += 1;
        }
    }
    eprintln!("{saw_old} kills left the old build, {saw_new} the new one");
    // The next run leaves no staging or old directory, and no temporary file.
    run_ok(build(&site.v2, &site.out));
    assert!(tree(&site.out) == site.new);
    assert_eq!(leftovers(&site.parent), Vec::<String>::new());
    assert!(tree(&site.out).keys().all(|k| !k.ends_with(".tmp")));
}

#[test]
fn a_symlinked_output_directory_stays_a_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    fs::create_dir(&real).unwrap();
    let link = tmp.path().join("out");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let mut cmd = wardwall();
    cmd.args(["build", "--date", DATE, "-o"]).arg(&link);
    run_ok(cmd);
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(real.join("nftables/st-example-general.nft").is_file());
    let names = leftovers(tmp.path());
    assert_eq!(names, ["real"]);
}
