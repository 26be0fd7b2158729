"""data-restore against real database servers: a PostgreSQL cluster and a MariaDB server started
in the test (temporary data directory, unix socket only, no TCP), a real dump in a real restic
repository, restored into a scratch database, checked and swapped in. systemctl is the only
stand-in (no systemd in the test environment): the writer unit reports loaded/stopped."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from agent.host import CommandResult, Host, HostPaths
from agent.recovery import runbook as rbm
from agent.recovery.executor import Executor, NullUI
from agent.recovery.record import RunStore

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _systemctl_stub(argv, timeout, env=None):
    argv = [str(a) for a in argv]
    if argv[0] == "systemctl":
        out = {"show": "LoadState=loaded\nActiveState=inactive\n", "is-active": "active\n"}.get(argv[1], "")
        return CommandResult(tuple(argv), 0, out.encode(), b"", 0.0)
    return Host().run(argv, timeout, env)


@pytest.fixture
def world():
    """A world-readable temp dir (the database servers run as their own users)."""
    d = Path(tempfile.mkdtemp(prefix="hwagent-db-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _as(user, *argv, **kw):
    return subprocess.run(["runuser", "-u", user, "--", *argv], check=True, capture_output=True, text=True,
                          timeout=120, **kw)


def _host(world: Path) -> Host:
    proc = world / "proc"
    (proc / "sys/kernel/random").mkdir(parents=True, exist_ok=True)
    (proc / "sys/kernel/random/boot_id").write_text("boot-1\n")
    (proc / "sys/kernel/hostname").write_text("dbhost\n")
    return Host(paths=HostPaths(rootfs="/", procfs=str(proc)), runner=_systemctl_stub)


def _restic_backup(world: Path, path: Path) -> tuple[str, Path]:
    pw = world / "pw"
    pw.write_text("secret\n")
    repo = world / "repo"
    env = {**os.environ, "RESTIC_CACHE_DIR": str(world / "cache")}
    subprocess.run(["restic", "init", "-q", "-r", str(repo), "--password-file", str(pw)], check=True, env=env)
    subprocess.run(["restic", "backup", "-q", "-r", str(repo), "--password-file", str(pw), str(path)], check=True, env=env)
    return str(repo), pw


@pytest.mark.skipif(not (PG_BIN / "initdb").exists() or shutil.which("restic") is None or os.geteuid() != 0,
                    reason="needs root, PostgreSQL 15 and restic (tests/run.sh installs them)")
def test_postgresql_dump_restored_into_scratch_checked_and_swapped(world, monkeypatch):
    monkeypatch.setenv("RESTIC_CACHE_DIR", str(world / "cache"))
    data, sock = world / "pgdata", world / "pgsock"
    for d in (sock, data):
        d.mkdir()
        shutil.chown(d, "postgres")
    _as("postgres", str(PG_BIN / "initdb"), "-A", "peer", "-D", str(data))
    port = "54329"
    _as("postgres", str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l", str(sock / "pg.log"),
        "-o", f"-k {sock} -p {port} -c listen_addresses=''", "start")
    try:
        psql = [str(PG_BIN / "psql"), "-X", "-h", str(sock), "-p", port, "-v", "ON_ERROR_STOP=1"]
        _as("postgres", str(PG_BIN / "createdb"), "-h", str(sock), "-p", port, "shop")
        _as("postgres", *psql, "-d", "shop", "-c",
            "CREATE TABLE orders (id int primary key, total numeric); "
            "INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 1000) g; "
            "CREATE TABLE customers (id int primary key); INSERT INTO customers SELECT generate_series(1, 40);")
        dumps = world / "backups" / "db"
        dumps.mkdir(parents=True)
        shutil.chown(dumps, "postgres")
        _as("postgres", str(PG_BIN / "pg_dump"), "-Fc", "-h", str(sock), "-p", port, "-f", str(dumps / "shop.dump"), "shop")
        repo, pw = _restic_backup(world, dumps)
        _as("postgres", *psql, "-d", "shop", "-c", "INSERT INTO orders VALUES (5000, 1)")  # written after the backup
        (world / "scratch").mkdir()
        rb = rbm.load(RUNBOOKS / "data-restore.toml")
        params = {"kind": "postgresql", "repo": repo, "password_file": str(pw), "path": str(dumps),
                  "scratch": str(world / "scratch"), "service": "shop-app.service", "db_name": "shop",
                  "db_dump": str(dumps / "shop.dump"), "pg_socket": str(sock), "pg_port": port}
        store = RunStore(world / "state")
        monkeypatch.setenv("PATH", f"{PG_BIN}:{os.environ['PATH']}")
        ex = Executor(rb, _host(world), params=params, store=store,
                      ui=NullUI(["the disk died", "shop", "2026-12-01 03:00 - 2026-12-01 09:00"]))
        t0 = time.monotonic()
        rec = ex.start()
        took = time.monotonic() - t0
        steps = rec.data["steps"]
        assert rec.data["status"] == "completed", [(k, v["state"], v.get("detail"), [e.get("stderr", {}).get("text") for e in v.get("evidence", [])]) for k, v in steps.items() if v["state"] not in ("verified", "not_applicable", "already_done")]
        assert "public.orders 1000 rows" in steps["D-05p3"]["detail"], steps["D-05p3"]["detail"]
        assert steps["D-07b"]["state"] == "not_applicable" and steps["D-05m"]["state"] == "not_applicable"
        count = _as("postgres", *psql, "-A", "-t", "-d", "shop", "-c", "SELECT count(*) FROM orders").stdout.strip()
        old = _as("postgres", *psql, "-A", "-t", "-d", "shop_pre_restore", "-c", "SELECT count(*) FROM orders").stdout.strip()
        assert (count, old) == ("1000", "1001")  # the dump's data is live, the old database kept aside
        print(f"postgresql restore run: {took:.1f} s")
    finally:
        _as("postgres", str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")


@pytest.mark.skipif(shutil.which("mariadbd") is None or shutil.which("mariadb-install-db") is None
                    or shutil.which("restic") is None or os.geteuid() != 0,
                    reason="needs root, mariadb-server and restic (tests/run.sh installs them)")
def test_mariadb_dump_restored_into_scratch_checked_and_swapped(world, monkeypatch):
    monkeypatch.setenv("RESTIC_CACHE_DIR", str(world / "cache"))
    run = world / "myrun"
    run.mkdir()
    shutil.chown(run, "mysql")
    data, sock = world / "mydata", run / "my.sock"
    subprocess.run(["mariadb-install-db", "--user=mysql", f"--datadir={data}", "--auth-root-authentication-method=socket",
                    "--skip-test-db"], check=True, capture_output=True, timeout=120)
    server = subprocess.Popen(["mariadbd", "--no-defaults", "--user=mysql", f"--datadir={data}", f"--socket={sock}",
                               "--skip-networking", f"--pid-file={run / 'my.pid'}", f"--log-error={run / 'my.err'}"])
    try:
        for _ in range(300):
            if sock.exists() and subprocess.run(["mariadb-admin", f"--socket={sock}", "ping"],
                                                capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        cli = ["mariadb", f"--socket={sock}"]
        subprocess.run([*cli, "-e", "CREATE DATABASE shop; USE shop; CREATE TABLE orders (id int primary key, total int);"
                        " INSERT INTO orders SELECT seq, seq FROM seq_1_to_1000;"
                        " CREATE TABLE customers (id int primary key); INSERT INTO customers SELECT seq FROM seq_1_to_40;"],
                       check=True, timeout=60)
        dumps = world / "backups" / "db"
        dumps.mkdir(parents=True)
        subprocess.run(["mariadb-dump", f"--socket={sock}", f"--result-file={dumps / 'shop.sql'}", "shop"], check=True,
                       timeout=60)
        repo, pw = _restic_backup(world, dumps)
        subprocess.run([*cli, "-e", "INSERT INTO shop.orders VALUES (5000, 1)"], check=True, timeout=60)
        (world / "scratch").mkdir()
        rb = rbm.load(RUNBOOKS / "data-restore.toml")
        params = {"kind": "mariadb", "repo": repo, "password_file": str(pw), "path": str(dumps),
                  "scratch": str(world / "scratch"), "service": "shop-app.service", "db_name": "shop",
                  "db_dump": str(dumps / "shop.sql"), "mysql_socket": str(sock)}
        ex = Executor(rb, _host(world), params=params, store=RunStore(world / "state"),
                      ui=NullUI(["the disk died", "shop", "2026-12-01 03:00 - 2026-12-01 09:00"]))
        rec = ex.start()
        steps = rec.data["steps"]
        assert rec.data["status"] == "completed", [(k, v["state"], v.get("detail"), [e.get("stderr", {}).get("text") for e in v.get("evidence", [])]) for k, v in steps.items() if v["state"] not in ("verified", "not_applicable", "already_done")]
        assert "shop_restore_check.orders 1000 rows" in steps["D-05m2"]["detail"], steps["D-05m2"]["detail"]
        out = subprocess.run([*cli, "-N", "-e", "SELECT COUNT(*) FROM shop.orders"], capture_output=True, text=True,
                             check=True).stdout.strip()
        assert out == "1000"  # the dump's tables replaced the live ones
        assert (world / "scratch" / "shop.pre-restore.sql").read_text().count("5000,1") == 1  # the old data kept
    finally:
        server.terminate()
        server.wait(60)
