"""Slowloris against the status service: clients that trickle their request head (or body) one byte
at a time used to keep their connection for ever (waitress's channel_timeout is reset by every byte),
so `connection_limit` of them locked every customer out. Now each request has a head and a body
deadline (statuspage.header_timeout_seconds / body_timeout_seconds, hwstatus/deadlines.py).

Real `hwstatus serve` on loopback; every trickler sends one byte every 0.3 s, far inside the idle
timeout, so only the deadline can cut it."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

import pytest

from tests.e2e.statuspage_support import Service, write_config

LIMIT = 12          # connection_limit of the service under test
HEADER_T = 2.0      # header_timeout_seconds
BODY_T = 3.0        # body_timeout_seconds
IDLE_T = 20.0       # idle_timeout_seconds: never reached by a trickler (one byte every 0.3 s)
STEP = 0.3


@pytest.fixture
def svc(tmp_path):
    s = Service(write_config(tmp_path, idle_timeout_seconds=IDLE_T, header_timeout_seconds=HEADER_T,
                             body_timeout_seconds=BODY_T, connection_limit=LIMIT, threads=4))
    yield s
    s.stop()


def _addr(svc):
    host, port = svc.base.rsplit("/", 1)[1].split(":")
    return host, int(port)


class Trickler(threading.Thread):
    """Sends `head` at once, then one byte of `drip` every STEP seconds until the server closes."""

    def __init__(self, addr, head: bytes, drip: bytes, run_for: float):
        super().__init__(daemon=True)
        self.addr, self.head, self.drip, self.run_for = addr, head, drip, run_for
        self.opened = self.cut = None
        self.answer = b""

    def run(self):
        s = socket.create_connection(self.addr, timeout=5)
        self.opened = time.monotonic()
        s.settimeout(STEP)
        try:
            s.sendall(self.head)
            i = 0
            while time.monotonic() - self.opened < self.run_for:
                try:
                    got = s.recv(4096)
                    if not got:
                        self.cut = time.monotonic()
                        return
                    self.answer += got
                except socket.timeout:
                    pass
                s.sendall(self.drip[i % len(self.drip):][:1])
                i += 1
        except OSError:  # reset / broken pipe: cut
            self.cut = time.monotonic()
        finally:
            s.close()


def _wait_connected(threads, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end and any(t.opened is None for t in threads):
        time.sleep(0.02)


def test_header_tricklers_are_cut_at_the_deadline_and_a_customer_is_served(svc):
    addr = _addr(svc)
    # as many tricklers as the connection limit: without a deadline no further connection is accepted
    tricklers = [Trickler(addr, b"GET /en/ HTTP/1.1\r\nHost: x\r\n", b"X-a: b\r\n", run_for=3 * HEADER_T + 6)
                 for _ in range(LIMIT)]
    for t in tricklers:
        t.start()
    _wait_connected(tricklers)
    time.sleep(0.5)  # all of them inside the server
    t0 = time.monotonic()
    with urllib.request.urlopen(svc.base + "/summary.json", timeout=30) as r:  # noqa: S310 - loopback
        assert r.status == 200
    waited = time.monotonic() - t0
    for t in tricklers:
        t.join(30)
    lifetimes = sorted(t.cut - t.opened for t in tricklers if t.cut is not None)
    print(f"\n{LIMIT} header tricklers (limit {LIMIT}): customer served after {waited:.2f} s; {len(lifetimes)} "
          f"tricklers cut after {[round(x, 2) for x in lifetimes]} s (header deadline {HEADER_T} s)")
    assert len(lifetimes) == LIMIT, "a trickler kept its connection past the header deadline"
    # waitress counts its listening socket and wake-up pipe against connection_limit, so the last
    # two tricklers wait in the kernel's accept queue until the first slots are freed and then get
    # their own deadline: they are cut at most one deadline (plus a poll tick) later
    in_time = [x for x in lifetimes if HEADER_T - 0.3 <= x <= HEADER_T + 1.5]
    assert len(in_time) >= LIMIT - 2, lifetimes
    assert lifetimes[0] >= HEADER_T - 0.3 and lifetimes[-1] <= 2 * HEADER_T + 2.0
    assert all(t.answer == b"" for t in tricklers)  # cut, not answered
    # the customer waited at most until the first slots were freed
    assert waited <= HEADER_T + 2.0


def test_customer_is_served_at_once_while_fewer_tricklers_than_the_limit(svc):
    addr = _addr(svc)
    tricklers = [Trickler(addr, b"GET / HTTP/1.1\r\n", b"X-b: c\r\n", run_for=HEADER_T + 4) for _ in range(LIMIT - 4)]
    for t in tricklers:
        t.start()
    _wait_connected(tricklers)
    t0 = time.monotonic()
    with urllib.request.urlopen(svc.base + "/summary.json", timeout=30) as r:  # noqa: S310 - loopback
        assert r.status == 200
    waited = time.monotonic() - t0
    print(f"\n{LIMIT - 4} tricklers: customer served after {waited * 1000:.0f} ms")
    assert waited < 1.0
    for t in tricklers:
        t.join(30)
    assert all(t.cut is not None for t in tricklers)


def test_body_tricklers_are_cut_at_the_body_deadline(svc):
    addr = _addr(svc)
    head = (b"POST /api/incidents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n")
    tricklers = [Trickler(addr, head, b"{", run_for=BODY_T + 6) for _ in range(3)]
    for t in tricklers:
        t.start()
    for t in tricklers:
        t.join(30)
    lifetimes = sorted(t.cut - t.opened for t in tricklers if t.cut is not None)
    print(f"\nbody tricklers cut after {lifetimes} s (body deadline {BODY_T} s)")
    assert len(lifetimes) == 3
    assert BODY_T - 0.3 <= lifetimes[0] and lifetimes[-1] <= BODY_T + 2.0


def test_keep_alive_connection_gets_a_fresh_header_deadline_per_request(svc):
    """The deadline is per request: a client that pauses between requests (shorter than the idle
    timeout) and then sends each request promptly is not cut, even long after the connection opened."""
    s = socket.create_connection(_addr(svc), timeout=10)
    try:
        for _ in range(3):
            s.sendall(b"GET /summary.json HTTP/1.1\r\nHost: x\r\n\r\n")
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += s.recv(4096)
            assert buf.startswith(b"HTTP/1.1 200")
            head, rest = buf.split(b"\r\n\r\n", 1)
            length = int([ln.split(b":")[1] for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")][0])
            while len(rest) < length:
                rest += s.recv(4096)
            time.sleep(HEADER_T + 0.5)  # idle between requests: longer than the header deadline
    finally:
        s.close()
