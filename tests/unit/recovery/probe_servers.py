"""Loopback services for the probe tests: HTTPS/HTTP vhosts, SMTP with STARTTLS, IMAPS, and an
authoritative DNS server, with a certificate made by the real `openssl` for the test names."""

from __future__ import annotations

import http.server
import shutil
import socket
import socketserver
import ssl
import struct
import subprocess
import threading
from pathlib import Path

import pytest

NAMES = ("www.example.org", "mail.example.org")


def make_cert(d: Path, days: int = 30, names=NAMES) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    crt, key = d / f"cert{days}.pem", d / f"key{days}.pem"
    san = ",".join(f"DNS:{n}" for n in names)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", str(days), "-subj", f"/CN={names[0]}", "-addext", f"subjectAltName={san}"],
                   check=True, capture_output=True, timeout=60)
    return crt, key


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server API
        self.send_response(200 if self.headers.get("Host", "").startswith("www.example.org") else 421)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def _serve(server) -> int:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


class Servers:
    def __init__(self, d: Path, cert_days: int = 30, starttls: bool = True, dns_aa: bool = True):
        self.crt, self.key = make_cert(d, cert_days)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(self.crt, self.key)
        self.servers = []
        https = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
        https.socket = self.ctx.wrap_socket(https.socket, server_side=True)
        plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
        ctx, tls_on = self.ctx, starttls

        class Smtp(socketserver.StreamRequestHandler):
            def handle(self):
                w = self.wfile
                w.write(b"220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n")
                self.rfile.readline()
                w.write(b"250-mail.example.org\r\n250-PIPELINING\r\n" + (b"250-STARTTLS\r\n" if tls_on else b"") + b"250 8BITMIME\r\n")
                line = self.rfile.readline()
                if line.upper().startswith(b"STARTTLS"):
                    w.write(b"220 2.0.0 Ready to start TLS\r\n")
                    w.flush()
                    s = ctx.wrap_socket(self.request, server_side=True)
                    s.recv(64)
                    s.sendall(b"221 2.0.0 Bye\r\n")
                    s.close()

        class Imaps(socketserver.BaseRequestHandler):
            def handle(self):
                s = ctx.wrap_socket(self.request, server_side=True)
                s.sendall(b"* OK [CAPABILITY IMAP4rev1] Dovecot (Debian) ready.\r\n")
                s.close()

        class Dns(socketserver.BaseRequestHandler):
            def handle(self):
                data, sock = self.request
                qid = struct.unpack(">H", data[:2])[0]
                q = data[12:]
                end = q.index(b"\0") + 5
                question = q[:end]
                zone = []
                i = 0
                while q[i]:
                    zone.append(q[i + 1:i + 1 + q[i]].decode())
                    i += q[i] + 1
                if ".".join(zone) != "example.org":
                    sock.sendto(struct.pack(">HHHHHH", qid, 0x8403, 1, 0, 0, 0) + question, self.client_address)
                    return

                def name(n):
                    return b"".join(bytes([len(p)]) + p.encode() for p in n.split(".")) + b"\0"
                rdata = name("ns1.example.org") + name("hostmaster.example.org") + struct.pack(">IIIII", 2025112401, 7200, 3600, 1209600, 3600)
                ans = b"\xc0\x0c" + struct.pack(">HHIH", 6, 1, 3600, len(rdata)) + rdata
                flags = 0x8400 if dns_aa else 0x8000
                sock.sendto(struct.pack(">HHHHHH", qid, flags, 1, 1, 0, 0) + question + ans, self.client_address)

        class Tcp(socketserver.ThreadingTCPServer):
            allow_reuse_address = True

            def handle_error(self, request, client_address):  # a probe hanging up early is not a test failure
                pass
        smtp = Tcp(("127.0.0.1", 0), Smtp)
        imaps = Tcp(("127.0.0.1", 0), Imaps)
        dns = socketserver.ThreadingUDPServer(("127.0.0.1", 0), Dns)
        self.servers = [https, plain, smtp, imaps, dns]
        self.ports = {443: _serve(https), 80: _serve(plain), 25: _serve(smtp), 993: _serve(imaps), 53: _serve(dns)}

    def connect(self, addr: str, port: int) -> tuple[str, int]:
        """probes.CONNECT: every service address of the tree maps to its loopback server."""
        return "127.0.0.1", self.ports[port]

    def close(self):
        for s in self.servers:
            s.shutdown()
            s.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
