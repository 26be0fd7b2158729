"""Web config (exporter-toolkit format): basic auth oracle, caching, validation at load."""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess
import time

import bcrypt
import pytest

from agent.exporter.webconfig import WebConfig, WebConfigError, load_web_config


def basic(user: str, password: str | bytes, scheme: str = "Basic") -> str:
    pw = password if isinstance(password, bytes) else password.encode()
    return f"{scheme} " + base64.b64encode(user.encode() + b":" + pw).decode()


@pytest.fixture(scope="module")
def web():
    return WebConfig(users={"prom": bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=10))})


@pytest.mark.parametrize("user", ["prom", "nobody"])
def test_long_password_is_refused_the_same_for_known_and_unknown_users(web, user):
    # the unknown-user path used to raise ValueError (password > 72 bytes) -> connection dropped
    assert web.check_basic(basic(user, "x" * 100)) is False
    assert web.check_basic(basic(user, "é" * 40)) is False  # 80 bytes in UTF-8


def test_a_password_agreeing_in_72_bytes_is_not_accepted():
    pw = b"p" * 72
    w = WebConfig(users={"prom": bcrypt.hashpw(pw, bcrypt.gensalt(rounds=4))})
    assert w.check_basic(basic("prom", pw)) is True
    assert w.check_basic(basic("prom", pw + b"extra")) is False


def test_scheme_is_case_insensitive(web):
    assert web.check_basic(basic("prom", "s3cret", "basic")) is True
    assert web.check_basic(basic("prom", "s3cret", "BASIC")) is True
    assert web.check_basic(basic("prom", "s3cret", "Bearer")) is False


def _timed(fn, *a):
    t0 = time.perf_counter()
    fn(*a)
    return time.perf_counter() - t0


def test_failed_checks_are_cached_and_unknown_users_cost_the_same(web):
    first = _timed(web.check_basic, basic("prom", "wrong-1"))
    again = _timed(web.check_basic, basic("prom", "wrong-1"))
    assert web.cached_result(basic("prom", "wrong-1")) is False
    assert again < first / 10, (first, again)
    unknown = _timed(web.check_basic, basic("nobody-1", "x"))
    # the dummy hash has the configured cost (10), not a fixed one: the same order of time
    assert unknown > first / 3, (first, unknown)
    assert web.dummy_hash().startswith(b"$2b$10$")
    w12 = WebConfig(users={"a": b"$2b$12$" + b"a" * 53})
    assert w12.dummy_hash().startswith(b"$2b$12$")


def test_bcrypt_is_serialised(web):
    import threading

    seen, active, lock = [], [0], threading.Lock()
    real = bcrypt.checkpw

    def counting(pw, h):
        with lock:
            active[0] += 1
            seen.append(active[0])
        try:
            return real(pw, h)
        finally:
            with lock:
                active[0] -= 1

    bcrypt.checkpw = counting
    try:
        ts = [threading.Thread(target=web.check_basic, args=(basic("prom", f"par-{i}"),)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    finally:
        bcrypt.checkpw = real
    assert len(seen) == 4 and max(seen) == 1


def _write(tmp_path, text):
    p = tmp_path / "web.yml"
    p.write_text(text)
    return p


def test_truncated_hash_is_refused_at_load(tmp_path):
    good = bcrypt.hashpw(b"x", bcrypt.gensalt(rounds=4)).decode()
    assert load_web_config(_write(tmp_path, f"basic_auth_users:\n  a: '{good}'\n")).users
    with pytest.raises(WebConfigError, match="basic_auth_users.a: not a bcrypt hash"):
        load_web_config(_write(tmp_path, f"basic_auth_users:\n  a: '{good[:40]}'\n"))
    with pytest.raises(WebConfigError, match="basic_auth_users.a: not a bcrypt hash"):
        load_web_config(_write(tmp_path, "basic_auth_users:\n  a: '$2y$99$" + "a" * 53 + "'\n"))


@pytest.mark.parametrize("name", ["X-A\\r\\nSet-Cookie", "X A", "X:A", ""])
def test_header_names_are_validated(tmp_path, name):
    with pytest.raises(WebConfigError, match="http_server_config.headers"):
        load_web_config(_write(tmp_path, f'http_server_config:\n  headers:\n    "{name}": v\n'))


def test_header_values_with_line_breaks_are_refused(tmp_path):
    with pytest.raises(WebConfigError, match="http_server_config.headers.X-A: value contains a line break"):
        load_web_config(_write(tmp_path, 'http_server_config:\n  headers:\n    X-A: "a\\r\\nSet-Cookie: x"\n'))


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    d = tmp_path_factory.mktemp("cert")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(d / "k.pem"), "-out", str(d / "c.pem"), "-days", "2",
                    "-subj", "/CN=localhost"], check=True, capture_output=True)
    return d


