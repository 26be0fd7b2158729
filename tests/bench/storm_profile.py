"""Where the daemon's CPU goes in a kernel-log storm: in-process, deterministic, simulated time.

The storm of tests/bench/test_storm_bench.py (its ``storm_blocks``) is written into the /dev/kmsg
of a small fake host, in 10 ms steps of simulated time (by default a stand-in read one record per
read, as the device is: tests/support/kmsg_device.py; ``--file``: a plain file, read at once); the daemon's own parts run on it
as in ``agent run``: the tail thread's poll (read, account, classify, aggregate; its wake-up
request), the collectors at their intervals and on request (kernel log: at most once a second), the
enrichment step (event store writes, the rules' event window), the snapshot rebuild (rules) after
every collector run, and a /metrics render for a scrape every 0.2 s. Nothing runs concurrently, so
the CPU time of each part is measured alone and is the same from run to run.

Run with the code under test first on the path::

    python tests/bench/storm_profile.py [--lines 600000] [--profile] [--src DIR] [--file]

``--src DIR`` runs the agent package found in DIR (an older checkout: the "before" figure);
``--ab DIR`` runs this tree and DIR alternately (interleaved, ``--rounds`` each) in
subprocesses and prints the ratio of CPU per line. Not a test: prints figures only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RATE = 10_000
POLL = 0.05
SCRAPE_EVERY = 0.2


def run(lines: int, profile: bool, sources: int, device: bool = True) -> dict[str, float]:
    sys.path.append(str(Path(__file__).resolve().parents[2]))  # tests.*; agent from PYTHONPATH/--src first
    from tests.support.kmsg_device import KmsgSocket, patch_reader  # noqa: PLC0415
    from tests.bench.test_storm_bench import storm_blocks  # noqa: PLC0415
    from tests.support.fakesys import FakeSys  # noqa: PLC0415

    import agent.collectors.kernel_log as kl  # noqa: PLC0415
    from agent.daemon import Daemon, host_from_config  # noqa: PLC0415
    from agent.exporter.http import MetricsRenderer  # noqa: PLC0415
    from agent.schema import from_mapping  # noqa: PLC0415
    from agent.state.store import Store  # noqa: PLC0415

    class NoThread:  # the tail thread is driven by hand below
        def __init__(self, *a, **k):
            pass

        def start(self):
            pass

        def join(self, timeout=None):
            pass

    class _Threading:
        Thread = NoThread
        RLock = kl.threading.RLock
        Event = kl.threading.Event

    kl.threading = _Threading  # type: ignore[assignment]

    tmp = Path(tempfile.mkdtemp(prefix="storm-profile-"))
    fs = FakeSys(tmp / "tree")
    fs.proc_basics()
    sock = None
    if device:
        patch_reader()
        (tmp / "tree" / "dev").mkdir(parents=True, exist_ok=True)
        sock = KmsgSocket(tmp / "tree" / "dev" / "kmsg")  # the collector connects on its first run
    else:
        kmsg = fs.write("dev/kmsg", "")
    uptime = 3600.0
    sim = [1_764_003_600.0]
    cfg = from_mapping({"host": {"root": str(tmp / "tree")}, "collectors": {
        "smart": {"enabled": False}, "ipmi": {"enabled": False}, "kernel_log": {"poll_seconds": POLL}}})
    host = host_from_config(cfg, clock=lambda: sim[0])
    store = Store.in_dir(tmp / "state")
    d = Daemon(cfg, host, store, clock=lambda: sim[0])
    renderer = MetricsRenderer(lambda: d.snapshot)
    col = d._slots["kernel_log"].collector
    due = {n: 0.0 for n in d._slots}
    started = {n: -1e9 for n in d._slots}
    parts = {"tail": 0.0, "collect+enrich:kernel_log": 0.0, "collect+enrich:other": 0.0, "rebuild": 0.0,
             "render": 0.0}
    counts = {"kernel_log runs": 0, "rebuilds": 0, "rule runs": 0, "renders": 0, "scrapes": 0, "generations": 0}

    def run_slot(name: str, t: float) -> None:
        slot = d._slots[name]
        c0 = time.process_time()
        d._start(slot, sim[0])
        slot.thread.join()
        c1 = time.process_time()
        d._rebuild()
        c2 = time.process_time()
        parts["collect+enrich:kernel_log" if name == "kernel_log" else "collect+enrich:other"] += c1 - c0
        parts["rebuild"] += c2 - c1
        counts["rebuilds"] += 1
        if name == "kernel_log":
            counts["kernel_log runs"] += 1
        due[name] = t + slot.collector.interval
        started[name] = t

    # first cycle (collectors read what there is, the first snapshot) before the storm
    for name in d._slots:
        run_slot(name, 0.0)
    if sock is not None:
        sock.accept(5)
    blocks = storm_blocks(sources)
    import random  # noqa: PLC0415

    rng = random.Random(7)
    pending: list[str] = []
    seq = 0
    t = 0.0
    written = 0
    next_scrape = 0.0
    next_poll = 0.0
    per_step = int(RATE * 0.01)
    prof = None
    if profile:
        import cProfile  # noqa: PLC0415

        prof = cProfile.Profile()
        prof.enable()
    c_start = time.process_time()
    last_gen = d.snapshot.generation
    with contextlib.nullcontext() if sock is not None else open(kmsg, "a") as out:
        while written < lines:
            t += 0.01
            sim[0] = 1_764_003_600.0 + t
            buf = []
            for _ in range(per_step):
                if not pending:
                    pending = list(rng.choice(blocks))
                seq += 1
                buf.append(f"3,{seq},{int((uptime + t) * 1e6)},-;{pending.pop(0)}\n")
            if sock is not None:
                sock.send([r.encode() for r in buf])
            else:
                out.write("".join(buf))
                out.flush()
            written += per_step
            if t + 1e-9 >= next_poll:  # the tail thread's poll (KernelLogCollector._follow)
                next_poll += POLL
                c0 = time.process_time()
                with col._lock:
                    if not col._drain() and col.classifier.open():
                        col.classifier.flush()
                        col._absorb()
                    news = col.coalescer.has_ready()
                parts["tail"] += time.process_time() - c0
                if news:  # daemon_slots._request_run: debounce 0.2 s, at most once a second
                    due["kernel_log"] = min(due["kernel_log"], max(t + 0.2, started["kernel_log"] + 1.0))
            for name in d._slots:
                if t >= due[name]:
                    run_slot(name, t)
            if d.snapshot.generation != last_gen:
                counts["generations"] += 1
                last_gen = d.snapshot.generation
            if t >= next_scrape:
                next_scrape += SCRAPE_EVERY
                counts["scrapes"] += 1
                if renderer.peek() is None:
                    c0 = time.process_time()
                    renderer.render()
                    parts["render"] += time.process_time() - c0
                    counts["renders"] += 1
    total = time.process_time() - c_start
    if prof is not None:
        import pstats  # noqa: PLC0415

        prof.disable()
        st = pstats.Stats(prof)
        st.sort_stats("cumulative").print_stats(45)
        st.sort_stats("tottime").print_stats(30)
    counts["rule runs"] = d.rule_runs
    daemon = sum(parts.values())  # the daemon's parts only (writing the storm is the simulation's)
    res = {"lines": written, "cpu (with the writer)": total, "us_per_line": 1e6 * daemon / written, **parts, **counts,
           "records_total": col.records_total, "events_total": sum(d.enricher.events.events_total.values())}
    store.close()
    if sock is not None:
        sock.close()
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=600_000)
    ap.add_argument("--sources", type=int, default=20)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--src", default="")
    ap.add_argument("--ab", default="", help="older checkout to compare with (interleaved subprocess runs)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--file", action="store_true", help="a plain-file /dev/kmsg (read at once), not the device stand-in")
    a = ap.parse_args()
    if a.src:
        sys.path.insert(0, a.src)
    if a.ab:
        here = str(Path(__file__).resolve().parents[2])
        res: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(a.rounds):
            for label, src in (("old", a.ab), ("new", here)):
                env = dict(os.environ, PYTHONPATH=src)
                p = subprocess.run([sys.executable, __file__, "--child", "--lines", str(a.lines), "--sources",
                                    str(a.sources), "--src", src, *(["--file"] if a.file else [])], env=env, cwd=here, capture_output=True, text=True, check=True)
                us = float(p.stdout.strip().splitlines()[-1])
                res[label].append(us)
                print(f"{label}: {us:.2f} us/line", flush=True)
        old, new = min(res["old"]), min(res["new"])
        print(f"CPU per storm line, best of {a.rounds}: old {old:.2f} us, new {new:.2f} us, old/new = {old / new:.2f}x "
              f"({100 * (1 - new / old):.0f} % less)")
        return
    r = run(a.lines, a.profile, a.sources, device=not a.file)
    if a.child:
        print(r["us_per_line"])
        return
    for k, v in r.items():
        print(f"{k:28s} {v:,.3f}" if isinstance(v, float) else f"{k:28s} {v:,}")


if __name__ == "__main__":
    main()
