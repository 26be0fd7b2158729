"""The metrics endpoint behind real TLS and bcrypt basic auth (exporter-toolkit web config)."""

from __future__ import annotations

import base64
import http.client
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import pytest

from agent.exporter.webconfig import WebConfigError, load_web_config

HOSTS = Path(__file__).resolve().parents[1] / "fixtures" / "hosts"
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tls_agent(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "k.pem"),
                    "-out", str(d / "c.pem"), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=10)).decode().replace("$2b$", "$2y$", 1)
    (d / "web.yml").write_text(f"tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n"
                               f"basic_auth_users:\n  prom: '{hashed}'\n"
                               f"http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "agent", "run", "--web.listen-address", f"127.0.0.1:{port}",
                             "--web.config.file", str(d / "web.yml"), "--path.rootfs",
                             str(HOSTS / "synthetic-healthy" / "tree"), "--state-dir", str(d / "st")],
                            stderr=subprocess.PIPE)
    ctx = ssl.create_default_context(cafile=str(d / "c.pem"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode()) from None
            time.sleep(0.1)
    yield port, ctx
    proc.send_signal(signal.SIGTERM)
    proc.wait(15)


def request(port, ctx, path="/metrics", user=None, password=None, raw_path=None):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    headers = {}
    if user is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    conn.request("GET", raw_path or path, headers=headers)
    r = conn.getresponse()
    return r.status, r.read(), dict(r.getheaders())


def test_right_password_over_tls(tls_agent):
    port, ctx = tls_agent
    status, body, headers = request(port, ctx, user="prom", password="s3cret")
    assert status == 200 and b"hwagent_build_info" in body
    assert headers.get("X-Content-Type-Options") == "nosniff"
    # cached verification: a second request succeeds too
    assert request(port, ctx, user="prom", password="s3cret")[0] == 200


@pytest.mark.parametrize("user,password", [(None, None), ("prom", "wrong"), ("nobody", "s3cret"), ("prom", "")])
def test_wrong_credentials_are_refused(tls_agent, user, password):
    port, ctx = tls_agent
    status, body, headers = request(port, ctx, user=user, password=password)
    assert status == 401 and headers.get("WWW-Authenticate", "").startswith("Basic")
    assert b"hwagent_" not in body
    status, body, _ = request(port, ctx, path="/status.json", user=user, password=password)
    assert status == 401


def test_plain_http_to_the_tls_port_gets_nothing(tls_agent):
    port, _ = tls_agent
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    with pytest.raises((http.client.HTTPException, OSError)):
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        assert b"hwagent_" not in r.read()
        raise http.client.HTTPException("answered")


def test_oversized_request_and_methods(tls_agent):
    port, ctx = tls_agent
    status, body, _ = request(port, ctx, raw_path="/" + "a" * 20000, user="prom", password="s3cret")
    assert status == 414 and b"Traceback" not in body
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    conn.request("POST", "/metrics", body=b"x")
    assert conn.getresponse().status in (401, 405)


def test_web_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "w.yml"
    bad.write_text("basic_auth_users:\n  prom: plaintext\n")
    with pytest.raises(WebConfigError, match="basic_auth_users.prom: not a bcrypt hash"):
        load_web_config(bad)
    bad.write_text("tls_server_config:\n  cert_file: nope.pem\n  key_file: nope.key\n")
    with pytest.raises(WebConfigError, match="cannot load"):
        load_web_config(bad)
    bad.write_text("tls_server_conf: {}\n")
    with pytest.raises(WebConfigError, match="tls_server_conf: unknown key"):
        load_web_config(bad)
    with pytest.raises(WebConfigError, match="no such file"):
        load_web_config(tmp_path / "missing.yml")
