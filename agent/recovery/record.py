"""Run records: one JSON file per run, written atomically after every transition.

``{state_dir}/runs/<run-id>.json`` is replaced by write-temp-in-the-same-folder, fsync, rename,
fsync-folder, so a power cut or SIGKILL leaves either the previous or the new record, never half
a file. ``{state_dir}/runs/audit.jsonl`` is an append-only JSON Lines log where every line holds
the sha256 of the previous line (tampering or truncation is detectable). ``runs/.lock`` is an
``flock`` held by the executing process (one active run per host); the kernel drops it when the
process dies, so a crashed run never leaves a stale lock. A record that is not valid JSON, or
that was written by a newer format, is refused with a clear message and left untouched.
"""

from __future__ import annotations

import builtins
import fcntl
import hashlib
import json
import os
import secrets
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from agent.fileutil import atomic_write

FORMAT_VERSION = 1
STEP_STATES = ("pending", "not_applicable", "checking", "already_done", "waiting_operator", "applying", "verifying",
               "verified", "failed", "skipped", "interrupted")
DONE_STATES = ("already_done", "verified", "skipped", "not_applicable")
RUN_STATES = ("running", "interrupted", "failed", "followups_open", "completed", "aborted")
MAX_EVIDENCE_PER_STEP = 40


class RecordError(Exception):
    """A run record is corrupt, from a newer version or unreadable; the file is kept."""


class LockedError(RecordError):
    """Another process holds the run's lock."""


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write(path, (json.dumps(data, indent=1, sort_keys=True, default=str) + "\n").encode())


