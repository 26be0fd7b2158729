"""Replay of recorded command output, named after the argv (pySMART / smartctl_exporter style).

``smartctl --json -x /dev/sda`` is looked up as ``--json_-x__dev_sda`` (each argv element after
the program name joined with ``_``, ``/`` replaced by ``_``) in the program's folder of the case
directory: ``commands/smartctl/--json_-x__dev_sda``. An exit code other than 0 is stored beside
it in ``<name>.rc``. A missing recording fails and names the argv and the file it looked for.
The runner never runs a real command.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Mapping, Sequence

from agent.host import CommandResult


def argv_name(argv: Sequence[str]) -> str:
    return "_".join(a.replace("/", "_") for a in argv[1:]) or "_"


class MissingRecording(AssertionError):
    pass


class ReplayRunner:
    def __init__(self, directory: Path, *, strict: bool = True):
        self.directory = Path(directory)
        self.strict = strict
        self.calls: list[tuple[str, ...]] = []

    def path_for(self, argv: Sequence[str]) -> Path:
        prog = os.path.basename(argv[0])
        return self.directory / prog / argv_name(argv)

    def __call__(self, argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None) -> CommandResult:
        argv = tuple(str(a) for a in argv)
        self.calls.append(argv)
        p = self.path_for(argv)
        if not p.exists():
            if self.strict:
                raise MissingRecording(f"no recording for {' '.join(argv)!r}: expected {p}")
            return CommandResult(argv, None, b"", b"", 0.0, f"not found: {argv[0]}")
        rc_file = p.with_name(p.name + ".rc")
        rc = int(rc_file.read_text().strip()) if rc_file.exists() else 0
        t0 = time.monotonic()
        return CommandResult(argv, rc, p.read_bytes(), b"", time.monotonic() - t0)
