//! A small address, port and protocol domain for property tests: random
//! address and service sets over it, and every representative packet (each
//! packet of the full domain behaves like one of these for such sets).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use wardwall::addrset::{AddrSet, IntervalSet};
use wardwall::diagnostics::Span;
use wardwall::ir::{
    Action, Endpoint, EndpointRef, Ir, Packet, Proto, Rule, RuleOrigin, Service, ServiceSet,
};

pub fn v4(i: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, i))
}

pub fn v6(i: u8) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(i)))
}

pub const HOSTS: [u8; 9] = [0, 1, 2, 3, 4, 5, 6, 7, 100];

pub fn protos() -> Vec<Proto> {
    let mut v = Vec::new();
    for p in [1, 2, 3, 4, 100] {
        v.push(Proto::Tcp { dport: p });
        v.push(Proto::Udp { dport: p });
    }
    for t in [0, 8, 100] {
        v.push(Proto::Icmp { ty: t });
    }
    v.push(Proto::Other(47));
    v.push(Proto::Other(100));
    v
}

/// Every representative packet.
pub fn packets() -> Vec<Packet> {
    let mut out = Vec::new();
    for fam in [v4 as fn(u8) -> IpAddr, v6] {
        for &s in &HOSTS {
            for &d in &HOSTS {
                for proto in protos() {
                    out.push(Packet {
                        src: fam(s),
                        dst: fam(d),
                        proto,
                    });
                }
            }
        }
    }
    out
}

pub fn arb_addrs() -> impl Strategy<Value = AddrSet> {
    prop_oneof![
        1 => Just(AddrSet::any()),
        6 => (prop::collection::vec((0u8..8, 0u8..8, prop::bool::ANY), 1..3)).prop_map(|rs| {
            let mut set = AddrSet::empty();
            for (a, b, six) in rs {
                let (lo, hi) = (a.min(b), a.max(b));
                let part = if six {
                    AddrSet::from_range(v6(lo), v6(hi))
                } else {
                    AddrSet::from_range(v4(lo), v4(hi))
                };
                set = set.union(&part);
            }
            set
        }),
    ]
}

pub fn arb_service() -> impl Strategy<Value = ServiceSet> {
    let ports = prop::collection::vec(1u16..=4, 0..3)
        .prop_map(|v| IntervalSet::from_ranges(v.into_iter().map(|p| (p, p))));
    let types = prop::collection::vec(prop::sample::select(vec![0u8, 8]), 0..2)
        .prop_map(|v| IntervalSet::from_ranges(v.into_iter().map(|p| (p, p))));
    prop_oneof![
        1 => Just(ServiceSet::any()),
        5 => (ports.clone(), ports, types.clone(), types, prop::bool::ANY).prop_map(
            |(tcp, udp, icmp4, icmp6, gre)| ServiceSet {
                any: false,
                tcp,
                udp,
                icmp4,
                icmp6,
                protocols: if gre { IntervalSet::single(47) } else { IntervalSet::empty() },
            }
        ),
    ]
}

/// A random rule: action, log flag, source, destination, service.
pub type RuleSpec = (Action, bool, AddrSet, AddrSet, ServiceSet);

pub fn arb_rule() -> impl Strategy<Value = RuleSpec> {
    (
        prop::sample::select(vec![Action::Allow, Action::Deny, Action::Reject]),
        prop::bool::ANY,
        arb_addrs(),
        arb_addrs(),
        arb_service(),
    )
}

pub fn ir_of(rules: Vec<RuleSpec>) -> Ir {
    let endpoint = |addrs: AddrSet| Endpoint {
        refs: vec![EndpointRef::Literal(wardwall::vocab::Literal {
            text: addrs.to_string(),
            addrs: addrs.clone(),
        })],
        addrs,
    };
    Ir {
        targets: Vec::new(),
        name: "random".into(),
        description: None,
        zones: Vec::new(),
        objects: Default::default(),
        services: Default::default(),
        rules: rules
            .into_iter()
            .enumerate()
            .map(|(i, (action, log, src, dst, set))| Rule {
                name: format!("r{i}"),
                origin: RuleOrigin::Rule,
                action,
                absolute: false,
                src: endpoint(src),
                dst: endpoint(dst),
                service: Service {
                    refs: Vec::new(),
                    set,
                },
                log,
                description: None,
                owner: None,
                ticket: None,
                expires: None,
                span: Span::default(),
            })
            .collect(),
        default_action: Action::Deny,
        default_log: true,
    }
}
