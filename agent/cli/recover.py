"""agent recover: plan, execute, resume and report verified recovery runbooks."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from agent.cli.common import host_options, pass_host_options
from agent.cli.common import load_runbook as _load_rb
from agent.cli.common import runbooks_dir as _rb_dir

EXIT_INTERRUPTED = 130


class RecoverGroup(click.Group):
    """`agent recover NAME ...` and `agent recover --resume RUN` run; other words are subcommands."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _state_dir(fn):
    import functools  # noqa: PLC0415

    @functools.wraps(fn)
    def wrapper(app, *args, state_dir=None, **kw):
        if state_dir:
            app.set_config(app.config().replace(state={"dir": state_dir}))
        return fn(app, *args, **kw)
    return wrapper


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class ClickUI:
    """Interactive operator UI: progress lines, manual instructions, typed answers from stdin."""

    MAX_TRIES = 5


    def progress(self, *, index, total, step, elapsed, eta, note=""):
        click.echo(f"[{index}/{total}] {step.id} {step.title} · elapsed {_fmt(elapsed)} · ETA ~{_fmt(eta)}"
                   + (f" · {note}" if note else ""))

    def info(self, text):
        click.echo(text)

    def show_manual(self, step, instructions, verify):
        click.echo("")
        click.echo(f"  MANUAL STEP {step.id}: {step.title}")
        for line in (instructions or "").strip().splitlines():
            click.echo(f"    {line}")
        click.echo(f"    verification afterwards: {verify}")

    def ask(self, prompt, validate):
        stream = sys.stdin
        for _ in range(self.MAX_TRIES):
            click.echo(f"  {prompt}: ", nl=False)
            line = stream.readline()
            if not line:
                from agent.recovery.executor import ExecutionError  # noqa: PLC0415

                raise ExecutionError(f"no answer to {prompt!r} (end of input)")
            value = line.rstrip("\r\n").strip()
            if not sys.stdin.isatty():
                click.echo(value)
            problem = validate(value)
            if problem is None:
                return value
            click.echo(f"  rejected: {problem}; try again")
        from agent.recovery.executor import ExecutionError  # noqa: PLC0415

        raise ExecutionError(f"no valid answer to {prompt!r} after {self.MAX_TRIES} tries")

    def confirm_interrupt(self, argv, pid):
        """Ctrl-C while a never-killed command runs: ask; the command keeps running either way."""
        click.echo(f"\n  {argv[0]} (pid {pid}) is a package manager or uninterruptible step and is NOT stopped by "
                   "Ctrl-C (killing it can leave packages half-configured).")
        click.echo("  Really interrupt the agent? The command keeps running; `--resume` waits for it. [y/N]: ", nl=False)
        line = sys.stdin.readline()
        return line.strip().lower() in ("y", "yes")

    def confirm_reapply(self, step, detail):
        click.echo(f"  step {step.id} was interrupted while applying and its verify fails: {detail}")
        return self.ask("Type 'reapply' to run its apply again, or 'stop'", lambda v: None if v in ("reapply", "stop") else
                        "type reapply or stop") == "reapply"


class UnattendedUI(ClickUI):
    """--yes: progress is printed, but nothing is ever asked: a manual step or a typed
    confirmation fails its step (a timer never hangs on a prompt)."""

    def ask(self, prompt, validate):
        from agent.recovery.executor import ExecutionError  # noqa: PLC0415

        raise ExecutionError(f"unattended (--yes): {prompt!r} needs an operator; run without --yes")

    def confirm_reapply(self, step, detail):
        return False

    def confirm_interrupt(self, argv, pid):
        return True


def write_drill_result(state_dir: str | Path, data: dict) -> Path | None:
    """STATE_DIR/restore-drill.json: the last restore drill's outcome, for metrics and readiness."""
    from agent.recovery.record import atomic_write_json  # noqa: PLC0415

    steps = data.get("steps", {})
    rd = steps.get("RD-03", {}) if isinstance(steps.get("RD-03"), dict) else {}
    res = rd.get("result")
    result = res if isinstance(res, dict) else {}
    out = {"run_id": data.get("run_id"), "time": data.get("finished") or data.get("updated") or time.time(),
           "status": data.get("status"), "success": data.get("status") == "completed",
           "path": (data.get("params") or {}).get("path"), "tool": (data.get("params") or {}).get("tool"),
           "snapshot": result.get("snapshot"), "snapshot_time": result.get("snapshot_time"),
           "files": result.get("files"), "bytes": result.get("bytes"), "sampled": result.get("sampled"),
           "detail": rd.get("detail") or (steps.get(data.get("failed_step") or "", {}) or {}).get("detail")}
    p = Path(state_dir) / "restore-drill.json"
    try:
        atomic_write_json(p, out)
    except OSError:
        return None
    return p


