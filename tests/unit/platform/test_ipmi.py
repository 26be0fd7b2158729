"""IPMI collector on real ipmitool recordings from the lab, bad BMC behaviour, SEL cursor and rules."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.collectors.base import NoData, run_collector
from agent.collectors.ipmi import (IpmiCollector, decode_sel, parse_bmc_time, parse_sel_elist, parse_sensor)
from agent.config import CollectorConfig
from agent.host import CommandResult
from agent.model import Severity
from agent.model.platform import IpmiSelEntry, IpmiSelInfo, IpmiSensor
from agent.state.store import Store
from tests.support.enriched import Enriched
from tests.support.replay import ReplayRunner
from tests.unit.platform.common import NOW, LabReplay, run_rule, snap

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "platform" / "ipmi"


@pytest.fixture
def bmc_root(fakesys):
    fakesys.proc_basics()
    fakesys.write("dev/ipmi0", "")  # placeholder for the character device
    return fakesys.root


def collector(make_host, root, case: str | None = None, runner=None, store=None, now=NOW, **options):
    if runner is None:
        runner = LabReplay(FIX / case / "commands")
    host = make_host(root, runner=runner, now=now)
    return Enriched(IpmiCollector(host, CollectorConfig(options=options), store))  # as the daemon runs it


def sensors(readings):
    return {s.name: s for s in readings if isinstance(s, IpmiSensor)}


def test_overtemp_recording(make_host, bmc_root):
    out = collector(make_host, bmc_root, "qemu-overtemp").collect()
    s = sensors(out)
    assert set(s) == {"CPU1 Temp", "Fan1"}  # the MC locator record is not a sensor
    cpu = s["CPU1 Temp"]
    assert (cpu.kind, cpu.value, cpu.state) == ("temperature", 97.0, "ucr")
    assert (cpu.unc, cpu.ucr, cpu.unr, cpu.lnc) == (85.0, 95.0, 100.0, None)
    assert s["Fan1"].state == "ok" and s["Fan1"].kind == "fan" and s["Fan1"].lnr == 200.0
    sel = [r for r in out if isinstance(r, IpmiSelEntry)]
    assert [(e.kind, e.severity, e.time_source) for e in sel] == [("temperature", "warning", "agent"),
                                                                  ("temperature", "critical", "agent")]
    assert sel[1].bmc_time == "Pre-Init 0000006508" and sel[1].sensor == "CPU1 Temp"
    info = next(r for r in out if isinstance(r, IpmiSelInfo))
    assert (info.entries, info.new_entries) == (2, 2)
    findings = run_rule("board.ipmi_sensor", snap(*out))
    assert [(f.severity, f.component, f.device) for f in findings] == [(Severity.CRITICAL, "cpu", "CPU1 Temp")]
    assert "above upper critical" in findings[0].summary
    sel_f = run_rule("board.sel_event", snap(*out))
    assert [(f.severity, f.subject) for f in sel_f] == [(Severity.CRITICAL, "sel/temperature/CPU1 Temp")]


def test_fan_failure_recording(make_host, bmc_root):
    out = collector(make_host, bmc_root, "qemu-fan-failure").collect()
    fan = sensors(out)["Fan1"]
    assert (fan.value, fan.state, fan.severity_level) == (100.0, "lnr", 3)
    f = run_rule("board.ipmi_sensor", snap(*out))
    assert [(x.severity, x.device, x.component) for x in f] == [(Severity.CRITICAL, "Fan1", "board")]
    sel = [r for r in out if isinstance(r, IpmiSelEntry)]
    assert [e.severity for e in sel] == ["warning", "critical", "critical"] and {e.kind for e in sel} == {"fan"}


def test_healthy_recording_yields_nothing(make_host, bmc_root):
    out = collector(make_host, bmc_root, "qemu-healthy").collect()
    assert {s.state for s in sensors(out).values()} == {"ok"}
    assert not [r for r in out if isinstance(r, IpmiSelEntry)]
    for rid in ("board.ipmi_sensor", "board.sel_event", "board.sel_power_supply", "board.sel_cpu_error", "memory.sel_ecc"):
        assert run_rule(rid, snap(*out)) == []


def test_discrete_watchdog_only(make_host, bmc_root):
    out = collector(make_host, bmc_root, "qemu-watchdog-only").collect()
    wd = sensors(out)["Watchdog"]
    assert (wd.kind, wd.value, wd.raw_state, wd.state) == ("discrete", None, "0x0000", "ok")
    assert run_rule("board.ipmi_sensor", snap(*out)) == []


def test_sel_decoding_mixed():
    rows, errors = parse_sel_elist((FIX / "sel-mixed/commands/ipmitool/sel_elist").read_text())
    assert errors == []
    got = {r["id"]: (r["kind"], r["severity"]) for r in rows}
    assert got[0x1] == ("log_cleared", "info")
    assert got[0x2] == ("psu_failure", "critical")
    assert got[0x3] == ("psu_redundancy_lost", "warning")
    assert got[0x4] == ("psu_input_lost", "warning")
    assert got[0x5] == ("voltage", "critical")
    assert got[0x6] == ("thermal_trip", "critical")
    assert got[0x3a] == ("memory_ce", "warning")
    assert got[0x89] == ("caterr", "critical")
    assert got[0x8a] == ("watchdog", "warning")
    assert got[0x8b] == ("system_restart", "info")
    assert got[0x8c] == ("bus_error", "critical")
    assert got[0x8d] == ("temperature", "critical")
    assert got[0x8e] == ("temperature", "info")  # deasserted
    assert got[0x8f] == ("battery", "critical")
    assert got[0x90] == ("memory_ue", "critical")
    assert got[0x91][0] == "other"
    assert got[0x92] == ("fan", "critical")
    r3a = next(r for r in rows if r["id"] == 0x3a)
    assert (r3a["sensor_type"], r3a["sensor"], r3a["date"], r3a["time"]) == ("Memory", "#0x88", "12/14/22", "23:09:44 CET")
    assert parse_bmc_time("12/14/22", "23:09:44 CET") == 1671059384.0
    assert parse_bmc_time("Pre-Init", "0000006508") is None
    assert parse_bmc_time("garbage", "x") is None


def test_sel_rules_on_mixed_log(make_host, bmc_root):
    # first read: BMC dates from 2014-2023 are plausible, so they date the records: outside the
    # default 30-day retention nothing is kept; with 20 years' retention and window every class shows
    wide = 20 * 365 * 86400.0
    out = collector(make_host, bmc_root, "sel-mixed", sdr=False, runner=_sel_only_runner("sel-mixed")).collect()
    # only the OEM record without a timestamp is kept (dated by the agent)
    assert [r.record_id for r in out if isinstance(r, IpmiSelEntry)] == [0x91]
    out = collector(make_host, bmc_root, "sel-mixed", sdr=False, runner=_sel_only_runner("sel-mixed"),
                    sel_retention_seconds=wide).collect()
    s = snap(*out)
    assert run_rule("board.sel_power_supply", s) == []  # older than the 7-day window
    psu = run_rule("board.sel_power_supply", s, window_seconds=wide)
    assert sorted((f.subject, f.severity) for f in psu) == [
        ("sel/psu_failure/PS1 Status", Severity.CRITICAL), ("sel/psu_input_lost/PS2 Status", Severity.WARNING),
        ("sel/psu_redundancy_lost/PS Redundancy", Severity.WARNING)]
    cpu = run_rule("board.sel_cpu_error", s, window_seconds=wide)
    assert {f.subject for f in cpu} == {"sel/caterr/#0xc9", "sel/thermal_trip/CPU1 Status"}
    assert all(f.runbook == "mainboard-swap" for f in cpu)
    ecc = run_rule("memory.sel_ecc", s, window_seconds=wide)
    assert {(f.subject, f.severity) for f in ecc} == {("sel/memory_ce/#0x88", Severity.WARNING),
                                                      ("sel/memory_ue/DIMM_A1", Severity.CRITICAL)}
    ev = {f.subject for f in run_rule("board.sel_event", s, window_seconds=wide)}
    # the CPU1 Temp critical was deasserted later: not active
    assert ev == {"sel/voltage/P12V", "sel/watchdog/#0x03", "sel/bus_error/#0x05", "sel/battery/VBAT", "sel/fan/FAN3"}


def _sel_only_runner(case):
    rr = ReplayRunner(FIX / case / "commands", strict=False)

    def run(argv, timeout, env=None):
        if argv[1:] == ["sensor"]:
            return CommandResult(tuple(argv), 0, b"", b"", 0.0)
        return rr(argv, timeout, env)
    return run


class ScriptedRunner:
    """Answers ipmitool calls from a dict argv-tail -> CommandResult fields (or a callable)."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, argv, timeout, env=None):
        self.calls.append((tuple(argv), timeout))
        a = self.answers.get(" ".join(argv[1:]))
        if callable(a):
            a = a()
        if a is None:
            return CommandResult(tuple(argv), 0, b"", b"", 0.0)
        rc, out, err, error = a
        return CommandResult(tuple(argv), rc, out, err, 0.0, error)


