"""Ask the running daemon for its status (``/status.json`` on ``[exporter] listen``): `agent
status` and the recovery runbooks' monitoring check use it; the daemon itself never imports it."""

from __future__ import annotations

import json


def query_daemon(listen: str, timeout: float = 3.0) -> dict | None:
    from agent.exporter.http import parse_listen  # noqa: PLC0415

    host, port = parse_listen(listen)
    if host in ("0.0.0.0", "::", ""):  # noqa: S104
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    import time  # noqa: PLC0415
    import urllib.error  # noqa: PLC0415 - only when asking a daemon (agent run does not need it)
    import urllib.request  # noqa: PLC0415

    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/status.json", timeout=timeout) as resp:  # noqa: S310
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 503 and time.monotonic() < deadline:  # daemon starting: wait for its first cycle
                time.sleep(0.5)
                continue
            return None
        except (urllib.error.URLError, OSError, ValueError):
            return None
