//! From the neutral [`Ruleset`] to the device model: what each match means
//! for the first packet of a new flow, the inlining of regular chains and
//! verdict maps, and the list of what was skipped. The semantics are those
//! of the module doc of `nftables.rs`.

use super::{Chain, Key, Map, NamedSet, Op, Rule, Ruleset, Stmt, Table, Value, Verdict};
use super::{priority, rule_of_comment};
use crate::addrset::{AddrSet, ByteSet, Family, PortSet};
use crate::read::device::{
    Decision, Device, DeviceError, Entry, Filter, Guard, Layer, Origin, PlaceSet, SourcePorts,
    source_ports, whole_protocol,
};
use crate::vocab::{Action, ServiceSet, Target, proto};

/// The kernel's jump stack (`NFT_JUMP_STACK_SIZE` in
/// include/net/netfilter/nf_tables.h): deeper nesting cannot load.
const MAX_DEPTH: usize = 16;
/// More alternatives than this for one rule (negated `return`s multiply)
/// is refused rather than ground through.
const MAX_TERMS: usize = 4096;

// ------------------------------------------------------------ conditions

/// One conjunction of conditions a packet may meet: where it enters and
/// leaves, its family, addresses and service, and the reasons it cannot be
/// decided offline (its box is then what it *might* match).
#[derive(Clone, Debug, PartialEq)]
struct Term {
    guard: Guard,
    src: AddrSet,
    dst: AddrSet,
    service: ServiceSet,
    undecidable: Vec<String>,
}

/// A disjunction of terms; empty = never holds.
type Dnf = Vec<Term>;

const FAMILIES: [Family; 2] = [Family::V4, Family::V6];

fn other_family(f: Family) -> Family {
    match f {
        Family::V4 => Family::V6,
        Family::V6 => Family::V4,
    }
}

impl Term {
    fn any() -> Self {
        Term {
            guard: Guard::any(),
            src: AddrSet::any(),
            dst: AddrSet::any(),
            service: ServiceSet::any(),
            undecidable: Vec::new(),
        }
    }
    fn family(f: Family) -> Self {
        let mut t = Term::any();
        t.guard.family = Some(f);
        t
    }
    fn src(set: AddrSet) -> Self {
        Term {
            src: set,
            ..Term::any()
        }
    }
    fn dst(set: AddrSet) -> Self {
        Term {
            dst: set,
            ..Term::any()
        }
    }
    fn service(service: ServiceSet) -> Self {
        Term {
            service,
            ..Term::any()
        }
    }
    fn place(ingress: bool, places: PlaceSet) -> Self {
        Term {
            guard: if ingress {
                Guard::ingress(places)
            } else {
                Guard::egress(places)
            },
            ..Term::any()
        }
    }
    fn undecidable(reason: impl Into<String>) -> Self {
        Term {
            undecidable: vec![reason.into()],
            ..Term::any()
        }
    }

    /// Both at once, or `None` when no packet meets both.
    fn and(&self, other: &Term) -> Option<Term> {
        let mut undecidable = self.undecidable.clone();
        for r in &other.undecidable {
            if !undecidable.contains(r) {
                undecidable.push(r.clone());
            }
        }
        Term {
            guard: self.guard.and(&other.guard)?,
            src: self.src.intersection(&other.src),
            dst: self.dst.intersection(&other.dst),
            service: self.service.intersection(&other.service),
            undecidable,
        }
        .normalised()
    }

    /// `None` when no packet meets the term; else the term with its family
    /// made explicit when only one is possible.
    fn normalised(mut self) -> Option<Term> {
        let possible: Vec<Family> = FAMILIES
            .into_iter()
            .filter(|&f| {
                self.guard.family.is_none_or(|g| g == f)
                    && self.src.has_family(f)
                    && self.dst.has_family(f)
                    && self.service.has_family(f)
            })
            .collect();
        let empty_places = |sets: &[PlaceSet]| {
            sets.iter()
                .any(|s| !s.negated && s.names.is_empty() && s.prefixes.is_empty())
        };
        if possible.is_empty()
            || empty_places(&self.guard.ingress)
            || empty_places(&self.guard.egress)
        {
            return None;
        }
        if let [f] = possible[..] {
            self.guard.family = Some(f);
            let other = other_family(f);
            if self.src.has_family(other) {
                self.src = self.src.of_family(f);
            }
            if self.dst.has_family(other) {
                self.dst = self.dst.of_family(f);
            }
        }
        Some(self)
    }

    /// The packets the term does not hold: one term per condition negated
    /// (they may overlap; every one stands for packets outside the term).
    fn negate(&self) -> Dnf {
        let mut out = Vec::new();
        if let Some(f) = self.guard.family {
            out.push(Term::family(other_family(f)));
        }
        for (ingress, sets) in [(true, &self.guard.ingress), (false, &self.guard.egress)] {
            for s in sets {
                let flipped = PlaceSet {
                    negated: !s.negated,
                    ..s.clone()
                };
                out.push(Term::place(ingress, flipped));
            }
        }
        if !self.src.is_any() {
            out.push(Term::src(self.src.complement()));
        }
        if !self.dst.is_any() {
            out.push(Term::dst(self.dst.complement()));
        }
        if !self.service.any {
            out.push(Term::service(service_complement(&self.service)));
        }
        if !self.undecidable.is_empty() {
            out.push(Term::undecidable(format!(
                "not ({})",
                self.undecidable.join("; ")
            )));
        }
        let mut merged = Vec::new();
        for t in out.into_iter().filter_map(Term::normalised) {
            push_merged(&mut merged, t);
        }
        merged
    }
}

