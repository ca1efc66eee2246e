//! Expectations checked exactly, against brute force on small random
//! policies (the vocabulary of `common::small_domain`: every packet of the
//! universe behaves like one of its representative packets, so the brute
//! force below is exhaustive, not a sample).

use crate::common;

use common::small_domain::{arb_addrs, arb_rule, arb_service, ir_of, packets};
use proptest::prelude::*;
use wardwall::addrset::AddrSet;
use wardwall::analysis::expect::{Decider, Promise, check_all};
use wardwall::analysis::sweep::Sweep;
use wardwall::diagnostics::Span;
use wardwall::ir::{Packet, ServiceSet};
use wardwall::model::ExpectKind;

/// A random expectation: kind, sources, and one or two (destinations,
/// services) pairs.
type Spec = (ExpectKind, AddrSet, Vec<(AddrSet, ServiceSet)>);

fn arb_expectation() -> impl Strategy<Value = Spec> {
    (
        prop::sample::select(vec![
            ExpectKind::Never,
            ExpectKind::Always,
            ExpectKind::Only,
        ]),
        arb_addrs(),
        prop::collection::vec((arb_addrs(), arb_service()), 1..3),
    )
}

/// The definition, packet by packet, written from the language's words
/// rather than from the spaces.
fn broken(spec: &Spec, packet: &Packet, allowed: bool) -> bool {
    let (kind, src, reach) = spec;
    let reached = src.contains(packet.src)
        && reach
            .iter()
            .any(|(to, svc)| to.contains(packet.dst) && svc.matches(packet));
    match kind {
        ExpectKind::Never => reached && allowed,
        ExpectKind::Always => reached && !allowed,
        ExpectKind::Only => src.contains(packet.src) && !reached && allowed,
    }
}

proptest! {
    #![proptest_config(common::proptest_config(96))]

    /// A promise is reported broken exactly when some packet breaks it; the
    /// reported traffic is exactly the packets that break it, each piece
    /// decided by the rule it names.
    #[test]
    fn violations_match_brute_force(
        rules in prop::collection::vec(arb_rule(), 0..8),
        specs in prop::collection::vec(arb_expectation(), 1..4),
    ) {
        let ir = ir_of(rules);
        let sweep = Sweep::run(&ir);
        let promises: Vec<Promise> = specs
            .iter()
            .enumerate()
            .map(|(k, (kind, src, reach))| {
                let reach: Vec<_> = reach.iter().map(|(t, s)| (t, s)).collect();
                Promise::from_sets(&format!("e{k}"), *kind, src, &reach, Span::default())
            })
            .collect();
        let violations = check_all(&ir, &sweep, &promises);
        for (k, spec) in specs.iter().enumerate() {
            let found = violations.iter().find(|v| v.promise == k);
            let mut any = false;
            for p in packets() {
                let verdict = ir.evaluate(&p);
                let expected = broken(spec, &p, verdict.action.permits());
                any |= expected;
                let piece = found.and_then(|v| v.pieces.iter().find(|piece| piece.space.contains(&p)));
                prop_assert_eq!(piece.is_some(), expected, "e{} at {}", k, p);
                if let Some(piece) = piece {
                    let decider = verdict.rule.map_or(Decider::Default, Decider::Rule);
                    prop_assert_eq!(piece.decider, decider, "e{} at {}", k, p);
                }
            }
            prop_assert_eq!(found.is_some(), any, "e{} reported", k);
            if let Some(v) = found {
                // Pieces are disjoint and their samples honest.
                for (i, a) in v.pieces.iter().enumerate() {
                    for b in &v.pieces[i + 1..] {
                        prop_assert!(!a.space.overlaps(&b.space));
                    }
                    let s = a.space.sample().unwrap();
                    prop_assert!(broken(spec, &s, ir.evaluate(&s).action.permits()), "sample {}", s);
                }
            }
        }
    }
}
