"""Foreground work first: a /metrics request in flight makes the kernel-log tail pause between slices.

The agent is one CPython process: its threads take turns on the GIL. In a kernel-log storm the tail
thread classifies records in bursts (pure Python, holding the GIL); a scrape needs the GIL again after
each of its system calls (wake-up, accept, recv, send, close), and each time it may queue behind the
burst for up to the switch interval. So the HTTP server marks each request from its first byte to the
last byte written (:meth:`Foreground.enter` / :meth:`Foreground.leave`), and the tail calls
:meth:`Foreground.pause` between slices of a burst: while a request is in flight it waits (holding no
GIL) until the request is answered. The kernel keeps the records meanwhile (/dev/kmsg's ring buffer).

Before a request can be marked, the server's thread needs the GIL several times (the loop's wake-up,
``accept``, a second ``accept`` that finds no more, the next loop step, the task's first steps). So the
server's event loop marks itself awake (:meth:`Foreground.awake`) as soon as its selector returns
ready sockets, and asleep again (:meth:`Foreground.asleep`) when it is about to block with nothing
left to do (:class:`MarkingSelector`): whatever the loop does between (accepting, reading, a TLS
handshake's step, writing) goes before the tail. The server's listening sockets are watched too
(:meth:`Foreground.watch`): a connection waiting there to be accepted counts from the moment the tail
sees it (one ``select`` with no timeout per slice), before the loop's own wake-up. Storm bench
(``tests/bench/test_storm_bench.py``, docs/kernel-log-storm.md), /metrics p99 storm/idle: 1.47x and
2.18x without the gate, 1.15x and 1.28x with it (600 scrapes a phase).
"""

from __future__ import annotations

import itertools
import select
import selectors
import socket
import threading
import time

__all__ = ["Foreground", "FOREGROUND", "HOLD_SECONDS", "BUDGET_PER_SECOND", "MarkingSelector"]

HOLD_SECONDS = 0.05  # a request stops counting as in flight this long after it started
AWAKE = 0  # the token of the server loop's work not yet marked as a request (request tokens start at 1)
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
        self._listen: list[socket.socket] = []  # a connection waiting on one counts as a request
        self.pauses = 0  # pauses that waited (for tests and figures)
        self.paused_seconds = 0.0

    def enter(self) -> int:
        """A request started: -> its token for :meth:`leave`."""
        with self._cond:
            tok = next(self._tokens)
            self._deadlines.pop(AWAKE, None)  # the loop's wake-up, or the connection seen waiting, is this request
            self._deadlines[tok] = self.clock() + self.hold
            return tok

    def awake(self) -> None:
        """The server's loop woke with work (or a connection waits to be accepted): it counts as a
        request in flight from now, before the steps that lead to :meth:`enter` (which takes this mark
        over). A loop busy without a pause counts for the hold time at most."""
        with self._cond:
            self._deadlines.setdefault(AWAKE, self.clock() + self.hold)

    def asleep(self) -> None:
        """The server's loop is about to block with nothing left to do: only requests still marked
        (:meth:`enter` without :meth:`leave`) hold the tail."""
        with self._cond:
            if self._deadlines.pop(AWAKE, None) is not None and not self._deadlines:
                self._cond.notify_all()

    def watch(self, sock: socket.socket) -> None:
        """A listening socket: a connection waiting on it to be accepted counts as a request."""
        with self._cond:
            self._listen = [*self._listen, sock]

    def unwatch(self, sock: socket.socket) -> None:
        with self._cond:
            self._listen = [s for s in self._listen if s is not sock]

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

    def _accept_waiting(self) -> bool:
        # a closed socket says fileno -1 (its old number may already be another file's)
        socks = [s for s in self._listen if s.fileno() >= 0]
        if not socks:
            return False
        try:
            return bool(select.select(socks, [], [], 0)[0])
        except (OSError, ValueError):  # closed between the check and the select: nothing to wait for
            return False

    def pause(self) -> float:
        """Background work calls this between slices: waits while a request is in flight, within
        the hold time and the budget; -> the seconds waited (0.0 at once when nothing is in flight)."""
        if not self._deadlines:  # the common case, without taking the lock
            if not self._accept_waiting():
                return 0.0
            self.awake()  # a connection waits to be accepted: its request counts from now
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


class MarkingSelector(selectors.DefaultSelector):
    """The server's event loop selector: the loop is :meth:`Foreground.awake` from the moment its
    ``select`` returns ready sockets and :meth:`Foreground.asleep` when it blocks again (asyncio
    passes a timeout of 0 while callbacks are ready: then it has not finished)."""

    def __init__(self, foreground: Foreground):
        super().__init__()
        self.foreground = foreground

    def select(self, timeout: float | None = None):
        if timeout is None or timeout > 0:
            self.foreground.asleep()
        ready = super().select(timeout)
        if ready:
            self.foreground.awake()
        return ready


FOREGROUND = Foreground()  # the process's: the GIL the threads share is the process's too
