//! SARIF 2.1.0 output of `check --format sarif`, for CI annotations.
//!
//! One run; `tool.driver.rules` has one entry per code (every analysis code,
//! plus any other code that occurs), sorted by id. Each diagnostic is a
//! result with `ruleId`/`ruleIndex`, `level` (`error`, or `warning`; a
//! warning is `error` under `--deny-warnings`), `message.text` (message,
//! then the hint), one location (the primary label) and `relatedLocations`
//! for the secondary labels. A warning the policy acknowledges (`accept`)
//! carries `suppressions` (kind `inSource`, status `accepted`, the reason,
//! owner, ticket and expiry as `justification`, the `accept` as its
//! location) and stays a `warning` under `--deny-warnings`.
//!
//! Regions are 1-based; columns count Unicode code points, and the run says
//! so with `columnKind: unicodeCodePoints` (SARIF's other kind, UTF-16 code
//! units, differs only for characters outside the Basic Multilingual Plane).
//! `endColumn` is one past the last character, as SARIF defines it.
//! `artifactLocation.uri` is the file's path relative to the repository
//! root (`uriBaseId: %SRCROOT%`, as GitHub code scanning resolves it),
//! with `/` separators and percent-encoded; a file outside the repository
//! (or with no repository) keeps its path as given.
//!
//! Each rule has a `fullDescription` (what it finds, then the hint) and a
//! `helpUri` ([`help_uri`]): its section of docs/analysis.md under
//! `WARDWALL_DOCS_URL`, else [`DEFAULT_DOCS_URL`].
//!
//! Each result carries `partialFingerprints["wardwall/v1"]`: a hash of the
//! rule id, the file and the message, which name policy objects but no
//! line or column, so a finding keeps its identity when unrelated lines
//! are added above it (GitHub matches alerts across runs by it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::diagnostics::{Acknowledged, Diagnostic, Diagnostics, Label, Severity, SourceMap, Span};

/// Where `check --format sarif` links each rule's help when
/// `WARDWALL_DOCS_URL` is not set: the folder of the project's docs.
pub const DEFAULT_DOCS_URL: &str = "https://git.example.org/netsec/wardwall/blob/main/docs/";

/// A rule's `helpUri`: the code's section of docs/analysis.md (one heading
/// per analysis code, so the anchor is the code), or the section on the
/// other codes (policy and target errors, explained by their messages).
/// `docs` is the folder that holds analysis.md.
pub fn help_uri(docs: &str, code: &str) -> String {
    let sep = if docs.ends_with('/') { "" } else { "/" };
    let anchor = if crate::analysis::code_info(code).is_some() {
        code
    } else {
        "other-codes"
    };
    format!("{docs}{sep}analysis.md#{anchor}")
}