SEL_2 = (FIX / "qemu-overtemp/commands/ipmitool/sel_elist").read_bytes()
SENSOR = (FIX / "qemu-overtemp/commands/ipmitool/sensor").read_bytes()


def test_sel_cursor_survives_restart_and_clear(make_host, bmc_root, tmp_path):
    store = Store(tmp_path / "state.db")
    answers = {"sensor": (0, SENSOR, b"", None), "sdr elist": (0, b"", b"", None), "sel elist": (0, SEL_2, b"", None)}
    c1 = collector(make_host, bmc_root, runner=ScriptedRunner(answers), store=store)
    out1 = c1.collect()
    assert next(r for r in out1 if isinstance(r, IpmiSelInfo)).new_entries == 2
    # a restarted agent (new collector, same store) 10 minutes later sees nothing new
    c2 = collector(make_host, bmc_root, runner=ScriptedRunner(answers), store=store, now=NOW + 600)
    out2 = c2.collect()
    info = next(r for r in out2 if isinstance(r, IpmiSelInfo))
    assert (info.entries, info.new_entries, info.kept_entries) == (2, 0, 2)
    kept = [r for r in out2 if isinstance(r, IpmiSelEntry)]
    assert [e.time for e in kept] == [NOW, NOW]  # first-seen times survive the restart
    # the SEL is cleared and a new record arrives with a reused id 1
    answers["sel elist"] = (0, b"   1 | 11/25/2026 | 01:00:00 | Event Logging Disabled #0xf6 | Log area reset/cleared | Asserted\n"
                               b"   2 | 11/25/2026 | 01:05:00 | Power Supply PS1 Status | Failure detected () | Asserted\n", b"", None)
    c3 = collector(make_host, bmc_root, runner=ScriptedRunner(answers), store=store, now=NOW + 1200)
    out3 = c3.collect()
    info = next(r for r in out3 if isinstance(r, IpmiSelInfo))
    assert (info.entries, info.new_entries, info.kept_entries) == (2, 2, 4)
    psu = run_rule("board.sel_power_supply", snap(*out3, now=NOW + 1200), now=NOW + 1200)
    assert [f.severity for f in psu] == [Severity.CRITICAL]
    # every SEL record went into the event history exactly once (agent events shows them)
    from agent.state.events import EventStore
    hist = EventStore(store).query(cls="sel")
    assert sorted((h["class"], h["severity"], h["device"]) for h in hist) == [
        ("sel.log_cleared", "info", "#0xf6"), ("sel.psu_failure", "critical", "PS1 Status"),
        ("sel.temperature", "critical", "CPU1 Temp"), ("sel.temperature", "warning", "CPU1 Temp")]
    assert {h["source"] for h in hist} == {"sel"} and hist[0]["detail"]["sel_id"] == "2"
    # retention: 31 days later the old records are gone from the kept set
    c4 = collector(make_host, bmc_root, runner=ScriptedRunner(answers), store=store, now=NOW + 31 * 86400)
    out4 = c4.collect()
    assert next(r for r in out4 if isinstance(r, IpmiSelInfo)).kept_entries == 0
    assert run_rule("board.sel_power_supply", snap(*out4, now=NOW + 31 * 86400), now=NOW + 31 * 86400) == []


