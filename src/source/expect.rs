//! The `expect` block: written promises about what the policy allows
//! (`never`, `always`, `only`), decoded with the same fields and checks as
//! rules (`from`, `to`, `service`, `description`, `owner`, `ticket`,
//! `expires`).

use super::decode::{Cx, Seen, append, children, endpoints, expiry, has_child, services};
use super::doc::Node;
use super::tree::{ExpectDecl, ExpectKind, ReachDecl, Spanned};
use crate::diagnostics::{Diagnostic, Span};

pub(super) const EXPECT_KINDS: &[&str] = &["never", "always", "only"];
const EXPECT_FIELDS: &[&str] = &[
    "description",
    "owner",
    "ticket",
    "expires",
    "from",
    "to",
    "service",
];
const NEVER_FIELDS: &[&str] = &[
    "description",
    "owner",
    "ticket",
    "expires",
    "from",
    "to",
    "service",
    "except",
];
const ONLY_FIELDS: &[&str] = &[
    "description",
    "owner",
    "ticket",
    "expires",
    "from",
    "to",
    "service",
    "also",
];
const PAIR_FIELDS: &[&str] = &["to", "service"];

/// `expect { never "name" { ... } always ... only ... }`.
pub(super) fn decode_expect(cx: &mut Cx<'_>, node: Node<'_>, out: &mut Vec<ExpectDecl>) {
    cx.no_props(node);
    cx.no_args(node);
    for child in children(node) {
        let kind = match child.name().value() {
            "never" => ExpectKind::Never,
            "always" => ExpectKind::Always,
            "only" => ExpectKind::Only,
            other => {
                if matches!(other, "allow" | "deny" | "reject" | "block-advisory") {
                    let d = Diagnostic::error(
                        "misplaced-node",
                        format!("`{other}` is a rule, not an expectation"),
                    )
                    .at(cx.span(child.name().span()), "rule inside `expect`")
                    .help("rules go in `rules { ... }`; `expect` holds `never`, `always` and `only`, which check the rules and decide nothing on the wire");
                    cx.error(d);
                    continue;
                }
                cx.unknown_node(child, other, "`expect`", EXPECT_KINDS);
                continue;
            }
        };
        out.extend(decode_expectation(cx, child, kind));
    }
}

fn decode_expectation(cx: &mut Cx<'_>, node: Node<'_>, kind: ExpectKind) -> Option<ExpectDecl> {
    cx.no_props(node);
    let name = cx.decl_name(node);
    let span = cx.span(node.span());
    let mut e = ExpectDecl {
        name: name.clone().unwrap_or(Spanned {
            value: String::new(),
            span,
        }),
        kind,
        from: Vec::new(),
        reach: ReachDecl {
            to: Vec::new(),
            service: Vec::new(),
            span,
        },
        also: Vec::new(),
        except: Vec::new(),
        description: None,
        owner: None,
        ticket: None,
        expires: None,
        accepts: Vec::new(),
        span,
    };
    let allowed = match kind {
        ExpectKind::Only => ONLY_FIELDS,
        ExpectKind::Never => NEVER_FIELDS,
        ExpectKind::Always => EXPECT_FIELDS,
    };
    let mut seen = Seen::default();
    for child in children(node) {
        let kw = child.name().value();
        if kw == "accept" {
            e.accepts.extend(super::accept::decode_accept(cx, child));
            continue;
        }
        if !allowed.contains(&kw) {
            if let Some(home) = match kw {
                "also" => Some("an `only`"),
                "except" => Some("a `never`"),
                _ => None,
            } {
                let d = Diagnostic::error(
                    "misplaced-node",
                    format!("`{kw}` belongs in {home} expectation, not `{}`", kind.as_str()),
                )
                .at(cx.span(child.name().span()), format!("`{kw}` here"))
                .help("`also { to ...; service ... }` lists more destinations an `only` permits; `except { to ...; service ... }` carves named exceptions out of a `never`; an `always` lists every destination and service in `to` and `service`");
                cx.error(d);
                continue;
            }
            let inside = format!("`{}` expectation", kind.as_str());
            cx.unknown_node(child, kw, &inside, allowed);
            continue;
        }
        match kw {
            "description" | "owner" | "ticket" | "expires" if !seen.first(cx, child) => {}
            "description" => e.description = cx.text(child),
            "owner" => e.owner = cx.text(child),
            "ticket" => e.ticket = cx.text(child),
            "expires" => e.expires = expiry(cx, child, "the expectation is checked"),
            "from" => append(&mut e.from, endpoints(cx, child)),
            "to" => append(&mut e.reach.to, endpoints(cx, child)),
            "service" => append(&mut e.reach.service, services(cx, child)),
            "also" => e.also.extend(decode_pair(cx, child)),
            "except" => e.except.extend(decode_pair(cx, child)),
            _ => unreachable!("field list and match arms agree"),
        }
    }
    name.as_ref()?;
    let required: &[&str] = if kind == ExpectKind::Only && !e.also.is_empty() {
        // `only` with `also` blocks may leave its own `to` and `service` out.
        &["from"]
    } else {
        &["from", "to", "service"]
    };
    for field in required {
        if !has_child(node, field) {
            missing(cx, e.name.span, field, kind);
        }
    }
    if kind == ExpectKind::Only && has_child(node, "to") != has_child(node, "service") {
        let field = if has_child(node, "to") {
            "service"
        } else {
            "to"
        };
        missing(cx, e.name.span, field, kind);
    }
    Some(e)
}

fn missing(cx: &mut Cx<'_>, at: Span, field: &str, kind: ExpectKind) {
    let example = match field {
        "service" => "`service \"https\"` (or `service \"any\"`)",
        _ => "a zone, class, group, CIDR or `any`",
    };
    let d = Diagnostic::error(
        "missing-field",
        format!("`{}` expectation has no `{field}`", kind.as_str()),
    )
    .at(at, format!("no `{field}` line"))
    .help(format!(
        "an expectation names its traffic like a rule: `{field}` with {example}"
    ));
    cx.error(d);
}

/// `also { to ...; service ... }` (one more destination and service an
/// `only` permits) or `except { ... }` (traffic a `never` does not
/// forbid); both fields are required.
fn decode_pair(cx: &mut Cx<'_>, node: Node<'_>) -> Option<ReachDecl> {
    cx.no_props(node);
    cx.no_args(node);
    let mut r = ReachDecl {
        to: Vec::new(),
        service: Vec::new(),
        span: cx.span(node.span()),
    };
    for child in children(node) {
        match child.name().value() {
            "to" => append(&mut r.to, endpoints(cx, child)),
            "service" => append(&mut r.service, services(cx, child)),
            other => {
                let inside = format!("`{}`", node.name().value());
                cx.unknown_node(child, other, &inside, PAIR_FIELDS);
            }
        }
    }
    let mut complete = true;
    for field in PAIR_FIELDS {
        if !has_child(node, field) {
            let d = Diagnostic::error("missing-field", format!("`{}` has no `{field}`", node.name().value()))
                .at(cx.span(node.name().span()), format!("no `{field}` line"))
                .help(format!("`{}` pairs destinations with services: `{} {{ to \"dns-servers\"; service \"dns\" }}`", node.name().value(), node.name().value()));
            cx.error(d);
            complete = false;
        }
    }
    complete.then_some(r)
}