/// Every service `s` does not hold.
fn service_complement(s: &ServiceSet) -> ServiceSet {
    let full = ServiceSet::any().expanded();
    let e = s.expanded();
    let out = ServiceSet {
        any: false,
        tcp: full.tcp.difference(&e.tcp),
        udp: full.udp.difference(&e.udp),
        icmp4: full.icmp4.difference(&e.icmp4),
        icmp6: full.icmp6.difference(&e.icmp6),
        protocols: full.protocols.difference(&e.protocols),
    };
    if out == full { ServiceSet::any() } else { out }
}

impl Term {
    /// Whether every packet `other` holds, `self` holds, at least as
    /// decidably.
    fn covers(&self, other: &Term) -> bool {
        self.guard.ingress == other.guard.ingress
            && self.guard.egress == other.guard.egress
            && self
                .guard
                .family
                .is_none_or(|f| other.guard.family == Some(f))
            && self
                .undecidable
                .iter()
                .all(|r| other.undecidable.contains(r))
            && other.src.is_subset(&self.src)
            && other.dst.is_subset(&self.dst)
            && other.service.is_subset(&self.service)
    }

    /// `self ∨ other` as one term, when they differ in one of addresses
    /// and service only.
    fn union(&self, other: &Term) -> Option<Term> {
        if self.guard != other.guard || self.undecidable != other.undecidable {
            return None;
        }
        let same = [
            self.src == other.src,
            self.dst == other.dst,
            self.service == other.service,
        ];
        if same.iter().filter(|s| !**s).count() > 1 {
            return None;
        }
        Some(Term {
            guard: self.guard.clone(),
            src: self.src.union(&other.src),
            dst: self.dst.union(&other.dst),
            service: self.service.union(&other.service),
            undecidable: self.undecidable.clone(),
        })
    }
}

/// Adds `t` to a disjunction, merged into a term that covers it or that
/// it joins into one.
fn push_merged(out: &mut Dnf, t: Term) {
    if out.iter().any(|u| u.covers(&t)) {
        return;
    }
    out.retain(|u| !t.covers(u));
    let joined = out
        .iter()
        .enumerate()
        .find_map(|(i, u)| u.union(&t).map(|m| (i, m)));
    if let Some((i, merged)) = joined {
        out.swap_remove(i);
        return push_merged(out, merged);
    }
    out.push(t);
}

fn and_dnf(a: &[Term], b: &[Term]) -> Result<Dnf, String> {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            if let Some(t) = x.and(y) {
                push_merged(&mut out, t);
                if out.len() > MAX_TERMS {
                    return Err(format!(
                        "the rule's conditions combine into more than {MAX_TERMS} alternatives (negated `return`/`goto` conditions multiply): not evaluated"
                    ));
                }
            }
        }
    }
    Ok(out)
}

fn negate_dnf(d: &[Term]) -> Result<Dnf, String> {
    let mut acc = vec![Term::any()];
    for t in d {
        acc = and_dnf(&acc, &t.negate())?;
    }
    Ok(acc)
}

fn always() -> Dnf {
    vec![Term::any()]
}

// ------------------------------------------------------------ vocabulary

