//! SARIF 2.1.0 output of `check --format sarif`, for CI annotations.
//!
//! One run; `tool.driver.rules` has one entry per code (every analysis code,
//! plus any other code that occurs), sorted by id. Each diagnostic is a
//! result with `ruleId`/`ruleIndex`, `level` (`error`, or `warning`; a
//! warning is `error` under `--deny-warnings`), `message.text` (message,
//! then the hint), one location (the primary label) and `relatedLocations`
//! for the secondary labels.
//!
//! Regions are 1-based; columns count Unicode code points, and the run says
//! so with `columnKind: unicodeCodePoints` (SARIF's other kind, UTF-16 code
//! units, differs only for characters outside the Basic Multilingual Plane).
//! `endColumn` is one past the last character, as SARIF defines it.
//! `artifactLocation.uri` is the file path as given on the command line (or
//! as an include resolved it), with `/` separators.

use serde_json::{Value, json};

use crate::diagnostics::{Diagnostic, Diagnostics, Label, Severity, SourceMap, Span};

/// The SARIF log for the diagnostics of one or more policies.
pub fn to_sarif(checked: &[(&SourceMap, &Diagnostics)], deny_warnings: bool) -> Value {
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
                "help": { "text": help },
            })
        })
        .collect();
    let mut results = Vec::new();
    for (sources, diags) in checked {
        for d in &diags.items {
            results.push(result(sources, d, &codes, deny_warnings));
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

fn result(sources: &SourceMap, d: &Diagnostic, codes: &[&str], deny_warnings: bool) -> Value {
    let level = match d.severity {
        Severity::Error => "error",
        Severity::Warning if deny_warnings => "error",
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
        r["locations"] = json!([location(sources, primary, None)]);
    }
    if !d.secondary.is_empty() {
        r["relatedLocations"] = Value::Array(
            d.secondary
                .iter()
                .enumerate()
                .map(|(i, l)| location(sources, l, Some(i + 1)))
                .collect(),
        );
    }
    r
}

fn location(sources: &SourceMap, label: &Label, id: Option<usize>) -> Value {
    let file = sources.file(label.span.file);
    let (line, col) = sources.line_col(label.span);
    let end = Span {
        offset: label.span.offset + label.span.len,
        ..label.span
    };
    let (end_line, end_col) = sources.line_col(end);
    let mut loc = json!({
        "physicalLocation": {
            "artifactLocation": { "uri": file.name.replace('\\', "/") },
            "region": {
                "startLine": line,
                "startColumn": col,
                "endLine": end_line,
                "endColumn": end_col,
            }
        },
        "message": { "text": label.text },
    });
    if let Some(id) = id {
        loc["id"] = json!(id);
    }
    loc
}
