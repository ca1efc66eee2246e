//! A strict reader for exactly the nftables ruleset text the nftables
//! renderer writes, and a first-match evaluator of its forward chain.
//!
//! The reader knows the emitted subset: `table inet NAME` / `delete table` /
//! `table inet NAME { ... }` with interval sets of addresses (`type
//! ipv4_addr|ipv6_addr`, `flags interval`, `elements = { ... }`), and one
//! `forward` base chain whose rules are made of `meta nfproto`,
//! `iifname`/`oifname`, `ip|ip6 saddr|daddr` (named set, anonymous set or
//! literal), `meta l4proto`, `tcp|udp|th dport`, `icmp|icmpv6 type` and
//! `ct state` matches, `counter`, `log prefix`, a verdict (`accept`, `drop`,
//! `reject with tcp reset`, `reject with icmpx admin-prohibited`) and a
//! `comment`. Anything else is refused. Each rule belongs to the `# NAME`
//! block heading above it, and its comment must start with that name.
//! Before the first heading stand the anti-spoofing rules (`iifname "X"
//! ip saddr != @set`, `iifname "X" meta nfproto ...`, `iifname != { ... }`,
//! dropping, comment `default: anti-spoofing: ...`; they belong to the
//! default rule) and the `ct state` rules; `!=` appears nowhere else.
//!
//! The evaluator follows the kernel: a packet is tested against the chain's
//! rules in order and the first rule whose every match holds decides; none:
//! the chain policy. Matches carry their implicit dependencies (`ip saddr`
//! only matches IPv4, `tcp dport` only TCP, `icmp type` only ICMP over IPv4,
//! `icmpv6 type` only ICMPv6). A packet is the first packet of a new flow:
//! conntrack state `new`, so `ct state established,related` and `ct state
//! invalid` never match it. `explain --target nftables` answers from this.
//!
//! Neither takes anything from the renderer (tables, limits, helpers): a
//! mistake the two shared would round-trip green.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::{Reader, TargetVerdict, same_subnet_note};
use crate::ir::{Action, Family, Ir, Packet, Proto};
use crate::vocab::Target;

/// The target the reader answers for; zones name their interfaces under
/// it.
const TARGET: &str = Target::Nftables.name();
/// Linux interface names are at most 15 bytes (`IFNAMSIZ` less the NUL).
const MAX_IFNAME: usize = 15;

/// Why the reader refused a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number (0: the file as a whole).
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A named interval set of addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrSetDef {
    pub family: Family,
    pub elements: Vec<IpNet>,
}

/// Where an address match looks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddrList {
    /// `@name`
    Named(String),
    /// A literal or `{ a, b }`.
    Inline(Vec<IpNet>),
}

/// Which port field a `dport` match reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortProto {
    Tcp,
    Udp,
    /// `th dport`: the transport header of TCP or UDP.
    Th,
}

/// Connection-tracking states a `ct state` match names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtState {
    New,
    Established,
    Related,
    Invalid,
}

/// One match of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    Nfproto(Family),
    Iifname(Vec<String>),
    Oifname(Vec<String>),
    Addr {
        family: Family,
        /// `true` for `saddr`.
        source: bool,
        list: AddrList,
    },
    /// `meta l4proto`: inclusive ranges of protocol numbers.
    L4proto(Vec<(u8, u8)>),
    Dport(PortProto, Vec<(u16, u16)>),
    /// `icmp type` (V4) / `icmpv6 type` (V6).
    IcmpType(Family, Vec<(u8, u8)>),
    Ct(Vec<CtState>),
    /// `!=`: the inner match does not hold (only `iifname` and `saddr`
    /// are written negated, by the anti-spoofing rules).
    Not(Box<Match>),
}

/// A rule's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NftVerdict {
    Accept,
    Drop,
    /// `reject with tcp reset` / `reject with icmpx admin-prohibited`.
    Reject(String),
}

impl NftVerdict {
    pub fn action(&self) -> Action {
        match self {
            NftVerdict::Accept => Action::Allow,
            NftVerdict::Drop => Action::Deny,
            NftVerdict::Reject(_) => Action::Reject,
        }
    }
}

/// One rule of the forward chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NftRule {
    /// 1-based line number in the file.
    pub line: usize,
    /// The `# NAME` block heading the rule is under (`None` for the
    /// connection-tracking rules before the first heading).
    pub block: Option<String>,
    pub matches: Vec<Match>,
    pub counter: bool,
    pub log_prefix: Option<String>,
    pub verdict: NftVerdict,
    pub comment: Option<String>,
}

