"""The in-guest capture script (tests/support/capture_guest.py) and the two lab captures it made."""

from __future__ import annotations

import io
import json
import os

import pytest

from agent.collectors.hwmon import HwmonCollector
from agent.host import Host, HostPaths
from agent.model import HwmonSensor
from tests.conftest import FIXTURES
from tests.support import capture_guest as cg
from tests.support.replay import ReplayRunner, argv_name

LAB = FIXTURES / "hosts"
SCENARIOS = ("lab-healthy", "lab-nvme-critical-warning")


def _roundtrip(root, dest):
    cap = cg.Capture(str(root))
    cap.capture_tree()
    blob = cap.tar_bytes()
    import base64

    text = f"noise before\n{cg.BEGIN}\n{base64.encodebytes(blob).decode()}{cg.END}\ntrailer\n".encode()
    cg.unpack(io.BytesIO(text), str(dest))
    return dest / "tree"


def test_capture_keeps_links_values_and_skips_binary_and_write_only(fakesys, tmp_path):
    dev = "pci0000:00/0000:00:01.0/0000:01:00.0"
    fakesys.hwmon_chip(0, "nvme", f"{dev}/nvme/nvme0", {"temp1_input": 41850, "temp1_alarm": 1})
    fakesys.link(f"sys/devices/{dev}/nvme/nvme0/hwmon/hwmon0/subsystem", "../../../../../../../class/hwmon")
    fakesys.write(f"sys/devices/{dev}/nvme/nvme0/model", "QEMU NVMe Ctrl\n")
    fakesys.write(f"sys/devices/{dev}/nvme/nvme0/delete_controller", "", mode=0o200)
    fakesys.write(f"sys/devices/{dev}/vendor", "0x1b36\n")
    fakesys.write(f"sys/devices/{dev}/config", b"\x36\x1b\x10\x00" + b"\0" * 60)
    fakesys.write(f"sys/devices/{dev}/aer_dev_correctable", "RxErr 2\nTOTAL_ERR_COR 2\n")
    fakesys.link("sys/bus/pci/devices/0000:01:00.0", f"../../../devices/{dev}")
    fakesys.write("proc/meminfo", "MemTotal: 1 kB\n")
    fakesys.write("dev/kmsg", "6,1,0,-;hello\n")  # a regular file here: read until EOF
    tree = _roundtrip(fakesys.root, tmp_path / "out")

    assert os.readlink(tree / "sys/class/hwmon/hwmon0") == os.readlink(fakesys.root / "sys/class/hwmon/hwmon0")
    assert os.readlink(tree / f"sys/devices/{dev}/nvme/nvme0/hwmon/hwmon0/device") == "../.."
    assert (tree / "sys/class/hwmon/hwmon0/temp1_alarm").read_text() == "1\n"
    assert (tree / f"sys/devices/{dev}/nvme/nvme0/model").read_text() == "QEMU NVMe Ctrl\n"
    assert (tree / f"sys/devices/{dev}/aer_dev_correctable").read_text().startswith("RxErr 2")
    assert not (tree / f"sys/devices/{dev}/config").exists()  # binary
    assert not (tree / f"sys/devices/{dev}/nvme/nvme0/delete_controller").exists()  # write-only
    assert not os.path.lexists(tree / f"sys/devices/{dev}/nvme/nvme0/hwmon/hwmon0/subsystem")  # would loop
    assert (tree / "proc/meminfo").read_text() == "MemTotal: 1 kB\n"
    assert (tree / "dev/kmsg").read_text() == "6,1,0,-;hello\n"


def test_unpack_rejects_absolute_links(tmp_path):
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("tree/sys/class/hwmon/hwmon0")
        ti.type, ti.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(ti)
    import gzip

    with pytest.raises(SystemExit, match="absolute link"):
        cg.unpack(io.BytesIO(gzip.compress(buf.getvalue())), str(tmp_path / "x"))


def test_recording_names_match_replay():
    for argv in cg.FIXED_COMMANDS + tuple(cg.smart_commands(b'{"devices": [{"name": "/dev/sda", "type": "sat"}]}')):
        assert cg.argv_name(argv) == argv_name(argv)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lab_capture_hwmon_chip_resolves_inside_the_tree(scenario):
    host = Host(HostPaths(rootfs=str(LAB / scenario / "tree")))
    sensors = [r for r in HwmonCollector(host).collect() if isinstance(r, HwmonSensor)]
    assert [(s.chip, s.chip_name, s.sensor, s.label) for s in sensors] == [("nvme_nvme0", "nvme", "temp1", "Composite")]
    assert sensors[0].alarms == (() if scenario == "lab-healthy" else ("alarm",))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lab_capture_every_smartctl_recording_is_json_with_its_exit_code(scenario):
    runner = ReplayRunner(LAB / scenario / "commands")
    for f in sorted((LAB / scenario / "commands" / "smartctl").iterdir()):
        if f.suffix == ".rc" or f.name == "--version":
            continue
        doc = json.loads(f.read_text())
        argv = ["smartctl", *doc["smartctl"]["argv"][1:]]
        res = runner(argv, 10)
        assert res.rc == doc["smartctl"]["exit_status"], f.name
    warning = json.loads((LAB / scenario / "commands/smartctl/--json_-x__dev_nvme0").read_text())
    assert warning["nvme_smart_health_information_log"]["critical_warning"] == (0 if scenario == "lab-healthy" else 7)
