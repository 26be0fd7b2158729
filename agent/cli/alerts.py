"""agent alerts: print the shipped Prometheus alert rules."""

from __future__ import annotations

from importlib import resources

import click


def alerts_text() -> str:
    return resources.files("agent").joinpath("data/alerts.yml").read_text()


@click.command("alerts")
@click.pass_obj
def alerts(app) -> int:
    """Print the shipped Prometheus alert rules (YAML for rule_files).

    \b
    Examples:
      agent alerts > /etc/prometheus/hwagent-alerts.yml
      agent alerts | promtool check rules /dev/stdin
    """
    app.echo(alerts_text().rstrip("\n"))
    return 0
