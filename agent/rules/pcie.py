"""PCIe rules from the AER sysfs counters (ids ``pcie.*``).

Correctable errors are judged as a rate per device and per root port (reset-aware windows, see
:func:`agent.rules.platform.windowed`; the time since reset is the uptime). Any uncorrectable
error (non-fatal: warning, fatal: critical) alerts on first sight and stays for its window,
across reboots, through the store's history.
"""

from __future__ import annotations

from typing import Iterator

from agent.model import Finding, Severity, Snapshot
from agent.model.platform import AerCounters
from agent.rules.base import RuleContext, rule
from agent.rules.platform import DAY, uptime, windowed


def _top(bits: dict[str, int], n: int = 4) -> str:
    items = sorted(((v, k) for k, v in bits.items() if v), reverse=True)[:n]
    return ",".join(f"{k}={v}" for v, k in items)


def _dev_label(a: AerCounters) -> str:
    extra = f" ({a.driver})" if a.driver else ""
    return f"{a.device}{extra}"


def correctable_in_window(ctx: RuleContext, a: AerCounters, window: float) -> float:
    return windowed(ctx, f"aer.cor:{a.device}", a.total_correctable, window, uptime(ctx.snapshot))


@rule("pcie.aer_correctable_rate", defaults={"window_seconds": DAY, "warning": 10, "critical": 0},
      param_docs={"window_seconds": "window over which correctable AER errors are counted",
                  "warning": "correctable errors per device per window that warn",
                  "critical": "correctable errors per device per window that are critical (0 = never)"},
      description="Correctable PCIe errors (AER) on one device at or above a rate: a marginal link, slot or card.")
def aer_correctable_rate(ctx: RuleContext) -> Iterator[Finding]:
    window = float(ctx.param("window_seconds"))
    for a in ctx.snapshot.of_type(AerCounters):
        if not ctx.enabled_for(a.device):
            continue
        n = correctable_in_window(ctx, a, window)
        warn, crit = float(ctx.param("warning", a.device)), float(ctx.param("critical", a.device))
        sev = Severity.CRITICAL if crit and n >= crit else Severity.WARNING if warn and n >= warn else None
        if sev is None:
            continue
        yield ctx.finding(component="pcie", subject=a.device, device=a.device, severity=sev,
                          summary=f"{int(round(n))} correctable PCIe errors in {window / 3600:g} h on {_dev_label(a)}"
                                  f"{f' behind root port {a.root_port}' if a.root_port and a.root_port != a.device else ''}",
                          evidence={"device": a.device, "root_port": a.root_port or "", "driver": a.driver or "",
                                    "errors_in_window": int(round(n)), "total_since_boot": a.total_correctable,
                                    "bits": _top(dict(a.correctable)), "window_seconds": window},
                          fingerprint=sev.label)


@rule("pcie.aer_rootport_rate", defaults={"window_seconds": DAY, "warning": 50},
      param_docs={"window_seconds": "window over which a root port's received error messages are counted",
                  "warning": "correctable error messages received by one root port per window that warn"},
      description="A PCIe root port received correctable error messages from below it at or above a rate.")
def aer_rootport_rate(ctx: RuleContext) -> Iterator[Finding]:
    window = float(ctx.param("window_seconds"))
    below: dict[str, list[str]] = {}
    for a in ctx.snapshot.of_type(AerCounters):
        if a.root_port and a.root_port != a.device and (a.total_correctable or 0) > 0:
            below.setdefault(a.root_port, []).append(a.device)
    for a in ctx.snapshot.of_type(AerCounters):
        if not a.is_root_port or a.rootport_total_correctable is None or not ctx.enabled_for(a.device):
            continue
        n = windowed(ctx, f"aer.rp.cor:{a.device}", a.rootport_total_correctable, window, uptime(ctx.snapshot))
        if n < float(ctx.param("warning", a.device)) or n <= 0:
            continue
        yield ctx.finding(component="pcie", subject=f"rootport/{a.device}", device=a.device, severity=Severity.WARNING,
                          summary=f"root port {a.device} received {int(round(n))} correctable error messages in "
                                  f"{window / 3600:g} h",
                          evidence={"root_port": a.device, "errors_in_window": int(round(n)),
                                    "total_since_boot": a.rootport_total_correctable,
                                    "devices_with_errors": ",".join(sorted(below.get(a.device, []))),
                                    "window_seconds": window},
                          fingerprint="rate")


@rule("pcie.aer_uncorrectable", defaults={"window_seconds": 7 * DAY},
      param_docs={"window_seconds": "how long an uncorrectable error keeps the finding active (across reboots)"},
      description="Any uncorrectable PCIe error counted by AER: non-fatal is a warning, fatal is critical.")
def aer_uncorrectable(ctx: RuleContext) -> Iterator[Finding]:
    window = float(ctx.param("window_seconds"))
    for a in ctx.snapshot.of_type(AerCounters):
        if not ctx.enabled_for(a.device):
            continue
        fatal = max(windowed(ctx, f"aer.fatal:{a.device}", a.total_fatal, window, None), float(a.total_fatal or 0))
        nonfatal = max(windowed(ctx, f"aer.nonfatal:{a.device}", a.total_nonfatal, window, None),
                       float(a.total_nonfatal or 0))
        if fatal < 1 and nonfatal < 1:
            continue
        sev = Severity.CRITICAL if fatal >= 1 else Severity.WARNING
        what = "fatal" if fatal >= 1 else "non-fatal"
        yield ctx.finding(component="pcie", subject=f"{a.device}/uncorrectable", device=a.device, severity=sev,
                          summary=f"uncorrectable ({what}) PCIe errors on {_dev_label(a)}: "
                                  f"{int(fatal)} fatal, {int(nonfatal)} non-fatal",
                          evidence={"device": a.device, "root_port": a.root_port or "", "driver": a.driver or "",
                                    "fatal": int(fatal), "nonfatal": int(nonfatal),
                                    "fatal_bits": _top(dict(a.fatal)), "nonfatal_bits": _top(dict(a.nonfatal))},
                          fingerprint=sev.label)


RULES = (aer_correctable_rate, aer_rootport_rate, aer_uncorrectable)


def history_samples(snapshot: Snapshot) -> dict[str, float]:
    out: dict[str, float] = {}
    for a in snapshot.of_type(AerCounters):
        # only what the rules read: every key is a row per daemon sample (once a minute)
        for key, v in (("aer.cor", a.total_correctable), ("aer.nonfatal", a.total_nonfatal), ("aer.fatal", a.total_fatal),
                       ("aer.rp.cor", a.rootport_total_correctable)):
            if v is not None:
                out[f"{key}:{a.device}"] = v
    return out
