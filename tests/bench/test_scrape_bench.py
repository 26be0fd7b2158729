"""Scrape latency, CPU, memory and start-up of `agent run`, beside node_exporter in the same run.

The host: 200 hwmon sensors on 10 chips and 24 SATA disks behind a fake smartctl replaying a
corpus capture (``ignore_rootfs = true``: host.root is not /, and without it the SMART collector
reads no disk at all; the old version of this benchmark served 954 series, not 3,400). Both tools
run as their own processes over the same tree; every scrape is a new connection (as Prometheus
after an idle period) and the two tools are scraped alternately, after a warm-up, so neither
gets a quieter machine. Each printout names what it measured and the series count is asserted.

- back-to-back: HWAGENT_BENCH_SCRAPES (default 1000) scrapes of each, default intervals.
- realistic: scrapes every 15 s while the collectors run on their default intervals, both
  compressed in time by HWAGENT_BENCH_COMPRESS (default 10) for HWAGENT_BENCH_REALISTIC_SECONDS
  (default 120 s = 20 min of host time): p50/p99, CPU (process + children) and RSS as ratios
  against node_exporter. Targets: p99 <= 0.3x, CPU <= 1.5x, RSS <= 30 MB.
- start-up: first /metrics answer, first complete /metrics (all disks), healthy; node_exporter's
  first answer; `agent check` wall time beside a bare interpreter start.
Run: bash tests/run.sh -m bench -s -k scrape
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
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



COMPRESS = float(os.environ.get("HWAGENT_BENCH_COMPRESS", "10"))
REALISTIC = float(os.environ.get("HWAGENT_BENCH_REALISTIC_SECONDS", "120"))
SENSORS = 200
MIN_SERIES = 3000  # 200 sensors with limits, 24 disks' SMART attributes, collector and rule series


def agent_conf(tmp: Path, tree: Path, exe: Path, compress: float = 1.0) -> Path:
    """The agent's config for the bench host; with ``compress`` != 1 every default-enabled
    collector's default interval divided by it."""
    from agent.collectors import COLLECTORS

    tables = {"smart": f'smartctl = "{exe}"\nignore_rootfs = true\n'}
    if compress != 1.0:
        for cls in COLLECTORS:
            if cls.default_enabled:
                tables[cls.name] = tables.get(cls.name, "") + f"interval_seconds = {cls.default_interval / compress:g}\n"
    text = f'[host]\nroot = "{tree}"\n' + "".join(f"[collectors.{k}]\n{v}" for k, v in tables.items())
    conf = tmp / f"agent-{compress:g}.toml"
    conf.write_text(text)
    return conf


def get(port: int, path: str = "/metrics", gzip_ok: bool = False) -> tuple[float, int, bytes, dict]:
    """One request on a new connection: (seconds, status, body, headers)."""
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", path, headers={"Accept-Encoding": "gzip"} if gzip_ok else {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return time.perf_counter() - t0, r.status, body, {k.lower(): v for k, v in r.getheaders()}


def series(body: bytes, prefix: bytes = b"hwagent_") -> int:
    return sum(1 for line in body.splitlines() if line.startswith(prefix))


def cpu_seconds(pid: int) -> float:
    """utime + stime + waited-for children's (the agent's smartctl runs count), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / os.sysconf("SC_CLK_TCK")


_COMPILED: list[bool] = []


def agent_env() -> dict[str, str]:
    """The environment of the agent's processes: as installed, with its modules byte-compiled
    (pip and the Debian package compile them, as the interpreter's own library is). With
    PYTHONDONTWRITEBYTECODE in the test environment and no bytecode in the tree, every start
    would compile ~200 modules from source: ~0.3 s more start-up and ~1 MB more resident memory.
    The agent's bytecode is written once, to its (ignored) __pycache__ directories."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if not _COMPILED:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "agent"), str(ROOT / "hwstatus")],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        _COMPILED.append(True)
    return env


def start_agent(conf: Path, state: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(conf), "-q", "run",
                             "--web.listen-address", f"127.0.0.1:{port}", "--state-dir", str(state)],
                            stdout=subprocess.DEVNULL, stderr=open(state.with_suffix(".log"), "wb"),  # noqa: SIM115
                            env=dict(agent_env(), MALLOC_ARENA_MAX="2"))  # as hwagent.service sets it
    return proc, port


