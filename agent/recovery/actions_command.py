"""Actions that run a command or read a file and test the result with an expectation table:
``probe`` (read-only argv, checked against the allow-list at load time and after templating),
``run`` (may change the host), ``read_file``; and ``wait`` (a settle time)."""

from __future__ import annotations

import re

from agent.recovery.action_base import Action, Outcome
from agent.recovery.errors import DryRunViolation, SpecError
from agent.recovery.expect import describe_expect, evaluate
from agent.recovery.readonly_programs import argv_read_only


class _Command(Action):
    required = {"argv": "argv"}
    optional = {"expect": "expect"}

    @classmethod
    def describe(cls, args):
        return "$ " + " ".join(_quote(a) for a in args["argv"]) + f"   [pass: {describe_expect(args.get('expect'))}]"

    def run(self, args, ctx):
        res, ev = ctx.run(args["argv"], args.get("env"))
        text = res.stdout.decode("utf-8", "replace")
        if res.error:
            ok, why = False, res.error
        else:
            ok, why = evaluate(args.get("expect", {}), res.rc, text)
        ev["passed"], ev["detail"] = ok, why
        return Outcome(passed=ok, detail=why, output=text, commands=[ev])


def _quote(a: str) -> str:
    return a if re.fullmatch(r"[A-Za-z0-9_./:=@%+,{}<>-]+", a) else "'" + a.replace("'", "'\\''") + "'"


class Probe(_Command):
    name = "probe"
    read_only = True
    summary = "Run a read-only command (argv checked against the read-only list) and test its output."

    @classmethod
    def extra_validate(cls, args):
        if any("{" in a for a in args["argv"][:1]):
            raise SpecError("argv[0]", "the program name cannot be templated")
        ok, reason = argv_read_only([a for a in args["argv"]])
        if not ok:
            raise SpecError("argv", f"not a read-only command ({reason}); use action \"run\" for commands that change the host")

    def run(self, args, ctx):
        ok, reason = argv_read_only(args["argv"])
        if not ok:  # templating cannot turn a probe into a write, but check the filled argv anyway
            raise DryRunViolation(f"probe {args['argv']!r} is not read-only after templating: {reason}")
        return super().run(args, ctx)


class Run(_Command):
    name = "run"
    read_only = False
    optional = {"expect": "expect", "env": "env"}
    summary = "Run a command that may change the host (argv list, no shell) and test its exit code/output."

    @classmethod
    def describe(cls, args):
        env = " ".join(f"{k}={_quote(str(v))}" for k, v in sorted((args.get("env") or {}).items()))
        return ("$ " + (env + " " if env else "") + " ".join(_quote(a) for a in args["argv"])
                + f"   [pass: {describe_expect(args.get('expect'))}]")

    @classmethod
    def extra_validate(cls, args):
        for k, v in (args.get("env") or {}).items():
            if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", k) or not isinstance(v, str):
                raise SpecError(f"env.{k}", "expected NAME = \"value\" with an upper-case variable name")
            if k in ("PATH", "LD_PRELOAD", "LD_LIBRARY_PATH"):
                raise SpecError(f"env.{k}", "may not be overridden by a runbook")
        if any("{" in a for a in args["argv"][:1]):
            raise SpecError("argv[0]", "the program name cannot be templated")
        if args["argv"][0].rsplit("/", 1)[-1] in ("sh", "bash", "dash", "zsh") and "-c" in args["argv"]:
            raise SpecError("argv", "no shell strings: write the command as an argv list")


class ReadFile(Action):
    name = "read_file"
    read_only = True
    required = {"path": "str"}
    optional = {"expect": "expect"}
    summary = "Read a host file (below the configured root) and test its content."

    @classmethod
    def describe(cls, args):
        return f"read {args['path']}   [pass: {describe_expect({k: v for k, v in args.get('expect', {}).items()}) if args.get('expect') else 'file exists'}]"

    def run(self, args, ctx):
        from agent.host import ReadError  # noqa: PLC0415

        try:
            text = ctx.host.read_file(ctx.host.path(args["path"]))
        except ReadError as exc:
            return Outcome(passed=False, detail=str(exc))
        ok, why = evaluate(args.get("expect", {}), None, text, default_exit=False)
        return Outcome(passed=ok, detail=why, output=text)



class Wait(Action):
    name = "wait"
    read_only = True
    required = {"seconds": "number"}
    summary = "Sleep a settle time (e.g. after a rescan); skipped in a dry run."
    describe_text = "wait {seconds:g} s"

    def run(self, args, ctx):
        if not ctx.dry_run:
            ctx.sleep(float(args["seconds"]))
        return Outcome(passed=True, detail=f"waited {args['seconds']:g} s")
