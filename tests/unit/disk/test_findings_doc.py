"""docs/findings/disk.md lists every counter rule with its current defaults and a source."""

from __future__ import annotations

from pathlib import Path

from agent.rules import RULES_BY_ID
from agent.rules.disk_counters import COUNTERS

DOC = Path(__file__).resolve().parents[3] / "docs" / "findings" / "disk.md"


def test_every_counter_row_is_documented_with_its_defaults():
    text = DOC.read_text()
    for r in COUNTERS:
        line = (f"| `{r.rule_id}` | {r.attribute} | {r.info} | {r.warning} | {r.critical} | "
                f"{r.growth_warning} / {r.warning_window_days:g} d | {r.growth_critical} / {r.critical_window_days:g} d | "
                f"{r.young_hours:g} |")
        assert line in text, f"docs/findings/disk.md: table row out of date for {r.rule_id}:\n{line}"
        assert r.source, r.rule_id
        assert r.source in RULES_BY_ID[r.rule_id].description  # the source sits next to the rule


def test_windows_in_seconds():
    """The table's windows are days; the rules take seconds (86,400 per day)."""
    defaults = RULES_BY_ID["disk.reallocated_sectors"].defaults
    assert (defaults["warning_window_seconds"], defaults["critical_window_seconds"]) == (2_592_000.0, 604_800.0)
    assert RULES_BY_ID["disk.crc_errors"].defaults["critical_window_seconds"] == 86_400.0
