"""SCSI sense data of the sd driver."""

from __future__ import annotations

import re

from agent.collectors.patterns.heads import HEADS
from agent.collectors.patterns.record import FamilyParser, Group, Meta
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = 'scsi'
HEAD = HEADS[NAME]  # message starts (stage 1 prefilter): agent.collectors.patterns.heads

_SCSI = re.compile(r"sd (\d+:\d+:\d+:\d+): \[(\w+)\] (?:tag#\d+ )?(.*)$")
# scsi_error.c scsi_eh_offline_sdevs(): "Device offlined - %s" (not ready after error recovery)
_REJECT = re.compile(r"(?:sd|scsi) (\d+:\d+:\d+:\d+): (?:\[(\w+)\] )?(?:rejecting I/O to (offline|dead) device|Device (offline)d - )")


class Parser(FamilyParser):
    # SCSI sense
    def _f_scsi(self, msg: str, meta: Meta) -> None:
        r = _REJECT.match(msg)
        if r:
            if self.group is not None:
                self._close()
            hctl, dev, state, offlined = r.groups()
            state = state or offlined  # without the disk name, the collector maps H:C:T:L to it
            self._emit("block.device_gone", C, f"disk:{dev or hctl}", dev or hctl,
                       {"hctl": hctl, "state": state, "message": msg.split(": ", 1)[1]}, (msg,), meta)
            return
        m = _SCSI.match(msg)
        if not m:
            return
        hctl, dev, rest = m.groups()
        g = self._start("scsi", dev, meta, msg)
        g.cls, g.sev, g.component, g.device = "scsi.error", W, f"disk:{dev}", dev
        g.detail["hctl"] = hctl
        self._scsi_line(g, rest)

    @staticmethod
    def _scsi_line(g: Group, rest: str) -> None:
        d = g.detail
        if rest.startswith("Sense Key"):
            sk = rest.split(":", 1)[1].strip()
            d["sense_key"] = sk.split(" [")[0].strip()
        elif rest.startswith("Add. Sense"):
            d["additional_sense"] = rest.split(":", 1)[1].strip()
        elif rest.startswith("FAILED Result"):
            d["result"] = rest.split(":", 1)[1].strip()
        elif rest.startswith("CDB: "):
            d["cdb"] = rest[5:].strip()

    def _cont_scsi(self, g: Group, msg: str, meta: Meta) -> bool:
        m = _SCSI.match(msg)
        if not m or m.group(2) != g.key or m.group(3).startswith("FAILED Result"):
            return False
        g.lines.append(msg)
        self._scsi_line(g, m.group(3))
        return True

# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('sd 0:0:0:0: [sda] tag#0 Sense Key : Medium Error [current]',), 'scsi.error', 'disk:sda', 'sda'),
)
