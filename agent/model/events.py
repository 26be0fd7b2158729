"""Hardware events: one typed record per kernel-log incident (or BMC SEL entry).

A :class:`KernelEvent` is what the kernel-log classifier produces from one record or one
multi-line group of records (an MCE block, an AER block with its error-bit lines, a GHES
``{n}`` record, an ATA error-handler sequence). The same type carries IPMI SEL entries and
records recovered from the previous boot (pstore, ``journalctl -b -1``): ``source`` says where it
came from. Events are facts with a time; windowed counts over them come from the event history
(:mod:`agent.state.events`), never from in-memory counters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from agent.model import Reading, Severity

__all__ = ["KernelEvent", "KernelLogStatus", "EventWindow", "BootRecord", "StoredEvent", "StateUpdate", "SOURCES"]

SOURCES = ("kmsg", "journal", "dmesg", "pstore", "sel", "rasdaemon", "mcelog", "agent")


def _frozen(d: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True, slots=True, eq=False)
class KernelEvent(Reading):
    """One hardware-relevant incident.

    ``cls`` is the event class (``mce.corrected``, ``aer.fatal``, ``block.io_error``...), its
    first part the family. ``component`` names what is implicated (``cpu``, ``memory``,
    ``pcie``, ``disk:<dev>``, ``raid``, ``fs``, ``board``, ``system``); ``device`` the
    operator-facing name (PCI address, ``sda``, ``nvme0``, ``md0``, DIMM label, ``socket0``).
    ``count`` is how many errors the record stands for (EDAC ``128 CE`` -> 128), 1 otherwise.
    """

    cls: str
    severity: Severity
    component: str
    device: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    raw: tuple[str, ...] = ()  # the record text(s), first line first
    source: str = "kmsg"  # kmsg | journal | dmesg | pstore | sel | rasdaemon | mcelog | agent
    boot_id: str = ""
    seq: int | None = None  # kmsg sequence number of the first record of the group
    monotonic_usec: int | None = None  # CLOCK_MONOTONIC of the first record (kmsg/journal)
    time: float | None = None  # unix time (derived from the boot time for kmsg records)
    priority: int | None = None  # syslog level 0-7 of the first record
    facility: int | None = None  # syslog facility (0 = kernel)
    count: int = 1
    previous_boot: bool = False  # recovered from the boot before this one (pstore, journal -b -1)

    def __post_init__(self) -> None:
        if not isinstance(self.detail, MappingProxyType):
            object.__setattr__(self, "detail", _frozen(self.detail))

    @property
    def family(self) -> str:
        return self.cls.split(".", 1)[0]

    @property
    def dedupe_key(self) -> str:
        """Identity of the incident across transports: the same kernel record read from
        /dev/kmsg and from the journal has the same boot id and monotonic timestamp."""
        if self.source == "sel" and "sel_id" in self.detail:
            # a BMC record is the same record whichever boot reads it
            base = f"sel:{self.detail['sel_id']}:{self.detail.get('bmc_time', self.time)}:{self.raw[0] if self.raw else ''}"
            return "sel:" + hashlib.sha1(base.encode("utf-8", "replace")).hexdigest()[:24]
        if self.monotonic_usec is not None:
            base = f"u:{self.monotonic_usec}:{self.cls}:{self.device}"
        elif self.seq is not None:
            base = f"s:{self.seq}:{self.cls}:{self.device}"
        else:
            base = f"t:{self.time}:{self.cls}:{self.device}:{self.raw[0] if self.raw else ''}"
        return self.boot_id + ":" + hashlib.sha1(base.encode("utf-8", "replace")).hexdigest()[:20]

    def replace(self, **changes: Any) -> "KernelEvent":
        vals = {f: getattr(self, f) for f in self.__dataclass_fields__}
        vals.update(changes)
        return KernelEvent(**vals)

    def again(self, seq: int | None, monotonic_usec: int | None, time: float | None, priority: int | None,
              facility: int | None, source: str, boot_id: str, previous_boot: bool) -> "KernelEvent":
        """The same fault printed again (the classifier's replay of a storm's record): this event
        with another record's identity (sequence number, times, priority, facility) and stream.
        Built slot by slot, as twice as fast as the constructor: a storm makes thousands a second."""
        e = _new(KernelEvent)
        _CLS(e, self.cls)
        _SEVERITY(e, self.severity)
        _COMPONENT(e, self.component)
        _DEVICE(e, self.device)
        _DETAIL(e, self.detail)  # frozen already (__post_init__)
        _RAW(e, self.raw)
        _COUNT(e, self.count)
        _SOURCE(e, source)
        _BOOT_ID(e, boot_id)
        _SEQ(e, seq)
        _MONOTONIC_USEC(e, monotonic_usec)
        _TIME(e, time)
        _PRIORITY(e, priority)
        _FACILITY(e, facility)
        _PREVIOUS_BOOT(e, previous_boot)
        return e

    def to_dict(self) -> dict[str, Any]:
        return {
            "class": self.cls, "severity": self.severity.label, "component": self.component,
            "device": self.device, "detail": dict(self.detail), "raw": list(self.raw),
            "source": self.source, "boot_id": self.boot_id, "seq": self.seq,
            "monotonic_usec": self.monotonic_usec, "time": self.time, "priority": self.priority,
            "facility": self.facility, "count": self.count, "previous_boot": self.previous_boot,
        }


_new = object.__new__
# the slots' own setters (a frozen dataclass's __setattr__ refuses): KernelEvent.again sets every field
(_CLS, _SEVERITY, _COMPONENT, _DEVICE, _DETAIL, _RAW, _SOURCE, _BOOT_ID, _SEQ, _MONOTONIC_USEC, _TIME, _PRIORITY,
 _FACILITY, _COUNT, _PREVIOUS_BOOT) = (KernelEvent.__dict__[name].__set__ for name in (
    "cls", "severity", "component", "device", "detail", "raw", "source", "boot_id", "seq", "monotonic_usec", "time",
    "priority", "facility", "count", "previous_boot"))


@dataclass(frozen=True, slots=True)
class StateUpdate(Reading):
    """Small state a collector asks to keep across restarts (a log cursor, the SEL records seen).
    Collectors do not write the state database: the enrichment step stores it, after the events
    of the same run (a cursor never moves past an event that was not stored), and it never
    reaches the snapshot."""

    key: str
    value: Any


@dataclass(frozen=True, slots=True)
class KernelLogStatus(Reading):
    """Cumulative counters of the kernel_log collector since the agent started."""

    source: str  # kmsg | journal | none
    records_total: int  # records read (kmsg records or journal entries)
    records_lost_total: int  # records the agent never saw (sequence gaps, EPIPE overruns)
    malformed_total: int  # records that could not be parsed (garbage, truncated)
    events_total: Mapping[tuple[str, str], int]  # (class, severity) -> events since start
    last_event_time: Mapping[str, float]  # class -> unix time of the newest event
    boot_id: str = ""
    last_seq: int | None = None
    backlog: int = 0  # events classified but not yet stored (the state database refused them)
    backlog_dropped_total: int = 0  # events dropped because the backlog was full
    coalesced_total: int = 0  # events folded into storm aggregates before storing


@dataclass(frozen=True, slots=True)
class BootRecord:
    boot_id: str
    first_seen: float  # unix time the agent first ran in this boot
    last_seen: float  # last sign of life of the agent in this boot
    clean_stop: float | None  # time of the clean stop marker; None = no clean stop recorded


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as kept in the history (the subset rules need)."""

    time: float
    boot_id: str
    cls: str
    component: str
    device: str
    severity: Severity
    source: str
    count: int
    detail: Mapping[str, Any]
    summary: str  # first raw line
    previous_boot: bool = False


