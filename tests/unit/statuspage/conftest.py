from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest

from agent import schema as cm
from hwstatus import config as _sp  # noqa: F401 - registers [statuspage]
from hwstatus.app import StatusApp
from hwstatus.incidents import StatusService
from hwstatus.store import StatusStore

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "statuspage"
TOKEN = "s3cret-token-for-tests"
T0 = 1_763_942_400.0  # 2025-11-24T00:00:00Z, a Monday in a 30-day month

BASE = {
    "token": TOKEN,
    "public_url": "https://status.example.net",
    "title": "Example Hosting status",
    "timezone": "Europe/Berlin",
    "services": {
        "web": {"name": "Web hosting", "description": "customers on server-3", "hosts": ["server-3"]},
        "mail": {"name": "Mail", "hosts": ["server-3"]},
        "dns": {"name": "DNS", "hosts": ["ns1"], "components": ["host"]},
    },
}


def make_cfg(**over):
    data = copy.deepcopy(BASE)
    data.update(over)
    return cm.from_mapping({"statuspage": data}).section("statuspage")


class Clock:
    def __init__(self, t: float = T0 + 12 * 3600):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t


class Harness:
    def __init__(self, cfg, db=":memory:", clock=None):
        self.clock = clock or Clock()
        self.cfg = cfg
        self.store = StatusStore(db, clock=self.clock)
        self.service = StatusService(cfg, self.store, clock=self.clock)
        self.app = StatusApp(cfg, self.service, TOKEN)

    def call(self, method: str, path: str, body=None, *, token: str | None = TOKEN, headers: dict | None = None,
             content_type: str = "application/json", ip: str = "192.0.2.10"):
        if isinstance(body, (dict, list)):
            raw = json.dumps(body).encode()
        elif isinstance(body, str):
            raw = body.encode()
        else:
            raw = body or b""
        path, _, query = path.partition("?")
        env = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "wsgi.input": io.BytesIO(raw),
               "CONTENT_LENGTH": str(len(raw)), "CONTENT_TYPE": content_type, "REMOTE_ADDR": ip}
        if token is not None:
            env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        for k, v in (headers or {}).items():
            env["HTTP_" + k.upper().replace("-", "_")] = v
        out = {}

        def start_response(status, hdrs):
            out["status"] = int(status.split()[0])
            out["headers"] = dict(hdrs)

        data = b"".join(self.app(env, start_response))
        return Resp(out["status"], out["headers"], data)

    def count(self, table: str) -> int:
        return self.store.one(f"SELECT COUNT(*) AS n FROM {table}")["n"]


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode()


def alert_payload(status="firing", *, alertname="HwagentHostDown", instance="server-3:10067", fingerprint="f1",
                  starts="2025-11-24T11:58:30.123456789Z", ends="0001-01-01T00:00:00Z", extra_labels=None,
                  annotations=None, group="{}:{alertname=\"HwagentHostDown\"}"):
    """A webhook body as Alertmanager 0.25 sends it (see tests/fixtures/statuspage/SOURCE)."""
    payload = json.loads((FIX / "alertmanager-firing.json").read_text())
    payload["status"] = status
    payload["groupKey"] = group
    a = payload["alerts"][0]
    a["status"] = status
    a["labels"] = {**a["labels"], "alertname": alertname, "instance": instance, **(extra_labels or {})}
    a["annotations"] = {**a["annotations"], **(annotations or {})}
    a["startsAt"], a["endsAt"], a["fingerprint"] = starts, ends, fingerprint
    payload["commonLabels"] = dict(a["labels"])
    return payload


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def h(clock):
    return Harness(make_cfg(), clock=clock)
