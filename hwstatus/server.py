"""The HTTP server (waitress) and the background loop of the status service."""

from __future__ import annotations

import logging
import threading
import time

from hwstatus import page
from hwstatus.app import StatusApp
from hwstatus.http import parse_listen
from hwstatus.store import StoreBusy

log = logging.getLogger("hwstatus")

# ---- server ------------------------------------------------------------------------------------------
# waitress (a production WSGI server, pure Python): bounded worker threads and connections, idle
# connections closed after statuspage.idle_timeout_seconds, a deadline per request for its head
# (statuspage.header_timeout_seconds) and body (statuspage.body_timeout_seconds) so that clients
# trickling bytes cannot hold the connection slots (hwstatus/deadlines.py), header and body size
# limits, no Server header naming the software or the Python version.


class Server:
    """The HTTP server (waitress) plus the background loop (dead-man switch, holds, notices, page, pruning)."""

    def __init__(self, app: StatusApp, listen: str, *, interval: float = 2.0):
        import waitress  # noqa: PLC0415 - the status service's web stack, only here
        from waitress.server import BaseWSGIServer  # noqa: PLC0415

        from hwstatus import deadlines  # noqa: PLC0415 - imports waitress

        host, port = parse_listen(listen)
        cfg = app.cfg
        self.app = app
        socket_map: dict = {}
        self.httpd = waitress.create_server(
            app, map=socket_map, host=host, port=port, threads=cfg.threads, connection_limit=cfg.connection_limit,
            channel_timeout=cfg.idle_timeout_seconds, cleanup_interval=max(1, min(10, int(cfg.idle_timeout_seconds // 3))),
            max_request_header_size=16 * 1024, max_request_body_size=cfg.max_body_bytes, ident="",
            clear_untrusted_proxy_headers=False, expose_tracebacks=False, asyncore_use_poll=True,
            asyncore_loop_timeout=1)  # the poll loop's wake-up: deadlines are enforced within it
        self.listeners = [obj for obj in socket_map.values() if isinstance(obj, BaseWSGIServer)]
        deadlines.install(self.listeners, header_timeout=cfg.header_timeout_seconds, body_timeout=cfg.body_timeout_seconds)
        self.interval = interval
        self._stop = threading.Event()
        self._bg = threading.Thread(target=self._loop, name="statuspage-bg", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        return str(self.httpd.effective_host), int(self.httpd.effective_port)

    def _loop(self) -> None:
        last_render = last_prune = 0.0
        while not self._stop.wait(self.interval):
            try:
                self.app.service.check_heartbeats()
                self.app.service.tick()
                self.app.dispatcher.run_once()
                now = time.monotonic()
                if self.app.cfg.output_dir and now - last_render > 300:
                    page.write_dir(self.app.service, self.app.cfg.output_dir)  # day bars roll over
                    last_render = now
                if now - last_prune > 3600:
                    self.app.store.prune(self.app.service.clock())
                    last_prune = now
            except StoreBusy as exc:
                log.warning("background: %s", exc)
            except Exception:  # noqa: BLE001 - keep serving
                log.exception("background loop failed; continuing")

    def start_background(self) -> None:
        self._bg.start()

    def serve_forever(self) -> None:
        self.start_background()
        if self.app.cfg.output_dir:
            page.write_dir(self.app.service, self.app.cfg.output_dir)
        try:
            self.httpd.run()
        finally:
            self._stop.set()
            self.httpd.close()

    def shutdown(self) -> None:
        self._stop.set()
        self.httpd.close()
