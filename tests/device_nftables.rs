//! The nftables device reader (`wardwall::read::export::nftables`, through
//! the registry's reader) on rulesets the real kernel holds: each one is
//! loaded with `nft -f` into a fresh network namespace and dumped with `nft
//! list ruleset` and `nft -j list ruleset`; both dumps are read and must
//! give the same model.
//!
//! - Every shipped policy (and every test policy nftables renders): the
//!   rendered ruleset, dumped by the kernel, must decide every probe and
//!   edge packet as the IR does (`Ir::evaluate`), with the zones' interface
//!   bindings as the packet's places, and name the IR's deciding rule where
//!   its entry names one.
//! - The hand-written fixtures of `tests/fixtures/devices/nftables/` (a
//!   small hospital with jumps, gotos, returns, verdict maps, named sets,
//!   ct state, an iifname set, NAT and other hooks as noise, and hand
//!   edits: an exposure, a breakage, an undecidable rate limit, a second
//!   table that drops, an element added with `nft add element`): the
//!   verdicts, deciding lines and texts expected here, and the fate of real
//!   packets sent through a router namespace.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::thread;
use std::time::Duration;

use crate::common::{
    self, privileged, privileged::Netns, probes::HOSPITAL_PROBES, probes::PROBE_DATE,
};
use wardwall::ir::{Action, Ir, Packet};
use wardwall::read::device::{Device, Outcome};
use wardwall::vocab::Target;

const FIXTURES: &str = "tests/fixtures/devices/nftables";

fn nft(ns: &Netns, args: &[&str]) -> String {
    let out = ns.exec("nft", args);
    assert!(
        out.status.success(),
        "nft {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("nft prints UTF-8")
}

fn load(ns: &Netns, ruleset: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ruleset.nft");
    std::fs::write(&file, ruleset).unwrap();
    nft(ns, &["-f", &file.to_string_lossy()]);
}

/// The kernel's ruleset in both forms: (text, JSON).
fn dump(ns: &Netns) -> (String, String) {
    (
        nft(ns, &["list", "ruleset"]),
        nft(ns, &["-j", "list", "ruleset"]),
    )
}

fn device(text: &str) -> Device {
    wardwall::registry::reader(Target::Nftables)
        .device(text)
        .unwrap_or_else(|e| panic!("the dump cannot be read: {e}\n{text}"))
}

/// Both dumps read, and required to give the same model (everything but
/// where each entry is printed, and an undecidable entry's wording).
fn read_both(text: &str, json: &str) -> Device {
    let (a, b) = (device(text), device(json));
    assert_eq!(a.skipped, b.skipped, "skipped: text vs JSON");
    assert_eq!(a.layers.len(), b.layers.len(), "layers: text vs JSON");
    for (la, lb) in a.layers.iter().zip(&b.layers) {
        assert_eq!(la.name, lb.name);
        assert_eq!(la.unfiltered, lb.unfiltered);
        for (fa, fb) in la.filters.iter().zip(&lb.filters) {
            assert_eq!(fa.guard, fb.guard, "{}", la.name);
            assert_eq!(fa.default.action, fb.default.action, "{}", la.name);
            assert_eq!(fa.entries.len(), fb.entries.len(), "entries of {}", la.name);
            for (ea, eb) in fa.entries.iter().zip(&fb.entries) {
                let at = format!(
                    "{}: {} vs {}",
                    la.name, ea.decision.origin.text, eb.decision.origin.text
                );
                assert_eq!(ea.guard, eb.guard, "{at}");
                assert_eq!(ea.src, eb.src, "{at}");
                assert_eq!(ea.dst, eb.dst, "{at}");
                assert_eq!(ea.service, eb.service, "{at}");
                assert_eq!(ea.decision.action, eb.decision.action, "{at}");
                assert_eq!(ea.decision.log, eb.decision.log, "{at}");
                assert_eq!(ea.decision.origin.rule, eb.decision.origin.rule, "{at}");
                assert_eq!(ea.undecidable.is_some(), eb.undecidable.is_some(), "{at}");
                assert!(eb.decision.origin.text.contains("rule handle"), "{at}");
            }
        }
    }
    a
}

// ------------------------------------------------------------ policies

/// The interface a zone of `addr` is bound to on nftables.
fn place(ir: &Ir, addr: IpAddr) -> Option<&str> {
    ir.zone_of(addr)
        .and_then(|z| z.bindings.get("nftables"))
        .map(String::as_str)
}

/// The rule the deciding entry names, if any (the last step's).
fn deciding_rule<'d>(o: &Outcome<'d>) -> Option<&'d str> {
    o.steps.last().and_then(|(_, d)| d.origin.rule.as_deref())
}

fn policy_packets(path: &Path, ir: &Ir, seed: u64) -> Vec<(String, Packet)> {
    let mut out = Vec::new();
    if path == common::hospital() {
        for p in HOSPITAL_PROBES {
            out.push((
                format!("probe `{}`", p.what),
                Packet::parse(p.src, p.dst, p.proto).unwrap(),
            ));
        }
    }
    for (i, p) in common::edge_packets::edge_packets(ir, seed, 400)
        .into_iter()
        .enumerate()
    {
        out.push((format!("edge packet {i}"), p));
    }
    out
}

/// Every disagreement of the dumped ruleset with the IR.
fn disagreements(path: &Path, ir: &Ir, d: &Device, seed: u64) -> Vec<String> {
    let mut wrong = Vec::new();
    for (what, packet) in policy_packets(path, ir, seed) {
        let want = ir.evaluate(&packet);
        let want_rule = ir.verdict_rule_name(&want);
        let got = d.decide(&packet, place(ir, packet.src), place(ir, packet.dst));
        let at = format!("{}: {what} {packet}", path.display());
        if !got.undecided.is_empty() {
            wrong.push(format!(
                "{at}: undecidable entries met: {:?}",
                got.undecided
            ));
        }
        if got.action.permits() != want.action.permits() {
            wrong.push(format!(
                "{at}: the IR says {} by `{want_rule}`, the device {} by {:?}",
                want.action,
                got.action,
                got.steps.last().map(|(_, d)| &d.origin.text)
            ));
        }
        if let Some(rule) = deciding_rule(&got)
            && rule != want_rule
        {
            wrong.push(format!(
                "{at}: the IR decides by `{want_rule}`, the device by `{rule}`"
            ));
        }
    }
    wrong
}