/// The table after the file ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ruleset {
    pub table: String,
    pub sets: BTreeMap<String, AddrSetDef>,
    /// The forward chain's policy.
    pub policy: NftVerdict,
    pub rules: Vec<NftRule>,
}

// ------------------------------------------------------------------ tokens

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Comma,
    Semi,
}

fn tokens(line: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' => {
                chars.next();
            }
            '{' | '}' | ',' | ';' => {
                chars.next();
                out.push(match c {
                    '{' => Tok::Open,
                    '}' => Tok::Close,
                    ',' => Tok::Comma,
                    _ => Tok::Semi,
                });
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(c) if c.is_control() => {
                            return Err("control character in a string".into());
                        }
                        Some(c) => s.push(c),
                        None => return Err("unterminated string".into()),
                    }
                }
                out.push(Tok::Quoted(s));
            }
            c if c.is_control() => return Err("control character".into()),
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if matches!(c, ' ' | '{' | '}' | ',' | ';' | '"') || c.is_control() {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push(Tok::Word(w));
            }
        }
    }
    Ok(out)
}

struct Cursor {
    toks: Vec<Tok>,
    at: usize,
}

impl Cursor {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }
    fn peek_word(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn word(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w),
            other => Err(format!("expected a word, found {other:?}")),
        }
    }
    fn quoted(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Quoted(s)) => Ok(s),
            other => Err(format!("expected a quoted string, found {other:?}")),
        }
    }
    /// A single item or `{ a, b, ... }` (at least one item).
    fn items(&mut self) -> Result<Vec<Tok>, String> {
        if self.peek() != Some(&Tok::Open) {
            return self
                .next()
                .map(|t| vec![t])
                .ok_or_else(|| "missing value".to_string());
        }
        self.next();
        let mut out = Vec::new();
        loop {
            match self.next() {
                Some(Tok::Close) if !out.is_empty() => return Ok(out),
                Some(t @ (Tok::Word(_) | Tok::Quoted(_))) => {
                    out.push(t);
                    match self.next() {
                        Some(Tok::Comma) => {}
                        Some(Tok::Close) => return Ok(out),
                        other => return Err(format!("expected `,` or `}}`, found {other:?}")),
                    }
                }
                other => return Err(format!("bad set element {other:?}")),
            }
        }
    }
}

// ------------------------------------------------------------------ reader

