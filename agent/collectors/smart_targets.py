"""smart: what to read - device targets (``PATH`` + ``-d TYPE``), the operator-facing names,
``smartctl --scan-open`` (JSON or an old smartctl's text) and ``smartctl --version``."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, replace
from typing import Mapping

_VERSION_RE = re.compile(r"smartctl (\d+)\.(\d+)")


@dataclass(frozen=True)
class Target:
    path: str  # "/dev/sda", "/dev/bus/0"
    dev_type: str = ""  # "-d" type, "" = let smartctl detect
    protocol: str = ""  # from the scan, if known
    open_error: str | None = None  # --scan-open could not open it

    @property
    def key(self) -> str:
        return f"{self.path}#{self.dev_type}" if self.dev_type else self.path

    @property
    def device(self) -> str:
        return device_name(self.path, self.dev_type)

    @property
    def spec(self) -> str:
        return f"{self.path} -d {self.dev_type}" if self.dev_type else self.path


def device_name(path: str, dev_type: str = "") -> str:
    """Operator-facing name: /dev/sda -> sda; /dev/bus/0 + megaraid,1 -> bus_0_megaraid_1."""
    base = path[5:] if path.startswith("/dev/") else path.lstrip("/")
    base = base.replace("/", "_")
    if "," in dev_type:
        base = f"{base}_{dev_type.split('+')[-1].replace(',', '_')}"
    return base


def parse_device_spec(spec: str) -> Target:
    """``"/dev/sda"``, ``"/dev/bus/0 -d megaraid,1"`` or ``"/dev/sdb --device=sat"`` -> Target."""
    parts = shlex.split(spec)
    if not parts or not parts[0].startswith("/"):
        raise ValueError(f"{spec!r}: expected 'PATH' or 'PATH -d TYPE'")
    path, dev_type = parts[0], ""
    rest = parts[1:]
    while rest:
        tok = rest.pop(0)
        if tok == "-d" and rest:
            dev_type = rest.pop(0)
        elif tok.startswith("--device="):
            dev_type = tok.split("=", 1)[1]
        else:
            raise ValueError(f"{spec!r}: unexpected {tok!r} (only -d TYPE is allowed)")
    return Target(path, dev_type)


def parse_version(text: str) -> tuple[int, int] | None:
    m = _VERSION_RE.search(text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def parse_scan(stdout: bytes | str) -> list[Target]:
    """``--scan-open --json`` (or the plain text of an old smartctl) -> targets."""
    text = stdout.decode("utf-8", "replace") if isinstance(stdout, bytes) else stdout
    out: list[Target] = []
    stripped = text.lstrip()
    if stripped.startswith("{"):
        doc = json.loads(text)
        devices = doc.get("devices") if isinstance(doc, Mapping) else None
        for d in devices if isinstance(devices, list) else []:
            if isinstance(d, Mapping) and isinstance(d.get("name"), str):
                out.append(Target(d["name"], str(d.get("type") or ""), str(d.get("protocol") or ""),
                                  str(d["open_error"]) if d.get("open_error") else None))
        return out
    for line in text.splitlines():  # "/dev/sda -d sat # /dev/sda [SAT], ATA device"
        line = line.strip()
        if not line.startswith("/"):
            continue
        spec, _, comment = line.partition("#")
        failed = spec.startswith("# ") or "failed:" in comment
        try:
            t = parse_device_spec(spec.strip())
        except ValueError:
            continue
        out.append(replace(t, open_error=comment.strip() if failed else None))
    return out
