"""Defect 7: the internet-facing server. Idle connections used to be kept forever (254 idle sockets
blocked every customer); `Server:` showed the Python version. Now waitress with bounded connections
and an idle timeout; public files carry ETag/Last-Modified and answer If-None-Match with 304."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest

from tests.e2e.statuspage_support import Service, write_config


@pytest.fixture
def svc(tmp_path):
    s = Service(write_config(tmp_path, idle_timeout_seconds=2.0, connection_limit=20, threads=4))
    yield s
    s.stop()


def test_idle_connections_cannot_lock_customers_out(svc):
    host, port = svc.base.rsplit("/", 1)[1].split(":")
    idle = []
    for _ in range(60):  # three times the connection limit, all silent
        s = socket.create_connection((host, int(port)), timeout=5)
        idle.append(s)
    t0 = time.monotonic()
    with urllib.request.urlopen(svc.base + "/summary.json", timeout=30) as r:  # noqa: S310 - loopback
        assert r.status == 200
    waited = time.monotonic() - t0
    print(f"\nwith 60 idle connections open, a customer's request took {waited:.1f} s")
    assert waited < 15
    closed = 0
    for s in idle:
        s.settimeout(10)
        try:
            closed += s.recv(1) == b""
        except OSError:
            closed += 1
        s.close()
    assert closed == len(idle)  # the server dropped every idle connection


def test_no_software_or_python_version_in_headers_and_real_validators(svc):
    status, body, headers = svc.request("GET", "/en/", token=None)
    assert status == 200
    assert "Server" not in headers and "Python" not in str(headers)
    # (waitress normalises header names: Etag)
    assert headers["Etag"].startswith('"') and headers["Last-Modified"].endswith("GMT")
    status, body2, _ = svc.request("GET", "/en/", token=None, headers={"If-None-Match": headers["Etag"]})
    assert status == 304 and body2 == b""
    status, _, h2 = svc.request("GET", "/summary.json", token=None)
    assert status == 200 and h2["Etag"] != headers["Etag"]
    assert svc.request("GET", "/api/incidents?limit=abc")[0] == 400
