"""One-shot commands read the kernel ring buffer once: no tail thread to start and then stop."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from click.testing import CliRunner

from agent.cli import cli

TREE = Path(__file__).resolve().parents[2] / "fixtures" / "hosts" / "synthetic-kernel-log" / "tree"


def started_threads(monkeypatch) -> list[str]:
    names: list[str] = []
    real = threading.Thread.start

    def start(self):
        names.append(self.name)
        return real(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    return names


def test_agent_check_reads_the_ring_buffer_once_without_a_tail_thread(tmp_path, monkeypatch):
    names = started_threads(monkeypatch)
    r = CliRunner().invoke(cli, ["check", "--json", "--path.rootfs", str(TREE), "--state-dir", str(tmp_path)],
                           catch_exceptions=False)
    assert r.exit_code in (1, 2), r.output
    status = json.loads(r.output)
    assert status["collectors"]["kernel_log"]["ok"] is True
    assert any(f["rule"].startswith(("kernel.", "disk.", "memory.", "pcie.")) for f in status["findings"])
    assert "kernel-log-tail" not in names  # old code: started it, then waited for it at exit
    assert any(n.startswith("collector-kernel_log") for n in names)


def test_agent_run_once_has_no_tail_thread_either(tmp_path, monkeypatch):
    names = started_threads(monkeypatch)
    r = CliRunner().invoke(cli, ["run", "--once", "--path.rootfs", str(TREE), "--state-dir", str(tmp_path)],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "hwagent_collector_success{collector=\"kernel_log\"} 1.0" in r.output
    assert "kernel-log-tail" not in names


def test_the_daemon_still_follows(tmp_path, monkeypatch):
    from agent.schema import from_mapping
    from agent.daemon import Daemon, host_from_config

    names = started_threads(monkeypatch)
    cfg = from_mapping({"host": {"root": str(TREE)}})
    d = Daemon(cfg, host_from_config(cfg), None)
    d.run_once()
    for c in d.collectors.values():
        c.close()
    assert "kernel-log-tail" in names
