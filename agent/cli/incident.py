"""agent incident open|update|resolve|list|show|edit|publish: talk to the status service's API.

Short enough for a phone's SSH login; URL and token from HWAGENT_STATUS_URL and
HWAGENT_STATUS_TOKEN (or HWAGENT_STATUS_TOKEN_FILE), else from the [statuspage] config section.
"""

from __future__ import annotations

import json

import click

STATES = ("investigating", "identified", "monitoring")
IMPACTS = ("major_outage", "partial_outage", "degraded", "maintenance", "risk")


def _client(app, url: str | None):
    from agent.statusclient import ClientError, StatusClient  # noqa: PLC0415

    try:
        cfg = app.config()  # [notify] url/token_file, else [statuspage] public_url/token
    except Exception:  # noqa: BLE001 - a phone login may have no config at all
        cfg = None
    try:
        return StatusClient.from_env(cfg, url=url)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None


def _call(fn, *args, **kw):
    from agent.statusclient import ClientError  # noqa: PLC0415

    try:
        return fn(*args, **kw)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None


def _pick(d: dict, lang: str = "en") -> str:
    return d.get(lang) or next(iter(d.values()), "")


def _show(app, inc: dict, as_json: bool) -> None:
    if as_json:
        app.echo(json.dumps(inc, indent=2, sort_keys=True, ensure_ascii=False))
        return
    services = ",".join(s["id"] for s in inc["services"])
    draft = "  DRAFT (not published)" if not inc["published"] else ""
    app.echo(f"#{inc['id']} {inc['state']} {inc['impact']} [{services}] {_pick(inc['title'])}{draft}")
    app.echo(f"  started {inc['started_at']}" + (f"  ended {inc['ended_at']}" if inc.get("ended_at") else "")
             + (f"  eta {inc['eta_from']}..{inc['eta_to']}" if inc.get("eta_from") else ""))
    for u in inc["updates"]:
        edited = f" (edited {u['edited_at']})" if u.get("edited_at") else ""
        app.echo(f"  [{u['id']}] {u['created_at']} {u['state']}{edited}: {_pick(u['body'])}")


url_option = click.option("--url", metavar="URL", help="Status service URL (env HWAGENT_STATUS_URL).")
key_option = click.option("--key", metavar="KEY", help="Idempotency key (default: random per call; reuse it to retry safely).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the incident as JSON.")


@click.group("incident")
def incident() -> None:
    """Open, update and resolve customer-facing incidents on the status service.

    \b
    Examples:
      export HWAGENT_STATUS_URL=https://status.example.net HWAGENT_STATUS_TOKEN_FILE=~/.status-token
      agent incident open web mail -m "Server 3 is down, we are on it"
      agent incident update 7 -s identified --cause "mainboard failure" --eta 4h-6h
      agent incident resolve 7 --data-window "none, no data lost"
    """


@incident.command("open")
@click.argument("services", nargs=-1, required=True)
@click.option("-m", "--message", help="Text for customers (default: the state's template).")
@click.option("-s", "--state", type=click.Choice(STATES), default="investigating", show_default=True)
@click.option("-i", "--impact", type=click.Choice(IMPACTS), default=None, help="Default major_outage (maintenance with --maintenance).")
@click.option("-t", "--title", help="Title (default: from the template).")
@click.option("--cause", default="", help="Cause, when known.")
@click.option("-e", "--eta", help="Expected back: 2h, 14:30, 2h-4h, or an ISO time.")
@click.option("--draft", is_flag=True, default=None, help="Keep it unpublished until `agent incident publish`.")
@click.option("--maintenance", is_flag=True, help="Planned maintenance (listed separately, never subtracted).")
@click.option("--started", metavar="TIME", help="When it began (RFC 3339), default now.")
@url_option
@key_option
@json_option
@click.pass_obj
def open_(app, services, message, state, impact, title, cause, eta, draft, maintenance, started, url, key, as_json) -> int:
    """Open an incident for one or more services (ids from the config).

    \b
    Examples:
      agent incident open web mail
      agent incident open web -m "Website slow, investigating" -i degraded
      agent incident open web mail --maintenance -m "Planned hardware swap" -e 2h
    """
    client = _client(app, url)
    fields = {"services": list(services), "state": state, "author": app.operator()}
    for k, v in (("message", message), ("impact", impact), ("title", title), ("cause", cause), ("eta", eta),
                 ("started_at", started)):
        if v:
            fields[k] = v
    if draft:
        fields["draft"] = True
    if maintenance:
        fields["maintenance"] = True
    _show(app, _call(client.open, key=key, **fields), as_json)
    return 0


