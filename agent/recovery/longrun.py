"""Commands that must never be killed (package managers, steps marked ``uninterruptible``).

Killing ``apt-get``/``dpkg`` half-way leaves packages half-configured, so these run under
:class:`Supervisor` instead of the host's normal runner:

- the step's timeout only warns (once), the command keeps running;
- Ctrl-C asks "really interrupt? the command keeps running"; answering yes stops *the agent*
  (the run is recorded ``interrupted``), never the command;
- SIGTERM/SIGHUP stop the agent the same way without asking;
- output goes to files in the run folder, not pipes, so a command that outlives the agent
  never dies of SIGPIPE, and its output is still there for the report;
- the child's pid, process group and boot id are persisted the moment it starts, so a resume
  (even after ``kill -9`` of the agent) finds a still-running child by its process group and
  waits for it before verifying (:func:`wait_for_group`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from agent.host import CommandResult

PACKAGE_MANAGERS = frozenset({"apt", "apt-get", "aptitude", "dpkg", "dpkg-reconfigure", "unattended-upgrade",
                              "unattended-upgrades", "debconf-apt-progress"})


class Stopped(KeyboardInterrupt):
    """SIGTERM/SIGHUP turned into an exception: stop the agent, record ``interrupted``."""

    def __init__(self, signame: str):
        super().__init__(signame)
        self.signame = signame


def never_killed(step) -> bool:
    """Package-manager steps and steps marked ``uninterruptible``."""
    if getattr(step, "uninterruptible", False):
        return True
    apply = getattr(step, "apply", None)
    if apply is None or apply.action != "run":
        return False
    argv = apply.args.get("argv") or [""]
    return str(argv[0]).rsplit("/", 1)[-1] in PACKAGE_MANAGERS


def group_alive(pgid: int, proc: str = "/proc") -> bool:
    """Does a process of this process group still run (the child of an earlier agent)? Zombies
    (finished, not yet reaped) do not count. This is about the agent's own children, so it asks
    the kernel of this machine, not the configured host root."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists but belongs to another user: alive, its members are read below
    try:
        names = os.listdir(proc)
    except OSError:
        return True
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"{proc}/{name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] != b"Z":
            return True
    return False


def wait_for_group(pgid: int, *, info: Callable[[str], None], sleep: Callable[[float], None] = time.sleep,
                   interval: float = 1.0, remind_every: float = 60.0) -> float:
    """Block until process group ``pgid`` is gone; returns the seconds waited. Never signals it."""
    t0 = time.monotonic()
    last = t0
    while group_alive(pgid):
        sleep(interval)
        now = time.monotonic()
        if now - last >= remind_every:
            info(f"  still waiting for process group {pgid} ({now - t0:.0f} s); it is never killed")
            last = now
    return time.monotonic() - t0


def _read(path: str | None) -> bytes:
    if not path:
        return b""
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""


def child_output(child: Mapping[str, Any]) -> tuple[bytes, bytes]:
    return _read(child.get("stdout")), _read(child.get("stderr"))


class Supervisor:
    """Runs one argv to completion no matter what (see the module docstring).

    ``prefix`` wraps the argv (``["chroot", ROOT]``). ``confirm_interrupt(argv, pid)`` is asked on
    Ctrl-C; ``on_spawn(child)`` persists the child record; ``warn(text)`` reports the timeout."""

    def __init__(self, prefix: Sequence[str] = (), poll: float = 0.5):
        self.prefix = list(prefix)
        self.poll = poll

    def run(self, argv: Sequence[str], timeout: float, env: Mapping[str, str] | None, *, out_dir: Path,
            tag: str, boot_id: str, on_spawn: Callable[[dict[str, Any]], None], warn: Callable[[str], None],
            confirm_interrupt: Callable[[Sequence[str], int], bool]) -> CommandResult:
        argv = [str(a) for a in argv]
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        paths = {k: out_dir / f"{tag}.{k}" for k in ("stdout", "stderr")}
        start = time.monotonic()
        with open(paths["stdout"], "wb") as fo, open(paths["stderr"], "wb") as fe:
            try:
                proc = subprocess.Popen([*self.prefix, *argv], stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                                        start_new_session=True, env=dict(env) if env is not None else None)
            except FileNotFoundError:
                return CommandResult(tuple(argv), None, b"", b"", 0.0, f"not found: {argv[0]}")
            except OSError as exc:
                return CommandResult(tuple(argv), None, b"", b"", 0.0, f"{argv[0]}: {exc.strerror}")
        child = {"pid": proc.pid, "pgid": proc.pid, "argv": argv, "started": time.time(), "boot_id": boot_id,
                 "stdout": str(paths["stdout"]), "stderr": str(paths["stderr"])}
        on_spawn(child)
        warned = False
        while True:
            try:
                rc = proc.wait(self.poll)
                break
            except subprocess.TimeoutExpired:
                if not warned and time.monotonic() - start > timeout:
                    warned = True
                    warn(f"{argv[0]} (pid {proc.pid}) is past its timeout of {timeout:g} s; it keeps running "
                         "(package managers and uninterruptible steps are never killed)")
            except Stopped:
                raise  # SIGTERM/SIGHUP: the agent stops, the command keeps running
            except KeyboardInterrupt:
                try:
                    really = confirm_interrupt(argv, proc.pid)
                except KeyboardInterrupt:
                    really = True  # a second Ctrl-C answers the question
                if really:
                    raise
        out, err = child_output(child)
        return CommandResult(tuple(argv), rc, out, err, time.monotonic() - start, None)


def not_run_runner(root: str):
    """The runner of a dry run against a tree: commands would read this machine, so none runs."""
    def runner(argv, timeout, env=None):
        return CommandResult(tuple(str(a) for a in argv), None, b"", b"", 0.0,
                             f"not run: the host root is {root}; commands would read this machine, not the tree")
    return runner


class SupervisedHost:
    """The host as an action sees it during a never-killed apply: everything as the real host,
    except that ``run`` goes through the executor's :class:`Supervisor`."""

    def __init__(self, ex, step):
        self._ex, self._step = ex, step

    def __getattr__(self, name):
        return getattr(self._ex.host, name)

    def run(self, argv, timeout, env=None):
        ex, step = self._ex, self._step
        rec = ex.rec
        assert rec is not None and ex.supervisor is not None
        st = rec.step(step.id)

        def on_spawn(child):
            st["child"] = child
            rec.save()
            rec.audit("child_started", step=step.id, pid=child["pid"], argv=child["argv"])

        def warn(text):
            ex.ui.info(f"  {step.id}: {text}")
            rec.audit("timeout_warning", step=step.id, detail=text)
        return ex.supervisor.run(argv, timeout, env, out_dir=rec.store.dir / f"{rec.run_id}.out",
                                 tag=f"{step.id}.{st.get('attempts', 0)}", boot_id=ex.host.boot_id(),
                                 on_spawn=on_spawn, warn=warn, confirm_interrupt=ex.ui.confirm_interrupt)


@contextmanager
def stop_signals():
    """SIGTERM and SIGHUP stop an executing run like Ctrl-C does (recorded ``interrupted``)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Stopped(signal.Signals(signum).name)
    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