fn net(text: &str, family: Family) -> Result<IpNet, String> {
    let n: IpNet = match text.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => text
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("`{text}` is not an address or prefix"))?,
    };
    let fam = if n.addr().is_ipv4() {
        Family::V4
    } else {
        Family::V6
    };
    if fam != family {
        return Err(format!("`{text}` is of the other family"));
    }
    if n.trunc() != n {
        return Err(format!("`{text}` has host bits set"));
    }
    Ok(n)
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{text}` is not a number"));
    }
    text.parse()
        .map_err(|_| format!("`{text}` is out of range"))
}

fn ranges<T: std::str::FromStr + PartialOrd + Copy>(
    items: &[Tok],
    name: impl Fn(&str) -> Option<T>,
) -> Result<Vec<(T, T)>, String> {
    let mut out = Vec::new();
    for t in items {
        let Tok::Word(w) = t else {
            return Err(format!("bad element {t:?}"));
        };
        if let Some(v) = name(w) {
            out.push((v, v));
            continue;
        }
        match w.split_once('-') {
            Some((a, b)) => {
                let (a, b): (T, T) = (number(a)?, number(b)?);
                if a >= b {
                    return Err(format!("empty or one-element range `{w}`"));
                }
                out.push((a, b));
            }
            None => {
                let v: T = number(w)?;
                out.push((v, v));
            }
        }
    }
    Ok(out)
}

fn l4_name(w: &str) -> Option<u8> {
    match w {
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(1),
        "ipv6-icmp" => Some(58),
        _ => None,
    }
}

fn ifnames(items: Vec<Tok>) -> Result<Vec<String>, String> {
    items
        .into_iter()
        .map(|t| match t {
            Tok::Quoted(s)
                if !s.is_empty()
                    && s.len() <= MAX_IFNAME
                    && s.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'*')
                    }) =>
            {
                Ok(s)
            }
            other => Err(format!("bad interface name {other:?}")),
        })
        .collect()
}

/// Parses one rule line of the forward chain.
fn rule_line(
    toks: Vec<Tok>,
    line: usize,
    block: Option<String>,
    sets: &BTreeMap<String, AddrSetDef>,
) -> Result<NftRule, String> {
    let mut c = Cursor { toks, at: 0 };
    let mut matches = Vec::new();
    loop {
        let Some(w) = c.peek_word().map(str::to_string) else {
            return Err("expected a match, `counter` or a verdict".into());
        };
        if matches!(
            w.as_str(),
            "counter" | "log" | "accept" | "drop" | "reject" | "comment"
        ) {
            break;
        }
        c.next();
        let m = match w.as_str() {
            "meta" => match c.word()?.as_str() {
                "nfproto" => match c.word()?.as_str() {
                    "ipv4" => Match::Nfproto(Family::V4),
                    "ipv6" => Match::Nfproto(Family::V6),
                    other => return Err(format!("unknown nfproto `{other}`")),
                },
                "l4proto" => {
                    let items = c.items()?;
                    let protos = ranges(&items, l4_name)?;
                    // `th dport` may only follow `meta l4proto { tcp, udp }`.
                    if c.peek_word() == Some("th") {
                        c.next();
                        if c.word()? != "dport" || protos != [(6, 6), (17, 17)] {
                            return Err("`th dport` needs `meta l4proto { tcp, udp }`".into());
                        }
                        matches.push(Match::L4proto(protos));
                        let items = c.items()?;
                        Match::Dport(PortProto::Th, ranges(&items, |_| None)?)
                    } else {
                        Match::L4proto(protos)
                    }
                }
                other => return Err(format!("unknown meta key `{other}`")),
            },
            "iifname" if c.peek_word() == Some("!=") => {
                c.next();
                Match::Not(Box::new(Match::Iifname(ifnames(c.items()?)?)))
            }
            "iifname" => Match::Iifname(ifnames(c.items()?)?),
            "oifname" => Match::Oifname(ifnames(c.items()?)?),
            "ip" | "ip6" => {
                let family = if w == "ip" { Family::V4 } else { Family::V6 };
                let source = match c.word()?.as_str() {
                    "saddr" => true,
                    "daddr" => false,
                    other => return Err(format!("unknown {w} field `{other}`")),
                };
                let negated = source && c.peek_word() == Some("!=");
                if negated {
                    c.next();
                }
                let list = match c.peek_word() {
                    Some(n) if n.starts_with('@') => {
                        let name = n[1..].to_string();
                        c.next();
                        let set = sets
                            .get(&name)
                            .ok_or_else(|| format!("set @{name} is not defined"))?;
                        if set.family != family {
                            return Err(format!("set @{name} is of the other family"));
                        }
                        AddrList::Named(name)
                    }
                    _ => {
                        let items = c.items()?;
                        let nets = items
                            .iter()
                            .map(|t| match t {
                                Tok::Word(w) => net(w, family),
                                other => Err(format!("bad address {other:?}")),
                            })
                            .collect::<Result<Vec<_>, _>>()?;
                        AddrList::Inline(nets)
                    }
                };
                let m = Match::Addr {
                    family,
                    source,
                    list,
                };
                if negated { Match::Not(Box::new(m)) } else { m }
            }
            "tcp" | "udp" => {
                if c.word()? != "dport" {
                    return Err(format!("only `{w} dport` is emitted"));
                }
                let items = c.items()?;
                let p = if w == "tcp" {
                    PortProto::Tcp
                } else {
                    PortProto::Udp
                };
                Match::Dport(p, ranges(&items, |_| None)?)
            }
            "icmp" | "icmpv6" => {
                if c.word()? != "type" {
                    return Err(format!("only `{w} type` is emitted"));
                }
                let items = c.items()?;
                let family = if w == "icmp" { Family::V4 } else { Family::V6 };
                Match::IcmpType(family, ranges(&items, |_| None)?)
            }
            "ct" => {
                if c.word()? != "state" {
                    return Err("only `ct state` is emitted".into());
                }
                // `established,related`: the tokenizer splits at the comma.
                let mut list = vec![c.word()?];
                while c.peek() == Some(&Tok::Comma) {
                    c.next();
                    list.push(c.word()?);
                }
                let states = list
                    .iter()
                    .map(|s| match s.as_str() {
                        "new" => Ok(CtState::New),
                        "established" => Ok(CtState::Established),
                        "related" => Ok(CtState::Related),
                        "invalid" => Ok(CtState::Invalid),
                        other => Err(format!("unknown ct state `{other}`")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Match::Ct(states)
            }
            other => return Err(format!("unknown match `{other}`")),
        };
        matches.push(m);
    }
    let mut counter = false;
    if c.peek_word() == Some("counter") {
        c.next();
        counter = true;
    }
    let mut log_prefix = None;
    if c.peek_word() == Some("log") {
        c.next();
        if c.word()? != "prefix" {
            return Err("only `log prefix \"...\"` is emitted".into());
        }
        log_prefix = Some(c.quoted()?);
    }
    let verdict = match c.word()?.as_str() {
        "accept" => NftVerdict::Accept,
        "drop" => NftVerdict::Drop,
        "reject" => {
            if c.word()? != "with" {
                return Err("`reject` without `with`".into());
            }
            let how = format!("{} {}", c.word()?, c.word()?);
            match how.as_str() {
                "tcp reset" => {
                    let tcp_only = matches.iter().any(|m| {
                        *m == Match::L4proto(vec![(6, 6)])
                            || matches!(m, Match::Dport(PortProto::Tcp, _))
                    });
                    if !tcp_only {
                        return Err(
                            "`reject with tcp reset` on a rule that does not match TCP only".into(),
                        );
                    }
                }
                "icmpx admin-prohibited" => {}
                other => return Err(format!("unknown reject `{other}`")),
            }
            NftVerdict::Reject(how)
        }
        other => return Err(format!("unknown verdict `{other}`")),
    };
    let mut comment = None;
    if c.peek_word() == Some("comment") {
        c.next();
        comment = Some(c.quoted()?);
    }
    if let Some(extra) = c.next() {
        return Err(format!("unexpected {extra:?} after the verdict"));
    }
    // The anti-spoofing rules stand before the first `# NAME` block (in
    // front of the `ct state` rules): a negated `iifname` or an `iifname`
    // with a negated `saddr` or an `nfproto`, deciding as the default rule.
    let antispoof = block.is_none()
        && comment
            .as_deref()
            .is_some_and(|c| c.starts_with("default: anti-spoofing: "));
    if antispoof {
        let shape_ok = match matches.as_slice() {
            [Match::Not(i)] => matches!(**i, Match::Iifname(_)),
            [Match::Iifname(_), Match::Not(a)] => matches!(**a, Match::Addr { .. }),
            [Match::Iifname(_), Match::Nfproto(_)] => true,
            _ => false,
        };
        if !shape_ok || !counter || matches!(verdict, NftVerdict::Accept) {
            return Err("an anti-spoofing rule wardwall does not write".into());
        }
        return Ok(NftRule {
            line,
            block: Some("default".into()),
            matches,
            counter,
            log_prefix,
            verdict,
            comment,
        });
    }
    if matches.iter().any(|m| matches!(m, Match::Not(_))) {
        return Err("`!=` outside the anti-spoofing rules".into());
    }
    match (&block, &comment) {
        (None, None) => {
            if !matches.iter().all(|m| matches!(m, Match::Ct(_))) || matches.is_empty() {
                return Err("a rule outside a `# NAME` block must be a `ct state` rule".into());
            }
        }
        (Some(b), Some(cm)) => {
            if !counter {
                return Err("a rule without `counter`".into());
            }
            if !(cm.starts_with(b.as_str()) || b.starts_with(cm.as_str())) {
                return Err(format!(
                    "the comment `{cm}` does not name the rule of its block `{b}`"
                ));
            }
        }
        (Some(_), None) => return Err("a rule without a comment".into()),
        (None, Some(_)) => return Err("a commented rule outside a `# NAME` block".into()),
    }
    Ok(NftRule {
        line,
        block,
        matches,
        counter,
        log_prefix,
        verdict,
        comment,
    })
}

