"""Regenerate every generated file of the repository, or check that they are current.

    python tools/generate.py           # rewrite what is out of date, print the paths
    python tools/generate.py --check   # exit 1 naming each stale file (a test runs this)

Generated: the rule entries of docs/findings/, the monitoring mixin (mixin/, and agent/data/alerts.yml = mixin/prometheus_alerts.yml
with the default settings), docs/reference/ (config, metrics, rules, CLI, alerts),
the man pages agent(1) and agent-config(5) (man/), and systemd/config.example.toml. Everything
comes from the code (and docs/findings/<family>.md keep their hand-written guidance; only the
block of rule entries is rewritten): the metric catalogue, the rule registry, the config declarations and the
click commands. Run it after adding a rule, metric, config key or CLI option.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def targets() -> dict[Path, str]:
    from agent.schema import example_toml
    from agent.mixin import build
    from tools import docgen, mangen

    out: dict[Path, str] = {}
    mixin = build()
    for rel, text in mixin.items():
        out[ROOT / "mixin" / rel] = text
    out[ROOT / "agent" / "data" / "alerts.yml"] = mixin["prometheus_alerts.yml"]
    out[ROOT / "systemd" / "config.example.toml"] = example_toml()
    for rel, text in docgen.reference().items():
        out[ROOT / "docs" / "reference" / rel] = text
    for rel, text in docgen.findings_pages(ROOT / "docs").items():
        out[ROOT / "docs" / "findings" / rel] = text
    for rel, text in mangen.pages().items():
        out[ROOT / "man" / rel] = text
    return out


def main(argv: list[str]) -> int:
    stale = [(p, t) for p, t in targets().items() if not p.exists() or p.read_text() != t]
    if "--check" in argv:
        for p, _ in stale:
            print(f"{p.relative_to(ROOT)}: out of date; run python tools/generate.py", file=sys.stderr)
        return 1 if stale else 0
    for p, text in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        print(p.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
