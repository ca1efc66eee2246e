//! Hostile or mistaken input at the command line: includes that leave the
//! policy's tree, special files, file names that cannot be policy names,
//! and `explain` packets written differently from the policy's literals.
//! Every case must fail with a clear message and print nothing it should
//! not.

use assert_cmd::Command;

const DATE: &str = "2026-11-25";

fn wardwall() -> Command {
    Command::cargo_bin("wardwall").unwrap()
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
