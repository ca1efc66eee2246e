"""Loads a wardwall PAN-OS XML config offline with pan-os-python and prints
what it parsed (address objects, address groups, services, security rules in
order) as JSON on stdout. Used by tests/panos.rs as an independent parser.

Usage: python parse_xml.py CONFIG.xml
"""

import json
import sys
import xml.etree.ElementTree as ET

from panos.firewall import Firewall
from panos.device import Vsys
from panos.objects import AddressObject, AddressGroup, ServiceObject
from panos.policies import Rulebase, SecurityRule


def members(value):
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return list(value)


# pan-os-python silently ignores elements it does not know; refuse them, so a
# misspelt element in the output cannot pass unnoticed.
KNOWN_RULE_ELEMENTS = {
    "from", "to", "source", "destination", "source-user", "category",
    "application", "service", "action", "icmp-unreachable", "log-start",
    "log-end", "rule-type", "negate-source", "negate-destination",
    "disabled", "description",
}
KNOWN_VSYS_ELEMENTS = {"address", "address-group", "service", "rulebase"}


def check_known(vsys_xml):
    for child in vsys_xml:
        if child.tag not in KNOWN_VSYS_ELEMENTS:
            raise SystemExit(f"unexpected vsys element <{child.tag}>")
    for entry in vsys_xml.findall("./rulebase/security/rules/entry"):
        for child in entry:
            if child.tag not in KNOWN_RULE_ELEMENTS:
                raise SystemExit(
                    f"unexpected element <{child.tag}> in rule {entry.get('name')}"
                )


def main(path):
    root = ET.parse(path).getroot()
    entries = root.findall("./devices/entry/vsys/entry")
    if len(entries) != 1:
        raise SystemExit(f"expected one vsys entry, found {len(entries)}")
    vsys_xml = entries[0]
    check_known(vsys_xml)
    fw = Firewall()
    vsys = Vsys(vsys_xml.get("name"))
    fw.add(vsys)
    vsys.refresh(xml=vsys_xml)

    out = {"addresses": {}, "groups": {}, "services": {}, "rules": []}
    for obj in vsys.findall(AddressObject):
        out["addresses"][obj.name] = {"type": obj.type, "value": obj.value}
    for obj in vsys.findall(AddressGroup):
        out["groups"][obj.name] = {
            "members": members(obj.static_value),
            "description": obj.description,
        }
    for obj in vsys.findall(ServiceObject):
        out["services"][obj.name] = {
            "protocol": obj.protocol,
            "port": obj.destination_port,
        }
    rulebases = vsys.findall(Rulebase)
    if len(rulebases) != 1:
        raise SystemExit(f"expected one rulebase, found {len(rulebases)}")
    for rule in rulebases[0].findall(SecurityRule):
        out["rules"].append(
            {
                "name": rule.name,
                "from": members(rule.fromzone),
                "to": members(rule.tozone),
                "source": members(rule.source),
                "destination": members(rule.destination),
                "source_user": members(rule.source_user),
                "category": members(rule.category),
                "application": members(rule.application),
                "service": members(rule.service),
                "action": rule.action,
                # None where the element is absent: the reader applies
                # PAN-OS defaults (log-end yes, everything else no).
                "icmp_unreachable": rule.icmp_unreachable,
                "log_start": rule.log_start,
                "log_end": rule.log_end,
                "rule_type": rule.type,
                "negate_source": rule.negate_source,
                "negate_destination": rule.negate_destination,
                "disabled": rule.disabled,
                "description": rule.description,
            }
        )
    json.dump(out, sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
