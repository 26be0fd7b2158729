"""The kernel's memory-failure handler (poisoned pages)."""

from __future__ import annotations

import re
from typing import Any

from agent.collectors.patterns.heads import HEADS
from agent.collectors.patterns.record import FamilyParser, Meta
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = 'memfail'
HEAD = HEADS[NAME]  # message starts (stage 1 prefilter): agent.collectors.patterns.heads

_MEMFAIL = re.compile(r"(?:Memory failure|MCE(?: \w+)?): (?:(0x[0-9a-f]+|\d+): )?(.*)$")


class Parser(FamilyParser):
    # memory failure handling
    def _f_memfail(self, msg: str, meta: Meta) -> None:
        if self.group is not None:
            self._close()
        m = _MEMFAIL.match(msg)
        if not m:
            return
        pfn, text = m.group(1), m.group(2)
        detail: dict[str, Any] = {"action": text}
        if pfn:
            detail["pfn"] = pfn
        low = text.lower()
        old = re.match(r"(.+?) page recovery: (\w+)", text)  # 2.6.32-3.x
        if old:
            detail.update(page_type=old.group(1), result=old.group(2))
            sev = W if old.group(2) == "Recovered" else C
        elif "recovery action for" in low:
            page_type, _, result = text.partition("recovery action for ")[2].partition(": ")
            detail.update(page_type=page_type, result=result.strip())
            sev = W if result.strip() == "Recovered" else C
        elif "killing" in low:
            sev = C
        else:
            sev = W
        self._emit("memory.failure", sev, "memory", "memory", detail, (msg,), meta)

# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('Memory failure: 0x40fa6: Killing mca-recover:1296 due to hardware memory corruption',), 'memory.failure', 'memory', 'memory'),
)
