"""A small client for the customer status service, used by ``notify`` steps.

Configured in ``[notify]`` (url, token or token_file, service). The first notification of a run
opens an incident (``POST {url}/api/incidents``); later ones add updates to it
(``POST {url}/api/incidents/<id>/updates``), with ``Authorization: Bearer <token>``. The incident
id is kept in the run record, so a resumed run keeps updating the same incident. Without a URL the
step is skipped with a note telling the operator to use the fallback channel; a dry run never
reaches this module.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from agent.recovery.settings import NotifyConfig




@dataclass
class NotifyResult:
    ok: bool
    detail: str
    message_id: str | None = None
    status: int | None = None


class StatusClient:
    def __init__(self, cfg: NotifyConfig, incident_id: str | None = None, opener=None):
        self.cfg = cfg
        self.incident_id = incident_id
        self._open = opener or urllib.request.urlopen

    @property
    def configured(self) -> bool:
        return bool(self.cfg.url)

    def _token(self) -> str:
        if self.cfg.token_file:
            try:
                return Path(self.cfg.token_file).read_text().splitlines()[0].strip()
            except (OSError, IndexError):
                return ""
        return self.cfg.token

    def send(self, *, state: str, message: str, title: str | None = None, service: str | None = None,
             run_id: str = "", step: str = "", author: str = "") -> NotifyResult:
        base = self.cfg.url.rstrip("/")
        svc = service or self.cfg.service
        maintenance = state == "maintenance"  # the service has no such state: a maintenance incident
        if maintenance:
            state = "identified"
        if self.incident_id is None:
            if state == "resolved":
                return NotifyResult(False, "no incident of this run is open to resolve (its opening notify was not "
                                    "sent); resolve it on the status service or through the fallback channel")
            url = f"{base}/api/incidents"
            body = {"services": [svc] if svc else [], "state": state, "message": message,
                    "title": title or message.split(".")[0][:80], "source": f"agent recover {run_id}".strip()}
            if maintenance:
                body["maintenance"] = True
        else:
            url = f"{base}/api/incidents/{self.incident_id}/updates"
            body = {"state": state, "message": message}
        if author:
            body["author"] = author
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self._token()}"}
        if run_id and step:  # a resumed run re-sending the same step is answered from the service's record
            headers["Idempotency-Key"] = f"{run_id}:{step}"
        req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
        try:
            with self._open(req, timeout=self.cfg.timeout_seconds) as resp:
                status = resp.status
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            return NotifyResult(False, f"status service answered HTTP {exc.code} for {url}; use the fallback channel", status=exc.code)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return NotifyResult(False, f"status service {base} unreachable ({reason}); use the fallback channel")
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            data = {}
        ident = data.get("id") if isinstance(data, dict) else None
        if self.incident_id is None and ident is not None:
            self.incident_id = str(ident)
        return NotifyResult(True, f"posted {state} (HTTP {status})", message_id=str(ident) if ident is not None else None,
                            status=status)
