"""agent events: the hardware event history (kernel log, pstore, previous boot, IPMI SEL)."""

from __future__ import annotations

import json
import time

import click

from agent.cli.output import sev, table


@click.command("events")
@click.option("--since", default="24h", show_default=True, metavar="DURATION",
              help="How far back: 90m, 24h, 7d, 2w (or seconds); 'all' for everything kept.")
@click.option("--component", metavar="NAME", help="Only this component: board, cpu, memory, pcie, fs, raid, disk or disk:sda.")
@click.option("--class", "cls", metavar="CLASS", help="Only this event class or family: mce.uncorrected, aer, block.io_error.")
@click.option("--severity", type=click.Choice(["info", "warning", "critical"]), default="info", show_default=True,
              help="Minimum severity.")
@click.option("--limit", default=500, show_default=True, type=click.IntRange(1, 100000), help="At most this many events.")
@click.option("--state-dir", "state_dir", metavar="DIR", help="State directory (config state.dir).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: a list of events, newest first (stable schema).")
@click.pass_obj
def events(app, since: str, component: str | None, cls: str | None, severity: str, limit: int,
           state_dir: str | None, as_json: bool) -> int:
    """List hardware events from the history, newest first.

    Events come from the kernel log (MCE, EDAC, AER, I/O errors, lockups...), pstore and the
    previous boot's journal, unexpected reboots and the BMC's SEL; they survive restarts and
    reboots for the configured retention.

    \b
    Examples:
      agent events
      agent events --since 7d --component board
      agent events --class aer --json | jq '.[].device'
    """
    from agent.state.events import EventStore, parse_duration  # noqa: PLC0415
    from agent.model import Severity  # noqa: PLC0415
    from agent.state.store import Store  # noqa: PLC0415

    try:
        window = None if since == "all" else parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    cfg = app.config()
    store = Store.in_dir(state_dir or cfg.state.dir)
    try:
        rows = EventStore(store).query(since=None if window is None else time.time() - window, component=component,
                                       cls=cls, limit=limit, min_severity=Severity.parse(severity))
    finally:
        store.close()
    if as_json:
        app.echo(json.dumps(rows, indent=2, sort_keys=True, default=str))
        return 0
    if not rows:
        app.echo(f"no events in the last {since}" if window is not None else "no events")
        return 0
    out = []
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["time"]))
        n = f" x{r['events']}" if r["events"] > 1 else ""
        summary = (r["raw"][0] if r["raw"] else "")[:120]
        out.append((when, sev(r["severity"]), r["class"] + n, r["component"], r["device"], r["source"], summary))
    app.echo(table(("TIME", "SEVERITY", "CLASS", "COMPONENT", "DEVICE", "SOURCE", "RECORD"), out))
    return 0


COMMANDS = (events,)
