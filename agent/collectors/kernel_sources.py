"""The kernel-log collector's other sources, as a mixin of :class:`~agent.collectors.kernel_log.KernelLogCollector`:
the journal (fallback and previous boot), pstore (``/sys/fs/pstore`` and systemd-pstore's archive),
rasdaemon's database and mcelog's log; and the host-side enrichment of events (ATA port and SCSI
address to disk name). Every cursor read here is persisted by the collector only after the events
read with it are stored.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from agent.collectors.base import NoData
from agent.collectors.mcelog import McelogReader
from agent.collectors.patterns import Classifier, disk_of
from agent.collectors.rasdaemon import RasdaemonError, RasdaemonReader
from agent.host import ReadError
from agent.model import Severity
from agent.model.events import KernelEvent

if TYPE_CHECKING:
    from agent.events import EventStore
    from agent.host import Host

log = logging.getLogger("hwagent.kernel_log")

CURSOR_KEY = "kernel_log.kmsg_cursor"
JOURNAL_CURSOR_KEY = "kernel_log.journal_cursor"
PREV_CHECKED_KEY = "kernel_log.previous_boot_checked"
RAS_CURSOR_KEY = "kernel_log.rasdaemon_cursor"
MCELOG_CURSOR_KEY = "kernel_log.mcelog_cursor"
PSTORE_SEEN_KEY = "kernel_log.pstore_seen"
PSTORE_SEEN_MAX = 1000
EARLY_BOOT_USEC = 5_000_000  # MCE records logged while machine checks are set up (~0.6 s) describe the previous boot


class SourcesMixin:
    if TYPE_CHECKING:  # provided by KernelLogCollector (and its BaseCollector), which mixes this in
        host: Host
        events: EventStore
        boot_id: str
        classifier: Classifier
        records_total: int
        malformed: int
        _boot_wall: float | None
        _extra: list[KernelEvent]
        _journal_events: list[KernelEvent]
        _pending_cursors: dict[str, Any]
        _journal_cursor: str | None
        _ras_cursor: dict[str, Any] | None
        _mcelog_cursor: dict[str, Any] | None
        _ata_map: dict[str, str] | None
        _scsi_map: dict[str, str | None]
        _wall: Callable[[int | None], float | None]
        _write_quietly: Callable[[Callable[[], Any]], None]
        option: Callable[[str], Any]
        problem: Callable[[str], None]

    # ---- journal fallback ------------------------------------------------------------------
    def _journalctl(self) -> list[str] | None:
        """journalctl argv prefix for this host: the live journal, or ``-D {root}/var/log/journal``
        when the host root is not the machine we run on; None when there is none to read."""
        exe = self.host.which("journalctl") or ("journalctl" if self.host.runner is not None else None)
        if exe is None:
            return None
        if self.host.is_live:
            return [exe]
        jdir = self.host.path("/var/log/journal")
        return [exe, "-D", str(jdir)] if os.path.isdir(jdir) else None

    def _poll_journal(self) -> None:
        prefix = self._journalctl()
        if prefix is None:
            raise NoData("no journal to read")
        cursor = self._journal_cursor or self.events.store.get(JOURNAL_CURSOR_KEY)
        argv = [*prefix, "-k", "-o", "json", "--no-pager"]
        argv += [f"--after-cursor={cursor}"] if cursor else ["-b"]
        res = self.host.run(argv, float(self.option("journal_timeout_seconds")))
        if res.error:
            raise RuntimeError(f"journalctl: {res.error}")
        last_cursor = self._classify_journal(res.text(), previous_boot=False)
        if last_cursor:  # persisted once the entries' events are stored
            self._journal_cursor = last_cursor
            self._pending_cursors[JOURNAL_CURSOR_KEY] = last_cursor

    def _classify_journal(self, text: str, previous_boot: bool) -> str | None:
        c = self.classifier if not previous_boot else Classifier(source="journal", boot_id="")
        c.previous_boot = previous_boot
        realtime: dict[int, float] = {}  # journal entries carry their own wall time
        fallback = self._wall
        c.wall = lambda u: realtime.get(u) if u in realtime else (None if previous_boot else fallback(u))
        last_cursor = None
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                self.malformed += 1
                continue
            if not isinstance(entry, dict):
                self.malformed += 1
                continue
            msg = entry.get("MESSAGE")
            if isinstance(msg, list):
                try:
                    msg = bytes(int(b) & 0xFF for b in msg).decode("utf-8", "replace")
                except (TypeError, ValueError):
                    msg = None
            if not isinstance(msg, str):
                self.malformed += 1
                continue
            boot = str(entry.get("_BOOT_ID") or c.boot_id or self.boot_id)
            if boot != c.boot_id:
                c.flush()
                c.boot_id = boot
            usec = _int(entry.get("_SOURCE_MONOTONIC_TIMESTAMP"))
            real = _int(entry.get("__REALTIME_TIMESTAMP"))
            prio = _int(entry.get("PRIORITY"))
            fac = _int(entry.get("SYSLOG_FACILITY"))
            if usec is not None and real is not None:
                if len(realtime) > 100000:
                    realtime.clear()
                realtime[usec] = real / 1e6
            if not previous_boot:
                self.records_total += 1
            c.feed(msg[:8192], (None, usec, prio, fac))
            last_cursor = entry.get("__CURSOR") or last_cursor
        c.flush()
        if previous_boot:
            self._extra.extend(c.take())
        else:
            self._journal_events.extend(c.take())
        return last_cursor

    # ---- previous boot ---------------------------------------------------------------------
    def _check_reboot(self, now: float) -> None:
        prev = self.events.previous_boot(self.boot_id)
        known = any(b.boot_id == self.boot_id for b in self.events.boots())
        self._write_quietly(lambda: self.events.boot_alive(self.boot_id, now))
        self._last_heartbeat = now
        if prev is None or known or prev.clean_stop is not None:
            return
        self._extra.append(KernelEvent(
            cls="reboot.unexpected", severity=Severity.WARNING, component="board", device="host",
            detail={"previous_boot_id": prev.boot_id, "last_seen": prev.last_seen},
            raw=(f"boot {prev.boot_id} ended without a clean stop of the agent (last sign of life "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(prev.last_seen))} UTC)",),
            source="agent", boot_id=self.boot_id, time=now))

    def _check_previous_boot(self, now: float) -> None:
        prev = self.events.previous_boot(self.boot_id)
        prev_id = prev.boot_id if prev else "previous"
        self._scan_pstore(prev_id, now)
        if self.events.store.get(PREV_CHECKED_KEY) == self.boot_id:
            return
        prefix = self._journalctl()
        if prefix is not None:
            res = self.host.run([*prefix, "-k", "-b", "-1", "-o", "json", "--no-pager"],
                                float(self.option("journal_timeout_seconds")))
            if res.ok:
                self._classify_journal(res.text(), previous_boot=True)
        self.events.store.put(PREV_CHECKED_KEY, self.boot_id)

    def _pstore_files(self) -> list[tuple[str, Path]]:
        """(identity, path) of every previous-boot record file: ``/sys/fs/pstore/{dmesg,console}-*``
        and what systemd-pstore.service moved to ``/var/lib/systemd/pstore/`` at boot (Debian 12
        default: each record group in ``<record id>/`` as its ``dmesg-*`` parts plus the reassembled
        ``dmesg.txt``, which alone is read then; ungrouped files at the top level). The archive keeps
        records of every boot: only files written since this boot started are new."""
        out: list[tuple[str, Path]] = []
        pstore = self.host.path("sys", "fs", "pstore")
        for name in self.host.listdir(pstore):
            if name.startswith(("dmesg-", "console-")) and not name.endswith((".z", ".enc.z")):
                out.append((name, pstore / name))
        archive = self.host.path("var", "lib", "systemd", "pstore")
        since = (self._boot_wall or 0.0) - 120.0  # the copy happens early in this boot
        for name in self.host.listdir(archive):
            path = archive / name
            if os.path.isdir(path):
                names = self.host.listdir(path)
                picks = ["dmesg.txt"] if "dmesg.txt" in names else \
                    [n for n in names if n.startswith(("dmesg-", "console-")) and not n.endswith(".z")]
                cands = [(f"systemd/{name}/{n}", path / n) for n in picks]
            elif name.startswith(("dmesg", "console-")) and not name.endswith(".z"):
                cands = [(f"systemd/{name}", path)]
            else:
                continue
            for ident, fp in cands:
                try:
                    if os.stat(fp).st_mtime < since:
                        continue
                except OSError:
                    continue
                out.append((ident, fp))
        return out

    def _scan_pstore(self, prev_id: str, now: float) -> None:
        """New previous-boot record files (each read once; pstore may be mounted, and systemd-pstore
        may move its files, after the agent starts, so this repeats during the first minutes of a
        boot). The same record read from both places is one event (same boot, same timestamps)."""
        found: list[KernelEvent] = []
        seen = set(self.events.store.get(PSTORE_SEEN_KEY) or [])
        current: list[str] = []
        for name, path in self._pstore_files():
            try:
                st = os.stat(path)
                ident = f"{name}:{st.st_size}:{int(st.st_mtime)}"
            except OSError:
                ident = name
            current.append(ident)
            if ident in seen:  # pstore keeps its records until erased: read each file once
                continue
            try:
                text = self.host.read_file(path, 4 << 20)
            except ReadError as err:
                self.problem(str(err))
                continue
            c = Classifier(source="pstore", boot_id=prev_id)
            c.previous_boot = True
            c.scan_text(text.splitlines())
            c.flush()
            for e in c.take():
                found.append(e.replace(time=e.time or now, detail=dict(e.detail, pstore_file=name)))
        self._extra.extend(found)
        if set(current) - seen:
            self.events.store.put(PSTORE_SEEN_KEY, sorted(set(current) | seen)[-PSTORE_SEEN_MAX:])

    def _poll_rasdaemon(self, now: float) -> tuple[list[KernelEvent], dict | None]:
        """New rows of rasdaemon's database (cursor per table, kept with the database path)."""
        if not self.option("rasdaemon"):
            return [], None
        reader = RasdaemonReader(self.host.path(str(self.option("rasdaemon_db"))))
        if not reader.exists():
            return [], None
        stored = self._ras_cursor or self.events.store.get(RAS_CURSOR_KEY) or {}
        path = str(reader.path)
        cursor = stored.get("tables", {}) if isinstance(stored, dict) and stored.get("path") == path else {}
        try:
            evs, new = reader.read({k: int(v) for k, v in cursor.items() if isinstance(v, int)}, now)
        except RasdaemonError as exc:
            self.problem(f"rasdaemon database: {exc}")
            return [], None
        if not evs and new == cursor:
            return [], None
        self._ras_cursor = {"path": path, "tables": new}
        return evs, self._ras_cursor

    def _poll_mcelog(self, now: float) -> list[KernelEvent]:
        """New blocks of mcelog's log (cursor: inode and offset, persisted with the events)."""
        name = str(self.option("mcelog_log") or "")
        if not name:
            return []
        reader = McelogReader(self.host.path(name))
        if not reader.exists():
            return []
        cursor = self._mcelog_cursor or self.events.store.get(MCELOG_CURSOR_KEY) or {}
        try:
            evs, new = reader.read(cursor if isinstance(cursor, dict) else {}, now)
        except OSError as exc:
            self.problem(f"mcelog log {self.host.host_path(reader.path)}: {exc.strerror or exc}")
            return []
        if new != cursor:
            self._mcelog_cursor = new
            self._pending_cursors[MCELOG_CURSOR_KEY] = new
        return evs

    def _post(self, e: KernelEvent) -> KernelEvent:
        """Host-side enrichment: ATA port -> disk name, early-boot MCE records."""
        if e.source == "rasdaemon" and e.component.startswith("disk:") and e.device.count(":") == 1:
            target = self.host.realpath(self.host.path("sys", "dev", "block", e.device))  # "8:16" -> .../sdb
            name = target.name if target.name and target.name != e.device else ""
            if name:
                e = e.replace(component=f"disk:{disk_of(name)}", device=name, detail=dict(e.detail, dev_t=e.device))
        if e.component.startswith("disk:") and e.detail.get("hctl") == e.device:
            disk = self._scsi_disk(e.device)  # "sd 2:0:0:0: rejecting I/O ..." names no disk
            if disk:
                e = e.replace(component=f"disk:{disk}", device=disk, detail=dict(e.detail, disk=disk))
        if e.component.startswith("disk:ata"):
            disk = self._ata_disk(e.component[5:])
            if disk:
                e = e.replace(component=f"disk:{disk}", detail=dict(e.detail, disk=disk))
        if e.family == "mce" and e.severity >= Severity.CRITICAL and e.monotonic_usec is not None \
                and e.monotonic_usec < EARLY_BOOT_USEC:
            e = e.replace(detail=dict(e.detail, early_boot=True))
        return e

    def _scsi_disk(self, hctl: str) -> str | None:
        if hctl not in self._scsi_map:
            names = self.host.listdir(self.host.path("sys", "bus", "scsi", "devices", hctl, "block"))
            self._scsi_map[hctl] = sorted(names)[0] if names else None
        return self._scsi_map[hctl]

    def _ata_disk(self, port: str) -> str | None:
        if self._ata_map is None:
            self._ata_map = {}
            block = self.host.path("sys", "block")
            for dev in self.host.listdir(block):
                target = str(self.host.realpath(block / dev / "device"))
                for part in target.split("/"):
                    if part.startswith("ata") and part[3:].isdecimal():
                        self._ata_map.setdefault(part, dev)
                        break
        return self._ata_map.get(port)


def _int(v: Any) -> int | None:
    try:
        n = int(v)
        return n if -(1 << 63) <= n < (1 << 63) else None  # journal fields are u64 text; garbage beyond
    except (TypeError, ValueError):
        return None
