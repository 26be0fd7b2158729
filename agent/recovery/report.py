"""Render a runbook as a printable checklist and a run as one Markdown or JSON report."""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any, Mapping

from agent.recovery import actions as A
from agent.recovery.runbook import Runbook
from agent.recovery.template import Context, TemplateError, fill, fill_obj


def _ts(t: float | None) -> str:
    if not t or not isinstance(t, (int, float)) or isinstance(t, bool):  # a damaged record: no crash, no time
        return "-"
    try:
        return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(t))
    except (OverflowError, OSError, ValueError):
        return "-"


def _dur(seconds: float) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return "?"  # a damaged record or runbook value: no crash
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def checklist(rb: Runbook, ctx: Context | None = None) -> str:
    """Markdown checklist; with ``ctx`` templates are filled (unknown values stay as ``<ref>``)."""

    def f(text: str) -> str:
        if ctx is None:
            return text
        try:
            return fill(text, ctx, lambda r: f"<{r}>")
        except TemplateError:
            return text

    def d(spec) -> str:
        args = dict(spec.args)
        if ctx is not None:
            try:
                args = fill_obj(args, ctx, lambda r: f"<{r}>")
            except TemplateError:
                pass  # a template that cannot be filled in the report is shown as written
        return A.ACTIONS[spec.action].describe(args)

    total = sum(s.estimate_seconds for s in rb.steps)
    out = [f"# {rb.title}", "", f"Runbook `{rb.id}` version {rb.version} · {len(rb.steps)} steps · "
           f"estimated {_dur(total)} · sha256 {rb.sha256[:12]}", ""]
    if rb.description:
        out += [rb.description.strip(), ""]
    if rb.applies_to:
        out += ["Suggested by findings: " + ", ".join(f"`{r}`" for r in rb.applies_to), ""]
    if rb.params:
        out += ["Parameters (`--param NAME=VALUE`):", ""]
        for p in rb.params.values():
            extra = []
            if p.required:
                extra.append("required")
            if p.default is not None:
                extra.append(f"default `{p.default}`")
            if p.pattern:
                extra.append(f"pattern `{p.pattern}`")
            if p.example:
                extra.append(f"e.g. `{p.example}`")
            out.append(f"- `{p.name}`: {p.description}" + (f" ({', '.join(extra)})" if extra else ""))
        out.append("")
    for n, s in enumerate(rb.steps, 1):
        flags = [s.kind]
        if s.destructive:
            flags.append("**DESTRUCTIVE**")
        if s.required:
            flags.append("required")
        out.append(f"## {n}. [ ] {s.id} · {f(s.title)}  ({', '.join(flags)}, ~{_dur(s.estimate_seconds)})")
        out.append("")
        if s.description:
            out += [f(s.description.strip()), ""]
        if s.when:
            out.append(f"- Only when: {', '.join(f'{k} {f(str(v))!r}' for k, v in s.when.items())}")
        if s.instructions:
            out.append(f"- Instructions: {' '.join(f(s.instructions).split())}")
        if s.check:
            out.append(f"- Already done? `{d(s.check)}`")
        if s.confirm:
            want = s.confirm.get("equals") or f"/{s.confirm.get('pattern')}/"
            out.append(f"- Confirm by typing: {f(s.confirm['prompt'])} ({f(want)})")
        if s.apply:
            out.append(f"- Do: `{d(s.apply)}`")
        if s.verify:
            out.append(f"- Verify: `{d(s.verify)}`")
        if s.until:
            out.append(f"- Poll every {s.until['interval_seconds']:g} s for up to {_dur(s.until['deadline_seconds'])}"
                       + (" (deadline extends while progress grows)" if s.until.get("progress_regex") else ""))
        if s.retries:
            out.append(f"- Retries: {s.retries}, {s.retry_delay_seconds:g} s apart")
        if s.on_failure:
            out.append(f"- If it fails: {' '.join(f(s.on_failure).split())}")
        if s.undo:
            out.append(f"- Undo: `{d(s.undo)}`")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def run_json(data: Mapping[str, Any]) -> dict[str, Any]:
    return dict(data)


