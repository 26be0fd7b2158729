"""Board rules: tables of small hand-built snapshots and the findings each should produce."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from agent.schema import from_mapping
from agent.model import HwmonSensor, Severity, Snapshot, SystemReading, ThermalZone, ThrottleCounter
from agent.rules import evaluate
from agent.rules.board import nominal_volts


class FakeHistory:
    def __init__(self, maxes=None, deltas=None):
        self.maxes = maxes or {}
        self.deltas = deltas or {}

    def max(self, key, window=None):
        return self.maxes.get(key)

    def delta(self, key, window, current=None, boot_id=None):
        return self.deltas.get(key)


def snap(*readings):
    return Snapshot(time=0.0, boot_id="b1", readings=MappingProxyType({"x": tuple(readings)}),
                    statuses=MappingProxyType({}))


def S(kind, idx, value, chip="platform_nct6775_656", name="nct6779", **kw):
    return HwmonSensor(chip=chip, chip_name=name, sensor=f"{kind}{idx}", kind=kind, label=kw.pop("label", None),
                       value=value, **kw)


def run(snapshot, cfg=None, history=None):
    findings, errors = evaluate(snapshot, history or FakeHistory(), cfg or from_mapping({}), 0.0)
    assert errors == []
    return sorted((f.rule, f.device, f.severity.label) for f in findings), findings


D = "platform_nct6775_656"


@pytest.mark.parametrize("sensor,expected", [
    # fans: 0 RPM matters only for a fan that should spin
    (S("fan", 1, 0.0), []),  # empty header
    (S("fan", 1, 0.0, pwm=0), []),
    (S("fan", 1, 0.0, pwm=120), [("board.fan_stopped", f"{D}/fan1", "critical")]),
    (S("fan", 1, 0.0, min=300.0), [("board.fan_stopped", f"{D}/fan1", "critical")]),
    (S("fan", 1, 0.0, pwm=120, fault=True), [("board.sensor_fault", f"{D}/fan1", "warning")]),  # not "stopped"
    (S("fan", 1, 250.0, min=300.0), [("board.fan_slow", f"{D}/fan1", "warning")]),
    (S("fan", 1, 1200.0, min=300.0, pwm=100), []),
    # temperatures against the chip's own limits
    (S("temp", 1, 70.0, max=80.0, crit=100.0), []),
    (S("temp", 1, 81.0, max=80.0, crit=100.0), [("board.temp_critical", f"{D}/temp1", "warning")]),
    (S("temp", 1, 100.0, max=80.0, crit=100.0), [("board.temp_critical", f"{D}/temp1", "critical")]),
    (S("temp", 1, 96.0, max=0.0), []),  # floating Super I/O input with no limit: not judged
    (S("temp", 1, 96.0, emergency=95.0), [("board.temp_critical", f"{D}/temp1", "critical")]),
    # voltages: chip limits first
    (S("in", 0, 0.88, min=0.6, max=1.488), []),
    (S("in", 0, 0.50, min=0.6, max=1.488), [("board.voltage_out_of_range", f"{D}/in0", "warning")]),
    (S("in", 0, 0.40, lcrit=0.45, min=0.6, max=1.488), [("board.voltage_out_of_range", f"{D}/in0", "critical")]),
    (S("in", 0, 0.0, min=0.0, max=0.0), []),  # unset limits
    # ... then a labelled rail's nominal value
    (S("in", 1, 12.1, label="+12V"), []),
    (S("in", 1, 10.7, label="+12V"), [("board.voltage_out_of_range", f"{D}/in1", "warning")]),
    (S("in", 1, 9.0, label="+12V"), [("board.voltage_out_of_range", f"{D}/in1", "critical")]),
    (S("in", 2, 3.30, label="3VSB"), []),
    (S("in", 3, 1.20, label="Vcore"), []),  # no nominal in the label: not judged
    # CMOS battery
    (S("in", 8, 3.1, label="VBAT"), []),
    (S("in", 8, 2.7, label="VBAT"), [("board.cmos_battery_low", f"{D}/in8", "warning")]),
    (S("in", 8, 2.2, label="VBAT"), [("board.cmos_battery_low", f"{D}/in8", "critical")]),
    (S("in", 8, 0.0, label="VBAT"), []),  # not wired
    # alarms and faults
    (S("temp", 1, 50.0, alarm=True, alarms=("alarm",)), [("board.sensor_alarm", f"{D}/temp1", "warning")]),
    (S("temp", 1, 50.0, alarm=True, alarms=("crit_alarm",)), [("board.sensor_alarm", f"{D}/temp1", "critical")]),
    (S("intrusion", 0, None, alarm=True, alarms=("alarm",)), [("board.sensor_alarm", f"{D}/intrusion0", "warning")]),
    (S("temp", 2, 40.0, fault=True), [("board.sensor_fault", f"{D}/temp2", "warning")]),
])
def test_sensor_rules(sensor, expected):
    got, _ = run(snap(sensor))
    assert got == expected


def test_fan_seen_spinning_before_counts_as_stopped():
    got, findings = run(snap(S("fan", 2, 0.0)), history=FakeHistory(maxes={f"hwmon.fan:{D}/fan2": 1180.0}))
    assert got == [("board.fan_stopped", f"{D}/fan2", "critical")]
    assert "was spinning at 1180 RPM" in findings[0].summary


def test_nvme_alarm_belongs_to_the_disk():
    s = S("temp", 1, 49.85, chip="nvme_nvme0", name="nvme", label="Composite", max=69.85, crit=99.85,
          alarm=True, alarms=("alarm",))
    _, findings = run(snap(s))
    assert [(f.rule, f.component, f.severity) for f in findings] == [("board.sensor_alarm", "disk:nvme_nvme0", Severity.WARNING)]


def test_thresholds_are_config_per_rule_and_per_device():
    cfg = from_mapping({"rules": {
        "board.voltage_out_of_range": {"tolerance_ratio": 0.05, "devices": {f"{D}/in2": {"tolerance_ratio": 0.2}}},
        "board.fan_stopped": {"devices": {f"{D}/fan1": {"enabled": False}}},
        "board.temp_critical": {"enabled": False},
    }})
    got, _ = run(snap(S("in", 1, 11.3, label="+12V"), S("in", 2, 11.3, label="+12V"), S("fan", 1, 0.0, pwm=200),
                      S("temp", 1, 120.0, crit=100.0)), cfg)
    assert got == [("board.voltage_out_of_range", f"{D}/in1", "warning")]


def test_thermal_zone_critical_trip():
    z = ThermalZone(zone="thermal_zone0", type="acpitz", temp_celsius=106.0, trip_points=(("critical", 105.0),))
    got, _ = run(snap(z))
    assert got == [("board.temp_critical", "thermal_zone0", "critical")]


def test_throttling_from_counter_growth_in_window():
    counters = [ThrottleCounter(cpu=c, scope="package", count=500, total_time_seconds=1.0, max_time_seconds=0.1)
                for c in (0, 1)]
    got, f = run(snap(*counters), history=FakeHistory(deltas={"throttle:package:cpu0": 3, "throttle:package:cpu1": 2}))
    assert got == [("board.thermal_throttling", "package", "warning")]
    assert f[0].component == "cpu" and f[0].evidence["events"] == 5
    got, _ = run(snap(*counters), history=FakeHistory())  # no history yet: lifetime totals are not a rate
    assert got == []


def test_hardware_corrupted():
    r = SystemReading(boot_time_seconds=0, uptime_seconds=1, load1=0, load5=0, load15=0, memory_total_bytes=1,
                      memory_available_bytes=1, hardware_corrupted_bytes=8192, cpu_count=2, kernel_release="6.1")
    got, _ = run(snap(r))
    assert got == [("memory.hardware_corrupted", "memory", "warning")]


@pytest.mark.parametrize("label,nominal", [
    ("+12V", 12.0), ("12V", 12.0), ("+5V", 5.0), ("5VSB", 5.0), ("+3.3V", 3.3), ("3VSB", 3.3), ("3VCC", 3.3),
    ("VBAT", 3.0), ("AVCC", 3.3), ("Vcore", None), ("CPU VDDIO / MEM", None), ("in0", None), ("-12V", 12.0),
    ("VIN1", None), ("+1.8V", 1.8), ("DRAM 1.2V", 1.2),
])
def test_nominal_volts(label, nominal):
    assert nominal_volts(label) == nominal


def test_a_broken_rule_does_not_hide_the_others(monkeypatch):
    from agent import rules

    def boom(ctx):
        raise ValueError("bad")
        yield  # pragma: no cover

    meta = rules.RULES[0]
    broken = type(meta)(meta.id, boom, meta.defaults, meta.runbook, meta.description)
    monkeypatch.setattr(rules, "RULES", (broken,) + rules.RULES[1:])
    findings, errors = rules.evaluate(snap(S("fan", 1, 0.0, pwm=100)), FakeHistory(), from_mapping({}), 0.0)
    assert errors and "bad" in errors[0]
    assert [f.rule for f in findings] == ["board.fan_stopped"]
