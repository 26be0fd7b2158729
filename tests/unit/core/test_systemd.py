"""The shipped units are clean under systemd-analyze verify; the security exposure is printed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
UNITS = sorted((ROOT / "systemd").glob("*.service")) + sorted((ROOT / "systemd").glob("*.timer"))
analyze = shutil.which("systemd-analyze")


@pytest.mark.skipif(analyze is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_verifies(unit, tmp_path):
    # point ExecStart at this checkout's agent so verify can check the binary exists
    agent = Path(sys.executable).with_name("agent")
    hwstatus = Path(sys.executable).with_name("hwstatus")  # the status service's own command
    text = unit.read_text().replace("/opt/hwagent/bin/agent", str(agent)).replace("/opt/hwagent/bin/hwstatus", str(hwstatus))
    copy = tmp_path / unit.name
    copy.write_text(text)
    if unit.suffix == ".timer":  # verify needs the unit it triggers beside it
        svc = unit.with_suffix(".service")
        (tmp_path / svc.name).write_text(svc.read_text().replace("/opt/hwagent/bin/agent", str(agent)))
    res = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    problems = [line for line in res.stderr.splitlines() if unit.name in line or "Unknown" in line]
    assert res.returncode == 0 and not problems, res.stderr
    if unit.suffix != ".service":
        return
    sec = subprocess.run([analyze, "security", "--offline=true", str(copy)], capture_output=True, text=True, timeout=60)
    overall = [line for line in sec.stdout.splitlines() if "Overall exposure" in line]
    print(f"\n{unit.name}: {overall[0].strip() if overall else sec.stderr.strip()}")
    if overall:
        level = float(overall[0].split("level for")[1].split(":")[1].split()[0])
        target = 2.5 if unit.name == "hwagent.service" else 4.5
        assert level <= target, overall[0]


def test_main_unit_contract():
    text = (ROOT / "systemd" / "hwagent.service").read_text()
    for needle in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "ProtectSystem=strict", "ProtectHome=yes",
                   "PrivateTmp=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=", "StateDirectory=hwagent"):
        assert needle in text
    assert "ProtectKernelLogs=yes" not in text  # would hide /dev/kmsg from the kernel log collector


def test_main_unit_bounds_resources_and_keeps_what_tools_need():
    text = (ROOT / "systemd" / "hwagent.service").read_text()
    keys = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    for needle in ("MemoryHigh", "MemoryMax", "TasksMax", "LimitNOFILE", "SocketBindAllow"):
        assert needle in keys, needle
    assert keys["UMask"] == "0077" and keys["PrivateMounts"] == "yes"
    assert int(keys["LimitNOFILE"]) > 1000 + 64  # the HTTP server's connection cap plus tools and the store
    assert "CAP_DAC_READ_SEARCH" not in keys["CapabilityBoundingSet"]
    assert "@raw-io" not in text  # SG_IO/IPMI/NVMe are ioctl()s, no port I/O
    # smartctl -d megaraid,N uses /dev/megaraid_sas_ioctl_node; kmsg, sd, nvme, sg, ipmi stay allowed
    allowed = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("DeviceAllow=")]
    for dev in ("char-megaraid_sas_ioctl rw", "/dev/kmsg r", "block-sd r", "char-nvme r", "char-sg r", "char-ipmidev rw"):
        assert dev in allowed, dev
