//! The text form, as `nft list ruleset` prints it (nft(8), "RULESET",
//! "TABLES", "CHAINS", "SETS", "MAPS", "STATEMENTS"): `table FAMILY NAME {
//! ... }` blocks holding sets, maps, stateful objects, flowtables and
//! chains; one rule per line; `elements = { ... }` may wrap over lines.
//! `#` starts a comment (as in `nft -f` files).

use super::lower::chain_priority;
use super::{BaseChain, Chain, Key, Map, NamedSet, Op, Rule, Ruleset, Stmt, Table, Value, Verdict};
use crate::read::device::DeviceError;
use crate::read::export::{LineIndex, line_col};

/// A token borrows its text from the export: a large ruleset has millions
/// of them, and most are only compared, never kept.
#[derive(Clone, Copy, Debug, PartialEq)]
enum T<'a> {
    Word(&'a str),
    Quoted(&'a str),
    Open,
    Close,
    Comma,
    Semi,
    Newline,
}

#[derive(Clone, Copy, Debug)]
struct Tok<'a> {
    t: T<'a>,
    offset: usize,
}

fn tokens(text: &str) -> Result<Vec<Tok<'_>>, DeviceError> {
    // `nft list ruleset` prints about one token per 5 bytes: reserving for
    // one per 4 spares the copies of a growing vector of millions.
    let mut out = Vec::with_capacity(text.len() / 4);
    let bytes = text.as_bytes();
    let mut i = 0;
    let err = |at: usize, m: &str| {
        let (l, c) = line_col(text, at);
        DeviceError::at(l, c, m)
    };
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b'\n' => {
                out.push(Tok {
                    t: T::Newline,
                    offset: i,
                });
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'{' | b'}' | b',' | b';' => {
                out.push(Tok {
                    t: match c {
                        b'{' => T::Open,
                        b'}' => T::Close,
                        b',' => T::Comma,
                        _ => T::Semi,
                    },
                    offset: i,
                });
                i += 1;
            }
            b'"' => {
                let end = text[i + 1..]
                    .find(['"', '\n'])
                    .map(|e| e + i + 1)
                    .filter(|&e| bytes[e] == b'"')
                    .ok_or_else(|| err(start, "a string without its closing `\"`"))?;
                out.push(Tok {
                    t: T::Quoted(&text[i + 1..end]),
                    offset: start,
                });
                i = end + 1;
            }
            _ => {
                while i < bytes.len() && !b" \t\r\n{},;\"".contains(&bytes[i]) {
                    i += 1;
                }
                out.push(Tok {
                    t: T::Word(&text[start..i]),
                    offset: start,
                });
            }
        }
    }
    Ok(out)
}

/// Meta keys nft prints without `meta` (nft(8), "META EXPRESSIONS":
/// "unqualified meta expression").
const BARE_META: &[&str] = &[
    "iifname",
    "oifname",
    "iif",
    "oif",
    "mark",
    "iiftype",
    "oiftype",
    "skuid",
    "skgid",
    "nftrace",
    "rtclassid",
    "ibrname",
    "obrname",
    "ibriport",
    "obriport",
    "pkttype",
    "cpu",
    "iifgroup",
    "oifgroup",
    "cgroup",
    "ipsec",
    "iifkind",
    "oifkind",
    "time",
    "day",
    "hour",
    "random",
];

/// Protocols of payload expressions (nft(8), "PAYLOAD EXPRESSION" and
/// "EXTENSION HEADER EXPRESSIONS"), each followed by one field word.
const PAYLOAD: &[&str] = &[
    "ether", "vlan", "arp", "ip", "icmp", "igmp", "ip6", "icmpv6", "tcp", "udp", "udplite", "sctp",
    "dccp", "ah", "esp", "comp", "th", "gre", "geneve", "vxlan", "gretap", "hbh", "frag", "rt",
    "rt0", "rt2", "srh", "dst", "mh",
];

/// Statement keywords a match value stops at.
const STATEMENTS: &[&str] = &[
    "accept",
    "drop",
    "reject",
    "return",
    "continue",
    "jump",
    "goto",
    "queue",
    "counter",
    "log",
    "limit",
    "quota",
    "comment",
    "snat",
    "dnat",
    "masquerade",
    "redirect",
    "notrack",
    "flow",
];

