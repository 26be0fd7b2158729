"""disk-swap-mdadm against an emulated mdadm that prints mdadm 4.2's --detail layout (state
line with its trailing space, member table, faulty/removed rows, Rebuild Status), so the
runbook's predicates are tested on the real output format even where the kernel has no md.
The real run on loop devices is tests/e2e/test_recover_mdadm.py."""

from __future__ import annotations

from pathlib import Path

from agent.recovery import runbook as rbm
from agent.recovery.executor import Executor, NullUI
from agent.recovery.record import RunStore
from tests.unit.recovery.support import ScriptedRunner, host

ROOT = Path(__file__).resolve().parents[3]
HEAD = """/dev/md0:
           Version : 1.2
     Creation Time : Tue Nov 24 10:00:00 2026
        Raid Level : raid1
        Array Size : 468326208 (446.63 GiB 479.57 GB)
      Raid Devices : 2
     Total Devices : {total}
       Persistence : Superblock is persistent

     Intent Bitmap : Internal

       Update Time : Wed Nov 25 01:00:00 2026
             State : {state} 
    Active Devices : {active}
   Working Devices : {total}
    Failed Devices : {failed}
     Spare Devices : {spare}

Consistency Policy : bitmap
{rebuild}
              Name : testhost:0  (local to host testhost)
              UUID : 3e1c2a7b:5d4f6e8a:9b0c1d2e:3f4a5b6c
            Events : 4711

    Number   Major   Minor   RaidDevice State
"""


class FakeMd:
    def __init__(self):
        self.rows = {"/dev/sda2": "active sync", "/dev/sdb2": "active sync"}
        self.progress = None
        self.stuck = False
        self.log = []

    def detail(self) -> str:
        if self.progress is not None and not self.stuck:
            self.progress = min(100, self.progress + 40)
            if self.progress >= 100:
                self.progress = None
                self.rows = {k: "active sync" if v == "spare rebuilding" else v for k, v in self.rows.items()}
        degraded = sum(1 for v in self.rows.values() if v == "active sync") < 2
        state = "clean" if not degraded else ("clean, degraded, recovering" if self.progress is not None else "clean, degraded")
        text = HEAD.format(total=len(self.rows), state=state, active=sum(v == "active sync" for v in self.rows.values()),
                           failed=sum(v == "faulty" for v in self.rows.values()),
                           spare=sum(v == "spare rebuilding" for v in self.rows.values()),
                           rebuild=f"\n    Rebuild Status : {self.progress}% complete\n" if self.progress is not None else "")
        for i, (dev, st) in enumerate(self.rows.items()):
            text += f"       {i}       8       {i * 16 + 2}        {i}      {st}   {dev}\n"
        if len(self.rows) < 2:
            text += "       -       0        0        1      removed\n"
        return text

    def __call__(self, argv):
        self.log.append(argv)
        if argv[:2] == ("mdadm", "--detail"):
            return 0, self.detail()
        if argv[:2] == ("mdadm", "--manage") and argv[3] == "--fail":
            self.rows.pop(argv[4])
            return 0, ""
        if argv[:2] == ("mdadm", "--manage") and argv[3] == "--add":
            self.rows[argv[4]] = "spare rebuilding"
            self.progress = 0
            return 0, ""
        if argv[:2] == ("mdadm", "--examine"):
            return 1, ""  # mdadm: No md superblock detected on /dev/sdb. (stderr)
        if argv[0] == "smartctl":
            return 0, "SMART overall-health self-assessment test result: PASSED\n"
        if argv[0] == "lsblk":
            return (0, "sdb 447.1G\n") if "NAME,SIZE" in argv else (0, "\n\n") if "MOUNTPOINT" in argv else (0, "WD-NEW0002\n")
        if argv[0] == "sgdisk":
            return 0, ("Number  Start (sector)    End (sector)  Size       Code  Name\n   1            2048         1050623   512.0 MiB   EF00\n"
                       if "-p" in argv and ("/dev/sdb" in argv and any(a[0] == "sgdisk" and "--replicate=/dev/sdb" in a for a in self.log))
                       else "No problems found. 2048 free sectors\n" if "-v" in argv else "")
        if argv[0] == "grub-install":
            return 0, "Installation finished. No error reported.\n"
        if argv[0] == "debconf-show":
            return 0, "* grub-pc/install_devices: /dev/disk/by-id/ata-WDC_1, /dev/disk/by-id/ata-WDC_2\n"
        return 127, ""


