"""The DNS names a mail server's certificate was made for, read from its configured certificate
file (PEM, DER walked without a crypto library): the name customers' mail clients and other MTAs
use, which a probe after a board swap must verify against. ``/etc/mailname`` is the domain of
outgoing mail, and the host name is often not on the certificate at all.

Where the certificate is configured: Postfix ``smtpd_tls_cert_file`` in ``main.cf`` (postconf(5);
the last assignment wins), Dovecot ``ssl_cert = </path`` (dovecot.conf and conf.d/10-ssl.conf).
The subjectAltName extension is OID 2.5.29.17, its dNSName entries context tag [2] (RFC 5280
section 4.2.1.6).
"""

from __future__ import annotations

import base64
import binascii
import re

SAN_OID = bytes.fromhex("0603551d11")  # OBJECT IDENTIFIER 2.5.29.17
PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)
POSTFIX_CERT = re.compile(r"^\s*smtpd_tls_cert_file\s*=\s*(\S+)", re.M)
DOVECOT_CERT = re.compile(r"^\s*ssl_cert\s*=\s*<\s*(\S+)", re.M)


def _length(der: bytes, i: int) -> tuple[int, int]:
    """(length, index of the content) of the DER element whose length octets start at ``i``."""
    first = der[i]
    if first < 0x80:
        return first, i + 1
    n = first & 0x7F
    if n == 0 or n > 4 or i + 1 + n > len(der):
        raise ValueError("bad DER length")
    return int.from_bytes(der[i + 1:i + 1 + n], "big"), i + 1 + n


def san_dns_names(der: bytes) -> list[str]:
    """dNSName entries of the certificate's subjectAltName ([] without one, or on garbage)."""
    at = der.find(SAN_OID)
    if at < 0:
        return []
    try:
        i = at + len(SAN_OID)
        if der[i] == 0x01:  # critical BOOLEAN
            n, c = _length(der, i + 1)
            i = c + n
        if der[i] != 0x04:  # extnValue OCTET STRING
            return []
        _, i = _length(der, i + 1)
        if der[i] != 0x30:  # GeneralNames SEQUENCE
            return []
        n, i = _length(der, i + 1)
        end, names = min(i + n, len(der)), []
        while i < end:
            tag = der[i]
            n, c = _length(der, i + 1)
            if tag == 0x82:
                names.append(der[c:c + n].decode("ascii", "replace"))
            i = c + n
        return names
    except (IndexError, ValueError):
        return []


def pem_dns_names(pem: str) -> list[str]:
    """The names of the first certificate in a PEM file (the server's own; the chain follows it)."""
    m = PEM_CERT.search(pem or "")
    if not m:
        return []
    try:
        return san_dns_names(base64.b64decode("".join(m.group(1).split()), validate=True))
    except (binascii.Error, ValueError):
        return []


def configured_cert_files(postfix_main_cf: str, dovecot_confs: list[str]) -> list[str]:
    """The mail certificate files in the order they are tried: Postfix's (last assignment), then Dovecot's."""
    out = []
    pf = POSTFIX_CERT.findall(postfix_main_cf or "")
    if pf:
        out.append(pf[-1])
    for text in dovecot_confs:
        dv = DOVECOT_CERT.findall(text or "")
        if dv:
            out.append(dv[-1])
    return out
