"""agent availability: the measured availability report from the status service's incident history."""

from __future__ import annotations

import json
import os

import click


@click.command("availability")
@click.option("--service", "-s", "service", metavar="ID", help="One service (default: all).")
@click.option("--month", metavar="YYYY-MM", help="A calendar month (default: the current month).")
@click.option("--year", metavar="YYYY", help="A calendar year, with a line per month.")
@click.option("--url", metavar="URL", help="Ask the status service (env HWAGENT_STATUS_URL); default: the local database.")
@click.option("--database", metavar="FILE", help="Local status database (config statuspage.database).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def availability(app, service, month, year, url, database, as_json) -> int:
    """Availability per service: percentage, downtime, incidents, and what 97/98/99/99.9 % allow.

    Major outage and maintenance count fully, partial outage with statuspage.partial_outage_weight,
    degraded not at all; planned maintenance is listed, never subtracted.

    \b
    Examples:
      agent availability --month 2026-11
      agent availability --service web --year 2026
      HWAGENT_STATUS_URL=https://status.example.net agent availability --json
    """
    from hwstatus import availability as av  # noqa: PLC0415
    from hwstatus import config as _sp  # noqa: F401,PLC0415

    if month and year:
        raise click.UsageError("give --month or --year, not both")
    cfg = app.config().section("statuspage")
    if url or (os.environ.get("HWAGENT_STATUS_URL") and not database):
        from agent.statusclient import ClientError, StatusClient  # noqa: PLC0415

        try:
            rep = StatusClient.from_env(cfg, url=url).availability(service, month, year)
        except ClientError as exc:
            raise click.ClickException(str(exc)) from None
    else:
        from hwstatus.incidents import StatusService  # noqa: PLC0415
        from hwstatus.store import StatusStore, StoreError  # noqa: PLC0415

        path = database or cfg.database
        if not os.path.exists(path):
            raise click.ClickException(f"{path}: no status database here; run this on the status host or pass --url")
        try:
            svc = StatusService(cfg, StatusStore(path))
            rep = av.report(svc, service_id=service, month=month, year=year)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    app.echo(json.dumps(rep, indent=2, sort_keys=True, ensure_ascii=False) if as_json else av.render_text(rep).rstrip("\n"))
    return 0


COMMANDS = (availability,)
