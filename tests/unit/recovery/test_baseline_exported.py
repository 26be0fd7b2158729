"""``baseline_exported`` (MB-31c): the new board's known-good baseline is the one kept off-host,
read from the same push record the readiness finding ``recovery.baseline_not_offhost`` reads."""

from __future__ import annotations

from types import SimpleNamespace

from agent.baseline import BaselineStore
from agent.recovery import actions as A
from agent.recovery.action_base import ActionContext
from agent.state.baselines import EXPORT_KEY
from agent.state.store import Store


def _ctx(state):
    ctx = ActionContext(None, timeout=10, dry_run=True, operator="t", baseline=None)
    ctx.engine = SimpleNamespace(store=SimpleNamespace(dir=state / "runs"))
    return ctx


def test_the_new_known_good_baseline_must_be_the_pushed_one(tmp_path):
    act = A.ACTIONS["baseline_exported"]()
    assert act.run({}, _ctx(tmp_path)).detail == f"no baseline stored in {tmp_path}"
    store = Store.in_dir(tmp_path)
    bs = BaselineStore(store)
    old, _ = bs.save({"fingerprint": "old-board", "dmi": {"board_serial": "A"}})
    bs.mark_known_good(old)
    store.put(EXPORT_KEY, {"baseline_id": old, "time": 1.0, "detail": "pushed to statuspage"})
    new, _ = bs.save({"fingerprint": "new-board", "dmi": {"board_serial": "B"}})
    bs.mark_known_good(new)
    out = act.run({}, _ctx(tmp_path))
    assert not out.passed and out.detail == f"known-good baseline {new} is not off-host (last pushed: {old})"
    store.put(EXPORT_KEY, {"baseline_id": new, "time": 2.0, "detail": "pushed to statuspage"})
    out = act.run({}, _ctx(tmp_path))
    assert out.passed and out.detail == f"known-good baseline {new} kept off-host (pushed to statuspage)"
    store.close()


def test_recover_fills_the_runbook_parameters_the_config_answers():
    from pathlib import Path

    from agent import schema
    from agent.cli.recover import _params_from_config
    from agent.recovery import runbook as rbm

    rb = rbm.load(Path(__file__).resolve().parents[3] / "runbooks" / "mainboard-swap.toml")
    cfg = schema.from_mapping({"exporter": {"listen": "127.0.0.1:19167"},
                               "recovery": {"export_target": "statuspage"},
                               "collectors": {"baseline": {"backup_tool": "restic", "backup_repository": "/srv/r",
                                                           "backup_password_file": "/etc/restic.pass"}}})
    assert _params_from_config(rb, cfg) == {"backup_tool": "restic", "backup_repository": "/srv/r",
                                            "backup_password_file": "/etc/restic.pass",
                                            "agent_listen": "127.0.0.1:19167", "export_target": "statuspage"}
    bare = _params_from_config(rb, schema.from_mapping({}))
    assert bare == {"agent_listen": ":10067"}  # MB-31c does not apply, MB-03 asks for the time
