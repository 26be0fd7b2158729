"""The command runner behind :meth:`agent.host.Host.run`: argv lists (never a shell), deadlines
that do not depend on EOF, bounded output, and a kill of everything a command started.

A tool that writes without end (2 GiB in 9 s) is killed at its output bound and its text dropped;
a command whose grandchild calls ``setsid`` and keeps stdout open no longer blocks the caller past
its timeout; commands still running when the agent stops are killed (outside systemd no cgroup
does it for us).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import IO, Mapping, Sequence, cast


@dataclass(frozen=True, slots=True)
class CommandResult:
    argv: tuple[str, ...]
    rc: int | None  # None when the command did not run (missing binary, timeout)
    stdout: bytes
    stderr: bytes
    duration_seconds: float
    error: str | None = None  # "timeout", "not found: smartctl", "permission denied: ..."

    @property
    def ok(self) -> bool:
        return self.error is None and self.rc == 0

    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    def failure(self) -> str:
        """Why it failed, in the tool's own words: the runner's error, else stderr's last line, else
        the exit code."""
        if self.error:
            return self.error
        err = (self.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        return err[-1] if err else f"exit {self.rc}"



# Output bounds per command (bytes, lines) for stdout; stderr gets STDERR_LIMIT bytes. A tool that
# writes more is killed and its output dropped (never kept, never parsed): the caller sees the error
# "output too large" naming the bound. smartctl -x is ~0.2 MB per disk, a full SEL ~0.5 MB; a kernel
# journal of a long boot is far larger, so journalctl has its own bound.
OUTPUT_LIMITS: Mapping[str, tuple[int, int]] = {
    "": (8 * 1024 * 1024, 100_000),
    "journalctl": (128 * 1024 * 1024, 1_000_000),
}
STDERR_LIMIT = 256 * 1024
EOF_GRACE_SECONDS = 0.5  # after the command exits, how long a child still holding its pipes may write
KILL_WAIT_SECONDS = 2.0

# process groups of commands running now (killed on exit: nothing the agent started outlives it)
_running: dict[int, "subprocess.Popen"] = {}
_running_lock = threading.Lock()


class _Overflow(Exception):
    """A command's output exceeded its byte bound."""


def output_limits(argv0: str) -> tuple[int, int]:
    return OUTPUT_LIMITS.get(os.path.basename(argv0), OUTPUT_LIMITS[""])


def default_runner(argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None) -> CommandResult:
    """Run argv with a deadline that does not depend on EOF, bounded output, and a kill of
    everything the command started (its process group, its session, and any process still
    holding its output pipes, e.g. a grandchild that called setsid)."""
    argv = tuple(str(a) for a in argv)
    start = time.monotonic()
    deadline = start + timeout
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # own session and process group, so a kill reaches children too
            env=dict(env) if env is not None else None,
        )
    except FileNotFoundError:
        return CommandResult(argv, None, b"", b"", time.monotonic() - start, f"not found: {argv[0]}")
    except PermissionError:
        return CommandResult(argv, None, b"", b"", time.monotonic() - start, f"permission denied: {argv[0]}")
    except OSError as exc:
        return CommandResult(argv, None, b"", b"", time.monotonic() - start, f"{argv[0]}: {exc.strerror}")
    with _running_lock:
        _running[proc.pid] = proc
    max_bytes, max_lines = output_limits(argv[0])
    try:
        out, err, error = _read_bounded(proc, deadline, max_bytes, max_lines)
    except BaseException:
        # Ctrl-C (KeyboardInterrupt) or SIGTERM turned into an exception: the command runs in its own
        # process group, so the terminal's SIGINT never reached it. Stop it the way a shell would
        # (SIGINT to its group, SIGKILL after a grace period) instead of leaving it running orphaned.
        _stop_group(proc)
        raise
    finally:
        with _running_lock:
            _running.pop(proc.pid, None)
    if error is not None:
        return CommandResult(argv, None, out, err, time.monotonic() - start, error)
    return CommandResult(argv, proc.returncode, out, err, time.monotonic() - start)


