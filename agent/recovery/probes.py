"""Probes from the host itself: are customers served as before the swap?

Each probe holds a short read-only conversation with a service the baseline says the host
offers, on the address it listens on now:

* HTTP(S) per vhost (``server_name`` of nginx, ``ServerName``/``ServerAlias`` of apache): TLS
  with SNI = the vhost name, certificate verified against the system trust store (or
  :data:`CAFILE`) and valid for at least :data:`CERT_MIN_DAYS` days (as
  ``openssl x509 -checkend 604800``); ``GET /`` with ``Host:``; any status below 500 passes.
* SMTP on 25/587: ``220`` banner, ``EHLO``, ``STARTTLS`` offered and the TLS handshake succeeds
  (RFC 3207), then ``QUIT``; 465 is implicit TLS (RFC 8314).
* IMAPS (993) ``* OK`` and POP3S (995) ``+OK`` greetings over TLS.
* DNS: an SOA query per zone the host is primary for; the answer must be NOERROR, authoritative
  (AA) and hold the SOA (RFC 1035 4.1.1).

A probe from outside the data centre can only be typed: :func:`outside_commands` gives the
exact commands to run from another machine.
"""

from __future__ import annotations

import random
import socket
import ssl
import struct
import time
from functools import partial
from typing import Any, Callable, Mapping

TIMEOUT = 5.0
CERT_MIN_DAYS = 7
CAFILE: str | None = None  # None: the system trust store
# tests redirect (address, port) to servers they run on loopback; None: connect as given
CONNECT: Callable[[str, int], tuple[str, int]] | None = None


def _target(addr: str, port: int) -> tuple[str, int]:
    return CONNECT(addr, port) if CONNECT is not None else (addr, port)


def _ctx() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=CAFILE)


def _cert_days(sock: ssl.SSLSocket, now: float) -> float:
    not_after = (sock.getpeercert() or {}).get("notAfter")
    return (ssl.cert_time_to_seconds(not_after) - now) / 86400 if isinstance(not_after, str) and not_after else -1.0


def _tls(raw: socket.socket, name: str, now: float) -> tuple[ssl.SSLSocket | None, str]:
    try:
        s = _ctx().wrap_socket(raw, server_hostname=name)
    except ssl.SSLCertVerificationError as exc:
        return None, f"certificate for {name} not valid: {exc.verify_message}"
    except (ssl.SSLError, OSError) as exc:
        return None, f"TLS handshake with SNI {name} failed: {exc}"
    days = _cert_days(s, now)
    if days < CERT_MIN_DAYS:
        s.close()
        return None, f"certificate for {name} expires in {days:.1f} days (< {CERT_MIN_DAYS})"
    return s, f"certificate valid {days:.0f} more days"


def _connect(addr: str, port: int) -> socket.socket:
    a, p = _target(addr, port)
    return socket.create_connection((a, p), timeout=TIMEOUT)


def http(addr: str, port: int, name: str, tls: bool, now: float | None = None) -> tuple[bool, str]:
    now = time.time() if now is None else now
    try:
        raw = _connect(addr, port)
    except OSError as exc:
        return False, f"{'https' if tls else 'http'}://{name}:{port} ({addr}): cannot connect: {exc}"
    note = ""
    sock: Any = raw
    if tls:
        sock, note = _tls(raw, name, now)
        if sock is None:
            raw.close()
            return False, f"https://{name}:{port} ({addr}): {note}"
    try:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\nUser-Agent: hwagent-probe\r\nConnection: close\r\n\r\n".encode())
        line = sock.makefile("rb").readline(512).decode("latin-1").strip()
    except OSError as exc:
        return False, f"{name}:{port}: no HTTP answer: {exc}"
    finally:
        sock.close()
    parts = line.split()
    if len(parts) < 2 or not parts[1].isdecimal():
        return False, f"{name}:{port}: not an HTTP answer: {line[:60]!r}"
    code = int(parts[1])
    url = f"{'https' if tls else 'http'}://{name}" + ("" if port in (80, 443) else f":{port}")
    return code < 500, f"{url}/ -> {code}" + (f", {note}" if note else "")


def _lines(f) -> list[str]:
    out = []
    while True:
        line = f.readline(1024).decode("latin-1").rstrip("\r\n")
        out.append(line)
        if len(line) < 4 or line[3] != "-":
            return out


