"""baseline: capture the host baseline daily (and at daemon start) and store it when it changed.

The capture itself lives in :mod:`agent.baseline`; this collector only schedules it inside the
daemon. A new version is stored only when the fingerprint differs from the newest stored one, so
the state store keeps a short history of real changes (see ``agent baseline show --list``). It
produces no readings.
"""

from __future__ import annotations

import logging

from agent.collectors.base import BaseCollector

log = logging.getLogger(__name__)


class BaselineCollector(BaseCollector):
    name = "baseline"
    default_interval = 86400.0
    default_timeout = 120.0
    description = "host baseline (DMI, NICs, disks, arrays, EFI, packages) stored on change"

    last_id: str | None = None
    last_stored: bool = False

    def collect(self):
        from agent import baseline  # noqa: PLC0415

        data = baseline.capture(self.host)
        if self.store is None:
            return ()
        bstore = baseline.BaselineStore(self.store)
        self.last_id, self.last_stored = bstore.save(data)
        if self.last_stored:
            log.info("baseline %s stored (fingerprint changed)", self.last_id)
        return ()