struct Parser<'a> {
    text: &'a str,
    lines: LineIndex,
    toks: Vec<Tok<'a>>,
    at: usize,
}

type R<T> = Result<T, DeviceError>;

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&T<'a>> {
        self.toks.get(self.at).map(|t| &t.t)
    }
    fn peek_word(&self) -> Option<&'a str> {
        match self.peek() {
            Some(T::Word(w)) => Some(w),
            _ => None,
        }
    }
    fn pos(&self) -> (usize, usize) {
        let off = self.toks.get(self.at).map_or(self.text.len(), |t| t.offset);
        self.lines.at(self.text, off)
    }
    fn err<X>(&self, m: impl Into<String>) -> R<X> {
        let (l, c) = self.pos();
        Err(DeviceError::at(l, c, m))
    }
    fn found(&self) -> String {
        match self.peek() {
            None => "the end of the file".into(),
            Some(T::Word(w)) => format!("`{w}`"),
            Some(T::Quoted(q)) => format!("\"{q}\""),
            Some(T::Open) => "`{`".into(),
            Some(T::Close) => "`}`".into(),
            Some(T::Comma) => "`,`".into(),
            Some(T::Semi) => "`;`".into(),
            Some(T::Newline) => "the end of the line".into(),
        }
    }
    fn next(&mut self) -> Option<T<'a>> {
        let t = self.toks.get(self.at).map(|t| t.t);
        self.at += 1;
        t
    }
    fn word(&mut self, what: &str) -> R<String> {
        self.word_str(what).map(str::to_string)
    }
    /// [`Parser::word`], borrowed: for a word only looked at.
    fn word_str(&mut self, what: &str) -> R<&'a str> {
        match self.peek() {
            Some(&T::Word(w)) => {
                self.at += 1;
                Ok(w)
            }
            _ => self.err(format!("expected {what}, found {}", self.found())),
        }
    }
    fn expect(&mut self, t: T<'_>, what: &str) -> R<()> {
        if self.peek() == Some(&t) {
            self.at += 1;
            Ok(())
        } else {
            self.err(format!("expected {what}, found {}", self.found()))
        }
    }
    fn name(&mut self, what: &str) -> R<String> {
        match self.peek() {
            Some(T::Word(_)) => self.word(what),
            Some(&T::Quoted(q)) => {
                self.at += 1;
                Ok(q.to_string())
            }
            _ => self.err(format!("expected {what}, found {}", self.found())),
        }
    }
    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(T::Newline | T::Semi)) {
            self.at += 1;
        }
    }
    fn at_line_end(&self) -> bool {
        matches!(self.peek(), None | Some(T::Newline | T::Semi | T::Close))
    }
    /// Skips to the end of a `{ ... }` block whose `{` comes next (after
    /// words), keeping nesting.
    fn skip_block(&mut self) -> R<()> {
        while !matches!(self.peek(), Some(T::Open)) {
            if self.next().is_none() {
                return self.err("expected `{`");
            }
        }
        let mut depth = 0;
        loop {
            match self.next() {
                Some(T::Open) => depth += 1,
                Some(T::Close) => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Some(_) => {}
                None => return self.err("the file ends inside a block"),
            }
        }
    }
    /// The words up to the end of the line or `;`.
    fn rest_words(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while !self.at_line_end() {
            match self.next() {
                Some(T::Word(w)) | Some(T::Quoted(w)) => out.push(w.to_string()),
                Some(T::Comma) => out.push(",".into()),
                _ => {}
            }
        }
        out
    }

    // -------------------------------------------------------- structure

    fn ruleset(&mut self) -> R<Ruleset> {
        let mut rs = Ruleset::default();
        loop {
            self.skip_separators();
            if self.peek().is_none() {
                return Ok(rs);
            }
            if self.peek_word() != Some("table") {
                return self.err(format!(
                    "expected `table FAMILY NAME {{` (as `nft list ruleset` prints), found {}",
                    self.found()
                ));
            }
            self.at += 1;
            let family = self.word("a table family (inet, ip, ip6, arp, bridge, netdev)")?;
            if !["inet", "ip", "ip6", "arp", "bridge", "netdev"].contains(&family.as_str()) {
                self.at -= 1;
                return self.err(format!("unknown table family `{family}`"));
            }
            let name = self.name("a table name")?;
            self.expect(T::Open, "`{`")?;
            rs.tables.push(self.table(family, name)?);
        }
    }

    fn table(&mut self, family: String, name: String) -> R<Table> {
        let mut t = Table {
            family,
            name,
            ..Table::default()
        };
        loop {
            self.skip_separators();
            let Some(w) = self.peek_word() else {
                if self.peek() == Some(&T::Close) {
                    self.at += 1;
                    return Ok(t);
                }
                return self.err(format!(
                    "expected a set, map, chain or `}}`, found {}",
                    self.found()
                ));
            };
            self.at += 1;
            match w {
                "comment" => {
                    self.name("a comment")?;
                }
                "flags" => {
                    let flags = self.rest_words();
                    t.dormant |= flags.iter().any(|f| f == "dormant");
                }
                "set" | "map" => {
                    let name = self.name("a set name")?;
                    self.expect(T::Open, "`{`")?;
                    let set = self.set(w == "map")?;
                    t.sets.insert(name, set);
                }
                "chain" => {
                    let name = self.name("a chain name")?;
                    self.expect(T::Open, "`{`")?;
                    let chain = self.chain(name)?;
                    t.chains.push(chain);
                }
                "flowtable" => {
                    self.skip_block()?;
                    t.flowtables += 1;
                }
                "counter" | "quota" | "limit" | "ct" | "secmark" | "synproxy" => {
                    self.skip_block()?;
                    t.objects += 1;
                }
                other => {
                    self.at -= 1;
                    return self.err(format!(
                        "expected `set`, `map`, `chain`, `flowtable`, a named object or `}}` in table {} {}, found `{other}`",
                        t.family, t.name
                    ));
                }
            }
        }
    }

    fn set(&mut self, is_map: bool) -> R<NamedSet> {
        let mut s = NamedSet {
            is_map,
            ..NamedSet::default()
        };
        loop {
            self.skip_separators();
            if self.peek() == Some(&T::Close) {
                self.at += 1;
                return Ok(s);
            }
            let w = self.word_str("a set property (type, flags, elements, ...)")?;
            match w {
                "type" | "typeof" => {
                    let words = self.rest_words();
                    let shown = words.join(" ");
                    s.key_type = if w == "typeof" {
                        format!("typeof {shown}")
                    } else {
                        shown
                    };
                    let colon = words.iter().position(|x| x == ":");
                    s.verdict_map =
                        is_map && colon.is_some() && words.last().is_some_and(|l| l == "verdict");
                }
                "flags" => {
                    let flags = self.rest_words();
                    s.dynamic |= flags.iter().any(|f| f == "dynamic" || f == "timeout");
                }
                "timeout" => {
                    s.dynamic = true;
                    self.rest_words();
                }
                "comment" => {
                    s.comment = Some(self.name("a comment")?);
                }
                "size" | "policy" | "gc-interval" | "auto-merge" | "counter" => {
                    self.rest_words();
                }
                "elements" => {
                    self.expect(T::Word("="), "`=`")?;
                    self.expect(T::Open, "`{`")?;
                    self.elements(&mut s)?;
                }
                other => {
                    self.at -= 1;
                    return self.err(format!("unknown set property `{other}`"));
                }
            }
        }
    }

    /// `elem[ : verdict][ options], ... }`.
    fn elements(&mut self, s: &mut NamedSet) -> R<()> {
        loop {
            self.skip_newlines();
            if self.peek() == Some(&T::Close) {
                self.at += 1;
                return Ok(());
            }
            let v = self.value(true)?;
            if s.is_map {
                self.expect(T::Word(":"), "`:` and the mapped value")?;
                if s.verdict_map {
                    let verdict = self.verdict_of_map()?;
                    s.verdicts.push((v, verdict));
                } else {
                    self.value(true)?;
                }
            } else {
                s.elements.push(v);
            }
            self.element_options()?;
            self.skip_newlines();
            match self.next() {
                Some(T::Comma) => {}
                Some(T::Close) => return Ok(()),
                _ => {
                    self.at -= 1;
                    return self.err(format!(
                        "expected `,` or `}}` in the elements, found {}",
                        self.found()
                    ));
                }
            }
        }
    }

    fn skip_newlines(&mut self) {
        while self.peek() == Some(&T::Newline) {
            self.at += 1;
        }
    }

    /// `timeout 1h`, `expires 59m`, `comment "x"`, `counter packets N bytes M`.
    fn element_options(&mut self) -> R<()> {
        loop {
            match self.peek_word() {
                Some("timeout" | "expires") => {
                    self.at += 1;
                    self.word_str("a time")?;
                }
                Some("comment") => {
                    self.at += 1;
                    self.name("a comment")?;
                }
                Some("counter") => {
                    self.at += 1;
                    self.counter_rest()?;
                }
                _ => return Ok(()),
            }
        }
    }

    fn chain(&mut self, name: String) -> R<Chain> {
        let mut chain = Chain {
            name,
            base: None,
            rules: Vec::new(),
        };
        loop {
            self.skip_separators();
            match self.peek() {
                Some(T::Close) => {
                    self.at += 1;
                    return Ok(chain);
                }
                None => return self.err("the file ends inside a chain"),
                _ => {}
            }
            match self.peek_word() {
                Some("comment") if chain.rules.is_empty() => {
                    self.at += 1;
                    self.name("a comment")?;
                }
                Some("devices") if chain.rules.is_empty() => {
                    self.skip_block()?;
                }
                Some("type") if chain.rules.is_empty() && chain.base.is_none() => {
                    chain.base = Some(self.base_chain()?);
                }
                _ => chain.rules.push(self.rule()?),
            }
        }
    }

    /// `type T hook H [device D] priority P; [policy V;]`.
    fn base_chain(&mut self) -> R<BaseChain> {
        self.at += 1;
        let kind = self.word("a chain type (filter, nat, route)")?;
        if self.word_str("`hook`")? != "hook" {
            self.at -= 1;
            return self.err("expected `hook`");
        }
        let hook = self.word("a hook")?;
        if self.peek_word() == Some("device") {
            self.at += 1;
            self.name("a device")?;
        }
        if self.peek_word() != Some("priority") {
            return self.err(format!("expected `priority`, found {}", self.found()));
        }
        self.at += 1;
        let (line, col) = self.pos();
        let words = self.rest_words();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let priority = chain_priority(&words).map_err(|m| DeviceError::at(line, col, m))?;
        let mut policy = None;
        if self.peek() == Some(&T::Semi) {
            self.at += 1;
        }
        if self.peek_word() == Some("policy") {
            self.at += 1;
            policy = Some(match self.word_str("a policy")? {
                "accept" => Verdict::Accept,
                "drop" => Verdict::Drop,
                other => {
                    self.at -= 1;
                    return self.err(format!(
                        "expected policy `accept` or `drop`, found `{other}`"
                    ));
                }
            });
        }
        Ok(BaseChain {
            kind,
            hook,
            priority,
            policy,
        })
    }

    // -------------------------------------------------------- rules

    fn rule(&mut self) -> R<Rule> {
        let start = self.toks[self.at].offset;
        let (line, column) = self.lines.at(self.text, start);
        let text = self.lines.line(self.text, line).trim().to_string();
        let mut stmts = Vec::new();
        let mut comment = None;
        while !self.at_line_end() {
            if self.peek_word() == Some("comment") {
                self.at += 1;
                comment = Some(self.name("a comment")?);
                continue;
            }
            stmts.push(self.statement()?);
        }
        Ok(Rule {
            stmts,
            comment,
            line,
            column,
            text,
        })
    }

    fn statement(&mut self) -> R<Stmt> {
        let w = self.peek_word().unwrap_or("");
        let simple = |v| Ok(Stmt::Verdict(v));
        match w {
            "accept" | "drop" | "return" | "continue" => {
                self.at += 1;
                simple(match w {
                    "accept" => Verdict::Accept,
                    "drop" => Verdict::Drop,
                    "return" => Verdict::Return,
                    _ => Verdict::Continue,
                })
            }
            "jump" | "goto" => {
                self.at += 1;
                let target = self.name("a chain name")?;
                simple(if w == "jump" {
                    Verdict::Jump(target)
                } else {
                    Verdict::Goto(target)
                })
            }
            "reject" => {
                self.at += 1;
                if self.peek_word() == Some("with") {
                    self.at += 1;
                    let proto = self.word_str("icmp, icmpv6, icmpx or tcp")?;
                    if self.peek_word() == Some("type") {
                        self.at += 1;
                    }
                    let code = self.word_str("a reject code")?;
                    if proto == "tcp" && code != "reset" {
                        self.at -= 1;
                        return self.err("expected `reset` after `reject with tcp`");
                    }
                }
                simple(Verdict::Reject)
            }
            "queue" => {
                self.at += 1;
                while !self.at_line_end() && self.peek_word() != Some("comment") {
                    self.at += 1;
                }
                simple(Verdict::Queue)
            }
            "counter" => {
                self.at += 1;
                self.counter_rest()?;
                Ok(Stmt::Effect)
            }
            "log" => {
                self.at += 1;
                self.log_rest()?;
                Ok(Stmt::Log)
            }
            "limit" | "quota" => {
                self.at += 1;
                let mut words = vec![w.to_string()];
                while let Some(x) = self.peek_word() {
                    if STATEMENTS.contains(&x) {
                        break;
                    }
                    words.push(x.to_string());
                    self.at += 1;
                }
                if let Some(T::Quoted(q)) = self.peek() {
                    words.push(format!("\"{q}\""));
                    self.at += 1;
                }
                let what = if w == "limit" { "rate limit" } else { "quota" };
                Ok(Stmt::Undecidable(format!("{what} `{}`", words.join(" "))))
            }
            "notrack" => {
                self.at += 1;
                Ok(Stmt::Effect)
            }
            "flow" => {
                self.at += 1;
                self.word_str("`add` or `offload`")?;
                self.word_str("a flowtable")?;
                Ok(Stmt::Effect)
            }
            "add" | "update" | "delete" if self.peek_is_setref(1) => {
                self.at += 2;
                self.skip_block()?;
                Ok(Stmt::Effect)
            }
            "snat" | "dnat" | "masquerade" | "redirect" | "tproxy" => {
                self.at += 1;
                while !self.at_line_end() && self.peek_word() != Some("comment") {
                    self.at += 1;
                }
                Ok(Stmt::Nat(w.to_string()))
            }
            "xt" => {
                self.at += 1;
                let kind = self.word_str("`match` or `target`")?;
                let name = self.name("an extension name")?;
                Ok(Stmt::Undecidable(format!(
                    "iptables-nft extension `xt {kind} {name}`"
                )))
            }
            "" => self.err(format!(
                "expected a match, a statement or a verdict, found {}",
                self.found()
            )),
            _ => self.match_or_set(),
        }
    }

    fn peek_is_setref(&self, ahead: usize) -> bool {
        matches!(self.toks.get(self.at + ahead), Some(Tok { t: T::Word(w), .. }) if w.starts_with('@'))
    }

    /// `[packets N bytes M]` or `name X`.
    fn counter_rest(&mut self) -> R<()> {
        match self.peek_word() {
            Some("packets") => {
                self.at += 1;
                self.word_str("a number")?;
                if self.word_str("`bytes`")? != "bytes" {
                    self.at -= 1;
                    return self.err("expected `bytes`");
                }
                self.word_str("a number")?;
            }
            Some("name") => {
                self.at += 1;
                self.name("a counter name")?;
            }
            _ => {}
        }
        Ok(())
    }

    /// `prefix "x"`, `level L`, `flags F[,F]`, `group N`, `snaplen N`,
    /// `queue-threshold N` (nft(8), "LOG STATEMENT").
    fn log_rest(&mut self) -> R<()> {
        loop {
            match self.peek_word() {
                Some("prefix") => {
                    self.at += 1;
                    self.name("a log prefix")?;
                }
                Some("level" | "group" | "snaplen" | "queue-threshold") => {
                    self.at += 1;
                    self.word_str("a value")?;
                }
                Some("flags") => {
                    self.at += 1;
                    self.word_str("log flags")?;
                    while self.peek() == Some(&T::Comma) {
                        self.at += 1;
                        self.word_str("a log flag")?;
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// A match (`KEY [OP] VALUE`), a verdict map (`KEY vmap MAP`) or a
    /// set statement (`KEY set VALUE`, no verdict effect).
    fn match_or_set(&mut self) -> R<Stmt> {
        let key = self.key()?;
        match self.peek_word() {
            Some("set") => {
                self.at += 1;
                self.value(false)?;
                return Ok(Stmt::Effect);
            }
            Some("vmap") => {
                self.at += 1;
                let map = if self.peek() == Some(&T::Open) {
                    self.at += 1;
                    Map::Inline(self.inline_map()?)
                } else {
                    let w = self.word_str("`{` or a named map `@NAME`")?;
                    match w.strip_prefix('@') {
                        Some(n) => Map::Named(n.to_string()),
                        None => {
                            self.at -= 1;
                            return self.err("expected `{` or a named map `@NAME`");
                        }
                    }
                };
                return Ok(Stmt::Vmap { key, map });
            }
            _ => {}
        }
        let op = match self.peek_word() {
            Some("==" | "eq") => Some(Op::Eq),
            Some("!=" | "ne") => Some(Op::Ne),
            Some("<" | "lt") => Some(Op::Lt),
            Some(">" | "gt") => Some(Op::Gt),
            Some("<=" | "le") => Some(Op::Le),
            Some(">=" | "ge") => Some(Op::Ge),
            _ => None,
        };
        if op.is_some() {
            self.at += 1;
        }
        if self.at_line_end() || self.peek_word().is_some_and(|w| STATEMENTS.contains(&w)) {
            return self.err(format!(
                "expected a value after `{key}`, found {}",
                self.found()
            ));
        }
        let value = self.value(false)?;
        Ok(Stmt::Match {
            key,
            op: op.unwrap_or(Op::Eq),
            value,
        })
    }

    fn inline_map(&mut self) -> R<Vec<(Value, Verdict)>> {
        let mut out = Vec::new();
        loop {
            self.skip_newlines();
            if self.peek() == Some(&T::Close) {
                self.at += 1;
                return Ok(out);
            }
            let k = self.value(true)?;
            self.expect(T::Word(":"), "`:` and a verdict")?;
            out.push((k, self.verdict_of_map()?));
            self.skip_newlines();
            match self.next() {
                Some(T::Comma) => {}
                Some(T::Close) => return Ok(out),
                _ => {
                    self.at -= 1;
                    return self.err(format!("expected `,` or `}}`, found {}", self.found()));
                }
            }
        }
    }

    fn verdict_of_map(&mut self) -> R<Verdict> {
        let w = self.word_str("a verdict")?;
        Ok(match w {
            "accept" => Verdict::Accept,
            "drop" => Verdict::Drop,
            "return" => Verdict::Return,
            "continue" => Verdict::Continue,
            "jump" => Verdict::Jump(self.name("a chain name")?),
            "goto" => Verdict::Goto(self.name("a chain name")?),
            _ => {
                self.at -= 1;
                return self.err(format!(
                    "expected a verdict (accept, drop, return, continue, jump, goto), found `{w}`"
                ));
            }
        })
    }

    /// A left-hand side: `meta KEY`, a bare meta key, `ct [DIR] KEY`,
    /// `PROTO FIELD`, `fib ...`, `socket KEY`, ..., concatenated with ` . `
    /// and masked with `&`, `|`, `^`, `<<`, `>>`.
    fn key(&mut self) -> R<Key> {
        let mut keys = vec![self.single_key()?];
        while self.peek_word() == Some(".") {
            self.at += 1;
            keys.push(self.single_key()?);
        }
        let mut key = if keys.len() == 1 {
            keys.pop().expect("one key")
        } else {
            Key::Concat(keys)
        };
        while let Some(op) = self
            .peek_word()
            .filter(|w| {
                [
                    "&", "|", "^", "<<", ">>", "and", "or", "xor", "lshift", "rshift",
                ]
                .contains(w)
            })
            .map(str::to_string)
        {
            self.at += 1;
            let v = self.value(false)?;
            key = Key::Masked(Box::new(key), format!("{op} {v}"));
        }
        Ok(key)
    }

    fn single_key(&mut self) -> R<Key> {
        let w = self.word("a match, a statement or a verdict")?;
        Ok(match w.as_str() {
            "meta" => Key::Meta(self.word("a meta key")?),
            k if BARE_META.contains(&k) => Key::Meta(w),
            "ct" => {
                let mut k = self.word("a conntrack key")?;
                if k == "original" || k == "reply" {
                    let inner = self.word("a conntrack key")?;
                    k = format!("{k} {inner}");
                }
                if k.ends_with(" ip") || k.ends_with(" ip6") || k == "ip" || k == "ip6" {
                    let field = self.word("an address field")?;
                    k = format!("{k} {field}");
                }
                Key::Ct(k)
            }
            p if PAYLOAD.contains(&p) => {
                let field = self.word("a header field")?;
                if field == "option" {
                    let a = self.word("an option")?;
                    let b = self.word("an option field")?;
                    Key::Other(format!("{p} option {a} {b}"))
                } else {
                    Key::Payload(w, field)
                }
            }
            "fib" => {
                let mut words = vec![w];
                loop {
                    let x = self.word("a fib result (oif, oifname, type)")?;
                    let last = matches!(x.as_str(), "oif" | "oifname" | "type");
                    words.push(x);
                    if last {
                        break;
                    }
                }
                Key::Other(words.join(" "))
            }
            "socket" | "osf" | "ipsec" | "rt" | "numgen" | "jhash" | "symhash" | "exthdr" => {
                let x = self.word_str("a key")?;
                Key::Other(format!("{w} {x}"))
            }
            raw if raw.starts_with('@') && self.peek() == Some(&T::Comma) => {
                let mut s = raw.to_string();
                while self.peek() == Some(&T::Comma) {
                    self.at += 1;
                    s.push(',');
                    s.push_str(self.word_str("a number")?);
                }
                Key::Other(s)
            }
            _ => {
                self.at -= 1;
                return self.err(format!(
                    "expected a match, a statement or a verdict, found `{w}`"
                ));
            }
        })
    }

    /// A value: a word, a quoted string, `@set`, `{ ... }`, with ` . `
    /// concatenations, `a,b` flag lists (outside braces), `"a"-"b"`
    /// ranges and `/ MASK`.
    fn value(&mut self, in_braces: bool) -> R<Value> {
        let mut parts = vec![self.primary(in_braces)?];
        while self.peek_word() == Some(".") {
            self.at += 1;
            parts.push(self.primary(in_braces)?);
        }
        let mut v = if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            Value::Concat(parts)
        };
        if self.peek_word() == Some("/") {
            self.at += 1;
            let mask = self.primary(false)?;
            v = Value::Other(format!("{v} / {mask}"));
        }
        Ok(v)
    }

    fn primary(&mut self, in_braces: bool) -> R<Value> {
        let v = match self.next() {
            Some(T::Open) => {
                let mut items = Vec::new();
                loop {
                    self.skip_newlines();
                    if self.peek() == Some(&T::Close) {
                        self.at += 1;
                        break;
                    }
                    items.push(self.value(true)?);
                    self.element_options()?;
                    self.skip_newlines();
                    match self.next() {
                        Some(T::Comma) => {}
                        Some(T::Close) => break,
                        _ => {
                            self.at -= 1;
                            return self
                                .err(format!("expected `,` or `}}`, found {}", self.found()));
                        }
                    }
                }
                return Ok(Value::Set(items));
            }
            Some(T::Quoted(q)) => Value::Quoted(q.to_string()),
            Some(T::Word(w)) => match w.strip_prefix('@') {
                Some(name) => return Ok(Value::SetRef(name.to_string())),
                None => Value::Word(w.to_string()),
            },
            _ => {
                self.at -= 1;
                return self.err(format!("expected a value, found {}", self.found()));
            }
        };
        if self.peek_word() == Some("-") {
            self.at += 1;
            let hi = self.primary(in_braces)?;
            return Ok(Value::Range(Box::new(v), Box::new(hi)));
        }
        if let Value::Word(first) = &v
            && !in_braces
            && self.peek() == Some(&T::Comma)
        {
            let mut flags = vec![first.clone()];
            while self.peek() == Some(&T::Comma) {
                self.at += 1;
                flags.push(self.word("a flag")?);
            }
            return Ok(Value::Flags(flags));
        }
        Ok(v)
    }
}

/// Reads `nft list ruleset` output.
pub(super) fn parse(text: &str) -> Result<Ruleset, DeviceError> {
    let toks = tokens(text)?;
    Parser {
        text,
        lines: LineIndex::new(text),
        toks,
        at: 0,
    }
    .ruleset()
}
