"""data-restore of a Maildir against real dovecot and restic: a Maildir with real RFC 5322
messages (and dovecot's own index files) backed up with restic, damaged, restored through the
engine, then `doveadm force-resync` and `doveadm mailbox status` on the restored store. dovecot's
master process runs from a config in the temp dir (no listeners; doveadm looks users up through its
auth service, which is why the runbook resyncs only once the writers run again). systemctl is the
only stand-in (no systemd in the test environment)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from agent.recovery import runbook as rbm
from agent.recovery.executor import Executor, NullUI
from agent.recovery.record import RunStore
from tests.e2e import test_restore_databases as _dbs
from tests.e2e.test_restore_databases import RUNBOOKS, _host, _restic_backup

world = _dbs.world  # the fixture, shared with the database restores

VMAIL_UID = 65534  # nobody: dovecot refuses mail access as root (first_valid_uid)

MESSAGE = ("Return-Path: <{frm}>\r\nFrom: {frm}\r\nTo: alice@example.org\r\nSubject: {subject}\r\n"
           "Date: Mon, 01 Dec 2026 10:0{n}:00 +0000\r\nMessage-ID: <{n}.{subject}@example.org>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n")


def _doveadm(conf: Path, *args: str) -> str:
    r = subprocess.run(["doveadm", "-c", str(conf), *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (args, r.returncode, r.stderr)
    return r.stdout


def _messages(conf: Path, mailbox: str) -> int:
    out = _doveadm(conf, "mailbox", "status", "-u", "alice", "messages", mailbox)
    return int(out.split("messages=")[1].split()[0])


def _mail_files(maildir: Path) -> dict[str, str]:
    """Every message file (cur/ and new/ of every folder) -> sha256 of its content."""
    return {str(p.relative_to(maildir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(maildir.rglob("*")) if p.is_file() and p.parent.name in ("cur", "new")}


def _dovecot(world: Path, vmail: Path) -> Path:
    (world / "dovecot-run").mkdir()
    conf = world / "dovecot.conf"
    conf.write_text(f"""base_dir = {world}/dovecot-run
state_dir = {world}/dovecot-state
log_path = {world}/dovecot.log
ssl = no
protocols =
first_valid_uid = {VMAIL_UID}
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = {world}/users
}}
userdb {{
  driver = passwd-file
  args = {world}/users
}}
""")
    (world / "users").write_text(f"alice:{{PLAIN}}not-used:{VMAIL_UID}:{VMAIL_UID}::{vmail}/alice::\n")
    return conf


def _fill(maildir: Path) -> None:
    for folder, subjects in (("", ("invoice", "welcome", "meeting")), (".Sent", ("reply",))):
        for sub in ("cur", "new", "tmp"):
            (maildir / folder / sub).mkdir(parents=True, exist_ok=True)
        for n, subject in enumerate(subjects, 1):
            seen = folder or n < 3  # two read messages in INBOX/cur, one unread in INBOX/new
            name = f"176457600{n}.M{n}P100.mailhost" + (":2,S" if seen else "")
            text = MESSAGE.format(frm="bob@example.net", subject=subject, n=n, body=f"{subject} body ü {n}\r\n" * 20)
            (maildir / folder / ("cur" if seen else "new") / name).write_bytes(text.encode())


@pytest.mark.skipif(shutil.which("doveadm") is None or shutil.which("dovecot") is None or shutil.which("restic") is None
                    or shutil.which("rsync") is None or os.geteuid() != 0,
                    reason="needs root, dovecot-core, restic and rsync (tests/run.sh installs them)")
def test_maildir_restored_swapped_in_and_resynced_by_real_dovecot(world, monkeypatch):
    monkeypatch.setenv("RESTIC_CACHE_DIR", str(world / "cache"))
    vmail = world / "vmail"
    maildir = vmail / "alice" / "Maildir"
    _fill(maildir)
    for p in [vmail, *vmail.rglob("*")]:
        os.chown(p, VMAIL_UID, VMAIL_UID)
    conf = _dovecot(world, vmail)
    subprocess.run(["dovecot", "-c", str(conf)], check=True, timeout=60)
    try:
        assert (_messages(conf, "INBOX"), _messages(conf, "Sent")) == (3, 1)  # dovecot writes its indexes
        assert (maildir / "dovecot.index.log").exists() and (maildir / "dovecot-uidlist").exists()
        before = _mail_files(maildir)
        assert len(before) == 4
        repo, pw = _restic_backup(world, vmail)
        # the loss: two messages gone, one mangled, dovecot's uid list and index log garbage
        victims = sorted(p for p in maildir.glob("cur/*"))
        victims[0].unlink()
        next(maildir.glob("new/*")).unlink()
        victims[1].write_bytes(b"\x00" * 100)
        (maildir / "dovecot-uidlist").write_bytes(b"garbage\n")
        (maildir / "dovecot.index.log").write_bytes(b"\xff" * 64)
        (world / "scratch").mkdir()
        params = {"kind": "maildir", "repo": repo, "password_file": str(pw), "path": str(vmail),
                  "scratch": str(world / "scratch"), "service": "postfix.service", "service2": "dovecot.service",
                  "dovecot_config": str(conf)}
        ex = Executor(rbm.load(RUNBOOKS / "data-restore.toml"), _host(world), params=params,
                      store=RunStore(world / "state"),
                      ui=NullUI(["the mail disk died", str(vmail), "2026-12-01 03:00 - 2026-12-01 09:00"]))
        t0 = time.monotonic()
        rec = ex.start()
        took = time.monotonic() - t0
        steps = rec.data["steps"]
        assert rec.data["status"] == "completed", [(k, v["state"], v.get("detail")) for k, v in steps.items()
                                                   if v["state"] not in ("verified", "not_applicable", "already_done")]
        order = list(steps)
        assert order.index("D-06") > order.index("D-09a")  # resync once dovecot runs again
        assert steps["D-06"]["state"] == "verified" and steps["D-07b"]["state"] == "verified"
        assert "alice INBOX messages=3" in str(steps["D-06"]["evidence"])
        # the messages are the snapshot's, byte for byte; dovecot counts them
        assert _mail_files(maildir) == before
        assert (_messages(conf, "INBOX"), _messages(conf, "Sent")) == (3, 1)
        assert "invoice" in _doveadm(conf, "fetch", "-u", "alice", "hdr.subject", "mailbox", "INBOX", "all")
        assert (vmail.parent / "vmail.pre-restore").is_dir()  # the replaced files are kept
        assert maildir.stat().st_uid == VMAIL_UID and all(p.stat().st_uid == VMAIL_UID for p in maildir.rglob("*"))
        print(f"maildir restore run: {took:.1f} s")
    finally:
        subprocess.run(["doveadm", "-c", str(conf), "stop"], capture_output=True, timeout=60)