enum State {
    Top,
    Table,
    Set(String),
    Elements(String),
    ChainHeader,
    Chain,
    Done,
}

/// Reads a ruleset the nftables renderer wrote. Anything else is an error.
pub fn parse(text: &str) -> Result<Ruleset, ParseError> {
    let mut state = State::Top;
    let mut table: Option<String> = None;
    let mut declared = false;
    let mut deleted = false;
    let mut sets: BTreeMap<String, AddrSetDef> = BTreeMap::new();
    let mut set_family: Option<Family> = None;
    let mut set_flags = false;
    let mut set_elements = false;
    let mut set_comment = false;
    let mut table_comment = false;
    let mut chain_seen = false;
    let mut policy = None;
    let mut rules = Vec::new();
    let mut block: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let err = |m: String| ParseError {
            line: n,
            message: m,
        };
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            match state {
                State::Top | State::Done => continue,
                State::Chain => {
                    let name = comment.strip_prefix(' ').unwrap_or("").to_string();
                    if name.is_empty() {
                        return Err(err("a `#` heading without a rule name".into()));
                    }
                    block = Some(name);
                    continue;
                }
                _ => return Err(err("a `#` comment where wardwall writes none".into())),
            }
        }
        let toks = tokens(line).map_err(&err)?;
        let words: Vec<&str> = toks
            .iter()
            .map(|t| match t {
                Tok::Word(w) => w.as_str(),
                Tok::Quoted(_) => "\"",
                Tok::Open => "{",
                Tok::Close => "}",
                Tok::Comma => ",",
                Tok::Semi => ";",
            })
            .collect();
        let same_table = |name: &str, table: &Option<String>| -> Result<(), ParseError> {
            match table {
                Some(t) if t != name => Err(err(format!("table `{name}` after table `{t}`"))),
                _ => Ok(()),
            }
        };
        match state {
            State::Top => match words.as_slice() {
                ["table", "inet", name] if !declared => {
                    same_table(name, &table)?;
                    table = Some(name.to_string());
                    declared = true;
                }
                ["delete", "table", "inet", name] if declared && !deleted => {
                    same_table(name, &table)?;
                    deleted = true;
                }
                ["table", "inet", name, "{"] if deleted => {
                    same_table(name, &table)?;
                    state = State::Table;
                }
                _ => {
                    return Err(err(format!(
                        "expected `table inet NAME`, `delete table inet NAME`, then `table inet NAME {{`, found `{line}`"
                    )));
                }
            },
            State::Table => match words.as_slice() {
                ["comment", "\""] if !table_comment && sets.is_empty() && !chain_seen => {
                    table_comment = true;
                }
                ["set", name, "{"] if !chain_seen => {
                    if sets.contains_key(*name) {
                        return Err(err(format!("set `{name}` defined twice")));
                    }
                    check_ident(name).map_err(&err)?;
                    (set_family, set_flags, set_elements, set_comment) =
                        (None, false, false, false);
                    state = State::Set(name.to_string());
                }
                ["chain", "forward", "{"] if !chain_seen => {
                    chain_seen = true;
                    state = State::ChainHeader;
                }
                ["}"] if chain_seen => state = State::Done,
                _ => return Err(err(format!("unexpected `{line}` in the table"))),
            },
            State::Set(ref name) => match words.as_slice() {
                ["type", ty] if set_family.is_none() => {
                    set_family = Some(match *ty {
                        "ipv4_addr" => Family::V4,
                        "ipv6_addr" => Family::V6,
                        other => return Err(err(format!("set type `{other}`"))),
                    });
                }
                ["flags", "interval"] if set_family.is_some() && !set_flags => set_flags = true,
                ["comment", "\""] if set_flags && !set_comment && !set_elements => {
                    set_comment = true
                }
                ["elements", "=", "{"] if set_flags && !set_elements => {
                    set_elements = true;
                    sets.insert(
                        name.clone(),
                        AddrSetDef {
                            family: set_family.expect("type seen"),
                            elements: Vec::new(),
                        },
                    );
                    state = State::Elements(name.clone());
                }
                ["}"] if set_elements => state = State::Table,
                _ => return Err(err(format!("unexpected `{line}` in set `{name}`"))),
            },
            State::Elements(ref name) => match toks.as_slice() {
                [Tok::Word(e), Tok::Comma] => {
                    let set = sets.get_mut(name).expect("set inserted");
                    let e = net(e, set.family).map_err(&err)?;
                    if set.elements.iter().any(|x| x.contains(&e) || e.contains(x)) {
                        return Err(err(format!("overlapping element {e} in set `{name}`")));
                    }
                    set.elements.push(e);
                }
                [Tok::Close] => state = State::Set(name.clone()),
                _ => return Err(err(format!("unexpected `{line}` in the elements"))),
            },
            State::ChainHeader => match words.as_slice() {
                [
                    "type",
                    "filter",
                    "hook",
                    "forward",
                    "priority",
                    "filter",
                    ";",
                    "policy",
                    p,
                    ";",
                ] => {
                    policy = Some(match *p {
                        "drop" => NftVerdict::Drop,
                        "accept" => NftVerdict::Accept,
                        other => return Err(err(format!("chain policy `{other}`"))),
                    });
                    state = State::Chain;
                }
                _ => {
                    return Err(err(format!(
                        "expected the forward base chain header, found `{line}`"
                    )));
                }
            },
            State::Chain => match words.as_slice() {
                ["}"] => state = State::Table,
                _ => {
                    let rule = rule_line(toks, n, block.clone(), &sets).map_err(&err)?;
                    rules.push(rule);
                }
            },
            State::Done => return Err(err(format!("text after the table: `{line}`"))),
        }
    }
    if !matches!(state, State::Done) {
        return Err(ParseError {
            line: 0,
            message: "the file ends inside the table (or has no table)".into(),
        });
    }
    Ok(Ruleset {
        table: table.expect("a table was declared"),
        sets,
        policy: policy.expect("the chain header was read"),
        rules,
    })
}