def smtp(addr: str, port: int, name: str, now: float | None = None) -> tuple[bool, str]:
    now = time.time() if now is None else now
    try:
        raw = _connect(addr, port)
    except OSError as exc:
        return False, f"SMTP {addr}:{port}: cannot connect: {exc}"
    sock: Any = raw
    try:
        if port == 465:
            sock, note = _tls(raw, name, now)
            if sock is None:
                return False, f"SMTPS {addr}:465: {note}"
        f = sock.makefile("rb")
        banner = _lines(f)
        if not banner[0].startswith("220"):
            return False, f"SMTP {addr}:{port}: banner {banner[0][:60]!r}, expected 220"
        sock.sendall(b"EHLO hwagent-probe\r\n")
        ehlo = _lines(f)
        if not ehlo[0].startswith("250"):
            return False, f"SMTP {addr}:{port}: EHLO answered {ehlo[0][:60]!r}"
        if port == 465:
            sock.sendall(b"QUIT\r\n")
            return True, f"SMTPS {addr}:465 {banner[0][4:80]}"
        if not any(x[4:].upper().startswith("STARTTLS") for x in ehlo):
            sock.sendall(b"QUIT\r\n")
            return False, f"SMTP {addr}:{port}: STARTTLS not offered (mail would go in clear text or bounce)"
        sock.sendall(b"STARTTLS\r\n")
        go = _lines(f)
        if not go[0].startswith("220"):
            return False, f"SMTP {addr}:{port}: STARTTLS answered {go[0][:60]!r}"
        tsock, note = _tls(sock, name, now)
        if tsock is None:
            return False, f"SMTP {addr}:{port} STARTTLS: {note}"
        tsock.sendall(b"QUIT\r\n")
        tsock.close()
        return True, f"SMTP {addr}:{port} {banner[0][4:80]}, STARTTLS ok, {note}"
    except OSError as exc:
        return False, f"SMTP {addr}:{port}: {exc}"
    finally:
        try:
            sock.close()
        except OSError:
            pass  # the probe's verdict is already decided; closing is best effort


def greeting(addr: str, port: int, name: str, expect: str, now: float | None = None) -> tuple[bool, str]:
    """IMAPS (``* OK``) / POP3S (``+OK``): TLS, then the server's greeting."""
    now = time.time() if now is None else now
    label = {993: "IMAPS", 995: "POP3S"}.get(port, f"TLS:{port}")
    try:
        raw = _connect(addr, port)
    except OSError as exc:
        return False, f"{label} {addr}:{port}: cannot connect: {exc}"
    sock, note = _tls(raw, name, now)
    if sock is None:
        raw.close()
        return False, f"{label} {addr}:{port}: {note}"
    try:
        line = sock.makefile("rb").readline(512).decode("latin-1").strip()
    except OSError as exc:
        return False, f"{label} {addr}:{port}: no greeting: {exc}"
    finally:
        sock.close()
    return line.startswith(expect), f"{label} {addr}:{port} greeting {line[:40]!r}, {note}"


def dns_query(zone: str, qid: int) -> bytes:
    q = b"".join(bytes([len(p)]) + p.encode("idna") for p in zone.rstrip(".").split(".") if p) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0000, 1, 0, 0, 0) + q + struct.pack(">HH", 6, 1)  # SOA, IN; RD off


def dns(addr: str, zone: str) -> tuple[bool, str]:
    a, p = _target(addr, 53)
    qid = random.randrange(1 << 16)
    fam = socket.AF_INET6 if ":" in a else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(TIMEOUT)
        try:
            s.sendto(dns_query(zone, qid), (a, p))
            data, _ = s.recvfrom(4096)
        except OSError as exc:
            return False, f"DNS {addr}: no answer for {zone} SOA: {exc}"
    if len(data) < 12:
        return False, f"DNS {addr}: short answer for {zone}"
    rid, flags, _qd, an, _ns, _ar = struct.unpack(">HHHHHH", data[:12])
    rcode, aa = flags & 0xF, bool(flags & 0x0400)
    if rid != qid:
        return False, f"DNS {addr}: answer id mismatch for {zone}"
    if rcode != 0 or an == 0 or not aa:
        return False, f"DNS {addr}: {zone} SOA rcode {rcode}, {an} answer(s), {'authoritative' if aa else 'not authoritative'}"
    return True, f"DNS {addr}: {zone} SOA authoritative"


