"""md software RAID."""

from __future__ import annotations

import re
from typing import Any

from agent.collectors.patterns.heads import HEADS
from agent.collectors.patterns.record import FamilyParser, Meta
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = 'md'
HEAD = HEADS[NAME]  # message starts (stage 1 prefilter): agent.collectors.patterns.heads

_MD = re.compile(r"md/(raid\d*):(\w+): (.*)$")
# array dead or not started: raid5.c "Cannot continue operation (%d/%d failed)", "failed to run raid set",
# "not enough operational devices (%d/%d failed)", "cannot start dirty degraded array"; raid1.c/raid10.c
# (6.x) "Disk failure on %pg, this is the last device" + "Cannot continue operation"; raid1.c "no operational mirrors"
_DEAD = re.compile(r"(Cannot continue operation|failed to run raid set|not enough operational (?:devices|mirrors)|"
                   r"cannot start dirty degraded array|no operational mirrors|cannot start array)(?: \((\d+)/(\d+) failed\))?")
# md.c: "md: pers->run() failed ...", "md: super_written gets error=%d" (-5: the superblock write failed)
_CORE_DEAD = re.compile(r"md: (?:(pers->run\(\) failed)|super_written gets error=(-?\d+)|(md\d+): (.*?(?:[Cc]annot|[Ss]uperblock).*))")
_MD_CORE = re.compile(r"md: (?:(md\d+): (\w+) (done|interrupted)|(\w+) of RAID array (md\d+)|kicking non-fresh (\S+) from array)")


class Parser(FamilyParser):
    # md RAID
    def _f_md(self, msg: str, meta: Meta) -> None:
        if self.group is not None:
            self._close()
        m = _MD.match(msg)
        if m:
            level, md, rest = m.groups()
            d: dict[str, Any] = {"level": level}
            f = re.match(r"Disk failure on (\S+?),? (disabling device|this is the last device)", rest)
            if f:
                d["member"] = f.group(1)
                if f.group(2).startswith("this"):
                    d["last_device"] = True
                self._emit("raid.disk_failed", C, "raid", md, d, (msg,), meta)
                return
            f = _DEAD.search(rest)
            if f:
                d["reason"] = f.group(1)
                if f.group(2):
                    d.update(failed=int(f.group(2)), devices=int(f.group(3)))
                self._emit("raid.array_failed", C, "raid", md, d, (msg,), meta)
                return
            f = re.match(r"Operation continuing on (\d+) devices", rest)
            if f:
                d["remaining"] = int(f.group(1))
                self._emit("raid.degraded", C, "raid", md, d, (msg,), meta)
                return
            f = re.search(r"active with (\d+) out of (\d+) (?:devices|mirrors)", rest)
            if f and int(f.group(1)) < int(f.group(2)):
                d.update(active=int(f.group(1)), total=int(f.group(2)))
                self._emit("raid.degraded", C, "raid", md, d, (msg,), meta)
            elif "not clean" in rest and "reconstruction" in rest:
                self._emit("raid.resync", I, "raid", md, dict(d, state="start", reason="not clean"), (msg,), meta)
            return
        m = _CORE_DEAD.match(msg)
        if m:
            if m.group(1):
                self._emit("raid.array_failed", C, "raid", "md", {"reason": "pers->run() failed"}, (msg,), meta)
            elif m.group(2):
                self._emit("raid.superblock_error", C, "raid", "md", {"error": int(m.group(2))}, (msg,), meta)
            else:
                self._emit("raid.array_failed", C, "raid", m.group(3), {"reason": m.group(4)}, (msg,), meta)
            return
        m = _MD_CORE.match(msg)
        if m:
            if m.group(1):
                self._emit("raid.resync", I, "raid", m.group(1), {"action": m.group(2), "state": m.group(3)}, (msg,), meta)
            elif m.group(4):
                self._emit("raid.resync", I, "raid", m.group(5), {"action": m.group(4), "state": "start"}, (msg,), meta)
            elif m.group(6):
                self._emit("raid.member_kicked", W, "raid", "md", {"member": m.group(6)}, (msg,), meta)

# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('md/raid1:md0: Disk failure on sdb1, disabling device.',), 'raid.disk_failed', 'raid', 'md0'),
    (('md: recovery of RAID array md0',), 'raid.resync', 'raid', 'md0'),
)
