"""Human output helpers shared by commands (plain text tables, colour only on a TTY)."""

from __future__ import annotations

import sys
from typing import Any, Sequence

import click

_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0, 32), *range(127, 160)] if c not in (9,)}
_CONTROL[9] = " "


def clean(text: object) -> str:
    """Make a value safe for a terminal: control characters (ANSI escapes, newlines, CR) from
    hostile device names or kernel strings are shown escaped, never interpreted."""
    return str(text).translate(_CONTROL)


SEV_COLOUR = {"critical": "red", "warning": "yellow", "info": "cyan", "ok": "green"}


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], max_width: int = 80) -> str:
    cells = [[clean(c) if c is not None else "" for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in cells:
        for i, c in enumerate(r[:-1]):
            widths[i] = min(max(widths[i], len(c)), max_width)
    lines = ["  ".join(h.ljust(widths[i]) if i < len(headers) - 1 else h for i, h in enumerate(headers)).rstrip()]
    for r in cells:
        lines.append("  ".join(c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)).rstrip())
    return "\n".join(lines)


def sev(text: str) -> str:
    if sys.stdout.isatty():
        return click.style(text, fg=SEV_COLOUR.get(text))
    return text


def render_status(status: dict) -> str:
    """The human view of a status dict (schema of daemon.snapshot_to_status)."""
    out = []
    host = status.get("hostname") or "this host"
    worst = status.get("worst_severity", "ok")
    findings = [f for f in status.get("findings", []) if not f.get("acknowledged")]
    acked = [f for f in status.get("findings", []) if f.get("acknowledged")]
    out.append(clean(f"{host}: {worst.upper()} - {len(findings)} active finding(s), {len(acked)} acknowledged"))
    if findings:
        out.append("")
        order = {"critical": 0, "warning": 1, "info": 2}
        rows = [(f["severity"], f["component"], f["device"], f["rule"], f["summary"])
                for f in sorted(findings, key=lambda f: (order.get(f["severity"], 3), f["rule"], f["device"]))]
        out.append(table(("SEVERITY", "COMPONENT", "DEVICE", "RULE", "SUMMARY"), rows))
        runbooks = sorted({f["runbook"] for f in findings if f.get("runbook")})
        if runbooks:
            out.append("")
            out.append(clean("suggested runbooks: " + ", ".join(runbooks)) + "  (agent recover show NAME)")
    if acked:
        out.append("")
        out.append(clean("acknowledged: " + ", ".join(f"{f['rule']} {f['device']}" for f in acked)))
    cols = status.get("collectors", {})
    if cols:
        out.append("")
        col_rows = []
        for name, c in cols.items():
            state = "ok" if c["ok"] and c.get("present", True) else "absent" if c["ok"] else "FAILED"
            note = c.get("error") or ""
            if c.get("skipped_entries"):
                note = (note + "; " if note else "") + f"{c['skipped_entries']} entries skipped"
            col_rows.append((name, state, f"{c['duration_seconds'] * 1000:.1f} ms", note))
        out.append(table(("COLLECTOR", "STATE", "DURATION", "NOTE"), col_rows))
    for e in status.get("rule_errors", []):
        out.append(clean(f"rule error: {e}"))
    return "\n".join(out)


EXIT_BY_SEVERITY = {"ok": 0, "info": 0, "warning": 1, "critical": 2}


def exit_code(status: dict) -> int:
    """Monitoring-plugin exit code: 0 ok, 1 warning, 2 critical, 3 unknown (no collector worked)."""
    worst = status.get("worst_severity", "ok")
    cols = status.get("collectors", {})
    if worst in ("ok", "info") and cols and not any(c["ok"] and c.get("present", True) for c in cols.values()):
        return 3
    return EXIT_BY_SEVERITY.get(worst, 3)
