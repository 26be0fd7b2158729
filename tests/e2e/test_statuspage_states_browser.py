"""The page in every incident state in headless Chromium (Debian `chromium`) at a phone (390 px) and a
desktop (1280 px) width: screenshots kept as artifacts (build/test-artifacts/states/, or
$HWAGENT_TEST_ARTIFACTS), the first screen's banner checked for what it says, and its colours for
WCAG AA contrast (>= 4.5:1 for the white banner text) on the rendered pixels."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.statuspage_support import Service, write_config
from tests.support import png

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (tests/run.sh installs it)")
WIDTHS = {"phone": (390, 844), "desktop": (1280, 800)}


def chromium(args: list[str], tmp: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    argv = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1",
            f"--user-data-dir={tmp / 'chrome-profile'}", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def alert(svc: Service, status: str, name: str, impact: str, fp: str) -> None:
    payload = {"version": "4", "status": status, "groupKey": f"{fp}:{status}", "alerts": [{
        "status": status, "fingerprint": fp, "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60)),
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "labels": {"alertname": name, "instance": "server-3:10067", "severity": "critical", "impact": impact},
        "annotations": {}}]}
    assert svc.request("POST", "/hooks/alertmanager", payload)[0] == 200


def step_states(svc: Service):
    """Walks one service through every state; yields (state name, banner class, words the banner must say)."""
    yield "operational", "s-operational", "All systems operational"
    alert(svc, "firing", "HwagentFindingCritical", "risk", "risk1")
    yield "risk", "s-risk", "hardware warning is being checked"
    alert(svc, "firing", "HwagentHostDown", "outage", "down1")
    yield "investigating", "s-major_outage", "Some services are affected: Web hosting and Mail"
    assert svc.request("POST", "/api/incidents/1/updates", {"state": "identified", "cause": "failed mainboard",
                                                           "eta": "2h-4h"})[0] == 201
    yield "identified", "s-major_outage", "Expected back between"
    assert svc.request("POST", "/api/incidents/1/updates", {"eta": "2020-01-01T10:00"})[0] == 201
    yield "eta-passed", "s-major_outage", "The expected time has passed"
    alert(svc, "resolved", "HwagentHostDown", "outage", "down1")
    alert(svc, "resolved", "HwagentFindingCritical", "risk", "risk1")
    yield "monitoring", "s-operational", "working again; we are watching"
    assert svc.request("POST", "/api/incidents/1/resolve", {})[0] == 200
    yield "resolved", "s-operational", "All systems operational"
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
    assert svc.request("POST", "/api/incidents", {"services": ["web"], "maintenance": True, "started_at": later,
                                                  "eta": "2h"})[0] == 201
    yield "maintenance-scheduled", "s-operational", "All systems operational"
    assert svc.request("POST", "/api/incidents", {"services": ["mail"], "maintenance": True})[0] == 201
    yield "maintenance", "s-maintenance", "Maintenance: Mail"
    assert svc.request("POST", "/api/incidents", {"services": ["web"], "impact": "partial_outage"})[0] == 201
    yield "partial-outage", "s-partial_outage", "Some services are affected: Web hosting"
    assert svc.request("POST", "/api/incidents", {"services": ["mail"], "impact": "degraded"})[0] == 201


def css_colours(html: str) -> dict[str, str]:
    return dict(re.findall(r"\.(s-[a-z_]+)\{background:(#[0-9a-f]{6})\}", html))


def test_every_state_at_phone_and_desktop_width_with_aa_contrast(tmp_path):
    svc = Service(write_config(tmp_path))
    art = Path(os.environ.get("HWAGENT_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts")) / "states"
    art.mkdir(parents=True, exist_ok=True)
    ratios: dict[str, float] = {}
    try:
        for state, cls, words in step_states(svc):
            dom = chromium(["--dump-dom", svc.base + "/en/"], tmp_path)
            assert dom.returncode == 0, dom.stderr[-2000:]
            m = re.search(r'<p class="banner ([a-z_-]+)" id="overall">(.*?)</p>', dom.stdout, re.S)
            assert m, state
            text = re.sub(r"<[^>]+>", " ", m.group(2))
            assert m.group(1) == cls and words in text, (state, m.group(1), text)
            colour = css_colours(dom.stdout)[cls]
            text_colour = re.search(r"\.banner\{[^}]*color:(#[0-9a-f]{3,6})", dom.stdout).group(1)
            ratio = png.contrast(colour, text_colour)
            ratios[cls] = round(ratio, 2)
            assert ratio >= 4.5, f"{state}: white on {colour} is {ratio:.2f}:1 (WCAG AA needs 4.5:1)"
            for label, (w, hgt) in WIDTHS.items():
                shot = art / f"{state}-{label}-{w}.png"
                res = chromium([f"--screenshot={shot}", f"--window-size={w},{hgt}", svc.base + "/en/"], tmp_path)
                assert res.returncode == 0, res.stderr[-2000:]
                width, _, _ = png.read(shot, max_rows=1)
                assert width == w
                seen = png.colours(shot, max_rows=400)
                # the banner really renders in that colour on the first screen (not hidden below the fold)
                assert seen[colour] > 2000, (state, label, colour, seen.most_common(5))
        print(f"\nbanner contrast (white text): {json.dumps(ratios)}; screenshots in {art}")
    finally:
        svc.stop()