def _read_bounded(proc: subprocess.Popen[bytes], deadline: float, max_bytes: int, max_lines: int) -> tuple[bytes, bytes, str | None]:
    pipes = _Pipes(proc, max_bytes, max_lines)
    try:
        error = _pump(proc, pipes, deadline)
    except _Overflow as exc:
        error = str(exc)
        pipes.bufs[pipes.stdout] = bytearray()  # never keep (or parse) the oversized text
    held_open = pipes.held_open()
    error = _settle(proc, deadline, error, held_open)
    pipes.close()
    try:
        proc.wait(KILL_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        error = error or "did not exit after SIGKILL"
    return bytes(pipes.bufs[pipes.stdout]), bytes(pipes.bufs[pipes.stderr]), error


class _Pipes:
    """The command's stdout and stderr, read without blocking: stdout within its byte and line
    bounds (beyond them :class:`_Overflow`), stderr cut at STDERR_LIMIT and then no longer read."""

    def __init__(self, proc: subprocess.Popen[bytes], max_bytes: int, max_lines: int):
        import selectors  # noqa: PLC0415

        stdout, stderr = proc.stdout, proc.stderr
        assert stdout is not None and stderr is not None  # started with stdout=PIPE, stderr=PIPE
        self.stdout, self.stderr = stdout, stderr
        self.bufs = {stdout: bytearray(), stderr: bytearray()}
        self.max_bytes, self.max_lines = max_bytes, max_lines
        self.lines = 0
        self.sel = selectors.DefaultSelector()
        for f in self.bufs:
            os.set_blocking(f.fileno(), False)
            self.sel.register(f, selectors.EVENT_READ)

    def open(self) -> bool:
        return bool(self.sel.get_map())

    def read_ready(self, wait: float) -> None:
        for key, _ in self.sel.select(wait):
            self._read(cast(IO[bytes], key.fileobj))

    def _read(self, f: IO[bytes]) -> None:
        try:
            chunk = os.read(f.fileno(), 65536)
        except BlockingIOError:
            return
        if not chunk:
            self.sel.unregister(f)
            return
        buf = self.bufs[f]
        buf += chunk
        if f is self.stdout:
            self.lines += chunk.count(b"\n")
            if len(buf) > self.max_bytes:
                raise _Overflow(f"output too large: more than {self.max_bytes} bytes (dropped)")
            if self.lines > self.max_lines:
                raise _Overflow(f"output too large: more than {self.max_lines} lines (dropped)")
        elif len(buf) > STDERR_LIMIT:
            del buf[STDERR_LIMIT:]
            self.sel.unregister(f)  # stderr beyond the bound is not read; the kill after the read ends the writer

    def held_open(self) -> bool:
        """Whether a pipe is still open (someone holds it), and stop watching them."""
        held = self.open()
        self.sel.close()
        return held

    def close(self) -> None:
        for f in self.bufs:
            try:
                f.close()
            except OSError:
                pass  # closing a pipe of an exited command: nothing left to lose


def _pump(proc: subprocess.Popen[bytes], pipes: _Pipes, deadline: float) -> str | None:
    """Read until both pipes close, the command is gone for EOF_GRACE_SECONDS, or the deadline ("timeout")."""
    exited_at: float | None = None
    while pipes.open():
        now = time.monotonic()
        if exited_at is None and proc.poll() is not None:
            exited_at = now
        if exited_at is not None and now - exited_at >= EOF_GRACE_SECONDS:
            return None  # the command is gone; whoever still holds its pipes is killed after the read
        if now >= deadline:
            return "timeout"
        pipes.read_ready(min(deadline - now, 0.1 if exited_at is None else EOF_GRACE_SECONDS))
    return None


def _settle(proc: subprocess.Popen[bytes], deadline: float, error: str | None, held_open: bool) -> str | None:
    """After the read: wait (to the deadline only) for a command that closed its pipes but still
    runs; kill the tree on an error or when something the command started kept its pipes."""
    if error is None and not held_open and proc.poll() is None:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            error = "timeout"
    if error is not None or held_open:
        _kill_tree(proc)
    return error


def _pipe_inodes(proc: subprocess.Popen[bytes]) -> set[int]:
    out = set()
    for f in (proc.stdout, proc.stderr):
        if f is None:
            continue
        try:
            out.add(os.fstat(f.fileno()).st_ino)
        except (OSError, ValueError, AttributeError):
            pass  # the pipe is already closed: it cannot be held open by a grandchild
    return out


def _kill_tree(proc: subprocess.Popen) -> int:
    """SIGKILL the command's process group, every process of its session, and every process
    still holding one of its output pipes (a grandchild that left the session with setsid).
    Returns how many processes outside the group were killed."""
    _killpg(proc.pid, signal.SIGKILL)
    inodes = _pipe_inodes(proc)
    me = os.getpid()
    killed = 0
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return 0
    for pid in pids:
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            sid = int(fields[3])
        except (OSError, IndexError, ValueError):
            continue
        hit = sid == proc.pid
        if not hit and inodes:
            try:
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    try:
                        target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    except OSError:
                        continue
                    if target.startswith("pipe:[") and int(target[6:-1]) in inodes:
                        hit = True
                        break
            except OSError:
                continue
        if hit:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass  # already exited, or not ours to kill: nothing to stop
    return killed


def kill_running() -> int:
    """Kill every command the agent started that is still running (the agent is stopping)."""
    with _running_lock:
        procs = list(_running.values())
    for proc in procs:
        _kill_tree(proc)
    return len(procs)


INTERRUPT_GRACE_SECONDS = 5.0


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group has already exited (or is not ours): nothing to signal


def _stop_group(proc: subprocess.Popen, grace: float | None = None) -> None:
    """SIGINT to the command's process group, SIGKILL to what is left after ``grace`` seconds."""
    grace = INTERRUPT_GRACE_SECONDS if grace is None else grace
    _killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass  # still running after the grace period: escalated below
    except BaseException:  # noqa: BLE001 - a second Ctrl-C during the grace period: stop waiting, kill the group
        pass  # escalated below all the same
    _kill_tree(proc)  # the group may outlive its leader (a child that ignored SIGINT)
    for f in (proc.stdout, proc.stderr):
        if f is None:
            continue
        try:
            f.close()
        except (OSError, AttributeError):
            pass  # the pipe is already closed
    try:
        proc.wait(2)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        pass  # SIGKILL was sent; a process stuck in D state is reaped by the kernel later
