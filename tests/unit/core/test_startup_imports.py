"""`agent run` imports only what it uses: checked in a real daemon process at exit.

The status service's web stack, recovery, the other CLI commands, prometheus_client (its
package pulls an HTTP client and a WSGI server), over plain HTTP the ssl module, and psutil and
shutil/tempfile (with bz2 and lzma) on a current kernel are each megabytes of RSS the daemon
never touches.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TREE = ROOT / "tests" / "fixtures" / "hosts" / "synthetic-healthy" / "tree"
LAUNCHER = ("import atexit, sys\n"
            "out = sys.argv.pop(1)\n"
            "atexit.register(lambda: open(out, 'w').write('\\n'.join(sorted(k for k, v in sys.modules.items() if v))))\n"
            "from agent.cli import main\n"
            "main()\n")
ALLOWED = {"agent.cli", "agent.cli.run", "agent.cli.common", "agent.recovery", "agent.recovery.settings",
           "hwstatus", "hwstatus.config",  # the config sections of recovery and the status service
           "agent.recovery.readiness"}  # the baseline collector's recovery-readiness reading


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_agent(tmp_path: Path, *extra: str) -> set[str]:
    port = free_port()
    out = tmp_path / "modules.txt"
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(out), "-q", "run", "--web.listen-address",
                             f"127.0.0.1:{port}", "--path.rootfs", str(TREE), "--state-dir", str(tmp_path / "st"),
                             *extra], cwd=ROOT, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:  # noqa: S310
                    if r.status == 200:
                        break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(0.1)
        else:
            raise AssertionError("agent did not serve /metrics")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, proc.stderr.read().decode()[-2000:]
    return set(out.read_text().split())


def test_agent_run_imports_nothing_it_does_not_use(tmp_path):
    mods = run_agent(tmp_path)
    assert "agent.daemon" in mods and "agent.exporter.render" in mods  # it did run
    unused = sorted(m for m in mods if m not in ALLOWED and (
        m.startswith(("agent.cli.", "agent.recovery", "hwstatus", "prometheus_client", "wsgiref", "email",
                      "urllib.request", "http.client", "http.server", "agent.statusclient", "agent.exporter.webconfig"))
        or m in ("ssl", "_ssl", "_hashlib")  # OpenSSL: agent.lean
        or m in ("psutil", "shutil", "tempfile", "bz2", "lzma", "gzip", "calendar")  # ~2 MB: agent.host.which,
        # fileutil.make_temp, meminfo, zlib; calendar only with BMC dates to parse
        or (m.startswith("agent.collectors.patterns.") and m.rsplit(".", 1)[1] not in ("classifier", "heads", "record", "replay"))))
    # the kernel-log families: imported on their first message, and this host's log has none
    assert not unused, unused  # old code: the 17 command modules, prometheus_client, ssl, urllib, email...


def test_lean_imports_give_the_same_digests_and_leave_ssl_importable():
    code = ("import sys\n"
            "from agent.lean import asyncio_without_tls, hashlib_without_openssl\n"
            "hashlib_without_openssl(); asyncio_without_tls()\n"
            "import hashlib, asyncio\n"
            "assert '_hashlib' not in sys.modules and 'ssl' not in sys.modules\n"
            "print(hashlib.sha256(b'hwagent').hexdigest(), hashlib.sha1(b'hwagent').hexdigest())\n"
            "import ssl, urllib.request\n"  # anything may still import ssl later
            "print(ssl.create_default_context().protocol)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    import hashlib

    assert r.stdout.split()[:2] == [hashlib.sha256(b"hwagent").hexdigest(), hashlib.sha1(b"hwagent").hexdigest()]
