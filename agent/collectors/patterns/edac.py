"""EDAC memory controller reports."""

from __future__ import annotations

import re
from typing import Any

from agent.collectors.patterns.heads import HEADS
from agent.collectors.patterns.record import BDF, KV, FamilyParser, Meta
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = "edac"
HEAD = HEADS[NAME]  # message starts (stage 1 prefilter): agent.collectors.patterns.heads

_PREFIX = re.compile(r"EDAC (?:([\w-]+) )?(?:MC(\d+)|([\w-]+)): ")
# edac_mc.c edac_ce_error()/edac_ue_error() (3.x-6.x): "%d CE %s%son %s (%s page:0x%lx ...)"
_EDAC = re.compile(r"(\d+) ([CU]E)(?: (.*?))? on (.+?) \((.*)\)\s*$")
# 2.6-3.x edac_mc_handle_ce()/_ue(): "CE page 0x%lx, offset 0x%lx, grain %d, syndrome 0x%lx, row %d, channel %d,
# label \"%s\": %s" / "UE page ..., row %d, labels \"%s\": %s"
_EDAC_OLD = re.compile(r"([CU]E) page 0x([0-9a-f]+), offset 0x([0-9a-f]+), grain (\d+), "
                       r"(?:syndrome 0x([0-9a-f]+), )?row (\d+), (?:channel (\d+), )?labels? \"([^\"]*)\"(?::\s*(.*))?")
# 2.6-3.x edac_mc_handle_fbd_ce()/_ue() (FB-DIMM): "CE row %d, channel %d, label \"%s\": %s",
# "UE row %d, channel-a= %d channel-b= %d labels \"%s\": %s"; *_no_info(): "CE - no information available: %s"
_EDAC_FBD = re.compile(r"([CU]E) row (\d+), channel(?:-a)?=? ?(\d+)(?: channel-b= ?(\d+))?,? labels? \"([^\"]*)\"(?::\s*(.*))?")
_EDAC_NOINFO = re.compile(r"([CU]E) - no information available: ?(.*)$")
_EDAC_PCI = re.compile(r"EDAC PCI: (.+?) on (" + BDF + r")")


class Parser(FamilyParser):
    # EDAC
    def _f_edac(self, msg: str, meta: Meta) -> None:
        if self.group is not None:
            self._close()
        m = _EDAC_PCI.match(msg)
        if m:
            self._emit("pcie.parity_error", W, "pcie", m.group(2), {"message": m.group(1)}, (msg,), meta)
            return
        p = _PREFIX.match(msg)
        if not p:
            return
        drv = p.group(1) or p.group(3)
        mc = int(p.group(2)) if p.group(2) else 0
        body = msg[p.end():]
        base: dict[str, Any] = {"mc": mc}
        if drv:
            base["driver"] = drv
        m = _EDAC.match(body)
        if m:
            count, kind, what, label, loc = m.groups()
            detail: dict[str, Any] = dict(base, count=int(count), message=what or "", label=label)
            main, _, extra = loc.partition(" - ")
            for k, v in KV.findall(main):
                detail[k] = v
            if extra.strip():
                detail["info"] = extra.strip()
            device = label if label and label != "unknown memory" else f"mc{mc}"
            cls, sev = ("edac.ce", I) if kind == "CE" else ("edac.ue", C)
            self._emit(cls, sev, "memory", device, detail, (msg,), meta, int(count))
            return
        m = _EDAC_OLD.match(body)
        if m:
            kind, page, off, grain, synd, row, ch, label, info = m.groups()
            device = label.strip() or f"mc{mc}/csrow{row}" + (f"/ch{ch}" if ch else "")
            detail = dict(base, count=1, page="0x" + page, offset="0x" + off, grain=int(grain), csrow=int(row))
            if ch:
                detail["channel"] = int(ch)
            if synd:
                detail["syndrome"] = "0x" + synd
            if info:
                detail["info"] = info.strip()
            cls, sev = ("edac.ce", I) if kind == "CE" else ("edac.ue", C)
            self._emit(cls, sev, "memory", device, detail, (msg,), meta)
            return
        m = _EDAC_FBD.match(body)
        if m:
            kind, row, ch, ch_b, label, info = m.groups()
            device = label.strip() or f"mc{mc}/csrow{row}/ch{ch}"
            detail = dict(base, count=1, csrow=int(row), channel=int(ch))
            if info:
                detail["info"] = info.strip()
            cls, sev = ("edac.ce", I) if kind == "CE" else ("edac.ue", C)
            self._emit(cls, sev, "memory", device, detail, (msg,), meta)
            return
        m = _EDAC_NOINFO.match(body)
        if m:
            kind, info = m.groups()
            cls, sev = ("edac.ce", I) if kind == "CE" else ("edac.ue", C)
            self._emit(cls, sev, "memory", f"mc{mc}", dict(base, count=1, info=info.strip()), (msg,), meta)
        # anything else (sb_edac's KERN_DEBUG "HANDLING MCE MEMORY ERROR", its copy of the MCE block, driver
        # notices) is context: the error itself follows as an "EDAC MCn: N CE/UE" line


# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('EDAC MC0: 2 CE read ECC error on CPU#0Channel#1_DIMM#1 (channel:1 slot:1 page:0x1d1b99 offset:0x500 grain:8 syndrome:0x391a5d80 - read error)',), 'edac.ce', 'memory', 'CPU#0Channel#1_DIMM#1'),
    (('EDAC MC1: CE page 0xf075b2, offset 0x410, grain 0, syndrome 0xa082, row 6, channel 0, label "": amd64_edac',), 'edac.ce', 'memory', 'mc1/csrow6/ch0'),
)
