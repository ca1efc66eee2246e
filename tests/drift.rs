//! The drift engine (`wardwall::diff::drift::compare`) against brute force:
//! devices built in the target-neutral model straight from a policy, then
//! edited the ways a device drifts (an allow inserted before a block, an
//! allow deleted, a verdict flipped, a second layer that drops, an entry
//! that cannot be evaluated offline). For every packet of a set, the
//! packet lies in an exposure (breakage) region exactly when the model's
//! own evaluation (`Device::decide`) allows (denies) what the policy denies
//! (allows); with an undecidable entry, traffic that reaches it is never
//! reported as certain, and is undecidable exactly where some way the
//! entry may resolve disagrees with the policy.
//!
//! The readers that produce the model from real exports are held to it in
//! tests/device_*.rs; here the model is the input.

use proptest::prelude::*;

use crate::common::drift::union_of;
use crate::common::{self, probes::PROBE_DATE, small_domain};
use wardwall::addrset::AddrSet;
use wardwall::diff::drift::{Comparison, DriftKind, compare};
use wardwall::ir::{Action, Ir, Packet, Proto};
use wardwall::read::device::{Decision, Device, Entry, Filter, Guard, Layer, Origin, PlaceSet};
use wardwall::vocab::{Family, ServiceSet, Target};

fn decision(action: Action, line: usize, text: &str) -> Decision {
    Decision {
        action,
        log: false,
        origin: Origin {
            line,
            column: 1,
            text: text.to_string(),
            rule: None,
        },
    }
}

fn entry_of_rule(ir: &Ir, i: usize) -> Entry {
    let r = &ir.rules[i];
    Entry {
        guard: Guard::any(),
        src: r.src.addrs.clone(),
        dst: r.dst.addrs.clone(),
        service: r.service.set.clone(),
        decision: decision(r.action, i + 1, &r.name),
        undecidable: None,
    }
}

/// The policy as a device of `target`: one filter per binding (as an
/// interface-based firewall filters where packets enter), each holding
/// every rule; or, with no bindings, one filter for everything.
fn device_of(ir: &Ir, target: Target) -> Device {
    let entries: Vec<Entry> = (0..ir.rules.len()).map(|i| entry_of_rule(ir, i)).collect();
    let mut places: Vec<String> = Vec::new();
    for z in &ir.zones {
        if let Some(b) = z.bindings.get(target.name())
            && !places.contains(b)
        {
            places.push(b.clone());
        }
    }
    let default = decision(ir.default_action, 0, "default");
    let filters = if places.is_empty() {
        vec![Filter {
            name: "all".into(),
            guard: Guard::any(),
            entries,
            default,
        }]
    } else {
        places
            .iter()
            .map(|p| Filter {
                name: format!("in on {p}"),
                guard: Guard::ingress(PlaceSet::of([p.as_str()])),
                entries: entries.clone(),
                default: default.clone(),
            })
            .collect()
    };
    Device {
        target,
        places: (!places.is_empty()).then_some(places),
        layers: vec![Layer {
            name: "inbound".into(),
            filters,
            unfiltered: Action::Allow,
        }],
        skipped: Vec::new(),
    }
}

/// Where a packet enters and leaves on `target`: the bindings of its
/// addresses' zones (`None` for an address no bound zone holds).
fn place_of(ir: &Ir, target: Target, addr: std::net::IpAddr) -> Option<String> {
    ir.zone_of(addr)
        .and_then(|z| z.bindings.get(target.name()).cloned())
}

fn kind_at(c: &Comparison, p: &Packet) -> Option<DriftKind> {
    let found: Vec<DriftKind> = c
        .regions
        .iter()
        .filter(|r| r.space.contains(p))
        .map(|r| r.kind)
        .collect();
    assert!(found.len() <= 1, "regions overlap at {p}: {found:?}");
    found.first().copied()
}

