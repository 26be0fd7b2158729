"""The seed's day, rehearsed end to end: a web and mail host's mainboard fails, dies, and comes back
on a new board (see the "Rehearsal" section of tests/vm/README.md).

One scripted test, a sequence of named stages (tests/vm/day.py). Harness stages (the host really
serves before the failure, the new board really breaks the services) must pass; stages that need
a capability the checkout does not have yet run anyway and are reported as pending; everything
else asserts. The figures of the day are printed and written to ``$HWAGENT_VM_CACHE/rehearsal-last-run.json``.
"""

from __future__ import annotations

import datetime as dt
import imaplib
import json
import os
import re
import shutil
import smtplib
import socket
import ssl
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.vm.day import Day, Operator, StageBlocked, _current_step, capabilities
from tests.vm.image import cache_dir
from tests.vm.scenarios import wait_for
from tests.vm.server_machine import AER_DEVICES, NEW_BOARD, OLD_BOARD, ServerMachine

pytestmark = pytest.mark.vm

HOST = "web1"
VHOSTS = ("www.example.test", "shop.example.test")
MAIL_HOST = "mail.example.test"
ORDERS = ["1|dom-web1-basic", "2|mailbox-10g", "3|tls-cert-renewal"]

# the problems the new board brings, how to see each from outside, and which steps claim it gone
# when they end done ("false done" if the problem is still there at that moment or at the end)
NOTIFY_STEPS = ("MB-01", "MB-32")
PROBLEMS = {
    "nvram-empty": {"see": "no Debian boot entry in the new board's NVRAM",
                    "finds": r"(?i)BootOrder|boot entr|efi", "claims": ("MB-08",)},
    "nic-renamed": {"see": "ifupdown names the old NIC: no address on the new one",
                    "finds": r"enp0s3", "claims": ("MB-15", "MB-16", "MB-16c", "MB-17")},
    "firewall-bound-to-old-nic": {"see": "nftables accepts services only on the old NIC name",
                                  "finds": r"(?i)nft|firewall", "claims": ("MB-17", "MB-25")},
    "clock-hours-off": {"see": "RTC (and so the system clock) 3 h ahead",
                        # not bare "time": MB-03's "newest backup snapshot time" is no clock finding
                        "finds": r"(?i)\bclock\b|NTPSynchronized|\bntp\b|\brtc\b|hwclock", "claims": ("MB-19", "MB-19a")},
}


