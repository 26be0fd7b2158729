"""Reading incidents back (a mixin of :class:`hwstatus.incidents.StatusService`) and the JSON
shapes for the operator (:func:`public`) and for customers (:func:`for_customers`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from hwstatus import texts
from hwstatus.members import ServiceMembers
from hwstatus.inputs import NotFound

if TYPE_CHECKING:
    pass


class ReadMixin(ServiceMembers):
    def incident(self, incident_id: int) -> dict:
        row = self.store.one("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        if row is None:
            raise NotFound(f"incident {incident_id}: no such incident")
        return self._expand(row)

    def _expand(self, row: dict) -> dict:
        services = self.store.query("SELECT service_id, impact FROM incident_services WHERE incident_id = ? ORDER BY rowid",
                                    (row["id"],))
        updates = self.store.query("SELECT * FROM updates WHERE incident_id = ? ORDER BY id", (row["id"],))
        return {
            "id": row["id"], "title": json.loads(row["title"]), "state": row["state"], "impact": row["impact"],
            "maintenance": bool(row["maintenance"]), "source": row["source"], "published": bool(row["published"]),
            "cause": row["cause"], "eta_from": texts.iso(row["eta_from"]), "eta_to": texts.iso(row["eta_to"]),
            "started_at": texts.iso(row["started_at"]), "created_at": texts.iso(row["created"]),
            "updated_at": texts.iso(row["updated"]), "identified_at": texts.iso(row["identified_at"]),
            "monitoring_at": texts.iso(row["monitoring_at"]), "resolved_at": texts.iso(row["resolved_at"]),
            "ended_at": texts.iso(row["ended_at"]), "hold_until": texts.iso(row["hold_until"]),
            "services": [{"id": s["service_id"], "impact": s["impact"]} for s in services],
            "updates": [{"id": u["id"], "state": u["state"], "body": json.loads(u["body"]), "author": u["author"],
                         "created_at": texts.iso(u["created"]), "edited_at": texts.iso(u["edited"]),
                         "notified": bool(u["queued"])} for u in updates],
            "_raw": row,
        }

    def incidents(self, *, open_only: bool = False, published_only: bool = False, since: float | None = None,
                  limit: int = 200) -> list[dict]:
        where, params = [], []
        if open_only:
            where.append("resolved_at IS NULL")
        if published_only:
            where.append("published = 1")
        if since is not None:
            where.append("(resolved_at IS NULL OR COALESCE(ended_at, resolved_at) >= ?)")
            params.append(since)
        sql = "SELECT * FROM incidents" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
        return [self._expand(r) for r in self.store.query(sql, (*params, limit))]


def public(inc: dict) -> dict:
    """An incident without internal fields (for the operator API's JSON)."""
    return {k: v for k, v in inc.items() if not k.startswith("_") and k != "hold_until"}


def for_customers(inc: dict) -> dict:
    """What the public page, summary.json and feeds show: no operator login names, no sources."""
    out = public(inc)
    out.pop("source", None)
    out["updates"] = [{k: v for k, v in u.items() if k != "author"} for u in out["updates"]]
    return out
