"""Finite, inclusive ranges for every numeric configuration key (a test checks none is missing).

Keys are dotted paths as errors name them; ``*`` matches one collector name. Values outside the
range are refused when the config is loaded, naming the key (`agent config check` exits 2,
`agent run` does not start).
"""

from __future__ import annotations

DAY = 86400.0
NUMERIC_RANGES: dict[str, tuple[float, float]] = {
    "daemon.workers": (1, 256),
    "collectors.*.interval_seconds": (0.05, 30 * DAY),
    "collectors.*.timeout_seconds": (0.05, DAY),
    "collectors.ipmi.command_timeout_seconds": (0.1, 3600),
    "collectors.ipmi.sel_retention_seconds": (3600, 3650 * DAY),
    "collectors.ipmi.sel_max_kept": (1, 100_000),
    "collectors.smart.workers": (1, 256),
    "collectors.smart.command_timeout_seconds": (0.1, 3600),
    "collectors.smart.standby_max_skips": (0, 10_000),
    "collectors.smart.forget_seconds": (0, 3650 * DAY),
    "collectors.smart.selftest_short_hour": (0, 23),
    "collectors.smart.selftest_long_weekday": (0, 6),
    "collectors.smart.selftest_long_hour": (0, 23),
    "collectors.kernel_log.retention_days": (1, 3650),
    "collectors.kernel_log.max_events": (100, 10_000_000),
    "collectors.kernel_log.window_seconds": (60, 365 * DAY),
    "collectors.kernel_log.poll_seconds": (0.01, 60),
    "collectors.kernel_log.journal_timeout_seconds": (0.1, 3600),
    "collectors.baseline.full_interval_seconds": (60, 365 * DAY),
    # options of the baseline collector on the main line (checked once merged)
    "collectors.baseline.known_good_after_days": (0, 3650),
    "collectors.baseline.backup_rpo_hours": (0.01, 24 * 3650),
    "collectors.baseline.backup_check_interval_seconds": (1, 30 * DAY),
    "notify.timeout_seconds": (0.1, 600),
    "recovery.baseline_max_age_hours": (0, 24 * 3650),
    "statuspage.resolve_hold_seconds": (0, 30 * DAY),
    "statuspage.update_interval_minutes": (1, 7 * 24 * 60),
    "statuspage.partial_outage_weight": (0, 1),
    "statuspage.heartbeat_gap_seconds": (1, 30 * DAY),
    "statuspage.smtp_port": (1, 65535),
    "statuspage.max_body_bytes": (100, 1 << 30),
    "statuspage.subscribe_per_ip_per_hour": (0, 1_000_000),
    "statuspage.subscribe_per_hour": (0, 1_000_000),
    "statuspage.sign_of_life_window_seconds": (0, 30 * DAY),
    "statuspage.deadman_seconds": (0, DAY),  # 0 = dead-man switch off
    "statuspage.threads": (1, 256),
    "statuspage.connection_limit": (1, 100_000),
    "statuspage.idle_timeout_seconds": (1, 3600),
    "statuspage.header_timeout_seconds": (1, 3600),
    "statuspage.body_timeout_seconds": (1, 3600),
    "statuspage.subscribe_per_network_per_hour": (0, 1_000_000),
    "statuspage.subscribe_per_mailbox_per_day": (0, 1_000_000),
    "statuspage.subscribe_per_domain_per_hour": (0, 1_000_000),
    "collectors.zfs.command_timeout_seconds": (0.1, 3600),
    "collectors.kernel_log.backlog_events": (0, 10_000_000),
}
RULE_PARAM_LIMIT = 1e12  # rule thresholds: finite and within +-this (their own rules bound meaning)


def numeric_range(key: str) -> tuple[float, float] | None:
    """The range for a key path (``collectors.smart.workers``), None when it has none."""
    import fnmatch  # noqa: PLC0415

    if key in NUMERIC_RANGES:
        return NUMERIC_RANGES[key]
    for pattern, rng in NUMERIC_RANGES.items():
        if "*" in pattern and fnmatch.fnmatchcase(key, pattern):
            return rng
    if key.startswith("rules."):
        return (-RULE_PARAM_LIMIT, RULE_PARAM_LIMIT)
    return None
