"""agent rules: list rule ids, defaults and runbooks."""

from __future__ import annotations

import json

import click

from agent.cli.output import table


@click.command("rules")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def rules(app, as_json: bool) -> int:
    """List every rule id with its default parameters and suggested runbook.

    \b
    Examples:
      agent rules
      agent rules --json
    """
    from agent.rules import RULES  # noqa: PLC0415

    if as_json:
        app.echo(json.dumps([{"id": r.id, "description": r.description, "defaults": r.defaults,
                              "runbook": r.runbook} for r in RULES], indent=2))
        return 0
    rows = [(r.id, ", ".join(f"{k}={v}" for k, v in r.defaults.items()) or "-", r.runbook or "-", r.description)
            for r in RULES]
    app.echo(table(("RULE", "PARAMETERS", "RUNBOOK", "DESCRIPTION"), rows))
    return 0
