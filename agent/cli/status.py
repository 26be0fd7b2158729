"""agent status: ask the running daemon (its /status.json), or run one cycle when none runs."""

from __future__ import annotations

import json

import click

from agent.cli.check import run_cycle
from agent.cli.common import host_options, pass_host_options
from agent.cli.output import exit_code, render_status
from agent.daemon_client import query_daemon


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (stable schema, see README).")
@click.option("--local", is_flag=True, help="Do not ask the daemon; run one cycle here.")
@click.option("--web.listen-address", "listen", metavar="ADDR", help="Where the daemon listens (default: config exporter.listen).")
@host_options
@click.pass_obj
@pass_host_options
def status(app, as_json: bool, local: bool, listen: str | None) -> int:
    """Show findings and collector state from the running daemon.

    Falls back to one local cycle (like `agent check`) when no daemon answers. Exit codes as
    `agent check`.

    \b
    Examples:
      agent status
      agent status --json
      agent status --web.listen-address 127.0.0.1:10067
    """
    cfg = app.config()
    data = None if local else query_daemon(listen or cfg.exporter.listen)
    if data is None:
        if not local:
            app.echo("note: no daemon answered; running one cycle locally", err=True)
        data = run_cycle(app)
    app.echo(json.dumps(data, indent=2, sort_keys=True) if as_json else render_status(data))
    return exit_code(data)