/// Every packet: the region it is in is what brute force says.
fn holds_to_brute_force(ir: &Ir, device: &Device, c: &Comparison, packets: &[Packet]) {
    let bound = ir
        .zones
        .iter()
        .any(|z| z.bindings.contains_key(device.target.name()));
    for p in packets {
        let (ingress, egress) = (
            place_of(ir, device.target, p.src),
            place_of(ir, device.target, p.dst),
        );
        let got = kind_at(c, p);
        if bound && (ingress.is_none() || egress.is_none()) {
            assert_eq!(got, None, "{p} is not compared");
            continue;
        }
        let outcome = device.decide(p, ingress.as_deref(), egress.as_deref());
        let policy = ir.evaluate(p).action.permits();
        let dev = outcome.action.permits();
        if outcome.undecided.is_empty() {
            let want = match (dev, policy) {
                (true, false) => Some(DriftKind::Exposure),
                (false, true) => Some(DriftKind::Breakage),
                _ => None,
            };
            assert_eq!(got, want, "{p}: device {dev}, policy {policy}");
        } else {
            assert_ne!(
                got,
                Some(DriftKind::Exposure),
                "{p} reaches an undecidable entry"
            );
            assert_ne!(
                got,
                Some(DriftKind::Breakage),
                "{p} reaches an undecidable entry"
            );
            // Undecidable exactly where some way the undecidable entries
            // resolve disagrees with the policy; where every way agrees
            // (an undecidable allow behind which a second layer drops what
            // the policy drops), the traffic is not drift at all.
            let verdicts = possible_verdicts(device, p, ingress.as_deref(), egress.as_deref());
            let want = verdicts
                .iter()
                .any(|&v| v != policy)
                .then_some(DriftKind::Undecidable);
            assert_eq!(got, want, "{p}: device may {verdicts:?}, policy {policy}");
        }
    }
}

/// Every verdict the device can give `packet` over every way its
/// undecidable entries may resolve (each one met either matches, with its
/// own decision, or does not): written apart from `Device::decide`, which
/// takes them all not to match, so that a wrong join of layers in either
/// shows.
fn possible_verdicts(
    device: &Device,
    packet: &Packet,
    ingress: Option<&str>,
    egress: Option<&str>,
) -> std::collections::BTreeSet<bool> {
    let mut out = std::collections::BTreeSet::new();
    from_layer(device, 0, packet, (ingress, egress), &mut out);
    out
}

fn from_layer(
    device: &Device,
    layer: usize,
    packet: &Packet,
    places: (Option<&str>, Option<&str>),
    out: &mut std::collections::BTreeSet<bool>,
) {
    let Some(l) = device.layers.get(layer) else {
        out.insert(true);
        return;
    };
    let family = if packet.src.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    };
    let then = |action: Action, out: &mut std::collections::BTreeSet<bool>| {
        if action.permits() {
            from_layer(device, layer + 1, packet, places, out);
        } else {
            out.insert(false);
        }
    };
    let Some(filter) = l
        .filters
        .iter()
        .find(|f| f.guard.holds(family, places.0, places.1))
    else {
        then(l.unfiltered, out);
        return;
    };
    for e in &filter.entries {
        if !e.holds(packet, places.0, places.1) {
            continue;
        }
        then(e.decision.action, out);
        if e.undecidable.is_none() {
            return;
        }
    }
    then(filter.default.action, out);
}

fn hospital_packets(ir: &Ir) -> Vec<Packet> {
    let mut out: Vec<Packet> = common::probes::HOSPITAL_PROBES
        .iter()
        .map(|p| Packet::parse(p.src, p.dst, p.proto).unwrap())
        .collect();
    out.extend(common::edge_packets::edge_packets(ir, 0x5eed, 600));
    out
}

fn contec_rule(ir: &Ir) -> usize {
    ir.rules
        .iter()
        .position(|r| {
            r.src.addrs.contains("202.114.4.7".parse().unwrap())
                || r.dst.addrs.contains("202.114.4.7".parse().unwrap())
        })
        .expect("the hospital policy blocks the Contec network")
}

