"""agent.host.which gives what shutil.which gives (the daemon does not import shutil)."""

from __future__ import annotations

import os
import shutil

import pytest

from agent.host import which


@pytest.fixture
def bins(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
    (a / "tool").write_text("#!/bin/sh\n")  # not executable: skipped
    (b / "tool").write_text("#!/bin/sh\n")
    (b / "tool").chmod(0o755)
    (a / "dirtool").mkdir(mode=0o755)  # a directory is no tool
    (b / "dirtool").write_text("#!/bin/sh\n")
    (b / "dirtool").chmod(0o755)
    os.symlink(b / "tool", a / "linked")
    os.symlink(tmp_path / "gone", a / "dangling")
    return a, b


@pytest.mark.parametrize("cmd", ["tool", "dirtool", "linked", "dangling", "missing", "a/tool", "b/tool", "sh", ""])
@pytest.mark.parametrize("which_path", ["ab", "ba", "aab", "", "none"])
def test_same_as_shutil_which(bins, monkeypatch, tmp_path, cmd, which_path):
    a, b = bins
    monkeypatch.chdir(tmp_path)
    dirs = {"a": str(a), "b": str(b)}
    path = None if which_path == "none" else os.pathsep.join(dirs[c] for c in which_path)
    assert which(cmd, path) == shutil.which(cmd, path=path)
    monkeypatch.setenv("PATH", os.pathsep.join([str(a), str(b), "/usr/bin", "/bin"]))
    assert which(cmd) == shutil.which(cmd)
    monkeypatch.delenv("PATH")
    assert which(cmd) == shutil.which(cmd)
