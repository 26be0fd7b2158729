"""journald's note that the previous boot ended uncleanly."""

from __future__ import annotations

from agent.collectors.patterns.heads import HEADS
from agent.collectors.patterns.record import FamilyParser, Meta
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = 'journal'
HEAD = HEADS[NAME]  # message starts (stage 1 prefilter): agent.collectors.patterns.heads




class Parser(FamilyParser):
    # journald's note that the previous boot ended without a clean shutdown
    def _f_journal(self, msg: str, meta: Meta) -> None:
        if "uncleanly shut down" in msg or "corrupted or uncleanly" in msg:
            self._emit("system.journal_unclean", I, "board", "journal", {"message": msg.split(": ", 1)[1]}, (msg,), meta)

# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('systemd-journald[312]: File /var/log/journal/x/system.journal corrupted or uncleanly shut down, renaming and replacing.',), 'system.journal_unclean', 'board', 'journal'),
)
