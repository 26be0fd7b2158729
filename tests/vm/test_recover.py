"""`agent recover disk-swap-mdadm --execute` for real inside the guest: an mdadm RAID1 over GPT
partitions on two NVMe disks, with a file system and data on it, loses the member in the swap
bay; the agent reports the degraded array; the operator runs the shipped runbook, answering its
prompts as they appear; in the middle the disk is hot-swapped (qemu unplugs the NVMe, plugs in a
blank one with another serial). The run must end with a clean resync that a full md `check`
confirms (mismatch_cnt 0), the data unchanged, and the agent's RAID findings gone.
"""

from __future__ import annotations

import json
import re
import shlex
import time

import pytest

from tests.vm.machine import BAY_NEW_SERIAL, BAY_SERIAL
from tests.vm.scenarios import wait_for

pytestmark = pytest.mark.vm

FIFO, LOG = "/tmp/recover.answers", "/tmp/recover.log"


def _nvme_by_serial(m) -> dict[str, str]:
    """{serial: block device name} from sysfs (the guest has no udev)."""
    out = m.sh("for b in /sys/block/nvme*n1; do echo \"${b##*/} $(cat $b/device/serial 2>/dev/null)\"; done", check=False)
    found = {}
    for line in out.splitlines():
        parts = line.split()
        # nvme0c0n1 and the like are the hidden per-path devices of native NVMe multipath
        if len(parts) == 2 and re.fullmatch(r"nvme\d+n\d+", parts[0]):
            found[parts[1]] = parts[0]
    return found


class Operator:
    """Types answers into a running `agent recover` in the guest (stdin is a FIFO kept open),
    each only once its prompt is on the screen, like a person at the console."""

    def __init__(self, m):
        self.m = m
        self.seen = 0

    def screen(self) -> str:
        return self.m.sh(f"cat {LOG}", check=False)

    def wait_prompt(self, text: str, timeout: float = 180) -> str:
        def ready():
            s = self.screen()
            i = s.find(text, self.seen)
            if i >= 0:
                self.seen = i + len(text)
                return s
            if re.search(r"^EXIT \d+", s, re.M):
                raise AssertionError(f"`agent recover` ended before the prompt {text!r}:\n{s[-4000:]}")
            return None
        s = wait_for(ready, timeout, interval=0.5)
        assert s, f"prompt {text!r} not shown within {timeout:.0f}s:\n{self.screen()[-4000:]}"
        return s

    def answer(self, prompt: str, value: str) -> None:
        self.wait_prompt(prompt)
        self.m.sh(f"echo {shlex.quote(value)} > {FIFO}")


