//! The Cisco IOS-XE target, checked by reading its output back with the
//! strict reader in `wardwall::read::cisco` and evaluating the
//! parsed ACLs first-match against the IR's reference evaluator.

use crate::common;

use std::net::IpAddr;
use std::path::Path;

use common::probes::{HOSPITAL_PROBES, PROBE_DATE};
use wardwall::ir::{Action, Ir, Packet, Proto, RuleOrigin};
use wardwall::read::cisco::{self as readback, AclPacket, AclProto, Config};
use wardwall::render::cisco::Cisco;
use wardwall::render::{Renderer, Templates};

fn compile(path: &Path) -> Ir {
    common::compile_ok(path, PROBE_DATE)
}

fn compile_text(kdl: &str) -> Ir {
    common::compile_text_ok("t.kdl", kdl, PROBE_DATE)
}

fn render(ir: &Ir) -> String {
    let files = Cisco.render(ir, &Templates::default()).expect("renders");
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0].path,
        Path::new("cisco").join(format!("{}.ios", ir.name))
    );
    files[0].contents.clone()
}

fn hospital() -> Ir {
    compile(common::hospital())
}

/// Every policy of the repository (shipped and test policies), in order.
fn policy_files() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for dir in ["policies", "tests/policies"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "kdl") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// One snapshot per policy: the IOS output, or the refusal (codes and
/// messages) when the cisco target cannot express the policy.
#[test]
fn snapshots_of_every_policy() {
    for path in policy_files() {
        let ir = compile(&path);
        let text = match Cisco.render(&ir, &Templates::default()) {
            Ok(files) => {
                let text = files[0].contents.clone();
                readback::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                text
            }
            Err(diags) => diags
                .iter()
                .map(|d| format!("refused: {}: {}\n", d.code, d.message))
                .collect(),
        };
        let name = format!("cisco__{}", path.file_stem().unwrap().to_string_lossy());
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false, description => path.display().to_string()}, {
            insta::assert_snapshot!(name, text);
        });
    }
}

// ------------------------------------------------------------------ helpers

const EPHEMERAL: u16 = 50000;

/// The cisco interface a packet from `src` enters on: the binding of the
/// zone that owns `src`.
fn ingress(ir: &Ir, src: IpAddr) -> Option<String> {
    ir.zone_of(src)
        .and_then(|z| z.bindings.get("cisco"))
        .cloned()
}

fn acl_packet(p: &Packet, sport: u16, ack: bool) -> AclPacket {
    AclPacket {
        src: p.src,
        dst: p.dst,
        proto: match p.proto {
            Proto::Tcp { dport } => AclProto::Tcp {
                sport,
                dport,
                ack_or_rst: ack,
            },
            Proto::Udp { dport } => AclProto::Udp { sport, dport },
            Proto::Icmp { ty } => AclProto::Icmp { ty },
            Proto::Other(n) => AclProto::Other(n),
        },
    }
}

fn family(ip: IpAddr) -> wardwall::ir::Family {
    if ip.is_ipv4() {
        wardwall::ir::Family::V4
    } else {
        wardwall::ir::Family::V6
    }
}

/// The reply type of an ICMP query type, from the protocol documents and
/// not from the renderer (whose `return_aces` this checks): echo 8 -> echo
/// reply 0, timestamp 13 -> 14, information 15 -> 16 (RFC 792), address mask
/// 17 -> 18 (RFC 950); ICMPv6 echo request 128 -> echo reply 129 (RFC 4443).
fn icmp_reply(ty: u8, family: wardwall::ir::Family) -> Option<u8> {
    use wardwall::ir::Family::{V4, V6};
    const REPLIES: &[(wardwall::ir::Family, u8, u8)] = &[
        (V4, 8, 0),
        (V4, 13, 14),
        (V4, 15, 16),
        (V4, 17, 18),
        (V6, 128, 129),
    ];
    REPLIES
        .iter()
        .find(|&&(f, q, _)| f == family && q == ty)
        .map(|&(_, _, r)| r)
}

/// The reply to a forward packet, as the responder sends it; `None` for
/// ICMP messages that have no reply.
fn reply_of(p: &Packet) -> Option<AclPacket> {
    let proto = match p.proto {
        Proto::Tcp { dport } => AclProto::Tcp {
            sport: dport,
            dport: EPHEMERAL,
            ack_or_rst: true,
        },
        Proto::Udp { dport } => AclProto::Udp {
            sport: dport,
            dport: EPHEMERAL,
        },
        Proto::Icmp { ty } => AclProto::Icmp {
            ty: icmp_reply(ty, family(p.src))?,
        },
        Proto::Other(n) => AclProto::Other(n),
    };
    Some(AclPacket {
        src: p.dst,
        dst: p.src,
        proto,
    })
}

fn parsed(ir: &Ir) -> Config {
    let text = render(ir);
    readback::parse(&text).unwrap_or_else(|e| {
        panic!(
            "{e}\n{}",
            text.lines().nth(e.line.saturating_sub(1)).unwrap_or("")
        )
    })
}

// ------------------------------------------------------------------ probes