@dataclass(frozen=True, slots=True)
class EventWindow(Reading):
    """Read-only view of the event history for rules: built from the store by the kernel_log
    collector (so rules stay pure), covering ``window_seconds`` before ``as_of``.

    ``buckets`` aggregate events per minute: (cls, component, device, boot_id, minute_start,
    event_count, error_count). ``recent`` holds the newest events of severity >= warning with
    their detail. ``boots`` lists the boots the agent has seen, newest last.
    """

    as_of: float
    window_seconds: float
    buckets: tuple[tuple[str, str, str, str, float, int, int], ...] = ()
    recent: tuple[StoredEvent, ...] = ()
    boots: tuple[BootRecord, ...] = ()
    current_boot: str = ""
    parents: tuple[tuple[str, str], ...] = ()  # (device, upstream device): PCIe device -> its root port

    def parent_of(self, device: str) -> str | None:
        for d, p in self.parents:
            if d == device:
                return p
        return None

    # ---- queries (pure) -------------------------------------------------------------------
    @staticmethod
    def _cls_match(cls: str, want: str | tuple[str, ...] | None) -> bool:
        if want is None:
            return True
        wants = (want,) if isinstance(want, str) else want
        for w in wants:
            if cls == w or (w.endswith(".") and cls.startswith(w)):
                return True
        return False

    def count(self, cls: str | tuple[str, ...] | None = None, *, since: float | None = None,
              component: str | None = None, device: str | None = None, errors: bool = False) -> int:
        """Events (or, with ``errors``, the errors they stand for) matching the filters.
        A class ending in ``.`` is a prefix (``"aer."``)."""
        n = 0
        for c, comp, dev, _boot, t, ev, err in self.buckets:
            if since is not None and t + 60 <= since:
                continue
            if component is not None and comp != component:
                continue
            if device is not None and dev != device:
                continue
            if self._cls_match(c, cls):
                n += err if errors else ev
        return n

    def by_device(self, cls: str | tuple[str, ...] | None, *, since: float | None = None,
                  errors: bool = False) -> dict[tuple[str, str], int]:
        """(component, device) -> count."""
        out: dict[tuple[str, str], int] = {}
        for c, comp, dev, _boot, t, ev, err in self.buckets:
            if since is not None and t + 60 <= since:
                continue
            if self._cls_match(c, cls):
                out[(comp, dev)] = out.get((comp, dev), 0) + (err if errors else ev)
        return out

    def series(self, cls: str | tuple[str, ...] | None, component: str, device: str,
               errors: bool = True) -> list[tuple[float, int]]:
        """Per-minute (time, count) of one device, oldest first."""
        acc: dict[float, int] = {}
        for c, comp, dev, _boot, t, ev, err in self.buckets:
            if comp == component and dev == device and self._cls_match(c, cls):
                acc[t] = acc.get(t, 0) + (err if errors else ev)
        return sorted(acc.items())

    def events(self, cls: str | tuple[str, ...] | None = None, *, since: float | None = None,
               component: str | None = None, device: str | None = None) -> list[StoredEvent]:
        return [e for e in self.recent
                if self._cls_match(e.cls, cls) and (since is None or e.time >= since)
                and (component is None or e.component == component) and (device is None or e.device == device)]


def leaky_bucket(series: list[tuple[float, int]], capacity: float, period: float) -> tuple[float, float | None]:
    """mcelog-style leaky bucket over (time, count) points: the level leaks ``capacity`` per
    ``period`` and rises by each count. Returns (peak level, time the level first reached
    ``capacity`` or None)."""
    level, last_t, peak, crossed = 0.0, None, 0.0, None
    rate = capacity / period if period > 0 else 0.0
    for t, n in series:
        if last_t is not None:
            level = max(0.0, level - (t - last_t) * rate)
        level += n
        last_t = t
        if level > peak:
            peak = level
        if crossed is None and level >= capacity:
            crossed = t
    return peak, crossed
