"""The test host's side of the rehearsal: the status service (this checkout's `hwstatus --config
statuspage.toml serve`, one credential per role: operator, alertmanager, the host web1), a local SMTP sink that keeps every notice it receives, and Alertmanager (Debian's
``prometheus-alertmanager``) routing the shipped alerts to the status service's webhook. All on
127.0.0.1, each in its own temp dir, stopped by :meth:`stop`.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import socketserver
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.vm.image import REPO
from tests.vm.machine import free_port
from tests.vm.procs import stop_process, wait_http_ready

OPERATOR_TOKEN = "operator-rehearsal-token"  # the config's token_file: the operator role
SUBSCRIBERS = (("ops-en@customer.test", "en"), ("kunde-de@customer.test", "de"))


# ------------------------------------------------------------------------------------ SMTP sink
class _SMTPHandler(socketserver.StreamRequestHandler):
    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self._say("220 sink.test ESMTP rehearsal sink")
        rcpts: list[str] = []
        sender = ""
        while True:
            raw = self.rfile.readline(4096)
            if not raw:
                return
            cmd = raw.decode(errors="replace").strip()
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250-sink.test" if verb == "EHLO" else "250 sink.test")
                if verb == "EHLO":
                    self._say("250 8BITMIME")
            elif verb == "MAIL":
                sender, rcpts = cmd.split(":", 1)[1].strip(" <>"), []
                self._say("250 ok")
            elif verb == "RCPT":
                rcpts.append(cmd.split(":", 1)[1].strip(" <>"))
                self._say("250 ok")
            elif verb == "DATA":
                self._say("354 end with .")
                lines = []
                while True:
                    line = self.rfile.readline(1 << 20)
                    if not line or line in (b".\r\n", b".\n"):
                        break
                    lines.append(line[1:] if line.startswith(b"..") else line)
                msg = email.message_from_bytes(b"".join(lines), policy=email.policy.default)
                self.server.mails.append({"at": time.time(), "from": sender, "to": list(rcpts), "msg": msg})
                self._say("250 queued")
            elif verb == "RSET":
                rcpts = []
                self._say("250 ok")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 ok" if verb == "NOOP" else "502 not implemented")


class SMTPSink(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _SMTPHandler)
        self.mails: list[dict] = []
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def to(self, address: str) -> list[dict]:
        return [m for m in self.mails if address in m["to"]]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


# ------------------------------------------------------------------------------ status service
class StatusService:
    """`hwstatus serve` from this checkout (the test's own Python), shipped defaults except listen
    address, database, SMTP sink, the operator's token and the two customer-facing services. The
    host and Alertmanager get their own credentials (`hwstatus credential add`, as
    docs/statuspage.md says): :attr:`host_token`, :attr:`alertmanager_token`."""

    def __init__(self, workdir: Path, smtp_port: int, host: str = "web1"):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.host = host
        (self.dir / "token").write_text(OPERATOR_TOKEN + "\n")
        self.config = self.dir / "statuspage.toml"
        self.config.write_text(
            "[statuspage]\n"
            f'listen = "127.0.0.1:{self.port}"\n'
            f'token_file = "{self.dir / "token"}"\n'
            f'database = "{self.dir / "status.db"}"\n'
            f'public_url = "{self.url}"\n'
            'title = "Example Hosting status"\n'
            f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\nsmtp_starttls = false\n'
            'mail_from = "status@hoster.test"\n'
            'default_service = "web"\n'
            f'[statuspage.services.web]\nname = "Web hosting"\nhosts = ["{host}"]\n'
            f'[statuspage.services.mail]\nname = "Mail"\nhosts = ["{host}"]\n')
        self.proc: subprocess.Popen | None = None
        self.host_token = self.alertmanager_token = ""

    def _hwstatus(self, *args: str) -> str:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        out = subprocess.run([sys.executable, "-m", "hwstatus", "--config", str(self.config), *args], cwd=self.dir,
                             env=env, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"hwstatus {' '.join(args)}: rc={out.returncode}: {out.stderr[-2000:]}")
        return out.stdout

    def start(self, timeout: float = 60) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        if not self.host_token:
            self.host_token = self._hwstatus("credential", "add", self.host, "--role", "host", "--host", self.host).strip()
            self.alertmanager_token = self._hwstatus("credential", "add", "alertmanager", "--role", "alertmanager").strip()
        self.proc = subprocess.Popen([sys.executable, "-m", "hwstatus", "--config", str(self.config), "serve"],
                                     cwd=self.dir, env=env, stdout=open(self.dir / "status.log", "wb"),
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_http_ready(self.proc, self.url + "/healthz", "status service", self.log_tail, timeout)

    def log_tail(self) -> str:
        try:
            return (self.dir / "status.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def api(self, method: str, path: str, body=None, raw: bool = False):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {OPERATOR_TOKEN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310
            payload = r.read()
        return payload if raw else json.loads(payload or b"null")

    def try_api(self, method: str, path: str, body=None, raw: bool = False):
        """(status, body) without raising on HTTP errors."""
        try:
            return 200, self.api(method, path, body, raw)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            return 0, str(exc).encode()

    def incidents(self) -> list[dict]:
        got = self.api("GET", "/api/incidents?all=1")
        return got if isinstance(got, list) else got.get("incidents", [])

    def stop(self) -> None:
        stop_process(self.proc)


# --------------------------------------------------------------------------------- Alertmanager
class Alertmanager:
    """Routes every alert to the status service's webhook, as systemd/alertmanager-statuspage.example.yml
    does (group_wait shortened to 1 s for the test)."""

    def __init__(self, workdir: Path, status: StatusService):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port, self.cluster_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (self.dir / "token").write_text(status.alertmanager_token + "\n")
        (self.dir / "alertmanager.yml").write_text(
            "route:\n  receiver: hwagent-status\n  group_by: [alertname, instance]\n"
            "  group_wait: 1s\n  group_interval: 5s\n  repeat_interval: 4h\n"
            "receivers:\n  - name: hwagent-status\n    webhook_configs:\n"
            f"      - url: {status.url}/hooks/alertmanager\n        send_resolved: true\n        max_alerts: 0\n"
            f"        http_config:\n          authorization:\n            type: Bearer\n"
            f"            credentials_file: {self.dir / 'token'}\n")
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def binary() -> str | None:
        return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

    def start(self, timeout: float = 60) -> None:
        self.proc = subprocess.Popen(
            [self.binary(), f"--config.file={self.dir / 'alertmanager.yml'}", f"--storage.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", f"--cluster.listen-address=127.0.0.1:{self.cluster_port}",
             "--log.level=warn"],
            stdout=open(self.dir / "alertmanager.log", "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_http_ready(self.proc, self.url + "/-/ready", "alertmanager",
                        lambda: (self.dir / "alertmanager.log").read_text(errors="replace")[-2000:], timeout)

    def stop(self) -> None:
        stop_process(self.proc)
