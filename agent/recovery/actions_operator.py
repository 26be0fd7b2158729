"""Actions with a person or another run in the loop: ``answer`` and ``manual`` (typed answers),
``notify`` and ``notified`` (the customer status service), ``nic_rebind`` (pin old NIC names to new
MACs after a board swap), ``child_run`` and ``child_done`` (another runbook under this run)."""

from __future__ import annotations

import re
import time

from agent.recovery.action_base import Action, Outcome
from agent.recovery.errors import DryRunViolation, SpecError


def _validate_answer_test(args, empty_equals: str) -> None:
    """The typed-answer test of ``answer`` and ``manual``: ``equals`` is not empty (``empty_equals`` says
    why, in the action's words) and ``pattern`` compiles."""
    if args.get("equals") == "":
        raise SpecError("equals", empty_equals)
    if "pattern" in args:
        try:
            re.compile(args["pattern"])
        except re.error as exc:
            raise SpecError("pattern", f"invalid regular expression: {exc}") from None


class Answer(Action):
    name = "answer"
    read_only = True
    optional = {"step": "str", "pattern": "str", "equals": "str", "max_age_hours": "str"}
    summary = ("Test a typed answer given earlier (default: this step's) against a pattern or a value; with "
               "`max_age_hours` the answer is a UTC time (YYYY-MM-DD HH:MM) that must be at most that old.")

    @classmethod
    def extra_validate(cls, args):
        _validate_answer_test(args, "empty: compare the answer with a value, not with nothing")

    @classmethod
    def describe(cls, args):
        # never show the expected value of a "confirm it" step: the operator would copy it
        what = "the expected value (not shown)" if args.get("equals") else (f"/{args['pattern']}/" if args.get("pattern") else "given")
        if args.get("max_age_hours"):
            what += f", at most {args['max_age_hours']} h old"
        return f"typed answer of {args.get('step', 'this step')} is {what}"

    def run(self, args, ctx):
        step = args.get("step") or ctx.step_id
        if step not in ctx.answers:
            return Outcome(passed=False, detail=f"no answer recorded for step {step}")
        value = ctx.answers[step]
        if "equals" in args and value != args["equals"]:
            return Outcome(passed=False, detail=f"answer {value!r} != {args['equals']!r}")
        if "pattern" in args and not re.fullmatch(args["pattern"], value):
            return Outcome(passed=False, detail=f"answer {value!r} does not match /{args['pattern']}/")
        if args.get("max_age_hours"):
            import calendar  # noqa: PLC0415

            try:
                limit = float(args["max_age_hours"])
                when = calendar.timegm(time.strptime(value.strip(), "%Y-%m-%d %H:%M"))
            except ValueError:
                return Outcome(passed=False, detail=f"answer {value!r} is not a UTC time YYYY-MM-DD HH:MM "
                                                    f"(or max_age_hours {args['max_age_hours']!r} is not a number)")
            age_h = (ctx.clock() - when) / 3600
            if age_h < -0.25:
                return Outcome(passed=False, detail=f"{value} UTC is in the future (clock or typo?)")
            if age_h > limit:
                return Outcome(passed=False, detail=f"{value} UTC is {age_h:.1f} h old, more than {limit:g} h: the "
                                                    "data-loss window is larger than promised")
            return Outcome(passed=True, detail=f"{value} UTC is {max(age_h, 0):.1f} h old (limit {limit:g} h)", output=value)
        return Outcome(passed=True, detail=f"answer {value!r}", output=value)


class Manual(Action):
    name = "manual"
    read_only = False
    required = {"prompt": "str"}
    optional = {"pattern": "str", "equals": "str"}
    summary = "Show the step's instructions and require a typed answer matching `pattern` or `equals`."

    @classmethod
    def extra_validate(cls, args):
        if "pattern" not in args and "equals" not in args:
            raise SpecError("pattern", "missing: a manual step needs pattern or equals for the typed answer")
        _validate_answer_test(args, "empty: the typed answer must equal an identity (a serial, a device), not nothing")

    @classmethod
    def describe(cls, args):
        if "equals" in args:
            want = "= the expected value, not shown" if args["equals"] else "= (empty: cannot be confirmed)"
        else:
            want = f"matching /{args.get('pattern', '')}/"
        return f"operator types: {args['prompt']} ({want})"

    def run(self, args, ctx):
        if "equals" in args and not args["equals"]:
            return Outcome(passed=False, detail="the expected answer is empty (its template resolved to nothing); "
                                                "the typed value cannot be checked")

        def valid(text: str) -> str | None:
            if "equals" in args and text != args["equals"]:
                return f"expected {args['equals']!r}"
            if "pattern" in args and not re.fullmatch(args["pattern"], text):
                return f"does not match /{args['pattern']}/"
            return None
        value = ctx.ui.ask(args["prompt"], valid)
        return Outcome(passed=True, detail=f"answered {value!r}", output=value, value=value)