def _baseline_for(app, ref: str | None, run_dir: Path | None = None, other_board: bool = False):
    """(baseline dict or None, id/label, note)."""
    from agent import baseline as bl  # noqa: PLC0415

    if not ref:  # the same default as `agent baseline diff` (agent.baseline_select)
        from agent.cli.baseline import default_before  # noqa: PLC0415

        choice = default_before(app, other_board=other_board)
        for w in choice.warnings:
            click.echo(w, err=True)
        note = choice.note
        if choice.data is not None:
            age_h = (time.time() - float(choice.data.get("captured_at") or 0)) / 3600
            if age_h > app.config().section("recovery").baseline_max_age_hours:
                note += f" (older than baseline_max_age_hours={app.config().section('recovery').baseline_max_age_hours:g})"
        return choice.data, choice.ident, note
    if ref:
        if Path(ref).is_file():
            try:
                return bl.load_file(ref), ref, None
            except bl.BaselineError as exc:
                raise click.ClickException(str(exc)) from None
    d = Path(app.config().state.dir)
    if not (d / "state.db").exists():
        if ref:
            raise click.ClickException(f"--baseline {ref}: no such file and no stored baselines in {d}")
        return None, None, "no stored baseline (steps that compare with it will fail; pass --baseline FILE)"
    try:  # read-only: a dry run writes nothing, not even to the state database
        data = bl.read_stored(d / "state.db", ref)
    except bl.BaselineError as exc:
        if ref:
            raise click.ClickException(str(exc)) from None
        return None, None, f"stored baselines unreadable ({exc})"
    if data is None:
        return None, None, "no stored baseline (steps that compare with it will fail; pass --baseline FILE)"
    age_h = (time.time() - float(data.get("captured_at") or 0)) / 3600
    note = None
    if age_h > app.config().section("recovery").baseline_max_age_hours:
        note = f"baseline {data['id']} is {age_h:.0f} h old"
    return data, data.get("id"), note


@click.group("recover", cls=RecoverGroup, invoke_without_command=False)
def recover() -> None:
    """Verified, resumable recovery runbooks (mainboard swap, disk swaps, updates, restores).

    `agent recover NAME` is a dry run: it runs only read-only checks and prints the plan.
    `--execute` makes changes, asks typed confirmations, and records every step and its
    evidence under STATE_DIR/runs/<run-id>.json, so `--resume RUN` can continue after a
    reboot or a crash.

    \b
    Examples:
      agent recover show mainboard-swap
      agent recover disk-swap-mdadm --param array=/dev/md0 --param failed=/dev/sdb --param healthy=/dev/sda
      agent recover --resume 20261125T010203Z-mainboard-swap-1a2b
    """


def _params_from_config(rb, cfg) -> dict[str, str]:
    """Runbook parameters the configuration answers: MB-03 reads the backup the readiness finding
    watches (the baseline collector's backup options), MB-30 asks this host's daemon."""
    opts = cfg.collector("baseline").options
    out = {key: str(opts[key]) for key in ("backup_tool", "backup_repository", "backup_password_file")
           if key in rb.params and opts.get(key)}
    if "agent_listen" in rb.params:
        out["agent_listen"] = cfg.exporter.listen
    if "export_target" in rb.params and cfg.section("recovery").export_target:
        out["export_target"] = cfg.section("recovery").export_target
    return out


