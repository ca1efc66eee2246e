//! The PAN-OS inventory for `import`, from the same running-config XML the
//! reader reads: zones and the networks of their layer-3 interfaces
//! (`network/interface/ethernet/entry/layer3/ip/entry@name`, subinterfaces
//! under `layer3/units`), the zone the static default route leaves by
//! (`virtual-router/.../static-route/entry` with destination `0.0.0.0/0`
//! or `::/0`), address objects (`ip-netmask`, `ip-range`; `fqdn` and
//! `ip-wildcard` are left to the reader), static address groups, and
//! service objects and groups (`protocol/tcp|udp/port`, source ports
//! left out). Layout: pan-os-python's `panos/network.py` and
//! `panos/objects.py`, as the drift fixtures cite.

use ipnet::IpNet;
use roxmltree::{Document, Node};

use super::inventory::{Inventory, NamedAddresses, NamedService, PlaceInfo};
use crate::addrset::{AddrSet, PortSet};
use crate::read::device::DeviceError;
use crate::vocab::ServiceSet;

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(name))
}

fn path<'a, 'i>(n: Node<'a, 'i>, names: &[&str]) -> Option<Node<'a, 'i>> {
    names.iter().try_fold(n, |at, name| child(at, name))
}

fn entries<'a, 'i>(n: Option<Node<'a, 'i>>) -> impl Iterator<Item = Node<'a, 'i>> {
    n.into_iter()
        .flat_map(|n| n.children().filter(|c| c.has_tag_name("entry")))
}

fn text_of(n: Node, name: &str) -> Option<String> {
    child(n, name)
        .and_then(|c| c.text())
        .map(|t| t.trim().to_string())
}

fn members(n: Option<Node>) -> Vec<String> {
    n.into_iter()
        .flat_map(|n| n.children().filter(|c| c.has_tag_name("member")))
        .filter_map(|m| m.text().map(|t| t.trim().to_string()))
        .collect()
}

