"""smart: SATA/SAS/NVMe health through smartctl, standby-aware, one bounded thread pool per sweep.

Discovery: ``smartctl --scan-open --json`` (option ``scan``) plus the explicit ``devices`` list
(``"/dev/bus/0 -d megaraid,1"``, ``"/dev/sdb -d sat"``), filtered by the ``include``/``exclude``
regexes (matched against the path and against ``"PATH -d TYPE"``), de-duplicated by identity
(WWN, else model+serial) so a multipath disk is read once.

Reading: ``smartctl --json -x -d TYPE -n standby,253 PATH`` per device in a thread pool of
``workers`` threads; every call has ``command_timeout_seconds`` and is killed on expiry by the host
runner. ``-n standby,253`` never wakes a sleeping disk and gives the skip its own exit code (plain
``-n standby`` exits 2, the same bit as "open failed"). After ``standby_max_skips`` skipped cycles
the disk is read anyway (smartd's ``-n standby,N``); devices matching ``standby_ignore`` (SSDs that
always claim standby) are never checked for standby. The type from the scan is always passed with
``-d``: autodetection can spin a disk up.

Backends: smartmontools >= 7.0 gives JSON; an older smartctl is read through pySMART (imported
lazily here and nowhere else; its process-wide side effects, ``LANG=C`` and the logging logger
class, are undone right after import, and it is handed the configured smartctl path, because
pySMART's own lookup misses /usr/sbin under systemd).

State survives restarts in the store (component ``disk``): identity and last good read per device,
and the baseline of every lifetime counter the rules watch for growth. Each device yields one
:class:`SmartDevice` per run; a device that could not be read yields one with ``read_status``
saying why and no health values, so nothing stale is served as fresh.

Self-tests (option ``selftests``): short daily at ``selftest_short_hour``, long weekly on
``selftest_long_weekday`` at ``selftest_long_hour``; disk *i* of the host (sorted by identity) is
shifted by *i* hours so no two disks of a host test in the same hour; never on a disk in standby,
never while a test runs, never in the first sweep after the agent starts.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from agent.collectors.base import BaseCollector, NoData
from agent.collectors.smart_parse import ParseError, classify_failure, parse_json
from agent.collectors.smart_state import STATE_SCRIPTS, CounterState, SlotTracker
from agent.config import ConfigError
from agent.model.disk import SelfTestPlan, SmartDevice

log = logging.getLogger("hwagent.collectors.smart")

STANDBY_RC = 253  # distinct exit code for "skipped, device in low-power mode" (-n MODE,253)
NOCHECK_MODES = ("never", "sleep", "standby", "idle")
MIN_JSON_VERSION = (7, 0)
_VERSION_RE = re.compile(r"smartctl (\d+)\.(\d+)")

STORE_SCRIPTS = STATE_SCRIPTS  # component "disk"; the tables are described in smart_state.py
_IDENTITY_FIELDS = ("protocol", "model", "serial", "wwn", "firmware", "model_family", "vendor", "capacity_bytes",
                    "rotation_rate_rpm")


@dataclass(frozen=True)
class Target:
    path: str  # "/dev/sda", "/dev/bus/0"
    dev_type: str = ""  # "-d" type, "" = let smartctl detect
    protocol: str = ""  # from the scan, if known
    open_error: str | None = None  # --scan-open could not open it

    @property
    def key(self) -> str:
        return f"{self.path}#{self.dev_type}" if self.dev_type else self.path

    @property
    def device(self) -> str:
        return device_name(self.path, self.dev_type)

    @property
    def spec(self) -> str:
        return f"{self.path} -d {self.dev_type}" if self.dev_type else self.path


def device_name(path: str, dev_type: str = "") -> str:
    """Operator-facing name: /dev/sda -> sda; /dev/bus/0 + megaraid,1 -> bus_0_megaraid_1."""
    base = path[5:] if path.startswith("/dev/") else path.lstrip("/")
    base = base.replace("/", "_")
    if "," in dev_type:
        base = f"{base}_{dev_type.split('+')[-1].replace(',', '_')}"
    return base


def parse_device_spec(spec: str) -> Target:
    """``"/dev/sda"``, ``"/dev/bus/0 -d megaraid,1"`` or ``"/dev/sdb --device=sat"`` -> Target."""
    parts = shlex.split(spec)
    if not parts or not parts[0].startswith("/"):
        raise ValueError(f"{spec!r}: expected 'PATH' or 'PATH -d TYPE'")
    path, dev_type = parts[0], ""
    rest = parts[1:]
    while rest:
        tok = rest.pop(0)
        if tok == "-d" and rest:
            dev_type = rest.pop(0)
        elif tok.startswith("--device="):
            dev_type = tok.split("=", 1)[1]
        else:
            raise ValueError(f"{spec!r}: unexpected {tok!r} (only -d TYPE is allowed)")
    return Target(path, dev_type)


def parse_version(text: str) -> tuple[int, int] | None:
    m = _VERSION_RE.search(text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def parse_scan(stdout: bytes | str) -> list[Target]:
    """``--scan-open --json`` (or the plain text of an old smartctl) -> targets."""
    text = stdout.decode("utf-8", "replace") if isinstance(stdout, bytes) else stdout
    out: list[Target] = []
    stripped = text.lstrip()
    if stripped.startswith("{"):
        doc = json.loads(text)
        devices = doc.get("devices") if isinstance(doc, Mapping) else None
        for d in devices if isinstance(devices, list) else []:
            if isinstance(d, Mapping) and isinstance(d.get("name"), str):
                out.append(Target(d["name"], str(d.get("type") or ""), str(d.get("protocol") or ""),
                                  str(d["open_error"]) if d.get("open_error") else None))
        return out
    for line in text.splitlines():  # "/dev/sda -d sat # /dev/sda [SAT], ATA device"
        line = line.strip()
        if not line.startswith("/"):
            continue
        spec, _, comment = line.partition("#")
        failed = spec.startswith("# ") or "failed:" in comment
        try:
            t = parse_device_spec(spec.strip())
        except ValueError:
            continue
        out.append(replace(t, open_error=comment.strip() if failed else None))
    return out


# ---- pySMART backend (lazy) -------------------------------------------------------------------------
_pysmart_lock = threading.Lock()
_pysmart_mod: Any = None


def import_pysmart() -> Any:
    """Import pySMART once, undoing its import-time side effects (LANG=C, logger class)."""
    global _pysmart_mod
    with _pysmart_lock:
        if _pysmart_mod is None:
            lang = os.environ.get("LANG")
            logger_class = logging.getLoggerClass()
            try:
                import pySMART  # noqa: PLC0415 - the one place pySMART is imported
            finally:
                if lang is None:
                    os.environ.pop("LANG", None)
                else:
                    os.environ["LANG"] = lang
                logging.setLoggerClass(logger_class)
            _pysmart_mod = pySMART
        return _pysmart_mod


def _host_smartctl_class(pysmart: Any) -> type:
    """A pySMART Smartctl whose commands go through Host.run (timeouts, replay, C locale per call)."""

    class HostSmartctl(pysmart.Smartctl):
        def __init__(self, host, exe: str, timeout: float, nocheck: Sequence[str] = ()):
            super().__init__(smartctl_path=exe, options=[])  # explicit path: never pySMART's PATH lookup
            self._host, self._timeout, self._nocheck = host, timeout, list(nocheck)
            self.last_rc: int | None = None
            self.last_error: str | None = None
            self.last_text = ""

        def _exec(self, cmd):
            cmd = list(cmd)
            if self._nocheck and cmd and cmd[-1].startswith("/"):
                cmd = cmd[:-1] + self._nocheck + cmd[-1:]  # per call: pySMART's global options pile up
            env = dict(os.environ, LANG="C", LC_ALL="C")
            res = self._host.run(cmd, self._timeout, env)
            self.last_rc, self.last_error = res.rc, res.error
            self.last_text = res.text()
            if res.error:
                raise OSError(res.error)
            return self._decode_output(res.stdout), res.rc

    return HostSmartctl


def pysmart_to_doc(dev: Any, rc: int | None) -> dict:
    """A pySMART Device -> a dict in smartctl's JSON shape, so one mapper serves both backends."""
    doc: dict[str, Any] = {"json_format_version": [1, 0], "smartctl": {"exit_status": rc, "messages": []}}
    iface = (getattr(dev, "interface", None) or "").lower()
    protocol = "NVMe" if iface == "nvme" else "SCSI" if iface in ("scsi", "sas") or "megaraid" in iface and \
        not getattr(dev, "attributes", None) else "ATA" if iface else ""
    doc["device"] = {"name": f"/dev/{dev.name}", "type": iface, "protocol": protocol}
    for src, dst in (("model", "model_name"), ("serial", "serial_number"), ("firmware", "firmware_version"),
                     ("family", "model_family")):
        v = getattr(dev, src, None)
        if v:
            doc[dst] = v
    if getattr(dev, "smart_capable", None) is not None:
        doc["smart_support"] = {"available": bool(dev.smart_capable), "enabled": bool(getattr(dev, "smart_enabled", False))}
    assessment = getattr(dev, "assessment", None)
    if assessment in ("PASS", "WARN"):
        doc["smart_status"] = {"passed": True}
    elif assessment == "FAIL":
        doc["smart_status"] = {"passed": False}
    if getattr(dev, "temperature", None) is not None:
        doc["temperature"] = {"current": dev.temperature}
    table = []
    for a in getattr(dev, "attributes", None) or []:
        if a is None:
            continue
        try:
            wf = {"FAILING_NOW": "now", "In_the_past": "past"}.get(str(a.when_failed).strip(), "")
            table.append({"id": int(a.num), "name": a.name, "value": int(a.value), "worst": int(a.worst),
                          "thresh": int(a.thresh), "when_failed": wf, "flags": {"prefailure": a.type == "Pre-fail"},
                          "raw": {"value": a.raw_int if a.raw_int is not None else 0, "string": str(a.raw)}})
        except (TypeError, ValueError, AttributeError):
            continue
    if table:
        doc["ata_smart_attributes"] = {"table": table}
    ifa = getattr(dev, "if_attributes", None)
    if protocol == "NVMe" and ifa is not None:
        g = lambda k: getattr(ifa, k, None)  # noqa: E731
        log_ = {"critical_warning": g("criticalWarning"), "temperature": getattr(dev, "temperature", None),
                "available_spare": g("availableSpare"), "available_spare_threshold": g("availableSpareThreshold"),
                "percentage_used": g("percentageUsed"), "data_units_read": g("dataUnitsRead"),
                "data_units_written": g("dataUnitsWritten"), "power_cycles": g("powerCycles"),
                "power_on_hours": g("powerOnHours"), "unsafe_shutdowns": g("unsafeShutdowns"),
                "media_errors": g("integrityErrors"), "num_err_log_entries": g("errorEntries"),
                "critical_comp_time": g("criticalTemperatureTime")}
        doc["nvme_smart_health_information_log"] = {k: v for k, v in log_.items() if v is not None}
    tests = []
    for t in getattr(dev, "tests", None) or []:
        status = str(getattr(t, "status", "") or "")
        ok = status.lower().startswith("completed without error")
        failed = any(w in status.lower() for w in ("failure", "fatal", "failed"))
        tests.append({"type": {"string": str(getattr(t, "type", ""))},
                      "status": {"string": status, "passed": True if ok else (False if failed else None)},
                      "lifetime_hours": _int_or_none(getattr(t, "hours", None))})
    if tests:
        doc["ata_smart_self_test_log"] = {"standard": {"table": tests}}
    return doc