#[test]
fn every_probe_gets_the_ir_verdict_on_its_ingress_acl_and_replies_pass() {
    let ir = hospital();
    let cfg = parsed(&ir);
    let interfaces: Vec<String> = cfg.interfaces.keys().cloned().collect();
    assert_eq!(interfaces.len(), 9, "one interface per hospital zone");
    let mut failures = Vec::new();
    for probe in HOSPITAL_PROBES {
        let packet = Packet::parse(probe.src, probe.dst, probe.proto).unwrap();
        let verdict = ir.evaluate(&packet);
        assert_eq!(
            ir.verdict_rule_name(&verdict),
            probe.expect_rule,
            "{}",
            probe.what
        );
        let iface = ingress(&ir, packet.src).expect("every hospital zone is bound");
        let fwd = acl_packet(&packet, EPHEMERAL, false);
        let got = cfg.evaluate(&iface, &fwd).expect("interface has an ACL");
        if got.permit != verdict.action.permits() {
            failures.push(format!(
                "{}: {packet} on {iface}: ACL {} seq {:?} says permit={}, IR says {}",
                probe.what, got.acl, got.seq, got.permit, verdict.action
            ));
        }
        // Not only the verdict: the entry that decides belongs to the rule
        // the IR names (read from the remark that opens its block).
        if got.rule.as_deref() != Some(probe.expect_rule) || got.reply {
            failures.push(format!(
                "{}: {packet} decided on {iface} by {:?} (reply={}), IR rule `{}`",
                probe.what, got.rule, got.reply, probe.expect_rule
            ));
        }
        if verdict.action.permits() {
            if let Some(reply) = reply_of(&packet) {
                let back = ingress(&ir, reply.src).unwrap();
                let r = cfg.evaluate(&back, &reply).unwrap();
                if !r.permit || !r.reply || r.rule.as_deref() != Some(probe.expect_rule) {
                    failures.push(format!(
                        "{}: reply {:?} on {back}: {} seq {:?} permit={} rule {:?} reply={}",
                        probe.what, reply, r.acl, r.seq, r.permit, r.rule, r.reply
                    ));
                }
            }
        } else {
            // Nothing else lets the packet through: no interface's ACL
            // permits it, whichever interface it were to arrive on.
            for other in &interfaces {
                let v = cfg.evaluate(other, &fwd).unwrap();
                if v.permit {
                    failures.push(format!(
                        "{}: denied {packet} is permitted on {other} by {} seq {:?}",
                        probe.what, v.acl, v.seq
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn contec_block_wins_over_every_return_entry() {
    let ir = hospital();
    let cfg = parsed(&ir);
    // Packets from the blocked subnet that look like replies to allowed
    // flows (staff web, resolvers' DNS) are still dropped.
    for (src, dst, proto) in [
        (
            "202.114.4.119",
            "10.40.1.1",
            AclProto::Tcp {
                sport: 443,
                dport: 50000,
                ack_or_rst: true,
            },
        ),
        (
            "202.114.4.119",
            "10.40.1.1",
            AclProto::Tcp {
                sport: 80,
                dport: 50000,
                ack_or_rst: true,
            },
        ),
        (
            "202.114.4.120",
            "10.10.0.53",
            AclProto::Udp {
                sport: 53,
                dport: 50000,
            },
        ),
        (
            "202.114.4.1",
            "172.16.0.5",
            AclProto::Udp {
                sport: 53,
                dport: 50000,
            },
        ),
        (
            "202.114.4.1",
            "10.30.1.10",
            AclProto::Tcp {
                sport: 443,
                dport: 50000,
                ack_or_rst: true,
            },
        ),
    ] {
        let p = AclPacket {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            proto,
        };
        let v = cfg.evaluate("GigabitEthernet0/0", &p).unwrap();
        assert!(!v.permit, "{p:?} permitted by {} seq {:?}", v.acl, v.seq);
    }
    // ... while the same reply from elsewhere on the internet passes.
    let ok = AclPacket {
        src: "8.8.8.8".parse().unwrap(),
        dst: "10.40.1.1".parse().unwrap(),
        proto: AclProto::Tcp {
            sport: 443,
            dport: 50000,
            ack_or_rst: true,
        },
    };
    assert!(cfg.evaluate("GigabitEthernet0/0", &ok).unwrap().permit);
    // A TCP SYN from the internet with source port 443 is not a reply.
    let syn = AclPacket {
        proto: AclProto::Tcp {
            sport: 443,
            dport: 50000,
            ack_or_rst: false,
        },
        ..ok
    };
    assert!(!cfg.evaluate("GigabitEthernet0/0", &syn).unwrap().permit);
}

// ------------------------------------------------------------------ random packets

/// A small seeded generator (xorshift64*): deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }
}

/// Addresses at and around every boundary the policy draws (zones, rule
/// endpoints), plus random ones, per family.
fn interesting_addrs(ir: &Ir) -> (Vec<IpAddr>, Vec<IpAddr>) {
    let mut sets: Vec<&wardwall::addrset::AddrSet> = ir.zones.iter().map(|z| &z.addrs).collect();
    for r in &ir.rules {
        sets.push(&r.src.addrs);
        sets.push(&r.dst.addrs);
    }
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for s in sets {
        for &(lo, hi) in s.v4.ranges() {
            for a in [
                lo,
                hi,
                lo.wrapping_sub(1),
                hi.wrapping_add(1),
                lo.wrapping_add(1),
            ] {
                v4.push(IpAddr::V4(a.into()));
            }
        }
        for &(lo, hi) in s.v6.ranges() {
            for a in [
                lo,
                hi,
                lo.wrapping_sub(1),
                hi.wrapping_add(1),
                lo.wrapping_add(1),
            ] {
                v6.push(IpAddr::V6(a.into()));
            }
        }
    }
    v4.sort();
    v4.dedup();
    v6.sort();
    v6.dedup();
    (v4, v6)
}

fn interesting_ports(ir: &Ir) -> Vec<u16> {
    let mut ports = vec![0, 1, 1023, 1024, 49151, 49152, 65535, EPHEMERAL];
    for r in &ir.rules {
        for set in [&r.service.set.tcp, &r.service.set.udp] {
            for &(lo, hi) in set.ranges() {
                ports.extend([lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)]);
            }
        }
    }
    ports.sort();
    ports.dedup();
    ports
}

/// What the Cisco output must do with a packet arriving on its source's
/// interface, stated from the IR alone: advisory blocks drop it; a packet
/// shaped like a reply of an IR-permitted flow is permitted (the stateless
/// return entries: TCP with ACK/RST from the service port, UDP from the
/// service port, ICMP query replies, other protocols in reverse);
/// IPv6 neighbour discovery the IR does not decide is permitted; otherwise
/// the IR's forward verdict.
fn expected(ir: &Ir, p: &AclPacket) -> bool {
    let fwd = Packet {
        src: p.src,
        dst: p.dst,
        proto: match p.proto {
            AclProto::Tcp { dport, .. } => Proto::Tcp { dport },
            AclProto::Udp { dport, .. } => Proto::Udp { dport },
            AclProto::Icmp { ty } => Proto::Icmp { ty },
            AclProto::Other(n) => Proto::Other(n),
        },
    };
    let v = ir.evaluate(&fwd);
    if v.rule
        .is_some_and(|i| matches!(ir.rules[i].origin, RuleOrigin::AdvisoryBlock { .. }))
    {
        return false;
    }
    let reverse = |proto| {
        ir.evaluate(&Packet {
            src: p.dst,
            dst: p.src,
            proto,
        })
        .action
            == Action::Allow
    };
    let reply_ok = match p.proto {
        AclProto::Tcp {
            sport,
            ack_or_rst: true,
            ..
        } => reverse(Proto::Tcp { dport: sport }),
        AclProto::Tcp { .. } => false,
        AclProto::Udp { sport, .. } => reverse(Proto::Udp { dport: sport }),
        AclProto::Icmp { ty } => (0..=255u8)
            .filter(|&q| icmp_reply(q, family(p.src)) == Some(ty))
            .any(|q| reverse(Proto::Icmp { ty: q })),
        AclProto::Other(n) => reverse(Proto::Other(n)),
    };
    if reply_ok {
        return true;
    }
    if p.src.is_ipv6() && matches!(p.proto, AclProto::Icmp { ty: 135 | 136 }) && v.rule.is_none() {
        return true;
    }
    v.action.permits()
}

fn random_packets_agree(ir: &Ir, seed: u64, count: usize) {
    let cfg = parsed(ir);
    let (v4, v6) = interesting_addrs(ir);
    let ports = interesting_ports(ir);
    let mut rng = Rng(seed);
    let mut checked = 0;
    let mut permitted = 0;
    let mut failures = Vec::new();
    for _ in 0..count {
        let (src, dst) = if rng.below(2) == 0 && !v4.is_empty() {
            let a = |rng: &mut Rng, v: &[IpAddr]| {
                if rng.below(4) == 0 {
                    IpAddr::V4((rng.next() as u32).into())
                } else {
                    rng.pick(v)
                }
            };
            (a(&mut rng, &v4), a(&mut rng, &v4))
        } else {
            let a = |rng: &mut Rng, v: &[IpAddr]| {
                if rng.below(4) == 0 || v.is_empty() {
                    IpAddr::V6((u128::from(rng.next()) << 64 | u128::from(rng.next())).into())
                } else {
                    rng.pick(v)
                }
            };
            (a(&mut rng, &v6), a(&mut rng, &v6))
        };
        let port = |rng: &mut Rng| {
            if rng.below(3) == 0 {
                rng.next() as u16
            } else {
                rng.pick(&ports)
            }
        };
        let proto = match rng.below(4) {
            0 => AclProto::Tcp {
                sport: port(&mut rng),
                dport: port(&mut rng),
                ack_or_rst: rng.below(2) == 0,
            },
            1 => AclProto::Udp {
                sport: port(&mut rng),
                dport: port(&mut rng),
            },
            2 => AclProto::Icmp {
                ty: rng.pick(&[0u8, 3, 8, 11, 13, 14, 15, 16, 1, 2, 128, 129, 135, 136, 200]),
            },
            _ => AclProto::Other(rng.pick(&[2u8, 47, 50, 51, 89, 0, 255, 132])),
        };
        let p = AclPacket { src, dst, proto };
        let Some(iface) = ingress(ir, src) else {
            continue;
        };
        let got = cfg
            .evaluate(&iface, &p)
            .expect("bound interface has an ACL");
        let want = expected(ir, &p);
        // An entry that is not a return entry decides exactly as the IR's
        // first matching rule (neighbour-discovery permits aside).
        if !got.reply
            && let Some(rule) = &got.rule
        {
            let fwd = Packet {
                src: p.src,
                dst: p.dst,
                proto: match p.proto {
                    AclProto::Tcp { dport, .. } => Proto::Tcp { dport },
                    AclProto::Udp { dport, .. } => Proto::Udp { dport },
                    AclProto::Icmp { ty } => Proto::Icmp { ty },
                    AclProto::Other(n) => Proto::Other(n),
                },
            };
            let ir_rule = ir.verdict_rule_name(&ir.evaluate(&fwd));
            if rule != ir_rule && failures.len() < 20 {
                failures.push(format!(
                    "{p:?} on {iface}: decided by `{rule}`, IR by `{ir_rule}`"
                ));
            }
        }
        checked += 1;
        permitted += usize::from(got.permit);
        if got.permit != want && failures.len() < 20 {
            failures.push(format!(
                "{p:?} on {iface}: ACL {} seq {:?} permit={}, expected {want}",
                got.acl, got.seq, got.permit
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        checked > count / 2,
        "too few packets had an ingress interface"
    );
    assert!(
        permitted > 0,
        "the generator never hit a permit: it proves nothing"
    );
}

#[test]
fn random_packets_agree_with_the_ir_on_the_hospital_policy() {
    random_packets_agree(&hospital(), 0x5EED_0001, 40_000);
}

#[test]
fn random_packets_agree_with_the_ir_on_the_edge_policy() {
    random_packets_agree(
        &compile(Path::new("tests/policies/cisco-edge.kdl")),
        0x5EED_0002,
        40_000,
    );
}

// ------------------------------------------------------------------ free text

fn kdl_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A small policy whose free-text fields all carry `text`.
fn text_policy(text: &str) -> String {
    let t = kdl_string(text);
    format!(
        r#"
policy "injection" {{
    description {t}
}}
zone "a" {{
    description {t}
    prefix "10.1.0.0/16" "2001:db8:1::/48"
    interface cisco="Vlan1"
}}
zone "b" {{
    prefix "10.2.0.0/16"
    interface cisco="Vlan2"
}}
zone "rest" {{
    residual #true
    interface cisco="GigabitEthernet0/0"
}}
class "h" {{
    zone "b"
    description {t}
    address "10.2.0.5" "10.2.0.9"
}}
service "svc" {{
    description {t}
    tcp 443
}}
rules {{
    deny "d" {{
        description {t}
        owner {t}
        ticket {t}
        from "a"
        to "10.2.0.9"
        service "any"
        exception "e" {{
            description {t}
            from "10.1.2.0/24"
            to "10.2.0.9"
            service "svc"
        }}
    }}
    allow "x" {{
        description {t}
        owner {t}
        ticket {t}
        from "a"
        to "h" "rest"
        service "svc" "ping"
        log #true
    }}
}}
"#
    )
}

/// The final router state without remarks: what the entries do.
fn entries_only(cfg: &Config) -> String {
    let mut out = String::new();
    for (name, acl) in &cfg.acls {
        out.push_str(&format!("{name} {:?}\n", acl.family));
        for e in &acl.entries {
            out.push_str(&format!("{e:?}\n"));
        }
    }
    out.push_str(&format!(
        "{:?}\n{:?}\n{:?}\n",
        cfg.groups, cfg.services, cfg.interfaces
    ));
    out
}

#[test]
fn free_text_never_adds_removes_or_changes_an_entry() {
    let baseline_ir = compile_text(&text_policy("x"));
    let baseline_text = render(&baseline_ir);
    let baseline = readback::parse(&baseline_text).unwrap();
    assert!(
        baseline
            .acls
            .values()
            .map(|a| a.entries.len())
            .sum::<usize>()
            > 10
    );
    let long = "permit ip any any ".repeat(17);
    let texts = [
        "\"quoted\" 'single'",
        "<script>&amp; </acl>",
        "# not a comment",
        "! looks like a comment",
        "!",
        "a; permit ip any any log; end",
        "back\\slash \\n not a newline",
        "permit ip any any",
        "end",
        "exit",
        "interface Vlan1",
        "no ip access-list extended WW-a-IN4",
        "10 permit ip any any",
        "what? help? ?",
        "Überwachung – Intensivstation ✓ 病房",
        long.as_str(),
        "     leading and trailing spaces     ",
    ];
    for text in texts {
        let ir = compile_text(&text_policy(text));
        let out = render(&ir);
        let cfg = readback::parse(&out).unwrap_or_else(|e| panic!("text {text:?}: {e}"));
        assert_eq!(
            entries_only(&cfg),
            entries_only(&baseline),
            "text {text:?} changed what the ACLs do"
        );
        // Same number of lines: text never splits a line or adds one.
        assert_eq!(
            out.lines().count(),
            baseline_text.lines().count(),
            "text {text:?}"
        );
        for line in out.lines() {
            assert!(line.is_ascii(), "non-ASCII line {line:?}");
            if let Some((_, remark)) = line.split_once("remark ") {
                assert!(remark.len() <= 100, "remark too long: {line:?}");
                assert!(
                    !remark.starts_with('!') && !remark.contains('?'),
                    "{line:?}"
                );
            }
        }
    }
}

// ------------------------------------------------------------------ refusals

fn render_err(kdl: &str) -> Vec<wardwall::diagnostics::Diagnostic> {
    let ir = compile_text(kdl);
    Cisco
        .render(&ir, &Templates::default())
        .expect_err("the cisco target must refuse")
}

const TWO_ZONES: &str = r#"
zone "a" {
    prefix "10.1.0.0/16"
    interface cisco="Vlan1"
}
zone "b" {
    prefix "10.2.0.0/16"
    interface nftables="b0"
}
zone "rest" {
    residual #true
    interface cisco="GigabitEthernet0/0"
}
"#;

#[test]
fn allowing_every_protocol_is_refused_with_the_rules_span() {
    let kdl = format!(
        "{TWO_ZONES}\nrules {{\n    allow \"wide\" {{\n        from \"a\"\n        to \"rest\"\n        service \"any\"\n    }}\n}}\n"
    );
    let errs = render_err(&kdl);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].code, "cisco-allow-any-protocol");
    assert!(errs[0].message.contains("`wide`"));
    let span = errs[0].primary.as_ref().expect("points at the rule").span;
    assert_eq!(&kdl[span.offset..span.offset + 12], "allow \"wide\"");
}

#[test]
fn traffic_from_a_zone_without_a_cisco_interface_is_refused() {
    let kdl = format!(
        "{TWO_ZONES}\nrules {{\n    allow \"from-b\" {{\n        from \"b\"\n        to \"a\"\n        service \"https\"\n    }}\n}}\n"
    );
    let errs = render_err(&kdl);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].code, "unplaced");
    assert!(errs[0].message.contains("zone `b`"), "{}", errs[0].message);
    // Replies that would have to enter on the unbound zone: refused too.
    let kdl = format!(
        "{TWO_ZONES}\nrules {{\n    allow \"to-b\" {{\n        from \"a\"\n        to \"b\"\n        service \"https\"\n    }}\n}}\n"
    );
    let errs = render_err(&kdl);
    assert_eq!(errs[0].code, "unplaced");
    assert!(
        errs[0]
            .message
            .contains("destinations (where its replies come from)"),
        "{}",
        errs[0].message
    );
}

#[test]
fn a_deny_from_an_unbound_zone_needs_no_entry() {
    let kdl = format!(
        "{TWO_ZONES}\nrules {{\n    deny \"b-out\" {{\n        from \"b\"\n        to \"rest\"\n        service \"any\"\n    }}\n}}\n"
    );
    let ir = compile_text(&kdl);
    let cfg = parsed(&ir);
    assert_eq!(cfg.interfaces.len(), 2);
    assert!(
        cfg.acls
            .values()
            .all(|a| a.entries.iter().all(|e| !e.permit || e.icmp.is_some()))
    );
}

#[test]
fn a_policy_without_cisco_bindings_and_without_allows_renders_no_acl() {
    let ir = compile_text("policy \"empty\" {\n    deny-all #true\n}\n");
    let cfg = parsed(&ir);
    assert!(cfg.acls.is_empty() && cfg.interfaces.is_empty());
}

#[test]
fn two_zones_on_one_interface_share_its_acls_and_keep_their_own_verdicts() {
    let ir = compile_text(
        r#"
zone "a" {
    prefix "10.1.0.0/16"
    interface cisco="Vlan1"
}
zone "b" {
    prefix "10.2.0.0/16"
    interface cisco="Vlan1"
}
zone "rest" {
    residual #true
    interface cisco="GigabitEthernet0/0"
}
rules {
    allow "a-web" {
        from "a"
        to "rest"
        service "https"
    }
    allow "b-ssh" {
        from "b"
        to "rest"
        service "ssh"
    }
}
"#,
    );
    let cfg = parsed(&ir);
    let interfaces: Vec<&String> = cfg.interfaces.keys().collect();
    assert_eq!(interfaces, ["GigabitEthernet0/0", "Vlan1"]);
    // Each zone's own rule, and not the other's, on the shared ACLs.
    for (src, service, permit) in [
        ("10.1.0.5", "tcp/443", true),
        ("10.1.0.5", "tcp/22", false),
        ("10.2.0.5", "tcp/22", true),
        ("10.2.0.5", "tcp/443", false),
    ] {
        let packet = Packet::parse(src, "192.0.2.7", service).unwrap();
        assert_eq!(ir.evaluate(&packet).action.permits(), permit);
        let got = cfg
            .evaluate("Vlan1", &acl_packet(&packet, EPHEMERAL, false))
            .unwrap();
        assert_eq!(got.permit, permit, "{packet}: {got:?}");
        let reply = reply_of(&packet).unwrap();
        let back = cfg.evaluate("GigabitEthernet0/0", &reply).unwrap();
        assert_eq!(back.permit, permit, "reply of {packet}: {back:?}");
    }
}

// ------------------------------------------------------------------ output shape

#[test]
fn output_is_byte_stable_and_a_one_rule_change_is_a_local_diff() {
    let ir = hospital();
    assert_eq!(render(&ir), render(&ir));
    let base = std::fs::read_to_string("policies/hospital.kdl").unwrap();
    let changed = base.replace(
        "    allow \"vendor-jump-to-modalities\" {",
        "    allow \"jump-host-ntp\" {\n        from \"vendor-jump-host\"\n        to \"ntp-servers\"\n        service \"ntp\"\n    }\n\n    allow \"vendor-jump-to-modalities\" {",
    );
    assert_ne!(base, changed);
    let dir = tempfile::tempdir().unwrap();
    crate::common::copy_includes(dir.path());
    let path = dir.path().join("hospital.kdl");
    std::fs::write(&path, changed).unwrap();
    let (a, b) = (render(&ir), render(&compile(&path)));
    let diff = similar::TextDiff::from_lines(&a, &b);
    let changed_lines: Vec<String> = diff
        .iter_all_changes()
        .filter(|c| c.tag() != similar::ChangeTag::Equal)
        .map(|c| format!("{}{}", c.tag(), c.value()))
        .collect();
    // Only the vendor-access ACL (the rule) and the infrastructure ACL
    // (its replies) change, plus the version line; every other ACL keeps
    // its text and its versioned name.
    assert!(changed_lines.iter().any(|l| l.contains("jump-host-ntp")));
    let (ca, cb) = (readback::parse(&a).unwrap(), readback::parse(&b).unwrap());
    for name in ca.acls.keys() {
        let changed = ca.acls[name] != cb.acls[name];
        let expected = name == "WW-vendor-access-IN4" || name == "WW-infrastructure-IN4";
        assert_eq!(changed, expected, "ACL {name}");
        if !changed {
            // Same text, same versioned name.
            let staged = |text: &str| {
                text.lines()
                    .find(|l| l.contains(&format!(" {name}-")))
                    .map(str::to_string)
            };
            assert_eq!(
                staged(&a),
                staged(&b),
                "{name} should keep its versioned name"
            );
        }
    }
    // Within the two changed ACLs, entries after the insert are renumbered
    // (sequence numbers are by position, spaced by 10); nothing else moves.
    let limit = 2
        * (ca.acls["WW-vendor-access-IN4"].entries.len()
            + ca.acls["WW-vendor-access-IN4"].remarks.len()
            + ca.acls["WW-infrastructure-IN4"].entries.len()
            + ca.acls["WW-infrastructure-IN4"].remarks.len())
        * 2
        + 20;
    assert!(changed_lines.len() < limit, "{}", changed_lines.join(""));
}

// ------------------------------------------------------------------ service groups

/// A policy for the service-group form: a service with ports, ranges,
/// TCP and UDP, named and numeric ICMP types, ICMPv6 and GRE; one with
/// every TCP port; one with every ICMP type; eleven ports of one protocol;
/// a small service; the mixed service in a logged deny and an allow.
const SERVICE_GROUPS: &str = r#"
policy "cisco-services"
zone "a" {
    prefix "10.1.0.0/16" "2001:db8:1::/48"
    interface cisco="Vlan1"
}
zone "b" {
    prefix "10.2.0.0/16" "2001:db8:2::/48"
    interface cisco="Vlan2"
}
zone "rest" {
    residual #true
    interface cisco="GigabitEthernet0/0"
}
service "mixed" {
    tcp 80 443 "8000-8010"
    udp 53 "6000-6001"
    icmpv4 8 1 13 3
    icmpv6 "echo-request"
    protocol "gre"
}
service "all-tcp-dns" {
    tcp
    udp 53
}
service "all-icmp-ntp" {
    icmpv4
    udp 123
}
service "eleven" {
    tcp 1 3 5 7 9 11 13 15 17 19 21
}
service "small" {
    tcp 80 443 8443
}
rules {
    deny "quarantine-no-mixed" {
        from "10.2.9.0/24"
        to "a"
        service "mixed"
        log #true
    }
    allow "b-to-a-mixed" {
        from "b"
        to "a"
        service "mixed"
    }
    allow "b-to-a-all-tcp" {
        from "b"
        to "10.1.1.0/24"
        service "all-tcp-dns"
    }
    allow "a-to-rest-icmp" {
        from "a"
        to "rest"
        service "all-icmp-ntp"
    }
    allow "b-to-rest-eleven" {
        from "b"
        to "rest"
        service "eleven"
    }
    allow "a-to-b-small" {
        from "a"
        to "b"
        service "small"
    }
}
"#;

/// The forward (non-return) entries of `rule` in ACL `acl`.
fn forward_entries<'a>(cfg: &'a Config, acl: &str, rule: &str) -> Vec<&'a readback::Entry> {
    cfg.acls[acl]
        .entries
        .iter()
        .filter(|e| !e.reply && e.rule.as_deref() == Some(rule))
        .collect()
}

fn group_members<'a>(cfg: &'a Config, e: &readback::Entry) -> &'a [readback::ServiceMember] {
    match &e.proto {
        readback::Proto::Group(g) => &cfg.services[g].members,
        other => panic!("expected a service group entry, found {other:?}"),
    }
}

