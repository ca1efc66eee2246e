//! Seeded packets around every edge of a policy, for the tests that hold a
//! target's rendered file (read back by its strict reader) to the IR's
//! first-match verdict on many packets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use wardwall::addrset::AddrSet;
use wardwall::ir::{Ir, Packet, Proto, Rule};

/// SplitMix64: a small, fixed pseudo-random sequence, so a failing seed
/// reproduces on every machine.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }

    fn next_u128(&mut self) -> u128 {
        u128::from(self.next()) << 64 | u128::from(self.next())
    }
}

/// `count` packets from `seed`. Every other packet is drawn inside a random
/// rule (source, destination and service from the rule's own sets), so the
/// packets reach the whole rule base. The others are edges: addresses at the
/// first and last address of every zone, object and rule-side range, their
/// neighbours and a random address inside, plus 64 random addresses per
/// family; TCP/UDP at every port edge of every rule's service (and 0, 1,
/// 1024, 65535); common ICMP types; other IP protocols. One edge packet in
/// three is IPv6.
pub fn edge_packets(ir: &Ir, seed: u64, count: usize) -> Vec<Packet> {
    let mut rng = SplitMix(seed);
    let (v4, v6) = edge_addresses(ir, &mut rng);
    let protos = edge_protocols(ir);
    (0..count)
        .map(|i| {
            if i % 2 == 0
                && !ir.rules.is_empty()
                && let Some(p) = inside_rule(
                    &ir.rules[rng.next() as usize % ir.rules.len()],
                    &protos,
                    &mut rng,
                )
            {
                return p;
            }
            let (src, dst) = if rng.next().is_multiple_of(3) {
                (
                    IpAddr::from(Ipv6Addr::from(rng.pick(&v6))),
                    IpAddr::from(Ipv6Addr::from(rng.pick(&v6))),
                )
            } else {
                (
                    IpAddr::from(Ipv4Addr::from(rng.pick(&v4))),
                    IpAddr::from(Ipv4Addr::from(rng.pick(&v4))),
                )
            };
            Packet {
                src,
                dst,
                proto: rng.pick(&protos),
            }
        })
        .collect()
}

/// A packet the rule matches by its sets (an earlier rule may still decide
/// it); `None` when the rule has no family with both endpoints.
fn inside_rule(rule: &Rule, protos: &[Proto], rng: &mut SplitMix) -> Option<Packet> {
    let (src, dst) = (&rule.src.addrs, &rule.dst.addrs);
    let has_v4 = !src.v4.is_empty() && !dst.v4.is_empty();
    let has_v6 = !src.v6.is_empty() && !dst.v6.is_empty();
    let v6 = match (has_v4, has_v6) {
        (false, false) => return None,
        (true, true) => rng.next().is_multiple_of(3),
        (only_v4, _) => !only_v4,
    };
    let (src, dst) = if v6 {
        let mut point = |ranges: &[(u128, u128)]| {
            let (lo, hi) = rng.pick(ranges);
            let span = hi - lo;
            let offset = if span == u128::MAX {
                rng.next_u128()
            } else {
                rng.next_u128() % (span + 1)
            };
            IpAddr::from(Ipv6Addr::from(lo + offset))
        };
        (point(src.v6.ranges()), point(dst.v6.ranges()))
    } else {
        let mut point = |ranges: &[(u32, u32)]| {
            let (lo, hi) = rng.pick(ranges);
            let offset = (rng.next() % (u64::from(hi - lo) + 1)) as u32;
            IpAddr::from(Ipv4Addr::from(lo + offset))
        };
        (point(src.v4.ranges()), point(dst.v4.ranges()))
    };
    let set = &rule.service.set;
    let icmp = if v6 { &set.icmp6 } else { &set.icmp4 };
    let mut choices: Vec<Proto> = Vec::new();
    let port_in = |ranges: &[(u16, u16)], rng: &mut SplitMix| {
        let (lo, hi) = rng.pick(ranges);
        lo + (rng.next() % (u64::from(hi - lo) + 1)) as u16
    };
    if !set.tcp.is_empty() {
        choices.push(Proto::Tcp {
            dport: port_in(set.tcp.ranges(), rng),
        });
    }
    if !set.udp.is_empty() {
        choices.push(Proto::Udp {
            dport: port_in(set.udp.ranges(), rng),
        });
    }
    if !icmp.is_empty() {
        let (lo, hi) = rng.pick(icmp.ranges());
        choices.push(Proto::Icmp {
            ty: lo + (rng.next() % (u64::from(hi - lo) + 1)) as u8,
        });
    }
    if !set.protocols.is_empty() {
        let (lo, hi) = rng.pick(set.protocols.ranges());
        choices.push(Proto::Other(
            lo + (rng.next() % (u64::from(hi - lo) + 1)) as u8,
        ));
    }
    if set.any || choices.is_empty() {
        choices.push(rng.pick(protos));
    }
    Some(Packet {
        src,
        dst,
        proto: rng.pick(&choices),
    })
}

fn edge_addresses(ir: &Ir, rng: &mut SplitMix) -> (Vec<u32>, Vec<u128>) {
    let mut sets: Vec<&AddrSet> = Vec::new();
    sets.extend(ir.zones.iter().map(|z| &z.addrs));
    sets.extend(ir.objects.values().map(|o| &o.addrs));
    for r in &ir.rules {
        sets.push(&r.src.addrs);
        sets.push(&r.dst.addrs);
    }
    let (mut v4, mut v6): (Vec<u32>, Vec<u128>) = (vec![0x0a00_0001], vec![1]);
    for s in sets {
        for &(lo, hi) in s.v4.ranges() {
            let mid = lo + (rng.next() % (u64::from(hi - lo) + 1)) as u32;
            v4.extend([lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1), mid]);
        }
        for &(lo, hi) in s.v6.ranges() {
            let span = hi - lo;
            let mid = lo
                + if span == u128::MAX {
                    0
                } else {
                    rng.next_u128() % (span + 1)
                };
            v6.extend([lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1), mid]);
        }
    }
    for _ in 0..64 {
        v4.push(rng.next() as u32);
        v6.push(rng.next_u128());
    }
    v4.sort_unstable();
    v4.dedup();
    v6.sort_unstable();
    v6.dedup();
    (v4, v6)
}

fn edge_protocols(ir: &Ir) -> Vec<Proto> {
    let mut ports: Vec<u16> = vec![0, 1, 1024, 65535];
    for r in &ir.rules {
        let s = &r.service.set;
        for &(lo, hi) in s.tcp.ranges().iter().chain(s.udp.ranges()) {
            ports.extend([lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)]);
        }
    }
    // Not deduplicated: a port edge many rules share is drawn more often,
    // which keeps the packets spread over the rule base.
    let mut protos: Vec<Proto> = Vec::new();
    for &p in &ports {
        protos.push(Proto::Tcp { dport: p });
        protos.push(Proto::Udp { dport: p });
    }
    for ty in [0u8, 3, 8, 11, 128, 129, 135] {
        protos.push(Proto::Icmp { ty });
    }
    for n in [47u8, 50, 51, 89, 132] {
        protos.push(Proto::Other(n));
    }
    protos
}
