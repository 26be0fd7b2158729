"""Render the README metrics table from the catalogue: ``python -m agent.exporter.readme``
rewrites the table between the ``metrics`` markers of README.md (``--check`` only compares)."""

from __future__ import annotations

import sys
from pathlib import Path

from agent.exporter.catalog import METRICS

BEGIN, END = "<!-- BEGIN metrics -->", "<!-- END metrics -->"


def table() -> str:
    lines = ["| metric | type | unit | labels | help |", "|---|---|---|---|---|"]
    for m in METRICS:
        labels = ", ".join(f"`{lab}`" for lab in m.labels) or "—"
        lines.append(f"| `{m.name}` | {m.type} | {m.unit or '—'} | {labels} | {m.help.replace('|', '/')} |")
    return "\n".join(lines)


def render(readme: str) -> str:
    head, sep, rest = readme.partition(BEGIN)
    if not sep:
        raise ValueError(f"README has no {BEGIN} marker")
    _, sep2, tail = rest.partition(END)
    if not sep2:
        raise ValueError(f"README has no {END} marker")
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 and not argv[1].startswith("-") else "README.md")
    text = path.read_text()
    new = render(text)
    if "--check" in argv:
        if new != text:
            print(f"{path}: metrics table is out of date; run python -m agent.exporter.readme", file=sys.stderr)
            return 1
        return 0
    path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
