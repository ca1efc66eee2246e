//! The nftables ruleset in the real kernel: a router namespace loads the
//! rendered hospital ruleset and forwards between zones; every probe of the
//! shared probe set is sent as real traffic, and its fate must equal the
//! reference evaluator's verdict.
//!
//! Topology: one router namespace with one bridge per zone, named after the
//! zone's `nftables` binding (corp0, infra0, ..., wan0); one host namespace
//! per probe address, attached by a veth to its zone's bridge, with the
//! address as /32 or /128 and a default route via the router. The router has
//! a route per declared zone prefix (longest prefix wins, as in the IR) and a
//! default route to the residual zone. Even two hosts of the same zone talk
//! through the router, so every probe crosses the forward chain.
//!
//! Besides the 59 hand-written probes, 120 generated packets (fixed seed)
//! probe the port-range edges of every rule between the probe addresses.
//!
//! Fates: TCP connect completes (the SYN-ACK came back: replies pass via
//! `ct state`), is refused (RST: `reject`) or times out (drop). UDP: the
//! datagram reaches the listener and its echo comes back, or an ICMP error
//! comes back (reject), or nothing. ICMP echo: a reply, or nothing.
//!
//! A last test sends spoofed sources (an allowed address of zone A from zone
//! B's bridge) on every shipped policy: the anti-spoofing rule of B's
//! interface must drop them all, and address-only they pass.
//!
//! Before the ruleset is loaded, every probe must get through (so a drop is
//! the firewall's doing, not a broken topology). Afterwards, the rule
//! counters must show that exactly the rules the evaluator names decided
//! packets.

use crate::common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::compile_ok;
use common::privileged::{self, Netns, run};
use common::probes::{HOSPITAL_PROBES, PROBE_DATE};
use wardwall::ir::{Action, Ir, Packet, Proto};
use wardwall::render::nftables::Nftables;
use wardwall::render::{Renderer, Templates};

/// How long a TCP connect waits before calling its SYN dropped: the kernel
/// retransmits the SYN after 1 s and 3 s, so a lost first SYN is no false drop.
const TCP_TIMEOUT: Duration = Duration::from_millis(3500);
/// UDP and ICMP echo probes are sent up to [`ATTEMPTS`] times, waiting this
/// long for an answer each time (a single lost datagram is no false drop).
const DATAGRAM_WAIT: Duration = Duration::from_millis(900);
const ATTEMPTS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Reached the destination and the reply came back.
    Delivered,
    /// Actively refused (TCP reset or ICMP error).
    Refused,
    /// Nothing came back.
    Dropped,
    /// Reached the destination but the reply did not come back.
    ReplyLost,
}

struct Topology {
    router: Netns,
    /// Probe address → its host namespace.
    hosts: BTreeMap<IpAddr, Netns>,
}

fn ip(ns: &Netns, args: &[&str]) {
    let mut full = vec!["-n", ns.name.as_str()];
    full.extend_from_slice(args);
    run("ip", &full);
}

