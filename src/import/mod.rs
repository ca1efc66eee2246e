//! Import: a device's running configuration → a readable wardwall policy
//! that decides every packet as the device does, with the proof.
//!
//! The stage after the readers. It takes the target-neutral
//! [`Device`] model (what decides), the reader's [`Inventory`] (what the
//! configuration names: objects, descriptions, interface networks) and
//! the zones ([`zones`]), and writes policy text:
//!
//! - zones from the places, bound to them on the device's target;
//! - classes and groups from the named address objects, nested groups kept
//!   as groups; services from the named service objects, or the built-in
//!   catalogue's name where a service is identical;
//! - rules: the device's first-match list in the policy's terms
//!   ([`flat`]), in the device's order. The language is global first-match
//!   over zones and the device decides per place; each box of the list is
//!   restricted to the zones behind the places its guard names, so
//!   writing the boxes in order says exactly what the device does. Each
//!   endpoint is a zone, class or group when one denotes exactly its
//!   addresses, literals otherwise.
//!
//! - disabled entries, where they stand, as slashdash-commented rules
//!   ([`disabled`]): KDL ignores them, deleting the `/-` enables them.
//!
//! What cannot be written exactly (an entry the model cannot decide
//! offline) is left out with a comment naming its traffic; [`prove`]
//! compiles the text and compares it with the device by the drift
//! machinery, which reports exactly where the two differ.

pub(crate) mod disabled;
pub(crate) mod flat;
pub mod text;
pub mod zones;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use crate::addrset::{AddrSet, ByteSet, CidrBlocks, PortSet};
use crate::diff::drift::{self, Comparison};
use crate::read::device::Device;
use crate::read::export::inventory::Inventory;
use crate::vocab::{Action, Family, ServiceSet, Target};
use disabled::Placed;
use flat::Behind;
use text::{Names, comment, free_text, quote};
use zones::ZoneSpec;

/// The device export an import reads, for the header.
pub struct Source<'a> {
    /// As shown to the user.
    pub file: &'a str,
    pub bytes: &'a [u8],
    /// Places and parts not imported, and why (one line each).
    pub notes: &'a [String],
}

/// The header line [`Imported::with_proof`] replaces with the proof's
/// outcome.
const PROOF_MARK: &str = "// Proof: (not run)";

impl Imported {
    /// The text with the proof's outcome in its header (comments only: the
    /// policy proven is the policy written).
    pub fn with_proof(&self, outcome: &str) -> String {
        self.text
            .replacen(PROOF_MARK, &format!("// Proof: {}", comment(outcome)), 1)
    }
}

/// What an import wrote.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The policy's name (its file is NAME.kdl).
    pub name: String,
    pub text: String,
    /// Entries left out because the policy cannot decide them like the
    /// device: one line each, naming the traffic.
    pub inexact: Vec<String>,
}

/// The zones for `device`: the zones file's, then one per place the
/// configuration gives networks; the places the device filters on that
/// have neither are returned as lacking prefixes.
pub fn zones_for(
    device: &Device,
    inventory: &Inventory,
    given: &[ZoneSpec],
) -> (Vec<ZoneSpec>, Vec<String>, Vec<String>) {
    let mut zones: Vec<ZoneSpec> = given.to_vec();
    let mut notes = Vec::new();
    let mut taken: Vec<ipnet::IpNet> = zones.iter().flat_map(|z| z.prefixes.clone()).collect();
    let mut residual = zones.iter().any(|z| z.residual);
    for place in &inventory.places {
        if zones
            .iter()
            .any(|z| z.place.as_deref() == Some(place.name.as_str()))
        {
            continue;
        }
        if let Some(why) = &place.unused {
            notes.push(format!(
                "{} {}: {why}",
                if device.target == Target::Panos {
                    "zone"
                } else {
                    "interface"
                },
                place.name
            ));
            continue;
        }
        let default_route = place.default_route && !residual;
        residual |= default_route;
        let mut prefixes = Vec::new();
        if !default_route {
            for n in &place.networks {
                if taken.contains(n) {
                    notes.push(format!(
                        "interface {}: its network {n} is another zone's",
                        place.name
                    ));
                } else {
                    taken.push(*n);
                    prefixes.push(*n);
                }
            }
        }
        // PAN-OS's places are zones; the others', interfaces.
        let word = if device.target == Target::Panos {
            "zone"
        } else {
            "interface"
        };
        let description = match &place.description {
            Some(d) => format!("{d} ({word} {})", place.name),
            None => format!("{word} {}", place.name),
        };
        let description = if default_route {
            format!(
                "{description}; the default route leaves by it: every address no other zone holds"
            )
        } else {
            description
        };
        zones.push(ZoneSpec {
            name: place.name.clone(),
            description: Some(description),
            prefixes,
            residual: default_route,
            place: Some(place.name.clone()),
        });
    }
    let bound: Vec<&str> = zones.iter().filter_map(|z| z.place.as_deref()).collect();
    let lacking: Vec<String> = filtered_places(device)
        .into_iter()
        .filter(|p| match p.strip_suffix('*') {
            Some(prefix) => !bound.iter().any(|b| b.starts_with(prefix)),
            None => !bound.contains(&p.as_str()),
        })
        .filter(|p| inventory.place(p).is_none_or(|i| i.unused.is_none()))
        .collect();
    (zones, notes, lacking)
}

