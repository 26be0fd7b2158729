"""Fault tests of the daemon: a real `agent run` subprocess on a free loopback port against a host
tree under tmp_path, with real signals. Hung and missing tools, not root, /dev/kmsg overruns, a
corrupt / locked / full state database, SIGKILL mid-write, SIGHUP and SIGTERM."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import json
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TREE = ROOT / "tests" / "fixtures" / "hosts" / "synthetic-fan-stopped" / "tree"
BOOT = "0f0f0f0f-1111-2222-3333-444444444444"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_tree(tmp_path: Path, kmsg: str = "") -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(TREE, tree, symlinks=True)
    (tree / "proc/sys/kernel/random").mkdir(parents=True, exist_ok=True)
    (tree / "proc/sys/kernel/random/boot_id").write_text(BOOT + "\n")
    (tree / "dev").mkdir(exist_ok=True)
    (tree / "dev/kmsg").write_text(kmsg)
    return tree


def tasks(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def procs_with(marker: str) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmd:
            out.append(int(p))
    return out


def children(pid: int) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p))
            except (OSError, IndexError, ValueError):
                pass
    return out


class Agent:
    def __init__(self, tmp_path: Path, config: str = "", *, tree: Path | None = None, state: Path | None = None,
                 prefix: list[str] | None = None, launcher: str | None = None):
        self.tmp = tmp_path
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.tree = tree or make_tree(tmp_path)
        self.state = state or tmp_path / "state"
        self.cfg = tmp_path / "hwagent.toml"
        self.cfg.write_text(config)
        self.log = tmp_path / f"agent-{self.port}.log"
        py = [sys.executable, "-c", launcher] if launcher else [sys.executable, "-m", "agent"]
        self.argv = [*(prefix or []), *py, "--config", str(self.cfg), "-v", "run", "--web.listen-address",
                     f"127.0.0.1:{self.port}", "--path.rootfs", str(self.tree), "--state-dir", str(self.state)]
        self.env = dict(os.environ, PATH=f"{tmp_path}/nobin:/usr/bin:/bin", PYTHONPATH=str(ROOT))
        self.proc: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> "Agent":
        self.fh = open(self.log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.argv, stdout=self.fh, stderr=self.fh, env=self.env, cwd=str(self.tmp))
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 40.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.get("/-/healthy", 1)[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited {self.proc.returncode}: {self.output()[-3000:]}")
            time.sleep(0.1)
        raise AssertionError(f"agent not healthy in {timeout} s: {self.output()[-3000:]}")

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        with urllib.request.urlopen(self.base + path, timeout=timeout) as r:  # noqa: S310 - loopback
            return r.status, r.read().decode()

    def metrics(self) -> str:
        status, body = self.get("/metrics")
        assert status == 200
        return body

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"agent ignored signal {sig}") from None
        self.fh.close()
        return self.proc.returncode


@pytest.fixture
def agents():
    started: list[Agent] = []
    yield started
    for a in started:
        if a.proc is not None and a.proc.poll() is None:
            a.proc.kill()
            a.proc.wait()


def metric_value(text: str, prefix: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return None


# ---- smartctl that hangs forever ---------------------------------------------------------------
HANG_CYCLES = int(os.environ.get("HWAGENT_HANG_CYCLES", "100"))


def test_hanging_smartctl_is_killed_at_its_timeout_without_leaks(tmp_path, agents):
    calls = tmp_path / "calls.log"
    fake = tmp_path / "hang-smartctl"
    fake.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        if [ "$1" = "--version" ]; then echo "smartctl 7.3 2022-02-28 r5338 [x86_64-linux] (local build)"; exit 0; fi
        echo "$$" >> {calls}
        sleep 3600 # hang-marker-{tmp_path.name}
        """))
    fake.chmod(0o755)
    marker = str(fake)
    a = Agent(tmp_path, textwrap.dedent(f"""\
        [collectors.smart]
        smartctl = "{fake}"
        scan = false
        devices = ["/dev/sdx"]
        ignore_rootfs = true
        interval_seconds = 0.3
        timeout_seconds = 5.0
        command_timeout_seconds = 0.2
        """))
    agents.append(a.start())
    pid = a.proc.pid

    def n_calls() -> int:
        return len(calls.read_text().splitlines()) if calls.exists() else 0

    deadline = time.monotonic() + 30
    while n_calls() < 10 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert n_calls() >= 10, a.output()[-2000:]
    tasks_early = tasks(pid)
    deadline = time.monotonic() + 90
    while n_calls() < HANG_CYCLES and time.monotonic() < deadline:
        time.sleep(0.2)
    cycles = n_calls()
    time.sleep(0.5)
    tasks_late, hung, kids = tasks(pid), procs_with(marker), children(pid)
    body = a.metrics()
    print(f"\nhanging smartctl: {cycles} calls killed; threads {tasks_early} -> {tasks_late}; "
          f"smartctl processes alive now {len(hung)}; agent children {len(kids)}")
    assert cycles >= min(HANG_CYCLES, 60)
    assert tasks_late <= tasks_early + 2  # the in-flight call may hold a pool thread
    assert len(hung) <= 2 and len(kids) <= 2  # at most the call in flight (script + its sleep)
    assert 'hwagent_disk_read_status{device="sdx",state="timeout"} 1.0' in body
    assert a.stop() == 0
    time.sleep(0.3)
    assert procs_with(marker) == [], "a hung smartctl outlived the agent"


