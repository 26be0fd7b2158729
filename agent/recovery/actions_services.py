"""``services_restore``: start again what the baseline says the host ran, and nothing else.

After a board swap the same disks boot, so the services are installed and enabled as before; what
stops them is the day itself: a unit that failed while the network was down, or a daemon that
exits when the clock is stepped back (Dovecot's master process stops on "Time just moved
backwards" by design, and the clock of a new board is often hours off until MB-19 sets it). The
baseline names both the enabled units (``software.services_enabled``) and the unit behind each
socket the host listened on (``listening.sockets[].unit``), so the fix is exact:

* every unit that is failed now and was enabled in the baseline, and
* every unit whose baseline socket does not listen now,

is restarted (``systemctl reset-failed`` first for a failed one, so a unit that hit its start limit
while the network was down may start again). Units the baseline does not name are never touched,
and enabling or disabling units is left to the operator (a disabled unit may be deliberate).
"""

from __future__ import annotations

from typing import Any, Mapping

from agent.recovery import actions as A
from agent.recovery.services import _sockets


def restart_plan(old: Mapping[str, Any], new: Mapping[str, Any], failed: list[str]) -> tuple[list[str], list[str]]:
    """(units to restart, of them the failed ones), both sorted."""
    enabled = set((old.get("software") or {}).get("services_enabled") or [])
    now = _sockets(new)
    silent = {str(s["unit"]) for k, s in _sockets(old).items() if k not in now and s.get("unit")}
    broken = sorted(u for u in failed if u in enabled or u in silent)
    return sorted(set(broken) | silent), broken


def serving_units(old: Mapping[str, Any]) -> list[str]:
    """The units behind the sockets the host listened on in the baseline (what customers use)."""
    return sorted({str(s["unit"]) for s in _sockets(old).values() if s.get("unit")})


class ServicesRestore(A.Action):
    name = "services_restore"
    read_only = False
    summary = ("Restart the units the baseline names that do not run as before: failed now and enabled in the "
               "baseline, or owning a baseline socket that does not listen now (`systemctl reset-failed` + "
               "`systemctl restart`); other units are never touched.")

    @classmethod
    def describe(cls, args):
        return "restart the baseline's units that failed or no longer listen (systemctl restart)"

    def run(self, args, ctx):
        if ctx.baseline is None:
            return A.Outcome(passed=False, detail="no baseline: which services ran before is unknown")
        res, ev = ctx.run(["systemctl", "list-units", "--state=failed", "--no-legend", "--plain"])
        evidence = [ev]
        if res.error or res.rc != 0:
            return A.Outcome(passed=False, detail=f"systemctl list-units --state=failed: {res.error or 'exit ' + str(res.rc)}",
                             commands=evidence)
        failed = [ln.split()[0] for ln in res.stdout.decode("utf-8", "replace").splitlines() if ln.split()]
        units, broken = restart_plan(ctx.baseline, ctx.live_baseline(), failed)
        if not units:
            return A.Outcome(passed=False, detail="nothing the baseline names to restart: "
                                                  + (f"failed now: {', '.join(failed)} (not in the baseline)" if failed
                                                     else "fix the listed problems by hand"), commands=evidence)
        lines, errors = [], []
        for u in units:
            argvs = ([["systemctl", "reset-failed", u]] if u in broken else []) + [["systemctl", "restart", u]]
            for argv in argvs:
                r, e = ctx.run(argv)
                evidence.append(e)
                if not r.ok:
                    errors.append(f"{' '.join(argv[1:])}: {r.failure()}")
                    break
            else:
                lines.append(f"restarted {u}" + (" (it had failed)" if u in broken else " (its socket did not listen)"))
        text = "\n".join(lines + errors)
        return A.Outcome(passed=not errors, detail="; ".join(errors) or f"restarted {', '.join(units)}", output=text,
                         commands=evidence)


A.ACTIONS[ServicesRestore.name] = ServicesRestore
