"""Sweep of 24 disks whose smartctl takes 1.65 s per call (the figure smartctl_exporter users
reported, prometheus-community/smartctl_exporter#197), through the real runner and a fake
smartctl executable. Prints the sweep's wall time as a ratio to one call measured in the same
run (target: <= 1.5x). Run with `pytest -m bench -s tests/bench/test_smart_bench.py`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agent.collectors.smart import SmartCollector
from agent.config import CollectorConfig
from agent.host import Host, HostPaths
from tests.support.replay import argv_name

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "tests" / "fixtures" / "smartctl" / "corpus" / "sce-WDC_WD20EFRX-68EUZN0_17.json"
DISKS = 24
CALL_SECONDS = 1.65


@pytest.mark.bench
def test_smart_sweep_24_disks(tmp_path, monkeypatch):
    rec = tmp_path / "rec"
    rec.mkdir()
    # a /bin/sh stand-in (like the real smartctl, a cheap process to start): sleep, then the
    # recording named after the argv (tests/support/fake_smartctl.py's naming)
    exe = tmp_path / "smartctl"
    exe.write_text('#!/bin/sh\n'
                   'name=$(printf "%s_" "$@" | sed -e "s,/,_,g" -e "s/_$//")\n'
                   'f="$FAKE_SMARTCTL_DIR/$name"\n'
                   '[ -f "$f.sleep" ] && sleep "$(cat "$f.sleep")"\n'
                   'exec cat "$f"\n')
    exe.chmod(0o755)
    monkeypatch.setenv("FAKE_SMARTCTL_DIR", str(rec))

    def put(args, body, sleep=None):
        p = rec / argv_name(["smartctl", *args])
        p.write_text(body)
        if sleep:
            p.with_name(p.name + ".sleep").write_text(str(sleep))

    put(["--version"], "smartctl 7.3 2022-02-28 r5338 [x86_64-linux] (local build)\n")
    devices = [f"/dev/sd{chr(ord('a') + i)}" for i in range(DISKS)]
    put(["--scan-open", "--json"], json.dumps({"json_format_version": [1, 0], "smartctl": {"exit_status": 0},
                                               "devices": [{"name": d, "type": "sat", "protocol": "ATA"}
                                                           for d in devices]}))
    base = json.loads(DOC.read_text())
    for i, d in enumerate(devices):
        doc = dict(base, serial_number=f"BENCH{i:03d}", wwn={"naa": 5, "oui": 0x14EE, "id": i + 1})
        put(["--json", "-x", "-d", "sat", "-n", "standby,253", d], json.dumps(doc), sleep=CALL_SECONDS)

    (tmp_path / "dev").mkdir()
    host = Host(paths=HostPaths(devfs=str(tmp_path / "dev")))  # never this machine's /dev/disk/by-id
    # one call, same executable, same machine load
    t0 = time.monotonic()
    res = host.run([str(exe), "--json", "-x", "-d", "sat", "-n", "standby,253", devices[0]], 30)
    one = time.monotonic() - t0
    assert res.rc == 0

    col = SmartCollector(host, CollectorConfig(options={"smartctl": str(exe)}))
    col.smartctl_version()  # cached before timing, like a running daemon
    t0 = time.monotonic()
    out = col.collect()
    sweep = time.monotonic() - t0
    assert len(out) == DISKS and all(d.fresh for d in out)
    ratio = sweep / one
    print(f"\nsmart sweep: {DISKS} disks x {CALL_SECONDS} s smartctl: one call {one:.2f} s, "
          f"sweep {sweep:.2f} s, ratio {ratio:.2f}x (target <= 1.5x; workers={col.option('workers')})")
