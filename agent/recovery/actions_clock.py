"""``clock_reference`` and ``clock_sync``: the system clock against a reference outside the host.

A new board's RTC can be hours off in either direction. A clock *behind* the baseline's capture is
caught offline (``baseline_compare`` check ``clock``); a clock *ahead* can only be told from
outside. The references, in order:

1. NTP: ``timedatectl show -p NTPSynchronized --value`` says ``yes`` (systemd-timesyncd or chrony
   have a server and trust it).
2. The HTTP ``Date`` header (RFC 9110 §6.6.1: the origin's clock, one-second resolution) of the
   status service (``[notify] url``: the one outside host every agent is configured to reach) and
   of any ``urls`` the step names (a package mirror), read as ``htpdate`` does: the local time is
   taken at the midpoint of the request, the header truncates to whole seconds.

``TOLERANCE_SECONDS`` (60 s): well above the header's 1 s resolution plus a slow round trip, well
below what breaks services on a wrong clock: Kerberos refuses tickets beyond 300 s of skew (MIT
krb5 ``clockskew`` default), TOTP windows are 30 s steps (RFC 6238 §5.2) and TLS/OCSP validity,
APT's ``Release`` ``Date``/``Valid-Until`` and DKIM signatures all compare with the clock.

``clock_sync`` (apply) turns NTP on and waits for it; when no NTP server answers and a reference
is reachable, it steps the clock to the reference (``date -u -s @EPOCH``) so that the day is not
lost waiting for NTP; NTP refines it once a server answers. A TLS reference whose certificate is
refused is not used: the refusal may come from the very clock being checked.
"""

from __future__ import annotations

import email.utils
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable

from agent.recovery import actions as A

TOLERANCE_SECONDS = 60.0
NTP_WAIT_SECONDS = 30.0
HTTP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Reading:
    source: str
    offset: float | None = None  # local clock minus reference, seconds (> 0: the host is ahead)
    error: str = ""
    reference: float | None = None  # the reference's time at the midpoint of the request


def describe_offset(offset: float) -> str:
    """``3 h 00 min ahead`` / ``12 s behind``."""
    size = abs(offset)
    way = "ahead" if offset > 0 else "behind"
    if size < 120:
        return f"{size:.0f} s {way}"
    hours, minutes = divmod(int(round(size / 60)), 60)
    return (f"{hours} h {minutes:02d} min {way}" if hours else f"{minutes} min {way}")


def http_reading(url: str, clock: Callable[[], float] = time.time, timeout: float = HTTP_TIMEOUT_SECONDS) -> Reading:
    """The offset of the local clock against ``url``'s ``Date`` header (any HTTP status counts:
    a 401 or 404 carries the origin's Date as well)."""
    t0 = clock()
    try:
        req = urllib.request.Request(url, method="GET", headers={"User-Agent": "hwagent-clock"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - a configured URL
                date = resp.headers.get("Date")
        except urllib.error.HTTPError as exc:
            date = exc.headers.get("Date") if exc.headers else None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            return Reading(url, error=f"TLS certificate refused ({reason.verify_message or reason}); "
                                      "with a wrong clock this is expected: not used as a reference")
        return Reading(url, error=f"unreachable ({reason})")
    except (OSError, ValueError) as exc:
        return Reading(url, error=f"unreachable ({exc})")
    t1 = clock()
    if not date:
        return Reading(url, error="answered without a Date header")
    try:
        ref = email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError):
        return Reading(url, error=f"unreadable Date header {date[:60]!r}")
    # the header truncates to the second: the reference is on average half a second later
    ref += 0.5
    mid = (t0 + t1) / 2
    return Reading(url, offset=mid - ref, reference=ref)


def ntp_synchronised(ctx: A.ActionContext, evidence: list[dict[str, Any]]) -> bool | None:
    res, ev = ctx.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    evidence.append(ev)
    if res.error or res.rc != 0:
        return None
    return res.stdout.decode("utf-8", "replace").strip() == "yes"


def reference_urls(args: Any, ctx: A.ActionContext) -> list[str]:
    urls = []
    notify_url = getattr(getattr(ctx.notifier, "cfg", None), "url", "") or ""
    if notify_url:
        urls.append(notify_url.rstrip("/") + "/healthz")
    urls += [u for u in (args.get("urls") or []) if u and "<" not in u and "{" not in u]
    return urls


def judge(readings: list[Reading], tolerance: float) -> tuple[bool | None, str]:
    """(True: within tolerance of the first reachable reference, False: off, None: no reference)."""
    good = [r for r in readings if r.offset is not None]
    if not good:
        return None, "no outside time reference answered: " + "; ".join(f"{r.source}: {r.error}" for r in readings) \
            if readings else "no outside time reference: NTP is not synchronised and no status service is configured"
    r = good[0]
    assert r.offset is not None
    if abs(r.offset) > tolerance:
        ref = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.reference or 0))
        return False, (f"the system clock is {describe_offset(r.offset)} of {r.source} (its Date header: {ref} UTC; "
                       f"tolerance {tolerance:g} s)")
    return True, f"the system clock is within {abs(r.offset):.0f} s of {r.source} (tolerance {tolerance:g} s)"


def _tolerance(args: Any) -> float:
    return float(args.get("tolerance_seconds", TOLERANCE_SECONDS))


