"""What every runbook action is built on: the :class:`Action` contract, the :class:`ActionContext`
an action may use, its :class:`Outcome`, and bounded evidence of each command it ran.

Every command goes through :meth:`ActionContext.run`, which refuses in a dry run whatever the
read-only allow-list (:mod:`agent.recovery.readonly`) does not know to only read.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Sequence

from agent.recovery.errors import DryRunViolation, SpecError
from agent.recovery.expect import validate_expect
from agent.recovery.readonly_programs import argv_read_only

OUTPUT_HEAD = 4000
OUTPUT_TAIL = 2000


def bounded(data: bytes) -> dict[str, Any]:
    """Head and tail of an output stream plus the sha256 and size of the full text."""
    text = data.decode("utf-8", "replace")
    out: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    if len(text) <= OUTPUT_HEAD + OUTPUT_TAIL:
        out["text"] = text
    else:
        out["text"] = text[:OUTPUT_HEAD] + f"\n[... {len(text) - OUTPUT_HEAD - OUTPUT_TAIL} characters omitted ...]\n" + text[-OUTPUT_TAIL:]
        out["truncated"] = True
    return out


@dataclass
class Outcome:
    passed: bool
    detail: str = ""
    output: str = ""  # text the predicates ran on (for progress parsing)
    value: Any = None  # typed answer, diff changes, notification id ...
    skipped: bool = False  # e.g. notify not configured
    decided: bool = False  # a check that measured the thing itself: failing, the step fails (no apply, no prompt)
    commands: list[dict[str, Any]] = field(default_factory=list)


class ActionContext:
    """What an action may use. The executor builds one per action call."""

    def __init__(self, host, *, timeout: float, dry_run: bool, operator: str, baseline: Mapping[str, Any] | None,
                 live_baseline: Callable[[], Mapping[str, Any]] | None = None, ui: Any = None, notifier: Any = None,
                 answers: Mapping[str, str] | None = None, step_id: str = "", run_id: str = "",
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 notifications: Sequence[Mapping[str, Any]] = (), remaining_seconds: float | None = None):
        self.notifications = list(notifications)
        self.engine: Any = None  # the executor running this step (child runs, stored baselines)
        self.remaining_seconds = remaining_seconds  # estimates of the steps still to do (notify ETA)
        self.host = host
        self.timeout = timeout
        self.dry_run = dry_run
        self.operator = operator
        self.baseline = baseline
        self.live_baseline = live_baseline
        self.ui = ui
        self.notifier = notifier
        self.answers = dict(answers or {})
        self.step_id = step_id
        self.run_id = run_id
        self.sleep = sleep
        self.clock = clock

    def run(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> tuple[Any, dict[str, Any]]:
        """Run an argv through the host (``env``: variables added to the agent's environment);
        returns (CommandResult, evidence). Evidence names the added variables, not their values."""
        argv = [str(a) for a in argv]
        if self.dry_run:
            ok, reason = argv_read_only(argv)
            if not ok:
                raise DryRunViolation(f"dry run refused to execute {argv!r}: {reason}")
        started = self.clock()
        t0 = time.monotonic()
        full_env = None
        if env:
            import os  # noqa: PLC0415

            full_env = {**os.environ, **env}
        res = self.host.run(argv, self.timeout, full_env) if full_env is not None else self.host.run(argv, self.timeout)
        ev = {"argv": argv, **({"env": sorted(env)} if env else {}), "rc": res.rc, "error": res.error, "started": started, "ended": self.clock(),
              "duration_seconds": round(time.monotonic() - t0, 3), "operator": self.operator,
              "boot_id": self.host.boot_id(),
              "stdout": bounded(res.stdout), "stderr": bounded(res.stderr)}
        return res, ev


def _argv(k: str, v: Any) -> None:
    if not isinstance(v, list) or not v:
        raise SpecError(k, "expected a non-empty list of strings (an argv, never a shell string)")
    for i, a in enumerate(v):
        if not isinstance(a, str):
            raise SpecError(f"{k}[{i}]", f"expected a string, got {a!r}")


def _str(k: str, v: Any) -> None:
    if not isinstance(v, str):
        raise SpecError(k, f"expected a string, got {v!r}")


def _number(k: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
        raise SpecError(k, f"expected a finite number, got {v!r}")


def _bool(k: str, v: Any) -> None:
    if not isinstance(v, bool):
        raise SpecError(k, f"expected a boolean, got {v!r}")


def _list(k: str, v: Any) -> None:
    if not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
        raise SpecError(k, "expected a list of strings")


def _env(k: str, v: Any) -> None:
    if not isinstance(v, dict):
        raise SpecError(k, "expected a table of NAME = \"value\"")


# the type names an action declares for its keys (Action.required/optional) -> their check
_ARG_TYPES: dict[str, Callable[[str, Any], None]] = {"argv": _argv, "str": _str, "number": _number, "bool": _bool,
                                                     "list": _list, "expect": lambda k, v: validate_expect(v, k),
                                                     "env": _env}


class Action:
    name: ClassVar[str]
    read_only: ClassVar[bool]
    required: ClassVar[dict[str, str]] = {}  # key -> type description
    optional: ClassVar[dict[str, str]] = {}
    summary: ClassVar[str] = ""
    # the checklist line, formatted with the step's arguments ("wait {seconds:g} s"); empty: the name
    describe_text: ClassVar[str] = ""

    @classmethod
    def validate(cls, args: Mapping[str, Any]) -> None:
        known = set(cls.required) | set(cls.optional)
        for k in args:
            if k not in known:
                raise SpecError(k, f"unknown key for action {cls.name!r} (known: action, {', '.join(sorted(known))})")
        for k in cls.required:
            if k not in args:
                raise SpecError(k, f"missing (action {cls.name!r} needs {', '.join(cls.required)})")
        for k, tp in {**cls.required, **cls.optional}.items():
            check = _ARG_TYPES.get(tp)
            if k in args and check is not None:
                check(k, args[k])
        cls.extra_validate(args)

    @classmethod
    def extra_validate(cls, args: Mapping[str, Any]) -> None:
        """Checks beyond the declared argument types; actions that need them override this."""

    @classmethod
    def describe(cls, args: Mapping[str, Any]) -> str:
        return cls.describe_text.format_map(args) if cls.describe_text else cls.name

    def run(self, args: Mapping[str, Any], ctx: ActionContext) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError


class EvidenceHost:
    """The host as a check sees it: commands go through the action context (read-only guard in
    a dry run, evidence per command); everything else is the host itself."""

    def __init__(self, ctx: ActionContext):
        self._ctx = ctx
        self.evidence: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx.host, name)

    def run(self, argv, timeout: float | None = None, env=None):
        ok, reason = argv_read_only([str(a) for a in argv])
        if not ok:
            raise DryRunViolation(f"a baseline check tried to run {list(argv)!r}: {reason}")
        import os  # noqa: PLC0415

        # ``env`` is a full environment (the Host.run contract); the context adds only what differs
        added = {k: v for k, v in (env or {}).items() if os.environ.get(k) != v}
        res, ev = self._ctx.run(argv, env=added or None)
        self.evidence.append(ev)
        return res
