"""Every regex/filter option is checked when the config is loaded (``agent config check`` refuses
``include_chips = "("`` naming the key and the regex error), and one DeviceFilter (include XOR
exclude) decides for hwmon chips and sensors, SMART devices, md arrays and BMC sensors."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import cli
from agent.collectors import COLLECTORS
from agent.collectors.hwmon import HwmonCollector
from agent.collectors.ipmi import IpmiCollector
from agent.collectors.mdraid import MdraidCollector
from agent.config import CollectorConfig
from agent.config_types import ConfigError, DeviceFilter, Regex
from agent.model import HwmonChip, HwmonSensor
from agent.model.platform import IpmiSensor
from agent.schema import from_mapping
from tests.unit.platform.common import NOW, LabReplay

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "platform"


def _regex_options():
    out = []
    for cls in COLLECTORS:
        for key, (tp, _default, _doc) in cls.options.items():
            if tp is Regex:
                out.append((cls.name, key, "("))
            elif typing.get_args(tp) == (Regex,):
                out.append((cls.name, key, ["ok", "("]))
    return out


REGEX_OPTIONS = _regex_options()


def test_the_regex_options_are_the_ones_expected():
    """The table the next test walks: a new filter option joins it by its type (Regex)."""
    assert {(c, k) for c, k, _ in REGEX_OPTIONS} >= {
        ("hwmon", "include_chips"), ("hwmon", "exclude_chips"), ("hwmon", "include_sensors"),
        ("hwmon", "exclude_sensors"), ("smart", "include"), ("smart", "exclude"), ("smart", "standby_ignore"),
        ("mdraid", "include"), ("mdraid", "exclude"), ("ipmi", "include_sensors"), ("ipmi", "exclude_sensors")}
    for cls in COLLECTORS:  # each filter's two keys are declared options of type Regex
        for inc, exc in cls.filters.values():
            assert cls.options[inc][0] is Regex and cls.options[exc][0] is Regex, cls.name


@pytest.mark.parametrize("collector,key,value", REGEX_OPTIONS, ids=[f"{c}.{k}" for c, k, _ in REGEX_OPTIONS])
def test_config_check_refuses_a_bad_regex_naming_key_and_error(tmp_path, collector, key, value):
    toml = f'[collectors.{collector}]\n{key} = {value!r}\n'.replace("'", '"')
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    r = CliRunner().invoke(cli, ["config", "check", str(path)])
    assert r.exit_code == 2, r.output
    where = f"collectors.{collector}.{key}" + ("[1]" if isinstance(value, list) else "")
    assert f"{path}: {where}: invalid regular expression '(': missing ), unterminated subpattern at position 0" \
        in r.output


def test_include_chips_paren_is_refused_at_load_not_at_collection():
    with pytest.raises(ConfigError) as exc:
        from_mapping({"collectors": {"hwmon": {"include_chips": "("}}})
    assert exc.value.key == "collectors.hwmon.include_chips"
    with pytest.raises(ConfigError, match="expected a string"):
        from_mapping({"collectors": {"hwmon": {"include_chips": 3}}})


@pytest.mark.parametrize("collector,inc,exc", [(c.name, i, e) for c in COLLECTORS for i, e in c.filters.values()])
def test_include_and_exclude_together_are_refused(collector, inc, exc):
    with pytest.raises(ConfigError) as err:
        from_mapping({"collectors": {collector: {inc: "a", exc: "b"}}})
    assert err.value.key == f"collectors.{collector}.{exc}"
    assert f"{inc} and {exc} are mutually exclusive" in str(err.value)
    from_mapping({"collectors": {collector: {inc: "a", exc: ""}}})  # an empty one is unset


def test_device_filter():
    f = DeviceFilter.from_options({"i": "^/dev/sd", "e": ""}, "i", "e")
    assert f.allows("/dev/sda") and f.allows("sda", "/dev/sda -d sat") and not f.allows("/dev/nvme0")
    assert not f.allows(None, "")  # nothing to match: an include lets nothing through
    f = DeviceFilter.from_options({"i": "", "e": "loop"}, "i", "e")
    assert not f.allows("/dev/sda", "/dev/loop0") and f.allows("/dev/sda") and f.allows(None)
    assert DeviceFilter().allows("anything") and DeviceFilter().allows()
    with pytest.raises(ConfigError, match=r"^collectors\.x\.i: invalid regular expression '\['"):
        DeviceFilter.from_options({"i": "[", "e": ""}, "i", "e", "collectors.x")


def test_a_collector_built_with_a_bad_filter_names_the_key(make_host, tmp_path):
    """Built without the loader (tests, tools): the same error, from the constructor."""
    with pytest.raises(ConfigError, match=r"collectors\.hwmon\.exclude_sensors: invalid regular expression"):
        HwmonCollector(make_host(tmp_path), CollectorConfig(options={"exclude_sensors": "a(b"}))


# ---- the filters in the collectors -----------------------------------------------------------

def _hwmon(fakesys, make_host, **options):
    if not (fakesys.root / "sys/class/hwmon").exists():
        _hwmon_tree(fakesys)
    col = HwmonCollector(make_host(fakesys.root), CollectorConfig(options=options))
    from agent.collectors.base import run_collector

    readings, status = run_collector(col, None)
    return ({r.chip for r in readings if isinstance(r, HwmonChip)},
            sorted(f"{r.chip};{r.sensor}" for r in readings if isinstance(r, HwmonSensor)), status)


def _hwmon_tree(fakesys):
    fakesys.hwmon_chip(0, "coretemp", "platform/coretemp.0", {
        "temp1_label": "Package id 0", "temp1_input": 46000, "temp2_label": "Core 0", "temp2_input": 44000})
    fakesys.hwmon_chip(1, "nct6779", "platform/nct6775.656", {
        "in0_input": 880, "in6_input": 3892314000, "temp1_label": "SYSTIN", "temp1_input": 33500})


def test_hwmon_sensor_filter_by_chip_sensor_driver_name_and_label(fakesys, make_host):
    chips, sensors, status = _hwmon(fakesys, make_host)
    assert sensors == ["platform_coretemp_0;temp1", "platform_coretemp_0;temp2", "platform_nct6775_656;in0",
                       "platform_nct6775_656;temp1"]
    assert status.skipped_entries == 1 and "implausible" in status.messages[0]  # the floating in6
    # exclude the floating input by CHIP;SENSOR: no reading, and no problem reported for it either
    _, sensors, status = _hwmon(fakesys, make_host, exclude_sensors=r"^platform_nct6775_656;in6$")
    assert "platform_nct6775_656;in6" not in sensors and len(sensors) == 4 and status.skipped_entries == 0


def test_hwmon_sensor_include_by_driver_name_and_label(fakesys, make_host):
    _, sensors, _ = _hwmon(fakesys, make_host, include_sensors=r"^coretemp;temp1$|^SYSTIN$")
    assert sensors == ["platform_coretemp_0;temp1", "platform_nct6775_656;temp1"]


def test_hwmon_chip_include(fakesys, make_host):
    chips, sensors, _ = _hwmon(fakesys, make_host, include_chips="^coretemp$")  # the driver name
    assert chips == {"platform_coretemp_0"} and all(s.startswith("platform_coretemp_0;") for s in sensors)


def test_mdraid_filter(fakesys, make_host):
    fakesys.write("proc/mdstat", (FIXTURES / "mdstat" / "raid1-degraded").read_text())
    def names(**options):
        col = MdraidCollector(make_host(fakesys.root), CollectorConfig(options=options))
        return [a.device for a in col.collect()]
    assert names() == ["md0", "md1", "md2"]
    assert names(exclude="^md1$") == ["md0", "md2"]
    assert names(include="^/dev/md2$") == ["md2"]


def test_ipmi_sensor_filter(fakesys, make_host):
    fakesys.proc_basics()
    fakesys.write("dev/ipmi0", "")

    def names(**options):
        host = make_host(fakesys.root, runner=LabReplay(FIXTURES / "ipmi" / "qemu-overtemp" / "commands"), now=NOW)
        out = IpmiCollector(host, CollectorConfig(options={"sel": False, **options})).collect()
        return sorted(s.name for s in out if isinstance(s, IpmiSensor))
    assert names() == ["CPU1 Temp", "Fan1"]
    assert names(exclude_sensors="^fan$") == ["CPU1 Temp"]  # by kind
    assert names(include_sensors="CPU1") == ["CPU1 Temp"]