/// The inventory of a PAN-OS running-config.
pub fn read(text: &str) -> Result<Inventory, DeviceError> {
    let doc = Document::parse(text)
        .map_err(|e| DeviceError::at(e.pos().row as usize, e.pos().col as usize, e.to_string()))?;
    let root = doc.root_element();
    let mut inv = Inventory {
        disabled: super::panos::disabled_rules(text)?,
        ..Inventory::default()
    };
    let Some(device) = entries(child(root, "devices")).next() else {
        return Ok(inv);
    };
    // Interface → its networks and comment.
    let mut networks: Vec<(String, Vec<IpNet>)> = Vec::new();
    for iface in entries(path(device, &["network", "interface", "ethernet"])) {
        let name = iface.attribute("name").unwrap_or_default().to_string();
        let mut add = |name: String, layer3: Option<Node>| {
            let nets = entries(layer3.and_then(|l| child(l, "ip")))
                .filter_map(|e| e.attribute("name")?.parse::<IpNet>().ok())
                .map(|n| n.trunc())
                .collect();
            networks.push((name, nets));
        };
        let layer3 = child(iface, "layer3");
        add(name, layer3);
        for unit in entries(layer3.and_then(|l| child(l, "units"))) {
            add(
                unit.attribute("name").unwrap_or_default().to_string(),
                Some(unit),
            );
        }
    }
    let mut default_ifaces = Vec::new();
    for vr in entries(path(device, &["network", "virtual-router"])) {
        for family in ["ip", "ipv6"] {
            for route in entries(path(vr, &["routing-table", family, "static-route"])) {
                let dst = text_of(route, "destination").unwrap_or_default();
                if (dst == "0.0.0.0/0" || dst == "::/0")
                    && let Some(i) = text_of(route, "interface")
                {
                    default_ifaces.push(i);
                }
            }
        }
    }
    let scopes: Vec<Node> = entries(child(device, "vsys"))
        .chain(child(root, "shared"))
        .collect();
    for vsys in entries(child(device, "vsys")) {
        for zone in entries(child(vsys, "zone")) {
            let ifaces = members(path(zone, &["network", "layer3"]));
            let mut place = PlaceInfo {
                name: zone.attribute("name").unwrap_or_default().to_string(),
                ..PlaceInfo::default()
            };
            for i in &ifaces {
                if let Some((_, n)) = networks.iter().find(|(name, _)| name == i) {
                    place.networks.extend(n.iter().copied());
                }
                place.default_route |= default_ifaces.contains(i);
            }
            if !ifaces.is_empty() {
                place.description = Some(format!("zone of {}", ifaces.join(", ")));
            }
            if place.networks.is_empty() {
                place.unused = Some("its interfaces have no layer-3 address".into());
            }
            inv.places.push(place);
        }
    }
    for scope in &scopes {
        for a in entries(child(*scope, "address")) {
            let own = if let Some(n) = text_of(a, "ip-netmask") {
                match n.parse::<IpNet>() {
                    Ok(net) => AddrSet::from_net(net.trunc()),
                    Err(_) => match n.parse() {
                        Ok(ip) => AddrSet::from_addr(ip),
                        Err(_) => continue,
                    },
                }
            } else if let Some(r) = text_of(a, "ip-range") {
                let Some((lo, hi)) = r.split_once('-') else {
                    continue;
                };
                match (lo.trim().parse(), hi.trim().parse()) {
                    (Ok(lo), Ok(hi)) => AddrSet::from_range(lo, hi),
                    _ => continue,
                }
            } else {
                continue;
            };
            inv.addresses.push(NamedAddresses {
                name: a.attribute("name").unwrap_or_default().to_string(),
                description: text_of(a, "description"),
                own,
                members: Vec::new(),
            });
        }
        for g in entries(child(*scope, "address-group")) {
            let static_members = members(child(g, "static"));
            if static_members.is_empty() {
                continue;
            }
            inv.addresses.push(NamedAddresses {
                name: g.attribute("name").unwrap_or_default().to_string(),
                description: text_of(g, "description"),
                own: AddrSet::empty(),
                members: static_members,
            });
        }
        for s in entries(child(*scope, "service")) {
            let Some(proto) = child(s, "protocol") else {
                continue;
            };
            let mut set = ServiceSet::default();
            let mut exact = true;
            for (tag, tcp) in [("tcp", true), ("udp", false)] {
                let Some(p) = child(proto, tag) else { continue };
                exact &= child(p, "source-port").is_none();
                let ports = text_of(p, "port").unwrap_or_default();
                let mut parsed = PortSet::default();
                for part in ports.split(',') {
                    let (lo, hi) = part.split_once('-').unwrap_or((part, part));
                    match (lo.trim().parse(), hi.trim().parse()) {
                        (Ok(lo), Ok(hi)) if lo <= hi => {
                            parsed = parsed.union(&PortSet::range(lo, hi))
                        }
                        _ => exact = false,
                    }
                }
                if tcp {
                    set.tcp = parsed;
                } else {
                    set.udp = parsed;
                }
            }
            if exact && !set.is_empty() {
                inv.services.push(NamedService {
                    name: s.attribute("name").unwrap_or_default().to_string(),
                    description: text_of(s, "description"),
                    service: set,
                });
            }
        }
    }
    Ok(inv)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fixture_gives_zones_networks_objects_and_the_default_route() {
        let text =
            std::fs::read_to_string("tests/fixtures/devices/panos/running-config.xml").unwrap();
        let inv = super::read(&text).unwrap();
        let untrust = inv.place("untrust").unwrap();
        assert!(untrust.default_route);
        assert_eq!(
            inv.place("icu-devices").unwrap().networks[0].to_string(),
            "10.20.0.0/16"
        );
        let monitors = inv
            .addresses
            .iter()
            .find(|a| a.name == "icu-monitors")
            .unwrap();
        assert_eq!(monitors.own.to_string(), "10.20.1.0/24");
        assert!(
            inv.addresses.iter().all(|a| a.name != "vendor-updates"),
            "an FQDN is not an address set"
        );
        assert!(
            inv.services.iter().all(|s| s.name != "svc-ntp"),
            "a source-port service is not exact"
        );
        assert!(inv.services.iter().any(|s| s.name == "svc-snmp"));
    }
}
