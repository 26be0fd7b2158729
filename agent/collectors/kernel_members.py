"""The members of :class:`~agent.collectors.kernel_log.KernelLogCollector` (and its
:class:`~agent.collectors.base.BaseCollector`) that the kernel-log source mixins use: the journal
(:mod:`~agent.collectors.kernel_journal`), the previous boot (:mod:`~agent.collectors.kernel_prevboot`)
and rasdaemon/mcelog/enrichment (:mod:`~agent.collectors.kernel_sources`). Declarations for the type
checker only; at run time the class is empty and the collector provides every member.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.collectors.patterns import Classifier
    from agent.collectors.storm import Coalescer
    from agent.host import Host
    from agent.model.events import KernelEvent
    from agent.state.events import EventReads


class KernelLogMembers:
    if TYPE_CHECKING:  # assigned in KernelLogCollector.__init__ (and BaseCollector.__init__)
        host: Host
        history: EventReads
        boot_id: str
        classifier: Classifier
        coalescer: Coalescer
        records_total: int
        malformed: int
        _boot_wall: float | None
        _last_heartbeat: float
        _extra: list[KernelEvent]
        _journal_events: list[KernelEvent]
        _pending_cursors: dict[str, Any]
        _pstore_seen: set[str]
        _journal_cursor: str | None
        _ras_cursor: dict[str, Any] | None
        _mcelog_cursor: dict[str, Any] | None
        _scsi_map: dict[str, str | None]
        _posted: dict[int, tuple[KernelEvent, KernelEvent]]
        _ata_map: dict[str, str] | None

        # BaseCollector
        def option(self, key: str) -> Any: ...
        def problem(self, message: str) -> None: ...

        # KernelLogCollector
        def _wall(self, usec: int | None) -> float | None: ...

        # JournalMixin, used by PreviousBootMixin
        def _journalctl(self) -> list[str] | None: ...
        def _classify_journal(self, text: str, previous_boot: bool) -> str | None: ...
