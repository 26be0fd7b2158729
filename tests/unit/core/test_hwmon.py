"""hwmon collector on synthetic trees laid out like real kernels, plus bad input."""

from __future__ import annotations

import os

import pytest

from agent.collectors.base import NoData, run_collector
from agent.collectors.hwmon import HwmonCollector
from agent.model import HwmonChip, HwmonSensor


def sensors(readings):
    return {f"{r.chip}/{r.sensor}": r for r in readings if isinstance(r, HwmonSensor)}


def test_units_limits_alarms_and_stable_chip_names(fakesys, make_host):
    fakesys.hwmon_chip(3, "nct6779", "platform/nct6775.2592", {
        "in0_input": 880, "in0_min": 600, "in0_max": 1488, "in0_alarm": 0,
        "fan2_input": 1150, "fan2_min": 300, "fan2_alarm": 1, "pwm2": 153,
        "temp1_label": "SYSTIN", "temp1_input": 33500, "temp1_max": 80000, "temp1_max_hyst": 75000,
        "curr1_input": 1500, "power1_average": 12500000, "energy1_input": 3000000,
    })
    fakesys.hwmon_chip(0, "coretemp", "platform/coretemp.0", {
        "temp1_label": "Package id 0", "temp1_input": 46000, "temp1_crit": 100000, "temp1_crit_alarm": 1,
    })
    readings = HwmonCollector(make_host(fakesys.root)).collect()
    chips = {r.chip: r.chip_name for r in readings if isinstance(r, HwmonChip)}
    assert chips == {"platform_nct6775_2592": "nct6779", "platform_coretemp_0": "coretemp"}
    s = sensors(readings)
    assert s["platform_nct6775_2592/in0"].value == pytest.approx(0.88)
    assert (s["platform_nct6775_2592/in0"].min, s["platform_nct6775_2592/in0"].max) == (0.6, 1.488)
    assert s["platform_nct6775_2592/in0"].alarm is False
    fan = s["platform_nct6775_2592/fan2"]
    assert (fan.value, fan.min, fan.pwm, fan.alarm, fan.alarms) == (1150, 300, 153, True, ("alarm",))
    assert s["platform_nct6775_2592/temp1"].label == "SYSTIN"
    assert s["platform_nct6775_2592/temp1"].value == pytest.approx(33.5)
    assert s["platform_nct6775_2592/curr1"].value == pytest.approx(1.5)
    assert s["platform_nct6775_2592/power1"].value == pytest.approx(12.5)
    assert s["platform_nct6775_2592/energy1"].value == pytest.approx(3.0)
    core = s["platform_coretemp_0/temp1"]
    assert core.crit == 100.0 and core.alarms == ("crit_alarm",) and core.max is None  # absent, not 0


def test_chip_name_survives_hwmon_renumbering(fakesys, make_host, tmp_path):
    fakesys.hwmon_chip(5, "nvme", "pci0000:00/0000:00:04.0/nvme/nvme0", {"temp1_input": 40850})
    ids = [r.chip for r in HwmonCollector(make_host(fakesys.root)).collect() if isinstance(r, HwmonChip)]
    assert ids == ["nvme_nvme0"]


def test_garbage_values_skip_only_that_sensor(fakesys, make_host):
    fakesys.hwmon_chip(1, "it8728", "platform/it87.2608", {
        "temp1_input": "not-a-number", "temp2_input": "", "temp3_input": 3892314000,  # seen in the wild
        "temp4_input": 41000, "temp4_max": "garbage", "fan1_input": 900,
    })
    col = HwmonCollector(make_host(fakesys.root))
    readings, status = run_collector(col, None)
    s = sensors(readings)
    assert set(s) == {"platform_it87_2608/temp4", "platform_it87_2608/fan1"}
    assert s["platform_it87_2608/temp4"].max is None
    assert status.ok and status.skipped_entries == 3
    assert any("temp1_input: not a number" in m for m in status.messages)
    assert any("implausible" in m for m in status.messages)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of mode bits")