/// The place names the device's filters and entries match on.
fn filtered_places(device: &Device) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |g: &crate::read::device::Guard| {
        for s in g.ingress.iter().chain(&g.egress) {
            for n in s.names.iter().chain(s.prefixes.iter()) {
                let n = if s.prefixes.contains(n) {
                    format!("{n}*")
                } else {
                    n.clone()
                };
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
    };
    for l in &device.layers {
        for f in &l.filters {
            add(&f.guard);
            f.entries.iter().for_each(|e| add(&e.guard));
        }
    }
    out
}

/// Writes the policy for `device`.
pub fn import(
    device: &Device,
    inventory: &Inventory,
    zone_specs: &[ZoneSpec],
    source: &Source,
    name: &str,
) -> Imported {
    let mut w = Writer::new(device, inventory, zone_specs);
    let (boxes, undecided, unwritable) = {
        let behind = Behind {
            places: w
                .zones
                .iter()
                .filter_map(|z| Some((z.spec.place.as_deref()?, &z.owned)))
                .collect(),
        };
        let (boxes, undecided) = flat::flatten(device, &behind);
        let (boxes, unwritable) = disabled::place(boxes, &inventory.disabled, &behind);
        (boxes, undecided, unwritable)
    };
    let mut inexact = Vec::new();
    for u in &undecided {
        inexact.push(format!(
            "{}:{}: `{}` in {} ({}): the device may {} {} -> {} ({}); the policy decides that traffic as if it did not match",
            source.file,
            u.decision.origin.line,
            u.decision.origin.text,
            u.filter,
            u.why,
            u.decision.action,
            u.src,
            u.dst,
            describe_service(&u.service)
        ));
    }
    let rules = w.rules(&boxes, source.file);
    let mut out = String::new();
    w.header(&mut out, source, &inexact, &device.skipped);
    let _ = writeln!(out, "policy {} {{", quote(name));
    let _ = writeln!(
        out,
        "    description {}",
        quote(&free_text(&format!(
            "Imported from {} ({})",
            source.file, device.target
        )))
    );
    let _ = writeln!(out, "    targets {}", quote(device.target.name()));
    let _ = writeln!(out, "}}\n");
    out.push_str(&w.definitions);
    for def in w.services.values() {
        out.push_str(def);
    }
    out.push_str("rules {\n");
    for line in &inexact {
        let _ = writeln!(out, "    // NOT IMPORTED: {}", comment(line));
    }
    for (rule, why) in &unwritable {
        let _ = writeln!(
            out,
            "    // disabled on the device, not written as a rule: {}:{}: {}: {}",
            comment(source.file),
            rule.line,
            comment(&rule.text),
            comment(why)
        );
    }
    out.push_str(&rules);
    out.push_str("}\n");
    Imported {
        name: name.to_string(),
        text: out,
        inexact,
    }
}

struct Zone {
    spec: ZoneSpec,
    name: String,
    owned: AddrSet,
}

/// A named address set the policy defines (zone, class, group).
struct Named {
    name: String,
    set: AddrSet,
}

struct Writer<'a> {
    target: Target,
    inventory: &'a Inventory,
    zones: Vec<Zone>,
    objects: Vec<Named>,
    /// Service name → the set it names: the inventory's and the catalogue's.
    named_services: Vec<(String, ServiceSet)>,
    /// Generated service definitions by set.
    services: BTreeMap<String, String>,
    service_names: BTreeMap<ServiceSet, String>,
    names: Names,
    service_namespace: Names,
    rule_names: Names,
    definitions: String,
}

