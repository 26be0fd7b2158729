"""Service probes against loopback servers: web vhosts with SNI and certificate lifetime, SMTP
STARTTLS, IMAPS, authoritative DNS; each failure names the service."""

from __future__ import annotations

import pytest

from agent import baseline_services as svc
from agent.recovery import probes
from tests.unit.recovery.probe_servers import Servers


@pytest.fixture
def servers(tmp_path, monkeypatch):
    srv = Servers(tmp_path)
    monkeypatch.setattr(probes, "CONNECT", srv.connect)
    monkeypatch.setattr(probes, "CAFILE", str(srv.crt))
    monkeypatch.setattr(probes, "TIMEOUT", 3.0)
    yield srv
    srv.close()


OLD = {"services": {"vhosts": [{"name": "www.example.org", "port": 443, "tls": True},
                               {"name": "www.example.org", "port": 80, "tls": False}],
                    "mail_ports": [25, 993], "mail_name": "mail.example.org", "zones": ["example.org"]}}
NEW = {"listening": {"sockets": [{"proto": "tcp", "address": "203.0.113.10", "port": 443},
                                 {"proto": "tcp", "address": "0.0.0.0", "port": 80},
                                 {"proto": "tcp", "address": "0.0.0.0", "port": 25},
                                 {"proto": "tcp", "address": "::", "port": 993},
                                 {"proto": "udp", "address": "0.0.0.0", "port": 53}]}}


def test_all_services_answer(servers):
    problems, ok, text = probes.compare(OLD, NEW)
    assert problems == [], text
    assert "https://www.example.org/ -> 200, certificate valid" in text
    assert "SMTP 127.0.0.1:25 mail.example.org ESMTP Postfix (Debian/GNU), STARTTLS ok" in text
    assert "IMAPS ::1:993 greeting '* OK [CAPABILITY IMAP4rev1] Dovecot (Deb'" in text
    assert "DNS 127.0.0.1: example.org SOA authoritative" in text and ok.startswith("5 service probe(s)")


def test_a_service_that_does_not_listen_fails_without_probing(servers):
    new = {"listening": {"sockets": [s for s in NEW["listening"]["sockets"] if s["port"] != 443]}}
    problems, _, _ = probes.compare(OLD, new)
    assert problems == ["https://www.example.org:443: nothing listens on that port now"]


def test_certificate_expiring_within_seven_days_fails(tmp_path, monkeypatch):
    srv = Servers(tmp_path, cert_days=6)
    try:
        monkeypatch.setattr(probes, "CONNECT", srv.connect)
        monkeypatch.setattr(probes, "CAFILE", str(srv.crt))
        ok, detail = probes.http("203.0.113.10", 443, "www.example.org", True)
        assert not ok and "expires in 6.0 days (< 7)" in detail
        ok8, _ = probes.http("203.0.113.10", 443, "www.example.org", True, now=__import__("time").time() - 2 * 86400)
        assert ok8  # 8 days left: passes at the boundary's other side
    finally:
        srv.close()


def test_wrong_sni_name_and_untrusted_certificate_fail(servers, monkeypatch):
    ok, detail = probes.http("203.0.113.10", 443, "shop.example.com", True)
    assert not ok and "certificate for shop.example.com not valid" in detail
    monkeypatch.setattr(probes, "CAFILE", None)  # the system store does not trust the test certificate
    ok, detail = probes.http("203.0.113.10", 443, "www.example.org", True)
    assert not ok and "not valid" in detail


def test_smtp_without_starttls_and_dns_not_authoritative(tmp_path, monkeypatch):
    srv = Servers(tmp_path, starttls=False, dns_aa=False)
    try:
        monkeypatch.setattr(probes, "CONNECT", srv.connect)
        monkeypatch.setattr(probes, "CAFILE", str(srv.crt))
        ok, detail = probes.smtp("127.0.0.1", 25, "mail.example.org")
        assert not ok and "STARTTLS not offered" in detail
        ok, detail = probes.dns("127.0.0.1", "example.org")
        assert not ok and "not authoritative" in detail
        ok, detail = probes.dns("127.0.0.1", "example.com")
        assert not ok and "rcode 3" in detail
    finally:
        srv.close()


def test_unreachable_service_names_itself(monkeypatch):
    from tests.unit.recovery.probe_servers import free_port

    port = free_port()
    monkeypatch.setattr(probes, "CONNECT", lambda a, p: ("127.0.0.1", port))
    ok, detail = probes.http("203.0.113.10", 443, "www.example.org", True)
    assert not ok and detail.startswith("https://www.example.org:443 (203.0.113.10): cannot connect")


def test_probes_refuse_a_mounted_tree_without_a_redirect():
    class Tree:
        is_live = False
    assert probes.compare(OLD, NEW, Tree())[0] == ["service probes need the running host (root /), not a mounted tree"]
    assert probes.compare({"services": {}}, NEW, Tree())[0] == []


def test_offered_services_from_nginx_apache_and_bind():
    nginx = ("server {\n listen 80;\n server_name a.example.org b.example.org;\n}\n"
             "server {\n listen [::]:443 ssl;\n server_name a.example.org;\n location / { }\n}\n"
             "server { listen 80 default_server; server_name _; }\n")
    assert svc.parse_nginx(nginx) == [{"name": "a.example.org", "port": 80, "tls": False},
                                      {"name": "b.example.org", "port": 80, "tls": False},
                                      {"name": "a.example.org", "port": 443, "tls": True}]
    apache = ("<VirtualHost *:443>\n  ServerName shop.example.net\n  ServerAlias www.shop.example.net\n"
              "  SSLEngine on\n</VirtualHost>\n# <VirtualHost *:80>\n")
    assert svc.parse_apache(apache) == [{"name": "shop.example.net", "port": 443, "tls": True},
                                        {"name": "www.shop.example.net", "port": 443, "tls": True}]
    bind = 'zone "example.org" { type master; file "x"; };\nzone "x.net" IN { type slave; };\n' \
           'zone "10.in-addr.arpa" { type primary; };\n/* zone "old.org" { type master; }; */\n'
    assert svc.parse_bind_zones(bind) == ["example.org"]
    print(probes.outside_commands(OLD, "host.example.org"))
    assert "openssl s_client -connect host.example.org:25 -starttls smtp -brief </dev/null" in probes.outside_commands(OLD, "host.example.org")
