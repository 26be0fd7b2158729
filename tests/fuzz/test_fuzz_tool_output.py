"""Fuzz the command runner's output bounds: a tool's stdout larger than its bound (bytes or lines,
per tool name) is dropped with an error naming the bound and the tool is killed; anything within the
bounds comes back unchanged. One real process (`cat`) per example; see tests/fuzz/README.md.
"""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import example, given

from agent.runner import OUTPUT_LIMITS


# ---- large tool outputs ------------------------------------------------------------------------------------
# The property: a tool's stdout beyond its bound (bytes or lines, OUTPUT_LIMITS looked up by the tool's
# name) is an "output too large" error naming the bound, the text is dropped and the tool is gone;
# anything within both bounds comes back byte for byte. The bounds are drawn small (1..4096 bytes,
# 0..64 lines) so that "larger than the bound" costs one `cat` of a few KB; the explicit examples
# keep the real bounds (8 MiB and 100 000 lines; journalctl's 1 000 000 lines) exactly at and one
# past the limit. Profile of the old form (300 examples): a `sh | head | tr` pipeline per example
# (three processes, ~8 ms waiting on the pipeline, ~4 ms fork/exec) with sizes that mostly overflowed
# a fixed bound, so most examples paid for the kill's /proc scan; the space (20 001 sizes x 3 fills)
# was also too small for 100 000 distinct examples.
_REAL_LIMITS = {name: tuple(v) for name, v in OUTPUT_LIMITS.items()}  # before any test patches them
_MiB8, _L100K = _REAL_LIMITS[""]
_JB, _JL = _REAL_LIMITS["journalctl"]


@st.composite
def _tool_outputs(draw):
    name = draw(st.sampled_from(["cat", "journalctl"]))  # "cat" falls to the default bound ""
    max_bytes, max_lines = draw(st.integers(1, 4096)), draw(st.integers(0, 64))
    unit = draw(st.binary(min_size=1, max_size=24))
    aim = draw(st.sampled_from(["bytes", "lines", "any"]))
    if aim == "bytes":  # at the byte bound, give or take two
        size = max(0, max_bytes + draw(st.integers(-2, 2)))
    elif aim == "lines":  # whole lines, at the line bound give or take two
        unit = unit.replace(b"\n", b"")[:8] + b"\n"
        size = len(unit) * max(0, max_lines + draw(st.integers(-2, 2)))
    else:
        size = draw(st.integers(0, 3 * max_bytes))
    return name, max_bytes, max_lines, (unit * (size // len(unit) + 1))[:size]


def test_large_tool_outputs(tmp_path_factory, count, monkeypatch):
    import shutil

    from agent import runner as host_mod
    from agent.host import Host

    monkeypatch.setitem(host_mod.OUTPUT_LIMITS, "", _REAL_LIMITS[""])  # restored after the test
    monkeypatch.setitem(host_mod.OUTPUT_LIMITS, "journalctl", _REAL_LIMITS["journalctl"])
    d = tmp_path_factory.mktemp("tool")
    tools = {"cat": shutil.which("cat"), "journalctl": str(d / "journalctl")}
    assert tools["cat"], "cat not installed"
    (d / "journalctl").symlink_to(tools["cat"])  # cat under the name of a tool with its own bound
    text = d / "out"

    @example(("cat", _MiB8, _L100K, b"a" * _MiB8))
    @example(("cat", _MiB8, _L100K, b"a" * (_MiB8 + 1)))
    @example(("cat", _MiB8, _L100K, b"x\n" * _L100K))
    @example(("cat", _MiB8, _L100K, b"x\n" * (_L100K + 1)))
    @example(("journalctl", _JB, _JL, b"\n" * _JL))
    @example(("journalctl", _JB, _JL, b"\n" * (_JL + 1)))
    @example(("journalctl", _JB, _JL, b"x\n" * (_L100K + 1)))  # over the default bound, within journalctl's
    @given(_tool_outputs())
    def inner(case):
        name, max_bytes, max_lines, data = case
        count()
        other = "journalctl" if name == "cat" else ""
        # the bound of the tool's name applies; the other one is set to 0 bytes, 0 lines: using it fails
        host_mod.OUTPUT_LIMITS[name if name == "journalctl" else ""] = (max_bytes, max_lines)  # type: ignore[index]
        host_mod.OUTPUT_LIMITS[other] = (0, 0)  # type: ignore[index]
        text.write_bytes(data)
        res = Host().run([tools[name], str(text)], timeout=20)
        over_bytes, over_lines = len(data) > max_bytes, data.count(b"\n") > max_lines
        if over_bytes or over_lines:
            allowed = ({f"output too large: more than {max_bytes} bytes (dropped)"} if over_bytes else set()) | (
                {f"output too large: more than {max_lines} lines (dropped)"} if over_lines else set())
            assert res.error in allowed, (res.error, allowed)
            assert res.stdout == b"" and res.rc is None and not res.ok
        else:
            assert res.ok, (res.error, res.rc, res.stderr)
            assert res.stdout == data
        assert not host_mod._running  # nothing the runner started is left running
    inner()


def test_large_output_tool_that_outlives_its_pipe_is_killed(tmp_path, monkeypatch):
    """The part of the property the fuzz target's small outputs cannot show: at the bound the
    runner kills the tool; it does not rely on the tool dying of SIGPIPE when the pipe closes (a
    small `cat` exits by itself, so a runner that forgot the kill would pass the target)."""
    import time

    from agent import runner as host_mod
    from agent.host import Host

    monkeypatch.setitem(host_mod.OUTPUT_LIMITS, "", (4096, 64))
    pidfile = tmp_path / "pid"
    exe = tmp_path / "ipmitool"
    # SIGPIPE ignored: `yes` ends on EPIPE once the runner stops reading, then the tool lives on as sleep
    exe.write_text(f"#!/bin/sh\ntrap '' PIPE\necho $$ > {pidfile}\nyes 2>/dev/null\nexec sleep 300\n")
    exe.chmod(0o755)
    t0 = time.monotonic()
    res = Host().run([str(exe)], timeout=30)
    assert res.error == "output too large: more than 4096 bytes (dropped)" and res.stdout == b""
    assert time.monotonic() - t0 < 10
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
        except OSError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the tool (pid {pid}) still runs after its output overflowed")