# ------------------------------------------------------------------------------ probes from outside
def https_ok(m, ca: Path, name: str, timeout: float = 20) -> bool:
    ctx = ssl.create_default_context(cafile=str(ca))
    try:
        with socket.create_connection(("127.0.0.1", m.ports["https"]), timeout=timeout) as raw, \
                ctx.wrap_socket(raw, server_hostname=name) as tls:
            cert = tls.getpeercert()
            tls.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
            body = b""
            while chunk := tls.recv(65536):
                body += chunk
        sans = [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
        return name in sans and b" 200 " in body.split(b"\r\n", 1)[0] + b" " and name.encode() in body
    except (OSError, ssl.SSLError):
        return False


def smtp_banner(m, port_key: str, timeout: float = 15) -> str:
    try:
        with smtplib.SMTP("127.0.0.1", m.ports[port_key], timeout=timeout) as s:
            code, msg = s.ehlo()
            return f"{code} {msg.decode(errors='replace')}" if code == 250 else ""
    except (OSError, smtplib.SMTPException):
        return ""


def imaps_login(m, ca: Path, timeout: float = 30) -> int:
    """Messages in alice's INBOX over IMAPS, -1 if it fails. The chain is verified against the
    test CA and the certificate must name mail.example.test (reached through 127.0.0.1). Dovecot
    starts an imap-login, an auth and an imap process per connection: under TCG on a loaded
    machine that alone can take longer than 5 s, so the timeout is generous."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False  # checked below: imaplib would match the certificate against "127.0.0.1"
    try:
        imap = imaplib.IMAP4_SSL("127.0.0.1", m.ports["imaps"], ssl_context=ctx, timeout=timeout)
    except (OSError, ssl.SSLError, imaplib.IMAP4.error):
        return -1
    try:
        sans = [v for k, v in imap.sock.getpeercert().get("subjectAltName", ()) if k == "DNS"]
        if MAIL_HOST not in sans:
            return -1
        imap.login("alice", "alice-imap-pass")
        typ, data = imap.select("INBOX", readonly=True)
        return int(data[0]) if typ == "OK" else -1
    except (OSError, imaplib.IMAP4.error):
        return -1
    finally:
        try:
            imap.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


def served(m, ca: Path) -> dict[str, bool]:
    return {**{f"https {v}": https_ok(m, ca, v) for v in VHOSTS},
            "smtp 25": bool(smtp_banner(m, "smtp")), "submission 587": bool(smtp_banner(m, "submission")),
            "imaps 993": imaps_login(m, ca) >= 1}


class ServedWatch:
    """Probes web and mail from the test host every ``every`` s in a thread while the new board
    recovers (sockets through the port forwards only, never the guest's console): when customers
    were served again, and any gap after that (the real outage the status service must match)."""

    def __init__(self, m, ca: Path, every: float = 10.0):
        import threading  # noqa: PLC0415
        self.m, self.ca, self.every = m, ca, every
        self.samples: list[tuple[float, bool, list[str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="served-watch")

    def probe(self) -> dict[str, bool]:
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415
        checks = {**{f"https {v}": (lambda v=v: https_ok(self.m, self.ca, v, timeout=10)) for v in VHOSTS},
                  "smtp 25": lambda: bool(smtp_banner(self.m, "smtp", timeout=10)),
                  "submission 587": lambda: bool(smtp_banner(self.m, "submission", timeout=10)),
                  "imaps 993": lambda: imaps_login(self.m, self.ca, timeout=15) >= 1}
        with ThreadPoolExecutor(len(checks)) as ex:
            futs = {k: ex.submit(fn) for k, fn in checks.items()}
            return {k: bool(f.result()) for k, f in futs.items()}

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                s = self.probe()
            except (KeyError, OSError, ValueError) as exc:  # the board restarting: ports not there yet
                s = {f"probe ({type(exc).__name__})": False}
            self.samples.append((time.time(), all(s.values()), sorted(k for k, v in s.items() if not v)))
            self._stop.wait(self.every)

    def __enter__(self) -> "ServedWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(60)

    def first_served(self) -> float | None:
        return next((t for t, ok, _ in self.samples if ok), None)

    def gaps_after_first(self) -> list[dict]:
        """[{start, end, missing}] after customers were first served again (end None: still open)."""
        first = self.first_served()
        gaps: list[dict] = []
        for t, ok, missing in self.samples:
            if first is None or t <= first:
                continue
            if not ok and (not gaps or gaps[-1]["end"] is not None):
                gaps.append({"start": t, "end": None, "missing": missing})
            elif ok and gaps and gaps[-1]["end"] is None:
                gaps[-1]["end"] = t
        return gaps


def db_rows(m) -> list[str]:
    out = m.sh("runuser -u postgres -- psql -At -d shop -c 'SELECT id, item FROM orders ORDER BY id'", check=False)
    return [ln.strip() for ln in out.splitlines() if "|" in ln]


def restic_snapshots(m) -> list[dict]:
    out = m.sh("RESTIC_REPOSITORY=/srv/backup/restic RESTIC_PASSWORD_FILE=/etc/restic.pass "
               "restic snapshots --json --latest 1 --no-lock 2>/tmp/restic.err", timeout=180)
    return json.loads(out.strip().splitlines()[-1])


def agent_status(m) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{m.ports['agent']}/status.json", timeout=5) as r:  # noqa: S310
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def nvram_has_debian(m) -> bool:
    return bool(re.search(r"^Boot\d{4}\*? debian\b", m.sh("efibootmgr", check=False), re.M))


def clock_off_seconds(m) -> float:
    return abs(float(m.sh("date +%s.%N").strip()) - time.time())


def nic_has_address(m) -> bool:
    return "10.0.2.15/24" in m.sh("ip -br addr", check=False)


# --------------------------------------------------------------------------------------- the day
# The rehearsal (~25 min under TCG on 2 cores, plus a server-disk build when the agent changed) runs
# when HWAGENT_VM_REHEARSAL=1, as .ci/run sets it; tests/run.sh does not run it a second time when it
# fails (tests/vm/README.md, "CI").
REHEARSAL = os.environ.get("HWAGENT_VM_REHEARSAL") == "1"


@pytest.mark.skipif(not REHEARSAL, reason="the rehearsal runs with HWAGENT_VM_REHEARSAL=1 (~25 min)")
def test_rehearsal_mainboard_dies_and_comes_back(vm_env, rehearsal_summary):
    from tests.vm.conftest import environment_problem  # noqa: PLC0415
    from tests.vm.dayservices import SUBSCRIBERS, Alertmanager, SMTPSink, StatusService  # noqa: PLC0415
    from tests.vm.server_image import build_server_disk  # noqa: PLC0415

    image, qemu = vm_env
    from tests.vm.image import ensure_packages  # noqa: PLC0415
    why = ensure_packages(("ovmf", "prometheus-alertmanager", "openssl", "socat"))
    if why:
        environment_problem(f"the rehearsal needs ovmf, prometheus-alertmanager, openssl and socat: {why}")
    t_day = time.monotonic()
    disks = build_server_disk(cache_dir())
    ca = disks / "pki" / "ca.crt"
    caps = capabilities(image.rules, image.commands)
    print("\n[rehearsal] capabilities: " + json.dumps(caps, indent=1))
    day = Day()
    day.figures["image_build_or_cache_s"] = round(time.monotonic() - t_day, 1)
    work = Path(tempfile.mkdtemp(prefix="hwagent-day-"))
    sink = SMTPSink()
    status = StatusService(work / "status", sink.port, HOST)
    status.start()
    am = Alertmanager(work / "am", status)
    am.start()
    for address, lang in SUBSCRIBERS:
        status.api("POST", "/api/subscribers", {"kind": "email", "address": address, "lang": lang})
    old = ServerMachine(disks, work / "guest", OLD_BOARD, status_port=status.port, qemu=qemu)
    day.prom = None
    machines = [old]
    try:
        _the_day(day, caps, disks, ca, old, status, am, sink, machines, qemu, work)
    except StageBlocked as exc:
        day.notes.append(str(exc))
    finally:
        day.figures["rehearsal_wall_s"] = round(time.monotonic() - t_day, 1)
        print("\n[rehearsal] stages\n" + day.table())
        print("[rehearsal] figures\n" + json.dumps(day.figures, indent=1, default=str))
        day.dump(cache_dir() / "rehearsal-last-run.json")
        rehearsal_summary(day.table(), day.figures)
        failing = day.failed() or [n for n in day.notes if n.startswith("harness")]
        if failing:
            for m in machines:
                print(f"\n===== guest diagnostics ({m.board.name} board)\n{m.diagnostics()}")
            print(f"\n===== status service log\n{status.log_tail()}")
        for m in machines:
            m.stop()
        if day.prom is not None:
            day.prom.cleanup()
        am.stop()
        status.stop()
        sink.stop()
        if os.environ.get("HWAGENT_VM_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
    bad = day.failed()
    assert not [n for n in day.notes if n.startswith("harness")], day.notes
    assert not bad, "rehearsal stages failed:\n" + "\n".join(f"{s.name}: {s.status}: {s.detail}" for s in bad)


def _the_day(day: Day, caps, disks: Path, ca: Path, old: ServerMachine, status, am, sink, machines, qemu, work: Path):
    from tests.vm.prom import Prometheus  # noqa: PLC0415
    from tests.vm.dayservices import SUBSCRIBERS  # noqa: PLC0415

    # ---- 1. a real host, serving --------------------------------------------------------------------
    with day.stage("old board: UEFI boot from disk, Debian NVRAM entry", harness=True):
        old.start()
        assert old.sh("test -d /sys/firmware/efi && echo uefi").strip() == "uefi"
        efi = old.sh("efibootmgr")
        cur = re.search(r"^BootCurrent: (\w+)", efi, re.M).group(1)
        assert re.search(rf"^Boot{cur}\*? debian\b", efi, re.M), f"not booted through the debian entry:\n{efi}"
        assert "enp0s3" in old.sh("ip -br link"), old.sh("ip -br link")
    with day.stage("old board: web (2 TLS vhosts), SMTP/587, IMAPS, DB rows served", harness=True):
        ok = wait_for(lambda: all(served(old, ca).values()), 240, interval=3)
        assert ok, f"not served from the test host: {served(old, ca)}"
        assert db_rows(old) == ORDERS, db_rows(old)
        snaps = restic_snapshots(old)
        assert snaps and "/var/backups/db" in snaps[-1]["paths"], snaps
    with day.stage("old board: agent service up, scraped by Prometheus", harness=True):
        # systemctl may fail to reach a busy PID 1 on a loaded TCG guest ("Transport endpoint is
        # not connected"): ask again until it answers, the answer itself must be "active"
        state = wait_for(lambda: (lambda a: a if a in ("active", "inactive", "failed", "activating") else None)(
            old.sh("systemctl is-active hwagent.service", check=False).strip()), 120, interval=3)
        assert state == "active", state
        st = wait_for(lambda: agent_status(old), 180, interval=2)
        assert st and st.get("collectors"), st
        prom = Prometheus(work / "prom", f"127.0.0.1:{old.ports['agent']}", alertmanager=f"127.0.0.1:{am.port}",
                          instance=HOST)
        day.prom = prom
        prom.start()
        prom.wait("scrape target up", prom.targets_up, 120)
        day.prom = prom

    # ---- 2. before the failure ------------------------------------------------------------------------
    with day.stage("host credential installed (hwstatus credential add web1 --role host)", harness=True):
        # the operator copies the host's own credential to it (docs/statuspage.md); the heartbeat
        # service reads it at start (LoadCredential)
        old.sh(f"umask 077; printf '%s\\n' {status.host_token} > /etc/hwagent/status.token && "
               "systemctl restart hwagent-heartbeat.service")
    with day.stage("heartbeats reach the status service", harness=False):
        got = wait_for(lambda: _heartbeat_seen(status), 90, interval=3)
        assert got, "no heartbeat from web1 within 90 s (hwagent-heartbeat.service, shipped --every 15)"
    with day.stage("readiness: finding while no known-good baseline", pending=caps["readiness-findings"]):
        st = agent_status(old) or {}
        day.readiness_seen = [f for f in st.get("findings", []) if f.get("component") == "recovery"]
        assert day.readiness_seen, st.get("findings")
    with day.stage("notify target configured in the agent (status service)", harness=True):
        old.sh("printf '\\n[notify]\\nurl = \"http://status.example.test:10068\"\\ntoken_file = \"/etc/hwagent/status.token\"\\n"
               "service = \"web\"\\n\\n[recovery]\\nexport_target = \"statuspage\"\\n' >> /etc/hwagent/config.toml "
               "&& agent config check", timeout=120)
    with day.stage("backup tool configured in the agent (restic, the second disk)", harness=True):
        # a prepared host: the agent reads the newest snapshot itself (readiness finding, MB-03)
        # with the repository and password the hoster's backup job uses
        old.sh("sed -i '/^\\[collectors.baseline\\]$/a backup_tool = \"restic\"\\nbackup_repository = \"/srv/backup/restic\""
               "\\nbackup_password_file = \"/etc/restic.pass\"' "
               "/etc/hwagent/config.toml && agent config check && systemctl restart hwagent.service", timeout=120)
    with day.stage("known-good baseline captured", harness=True):
        old.sh("agent baseline capture --known-good", timeout=300)
        assert "known" in old.sh("agent baseline show --list", timeout=120).lower()
    with day.stage("baseline and checklist kept off-host (status service)", pending=caps["baseline-off-host"]):
        # as hwagent-baseline-push.timer does (shipped unit, [recovery] export_target = "statuspage")
        old.sh("agent baseline push", timeout=180)
        code, body = status.try_api("GET", f"/api/hosts/{HOST}/baseline", raw=True)
        # the export document (`agent baseline export` format): {"kind": "hwagent-baseline", "baseline": {...}}
        doc = json.loads(body) if code == 200 else {}
        assert doc.get("kind") == "hwagent-baseline" and \
            doc.get("baseline", {}).get("dmi", {}).get("board_serial") == OLD_BOARD.board_serial, (code, body[:300])
        code, body = status.try_api("GET", f"/api/hosts/{HOST}/checklist", raw=True)
        assert code == 200 and b"MB-" in body, (code, body[:300])
    with day.stage("readiness findings clear once prepared", pending=caps["readiness-findings"]):
        assert getattr(day, "readiness_seen", None), "no readiness finding before the host was prepared"
        ok = wait_for(lambda: not [f for f in (agent_status(old) or {}).get("findings", [{"component": "recovery"}])
                                   if f.get("component") == "recovery"], 60, interval=2)
        assert ok, (agent_status(old) or {}).get("findings")
    with day.stage("healthy host: no finding, no alert, no incident"):
        st = agent_status(old) or {}
        assert not [f for f in st.get("findings", []) if f.get("component") != "recovery"], st.get("findings")
        # the readiness alert of the unprepared host resolves at Prometheus' next evaluation after
        # the scrape that no longer has the finding
        assert wait_for(lambda: not [a for a in day.prom.alerts() if a["state"] == "firing"], 90, interval=3), \
            day.prom.alerts()
        assert not status.incidents()

    # ---- 3. the board starts failing ---------------------------------------------------------------------
    t_inject = time.monotonic()
    # corrected machine checks on two banks, then corrected AER on three endpoints under both
    # root ports: errors spread over devices that share only the board (the kernel
    # polls machine-check banks every second here, as in the rest of the suite)
    old.sh("for f in /sys/devices/system/machinecheck/machinecheck*/check_interval; do echo 1 > $f; done")
    for i in range(3):
        old.qmp.hmp(f"mce 0 {1 + i % 2} 0x9c0000000000009f 0 {0x1234000 + 0x40 * i:#x} 0x86")
        time.sleep(1.5)
    for dev in AER_DEVICES:
        try:
            old.qmp.hmp(f"pcie_aer_inject_error {dev} RCVR")
        except Exception as exc:  # noqa: BLE001 - qemu 7.2 refuses some; the MCEs still count
            day.notes.append(f"AER injection: {exc}")
        time.sleep(1.5)
    with day.stage("corrected errors seen by the agent (cpu/pcie findings)", harness=True):
        got = wait_for(lambda: [f for f in (agent_status(old) or {}).get("findings", [])
                                if f["rule"].startswith(("cpu.machine_check", "pcie.aer"))], 60, interval=1)
        assert got, (agent_status(old) or {}).get("findings")
        day.figures["inject_to_finding_s"] = round(time.monotonic() - t_inject, 1)
    with day.stage("board verdict finding (errors on several devices implicate the board)", pending=caps["board-verdict"]):
        got = wait_for(lambda: [f for f in (agent_status(old) or {}).get("findings", [])
                                if f["rule"].startswith("board.") and f.get("runbook") == "mainboard-swap"], 60, interval=1)
        assert got, (agent_status(old) or {}).get("findings")
    # the board gets worse: an uncorrected but recoverable machine check (SRAO, memory scrub; the
    # kernel takes the page offline) joins the spread corrected errors. The verdict adds it as a
    # second signal class (platform errors) to the PCIe spread; the machine check itself is a
    # critical cpu finding, and a critical risk is what the status service puts on the page with its
    # shipped settings (risk_severities = critical: warnings stay with the operator)
    old.qmp.hmp("mce -b 0 9 0xbd000000000000c0 0x5 0x30000000 0x86")
    with day.stage("board verdict adds the uncorrected machine check to the spread", pending=caps["board-verdict"]):
        def verdict():
            return [f for f in (agent_status(old) or {}).get("findings", []) if f["rule"] == "board.failing"
                    and {"pcie_spread", "platform_errors"} <= set(str(f["evidence"].get("signals", "")).split(","))]
        got = wait_for(verdict, 60, interval=1)
        assert got, (agent_status(old) or {}).get("findings")
        day.figures["board_verdict"] = {k: got[0]["evidence"].get(k) for k in ("points", "signals", "health")} | \
            {"severity": got[0].get("severity")}
    with day.stage("Prometheus alert for the board, labelled impact=risk", pending=caps["impact-labels"]):
        def board_alert():
            return [a for a in day.prom.alerts() if a["state"] == "firing" and a["labels"].get("impact") == "risk"
                    and a["labels"].get("rule", "").startswith("board.")]
        assert day.prom.wait("board alert firing", board_alert, 90)
    with day.stage("status service: risk/maintenance notice, not an outage", pending=caps["impact-labels"]):
        def risk_notice():
            inc = status.incidents()
            return [i for i in inc if str(i.get("impact")) == "maintenance" or "risk" in json.dumps(i)]
        assert wait_for(risk_notice, 60, interval=2), status.incidents()
        assert not [i for i in status.incidents() if "outage" in str(i.get("impact"))], status.incidents()

    # ---- 4. the board dies -------------------------------------------------------------------------------
    mails_before = len(sink.mails)
    t_death = old.kill()
    t_death_mono = time.monotonic()
    day.figures["death_at"] = dt.datetime.fromtimestamp(t_death, dt.timezone.utc).isoformat()
    with day.stage("host death -> outage incident on the page within 60 s", pending=caps["incident-from-silence"]):
        def outage():
            return [i for i in status.incidents() if i.get("impact") == "major_outage" and i.get("state") != "resolved"]
        got = wait_for(outage, 60, interval=1)
        day.figures["death_to_incident_s"] = round(time.monotonic() - t_death_mono, 1) if got else None
        assert got, f"no major outage incident 60 s after the host died: {status.incidents()}"
        # dated from the last sign of life (a heartbeat every 15 s), not from detection; the risk
        # incident of step 3 escalates (one incident per host outage), so the outage's own start is
        # its first outage impact, not the incident's start
        started = _outage_start(status, got[0])
        day.figures["outage_dated_s_before_death"] = round(t_death - started, 1)
        assert t_death - 25 <= started <= t_death + 2, (started, got[0].get("started_at"), day.figures["death_at"])
        day.incident_id = got[0].get("id")
    with day.stage("host death -> one notice per subscriber in the sink within 60 s, in its language",
                   pending=caps["incident-from-silence"]):
        got = wait_for(lambda: all(sink.to(a) for a, _ in SUBSCRIBERS), max(1.0, 60 - (time.monotonic() - t_death_mono)))
        day.figures["death_to_mail_s"] = round(time.monotonic() - t_death_mono, 1) if got else None
        new = sink.mails[mails_before:]
        assert got, f"mails after the death: {[(m['to'], m['msg']['Subject']) for m in new]}"
        subjects = {}
        for address, lang in SUBSCRIBERS:
            mine = [m for m in new if address in m["to"]]
            assert len(mine) == 1, (address, [m["msg"]["Subject"] for m in mine])
            subjects[lang] = str(mine[0]["msg"]["Subject"])
        assert subjects["en"] != subjects["de"], f"the same text in both languages: {subjects}"

    # ---- 5. the new board ------------------------------------------------------------------------------
    new = ServerMachine(disks, work / "guest", NEW_BOARD, status_port=status.port, qemu=qemu)
    new.ports = old.ports  # the same public addresses: the data centre's uplink does not change
    machines.append(new)
    with day.stage("new board boots the same disks (fallback loader, empty NVRAM)", harness=True):
        new.start()
        t_new_boot = new.started_at
        day.figures["new_board_boot_to_console_s"] = round(time.monotonic() - t_new_boot, 1)
        assert new.sh("cat /sys/class/dmi/id/board_serial", timeout=300).strip() == NEW_BOARD.board_serial
        assert new.sh("cat /sys/class/dmi/id/product_uuid").strip().lower() == NEW_BOARD.uuid
    with day.stage("the trouble is real: empty NVRAM, NIC renamed, clock off, web+mail unreachable", harness=True):
        assert not nvram_has_debian(new), new.sh("efibootmgr")
        links = new.sh("ip -br link")
        assert "enp0s3" not in links and not nic_has_address(new), links
        assert clock_off_seconds(new) > 2 * 3600, new.sh("date -u")
        time.sleep(5)
        s = served(new, ca)
        assert not any(s.values()), f"served without the runbook: {s}"
    day.figures["new_nic"] = re.findall(r"^(en\w+)", new.sh("ip -br link"), re.M)

    # ---- 6. recovery ----------------------------------------------------------------------------------
    holder: dict = {}
    op = holder["op"] = Operator(new, _handlers(new, ca, holder))
    watch = ServedWatch(new, ca).__enter__()  # when customers are served again, probed from outside
    with day.stage("agent recover mainboard-swap --execute completes, no work outside the runbook",
                   pending=caps["nic-rename"]):
        # the sandbox has no package mirror (MB-23's os-updates child): skipped with the reason, as
        # the issue allows; it has no NTP server either, so MB-19 must set the clock from the status
        # service's HTTP Date
        skips = ["--skip", "MB-23", "--reason", "rehearsal network: no package mirror (MB-23)"]
        # the operator's root shell has no backup environment: MB-03 reads the configured password file
        day.figures["restic_pass_bytes"] = new.sh("stat -c %s /etc/restic.pass", check=False).strip()
        op.start(["agent", "recover", "mainboard-swap", "--execute",
                  "--param", "bmc=no",
                  "--param", "repo_host=mirror.example.test", *skips])
        rc, screen = op.drive(1500)
        blocked = []
        for _ in range(6):  # the operator gets the run going again, as a person would
            if rc == 0:
                break
            run_id = (re.findall(r"run (\S+) (?:started|stopped)", screen) or [_last_record(new).get("run_id", "")])[-1]
            stopped = re.search(r"stopped: step (\S+) failed: (.*)", screen)
            if rc == Operator.REBOOT:
                # the step asked for a reboot: the host is back, resume the run as its instructions say
                blocked.append(f"reboot at {_current_step(screen)}")
                op.start(["agent", "recover", "--resume", run_id])
            elif rc is None and (not nic_has_address(new) or not https_ok(new, ca, VHOSTS[0])):
                # the runbook said "done" but customers still cannot connect: find the renamed
                # NIC by hand, fix ifupdown and nftables, resume the run
                blocked.append(op.blocked)
                _fix_nic_by_hand(new, op)
                op.start(["agent", "recover", "--resume", run_id])
            elif stopped and stopped.group(1) in NOTIFY_STEPS and \
                    re.search(r"(?i)unreachable|cannot reach|refused|timed? ?out|no route|network", stopped.group(2)):
                # a notify step on a host without network: its on_failure says use the fallback
                # channel; the operator does, and skips the step with the reason
                blocked.append(f"{stopped.group(1)}: {stopped.group(2)[:120]}")
                op.manual(f"{stopped.group(1)}: fallback channel, then --skip (status service unreachable from the host)")
                op.start(["agent", "recover", "--resume", run_id, "--skip", stopped.group(1), "--reason",
                          "status service unreachable from the host: told customers through the fallback channel"])
            else:
                break
            rc, screen = op.drive(1200)
        day.figures["run_rc"] = rc
        day.notes.append("screen of agent recover at its end (last 8000 characters):\n" + screen[-8000:])
        if rc != 0:
            day.notes.append(_guest_diagnostics(new))
        day.figures["mb16c_reboot_s"] = holder.get("reboot_s")
        day.figures["operator_stops"] = blocked
        day.figures["typed_answers"] = len(op.typed)
        day.figures["typed"] = op.typed
        day.figures["manual_work"] = op.manual_work
        day.figures["manual_steps"] = len(op.manual_work)
        day.figures["off_runbook_fixes"] = op.off_runbook
        day.figures["operator_blocked"] = op.blocked
        assert rc == 0, f"run ended rc={rc} blocked={op.blocked!r}:\n{screen[-3000:]}"
        assert not op.off_runbook, f"the operator had to fix by hand what no step found: {op.off_runbook}"
    rec = _last_record(new)
    day.figures["step_states"] = _steps_summary(rec)
    (cache_dir() / "rehearsal-last-record.json").write_text(json.dumps(rec, indent=1, default=str))
    day.notes.append("failed steps' last evidence: " + json.dumps(
        {sid: s.get("evidence", [])[-3:] for sid, s in rec.get("steps", {}).items() if s.get("state") == "failed"},
        default=str)[:8000])
    with day.stage("each problem of the new board found by a named step before it was fixed"):
        found, false_done = _judge(new, rec, ca)
        day.figures["found_by"] = found
        day.figures["false_done"] = false_done
        day.figures["false_done_count"] = sum(len(v) for v in false_done.values())
    for problem in PROBLEMS:
        pend = {"nvram-empty": caps["efi-entry-check"], "nic-renamed": caps["nic-rename"],
                "firewall-bound-to-old-nic": caps["nic-rename"],
                "clock-hours-off": caps["clock-check"] or caps["clock-ahead"]}.get(problem)
        with day.stage(f"problem {problem}: found by a step", pending=pend):
            assert (day.figures.get("found_by") or {}).get(problem), \
                f"{PROBLEMS[problem]['see']}: no step of the run found it ({_steps_summary(rec)})"
    with day.stage("false 'done' count is 0 (boot, NIC, firewall)"):
        assert day.figures.get("run_rc") == 0, "the run did not complete: its steps' claims were not all made"
        assert not {k: v for k, v in (day.figures.get("false_done") or {}).items() if k != "clock-hours-off"}, \
            day.figures.get("false_done")
    with day.stage("false 'done' count is 0 (clock)", pending=caps["clock-ahead"]):
        assert day.figures.get("run_rc") == 0, "the run did not complete: its steps' claims were not all made"
        assert not (day.figures.get("false_done") or {}).get("clock-hours-off"), day.figures.get("false_done")

    # ---- 7. proof -------------------------------------------------------------------------------------
    with day.stage("proof: HTTPS vhosts with their certificates, SMTP banner, IMAPS login", pending=caps["nic-rename"]):
        ok = wait_for(lambda: all(served(new, ca).values()), 60, interval=3)
        watch.__exit__()
        # the outage ended when the watch first saw everything served (every 10 s during the run)
        back = watch.first_served() or (time.time() if ok else None)
        day.figures["served_again_at"] = back
        day.figures["new_board_first_boot_to_served_s"] = \
            round(back - (time.time() - (time.monotonic() - t_new_boot)), 1) if back else None
        day.figures["served_gaps_after_back"] = [
            {"from_s": round(g["start"] - back), "to_s": round(g["end"] - back) if g["end"] else None,
             "missing": g["missing"]} for g in watch.gaps_after_first()] if back else []
        day.figures["served_watch_samples"] = len(watch.samples)
        assert ok, served(new, ca)
    with day.stage("proof: the database has its rows"):
        assert db_rows(new) == ORDERS, db_rows(new)
    with day.stage("status page: incident resolved, same incident, right downtime",
                   pending=caps["incident-from-silence"] or caps["runbook-notify-on-incident"]):
        inc = [i for i in status.incidents() if i.get("impact") == "major_outage"]
        assert len(inc) == 1 and inc[0].get("state") == "resolved", inc
        assert inc[0].get("id") == getattr(day, "incident_id", None), "the runbook's notices went to another incident"
        down = _epoch(inc[0].get("ended_at") or inc[0].get("resolved_at")) - _outage_start(status, inc[0])
        real = (day.figures.get("served_again_at") or 0) - t_death
        day.figures["incident_downtime_s"], day.figures["real_downtime_s"] = round(down), round(real)
        assert abs(down - real) <= 120, (down, real)
    with day.stage("agent availability: the month's downtime is the real outage",
                   pending=caps["incident-from-silence"] or caps["runbook-notify-on-incident"]):
        rep = _availability(status, dt.datetime.fromtimestamp(t_death, dt.timezone.utc).strftime("%Y-%m"))
        (web,) = [s for s in rep["services"] if s["service"] == "web"]
        real = (day.figures.get("served_again_at") or 0) - t_death
        day.figures["availability_downtime_s"], day.figures["availability_percent"] = web["downtime_seconds"], web["percent"]
        # within the heartbeat granularity: the outage is dated from the last heartbeat (every 15 s)
        # and resolved by the runbook's last step, shortly after the proof
        assert abs(web["downtime_seconds"] - real) <= 120, (web["downtime_seconds"], real, web["incidents"])
    with day.stage("notices: exactly one per state change per subscriber, right language",
                   pending=caps["incident-from-silence"] or caps["runbook-notify-on-incident"]):
        per = {a: [str(m["msg"]["Subject"]) for m in sink.to(a)] for a, _ in SUBSCRIBERS}
        day.figures["notices_per_subscriber"] = per
        # at least "investigating" (death) and "resolved" (runbook); never the same notice twice
        assert all(len(v) >= 2 and len(v) == len(set(v)) for v in per.values()), per
        (en, _), (de, _) = SUBSCRIBERS
        assert len(per[en]) == len(per[de]) and not set(per[en]) & set(per[de]), f"not translated: {per}"
    with day.stage("board verdict and every other finding cleared", pending=caps["nic-rename"]):
        st = wait_for(lambda: (lambda s: s if s and not s.get("findings") else None)(agent_status(new)), 120, interval=3)
        if not st:
            day.notes.append("findings left: " + json.dumps((agent_status(new) or {}).get("findings"), default=str)[:6000])
            day.notes.append(new.sh("agent status --json 2>&1 | head -c 6000; echo; "
                                    "agent events --since all --component board 2>&1 | head -40; "
                                    "echo; grep btime /proc/stat; date -u; python3 -c \"import sqlite3; "
                                    "c = sqlite3.connect('file:/var/lib/hwagent/state.db?mode=ro', uri=True); "
                                    "print(c.execute(\\\"SELECT value FROM kv WHERE key = 'board.epoch'\\\").fetchall()); "
                                    "print(c.execute('SELECT * FROM boots').fetchall())\"", check=False, timeout=180))
        assert st, (agent_status(new) or {}).get("findings")


def _availability(status, month: str) -> dict:
    """`agent availability --json` of this checkout, asking the status service as an operator would."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from tests.vm.dayservices import OPERATOR_TOKEN  # noqa: PLC0415
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(repo), HWAGENT_STATUS_URL=status.url, HWAGENT_STATUS_TOKEN=OPERATOR_TOKEN)
    out = subprocess.run([sys.executable, "-m", "agent", "availability", "--month", month, "--json"], env=env,
                         cwd=status.dir, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def _guest_diagnostics(m) -> str:
    """What an operator looks at when the run stopped: failed units, listeners, the services' logs."""
    return "guest diagnostics after the run stopped:\n" + m.sh(
        "systemctl --failed --no-pager; ss -ltnH; date -u; ip -br addr; ip route; "
        "journalctl -b --no-pager -o short-monotonic -u dovecot -u postfix@- -u nginx -u apache2 | tail -n 40",
        check=False, timeout=180)[-6000:]


def _fix_nic_by_hand(m, op) -> None:
    """The fix outside the runbook: the config names the old NIC; rename it to the present one."""
    nic = re.findall(r"^(en\w+)", m.sh("ip -br link"), re.M)[0]
    m.sh(f"sed -i 's/enp0s3/{nic}/g' /etc/network/interfaces /etc/nftables.conf && nft -f /etc/nftables.conf "
         f"&& systemctl restart networking", timeout=180)
    op.off_runbook.append(f"interfaces + nftables: enp0s3 -> {nic}, ifup, nft -f")


def _epoch(value) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _outage_start(status, inc: dict) -> float:
    """When the incident became an outage (its first outage impact, read from the status service's
    database; the API shows the incident's start, which for an escalated risk is the risk's)."""
    import sqlite3  # noqa: PLC0415
    with sqlite3.connect(f"file:{status.dir / 'status.db'}?mode=ro", uri=True) as c:
        row = c.execute("SELECT MIN(at) FROM impact_log WHERE incident_id = ? AND impact IN ('major_outage', "
                        "'partial_outage')", (inc["id"],)).fetchone()
    return float(row[0]) if row and row[0] is not None else _epoch(inc.get("started_at"))


def _heartbeat_seen(status) -> bool:
    """The status service stored a heartbeat of the host (read from its database)."""
    import sqlite3  # noqa: PLC0415
    with sqlite3.connect(f"file:{status.dir / 'status.db'}?mode=ro", uri=True) as c:
        return bool(c.execute("SELECT 1 FROM heartbeats WHERE host = ?", (HOST,)).fetchone())


def _handlers(m, ca: Path, holder: dict) -> dict:
    """What the operator types at each prompt of mainboard-swap, doing first what the step asks
    (counted as manual work); None where an honest operator could not answer."""
    def typed(value):
        return lambda screen: value

    def backup_time(screen):
        holder["op"].manual("MB-03: read the newest restic snapshot time")
        snaps = restic_snapshots(m)
        t = dt.datetime.fromisoformat(re.sub(r"\.\d+", "", snaps[-1]["time"]))
        return t.strftime("%Y-%m-%d %H:%M")

    def reachable_from_outside(screen):
        holder["op"].manual("MB-17: probe HTTPS from outside")
        return "reachable" if https_ok(m, ca, VHOSTS[0]) else None

    def reboot_once(screen):
        if not holder.get("rebooted"):
            holder["op"].manual("MB-16c: reboot as the step asks")
            holder["reboot_s"] = round(m.reboot(), 1)
            holder["rebooted"] = True
            return Operator.REBOOT
        return "rebooted"

    def monitoring_green(screen):
        holder["op"].manual("MB-30: check the agent answers and scrapes")
        return "yes" if agent_status(m) is not None else None

    return {
        "MB-02": typed("none"), "MB-03": backup_time, "MB-04": typed(OLD_BOARD.board_serial),
        # MB-05/MB-06: the physical swap and the firmware setup (the new board is already in place;
        # MB-05 asks only when the agent cannot see the new board); MB-08 recreates the boot
        # entries itself
        "MB-05": typed("swapped"), "MB-06": typed("done"),
        "MB-15": typed("yes"), "MB-16c": reboot_once, "MB-17": reachable_from_outside,
        "MB-24": typed("kept"), "MB-30": monitoring_green,
    }


def _last_record(m) -> dict:
    """The newest run record, read compressed: with every step's evidence it is hundreds of KB, and
    the harness channel is a 115200-baud serial line (a plain `cat` of it ran into the timeout)."""
    import base64  # noqa: PLC0415
    import gzip  # noqa: PLC0415

    # the mainboard-swap record by its name (start time first), not by mtime: the run also writes
    # RUN.baseline.json, and MB-19 steps the clock back, so mtimes from before it are "newer"
    name = m.sh("ls /var/lib/hwagent/runs/ 2>/dev/null | grep -E '^[0-9]{8}T[0-9]{6}Z-mainboard-swap-[0-9a-f]+[.]json$' "
                "| sort | tail -n1", check=False).strip()
    if not name:
        return {"steps": {}, "unreadable": "no mainboard-swap run record in /var/lib/hwagent/runs"}
    out = f"/var/lib/hwagent/runs/{name}"
    try:
        return json.loads(gzip.decompress(base64.b64decode(m.sh(f"gzip -c {out} | base64 -w0", timeout=600).strip())))
    except (ValueError, Exception) as exc:  # noqa: BLE001
        return {"steps": {}, "unreadable": f"{type(exc).__name__}: {exc}"[:300]}


def _steps_summary(rec: dict) -> str:
    return ", ".join(f"{k}={v.get('state')}" for k, v in rec.get("steps", {}).items()) or rec.get("unreadable", "")


def _judge(m, rec: dict, ca: Path) -> tuple[dict, dict]:
    """found: {problem: step id whose failing check/verify named it}; false_done: {problem: [steps
    that ended done while the problem is still there now]}."""
    present = {
        "nvram-empty": not nvram_has_debian(m),
        "nic-renamed": not nic_has_address(m),
        "firewall-bound-to-old-nic": nic_has_address(m) and not https_ok(m, ca, VHOSTS[0]),
        "clock-hours-off": clock_off_seconds(m) > 60,
    }
    found, false_done = {}, {}
    done_states = ("already_done", "verified")
    for problem, spec in PROBLEMS.items():
        rx = re.compile(spec["finds"])
        for sid, s in rec.get("steps", {}).items():
            hit = [e for e in s.get("evidence", []) if e.get("phase") in ("check", "verify")
                   and (e.get("passed") is False or (e.get("rc") not in (None, 0)))
                   and rx.search(json.dumps(e))]
            if hit:
                found[problem] = sid
                break
        if present[problem]:
            false_done[problem] = [sid for sid in spec["claims"] if rec.get("steps", {}).get(sid, {}).get("state") in done_states]
    return found, {k: v for k, v in false_done.items() if v}
