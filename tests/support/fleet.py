"""Synthetic fleet history in the daily SMART-rows format, for backtest tests and benchmarks.

Nothing here is measured data: the drive populations are made up to exercise the rules' axes
(stable old counts, noise, pending that clears, growth before failure, large damage at first
sight, failures without any SMART signal) with a fixed seed. Shapes follow what the literature
describes qualitatively (Pinheiro et al. FAST'07: many failures show no SMART signal; Backblaze:
a few percent of healthy drives carry non-zero counts), not any real data set's numbers.

    python -m tests.support.fleet OUTDIR --drives 2000 --days 120 [--gzip]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import random
from datetime import date, timedelta
from pathlib import Path

ATTRS = (5, 9, 187, 188, 197, 198, 199)
MODELS = (("ST4000DM000", 4_000_787_030_016), ("HGST HMS5C4040BLE640", 4_000_787_030_016),
          ("WDC WD60EFRX", 6_001_175_126_016))
START = date(2026, 1, 1)

# population -> share of the fleet
HEALTHY = {"clean": 0.86, "small_stable": 0.06, "cmd_timeout_noise": 0.02, "pending_clears": 0.015,
           "old_large_stable": 0.005, "crc_burst": 0.01}
FAILING = {"growing": 0.4, "large_first_seen": 0.2, "late_growth": 0.15, "silent": 0.25}
FAIL_SHARE = 0.03


class Drive:
    def __init__(self, i: int, rng: random.Random, days: int):
        self.serial = f"SYN{i:07d}"
        self.model, self.capacity = MODELS[i % len(MODELS)]
        self.rng = rng
        self.poh = rng.randint(2_000, 50_000)
        self.c = {a: 0 for a in ATTRS if a != 9}
        self.fail_day: int | None = None
        if rng.random() < FAIL_SHARE:
            self.kind = _pick(rng, FAILING)
            first = 35 if self.kind != "large_first_seen" else 20
            self.fail_day = rng.randint(min(first, days - 1), days - 1)
        else:
            self.kind = _pick(rng, HEALTHY)
        if self.kind == "small_stable":
            self.c[5] = rng.randint(1, 8)
            self.poh = rng.randint(20_000, 50_000)
        elif self.kind == "old_large_stable":
            self.c[5] = rng.randint(40, 300)
            self.poh = rng.randint(30_000, 50_000)
        elif self.kind == "large_first_seen":
            self.c[5] = rng.randint(1_000, 5_000)
            self.c[197] = rng.randint(16, 60)
            self.c[198] = self.c[197]
        elif self.kind == "late_growth":
            self.c[5] = 2
        self.lead = rng.randint(5, 40)  # days of visible decay before a failure
        self.pending_at = rng.randint(min(5, days - 1), max(5, days - 10))

    def step(self, d: int) -> None:
        rng, c, k = self.rng, self.c, self.kind
        self.poh += 24
        if k == "cmd_timeout_noise" and rng.random() < 0.03:
            c[188] += 1
        elif k == "pending_clears":
            if d == self.pending_at:
                c[197] = rng.randint(1, 2)
            elif d == self.pending_at + 3:
                c[197] = 0
        elif k == "crc_burst" and d == self.pending_at:
            c[199] += rng.randint(1, 30)
        elif self.fail_day is not None and self.fail_day - d <= self.lead:
            if k in ("growing", "large_first_seen") and rng.random() < 0.5:
                c[5] += rng.randint(1, 12)
                c[197] += rng.randint(0, 3)
                c[198] = max(c[198], c[197] if rng.random() < 0.5 else c[198])
                if rng.random() < 0.2:
                    c[187] += 1
            elif k == "late_growth" and self.fail_day - d <= 10 and rng.random() < 0.5:
                c[5] += rng.randint(1, 4)
                c[197] += rng.randint(0, 1)

    def row(self, d: int) -> list:
        vals = {**self.c, 9: self.poh}
        raw188 = vals[188]
        if self.model.startswith("ST"):
            raw188 = raw188 | (raw188 << 16) | (raw188 << 32)  # Seagate packs three counters
        vals[188] = raw188
        out: list = [(START + timedelta(days=d)).isoformat(), self.serial, self.model, self.capacity,
                     1 if d == self.fail_day else 0]
        for a in ATTRS:
            out += [100 if a != 9 else 50, vals[a]]
        return out


def _pick(rng: random.Random, shares: dict[str, float]) -> str:
    x, acc = rng.random() * sum(shares.values()), 0.0
    for k, v in shares.items():
        acc += v
        if x < acc:
            return k
    return k


def header() -> list[str]:
    h = ["date", "serial_number", "model", "capacity_bytes", "failure"]
    for a in ATTRS:
        h += [f"smart_{a}_normalized", f"smart_{a}_raw"]
    return h


def generate(out: Path, drives: int = 500, days: int = 90, seed: int = 19, gz: bool = False) -> list[Path]:
    """Write one file per day into ``out``; returns the paths (in day order)."""
    rng = random.Random(seed)
    fleet = [Drive(i, rng, days) for i in range(drives)]
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in range(days):
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header())
        for drv in fleet:
            if drv.fail_day is not None and d > drv.fail_day:
                continue
            drv.step(d)
            w.writerow(drv.row(d))
        name = f"{(START + timedelta(days=d)).isoformat()}.csv"
        if gz:
            p = out / (name + ".gz")
            p.write_bytes(gzip.compress(buf.getvalue().encode(), mtime=0))
        else:
            p = out / name
            p.write_text(buf.getvalue())
        paths.append(p)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--drives", type=int, default=2000)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--gzip", action="store_true")
    a = ap.parse_args()
    generate(a.out, a.drives, a.days, a.seed, a.gzip)


if __name__ == "__main__":
    main()
