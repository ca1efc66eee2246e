//! The Cisco inventory for `import`: the object groups as the reader
//! resolves them ([`super::cisco::object_groups`]), with their
//! descriptions, and the interfaces' networks, VRFs and the default route,
//! from the same `show running-config`.
//!
//! Interface addressing is as IOS prints it: `ip address A.B.C.D M.M.M.M
//! [secondary]`, `ipv6 address X:X::X/len` (`link-local` and `eui-64`
//! forms: the prefix), `vrf forwarding NAME` / `ip vrf forwarding NAME`,
//! `shutdown`; static defaults `ip route 0.0.0.0 0.0.0.0 NEXT-HOP|INTERFACE`
//! and `ipv6 route ::/0 NEXT-HOP|INTERFACE` (IOS-XE IP Routing
//! configuration guide, "Static Routing"). Everything else is the
//! reader's business.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::inventory::{Inventory, NamedAddresses, NamedService, PlaceInfo};
use crate::read::device::DeviceError;

/// The inventory of a `show running-config`.
pub fn read(text: &str) -> Result<Inventory, DeviceError> {
    let (networks, services) = super::cisco::object_groups(text)?;
    let scan = Scan::of(text);
    let description = |name: &str| {
        scan.descriptions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.clone())
    };
    let mut inv = Inventory {
        addresses: networks
            .into_iter()
            .map(|(name, own, members)| NamedAddresses {
                description: description(&name),
                name,
                own,
                members,
            })
            .collect(),
        services: services
            .into_iter()
            .map(|(name, service)| NamedService {
                description: description(&name),
                name,
                service,
            })
            .collect(),
        places: scan.interfaces,
        comments: scan.remarks,
        // A running-config has no disabled ACL entries: an entry is
        // configured or absent (one with a time-range is undecidable and
        // set aside by the reader instead).
        disabled: Vec::new(),
    };
    for hop in &scan.default_hops {
        let by_name = inv.places.iter().position(|p| &p.name == hop);
        let by_net = hop.parse::<IpAddr>().ok().and_then(|a| {
            inv.places
                .iter()
                .position(|p| p.unused.is_none() && p.networks.iter().any(|n| n.contains(&a)))
        });
        if let Some(i) = by_name.or(by_net) {
            inv.places[i].default_route = true;
        }
    }
    Ok(inv)
}

#[derive(Default)]
struct Scan {
    interfaces: Vec<PlaceInfo>,
    /// Object group name → description.
    descriptions: Vec<(String, String)>,
    /// Next hops (addresses or interfaces) of the global default routes.
    default_hops: Vec<String>,
    /// (line of an entry, the remarks before it).
    remarks: Vec<(usize, String)>,
}

enum In {
    Nothing,
    /// An ACL block, and the remarks waiting for their entry.
    Acl(Vec<String>),
    Interface(usize),
    Group(String),
}

