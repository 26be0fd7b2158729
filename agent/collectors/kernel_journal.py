"""kernel_log: the journal - ``journalctl -k -o json`` polled after a cursor when /dev/kmsg is
not readable, and the previous boot's kernel messages (``-b -1``) classified once per boot."""

from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any

from agent.collectors.base import NoData
from agent.collectors.kernel_keys import JOURNAL_CURSOR_KEY
from agent.collectors.kernel_members import KernelLogMembers
from agent.collectors.patterns import Classifier

log = logging.getLogger("hwagent.kernel_log")



def _uuid_form(boot_id: object) -> str:
    """The journal's ``_BOOT_ID`` (32 hex digits, sd_id128 form) in the form of
    /proc/sys/kernel/random/boot_id (dashed UUID), which names the boot everywhere else: the same
    kernel record read from /dev/kmsg and from ``journalctl -k -b -1`` then has one dedupe key."""
    text = str(boot_id or "").strip()
    if len(text) == 32:
        try:
            return str(uuid.UUID(hex=text))
        except ValueError:
            return text
    return text


class JournalMixin(KernelLogMembers):
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
        cursor = self._journal_cursor or self.history.get(JOURNAL_CURSOR_KEY)
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
            msg = _message(entry)
            if msg is None:
                self.malformed += 1
                continue
            boot = _uuid_form(entry.get("_BOOT_ID")) or c.boot_id or self.boot_id
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


def _message(entry: dict[str, Any]) -> str | None:
    """An entry's MESSAGE: text, or an array of bytes (journald's form for non-UTF-8 text); None: neither."""
    msg = entry.get("MESSAGE")
    if isinstance(msg, list):
        try:
            msg = bytes(int(b) & 0xFF for b in msg).decode("utf-8", "replace")
        except (TypeError, ValueError):
            msg = None
    return msg if isinstance(msg, str) else None


def _int(v: Any) -> int | None:
    try:
        n = int(v)
        return n if -(1 << 63) <= n < (1 << 63) else None  # journal fields are u64 text; garbage beyond
    except (TypeError, ValueError):
        return None