def test_no_device_is_no_data(make_host, fakesys):
    fakesys.proc_basics()
    c = collector(make_host, fakesys.root, runner=ScriptedRunner({}))
    _, st = run_collector(c, None)
    assert st.ok and st.no_data and "/dev/ipmi0" in st.error


def test_ipmitool_missing_or_no_bmc_is_no_data(make_host, bmc_root):
    c = collector(make_host, bmc_root, runner=ScriptedRunner({"sensor": (None, b"", b"", "not found: ipmitool")}))
    with pytest.raises(NoData):
        c.collect()



# ipmitool 1.8.19 (Debian 12) run as an unprivileged user with a root-only /dev/ipmi0 (mode 0600): it
# tries /dev/ipmi0, /dev/ipmi/0, /dev/ipmidev/0 and prints the errno of the last open only
CANNOT_OPEN = b"Could not open device at /dev/ipmi0 or /dev/ipmi/0 or /dev/ipmidev/0: No such file or directory\n"


def test_no_device_node_and_ipmitool_cannot_open_is_no_data(make_host, fakesys):
    fakesys.proc_basics()
    c = collector(make_host, fakesys.root, runner=ScriptedRunner({"sensor": (1, b"", CANNOT_OPEN, None)}),
                  require_device=False)
    with pytest.raises(NoData, match="no BMC answering"):
        c.collect()