/// IP protocol names as nft prints them (it takes them from the system's
/// protocol database, `/etc/protocols` of Debian's netbase, numbers from
/// the IANA "Protocol Numbers" registry,
/// https://www.iana.org/assignments/protocol-numbers/), plus `icmpv6`,
/// which nft's own `inet_protocol` type accepts.
const PROTOCOL_NAMES: &[(&str, u8)] = &[
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ggp", 3),
    ("ipencap", 4),
    ("st", 5),
    ("tcp", 6),
    ("egp", 8),
    ("igp", 9),
    ("pup", 12),
    ("udp", 17),
    ("hmp", 20),
    ("xns-idp", 22),
    ("rdp", 27),
    ("iso-tp4", 29),
    ("dccp", 33),
    ("xtp", 36),
    ("ddp", 37),
    ("idpr-cmtp", 38),
    ("ipv6", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("idrp", 45),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("skip", 57),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("rspf", 73),
    ("vmtp", 81),
    ("eigrp", 88),
    ("ospf", 89),
    ("ax.25", 93),
    ("ipip", 94),
    ("etherip", 97),
    ("encap", 98),
    ("pim", 103),
    ("ipcomp", 108),
    ("vrrp", 112),
    ("l2tp", 115),
    ("isis", 124),
    ("sctp", 132),
    ("fc", 133),
    ("mobility-header", 135),
    ("udplite", 136),
    ("mpls-in-ip", 137),
    ("manet", 138),
    ("hip", 139),
    ("shim6", 140),
    ("wesp", 141),
    ("rohc", 142),
    ("ethernet", 143),
];

/// ICMP type names, as `nft describe icmp type` (nftables 1.0.6) prints
/// them; nft(8), "ICMP TYPE TYPE".
const ICMP_TYPES: &[(&str, u8)] = &[
    ("echo-reply", 0),
    ("destination-unreachable", 3),
    ("source-quench", 4),
    ("redirect", 5),
    ("echo-request", 8),
    ("router-advertisement", 9),
    ("router-solicitation", 10),
    ("time-exceeded", 11),
    ("parameter-problem", 12),
    ("timestamp-request", 13),
    ("timestamp-reply", 14),
    ("info-request", 15),
    ("info-reply", 16),
    ("address-mask-request", 17),
    ("address-mask-reply", 18),
];

/// ICMPv6 type names, as `nft describe icmpv6 type` (nftables 1.0.6)
/// prints them; nft(8), "ICMPV6 TYPE TYPE".
const ICMPV6_TYPES: &[(&str, u8)] = &[
    ("destination-unreachable", 1),
    ("packet-too-big", 2),
    ("time-exceeded", 3),
    ("parameter-problem", 4),
    ("echo-request", 128),
    ("echo-reply", 129),
    ("mld-listener-query", 130),
    ("mld-listener-report", 131),
    ("mld-listener-done", 132),
    ("mld-listener-reduction", 132),
    ("nd-router-solicit", 133),
    ("nd-router-advert", 134),
    ("nd-neighbor-solicit", 135),
    ("nd-neighbor-advert", 136),
    ("nd-redirect", 137),
    ("router-renumbering", 138),
    ("ind-neighbor-solicit", 141),
    ("ind-neighbor-advert", 142),
    ("mld2-listener-report", 143),
];

/// Conntrack states, `nft describe ct state`: a new flow's first packet is
/// `new`, never `established`, `related`, `invalid` or `untracked`.
const CT_STATES: &[&str] = &["invalid", "new", "established", "related", "untracked"];

/// What a match's left-hand side reads, where this reader models it.
#[derive(Clone, Copy, Debug)]
enum Field {
    Nfproto,
    /// `meta l4proto`, or `ip protocol` (V4) / `ip6 nexthdr` (V6).
    L4(Option<Family>),
    Addr {
        family: Family,
        source: bool,
    },
    Port {
        proto: PortProto,
        source: bool,
    },
    IcmpType(Family),
    Iface {
        ingress: bool,
    },
    CtState,
    CtDirection,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PortProto {
    Tcp,
    Udp,
    /// Any transport header (bytes 0-1 and 2-3).
    Th,
}

fn field(key: &Key) -> Option<Field> {
    Some(match key {
        Key::Meta(k) => match k.as_str() {
            "nfproto" => Field::Nfproto,
            "l4proto" => Field::L4(None),
            "iifname" | "iif" => Field::Iface { ingress: true },
            "oifname" | "oif" => Field::Iface { ingress: false },
            _ => return None,
        },
        Key::Payload(p, f) => match (p.as_str(), f.as_str()) {
            ("ip", "saddr" | "daddr") => Field::Addr {
                family: Family::V4,
                source: f == "saddr",
            },
            ("ip6", "saddr" | "daddr") => Field::Addr {
                family: Family::V6,
                source: f == "saddr",
            },
            ("ip", "protocol") => Field::L4(Some(Family::V4)),
            ("ip6", "nexthdr") => Field::L4(Some(Family::V6)),
            ("tcp" | "udp" | "th", "dport" | "sport") => Field::Port {
                proto: match p.as_str() {
                    "tcp" => PortProto::Tcp,
                    "udp" => PortProto::Udp,
                    _ => PortProto::Th,
                },
                source: f == "sport",
            },
            ("icmp", "type") => Field::IcmpType(Family::V4),
            ("icmpv6", "type") => Field::IcmpType(Family::V6),
            _ => return None,
        },
        Key::Ct(k) => match k.as_str() {
            "state" => Field::CtState,
            "direction" => Field::CtDirection,
            _ => return None,
        },
        Key::Concat(_) | Key::Masked(..) | Key::Other(_) => return None,
    })
}

/// The services of TCP and UDP with these ports.
fn ports_service(proto: PortProto, ports: &PortSet) -> ServiceSet {
    let mut s = ServiceSet::default();
    if proto != PortProto::Udp {
        s.tcp = ports.clone();
    }
    if proto != PortProto::Tcp {
        s.udp = ports.clone();
    }
    s
}

/// Every service but TCP and UDP: what `th` also reads, unmodelled.
fn not_tcp_udp() -> ServiceSet {
    let mut s = ServiceSet::any().expanded();
    s.tcp = PortSet::default();
    s.udp = PortSet::default();
    s
}

/// The implicit dependency of a payload or meta key nft adds (`ip ...`:
/// IPv4; `tcp ...`: TCP), for keys modelled or not.
fn dependency(key: &Key) -> Dnf {
    if let Key::Masked(inner, _) = key {
        return dependency(inner);
    }
    let Key::Payload(p, _) = key else {
        return always();
    };
    let whole = |n: u8| vec![Term::service(whole_protocol(n))];
    match p.as_str() {
        "ip" => vec![Term::family(Family::V4)],
        "ip6" => vec![Term::family(Family::V6)],
        "tcp" => whole(proto::TCP),
        "udp" => whole(proto::UDP),
        "icmp" => whole(proto::ICMP),
        "icmpv6" => whole(proto::ICMPV6),
        "th" => vec![
            Term::service(ports_service(PortProto::Th, &PortSet::full())),
            Term::service(not_tcp_udp()),
        ],
        _ => always(),
    }
}

/// [`Lowerer::each_element_holds`] for an address key within one term:
/// each element's term differs from the others in that address only, so
/// merging them one by one unites their addresses into one term; uniting
/// the addresses first is the same term, without a term per element (sets
/// of thousands of addresses are common).
fn address_set_holds(
    domain: &[Term],
    family: Family,
    source: bool,
    elements: &[Value],
) -> Result<Dnf, String> {
    let sets = elements
        .iter()
        .map(|e| addr_of(e, family))
        .collect::<Result<Vec<_>, _>>()?;
    let set = AddrSet::union_all(&sets);
    let one = if source {
        Term::src(set)
    } else {
        Term::dst(set)
    };
    and_dnf(domain, &[one])
}

// ------------------------------------------------------------ values

fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => Some(*n),
        Value::Word(w) => {
            if let Some(hex) = w.strip_prefix("0x") {
                u64::from_str_radix(hex, 16).ok()
            } else if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) {
                w.parse().ok()
            } else {
                None
            }
        }
        _ => None,
    }
}

