//! Hostile or mistaken input at the command line: includes that leave the
//! policy's tree, special files, file names that cannot be policy names,
//! and `explain` packets written differently from the policy's literals.
//! Every case must fail with a clear message and print nothing it should
//! not.

use assert_cmd::Command;

const DATE: &str = "2026-11-25";

/// wardwall with the test's own environment: the raw-ESC checks below must
/// hold whether or not colour is asked for, so `NO_COLOR` is not set.
fn wardwall() -> Command {
    let mut cmd = crate::common::wardwall();
    cmd.env_remove("NO_COLOR");
    cmd
}

#[test]
fn explain_refuses_packets_the_policy_would_not_write() {
    for (proto, src, dst, expect) in [
        ("tcp/70000", "10.20.8.5", "10.10.0.14", "out of range"),
        ("tcp/0", "10.20.8.5", "10.10.0.14", "out of range"),
        ("tcp", "10.20.8.5", "10.10.0.14", "tcp/443"),
        ("icmp/8", "fd42:1::5", "fd42:1:0:10::53", "icmpv6/"),
        ("icmpv6/128", "10.20.8.5", "10.10.0.14", "icmp/"),
        ("tcp/443", "10.20.08.5", "10.10.0.14", "leading zero"),
    ] {
        let out = wardwall()
            .args(["explain", src, dst, proto, "--date", DATE])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{proto}: {err}");
        assert!(err.contains(expect), "{proto}: {err}");
    }
}

/// A marker that must never appear in wardwall's output.
const SECRET: &str = "WARDWALL_TEST_SECRET_4f9c";

/// Runs `check POLICY`; (exit code, stdout + stderr).
fn check(policy: &std::path::Path) -> (Option<i32>, String) {
    let out = wardwall()
        .args(["check", "--date", DATE])
        .arg(policy)
        .env("WARDWALL_MARKER", SECRET)
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// A policy directory `policy/` next to a secret file `secret.kdl` outside it.
fn tree(include: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let policy_dir = dir.path().join("policy");
    std::fs::create_dir(&policy_dir).unwrap();
    std::fs::write(
        dir.path().join("secret.kdl"),
        format!("zone \"{SECRET}\" {{\n    token \"{SECRET}\"\n}}\n"),
    )
    .unwrap();
    let root = policy_dir.join("p.kdl");
    std::fs::write(&root, format!("include \"{include}\"\n")).unwrap();
    (dir, root)
}

#[test]
fn includes_outside_the_tree_are_refused_and_never_printed() {
    for include in [
        "/proc/self/environ",
        "/etc/passwd",
        "../secret.kdl",
        "sub/../../secret.kdl",
    ] {
        let (_dir, root) = tree(include);
        let (code, text) = check(&root);
        assert_eq!(code, Some(1), "{include}: {text}");
        assert!(text.contains("include-outside-tree"), "{include}: {text}");
        assert!(!text.contains(SECRET), "{include} leaked: {text}");
        assert!(
            !text.contains("root:"),
            "{include} leaked /etc/passwd: {text}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_symlink_that_leaves_the_tree_is_refused() {
    let (dir, root) = tree("link.kdl");
    std::os::unix::fs::symlink(
        dir.path().join("secret.kdl"),
        root.with_file_name("link.kdl"),
    )
    .unwrap();
    let (code, text) = check(&root);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("include-outside-tree"), "{text}");
    assert!(!text.contains(SECRET), "leaked: {text}");

    // A root policy that is itself such a symlink is refused too.
    let link = root.with_file_name("root-link.kdl");
    std::os::unix::fs::symlink("/proc/self/environ", &link).unwrap();
    let (code, text) = check(&link);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("outside its directory"), "{text}");
    assert!(!text.contains(SECRET), "leaked: {text}");
}

#[cfg(unix)]
#[test]
fn devices_and_fifos_are_refused_without_reading_or_blocking() {
    let (_dir, root) = tree("zero.kdl");
    std::os::unix::fs::symlink("/dev/zero", root.with_file_name("zero.kdl")).unwrap();
    let start = std::time::Instant::now();
    let (code, text) = check(&root);
    // /dev/zero is outside the tree; inside it, a device is still refused.
    assert_eq!(code, Some(1), "{text}");
    assert!(start.elapsed() < std::time::Duration::from_secs(10));

    let (_dir, root) = tree("fifo.kdl");
    let fifo = root.with_file_name("fifo.kdl");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (code, text) = check(&root);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("not a regular file"), "{text}");

    // The root itself: a device is an I/O error, at once.
    let (code, text) = check(std::path::Path::new("/dev/zero"));
    assert_eq!(code, Some(2), "{text}");
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn a_file_that_is_not_a_policy_shows_only_its_offending_line_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p.kdl");
    std::fs::write(&root, "include \"env.kdl\"\n").unwrap();
    // Like /proc/self/environ: NUL-separated secrets on one line, and more
    // secrets on the lines around the syntax error.
    let filler = "x".repeat(100);
    let line = format!("A=1\0B={filler}\0C={SECRET}\0D={SECRET}");
    std::fs::write(
        dir.path().join("env.kdl"),
        format!("// {SECRET}\n{line}\n// {SECRET}\n"),
    )
    .unwrap();
    let (code, text) = check(&root);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("env.kdl:2:"), "{text}");
    assert!(!text.contains(SECRET), "leaked: {text}");
    assert!(!text.contains('\0'), "control characters printed: {text:?}");
}

#[test]
fn a_file_that_does_not_yield_a_policy_name_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for name in [
        "p\nend\nno ip access-list extended X\n!.kdl".to_string(),
        "p\r\u{1b}[2J.kdl".to_string(),
        format!("{}.kdl", "a".repeat(240)),
    ] {
        let root = dir.path().join(&name);
        std::fs::write(&root, "").unwrap();
        let result = wardwall()
            .args(["build", "--date", DATE, "-o"])
            .arg(&out)
            .arg(&root)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(1), "{name:?}: {err}");
        assert!(err.contains("policy \""), "{name:?}: {err}");
        // The diagnostics escape the name. (The build command's closing
        // "not built" line still prints the path as given.)
        let diagnostics = err.split(" error, ").next().unwrap();
        assert!(
            !diagnostics.contains("\nend\n"),
            "raw newlines printed: {err}"
        );
        assert!(!diagnostics.contains('\u{1b}'), "raw ESC printed: {err:?}");
        assert!(!out.exists(), "{name:?}: something was written");
    }
}
