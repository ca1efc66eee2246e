//! The nftables device reader: the ruleset a Linux router really runs, as
//! `nft list ruleset` prints it (text) or `nft -j list ruleset` prints it
//! (libnftables-json(5); chosen when the first non-blank character is `{`),
//! into the device model. Both forms are first read into one neutral
//! [`Ruleset`] (tables, named sets and maps, chains, rules made of
//! statements), so they give the same model; only the origins differ (a
//! text line, or a JSON rule's handle and position).
//!
//! # What decides a forwarded packet
//! Every base chain of `type filter hook forward` in every table of family
//! `inet`, `ip` or `ip6` is one [`Layer`] (nft(8), "CHAINS": "accept ...
//! the packet ... continues with the next base chain"; "drop ... is
//! immediately dropped"), ordered by priority (numeric, or the standard
//! names of nft(8) table "Standard priority names": raw -300, mangle -150,
//! dstnat -100, filter 0, security 50, srcnat 100, with `+ N` / `- N`), ties
//! in table order. Each layer has one filter guarded by the table's family
//! (`ip` IPv4, `ip6` IPv6, `inet` both; a packet of the other family
//! passes an `ip`/`ip6` layer unfiltered) whose default is the chain's
//! `policy` (accept when none is printed). A dormant table (`flags
//! dormant`) filters nothing and is skipped.
//!
//! Regular chains are inlined (nft(8), "VERDICT STATEMENT"): `jump`
//! returns after the target chain ends or says `return`, `goto` does not
//! (it is read as a jump followed by a `return` with the same condition),
//! `return` ends the current chain for the packets it matches, `continue`
//! and rules without a verdict decide nothing. Verdict maps (`vmap`,
//! anonymous or `@name` of `type ... : verdict`) are one rule per element.
//! A rule's conditions are conjoined with the conditions of the way to it
//! ([`Guard::and`], set intersections); the packets a `return` or `goto`
//! took away are removed from the later rules by negating its condition
//! (a disjunction, so one condition may become several entries with the
//! same decision).
//!
//! # Matches (nft(8), "PAYLOAD EXPRESSION", "META EXPRESSIONS", "CONNTRACK
//! EXPRESSIONS")
//! Modelled exactly: `meta nfproto`, `meta l4proto`, `ip protocol` (IPv4),
//! `ip6 nexthdr` (IPv6, no extension headers), `ip|ip6 saddr|daddr`
//! (addresses, prefixes, ranges, anonymous and named sets), `tcp|udp
//! dport`, `th dport` (exact for TCP and UDP; for other protocols bytes 2-3
//! of their header are not modelled: undecidable), `tcp|udp|th sport` by
//! [`source_ports`], `icmp type`, `icmpv6 type` (the names `nft describe`
//! prints, tables below), `iifname|oifname|iif|oif` (names, sets, `"eth*"`
//! wildcards as prefixes), `ct state` (a first packet is `new`), `ct
//! direction` (`original`), `==`, `!=`, `<`, `>`, `<=`, `>=` on numbers,
//! concatenations (each element one conjunction). Each match carries its
//! implicit dependency (`ip saddr` only holds for IPv4, `tcp dport` only for
//! TCP), which `!=` does not negate.
//!
//! Undecidable (the entry may or may not match, with the reason): any other
//! match (`meta mark`, `ct mark`, `fib`, `socket`, `meta skuid`, `tcp
//! flags`, `meta time`, ...), `limit`, `quota`, a lookup in a set whose
//! elements change at run time (`flags dynamic` or `timeout`), a source port
//! only some client ports hold, `queue` (userspace decides), iptables-nft
//! `xt` matches.
//!
//! No verdict effect, read and passed over: `counter`, `log` (sets
//! [`Decision::log`]), `comment` (the origin's text; a comment
//! `RULE: ...` as wardwall writes it names the policy rule), `meta|ct ...
//! set`, `flow add|offload` (only established flows are offloaded), dynamic
//! set updates (`add|update @set`).
//!
//! Refused (an error with line and column): anything else, and NAT
//! statements inside a forward filter chain (the kernel refuses them).
//!
//! # Skipped, listed in [`Device::skipped`]
//! Chains on other hooks (input and output never see a forwarded packet),
//! `type nat` and `type route` chains, flowtables, named stateful objects,
//! other families (`bridge`, `arp`, `netdev`), regular chains no forward
//! chain reaches. A filter chain that sees forwarded packets outside the
//! forward hook (`prerouting`, `postrouting`, `netdev ingress`, bridge
//! hooks) and can drop them is *not modelled*: it is listed by name with
//! "can drop forwarded packets, not evaluated", so drift's reader sees it.
//!
//! [`Layer`]: crate::read::device::Layer
//! [`Guard::and`]: crate::read::device::Guard::and
//! [`source_ports`]: crate::read::device::source_ports
//! [`Decision::log`]: crate::read::device::Decision::log
//! [`Device::skipped`]: crate::read::device::Device::skipped