def test_disk_swap_mdadm_in_guest(vm_env, machine, latency):
    image, _qemu = vm_env
    assert "recover" in image.commands, "`agent recover` missing from the installed agent"
    m = machine(swap_bay=True)
    disks = _nvme_by_serial(m)
    assert {BAY_SERIAL, "VMNVME0001"} <= set(disks), f"NVMe disks by serial: {disks}"
    healthy, bay = f"/dev/{disks['VMNVME0001']}", f"/dev/{disks[BAY_SERIAL]}"
    hp, bp = f"{healthy}p1", f"{bay}p1"

    # the healthy array: one GPT partition of type Linux RAID on each disk, RAID1, ext4 with data
    for dev in (healthy, bay):
        m.sh(f"sgdisk -n1:2048:+40M -t1:FD00 {dev}", timeout=60)
    m.sh(f"mdadm --create /dev/md0 --run --level=1 --raid-devices=2 --metadata=1.2 {hp} {bp} "
         "&& mkdir -p /etc/mdadm && mdadm --detail --scan >> /etc/mdadm/mdadm.conf", timeout=120)  # as an admin does
    m.sh("mdadm --wait /dev/md0; mkfs.ext4 -q /dev/md0 && mkdir -p /srv && mount /dev/md0 /srv", timeout=180)
    m.sh("dd if=/dev/urandom of=/srv/customer.data bs=1M count=16 status=none && sync", timeout=120)
    digest = m.sh("sha256sum /srv/customer.data").split()[0]

    # the disk in the swap bay fails; the agent sees the degraded array and names the runbook
    m.sh(f"mdadm /dev/md0 --fail {bp}", timeout=60)

    def degraded():
        st = m.status() or {"findings": []}
        return [f for f in st["findings"] if f["rule"] == "raid.degraded"]
    found = wait_for(degraded, 60)
    assert found, f"no raid.degraded finding: {m.status()}"
    assert found[0].get("runbook") == "disk-swap-mdadm", found[0]

    # the operator runs the runbook; stdin is a FIFO so each answer is typed when asked
    params = {"array": "/dev/md0", "failed_member": bp, "failed_disk": bay, "healthy_disk": healthy,
              "new_disk": bay, "new_member": bp, "partitioned": "yes", "label": "gpt", "boot": "none",
              "check_serial": "yes"}
    argv = ["agent", "recover", "disk-swap-mdadm", "--execute", *[a for k, v in params.items() for a in ("--param", f"{k}={v}")]]
    m.sh(f"rm -f {FIFO} {LOG}; mkfifo {FIFO}; (sleep 100000 > {FIFO} &)")
    m.sh(f"(SUDO_USER=vmtest setsid sh -c {shlex.quote(shlex.join(argv) + f' < {FIFO} > {LOG} 2>&1; echo EXIT $? >> {LOG}')} &)")
    op = Operator(m)
    t0 = time.monotonic()
    op.answer(f"Serial number of the disk to replace ({bay})", BAY_SERIAL)  # DM-01
    op.answer(f"Type the member to fail and remove ({bp})", bp)  # DM-03
    op.wait_prompt(f"Serial number of the NEW disk ({bay})")  # DM-04: the data centre swaps the disk now
    t_swap = time.monotonic()
    m.swap_bay_disk()

    def new_disk_in():
        d = _nvme_by_serial(m)
        return d.get(BAY_NEW_SERIAL)
    name = wait_for(new_disk_in, 90, interval=1)
    assert name, f"the new NVMe (serial {BAY_NEW_SERIAL}) did not appear: {_nvme_by_serial(m)}"
    assert f"/dev/{name}" == bay, f"the new disk came up as /dev/{name}, not {bay}"
    swap_s = time.monotonic() - t_swap
    m.sh(f"echo {BAY_NEW_SERIAL} > {FIFO}")
    op.answer(f"This overwrites the partition table of {bay}. Type the NEW disk's serial", BAY_NEW_SERIAL)  # DM-05
    op.answer(f"Adding overwrites {bp}. Type the NEW disk's serial", BAY_NEW_SERIAL)  # DM-06

    def ended():
        s = op.screen()
        mt = re.search(r"^EXIT (\d+)", s, re.M)
        return (int(mt.group(1)), s) if mt else None
    res = wait_for(ended, 600, interval=1)
    assert res, f"`agent recover` did not finish within 600 s:\n{op.screen()[-4000:]}"
    rc, screen = res
    run_s = time.monotonic() - t0
    assert rc == 0, f"`agent recover disk-swap-mdadm --execute` exited {rc}:\n{screen[-6000:]}"
    run_id = re.search(r"run (\S+) completed", screen).group(1)

    # the record: every destructive step verified, with the operator's typed confirmations
    rec = json.loads(m.sh(f"cat /var/lib/hwagent/runs/{run_id}.json"))
    states = {k: v["state"] for k, v in rec["steps"].items()}
    for sid in ("DM-01", "DM-02", "DM-03", "DM-04", "DM-04b", "DM-05a", "DM-05b0", "DM-05", "DM-05b", "DM-06", "DM-07", "DM-09"):
        assert states[sid] == "verified", f"{sid}: {rec['steps'][sid]}"
    assert states["DM-05c"] == states["DM-08"] == states["DM-08u"] == "not_applicable", states
    assert rec["steps"]["DM-05"]["confirmation"]["value"] == BAY_NEW_SERIAL
    assert rec["steps"]["DM-05"]["confirmation"]["operator"] == "vmtest"
    applied = [e["argv"] for e in rec["steps"]["DM-06"]["evidence"] if e.get("phase") == "apply"]
    assert applied == [["mdadm", "--manage", "/dev/md0", "--add", bp]]

    # a clean resync: the array is complete, a full check finds no mismatch, the data is unchanged
    detail = m.sh("mdadm --detail /dev/md0")
    assert re.search(r"^\s*State : (clean|active)\s*$", detail, re.M) and "degraded" not in detail, detail
    assert re.search(rf"active sync\s+{re.escape(bp)}$", detail, re.M), detail
    m.sh("echo check > /sys/block/md0/md/sync_action")
    m.sh("sleep 1; mdadm --wait /dev/md0; true", timeout=300)
    assert m.sh("cat /sys/block/md0/md/mismatch_cnt").strip() == "0"
    assert m.sh("sha256sum /srv/customer.data").split()[0] == digest
    assert m.sh(f"lsblk -dno SERIAL {bay}").strip() == BAY_NEW_SERIAL

    # the agent sees a healthy array again: its RAID findings clear
    def raid_clear():
        st = m.status()
        return st is not None and not [f for f in st["findings"] if f["rule"].startswith("raid.")]
    assert wait_for(raid_clear, 60), f"RAID findings still active after the swap: {m.status()}"

    report = m.sh(f"agent recover report {run_id} 2>&1", timeout=120)
    assert BAY_NEW_SERIAL in report and "DM-07" in report, report[-3000:]
    latency("disk-swap-mdadm", rule="runbook run (raid.degraded cleared)", boot_s=m.boot_seconds,
            runbook_run_s=run_s, hot_swap_s=swap_s)
    print(f"disk-swap-mdadm in the guest: run {run_s:.1f} s (hot swap {swap_s:.1f} s), "
          f"steps {json.dumps(states)}")