#[test]
fn services_that_need_several_entries_become_one_service_group_entry() {
    use readback::{Ports, Proto as P, ServiceMember as M};
    let ir = compile_text(SERVICE_GROUPS);
    let text = render(&ir);
    let cfg = readback::parse(&text).unwrap();

    // The mixed service: one group entry (ports, ranges, tcp and udp, the
    // ICMP types IOS names), then the numeric ICMP type and GRE as plain
    // entries of the same block.
    let mixed = forward_entries(&cfg, "WW-b-IN4", "b-to-a-mixed");
    assert_eq!(mixed.len(), 3, "{mixed:#?}");
    assert_eq!(
        group_members(&cfg, mixed[0]),
        [
            M::Tcp(Ports::Eq(vec![80])),
            M::Tcp(Ports::Eq(vec![443])),
            M::Tcp(Ports::Range(8000, 8010)),
            M::Udp(Ports::Eq(vec![53])),
            M::Udp(Ports::Eq(vec![6000])),
            M::Udp(Ports::Eq(vec![6001])),
            M::Icmp(Some(3)),
            M::Icmp(Some(8)),
            M::Icmp(Some(13)),
        ]
    );
    assert!(mixed[0].permit && !mixed[0].log);
    assert_eq!((&mixed[1].proto, mixed[1].icmp), (&P::Icmp, Some(1)));
    assert_eq!(mixed[2].proto, P::Number(47));
    // The logged deny of the same service uses the same group, with `log`.
    let deny = forward_entries(&cfg, "WW-b-IN4", "quarantine-no-mixed");
    assert_eq!(deny[0].proto, mixed[0].proto);
    assert!(!deny[0].permit && deny[0].log);
    // IPv6 keeps plain entries (no service groups in IPv6 ACLs).
    let v6 = forward_entries(&cfg, "WW-b-IN6", "b-to-a-mixed");
    assert!(!v6.is_empty());
    assert!(
        v6.iter().all(|e| !matches!(e.proto, P::Group(_))),
        "{v6:#?}"
    );

    let all_tcp = forward_entries(&cfg, "WW-b-IN4", "b-to-a-all-tcp");
    assert_eq!(all_tcp.len(), 1);
    assert_eq!(
        group_members(&cfg, all_tcp[0]),
        [M::Tcp(Ports::All), M::Udp(Ports::Eq(vec![53]))]
    );
    let all_icmp = forward_entries(&cfg, "WW-a-IN4", "a-to-rest-icmp");
    assert_eq!(all_icmp.len(), 1);
    assert_eq!(
        group_members(&cfg, all_icmp[0]),
        [M::Udp(Ports::Eq(vec![123])), M::Icmp(None)]
    );
    let eleven = forward_entries(&cfg, "WW-b-IN4", "b-to-rest-eleven");
    assert_eq!(eleven.len(), 1);
    assert_eq!(
        group_members(&cfg, eleven[0]),
        (0..11u16)
            .map(|i| M::Tcp(Ports::Eq(vec![2 * i + 1])))
            .collect::<Vec<_>>()
    );
    // A service one entry can carry stays one plain entry.
    let small = forward_entries(&cfg, "WW-a-IN4", "a-to-b-small");
    assert_eq!(small.len(), 1);
    assert_eq!(
        (&small[0].proto, &small[0].dport),
        (&P::Tcp, &Ports::Eq(vec![80, 443, 8443]))
    );

    // Return entries never use a service group; each group is defined
    // once, before the first entry that names it, and every group is used.
    for acl in cfg.acls.values() {
        assert!(
            acl.entries
                .iter()
                .all(|e| !e.reply || !matches!(e.proto, P::Group(_)))
        );
    }
    for (name, group) in &cfg.services {
        let def = format!("object-group service {name}\n");
        assert_eq!(text.matches(&def).count(), 1, "{name}");
        // Each member reads back to its own line.
        let body: Vec<&str> = text[text.find(&def).unwrap() + def.len()..]
            .lines()
            .take_while(|l| l.starts_with(' '))
            .filter(|l| !l.starts_with(" description "))
            .collect();
        let shown: Vec<String> = group.members.iter().map(|m| format!(" {m}")).collect();
        assert_eq!(body, shown, "{name}");
        let first_use = text.find(&format!("object-group {name} ")).unwrap();
        assert!(text.find(&def).unwrap() < first_use, "{name}");
    }
    assert_eq!(cfg.services.len(), 4);
}

