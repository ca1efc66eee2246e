//! Stage 2, model: resolve every name in the syntax tree and check what the
//! policy means (not just how it is written). The result is a validated
//! [`Policy`] whose objects carry resolved address sets.
//!
//! Checks here: duplicate names, unknown or cyclic references, zones and
//! their prefixes, classes outside their zone, exceptions that are not
//! carved out of their rule or that target an absolute block, allows that
//! try to open what an absolute block denies, and rules that can match
//! nothing because their families or services do not meet.

use rustc_hash::FxBuildHasher;
use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::civil::Date;

use crate::addrset::AddrSet;
use crate::diagnostics::{Diagnostic, Diagnostics, Span, did_you_mean};
use crate::source::{self, EndpointText, RuleKind, ServiceText, Spanned, SyntaxTree};
use crate::vocab::{Action, EndpointRef, Family, Literal, ObjectKind, ServiceSet};

/// The validated policy.
#[derive(Debug)]
pub struct Policy {
    pub name: String,
    pub description: Option<String>,
    /// Targets the policy declares it is compiled to; empty means all.
    pub targets: Vec<String>,
    pub zones: Vec<Zone>,
    /// Zones, classes, groups and advisories by name.
    pub objects: BTreeMap<String, Object>,
    /// Built-in and policy services by name (the policy's win).
    pub services: BTreeMap<String, Service>,
    pub rules: Vec<Rule>,
    /// `expect` blocks: promises `check` holds the rules to.
    pub expectations: Vec<Expectation>,
    /// `accept` blocks, each with the declaration it is written in; the
    /// analysis stage matches them to findings ([`crate::analysis::ack`]).
    pub acknowledgements: Vec<Acknowledgement>,
}

/// An acknowledged finding (`accept "code" { ... }`) and its subject: the
/// declaration it is written in.
#[derive(Debug, Clone)]
pub struct Acknowledgement {
    pub accept: source::AcceptDecl,
    /// `rule `x``, `class `y``, ... for messages.
    pub subject: String,
    /// The subject's node: a finding is the subject's when its place lies
    /// in `within` and in none of `nested`.
    pub within: Span,
    /// Declarations inside the subject with findings of their own (a
    /// rule's exceptions).
    pub nested: Vec<Span>,
}

impl Acknowledgement {
    /// Whether a finding placed at `at` is about this acknowledgement's subject.
    pub(crate) fn covers(&self, at: Span) -> bool {
        let inside = |outer: &Span| {
            outer.file == at.file
                && outer.offset <= at.offset
                && at.offset < outer.offset + outer.len.max(1)
        };
        inside(&self.within) && !self.nested.iter().any(inside)
    }
}

/// Every `accept` of the tree with its subject, in reading order of the
/// subjects (rules and their exceptions, expectations, classes).
fn acknowledgements(tree: &SyntaxTree) -> Vec<Acknowledgement> {
    let mut out = Vec::new();
    let mut add =
        |accepts: &[source::AcceptDecl], subject: String, within: Span, nested: Vec<Span>| {
            for a in accepts {
                out.push(Acknowledgement {
                    accept: a.clone(),
                    subject: subject.clone(),
                    within,
                    nested: nested.clone(),
                });
            }
        };
    for r in &tree.rules {
        let nested = r.exceptions.iter().map(|e| e.span).collect();
        add(
            &r.accepts,
            format!("rule `{}`", r.name.value),
            r.span,
            nested,
        );
        for e in &r.exceptions {
            add(
                &e.accepts,
                format!("exception `{}`", e.name.value),
                e.span,
                Vec::new(),
            );
        }
    }
    for e in &tree.expectations {
        let subject = format!("expectation `{}`", e.name.value);
        add(&e.accepts, subject, e.span, Vec::new());
    }
    for c in &tree.classes {
        add(
            &c.accepts,
            format!("class `{}`", c.name.value),
            c.span,
            Vec::new(),
        );
    }
    out
}

pub use crate::source::ExpectKind;

/// An expectation with its references resolved: a promise about what the
/// rules allow, checked by [`crate::analysis::expect`]; it decides nothing
/// on the wire.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub name: String,
    pub kind: ExpectKind,
    pub src: Endpoint,
    /// The destinations and services the expectation is about (`never`,
    /// `always`) or permits (`only`; with its `also` blocks). Empty for an
    /// `only` written with `also` blocks alone.
    pub reach: Vec<(Endpoint, RuleService)>,
    /// `never`: destinations and services carved out of the promise.
    pub except: Vec<(Endpoint, RuleService)>,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub ticket: Option<String>,
    pub expires: Option<Spanned<Date>>,
    pub span: Span,
    pub name_span: Span,
}

#[derive(Debug)]
pub struct Zone {
    pub name: String,
    pub description: Option<String>,
    pub residual: bool,
    /// `vendor #true`: a remote-access zone for vendors.
    pub vendor: bool,
    pub prefixes: Vec<ipnet::IpNet>,
    /// The addresses the zone owns by longest-prefix match.
    pub addrs: AddrSet,
    pub bindings: BTreeMap<String, String>,
    pub span: Span,
}

