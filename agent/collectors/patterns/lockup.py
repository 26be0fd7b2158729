"""Soft/hard lockups, hung tasks, RCU stalls."""

from __future__ import annotations

import re

from agent.collectors.patterns.heads import HEADS
from agent.collectors.patterns.record import FamilyParser, Group, Meta
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = 'lockup'
HEAD = HEADS[NAME]  # message starts (stage 1 prefilter): agent.collectors.patterns.heads

_LOCK_SOFT = re.compile(r"soft lockup - CPU#(\d+) stuck for (\d+)s! \[(.*)\]")
_LOCK_HARD = re.compile(r"[Hh]ard LOCKUP on cpu (\d+)")
HUNG_MAX_LINES = 48  # the hung-task record keeps its context and the top of the stack
# stack lines: " __schedule+0x351/0xa20", " ? submit_bio+0x77/0x150", " [<ffffffff817b22e9>] schedule+0x29/0x70",
# register dumps (" ffff880036a27c18 ffff88003640bae0 ...") and "RIP: 0033:0x7f..."-style lines
_STACK = re.compile(r"(?:\[<[0-9a-f]+>\] )?(?:\? )?[\w.$]+\+0x[0-9a-f]+/0x[0-9a-f]+|(?:[0-9a-f]{16} ?){2,}|R[A-Z0-9]{1,3}: ")
_OLD_TASK = re.compile(r"\S+\s+D [0-9a-f]+\s+\d+\s+\d+\s+\d+ 0x[0-9a-f]+")
_HUNG = re.compile(r"INFO: task (.+?):(\d+) blocked for more than (\d+) seconds")


class Parser(FamilyParser):
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
        if m:  # kernel/hung_task.c check_hung_task(): its context lines and the stack follow (a group)
            g = self._start("hung", m.group(1), meta, msg)
            g.cls, g.sev, g.component, g.device = "cpu.hung_task", W, "cpu", "cpu"
            g.detail.update(task=m.group(1), pid=int(m.group(2)), seconds=int(m.group(3)))
            return
        if "detected stall" in msg or "detected expedited stall" in msg or "self-detected stall" in msg:
            flavour = re.search(r"INFO: (rcu_\w+)", msg)
            self._emit("cpu.rcu_stall", W, "cpu", "cpu", {"rcu": flavour.group(1) if flavour else "rcu"}, (msg,), meta)

    def _cont_hung(self, g: Group, msg: str, meta: Meta) -> bool:
        """hung_task.c: "      Tainted: ..." / "      Not tainted ...", the "echo 0 > ..." hint, then
        sched_show_task(): "task:%-15.15s state:%c ..." (5.x+) or "<comm> D <sp> 0 <pid> ..." (3.x), the stack."""
        s = msg.strip()
        if len(g.lines) >= HUNG_MAX_LINES:
            return bool(_STACK.match(s))  # swallow the rest of a long stack without keeping it
        if s.startswith(("Tainted:", "Not tainted", '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs"', "task:",
                         "Call Trace:", "<TASK>", "</TASK>")) or _STACK.match(s) or _OLD_TASK.match(s):
            g.lines.append(msg)
            if s.startswith("Tainted:") or s.startswith("Not tainted"):
                g.detail["kernel"] = s
            return True
        return False


# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('watchdog: BUG: soft lockup - CPU#7 stuck for 63s! [name:pid]',), 'cpu.soft_lockup', 'cpu', 'cpu7'),
    (('watchdog: Watchdog detected hard LOCKUP on cpu 3',), 'cpu.hard_lockup', 'cpu', 'cpu3'),
    (('INFO: task kworker/u16:9:7088 blocked for more than 120 seconds.',), 'cpu.hung_task', 'cpu', 'cpu'),
    (('rcu: INFO: rcu_sched detected stalls on CPUs/tasks:',), 'cpu.rcu_stall', 'cpu', 'cpu'),
)