#[path = "nftables_inventory.rs"]
mod inventory;
#[path = "nftables_json.rs"]
mod json;
#[path = "nftables_json_tree.rs"]
mod json_tree;
#[path = "nftables_lower.rs"]
mod lower;
#[path = "nftables_text.rs"]
mod text;

use std::collections::BTreeMap;

use crate::read::device::{Device, DeviceError};
use crate::read::export::inventory::Inventory;

/// Reads a nftables device export (`nft list ruleset`, or `nft -j list
/// ruleset` when the first non-blank character is `{`) into the device
/// model.
pub fn read(text: &str) -> Result<Device, DeviceError> {
    lower::device(&parse(text)?)
}

/// What a ruleset names beyond what it decides, for `import`: its named
/// address sets.
pub fn read_inventory(text: &str) -> Result<Inventory, DeviceError> {
    Ok(inventory::of(&parse(text)?))
}

/// Either form into the neutral [`Ruleset`].
fn parse(text: &str) -> Result<Ruleset, DeviceError> {
    if text.trim_start().starts_with('{') {
        json::parse(text)
    } else {
        text::parse(text)
    }
}

// ------------------------------------------------------------ the ruleset

/// A ruleset as both forms print it, before any meaning is given to it.
#[derive(Clone, Debug, Default)]
struct Ruleset {
    tables: Vec<Table>,
}

#[derive(Clone, Debug, Default)]
struct Table {
    /// `inet`, `ip`, `ip6`, `bridge`, `arp`, `netdev`.
    family: String,
    name: String,
    /// `flags dormant`: the table's chains see no packet.
    dormant: bool,
    /// Named sets and maps, by name.
    sets: BTreeMap<String, NamedSet>,
    /// In the order printed.
    chains: Vec<Chain>,
    flowtables: usize,
    /// Named counters, quotas, limits, ct helpers and the like.
    objects: usize,
}

/// A named set or map.
#[derive(Clone, Debug, Default)]
struct NamedSet {
    /// `map NAME { type ... : verdict }`.
    verdicts: Vec<(Value, Verdict)>,
    /// Whether it is a map (of verdicts or of data).
    is_map: bool,
    /// Whether its data type is `verdict`.
    verdict_map: bool,
    /// `flags dynamic` or `timeout`: the printed elements are a snapshot.
    dynamic: bool,
    /// The elements of a set (keys only).
    elements: Vec<Value>,
    /// Its key type as printed: `ipv4_addr`, `ipv6_addr`, `ipv4_addr .
    /// inet_service`, or `typeof ip saddr` (`import` names address sets).
    key_type: String,
    /// Its `comment`.
    comment: Option<String>,
}

#[derive(Clone, Debug)]
struct Chain {
    name: String,
    base: Option<BaseChain>,
    rules: Vec<Rule>,
}

/// `type T hook H [device D] priority P; policy V;`.
#[derive(Clone, Debug)]
struct BaseChain {
    kind: String,
    hook: String,
    priority: i64,
    /// `None`: no policy printed (accept).
    policy: Option<Verdict>,
}

#[derive(Clone, Debug)]
struct Rule {
    stmts: Vec<Stmt>,
    comment: Option<String>,
    /// Where the rule is printed (1-based; a JSON rule: the position of its
    /// array element).
    line: usize,
    column: usize,
    /// The rule as printed (text), or what identifies it (JSON).
    text: String,
}

