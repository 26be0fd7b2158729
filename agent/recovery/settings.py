"""Config sections of the recovery capability: ``[recovery]`` and ``[notify]``."""

from __future__ import annotations

from dataclasses import dataclass

from agent.config_types import doc


@dataclass(frozen=True)
class RecoveryConfig:
    runbooks_dir: str = doc("Directory of runbook TOML files. Empty: the checkout's `runbooks/` next to the package, "
                            "else /usr/share/hwagent/runbooks, else {sys.prefix}/share/hwagent/runbooks, "
                            "else agent/data/runbooks (env HWAGENT_RUNBOOKS_DIR overrides the search).", "")
    baseline_max_age_hours: float = doc("A stored baseline older than this is reported as stale when a run starts.", 48.0)
    export_target: str = doc("Where `agent baseline push` (hwagent-baseline-push.timer) keeps the known-good baseline and "
                             "the filled mainboard-swap checklist off-host: a directory, `[user@]host:path` / "
                             "`rsync://...`, or `statuspage`. Empty: not kept off-host (a readiness finding says so).", "")
    export_method: str = doc("Copy program for a host:path target: `rsync` or `scp`.", "rsync")


@dataclass(frozen=True)
class NotifyConfig:
    url: str = doc("Base URL of the customer status service (runs on another host); empty disables notify steps.", "")
    token: str = doc("Bearer token for the status service API (prefer token_file).", "")
    token_file: str = doc("File holding the bearer token (first line).", "")
    service: str = doc("Status-page service id this host's incidents affect (e.g. `web`).", "")
    timeout_seconds: float = doc("HTTP timeout per request.", 10.0)


# the top-level sections of this capability (added to the config schema by agent.schema)
SECTIONS: dict[str, type] = {"recovery": RecoveryConfig, "notify": NotifyConfig}