/// The SARIF log for the diagnostics of one or more policies. `root` is the
/// repository root that URIs are made relative to (`None`: paths as given);
/// `docs` is where the rules' help links point ([`help_uri`]).
pub fn to_sarif(
    checked: &[(&SourceMap, &Diagnostics)],
    deny_warnings: bool,
    root: Option<&Path>,
    docs: &str,
) -> Value {
    let mut codes: Vec<&str> = crate::analysis::CODES.iter().map(|c| c.0).collect();
    for (_, diags) in checked {
        codes.extend(diags.items.iter().map(|d| d.code));
    }
    codes.sort_unstable();
    codes.dedup();
    let rules: Vec<Value> = codes
        .iter()
        .map(|code| {
            let (short, help) = crate::analysis::code_info(code).unwrap_or((
                "A policy error or warning reported by wardwall",
                "See the message and hint of each result.",
            ));
            json!({
                "id": code,
                "name": code,
                "shortDescription": { "text": short },
                "fullDescription": { "text": format!("{short}. {help}") },
                "help": { "text": help },
                "helpUri": help_uri(docs, code),
            })
        })
        .collect();
    let uris = Uris::new(root);
    let mut results = Vec::new();
    // Identical findings (same rule, file and message) are told apart by
    // their order, which unrelated edits do not change either.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (sources, diags) in checked {
        for d in &diags.items {
            let mut r = result(sources, d, &codes, deny_warnings, &uris);
            let key = fingerprint(sources, d, &uris);
            let n = seen.entry(key.clone()).or_default();
            r["partialFingerprints"] = json!({ "wardwall/v1": format!("{key}:{n}") });
            *n += 1;
            results.push(r);
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "wardwall",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

/// Stable identity of a finding: rule id, file and message (no position).
fn fingerprint(sources: &SourceMap, d: &Diagnostic, uris: &Uris) -> String {
    let file = d
        .primary
        .as_ref()
        .map(|l| uris.uri(&sources.file(l.span.file).name))
        .unwrap_or_default();
    let mut h = crate::render::Fnv1a::new();
    for part in [d.code, &file, &d.message] {
        h.write(part.as_bytes());
        h.write(&[0]);
    }
    format!("{:016x}", h.finish())
}

/// File names as SARIF URIs relative to the repository root.
struct Uris {
    /// The canonical repository root and the canonical working directory.
    root: Option<(PathBuf, PathBuf)>,
}

impl Uris {
    fn new(root: Option<&Path>) -> Self {
        let canonical = |p: &Path| p.canonicalize().ok();
        Uris {
            root: root.and_then(|r| Some((canonical(r)?, canonical(Path::new("."))?))),
        }
    }

    fn relative(&self, name: &str) -> Option<String> {
        let (root, cwd) = self.root.as_ref()?;
        let path = cwd.join(name).canonicalize().ok()?;
        let inside = path.strip_prefix(root).ok()?;
        Some(inside.to_string_lossy().replace('\\', "/"))
    }

    fn uri(&self, name: &str) -> String {
        let path = self
            .relative(name)
            .unwrap_or_else(|| name.replace('\\', "/"));
        percent_encode_path(&path)
    }

    fn base_id(&self, name: &str) -> Option<&'static str> {
        self.relative(name).map(|_| "%SRCROOT%")
    }
}

/// Percent-encodes every byte of a path except RFC 3986's unreserved
/// characters and `/` (so `a b#c.kdl` becomes `a%20b%23c.kdl`).
fn percent_encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn result(
    sources: &SourceMap,
    d: &Diagnostic,
    codes: &[&str],
    deny_warnings: bool,
    uris: &Uris,
) -> Value {
    // An acknowledged warning does not fail `--deny-warnings`: it keeps
    // its level and carries the suppression that says why.
    let level = match d.severity {
        Severity::Error => "error",
        Severity::Warning if deny_warnings && !d.is_acknowledged() => "error",
        Severity::Warning => "warning",
    };
    let mut text = d.message.clone();
    if let Some(help) = &d.help {
        text.push_str("\nhelp: ");
        text.push_str(help);
    }
    let mut r = json!({
        "ruleId": d.code,
        "ruleIndex": codes.iter().position(|c| *c == d.code),
        "level": level,
        "message": { "text": text },
    });
    if let Some(primary) = &d.primary {
        r["locations"] = json!([location(sources, primary, None, uris)]);
    }
    if let Some(ack) = &d.acknowledged {
        r["suppressions"] = json!([suppression(sources, ack, uris)]);
    }
    if !d.secondary.is_empty() {
        r["relatedLocations"] = Value::Array(
            d.secondary
                .iter()
                .enumerate()
                .map(|(i, l)| location(sources, l, Some(i + 1), uris))
                .collect(),
        );
    }
    r
}

/// The policy's `accept` as an in-source suppression: status `accepted`,
/// the reason, owner, ticket and expiry as its justification, and the
/// `accept` node as its location.
fn suppression(sources: &SourceMap, ack: &Acknowledged, uris: &Uris) -> Value {
    let mut justification = format!("{} (owner: {}", ack.reason, ack.owner);
    if let Some(ticket) = &ack.ticket {
        justification.push_str(&format!(", ticket: {ticket}"));
    }
    if let Some(until) = ack.expires {
        justification.push_str(&format!(", until {until}"));
    }
    justification.push(')');
    let place = Label {
        span: ack.span,
        text: "acknowledged here".to_string(),
    };
    json!({
        "kind": "inSource",
        "status": "accepted",
        "justification": justification,
        "location": location(sources, &place, None, uris),
    })
}

fn location(sources: &SourceMap, label: &Label, id: Option<usize>, uris: &Uris) -> Value {
    let file = sources.file(label.span.file);
    let (line, col) = sources.line_col(label.span);
    let end = Span {
        offset: label.span.offset + label.span.len,
        ..label.span
    };
    let (end_line, end_col) = sources.line_col(end);
    let mut loc = json!({
        "physicalLocation": {
            "artifactLocation": { "uri": uris.uri(&file.name) },
            "region": {
                "startLine": line,
                "startColumn": col,
                "endLine": end_line,
                "endColumn": end_col,
            }
        },
        "message": { "text": label.text },
    });
    if let Some(base) = uris.base_id(&file.name) {
        loc["physicalLocation"]["artifactLocation"]["uriBaseId"] = json!(base);
    }
    if let Some(id) = id {
        loc["id"] = json!(id);
    }
    loc
}
