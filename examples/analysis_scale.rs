//! Times the exact analysis on a synthetic policy: `cargo run --release
//! --example analysis_scale -- RULES NETWORKS [WIDE]`
//! (one rule in WIDE has source `any`, one in 4 × WIDE destination `any`).

use std::time::Instant;

use wardwall::addrset::{AddrSet, IntervalSet};
use wardwall::analysis::sweep::{Sweep, rule_findings};
use wardwall::diagnostics::Span;
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

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (n_rules, n_nets) = (
        args.first().copied().unwrap_or(10_000),
        args.get(1).copied().unwrap_or(5_000),
    );
    // One rule in `wide` has source `any`, one in `4 * wide` destination `any`.
    let wide = args.get(2).copied().unwrap_or(50) as u64;
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
    let pick = |rng: &mut Rng| {
        let k = 1 + rng.below(3);
        AddrSet::union_all((0..k).map(|_| &nets[rng.below(n_nets as u64) as usize]))
    };
    let rules: Vec<Rule> = (0..n_rules)
        .map(|i| {
            let src = if rng.below(wide) == 0 {
                AddrSet::any()
            } else {
                pick(&mut rng)
            };
            let dst = if rng.below(4 * wide) == 0 {
                AddrSet::any()
            } else {
                pick(&mut rng)
            };
            let set = if rng.below(20) == 0 {
                ServiceSet::any()
            } else {
                let p = [22u16, 80, 443, 514, 2575, 8443, 104, 161][rng.below(8) as usize];
                ServiceSet {
                    tcp: IntervalSet::single(p),
                    ..ServiceSet::default()
                }
            };
            let action = if rng.below(4) == 0 {
                Action::Deny
            } else {
                Action::Allow
            };
            Rule {
                name: format!("r{i}"),
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
        })
        .collect();
    let ir = Ir {
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
    let t = Instant::now();
    let sweep = Sweep::run(&ir);
    let t_sweep = t.elapsed();
    let boxes: usize = sweep.decided.iter().map(|d| d.cubes().len()).sum();
    let t = Instant::now();
    let findings = rule_findings(&ir, &sweep);
    let t_find = t.elapsed();
    println!(
        "{n_rules} rules over {n_nets} networks: sweep {t_sweep:?} ({boxes} boxes decided), findings {t_find:?} ({} findings)",
        findings.len()
    );
}
