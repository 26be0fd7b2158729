"""Bookkeeping of the rehearsal (tests/vm/test_rehearsal.py): named stages, pending capabilities,
figures, and the operator at the console of `agent recover`.

A *stage* is one named check. It either passes, fails, or — when it depends on a capability the
checkout does not have yet — is *pending*: its check still runs, and its failure is printed as
pending instead of failing the test. A pending stage that passes fails the test (strict, like
``pytest.mark.xfail(strict=True)``): either the capability landed and its pending entry must go,
or the check cannot tell, and is wrong. Whether a capability is there is decided by probes of the
installed agent and this checkout (:func:`capabilities`), so most stages start asserting by
themselves when the capability lands.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import time
import tomllib
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path

from tests.vm.image import REPO
from tests.vm.machine import GuestError


class StageBlocked(Exception):
    """A harness stage failed: nothing after it can run meaningfully."""


@dataclass
class Stage:
    name: str
    status: str  # ok | FAILED | pending | XPASS
    seconds: float
    detail: str = ""
    pending: str = ""


@dataclass
class Day:
    stages: list[Stage] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def stage(self, name: str, pending: str | None = None, harness: bool = False):
        """``with day.stage("name", pending=reason_or_None):`` -- a failing harness stage stops the day."""
        t0 = time.monotonic()
        try:
            yield
        except (AssertionError, GuestError, TimeoutError, OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            detail = f"{type(exc).__name__}: {exc}"[:1500]
            st = Stage(name, "pending" if pending else "FAILED", time.monotonic() - t0, detail, pending or "")
            self.stages.append(st)
            print(f"\n[rehearsal] stage {name}: {st.status}{' (' + pending + ')' if pending else ''}\n  {detail}")
            if harness:
                raise StageBlocked(f"harness stage {name!r} failed: {detail}") from exc
            return
        st = Stage(name, "XPASS" if pending else "ok", time.monotonic() - t0, "", pending or "")
        if pending:
            st.detail = "passes although listed as pending: the capability landed (remove the pending entry) or the check is wrong"
        self.stages.append(st)
        print(f"[rehearsal] stage {name}: {st.status} ({st.seconds:.1f} s)")

    def failed(self) -> list[Stage]:
        return [s for s in self.stages if s.status in ("FAILED", "XPASS")]

    def table(self) -> str:
        lines = [f"{'stage':<44} {'status':<8} {'s':>7}  detail / pending because"]
        for s in self.stages:
            why = s.pending if s.status == "pending" else s.detail
            lines.append(f"{s.name:<44} {s.status:<8} {s.seconds:>7.1f}  {why[:160]}")
        return "\n".join(lines)

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps({"stages": [s.__dict__ for s in self.stages], "figures": self.figures,
                                    "notes": self.notes}, indent=1, default=str))


# ------------------------------------------------------------------------------ capability probes
def _src(*globs: str) -> str:
    out = []
    for g in globs:
        for p in sorted(REPO.glob(g)):
            if p.is_file():
                out.append(p.read_text(errors="replace"))
    return "\n".join(out)


def capabilities(image_rules: list[dict], commands: list[str]) -> dict[str, str | None]:
    """{capability: None if present, else why it is pending (the issue that brings it)}."""
    rules = {r["id"]: r for r in image_rules}
    status_src = _src("agent/statuspage/*.py", "hwstatus/*.py", "hwstatus/**/*.py")
    runbook = (REPO / "runbooks/mainboard-swap.toml").read_text()
    alerts = (REPO / "agent/data/alerts.yml").read_text()
    caps: dict[str, str | None] = {}
    caps["baseline-off-host"] = None if "/api/hosts/" in status_src else \
        "status service stores no per-host baseline/checklist (contract B, issue 14)"
    caps["readiness-findings"] = None if any(r.get("component") == "recovery" or str(r.get("id", "")).startswith("recovery.")
                                             for r in image_rules) else \
        "no readiness rules (component recovery, issue 13)"
    caps["board-verdict"] = None if any(i.startswith("board.") and ("verdict" in i or "failing" in i) for i in rules) else \
        "no board verdict rule (board.failing) in the installed agent (issue 13/18)"
    caps["impact-labels"] = None if re.search(r"^\s*impact:\s*(risk|outage)", alerts, re.M) else \
        "shipped alerts carry no impact label (contract A, issues 14/21)"
    caps["incident-from-silence"] = None if re.search(r"silen|missed.heartbeat|heartbeat_(down|timeout)|deadman_seconds", status_src) and \
        re.search(r"def \w*(silen|stale|overdue|deadman|check_heartbeats)\w*\(", status_src) else \
        "status service opens no incident from a host's silence (issue 14)"
    caps["nic-rename"] = None if re.search(r"nic_names|interface_names|nic_rename|ifupdown|nic_refs|nic_rebind", runbook) else \
        "mainboard-swap finds no config naming the old NIC (only old MACs; issue 13)"
    caps["runbook-notify-on-incident"] = None if re.search(r"state\s*=\s*\"identified\"", runbook) and \
        "incident" in _src("agent/recovery/notify.py") else "runbook notify steps do not attach to the open incident (contract C, issue 14)"
    caps["clock-check"] = None if re.search(r"check\s*=\s*\"(clock|time|ntp)\w*\"", runbook) else \
        "no NTP in the sandbox and no clock-vs-reference check in the runbook (issue 13)"
    # efi_boot now requires the first active BootOrder entry to be an OS loader (a File() on an
    # ESP of a present disk); OVMF's automatic disk entries on an empty NVRAM are not
    caps["efi-entry-check"] = None if "OS loader" in _src("agent/recovery/boot.py") else \
        "the efi_boot check passes on a board whose NVRAM has no Debian entry (MB-08 already_done; issue 13)"
    # MB-19 compares the clock with an outside reference (NTP, else the status service's HTTP Date):
    # the only way to find a clock hours AHEAD of the baseline on a host without NTP
    caps["clock-ahead"] = None if re.search(r'action\s*=\s*"clock_reference"', runbook) else \
        "no step finds a clock hours ahead without NTP (MB-19a only catches a clock before the baseline capture)"
    caps["data-restore-child"] = None if "restore-drill" in " ".join(p.name for p in (REPO / "runbooks").glob("*.toml")) else \
        "data-restore as a child run of the swap (issue 17)"
    return caps


# ------------------------------------------------------------------------------------ operator
FIFO, LOG = "/tmp/recover.answers", "/tmp/recover.log"
PROMPT = re.compile(r"^  (?P<prompt>[^\n]*?): $")


class Operator:
    """Runs `agent recover` in the guest with stdin on a FIFO and answers each prompt once it is on
    the screen, from ``handlers`` keyed by step id: ``handler(screen) -> answer`` (it may do the
    manual work the step's instructions ask for first, and count it via :meth:`manual`), or
    ``None`` when an honest operator could not give the answer (the run is then stopped)."""

    REBOOT = "<reboot>"  # a handler's answer: it rebooted the host as the step asks; resume the run

    def __init__(self, m, handlers: dict):
        self.m, self.handlers = m, handlers
        self.typed: list[tuple[str, str]] = []
        self.manual_work: list[str] = []
        self.blocked: str = ""
        self.answered_at = 0
        self.off_runbook: list[str] = []

    def manual(self, what: str) -> None:
        self.manual_work.append(what)

    def screen(self) -> str:
        return self.m.sh(f"cat {LOG}", check=False, timeout=60)

    def start(self, argv: list[str]) -> None:
        self.answered_at, self.blocked = 0, ""
        self.m.sh(f"rm -f {FIFO} {LOG}; mkfifo {FIFO}; (sleep 100000 > {FIFO} &)")
        cmd = shlex.join(argv) + f" < {FIFO} > {LOG} 2>&1; echo EXIT $? >> {LOG}"
        self.m.sh(f"(SUDO_USER=operator setsid sh -c {shlex.quote(cmd)} &)")

    def drive(self, timeout: float) -> tuple[int | str | None, str]:
        """Answer prompts until the run exits (rc, screen), the operator rebooted the host as a
        step asked (:attr:`REBOOT`, screen) or is blocked (None, screen)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.screen()
            mt = re.search(r"^EXIT (\d+)", s, re.M)
            if mt:
                return int(mt.group(1)), s
            tail = s[self.answered_at:]
            if tail.endswith(": ") and "\n" in tail:
                step = _current_step(s)
                prompt = tail.rsplit("\n", 1)[1].strip()
                fn = self.handlers.get(step)
                answer = fn(s) if fn else None
                if answer == self.REBOOT:
                    return self.REBOOT, s
                if answer is None:
                    self.blocked = f"{step}: no truthful answer to {prompt!r}" if fn else f"{step}: unexpected prompt {prompt!r}"
                    self.interrupt()
                    return None, self.screen()
                self.typed.append((step, answer))
                self.answered_at = len(s)
                self.m.sh(f"echo {shlex.quote(answer)} > {FIFO}")
                continue
            time.sleep(1.0)
        self.blocked = f"no end within {timeout:.0f} s"
        self.interrupt()
        return None, self.screen()

    def interrupt(self, grace: int = 90) -> None:
        """Ctrl-C, as the operator at the terminal; wait until the run has exited (it records the
        interrupted step first) so that a resume never meets it alive; kill -9 after ``grace`` s
        (a resume after kill -9 is part of the engine's contract too)."""
        self.m.sh("pkill -INT -f '[a]gent recover'; "
                  f"for i in $(seq {grace}); do pgrep -f '[a]gent recover' >/dev/null || break; sleep 1; done; "
                  "pkill -KILL -f '[a]gent recover'; true", check=False, timeout=grace + 60)


def _current_step(screen: str) -> str:
    ids = re.findall(r"(?:MANUAL STEP (\S+?):|^\[\d+/\d+\] (\S+) )", screen, re.M)
    return (ids[-1][0] or ids[-1][1]) if ids else "?"


def runbook_steps(name: str) -> list[str]:
    data = tomllib.loads((REPO / "runbooks" / f"{name}.toml").read_text())
    return [s["id"] for s in data.get("steps", [])]