class Notify(Action):
    """Contract C: a state key and the ETA from the runbook's own estimates; the status service writes
    the customer text from its templates in each subscriber's language and attaches it to the host's
    one open incident. ``message``/``title``/``service`` are kept for old runbooks and never sent."""
    name = "notify"
    read_only = False
    required = {"state": "str"}
    optional = {"eta": "str", "message": "str", "title": "str", "service": "str"}
    STATES = ("investigating", "identified", "monitoring", "resolved", "maintenance")
    summary = ("Tell customers through the status service: a state key (texts come from the service's templates in "
               "each subscriber's language) and, with eta = \"steps\" (default), the remaining step estimates as "
               "the ETA; ends `skipped` with a banner that customers were NOT told when [notify] is not configured.")
    describe_text = "status page: {state} (text from the status service's templates)"

    @classmethod
    def extra_validate(cls, args):
        if args["state"] not in cls.STATES:
            raise SpecError("state", f"unknown incident state {args['state']!r} (known: {', '.join(cls.STATES)})")
        if args.get("eta", "steps") not in ("steps", "none"):
            raise SpecError("eta", f"expected \"steps\" (remaining step estimates) or \"none\", got {args['eta']!r}")


    def run(self, args, ctx):
        if ctx.dry_run:  # never reached: the executor does not call mutating actions in a dry run
            raise DryRunViolation("notify during a dry run")
        if ctx.notifier is None or not ctx.notifier.configured:
            from agent.recovery.notify import NOT_TOLD  # noqa: PLC0415

            if ctx.ui is not None:
                ctx.ui.info("!" * 78 + "\n!! " + NOT_TOLD + "\n" + "!" * 78)
            return Outcome(passed=True, skipped=True, detail=NOT_TOLD)
        eta = None
        if args.get("eta", "steps") == "steps" and args["state"] not in ("resolved", "monitoring"):
            eta = ctx.remaining_seconds
        res = ctx.notifier.send(state=args["state"], host=ctx.host.hostname().split(".")[0], eta_seconds=eta,
                                run_id=ctx.run_id, step=ctx.step_id, author=ctx.operator)
        return Outcome(passed=res.ok, detail=res.detail, value={"message_id": res.message_id, "status": res.status})


class Notified(Action):
    name = "notified"
    read_only = True
    summary = ("Verify of a notify step: the status service accepted this step's update, or notify is not "
               "configured and the note says to use the fallback channel.")
    describe_text = "the status service accepted the update (or notify is not configured)"

    def run(self, args, ctx):
        mine = [n for n in ctx.notifications if n.get("step") == ctx.step_id]
        if not mine:
            return Outcome(passed=False, detail="no notification recorded for this step")
        last = mine[-1]
        if last.get("sent") or "NOT TOLD" in str(last.get("detail")) or "not configured" in str(last.get("detail")):
            return Outcome(passed=True, detail=str(last.get("detail")))
        return Outcome(passed=False, detail=str(last.get("detail")))


class NicRebind(Action):
    name = "nic_rebind"
    read_only = False
    optional = {"mode": "str"}
    MODES = ("link", "rewrite")
    summary = ("After a board swap: pin the old interface names to the new MACs with systemd .link files and "
               "replace old MACs in config (`mode = \"link\"`), or rewrite old names and MACs in the referencing "
               "files (`mode = \"rewrite\"`); the mapping must be proven (agent.recovery.nic_map).")

    @classmethod
    def describe(cls, args):
        return (f"write the NIC fix ({args.get('mode', 'link')}): .link files pinning old names to new MACs and/or "
                "rewritten references (originals to /var/backups/hwagent/RUN/)")

    def run(self, args, ctx):
        from agent.recovery import nic_map  # noqa: PLC0415

        mode = args.get("mode") or "link"
        if mode not in self.MODES:
            return Outcome(passed=False, detail=f"mode {mode!r}: expected one of {', '.join(self.MODES)}")
        if ctx.baseline is None:
            return Outcome(passed=False, detail="no baseline to map the NICs from")
        p = nic_map.plan(ctx.host, ctx.baseline, ctx.live_baseline(), mode)
        text = nic_map.render_plan(p)
        if p["unmapped"]:
            return Outcome(passed=False, detail="not every old NIC maps to a new one: "
                           + "; ".join(nic_map.render_mapping(p["unmapped"])), output=text)
        written = nic_map.write(ctx.host, p, ctx.run_id)
        return Outcome(passed=True, detail=f"wrote {len(written)} file(s): {', '.join(written) or 'none'}",
                       output=text, value=written)


class ChildRun(Action):
    name = "child_run"
    read_only = False
    required = {"runbook": "str"}
    summary = ("Run another runbook (os-updates, data-restore) as a child of this run, under its lock; an "
               "interrupted or failed child is resumed, not started again.")
    describe_text = "child run: agent recover {runbook} (under this run's lock)"

    def run(self, args, ctx):
        if ctx.engine is None or ctx.engine.rec is None:
            return Outcome(passed=False, detail="a child run needs a parent run record")
        ok, detail, ident = ctx.engine.run_child(args["runbook"])  # the executor starts it (agent.recovery.child)
        return Outcome(passed=ok, detail=detail, value=ident)


class ChildDone(Action):
    name = "child_done"
    read_only = True
    required = {"runbook": "str"}
    summary = "Verify of a child_run step: a completed run of that runbook under this run, on this host."
    describe_text = "a completed {runbook} child run of this run on this host"

    def run(self, args, ctx):
        if ctx.engine is None:
            return Outcome(passed=False, detail="no run to look up children of")
        ok, detail = ctx.engine.check_child(args["runbook"])
        return Outcome(passed=ok, detail=detail)
