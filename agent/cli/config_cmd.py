"""agent config check|show: validate a config file; print the effective config."""

from __future__ import annotations

import dataclasses
import json

import click

from agent import config as config_mod


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
    path = file or app.config_path or config_mod.DEFAULT_CONFIG_PATH
    try:
        cfg = config_mod.load(path, required=True)
    except config_mod.ConfigError as exc:
        app.echo(f"{exc}", err=True)
        return 2
    app.echo(f"{path}: ok ({len(cfg.collectors)} collector section(s), {len(cfg.rules)} rule section(s))")
    return 0


@config_group.command("show")
@click.pass_obj
def config_show(app) -> int:
    """Print the effective configuration (defaults merged with the file) as JSON.

    \b
    Examples:
      agent config show
      agent --config ./hw.toml config show
    """
    cfg = app.config()
    data = {name: dataclasses.asdict(sec) for name, sec in cfg.sections.items()}
    data["collectors"] = {n: dataclasses.asdict(c) for n, c in cfg.collectors.items()}
    data["rules"] = {n: dataclasses.asdict(r) for n, r in cfg.rules.items()}
    app.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    return 0
