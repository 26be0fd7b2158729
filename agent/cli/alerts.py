"""agent alerts: print the Prometheus alert rules, or write the whole mixin to a directory."""

from __future__ import annotations

from pathlib import Path

import click

from agent.mixin import Settings, build
from agent.mixin.settings import DEFAULT_RUNBOOK_BASE


def alerts_text(settings: Settings | None = None) -> str:
    from agent.mixin import alerts as mixin_alerts  # noqa: PLC0415

    return mixin_alerts.render(settings or Settings())


@click.command("alerts")
@click.option("--output-dir", "-o", type=click.Path(file_okay=False, path_type=Path),
              help="Write the whole mixin here: prometheus_alerts.yml, prometheus_rules.yml (recording rules), "
                   "dashboards/*.json. Existing files of the same name are replaced.")
@click.option("--selector", default=Settings.selector, show_default=True,
              help="Label matchers selecting hwagent series, without braces (e.g. 'job=\"hwagent\"').")
@click.option("--runbook-base", default=DEFAULT_RUNBOOK_BASE, show_default=True,
              help="Base URL of the docs tree; runbook_url points at {base}/findings/<family>.md#<rule>.")
@click.option("--critical-severity", default=Settings.critical_severity, show_default=True,
              help="Value of the severity label on critical alerts.")
@click.option("--warning-severity", default=Settings.warning_severity, show_default=True,
              help="Value of the severity label on warning alerts.")
@click.option("--no-warnings", is_flag=True, help="Only critical and outage alerts.")
@click.option("--board-fleet-hosts", type=click.IntRange(min=1), default=Settings.board_fleet_hosts, show_default=True,
              help="Fleet alert: hosts of one board model showing a board verdict ...")
@click.option("--board-fleet-window", default=Settings.board_fleet_window, show_default=True,
              help="... within this PromQL duration.")
@click.pass_obj
def alerts(app, output_dir, selector, runbook_base, critical_severity, warning_severity, no_warnings,
           board_fleet_hosts, board_fleet_window) -> int:
    """Print the Prometheus alert rules (YAML for rule_files), or write the mixin to a directory.

    Every alert carries `severity`, `impact` (risk: a predictive hardware finding on a host that
    still serves; outage: the host or its agent is down) and a `runbook_url`.

    \b
    Examples:
      agent alerts > /etc/prometheus/rules/hwagent-alerts.yml
      agent alerts | promtool check rules /dev/stdin
      agent alerts --output-dir /srv/mixin --selector 'job="hwagent"' \\
          --runbook-base https://wiki.example.net/hwagent/docs
    """
    try:
        settings = Settings(selector=selector, runbook_base=runbook_base.rstrip("/"),
                            critical_severity=critical_severity, warning_severity=warning_severity,
                            warnings=not no_warnings, board_fleet_hosts=board_fleet_hosts,
                            board_fleet_window=board_fleet_window)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    if output_dir is None:
        app.echo(alerts_text(settings).rstrip("\n"))
        return 0
    for rel, text in build(settings).items():
        dest = output_dir / rel
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text)
        except OSError as err:
            raise click.ClickException(f"cannot write {dest}: {err.strerror or err}") from None
        app.echo(str(dest))
    return 0
