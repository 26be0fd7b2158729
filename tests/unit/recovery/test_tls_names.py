"""The mail probe's name comes from the configured certificate (real certificates made with
`openssl req -x509 -addext subjectAltName=...`, in tests/fixtures/tls)."""

from __future__ import annotations

from pathlib import Path

from agent.baseline_services import capture_offered
from agent.host import CommandResult, Host, HostPaths
from agent.tls_names import configured_cert_files, pem_dns_names, san_dns_names

TLS = Path(__file__).resolve().parents[2] / "fixtures" / "tls"


def test_dns_names_of_real_certificates():
    assert pem_dns_names((TLS / "mail-san.pem").read_text()) == ["mail.example.test", "imap.example.test"]
    assert pem_dns_names((TLS / "critical-san.pem").read_text()) == ["smtp.example.org"]  # critical flag
    assert pem_dns_names((TLS / "no-san.pem").read_text()) == []
    # the server's certificate first, a chain after it
    chain = (TLS / "critical-san.pem").read_text() + (TLS / "mail-san.pem").read_text()
    assert pem_dns_names(chain) == ["smtp.example.org"]


def test_garbage_never_raises():
    pem = (TLS / "mail-san.pem").read_text()
    assert pem_dns_names("") == [] and pem_dns_names("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----") == []
    import base64
    import re
    der = base64.b64decode("".join(re.search(r"CERTIFICATE-----(.*?)-----END", pem, re.S).group(1).split()))
    at = der.find(bytes.fromhex("0603551d11"))
    for cut in range(at, min(at + 60, len(der))):  # truncated inside the extension
        assert isinstance(san_dns_names(der[:cut]), list)
    assert san_dns_names(der[:at + 5] + b"\x04\xff") == []  # a length running past the end


def test_the_configured_files_last_assignment_wins():
    main_cf = ("smtpd_tls_cert_file=/etc/ssl/certs/ssl-cert-snakeoil.pem\n"
               "# smtpd_tls_cert_file = /nope.pem\n"
               "smtpd_tls_cert_file = /etc/ssl/mail/mail.pem\n")
    dovecot = ["ssl = required\nssl_cert = </etc/dovecot/private/dovecot.pem\nssl_key = </etc/dovecot/private/dovecot.key\n"]
    assert configured_cert_files(main_cf, dovecot) == ["/etc/ssl/mail/mail.pem", "/etc/dovecot/private/dovecot.pem"]
    assert configured_cert_files("", ["#ssl_cert = </x.pem\n"]) == []


def _no_commands(argv, timeout, env=None):
    return CommandResult(tuple(argv), None, b"", b"", 0.0, f"not found: {argv[0]}")


def test_the_baseline_records_the_certificates_name_not_the_mailname(tmp_path):
    """In the VM rehearsal MB-26 verified the mail certificate against /etc/mailname's host name
    (web1.example.test) while the certificate, and every customer's mail client, says
    mail.example.test: the probe failed on a host that served mail correctly."""
    root = tmp_path / "root"
    (root / "etc/postfix").mkdir(parents=True)
    (root / "etc/ssl/mail").mkdir(parents=True)
    (root / "etc/mailname").write_text("web1.example.test\n")
    (root / "etc/postfix/main.cf").write_text("smtpd_tls_cert_file=/etc/ssl/certs/ssl-cert-snakeoil.pem\n"
                                               "smtpd_tls_cert_file=/etc/ssl/mail/mail.pem\n")
    (root / "etc/ssl/mail/mail.pem").write_text((TLS / "mail-san.pem").read_text())
    host = Host(paths=HostPaths(rootfs=str(root)), runner=_no_commands)
    socks = [{"proto": "tcp", "port": 25}, {"proto": "tcp", "port": 993}]
    assert capture_offered(host, socks)["mail_name"] == "mail.example.test"
    (root / "etc/ssl/mail/mail.pem").write_text((TLS / "no-san.pem").read_text())  # no names: as before
    assert capture_offered(host, socks)["mail_name"] == "web1.example.test"
