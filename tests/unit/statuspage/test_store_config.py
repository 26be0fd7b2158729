"""Store migrations, persistence, a locked database; the [statuspage] config section."""

from __future__ import annotations

import sqlite3

import pytest

from agent import schema as cm
from agent.config import ConfigError
from hwstatus.store import MIGRATIONS, StatusStore, StoreError
from tests.unit.statuspage.conftest import Harness, alert_payload, make_cfg


def test_migrations_and_reopen(tmp_path, clock):
    db = tmp_path / "sub" / "status.db"
    h = Harness(make_cfg(), db=str(db), clock=clock)
    assert h.store.schema_version == len(MIGRATIONS)
    h.call("POST", "/hooks/alertmanager", alert_payload())
    h.store.close()
    h2 = Harness(make_cfg(), db=str(db), clock=clock)
    assert h2.service.incident(1)["state"] == "investigating"
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused(tmp_path):
    db = tmp_path / "status.db"
    con = sqlite3.connect(db)
    con.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    con.close()
    with pytest.raises(StoreError, match="newer than this program"):
        StatusStore(db)


def test_not_a_database(tmp_path):
    db = tmp_path / "status.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        StatusStore(db)


def test_locked_database_is_503_and_nothing_is_lost(tmp_path, clock):
    db = tmp_path / "status.db"
    h = Harness(make_cfg(), db=str(db), clock=clock)
    h.store._conn.execute("PRAGMA busy_timeout = 100")
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    r = h.call("POST", "/hooks/alertmanager", alert_payload())
    assert r.status == 503 and r.headers["Retry-After"] == "5" and "locked" in r.json["error"]
    other.execute("ROLLBACK")
    other.close()
    r = h.call("POST", "/hooks/alertmanager", alert_payload())  # Alertmanager's retry
    assert r.status == 200 and r.json["opened"] == [1]


def test_config_section_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"statuspage\.services\.web\.hostz: unknown key"):
        cm.from_mapping({"statuspage": {"services": {"web": {"hostz": ["a"]}}}})
    with pytest.raises(ConfigError, match=r"statuspage: severity_impact\.critical: unknown impact"):
        cm.from_mapping({"statuspage": {"severity_impact": {"critical": "meh"}}})
    with pytest.raises(ConfigError, match="default_service"):
        cm.from_mapping({"statuspage": {"default_service": "nope"}})
    with pytest.raises(ConfigError, match="unsupported language 'fr'"):
        cm.from_mapping({"statuspage": {"languages": ["fr"]}})
    cfg = make_cfg()
    assert cfg.services["mail"].hosts == ("server-3",) and cfg.services["web"].description == "customers on server-3"


def test_token_file(tmp_path):
    f = tmp_path / "token"
    f.write_text("abc123\n")
    assert make_cfg(token="", token_file=str(f)).read_token() == "abc123"
    with pytest.raises(ConfigError, match="statuspage.token_file"):
        make_cfg(token_file=str(tmp_path / "missing")).read_token()


def test_app_refuses_to_run_without_token(clock):
    from hwstatus.app import StatusApp

    h = Harness(make_cfg(), clock=clock)
    with pytest.raises(StoreError, match="no token configured"):
        StatusApp(h.cfg, h.service, "")


def test_token_from_systemd_credentials(tmp_path, monkeypatch):
    (tmp_path / "statuspage-token").write_text("from-credential\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert make_cfg(token="", token_file="statuspage-token").read_token() == "from-credential"


def test_channel_must_not_run_on_a_monitored_server():
    with pytest.raises(ConfigError, match="smtp_host: server-3.example.net is a monitored server"):
        make_cfg(smtp_host="server-3.example.net")
    with pytest.raises(ConfigError, match="public_url: server-3 is a monitored server"):
        make_cfg(public_url="https://server-3/status")
    assert make_cfg(smtp_host="relay.example.org").smtp_host == "relay.example.org"
