"""agent ack: silence a finding until its evidence changes."""

from __future__ import annotations

import click

from agent.cli.check import run_cycle
from agent.cli.common import host_options, pass_host_options


@click.command("ack")
@click.argument("rule_id", metavar="RULE")
@click.argument("device")
@click.option("--remove", is_flag=True, help="Remove the acknowledgement instead.")
@host_options
@click.pass_obj
@pass_host_options
def ack(app, rule_id: str, device: str, remove: bool) -> int:
    """Acknowledge the active finding RULE on DEVICE.

    The finding stops alerting (hwagent_finding_active drops it, hwagent_finding_acknowledged
    shows it) until its evidence changes, e.g. a counter grows or the severity rises. DEVICE is
    the device column of `agent status` or the finding's stable subject.

    \b
    Examples:
      agent ack board.fan_stopped nct6775/fan3
      agent ack board.sensor_alarm nvme_nvme0/temp1
      agent ack --remove board.fan_stopped nct6775/fan3
    """
    from agent.state.store import Store  # noqa: PLC0415

    cfg = app.config()
    store = Store.in_dir(cfg.state.dir, durable=True)
    try:
        status = run_cycle(app)
        matches = [f for f in status["findings"] if f["rule"] == rule_id and device in (f["device"], f["subject"])]
        if remove:
            if not matches:
                store.unack(rule_id, device)
            for f in matches:
                store.unack(f["rule"], f["subject"])
            app.echo(f"removed acknowledgement of {rule_id} {device}")
            return 0
        if not matches:
            active = ", ".join(f"{f['rule']} {f['device']}" for f in status["findings"]) or "none"
            raise click.ClickException(f"no active finding {rule_id} on {device} (active: {active})")
        from agent.model import Finding, Severity  # noqa: PLC0415

        for f in matches:
            token = Finding(rule=f["rule"], component=f["component"], subject=f["subject"], device=f["device"],
                            severity=Severity.parse(f["severity"]), summary=f["summary"],
                            fingerprint=f.get("fingerprint", "")).ack_token
            store.ack(f["rule"], f["subject"], token, app.operator())
            app.echo(f"acknowledged {f['rule']} {f['device']} ({f['summary']})")
        return 0
    finally:
        store.close()
