"""Scrape latency and memory, beside node_exporter measured in the same run.

A snapshot with 200 hwmon sensors and 24 disks' worth of SMART series (real collectors over a
synthetic sysfs tree and a fake smartctl replaying a corpus capture) is served by the real HTTP
server; 1000 scrapes (a new connection each, as Prometheus does after an idle period) give
p50/p99. node_exporter (Debian prometheus-node-exporter) is scraped the same way over the same
tree. Then `agent run` runs for HWAGENT_BENCH_SOAK_SECONDS (default 300) with fast intervals,
scraped every second, and its RSS is printed beside node_exporter's after the same time.
Targets: p99 <= node_exporter's, RSS <= 35 MB. Run: bash tests/run.sh -m bench -s -k scrape
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.fakesys import FakeSys
from tests.support.replay import argv_name

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures" / "smartctl" / "corpus"
DISKS = 24
SCRAPES = int(os.environ.get("HWAGENT_BENCH_SCRAPES", "1000"))
SOAK = float(os.environ.get("HWAGENT_BENCH_SOAK_SECONDS", "300"))
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_host(tmp: Path) -> tuple[Path, Path]:
    """200 sensors on 10 chips, 24 SATA disks behind a fake smartctl; returns (tree, smartctl)."""
    fs = FakeSys(tmp / "tree")
    fs.proc_basics()
    for chip in range(10):
        sensors = {}
        for i in range(1, 8):
            sensors.update({f"temp{i}_input": 30000 + i * 1000, f"temp{i}_max": 80000, f"temp{i}_crit": 100000,
                            f"temp{i}_label": f"Temp {i}", f"temp{i}_alarm": 0})
        for i in range(0, 7):
            sensors.update({f"in{i}_input": 1000 + i * 10, f"in{i}_min": 500, f"in{i}_max": 4000, f"in{i}_alarm": 0})
        for i in range(1, 7):
            sensors.update({f"fan{i}_input": 1000 + i * 100, f"fan{i}_min": 300, f"fan{i}_alarm": 0, f"pwm{i}": 120})
        fs.hwmon_chip(chip, "nct6779", f"platform/nct6775.{656 + chip}", sensors)
    rec = tmp / "rec"
    rec.mkdir()
    exe = tmp / "smartctl"
    exe.write_text('#!/bin/sh\nname=$(printf "%s_" "$@" | sed -e "s,/,_,g" -e "s/_$//")\nexec cat "$FAKE_SMARTCTL_DIR/$name"\n')
    exe.chmod(0o755)

    def put(args, body):
        (rec / argv_name(["smartctl", *args])).write_text(body)

    put(["--version"], "smartctl 7.3 2022-02-28 r5338 [x86_64-linux] (local build)\n")
    devices = [f"/dev/sd{chr(ord('a') + i)}" for i in range(DISKS)]
    put(["--scan-open", "--json"], json.dumps({"json_format_version": [1, 0], "smartctl": {"exit_status": 0},
                                               "devices": [{"name": d, "type": "sat", "protocol": "ATA"} for d in devices]}))
    base = json.loads((CORPUS / "sce-WDC_WD20EFRX-68EUZN0_17.json").read_text())
    for i, d in enumerate(devices):
        doc = dict(base, serial_number=f"BENCH{i:03d}", wwn={"naa": 5, "oui": 0x14EE, "id": i + 1})
        put(["--json", "-x", "-d", "sat", "-n", "standby,253", d], json.dumps(doc))
    (tmp / "tree" / "dev").mkdir(exist_ok=True)
    return tmp / "tree", exe


def scrape_times(port: int, n: int) -> tuple[list[float], int]:
    times, size = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", "/metrics")
        r = c.getresponse()
        body = r.read()
        c.close()
        times.append(time.perf_counter() - t0)
        assert r.status == 200
        size = len(body)
    return times, size


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode() if proc.stderr else "exited") from None
            time.sleep(0.1)
    raise AssertionError("did not listen")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@pytest.mark.bench
def test_scrape_latency_and_rss(tmp_path, monkeypatch):
    from agent import schema as cm
    from agent.daemon import Daemon, host_from_config
    from agent.exporter.collector import build_families
    from agent.exporter.http import MetricsRenderer, MetricsServer

    tree, exe = build_host(tmp_path)
    monkeypatch.setenv("FAKE_SMARTCTL_DIR", str(tmp_path / "rec"))
    cfg = cm.from_mapping({"host": {"root": str(tree)}, "state": {"dir": str(tmp_path / "st")},
                           "collectors": {"smart": {"smartctl": str(exe)}}})
    daemon = Daemon(cfg, host_from_config(cfg), None)
    snap = daemon.run_once()
    from agent.model import HwmonSensor

    n_sensors = sum(1 for _ in snap.of_type(HwmonSensor))
    renderer = MetricsRenderer(lambda: daemon.snapshot)
    series = renderer.render().count(b"\nhwagent_")
    # uncached render cost (what a scrape would cost if every scrape re-rendered)
    t_render = []
    from prometheus_client import CollectorRegistry, generate_latest
    from agent.exporter.collector import SnapshotCollector

    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(lambda: snap))
    for _ in range(100):
        t0 = time.perf_counter()
        generate_latest(reg)
        t_render.append(time.perf_counter() - t0)
    assert build_families(snap)

    port = free_port()
    server = MetricsServer(f"127.0.0.1:{port}", renderer, lambda: {}, lambda: True)
    server.start()
    try:
        ours, size = scrape_times(port, SCRAPES)
    finally:
        server.stop()
    lines = [f"\nsnapshot: {n_sensors} hwmon sensors, {DISKS} disks, {series} series, {size} bytes",
             f"uncached render (build families + text): p50 {statistics.median(t_render) * 1000:.2f} ms, "
             f"p99 {pct(t_render, 99) * 1000:.2f} ms",
             f"hwagent  scrape over HTTP ({SCRAPES}x): p50 {statistics.median(ours) * 1000:.2f} ms, "
             f"p99 {pct(ours, 99) * 1000:.2f} ms"]
    ne_proc = None
    if NODE_EXPORTER:
        ne_port = free_port()
        ne_proc = subprocess.Popen([NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{ne_port}",
                                    f"--path.sysfs={tree / 'sys'}", f"--path.procfs={tree / 'proc'}",
                                    f"--path.rootfs={tree}", "--log.level=error"],
                                   # not a pipe: it logs each failing collector (the tree has no
                                   # netstat, mounts...) per scrape and would block on a full pipe
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(ne_port, ne_proc)
        theirs, ne_size = scrape_times(ne_port, SCRAPES)
        lines.append(f"node_exporter scrape over HTTP ({SCRAPES}x, same tree, {ne_size} bytes): "
                     f"p50 {statistics.median(theirs) * 1000:.2f} ms, p99 {pct(theirs, 99) * 1000:.2f} ms")
        lines.append(f"ratio p99 hwagent / node_exporter: {pct(ours, 99) / pct(theirs, 99):.2f} (target <= 1)")
    else:
        lines.append("node_exporter not installed (Debian prometheus-node-exporter): no comparison")

    # RSS after the soak: the real daemon, fast intervals, scraped every second
    port = free_port()
    conf = tmp_path / "soak.toml"
    conf.write_text(f'[host]\nroot = "{tree}"\n[collectors.smart]\nsmartctl = "{exe}"\ninterval_seconds = 5\n'
                    f'[collectors.hwmon]\ninterval_seconds = 1\n[collectors.system]\ninterval_seconds = 1\n')
    proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(conf), "run", "--web.listen-address",
                             f"127.0.0.1:{port}", "--state-dir", str(tmp_path / "soak")],
                            stderr=open(tmp_path / "agent.log", "wb"),  # noqa: SIM115
                            env=dict(os.environ, MALLOC_ARENA_MAX="2"))  # as hwagent.service sets it
    try:
        wait_port(port, proc)
        end = time.monotonic() + SOAK
        first = None
        while time.monotonic() < end:
            scrape_times(port, 1)
            if ne_proc:
                scrape_times(ne_port, 1)
            first = first or rss_mb(proc.pid)
            time.sleep(1)
        ours_rss = rss_mb(proc.pid)
        lines.append(f"hwagent RSS after {SOAK:.0f} s: {ours_rss:.1f} MB (after first scrape {first:.1f} MB; "
                     f"target <= 35 MB)")
        if ne_proc:
            lines.append(f"node_exporter RSS after {SOAK:.0f} s: {rss_mb(ne_proc.pid):.1f} MB")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        if ne_proc:
            ne_proc.terminate()
            ne_proc.wait(10)
    print("\n".join(lines))
