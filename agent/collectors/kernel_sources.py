"""The kernel-log collector's other sources, as mixins of :class:`~agent.collectors.kernel_log.KernelLogCollector`:
the journal (fallback and previous boot, :mod:`~agent.collectors.kernel_journal`), the previous
boot (unexpected reboot, pstore in ``/sys/fs/pstore`` and systemd-pstore's archive,
:mod:`~agent.collectors.kernel_prevboot`), rasdaemon's database and mcelog's log (here); and the
host-side enrichment of events (ATA port and SCSI address to disk name). Every cursor read is
handed on as a :class:`~agent.model.events.StateUpdate`; the enrichment step stores it only after
the events read with it.
"""

from __future__ import annotations

import logging

from agent.collectors.kernel_journal import JournalMixin
from agent.collectors.kernel_keys import EARLY_BOOT_USEC, MCELOG_CURSOR_KEY, RAS_CURSOR_KEY
from agent.collectors.kernel_prevboot import PreviousBootMixin
from agent.collectors.mcelog import McelogReader
from agent.collectors.patterns import disk_of
from agent.collectors.rasdaemon import RasdaemonError, RasdaemonReader
from agent.model import Severity
from agent.model.events import KernelEvent

log = logging.getLogger("hwagent.kernel_log")

POSTED_MAX = 4096  # templates whose enrichment is remembered (the classifier's replay keeps at most 4,096 steps)


class SourcesMixin(JournalMixin, PreviousBootMixin):
    """rasdaemon, mcelog and the host-side enrichment of events; the journal and the previous
    boot come from their own mixins."""

    def _poll_rasdaemon(self, now: float) -> tuple[list[KernelEvent], dict | None]:
        """New rows of rasdaemon's database (cursor per table, kept with the database path)."""
        if not self.option("rasdaemon"):
            return [], None
        reader = RasdaemonReader(self.host.path(str(self.option("rasdaemon_db"))))
        if not reader.exists():
            return [], None
        stored = self._ras_cursor or self.history.get(RAS_CURSOR_KEY) or {}
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
        cursor = self._mcelog_cursor or self.history.get(MCELOG_CURSOR_KEY) or {}
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
        cls = e.cls
        if not e.component.startswith("disk:") and not (cls == "mce" or cls.startswith("mce.")):
            return e  # nothing to add (most events of a storm: AER, MCE-less): checked once, cheaply
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

    def _fold(self, t: KernelEvent, seq: int, usec: int, time: float | None) -> bool:
        """The classifier's fold hook: a replayed record's event (template ``t``, this record's sequence
        number and time) folded into its storm aggregate without being built, when that gives what
        building, :meth:`_post` and ``Coalescer.add`` would. Not when an event of this poll waits in
        the classifier (the aggregate would take the later record first), when the time is unknown,
        when the template is of another stream, or when the enrichment depends on the record (a
        critical machine check's early-boot mark). A template's enrichment is worked out once: the
        port and address maps it reads are built once (a storm of ATA errors renamed each event)."""
        c = self.classifier
        if c.out or time is None or t.source != c.source or (t.severity >= Severity.CRITICAL and t.family == "mce"):
            return False
        posted = self._posted.get(id(t))
        if posted is None or posted[0] is not t:  # (the template kept: its id is not another's meanwhile)
            if len(self._posted) >= POSTED_MAX:
                self._posted.clear()
            posted = self._posted[id(t)] = (t, self._post(t))
        return self.coalescer.fold(posted[1], seq, time, c.boot_id, c.source, c.previous_boot)

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
