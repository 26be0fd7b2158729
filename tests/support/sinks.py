"""Loopback test servers: a minimal SMTP sink and an HTTP webhook receiver (127.0.0.1 only)."""

from __future__ import annotations

import email
import email.policy
import http.server
import json
import socketserver
import threading


class _SMTPHandler(socketserver.StreamRequestHandler):
    def _send(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def handle(self) -> None:
        sink = self.server.sink
        self._send("220 sink ESMTP")
        mail_from, rcpts = None, []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            cmd = line[:4].upper()
            if cmd in ("EHLO", "HELO"):
                self._send("250-sink")
                self._send("250 8BITMIME")
            elif cmd == "MAIL":
                mail_from, rcpts = line.split(":", 1)[1].strip(), []
                self._send("250 ok")
            elif cmd == "RCPT":
                rcpts.append(line.split(":", 1)[1].strip().strip("<>"))
                self._send("250 ok")
            elif cmd == "DATA":
                self._send("354 go ahead")
                lines = []
                while True:
                    d = self.rfile.readline()
                    if d in (b".\r\n", b".\n", b""):
                        break
                    lines.append(d[1:] if d.startswith(b"..") else d)
                msg = email.message_from_bytes(b"".join(lines), policy=email.policy.default)
                with sink.lock:
                    sink.messages.append({"from": mail_from, "to": rcpts, "msg": msg})
                self._send("250 queued")
            elif cmd == "RSET":
                self._send("250 ok")
            elif cmd == "NOOP":
                self._send("250 ok")
            elif cmd == "QUIT":
                self._send("221 bye")
                return
            else:
                self._send("502 not implemented")


class _TServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class SMTPSink:
    """``with SMTPSink() as s:`` -> s.port; s.messages is a list of {"from", "to", "msg"}."""

    def __init__(self, port: int = 0):
        self.messages: list[dict] = []
        self.lock = threading.Lock()
        self.server = _TServer(("127.0.0.1", port), _SMTPHandler)
        self.server.sink = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "SMTPSink":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self) -> list[str]:
        with self.lock:
            return [m["msg"].get_content() for m in self.messages]


class _HookHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        rec = self.server.receiver
        with rec.lock:
            rec.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                 "json": json.loads(body) if body else None})
            status = rec.status
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class WebhookReceiver:
    def __init__(self, status: int = 200):
        self.requests: list[dict] = []
        self.status = status
        self.lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HookHandler)
        self.server.receiver = self
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