def _int_or_none(v: Any) -> int | None:
    try:
        return int(str(v).strip())
    except (TypeError, ValueError):
        return None


# ---- self-test schedule (pure) ----------------------------------------------------------------------------
def selftest_slots(ids: Sequence[str], short_hour: int, long_weekday: int, long_hour: int) -> dict[str, tuple[int, int, int]]:
    """Stable id -> (short hour, long weekday, long hour), staggered one hour apart per disk."""
    out = {}
    for i, sid in enumerate(sorted(ids)):
        out[sid] = ((short_hour + i) % 24, (long_weekday + (long_hour + i) // 24) % 7, (long_hour + i) % 24)
    return out


def due_selftests(devices: Sequence[SmartDevice], now: float, last: Mapping[tuple[str, str], float], *,
                  short_hour: int, long_weekday: int, long_hour: int) -> list[tuple[SmartDevice, str, str]]:
    """(device, kind, reason) for tests due now. ``last`` maps (stable id, kind) -> last start time.

    A device in standby or running a test is skipped with a reason, never woken or interrupted;
    at most one test per disk and hour, and the staggering keeps disks of one host apart.
    """
    capable = [d for d in devices if d.fresh or d.read_status == "standby"]
    slots = selftest_slots([d.stable_id for d in capable], short_hour, long_weekday, long_hour)
    lt = time.localtime(now)
    out = []
    for d in capable:
        s_hour, l_wday, l_hour = slots[d.stable_id]
        kind = None
        if lt.tm_wday == l_wday and lt.tm_hour == l_hour and now - last.get((d.stable_id, "long"), 0) > 6 * 86400 - 7200:
            kind = "long"
        elif lt.tm_hour == s_hour and now - last.get((d.stable_id, "short"), 0) > 20 * 3600:
            kind = "short"
        if kind is None:
            continue
        if d.read_status == "standby" or d.power_state in ("standby", "sleep"):
            out.append((d, kind, "skipped: disk in standby"))
        elif d.selftest_running:
            out.append((d, kind, "skipped: a self-test is running"))
        else:
            out.append((d, kind, "scheduled"))
    return out


def selftest_argv(exe: str, target_path: str, dev_type: str, kind: str) -> list[str]:
    argv = [exe, "--json", "-t", "long" if kind in ("long", "extended") else "short"]
    if dev_type:
        argv += ["-d", dev_type]
    return argv + [target_path]


# ---- the collector ------------------------------------------------------------------------------------------
class SmartCollector(BaseCollector):
    name = "smart"
    default_interval = 1800.0
    default_timeout = 900.0
    description = "SATA/SAS/NVMe health through smartctl (JSON; pySMART for smartctl < 7.0), standby-aware."
    options = {
        "smartctl": (str, "", "smartctl executable for this collector; empty = `[host] smartctl`."),
        "scan": (bool, True, "Discover devices with `smartctl --scan-open`."),
        "devices": (list, [], "Explicit devices, each `PATH` or `PATH -d TYPE` (e.g. `/dev/bus/0 -d megaraid,1`, `/dev/sdb -d sat`)."),
        "include": (str, "", "Only devices whose path or `PATH -d TYPE` matches this regex (empty = all)."),
        "exclude": (str, "", "Skip devices whose path or `PATH -d TYPE` matches this regex (e.g. `^/dev/loop`)."),
        "workers": (int, 32, "Parallel smartctl calls per sweep (each disk is read by one call)."),
        "command_timeout_seconds": (float, 60.0, "Per-call smartctl timeout; the call is killed when it expires."),
        "standby_mode": (str, "standby", "smartctl `-n` mode: never, sleep, standby, idle (never = always wake)."),
        "standby_max_skips": (int, 6, "Read a sleeping disk anyway after this many skipped sweeps (0 = never)."),
        "standby_ignore": (list, [], "Regexes of devices never checked for standby (SSDs that always claim it)."),
        "forget_seconds": (float, 7 * 86400.0, "Forget a disk that vanished this long after its last good read (0 = never)."),
        "ignore_rootfs": (bool, False, "Run smartctl even when host.root is not / (a container that sees the host's /dev)."),
        "backend": (str, "auto", "auto (JSON for smartctl >= 7.0, else pySMART), json or pysmart."),
        "selftests": (bool, False, "Run scheduled self-tests: short daily, long weekly, staggered per disk."),
        "selftest_short_hour": (int, 2, "Local hour of the first disk's daily short self-test (the next disk +1 h...)."),
        "selftest_long_weekday": (int, 6, "Weekday of the long self-test (0 = Monday ... 6 = Sunday)."),
        "selftest_long_hour": (int, 3, "Local hour of the first disk's weekly long self-test."),
    }

    def __init__(self, host, cfg=None, store=None):
        super().__init__(host, cfg, store)
        pfx = f"collectors.{self.name}"
        self._include = self._regex("include", pfx)
        self._exclude = self._regex("exclude", pfx)
        self._ignore = [self._compile(r, f"{pfx}.standby_ignore") for r in self.option("standby_ignore")]
        mode = self.option("standby_mode")
        if mode not in NOCHECK_MODES:
            raise ConfigError(f"{pfx}.standby_mode", f"expected one of {', '.join(NOCHECK_MODES)}, got {mode!r}")
        if self.option("backend") not in ("auto", "json", "pysmart"):
            raise ConfigError(f"{pfx}.backend", f"expected auto, json or pysmart, got {self.option('backend')!r}")
        if int(self.option("workers")) < 1:
            raise ConfigError(f"{pfx}.workers", "must be >= 1")
        self._explicit: list[Target] = []
        for i, spec in enumerate(self.option("devices")):
            try:
                self._explicit.append(parse_device_spec(str(spec)))
            except ValueError as exc:
                raise ConfigError(f"{pfx}.devices[{i}]", str(exc)) from None
        self._version: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._skips: dict[str, int] = {}  # target key -> consecutive standby skips
        self._known: dict[str, dict[str, Any]] = {}  # target key -> identity fields + id + last_success
        self._shared_logged: set[str] = set()
        self._state = CounterState()  # baselines and recent history of the lifetime counters
        self._slots = SlotTracker()  # which disk sits in which slot (swaps)
        self._selftests: dict[tuple[str, str], float] = {}
        self._sweeps = 0
        if self.store is not None:
            try:
                self.store.migrate("disk", STORE_SCRIPTS)
                self._state = CounterState(self.store)
                self._slots = SlotTracker(self.store)
                self._load_state()
            except Exception as exc:  # noqa: BLE001 - without the store: no baselines across restarts
                log.warning("smart: state store unusable (%s); disk baselines kept in memory only", exc)
                self.store = None
                self._state = CounterState()
                self._slots = SlotTracker()

    # ---- config helpers ----
    def _compile(self, pattern: str, key: str):
        try:
            return re.compile(pattern)
        except re.error as exc:
            raise ConfigError(key, f"invalid regex {pattern!r}: {exc}") from None

    def _regex(self, opt: str, pfx: str):
        pat = self.option(opt)
        return self._compile(pat, f"{pfx}.{opt}") if pat else None

    @property
    def exe(self) -> str:
        name = self.option("smartctl") or self.host.tool("smartctl")
        if self.host.runner is None and not os.path.isabs(name):
            return self.host.which(name) or name  # PATH plus the sbin dirs systemd units lack
        return name

    @property
    def call_timeout(self) -> float:
        return float(self.option("command_timeout_seconds"))

    # ---- state --------------------------------------------------------------------------------
    def _load_state(self) -> None:
        for sid, target, _device, identity, last in self.store.execute(
                "SELECT id, target, device, identity, last_success FROM disk_devices"):
            try:
                ident = json.loads(identity)
            except ValueError:
                ident = {}
            self._known[target] = {**ident, "id": sid, "last_success": last}
        self._state.load()
        self._slots.load()
        for sid, kind, started in self.store.execute("SELECT id, kind, started FROM disk_selftests"):
            self._selftests[(sid, kind)] = started

    def _save(self, target: Target, d: SmartDevice) -> None:
        if self.store is None:
            return
        ident = {k: getattr(d, k) for k in _IDENTITY_FIELDS}
        try:
            self.store.execute(
                "INSERT INTO disk_devices (id, target, device, identity, last_success) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET target = excluded.target, device = excluded.device, "
                "identity = excluded.identity, last_success = excluded.last_success",
                (d.stable_id, target.key, d.device, json.dumps(ident, sort_keys=True), d.last_success))
        except Exception as exc:  # noqa: BLE001 - a broken store must not lose the reading
            log.warning("smart: state store: %s", exc)

    # ---- discovery ------------------------------------------------------------------------------
    def smartctl_version(self) -> tuple[int, int] | None:
        if self._version is None:
            res = self.host.run([self.exe, "--version"], self.call_timeout)
            if res.error or res.rc is None:
                return None
            ver = parse_version(res.text())
            if ver is None:  # an odd build or wrapper: assume a current smartctl, say so once
                self.problem(f"{self.exe} --version: no version in its output (exit {res.rc}); assuming JSON support")
                ver = MIN_JSON_VERSION
            self._version = ver
        return self._version

    def wanted(self, t: Target) -> bool:
        names = (t.path, t.spec, t.device)
        if self._include is not None and not any(self._include.search(n) for n in names):
            return False
        if self._exclude is not None and any(self._exclude.search(n) for n in names):
            return False
        return True

    def discover(self, json_ok: bool = True) -> list[Target]:
        return self._discover(json_ok)[0]

    def _discover(self, json_ok: bool = True) -> tuple[list[Target], bool]:
        """(targets, scan_ok): explicit devices plus what --scan-open lists."""
        targets: dict[str, Target] = {}
        for t in self._explicit:
            targets[t.key] = t
        scan_ok = True
        if self.option("scan"):
            argv = [self.exe, "--scan-open"] + (["--json"] if json_ok else [])
            res = self.host.run(argv, self.call_timeout)
            found: list[Target] = []
            if res.error:
                scan_ok = False
                self.problem(f"smartctl --scan-open: {res.error}")
                log.warning("smart: smartctl --scan-open: %s", res.error)
            else:
                try:
                    found = parse_scan(res.stdout)
                except ValueError as exc:
                    scan_ok = False
                    self.problem(f"smartctl --scan-open: unreadable output ({exc})")
                    log.warning("smart: smartctl --scan-open: unreadable output (%s)", exc)
            for t in found:
                # an explicit entry for the same disk wins (it carries the right -d type); behind
                # a controller (-d megaraid,N) each N is its own disk
                if not any(e.path == t.path and ("," not in t.dev_type or e.dev_type == t.dev_type)
                           for e in self._explicit):
                    targets.setdefault(t.key, t)
        return [t for t in sorted(targets.values(), key=lambda t: t.key) if self.wanted(t)], scan_ok

    # ---- one device -----------------------------------------------------------------------------------
    def _nocheck(self, t: Target) -> list[str]:
        mode = self.option("standby_mode")
        if mode == "never" or any(r.search(t.path) or r.search(t.device) or r.search(t.spec) for r in self._ignore):
            return []
        max_skips = int(self.option("standby_max_skips"))
        if max_skips and self._skips.get(t.key, 0) >= max_skips:
            return []  # check anyway after N skips
        return ["-n", f"{mode},{STANDBY_RC}"]

    def read_argv(self, t: Target, wake: bool = False) -> list[str]:
        argv = [self.exe, "--json", "-x"]
        if t.dev_type:
            argv += ["-d", t.dev_type]
        # -n is an ATA/SCSI option; NVMe controllers are not spun down by reading the health log
        nvme = t.dev_type == "nvme" or t.protocol == "NVMe" or t.path.startswith("/dev/nvme")
        return argv + ([] if wake or nvme else self._nocheck(t)) + [t.path]

    def _failed(self, t: Target, status: str, message: str, *, power_state: str = "unknown",
                exit_status: int | None = None) -> SmartDevice:
        if status == "permission_denied" and "CAP_SYS" not in message:
            message += " (run as root, or grant CAP_SYS_RAWIO, plus CAP_SYS_ADMIN for NVMe)"
        info = self._known.get(t.key, {})
        ident: dict[str, Any] = {k: info.get(k) for k in _IDENTITY_FIELDS if k != "protocol"}
        return SmartDevice(device=t.device, path=t.path, dev_type=t.dev_type,
                           protocol=info.get("protocol") or t.protocol or "", read_status=status,
                           message=message, power_state=power_state, exit_status=exit_status,
                           last_success=info.get("last_success"), backend="json", **ident)

    def read_one(self, t: Target, backend: str, wake: bool = False) -> SmartDevice:
        try:
            if backend == "pysmart":
                return self._read_pysmart(t)
            return self._read_json(t, wake)
        except Exception as exc:  # noqa: BLE001 - one device must never break the sweep
            return self._failed(t, "error", f"{t.device}: {type(exc).__name__}: {exc}")

    def _read_json(self, t: Target, wake: bool = False) -> SmartDevice:
        now = self.host.now()
        argv = self.read_argv(t, wake)
        res = self.host.run(argv, self.call_timeout)
        if res.error:
            err = res.error
            if err == "timeout":
                return self._failed(t, "timeout", f"{t.device}: smartctl did not answer within "
                                    f"{self.call_timeout:g} s and was killed")
            if err.startswith("not found"):
                return self._failed(t, "no_smartctl", f"{t.device}: smartctl not found ({self.exe})")
            if err.startswith("permission denied"):
                return self._failed(t, "permission_denied", f"{t.device}: cannot run {self.exe}: {err}")
            return self._failed(t, "error", f"{t.device}: {err}")
        if res.rc == STANDBY_RC and "-n" in argv:
            self._skips[t.key] = self._skips.get(t.key, 0) + 1
            state = "standby"
            m = re.search(r"Device is in (\w+)", res.text())
            if m and m.group(1).lower() in ("sleep", "idle", "standby"):
                state = m.group(1).lower()
            return self._failed(t, "standby", f"{t.device}: in {state.upper()} mode, not woken "
                                f"(skip {self._skips[t.key]})", power_state=state, exit_status=res.rc)
        text = res.text()
        if not text.strip():
            status = "permission_denied" if "ermission" in res.stderr.decode("utf-8", "replace") else "parse_error"
            return self._failed(t, status, f"{t.device}: smartctl exit {res.rc} with no output"
                                + (f": {res.stderr.decode('utf-8', 'replace').strip()[:200]}" if res.stderr else ""),
                                exit_status=res.rc)
        try:
            doc = json.loads(text)
        except ValueError as exc:
            what = "truncated JSON" if text.lstrip().startswith("{") else "output that is not JSON"
            return self._failed(t, "parse_error", f"{t.device}: smartctl exit {res.rc} gave {what} ({exc})",
                                exit_status=res.rc)
        try:
            d = parse_json(doc, device=t.device, path=t.path, dev_type=t.dev_type, now=now, rc=res.rc)
        except ParseError as exc:
            return self._failed(t, "parse_error", str(exc), exit_status=res.rc)
        if d.read_status == "standby":  # plain exit 2 with the standby message
            self._skips[t.key] = self._skips.get(t.key, 0) + 1
        elif d.read_status == "ok":
            self._skips[t.key] = 0
        if not d.fresh:
            return self._failed(t, d.read_status, d.message or f"{t.device}: no SMART data",
                                power_state=d.power_state, exit_status=d.exit_status)
        return d

    def _read_pysmart(self, t: Target) -> SmartDevice:
        now = self.host.now()
        mod = import_pysmart()
        nvme = t.dev_type == "nvme" or t.path.startswith("/dev/nvme")
        smartctl = _host_smartctl_class(mod.smartctl)(self.host, self.exe, self.call_timeout,
                                                      [] if nvme else self._nocheck(t))
        try:
            dev = mod.Device(t.path, interface=t.dev_type or None, smartctl=smartctl)
        except OSError as exc:
            status = "timeout" if str(exc) == "timeout" else "no_smartctl" if str(exc).startswith("not found") else "error"
            return self._failed(t, status, f"{t.device}: {exc}")
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            return self._failed(t, "parse_error", f"{t.device}: pySMART could not parse smartctl output: {exc}")
        if smartctl.last_error:
            return self._failed(t, "timeout" if smartctl.last_error == "timeout" else "error",
                                f"{t.device}: {smartctl.last_error}")
        if smartctl.last_rc == STANDBY_RC:
            self._skips[t.key] = self._skips.get(t.key, 0) + 1
            return self._failed(t, "standby", f"{t.device}: in standby, not woken (skip {self._skips[t.key]})",
                                power_state="standby", exit_status=STANDBY_RC)
        if getattr(dev, "interface", None) in (None, "UNKNOWN INTERFACE") or dev.model is None and dev.serial is None:
            lines = [ln.strip() for ln in smartctl.last_text.splitlines()[2:] if ln.strip()]
            status, ps = classify_failure(smartctl.last_rc, lines)
            return self._failed(t, "open_failed" if status == "error" else status,
                                f"{t.device}: smartctl exit {smartctl.last_rc}: {'; '.join(lines[:2]) or 'no output'}",
                                power_state=ps, exit_status=smartctl.last_rc)
        self._skips[t.key] = 0
        d = parse_json(pysmart_to_doc(dev, smartctl.last_rc), device=t.device, path=t.path, dev_type=t.dev_type,
                       now=now, rc=smartctl.last_rc, backend="pysmart")
        if not d.fresh:
            return self._failed(t, d.read_status, d.message or f"{t.device}: no SMART data")
        return d

    # ---- by-id names -----------------------------------------------------------------------------------
    def _by_id(self) -> dict[str, str]:
        """kernel name (sda, nvme0n1) -> preferred /dev/disk/by-id name."""
        return self._links("by-id", ("wwn-", "nvme-eui.", "ata-", "nvme-", "scsi-3", "scsi-", "usb-"))

    def _links(self, kind: str, prefer: tuple[str, ...]) -> dict[str, str]:
        """kernel name -> preferred /dev/disk/<kind> link name (by-id, by-path)."""
        out: dict[str, str] = {}
        base = self.host.path("dev", "disk", kind)
        try:
            names = sorted(self.host.listdir(base))
        except Exception:  # noqa: BLE001 - no udev links (container): no label
            return out

        def rank(n: str) -> int:
            for i, p in enumerate(prefer):
                if n.startswith(p):
                    return i
            return 99

        for n in sorted(names, key=lambda n: (rank(n), n)):
            if "-part" in n:
                continue
            try:
                tgt = os.path.basename(str(self.host.realpath(base / n)))
            except Exception:  # noqa: BLE001
                continue
            out.setdefault(tgt, n)
        return out

    # ---- the sweep ----------------------------------------------------------------------------------------
    def backend(self) -> str | None:
        want = self.option("backend")
        ver = self.smartctl_version()
        if ver is None:
            return None
        if want != "auto":
            return want
        return "json" if ver >= MIN_JSON_VERSION else "pysmart"

    def collect(self):
        if self.host.runner is None and not self.host.is_live and not self.option("ignore_rootfs"):
            # host.root/--path.* point at a captured tree: smartctl would read this machine's disks
            raise NoData("host root is not / (a captured tree?): smartctl not run; set "
                         "collectors.smart.ignore_rootfs = true where the host's /dev is visible (container)")
        backend = self.backend()
        if backend is None:
            known = [parse_device_spec(k.replace("#", " -d ", 1)) if "#" in k else Target(k) for k in self._known]
            targets = sorted({t.key: t for t in [*self._explicit, *known]}.values(), key=lambda t: t.key)
            if not targets:
                raise NoData(f"smartctl not found or not runnable ({self.exe}); install smartmontools "
                             "or set [host] smartctl")
            out = [self._failed(t, "no_smartctl", f"{t.device}: smartctl not found or not runnable ({self.exe})")
                   for t in targets]
            for d in out:
                self.problem(d.message or d.device)
                log.warning("smart: %s", d.message)
            return out
        targets, scan_ok = self._discover(json_ok=backend == "json")
        seen = {t.key for t in targets}
        now = self.host.now()
        # disks we knew that vanished from the scan stay visible as unreadable (not silently
        # dropped, not served stale) until forget_seconds after their last good read
        vanished: list[Target] = []
        forget = float(self.option("forget_seconds"))
        for key, info in list(self._known.items()):
            if key in seen or not self.option("scan"):
                continue
            last = info.get("last_success")
            if forget and last is not None and now - last > forget:
                del self._known[key]
                continue
            t = parse_device_spec(key.replace("#", " -d ", 1)) if "#" in key else Target(key)
            t = replace(t, protocol=info.get("protocol") or "")
            if not self.wanted(t):
                continue
            if scan_ok:
                vanished.append(t)
            else:
                targets.append(t)  # the scan failed: read the disks we know instead
        if not targets and not vanished:
            raise NoData("smartctl found no devices")
        workers = max(1, min(int(self.option("workers")), len(targets) or 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smartctl") as pool:
            results = list(pool.map(lambda t: self.read_one(t, backend), targets))
        for t in vanished:
            targets.append(t)
            results.append(self._failed(t, "open_failed", f"{t.device}: no longer listed by smartctl --scan-open "
                                        "(removed, failed or renamed?)"))
        by_id = self._by_id()
        shared = self._shared_identities(targets, results)
        by_path = self._links("by-path", ("pci-", "platform-", "acpi-"))
        out = []
        seen_ids: dict[str, str] = {}
        for t, d in zip(targets, results):
            if d.fresh and t.key in shared:
                d = replace(d, shared_identity_path=t.path + (f"#{t.dev_type}" if t.dev_type else ""))
            if d.fresh:
                sid = d.stable_id
                if sid in seen_ids:
                    log.debug("smart: %s is %s again (multipath), skipped", t.spec, seen_ids[sid])
                    continue
                seen_ids[sid] = t.device
                d = self._with_baseline(t, d, now)
                # a slot: the controller target behind a RAID HBA, else the disk's by-path name
                slot = t.key if "," in t.dev_type else by_path.get(os.path.basename(t.path))
                d = self._slots.observe(slot, d, now)
            elif d.stable_id in seen_ids:
                continue  # renamed: the same identity was read under its new name
            elif d.read_status != "standby":
                self.problem(d.message or f"{t.device}: {d.read_status}")
                log.warning("smart: %s", d.message)
            name = os.path.basename(t.path)
            # behind a controller (/dev/bus/0 -d megaraid,N) the path names no kernel disk
            link = None if "," in t.dev_type else (by_id.get(name) or by_id.get(f"{name}n1"))
            if link and d.by_id is None:
                d = replace(d, by_id=link)
            if d.rejected:
                for r in d.rejected:
                    self.problem(r)
                    log.warning("smart: %s", r)
            out.append(d)
        self._sweeps += 1
        if self.option("selftests") and self._sweeps > 1:
            return [*out, *self._run_selftests(out, targets, now)]
        return out

    def _shared_identities(self, targets: list[Target], results: list[SmartDevice]) -> set[str]:
        """Target keys of disks that report the same identity but are not paths to one disk: paths
        to one disk share a device-mapper holder (dm-multipath); otherwise (cloned VM disks, USB
        bridges passing one serial, redacted serials) they are different disks, kept apart by path
        and said so (``hwagent_disk_identity_shared``), never dropped as a duplicate."""
        groups: dict[str, list[Target]] = {}
        for t, d in zip(targets, results):
            if d.fresh:
                groups.setdefault(d.reported_id, []).append(t)
        out: set[str] = set()
        for sid, ts in groups.items():
            if len(ts) < 2:
                continue
            holders = [set(self.host.listdir(self.host.path("sys", "block", os.path.basename(t.path), "holders")))
                       for t in ts]
            if all(holders) and set.intersection(*holders):
                continue  # multipath: one disk, read once
            if sid not in self._shared_logged:
                self._shared_logged.add(sid)
                log.info("smart: %d disks report the identity %s (%s) and are not paths to one disk: kept apart by "
                         "device path", len(ts), sid, ", ".join(t.path for t in ts))
            out.update(t.key for t in ts)
        return out

    def _with_baseline(self, t: Target, d: SmartDevice, now: float) -> SmartDevice:
        sid = d.stable_id
        d = self._state.enrich(d, now)
        with self._lock:
            for key in [k for k, v in self._known.items() if v.get("id") == sid and k != t.key]:
                del self._known[key]  # the same disk under a new name (sdb -> sdc)
            self._known[t.key] = {**{k: getattr(d, k) for k in _IDENTITY_FIELDS}, "id": sid, "last_success": now}
        self._save(t, d)
        return d

    # ---- self-tests ------------------------------------------------------------------------------------------
    def _run_selftests(self, devices: list[SmartDevice], targets: list[Target], now: float) -> list[SelfTestPlan]:
        plans = []
        tmap = {t.device: t for t in targets}
        due = due_selftests(devices, now, self._selftests, short_hour=int(self.option("selftest_short_hour")),
                            long_weekday=int(self.option("selftest_long_weekday")),
                            long_hour=int(self.option("selftest_long_hour")))
        for d, kind, reason in due:
            started = False
            if reason == "scheduled":
                t = tmap[d.device]
                res = self.host.run(selftest_argv(self.exe, t.path, t.dev_type, kind), self.call_timeout)
                started = res.error is None and res.rc is not None and not (res.rc & 0x07)
                reason = "started" if started else f"smartctl {res.error or f'exit {res.rc}'}"
                if started:
                    self._selftests[(d.stable_id, kind)] = now
                    if self.store is not None:
                        try:
                            self.store.execute(
                                "INSERT INTO disk_selftests (id, kind, started) VALUES (?, ?, ?) ON CONFLICT(id, kind) "
                                "DO UPDATE SET started = excluded.started", (d.stable_id, kind, now))
                        except Exception as exc:  # noqa: BLE001 - the test runs; only its date is not kept
                            log.warning("smart: state store: %s", exc)
            log.info("smart: %s self-test on %s: %s", kind, d.device, reason)
            plans.append(SelfTestPlan(device=d.device, stable_id=d.stable_id, kind=kind, started=started,
                                      reason=reason, time=now))
        return plans