impl Scan {
    fn of(text: &str) -> Scan {
        let mut scan = Scan::default();
        let mut block = In::Nothing;
        let mut banner_end: Option<String> = None;
        // Numbered ACLs' remarks wait for the next line of their number.
        let mut numbered: Vec<(String, Vec<String>)> = Vec::new();
        for (i, raw) in text.split('\n').enumerate() {
            let line = raw.trim_end_matches('\r');
            if let Some(end) = &banner_end {
                if line.contains(end.as_str()) {
                    banner_end = None;
                }
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.is_empty() || line.starts_with('!') {
                continue;
            }
            if !line.starts_with(' ') {
                block = In::Nothing;
                match words.as_slice() {
                    ["banner", _, delimiter, ..] => {
                        let after = line
                            .find(delimiter)
                            .map_or("", |i| &line[i + delimiter.len()..]);
                        if !after.contains(delimiter) {
                            banner_end = Some(delimiter.chars().take(2).collect());
                        }
                    }
                    ["interface", name] => {
                        scan.interfaces.push(PlaceInfo {
                            name: name.to_string(),
                            ..PlaceInfo::default()
                        });
                        block = In::Interface(scan.interfaces.len() - 1);
                    }
                    ["object-group", _, name] => block = In::Group(name.to_string()),
                    ["ip", "access-list", _, _] | ["ipv6", "access-list", _] => {
                        block = In::Acl(Vec::new())
                    }
                    ["access-list", number, rest @ ..] => {
                        let at = numbered.iter().position(|(n, _)| n == number);
                        if rest.first() == Some(&"remark") {
                            let text = remark_text(line, "remark");
                            match at {
                                Some(k) => numbered[k].1.push(text),
                                None => numbered.push((number.to_string(), vec![text])),
                            }
                        } else if let Some(k) = at {
                            let (_, pending) = numbered.remove(k);
                            scan.remarks.push((i + 1, pending.join("; ")));
                        }
                    }
                    ["ip", "route", "0.0.0.0", "0.0.0.0", hop, ..]
                    | ["ipv6", "route", "::/0", hop, ..] => scan.default_hops.push(hop.to_string()),
                    _ => {}
                }
                continue;
            }
            match &mut block {
                In::Acl(pending) => {
                    if words.contains(&"remark") {
                        pending.push(remark_text(line, "remark"));
                    } else if !pending.is_empty() {
                        scan.remarks.push((i + 1, pending.join("; ")));
                        pending.clear();
                    }
                }
                In::Interface(i) => interface_line(&mut scan.interfaces[*i], line.trim(), &words),
                In::Group(name) => {
                    if words[0] == "description" {
                        let text = line.trim()["description".len()..].trim().to_string();
                        scan.descriptions.push((name.clone(), text));
                    }
                }
                In::Nothing => {}
            }
        }
        for p in &mut scan.interfaces {
            if p.unused.is_none() && p.networks.is_empty() {
                p.unused = Some("it has no IP address".into());
            }
        }
        scan
    }
}

/// The text after the first `word` of `line`.
fn remark_text(line: &str, word: &str) -> String {
    line.split_once(&format!(" {word} "))
        .map_or(String::new(), |(_, t)| t.trim().to_string())
}

fn interface_line(place: &mut PlaceInfo, trimmed: &str, words: &[&str]) {
    match words {
        ["description", ..] => {
            place.description = Some(trimmed["description".len()..].trim().to_string());
        }
        ["ip", "address", a, m, ..] => {
            if let (Ok(a), Ok(m)) = (a.parse::<Ipv4Addr>(), m.parse::<Ipv4Addr>()) {
                let len = u32::from(m).leading_ones() as u8;
                if let Ok(net) = Ipv4Net::new(a, len) {
                    place.networks.push(IpNet::V4(net.trunc()));
                }
            }
        }
        ["ipv6", "address", p, rest @ ..] if !rest.contains(&"link-local") => {
            if let Ok(net) = p.parse::<Ipv6Net>() {
                place.networks.push(IpNet::V6(net.trunc()));
            }
        }
        ["vrf", "forwarding", vrf] | ["ip", "vrf", "forwarding", vrf] => {
            place.unused = Some(format!(
                "it routes in VRF {vrf}, apart from the global table"
            ));
        }
        ["shutdown"] => place.unused = Some("it is shut down".into()),
        ["no", "shutdown"] if place.unused.as_deref() == Some("it is shut down") => {
            place.unused = None;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn interfaces_give_their_networks_and_the_default_route_its_place() {
        let text = "interface Vlan10\n ip address 10.40.0.1 255.255.0.0\n ipv6 address FD42:1::1/64\n\
                    interface Gi1\n description uplink\n ip address 10.255.0.2 255.255.255.252\n\
                    interface Gi0\n vrf forwarding Mgmt\n ip address 192.168.0.1 255.255.255.0\n\
                    banner motd ^C\ninterface Fake\n^C\n\
                    object-group network SRV\n description the servers\n host 10.40.0.5\n\
                    ip route 0.0.0.0 0.0.0.0 10.255.0.1\n";
        let inv = super::read(text).unwrap();
        let names: Vec<&str> = inv.places.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["Vlan10", "Gi1", "Gi0"],
            "a banner's text is not config"
        );
        let v10 = inv.place("Vlan10").unwrap();
        assert_eq!(v10.networks.len(), 2);
        assert_eq!(v10.networks[0].to_string(), "10.40.0.0/16");
        assert!(inv.place("Gi1").unwrap().default_route);
        assert!(!v10.default_route);
        assert!(inv.place("Gi0").unwrap().unused.is_some());
        assert_eq!(inv.addresses[0].description.as_deref(), Some("the servers"));
    }
}
