"""Load and soak of the real daemon on loopback.

Load: `agent run` serving a 24-disk / 200-sensor snapshot (build_host() of the scrape benchmark)
is scraped by 50 concurrent clients for HWAGENT_LOAD_SECONDS (default 60), a new connection per
scrape; errors (anything but a complete 200) are counted, p50/p99/max printed beside a single
client's p99 measured in the same run (the baseline).
Soak: the same daemon with fast intervals (hwmon/system 0.5 s, smart 2 s, kernel_log 1 s) for
HWAGENT_SOAK_SECONDS (default 600), scraped every second; RSS and thread count printed at start
and end. Run: bash tests/run.sh -m bench -s -k load
"""

from __future__ import annotations

import http.client
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.bench.test_scrape_bench import DISKS, build_host, free_port, pct, rss_mb, wait_port

CLIENTS = int(os.environ.get("HWAGENT_LOAD_CLIENTS", "50"))
LOAD_SECONDS = float(os.environ.get("HWAGENT_LOAD_SECONDS", "60"))
SOAK_SECONDS = float(os.environ.get("HWAGENT_SOAK_SECONDS", "600"))


def scrape(port: int) -> tuple[float, bool]:
    t0 = time.perf_counter()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/metrics")
        r = c.getresponse()
        body = r.read()
        c.close()
        ok = r.status == 200 and b"hwagent_disk_info" in body
    except OSError:
        ok = False
    return time.perf_counter() - t0, ok


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def start_agent(tmp: Path, conf_text: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = tmp / f"agent-{port}.toml"
    conf.write_text(conf_text)
    proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(conf), "-q", "run",
                             "--web.listen-address", f"127.0.0.1:{port}", "--state-dir", str(tmp / f"st-{port}")],
                            stderr=subprocess.PIPE, env=dict(os.environ))
    wait_port(port, proc)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not scrape(port)[1]:  # first full cycle: the disks are in
        time.sleep(0.2)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics")
    body = c.getresponse().read()
    c.close()
    assert body.count(b"\nhwagent_disk_info{") == DISKS, "the 24 disks the printout claims are not served"
    return proc, port


def stop_agent(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.mark.bench
def test_fifty_concurrent_scrapers_then_soak(tmp_path, monkeypatch):
    tree, exe = build_host(tmp_path)
    monkeypatch.setenv("FAKE_SMARTCTL_DIR", str(tmp_path / "rec"))
    base_conf = (f'[host]\nroot = "{tree}"\n[collectors.smart]\nsmartctl = "{exe}"\nignore_rootfs = true\n')
    proc, port = start_agent(tmp_path, base_conf)
    lines = []
    try:
        single = [scrape(port)[0] for _ in range(200)]
        lat: list[float] = []
        errors = [0]
        lock = threading.Lock()
        end = time.monotonic() + LOAD_SECONDS

        def client():
            mine, bad = [], 0
            while time.monotonic() < end:
                t, ok = scrape(port)
                mine.append(t)
                bad += not ok
            with lock:
                lat.extend(mine)
                errors[0] += bad

        rss0, thr0 = rss_mb(proc.pid), threads(proc.pid)
        ts = [threading.Thread(target=client) for _ in range(CLIENTS)]
        t0 = time.monotonic()
        for t in ts:
            t.start()
        peak_threads = 0
        while any(t.is_alive() for t in ts):
            peak_threads = max(peak_threads, threads(proc.pid))
            time.sleep(0.5)
        wall = time.monotonic() - t0
        lines += [f"\nload: {CLIENTS} clients x {LOAD_SECONDS:.0f} s: {len(lat)} scrapes ({len(lat) / wall:.0f}/s), "
                  f"{errors[0]} errors",
                  f"latency under load: p50 {statistics.median(lat) * 1000:.1f} ms, p99 {pct(lat, 99) * 1000:.1f} ms, "
                  f"max {max(lat) * 1000:.1f} ms; single client p99 {pct(single, 99) * 1000:.2f} ms "
                  f"(ratio {pct(lat, 99) / pct(single, 99):.1f}x with {CLIENTS}x the clients)",
                  f"daemon during load: RSS {rss0:.1f} -> {rss_mb(proc.pid):.1f} MB, threads {thr0} -> peak "
                  f"{peak_threads} -> {threads(proc.pid)} after"]
    finally:
        stop_agent(proc)
    assert errors[0] == 0

    soak_conf = base_conf + ("interval_seconds = 2\n[collectors.hwmon]\ninterval_seconds = 0.5\n"
                             "[collectors.system]\ninterval_seconds = 0.5\n[collectors.kernel_log]\ninterval_seconds = 1\n")
    proc, port = start_agent(tmp_path, soak_conf)
    try:
        time.sleep(5)
        rss_start, thr_start = rss_mb(proc.pid), threads(proc.pid)
        end = time.monotonic() + SOAK_SECONDS
        fails = 0
        marks = []
        next_mark = time.monotonic() + SOAK_SECONDS / 4
        while time.monotonic() < end:
            fails += not scrape(port)[1]
            if time.monotonic() >= next_mark:
                marks.append(f"{rss_mb(proc.pid):.1f} MB/{threads(proc.pid)} thr")
                next_mark += SOAK_SECONDS / 4
            time.sleep(1)
        rss_end, thr_end = rss_mb(proc.pid), threads(proc.pid)
        lines += [f"soak {SOAK_SECONDS:.0f} s (hwmon/system 0.5 s, kernel_log 1 s, smart 2 s with 24 disks): "
                  f"RSS {rss_start:.1f} -> {rss_end:.1f} MB ({rss_end - rss_start:+.1f}), threads {thr_start} -> "
                  f"{thr_end}; quarters: {', '.join(marks)}; failed scrapes {fails}"]
    finally:
        stop_agent(proc)
    print("\n".join(lines))
    assert fails == 0
