"""`python -m agent check --json` as a subprocess, with a fake smartctl named by `[host] smartctl`:
disk findings come out, with the exit code of the worst one; a hung disk is killed and reported.

The host tree is an empty directory (no hwmon, no kernel log), so nothing of this machine is read;
`collectors.smart.ignore_rootfs` lets smartctl run although the root is not /."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.replay import argv_name

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures" / "smartctl" / "corpus"


def test_agent_check_reports_disk_findings(tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()

    def put(args, body, rc=0, sleep=None):
        p = rec / argv_name(["smartctl", *args])
        p.write_text(body)
        if rc:
            p.with_name(p.name + ".rc").write_text(str(rc))
        if sleep:
            p.with_name(p.name + ".sleep").write_text(str(sleep))

    put(["--version"], "smartctl 7.3 2022-02-28 r5338 [x86_64-linux] (local build)\n")
    put(["--scan-open", "--json"], json.dumps({"json_format_version": [1, 0], "smartctl": {"exit_status": 0}, "devices": [
        {"name": "/dev/sda", "type": "sat", "protocol": "ATA"}, {"name": "/dev/sdb", "type": "sat", "protocol": "ATA"},
        {"name": "/dev/nvme0", "type": "nvme", "protocol": "NVMe"}]}))
    put(["--json", "-x", "-d", "sat", "-n", "standby,253", "/dev/sda"], (CORPUS / "sce-ST3500418AS_12.json").read_text())
    put(["--json", "-x", "-d", "sat", "-n", "standby,253", "/dev/sdb"], "{}", sleep=120)
    put(["--json", "-x", "-d", "nvme", "/dev/nvme0"],
        (CORPUS / "sce-nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json").read_text(), rc=8)
    exe = tmp_path / "bin" / "smartctl"
    exe.parent.mkdir()
    shutil.copy(ROOT / "tests" / "support" / "fake_smartctl.py", exe)
    exe.chmod(0o755)
    (tmp_path / "root").mkdir()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[host]\nroot = "{tmp_path / "root"}"\nsmartctl = "{exe}"\n[state]\ndir = "{tmp_path / "state"}"\n'
                   "[collectors.smart]\nignore_rootfs = true\ncommand_timeout_seconds = 6.0\n")
    env = dict(os.environ, FAKE_SMARTCTL_DIR=str(rec))
    r = subprocess.run([sys.executable, "-m", "agent", "--config", str(cfg), "check", "--json"], capture_output=True,
                       text=True, env=env, timeout=120, cwd=ROOT)
    assert r.returncode == 2, r.stderr  # critical
    status = json.loads(r.stdout)
    got = sorted((f["rule"], f["device"], f["severity"], f["component"].split(":")[0]) for f in status["findings"]
                 if f["rule"].startswith("disk."))
    assert got == [("disk.nvme_critical_warning", "nvme0", "critical", "disk"),
                   ("disk.reallocated_sectors", "sda", "warning", "disk"),
                   ("disk.unreadable", "sdb", "warning", "disk")]
    smart = status["collectors"]["smart"]
    assert smart["ok"] and any("sdb: smartctl did not answer within 6 s" in m for m in smart["messages"])
    assert "sdb: smartctl did not answer" in r.stderr  # and a log line