def test_unreadable_file_names_the_path(fakesys, make_host):
    chip = fakesys.hwmon_chip(1, "nct6779", "platform/nct6775.656", {"temp1_input": 30000, "temp2_input": 31000})
    os.chmod(chip / "temp1_input", 0)
    readings, status = run_collector(HwmonCollector(make_host(fakesys.root)), None)
    assert set(sensors(readings)) == {"platform_nct6775_656/temp2"}
    assert "permission denied" in status.messages[0]


def test_read_error_from_driver_is_per_sensor(fakesys, make_host, monkeypatch):
    """A driver returning EIO/ENODATA on read (absent sensor) skips that sensor only."""
    chip = fakesys.hwmon_chip(1, "nct6779", "platform/nct6775.656", {"temp1_input": 30000, "temp2_input": 31000})
    host = make_host(fakesys.root)
    real = host.read_bytes
    from agent.host import ReadError

    def flaky(p, limit=4096):
        if p.name == "temp1_input":
            raise ReadError(p, "read failed (ENODATA)")
        return real(p, limit)

    monkeypatch.setattr(host, "read_bytes", flaky)
    readings, status = run_collector(HwmonCollector(host), None)
    assert set(sensors(readings)) == {"platform_nct6775_656/temp2"}
    assert "ENODATA" in status.messages[0] and str(chip.name) in status.messages[0]


def test_vanished_chip_between_listing_and_reading(fakesys, make_host):
    fakesys.hwmon_chip(1, "nct6779", "platform/nct6775.656", {"temp1_input": 30000})
    fakesys.link("sys/class/hwmon/hwmon9", "../../devices/platform/gone/hwmon/hwmon9")  # dangling
    readings, status = run_collector(HwmonCollector(make_host(fakesys.root)), None)
    assert status.ok
    assert set(sensors(readings)) == {"platform_nct6775_656/temp1"}
    assert any("hwmon9" in m for m in status.messages)


def test_no_hwmon_is_no_data(fakesys, make_host):
    fakesys.proc_basics()
    with pytest.raises(NoData):
        HwmonCollector(make_host(fakesys.root)).collect()
    _, status = run_collector(HwmonCollector(make_host(fakesys.root)), None)
    assert status.ok and status.no_data


def test_duplicate_chips_get_distinct_ids(fakesys, make_host):
    # two chips on the same parent device (a driver registering two hwmon devices)
    fakesys.hwmon_chip(1, "coretemp", "platform/coretemp.0", {"temp1_input": 30000})
    fakesys.write("sys/devices/platform/coretemp.0/hwmon/hwmon2/name", "coretemp\n")
    fakesys.write("sys/devices/platform/coretemp.0/hwmon/hwmon2/temp1_input", "31000\n")
    fakesys.link("sys/devices/platform/coretemp.0/hwmon/hwmon2/device", "../..")
    fakesys.link("sys/class/hwmon/hwmon2", "../../devices/platform/coretemp.0/hwmon/hwmon2")
    ids = sorted(r.chip for r in HwmonCollector(make_host(fakesys.root)).collect() if isinstance(r, HwmonChip))
    assert ids == ["platform_coretemp_0", "platform_coretemp_0_1"]


def _chips_on_shared_devices(fs, order):
    """Chips that share a parent device, numbered hwmonN in the given order (driver load order)."""
    chips = [
        ("k10temp", "pci0000:00/0000:00:18.3", {"temp1_label": "Tctl", "temp1_input": 45250}),
        ("fam15h_power", "pci0000:00/0000:00:18.3", {"power1_input": 61000000, "power1_crit": 125000000}),
        ("nct6779", "platform/nct6775.656", {"temp1_label": "SYSTIN", "temp1_input": 33000}),
        ("nct6779", "platform/nct6775.656", {"temp1_label": "CPUTIN", "temp1_input": 41000}),
        ("coretemp", "platform/coretemp.0", {"temp1_label": "Package id 0", "temp1_input": 47000}),
    ]
    for index, (name, device, sensors) in zip(order, chips, strict=True):
        fs.hwmon_chip(index, name, device, sensors)


