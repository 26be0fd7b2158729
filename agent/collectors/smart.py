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

The collector only reads: the state layer's enrichment step (:mod:`agent.state.enrich`) stores
identity and last good read per device and the baseline of every lifetime counter the rules watch
for growth, and attaches them to the readings. Each device yields one :class:`SmartDevice` per
run; a device that could not be read yields one with ``read_status`` saying why and no health
values, so nothing stale is served as fresh.

Self-tests (option ``selftests``) are started by their own job, :mod:`agent.jobs.selftests`,
which the daemon runs after each sweep.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from agent.collectors.base import BaseCollector, NoData
from agent.collectors.smart_parse import ParseError, classify_failure, parse_json
from agent.collectors.smart_pysmart import host_smartctl_class, import_pysmart, pysmart_to_doc  # noqa: F401 - re-exported
from agent.collectors.smart_targets import (Target, device_name, parse_device_spec, parse_scan,  # noqa: F401 - re-exported
                                            parse_version)
from agent.config_types import ConfigError, Regex
from agent.model.disk import SmartDevice
from agent.state.disks import IDENTITY_FIELDS, known_devices

log = logging.getLogger("hwagent.collectors.smart")

STANDBY_RC = 253  # distinct exit code for "skipped, device in low-power mode" (-n MODE,253)
NOCHECK_MODES = ("never", "sleep", "standby", "idle")
MIN_JSON_VERSION = (7, 0)



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
        "include": (Regex, "", "Only devices whose path or `PATH -d TYPE` matches this regex (empty = all; not with "
                               "exclude)."),
        "exclude": (Regex, "", "Skip devices whose path or `PATH -d TYPE` matches this regex (e.g. `^/dev/loop`)."),
        "workers": (int, 32, "Parallel smartctl calls per sweep (each disk is read by one call)."),
        "command_timeout_seconds": (float, 60.0, "Per-call smartctl timeout; the call is killed when it expires."),
        "standby_mode": (str, "standby", "smartctl `-n` mode: never, sleep, standby, idle (never = always wake)."),
        "standby_max_skips": (int, 6, "Read a sleeping disk anyway after this many skipped sweeps (0 = never)."),
        "standby_ignore": (list[Regex], [], "Regexes of devices never checked for standby (SSDs that always claim it)."),
        "forget_seconds": (float, 7 * 86400.0, "Forget a disk that vanished this long after its last good read (0 = never)."),
        "ignore_rootfs": (bool, False, "Run smartctl even when host.root is not / (a container that sees the host's /dev)."),
        "backend": (str, "auto", "auto (JSON for smartctl >= 7.0, else pySMART), json or pysmart."),
        "selftests": (bool, False, "Run scheduled self-tests: short daily, long weekly, staggered per disk."),
        "selftest_short_hour": (int, 2, "Local hour of the first disk's daily short self-test (the next disk +1 h...)."),
        "selftest_long_weekday": (int, 6, "Weekday of the long self-test (0 = Monday ... 6 = Sunday)."),
        "selftest_long_hour": (int, 3, "Local hour of the first disk's weekly long self-test."),
    }
    filters = {"device": ("include", "exclude")}

    def __init__(self, host, cfg=None, store=None):
        super().__init__(host, cfg, store)
        pfx = f"collectors.{self.name}"
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
        # disks read before (also by an earlier run of the agent): a vanished disk stays visible as
        # unreadable; kept by the state layer's enrichment step, only read here
        self._known.update(known_devices(self.store))

    # ---- config helpers ----
    def _compile(self, pattern: str, key: str):
        try:
            return re.compile(pattern)
        except re.error as exc:
            raise ConfigError(key, f"invalid regex {pattern!r}: {exc}") from None

    @property
    def exe(self) -> str:
        name = self.option("smartctl") or self.host.tool("smartctl")
        if self.host.runner is None and not os.path.isabs(name):
            return self.host.which(name) or name  # PATH plus the sbin dirs systemd units lack
        return name

    @property
    def call_timeout(self) -> float:
        return float(self.option("command_timeout_seconds"))

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
        return self.device_filters["device"].allows(t.path, t.spec, t.device)

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
        ident: dict[str, Any] = {k: info.get(k) for k in IDENTITY_FIELDS if k != "protocol"}
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
        smartctl = host_smartctl_class(mod.smartctl)(self.host, self.exe, self.call_timeout,
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
        """One sweep in named phases: discover, add the known disks that vanished, read them all
        in the pool, then assemble (multipath, renames, links, slots, per-device problems)."""
        if self.host.runner is None and not self.host.is_live and not self.option("ignore_rootfs"):
            # host.root/--path.* point at a captured tree: smartctl would read this machine's disks
            raise NoData("host root is not / (a captured tree?): smartctl not run; set "
                         "collectors.smart.ignore_rootfs = true where the host's /dev is visible (container)")
        backend = self.backend()
        if backend is None:
            return self._without_smartctl()
        targets, scan_ok = self._discover(json_ok=backend == "json")
        now = self.host.now()
        vanished = self._vanished(targets, scan_ok, now)
        if not targets and not vanished:
            raise NoData("smartctl found no devices")
        workers = max(1, min(int(self.option("workers")), len(targets) or 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smartctl") as pool:
            results = list(pool.map(lambda t: self.read_one(t, backend), targets))
        for t in vanished:
            targets.append(t)
            results.append(self._failed(t, "open_failed", f"{t.device}: no longer listed by smartctl --scan-open "
                                        "(removed, failed or renamed?)"))
        return self._assemble(targets, results, now)

    def _known_targets(self) -> list[Target]:
        return [parse_device_spec(k.replace("#", " -d ", 1)) if "#" in k else Target(k) for k in self._known]

    def _without_smartctl(self) -> list[SmartDevice]:
        """No runnable smartctl: the disks configured or read before, each saying so."""
        targets = sorted({t.key: t for t in [*self._explicit, *self._known_targets()]}.values(), key=lambda t: t.key)
        if not targets:
            raise NoData(f"smartctl not found or not runnable ({self.exe}); install smartmontools "
                         "or set [host] smartctl")
        out = [self._failed(t, "no_smartctl", f"{t.device}: smartctl not found or not runnable ({self.exe})")
               for t in targets]
        for d in out:
            self.problem(d.message or d.device)
            log.warning("smart: %s", d.message)
        return out

    def _vanished(self, targets: list[Target], scan_ok: bool, now: float) -> list[Target]:
        """Disks we knew that the scan no longer lists stay visible as unreadable (not silently
        dropped, not served stale) until ``forget_seconds`` after their last good read. When the
        scan itself failed they are read instead (appended to ``targets``)."""
        seen = {t.key for t in targets}
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
        return vanished

    def _assemble(self, targets: list[Target], results: list[SmartDevice], now: float) -> list[SmartDevice]:
        by_id = self._by_id()
        shared = self._shared_identities(targets, results)
        by_path = self._links("by-path", ("pci-", "platform-", "acpi-"))
        out = []
        seen_ids: dict[str, str] = {}
        for t, d in zip(targets, results, strict=True):
            if d.fresh:
                if t.key in shared:
                    d = replace(d, shared_identity_path=t.path + (f"#{t.dev_type}" if t.dev_type else ""))
                if d.stable_id in seen_ids:
                    log.debug("smart: %s is %s again (multipath), skipped", t.spec, seen_ids[d.stable_id])
                    continue
                seen_ids[d.stable_id] = t.device
                d = self._fresh(t, d, now, by_path)
            elif d.stable_id in seen_ids:
                continue  # renamed: the same identity was read under its new name
            elif d.read_status != "standby":
                self.problem(d.message or f"{t.device}: {d.read_status}")
                log.warning("smart: %s", d.message)
            out.append(self._labelled(t, d, by_id))
        return out

    def _fresh(self, t: Target, d: SmartDevice, now: float, by_path: dict[str, str]) -> SmartDevice:
        d = self._remember(t, d, now)
        # a slot: the controller target behind a RAID HBA, else the disk's by-path name
        slot = t.key if "," in t.dev_type else by_path.get(os.path.basename(t.path))
        return replace(d, slot=slot) if slot else d

    def _labelled(self, t: Target, d: SmartDevice, by_id: dict[str, str]) -> SmartDevice:
        """The by-id link name, and the per-device problems (rejected values) reported."""
        name = os.path.basename(t.path)
        # behind a controller (/dev/bus/0 -d megaraid,N) the path names no kernel disk
        link = None if "," in t.dev_type else (by_id.get(name) or by_id.get(f"{name}n1"))
        if link and d.by_id is None:
            d = replace(d, by_id=link)
        for r in d.rejected or ():
            self.problem(r)
            log.warning("smart: %s", r)
        return d

    def _shared_identities(self, targets: list[Target], results: list[SmartDevice]) -> set[str]:
        """Target keys of disks that report the same identity but are not paths to one disk: paths
        to one disk share a device-mapper holder (dm-multipath); otherwise (cloned VM disks, USB
        bridges passing one serial, redacted serials) they are different disks, kept apart by path
        and said so (``hwagent_disk_identity_shared``), never dropped as a duplicate."""
        groups: dict[str, list[Target]] = {}
        for t, d in zip(targets, results, strict=True):
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

    def _remember(self, t: Target, d: SmartDevice, now: float) -> SmartDevice:
        """Keep the disk's identity in memory (a later failed read still names it); the state
        layer's enrichment step stores it and attaches baselines."""
        sid = d.stable_id
        with self._lock:
            for key in [k for k, v in self._known.items() if v.get("id") == sid and k != t.key]:
                del self._known[key]  # the same disk under a new name (sdb -> sdc)
            self._known[t.key] = {**{k: getattr(d, k) for k in IDENTITY_FIELDS}, "id": sid, "last_success": now}
        return replace(d, last_success=now)