# ---- tools missing ------------------------------------------------------------------------------
def test_smartctl_and_ipmitool_missing(tmp_path, agents):
    a = Agent(tmp_path, textwrap.dedent("""\
        [host]
        smartctl = "/nonexistent/smartctl"
        ipmitool = "/nonexistent/ipmitool"
        [collectors.smart]
        scan = false
        devices = ["/dev/sdx"]
        ignore_rootfs = true
        [collectors.ipmi]
        enabled = true
        """))
    (a.tree / "dev/ipmi0").write_text("")  # a BMC device node, so ipmi tries its tool
    agents.append(a.start())
    body = a.metrics()
    assert 'hwagent_disk_read_status{device="sdx",state="no_smartctl"} 1.0' in body
    assert 'hwagent_collector_success{collector="hwmon"} 1.0' in body  # the others keep working
    assert "hwagent_finding_active" in body
    assert 'hwagent_collector_present{collector="ipmi"} 0.0' in body
    status = a.get("/status.json")[1]
    assert "/nonexistent/ipmitool not installed" in status, status[:2000]  # says which tool is missing
    out = a.output()
    assert "/nonexistent/smartctl" in out
    assert a.stop() == 0


# ---- not root -----------------------------------------------------------------------------------
def test_runs_as_nobody_with_a_writable_state_dir(tmp_path, agents):
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to drop privileges")
    import tempfile  # noqa: PLC0415

    tmp_path = Path(tempfile.mkdtemp(prefix="hwagent-nobody-"))  # pytest's tmp dirs are 0700 root
    os.chmod(tmp_path, 0o755)
    for d in (ROOT, *ROOT.parents, Path(sys.executable).parent):
        if not os.stat(d).st_mode & 0o001:
            pytest.skip(f"{d} is not traversable by nobody")
    tree = make_tree(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    shutil.chown(state, "nobody", "nogroup")
    (tmp_path / "hwagent.toml").touch()
    a = Agent(tmp_path, "[collectors.smart]\nignore_rootfs = true\nscan = true\n", tree=tree, state=state,
              prefix=["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"])
    a.log.touch()
    os.chmod(a.log, 0o666)
    agents.append(a.start())
    body = a.metrics()
    assert 'hwagent_collector_success{collector="hwmon"} 1.0' in body
    assert (state / "state.db").exists() and (state / "state.db").stat().st_uid != 0
    assert a.stop() == 0
    shutil.rmtree(tmp_path, ignore_errors=True)


# ---- /dev/kmsg EPIPE overrun --------------------------------------------------------------------
EPIPE_LAUNCHER = textwrap.dedent("""\
    import errno, os, sys
    _real = os.read
    _state = {"n": 0}
    def _read(fd, n):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.endswith("/dev/kmsg"):
            _state["n"] += 1
            if _state["n"] % 3 == 1:  # every third read: the ring buffer overran us
                raise OSError(errno.EPIPE, "Broken pipe")
        return _real(fd, n)
    os.read = _read
    from agent.cli import main
    sys.argv[0] = "agent"
    main(sys.argv[1:])
    """)


def test_kmsg_overrun_is_counted_and_reading_continues(tmp_path, agents):
    lines = [f"6,{s},{s * 1000},-;pcieport 0000:00:1c.0: pciehp: Slot(1): Link Down" if s == 5 else
             f"6,{s},{s * 1000},-;random line {s}" for s in (1, 2, 3, 5)]  # seq 4 was lost
    tree = make_tree(tmp_path, "\n".join(lines) + "\n")
    a = Agent(tmp_path, "[collectors.kernel_log]\ninterval_seconds = 0.5\npoll_seconds = 0.1\n", tree=tree,
              launcher=EPIPE_LAUNCHER)
    agents.append(a.start())
    deadline = time.monotonic() + 20
    body = ""
    while time.monotonic() < deadline:
        body = a.metrics()
        lost = metric_value(body, "hwagent_kernel_log_records_lost_total")
        if lost:
            break
        time.sleep(0.3)
    assert metric_value(body, "hwagent_kernel_log_records_lost_total") >= 1, body[-2000:]
    assert 'hwagent_collector_success{collector="kernel_log"} 1.0' in body
    with open(tree / "dev/kmsg", "a") as fh:  # reading goes on after the overrun
        fh.write("6,6,6000,-;pcieport 0000:00:1d.0: pciehp: Slot(2): Link Down\n")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "0000:00:1d.0" not in a.metrics():
        time.sleep(0.3)
    assert a.stop() == 0
    assert "overrun" in a.output()


# ---- state database: corrupt, locked, full ------------------------------------------------------
def test_corrupt_state_database_is_moved_aside(tmp_path, agents):
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.db").write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    a = Agent(tmp_path, "", state=state)
    agents.append(a.start())
    assert "hwagent_finding_active" in a.metrics()
    assert any(p.name.startswith("state.db.corrupt-") for p in state.iterdir())
    assert "unreadable" in a.output()
    assert a.stop() == 0


def test_locked_state_database_keeps_serving(tmp_path, agents):
    state = tmp_path / "state"
    state.mkdir()
    sqlite3.connect(state / "state.db").execute("CREATE TABLE t (x)").connection.close()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""\
        import sqlite3, sys, time
        c = sqlite3.connect({str(state / 'state.db')!r}, isolation_level=None)
        c.execute("BEGIN EXCLUSIVE")
        print("locked", flush=True)
        time.sleep(120)
        """)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"locked"
        a = Agent(tmp_path, "", state=state)
        agents.append(a.start())
        body = a.metrics()
        assert 'hwagent_collector_success{collector="hwmon"} 1.0' in body
        assert "locked" in a.output()
        assert a.stop() == 0
    finally:
        holder.kill()
        holder.wait()


def test_state_database_on_a_full_disk(tmp_path, agents):
    mnt = tmp_path / "full"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass  # ENOSPC: the disk is full
        finally:
            os.close(fd)
        a = Agent(tmp_path, "", state=mnt / "state")
        agents.append(a.start())
        body = a.metrics()
        assert 'hwagent_collector_success{collector="hwmon"} 1.0' in body
        assert "state" in a.output().lower()
        assert a.stop() == 0
    finally:
        for x in agents:
            if x.proc and x.proc.poll() is None:
                x.proc.kill()
                x.proc.wait()
        subprocess.run(["umount", "-l", str(mnt)], check=False)


# ---- SIGKILL in the middle of state writes -------------------------------------------------------
def test_sigkill_during_state_writes_loses_nothing(tmp_path, agents):
    state = tmp_path / "state"
    cfg = "[collectors.hwmon]\ninterval_seconds = 0.05\n[collectors.system]\ninterval_seconds = 0.05\n"
    a = Agent(tmp_path, cfg, state=state)
    agents.append(a.start())
    assert a.stop() == 0
    ack = subprocess.run([sys.executable, "-m", "agent", "--config", str(a.cfg), "ack", "board.fan_stopped",
                          "platform_nct6775_2592/fan2", "--path.rootfs", str(a.tree), "--state-dir", str(state)],
                         capture_output=True, text=True, env=a.env, cwd=str(tmp_path))
    assert ack.returncode == 0, ack.stdout + ack.stderr
    rng = random.Random(8)
    for _ in range(8):
        b = Agent(tmp_path, cfg, tree=a.tree, state=state)
        agents.append(b.start())
        time.sleep(rng.uniform(0.05, 0.8))  # mid-cycle: samples and findings being written
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait()
        b.fh.close()
    c = sqlite3.connect(state / "state.db")
    assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    c.close()
    last = Agent(tmp_path, cfg, tree=a.tree, state=state)
    agents.append(last.start())
    st = last.get("/status.json")[1]
    assert '"acknowledged": true' in st.replace('"acknowledged":true', '"acknowledged": true'), st[:1500]
    assert not any(p.name.startswith("state.db.corrupt") for p in state.iterdir())
    assert last.stop() == 0


# ---- signals --------------------------------------------------------------------------------------
def test_sighup_is_logged_and_ignored_then_sigterm_stops_cleanly(tmp_path, agents):
    a = Agent(tmp_path, "")
    agents.append(a.start())
    a.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert a.proc.poll() is None, "SIGHUP killed the agent"
    assert "hwagent_finding_active" in a.metrics()
    assert "SIGHUP" in a.output()
    t0 = time.monotonic()
    assert a.stop(signal.SIGTERM) == 0
    print(f"\nSIGTERM -> exit in {time.monotonic() - t0:.2f} s")
    assert "stopping" in a.output()


def test_state_database_locked_while_running(tmp_path, agents):
    state = tmp_path / "state"
    a = Agent(tmp_path, "[collectors.hwmon]\ninterval_seconds = 0.5\n[collectors.system]\ninterval_seconds = 0.5\n",
              state=state)
    agents.append(a.start())
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""\
        import sqlite3, sys, time
        c = sqlite3.connect({str(state / 'state.db')!r}, isolation_level=None, timeout=30)
        c.execute("BEGIN EXCLUSIVE")
        print("locked", flush=True)
        time.sleep(12)
        c.execute("COMMIT")
        """)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"locked"
        served = 0
        t_end = time.monotonic() + 11
        # a sensor value moves, so the agent has something to write (an unchanged reading
        # writes nothing: the rules do not even run again)
        temp = sorted(a.tree.rglob("temp*_input"))[0]
        while time.monotonic() < t_end:  # the lock outlasts the store's 5 s busy timeout
            temp.write_text(f"{40000 + served * 1000}\n")
            assert a.get("/metrics", 10)[0] == 200
            served += 1
            time.sleep(0.5)
        holder.wait(30)
        assert a.proc.poll() is None
        assert a.get("/-/healthy")[0] == 200
        print(f"\nstate db locked 12 s: {served} scrapes served meanwhile")
        assert "state store: database is locked" in a.output()  # reported, not a traceback
        assert "Traceback" not in a.output()
    finally:
        holder.kill()
        holder.wait()
    assert a.stop() == 0