#[test]
fn random_packets_agree_with_the_ir_on_the_service_group_policy() {
    random_packets_agree(&compile_text(SERVICE_GROUPS), 0x5EED_0003, 40_000);
}

/// The evaluation really reads the group's members: dropping one member
/// from the file changes the verdict for exactly that service.
#[test]
fn a_missing_group_member_is_caught_by_the_exact_semantics() {
    let ir = compile_text(SERVICE_GROUPS);
    let text = render(&ir);
    let cfg = readback::parse(&text).unwrap();
    let packet = AclPacket {
        src: "10.2.3.4".parse().unwrap(),
        dst: "10.1.7.7".parse().unwrap(),
        proto: AclProto::Udp {
            sport: EPHEMERAL,
            dport: 6001,
        },
    };
    assert!(expected(&ir, &packet));
    let v = cfg.evaluate("Vlan2", &packet).unwrap();
    assert!(v.permit);
    // The deciding entry names the group; the member that matched is
    // available to `explain`, in the file's own words.
    let e = cfg.acls[&v.acl]
        .entries
        .iter()
        .find(|e| Some(e.seq) == v.seq)
        .unwrap();
    let m = cfg.matching_member(e, &packet).unwrap();
    assert_eq!(m.to_string(), "udp eq 6001");
    assert!(text.contains(&format!("\n {m}\n")));
    let tcp = AclPacket {
        proto: AclProto::Tcp {
            sport: EPHEMERAL,
            dport: 8005,
            ack_or_rst: false,
        },
        ..packet
    };
    assert_eq!(
        cfg.matching_member(e, &tcp).unwrap().to_string(),
        "tcp range 8000 8010"
    );
    let other = AclPacket {
        proto: AclProto::Udp {
            sport: EPHEMERAL,
            dport: 6002,
        },
        ..packet
    };
    assert_eq!(cfg.matching_member(e, &other), None);
    let name = match &forward_entries(&cfg, "WW-b-IN4", "b-to-a-mixed")[0].proto {
        readback::Proto::Group(g) => g.clone(),
        _ => unreachable!(),
    };
    let def = format!("object-group service {name}\n");
    let at = text.find(&def).unwrap() + def.len();
    let member = " udp eq 6001\n";
    let offset = text[at..].find(member).unwrap();
    let mut broken = text.clone();
    broken.replace_range(at + offset..at + offset + member.len(), "");
    let cfg = readback::parse(&broken).unwrap();
    let v = cfg.evaluate("Vlan2", &packet).unwrap();
    assert!(!v.permit, "without the member the packet must be denied");
}

