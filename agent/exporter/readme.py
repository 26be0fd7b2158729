"""Generated documentation: ``python -m agent.exporter.readme`` rewrites the README tables
(metrics from the catalogue, config keys from the declarations, rules from the registry) and
``systemd/config.example.toml``; ``--check`` only compares (a test runs it)."""

from __future__ import annotations

import sys
from pathlib import Path

from agent.exporter.catalog import METRICS

ROOT = Path(__file__).resolve().parent.parent.parent


def metrics_table() -> str:
    lines = ["| metric | type | unit | labels | help |", "|---|---|---|---|---|"]
    for m in METRICS:
        labels = ", ".join(f"`{lab}`" for lab in m.labels) or "—"
        lines.append(f"| `{m.name}` | {m.type} | {m.unit or '—'} | {labels} | {m.help.replace('|', '/')} |")
    return "\n".join(lines)


def rules_table() -> str:
    from agent.rules import RULES  # noqa: PLC0415

    lines = ["| rule id | parameters (defaults) | runbook | what it means |", "|---|---|---|---|"]
    for r in RULES:
        params = ", ".join(f"`{k}={v}`" for k, v in r.defaults.items()) or "—"
        lines.append(f"| `{r.id}` | {params} | {r.runbook or '—'} | {r.description.replace('|', '/')} |")
    return "\n".join(lines)


def config_table() -> str:
    from agent.config import reference_markdown  # noqa: PLC0415

    return reference_markdown()


BLOCKS = {"metrics": metrics_table, "rules": rules_table, "config": config_table}


def render(readme: str) -> str:
    for name, fn in BLOCKS.items():
        begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
        head, sep, rest = readme.partition(begin)
        if not sep:
            raise ValueError(f"README has no {begin} marker")
        _, sep2, tail = rest.partition(end)
        if not sep2:
            raise ValueError(f"README has no {end} marker")
        readme = f"{head}{begin}\n{fn()}\n{end}{tail}"
    return readme


def main(argv: list[str]) -> int:
    from agent.config import example_toml  # noqa: PLC0415

    readme = ROOT / "README.md"
    example = ROOT / "systemd" / "config.example.toml"
    targets = {readme: render(readme.read_text()), example: example_toml()}
    stale = [p for p, new in targets.items() if not p.exists() or p.read_text() != new]
    if "--check" in argv:
        for p in stale:
            print(f"{p}: out of date; run python -m agent.exporter.readme", file=sys.stderr)
        return 1 if stale else 0
    for p in stale:
        p.write_text(targets[p])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