@recover.command("run", hidden=True)
@click.argument("name", required=False)
@click.option("--dry-run", "mode", flag_value="dry-run", default=True, help="Only run read-only checks and print the plan (default).")
@click.option("--execute", "mode", flag_value="execute", help="Run the runbook for real.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Runbook parameter (repeatable).")
@click.option("--resume", "resume_id", metavar="RUN", help="Continue a run at its first unverified step.")
@click.option("--skip", "skips", multiple=True, metavar="STEP", help="Skip a step (needs --reason).")
@click.option("--start-at", "start_at", metavar="STEP", help="Skip every step before STEP (needs --reason).")
@click.option("--reason", help="Why steps are skipped (recorded in the run and the audit log).")
@click.option("--force", is_flag=True, help="Allow skipping steps marked required.")
@click.option("--ack-followup", "acks", multiple=True, metavar="STEP",
              help="With --resume: acknowledge STEP's pending follow-up as done (needs --reason).")
@click.option("--accept-changed-runbook", is_flag=True, help="Resume although the runbook file changed.")
@click.option("--baseline", "baseline_ref", metavar="FILE|ID", help="Baseline to compare with (default: newest known-good, else newest stored).")
@click.option("--json", "as_json", is_flag=True, help="Dry run: print the plan as JSON.")
@click.option("--host", "host_name", metavar="NAME", help="Run for server NAME from another machine (its board is dead): "
              "templates use NAME; carry the run over with `agent recover import`.")
@click.option("--yes", "unattended", is_flag=True,
              help="Unattended (timers): never ask; a manual step or typed confirmation fails its step.")
@click.option("--chroot", is_flag=True,
              help="With --path.rootfs: run every command as `chroot ROOT ...` (needs root; ROOT must hold the tools). "
                   "Without it, --execute against a tree is refused and a dry run does not run commands.")
@host_options
@click.pass_obj
@pass_host_options
def run_cmd(app, name, mode, params, resume_id, skips, start_at, reason, force, acks, accept_changed_runbook,
            baseline_ref, as_json, host_name=None, chroot=False, unattended=False) -> int:
    """Run runbook NAME: a dry run by default, --execute to make changes, --resume RUN to continue.

    \b
    Examples:
      agent recover mainboard-swap
      agent recover mainboard-swap --execute
      agent recover --resume 20261125T010203Z-mainboard-swap-1a2b --skip MB-07 --reason "BMC not used"
    """
    from agent.daemon import host_from_config  # noqa: PLC0415
    from agent.recovery import report  # noqa: PLC0415
    from agent.recovery.executor import ExecutionError, Executor  # noqa: PLC0415
    from agent.recovery.notify import StatusClient  # noqa: PLC0415
    from agent.recovery.record import RecordError, RunStore  # noqa: PLC0415

    cfg = app.config()
    host = host_from_config(cfg)
    store = RunStore(cfg.state.dir)
    rec_data = None
    if resume_id:
        try:
            rec_data = store.load(resume_id).data
        except RecordError as exc:
            raise click.ClickException(str(exc)) from None
        name = name or rec_data["runbook"]["id"]
        mode = "execute"
    if not name:
        raise click.UsageError("give a runbook NAME (see `agent recover list --runbooks`) or --resume RUN")
    rb = _load_rb(app, name)
    kv = {}
    for p in params:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise click.BadParameter(f"{p!r}: expected KEY=VALUE", param_hint="--param")
        kv[k] = v
    kv = {**_params_from_config(rb, cfg), **kv}
    if rec_data is not None:
        bfile = store.dir / f"{rec_data['run_id']}.baseline.json"
        from agent import baseline as bl  # noqa: PLC0415

        base = bl.load_file(bfile) if bfile.exists() else None
        base_id, note = rec_data.get("baseline_id"), None
        kv = dict(rec_data.get("params", {}))
    else:
        base, base_id, note = _baseline_for(app, baseline_ref, other_board=rb.raw.get("before") == "other_board")
    incident = next((n.get("message_id") for n in (rec_data or {}).get("notifications", []) if n.get("message_id")), None)
    notifier = StatusClient(cfg.section("notify"), incident_id=incident)
    operator = app.operator()
    try:
        ex = Executor(rb, host, params=kv, baseline=base, baseline_id=base_id,
                      ui=UnattendedUI() if unattended else ClickUI(), notifier=notifier,
                      operator=operator, store=store, chroot=chroot)
    except ExecutionError as exc:
        raise click.UsageError(str(exc)) from None
    ex.host_name = host_name or (rec_data or {}).get("host") or None
    if note and ex.uses_baseline():
        app.echo(f"note: {note}", err=True)
    if mode == "execute" and not resume_id:
        unfinished = [r for r in store.list() if r["runbook"] == rb.id and r["status"] not in ("completed",)]
        for r in unfinished:
            app.echo(f"WARNING: run {r['run_id']} of {rb.id} is unfinished ({r['status']}, {r['done']}/{r['total']} "
                     f"steps done); continue it with `agent recover --resume {r['run_id']}`", err=True)
        if unfinished:
            try:
                ClickUI().ask("Type 'new' to start a second run anyway", lambda v: None if v == "new" else "type new")
            except ExecutionError as exc:
                raise click.ClickException(f"not started: {exc}") from None
    if acks and not resume_id:
        raise click.UsageError("--ack-followup works with --resume RUN")
    if mode == "dry-run":
        items = ex.plan()
        if as_json:
            app.echo(report.dumps(report.plan_json(items)))
        else:
            notes = []
            if ex.commands_blocked:
                notes.append(f"Host root is {ex.tree_root}: file checks read the tree; commands were NOT run "
                             "(they would read this machine, not the tree). --chroot runs them inside the tree.")
            elif ex.chroot:
                notes.append(f"Host root is {ex.tree_root}: every command ran as `chroot {ex.tree_root} ...`.")
            app.echo(report.plan_text(items, rb, notes))
        return 1 if any(it.status == "error" for it in items) else 0
    skipmap = {s: reason or "" for s in skips}
    if rb.id == "restore-drill":
        try:
            return _run_and_report(app, ex, store, base, skipmap, start_at, reason, force, resume_id, rec_data, acks,
                                   accept_changed_runbook)
        finally:
            last = store.list()[-1:] if store.dir.is_dir() else []
            if last and last[0]["runbook"] == "restore-drill":
                try:
                    write_drill_result(cfg.state.dir, store.load(last[0]["run_id"]).data)
                except RecordError:
                    pass  # the drill's run record is unreadable: its result is not exported, the run itself stands
    return _run_and_report(app, ex, store, base, skipmap, start_at, reason, force, resume_id, rec_data, acks,
                           accept_changed_runbook)


