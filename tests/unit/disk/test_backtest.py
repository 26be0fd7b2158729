"""agent disk backtest: small daily-row files written here, replayed through parser, state, store and rules."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.backtest.export import export_rows
from agent.backtest.replay import run_files
from agent.backtest.rows import RowError, read_file
from agent.cli import cli
from agent.state.disks import STATE_SCRIPTS, CounterState
from agent.collectors.smart_parse import parse_json
from agent.state.store import Store
from tests.support.fleet import generate

START = date(2026, 3, 1)
HEAD = ["date", "serial_number", "model", "capacity_bytes", "failure", "smart_5_normalized", "smart_5_raw",
        "smart_9_normalized", "smart_9_raw", "smart_188_normalized", "smart_188_raw", "smart_197_normalized",
        "smart_197_raw"]


def write_days(tmp: Path, drives: dict[str, list[tuple]], days: int, gz_day: int | None = None) -> list[Path]:
    """drives: serial -> per-day (model, failure, realloc, power_on_hours, cmd_timeouts, pending) rows."""
    paths = []
    for d in range(days):
        rows = [HEAD]
        for serial, per_day in drives.items():
            if d < len(per_day):
                model, fail, r5, poh, r188, r197 = per_day[d]
                rows.append([(START + timedelta(days=d)).isoformat(), serial, model, 4_000_787_030_016, fail,
                             100, r5, 60, poh, 100, r188, 100, r197])
        text = "".join(",".join(map(str, r)) + "\n" for r in rows)
        name = f"{(START + timedelta(days=d)).isoformat()}.csv"
        if d == gz_day:
            p = tmp / (name + ".gz")
            p.write_bytes(gzip.compress(text.encode()))
        else:
            p = tmp / name
            p.write_text(text)
        paths.append(p)
    return paths


def fleet_of_three(days: int = 40) -> dict[str, list[tuple]]:
    failing, old, noisy = [], [], []
    for d in range(days):
        # pending and reallocations from day 20, a new pair every other day; dies on day 39
        grow = max(0, d - 19)
        failing.append(("WDC WD60EFRX", 1 if d == days - 1 else 0, 3 * grow, 20_000 + 24 * d, 0, grow // 2))
        old.append(("WDC WD60EFRX", 0, 4, 41_000 + 24 * d, 0, 0))  # small, old, stable
        noisy.append(("HGST HMS5C4040BLE640", 0, 0, 30_000 + 24 * d, 2 if d > 30 else 0, 0))  # 2 timeouts
    return {"FAIL1": failing, "OLD1": old, "NOISY1": noisy}


def test_replay_flags_the_failing_drive_early_and_not_the_stable_ones(tmp_path):
    paths = write_days(tmp_path, fleet_of_three(), 40, gz_day=5)
    res = run_files([str(p) for p in paths], None, Store.memory())
    assert res.drive_days == 120 and res.days == 40
    fail = res.drives["FAIL1"]
    assert fail.failed_on == START + timedelta(days=39)
    # day 20: +3 reallocated within a day (warning); day 21: +6 and 1 pending (a pending sector: warning),
    # the first day with 8 reallocations within 7 days is critical
    assert fail.first_flag["warning"] == START + timedelta(days=20)
    assert fail.first_flag["critical"] == START + timedelta(days=22)
    assert "disk.reallocated_sectors" in fail.rules["critical"]
    assert "warning" not in res.drives["OLD1"].first_flag  # 4 reallocated, 41,000 h, stable: info
    assert "warning" not in res.drives["NOISY1"].first_flag  # two command timeouts: below growth_warning
    fig = res.to_dict()
    o = fig["overall"]
    assert o["drives"] == 3 and o["failed"] == 1
    assert o["critical"]["recall"] == {">=0d": 1.0, ">=7d": 1.0, ">=14d": 1.0, ">=30d": 0.0}
    assert o["warning"]["false_positive_rate"] == 0.0
    # the classic rule flags the old stable drive and the noisy one from their first day
    ref = o["reference_any_5_187_188_197_198"]
    assert ref["false_positive_rate"] == 1.0 and ref["recall"][">=14d"] == 1.0
    assert set(fig["models"]) == {"WDC WD60EFRX", "HGST HMS5C4040BLE640"}
    assert fig["models"]["HGST HMS5C4040BLE640"]["failed"] == 0
    assert o["rules_fired"]["disk.reallocated_sectors"] == {"failed": 1, "healthy": 0}


def test_config_thresholds_change_the_outcome(tmp_path):
    """What an operator does with the command: try a threshold before deploying it."""
    from agent.schema import from_mapping

    paths = write_days(tmp_path, fleet_of_three(), 40)
    strict = from_mapping({"rules": {"disk.command_timeout": {"growth_warning": 1},
                                     "disk.reallocated_sectors": {"warning": 4}}})
    res = run_files([str(p) for p in paths], strict, Store.memory())
    assert res.drives["NOISY1"].first_flag["warning"] == START + timedelta(days=31)
    assert res.drives["OLD1"].first_flag["warning"] == START


def test_bad_files_name_themselves(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(RowError, match="x.csv: not daily SMART rows: missing column"):
        list(read_file(p))
    g = tmp_path / "broken.csv.gz"
    g.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(RowError, match="broken.csv.gz: unreadable"):
        list(read_file(g))
    # rows with a bad date, no serial or too few columns are skipped, not fatal
    q = tmp_path / "rows.csv"
    q.write_text(",".join(HEAD) + "\n" + "yesterday,S1,M,1,0,100,1,60,5,100,0,100,0\n"
                 + "2026-03-01,,M,1,0,100,1,60,5,100,0,100,0\n" + "2026-03-01,S2,M\n"
                 + "2026-03-01,S3,M,1,0,100,7,60,5,100,0,100,x\n")
    rows = list(read_file(q))
    assert [(r.serial, r.attributes) for r in rows] == [("S3", ((5, 100, 7), (9, 60, 5), (188, 100, 0),
                                                                (197, 100, None)))]


def test_cli_table_and_json(tmp_path):
    paths = write_days(tmp_path, fleet_of_three(), 40)
    r = CliRunner().invoke(cli, ["disk", "backtest", *map(str, paths)])
    assert r.exit_code == 0, r.output
    assert "120 drive-days over 40 days, 3 drives (1 failed)" in r.output
    assert "(all)" in r.output and "ref: any 5/187/188/197/198 > 0" in r.output
    assert "disk.reallocated_sectors" in r.output
    r = CliRunner().invoke(cli, ["disk", "backtest", "--json", *map(str, paths)])
    doc = json.loads(r.output)
    assert doc["overall"]["critical"]["recall"][">=7d"] == 1.0
    bad = tmp_path / "bad.csv"
    bad.write_text("nope\n")
    r = CliRunner().invoke(cli, ["disk", "backtest", str(bad)])
    assert r.exit_code != 0 and "bad.csv: not daily SMART rows" in r.output


def test_generated_fleet_reads_gzip_and_is_deterministic(tmp_path):
    a = generate(tmp_path / "a", drives=60, days=20, gz=True)
    b = generate(tmp_path / "b", drives=60, days=20, gz=True)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    res = run_files([str(p) for p in a], None, Store.memory())
    assert res.drive_days == sum(1 for p in a for _ in read_file(p)) and res.days == 20


def test_export_of_the_agents_own_history_replays(tmp_path):
    """The collector's stored change points -> daily rows -> the same replay."""
    store = Store(tmp_path / "state.db")
    store.migrate("disk", STATE_SCRIPTS)
    state = CounterState(store)
    t0 = 1_772_366_400.0  # 2026-03-01 12:00 UTC
    base = json.loads((Path(__file__).parents[2] / "fixtures/smartctl/corpus/"
                       "sce-sat-HGST_Ultrastar_7K6000-HGST_HUS726040ALA614-sda.json").read_text())
    for day, (r5, r197) in enumerate([(0, 0), (0, 0), (8, 2), (20, 3)]):
        doc = json.loads(json.dumps(base))
        for row in doc["ata_smart_attributes"]["table"]:
            if row["id"] == 5:
                row["raw"] = {"value": r5, "string": str(r5)}
            if row["id"] == 197:
                row["raw"] = {"value": r197, "string": str(r197)}
        d = parse_json(doc, device="sda", path="/dev/sda", now=t0 + day * 86400)
        state.enrich(d, t0 + day * 86400)
        store.execute("INSERT OR REPLACE INTO disk_devices (id, target, device, identity, last_success) "
                      "VALUES (?, ?, ?, ?, ?)", (d.stable_id, "/dev/sda", "sda",
                                                 json.dumps({"serial": d.serial, "model": d.model}), t0))
    header, rows = export_rows(store, {base["serial_number"]: None})
    assert header[:5] == ["date", "serial_number", "model", "capacity_bytes", "failure"]
    assert [r[0] for r in rows] == ["2026-03-01", "2026-03-03", "2026-03-04"]  # days with a change
    assert rows[-1][4] == 1  # marked failed on its last exported day
    out = tmp_path / "export.csv"
    with out.open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    res = run_files([str(out)], None, Store.memory())
    drv = res.drives[base["serial_number"]]
    assert drv.failed_on == date(2026, 3, 4) and drv.first_flag["critical"] == date(2026, 3, 3)