# ---- smartctl that writes without end ------------------------------------------------------------
def test_endless_smartctl_output_is_cut_off_and_the_agent_stays_small(tmp_path, agents):
    """The old runner buffered everything: 2 GiB in ~9 s, OOM-killed in the first cycle."""
    fake = tmp_path / "flood-smartctl"
    fake.write_text(textwrap.dedent("""\
        #!/bin/sh
        if [ "$1" = "--version" ]; then echo "smartctl 7.3 2022-02-28 r5338 [x86_64-linux] (local build)"; exit 0; fi
        exec yes '{"json_format_version": [1, 0], "smartctl": {"exit_status": 0}, "padding": "xxxxxxxxxxxxxxxx"}'
        """))
    fake.chmod(0o755)
    a = Agent(tmp_path, textwrap.dedent(f"""\
        [collectors.smart]
        smartctl = "{fake}"
        scan = false
        devices = ["/dev/sdx"]
        ignore_rootfs = true
        interval_seconds = 1
        command_timeout_seconds = 20
        """))
    agents.append(a.start())
    deadline = time.monotonic() + 30
    body = ""
    while time.monotonic() < deadline:
        body = a.metrics()
        if 'hwagent_disk_read_status{device="sdx",state="error"} 1.0' in body:
            break
        time.sleep(0.3)
    rss = int(next(line.split()[1] for line in Path(f"/proc/{a.proc.pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))) // 1024
    status = json.loads(a.get("/status.json")[1])
    print(f"\nendless smartctl: agent RSS {rss} MB")
    assert a.proc.poll() is None
    assert 'hwagent_disk_read_status{device="sdx",state="error"} 1.0' in body, a.output()[-2000:]
    assert rss < 150
    assert "output too large" in json.dumps(status) + a.output()
