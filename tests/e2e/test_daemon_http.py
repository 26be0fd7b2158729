"""A real `agent run` subprocess on a free port, scraped over HTTP, compared with the golden."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.promtext import normalise

HOSTS = Path(__file__).resolve().parents[1] / "fixtures" / "hosts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - loopback only
        return r.status, r.read(), r.headers.get("Content-Type", "")


@pytest.fixture
def agent_proc(tmp_path):
    port = free_port()
    tree = HOSTS / "synthetic-fan-stopped" / "tree"
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ.get('PATH', '')}")  # no smartctl/ipmitool from here
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--web.listen-address", f"127.0.0.1:{port}",
         "--path.rootfs", str(tree), "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            get(base + "/-/healthy", 1)
            break
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"agent exited: {proc.stderr.read().decode()}") from None
            time.sleep(0.1)
    yield proc, base
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise


def test_scrape_over_http_matches_the_scenario(agent_proc):
    proc, base = agent_proc
    deadline = time.monotonic() + 20
    body = b""
    while time.monotonic() < deadline:
        status, body, ctype = get(base + "/metrics")
        if b"hwagent_finding_active" in body:
            break
        time.sleep(0.2)
    assert status == 200 and ctype.startswith("text/plain")
    text = body.decode()
    assert 'hwagent_finding_active{component="board",device="platform_nct6775_2592/fan2",rule="board.fan_stopped",severity="critical"} 1.0' in text
    assert 'hwagent_hwmon_fan_rpm{chip="platform_nct6775_2592",sensor="fan2"} 0.0' in text
    # the same families as the golden one-cycle run of this scenario (the HTTP path adds nothing)
    golden = (HOSTS / "synthetic-fan-stopped" / "expected" / "metrics.prom").read_text()
    fams = lambda t: {line.split()[2] for line in t.splitlines() if line.startswith("# TYPE")}  # noqa: E731
    assert fams(normalise(text)) == fams(golden)
    st = json.loads(get(base + "/status.json")[1])
    assert st["worst_severity"] == "critical" and st["findings"][0]["rule"] == "board.fan_stopped"


def test_status_asks_the_running_daemon_and_sigterm_stops_cleanly(agent_proc, tmp_path):
    proc, base = agent_proc
    port = base.rsplit(":", 1)[1]
    res = subprocess.run([sys.executable, "-m", "agent", "status", "--json", "--web.listen-address", f"127.0.0.1:{port}"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stderr  # critical
    assert "no daemon answered" not in res.stderr
    assert json.loads(res.stdout)["findings"][0]["device"] == "platform_nct6775_2592/fan2"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def test_sd_notify_ready_and_watchdog(tmp_path):
    """Under a fake systemd notify socket the daemon sends READY=1 and WATCHDOG=1."""
    sock_path = str(tmp_path / "notify.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(sock_path)
    srv.settimeout(30)
    port = free_port()
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="1000000")
    proc = subprocess.Popen([sys.executable, "-m", "agent", "run", "--web.listen-address", f"127.0.0.1:{port}",
                             "--path.rootfs", str(HOSTS / "synthetic-healthy" / "tree"),
                             "--state-dir", str(tmp_path / "st")], env=env, stderr=subprocess.PIPE)
    try:
        env["WATCHDOG_PID"] = str(proc.pid)
        msgs = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (any("READY=1" in m for m in msgs) and any("WATCHDOG=1" in m for m in msgs)):
            msgs.append(srv.recv(4096).decode())
        assert any("READY=1" in m for m in msgs) and any("WATCHDOG=1" in m for m in msgs), msgs
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        srv.close()
    assert proc.returncode == 0
