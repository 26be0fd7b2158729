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
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from agent.runner import CommandResult, default_runner

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

# looked up at call time, so tests can swap the process runner for every Host at once
_default_runner = default_runner

_psutil_lock = threading.Lock()


def which(cmd: str, path: str | None = None) -> str | None:
    """``shutil.which`` on POSIX, the same result for the same arguments (tests compare them):
    shutil pulls in bz2 and lzma (their C libraries), ~0.6 MB of the daemon's resident memory
    for this one function."""
    def usable(fn: str) -> bool:
        return os.path.exists(fn) and os.access(fn, os.F_OK | os.X_OK) and not os.path.isdir(fn)

    if os.path.dirname(cmd):
        return cmd if usable(cmd) else None
    if path is None:
        path = os.environ.get("PATH", None)
        if path is None:
            try:
                path = os.confstr("CS_PATH")
            except (AttributeError, ValueError):
                path = os.defpath
    if not path:
        return None
    seen: set[str] = set()
    for d in os.fsdecode(path).split(os.pathsep):
        if d not in seen:
            seen.add(d)
            name = os.path.join(d, cmd)
            if usable(name):
                return name
    return None


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
        except ValueError:  # a NUL in a path built from host data (a garbage sysfs value)
            raise ReadError(p, "invalid path (NUL byte)") from None
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
        except ValueError:  # a NUL in a path built from host data (a garbage sysfs value)
            raise ReadError(p, "invalid path (NUL byte)") from None
        return data.decode("utf-8", "replace")

    def listdir(self, p: Path) -> list[str]:
        """Sorted directory entries; empty when the directory is missing or unreadable."""
        try:
            return sorted(os.listdir(p))
        except (OSError, ValueError):
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
        found = which(name)
        if found:
            return found
        return which(name, path=os.pathsep.join(self.tool_dirs))

    def tool(self, name: str) -> str:
        """The configured executable for a tool (``[host] smartctl``), else its bare name."""
        return self.tools.get(name) or name

    def run(self, argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None) -> CommandResult:
        """Run an argv list with a timeout and bounded output (agent.runner)."""
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
    def psutil_call(self, fn_name: str, *args: Any) -> Any:
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