fn sysctl(ns: &Netns, settings: &[&str]) {
    let mut args = vec!["-q", "-w"];
    args.extend_from_slice(settings);
    let out = ns.exec("sysctl", &args);
    assert!(
        out.status.success(),
        "sysctl {settings:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn build_topology(ir: &Ir, addrs: &BTreeSet<IpAddr>) -> Topology {
    let router = Netns::new("r");
    sysctl(
        &router,
        &[
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
            "net.ipv4.conf.all.send_redirects=0",
            "net.ipv4.conf.default.send_redirects=0",
        ],
    );
    ip(&router, &["link", "set", "lo", "up"]);
    // Where br_netfilter is loaded, frames bridged between two hosts of one
    // zone pass the forward hook too (their IPv6 neighbour discovery and
    // MLD included): not routed traffic, and not what the probes measure.
    let _ = router.exec(
        "sysctl",
        &[
            "-q",
            "-w",
            "net.bridge.bridge-nf-call-iptables=0",
            "net.bridge.bridge-nf-call-ip6tables=0",
            "net.bridge.bridge-nf-call-arptables=0",
        ],
    );
    let mut bridges = BTreeSet::new();
    for zone in &ir.zones {
        let bridge = zone
            .bindings
            .get("nftables")
            .unwrap_or_else(|| panic!("zone {} has no nftables binding", zone.name));
        // Zones sharing an interface share its bridge.
        if bridges.insert(bridge.clone()) {
            add_bridge(&router, bridge);
        }
        if zone.residual {
            ip(&router, &["route", "add", "default", "dev", bridge]);
            ip(&router, &["-6", "route", "add", "default", "dev", bridge]);
        }
        for prefix in &zone.prefixes {
            ip(
                &router,
                &["route", "add", &prefix.to_string(), "dev", bridge],
            );
        }
    }
    let mut hosts = BTreeMap::new();
    for (i, &addr) in addrs.iter().enumerate() {
        let zone = ir.zone_of(addr).expect("every address has a zone");
        let bridge = &zone.bindings["nftables"];
        let host = Netns::new(&format!("h{i}"));
        let port = format!("p{i}");
        ip(
            &router,
            &[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &host.name,
            ],
        );
        ip(&router, &["link", "set", &port, "master", bridge, "up"]);
        sysctl(
            &host,
            &[
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.eth0.rp_filter=0",
                "net.ipv4.conf.all.accept_redirects=0",
                "net.ipv4.conf.eth0.accept_redirects=0",
                "net.ipv6.conf.all.accept_redirects=0",
                "net.ipv6.conf.eth0.accept_redirects=0",
                "net.ipv6.conf.eth0.accept_dad=0",
                "net.ipv4.ping_group_range=0 2147483647",
            ],
        );
        ip(&host, &["link", "set", "lo", "up"]);
        ip(&host, &["link", "set", "eth0", "up"]);
        match addr {
            IpAddr::V4(a) => {
                ip(&host, &["addr", "add", &format!("{a}/32"), "dev", "eth0"]);
                ip(&host, &["route", "add", "192.0.2.1/32", "dev", "eth0"]);
                ip(
                    &host,
                    &["route", "add", "default", "via", "192.0.2.1", "dev", "eth0"],
                );
            }
            IpAddr::V6(a) => {
                ip(
                    &host,
                    &["addr", "add", &format!("{a}/128"), "dev", "eth0", "nodad"],
                );
                ip(
                    &host,
                    &[
                        "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0",
                    ],
                );
            }
        }
        hosts.insert(addr, host);
    }
    Topology { router, hosts }
}

/// A zone's bridge in the router, with the router's addresses on it.
fn add_bridge(router: &Netns, bridge: &str) {
    ip(
        router,
        &[
            "link",
            "add",
            bridge,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ],
    );
    ip(router, &["addr", "add", "192.0.2.1/32", "dev", bridge]);
    ip(
        router,
        &["addr", "add", "fe80::1/64", "dev", bridge, "nodad"],
    );
    ip(router, &["link", "set", bridge, "up"]);
}

/// Moves the calling thread into a network namespace.
fn enter(ns: &str) {
    let file = std::fs::File::open(format!("/run/netns/{ns}"))
        .unwrap_or_else(|e| panic!("open netns {ns}: {e}"));
    // SAFETY: a valid namespace fd; setns only affects this thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

/// A `sockaddr_in`/`sockaddr_in6` for libc calls.
fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in6.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn last_err() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// A socket of the given type, bound to `src`, with send/receive timeouts.
fn bound_socket(src: IpAddr, ty: libc::c_int, proto: libc::c_int, timeout: Duration) -> OwnedFd {
    let domain = if src.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2) call; the fd is owned right away.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) };
    assert!(fd >= 0, "socket: {}", last_err());
    // SAFETY: fd is a fresh, valid descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    for opt in [libc::SO_SNDTIMEO, libc::SO_RCVTIMEO] {
        // SAFETY: valid fd and a timeval of the right size.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "setsockopt: {}", last_err());
    }
    let (sa, len) = sockaddr(SocketAddr::new(src, 0));
    // SAFETY: sa/len describe a valid socket address.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sa as *const _ as *const libc::sockaddr,
            len,
        )
    };
    assert_eq!(rc, 0, "bind {src}: {}", last_err());
    fd
}

fn connect(fd: &OwnedFd, dst: SocketAddr) -> std::io::Result<()> {
    let (sa, len) = sockaddr(dst);
    // SAFETY: sa/len describe a valid socket address.
    let rc = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            &sa as *const _ as *const libc::sockaddr,
            len,
        )
    };
    if rc == 0 { Ok(()) } else { Err(last_err()) }
}

/// Any error that means "an ICMP error or a reset came back".
fn is_refusal(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNREFUSED
                | libc::EHOSTUNREACH
                | libc::ENETUNREACH
                | libc::EACCES
                | libc::EPERM
        )
    )
}

fn tcp_probe(src: IpAddr, dst: SocketAddr) -> Fate {
    let fd = bound_socket(src, libc::SOCK_STREAM, 0, TCP_TIMEOUT);
    match connect(&fd, dst) {
        Ok(()) => Fate::Delivered,
        Err(e) if is_refusal(&e) => Fate::Refused,
        // With SO_SNDTIMEO, a connect that times out returns EINPROGRESS.
        Err(_) => Fate::Dropped,
    }
}

fn udp_probe(src: IpAddr, dst: SocketAddr, token: &[u8]) -> Fate {
    let fd = bound_socket(src, libc::SOCK_DGRAM, 0, DATAGRAM_WAIT);
    connect(&fd, dst).expect("UDP connect only sets the peer");
    let sock = UdpSocket::from(fd);
    let mut buf = [0u8; 512];
    for _ in 0..ATTEMPTS {
        sock.send(token).expect("send");
        match sock.recv(&mut buf) {
            Ok(n) if &buf[..n] == token => return Fate::Delivered,
            Ok(_) => panic!("unexpected UDP reply"),
            Err(e) if is_refusal(&e) => return Fate::Refused,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("UDP recv from {dst}: {e}"),
        }
    }
    Fate::Dropped
}

