"""Helper processes of the VM suite (status service, Alertmanager, Prometheus, the BMC simulator):
waiting until one answers over HTTP, and stopping one."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from typing import Callable


def wait_http_ready(proc: subprocess.Popen, url: str, name: str, log_tail: Callable[[], str], timeout: float,
                    interval: float = 0.3) -> None:
    """Return once ``url`` answers 2xx; raise RuntimeError (with the log tail) if the process exits
    first or nothing answers within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited rc={proc.returncode}: {log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - loopback test service
                if 200 <= r.status < 300:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(interval)
    raise RuntimeError(f"{name} not ready within {timeout:.0f}s: {log_tail()}")


def stop_process(proc: subprocess.Popen | None, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; reaps the process."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
