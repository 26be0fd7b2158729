"""Man pages agent(1) and agent-config(5), generated from the click commands and the config
declarations (troff -man). Used by tools/generate.py; installed with the package (hatch
shared-data: share/man/man1, share/man/man5)."""

from __future__ import annotations

import dataclasses

import click

from agent import __version__
from tools.docgen import command_tree, context_for

DATE = "2026-12"  # fixed: generated files must not change with the clock


def esc(text: str) -> str:
    """Escape for troff: backslashes, and control characters at the start of a line."""
    text = str(text).replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + ln) if ln.startswith((".", "'")) else ln for ln in text.splitlines())


def _para(text: str) -> list[str]:
    """Click help text -> troff: \\b blocks stay preformatted, other paragraphs are filled."""
    out: list[str] = []
    for block in (text or "").strip().split("\n\n"):
        lines = block.splitlines()
        if "\b" in block or any(ln.startswith("  ") for ln in lines[1:]):
            out += [".PP", ".nf", esc(block.replace("\b", "").strip("\n")), ".fi"]
        else:
            out += [".PP", esc(" ".join(block.split()))]
    return out


def _options(cmd: click.Command, ctx: click.Context) -> list[str]:
    out: list[str] = []
    for p in cmd.get_params(ctx):
        rec = p.get_help_record(ctx)
        if not rec:
            continue
        out += [".TP", f"\\fB{esc(rec[0])}\\fR", esc(rec[1]) or "."]
    return out


def agent_1() -> str:
    out = [f'.TH AGENT 1 "{DATE}" "hwagent {__version__}" "hwagent manual"', ".SH NAME",
           "agent \\- hardware health and recovery agent for Linux servers", ".SH SYNOPSIS",
           "\\fBagent\\fR [\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]..."]
    tree = command_tree()
    root_path, root = tree[0]
    ctx = context_for(root_path)
    out += [".SH DESCRIPTION", *_para(root.help or ""), ".SH OPTIONS", *_options(root, ctx), ".SH COMMANDS"]
    for path, cmd in tree[1:]:
        if cmd.hidden:
            continue
        sub = context_for(path)
        usage = " ".join(cmd.collect_usage_pieces(sub))
        out += [".SS " + esc(" ".join(path[1:])), f"\\fB{esc(' '.join(path))}\\fR {esc(usage)}",
                *_para(cmd.help or cmd.short_help or "")]
        opts = _options(cmd, sub)
        if opts:
            out += [".PP", "Options:", ".RS", *opts, ".RE"]
    out += [".SH FILES", ".TP", "/etc/hwagent/config.toml", "Configuration, see \\fBagent-config\\fR(5).",
            ".TP", "/var/lib/hwagent", "State: history, baselines, acknowledgements, recovery records.",
            ".SH EXIT STATUS", "\\fBagent check\\fR exits 0 (no finding), 1 (warning), 2 (critical), 3 (error).",
            ".SH SEE ALSO", "\\fBagent-config\\fR(5), \\fBsmartctl\\fR(8), \\fBipmitool\\fR(1), "
            "\\fBprometheus\\fR(1); docs/ in the source tree."]
    return "\n".join(out) + "\n"


def agent_config_5() -> str:
    from agent.schema import SCHEMA
    from tools.configdoc import toml_value

    COLLECTORS, RULES = SCHEMA.collectors, SCHEMA.rules
    out = [f'.TH AGENT-CONFIG 5 "{DATE}" "hwagent {__version__}" "hwagent manual"', ".SH NAME",
           "agent-config \\- configuration file of the hwagent agent", ".SH SYNOPSIS", "/etc/hwagent/config.toml",
           ".SH DESCRIPTION",
           "A TOML file; every key is optional and the defaults below apply. \\fBagent config check\\fR "
           "validates a file and names the key of every error; \\fBagent config show\\fR prints the effective "
           "configuration. Unknown keys are errors."]
    for name, section in SCHEMA.ordered_sections():
        out += [f".SH [{esc(name)}]"]
        for f in dataclasses.fields(section):
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            out += [".TP", f"\\fB{esc(f.name)}\\fR = {esc(toml_value(default))}", esc(f.metadata.get("doc", ""))]
    out += [".SH [collectors.NAME]", "Every collector takes \\fBenabled\\fR, \\fBinterval_seconds\\fR and "
            "\\fBtimeout_seconds\\fR; some take more keys."]
    for c in COLLECTORS:
        out += [".TP", f"\\fB{esc(c.name)}\\fR (enabled {esc(toml_value(c.default_enabled))}, "
                       f"every {c.default_interval:g} s, timeout {c.default_timeout:g} s)", esc(c.description)]
        for key, (_tp, default, docu) in getattr(c, "options", {}).items():
            out += [".TP", f"\\fBcollectors.{esc(c.name)}.{esc(key)}\\fR = {esc(toml_value(default))}", esc(docu)]
    out += [".SH [rules.\"RULE.ID\"]", "Thresholds per rule id, \\fBenabled\\fR, and per-device overrides in "
            "[rules.\"RULE.ID\".devices.\"DEVICE\"]. Rules with parameters:"]
    for r in RULES:
        if r.defaults:
            params = ", ".join(f"{k} = {toml_value(v)}" for k, v in r.defaults.items())
            out += [".TP", f"\\fB{esc(r.id)}\\fR", esc(f"{r.description} Parameters: {params}.")]
    out += [".SH SEE ALSO", "\\fBagent\\fR(1)"]
    return "\n".join(out) + "\n"


def pages() -> dict[str, str]:
    return {"man1/agent.1": agent_1(), "man5/agent-config.5": agent_config_5()}