/// An echo request through a ping socket (the kernel fills in id and checksum).
fn icmp_probe(src: IpAddr, dst: IpAddr) -> Fate {
    let (proto, request, reply) = if src.is_ipv4() {
        (libc::IPPROTO_ICMP, 8u8, 0u8)
    } else {
        (libc::IPPROTO_ICMPV6, 128u8, 129u8)
    };
    let fd = bound_socket(src, libc::SOCK_DGRAM, proto, DATAGRAM_WAIT);
    connect(&fd, SocketAddr::new(dst, 0)).expect("ping socket connect");
    let sock = UdpSocket::from(fd);
    let mut buf = [0u8; 512];
    for seq in 1..=ATTEMPTS as u8 {
        let msg = [request, 0, 0, 0, 0, 0, 0, seq, b'w', b'w'];
        sock.send(&msg).expect("send echo request");
        match sock.recv(&mut buf) {
            Ok(n) if n >= 8 && buf[0] == reply => return Fate::Delivered,
            Ok(_) => return Fate::Refused,
            Err(e) if is_refusal(&e) => return Fate::Refused,
            Err(_) => {}
        }
    }
    Fate::Dropped
}

/// Listeners in the destination namespaces: TCP accept loops, and UDP
/// sockets that record each datagram and echo it back.
fn start_listeners(topo: &Topology, packets: &[Packet], received: &Arc<Mutex<HashSet<Vec<u8>>>>) {
    let mut seen = HashSet::new();
    for packet in packets {
        let (dst, proto) = (packet.dst, packet.proto);
        if !seen.insert((dst, proto)) {
            continue;
        }
        let ns = topo.hosts[&dst].name.clone();
        let received = Arc::clone(received);
        let (tx, rx) = std::sync::mpsc::channel();
        match proto {
            Proto::Tcp { dport } => {
                thread::spawn(move || {
                    enter(&ns);
                    let listener = std::net::TcpListener::bind((dst, dport))
                        .unwrap_or_else(|e| panic!("listen {dst}:{dport}: {e}"));
                    tx.send(()).unwrap();
                    for conn in listener.incoming() {
                        drop(conn);
                    }
                });
            }
            Proto::Udp { dport } => {
                thread::spawn(move || {
                    enter(&ns);
                    let sock = UdpSocket::bind((dst, dport))
                        .unwrap_or_else(|e| panic!("bind {dst}:{dport}: {e}"));
                    tx.send(()).unwrap();
                    let mut buf = [0u8; 512];
                    while let Ok((n, from)) = sock.recv_from(&mut buf) {
                        received.lock().unwrap().insert(buf[..n].to_vec());
                        let _ = sock.send_to(&buf[..n], from);
                    }
                });
            }
            // The destination kernel answers echo requests itself.
            Proto::Icmp { .. } => continue,
            Proto::Other(p) => panic!("no probe support for IP protocol {p}"),
        }
        rx.recv_timeout(Duration::from_secs(10))
            .expect("listener started");
    }
}

/// Sends every probe concurrently; returns each probe's fate (in order) and
/// whether its payload reached the destination (UDP) or the connection was
/// accepted (TCP, ICMP: same as delivered).
fn send_all(
    topo: &Topology,
    packets: &[Packet],
    phase: &str,
    received: &Arc<Mutex<HashSet<Vec<u8>>>>,
) -> Vec<(Fate, bool)> {
    let handles: Vec<_> = packets
        .iter()
        .enumerate()
        .map(|(i, packet)| {
            let packet = *packet;
            let ns = topo.hosts[&packet.src].name.clone();
            let token = format!("{phase}-{i}").into_bytes();
            thread::spawn(move || {
                enter(&ns);
                match packet.proto {
                    Proto::Tcp { dport } => {
                        tcp_probe(packet.src, SocketAddr::new(packet.dst, dport))
                    }
                    Proto::Udp { dport } => {
                        udp_probe(packet.src, SocketAddr::new(packet.dst, dport), &token)
                    }
                    Proto::Icmp { .. } => icmp_probe(packet.src, packet.dst),
                    Proto::Other(p) => panic!("no probe support for IP protocol {p}"),
                }
            })
        })
        .collect();
    let fates: Vec<Fate> = handles
        .into_iter()
        .map(|h| h.join().expect("probe thread"))
        .collect();
    let got = received.lock().unwrap();
    fates
        .into_iter()
        .enumerate()
        .map(|(i, fate)| {
            let arrived = match packets[i].proto {
                Proto::Udp { .. } => got.contains(format!("{phase}-{i}").as_bytes()),
                _ => fate == Fate::Delivered,
            };
            let fate = if fate == Fate::Dropped && arrived {
                Fate::ReplyLost
            } else {
                fate
            };
            (fate, arrived)
        })
        .collect()
}

fn expected_fate(action: Action) -> Fate {
    match action {
        Action::Allow => Fate::Delivered,
        Action::Deny => Fate::Dropped,
        Action::Reject => Fate::Refused,
    }
}

/// Packets per IR rule name, summed over the rule's nft lines (read back by
/// the rule comments, which start with the IR rule name).
fn counters(router: &Netns) -> BTreeMap<String, u64> {
    counters_by(router, |comment| {
        comment.split(':').next().unwrap().to_string()
    })
}

