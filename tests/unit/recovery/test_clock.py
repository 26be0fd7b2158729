"""The clock against an outside reference (MB-19): a new board's RTC hours AHEAD is found and fixed
without NTP, from a real HTTP server's Date header on loopback."""

from __future__ import annotations

import email.utils
import http.server
import ssl
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.recovery import actions as A
from agent.recovery import actions_clock as C
from agent.recovery import runbook as rbm
from tests.unit.recovery.probe_servers import make_cert
from tests.unit.recovery.support import ScriptedRunner, host

T = 1_796_400_000  # the reference's time: 2026-12-04 (a whole second, as a Date header has it)
T_DATE = email.utils.formatdate(T, usegmt=True)


class DateServer:
    """Answers every GET with ``status`` and the Date header ``date`` (or none)."""

    def __init__(self, date: str | None, status: int = 200, tls: ssl.SSLContext | None = None):
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                outer.hits += 1
                self.send_response_only(status)
                if outer.date is not None:
                    self.send_header("Date", outer.date)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                return None  # quiet test server

        self.hits, self.date = 0, date
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        if tls is not None:
            self.srv.socket = tls.wrap_socket(self.srv.socket, server_side=True)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.srv.server_address[1]}"

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def date_server():
    made = []

    def make(date=T_DATE, status=200, tls=None):
        s = DateServer(date, status, tls)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def _ctx(tmp_path, *, ntp="no", now=T + 3 * 3600 + 0.5, url="", set_rc=0, baseline=None, restart_rc=0):
    def answer(argv):
        if argv[:2] == ("timedatectl", "show"):
            return 0, ntp + "\n"
        if argv[:2] == ("timedatectl", "set-ntp"):
            return 0, ""
        if argv[:3] == ("date", "-u", "-s"):
            return set_rc, ""
        if argv[:2] == ("systemctl", "try-restart"):
            return restart_rc, ""
        return 127, ""
    runner = ScriptedRunner(answer)
    notifier = SimpleNamespace(cfg=SimpleNamespace(url=url)) if url else None
    ctx = A.ActionContext(host(tmp_path / "root", runner), timeout=5, dry_run=False, operator="op", baseline=baseline or {},
                          notifier=notifier, clock=lambda: now, sleep=lambda s: None)
    return ctx, runner


def test_ntp_synchronised_passes_without_asking_anyone(tmp_path, date_server):
    srv = date_server()
    ctx, runner = _ctx(tmp_path, ntp="yes", url=srv.url)
    out = C.ClockReference().run({}, ctx)
    assert out.passed and "NTP synchronised" in out.detail
    assert srv.hits == 0


def test_clock_hours_ahead_without_ntp_is_found_against_the_status_service(tmp_path, date_server):
    srv = date_server()
    ctx, _ = _ctx(tmp_path, url=srv.url)
    out = C.ClockReference().run({}, ctx)
    assert not out.passed and not out.decided  # the apply (clock_sync) can still fix it
    assert "3 h 00 min ahead" in out.detail and srv.url + "/healthz" in out.detail, out.detail
    assert srv.hits == 1


def test_clock_behind_is_named_behind(tmp_path, date_server):
    srv = date_server()
    ctx, _ = _ctx(tmp_path, url=srv.url, now=T - 2 * 3600 + 0.5)
    out = C.ClockReference().run({}, ctx)
    assert not out.passed and "2 h 00 min behind" in out.detail


@pytest.mark.parametrize("offset,passes", [(60.0, True), (60.1, False), (-60.0, True), (-60.1, False)])
def test_tolerance_boundary_is_60_seconds(tmp_path, date_server, offset, passes):
    srv = date_server()
    # the header truncates to the second: the reference is taken as T + 0.5
    ctx, _ = _ctx(tmp_path, url=srv.url, now=T + 0.5 + offset)
    out = C.ClockReference().run({}, ctx)
    assert out.passed is passes, out.detail
    assert C.TOLERANCE_SECONDS == 60.0


