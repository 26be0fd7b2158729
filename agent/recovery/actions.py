"""The closed set of actions a runbook step may use, each declaring whether it is read-only.

========================  =========  ==============================================================
action                    read-only  what it does
========================  =========  ==============================================================
``probe``                 yes        run an argv that only reads (checked against readonly.py's allow-list)
``run``                   no         run an argv that may change the host
``read_file``             yes        read a host file and test its content
``baseline_diff``         yes        diff the stored baseline against a live capture
``baseline_compare``      yes        a named comparison with the baseline (stale MACs, ...)
``wait``                  yes        sleep (a settle time; skipped in a dry run)
``answer``                yes        test a typed answer given earlier in the run
``notified``              yes        the status service accepted this step's update (or notify is off)
``manual``                no         show instructions, require a typed answer matching a pattern
``notify``                no         post an incident update to the customer status service
========================  =========  ==============================================================

Commands are argv lists handed to :meth:`Host.run`; there is no shell anywhere. ``probe`` argvs
are classified by pattern, not by program (``mdadm --detail`` reads, ``mdadm --manage`` does
not; ``zpool import`` lists, ``zpool import tank`` imports), at load time and again after
templating, and the executor's dry-run guard refuses to run anything else.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Sequence

from agent.recovery import boot, nic_map, probes, services
from agent.recovery.readonly_programs import argv_read_only  # the allow-list lives there

OUTPUT_HEAD = 4000
OUTPUT_TAIL = 2000

EXPECT_KEYS = {"exit_code", "contains", "not_contains", "regex", "not_regex", "empty", "equals", "json_path",
               "json_equals", "json_min", "json_max", "count_regex", "count_equals", "count_min"}


class SpecError(Exception):
    def __init__(self, key: str | None, message: str):
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


class DryRunViolation(Exception):
    """Something tried to change the host during a dry run (a bug; the run stops)."""


# ---- predicates --------------------------------------------------------------------------------

def validate_expect(expect: Any, key: str = "expect") -> None:
    if not isinstance(expect, dict):
        raise SpecError(key, "expected a table")
    for k, v in expect.items():
        if k not in EXPECT_KEYS:
            raise SpecError(f"{key}.{k}", f"unknown predicate (known: {', '.join(sorted(EXPECT_KEYS))})")
        if k in ("regex", "not_regex", "count_regex"):
            if not isinstance(v, str):
                raise SpecError(f"{key}.{k}", "expected a string")
            try:
                re.compile(v)
            except re.error as exc:
                raise SpecError(f"{key}.{k}", f"invalid regular expression: {exc}") from None
        if k == "exit_code" and not (isinstance(v, int) and not isinstance(v, bool)
                                     or isinstance(v, list) and all(isinstance(x, int) for x in v)):
            raise SpecError(f"{key}.{k}", "expected an integer or a list of integers")
        if k in ("contains", "not_contains", "equals", "json_path") and not isinstance(v, str):
            raise SpecError(f"{key}.{k}", "expected a string")
        if k == "empty" and not isinstance(v, bool):
            raise SpecError(f"{key}.{k}", "expected a boolean")
        if k in ("json_min", "json_max", "count_equals", "count_min") and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise SpecError(f"{key}.{k}", "expected a number")
    if any(k in expect for k in ("json_equals", "json_min", "json_max")) and "json_path" not in expect:
        raise SpecError(f"{key}.json_path", "missing (json_equals/json_min/json_max need it)")
    if any(k in expect for k in ("count_equals", "count_min")) and "count_regex" not in expect:
        raise SpecError(f"{key}.count_regex", "missing (count_equals/count_min need it)")


def _json_path(data: Any, path: str) -> Any:
    cur = data
    for part in re.findall(r"[^.\[\]]+", path):
        if isinstance(cur, list):
            cur = cur[int(part)]
        elif isinstance(cur, dict):
            cur = cur[part]
        else:
            raise KeyError(part)
    return cur


def evaluate(expect: Mapping[str, Any], rc: int | None, text: str, default_exit: bool = True) -> tuple[bool, str]:
    """Check an output against a predicate table -> (passed, reason naming the first failure)."""
    codes = expect.get("exit_code", 0 if default_exit else None)
    if codes is not None:
        allowed = codes if isinstance(codes, list) else [codes]
        if rc not in allowed:
            return False, f"exit code {rc}, expected {'/'.join(map(str, allowed))}"
    if "contains" in expect and expect["contains"] not in text:
        return False, f"output does not contain {expect['contains']!r}"
    if "not_contains" in expect and expect["not_contains"] in text:
        return False, f"output contains {expect['not_contains']!r}"
    if "regex" in expect and not re.search(expect["regex"], text, re.M):
        return False, f"output does not match /{expect['regex']}/"
    if "not_regex" in expect:
        m = re.search(expect["not_regex"], text, re.M)
        if m:
            return False, f"output matches /{expect['not_regex']}/: {m.group(0)[:80]!r}"
    if "empty" in expect and (not text.strip()) != expect["empty"]:
        return False, "output is not empty" if expect["empty"] else "output is empty"
    if "equals" in expect and text.strip() != expect["equals"]:
        return False, f"output {text.strip()[:80]!r} != {expect['equals']!r}"
    if "count_regex" in expect:
        n = len(re.findall(expect["count_regex"], text, re.M))
        if "count_equals" in expect and n != expect["count_equals"]:
            return False, f"{n} matches of /{expect['count_regex']}/, expected {expect['count_equals']:g}"
        if "count_min" in expect and n < expect["count_min"]:
            return False, f"{n} matches of /{expect['count_regex']}/, expected at least {expect['count_min']:g}"
    if "json_path" in expect:
        try:
            value = _json_path(json.loads(text), expect["json_path"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return False, f"json {expect['json_path']}: not found ({type(exc).__name__})"
        if "json_equals" in expect and value != expect["json_equals"] and str(value) != str(expect["json_equals"]):
            return False, f"json {expect['json_path']} = {value!r}, expected {expect['json_equals']!r}"
        try:
            if "json_min" in expect and float(value) < expect["json_min"]:
                return False, f"json {expect['json_path']} = {value!r} < {expect['json_min']:g}"
            if "json_max" in expect and float(value) > expect["json_max"]:
                return False, f"json {expect['json_path']} = {value!r} > {expect['json_max']:g}"
        except (TypeError, ValueError):
            return False, f"json {expect['json_path']} = {value!r} is not a number"
    return True, "ok"


# ---- evidence ----------------------------------------------------------------------------------

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


class Action:
    name: ClassVar[str]
    read_only: ClassVar[bool]
    required: ClassVar[dict[str, str]] = {}  # key -> type description
    optional: ClassVar[dict[str, str]] = {}
    summary: ClassVar[str] = ""

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
            if k not in args:
                continue
            v = args[k]
            if tp == "argv":
                if not isinstance(v, list) or not v:
                    raise SpecError(k, "expected a non-empty list of strings (an argv, never a shell string)")
                for i, a in enumerate(v):
                    if not isinstance(a, str):
                        raise SpecError(f"{k}[{i}]", f"expected a string, got {a!r}")
            elif tp == "str" and not isinstance(v, str):
                raise SpecError(k, f"expected a string, got {v!r}")
            elif tp == "number" and (isinstance(v, bool) or not isinstance(v, (int, float))
                                     or (isinstance(v, float) and not math.isfinite(v))):
                raise SpecError(k, f"expected a finite number, got {v!r}")
            elif tp == "bool" and not isinstance(v, bool):
                raise SpecError(k, f"expected a boolean, got {v!r}")
            elif tp == "list" and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
                raise SpecError(k, "expected a list of strings")
            elif tp == "expect":
                validate_expect(v, k)
            elif tp == "env" and not isinstance(v, dict):
                raise SpecError(k, "expected a table of NAME = \"value\"")
        cls.extra_validate(args)

    @classmethod
    def extra_validate(cls, args: Mapping[str, Any]) -> None:
        pass

    @classmethod
    def describe(cls, args: Mapping[str, Any]) -> str:
        return cls.name

    def run(self, args: Mapping[str, Any], ctx: ActionContext) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError


def _describe_expect(expect: Mapping[str, Any] | None) -> str:
    if not expect:
        return "exit 0"
    parts = []
    for k, v in expect.items():
        if isinstance(v, bool):
            parts.append(f"{k}={str(v).lower()}")
        elif isinstance(v, str):
            parts.append(f"{k} '{v}'")
        else:
            parts.append(f"{k} {v}")
    return ", ".join(parts)


class _Command(Action):
    required = {"argv": "argv"}
    optional = {"expect": "expect"}

    @classmethod
    def describe(cls, args):
        return "$ " + " ".join(_quote(a) for a in args["argv"]) + f"   [pass: {_describe_expect(args.get('expect'))}]"

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
                + f"   [pass: {_describe_expect(args.get('expect'))}]")

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
        return f"read {args['path']}   [pass: {_describe_expect({k: v for k, v in args.get('expect', {}).items()}) if args.get('expect') else 'file exists'}]"

    def run(self, args, ctx):
        from agent.host import ReadError  # noqa: PLC0415

        try:
            text = ctx.host.read_file(ctx.host.path(args["path"]))
        except ReadError as exc:
            return Outcome(passed=False, detail=str(exc))
        ok, why = evaluate(args.get("expect", {}), None, text, default_exit=False)
        return Outcome(passed=ok, detail=why, output=text)


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


class _EvidenceHost:
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
        res, ev = self._ctx.run(argv)
        self.evidence.append(ev)
        return res


class BaselineCompare(Action):
    name = "baseline_compare"
    read_only = True
    required = {"check": "str"}
    summary = "A named comparison between the baseline and the live host (see CHECKS)."
    CHECKS = {
        "stale_mac_refs": "network config names no MAC that belonged to the old hardware and is gone now",
        "mount_refs": "every UUID/PARTUUID/LABEL in fstab and crypttab exists and `findmnt --verify` is clean",
        "disks_present": "every baseline disk serial is visible",
        "md_arrays": "every baseline md array UUID is assembled and no array is degraded",
        "memory": "DIMM count equals the baseline and MemTotal is within 1 %",
        "services": "every service enabled in the baseline is still enabled, and no unit failed",
        "boot_mode": "firmware boot mode (UEFI/BIOS) equals the baseline",
        "efi_boot": "the first active BootOrder entry is an OS loader on an ESP of a present disk (prints BootOrder)",
        "nic_refs": "every interface name and MAC named in network/firewall/boot config resolves to a present "
                    "interface (prints the old -> new NIC table)",
        "bios_version": "the running BIOS version is at or above the baseline's",
        "board_changed": "the running board (DMI serial) differs from the baseline's",
        "clock": "the system clock is not before the baseline's capture time",
        "initramfs": "the running kernel's initramfs is newer than mdadm.conf, .link files and udev rules and holds "
                     "the storage and NIC drivers in use now",
        "new_board": "board_changed, and the DIMM count and MemTotal (within 1 %) equal the baseline",
        "service_probes": "from the host: every web vhost (HTTP status < 500, TLS with SNI, certificate valid >= 7 "
                          "days), SMTP banner + STARTTLS, IMAPS/POP3S greeting and DNS SOA of each zone the "
                          "baseline offered",
        "outside_commands": "never passes: lists the exact commands to run from another network (a check of a "
                            "manual step whose proof can only be typed)",
        "listening": "every TCP/UDP socket the baseline listened on listens again (with its unit)",
        "network": "baseline addresses (except EUI-64 of old MACs), default gateways and resolvers are back",
        "firmware_settings": "boot mode, Secure Boot, SATA/RAID controller mode, VT-x/AMD-V and RTC in UTC as "
                             "the baseline (disk-first: efi_boot)",
        "machine_id": "/etc/machine-id equals the baseline",
        "rtc": "the hardware clock is within 2 s of system time",
        "virtualization": "CPU virtualization flags (vmx/svm) present when the baseline had them",
    }

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

    # checks implemented beside the engine: function(old, new, host) -> (problems, ok detail, text)
    EXTERNAL: ClassVar[Mapping[str, Callable[..., tuple[list[str], str, str]]]] = {
        "efi_boot": boot.compare_efi, "nic_refs": nic_map.compare, "bios_version": boot.compare_bios,
        "board_changed": boot.compare_board, "listening": services.compare_listening,
        "network": services.compare_network, "firmware_settings": boot.compare_firmware,
        "clock": boot.compare_clock, "initramfs": boot.compare_initramfs, "new_board": boot.compare_board_and_memory,
        "services": services.compare_services, "service_probes": probes.compare, "mount_refs": boot.compare_mounts,
        "outside_commands": probes.compare_outside}

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
            guarded = _EvidenceHost(ctx)
            problems, ok_text, text = self.EXTERNAL[check](old, new, guarded)
            return Outcome(passed=not problems, detail=ok_text if not problems else problems[0] +
                           (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""), output=text, value=problems,
                           commands=guarded.evidence)
        problems = getattr(self, "_" + check)(old, new)
        text = "\n".join(problems)
        return Outcome(passed=not problems, detail="ok" if not problems else problems[0] +
                       (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""), output=text, value=problems)

    @staticmethod
    def _stale_mac_refs(old, new):
        live = {n["mac"] for n in new.get("nics", {}).get("physical", {}).values() if n.get("mac")}
        before = {n["mac"] for n in old.get("nics", {}).get("physical", {}).values() if n.get("mac")}
        return [f"{r['file']}:{r['line']} names {r['mac']} (old hardware, no NIC has it now)"
                for r in new.get("net_config_refs", []) if r["mac"] not in live and (r["mac"] in before or not before)]

    @staticmethod
    def _mount_refs(old, new):
        out = []
        for tab in ("fstab", "crypttab"):
            for e in new.get("mounts", {}).get(tab, []):
                if e.get("exists") is False:
                    out.append(f"{tab}: {e['spec']} ({e.get('target')}) does not exist")
        return out

    @staticmethod
    def _disks_present(old, new):
        live = {d.get("serial") for d in new.get("disks", [])}
        return [f"disk {d.get('serial')} ({d.get('model')}, was {d.get('name')}) is missing"
                for d in old.get("disks", []) if d.get("serial") and d.get("serial") not in live]

    @staticmethod
    def _md_arrays(old, new):
        out = []
        live = {a.get("uuid") for a in new.get("storage", {}).get("md", {}).get("arrays", [])}
        for a in old.get("storage", {}).get("md", {}).get("arrays", []):
            if a.get("uuid") not in live:
                out.append(f"array {a.get('device')} UUID {a.get('uuid')} is not assembled")
        for a in new.get("storage", {}).get("md", {}).get("mdstat", []):
            if a.get("status") and "_" in a["status"]:
                out.append(f"{a['name']} is degraded [{a['status']}]")
        return out

    @staticmethod
    def _memory(old, new):
        out = []
        mo, mn = old.get("memory", {}), new.get("memory", {})
        if mo.get("dimm_count") and mo.get("dimm_count") != mn.get("dimm_count"):
            out.append(f"{mn.get('dimm_count')} DIMMs, baseline had {mo.get('dimm_count')}")
        if mo.get("total_bytes") and mn.get("total_bytes") and abs(mn["total_bytes"] - mo["total_bytes"]) > 0.01 * mo["total_bytes"]:
            out.append(f"MemTotal {mn['total_bytes']} bytes, baseline {mo['total_bytes']}")
        return out

    @staticmethod
    def _services(old, new):
        live = set(new.get("software", {}).get("services_enabled", []))
        return [f"{s} was enabled and is not" for s in old.get("software", {}).get("services_enabled", []) if s not in live]

    @staticmethod
    def _boot_mode(old, new):
        a, b = old.get("boot", {}).get("mode"), new.get("boot", {}).get("mode")
        return [] if a == b else [f"boot mode {b}, baseline {a}"]

    @staticmethod
    def _machine_id(old, new):
        a, b = old.get("identity", {}).get("machine_id"), new.get("identity", {}).get("machine_id")
        return [] if a == b else [f"machine-id {b}, baseline {a}"]

    @staticmethod
    def _virtualization(old, new):
        want = set(old.get("cpu", {}).get("virtualization", []))
        have = set(new.get("cpu", {}).get("virtualization", []))
        return [f"CPU flag {f} missing (enable VT-x/AMD-V in the firmware)" for f in sorted(want - have)]

    @staticmethod
    def _rtc(old, new):
        off = new.get("time", {}).get("rtc_offset_seconds")
        if off is None:
            return ["hardware clock could not be read (hwclock --show)"]
        return [] if abs(off) <= 2 else [f"hardware clock is {off:+.1f} s off system time"]


class Wait(Action):
    name = "wait"
    read_only = True
    required = {"seconds": "number"}
    summary = "Sleep a settle time (e.g. after a rescan); skipped in a dry run."

    @classmethod
    def describe(cls, args):
        return f"wait {args['seconds']:g} s"

    def run(self, args, ctx):
        if not ctx.dry_run:
            ctx.sleep(float(args["seconds"]))
        return Outcome(passed=True, detail=f"waited {args['seconds']:g} s")


class Answer(Action):
    name = "answer"
    read_only = True
    optional = {"step": "str", "pattern": "str", "equals": "str", "max_age_hours": "str"}
    summary = ("Test a typed answer given earlier (default: this step's) against a pattern or a value; with "
               "`max_age_hours` the answer is a UTC time (YYYY-MM-DD HH:MM) that must be at most that old.")

    @classmethod
    def extra_validate(cls, args):
        if args.get("equals") == "":
            raise SpecError("equals", "empty: compare the answer with a value, not with nothing")
        if "pattern" in args:
            try:
                re.compile(args["pattern"])
            except re.error as exc:
                raise SpecError("pattern", f"invalid regular expression: {exc}") from None

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
        if args.get("equals") == "":
            raise SpecError("equals", "empty: the typed answer must equal an identity (a serial, a device), not nothing")
        if "pattern" in args:
            try:
                re.compile(args["pattern"])
            except re.error as exc:
                raise SpecError("pattern", f"invalid regular expression: {exc}") from None

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

    @classmethod
    def extra_validate(cls, args):
        if args["state"] not in cls.STATES:
            raise SpecError("state", f"unknown incident state {args['state']!r} (known: {', '.join(cls.STATES)})")
        if args.get("eta", "steps") not in ("steps", "none"):
            raise SpecError("eta", f"expected \"steps\" (remaining step estimates) or \"none\", got {args['eta']!r}")

    @classmethod
    def describe(cls, args):
        return f"status page: {args['state']} (text from the status service's templates)"

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

    @classmethod
    def describe(cls, args):
        return "the status service accepted the update (or notify is not configured)"

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

    @classmethod
    def describe(cls, args):
        return f"child run: agent recover {args['runbook']} (under this run's lock)"

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

    @classmethod
    def describe(cls, args):
        return f"a completed {args['runbook']} child run of this run on this host"

    def run(self, args, ctx):
        if ctx.engine is None:
            return Outcome(passed=False, detail="no run to look up children of")
        ok, detail = ctx.engine.check_child(args["runbook"])
        return Outcome(passed=ok, detail=detail)


class BaselineSave(Action):
    name = "baseline_save"
    read_only = False
    summary = ("Store the live capture in this run's state directory and mark it known-good (no `agent` from "
               "PATH, the run's own --state-dir).")

    @classmethod
    def describe(cls, args):
        return "store the live baseline as known-good in the run's state directory"

    def run(self, args, ctx):
        from agent import baseline as bl  # noqa: PLC0415
        from agent.store import Store  # noqa: PLC0415

        if ctx.engine is None or ctx.engine.store is None:
            return Outcome(passed=False, detail="no state directory")
        data = dict(bl.capture(ctx.host))
        store = Store.in_dir(ctx.engine.store.dir.parent)
        try:
            bs = bl.BaselineStore(store)
            ident, stored = bs.save(data)
            bs.mark_known_good(ident)
        finally:
            store.close()
        return Outcome(passed=True, detail=f"{'stored' if stored else 'kept'} baseline {ident} as known-good", value=ident)


class BaselineSaved(Action):
    name = "baseline_saved"
    read_only = True
    summary = "A known-good baseline of the live board (serial, UUID, NIC MACs) is stored in the run's state directory."

    @classmethod
    def describe(cls, args):
        return "a known-good baseline of the live board is stored"

    def run(self, args, ctx):
        from agent import baseline as bl  # noqa: PLC0415
        from agent import baseline_select as sel  # noqa: PLC0415

        if ctx.engine is None or ctx.engine.store is None:
            return Outcome(passed=False, detail="no state directory")
        db = ctx.engine.store.dir.parent / "state.db"
        if not db.exists():
            return Outcome(passed=False, detail=f"no baseline stored in {db.parent}")
        live = sel.live_identity(ctx.host)
        for row in bl.read_all_stored(db):
            if row["known_good"] and sel.same_hardware(sel.identity(row["data"]), live):
                return Outcome(passed=True, detail=f"known-good baseline {row['id']} of board "
                                                   f"{live['board_serial'] or '?'} stored")
        return Outcome(passed=False, detail=f"no known-good baseline of the live board ({live['board_serial']}) in {db}")


ACTIONS: dict[str, type[Action]] = {c.name: c for c in (Probe, Run, ReadFile, BaselineDiff, BaselineCompare, Wait,
                                                        Answer, Notified, Manual, Notify, NicRebind, ChildRun,
                                                        ChildDone, BaselineSave, BaselineSaved)}
