"""Credentials of the status service, one per role, stored hashed and revocable.

Roles:

* ``operator`` — everything (the operator's CLI and phone). The token from the config
  (``token``/``token_file``) is an operator credential too.
* ``alertmanager`` — only ``POST /hooks/alertmanager``.
* ``host`` — bound to one monitored host: its heartbeats, its runbook's notify steps
  (``/api/hosts/<host>/notify``) and its documents (``/api/hosts/<host>/baseline|checklist``),
  nothing else. A compromised or decommissioned server can neither resolve other hosts' outages nor
  read subscribers; revoking its credential cuts it off.

Tokens are 256-bit random strings shown once at creation; the database keeps their SHA-256 (a
random token needs no slow password hash), so a copy of the database lets nobody in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

ROLES = ("operator", "alertmanager", "host")
NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
HOST_RE = re.compile(r"^[A-Za-z0-9._-]{1,253}$")


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    host: str = ""

    def may_act_for(self, host: str) -> bool:
        if self.role == "operator":
            return True
        return self.role == "host" and host.split(".")[0].lower() == self.host.split(".")[0].lower()


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(store, name: str, role: str, host: str = "", *, now: float) -> str:
    """A new credential; returns the token (shown once, never stored)."""
    if not NAME_RE.match(name or ""):
        raise ValueError(f"name: expected letters, digits, '.', '_' or '-' (1-64), got {name!r}")
    if role not in ROLES:
        raise ValueError(f"role: expected one of {', '.join(ROLES)}, got {role!r}")
    if role == "host" and not HOST_RE.match(host or ""):
        raise ValueError("host: a host credential names its host (--host server-3)")
    if role != "host" and host:
        raise ValueError(f"host: only host credentials are bound to a host (role {role})")
    token = "hws_" + secrets.token_urlsafe(32)
    with store.tx() as c:
        row = c.execute("SELECT revoked FROM credentials WHERE name = ?", (name,)).fetchone()
        if row is not None and row[0] is None:
            raise ValueError(f"name: credential {name!r} exists; revoke it first or pick another name")
        c.execute("INSERT INTO credentials (name, role, host, token_sha256, created) VALUES (?, ?, ?, ?, ?) "
                  "ON CONFLICT(name) DO UPDATE SET role = excluded.role, host = excluded.host, "
                  "token_sha256 = excluded.token_sha256, created = excluded.created, revoked = NULL, last_used = NULL",
                  (name, role, host, digest(token), now))
    return token


def revoke(store, name: str, *, now: float) -> bool:
    with store.tx() as c:
        return c.execute("UPDATE credentials SET revoked = ? WHERE name = ? AND revoked IS NULL", (now, name)).rowcount == 1


def listing(store) -> list[dict]:
    return store.query("SELECT name, role, host, created, last_used, revoked FROM credentials ORDER BY name")


def verify(store, token: str, config_token: bytes, *, now: float) -> Principal | None:
    if not token:
        return None
    if config_token and hmac.compare_digest(token.encode(), config_token):
        return Principal("config", "operator")
    row = store.one("SELECT name, role, host, last_used FROM credentials WHERE token_sha256 = ? AND revoked IS NULL",
                    (digest(token),))
    if row is None:
        return None
    if row["last_used"] is None or now - row["last_used"] > 60:
        with store.tx() as c:
            c.execute("UPDATE credentials SET last_used = ? WHERE name = ?", (now, row["name"]))
    return Principal(row["name"], row["role"], row["host"])