def test_step_tolerance_overrides_the_default(tmp_path, date_server):
    srv = date_server()
    ctx, _ = _ctx(tmp_path, url=srv.url, now=T + 0.5 + 30)
    assert not C.ClockReference().run({"tolerance_seconds": 10}, ctx).passed
    with pytest.raises(A.SpecError, match="tolerance_seconds"):
        C.ClockReference.validate({"action": "clock_reference", "tolerance_seconds": 0})


def test_any_http_status_carries_the_date(tmp_path, date_server):
    srv = date_server(status=404)
    ctx, _ = _ctx(tmp_path, url=srv.url)
    assert "3 h 00 min ahead" in C.ClockReference().run({}, ctx).detail


def test_no_reference_reachable_fails_and_says_so(tmp_path, date_server):
    srv = date_server()
    url = srv.url
    srv.close()
    ctx, _ = _ctx(tmp_path, url=url)
    out = C.ClockReference().run({}, ctx)
    assert not out.passed and "no outside time reference answered" in out.detail and "unreachable" in out.detail


def test_no_status_service_configured_fails_and_says_so(tmp_path):
    ctx, _ = _ctx(tmp_path)
    out = C.ClockReference().run({}, ctx)
    assert not out.passed and "no status service is configured" in out.detail


@pytest.mark.parametrize("date,why", [(None, "without a Date header"), ("yesterday-ish", "unreadable Date header")])
def test_a_broken_date_header_is_named(tmp_path, date_server, date, why):
    srv = date_server(date=date)
    ctx, _ = _ctx(tmp_path, url=srv.url)
    out = C.ClockReference().run({}, ctx)
    assert not out.passed and why in out.detail, out.detail


def test_the_first_answering_reference_decides(tmp_path, date_server):
    dead = date_server()
    dead_url = dead.url
    dead.close()
    mirror = date_server()
    ctx, _ = _ctx(tmp_path, url=dead_url)
    out = C.ClockReference().run({"urls": [mirror.url + "/"]}, ctx)
    assert "3 h 00 min ahead" in out.detail and mirror.url in out.detail
    assert "unreachable" in out.output


def test_a_refused_tls_certificate_is_not_used_as_a_reference(tmp_path, date_server):
    crt, key = make_cert(tmp_path)  # self-signed: refused by the default trust store
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(crt, key)
    srv = date_server(tls=tls)
    ctx, _ = _ctx(tmp_path, url=srv.url)
    out = C.ClockReference().run({}, ctx)
    assert not out.passed and "TLS certificate refused" in out.detail and "not used" in out.detail


def test_clock_sync_steps_the_clock_to_the_reference_when_ntp_does_not_answer(tmp_path, date_server):
    srv = date_server()
    ctx, runner = _ctx(tmp_path, url=srv.url)
    out = C.ClockSync().run({"ntp_wait_seconds": 0}, ctx)
    assert out.passed, out.detail
    assert ("timedatectl", "set-ntp", "true") in runner.calls
    sets = [c for c in runner.calls if c[:3] == ("date", "-u", "-s")]
    assert sets == [("date", "-u", "-s", f"@{T}")], runner.calls  # the reference's time (T + 0.5, rounded)
    assert "stepped to" in out.detail


def test_clock_sync_leaves_the_clock_alone_when_ntp_answers(tmp_path, date_server):
    srv = date_server()
    ctx, runner = _ctx(tmp_path, ntp="yes", url=srv.url)
    out = C.ClockSync().run({}, ctx)
    assert out.passed and "NTP synchronised" in out.detail
    assert not [c for c in runner.calls if c[0] == "date"] and srv.hits == 0