/// One statement of a rule.
#[derive(Clone, Debug)]
enum Stmt {
    Match {
        key: Key,
        op: Op,
        value: Value,
    },
    Vmap {
        key: Key,
        map: Map,
    },
    Verdict(Verdict),
    Log,
    /// A statement whose effect on the verdict is not known offline.
    Undecidable(String),
    /// A statement without effect on the verdict (`counter`, `meta mark
    /// set`, `flow add`).
    Effect,
    /// NAT (`snat`, `dnat`, `masquerade`, `redirect`).
    Nat(String),
}

#[derive(Clone, Debug)]
enum Map {
    Inline(Vec<(Value, Verdict)>),
    Named(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    Accept,
    Drop,
    Reject,
    Queue,
    Jump(String),
    Goto(String),
    Return,
    Continue,
}

/// The left-hand side of a match.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Key {
    /// `meta KEY` (also printed without `meta`: `iifname`).
    Meta(String),
    /// `PROTO FIELD`: `ip saddr`, `tcp dport`, `th dport`.
    Payload(String, String),
    /// `ct [original|reply] KEY`.
    Ct(String),
    /// `a . b . c`.
    Concat(Vec<Key>),
    /// `KEY & MASK` (and the other binary operations), as printed: never
    /// modelled, but the key's dependency holds.
    Masked(Box<Key>, String),
    /// Anything else (`fib daddr type`, `socket transparent`), as printed:
    /// never modelled.
    Other(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

/// A right-hand side, or a set element.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    /// A bare word or a JSON string: `10.0.0.0/8`, `22-23`, `tcp`,
    /// `established`.
    Word(String),
    /// A quoted string of the text form: `"eth0"`.
    Quoted(String),
    Number(u64),
    /// `{ a, b }`.
    Set(Vec<Value>),
    /// `@name`.
    SetRef(String),
    /// `a-b` (JSON `range`).
    Range(Box<Value>, Box<Value>),
    /// JSON `prefix`.
    Prefix(String, u8),
    /// `a . b`.
    Concat(Vec<Value>),
    /// `established,related` (a flag list).
    Flags(Vec<String>),
    /// Anything not modelled, as printed.
    Other(String),
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Meta(k) => write!(f, "meta {k}"),
            Key::Payload(p, k) => write!(f, "{p} {k}"),
            Key::Ct(k) => write!(f, "ct {k}"),
            Key::Concat(v) => {
                for (i, k) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" . ")?;
                    }
                    write!(f, "{k}")?;
                }
                Ok(())
            }
            Key::Masked(k, m) => write!(f, "{k} {m}"),
            Key::Other(s) => f.write_str(s),
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |f: &mut std::fmt::Formatter<'_>, v: &[Value], sep: &str| {
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                write!(f, "{x}")?;
            }
            Ok(())
        };
        match self {
            Value::Word(w) | Value::Other(w) => f.write_str(w),
            Value::Quoted(s) => write!(f, "\"{s}\""),
            Value::Number(n) => write!(f, "{n}"),
            Value::Set(v) => {
                f.write_str("{ ")?;
                list(f, v, ", ")?;
                f.write_str(" }")
            }
            Value::SetRef(n) => write!(f, "@{n}"),
            Value::Range(a, b) => write!(f, "{a}-{b}"),
            Value::Prefix(a, l) => write!(f, "{a}/{l}"),
            Value::Concat(v) => list(f, v, " . "),
            Value::Flags(v) => f.write_str(&v.join(",")),
        }
    }
}

/// The standard priority names of nft(8) ("CHAINS", table "Standard
/// priority names, family and hook compatibility matrix") for the ip, ip6
/// and inet families; `None` for a name this reader does not know.
fn priority_name(name: &str) -> Option<i64> {
    Some(match name {
        "raw" => -300,
        "mangle" => -150,
        "dstnat" => -100,
        "filter" => 0,
        "security" => 50,
        "srcnat" => 100,
        _ => return None,
    })
}