def start_node_exporter(tree: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}",
                             f"--path.sysfs={tree / 'sys'}", f"--path.procfs={tree / 'proc'}",
                             f"--path.rootfs={tree}", "--log.level=error"],
                            # not a pipe: it logs each failing collector (the tree has no netstat,
                            # mounts...) per scrape and would block on a full pipe
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_complete(port: int, proc: subprocess.Popen, timeout: float = 120) -> bytes:
    """Wait until /metrics carries every disk and /-/healthy answers 200; returns the body."""
    wait_port(port, proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, st, body, _ = get(port)
        if st == 200 and body.count(b"\nhwagent_disk_info{") == DISKS and get(port, "/-/healthy")[1] == 200:
            return body
        time.sleep(0.1)
    raise AssertionError("the agent did not serve all disks in time")


def check_host_served(body: bytes) -> int:
    """The series the printout claims are there: 24 disks, 200 sensors, > 3000 series."""
    assert body.count(b"\nhwagent_disk_info{") == DISKS
    temps = body.count(b"\nhwagent_hwmon_temperature_celsius{")
    volts = body.count(b"\nhwagent_hwmon_voltage_volts{")
    fans = body.count(b"\nhwagent_hwmon_fan_rpm{")
    assert temps + volts + fans == SENSORS, (temps, volts, fans)
    n = series(body)
    assert n >= MIN_SERIES, n
    return n


class Churn:
    """A live host's values move: every ``every`` seconds each fan and temperature input and
    MemAvailable change (a static tree would let any cache look perfect)."""

    def __init__(self, tree: Path, every: float):
        self.every = every
        self.files = sorted(p for p in tree.rglob("*_input") if p.name.startswith(("fan", "temp")))
        self.meminfo = tree / "proc" / "meminfo"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.rounds = 0

    def _run(self) -> None:
        rng = random.Random(20)
        while not self._stop.wait(self.every):
            for f in self.files:
                base = 1000 if f.name.startswith("fan") else 40000
                self._put(f, f"{base + rng.randrange(0, 500) * (1 if base == 1000 else 10)}\n")
            if self.meminfo.exists():
                text = self.meminfo.read_text()
                lines = [f"MemAvailable:   {8000000 + rng.randrange(0, 100000)} kB" if ln.startswith("MemAvailable:")
                         else ln for ln in text.splitlines()]
                self._put(self.meminfo, "\n".join(lines) + "\n")
            self.rounds += 1

    @staticmethod
    def _put(path: Path, text: str) -> None:  # a sysfs read never sees half a value
        tmp = path.with_name(path.name + ".new")
        tmp.write_text(text)
        os.replace(tmp, path)

    def __enter__(self) -> "Churn":
        assert len(self.files) == 10 * (7 + 6), len(self.files)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def ms(xs: list[float], p: float) -> str:
    return f"{pct(xs, p) * 1000:.2f} ms"


def gunzip_if(body: bytes, headers: dict) -> bytes:
    import gzip

    return gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body


needs_ne = pytest.mark.skipif(NODE_EXPORTER is None, reason="node_exporter (Debian prometheus-node-exporter) not installed")


@pytest.mark.bench
@needs_ne
def test_back_to_back_scrapes(tmp_path, monkeypatch):
    """Scrapes one after the other (alternating the tools): mostly the unchanged-snapshot case."""
    tree, exe = build_host(tmp_path)
    monkeypatch.setenv("FAKE_SMARTCTL_DIR", str(tmp_path / "rec"))
    agent, port = start_agent(agent_conf(tmp_path, tree, exe), tmp_path / "st")
    ne, ne_port = start_node_exporter(tree)
    try:
        body = wait_complete(port, agent)
        wait_port(ne_port, ne)
        n = check_host_served(body)
        for _ in range(50):  # warm-up: caches, page cache, connection paths of both
            get(port)
            get(ne_port)
        ours, theirs, changed, last = [], [], 0, body
        for _ in range(SCRAPES):
            t, st, b, _ = get(port)
            assert st == 200
            ours.append(t)
            changed += b != last
            last = b
            t, st, ne_body, _ = get(ne_port)
            assert st == 200
            theirs.append(t)
        _, _, gz, h = get(port, gzip_ok=True)
        _, _, ne_gz, ne_h = get(ne_port, gzip_ok=True)
        check_host_served(gunzip_if(gz, h))
    finally:
        stop(agent)
        stop(ne)
    print(f"\nback-to-back ({SCRAPES} scrapes each, alternating, default intervals): hwagent {n} series, "
          f"{len(last)} bytes ({len(gz)} bytes with Accept-Encoding: gzip, {h.get('content-encoding', 'identity')}); "
          f"node_exporter {series(ne_body, b'node_')} series, {len(ne_body)} bytes ({len(ne_gz)} gzip)\n"
          f"  {changed} of {SCRAPES} hwagent scrapes saw a changed body\n"
          f"  hwagent p50 {ms(ours, 50)} p99 {ms(ours, 99)}; node_exporter p50 {ms(theirs, 50)} p99 {ms(theirs, 99)}; "
          f"ratio p50 {pct(ours, 50) / pct(theirs, 50):.2f} p99 {pct(ours, 99) / pct(theirs, 99):.2f}")


@pytest.mark.bench
@needs_ne
def test_realistic_scrapes_cpu_and_rss(tmp_path, monkeypatch):
    """Scrapes every 15 s while the collectors run on their default intervals (both compressed)."""
    tree, exe = build_host(tmp_path)
    monkeypatch.setenv("FAKE_SMARTCTL_DIR", str(tmp_path / "rec"))
    agent, port = start_agent(agent_conf(tmp_path, tree, exe, COMPRESS), tmp_path / "st")
    ne, ne_port = start_node_exporter(tree)
    period = 15.0 / COMPRESS
    try:
        body = wait_complete(port, agent)
        wait_port(ne_port, ne)
        n = check_host_served(body)
        for _ in range(3):  # warm-up
            get(port)
            get(ne_port)
        churn = Churn(tree, 30.0 / COMPRESS).__enter__()  # values move between hwmon runs
        cpu0, ne_cpu0 = cpu_seconds(agent.pid), cpu_seconds(ne.pid)
        t0 = time.monotonic()
        ours, theirs, changed, last, rss, ne_rss = [], [], 0, body, [], []
        k = 0
        while time.monotonic() - t0 < REALISTIC:
            for port_, out, offset in ((port, ours, 0.0), (ne_port, theirs, period / 2)):
                wait = t0 + k * period + offset - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                t, st, b, _ = get(port_)
                assert st == 200
                out.append(t)
                if port_ == port:
                    changed += b != last
                    last = b
            rss.append(rss_mb(agent.pid))
            ne_rss.append(rss_mb(ne.pid))
            k += 1
        wall = time.monotonic() - t0
        churn.__exit__()
        cpu, ne_cpu = cpu_seconds(agent.pid) - cpu0, cpu_seconds(ne.pid) - ne_cpu0
        n_end = check_host_served(last)
        _, _, gz, h = get(port, gzip_ok=True)
        assert gunzip_if(gz, h).count(b"\nhwagent_disk_info{") == DISKS
    finally:
        stop(agent)
        stop(ne)
    p99_ratio = pct(ours, 99) / pct(theirs, 99)
    cpu_ratio = cpu / ne_cpu if ne_cpu else float("inf")
    print(f"\nrealistic: {len(ours)} scrapes each every {period:g} s over {wall:.0f} s = {wall * COMPRESS / 60:.0f} min of "
          f"host time at default intervals (all compressed {COMPRESS:g}x); hwagent {n}..{n_end} series; fan/temperature/memory values "
          f"changed {churn.rounds} times (every {churn.every:g} s)\n"
          f"  {changed} of {len(ours)} hwagent scrapes saw a changed body\n"
          f"  scrape hwagent p50 {ms(ours, 50)} p99 {ms(ours, 99)}; node_exporter p50 {ms(theirs, 50)} "
          f"p99 {ms(theirs, 99)}; ratio p50 {pct(ours, 50) / pct(theirs, 50):.2f} p99 {p99_ratio:.2f} (target <= 0.3)\n"
          f"  CPU hwagent {cpu:.2f} s ({100 * cpu / wall / COMPRESS:.3f} % of a core uncompressed), node_exporter "
          f"{ne_cpu:.2f} s; ratio {cpu_ratio:.2f} (target <= 1.5)\n"
          f"  RSS hwagent median {statistics.median(rss):.1f} MB max {max(rss):.1f} MB (target <= 30); node_exporter "
          f"median {statistics.median(ne_rss):.1f} MB; ratio {statistics.median(rss) / statistics.median(ne_rss):.2f}\n"
          f"  gzip: {len(gz)} bytes ({h.get('content-encoding', 'identity')}) of {len(last)}")


@pytest.mark.bench
@needs_ne
def test_start_up_and_one_shot_check(tmp_path, monkeypatch):
    """First /metrics, complete /metrics and healthy after spawn; node_exporter's first answer;
    `agent check` beside a bare interpreter start."""
    tree, exe = build_host(tmp_path)
    monkeypatch.setenv("FAKE_SMARTCTL_DIR", str(tmp_path / "rec"))
    conf = agent_conf(tmp_path, tree, exe)

    def first(port: int, proc: subprocess.Popen, path: str, ok) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 120:
            try:
                _, st, b, _ = get(port, path)
                if st == 200 and ok(b):
                    return time.monotonic() - t0
            except OSError:
                assert proc.poll() is None, "exited"
            time.sleep(0.002)
        raise AssertionError(f"{path} not ready")

    rows = []
    for i in range(3):  # alternate the two tools; the median of three
        t_spawn = time.monotonic()
        agent, port = start_agent(conf, tmp_path / f"st{i}")
        try:
            first(port, agent, "/metrics", lambda b: True)
            t_m = time.monotonic() - t_spawn
            first(port, agent, "/-/healthy", lambda b: True)
            t_h = time.monotonic() - t_spawn
            first(port, agent, "/metrics", lambda b: b.count(b"\nhwagent_disk_info{") == DISKS)
            t_c = time.monotonic() - t_spawn
        finally:
            stop(agent)
        t_spawn = time.monotonic()
        ne, ne_port = start_node_exporter(tree)
        try:
            first(ne_port, ne, "/metrics", lambda b: True)
            t_ne = time.monotonic() - t_spawn
        finally:
            stop(ne)
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "agent", "--config", str(conf), "check", "--state-dir",
                            str(tmp_path / f"chk{i}")], capture_output=True, env=agent_env())
        t_check = time.monotonic() - t0
        assert r.returncode in (0, 1, 2), r.stderr.decode()[-2000:]
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        t_py = time.monotonic() - t0
        rows.append((t_m, t_h, t_c, t_ne, t_check, t_py))
    med = [statistics.median(col) for col in zip(*rows, strict=False)]
    print(f"\nstart-up (median of 3): hwagent first /metrics {med[0] * 1000:.0f} ms, healthy {med[1] * 1000:.0f} ms, "
          f"all disks in /metrics {med[2] * 1000:.0f} ms; node_exporter first /metrics {med[3] * 1000:.0f} ms; "
          f"ratio first /metrics {med[0] / med[3]:.1f}, healthy {med[1] / med[3]:.1f}\n"
          f"  agent check {med[4] * 1000:.0f} ms wall; bare interpreter start {med[5] * 1000:.0f} ms; "
          f"ratio {med[4] / med[5]:.1f}")
