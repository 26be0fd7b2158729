"""Fuzz the core parsers: hwmon sysfs values, meminfo, config TOML, web config, status output."""

from __future__ import annotations

import string
import tomllib

import hypothesis.strategies as st
from hypothesis import given

from agent import schema as cm
from agent.cli.output import clean, render_status
from agent.collectors.base import run_collector
from agent.collectors.hwmon import HwmonCollector
from agent.collectors.system import parse_meminfo
from agent.host import Host, HostPaths, parse_float, parse_int

raw_values = st.one_of(
    st.binary(max_size=64),
    st.integers(min_value=-(2**70), max_value=2**70).map(lambda i: str(i).encode()),
    st.sampled_from([b"", b"\n", b"-", b"0x", b"nan", b"inf", b"1e999", b"  42  ", b"\xff\xfe", b"12\x0034"]),
)
attrs = st.sampled_from(["temp1_input", "temp1_max", "temp1_crit", "temp1_alarm", "temp1_fault", "fan1_input",
                         "fan1_min", "pwm1", "in0_input", "in0_min", "in0_label", "curr1_input", "power1_average",
                         "humidity1_input", "intrusion0_alarm", "temp1_label", "name", "energy1_input"])


def test_parse_int_float_never_raise(count):
    @given(st.text(max_size=40) | st.none())
    def inner(text):
        count()
        parse_int(text)
        parse_float(text)
    inner()


def test_hwmon_chip_with_random_attribute_values(tmp_path_factory, count):
    @given(st.dictionaries(attrs, raw_values, max_size=12))
    def inner(files):
        count()
        root = tmp_path_factory.mktemp("hw")
        d = root / "sys/devices/platform/x.0/hwmon/hwmon0"
        d.mkdir(parents=True)
        (d / "device").symlink_to("../..")
        (root / "sys/class/hwmon").mkdir(parents=True)
        (root / "sys/class/hwmon/hwmon0").symlink_to("../../devices/platform/x.0/hwmon/hwmon0")
        for name, value in files.items():
            (d / name).write_bytes(value)
        readings, status = run_collector(HwmonCollector(Host(HostPaths(rootfs=str(root)))), None)
        assert status.ok, status.error
        for r in readings:
            v = getattr(r, "value", None)
            assert v is None or v == v  # never NaN
    inner()


def test_meminfo(count):
    line = st.tuples(st.text(string.ascii_letters + "_()", max_size=20), st.text(max_size=20),
                     st.sampled_from(["", " kB", " MB", "kB"]))
    @given(st.lists(line, max_size=30), st.binary(max_size=50))
    def inner(lines, junk):
        count()
        text = "\n".join(f"{k}:{v}{u}" for k, v, u in lines) + junk.decode("utf-8", "replace")
        out = parse_meminfo(text)
        assert all(isinstance(v, int) for v in out.values())
    inner()


toml_scalars = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                         st.booleans(), st.text(max_size=10), st.lists(st.integers(), max_size=3))
section_names = st.sampled_from(["host", "exporter", "state", "daemon", "collectors", "rules", "bogus"])
keys = st.sampled_from(["root", "listen", "dir", "workers", "hwmon", "thermal", "enabled", "interval_seconds",
                        "board.fan_stopped", "stopped_rpm", "devices", "x"])


def _tree(depth):
    if depth == 0:
        return toml_scalars
    return st.one_of(toml_scalars, st.dictionaries(keys, _tree(depth - 1), max_size=4))


def test_config_from_any_mapping_raises_only_config_error(count):
    @given(st.dictionaries(section_names, _tree(3), max_size=5))
    def inner(data):
        count()
        try:
            cm.from_mapping(data)
        except cm.ConfigError:
            pass
    inner()


def test_config_file_bytes(tmp_path_factory, count):
    @given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
    def inner(data):
        count()
        p = tmp_path_factory.mktemp("c") / "c.toml"
        p.write_bytes(data)
        try:
            cm.load(p)
        except cm.ConfigError:
            pass
    inner()


def test_status_rendering_escapes_control_characters(count):
    hostile = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FF), max_size=30)

    @given(hostile, hostile, hostile)
    def inner(device, summary, host):
        count()
        status = {"hostname": host, "worst_severity": "warning", "collectors": {},
                  "findings": [{"rule": "board.x", "component": "board", "device": device, "severity": "warning",
                                "summary": summary, "runbook": None, "acknowledged": False, "subject": device}]}
        out = render_status(status)
        assert "\x1b" not in out and "\r" not in out and "\x9b" not in out
        assert all(line.count("\n") == 0 for line in out.splitlines())
    inner()


def test_clean_examples():
    assert clean("WDC\x1b[31mRED\x1b[0m") == "WDC\\x1b[31mRED\\x1b[0m"
    assert clean("a\nb\rc") == "a\\x0ab\\x0dc"
    assert tomllib  # imported for hypothesis' toml text generation in long runs
