"""Where the status-service client takes its URL and token from (StatusClient.from_env)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from agent.statusclient import ClientError, StatusClient


class _Config:
    def __init__(self, **sections):
        self._s = sections

    def section(self, name):
        return self._s[name]  # KeyError for a section the config lacks


def _notify(**over):
    return SimpleNamespace(**{"url": "https://notify.example", "token": "n-token", "token_file": "",
                              "timeout_seconds": 7.0, **over})


def _sp(**over):
    return SimpleNamespace(**{"public_url": "https://status.example", "read_token": lambda: "sp-token", **over})


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for k in ("HWAGENT_STATUS_URL", "HWAGENT_STATUS_TOKEN", "HWAGENT_STATUS_TOKEN_FILE"):
        monkeypatch.delenv(k, raising=False)


def test_notify_section_first_then_statuspage():
    c = StatusClient.from_env(_Config(notify=_notify(), statuspage=_sp()))
    assert (c.url, c.token, c.timeout) == ("https://notify.example", "n-token", 7.0)
    c = StatusClient.from_env(_Config(statuspage=_sp()))  # no [notify]: the status page's own settings
    assert (c.url, c.token) == ("https://status.example", "sp-token")
    c = StatusClient.from_env(_Config(notify=_notify(url="", token=""), statuspage=_sp()))
    assert (c.url, c.token) == ("https://status.example", "sp-token")


def test_one_section_given_directly():
    assert StatusClient.from_env(_notify()).token == "n-token"
    assert StatusClient.from_env(_sp()).url == "https://status.example"


def test_arguments_beat_environment_beat_config(monkeypatch, tmp_path):
    monkeypatch.setenv("HWAGENT_STATUS_URL", "https://env.example")
    monkeypatch.setenv("HWAGENT_STATUS_TOKEN", "env-token")
    cfg = _Config(notify=_notify())
    assert (StatusClient.from_env(cfg).url, StatusClient.from_env(cfg).token) == ("https://env.example", "env-token")
    c = StatusClient.from_env(cfg, url="https://arg.example", token="arg-token")
    assert (c.url, c.token) == ("https://arg.example", "arg-token")
    monkeypatch.delenv("HWAGENT_STATUS_TOKEN")
    (tmp_path / "tok").write_text("file-token\nignored\n")
    monkeypatch.setenv("HWAGENT_STATUS_TOKEN_FILE", str(tmp_path / "tok"))
    assert StatusClient.from_env(cfg).token == "file-token"


def test_unreadable_token_file_is_named(monkeypatch, tmp_path):
    (tmp_path / "empty").write_text("")
    for path in (tmp_path / "missing", tmp_path / "empty"):
        monkeypatch.setenv("HWAGENT_STATUS_TOKEN_FILE", str(path))
        with pytest.raises(ClientError, match=f"HWAGENT_STATUS_TOKEN_FILE {path}: cannot read a token"):
            StatusClient.from_env(_Config(notify=_notify()))