impl<'a> Writer<'a> {
    fn new(device: &Device, inventory: &'a Inventory, specs: &[ZoneSpec]) -> Self {
        let owned = zones::owned(specs);
        let mut names = Names::default();
        let zones: Vec<Zone> = specs
            .iter()
            .zip(owned)
            .map(|(spec, owned)| Zone {
                name: names.name(&spec.name),
                spec: spec.clone(),
                owned,
            })
            .collect();
        let mut w = Writer {
            target: device.target,
            inventory,
            zones,
            objects: Vec::new(),
            named_services: catalogue_services(),
            services: BTreeMap::new(),
            service_names: BTreeMap::new(),
            names,
            service_namespace: Names::default(),
            rule_names: Names::default(),
            definitions: String::new(),
        };
        for (n, _) in &w.named_services {
            w.service_namespace.name(n);
        }
        w.write_zones();
        w.write_objects();
        w.write_inventory_services();
        w
    }

    fn header(&self, out: &mut String, source: &Source, inexact: &[String], skipped: &[String]) {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(source.bytes);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(
            out,
            "// Imported by `wardwall import {}` from {}",
            self.target,
            comment(source.file)
        );
        let _ = writeln!(out, "// sha256 {hex}");
        let _ = writeln!(out, "//");
        let _ = writeln!(
            out,
            "// The rules are the device's own, in its order, each restricted to the zones"
        );
        let _ = writeln!(out, "// behind the places it applies on.");
        let _ = writeln!(out, "{PROOF_MARK}");
        for n in source.notes {
            let _ = writeln!(out, "// Not imported: {}", comment(n));
        }
        if !skipped.is_empty() {
            let _ = writeln!(
                out,
                "// Skipped (decides no forwarded traffic): {}.",
                comment(&skipped.join(", "))
            );
        }
        if !inexact.is_empty() {
            let _ = writeln!(
                out,
                "// {} entr{} could not be written exactly: see NOT IMPORTED below.",
                inexact.len(),
                if inexact.len() == 1 { "y" } else { "ies" }
            );
        }
        let unprefixed: Vec<&str> = self
            .zones
            .iter()
            .filter(|z| z.spec.residual)
            .map(|z| z.name.as_str())
            .collect();
        if !unprefixed.is_empty() {
            let _ = writeln!(
                out,
                "// Residual zone (every address no other zone holds): {}.",
                unprefixed.join(", ")
            );
        }
        out.push('\n');
    }

    fn write_zones(&mut self) {
        let mut s = String::new();
        for z in &self.zones {
            let _ = writeln!(s, "zone {} {{", quote(&z.name));
            let mut desc = z.spec.description.clone().unwrap_or_default();
            if z.name != z.spec.name {
                desc = format!("{} {desc}", z.spec.name).trim().to_string();
            }
            if !desc.is_empty() {
                let _ = writeln!(s, "    description {}", quote(&free_text(&desc)));
            }
            if z.spec.residual {
                let _ = writeln!(s, "    residual #true");
            } else {
                let p: Vec<String> = z
                    .spec
                    .prefixes
                    .iter()
                    .map(|p| quote(&net_text(p)))
                    .collect();
                let _ = writeln!(s, "    prefix {}", p.join(" "));
            }
            if let Some(place) = &z.spec.place {
                if valid_interface(place) {
                    let _ = writeln!(s, "    interface {}={}", self.target.name(), quote(place));
                } else {
                    let _ = writeln!(
                        s,
                        "    // the device's place {} is not a valid interface value: not bound",
                        quote(&comment(place))
                    );
                }
            }
            let _ = writeln!(s, "}}\n");
        }
        self.definitions.push_str(&s);
    }

