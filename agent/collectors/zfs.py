"""zfs: ZFS pool and vdev health from `zpool status -p` and `zpool get -Hp`.

`zpool status -p` (exact numbers) gives per pool the state, the last or running scan (scrub or
resilver: when it finished, errors found, bytes repaired, progress), the "errors:" line (permanent
errors in files) and the vdev tree with per-vdev state and read/write/checksum error counters;
`zpool get -Hp size,allocated,free,fragmentation` the capacity. The text layout is the one
cmd/zpool/zpool_main.c prints (OpenZFS 0.8-2.3): a tab, then two spaces per tree level in the
config block; sections (logs, cache, spares, special, dedup) at the pool's level; ctime(3) dates.

No ``/dev/zfs`` (module not loaded) or "no pools available" is no data, not an error; a pool line
that cannot be parsed is skipped and counted. The collector is read-only.
"""

from __future__ import annotations

import re
import time

from agent.collectors.base import BaseCollector, NoData
from agent.model import Reading
from agent.model.storage import ZFS_STATES, ZfsPool, ZfsVdev

SECTIONS = {"logs": "logs", "cache": "cache", "spares": "spares", "special": "special", "dedup": "dedup"}
_SIZE = re.compile(r"^([\d.]+)([KMGTPE]?)(?:i?B)?$")
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50, "E": 1 << 60}
_FINISHED = re.compile(r"^(scrub repaired|resilvered)\s+(\S+)\s+in\s+\S+(?:\s+days?\s+\S+)?\s+with\s+(\d+)\s+errors?\s+on\s+(.+)$")
_CANCELED = re.compile(r"^(scrub|resilver)\s+canceled\s+on\s+(.+)$")
_RUNNING = re.compile(r"^(scrub|resilver)\s+(?:in progress|paused)\s+since\s+(.+)$")
_DONE = re.compile(r"([\d.]+)%\s+done")
_ERRORS = re.compile(r"^(\d+)\s+data errors?")


