"""agent statuspage serve|render|heartbeat: the off-host customer status service."""

from __future__ import annotations

import signal
import sys

import click


def _cfg(app):
    from agent.statuspage import config as _sp  # noqa: F401,PLC0415 - registers [statuspage]

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
    from agent.statuspage.app import Server, build  # noqa: PLC0415
    from agent.statuspage.store import StoreError  # noqa: PLC0415

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
    from agent.statuspage import page  # noqa: PLC0415
    from agent.statuspage.incidents import StatusService  # noqa: PLC0415
    from agent.statuspage.store import StatusStore, StoreError  # noqa: PLC0415

    cfg = _cfg(app)
    try:
        store = StatusStore(database or cfg.database)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    written = page.write_dir(StatusService(cfg, store), out)
    click.echo(f"wrote {len(written)} files to {out}")
    return 0


@statuspage.command("heartbeat")
@click.option("--url", metavar="URL", help="Status service URL (env HWAGENT_STATUS_URL, else statuspage.public_url).")
@click.option("--host", "host_name", metavar="NAME", help="Host name to report (default: this host's name).")
@click.pass_obj
def heartbeat(app, url: str | None, host_name: str | None) -> int:
    """Tell the status service this host is up (boot id and boot time), for the availability report.

    Run it every minute from a timer or cron on each monitored host; gaps and reboots become
    host-down time of that host's services.

    \b
    Examples:
      agent statuspage heartbeat
      HWAGENT_STATUS_URL=https://status.example.net agent statuspage heartbeat --host server-3
      * * * * * root HWAGENT_STATUS_TOKEN_FILE=/etc/hwagent/status.token agent statuspage heartbeat
    """
    from agent.daemon import host_from_config  # noqa: PLC0415
    from agent.statusclient import ClientError, StatusClient  # noqa: PLC0415

    _cfg(app)
    host = host_from_config(app.config())
    try:
        boot_time = float(host.psutil_call("boot_time"))
    except Exception:  # noqa: BLE001 - boot time is optional
        boot_time = None
    body = {"host": host_name or host.hostname().split(".")[0], "boot_id": host.boot_id(), "boot_time": boot_time}
    try:
        StatusClient.from_env(app.config(), url=url).heartbeat(body["host"], body["boot_id"], body["boot_time"])
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"heartbeat sent: {body['host']} boot {body['boot_id']}")
    return 0


COMMANDS = (statuspage,)