    /// Classes and groups from the named address objects.
    fn write_objects(&mut self) {
        let inv = self.inventory;
        let mut policy_names: BTreeMap<&str, String> = BTreeMap::new();
        for o in &inv.addresses {
            if !policy_names.contains_key(o.name.as_str())
                && inv.resolved(&o.name).is_some_and(|s| !s.is_empty())
            {
                let n = self.names.name(&o.name);
                policy_names.insert(&o.name, n);
            }
        }
        let mut s = String::new();
        let mut sets: BTreeMap<String, AddrSet> = BTreeMap::new();
        let mut written: Vec<&str> = Vec::new();
        for o in &inv.addresses {
            // The first definition of a name wins (a vsys object hides the
            // shared one of the same name).
            if written.contains(&o.name.as_str()) {
                continue;
            }
            written.push(&o.name);
            let Some(name) = policy_names.get(o.name.as_str()).cloned() else {
                let _ = writeln!(
                    s,
                    "// object {} holds no address: not imported\n",
                    quote(&comment(&o.name))
                );
                continue;
            };
            let parts: Vec<(usize, AddrSet)> = self
                .zones
                .iter()
                .enumerate()
                .map(|(i, z)| (i, o.own.intersection(&z.owned)))
                .filter(|(_, a)| !a.is_empty())
                .collect();
            let outside = o
                .own
                .difference(&AddrSet::union_all(self.zones.iter().map(|z| &z.owned)));
            let members: Vec<String> = o
                .members
                .iter()
                .filter_map(|m| policy_names.get(m.as_str()).cloned())
                .collect();
            let description = {
                let d = o.description.clone().unwrap_or_default();
                if name == o.name {
                    d
                } else {
                    format!("{} {d}", o.name).trim().to_string()
                }
            };
            if !outside.is_empty() {
                let _ = writeln!(
                    s,
                    "// {}: {} lie in no zone and are left out",
                    comment(&o.name),
                    outside
                );
            }
            if members.is_empty() && parts.len() == 1 {
                let (z, a) = &parts[0];
                write_class(&mut s, &name, &description, &self.zones[*z].name, a);
            } else {
                let mut all_members = members;
                for (z, a) in &parts {
                    let class = self.names.name(&format!("{name}-{}", self.zones[*z].name));
                    write_class(
                        &mut s,
                        &class,
                        &format!(
                            "the addresses of {} in zone {}",
                            o.name, self.zones[*z].name
                        ),
                        &self.zones[*z].name,
                        a,
                    );
                    all_members.push(class);
                }
                let _ = writeln!(s, "group {} {{", quote(&name));
                if !description.is_empty() {
                    let _ = writeln!(s, "    description {}", quote(&free_text(&description)));
                }
                let m: Vec<String> = all_members.iter().map(|m| quote(m)).collect();
                let _ = writeln!(s, "    member {}", m.join(" "));
                let _ = writeln!(s, "}}\n");
            }
            let own: AddrSet = AddrSet::union_all(parts.iter().map(|(_, a)| a));
            sets.insert(name.clone(), own);
        }
        // What each name denotes, nested groups included.
        for o in &inv.addresses {
            if self
                .objects
                .iter()
                .any(|n| Some(&n.name) == policy_names.get(o.name.as_str()))
            {
                continue;
            }
            if let Some(name) = policy_names.get(o.name.as_str()) {
                let set = self.denoted(o, &policy_names, &sets, 0);
                self.objects.push(Named {
                    name: name.clone(),
                    set,
                });
            }
        }
        self.definitions.push_str(&s);
    }

    fn denoted(
        &self,
        o: &crate::read::export::inventory::NamedAddresses,
        names: &BTreeMap<&str, String>,
        sets: &BTreeMap<String, AddrSet>,
        depth: usize,
    ) -> AddrSet {
        let mut set = names
            .get(o.name.as_str())
            .and_then(|n| sets.get(n))
            .cloned()
            .unwrap_or_default();
        if depth > 64 {
            return set;
        }
        for m in &o.members {
            if let Some(mo) = self.inventory.addresses.iter().find(|a| &a.name == m) {
                set = set.union(&self.denoted(mo, names, sets, depth + 1));
            }
        }
        set
    }

    fn write_inventory_services(&mut self) {
        let mut s = String::new();
        for svc in &self.inventory.services {
            let set = &svc.service;
            if set.is_empty() || set.any {
                continue;
            }
            if let Some((n, _)) = self.named_services.iter().find(|(_, c)| c == set) {
                let _ = writeln!(
                    s,
                    "// service object {} is the built-in `{n}`\n",
                    quote(&comment(&svc.name))
                );
                continue;
            }
            let name = self.service_namespace.name(&svc.name);
            let mut desc = svc.description.clone().unwrap_or_default();
            if name != svc.name {
                desc = format!("{} {desc}", svc.name).trim().to_string();
            }
            s.push_str(&service_def(&name, &desc, set));
            self.named_services.push((name, set.clone()));
        }
        self.definitions.push_str(&s);
    }

