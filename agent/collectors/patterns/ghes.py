"""APEI GHES / CPER records printed by the kernel (``{n}[Hardware Error]: ...``)."""

from __future__ import annotations

import re

from agent.collectors.patterns.heads import HEADS
from agent.collectors.patterns.record import BDF, KV, FamilyParser, Group, Meta
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = 'ghes'
HEAD = HEADS[NAME]  # message starts (stage 1 prefilter): agent.collectors.patterns.heads

_GHES = re.compile(r"\{(\d+)\}\[Hardware Error\]:\s?(.*)$")


class Parser(FamilyParser):
    # GHES / CPER
    def _f_ghes(self, msg: str, meta: Meta) -> None:
        m = _GHES.match(msg)
        if not m:
            return
        self._ghes_start(m.group(1), msg, m.group(2), meta)

    def _ghes_line(self, g: Group, body: str) -> None:
        b = body.strip()
        d = g.detail
        if b.startswith("event severity: "):
            sev = b[16:].strip()
            d["event_severity"] = sev
            g.cls, g.sev = {"corrected": ("ghes.corrected", I), "recoverable": ("ghes.recoverable", C),
                            "fatal": ("ghes.fatal", C)}.get(sev, ("ghes.info", W))
        elif b.startswith("Hardware error from APEI Generic Hardware Error Source: "):
            d["source_id"] = b.rsplit(" ", 1)[-1]
        elif b.startswith("section_type: "):
            st = b[14:].strip()
            d["section_type"] = st
            if "memory" in st:
                g.component, g.device = "memory", g.device if g.device != "ghes" else "memory"
            elif "PCIe" in st:
                g.component, g.device = "pcie", g.device if g.device != "ghes" else "pcie"
            elif "processor" in st:
                g.component, g.device = "cpu", g.device if g.device != "ghes" else "cpu"
        elif b.startswith("fru_text: "):
            d["fru_text"] = b[10:].strip()
            g.device = d["fru_text"] or g.device
        elif b.startswith("physical_address: "):
            d["address"] = b[18:].strip()
        elif b.startswith("error_status: "):
            d["error_status"] = b[14:].strip()
        elif b.startswith("error_type: "):
            d["error_type"] = b[12:].strip()
        elif b.startswith("node:") or b.startswith("node: "):
            d["location"] = b
            if g.device in ("ghes", "memory"):
                loc = dict(KV.findall(b.replace(": ", ":")))
                g.device = "node{}/card{}/module{}".format(loc.get("node", "?"), loc.get("card", "?"), loc.get("module", "?"))
        elif b.startswith("device_id: ") and re.match(BDF, b[11:].strip() or "-"):
            g.device = b[11:].strip()
            d["bdf"] = g.device
        elif b.startswith("aer_") or b.startswith("It has been corrected") or b.startswith("fru_id"):
            key, _, val = b.partition(":")
            if val:
                d[key.strip()] = val.strip()

    def _cont_ghes(self, g: Group, msg: str, meta: Meta) -> bool:
        if not g.key:  # before 3.x's "{n}" record numbers: "[Hardware Error]: " lines up to the next record
            body = msg[18:] if msg.startswith("[Hardware Error]: ") else None
            if body is None or body.startswith(("Hardware error from APEI", "CPU ", "Machine check", "Corrected error",
                                                "Uncorrected", "Deferred error")):
                return False
            g.lines.append(msg)
            self._ghes_line(g, body)
            return True
        if not msg.startswith("{" + g.key + "}[Hardware Error]"):
            return False
        g.lines.append(msg)
        self._ghes_line(g, _GHES.match(msg).group(2))  # type: ignore[union-attr]
        return True

    def _ghes_start(self, key: str, msg: str, body: str, meta: Meta) -> None:
        g = self._start("ghes", key, meta, msg)
        if key:
            g.detail["record"] = int(key)
        g.cls, g.sev, g.component, g.device = "ghes.corrected", I, "board", "ghes"
        self._ghes_line(g, body)

# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('{1}[Hardware Error]: event severity: corrected',), 'ghes.corrected', 'board', 'ghes'),
)
