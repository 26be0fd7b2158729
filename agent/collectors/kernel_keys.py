"""The kernel-log collector's state keys (cursors kept in the state store's key/value table) and
shared constants."""

CURSOR_KEY = "kernel_log.kmsg_cursor"
JOURNAL_CURSOR_KEY = "kernel_log.journal_cursor"
PREV_CHECKED_KEY = "kernel_log.previous_boot_checked"
RAS_CURSOR_KEY = "kernel_log.rasdaemon_cursor"
MCELOG_CURSOR_KEY = "kernel_log.mcelog_cursor"
PSTORE_SEEN_KEY = "kernel_log.pstore_seen"
PSTORE_SEEN_MAX = 1000
EARLY_BOOT_USEC = 5_000_000  # MCE records logged while machine checks are set up (~0.6 s) describe the previous boot
