"""Generated Grafana dashboards: valid against the dashboard models of the Grafana Foundation SDK
(round trip through its typed model drops nothing we rely on), sound layout and variables, and
every panel expression parses (promtool, offline). Data: tests/e2e/test_mixin_prometheus.py."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from agent.mixin import Settings, build
from agent.mixin.dashboards import expressions
from tests.unit.mixin.promtool import PROMTOOL, needs_promtool

DASHBOARDS = {rel: json.loads(text) for rel, text in build().items() if rel.endswith(".json")}


@pytest.mark.parametrize("rel", sorted(DASHBOARDS))
def test_dashboard_round_trips_through_the_sdk_model(rel):
    import grafana_foundation_sdk.models.dashboard as sdk  # a test dependency (pyproject's test extra)
    d = DASHBOARDS[rel]
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    model = sdk.Dashboard.from_json(d)
    back = json.loads(json.dumps(model, cls=JSONEncoder))
    assert back["uid"] == d["uid"] and back["title"] == d["title"] and back["schemaVersion"] == 39
    assert len(back["panels"]) == len(d["panels"])
    for ours, theirs in zip(d["panels"], back["panels"], strict=True):
        for key in ("id", "type", "title", "gridPos", "datasource"):
            assert theirs[key] == ours[key], (ours["title"], key)
        assert [t["expr"] for t in theirs["targets"]] == [t["expr"] for t in ours["targets"]]
        assert theirs["fieldConfig"]["defaults"]["unit"] == ours["fieldConfig"]["defaults"]["unit"]
    variables = back["templating"]["list"]
    assert [(v["type"], v["name"]) for v in variables] == [(v["type"], v["name"]) for v in d["templating"]["list"]]
    for v in d["templating"]["list"]:  # enum-typed fields are validated by the model
        sdk.VariableType(v["type"])
        sdk.VariableHide(v["hide"])


@pytest.mark.parametrize("rel", sorted(DASHBOARDS))
def test_layout_ids_and_variables(rel):
    d = DASHBOARDS[rel]
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in d["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not (mine & cells), f"{p['title']} overlaps another panel"
        cells |= mine
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)) and p["targets"]
        for t in p["targets"]:
            assert 'job=~"$job"' in t["expr"], f"{p['title']}: not filtered by the job variable"
            if "instance" in [v["name"] for v in d["templating"]["list"]]:
                assert 'instance=~"$instance"' in t["expr"], p["title"]
    names = [v["name"] for v in d["templating"]["list"]]
    assert names[:2] == ["datasource", "job"]


def test_uid_prefix_is_configurable():
    files = build(Settings(dashboard_uid_prefix="hw-prod"))
    assert json.loads(files["dashboards/hwagent-host.json"])["uid"] == "hw-prod-host"


@needs_promtool
def test_every_panel_expression_parses(tmp_path):
    rules = []
    for rel, d in DASHBOARDS.items():
        for i, (_title, expr) in enumerate(expressions(d)):
            expr = expr.replace("$job", ".+").replace("$instance", ".+").replace("$__rate_interval", "5m")
            rules.append({"record": f"check:{rel.split('/')[-1].split('.')[0].replace('-', '_')}_{i}", "expr": expr})
    (tmp_path / "panels.yml").write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    res = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / "panels.yml")], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"SUCCESS: {len(rules)} rules found" in res.stdout