def test_device_node_present_but_not_openable_is_an_error(make_host, bmc_root):
    """A sandbox (DeviceAllow without the IPMI device) or a non-root agent: /dev/ipmi0 exists and
    ipmitool cannot open it. That used to read as "no BMC" (collector ok, present 0): the host's
    BMC silently unmonitored. It is a failing collector that names the device and the cause."""
    c = collector(make_host, bmc_root, runner=ScriptedRunner({"sensor": (1, b"", CANNOT_OPEN, None)}))
    _, st = run_collector(c, None)
    assert not st.ok and not st.no_data
    assert "/dev/ipmi0" in st.error and "access refused" in st.error and "DeviceAllow" in st.error


def test_hung_bmc_times_out_with_a_clear_error(make_host, bmc_root):
    timeout = (None, b"", b"", "timeout")
    r = ScriptedRunner({"sensor": timeout, "sdr elist": timeout, "sel elist": timeout})
    c = collector(make_host, bmc_root, runner=r, command_timeout_seconds=5.0)
    _, st = run_collector(c, None)
    assert not st.ok and "ipmitool sensor timed out" in st.error and "BMC not answering" in st.error
    assert all(t == 5.0 for _, t in r.calls)  # every call carried the per-command timeout


def test_partial_table_and_garbage_keep_what_parses(make_host, bmc_root):
    partial = (b"CPU1 Temp        | 45.000     | degrees C  | ok    | na        | na        | na        | 85.000    | 95.000    | 100.000   \n"
               b"Fan1             | 6000.000   | revolu")
    garbage = b"\x00\xff\xfe BMC says hello\nP12V | 12.1x | Volts | ok | na\n| | |\n"
    r = ScriptedRunner({"sensor": (None, partial, b"", "timeout"), "sdr elist": (0, garbage, b"", None),
                        "sel elist": (0, b"   1 | garbage line\nnot a record\n", b"", None)})
    c = collector(make_host, bmc_root, runner=r)
    out, st = run_collector(c, None)
    assert st.ok and st.skipped_entries >= 3
    s = sensors(out)
    assert s["CPU1 Temp"].value == 45.0
    assert "Fan1" not in s  # a truncated row is skipped, not half-read
    assert any("timed out" in m for m in st.messages)
    info = next(r for r in out if isinstance(r, IpmiSelInfo))
    assert info.parse_errors == 2 and info.entries == 0


def test_parse_sensor_units_and_states():
    rows = parse_sensor("Inlet Temp | 89.600 | degrees F | ok | na | na | na | na | na | na\n"
                        "CPU Usage  | 45.000 | percent | ok | na | na | na | na | na | na\n"
                        "P12V | 10.900 | Volts | cr | 10.200 | 10.800 | 11.100 | 12.900 | 13.200 | 13.800\n"
                        "PSU2 | na | Watts | na | na | na | na | na | na | na\n")
    assert rows[0]["kind"] == "temperature" and rows[0]["value"] == pytest.approx(32.0)
    assert rows[1]["value"] == pytest.approx(0.45)
    assert rows[2]["state"] == "cr" and rows[2]["lcr"] == 10.8
    assert rows[3]["value"] is None and rows[3]["state"] == "na"


def test_directional_state_from_thresholds():
    from agent.collectors.ipmi import merge_sensors
    rows = parse_sensor("P12V | 10.700 | Volts | cr | 10.200 | 10.800 | 11.100 | 12.900 | 13.200 | 13.800\n")
    (s,) = merge_sensors(rows, [])
    assert s.state == "lcr" and s.severity_level == 2


