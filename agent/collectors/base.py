"""Collector contract and the timing/timeout/exception wrapper.

A collector is a class with ``name`` (config key, CLI switch, ``collector`` label),
``default_enabled``, ``default_interval`` and ``default_timeout``, built once with
``(host, cfg)``. ``collect()`` returns typed readings, raises :class:`NoData` when the subsystem
is absent on this host (not an error), and any other exception counts as a failed run. Per-entry
problems (one unreadable sensor) are recorded with :meth:`BaseCollector.problem` and do not fail
the run.
"""

from __future__ import annotations

import time
import traceback
from typing import Any, Callable, ClassVar, Mapping, Sequence

from agent.config_types import CollectorConfig, DeviceFilter
from agent.host import Host, ReadError
from agent.model import CollectorStatus, Reading

MAX_MESSAGES = 20


class NoData(Exception):
    """The subsystem is not present on this host (no hwmon chips, no BMC, no smartctl devices)."""


def _no_request() -> None:
    return None


class BaseCollector:
    name: ClassVar[str] = ""
    default_enabled: ClassVar[bool] = True
    default_interval: ClassVar[float] = 30.0
    default_timeout: ClassVar[float] = 10.0
    description: ClassVar[str] = ""
    # readings kept per run: a tool printing without end (5 MB of sensor rows) must not become
    # half a million series; the rest is dropped and reported as skipped entries
    max_readings: ClassVar[int] = 10_000
    # collector-specific config keys: key -> (type, default, doc)
    options: ClassVar[Mapping[str, tuple[Any, Any, str]]] = {}
    # device filters: filter name -> (include option, exclude option), both declared in `options`
    # with type Regex; one DeviceFilter each (include XOR exclude), checked when the config loads
    filters: ClassVar[Mapping[str, tuple[str, str]]] = {}

    def __init__(self, host: Host, cfg: CollectorConfig | None = None, store: Any = None):
        self.host = host
        self._cfg_given = cfg is not None
        self.cfg = cfg or CollectorConfig()
        self.store = store  # agent.state.store.Store or None; for state that must survive restarts
        self._problems: list[str] = []
        self._skipped = 0
        # set by the daemon: "new data arrived, run me soon" (an event-driven source such as the
        # kernel-log tail calls it; the daemon debounces and rate-limits the extra runs)
        self.request_run: Callable[[], None] = _no_request
        self.device_filters: dict[str, DeviceFilter] = {
            name: DeviceFilter.from_options({k: self.option(k) for k in (inc, exc)}, inc, exc, f"collectors.{self.name}")
            for name, (inc, exc) in self.filters.items()}

    # -- settings --------------------------------------------------------------------------
    @property
    def interval(self) -> float:
        return self.cfg.interval_seconds or self.default_interval

    @property
    def timeout(self) -> float:
        return self.cfg.timeout_seconds or self.default_timeout

    @property
    def enabled(self) -> bool:
        return self.cfg.enabled if self._cfg_given else self.default_enabled

    def option(self, key: str) -> Any:
        if key in self.cfg.options:
            return self.cfg.options[key]
        return self.options[key][1]

    # -- per-entry problems ------------------------------------------------------------------
    def problem(self, message: str) -> None:
        """Record a skipped entry (a message naming the path or device)."""
        self._skipped += 1
        if len(self._problems) < MAX_MESSAGES:
            self._problems.append(message)

    def take_problems(self) -> tuple[int, tuple[str, ...]]:
        out = (self._skipped, tuple(self._problems))
        self._skipped = 0
        self._problems = []
        return out

    # -- contract ------------------------------------------------------------------------------
    def collect(self) -> Sequence[Reading]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Stop background threads (streaming collectors)."""

    def final_readings(self) -> Sequence[Reading]:
        """Readings drained by :meth:`close` (a log tail's last events and cursor), for the
        enrichment step to store; collectors never write the state database themselves."""
        return ()


def run_collector(collector: BaseCollector, last_success: float | None, clock=time.time) -> tuple[tuple[Reading, ...], CollectorStatus]:
    """Run one collection with timing and exception capture; never raises."""
    started = clock()
    t0 = time.monotonic()
    readings: tuple[Reading, ...] = ()
    ok, no_data, error = True, False, None
    try:
        readings = tuple(collector.collect())
    except NoData as exc:
        no_data = True
        error = str(exc) or None
    except ReadError as exc:
        ok, error = False, f"read error: {exc}"
    except Exception as exc:  # noqa: BLE001 - a collector must never take the daemon down
        ok = False
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
        error = f"{type(exc).__name__}: {exc}{where}"
    duration = time.monotonic() - t0
    if len(readings) > collector.max_readings:
        collector.problem(f"{len(readings)} readings, more than the bound of {collector.max_readings}: "
                          f"kept the first {collector.max_readings}, dropped {len(readings) - collector.max_readings}")
        collector._skipped += len(readings) - collector.max_readings - 1  # noqa: SLF001 - problem() counted one
        readings = readings[:collector.max_readings]
    skipped, messages = collector.take_problems()
    status = CollectorStatus(
        name=collector.name,
        ok=ok,
        no_data=no_data,
        duration_seconds=duration,
        last_success=started if ok else last_success,
        last_run=started,
        error=error,
        skipped_entries=skipped,
        messages=messages,
    )
    return readings, status
