"""Store writes off the daemon's loop: collecting and serving never wait on the state store.

Another process holding SQLite's write lock (a backup tool, ``sqlite3`` in a shell) made every
store call wait its busy timeout, and the daemon loop with it: the served snapshot froze while
``/-/healthy`` said 200. The daemon now hands finding lifecycles, samples, ack expiry and pruning
to this writer thread. A stuck writer keeps only the newest findings (they are idempotent upserts)
and a bounded backlog of sample batches, and says so; reads (acks, history) use a separate
connection that WAL lets run beside a writer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any, Mapping, Sequence

log = logging.getLogger("hwagent.store")

MAX_SAMPLE_BATCHES = 256  # about 4 h of per-minute sample batches held while the store is stuck


class StoreWriter:
    def __init__(self, store: Any):
        self.store = store
        self._cv = threading.Condition()
        self._findings: tuple[Sequence[Any], float] | None = None
        self._samples: deque[tuple[str, float, Mapping[str, float]]] = deque(maxlen=MAX_SAMPLE_BATCHES)
        self._unacks: set[tuple[str, str]] = set()
        self._prune: float | None = None
        self.dropped_batches = 0
        self.last_error: str | None = None
        self.busy_since: float | None = None  # monotonic start of the write in progress
        self._thread: threading.Thread | None = None
        self._stop = False

    def submit(self, findings: Sequence[Any], now: float, samples: tuple[str, float, Mapping[str, float]] | None = None,
               unacks: Sequence[tuple[str, str]] = (), prune_before: float | None = None) -> None:
        with self._cv:
            self._findings = (tuple(findings), now)
            if samples is not None and samples[2]:
                if len(self._samples) == self._samples.maxlen:
                    self.dropped_batches += 1
                self._samples.append(samples)
            self._unacks.update(unacks)
            if prune_before is not None:
                self._prune = prune_before
            self._cv.notify()
        if self._thread is None:
            self.flush()  # no writer thread (agent check, tests): write now

    def pending(self) -> int:
        with self._cv:
            return (self._findings is not None) + len(self._samples) + len(self._unacks) + (self._prune is not None)

    def flush(self) -> None:
        with self._cv:
            findings, self._findings = self._findings, None
            samples = list(self._samples)
            self._samples.clear()
            unacks, self._unacks = self._unacks, set()
            prune, self._prune = self._prune, None
        if findings is None and not samples and not unacks and prune is None:
            return
        self.busy_since = time.monotonic()
        done = 0
        try:
            for key in unacks:
                self.store.unack(*key)
            if findings is not None:
                self.store.record_findings(findings[0], findings[1])
            for boot, ts, values in samples:
                self.store.record_samples(boot, ts, values)
                done += 1
            if prune is not None:
                self.store.prune_samples(prune)
            self.last_error = None
        except Exception as exc:  # noqa: BLE001 - a broken store must not stop monitoring
            self.last_error = str(exc)
            log.error("state store: %s", exc)
            with self._cv:  # keep what was not written (bounded), newest findings win
                for item in reversed(samples[done:]):
                    if len(self._samples) < MAX_SAMPLE_BATCHES:
                        self._samples.appendleft(item)
                    else:
                        self.dropped_batches += 1
                self._unacks |= unacks
        finally:
            self.busy_since = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stop and self._findings is None and not self._samples and not self._unacks \
                        and self._prune is None:
                    self._cv.wait(5.0)
                stopping = self._stop
            self.flush()
            if self.last_error is not None and not stopping:
                time.sleep(5.0)  # a failing store is retried, not hammered
            if stopping:
                return

    def stuck_for(self) -> float:
        since = self.busy_since
        return 0.0 if since is None else time.monotonic() - since
