"""Small HTTP client of the status API (used by `agent incident`, `agent availability` and runbook
``notify`` steps). Stdlib only. Every mutating call sends an ``Idempotency-Key`` and retries
connection failures and 503 with the same key, so a flaky phone connection never doubles an
update.

Where to: ``HWAGENT_STATUS_URL`` and ``HWAGENT_STATUS_TOKEN`` (or ``HWAGENT_STATUS_TOKEN_FILE``),
else ``statuspage.public_url`` and ``statuspage.token``/``token_file`` from the config.
"""

from __future__ import annotations

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
        url = url or os.environ.get("HWAGENT_STATUS_URL") or (cfg.public_url if cfg else "")
        if not token:
            token = os.environ.get("HWAGENT_STATUS_TOKEN", "")
        if not token and os.environ.get("HWAGENT_STATUS_TOKEN_FILE"):
            path = os.environ["HWAGENT_STATUS_TOKEN_FILE"]
            try:
                token = Path(path).read_text(encoding="utf-8").strip().splitlines()[0]
            except (OSError, IndexError) as exc:
                raise ClientError(f"HWAGENT_STATUS_TOKEN_FILE {path}: cannot read a token ({exc})") from None
        if not token and cfg is not None:
            token = cfg.read_token()
        return cls(url, token, **kw)

    def request(self, method: str, path: str, body: Any = None, *, query: dict | None = None,
                idempotency_key: str | None = None) -> Any:
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v not in (None, "")})
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json", "User-Agent": "hwagent-cli"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if method != "GET":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.retry_delay * attempt)
            req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - configured URL
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                    return json.loads(resp.read() or b"null")
            except urllib.error.HTTPError as exc:
                try:
                    msg = json.loads(exc.read()).get("error", "")
                except (ValueError, AttributeError):
                    msg = ""
                if exc.code == 503 and attempt < self.retries:
                    last = ClientError(f"{method} {path}: HTTP 503 {msg}", 503)
                    continue
                raise ClientError(f"{method} {path}: HTTP {exc.code}: {msg or exc.reason}", exc.code) from None
            except (urllib.error.URLError, OSError) as exc:
                last = ClientError(f"{self.url}: cannot reach the status service ({getattr(exc, 'reason', exc)})")
        raise last or ClientError("request failed")

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