fn check_ident(name: &str) -> Result<(), String> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not a set name wardwall writes"))
    }
}

// ------------------------------------------------------------------ evaluation

/// A packet as the forward chain sees it: the first packet of a new flow,
/// with its interfaces; `None` is an interface no zone is bound to (no
/// name wardwall writes matches it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forwarded {
    pub packet: Packet,
    pub iif: Option<String>,
    pub oif: Option<String>,
}

fn family_of(ip: IpAddr) -> Family {
    if ip.is_ipv4() { Family::V4 } else { Family::V6 }
}

/// The packet's layer-4 protocol number.
fn l4(p: &Packet) -> u8 {
    match p.proto {
        Proto::Tcp { .. } => 6,
        Proto::Udp { .. } => 17,
        Proto::Icmp { .. } if p.src.is_ipv4() => 1,
        Proto::Icmp { .. } => 58,
        Proto::Other(n) => n,
    }
}

fn ifname_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

impl Ruleset {
    fn addr_in(&self, list: &AddrList, ip: IpAddr) -> bool {
        match list {
            AddrList::Named(n) => self
                .sets
                .get(n)
                .is_some_and(|s| s.elements.iter().any(|e| e.contains(&ip))),
            AddrList::Inline(v) => v.iter().any(|e| e.contains(&ip)),
        }
    }

