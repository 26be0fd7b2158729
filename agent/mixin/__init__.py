"""The monitoring mixin: Prometheus alert rules, recording rules and Grafana dashboards, as code.

``build(Settings())`` returns every file of the mixin by relative path; ``agent alerts`` prints
the alert rules and ``agent alerts --output-dir DIR`` writes the whole set. The shipped
``agent/data/alerts.yml`` and the checked-in ``mixin/`` directory are this output with the
default settings (a test compares them; ``python tools/generate.py`` rewrites them).
"""

from __future__ import annotations

from agent.mixin.settings import Settings


def build(settings: Settings | None = None) -> dict[str, str]:
    from agent.mixin import alerts, dashboards, recording  # noqa: PLC0415 - keep `agent` start-up light

    s = settings or Settings()
    files = {
        "prometheus_alerts.yml": alerts.render(s),
        "prometheus_rules.yml": recording.render(s),
    }
    for name, text in dashboards.render_all(s).items():
        files[f"dashboards/{name}"] = text
    return files


__all__ = ["Settings", "build"]