def test_clock_sync_does_not_step_a_clock_within_tolerance(tmp_path, date_server):
    srv = date_server()
    ctx, runner = _ctx(tmp_path, url=srv.url, now=T + 0.5 + 20)
    assert C.ClockSync().run({"ntp_wait_seconds": 0}, ctx).passed
    assert not [c for c in runner.calls if c[0] == "date"]


def test_clock_sync_reports_a_failed_step(tmp_path, date_server):
    srv = date_server()
    ctx, _ = _ctx(tmp_path, url=srv.url, set_rc=1)
    out = C.ClockSync().run({"ntp_wait_seconds": 0}, ctx)
    assert not out.passed and "setting it failed" in out.detail


def test_clock_sync_refuses_to_run_in_a_dry_run(tmp_path, date_server):
    srv = date_server()
    ctx, runner = _ctx(tmp_path, url=srv.url)
    ctx.dry_run = True
    with pytest.raises(A.DryRunViolation):
        C.ClockSync().run({"ntp_wait_seconds": 0}, ctx)
    assert not [c for c in runner.calls if c[:2] == ("timedatectl", "set-ntp")]


@pytest.mark.parametrize("offset,text", [(5, "5 s ahead"), (-119, "119 s behind"), (3 * 3600, "3 h 00 min ahead"),
                                         (-(45 * 60), "45 min behind"), (26 * 3600 + 5 * 60, "26 h 05 min ahead")])
def test_describe_offset(offset, text):
    assert C.describe_offset(offset) == text


def test_mainboard_swap_checks_the_clock_against_an_outside_reference():
    rb = rbm.load(Path(__file__).resolve().parents[3] / "runbooks" / "mainboard-swap.toml")
    step = next(s for s in rb.steps if s.id == "MB-19")
    assert step.check.action == "clock_reference" and step.verify.action == "clock_reference"
    assert step.apply.action == "clock_sync"


SERVING = {"listening": {"sockets": [
    {"proto": "tcp", "address": "0.0.0.0", "port": 993, "unit": "dovecot.service"},
    {"proto": "tcp", "address": "0.0.0.0", "port": 25, "unit": "postfix@-.service"},
    {"proto": "tcp", "address": "0.0.0.0", "port": 443, "unit": "nginx.service"},
    {"proto": "tcp", "address": "0.0.0.0", "port": 80, "unit": "nginx.service"},
    {"proto": "udp", "address": "127.0.0.1", "port": 323, "unit": None}]}}


def test_a_step_restarts_what_serves_customers(tmp_path, date_server):
    """In the rehearsal Dovecot kept listening after MB-19 stepped the clock back 3 h, but its
    logins timed out from then on; nothing else restarted it (MB-25 saw a listening socket)."""
    srv = date_server()
    ctx, runner = _ctx(tmp_path, url=srv.url, baseline=SERVING)
    out = C.ClockSync().run({"ntp_wait_seconds": 0}, ctx)
    assert out.passed, out.detail
    step = runner.calls.index(("date", "-u", "-s", f"@{T}"))
    restart = runner.calls.index(("systemctl", "try-restart", "dovecot.service", "nginx.service", "postfix@-.service"))
    assert step < restart and "restarted what serves customers" in out.detail
    # a failed restart does not undo the step: it is said, and MB-25/MB-26 judge the services
    ctx, runner = _ctx(tmp_path, url=srv.url, baseline=SERVING, restart_rc=1)
    out = C.ClockSync().run({"ntp_wait_seconds": 0}, ctx)
    assert out.passed and "after the step failed" in out.detail


def test_no_step_no_restart(tmp_path, date_server):
    srv = date_server()
    for ctx, runner in (_ctx(tmp_path, url=srv.url, now=T + 0.5 + 20, baseline=SERVING),  # within tolerance
                        _ctx(tmp_path, ntp="yes", url=srv.url, baseline=SERVING)):  # NTP did it
        C.ClockSync().run({"ntp_wait_seconds": 0}, ctx)
        assert not [c for c in runner.calls if c[:2] == ("systemctl", "try-restart")]
