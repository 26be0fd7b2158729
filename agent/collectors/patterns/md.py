"""md software RAID."""

from __future__ import annotations

import re
from typing import Any

from agent.collectors.patterns.record import Meta
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = 'md'
HEAD = r"md/raid\d*:\w+: |md: (?:md\d+: |[a-z]+ of RAID array|kicking )"  # message starts (stage 1 prefilter)

_MD = re.compile(r"md/(raid\d*):(\w+): (.*)$")
_MD_CORE = re.compile(r"md: (?:(md\d+): (\w+) (done|interrupted)|(\w+) of RAID array (md\d+)|kicking non-fresh (\S+) from array)")


class Parser:
    # md RAID
    def _f_md(self, msg: str, meta: Meta) -> None:
        if self.group is not None:
            self._close()
        m = _MD.match(msg)
        if m:
            level, md, rest = m.groups()
            d: dict[str, Any] = {"level": level}
            f = re.match(r"Disk failure on (\S+?),? disabling device", rest)
            if f:
                d["member"] = f.group(1)
                self._emit("raid.disk_failed", C, "raid", md, d, (msg,), meta)
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
