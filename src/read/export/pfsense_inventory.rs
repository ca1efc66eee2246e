//! The pfSense inventory for `import`, from the same config.xml the reader
//! reads: interfaces (`interfaces/<key>`: `descr`, `enable`, static
//! `ipaddr`/`subnet`, `ipaddrv6`/`subnetv6`; `dhcp`, `pppoe` and the like
//! mean the upstream, where the default route leaves), and aliases
//! (`aliases/alias`: `host` and `network` with addresses, CIDRs, ranges
//! and nested alias names; `port` with ports and `A:B` ranges). An alias
//! with an FQDN or URL entry names no fixed set and is left to the reader.
//! Layout: pfSense's src/conf.default/config.xml and
//! docs.netgate.com/pfsense/en/latest/firewall/aliases.html, as the drift
//! fixtures cite.

use std::net::IpAddr;

use ipnet::IpNet;
use roxmltree::{Document, Node};

use super::inventory::{Inventory, NamedAddresses, NamedService, PlaceInfo};
use crate::addrset::{AddrSet, PortSet};
use crate::read::device::DeviceError;
use crate::vocab::ServiceSet;

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(name))
}

fn text_of(n: Node, name: &str) -> Option<String> {
    child(n, name)
        .and_then(|c| c.text())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The inventory of a pfSense config.xml.
pub fn read(text: &str) -> Result<Inventory, DeviceError> {
    let doc = Document::parse(text)
        .map_err(|e| DeviceError::at(e.pos().row as usize, e.pos().col as usize, e.to_string()))?;
    let root = doc.root_element();
    let mut inv = Inventory {
        disabled: super::pfsense::disabled_rules(text)?,
        ..Inventory::default()
    };
    for iface in child(root, "interfaces")
        .into_iter()
        .flat_map(|i| i.children().filter(Node::is_element))
    {
        let mut place = PlaceInfo {
            name: iface.tag_name().name().to_string(),
            description: text_of(iface, "descr"),
            ..PlaceInfo::default()
        };
        let v4 = text_of(iface, "ipaddr");
        for (addr, len) in [
            (v4.clone(), text_of(iface, "subnet")),
            (text_of(iface, "ipaddrv6"), text_of(iface, "subnetv6")),
        ] {
            if let (Some(a), Some(l)) = (addr, len)
                && let (Ok(a), Ok(l)) = (a.parse::<IpAddr>(), l.parse::<u8>())
                && let Ok(net) = IpNet::new(a, l)
            {
                place.networks.push(net.trunc());
            }
        }
        // A dynamic address is the upstream's: the default route leaves there.
        place.default_route = v4.as_deref().is_some_and(|a| a.parse::<IpAddr>().is_err());
        if child(iface, "enable").is_none() {
            place.unused = Some("it is not enabled".into());
        } else if place.networks.is_empty() && !place.default_route {
            place.unused = Some("it has no static address".into());
        }
        inv.places.push(place);
    }
    for alias in child(root, "aliases")
        .into_iter()
        .flat_map(|a| a.children().filter(|c| c.has_tag_name("alias")))
    {
        let (Some(name), Some(kind)) = (text_of(alias, "name"), text_of(alias, "type")) else {
            continue;
        };
        let items: Vec<String> = text_of(alias, "address")
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect();
        let description = text_of(alias, "descr");
        match kind.as_str() {
            "host" | "network" => {
                let mut own = AddrSet::empty();
                let mut members = Vec::new();
                let mut fixed = true;
                for item in &items {
                    if let Some(set) = address(item) {
                        own = own.union(&set);
                    } else if item.starts_with(|c: char| c.is_ascii_alphabetic())
                        && !item.contains('.')
                    {
                        members.push(item.clone());
                    } else {
                        fixed = false;
                    }
                }
                if fixed {
                    inv.addresses.push(NamedAddresses {
                        name,
                        description,
                        own,
                        members,
                    });
                }
            }
            "port" => {
                let mut ports = PortSet::default();
                let mut fixed = true;
                for item in &items {
                    let (lo, hi) = item.split_once(':').unwrap_or((item, item));
                    match (lo.parse::<u16>(), hi.parse::<u16>()) {
                        (Ok(lo), Ok(hi)) if lo <= hi => {
                            ports = ports.union(&PortSet::range(lo, hi))
                        }
                        _ => fixed = false,
                    }
                }
                if fixed && !ports.is_empty() {
                    let service = ServiceSet {
                        tcp: ports.clone(),
                        udp: ports,
                        ..ServiceSet::default()
                    };
                    inv.services.push(NamedService {
                        name,
                        description,
                        service,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(inv)
}

/// An address, CIDR or range entry of an alias.
fn address(item: &str) -> Option<AddrSet> {
    if let Ok(net) = item.parse::<IpNet>() {
        return Some(AddrSet::from_net(net.trunc()));
    }
    if let Ok(ip) = item.parse::<IpAddr>() {
        return Some(AddrSet::from_addr(ip));
    }
    let (lo, hi) = item.split_once('-')?;
    Some(AddrSet::from_range(lo.parse().ok()?, hi.parse().ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fixture_gives_interfaces_aliases_and_the_upstream() {
        let text = std::fs::read_to_string("tests/fixtures/devices/pfsense/hospital.xml").unwrap();
        let inv = super::read(&text).unwrap();
        assert!(inv.place("wan").unwrap().default_route);
        let lan = inv.place("lan").unwrap();
        assert_eq!(lan.networks.len(), 2);
        assert_eq!(lan.networks[0].to_string(), "10.40.0.0/16");
        assert!(inv.place("opt4").unwrap().unused.is_some(), "not enabled");
        let nets = inv
            .addresses
            .iter()
            .find(|a| a.name == "CLINICAL_NETS")
            .unwrap();
        assert_eq!(nets.members, ["ICU_MONITORS"]);
        assert_eq!(
            inv.resolved("CLINICAL_NETS").unwrap().to_string(),
            "10.10.20.0/24, 10.20.8.0/24"
        );
        assert!(inv.services.iter().any(|s| s.name == "CENTRAL_PORTS"));
    }
}