#[derive(Debug)]
pub struct Object {
    pub name: String,
    pub kind: ObjectKind,
    pub description: Option<String>,
    pub addrs: AddrSet,
    /// The part of `addrs` that comes from specific references (classes,
    /// literals, non-residual zones), as opposed to the residual zone. Used to
    /// tell "allow to the internet" from "allow to the blocked subnet".
    pub specific: AddrSet,
    pub span: Span,
    /// For advisories: the classes that declare `affected-by` it.
    pub concerns: Vec<String>,
    /// For advisories: identifiers, CVEs and URLs.
    pub advisory: Option<AdvisoryInfo>,
    /// For classes: a medical device class (`clinical #true` on the class or
    /// on a group that holds it, directly or through nested groups). For
    /// groups: `clinical #true` on the group. Always false for zones and
    /// advisories.
    pub clinical: bool,
}

#[derive(Debug, Clone)]
pub struct AdvisoryInfo {
    pub title: Option<String>,
    pub ids: Vec<String>,
    pub cves: Vec<String>,
    pub urls: Vec<String>,
}

#[derive(Debug)]
pub struct Service {
    pub name: String,
    pub description: Option<String>,
    pub set: ServiceSet,
    pub builtin: bool,
    pub span: Span,
}

/// A rule with its references resolved.
#[derive(Debug)]
pub struct Rule {
    pub name: String,
    pub kind: ModelRuleKind,
    pub action: Action,
    pub absolute: bool,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub service: RuleService,
    pub log: bool,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub ticket: Option<String>,
    pub expires: Option<Spanned<Date>>,
    pub exceptions: Vec<Rule>,
    pub span: Span,
    pub name_span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRuleKind {
    Plain,
    /// `block-advisory`: lowered to two absolute denies (to and from the
    /// advisory's networks, every protocol).
    BlockAdvisory {
        advisory: String,
    },
    Exception {
        parent: String,
    },
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub refs: Vec<EndpointRef>,
    pub addrs: AddrSet,
    pub specific: AddrSet,
}

#[derive(Debug, Clone)]
pub struct RuleService {
    pub refs: Vec<String>,
    pub set: ServiceSet,
}

/// Validates and resolves the syntax tree. Errors go to `diags`; the policy
/// is returned only when there are none.
pub fn build(tree: SyntaxTree, diags: &mut Diagnostics) -> Option<Policy> {
    let before = diags.error_count();
    let shape = Shape {
        no_rules: tree.rules.is_empty(),
        no_zones: tree.zones.is_empty(),
        place: tree.policy_span.unwrap_or(tree.root_span),
        deny_all: tree.deny_all,
    };
    let acknowledgements = acknowledgements(&tree);
    let mut b = Builder {
        diags,
        objects: BTreeMap::new(),
        services: BTreeMap::new(),
    };
    let zones = b.zones(&tree.zones);
    b.classes(&tree.classes, &zones);
    b.groups(&tree.groups);
    b.mark_clinical(&tree.classes, &tree.groups);
    b.advisories(&tree.advisories, &tree.classes);
    b.services(&tree.services);
    let Builder {
        diags,
        objects,
        services,
    } = b;
    let mut r = Resolver::new(diags, &objects, &services);
    let rules = r.rules(tree.rules);
    r.check_absolute_conflicts(&rules);
    let expectations = r.expectations(tree.expectations);
    if diags.error_count() > before {
        return None;
    }
    // Only once everything else is clean: a policy that is wrong in other
    // ways is not yet "empty".
    if !deny_all_is_meant(shape, diags) {
        return None;
    }
    Some(Policy {
        name: tree
            .name
            .map(|n| n.value)
            .expect("the source stage names every policy it lets through"),
        description: tree.description,
        targets: tree.targets.into_iter().map(|t| t.value).collect(),
        zones,
        objects,
        services,
        rules,
        expectations,
        acknowledgements,
    })
}

/// What [`deny_all_is_meant`] looks at, taken before the tree is consumed.
#[derive(Clone, Copy)]
struct Shape {
    no_rules: bool,
    no_zones: bool,
    /// The `policy` node, or the start of the root file.
    place: Span,
    deny_all: Option<Span>,
}

/// A policy with no rules, or no zones, denies everything: an empty or
/// truncated file would build a firewall that cuts every device off. That
/// must be said explicitly with `deny-all #true` in the `policy` node; and
/// a policy that says it must not then have rules.
fn deny_all_is_meant(shape: Shape, diags: &mut Diagnostics) -> bool {
    let empty = match (shape.no_rules, shape.no_zones) {
        (true, true) => Some("no zones and no rules"),
        (true, false) => Some("no rules"),
        (false, true) => Some("no zones"),
        (false, false) => None,
    };
    let place = shape.place;
    match (empty, shape.deny_all) {
        (Some(what), None) => {
            diags.push(
                Diagnostic::error(
                    "empty-policy",
                    format!("the policy has {what}: it would deny all traffic"),
                )
                .at(place, "empty policy")
                .help("an empty or truncated file must not become a deny-everything firewall; if that is what you mean, say so: `policy \"name\" { deny-all #true }`"),
            );
            false
        }
        (None, Some(span)) => {
            diags.push(
                Diagnostic::error("empty-policy", "`deny-all #true`, but the policy has rules")
                    .at(span, "says the policy denies everything")
                    .help("remove `deny-all #true`, or the rules"),
            );
            false
        }
        _ => true,
    }
}

/// A hash map keyed by names. FxHash (`rustc-hash`, the compiler's own
/// table hasher) instead of std's SipHash: SipHash resists hash flooding,
/// which names from the operator's own policy files do not need, and costs
/// several times as much on the tens of thousands of lookups a large policy
/// makes; a collision only costs a comparison, never a wrong answer.
pub(crate) type NameMap<K, V> = HashMap<K, V, FxBuildHasher>;
/// A hash set of names, with the same hasher as [`NameMap`].
pub(crate) type NameSet<K> = HashSet<K, FxBuildHasher>;

/// Builds the objects and services.
struct Builder<'a> {
    diags: &'a mut Diagnostics,
    objects: BTreeMap<String, Object>,
    services: BTreeMap<String, Service>,
}

