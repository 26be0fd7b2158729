"""The one client of the status service's API, used by `agent incident`, `agent availability`,
`agent statuspage heartbeat`, `agent baseline fetch` and runbook ``notify`` steps. Stdlib only (a
monitored server never imports the service's web stack). Every mutating call sends an
``Idempotency-Key`` and retries connection failures and 503 with the same key, so a flaky phone
connection or a resumed runbook never doubles an update.

Where to: ``HWAGENT_STATUS_URL`` and ``HWAGENT_STATUS_TOKEN`` (or ``HWAGENT_STATUS_TOKEN_FILE``),
else ``[notify] url`` and ``token``/``token_file``, else ``statuspage.public_url`` and its token.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any


class ClientError(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class StatusClient:
    def __init__(self, url: str, token: str, *, timeout: float = 15.0, retries: int = 3, retry_delay: float = 1.0):
        if not url:
            raise ClientError("no status service URL: set HWAGENT_STATUS_URL or statuspage.public_url")
        if not token:
            raise ClientError("no token: set HWAGENT_STATUS_TOKEN / HWAGENT_STATUS_TOKEN_FILE or statuspage.token_file")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = retry_delay

    @classmethod
    def from_env(cls, cfg=None, url: str | None = None, token: str | None = None, **kw) -> "StatusClient":
        """``cfg``: the whole config (``[notify]`` first, then ``[statuspage]``) or one section."""
        notify, sp = _sections(cfg)
        url = url or os.environ.get("HWAGENT_STATUS_URL") or (notify.url if notify is not None and notify.url else "") \
            or (sp.public_url if sp is not None else "")
        token = token or _env_token()
        if not token and notify is not None:
            token = read_token_file(notify.token_file) if notify.token_file else notify.token
            kw.setdefault("timeout", notify.timeout_seconds)
        if not token and sp is not None:
            token = sp.read_token()
        return cls(url, token, **kw)

    def request(self, method: str, path: str, body: Any = None, *, query: dict | None = None,
                idempotency_key: str | None = None, raw: bytes | None = None, content_type: str = "",
                text: bool = False) -> Any:
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v not in (None, "")})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = self._headers(method, data is not None, content_type, idempotency_key)
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.retry_delay * attempt)
            req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - configured URL
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                    payload = resp.read()
                    return payload if text else json.loads(payload or b"null")
            except urllib.error.HTTPError as exc:
                msg = _error_text(exc)
                if exc.code == 503 and attempt < self.retries:
                    last = ClientError(f"{method} {path}: HTTP 503 {msg}", 503)
                    continue
                raise ClientError(f"{method} {path}: HTTP {exc.code}: {msg or exc.reason}", exc.code) from None
            except (urllib.error.URLError, OSError) as exc:
                last = ClientError(f"{self.url}: cannot reach the status service ({getattr(exc, 'reason', exc)})")
            except ValueError:
                raise ClientError(f"{method} {path}: the answer is not JSON (is {self.url} the status service?)") from None
        raise last or ClientError("request failed")

    def _headers(self, method: str, has_body: bool, content_type: str, idempotency_key: str | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json", "User-Agent": "hwagent-cli"}
        if has_body:
            headers["Content-Type"] = content_type or "application/json"
        if method != "GET":  # the service replays a retried POST/PUT instead of doing it twice
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        return headers

    # convenience
    def open(self, key: str | None = None, **fields) -> dict:
        return self.request("POST", "/api/incidents", fields, idempotency_key=key)

    def update(self, incident_id: int, key: str | None = None, **fields) -> dict:
        return self.request("POST", f"/api/incidents/{incident_id}/updates", fields, idempotency_key=key)

    def resolve(self, incident_id: int, key: str | None = None, **fields) -> dict:
        return self.request("POST", f"/api/incidents/{incident_id}/resolve", fields, idempotency_key=key)

    def publish(self, incident_id: int) -> dict:
        return self.request("POST", f"/api/incidents/{incident_id}/publish", {})

    def edit(self, incident_id: int, update_id: int, message: Any) -> dict:
        return self.request("PATCH", f"/api/incidents/{incident_id}/updates/{update_id}", {"message": message})

    def list(self, all_: bool = False) -> list[dict]:
        return self.request("GET", "/api/incidents", query={"all": "1" if all_ else None})["incidents"]

    def get(self, incident_id: int) -> dict:
        return self.request("GET", f"/api/incidents/{incident_id}")

    def availability(self, service: str | None = None, month: str | None = None, year: str | None = None) -> dict:
        return self.request("GET", "/api/availability", query={"service": service, "month": month, "year": year})

    def heartbeat(self, host: str, boot_id: str, boot_time: float | None = None) -> dict:
        return self.request("POST", "/api/heartbeat", {"host": host, "boot_id": boot_id, "boot_time": boot_time})

    def host_notify(self, host: str, state: str, *, eta_seconds: float | None = None, run_id: str = "", step: str = "",
                    author: str = "") -> dict:
        """A runbook notify step: the service attaches it to the host's open incident (Contract C)."""
        body: dict[str, Any] = {"state": state, "run_id": run_id, "step": step, "author": author}
        if eta_seconds is not None:
            body["eta_seconds"] = round(float(eta_seconds))
        key = f"{run_id}:{step}" if run_id and step else None
        return self.request("POST", f"/api/hosts/{urllib.parse.quote(host, safe='')}/notify", body, idempotency_key=key)

    def put_host_document(self, host: str, kind: str, body: bytes | str) -> dict:
        """Contract B: store the host's ``baseline`` (JSON) or ``checklist`` (markdown) off-host."""
        raw = body.encode() if isinstance(body, str) else body
        ctype = "application/json" if kind == "baseline" else "text/markdown; charset=utf-8"
        return self.request("PUT", f"/api/hosts/{urllib.parse.quote(host, safe='')}/{kind}", raw=raw, content_type=ctype,
                            idempotency_key="put:" + hashlib.sha256(raw).hexdigest()[:32])

    def get_host_document(self, host: str, kind: str) -> bytes:
        return self.request("GET", f"/api/hosts/{urllib.parse.quote(host, safe='')}/{kind}", text=True)


