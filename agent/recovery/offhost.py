"""Keep the "before" off-host without thinking about it: `agent baseline push`.

Exports the newest known-good baseline (JSON, as `agent baseline export` writes it) and the
filled mainboard-swap checklist (Markdown, as `agent recover show mainboard-swap --filled`) to
``[recovery] export_target`` whenever either changed since the last push (the push record is kept
in the state store under ``baseline.export``; the readiness rule ``recovery.baseline_not_offhost``
reads it). Targets:

* a directory (``/mnt/backup/hwagent``): files written atomically, mode 0600;
* ``[user@]host:path`` or ``rsync://...``: copied with ``rsync`` (``export_method = "rsync"``,
  the default) or ``scp``; ssh keys and known_hosts are the operator's (BatchMode, no prompts);
* ``statuspage``: PUT to the status service (``/api/hosts/<host>/baseline`` and ``/checklist``,
  through the shared client's ``put_host_document``).

File names: ``<host>-baseline.json`` and ``<host>-mainboard-swap.md``.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping

REMOTE_RE = re.compile(r"^(rsync://|[A-Za-z0-9._-]+@?[A-Za-z0-9._-]*:)")


class PushError(Exception):
    """The off-host copy could not be written; the message names the target."""


def documents(host: str, baseline_doc: bytes, checklist: str) -> dict[str, bytes]:
    return {f"{host}-baseline.json": baseline_doc, f"{host}-mainboard-swap.md": checklist.encode()}


def digest(docs: Mapping[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(docs):
        h.update(name.encode() + b"\0" + hashlib.sha256(docs[name]).digest())
    return h.hexdigest()


def kind_of(target: str) -> str:
    if target == "statuspage":
        return "statuspage"
    if REMOTE_RE.match(target) and not target.startswith("/"):
        return "remote"
    return "directory"


def push(target: str, host: str, docs: Mapping[str, bytes], *, method: str = "rsync",
         run: Callable[[list[str]], tuple[int | None, str]] | None = None, put: Callable[..., Any] | None = None) -> str:
    """Write ``docs`` to ``target``; returns a one-line description. Raises :class:`PushError`."""
    from agent.fileutil import atomic_write  # noqa: PLC0415

    kind = kind_of(target)
    if kind == "directory":
        d = Path(target)
        if not d.is_dir():
            raise PushError(f"export_target {target}: not a directory (create it, or use host:path or statuspage)")
        for name, body in docs.items():
            try:
                atomic_write(d / name, body)
            except OSError as exc:
                raise PushError(f"{d / name}: {exc.strerror or exc}") from None
        return f"wrote {', '.join(sorted(docs))} to {d}"
    if kind == "statuspage":
        if put is None:
            from agent.statusclient import put_host_document  # noqa: PLC0415 - only for this target
            put = put_host_document
        for name, body in docs.items():
            kind_ = "baseline" if name.endswith("-baseline.json") else "checklist"
            try:
                put(host, kind_, body)
            except Exception as exc:  # noqa: BLE001 - any client failure names the target
                raise PushError(f"status service: PUT {kind_} for {host} failed: {exc}") from None
        return f"stored baseline and checklist of {host} on the status service"
    if run is None:
        raise PushError("no command runner for a remote target")
    if method not in ("rsync", "scp"):
        raise PushError(f"export_method {method!r}: expected rsync or scp")
    with tempfile.TemporaryDirectory(prefix="hwagent-push-") as tmp:
        files = []
        for name, body in docs.items():
            atomic_write(Path(tmp) / name, body)
            files.append(str(Path(tmp) / name))
        dest = target if target.endswith("/") else target + "/"
        ssh = ["-e", "ssh -o BatchMode=yes -o ConnectTimeout=20"] if method == "rsync" and not target.startswith("rsync://") else []
        argv = (["rsync", "-t", "--chmod=F600", *ssh, *sorted(files), dest] if method == "rsync"
                else ["scp", "-q", "-p", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", *sorted(files), dest])
        rc, err = run(argv)
        if rc != 0:
            raise PushError(f"{method} to {target} failed (exit {rc}): {err.strip()[:300]}")
    return f"copied {', '.join(sorted(docs))} to {target} with {method}"


def needs_push(last: Mapping[str, Any] | None, baseline_id: str, sha: str, target: str) -> bool:
    return not last or last.get("baseline_id") != baseline_id or last.get("sha256") != sha or last.get("target") != target


def record(baseline_id: str, sha: str, target: str, detail: str, now: float | None = None) -> dict[str, Any]:
    return {"time": time.time() if now is None else now, "baseline_id": baseline_id, "sha256": sha, "target": target,
            "detail": detail}


def baseline_bytes(data: Mapping[str, Any]) -> bytes:
    """The export document without its volatile export time (so an unchanged baseline hashes the same)."""
    doc = {"kind": "hwagent-baseline", "format_version": data.get("format_version", 1), "baseline": data}
    return (json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n").encode()
