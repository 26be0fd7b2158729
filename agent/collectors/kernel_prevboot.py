"""kernel_log: the previous boot - an unexpected-reboot event when it ended without the agent's
clean stop, and its panic records from pstore (``/sys/fs/pstore``) and systemd-pstore's archive
(``/var/lib/systemd/pstore``), each file read once."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from agent.collectors.kernel_keys import PREV_CHECKED_KEY, PSTORE_SEEN_KEY, PSTORE_SEEN_MAX
from agent.collectors.kernel_members import KernelLogMembers
from agent.collectors.patterns import Classifier
from agent.host import ReadError
from agent.model import Severity
from agent.model.events import KernelEvent

log = logging.getLogger("hwagent.kernel_log")
# The unexpected-reboot event is dated this long before this boot began. Rules count events in
# whole-minute buckets (EventWindow.count keeps a bucket while bucket start + 60 s > since): dated
# only 2 s before the boot, the old board's death shared its minute bucket with the new board's
# epoch (btime) in 58 of 60 cases and counted on the new board (seen in the VM rehearsal). 60 s
# puts its bucket wholly before the boot; +2 s covers btime's whole seconds vs the uptime-derived
# boot time. (Not the previous boot's last sign of life: a new board's clock may be hours behind
# the old one's, which would date the death after the new board's first boot.)
BEFORE_THIS_BOOT_SECONDS = 62.0


class PreviousBootMixin(KernelLogMembers):
    # ---- previous boot ---------------------------------------------------------------------
    def _check_reboot(self, now: float) -> None:
        """An unexpected-reboot event when the boot before this one ended without a clean stop (the
        enrichment step records this boot as alive after the first run, and its clean stop)."""
        prev = self.history.previous_boot(self.boot_id)
        known = any(b.boot_id == self.boot_id for b in self.history.boots())
        self._last_heartbeat = now
        if prev is None or known or prev.clean_stop is not None:
            return
        # dated a minute before this boot began (the previous boot ended before it): a window still
        # counts it as recent, and after a mainboard swap it belongs to the old board's time (the
        # board epoch starts at this boot, see BEFORE_THIS_BOOT_SECONDS), not to the new board's
        when = min(now, self._boot_wall - BEFORE_THIS_BOOT_SECONDS) if self._boot_wall else now
        self._extra.append(KernelEvent(
            cls="reboot.unexpected", severity=Severity.WARNING, component="board", device="host",
            detail={"previous_boot_id": prev.boot_id, "last_seen": prev.last_seen},
            raw=(f"boot {prev.boot_id} ended without a clean stop of the agent (last sign of life "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(prev.last_seen))} UTC)",),
            source="agent", boot_id=self.boot_id, time=when))

    def _check_previous_boot(self, now: float) -> None:
        prev = self.history.previous_boot(self.boot_id)
        prev_id = prev.boot_id if prev else "previous"
        self._scan_pstore(prev_id, now)
        if self.history.get(PREV_CHECKED_KEY) == self.boot_id:
            return
        prefix = self._journalctl()
        if prefix is not None:
            res = self.host.run([*prefix, "-k", "-b", "-1", "-o", "json", "--no-pager"],
                                float(self.option("journal_timeout_seconds")))
            if res.ok:
                self._classify_journal(res.text(), previous_boot=True)
        self._pending_cursors[PREV_CHECKED_KEY] = self.boot_id

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
        seen = set(self.history.get(PSTORE_SEEN_KEY) or []) | self._pstore_seen
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
            self._pstore_seen = set(sorted(set(current) | seen)[-PSTORE_SEEN_MAX:])
            self._pending_cursors[PSTORE_SEEN_KEY] = sorted(self._pstore_seen)