#[test]
fn a_device_built_from_the_policy_does_not_drift() {
    for path in common::shipped_policies() {
        let ir = common::compile_ok(&path, PROBE_DATE);
        for target in Target::ALL {
            let device = device_of(&ir, target);
            let c = compare(&ir, &device);
            assert!(
                c.regions.is_empty(),
                "{} on {target:?}: {:?}",
                path.display(),
                c.regions
                    .iter()
                    .map(|r| (r.kind, r.space.sample()))
                    .collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn an_allow_inserted_before_the_contec_block_is_exactly_its_exposure() {
    let ir = common::compile_ok(common::hospital(), PROBE_DATE);
    let mut device = device_of(&ir, Target::PfSense);
    let hole = Entry {
        guard: Guard::any(),
        src: AddrSet::any(),
        dst: AddrSet::from_net("202.114.4.0/24".parse().unwrap()),
        service: ServiceSet {
            tcp: wardwall::addrset::IntervalSet::single(443),
            ..ServiceSet::default()
        },
        decision: decision(Action::Allow, 7, "pass to 202.114.4.0/24 port 443"),
        undecidable: None,
    };
    let at = contec_rule(&ir);
    for f in &mut device.layers[0].filters {
        f.entries.insert(at, hole.clone());
    }
    let c = compare(&ir, &device);
    assert!(!c.regions.is_empty());
    assert!(c.regions.iter().all(|r| r.kind == DriftKind::Exposure));
    let mut packets = hospital_packets(&ir);
    // From every zone to the Contec network on 443: exposed; 444 is not.
    for z in &ir.zones {
        let Some(src) = z.addrs.sample() else {
            continue;
        };
        if !src.is_ipv4() {
            continue;
        }
        for port in [443, 444] {
            packets.push(Packet {
                src,
                dst: "202.114.4.9".parse().unwrap(),
                proto: Proto::Tcp { dport: port },
            });
        }
    }
    holds_to_brute_force(&ir, &device, &c, &packets);
    let exposed = Packet {
        src: ir.zones[0].addrs.sample().unwrap(),
        dst: "202.114.4.9".parse().unwrap(),
        proto: Proto::Tcp { dport: 443 },
    };
    assert_eq!(kind_at(&c, &exposed), Some(DriftKind::Exposure));
    let region = c
        .regions
        .iter()
        .find(|r| r.space.contains(&exposed))
        .unwrap();
    assert!(
        region.policy.is_some(),
        "the advisory block decides it in the policy"
    );
}

#[test]
fn a_deleted_allow_is_exactly_its_breakage() {
    let ir = common::compile_ok(common::hospital(), PROBE_DATE);
    let allow = ir
        .rules
        .iter()
        .position(|r| r.action == Action::Allow)
        .unwrap();
    let mut device = device_of(&ir, Target::Cisco);
    for f in &mut device.layers[0].filters {
        f.entries.remove(allow);
    }
    let c = compare(&ir, &device);
    assert!(!c.regions.is_empty());
    assert!(c.regions.iter().all(|r| r.kind == DriftKind::Breakage));
    assert!(c.regions.iter().all(|r| r.policy == Some(allow)));
    holds_to_brute_force(&ir, &device, &c, &hospital_packets(&ir));
}

#[test]
fn a_second_layer_that_drops_breaks_only_what_it_drops() {
    let ir = common::compile_ok(common::hospital(), PROBE_DATE);
    let mut device = device_of(&ir, Target::Nftables);
    device.layers.push(Layer {
        name: "table ip other".into(),
        filters: vec![Filter {
            name: "chain forward".into(),
            guard: Guard {
                family: Some(wardwall::vocab::Family::V4),
                ..Guard::any()
            },
            entries: vec![Entry {
                guard: Guard::any(),
                src: AddrSet::any(),
                dst: AddrSet::any(),
                service: ServiceSet {
                    udp: wardwall::addrset::IntervalSet::single(53),
                    ..ServiceSet::default()
                },
                decision: decision(Action::Deny, 3, "udp dport 53 drop"),
                undecidable: None,
            }],
            default: decision(Action::Allow, 0, "policy accept"),
        }],
        unfiltered: Action::Allow,
    });
    let c = compare(&ir, &device);
    assert!(!c.regions.is_empty(), "the hospital allows DNS somewhere");
    for r in &c.regions {
        assert_eq!(r.kind, DriftKind::Breakage);
        assert_eq!(r.device.len(), 2, "both layers decide");
    }
    let mut packets = hospital_packets(&ir);
    packets.retain(|p| p.src.is_ipv4() || p.proto == Proto::Udp { dport: 53 });
    holds_to_brute_force(&ir, &device, &c, &packets);
}

#[test]
fn traffic_an_undecidable_entry_reaches_is_undecidable() {
    let ir = common::compile_ok(common::hospital(), PROBE_DATE);
    let mut device = device_of(&ir, Target::Panos);
    let fqdn = Entry {
        guard: Guard::any(),
        src: AddrSet::any(),
        dst: AddrSet::any(),
        service: ServiceSet {
            tcp: wardwall::addrset::IntervalSet::single(443),
            ..ServiceSet::default()
        },
        decision: decision(Action::Allow, 12, "updates.vendor.example"),
        undecidable: Some("FQDN address object updates.vendor.example".into()),
    };
    for f in &mut device.layers[0].filters {
        f.entries.insert(0, fqdn.clone());
    }
    let c = compare(&ir, &device);
    assert!(c.regions.iter().all(|r| r.kind == DriftKind::Undecidable));
    assert!(c.regions.iter().all(|r| r.undecided.is_some()));
    holds_to_brute_force(&ir, &device, &c, &hospital_packets(&ir));
}

#[test]
fn an_entry_on_a_place_without_bindings_is_undecidable() {
    // No zone is bound on nftables in the small domain: an entry that
    // matches an interface cannot be placed.
    let ir = small_domain::ir_of(vec![(
        Action::Allow,
        false,
        AddrSet::any(),
        AddrSet::any(),
        ServiceSet::any(),
    )]);
    let mut device = device_of(&ir, Target::Nftables);
    device.layers[0].filters[0].entries.insert(
        0,
        Entry {
            guard: Guard::ingress(PlaceSet::of(["wan0"])),
            src: AddrSet::any(),
            dst: AddrSet::any(),
            service: ServiceSet::any(),
            decision: decision(Action::Deny, 2, "iifname \"wan0\" drop"),
            undecidable: None,
        },
    );
    let c = compare(&ir, &device);
    assert!(!c.regions.is_empty());
    assert!(c.regions.iter().all(|r| r.kind == DriftKind::Undecidable));
}

/// One way a device drifts from the policy it was built from.
#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, small_domain::RuleSpec),
    Delete(usize),
    Flip(usize),
    Undecidable(usize),
    /// An entry that cannot be evaluated offline (an FQDN, a schedule).
    InsertUndecidable(usize, small_domain::RuleSpec),
    SecondLayer(small_domain::RuleSpec),
}

fn apply(device: &mut Device, edit: &Edit) {
    let entries = &mut device.layers[0].filters[0].entries;
    let n = entries.len();
    let entry = |(action, _, src, dst, service): &small_domain::RuleSpec, line| Entry {
        guard: Guard::any(),
        src: src.clone(),
        dst: dst.clone(),
        service: service.clone(),
        decision: decision(*action, line, "edited"),
        undecidable: None,
    };
    match edit {
        Edit::Insert(at, spec) => entries.insert(at % (n + 1), entry(spec, 99)),
        Edit::InsertUndecidable(at, spec) => {
            let mut e = entry(spec, 98);
            e.undecidable = Some("FQDN".into());
            entries.insert(at % (n + 1), e);
        }
        Edit::Delete(at) if n > 0 => {
            entries.remove(at % n);
        }
        Edit::Flip(at) if n > 0 => {
            let d = &mut entries[at % n].decision;
            d.action = if d.action.permits() {
                Action::Deny
            } else {
                Action::Allow
            };
        }
        Edit::Undecidable(at) if n > 0 => {
            entries[at % n].undecidable = Some("schedule".into());
        }
        Edit::SecondLayer(spec) => device.layers.push(Layer {
            name: "second".into(),
            filters: vec![Filter {
                name: "second".into(),
                guard: Guard::any(),
                entries: vec![entry(spec, 1)],
                default: decision(Action::Allow, 0, "accept"),
            }],
            unfiltered: Action::Allow,
        }),
        _ => {}
    }
}

fn arb_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (0usize..10, small_domain::arb_rule()).prop_map(|(a, r)| Edit::Insert(a, r)),
        2 => (0usize..10).prop_map(Edit::Delete),
        2 => (0usize..10).prop_map(Edit::Flip),
        1 => (0usize..10).prop_map(Edit::Undecidable),
        2 => (0usize..10, small_domain::arb_rule()).prop_map(|(a, r)| Edit::InsertUndecidable(a, r)),
        1 => small_domain::arb_rule().prop_map(Edit::SecondLayer),
    ]
}

proptest! {
    #![proptest_config(common::proptest_config(128))]

    /// Random policies, random edits of the device built from them: drift's
    /// regions are brute force's differences over every representative
    /// packet, and empty with no edit.
    #[test]
    fn drift_is_the_brute_force_difference(
        rules in prop::collection::vec(small_domain::arb_rule(), 0..6),
        edits in prop::collection::vec(arb_edit(), 0..3),
    ) {
        let ir = small_domain::ir_of(rules);
        let mut device = device_of(&ir, Target::Nftables);
        let packets = small_domain::packets();
        if edits.is_empty() {
            prop_assert!(compare(&ir, &device).regions.is_empty());
        }
        for e in &edits {
            apply(&mut device, e);
        }
        let c = compare(&ir, &device);
        holds_to_brute_force(&ir, &device, &c, &packets);
    }

    /// Random edits of the device and of its baseline: comparing the
    /// baseline only on the device's regions (what `drift` does) moves
    /// exactly what comparing it everywhere moves, kind by kind.
    #[test]
    fn the_baseline_compared_on_the_regions_is_the_baseline_compared_everywhere(
        rules in prop::collection::vec(small_domain::arb_rule(), 0..6),
        device_edits in prop::collection::vec(arb_edit(), 0..3),
        baseline_edits in prop::collection::vec(arb_edit(), 0..3),
    ) {
        let ir = small_domain::ir_of(rules);
        let mut device = device_of(&ir, Target::Nftables);
        let mut baseline = device.clone();
        for e in &device_edits {
            apply(&mut device, e);
        }
        for e in &baseline_edits {
            apply(&mut baseline, e);
        }
        let drifted = compare(&ir, &device);
        let everywhere = drifted.clone().beyond(&compare(&ir, &baseline));
        let on_regions = drifted.beyond_baseline(&ir, &baseline);
        for kind in [DriftKind::Exposure, DriftKind::Breakage, DriftKind::Undecidable] {
            for (a, b) in [
                (&everywhere.regions, &on_regions.regions),
                (&everywhere.inherent, &on_regions.inherent),
            ] {
                prop_assert!(
                    union_of(a, kind).same_as(&union_of(b, kind)),
                    "{kind:?} differs"
                );
            }
        }
    }
}

#[test]
fn an_undecidable_deny_before_an_allow_the_policy_lacks_is_undecidable() {
    // The policy allows nothing; the device has an undecidable deny (a
    // schedule) and then an allow: if the deny matches, the packet is
    // dropped as the policy wants; if not, it is allowed. Neither answer
    // may be reported as certain.
    let ir = small_domain::ir_of(Vec::new());
    let mut device = device_of(&ir, Target::Nftables);
    let one = AddrSet::from_addr(small_domain::v4(1));
    let entries = &mut device.layers[0].filters[0].entries;
    entries.push(Entry {
        guard: Guard::any(),
        src: AddrSet::any(),
        dst: AddrSet::any(),
        service: ServiceSet::any(),
        decision: decision(Action::Deny, 1, "drop during the schedule"),
        undecidable: Some("schedule".into()),
    });
    entries.push(Entry {
        guard: Guard::any(),
        src: one.clone(),
        dst: AddrSet::any(),
        service: ServiceSet::any(),
        decision: decision(Action::Allow, 2, "accept"),
        undecidable: None,
    });
    let c = compare(&ir, &device);
    let p = Packet {
        src: small_domain::v4(1),
        dst: small_domain::v4(2),
        proto: Proto::Tcp { dport: 1 },
    };
    assert_eq!(kind_at(&c, &p), Some(DriftKind::Undecidable));
    let region = c.regions.iter().find(|r| r.space.contains(&p)).unwrap();
    assert_eq!(
        region.undecided.as_ref().map(|(_, why)| why.as_str()),
        Some("schedule")
    );
    holds_to_brute_force(&ir, &device, &c, &small_domain::packets());
}

#[test]
fn what_the_baseline_shares_is_inherent_and_only_that() {
    let ir = common::compile_ok(common::hospital(), PROBE_DATE);
    let mut device = device_of(&ir, Target::PfSense);
    let at = contec_rule(&ir);
    for f in &mut device.layers[0].filters {
        f.entries.insert(
            at,
            Entry {
                guard: Guard::any(),
                src: AddrSet::any(),
                dst: AddrSet::from_net("202.114.4.0/24".parse().unwrap()),
                service: ServiceSet::any(),
                decision: decision(Action::Allow, 7, "pass"),
                undecidable: None,
            },
        );
    }
    let drifted = compare(&ir, &device);
    assert!(!drifted.regions.is_empty());
    // A baseline that differs the same way: everything is inherent.
    let all = drifted.clone().beyond_baseline(&ir, &device);
    assert!(all.regions.is_empty());
    let inherent = all
        .inherent
        .iter()
        .fold(wardwall::analysis::space::Space::empty(), |a, r| {
            a.union(&r.space)
        });
    let found = drifted
        .regions
        .iter()
        .fold(wardwall::analysis::space::Space::empty(), |a, r| {
            a.union(&r.space)
        });
    assert!(inherent.same_as(&found));
    // A baseline that agrees with the policy: nothing is inherent.
    let clean = compare(&ir, &device_of(&ir, Target::PfSense));
    let none = drifted.clone().beyond(&clean);
    let restricted = drifted
        .clone()
        .beyond_baseline(&ir, &device_of(&ir, Target::PfSense));
    assert!(restricted.inherent.is_empty());
    assert_eq!(restricted.regions.len(), drifted.regions.len());
    assert!(none.inherent.is_empty());
    assert_eq!(none.regions.len(), drifted.regions.len());
}