/// `lo-hi` of a bare word (text form), when both ends read as `T`.
fn word_range<T>(v: &Value, one: impl Fn(&Value) -> Option<T>) -> Option<(T, T)> {
    let Value::Word(w) = v else { return None };
    let (a, b) = w.split_once('-')?;
    Some((one(&Value::Word(a.into()))?, one(&Value::Word(b.into()))?))
}

/// An inclusive range of small numbers (ports, types, protocols) an
/// element stands for.
fn num_range(
    v: &Value,
    name: &dyn Fn(&str) -> Option<u64>,
    max: u64,
) -> Result<(u64, u64), String> {
    let one = |v: &Value| {
        number(v).or_else(|| match v {
            Value::Word(w) | Value::Quoted(w) => name(w),
            _ => None,
        })
    };
    let (lo, hi) = if let Some(n) = one(v) {
        (n, n)
    } else if let Value::Range(a, b) = v {
        (
            one(a).ok_or_else(|| format!("`{a}` is not understood here"))?,
            one(b).ok_or_else(|| format!("`{b}` is not understood here"))?,
        )
    } else if let Some(r) = word_range(v, one) {
        r
    } else {
        return Err(format!("`{v}` is not understood here"));
    };
    if lo > hi || hi > max {
        return Err(format!("`{v}` is out of range (0-{max})"));
    }
    Ok((lo, hi))
}

pub(super) fn addr_of(v: &Value, family: Family) -> Result<AddrSet, String> {
    let parse_one = |w: &str| -> Option<AddrSet> {
        if let Ok(n) = w.parse::<ipnet::IpNet>() {
            return Some(AddrSet::from_net(n.trunc()));
        }
        if let Ok(a) = w.parse::<std::net::IpAddr>() {
            return Some(AddrSet::from_addr(a));
        }
        let (a, b) = w.split_once('-')?;
        Some(AddrSet::from_range(a.parse().ok()?, b.parse().ok()?))
    };
    let set = match v {
        Value::Word(w) => parse_one(w),
        Value::Prefix(a, len) => parse_one(&format!("{a}/{len}")),
        Value::Range(a, b) => match (&**a, &**b) {
            (Value::Word(a), Value::Word(b)) => parse_one(&format!("{a}-{b}")),
            _ => None,
        },
        _ => None,
    }
    .ok_or_else(|| format!("`{v}` is not an address, prefix or address range"))?;
    if set.is_empty() || set.of_family(family) != set {
        return Err(format!("`{v}` is not an address of the {family:?} family"));
    }
    Ok(set)
}

/// An interface name pattern: `eth*` is a prefix (nft(8), "META
/// EXPRESSIONS": wildcard `*` at the end), `\*` a literal star.
fn place_of(v: &Value, places: &mut PlaceSet) -> Result<(), String> {
    let s = match v {
        Value::Word(s) | Value::Quoted(s) => s,
        Value::Number(n) => return Err(format!("interface index {n}")),
        _ => return Err(format!("`{v}` is not an interface name")),
    };
    if let Some(literal) = s.strip_suffix("\\*") {
        places.names.push(format!("{literal}*"));
    } else if let Some(prefix) = s.strip_suffix('*') {
        places.prefixes.push(prefix.to_string());
    } else {
        places.names.push(s.clone());
    }
    Ok(())
}

// ------------------------------------------------------------ matches

/// Lowers statements of one table (named sets resolve in it).
struct Lowerer<'a> {
    table: &'a Table,
}

/// A rule's meaning: the packets its matches hold, whether it logs, and
/// what it does with them.
struct Lowered {
    cond: Dnf,
    log: bool,
    /// Each (condition beyond `cond`, verdict); empty: no verdict.
    verdicts: Vec<(Dnf, Verdict)>,
}

