"""disk-swap-mdadm for real: an mdadm RAID1 on loop devices, one member failed, removed,
replaced by a third loop device, resynced, verified. Needs root, loop devices, mdadm and md
support in the kernel; skipped (with the reason) where any is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from agent.host import Host
from agent.recovery import runbook as rbm
from agent.recovery.executor import Executor, NullUI
from agent.recovery.record import RunStore

ROOT = Path(__file__).resolve().parents[2]
ARRAY = "/dev/md/hwagent-e2e"


def _sh(*argv, check=True):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=check)


def _md_support() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if not shutil.which("mdadm") or not shutil.which("losetup"):
        return "mdadm or losetup not installed"
    if _sh("losetup", "-f", check=False).returncode != 0:
        return "no free loop device"
    if not Path("/proc/mdstat").exists() and shutil.which("modprobe"):
        _sh("modprobe", "raid1", check=False)
    if not Path("/proc/mdstat").exists():
        return ("kernel has no md (RAID) support (/proc/mdstat missing; "
                + ("modprobe raid1 failed)" if shutil.which("modprobe") else "no modprobe to load raid1: kmod not installed)"))
    return None


@pytest.fixture
def raid1(tmp_path):
    why = _md_support()
    if why:
        pytest.skip(why)
    loops = []
    try:
        for n in range(3):
            img = tmp_path / f"d{n}.img"
            with open(img, "wb") as fh:
                fh.truncate(64 * 1024 * 1024)
            loops.append(_sh("losetup", "-f", "--show", str(img)).stdout.strip())
        r = _sh("mdadm", "--create", ARRAY, "--run", "--level=1", "--raid-devices=2", "--metadata=1.2",
                "--assume-clean", loops[0], loops[1], check=False)
        if r.returncode != 0:
            pytest.skip(f"mdadm --create failed here: {r.stderr.strip()}")
        yield loops
    finally:
        _sh("mdadm", "--stop", ARRAY, check=False)
        for dev in loops:
            _sh("mdadm", "--zero-superblock", dev, check=False)
            _sh("losetup", "-d", dev, check=False)


def test_disk_swap_mdadm_on_loop_devices(tmp_path, raid1):
    healthy, failed, new = raid1
    rb = rbm.load(ROOT / "runbooks" / "disk-swap-mdadm.toml")
    params = {"array": ARRAY, "failed_member": failed, "failed_disk": failed, "healthy_disk": healthy,
              "new_disk": new, "new_member": new, "partitioned": "no", "boot": "none", "check_serial": "no"}
    answers = ["LOOP-FAILED-1",  # DM-01 serial of the failing disk
               failed,           # DM-03 typed member to fail and remove
               "LOOP-NEW-2",     # DM-04 serial of the new disk
               "LOOP-NEW-2"]     # DM-06 typed new serial before adding
    store = RunStore(tmp_path / "state")
    ex = Executor(rb, Host(), params=params, ui=NullUI(answers), operator="e2e", store=store,
                  sleep=lambda s: time.sleep(min(s, 1.0)))
    plan = {i.step.id: i.status for i in ex.plan()}
    assert plan["DM-05"] == plan["DM-08"] == "not_applicable" and plan["DM-09"] == "ok"
    rec = ex.start(skips={"DM-02": "loop devices have no SMART"}, force=True)
    d = rec.data
    assert d["status"] == "completed", {k: (v["state"], v.get("detail")) for k, v in d["steps"].items()}
    states = {k: v["state"] for k, v in d["steps"].items()}
    assert states["DM-03"] == states["DM-06"] == states["DM-07"] == states["DM-09"] == "verified"
    detail = _sh("mdadm", "--detail", ARRAY).stdout
    assert new in detail and failed not in detail
    assert "State : clean" in detail and "degraded" not in detail
    fail_ev = [e for e in d["steps"]["DM-03"]["evidence"] if e["phase"] == "apply"][0]
    assert fail_ev["argv"] == ["mdadm", "--manage", ARRAY, "--fail", failed, "--remove", failed] and fail_ev["rc"] == 0
