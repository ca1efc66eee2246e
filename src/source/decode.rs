//! Node decoders: KDL nodes into tree declarations, with the shape checks
//! (node and property names, argument counts, value types, nesting).

use jiff::civil::Date;

use super::doc::{Entry, Node, Value};

use super::literal::{
    addr_literal, char_kind, endpoint_text, is_cve, is_identifier_text, is_interface_name,
    name_problem, parse_prefix, port_number, port_range_error, service_text,
};
use super::tree::{
    AdvisoryDecl, ClassDecl, EndpointText, GroupDecl, Name, RuleDecl, RuleKind, ServiceDecl,
    ServiceText, Spanned, SyntaxTree, ZoneDecl,
};

use crate::addrset::{ByteSet, PortSet};
use crate::catalogue;
use crate::diagnostics::{Diagnostic, Diagnostics, FileId, Span, did_you_mean, is_unsafe_char};
use crate::vocab::{Action, ServiceSet, Target};

/// Deepest `{ }` nesting accepted. The KDL parser recurses per level and
/// would overflow the stack on hostile input long before any real policy
/// (which needs three levels) gets close.
pub(super) const MAX_NESTING: usize = 64;

/// Offset of the first `{` that nests deeper than [`MAX_NESTING`], skipping
/// KDL strings (quoted, multi-line, raw) and comments.
pub(super) fn too_deep(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let (mut i, mut depth) = (0usize, 0usize);
    let starts = |i: usize, pat: &[u8]| b.get(i..i + pat.len()) == Some(pat);
    while i < b.len() {
        match b[i] {
            b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(i);
                }
                i += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'/' if starts(i, b"//") => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if starts(i, b"/*") => {
                let mut level = 0usize;
                while i < b.len() {
                    if starts(i, b"/*") {
                        level += 1;
                        i += 2;
                    } else if starts(i, b"*/") {
                        level -= 1;
                        i += 2;
                        if level == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'"' => {
                let multi = starts(i, b"\"\"\"");
                i += if multi { 3 } else { 1 };
                while i < b.len() {
                    if b[i] == b'\\' {
                        i += 2;
                    } else if multi && starts(i, b"\"\"\"") {
                        i += 3;
                        break;
                    } else if !multi && b[i] == b'"' {
                        i += 1;
                        break;
                    } else {
                        i += 1;
                    }
                }
            }
            b'#' => {
                let hashes = b[i..].iter().take_while(|&&c| c == b'#').count();
                i += hashes;
                if b.get(i) != Some(&b'"') {
                    continue;
                }
                let multi = starts(i, b"\"\"\"");
                let mut close = if multi {
                    b"\"\"\"".to_vec()
                } else {
                    b"\"".to_vec()
                };
                close.extend(std::iter::repeat_n(b'#', hashes));
                i += if multi { 3 } else { 1 };
                while i < b.len() && !starts(i, &close) {
                    i += 1;
                }
                i += close.len();
            }
            _ => i += 1,
        }
    }
    None
}

/// The whitespace-delimited token starting at `offset` (for hints).
pub(super) fn token_at(text: &str, offset: usize) -> String {
    let start = offset.min(text.len());
    if !text.is_char_boundary(start) {
        return String::new();
    }
    text[start..]
        .chars()
        .take_while(|&c| {
            !c.is_whitespace()
                && !crate::diagnostics::is_unsafe_char(c)
                && !matches!(c, '{' | '}' | ';' | '"')
        })
        .take(32)
        .collect()
}

pub(super) fn unreachable_catalogue(keyword: &str) {
    // The catalogue holds only services; a test decodes it without errors.
    debug_assert!(
        false,
        "unexpected node `{keyword}` in the built-in catalogue"
    );
}

pub(super) const TOP_LEVEL: &[&str] = &[
    "policy", "include", "zone", "class", "group", "service", "advisory", "rules", "expect",
];

/// Decoding context: the file being read and where problems go.
pub(super) struct Cx<'a> {
    pub(super) file: FileId,
    pub(super) diags: &'a mut Diagnostics,
    /// The file's text, to point at one character inside a string.
    pub(super) src: &'a str,
}

impl Cx<'_> {
    pub(super) fn span(&self, s: miette::SourceSpan) -> Span {
        Span::new(self.file, s)
    }

    pub(super) fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub(super) fn unknown_node(
        &mut self,
        node: Node<'_>,
        name: &str,
        inside: &str,
        allowed: &[&str],
    ) {
        let mut help = did_you_mean(name, allowed.iter().copied())
            .map(|s| format!("{s} "))
            .unwrap_or_default();
        help.push_str(&format!("{inside} may contain: {}", allowed.join(", ")));
        let d = Diagnostic::error("unknown-node", format!("unknown node `{name}` in {inside}"))
            .at(self.span(node.name().span()), "not understood here")
            .help(help);
        self.error(d);
    }

    pub(super) fn args<'d>(&self, node: Node<'d>) -> impl Iterator<Item = Entry<'d>> + use<'d> {
        node.entries().filter(|e| e.name().is_none())
    }

    pub(super) fn no_props(&mut self, node: Node<'_>) {
        for e in node.entries().filter(|e| e.name().is_some()) {
            let name = e.name().map(|n| n.value()).unwrap_or_default();
            let d = Diagnostic::error(
                "unknown-property",
                format!("`{}` takes no property `{name}`", node.name().value()),
            )
            .at(self.span(e.span()), "unexpected property")
            .help(format!(
                "fields are child nodes inside the block: `{} {{ {name} ... }}`; only `interface` takes properties",
                node.name().value()
            ));
            self.error(d);
        }
    }

    pub(super) fn no_children(&mut self, node: Node<'_>) {
        if let Some(children) = node.children() {
            let d = Diagnostic::error(
                "unexpected-block",
                format!("`{}` takes no block", node.name().value()),
            )
            .at(self.span(children.span()), "remove this block");
            self.error(d);
        }
    }

    pub(super) fn no_args(&mut self, node: Node<'_>) {
        for e in self.args(node).collect::<Vec<_>>() {
            let d = Diagnostic::error(
                "unexpected-argument",
                format!("`{}` takes no arguments here", node.name().value()),
            )
            .at(self.span(e.span()), "unexpected argument");
            self.error(d);
        }
    }

    /// A leaf node with only arguments.
    pub(super) fn leaf(&mut self, node: Node<'_>) {
        self.no_props(node);
        self.no_children(node);
    }

    pub(super) fn expect_string(
        &mut self,
        node: Node<'_>,
        e: Entry<'_>,
    ) -> Option<Spanned<String>> {
        match e.value() {
            Value::String(s) => Some(Spanned {
                value: s.to_string(),
                span: self.span(e.span()),
            }),
            other => {
                let d = Diagnostic::error(
                    "wrong-type",
                    format!(
                        "`{}` expects a string, found {}",
                        node.name().value(),
                        describe(other)
                    ),
                )
                .at(self.span(e.span()), "expected a quoted string")
                .help("wrap the value in double quotes");
                self.error(d);
                None
            }
        }
    }

    /// Exactly one string argument.
    pub(super) fn single_string(&mut self, node: Node<'_>) -> Option<Spanned<String>> {
        let mut args = self.args(node);
        match (args.next(), args.next()) {
            (Some(one), None) => self.expect_string(node, one),
            (None, _) => {
                let d = Diagnostic::error(
                    "missing-argument",
                    format!("`{}` needs one value", node.name().value()),
                )
                .at(self.span(node.span()), "value missing");
                self.error(d);
                None
            }
            (Some(_), Some(second)) => {
                for e in std::iter::once(second).chain(args) {
                    let d = Diagnostic::error(
                        "unexpected-argument",
                        format!("`{}` takes exactly one value", node.name().value()),
                    )
                    .at(self.span(e.span()), "extra value");
                    self.error(d);
                }
                None
            }
        }
    }

    /// One or more string arguments.
    pub(super) fn strings(&mut self, node: Node<'_>) -> Vec<Spanned<String>> {
        let count = self.args(node).count();
        if count == 0 {
            let d = Diagnostic::error(
                "missing-argument",
                format!("`{}` needs at least one value", node.name().value()),
            )
            .at(self.span(node.span()), "values missing");
            self.error(d);
        }
        let mut out = Vec::with_capacity(count);
        for e in self.args(node) {
            out.extend(self.expect_string(node, e));
        }
        out
    }

    pub(super) fn single_bool(&mut self, node: Node<'_>) -> Option<bool> {
        let mut args = self.args(node);
        match (args.next(), args.next()) {
            (Some(e), None) => match e.value() {
                Value::Bool(b) => Some(b),
                other => {
                    let d = Diagnostic::error(
                        "wrong-type",
                        format!(
                            "`{}` expects #true or #false, found {}",
                            node.name().value(),
                            describe(other)
                        ),
                    )
                    .at(self.span(e.span()), "expected a boolean")
                    .help("KDL v2 booleans are written #true and #false");
                    self.error(d);
                    None
                }
            },
            _ => {
                let d = Diagnostic::error(
                    "missing-argument",
                    format!(
                        "`{}` needs exactly one value, #true or #false",
                        node.name().value()
                    ),
                )
                .at(self.span(node.span()), "write #true or #false");
                self.error(d);
                None
            }
        }
    }

    /// The object name of a declaration node (`zone "icu"`), validated.
    pub(super) fn decl_name(&mut self, node: Node<'_>) -> Option<Name> {
        let name = self.single_string(node)?;
        self.check_name(&name).then_some(name)
    }

    /// Names are safe in every target by construction: a letter first, then
    /// letters, digits, `-`, `_` or `.`; at most 63 characters. They can
    /// never carry quotes, spaces or line breaks into an output.
    pub(super) fn check_name(&mut self, name: &Name) -> bool {
        let problem = name_problem(&name.value);
        if let Some(problem) = problem {
            let d = Diagnostic::error("invalid-name", format!("invalid name `{}`: {problem}", name.value.escape_debug()))
                .at(name.span, "invalid name")
                .help("names start with a letter and use only letters, digits, `-`, `_` and `.` (at most 63 characters)");
            self.error(d);
            return false;
        }
        true
    }

    /// Free text (descriptions, owners, tickets, titles): one line of
    /// characters every target can carry. Refused, at the character, with
    /// its code point: control characters (tab and line breaks included:
    /// these fields become one-line comments), what XML 1.0 cannot hold
    /// (noncharacters such as U+FFFE), the line and paragraph separators,
    /// and bidi controls ("Trojan Source"). Each renderer still escapes
    /// what its format needs.
    pub(super) fn text(&mut self, node: Node<'_>) -> Option<String> {
        self.leaf(node);
        let s = self.single_string(node)?;
        if let Some(c) = s.value.chars().find(|&c| is_unsafe_char(c)) {
            let d = Diagnostic::error(
                "invalid-text",
                format!(
                    "`{}` contains U+{:04X}, {}",
                    node.name().value(),
                    u32::from(c),
                    char_kind(c)
                ),
            )
            .at(self.char_span(&s, c), format!("U+{:04X} here", u32::from(c)))
            .help("free text is one line of printable characters: remove the character (descriptions cannot hold line breaks, and bidi controls can make a comment read differently from what it is)");
            self.error(d);
            return None;
        }
        if s.value.len() > 1024 {
            let d = Diagnostic::error(
                "text-too-long",
                format!("`{}` is longer than 1024 bytes", node.name().value()),
            )
            .at(s.span, "too long");
            self.error(d);
            return None;
        }
        Some(s.value)
    }

    /// The span of the first `c` in the string value `s`, as written: the
    /// character itself, or its escape (`\n`, `\u{202E}`); the whole
    /// string if neither is found.
    pub(super) fn char_span(&self, s: &Spanned<String>, c: char) -> Span {
        let Some(raw) = self.src.get(s.span.offset..s.span.offset + s.span.len) else {
            return s.span;
        };
        let at = |offset: usize, len: usize| Span {
            file: s.span.file,
            offset: s.span.offset + offset,
            len,
        };
        if let Some(i) = raw.find(c) {
            return at(i, c.len_utf8());
        }
        let short = match c {
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            _ => None,
        };
        if let Some(i) = short.and_then(|e| raw.find(e)) {
            return at(i, 2);
        }
        for (i, _) in raw.match_indices("\\u{") {
            let rest = &raw[i + 3..];
            let Some(end) = rest.find('}') else { continue };
            if u32::from_str_radix(&rest[..end], 16).ok() == Some(u32::from(c)) {
                return at(i, end + 4);
            }
        }
        s.span
    }

    pub(super) fn duplicate_child(&mut self, node: Node<'_>, first: Span) {
        let d = Diagnostic::error(
            "duplicate-field",
            format!("`{}` is given twice", node.name().value()),
        )
        .at(self.span(node.span()), "second one")
        .also(first, "first one here")
        .help("give each field once");
        self.error(d);
    }
}