    /// The rules, from the device's first-match list; a disabled rule's
    /// boxes are written in place, commented out (`/-`).
    fn rules(&mut self, boxes: &[Placed], file: &str) -> String {
        let mut out = String::new();
        // A box earlier boxes cover wholly decides nothing: left out (the
        // join of layers makes many). Disabled boxes decide nothing while
        // commented out, so they cover nothing; they are written even when
        // covered, to keep the device's rule where it stood.
        let mut earlier: Vec<crate::analysis::space::Space> = Vec::new();
        let mut closed = false;
        for placed in boxes {
            let b = &placed.boxed;
            if placed.disabled.is_none() {
                if closed {
                    continue;
                }
                let space = crate::analysis::space::Space::from_parts(&b.src, &b.dst, &b.service);
                let shadowed = space.clone().minus_each(earlier.iter()).is_empty();
                earlier.push(space);
                if shadowed {
                    continue;
                }
            }
            let fams = flat::families(b);
            let mask = AddrSet::union_all(
                fams.iter()
                    .map(|&f| AddrSet::any().of_family(f))
                    .collect::<Vec<_>>()
                    .iter(),
            );
            let src = b.src.intersection(&mask);
            let dst = b.dst.intersection(&mask);
            let svc = service_within(&b.service, &fams);
            let services = self.service(&svc, b.action.permits());
            if services.is_empty() {
                let device = match placed.disabled {
                    Some((rule, _)) => format!(
                        "the device, with its disabled rule at {}:{} enabled,",
                        comment(file),
                        rule.line
                    ),
                    None => "the device".to_string(),
                };
                let _ = writeln!(
                    out,
                    "    // NOT WRITTEN: {device} {}s {} -> {} on {} (port 0, which a policy cannot name)\n",
                    b.action,
                    comment(&src.to_string()),
                    comment(&dst.to_string()),
                    describe_service(&svc)
                );
                continue;
            }
            let mut from = self.endpoint(&src, &mask);
            let mut to = self.endpoint(&dst, &mask);
            // A name can hold a family the box does not: the rule must
            // still match only the box's families.
            let wide = |from: &[String], to: &[String], w: &Self| {
                let f = w.families_of(from);
                let t = w.families_of(to);
                let s: Vec<Family> = [Family::V4, Family::V6]
                    .into_iter()
                    .filter(|&x| svc.has_family(x))
                    .collect();
                [Family::V4, Family::V6]
                    .into_iter()
                    .filter(|x| f.contains(x) && t.contains(x) && s.contains(x))
                    .count()
                    > fams.len()
            };
            if wide(&from, &to, self) {
                if to == ["any"] {
                    to = literals(&dst);
                } else if from == ["any"] {
                    from = literals(&src);
                }
                if wide(&from, &to, self) {
                    from = literals(&src);
                }
            }
            let deciding = b.path.iter().rev().flatten().next();
            let base = match deciding {
                Some((filter, d)) => d.origin.rule.clone().unwrap_or_else(|| {
                    if d.origin.line == 0 {
                        format!("{filter} default")
                    } else {
                        format!("{filter} {}", d.origin.line)
                    }
                }),
                None => "unfiltered".to_string(),
            };
            let name = self.rule_names.name(&base);
            for step in &b.path {
                match step {
                    Some((filter, d)) if d.origin.line > 0 => {
                        let _ = writeln!(
                            out,
                            "    // {}: {file}:{}: {}",
                            comment(filter),
                            d.origin.line,
                            comment(&d.origin.text)
                        );
                    }
                    Some((filter, d)) => {
                        let _ = writeln!(
                            out,
                            "    // {}: {}",
                            comment(filter),
                            comment(&d.origin.text)
                        );
                    }
                    None => {}
                }
            }
            let action = match b.action {
                Action::Allow => "allow",
                Action::Deny => "deny",
                Action::Reject => "reject",
            };
            let slashdash = match placed.disabled {
                Some((rule, several)) => {
                    let parts = if several {
                        " (one of several rules: remove `/-` from each rule marked with this line to enable it)"
                    } else {
                        ""
                    };
                    let _ = writeln!(
                        out,
                        "    // disabled on the device: {}:{}: {}{parts}",
                        comment(file),
                        rule.line,
                        comment(&rule.text)
                    );
                    "/-"
                }
                None => "",
            };
            let _ = writeln!(out, "    {slashdash}{action} {} {{", quote(&name));
            let description = deciding.map(|(_, d)| {
                self.inventory
                    .comments
                    .iter()
                    .find(|(line, _)| *line == d.origin.line && d.origin.line > 0)
                    .map(|(_, c)| c.clone())
                    .unwrap_or_else(|| d.origin.text.clone())
            });
            match description {
                Some(d) => {
                    let _ = writeln!(out, "        description {}", quote(&free_text(&d)));
                }
                None => {
                    let _ = writeln!(
                        out,
                        "        description \"traffic that meets no filter of the device\""
                    );
                }
            }
            write_values(&mut out, "from", &from);
            write_values(&mut out, "to", &to);
            write_values(&mut out, "service", &services);
            match (b.action.permits(), b.log) {
                (true, true) => out.push_str("        log #true\n"),
                (false, false) => out.push_str("        log #false\n"),
                _ => {}
            }
            out.push_str("    }\n\n");
            if placed.disabled.is_none()
                && src == AddrSet::any()
                && dst == AddrSet::any()
                && (b.service.any || b.service == ServiceSet::any().expanded())
            {
                closed = true;
            }
        }
        out
    }

