"""ipmi: BMC sensors (values, thresholds, states) and the System Event Log via ipmitool.

Commands, each through ``host.run`` with its own timeout (a hung BMC costs one timeout, never a
stuck thread):

* ``ipmitool sensor``: value, unit, state and the six thresholds per sensor (``nc``/``cr``/``nr``
  states, ``na`` for unreadable values; discrete sensors print hex state bits);
* ``ipmitool sdr elist`` (option ``sdr``): the directional states (``lnr``, ``ucr``...) and the
  text of discrete sensors ("Presence detected, Failure detected"); merged by sensor name and
  occurrence, since BMCs repeat names ("Temp" on several Dell entities);
* ``ipmitool sel elist``: the event log. Every record is keyed by (id, BMC date/time, text) because
  ids restart after a clear and repeat after overflow; records already seen (stored in the state
  store under ``ipmi.sel``) are not new. Records present the first time the agent reads the SEL
  are dated by the BMC's clock when it is plausible, everything later by the agent's clock (BMC
  clocks drift and print "Pre-Init" before they are set). Decoded records are kept for
  ``sel_retention_seconds`` so rules can judge them in a window across restarts.

No ``/dev/ipmi0`` (or ``/dev/ipmi/0``, ``/dev/ipmidev/0``), no ipmitool, or an ipmitool that finds
no BMC is "no data", not an error; a device node that exists but ipmitool cannot open (not root,
or a service sandbox without the device) is an error naming the node. Partial tables (a BMC that stops answering mid-way)
keep the rows that parse; a line that does not parse is skipped and counted.
"""

from __future__ import annotations

import calendar
import re
import time as _time
from dataclasses import dataclass
from typing import Any

from agent.collectors.base import BaseCollector, NoData
from agent.host import parse_float
from agent.model import Reading, Severity
from agent.model.platform import IPMI_STATES, IpmiSelEntry, IpmiSelInfo, IpmiSensor

DEVICE_NODES = (("dev", "ipmi0"), ("dev", "ipmi", "0"), ("dev", "ipmidev", "0"))
NO_BMC_MARKERS = ("could not open device", "no such file or directory", "unable to establish",
                  "get device id command failed", "no ipmi interface", "insufficient privilege")
STORE_KEY = "ipmi.sel"
STATE_VERSION = 1

# unit text -> (kind, scale function)
_UNITS: dict[str, tuple[str, Any]] = {
    "degrees c": ("temperature", lambda v: v),
    "degrees f": ("temperature", lambda v: (v - 32.0) * 5.0 / 9.0),
    "rpm": ("fan", lambda v: v),
    "revolutions": ("fan", lambda v: v),
    "revolution": ("fan", lambda v: v),
    "volts": ("voltage", lambda v: v),
    "amps": ("current", lambda v: v),
    "watts": ("power", lambda v: v),
    "percent": ("percent", lambda v: v / 100.0),
    "discrete": ("discrete", lambda v: v),
}
_THRESHOLDS = ("lnr", "lcr", "lnc", "unc", "ucr", "unr")

# ipmitool's sensor type strings (ipmi_sel.c / ipmi_sdr.c), longest first when matching
SENSOR_TYPES = sorted((
    "Temperature", "Voltage", "Current", "Fan", "Physical Security", "Platform Security", "Processor",
    "Power Supply", "Power Unit", "Cooling Device", "Other", "Memory", "Drive Slot / Bay",
    "POST Memory Resize", "System Firmwares", "System Firmware Progress", "Event Logging Disabled",
    "Watchdog1", "Watchdog", "System Event", "Critical Interrupt", "Button", "Module / Board",
    "Microcontroller", "Add-in Card", "Chassis", "Chip Set", "Other FRU", "Cable / Interconnect",
    "Terminator", "System Boot Initiated", "System Boot / Restart Initiated", "Boot Error", "OS Boot",
    "OS Critical Stop", "Slot / Connector", "System ACPI Power State", "Watchdog2", "Platform Alert",
    "Entity Presence", "Monitor ASIC", "LAN", "Management Subsys Health", "Battery", "Session Audit",
    "Version Change", "FRU State", "OEM",
), key=len, reverse=True)

