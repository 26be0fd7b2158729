"""agent config check|show: validate a config file; print the effective config."""

from __future__ import annotations

import dataclasses
import json

import click

from agent import schema as config_mod
from agent.config_types import DEFAULT_CONFIG_PATH


@click.group("config")
def config_group() -> None:
    """Validate and inspect the configuration."""


@config_group.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.pass_obj
def config_check(app, file: str | None) -> int:
    """Validate a config file; errors name the key path. Exit 0 valid, 2 invalid.

    \b
    Examples:
      agent config check /etc/hwagent/config.toml
      agent --config ./hw.toml config check
    """
    path = file or app.config_path or DEFAULT_CONFIG_PATH
    try:
        cfg = config_mod.load(path, required=True)
        validate_collector_options(cfg)
    except config_mod.ConfigError as exc:
        app.echo(f"{exc}", err=True)
        return 2
    app.echo(f"{path}: ok ({len(cfg.collectors)} collector section(s), {len(cfg.rules)} rule section(s))")
    return 0


def validate_collector_options(cfg) -> None:
    """Build each configured collector once (no collection) so option checks that live in the
    collector (regexes, device specs, modes) fail here too, not only when the daemon starts."""
    from agent.collectors import COLLECTORS_BY_NAME  # noqa: PLC0415
    from agent.host import Host  # noqa: PLC0415

    for name in cfg.collectors:
        cls = COLLECTORS_BY_NAME.get(name)
        if cls is None:
            continue
        try:
            col = cls(Host(), cfg.collector(name), None)
        except config_mod.ConfigError:
            raise
        except Exception:  # noqa: BLE001 - only configuration errors are this command's business
            continue
        try:
            col.close()
        except Exception:  # noqa: BLE001
            pass  # closing a collector built only to validate options: its errors are not config errors


SECRET_WORDS = ("token", "password", "secret", "api_key", "apikey")
REDACTED = "<redacted>"


def redact(value, key: str = ""):
    """Replace secret values (keys naming a token, password or secret; not *_file paths)."""
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, key) for v in value]
    low = key.lower()
    if value and isinstance(value, str) and any(w in low for w in SECRET_WORDS) and not low.endswith(("_file", "_path")):
        return REDACTED
    return value


@config_group.command("show")
@click.pass_obj
def config_show(app) -> int:
    """Print the effective configuration (defaults merged with the file) as JSON.

    Secrets (tokens, passwords) are shown as "<redacted>"; files holding them are shown by path.

    \b
    Examples:
      agent config show
      agent --config ./hw.toml config show
    """
    cfg = app.config()
    data = {name: dataclasses.asdict(sec) for name, sec in cfg.sections.items()}
    data["collectors"] = {n: dataclasses.asdict(c) for n, c in cfg.collectors.items()}
    data["rules"] = {n: dataclasses.asdict(r) for n, r in cfg.rules.items()}
    app.echo(json.dumps(redact(data), indent=2, sort_keys=True, default=str))
    return 0
