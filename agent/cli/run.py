"""agent run: the daemon (what hwagent.service runs)."""

from __future__ import annotations

import logging
import signal
import sqlite3
import sys
import threading

import click

from agent.cli.common import host_options, pass_host_options

log = logging.getLogger("hwagent.run")


@click.command("run")
@click.option("--web.listen-address", "listen", metavar="ADDR",
              help="Address for /metrics, e.g. :10067 or 127.0.0.1:10067 (config exporter.listen).")
@click.option("--web.config.file", "web_config", metavar="FILE",
              help="TLS and basic-auth config, exporter-toolkit format (config exporter.web_config_file).")
@click.option("--once", is_flag=True, help="Run one cycle, print /metrics to stdout and exit.")
@host_options
@click.pass_obj
@pass_host_options
def run(app, listen: str | None, web_config: str | None, once: bool) -> int:
    """Run the agent: collect on schedule, evaluate rules, serve /metrics.

    Zero configuration works: every collector whose subsystem exists runs with its default
    interval. Under systemd (Type=notify) it reports READY=1 after the first full cycle and
    feeds the watchdog; SIGTERM stops it cleanly. SIGHUP does not reload the configuration: it is
    logged and ignored (restart the service to apply a changed config).

    \b
    Examples:
      agent run
      agent run --web.listen-address 127.0.0.1:10067 --state-dir /tmp/hwagent
      agent run --once --path.sysfs ./capture/sys
    """
    cfg = app.config()
    if listen:
        cfg = cfg.replace(exporter={"listen": listen})
    if web_config:
        cfg = cfg.replace(exporter={"web_config_file": web_config})
    web = None
    if cfg.exporter.web_config_file:
        from agent.exporter.webconfig import WebConfigError, load_web_config  # noqa: PLC0415

        try:
            web = load_web_config(cfg.exporter.web_config_file)
        except WebConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--web.config.file") from None
    else:  # plain HTTP: asyncio without the ssl module (agent.lean)
        from agent.lean import asyncio_without_tls  # noqa: PLC0415

        asyncio_without_tls()
    from agent.daemon import Daemon, host_from_config, limit_malloc_arenas, sd_notify, snapshot_to_status  # noqa: PLC0415
    from agent.exporter.http import MetricsRenderer, MetricsServer  # noqa: PLC0415
    from agent.statelock import StateLock  # noqa: PLC0415
    from agent.state.store import StateDirBusy  # noqa: PLC0415

    lock = None
    if not once:
        try:
            # one daemon per state directory; a one-shot `agent check` holds it for seconds only
            lock = StateLock.acquire(cfg.state.dir, wait=STATE_LOCK_WAIT_SECONDS) if _mkdir(cfg.state.dir) else None
        except StateDirBusy as exc:
            raise click.ClickException(f"state directory {exc}; stop it first or pass another --state-dir") from None
    store = open_daemon_store(cfg.state.dir, once)
    if store.recovered_from:
        log.error("%s", store.recovered_from)
    if store.degraded:
        log.error("%s", store.degraded)
    if not once:
        limit_malloc_arenas()
    if once:
        from agent.cli.common import one_shot_config  # noqa: PLC0415

        cfg = one_shot_config(cfg)
    daemon = Daemon(cfg, host_from_config(cfg), store)
    renderer = MetricsRenderer(lambda: daemon.snapshot, cfg.exporter.process_metrics)
    daemon.on_snapshot = renderer.prerender  # each new snapshot's body rendered off the request path
    if once:
        daemon.run_once()
        sys.stdout.write(renderer.render().decode())
        store.close()
        return 0
    try:
        server = MetricsServer(cfg.exporter.listen, renderer, lambda: snapshot_to_status(daemon.snapshot),
                               daemon.health, web=web)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--web.listen-address") from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {cfg.exporter.listen}: {exc.strerror}") from None
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("signal %d: stopping", signum)
        sd_notify("STOPPING=1")
        stop.set()

    def on_hup(_signum, _frame):
        log.warning("SIGHUP: configuration reload is not supported; the agent keeps running with the "
                    "configuration it started with (restart it to apply changes)")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hup)
    server.start()
    log.warning("hwagent listening on %s (port %d, %s%s), state in %s", cfg.exporter.listen, server.port,
                "https" if server.tls else "http", ", basic auth" if web and web.users else "", cfg.state.dir)

    def ready():
        snap = daemon.snapshot
        sd_notify(f"READY=1\nSTATUS={len(snap.active_findings())} active finding(s), worst {snap.worst_severity().label}")

    from agent.runner import kill_running  # noqa: PLC0415

    try:
        daemon.run_forever(stop, on_ready=ready)
    finally:
        # nothing the agent started outlives it (outside systemd no cgroup cleans up after us)
        n = kill_running()
        if n:
            log.warning("stopped %d command(s) still running", n)
        server.stop()
        store.close()
        if lock is not None:
            lock.release()
    return 0


STATE_LOCK_WAIT_SECONDS = 30.0


def _mkdir(d) -> bool:
    from pathlib import Path  # noqa: PLC0415

    try:
        Path(d).mkdir(parents=True, exist_ok=True, mode=0o750)
    except OSError:
        return Path(d).is_dir()
    return True


def open_daemon_store(state_dir, once: bool):
    """The on-disk store; on a read-only, full or unwritable state directory an in-memory copy
    (the agent.state_unavailable finding says so) so monitoring and /metrics go on."""
    from agent.state.store import Store, StoreError  # noqa: PLC0415

    try:
        return Store.in_dir(state_dir)
    except (StoreError, sqlite3.Error) as exc:
        if once:
            raise click.ClickException(str(exc)) from None
        from pathlib import Path  # noqa: PLC0415

        return Store.memory_copy(Path(state_dir) / "state.db", f"state store unavailable ({exc})")
