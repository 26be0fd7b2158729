"""The restore drill's result: read by the backup collector, exported as metrics, judged by
backup.restore_drill (failed: critical; older than max_age_days: warning, boundary pinned)."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest

from agent.collectors.base import NoData
from agent.collectors.restore_drill import RestoreDrillCollector
from agent.exporter.collector import collect_samples
from agent.model import Severity, Snapshot
from agent.model.backup import RestoreDrill
from agent.rules import RULES_BY_ID
from agent.rules.base import Params, RuleContext
from agent.state.store import Store
from tests.unit.recovery.support import host

DAY = 86400.0
T = 1_780_000_000.0


def _result(tmp_path, **kw):
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    d = {"run_id": "20261201T030000Z-restore-drill-ab12", "time": T, "status": "completed", "success": True,
         "path": "/srv/www", "tool": "restic", "snapshot": "7e76c120", "snapshot_time": "2026-11-30T23:00:04.5Z",
         "files": 33, "bytes": 203680, "sampled": 20, "detail": "37 entries match"}
    d.update(kw)
    (state / "restore-drill.json").write_text(json.dumps(d))
    return Store(state / "state.db")


def test_collector_reads_the_drill_result(tmp_path):
    store = _result(tmp_path)
    (r,) = RestoreDrillCollector(host(tmp_path / "root"), store=store).collect()
    assert r.success and r.time == T and r.files == 33 and r.path == "/srv/www"
    assert r.snapshot_time == pytest.approx(1796079604.5, abs=1)


def test_no_drill_yet_is_not_present(tmp_path):
    (tmp_path / "state").mkdir()
    with pytest.raises(NoData, match="no restore drill has run"):
        RestoreDrillCollector(host(tmp_path / "root"), store=Store(tmp_path / "state" / "state.db")).collect()


def _snap(r):
    return Snapshot(time=T, boot_id="b", readings=MappingProxyType({"backup": (r,)}),
                    statuses=MappingProxyType({}))


def _findings(r, now, **params):
    meta = RULES_BY_ID["backup.restore_drill"]
    ctx = RuleContext(snapshot=_snap(r), history=None, params=Params(meta.defaults, params, {}), now=now, rule=meta)
    return list(meta.fn(ctx))


def _drill(success=True, time=T):
    return RestoreDrill(time=time, success=success, path="/srv/www", tool="restic", snapshot_time=T - 3600, files=33,
                        bytes=203680, run_id="r1", detail="x")


def test_age_boundary_and_failure():
    assert _findings(_drill(), T + 35 * DAY) == []  # exactly the limit: fine
    (f,) = _findings(_drill(), T + 35 * DAY + 1)
    assert f.severity is Severity.WARNING and "35 days old" in f.summary and f.runbook == "restore-drill"
    assert _findings(_drill(), T + 8 * DAY, max_age_days=7.0)[0].severity is Severity.WARNING
    (f,) = _findings(_drill(success=False), T + 60)
    assert f.severity is Severity.CRITICAL and "failed" in f.summary


def test_metrics():
    from agent.exporter.catalog import METRICS

    s = collect_samples(_snap(_drill()))
    assert {m.name for m in METRICS if m.section == "backup"} <= set(s)  # every catalogued backup metric emitted
    lab = {"path": "/srv/www"}
    assert s["hwagent_restore_drill_success"] == [(lab, 1.0)]
    assert s["hwagent_restore_drill_last_run_timestamp_seconds"] == [(lab, T)]
    assert s["hwagent_restore_drill_files"] == [(lab, 33.0)] and s["hwagent_restore_drill_bytes"] == [(lab, 203680.0)]
    assert collect_samples(_snap(_drill(success=False)))["hwagent_restore_drill_success"] == [(lab, 0.0)]
