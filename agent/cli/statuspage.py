"""agent statuspage serve|render|heartbeat|credential: the off-host customer status service."""

from __future__ import annotations

import signal
import sys

import click


def _cfg(app):
    from hwstatus import config as _sp  # noqa: F401,PLC0415 - registers [statuspage]

    return app.config().section("statuspage")


@click.group("statuspage")
def statuspage() -> None:
    """The customer status service (run it on a different host than the servers it reports on).

    It takes Alertmanager webhooks and the incident API, serves the status page (HTML, JSON,
    Atom) and sends subscriber notices. Configure it in the [statuspage] config section.

    \b
    Examples:
      agent statuspage serve
      agent statuspage serve --listen 127.0.0.1:10068 --database /var/lib/hwagent-statuspage/status.db
      agent statuspage render --out /var/www/status
    """


@statuspage.command("serve")
@click.option("--listen", metavar="HOST:PORT", help="Listen address (config statuspage.listen); port 0 picks a free port.")
@click.option("--database", metavar="FILE", help="SQLite database (config statuspage.database).")
@click.pass_obj
def serve(app, listen: str | None, database: str | None) -> int:
    """Run the status service in the foreground (what hwagent-statuspage.service runs).

    \b
    Examples:
      agent statuspage serve
      agent statuspage serve --listen 127.0.0.1:10068
      HWAGENT_CONFIG=/etc/hwagent/statuspage.toml agent statuspage serve
    """
    from hwstatus.app import Server, build  # noqa: PLC0415
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


@statuspage.command("render")
@click.option("--out", "out", required=True, metavar="DIR", help="Directory to write index.html, summary.json, feed.atom into.")
@click.option("--database", metavar="FILE", help="SQLite database (config statuspage.database).")
@click.pass_obj
def render(app, out: str, database: str | None) -> int:
    """Write the status page once into a directory (for any static web host), atomically.

    \b
    Examples:
      agent statuspage render --out /var/www/status
      agent statuspage render --out ./site --database ./status.db
      agent statuspage render --out /srv/www && rsync -a /srv/www/ web2:/var/www/status/
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


@statuspage.command("heartbeat")
@click.option("--url", metavar="URL", help="Status service URL (env HWAGENT_STATUS_URL, else [notify] url).")
@click.option("--host", "host_name", metavar="NAME", help="Host name to report (default: this host's name).")
@click.option("--every", "every", type=click.FloatRange(min=1.0), default=None, metavar="SECONDS",
              help="Keep running and send one every SECONDS (the shipped unit: 15); failures are logged, never fatal.")
@click.pass_obj
def heartbeat(app, url: str | None, host_name: str | None, every: float | None) -> int:
    """Tell the status service this host is up (boot id and boot time).

    The service's dead-man switch opens the host's incident when these stop (45 s by default), and
    gaps and reboots become host-down time in the availability report. The shipped unit runs
    `--every 15`; one process, no start-up cost per heartbeat.

    \b
    Examples:
      agent statuspage heartbeat
      agent statuspage heartbeat --every 15
      HWAGENT_STATUS_URL=https://status.example.net agent statuspage heartbeat --host server-3
    """
    import time  # noqa: PLC0415

    from agent.daemon import host_from_config  # noqa: PLC0415
    from agent.statusclient import ClientError, StatusClient  # noqa: PLC0415

    _cfg(app)
    host = host_from_config(app.config())
    try:
        boot_time = float(host.psutil_call("boot_time"))
    except Exception:  # noqa: BLE001 - boot time is optional
        boot_time = None
    name = host_name or host.hostname().split(".")[0]
    boot_id = host.boot_id()
    try:
        client = StatusClient.from_env(app.config(), url=url, retries=0 if every else 3)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None
    while True:
        started = time.monotonic()
        try:
            res = client.heartbeat(name, boot_id, boot_time)
        except ClientError as exc:
            if not every:
                raise click.ClickException(str(exc)) from None
            click.echo(f"heartbeat failed (will retry in {every:g} s): {exc}", err=True)
        else:
            if not every:
                click.echo(f"heartbeat sent: {name} boot {boot_id}")
            if isinstance(res, dict) and res.get("note"):
                click.echo(f"status service: {res['note']}", err=True)
        if not every:
            return 0
        time.sleep(max(0.0, every - (time.monotonic() - started)))


@statuspage.group("credential")
def credential() -> None:
    """Credentials of the status service, one per role (run on the status host; stored hashed).

    Roles: operator (everything), alertmanager (only the webhook), host (one monitored host's
    heartbeats, runbook notices and documents). Give each monitored server its own host credential
    and revoke it when the server is decommissioned or compromised.

    \b
    Examples:
      agent statuspage credential add alertmanager --role alertmanager
      agent statuspage credential add server-3 --role host --host server-3 > /tmp/server-3.token
      agent statuspage credential list
      agent statuspage credential revoke server-3
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


COMMANDS = (statuspage,)