/// Resolves the rules against the finished objects and services.
struct Resolver<'a> {
    diags: &'a mut Diagnostics,
    /// In name order, for suggestions.
    objects: &'a BTreeMap<String, Object>,
    services: &'a BTreeMap<String, Service>,
    /// The same, for lookups: rules make tens of thousands of them, and a
    /// B-tree lookup among thousands of names costs a dozen string
    /// comparisons.
    object_index: NameMap<&'a str, &'a Object>,
    service_index: NameMap<&'a str, &'a Service>,
}

impl Builder<'_> {
    /// Sets [`Object::clinical`]: on classes and groups that say
    /// `clinical #true`, and on every class reachable from a clinical group
    /// through `member` lines (cycles were reported by group resolution and
    /// are cut here by the visited set).
    fn mark_clinical(&mut self, classes: &[source::ClassDecl], groups: &[source::GroupDecl]) {
        let by_name: BTreeMap<&str, &source::GroupDecl> =
            groups.iter().map(|g| (g.name.value.as_str(), g)).collect();
        let mut marked: Vec<String> = classes
            .iter()
            .filter(|c| c.clinical)
            .map(|c| c.name.value.clone())
            .collect();
        let mut stack: Vec<&str> = groups
            .iter()
            .filter(|g| g.clinical)
            .map(|g| g.name.value.as_str())
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        while let Some(name) = stack.pop() {
            if !seen.insert(name) {
                continue;
            }
            marked.push(name.to_string());
            if let Some(g) = by_name.get(name) {
                stack.extend(g.members.iter().map(|m| m.value.as_str()));
            }
        }
        for name in marked {
            if let Some(obj) = self.objects.get_mut(&name)
                && matches!(obj.kind, ObjectKind::Class | ObjectKind::Group)
            {
                let own_group_flag = obj.kind == ObjectKind::Class
                    || by_name.get(name.as_str()).is_some_and(|g| g.clinical);
                obj.clinical = own_group_flag;
            }
        }
    }

    /// Registers an address object, reporting a duplicate name.
    fn define(&mut self, obj: Object, name_span: Span) -> bool {
        if let Some(existing) = self.objects.get(&obj.name) {
            let d = Diagnostic::error(
                "duplicate-name",
                format!(
                    "`{}` is already defined as a {}",
                    obj.name,
                    existing.kind.as_str()
                ),
            )
            .at(name_span, "defined again here")
            .also(existing.span, "first defined here")
            .help("zones, classes, groups and advisories share one namespace: rename one of them");
            self.diags.push(d);
            return false;
        }
        self.objects.insert(obj.name.clone(), obj);
        true
    }

    fn zones(&mut self, decls: &[source::ZoneDecl]) -> Vec<Zone> {
        let mut residual: Option<&source::ZoneDecl> = None;
        let mut by_prefix: HashMap<ipnet::IpNet, Span> = HashMap::new();
        let mut ok = true;
        for z in decls {
            if let Some(span) = z.residual {
                if let Some(first) = residual {
                    self.diags.push(
                        Diagnostic::error(
                            "duplicate-residual",
                            format!("zone `{}` is a second residual zone", z.name.value),
                        )
                        .at(span, "second residual zone")
                        .also(first.name.span, "the residual zone is already this one")
                        .help("only one zone can hold \"everything no other zone holds\""),
                    );
                    ok = false;
                } else {
                    residual = Some(z);
                }
                if let Some(p) = z.prefixes.first() {
                    self.diags.push(
                        Diagnostic::error("residual-with-prefix", format!("residual zone `{}` has prefixes", z.name.value))
                            .at(p.span, "prefix on the residual zone")
                            .help("the residual zone owns every address no other zone owns; remove its prefixes"),
                    );
                    ok = false;
                }
            } else if z.prefixes.is_empty() {
                self.diags.push(
                    Diagnostic::error(
                        "missing-field",
                        format!("zone `{}` has no prefixes", z.name.value),
                    )
                    .at(z.name.span, "no `prefix` line")
                    .help(
                        "add `prefix \"10.20.0.0/16\"`, or `residual #true` for the internet zone",
                    ),
                );
                ok = false;
            }
            for p in &z.prefixes {
                if let Some(first) = by_prefix.get(&p.value) {
                    self.diags.push(
                        Diagnostic::error("duplicate-prefix", format!("prefix {} is declared twice", p.value))
                            .at(p.span, "declared again here")
                            .also(*first, "first declared here")
                            .help("an address belongs to the zone with the longest matching prefix, so two zones cannot share one prefix"),
                    );
                    ok = false;
                } else {
                    by_prefix.insert(p.value, p.span);
                }
            }
        }
        let owned = if ok {
            longest_prefix_partition(decls)
        } else {
            vec![AddrSet::empty(); decls.len()]
        };
        let mut zones = Vec::with_capacity(decls.len());
        for (z, addrs) in decls.iter().zip(owned) {
            let obj = Object {
                name: z.name.value.clone(),
                kind: ObjectKind::Zone,
                description: z.description.clone(),
                addrs: addrs.clone(),
                specific: if z.residual.is_some() {
                    AddrSet::empty()
                } else {
                    addrs.clone()
                },
                span: z.name.span,
                concerns: Vec::new(),
                advisory: None,
                clinical: false,
            };
            if !self.define(obj, z.name.span) {
                continue;
            }
            let mut bindings = BTreeMap::new();
            for (target, iface) in &z.bindings {
                if bindings
                    .insert(target.value.clone(), iface.value.clone())
                    .is_some()
                {
                    self.diags.push(
                        Diagnostic::error(
                            "duplicate-field",
                            format!(
                                "zone `{}` binds target `{}` twice",
                                z.name.value, target.value
                            ),
                        )
                        .at(target.span, "second binding"),
                    );
                }
            }
            zones.push(Zone {
                name: z.name.value.clone(),
                description: z.description.clone(),
                residual: z.residual.is_some(),
                vendor: z.vendor,
                prefixes: z.prefixes.iter().map(|p| p.value).collect(),
                addrs,
                bindings,
                span: z.span,
            });
        }
        zones
    }

    fn classes(&mut self, decls: &[source::ClassDecl], zones: &[Zone]) {
        for c in decls {
            let addrs = c
                .addresses
                .iter()
                .fold(AddrSet::empty(), |acc, a| acc.union(&a.value.set));
            if let Some(zone_name) = &c.zone {
                match zones.iter().find(|z| z.name == zone_name.value) {
                    Some(zone) => {
                        for a in &c.addresses {
                            let outside = a.value.set.difference(&zone.addrs);
                            if outside.is_empty() {
                                continue;
                            }
                            let owner = outside
                                .sample()
                                .and_then(|ip| zones.iter().find(|z| z.addrs.contains(ip)));
                            let where_ = match owner {
                                Some(o) => format!(
                                    "{} belongs to zone `{}` (longest matching prefix)",
                                    outside, o.name
                                ),
                                None => format!("{outside} is in no zone"),
                            };
                            self.diags.push(
                                Diagnostic::error(
                                    "class-outside-zone",
                                    format!(
                                        "class `{}` has addresses outside its zone `{}`",
                                        c.name.value, zone.name
                                    ),
                                )
                                .at(a.span, "outside the zone")
                                .also(zone_name.span, "the class's zone")
                                .help(format!(
                                    "{where_}; move the class to that zone or fix the address"
                                )),
                            );
                        }
                    }
                    None => unknown_ref(
                        self.diags,
                        zone_name,
                        "zone",
                        zones.iter().map(|z| z.name.as_str()),
                    ),
                }
            }
            let obj = Object {
                name: c.name.value.clone(),
                kind: ObjectKind::Class,
                description: c.description.clone(),
                specific: addrs.clone(),
                addrs,
                span: c.name.span,
                concerns: Vec::new(),
                advisory: None,
                clinical: false,
            };
            self.define(obj, c.name.span);
        }
    }

    fn groups(&mut self, decls: &[source::GroupDecl]) {
        // Register names first so members can refer to groups declared later.
        let index: BTreeMap<&str, usize> = decls
            .iter()
            .enumerate()
            .map(|(i, g)| (g.name.value.as_str(), i))
            .collect();
        let mut state = vec![Visit::New; decls.len()];
        let mut resolved: Vec<Option<(AddrSet, AddrSet)>> = vec![None; decls.len()];
        for i in 0..decls.len() {
            self.resolve_group(i, decls, &index, &mut state, &mut resolved, &mut Vec::new());
        }
        for (g, r) in decls.iter().zip(resolved) {
            let (addrs, specific) = r.unwrap_or_default();
            let obj = Object {
                name: g.name.value.clone(),
                kind: ObjectKind::Group,
                description: g.description.clone(),
                addrs,
                specific,
                span: g.name.span,
                concerns: Vec::new(),
                advisory: None,
                clinical: false,
            };
            self.define(obj, g.name.span);
        }
    }

    /// Depth-first resolution with cycle detection (`path` is the stack of
    /// groups being resolved).
    fn resolve_group(
        &mut self,
        i: usize,
        decls: &[source::GroupDecl],
        index: &BTreeMap<&str, usize>,
        state: &mut [Visit],
        resolved: &mut [Option<(AddrSet, AddrSet)>],
        path: &mut Vec<usize>,
    ) {
        if state[i] != Visit::New {
            return;
        }
        state[i] = Visit::Active;
        path.push(i);
        let mut addrs = AddrSet::empty();
        let mut specific = AddrSet::empty();
        for m in &decls[i].members {
            if let Some(&j) = index.get(m.value.as_str()) {
                match state[j] {
                    Visit::Active => {
                        let start = path.iter().position(|&p| p == j).unwrap_or(0);
                        let cycle: Vec<&str> = path[start..]
                            .iter()
                            .chain(std::iter::once(&j))
                            .map(|&k| decls[k].name.value.as_str())
                            .collect();
                        self.diags.push(
                            Diagnostic::error(
                                "cyclic-group",
                                format!(
                                    "group `{}` contains itself: {}",
                                    decls[j].name.value,
                                    cycle.join(" → ")
                                ),
                            )
                            .at(m.span, "this member closes the cycle")
                            .help(
                                "a group cannot contain itself, directly or through other groups",
                            ),
                        );
                        continue;
                    }
                    Visit::New => self.resolve_group(j, decls, index, state, resolved, path),
                    Visit::Done => {}
                }
                if let Some((a, s)) = &resolved[j] {
                    addrs = addrs.union(a);
                    specific = specific.union(s);
                }
                continue;
            }
            match self.objects.get(&m.value) {
                Some(o) if matches!(o.kind, ObjectKind::Zone | ObjectKind::Class) => {
                    addrs = addrs.union(&o.addrs);
                    specific = specific.union(&o.specific);
                }
                Some(o) => {
                    let kind = o.kind.as_str();
                    self.diags.push(
                        Diagnostic::error("wrong-reference-kind", format!("`{}` is an {kind}, which cannot be a group member", m.value))
                            .at(m.span, "not a zone, class or group")
                            .help("refer to the advisory in rules (`block-advisory`, or as an endpoint) instead"),
                    );
                }
                None => {
                    let names: Vec<String> = self
                        .objects
                        .keys()
                        .cloned()
                        .chain(index.keys().map(|s| s.to_string()))
                        .collect();
                    unknown_ref(
                        self.diags,
                        m,
                        "zone, class or group",
                        names.iter().map(String::as_str),
                    );
                }
            }
        }
        path.pop();
        state[i] = Visit::Done;
        resolved[i] = Some((addrs, specific));
    }

    fn advisories(&mut self, decls: &[source::AdvisoryDecl], classes: &[source::ClassDecl]) {
        for a in decls {
            let addrs = a
                .block
                .iter()
                .fold(AddrSet::empty(), |acc, b| acc.union(&b.value.set));
            let concerns = classes
                .iter()
                .filter(|c| c.affected_by.iter().any(|n| n.value == a.name.value))
                .map(|c| c.name.value.clone())
                .collect();
            let obj = Object {
                name: a.name.value.clone(),
                kind: ObjectKind::Advisory,
                description: a.title.clone(),
                specific: addrs.clone(),
                addrs,
                span: a.name.span,
                concerns,
                advisory: Some(AdvisoryInfo {
                    title: a.title.clone(),
                    ids: a.ids.clone(),
                    cves: a.cves.clone(),
                    urls: a.urls.clone(),
                }),
                clinical: false,
            };
            self.define(obj, a.name.span);
        }
        for c in classes {
            for adv in &c.affected_by {
                match self.objects.get(&adv.value) {
                    Some(o) if o.kind == ObjectKind::Advisory => {}
                    _ => {
                        let names: Vec<String> =
                            decls.iter().map(|a| a.name.value.clone()).collect();
                        unknown_ref(
                            self.diags,
                            adv,
                            "advisory",
                            names.iter().map(String::as_str),
                        );
                    }
                }
            }
        }
    }

    fn services(&mut self, decls: &[source::ServiceDecl]) {
        for s in decls {
            if let Some(existing) = self.services.get(&s.name.value)
                && !existing.builtin
            {
                self.diags.push(
                    Diagnostic::error(
                        "duplicate-name",
                        format!("service `{}` is already defined", s.name.value),
                    )
                    .at(s.name.span, "defined again here")
                    .also(existing.span, "first defined here")
                    .help("rename one of the services"),
                );
                continue;
            }
            // A policy service of a built-in's name replaces the built-in.
            self.services.insert(
                s.name.value.clone(),
                Service {
                    name: s.name.value.clone(),
                    description: s.description.clone(),
                    set: s.set.clone(),
                    builtin: s.builtin,
                    span: s.name.span,
                },
            );
        }
    }
}

