"""exporter-toolkit style web configuration for the metrics/status endpoints.

The file (``--web.config.file``, config ``exporter.web_config_file``) is the YAML that Prometheus
exporters use::

    tls_server_config:
      cert_file: /etc/hwagent/tls.crt
      key_file: /etc/hwagent/tls.key
      min_version: TLS12            # TLS10..TLS13
      client_auth_type: NoClientCert  # or RequireAndVerifyClientCert (+ client_ca_file)
      client_ca_file: /etc/hwagent/ca.crt
    basic_auth_users:
      prometheus: $2y$10$...        # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\\n')
    http_server_config:
      headers: {X-Frame-Options: deny}

Unknown keys are errors naming the key path. Successful password checks are cached (keyed by a
SHA-256 of user and password) so a scrape does not pay bcrypt's cost every time.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

_TLS_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
                 "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_CLIENT_AUTH = {"NoClientCert": ssl.CERT_NONE, "RequestClientCert": ssl.CERT_OPTIONAL,
                "RequireAnyClientCert": ssl.CERT_REQUIRED, "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
                "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}


class WebConfigError(Exception):
    """An invalid web config file; the message names the file and key."""


@dataclass
class WebConfig:
    tls: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash
    headers: Mapping[str, str] = field(default_factory=dict)
    _ok_cache: set[bytes] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check_basic(self, header: str | None) -> bool:
        """True when no users are configured, or the Authorization header matches one."""
        if not self.users:
            return True
        if not header or not header.startswith("Basic "):
            return False
        import base64  # noqa: PLC0415
        import binascii  # noqa: PLC0415

        try:
            user, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        if not sep:
            return False
        key = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        with self._lock:
            if key in self._ok_cache:
                return True
        hashed = self.users.get(user)
        import bcrypt  # noqa: PLC0415

        if hashed is None:
            # same cost as a real check, so a missing user is not distinguishable by timing
            bcrypt.checkpw(password.encode(), _DUMMY_HASH)
            return False
        try:
            ok = bcrypt.checkpw(password.encode(), hashed)
        except ValueError:
            return False
        if ok:
            with self._lock:
                if len(self._ok_cache) > 1000:
                    self._ok_cache.clear()
                self._ok_cache.add(key)
        return ok


_DUMMY_HASH = b"$2b$10$CwTycUXWue0Thq9StjUM0uJ8DZ9e0eGp0Wc3V4Jm6r0wVvP3cG5bK"


def _check_keys(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for k in data:
        if k not in allowed:
            raise WebConfigError(f"{where}{k}: unknown key (known: {', '.join(sorted(allowed))})")


def load_web_config(path: str | Path) -> WebConfig:
    import yaml  # noqa: PLC0415

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except FileNotFoundError:
        raise WebConfigError(f"{p}: no such file") from None
    except OSError as exc:
        raise WebConfigError(f"{p}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise WebConfigError(f"{p}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise WebConfigError(f"{p}: expected a mapping at the top level")
    try:
        _check_keys(data, {"tls_server_config", "basic_auth_users", "http_server_config"}, "")
        cfg = WebConfig()
        tls = data.get("tls_server_config") or {}
        if tls:
            _check_keys(tls, {"cert_file", "key_file", "min_version", "max_version", "client_auth_type",
                              "client_ca_file", "cipher_suites", "prefer_server_cipher_suites",
                              "curve_preferences"}, "tls_server_config.")
            if not tls.get("cert_file") or not tls.get("key_file"):
                raise WebConfigError("tls_server_config: cert_file and key_file are required")
            base = p.parent
            cert = base / tls["cert_file"]
            key = base / tls["key_file"]
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = _TLS_VERSIONS.get(tls.get("min_version", "TLS12"), None) or _bad(
                "tls_server_config.min_version", tls.get("min_version"))
            if tls.get("max_version"):
                ctx.maximum_version = _TLS_VERSIONS.get(tls["max_version"]) or _bad(
                    "tls_server_config.max_version", tls["max_version"])
            try:
                ctx.load_cert_chain(str(cert), str(key))
            except (OSError, ssl.SSLError) as exc:
                raise WebConfigError(f"tls_server_config: cannot load {cert} / {key}: {exc}") from None
            auth = tls.get("client_auth_type", "NoClientCert")
            if auth not in _CLIENT_AUTH:
                _bad("tls_server_config.client_auth_type", auth)
            ctx.verify_mode = _CLIENT_AUTH[auth]
            if tls.get("client_ca_file"):
                try:
                    ctx.load_verify_locations(str(base / tls["client_ca_file"]))
                except (OSError, ssl.SSLError) as exc:
                    raise WebConfigError(f"tls_server_config.client_ca_file: {exc}") from None
            cfg.tls = ctx
        users = data.get("basic_auth_users") or {}
        if not isinstance(users, dict):
            raise WebConfigError("basic_auth_users: expected a mapping of user: bcrypt-hash")
        for user, hashed in users.items():
            if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
                raise WebConfigError(f"basic_auth_users.{user}: not a bcrypt hash")
            cfg.users = {**cfg.users, str(user): hashed.replace("$2y$", "$2b$", 1).encode()}
        http = data.get("http_server_config") or {}
        _check_keys(http, {"headers", "http2"}, "http_server_config.")
        hdrs = http.get("headers") or {}
        if not isinstance(hdrs, dict):
            raise WebConfigError("http_server_config.headers: expected a mapping")
        cfg.headers = {str(k): str(v) for k, v in hdrs.items() if "\n" not in str(v) and "\r" not in str(v)}
        return cfg
    except WebConfigError as exc:
        raise WebConfigError(f"{p}: {exc}") from None


def _bad(key: str, value: Any):
    raise WebConfigError(f"{key}: unsupported value {value!r}")


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
