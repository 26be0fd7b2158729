"""Helpers for the disk tests: recorded smartctl cases for the fake executable and the replay runner."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.support.replay import argv_name

HERE = Path(__file__).resolve()
ROOT = HERE.parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "smartctl"
CORPUS = FIXTURES / "corpus"
LAB = FIXTURES / "lab"
FAKE = ROOT / "tests" / "support" / "fake_smartctl.py"
NOW = 1_764_003_600.0

VERSION_TEXT = ("smartctl 7.3 2022-02-28 r5338 [x86_64-linux-6.1.0] (local build)\n"
                "Copyright (C) 2002-22, Bruce Allen, Christian Franke, www.smartmontools.org\n")


def corpus_doc(name: str) -> dict:
    return json.loads((CORPUS / name).read_text())


def scan_doc(*devices: tuple[str, str, str]) -> dict:
    return {"json_format_version": [1, 0], "smartctl": {"version": [7, 3], "exit_status": 0},
            "devices": [{"name": n, "info_name": n, "type": t, "protocol": p} for n, t, p in devices]}


def standby_doc(path: str) -> dict:
    return {"json_format_version": [1, 0],
            "smartctl": {"version": [7, 3], "exit_status": 253,
                         "messages": [{"string": "Device is in STANDBY mode, exit(253)", "severity": "information"}]},
            "device": {"name": path, "type": "sat", "protocol": "ATA"}, "power_mode": {"ata_value": 0, "name": "STANDBY"}}


class Recorder:
    """Writes argv-named recordings (for the fake executable and for ReplayRunner)."""

    def __init__(self, directory: Path, prog: str | None = None):
        self.dir = Path(directory) / prog if prog else Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def add(self, args: list[str], out: str | bytes | dict, rc: int = 0, sleep: float | None = None,
            stderr: str | None = None) -> Path:
        p = self.dir / argv_name(["smartctl", *args])
        data = json.dumps(out) if isinstance(out, dict) else out
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        if rc:
            p.with_name(p.name + ".rc").write_text(str(rc))
        if sleep is not None:
            p.with_name(p.name + ".sleep").write_text(str(sleep))
        if stderr is not None:
            p.with_name(p.name + ".stderr").write_text(stderr)
        return p

    def version(self, text: str = VERSION_TEXT) -> None:
        self.add(["--version"], text)

    def scan(self, *devices: tuple[str, str, str]) -> None:
        self.add(["--scan-open", "--json"], scan_doc(*devices))

    def read(self, path: str, dev_type: str, out, rc: int = 0, standby: bool = True, **kw) -> None:
        args = ["--json", "-x"] + (["-d", dev_type] if dev_type else [])
        if standby and dev_type != "nvme" and not path.startswith("/dev/nvme"):
            args += ["-n", "standby,253"]
        self.add(args + [path], out, rc, **kw)


@pytest.fixture
def fake_smartctl(tmp_path, monkeypatch):
    """A `smartctl` on PATH that replays recordings from a fresh directory; yields its Recorder."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "smartctl"
    shutil.copy(FAKE, exe)
    exe.chmod(0o755)
    rec = Recorder(tmp_path / "recordings")
    monkeypatch.setenv("FAKE_SMARTCTL_DIR", str(rec.dir))
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    rec.version()
    rec.exe = exe  # type: ignore[attr-defined]
    return rec
