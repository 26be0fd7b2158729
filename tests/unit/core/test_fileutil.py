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


def test_make_temp_is_a_private_new_file_like_mkstemp(tmp_path):
    fd, name = fileutil.make_temp(tmp_path, ".f.json.", ".tmp")
    try:
        st = os.fstat(fd)
        assert (st.st_mode & 0o777) == 0o600 and os.path.samestat(st, os.stat(name))
        assert os.path.isabs(name) and os.path.dirname(name) == str(tmp_path)
        base = os.path.basename(name)
        assert base.startswith(".f.json.") and base.endswith(".tmp") and len(base) > len(".f.json..tmp")
        assert os.get_inheritable(fd) is False  # O_CLOEXEC, as mkstemp
    finally:
        os.close(fd)
    fd2, name2 = fileutil.make_temp(tmp_path, ".f.json.", ".tmp")
    os.close(fd2)
    assert name2 != name


def test_make_temp_never_opens_an_existing_name_or_follows_a_link(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    taken = iter([b"\x00" * 6, b"\x00" * 6, b"\x01" * 6])  # the first name twice: it exists the second time
    monkeypatch.setattr(os, "urandom", lambda n: next(taken))
    os.symlink(victim, tmp_path / f".x.{'00' * 6}.tmp")  # a planted link with the first name
    fd, name = fileutil.make_temp(tmp_path, ".x.", ".tmp")
    os.close(fd)
    assert name == str(tmp_path / f".x.{'01' * 6}.tmp")
    assert victim.read_text() == "keep"
