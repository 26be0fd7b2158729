"""Property-based fuzzing. Bounded in the normal suite; `--fuzz-long` runs >= 100 000 examples
per target (hypothesis profile "long"). Each target counts the examples it ran; the session
prints the counts at the end."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings

COUNTS: Counter = Counter()

settings.register_profile("default", max_examples=int(os.environ.get("HWAGENT_FUZZ_EXAMPLES", "150")), deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=100_000, deadline=None,
                          suppress_health_check=list(HealthCheck))


def pytest_configure(config):
    settings.load_profile("long" if config.getoption("--fuzz-long", default=False) else "default")


@pytest.fixture
def count(request):
    name = request.node.name

    def _count():
        COUNTS[name] += 1

    return _count


def pytest_terminal_summary(terminalreporter):
    if COUNTS:
        terminalreporter.write_line("fuzz examples per target: " +
                                    ", ".join(f"{k}={v}" for k, v in sorted(COUNTS.items())))