impl<'a> Resolver<'a> {
    fn new(
        diags: &'a mut Diagnostics,
        objects: &'a BTreeMap<String, Object>,
        services: &'a BTreeMap<String, Service>,
    ) -> Self {
        Resolver {
            diags,
            objects,
            services,
            object_index: objects.iter().map(|(k, v)| (k.as_str(), v)).collect(),
            service_index: services.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        }
    }

    /// Resolves the rules, dropping each declaration once it is resolved
    /// (so the syntax tree's rules and the policy's are not all in memory
    /// at once).
    fn rules(&mut self, decls: Vec<source::RuleDecl>) -> Vec<Rule> {
        let mut names: NameMap<String, Span> = NameMap::default();
        names.reserve(decls.len());
        let mut out = Vec::with_capacity(decls.len());
        for r in decls {
            self.claim_rule_name(&mut names, &r.name.value, r.name.span);
            for e in &r.exceptions {
                self.claim_rule_name(&mut names, &e.name.value, e.name.span);
            }
            if let Some(rule) = self.rule(r, None) {
                out.push(rule);
            }
        }
        out
    }

    fn claim_rule_name(&mut self, names: &mut NameMap<String, Span>, name: &str, span: Span) {
        if name == "default" {
            self.diags.push(
                Diagnostic::error("reserved-name", "`default` is the name of the default rule")
                    .at(span, "reserved")
                    .help("choose another rule name; `default` labels the implicit final deny in every output"),
            );
            return;
        }
        if let Some(first) = names.get(name) {
            self.diags.push(
                Diagnostic::error(
                    "duplicate-name",
                    format!("rule `{name}` is already defined"),
                )
                .at(span, "defined again here")
                .also(*first, "first defined here")
                .help(
                    "rule and exception names must be unique: outputs name their rules after them",
                ),
            );
        } else {
            names.insert(name.to_string(), span);
        }
    }