    fn families_of(&self, values: &[String]) -> Vec<Family> {
        let mut set = AddrSet::empty();
        for v in values {
            if v == "any" {
                set = AddrSet::any();
            } else if let Some(z) = self.zones.iter().find(|z| &z.name == v) {
                set = set.union(&z.owned);
            } else if let Some(o) = self.objects.iter().find(|o| &o.name == v) {
                set = set.union(&o.set);
            } else {
                set = set.union(&literal_set(v));
            }
        }
        [Family::V4, Family::V6]
            .into_iter()
            .filter(|&f| !set.of_family(f).is_empty())
            .collect()
    }

    /// How to write `set` (inside `mask`, the box's families): `any`, a
    /// class or group that denotes exactly it, the zones it covers and
    /// the rest, or literals.
    fn endpoint(&self, set: &AddrSet, mask: &AddrSet) -> Vec<String> {
        if set == mask {
            return vec!["any".into()];
        }
        let mut out = Vec::new();
        let mut rest = set.clone();
        for z in &self.zones {
            let inside = z.owned.intersection(mask);
            if !inside.is_empty() && inside.is_subset(set) {
                out.push(z.name.clone());
                rest = rest.difference(&inside);
            }
        }
        // Whole zones read best; otherwise the device's own object, if one
        // denotes the set exactly.
        if !rest.is_empty() {
            if let Some(o) = self
                .objects
                .iter()
                .find(|o| &o.set.intersection(mask) == set)
            {
                return vec![o.name.clone()];
            }
            match self
                .objects
                .iter()
                .find(|o| o.set.intersection(mask) == rest)
            {
                Some(o) => out.push(o.name.clone()),
                None => out.extend(literals(&rest)),
            }
        }
        out
    }

    /// How to write `set`: `any`, a named service, literals, or a service
    /// defined for it.
    fn service(&mut self, set: &ServiceSet, allow: bool) -> Vec<String> {
        let any = set.any || *set == ServiceSet::any().expanded();
        if any {
            // A target that refuses to allow `any` (Cisco) gets every
            // protocol spelled out, which says the same for new flows.
            let refused =
                crate::registry::renderer(self.target, &Default::default()).refuses_allow_any();
            if !(allow && refused) {
                return vec!["any".into()];
            }
            let expanded = ServiceSet::any().expanded();
            return vec![self.defined(
                &expanded,
                "every-protocol",
                "TCP, UDP, ICMP, ICMPv6 and every other IP protocol",
            )];
        }
        if let Some((n, _)) = self.named_services.iter().find(|(_, s)| s == set) {
            return vec![n.clone()];
        }
        match service_literals(set) {
            Some(l) => l,
            None => vec![self.defined(set, "service", "")],
        }
    }

    fn defined(&mut self, set: &ServiceSet, base: &str, description: &str) -> String {
        if let Some(n) = self.service_names.get(set) {
            return n.clone();
        }
        let name = self.service_namespace.name(base);
        let desc = if description.is_empty() {
            describe_service(set)
        } else {
            description.to_string()
        };
        self.services
            .insert(name.clone(), service_def(&name, &desc, set));
        self.service_names.insert(set.clone(), name.clone());
        name
    }
}

fn write_class(s: &mut String, name: &str, description: &str, zone: &str, addrs: &AddrSet) {
    let _ = writeln!(s, "class {} {{", quote(name));
    let _ = writeln!(s, "    zone {}", quote(zone));
    if !description.is_empty() {
        let _ = writeln!(s, "    description {}", quote(&free_text(description)));
    }
    write_values(s, "    address", &literals(addrs));
    let _ = writeln!(s, "}}\n");
}

/// `key "a" "b" ...`, six values a line.
fn write_values(out: &mut String, key: &str, values: &[String]) {
    let indent = if key.starts_with(' ') { "" } else { "        " };
    for chunk in values.chunks(6) {
        let v: Vec<String> = chunk.iter().map(|v| quote(v)).collect();
        let _ = writeln!(out, "{indent}{key} {}", v.join(" "));
    }
}

fn valid_interface(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 31
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:-".contains(c))
}

