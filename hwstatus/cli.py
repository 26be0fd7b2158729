"""hwstatus: the customer status service's own command (serve, render, credential).

It runs on its own host (installed with ``pip install hwagent[status]``), reads its own config file
(``--config``, env ``HWSTATUS_CONFIG``, default ``/etc/hwagent/statuspage.toml``, section
``[statuspage]``) and never runs on the servers it reports on; those only talk to it through
:mod:`agent.statusclient`.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

import click

DEFAULT_CONFIG = "/etc/hwagent/statuspage.toml"


@dataclass
class HwApp:
    config_path: str | None = None
    _config: Any = field(default=None, repr=False)

    def config(self):
        if self._config is None:
            from agent import schema as config_mod  # noqa: PLC0415 - the agent's collectors, only to load the file

            try:
                self._config = config_mod.load(self.config_path)
            except config_mod.ConfigError as exc:
                raise click.ClickException(str(exc)) from None
        return self._config


def _cfg(app: HwApp):
    return app.config().section("statuspage")


@click.group("hwstatus")
@click.option("--config", "config_path", metavar="FILE", envvar="HWSTATUS_CONFIG",
              help=f"Config file of the status service (env HWSTATUS_CONFIG; default {DEFAULT_CONFIG}).")
@click.pass_context
def hwstatus(ctx: click.Context, config_path: str | None) -> None:
    """The customer status service (run it on a different host than the servers it reports on).

    It takes Alertmanager webhooks, the incident API, heartbeats (its dead-man switch) and runbook
    notices; serves the status page (HTML, JSON, Atom) and sends subscriber notices.

    \b
    Examples:
      hwstatus serve
      hwstatus --config ./statuspage.toml serve --listen 127.0.0.1:10068
      hwstatus render --out /var/www/status
      hwstatus credential add server-3 --role host --host server-3
    """
    if config_path is None and os.path.exists(DEFAULT_CONFIG):
        config_path = DEFAULT_CONFIG
    ctx.obj = HwApp(config_path)


@hwstatus.command("serve")
@click.option("--listen", metavar="HOST:PORT", help="Listen address (config statuspage.listen); port 0 picks a free port.")
@click.option("--database", metavar="FILE", help="SQLite database (config statuspage.database).")
@click.pass_obj
def serve(app, listen: str | None, database: str | None) -> int:
    """Run the status service in the foreground (what hwagent-statuspage.service runs).

    \b
    Examples:
      hwstatus serve
      hwstatus serve --listen 127.0.0.1:10068
      hwstatus --config /etc/hwagent/statuspage.toml serve
    """
    from hwstatus.app import build  # noqa: PLC0415
    from hwstatus.server import Server  # noqa: PLC0415
    from hwstatus.store import StoreError  # noqa: PLC0415

    cfg = _cfg(app)
    try:
        server = Server(build(cfg, database=database), listen or cfg.listen)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot listen on {listen or cfg.listen}: {exc}") from None
    host, port = server.address
    click.echo(f"statuspage: listening on http://{host}:{port}", err=True)
    sys.stderr.flush()

    def _term(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("statuspage: stopping", err=True)
    return 0


@hwstatus.command("render")
@click.option("--out", "out", required=True, metavar="DIR", help="Directory to write index.html, summary.json, feed.atom into.")
@click.option("--database", metavar="FILE", help="SQLite database (config statuspage.database).")
@click.pass_obj
def render(app, out: str, database: str | None) -> int:
    """Write the status page once into a directory (for any static web host), atomically.

    \b
    Examples:
      hwstatus render --out /var/www/status
      hwstatus render --out ./site --database ./status.db
      hwstatus render --out /srv/www && rsync -a /srv/www/ web2:/var/www/status/
    """
    from hwstatus import page  # noqa: PLC0415
    from hwstatus.incidents import StatusService  # noqa: PLC0415
    from hwstatus.store import StatusStore, StoreError  # noqa: PLC0415

    cfg = _cfg(app)
    try:
        store = StatusStore(database or cfg.database)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    written = page.write_dir(StatusService(cfg, store), out)
    click.echo(f"wrote {len(written)} files to {out}")
    return 0


@hwstatus.group("credential")
def credential() -> None:
    """Credentials of the status service, one per role (run on the status host; stored hashed).

    Roles: operator (everything), alertmanager (only the webhook), host (one monitored host's
    heartbeats, runbook notices and documents). Give each monitored server its own host credential
    and revoke it when the server is decommissioned or compromised.

    \b
    Examples:
      hwstatus credential add alertmanager --role alertmanager
      hwstatus credential add server-3 --role host --host server-3 > /tmp/server-3.token
      hwstatus credential list
      hwstatus credential revoke server-3
    """


def _store(app, database):
    from hwstatus.store import StatusStore, StoreError  # noqa: PLC0415

    try:
        return StatusStore(database or _cfg(app).database)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


@credential.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(("operator", "alertmanager", "host")), required=True)
@click.option("--host", "host_name", default="", metavar="HOST", help="The host a host credential is bound to.")
@click.option("--database", metavar="FILE", help="SQLite database (config statuspage.database).")
@click.pass_obj
def credential_add(app, name: str, role: str, host_name: str, database: str | None) -> int:
    """Create a credential and print its token once (only its hash is stored)."""
    import time  # noqa: PLC0415

    from hwstatus import auth  # noqa: PLC0415

    try:
        token = auth.create(_store(app, database), name, role, host_name, now=time.time())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(token)
    click.echo(f"credential {name!r} ({role}{' for ' + host_name if host_name else ''}) created; the token above is "
               "shown only now", err=True)
    return 0


@credential.command("list")
@click.option("--database", metavar="FILE", help="SQLite database (config statuspage.database).")
@click.pass_obj
def credential_list(app, database: str | None) -> int:
    """List credentials (never their tokens)."""
    from hwstatus import auth, texts  # noqa: PLC0415

    for c in auth.listing(_store(app, database)):
        state = f"revoked {texts.iso(c['revoked'])}" if c["revoked"] else \
            (f"last used {texts.iso(c['last_used'])}" if c["last_used"] else "never used")
        click.echo(f"{c['name']:<24} {c['role']:<13} {c['host'] or '-':<20} {state}")
    return 0


@credential.command("revoke")
@click.argument("name")
@click.option("--database", metavar="FILE", help="SQLite database (config statuspage.database).")
@click.pass_obj
def credential_revoke(app, name: str, database: str | None) -> int:
    """Revoke a credential at once (a decommissioned or compromised host)."""
    import time  # noqa: PLC0415

    from hwstatus import auth  # noqa: PLC0415

    if not auth.revoke(_store(app, database), name, now=time.time()):
        raise click.ClickException(f"no active credential named {name!r}")
    click.echo(f"credential {name!r} revoked")
    return 0


def main(argv: list[str] | None = None) -> None:
    try:
        rv = hwstatus.main(args=argv, prog_name="hwstatus", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)
