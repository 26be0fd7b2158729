"""Grammars of the programs whose arguments are not plain options (find, ip, ethtool, storcli,
ipmitool, date, rsync, curl) and value checks used by the allow-list table in readonly_programs."""

from __future__ import annotations

import re
from typing import Mapping

from agent.recovery.readonly import F, PosCheck, any_pos, matches, max_pos, no_pos, templated, words


def _find(args: list[str]) -> str | None:
    """find [-H|-L|-P] START... EXPRESSION, expression tokens from a read-only set."""
    flag_tokens = F("-type", "-xtype", "-name", "-iname", "-path", "-ipath", "-wholename", "-regex", "-iregex",
                    "-maxdepth", "-mindepth", "-mtime", "-mmin", "-ctime", "-cmin", "-atime", "-amin", "-newer",
                    "-size", "-perm", "-user", "-group", "-uid", "-gid", "-links", "-inum", "-samefile", "-lname",
                    "-ilname", "-fstype", "-newermt", "-newerct", "-used", "-printf")
    bare = F("-print", "-print0", "-ls", "-xdev", "-mount", "-o", "-or", "-a", "-and", "-not", "!", "(", ")", ",",
             "-empty", "-readable", "-writable", "-executable", "-nouser", "-nogroup", "-true", "-false", "-prune",
             "-quit", "-follow", "-depth", "-noleaf", "-daystart")
    i = 0
    while i < len(args) and args[i] in ("-H", "-L", "-P"):
        i += 1
    while i < len(args) and not (args[i].startswith("-") or args[i] in ("!", "(", ")", ",")):
        i += 1  # starting points
    while i < len(args):
        t = args[i]
        if t in flag_tokens:
            if i + 1 >= len(args):
                return f"find {t} needs a value"
            i += 2
        elif t in bare:
            i += 1
        else:
            return f"find expression {t!r} is not on the read-only list (-delete/-exec/-ok/-fprint*/-fls write or run commands)"
    return None


def _ip(args: list[str]) -> str | None:
    """ip [OPTIONS] OBJECT [show|list [FILTER...]] (iproute2 takes options before the object)."""
    opts = F("-4", "-6", "-br", "-brief", "-j", "-json", "-p", "-pretty", "-d", "-details", "-s", "-stats",
             "-statistics", "-o", "-oneline", "-c", "-color", "-N", "-Numeric")
    i = 0
    while i < len(args) and args[i].startswith("-"):
        o = "-" + args[i].lstrip("-") if args[i].startswith("--") else args[i]
        if o not in opts:
            return f"ip option {args[i]!r} is not on the read-only list (-batch/-force run or change)"
        i += 1
    if i >= len(args):
        return "needs an object (link, addr, route, ...)"
    obj = args[i]
    if obj not in ("link", "addr", "address", "route", "rule", "neigh", "neighbor", "neighbour", "maddr", "maddress"):
        return f"ip object {obj!r} is not on the read-only list"
    rest = args[i + 1:]
    if not rest:
        return None
    cmd = rest[0]
    if cmd in ("show", "list", "lst") or (cmd == "get" and obj == "route"):
        for a in rest[1:]:
            if a.startswith("-") and not templated(a):
                return f"ip {obj} {cmd}: option {a!r} after the command is not allowed"
        return None
    return f"ip {obj} {cmd!r} is not read-only (allowed: show, list{', get' if obj == 'route' else ''})"


def _ethtool(args: list[str]) -> str | None:
    """ethtool [--json] [MODE] DEVNAME: one query mode, one device, nothing else."""
    modes = F("-i", "--driver", "-S", "--statistics", "-k", "--show-features", "--show-offload", "-g", "--show-ring",
              "-a", "--show-pause", "-c", "--show-coalesce", "-l", "--show-channels", "-P", "--show-permaddr",
              "-T", "--show-time-stamping", "--show-eee", "--show-fec", "-m", "--dump-module-eeprom", "--module-info")
    rest = list(args)
    while rest and rest[0] in ("--json", "-I", "--include-statistics"):
        rest.pop(0)
    if rest and rest[0] in modes:
        rest.pop(0)
    if len(rest) != 1 or (rest[0].startswith("-") and not templated(rest[0])):
        return "only ethtool [--json] [QUERY-OPTION] DEVNAME is read-only (-s/-K/-N/--reset/--features change the NIC)"
    return None