def run_markdown(data: Mapping[str, Any], rb: Runbook | None = None) -> str:
    steps = data.get("steps", {})
    order = data.get("order") or list(steps)
    rbinfo = data.get("runbook", {})
    created, updated = data.get("created"), data.get("finished") or data.get("updated")
    out = [f"# Recovery run {data.get('run_id')}", "",
           "| | |", "|---|---|",
           f"| Runbook | `{rbinfo.get('id')}` v{rbinfo.get('version')} (sha256 {str(rbinfo.get('sha256'))[:12]}) |",
           f"| Host | {_cell(data.get('host'))} (boots: {', '.join(b[:8] for b in data.get('boot_ids', []))}) |",
           f"| Status | **{data.get('status')}** |",
           f"| Started | {_ts(created)} |",
           f"| Last change | {_ts(updated)} |",
           f"| Duration | {_dur((updated or 0) - (created or 0)) if created and updated else '-'} |",
           f"| Operators | {_cell(', '.join(data.get('operators', [])))} |",
           f"| Baseline | {data.get('baseline_id') or '-'} |"]
    if data.get("params"):
        out.append("| Parameters | " + ", ".join(f"`{k}={v}`" for k, v in data["params"].items()) + " |")
    out += ["", "## Steps", "", "| # | Step | State | Attempts | Note |", "|---|---|---|---|---|"]
    titles = {s.id: s.title for s in rb.steps} if rb else {}
    for n, sid in enumerate(order, 1):
        s = steps.get(sid, {})
        note = s.get("reason") or s.get("detail") or ""
        if s.get("answer"):
            note = f"answer `{s['answer']['value']}` by {s['answer']['operator']}; " + str(note)
        mark = "x" if s.get("state") in ("verified", "already_done", "skipped", "not_applicable") else " "
        out.append(f"| {n} | [{mark}] {sid} {titles.get(sid, '')} | {s.get('state')} | {s.get('attempts', 0)} | "
                   f"{_cell(note)} |")
    failed = [sid for sid in order if steps.get(sid, {}).get("state") == "failed"]
    for sid in failed:
        s = steps[sid]
        out += ["", f"**Step {sid} failed:** {_text(s.get('detail', ''))}", ""]
        if s.get("on_failure"):
            out += [f"What to do: {_text(s['on_failure'])}", ""]
        if s.get("undo"):
            out += [f"Undo (not run automatically): `{s['undo']}`", ""]
    out += _history(steps, order)
    if data.get("followups"):
        out += ["", "## Follow-ups", ""]
        for f in data["followups"]:
            state = f"done ({f['closed_by']}, {_ts(f['closed'])})" if f.get("closed") else "**OPEN**"
            out.append(f"- {f['step']}: {_text(f['text'])} — {state}")
    if data.get("notifications"):
        out += ["", "## Notifications", ""]
        for nt in data["notifications"]:
            out.append(f"- {_ts(nt.get('time'))} step {nt.get('step')}: {'sent' if nt.get('sent') else 'NOT sent'} - "
                       f"{nt.get('detail')}" + (f" (id {nt['message_id']})" if nt.get("message_id") else ""))
    out += ["", "## Evidence", ""]
    for sid in order:
        s = steps.get(sid, {})
        evs = s.get("evidence", [])
        if not evs and not s.get("confirmation") and not s.get("reason"):
            continue
        out.append(f"### {sid}: {s.get('state')}")
        out.append("")
        if s.get("reason"):
            out.append(f"- skipped by {_text(s.get('skipped_by'))}: {_text(s['reason'])}")
        if s.get("confirmation"):
            c = s["confirmation"] if isinstance(s["confirmation"], dict) else {}
            out.append(f"- confirmed `{_text(c.get('value'))}` by {_text(c.get('operator'))} at {_ts(c.get('time'))}")
        if s.get("evidence_dropped"):
            out.append(f"- {s['evidence_dropped']} intermediate poll(s) not kept")
        for ev in evs:
            head = f"- {ev.get('phase')} #{ev.get('attempt')} ({ev.get('action')})"
            if "argv" in ev:
                out.append(f"{head}: `{' '.join(ev['argv'])}` → exit {ev.get('rc')}"
                           + (f", {_text(ev['error'])}" if ev.get("error") else "")
                           + f", {ev.get('duration_seconds', 0):.2f} s, {_text(ev.get('operator'))}, {_ts(ev.get('started'))}"
                           + f" — {'PASS' if ev.get('passed') else 'FAIL'}: {_text(ev.get('detail'))}")
                so = ev.get("stdout", {})
                if so.get("text", "").strip():
                    text = so["text"].rstrip()
                    if len(text) > 1500:
                        text = text[:1500] + "\n[...]"
                    out += [*_fence(text.splitlines()),
                            f"  stdout sha256 {str(so.get('sha256') or '')[:16]}…, {so.get('bytes')} bytes", ""]
            else:
                out.append(f"{head}: {'PASS' if ev.get('passed') else 'FAIL'}: {ev.get('detail')}"
                           + (" (skipped)" if ev.get("skipped") else "") + f", {_text(ev.get('operator'))}, {_ts(ev.get('time'))}")
                out_ = ev.get("output")
                text = str(out_.get("text") or "" if isinstance(out_, dict) else "").rstrip()
                if text and ev.get("action") in ("baseline_diff", "baseline_compare"):
                    out += [*_fence(text.splitlines()[:60]), ""]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


