"""Soft/hard lockups, hung tasks, RCU stalls."""

from __future__ import annotations

import re

from agent.collectors.patterns.record import Meta
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = 'lockup'
HEAD = r"(?:NMI )?watchdog: (?:BUG|Watchdog detected)|BUG: soft lockup|Watchdog detected hard|INFO: (?:task |rcu_)|rcu: INFO: "  # message starts (stage 1 prefilter)

_LOCK_SOFT = re.compile(r"soft lockup - CPU#(\d+) stuck for (\d+)s! \[(.*)\]")
_LOCK_HARD = re.compile(r"[Hh]ard LOCKUP on cpu (\d+)")
_HUNG = re.compile(r"INFO: task (.+?):(\d+) blocked for more than (\d+) seconds")


class Parser:
    # lockups, hung tasks, RCU stalls
    def _f_lockup(self, msg: str, meta: Meta) -> None:
        if self.group is not None:
            self._close()
        m = _LOCK_SOFT.search(msg)
        if m:
            self._emit("cpu.soft_lockup", W, "cpu", f"cpu{m.group(1)}",
                       {"cpu": int(m.group(1)), "seconds": int(m.group(2)), "task": m.group(3)}, (msg,), meta)
            return
        m = _LOCK_HARD.search(msg)
        if m:
            self._emit("cpu.hard_lockup", C, "cpu", f"cpu{m.group(1)}", {"cpu": int(m.group(1))}, (msg,), meta)
            return
        m = _HUNG.match(msg)
        if m:
            self._emit("cpu.hung_task", W, "cpu", "cpu", {"task": m.group(1), "pid": int(m.group(2)),
                                                         "seconds": int(m.group(3))}, (msg,), meta)
            return
        if "detected stall" in msg or "detected expedited stall" in msg or "self-detected stall" in msg:
            flavour = re.search(r"INFO: (rcu_\w+)", msg)
            self._emit("cpu.rcu_stall", W, "cpu", "cpu", {"rcu": flavour.group(1) if flavour else "rcu"}, (msg,), meta)

# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('watchdog: BUG: soft lockup - CPU#7 stuck for 63s! [name:pid]',), 'cpu.soft_lockup', 'cpu', 'cpu7'),
    (('watchdog: Watchdog detected hard LOCKUP on cpu 3',), 'cpu.hard_lockup', 'cpu', 'cpu3'),
    (('INFO: task kworker/u16:9:7088 blocked for more than 120 seconds.',), 'cpu.hung_task', 'cpu', 'cpu'),
    (('rcu: INFO: rcu_sched detected stalls on CPUs/tasks:',), 'cpu.rcu_stall', 'cpu', 'cpu'),
)
