"""The /metrics HTTP server: a private registry, rendered output cached per snapshot generation.

Rendering happens at most once per snapshot (the daemon swaps in a new one after each collector
run, and renders it then: :meth:`MetricsRenderer.prerender`), and then only for the families whose
inputs changed (agent.exporter.render); every scrape is served from the cached bytes, gzip-compressed once per generation for clients that
send ``Accept-Encoding: gzip`` (Prometheus does). ``/status.json`` serves the same
snapshot for ``agent status``; ``/-/healthy`` answers 200 while the daemon loop is alive and its
data fresh, else 503 with the reason (starting, loop stalled, stale collectors).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable

from agent.exporter.aserver import AsyncHTTPServer, Limits, Request, Response
from agent.exporter.render import GenerationCache, IncrementalRenderer, gzip_body
from agent.foreground import FOREGROUND
from agent.model import Snapshot

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger("hwagent.http")
CONTENT_TYPE_LATEST = "text/plain; version=0.0.4; charset=utf-8"  # the text format written here


class MetricsRenderer:
    """/metrics bodies: rendered incrementally (agent.exporter.render) at most once per snapshot
    generation, the gzip form compressed at most once per generation, on first demand.

    ``registry`` holds the same metrics for in-process readers (``get_sample_value``)."""

    def __init__(self, get_snapshot: Callable[[], Snapshot], process_metrics: bool = False):
        self._get = get_snapshot
        self._registry: CollectorRegistry | None = None
        self._process: CollectorRegistry | None = None
        if process_metrics:  # opt-in: prometheus_client is imported only then
            from prometheus_client import CollectorRegistry, ProcessCollector  # noqa: PLC0415

            self._process = CollectorRegistry(auto_describe=False)
            ProcessCollector(registry=self._process)
        self._lock = threading.Lock()
        self._incremental = IncrementalRenderer()
        self._cache = GenerationCache()
        self._gzip_wanted = False  # a client asked for gzip: prerender compresses too
        self.renders = 0  # bodies rendered (a new generation each)

    @property
    def registry(self):
        """A prometheus_client registry of the same metrics (every family built from scratch on
        each collect): for in-process readers such as ``get_sample_value``."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry, ProcessCollector  # noqa: PLC0415

            from agent.exporter.collector import SnapshotCollector  # noqa: PLC0415

            reg = CollectorRegistry(auto_describe=False)
            reg.register(SnapshotCollector(self._get))
            if self._process is not None:
                ProcessCollector(registry=reg)
            self._registry = reg
        return self._registry

    @property
    def incremental(self) -> IncrementalRenderer:
        return self._incremental

    def peek(self, gzip: bool = False) -> bytes | None:
        """The body when it is current and needs no work (rendering, compressing), else None."""
        gen, body, gz = self._cache.state
        if self._process is None and gen == self._get().generation:
            return gz if gzip else body
        return None

    def prerender(self) -> None:
        """Render the current snapshot now (and compress it, once a client asked for gzip): the
        daemon calls this after each snapshot swap, so a scrape is answered from the cache on the
        event loop (:meth:`peek`) and no request waits for rendering."""
        if self._process is not None:  # changes on every scrape: rendered per request
            return
        self.render(self._gzip_wanted)

    def render(self, gzip: bool = False) -> bytes:
        if gzip:
            self._gzip_wanted = True
        with self._lock:
            snap = self._get()
            if self._cache.state[0] != snap.generation:
                self._cache.set(snap.generation, self._incremental.render(snap))
                self.renders += 1
            if self._process is not None:  # changes on every scrape: never cached
                from prometheus_client import generate_latest  # noqa: PLC0415

                body = self._cache.state[1] + generate_latest(self._process)
                return gzip_body(body) if gzip else body
            return self._cache.gzipped() if gzip else self._cache.state[1]


def accepts_gzip(header: str | None) -> bool:
    """Accept-Encoding allows gzip (RFC 9110 12.5.3: a q=0 refuses it; ``*`` covers it)."""
    if not header:
        return False
    allowed = {}
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k.strip().lower() == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        allowed[name.strip().lower()] = q
    q = allowed.get("gzip", allowed.get("x-gzip", allowed.get("*", 0.0)))
    return q > 0


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdecimal() or not (0 <= int(port) <= 65535):
        raise ValueError(f"invalid listen address {listen!r}: expected host:port or :port")
    host = host.strip("[]")
    return host or "0.0.0.0", int(port)  # noqa: S104 - like node_exporter, all interfaces by default


