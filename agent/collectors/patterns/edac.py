"""EDAC memory controller reports."""

from __future__ import annotations

import re
from typing import Any

from agent.collectors.patterns.record import Meta, KV
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = 'edac'
HEAD = r"EDAC MC\d+: "  # message starts (stage 1 prefilter)

_EDAC = re.compile(r"EDAC MC(\d+): (\d+) ([CU]E) (.*?) on (.+?) \((.*)\)\s*$")
_EDAC_OLD = re.compile(r"EDAC MC(\d+): ([CU]E) page 0x([0-9a-f]+), offset 0x([0-9a-f]+), grain (\d+), "
                       r"(?:syndrome 0x([0-9a-f]+), )?row (\d+), (?:channel (\d+), )?labels? \"([^\"]*)\"(?::\s*(.*))?")


class Parser:
    # EDAC
    def _f_edac(self, msg: str, meta: Meta) -> None:
        if self.group is not None:
            self._close()
        m = _EDAC.match(msg)
        if m:
            mc, count, kind, what, label, loc = m.groups()
            detail: dict[str, Any] = {"mc": int(mc), "count": int(count), "message": what, "label": label}
            main, _, extra = loc.partition(" - ")
            for k, v in KV.findall(main):
                detail[k] = v
            if extra.strip():
                detail["info"] = extra.strip()
            device = label if label and label != "unknown memory" else f"mc{mc}"
            cls, sev = ("edac.ce", I) if kind == "CE" else ("edac.ue", C)
            self._emit(cls, sev, "memory", device, detail, (msg,), meta, int(count))
            return
        m = _EDAC_OLD.match(msg)
        if m:
            mc, kind, page, off, grain, synd, row, ch, label, drv = m.groups()
            device = label.strip() or f"mc{mc}/csrow{row}" + (f"/ch{ch}" if ch else "")
            detail = {"mc": int(mc), "count": 1, "page": "0x" + page, "offset": "0x" + off, "grain": int(grain),
                      "csrow": int(row)}
            if ch:
                detail["channel"] = int(ch)
            if synd:
                detail["syndrome"] = "0x" + synd
            if drv:
                detail["info"] = drv.strip()
            cls, sev = ("edac.ce", I) if kind == "CE" else ("edac.ue", C)
            self._emit(cls, sev, "memory", device, detail, (msg,), meta)

# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('EDAC MC0: 2 CE read ECC error on CPU#0Channel#1_DIMM#1 (channel:1 slot:1 page:0x1d1b99 offset:0x500 grain:8 syndrome:0x391a5d80 - read error)',), 'edac.ce', 'memory', 'CPU#0Channel#1_DIMM#1'),
    (('EDAC MC1: CE page 0xf075b2, offset 0x410, grain 0, syndrome 0xa082, row 6, channel 0, label "": amd64_edac',), 'edac.ce', 'memory', 'mc1/csrow6/ch0'),
)
