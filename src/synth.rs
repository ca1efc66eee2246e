//! A deterministic synthetic policy generator for benchmarks and scale tests.
//!
//! The shape follows real large ACLs: a pool of distinct networks (/24s and
//! /32 hosts, each a `class` inside a zone), and N rules with 1–4 sources,
//! 1–4 destinations and 1–3 TCP/UDP ports or port ranges, mostly `allow`
//! with some `deny`. Eight zones carve 10.0.0.0/8 into /11s, plus the
//! residual `internet` zone; every zone is bound on all four targets, so the
//! output renders everywhere (`wardwall build`).
//!
//! The same [`Synth`] always produces the same text. [`Synth::changed`]
//! derives a second version that differs from the first in a given number of
//! rules (replaced in place, same names), for traffic-diff benchmarks.

use std::fmt::Write;

/// Parameters of a synthetic policy.
#[derive(Clone, Debug)]
pub struct Synth {
    /// Number of rules.
    pub rules: usize,
    /// Size of the network pool (distinct classes).
    pub networks: usize,
    /// Seed: the same seed gives the same policy.
    pub seed: u64,
    /// When non-zero, one rule in `any_every` has source `"any"` and one in
    /// `4 × any_every` destination `"any"` (the shape has none; this
    /// reproduces the analysis engineer's `any`-heavy measurements).
    pub any_every: u32,
    /// Rules replaced by a differently drawn rule (see [`Synth::changed`]).
    pub changes: Vec<usize>,
    /// Expectations appended in an `expect` block (see
    /// [`Synth::expectations`]), for the expectation benchmark.
    pub expectations: usize,
}

/// Zones carving 10.0.0.0/8 (one /11 each), then the residual zone.
const ZONES: [&str; 8] = [
    "corporate",
    "clinical",
    "imaging",
    "icu",
    "infra",
    "labs",
    "admin",
    "research",
];

/// Ports real hospital ACLs are full of.
const PORTS: [u16; 16] = [
    22, 53, 80, 104, 123, 161, 389, 443, 514, 636, 2575, 2762, 3389, 8080, 8443, 11112,
];

/// SplitMix64: a tiny, well-mixed generator; each rule gets its own stream
/// so changing one rule leaves the others as they were.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        // Hash the stream number so neighbouring streams do not overlap.
        let s = Rng(stream).next();
        Rng(Rng(seed ^ s).next())
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

impl Synth {
    /// `rules` rules over about 5,000 networks from `seed`, no `any`.
    pub fn new(rules: usize, seed: u64) -> Synth {
        Synth {
            rules,
            networks: 5_000,
            seed,
            any_every: 0,
            changes: Vec::new(),
            expectations: 0,
        }
    }

    /// The same policy with `count` rules (chosen from the seed, distinct)
    /// replaced by freshly drawn ones.
    pub fn changed(&self, count: usize) -> Synth {
        let mut idx: Vec<usize> = (0..self.rules).collect();
        let mut rng = Rng::new(self.seed, u64::MAX);
        let count = count.min(self.rules);
        for i in 0..count {
            let j = i + rng.below((self.rules - i) as u64) as usize;
            idx.swap(i, j);
        }
        idx.truncate(count);
        idx.sort_unstable();
        Synth {
            changes: idx,
            ..self.clone()
        }
    }

    /// The policy's KDL text.
    pub fn generate(&self) -> String {
        let mut out = String::with_capacity(200 * self.rules + 80 * self.networks + 4096);
        let _ = writeln!(
            out,
            "// Synthetic policy: {} rules over {} networks, seed {}.\n",
            self.rules, self.networks, self.seed
        );
        let _ = writeln!(
            out,
            "policy \"synthetic\" {{\n    description \"wardwall benchmark policy\"\n}}\n"
        );
        for (i, z) in ZONES.iter().enumerate() {
            let _ = writeln!(
                out,
                "zone \"{z}\" {{\n    prefix \"10.{}.0.0/11\"\n    interface nftables=\"{z}0\" pfsense=\"opt{}\" cisco=\"Vlan{}\" panos=\"{z}\"\n}}\n",
                i * 32,
                i + 1,
                (i + 1) * 10
            );
        }
        out.push_str(
            "zone \"internet\" {\n    residual #true\n    interface nftables=\"wan0\" pfsense=\"wan\" cisco=\"GigabitEthernet0/0\" panos=\"untrust\"\n}\n\n",
        );
        for n in 0..self.networks {
            let (zone, addr) = network(self.seed, n);
            let _ = writeln!(
                out,
                "class \"{}\" {{\n    zone \"{zone}\"\n    address \"{addr}\"\n}}",
                net_name(n)
            );
        }
        out.push_str("\nrules {\n");
        let mut changes = self.changes.iter().peekable();
        for r in 0..self.rules {
            let changed = changes.next_if(|&&c| c == r).is_some();
            let stream = if changed {
                r as u64 | 1 << 63
            } else {
                r as u64
            };
            self.rule(&mut out, r, &mut Rng::new(self.seed, stream));
        }
        out.push_str("}\n");
        self.expect_block(&mut out);
        out
    }