/// A priority as printed: `0`, `-150`, `filter`, `filter + 10`, `mangle -
/// 5` (already split into words).
fn priority(words: &[&str]) -> Result<i64, String> {
    let base = |w: &str| -> Result<i64, String> {
        w.parse::<i64>()
            .ok()
            .or_else(|| priority_name(w))
            .ok_or_else(|| format!("unknown chain priority `{w}`"))
    };
    match words {
        [w] => base(w),
        [w, sign @ ("+" | "-"), n] => {
            let n: i64 = n
                .parse()
                .map_err(|_| format!("`{n}` is not a priority offset"))?;
            Ok(base(w)? + if *sign == "+" { n } else { -n })
        }
        _ => Err(format!(
            "expected a chain priority (a number or a name like `filter + 10`), found `{}`",
            words.join(" ")
        )),
    }
}

/// The policy rule a comment names, as wardwall writes its comments
/// (`RULE: description`, `default: ...`): the part before the first `: `,
/// when it looks like a rule name.
fn rule_of_comment(comment: &str) -> Option<String> {
    let (name, _) = comment.split_once(": ")?;
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    ok.then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Packet;
    use crate::vocab::Action;

    /// A ruleset as nft 1.0.6 prints it (`nft list ruleset`, tabs and
    /// all), exercising jumps, gotos, returns and verdict maps.
    const TEXT: &str = "table inet filter {
\tset mon {
\t\ttype ipv4_addr
\t\tflags interval
\t\telements = { 10.20.1.0/25, 10.20.2.0/24,
\t\t\t     10.20.9.0/24 }
\t}

\tmap svc {
\t\ttype inet_service : verdict
\t\telements = { 53 : accept, 123 : accept }
\t}

\tchain forward {
\t\ttype filter hook forward priority filter; policy drop;
\t\tct state vmap { invalid : drop, established : accept, related : accept }
\t\tip daddr 202.114.4.0/24 counter packets 0 bytes 0 drop comment \"contec.out: block\"
\t\tiifname { \"icu0\", \"med*\" } jump lan
\t\tiifname \"wan*\" goto wan
\t\tudp sport 53 accept
\t\ttcp sport 1000-2000 accept
\t\tth dport 7 accept
\t}

\tchain lan {
\t\tip saddr != @mon return
\t\tip daddr 10.10.0.53 udp dport vmap @svc
\t\tip daddr 10.10.20.30 tcp dport 515 accept
\t}

\tchain wan {
\t\tip protocol tcp tcp dport != { 80, 443 } drop
\t\tip daddr 10.10.30.5 accept
\t}

\tchain unused {
\t\taccept
\t}
}
table ip nat {
\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname \"wan0\" masquerade
\t}
}
";

    /// The action for a packet; undecidable entries met are taken not to
    /// match (the tests that care look at them).
    fn decide(d: &Device, src: &str, dst: &str, proto: &str, i: &str, o: &str) -> Action {
        let p = Packet::parse(src, dst, proto).unwrap();
        d.decide(&p, Some(i), Some(o)).action
    }

    #[test]
    fn jumps_gotos_returns_and_verdict_maps_are_inlined() {
        let d = read(TEXT).unwrap();
        assert_eq!(d.layers.len(), 1);
        let a = |s, t, p, i, o| decide(&d, s, t, p, i, o);
        // Through `jump lan`, the named vmap and the accept after it.
        assert_eq!(
            a("10.20.1.5", "10.10.0.53", "udp/53", "icu0", "srv0"),
            Action::Allow
        );
        assert_eq!(
            a("10.20.9.5", "10.10.20.30", "tcp/515", "med3", "srv0"),
            Action::Allow
        );
        // Not a monitor: `return` back to forward, then the policy.
        assert_eq!(
            a("10.20.3.5", "10.10.20.30", "tcp/515", "icu0", "srv0"),
            Action::Deny
        );
        // Past the vmap's keys: the rest of `lan`, then back and dropped.
        assert_eq!(
            a("10.20.1.5", "10.10.0.53", "udp/54", "icu0", "srv0"),
            Action::Deny
        );
        // `goto wan`: `!=` on ports keeps its TCP dependency.
        assert_eq!(
            a("198.51.100.7", "10.10.30.5", "tcp/443", "wan0", "srv0"),
            Action::Allow
        );
        assert_eq!(
            a("198.51.100.7", "10.10.30.5", "tcp/22", "wan0", "srv0"),
            Action::Deny
        );
        assert_eq!(
            a("198.51.100.7", "10.10.30.5", "udp/22", "wan0", "srv0"),
            Action::Allow
        );
        // After the goto, nothing of forward applies to wan traffic.
        assert_eq!(
            a("198.51.100.7", "10.10.30.6", "udp/7", "wan0", "srv0"),
            Action::Deny
        );
        // The Contec block comes first, and names its rule.
        let p = Packet::parse("10.20.1.5", "202.114.4.119", "tcp/443").unwrap();
        let o = d.decide(&p, Some("icu0"), Some("wan0"));
        let origin = &o.steps[0].1.origin;
        assert_eq!(
            (o.action, origin.line, origin.column),
            (Action::Deny, 17, 3)
        );
        assert_eq!(origin.rule.as_deref(), Some("contec.out"));
        assert!(origin.text.starts_with("ip daddr 202.114.4.0/24 counter"));
        assert_eq!(
            d.skipped,
            [
                "NAT (1 chain, 1 rule)",
                "regular chains no forward chain reaches (1 chain, 1 rule)"
            ]
        );
    }

    #[test]
    fn source_ports_and_bare_th_are_decided_or_left_undecidable() {
        let d = read(TEXT).unwrap();
        // udp sport 53 never holds for a client's port: udp/9 is dropped.
        assert_eq!(
            decide(&d, "10.1.0.1", "10.2.0.1", "udp/9", "x0", "y0"),
            Action::Deny
        );
        // tcp sport 1000-2000 only sometimes: undecidable, passed over.
        let p = Packet::parse("10.1.0.1", "10.2.0.1", "tcp/9").unwrap();
        let o = d.decide(&p, Some("x0"), Some("y0"));
        assert_eq!(o.undecided.len(), 1);
        assert!(
            o.undecided[0]
                .undecidable
                .as_deref()
                .unwrap()
                .contains("source port")
        );
        // th dport 7: exact for TCP and UDP, undecidable for the others.
        assert_eq!(
            decide(&d, "10.1.0.1", "10.2.0.1", "udp/7", "x0", "y0"),
            Action::Allow
        );
        let gre = Packet::parse("10.1.0.1", "10.2.0.1", "gre").unwrap();
        assert_eq!(d.decide(&gre, Some("x0"), Some("y0")).undecided.len(), 1);
    }

    #[test]
    fn the_json_form_gives_the_same_decisions() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
{"table": {"family": "inet", "name": "filter", "handle": 3}},
{"chain": {"family": "inet", "table": "filter", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
{"rule": {"family": "inet", "table": "filter", "chain": "forward", "handle": 13, "expr": [{"vmap": {"key": {"ct": {"key": "state"}}, "data": {"set": [["invalid", {"drop": null}], ["established", {"accept": null}], ["related", {"accept": null}]]}}}]}},
{"rule": {"family": "inet", "table": "filter", "chain": "forward", "handle": 14, "comment": "contec.out: block", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "202.114.4.0", "len": 24}}}}, {"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}},
{"rule": {"family": "inet", "table": "filter", "chain": "forward", "handle": 15, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "icu*"}}, {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["new", "untracked"]}}, {"accept": null}]}}
]}"#;
        let d = read(json).unwrap();
        let p = Packet::parse("10.20.1.5", "202.114.4.119", "tcp/443").unwrap();
        let o = d.decide(&p, Some("icu0"), Some("wan0"));
        let origin = &o.steps[0].1.origin;
        assert_eq!(o.action, Action::Deny);
        assert_eq!((origin.line, origin.column), (5, 1));
        assert_eq!(origin.rule.as_deref(), Some("contec.out"));
        assert!(
            origin.text.contains("nftables[4]: rule handle 14"),
            "{}",
            origin.text
        );
        let ok = Packet::parse("10.20.1.5", "10.1.1.1", "tcp/443").unwrap();
        assert_eq!(d.decide(&ok, Some("icu7"), None).action, Action::Allow);
        assert_eq!(d.decide(&ok, Some("med0"), None).action, Action::Deny);
    }

    #[test]
    fn layers_follow_priority_and_families() {
        let text = "table inet a {
\tchain f {
\t\ttype filter hook forward priority filter + 10; policy accept;
\t\ttcp dport 22 drop
\t}
}
table ip6 b {
\tchain f {
\t\ttype filter hook forward priority mangle - 5; policy drop;
\t}
}
table netdev n {
\tchain i {
\t\ttype filter hook ingress device \"lo\" priority filter; policy drop;
\t}
}
";
        let d = read(text).unwrap();
        let names: Vec<&str> = d.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "table ip6 b chain f (priority -155)",
                "table inet a chain f (priority 10)"
            ]
        );
        // IPv4 passes the ip6 layer unfiltered; IPv6 is dropped by it.
        assert_eq!(
            decide(&d, "10.0.0.1", "10.0.0.2", "tcp/80", "a", "b"),
            Action::Allow
        );
        assert_eq!(
            decide(&d, "10.0.0.1", "10.0.0.2", "tcp/22", "a", "b"),
            Action::Deny
        );
        assert_eq!(
            decide(&d, "fd00::1", "fd00::2", "tcp/80", "a", "b"),
            Action::Deny
        );
        assert!(
            d.skipped.iter().any(|s| s.contains("netdev family"))
                && d.skipped
                    .iter()
                    .any(|s| s.contains("table netdev n chain i")
                        && s.contains("can drop forwarded packets")),
            "{:?}",
            d.skipped
        );
    }

    #[test]
    fn what_is_not_understood_is_an_error_with_its_place() {
        let bad = "table inet t {\n\tchain f {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\ttcp dport 22 frobnicate\n\t}\n}\n";
        let e = read(bad).unwrap_err();
        assert_eq!((e.line, e.column), (4, 16), "{e}");
        assert!(e.message.contains("frobnicate"), "{e}");
        let nat = "table inet t {\n\tchain f {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\tdnat to 10.0.0.1\n\t}\n}\n";
        assert!(read(nat).unwrap_err().message.contains("NAT"));
        let missing = "table inet t {\n\tchain f {\n\t\ttype filter hook forward priority filter;\n\t\tip saddr @nope accept\n\t}\n}\n";
        let e = read(missing).unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.message.contains("@nope"));
        assert!(read("flush ruleset\n").is_err());
        assert!(read("{\"nftables\": [{\"frob\": {}}]}").is_err());
    }

    #[test]
    fn unmodelled_matches_and_dynamic_sets_are_undecidable() {
        let text = "table inet t {
\tset seen {
\t\ttype ipv4_addr
\t\tsize 65535
\t\tflags dynamic,timeout
\t\ttimeout 1h
\t}

\tchain f {
\t\ttype filter hook forward priority filter; policy drop;
\t\tmeta mark 0x00000001 accept
\t\tip saddr @seen accept
\t\tct state established,related accept
\t}
}
";
        let d = read(text).unwrap();
        let p = Packet::parse("10.0.0.1", "10.0.0.2", "tcp/80").unwrap();
        let o = d.decide(&p, None, None);
        assert_eq!(o.action, Action::Deny);
        let why: Vec<&str> = o
            .undecided
            .iter()
            .map(|e| e.undecidable.as_deref().unwrap())
            .collect();
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(
            why[0].contains("meta mark") && why[1].contains("dynamic"),
            "{why:?}"
        );
        // `ct state established,related` never holds for a first packet.
        assert_eq!(d.layers[0].filters[0].entries.len(), 2);
    }

    #[test]
    fn priorities_and_comments_are_read_as_nft_prints_them() {
        assert_eq!(priority(&["filter"]), Ok(0));
        assert_eq!(priority(&["-150"]), Ok(-150));
        assert_eq!(priority(&["filter", "+", "10"]), Ok(10));
        assert_eq!(priority(&["raw", "-", "1"]), Ok(-301));
        assert!(priority(&["bogus"]).is_err());
        assert_eq!(
            rule_of_comment("contec-cms8000.out: CISA").as_deref(),
            Some("contec-cms8000.out")
        );
        assert_eq!(
            rule_of_comment("default: anti-spoofing: x").as_deref(),
            Some("default")
        );
        assert_eq!(rule_of_comment("allow ssh from admins"), None);
        assert_eq!(rule_of_comment("temp fix: vendor"), None);
    }
}
