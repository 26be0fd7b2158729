"""The ``[statuspage]`` config section (added to the config schema by :mod:`agent.schema`)."""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse
from typing import Mapping

from agent.config_types import ConfigError, build_dataclass, doc

IMPACTS = ("major_outage", "partial_outage", "degraded", "maintenance", "risk")
# Contract A: the `impact` label of shipped alerts. `outage`: the host or a customer-facing service is
# down; `risk`: a predictive hardware finding on a host that still serves (a notice, never an outage).
IMPACT_LABELS = {"outage": "major_outage", "risk": "risk"}


@dataclass(frozen=True)
class ServiceConfig:
    name: str = doc("Customer-facing name shown on the page (\"Web hosting\").", "")
    description: str = doc("One line under the name (\"customers on server-3\").", "")
    hosts: tuple[str, ...] = doc("Hosts this service runs on; an alert whose `instance`/`host`/`nodename` label names "
                                 "one of them (port stripped) affects the service.", ())
    components: tuple[str, ...] = doc("Only alerts whose `component` label is in this list affect the service "
                                      "(empty: any component; host-down alerts always do).", ())
    labels: Mapping[str, str] = doc("Extra label matchers that must all be equal on the alert.", factory=dict)
    draft: bool = doc("Alert-opened incidents of this service wait as drafts until the operator publishes them.", False)