/// Packets per nft rule comment (whole), summed over rules sharing it.
fn counters_by(router: &Netns, key: impl Fn(&str) -> String) -> BTreeMap<String, u64> {
    let out = router.exec(
        "nft",
        &["-j", "list", "chain", "inet", "wardwall", "forward"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut map = BTreeMap::new();
    for item in json["nftables"].as_array().unwrap() {
        let Some(rule) = item.get("rule") else {
            continue;
        };
        let Some(comment) = rule["comment"].as_str() else {
            continue;
        };
        let name = key(comment);
        let packets: u64 = rule["expr"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e.get("counter").and_then(|c| c["packets"].as_u64()))
            .sum();
        *map.entry(name).or_insert(0) += packets;
    }
    map
}

fn load(router: &Netns, text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ruleset.nft");
    std::fs::write(&file, text).unwrap();
    let out = router.exec("nft", &["-f", &file.to_string_lossy()]);
    assert!(
        out.status.success(),
        "nft -f: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check_phase(
    topo: &Topology,
    ir: &Ir,
    labels: &[String],
    packets: &[Packet],
    phase: &str,
    received: &Arc<Mutex<HashSet<Vec<u8>>>>,
) {
    let results = send_all(topo, packets, phase, received);
    let mut failures = Vec::new();
    let mut deciding = BTreeSet::new();
    for ((label, packet), (fate, arrived)) in labels.iter().zip(packets).zip(&results) {
        let verdict = ir.evaluate(packet);
        let rule = ir.verdict_rule_name(&verdict).to_string();
        let mut want = expected_fate(verdict.action);
        if want == Fate::Refused
            && matches!(packet.proto, Proto::Icmp { .. })
            && *fate == Fate::Dropped
        {
            want = Fate::Dropped; // an ICMP error to an echo request is not always reported
        }
        let ok = *fate == want && (*arrived == verdict.action.permits());
        if !ok {
            failures.push(format!(
                "{}: {packet}: kernel {fate:?} (arrived: {arrived}), evaluator {} by `{rule}`",
                label, verdict.action
            ));
        }
        deciding.insert(rule);
    }
    assert!(
        failures.is_empty(),
        "[{phase}] {} of {} probes disagree with the evaluator:\n{}",
        failures.len(),
        labels.len(),
        failures.join("\n")
    );
    // The counters name exactly the rules that decided the probes.
    let counted: BTreeSet<String> = counters(&topo.router)
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, _)| name)
        .collect();
    assert_eq!(counted, deciding, "[{phase}] rules with non-zero counters");
}

/// Extra packets between the probe addresses, to catch what the hand-written
/// probes miss: every port-range edge of the policy's services (first, last,
/// one below, one above) and ICMP echo, between pseudo-random address pairs
/// of one family (fixed seed: the same packets on every run).
fn extra_packets(ir: &Ir, addrs: &BTreeSet<IpAddr>, count: usize) -> Vec<Packet> {
    // Per rule: the edges of its port ranges (first, last, one below, one
    // above) and ICMP echo if it has ICMP; all rules' together for `any`.
    let ports = |set: &wardwall::ir::ServiceSet, outside: bool| {
        let mut out = BTreeSet::new();
        for (ranges, is_tcp) in [(set.tcp.ranges(), true), (set.udp.ranges(), false)] {
            for &(lo, hi) in ranges {
                let (below, above) = if outside {
                    (lo.checked_sub(1), hi.checked_add(1))
                } else {
                    (None, None)
                };
                for port in [below, Some(lo), Some(hi), above] {
                    if let Some(port) = port.filter(|&p| p != 0) {
                        out.insert((is_tcp, port, false));
                    }
                }
            }
        }
        if !set.icmp4.is_empty() || !set.icmp6.is_empty() {
            out.insert((false, 0, true));
        }
        out
    };
    let all: BTreeSet<(bool, u16, bool)> = ir
        .rules
        .iter()
        .flat_map(|r| ports(&r.service.set, true))
        .chain([(false, 0, true)])
        .collect();
    let all: Vec<_> = all.into_iter().collect();
    let addrs: Vec<IpAddr> = addrs.iter().copied().collect();
    let mut state: u64 = 0x5741_5244_5741_4c4c; // "WARDWALL"
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) as usize) % n
    };
    let allows: Vec<_> = ir
        .rules
        .iter()
        .filter(|r| r.action == Action::Allow)
        .collect();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut tries = 0;
    while out.len() < count && tries < count * 100 {
        tries += 1;
        // Mostly a pair some rule (half the time an allow rule) speaks about,
        // with that rule's ports (half the time just inside its ranges, else
        // their edges); sometimes any pair with any rule's edges.
        let rule = if !allows.is_empty() && next(2) == 0 {
            allows[next(allows.len())]
        } else {
            &ir.rules[next(ir.rules.len())]
        };
        let pick = |set: &wardwall::addrset::AddrSet, r: usize| {
            let c: Vec<IpAddr> = addrs.iter().copied().filter(|a| set.contains(*a)).collect();
            (!c.is_empty()).then(|| c[r % c.len()])
        };
        let own: Vec<_> = ports(&rule.service.set, next(2) == 0).into_iter().collect();
        let (src, dst, protos) = if next(4) == 0 || own.is_empty() {
            (addrs[next(addrs.len())], addrs[next(addrs.len())], &all)
        } else {
            let (r1, r2) = (next(1 << 16), next(1 << 16));
            match (pick(&rule.src.addrs, r1), pick(&rule.dst.addrs, r2)) {
                (Some(s), Some(d)) => (s, d, &own),
                _ => continue,
            }
        };
        if src == dst || src.is_ipv4() != dst.is_ipv4() {
            continue;
        }
        let proto = match protos[next(protos.len())] {
            // Echo request in the packet's family.
            (_, _, true) => Proto::Icmp {
                ty: if src.is_ipv4() { 8 } else { 128 },
            },
            (true, dport, false) => Proto::Tcp { dport },
            (false, dport, false) => Proto::Udp { dport },
        };
        let packet = Packet { src, dst, proto };
        if seen.insert(packet) {
            out.push(packet);
        }
    }
    out
}

