"""Foreground work first: a /metrics request in flight makes the kernel-log tail pause between slices.

The agent is one CPython process: its threads take turns on the GIL. In a kernel-log storm the tail
thread classifies records in bursts (pure Python, holding the GIL); a scrape needs the GIL again after
each of its system calls (wake-up, accept, recv, send, close), and each time it may queue behind the
burst for up to the switch interval. So the HTTP server marks each request from its first byte to the
last byte written (:meth:`Foreground.enter` / :meth:`Foreground.leave`), and the tail calls
:meth:`Foreground.pause` between slices of a burst: while a request is in flight it waits (holding no
GIL) until the request is answered. The kernel keeps the records meanwhile (/dev/kmsg's ring buffer).

Bounded both ways: a request counts as in flight for at most ``hold`` seconds after it started (a
client that stops sending mid-request does not stop the tail), and the tail pauses for at most
``budget`` of every second (a flood of requests cannot starve it: at 10 k lines/s it keeps up even
when paused that long).
"""

from __future__ import annotations

import itertools
import threading
import time

__all__ = ["Foreground", "FOREGROUND", "HOLD_SECONDS", "BUDGET_PER_SECOND"]

HOLD_SECONDS = 0.05  # a request stops counting as in flight this long after it started
BUDGET_PER_SECOND = 0.2  # the tail pauses for at most this long in each second


class Foreground:
    def __init__(self, hold: float = HOLD_SECONDS, budget: float = BUDGET_PER_SECOND,
                 clock=time.monotonic):
        self.hold = float(hold)
        self.budget = float(budget)
        self.clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._deadlines: dict[int, float] = {}  # request token -> until when it counts
        self._tokens = itertools.count(1)
        self._second = 0  # the second the paused time is counted in
        self._paused_this_second = 0.0
        self.pauses = 0  # pauses that waited (for tests and figures)
        self.paused_seconds = 0.0

    def enter(self) -> int:
        """A request started: -> its token for :meth:`leave`."""
        with self._cond:
            tok = next(self._tokens)
            self._deadlines[tok] = self.clock() + self.hold
            return tok

    def leave(self, token: int) -> None:
        """The request was answered (or dropped)."""
        with self._cond:
            if self._deadlines.pop(token, None) is not None and not self._deadlines:
                self._cond.notify_all()

    def busy(self) -> bool:
        """A request is in flight (and within its hold time)."""
        if not self._deadlines:
            return False
        now = self.clock()
        with self._cond:
            return any(d > now for d in self._deadlines.values())

    def pause(self) -> float:
        """Background work calls this between slices: waits while a request is in flight, within
        the hold time and the budget; -> the seconds waited (0.0 at once when nothing is in flight)."""
        if not self._deadlines:  # the common case, without taking the lock
            return 0.0
        start = self.clock()
        with self._cond:
            sec = int(start)
            if sec != self._second:
                self._second, self._paused_this_second = sec, 0.0
            stop = start + max(0.0, self.budget - self._paused_this_second)
            while True:
                now = self.clock()
                live = [d for d in self._deadlines.values() if d > now]
                if not live:
                    self._deadlines.clear()  # expired ones (clients that went quiet) are forgotten
                    break
                until = min(max(live), stop)
                if until <= now:
                    break
                self._cond.wait(until - now)
            waited = self.clock() - start
            self._paused_this_second += waited
            if waited > 0:
                self.pauses += 1
                self.paused_seconds += waited
            return waited


FOREGROUND = Foreground()  # the process's: the GIL the threads share is the process's too