def _run_and_report(app, ex, store, base, skipmap, start_at, reason, force, resume_id, rec_data, acks,
                    accept_changed_runbook) -> int:
    from agent.recovery.executor import ExecutionError, RunInterrupted  # noqa: PLC0415
    from agent.recovery.record import LockedError, RecordError  # noqa: PLC0415

    try:
        if resume_id:
            rec = ex.resume(rec_data["run_id"], skips=skipmap, start_at=start_at, reason=reason, force=force,
                            accept_changed=accept_changed_runbook, ack_followups={a: reason or "" for a in acks})
        else:
            rec = _start(ex, store, base, skipmap, start_at, reason, force, app)
    except RunInterrupted as exc:
        app.echo(f"\n{exc}", err=True)
        if exc.child:
            app.echo(f"{exc.child['argv'][0]} (pid {exc.child['pid']}) keeps running; the resume waits for it to "
                     "finish before it verifies the step.", err=True)
        return EXIT_INTERRUPTED
    except LockedError as exc:
        raise click.ClickException(str(exc)) from None
    except (ExecutionError, RecordError, KeyError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None
    d = rec.data
    if d["status"] == "completed":
        app.echo(f"run {rec.run_id} completed. Report: agent recover report {rec.run_id}")
        return 0
    if d["status"] == "followups_open":
        app.echo(f"run {rec.run_id}: all steps done, but follow-ups are pending:", err=True)
        for f in d.get("followups", []):
            if not f.get("closed"):
                app.echo(f"  {f['step']}: {f['text']}", err=True)
        app.echo(f"when done: agent recover --resume {rec.run_id} --ack-followup STEP --reason '...'", err=True)
        return 1
    failed = d.get("failed_step")
    s = d["steps"].get(failed, {}) if failed else {}
    app.echo(f"run {rec.run_id} stopped: step {failed} failed: {s.get('detail')}", err=True)
    if s.get("on_failure"):
        app.echo(f"what to do: {s['on_failure']}", err=True)
    if s.get("undo"):
        app.echo(f"undo (not run automatically; run it yourself if it applies): {s['undo']}", err=True)
    app.echo(f"after fixing it: agent recover --resume {rec.run_id}   (or --skip {failed} --reason '...')", err=True)
    return 1


def _start(ex, store, base, skipmap, start_at, reason, force, app):
    """Start a run; the baseline it compares with is copied beside the record (readable from a
    rescue system even when the state database is not)."""
    from agent import baseline as bl  # noqa: PLC0415

    orig_create = store.create

    def create(data):
        rec = orig_create(data)
        if base is not None:
            bl.export(base, store.dir / f"{rec.run_id}.baseline.json")
        app.echo(f"run {rec.run_id} started by {ex.operator}")
        return rec
    store.create = create
    try:
        return ex.start(skips=skipmap, start_at=start_at, reason=reason, force=force)
    finally:
        store.create = orig_create


@recover.command("import")
@click.argument("source", metavar="DIR")
@click.argument("run_id", metavar="RUN")
@click.option("--state-dir", "state_dir", metavar="DIR", help="State directory (config state.dir).")
@click.pass_obj
@_state_dir
def import_cmd(app, source: str, run_id: str) -> None:
    """Carry run RUN, started on another machine with --host, to this host as one audit chain.

    DIR is the other machine's state directory (or its runs/ directory), copied here.

    \b
    Examples:
      agent recover import /mnt/usb/hwagent-state 20261125T010203Z-mainboard-swap-1a2b
      agent recover --resume 20261125T010203Z-mainboard-swap-1a2b
    """
    from agent.recovery.record import RecordError, RunStore  # noqa: PLC0415
    from agent.recovery.transfer import import_run  # noqa: PLC0415

    try:
        rid, n = import_run(source, run_id, RunStore(app.config().state.dir), os.uname().nodename)
    except RecordError as exc:
        raise click.ClickException(str(exc)) from None
    app.echo(f"imported run {rid} with {n} audit line(s); continue it with `agent recover --resume {rid}`")


@recover.command("show")
@click.argument("name")
@click.option("--filled", is_flag=True, help="Fill in baseline values and parameters.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Parameter values for --filled.")
@click.option("--baseline", "baseline_ref", metavar="FILE|ID", help="Baseline for --filled.")
@click.option("--state-dir", "state_dir", metavar="DIR", help="State directory (config state.dir).")
@click.pass_obj
@_state_dir
def show(app, name: str, filled: bool, params, baseline_ref) -> None:
    """Print runbook NAME as a printable Markdown checklist.

    \b
    Examples:
      agent recover show mainboard-swap
      agent recover show mainboard-swap --filled > /backup/mainboard-swap-$(hostname).md
      agent recover show disk-swap-mdadm --filled --param array=/dev/md0
    """
    from agent.recovery import report  # noqa: PLC0415
    from agent.recovery.template import Context  # noqa: PLC0415

    rb = _load_rb(app, name)
    ctx = None
    if filled:
        base, _, note = _baseline_for(app, baseline_ref, other_board=rb.raw.get("before") == "other_board")
        if note:
            app.echo(f"note: {note}", err=True)
        kv = dict(p.partition("=")[::2] for p in params)
        ctx = Context(params={**{k: p.default for k, p in rb.params.items() if p.default is not None}, **kv},
                      baseline=base, run={"id": "<run-id>", "operator": app.operator(), "host": os.uname().nodename})
    click.echo(report.checklist(rb, ctx), nl=False)


@recover.command("report")
@click.argument("run_id", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="The full run record as JSON.")
@click.option("--state-dir", "state_dir", metavar="DIR", help="State directory (config state.dir).")
@click.pass_obj
@_state_dir
def report_cmd(app, run_id: str, as_json: bool) -> None:
    """One Markdown (or JSON) record of run RUN: steps, answers, evidence, notifications.

    \b
    Examples:
      agent recover report 20261125T010203Z-mainboard-swap-1a2b > report.md
      agent recover report 20261125T010203Z-mainboard-swap-1a2b --json
    """
    from agent.recovery import report  # noqa: PLC0415
    from agent.recovery import runbook as rbm  # noqa: PLC0415
    from agent.recovery.record import RecordError, RunStore  # noqa: PLC0415

    try:
        rec = RunStore(app.config().state.dir).load(run_id)
    except RecordError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        app.echo(report.dumps(report.run_json(rec.data)))
        return
    rb = None
    try:
        rb = rbm.load(rbm.find(rec.data["runbook"]["id"], _rb_dir(app)))
    except (rbm.RunbookError, click.ClickException):
        rb = None  # the runbook changed or is gone: the report is rendered from the record alone
    click.echo(report.run_markdown(rec.data, rb), nl=False)


@recover.command("list")
@click.option("--runbooks", is_flag=True, help="List the available runbooks instead of runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--state-dir", "state_dir", metavar="DIR", help="State directory (config state.dir).")
@click.pass_obj
@_state_dir
def list_cmd(app, runbooks: bool, as_json: bool) -> None:
    """List runs and their state (or, with --runbooks, the runbooks).

    \b
    Examples:
      agent recover list
      agent recover list --runbooks
      agent recover list --json
    """
    from agent.cli.output import table  # noqa: PLC0415
    from agent.recovery import runbook as rbm  # noqa: PLC0415
    from agent.recovery.record import RunStore  # noqa: PLC0415

    if runbooks:
        d = _rb_dir(app)
        rows = []
        for p in rbm.available(d):
            try:
                rb = rbm.load(p)
                rows.append({"id": rb.id, "title": rb.title, "steps": len(rb.steps), "error": None})
            except rbm.RunbookError as exc:
                rows.append({"id": p.stem, "title": "", "steps": 0, "error": str(exc)})
        if as_json:
            app.echo(json.dumps(rows, indent=2))
        else:
            app.echo(f"runbooks in {d}:")
            app.echo(table(("ID", "STEPS", "TITLE"), [(r["id"], r["steps"], r["error"] or r["title"]) for r in rows]))
        return
    store = RunStore(app.config().state.dir)
    try:
        for rid in store.reap_stale():
            app.echo(f"note: run {rid} said running, but its process is gone: marked interrupted", err=True)
    except OSError:
        pass  # read-only state directory: list as recorded
    runs = store.list()
    if as_json:
        app.echo(json.dumps(runs, indent=2))
        return
    if not runs:
        app.echo("no runs")
        return
    app.echo(table(("RUN", "RUNBOOK", "STATUS", "DONE", "CURRENT", "UPDATED"),
                   [(r["run_id"], r["runbook"], r["status"], f"{r['done']}/{r['total']}", r["current_step"] or "",
                     time.strftime("%Y-%m-%d %H:%M", time.gmtime(r["updated"])) if r["updated"] else "") for r in runs]))


@recover.command("audit")
@click.option("--verify", "verify", is_flag=True, help="Check the hash chain; exit 1 when a line was changed or removed.")
@click.option("--run", "run_id", metavar="RUN", help="Only the lines of run RUN.")
@click.option("--json", "as_json", is_flag=True, help="Print the lines as JSON Lines.")
@click.option("--state-dir", "state_dir", metavar="DIR", help="State directory (config state.dir).")
@click.pass_obj
@_state_dir
def audit_cmd(app, verify: bool, run_id: str | None, as_json: bool) -> int:
    """Print the append-only audit log of recovery runs; --verify checks its hash chain.

    Every line holds the sha256 of the line before it, so an edited, inserted or removed line
    breaks the chain at that point.

    \b
    Examples:
      agent recover audit --verify
      agent recover audit --run 20261125T010203Z-mainboard-swap-1a2b
    """
    from agent.recovery.record import RunStore  # noqa: PLC0415

    store = RunStore(app.config().state.dir)
    p = store.dir / "audit.jsonl"
    if verify:
        ok, detail = store.verify_audit()
        n = sum(1 for _ in p.open("rb")) if p.exists() else 0
        app.echo(f"audit log {p}: {n} line(s), {detail}", err=not ok)
        return 0 if ok else 1
    if not p.exists():
        app.echo("no audit log yet")
        return 0
    for raw in p.read_text(errors="replace").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            app.echo(f"(not JSON) {raw[:200]}")
            continue
        if run_id and not str(line.get("run_id", "")).startswith(run_id):
            continue
        if as_json:
            app.echo(raw)
            continue
        t = line.get("time")
        when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(t)) if isinstance(t, (int, float)) else "-"
        extra = " ".join(f"{k}={v}" for k, v in sorted(line.items()) if k not in ("time", "event", "prev", "run_id"))
        app.echo(f"{when} {line.get('run_id', '-')} {line.get('event')} {extra}"[:400])
    return 0


COMMANDS = (recover,)