    /// This policy with `count` expectations: `never`, `always` and `only`
    /// in turn, between classes of the pool (drawn from their own streams,
    /// so the rules stay as they were). Most are broken: the benchmark
    /// measures the exact check, which costs the most when it finds traffic.
    pub fn expectations(&self, count: usize) -> Synth {
        Synth {
            expectations: count,
            ..self.clone()
        }
    }

    fn expect_block(&self, out: &mut String) {
        if self.expectations == 0 {
            return;
        }
        out.push_str("\nexpect {\n");
        for e in 0..self.expectations {
            let rng = &mut Rng::new(self.seed, (e as u64) | 1 << 62);
            let kind = ["never", "always", "only"][e % 3];
            let mut pick = || net_name(rng.below(self.networks as u64) as usize);
            let (from, to) = (pick(), pick());
            let port = PORTS[e % PORTS.len()];
            let _ = writeln!(
                out,
                "    {kind} \"e{e:05}\" {{\n        from \"{from}\"\n        to \"{to}\"\n        service \"tcp/{port}\"\n    }}"
            );
        }
        out.push_str("}\n");
    }

    fn rule(&self, out: &mut String, r: usize, rng: &mut Rng) {
        let action = if rng.below(10) == 0 { "deny" } else { "allow" };
        let _ = writeln!(out, "    {action} \"r{r:06}\" {{");
        let _ = writeln!(out, "        description \"synthetic rule {r}\"");
        let any_src = self.any_every != 0 && rng.below(self.any_every as u64) == 0;
        let any_dst = self.any_every != 0 && rng.below(4 * self.any_every as u64) == 0;
        for (key, any) in [("from", any_src), ("to", any_dst)] {
            out.push_str("        ");
            out.push_str(key);
            if any {
                out.push_str(" \"any\"");
            } else {
                let k = 1 + rng.below(4);
                for _ in 0..k {
                    let n = rng.below(self.networks as u64) as usize;
                    let _ = write!(out, " \"{}\"", net_name(n));
                }
            }
            out.push('\n');
        }
        out.push_str("        service");
        let k = 1 + rng.below(3);
        for _ in 0..k {
            let proto = if rng.below(4) == 0 { "udp" } else { "tcp" };
            if rng.below(5) == 0 {
                let lo = 1024 + rng.below(60_000) as u16;
                let hi = lo + 1 + rng.below(100) as u16;
                let _ = write!(out, " \"{proto}/{lo}-{hi}\"");
            } else {
                let p = PORTS[rng.below(PORTS.len() as u64) as usize];
                let _ = write!(out, " \"{proto}/{p}\"");
            }
        }
        out.push_str("\n    }\n");
    }
}

fn net_name(n: usize) -> String {
    format!("net{n:05}")
}

/// Network `n` of the pool: its zone and address. Nine in ten are inside
/// 10.0.0.0/8 (a /24 or a /32 in one of the eight zones), one in ten is an
/// external /24 or host in the residual zone. Distinct by construction.
fn network(seed: u64, n: usize) -> (&'static str, String) {
    let mut rng = Rng::new(seed ^ 0x6e65_7477_6f72_6b73, n as u64);
    let host = rng.below(2) == 0;
    if n % 10 == 9 {
        // External: 100.64.0.0/10 and up, one /24 (or host) per pool slot.
        let k = n / 10;
        let (b, c) = (64 + k / 256, k % 256);
        return if host {
            ("internet", format!("100.{b}.{c}.{}", 1 + rng.below(254)))
        } else {
            ("internet", format!("100.{b}.{c}.0/24"))
        };
    }
    let z = n % ZONES.len();
    let k = n / ZONES.len();
    // /24s from the bottom of the zone's /11, hosts from its upper half.
    let second = z * 32 + if host { 16 } else { 0 } + k / 256;
    let third = k % 256;
    let addr = if host {
        format!("10.{second}.{third}.{}", 1 + rng.below(254))
    } else {
        format!("10.{second}.{third}.0/24")
    };
    (ZONES[z], addr)
}
