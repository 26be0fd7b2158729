"""Alerts -> incidents (a mixin of :class:`hwstatus.incidents.StatusService`): mapping an alert to
services and an impact, grouping (one host outage is one incident: open, join, escalate), the resolve
debounce (hold) and its timer."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any, Iterable

from hwstatus import texts
from hwstatus.members import ServiceMembers

from hwstatus.alertmap import AlertMatch, alert_host
from hwstatus.config import IMPACT_LABELS, IMPACTS
from hwstatus.inputs import IMPACT_ORDER, OUTAGES, InputError, parse_time

if TYPE_CHECKING:
    pass

log = logging.getLogger("hwstatus")


class AlertsMixin(ServiceMembers):
    def match_alert(self, labels: dict) -> AlertMatch:
        name = labels.get("alertname", "")
        label = IMPACT_LABELS.get(labels.get("impact", ""), labels.get("impact"))
        host_down = (name in self.cfg.host_down_alerts or labels.get("rule") in ("host.down", "agent.down")
                     or labels.get("impact") == "outage")
        if label in IMPACTS:
            impact: str | None = label
        elif host_down:
            impact = "major_outage"
        else:
            impact = self.cfg.severity_impact.get(labels.get("severity", ""))
        if impact == "risk" and labels.get("severity", "") not in self.cfg.risk_severities:
            impact = None  # a warning (or the agent's own health) is the operator's business, not a public notice
        if labels.get("service"):
            wanted = [s.strip() for s in labels["service"].split(",") if s.strip()]
            known = tuple(s for s in wanted if s in self.cfg.services)
            unknown = tuple(s for s in wanted if s not in self.cfg.services)
            if known or not self.cfg.default_service:
                return AlertMatch(known, impact, unknown)
            return AlertMatch((self.cfg.default_service,), impact, unknown)
        host = alert_host(labels)
        out = []
        for sid, svc in self.cfg.services.items():
            if not svc.hosts and not svc.labels:
                continue
            if svc.hosts and host not in svc.hosts and host.split(".")[0] not in svc.hosts:
                continue
            if any(labels.get(k) != v for k, v in svc.labels.items()):
                continue
            if svc.components and not host_down and labels.get("component") not in svc.components:
                continue
            out.append(sid)
        if not out and self.cfg.default_service:
            out.append(self.cfg.default_service)
        return AlertMatch(tuple(out), impact)

    @staticmethod
    def validate_webhook(payload: Any) -> list[dict]:
        """Check an Alertmanager webhook body (version 4); returns normalised alerts or raises InputError."""
        if not isinstance(payload, dict):
            raise InputError(f"body: expected a JSON object, got {type(payload).__name__}")
        version = payload.get("version", "4")
        if str(version) != "4":
            raise InputError(f"version: unsupported Alertmanager webhook version {version!r} (expected \"4\")")
        alerts = payload.get("alerts")
        if not isinstance(alerts, list):
            raise InputError("alerts: missing or not a list")
        out = []
        for i, a in enumerate(alerts):
            where = f"alerts[{i}]"
            if not isinstance(a, dict):
                raise InputError(f"{where}: expected an object")
            status = a.get("status")
            if status not in ("firing", "resolved"):
                raise InputError(f"{where}.status: expected \"firing\" or \"resolved\", got {status!r}")
            labels = a.get("labels")
            if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
                raise InputError(f"{where}.labels: expected an object of string labels")
            ann = a.get("annotations") or {}
            if not isinstance(ann, dict):
                raise InputError(f"{where}.annotations: expected an object")
            starts = parse_time(a.get("startsAt"), f"{where}.startsAt")
            ends = parse_time(a.get("endsAt"), f"{where}.endsAt")
            fp = a.get("fingerprint")
            if fp is not None and not isinstance(fp, str):
                raise InputError(f"{where}.fingerprint: expected a string")
            if not fp:
                fp = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
            out.append({"status": status, "labels": labels, "annotations": {str(k): str(v) for k, v in ann.items()},
                        "starts": starts, "ends": ends, "fingerprint": fp})
        return out

    def handle_alertmanager(self, payload: Any) -> dict:
        alerts = self.validate_webhook(payload)
        now = self.clock()
        result = {"opened": [], "joined": [], "unchanged": 0, "held": [], "reopened": [], "ignored": [], "unmapped": []}
        changed = False
        with self.store.tx() as c:
            # firing alerts first (so a batch that resolves one alert and fires another keeps the incident)
            for a in sorted(alerts, key=lambda a: a["status"] != "firing"):
                if a["status"] == "firing":
                    changed |= self._alert_firing(c, a, now, result)
                else:
                    changed |= self._alert_resolved(c, a, now, result)
        if changed:
            self._changed()
        return result

    def _alert_firing(self, c, a: dict, now: float, result: dict) -> bool:
        fp, labels = a["fingerprint"], a["labels"]
        episode = min(a["starts"] or now, now)
        row = c.execute("SELECT incident_id, status, COALESCE(episode, starts_at) FROM alerts WHERE fingerprint = ?",
                        (fp,)).fetchone()
        if row and row[0] is not None:
            inc = self._incident_row(c, row[0])
            if inc["state"] == "resolved" and row[1] == "firing" and a["starts"] is not None \
                    and abs(episode - row[2]) < 1.0:
                # the operator (or the runbook) resolved it while this very alert episode still fires (a
                # silence, a slow Alertmanager): the decision stands; a new episode opens a new incident
                c.execute("UPDATE alerts SET last_seen = ? WHERE fingerprint = ?", (now, fp))
                result["unchanged"] += 1
                return False
            if inc["state"] != "resolved":
                c.execute("UPDATE alerts SET status = 'firing', ends_at = NULL, last_seen = ? WHERE fingerprint = ?", (now, fp))
                if inc["hold_until"] is not None:  # flapping: back to the previous state, no notice
                    c.execute("UPDATE incidents SET state = ?, hold_until = NULL, hold_state = NULL, ended_at = NULL, "
                              "updated = ? WHERE id = ?", (inc["hold_state"] or "investigating", now, inc["id"]))
                    result["reopened"].append(inc["id"])
                    return True
                result["unchanged"] += 1
                return False
        match = self.match_alert(labels)
        name = labels.get("alertname", fp)
        if match.unknown:
            result["unmapped"].append({"alert": name, "unknown_services": list(match.unknown)})
        if not match.services:
            if not match.unknown:
                result["unmapped"].append({"alert": name, "host": alert_host(labels)})
            log.warning("alert %s (%s) maps to no service; configure statuspage.services or default_service", name, fp)
            return False
        if match.impact is None:
            result["ignored"].append({"alert": name, "severity": labels.get("severity", "")})
            return False
        start = episode
        if match.impact in OUTAGES:
            start = self.sign_of_life(c, alert_host(labels), start, a["annotations"].get("last_seen", ""))
        iid = self._raise(c, match.services, match.impact, start, now, result,
                          summary=a["annotations"].get("customer_summary", ""))
        c.execute("INSERT INTO alerts (fingerprint, incident_id, alertname, labels, status, starts_at, ends_at, last_seen, "
                  "episode) VALUES (?, ?, ?, ?, 'firing', ?, NULL, ?, ?) ON CONFLICT(fingerprint) DO UPDATE SET "
                  "incident_id = excluded.incident_id, labels = excluded.labels, status = 'firing', "
                  "starts_at = excluded.starts_at, ends_at = NULL, last_seen = excluded.last_seen, episode = excluded.episode",
                  (fp, iid, name, json.dumps(labels, sort_keys=True), start, now, episode))
        return True

    def _open_for(self, c, services: Iterable[str], *, maintenance: bool | None = False) -> int | None:
        services = list(services)
        where = "" if maintenance is None else f" AND i.maintenance = {int(maintenance)}"
        row = c.execute(
            "SELECT i.id FROM incidents i JOIN incident_services s ON s.incident_id = i.id "
            f"WHERE i.resolved_at IS NULL{where} AND s.service_id IN ({','.join('?' * len(services))}) "  # noqa: S608
            "ORDER BY i.maintenance, i.id DESC LIMIT 1", services).fetchone()
        return row[0] if row else None

    def _raise(self, c, services: Iterable[str], impact: str, start: float, now: float, result: dict, *,
               summary: str = "", source: str = "alert") -> int:
        """Open the incident of these services, or join (and escalate) the one that is open: one host
        outage is one incident, whatever told us first (a risk finding, an alert, the dead-man switch)."""
        services = tuple(services)
        iid = self._open_for(c, services)
        if iid is None:
            draft = any(self.cfg.services[s].draft for s in services)
            iid = self._create(c, services={s: impact for s in services}, state="investigating", title=None,
                               body=None, started_at=start, now=now, source=source, published=not draft, summary=summary)
            result["opened"].append(iid)
            return iid
        inc = self._incident_row(c, iid)
        have = self._incident_services(c, iid)
        if inc["hold_until"] is not None:
            c.execute("UPDATE incidents SET state = ?, hold_until = NULL, hold_state = NULL, ended_at = NULL WHERE id = ?",
                      (inc["hold_state"] or inc["state"], iid))
            inc.update(state=inc["hold_state"] or inc["state"], hold_until=None, ended_at=None)
        old = inc["impact"]
        if start < inc["started_at"]:
            c.execute("UPDATE incidents SET started_at = ? WHERE id = ?", (start, iid))
            c.execute("UPDATE impact_log SET at = ? WHERE incident_id = ? AND at = ?", (start, iid, inc["started_at"]))
            inc["started_at"] = start
        wanted = {s: impact for s in services if s not in have or IMPACT_ORDER[impact] > IMPACT_ORDER[have[s]]}
        self._change_impact(c, inc, wanted, start, now)
        if IMPACT_ORDER[inc["impact"]] > IMPACT_ORDER[old] and inc["impact"] in OUTAGES:
            # a risk (or a lesser impact) became an outage: the same incident escalates, says so, and mails
            state = "identified" if inc["state"] == "identified" else "investigating"
            self._set_state(c, inc, state, now)
            inc["outage_from"] = start
            sids = list(self._incident_services(c, iid))
            body = self._texts(state, lambda lang: self._context(inc, sids, lang, now, summary=summary))
            self._add_update(c, inc, state, body, now)
            result.setdefault("escalated", []).append(iid)
        result["joined"].append(iid)
        return iid

    def sign_of_life(self, c, host: str, start: float, scraped: str = "") -> float:
        """An outage starts at the host's last sign of life (its last heartbeat, or the last successful scrape
        the alert reports as ``last_seen``) when that is shortly before the alert's own start (a `for:` delay,
        a scrape interval), not at the alert's firing."""
        seen = []
        if host:
            row = c.execute("SELECT MAX(last_seen) FROM heartbeats WHERE host = ? OR host LIKE ?",
                            (host, host.split(".")[0] + ".%")).fetchone()
            if row and row[0] is not None:
                seen.append(row[0])
        try:
            seen.append(float(scraped))
        except ValueError:
            pass  # a scraped value that is not a number is ignored, stored rows still count
        seen = [t for t in seen if start - self.cfg.sign_of_life_window_seconds <= t < start]
        return max(seen) if seen else start

    def _alert_resolved(self, c, a: dict, now: float, result: dict) -> bool:
        fp = a["fingerprint"]
        row = c.execute("SELECT incident_id, status FROM alerts WHERE fingerprint = ?", (fp,)).fetchone()
        if row is None or row[0] is None or row[1] == "resolved":
            result["unchanged"] += 1
            return False
        end = min(a["ends"] or now, now)
        c.execute("UPDATE alerts SET status = 'resolved', ends_at = ?, last_seen = ? WHERE fingerprint = ?", (end, now, fp))
        inc = self._incident_row(c, row[0])
        if inc["state"] == "resolved":
            return True
        firing = [json.loads(r[0]) for r in c.execute("SELECT labels FROM alerts WHERE incident_id = ? AND status = 'firing'",
                                                       (inc["id"],))]
        if firing:
            rest = max((self.match_alert(labels).impact or "risk" for labels in firing), key=lambda i: IMPACT_ORDER[i])
            if inc["impact"] in OUTAGES and IMPACT_ORDER[rest] < IMPACT_ORDER[inc["impact"]] and not inc["operator_touched"]:
                # the outage is over, a lesser alert (the hardware risk) still fires: working again, still a notice
                self._change_impact(c, inc, {sid: rest for sid in self._incident_services(c, inc["id"])}, end, now)
                self._set_state(c, inc, "monitoring", now)
                sids = list(self._incident_services(c, inc["id"]))
                body = self._texts("monitoring", lambda lang: self._context(
                    inc, sids, lang, now, end=texts.fmt_time(end, self.tz, lang)))
                self._add_update(c, inc, "monitoring", body, now)
            return True
        last_end = c.execute("SELECT MAX(ends_at) FROM alerts WHERE incident_id = ?", (inc["id"],)).fetchone()[0] or end
        if self._worst_impact(c, inc) not in OUTAGES and inc["impact"] == "risk":
            # a risk whose alert ended: nothing was down, so no "working again"; resolved quietly after the hold
            # (the finding also vanishes when the host dies: the outage that follows joins this incident)
            c.execute("UPDATE incidents SET hold_until = ?, hold_state = ?, ended_at = ? WHERE id = ?",
                      (now + self.cfg.resolve_hold_seconds, inc["state"], last_end, inc["id"]))
            result["held"].append(inc["id"])
            return True
        hold_state = inc["state"] if inc["state"] != "monitoring" else (inc["hold_state"] or "monitoring")
        c.execute("UPDATE incidents SET hold_until = ?, hold_state = ?, ended_at = ? WHERE id = ?",
                  (now + self.cfg.resolve_hold_seconds, hold_state, last_end, inc["id"]))
        inc.update(ended_at=last_end)
        self._set_state(c, inc, "monitoring", now)
        had = c.execute("SELECT COUNT(*) FROM updates WHERE incident_id = ? AND state = 'monitoring'", (inc["id"],)).fetchone()[0]
        if not had:
            sids = list(self._incident_services(c, inc["id"]))
            body = self._texts("monitoring", lambda lang: self._context(inc, sids, lang, now))
            self._add_update(c, inc, "monitoring", body, now)
        result["held"].append(inc["id"])
        return True

    def tick(self, now: float | None = None) -> list[int]:
        """Finish holds that ran out: resolve (auto_resolve) or leave in monitoring for the operator."""
        now = self.clock() if now is None else now
        due = self.store.query("SELECT id FROM incidents WHERE hold_until IS NOT NULL AND hold_until <= ? "
                               "AND resolved_at IS NULL", (now,))
        done = []
        for row in due:
            with self.store.tx() as c:
                inc = self._incident_row(c, row["id"])
                if inc["hold_until"] is None or inc["hold_until"] > now or inc["state"] == "resolved":
                    continue
                if self.cfg.auto_resolve and not inc["operator_touched"]:
                    self._resolve(c, inc, now)
                    done.append(inc["id"])
                else:
                    c.execute("UPDATE incidents SET hold_until = NULL, hold_state = NULL WHERE id = ?", (inc["id"],))
        if done:
            self._changed()
        return done
