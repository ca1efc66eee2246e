"""Loads a PAN-OS running configuration (as the firewall exports it) offline
with pan-os-python and prints what it parsed, in the shape of
`wardwall::read::export::panos::Parsed`, as JSON on stdout: zones and their
interfaces, address objects, address groups, services and service groups of
`shared` and of the one vsys (keyed `shared/NAME` / `vsys/NAME`), and every
security rule in evaluation order (Panorama pre-rules, local rules,
post-rules). Used by tests/device_panos.rs as an independent parser.

Usage: python parse_running.py CONFIG.xml
"""

import json
import sys
import xml.etree.ElementTree as ET

from panos.firewall import Firewall
from panos.device import Vsys
from panos.network import Zone
from panos.objects import AddressObject, AddressGroup, ServiceObject, ServiceGroup
from panos.policies import SecurityRule


def members(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def load(cls, parent, section):
    """Every `cls` under `section` (an element such as <address>), parsed
    by pan-os-python's own factory."""
    if section is None:
        return []
    proto = cls()
    proto.parent = parent
    return proto.refreshall_from_xml(section)


def objects(out, scope, parent, xml):
    if xml is None:
        return
    for obj in load(AddressObject, parent, xml.find("address")):
        out["addresses"][f"{scope}/{obj.name}"] = {"kind": obj.type, "value": obj.value}
    for obj in load(AddressGroup, parent, xml.find("address-group")):
        out["groups"][f"{scope}/{obj.name}"] = {
            "members": members(obj.static_value) if obj.static_value is not None else None,
            "filter": obj.dynamic_value,
        }
    for obj in load(ServiceObject, parent, xml.find("service")):
        out["services"][f"{scope}/{obj.name}"] = {
            "protocol": obj.protocol,
            "port": obj.destination_port,
            "source_port": obj.source_port,
        }
    for obj in load(ServiceGroup, parent, xml.find("service-group")):
        out["service_groups"][f"{scope}/{obj.name}"] = members(obj.value)


def rules(parent, base):
    if base is None:
        return []
    out = []
    for rule in load(SecurityRule, parent, base.find("./security/rules")):
        out.append(
            {
                "name": rule.name,
                "from": members(rule.fromzone),
                "to": members(rule.tozone),
                "source": members(rule.source),
                "destination": members(rule.destination),
                "application": members(rule.application),
                "service": members(rule.service),
                "action": rule.action or "",
                "rule_type": rule.type or "universal",
                "negate_source": bool(rule.negate_source),
                "negate_destination": bool(rule.negate_destination),
                "disabled": bool(rule.disabled),
            }
        )
    return out


def main(path):
    root = ET.parse(path).getroot()
    if root.tag == "response":
        root = root.find("./result/config")
    vsys_list = root.findall("./devices/entry/vsys/entry")
    if len(vsys_list) != 1:
        raise SystemExit(f"expected one vsys, found {len(vsys_list)}")
    vsys_xml = vsys_list[0]
    shared_xml = root.find("shared")
    fw = Firewall()
    vsys = Vsys(vsys_xml.get("name"))
    fw.add(vsys)

    out = {
        "vsys": vsys.name,
        "zones": [],
        "addresses": {},
        "groups": {},
        "services": {},
        "service_groups": {},
        "rules": [],
    }
    for zone in load(Zone, vsys, vsys_xml.find("zone")):
        out["zones"].append([zone.name, members(zone.interface)])
    objects(out, "shared", fw, shared_xml)
    objects(out, "vsys", vsys, vsys_xml)
    shared_pre = shared_xml.find("pre-rulebase") if shared_xml is not None else None
    shared_post = shared_xml.find("post-rulebase") if shared_xml is not None else None
    out["rules"] = (
        rules(fw, shared_pre)
        + rules(vsys, vsys_xml.find("pre-rulebase"))
        + rules(vsys, vsys_xml.find("rulebase"))
        + rules(vsys, vsys_xml.find("post-rulebase"))
        + rules(fw, shared_post)
    )
    json.dump(out, sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
