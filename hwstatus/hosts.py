"""The host's side of the status service (a mixin of :class:`hwstatus.incidents.StatusService`):
runbook notify steps (Contract C), heartbeats and the dead-man switch."""

from __future__ import annotations

import logging
import math
import re
from typing import TYPE_CHECKING, Any, Callable

from hwstatus import texts
from hwstatus.members import ServiceMembers

from hwstatus.inputs import InputError, parse_time
from hwstatus.readmodel import public

if TYPE_CHECKING:
    pass

log = logging.getLogger("hwstatus")


class HostsMixin(ServiceMembers):
    if TYPE_CHECKING:  # provided by StatusService (hwstatus.incidents) and its other mixins
        _open_for: Callable[..., int | None]
        _alert_firing: Callable[..., bool]
        _alert_resolved: Callable[..., bool]
        sign_of_life: Callable[..., float]
        incident: Callable[[int], dict[str, Any]]
    # ---- runbook notify (Contract C) -----------------------------------------------------------
    NOTIFY_STATES = ("investigating", "identified", "monitoring", "resolved", "maintenance")

    def host_services(self, host: Any) -> list[str]:
        if not isinstance(host, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,253}", host or ""):
            raise InputError(f"host: expected a host name, got {host!r}")
        short = host.split(".")[0]
        out = [sid for sid, svc in self.cfg.services.items() if host in svc.hosts or short in svc.hosts
               or any(h.split(".")[0] == short for h in svc.hosts)]
        if not out and self.cfg.default_service:
            out = [self.cfg.default_service]
        if not out:
            raise InputError(f"host: {host!r} is in no service's hosts (statuspage.services.*.hosts) and no "
                             "default_service is set")
        return out

    def host_notify(self, host: Any, state: Any, *, eta_seconds: Any = None, run_id: str = "", step: str = "",
                    author: str = "") -> dict:
        """A runbook's notify step: attach to the host's open incident (open one only if none is), post
        the state with the service's own text in every language, the ETA from the runbook's remaining
        step estimates, and resolve it. One host outage = one incident, whoever speaks first."""
        sids = self.host_services(host)
        if state not in self.NOTIFY_STATES:
            raise InputError(f"state: expected one of {', '.join(self.NOTIFY_STATES)}, got {state!r}")
        if eta_seconds is not None and (isinstance(eta_seconds, bool) or not isinstance(eta_seconds, (int, float))
                                        or not math.isfinite(eta_seconds) or not 0 <= eta_seconds <= 30 * 86400):
            raise InputError(f"eta_seconds: expected seconds (0 .. 30 days), got {eta_seconds!r}")
        for name, value in (("run_id", run_id), ("step", step), ("author", author)):
            if not isinstance(value, str):
                raise InputError(f"{name}: expected text")
        now = self.clock()
        eta: tuple[float | None, float | None] = (None, None)
        if eta_seconds:  # the runbook's estimate, and half again as a margin
            eta = (now + float(eta_seconds), now + 1.5 * float(eta_seconds))
        source = f"runbook {run_id}".strip()
        with self.store.tx() as c:
            iid = self._open_for(c, sids, maintenance=None)
            if state == "resolved":
                if iid is None:
                    return {"incident": None, "detail": f"no open incident of {host}; nothing to resolve"}
                inc = self._incident_row(c, iid)
                self._resolve(c, inc, now, author=author)
            elif iid is None:
                maint = state == "maintenance"
                st = "identified" if maint else state
                start = now if maint else self.sign_of_life(c, host, now)
                iid = self._create(c, services={s: "maintenance" if maint else "major_outage" for s in sids}, state=st,
                                   title=None, body=None, started_at=start, now=now, source=source, published=True,
                                   eta=eta, maintenance=maint, author=author, operator=True)
            else:
                inc = self._incident_row(c, iid)
                st = "identified" if state == "maintenance" else state
                fields: dict[str, Any] = {"operator_touched": 1, "hold_until": None, "hold_state": None}
                if eta[0] is not None:
                    fields.update(eta_from=eta[0], eta_to=eta[1])
                sets = ", ".join(f"{k} = ?" for k in fields)
                c.execute(f"UPDATE incidents SET {sets} WHERE id = ?", (*fields.values(), iid))  # noqa: S608
                inc.update(fields)
                self._set_state(c, inc, st, now)
                body = self._texts(st, lambda lang: self._context(inc, list(self._incident_services(c, iid)), lang, now))
                self._add_update(c, inc, st, body, now, author=author)
        self._changed()
        return {"incident": public(self.incident(iid)), "detail": f"incident {iid}: {state}"}

    # ---- heartbeats ----------------------------------------------------------------------------
    def heartbeat(self, host: Any, boot_id: Any, boot_time: Any = None) -> dict:
        if not isinstance(host, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,253}", host or ""):
            raise InputError(f"host: expected a host name, got {host!r}")
        if not isinstance(boot_id, str) or not re.fullmatch(r"[A-Za-z0-9-]{1,64}", boot_id or ""):
            raise InputError(f"boot_id: expected the kernel boot id, got {boot_id!r}")
        bt = parse_time(boot_time, "boot_time")
        now = self.clock()
        out: dict[str, Any] = {}
        if bt is not None and bt > now:
            # a new board's clock ahead (or behind the truth): never date the past from a sender's clock
            out["note"] = (f"boot_time {texts.iso(bt)} is {round(bt - now)} s ahead of the status service's clock; "
                           "used the time of this heartbeat instead (check the host's clock/NTP)")
            log.warning("heartbeat from %s: %s", host, out["note"])
            bt = now
        with self.store.tx() as c:
            row = c.execute("SELECT last_seen FROM heartbeats WHERE host = ? AND boot_id = ?", (host, boot_id)).fetchone()
            if row and now - row[0] > self.cfg.heartbeat_gap_seconds:
                c.execute("INSERT OR IGNORE INTO heartbeat_gaps (host, boot_id, start, end) VALUES (?, ?, ?, ?)",
                          (host, boot_id, row[0], now))
            c.execute("INSERT INTO heartbeats (host, boot_id, boot_time, first_seen, last_seen) VALUES (?, ?, ?, ?, ?) "
                      "ON CONFLICT(host, boot_id) DO UPDATE SET last_seen = excluded.last_seen, "
                      "boot_time = COALESCE(heartbeats.boot_time, excluded.boot_time)", (host, boot_id, bt, now, now))
            alive = self._deadman_clear(c, host, now)
        if alive:
            self._changed()
        return {"host": host, "boot_id": boot_id, "last_seen": texts.iso(now), **out}

    # ---- dead-man switch -----------------------------------------------------------------------
    @staticmethod
    def _deadman_fp(host: str) -> str:
        return f"deadman:{host}"

    def _deadman_clear(self, c, host: str, now: float) -> bool:
        row = c.execute("SELECT status FROM alerts WHERE fingerprint = ?", (self._deadman_fp(host),)).fetchone()
        if not row or row[0] != "firing":
            return False
        result = {"opened": [], "joined": [], "unchanged": 0, "held": [], "reopened": [], "ignored": [], "unmapped": []}
        return self._alert_resolved(c, {"fingerprint": self._deadman_fp(host), "ends": now}, now, result)

    def check_heartbeats(self, now: float | None = None) -> list[str]:
        """The dead-man switch: a watched host whose heartbeats stopped for ``deadman_seconds`` opens (or
        escalates) its incident by itself, dated from its last heartbeat, without Prometheus."""
        now = self.clock() if now is None else now
        if self.cfg.deadman_seconds <= 0:
            return []
        fired = []
        rows = self.store.query("SELECT host, MAX(last_seen) AS last FROM heartbeats GROUP BY host")
        for r in rows:
            host, last = r["host"], r["last"]
            if now - last <= self.cfg.deadman_seconds:
                continue
            short = host.split(".")[0]
            if not any(host in svc.hosts or short in {h.split(".")[0] for h in svc.hosts} for svc in self.cfg.services.values()):
                continue  # only hosts named in a service are watched (a removed host stops being watched)
            fp = self._deadman_fp(host)
            with self.store.tx() as c:
                row = c.execute("SELECT status, COALESCE(episode, starts_at) FROM alerts WHERE fingerprint = ?",
                                (fp,)).fetchone()
                if row and row[0] == "firing" and abs(row[1] - last) < 1.0:
                    continue
                result = {"opened": [], "joined": [], "unchanged": 0, "held": [], "reopened": [], "ignored": [],
                          "unmapped": []}
                labels = {"alertname": "HostSilent", "instance": host, "impact": "outage", "severity": "critical",
                          "component": "host"}
                self._alert_firing(c, {"fingerprint": fp, "labels": labels, "annotations": {}, "starts": last,
                                       "ends": None, "status": "firing"}, now, result)
            log.warning("dead-man switch: %s silent since %s (%d s)", host, texts.iso(last), now - last)
            fired.append(host)
        if fired:
            self._changed()
        return fired
