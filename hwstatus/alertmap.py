"""Alertmanager webhook bodies and alert labels: which host an alert is about."""

from __future__ import annotations

from dataclasses import dataclass

HOST_LABELS = ("instance", "host", "hostname", "nodename")


def alert_host(labels: dict) -> str:
    for key in HOST_LABELS:
        v = labels.get(key)
        if v:
            v = v.strip()
            if v.startswith("["):  # [ipv6]:port
                return v[1:v.index("]")] if "]" in v else v
            if v.count(":") == 1:
                v = v.split(":", 1)[0]
            return v
    return ""


@dataclass(frozen=True)
class AlertMatch:
    services: tuple[str, ...]
    impact: str | None
    unknown: tuple[str, ...] = ()
