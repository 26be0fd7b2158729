"""agent baseline show|diff|export: the host fingerprint recovery compares against."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from agent.cli.common import host_options, pass_host_options


def _host(app):
    from agent.daemon import host_from_config  # noqa: PLC0415

    return host_from_config(app.config())


def _bstore(app, create: bool = True):
    from agent.baseline import BaselineStore  # noqa: PLC0415
    from agent.state.store import Store, StoreError  # noqa: PLC0415

    d = Path(app.config().state.dir)
    if not create and not (d / "state.db").exists():
        return None, None
    try:
        store = Store.in_dir(d, durable=True)  # a known-good mark must survive the board dying next
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    return store, BaselineStore(store)


def default_before(app, *, other_board: bool = False, host=None):
    """The default "before" (:func:`agent.baseline_select.choose`), read without writing: the
    same choice for `agent recover` and `agent baseline diff`."""
    from agent import baseline as bl  # noqa: PLC0415
    from agent import baseline_select as sel  # noqa: PLC0415

    db = Path(app.config().state.dir) / "state.db"
    if not db.exists():
        return sel.Choice(None, None, "no stored baseline (steps that compare with it will fail; pass --baseline FILE)")
    try:
        rows = bl.read_all_stored(db)
    except bl.BaselineError as exc:
        return sel.Choice(None, None, f"stored baselines unreadable ({exc})")
    try:
        live = sel.live_identity(host or _host(app))
    except Exception:  # noqa: BLE001 - no sysfs (a rescue chroot without /sys): choose without it
        live = None
    return sel.choose(rows, live=live, other_board=other_board)


def resolve(app, ref: str | None, default: str) -> tuple[dict, str]:
    """A baseline by reference: ``before`` (the default "before", as `agent recover` uses),
    ``live``, a stored id (prefix), ``latest``, ``previous`` or a file."""
    from agent import baseline as bl  # noqa: PLC0415

    ref = ref or default
    if ref == "before":
        choice = default_before(app)
        for w in choice.warnings:
            click.echo(w, err=True)
        if choice.data is None:
            raise click.ClickException(choice.note)
        click.echo(choice.note, err=True)
        return choice.data, f"stored {choice.ident} (before)"
    if ref == "live":
        return bl.capture(_host(app)), "live capture"
    if Path(ref).is_file() or "/" in ref or ref.endswith(".json"):
        try:
            return bl.load_file(ref), ref
        except bl.BaselineError as exc:
            raise click.ClickException(str(exc)) from None
    store, bs = _bstore(app, create=False)
    if bs is None:
        raise click.ClickException(f"no stored baselines in {app.config().state.dir} (the daemon stores one daily; "
                                   "`agent baseline capture` stores one now)")
    try:
        if ref in ("latest", "previous"):
            data = bs.latest(0 if ref == "latest" else 1)
            if data is None:
                raise click.ClickException(f"no {ref} stored baseline")
            return data, f"stored {data['id']}"
        try:
            data = bs.get(ref)
        except bl.BaselineError as exc:
            raise click.ClickException(str(exc)) from None
        return data, f"stored {data['id']}"
    finally:
        store.close()


def summary(data: dict) -> str:
    dmi = data.get("dmi", {})
    mem = data.get("memory", {})
    lines = [
        f"captured    {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime(data.get('captured_at') or 0))}"
        + (f"  id {data['id']}" if data.get("id") else "") + f"  fingerprint {str(data.get('fingerprint'))[:12]}",
        f"board       {dmi.get('board_vendor')} {dmi.get('board_name')} serial {dmi.get('board_serial')}",
        f"bios        {dmi.get('bios_vendor')} {dmi.get('bios_version')} ({dmi.get('bios_date')})",
        f"system      {dmi.get('sys_vendor')} {dmi.get('product_name')} uuid {dmi.get('product_uuid')}",
        f"cpu         {', '.join(data.get('cpu', {}).get('models', []))} x{data.get('cpu', {}).get('threads')}",
        f"memory      {(mem.get('total_bytes') or 0) / 2**30:.1f} GiB, {mem.get('dimm_count')} of {mem.get('dimm_slots')} DIMM slots",
        f"boot        {data.get('boot', {}).get('mode')}, order {','.join(data.get('boot', {}).get('efi', {}).get('boot_order', []))}",
        f"kernel      {data.get('software', {}).get('kernel', {}).get('release')}, "
        f"{len(data.get('software', {}).get('packages', {}))} packages, "
        f"{len(data.get('software', {}).get('services_enabled', []))} enabled units",
    ]
    for name, n in sorted(data.get("nics", {}).get("physical", {}).items()):
        lines.append(f"nic         {name} {n.get('mac')} {n.get('driver')} {n.get('pci_path')} {n.get('operstate')}")
    for r in data.get("net_config_refs", []):
        lines.append(f"mac ref     {r['file']}:{r['line']} {r['mac']}" + ("" if r.get("matches_nic") else "  (no NIC has it)"))
    for r in data.get("net_name_refs", []):
        lines.append(f"name ref    {r['file']}:{r['line']} {r['name']}" + ("" if r.get("present") else "  (no such interface)"))
    for a in data.get("network", {}).get("addresses", []):
        lines.append(f"address     {a['ifname']} {a['address']}" + ("  (EUI-64 of the MAC)" if a.get("eui64") else ""))
    for r in data.get("network", {}).get("default_routes", []):
        lines.append(f"route       default via {r.get('gateway')} dev {r.get('dev')}")
    for sck in data.get("listening", {}).get("sockets", []):
        lines.append(f"listen      {sck['proto']} {sck['address']}:{sck['port']} {sck.get('unit') or sck.get('process') or ''}")
    for v in data.get("services", {}).get("vhosts", []):
        lines.append(f"vhost       {'https' if v.get('tls') else 'http'}://{v['name']}:{v['port']} ({v.get('source')})")
    for z in data.get("services", {}).get("zones", []):
        lines.append(f"dns zone    {z}")
    for d in data.get("disks", []):
        size = (d.get("size_bytes") or 0) / 1e9
        lines.append(f"disk        {d['name']} {d.get('model')} serial {d.get('serial')} {size:.0f} GB")
    for a in data.get("storage", {}).get("md", {}).get("arrays", []):
        lines.append(f"md          {a.get('device')} UUID {a.get('uuid')}")
    for p in data.get("storage", {}).get("zfs", {}).get("pools", []):
        lines.append(f"zpool       {p['name']} guid {p['guid']} {p['health']}")
    for tab in ("fstab", "crypttab"):
        for e in data.get("mounts", {}).get(tab, []):
            if e.get("exists") is False:
                lines.append(f"{tab:<11} {e['spec']} ({e.get('target')}) MISSING")
    off = data.get("time", {}).get("rtc_offset_seconds")
    if off is not None:
        lines.append(f"rtc         {off:+.1f} s vs system time")
    return "\n".join(lines)


@click.group("baseline")
def baseline() -> None:
    """Host baseline: board, NICs and MACs, disks, arrays, EFI entries, packages, services.

    The daemon stores a new version daily when something changed. After a board swap the host
    cannot say what it looked like, so export one and keep it off-host with the backups.

    \b
    Examples:
      agent baseline show
      agent baseline diff                       # latest stored vs the live host
      agent baseline export /backup/$(hostname)-baseline.json
    """


@baseline.command("show")
@click.argument("ref", required=False)
@click.option("--list", "as_list", is_flag=True, help="List stored versions.")
@click.option("--json", "as_json", is_flag=True, help="Print the full baseline as JSON.")
@host_options
@click.pass_obj
@pass_host_options
def show(app, ref: str | None, as_list: bool, as_json: bool) -> None:
    """Show a baseline: REF is a stored id, `latest` (default), `live` or an export file.

    \b
    Examples:
      agent baseline show
      agent baseline show --list
      agent baseline show live --json
    """
    if as_list:
        store, bs = _bstore(app, create=False)
        rows = bs.list() if bs else []
        if store:
            store.close()
        if as_json:
            app.echo(json.dumps(rows, indent=2))
            return
        if not rows:
            app.echo("no stored baselines")
        for r in rows:
            app.echo(f"{r['id']}  {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime(r['captured']))}"
                     + ("  known-good" if r["known_good"] else ""))
        return
    if ref is None:
        store, bs = _bstore(app, create=False)
        has = bs is not None and bs.latest() is not None
        if store:
            store.close()
        ref = "latest" if has else "live"
        if not has:
            app.echo("note: no stored baseline; showing a live capture", err=True)
    data, label = resolve(app, ref, "latest")
    app.echo(json.dumps(data, indent=1, sort_keys=True, default=str) if as_json else f"# {label}\n" + summary(data))


@baseline.command("capture")
@click.option("--known-good", is_flag=True, help="Mark the stored version as known-good.")
@host_options
@click.pass_obj
@pass_host_options
def capture_cmd(app, known_good: bool) -> None:
    """Capture the live host now and store it (if it changed).

    \b
    Examples:
      agent baseline capture
      agent baseline capture --known-good
    """
    from agent import baseline as bl  # noqa: PLC0415

    data = bl.capture(_host(app))
    store, bs = _bstore(app)
    try:
        ident, stored = bs.save(data)
        if known_good:
            bs.mark_known_good(ident)
    finally:
        store.close()
    app.echo(f"{'stored' if stored else 'unchanged, kept'} baseline {ident}")
    from agent.baseline_services import service_gaps  # noqa: PLC0415

    for gap in service_gaps(data):
        app.echo(f"warning: {gap}: the recovery cannot compare this with the new board (MB-16c, MB-25); "
                 "fix it and capture again", err=True)


@baseline.command("diff")
@click.argument("old", required=False)
@click.argument("new", required=False)
@click.option("--section", "sections", multiple=True, help="Limit to a section prefix (nics, dmi, boot.efi, disks ...).")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@host_options
@click.pass_obj
@pass_host_options
def diff_cmd(app, old: str | None, new: str | None, sections: tuple[str, ...], as_json: bool) -> int:
    """What changed: OLD (default: `before`) against NEW (default: the live host).

    Each of OLD and NEW is `before`, a stored id, `latest`, `previous`, `live` or an export file.
    `before` is the baseline `agent recover` compares with: the newest known-good version; a
    capture of other hardware (new board serial, system UUID or NIC MACs) never is. Exit 0
    without changes, 1 with changes.

    \b
    Examples:
      agent baseline diff
      agent baseline diff /backup/host-baseline.json live --section nics --section dmi
      agent baseline diff previous latest --json
    """
    from agent import baseline as bl  # noqa: PLC0415

    a, la = resolve(app, old, "before")
    b, lb = resolve(app, new, "live")
    changes = bl.diff(a, b, sections or None)
    if as_json:
        app.echo(json.dumps({"old": la, "new": lb, "changes": changes}, indent=2, default=str))
    else:
        app.echo(f"--- {la}\n+++ {lb}\n" + bl.render_diff(changes))
    return 1 if changes else 0


@baseline.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("ref", required=False)
@host_options
@click.pass_obj
@pass_host_options
def export_cmd(app, file: str, ref: str | None) -> None:
    """Write a baseline (REF, default: a live capture) to FILE, mode 0600, to keep off-host.

    \b
    Examples:
      agent baseline export /backup/$(hostname)-baseline.json
      agent baseline export /mnt/usb/baseline.json latest
    """
    from agent import baseline as bl  # noqa: PLC0415

    data, label = resolve(app, ref, "live")
    try:
        p = bl.export(data, file)
    except OSError as exc:
        raise click.ClickException(f"{file}: {exc.strerror or exc}") from None
    app.echo(f"wrote {label} to {p}")


@baseline.command("push")
@click.option("--target", help="Override [recovery] export_target (directory, host:path, rsync://..., statuspage).")
@click.option("--force", is_flag=True, help="Push even when nothing changed since the last push.")
@host_options
@click.pass_obj
@pass_host_options
def push_cmd(app, target: str | None, force: bool) -> int:
    """Keep the known-good baseline and the filled mainboard-swap checklist off-host.

    Pushes only when the known-good version or the checklist changed since the last push (run
    it from hwagent-baseline-push.timer). Exit 0 pushed or unchanged, 1 on failure.

    \b
    Examples:
      agent baseline push --target /mnt/backup/hwagent
      agent baseline push --target backup@vault.example.net:hwagent/
      agent baseline push --target statuspage
    """
    import os  # noqa: PLC0415

    from agent.recovery import offhost  # noqa: PLC0415
    from agent.recovery.template import Context  # noqa: PLC0415

    rc_cfg = app.config().section("recovery")
    target = target or rc_cfg.export_target
    if not target:
        raise click.ClickException("no export target: set [recovery] export_target or pass --target")
    store, bs = _bstore(app, create=False)
    if bs is None:
        raise click.ClickException(f"no stored baselines in {app.config().state.dir}")
    try:
        kg = next((r for r in bs.list() if r["known_good"]), None)
        if kg is None:
            raise click.ClickException("no known-good baseline to push: `agent baseline capture --known-good` on a "
                                       "healthy host first")
        data = bs.get(kg["id"])
        from agent.cli.common import load_runbook as _load_rb  # noqa: PLC0415
        from agent.recovery import report  # noqa: PLC0415

        rb = _load_rb(app, "mainboard-swap")
        host = os.uname().nodename
        ctx = Context(params={k: p.default for k, p in rb.params.items() if p.default is not None}, baseline=data,
                      run={"id": "<run-id>", "operator": app.operator(), "host": host})
        docs = offhost.documents(host, offhost.baseline_bytes(data), report.checklist(rb, ctx))
        sha = offhost.digest(docs)
        last = store.get("baseline.export")
        if not force and not offhost.needs_push(last, kg["id"], sha, target):
            app.echo(f"unchanged since {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime(last['time']))}: "
                     f"baseline {kg['id']} already at {target}")
            return 0

        def run(argv):
            res = _host(app).run(argv, 300)
            return res.rc, (res.stderr or b"").decode("utf-8", "replace") + (res.error or "")
        try:
            from agent.statusclient import put_host_document  # noqa: PLC0415

            cfg = app.config()
            detail = offhost.push(target, host, docs, method=rc_cfg.export_method, run=run,
                                  put=lambda h, k, b: put_host_document(h, k, b, cfg=cfg))
        except offhost.PushError as exc:
            raise click.ClickException(str(exc)) from None
        store.put("baseline.export", offhost.record(kg["id"], sha, target, detail))
        app.echo(f"{detail} (known-good baseline {kg['id']})")
        return 0
    finally:
        store.close()


@baseline.command("fetch")
@click.argument("host_name", metavar="HOST")
@click.option("--checklist", is_flag=True, help="Fetch the filled mainboard-swap checklist instead of the baseline.")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False), help="Write to FILE (mode 0600) instead of stdout.")
@click.option("--url", metavar="URL", help="Status service URL (env HWAGENT_STATUS_URL, else [notify] url).")
@click.pass_obj
def fetch_cmd(app, host_name: str, checklist: bool, out: str | None, url: str | None) -> None:
    """Fetch HOST's known-good baseline (or checklist) kept on the status service, from any machine,
    e.g. when HOST itself is dead. Needs the operator credential or HOST's own.

    \b
    Examples:
      agent baseline fetch server-3 -o server-3-baseline.json
      agent baseline fetch server-3 --checklist
      HWAGENT_STATUS_URL=https://status.example.net HWAGENT_STATUS_TOKEN_FILE=~/.op.token agent baseline fetch server-3
    """
    from agent import fileutil  # noqa: PLC0415
    from agent.statusclient import ClientError, StatusClient  # noqa: PLC0415

    try:
        cfg = app.config()
    except Exception:  # noqa: BLE001 - an operator laptop may have no config
        cfg = None
    kind = "checklist" if checklist else "baseline"
    try:
        body = StatusClient.from_env(cfg, url=url).get_host_document(host_name, kind)
    except ClientError as exc:
        raise click.ClickException(f"{kind} of {host_name}: {exc}") from None
    if out:
        fileutil.atomic_write(out, body, mode=0o600)
        app.echo(f"wrote the {kind} of {host_name} ({len(body)} bytes) to {out}")
    else:
        click.echo(body.decode("utf-8", "replace"), nl=False)


COMMANDS = (baseline,)