    /// Resolves one rule and its exceptions, moving what it can (names,
    /// texts) out of the declaration.
    fn rule(&mut self, r: source::RuleDecl, parent: Option<&Rule>) -> Option<Rule> {
        if let RuleKind::BlockAdvisory = r.kind {
            return self.advisory_rule(&r);
        }
        let before = self.diags.error_count();
        let src = self.endpoint(r.from);
        let dst = self.endpoint(r.to);
        let service = self.rule_service(r.service);
        if r.absolute.is_some() && r.action == Action::Allow {
            // The decoder does not offer `absolute` in allow rules; kept as a
            // guard in case the field lists change.
            self.diags.push(
                Diagnostic::error(
                    "absolute-allow",
                    "only deny and reject rules can be absolute",
                )
                .at(r.name.span, "allow rule"),
            );
        }
        let kind = match parent {
            Some(p) => ModelRuleKind::Exception {
                parent: p.name.clone(),
            },
            None => ModelRuleKind::Plain,
        };
        let mut rule = Rule {
            name: r.name.value,
            kind,
            action: r.action,
            absolute: r.absolute.is_some(),
            src,
            dst,
            service,
            log: r.log.unwrap_or(r.action != Action::Allow),
            description: r.description,
            owner: r.owner,
            ticket: r.ticket,
            expires: r.expires,
            exceptions: Vec::new(),
            span: r.span,
            name_span: r.name.span,
        };
        if self.diags.error_count() > before {
            return None;
        }
        self.check_families(&rule);
        if let Some(p) = parent {
            self.check_exception_inside(&rule, p);
        }
        if !r.exceptions.is_empty() && rule.absolute {
            for e in &r.exceptions {
                self.diags.push(
                    Diagnostic::error("exception-on-absolute", format!("exception `{}` targets the absolute block `{}`", e.name.value, rule.name))
                        .at(e.name.span, "exception to an absolute block")
                        .also(r.absolute.unwrap_or(rule.name_span), "the block is absolute")
                        .help("absolute blocks cannot be overridden; make the block non-absolute, or narrow it instead of carving an exception"),
                );
            }
            return Some(rule);
        }
        for e in r.exceptions {
            if let Some(ex) = self.rule(e, Some(&rule)) {
                rule.exceptions.push(ex);
            }
        }
        Some(rule)
    }

