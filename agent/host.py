"""The one seam between hwagent and the machine.

Every read of /sys, /proc, /dev and /run goes through a :class:`Host`, whose roots are
configurable (``--path.rootfs``, ``--path.sysfs``, ``--path.procfs``, ``--path.devfs``,
``--path.runfs``), so the whole agent runs against a captured tree in tests. Every external
command goes through :meth:`Host.run`, which takes an argv list (never a shell string), enforces a
timeout and kills the whole process group on expiry. psutil is imported here and nowhere else.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

__all__ = ["Host", "CommandResult", "HostPaths", "ReadError"]

# sysfs attribute files are at most one page; hwmon drivers sometimes misbehave on
# buffered, repeated reads (psutil and node_exporter both read each file once, unbuffered).
DEFAULT_READ_LIMIT = 4096


class ReadError(Exception):
    """A host file could not be read; carries the path and the reason."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


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


@dataclass(frozen=True, slots=True)
class HostPaths:
    rootfs: str = "/"
    sysfs: str | None = None  # default: {rootfs}/sys
    procfs: str | None = None  # default: {rootfs}/proc
    devfs: str | None = None  # default: {rootfs}/dev
    runfs: str | None = None  # default: {rootfs}/run

    def resolve(self) -> dict[str, Path]:
        root = Path(self.rootfs)
        return {
            "/": root,
            "sys": Path(self.sysfs) if self.sysfs else root / "sys",
            "proc": Path(self.procfs) if self.procfs else root / "proc",
            "dev": Path(self.devfs) if self.devfs else root / "dev",
            "run": Path(self.runfs) if self.runfs else root / "run",
        }


Runner = Callable[[Sequence[str], float, "Mapping[str, str] | None"], CommandResult]


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
    pass


def output_limits(argv0: str) -> tuple[int, int]:
    return OUTPUT_LIMITS.get(os.path.basename(argv0), OUTPUT_LIMITS[""])


def _default_runner(argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None) -> CommandResult:
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


