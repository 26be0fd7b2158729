"""Plan (dry run), execute and resume a runbook.

Step life cycle (persisted after every transition)::

    pending -> not_applicable                      (when = false)
            -> checking -> already_done            (check passed: nothing to do)
                        -> [waiting_operator]      (typed confirmation / manual answer)
                        -> applying -> verifying -> verified | failed
            -> skipped                              (--skip / --start-at, with reason)
    any running state -> interrupted                (Ctrl-C; the state it was in is kept)

The dry run is enforced here, not by convention: only actions whose class is ``read_only`` are
called, and every argv passes :func:`actions.argv_read_only` before it reaches the host
(:class:`actions.DryRunViolation` otherwise); a dry run writes no record, no audit line and sends
nothing. Resume starts at the first step that is not done and always runs that step's ``check``
again instead of trusting the record; a step found ``applying`` (the process died mid-apply) is
verified before anything is re-applied, and a non-idempotent apply is only repeated when the
operator says so.

Host root: with ``--path.rootfs`` other than ``/`` file checks read the tree but a command would
run on *this* machine. So ``--execute`` against a tree is refused unless ``chroot=True`` (every
command runs as ``chroot ROOT argv``), and a dry run against a tree does not run commands at all:
those checks are reported ``not_run`` and the plan says so. An injected runner (recorded output,
tests) is the tree's own command seam and is used as is.

Package-manager steps and steps marked ``uninterruptible`` run under
:class:`longrun.Supervisor` (never killed; see there); a resume waits for such a child that is
still running before it verifies. SIGTERM and SIGHUP stop the agent like Ctrl-C (the run is
recorded ``interrupted``). The live baseline is captured once per run and again only after a
step changed something.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from agent.recovery import actions as A
from agent.recovery import longrun
from agent.recovery.record import DONE_STATES, FORMAT_VERSION, RunRecord, RunStore, new_run_id
from agent.recovery.runbook import ActionSpec, Runbook, Step
from agent.recovery.template import Context, TemplateError, Unresolved, fill, fill_obj


class ExecutionError(Exception):
    """A run cannot start or continue (unknown step, bad parameters); the message says why."""


class RunInterrupted(Exception):
    def __init__(self, run_id: str, step_id: str | None):
        super().__init__(f"run {run_id} interrupted at step {step_id}; continue with `agent recover --resume {run_id}`")
        self.run_id = run_id
        self.step_id = step_id
        self.child: dict[str, Any] | None = None  # a never-killed command that keeps running


class UI(Protocol):
    def progress(self, *, index: int, total: int, step: Step, elapsed: float, eta: float | None, note: str = "") -> None: ...
    def info(self, text: str) -> None: ...
    def show_manual(self, step: Step, instructions: str, verify: str) -> None: ...
    def ask(self, prompt: str, validate: Callable[[str], str | None]) -> str: ...
    def confirm_reapply(self, step: Step, detail: str) -> bool: ...
    def confirm_interrupt(self, argv, pid: int) -> bool: ...


class NullUI:
    """Non-interactive: any question fails the step (use for tests and automation)."""

    def __init__(self, answers: list[str] | None = None, reapply: bool = False):
        self.answers = list(answers or [])
        self.reapply = reapply
        self.lines: list[str] = []

    def progress(self, *, index, total, step, elapsed, eta, note=""):
        self.lines.append(f"[{index}/{total}] {step.id} {note}")

    def info(self, text):
        self.lines.append(text)

    def show_manual(self, step, instructions, verify):
        self.lines.append(f"manual {step.id}: {instructions}")

    def ask(self, prompt, validate):
        while self.answers:
            value = self.answers.pop(0)
            if validate(value) is None:
                return value
            self.lines.append(f"rejected {value!r}: {validate(value)}")
        raise ExecutionError(f"no valid answer for {prompt!r} (non-interactive)")

    def confirm_reapply(self, step, detail):
        return self.reapply

    def confirm_interrupt(self, argv, pid):
        self.lines.append(f"interrupt while {argv[0]} (pid {pid}) runs: it keeps running")
        return True


def validate_params(runbook: Runbook, given: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k in given:
        if k not in runbook.params:
            known = ", ".join(runbook.params) or "none"
            raise ExecutionError(f"--param {k}: runbook {runbook.id} has no such parameter (known: {known})")
    for name, p in runbook.params.items():
        if name in given:
            v = given[name]
        elif p.default is not None:
            v = p.default
        elif p.required:
            raise ExecutionError(f"--param {name}=VALUE is required: {p.description}" + (f" (e.g. {p.example})" if p.example else ""))
        else:
            continue
        if p.pattern and not re.fullmatch(p.pattern, v):
            raise ExecutionError(f"--param {name}={v!r} does not match /{p.pattern}/")
        if "\x00" in v or "\n" in v:
            raise ExecutionError(f"--param {name}: control characters are not allowed")
        out[name] = v
    return out


@dataclass
class PlanItem:
    step: Step
    status: str  # already_done | would_run | not_applicable | ok | failing | not_run | error
    detail: str = ""
    check: str | None = None
    apply: str | None = None
    verify: str | None = None
    confirm: str | None = None
    instructions: str | None = None
    results: list[dict[str, Any]] = field(default_factory=list)


class Executor:
    def __init__(self, runbook: Runbook, host, *, params: Mapping[str, str] | None = None,
                 baseline: Mapping[str, Any] | None = None, baseline_id: str | None = None, ui: UI | None = None,
                 notifier: Any = None, operator: str = "unknown", store: RunStore | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 live_baseline: Callable[[], Mapping[str, Any]] | None = None,
                 on_transition: Callable[[str, str], None] | None = None, chroot: bool = False,
                 supervisor: longrun.Supervisor | None = None):
        self.runbook = runbook
        root = str(host.path("/"))
        self.tree_root = None if root == "/" else root
        self.commands_blocked = False  # a tree root without chroot: commands would read this machine
        self.chroot = bool(chroot and self.tree_root and host.runner is None)
        if self.tree_root and host.runner is None:
            if chroot:
                outer = dataclasses.replace(host, paths=dataclasses.replace(host.paths, rootfs="/"), runner=None)
                host = dataclasses.replace(host, runner=lambda argv, t, env=None: outer.run(["chroot", root, *argv], t, env))
                supervisor = supervisor or longrun.Supervisor(prefix=["chroot", root])
            else:
                self.commands_blocked = True
                host = dataclasses.replace(host, runner=longrun.not_run_runner(root))
        elif host.runner is None:
            supervisor = supervisor or longrun.Supervisor()
        self.supervisor = supervisor  # None: the injected runner stands in for package managers too
        self.captures = 0
        self.host = host
        self.params = validate_params(runbook, dict(params or {}))
        self.baseline = baseline
        self.baseline_id = baseline_id
        self.ui = ui or NullUI()
        self.notifier = notifier
        self.operator = operator
        self.store = store
        self.clock = clock
        self.sleep = sleep
        self._live_factory = live_baseline
        self._live: Mapping[str, Any] | None = None
        self.on_transition = on_transition
        self.dry_run = False
        self.rec: RunRecord | None = None
        self._started_m = time.monotonic()
        self.host_name: str | None = None  # --host NAME: run steps for a dead server from another machine
        self.parent: str | None = None  # a child run executes under its parent's lock

    # ---- internals -------------------------------------------------------------------------------
    def _live_baseline(self) -> Mapping[str, Any]:
        if self._live is None:
            self.captures += 1
            if self._live_factory is not None:
                self._live = self._live_factory()
            else:
                from agent import baseline as bl  # noqa: PLC0415

                self._live = bl.capture(self.host)
        return self._live

    def _answers(self) -> dict[str, str]:
        return dict(self.rec.data.get("answers", {})) if self.rec else {}

    def _ctx(self, run_id: str = "") -> Context:
        return Context(params=self.params, baseline=self.baseline, answers=self._answers(),
                       run={"id": run_id or (self.rec.run_id if self.rec else "dry-run"), "operator": self.operator,
                            "host": self.host_name or self.host.hostname()})

    def _fill(self, spec: ActionSpec, lenient: bool = False) -> dict[str, Any]:
        return fill_obj(dict(spec.args), self._ctx(), (lambda ref: f"<{ref}>") if lenient else None)

    def _call(self, spec: ActionSpec, step: Step, args: Mapping[str, Any], phase: str = "") -> A.Outcome:
        action = A.ACTIONS[spec.action]
        if self.dry_run and not action.read_only:
            raise A.DryRunViolation(f"dry run refused to call mutating action {spec.action!r} of step {step.id}")
        host = self.host
        if phase == "apply" and not self.dry_run and self.supervisor is not None and longrun.never_killed(step):
            host = longrun.SupervisedHost(self, step)
        ctx = A.ActionContext(host, timeout=step.timeout_seconds, dry_run=self.dry_run, operator=self.operator,
                              baseline=self.baseline, live_baseline=self._live_baseline, ui=self.ui,
                              notifier=None if self.dry_run else self.notifier, answers=self._answers(),
                              step_id=step.id, run_id=self.rec.run_id if self.rec else "", sleep=self.sleep,
                              clock=self.clock, notifications=self.rec.data.get("notifications", []) if self.rec else (),
                              remaining_seconds=self._remaining(step))
        ctx.engine = self  # child runs (agent.recovery.child) start under this run's lock
        return action().run(args, ctx)

    def run_child(self, runbook_id: str) -> tuple[bool, str, str | None]:
        """Start (or resume) a child run of ``runbook_id`` under this run (the child_run action)."""
        from agent.recovery import child  # noqa: PLC0415 - only mainboard-swap runs have children

        try:
            return child.run_child(self, runbook_id)
        except RunInterrupted:
            raise KeyboardInterrupt from None  # the parent records itself interrupted too

    def check_child(self, runbook_id: str) -> tuple[bool, str]:
        from agent.recovery import child  # noqa: PLC0415

        return child.check_child(self, runbook_id)

    def _remaining(self, step: Step) -> float:
        """Estimates of the steps after this one that are not done yet (a notify step's ETA)."""
        idx = self.runbook.index(step.id)
        return sum(s.estimate_seconds for s in self.runbook.steps[idx + 1:]
                   if self.rec is None or self.rec.step(s.id)["state"] not in DONE_STATES)

    def _when(self, step: Step) -> tuple[bool, str]:
        w = step.when
        if not w:
            return True, ""
        if "path_exists" in w:
            path = fill(w["path_exists"], self._ctx())
            ok = self.host.exists(self.host.path(path))
            return ok, f"path_exists {path}: {ok}"
        value = fill(w["value"], self._ctx())
        if "equals" in w:
            want = fill(str(w["equals"]), self._ctx())
            return value == want, f"{w['value']} = {value!r}, equals {want!r}"
        if "not_equals" in w:
            want = fill(str(w["not_equals"]), self._ctx())
            return value != want, f"{w['value']} = {value!r}, not_equals {want!r}"
        want_in = [fill(str(x), self._ctx()) for x in w["in"]]
        return value in want_in, f"{w['value']} = {value!r}, in {want_in}"

    def _guidance(self, step: Step) -> str:
        try:
            return fill(step.on_failure, self._ctx(), lambda r: f"<{r}>")
        except TemplateError:
            return step.on_failure

    def uses_baseline(self) -> bool:
        from agent.recovery.template import references  # noqa: PLC0415

        for s in self.runbook.steps:
            for spec in (s.check, s.apply, s.verify):
                if spec is not None and (spec.action.startswith("baseline_") or
                                         any(r.startswith("baseline.") for r in references(dict(spec.args)))):
                    return True
            if any(r.startswith("baseline.") for r in references([s.instructions, s.when or {}, s.confirm or {}])):
                return True
        return False

    # ---- dry run -------------------------------------------------------------------------------
    def plan(self) -> list[PlanItem]:
        """The dry run: fill templates, run read-only checks, describe everything else."""
        self.dry_run = True
        items = []
        self._live = None  # one capture for the whole dry run: nothing changes during it
        try:
            for step in self.runbook.steps:
                items.append(self._plan_step(step))
        finally:
            self.dry_run = False
        return items

    def _plan_step(self, step: Step) -> PlanItem:
        item = PlanItem(step=step, status="would_run")
        try:
            applicable, why = self._when(step)
            if not applicable:
                item.status, item.detail = "not_applicable", why
                return item
            for key in ("check", "apply", "verify"):
                spec = getattr(step, key)
                if spec is not None:
                    setattr(item, key, A.ACTIONS[spec.action].describe(self._fill(spec, lenient=True)))
            if step.instructions:
                item.instructions = " ".join(fill(step.instructions, self._ctx(), lambda r: f"<{r}>").split())
            if step.confirm:
                want = step.confirm.get("equals") or f"/{step.confirm.get('pattern')}/"
                item.confirm = (fill(step.confirm["prompt"], self._ctx(), lambda r: f"<{r}>") + " (typed: "
                                + fill(want, self._ctx(), lambda r: f"<{r}>") + ")")
            blocked = self._blocked(step)
            if blocked:
                item.status, item.detail = "not_run", blocked
                return item
            if step.check is not None:
                out = self._call(step.check, step, self._fill(step.check))
                item.results.append({"phase": "check", "passed": out.passed, "detail": out.detail, "value": out.value,
                                     "output": out.output if step.check.action == "baseline_compare" else ""})
                if out.passed:
                    item.status, item.detail = "already_done", out.detail
                    return item
                if out.decided:
                    item.status, item.detail = "failing", out.detail
                    return item
            if step.apply is None or step.apply.read_only and step.apply.action != "wait":
                if step.apply is not None:
                    out = self._call(step.apply, step, self._fill(step.apply))
                    item.results.append({"phase": "apply", "passed": out.passed, "detail": out.detail})
                if step.verify is not None and step.verify.action not in ("answer", "notified"):
                    out = self._call(step.verify, step, self._fill(step.verify))
                    item.results.append({"phase": "verify", "passed": out.passed, "detail": out.detail,
                                         "value": out.value,
                                         "output": out.output if step.verify.action == "baseline_compare" else ""})
                    item.status, item.detail = ("ok" if out.passed else "failing"), out.detail
        except Unresolved as exc:
            item.detail = f"runs once {exc.reason.replace('has not been answered yet', 'is answered')}"
        except TemplateError as exc:
            item.status, item.detail = "error", str(exc)
        return item

    def _blocked(self, step: Step) -> str | None:
        """In a dry run against a tree: the reason this step's checks are not run (they would
        run commands on this machine, not in the tree)."""
        if not self.commands_blocked:
            return None
        specs = [sp for sp in (step.check, step.verify, step.apply if step.apply and step.apply.read_only else None)
                 if sp is not None]
        if any(sp.action in ("probe", "baseline_diff", "baseline_compare") for sp in specs):
            return (f"not run: the host root is {self.tree_root}; this check runs commands, which would read this "
                    "machine instead of the tree (use --chroot to run them inside the tree)")
        return None

    # ---- execution -----------------------------------------------------------------------------
    def open_followups(self) -> list[dict[str, Any]]:
        return [f for f in (self.rec.data.get("followups", []) if self.rec else []) if not f.get("closed")]

    def _followups_on_done(self, step: Step, applied: bool) -> None:
        """A step that applied something leaves its follow-up pending; a step that closes
        follow-ups closes them when it is done (persisted with the step's transition)."""
        assert self.rec is not None
        fl = self.rec.data.setdefault("followups", [])
        if applied and step.followup and not any(f["step"] == step.id and not f.get("closed") for f in fl):
            fl.append({"step": step.id, "text": fill(step.followup, self._ctx(), lambda r: f"<{r}>"),
                       "since": self.clock()})
        for f in fl:
            if f["step"] in step.closes and not f.get("closed"):
                f.update(closed=self.clock(), closed_by=f"step {step.id}")

    def ack_followups(self, steps: Mapping[str, str]) -> None:
        assert self.rec is not None
        for sid, why in steps.items():
            if not why or not why.strip():
                raise ExecutionError(f"--ack-followup {sid} needs --reason")
            match = [f for f in self.rec.data.get("followups", []) if f["step"] == sid and not f.get("closed")]
            if not match:
                raise ExecutionError(f"run {self.rec.run_id} has no open follow-up of step {sid}")
            for f in match:
                f.update(closed=self.clock(), closed_by=f"{self.operator}: {why}")
            self.rec.audit("followup_ack", step=sid, reason=why, operator=self.operator)
        self.rec.save()

    def _t(self, step_id: str, state: str, **fields: Any) -> None:
        assert self.rec is not None
        if state in ("verified", "already_done"):
            step = self.runbook.step(step_id)
            # a check that passes on resume after a failed or interrupted apply means the change was
            # made during this run (by the step or by hand): its follow-up is still owed
            changed_here = any(h.get("state") in ("applying", "failed", "interrupted", "verifying")
                               for h in self.rec.step(step_id).get("history", []) if isinstance(h, dict))
            self._followups_on_done(step, applied=step.mutating and (state == "verified" or changed_here))
        self.rec.transition(step_id, state, **fields)
        self.rec.audit("step", step=step_id, state=state, operator=self.operator,
                       **({"detail": fields["detail"]} if "detail" in fields else {}))
        if self.on_transition is not None:
            self.on_transition(step_id, state)

    def _lock(self, run_id: str):
        """The host's run lock; a child run executes inside its parent's process, which holds it."""
        if self.parent:
            import contextlib  # noqa: PLC0415

            return contextlib.nullcontext()
        assert self.store is not None  # only a child run (parent set) has no store of its own
        return self.store.lock(run_id, self.host.boot_id())

    def start(self, *, skips: Mapping[str, str] | None = None, start_at: str | None = None,
              reason: str | None = None, force: bool = False) -> RunRecord:
        if self.store is None:
            raise ExecutionError("no run store (state directory) configured")
        self._refuse_tree()
        now = self.clock()
        run_id = new_run_id(self.runbook.id, now)
        self._check_skips(skips or {}, start_at, reason, force)
        data = {
            "format_version": FORMAT_VERSION, "run_id": run_id,
            "runbook": {"id": self.runbook.id, "version": self.runbook.version, "title": self.runbook.title,
                        "sha256": self.runbook.sha256, "path": self.runbook.path},
            "host": self.host_name or self.host.hostname(), "boot_ids": [self.host.boot_id()], "mode": "execute",
            **({"parent": self.parent} if self.parent else {}),
            "params": self.params, "baseline_id": self.baseline_id, "operators": [self.operator],
            "status": "running", "pid": os.getpid(), "created": now, "current_step": None, "answers": {}, "notifications": [],
            "order": [s.id for s in self.runbook.steps],
            "steps": {s.id: {"state": "pending", "attempts": 0, "evidence": [], "history": []} for s in self.runbook.steps},
        }
        with self._lock(run_id):
            self.rec = self.store.create(data)
            self.rec.audit("run_start", runbook=self.runbook.id, runbook_sha256=self.runbook.sha256,
                           operator=self.operator, params=self.params, baseline_id=self.baseline_id)
            self._apply_skips(skips or {}, start_at, reason)
            with longrun.stop_signals():
                self._loop()
        return self.rec

    def resume(self, run_id: str, *, skips: Mapping[str, str] | None = None, start_at: str | None = None,
               reason: str | None = None, force: bool = False, accept_changed: bool = False,
               ack_followups: Mapping[str, str] | None = None) -> RunRecord:
        if self.store is None:
            raise ExecutionError("no run store (state directory) configured")
        self._refuse_tree()
        with self._lock(run_id):
            rec = self.store.load(run_id)
            d = rec.data
            if d["runbook"]["id"] != self.runbook.id:
                raise ExecutionError(f"run {rec.run_id} is a {d['runbook']['id']} run, not {self.runbook.id}")
            if d["runbook"].get("sha256") != self.runbook.sha256:
                missing = [s for s in d["steps"] if s not in {x.id for x in self.runbook.steps}]
                if not accept_changed:
                    raise ExecutionError(f"runbook {self.runbook.path} changed since run {rec.run_id} started; "
                                         "review the change, then resume with --accept-changed-runbook")
                if missing:
                    raise ExecutionError(f"runbook changed and no longer has step(s) {', '.join(missing)}; cannot resume")
                for s in self.runbook.steps:
                    d["steps"].setdefault(s.id, {"state": "pending", "attempts": 0, "evidence": [], "history": []})
                d["runbook"]["sha256"] = self.runbook.sha256
                d["order"] = [s.id for s in self.runbook.steps]
            lost = [s.id for s in self.runbook.steps if s.id not in d["steps"]]
            if lost:
                raise ExecutionError(f"run {rec.run_id} has no record of step(s) {', '.join(lost)}; the run file is "
                                     "damaged - inspect it, then start a new run")
            if d["status"] == "completed":
                raise ExecutionError(f"run {rec.run_id} is already completed (see `agent recover report {rec.run_id}`)")
            self.rec = rec
            self.params = dict(d.get("params", {}))
            boot = self.host.boot_id()
            if boot not in d["boot_ids"]:
                d["boot_ids"].append(boot)
            if self.operator not in d["operators"]:
                d["operators"].append(self.operator)
            self._check_skips(skips or {}, start_at, reason, force)
            if ack_followups:
                self.ack_followups(ack_followups)
            for f in self.open_followups():
                self.ui.info(f"pending follow-up from {f['step']}: {f['text']}")
            rec.set_status("running", pid=os.getpid())
            rec.audit("run_resume", operator=self.operator, boot_id=boot,
                      first_open=next((s.id for s in self.runbook.steps if d["steps"][s.id]["state"] not in DONE_STATES), None))
            self._apply_skips(skips or {}, start_at, reason)
            with longrun.stop_signals():
                self._loop()
        return rec

    def _refuse_tree(self) -> None:
        if self.commands_blocked:
            raise ExecutionError(
                f"--execute with host root {self.tree_root}: file checks would read the tree but every command "
                "would run on this machine. Refused. Run the agent inside the tree (chroot) or pass --chroot to "
                f"run every command as `chroot {self.tree_root} ...`")

    def _check_skips(self, skips: Mapping[str, str], start_at: str | None, reason: str | None, force: bool) -> None:
        for sid, why in skips.items():
            step = self.runbook.step(sid)
            if not why or not why.strip():
                raise ExecutionError(f"--skip {sid} needs --reason")
            if step.required and not force:
                raise ExecutionError(f"step {sid} is required; skipping it also needs --force")
        if start_at is not None:
            idx = self.runbook.index(start_at)
            if not reason or not reason.strip():
                raise ExecutionError(f"--start-at {start_at} needs --reason")
            for s in self.runbook.steps[:idx]:
                if s.required and not force and (self.rec is None or self.rec.step(s.id)["state"] not in DONE_STATES):
                    raise ExecutionError(f"--start-at {start_at} would skip required step {s.id}; that also needs --force")

    def _apply_skips(self, skips: Mapping[str, str], start_at: str | None, reason: str | None) -> None:
        assert self.rec is not None
        todo = dict(skips)
        if start_at is not None:
            for s in self.runbook.steps[:self.runbook.index(start_at)]:
                todo.setdefault(s.id, f"start-at {start_at}: {reason}")
        for sid, why in todo.items():
            if self.rec.step(sid)["state"] in DONE_STATES:
                continue
            self._t(sid, "skipped", reason=why, skipped_by=self.operator)
            self.rec.audit("step_skip", step=sid, reason=why, operator=self.operator)

    def _eta(self, index: int, step_started: float) -> float:
        assert self.rec is not None
        rest = sum(s.estimate_seconds for s in self.runbook.steps[index + 1:]
                   if self.rec.step(s.id)["state"] not in DONE_STATES)
        cur = self.runbook.steps[index].estimate_seconds
        return rest + max(0.0, cur - (time.monotonic() - step_started))

    def _loop(self) -> None:
        assert self.rec is not None
        steps = self.runbook.steps
        current = None
        try:
            for i, step in enumerate(steps):
                if self.rec.step(step.id)["state"] in DONE_STATES:
                    continue
                current = step.id
                started = time.monotonic()
                self.ui.progress(index=i + 1, total=len(steps), step=step, elapsed=time.monotonic() - self._started_m,
                                 eta=self._eta(i, started))
                if not self._run_step(step, i, started):
                    self.rec.set_status("failed", failed_step=step.id)
                    self.rec.audit("run_failed", step=step.id, detail=self.rec.step(step.id).get("detail"))
                    return
            open_ = self.open_followups()
            if open_:
                self.rec.set_status("followups_open")
                self.rec.audit("run_blocked", followups=[f["step"] for f in open_])
                return
            self.rec.set_status("completed", finished=self.clock())
            self.rec.audit("run_complete", operator=self.operator)
        except KeyboardInterrupt as exc:
            how = exc.signame if isinstance(exc, longrun.Stopped) else "SIGINT"
            child = None
            if current is not None:
                st = self.rec.step(current)
                prior = st["state"]
                if prior != "interrupted":
                    st["interrupted_in"] = prior
                child = st.get("child") if prior == "applying" else None
                self._t(current, "interrupted", detail=f"interrupted by {how}" + (
                    f"; {child['argv'][0]} (pid {child['pid']}) keeps running" if child else ""))
            self.rec.set_status("interrupted", interrupted_by=how)
            self.rec.audit("run_interrupted", step=current, operator=self.operator, signal=how,
                           **({"child_pid": child["pid"]} if child else {}))
            err = RunInterrupted(self.rec.run_id, current)
            err.child = child
            raise err from None

    def _evidence(self, step: Step, phase: str, attempt: int, spec: ActionSpec, out: A.Outcome) -> None:
        assert self.rec is not None
        if out.commands:
            for ev in out.commands:
                self.rec.add_evidence(step.id, {"phase": phase, "attempt": attempt, "action": spec.action, **ev})
        else:
            self.rec.add_evidence(step.id, {"phase": phase, "attempt": attempt, "action": spec.action,
                                            "passed": out.passed, "detail": out.detail, "time": self.clock(),
                                            "operator": self.operator, "output": A.bounded(out.output.encode()),
                                            **({"skipped": True} if out.skipped else {})})

    def _run_step(self, step: Step, index: int, started: float) -> bool:
        rec = self.rec
        assert rec is not None
        assert step.verify is not None  # the runbook loader rejects a step without verify
        s = rec.step(step.id)
        prior = s.get("interrupted_in", s["state"]) if s["state"] == "interrupted" else s["state"]
        s.pop("interrupted_in", None)
        try:
            applicable, why = self._when(step)
        except TemplateError as exc:
            self._t(step.id, "failed", detail=f"when: {exc}", on_failure=self._guidance(step))
            return False
        if not applicable:
            self._t(step.id, "not_applicable", detail=why)
            return True
        try:
            if prior == "applying" and s.get("child"):
                self._wait_orphan(step, s)  # before any check: the command may still be changing things
            if step.check is not None:
                self._t(step.id, "checking")
                out = self._call(step.check, step, self._fill(step.check))
                self._evidence(step, "check", s["attempts"] + 1, step.check, out)
                if out.passed:
                    self._t(step.id, "already_done", detail=f"check passed: {out.detail}")
                    return True
                if out.decided:  # measured by the machine: a typed answer or an apply cannot change it
                    self._t(step.id, "failed", detail=f"check failed: {out.detail}", on_failure=self._guidance(step))
                    rec.audit("step_failed", step=step.id, detail=out.detail)
                    return False
                if out.output.strip():  # show the data the operator needs before any prompt
                    self.ui.info(out.output.rstrip())
                self._live = None
            if prior == "verifying" and step.mutating:
                # apply had finished; the process died while verifying (e.g. during a resync poll)
                self._t(step.id, "verifying")
                ok, detail = self._verify(step, s.get("attempts", 0), index, started)
                if ok:
                    self._t(step.id, "verified", detail=detail)
                    return True
                self._t(step.id, "failed", detail=f"verify failed: {detail}", on_failure=self._guidance(step))
                rec.audit("step_failed", step=step.id, detail=detail)
                return False
            if prior == "applying" and step.mutating:
                # the process died while applying: never blindly re-apply, and first wait for its
                # command if that is still running (a package manager outlives the agent on purpose)
                self._wait_orphan(step, s)
                self._live = None
                self._t(step.id, "verifying")
                out = self._call(step.verify, step, self._fill(step.verify))
                self._evidence(step, "verify", s["attempts"], step.verify, out)
                if out.passed:
                    self._t(step.id, "verified", detail=out.detail)
                    return True
                if not step.idempotent and not self.ui.confirm_reapply(step, out.detail):
                    self._t(step.id, "failed", detail=f"interrupted during apply and verify fails ({out.detail}); "
                            "not re-applied without the operator's decision", on_failure=self._guidance(step))
                    return False
                rec.audit("step_reapply", step=step.id, operator=self.operator)
            attempts = 1 + step.retries
            detail = ""
            for attempt in range(1, attempts + 1):
                s["attempts"] = s.get("attempts", 0) + 1
                if step.confirm is not None:
                    self._confirm(step)
                if step.apply is not None:
                    args = self._fill(step.apply)
                    if step.apply.action == "manual":
                        self._t(step.id, "waiting_operator")
                        self.ui.show_manual(step, fill(step.instructions, self._ctx(), lambda r: f"<{r}>"),
                                            A.ACTIONS[step.verify.action].describe(self._fill(step.verify, lenient=True)))
                        out = self._call(step.apply, step, args)
                        answer = {"value": out.value, "operator": self.operator, "time": self.clock()}
                        rec.data.setdefault("answers", {})[step.id] = out.value
                        s["answer"] = answer
                        rec.save()
                        rec.audit("answer", step=step.id, **answer)
                    else:
                        s.pop("child", None)
                        self._t(step.id, "applying", intent=args.get("argv") or A.ACTIONS[step.apply.action].describe(args))
                        out = self._call(step.apply, step, args, phase="apply")
                        if step.apply.action == "notify":
                            note = {"step": step.id, "time": self.clock(), "sent": not out.skipped,
                                    "detail": out.detail, **(out.value or {})}
                            rec.data.setdefault("notifications", []).append(note)
                            rec.audit("notify", **note)
                            if out.skipped:  # no status service: the step did not happen, and says so
                                self._evidence(step, "apply", attempt, step.apply, out)
                                self._t(step.id, "skipped", reason=out.detail, detail=out.detail)
                                return True
                    self._evidence(step, "apply", attempt, step.apply, out)
                    if not out.passed:
                        detail = f"apply failed: {out.detail}"
                        if attempt < attempts:
                            rec.audit("step_retry", step=step.id, attempt=attempt, detail=detail)
                            self.sleep(step.retry_delay_seconds)
                        continue
                if step.apply is not None:
                    self._live = None  # something changed (or the operator did something): capture again
                self._t(step.id, "verifying")
                ok, detail = self._verify(step, attempt, index, started)
                if ok:
                    self._t(step.id, "verified", detail=detail)
                    return True
                detail = f"verify failed: {detail}"
                if attempt < attempts:
                    rec.audit("step_retry", step=step.id, attempt=attempt, detail=detail)
                    self.sleep(step.retry_delay_seconds)
            extra = {}
            if step.undo is not None:  # shown to the operator, never run automatically
                extra["undo"] = A.ACTIONS[step.undo.action].describe(self._fill(step.undo, lenient=True))
            self._t(step.id, "failed", detail=detail, on_failure=self._guidance(step), **extra)
            rec.audit("step_failed", step=step.id, detail=detail)
            return False
        except TemplateError as exc:
            self._t(step.id, "failed", detail=f"template: {exc}", on_failure=self._guidance(step))
            return False
        except ExecutionError as exc:
            self._t(step.id, "failed", detail=str(exc), on_failure=self._guidance(step))
            return False
        except A.DryRunViolation:
            raise
        except Exception as exc:  # noqa: BLE001 - an engine bug must not lose the run: record it, stop
            import traceback  # noqa: PLC0415

            tb = traceback.extract_tb(exc.__traceback__)
            where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
            self._t(step.id, "failed", detail=f"internal error: {type(exc).__name__}: {exc}{where}",
                    on_failure=self._guidance(step))
            rec.audit("step_failed", step=step.id, detail=f"internal error: {type(exc).__name__}: {exc}")
            return False

    def _wait_orphan(self, step: Step, s: dict[str, Any]) -> None:
        """A command of an interrupted (or killed) apply may still run: find it by its process group
        and wait for it (never signal it), then keep its output as evidence."""
        child = s.get("child")
        if not isinstance(child, dict) or child.get("waited"):
            return
        assert self.rec is not None
        if child.get("boot_id") == self.host.boot_id() and isinstance(child.get("pgid"), int) \
                and longrun.group_alive(child["pgid"]):
            self.ui.info(f"step {step.id}: {child['argv'][0]} (pid {child['pid']}) from the interrupted apply is still "
                         "running; waiting for it to finish before verifying (it is never killed)")
            self.rec.audit("wait_orphan", step=step.id, pid=child["pid"], argv=child.get("argv"))
            waited = longrun.wait_for_group(child["pgid"], info=self.ui.info, sleep=self.sleep)
            child["waited_seconds"] = round(waited, 3)
        out, err = longrun.child_output(child)
        child["waited"] = True
        self.rec.add_evidence(step.id, {"phase": "apply", "attempt": s.get("attempts", 0), "action": "run",
                                        "argv": child.get("argv", []), "rc": None, "started": child.get("started"),
                                        "ended": self.clock(), "duration_seconds": 0, "operator": self.operator,
                                        "error": "outlived the interrupted agent; exit status unknown",
                                        "passed": False, "detail": "finished after the agent stopped",
                                        "stdout": A.bounded(out), "stderr": A.bounded(err)})
        self.rec.save()

    def _confirm(self, step: Step) -> None:
        assert self.rec is not None and step.confirm is not None
        c = step.confirm
        prompt = fill(c["prompt"], self._ctx())
        equals = fill(c["equals"], self._ctx()) if "equals" in c else None
        if equals is not None and not equals.strip():
            raise ExecutionError(f"the confirmation target {c['equals']!r} is empty here; a destructive step cannot be "
                                 "confirmed against nothing (check the parameter or baseline value it names)")
        pattern = c.get("pattern")

        def valid(text: str) -> str | None:
            if equals is not None and text != equals:
                return "does not match the expected target identity"
            if pattern and not re.fullmatch(pattern, text):
                return f"does not match /{pattern}/"
            return None
        self._t(step.id, "waiting_operator")
        value = self.ui.ask(prompt, valid)
        conf = {"value": value, "operator": self.operator, "time": self.clock(), "destructive": step.destructive}
        self.rec.step(step.id)["confirmation"] = conf
        self.rec.save()
        self.rec.audit("confirmation", step=step.id, **conf)

    def _verify(self, step: Step, attempt: int, index: int, started: float) -> tuple[bool, str]:
        assert step.verify is not None
        assert self.rec is not None
        if not step.until:
            out = self._call(step.verify, step, self._fill(step.verify))
            self._evidence(step, "verify", attempt, step.verify, out)
            if isinstance(out.value, dict) and self.rec is not None:  # a typed summary (restore_compare ...)
                self.rec.step(step.id)["result"] = out.value
            return out.passed, out.detail
        interval = float(step.until["interval_seconds"])
        deadline = time.monotonic() + float(step.until["deadline_seconds"])
        prog_re = re.compile(step.until["progress_regex"]) if step.until.get("progress_regex") else None
        last_progress: float | None = None
        first: tuple[float, float] | None = None
        polls = 0
        while True:
            self._live = None
            out = self._call(step.verify, step, self._fill(step.verify))
            polls += 1
            self._evidence(step, "verify", attempt, step.verify, out)
            if out.passed:
                return True, f"{out.detail} (after {polls} poll(s))"
            now = time.monotonic()
            note = f"waiting: {out.detail}"
            grew = False
            if prog_re is not None:
                m = prog_re.search(out.output)
                if m:
                    try:
                        p = float(m.group(1))
                    except (IndexError, ValueError):
                        p = None
                    if p is not None:
                        grew = last_progress is not None and p > last_progress
                        last_progress = p
                        if first is None:
                            first = (now, p)
                        elif p > first[1]:
                            rate = (p - first[1]) / max(1e-6, now - first[0])
                            note = f"progress {p:.1f}%, about {(100 - p) / rate:.0f} s left"
                        else:
                            note = f"progress {p:.1f}%"
            if now >= deadline:
                if grew:
                    deadline = now + 3 * interval  # still moving: keep waiting
                    self.rec.audit("deadline_extended", step=step.id, progress=last_progress)
                else:
                    return False, f"{out.detail} (deadline of {step.until['deadline_seconds']:g} s passed after {polls} poll(s))"
            self.ui.progress(index=index + 1, total=len(self.runbook.steps), step=step,
                             elapsed=time.monotonic() - self._started_m, eta=self._eta(index, started), note=note)
            self.rec.step(step.id)["progress"] = {"value": last_progress, "note": note, "polls": polls}
            self.rec.save()
            self.sleep(interval)
