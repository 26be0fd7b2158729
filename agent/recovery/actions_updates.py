"""Actions for OS updates: free space, the upgrade preview, the reboot check.

==================  =========  =====================================================================
action              read-only  what it does
==================  =========  =====================================================================
``free_space``      yes        every path has at least ``min_mb`` MiB free (statvfs below the root)
``apt_preview``     yes        ``apt-get -s dist-upgrade``: upgrades, new, REMOVALS, kept back
``kernel_current``  yes        no /run/reboot-required, running kernel = newest installed
==================  =========  =====================================================================

They join the registry in :mod:`agent.recovery.actions` when imported (the runbook loader does).
"""

from __future__ import annotations

import os
import re
from typing import Any

from agent.recovery import actions as A


def int_arg(value: Any, key: str) -> int:
    try:
        n = int(str(value))
    except ValueError:
        raise A.SpecError(key, f"expected a whole number, got {value!r}") from None
    if n < 0:
        raise A.SpecError(key, f"must be >= 0, got {n}")
    return n


class FreeSpace(A.Action):
    name = "free_space"
    read_only = True
    required = {"paths": "list", "min_mb": "str"}
    summary = "Every path (below the host root) has at least `min_mb` MiB free (a template such as {params.min_free_mb})."

    @classmethod
    def extra_validate(cls, args):
        if "{" not in args["min_mb"]:
            int_arg(args["min_mb"], "min_mb")

    @classmethod
    def describe(cls, args):
        return f"free space in {', '.join(args['paths'])} >= {args['min_mb']} MiB"

    def run(self, args, ctx):
        want = int_arg(args["min_mb"], "min_mb")
        lines, low = [], []
        for p in args["paths"]:
            try:
                st = os.statvfs(ctx.host.path(p))
            except OSError as exc:
                return A.Outcome(passed=False, detail=f"{p}: {exc.strerror or exc}")
            free = st.f_bavail * st.f_frsize // (1024 * 1024)
            lines.append(f"{p}: {free} MiB free")
            if free < want:
                low.append(f"{p} has {free} MiB free, needs {want}")
        return A.Outcome(passed=not low, detail="; ".join(low) or f"all >= {want} MiB", output="\n".join(lines))



# ---- updates ------------------------------------------------------------------------------------

APT_PREVIEW_ARGV = ["apt-get", "-s", "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
                    "-o", "Debug::NoLocking=1", "dist-upgrade"]
_INST = re.compile(r"^Inst (\S+) (\[(\S+)\] )?\((\S+)")
_REMV = re.compile(r"^Remv (\S+)")


def parse_apt_simulation(text: str) -> dict[str, list[str]]:
    """`apt-get -s dist-upgrade` output -> upgrade/new/remove/kept_back package lists."""
    out: dict[str, list[str]] = {"upgrade": [], "new": [], "remove": [], "kept_back": []}
    section = None
    for line in text.splitlines():
        m = _INST.match(line)
        if m:
            out["upgrade" if m.group(3) else "new"].append(f"{m.group(1)} {m.group(3) + ' -> ' if m.group(3) else ''}{m.group(4)}")
            continue
        m = _REMV.match(line)
        if m:
            out["remove"].append(m.group(1))
            continue
        if line.startswith("The following packages have been kept back") or \
                line.startswith("The following held packages will be changed"):
            section = "kept_back"
            continue
        if section and line.startswith("  "):
            out[section].extend(line.split())
            continue
        section = None
    return out


class AptPreview(A.Action):
    name = "apt_preview"
    read_only = True
    summary = ("Simulate the upgrade (`apt-get -s dist-upgrade`, no lock, no cache written) and show what it "
               "would do: upgrades, new packages, REMOVALS (highlighted) and kept-back/held packages.")

    @classmethod
    def describe(cls, args):
        return "$ " + " ".join(APT_PREVIEW_ARGV) + "   [shows upgrades, new packages, REMOVALS, held]"

    def run(self, args, ctx):
        res, ev = ctx.run(APT_PREVIEW_ARGV)
        if res.error or res.rc != 0:
            ev["passed"], ev["detail"] = False, res.error or f"exit {res.rc}"
            return A.Outcome(passed=False, detail=f"apt-get -s failed: {res.error or res.stderr.decode(errors='replace')[-300:]}",
                             commands=[ev])
        plan = parse_apt_simulation(res.stdout.decode(errors="replace"))
        lines = [f"upgrade ({len(plan['upgrade'])}): " + ", ".join(plan["upgrade"]),
                 f"new ({len(plan['new'])}): " + ", ".join(plan["new"])]
        if plan["remove"]:
            lines.append(f"!!! REMOVE ({len(plan['remove'])}): " + ", ".join(plan["remove"]))
        if plan["kept_back"]:
            lines.append(f"kept back / held ({len(plan['kept_back'])}): " + ", ".join(plan["kept_back"]))
        text = "\n".join(lines)
        detail = (f"{len(plan['upgrade'])} upgrade(s), {len(plan['new'])} new, "
                  + (f"{len(plan['remove'])} REMOVAL(S): {', '.join(plan['remove'][:10])}" if plan["remove"] else "no removals")
                  + (f", {len(plan['kept_back'])} kept back" if plan["kept_back"] else ""))
        if ctx.ui is not None and not ctx.dry_run:
            ctx.ui.info("  upgrade preview:\n" + "\n".join("    " + ln for ln in lines))
        ev["passed"], ev["detail"] = True, detail
        return A.Outcome(passed=True, detail=detail, output=text, commands=[ev], value=plan)


def _version_key(v: str) -> list:
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", v)]


class KernelCurrent(A.Action):
    name = "kernel_current"
    read_only = True
    summary = ("No reboot pending: /run/reboot-required is absent and the running kernel (`uname -r`) is the "
               "newest installed one (/boot/vmlinuz-*). Works without needrestart.")

    @classmethod
    def describe(cls, args):
        return "no /run/reboot-required, and uname -r = newest /boot/vmlinuz-*"

    def run(self, args, ctx):
        res, ev = ctx.run(["uname", "-r"])
        running = res.stdout.decode(errors="replace").strip()
        kernels = sorted((n[len("vmlinuz-"):] for n in ctx.host.listdir(ctx.host.path("/boot")) if n.startswith("vmlinuz-")),
                         key=_version_key)
        pending = ctx.host.exists(ctx.host.path("/run/reboot-required"))
        why = []
        if pending:
            pkgs = ctx.host.read_text(ctx.host.path("/run/reboot-required.pkgs"), 4096) or ""
            why.append("/run/reboot-required exists" + (f" ({', '.join(pkgs.split())})" if pkgs else ""))
        if kernels and running != kernels[-1]:
            why.append(f"running {running or '?'}, newest installed {kernels[-1]}")
        text = f"running: {running}\ninstalled: {' '.join(kernels)}\nreboot-required: {pending}"
        return A.Outcome(passed=not why, detail="; ".join(why) or f"running the newest kernel {running}", output=text,
                         commands=[ev])


A.ACTIONS.update({c.name: c for c in (FreeSpace, AptPreview, KernelCurrent)})