def _read_bounded(proc: subprocess.Popen, deadline: float, max_bytes: int, max_lines: int) -> tuple[bytes, bytes, str | None]:
    import selectors  # noqa: PLC0415

    bufs = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    lines = 0
    error = None
    exited_at: float | None = None
    sel = selectors.DefaultSelector()
    for f in bufs:
        os.set_blocking(f.fileno(), False)
        sel.register(f, selectors.EVENT_READ)
    try:
        while sel.get_map():
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at >= EOF_GRACE_SECONDS:
                break  # the command is gone; whoever still holds its pipes is killed below
            if now >= deadline:
                error = "timeout"
                break
            wait = min(deadline - now, 0.1 if exited_at is None else EOF_GRACE_SECONDS)
            for key, _ in sel.select(wait):
                f = key.fileobj
                try:
                    chunk = os.read(f.fileno(), 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(f)
                    continue
                buf = bufs[f]
                buf += chunk
                if f is proc.stdout:
                    lines += chunk.count(b"\n")
                    if len(buf) > max_bytes:
                        raise _Overflow(f"output too large: more than {max_bytes} bytes (dropped)")
                    if lines > max_lines:
                        raise _Overflow(f"output too large: more than {max_lines} lines (dropped)")
                elif len(buf) > STDERR_LIMIT:
                    del buf[STDERR_LIMIT:]
                    sel.unregister(f)  # stderr beyond the bound is not read; the kill below ends the writer
    except _Overflow as exc:
        error = str(exc)
        bufs[proc.stdout] = bytearray()  # never keep (or parse) the oversized text
    held_open = bool(sel.get_map())
    sel.close()
    if error is None and not held_open and proc.poll() is None:
        try:  # both pipes closed but the command still runs: wait for it, to the deadline only
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            error = "timeout"
    if error is not None or held_open:
        _kill_tree(proc)  # held_open: the command exited but something it started kept its pipes
    for f in bufs:
        try:
            f.close()
        except OSError:
            pass
    try:
        proc.wait(KILL_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        error = error or "did not exit after SIGKILL"
    return bytes(bufs[proc.stdout]), bytes(bufs[proc.stderr]), error


def _pipe_inodes(proc: subprocess.Popen) -> set[int]:
    out = set()
    for f in (proc.stdout, proc.stderr):
        try:
            out.add(os.fstat(f.fileno()).st_ino)
        except (OSError, ValueError, AttributeError):
            pass
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
                pass
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
        pass


def _stop_group(proc: subprocess.Popen, grace: float | None = None) -> None:
    """SIGINT to the command's process group, SIGKILL to what is left after ``grace`` seconds."""
    grace = INTERRUPT_GRACE_SECONDS if grace is None else grace
    _killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    except BaseException:  # a second Ctrl-C during the grace period: stop waiting
        pass
    _kill_tree(proc)  # the group may outlive its leader (a child that ignored SIGINT)
    for f in (proc.stdout, proc.stderr):
        try:
            f.close()
        except (OSError, AttributeError):
            pass
    try:
        proc.wait(2)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        pass


_psutil_lock = threading.Lock()


@dataclass
class Host:
    """Root-joined paths, bounded reads, the command runner, the clock and the boot id."""

    paths: HostPaths = field(default_factory=HostPaths)
    runner: Runner | None = None
    clock: Callable[[], float] = time.time
    # directories searched for external tools when a bare name is configured; systemd units
    # often run without /usr/sbin in PATH, so the usual sbin dirs are always searched.
    tool_dirs: tuple[str, ...] = ("/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin")
    # configured executables by tool name ([host] smartctl = "/usr/sbin/smartctl"); see tool()
    tools: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._roots = self.paths.resolve()

    # ---- paths -------------------------------------------------------------------------
    @property
    def is_live(self) -> bool:
        """True when the host root is the real machine (not a captured tree)."""
        return self._roots["/"] == Path("/") and self.paths.sysfs is None and self.paths.procfs is None

    def path(self, *parts: str) -> Path:
        """Join a host path to its configured root: ``host.path("sys", "class", "hwmon")``.

        The first component selects the root (sys, proc, dev, run); anything else is joined to
        the root filesystem. Leading slashes are accepted: ``host.path("/etc/fstab")``.
        """
        flat: list[str] = []
        for p in parts:
            flat.extend(x for x in str(p).split("/") if x)
        if not flat:
            return self._roots["/"]
        head = flat[0]
        if head in self._roots:
            return self._roots[head].joinpath(*flat[1:])
        return self._roots["/"].joinpath(*flat)

    def host_path(self, p: Path) -> str:
        """The machine path for a root-joined path (for messages and labels)."""
        p = Path(p)
        for key in ("sys", "proc", "dev", "run", "/"):
            base = self._roots[key]
            try:
                rel = p.relative_to(base)
            except ValueError:
                continue
            prefix = "" if key == "/" else "/" + key
            return prefix + "/" + str(rel) if str(rel) != "." else (prefix or "/")
        return str(p)

    # ---- reads -------------------------------------------------------------------------
    def read_bytes(self, p: Path, limit: int = DEFAULT_READ_LIMIT) -> bytes:
        """One bounded read of a small file. Raises :class:`ReadError` naming the path."""
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ReadError(p, "no such file") from None
        except PermissionError:
            raise ReadError(p, "permission denied") from None
        except OSError as exc:
            raise ReadError(p, exc.strerror or str(exc)) from None
        try:
            return os.read(fd, limit)
        except OSError as exc:
            # e.g. EIO/ENODATA from a hwmon driver whose sensor is absent, EAGAIN on a FIFO
            reason = errno.errorcode.get(exc.errno or 0, "") or exc.strerror or str(exc)
            raise ReadError(p, f"read failed ({reason})") from None
        finally:
            os.close(fd)

    def read_text(self, p: Path, limit: int = DEFAULT_READ_LIMIT) -> str | None:
        """Bounded read, stripped; ``None`` when missing or unreadable (tolerant reads)."""
        try:
            return self.read_bytes(p, limit).decode("utf-8", "replace").strip()
        except ReadError:
            return None

    def read_int(self, p: Path) -> int | None:
        """An integer sysfs value, ``None`` when missing, empty or not a number."""
        text = self.read_text(p, 64)
        return parse_int(text)

    def read_file(self, p: Path, limit: int = 16 * 1024 * 1024) -> str:
        """A larger text file (meminfo, mdstat, fstab), bounded; raises ReadError."""
        try:
            with open(p, "rb") as fh:
                data = fh.read(limit)
        except FileNotFoundError:
            raise ReadError(p, "no such file") from None
        except PermissionError:
            raise ReadError(p, "permission denied") from None
        except IsADirectoryError:
            raise ReadError(p, "is a directory") from None
        except OSError as exc:
            raise ReadError(p, exc.strerror or str(exc)) from None
        return data.decode("utf-8", "replace")

    def listdir(self, p: Path) -> list[str]:
        """Sorted directory entries; empty when the directory is missing or unreadable."""
        try:
            return sorted(os.listdir(p))
        except OSError:
            return []

    def exists(self, p: Path) -> bool:
        return os.path.lexists(p)

    def realpath(self, p: Path) -> Path:
        """Resolve links *inside* the host tree: relative links resolve as usual, absolute link
        targets are re-rooted, so a captured tree's ``device`` links resolve within the capture."""
        p = Path(p)
        cur = Path(os.path.realpath(p.parent)) / p.name
        for _ in range(40):
            try:
                target = os.readlink(cur)
            except OSError:
                break
            nxt = self.path(target) if os.path.isabs(target) else cur.parent / target
            cur = Path(os.path.realpath(nxt.parent)) / nxt.name
        if cur.name in ("..", "."):
            cur = Path(os.path.realpath(cur))
        return cur

    # ---- commands ----------------------------------------------------------------------
    def which(self, name: str) -> str | None:
        """Locate an external tool: absolute paths as given, bare names on PATH and the sbin dirs."""
        if os.path.isabs(name):
            return name if os.access(name, os.X_OK) else None
        found = shutil.which(name)
        if found:
            return found
        return shutil.which(name, path=os.pathsep.join(self.tool_dirs))

    def tool(self, name: str) -> str:
        """The configured executable for a tool (``[host] smartctl``), else its bare name."""
        return self.tools.get(name) or name

    def run(self, argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None) -> CommandResult:
        """Run an argv list with a timeout (the process group is killed on expiry)."""
        if self.runner is not None:
            return self.runner(list(argv), timeout, env)
        return _default_runner(argv, timeout, env)

    # ---- clock and identity ------------------------------------------------------------
    def now(self) -> float:
        return self.clock()

    def boot_id(self) -> str:
        text = self.read_text(self.path("proc", "sys", "kernel", "random", "boot_id"))
        return text or "unknown"

    def hostname(self) -> str:
        text = self.read_text(self.path("proc", "sys", "kernel", "hostname"))
        return text or os.uname().nodename

    # ---- psutil (only here) --------------------------------------------------------------
    def psutil_call(self, fn_name: str, *args):
        """Call a psutil function with its procfs pointed at this host's /proc."""
        import psutil  # noqa: PLC0415 - the one place psutil is imported

        import warnings  # noqa: PLC0415

        with _psutil_lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # psutil warns about fields a container's meminfo lacks
            old = psutil.PROCFS_PATH
            psutil.PROCFS_PATH = str(self.path("proc"))
            try:
                return getattr(psutil, fn_name)(*args)
            finally:
                psutil.PROCFS_PATH = old

    def own_rss_bytes(self) -> int:
        import psutil  # noqa: PLC0415

        return psutil.Process().memory_info().rss

    def walk(self, p: Path, max_depth: int = 6) -> Iterator[Path]:
        """Bounded recursive listing (no link following)."""
        stack = [(Path(p), 0)]
        while stack:
            cur, depth = stack.pop()
            for name in self.listdir(cur):
                child = cur / name
                yield child
                if depth < max_depth and child.is_dir() and not child.is_symlink():
                    stack.append((child, depth + 1))


def parse_int(text: str | None) -> int | None:
    """Parse a kernel integer; ``None`` for empty, non-numeric or garbage values."""
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    try:
        return int(text, 0) if text.startswith(("0x", "0X")) else int(text)
    except ValueError:
        return None


def parse_float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        v = float(text.strip())
    except ValueError:
        return None
    if v != v or v in (float("inf"), float("-inf")):
        return None
    return v