/// The built-in catalogue's services, by compiling an empty policy.
fn catalogue_services() -> Vec<(String, ServiceSet)> {
    let stub = "policy \"catalogue\" {\n    deny-all #true\n}\n";
    let Ok(c) = compile_text(stub, "catalogue", jiff::civil::date(2000, 1, 1)) else {
        return Vec::new();
    };
    c.policy
        .map(|p| {
            p.services
                .values()
                .filter(|s| s.builtin)
                .map(|s| (s.name.clone(), s.set.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// `set` without what no packet of the box's families carries.
fn service_within(set: &ServiceSet, fams: &[Family]) -> ServiceSet {
    if set.any {
        return set.clone();
    }
    let mut s = set.clone();
    if !fams.contains(&Family::V4) {
        s.icmp4 = ByteSet::default();
    }
    if !fams.contains(&Family::V6) {
        s.icmp6 = ByteSet::default();
    }
    if s == ServiceSet::any().expanded() {
        return ServiceSet::any();
    }
    s
}

/// Service literals (`tcp/443`, `udp/5000-5010`, `icmpv4/8`, `proto/47`)
/// for a small set; `None` when it needs a service definition (a whole
/// protocol, many items).
fn service_literals(set: &ServiceSet) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for (proto, ports) in [("tcp", &set.tcp), ("udp", &set.udp)] {
        if ports.is_full() {
            return None;
        }
        // Port 0 cannot be written (ports are 1..65535): the proof shows
        // the traffic if the device matches it.
        for &(lo, hi) in ports.ranges().iter().filter(|r| r.1 > 0) {
            let lo = lo.max(1);
            out.push(if lo == hi {
                format!("{proto}/{lo}")
            } else {
                format!("{proto}/{lo}-{hi}")
            });
        }
    }
    for (proto, types) in [
        ("icmpv4", &set.icmp4),
        ("icmpv6", &set.icmp6),
        ("proto", &set.protocols),
    ] {
        if types.is_full() {
            return None;
        }
        for &(lo, hi) in types.ranges() {
            for t in lo..=hi {
                out.push(format!("{proto}/{t}"));
            }
        }
    }
    (out.len() <= 8).then_some(out)
}

fn service_def(name: &str, description: &str, set: &ServiceSet) -> String {
    let mut s = format!("service {} {{\n", quote(name));
    if !description.is_empty() {
        let _ = writeln!(s, "    description {}", quote(&free_text(description)));
    }
    let ports = |p: &PortSet| -> String {
        p.ranges()
            .iter()
            .filter(|r| r.1 > 0)
            .map(|&(lo, hi)| {
                let lo = lo.max(1);
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("\"{lo}-{hi}\"")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let bytes = |b: &ByteSet| -> Vec<String> {
        b.ranges()
            .iter()
            .flat_map(|&(lo, hi)| (lo..=hi).map(|t| t.to_string()))
            .collect()
    };
    for (kw, p) in [("tcp", &set.tcp), ("udp", &set.udp)] {
        if p.is_full() {
            let _ = writeln!(s, "    {kw}");
        } else if !p.is_empty() {
            let _ = writeln!(s, "    {kw} {}", ports(p));
        }
    }
    for (kw, b) in [("icmpv4", &set.icmp4), ("icmpv6", &set.icmp6)] {
        if b.is_full() {
            let _ = writeln!(s, "    {kw}");
        } else if !b.is_empty() {
            let _ = writeln!(s, "    {kw} {}", bytes(b).join(" "));
        }
    }
    for chunk in bytes(&set.protocols).chunks(20) {
        let _ = writeln!(s, "    protocol {}", chunk.join(" "));
    }
    s.push_str("}\n\n");
    s
}

fn describe_service(set: &ServiceSet) -> String {
    if set.any {
        return "every protocol".into();
    }
    let mut parts = Vec::new();
    for (n, p) in [("tcp", &set.tcp), ("udp", &set.udp)] {
        if p.is_full() {
            parts.push(format!("{n} (every port)"));
        } else if !p.is_empty() {
            let r: Vec<String> = p
                .ranges()
                .iter()
                .map(|&(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                })
                .collect();
            parts.push(format!("{n} {}", r.join(",")));
        }
    }
    for (n, b) in [
        ("icmpv4", &set.icmp4),
        ("icmpv6", &set.icmp6),
        ("protocols", &set.protocols),
    ] {
        if !b.is_empty() {
            let r: Vec<String> = b
                .ranges()
                .iter()
                .map(|&(a, c)| {
                    if a == c {
                        a.to_string()
                    } else {
                        format!("{a}-{c}")
                    }
                })
                .collect();
            parts.push(format!("{n} {}", r.join(",")));
        }
    }
    parts.join(", ")
}

/// Address literals for `set`: hosts, CIDRs and ranges, IPv4 first, in
/// the policy language's strict form (no IPv4-mapped or dotted IPv6).
pub(crate) fn literals(set: &AddrSet) -> Vec<String> {
    let mut out = Vec::new();
    for &(lo, hi) in set.v4.ranges() {
        push_range(&mut out, u128::from(lo), u128::from(hi), 32, |v| {
            Ipv4Addr::from(v as u32).to_string()
        });
    }
    for &(lo, hi) in set.v6.ranges() {
        push_range(&mut out, lo, hi, 128, |v| v6_text(Ipv6Addr::from(v)));
    }
    out
}

fn push_range(out: &mut Vec<String>, lo: u128, hi: u128, bits: u32, show: impl Fn(u128) -> String) {
    let blocks: Vec<(u128, u8)> = CidrBlocks::new(lo, hi, bits).collect();
    if blocks.len() <= 2 {
        for (start, len) in blocks {
            out.push(if u32::from(len) == bits {
                show(start)
            } else {
                format!("{}/{len}", show(start))
            });
        }
    } else {
        out.push(format!("{}-{}", show(lo), show(hi)));
    }
}

/// IPv6 as hexadecimal groups with `::` for the longest zero run, never
/// the dotted forms Rust prints for IPv4-mapped addresses.
fn v6_text(a: Ipv6Addr) -> String {
    let seg = a.segments();
    let (mut best, mut best_len, mut run, mut run_len) = (0, 0, 0, 0);
    for (i, &s) in seg.iter().enumerate() {
        if s == 0 {
            if run_len == 0 {
                run = i;
            }
            run_len += 1;
            if run_len > best_len {
                best = run;
                best_len = run_len;
            }
        } else {
            run_len = 0;
        }
    }
    let hex = |s: &[u16]| {
        s.iter()
            .map(|g| format!("{g:x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if best_len < 2 {
        return hex(&seg);
    }
    format!("{}::{}", hex(&seg[..best]), hex(&seg[best + best_len..]))
}

fn net_text(n: &ipnet::IpNet) -> String {
    match n {
        ipnet::IpNet::V4(n) => n.to_string(),
        ipnet::IpNet::V6(n) => format!("{}/{}", v6_text(n.network()), n.prefix_len()),
    }
}

fn literal_set(v: &str) -> AddrSet {
    if let Some((a, b)) = v.split_once('-')
        && let (Ok(a), Ok(b)) = (a.parse(), b.parse())
    {
        return AddrSet::from_range(a, b);
    }
    if let Ok(n) = v.parse::<ipnet::IpNet>() {
        return AddrSet::from_net(n);
    }
    v.parse().map(AddrSet::from_addr).unwrap_or_default()
}

/// A policy given as text, as one in-memory file (nothing touches disk).
struct MemFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl crate::source::Files for MemFile {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        if path == self.path {
            Ok(self.bytes.clone())
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "an imported policy includes nothing",
            ))
        }
    }
    fn identity(&self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }
    fn resolve(&self, path: &Path) -> std::io::Result<PathBuf> {
        Ok(Path::new("/import").join(path))
    }
}

/// Compiles policy text in memory, as `NAME.kdl`.
pub(crate) fn compile_text(
    text: &str,
    name: &str,
    date: jiff::civil::Date,
) -> Result<crate::Compiled, crate::source::ReadError> {
    let files = MemFile {
        path: PathBuf::from(format!("{name}.kdl")),
        bytes: text.as_bytes().to_vec(),
    };
    crate::compile_from(&files, &files.path.clone(), date)
}

/// The proof: the written policy, compiled, compared with the device.
pub fn prove(
    imported: &Imported,
    device: &Device,
    date: jiff::civil::Date,
) -> Result<(crate::Compiled, Comparison), Box<crate::Compiled>> {
    let compiled = compile_text(&imported.text, &imported.name, date)
        .expect("an in-memory policy is always readable");
    let Some(ir) = &compiled.ir else {
        return Err(Box::new(compiled));
    };
    let comparison = drift::compare(ir, device);
    Ok((compiled, comparison))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_hosts_cidrs_and_ranges() {
        let a = AddrSet::from_range("10.20.8.1".parse().unwrap(), "10.20.8.126".parse().unwrap());
        assert_eq!(literals(&a), ["10.20.8.1-10.20.8.126"]);
        let b = AddrSet::from_net("10.0.0.0/8".parse().unwrap())
            .union(&AddrSet::from_addr("192.0.2.1".parse().unwrap()));
        assert_eq!(literals(&b), ["10.0.0.0/8", "192.0.2.1"]);
        assert_eq!(literals(&AddrSet::any()), ["0.0.0.0/0", "::/0"]);
        let m = AddrSet::from_addr("::ffff:10.0.0.1".parse().unwrap());
        assert_eq!(literals(&m), ["::ffff:a00:1"]);
        let r = AddrSet::from_range("10.0.0.0".parse().unwrap(), "10.0.1.255".parse().unwrap());
        assert_eq!(literals(&r), ["10.0.0.0/23"]);
    }
}
