"""agent disk backtest|export: replay fleet SMART history through the disk rules; export our own."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime, timezone

import click

from agent.cli.output import table


@click.group("disk")
def disk() -> None:
    """Disk health tools: replay SMART history against the rules, export the agent's own history."""


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def render(res: dict) -> str:
    lines = [f"{res['drive_days']} drive-days over {res['days']} days, {res['overall']['drives']} drives "
             f"({res['overall']['failed']} failed); {res['drive_days_per_second'] or '-'} drive-days/s"
             + (f"; {res['skipped_rows']} rows skipped" if res["skipped_rows"] else "")]
    head = ("MODEL", "DRIVES", "FAILED", "LEVEL", "RECALL >=0d", ">=7d", ">=14d", ">=30d", "FP RATE")
    rows = []
    groups = [("(all)", res["overall"]), *res["models"].items()]
    for model, fig in groups:
        for level in ("warning", "critical", "reference_any_5_187_188_197_198"):
            r = fig[level]
            name = {"warning": "warning+", "critical": "critical"}.get(level, "ref: any 5/187/188/197/198 > 0")
            rows.append((model, str(fig["drives"]), str(fig["failed"]), name,
                         *(_pct(r["recall"][f">={k}d"]) for k in (0, 7, 14, 30)), _pct(r["false_positive_rate"])))
    lines.append(table(head, rows))
    fired = res["overall"]["rules_fired"]
    if fired:
        lines.append("")
        lines.append(table(("RULE (first warning+)", "FAILED DRIVES", "HEALTHY DRIVES"),
                           [(r, str(c["failed"]), str(c["healthy"])) for r, c in fired.items()]))
    for e in res["rule_errors"]:
        lines.append(f"rule error: {e}")
    return "\n".join(lines)


@disk.command("backtest")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_obj
def backtest(app, files: tuple[str, ...], as_json: bool) -> int:
    """Replay daily SMART rows through the collector's parser, the state store and the rules.

    FILES are daily CSV files (date,serial_number,model,capacity_bytes,failure,smart_N_normalized,
    smart_N_raw,...; .gz allowed; a drive's last row has failure=1), or files written by
    `agent disk export`. The thresholds come from the config (--config), so the cost of a change
    shows before it is deployed: recall at >= 0/7/14/30 days before failure, the false-positive
    rate (drives that never failed but were flagged), per model and overall, and which rules fired.

    \b
    Examples:
      agent disk backtest data/2024-*.csv.gz
      agent --config /tmp/stricter.toml disk backtest --json days/*.csv > figures.json
    """
    from agent.backtest.replay import run_files  # noqa: PLC0415
    from agent.backtest.rows import RowError  # noqa: PLC0415
    from agent.state.store import Store  # noqa: PLC0415

    store = Store.memory()
    try:
        res = run_files(files, app.config(), store).to_dict()
    except RowError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    app.echo(json.dumps(res, indent=2, sort_keys=True) if as_json else render(res))
    return 0


@disk.command("export")
@click.option("--state-dir", default="/var/lib/hwagent", show_default=True, help="The agent's state directory.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="File (default stdout).")
@click.option("--failed", multiple=True, metavar="SERIAL[=YYYY-MM-DD]",
              help="Mark a drive as failed (on its last exported day, or the given day).")
@click.pass_obj
def export(app, state_dir: str, output: str | None, failed: tuple[str, ...]) -> int:
    """Write the agent's stored SMART counter history as daily rows (the backtest's input format).

    One row per drive and day with a stored change, carrying the counters the rules watch
    (smart_N_raw for ATA attributes).

    \b
    Examples:
      agent disk export -o /tmp/host1.csv
      agent disk export --failed WD-WCC4E1234567=2026-11-30 -o host1.csv
    """
    from agent.backtest.export import export_rows  # noqa: PLC0415
    from agent.state.store import Store  # noqa: PLC0415

    marks = {}
    for f in failed:
        serial, _, day = f.partition("=")
        marks[serial] = day or None
    store = Store.in_dir(state_dir)
    try:
        header, rows = export_rows(store, marks)
    finally:
        store.close()
    fh = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    finally:
        if output:
            fh.close()
    app.echo(f"{len(rows)} rows written at {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", err=True)
    return 0


COMMANDS = (disk,)
