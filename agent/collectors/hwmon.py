"""hwmon: every chip under {sysfs}/class/hwmon, all sensor types, limits, alarms and faults.

psutil's sensors API reads only temp input/max/crit and fan input, so it loses voltages,
current, power, minimums, every alarm and fault file, and cannot tell two identical chips apart;
this collector walks the hwmon ABI itself (Documentation/hwmon/sysfs-interface.rst).

Chip ids are stable across boots: ``hwmonN`` follows driver load order, so a chip is named after
its parent device, as node_exporter does (``platform_coretemp_0``, ``nvme_nvme0``,
``pci0000_00_0000_00_18_3``); chips sharing a device are told apart by their ``name`` file and
sensor layout, never by ``hwmonN`` (:func:`chip_ids`). Values are converted to base units while
reading.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from agent.collectors.base import BaseCollector, NoData
from agent.config_types import Regex
from agent.host import ReadError, parse_int
from agent.model import HwmonChip, HwmonSensor, Reading

_SENSOR_FILE = re.compile(r"^(temp|fan|in|curr|power|energy|humidity|intrusion)(\d+)_([a-z_]+)$")
_PWM_FILE = re.compile(r"^pwm(\d+)$")
_CLEAN = re.compile(r"[^a-zA-Z0-9_]")

# divisor from the sysfs unit to the base unit
SCALE = {
    "temp": 1000.0,  # millidegree Celsius -> celsius
    "in": 1000.0,  # millivolt -> volts
    "curr": 1000.0,  # milliampere -> amperes
    "power": 1_000_000.0,  # microwatt -> watts
    "energy": 1_000_000.0,  # microjoule -> joules
    "humidity": 100_000.0,  # milli-percent -> ratio 0..1
    "fan": 1.0,  # rpm
    "intrusion": 1.0,
}

# Plausibility bounds in base units. Super I/O chips with a floating input report absurd values
# (3,892,314 C has been seen); such a value is dropped with a message, never exported.
PLAUSIBLE = {
    "temp": (-100.0, 250.0),
    "in": (-1000.0, 1000.0),
    "fan": (0.0, 100_000.0),
    "curr": (-10_000.0, 10_000.0),
    "power": (0.0, 100_000.0),
    "humidity": (0.0, 1.0),
}

_VALUE_ATTRS = ("input", "min", "max", "lcrit", "crit", "emergency", "target", "average")


def clean_name(text: str) -> str:
    return _CLEAN.sub("_", text).strip("_")


@dataclass(frozen=True)
class _Found:
    """A chip before it is read: where it is, what it is called, what its id is derived from."""

    chip_dir: Path
    sensor_dir: Path
    files: tuple[str, ...]
    name: str  # the `name` file (driver): coretemp, k10temp, nct6779
    base_id: str  # from the device path: platform_coretemp_0, pci0000_00_0000_00_18_3
    index: int  # N of hwmonN: load order, the last resort only


def _no_layout(_found: _Found) -> tuple:
    return ()


def chip_ids(found: list[_Found], layout: Callable[[_Found], tuple] = _no_layout) -> list[str]:
    """Stable ids, independent of hwmonN numbering and of the listing order.

    A chip is named after its parent device (node_exporter's way). Chips that share a device (a
    driver registering two hwmon devices on one PCI function) are told apart by their `name`
    file (``pci0000_00_0000_00_18_3_k10temp``, ``..._fam15h_power``); chips that share device and
    name, by their sensor ``layout`` (attribute files and labels, which the driver sets; read only
    for such chips): the first
    in layout order keeps the plain id, the others get ``_1``, ``_2``. Only chips
    identical in all of that (indistinguishable by anything the kernel exports) fall back to
    load order (``_1``, ``_2``)."""
    by_base: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(found):
        by_base[f.base_id].append(i)
    out = [f.base_id for f in found]
    for base, members in by_base.items():
        if len(members) < 2:
            continue
        by_name: dict[str, list[int]] = defaultdict(list)
        names_differ = len({found[i].name for i in members}) > 1
        for i in members:
            by_name[f"{base}_{clean_name(found[i].name)}" if names_differ else base].append(i)
        for named, same in by_name.items():
            ordered = sorted(same, key=lambda i: (layout(found[i]) if len(same) > 1 else (), found[i].index))
            for n, i in enumerate(ordered):
                out[i] = f"{named}_{n}" if n else named
    taken: dict[str, int] = {}  # a derived id may equal another chip's base id: keep every id unique
    for i, cid in enumerate(out):
        n = taken.get(cid, 0)
        taken[cid] = n + 1
        if n:
            out[i] = f"{cid}_dup{n}"
    return out


class HwmonCollector(BaseCollector):
    name = "hwmon"
    default_interval = 30.0
    default_timeout = 10.0
    description = "hwmon chips: temperatures, fans, voltages, current, power with limits, alarms, faults"
    options = {
        "include_chips": (Regex, "", "Regex; only chips whose id or driver name matches are read (empty: all; "
                                     "not with exclude_chips)."),
        "exclude_chips": (Regex, "", "Regex; chips whose id or driver name matches are skipped."),
        "include_sensors": (Regex, "", "Regex on `CHIP;SENSOR` (`platform_coretemp_0;temp2`, also tried with the "
                                       "driver name, `coretemp;temp2`) or the sensor's label; only matching sensors "
                                       "are read (empty: all; not with exclude_sensors)."),
        "exclude_sensors": (Regex, "", "Regex like include_sensors; matching sensors are skipped (a floating Super "
                                       "I/O input: `nct6775_656;in6`)."),
    }
    filters = {"chip": ("include_chips", "exclude_chips"), "sensor": ("include_sensors", "exclude_sensors")}

    def collect(self) -> list[Reading]:
        base = self.host.path("sys", "class", "hwmon")
        entries = self.host.listdir(base)
        if not entries:
            raise NoData(f"no hwmon chips under {self.host.host_path(base)}")
        found: list[_Found] = []
        for entry in entries:
            if not entry.startswith("hwmon"):
                continue
            # resolve within the host tree: captures may hold absolute links
            chip_dir = self.host.realpath(base / entry)
            try:
                found.append(self._identify(chip_dir))
            except ReadError as err:  # a chip that vanished between listing and reading
                self.problem(f"{self.host.host_path(chip_dir)}: {err.reason}")
        chips = self.device_filters["chip"]
        readings: list[Reading] = []
        for f, chip_id in zip(found, chip_ids(found, self._layout), strict=True):
            if not chips.allows(chip_id, f.name):
                continue
            hw_chip = HwmonChip(chip=chip_id, chip_name=f.name, path=self.host.host_path(f.chip_dir))
            readings.append(hw_chip)
            readings.extend(self._read_sensors(f, hw_chip))
        return readings

    # ---------------------------------------------------------------------------------------
    def _chip_id(self, chip_dir: Path, name: str) -> str:
        dev = chip_dir / "device"
        if self.host.exists(dev):
            real = self.host.realpath(dev)
            dev_name = clean_name(real.name)
            dev_type = clean_name(real.parent.name)
            if dev_type and dev_name:
                return f"{dev_type}_{dev_name}"
            if dev_name:
                return dev_name
        # virtual chips (acpitz, some thermal-zone backed ones): name after the hwmon node's
        # parent, which is stable (e.g. thermal_zone0), falling back to the driver name
        real = self.host.realpath(chip_dir)
        parent = clean_name(real.parent.name)
        if parent and parent not in ("hwmon", "class"):
            return f"{clean_name(name)}_{parent}" if name else parent
        return clean_name(name) or clean_name(chip_dir.name)

    def _identify(self, chip_dir: Path) -> "_Found":
        files = self.host.listdir(chip_dir)
        if not files and not chip_dir.is_dir():
            raise ReadError(chip_dir, "vanished")
        sensor_dir = chip_dir
        if not any(_SENSOR_FILE.match(f) for f in files):
            # old drivers put the attributes in the device directory
            dev_files = self.host.listdir(chip_dir / "device")
            if any(_SENSOR_FILE.match(f) for f in dev_files):
                sensor_dir, files = chip_dir / "device", dev_files
        name = self.host.read_text(chip_dir / "name") or self.host.read_text(chip_dir / "device" / "name") or ""
        name = name.strip() or "unknown"
        index = parse_int(chip_dir.name[len("hwmon"):]) if chip_dir.name.startswith("hwmon") else None
        return _Found(chip_dir, sensor_dir, tuple(files), name, self._chip_id(chip_dir, name),
                      index if index is not None else -1)

    def _layout(self, f: _Found) -> tuple:
        """Sensor attribute files and label texts: what a driver sets, unlike the hwmonN number."""
        labels = tuple(sorted((n, (self.host.read_text(f.sensor_dir / n, 256) or "").strip())
                              for n in f.files if n.endswith("_label")))
        return tuple(sorted(n for n in f.files if _SENSOR_FILE.match(n) or _PWM_FILE.match(n))), labels

    def _read_sensors(self, found: "_Found", chip: HwmonChip) -> list[HwmonSensor]:
        sensor_dir, files = found.sensor_dir, found.files
        groups: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
        pwm: dict[int, str] = {}
        for f in files:
            m = _SENSOR_FILE.match(f)
            if m:
                groups[(m.group(1), int(m.group(2)))][m.group(3)] = f
                continue
            m = _PWM_FILE.match(f)
            if m:
                pwm[int(m.group(1))] = f
        sensors = []
        for (kind, idx), attrs in sorted(groups.items()):
            if not self._sensor_wanted(sensor_dir, chip, f"{kind}{idx}", attrs):
                continue
            s = self._read_sensor(sensor_dir, chip, kind, idx, attrs, pwm)
            if s is not None:
                sensors.append(s)
        return sensors

    def _sensor_wanted(self, d: Path, chip: HwmonChip, sensor: str, attrs: dict[str, str]) -> bool:
        flt = self.device_filters["sensor"]
        if flt.include is None and flt.exclude is None:
            return True
        label = self.host.read_text(d / attrs["label"], 256) if "label" in attrs else None
        return flt.allows(f"{chip.chip};{sensor}", f"{chip.chip_name};{sensor}", (label or "").strip())

    def _num(self, path: Path, kind: str, what: str) -> tuple[float | None, str | None]:
        try:
            raw = self.host.read_bytes(path, 64).decode("ascii", "replace").strip()
        except ReadError as err:
            return None, err.reason
        val = parse_int(raw)
        if val is None:
            return None, f"not a number: {raw[:20]!r}" if raw else "empty"
        return val / SCALE[kind], None

    def _read_sensor(self, d: Path, chip: HwmonChip, kind: str, idx: int, attrs: dict[str, str], pwm: dict[int, str]):
        sensor = f"{kind}{idx}"
        where = f"{self.host.host_path(d)}/{sensor}"
        values: dict[str, float | None] = {}
        for attr in _VALUE_ATTRS:
            if attr not in attrs:
                continue
            v, err = self._num(d / attrs[attr], kind, attr)
            if err and attr in ("input", "average"):
                self.problem(f"{where}_{attr}: {err}; sensor skipped")
                return None
            values[attr] = v
        value = values.get("input")
        if value is None and "average" in values:
            value = values["average"]
        if value is None and kind != "intrusion" and not any(a.endswith("alarm") for a in attrs):
            return None  # limits only, no reading: nothing to report
        lo, hi = PLAUSIBLE.get(kind, (float("-inf"), float("inf")))
        if value is not None and not (lo <= value <= hi):
            self.problem(f"{where}_input: implausible value {value:g}; sensor skipped")
            return None

        alarms: list[str] = []
        alarm_seen = False
        for attr, fname in sorted(attrs.items()):
            if attr == "alarm" or attr.endswith("_alarm"):
                v = self.host.read_int(d / fname)
                if v is None:
                    continue
                alarm_seen = True
                if v:
                    alarms.append(attr)
        fault = None
        if "fault" in attrs:
            fv = self.host.read_int(d / attrs["fault"])
            fault = bool(fv) if fv is not None else None
        label = self.host.read_text(d / attrs["label"], 256) if "label" in attrs else None
        pwm_val = None
        if kind == "fan" and idx in pwm:
            pwm_val = self.host.read_int(d / pwm[idx])
        return HwmonSensor(
            chip=chip.chip,
            chip_name=chip.chip_name,
            sensor=sensor,
            kind=kind,
            label=label or None,
            value=value,
            min=values.get("min"),
            max=values.get("max"),
            lcrit=values.get("lcrit"),
            crit=values.get("crit"),
            emergency=values.get("emergency"),
            alarm=(bool(alarms) if alarm_seen else None),
            alarms=tuple(alarms),
            fault=fault,
            pwm=pwm_val,
            target=values.get("target"),
        )
