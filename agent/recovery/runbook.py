"""Load and validate runbook TOML files into :class:`Runbook` / :class:`Step`.

One format for every runbook (schema in ``runbooks/README.md``). Every error names the file, the
step and the key (``runbooks/x.toml: step DM-03: verify.argv[1]: expected a string``). Linting
is part of loading: an unknown action, a step without ``verify``, a destructive step without a
typed confirmation, a mutating step without ``on_failure``, a ``probe`` whose argv is not
read-only, or an unknown template namespace are load errors, so a broken runbook never starts.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from agent.recovery import actions as actions_mod
from agent.recovery import (actions_backup, actions_clock, actions_data, actions_efi, actions_monitoring,  # noqa: F401 - register actions
                            actions_services, actions_updates)

RUNBOOK_KEYS = {"id", "title", "version", "description", "applies_to", "params", "steps", "before"}
BEFORE_VALUES = ("known_good", "other_board")  # which stored baseline is "before" (agent.baseline_select)
STEP_KEYS = {"id", "title", "kind", "description", "instructions", "estimate_seconds", "timeout_seconds",
             "retries", "retry_delay_seconds", "destructive", "required", "idempotent", "on_failure",
             "check", "apply", "verify", "until", "undo", "confirm", "when", "followup", "closes",
             "uninterruptible"}
PARAM_KEYS = {"description", "required", "pattern", "default", "example"}
UNTIL_KEYS = {"interval_seconds", "deadline_seconds", "progress_regex"}
CONFIRM_KEYS = {"prompt", "pattern", "equals"}
WHEN_KEYS = {"value", "equals", "not_equals", "in", "path_exists"}
KINDS = ("auto", "manual", "notify")
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class RunbookError(Exception):
    """A runbook file is invalid; the message names the file, the step and the key."""

    def __init__(self, source: str, message: str, step: str | None = None, key: str | None = None):
        where = source
        if step:
            where += f": step {step}"
        if key:
            where += f": {key}"
        super().__init__(f"{where}: {message}")
        self.source, self.step, self.key = source, step, key


@dataclass(frozen=True)
class ActionSpec:
    action: str
    args: Mapping[str, Any]

    @property
    def cls(self) -> type[actions_mod.Action]:
        return actions_mod.ACTIONS[self.action]

    @property
    def read_only(self) -> bool:
        return self.cls.read_only

    def describe(self) -> str:
        return self.cls.describe(self.args)


@dataclass(frozen=True)
class Param:
    name: str
    description: str = ""
    required: bool = False
    pattern: str | None = None
    default: str | None = None
    example: str | None = None


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    kind: str = "auto"
    description: str = ""
    instructions: str = ""
    estimate_seconds: float = 60.0
    timeout_seconds: float = 300.0
    retries: int = 0
    retry_delay_seconds: float = 5.0
    destructive: bool = False
    required: bool = False
    idempotent: bool = False
    on_failure: str = ""
    check: ActionSpec | None = None
    apply: ActionSpec | None = None
    verify: ActionSpec | None = None
    until: Mapping[str, Any] | None = None
    undo: ActionSpec | None = None
    confirm: Mapping[str, Any] | None = None
    when: Mapping[str, Any] | None = None
    followup: str = ""  # pending after this step applied, until a step that `closes` it is done
    closes: tuple[str, ...] = ()
    uninterruptible: bool = False  # never killed: timeout warns, Ctrl-C asks (package managers always)

    @property
    def mutating(self) -> bool:
        return self.apply is not None and not self.apply.read_only


@dataclass(frozen=True)
class Runbook:
    id: str
    title: str
    version: int
    description: str
    applies_to: tuple[str, ...]
    params: Mapping[str, Param]
    steps: tuple[Step, ...]
    path: str
    sha256: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(f"runbook {self.id} has no step {step_id!r} (steps: {', '.join(s.id for s in self.steps)})")

    def index(self, step_id: str) -> int:
        return [s.id for s in self.steps].index(self.step(step_id).id)


# ---- loading ---------------------------------------------------------------------------------------

def load(path: str | Path) -> Runbook:
    p = Path(path)
    src = str(p)
    try:
        raw_bytes = p.read_bytes()
    except FileNotFoundError:
        raise RunbookError(src, "no such file") from None
    except OSError as exc:
        raise RunbookError(src, exc.strerror or str(exc)) from None
    try:
        data = tomllib.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        raise RunbookError(src, "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise RunbookError(src, f"TOML syntax error: {exc}") from None
    return from_mapping(data, src, hashlib.sha256(raw_bytes).hexdigest(), expect_id=p.stem)


def _typed(src: str, step: str | None, key: str, value: Any, tp: type | tuple, what: str) -> Any:
    if isinstance(value, bool) and tp in (int, float, (int, float)):
        raise RunbookError(src, f"expected {what}, got {value!r}", step, key)
    if not isinstance(value, tp):
        raise RunbookError(src, f"expected {what}, got {value!r}", step, key)
    if isinstance(value, float) and not math.isfinite(value):  # TOML allows inf and nan
        raise RunbookError(src, f"expected {what}, got {value!r} (not a finite number)", step, key)
    return value


def from_mapping(data: Mapping[str, Any], src: str, sha256: str = "", expect_id: str | None = None) -> Runbook:
    for key in data:
        if key not in RUNBOOK_KEYS:
            raise RunbookError(src, f"unknown key (known: {', '.join(sorted(RUNBOOK_KEYS))})", key=key)
    for key in ("id", "title", "steps"):
        if key not in data:
            raise RunbookError(src, "missing", key=key)
    if "before" in data and data["before"] not in BEFORE_VALUES:
        raise RunbookError(src, f"expected one of {', '.join(BEFORE_VALUES)}, got {data['before']!r}", key="before")
    rid = _typed(src, None, "id", data["id"], str, "a string")
    if not ID_RE.match(rid):
        raise RunbookError(src, f"invalid id {rid!r} (letters, digits, ._-)", key="id")
    if expect_id is not None and rid != expect_id:
        raise RunbookError(src, f"id {rid!r} differs from the file name {expect_id!r}", key="id")
    title = _typed(src, None, "title", data["title"], str, "a string")
    version = _typed(src, None, "version", data.get("version", 1), int, "an integer")
    description = _typed(src, None, "description", data.get("description", ""), str, "a string")
    applies_to = _typed(src, None, "applies_to", data.get("applies_to", []), list, "a list of rule ids")
    for i, r in enumerate(applies_to):
        _typed(src, None, f"applies_to[{i}]", r, str, "a string")
    params: dict[str, Param] = {}
    raw_params = _typed(src, None, "params", data.get("params", {}), dict, "a table of parameter tables")
    for name, spec in raw_params.items():
        key = f"params.{name}"
        _typed(src, None, key, spec, dict, "a table")
        for k in spec:
            if k not in PARAM_KEYS:
                raise RunbookError(src, f"unknown key (known: {', '.join(sorted(PARAM_KEYS))})", key=f"{key}.{k}")
        for k in ("description", "pattern", "default", "example"):
            if k in spec:
                _typed(src, None, f"{key}.{k}", spec[k], str, "a string")
        if "pattern" in spec:
            _compile(src, None, f"{key}.pattern", spec["pattern"])
        params[name] = Param(name=name, description=spec.get("description", ""),
                             required=_typed(src, None, f"{key}.required", spec.get("required", False), bool, "a boolean"),
                             pattern=spec.get("pattern"), default=spec.get("default"), example=spec.get("example"))
    raw_steps = _typed(src, None, "steps", data["steps"], list, "an array of [[steps]] tables")
    if not raw_steps:
        raise RunbookError(src, "a runbook needs at least one step", key="steps")
    steps: list[Step] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_steps):
        if not isinstance(raw, dict):
            raise RunbookError(src, "expected a table", key=f"steps[{i}]")
        step = _step(src, i, raw, params)
        if step.id in seen:
            raise RunbookError(src, "duplicate step id", step.id, "id")
        for c in step.closes:
            if c not in seen:
                raise RunbookError(src, f"closes {c!r}, which is not an earlier step", step.id, "closes")
        seen.add(step.id)
        steps.append(step)
    return Runbook(id=rid, title=title, version=version, description=description, applies_to=tuple(applies_to),
                   params=params, steps=tuple(steps), path=src, sha256=sha256, raw=data)


def _compile(src: str, step: str | None, key: str, pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise RunbookError(src, f"invalid regular expression: {exc}", step, key) from None


def _step(src: str, index: int, raw: Mapping[str, Any], params: Mapping[str, Param]) -> Step:
    sid = raw.get("id")
    if not isinstance(sid, str) or not ID_RE.match(sid):
        raise RunbookError(src, f"missing or invalid step id {sid!r}", f"#{index + 1}", "id")
    for key in raw:
        if key not in STEP_KEYS:
            raise RunbookError(src, f"unknown key (known: {', '.join(sorted(STEP_KEYS))})", sid, key)
    if "title" not in raw:
        raise RunbookError(src, "missing", sid, "title")
    kw: dict[str, Any] = {"id": sid}
    if "closes" in raw:
        closes = _typed(src, sid, "closes", raw["closes"], list, "a list of step ids")
        for i, c in enumerate(closes):
            _typed(src, sid, f"closes[{i}]", c, str, "a step id")
        kw["closes"] = tuple(closes)
    for key in ("title", "description", "instructions", "on_failure", "followup"):
        if key in raw:
            kw[key] = _typed(src, sid, key, raw[key], str, "a string")
    kind = raw.get("kind", "auto")
    if kind not in KINDS:
        raise RunbookError(src, f"unknown kind {kind!r} (known: {', '.join(KINDS)})", sid, "kind")
    kw["kind"] = kind
    for key in ("estimate_seconds", "timeout_seconds", "retry_delay_seconds"):
        if key in raw:
            v = _typed(src, sid, key, raw[key], (int, float), "a number of seconds")
            if v < 0 or (key == "timeout_seconds" and v == 0):
                raise RunbookError(src, f"must be > 0, got {v}", sid, key)
            kw[key] = float(v)
    if "retries" in raw:
        kw["retries"] = _typed(src, sid, "retries", raw["retries"], int, "an integer")
        if kw["retries"] < 0:
            raise RunbookError(src, "must be >= 0", sid, "retries")
    for key in ("destructive", "required", "idempotent", "uninterruptible"):
        if key in raw:
            kw[key] = _typed(src, sid, key, raw[key], bool, "a boolean")
    for key in ("check", "apply", "verify", "undo"):
        if key in raw:
            kw[key] = _action(src, sid, key, raw[key], params)
    if "until" in raw:
        u = _typed(src, sid, "until", raw["until"], dict, "a table")
        for k in u:
            if k not in UNTIL_KEYS:
                raise RunbookError(src, f"unknown key (known: {', '.join(sorted(UNTIL_KEYS))})", sid, f"until.{k}")
        for k in ("interval_seconds", "deadline_seconds"):
            if k not in u:
                raise RunbookError(src, "missing", sid, f"until.{k}")
            if _typed(src, sid, f"until.{k}", u[k], (int, float), "a number of seconds") <= 0:
                raise RunbookError(src, "must be > 0", sid, f"until.{k}")
        if "progress_regex" in u:
            _compile(src, sid, "until.progress_regex", _typed(src, sid, "until.progress_regex", u["progress_regex"], str, "a string"))
        kw["until"] = dict(u)
    if "confirm" in raw:
        c = _typed(src, sid, "confirm", raw["confirm"], dict, "a table")
        for k in c:
            if k not in CONFIRM_KEYS:
                raise RunbookError(src, f"unknown key (known: {', '.join(sorted(CONFIRM_KEYS))})", sid, f"confirm.{k}")
            _typed(src, sid, f"confirm.{k}", c[k], str, "a string")
        if "prompt" not in c or not ("pattern" in c or "equals" in c):
            raise RunbookError(src, "needs prompt and pattern or equals", sid, "confirm")
        if c.get("equals") == "":
            raise RunbookError(src, "empty: a confirmation must equal the target's identity, not nothing", sid,
                               "confirm.equals")
        if "pattern" in c:
            _compile(src, sid, "confirm.pattern", c["pattern"])
        _check_templates(src, sid, "confirm", c, params)
        kw["confirm"] = dict(c)
    if "when" in raw:
        w = _typed(src, sid, "when", raw["when"], dict, "a table")
        for k in w:
            if k not in WHEN_KEYS:
                raise RunbookError(src, f"unknown key (known: {', '.join(sorted(WHEN_KEYS))})", sid, f"when.{k}")
        if "path_exists" not in w and not ("value" in w and any(k in w for k in ("equals", "not_equals", "in"))):
            raise RunbookError(src, "needs path_exists, or value with equals/not_equals/in", sid, "when")
        _check_templates(src, sid, "when", w, params)
        kw["when"] = dict(w)
    step = Step(**kw)
    _lint(src, step)
    return step


def _action(src: str, sid: str, key: str, raw: Any, params: Mapping[str, Param]) -> ActionSpec:
    if not isinstance(raw, dict):
        raise RunbookError(src, "expected a table like { action = \"probe\", argv = [...] }", sid, key)
    name = raw.get("action")
    if name is None:
        raise RunbookError(src, "missing", sid, f"{key}.action")
    if not isinstance(name, str) or name not in actions_mod.ACTIONS:
        raise RunbookError(src, f"unknown action {name!r} (known: {', '.join(actions_mod.ACTIONS)})", sid, f"{key}.action")
    cls = actions_mod.ACTIONS[name]
    args = {k: v for k, v in raw.items() if k != "action"}
    try:
        cls.validate(args)
    except actions_mod.SpecError as exc:
        raise RunbookError(src, exc.message, sid, f"{key}.{exc.key}" if exc.key else key) from None
    _check_templates(src, sid, key, args, params)
    if key in ("check", "verify") and not cls.read_only:
        raise RunbookError(src, f"action {name!r} changes the host; {key} must be read-only "
                           f"(read-only actions: {', '.join(n for n, c in actions_mod.ACTIONS.items() if c.read_only)})",
                           sid, f"{key}.action")
    return ActionSpec(action=name, args=args)


def _check_templates(src: str, sid: str, key: str, obj: Any, params: Mapping[str, Param]) -> None:
    from agent.recovery.template import NAMESPACES, references  # noqa: PLC0415

    for ref in references(obj):
        ns, _, rest = ref.partition(".")
        if ns not in NAMESPACES:
            raise RunbookError(src, f"unknown template namespace in {{{ref}}} (known: {', '.join(NAMESPACES)})", sid, key)
        if ns == "params" and rest.split(".")[0] not in params:
            raise RunbookError(src, f"{{{ref}}} names an undeclared parameter (declared: {', '.join(params) or 'none'})", sid, key)


def _lint(src: str, step: Step) -> None:
    if step.verify is None:
        raise RunbookError(src, "missing: every step needs a read-only verify with a success predicate", step.id, "verify")
    if step.kind == "manual" and (step.apply is None or step.apply.action != "manual"):
        raise RunbookError(src, "a manual step's apply must be the manual action (typed answer)", step.id, "apply")
    if step.kind == "notify" and (step.apply is None or step.apply.action != "notify"):
        raise RunbookError(src, "a notify step's apply must be the notify action", step.id, "apply")
    if step.apply is not None and step.apply.action in ("manual", "notify") and step.kind != step.apply.action:
        raise RunbookError(src, f"apply action {step.apply.action!r} needs kind = {step.apply.action!r}", step.id, "kind")
    if step.mutating and not step.on_failure and step.kind == "auto":
        raise RunbookError(src, "missing: a step that changes the host needs on_failure guidance", step.id, "on_failure")
    if step.destructive:
        if step.confirm is None:
            raise RunbookError(src, "a destructive step needs a typed confirmation (confirm = { prompt, pattern|equals })",
                               step.id, "confirm")
        if step.retries:
            raise RunbookError(src, "destructive steps are never retried automatically", step.id, "retries")
        if step.confirm.get("pattern") and not step.confirm.get("equals") and step.confirm["pattern"].strip("^$") in ("yes", "y"):
            raise RunbookError(src, "a destructive step must confirm the target's identity, not just 'yes'",
                               step.id, "confirm.pattern")
    if step.until is not None and step.verify is None:
        raise RunbookError(src, "until polls verify; verify is missing", step.id, "until")


# ---- discovery -------------------------------------------------------------------------------------

def default_dirs() -> list[Path]:
    """Where runbooks are searched when ``recovery.runbooks_dir`` is not set, in order:
    a checkout's ``runbooks/`` next to the package, ``/usr/share/hwagent/runbooks``,
    ``{sys.prefix}/share/hwagent/runbooks`` (a pip install with data files) and
    ``agent/data/runbooks`` inside the package."""
    pkg = Path(__file__).resolve().parent.parent  # .../agent
    return [pkg.parent / "runbooks", Path("/usr/share/hwagent/runbooks"),
            Path(sys.prefix) / "share" / "hwagent" / "runbooks", pkg / "data" / "runbooks"]


def runbooks_dir(configured: str | None = None) -> Path:
    if configured:
        p = Path(configured)
        if not p.is_dir():
            raise RunbookError(configured, "recovery.runbooks_dir: not a directory")
        return p
    env = os.environ.get("HWAGENT_RUNBOOKS_DIR")
    if env:
        return Path(env)
    for d in default_dirs():
        if d.is_dir() and any(d.glob("*.toml")):
            return d
    raise RunbookError("runbooks", "no runbooks directory found (searched: "
                       + ", ".join(str(d) for d in default_dirs()) + "); set recovery.runbooks_dir")


def available(directory: Path) -> list[Path]:
    return sorted(Path(directory).glob("*.toml"))


def find(name: str, directory: Path) -> Path:
    p = Path(name)
    if p.suffix == ".toml" and p.exists():
        return p
    cand = Path(directory) / f"{name}.toml"
    if not cand.exists():
        known = ", ".join(x.stem for x in available(directory)) or "none"
        raise RunbookError(str(cand), f"no runbook named {name!r} in {directory} (available: {known})")
    return cand