#[test]
fn hospital_probes_in_the_kernel_match_the_evaluator() {
    if !privileged::can_run("the real-kernel nftables test") {
        return;
    }
    let ir = compile_ok(common::hospital(), PROBE_DATE);
    let probes = HOSPITAL_PROBES;
    assert!(probes.len() >= 40);
    let packets: Vec<Packet> = probes
        .iter()
        .map(|p| Packet::parse(p.src, p.dst, p.proto).unwrap())
        .collect();
    // The probe set is the one the evaluator tests hold to known answers.
    for (p, packet) in probes.iter().zip(&packets) {
        assert_eq!(ir.verdict_rule_name(&ir.evaluate(packet)), p.expect_rule);
    }
    let labels: Vec<String> = probes.iter().map(|p| p.what.to_string()).collect();
    run_in_kernel(&ir, labels, packets, 120);
}

/// The focused protocol policy: `any` endpoints (`meta nfproto`), tcp and
/// udp sharing ports (`th dport`), port ranges up to 65535, ICMPv6-only
/// rules and a logged reject of everything inbound, in both families.
#[test]
fn focused_protocol_policy_in_the_kernel_matches_the_evaluator() {
    if !privileged::can_run("the real-kernel nftables test") {
        return;
    }
    let ir = compile_ok(Path::new("tests/policies/nft-protocols.kdl"), PROBE_DATE);
    let text = [
        (
            "lan to internet, shared dns port over udp",
            "10.1.0.5",
            "8.8.8.8",
            "udp/5353",
        ),
        (
            "lan to internet, shared dns port over tcp",
            "10.1.0.5",
            "8.8.8.8",
            "tcp/53",
        ),
        (
            "lan to lan, shared port (any destination)",
            "10.1.0.5",
            "10.1.0.6",
            "tcp/5353",
        ),
        (
            "lan to internet, port 1023 below the range",
            "10.1.0.5",
            "8.8.8.8",
            "tcp/1023",
        ),
        (
            "lan to internet, port 1024",
            "10.1.0.5",
            "8.8.8.8",
            "tcp/1024",
        ),
        (
            "lan to internet, port 65535",
            "10.1.0.5",
            "8.8.8.8",
            "tcp/65535",
        ),
        (
            "lan to internet, udp 2049 above the range",
            "10.1.0.5",
            "8.8.8.8",
            "udp/2049",
        ),
        (
            "lan to internet, udp 2048",
            "10.1.0.5",
            "8.8.8.8",
            "udp/2048",
        ),
        (
            "internet pings lan (any to any echo)",
            "8.8.8.8",
            "10.1.0.5",
            "icmp/echo-request",
        ),
        (
            "internet pings lan over IPv6",
            "2001:db8::1",
            "fd00:1::5",
            "icmp/echo-request",
        ),
        (
            "internet to lan tcp is reset",
            "8.8.8.8",
            "10.1.0.5",
            "tcp/22",
        ),
        (
            "internet to lan udp is refused",
            "8.8.8.8",
            "10.1.0.5",
            "udp/53",
        ),
        (
            "internet to lan tcp over IPv6 is reset",
            "2001:db8::1",
            "fd00:1::5",
            "tcp/22",
        ),
        (
            "internet to lan udp over IPv6 is refused",
            "2001:db8::1",
            "fd00:1::5",
            "udp/161",
        ),
        (
            "lan to internet over IPv6, shared port",
            "fd00:1::5",
            "2001:db8::1",
            "udp/53",
        ),
        (
            "lan to internet over IPv6, high port",
            "fd00:1::5",
            "2001:db8::1",
            "tcp/40000",
        ),
        (
            "lan to internet over IPv6, low port",
            "fd00:1::5",
            "2001:db8::1",
            "tcp/80",
        ),
    ];
    let packets: Vec<Packet> = text
        .iter()
        .map(|(_, s, d, p)| Packet::parse(s, d, p).unwrap())
        .collect();
    let labels = text.iter().map(|(w, ..)| w.to_string()).collect();
    let actions: BTreeSet<String> = packets
        .iter()
        .map(|p| ir.evaluate(p).action.to_string())
        .collect();
    assert_eq!(actions.len(), 3, "allow, deny and reject all occur");
    run_in_kernel(&ir, labels, packets, 40);
}

