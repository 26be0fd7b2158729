from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support importable; the package itself is installed

FIXTURES = ROOT / "tests" / "fixtures"


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files (tests/fixtures/hosts/*/expected/) instead of comparing")
    parser.addoption("--fuzz-long", action="store_true", default=False,
                     help="fuzz targets run >= 100 000 examples each (tests/fuzz)")


@pytest.fixture
def update_golden(request) -> bool:
    return request.config.getoption("--update-golden")


@pytest.fixture
def fakesys(tmp_path):
    from tests.support.fakesys import FakeSys

    return FakeSys(tmp_path / "root")


@pytest.fixture
def make_host():
    from agent.host import Host, HostPaths

    def _make(root, runner=None, now: float = 1_764_003_600.0, **paths):
        return Host(paths=HostPaths(rootfs=str(root), **paths), runner=runner, clock=lambda: now)

    return _make