#[test]
fn hospital_services_that_need_several_entries_use_service_groups() {
    use readback::{Ports, ServiceMember as M};
    let cfg = parsed(&hospital());
    // hl7-mllp + hl7-listeners: a port and a range.
    let hl7 = forward_entries(&cfg, "WW-clinical-apps-IN4", "clinical-apps-to-hl7");
    assert_eq!(hl7.len(), 1);
    assert_eq!(
        group_members(&cfg, hl7[0]),
        [
            M::Tcp(Ports::Eq(vec![2575])),
            M::Tcp(Ports::Range(6661, 6670))
        ]
    );
    // dns + ntp: tcp and udp.
    let dns = forward_entries(&cfg, "WW-icu-devices-IN4", "devices-to-dns-ntp");
    assert_eq!(dns.len(), 1);
    assert_eq!(
        group_members(&cfg, dns[0]),
        [
            M::Tcp(Ports::Eq(vec![53])),
            M::Udp(Ports::Eq(vec![53])),
            M::Udp(Ports::Eq(vec![123]))
        ]
    );
    // dicom + dicom-tls: three tcp ports fit one plain entry.
    let pacs = forward_entries(&cfg, "WW-imaging-IN4", "modalities-to-pacs");
    assert!(!pacs.is_empty());
    assert!(
        pacs.iter()
            .all(|e| e.proto == readback::Proto::Tcp
                && matches!(&e.dport, Ports::Eq(v) if v.len() == 3)),
        "{pacs:#?}"
    );
    // Their replies stay explicit return entries.
    for rule in ["clinical-apps-to-hl7", "devices-to-dns-ntp"] {
        let replies: Vec<_> = cfg
            .acls
            .values()
            .flat_map(|a| &a.entries)
            .filter(|e| e.reply && e.rule.as_deref() == Some(rule))
            .collect();
        assert!(!replies.is_empty(), "{rule}");
        assert!(
            replies
                .iter()
                .all(|e| !matches!(e.proto, readback::Proto::Group(_)))
        );
    }
}

