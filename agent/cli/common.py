"""Options shared by the commands that read the host (node_exporter's flag names)."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import click

from agent.collectors import COLLECTORS
from agent.config_types import CollectorConfig, Config


def host_options(fn):
    """--path.rootfs/--path.sysfs/--path.procfs/--path.devfs/--path.runfs, --state-dir,
    --collector.NAME / --no-collector.NAME."""
    opts = [
        click.option("--path.rootfs", "path_rootfs", metavar="DIR", help="Host root filesystem (config host.root)."),
        click.option("--path.sysfs", "path_sysfs", metavar="DIR", help="sysfs mount point (config host.sysfs)."),
        click.option("--path.procfs", "path_procfs", metavar="DIR", help="procfs mount point (config host.procfs)."),
        click.option("--path.devfs", "path_devfs", metavar="DIR", help="devfs mount point (config host.devfs)."),
        click.option("--path.runfs", "path_runfs", metavar="DIR", help="/run mount point (config host.runfs)."),
        click.option("--state-dir", "state_dir", metavar="DIR", help="State directory (config state.dir)."),
    ]
    for cls in COLLECTORS:
        opts.append(click.option(f"--collector.{cls.name}/--no-collector.{cls.name}", f"collector_{cls.name}",
                                 default=None, help=f"Enable/disable the {cls.name} collector ({cls.description})."))
    for o in reversed(opts):
        fn = o(fn)
    return fn


def apply_host_options(cfg: Config, kw: dict) -> Config:
    host = {}
    for key, field_name in (("path_rootfs", "root"), ("path_sysfs", "sysfs"), ("path_procfs", "procfs"),
                            ("path_devfs", "devfs"), ("path_runfs", "runfs")):
        v = kw.pop(key, None)
        if v:
            p = Path(v)
            if not p.is_dir():
                raise click.BadParameter(f"{v}: not a directory", param_hint=f"--path.{key.split('_', 1)[1]}")
            host[field_name] = str(p)
    changes = {}
    if host:
        changes["host"] = host
    sd = kw.pop("state_dir", None)
    if sd:
        changes["state"] = {"dir": sd}
    if changes:
        cfg = cfg.replace(**changes)
    enabled = {}
    for cls in COLLECTORS:
        v = kw.pop(f"collector_{cls.name}", None)
        if v is not None:
            enabled[cls.name] = v
    if enabled:
        cfg = cfg.with_collectors(enabled)
    return cfg


def pass_host_options(fn):
    """Decorator: consumes the host option kwargs into ``app`` config before calling ``fn``."""
    @functools.wraps(fn)
    def wrapper(app, *args, **kw):
        app.set_config(apply_host_options(app.config(), kw))
        return fn(app, *args, **kw)
    return wrapper


def runbooks_dir(app) -> Path:
    """The runbook directory of ``[recovery] runbooks_dir`` (`agent recover`, `agent baseline push`)."""
    from agent.recovery import runbook as rbm  # noqa: PLC0415 - recovery only for the commands that use it

    cfg = app.config()
    try:
        return rbm.runbooks_dir(cfg.section("recovery").runbooks_dir)
    except rbm.RunbookError as exc:
        raise click.ClickException(str(exc)) from None


def load_runbook(app, name: str):
    from agent.recovery import runbook as rbm  # noqa: PLC0415

    try:
        return rbm.load(rbm.find(name, runbooks_dir(app)))
    except rbm.RunbookError as exc:
        raise click.ClickException(str(exc)) from None


def one_shot_config(cfg: Config, classes: tuple = COLLECTORS) -> Config:
    """``cfg`` for a single cycle (`agent check`, `agent run --once`): no collector starts a
    follower thread (the kernel-log tail): the ring buffer is read once, and nothing waits at
    exit for a thread that was never needed."""
    cols = dict(cfg.collectors)
    for cls in classes:
        if "follow" in getattr(cls, "options", {}):
            cc = cols.get(cls.name) or CollectorConfig(enabled=cls.default_enabled)
            cols[cls.name] = dataclasses.replace(cc, options={**cc.options, "follow": False})
    return dataclasses.replace(cfg, collectors=cols)