_TROUBLE = ("failed", "interrupted", "applying")


def _history(steps: Mapping[str, Any], order: list[str]) -> list[str]:
    """Every step that failed, was interrupted or died while applying, with all its transitions
    (a step that failed, was fixed and then passed shows all three, not only "verified")."""
    out: list[str] = []
    for sid in order:
        s = steps.get(sid)
        if not isinstance(s, dict):
            continue
        hist = [h for h in s.get("history", []) if isinstance(h, dict)]
        states = [h.get("state") for h in hist]
        died = s.get("state") == "applying" or (s.get("state") == "interrupted" and s.get("interrupted_in") == "applying")
        if not any(st in ("failed", "interrupted") for st in states) and not died:
            continue
        lines = [f"- {_ts(h.get('time'))} {h.get('state')}" + (f": {_text(h['detail'])}" if h.get("detail") else "")
                 for h in hist if h.get("state") not in ("checking", "verifying")]
        if died:
            applied = [e for e in s.get("evidence", []) if isinstance(e, dict) and e.get("phase") == "apply"]
            intent = s.get("intent")
            what = " ".join(intent) if isinstance(intent, list) else str(intent or "the apply")
            child = s.get("child") if isinstance(s.get("child"), dict) else None
            if not applied or s.get("state") == "applying":
                lines.append(f"- **the agent stopped during the apply** (`{_text(what)}`) and recorded no result"
                             + (f"; its command ran as pid {child.get('pid')}" if child else "")
                             + ": the next resume verifies before anything is applied again")
        out += ["", f"### {sid}: history", "", *lines]
    return (["", "## Step history (failures, interruptions)"] + out) if out else []


_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _text(text: Any) -> str:
    """Host- or operator-supplied text for a Markdown line: no raw HTML, no terminal escapes, one line."""
    text = _CTRL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def _fence(lines: list[str]) -> list[str]:
    """Command output as an indented code block whose fence no backtick run inside can close."""
    lines = [_CTRL.sub(lambda m: f"\\x{ord(m.group()):02x}", ln) for ln in lines]
    longest = max((len(r) for ln in lines for r in re.findall(r"`+", ln)), default=0)
    fence = "`" * max(3, longest + 1)
    return ["", "  " + fence, *("  " + line for line in lines), "  " + fence]


def _cell(text: Any) -> str:
    text = _text(text).replace("|", "\\|")
    return text if len(text) <= 160 else text[:157] + "..."


def plan_text(items, rb: Runbook, notes: list[str] | tuple[str, ...] = ()) -> str:
    mark = {"already_done": "done", "would_run": "todo", "not_applicable": "n/a", "ok": "ok", "failing": "FAIL",
            "error": "ERROR", "not_run": "skip"}
    out = [f"Dry run of {rb.id} ({rb.title}): nothing was changed, nothing was sent.", *notes, ""]
    for n, it in enumerate(items, 1):
        s = it.step
        flags = " DESTRUCTIVE" if s.destructive else ""
        out.append(f"{n:2d}. [{mark.get(it.status, it.status):>4}] {s.id} {s.title} ({s.kind}{flags})")
        if it.detail:
            out.append(f"      {it.detail}")
        if it.status in ("already_done", "not_applicable"):
            continue
        for r in it.results:  # the data a step needs, shown before it asks (NIC table, BootOrder, sockets)
            if not r.get("passed") and r.get("output"):
                lines = str(r["output"]).rstrip().splitlines()
                out += [f"      | {line}" for line in lines[:80]] + ([f"      | ... {len(lines) - 80} more"] if len(lines) > 80 else [])
        if it.instructions:
            out.append(f"      do:      {it.instructions}")
        if it.check:
            out.append(f"      check:   {it.check}")
        if it.confirm:
            out.append(f"      confirm: {it.confirm}")
        if it.apply:
            out.append(f"      apply:   {it.apply}")
        if it.verify:
            out.append(f"      verify:  {it.verify}")
    todo = sum(1 for it in items if it.status in ("would_run", "failing"))
    errs = [it for it in items if it.status == "error"]
    eta = sum(it.step.estimate_seconds for it in items if it.status in ("would_run", "failing"))
    out += ["", f"{todo} step(s) to do, estimated {_dur(eta)}; {len(errs)} error(s). Run with --execute to make changes."]
    return "\n".join(out) + "\n"


def plan_json(items) -> list[dict[str, Any]]:
    return [{"step": it.step.id, "title": it.step.title, "kind": it.step.kind, "destructive": it.step.destructive,
             "status": it.status, "detail": it.detail, "check": it.check, "apply": it.apply, "verify": it.verify,
             "confirm": it.confirm, "instructions": it.instructions, "results": it.results, "estimate_seconds": it.step.estimate_seconds}
            for it in items]


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=str)