/// Host addresses for a policy without hand-written probes: the lowest and
/// highest usable address of every range of every zone, object and rule
/// side (literals included), in both families. Addresses the topology
/// cannot use as a host (0/8, loopback, link-local, multicast and the
/// router's own) are skipped.
fn policy_addresses(ir: &Ir) -> BTreeSet<IpAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    let ok4 = |a: u32| {
        let ip = Ipv4Addr::from(a);
        let o = ip.octets();
        !(o[0] == 0 || o[0] == 127 || o[0] >= 224 || (o[0] == 169 && o[1] == 254))
            && ip != Ipv4Addr::new(192, 0, 2, 1)
    };
    let ok6 = |a: u128| {
        let top = (a >> 120) as u8;
        let ip = Ipv6Addr::from(a);
        !(top == 0 || top == 0xff || (a >> 118) == (0xfe80u128 >> 6))
            && ip != "fe80::1".parse::<Ipv6Addr>().unwrap()
    };
    let mut sets: Vec<&wardwall::addrset::AddrSet> = ir.zones.iter().map(|z| &z.addrs).collect();
    sets.extend(ir.objects.values().map(|o| &o.addrs));
    sets.extend(ir.rules.iter().flat_map(|r| [&r.src.addrs, &r.dst.addrs]));
    let mut out = BTreeSet::new();
    for set in sets {
        // The first and last usable address of the whole set, per family.
        let v4: Vec<u32> = set
            .v4
            .ranges()
            .iter()
            .flat_map(|&(lo, hi)| {
                [
                    lo,
                    lo.saturating_add(1).min(hi),
                    hi.saturating_sub(1).max(lo),
                    hi,
                ]
            })
            .filter(|&a| ok4(a))
            .collect();
        out.extend(v4.first().map(|&a| IpAddr::V4(a.into())));
        out.extend(v4.last().map(|&a| IpAddr::V4(a.into())));
        let v6: Vec<u128> = set
            .v6
            .ranges()
            .iter()
            .flat_map(|&(lo, hi)| {
                [
                    lo,
                    lo.saturating_add(1).min(hi),
                    hi.saturating_sub(1).max(lo),
                    hi,
                ]
            })
            .filter(|&a| ok6(a))
            .collect();
        out.extend(v6.first().map(|&a| IpAddr::V6(a.into())));
        out.extend(v6.last().map(|&a| IpAddr::V6(a.into())));
    }
    out
}

/// Every policy in `policies/`, without hand-written probes: generated
/// packets between the edge addresses of every zone, object and rule side,
/// at every rule's port-range edges. A new shipped policy is held to the
/// evaluator in the kernel without anyone writing probes for it.
#[test]
fn every_shipped_policy_in_the_kernel_matches_the_evaluator() {
    if !privileged::can_run("the real-kernel nftables test") {
        return;
    }
    let mut policies: Vec<_> = std::fs::read_dir("policies")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    policies.sort();
    assert!(!policies.is_empty());
    for path in policies {
        let ir = compile_ok(&path, PROBE_DATE);
        let addrs = policy_addresses(&ir);
        let (labels, packets) = extra_packets(&ir, &addrs, 150)
            .into_iter()
            .map(|p| (path.display().to_string(), p))
            .unzip();
        run_in_kernel(&ir, labels, packets, 0);
    }
}

/// Builds the topology for `packets` (plus `extra` generated ones), checks
/// that it forwards everything without a ruleset, then checks every fate
/// against the evaluator with the rendered ruleset, and again after an
/// atomic reload with interface matching.
pub(crate) fn run_in_kernel(
    ir: &Ir,
    mut labels: Vec<String>,
    mut packets: Vec<Packet>,
    extra: usize,
) {
    let given = packets.len();
    let addrs: BTreeSet<IpAddr> = packets.iter().flat_map(|p| [p.src, p.dst]).collect();
    for packet in extra_packets(ir, &addrs, extra) {
        labels.push(format!("extra {packet}"));
        packets.push(packet);
    }
    // The generated packets must exercise allows and denies alike (a
    // policy with few allow rules has few distinct allowed packets).
    if extra > 0 {
        let extra = &packets[given..];
        let allowed = extra
            .iter()
            .filter(|p| ir.evaluate(p).action == Action::Allow)
            .count();
        assert!(
            allowed >= extra.len() / 6 && extra.len() - allowed >= extra.len() / 6,
            "{allowed} of {} generated packets allowed",
            extra.len()
        );
    }
    let allowed = packets
        .iter()
        .filter(|p| ir.evaluate(p).action == Action::Allow)
        .count();
    assert!(
        allowed > 0 && allowed < packets.len(),
        "{allowed} of {} packets allowed: the run would prove little",
        packets.len()
    );
    let topo = build_topology(ir, &addrs);
    let received = Arc::new(Mutex::new(HashSet::new()));
    start_listeners(&topo, &packets, &received);

    // Without a ruleset everything is forwarded: the topology reaches every
    // probe's destination and lets the reply back.
    let open = send_all(&topo, &packets, "open", &received);
    let broken: Vec<String> = labels
        .iter()
        .zip(&open)
        .filter(|(_, (fate, _))| *fate != Fate::Delivered)
        .map(|(label, (fate, _))| format!("{label}: {fate:?}"))
        .collect();
    assert!(
        broken.is_empty(),
        "topology broken without a ruleset:\n{}",
        broken.join("\n")
    );

    // The rendered ruleset, default options (anti-spoofing): honest
    // packets, sent from their own zone's bridge, and their replies pass
    // the guard and get the evaluator's verdict.
    let guarded = Nftables::default()
        .render(ir, &Templates::default())
        .unwrap();
    load(&topo.router, &guarded[0].contents);
    check_phase(&topo, ir, &labels, &packets, "antispoof", &received);

    // Reloading replaces the table atomically (counters restart from zero);
    // address-only, the verdicts for honest packets are the same.
    let plain = Nftables { address_only: true }
        .render(ir, &Templates::default())
        .unwrap();
    load(&topo.router, &plain[0].contents);
    check_phase(&topo, ir, &labels, &packets, "address-only", &received);
}

