"""Storm aggregation of kernel events: bounded memory and storage whatever the log rate.

An AER, ATA or I/O-error storm is thousands of identical events per second. Per (boot, class,
device, component, source, window) the first ``PASS_THROUGH`` events pass through unchanged (rules
see a new fault at once, with its full detail, and a few distinct faults in a minute, say two
corrected machine checks at different addresses, are each stored and listed by `agent events` at
once, not held in an aggregate); every further one in that window is folded into one
aggregate event that carries the number of log records (``detail["coalesced_events"]``), the
errors they stand for (``count``), the first and the last raw line, and the first and last time.
An aggregate is released when its window has ended (or on :meth:`Coalescer.take` with
``flush=True``), so a steady storm stores two rows per key and window instead of one per line, and
memory holds one aggregate per key, never the lines.
"""

from __future__ import annotations

from typing import Iterable

from agent.model.events import KernelEvent

__all__ = ["Coalescer", "WINDOW_SECONDS", "MAX_OPEN", "PASS_THROUGH"]

WINDOW_SECONDS = 60.0
PASS_THROUGH = 8  # events per key and window stored as they are before folding starts (a storm: 8 + 1 rows)
MAX_OPEN = 4096  # open aggregates at most (distinct keys in the current window); the oldest are released beyond


class _Agg:
    __slots__ = ("first", "last", "n", "errors", "severity", "min_seq", "last_time")

    def __init__(self, e: KernelEvent):
        self.first = self.last = e
        self.n, self.errors, self.severity = 1, e.count, e.severity
        self.min_seq = e.seq
        self.last_time = e.time

    def add(self, e: KernelEvent) -> None:
        self.fold(e, e.seq, e.time if e.time is not None else self.last_time)

    def fold(self, t: KernelEvent, seq: int | None, time: float | None) -> None:
        """One more event of this key: ``t`` gives its fields (``last`` is read for its detail and raw
        lines only), ``seq`` and ``time`` are the record's (an event not built: the classifier's
        template with a replayed record's identity; :meth:`add`: a built event's own)."""
        self.last = t
        self.n += 1
        self.errors += t.count
        if t.severity > self.severity:
            self.severity = t.severity
        if seq is not None and (self.min_seq is None or seq < self.min_seq):
            self.min_seq = seq
        self.last_time = time

    def event(self) -> KernelEvent:
        f, last = self.first, self.last
        if self.n == 1:
            return f.replace(detail=dict(f.detail, coalesced_events=1))
        detail = dict(last.detail, coalesced_events=self.n)
        if f.time is not None:
            detail["first_time"] = f.time
        if self.last_time is not None:
            detail["last_time"] = self.last_time
        return f.replace(severity=self.severity, count=self.errors, detail=detail,
                         raw=(f.raw[0] if f.raw else "", last.raw[0] if last.raw else ""))


class Coalescer:
    """Folds repeated events; not thread-safe (the collector holds its lock)."""

    def __init__(self, window: float = WINDOW_SECONDS, max_open: int = MAX_OPEN, pass_through: int = PASS_THROUGH):
        self.window = float(window)
        self.max_open = int(max_open)
        self.pass_through = max(1, int(pass_through))
        self._ready: list[KernelEvent] = []
        self._open: dict[tuple, _Agg] = {}
        self._firsts: dict[tuple, int] = {}  # key -> events passed through in its window
        self._new_key = False  # a key's first event is waiting in _ready (wakes the rules; repeats do not)
        self.coalesced_total = 0  # events folded into aggregates

    def add(self, events: Iterable[KernelEvent], now: float) -> None:
        for e in events:
            key = self._key(e, e.time if e.time is not None else now, e.boot_id, e.source, e.previous_boot)
            passed = self._firsts.get(key, 0)
            if passed < self.pass_through:
                self._firsts[key] = passed + 1
                self._new_key = self._new_key or passed == 0
                self._ready.append(e)
                continue
            agg = self._open.get(key)
            if agg is None:
                if len(self._open) >= self.max_open:
                    self._release_oldest()
                self._open[key] = _Agg(e)
            else:
                agg.add(e)
            self.coalesced_total += 1

    def fold(self, t: KernelEvent, seq: int | None, time: float, boot_id: str, source: str, previous_boot: bool) -> bool:
        """An event not built (a replayed record's: the classifier's template ``t`` with this identity),
        folded into its key's open aggregate as :meth:`add` would fold it -> True; False when its key has
        no open aggregate (it is built and added). The caller has added every earlier event."""
        agg = self._open.get(self._key(t, time, boot_id, source, previous_boot))
        if agg is None:
            return False
        agg.fold(t, seq, time)
        self.coalesced_total += 1
        return True

    def _key(self, e: KernelEvent, time: float, boot_id: str, source: str, previous_boot: bool) -> tuple:
        """An aggregate's key: the stream, the fault (class, device, component) and the window of ``time``."""
        return (boot_id, e.cls, e.device, e.component, source, previous_boot, int(time // self.window))

    def _release_oldest(self) -> None:
        key = min(self._open, key=lambda k: k[-1])
        self._ready.append(self._open.pop(key).event())

    def has_ready(self) -> bool:
        """A new (class, device) of this window is waiting: its first event (repeats passed through
        or folded do not count, so a storm does not wake the rules on every poll)."""
        return self._new_key and bool(self._ready)

    def pending(self) -> int:
        return len(self._ready) + len(self._open)

    def min_open_seq(self) -> int | None:
        """The lowest kmsg sequence number folded into an aggregate not yet released (a cursor
        persisted past it would lose the aggregate on a crash)."""
        seqs = [a.min_seq for a in self._open.values() if a.min_seq is not None]
        return min(seqs) if seqs else None

    def take(self, now: float, flush: bool = False) -> list[KernelEvent]:
        """Events to store now: the first events, and aggregates whose window has ended."""
        current = int(now // self.window)
        out, self._ready = self._ready, []
        self._new_key = False
        for key in [k for k in self._open if flush or k[-1] < current]:
            out.append(self._open.pop(key).event())
        self._firsts = {k: n for k, n in self._firsts.items() if k[-1] >= current - 1}
        return out
