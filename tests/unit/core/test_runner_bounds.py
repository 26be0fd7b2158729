"""The command runner against runaway tools: endless output, setsid grandchildren, orphans.

Real processes (sh scripts) on this machine's kernel; every case is bounded in time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from agent import runner as host_mod
from agent.host import Host


def script(tmp_path, name: str, body: str) -> str:
    p = tmp_path / name
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(0o755)
    return str(p)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_endless_output_is_cut_off_and_dropped(tmp_path):
    # `yes` writes without end: the old runner buffered it all (2 GiB in ~9 s, OOM)
    exe = script(tmp_path, "smartctl", "exec yes 'A line of a runaway tool'\n")
    t0 = time.monotonic()
    res = Host().run([exe, "-x"], timeout=30)
    assert time.monotonic() - t0 < 10
    assert res.error is not None and res.error.startswith("output too large: more than")
    assert res.stdout == b"" and res.rc is None and not res.ok


def test_too_many_lines_is_cut_off(tmp_path):
    exe = script(tmp_path, "ipmitool", "exec yes ''\n")  # one byte per line
    res = Host().run([exe], timeout=30)
    assert res.error == f"output too large: more than {host_mod.OUTPUT_LIMITS[''][1]} lines (dropped)"
    assert res.stdout == b""


def test_output_just_under_the_bound_is_kept(tmp_path, monkeypatch):
    monkeypatch.setitem(host_mod.OUTPUT_LIMITS, "", (1000, 10))
    exe = script(tmp_path, "t", "printf '%01000d' 0\n")
    res = Host().run([exe], timeout=10)
    assert res.ok and len(res.stdout) == 1000
    exe = script(tmp_path, "t2", "printf '%01001d' 0\n")
    assert Host().run([exe], timeout=10).error == "output too large: more than 1000 bytes (dropped)"


def test_setsid_grandchild_holding_stdout_does_not_block_past_the_timeout(tmp_path):
    """The command exits, a grandchild in its own session keeps stdout open for ever."""
    pidfile = tmp_path / "pid"
    exe = script(tmp_path, "smartctl",
                 f'echo "{{}}"\nsetsid sh -c \'echo $$ > {pidfile}; exec sleep 300\' &\nsleep 0.2\nexit 0\n')
    t0 = time.monotonic()
    res = Host().run([exe], timeout=10)
    took = time.monotonic() - t0
    assert took < 3, took  # old runner: waited for EOF until the grandchild died (300 s)
    assert res.rc == 0 and res.stdout == b"{}\n"
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 3
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), "the grandchild holding the pipe was killed"


def test_hung_command_and_immortal_setsid_grandchild_are_killed_at_the_timeout(tmp_path):
    pidfile = tmp_path / "pid"
    exe = script(tmp_path, "ipmitool",
                 f"setsid sh -c 'trap \"\" TERM INT HUP; echo $$ > {pidfile}; exec sleep 300' &\nexec sleep 300\n")
    t0 = time.monotonic()
    res = Host().run([exe], timeout=1.0)
    assert res.error == "timeout" and time.monotonic() - t0 < 4
    pid = int(pidfile.read_text())
    time.sleep(0.2)
    assert not alive(pid)


def test_commands_running_when_the_agent_stops_are_killed(tmp_path):
    """kill_running() (called by `agent run` on exit) ends every command still running."""
    import threading

    exe = script(tmp_path, "ipmitool", "exec sleep 300\n")
    results = []
    t = threading.Thread(target=lambda: results.append(Host().run([exe], timeout=120)))
    t.start()
    deadline = time.monotonic() + 5
    while not host_mod._running and time.monotonic() < deadline:
        time.sleep(0.02)
    pid = next(iter(host_mod._running))
    assert host_mod.kill_running() == 1
    t.join(5)
    assert not t.is_alive() and not alive(pid)
    assert results and not results[0].ok


def test_sigterm_to_agent_run_kills_a_hung_tool(tmp_path):
    """Outside systemd there is no cgroup to clean up: a hung ipmitool must not outlive the agent."""
    pidfile = tmp_path / "pid"
    exe = script(tmp_path, "ipmitool", f"echo $$ > {pidfile}\nexec sleep 300\n")
    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    (root / "dev" / "ipmi0").write_text("")
    (root / "sys").mkdir()
    (root / "proc").mkdir()
    conf = tmp_path / "a.toml"
    conf.write_text(f'[host]\nipmitool = "{exe}"\n[collectors.ipmi]\nenabled = true\n')
    proc = subprocess.Popen([sys.executable, "-m", "agent", "--config", str(conf), "run", "--web.listen-address",
                             "127.0.0.1:0", "--path.rootfs", str(root), "--state-dir", str(tmp_path / "st")],
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pidfile.exists(), "the ipmi collector never started ipmitool on a tree with /dev/ipmi0"
        tool = int(pidfile.read_text())
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        time.sleep(0.2)
        assert not alive(tool), "ipmitool survived the agent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if pidfile.exists() and alive(int(pidfile.read_text())):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_garbage_sysfs_value_in_a_path_is_a_read_error(tmp_path):
    """Found by fuzzing the baseline capture: a block device's `dev` file holding a NUL byte made
    the udev path `/run/udev/data/b\\0` and open() raised ValueError, failing the capture."""
    from agent import baseline
    from agent.host import HostPaths, ReadError

    host = Host(HostPaths(rootfs=str(tmp_path)))
    with pytest.raises(ReadError, match="NUL"):
        host.read_file(host.path("run", "udev", "data", "b\0"))
    assert host.read_text(host.path("sys", "x\0")) is None and host.listdir(host.path("x\0")) == []
    (tmp_path / "sys/block/sda/device").mkdir(parents=True)
    (tmp_path / "sys/block/sda/dev").write_bytes(b"\0")
    baseline.capture_disks(host)  # old code: ValueError: embedded null byte
