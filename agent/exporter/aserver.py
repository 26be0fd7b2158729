"""A small event-driven HTTP/1.1 server (asyncio) for the agent's read-only endpoints.

Why not ``http.server``: a thread per connection with a per-``recv`` timeout lets 200 idle or
slowloris connections (one byte every few seconds) hold every worker, and /metrics stops
answering. Here a connection is a coroutine: an idle one costs a file descriptor and a few KB,
nothing else. Every request has deadlines for the whole header block and the whole body (not per
read, as Go's ``ReadHeaderTimeout``/``ReadTimeout``), the response has a write deadline, each client
address may hold at most ``per_client`` connections and the server ``max_connections`` in all,
and authentication runs as soon as the header block is complete, before anything else is read.

The application is one callable ``app(request) -> Response`` (or an awaitable) run on the loop; a
slow part (rendering, bcrypt) is the application's to push to a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Awaitable, Callable, Mapping

from agent.foreground import MarkingSelector

if TYPE_CHECKING:
    import ssl

    from agent.foreground import Foreground

log = logging.getLogger("hwagent.http")

MAX_REQUEST_LINE = 8192
MAX_HEADER_BYTES = 65536
MAX_HEADERS = 100
MAX_BODY_BYTES = 65536  # the endpoints take no body; a small one is read and dropped
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10.0  # request line + headers, from the first byte (or accept)
    body_timeout: float = 10.0
    write_timeout: float = 30.0
    idle_timeout: float = 60.0  # keep-alive wait for the next request's first byte
    tls_handshake_timeout: float = 10.0
    per_client: int = 32  # connections held at once by one client address
    max_connections: int = 1000
    write_budget: int = 64 * 1024 * 1024  # response bytes being written at once, all clients


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    peer: str

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)
    close: bool = False


class BadRequest(Exception):
    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


App = Callable[[Request], "Response | Awaitable[Response]"]


def error_response(status: int, extra: Mapping[str, str] | None = None) -> Response:
    return Response(status, f"{status} {HTTPStatus(status).phrase}\n".encode(), headers=extra or {}, close=True)


class RateLimitedLog:
    """One log line per ``every`` seconds for a recurring event, with the count of those skipped."""

    def __init__(self, every: float = 60.0):
        self.every = every
        self._last = -1e18
        self._skipped = 0
        self.count = 0

    def __call__(self, msg: str, *args) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._last >= self.every:
            more = f" ({self._skipped} more since the last report)" if self._skipped else ""
            log.warning(msg + more, *args)
            self._last, self._skipped = now, 0
        else:
            self._skipped += 1


class AsyncHTTPServer:
    """Serve ``app`` on ``host:port`` from an event loop in a background thread."""

    def __init__(self, host: str, port: int, app: App, *, tls: ssl.SSLContext | None = None,
                 limits: Limits = Limits(), extra_headers: Mapping[str, str] | None = None,
                 server_name: str = "hwagent", foreground: Foreground | None = None):
        self.app = app
        # each request is marked in flight from its first byte to its last written one: background
        # bulk work (the kernel-log tail in a storm) pauses meanwhile (agent.foreground)
        self.foreground = foreground
        self.tls = tls
        self.limits = limits
        self.extra_headers = dict(extra_headers or {})
        self.server_name = server_name
        self.per_client: dict[str, int] = {}
        self.open_connections = 0
        self.refused_connections = 0
        self.tls_failures = RateLimitedLog()
        self._inflight = 0
        self._budget: asyncio.Condition | None = None  # created on the loop
        # the loop marks itself awake while it has work (agent.foreground.MarkingSelector): the steps before a
        # request is marked (wake-up, accept, the task's first step) go before background bulk work too
        self._loop = asyncio.SelectorEventLoop(MarkingSelector(foreground)) if foreground is not None \
            else asyncio.new_event_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
            self._sock.listen(1024)
        except OSError:
            self._sock.close()
            raise
        self._sock.setblocking(False)
        if foreground is not None:  # a connection waiting to be accepted counts as a request
            foreground.watch(self._sock)
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)
        self._started = threading.Event()

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    def start(self) -> None:
        self._thread.start()
        self._started.wait(10)

    def stop(self) -> None:
        if self.foreground is not None:
            self.foreground.unwatch(self._sock)
        if not self._thread.is_alive():
            self._sock.close()
            return

        async def _halt():
            if self._server is not None:
                self._server.close()
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks(self._loop) if t is not me]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(_halt(), self._loop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._budget = asyncio.Condition()
        self._server = self._loop.run_until_complete(self._loop.create_server(self._protocol, sock=self._sock))
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            self._loop.close()

    # ---- one connection ------------------------------------------------------------------------
    def _protocol(self) -> asyncio.StreamReaderProtocol:
        """What asyncio.start_server builds per accepted connection."""
        reader = asyncio.StreamReader(limit=MAX_REQUEST_LINE + 2, loop=self._loop)
        return asyncio.StreamReaderProtocol(reader, self._connection, loop=self._loop)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if peer else "?"
        held = self.per_client.get(client, 0)
        if held >= self.limits.per_client or self.open_connections >= self.limits.max_connections:
            # refused before reading a byte: one client cannot take the slots of the others
            self.refused_connections += 1
            writer.transport.abort()
            return
        self.per_client[client] = held + 1
        self.open_connections += 1
        try:
            if self.tls is not None:
                import ssl  # noqa: PLC0415 - loaded only when serving TLS (agent run imports asyncio without it)

                try:
                    await writer.start_tls(self.tls, ssl_handshake_timeout=self.limits.tls_handshake_timeout)
                except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
                    self.tls_failures("TLS handshake with %s failed: %s", client,
                                      str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                    writer.transport.abort()
                    return
            await self._serve(reader, writer, client)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            pass  # the client went away or timed out: nothing to answer, the connection is closed below
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a bad connection never takes the server down
            log.exception("connection from %s failed", client)
        finally:
            self.open_connections -= 1
            left = self.per_client.get(client, 1) - 1
            if left <= 0:
                self.per_client.pop(client, None)
            else:
                self.per_client[client] = left
            try:
                writer.close()
            except (OSError, RuntimeError):
                pass  # the transport is already closed by the peer

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: str) -> None:
        first = True
        while True:
            head = b""
            if not first:  # keep-alive: wait (bounded) for the next request's first byte
                try:
                    async with asyncio.timeout(self.limits.idle_timeout):
                        head = await reader.read(1)
                except TimeoutError:
                    return
                if not head:
                    return
            first = False
            fg = self.foreground
            token = fg.enter() if fg is not None else 0
            try:
                if not await self._request(reader, writer, client, head):
                    return
            finally:
                if fg is not None:
                    fg.leave(token)

    async def _request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: str,
                       head: bytes) -> bool:
        """Read, answer and write one request: -> keep the connection for the next one."""
        try:
            async with asyncio.timeout(self.limits.header_timeout):
                req = await self._read_head(reader, client, head)
        except TimeoutError:
            await self._write(writer, error_response(408), "GET")
            return False
        except BadRequest as exc:
            await self._write(writer, error_response(exc.status), "GET")
            return False
        if req is None:
            return False
        result = self.app(req)
        resp = result if isinstance(result, Response) else await result
        if resp.status < 400 or resp.status in (404,):
            try:  # the body (rare: these endpoints take none) after auth, under its own deadline
                async with asyncio.timeout(self.limits.body_timeout):
                    await self._drain_body(reader, req)
            except TimeoutError:
                return False
            except BadRequest as exc:
                resp = error_response(exc.status)
        elif req.headers.get("content-length", "0") != "0" or "transfer-encoding" in req.headers:
            resp.close = True  # refused before its body was read: the stream is not reusable
        keep = self._keep_alive(req) and not resp.close
        if not await self._write(writer, resp, req.method, keep):
            return False
        return keep

    @staticmethod
    def _keep_alive(req: Request) -> bool:
        conn = req.headers.get("connection", "").lower()
        if req.version == "HTTP/1.1":
            return "close" not in conn
        return "keep-alive" in conn

    async def _read_head(self, reader: asyncio.StreamReader, client: str, first: bytes) -> Request | None:
        try:
            line = first + await reader.readline()
        except (ValueError, asyncio.LimitOverrunError):
            raise BadRequest(414) from None
        if not line:
            return None
        if not line.endswith(b"\n"):
            if len(line) >= MAX_REQUEST_LINE:
                raise BadRequest(414)
            return None  # peer closed mid-line
        if len(line) > MAX_REQUEST_LINE:
            raise BadRequest(414)
        parts = line.strip(b"\r\n").split(b" ")
        if len(parts) != 3 or not parts[0] or not all(c in _TOKEN for c in parts[0]):
            raise BadRequest(400)
        method, target, version = (p.decode("latin-1") for p in parts)
        if version not in ("HTTP/1.0", "HTTP/1.1"):
            raise BadRequest(505 if version.startswith("HTTP/") else 400)
        if not target.startswith("/") and target != "*":
            raise BadRequest(400)
        headers: dict[str, str] = {}
        total = len(line)
        for _ in range(MAX_HEADERS + 1):
            try:
                raw = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                raise BadRequest(431) from None
            total += len(raw)
            if total > MAX_HEADER_BYTES:
                raise BadRequest(431)
            if not raw.endswith(b"\n"):
                return None  # closed mid-headers
            raw = raw.rstrip(b"\r\n")
            if not raw:
                return Request(method, target, version, headers, client)
            name, sep, value = raw.partition(b":")
            if not sep or not name or not all(c in _TOKEN for c in name):
                raise BadRequest(400)  # includes obsolete line folding (leading whitespace)
            key = name.decode("ascii").lower()
            val = value.strip(b" \t").decode("latin-1")
            if key in ("content-length", "host") and key in headers and headers[key] != val:
                raise BadRequest(400)
            headers[key] = f"{headers[key]}, {val}" if key in headers and key not in ("content-length", "host") else val
        raise BadRequest(431)

    async def _drain_body(self, reader: asyncio.StreamReader, req: Request) -> None:
        if "transfer-encoding" in req.headers:
            raise BadRequest(411)  # a chunked body on GET/HEAD: refuse rather than parse
        cl = req.headers.get("content-length")
        if cl is None:
            return
        if not cl.isdigit() or len(cl) > 12:
            raise BadRequest(400)
        n = int(cl)
        if n > MAX_BODY_BYTES:
            raise BadRequest(413)
        if n:
            await reader.readexactly(n)

    async def _write(self, writer: asyncio.StreamWriter, resp: Response, method: str, keep: bool = False) -> bool:
        head = [f"HTTP/1.1 {resp.status} {HTTPStatus(resp.status).phrase}",
                f"Server: {self.server_name}",
                f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}",
                f"Content-Type: {resp.content_type}",
                f"Content-Length: {len(resp.body)}"]
        for k, v in {**self.extra_headers, **resp.headers}.items():
            head.append(f"{k}: {v}")
        head.append("Connection: keep-alive" if keep else "Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        body = resp.body if method != "HEAD" else b""
        size = len(data) + len(body)
        reserved = 0
        budget = self._budget
        if budget is None:
            raise RuntimeError("AsyncHTTPServer: a response written before the server started")
        try:
            async with asyncio.timeout(self.limits.write_timeout):
                # responses queued for slow readers are copied into transport buffers: bound their
                # sum, so many clients that never read cannot make the agent hold gigabytes
                async with budget:
                    await budget.wait_for(lambda: self._inflight == 0
                                                or self._inflight + size <= self.limits.write_budget)
                    self._inflight += size
                    reserved = size
                writer.write(data)
                if body:
                    writer.write(body)
                await writer.drain()
        except (TimeoutError, OSError):
            return False
        finally:
            if reserved:
                self._inflight -= reserved
                async with budget:
                    budget.notify_all()
        return True