def test_duplicate_names_are_kept_apart():
    from agent.collectors.ipmi import merge_sensors, parse_sdr_elist
    rows = parse_sensor("Temp | 40.000 | degrees C | ok | na | na | na | na | 90.000 | na\n"
                        "Temp | 91.000 | degrees C | cr | na | na | na | na | 90.000 | na\n")
    sdr = parse_sdr_elist("Temp | 0Eh | ok | 3.1 | 40 degrees C\nTemp | 0Fh | ucr | 3.2 | 91 degrees C\n"
                          "PS1 Status | 22h | ok | 10.1 | Presence detected, Failure detected\n")
    out = merge_sensors(rows, sdr)
    assert [(s.name, s.state, s.entity) for s in out] == [("Temp", "ok", "3.1"), ("Temp#2", "ucr", "3.2"),
                                                         ("PS1 Status", "ok", "10.1")]
    f = run_rule("board.ipmi_sensor", snap(*out))
    assert {(x.device, x.severity) for x in f} == {("Temp#2", Severity.CRITICAL), ("PS1 Status", Severity.CRITICAL)}


def test_decode_is_case_and_wording_tolerant():
    assert decode_sel("Power Supply", "PS1 Status", "Predictive failure", "", True) == ("psu_failure", "critical")
    assert decode_sel("Processor", "CPU2 CATERR", "State Asserted", "", True) == ("caterr", "critical")
    assert decode_sel("Power Unit", "Pwr Unit Redund", "Redundancy Lost", "", True) == ("psu_redundancy_lost", "warning")
    assert decode_sel("Voltage", "PS2 PG FAIL", "State Asserted", "", True)[0] in ("psu_failure", "voltage")
    assert decode_sel("Watchdog2", "#0x03", "Timer expired, status only", "", True) == ("watchdog", "warning")
    assert decode_sel("Critical Interrupt", "#0x05", "Bus Correctable error", "", True) == ("bus_error", "warning")
    assert decode_sel("Critical Interrupt", "#0x05", "Bus Uncorrectable error", "", True) == ("bus_error", "critical")


def test_real_ipmitool_not_needed(make_host, bmc_root, monkeypatch):
    """Without a runner (live host), a missing ipmitool binary is no data, found by name."""
    host = make_host(bmc_root)
    monkeypatch.setattr(type(host), "which", lambda self, name: None)
    with pytest.raises(NoData, match="not installed"):
        IpmiCollector(host, CollectorConfig(options={"ipmitool": "ipmitool-does-not-exist"})).collect()
    assert shutil is not None


def test_clock_jumps(make_host, bmc_root, tmp_path):
    """The host clock jumps back a day, then forward a year: no crash, no record read twice,
    records dated in the future stay until they are older than the retention."""
    store = Store(tmp_path / "state.db")
    answers = {"sensor": (0, SENSOR, b"", None), "sdr elist": (0, b"", b"", None), "sel elist": (0, SEL_2, b"", None)}
    collector(make_host, bmc_root, runner=ScriptedRunner(answers), store=store).collect()
    back = collector(make_host, bmc_root, runner=ScriptedRunner(answers), store=store, now=NOW - 86400).collect()
    assert next(r for r in back if isinstance(r, IpmiSelInfo)).new_entries == 0
    assert len([r for r in back if isinstance(r, IpmiSelEntry)]) == 2  # "future" records are kept
    f = run_rule("board.sel_event", snap(*back, now=NOW - 86400), now=NOW - 86400)
    assert [x.severity for x in f] == [Severity.CRITICAL]
    fwd = collector(make_host, bmc_root, runner=ScriptedRunner(answers), store=store, now=NOW + 365 * 86400).collect()
    info = next(r for r in fwd if isinstance(r, IpmiSelInfo))
    assert (info.new_entries, info.kept_entries) == (0, 0)


SEL_INFO = b"""SEL Information
Version          : 1.5 (v1.5, v2 compliant)
Entries          : 2
Free Space       : 15968 bytes 
Percent Used     : 0%
Last Add Time    : 11/25/2026 01:05:00
Last Del Time    : Not Available
Overflow         : false
Supported Cmds   : 'Delete' 'Reserve' 
"""


