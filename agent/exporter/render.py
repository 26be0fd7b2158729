"""Incremental rendering of /metrics: only what changed since the last snapshot is rendered again.

At default intervals almost every scrape finds a new snapshot (the kernel-log collector runs
every 5 s, hwmon every 30 s), so a cache of the whole text per generation rarely helps. Here
each sampler's output is cached against the parts of the snapshot it read (recorded while it
runs: the reading types it asked for, and the findings, statuses, acks or extras it looked at),
and each metric family's text against the sample lists it was built from. A new snapshot in
which only the kernel-log collector's status moved re-runs the one sampler that reads statuses
and re-formats the collector families; the 24 disks' thousands of series are reused as bytes.

Identity is the test, not equality: the daemon hands on the very same readings tuple, findings
tuple and extras mapping when a run changed nothing (``Daemon._keep_if_equal``), so a cache key
is a tuple of ``id()``s of objects the cache entry keeps alive (an id cannot be reused while
its object lives). Anything read that is not tracked (a method of the snapshot other than
``of_type``) makes that sampler run on every new snapshot: correct, only slower.

The output is byte-for-byte what ``prometheus_client.generate_latest`` gives for the same
families (a test compares them), formatted here: the daemon does not import prometheus_client,
whose package pulls in an HTTP client, a WSGI server and more (~2 MB of RSS) it never uses.
"""

from __future__ import annotations

import logging
import math
import threading
import zlib
from typing import Any, Callable, Iterator

from agent.exporter.catalog import METRICS, METRICS_BY_NAME, MetricSpec, UnknownMetric
from agent.exporter.families import SAMPLERS
from agent.model import Snapshot

log = logging.getLogger("hwagent.exporter")

GZIP_LEVEL = 6  # zlib's default: 330 KB -> ~25 KB in ~5 ms, once per generation


def gzip_body(body: bytes) -> bytes:
    """``gzip.compress(body, GZIP_LEVEL, mtime=0)``, which is exactly this zlib call (CPython's
    gzip.py takes the same path for mtime=0); the gzip module itself is not imported by the daemon."""
    return zlib.compress(body, level=GZIP_LEVEL, wbits=31)
_VALUE_ATTRS = ("hostname", "boot_id")  # plain values: compared by value
_ALWAYS = object()  # a sampler that read something untracked: never reused


class _Recorder:
    """A view of a snapshot that records what a sampler reads."""

    __slots__ = ("_snap", "types", "attrs")

    def __init__(self, snap: Snapshot):
        self._snap = snap
        self.types: set[type] = set()
        self.attrs: set[str] = set()

    def of_type(self, cls: type) -> Iterator[Any]:
        self.types.add(cls)
        return self._snap.of_type(cls)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._snap, name)
        self.attrs.add(name if not callable(value) else "*")
        return value


def go_float(value: float) -> str:
    """A sample value as Prometheus' Go code prints it: +Inf/-Inf/NaN, and an exponent once a
    positive number has more than 6 digits before the point (1.7640036e+09)."""
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    point = text.find(".")
    if value > 0 and point > 6:
        digits = (text[:point] + text[point + 1:]).rstrip("0")
        mantissa = f"{digits[0]}.{digits[1:]}".rstrip(".") if len(digits) > 1 else digits[0]
        return f"{mantissa}e+{point - 1:02d}"
    return text


def _label_value(v: Any) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_family(spec: MetricSpec, samples: list[tuple[dict, float]]) -> bytes:
    """One family in the text exposition format (HELP, TYPE, samples in order; labels sorted)."""
    names = sorted(spec.labels)
    want = set(names)
    kind = "counter" if spec.type == "counter" else "gauge"  # info metrics are value-1 gauges
    help_text = spec.help.replace("\\", "\\\\").replace("\n", "\\n")
    out = [f"# HELP {spec.name} {help_text}\n# TYPE {spec.name} {kind}\n"]
    for lab, value in samples:
        if lab.keys() != want:
            raise ValueError(f"{spec.name}: labels {sorted(lab)} differ from catalogue {names}")
        if names:
            labels = ",".join(f'{k}="{_label_value(lab[k])}"' for k in names)
            out.append(f"{spec.name}{{{labels}}} {go_float(float(value))}\n")
        else:
            out.append(f"{spec.name} {go_float(float(value))}\n")
    return "".join(out).encode("utf-8")


