"""Actions over the hardware baseline: ``baseline_diff`` (a live capture against the run's baseline),
``baseline_compare`` (the named checks of :mod:`agent.recovery.baseline_checks`), ``baseline_save``
and ``baseline_saved`` (a known-good baseline of the live board in the run's state directory)."""

from __future__ import annotations

from agent.recovery.action_base import Action, EvidenceHost, Outcome
from agent.recovery.baseline_checks import CHECKS, EXTERNAL, INTERNAL
from agent.recovery.errors import SpecError


class BaselineDiff(Action):
    name = "baseline_diff"
    read_only = True
    optional = {"sections": "list", "no_changes": "bool", "only": "list", "must_change": "list"}
    summary = ("Diff the run's baseline against a live capture, optionally limited to `sections`; pass when "
               "`no_changes`, or all changes lie under `only`, and each `must_change` prefix changed.")

    @classmethod
    def describe(cls, args):
        secs = ", ".join(args.get("sections", [])) or "everything"
        preds = []
        if args.get("no_changes"):
            preds.append("no changes")
        if args.get("only"):
            preds.append("changes only in " + ", ".join(args["only"]))
        if args.get("must_change"):
            preds.append("changed: " + ", ".join(args["must_change"]))
        return f"baseline diff of {secs}   [pass: {'; '.join(preds) or 'always (evidence)'}]"

    def run(self, args, ctx):
        from agent import baseline as bl  # noqa: PLC0415

        if ctx.baseline is None:
            return Outcome(passed=False, detail="no baseline to compare with (pass --baseline FILE or capture one)")
        live = ctx.live_baseline()
        changes = bl.diff(dict(ctx.baseline), dict(live), args.get("sections"))
        text = bl.render_diff(changes)
        ok, why = True, f"{len(changes)} change(s)"

        def under(path: str, prefixes: list[str]) -> bool:
            return any(path == p or path.startswith(p + ".") or path.startswith(p + "[") for p in prefixes)
        if args.get("no_changes") and changes:
            ok, why = False, f"{len(changes)} change(s) where none are expected"
        if ok and args.get("only"):
            outside = [c["path"] for c in changes if not under(c["path"], args["only"])]
            if outside:
                ok, why = False, f"unexpected change(s): {', '.join(outside[:5])}"
        if ok and args.get("must_change"):
            missing = [p for p in args["must_change"] if not any(under(c["path"], [p]) for c in changes)]
            if missing:
                ok, why = False, f"expected a change in {', '.join(missing)}"
        return Outcome(passed=ok, detail=why, output=text, value=changes)


class BaselineCompare(Action):
    name = "baseline_compare"
    read_only = True
    required = {"check": "str"}
    summary = "A named comparison between the baseline and the live host (see CHECKS)."
    CHECKS = CHECKS  # name -> what it proves
    EXTERNAL = EXTERNAL  # name -> function beside the engine

    @classmethod
    def extra_validate(cls, args):
        names = [c.strip() for c in args["check"].split(",")]
        for c in names:
            if c not in cls.CHECKS:
                raise SpecError("check", f"unknown check {c!r} (known: {', '.join(cls.CHECKS)})")
        if len(set(names)) != len(names):
            raise SpecError("check", "a check is named twice")

    @classmethod
    def describe(cls, args):
        names = [c.strip() for c in args["check"].split(",")]
        return "; ".join(f"compare with baseline: {c}   [pass: {cls.CHECKS[c]}]" for c in names)

    def run(self, args, ctx):
        names = [c.strip() for c in args["check"].split(",")]
        if len(names) == 1:
            return self._one(names[0], ctx)
        # several checks in one step (one visit, one verify): every check runs, each is reported
        outs = [(c, self._one(c, ctx)) for c in names]
        failed = [(c, o) for c, o in outs if not o.passed]
        detail = "; ".join(f"{c}: {o.detail}" for c, o in (failed or outs))
        return Outcome(passed=not failed, detail=detail, output="\n".join(o.output for _, o in outs if o.output.strip()),
                       value={c: o.value for c, o in outs}, commands=[e for _, o in outs for e in o.commands])

    def _one(self, check, ctx):
        if ctx.baseline is None:
            return Outcome(passed=False, detail="no baseline to compare with (pass --baseline FILE or capture one)")
        old, new = dict(ctx.baseline), dict(ctx.live_baseline())
        if check in self.EXTERNAL:
            guarded = EvidenceHost(ctx)
            problems, ok_text, text = self.EXTERNAL[check](old, new, guarded)
            return Outcome(passed=not problems, detail=ok_text if not problems else problems[0] +
                           (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""), output=text, value=problems,
                           commands=guarded.evidence)
        problems = INTERNAL[check](old, new)
        text = "\n".join(problems)
        return Outcome(passed=not problems, detail="ok" if not problems else problems[0] +
                       (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""), output=text, value=problems)


