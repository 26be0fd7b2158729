"""What the first screen says in each state: the banner names the affected services and the
expected time; a passed ETA is shown as passed; in monitoring there is no red banner and no old ETA."""

from __future__ import annotations

import re

from hwstatus import page


def banner(html: str) -> tuple[str, str]:
    m = re.search(r'<p class="banner (s-[a-z_]+)" id="overall">(.*?)</p>', html, re.S)
    return m.group(1), re.sub(r"<[^>]+>", " ", m.group(2))


def test_banner_names_services_and_eta(h):
    h.call("POST", "/api/incidents", {"services": ["web", "mail"], "message": "Down."})
    h.call("POST", "/api/incidents/1/updates", {"state": "identified", "cause": "mainboard", "eta": "4h-6h"})
    cls, text = banner(page.render_html(h.service, "en"))
    assert cls == "s-major_outage"
    assert "Some services are affected: Web hosting and Mail" in text
    assert "Expected back between 2025-11-24 17:00 CET and 19:00 CET" in text
    cls, text = banner(page.render_html(h.service, "de"))
    assert "Einige Dienste sind betroffen: Web hosting und Mail" in text and "Voraussichtlich wieder da" in text


def test_a_passed_eta_is_shown_as_passed(h, clock):
    h.call("POST", "/api/incidents", {"services": ["web"], "message": "Down."})
    h.call("POST", "/api/incidents/1/updates", {"state": "identified", "eta": "2h"})
    clock.advance(3 * 3600)
    html = page.render_html(h.service, "en")
    _, text = banner(html)
    assert "The expected time has passed (was by 2025-11-24 15:00 CET)" in text
    assert "Expected back:" not in html


def test_monitoring_is_not_red_and_drops_the_old_eta(h, clock):
    h.call("POST", "/api/incidents", {"services": ["web"], "message": "Down."})
    h.call("POST", "/api/incidents/1/updates", {"state": "identified", "eta": "2h"})
    h.call("POST", "/api/incidents/1/updates", {"state": "monitoring"})
    html = page.render_html(h.service, "en")
    cls, text = banner(html)
    assert cls == "s-operational" and "Services are working again; we are watching them" in text
    assert "Expected back:" not in html and "expected time has passed" not in html  # (old updates keep their text)
    assert page.summary(h.service)["services"][0]["status"] == "operational"


def test_every_banner_and_state_colour_passes_wcag_aa():
    """White banner text on every state colour, and the state words on the white service cards, >= 4.5:1
    (before: white on green 3.45:1, orange 3.58:1, yellow 2.16:1)."""
    from hwstatus.texts import TEMPLATE_ROOT
    from tests.support.png import contrast

    css = (TEMPLATE_ROOT / "page.html.j2").read_text()
    backgrounds = dict(re.findall(r"\.s-([a-z_]+)\{background:(#[0-9a-f]{6})\}", css))
    words = dict(re.findall(r"\.t-([a-z_]+)\{color:(#[0-9a-f]{6})\}", css))
    assert set(backgrounds) >= {"operational", "degraded", "partial_outage", "major_outage", "maintenance", "risk"}
    for state, colour in backgrounds.items():
        if state != "nodata":  # a bar without text
            assert contrast(colour, "#ffffff") >= 4.5, (state, colour)
    for state, colour in words.items():
        assert contrast(colour, "#ffffff") >= 4.5, (state, colour)