def test_chips_sharing_a_device_keep_their_ids_when_hwmon_numbering_changes(tmp_path, make_host):
    """Regression: duplicates were told apart by listing order (`_1`), so after a change of driver
    load order an ack or a per-device override moved to another sensor. Now the `name` file and
    the sensor layout decide; hwmonN never does."""
    from tests.support.fakesys import FakeSys

    seen = []
    for case, order in (("a", [0, 1, 2, 3, 4]), ("b", [4, 3, 1, 2, 0]), ("c", [12, 3, 7, 10, 2])):
        fs = FakeSys(tmp_path / case)
        _chips_on_shared_devices(fs, order)
        readings = HwmonCollector(make_host(fs.root)).collect()
        seen.append({k: (v.chip_name, v.label, v.value) for k, v in sensors(readings).items()})
    assert seen[0] == seen[1] == seen[2]
    assert seen[0] == {
        "pci0000_00_0000_00_18_3_k10temp/temp1": ("k10temp", "Tctl", 45.25),
        "pci0000_00_0000_00_18_3_fam15h_power/power1": ("fam15h_power", None, 61.0),
        "platform_nct6775_656/temp1": ("nct6779", "CPUTIN", 41.0),  # layout order: label CPUTIN < SYSTIN
        "platform_nct6775_656_1/temp1": ("nct6779", "SYSTIN", 33.0),
        "platform_coretemp_0/temp1": ("coretemp", "Package id 0", 47.0),
    }


def test_old_driver_attributes_in_device_dir(fakesys, make_host):
    fakesys.write("sys/devices/platform/w83627ehf.656/name", "w83627ehf\n")
    fakesys.write("sys/devices/platform/w83627ehf.656/temp1_input", "35000\n")
    fakesys.write("sys/devices/platform/w83627ehf.656/hwmon/hwmon0/uevent", "\n")
    fakesys.link("sys/devices/platform/w83627ehf.656/hwmon/hwmon0/device", "../..")
    fakesys.link("sys/class/hwmon/hwmon0", "../../devices/platform/w83627ehf.656/hwmon/hwmon0")
    s = sensors(HwmonCollector(make_host(fakesys.root)).collect())
    assert s["platform_w83627ehf_656/temp1"].value == 35.0
    assert s["platform_w83627ehf_656/temp1"].chip_name == "w83627ehf"


def test_absolute_links_are_rerooted_in_captures(fakesys, make_host):
    fakesys.write("sys/devices/platform/coretemp.0/hwmon/hwmon0/name", "coretemp\n")
    fakesys.write("sys/devices/platform/coretemp.0/hwmon/hwmon0/temp1_input", "30000\n")
    fakesys.link("sys/devices/platform/coretemp.0/hwmon/hwmon0/device", "/sys/devices/platform/coretemp.0")
    fakesys.link("sys/class/hwmon/hwmon0", "/sys/devices/platform/coretemp.0/hwmon/hwmon0")
    ids = [r.chip for r in HwmonCollector(make_host(fakesys.root)).collect() if isinstance(r, HwmonChip)]
    assert ids == ["platform_coretemp_0"]


def test_include_exclude_chips(fakesys, make_host):
    from agent.schema import from_mapping

    fakesys.hwmon_chip(0, "coretemp", "platform/coretemp.0", {"temp1_input": 30000})
    fakesys.hwmon_chip(1, "nct6779", "platform/nct6775.656", {"temp1_input": 30000})
    cfg = from_mapping({"collectors": {"hwmon": {"exclude_chips": "^nct"}}})
    got = [r.chip for r in HwmonCollector(make_host(fakesys.root), cfg.collector("hwmon")).collect()
           if isinstance(r, HwmonChip)]
    assert got == ["platform_coretemp_0"]


def test_permission_denied_maps_to_a_named_read_error(fakesys, make_host, monkeypatch):
    """EACCES from open() (works as root too: os.open is made to refuse that one file)."""
    chip = fakesys.hwmon_chip(1, "nct6779", "platform/nct6775.656", {"temp1_input": 30000, "temp2_input": 31000})
    real_open = os.open

    def refusing_open(path, flags, *a, **kw):
        if str(path).endswith("temp1_input"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(os, "open", refusing_open)
    readings, status = run_collector(HwmonCollector(make_host(fakesys.root)), None)
    assert set(sensors(readings)) == {"platform_nct6775_656/temp2"}
    assert status.messages[0].startswith("/sys/devices/platform/nct6775.656/hwmon/hwmon1/temp1_input: permission denied")
    assert chip.exists()