impl Lowerer<'_> {
    /// The elements a right-hand side stands for (sets flattened, named
    /// sets resolved), or the reason they are not known offline.
    fn elements(&self, v: &Value) -> Result<Result<Vec<Value>, String>, String> {
        Ok(Ok(match v {
            Value::Set(items) => {
                let mut out = Vec::new();
                for i in items {
                    match self.elements(i)? {
                        Ok(mut e) => out.append(&mut e),
                        Err(why) => return Ok(Err(why)),
                    }
                }
                out
            }
            Value::SetRef(name) => {
                let set = self.set(name)?;
                if set.is_map {
                    return Err(format!("@{name} is a map, used as a set"));
                }
                if set.dynamic {
                    return Ok(Err(format!(
                        "set @{name} is dynamic (its elements change at run time)"
                    )));
                }
                set.elements.clone()
            }
            Value::Flags(flags) => flags.iter().map(|f| Value::Word(f.clone())).collect(),
            other => vec![other.clone()],
        }))
    }

    fn set(&self, name: &str) -> Result<&NamedSet, String> {
        self.table.sets.get(name).ok_or_else(|| {
            format!(
                "set @{name} is not defined in table {} {}",
                self.table.family, self.table.name
            )
        })
    }

    /// The packets `key OP value` holds.
    fn matches(&self, key: &Key, op: Op, value: &Value) -> Result<Dnf, String> {
        let value = match op {
            Op::Eq | Op::Ne => value.clone(),
            Op::Lt | Op::Gt | Op::Le | Op::Ge => {
                let Some(n) = number(value) else {
                    return and_dnf(
                        &dependency(key),
                        &[Term::undecidable(format!("`{key} {op:?} {value}`"))],
                    );
                };
                let (lo, hi) = match op {
                    Op::Lt if n == 0 => return Ok(Vec::new()),
                    Op::Lt => (0, n - 1),
                    Op::Le => (0, n),
                    Op::Gt => (n + 1, u64::from(u32::MAX)),
                    _ => (n, u64::from(u32::MAX)),
                };
                let hi = hi.min(width_max(key));
                if lo > hi {
                    return Ok(Vec::new());
                }
                Value::Range(Box::new(Value::Number(lo)), Box::new(Value::Number(hi)))
            }
        };
        let (domain, positive) = self.key_holds(key, &value)?;
        if op == Op::Ne {
            and_dnf(&domain, &negate_dnf(&positive)?)
        } else {
            Ok(positive)
        }
    }

    /// (the key's implicit dependency, the packets `key == value` holds).
    fn key_holds(&self, key: &Key, value: &Value) -> Result<(Dnf, Dnf), String> {
        let domain = match key {
            Key::Concat(keys) => {
                let mut d = always();
                for k in keys {
                    d = and_dnf(&d, &dependency(k))?;
                }
                d
            }
            k => dependency(k),
        };
        let elements = match self.elements(value)? {
            Ok(e) => e,
            Err(why) => {
                let u = and_dnf(&domain, &[Term::undecidable(why)])?;
                return Ok((domain, u));
            }
        };
        if let (Some(Field::Addr { family, source }), [_]) = (field(key), domain.as_slice()) {
            let positive = address_set_holds(&domain, family, source, &elements)?;
            debug_assert_eq!(positive, self.each_element_holds(key, &domain, &elements)?);
            return Ok((domain, positive));
        }
        let positive = self.each_element_holds(key, &domain, &elements)?;
        Ok((domain, positive))
    }

    /// The packets `key == e` holds for some element `e`, within `domain`,
    /// one element at a time.
    fn each_element_holds(
        &self,
        key: &Key,
        domain: &[Term],
        elements: &[Value],
    ) -> Result<Dnf, String> {
        let mut positive = Vec::new();
        for e in elements {
            let one = match key {
                Key::Concat(keys) => self.concat_element(keys, e)?,
                k => self.element(k, e)?,
            };
            for t in and_dnf(domain, &one)? {
                push_merged(&mut positive, t);
            }
        }
        Ok(positive)
    }

    fn concat_element(&self, keys: &[Key], e: &Value) -> Result<Dnf, String> {
        let Value::Concat(parts) = e else {
            return Err(format!(
                "`{e}` is not a concatenation of {} values",
                keys.len()
            ));
        };
        if parts.len() != keys.len() {
            return Err(format!(
                "`{e}` has {} values, the key {}",
                parts.len(),
                keys.len()
            ));
        }
        let mut d = always();
        for (k, p) in keys.iter().zip(parts) {
            d = and_dnf(&d, &self.element(k, p)?)?;
        }
        Ok(d)
    }

    /// The packets `key == e` holds for one element `e`.
    fn element(&self, key: &Key, e: &Value) -> Result<Dnf, String> {
        let Some(field) = field(key) else {
            return Ok(vec![Term::undecidable(format!(
                "`{key} {e}` is not evaluated offline"
            ))]);
        };
        let names = |table: &'static [(&'static str, u8)]| {
            move |w: &str| {
                table
                    .iter()
                    .find(|(n, _)| *n == w)
                    .map(|&(_, v)| u64::from(v))
            }
        };
        Ok(match field {
            Field::Nfproto => match e {
                Value::Word(w) if w == "ipv4" => vec![Term::family(Family::V4)],
                Value::Word(w) if w == "ipv6" => vec![Term::family(Family::V6)],
                _ => return Err(format!("`{e}` is not `ipv4` or `ipv6`")),
            },
            Field::L4(family) => {
                let (lo, hi) = num_range(e, &names(PROTOCOL_NAMES), 255)?;
                let mut s = ServiceSet::default();
                for n in lo..=hi {
                    s = s.union(&whole_protocol(n as u8));
                }
                let mut t = Term::service(s);
                t.guard.family = family;
                t.normalised().into_iter().collect()
            }
            Field::Addr { family, source } => {
                let set = addr_of(e, family)?;
                vec![if source {
                    Term::src(set)
                } else {
                    Term::dst(set)
                }]
            }
            Field::Port { proto, source } => {
                let (lo, hi) = num_range(e, &|_| None, 65535)?;
                let ports = PortSet::range(lo as u16, hi as u16);
                self.port_terms(proto, source, &ports, e)
            }
            Field::IcmpType(family) => {
                let table = match family {
                    Family::V4 => ICMP_TYPES,
                    Family::V6 => ICMPV6_TYPES,
                };
                let (lo, hi) = num_range(e, &names(table), 255)?;
                let types = ByteSet::range(lo as u8, hi as u8);
                let mut s = ServiceSet::default();
                match family {
                    Family::V4 => s.icmp4 = types,
                    Family::V6 => s.icmp6 = types,
                }
                vec![Term::service(s)]
            }
            Field::Iface { ingress } => {
                let mut places = PlaceSet::default();
                if let Err(why) = place_of(e, &mut places) {
                    if why.starts_with("interface index") {
                        return Ok(vec![Term::undecidable(format!("`{key} {e}`: {why}"))]);
                    }
                    return Err(why);
                }
                vec![Term::place(ingress, places)]
            }
            Field::CtState => match e {
                Value::Word(w) if w == "new" => always(),
                Value::Word(w) if CT_STATES.contains(&w.as_str()) => Vec::new(),
                _ => {
                    return Err(format!(
                        "`{e}` is not a conntrack state ({})",
                        CT_STATES.join(", ")
                    ));
                }
            },
            Field::CtDirection => match e {
                Value::Word(w) if w == "original" => always(),
                Value::Word(w) if w == "reply" => Vec::new(),
                _ => return Err(format!("`{e}` is not `original` or `reply`")),
            },
        })
    }

    /// A port match: destination ports exactly; source ports by
    /// [`source_ports`]; `th` on other protocols undecidable.
    fn port_terms(&self, proto: PortProto, source: bool, ports: &PortSet, e: &Value) -> Dnf {
        let mut out = Vec::new();
        if source {
            let whole = ports_service(proto, &PortSet::full());
            match source_ports(ports) {
                SourcePorts::Always => out.push(Term::service(whole)),
                SourcePorts::Never => {}
                SourcePorts::Sometimes => {
                    let mut t = Term::service(whole);
                    t.undecidable
                        .push(format!("source port {e}: only some client ports hold"));
                    out.push(t);
                }
            }
        } else {
            out.push(Term::service(ports_service(proto, ports)));
        }
        if proto == PortProto::Th {
            let mut t = Term::service(not_tcp_udp());
            t.undecidable.push(format!(
                "`th {}port {e}` on a protocol other than TCP and UDP",
                if source { "s" } else { "d" }
            ));
            out.push(t);
        }
        out
    }

    /// A rule's conditions, log flag and verdicts.
    fn rule(&self, rule: &Rule) -> Result<Lowered, String> {
        let mut out = Lowered {
            cond: always(),
            log: false,
            verdicts: Vec::new(),
        };
        for stmt in &rule.stmts {
            if !out.verdicts.is_empty() {
                return Err("a statement after the verdict".into());
            }
            match stmt {
                Stmt::Match { key, op, value } => {
                    out.cond = and_dnf(&out.cond, &self.matches(key, *op, value)?)?;
                }
                Stmt::Undecidable(why) => {
                    out.cond = and_dnf(&out.cond, &[Term::undecidable(why.clone())])?;
                }
                Stmt::Log => out.log = true,
                Stmt::Effect => {}
                Stmt::Nat(what) => {
                    return Err(format!(
                        "`{what}` (NAT) in a filter chain: expected it only in a `type nat` chain"
                    ));
                }
                Stmt::Verdict(v) => out.verdicts.push((always(), v.clone())),
                Stmt::Vmap { key, map } => {
                    let elements = match map {
                        Map::Inline(e) => e.clone(),
                        Map::Named(name) => {
                            let set = self.set(name)?;
                            if !set.verdict_map {
                                return Err(format!("@{name} is not a verdict map"));
                            }
                            set.verdicts.clone()
                        }
                    };
                    for (k, v) in elements {
                        let (_, holds) = self.key_holds(key, &k)?;
                        out.verdicts.push((holds, v));
                    }
                    if out.verdicts.is_empty() {
                        // An empty map decides nothing; keep the rule
                        // verdict-less.
                        break;
                    }
                    // Elements of a vmap are one statement.
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }
}

/// The largest value a numeric key holds (for `<`, `>`).
fn width_max(key: &Key) -> u64 {
    match field(key) {
        Some(Field::Port { .. }) => 65535,
        Some(Field::L4(_) | Field::IcmpType(_)) => 255,
        _ => u64::from(u32::MAX),
    }
}

// ------------------------------------------------------------ chains

/// Walks one base chain with its jumps, building its entries.
struct Walk<'a> {
    table: &'a Table,
    lower: Lowerer<'a>,
    /// The names of the regular chains reached.
    reached: &'a mut std::collections::BTreeSet<String>,
    entries: Vec<Entry>,
}

impl Walk<'_> {
    fn chain(
        &mut self,
        chain: &Chain,
        ctx: &[Term],
        stack: &mut Vec<String>,
    ) -> Result<(), DeviceError> {
        // The packets of this frame no `return` (or `goto`) took away yet.
        let mut live = always();
        for rule in &chain.rules {
            let at = |m: String| DeviceError::at(rule.line, rule.column, m);
            let lowered = self.lower.rule(rule).map_err(at)?;
            for (extra, verdict) in &lowered.verdicts {
                let cond = and_dnf(&lowered.cond, extra).map_err(at)?;
                let reach = and_dnf(&and_dnf(ctx, &cond).map_err(at)?, &live).map_err(at)?;
                match verdict {
                    Verdict::Accept | Verdict::Drop | Verdict::Reject | Verdict::Queue => {
                        self.push(rule, &reach, verdict, lowered.log);
                    }
                    Verdict::Jump(target) | Verdict::Goto(target) => {
                        if !reach.is_empty() {
                            self.jump(rule, target, &reach, stack)?;
                        }
                        if matches!(verdict, Verdict::Goto(_)) {
                            live = and_dnf(&live, &negate_dnf(&cond).map_err(at)?).map_err(at)?;
                        }
                    }
                    Verdict::Return => {
                        live = and_dnf(&live, &negate_dnf(&cond).map_err(at)?).map_err(at)?;
                    }
                    Verdict::Continue => {}
                }
            }
        }
        Ok(())
    }

    fn jump(
        &mut self,
        rule: &Rule,
        target: &str,
        reach: &[Term],
        stack: &mut Vec<String>,
    ) -> Result<(), DeviceError> {
        let at = |m: String| DeviceError::at(rule.line, rule.column, m);
        let table = self.table;
        let chain = table
            .chains
            .iter()
            .find(|c| c.name == target)
            .ok_or_else(|| {
                at(format!(
                    "chain `{target}` is not defined in table {} {}",
                    table.family, table.name
                ))
            })?;
        if chain.base.is_some() {
            return Err(at(format!("a jump to the base chain `{target}`")));
        }
        if stack.iter().any(|s| s == target) {
            return Err(at(format!("a loop of jumps through chain `{target}`")));
        }
        if stack.len() >= MAX_DEPTH {
            return Err(at(format!("jumps nested deeper than {MAX_DEPTH} chains")));
        }
        self.reached.insert(target.to_string());
        stack.push(target.to_string());
        self.chain(chain, reach, stack)?;
        stack.pop();
        Ok(())
    }

    fn push(&mut self, rule: &Rule, reach: &[Term], verdict: &Verdict, log: bool) {
        let action = match verdict {
            Verdict::Accept => Action::Allow,
            Verdict::Reject => Action::Reject,
            _ => Action::Deny,
        };
        let origin = Origin {
            line: rule.line,
            column: rule.column,
            text: rule.text.clone(),
            rule: rule.comment.as_deref().and_then(rule_of_comment),
        };
        for t in reach {
            let mut reasons = t.undecidable.clone();
            if *verdict == Verdict::Queue {
                reasons.push("`queue`: a userspace program decides".into());
            }
            self.entries.push(Entry {
                guard: t.guard.clone(),
                src: t.src.clone(),
                dst: t.dst.clone(),
                service: t.service.clone(),
                decision: Decision {
                    action,
                    log,
                    origin: origin.clone(),
                },
                undecidable: (!reasons.is_empty()).then(|| reasons.join("; ")),
            });
        }
    }
}