    fn advisory_rule(&mut self, r: &source::RuleDecl) -> Option<Rule> {
        let name = &r.name;
        let addrs = match self.object_index.get(name.value.as_str()) {
            Some(o) if o.kind == ObjectKind::Advisory => o.addrs.clone(),
            Some(o) => {
                self.diags.push(
                    Diagnostic::error("wrong-reference-kind", format!("`{}` is a {}, not an advisory", name.value, o.kind.as_str()))
                        .at(name.span, "not an advisory")
                        .help("`block-advisory` takes the name of an `advisory`; to block a zone or class, write a `deny` rule"),
                );
                return None;
            }
            None => {
                let names: Vec<String> = self
                    .objects
                    .values()
                    .filter(|o| o.kind == ObjectKind::Advisory)
                    .map(|o| o.name.clone())
                    .collect();
                unknown_ref(
                    self.diags,
                    name,
                    "advisory",
                    names.iter().map(String::as_str),
                );
                return None;
            }
        };
        let advisory = Endpoint {
            refs: vec![EndpointRef::Object(name.value.clone())],
            specific: addrs.clone(),
            addrs,
        };
        Some(Rule {
            name: name.value.clone(),
            kind: ModelRuleKind::BlockAdvisory {
                advisory: name.value.clone(),
            },
            action: Action::Deny,
            absolute: true,
            // Lowering splits this into "any → networks" and "networks → any".
            src: any_endpoint(),
            dst: advisory,
            service: RuleService {
                refs: vec!["any".to_string()],
                set: ServiceSet::any(),
            },
            log: true,
            description: r.description.clone(),
            owner: r.owner.clone(),
            ticket: r.ticket.clone(),
            expires: None,
            exceptions: Vec::new(),
            span: r.span,
            name_span: r.name.span,
        })
    }

    /// `to "internet"` in a policy without such a zone: what users mean
    /// is the residual zone, so the hint says how to declare it (or what
    /// it is called here), unless a closer name was already suggested.
    fn hint_residual(&mut self, name: &str) {
        let Some(d) = self.diags.items.last_mut() else {
            return;
        };
        if name != "internet" || d.help.is_some() {
            return;
        }
        // The residual zone is the one zone whose addresses come from no prefix.
        let residual = self
            .objects
            .values()
            .find(|o| o.kind == ObjectKind::Zone && o.specific.is_empty() && !o.addrs.is_empty());
        d.help = Some(match residual {
            Some(zone) => format!(
                "the residual zone, which holds every address outside your other zones, is `{}` here",
                zone.name
            ),
            None => "no zone holds the addresses outside your zones: declare one, `zone \"internet\" { residual #true }` (it owns every address no other zone holds), or write `any`".to_string(),
        });
    }

    fn endpoint(&mut self, items: Vec<Spanned<EndpointText>>) -> Endpoint {
        let mut ep = Endpoint {
            refs: Vec::with_capacity(items.len()),
            addrs: AddrSet::empty(),
            specific: AddrSet::empty(),
        };
        for item in items {
            match item.value {
                EndpointText::Any => {
                    ep.refs.push(EndpointRef::Any);
                    ep.addrs = AddrSet::any();
                }
                EndpointText::Literal(lit) => {
                    ep.addrs = ep.addrs.union(&lit.set);
                    ep.specific = ep.specific.union(&lit.set);
                    ep.refs.push(EndpointRef::Literal(Literal {
                        text: lit.text,
                        addrs: lit.set,
                    }));
                }
                EndpointText::Name(name) => match self.object_index.get(name.as_str()).copied() {
                    Some(o) => {
                        ep.addrs = ep.addrs.union(&o.addrs);
                        ep.specific = ep.specific.union(&o.specific);
                        ep.refs.push(EndpointRef::Object(name));
                    }
                    None => {
                        let spanned = Spanned {
                            value: name,
                            span: item.span,
                        };
                        let names: Vec<String> = self.objects.keys().cloned().collect();
                        unknown_ref(
                            self.diags,
                            &spanned,
                            "zone, class, group or advisory",
                            names.iter().map(String::as_str),
                        );
                        self.hint_residual(&spanned.value);
                    }
                },
            }
        }
        ep
    }

