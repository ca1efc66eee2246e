"""Independent cross-check of wardwall's Cisco output with the PyPI package
cisco-acl (an IOS extended-ACL entry parser with its own keyword tables).

Reads an .ios file, parses every entry line of every IPv4 `ip access-list
extended` block with cisco_acl.Ace, and prints one JSON object per entry.
Lines cisco-acl cannot parse are reported as {"error": ...}: the Rust test
decides which failures are acceptable (none, except numeric ICMP types,
which IOS accepts and cisco-acl does not).
"""

import json
import sys

from cisco_acl import Ace


def main(path):
    acl = None
    with open(path, encoding="ascii") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.startswith("ip access-list extended "):
                acl = line.split()[-1]
                continue
            if not line.startswith(" "):
                acl = None
                continue
            if acl is None:
                continue
            body = line[1:]
            if body.split()[1] == "remark":
                continue
            try:
                ace = Ace(body)
            except Exception as e:  # noqa: BLE001 - report every failure
                print(json.dumps({"acl": acl, "line": body, "error": f"{type(e).__name__}: {e}"}))
                continue
            print(json.dumps({
                "acl": acl,
                "seq": int(ace.sequence),
                "action": ace.action,
                "protocol": int(ace.protocol.number) if ace.protocol.line != "ip" else None,
                "src": ace.srcaddr.line,
                "dst": ace.dstaddr.line,
                "sports": list(ace.srcport.ports) if ace.srcport.line else [],
                "dports": list(ace.dstport.ports) if ace.dstport.line else [],
                "flags": list(ace.option.flags),
                "logs": list(ace.option.logs),
            }))


if __name__ == "__main__":
    main(sys.argv[1])