def test_sel_info_skips_the_walk_when_nothing_changed(make_host, bmc_root, tmp_path):
    from agent.collectors.ipmi import parse_sel_info
    real = (Path(__file__).resolve().parents[2] / "fixtures/hosts/lab-healthy/commands/ipmitool/sel_info")
    if real.exists():  # the lab capture's real `sel info` (ipmi_sim)
        info = parse_sel_info(real.read_text())
        assert (info.entries, info.free_bytes, info.overflow, info.last_add) == (0, 16000, False, "Not Available")
    assert parse_sel_info("garbage\n") is None
    store = Store(tmp_path / "state.db")
    answers = {"sensor": (0, SENSOR, b"", None), "sdr elist": (0, b"", b"", None), "sel elist": (0, SEL_2, b"", None),
               "sel info": (0, SEL_INFO, b"", None)}
    r1 = ScriptedRunner(answers)
    out1 = collector(make_host, bmc_root, runner=r1, store=store).collect()
    assert ("ipmitool", "sel", "elist") in [c for c, _ in r1.calls]
    r2 = ScriptedRunner(answers)
    out2 = collector(make_host, bmc_root, runner=r2, store=store, now=NOW + 60).collect()
    assert ("ipmitool", "sel", "elist") not in [c for c, _ in r2.calls]
    i2 = next(r for r in out2 if isinstance(r, IpmiSelInfo))
    assert (i2.entries, i2.new_entries, i2.kept_entries, i2.free_bytes, i2.overflow) == (2, 0, 2, 15968, False)
    assert [e.key for e in out2 if isinstance(e, IpmiSelEntry)] == [e.key for e in out1 if isinstance(e, IpmiSelEntry)]
    answers["sel info"] = (0, SEL_INFO.replace(b"01:05:00", b"01:09:00"), b"", None)
    r3 = ScriptedRunner(answers)
    collector(make_host, bmc_root, runner=r3, store=store, now=NOW + 120).collect()
    assert ("ipmitool", "sel", "elist") in [c for c, _ in r3.calls]


def test_platform_metrics_from_ipmi(make_host, bmc_root):
    from agent.exporter.collector import collect_samples
    out = collector(make_host, bmc_root, "qemu-overtemp").collect()
    s = collect_samples(snap(*out))
    assert s["hwagent_ipmi_temperature_celsius"] == [({"sensor": "CPU1 Temp"}, 97.0)]
    th = {lab["threshold"]: v for lab, v in s["hwagent_ipmi_temperature_threshold_celsius"]}
    assert th == {"unc": 85.0, "ucr": 95.0, "unr": 100.0}
    states = {(lab["sensor"], lab["state"]): v for lab, v in s["hwagent_ipmi_sensor_state"]}
    assert states[("CPU1 Temp", "cr")] == 1 and states[("CPU1 Temp", "ok")] == 0 and states[("Fan1", "ok")] == 1
    assert s["hwagent_ipmi_fan_rpm"] == [({"sensor": "Fan1"}, 6000.0)]
    assert s["hwagent_ipmi_sel_entries"] == [({}, 2.0)]
    assert s["hwagent_ipmi_sel_kept_records"] == [({"kind": "temperature", "severity": "critical"}, 1.0),
                                                  ({"kind": "temperature", "severity": "warning"}, 1.0)]
    info = {lab["sensor"]: lab for lab, _ in s["hwagent_ipmi_sensor_info"]}
    assert info["Fan1"] == {"sensor": "Fan1", "kind": "fan", "unit": "revolutions", "entity": "7.1"}


def test_sel_walk_timeout_keeps_the_known_records(make_host, bmc_root, tmp_path):
    store = Store(tmp_path / "state.db")
    answers = {"sensor": (0, SENSOR, b"", None), "sdr elist": (0, b"", b"", None), "sel elist": (0, SEL_2, b"", None)}
    collector(make_host, bmc_root, runner=ScriptedRunner(answers), store=store).collect()
    answers["sel elist"] = (None, b"", b"", "timeout")
    out, st = run_collector(collector(make_host, bmc_root, runner=ScriptedRunner(answers), store=store, now=NOW + 60), None)
    assert st.ok and any("sel elist timed out" in m for m in st.messages)
    assert len([r for r in out if isinstance(r, IpmiSelEntry)]) == 2
    assert [f.severity for f in run_rule("board.sel_event", snap(*out, now=NOW + 60), now=NOW + 60)] == [Severity.CRITICAL]


def test_sel_full_rule():
    assert run_rule("board.sel_full", snap(IpmiSelInfo(3, 0, 0, 0, free_bytes=15000, overflow=False))) == []
    assert run_rule("board.sel_full", snap(IpmiSelInfo(3, 0, 0, 0))) == []  # unknown: nothing
    low = run_rule("board.sel_full", snap(IpmiSelInfo(1000, 0, 0, 0, free_bytes=256, overflow=False)))
    assert [(f.severity, f.fingerprint) for f in low] == [(Severity.WARNING, "low")]
    over = run_rule("board.sel_full", snap(IpmiSelInfo(1000, 0, 0, 0, free_bytes=0, overflow=True)))
    assert "overflowed" in over[0].summary