    /// Whether one match holds; an error when it needs an interface that is
    /// not known.
    pub(crate) fn match_holds(&self, m: &Match, f: &Forwarded) -> Result<bool, String> {
        let p = &f.packet;
        let fam = family_of(p.src);
        let in_ranges = |v: &[(u16, u16)], x: u16| v.iter().any(|&(lo, hi)| lo <= x && x <= hi);
        Ok(match m {
            Match::Nfproto(family) => *family == fam,
            // No interface known: one no zone is bound to, which no name
            // wardwall writes matches.
            Match::Iifname(names) | Match::Oifname(names) => {
                let iface = match m {
                    Match::Iifname(_) => &f.iif,
                    _ => &f.oif,
                };
                iface
                    .as_ref()
                    .is_some_and(|i| names.iter().any(|n| ifname_matches(n, i)))
            }
            // `ip saddr != @s` still only matches IPv4 (the family is an
            // implicit dependency, not part of the negated comparison).
            Match::Not(inner) => match &**inner {
                Match::Addr {
                    family,
                    source,
                    list,
                } => *family == fam && !self.addr_in(list, if *source { p.src } else { p.dst }),
                other => !self.match_holds(other, f)?,
            },
            Match::Addr {
                family,
                source,
                list,
            } => *family == fam && self.addr_in(list, if *source { p.src } else { p.dst }),
            Match::L4proto(v) => {
                let n = l4(p);
                v.iter().any(|&(lo, hi)| lo <= n && n <= hi)
            }
            Match::Dport(proto, v) => match (proto, p.proto) {
                (PortProto::Tcp | PortProto::Th, Proto::Tcp { dport })
                | (PortProto::Udp | PortProto::Th, Proto::Udp { dport }) => in_ranges(v, dport),
                _ => false,
            },
            Match::IcmpType(family, v) => match p.proto {
                Proto::Icmp { ty } if *family == fam => {
                    v.iter().any(|&(lo, hi)| lo <= ty && ty <= hi)
                }
                _ => false,
            },
            // A first packet is `new`.
            Match::Ct(states) => states.contains(&CtState::New),
        })
    }

