"""Support code for the status service end-to-end tests: start `hwstatus serve` as a subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

TOKEN = "e2e-token-5f2a9c"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp: Path, port: int = 0, **extra) -> Path:
    (tmp / "token").write_text(TOKEN + "\n")
    lines = ["[statuspage]", f'listen = "127.0.0.1:{port}"', f'token_file = "{tmp / "token"}"',
             f'database = "{tmp / "status.db"}"', 'title = "Example Hosting status"',
             'timezone = "Europe/Berlin"']
    for key, value in extra.items():
        lines.append(f"{key} = {json.dumps(value)}")
    lines += ["", "[statuspage.services.web]", 'name = "Web hosting"', 'hosts = ["server-3"]',
              "", "[statuspage.services.mail]", 'name = "Mail"', 'hosts = ["server-3"]', ""]
    cfg = tmp / "statuspage.toml"
    cfg.write_text("\n".join(lines))
    return cfg


class Service:
    def __init__(self, cfg: Path, env: dict | None = None):
        self.proc = subprocess.Popen([sys.executable, "-m", "hwstatus", "--config", str(cfg), "serve"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env or dict(os.environ))
        line = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            m = re.search(rb"listening on (http://127\.0\.0\.1:\d+)", line)
            if m:
                self.base = m.group(1).decode()
                break
            if not line and self.proc.poll() is not None:
                raise AssertionError(f"statuspage exited {self.proc.returncode}: {self.proc.stderr.read().decode()}")
        else:
            raise AssertionError(f"statuspage did not start: {line!r}")
        # keep reading its log: an undrained pipe fills up and blocks the service mid-test
        self.log: list[str] = []
        self._drain = threading.Thread(target=self._read_log, daemon=True)
        self._drain.start()

    def _read_log(self) -> None:
        for raw in iter(self.proc.stderr.readline, b""):
            self.log.append(raw.decode("utf-8", "replace"))
            del self.log[:-2000]

    def request(self, method: str, path: str, body=None, token: str | None = TOKEN, headers: dict | None = None):
        data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        if data is not None and not req.has_header("Content-type"):
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    def json(self, method: str, path: str, body=None, **kw):
        status, data, _ = self.request(method, path, body, **kw)
        return status, json.loads(data)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise
        self.proc.stdout.close()
        self._drain.join(5)
        self.proc.stderr.close()
        return self.proc.returncode


def cli(args: list[str], env_extra: dict, timeout: float = 60, prog: str = "agent") -> subprocess.CompletedProcess:
    env = dict(os.environ, **env_extra)
    return subprocess.run([sys.executable, "-m", prog, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def hwstatus(cfg, args: list[str], env_extra: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """The status service's own command with its own config file."""
    return cli(["--config", str(cfg), *args], env_extra or {}, timeout, prog="hwstatus")


def wait_for(fn, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            return v
        time.sleep(interval)
