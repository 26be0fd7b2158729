"""Complexity ratchet: no function grows more complex than it is today, and no new one is worse than rank C.

Cyclomatic complexity (CC) as radon computes it (McCabe; radon ranks A 1-5, B 6-10, C 11-20, D 21-30,
E 31-40, F 41+). Functions over rank C (CC > 20) that exist today are listed in the baseline file
with their CC; the check fails when

* a listed function's CC grows beyond its baseline value, or
* a function that is not listed has CC > 20 (new code, or a function that grew past rank C).

A listed function that got simpler, or is gone, is reported; ``--update`` lowers or drops its entry
(the baseline only ever shrinks: ``--update`` refuses to raise an entry or add one).

    python tools/complexity.py              # check (exit 1 on a violation)
    python tools/complexity.py --update     # after simplifying: rewrite the baseline downwards
    python tools/complexity.py --top 15     # the most complex functions and the average CC
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from radon.complexity import cc_visit
from radon.visitors import Function

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "hwstatus")
BASELINE = ROOT / "tools" / "complexity-baseline.txt"
LIMIT = 20  # the top of rank C


@dataclass(frozen=True)
class Block:
    path: str  # relative to the checkout, "/"-separated
    name: str  # Class.method, function, or outer.inner for a closure
    cc: int

    @property
    def key(self) -> str:
        return f"{self.path}::{self.name}"


def _walk(path: str, blocks: Iterable[object], prefix: str = "") -> Iterator[Block]:
    for b in blocks:
        if not isinstance(b, Function):  # a class: radon lists its methods as blocks of their own
            continue
        name = prefix + (f"{b.classname}.{b.name}" if b.classname and not prefix else b.name)
        yield Block(path, name, b.complexity)
        yield from _walk(path, b.closures, f"{name}.")


def blocks_of(source: str, path: str) -> list[Block]:
    """Every function, method and closure of one module with its CC (top-level and class-level)."""
    return list(_walk(path, cc_visit(source)))


def scan(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, int]:
    """key -> CC for every function of the packages (the highest CC where a name repeats)."""
    out: dict[str, int] = {}
    for pkg in packages:
        for f in sorted((root / pkg).rglob("*.py")):
            rel = f.relative_to(root).as_posix()
            for b in blocks_of(f.read_text(encoding="utf-8"), rel):
                out[b.key] = max(b.cc, out.get(b.key, 0))
    return out


def read_baseline(path: Path = BASELINE) -> dict[str, int]:
    out: dict[str, int] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, cc = line.rpartition(" ")
        if not key or not cc.isdigit():
            raise SystemExit(f"{path}:{n}: expected 'path::function CC', got {line!r}")
        out[key.strip()] = int(cc)
    return out


def check(current: dict[str, int], baseline: dict[str, int], limit: int = LIMIT) -> tuple[list[str], list[str]]:
    """(violations, notes): violations fail the gate; notes name entries the baseline can drop or lower."""
    violations, notes = [], []
    for key, cc in sorted(current.items()):
        allowed = baseline.get(key)
        if allowed is None:
            if cc > limit:
                violations.append(f"{key}: CC {cc} > {limit} (rank {rank(cc)}): new functions stay within rank C; "
                                  "split it into named phases or make it table-driven")
        elif cc > allowed:
            violations.append(f"{key}: CC {cc} grew beyond its baseline {allowed}: it may only get simpler")
        elif cc < allowed:
            notes.append(f"{key}: CC {cc}, baseline {allowed}: run tools/complexity.py --update to lower it")
    for key in sorted(set(baseline) - set(current)):
        notes.append(f"{key}: gone (baseline {baseline[key]}): run tools/complexity.py --update to drop it")
    return violations, notes


def updated(current: dict[str, int], baseline: dict[str, int], limit: int = LIMIT) -> dict[str, int]:
    """The baseline lowered to today's values; never raised, never extended."""
    return {k: min(cc, current[k]) for k, cc in baseline.items() if k in current and current[k] > limit}


def write_baseline(entries: dict[str, int], path: Path = BASELINE) -> None:
    head = ("# Functions over rank C (CC > 20) and the cyclomatic complexity each may not exceed (radon).\n"
            "# Checked by tools/complexity.py (tests/run.sh); lowered with --update; never raise an entry.\n")
    body = "".join(f"{k} {cc}\n" for k, cc in sorted(entries.items(), key=lambda kv: (-kv[1], kv[0])))
    path.write_text(head + body, encoding="utf-8")


def rank(cc: int) -> str:
    for letter, top in (("A", 5), ("B", 10), ("C", 20), ("D", 30), ("E", 40)):
        if cc <= top:
            return letter
    return "F"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--update", action="store_true", help="lower the baseline to today's values")
    ap.add_argument("--top", type=int, metavar="N", help="print the N most complex functions and the average")
    args = ap.parse_args(argv)
    current = scan()
    if args.top:
        for key, cc in sorted(current.items(), key=lambda kv: (-kv[1], kv[0]))[:args.top]:
            print(f"{cc:4d} {rank(cc)}  {key}")
        print(f"{len(current)} functions, average CC {sum(current.values()) / max(1, len(current)):.2f}")
        return 0
    baseline = read_baseline()
    if args.update:
        new = updated(current, baseline)
        write_baseline(new)
        print(f"tools/complexity.py: baseline {len(baseline)} -> {len(new)} entries")
        return 0
    violations, notes = check(current, baseline)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    for v in violations:
        print(f"complexity: {v}", file=sys.stderr)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
