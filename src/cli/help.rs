//! The text `--help` shows after the options: the top level's examples,
//! exit codes and environment, and one example per command. Kept here, in
//! one place, so the examples can be read (and checked against README.md)
//! together. The examples use the shipped policies, so they work as typed
//! in a checkout (`tests/cli_conventions.rs` runs those that need no
//! device export or git remote).

/// After the top-level options (`wardwall --help`, and the man page's
/// EXTRA section).
pub(super) const TOP: &str = "\
Examples:
  wardwall check                          # check policies/hospital.kdl (relative to the working directory)
  wardwall check policies/hospital.kdl --format sarif > wardwall.sarif
  wardwall build policies/hospital.kdl -o out # write out/<target>/hospital.*
  wardwall build policies/hospital.kdl --check  # exit 1 when out/ is missing, stale or has orphan files
  wardwall diff policies/hospital.kdl --base origin/main --format markdown
  wardwall explain policies/hospital.kdl 10.20.8.5 202.114.4.119 tcp/515
  wardwall drift policies/hospital.kdl --device nftables=fw1.nft
  wardwall fmt --check                    # exit 1 when a policy file is not laid out canonically
  wardwall completions bash > ~/.local/share/bash-completion/completions/wardwall
  wardwall man > wardwall.1

The policy defaults to policies/hospital.kdl, relative to the working directory.

Exit codes (every command):
  0  ok: no errors, no differences
  1  findings: policy errors (or warnings with --deny-warnings), outputs missing, stale or orphaned,
     differences (diff, drift, import, explain --target)
  2  usage or I/O error: a bad option, a file that cannot be read or written

Environment:
  NO_COLOR  when set and not empty, never colour output (as --color never, unless --color always)
  PATH      `diff --base` runs `git` from PATH
";

/// `wardwall check --help`.
pub(super) const CHECK: &str = "\
Example:
  wardwall check policies/hospital.kdl --deny-warnings --format sarif > wardwall.sarif
";

/// `wardwall build --help`.
pub(super) const BUILD: &str = "\
Examples:
  wardwall build policies/hospital.kdl -o out -t nftables
  wardwall build policies/hospital.kdl -o out --check   # lists each file as missing, stale or orphan

An orphan is a file directly in DIR/<target>/, for a target this build writes, that neither this
build nor another policy recorded in DIR/wardwall-manifest.json writes. `build` never deletes
files: remove an orphan by hand.
";

/// `wardwall diff --help`.
pub(super) const DIFF: &str = "\
Example:
  wardwall diff policies/hospital.kdl --base origin/main --format markdown > diff.md
";

/// `wardwall explain --help`.
pub(super) const EXPLAIN: &str = "\
Arguments:
  [POLICY]  Policy file (default: policies/hospital.kdl, relative to the working directory)
  <SRC>     The packet's source address, written as in the policy (no leading zeros, no IPv4-mapped IPv6)
  <DST>     The packet's destination address, written as in the policy
  <PROTO>   tcp/PORT, udp/PORT (1..65535), icmp/TYPE (IPv4) or icmpv6/TYPE (IPv6) (a number or a name,
            e.g. icmp/echo-request), proto/NUMBER or a protocol name such as gre

Examples:
  wardwall explain 10.20.8.5 202.114.4.119 tcp/515          # the default policy
  wardwall explain policies/hospital.kdl 10.20.8.5 10.10.21.10 tcp/6661 --target cisco --against out
";

/// `wardwall drift --help`.
pub(super) const DRIFT: &str = "\
Example:
  wardwall drift policies/hospital.kdl --device nftables=fw1.nft --device cisco=core-sw1.txt
";

/// `wardwall import --help`.
pub(super) const IMPORT: &str = "\
Example:
  wardwall import cisco core-sw1.running-config -o policies/
";

/// `wardwall fmt --help`.
pub(super) const FMT: &str = "\
Examples:
  wardwall fmt --check                    # exit 1 listing the files fmt would change
  wardwall fmt policies/hospital.kdl --diff
";

/// `wardwall completions --help`.
pub(super) const COMPLETIONS: &str = "\
Examples:
  wardwall completions bash > ~/.local/share/bash-completion/completions/wardwall
  wardwall completions zsh > \"${fpath[1]}/_wardwall\"
  wardwall completions fish > ~/.config/fish/completions/wardwall.fish
";

/// `wardwall man --help`.
pub(super) const MAN: &str = "\
Examples:
  wardwall man | man -l -                 # read it now
  wardwall man build > wardwall-build.1   # one command's page
  for c in '' $(wardwall man --list); do wardwall man $c > wardwall${c:+-$c}.1; done   # every page
";
