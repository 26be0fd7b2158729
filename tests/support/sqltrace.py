"""Every SQL statement the agent's state store runs, per connection (``sqlite3`` trace callback)."""

from __future__ import annotations

import sqlite3


def trace_store(monkeypatch) -> list[tuple[int, str]]:
    """Patch agent.state.store's ``sqlite3.connect``: -> a list that fills with (connection id,
    statement with its whitespace folded) as the store runs them."""
    from agent.state import store as store_mod  # noqa: PLC0415

    seen: list[tuple[int, str]] = []
    real = sqlite3.connect

    def traced(*a, **kw):
        conn = real(*a, **kw)
        ident = id(conn)
        conn.set_trace_callback(lambda sql: seen.append((ident, " ".join(sql.split()))))
        return conn
    monkeypatch.setattr(store_mod.sqlite3, "connect", traced)
    return seen


def synced_before(seen: list[tuple[int, str]], write_prefix: str) -> bool:
    """The connection that ran a statement starting with ``write_prefix`` set synchronous=FULL
    before it and never NORMAL."""
    conns = [c for c, sql in seen if sql.startswith(write_prefix)]
    assert conns, f"no statement starting with {write_prefix!r}: {seen}"
    on = [sql for c, sql in seen if c == conns[0]]
    first_write = next(i for i, sql in enumerate(on) if sql.startswith(write_prefix))
    return "PRAGMA synchronous = FULL" in on[:first_write] and "PRAGMA synchronous = NORMAL" not in on
