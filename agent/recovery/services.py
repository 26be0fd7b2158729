"""After the swap: the host serves what it served before (addresses, routes, resolvers, sockets).

These compare the baseline's ``network`` and ``listening`` sections (agent.baseline_services)
with the live host. A socket the baseline listened on must listen again, on the same protocol,
address and port (UDP ports >= 32768 are client ports and ignored); every global address of the
baseline must be on some interface again, except IPv6 addresses derived from the old MAC
(EUI-64), which change with the board by design; the default gateways and resolvers must be the
same.
"""

from __future__ import annotations

from typing import Any, Mapping

from agent.baseline_services import failure_text

EPHEMERAL_UDP = 32768


def _sockets(b: Mapping[str, Any]) -> dict[tuple, dict[str, Any]]:
    out = {}
    for s in ((b.get("listening") or {}).get("sockets") or []):
        if s.get("proto") == "udp" and int(s.get("port") or 0) >= EPHEMERAL_UDP:
            continue
        out[(s.get("proto"), s.get("address"), s.get("port"))] = s
    return out


def compare_listening(old: Mapping[str, Any], new: Mapping[str, Any], host=None) -> tuple[list[str], str, str]:
    src = (new.get("listening") or {}).get("source") or {}
    why = failure_text(src)
    if why:
        return [f"listening sockets unreadable: {why} ({' '.join(src.get('argv') or ['ss', '-tulnpH'])})"], "", ""
    before, now = _sockets(old), _sockets(new)
    missing = []
    for key, s in sorted(before.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
        if key not in now:
            who = s.get("unit") or s.get("process") or "?"
            missing.append(f"{s['proto']} {s['address']}:{s['port']} ({who}) listened before and does not now")
    text = "\n".join(f"{'ok  ' if k in now else 'MISSING'} {k[0]} {k[1]}:{k[2]} {v.get('unit') or v.get('process') or ''}"
                     for k, v in sorted(before.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])))
    units = sorted({str(s["unit"]) for s in before.values() if s.get("unit")})
    return missing, f"{len(before)} listening socket(s) as before ({', '.join(units) or 'no units recorded'})", text


def _no_addresses(o: Mapping[str, Any], want: list[dict[str, Any]]) -> list[str]:
    """Nothing to compare is no proof that the network is back (fails closed: a server has an address)."""
    if [a for a in want if not a.get("eui64")]:
        return []
    src = o.get("source") or {}
    why = failure_text(src) or "no address on any interface"
    return [f"the baseline recorded no address to compare with ({' '.join(src.get('argv') or ['ip', '-j', 'addr'])}: "
            f"{why}); capture a baseline on a working host, or check `ip -br addr` by hand and skip with a reason"]


def compare_network(old: Mapping[str, Any], new: Mapping[str, Any], host=None) -> tuple[list[str], str, str]:
    o, n = old.get("network") or {}, new.get("network") or {}
    problems, lines = [], []
    live = {a["address"].split("/")[0]: a for a in n.get("addresses", [])}
    want = [a for a in o.get("addresses", []) if not a.get("temporary")]
    problems += _no_addresses(o, want)
    for a in want:
        ip = a["address"].split("/")[0]
        if a.get("eui64"):
            lines.append(f"skip {a['address']} on {a['ifname']} (SLAAC EUI-64 of the old MAC: changes with the board)")
            continue
        if ip in live:
            lines.append(f"ok   {a['address']} on {live[ip]['ifname']} (was {a['ifname']})")
        else:
            problems.append(f"address {a['address']} (was on {a['ifname']}) is on no interface")
            lines.append(f"MISSING {a['address']} (was on {a['ifname']})")
    gw_before = sorted({r.get("gateway") for r in o.get("default_routes", []) if r.get("gateway")})
    gw_now = sorted({r.get("gateway") for r in n.get("default_routes", []) if r.get("gateway")})
    for gw in gw_before:
        if gw not in gw_now:
            problems.append(f"default route via {gw} is gone (now: {', '.join(gw_now) or 'none'})")
    lines.append(f"default gateways before {', '.join(gw_before) or '-'}, now {', '.join(gw_now) or '-'}")
    if o.get("resolvers") and o.get("resolvers") != n.get("resolvers"):
        problems.append(f"resolvers {', '.join(n.get('resolvers') or []) or 'none'}, before {', '.join(o['resolvers'])}")
    lines.append(f"resolvers {', '.join(n.get('resolvers') or []) or '-'}")
    ok = f"{len(want)} address(es), default route via {', '.join(gw_now) or '-'}, resolvers as before"
    return problems, ok, "\n".join(lines)


def _unread_unit_lists(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The lists of enabled units whose command failed: an unread list is not an empty one (nothing to
    compare, not "0 units, all fine")."""
    unread = []
    for which, b in (("in the baseline", old), ("now", new)):
        src = (b.get("software") or {}).get("services_source") or {}
        why = failure_text(src)
        if why:
            unread.append(f"enabled units {which} unreadable: {why} ({' '.join(src.get('argv') or ['systemctl'])})")
    return unread


def compare_services(old: Mapping[str, Any], new: Mapping[str, Any], host=None) -> tuple[list[str], str, str]:
    unread = _unread_unit_lists(old, new)
    if unread:
        return unread, "", ""
    live = set((new.get("software") or {}).get("services_enabled") or [])
    want = list((old.get("software") or {}).get("services_enabled") or [])
    problems = [f"{s} was enabled and is not" for s in want if s not in live]
    failed: list[str] = []
    if host is not None:
        res = host.run(["systemctl", "list-units", "--state=failed", "--no-legend", "--plain"], 30)
        if res.rc == 0 and not res.error:
            failed = [line.split()[0] for line in res.stdout.decode("utf-8", "replace").splitlines() if line.split()]
        elif res.error and not str(res.error).startswith("not found"):
            problems.append(f"systemctl list-units --state=failed: {res.error}")
    problems += [f"unit {u} failed (journalctl -u {u} -b)" for u in failed]
    return problems, f"{len(want)} baseline unit(s) enabled, none failed", "\n".join(problems)