@dataclass(frozen=True)
class StatuspageConfig:
    listen: str = doc("Address of the status service, `host:port` (put a TLS reverse proxy in front).", "127.0.0.1:10068")
    token: str = doc("Bearer token for the webhook and the API (prefer token_file).", "")
    token_file: str = doc("File holding the bearer token (first line); a bare name is read from systemd's $CREDENTIALS_DIRECTORY.", "")
    database: str = doc("SQLite database of services, incidents, updates and subscribers.",
                        "/var/lib/hwagent-statuspage/status.db")
    public_url: str = doc("Public base URL of the page, used in notices and the Atom feed.", "http://localhost:10068")
    title: str = doc("Page title.", "Service status")
    languages: tuple[str, ...] = doc("Languages of texts and pages (en, de); the first is the default.", ("en", "de"))
    timezone: str = doc("Time zone for dates on the page, notices and day bars.", "UTC")
    output_dir: str = doc("If set, the page is (re)written here atomically after every change, for any static host.", "")
    template_dir: str = doc("Directory with templates that override the shipped ones (same file names).", "")
    services: Mapping[str, ServiceConfig] = doc("Customer-facing services: `[statuspage.services.web]` ...", factory=dict)
    default_service: str = doc("Service for alerts that match no service (empty: such alerts are reported and dropped).", "")
    host_down_alerts: tuple[str, ...] = doc("Alert names meaning the host is down (major outage of its services).",
                                            ("HwagentHostDown", "HostDown", "InstanceDown", "TargetDown"))
    severity_impact: Mapping[str, str] = doc("Impact of alerts without an `impact` label, by `severity` label; severities not "
                                             "listed open nothing. A hardware finding on a host that still serves is a "
                                             "risk, never an outage by itself.", factory=lambda: {"critical": "risk"})
    risk_severities: tuple[str, ...] = doc("Severities of `impact: risk` alerts that put a notice on the page; other risk "
                                           "alerts (warnings, the agent's own health) stay with the operator.", ("critical",))
    notify_risk: bool = doc("Mail risk notices (predictive hardware finding, services still up) to subscribers. Off: "
                            "they show on the page and in the feed; subscribers are mailed once the risk becomes an "
                            "outage, and then also when it is resolved.", False)
    resolve_hold_seconds: float = doc("After the last alert of an incident resolves, wait this long (debounce) before "
                                      "resolving; a re-fire inside the window continues the same incident silently.", 600.0)
    auto_resolve: bool = doc("Resolve alert-opened incidents after the hold; incidents the operator has written to "
                             "stay in monitoring until the operator resolves them.", True)
    update_interval_minutes: int = doc("Promised interval of updates (\"next update by\").", 60)
    notify_states: tuple[str, ...] = doc("Incident states whose updates are sent to subscribers.",
                                         ("investigating", "identified", "resolved"))
    partial_outage_weight: float = doc("Share of a partial outage counted as downtime in availability (0..1).", 0.5)
    sign_of_life_window_seconds: float = doc("An outage alert is dated from the host's last heartbeat when that lies at most "
                                             "this long before the alert's start (its `for:` and scrape delay).", 900.0)
    heartbeat_gap_seconds: float = doc("Agent heartbeats further apart than this count as host down.", 300.0)
    deadman_seconds: float = doc("Dead-man switch: a host named in a service whose heartbeats (shipped unit: every 15 s) "
                                 "stop for this long opens or escalates its incident, dated from its last heartbeat, "
                                 "without Prometheus. 0 disables.", 45.0)
    smtp_host: str = doc("External SMTP relay (not on a monitored server); empty disables mail.", "")
    smtp_port: int = doc("SMTP relay port (465 = implicit TLS).", 587)
    smtp_starttls: bool = doc("Use STARTTLS with the relay.", True)
    smtp_user: str = doc("SMTP login (empty: none).", "")
    smtp_password_file: str = doc("File holding the SMTP password.", "")
    mail_from: str = doc("Sender address of notices.", "status@localhost")
    webhooks: tuple[str, ...] = doc("URLs that receive every published update as JSON (operator webhooks).", ())
    max_body_bytes: int = doc("Largest accepted request body.", 1_048_576)
    threads: int = doc("Worker threads of the HTTP server (requests served at once).", 8)
    connection_limit: int = doc("Open connections at most (beyond it new ones wait in the kernel's queue).", 200)
    idle_timeout_seconds: float = doc("A connection that sends nothing for this long is closed (slow or idle clients).", 30.0)
    header_timeout_seconds: float = doc("A request's head (request line and headers) must arrive within this long after the "
                                        "connection opened (or, on a kept-alive connection, after its first byte); "
                                        "slower clients are disconnected (slowloris; nginx's client_header_timeout).", 10.0)
    body_timeout_seconds: float = doc("A request's body must arrive within this long after its head; slower clients are "
                                      "disconnected (nginx's client_body_timeout).", 30.0)
    subscribe_per_ip_per_hour: int = doc("Subscription requests accepted per client address per hour.", 5)
    subscribe_per_network_per_hour: int = doc("Subscription requests per client network (IPv4 /24, IPv6 /64) per hour.", 20)
    subscribe_per_mailbox_per_day: int = doc("Confirmation mails to one mailbox per day (nobody floods a stranger).", 3)
    subscribe_per_domain_per_hour: int = doc("Subscription requests for one mail domain per hour.", 20)
    subscribe_per_hour: int = doc("Confirmation mails per hour in total; beyond it requests are still accepted and their "
                                  "mails wait (real customers are never turned away).", 100)
    trusted_proxies: tuple[str, ...] = doc("Reverse proxies (addresses or networks) whose X-Forwarded-For is believed; the "
                                           "client is the rightmost address that is not one of them.", ())
    trust_forwarded_for: bool = doc("Shorthand for a reverse proxy on this host: trusted_proxies = loopback.", False)

    def __post_init__(self):
        services = {}
        for key, value in dict(self.services).items():
            if isinstance(value, ServiceConfig):
                services[key] = value
            elif isinstance(value, dict):
                services[key] = build_dataclass(ServiceConfig, value, f"statuspage.services.{key}")
            else:
                raise ValueError(f"services.{key}: expected a table, got {value!r}")
            if not services[key].name:
                services[key] = dataclasses.replace(services[key], name=key)
        object.__setattr__(self, "services", services)
        for lang in self.languages:
            if lang not in ("en", "de"):
                raise ValueError(f"languages: unsupported language {lang!r} (en, de)")
        if not self.languages:
            raise ValueError("languages: at least one language")
        for sev, impact in self.severity_impact.items():
            if impact not in IMPACTS:
                raise ValueError(f"severity_impact.{sev}: unknown impact {impact!r} ({', '.join(IMPACTS)})")
        if not 0.0 <= self.partial_outage_weight <= 1.0:
            raise ValueError(f"partial_outage_weight: must be within 0..1, got {self.partial_outage_weight}")
        monitored = {h.split(".")[0].lower() for svc in services.values() for h in svc.hosts}
        for key, url in (("smtp_host", self.smtp_host), ("public_url", urlparse(self.public_url).hostname or ""),
                         *((f"webhooks[{i}]", urlparse(u).hostname or "") for i, u in enumerate(self.webhooks))):
            if url and url.split(".")[0].lower() in monitored:
                raise ValueError(f"{key}: {url} is a monitored server; the status channel must not share its fate "
                                 "(use another host or an external relay)")
        _proxy_nets(tuple(self.trusted_proxies), self.trust_forwarded_for)  # validates
        if self.default_service and self.default_service not in self.services:
            raise ValueError(f"default_service: {self.default_service!r} is not a configured service")

    def is_trusted_proxy(self, addr: str) -> bool:
        try:
            a = ipaddress.ip_address(addr.strip())
        except ValueError:
            return False
        return any(a in n for n in _proxy_nets(tuple(self.trusted_proxies), self.trust_forwarded_for))

    def read_token(self) -> str:
        if self.token_file:
            try:
                tok = secret_path(self.token_file).read_text(encoding="utf-8").strip().splitlines()
            except OSError as exc:
                raise ConfigError("statuspage.token_file", f"{self.token_file}: {exc.strerror or exc}") from None
            return tok[0].strip() if tok else ""
        return self.token

    def smtp_password(self) -> str:
        if not self.smtp_password_file:
            return ""
        try:
            return secret_path(self.smtp_password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError("statuspage.smtp_password_file", f"{self.smtp_password_file}: {exc.strerror or exc}") from None


@functools.lru_cache(maxsize=8)
def _proxy_nets(proxies: tuple[str, ...], loopback: bool) -> tuple:
    nets = []
    for i, p in enumerate(proxies):
        try:
            nets.append(ipaddress.ip_network(p, strict=False))
        except ValueError:
            raise ValueError(f"trusted_proxies[{i}]: not an address or network: {p!r}") from None
    if loopback and not nets:
        nets = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
    return tuple(nets)


def secret_path(name: str) -> Path:
    """A bare file name is looked up in systemd's $CREDENTIALS_DIRECTORY (LoadCredential=) if set."""
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and "/" not in name:
        return Path(creds) / name
    return Path(name)


SECTIONS: dict[str, type] = {"statuspage": StatuspageConfig}
