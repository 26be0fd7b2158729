"""mdraid: Linux software RAID from {procfs}/mdstat and {sysfs}/block/md*/md/.

``/proc/mdstat`` gives every array's level, members with their flags (``(F)`` faulty, ``(S)``
spare, ``(W)`` write-mostly, ``(R)`` replacement, ``(J)`` journal), the ``[n/m] [UU_]`` status and
the progress of a running resync/recovery/check/reshape (or ``resync=PENDING``/``DELAYED``). The md
sysfs directory, where present, is preferred for ``array_state``, ``degraded``, ``raid_disks``,
``sync_action``, ``sync_completed`` (sectors ``done / total``), ``mismatch_cnt`` and each member's
``dev-*/state``, ``slot`` and ``errors``. Either source alone is enough; no arrays is "no data".
"""

from __future__ import annotations

import re

from agent.collectors.base import BaseCollector, NoData
from agent.config_types import Regex
from agent.host import ReadError, parse_int
from agent.mdstat import parse_mdstat
from agent.model import Reading
from agent.model.platform import MdArray, MdMember

def parse_sync_completed(text: str | None) -> float | None:
    """md sync_completed ``"12345 / 67890"`` (sectors) -> ratio; ``none`` -> None."""
    if not text or "/" not in text:
        return None
    a, _, b = text.partition("/")
    done, total = parse_int(a), parse_int(b)
    if done is None or not total or total <= 0 or done < 0:
        return None
    return min(1.0, done / total)


class MdraidCollector(BaseCollector):
    name = "mdraid"
    default_interval = 30.0
    default_timeout = 10.0
    description = "md software RAID arrays: state, degraded members, failed disks, sync progress"
    options = {
        "include": (Regex, "", "Only arrays whose name (`md0`) or device (`/dev/md0`) matches this regex (empty: all; "
                               "not with exclude)."),
        "exclude": (Regex, "", "Skip arrays whose name or device matches this regex (e.g. a scratch `^md9$`)."),
    }
    filters = {"array": ("include", "exclude")}

    def collect(self) -> list[Reading]:
        mdstat_path = self.host.path("proc", "mdstat")
        stat: dict[str, dict] = {}
        try:
            stat = parse_mdstat(self.host.read_file(mdstat_path, 1 << 20))
        except ReadError as err:
            if err.reason != "no such file":
                self.problem(f"{self.host.host_path(mdstat_path)}: {err.reason}")
        block = self.host.path("sys", "block")
        sys_arrays = [e for e in self.host.listdir(block) if e.startswith("md") and self.host.exists(block / e / "md")]
        names = sorted(set(stat) | set(sys_arrays), key=_natural)
        if not names:
            raise NoData("no md arrays (/proc/mdstat lists none)")
        arrays = self.device_filters["array"]
        return [self._array(n, stat.get(n), block / n / "md" if n in sys_arrays else None) for n in names
                if arrays.allows(n, f"/dev/{n}")]

    def _array(self, name: str, st: dict | None, md) -> MdArray:
        st = st or {}
        rd = (lambda f: self.host.read_text(md / f, 256)) if md is not None else (lambda f: None)
        array_state = rd("array_state")
        if array_state is None and st.get("state"):
            array_state = "inactive" if st["state"] == "inactive" else (st.get("readonly") or "active")
        level = rd("level") or st.get("level")
        raid_disks = parse_int(rd("raid_disks"))
        if raid_disks is None:
            raid_disks = st.get("raid_disks")
        degraded = parse_int(rd("degraded"))
        if degraded is None and st.get("raid_disks") is not None and st.get("active_disks") is not None:
            degraded = max(0, st["raid_disks"] - st["active_disks"])
        sync_action = rd("sync_action") or (st.get("action") or ("idle" if st else None))
        completed = parse_sync_completed(rd("sync_completed")) if md is not None else None
        if completed is None and st.get("progress") is not None:
            completed = st["progress"]
        if sync_action in ("idle", "frozen"):
            completed = None
        members = self._members(name, st, md)
        size = parse_int(rd("component_size"))  # KiB per member; the array size comes from mdstat
        return MdArray(
            device=name, level=level, array_state=array_state, raid_disks=raid_disks,
            active_disks=st.get("active_disks"), degraded=degraded,
            failed_disks=sum(1 for m in members if m.faulty), spare_disks=sum(1 for m in members if m.spare),
            sync_action=sync_action, sync_completed=completed, sync_pending=st.get("pending"),
            mismatch_count=parse_int(rd("mismatch_cnt")),
            size_bytes=st.get("size_bytes") if st.get("size_bytes") is not None else (size * 1024 if size else None),
            members=tuple(members), status=st.get("status"),
        )

    def _members(self, name: str, st: dict, md) -> list[MdMember]:
        by_dev: dict[str, MdMember] = {}
        for dev, role, flags in st.get("members", ()):
            states = flags or ("in_sync",)
            by_dev[dev] = MdMember(array=name, device=dev, slot=role, states=tuple(states), errors=None)
        if md is not None:
            for e in self.host.listdir(md):
                if not e.startswith("dev-"):
                    continue
                dev = e[4:]
                state = self.host.read_text(md / e / "state", 256)
                states = tuple(s for s in (state or "").replace(" ", "").split(",") if s)
                slot = self.host.read_text(md / e / "slot", 64)
                errors = parse_int(self.host.read_text(md / e / "errors", 64))
                prev = by_dev.get(dev)
                by_dev[dev] = MdMember(array=name, device=dev, slot=slot or (prev.slot if prev else None),
                                       states=states or (prev.states if prev else ()), errors=errors)
        return [by_dev[k] for k in sorted(by_dev, key=_natural)]


def _natural(s: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s)]