@incident.command("update")
@click.argument("incident_id", type=int)
@click.option("-m", "--message", help="Text for customers (default: the state's template).")
@click.option("-s", "--state", type=click.Choice(STATES), help="New state.")
@click.option("--cause", help="Cause (shown with identified).")
@click.option("-e", "--eta", help="Expected back: 2h, 14:30, 2h-4h, or an ISO time.")
@click.option("-i", "--impact", type=click.Choice(IMPACTS))
@click.option("--quiet", "no_notify", is_flag=True, help="Page only; send no notice to subscribers.")
@click.option("--publish", is_flag=True, help="Also publish a draft incident.")
@url_option
@key_option
@json_option
@click.pass_obj
def update(app, incident_id, message, state, cause, eta, impact, no_notify, publish, url, key, as_json) -> int:
    """Add an update (new state, cause, ETA, text) to an incident.

    \b
    Examples:
      agent incident update 7 -s identified --cause "failed mainboard" -e 4h-6h
      agent incident update 7 -m "Replacement board arrived, installing now"
      agent incident update 7 -s monitoring
    """
    client = _client(app, url)
    fields = {"author": app.operator()}
    for k, v in (("message", message), ("state", state), ("cause", cause), ("eta", eta), ("impact", impact)):
        if v:
            fields[k] = v
    if no_notify:
        fields["notify"] = False
    if publish:
        fields["publish"] = True
    _show(app, _call(client.update, incident_id, key=key, **fields), as_json)
    return 0


@incident.command("resolve")
@click.argument("incident_id", type=int)
@click.option("-m", "--message", help="Closing text (default: the resolved template with start, end and duration).")
@click.option("--ended", metavar="TIME", help="When service returned (RFC 3339), default now.")
@click.option("--data-window", default="", help="Data-loss window for the summary (\"none\" or times).")
@click.option("--actions", default="", help="What changes so it does not happen again.")
@url_option
@key_option
@json_option
@click.pass_obj
def resolve(app, incident_id, message, ended, data_window, actions, url, key, as_json) -> int:
    """Resolve an incident; customers get the summary (start, end, duration).

    \b
    Examples:
      agent incident resolve 7
      agent incident resolve 7 --data-window "no data lost" --actions "spare board kept on site"
      agent incident resolve 7 --ended 2026-11-25T09:40:00Z
    """
    client = _client(app, url)
    fields = {"author": app.operator()}
    for k, v in (("message", message), ("ended_at", ended), ("data_window", data_window), ("actions", actions)):
        if v:
            fields[k] = v
    inc = _call(client.resolve, incident_id, key=key, **fields)
    _show(app, inc, as_json)
    if not as_json:
        from hwstatus.texts import fmt_duration  # noqa: PLC0415

        for fig in inc.get("availability", []):
            app.echo(f"  {fig['name']}: this incident {fmt_duration(fig['incident_downtime_seconds'])} down; "
                     f"month {fig['month']['percent']:.2f} %, year {fig['year']['percent']:.2f} %, "
                     f"24 months {fig['trailing_24_months']['percent']:.3f} %")
    return 0


@incident.command("list")
@click.option("-a", "--all", "all_", is_flag=True, help="Include resolved incidents.")
@url_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_(app, all_, url, as_json) -> int:
    """List open incidents (all with -a).

    \b
    Examples:
      agent incident list
      agent incident list -a
      agent incident list --json
    """
    incs = _call(_client(app, url).list, all_)
    if as_json:
        app.echo(json.dumps(incs, indent=2, sort_keys=True, ensure_ascii=False))
        return 0
    if not incs:
        app.echo("no open incidents" if not all_ else "no incidents")
    for inc in incs:
        services = ",".join(s["id"] for s in inc["services"])
        draft = " DRAFT" if not inc["published"] else ""
        app.echo(f"#{inc['id']:<4} {inc['state']:<13} {inc['impact']:<14} {services:<16} {inc['started_at']}{draft}  "
                 f"{_pick(inc['title'])}")
    return 0


@incident.command("show")
@click.argument("incident_id", type=int)
@url_option
@json_option
@click.pass_obj
def show(app, incident_id, url, as_json) -> int:
    """Show one incident with its updates.

    \b
    Examples:
      agent incident show 7
      agent incident show 7 --json
    """
    _show(app, _call(_client(app, url).get, incident_id), as_json)
    return 0


@incident.command("edit")
@click.argument("incident_id", type=int)
@click.argument("update_id", type=int)
@click.option("-m", "--message", required=True, help="Corrected text.")
@click.option("--lang", help="Only this language (default: all).")
@url_option
@json_option
@click.pass_obj
def edit(app, incident_id, update_id, message, lang, url, as_json) -> int:
    """Correct the text of an update after it went out (the page marks it edited).

    \b
    Examples:
      agent incident edit 7 12 -m "Web and mail are down since 14:05; we are on it."
      agent incident edit 7 12 --lang de -m "Web und Mail sind seit 14:05 gestört."
    """
    _show(app, _call(_client(app, url).edit, incident_id, update_id, {lang: message} if lang else message), as_json)
    return 0


@incident.command("publish")
@click.argument("incident_id", type=int)
@url_option
@json_option
@click.pass_obj
def publish(app, incident_id, url, as_json) -> int:
    """Publish a draft incident (page + notice to subscribers).

    \b
    Examples:
      agent incident publish 7
      agent incident list && agent incident publish 8
    """
    _show(app, _call(_client(app, url).publish, incident_id), as_json)
    return 0


COMMANDS = (incident,)
