"""Settings of the generated mixin (the knobs node-mixin calls its _config)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_RUNBOOK_BASE = "https://github.com/hwagent/hwagent/blob/main/docs"


@dataclass(frozen=True)
class Settings:
    # label matchers that select hwagent series, without braces (the scrape job's name)
    selector: str = 'job=~"hwagent.*"'
    # base URL of the docs tree: runbook_url = {runbook_base}/findings/<family>.md#<rule id anchor>
    runbook_base: str = DEFAULT_RUNBOOK_BASE
    # values of the `severity` label on generated alerts (route on them in Alertmanager)
    critical_severity: str = "critical"
    warning_severity: str = "warning"
    # emit the warning-level alerts (False: critical and outage alerts only)
    warnings: bool = True
    # fleet: alert when at least this many hosts of one board model showed a board verdict ...
    board_fleet_hosts: int = 2
    # ... within this window (PromQL duration)
    board_fleet_window: str = "7d"
    # Grafana: name of the datasource variable's default and the dashboards' uid prefix
    dashboard_uid_prefix: str = "hwagent"
    dashboard_refresh: str = "1m"

    def sel(self, *extra: str) -> str:
        """``{selector, extra...}`` for a metric selector."""
        parts = [p for p in (self.selector, *extra) if p]
        return "{" + ", ".join(parts) + "}"

    def __post_init__(self) -> None:
        if "{" in self.selector or "}" in self.selector:
            raise ValueError(f"selector {self.selector!r}: give matchers without braces, e.g. job=\"hwagent\"")
        if self.board_fleet_hosts < 1:
            raise ValueError(f"board_fleet_hosts must be >= 1, not {self.board_fleet_hosts}")