class ClockReference(A.Action):
    name = "clock_reference"
    read_only = True
    optional = {"urls": "list", "tolerance_seconds": "number"}
    summary = ("The system clock agrees with an outside reference: NTP synchronised (timedatectl), else within "
               "`tolerance_seconds` (60) of the HTTP Date of the status service ([notify] url) or of `urls`.")

    @classmethod
    def extra_validate(cls, args):
        if "tolerance_seconds" in args and not 1 <= args["tolerance_seconds"] <= 3600:
            raise A.SpecError("tolerance_seconds", "expected 1..3600 seconds")

    @classmethod
    def describe(cls, args):
        return (f"clock: NTP synchronised, or within {_tolerance(args):g} s of the status service's HTTP Date"
                + (f" / {', '.join(args['urls'])}" if args.get("urls") else ""))

    def run(self, args, ctx):
        evidence: list[dict[str, Any]] = []
        if ntp_synchronised(ctx, evidence):
            return A.Outcome(passed=True, detail="NTP synchronised (timedatectl NTPSynchronized=yes)", commands=evidence)
        readings = [http_reading(u, ctx.clock) for u in reference_urls(args, ctx)]
        ok, detail = judge(readings, _tolerance(args))
        lines = ["NTPSynchronized: no"] + [
            f"{r.source}: " + (f"clock {describe_offset(r.offset)}" if r.offset is not None else r.error) for r in readings]
        # never "decided": a failing check leads to the apply (clock_sync), which can change it
        return A.Outcome(passed=bool(ok), detail=detail, output="\n".join(lines), commands=evidence,
                         value=[r.offset for r in readings])


class ClockSync(A.Action):
    name = "clock_sync"
    read_only = False
    optional = {"urls": "list", "tolerance_seconds": "number", "ntp_wait_seconds": "number"}
    summary = ("Turn NTP on and wait `ntp_wait_seconds` (30) for it; with no NTP server answering, step the clock to "
               "the status service's (or `urls`') HTTP Date when it is off by more than `tolerance_seconds` (60), then "
               "try-restart the units behind the baseline's listening sockets (they started on the wrong time).")

    @classmethod
    def extra_validate(cls, args):
        ClockReference.extra_validate(args)
        if "ntp_wait_seconds" in args and not 0 <= args["ntp_wait_seconds"] <= 900:
            raise A.SpecError("ntp_wait_seconds", "expected 0..900 seconds")

    @classmethod
    def describe(cls, args):
        return ("$ timedatectl set-ntp true; wait for NTP; else date -u -s @<status service HTTP Date> when off by more "
                f"than {_tolerance(args):g} s")

    def run(self, args, ctx):
        evidence: list[dict[str, Any]] = []
        res, ev = ctx.run(["timedatectl", "set-ntp", "true"])
        evidence.append(ev)
        ntp_note = "NTP enabled" if res.rc == 0 and not res.error else \
            f"timedatectl set-ntp true failed ({res.error or res.stderr.decode('utf-8', 'replace').strip()[:200]})"
        deadline = time.monotonic() + float(args.get("ntp_wait_seconds", NTP_WAIT_SECONDS))
        while True:
            if ntp_synchronised(ctx, evidence):
                return A.Outcome(passed=True, detail=f"{ntp_note}; NTP synchronised", commands=evidence)
            if time.monotonic() >= deadline:
                break
            ctx.sleep(2)
        readings = [http_reading(u, ctx.clock) for u in reference_urls(args, ctx)]
        ok, detail = judge(readings, _tolerance(args))
        if ok is None or ok:
            # nothing to step to, or already right: the verify decides (NTP may still catch up)
            return A.Outcome(passed=True, detail=f"{ntp_note}; no NTP answer within the wait; {detail}",
                             commands=evidence)
        ref = next(r for r in readings if r.offset is not None)
        target = ctx.clock() - float(ref.offset or 0)
        res, ev = ctx.run(["date", "-u", "-s", f"@{target:.0f}"])
        evidence.append(ev)
        if res.rc != 0 or res.error:
            return A.Outcome(passed=False, detail=f"{detail}; setting it failed: "
                             f"{res.error or res.stderr.decode('utf-8', 'replace').strip()[:200]}", commands=evidence)
        restarted = _restart_serving_units(ctx, evidence)
        return A.Outcome(passed=True, detail=f"{ntp_note}; no NTP answer within the wait; {detail}: stepped to "
                         f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(target))} UTC{restarted}", commands=evidence)


def _restart_serving_units(ctx: A.ActionContext, evidence: list[dict[str, Any]]) -> str:
    """After a step, restart the running units that serve the baseline's sockets: they started
    with the wrong time, and their timers and timeouts still count from it (in the rehearsal
    Dovecot kept listening but its logins timed out from the moment the clock went back 3 h;
    Dovecot's master documents "Time just moved backwards"). `systemctl try-restart` leaves
    stopped units alone."""
    from agent.recovery.actions_services import serving_units  # noqa: PLC0415

    units = serving_units(ctx.baseline) if ctx.baseline is not None else []
    if not units:
        return ""
    res, ev = ctx.run(["systemctl", "try-restart", *units])
    evidence.append(ev)
    if not res.ok:
        return f"; restarting {', '.join(units)} after the step failed ({res.failure()}): MB-25/MB-26 will tell"
    return f"; restarted what serves customers, started on the wrong time: {', '.join(units)}"


A.ACTIONS[ClockReference.name] = ClockReference
A.ACTIONS[ClockSync.name] = ClockSync
