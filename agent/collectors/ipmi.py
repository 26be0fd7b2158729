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

from typing import Any

from agent.collectors.base import BaseCollector, NoData
from agent.collectors.ipmi_parse import (SENSOR_TYPES, SelInfo, merge_sensors, parse_bmc_time,  # noqa: F401 - re-exported
                                         parse_sdr_elist, parse_sel_elist, parse_sel_info, parse_sensor)
from agent.collectors.ipmi_sel import SEL_COMPONENT, SEL_KINDS, SEVERITY, decode_sel, entry_from_dict  # noqa: F401
from agent.config_types import Regex
from agent.model import Reading, Severity
from agent.model.events import KernelEvent, StateUpdate
from agent.model.platform import IpmiSelInfo
from agent.state.events import EventReads

DEVICE_NODES = (("dev", "ipmi0"), ("dev", "ipmi", "0"), ("dev", "ipmidev", "0"))
NO_BMC_MARKERS = ("could not open device", "no such file or directory", "unable to establish",
                  "get device id command failed", "no ipmi interface", "insufficient privilege")
STORE_KEY = "ipmi.sel"
STATE_VERSION = 1

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
        "include_sensors": (Regex, "", "Only BMC sensors whose name (`CPU1 Temp`) or kind (`temperature`, `fan`, "
                                       "`voltage`, `discrete`...) matches this regex are reported (empty: all; not with exclude_sensors). The SEL is not "
                                       "filtered."),
        "exclude_sensors": (Regex, "", "Skip BMC sensors whose name or kind matches this regex (a sensor the board "
                                       "lists but does not populate)."),
    }
    filters = {"sensor": ("include_sensors", "exclude_sensors")}

    def __init__(self, host, cfg=None, store=None):
        super().__init__(host, cfg, store)
        # the SEL state (records seen and kept): read from the state store once, then kept here; the
        # enrichment step stores each run's copy (a StateUpdate reading) with the run's SEL events
        self._mem_state: dict[str, Any] | None = None
        self._state_loaded = False
        self.history = EventReads(store)

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
        attempted = 1
        sensor_rows = self._sensor_rows(failures)
        sdr_rows: list[dict] = []
        if self.option("sdr"):
            attempted += 1
            sdr_rows = self._sdr_rows(failures)
        sensors = self.device_filters["sensor"]
        out.extend(s for s in merge_sensors(sensor_rows, sdr_rows) if sensors.allows(s.name, s.kind))
        if self.option("sel"):
            attempted += 1
            out.extend(self._sel_readings(failures))
        if failures and len(failures) >= attempted:
            raise RuntimeError("; ".join(failures))
        for f in failures:
            self.problem(f)
        return out

    def _sensor_rows(self, failures: list[str]) -> list[dict]:
        """``ipmitool sensor``: the rows read (a partial read is kept, and said); no BMC: NoData."""
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
        return sensor_rows

    def _sdr_rows(self, failures: list[str]) -> list[dict]:
        """``ipmitool sdr elist``: the rows read (a partial read is kept, and said)."""
        sdr_rows: list[dict] = []
        res = self._run("sdr", "elist")
        if res.stdout.strip():
            sdr_rows = parse_sdr_elist(res.text(), self.problem)
        if not res.ok:
            if sdr_rows:
                self.problem(self._describe_failure("sdr elist", res) + f"; kept {len(sdr_rows)} parsed rows")
            else:
                failures.append(self._describe_failure("sdr elist", res))
        return sdr_rows

    def _sel_readings(self, failures: list[str]) -> list[Reading]:
        """The SEL: the slow ``sel elist`` walk only when ``sel info`` shows a change since the stored state."""
        info = None
        res = self._run("sel", "info")
        if res.ok:
            info = parse_sel_info(res.text())
        state = self._load_state()
        if info is not None and state is not None and state.get("info") == info.signature:
            return self._sel(None, info, state)  # nothing added or deleted: skip the slow walk
        res = self._run("sel", "elist")
        text = res.text()
        if res.ok or (text.strip() and res.error != "timeout"):
            return self._sel(text, info, state)
        failures.append(self._describe_failure("sel elist", res))
        if state is not None:  # keep judging the records read before: no flapping findings
            return self._sel(None, None, state)
        return []

    # -- SEL --------------------------------------------------------------------------------------
    def _load_state(self) -> dict[str, Any] | None:
        if not self._state_loaded:
            self._state_loaded = True
            st = self.history.get(STORE_KEY)
            if isinstance(st, dict):
                self._mem_state = st
        st = self._mem_state
        if not isinstance(st, dict) or st.get("version") != STATE_VERSION:
            return None
        return st

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
        self._mem_state = st
        # kept by the enrichment step: the state, and the new records in the event history
        out: list[Reading] = [StateUpdate(STORE_KEY, st), *self._history_events(new_rows)]
        out.append(IpmiSelInfo(entries=len(rows), new_entries=new, kept_entries=len(kept), parse_errors=len(errors),
                                          free_bytes=info.free_bytes if info else None,
                                          overflow=info.overflow if info else None))
        for e in kept:
            try:
                out.append(entry_from_dict(e))
            except (KeyError, TypeError, ValueError) as err:
                self.problem(f"stored SEL record unusable ({err}); dropped")
        return out


    def _history_events(self, rows: list[dict]) -> list[KernelEvent]:
        """New SEL records as events for the event history (``agent events``), class ``sel.<kind>``."""
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
        return events