class IncrementalRenderer:
    """Snapshot -> exposition text, re-rendering only what the new snapshot changed.

    Not thread-safe by itself: ``render`` is called under the caller's lock (MetricsRenderer).
    """

    def __init__(self, samplers: tuple[Callable, ...] = SAMPLERS):
        self.samplers = samplers
        self._type_sets: dict[int, tuple[tuple, frozenset]] = {}  # id(readings tuple) -> (tuple, its types)
        # per sampler: (key, objects kept alive for the key's ids, {metric name: samples})
        self._sampler_cache: list[tuple[tuple, tuple, dict] | None] = [None] * len(samplers)
        # per family: (ids of the contributing sample lists, those lists, their samples, text)
        self._family_cache: dict[str, tuple[tuple, tuple, list, bytes]] = {}
        self.sampler_runs = 0  # how many samplers ran (tests and the benchmark read these)
        self.families_formatted = 0
        self.last_ran: list[str] = []  # the samplers the last render ran

    # ---- keys ----------------------------------------------------------------------------------
    def _types_of(self, items: tuple) -> frozenset:
        hit = self._type_sets.get(id(items))
        if hit is not None and hit[0] is items:
            return hit[1]
        types = frozenset(c for r in items for c in type(r).__mro__)
        self._type_sets[id(items)] = (items, types)
        return types

    def _key(self, snap: Snapshot, types: frozenset, attrs: frozenset) -> tuple[tuple, tuple]:
        if "*" in attrs:
            return (_ALWAYS, snap.generation), ()
        key: list[Any] = []
        alive: list[Any] = []
        for cls in sorted(types, key=lambda c: (c.__module__, c.__qualname__)):
            key.append(cls)
            for name, items in snap.readings.items():
                if cls in self._types_of(items):
                    key.append((name, id(items)))
                    alive.append(items)
        for attr in sorted(attrs):
            value = getattr(snap, attr)
            if attr in _VALUE_ATTRS:
                key.append((attr, value))
            else:
                key.append((attr, id(value)))
                alive.append(value)
        return tuple(key), tuple(alive)

    # ---- rendering -----------------------------------------------------------------------------
    def samples(self, snap: Snapshot) -> list[dict[str, list[tuple[dict, float]]]]:
        """Each sampler's samples for ``snap``, reused where what it reads did not change."""
        live = {id(items) for items in snap.readings.values()}
        for k in [k for k in self._type_sets if k not in live]:
            del self._type_sets[k]
        out = []
        self.last_ran = []
        for i, sampler in enumerate(self.samplers):
            cached = self._sampler_cache[i]
            if cached is not None and cached[0][0] is not _ALWAYS:
                types, attrs = cached[0][-1]
                key, _ = self._key(snap, types, attrs)
                if key == cached[0][:-1]:
                    out.append(cached[2])
                    continue
            rec = _Recorder(snap)
            mine: dict[str, list[tuple[dict, float]]] = {}

            def emit(name: str, labels: dict, value: float, _mine=mine) -> None:
                if name not in METRICS_BY_NAME:
                    raise UnknownMetric(f"metric {name} is not in the catalogue")
                _mine.setdefault(name, []).append((labels, float(value)))

            self.sampler_runs += 1
            self.last_ran.append(sampler.__name__)
            try:
                sampler(rec, emit)
            except UnknownMetric:
                raise
            except Exception as exc:  # noqa: BLE001 - one broken mapping must not empty /metrics
                log.warning("sampler %s failed: %s", sampler.__name__, exc)
                self._sampler_cache[i] = None  # what it emitted is served; it runs again next time
                out.append(mine)
                continue
            types, attrs = frozenset(rec.types), frozenset(rec.attrs)
            key, alive = self._key(snap, types, attrs)
            self._sampler_cache[i] = ((*key, (types, attrs)), alive, mine)
            out.append(mine)
        return out

    def render(self, snap: Snapshot) -> bytes:
        per_sampler = self.samples(snap)
        parts = []
        for spec in METRICS:
            lists = tuple(s[spec.name] for s in per_sampler if spec.name in s)
            if not lists or not any(lists):
                self._family_cache.pop(spec.name, None)
                continue
            key = tuple(id(lst) for lst in lists)
            cached = self._family_cache.get(spec.name)
            if cached is not None and cached[0] == key:
                parts.append(cached[3])
                continue
            samples = [s for lst in lists for s in lst]
            if cached is not None and cached[2] == samples:  # re-sampled, same values
                text = cached[3]
            else:
                text = format_family(spec, samples)
                self.families_formatted += 1
            self._family_cache[spec.name] = (key, lists, samples, text)
            parts.append(text)
        return b"".join(parts)


class GenerationCache:
    """The rendered body and its gzip form for one snapshot generation, swapped as one tuple
    (a reader without the lock never pairs one generation with another's body)."""

    def __init__(self) -> None:
        self.state: tuple[int, bytes, bytes | None] = (-1, b"", None)
        self._lock = threading.Lock()

    def set(self, generation: int, body: bytes) -> None:
        self.state = (generation, body, None)

    def gzipped(self) -> bytes:
        with self._lock:
            gen, body, gz = self.state
            if gz is None:
                gz = gzip_body(body)
                self.state = (gen, body, gz)
            return gz