// ------------------------------------------------------------ the device

/// Counts of one kind of skipped chains.
#[derive(Default)]
struct Tally {
    tables: usize,
    chains: usize,
    rules: usize,
}

impl Tally {
    fn add(&mut self, chain: &Chain) {
        self.chains += 1;
        self.rules += chain.rules.len();
    }
    fn item(&self, what: &str) -> Option<String> {
        let n = |k: usize, one: &str| format!("{k} {one}{}", if k == 1 { "" } else { "s" });
        let mut parts = Vec::new();
        if self.tables > 0 {
            parts.push(n(self.tables, "table"));
        }
        if self.chains > 0 || self.tables == 0 {
            parts.push(n(self.chains, "chain"));
        }
        parts.push(n(self.rules, "rule"));
        (self.tables + self.chains > 0).then(|| format!("{what} ({})", parts.join(", ")))
    }
}

/// Whether a chain can stop a packet (by its policy or a verdict that
/// drops, rejects, queues or hands it on).
fn can_drop(chain: &Chain) -> bool {
    chain
        .base
        .as_ref()
        .is_some_and(|b| b.policy == Some(Verdict::Drop))
        || chain.rules.iter().any(|r| {
            r.stmts.iter().any(|s| {
                matches!(
                    s,
                    Stmt::Verdict(
                        Verdict::Drop
                            | Verdict::Reject
                            | Verdict::Queue
                            | Verdict::Jump(_)
                            | Verdict::Goto(_)
                    ) | Stmt::Vmap { .. }
                )
            })
        })
}