    fn rule_service(&mut self, items: Vec<Spanned<ServiceText>>) -> RuleService {
        let mut svc = RuleService {
            refs: Vec::with_capacity(items.len()),
            set: ServiceSet::default(),
        };
        for item in items {
            match item.value {
                ServiceText::Literal(text, set) => {
                    svc.set = add_service(svc.set, set);
                    svc.refs.push(text);
                }
                ServiceText::Name(name) => match self.service_index.get(name.as_str()).copied() {
                    Some(s) => {
                        svc.set = svc.set.union(&s.set);
                        svc.refs.push(name);
                    }
                    None => {
                        let spanned = Spanned {
                            value: name,
                            span: item.span,
                        };
                        let names: Vec<String> = self.services.keys().cloned().collect();
                        unknown_ref(
                            self.diags,
                            &spanned,
                            "service",
                            names.iter().map(String::as_str),
                        );
                    }
                },
            }
        }
        svc
    }

    /// Resolves the expectations (their names are their own namespace,
    /// like services'); each reference is checked as in a rule.
    fn expectations(&mut self, decls: Vec<source::ExpectDecl>) -> Vec<Expectation> {
        let mut names: NameMap<String, Span> = NameMap::default();
        let mut out = Vec::with_capacity(decls.len());
        for e in decls {
            if let Some(first) = names.get(&e.name.value) {
                self.diags.push(
                    Diagnostic::error(
                        "duplicate-name",
                        format!("expectation `{}` is already defined", e.name.value),
                    )
                    .at(e.name.span, "defined again here")
                    .also(*first, "first defined here")
                    .help("expectation names must be unique: reports name them"),
                );
                continue;
            }
            names.insert(e.name.value.clone(), e.name.span);
            let src = self.endpoint(e.from);
            let written =
                std::iter::once(e.reach).filter(|r| !r.to.is_empty() || !r.service.is_empty());
            let reach = written
                .chain(e.also)
                .map(|r| (self.endpoint(r.to), self.rule_service(r.service)))
                .collect();
            let except = e
                .except
                .into_iter()
                .map(|r| (self.endpoint(r.to), self.rule_service(r.service)))
                .collect();
            out.push(Expectation {
                name: e.name.value,
                kind: e.kind,
                src,
                reach,
                except,
                description: e.description,
                owner: e.owner,
                ticket: e.ticket,
                expires: e.expires,
                span: e.span,
                name_span: e.name.span,
            });
        }
        out
    }

    /// A rule must be able to match some packet: both endpoints must share a
    /// family, and the service must carry something in that family.
    fn check_families(&mut self, rule: &Rule) {
        let fam = |a: &AddrSet| (!a.v4.is_empty(), !a.v6.is_empty());
        let (s4, s6) = fam(&rule.src.addrs);
        let (d4, d6) = fam(&rule.dst.addrs);
        let usable = |f: Family, both: bool| both && rule.service.set.has_family(f);
        if usable(Family::V4, s4 && d4) || usable(Family::V6, s6 && d6) {
            return;
        }
        let describe = |v4: bool, v6: bool| match (v4, v6) {
            (true, true) => "IPv4 and IPv6",
            (true, false) => "IPv4 only",
            (false, true) => "IPv6 only",
            (false, false) => "empty",
        };
        let why = if !(s4 && d4 || s6 && d6) {
            format!(
                "its source is {} and its destination is {}",
                describe(s4, s6),
                describe(d4, d6)
            )
        } else {
            let fams = match (s4 && d4, s6 && d6) {
                (true, false) => "IPv4",
                (false, true) => "IPv6",
                _ => "IPv4 and IPv6",
            };
            format!(
                "its endpoints are {fams}, but its service only has ICMP types of the other family"
            )
        };
        self.diags.push(
            Diagnostic::error("family-mismatch", format!("rule `{}` can never match: {why}", rule.name))
                .at(rule.name_span, "matches nothing")
                .help("use endpoints of the same address family (IPv4 with IPv4, IPv6 with IPv6), or a service for that family"),
        );
    }

    fn check_exception_inside(&mut self, ex: &Rule, parent: &Rule) {
        let mut outside = Vec::new();
        if !ex.src.addrs.is_subset(&parent.src.addrs) {
            outside.push(format!(
                "source {}",
                ex.src.addrs.difference(&parent.src.addrs)
            ));
        }
        if !ex.dst.addrs.is_subset(&parent.dst.addrs) {
            outside.push(format!(
                "destination {}",
                ex.dst.addrs.difference(&parent.dst.addrs)
            ));
        }
        if !ex.service.set.is_subset(&parent.service.set) {
            outside.push("part of its service".to_string());
        }
        if outside.is_empty() {
            return;
        }
        self.diags.push(
            Diagnostic::error("exception-outside-rule", format!("exception `{}` reaches beyond the rule `{}` it is carved from", ex.name, parent.name))
                .at(ex.name_span, "not inside its rule")
                .also(parent.name_span, "the rule it belongs to")
                .help(format!("outside the rule: {}; an exception can only allow traffic its rule denies — write a separate allow rule instead", outside.join("; "))),
        );
    }

