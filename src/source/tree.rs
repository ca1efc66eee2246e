//! The syntax tree the source stage produces: declarations as written,
//! each value with its span.

use ipnet::IpNet;
use jiff::civil::Date;

use crate::addrset::AddrSet;
use crate::diagnostics::Span;
use crate::vocab::{Action, ServiceSet};

/// A value with the place it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

pub(crate) type Name = Spanned<String>;

/// The policy as written, with includes expanded in place.
#[derive(Debug, Default)]
pub struct SyntaxTree {
    /// The policy's name: declared (`policy "name"`) or, without a
    /// declaration, the root file's stem; validated like every other name.
    pub name: Option<Name>,
    /// The `policy` node's keyword, when the root file has one.
    pub policy_span: Option<Span>,
    /// `deny-all #true` in the `policy` node: the policy means to deny
    /// everything (without it, a policy with no rules or no zones is an
    /// error: an empty or truncated file must not build a deny-all firewall).
    pub deny_all: Option<Span>,
    /// The start of the root file, for problems of the policy as a whole.
    pub root_span: Span,
    pub description: Option<String>,
    /// The targets this policy is compiled to (`policy { targets ... }`);
    /// empty means every target.
    pub targets: Vec<Name>,
    pub zones: Vec<ZoneDecl>,
    pub classes: Vec<ClassDecl>,
    pub groups: Vec<GroupDecl>,
    /// Built-in catalogue services first, then the policy's own.
    pub services: Vec<ServiceDecl>,
    pub advisories: Vec<AdvisoryDecl>,
    pub rules: Vec<RuleDecl>,
    /// `expect { ... }` blocks, concatenated in reading order.
    pub expectations: Vec<ExpectDecl>,
}

#[derive(Debug)]
pub struct ZoneDecl {
    pub name: Name,
    pub description: Option<String>,
    pub prefixes: Vec<Spanned<IpNet>>,
    pub residual: Option<Span>,
    /// `vendor #true`: a remote-access zone for vendors (used by the analysis lints).
    pub vendor: bool,
    /// (target, interface or zone name on that target)
    pub bindings: Vec<(Name, Name)>,
    pub span: Span,
}

/// An address literal: a host, a CIDR or an inclusive range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrLiteral {
    pub text: String,
    pub set: AddrSet,
}

#[derive(Debug)]
pub struct ClassDecl {
    pub name: Name,
    pub zone: Option<Name>,
    pub description: Option<String>,
    pub addresses: Vec<Spanned<AddrLiteral>>,
    pub affected_by: Vec<Name>,
    /// `clinical #true`: a medical device class (used by the analysis lints).
    pub clinical: bool,
    /// `accept` blocks: findings about this class that are acknowledged.
    pub accepts: Vec<AcceptDecl>,
    pub span: Span,
}

#[derive(Debug)]
pub struct GroupDecl {
    pub name: Name,
    pub description: Option<String>,
    pub members: Vec<Name>,
    /// `clinical #true`: every class in the group, directly or through nested
    /// groups, is a medical device class.
    pub clinical: bool,
    pub span: Span,
}

#[derive(Debug)]
pub struct ServiceDecl {
    pub name: Name,
    pub description: Option<String>,
    pub set: ServiceSet,
    pub builtin: bool,
    pub span: Span,
}

#[derive(Debug)]
pub struct AdvisoryDecl {
    pub name: Name,
    pub title: Option<String>,
    pub ids: Vec<String>,
    pub cves: Vec<String>,
    pub urls: Vec<String>,
    pub block: Vec<Spanned<AddrLiteral>>,
    pub span: Span,
}

/// One side of a rule, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointText {
    Any,
    /// Boxed: literals are rare, and a name or `any` would otherwise take
    /// the literal's 80 bytes.
    Literal(Box<AddrLiteral>),
    Name(String),
}

/// A rule's service, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceText {
    Literal(String, ServiceSet),
    Name(String),
}

#[derive(Debug)]
pub enum RuleKind {
    /// `allow` / `deny` / `reject`.
    Plain,
    /// `block-advisory "name"`.
    BlockAdvisory,
    /// `exception "name" { ... }` inside a deny/reject.
    Exception,
}

#[derive(Debug)]
pub struct RuleDecl {
    pub name: Name,
    pub kind: RuleKind,
    pub action: Action,
    pub absolute: Option<Span>,
    pub from: Vec<Spanned<EndpointText>>,
    pub to: Vec<Spanned<EndpointText>>,
    pub service: Vec<Spanned<ServiceText>>,
    pub log: Option<bool>,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub ticket: Option<String>,
    pub expires: Option<Spanned<Date>>,
    pub exceptions: Vec<RuleDecl>,
    /// `accept` blocks: findings about this rule that are acknowledged.
    pub accepts: Vec<AcceptDecl>,
    /// The node's name token (`allow`, `deny`, ...) for labels.
    pub keyword_span: Span,
    pub span: Span,
}

/// The kind of an expectation (`expect { never ... }`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpectKind {
    /// No packet of the space is allowed.
    Never,
    /// Every packet of the space is allowed.
    Always,
    /// From the sources, nothing is allowed but the listed destinations
    /// and services.
    Only,
}

impl ExpectKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ExpectKind::Never => "never",
            ExpectKind::Always => "always",
            ExpectKind::Only => "only",
        }
    }
}

/// One `to` / `service` pair of an expectation, as written: the main one,
/// or an `also { ... }` block of an `only`.
#[derive(Debug)]
pub struct ReachDecl {
    pub to: Vec<Spanned<EndpointText>>,
    pub service: Vec<Spanned<ServiceText>>,
    pub span: Span,
}

/// An expectation as written (`never "name" { ... }` inside `expect`).
#[derive(Debug)]
pub struct ExpectDecl {
    pub name: Name,
    pub kind: ExpectKind,
    pub from: Vec<Spanned<EndpointText>>,
    /// `to` and `service` of the block itself.
    pub reach: ReachDecl,
    /// `only`: further permitted destinations and services.
    pub also: Vec<ReachDecl>,
    /// `never`: destinations and services carved out of the promise
    /// (`except { to ...; service ... }`: the named exceptions a site allows).
    pub except: Vec<ReachDecl>,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub ticket: Option<String>,
    pub expires: Option<Spanned<Date>>,
    /// `accept` blocks: findings about this expectation that are acknowledged.
    pub accepts: Vec<AcceptDecl>,
    pub span: Span,
}

/// `accept "code" { reason ...; owner ...; ticket ...; expires ... }`
/// inside the declaration whose finding it acknowledges.
#[derive(Clone, Debug)]
pub struct AcceptDecl {
    /// The finding code, as written (checked by the analysis stage).
    pub code: Name,
    pub reason: String,
    pub owner: String,
    pub ticket: Option<String>,
    /// The last day the acknowledgement holds.
    pub expires: Option<Spanned<Date>>,
    pub span: Span,
}