pub(super) fn device(rs: &Ruleset) -> Result<Device, DeviceError> {
    let mut layers: Vec<(i64, Layer)> = Vec::new();
    let (mut nat, mut local, mut harmless, mut route, mut unreached, mut dormant) = (
        Tally::default(),
        Tally::default(),
        Tally::default(),
        Tally::default(),
        Tally::default(),
        Tally::default(),
    );
    let mut families: std::collections::BTreeMap<&str, Tally> = Default::default();
    let mut not_evaluated = Vec::new();
    let (mut flowtables, mut objects) = (0, 0);
    for table in &rs.tables {
        flowtables += table.flowtables;
        objects += table.objects;
        let family = match table.family.as_str() {
            "inet" => None,
            "ip" => Some(Family::V4),
            "ip6" => Some(Family::V6),
            other => {
                let t = families.entry(other).or_default();
                t.tables += 1;
                for c in &table.chains {
                    t.add(c);
                    if c.base.is_some() && can_drop(c) {
                        not_evaluated.push(not_evaluated_item(table, c));
                    }
                }
                continue;
            }
        };
        if table.dormant {
            dormant.tables += 1;
            table.chains.iter().for_each(|c| dormant.add(c));
            continue;
        }
        let mut reached = std::collections::BTreeSet::new();
        for chain in &table.chains {
            let Some(base) = &chain.base else { continue };
            match (base.kind.as_str(), base.hook.as_str()) {
                ("filter", "forward") => {
                    let layer = forward_layer(table, chain, family, &mut reached)?;
                    layers.push((base.priority, layer));
                }
                ("nat", _) => nat.add(chain),
                ("route", _) => route.add(chain),
                ("filter", "input" | "output") => local.add(chain),
                _ if can_drop(chain) => not_evaluated.push(not_evaluated_item(table, chain)),
                _ => harmless.add(chain),
            }
        }
        for chain in table.chains.iter().filter(|c| c.base.is_none()) {
            if !reached.contains(&chain.name) {
                unreached.add(chain);
            }
        }
    }
    // Stable: equal priorities keep table order.
    layers.sort_by_key(|(p, _)| *p);
    let mut skipped: Vec<String> = [
        nat.item("NAT"),
        local.item("chains on the input and output hooks (traffic to and from the router itself)"),
        harmless.item("chains on other hooks that never drop"),
        route.item("route chains"),
        dormant.item("dormant tables"),
        unreached.item("regular chains no forward chain reaches"),
    ]
    .into_iter()
    .flatten()
    .collect();
    for (family, t) in &families {
        skipped.extend(t.item(&format!("{family} family")));
    }
    if flowtables > 0 {
        skipped.push(format!("flowtables ({flowtables})"));
    }
    if objects > 0 {
        skipped.push(format!("named stateful objects ({objects})"));
    }
    skipped.extend(not_evaluated);
    Ok(Device {
        target: Target::Nftables,
        places: None,
        layers: layers.into_iter().map(|(_, l)| l).collect(),
        skipped,
    })
}

