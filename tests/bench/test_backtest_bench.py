"""`agent disk backtest` throughput on a generated fleet (tests/support/fleet.py, gzip files):
drive-days per CPU second (target >= 5,000 per core), and as a ratio to the cheapest possible
pass over the same files measured in the same run (gunzip + csv parse of every row, no rules).
Run with `pytest -m bench -s tests/bench/test_backtest_bench.py`."""

from __future__ import annotations

import csv
import gzip
import io
import time

import pytest

from agent.backtest.replay import run_files
from agent.state.store import Store
from tests.support.fleet import generate

DRIVES, DAYS = 2000, 60


@pytest.mark.bench
def test_backtest_throughput(tmp_path):
    paths = [str(p) for p in generate(tmp_path / "fleet", drives=DRIVES, days=DAYS, gz=True)]
    t0 = time.process_time()
    rows = 0
    for p in paths:
        with gzip.open(p, "rb") as fh:
            rows += sum(1 for _ in csv.reader(io.TextIOWrapper(fh, encoding="utf-8"))) - 1
    base = time.process_time() - t0
    store = Store(tmp_path / "state.db")  # a file-backed store, as the daemon has
    t0, w0 = time.process_time(), time.monotonic()
    res = run_files(paths, None, store)
    cpu, wall = time.process_time() - t0, time.monotonic() - w0
    assert res.drive_days == rows and any(d.failed_on for d in res.drives.values())
    rate = res.drive_days / cpu
    print(f"\nbacktest: {res.drive_days} drive-days ({DRIVES} drives x {DAYS} days, gzip) in {cpu:.1f} s CPU "
          f"({wall:.1f} s wall): {rate:,.0f} drive-days/s per core (target >= 5,000); "
          f"csv-only pass {base:.2f} s CPU, ratio {cpu / base:.1f}x")
