"""Runbook ``notify`` steps over the one status-service client (:mod:`agent.statusclient`).

Contract C: a step sends a state key (investigating, identified, monitoring, resolved,
maintenance) and the ETA from the runbook's own remaining step estimates, never customer prose.
The status service attaches it to the open incident of this host (or opens one), renders the text
from its templates in each subscriber's language, and resolves that same incident, so an alert,
the dead-man switch and the runbook make one incident. Configured in ``[notify]`` (url, token or
token_file). Without a URL the step ends ``skipped`` and the operator is told loudly that customers
were NOT told. A dry run never reaches this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.recovery.settings import NotifyConfig
from agent.statusclient import ClientError, StatusClient as _Client, read_token_file

NOT_TOLD = ("CUSTOMERS WERE NOT TOLD: no status service is configured ([notify] url). Tell them yourself: "
            "`agent incident open` from any machine with the operator token, or the fallback channel.")


@dataclass
class NotifyResult:
    ok: bool
    detail: str
    message_id: str | None = None
    status: int | None = None


class StatusClient:
    """The notifier the executor hands to ``notify`` steps (one per run)."""

    def __init__(self, cfg: NotifyConfig, incident_id: str | None = None, client: _Client | None = None,
                 host: str | None = None):
        self.cfg = cfg
        self.incident_id = incident_id
        self._client = client
        self.host = host

    @property
    def configured(self) -> bool:
        return bool(self.cfg.url) or self._client is not None

    def _api(self) -> _Client:
        if self._client is None:
            token = read_token_file(self.cfg.token_file) if self.cfg.token_file else self.cfg.token
            self._client = _Client(self.cfg.url, token, timeout=self.cfg.timeout_seconds, retries=2)
        return self._client

    def send(self, *, state: str, host: str, eta_seconds: float | None = None, run_id: str = "", step: str = "",
             author: str = "") -> NotifyResult:
        try:
            res = self._api().host_notify(self.host or host, state, eta_seconds=eta_seconds, run_id=run_id, step=step,
                                          author=author)
        except ClientError as exc:
            return NotifyResult(False, f"{exc}; customers were not told: use `agent incident` or the fallback channel",
                                status=exc.status)
        inc = res.get("incident") if isinstance(res, dict) else None
        if inc is None:
            return NotifyResult(state == "resolved", str(res.get("detail") if isinstance(res, dict) else res))
        self.incident_id = str(inc["id"])
        return NotifyResult(True, f"incident {inc['id']}: {state}" + (f" (ETA from the remaining step estimates, "
                                                                      f"{round(eta_seconds / 60)} min)" if eta_seconds else ""),
                            message_id=str(inc["id"]), status=200)
