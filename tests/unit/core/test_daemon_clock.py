"""Wall clock jumps (NTP step, an operator's `date -s`) neither stall nor burst the daemon's
collectors: scheduling runs on the monotonic clock; the wall clock only stamps snapshots."""

from __future__ import annotations

import threading
import time

from agent.collectors.base import BaseCollector
from agent.schema import from_mapping
from agent.daemon import Daemon


class Ticker(BaseCollector):
    name = "ticker"
    default_interval = 0.2
    runs: list[float] = []

    def collect(self):
        Ticker.runs.append(time.monotonic())
        return []


class JumpingClock:
    """Real time plus an offset the test changes (backwards a day, forwards a day)."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def _runs_between(t0: float, t1: float) -> int:
    return sum(1 for t in Ticker.runs if t0 <= t < t1)


def test_clock_jumps_backwards_and_forwards(fakesys, make_host):
    fakesys.proc_basics()
    clock = JumpingClock()
    Ticker.runs = []
    d = Daemon(from_mapping({}), make_host(fakesys.root), None, clock=clock, collector_classes=(Ticker,))
    stop, ready = threading.Event(), threading.Event()
    th = threading.Thread(target=d.run_forever, args=(stop, ready.set), daemon=True)
    th.start()
    try:
        assert ready.wait(10)
        time.sleep(1.0)
        t_before = time.monotonic()
        clock.offset = -86400.0  # back one day
        time.sleep(1.5)
        t_back = time.monotonic()
        clock.offset = +86400.0  # forward one day
        time.sleep(1.5)
        t_fwd = time.monotonic()
    finally:
        stop.set()
        th.join(10)
    after_back, after_fwd = _runs_between(t_before, t_back), _runs_between(t_back, t_fwd)
    print(f"\nruns per 1.5 s at a 0.2 s interval: after a -1 day jump {after_back}, after a +1 day jump {after_fwd}")
    # 1.5 s / 0.2 s = 7.5 runs: not stalled (a day-long wait) and not a burst of catch-up runs
    assert 4 <= after_back <= 10 and 4 <= after_fwd <= 10
    assert abs(d.snapshot.time - (time.time() + 86400.0)) < 5  # snapshots carry the (jumped) wall time