#[test]
fn the_reader_refuses_what_wardwall_does_not_emit() {
    let good = render(&hospital());
    readback::parse(&good).unwrap();
    let mutate = |from: &str, to: &str| {
        assert!(good.contains(from), "{from}");
        good.replacen(from, to, 1)
    };
    let first_v6 = good
        .lines()
        .find(|l| l.starts_with("ipv6 access-list "))
        .unwrap();
    let cases = [
        // A netmask where a wildcard belongs (and the other way round).
        mutate("202.114.4.0 0.0.0.255", "202.114.4.0 255.255.255.0"),
        mutate(" 10.10.20.50 255.255.255.254\n", " 10.10.20.50 0.0.0.1\n"),
        // Host bits under the wildcard.
        mutate("202.114.4.0 0.0.0.255", "202.114.4.7 0.0.0.255"),
        // Eleven ports on one eq.
        mutate("eq 80 443", "eq 80 443 1 2 3 4 5 6 7 8 9"),
        // Tabs, double indentation, trailing space.
        mutate("\n 100 remark", "\n\t100 remark"),
        mutate("\n 100 remark", "\n  100 remark"),
        mutate(" log\n", " log \n"),
        // Unknown commands, options and keywords.
        mutate("end\n", "end\nwrite memory\n"),
        mutate(" established\n", " established fragments\n"),
        mutate("\nend\n", "\n"),
        mutate(" eq 53 ", " eq domain "),
        // Deleting an ACL while it is bound; binding one that does not exist.
        mutate(
            "! ---- phase 2: stable ACLs\n",
            "! ---- phase 2: stable ACLs\nno ip access-list extended WW-corporate-IN4-",
        ),
        mutate(
            " ip access-group WW-corporate-IN4 in",
            " ip access-group WW-nowhere-IN4 in",
        ),
        // Sequence numbers out of order.
        mutate(" 110 remark", " 5 remark"),
        // A remark over 100 characters.
        mutate(
            " 100 remark contec",
            &format!(" 100 remark {} contec", "y".repeat(100)),
        ),
        // Service groups: several ports on one member, port names,
        // operators wardwall does not emit, source ports, tcp-udp,
        // numeric ICMP types, other protocols, duplicate members.
        mutate(" tcp eq 2575\n", " tcp eq 2575 2576\n"),
        mutate(" tcp eq 2575\n", " tcp eq hl7\n"),
        mutate(" tcp eq 2575\n", " tcp gt 2575\n"),
        mutate(" tcp eq 2575\n", " tcp source eq 2575\n"),
        mutate(" udp eq 123\n", " tcp-udp eq 123\n"),
        mutate(" icmp echo\n", " icmp 8\n"),
        mutate(" tcp eq 2575\n", " gre\n"),
        mutate(" tcp eq 2575\n", " tcp eq 2575\n tcp eq 2575\n"),
        mutate(" tcp range 6661 6670\n", " tcp range 6670 6661\n"),
        // A group entry with ports, `established` or an ICMP type of its
        // own after the addresses.
        mutate(
            "object-group WW-SVC-DF461455B5CC216B object-group WW-NET4-38464527BE8C881C host 10.10.21.10\n",
            "object-group WW-SVC-DF461455B5CC216B object-group WW-NET4-38464527BE8C881C host 10.10.21.10 eq 2575\n",
        ),
        mutate(
            "object-group WW-SVC-DF461455B5CC216B object-group WW-NET4-38464527BE8C881C host 10.10.21.10\n",
            "object-group WW-SVC-DF461455B5CC216B object-group WW-NET4-38464527BE8C881C host 10.10.21.10 established\n",
        ),
        mutate(
            "object-group WW-SVC-DF461455B5CC216B object-group WW-NET4-38464527BE8C881C host 10.10.21.10\n",
            "object-group WW-SVC-DF461455B5CC216B object-group WW-NET4-38464527BE8C881C host 10.10.21.10 echo\n",
        ),
        // A group used before (or without) its definition.
        mutate(
            "object-group service WW-SVC-DF461455B5CC216B\n",
            "object-group service WW-SVC-DF461455B5CC216C\n",
        ),
        // A group defined twice (even identically), or under a name a
        // network group has.
        mutate(
            "! ---- phase 1: versioned ACLs\n",
            "object-group service WW-SVC-DF461455B5CC216B\n tcp eq 2575\n tcp range 6661 6670\n! ---- phase 1: versioned ACLs\n",
        ),
        mutate(
            "object-group service WW-SVC-DF461455B5CC216B\n",
            "object-group service WW-NET4-38464527BE8C881C\n",
        ),
        // A group with one member (wardwall writes a plain entry then).
        mutate(" tcp range 6661 6670\n", ""),
        // A service group in an IPv6 ACL.
        mutate(
            &format!("{first_v6}\n"),
            &format!(
                "{first_v6}\n sequence 1 permit object-group WW-SVC-DF461455B5CC216B any any\n"
            ),
        ),
    ];
    for (i, bad) in cases.iter().enumerate() {
        // The deletion case needs the real versioned name.
        let bad = if i == 11 {
            let staged = good
                .lines()
                .find_map(|l| l.strip_prefix("ip access-list extended WW-corporate-IN4-"))
                .unwrap();
            bad.replace(
                "no ip access-list extended WW-corporate-IN4-ip",
                &format!("no ip access-list extended WW-corporate-IN4-{staged}\nip"),
            )
        } else {
            bad.clone()
        };
        assert!(readback::parse(&bad).is_err(), "case {i} was accepted");
    }
}