pub(super) fn describe(v: Value<'_>) -> String {
    match v {
        Value::String(s) => format!("the string \"{}\"", s.escape_debug()),
        Value::Integer(i) => format!("the number {i}"),
        Value::Float(f) => format!("the number {f}"),
        Value::Bool(b) => format!("#{b}"),
        Value::Null => "#null".to_string(),
    }
}

/// Tracks which single-valued fields were already seen in a block.
#[derive(Default)]
pub(super) struct Seen<'d>(Vec<(&'d str, Span)>);

impl<'d> Seen<'d> {
    /// Records `node`; reports and returns false if it was already given.
    pub(super) fn first(&mut self, cx: &mut Cx<'_>, node: Node<'d>) -> bool {
        let name = node.name().value();
        if let Some((_, first)) = self.0.iter().find(|(n, _)| *n == name) {
            let first = *first;
            cx.duplicate_child(node, first);
            return false;
        }
        self.0.push((name, cx.span(node.span())));
        true
    }
}

pub(super) fn children(node: Node<'_>) -> impl Iterator<Item = Node<'_>> {
    node.children().into_iter().flat_map(|block| block.nodes())
}

/// Whether the block has a child `field` at all. "Missing field" errors
/// check this, so a field that is present but invalid is reported once (as
/// invalid), not twice.
pub(super) fn has_child(node: Node<'_>, field: &str) -> bool {
    children(node).any(|c| c.name().value() == field)
}

pub(super) fn decode_policy(cx: &mut Cx<'_>, node: Node<'_>, tree: &mut SyntaxTree) {
    cx.no_props(node);
    if let Some(existing) = &tree.name {
        let d = Diagnostic::error("duplicate-field", "`policy` is given twice")
            .at(cx.span(node.span()), "second one")
            .also(existing.span, "first one here");
        cx.error(d);
        return;
    }
    tree.policy_span = Some(cx.span(node.name().span()));
    tree.name = cx.decl_name(node);
    let mut seen = Seen::default();
    for child in children(node) {
        match child.name().value() {
            "description" if seen.first(cx, child) => tree.description = cx.text(child),
            "targets" if seen.first(cx, child) => {
                cx.leaf(child);
                for t in cx.strings(child) {
                    if Target::from_name(&t.value).is_some() {
                        tree.targets.push(t);
                        continue;
                    }
                    let mut help = did_you_mean(&t.value, Target::names())
                        .map(|s| format!("{s} "))
                        .unwrap_or_default();
                    help.push_str(&format!(
                        "targets are: {}",
                        Target::names().collect::<Vec<_>>().join(", ")
                    ));
                    cx.error(
                        Diagnostic::error(
                            "unknown-target",
                            format!("unknown target `{}`", t.value),
                        )
                        .at(t.span, "not a target")
                        .help(help),
                    );
                }
            }
            "deny-all" if seen.first(cx, child) => {
                cx.leaf(child);
                if cx.single_bool(child) == Some(true) {
                    tree.deny_all = Some(cx.span(child.span()));
                }
            }
            "description" | "targets" | "deny-all" => {}
            other => cx.unknown_node(
                child,
                other,
                "`policy`",
                &["description", "targets", "deny-all"],
            ),
        }
    }
}

pub(super) const ZONE_FIELDS: &[&str] =
    &["description", "prefix", "residual", "interface", "vendor"];

pub(super) fn decode_zone(cx: &mut Cx<'_>, node: Node<'_>) -> Option<ZoneDecl> {
    cx.no_props(node);
    let name = cx.decl_name(node);
    let mut zone = ZoneDecl {
        name: name.clone().unwrap_or(Spanned {
            value: String::new(),
            span: cx.span(node.span()),
        }),
        description: None,
        prefixes: Vec::new(),
        residual: None,
        vendor: false,
        bindings: Vec::new(),
        span: cx.span(node.span()),
    };
    let mut seen = Seen::default();
    for child in children(node) {
        match child.name().value() {
            "description" if seen.first(cx, child) => zone.description = cx.text(child),
            "prefix" => {
                cx.leaf(child);
                for s in cx.strings(child) {
                    if let Some(net) = parse_prefix(cx, &s) {
                        zone.prefixes.push(net);
                    }
                }
            }
            "residual" if seen.first(cx, child) => {
                cx.leaf(child);
                if cx.single_bool(child) == Some(true) {
                    zone.residual = Some(cx.span(child.span()));
                }
            }
            "vendor" if seen.first(cx, child) => {
                cx.leaf(child);
                zone.vendor = cx.single_bool(child) == Some(true);
            }
            "interface" if seen.first(cx, child) => {
                cx.no_children(child);
                cx.no_args(child);
                for e in child.entries().filter(|e| e.name().is_some()) {
                    let key = e.name().expect("filtered on name");
                    let key = Spanned {
                        value: key.value().to_string(),
                        span: cx.span(key.span()),
                    };
                    if Target::from_name(&key.value).is_none() {
                        let mut help = did_you_mean(&key.value, Target::names())
                            .map(|s| format!("{s} "))
                            .unwrap_or_default();
                        help.push_str(&format!(
                            "targets are: {}",
                            Target::names().collect::<Vec<_>>().join(", ")
                        ));
                        let d = Diagnostic::error(
                            "unknown-target",
                            format!("unknown target `{}`", key.value),
                        )
                        .at(key.span, "not a target")
                        .help(help);
                        cx.error(d);
                        continue;
                    }
                    let Some(value) = cx.expect_string(child, e) else {
                        continue;
                    };
                    if !is_interface_name(&value.value) {
                        let d = Diagnostic::error("invalid-interface", format!("invalid interface name `{}`", value.value.escape_debug()))
                            .at(value.span, "invalid interface name")
                            .help("interface and zone names use letters, digits and `_ . / : -`, start with a letter or digit, and are at most 31 characters");
                        cx.error(d);
                        continue;
                    }
                    zone.bindings.push((key, value));
                }
            }
            "description" | "residual" | "interface" | "vendor" => {}
            other => cx.unknown_node(child, other, "`zone`", ZONE_FIELDS),
        }
    }
    name?;
    Some(zone)
}

pub(super) const CLASS_FIELDS: &[&str] =
    &["zone", "description", "address", "affected-by", "clinical"];

pub(super) fn decode_class(cx: &mut Cx<'_>, node: Node<'_>) -> Option<ClassDecl> {
    cx.no_props(node);
    let name = cx.decl_name(node);
    let mut class = ClassDecl {
        name: name.clone().unwrap_or(Spanned {
            value: String::new(),
            span: cx.span(node.span()),
        }),
        zone: None,
        description: None,
        addresses: Vec::new(),
        affected_by: Vec::new(),
        clinical: false,
        accepts: Vec::new(),
        span: cx.span(node.span()),
    };
    let mut seen = Seen::default();
    for child in children(node) {
        match child.name().value() {
            "accept" => class
                .accepts
                .extend(super::accept::decode_accept(cx, child)),
            "zone" if seen.first(cx, child) => {
                cx.leaf(child);
                class.zone = cx.single_string(child).filter(|n| cx.check_name(n));
            }
            "description" if seen.first(cx, child) => class.description = cx.text(child),
            "address" => {
                cx.leaf(child);
                let strings = cx.strings(child);
                let mut items = Vec::with_capacity(strings.len());
                for s in strings {
                    items.extend(addr_literal(cx, &s));
                }
                append(&mut class.addresses, items);
            }
            "affected-by" => {
                cx.leaf(child);
                for s in cx.strings(child) {
                    if cx.check_name(&s) {
                        class.affected_by.push(s);
                    }
                }
            }
            "clinical" if seen.first(cx, child) => {
                cx.leaf(child);
                class.clinical = cx.single_bool(child) == Some(true);
            }
            "zone" | "description" | "clinical" => {}
            other => cx.unknown_node(child, other, "`class`", CLASS_FIELDS),
        }
    }
    if !has_child(node, "zone") && name.is_some() {
        let d = Diagnostic::error(
            "missing-field",
            format!(
                "class `{}` does not say which zone it lives in",
                class.name.value
            ),
        )
        .at(class.name.span, "no `zone` line")
        .help("add `zone \"<zone name>\"` inside the class");
        cx.error(d);
    }
    if !has_child(node, "address") && name.is_some() {
        let d = Diagnostic::error(
            "missing-field",
            format!("class `{}` has no addresses", class.name.value),
        )
        .at(class.name.span, "no `address` line")
        .help("add `address \"10.20.1.0/24\"` (hosts, CIDRs and ranges are accepted)");
        cx.error(d);
    }
    name?;
    Some(class)
}

pub(super) fn decode_group(cx: &mut Cx<'_>, node: Node<'_>) -> Option<GroupDecl> {
    cx.no_props(node);
    let name = cx.decl_name(node)?;
    let mut group = GroupDecl {
        name,
        description: None,
        members: Vec::new(),
        clinical: false,
        span: cx.span(node.span()),
    };
    let mut seen = Seen::default();
    for child in children(node) {
        match child.name().value() {
            "description" if seen.first(cx, child) => group.description = cx.text(child),
            "member" => {
                cx.leaf(child);
                for s in cx.strings(child) {
                    if cx.check_name(&s) {
                        group.members.push(s);
                    }
                }
            }
            "clinical" if seen.first(cx, child) => {
                cx.leaf(child);
                group.clinical = cx.single_bool(child) == Some(true);
            }
            "description" | "clinical" => {}
            other => cx.unknown_node(
                child,
                other,
                "`group`",
                &["description", "member", "clinical"],
            ),
        }
    }
    if !has_child(node, "member") {
        let d = Diagnostic::error(
            "missing-field",
            format!("group `{}` has no members", group.name.value),
        )
        .at(group.name.span, "no `member` line")
        .help("add `member \"<class, zone or group>\" ...`");
        cx.error(d);
    }
    Some(group)
}

pub(super) const SERVICE_FIELDS: &[&str] = &[
    "description",
    "tcp",
    "udp",
    "icmp",
    "icmpv4",
    "icmpv6",
    "protocol",
];

pub(super) fn decode_service(cx: &mut Cx<'_>, node: Node<'_>) -> Option<ServiceDecl> {
    cx.no_props(node);
    let name = cx.decl_name(node)?;
    let mut svc = ServiceDecl {
        name,
        description: None,
        set: ServiceSet::default(),
        builtin: false,
        span: cx.span(node.span()),
    };
    let errors_before = cx.diags.error_count();
    let mut seen = Seen::default();
    for child in children(node) {
        let kw = child.name().value();
        match kw {
            "description" if seen.first(cx, child) => svc.description = cx.text(child),
            "description" => {}
            "tcp" | "udp" => {
                cx.leaf(child);
                let ports = decode_ports(cx, child);
                let field = if kw == "tcp" {
                    &mut svc.set.tcp
                } else {
                    &mut svc.set.udp
                };
                *field = field.union(&ports);
            }
            "icmp" | "icmpv4" | "icmpv6" => {
                cx.leaf(child);
                let (v4, v6) = decode_icmp(cx, child);
                svc.set.icmp4 = svc.set.icmp4.union(&v4);
                svc.set.icmp6 = svc.set.icmp6.union(&v6);
            }
            "protocol" => {
                cx.leaf(child);
                let protos = decode_protocols(cx, child);
                svc.set.protocols = svc.set.protocols.union(&protos);
            }
            other => cx.unknown_node(child, other, "`service`", SERVICE_FIELDS),
        }
    }
    // An empty service after errors in its lines is already explained.
    if svc.set.is_empty() && cx.diags.error_count() == errors_before {
        let d = Diagnostic::error(
            "missing-field",
            format!("service `{}` matches nothing", svc.name.value),
        )
        .at(svc.name.span, "no protocol lines")
        .help("add e.g. `tcp 443`, `udp 53`, `icmp \"echo-request\"` or `protocol \"gre\"`");
        cx.error(d);
    }
    Some(svc)
}

/// `tcp 443 "8000-8080"`; no arguments means every port.
pub(super) fn decode_ports(cx: &mut Cx<'_>, node: Node<'_>) -> PortSet {
    let args: Vec<Entry<'_>> = cx.args(node).collect();
    if args.is_empty() {
        return PortSet::full();
    }
    let mut ranges = Vec::new();
    for e in args {
        let span = cx.span(e.span());
        match e.value() {
            Value::Integer(n) => match port_number(n) {
                Some(p) => ranges.push((p, p)),
                None => cx.error(port_range_error(span, &n.to_string())),
            },
            Value::String(s) => match s.split_once('-') {
                Some((lo, hi)) => {
                    let (Ok(lo), Ok(hi)) = (lo.trim().parse::<i128>(), hi.trim().parse::<i128>())
                    else {
                        let d =
                            Diagnostic::error("invalid-port", format!("`{s}` is not a port range"))
                                .at(span, "expected \"FIRST-LAST\"")
                                .help("write a range as \"8000-8080\"");
                        cx.error(d);
                        continue;
                    };
                    match (port_number(lo), port_number(hi)) {
                        (Some(a), Some(b)) if a <= b => ranges.push((a, b)),
                        (Some(_), Some(_)) => {
                            let d = Diagnostic::error(
                                "inverted-range",
                                format!("port range `{s}` ends before it starts"),
                            )
                            .at(span, "inverted range")
                            .help("write the lower port first");
                            cx.error(d);
                        }
                        _ => cx.error(port_range_error(span, s)),
                    }
                }
                None => {
                    let d = Diagnostic::error("wrong-type", format!("port `{s}` is a string"))
                        .at(span, "expected a number")
                        .help(format!("write single ports without quotes: {}", s.trim()));
                    cx.error(d);
                }
            },
            other => {
                let d = Diagnostic::error(
                    "wrong-type",
                    format!("expected a port, found {}", describe(other)),
                )
                .at(span, "expected a port number or \"FIRST-LAST\"");
                cx.error(d);
            }
        }
    }
    PortSet::from_ranges(ranges)
}

/// `icmp "echo-request"` (both families), `icmpv4 8`, `icmpv6 "packet-too-big"`;
/// no arguments means every type of that family (or both).
pub(super) fn decode_icmp(cx: &mut Cx<'_>, node: Node<'_>) -> (ByteSet, ByteSet) {
    let kw = node.name().value();
    let (want4, want6) = match kw {
        "icmp" => (true, true),
        "icmpv4" => (true, false),
        _ => (false, true),
    };
    let args: Vec<Entry<'_>> = cx.args(node).collect();
    let full = |on: bool| {
        if on {
            ByteSet::full()
        } else {
            ByteSet::empty()
        }
    };
    if args.is_empty() {
        return (full(want4), full(want6));
    }
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for e in args {
        let span = cx.span(e.span());
        match e.value() {
            Value::Integer(n) if kw == "icmp" => {
                let d = Diagnostic::error(
                    "ambiguous-icmp-type",
                    format!("ICMP type {n} means different messages in IPv4 and IPv6"),
                )
                .at(span, "numeric type in a family-neutral `icmp` line")
                .help(format!(
                    "use a name (e.g. \"echo-request\"), or `icmpv4 {n}` / `icmpv6 {n}`"
                ));
                cx.error(d);
            }
            Value::Integer(n) => match u8::try_from(n) {
                Ok(t) if want4 => v4.push((t, t)),
                Ok(t) => v6.push((t, t)),
                Err(_) => {
                    let d = Diagnostic::error(
                        "icmp-type-out-of-range",
                        format!("ICMP type {n} is outside 0..255"),
                    )
                    .at(span, "not an ICMP type");
                    cx.error(d);
                }
            },
            Value::String(s) => {
                let t4 = want4.then(|| catalogue::icmp_type(s, false)).flatten();
                let t6 = want6.then(|| catalogue::icmp_type(s, true)).flatten();
                let complete = (t4.is_some() || !want4) && (t6.is_some() || !want6);
                if complete {
                    v4.extend(t4.map(|t| (t, t)));
                    v6.extend(t6.map(|t| (t, t)));
                    continue;
                }
                let known: Vec<&str> = match kw {
                    "icmp" => catalogue::icmp_names_both().collect(),
                    "icmpv4" => catalogue::icmp_names(false).collect(),
                    _ => catalogue::icmp_names(true).collect(),
                };
                let only_other = (t4.is_some() || t6.is_some())
                    || (kw == "icmp"
                        && (catalogue::icmp_type(s, true).is_some()
                            || catalogue::icmp_type(s, false).is_some()));
                let mut help = did_you_mean(s, known.iter().copied())
                    .map(|h| format!("{h} "))
                    .unwrap_or_default();
                if only_other {
                    help = format!(
                        "`{s}` exists in only one family: write `icmpv{} \"{s}\"`. ",
                        if catalogue::icmp_type(s, true).is_some() {
                            6
                        } else {
                            4
                        }
                    );
                }
                help.push_str(&format!("`{kw}` knows: {}", known.join(", ")));
                let d = Diagnostic::error(
                    "unknown-icmp-type",
                    format!("unknown ICMP type `{s}` for `{kw}`"),
                )
                .at(span, "unknown type")
                .help(help);
                cx.error(d);
            }
            other => {
                let d = Diagnostic::error(
                    "wrong-type",
                    format!("expected an ICMP type, found {}", describe(other)),
                )
                .at(span, "expected a type name or number");
                cx.error(d);
            }
        }
    }
    (ByteSet::from_ranges(v4), ByteSet::from_ranges(v6))
}

pub(super) fn decode_protocols(cx: &mut Cx<'_>, node: Node<'_>) -> ByteSet {
    let args: Vec<Entry<'_>> = cx.args(node).collect();
    if args.is_empty() {
        let d = Diagnostic::error(
            "missing-argument",
            "`protocol` needs a protocol name or number",
        )
        .at(cx.span(node.span()), "which protocol?")
        .help(format!(
            "known names: {}",
            catalogue::protocol_names().collect::<Vec<_>>().join(", ")
        ));
        cx.error(d);
    }
    let mut out = Vec::new();
    for e in args {
        let span = cx.span(e.span());
        let number = match e.value() {
            Value::Integer(n) => u8::try_from(n).ok().map(|p| (p, n.to_string())),
            Value::String(s) => match catalogue::protocol_number(s) {
                Some(p) => Some((p, s.to_string())),
                None => {
                    let mut help = did_you_mean(s, catalogue::protocol_names())
                        .map(|h| format!("{h} "))
                        .unwrap_or_default();
                    help.push_str(&format!(
                        "known names: {} (or a number 0..255)",
                        catalogue::protocol_names().collect::<Vec<_>>().join(", ")
                    ));
                    if matches!(s, "tcp" | "udp" | "icmp" | "icmpv6") {
                        help = format!(
                            "write `{s}` as its own line in the service, with ports or types"
                        );
                    }
                    let d =
                        Diagnostic::error("unknown-protocol", format!("unknown protocol `{s}`"))
                            .at(span, "unknown protocol")
                            .help(help);
                    cx.error(d);
                    continue;
                }
            },
            other => {
                let d = Diagnostic::error(
                    "wrong-type",
                    format!("expected a protocol, found {}", describe(other)),
                )
                .at(span, "expected a protocol name or number");
                cx.error(d);
                continue;
            }
        };
        match number {
            Some((p, _)) if matches!(p, 1 | 6 | 17 | 58) => {
                let d = Diagnostic::error("special-protocol", format!("protocol {p} has its own service line"))
                    .at(span, "use tcp/udp/icmp/icmpv6 instead")
                    .help("write `tcp`, `udp`, `icmpv4` or `icmpv6` (without ports or types to mean all of them)");
                cx.error(d);
            }
            Some((p, _)) => out.push((p, p)),
            None => {
                let d = Diagnostic::error("protocol-out-of-range", "protocol numbers are 0..255")
                    .at(span, "not a protocol number");
                cx.error(d);
            }
        }
    }
    ByteSet::from_ranges(out)
}

pub(super) const ADVISORY_FIELDS: &[&str] = &["title", "id", "cve", "url", "block"];

pub(super) fn decode_advisory(cx: &mut Cx<'_>, node: Node<'_>) -> Option<AdvisoryDecl> {
    cx.no_props(node);
    let name = cx.decl_name(node)?;
    let mut adv = AdvisoryDecl {
        name,
        title: None,
        ids: Vec::new(),
        cves: Vec::new(),
        urls: Vec::new(),
        block: Vec::new(),
        span: cx.span(node.span()),
    };
    let mut seen = Seen::default();
    for child in children(node) {
        match child.name().value() {
            "title" if seen.first(cx, child) => adv.title = cx.text(child),
            "title" => {}
            field @ ("id" | "cve" | "url") => {
                cx.leaf(child);
                for s in cx.strings(child) {
                    if !is_identifier_text(&s.value) {
                        let d = Diagnostic::error(
                            "invalid-text",
                            format!("`{}` is not a valid {field}", s.value.escape_debug()),
                        )
                        .at(
                            s.span,
                            "spaces, quotes and control characters are not allowed here",
                        );
                        cx.error(d);
                        continue;
                    }
                    if field == "cve" && !is_cve(&s.value) {
                        let d = Diagnostic::error(
                            "invalid-cve",
                            format!("`{}` is not a CVE identifier", s.value),
                        )
                        .at(s.span, "expected CVE-YYYY-NNNN")
                        .help("CVE identifiers look like \"CVE-2024-12248\"");
                        cx.error(d);
                        continue;
                    }
                    match field {
                        "id" => adv.ids.push(s.value),
                        "cve" => adv.cves.push(s.value),
                        _ => adv.urls.push(s.value),
                    }
                }
            }
            "block" => {
                cx.leaf(child);
                for s in cx.strings(child) {
                    adv.block.extend(addr_literal(cx, &s));
                }
            }
            other => cx.unknown_node(child, other, "`advisory`", ADVISORY_FIELDS),
        }
    }
    if !has_child(node, "block") {
        let d = Diagnostic::error(
            "missing-field",
            format!("advisory `{}` blocks no networks", adv.name.value),
        )
        .at(adv.name.span, "no `block` line")
        .help("add `block \"202.114.4.0/24\"` with the networks the advisory says to block");
        cx.error(d);
    }
    Some(adv)
}

pub(super) const RULE_KINDS: &[&str] = &["allow", "deny", "reject", "block-advisory"];
pub(super) const RULE_FIELDS: &[&str] = &[
    "description",
    "from",
    "to",
    "service",
    "log",
    "owner",
    "ticket",
    "expires",
    "absolute",
    "exception",
];
pub(super) const EXCEPTION_FIELDS: &[&str] = &[
    "description",
    "from",
    "to",
    "service",
    "log",
    "owner",
    "ticket",
    "expires",
];
pub(super) const ADVISORY_RULE_FIELDS: &[&str] = &["description", "owner", "ticket"];

pub(super) fn decode_rules(cx: &mut Cx<'_>, node: Node<'_>, out: &mut Vec<RuleDecl>) {
    cx.no_props(node);
    cx.no_args(node);
    for child in children(node) {
        let kw = child.name().value();
        match kw {
            "allow" => out.extend(decode_rule(cx, child, Action::Allow, RuleKind::Plain)),
            "deny" => out.extend(decode_rule(cx, child, Action::Deny, RuleKind::Plain)),
            "reject" => out.extend(decode_rule(cx, child, Action::Reject, RuleKind::Plain)),
            "block-advisory" => out.extend(decode_rule(
                cx,
                child,
                Action::Deny,
                RuleKind::BlockAdvisory,
            )),
            other => cx.unknown_node(child, other, "`rules`", RULE_KINDS),
        }
    }
}

pub(super) fn decode_rule(
    cx: &mut Cx<'_>,
    node: Node<'_>,
    action: Action,
    kind: RuleKind,
) -> Option<RuleDecl> {
    cx.no_props(node);
    let name = cx.decl_name(node);
    let named = name.is_some();
    let mut rule = RuleDecl {
        name: name.unwrap_or(Spanned {
            value: String::new(),
            span: cx.span(node.span()),
        }),
        kind,
        action,
        absolute: None,
        from: Vec::new(),
        to: Vec::new(),
        service: Vec::new(),
        log: None,
        description: None,
        owner: None,
        ticket: None,
        expires: None,
        exceptions: Vec::new(),
        accepts: Vec::new(),
        keyword_span: cx.span(node.name().span()),
        span: cx.span(node.span()),
    };
    let allowed = match rule.kind {
        RuleKind::Plain if action == Action::Allow => &RULE_FIELDS[..8],
        RuleKind::Plain => RULE_FIELDS,
        RuleKind::Exception => EXCEPTION_FIELDS,
        RuleKind::BlockAdvisory => ADVISORY_RULE_FIELDS,
    };

    let mut seen = Seen::default();
    for child in children(node) {
        let kw = child.name().value();
        if kw == "accept" {
            rule.accepts.extend(super::accept::decode_accept(cx, child));
            continue;
        }
        if !allowed.contains(&kw) {
            let mut d_allowed = allowed.to_vec();
            d_allowed.sort_unstable();
            if kw == "exception" && action == Action::Allow {
                let d =
                    Diagnostic::error("misplaced-node", "an `allow` rule cannot have exceptions")
                        .at(cx.span(child.name().span()), "exception inside an allow")
                        .help("exceptions carve allowed traffic out of a `deny` or `reject` rule");
                cx.error(d);
                continue;
            }
            let inside = match rule.kind {
                RuleKind::Plain => format!("`{action}` rule"),
                RuleKind::Exception => "`exception`".to_string(),
                RuleKind::BlockAdvisory => "`block-advisory`".to_string(),
            };
            cx.unknown_node(child, kw, &inside, &d_allowed);
            continue;
        }
        match kw {
            "description" | "owner" | "ticket" | "log" | "expires" | "absolute"
                if !seen.first(cx, child) => {}
            "description" => rule.description = cx.text(child),
            "owner" => rule.owner = cx.text(child),
            "ticket" => rule.ticket = cx.text(child),
            "log" => {
                cx.leaf(child);
                rule.log = cx.single_bool(child);
            }
            "absolute" => {
                cx.leaf(child);
                if cx.single_bool(child) == Some(true) {
                    rule.absolute = Some(cx.span(child.span()));
                }
            }
            "expires" => rule.expires = expiry(cx, child, "the rule applies"),
            "from" | "to" => {
                let items = endpoints(cx, child);
                append(
                    if kw == "from" {
                        &mut rule.from
                    } else {
                        &mut rule.to
                    },
                    items,
                );
            }
            "service" => append(&mut rule.service, services(cx, child)),
            "exception" => {
                cx.no_props(child);
                rule.exceptions
                    .extend(decode_rule(cx, child, Action::Allow, RuleKind::Exception));
            }
            _ => unreachable!("field list and match arms agree"),
        }
    }
    if !named {
        return None;
    }
    if matches!(rule.kind, RuleKind::BlockAdvisory) {
        return Some(rule);
    }
    // An exception inherits nothing from its rule: users expect it to, so
    // its messages say so.
    let (what, inherits) = match rule.kind {
        RuleKind::Exception => (
            "exception",
            " (an exception does not take it from its rule; it must lie inside the rule's)",
        ),
        _ => ("rule", ""),
    };
    for field in ["from", "to", "service"] {
        if !has_child(node, field) {
            let example = match field {
                "service" => "`service \"https\"` (or `service \"any\"`)",
                _ => "a zone, class, group, CIDR or `any`",
            };
            let d = Diagnostic::error(
                "missing-field",
                format!("{what} `{}` has no `{field}`", rule.name.value),
            )
            .at(rule.name.span, format!("no `{field}` line"))
            .help(format!(
                "every {what} says `{field}` explicitly: {example}{inherits}"
            ));
            cx.error(d);
        }
    }
    Some(rule)
}

/// Appends `items` to a list that is usually given in one line: then the
/// list takes `items` as it is, without the spare capacity growing from
/// empty would leave (it adds up over thousands of rules).
pub(super) fn append<T>(list: &mut Vec<T>, mut items: Vec<T>) {
    if list.is_empty() {
        *list = items;
    } else {
        list.append(&mut items);
    }
}

/// A `from`/`to` node's endpoints.
pub(super) fn endpoints(cx: &mut Cx<'_>, node: Node<'_>) -> Vec<Spanned<EndpointText>> {
    cx.leaf(node);
    let strings = cx.strings(node);
    strings
        .into_iter()
        .filter_map(|s| endpoint_text(cx, s))
        .collect()
}

/// A `service` node's services.
pub(super) fn services(cx: &mut Cx<'_>, node: Node<'_>) -> Vec<Spanned<ServiceText>> {
    cx.leaf(node);
    let strings = cx.strings(node);
    strings
        .into_iter()
        .filter_map(|s| service_text(cx, s))
        .collect()
}

/// `expires "YYYY-MM-DD"`: the last day `what` ("the rule applies").
pub(super) fn expiry(cx: &mut Cx<'_>, node: Node<'_>, what: &str) -> Option<Spanned<Date>> {
    cx.leaf(node);
    let s = cx.single_string(node)?;
    match s.value.parse::<Date>() {
        Ok(date) if s.value.len() == 10 => Some(Spanned {
            value: date,
            span: s.span,
        }),
        _ => {
            let d = Diagnostic::error("invalid-date", format!("`{}` is not a date", s.value))
                .at(s.span, "expected YYYY-MM-DD")
                .help(format!("write the last day {what}, e.g. \"2027-03-31\""));
            cx.error(d);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_guard_skips_strings_and_comments() {
        let deep = "a {".repeat(65) + &"}".repeat(65);
        assert!(too_deep(&deep).is_some());
        assert!(too_deep(&("a {".repeat(64) + &"}".repeat(64))).is_none());
        let braces = "{".repeat(100);
        for hidden in [
            format!("x \"{braces}\""),
            format!("x \"\"\"\n{braces}\n\"\"\""),
            format!("x #\"{braces}\"#"),
            format!("x ##\"\"#{braces}\"##"),
            format!("// {braces}\nx 1"),
            format!("/* /* {braces} */ */ x 1"),
            format!("x \"\\\"{braces}\""),
        ] {
            assert_eq!(too_deep(&hidden), None, "{hidden}");
        }
        // Closing braces inside strings cannot hide real nesting.
        let sneaky = "a { \"}\" ".repeat(100);
        assert!(too_deep(&sneaky).is_some());
    }
}