    /// An allow (or exception) may not open traffic an absolute block
    /// denies. Overlap through the residual zone or `any` is not a conflict
    /// ("allow to the internet" does not try to open the blocked subnet; the
    /// block, placed first, wins); overlap through anything specific is.
    fn check_absolute_conflicts(&mut self, rules: &[Rule]) {
        let blocks: Vec<(&Rule, Endpoint, Endpoint)> = rules
            .iter()
            .filter(|r| r.absolute)
            .flat_map(|r| match &r.kind {
                ModelRuleKind::BlockAdvisory { .. } => vec![
                    (r, r.src.clone(), r.dst.clone()),
                    (r, r.dst.clone(), r.src.clone()),
                ],
                _ => vec![(r, r.src.clone(), r.dst.clone())],
            })
            .collect();
        if blocks.is_empty() {
            return;
        }
        let allows = rules
            .iter()
            .flat_map(|r| std::iter::once(r).chain(r.exceptions.iter()))
            .filter(|r| r.action == Action::Allow);
        for allow in allows {
            for (block, bsrc, bdst) in &blocks {
                let side = |a: &Endpoint, b: &Endpoint| {
                    if b.addrs.is_any() {
                        a.addrs.clone()
                    } else {
                        a.specific.intersection(&b.addrs)
                    }
                };
                let src = side(&allow.src, bsrc);
                let dst = side(&allow.dst, bdst);
                if src.is_empty()
                    || dst.is_empty()
                    || !allow.service.set.overlaps(&block.service.set)
                {
                    continue;
                }
                self.diags.push(
                    Diagnostic::error("allow-overrides-absolute", format!("`{}` tries to allow traffic the absolute block `{}` denies", allow.name, block.name))
                        .at(allow.name_span, "allows blocked traffic")
                        .also(block.name_span, "absolute block")
                        .help(format!("the block covers {src} → {dst}; absolute blocks cannot be overridden: remove these addresses from the allow")),
                );
                break;
            }
        }
    }
}

/// `acc ∪ set`, taking `set` as it is when nothing was added yet (the
/// union of the empty set and a canonical set is that set; `any` is left
/// to `union`, which normalises it).
fn add_service(acc: ServiceSet, set: ServiceSet) -> ServiceSet {
    if acc == ServiceSet::default() && !set.any {
        set
    } else {
        acc.union(&set)
    }
}

fn unknown_ref<'n>(
    diags: &mut Diagnostics,
    name: &Spanned<String>,
    what: &str,
    candidates: impl IntoIterator<Item = &'n str>,
) {
    let mut d = Diagnostic::error(
        "unknown-reference",
        format!("unknown {what} `{}`", name.value),
    )
    .at(name.span, format!("no {what} of this name"));
    d.help = did_you_mean(&name.value, candidates);
    diags.push(d);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    New,
    Active,
    Done,
}

pub(crate) fn any_endpoint() -> Endpoint {
    Endpoint {
        refs: vec![EndpointRef::Any],
        addrs: AddrSet::any(),
        specific: AddrSet::empty(),
    }
}

/// The addresses each zone owns: an address belongs to the zone with the
/// longest matching prefix; the residual zone owns what no prefix covers.
///
/// Prefixes either nest or are disjoint, so after sorting by (start, length)
/// the prefixes nested in P directly follow P. Each prefix owns its range
/// minus the union of the prefixes nested in it.
fn longest_prefix_partition(decls: &[source::ZoneDecl]) -> Vec<AddrSet> {
    let mut all: Vec<(ipnet::IpNet, usize)> = decls
        .iter()
        .enumerate()
        .flat_map(|(i, z)| z.prefixes.iter().map(move |p| (p.value, i)))
        .collect();
    all.sort_by_key(|(net, _)| (net.network().is_ipv6(), net.network(), net.prefix_len()));
    let mut owned: Vec<Vec<AddrSet>> = vec![Vec::new(); decls.len()];
    for (i, &(net, zone)) in all.iter().enumerate() {
        let nested = all[i + 1..]
            .iter()
            .take_while(|(inner, _)| net.contains(inner))
            .map(|(inner, _)| *inner);
        owned[zone].push(AddrSet::from_net(net).difference(&AddrSet::from_nets(nested)));
    }
    let mut owned: Vec<AddrSet> = owned.iter().map(AddrSet::union_all).collect();
    let covered = AddrSet::from_nets(all.iter().map(|(net, _)| *net));
    if let Some(r) = decls.iter().position(|z| z.residual.is_some()) {
        owned[r] = covered.complement();
    }
    owned
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    /// Names that differ only in their last characters (rule and object
    /// names are usually numbered) must still spread over a hash table's
    /// buckets, which the low bits of the hash pick; a hasher without a
    /// final mix (FxHash 1, plain FNV) puts them in a few buckets, and
    /// claiming 100,000 rule names became a quarter of the compile.
    #[test]
    fn numbered_names_spread_over_the_low_bits() {
        for width in [6usize, 7, 8, 15, 16] {
            let buckets: HashSet<u64> = (0..1024)
                .map(|i| FxBuildHasher.hash_one(format!("r{i:0width$}")) & 1023)
                .collect();
            assert!(
                buckets.len() > 512,
                "{width}-digit names use {} of 1024 buckets",
                buckets.len()
            );
        }
    }
}
