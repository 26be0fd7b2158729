"""Replay: a storm's records repeat the classifier's own steps, so each step is worked out once.

The classifier is a state machine over message texts: what a /dev/kmsg record does (continue the
open group, close it, start the next one, emit events, change what a family remembers) depends on
the classifier's state and the record's prefix, flags and text, never on its sequence number or
time, which only travel into the events. In a storm the kernel prints the same blocks again and
again, so the same (state, record) pairs come again and again. :class:`Replay` remembers, per
state and record, the state it leads to and the events it emits (with the record, or with the
group it closes, as their sequence number and time), and the classifier applies that instead of
parsing the record again.

Correct by construction, not by family:

* A state is everything a family reads or writes on the classifier (the open group but its
  first record's sequence number and time, and every other attribute: ``_ata_reset``,
  ``_block_last``...), taken as a value. A state holding anything that is not plain data
  (numbers, strings, enums, tuples, lists, dicts, sets) is never remembered.
* A step is remembered only when its effects are fully described: events appended to the output
  (none changed or dropped) whose sequence number and time are the record's or the closed
  group's, a group that is the record's or the one open before, and the counters' changes.
* An event replayed takes the source, boot and previous-boot mark from the classifier as it is
  then (the families never read them).
* A remembered state is a deep copy; the classifier works on its own copy again (made from the
  state) before it parses a record it has no step for, and before any other entry point.

It pays only when texts repeat; a storm of ever-different texts (sector numbers) would only add
the cost of taking states, so learning pauses for a while when most steps are new. Bounded:
cleared when full. ``tests/unit/kernel_log/test_replay.py`` classifies every family's table and
the storm with and without replay and requires the same events and the same final state.
"""

from __future__ import annotations

import copy
import enum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Hashable

from agent.collectors.patterns.record import Group, Meta
from agent.model.events import KernelEvent

__all__ = ["Replay", "STEPS_MAX", "STATES_MAX"]

STEPS_MAX = 4096  # remembered (state, record) steps at most; all are forgotten when full
STATES_MAX = 1024
WINDOW = 512  # records per look at how many steps were new
PAUSE_RECORDS = 8192  # records parsed without learning when most steps of a window were new

# the classifier's attributes that are not its state: constants of the stream, the output, memos
NOT_STATE = frozenset({"source", "boot_id", "wall", "previous_boot", "out", "fold", "group", "hits", "errors",
                       "_conts", "_fams", "_heads", "replay", "_sid", "_gmeta", "_stale"})
_CUR, _GRP = 0, 1  # an event's or the open group's sequence number and time: the record's, the group's before
_PLAIN = (str, int, float, bool, type(None), enum.Enum)


class NotPlain(Exception):
    """A state holds something that cannot be compared as a value."""


def _value(v: Any) -> Hashable:
    if type(v) is str:
        return v
    if isinstance(v, _PLAIN):
        return (type(v), v)  # True, 1 and 1.0 are equal and hash alike, but are not the same state
    if isinstance(v, tuple):
        return tuple(_value(x) for x in v)
    if isinstance(v, list):
        return ("L", tuple(_value(x) for x in v))
    if isinstance(v, (dict, MappingProxyType)):
        return ("D", tuple((_value(k), _value(x)) for k, x in v.items()))
    if isinstance(v, (set, frozenset)):
        return ("S", frozenset(_value(x) for x in v))
    raise NotPlain(type(v).__name__)


def _group_value(g: Group | None) -> Hashable:
    if g is None:
        return None
    return (g.kind, g.key, tuple(g.lines), g.cls, g.sev, g.component, g.device, g.count, g.closed, _value(g.detail))


def _copy_group(g: Group, meta: Meta | None) -> Group:
    new = Group(g.kind, g.key, meta if meta is not None else g.meta, "")
    new.lines = list(g.lines)
    new.detail = copy.deepcopy(g.detail)
    new.cls, new.sev, new.component, new.device, new.count, new.closed = g.cls, g.sev, g.component, g.device, g.count, g.closed
    return new