    /// First-match evaluation of the forward chain: the index of the
    /// deciding rule, `None` for the chain policy.
    pub fn evaluate(&self, f: &Forwarded) -> Result<Option<usize>, String> {
        for (i, r) in self.rules.iter().enumerate() {
            let mut all = true;
            for m in &r.matches {
                if !self.match_holds(m, f)? {
                    all = false;
                    break;
                }
            }
            if all {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }
}

// ------------------------------------------------------------------ explain

/// `explain --target nftables`: the forward chain of the ruleset, for the
/// first packet of a new flow, with the interfaces of the zones'
/// `nftables` bindings.
pub(crate) struct Evaluator;

impl Reader for Evaluator {
    fn target(&self) -> Target {
        Target::Nftables
    }

    fn extension(&self) -> &'static str {
        "nft"
    }

    fn device(&self, text: &str) -> Result<super::device::Device, super::device::DeviceError> {
        super::export::nftables::read(text)
    }

    /// The rendered file is an `nft -f` script: it first creates and
    /// deletes its table (so that loading replaces it in one transaction),
    /// then defines it. What the kernel then runs is the definition; the
    /// two preamble commands are blanked (keeping line numbers) and the
    /// rest read as `nft list ruleset` prints it.
    fn deployed(
        &self,
        ir: &Ir,
        rendered: &str,
        onto: Option<&str>,
    ) -> Result<super::device::Device, super::device::DeviceError> {
        // The device's other tables are not part of what was reviewed: a
        // drop in one of them is drift, not inherent.
        let _ = (ir, onto);
        let body: Vec<&str> = rendered
            .lines()
            .map(|l| {
                let t = l.trim();
                let preamble = (t.starts_with("table ") || t.starts_with("delete table "))
                    && !t.ends_with('{');
                if preamble { "" } else { l }
            })
            .collect();
        super::export::nftables::read(&body.join("\n"))
    }

    fn evaluate(&self, ir: &Ir, text: &str, packet: &Packet) -> Result<TargetVerdict, String> {
        let rs = parse(text).map_err(|e| {
            let line = text.lines().nth(e.line.saturating_sub(1)).unwrap_or("");
            format!(
                "the nftables file cannot be read back: {e}: `{}`",
                line.trim()
            )
        })?;
        let src_zone = ir.zone_of(packet.src);
        let dst_zone = ir.zone_of(packet.dst);
        let iface = |z: Option<&crate::ir::Zone>| z.and_then(|z| z.bindings.get(TARGET)).cloned();
        let f = Forwarded {
            packet: *packet,
            iif: iface(src_zone),
            oif: iface(dst_zone),
        };
        let side = |z: Option<&crate::ir::Zone>, i: &Option<String>| {
            let zone = z.map_or("(none)".to_string(), |z| z.name.clone());
            match i {
                Some(i) => format!("{i} (zone {zone})"),
                None => format!("zone {zone}, no nftables interface binding"),
            }
        };
        let place = format!(
            "table inet {}, chain forward: in {}, out {}",
            rs.table,
            side(src_zone, &f.iif),
            side(dst_zone, &f.oif)
        );
        let mut notes =
            vec!["evaluated as the first packet of a new flow (ct state new)".to_string()];
        if src_zone.is_some_and(|s| dst_zone.is_some_and(|d| s.name == d.name))
            || (f.iif.is_some() && f.iif == f.oif)
        {
            notes.push(same_subnet_note(
                "in the same zone",
                "is never forwarded and this chain does not see it",
            ));
        }
        Ok(match rs.evaluate(&f)? {
            Some(i) => {
                let r = &rs.rules[i];
                let line = text.lines().nth(r.line - 1).unwrap_or("").trim();
                TargetVerdict {
                    action: r.verdict.action(),
                    rule: r.block.clone(),
                    place,
                    entry: format!("line {}: `{line}`", r.line),
                    log: r.log_prefix.is_some(),
                    notes,
                }
            }
            None => TargetVerdict {
                action: rs.policy.action(),
                rule: None,
                place,
                entry: format!(
                    "none: no rule matches, the chain policy ({}) decides",
                    match rs.policy {
                        NftVerdict::Accept => "accept",
                        _ => "drop",
                    }
                ),
                log: false,
                notes,
            },
        })
    }
}