def _storcli(args: list[str]) -> str | None:
    """storcli64 [/cN[/eX/sY|/vall|...]] show [all|rebuild|...] [J]"""
    a = list(args)
    if a and a[-1] in ("J", "j", "nolog"):
        a.pop()
    if a and (templated(a[0]) or matches(r"/c([0-9]+|all)(/(e|s|v|f|d|p|bbu|cv)[0-9a-z]*)*", "")(a[0]) is None):
        a.pop(0)
    if not a or a[0].lower() != "show":
        return "only storcli [OBJECT] show [WHAT] is read-only"
    extra = [x.lower() for x in a[1:]]
    if len(extra) > 1 or (extra and extra[0] not in ("all", "rebuild", "initialization", "copyback", "patrolread",
                                                       "cc", "bgi", "events", "termlog", "status", "ctrlcount",
                                                       "temperature", "health", "smart")):
        return f"storcli show {' '.join(a[1:])!r} is not on the read-only list"
    return None


_SMART_LOGS = frozenset("error xerror selftest xselftest selective directory background sasphy sataphy scttemp "
                        "scttempsts scttemphist sctstatus scterc devstat defects ssd gplog smartlog nvmelog farm "
                        "zdevstat envrep genstats tapealert tapedevstat".split())


def _smartctl_log(v: str) -> str | None:
    base, _, rest = v.partition(",")
    if base not in _SMART_LOGS:
        return "unknown log type"
    if rest and (base in ("scterc", "sataphy", "sasphy")
                 or not all(re.fullmatch(r"(0x)?[0-9a-fA-F]+|error|[0-9]+-[0-9]+", x) for x in rest.split(","))):
        return "not read-only (scterc,N,N sets the error recovery timeout; sataphy,reset/sasphy,reset clear counters)"
    return None


def _ipmitool_pos(pos: list[str]) -> str | None:
    g: dict[str, Mapping[str, PosCheck] | None] = {
        "sensor": {"": any_pos, "list": any_pos, "get": any_pos, "reading": any_pos},
        "sdr": {"": any_pos, "list": any_pos, "elist": any_pos, "type": any_pos, "get": any_pos, "info": no_pos},
        "fru": {"": no_pos, "print": max_pos(1)},
        "mc": {"info": no_pos, "guid": no_pos, "getenables": no_pos, "selftest": no_pos,
               "watchdog": lambda p: None if p == ["get"] else "only mc watchdog get"},
        "lan": {"print": max_pos(1)},
        "chassis": {"status": no_pos, "poh": no_pos, "restart_cause": no_pos,
                    "power": lambda p: None if p == ["status"] else "only chassis power status",
                    "bootparam": lambda p: None if p[:1] == ["get"] else "only chassis bootparam get"},
        "sel": {"": no_pos, "list": any_pos, "elist": any_pos, "info": no_pos, "get": any_pos,
                "time": lambda p: None if p == ["get"] else "only sel time get"},
        "user": {"list": max_pos(1), "summary": max_pos(1)},
        "channel": {"info": max_pos(1), "getaccess": any_pos},
    }
    return words(g, "ipmitool command")(pos)


def _date_pos(pos: list[str]) -> str | None:
    if len(pos) > 1 or (pos and not (pos[0].startswith("+") or templated(pos[0]))):
        return "only date [+FORMAT] is read-only (a bare MMDDhhmm argument sets the clock)"
    return None


def _rsync_pos(pos: list[str]) -> str | None:
    if len(pos) != 2:
        return "exactly a source and a destination"
    for p in pos:
        if not templated(p) and (":" in p.split("/", 1)[0] or p.startswith("rsync://")):
            return f"{p!r} is remote (the dry run stays on this host)"
    return None


def _curl_url(v: str) -> str | None:
    return None if v.startswith(("http://", "https://")) else "only http(s) URLs"


def _curl_pos(pos: list[str]) -> str | None:
    if not pos:
        return "needs a URL"
    for p in pos:
        if not templated(p) and _curl_url(p):
            return f"{p!r}: only http(s) URLs"
    return None


def _no_output_file(v: str) -> str | None:
    return "%output{} writes a file" if "%output{" in v else None
