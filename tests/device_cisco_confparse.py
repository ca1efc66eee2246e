"""Reads a Cisco `show running-config` with the PyPI package ciscoconfparse2
(its own IOS block parser) for tests/device_cisco.rs, and prints as JSON what
it sees: every interface in order with its ACL bindings (`ACL NAME in`,
`IPv6 ACL NAME out`), and every `ip access-list` / `ipv6 access-list` block
with the 1-based line numbers of its children."""

import json
import sys

from ciscoconfparse2 import CiscoConfParse


def main(path):
    parse = CiscoConfParse(path, syntax="ios")
    interfaces = []
    for obj in parse.find_objects(r"^interface\s+\S+$"):
        bindings = []
        for child in obj.children:
            words = child.text.split()
            if words[:2] == ["ip", "access-group"] and len(words) == 4:
                bindings.append(f"ACL {words[2]} {words[3]}")
            if words[:2] == ["ipv6", "traffic-filter"] and len(words) == 4:
                bindings.append(f"IPv6 ACL {words[2]} {words[3]}")
        interfaces.append({"name": obj.text.split()[1], "bindings": bindings})
    acls = {}
    for obj in parse.find_objects(r"^(ip access-list (extended|standard)|ipv6 access-list)\s"):
        name = obj.text.split()[-1]
        acls[name] = [
            {"line": c.linenum + 1, "text": c.text.strip()} for c in obj.children
        ]
    json.dump({"interfaces": interfaces, "acls": acls}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