def new_run_id(runbook_id: str, now: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + f"-{runbook_id}-{secrets.token_hex(2)}"


def _is(v: Any, tp: type | tuple) -> bool:
    return isinstance(v, tp) and not (isinstance(v, bool) and tp in (int, float, (int, float)))


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def record_shape_problem(data: dict[str, Any]) -> str | None:
    """The first field of a run record whose type the engine cannot work with (None: usable)."""
    num = (int, float)
    want: list[tuple[str, Any, Any, Any]] = [
        ("run_id", data.get("run_id"), str, True), ("runbook", data.get("runbook"), dict, True),
        ("status", data.get("status"), str, True), ("steps", data.get("steps"), dict, True),
        ("boot_ids", data.get("boot_ids", []), list, True), ("operators", data.get("operators", []), list, True),
        ("order", "order" in data and data["order"], list, "optional"), ("params", data.get("params", {}), dict, True),
        ("answers", data.get("answers", {}), dict, True), ("notifications", data.get("notifications", []), list, True),
        ("created", data.get("created"), num, False), ("updated", data.get("updated"), num, False),
        ("finished", data.get("finished"), num, False), ("current_step", data.get("current_step"), str, False)]
    rb = data.get("runbook")
    if isinstance(rb, dict):
        want += [("runbook.id", rb.get("id"), str, True), ("runbook.sha256", rb.get("sha256"), str, False)]
    for name in ("boot_ids", "operators", "order"):
        for i, v in enumerate(_as_list(data.get(name))):
            want.append((f"{name}[{i}]", v, str, True))
    for i, v in enumerate(_as_list(data.get("notifications"))):
        want.append((f"notifications[{i}]", v, dict, True))
    for k, v in (data.get("params") or {}).items() if isinstance(data.get("params"), dict) else ():
        want.append((f"params.{k}", v, str, True))
    steps = data.get("steps")
    for sid, st in steps.items() if isinstance(steps, dict) else ():
        want.append((f"steps.{sid}", st, dict, True))
        if not isinstance(st, dict):
            continue
        want += [(f"steps.{sid}.state", st.get("state"), str, True),
                 (f"steps.{sid}.attempts", st.get("attempts", 0), int, True),
                 (f"steps.{sid}.evidence", st.get("evidence", []), list, True),
                 (f"steps.{sid}.history", st.get("history", []), list, True)]
        for name in ("evidence", "history"):
            for i, item in enumerate(_as_list(st.get(name))):
                want.append((f"steps.{sid}.{name}[{i}]", item, dict, True))
                if isinstance(item, dict):
                    want.append((f"steps.{sid}.{name}[{i}].duration_seconds", item.get("duration_seconds", 0), num, True))
                    want.append((f"steps.{sid}.{name}[{i}].argv", item.get("argv", []), list, True))
                    for j, arg in enumerate(_as_list(item.get("argv"))):
                        want.append((f"steps.{sid}.{name}[{i}].argv[{j}]", arg, str, True))
                    for out in ("stdout", "stderr"):
                        o = item.get(out, {})
                        want.append((f"steps.{sid}.{name}[{i}].{out}", o, dict, True))
                        if isinstance(o, dict):
                            want.append((f"steps.{sid}.{name}[{i}].{out}.text", o.get("text", ""), str, True))
    for name, value, tp, required in want:
        if value is None and required is False:  # nullable
            continue
        if required == "optional" and value is False:  # absent
            continue
        if not _is(value, tp):
            return f"{name}: expected {getattr(tp, '__name__', 'a number')}, got {type(value).__name__}"
    return None


class RunStore:
    def __init__(self, state_dir: str | Path):
        self.dir = Path(state_dir) / "runs"

    def ensure(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except PermissionError:
            raise RecordError(f"{self.dir}: permission denied (run as root or pass --state-dir)") from None

    def path(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise RecordError(f"invalid run id {run_id!r}")
        return self.dir / f"{run_id}.json"

    # ---- records -------------------------------------------------------------------------------
    def create(self, data: dict[str, Any]) -> "RunRecord":
        self.ensure()
        rec = RunRecord(self, data)
        rec.save()
        return rec

    def load(self, run_id: str) -> "RunRecord":
        p = self.path(run_id)
        if not p.exists():
            cands = [x.stem for x in self._run_files(f"{run_id}*.json")]
            if len(cands) == 1:
                p = self.path(cands[0])
            else:
                hint = f" (matches: {', '.join(cands)})" if cands else " (see `agent recover list`)"
                raise RecordError(f"no run {run_id!r} in {self.dir}{hint}")
        try:
            data = json.loads(p.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise RecordError(f"run file {p} is corrupt ({exc}); it was left as it is - inspect or move it, "
                              "then start a new run") from None
        except OSError as exc:
            raise RecordError(f"run file {p}: {exc.strerror or exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("format_version"), int) or "steps" not in data:
            raise RecordError(f"run file {p} is not a run record (no format_version/steps); it was left as it is")
        if data["format_version"] > FORMAT_VERSION:
            raise RecordError(f"run file {p} has format version {data['format_version']}, newer than this agent "
                              f"understands ({FORMAT_VERSION}); upgrade hwagent to continue it. The file was left as it is.")
        problem = record_shape_problem(data)
        if problem:
            raise RecordError(f"run file {p} is damaged ({problem}); it was left as it is - inspect or move it, "
                              "then start a new run")
        data.setdefault("boot_ids", [])
        data.setdefault("operators", [])
        return RunRecord(self, data)

    def list(self) -> builtins.list[dict[str, Any]]:
        out: builtins.list[dict[str, Any]] = []
        if not self.dir.is_dir():
            return out
        for p in self._run_files("*.json"):
            try:
                d = json.loads(p.read_text())
                steps = d.get("steps", {})
                done = sum(1 for s in steps.values() if s.get("state") in DONE_STATES)
                out.append({"run_id": d.get("run_id", p.stem), "runbook": d.get("runbook", {}).get("id"),
                            "status": d.get("status"), "created": d.get("created"), "updated": d.get("updated"),
                            "current_step": d.get("current_step"), "done": done, "total": len(steps)})
            except (ValueError, OSError, AttributeError):
                out.append({"run_id": p.stem, "runbook": None, "status": "unreadable", "created": None,
                            "updated": None, "current_step": None, "done": 0, "total": 0})
        return sorted(out, key=lambda r: r.get("created") or 0)

    def reap_stale(self, boot_id: str = "") -> builtins.list[str]:
        """Records still saying ``running`` whose process is gone become ``interrupted``.

        A run executes only while its process holds ``runs/.lock`` (the kernel drops an flock when
        the process dies, even on SIGKILL or power loss). If the lock can be taken now, no run is
        executing; if it is held, only the holder's run is. Returns the run ids marked."""
        if not self.dir.is_dir():
            return []
        p = self.dir / ".lock"
        holder: dict[str, Any] = {}
        try:
            fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return []
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked_by_us = True
            except BlockingIOError:
                locked_by_us = False
                try:
                    holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
                except ValueError:
                    holder = {}
            marked = []
            for f in self._run_files("*.json"):
                try:
                    d = json.loads(f.read_text())
                except (ValueError, OSError):
                    continue
                if not isinstance(d, dict) or d.get("status") != "running":
                    continue
                if not locked_by_us and holder.get("run_id") in (d.get("run_id"), None):
                    continue  # its process is alive and executing it (or the holder is unknown)
                d["status"] = "interrupted"
                d["interrupted_by"] = "process gone"
                cur = d.get("current_step")
                st = (d.get("steps") or {}).get(cur) if isinstance(cur, str) else None
                if isinstance(st, dict) and st.get("state") not in DONE_STATES + ("failed", "interrupted"):
                    st["interrupted_in"] = st.get("state")
                    st["state"] = "interrupted"
                    st.setdefault("history", []).append({"state": "interrupted", "time": time.time(),
                                                         "detail": "the agent process was gone (killed or crashed)"})
                d["updated"] = time.time()
                try:
                    atomic_write_json(f, d)
                except OSError:
                    continue
                self.audit("run_stale", run_id=d.get("run_id"), pid=d.get("pid"), step=cur)
                marked.append(str(d.get("run_id")))
            return marked
        finally:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def _run_files(self, pattern: str) -> builtins.list[Path]:
        """Run records only (not the baseline copies kept beside them)."""
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.glob(pattern) if not p.name.endswith(".baseline.json"))

    # ---- audit ---------------------------------------------------------------------------------
    def audit(self, event: str, **fields: Any) -> None:
        """Append one hash-chained line to the audit log (fsync'd)."""
        self.ensure()
        p = self.dir / "audit.jsonl"
        prev = "0" * 64
        fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size:
                os.lseek(fd, max(0, size - 65536), os.SEEK_SET)
                tail = os.read(fd, 65536).rstrip(b"\n").rsplit(b"\n", 1)[-1]
                prev = hashlib.sha256(tail).hexdigest()
            line = json.dumps({"time": time.time(), "event": event, "prev": prev, **fields}, sort_keys=True, default=str)
            os.write(fd, line.encode() + b"\n")
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def verify_audit(self) -> tuple[bool, str]:
        p = self.dir / "audit.jsonl"
        if not p.exists():
            return True, "no audit log yet"
        prev = "0" * 64
        for n, raw in enumerate(p.read_bytes().splitlines(), 1):
            try:
                rec = json.loads(raw)
            except ValueError:
                return False, f"line {n} is not JSON"
            if rec.get("prev") != prev:
                return False, f"line {n}: chain broken (previous line changed or removed)"
            prev = hashlib.sha256(raw).hexdigest()
        return True, "chain intact"

    # ---- lock ----------------------------------------------------------------------------------
    @contextmanager
    def lock(self, run_id: str, boot_id: str = "") -> Iterator[None]:
        """One executing run per host. Raises :class:`LockedError` naming the holder."""
        self.ensure()
        p = self.dir / ".lock"
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
                except ValueError:
                    holder = {}
                raise LockedError(f"another `agent recover` (pid {holder.get('pid', '?')}) is executing run "
                                  f"{holder.get('run_id', '?')} on this host; wait for it or stop it first") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "run_id": run_id, "boot_id": boot_id,
                                      "since": time.time()}).encode(), 0)
            yield
        finally:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)


