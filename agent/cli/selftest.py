"""agent selftest DEVICE [--long]: run one SMART self-test now, show its progress, print the result."""

from __future__ import annotations

import json
import sys
import time

import click

# drives that do not report their test duration: a generous default (minutes)
DEFAULT_MINUTES = {"short": 2, "long": 120}


def _resolve(collector, name: str):
    """A target by name (sda, nvme0, bus_0_megaraid_1), path (/dev/sda) or by-id name."""
    from agent.collectors.smart import parse_device_spec  # noqa: PLC0415

    backend = collector.backend()
    if backend is None:
        raise click.ClickException(f"smartctl not found or not runnable ({collector.exe}); set [host] smartctl")
    targets = collector.discover(json_ok=backend == "json")
    for t in targets:
        if name in (t.device, t.path, t.spec, t.path.rsplit("/", 1)[-1]):
            return t, backend
    if name.startswith("/"):
        try:
            return parse_device_spec(name), backend
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    known = ", ".join(t.device for t in targets) or "none"
    raise click.ClickException(f"unknown device {name!r} (smartctl sees: {known})")


@click.command("selftest")
@click.argument("device")
@click.option("--long", "long_", is_flag=True, help="Run the extended (long) self-test instead of the short one.")
@click.option("--wake", is_flag=True, help="Test even if the disk is in standby (spins it up).")
@click.option("--no-wait", is_flag=True, help="Start the test and return; the daemon reports the result.")
@click.option("--poll-seconds", type=float, default=15.0, show_default=True, help="Seconds between progress reads.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def selftest(app, device: str, long_: bool, wake: bool, no_wait: bool, poll_seconds: float, as_json: bool) -> int:
    """Run a SMART self-test on DEVICE now and wait for its result.

    A disk in standby is not woken unless --wake is given; a test already running is never
    interrupted. Progress goes to stderr, the result to stdout; exit 0 when the test passed,
    1 when it failed or could not run.

    \b
    Examples:
      agent selftest sda
      agent selftest nvme0 --long --no-wait
      agent selftest /dev/sdb --json
    """
    from agent.collectors.smart import SmartCollector  # noqa: PLC0415
    from agent.jobs.selftests import selftest_argv  # noqa: PLC0415
    from agent.daemon import host_from_config  # noqa: PLC0415

    cfg = app.config()
    host = host_from_config(cfg)
    col = SmartCollector(host, cfg.collector("smart"), None)
    t, backend = _resolve(col, device)
    kind = "long" if long_ else "short"
    before = col.read_one(t, "json" if backend == "json" else backend, wake=wake)
    if before.read_status == "standby":
        raise click.ClickException(f"{t.device} is in standby; not woken (use --wake to test anyway)")
    if not before.fresh:
        raise click.ClickException(before.message or f"{t.device}: {before.read_status}")
    if before.selftest_running:
        raise click.ClickException(f"{t.device}: a self-test is already running; not interrupted")
    res = host.run(selftest_argv(col.exe, t.path, t.dev_type, kind), col.call_timeout)
    if res.error or res.rc is None or res.rc & 0x07:
        raise click.ClickException(f"{t.device}: smartctl could not start the {kind} self-test "
                                   f"({res.error or f'exit {res.rc}'}) {res.text()[:300]}")
    minutes = before.selftest_minutes.get("extended" if long_ else "short") or DEFAULT_MINUTES[kind]
    started = time.monotonic()
    if no_wait:
        out = {"device": t.device, "kind": kind, "started": True, "expected_minutes": minutes}
        app.echo(json.dumps(out) if as_json else f"{t.device}: {kind} self-test started (about {minutes} min)")
        return 0
    deadline = started + minutes * 60 * 3 + 300
    newest_before = before.self_tests[0] if before.self_tests else None
    after = before
    with click.progressbar(length=100, label=f"{t.device} {kind} self-test", file=sys.stderr,
                           show_eta=True) as bar:
        done = 0
        while time.monotonic() < deadline:
            time.sleep(poll_seconds)
            after = col.read_one(t, backend, wake=True)
            if not after.fresh:
                continue
            if after.selftest_running:
                left = after.selftest_remaining_ratio
                pct = min(99, int(round(100 * (1 - left)))) if left is not None else done
            else:
                newest = after.self_tests[0] if after.self_tests else None
                if newest is not None and newest != newest_before:
                    pct = 100
                elif time.monotonic() - started > 60:  # never seen running and nothing logged
                    pct = 100
                else:
                    continue
            if pct > done:
                bar.update(pct - done)
                done = pct
            if done >= 100:
                break
    newest = after.self_tests[0] if after.self_tests else None
    if newest is None or newest == newest_before:
        raise click.ClickException(f"{t.device}: no self-test result logged within the expected time")
    result = {"device": t.device, "kind": newest.kind, "status": newest.status, "passed": newest.passed,
              "lifetime_hours": newest.lifetime_hours, "lba": newest.lba}
    if as_json:
        app.echo(json.dumps(result, sort_keys=True))
    else:
        verdict = "PASSED" if newest.passed else "FAILED" if newest.passed is False else "UNKNOWN"
        app.echo(f"{t.device}: {newest.kind} self-test {verdict}: {newest.status}"
                 + (f" (first error at LBA {newest.lba})" if newest.lba else ""))
    return 0 if newest.passed else 1


COMMANDS = (selftest,)
