"""SMART self-tests as a job of their own: the smart collector only reads; this job starts tests.

Scheduled by the daemon after every SMART sweep (the readings it judges by are seconds old, so a
disk that just went to standby is never woken), with the options of ``[collectors.smart]``
(``selftests``, ``selftest_short_hour``, ``selftest_long_weekday``, ``selftest_long_hour``):
short daily, long weekly, disk *i* of the host (sorted by identity) shifted by *i* hours so no two
disks of a host test in the same hour; never on a disk in standby, never while a test runs, never
in the first sweep after the agent starts (what smartd's ``-s`` schedule does, staggered). The
start dates are kept in the state layer
(:meth:`agent.state.disks.DiskState.record_selftest`), so a restart does not test again.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping, Sequence

from agent.model.disk import SelfTestPlan, SmartDevice

log = logging.getLogger("hwagent.jobs.selftests")

__all__ = ["SelfTestJob", "due_selftests", "selftest_argv", "selftest_slots"]


def selftest_slots(ids: Sequence[str], short_hour: int, long_weekday: int, long_hour: int) -> dict[str, tuple[int, int, int]]:
    """Stable id -> (short hour, long weekday, long hour), staggered one hour apart per disk."""
    out = {}
    for i, sid in enumerate(sorted(ids)):
        out[sid] = ((short_hour + i) % 24, (long_weekday + (long_hour + i) // 24) % 7, (long_hour + i) % 24)
    return out


def due_selftests(devices: Sequence[SmartDevice], now: float, last: Mapping[tuple[str, str], float], *,
                  short_hour: int, long_weekday: int, long_hour: int) -> list[tuple[SmartDevice, str, str]]:
    """(device, kind, reason) for tests due now. ``last`` maps (stable id, kind) -> last start time.

    A device in standby or running a test is skipped with a reason, never woken or interrupted;
    at most one test per disk and hour, and the staggering keeps disks of one host apart.
    """
    capable = [d for d in devices if d.fresh or d.read_status == "standby"]
    slots = selftest_slots([d.stable_id for d in capable], short_hour, long_weekday, long_hour)
    lt = time.localtime(now)
    out = []
    for d in capable:
        s_hour, l_wday, l_hour = slots[d.stable_id]
        kind = None
        if lt.tm_wday == l_wday and lt.tm_hour == l_hour and now - last.get((d.stable_id, "long"), 0) > 6 * 86400 - 7200:
            kind = "long"
        elif lt.tm_hour == s_hour and now - last.get((d.stable_id, "short"), 0) > 20 * 3600:
            kind = "short"
        if kind is None:
            continue
        if d.read_status == "standby" or d.power_state in ("standby", "sleep"):
            out.append((d, kind, "skipped: disk in standby"))
        elif d.selftest_running:
            out.append((d, kind, "skipped: a self-test is running"))
        else:
            out.append((d, kind, "scheduled"))
    return out


def selftest_argv(exe: str, target_path: str, dev_type: str, kind: str) -> list[str]:
    argv = [exe, "--json", "-t", "long" if kind in ("long", "extended") else "short"]
    if dev_type:
        argv += ["-d", dev_type]
    return argv + [target_path]



class SelfTestJob:
    """Starts the self-tests due after a SMART sweep. ``collector`` is the smart collector (its
    smartctl path, per-call timeout and options); ``disks`` keeps the start dates."""

    name = "smart_selftests"
    after = "smart"  # run after each run of this collector

    @staticmethod
    def wanted(collector: Any) -> bool:
        return bool(collector.option("selftests"))

    def __init__(self, host: Any, collector: Any, disks: Any):
        self.host = host
        self.collector = collector
        self.disks = disks
        self.sweeps = 0

    @property
    def enabled(self) -> bool:
        return bool(self.collector.option("selftests"))

    def run(self, devices: Sequence[Any], now: float) -> list[SelfTestPlan]:
        """The plans for this sweep's devices (started or skipped, with the reason)."""
        self.sweeps += 1
        if not self.enabled or self.sweeps <= 1:
            return []
        opt = self.collector.option
        smart = [d for d in devices if isinstance(d, SmartDevice)]
        plans = []
        due = due_selftests(smart, now, self.disks.selftest_dates(), short_hour=int(opt("selftest_short_hour")),
                            long_weekday=int(opt("selftest_long_weekday")), long_hour=int(opt("selftest_long_hour")))
        for d, kind, reason in due:
            started = False
            if reason == "scheduled":
                res = self.host.run(selftest_argv(self.collector.exe, d.path, d.dev_type, kind),
                                    self.collector.call_timeout)
                started = res.error is None and res.rc is not None and not (res.rc & 0x07)
                reason = "started" if started else f"smartctl {res.error or f'exit {res.rc}'}"
                if started:
                    self.disks.record_selftest(d.stable_id, kind, now)
            log.info("smart: %s self-test on %s: %s", kind, d.device, reason)
            plans.append(SelfTestPlan(device=d.device, stable_id=d.stable_id, kind=kind, started=started,
                                      reason=reason, time=now))
        return plans