/// Every shipped policy and every test policy nftables renders: rendered,
/// loaded into the kernel, dumped in both forms, read, and held to the IR.
#[test]
fn every_rendered_policy_dumped_by_the_kernel_decides_as_the_ir() {
    if !privileged::can_run("the nftables device reader on kernel dumps") {
        return;
    }
    let mut policies = common::shipped_policies();
    let mut tests: Vec<_> = std::fs::read_dir("tests/policies")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    tests.sort();
    let shipped = policies.len();
    policies.extend(tests);
    let ns = Netns::new("dnft");
    let mut wrong = Vec::new();
    let mut read = 0;
    for (i, path) in policies.iter().enumerate() {
        let ir = common::compile_ok(path, PROBE_DATE);
        let Ok(files) = common::try_render(&ir, Target::Nftables) else {
            assert!(
                i >= shipped,
                "nftables refuses the shipped {}",
                path.display()
            );
            continue;
        };
        nft(&ns, &["flush", "ruleset"]);
        load(&ns, &files[0].contents);
        let (text, json) = dump(&ns);
        let d = read_both(&text, &json);
        assert!(d.skipped.is_empty(), "{}: {:?}", path.display(), d.skipped);
        wrong.extend(disagreements(path, &ir, &d, 0xd0_0000 + i as u64));
        read += 1;
    }
    assert!(read >= shipped, "only {read} policies read");
    assert!(
        wrong.is_empty(),
        "{} disagreement(s):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// The differential test can fail: the hospital's Contec block turned into
/// an accept in the kernel is caught on the Contec probes.
#[test]
fn a_tampered_kernel_ruleset_disagrees_with_the_ir() {
    if !privileged::can_run("the nftables device reader on kernel dumps") {
        return;
    }
    let ir = common::compile_ok(common::hospital(), PROBE_DATE);
    let files = common::render(&ir, Target::Nftables);
    let from = "\"wardwall deny contec-cms8000.out: \" drop";
    assert!(files[0].contents.contains(from));
    let tampered = files[0]
        .contents
        .replace(from, "\"wardwall deny contec-cms8000.out: \" accept");
    let ns = Netns::new("dnft");
    load(&ns, &tampered);
    let (text, json) = dump(&ns);
    let wrong = disagreements(common::hospital(), &ir, &read_both(&text, &json), 1);
    assert!(
        wrong.iter().any(|w| w.contains("probe `contec monitor")),
        "the tampered ruleset was not caught: {wrong:?}"
    );
}

// ------------------------------------------------------------ fixtures

/// Where each address of the fixture sits: (address, interface).
const HOSTS: &[(&str, &str)] = &[
    ("10.20.1.10", "icu0"),
    ("fd42:20::10", "icu0"),
    ("10.20.8.5", "med0"),
    ("10.10.20.30", "srv0"),
    ("fd42:10::30", "srv0"),
    ("10.10.0.53", "srv0"),
    ("10.10.30.5", "srv0"),
    ("202.114.4.119", "wan0"),
    ("198.51.100.7", "wan0"),
];

/// The router's routes: (prefix, interface).
const ROUTES: &[(&str, &str)] = &[
    ("10.20.1.0/24", "icu0"),
    ("fd42:20::/64", "icu0"),
    ("10.20.8.0/24", "med0"),
    ("10.10.0.0/16", "srv0"),
    ("fd42:10::/64", "srv0"),
    ("202.114.4.0/24", "wan0"),
    ("198.51.100.0/24", "wan0"),
];

fn iface(addr: IpAddr) -> &'static str {
    HOSTS
        .iter()
        .find(|(a, _)| a.parse::<IpAddr>().unwrap() == addr)
        .map(|(_, i)| *i)
        .unwrap_or_else(|| panic!("{addr} is no fixture host"))
}

/// (name, src, dst, proto).
const PROBES: &[(&str, &str, &str, &str)] = &[
    (
        "monitor to central station",
        "10.20.1.10",
        "10.10.20.30",
        "tcp/515",
    ),
    (
        "contec monitor to central station",
        "10.20.8.5",
        "10.10.20.30",
        "tcp/515",
    ),
    (
        "monitor to contec .119",
        "10.20.1.10",
        "202.114.4.119",
        "tcp/80",
    ),
    ("monitor DNS", "10.20.1.10", "10.10.0.53", "udp/53"),
    ("monitor NTP", "10.20.1.10", "10.10.0.53", "udp/123"),
    (
        "monitor ssh to DNS server",
        "10.20.1.10",
        "10.10.0.53",
        "tcp/22",
    ),
    (
        "monitor to the internet",
        "10.20.1.10",
        "198.51.100.7",
        "tcp/443",
    ),
    (
        "internet to web portal",
        "198.51.100.7",
        "10.10.30.5",
        "tcp/443",
    ),
    (
        "internet ssh to web portal",
        "198.51.100.7",
        "10.10.30.5",
        "tcp/22",
    ),
    (
        "contec .119 to web portal",
        "202.114.4.119",
        "10.10.30.5",
        "tcp/443",
    ),
    (
        "v6 monitor to central station",
        "fd42:20::10",
        "fd42:10::30",
        "tcp/515",
    ),
    (
        "v6 monitor ssh to central station",
        "fd42:20::10",
        "fd42:10::30",
        "tcp/22",
    ),
    ("server to monitor", "10.10.0.53", "10.20.1.10", "tcp/515"),
];

fn probe(name: &str) -> Packet {
    let (_, s, d, p) = PROBES
        .iter()
        .find(|p| p.0 == name)
        .unwrap_or_else(|| panic!("no probe {name}"));
    Packet::parse(s, d, p).unwrap()
}

/// What a fixture is expected to decide for a probe: the action and a
/// piece of the deciding line (`policy drop` for the chain policy).
type Expect = (&'static str, Action, &'static str);

const BASE: &[Expect] = &[
    (
        "monitor to central station",
        Action::Allow,
        "ip daddr 10.10.20.30 tcp dport 515",
    ),
    (
        "contec monitor to central station",
        Action::Allow,
        "ip daddr 10.10.20.30 tcp dport 515",
    ),
    (
        "monitor to contec .119",
        Action::Deny,
        "comment \"contec-block: ",
    ),
    ("monitor DNS", Action::Allow, "vmap @infra_services"),
    ("monitor NTP", Action::Allow, "vmap @infra_services"),
    ("monitor ssh to DNS server", Action::Deny, "policy drop"),
    (
        "monitor to the internet",
        Action::Reject,
        "comment \"clinical-no-internet\"",
    ),
    (
        "internet to web portal",
        Action::Allow,
        "comment \"web-portal\"",
    ),
    ("internet ssh to web portal", Action::Deny, "policy drop"),
    (
        "contec .119 to web portal",
        Action::Deny,
        "comment \"contec-block-in: ",
    ),
    (
        "v6 monitor to central station",
        Action::Allow,
        "ip6 daddr fd42:10::30 tcp dport 515 accept",
    ),
    (
        "v6 monitor ssh to central station",
        Action::Deny,
        "policy drop",
    ),
    ("server to monitor", Action::Deny, "policy drop"),
];

/// Checks the expected verdicts and deciding lines of `d` (read from the
/// text dump `text`).
fn check_expected(name: &str, d: &Device, text: &str, expect: &[Expect]) {
    for (probe_name, action, marker) in expect {
        let p = probe(probe_name);
        let o = d.decide(&p, Some(iface(p.src)), Some(iface(p.dst)));
        let at = format!("{name}: {probe_name} ({p})");
        assert_eq!(
            o.action,
            *action,
            "{at}: {:?}",
            o.steps.last().map(|s| &s.1.origin)
        );
        // A stop is decided by the last layer met; a pass by every layer,
        // so the expected line is that of one of them.
        let step = if action.permits() {
            o.steps.iter().find(|(_, d)| d.origin.text.contains(marker))
        } else {
            o.steps.last()
        };
        let (_, decision) =
            step.unwrap_or_else(|| panic!("{at}: no step by `{marker}`: {:?}", o.steps));
        let origin = &decision.origin;
        if marker.starts_with("policy") {
            assert_eq!(origin.line, 0, "{at}");
            assert!(origin.text.starts_with(marker), "{at}: {}", origin.text);
            continue;
        }
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(marker))
            .map(|(i, l)| (i + 1, l.trim()))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{at}: `{marker}` is on one line of the dump"
        );
        assert_eq!((origin.line, origin.text.as_str()), lines[0], "{at}");
        assert!(origin.column > 1, "{at}: the rule is indented");
    }
}

