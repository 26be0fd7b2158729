"""The metrics server under idle, slowloris and hostile clients (loopback only, bounded in time).

The old thread-per-connection server gave 8 slots, waited up to 1 s per queued connection for
one and timed out per ``recv``: 100 idle connections kept a scrape from being answered at all.
"""

from __future__ import annotations

import base64
import socket
import time
from dataclasses import replace

import pytest

from agent.exporter.aserver import Limits
from agent.exporter.http import MetricsRenderer, MetricsServer
from agent.model import Snapshot


def _server(limits=None, web=None):
    snap = replace(Snapshot.empty(), generation=1, hostname="h")
    kw = {"limits": limits} if limits else {}
    srv = MetricsServer("127.0.0.1:0", MetricsRenderer(lambda: snap), lambda: {"ok": True}, lambda: True,
                        web=web, **kw)
    srv.start()
    return srv


def _connect(port, src="127.0.0.1", timeout=5.0):
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def _get(port, path="/metrics", src="127.0.0.1", headers=(), timeout=5.0) -> tuple[int, bytes]:
    s = _connect(port, src, timeout)
    try:
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else 0
    return status, data


def test_idle_and_slowloris_connections_do_not_stop_scrapes():
    srv = _server()
    held = []
    try:
        # 100 idle + 100 slowloris, spread over 20 client addresses (under the per-client cap)
        for i in range(200):
            s = _connect(srv.port, src=f"127.0.1.{i % 20 + 1}")
            if i % 2:
                s.sendall(b"GET /metrics HTTP/1.1\r\nX-a: ")
            held.append(s)
        times = []
        for _ in range(10):
            t0 = time.monotonic()
            status, body = _get(srv.port, timeout=3.0)
            times.append(time.monotonic() - t0)
            assert status == 200 and b"hwagent_build_info" in body
            for s in held[1::2][:20]:
                s.send(b"a")  # the slowloris trickle
        assert max(times) < 1.0, times
    finally:
        for s in held:
            s.close()
        srv.stop()


def test_header_deadline_is_per_request_not_per_read():
    srv = _server(Limits(header_timeout=1.0))
    try:
        s = _connect(srv.port)
        s.sendall(b"GET /metrics HTTP/1.1\r\n")
        t0 = time.monotonic()
        got = b""
        while time.monotonic() - t0 < 5:
            try:
                s.sendall(b"X")  # one byte every 0.2 s: each read is quick, the whole is not
            except OSError:
                break
            s.settimeout(0.2)
            try:
                chunk = s.recv(1024)
            except socket.timeout:
                continue
            got += chunk
            if not chunk or b"\r\n\r\n" in got:
                break
        assert got.startswith(b"HTTP/1.1 408"), got
        assert time.monotonic() - t0 < 2.5
        s.close()
    finally:
        srv.stop()


def test_connections_per_client_are_capped():
    srv = _server(Limits(per_client=4))
    held = [_connect(srv.port, src="127.0.0.7") for _ in range(4)]
    try:
        time.sleep(0.2)
        extra = _connect(srv.port, src="127.0.0.7")
        extra.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
        try:
            assert extra.recv(100) == b""  # closed without an answer
        except ConnectionResetError:
            pass
        extra.close()
        assert srv.server.refused_connections >= 1
        assert _get(srv.port, src="127.0.0.8")[0] == 200  # other clients are served
        for s in held:
            s.close()
        time.sleep(0.2)
        assert _get(srv.port, src="127.0.0.7")[0] == 200  # and the capped one again once it let go
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def auth_web():
    import bcrypt

    from agent.exporter.webconfig import WebConfig

    return WebConfig(users={"prom": bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4))})


def _basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_auth_is_checked_when_headers_complete(auth_web):
    """A client announcing a 1 MB body gets its 401 before sending any of it."""
    srv = _server(web=auth_web)
    try:
        s = _connect(srv.port)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 401")
        s.close()
        assert _get(srv.port, headers=[("Authorization", _basic("prom", "s3cret"))])[0] == 200
        # RFC 7617: the scheme is case-insensitive
        assert _get(srv.port, headers=[("Authorization", _basic("prom", "s3cret").lower()[:6]
                                        + _basic("prom", "s3cret")[6:])])[0] == 200
    finally:
        srv.stop()


def test_bad_requests_get_clean_errors():
    srv = _server()
    try:
        for raw, code in [(b"GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n", 400),
                          (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
                          (b"GET /metrics HTTP/2.0\r\n\r\n", 505),
                          (b"GET /metrics HTTP/1.1\r\n" + b"X-a: b\r\n" * 5000 + b"\r\n", 431),
                          (b"DELETE /metrics HTTP/1.1\r\n\r\n", 405),
                          (b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
                          (b"GET /metrics HTTP/1.1\r\nContent-Length: 9999999\r\n\r\n", 413)]:
            s = _connect(srv.port)
            try:
                s.sendall(raw)
            except OSError:
                pass
            data = s.recv(200)
            s.close()
            assert data.startswith(b"HTTP/1.1 %d" % code), (raw[:40], data)
        # keep-alive: two requests on one connection
        s = _connect(srv.port)
        s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\nGET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
        assert s.recv(4096).count(b"HTTP/1.1 200") == 2
        s.close()
    finally:
        srv.stop()


def test_slow_readers_cannot_hold_unbounded_response_bytes():
    """Clients that request /metrics and never read: queued bytes stay within the write budget,
    and a normal scrape is answered once a slow reader's write deadline frees the budget."""
    from agent.model import HwmonSensor
    from types import MappingProxyType

    readings = tuple(HwmonSensor(chip=f"c{i}", chip_name="n", sensor="temp1", kind="temp", label="x" * 200,
                                 value=1.0) for i in range(3000))
    snap = replace(Snapshot.empty(), readings=MappingProxyType({"hwmon": readings}), generation=1)
    renderer = MetricsRenderer(lambda: snap)
    size = len(renderer.render())
    srv = MetricsServer("127.0.0.1:0", renderer, dict, limits=Limits(write_budget=size + 4096, write_timeout=1.5))
    srv.start()
    slow = []
    try:
        for i in range(6):
            s = _connect(srv.port, src=f"127.0.3.{i + 1}")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            slow.append(s)
        time.sleep(0.5)
        assert srv.server._inflight <= size + 4096 + 1024  # one response at a time, not six
        t0 = time.monotonic()
        status, body = _get(srv.port, timeout=10)
        assert status == 200 and len(body) > size
        assert time.monotonic() - t0 < 8
    finally:
        for s in slow:
            s.close()
        srv.stop()