// ------------------------------------------------------------------ sequence numbers

/// The entry lines of every `ipv6 access-list` block of `text`.
fn ipv6_acl_lines(text: &str) -> Vec<&str> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines() {
        match line.strip_prefix(' ') {
            Some(child) if inside => out.push(child),
            Some(_) => {}
            None => inside = line.starts_with("ipv6 access-list "),
        }
    }
    out
}

/// On IOS-XE an IPv6 remark is an entry that takes a sequence number, so
/// every IPv6 line carries `sequence N` (remarks included) and no number is
/// used twice. Before this, every IPv6 ACL opened with an unnumbered remark
/// (which the router numbers 10) followed by `sequence 10 permit ...`.
#[test]
fn every_ipv6_line_is_numbered_and_no_sequence_number_collides() {
    for path in policy_files() {
        let ir = compile(&path);
        let Ok(files) = Cisco.render(&ir, &Templates::default()) else {
            continue;
        };
        let text = &files[0].contents;
        let lines = ipv6_acl_lines(text);
        for line in &lines {
            assert!(
                line.starts_with("sequence "),
                "{}: unnumbered IPv6 line `{line}`",
                path.display()
            );
        }
        let remarks = lines.iter().filter(|l| l.contains(" remark ")).count();
        assert!(
            lines.is_empty() || remarks > 0,
            "{}: no IPv6 remark checked",
            path.display()
        );
        readback::parse(text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// The reader numbers an unnumbered IPv6 line as the router does and
/// refuses the collision: the hospital output written the old way (remarks
/// without `sequence N`) is refused at its first IPv6 ACL.
#[test]
fn the_reader_refuses_the_old_unnumbered_ipv6_remarks() {
    let good = render(&hospital());
    // As the renderer wrote IPv6 ACLs before: remarks unnumbered, entries
    // `sequence 10`, `sequence 20`, ... by their position among entries.
    let mut old = String::new();
    let (mut inside, mut entries) = (false, 0);
    for line in good.lines() {
        let rest = line.strip_prefix(" sequence ").filter(|_| inside);
        match rest.map(|r| r.split_once(' ').unwrap().1) {
            Some(remark) if remark.starts_with("remark ") => {
                old.push_str(&format!(" {remark}\n"));
            }
            Some(entry) => {
                entries += 1;
                old.push_str(&format!(" sequence {} {entry}\n", entries * 10));
            }
            None => {
                if !line.starts_with(' ') {
                    inside = line.starts_with("ipv6 access-list ");
                    entries = 0;
                }
                old.push_str(line);
                old.push('\n');
            }
        }
    }
    assert_ne!(old, good);
    let Err(err) = readback::parse(&old) else {
        panic!("the old IPv6 numbering was accepted");
    };
    let first_v6 = good
        .lines()
        .position(|l| l.starts_with("ipv6 access-list "))
        .unwrap();
    assert!(
        err.message.contains("sequence 10 is already taken"),
        "{err}"
    );
    assert!(err.line > first_v6 && err.line < first_v6 + 8, "{err}");
}

/// Unnumbered IPv6 lines take the next multiple of 10 above the highest
/// number so far, remarks included; a number already taken is an error.
#[test]
fn unnumbered_ipv6_lines_are_numbered_as_the_router_numbers_them() {
    let file = |body: &str| {
        format!("ipv6 access-list T\n{body}interface Vlan1\n ipv6 traffic-filter T in\n!\nend\n")
    };
    let cfg = readback::parse(&file(
        " remark a: allow\n permit tcp any any eq 80\n sequence 35 remark b: deny\n deny ipv6 any any log\n",
    ))
    .unwrap();
    let seqs: Vec<u32> = cfg.acls["T"].entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [20, 40]);
    for (body, taken) in [
        (" remark a: allow\n sequence 10 deny ipv6 any any log\n", 10),
        (
            " sequence 10 permit tcp any any eq 80\n remark b: deny\n sequence 20 deny ipv6 any any log\n",
            20,
        ),
        (
            " sequence 10 permit tcp any any eq 80\n sequence 10 deny ipv6 any any log\n",
            10,
        ),
    ] {
        let err = readback::parse(&file(body)).unwrap_err();
        assert!(
            err.message
                .contains(&format!("sequence {taken} is already taken")),
            "{body}: {err}"
        );
    }
}

// ------------------------------------------------------------------ independent parser

fn addr_string(a: &readback::Addr) -> String {
    match a {
        readback::Addr::Any => "any".into(),
        readback::Addr::V4 { addr, wildcard: 0 } => {
            format!("host {}", std::net::Ipv4Addr::from(*addr))
        }
        readback::Addr::V4 { addr, wildcard } => format!(
            "{} {}",
            std::net::Ipv4Addr::from(*addr),
            std::net::Ipv4Addr::from(*wildcard)
        ),
        readback::Addr::Group(n) => format!("object-group {n}"),
        readback::Addr::V6(n) => n.to_string(),
    }
}

fn port_list(p: &readback::Ports) -> Vec<u64> {
    match p {
        readback::Ports::All => Vec::new(),
        readback::Ports::Eq(v) => v.iter().map(|&x| u64::from(x)).collect(),
        readback::Ports::Range(a, b) => (*a..=*b).map(u64::from).collect(),
    }
}

/// Every IPv4 entry of every policy's output, read by the PyPI package
/// cisco-acl (its own IOS grammar and keyword tables), must be the entry
/// our reader saw. CI installs the package (`.ci/run`); elsewhere the test
/// skips with a message unless WARDWALL_REQUIRE_PRIVILEGED_TESTS=1.
#[test]
fn the_cisco_acl_package_reads_the_same_entries() {
    let Some(python) = common::skip::python_with(
        &["WARDWALL_CISCO_ACL_PYTHON", "WARDWALL_PYTHON"],
        "cisco_acl",
        "cisco-acl==3.3.5",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut compared = 0;
    let mut members_compared = 0;
    for path in policy_files() {
        let ir = compile(&path);
        let Ok(files) = Cisco.render(&ir, &Templates::default()) else {
            continue;
        };
        let text = &files[0].contents;
        let cfg = readback::parse(text).unwrap();
        let file = dir.path().join("out.ios");
        std::fs::write(&file, text).unwrap();
        let out = std::process::Command::new(&python)
            .arg("tests/cisco_acl_crosscheck.py")
            .arg(&file)
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "cross-check script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
        // (ACL, seq) of a service-group entry → members cisco-acl read.
        let mut members_seen: std::collections::BTreeMap<(String, u32), usize> = Default::default();
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let rec: serde_json::Value = serde_json::from_str(line).unwrap();
            let acl = rec["acl"].as_str().unwrap();
            // Versioned names carry `-<16 hex digits>`; their content is the
            // stable ACL's.
            let stable = match acl.rsplit_once('-') {
                Some((base, h)) if h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit()) => {
                    base
                }
                _ => acl,
            };
            let ours = &cfg.acls[stable];
            if let Some(err) = rec.get("error") {
                // IOS accepts numeric ICMP types; cisco-acl does not.
                let l = rec["line"].as_str().unwrap();
                let last = l.trim_end_matches(" log").rsplit(' ').next().unwrap();
                assert!(
                    l.contains(" icmp ") && last.parse::<u8>().is_ok(),
                    "{}: cisco-acl rejects `{l}`: {err}",
                    path.display()
                );
                *seen.entry(acl.to_string()).or_default() += 1;
                continue;
            }
            let seq = rec["seq"].as_u64().unwrap() as u32;
            let e = ours
                .entries
                .iter()
                .find(|e| e.seq == seq)
                .unwrap_or_else(|| panic!("{acl}: no entry {seq} in our reading"));
            let ctx = format!("{}: {acl} seq {seq}", path.display());
            // A service-group entry arrives as one record per group member
            // (the script expands it from its own reading of the group):
            // compare that member as if it were the entry's service.
            let mut first_record = true;
            let (e_proto, e_dport, e_icmp) = match &e.proto {
                readback::Proto::Group(name) => {
                    assert_eq!(rec["group"].as_str(), Some(name.as_str()), "{ctx}");
                    let i = rec["member"].as_u64().unwrap() as usize;
                    let member = &cfg.services[name].members[i];
                    *members_seen.entry((acl.to_string(), seq)).or_default() += 1;
                    members_compared += 1;
                    // Counted once per entry (below), checked per member.
                    first_record = i == 0;
                    match member {
                        readback::ServiceMember::Tcp(p) => (readback::Proto::Tcp, p.clone(), None),
                        readback::ServiceMember::Udp(p) => (readback::Proto::Udp, p.clone(), None),
                        readback::ServiceMember::Icmp(t) => {
                            (readback::Proto::Icmp, readback::Ports::All, *t)
                        }
                    }
                }
                other => {
                    assert!(rec.get("group").is_none(), "{ctx}");
                    (other.clone(), e.dport.clone(), e.icmp)
                }
            };
            assert_eq!(
                rec["action"],
                if e.permit { "permit" } else { "deny" },
                "{ctx}"
            );
            let proto = match e_proto {
                readback::Proto::Any => None,
                readback::Proto::Tcp => Some(6),
                readback::Proto::Udp => Some(17),
                readback::Proto::Icmp => Some(1),
                readback::Proto::Number(n) => Some(u64::from(n)),
                readback::Proto::Group(_) => unreachable!("expanded above"),
            };
            assert_eq!(rec["protocol"].as_u64(), proto, "{ctx}");
            assert_eq!(rec["src"], addr_string(&e.src), "{ctx}");
            assert_eq!(rec["dst"], addr_string(&e.dst), "{ctx}");
            let nums = |k: &str| -> Vec<u64> {
                rec[k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap())
                    .collect()
            };
            assert_eq!(nums("sports"), port_list(&e.sport), "{ctx}");
            assert_eq!(nums("dports"), port_list(&e_dport), "{ctx}");
            let flags: Vec<&str> = rec["flags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let mut want: Vec<String> = Vec::new();
            if e.established {
                want.push("established".into());
            }
            if let Some(t) = e_icmp {
                want.push(
                    readback::icmp_keyword_of_type(t, wardwall::ir::Family::V4)
                        .map_or_else(|| t.to_string(), str::to_string),
                );
            }
            assert_eq!(flags, want, "{ctx}");
            assert_eq!(
                rec["logs"].as_array().unwrap().len(),
                usize::from(e.log),
                "{ctx}"
            );
            if first_record {
                *seen.entry(acl.to_string()).or_default() += 1;
                compared += 1;
            }
        }
        // Every member of every service-group entry was read, once.
        for ((acl, seq), n) in &members_seen {
            let stable = acl
                .rsplit_once('-')
                .map_or(acl.as_str(), |(b, h)| if h.len() == 16 { b } else { acl });
            let e = cfg.acls[stable]
                .entries
                .iter()
                .find(|e| e.seq == *seq)
                .unwrap();
            let readback::Proto::Group(g) = &e.proto else {
                unreachable!()
            };
            assert_eq!(*n, cfg.services[g].members.len(), "{acl} seq {seq}");
        }
        // Every entry of every IPv4 ACL (versioned and stable) was read.
        for (name, acl) in &cfg.acls {
            if acl.family == wardwall::ir::Family::V4 {
                assert_eq!(seen.get(name).copied(), Some(acl.entries.len()), "{name}");
                let versioned = seen
                    .iter()
                    .find(|(k, _)| k.starts_with(&format!("{name}-")))
                    .map(|(_, v)| *v);
                assert_eq!(versioned, Some(acl.entries.len()), "versioned {name}");
            }
        }
    }
    assert!(compared > 100, "only {compared} entries compared");
    // The service-group form is exercised (the hospital policy uses it).
    assert!(
        members_compared > 10,
        "only {members_compared} service-group members compared"
    );
}

#[test]
fn the_template_can_be_overridden_and_sees_the_view_model() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("cisco")).unwrap();
    std::fs::write(
        dir.path().join("cisco/acl.ios.j2"),
        "{% for a in v.acls %}{{ a.name }} {{ a.interface }} {{ a.text | length }}\n{% endfor %}",
    )
    .unwrap();
    let templates = Templates {
        override_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let files = Cisco.render(&hospital(), &templates).unwrap();
    let text = &files[0].contents;
    assert!(text.starts_with("WW-corporate-IN4 Vlan10 "), "{text}");
    assert_eq!(text.lines().count(), 18, "two ACLs for each of nine zones");
}

/// The built-in template prints the groups and each ACL's entries as
/// strings written by the renderer: the text of an ACL is exactly its
/// entry lines in the built-in file, and the groups text is exactly the
/// group definitions.
#[test]
fn the_template_prints_the_written_text() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("cisco")).unwrap();
    std::fs::write(
        dir.path().join("cisco/acl.ios.j2"),
        "{{ v.groups_text }}{% for a in v.acls %}= {{ a.name }}\n{{ a.text }}{% endfor %}",
    )
    .unwrap();
    let templates = Templates {
        override_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let ir = hospital();
    let builtin = &Cisco.render(&ir, &Templates::default()).unwrap()[0].contents;
    let parts = &Cisco.render(&ir, &templates).unwrap()[0].contents;
    let (groups, acls) = parts.split_at(parts.find("= WW-").unwrap());
    assert!(groups.starts_with("object-group ") && groups.ends_with("!\n"));
    assert!(builtin.contains(&format!("!\n{groups}! ---- phase 1")));
    for acl in acls.split("= ").skip(1) {
        let (name, text) = acl.split_once('\n').unwrap();
        assert!(!text.is_empty() && text.lines().all(|l| l.starts_with(' ')));
        let stable = builtin
            .split_once(&format!("\nip access-list extended {name}\n"))
            .or_else(|| builtin.split_once(&format!("\nipv6 access-list {name}\n")))
            .unwrap()
            .1;
        assert!(stable.starts_with(&format!("{text}!\n")), "{name}");
    }
}