fn fixture(name: &str) -> String {
    common::read(Path::new(FIXTURES).join(name))
}

/// A scenario: the fixture file, commands run after loading it, and the
/// probes whose expectations differ from [`BASE`].
struct Scenario {
    file: &'static str,
    after: &'static [&'static str],
    changed: &'static [Expect],
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        file: "hospital.nft",
        after: &[],
        changed: &[],
    },
    Scenario {
        file: "hospital-exposure.nft",
        after: &[],
        changed: &[(
            "monitor to contec .119",
            Action::Allow,
            "comment \"vendor-temp\"",
        )],
    },
    Scenario {
        file: "hospital-breakage.nft",
        after: &[],
        changed: &[
            ("monitor to central station", Action::Deny, "policy drop"),
            (
                "contec monitor to central station",
                Action::Deny,
                "policy drop",
            ),
        ],
    },
    Scenario {
        file: "hospital-second-table.nft",
        after: &[],
        changed: &[("monitor NTP", Action::Deny, "comment \"ntp-lockdown\"")],
    },
    Scenario {
        file: "hospital.nft",
        after: &["add element inet filter contec_v4 { 198.51.100.7 }"],
        changed: &[
            (
                "internet to web portal",
                Action::Deny,
                "comment \"contec-block-in: ",
            ),
            (
                "internet ssh to web portal",
                Action::Deny,
                "comment \"contec-block-in: ",
            ),
            (
                "monitor to the internet",
                Action::Deny,
                "comment \"contec-block: ",
            ),
        ],
    },
];

fn expectations(changed: &[Expect]) -> Vec<Expect> {
    BASE.iter()
        .map(|b| *changed.iter().find(|c| c.0 == b.0).unwrap_or(b))
        .collect()
}

#[test]
fn the_hospital_fixture_reads_with_its_skipped_parts() {
    if !privileged::can_run("the nftables device reader on kernel dumps") {
        return;
    }
    let ns = Netns::new("dnft");
    load(&ns, &fixture("hospital.nft"));
    let (text, json) = dump(&ns);
    let d = read_both(&text, &json);
    assert_eq!(
        d.skipped,
        [
            "NAT (1 chain, 1 rule)",
            "chains on the input and output hooks (traffic to and from the router itself) (1 chain, 1 rule)",
            "chains on other hooks that never drop (1 chain, 1 rule)",
        ]
    );
    let names: Vec<&str> = d.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["table inet filter chain forward (priority 0)"]);
    check_expected("hospital.nft", &d, &text, BASE);
    // The same decisions from the JSON dump, with JSON origins.
    let j = device(&json);
    for (name, action, _) in BASE {
        let p = probe(name);
        let o = j.decide(&p, Some(iface(p.src)), Some(iface(p.dst)));
        assert_eq!(o.action, *action, "JSON: {name}");
        let origin = &o.steps.last().unwrap().1.origin;
        assert!(
            origin.line == 0 || origin.text.contains("rule handle"),
            "{origin:?}"
        );
    }
}