/// A packet whose source address belongs to one zone, sent from another
/// interface's bridge.
struct Spoof {
    packet: Packet,
    /// The bridge (nftables interface) it is sent from.
    from: String,
}

/// The interface of the zone that owns `addr`.
fn iface_of(ir: &Ir, addr: IpAddr) -> String {
    ir.zone_of(addr).expect("a zone").bindings["nftables"].clone()
}

/// Spoofed packets for `ir`: for every ordered pair of interfaces (A, B),
/// packets the IR allows from an address of A's zones, sent from B. The
/// clinical cases of the issue are in the hospital's probes (allowed
/// clinical sources, replayed from the guest and corporate bridges).
fn spoofs(ir: &Ir, candidates: &[Packet]) -> Vec<Spoof> {
    let allowed: Vec<Packet> = candidates
        .iter()
        .copied()
        .filter(|p| ir.evaluate(p).action == Action::Allow)
        .filter(|p| !matches!(p.proto, Proto::Other(_)))
        .collect();
    let ifaces: BTreeSet<String> = ir
        .zones
        .iter()
        .map(|z| z.bindings["nftables"].clone())
        .collect();
    let mut out: Vec<Spoof> = Vec::new();
    // A spoofer holds every source address it sends from: a packet to one
    // of them would be delivered inside the spoofer, never forwarded.
    let clash = |out: &[Spoof], p: &Packet, from: &str| {
        out.iter()
            .any(|s| s.from == from && (s.packet.src == p.dst || s.packet.dst == p.src))
    };
    for a in &ifaces {
        let own: Vec<Packet> = allowed
            .iter()
            .copied()
            .filter(|p| iface_of(ir, p.src) == *a)
            .collect();
        for (i, b) in ifaces.iter().filter(|b| *b != a).enumerate() {
            // Two packets per pair, cycling through A's allowed packets.
            let mut taken = 0;
            for k in 0..own.len() {
                let packet = own[(2 * i + k) % own.len()];
                if taken == 2 || clash(&out, &packet, b) {
                    continue;
                }
                taken += 1;
                out.push(Spoof {
                    packet,
                    from: b.clone(),
                });
            }
        }
    }
    out
}

/// One host namespace per bridge, holding every source address it spoofs.
fn spoofers(topo: &Topology, spoofs: &[Spoof]) -> BTreeMap<String, Netns> {
    let mut addrs: BTreeMap<&str, BTreeSet<IpAddr>> = BTreeMap::new();
    for s in spoofs {
        addrs.entry(&s.from).or_default().insert(s.packet.src);
    }
    let mut out = BTreeMap::new();
    for (i, (bridge, addrs)) in addrs.into_iter().enumerate() {
        let ns = Netns::new(&format!("s{i}"));
        let port = format!("s{i}");
        ip(
            &topo.router,
            &[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
            ],
        );
        ip(
            &topo.router,
            &["link", "set", &port, "master", bridge, "up"],
        );
        sysctl(
            &ns,
            &[
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.eth0.rp_filter=0",
                "net.ipv6.conf.eth0.accept_dad=0",
                "net.ipv4.ping_group_range=0 2147483647",
            ],
        );
        ip(&ns, &["link", "set", "lo", "up"]);
        ip(&ns, &["link", "set", "eth0", "up"]);
        for a in &addrs {
            match a {
                IpAddr::V4(a) => ip(&ns, &["addr", "add", &format!("{a}/32"), "dev", "eth0"]),
                IpAddr::V6(a) => ip(
                    &ns,
                    &["addr", "add", &format!("{a}/128"), "dev", "eth0", "nodad"],
                ),
            }
        }
        ip(&ns, &["route", "add", "192.0.2.1/32", "dev", "eth0"]);
        ip(
            &ns,
            &["route", "add", "default", "via", "192.0.2.1", "dev", "eth0"],
        );
        ip(
            &ns,
            &[
                "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0",
            ],
        );
        out.insert(bridge.to_string(), ns);
    }
    out
}