def parse_size(text: str) -> int | None:
    """"0", "1.23G", "512B", "12345" (with -p) -> bytes."""
    m = _SIZE.match(text.strip())
    if not m:
        return None
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def parse_ctime(text: str) -> float | None:
    """"Sun Nov  9 00:36:55 2025" (ctime, local time) -> unix time."""
    try:
        return time.mktime(time.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y"))
    except (ValueError, OverflowError):
        return None


def _count(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def parse_status(text: str, problem=lambda msg: None) -> list[tuple[dict, list[dict]]]:
    """`zpool status -p` -> [(pool fields, [vdev fields])]."""
    out: list[tuple[dict, list[dict]]] = []
    pool: dict | None = None
    vdevs: list[dict] = []
    key = None  # current "key:" paragraph
    in_config = False
    stack: list[tuple[int, str]] = []  # (depth, name) of enclosing vdevs
    section = "data"
    for raw in text.splitlines():
        line = raw.rstrip()
        head = re.match(r"^\s*(pool|state|status|action|see|scan|config|errors|remove|checkpoint):\s?(.*)$", line)
        if head and not raw.startswith("\t"):
            key, val = head.group(1), head.group(2).strip()
            if key == "pool":
                pool = {"pool": val, "state": None, "scan": [], "status": [], "action": [], "errors": None}
                vdevs = []
                out.append((pool, vdevs))
                in_config, stack, section = False, [], "data"
            elif pool is None:
                continue
            elif key == "config":
                in_config = True
            elif key == "errors":
                in_config = False
                pool["errors"] = val
            elif key in ("state", "scan", "status", "action"):
                in_config = False
                if key == "state":
                    pool["state"] = val
                else:
                    pool[key].append(val)
            continue
        if pool is None or not line.strip():
            continue
        if not in_config:
            if key in ("scan", "status", "action") and raw.startswith(("\t", " ")):
                pool[key].append(line.strip())
            continue
        body = line[1:] if line.startswith("\t") else line
        if body.lstrip().startswith("NAME") and "STATE" in body:
            continue
        indent = len(body) - len(body.lstrip(" "))
        depth = indent // 2
        words = body.split()
        name = words[0]
        if depth == 0 and name in SECTIONS and len(words) == 1:
            section, stack = SECTIONS[name], []
            continue
        if depth == 0 and name == pool["pool"]:
            stack = [(0, name)]
            section = "data"
            continue
        state = words[1] if len(words) > 1 else ""
        if state not in ZFS_STATES:
            problem(f"zpool status: pool {pool['pool']}: unparsable config line {line.strip()!r}")
            continue
        counts = [_count(w) for w in words[2:5]]
        counts += [None] * (3 - len(counts))
        note = " ".join(words[5:]) or None if all(c is not None for c in counts) else " ".join(words[2:]) or None
        if any(c is None for c in counts):
            counts = [None, None, None]
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1] if stack and stack[-1][1] != pool["pool"] else None
        stack.append((depth, name))
        vdevs.append({"name": name, "state": state, "read": counts[0], "write": counts[1], "cksum": counts[2],
                      "note": note, "parent": parent, "section": section})
    return out


def vdev_kind(name: str, has_children: bool) -> str:
    base = name.split("-")[0]
    if re.fullmatch(r"raidz[123]?", base):
        return "raidz1" if base == "raidz" else base
    if base in ("mirror", "replacing", "spare", "draid") or name.startswith("draid"):
        return "draid" if name.startswith("draid") else base
    if has_children:
        return "mirror"  # an unnamed interior vdev: treat as redundant group
    return "file" if name.startswith("/") and not name.startswith("/dev/") else "disk"


def parse_scan(lines: list[str]) -> dict:
    """The "scan:" paragraph -> kind, state, end time, errors, repaired bytes, progress."""
    out: dict = {"scan_kind": None, "scan_state": None, "scan_end_time": None, "scan_errors": None,
                 "scan_repaired_bytes": None, "scan_progress_ratio": None, "last_scrub_time": None}
    if not lines:
        return out
    first = lines[0]
    m = _FINISHED.match(first)
    if m:
        kind = "scrub" if m.group(1).startswith("scrub") else "resilver"
        end = parse_ctime(m.group(4))
        out.update(scan_kind=kind, scan_state="finished", scan_end_time=end, scan_errors=int(m.group(3)),
                   scan_repaired_bytes=parse_size(m.group(2)))
        if kind == "scrub":
            out["last_scrub_time"] = end
        return out
    m = _CANCELED.match(first)
    if m:
        out.update(scan_kind=m.group(1), scan_state="canceled", scan_end_time=parse_ctime(m.group(2)))
        return out
    m = _RUNNING.match(first)
    if m:
        out.update(scan_kind=m.group(1), scan_state="in_progress")
        for ln in lines[1:]:
            d = _DONE.search(ln)
            if d:
                out["scan_progress_ratio"] = min(1.0, float(d.group(1)) / 100.0)
    return out


def parse_get(text: str) -> dict[str, dict[str, str]]:
    """`zpool get -Hp PROPS` (pool<TAB>property<TAB>value<TAB>source) -> {pool: {property: value}}."""
    out: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            out.setdefault(parts[0], {})[parts[1]] = parts[2]
    return out


class ZfsCollector(BaseCollector):
    name = "zfs"
    default_interval = 60.0
    default_timeout = 30.0
    description = "ZFS pools: state, vdev states and error counters, scrub/resilver, capacity (zpool)"
    options = {
        "zpool": (str, "zpool", "zpool executable (a bare name is searched in PATH and the sbin directories)."),
        "command_timeout_seconds": (float, 20.0, "Timeout of each zpool call."),
        "require_device": (bool, True, "Report no data unless /dev/zfs exists (the ZFS module is loaded)."),
    }

    def _run(self, *args: str):
        exe = self.option("zpool")
        return self.host.run([exe, *args], timeout=min(float(self.option("command_timeout_seconds")), self.timeout))

    def collect(self) -> list[Reading]:
        if self.option("require_device") and not self.host.exists(self.host.path("dev", "zfs")):
            raise NoData("no /dev/zfs: the ZFS module is not loaded")
        if self.host.runner is None and self.host.which(self.option("zpool")) is None:
            raise NoData(f"{self.option('zpool')} not installed (zfsutils-linux)")
        res = self._run("status", "-p")
        text = res.text() if hasattr(res, "text") else ""
        if res.error and res.error.startswith("not found"):
            raise NoData(f"{self.option('zpool')} not installed (zfsutils-linux)")
        if "no pools available" in text or "no pools available" in (res.stderr or b"").decode("utf-8", "replace"):
            raise NoData("no ZFS pools imported")
        if not res.ok:
            err = (res.stderr or b"").decode("utf-8", "replace").strip().splitlines()
            raise RuntimeError(f"zpool status -p: {res.error or f'exit {res.rc}'}: {err[-1][:160] if err else 'no message'}")
        pools = parse_status(text, self.problem)
        if not pools:
            raise RuntimeError("zpool status -p: no pool in the output")
        props: dict[str, dict[str, str]] = {}
        got = self._run("get", "-Hp", "size,allocated,free,fragmentation")
        if got.ok:
            props = parse_get(got.text())
        else:
            self.problem(f"zpool get: {got.error or f'exit {got.rc}'}: capacity unknown")
        out: list[Reading] = []
        for p, vdevs in pools:
            pp = props.get(p["pool"], {})
            frag = pp.get("fragmentation", "").rstrip("%")
            errors = p.get("errors") or ""
            m = _ERRORS.match(errors)
            out.append(ZfsPool(
                pool=p["pool"], state=p["state"] or "UNKNOWN",
                size_bytes=parse_size(pp["size"]) if pp.get("size", "-") != "-" else None,
                allocated_bytes=parse_size(pp["allocated"]) if pp.get("allocated", "-") != "-" else None,
                free_bytes=parse_size(pp["free"]) if pp.get("free", "-") != "-" else None,
                fragmentation_ratio=float(frag) / 100.0 if frag.replace(".", "", 1).isdigit() else None,
                data_errors=0 if errors.startswith("No known data errors") else int(m.group(1)) if m else None,
                status_text=" ".join(p["status"]) or None, action_text=" ".join(p["action"]) or None,
                **parse_scan(p["scan"])))
            parents = {v["parent"] for v in vdevs if v["parent"]}
            for v in vdevs:
                out.append(ZfsVdev(pool=p["pool"], name=v["name"], kind=vdev_kind(v["name"], v["name"] in parents),
                                   section=v["section"], parent=v["parent"], state=v["state"],
                                   read_errors=v["read"], write_errors=v["write"], checksum_errors=v["cksum"],
                                   note=v["note"]))
        return out