def _tls(cert, extra: str) -> str:
    return f"tls_server_config:\n  cert_file: {cert}/c.pem\n  key_file: {cert}/k.pem\n{extra}"


def test_cipher_suites_are_applied_or_refused(tmp_path, cert):
    cfg = load_web_config(_write(tmp_path, _tls(cert, "  max_version: TLS12\n  cipher_suites: "
                                                      "[TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n")))
    names = {c["name"] for c in cfg.tls.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert names == {"ECDHE-ECDSA-AES256-GCM-SHA384"}
    with pytest.raises(WebConfigError, match="cipher_suites: unknown or unsupported suite 'TLS_FOO'"):
        load_web_config(_write(tmp_path, _tls(cert, "  cipher_suites: [TLS_FOO]\n")))


def test_curve_preferences_are_applied_or_refused(tmp_path, cert):
    assert load_web_config(_write(tmp_path, _tls(cert, "  curve_preferences: [CurveP384]\n"))).tls
    with pytest.raises(WebConfigError, match="curve_preferences: only one curve"):
        load_web_config(_write(tmp_path, _tls(cert, "  curve_preferences: [X25519, CurveP256]\n")))
    with pytest.raises(WebConfigError, match="curve_preferences: unknown curve 'P256'"):
        load_web_config(_write(tmp_path, _tls(cert, "  curve_preferences: [P256]\n")))


def test_require_any_client_cert_without_ca_is_refused_at_load(tmp_path, cert):
    with pytest.raises(WebConfigError, match="RequireAnyClientCert .* is not supported; give client_ca_file"):
        load_web_config(_write(tmp_path, _tls(cert, "  client_auth_type: RequireAnyClientCert\n")))
    with pytest.raises(WebConfigError, match="client_ca_file: required"):
        load_web_config(_write(tmp_path, _tls(cert, "  client_auth_type: RequireAndVerifyClientCert\n")))
    cfg = load_web_config(_write(tmp_path, _tls(cert, "  client_auth_type: RequireAnyClientCert\n"
                                                      f"  client_ca_file: {cert}/c.pem\n")))
    assert cfg.tls.verify_mode == ssl.CERT_REQUIRED


def test_failed_tls_handshakes_log_one_line_rate_limited(cert, caplog):
    import logging
    import socket

    from agent.exporter.http import MetricsRenderer, MetricsServer
    from agent.model import Snapshot

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(str(cert / "c.pem"), str(cert / "k.pem"))
    srv = MetricsServer("127.0.0.1:0", MetricsRenderer(Snapshot.empty), dict, web=WebConfig(tls=tls))
    srv.start()
    try:
        with caplog.at_level(logging.DEBUG, logger="hwagent"):
            for _ in range(5):
                s = socket.create_connection(("127.0.0.1", srv.port), 5)
                s.sendall(b"GET / HTTP/1.1\r\n\r\n")  # plain HTTP to the TLS port
                try:
                    s.recv(100)
                except OSError:
                    pass
                s.close()
            time.sleep(0.3)
        lines = [r for r in caplog.records if "TLS handshake" in r.getMessage()]
        assert len(lines) == 1 and "\n" not in lines[0].getMessage() and not lines[0].exc_info
        assert srv.server.tls_failures.count == 5
    finally:
        srv.stop()


def test_non_utf8_web_config_is_a_web_config_error(tmp_path):
    """Found by fuzzing: a web config that is not UTF-8 raised UnicodeDecodeError."""
    p = tmp_path / "web.yml"
    p.write_bytes(b"basic_auth_users:\n  \x80: x\n")
    with pytest.raises(WebConfigError, match="not UTF-8 text"):
        load_web_config(p)
