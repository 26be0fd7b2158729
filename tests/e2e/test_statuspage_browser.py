"""The rendered status page in headless Chromium (Debian `chromium`): the text a customer sees is
there, an XSS attempt in incident text stays text, and a screenshot is kept as a test artifact
(build/test-artifacts/, or $HWAGENT_TEST_ARTIFACTS). Skipped where chromium is not installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.statuspage_support import Service, write_config

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
XSS = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"


def chromium(args: list[str], tmp: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    argv = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--disable-extensions", f"--user-data-dir={tmp / 'chrome-profile'}", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def svc(tmp_path):
    s = Service(write_config(tmp_path))
    yield s
    s.stop()


def test_page_in_headless_chromium(svc, tmp_path):
    status, _, _ = svc.request("POST", "/api/incidents", {"services": ["web", "mail"], "message": f"Server 3 down. {XSS}"})
    assert status == 201
    svc.request("POST", "/api/incidents/1/updates", {"state": "identified", "cause": "failed mainboard", "eta": "4h-6h"})
    dom = chromium(["--dump-dom", svc.base + "/en/"], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "<title>Example Hosting status</title>" in html  # the injected script never ran
    assert "Some services are affected" in html and "Outage: Web hosting and Mail" in html
    assert "Cause: failed mainboard. Expected back between" in html
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in html  # shown as text
    assert "<img" not in html and "<script" not in html  # no element was created from the text
    art = Path(os.environ.get("HWAGENT_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))
    art.mkdir(parents=True, exist_ok=True)
    shot = art / "statuspage-en.png"
    res = chromium([f"--screenshot={shot}", "--window-size=1000,1400", "--hide-scrollbars", svc.base + "/en/"], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    print(f"\nscreenshot: {shot}")