# Decoded SEL classes (IpmiSelEntry.kind) and their meaning, for README and rules.
SEL_KINDS = {
    "temperature": "temperature threshold crossed",
    "fan": "fan threshold crossed / fan failure",
    "voltage": "voltage threshold crossed or power-good failure",
    "battery": "CMOS/RTC battery low or failed",
    "psu_failure": "power supply failure or predictive failure",
    "psu_redundancy_lost": "power supply redundancy lost or degraded",
    "psu_input_lost": "power supply input (AC/DC) lost",
    "power_loss": "power unit: AC lost / power down",
    "caterr": "processor CATERR / IERR (catastrophic error)",
    "thermal_trip": "processor thermal trip (shutdown for heat)",
    "cpu_error": "processor FRB/BIST/hang/configuration/machine-check error",
    "memory_ce": "memory correctable ECC",
    "memory_ue": "memory uncorrectable ECC / parity",
    "bus_error": "critical interrupt: PCI PERR/SERR, bus fatal/uncorrectable error, NMI",
    "watchdog": "BMC watchdog expired (hard reset / power cycle of a hung host)",
    "os_stop": "OS critical stop (panic) reported to the BMC",
    "system_restart": "system boot / restart initiated",
    "intrusion": "chassis intrusion",
    "drive": "drive slot fault",
    "log_cleared": "event log cleared",
    "log_full": "event log full / almost full",
    "other": "anything else",
}

_DATE_FORMATS = ("%m/%d/%Y", "%m/%d/%y", "%b-%d-%Y", "%Y-%m-%d")
SEVERITY = {"info": Severity.INFO, "warning": Severity.WARNING, "critical": Severity.CRITICAL}
SEL_COMPONENT = {"caterr": "cpu", "thermal_trip": "cpu", "cpu_error": "cpu", "memory_ce": "memory", "memory_ue": "memory",
                 "bus_error": "pcie", "drive": "disk", "watchdog": "system", "os_stop": "system",
                 "system_restart": "system", "log_cleared": "bmc", "log_full": "bmc"}