class RunRecord:
    def __init__(self, store: RunStore, data: dict[str, Any]):
        self.store = store
        self.data = data

    @property
    def run_id(self) -> str:
        return self.data["run_id"]

    @property
    def path(self) -> Path:
        return self.store.path(self.run_id)

    def step(self, step_id: str) -> dict[str, Any]:
        return self.data["steps"][step_id]

    def save(self) -> None:
        self.data["updated"] = time.time()
        atomic_write_json(self.path, self.data)

    def transition(self, step_id: str, state: str, **fields: Any) -> None:
        assert state in STEP_STATES, state
        s = self.step(step_id)
        s["state"] = state
        entry = {"state": state, "time": time.time()}
        if isinstance(fields.get("detail"), str):
            entry["detail"] = fields["detail"][:300]
        s.setdefault("history", []).append(entry)
        s.update(fields)
        self.data["current_step"] = step_id
        self.save()

    def add_evidence(self, step_id: str, ev: dict[str, Any]) -> None:
        lst = self.step(step_id).setdefault("evidence", [])
        lst.append(ev)
        if len(lst) > MAX_EVIDENCE_PER_STEP:  # long polls: keep the first and the latest attempts
            dropped = lst.pop(MAX_EVIDENCE_PER_STEP // 2)
            self.step(step_id)["evidence_dropped"] = self.step(step_id).get("evidence_dropped", 0) + 1
            del dropped

    def set_status(self, status: str, **fields: Any) -> None:
        assert status in RUN_STATES, status
        self.data["status"] = status
        self.data.update(fields)
        self.save()

    def audit(self, event: str, **fields: Any) -> None:
        self.store.audit(event, run_id=self.run_id, **fields)
