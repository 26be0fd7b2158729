"""thermal: {sysfs}/class/thermal/thermal_zone* temperatures and trip points, and the per-CPU
throttle counters in {sysfs}/devices/system/cpu/cpu*/thermal_throttle/ (Intel; the kernel logs
throttling only after averaging, the counters are the better signal)."""

from __future__ import annotations

import re

from agent.collectors.base import BaseCollector, NoData
from agent.model import Reading, ThermalZone, ThrottleCounter

_CPU = re.compile(r"^cpu(\d+)$")
_TRIP = re.compile(r"^trip_point_(\d+)_temp$")


class ThermalCollector(BaseCollector):
    name = "thermal"
    default_interval = 30.0
    default_timeout = 10.0
    description = "thermal zones and CPU thermal throttle counters"

    def collect(self) -> list[Reading]:
        out: list[Reading] = []
        zdir = self.host.path("sys", "class", "thermal")
        for entry in self.host.listdir(zdir):
            if not entry.startswith("thermal_zone"):
                continue
            d = zdir / entry
            ztype = self.host.read_text(d / "type", 128)
            raw = self.host.read_int(d / "temp")
            if ztype is None and raw is None:
                self.problem(f"{self.host.host_path(d)}: unreadable; zone skipped")
                continue
            temp = raw / 1000.0 if raw is not None else None
            if temp is not None and not (-100.0 <= temp <= 250.0):
                self.problem(f"{self.host.host_path(d)}/temp: implausible value {temp:g}")
                temp = None
            trips = []
            for f in self.host.listdir(d):
                m = _TRIP.match(f)
                if not m:
                    continue
                t = self.host.read_int(d / f)
                kind = self.host.read_text(d / f"trip_point_{m.group(1)}_type", 64)
                if t is not None and kind:
                    trips.append((kind, t / 1000.0))
            out.append(ThermalZone(zone=entry, type=ztype or "unknown", temp_celsius=temp, trip_points=tuple(trips)))

        cdir = self.host.path("sys", "devices", "system", "cpu")
        for entry in self.host.listdir(cdir):
            m = _CPU.match(entry)
            if not m:
                continue
            tdir = cdir / entry / "thermal_throttle"
            files = self.host.listdir(tdir)
            if not files:
                continue
            for scope in ("core", "package"):
                count = self.host.read_int(tdir / f"{scope}_throttle_count")
                if count is None:
                    continue
                total = self.host.read_int(tdir / f"{scope}_throttle_total_time_ms")
                mx = self.host.read_int(tdir / f"{scope}_throttle_max_time_ms")
                out.append(ThrottleCounter(
                    cpu=int(m.group(1)), scope=scope, count=count,
                    total_time_seconds=total / 1000.0 if total is not None else None,
                    max_time_seconds=mx / 1000.0 if mx is not None else None,
                ))
        if not out:
            raise NoData("no thermal zones and no CPU throttle counters")
        return out