def test_full_swap_against_emulated_mdadm(tmp_path):
    md = FakeMd()
    runner = ScriptedRunner(md)
    rb = rbm.load(ROOT / "runbooks" / "disk-swap-mdadm.toml")
    params = {"array": "/dev/md0", "failed_member": "/dev/sdb2", "failed_disk": "/dev/sdb", "healthy_disk": "/dev/sda",
              "new_disk": "/dev/sdb", "new_member": "/dev/sdb2"}
    answers = ["WD-OLD0001", "/dev/sdb2", "WD-NEW0002", "WD-WRONG", "WD-NEW0002", "WD-NEW0002"]
    slept = []
    ex = Executor(rb, host(tmp_path / "root", runner), params=params, ui=NullUI(answers), operator="op",
                  store=RunStore(tmp_path / "state"), sleep=slept.append)
    rec = ex.start()
    d = rec.data
    assert d["status"] == "completed", {k: (v["state"], v.get("detail")) for k, v in d["steps"].items()}
    st = {k: v["state"] for k, v in d["steps"].items()}
    assert st == {"DM-01": "verified", "DM-02": "verified", "DM-03": "verified", "DM-04": "verified",
                  "DM-04b": "verified", "DM-05a": "verified", "DM-05b0": "verified", "DM-05": "verified", "DM-05b": "verified", "DM-05c": "not_applicable",
                  "DM-06": "verified", "DM-07": "verified", "DM-08": "verified", "DM-08u": "not_applicable",
                  "DM-09": "verified"}
    mutating = [a for a in runner.calls if a[0] in ("mdadm", "sgdisk", "grub-install") and "--detail" not in a
                and "-p" not in a and "-v" not in a and "--examine" not in a]
    assert mutating == [("mdadm", "--manage", "/dev/md0", "--fail", "/dev/sdb2", "--remove", "/dev/sdb2"),
                        ("sgdisk", "/dev/sda", "--replicate=/dev/sdb"), ("sgdisk", "-G", "/dev/sdb"),
                        ("mdadm", "--manage", "/dev/md0", "--add", "/dev/sdb2"), ("grub-install", "/dev/sdb")]
    assert d["steps"]["DM-05"]["confirmation"]["value"] == "WD-NEW0002"  # the wrong serial was refused first
    assert slept == [30.0]  # DM-06's verify saw 40 %, DM-07 polls at 80 % and then finds it clean
    assert d["steps"]["DM-07"]["progress"]["value"] == 80.0


def test_resync_that_never_finishes_hits_the_deadline(tmp_path):
    md = FakeMd()
    md.rows = {"/dev/sda2": "active sync", "/dev/sdb2": "spare rebuilding"}
    md.progress, md.stuck = 37, True
    rb = rbm.load(ROOT / "runbooks" / "disk-swap-mdadm.toml")
    import dataclasses

    step = dataclasses.replace(rb.step("DM-07"), until={"interval_seconds": 0.01, "deadline_seconds": 0.05,
                                                       "progress_regex": rb.step("DM-07").until["progress_regex"]})
    rb = dataclasses.replace(rb, steps=(step,))
    ex = Executor(rb, host(tmp_path / "root", ScriptedRunner(md)), params={
        "array": "/dev/md0", "failed_member": "/dev/sdb2", "failed_disk": "/dev/sdb", "healthy_disk": "/dev/sda",
        "new_disk": "/dev/sdb", "new_member": "/dev/sdb2"}, ui=NullUI(), store=RunStore(tmp_path / "s"),
        sleep=lambda s: __import__("time").sleep(s))
    rec = ex.start()
    assert rec.data["status"] == "failed" and "deadline" in rec.data["steps"]["DM-07"]["detail"]
    assert "dmesg" in rec.data["steps"]["DM-07"]["on_failure"]
