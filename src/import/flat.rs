//! The device as one first-match list of boxes in the policy's terms.
//!
//! The same reading of the model as drift's ([`crate::diff::drift`]),
//! kept as address sets and services instead of traffic spaces so that
//! each box can be written as a rule: a guard "enters by Vlan120" is
//! "source in the zone bound to Vlan120"; a layer's filters follow each
//! other (a packet meets the first whose guard holds), then the layer's
//! fate for unfiltered packets; layers join by replacing every allowing
//! box of the first with the second's boxes inside it (a packet passes
//! only if every layer allows). Undecidable entries are set aside: the
//! model's reference semantics ([`Device::decide`]) take them not to
//! match, and the policy says where they are.

use crate::addrset::AddrSet;
use crate::read::device::{Decision, Device, Guard, PlaceSet};
use crate::vocab::{Action, Family, ServiceSet};

/// One box of the device's first-match list.
#[derive(Clone, Debug)]
pub(crate) struct Boxed {
    pub src: AddrSet,
    pub dst: AddrSet,
    pub service: ServiceSet,
    pub action: Action,
    pub log: bool,
    /// The device decisions that lead here, one per layer: (filter name,
    /// decision); `None` for a layer that let the packet pass unfiltered.
    pub path: Vec<Option<(String, Decision)>>,
}

/// An entry the policy cannot decide like the device (an FQDN, App-ID, a
/// schedule): where it is and what it might match.
#[derive(Clone, Debug)]
pub(crate) struct Undecided {
    pub filter: String,
    pub decision: Decision,
    pub why: String,
    pub src: AddrSet,
    pub dst: AddrSet,
    pub service: ServiceSet,
}

/// Which addresses lie behind the device's places.
pub(crate) struct Behind<'z> {
    /// (place, the addresses its zone owns).
    pub places: Vec<(&'z str, &'z AddrSet)>,
}

impl Behind<'_> {
    /// The addresses behind every place in all of `sets`; `None` when no
    /// zone is bound to a place (an address-only import) and the guard
    /// names places.
    fn addresses(&self, sets: &[PlaceSet]) -> Option<AddrSet> {
        if sets.is_empty() {
            return Some(AddrSet::any());
        }
        if self.places.is_empty() {
            return None;
        }
        Some(AddrSet::union_all(
            self.places
                .iter()
                .filter(|(p, _)| sets.iter().all(|s| s.contains(p)))
                .map(|(_, a)| *a),
        ))
    }

    /// `src × dst` where `guard` holds; `None` when that cannot be said.
    fn boxed(&self, guard: &Guard, src: &AddrSet, dst: &AddrSet) -> Option<(AddrSet, AddrSet)> {
        let mut src = src.intersection(&self.addresses(&guard.ingress)?);
        let mut dst = dst.intersection(&self.addresses(&guard.egress)?);
        if let Some(f) = guard.family {
            src = src.of_family(f);
            dst = dst.of_family(f);
        }
        Some((src, dst))
    }
}

/// The device's first-match list, and the entries set aside.
pub(crate) fn flatten(device: &Device, behind: &Behind) -> (Vec<Boxed>, Vec<Undecided>) {
    let mut undecided = Vec::new();
    let mut acc = vec![Boxed {
        src: AddrSet::any(),
        dst: AddrSet::any(),
        service: ServiceSet::any(),
        action: Action::Allow,
        log: false,
        path: Vec::new(),
    }];
    for layer in &device.layers {
        let mut next = Vec::new();
        for filter in &layer.filters {
            for e in &filter.entries {
                let Some(guard) = filter.guard.and(&e.guard) else {
                    continue;
                };
                let placed = behind.boxed(&guard, &e.src, &e.dst);
                let why = e.undecidable.clone().or_else(|| {
                    placed.is_none().then(|| "it matches where the packet enters or leaves, and no zone says which addresses lie there".to_string())
                });
                if let Some(why) = why {
                    let (src, dst) = placed.unwrap_or((e.src.clone(), e.dst.clone()));
                    undecided.push(Undecided {
                        filter: filter.name.clone(),
                        decision: e.decision.clone(),
                        why,
                        src,
                        dst,
                        service: e.service.clone(),
                    });
                    continue;
                }
                let (src, dst) = placed.expect("decided");
                next.push(boxed(
                    src,
                    dst,
                    e.service.clone(),
                    &filter.name,
                    &e.decision,
                ));
            }
            let any = AddrSet::any();
            match behind.boxed(&filter.guard, &any, &any) {
                Some((src, dst)) => next.push(boxed(src, dst, ServiceSet::any(), &filter.name, &filter.default)),
                None => undecided.push(Undecided {
                    filter: filter.name.clone(),
                    decision: filter.default.clone(),
                    why: "the filter applies where the packet enters or leaves, and no zone says which addresses lie there".into(),
                    src: any.clone(),
                    dst: any,
                    service: ServiceSet::any(),
                }),
            }
        }
        next.push(Boxed {
            src: AddrSet::any(),
            dst: AddrSet::any(),
            service: ServiceSet::any(),
            action: layer.unfiltered,
            log: false,
            path: vec![None],
        });
        acc = join(acc, &next);
    }
    (acc, undecided)
}

fn boxed(src: AddrSet, dst: AddrSet, service: ServiceSet, filter: &str, d: &Decision) -> Boxed {
    Boxed {
        src,
        dst,
        service,
        action: d.action,
        log: d.log,
        path: vec![Some((filter.to_string(), d.clone()))],
    }
}

/// `first` with every allowing box replaced by `second`'s boxes inside it.
fn join(first: Vec<Boxed>, second: &[Boxed]) -> Vec<Boxed> {
    if second.len() == 1 && second[0].action.permits() {
        return first
            .into_iter()
            .map(|mut b| {
                b.path.push(None);
                b
            })
            .collect();
    }
    let mut out = Vec::new();
    for a in first {
        if !a.action.permits() {
            out.push(a);
            continue;
        }
        for b in second {
            let piece = Boxed {
                src: a.src.intersection(&b.src),
                dst: a.dst.intersection(&b.dst),
                service: a.service.intersection(&b.service),
                action: b.action,
                log: a.log || b.log,
                path: a.path.iter().chain(&b.path).cloned().collect(),
            };
            if !is_empty(&piece) {
                out.push(piece);
            }
        }
    }
    out.retain(|b| !is_empty(b));
    out
}

/// Whether no packet fits the box (no shared family, or an empty side).
pub fn is_empty(b: &Boxed) -> bool {
    families(b).is_empty()
}

/// The address families a packet in the box can have.
pub(crate) fn families(b: &Boxed) -> Vec<Family> {
    [Family::V4, Family::V6]
        .into_iter()
        .filter(|&f| {
            !b.src.of_family(f).is_empty()
                && !b.dst.of_family(f).is_empty()
                && b.service.has_family(f)
        })
        .collect()
}
