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

import base64
import binascii
import hashlib
import re
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


_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
BCRYPT_MAX_PASSWORD = 72  # bcrypt uses only the first 72 bytes; longer passwords are refused outright
CACHE_SIZE = 1000


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an Authorization header; the scheme is case-insensitive (RFC 7617)."""
    if not header:
        return None
    scheme, _, cred = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(cred.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (user, password) if sep else None


@dataclass
class WebConfig:
    tls: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash
    headers: Mapping[str, str] = field(default_factory=dict)
    _cache: dict[bytes, bool] = field(default_factory=dict)  # sha256(user, password) -> result
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _bcrypt_lock: threading.Lock = field(default_factory=threading.Lock)
    _dummy: bytes | None = None

    def _key(self, user: str, password: str) -> bytes:
        return hashlib.sha256(f"{user}\0{password}".encode("utf-8", "surrogatepass")).digest()

    def cached_result(self, header: str | None) -> bool | None:
        """The answer check_basic would give, when known without bcrypt (None: bcrypt needed)."""
        if not self.users:
            return True
        cred = parse_basic(header)
        if cred is None:
            return False
        with self._lock:
            return self._cache.get(self._key(*cred))

    def check_basic(self, header: str | None) -> bool:
        """True when no users are configured, or the Authorization header matches one.

        Results, failures included, are cached by a SHA-256 of user and password (as
        exporter-toolkit does), so repeating a wrong password costs no bcrypt; bcrypt calls are
        serialised, so attackers with fresh passwords take one core at most. An unknown user and
        an over-long password pay one bcrypt at the configured cost, like a known one.
        """
        if not self.users:
            return True
        cred = parse_basic(header)
        if cred is None:
            return False
        user, password = cred
        key = self._key(user, password)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        pw = password.encode("utf-8", "surrogatepass")
        hashed = self.users.get(user)
        import bcrypt  # noqa: PLC0415

        with self._bcrypt_lock:
            if hashed is None or len(pw) > BCRYPT_MAX_PASSWORD:
                try:
                    bcrypt.checkpw(pw[:BCRYPT_MAX_PASSWORD], self.dummy_hash())
                except ValueError:
                    pass  # the dummy check only spends the same time as a real one; its result is unused
                ok = False
            else:
                try:
                    ok = bcrypt.checkpw(pw, hashed)
                except ValueError:
                    ok = False
        with self._lock:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = ok
        return ok

    def dummy_hash(self) -> bytes:
        """A valid bcrypt hash at the highest configured cost (so an unknown user costs the same)."""
        if self._dummy is None:
            cost = max((int(h[4:6]) for h in self.users.values()), default=10)
            self._dummy = b"$2b$%02d$" % cost + _DUMMY_TAIL
        return self._dummy


# salt + digest of some password nobody uses; only the cost prefix varies
_DUMMY_TAIL = b"CwTycUXWue0Thq9StjUM0uJ8DZ9e0eGp0Wc3V4Jm6r0wVvP3cG5bK"


def _check_keys(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for k in data:
        if k not in allowed:
            raise WebConfigError(f"{where}{k}: unknown key (known: {', '.join(sorted(allowed))})")


def load_web_config(path: str | Path) -> WebConfig:
    p = Path(path)
    data = _read_yaml(p)
    try:
        _check_keys(data, {"tls_server_config", "basic_auth_users", "http_server_config"}, "")
        if any(not isinstance(k, str) for k in data):
            raise WebConfigError("keys must be strings")
        cfg = WebConfig()
        tls = _mapping(data.get("tls_server_config"), "tls_server_config")
        if tls:
            cfg.tls = _tls_context(tls, p.parent)
        cfg.users = _users(data.get("basic_auth_users") or {})
        cfg.headers = _headers(_mapping(data.get("http_server_config"), "http_server_config"))
        return cfg
    except WebConfigError as exc:
        raise WebConfigError(f"{p}: {exc}") from None


def _read_yaml(p: Path) -> dict[Any, Any]:
    import yaml  # noqa: PLC0415

    try:
        data = yaml.safe_load(p.read_text()) or {}
    except FileNotFoundError:
        raise WebConfigError(f"{p}: no such file") from None
    except OSError as exc:
        raise WebConfigError(f"{p}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise WebConfigError(f"{p}: invalid YAML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise WebConfigError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    if not isinstance(data, dict):
        raise WebConfigError(f"{p}: expected a mapping at the top level")
    return data


def _tls_context(tls: Mapping[str, Any], base: Path) -> ssl.SSLContext:
    """tls_server_config -> the server's TLS context (file names relative to the web config's directory)."""
    for k in ("cert_file", "key_file", "min_version", "max_version", "client_auth_type", "client_ca_file"):
        if k in tls and not isinstance(tls[k], str):
            raise WebConfigError(f"tls_server_config.{k}: expected a string, got {tls[k]!r}")
    _check_keys(tls, {"cert_file", "key_file", "min_version", "max_version", "client_auth_type",
                      "client_ca_file", "cipher_suites", "prefer_server_cipher_suites",
                      "curve_preferences"}, "tls_server_config.")
    if not tls.get("cert_file") or not tls.get("key_file"):
        raise WebConfigError("tls_server_config: cert_file and key_file are required")
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
    if auth in ("RequestClientCert", "RequireAnyClientCert") and not tls.get("client_ca_file"):
        # exporter-toolkit accepts any certificate here without verifying it; Python's TLS
        # can only verify against CAs, so say so rather than refuse every client at run time
        raise WebConfigError(f"tls_server_config.client_auth_type: {auth} (accept an unverified client "
                             "certificate) is not supported; give client_ca_file, or use "
                             "RequireAndVerifyClientCert / VerifyClientCertIfGiven")
    ctx.verify_mode = _CLIENT_AUTH[auth]
    if tls.get("client_ca_file"):
        try:
            ctx.load_verify_locations(str(base / tls["client_ca_file"]))
        except (OSError, ssl.SSLError) as exc:
            raise WebConfigError(f"tls_server_config.client_ca_file: {exc}") from None
    elif ctx.verify_mode != ssl.CERT_NONE:
        raise WebConfigError(f"tls_server_config.client_ca_file: required by client_auth_type {auth}")
    _apply_ciphers(ctx, tls)
    return ctx


def _users(users: Any) -> dict[str, bytes]:
    """basic_auth_users -> user: bcrypt hash ($2y$ read as $2b$)."""
    out: dict[str, bytes] = {}
    if not isinstance(users, dict):
        raise WebConfigError("basic_auth_users: expected a mapping of user: bcrypt-hash")
    for user, hashed in users.items():
        if not isinstance(hashed, str) or not _BCRYPT_HASH.fullmatch(hashed):
            raise WebConfigError(f"basic_auth_users.{user}: not a bcrypt hash ($2y$/$2b$/$2a$, cost 04-31, "
                                 "53 characters of salt and digest)")
        if ":" in str(user):
            raise WebConfigError(f"basic_auth_users.{user}: a user name cannot contain ':'")
        out = {**out, str(user): hashed.replace("$2y$", "$2b$", 1).encode()}
    return out


def _headers(http: Mapping[str, Any]) -> dict[str, str]:
    """http_server_config -> the extra response headers."""
    if "http2" in http and not isinstance(http["http2"], bool):
        raise WebConfigError("http_server_config.http2: expected true or false")
    _check_keys(http, {"headers", "http2"}, "http_server_config.")
    hdrs = http.get("headers") or {}
    if not isinstance(hdrs, dict):
        raise WebConfigError("http_server_config.headers: expected a mapping")
    for k, v in hdrs.items():
        name, value = str(k), str(v)
        if not name or any(c not in _TOKEN_CHARS for c in name):
            raise WebConfigError(f"http_server_config.headers: {name!r} is not a valid header name")
        if name.lower() in _RESERVED_HEADERS:
            raise WebConfigError(f"http_server_config.headers.{name}: set by the server, cannot be configured")
        if any(c in value for c in "\r\n\0"):
            raise WebConfigError(f"http_server_config.headers.{name}: value contains a line break or NUL")
    return {str(k): str(v) for k, v in hdrs.items()}


_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_RESERVED_HEADERS = {"content-length", "content-type", "connection", "transfer-encoding", "date", "server"}

# Go crypto/tls names (what exporter-toolkit's cipher_suites takes) -> OpenSSL names. As in Go,
# the list applies to TLS 1.0-1.2; TLS 1.3 suites are not configurable.
GO_CIPHER_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
}
GO_CURVES = {"CurveP256": "prime256v1", "CurveP384": "secp384r1", "CurveP521": "secp521r1", "X25519": "X25519"}


def _apply_ciphers(ctx: ssl.SSLContext, tls: Mapping[str, Any]) -> None:
    """cipher_suites, curve_preferences and prefer_server_cipher_suites, applied or refused."""
    suites = tls.get("cipher_suites")
    if suites is not None:
        if not isinstance(suites, list) or not suites:
            raise WebConfigError("tls_server_config.cipher_suites: expected a non-empty list of suite names")
        names = []
        for s in suites:
            if not isinstance(s, str) or s not in GO_CIPHER_SUITES:
                raise WebConfigError(f"tls_server_config.cipher_suites: unknown or unsupported suite {s!r} "
                                     f"(known: {', '.join(sorted(GO_CIPHER_SUITES))})")
            names.append(GO_CIPHER_SUITES[s])
        try:
            ctx.set_ciphers(":".join(names))
        except ssl.SSLError as exc:
            raise WebConfigError(f"tls_server_config.cipher_suites: {exc}") from None
    curves = tls.get("curve_preferences")
    if curves is not None:
        if not isinstance(curves, list) or not curves:
            raise WebConfigError("tls_server_config.curve_preferences: expected a non-empty list of curve names")
        for c in curves:
            if not isinstance(c, str) or c not in GO_CURVES:
                raise WebConfigError(f"tls_server_config.curve_preferences: unknown curve {c!r} "
                                     f"(known: {', '.join(GO_CURVES)})")
        if len(curves) > 1:
            # Python's ssl module sets exactly one key-exchange group; a preference order of several
            # cannot be honoured, so it is refused rather than silently reduced
            raise WebConfigError("tls_server_config.curve_preferences: only one curve is supported "
                                 f"(got {len(curves)}); list the one to use")
        try:
            ctx.set_ecdh_curve(GO_CURVES[curves[0]])
        except (ValueError, ssl.SSLError) as exc:
            raise WebConfigError(f"tls_server_config.curve_preferences: {exc}") from None
    prefer = tls.get("prefer_server_cipher_suites")
    if prefer is not None:
        if not isinstance(prefer, bool):
            raise WebConfigError("tls_server_config.prefer_server_cipher_suites: expected true or false")
        if prefer:
            ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        else:
            ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WebConfigError(f"{where}: expected a mapping, got {value!r}")
    return value


def _bad(key: str, value: Any):
    raise WebConfigError(f"{key}: unsupported value {value!r}")
