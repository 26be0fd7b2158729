"""Replay daily SMART rows through the collector's parser and state, the state store and the rules.

Day by day, every drive's row becomes the smartctl JSON the collector would have read, is parsed
by :func:`agent.collectors.smart_parse.parse_json`, enriched with baselines and history by the
collector's :class:`~agent.state.disks.CounterState` (written through to a state store,
as the daemon does), and judged by :func:`agent.rules.evaluate` over one snapshot per day, with the
operator's config (thresholds under test). What the report counts:

- per drive, the first day each severity (warning-or-worse, critical) was reached and the rules
  that fired at that level;
- recall at >= 0/7/14/30 days before failure: failed drives flagged at least that many days before
  their failure day;
- false-positive rate: drives that never failed but were flagged at that level on any day;
- for reference, the same figures for the classic "any of SMART 5/187/188/197/198 raw > 0" rule.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any, Iterable, Sequence

from agent.backtest.rows import DriveDay, day_time, read_file, to_doc
from agent.collectors.smart_parse import ParseError, parse_json
from agent.state.disks import STATE_SCRIPTS, CounterState
from agent.model import CollectorStatus, Severity, Snapshot
from agent.model.disk import SmartDevice

LEADS = (0, 7, 14, 30)
REFERENCE_IDS = (5, 187, 188, 197, 198)
LEVELS = ("warning", "critical")


@dataclass
class Drive:
    serial: str
    model: str
    first_day: date
    last_day: date
    failed_on: date | None = None
    first_flag: dict[str, date] = field(default_factory=dict)  # level -> first day
    rules: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # level -> rule ids
    reference_flag: date | None = None


@dataclass
class Result:
    drives: dict[str, Drive]
    drive_days: int
    days: int
    seconds: float
    skipped_rows: int
    rule_errors: list[str]

    def groups(self) -> dict[str, list[Drive]]:
        out: dict[str, list[Drive]] = defaultdict(list)
        for d in self.drives.values():
            out[d.model].append(d)
        return dict(sorted(out.items()))

    @staticmethod
    def figures(drives: Iterable[Drive]) -> dict[str, Any]:
        drives = list(drives)
        failed = [d for d in drives if d.failed_on is not None]
        healthy = [d for d in drives if d.failed_on is None]
        out: dict[str, Any] = {"drives": len(drives), "failed": len(failed)}

        def recall(first: list[date | None]) -> dict[str, float | None]:
            return {f">={k}d": (sum(1 for f, d in zip(first, failed, strict=True) if f is not None and d.failed_on is not None and (d.failed_on - f).days >= k)
                                / len(failed)) if failed else None for k in LEADS}

        for level in LEVELS:
            out[level] = {
                "recall": recall([d.first_flag.get(level) for d in failed]),
                "false_positive_rate": (sum(1 for d in healthy if level in d.first_flag) / len(healthy)) if healthy else None,
                "flagged_healthy": sum(1 for d in healthy if level in d.first_flag),
            }
        out["reference_any_5_187_188_197_198"] = {
            "recall": recall([d.reference_flag for d in failed]),
            "false_positive_rate": (sum(1 for d in healthy if d.reference_flag) / len(healthy)) if healthy else None,
            "flagged_healthy": sum(1 for d in healthy if d.reference_flag),
        }
        fired: dict[str, dict[str, int]] = defaultdict(lambda: {"failed": 0, "healthy": 0})
        for d in drives:
            for r in d.rules.get("warning", ()):
                fired[r]["failed" if d.failed_on else "healthy"] += 1
        out["rules_fired"] = dict(sorted(fired.items()))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"drive_days": self.drive_days, "days": self.days, "seconds": round(self.seconds, 3),
                "drive_days_per_second": round(self.drive_days / self.seconds) if self.seconds else None,
                "skipped_rows": self.skipped_rows, "rule_errors": self.rule_errors[:20],
                "overall": self.figures(self.drives.values()),
                "models": {m: self.figures(ds) for m, ds in self.groups().items()}}


class Replay:
    """Feed days in order with :meth:`day`; :meth:`result` gives the figures."""

    def __init__(self, config: Any = None, store: Any = None, rules: Sequence[Any] | None = None):
        from agent import rules as rules_mod  # noqa: PLC0415

        self.config = config
        self.rules = rules_mod
        self.only = tuple(rules) if rules is not None else None
        self.store = store
        if store is not None:
            store.migrate("disk", STATE_SCRIPTS)
        self.state = CounterState(store)
        self.drives: dict[str, Drive] = {}
        self.drive_days = 0
        self.days = 0
        self.skipped = 0
        self.errors: list[str] = []
        self.seconds = 0.0

    def _evaluate(self, snap: Snapshot, now: float) -> list:
        if self.only is None:
            findings, errors = self.rules.evaluate(snap, None, self.config, now)
            self.errors.extend(errors)
            return findings
        from agent.rules.base import Params, RuleContext  # noqa: PLC0415

        out = []
        for meta in self.only:
            rc = self.config.rule(meta.id) if self.config is not None else None
            params = Params(meta.defaults, rc.params if rc else {}, rc.devices if rc else {})
            out.extend(meta.fn(RuleContext(snapshot=snap, history=None, params=params, now=now, rule=meta)))
        return out

    def day(self, rows: Iterable[DriveDay]) -> None:
        t0 = time.perf_counter()
        devices: list[SmartDevice] = []
        today: date | None = None
        now = 0.0
        for r in rows:
            if today is None:
                today, now = r.day, day_time(r.day)
            try:
                d = parse_json(to_doc(r), device=r.serial, path=f"/dev/disk/by-id/{r.serial}", now=now)
            except ParseError:
                self.skipped += 1
                continue
            devices.append(self.state.enrich(d, now))
            drv = self.drives.get(r.serial)
            if drv is None:
                drv = self.drives[r.serial] = Drive(r.serial, r.model, r.day, r.day)
            drv.last_day = r.day
            if r.failure:
                drv.failed_on = r.day
            if drv.reference_flag is None and any(raw and raw > 0 for aid, _n, raw in r.attributes
                                                  if aid in REFERENCE_IDS):
                drv.reference_flag = r.day
        if today is None:
            return
        snap = Snapshot(time=now, boot_id="backtest", readings=MappingProxyType({"smart": tuple(devices)}),
                        statuses=MappingProxyType({"smart": CollectorStatus("smart", ok=True)}))
        by_serial = {d.stable_id: d.serial for d in devices}
        for f in self._evaluate(snap, now):
            serial = by_serial.get(f.subject)
            if serial is None or f.severity < Severity.WARNING or not f.component.startswith("disk:"):
                continue  # a cable/backplane finding (component board) is no verdict on the drive
            drv = self.drives[serial]
            for level, sev in (("warning", Severity.WARNING), ("critical", Severity.CRITICAL)):
                if f.severity >= sev:
                    drv.first_flag.setdefault(level, today)
                    if drv.first_flag[level] == today:
                        drv.rules[level].add(f.rule)
        self.drive_days += len(devices)
        self.days += 1
        self.seconds += time.perf_counter() - t0

    def result(self) -> Result:
        return Result(self.drives, self.drive_days, self.days, self.seconds, self.skipped, self.errors)


def run_files(paths: Sequence[str], config: Any = None, store: Any = None, rules: Sequence[Any] | None = None) -> Result:
    """Replay files (one day each, any order; several files of one day are merged)."""
    by_day: dict[date, list[DriveDay]] = defaultdict(list)
    # read lazily per file; group by day so a day split over several files is one snapshot
    for p in paths:
        for r in read_file(p):
            by_day[r.day].append(r)
    rp = Replay(config, store, rules)
    for day in sorted(by_day):
        rp.day(by_day.pop(day))
    return rp.result()
