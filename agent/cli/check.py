"""agent check: one collection cycle, print findings, exit 0/1/2/3 (cron, Nagios, Icinga)."""

from __future__ import annotations

import json
import logging

import click

from agent.cli.common import host_options, pass_host_options
from agent.cli.output import exit_code, render_status

log = logging.getLogger("hwagent.cli")


def open_store_soft(cfg, app):
    """The state store if usable (acks, history); None with a note when not (no root). While a
    daemon holds the state directory, an in-memory copy: a one-shot run must not store the same
    kernel events a second time (two writers counted every event twice)."""
    from pathlib import Path  # noqa: PLC0415

    from agent.statelock import StateLock  # noqa: PLC0415
    from agent.state.store import Store, StoreError  # noqa: PLC0415

    pid = StateLock.holder(cfg.state.dir)
    if pid is not None:
        log.info("a daemon (pid %s) holds %s: working on a read-only copy of its store", pid or "?", cfg.state.dir)
        store = Store.memory_copy(Path(cfg.state.dir) / "state.db", "the daemon holds the state directory")
        store.degraded = None  # expected for a one-shot run beside the daemon: no finding
        return store
    try:
        return Store.in_dir(cfg.state.dir)
    except StoreError as exc:
        app.echo(f"note: {exc}; running without acks and history", err=True)
        return None


def run_cycle(app) -> dict:
    from agent.cli.common import one_shot_config  # noqa: PLC0415
    from agent.daemon import Daemon, host_from_config, snapshot_to_status  # noqa: PLC0415
    from agent.statelock import StateLock  # noqa: PLC0415
    from agent.state.store import StoreError  # noqa: PLC0415

    cfg = one_shot_config(app.config())
    store = open_store_soft(cfg, app)
    lock = None
    if store is not None and not store.path.name == ":memory:":
        try:  # a daemon starting meanwhile waits for this cycle instead of writing beside it
            lock = StateLock.acquire(cfg.state.dir)
        except StoreError:
            pass  # no lock (a running daemon holds it, or the state dir is read-only): the check still runs
    try:
        daemon = Daemon(cfg, host_from_config(cfg), store)
        snap = daemon.run_once()
        daemon.close_collectors()
        return snapshot_to_status(snap)
    finally:
        if store is not None:
            store.close()
        if lock is not None:
            lock.release()


@click.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON (same schema as `agent status --json`).")
@host_options
@click.pass_obj
@pass_host_options
def check(app, as_json: bool) -> int:
    """Run one collection cycle and print the findings.

    Exits 0 (ok), 1 (warning), 2 (critical) or 3 (unknown: no collector produced data), so it
    can run from cron or as a Nagios/Icinga check.

    \b
    Examples:
      agent check
      agent check --json | jq '.findings[].summary'
      agent check --path.sysfs /srv/captures/board7/sys --state-dir /tmp/hw
    """
    status = run_cycle(app)
    app.echo(json.dumps(status, indent=2, sort_keys=True) if as_json else render_status(status))
    return exit_code(status)
