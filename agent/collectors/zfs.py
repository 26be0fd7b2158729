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
from typing import Callable

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


_HEAD = re.compile(r"^\s*(pool|state|status|action|see|scan|config|errors|remove|checkpoint):\s?(.*)$")


def parse_status(text: str, problem: Callable[[str], None] = lambda msg: None) -> list[tuple[dict, list[dict]]]:
    """`zpool status -p` -> [(pool fields, [vdev fields])]."""
    p = _StatusParser(problem)
    for raw in text.splitlines():
        line = raw.rstrip()
        head = _HEAD.match(line)
        if head and not raw.startswith("\t"):
            p.header(head.group(1), head.group(2).strip())
        elif p.pool is not None and line.strip():
            if p.in_config:
                p.config_line(line)
            elif p.key in ("scan", "status", "action") and raw.startswith(("\t", " ")):
                p.pool[p.key].append(line.strip())  # continuation of a "key:" paragraph
    return p.out


def _vdev_counts(words: list[str]) -> tuple[list[int | None], str | None]:
    """READ WRITE CKSUM and the note after them; all three None unless each is a count."""
    counts = [_count(w) for w in words[2:5]]
    counts += [None] * (3 - len(counts))
    if all(c is not None for c in counts):
        return counts, " ".join(words[5:]) or None
    return [None, None, None], " ".join(words[2:]) or None


class _StatusParser:
    """The state of one `zpool status` parse: the pool being read, its "key:" paragraph, and in its
    config section the vdev tree (indentation gives the parent)."""

    def __init__(self, problem: Callable[[str], None]):
        self.problem = problem
        self.out: list[tuple[dict, list[dict]]] = []
        self.pool: dict | None = None
        self.vdevs: list[dict] = []
        self.key: str | None = None  # current "key:" paragraph
        self.in_config = False
        self.stack: list[tuple[int, str]] = []  # (depth, name) of enclosing vdevs
        self.section = "data"

    def header(self, key: str, val: str) -> None:
        self.key = key
        if key == "pool":
            self.pool = {"pool": val, "state": None, "scan": [], "status": [], "action": [], "errors": None}
            self.vdevs = []
            self.out.append((self.pool, self.vdevs))
            self.in_config, self.stack, self.section = False, [], "data"
        elif self.pool is None:
            return
        elif key == "config":
            self.in_config = True
        elif key == "errors":
            self.in_config = False
            self.pool["errors"] = val
        elif key == "state":
            self.in_config = False
            self.pool["state"] = val
        elif key in ("scan", "status", "action"):
            self.in_config = False
            self.pool[key].append(val)

    def config_line(self, line: str) -> None:
        assert self.pool is not None
        body = line[1:] if line.startswith("\t") else line
        if body.lstrip().startswith("NAME") and "STATE" in body:
            return
        depth = (len(body) - len(body.lstrip(" "))) // 2
        words = body.split()
        name = words[0]
        if depth == 0 and name in SECTIONS and len(words) == 1:
            self.section, self.stack = SECTIONS[name], []
            return
        if depth == 0 and name == self.pool["pool"]:
            self.stack, self.section = [(0, name)], "data"
            return
        state = words[1] if len(words) > 1 else ""
        if state not in ZFS_STATES:
            self.problem(f"zpool status: pool {self.pool['pool']}: unparsable config line {line.strip()!r}")
            return
        counts, note = _vdev_counts(words)
        while self.stack and self.stack[-1][0] >= depth:
            self.stack.pop()
        parent = self.stack[-1][1] if self.stack and self.stack[-1][1] != self.pool["pool"] else None
        self.stack.append((depth, name))
        self.vdevs.append({"name": name, "state": state, "read": counts[0], "write": counts[1], "cksum": counts[2],
                           "note": note, "parent": parent, "section": self.section})


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
        pools = parse_status(self._status_text(), self.problem)
        if not pools:
            raise RuntimeError("zpool status -p: no pool in the output")
        props = self._capacity()
        out: list[Reading] = []
        for p, vdevs in pools:
            out.append(_pool_reading(p, props.get(p["pool"], {})))
            out.extend(_vdev_readings(p["pool"], vdevs))
        return out

    def _status_text(self) -> str:
        """`zpool status -p` output; NoData without zpool or pools, RuntimeError when it fails."""
        res = self._run("status", "-p")
        text = res.text() if hasattr(res, "text") else ""
        if res.error and res.error.startswith("not found"):
            raise NoData(f"{self.option('zpool')} not installed (zfsutils-linux)")
        if "no pools available" in text or "no pools available" in (res.stderr or b"").decode("utf-8", "replace"):
            raise NoData("no ZFS pools imported")
        if not res.ok:
            err = (res.stderr or b"").decode("utf-8", "replace").strip().splitlines()
            raise RuntimeError(f"zpool status -p: {res.error or f'exit {res.rc}'}: {err[-1][:160] if err else 'no message'}")
        return text

    def _capacity(self) -> dict[str, dict[str, str]]:
        """pool -> `zpool get` properties; empty (and a problem noted) when zpool get fails."""
        got = self._run("get", "-Hp", "size,allocated,free,fragmentation")
        if got.ok:
            return parse_get(got.text())
        self.problem(f"zpool get: {got.error or f'exit {got.rc}'}: capacity unknown")
        return {}


def _bytes(props: dict[str, str], name: str) -> int | None:
    return parse_size(props[name]) if props.get(name, "-") != "-" else None


def _pool_reading(p: dict, props: dict[str, str]) -> ZfsPool:
    frag = props.get("fragmentation", "").rstrip("%")
    errors = p.get("errors") or ""
    m = _ERRORS.match(errors)
    return ZfsPool(
        pool=p["pool"], state=p["state"] or "UNKNOWN",
        size_bytes=_bytes(props, "size"), allocated_bytes=_bytes(props, "allocated"), free_bytes=_bytes(props, "free"),
        fragmentation_ratio=float(frag) / 100.0 if frag.replace(".", "", 1).isdigit() else None,
        data_errors=0 if errors.startswith("No known data errors") else int(m.group(1)) if m else None,
        status_text=" ".join(p["status"]) or None, action_text=" ".join(p["action"]) or None,
        **parse_scan(p["scan"]))


def _vdev_readings(pool: str, vdevs: list[dict]) -> list[ZfsVdev]:
    parents = {v["parent"] for v in vdevs if v["parent"]}
    return [ZfsVdev(pool=pool, name=v["name"], kind=vdev_kind(v["name"], v["name"] in parents),
                    section=v["section"], parent=v["parent"], state=v["state"],
                    read_errors=v["read"], write_errors=v["write"], checksum_errors=v["cksum"], note=v["note"])
            for v in vdevs]
