"""MB-30's machine check (``monitoring_back``): the daemon answers, no finding is active, a scraper
other than this host fetched /metrics recently, and no silence is left to expire. The daemon side
(``last_scrape`` in /status.json) is read from a real MetricsServer over loopback."""

from __future__ import annotations

import http.client
import json

import pytest

from agent.daemon import snapshot_to_status
from agent.exporter.http import MetricsRenderer, MetricsServer
from agent.model import Snapshot
from agent.recovery import actions as A
from agent.recovery.action_base import ActionContext
from agent.recovery.actions_monitoring import MAX_SCRAPE_AGE_SECONDS, judge

NOW = 1_800_000_000.0


def status(**kw):
    doc = {"collectors": {"hwmon": {"ok": True, "present": True}, "ipmi": {"ok": False, "present": False}},
           "findings": [], "last_scrape": {"time": NOW - 30, "client": "192.0.2.10"}}
    doc.update(kw)
    return doc


def test_a_healthy_scraped_daemon_is_monitoring_back():
    assert judge(status(), NOW, MAX_SCRAPE_AGE_SECONDS) == []  # an absent collector (no BMC) is no failure


@pytest.mark.parametrize(("age", "back"), [(180.0, True), (180.001, False)])
def test_the_last_scrape_age_at_the_boundary(age, back):
    got = judge(status(last_scrape={"time": NOW - age, "client": "192.0.2.10"}), NOW, 180.0)
    assert (got == []) == back, got


@pytest.mark.parametrize(("doc", "says"), [
    (None, "does not answer"),
    (status(last_scrape=None), "no scraper has fetched /metrics"),
    (status(last_scrape={"time": NOW, "client": "127.0.0.1"}), "from this host"),
    (status(last_scrape={"time": NOW, "client": "::1"}), "from this host"),
    (status(collectors={"smart": {"ok": False, "present": True}}), "collector(s) failing: smart"),
    (status(findings=[{"severity": "critical", "rule": "board.failing", "device": "board", "summary": "x"}]),
     "critical finding board.failing on board"),
])
def test_what_keeps_the_host_unwatched_is_named(doc, says):
    assert says in "; ".join(judge(doc, NOW, 180.0))


def test_readiness_info_and_acknowledged_findings_do_not_hold_it_back():
    doc = status(findings=[{"severity": "warning", "component": "recovery", "rule": "recovery.baseline_stale"},
                           {"severity": "info", "component": "disk", "rule": "disk.info"},
                           {"severity": "warning", "component": "disk", "rule": "disk.x", "acknowledged": True}])
    assert judge(doc, NOW, 180.0) == []


def _get(port: int, path: str) -> bytes:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path)
    body = c.getresponse().read()
    c.close()
    return body


def test_the_daemon_reports_its_last_scrape_and_the_action_reads_it():
    snap = Snapshot.empty("boot", NOW)
    srv = MetricsServer("127.0.0.1:0", MetricsRenderer(lambda: snap), lambda: snapshot_to_status(snap))
    srv.start()
    try:
        assert json.loads(_get(srv.port, "/status.json"))["last_scrape"] is None
        _get(srv.port, "/metrics")
        last = json.loads(_get(srv.port, "/status.json"))["last_scrape"]
        assert last["client"] == "127.0.0.1" and abs(last["time"] - __import__("time").time()) < 60
        ctx = ActionContext(None, timeout=10, dry_run=True, operator="t", baseline=None)
        act = A.ACTIONS["monitoring_back"]()
        out = act.run({"listen": f"127.0.0.1:{srv.port}", "silence": "none"}, ctx)
        # scraped, but only by this test on loopback: no monitoring server has seen the host yet
        assert not out.passed and "last fetched from this host (127.0.0.1)" in out.detail
        out = act.run({"listen": f"127.0.0.1:{srv.port}", "silence": "4f1e0c7a-1111-2222"}, ctx)
        assert "silence 4f1e0c7a-1111-2222 (MB-02) is to be expired by hand" in out.detail
    finally:
        srv.stop()
