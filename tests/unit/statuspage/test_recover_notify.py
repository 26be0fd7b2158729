"""`agent recover` notify steps (agent/recovery/notify.py) against this API, in process: the
first step opens the incident, later steps post progress, the last resolves it."""

from __future__ import annotations

import io
import json
import urllib.error

import pytest

from tests.unit.statuspage.conftest import TOKEN

import agent.recovery.notify as notify_mod  # noqa: E402
import agent.recovery.settings as settings  # noqa: E402


class _Resp(io.BytesIO):
    def __init__(self, status, body):
        super().__init__(body)
        self.status = status

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def opener_for(h):
    def opener(req, timeout=None):
        path = req.full_url.split("://", 1)[1].split("/", 1)[1]
        r = h.call(req.get_method(), "/" + path, req.data, token=None,
                   headers={"Authorization": req.get_header("Authorization"),
                            **({"Idempotency-Key": req.get_header("Idempotency-key")} if req.get_header("Idempotency-key") else {})})
        if r.status >= 400:
            raise urllib.error.HTTPError(req.full_url, r.status, r.text, {}, io.BytesIO(r.body))
        return _Resp(r.status, r.body)
    return opener


def test_mainboard_swap_notify_steps_post_progress(h):
    cfg = settings.NotifyConfig(url="https://status.example.net", token=TOKEN, service="web")
    client = notify_mod.StatusClient(cfg, opener=opener_for(h))
    res = client.send(state="identified", message="Mainboard of server-3 failed; replacement under way.",
                      run_id="run-20251124-1")
    assert res.ok, res.detail
    iid = int(res.message_id)
    res = client.send(state="identified", message="MB-12: arrays assembled, resync running.")
    assert res.ok, res.detail
    res = client.send(state="monitoring", message="MB-28: services answer again; watching.")
    assert res.ok, res.detail
    res = client.send(state="resolved", message="Server-3 is back on a new mainboard.")
    assert res.ok, res.detail
    inc = h.service.incident(iid)
    assert [u["state"] for u in inc["updates"]] == ["identified", "identified", "monitoring", "resolved"]
    assert inc["state"] == "resolved" and inc["source"] == "agent recover run-20251124-1"
    assert inc["updates"][1]["body"]["en"] == "MB-12: arrays assembled, resync running."


def test_wrong_token_tells_the_operator_to_use_the_fallback(h):
    cfg = settings.NotifyConfig(url="https://status.example.net", token="nope", service="web")
    res = notify_mod.StatusClient(cfg, opener=opener_for(h)).send(state="investigating", message="x")
    assert not res.ok and "HTTP 401" in res.detail and "fallback" in res.detail
    assert json.loads(h.call("GET", "/api/incidents").body)["incidents"] == []