#[test]
fn an_undecidable_rate_limit_is_listed_not_guessed() {
    if !privileged::can_run("the nftables device reader on kernel dumps") {
        return;
    }
    let ns = Netns::new("dnft");
    load(&ns, &fixture("hospital-undecidable.nft"));
    let (text, json) = dump(&ns);
    let d = read_both(&text, &json);
    for name in ["monitor DNS", "monitor NTP"] {
        let p = probe(name);
        let o = d.decide(&p, Some(iface(p.src)), Some(iface(p.dst)));
        assert_eq!(o.undecided.len(), 1, "{name}");
        let e = o.undecided[0];
        assert_eq!(e.decision.action, Action::Allow);
        assert!(
            e.undecidable.as_deref().unwrap().contains("rate limit"),
            "{:?}",
            e.undecidable
        );
        assert!(
            e.decision
                .origin
                .text
                .contains("limit rate 100/second accept")
        );
        // Taken not to match, the packet falls to the chain policy.
        assert_eq!(o.action, Action::Deny);
    }
    let other = probe("monitor to central station");
    assert!(
        d.decide(&other, Some("icu0"), Some("srv0"))
            .undecided
            .is_empty()
    );
}

// ------------------------------------------------------------ real packets

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Delivered,
    Refused,
    Dropped,
}

fn fate_of(action: Action) -> Fate {
    match action {
        Action::Allow => Fate::Delivered,
        Action::Deny => Fate::Dropped,
        Action::Reject => Fate::Refused,
    }
}

fn ip(ns: &Netns, args: &[&str]) {
    let mut full = vec!["-n", ns.name.as_str()];
    full.extend_from_slice(args);
    privileged::run("ip", &full);
}

fn sysctl(ns: &Netns, settings: &[&str]) {
    let mut args = vec!["-q", "-w"];
    args.extend_from_slice(settings);
    assert!(
        ns.exec("sysctl", &args).status.success(),
        "sysctl {settings:?}"
    );
}

/// A router with one bridge per interface name and one host namespace per
/// address (as tests/kernel.rs builds its topology).
struct Topology {
    router: Netns,
    hosts: BTreeMap<IpAddr, Netns>,
}

/// The fixture's topology: [`HOSTS`] behind their bridges, [`ROUTES`].
fn topology() -> Topology {
    let hosts: Vec<(IpAddr, String)> = HOSTS
        .iter()
        .map(|(a, i)| (a.parse().unwrap(), i.to_string()))
        .collect();
    let routes: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(p, i)| (p.to_string(), i.to_string()))
        .collect();
    build_topology(&["icu0", "med0", "srv0", "wan0"], &hosts, &routes)
}

/// A router with the interfaces `bridges`, a host namespace per `(address,
/// bridge)` and the routes `(prefix, bridge)`.
fn build_topology(
    bridges: &[&str],
    hosts: &[(IpAddr, String)],
    routes: &[(String, String)],
) -> Topology {
    let router = Netns::new("dr");
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
    for bridge in bridges {
        ip(
            &router,
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
        ip(&router, &["addr", "add", "192.0.2.1/32", "dev", bridge]);
        ip(
            &router,
            &["addr", "add", "fe80::1/64", "dev", bridge, "nodad"],
        );
        ip(&router, &["link", "set", bridge, "up"]);
    }
    for (prefix, dev) in routes {
        ip(&router, &["route", "add", prefix, "dev", dev]);
    }
    let mut by_addr = BTreeMap::new();
    for (i, (addr, bridge)) in hosts.iter().enumerate() {
        let addr = *addr;
        let host = Netns::new(&format!("dh{i}"));
        let port = format!("q{i}");
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
                "net.ipv6.conf.eth0.accept_dad=0",
                "net.ipv6.conf.all.accept_redirects=0",
            ],
        );
        ip(&host, &["link", "set", "lo", "up"]);
        ip(&host, &["link", "set", "eth0", "up"]);
        if addr.is_ipv4() {
            ip(
                &host,
                &["addr", "add", &format!("{addr}/32"), "dev", "eth0"],
            );
            ip(&host, &["route", "add", "192.0.2.1/32", "dev", "eth0"]);
            ip(
                &host,
                &["route", "add", "default", "via", "192.0.2.1", "dev", "eth0"],
            );
        } else {
            ip(
                &host,
                &[
                    "addr",
                    "add",
                    &format!("{addr}/128"),
                    "dev",
                    "eth0",
                    "nodad",
                ],
            );
            ip(
                &host,
                &[
                    "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0",
                ],
            );
        }
        by_addr.insert(addr, host);
    }
    Topology {
        router,
        hosts: by_addr,
    }
}

