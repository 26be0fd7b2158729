"""agent statuspage heartbeat: this host's heartbeat to the off-host status service (its dead-man switch).

The service itself is the separate `hwstatus` command (``pip install hwagent[status]``)."""

from __future__ import annotations

import click


@click.group("statuspage")
def statuspage() -> None:
    """This host's side of the customer status service (which runs elsewhere: `hwstatus`).

    The heartbeat feeds the service's dead-man switch and availability history; where to and with
    which credential comes from [notify] (url, token_file) or HWAGENT_STATUS_URL /
    HWAGENT_STATUS_TOKEN_FILE.

    \b
    Examples:
      agent statuspage heartbeat
      agent statuspage heartbeat --every 15
    """


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


COMMANDS = (statuspage,)