/// Sends every spoofed packet concurrently from its spoofer; returns, per
/// packet, whether its payload reached the destination (UDP; the replies go
/// to the real owner of the address, so TCP and ICMP are judged by the
/// counters only).
fn send_spoofed(
    spoofers: &BTreeMap<String, Netns>,
    spoofs: &[Spoof],
    phase: &str,
    received: &Arc<Mutex<HashSet<Vec<u8>>>>,
) -> Vec<bool> {
    let handles: Vec<_> = spoofs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let packet = s.packet;
            let ns = spoofers[&s.from].name.clone();
            let token = format!("spoof-{phase}-{i}").into_bytes();
            thread::spawn(move || {
                enter(&ns);
                match packet.proto {
                    Proto::Tcp { dport } => {
                        tcp_probe(packet.src, SocketAddr::new(packet.dst, dport));
                    }
                    Proto::Udp { dport } => {
                        udp_probe(packet.src, SocketAddr::new(packet.dst, dport), &token);
                    }
                    Proto::Icmp { .. } => {
                        icmp_probe(packet.src, packet.dst);
                    }
                    Proto::Other(p) => panic!("no probe support for IP protocol {p}"),
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("spoof thread");
    }
    let got = received.lock().unwrap();
    (0..spoofs.len())
        .map(|i| got.contains(format!("spoof-{phase}-{i}").as_bytes()))
        .collect()
}

/// Spoofed sources in the kernel, on every shipped policy and the focused
/// nftables policies: packets the IR allows from zone A's addresses, sent
/// from zone B's bridge. With the default ruleset every one is dropped by
/// the anti-spoofing rule of B's interface (its counter shows it, no other
/// rule counts anything, no datagram arrives); address-only, the same
/// packets pass the allow rules the evaluator names for the honest ones
/// (so the test sees what it claims to).
#[test]
fn spoofed_sources_are_dropped_in_the_kernel_on_every_policy() {
    if !privileged::can_run("the real-kernel nftables test") {
        return;
    }
    let mut policies: Vec<_> = std::fs::read_dir("policies")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    policies.sort();
    policies.push("tests/policies/nft-protocols.kdl".into());
    policies.push("tests/policies/nftables/antispoof.kdl".into());
    for path in policies {
        let ir = compile_ok(&path, PROBE_DATE);
        let addrs = policy_addresses(&ir);
        let mut candidates = extra_packets(&ir, &addrs, 400);
        if path.ends_with("hospital.kdl") {
            candidates.extend(
                HOSPITAL_PROBES
                    .iter()
                    .map(|p| Packet::parse(p.src, p.dst, p.proto).unwrap()),
            );
        }
        let spoofs = spoofs(&ir, &candidates);
        let label = path.display().to_string();
        assert!(spoofs.len() >= 4, "{label}: only {} spoofs", spoofs.len());
        if path.ends_with("hospital.kdl") {
            // The issue's case: a clinical source address (ICU, clinical
            // apps, imaging) from the guest and corporate bridges.
            for bridge in ["guest0", "corp0"] {
                assert!(
                    spoofs.iter().any(|s| s.from == bridge
                        && ["icu0", "apps0", "img0"]
                            .contains(&iface_of(&ir, s.packet.src).as_str())),
                    "no clinical source spoofed from {bridge}"
                );
            }
        }
        check_spoofs(&ir, &label, &spoofs);
    }
}

fn check_spoofs(ir: &Ir, label: &str, spoofs: &[Spoof]) {
    let packets: Vec<Packet> = spoofs.iter().map(|s| s.packet).collect();
    let addrs: BTreeSet<IpAddr> = packets.iter().flat_map(|p| [p.src, p.dst]).collect();
    let topo = build_topology(ir, &addrs);
    let received = Arc::new(Mutex::new(HashSet::new()));
    start_listeners(&topo, &packets, &received);
    let spoofers = spoofers(&topo, spoofs);

    let guarded = Nftables::default()
        .render(ir, &Templates::default())
        .unwrap();
    load(&topo.router, &guarded[0].contents);
    let arrived = send_spoofed(&spoofers, spoofs, "antispoof", &received);
    let leaked: Vec<String> = spoofs
        .iter()
        .zip(&arrived)
        .filter(|(_, a)| **a)
        .map(|(s, _)| format!("{} from {}", s.packet, s.from))
        .collect();
    assert!(
        leaked.is_empty(),
        "{label}: spoofed datagrams arrived:\n{}",
        leaked.join("\n")
    );
    // Only the default (its anti-spoofing lines) counted anything, and the
    // line of each sending interface counted at least its packets.
    let counted: BTreeSet<String> = counters(&topo.router)
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        counted,
        BTreeSet::from(["default".to_string()]),
        "{label}: rules that counted spoofed packets"
    );
    let by_line = counters_by(&topo.router, str::to_string);
    let mut sent: BTreeMap<&str, u64> = BTreeMap::new();
    for s in spoofs {
        *sent.entry(&s.from).or_default() += 1;
    }
    for (bridge, n) in sent {
        let line = format!("default: anti-spoofing: source not of a zone on {bridge}");
        let got = by_line.get(&line).copied().unwrap_or(0);
        assert!(
            got >= n,
            "{label}: `{line}` counted {got} of {n} spoofed packets"
        );
    }

    // Address-only, the spoofed packets pass the rules that allow the
    // honest ones.
    let plain = Nftables { address_only: true }
        .render(ir, &Templates::default())
        .unwrap();
    load(&topo.router, &plain[0].contents);
    let arrived = send_spoofed(&spoofers, spoofs, "address-only", &received);
    let missing: Vec<String> = spoofs
        .iter()
        .zip(&arrived)
        .filter(|(s, a)| matches!(s.packet.proto, Proto::Udp { .. }) && !**a)
        .map(|(s, _)| format!("{} from {}", s.packet, s.from))
        .collect();
    assert!(
        missing.is_empty(),
        "{label}: address-only, spoofed datagrams did not arrive:\n{}",
        missing.join("\n")
    );
    let deciding: BTreeSet<String> = packets
        .iter()
        .map(|p| ir.verdict_rule_name(&ir.evaluate(p)).to_string())
        .collect();
    let counted: BTreeSet<String> = counters(&topo.router)
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, _)| name)
        .collect();
    // (The default may count too: the real owners of the addresses get
    // replies they never asked for, and answer them.)
    assert!(
        counted.is_superset(&deciding),
        "{label}: address-only, the allow rules {deciding:?} did not all count; counted {counted:?}"
    );
}
