"""agent/fileutil.atomic_write: old content or new content, never half, no temp files left."""

from __future__ import annotations

import os

import pytest

from agent import fileutil


def test_replaces_content_with_mode(tmp_path):
    p = tmp_path / "sub" / "f.json"
    fileutil.atomic_write(p, b"one")
    fileutil.atomic_write(p, b"two", 0o644)
    assert p.read_bytes() == b"two" and (p.stat().st_mode & 0o777) == 0o644
    assert sorted(x.name for x in p.parent.iterdir()) == ["f.json"]


def test_failed_write_keeps_old_content_and_leaves_no_temp(tmp_path, monkeypatch):
    p = tmp_path / "f.json"
    fileutil.atomic_write(p, b"old")

    def boom(*_a):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="No space left"):
        fileutil.atomic_write(p, b"new")
    assert p.read_bytes() == b"old"
    assert [x.name for x in tmp_path.iterdir()] == ["f.json"]


def test_interrupt_during_write_leaves_no_temp(tmp_path, monkeypatch):
    p = tmp_path / "f.json"
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        fileutil.atomic_write(p, b"x")
    assert list(tmp_path.iterdir()) == []