_INDEX = (b"<html><head><title>hwagent</title></head><body><h1>hwagent</h1>"
          b"<p><a href=\"/metrics\">Metrics</a> | <a href=\"/status.json\">Status</a></p></body></html>\n")
_UNAUTHORIZED = {"WWW-Authenticate": 'Basic realm="hwagent"'}


class MetricsServer:
    """/metrics, /status.json, /-/healthy and / on an event-driven server (agent.exporter.aserver).

    Rendering, status JSON and uncached password checks run in worker threads (one each), so the
    event loop only moves bytes; a cached render or a cached password answers on the loop itself.
    """

    def __init__(self, listen: str, renderer: MetricsRenderer, status_json: Callable[[], dict],
                 healthy: Callable[[], "bool | tuple[bool, str]"] = lambda: True, web=None,
                 limits: Limits | None = None):
        host, port = parse_listen(listen)
        self.renderer = renderer
        self.status_json = status_json
        self.healthy = healthy
        # the last /metrics answered (unix time, client address): `agent recover` (MB-30) asks
        # whether monitoring scrapes the host again
        self.last_scrape: tuple[float, str] | None = None
        self.web = web
        self.tls = bool(web is not None and web.tls is not None)
        self._render_pool = ThreadPoolExecutor(1, thread_name_prefix="http-render")
        self._auth_pool = ThreadPoolExecutor(1, thread_name_prefix="http-auth")  # bcrypt serialised
        self.server = AsyncHTTPServer(host, port, self._app, tls=web.tls if self.tls else None,
                                      limits=limits or Limits(), extra_headers=web.headers if web else None,
                                      foreground=FOREGROUND)

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        self._render_pool.shutdown(wait=False, cancel_futures=True)
        self._auth_pool.shutdown(wait=False, cancel_futures=True)

    def _status_body(self) -> bytes:
        doc = dict(self.status_json())
        last = self.last_scrape
        doc["last_scrape"] = {"time": last[0], "client": last[1]} if last else None
        return json.dumps(doc, sort_keys=True).encode()

    def _health(self) -> tuple[bool, str]:
        res = self.healthy()
        if isinstance(res, tuple):
            return res
        return (True, "OK") if res else (False, "starting: first collection cycle not complete")

    async def _app(self, req: Request) -> Response:
        loop = asyncio.get_running_loop()
        if self.web is not None and self.web.users:
            header = req.headers.get("authorization")
            ok = self.web.cached_result(header)
            if ok is None:  # not seen before: bcrypt in the (single) auth thread
                ok = await loop.run_in_executor(self._auth_pool, self.web.check_basic, header)
            if not ok:
                return Response(401, b"401 Unauthorized\n", headers=_UNAUTHORIZED)
        if req.method not in ("GET", "HEAD"):
            return Response(405, b"405 Method Not Allowed\n", headers={"Allow": "GET, HEAD"}, close=True)
        path = req.path
        try:
            if path == "/metrics":
                ok, why = self._health()
                if not ok and why.startswith("starting"):
                    # no snapshot yet: a 200 with the two series of an empty one would tell
                    # Prometheus every disk and sensor vanished (absent() alerts); node_exporter
                    # answers only once it can answer fully
                    return Response(503, b"starting: first collection cycle not complete\n",
                                    headers={"Retry-After": "1"})
                gz = accepts_gzip(req.headers.get("accept-encoding"))
                body = self.renderer.peek(gz)
                if body is None:
                    body = await loop.run_in_executor(self._render_pool, self.renderer.render, gz)
                headers = {"Vary": "Accept-Encoding"}
                if gz:
                    headers["Content-Encoding"] = "gzip"
                self.last_scrape = (time.time(), req.peer)
                return Response(200, body, CONTENT_TYPE_LATEST, headers)
            if path == "/status.json":
                ok, why = self._health()
                if not ok and why.startswith("starting"):  # before the first cycle there is nothing to judge
                    return Response(503, b'{"error": "starting: first collection cycle not complete"}\n',
                                    "application/json", {"Retry-After": "5"})
                body = await loop.run_in_executor(self._render_pool, self._status_body)
                return Response(200, body, "application/json")
            if path == "/-/healthy":
                ok, why = self._health()
                return Response(200 if ok else 503, b"OK\n" if ok else f"unhealthy: {why}\n".encode())
            if path == "/":
                return Response(200, _INDEX, "text/html; charset=utf-8")
            return Response(404, b"not found\n")
        except Exception:  # noqa: BLE001 - logged here, never shown to the client
            log.exception("request %s failed", path)
            return Response(500, b"500 Internal Server Error\n")
