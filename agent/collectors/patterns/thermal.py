"""Thermal zone trips (critical temperature, orderly shutdown)."""

from __future__ import annotations

import re
from typing import Any

from agent.collectors.patterns.heads import HEADS
from agent.collectors.patterns.record import FamilyParser, Meta
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = 'thermal'
HEAD = HEADS[NAME]  # message starts (stage 1 prefilter): agent.collectors.patterns.heads




class Parser(FamilyParser):
    # thermal trips
    def _f_thermal(self, msg: str, meta: Meta) -> None:
        low = msg.lower()
        if "critical temperature reached" in low:
            zone = re.match(r"thermal (thermal_zone\d+):", msg)
            t = re.search(r"\((-?\d+) C\)", msg)
            d: dict[str, Any] = {"message": msg}
            if t:
                d["celsius"] = int(t.group(1))
            self._emit("thermal.critical", C, "board", zone.group(1) if zone else "acpi", d, (msg,), meta)

# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('thermal thermal_zone0: critical temperature reached, shutting down',), 'thermal.critical', 'board', 'thermal_zone0'),
)
