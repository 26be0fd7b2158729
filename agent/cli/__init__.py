"""The ``agent`` command: root click group, the App object, the command registry and main().

Exit codes: ``agent check``/``agent status`` follow the monitoring-plugin convention (0 ok,
1 warning, 2 critical, 3 unknown); other commands exit 0 ok, 1 runtime failure, 2 usage or
config error. Known errors print one line; tracebacks only with ``-v``.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from agent.lean import hashlib_without_openssl

hashlib_without_openssl()  # before anything imports hashlib: no libcrypto in the daemon (agent.lean)

import click  # noqa: E402

from agent import __version__  # noqa: E402
from agent.config_types import Config, ConfigError  # noqa: E402
from agent.state.store import StoreError  # noqa: E402

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
log = logging.getLogger("hwagent")


@dataclass
class App:
    config_path: str | None = None
    verbose: int = 0
    _config: Config | None = field(default=None, repr=False)

    def config(self) -> Config:
        if self._config is None:
            from agent import schema as config_mod  # noqa: PLC0415 - the registries: only when a command needs the config

            self._config = config_mod.load(self.config_path)
        return self._config

    def set_config(self, cfg: Config) -> None:
        self._config = cfg

    def echo(self, text: str = "", err: bool = False) -> None:
        click.echo(text, err=err)

    @staticmethod
    def operator() -> str:
        for var in ("SUDO_USER", "LOGNAME", "USER"):
            if os.environ.get(var):
                return os.environ[var]
        try:
            return os.getlogin()
        except OSError:
            return f"uid{os.getuid()}"


def setup_logging(verbose: int, quiet: bool, level: str | None) -> None:
    if level:
        lvl = getattr(logging, level.upper(), None)
        if not isinstance(lvl, int):
            raise click.BadParameter(f"unknown log level {level!r}", param_hint="--log-level")
    else:
        lvl = logging.ERROR if quiet else logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=lvl, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(lvl)


class _LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            _load(cmd_name)
        return self.commands.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        _load(None)
        return sorted(self.commands)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", metavar="FILE", envvar="HWAGENT_CONFIG",
              help="Config file (default /etc/hwagent/config.toml if it exists; env HWAGENT_CONFIG).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug); tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.option("--log-level", metavar="LEVEL", help="debug, info, warning or error (overrides -v/-q).")
@click.version_option(__version__, prog_name="hwagent")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int, quiet: bool, log_level: str | None) -> None:
    """hwagent: hardware health and recovery agent for Linux servers.

    Reads hwmon sensors, thermal zones and more, turns them into findings with evidence, and
    serves them to Prometheus on /metrics.

    \b
    Examples:
      agent check                       one cycle, print findings, exit 0/1/2/3
      agent run                         the daemon (what hwagent.service runs)
      agent status --json               ask the running daemon
    """
    setup_logging(verbose, quiet, log_level)
    ctx.obj = App(config_path=config_path, verbose=verbose)


@cli.result_callback()
@click.pass_context
def _exit_with(ctx: click.Context, rv: Any, **_kw: Any) -> None:
    """Commands return their exit code; make it the process exit code (CliRunner included)."""
    if isinstance(rv, int) and rv != 0:
        ctx.exit(rv)


# Every command, listed once: name -> (module, attribute). A module is imported only when its
# command runs or when all are listed (help, completion, docs), so `agent run` loads none of the
# others' modules. tests/unit/core/test_registries.py holds this table against the modules.
_COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("agent.cli.run", "run"), "check": ("agent.cli.check", "check"), "status": ("agent.cli.status", "status"),
    "ack": ("agent.cli.ack", "ack"), "config": ("agent.cli.config_cmd", "config_group"),
    "rules": ("agent.cli.rules_cmd", "rules"), "alerts": ("agent.cli.alerts", "alerts"),
    "completion": ("agent.cli.completion", "completion"), "selftest": ("agent.cli.selftest", "selftest"),
    "statuspage": ("agent.cli.statuspage", "statuspage"), "incident": ("agent.cli.incident", "incident"),
    "availability": ("agent.cli.availability", "availability"), "recover": ("agent.cli.recover", "recover"),
    "baseline": ("agent.cli.baseline", "baseline"), "events": ("agent.cli.events", "events"),
    "disk": ("agent.cli.disk", "disk"),
}


def _load(name: str | None) -> None:
    """Add command ``name`` to the root group (every command when None); unknown names add nothing
    (click then says "No such command")."""
    import importlib  # noqa: PLC0415

    for n in ([name] if name is not None else list(_COMMANDS)):
        if n in _COMMANDS and n not in cli.commands:
            mod, attr = _COMMANDS[n]
            cli.add_command(getattr(importlib.import_module(mod), attr), n)


def _register() -> None:
    """Load every command (documentation, help, tests walking ``cli.commands``)."""
    _load(None)


def main(argv: list[str] | None = None) -> None:
    verbose = "-v" in (argv or sys.argv) or "--verbose" in (argv or sys.argv) or "-vv" in (argv or sys.argv)
    try:
        rv = cli.main(args=argv, prog_name="agent", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE if isinstance(exc, click.UsageError) else EXIT_FAILURE)
    except ConfigError as exc:
        click.echo(f"agent: config error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except StoreError as exc:
        click.echo(f"agent: state store: {exc}", err=True)
        sys.exit(EXIT_FAILURE)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001
        if verbose:
            raise
        click.echo(f"agent: error: {type(exc).__name__}: {exc} (run with -v for details)", err=True)
        sys.exit(EXIT_FAILURE)
    sys.exit(rv if isinstance(rv, int) else 0)
