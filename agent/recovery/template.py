"""Plain substitution of ``{namespace.path}`` into single strings (argv elements, texts).

Namespaces: ``params.*`` (run parameters), ``baseline.*`` (the stored baseline the run compares
with), ``answers.<step>`` (typed answers of earlier manual steps) and ``run.*`` (``run.id``,
``run.operator``, ``run.host``). A value is substituted *into* one string and never split, so a
value such as ``/dev/sdb; rm -rf /`` stays one argv element and no shell ever sees it. An
unresolved reference is an error, never an empty string. Braces that do not form a reference
(a regex quantifier like ``[0-9]{2}``) are left alone.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Mapping

NAMESPACES = ("params", "baseline", "answers", "run")
REF_RE = re.compile(r"\{((?:params|baseline|answers|run|[a-z_]+)\.[A-Za-z0-9_.:@\-]+)\}")


class TemplateError(Exception):
    def __init__(self, ref: str, reason: str):
        super().__init__(f"{{{ref}}}: {reason}")
        self.ref = ref
        self.reason = reason


class Unresolved(TemplateError):
    """The reference is valid but its value is not known yet (an answer not given)."""


def references(obj: Any) -> list[str]:
    out: list[str] = []
    if isinstance(obj, str):
        out.extend(m.group(1) for m in REF_RE.finditer(obj))
    elif isinstance(obj, Mapping):
        for v in obj.values():
            out.extend(references(v))
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            out.extend(references(v))
    return out


class Context:
    """Values available to templates; ``baseline`` may be None (no baseline stored)."""

    def __init__(self, params: Mapping[str, str] | None = None, baseline: Mapping[str, Any] | None = None,
                 answers: Mapping[str, str] | None = None, run: Mapping[str, str] | None = None):
        self.params = dict(params or {})
        self.baseline = baseline
        self.answers = dict(answers or {})
        self.run = dict(run or {})

    def resolve(self, ref: str) -> str:
        ns, _, rest = ref.partition(".")
        if ns == "params":
            if rest not in self.params:
                raise TemplateError(ref, f"parameter {rest!r} not given (use --param {rest}=VALUE)")
            value: Any = self.params[rest]
        elif ns == "answers":
            if rest not in self.answers:
                raise Unresolved(ref, f"step {rest} has not been answered yet")
            value = self.answers[rest]
        elif ns == "run":
            if rest not in self.run:
                raise TemplateError(ref, f"unknown run value (known: {', '.join(sorted(self.run))})")
            value = self.run[rest]
        elif ns == "baseline":
            if self.baseline is None:
                raise TemplateError(ref, "no baseline available (capture one with `agent baseline show` or pass --baseline FILE)")
            from agent.baseline import lookup  # noqa: PLC0415

            try:
                value = lookup(dict(self.baseline), rest)
            except KeyError as exc:
                raise TemplateError(ref, str(exc.args[0])) from None
        else:
            raise TemplateError(ref, f"unknown namespace {ns!r} (known: {', '.join(NAMESPACES)})")
        if value is None:
            raise TemplateError(ref, "value is empty in the source")
        if isinstance(value, (dict, list)):
            return json.dumps(value, sort_keys=True)
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if "\x00" in text:
            raise TemplateError(ref, "value contains a NUL byte")
        return text


def fill(text: str, ctx: Context, on_unresolved: Callable[[str], str] | None = None) -> str:
    """Substitute every reference in one string; the result is still one string."""
    def sub(m: re.Match) -> str:
        try:
            return ctx.resolve(m.group(1))
        except Unresolved:
            if on_unresolved is None:
                raise
            return on_unresolved(m.group(1))
    return REF_RE.sub(sub, text)


def fill_obj(obj: Any, ctx: Context, on_unresolved: Callable[[str], str] | None = None) -> Any:
    """Fill every string inside a spec (lists stay lists of the same length)."""
    if isinstance(obj, str):
        return fill(obj, ctx, on_unresolved)
    if isinstance(obj, Mapping):
        return {k: fill_obj(v, ctx, on_unresolved) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [fill_obj(v, ctx, on_unresolved) for v in obj]
    return obj
