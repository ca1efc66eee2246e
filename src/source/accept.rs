//! `accept "code" { reason ...; owner ...; ticket ...; expires ... }`: an
//! acknowledged finding, written inside the rule, exception, expectation
//! or class the finding is about (so it moves, and is deleted, with it).
//!
//! Only the shape is checked here: whether the code names a warning that
//! can be acknowledged is known to the analysis stage, which matches
//! acknowledgements to findings (`analysis::ack`).

use super::decode::{Cx, Seen, children, expiry, has_child};
use super::doc::Node;
use super::tree::AcceptDecl;
use crate::diagnostics::Diagnostic;

pub(super) const ACCEPT_FIELDS: &[&str] = &["reason", "owner", "ticket", "expires"];

/// Decodes one `accept` node; `None` (with errors) when it has no valid
/// code, reason or owner: an acknowledgement nobody can be asked about is
/// not one.
pub(super) fn decode_accept(cx: &mut Cx<'_>, node: Node<'_>) -> Option<AcceptDecl> {
    cx.no_props(node);
    let code = cx.decl_name(node);
    let mut reason = None;
    let mut owner = None;
    let mut ticket = None;
    let mut expires = None;
    let mut seen = Seen::default();
    for child in children(node) {
        let kw = child.name().value();
        if !ACCEPT_FIELDS.contains(&kw) {
            unknown_field(cx, child, kw);
            continue;
        }
        if !seen.first(cx, child) {
            continue;
        }
        match kw {
            "reason" => reason = cx.text(child),
            "owner" => owner = cx.text(child),
            "ticket" => ticket = cx.text(child),
            "expires" => expires = expiry(cx, child, "the acknowledgement holds"),
            _ => unreachable!("field list and match arms agree"),
        }
    }
    let code = code?;
    for field in ["reason", "owner"] {
        if !has_child(node, field) {
            let d = Diagnostic::error(
                "missing-field",
                format!("`accept \"{}\"` has no `{field}`", code.value),
            )
            .at(code.span, format!("no `{field}` line"))
            .help("an acknowledgement says why the finding is accepted and who answers for it: `reason \"...\"` and `owner \"...\"` (and best a `ticket` and an `expires`)");
            cx.error(d);
        }
    }
    Some(AcceptDecl {
        code,
        reason: reason?,
        owner: owner?,
        ticket,
        expires,
        span: cx.span(node.span()),
    })
}

/// An unknown field; `rule`, `class`, ... get a hint, as naming the
/// subject is how other linters do it, and wardwall does it by place.
fn unknown_field(cx: &mut Cx<'_>, child: Node<'_>, kw: &str) {
    if matches!(kw, "rule" | "exception" | "class" | "expectation") {
        let d = Diagnostic::error(
            "misplaced-node",
            format!("`accept` takes no `{kw}`: it acknowledges the findings of the node it is written in"),
        )
        .at(cx.span(child.name().span()), format!("`{kw}` here"))
        .help(format!("write the `accept` inside the {kw} the finding is about, e.g. `deny \"x\" {{ ...; accept \"redundant-rule\" {{ reason \"...\"; owner \"...\" }} }}`"));
        cx.error(d);
        return;
    }
    cx.unknown_node(child, kw, "`accept`", ACCEPT_FIELDS);
}
