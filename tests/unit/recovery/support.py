"""Building blocks for engine tests: runbooks from TOML text, hosts with scripted runners."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Callable, Sequence

from agent.host import CommandResult, Host, HostPaths
from agent.recovery import runbook as rbm


def runbook(text: str, name: str = "t") -> rbm.Runbook:
    data = tomllib.loads(text)
    return rbm.from_mapping(data, f"{name}.toml", hashlib.sha256(text.encode()).hexdigest())


class ScriptedRunner:
    """Answers argv by a function; records every call."""

    def __init__(self, fn: Callable[[tuple[str, ...]], tuple[int | None, str] | CommandResult]):
        self.fn = fn
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str], timeout: float, env=None) -> CommandResult:
        argv = tuple(str(a) for a in argv)
        self.calls.append(argv)
        out = self.fn(argv)
        if isinstance(out, CommandResult):
            return out
        rc, text = out
        return CommandResult(argv, rc, text.encode(), b"", 0.0, None if rc is not None else "timeout")


def real_commands(argv, timeout, env=None) -> CommandResult:
    """Runs argvs on this machine on purpose: the tests using it run `touch`/`test` on tmp paths.
    (Without an injected runner an executor refuses to run commands against a tree root.)"""
    return Host().run(argv, timeout, env)


def host(root: Path, runner=None) -> Host:
    runner = runner or real_commands
    root.mkdir(parents=True, exist_ok=True)
    (root / "proc/sys/kernel/random").mkdir(parents=True, exist_ok=True)
    (root / "proc/sys/kernel/random/boot_id").write_text("boot-1\n")
    (root / "proc/sys/kernel/hostname").write_text("testhost\n")
    return Host(paths=HostPaths(rootfs=str(root)), runner=runner)