def _sections(cfg: Any) -> tuple[Any, Any]:
    """([notify], [statuspage]) of the whole config, or the one section given (either may be None)."""
    if cfg is None:
        return None, None
    if not hasattr(cfg, "section"):
        return (cfg, None) if hasattr(cfg, "url") else (None, cfg)
    found = []
    for name in ("notify", "statuspage"):
        try:
            found.append(cfg.section(name))
        except Exception:  # noqa: BLE001 - a config without the section
            found.append(None)
    return found[0], found[1]


def _env_token() -> str:
    """HWAGENT_STATUS_TOKEN, else the first line of HWAGENT_STATUS_TOKEN_FILE, else ""."""
    token = os.environ.get("HWAGENT_STATUS_TOKEN", "")
    if not token and os.environ.get("HWAGENT_STATUS_TOKEN_FILE"):
        path = os.environ["HWAGENT_STATUS_TOKEN_FILE"]
        try:
            token = Path(path).read_text(encoding="utf-8").strip().splitlines()[0]
        except (OSError, IndexError) as exc:
            raise ClientError(f"HWAGENT_STATUS_TOKEN_FILE {path}: cannot read a token ({exc})") from None
    return token


def _error_text(exc: urllib.error.HTTPError) -> Any:
    """The service's JSON ``error`` of a refused request ("" when the body is not that)."""
    try:
        return json.loads(exc.read()).get("error", "")
    except (ValueError, AttributeError):
        return ""


def read_token_file(path: str) -> str:
    try:
        lines = Path(path).read_text(encoding="utf-8").strip().splitlines()
    except OSError as exc:
        raise ClientError(f"{path}: cannot read the token ({exc.strerror or exc})") from None
    return lines[0].strip() if lines else ""


def put_host_document(host: str, kind: str, body: bytes | str, cfg=None) -> dict:
    """Contract B client function (the export timer's ``statuspage`` target calls this)."""
    return StatusClient.from_env(cfg).put_host_document(host, kind, body)


def get_host_document(host: str, kind: str, cfg=None) -> bytes:
    return StatusClient.from_env(cfg).get_host_document(host, kind)