class IpmiCollector(BaseCollector):
    name = "ipmi"
    default_interval = 60.0
    default_timeout = 90.0
    max_readings = 5_000  # a large BMC has a few hundred sensors (and a SEL summary)
    description = "BMC sensors with thresholds and states, and the System Event Log, via ipmitool"
    options = {
        "ipmitool": (str, "ipmitool", "ipmitool executable (a bare name is searched in PATH and the sbin directories)."),
        "command_timeout_seconds": (float, 25.0, "Timeout of each ipmitool call; a hung BMC costs at most this per call."),
        "sdr": (bool, True, "Also run `ipmitool sdr elist` for directional states and discrete sensor text."),
        "sel": (bool, True, "Read the System Event Log (`ipmitool sel elist`)."),
        "sel_retention_seconds": (float, 30 * 86400.0, "How long decoded SEL records are kept for the rules' windows."),
        "sel_max_kept": (int, 500, "Most decoded SEL records kept (newest win)."),
        "require_device": (bool, True, "Report no data unless /dev/ipmi0, /dev/ipmi/0 or /dev/ipmidev/0 exists."),
    }

    def __init__(self, host, cfg=None, store=None):
        super().__init__(host, cfg, store)
        self._mem_state: dict[str, Any] | None = None  # SEL state when there is no store

    # -- commands -----------------------------------------------------------------------------------
    def _exe(self) -> str:
        """The collector's own `ipmitool` option when set to something else, else `[host] ipmitool`."""
        opt = self.option("ipmitool")
        return self.host.tool("ipmitool") if opt == "ipmitool" else opt

    def _run(self, *args: str):
        exe = self._exe()
        timeout = float(self.option("command_timeout_seconds"))
        return self.host.run([exe, *args], timeout=min(timeout, self.timeout))

    def _check_present(self) -> None:
        if self.option("require_device") and not any(self.host.exists(self.host.path(*p)) for p in DEVICE_NODES):
            raise NoData("no IPMI device (/dev/ipmi0, /dev/ipmi/0, /dev/ipmidev/0): no BMC or ipmi_si/ipmi_devintf not loaded")
        if self.host.runner is None and self.host.which(self._exe()) is None:
            raise NoData(f"{self._exe()} not installed")

    @staticmethod
    def _no_bmc(res) -> bool:
        if res.error and res.error.startswith("not found"):
            return True
        err = (res.stderr or b"").decode("utf-8", "replace").lower()
        return res.rc not in (0, None) and any(m in err for m in NO_BMC_MARKERS) and not res.stdout.strip()

    def _open_refused(self, res) -> str | None:
        """ipmitool could not open a device node that exists: access was refused (not root, or a
        service sandbox whose device list lacks the IPMI device), which is an error, not "no BMC".
        ipmitool tries /dev/ipmi0, /dev/ipmi/0 and /dev/ipmidev/0 in turn and prints the errno of
        the last attempt (usually "No such file or directory"), so the node's existence decides."""
        err = (res.stderr or b"").decode("utf-8", "replace")
        if "could not open device" not in err.lower():
            return None
        nodes = [self.host.path(*p) for p in DEVICE_NODES if self.host.exists(self.host.path(*p))]
        if not nodes:
            return None
        return (f"ipmitool cannot open {self.host.host_path(nodes[0])}, which exists: access refused (the agent "
                "needs root; under systemd the unit needs DeviceAllow=char-ipmidev rw, resolved when the unit "
                "starts, so ipmi_devintf must be loaded by then)")

    def _describe_failure(self, what: str, res) -> str:
        if res.error == "timeout":
            return f"ipmitool {what} timed out after {res.duration_seconds:.0f}s (BMC not answering)"
        if res.error:
            return f"ipmitool {what}: {res.error}"
        err = (res.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        return f"ipmitool {what} exited {res.rc}: {err[-1][:120] if err else 'no message'}"

    # -- collect ------------------------------------------------------------------------------------
    def collect(self) -> list[Reading]:
        self._check_present()
        out: list[Reading] = []
        failures: list[str] = []
        attempted = 0

        attempted += 1
        res = self._run("sensor")
        if self._no_bmc(res):
            denied = self._open_refused(res)
            if denied:
                raise RuntimeError(denied)
            raise NoData(f"no BMC answering: {self._describe_failure('sensor', res)}")
        sensor_rows: list[dict] = []
        if res.stdout.strip():
            sensor_rows = parse_sensor(res.text(), self.problem)
        if not (res.ok or (res.error == "timeout" and sensor_rows) or (res.rc not in (None, 0) and sensor_rows)):
            failures.append(self._describe_failure("sensor", res))
        elif not res.ok:
            self.problem(self._describe_failure("sensor", res) + f"; kept {len(sensor_rows)} parsed rows")

        sdr_rows: list[dict] = []
        if self.option("sdr"):
            attempted += 1
            res = self._run("sdr", "elist")
            if res.stdout.strip():
                sdr_rows = parse_sdr_elist(res.text(), self.problem)
            if not res.ok:
                if sdr_rows:
                    self.problem(self._describe_failure("sdr elist", res) + f"; kept {len(sdr_rows)} parsed rows")
                else:
                    failures.append(self._describe_failure("sdr elist", res))
        out.extend(merge_sensors(sensor_rows, sdr_rows))

        if self.option("sel"):
            attempted += 1
            info = None
            res = self._run("sel", "info")
            if res.ok:
                info = parse_sel_info(res.text())
            state = self._load_state()
            if info is not None and state is not None and state.get("info") == info.signature:
                out.extend(self._sel(None, info, state))  # nothing added or deleted: skip the slow walk
            else:
                res = self._run("sel", "elist")
                text = res.text()
                if res.ok or (text.strip() and res.error != "timeout"):
                    out.extend(self._sel(text, info, state))
                else:
                    failures.append(self._describe_failure("sel elist", res))
                    if state is not None:  # keep judging the records read before: no flapping findings
                        out.extend(self._sel(None, None, state))
        if failures and len(failures) >= attempted:
            raise RuntimeError("; ".join(failures))
        for f in failures:
            self.problem(f)
        return out

    # -- SEL --------------------------------------------------------------------------------------
    def _load_state(self) -> dict[str, Any] | None:
        if self.store is None:
            return self._mem_state
        try:
            st = self.store.get(STORE_KEY)
        except Exception as err:  # noqa: BLE001 - a broken store must not stop SEL reading
            self.problem(f"state store {STORE_KEY}: {err}")
            return self._mem_state
        if not isinstance(st, dict) or st.get("version") != STATE_VERSION:
            return None
        return st

    def _save_state(self, st: dict[str, Any]) -> None:
        self._mem_state = st
        if self.store is not None:
            try:
                self.store.put(STORE_KEY, st)
            except Exception as err:  # noqa: BLE001
                self.problem(f"state store {STORE_KEY}: {err}")

    def _sel(self, text: str | None, info: "SelInfo | None", state: dict[str, Any] | None) -> list[Reading]:
        """Merge the SEL (``text`` of ``sel elist``; None when ``sel info`` shows no change since
        the stored state) into the kept records."""
        now = self.host.now()
        if text is None and state is not None:
            rows = [{"key": k, "id": None} for k in state.get("seen", ())]
            errors: list[str] = []
        else:
            rows, errors = parse_sel_elist(text or "")
        for line in errors[:5]:
            self.problem(f"SEL line not understood: {line[:80]!r}")
        first_read = state is None
        seen = set(state.get("seen", ())) if state else set()
        kept: list[dict] = list(state.get("entries", ())) if state else []
        kept_keys = {e.get("key") for e in kept}
        new = 0
        new_rows: list[dict] = []
        for row in rows:
            if row["key"] in seen or row["key"] in kept_keys:
                continue
            new += 1
            t, src = now, "agent"
            if first_read:
                bt = parse_bmc_time(row["date"], row["time"])
                if bt is not None and 946684800.0 <= bt <= now + 86400.0:
                    t, src = bt, "bmc"
            row = dict(row, seen_time=t, time_source=src)
            kept.append(row)
            new_rows.append(row)
            kept_keys.add(row["key"])
        retention = float(self.option("sel_retention_seconds"))
        # clock jumps: an entry dated in the future stays; one older than the retention goes
        kept = [e for e in kept if isinstance(e.get("seen_time"), (int, float)) and e["seen_time"] >= now - retention]
        kept.sort(key=lambda e: (e["seen_time"], e.get("id", 0)))
        kept = kept[-int(self.option("sel_max_kept")):]
        st = {
            "version": STATE_VERSION,
            "seen": sorted({r["key"] for r in rows}),  # what the SEL holds now: bounded by its size
            "last_id": max((r["id"] for r in rows if r["id"] is not None), default=(state or {}).get("last_id")),
            "entries": kept,
            "updated": now,
            "info": info.signature if info is not None else None,
        }
        self._save_state(st)
        if new_rows:
            self._record_history(new_rows)
        out: list[Reading] = [IpmiSelInfo(entries=len(rows), new_entries=new, kept_entries=len(kept), parse_errors=len(errors),
                                          free_bytes=info.free_bytes if info else None,
                                          overflow=info.overflow if info else None)]
        for e in kept:
            try:
                out.append(entry_from_dict(e))
            except (KeyError, TypeError, ValueError) as err:
                self.problem(f"stored SEL record unusable ({err}); dropped")
        return out


    def _record_history(self, rows: list[dict]) -> None:
        """New SEL records go into the event history (``agent events``), class ``sel.<kind>``."""
        if self.store is None:
            return
        try:
            from agent.events import EventStore  # noqa: PLC0415 - optional capability
            from agent.model.events import KernelEvent  # noqa: PLC0415
        except ImportError:  # pragma: no cover - built without the event history
            return
        boot = self.host.boot_id()
        events = []
        for r in rows:
            e = entry_from_dict(r)
            events.append(KernelEvent(
                cls=f"sel.{e.kind}", severity=SEVERITY.get(e.severity, Severity.INFO), component=SEL_COMPONENT.get(e.kind, "board"),
                device=e.sensor or e.sensor_type or "bmc",
                detail={"sel_id": f"{e.record_id:x}", "bmc_time": e.bmc_time, "sensor_type": e.sensor_type,
                        "event": e.event, "asserted": e.asserted, "reading": e.detail, "time_source": e.time_source},
                raw=(r.get("line") or e.text,), source="sel", boot_id=boot, time=e.time))
        try:
            EventStore(self.store).record_events(events, self.host.now())
        except Exception as err:  # noqa: BLE001 - the SEL reading itself must not fail on the history
            self.problem(f"event history: {err}")


# ---- parsers (pure functions, tested on recorded output) ------------------------------------------

def _num(text: str) -> float | None:
    t = text.strip()
    if not t or t.lower() in ("na", "n/a", "no reading", "disabled"):
        return None
    return parse_float(t)


def parse_sensor(text: str, problem=lambda msg: None) -> list[dict]:
    """``ipmitool sensor``: name | value | unit | state | lnr | lcr | lnc | unc | ucr | unr."""
    rows = []
    for line in text.splitlines():
        if "|" not in line:
            if line.strip():
                problem(f"ipmitool sensor: line without columns {line.strip()[:60]!r}")
            continue
        cols = [c.strip() for c in line.split("|")]
        if len(cols) < 4 or not cols[0]:
            problem(f"ipmitool sensor: truncated row {line.strip()[:60]!r}")
            continue
        name, value_s, unit, state = cols[0], cols[1], cols[2], cols[3]
        unit_l = unit.lower()
        kind, scale = _UNITS.get(unit_l, ("other", lambda v: v))
        row: dict[str, Any] = {"name": name, "unit": unit, "kind": kind}
        if kind == "discrete":
            row["value"] = None
            row["raw_state"] = state or None
            row["state"] = "na" if value_s.lower() == "na" else "ok"
        else:
            v = _num(value_s)
            if v is None and value_s.strip().lower() not in ("na", "n/a", ""):
                problem(f"ipmitool sensor {name}: value not a number {value_s[:20]!r}")
            row["value"] = scale(v) if v is not None else None
            st = state.lower()
            row["state"] = st if st in IPMI_STATES else ("na" if row["value"] is None else "ok")
            if st and st not in IPMI_STATES:
                problem(f"ipmitool sensor {name}: unknown state {state[:12]!r}")
            for i, th in enumerate(_THRESHOLDS):
                tv = _num(cols[4 + i]) if len(cols) > 4 + i else None
                row[th] = scale(tv) if tv is not None else None
        rows.append(row)
    return rows


@dataclass(frozen=True)
class SelInfo:
    entries: int | None
    free_bytes: int | None
    last_add: str | None
    last_del: str | None
    overflow: bool | None

    @property
    def signature(self) -> list:
        """What changes whenever a record is added or deleted (stored as JSON)."""
        return [self.entries, self.last_add, self.last_del]


def parse_sel_info(text: str) -> SelInfo | None:
    """``ipmitool sel info``: ``Key : value`` lines. None unless it has Entries and Last Add Time."""
    kv: dict[str, str] = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            kv[k.strip().lower()] = v.strip()
    entries = kv.get("entries")
    if entries is None or not entries.isdecimal() or "last add time" not in kv:
        return None
    free = kv.get("free space", "").split()
    return SelInfo(entries=int(entries), free_bytes=int(free[0]) if free and free[0].isdecimal() else None,
                   last_add=kv.get("last add time"), last_del=kv.get("last del time"),
                   overflow={"true": True, "false": False}.get(kv.get("overflow", "").lower()))


_SDR_READING = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+(.+?)\s*$")


def parse_sdr_elist(text: str, problem=lambda msg: None) -> list[dict]:
    """``ipmitool sdr elist``: name | id | status | entity | reading."""
    rows = []
    for line in text.splitlines():
        if "|" not in line:
            if line.strip():
                problem(f"ipmitool sdr elist: line without columns {line.strip()[:60]!r}")
            continue
        cols = [c.strip() for c in line.split("|")]
        if len(cols) < 3 or not cols[0]:
            problem(f"ipmitool sdr elist: truncated row {line.strip()[:60]!r}")
            continue
        st = cols[2].lower()
        rows.append({
            "name": cols[0],
            "sensor_id": cols[1] or None,
            "state": st if st in IPMI_STATES else None,
            "entity": cols[3] if len(cols) > 3 and cols[3] else None,
            "reading": cols[4] if len(cols) > 4 else "",
        })
    return rows


def _directional(state: str, value: float | None, th: dict) -> str:
    """Map ``nc``/``cr``/``nr`` to lower/upper using the thresholds the value crossed."""
    if state not in ("nc", "cr", "nr") or value is None:
        return state
    low, high = {"nc": ("lnc", "unc"), "cr": ("lcr", "ucr"), "nr": ("lnr", "unr")}[state]
    if th.get(low) is not None and value <= th[low]:
        return low
    if th.get(high) is not None and value >= th[high]:
        return high
    return state


def merge_sensors(sensor_rows: list[dict], sdr_rows: list[dict]) -> list[IpmiSensor]:
    """Join `sensor` and `sdr elist` rows on (name, n-th occurrence of that name)."""
    def index(rows):
        counts: dict[str, int] = {}
        out = {}
        for r in rows:
            n = counts.get(r["name"], 0)
            counts[r["name"]] = n + 1
            out[(r["name"], n)] = r
        return out

    s_idx, d_idx = index(sensor_rows), index(sdr_rows)
    keys = list(s_idx) + [k for k in d_idx if k not in s_idx]
    out = []
    for key in keys:
        name, n = key
        s, d = s_idx.get(key), d_idx.get(key)
        display = name if n == 0 else f"{name}#{n + 1}"
        if s is None:  # only in sdr elist: take its reading text
            m = _SDR_READING.match(d["reading"] or "")
            kind, scale, value, unit = "discrete", (lambda v: v), None, ""
            if m and m.group(2).lower() in _UNITS:
                unit = m.group(2)
                kind, scale = _UNITS[unit.lower()]
                value = scale(float(m.group(1)))
            if d.get("sensor_id") is None and kind == "discrete" and not d["reading"]:
                continue
            if "dynamic mc" in (d["reading"] or "").lower() or "fru" in (d["reading"] or "").lower()[:4]:
                continue  # management-controller and FRU locator records are not sensors
            out.append(IpmiSensor(name=display, kind=kind, value=value, unit=unit or "discrete",
                                  state=d["state"] or "ok", sensor_id=d.get("sensor_id"), entity=d.get("entity"),
                                  detail=None if kind != "discrete" else (d["reading"] or None)))
            continue
        th = {t: s.get(t) for t in _THRESHOLDS}
        state = s["state"]
        if d is not None and d.get("state") and d["state"] not in ("ok",) and state not in ("na",):
            state = d["state"]  # the directional form (lnr, ucr) when sdr has it
        elif d is not None and d.get("state") == "ns":
            state = "ns"
        state = _directional(state, s.get("value"), th)
        detail = None
        if s["kind"] == "discrete" and d is not None and d.get("reading"):
            detail = d["reading"]
        out.append(IpmiSensor(
            name=display, kind=s["kind"], value=s.get("value"), unit=s["unit"], state=state,
            sensor_id=d.get("sensor_id") if d else None, entity=d.get("entity") if d else None,
            detail=detail, raw_state=s.get("raw_state"), **th,
        ))
    return out


def _split_sensor(col: str) -> tuple[str, str]:
    for t in SENSOR_TYPES:
        if col == t or col.startswith(t + " "):
            return t, col[len(t):].strip()
        if col.lower().startswith(t.lower() + " #") or col.lower().startswith(t.lower() + " "):
            return t, col[len(t):].strip()
    return "", col


def parse_sel_elist(text: str) -> tuple[list[dict], list[str]]:
    """``ipmitool sel elist`` -> records (id, date, time, sensor type/name, event, direction, detail).

    Handles ``MM/DD/YYYY``/``MM/DD/YY`` dates, times with a zone suffix, ``Pre-Init`` timestamps
    and OEM records. "SEL has no entries" is an empty log.
    """
    rows, errors = [], []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.lower().startswith("sel has no entries"):
            continue
        cols = [c.strip() for c in s.split("|")]
        if len(cols) < 4:
            errors.append(s)
            continue
        try:
            rid = int(cols[0], 16)
        except ValueError:
            errors.append(s)
            continue
        if len(cols) >= 5 and (_looks_date(cols[1]) or cols[1].lower() == "pre-init"):
            date, tm, rest = cols[1], cols[2], cols[3:]
        else:  # OEM record without timestamp: id | OEM record xx | data...
            date, tm, rest = "", "", cols[1:]
        sensor_col = rest[0] if rest else ""
        event = rest[1] if len(rest) > 1 else ""
        direction = rest[2] if len(rest) > 2 else ""
        detail_cols = rest[3:]
        if direction.lower() not in ("asserted", "deasserted"):
            if direction:
                detail_cols = [direction, *detail_cols]
            direction = "Asserted"
        stype, sname = _split_sensor(sensor_col)
        detail = " | ".join(c for c in detail_cols if c)
        asserted = direction.lower() == "asserted"
        kind, severity = decode_sel(stype, sname, event, detail, asserted)
        key = f"{rid:x}|{date} {tm}|{sensor_col}|{event}|{direction}"
        rows.append({"id": rid, "key": key, "line": s[:300], "date": date, "time": tm, "sensor_type": stype, "sensor": sname,
                     "event": event, "asserted": asserted, "detail": detail, "kind": kind, "severity": severity})
    return rows, errors


def _looks_date(text: str) -> bool:
    return bool(re.match(r"^(\d{1,2}/\d{1,2}/\d{2,4}|[A-Za-z]{3}-\d{1,2}-\d{4}|\d{4}-\d{2}-\d{2})$", text.strip()))


def parse_bmc_time(date: str, tm: str) -> float | None:
    """BMC date and time as unix seconds, read as UTC (BMCs rarely say which zone they keep);
    ``None`` for Pre-Init and anything unparseable."""
    date = (date or "").strip()
    if not date or date.lower() == "pre-init":
        return None
    clock = (tm or "").strip().split()[0] if tm and tm.strip() else ""
    for fmt in _DATE_FORMATS:
        try:
            st = _time.strptime(f"{date} {clock}", f"{fmt} %H:%M:%S")
        except ValueError:
            continue
        return float(calendar.timegm(st))
    return None


def _threshold_severity(event: str) -> str:
    e = event.lower()
    if "non-recoverable" in e or "non-critical" not in e and "critical" in e:
        return "critical"
    if "non-critical" in e:
        return "warning"
    return "warning"


_PSU_NAME = re.compile(r"\b(ps\d*|psu\d*|pws\d*|power ?supply)\b", re.IGNORECASE)
_VBAT_NAME = re.compile(r"\b(vbat|battery|cmos|rtc)", re.IGNORECASE)
_THRESHOLD_EVENT = re.compile(r"(lower|upper) (non-critical|critical|non-recoverable)", re.IGNORECASE)


def decode_sel(stype: str, sensor: str, event: str, detail: str, asserted: bool) -> tuple[str, str]:
    """(kind, severity) of one SEL record. Deasserted records (a condition clearing) are info."""
    t = stype.lower()
    e = event.lower()
    name = sensor.lower()
    kind, sev = "other", "info"
    if t == "event logging disabled":
        if "cleared" in e:
            kind, sev = "log_cleared", "info"
        elif "full" in e:
            kind, sev = "log_full", "warning"
        else:
            kind, sev = "other", "info"
    elif "caterr" in name or "caterr" in e or re.search(r"\bierr\b", e):
        kind, sev = "caterr", "critical"
    elif t == "processor" or "cpu" in name and "thermal trip" in e:
        if "thermal trip" in e:
            kind, sev = "thermal_trip", "critical"
        elif "throttl" in e:
            kind, sev = "temperature", "warning"
        elif any(k in e for k in ("frb", "bist", "hang", "configuration error", "machine check", "uncorrectable")):
            kind, sev = "cpu_error", "critical"
        elif "presence" in e:
            kind, sev = "other", "info"
        else:
            kind, sev = "cpu_error", "warning"
    elif t == "memory" or ("ecc" in e and ("dimm" in name or "mem" in name)):
        if "uncorrectable" in e or "parity" in e or "fatal" in e:
            kind, sev = "memory_ue", "critical"
        elif "correctable" in e or "ecc" in e:
            kind, sev = "memory_ce", "warning"
        elif "presence" in e:
            kind, sev = "other", "info"
        else:
            kind, sev = "memory_ce", "warning"
    elif "redundancy lost" in e or "redundancy degraded" in e or "non-redundant" in e:
        kind, sev = "psu_redundancy_lost", "warning"
    elif t == "power supply" or (_PSU_NAME.search(name) and ("fail" in name or "fail" in e)):
        if "input lost" in e or "ac lost" in e or "out-of-range" in e:
            kind, sev = "psu_input_lost", "warning"
        elif "fail" in e or "fail" in name or "configuration error" in e or "state asserted" in e:
            kind, sev = "psu_failure", "critical"
        elif "redundan" in e:  # "Fully Redundant", "Redundancy Regained"
            kind, sev = "other", "info"
        elif "presence" in e:
            kind, sev = "other", "info"
        else:
            kind, sev = "psu_failure", "warning"
    elif t == "power unit":
        if "ac lost" in e or "power off" in e or "power down" in e or "failure" in e:
            kind, sev = "power_loss", "warning"
        else:
            kind, sev = "other", "info"
    elif t == "battery" or (t == "voltage" and _VBAT_NAME.search(name)):
        kind = "battery"
        sev = "critical" if ("failed" in e or "critical" in e and "non-critical" not in e) else "warning"
    elif t == "temperature":
        kind, sev = "temperature", _threshold_severity(e)
    elif t == "fan" or (t == "cooling device"):
        kind, sev = "fan", _threshold_severity(e) if _THRESHOLD_EVENT.search(e) else "critical" if "fail" in e or "critical" in e else "warning"
    elif t == "voltage":
        kind = "voltage"
        sev = _threshold_severity(e) if _THRESHOLD_EVENT.search(e) else "critical"
    elif t == "critical interrupt":
        kind = "bus_error"
        sev = "warning" if ("correctable" in e and "uncorrectable" not in e) or "front panel" in e else "critical"
    elif t.startswith("watchdog"):
        kind, sev = "watchdog", "warning"
    elif t == "os critical stop":
        kind, sev = "os_stop", "warning" if "graceful" not in e else "info"
        if "graceful" in e:
            kind = "other"
    elif t in ("system boot initiated", "system boot / restart initiated") or "system restart" in name:
        kind, sev = "system_restart", "info"
    elif t == "physical security":
        kind, sev = "intrusion", "warning"
    elif t == "drive slot / bay":
        kind = "drive"
        sev = "critical" if "fault" in e else "warning" if "predictive" in e or "failure" in e else "info"
    elif _THRESHOLD_EVENT.search(e):
        kind, sev = "other", _threshold_severity(e)
    if not asserted and sev != "info":
        sev = "info"
    return kind, sev


def entry_from_dict(e: dict) -> IpmiSelEntry:
    """A kept record from the store, decoded again (so decoder fixes reach old records)."""
    asserted = bool(e.get("asserted", True))
    kind, severity = decode_sel(str(e.get("sensor_type", "")), str(e.get("sensor", "")),
                                str(e.get("event", "")), str(e.get("detail", "")), asserted)
    return IpmiSelEntry(
        record_id=int(e["id"]), key=str(e["key"]),
        bmc_time=f"{e.get('date', '')} {e.get('time', '')}".strip(),
        time=float(e["seen_time"]), time_source=str(e.get("time_source", "agent")),
        sensor_type=str(e.get("sensor_type", "")), sensor=str(e.get("sensor", "")), event=str(e.get("event", "")),
        asserted=asserted, detail=str(e.get("detail", "")), kind=kind, severity=severity,
    )
