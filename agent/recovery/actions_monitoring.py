"""``monitoring_back``: the host is watched again, read by the machine instead of typed.

After a repair the operator used to type "yes, monitoring is green and the silence expired". The
agent can tell most of that itself, from its own daemon (``/status.json`` on ``[exporter] listen``):

* the daemon answers, and every collector that is present ran without error;
* no warning or critical finding is active apart from the recovery readiness ones (those are the
  new board's baseline, stored later in the run);
* Prometheus (or any scraper) fetched ``/metrics`` within ``max_scrape_age_seconds`` (default
  180 s: three of Prometheus' default 1 min scrape intervals), from a client other than this host.

A silence set in MB-02 is the one thing it cannot vouch for (the agent holds no Alertmanager
credentials): with a silence ID the check fails and the step asks, as before; with ``none`` the
step is done by machine.
"""

from __future__ import annotations

import time
from typing import Any

from agent.recovery import actions as A

MAX_SCRAPE_AGE_SECONDS = 180.0
_LOCAL = ("127.", "::1", "::ffff:127.", "localhost")


def judge(status: dict[str, Any] | None, now: float, max_age: float) -> list[str]:
    """What keeps the host from being watched again (empty: it is watched)."""
    if status is None:
        return ["the agent daemon does not answer (is hwagent.service running?)"]
    return [*_collectors(status), *_findings(status), *_scrape(status.get("last_scrape"), now, max_age)]


def _collectors(status: dict[str, Any]) -> list[str]:
    cols = status.get("collectors") or {}
    failed = sorted(n for n, c in cols.items() if isinstance(c, dict) and c.get("present", True) and not c.get("ok", True))
    return [f"collector(s) failing: {', '.join(failed)}"] if failed else []


def _findings(status: dict[str, Any]) -> list[str]:
    active = [f for f in status.get("findings") or [] if isinstance(f, dict)
              and f.get("severity") in ("warning", "critical") and f.get("component") != "recovery"
              and not f.get("acknowledged")]
    out = [f"{f.get('severity')} finding {f.get('rule')} on {f.get('device') or f.get('subject')}: "
           f"{str(f.get('summary') or '')[:160]}" for f in active[:5]]
    return out + ([f"... and {len(active) - 5} more active finding(s)"] if len(active) > 5 else [])


def _scrape(last: Any, now: float, max_age: float) -> list[str]:
    if not isinstance(last, dict) or not isinstance(last.get("time"), (int, float)):
        return ["no scraper has fetched /metrics since the daemon started: is the Prometheus target up?"]
    client = str(last.get("client") or "")
    if not client or client.startswith(_LOCAL):
        return [f"/metrics was last fetched from this host ({client or '?'}), not by the monitoring server: is the "
                "Prometheus target up?"]
    if now - float(last["time"]) > max_age:
        return [f"/metrics was last fetched {now - float(last['time']):.0f} s ago (more than {max_age:g} s): is the "
                "Prometheus target up?"]
    return []


class MonitoringBack(A.Action):
    name = "monitoring_back"
    read_only = True
    required = {"listen": "str"}
    optional = {"silence": "str", "max_scrape_age_seconds": "str"}
    summary = ("The agent daemon on `listen` answers, its collectors run, no warning/critical finding is active, and "
               "a scraper fetched /metrics within `max_scrape_age_seconds` (180); a `silence` other than none must "
               "be expired by hand (the check fails).")

    @classmethod
    def describe(cls, args):
        return f"the agent daemon on {args['listen']} is healthy and scraped; no silence left to expire"

    def run(self, args, ctx):
        from agent.daemon_client import query_daemon  # noqa: PLC0415

        try:
            max_age = float(args.get("max_scrape_age_seconds") or MAX_SCRAPE_AGE_SECONDS)
        except ValueError:
            return A.Outcome(passed=False, detail=f"max_scrape_age_seconds {args['max_scrape_age_seconds']!r} is not a number")
        silence = (args.get("silence") or "").strip()
        status = query_daemon(args["listen"], timeout=5.0)
        problems = judge(status, time.time(), max_age)
        if silence and silence.lower() != "none" and "<" not in silence:
            problems.append(f"silence {silence} (MB-02) is to be expired by hand")
        if problems:
            text = "; ".join(problems)
            return A.Outcome(passed=False, detail=text, output=text)
        last = (status or {}).get("last_scrape") or {}
        text = (f"agent daemon on {args['listen']}: {len((status or {}).get('collectors') or {})} collector(s) ok, no "
                f"warning/critical finding, /metrics fetched by {last.get('client')} "
                f"{time.time() - float(last.get('time', 0)):.0f} s ago; no silence to expire")
        return A.Outcome(passed=True, detail=text, output=text)


A.ACTIONS[MonitoringBack.name] = MonitoringBack