/// Moves the calling thread into a network namespace.
fn enter(ns: &str) {
    let file = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
    // SAFETY: a valid namespace fd; setns only affects this thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

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

/// TCP listeners and UDP echo servers on every fixture probe's destination.
fn listen(topo: &Topology) {
    let packets: Vec<Packet> = PROBES.iter().map(|(name, ..)| probe(name)).collect();
    listen_for(topo, &packets);
}

/// TCP listeners and UDP echo servers on the destination of every packet.
fn listen_for(topo: &Topology, packets: &[Packet]) {
    let mut seen = std::collections::BTreeSet::new();
    for p in packets {
        let (tcp, port) = match p.proto {
            wardwall::ir::Proto::Tcp { dport } => (true, dport),
            wardwall::ir::Proto::Udp { dport } => (false, dport),
            other => panic!("no listener for {other:?}"),
        };
        let dst = p.dst;
        if !seen.insert((dst, tcp, port)) {
            continue;
        }
        let ns = topo.hosts[&dst].name.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            enter(&ns);
            if tcp {
                let l = TcpListener::bind((dst, port)).unwrap();
                tx.send(()).unwrap();
                for c in l.incoming() {
                    drop(c);
                }
            } else {
                let s = UdpSocket::bind((dst, port)).unwrap();
                tx.send(()).unwrap();
                let mut buf = [0u8; 64];
                while let Ok((n, from)) = s.recv_from(&mut buf) {
                    let _ = s.send_to(&buf[..n], from);
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }
}

fn send(topo: &Topology, p: Packet) -> Fate {
    spawn_send(topo, p).join().unwrap()
}

/// Sends `p` from its source's namespace, in a thread.
fn spawn_send(topo: &Topology, p: Packet) -> thread::JoinHandle<Fate> {
    spawn_send_from(topo, p, 0)
}

/// As [`spawn_send`], a UDP probe from source port `sport` (0: any).
/// A fixed port per probe keeps one probe's flow from meeting another's
/// connection-tracking entry: the router's conntrack outlives a ruleset
/// flush, and its `ct state established` accept would pass a packet whose
/// tuple an earlier probe already opened.
fn spawn_send_from(topo: &Topology, p: Packet, sport: u16) -> thread::JoinHandle<Fate> {
    let ns = topo.hosts[&p.src].name.clone();
    thread::spawn(move || {
        enter(&ns);
        match p.proto {
            wardwall::ir::Proto::Tcp { dport } => {
                match TcpStream::connect_timeout(
                    &SocketAddr::new(p.dst, dport),
                    Duration::from_millis(3500),
                ) {
                    Ok(_) => Fate::Delivered,
                    Err(e) if is_refusal(&e) => Fate::Refused,
                    Err(_) => Fate::Dropped,
                }
            }
            wardwall::ir::Proto::Udp { dport } => {
                let s = UdpSocket::bind(SocketAddr::new(p.src, sport)).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(900)))
                    .unwrap();
                s.connect(SocketAddr::new(p.dst, dport)).unwrap();
                let mut buf = [0u8; 64];
                for _ in 0..3 {
                    let _ = s.send(b"ww");
                    match s.recv(&mut buf) {
                        Ok(_) => return Fate::Delivered,
                        Err(e) if is_refusal(&e) => return Fate::Refused,
                        Err(_) => {}
                    }
                }
                Fate::Dropped
            }
            other => panic!("no probe for {other:?}"),
        }
    })
}

/// The UDP source port of probe `i` in round `round`: distinct for
/// every probe of every round (see [`spawn_send_from`]).
fn probe_port(round: usize, i: usize) -> u16 {
    assert!(i < 64, "at most 64 probes a round");
    u16::try_from(40_000 + round * 64 + i).unwrap()
}

/// The router's connection-tracking entries between `p`'s addresses,
/// for a failure message: a stale entry explains a packet the ruleset
/// would drop.
fn conntrack_of(router: &Netns, p: &Packet) -> String {
    let out = router.exec("cat", &["/proc/net/nf_conntrack"]);
    let table = String::from_utf8_lossy(&out.stdout);
    let (src, dst) = (format!("src={} ", p.src), format!("dst={} ", p.dst));
    let lines: Vec<&str> = table
        .lines()
        .filter(|l| l.contains(&src) || l.contains(&dst))
        .collect();
    if lines.is_empty() {
        "none".to_string()
    } else {
        lines.join(" | ")
    }
}

/// Every fixture scenario in the kernel: the model read from its dumps
/// decides as expected, and as the kernel does with real packets.
#[test]
fn fixture_scenarios_decide_as_the_kernel_does_with_real_packets() {
    if !privileged::can_run("the nftables device reader with real packets") {
        return;
    }
    let topo = topology();
    listen(&topo);
    // Without a ruleset, every probe gets through: a drop is the ruleset's.
    nft(&topo.router, &["flush", "ruleset"]);
    for (name, ..) in PROBES {
        assert_eq!(
            send(&topo, probe(name)),
            Fate::Delivered,
            "topology: {name}"
        );
    }
    let mut wrong = Vec::new();
    for (round, s) in SCENARIOS.iter().enumerate() {
        let label = format!("{} {:?}", s.file, s.after);
        load(&topo.router, &fixture(s.file));
        for cmd in s.after {
            let args: Vec<&str> = cmd.split(' ').collect();
            nft(&topo.router, &args);
        }
        let (text, json) = dump(&topo.router);
        let d = read_both(&text, &json);
        check_expected(&label, &d, &text, &expectations(s.changed));
        let handles: Vec<_> = PROBES
            .iter()
            .enumerate()
            .map(|(i, (name, ..))| {
                let p = probe(name);
                let o = d.decide(&p, Some(iface(p.src)), Some(iface(p.dst)));
                assert!(o.undecided.is_empty(), "{label}: {name}");
                (
                    name,
                    p,
                    o.action,
                    spawn_send_from(&topo, p, probe_port(round, i)),
                )
            })
            .collect();
        for (name, p, action, handle) in handles {
            let fate = handle.join().unwrap();
            if fate != fate_of(action) {
                wrong.push(format!(
                    "{label}: {name}: the model says {action}, the kernel {fate:?}; router conntrack: {}",
                    conntrack_of(&topo.router, &p)
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ------------------------------------------------------------ kernel drift

/// The hospital's policy rendered, loaded into the kernel, changed there
/// with `nft` commands the way an operator drifts a router, dumped and
/// compared with `wardwall drift` (the engine and the CLI): each change
/// drifts by exactly the traffic it moves, named by the changed rule's
/// line (text dump) or handle (JSON dump), and real packets sent through
/// the router meet a fate that differs from the policy's exactly inside
/// the drift regions.
mod kernel_drift {
    use super::*;
    use wardwall::addrset::{AddrSet, IntervalSet};
    use wardwall::analysis::space::Space;
    use wardwall::diff::drift::{At, Comparison, DriftKind, compare};
    use wardwall::read::device::Origin;
    use wardwall::vocab::ServiceSet;

    fn addrs(list: &[&str]) -> AddrSet {
        AddrSet::from_nets(list.iter().map(|a| a.parse().unwrap()))
    }

    fn tcp(port: u16) -> ServiceSet {
        ServiceSet {
            tcp: IntervalSet::single(port),
            ..ServiceSet::default()
        }
    }

    fn udp(port: u16) -> ServiceSet {
        ServiceSet {
            udp: IntervalSet::single(port),
            ..ServiceSet::default()
        }
    }

    /// The decision a position of the model stands for.
    fn origin<'d>(d: &'d Device, at: &At) -> &'d Origin {
        match *at {
            At::Entry {
                layer,
                filter,
                entry,
            } => {
                &d.layers[layer].filters[filter].entries[entry]
                    .decision
                    .origin
            }
            At::Default { layer, filter } => &d.layers[layer].filters[filter].default.origin,
            At::Unfiltered { layer } => panic!("layer {layer} decides unfiltered"),
        }
    }

    /// The union of the regions of one kind.
    fn of_kind(c: &Comparison, kind: DriftKind) -> Space {
        c.regions
            .iter()
            .filter(|r| r.kind == kind)
            .fold(Space::empty(), |acc, r| acc.union(&r.space))
    }

    /// The 1-based line of the text dump holding `marker`, which must be
    /// on exactly one line.
    fn line_of(text: &str, marker: &str) -> usize {
        let lines: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(marker))
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(lines.len(), 1, "`{marker}` is on one line of the dump");
        lines[0]
    }

    /// The handle of the one rule of the kernel's ruleset holding `marker`
    /// (`nft -a list ruleset` prints it as `# handle N`).
    fn handle_of(ns: &Netns, marker: &str) -> String {
        let listed = nft(ns, &["-a", "list", "ruleset"]);
        let lines: Vec<&str> = listed.lines().filter(|l| l.contains(marker)).collect();
        assert_eq!(lines.len(), 1, "`{marker}`: {lines:?}");
        lines[0]
            .rsplit_once("# handle ")
            .unwrap_or_else(|| panic!("no handle on {}", lines[0]))
            .1
            .trim()
            .to_string()
    }

    /// `wardwall drift POLICY --device nftables=FILE --format json`.
    fn drift_cli(policy: &Path, file: &Path) -> (i32, serde_json::Value) {
        let ran = common::run([
            "drift".as_ref(),
            policy.as_os_str(),
            "--date".as_ref(),
            PROBE_DATE.as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
            "--device".as_ref(),
            format!("nftables={}", file.display()).as_ref(),
        ]);
        let json = serde_json::from_str(&ran.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", ran.stdout, ran.stderr));
        (ran.code, json)
    }

    /// Both dumps written to files in `dir`: (text file, JSON file).
    fn write_dumps(dir: &Path, text: &str, json: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let (t, j) = (dir.join("ruleset.txt"), dir.join("ruleset.json"));
        std::fs::write(&t, text).unwrap();
        std::fs::write(&j, json).unwrap();
        (t, j)
    }

    fn sample(c: &Comparison) -> Vec<(DriftKind, Option<Packet>)> {
        c.regions
            .iter()
            .map(|r| (r.kind, r.space.sample()))
            .collect()
    }

    /// Every shipped policy, rendered and loaded into a fresh namespace:
    /// neither dump drifts, by the engine and by the CLI (exit 0).
    #[test]
    fn every_shipped_policy_in_the_kernel_has_no_drift() {
        if !privileged::can_run("nftables drift on kernel dumps") {
            return;
        }
        for path in common::shipped_policies() {
            let ir = common::compile_ok(&path, PROBE_DATE);
            let files = common::render(&ir, Target::Nftables);
            let ns = Netns::new("dnft");
            load(&ns, &files[0].contents);
            let (text, json) = dump(&ns);
            for (form, dumped) in [("text", &text), ("JSON", &json)] {
                let c = compare(&ir, &device(dumped));
                assert!(
                    c.regions.is_empty(),
                    "{} ({form} dump): {:?}",
                    path.display(),
                    sample(&c)
                );
            }
            let dir = tempfile::tempdir().unwrap();
            let (t, j) = write_dumps(dir.path(), &text, &json);
            for file in [t, j] {
                let (code, report) = drift_cli(&path, &file);
                assert_eq!(code, 0, "{}: {report:#}", file.display());
                let findings = &report["devices"][0]["findings"];
                assert_eq!(findings.as_array().map(Vec::len), Some(0), "{report:#}");
            }
        }
    }

    /// Hosts of the hospital the probes below are sent between.
    const DRIFT_PROBES: &[(&str, &str, &str, &str)] = &[
        (
            "icu monitor waveforms",
            "10.20.1.10",
            "10.10.20.30",
            "udp/24105",
        ),
        (
            "v6 icu monitor waveforms",
            "fd42:1:0:200::110",
            "fd42:1:0:20::30",
            "udp/24105",
        ),
        (
            "icu monitor waveforms to .31",
            "10.20.1.10",
            "10.10.20.31",
            "udp/24105",
        ),
        (
            "contec monitor to central station",
            "10.20.8.5",
            "10.10.20.30",
            "tcp/515",
        ),
        (
            "contec monitor to .31",
            "10.20.8.5",
            "10.10.20.31",
            "tcp/515",
        ),
        (
            "icu monitor to contec 443",
            "10.20.1.10",
            "202.114.4.119",
            "tcp/443",
        ),
        (
            "icu monitor to contec 80",
            "10.20.1.10",
            "202.114.4.119",
            "tcp/80",
        ),
        (
            "contec monitor to contec 443",
            "10.20.8.5",
            "202.114.4.119",
            "tcp/443",
        ),
        ("icu monitor NTP", "10.20.1.10", "10.10.0.123", "udp/123"),
        ("icu monitor DNS", "10.20.1.10", "10.10.0.53", "udp/53"),
        ("staff web", "10.1.0.5", "198.51.100.7", "tcp/443"),
        ("guest to DNS server", "172.16.0.5", "10.10.0.53", "tcp/53"),
        (
            "icu monitor ssh to central station",
            "10.20.1.10",
            "10.10.20.30",
            "tcp/22",
        ),
    ];

    /// A router with the hospital's nftables interfaces and a host for
    /// every probe address, behind the interface its zone is bound to.
    fn hospital_topology(ir: &Ir, packets: &[(&str, Packet)]) -> Topology {
        let mut bridges: Vec<&str> = ir
            .zones
            .iter()
            .filter_map(|z| z.bindings.get("nftables").map(String::as_str))
            .collect();
        bridges.sort_unstable();
        bridges.dedup();
        let mut hosts: Vec<(IpAddr, String)> = Vec::new();
        for (_, p) in packets {
            for a in [p.src, p.dst] {
                if !hosts.iter().any(|(h, _)| *h == a) {
                    let at = place(ir, a).unwrap_or_else(|| panic!("{a} is in no bound zone"));
                    hosts.push((a, at.to_string()));
                }
            }
        }
        let routes: Vec<(String, String)> = hosts
            .iter()
            .map(|(a, i)| {
                let len = if a.is_ipv4() { 32 } else { 128 };
                (format!("{a}/{len}"), i.clone())
            })
            .collect();
        build_topology(&bridges, &hosts, &routes)
    }

    /// One change an operator makes to the running ruleset.
    struct Change {
        name: &'static str,
        /// The `nft` commands (each an argument list), given the handle
        /// lookup of the ruleset as loaded.
        commands: fn(&Netns) -> Vec<Vec<String>>,
        /// The traffic it moves: the regions of each kind, exactly.
        expected: fn() -> Vec<(DriftKind, Space)>,
        /// Pieces of the dump's lines that decide the moved traffic (one
        /// of them decides every region; each decides some region).
        deciding: &'static [&'static str],
        /// Layers the moved traffic meets (two for a second table).
        layers: usize,
    }

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    const CONTEC_OUT: &str = "\"wardwall deny contec-cms8000.out: \" drop";
    const WAVEFORMS_V4: &str =
        "ip saddr @c_icu_monitors_v4 ip daddr @c_central_station_v4 udp dport 24105";
    const DEFAULT_RULE: &str = "comment \"default: no rule matched\"";
    const CONTEC_TO_CENTRAL: &str =
        "ip saddr @c_contec_monitors_v4 ip daddr @c_central_station_v4 tcp dport 515";

    /// The clinical devices' IPv4 addresses (group clinical-devices).
    fn clinical_devices_v4() -> AddrSet {
        addrs(&[
            "10.20.1.0/24",
            "10.20.4.0/23",
            "10.20.8.0/25",
            "10.30.1.10/31",
            "10.30.2.10/32",
        ])
    }

    const CHANGES: &[Change] = &[
        Change {
            name: "(a) an accept inserted before the Contec block",
            commands: |ns| {
                let h = handle_of(ns, CONTEC_OUT);
                vec![args(&[
                    "insert",
                    "rule",
                    "inet",
                    "wardwall",
                    "forward",
                    "handle",
                    &h,
                    "iifname",
                    "\"icu0\"",
                    "ip",
                    "daddr",
                    "202.114.4.0/24",
                    "tcp",
                    "dport",
                    "443",
                    "accept",
                    "comment",
                    "\"vendor-temp\"",
                ])]
            },
            // Everything behind icu0 (the ICU zone without the quarantine
            // VLAN), to the Contec network on 443.
            expected: || {
                let icu = addrs(&["10.20.0.0/16"]).difference(&addrs(&["10.20.8.0/24"]));
                vec![(
                    DriftKind::Exposure,
                    Space::from_parts(&icu, &addrs(&["202.114.4.0/24"]), &tcp(443)),
                )]
            },
            deciding: &["comment \"vendor-temp\""],
            layers: 1,
        },
        Change {
            name: "(b) the IPv4 waveform allow deleted",
            commands: |ns| {
                let h = handle_of(ns, WAVEFORMS_V4);
                vec![args(&[
                    "delete", "rule", "inet", "wardwall", "forward", "handle", &h,
                ])]
            },
            expected: || {
                vec![(
                    DriftKind::Breakage,
                    Space::from_parts(
                        &addrs(&["10.20.1.0/24"]),
                        &addrs(&["10.10.20.30/32"]),
                        &udp(24105),
                    ),
                )]
            },
            deciding: &[DEFAULT_RULE],
            layers: 1,
        },
        Change {
            name: "(c) a second table whose forward chain drops NTP",
            commands: |_| {
                vec![
                    args(&["add", "table", "ip", "extra"]),
                    args(&[
                        "add", "chain", "ip", "extra", "lockdown", "{", "type", "filter", "hook",
                        "forward", "priority", "filter", "+", "10", ";", "policy", "accept", ";",
                        "}",
                    ]),
                    args(&[
                        "add",
                        "rule",
                        "ip",
                        "extra",
                        "lockdown",
                        "ip",
                        "daddr",
                        "10.10.0.123",
                        "udp",
                        "dport",
                        "123",
                        "counter",
                        "drop",
                        "comment",
                        "\"ntp-lockdown\"",
                    ]),
                ]
            },
            expected: || {
                vec![(
                    DriftKind::Breakage,
                    Space::from_parts(
                        &clinical_devices_v4(),
                        &addrs(&["10.10.0.123/32"]),
                        &udp(123),
                    ),
                )]
            },
            deciding: &["comment \"ntp-lockdown\""],
            layers: 2,
        },
        Change {
            name: "(d) an element added to the central station's set",
            commands: |_| {
                vec![args(&[
                    "add",
                    "element",
                    "inet",
                    "wardwall",
                    "c_central_station_v4",
                    "{",
                    "10.10.20.31",
                    "}",
                ])]
            },
            // Both rules that use the set now reach .31.
            expected: || {
                let to = addrs(&["10.10.20.31/32"]);
                let contec = Space::from_parts(&addrs(&["10.20.8.0/25"]), &to, &tcp(515));
                let waves = Space::from_parts(&addrs(&["10.20.1.0/24"]), &to, &udp(24105));
                vec![(DriftKind::Exposure, contec.union(&waves))]
            },
            deciding: &[CONTEC_TO_CENTRAL, WAVEFORMS_V4],
            layers: 1,
        },
    ];

    /// The regions of `c` are exactly `expected`, and each is decided by
    /// one of the lines (text dump) or handles (JSON dump) of `deciding`.
    fn check_regions(
        at: &str,
        d: &Device,
        c: &Comparison,
        change: &Change,
        deciding: &[(usize, String)],
        json: bool,
    ) {
        let expected = (change.expected)();
        for kind in [
            DriftKind::Exposure,
            DriftKind::Breakage,
            DriftKind::Undecidable,
        ] {
            let want = expected
                .iter()
                .filter(|(k, _)| *k == kind)
                .fold(Space::empty(), |acc, (_, s)| acc.union(s));
            let got = of_kind(c, kind);
            assert!(
                got.same_as(&want),
                "{at}: {kind:?}: got more {:?}, less {:?}",
                got.difference(&want).sample(),
                want.difference(&got).sample()
            );
        }
        let mut used = vec![false; deciding.len()];
        for r in &c.regions {
            assert_eq!(r.device.len(), change.layers, "{at}: {:?}", r.device);
            let o = origin(d, r.device.last().unwrap());
            let k = deciding
                .iter()
                .position(|(line, handle)| {
                    if json {
                        o.text.contains(&format!("rule handle {handle} in table"))
                    } else {
                        o.line == *line
                    }
                })
                .unwrap_or_else(|| panic!("{at}: decided by {o:?}, not by {deciding:?}"));
            used[k] = true;
        }
        assert!(used.iter().all(|u| *u), "{at}: {deciding:?} {used:?}");
    }

    /// The CLI on the same dump: exit 1, findings of the expected kinds
    /// only, each decided by one of the changed lines or handles.
    fn check_cli(at: &str, file: &Path, change: &Change, deciding: &[(usize, String)], json: bool) {
        let (code, report) = drift_cli(common::hospital(), file);
        assert_eq!(code, 1, "{at}: {report:#}");
        let findings = report["devices"][0]["findings"].as_array().unwrap();
        assert!(!findings.is_empty(), "{at}");
        let kinds: Vec<String> = (change.expected)()
            .iter()
            .map(|(k, _)| {
                serde_json::to_value(k)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        for f in findings {
            assert!(kinds.iter().any(|k| f["kind"] == k.as_str()), "{at}: {f:#}");
            let last = f["device"]["entries"].as_array().unwrap().last().unwrap();
            let named = deciding.iter().any(|(line, handle)| {
                if json {
                    last["text"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("rule handle {handle} in table"))
                } else {
                    last["line"] == *line
                }
            });
            assert!(named, "{at}: {f:#}");
        }
    }

    #[test]
    fn kernel_changes_drift_by_exactly_the_traffic_they_move() {
        if !privileged::can_run("nftables drift with real packets") {
            return;
        }
        let ir = common::compile_ok(common::hospital(), PROBE_DATE);
        let rendered = common::render(&ir, Target::Nftables)[0].contents.clone();
        let probes: Vec<(&str, Packet)> = DRIFT_PROBES
            .iter()
            .map(|(name, s, d, p)| (*name, Packet::parse(s, d, p).unwrap()))
            .collect();
        let topo = hospital_topology(&ir, &probes);
        let packets: Vec<Packet> = probes.iter().map(|(_, p)| *p).collect();
        listen_for(&topo, &packets);
        nft(&topo.router, &["flush", "ruleset"]);
        // The round after the last: ports no later probe reuses.
        let topology_round = CHANGES.len() + 1;
        for (i, (name, p)) in probes.iter().enumerate() {
            let fate = spawn_send_from(&topo, *p, probe_port(topology_round, i))
                .join()
                .unwrap();
            assert_eq!(fate, Fate::Delivered, "topology: {name}");
        }
        let unchanged = Change {
            name: "unchanged",
            commands: |_| Vec::new(),
            expected: Vec::new,
            deciding: &[],
            layers: 1,
        };
        let mut wrong = Vec::new();
        for (round, change) in std::iter::once(&unchanged).chain(CHANGES).enumerate() {
            let at = change.name;
            nft(&topo.router, &["flush", "ruleset"]);
            load(&topo.router, &rendered);
            for cmd in (change.commands)(&topo.router) {
                let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
                nft(&topo.router, &cmd);
            }
            let (text, json) = dump(&topo.router);
            let deciding: Vec<(usize, String)> = change
                .deciding
                .iter()
                .map(|m| (line_of(&text, m), handle_of(&topo.router, m)))
                .collect();
            let d = read_both(&text, &json);
            let c = compare(&ir, &d);
            check_regions(&format!("{at} (text)"), &d, &c, change, &deciding, false);
            let dj = device(&json);
            let cj = compare(&ir, &dj);
            check_regions(&format!("{at} (JSON)"), &dj, &cj, change, &deciding, true);
            if !change.deciding.is_empty() {
                let dir = tempfile::tempdir().unwrap();
                let (t, j) = write_dumps(dir.path(), &text, &json);
                check_cli(&format!("{at} (text)"), &t, change, &deciding, false);
                check_cli(&format!("{at} (JSON)"), &j, change, &deciding, true);
            }
            // Real packets: the kernel's fate differs from the policy's
            // verdict exactly where drift says it does.
            let handles: Vec<_> = probes
                .iter()
                .enumerate()
                .map(|(i, (name, p))| {
                    let sport = probe_port(round, i);
                    (name, p, spawn_send_from(&topo, *p, sport))
                })
                .collect();
            let mut inside = 0;
            for (name, p, handle) in handles {
                let fate = handle.join().unwrap();
                let policy = ir.evaluate(p).action;
                let differs = (fate == Fate::Delivered) != policy.permits();
                let drifted = c.regions.iter().any(|r| r.space.contains(p));
                inside += usize::from(drifted);
                if differs != drifted {
                    wrong.push(format!(
                        "{at}: {name} ({p}): the policy says {policy}, the kernel {fate:?}, drift region: {drifted}; router conntrack: {}",
                        conntrack_of(&topo.router, p)
                    ));
                }
            }
            if !change.deciding.is_empty() && inside == 0 {
                wrong.push(format!("{at}: no probe lies in the drift"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