class BaselineSave(Action):
    name = "baseline_save"
    read_only = False
    summary = ("Store the live capture in this run's state directory and mark it known-good (no `agent` from "
               "PATH, the run's own --state-dir).")
    describe_text = "store the live baseline as known-good in the run's state directory"

    def run(self, args, ctx):
        from agent import baseline as bl  # noqa: PLC0415
        from agent.state.store import Store  # noqa: PLC0415

        if ctx.engine is None or ctx.engine.store is None:
            return Outcome(passed=False, detail="no state directory")
        data = dict(bl.capture(ctx.host))
        store = Store.in_dir(ctx.engine.store.dir.parent, durable=True)
        try:
            bs = bl.BaselineStore(store)
            ident, stored = bs.save(data)
            bs.mark_known_good(ident)
        finally:
            store.close()
        return Outcome(passed=True, detail=f"{'stored' if stored else 'kept'} baseline {ident} as known-good", value=ident)


def _state_db(ctx):
    """The run's state database (a Path), or the Outcome that says why there is none."""
    if ctx.engine is None or ctx.engine.store is None:
        return Outcome(passed=False, detail="no state directory")
    db = ctx.engine.store.dir.parent / "state.db"
    if not db.exists():
        return Outcome(passed=False, detail=f"no baseline stored in {db.parent}")
    return db


class BaselineSaved(Action):
    name = "baseline_saved"
    read_only = True
    summary = "A known-good baseline of the live board (serial, UUID, NIC MACs) is stored in the run's state directory."
    describe_text = "a known-good baseline of the live board is stored"

    def run(self, args, ctx):
        from agent import baseline as bl  # noqa: PLC0415
        from agent import baseline_select as sel  # noqa: PLC0415

        db = _state_db(ctx)
        if isinstance(db, Outcome):
            return db
        live = sel.live_identity(ctx.host)
        for row in bl.read_all_stored(db):
            if row["known_good"] and sel.same_hardware(sel.identity(row["data"]), live):
                return Outcome(passed=True, detail=f"known-good baseline {row['id']} of board "
                                                   f"{live['board_serial'] or '?'} stored")
        return Outcome(passed=False, detail=f"no known-good baseline of the live board ({live['board_serial']}) in {db}")


class BaselineExported(Action):
    name = "baseline_exported"
    read_only = True
    summary = ("The newest known-good baseline in the run's state directory is the one last pushed off-host "
               "(`agent baseline push`, hwagent-baseline-push.service): the record the readiness finding "
               "recovery.baseline_not_offhost reads.")
    describe_text = "the newest known-good baseline is the one kept off-host"

    def run(self, args, ctx):
        from agent.state.baselines import EXPORT_KEY, BaselineReads  # noqa: PLC0415
        from agent.state.store import Store  # noqa: PLC0415

        db = _state_db(ctx)
        if isinstance(db, Outcome):
            return db
        store = Store.in_dir(db.parent)
        try:
            reads = BaselineReads(store)
            kg, exported = reads.known_good(), reads.get(EXPORT_KEY)
        finally:
            store.close()
        if kg is None:
            return Outcome(passed=False, detail="no known-good baseline to keep off-host")
        if not isinstance(exported, dict) or exported.get("baseline_id") != kg[0]:
            last = exported.get("baseline_id") if isinstance(exported, dict) else None
            return Outcome(passed=False, detail=f"known-good baseline {kg[0]} is not off-host (last pushed: {last or 'never'})")
        return Outcome(passed=True, detail=f"known-good baseline {kg[0]} kept off-host ({exported.get('detail', '')})")
