//! Times the traffic diff on a synthetic policy and an edited copy:
//! `cargo run --release --example traffic_diff_scale -- RULES NETWORKS EDITS [WIDE]`
//! (defaults: 10,000 rules over 5,000 /24 networks, 100 edits = 1 %; one
//! rule in WIDE has source `any`, one in 4 × WIDE destination `any`).
//! Edits mix added, removed, moved and re-ported rules, like a review.

use std::time::Instant;

use wardwall::addrset::{AddrSet, IntervalSet};
use wardwall::diagnostics::Span;
use wardwall::diff::traffic::{Context, traffic_diff};
use wardwall::ir::{Action, Endpoint, Ir, Rule, RuleOrigin, Service, ServiceSet};

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const PORTS: [u16; 8] = [22, 80, 443, 514, 2575, 8443, 104, 161];

fn rule(rng: &mut Rng, nets: &[AddrSet], wide: u64, name: String) -> Rule {
    let pick = |rng: &mut Rng| {
        let k = 1 + rng.below(3);
        AddrSet::union_all((0..k).map(|_| &nets[rng.below(nets.len() as u64) as usize]))
    };
    let src = if rng.below(wide) == 0 {
        AddrSet::any()
    } else {
        pick(rng)
    };
    let dst = if rng.below(4 * wide) == 0 {
        AddrSet::any()
    } else {
        pick(rng)
    };
    let set = if rng.below(20) == 0 {
        ServiceSet::any()
    } else {
        ServiceSet {
            tcp: IntervalSet::single(PORTS[rng.below(8) as usize]),
            ..ServiceSet::default()
        }
    };
    let action = if rng.below(4) == 0 {
        Action::Deny
    } else {
        Action::Allow
    };
    Rule {
        name,
        origin: RuleOrigin::Rule,
        action,
        absolute: false,
        src: Endpoint {
            refs: Vec::new(),
            addrs: src,
        },
        dst: Endpoint {
            refs: Vec::new(),
            addrs: dst,
        },
        service: Service {
            refs: Vec::new(),
            set,
        },
        log: action != Action::Allow,
        description: None,
        owner: None,
        ticket: None,
        expires: None,
        span: Span::default(),
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let n_rules = args.first().copied().unwrap_or(10_000);
    let n_nets = args.get(1).copied().unwrap_or(5_000);
    let n_edits = args.get(2).copied().unwrap_or(n_rules / 100);
    let wide = args.get(3).copied().unwrap_or(50) as u64;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let nets: Vec<AddrSet> = (0..n_nets)
        .map(|i| {
            let base = (10u32 << 24) + (i as u32) * 256;
            AddrSet {
                v4: IntervalSet::range(base, base + 255),
                v6: IntervalSet::empty(),
            }
        })
        .collect();
    let rules: Vec<Rule> = (0..n_rules)
        .map(|i| rule(&mut rng, &nets, wide, format!("r{i}")))
        .collect();
    let old = Ir {
        targets: Vec::new(),
        name: "scale".into(),
        description: None,
        zones: Vec::new(),
        objects: Default::default(),
        services: Default::default(),
        rules,
        default_action: Action::Deny,
        default_log: true,
    };
    let mut new = old.clone();
    for k in 0..n_edits {
        let n = new.rules.len() as u64;
        match k % 4 {
            0 => {
                let r = rule(&mut rng, &nets, wide, format!("added{k}"));
                new.rules.insert(rng.below(n + 1) as usize, r);
            }
            1 => {
                new.rules.remove(rng.below(n) as usize);
            }
            2 => {
                let r = new.rules.remove(rng.below(n) as usize);
                new.rules.insert(rng.below(n) as usize, r);
            }
            _ => {
                let i = rng.below(n) as usize;
                new.rules[i].service.set = ServiceSet {
                    tcp: IntervalSet::single(PORTS[rng.below(8) as usize]),
                    ..ServiceSet::default()
                };
            }
        }
    }
    let t = Instant::now();
    let diff = traffic_diff(&old, &new, &Context::default());
    let elapsed = t.elapsed();
    let s = &diff.summary;
    println!(
        "{n_rules} rules over {n_nets} networks, {n_edits} edits: traffic diff in {elapsed:?} \
         ({} newly allowed, {} newly denied, {} deny/reject, {} logging-only lines)",
        s.newly_allowed, s.newly_denied, s.deny_reject, s.log_only
    );
}
