"""``backup_fresh``: the newest restic/borg backup is younger than the RPO, read by the machine.

The tool and repository are the baseline collector's ``backup_tool`` / ``backup_repository``
options (the same the readiness finding ``recovery.backup_older_than_rpo`` uses; the CLI passes
them as runbook parameters). Only the read-only listings run (``restic snapshots --latest 1 --json
--no-lock``, ``borg list --last 1 --json --bypass-lock``), through the action context, so a dry run
takes no repository lock. With no tool configured the step's typed UTC time is tested instead
(``answer`` with ``max_age_hours``) and the outcome says the time was typed, not read.
"""

from __future__ import annotations

import time

from agent.recovery import actions as A
from agent.recovery import readiness


class BackupFresh(A.Action):
    name = "backup_fresh"
    read_only = True
    required = {"max_age_hours": "str"}
    optional = {"tool": "str", "repository": "str", "password_file": "str", "typed": "str"}
    summary = ("The newest restic/borg snapshot (`tool`, `repository`, `password_file`: the baseline collector's "
               "backup_tool/backup_repository/backup_password_file) is at most `max_age_hours` old; with no tool and `typed = \"yes\"` the step's "
               "typed UTC time is tested instead.")

    @classmethod
    def extra_validate(cls, args):
        if args.get("typed") not in (None, "yes", "no"):
            raise A.SpecError("typed", "expected yes or no")

    @classmethod
    def describe(cls, args):
        tool = args.get("tool") or ""
        src = (f"{tool} listing of {args.get('repository') or 'its default repository'}" if tool and "<" not in tool
               else "the configured backup tool's listing, else the typed time")
        return f"newest backup at most {args['max_age_hours']} h old (read from {src})"

    def run(self, args, ctx):
        try:
            limit = float(args["max_age_hours"])
        except ValueError:
            return A.Outcome(passed=False, detail=f"max_age_hours {args['max_age_hours']!r} is not a number")
        tool = (args.get("tool") or "").strip()
        if not tool:
            if args.get("typed") != "yes":
                return A.Outcome(passed=False, detail="no backup tool configured (collector option backup_tool): "
                                                      "the newest backup time must be typed")
            out = A.Answer().run({"max_age_hours": args["max_age_hours"]}, ctx)
            return A.Outcome(passed=out.passed, detail=f"typed (no backup_tool configured): {out.detail}",
                             output=out.output)
        guarded = A._EvidenceHost(ctx)  # noqa: SLF001 - the read-only guard and evidence of baseline checks
        newest, err = readiness.backup_newest(guarded, tool, (args.get("repository") or "").strip(),
                                              (args.get("password_file") or "").strip())
        if err is not None:
            # configured but unreadable: the machine cannot vouch for the RPO, and a typed time must not either
            return A.Outcome(passed=False, detail=f"newest backup unknown: {err}", output=err, commands=guarded.evidence,
                             decided=True)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(newest))
        age_h = (ctx.clock() - newest) / 3600
        if age_h < -0.25:
            ok, detail = False, f"newest {tool} snapshot {when} UTC is in the future (clock?)"
        elif age_h > limit:
            ok, detail = False, (f"newest {tool} snapshot {when} UTC is {age_h:.2f} h old, more than {limit:g} h: the "
                                 "data-loss window is larger than promised")
        else:
            ok, detail = True, f"newest {tool} snapshot {when} UTC is {max(age_h, 0):.2f} h old (limit {limit:g} h)"
        return A.Outcome(passed=ok, detail=detail, output=detail, value=newest, commands=guarded.evidence, decided=True)


A.ACTIONS[BackupFresh.name] = BackupFresh
