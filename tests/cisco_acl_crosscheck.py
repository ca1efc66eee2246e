"""Independent cross-check of wardwall's Cisco output with the PyPI package
cisco-acl (an IOS extended-ACL entry parser with its own keyword tables).

Reads an .ios file, parses every entry line of every IPv4 `ip access-list
extended` block with cisco_acl.Ace, and prints one JSON object per entry.
Lines cisco-acl cannot parse are reported as {"error": ...}: the Rust test
decides which failures are acceptable (none, except numeric ICMP types,
which IOS accepts and cisco-acl does not).

cisco-acl cannot read an entry that names an `object-group service` in the
protocol position. Such an entry is expanded here, from this script's own
reading of the group's definition: for member number i (` tcp eq 2575`,
` udp range 6661 6670`, ` icmp echo`, ` icmp`), the equivalent single-service
entry `SEQ ACTION PROTO SRC DST [PORTS|TYPE] [log]` is parsed by cisco-acl and
printed with "group" and "member": i. No entry line is skipped.
"""

import json
import sys

from cisco_acl import Ace


def split_addr(words):
    """One address field from the front of `words`: (text, rest)."""
    if words[0] == "any":
        return "any", words[1:]
    return " ".join(words[:2]), words[2:]


def expand(body, services):
    """The single-service entries equivalent to a service-group entry, or
    None when `body` does not name a service group."""
    words = body.split(" ")
    seq, action, proto = words[0], words[1], words[2]
    if proto != "object-group":
        return None
    group = words[3]
    src, rest = split_addr(words[4:])
    dst, rest = split_addr(rest)
    out = []
    for member in services[group]:
        mw = member.split(" ")
        line = " ".join([seq, action, mw[0], src, dst] + mw[1:] + rest)
        out.append(line)
    return group, out


def main(path):
    acl = None
    service = None
    services = {}
    with open(path, encoding="ascii") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.startswith("object-group service "):
                service = line.split()[-1]
                services[service] = []
                acl = None
                continue
            if line.startswith("ip access-list extended "):
                acl = line.split()[-1]
                service = None
                continue
            if not line.startswith(" "):
                acl = None
                service = None
                continue
            if service is not None:
                if not line.startswith(" description "):
                    services[service].append(line[1:])
                continue
            if acl is None:
                continue
            body = line[1:]
            if body.split()[1] == "remark":
                continue
            expanded = expand(body, services)
            if expanded is None:
                lines = [(None, None, body)]
            else:
                group, bodies = expanded
                lines = [(group, i, b) for i, b in enumerate(bodies)]
            for group, member, text in lines:
                extra = {} if group is None else {"group": group, "member": member}
                try:
                    ace = Ace(text)
                except Exception as e:  # noqa: BLE001 - report every failure
                    print(json.dumps({"acl": acl, "line": text, "error": f"{type(e).__name__}: {e}", **extra}))
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
                    **extra,
                }))


if __name__ == "__main__":
    main(sys.argv[1])