fn not_evaluated_item(table: &Table, chain: &Chain) -> String {
    let (hook, prio) = chain
        .base
        .as_ref()
        .map_or(("?".into(), 0), |b| (b.hook.clone(), b.priority));
    format!(
        "table {} {} chain {} (hook {hook}, priority {prio}, {} rules): can drop forwarded packets, not evaluated",
        table.family,
        table.name,
        chain.name,
        chain.rules.len()
    )
}

fn forward_layer(
    table: &Table,
    chain: &Chain,
    family: Option<Family>,
    reached: &mut std::collections::BTreeSet<String>,
) -> Result<Layer, DeviceError> {
    let base = chain.base.as_ref().expect("a base chain");
    let name = format!("table {} {} chain {}", table.family, table.name, chain.name);
    let ctx = vec![match family {
        Some(f) => Term::family(f),
        None => Term::any(),
    }];
    let mut walk = Walk {
        table,
        lower: Lowerer { table },
        reached,
        entries: Vec::new(),
    };
    walk.chain(chain, &ctx, &mut vec![chain.name.clone()])?;
    let policy = base.policy.clone().unwrap_or(Verdict::Accept);
    let action = match policy {
        Verdict::Accept => Action::Allow,
        Verdict::Drop => Action::Deny,
        other => {
            return Err(DeviceError::at(
                0,
                0,
                format!("{name}: policy {other:?}: expected accept or drop"),
            ));
        }
    };
    Ok(Layer {
        name: format!("{name} (priority {})", base.priority),
        filters: vec![Filter {
            name: name.clone(),
            guard: Guard {
                family,
                ..Guard::any()
            },
            entries: walk.entries,
            default: Decision {
                action,
                log: false,
                origin: Origin {
                    line: 0,
                    column: 0,
                    text: format!(
                        "policy {} of {name}{}",
                        if action.permits() { "accept" } else { "drop" },
                        if base.policy.is_none() {
                            " (none printed: accept)"
                        } else {
                            ""
                        }
                    ),
                    rule: None,
                },
            },
        }],
        unfiltered: Action::Allow,
    })
}

/// Priorities as the text form prints them, for the parsers.
pub(super) fn chain_priority(words: &[&str]) -> Result<i64, String> {
    priority(words)
}
