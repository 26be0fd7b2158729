"""NVMe controller and namespace errors."""

from __future__ import annotations

import re
from typing import Any

from agent.collectors.patterns.heads import HEADS
from agent.collectors.patterns.record import FamilyParser, Meta, disk_of
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = 'nvme'
HEAD = HEADS[NAME]  # message starts (stage 1 prefilter): agent.collectors.patterns.heads

_NVME = re.compile(r"nvme (nvme\d+): (.*)$")
_CSTS = re.compile(r"CSTS=(0x[0-9a-fA-F]+)")
_QID = re.compile(r"QID (\d+)")
_NVME_NS = re.compile(r"(nvme\d+(?:c\d+)?n\d+): (.+?) @ LBA (\d+), (\d+) blocks, (.+?) \(sct (0x[0-9a-f]+) / sc (0x[0-9a-f]+)\)")


class Parser(FamilyParser):
    # NVMe
    def _f_nvme(self, msg: str, meta: Meta) -> None:
        if self.group is not None:
            self._close()
        m = _NVME_NS.match(msg)
        if m:
            ns, opname, lba, blocks, status, sct, sc = m.groups()
            self._emit("nvme.io_error", W, f"disk:{disk_of(ns)}", ns,
                       {"opcode": opname, "lba": int(lba), "blocks": int(blocks), "status": status.strip(),
                        "sct": sct, "sc": sc}, (msg,), meta)
            return
        m = _NVME.match(msg)
        if not m:
            return
        ctrl, rest = m.groups()
        if rest.startswith(("Does your device have a faulty power saving mode", 'Try "nvme_core')):
            # drivers/nvme/host/pci.c nvme_warn_reset(): advice printed after "controller is down; will reset":
            # context of that event, never one of its own
            last = self.out[-1] if self.out else None
            if last is not None and last.device == ctrl and last.cls.startswith("nvme."):
                self.out[-1] = last.replace(raw=last.raw + (msg,), detail=dict(last.detail, power_saving_hint=True))
            return
        comp = f"disk:{ctrl}"
        detail: dict[str, Any] = {"message": rest}
        csts = _CSTS.search(rest)
        if csts:
            detail["csts"] = csts.group(1).lower()
            if csts.group(1).lower() == "0xffffffff":
                detail["off_bus"] = True
        if rest.startswith("I/O ") and " timeout" in rest:
            q = _QID.search(rest)
            if q:
                detail["qid"] = int(q.group(1))
            detail["action"] = "reset" if "reset controller" in rest else "abort" if "aborting" in rest else "timeout"
            self._emit("nvme.timeout", W, comp, ctrl, detail, (msg,), meta)
        elif rest.startswith(("controller is down", "resetting controller", "Device not ready")):
            self._emit("nvme.reset", C if detail.get("off_bus") else W, comp, ctrl, detail, (msg,), meta)
        elif rest.startswith(("Disabling device", "Removing after", "frozen state error")) or \
                (rest.startswith("failed to") and "reset" in rest):
            self._emit("nvme.controller_failed", C, comp, ctrl, detail, (msg,), meta)
        # "Abort status: 0x0" follows a timeout already counted: not a second event

# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('nvme nvme0: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0x10',), 'nvme.reset', 'disk:nvme0', 'nvme0'),
    (('nvme0c0n1: I/O Cmd(0x2) @ LBA 20480, 1 blocks, I/O Error (sct 0x2 / sc 0x81)',), 'nvme.io_error', 'disk:nvme0', 'nvme0c0n1'),
)