class Replay:
    """States and steps of one classifier (not shared: a classifier is used by one thread)."""

    def __init__(self) -> None:
        self.ids: dict[Hashable, int] = {}
        self.snaps: list[tuple[Group | None, dict[str, Any]]] = []  # state id -> (group, other attributes)
        self.steps: dict[tuple, tuple] = {}
        self.replayed = 0  # records whose step was replayed
        self.misses = 0  # records parsed (no step remembered for them)
        self.learnt = 0
        self._mark = self._mark_misses = 0  # records and misses when this window began
        self.paused = 0  # records left to parse without learning

    def clear(self) -> None:
        self.ids.clear()
        self.snaps.clear()
        self.steps.clear()

    # -- states ------------------------------------------------------------------------------
    def state(self, c: Replaying) -> int | None:
        """The id of the classifier's current state (its copy remembered), or None when it
        cannot be compared as a value."""
        side = {k: v for k, v in vars(c).items() if k not in NOT_STATE}
        try:
            key = (_group_value(c.group), tuple(sorted((k, _value(v)) for k, v in side.items())))
        except NotPlain:
            return None
        sid = self.ids.get(key)
        if sid is None:
            if len(self.snaps) >= STATES_MAX:
                return None  # full: the caller clears
            sid = self.ids[key] = len(self.snaps)
            g = c.group
            self.snaps.append((None if g is None else _copy_group(g, None), copy.deepcopy(side)))
        return sid

    def restore(self, c: Replaying, sid: int, gmeta: Meta | None) -> None:
        """Give the classifier its own copy of a remembered state."""
        g, side = self.snaps[sid]
        c.group = None if g is None else _copy_group(g, gmeta)
        for k in [k for k in vars(c) if k not in NOT_STATE and k not in side]:
            delattr(c, k)
        for k, v in side.items():
            setattr(c, k, copy.deepcopy(v))

    # -- steps -------------------------------------------------------------------------------
    def learning(self) -> bool:
        if self.paused:
            self.paused -= 1
            return False
        return True

    def missed(self) -> None:
        """A record had no remembered step: when most records of the last WINDOW had none, texts do
        not repeat here, and learning pauses."""
        self.misses += 1
        seen = self.replayed + self.misses - self._mark
        if seen >= WINDOW:
            if (self.misses - self._mark_misses) * 2 > seen:
                self.paused = PAUSE_RECORDS
            self._mark, self._mark_misses = self.replayed + self.misses, self.misses

    def learn(self, key: tuple, sid1: int, before: list[KernelEvent], out: list[KernelEvent], meta: Meta,
              gmeta0: Meta | None, group: Group | None, hits: int, errors: int) -> bool:
        """Remember a step just parsed, when its effects are fully described; False when full (the
        caller clears: its state id is one of those forgotten)."""
        n0 = len(before)
        if meta == gmeta0 or len(out) < n0 or any(a is not b for a, b in zip(before, out[:n0], strict=True)):
            return True  # a record repeated as is (garbage), or an event already out was changed or dropped
        events = []
        for e in out[n0:]:
            m = (e.seq, e.monotonic_usec, e.priority, e.facility)
            src = _CUR if m == meta else _GRP if gmeta0 is not None and m == gmeta0 else None
            if src is None:
                return True  # carries the time of a record kept elsewhere (a rate-limit notice)
            events.append((e, src))
        gsrc = None
        if group is not None:
            gsrc = _CUR if group.meta == meta else _GRP if gmeta0 is not None and group.meta == gmeta0 else None
            if gsrc is None:
                return True
        if len(self.steps) >= STEPS_MAX:
            return False
        plain = not events and not hits and not errors and gsrc == _GRP  # the group goes on, nothing else: no time needed
        self.steps[key] = (sid1, self.snaps[sid1][0], tuple(events), gsrc, hits, errors, plain)
        self.learnt += 1
        return True


class Replaying:
    """The classifier's side: each /dev/kmsg record goes through :meth:`_record`; every other entry
    point calls :meth:`_own` first."""

    if TYPE_CHECKING:
        replay: Replay | None
        _sid: int | None
        _gmeta: Meta | None
        _stale: bool
        out: list[KernelEvent]
        group: Group | None
        hits: int
        errors: int

        source: str
        boot_id: str
        wall: Callable[[int | None], float | None] | None
        previous_boot: bool
        fold: Callable[[KernelEvent, int, int, float | None], bool] | None

        def _parse(self, flags: str, msg: str, meta: Meta) -> None: ...

    def _record(self, prefix: int, seq: int, usec: int, flags: str, msg: str) -> None:
        """One /dev/kmsg record: a step remembered for this state and record is replayed, any
        other is parsed (and remembered when it can be)."""
        meta = (seq, usec, prefix & 7, prefix >> 3)
        rp = self.replay
        sid = self._sid
        if sid is not None and rp is not None:
            step = rp.steps.get((sid, prefix, flags, msg))
            if step is not None:
                self._replay(step, prefix, seq, usec)
                rp.replayed += 1
                return
            rp.missed()
        self._own()
        if rp is None or not rp.learning():
            self._parse(flags, msg, meta)
            return
        if sid is None:
            sid = rp.state(self)
        if sid is None:  # (the state id is None until the step is done: _own forgot it, and the step may raise)
            if len(rp.snaps) >= STATES_MAX:
                self._forget()
            self._parse(flags, msg, meta)
            return
        before, hits, errors, gmeta = self.out[:], self.hits, self.errors, self._gmeta
        self._parse(flags, msg, meta)
        sid1 = rp.state(self)
        if sid1 is not None and not rp.learn((sid, prefix, flags, msg), sid1, before, self.out, meta, gmeta, self.group,
                                             self.hits - hits, self.errors - errors):
            self._forget()
            sid1 = None
        self._sid = sid1

    def _own(self) -> None:
        """Before the state is changed other than by a remembered step: after a replayed step, the
        classifier's own copy of the state it is in; and its id is no longer known (a flush, a fed
        line change it)."""
        if self._stale:
            assert self.replay is not None and self._sid is not None
            self.replay.restore(self, self._sid, self._gmeta)
            self._stale = False
        self._sid = None

    def _forget(self) -> None:
        if self.replay is not None:
            self.replay.clear()
        self._sid = None

    def _replay(self, step: tuple, prefix: int, seq: int, usec: int) -> None:
        """Apply a remembered step: its events with this record's (or the group's) time, the next state.
        An event the fold hook takes (a storm's repeat, folded into its aggregate) is not built."""
        sid1, group, events, gsrc, hits, errors, _plain = step
        gmeta = self._gmeta
        if events:
            meta = (seq, usec, prefix & 7, prefix >> 3)
            fold = self.fold
            for t, src in events:
                seq_, usec_, prio, fac = meta if src == _CUR else gmeta  # type: ignore[misc]  # _GRP: learnt with a group open
                time = self.wall(usec_) if self.wall else None
                if fold is None or not fold(t, seq_, usec_, time):
                    self.out.append(t.again(seq_, usec_, time, prio, fac, self.source, self.boot_id, self.previous_boot))
        if hits or errors:
            self.hits += hits
            self.errors += errors
        if gsrc != _GRP:
            self._gmeta = None if gsrc is None else (seq, usec, prefix & 7, prefix >> 3)
        self._sid = sid1
        self.group = group  # read-only until restored (Classifier._own)
        self._stale = True