def _listen_addr(sockets: list[Mapping[str, Any]], port: int, proto: str = "tcp") -> str | None:
    for s in sockets:
        if s.get("proto") == proto and s.get("port") == port:
            a = s.get("address") or ""
            return {"0.0.0.0": "127.0.0.1", "::": "::1", "*": "127.0.0.1"}.get(a, a)
    return None


def plan(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Callable[[], tuple[bool, str]]]]:
    """(label, probe) for every service the baseline offered, on the address it listens on now
    (a service that does not listen at all fails without a probe)."""
    offered = old.get("services") or {}
    now_socks = list((new.get("listening") or {}).get("sockets") or [])
    out: list[tuple[str, Callable[[], tuple[bool, str]]]] = []

    def missing(label: str) -> Callable[[], tuple[bool, str]]:
        return lambda: (False, f"{label}: nothing listens on that port now")
    for v in offered.get("vhosts") or []:
        label = f"{'https' if v.get('tls') else 'http'}://{v['name']}:{v['port']}"
        addr = _listen_addr(now_socks, v["port"])
        out.append((label, missing(label) if addr is None else
                    partial(http, addr, v["port"], v["name"], bool(v.get("tls")))))
    mail_name = offered.get("mail_name") or "localhost"
    for port in offered.get("mail_ports") or []:
        addr = _listen_addr(now_socks, port)
        label = f"mail port {port}"
        if addr is None:
            out.append((label, missing(label)))
        elif port in (25, 587, 465):
            out.append((label, partial(smtp, addr, port, mail_name)))
        else:
            out.append((label, partial(greeting, addr, port, mail_name, "* OK" if port == 993 else "+OK")))
    for zone in offered.get("zones") or []:
        addr = _listen_addr(now_socks, 53, "udp")
        label = f"DNS zone {zone}"
        out.append((label, missing(label) if addr is None else partial(dns, addr, zone)))
    return out


def outside_commands(old: Mapping[str, Any], host: str) -> list[str]:
    """What to run from another network to prove the same from outside."""
    offered = old.get("services") or {}
    cmds = [f"curl -sS -o /dev/null -w '%{{http_code}}\\n' {'https' if v.get('tls') else 'http'}://{v['name']}/"
            for v in offered.get("vhosts") or []]
    for port in offered.get("mail_ports") or []:
        if port in (25, 587):
            cmds.append(f"openssl s_client -connect {host}:{port} -starttls smtp -brief </dev/null")
        elif port in (465, 993, 995):
            cmds.append(f"openssl s_client -connect {host}:{port} -brief </dev/null")
    cmds += [f"dig +norec SOA {z} @{host}" for z in offered.get("zones") or []]
    return cmds


def compare(old: Mapping[str, Any], new: Mapping[str, Any], host=None) -> tuple[list[str], str, str]:
    todo = plan(old, new)
    if not todo:
        return [], "the baseline records no web, mail or DNS service to probe", ""
    if host is not None and not getattr(host, "is_live", True) and CONNECT is None:
        return ["service probes need the running host (root /), not a mounted tree"], "", ""
    problems, lines = [], []
    for label, probe in todo:
        try:
            ok, detail = probe()
        except Exception as exc:  # noqa: BLE001 - a probe bug names the service, never stops the check
            ok, detail = False, f"{label}: probe failed: {type(exc).__name__}: {exc}"
        lines.append(("ok   " if ok else "FAIL ") + detail)
        if not ok:
            problems.append(detail)
    return problems, f"{len(todo)} service probe(s) answered as customers expect", "\n".join(lines)


def compare_outside(old: Mapping[str, Any], new: Mapping[str, Any], host=None) -> tuple[list[str], str, str]:
    """Never passes by itself: an outside probe can only be confirmed by a person. Its output is
    the exact commands to run from another network (shown before the prompt)."""
    name = getattr(host, "hostname", lambda: "HOST")() if host is not None else "HOST"
    cmds = [f"ping -c 3 {name}", f"nc -vz {name} 22", *outside_commands(old, name)]
    return (["an outside probe can only be confirmed by a person: run these from another network"], "",
            "From another network:\n" + "\n".join("  " + c for c in cmds))
