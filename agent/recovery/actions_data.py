"""Actions for data restores: restore from restic/borg, compare a restored tree with the
snapshot's own listing, check a restored database (the update actions are in actions_updates).

==================  =========  =====================================================================
action              read-only  what it does
==================  =========  =====================================================================
``backup_restore``  no         restore ``path`` of a restic snapshot / borg archive into ``target``
``restore_compare`` yes        file count, sizes, symlinks and sampled sha256 of the restored tree
                               against the snapshot's listing (never a typed number)
``db_check``        yes        fixed read-only queries on a restored database: tables, row counts
                               of the largest tables (PostgreSQL or MariaDB/MySQL)
==================  =========  =====================================================================

They join the registry in :mod:`agent.recovery.actions` when this module is imported (the runbook
loader does); all commands go through the action context, so the dry-run guard applies to them.
``backup_restore`` writes ``TARGET/.hwagent-restore.json`` (tool, repository, resolved snapshot id
and time, path) so ``restore_compare`` and the restore drill compare with exactly that snapshot.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import stat
from pathlib import Path
from typing import Any, Mapping

from agent.recovery import actions as A
from agent.recovery.actions_updates import int_arg as _int
from agent.recovery.readonly_programs import MY_TABLES_SQL, PG_TABLES_SQL  # the allow-list knows them

MARKER = ".hwagent-restore.json"
TOOLS = ("restic", "borg")
SAMPLE_MAX_BYTES = 64 * 1024 * 1024


def _restic_base(args: Mapping[str, Any]) -> list[str]:
    base = ["restic", "-r", args["repo"]]
    if args.get("password_file"):
        base += ["--password-file", args["password_file"]]
    return base


def _borg_env(args: Mapping[str, Any]) -> dict[str, str] | None:
    return {"BORG_PASSCOMMAND": f"cat {args['password_file']}"} if args.get("password_file") else None


def _run(ctx, argv, env=None) -> tuple[Any, dict[str, Any]]:
    return ctx.run(argv, env) if env else ctx.run(argv)


def resolve_snapshot(ctx, args: Mapping[str, Any], evidence: list) -> tuple[str, str]:
    """(snapshot id or archive name, its time) for ``snapshot`` (``latest`` = the newest)."""
    tool, snap = args["tool"], args.get("snapshot") or "latest"
    if tool == "restic":
        argv = [*_restic_base(args), "snapshots", "--no-lock", "--json"]
        if snap == "latest":
            argv += ["--latest", "1", "--path", args["path"]] if args.get("by_path") else []
        res, ev = _run(ctx, argv)
        evidence.append(ev)
        if res.error or res.rc != 0:
            raise LookupError(f"restic snapshots failed: {res.error or res.stderr.decode(errors='replace')[-300:]}")
        snaps = json.loads(res.stdout or b"[]") or []
        if snap != "latest":
            snaps = [s for s in snaps if snap in (s.get("id"), s.get("short_id"))]
        if not snaps:
            raise LookupError(f"no restic snapshot {snap!r} in {args['repo']}")
        best = max(snaps, key=lambda s: s.get("time", ""))
        return best["id"], best.get("time", "")
    env = _borg_env(args)
    argv = ["borg", "list", "--bypass-lock", "--json", args["repo"]] + (["--last", "1"] if snap == "latest" else [])
    res, ev = _run(ctx, argv, env)
    evidence.append(ev)
    if res.error or res.rc != 0:
        raise LookupError(f"borg list failed: {res.error or res.stderr.decode(errors='replace')[-300:]}")
    archives = json.loads(res.stdout or b"{}").get("archives", [])
    if snap != "latest":
        archives = [a for a in archives if a.get("name") == snap]
    if not archives:
        raise LookupError(f"no borg archive {snap!r} in {args['repo']}")
    best = max(archives, key=lambda a: a.get("time", ""))
    return best["name"], best.get("time", "")


class _Backup(A.Action):
    required = {"tool": "str", "repo": "str", "path": "str", "target": "str"}
    optional = {"snapshot": "str", "password_file": "str"}

    @classmethod
    def extra_validate(cls, args):
        if "{" not in args["tool"] and args["tool"] not in TOOLS:
            raise A.SpecError("tool", f"unknown backup tool {args['tool']!r} (known: {', '.join(TOOLS)})")
        for k in ("path", "target"):
            if "{" not in args[k] and not args[k].startswith("/"):
                raise A.SpecError(k, f"expected an absolute path, got {args[k]!r}")


class BackupRestore(_Backup):
    name = "backup_restore"
    read_only = False
    summary = ("Restore `path` of a restic snapshot or borg archive (`snapshot`, default the newest) into "
               "`target`; records the resolved snapshot in TARGET/.hwagent-restore.json.")

    @classmethod
    def describe(cls, args):
        return (f"{args['tool']} restore {args['path']} from {args.get('snapshot') or 'latest'} of {args['repo']} "
                f"into {args['target']}")

    def run(self, args, ctx):
        evidence: list[dict[str, Any]] = []
        try:
            snap, when = resolve_snapshot(ctx, args, evidence)
        except (LookupError, ValueError) as exc:
            return A.Outcome(passed=False, detail=str(exc), commands=evidence)
        target = ctx.host.path(args["target"])
        target.mkdir(parents=True, exist_ok=True)
        if args["tool"] == "restic":
            argv = [*_restic_base(args), "restore", snap, "--target", args["target"], "--include", args["path"], "--verify"]
            res, ev = _run(ctx, argv)
        else:
            argv = ["env", "-C", args["target"], "borg", "extract", "--numeric-ids",
                    f"{args['repo']}::{snap}", args["path"].lstrip("/")]
            res, ev = _run(ctx, argv, _borg_env(args))
        ok = res.error is None and res.rc == 0
        ev["passed"], ev["detail"] = ok, res.error or f"exit {res.rc}"
        evidence.append(ev)
        if not ok:
            return A.Outcome(passed=False, detail=f"{args['tool']} restore failed: {res.error or 'exit ' + str(res.rc)}: "
                             + res.stderr.decode(errors="replace")[-300:], commands=evidence)
        marker = {"tool": args["tool"], "repo": args["repo"], "snapshot": snap, "snapshot_time": when,
                  "path": args["path"], "restored_at": ctx.clock()}
        (target / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        return A.Outcome(passed=True, detail=f"restored {args['path']} of {snap} ({when})", commands=evidence,
                         value=marker)


def _snapshot_listing(ctx, args, snap, evidence) -> dict[str, dict[str, Any]]:
    """path (absolute, as backed up) -> {type: file|dir|symlink, size, target}."""
    path = args["path"].rstrip("/") or "/"
    out: dict[str, dict[str, Any]] = {}
    if args["tool"] == "restic":
        res, ev = _run(ctx, [*_restic_base(args), "ls", "--no-lock", "--json", snap])
        evidence.append(ev)
        if res.error or res.rc != 0:
            raise LookupError(f"restic ls failed: {res.error or res.stderr.decode(errors='replace')[-300:]}")
        for line in res.stdout.splitlines():
            n = json.loads(line)
            if n.get("struct_type") == "snapshot" or "path" not in n:
                continue
            p = n["path"]
            if p == path or p.startswith(path + "/"):
                out[p] = {"type": n.get("type"), "size": n.get("size", 0)}
        return out
    res, ev = _run(ctx, ["borg", "list", "--bypass-lock", "--json-lines", f"{args['repo']}::{snap}",
                         path.lstrip("/")], _borg_env(args))
    evidence.append(ev)
    if res.error or res.rc != 0:
        raise LookupError(f"borg list failed: {res.error or res.stderr.decode(errors='replace')[-300:]}")
    kinds = {"-": "file", "d": "dir", "l": "symlink"}
    for line in res.stdout.splitlines():
        n = json.loads(line)
        out["/" + n["path"]] = {"type": kinds.get(n.get("type"), n.get("type")), "size": n.get("size", 0)}
    return out


def _restored_listing(root: Path, path: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    base = root / path.lstrip("/")
    if not os.path.lexists(base):
        return out
    stack = [base]
    while stack:
        cur = stack.pop()
        st = os.lstat(cur)
        rel = "/" + str(cur.relative_to(root))
        if stat.S_ISDIR(st.st_mode):
            out[rel] = {"type": "dir", "size": 0}
            stack.extend(cur / n for n in os.listdir(cur))
        elif stat.S_ISLNK(st.st_mode):
            out[rel] = {"type": "symlink", "size": 0}
        elif stat.S_ISREG(st.st_mode):
            out[rel] = {"type": "file", "size": st.st_size}
        else:
            out[rel] = {"type": "other", "size": 0}
    return out


def _sha256_file(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class RestoreCompare(A.Action):
    name = "restore_compare"
    read_only = True
    required = {"target": "str"}
    optional = {"samples": "str", "password_file": "str"}
    summary = ("Compare the tree restored into `target` (see backup_restore) with the snapshot's listing: same "
               "files, directories and symlinks, same sizes, and the sha256 of `samples` (default 20) random "
               "files equal to the backup's copy.")

    @classmethod
    def describe(cls, args):
        return f"compare {args['target']} with the snapshot listing (+{args.get('samples', '20')} sampled checksums)"

    def run(self, args, ctx):
        root = ctx.host.path(args["target"])
        try:
            marker = json.loads((root / MARKER).read_text())
        except (OSError, ValueError) as exc:
            return A.Outcome(passed=False, detail=f"{args['target']}/{MARKER}: not readable ({exc}); nothing was restored here")
        spec = {**marker, **({"password_file": args["password_file"]} if args.get("password_file") else {})}
        evidence: list[dict[str, Any]] = []
        try:
            want = _snapshot_listing(ctx, spec, marker["snapshot"], evidence)
        except (LookupError, ValueError, KeyError) as exc:
            return A.Outcome(passed=False, detail=str(exc), commands=evidence)
        have = _restored_listing(root, marker["path"])
        problems = []
        for p in sorted(set(want) - set(have))[:5]:
            problems.append(f"missing: {p}")
        for p in sorted(set(have) - set(want))[:5]:
            problems.append(f"not in the snapshot: {p}")
        for p in sorted(set(want) & set(have)):
            w, h = want[p], have[p]
            if w["type"] != h["type"] or (w["type"] == "file" and w["size"] != h["size"]):
                problems.append(f"differs: {p} ({w['type']} {w['size']} B in the snapshot, {h['type']} {h['size']} B restored)")
                if len(problems) > 20:
                    break
        files = sorted(p for p, v in want.items() if v["type"] == "file" and p in have
                       and v["size"] <= SAMPLE_MAX_BYTES)
        n = min(len(files), _int(args.get("samples", "20"), "samples"))
        picks = random.Random(marker["snapshot"]).sample(files, n)
        backup_sums: dict[str, str] = {}
        if marker["tool"] == "borg" and picks:  # one call: borg hashes only the listed files' chunks
            res, ev = _run(ctx, ["borg", "list", "--bypass-lock", "--format", "{sha256} {path}{NL}",
                                 f"{spec['repo']}::{marker['snapshot']}", *(p.lstrip("/") for p in picks)], _borg_env(spec))
            evidence.append(ev)
            if res.error or res.rc != 0:
                problems.append(f"could not read checksums from the backup: {res.error or 'exit ' + str(res.rc)}")
            for line in res.stdout.decode(errors="replace").splitlines():
                digest, _, path = line.partition(" ")
                backup_sums["/" + path] = digest
        for p in picks:
            if marker["tool"] == "restic":
                res, ev = _run(ctx, [*_restic_base(spec), "dump", "--no-lock", marker["snapshot"], p])
                ev["stdout"] = {"sha256": ev["stdout"]["sha256"], "bytes": ev["stdout"]["bytes"], "text": ""}
                evidence.append(ev)
                if res.error or res.rc != 0:
                    problems.append(f"could not read {p} from the backup: {res.error or 'exit ' + str(res.rc)}")
                    continue
                backup_sums[p] = hashlib.sha256(res.stdout).hexdigest()
            if p not in backup_sums:
                problems.append(f"no checksum of {p} from the backup")
            elif backup_sums[p] != _sha256_file(root / p.lstrip("/")):
                problems.append(f"checksum differs: {p}")
        nfiles = sum(1 for v in want.values() if v["type"] == "file")
        nbytes = sum(v["size"] for v in want.values() if v["type"] == "file")
        summary = {"snapshot": marker["snapshot"], "snapshot_time": marker.get("snapshot_time"), "files": nfiles,
                   "bytes": nbytes, "entries": len(want), "restored_entries": len(have), "sampled": n,
                   "problems": problems}
        text = json.dumps(summary, indent=1)
        if not want:
            return A.Outcome(passed=False, detail=f"the snapshot has nothing under {marker['path']}", output=text,
                             commands=evidence, value=summary)
        detail = (f"{len(problems)} difference(s): {problems[0]}" if problems else
                  f"{len(want)} entries ({nfiles} files, {nbytes} bytes) match the snapshot listing; "
                  f"{n} sampled checksum(s) match")
        return A.Outcome(passed=not problems, detail=detail, output=text, commands=evidence, value=summary)


def _ident(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9_$]+\.[A-Za-z0-9_$]+", name))


class DbCheck(A.Action):
    name = "db_check"
    read_only = True
    required = {"engine": "str", "database": "str"}
    optional = {"socket": "str", "port": "str", "user": "str", "os_user": "str", "min_tables": "str"}
    summary = ("Read-only check of a (restored) database: it has at least `min_tables` tables (default 1) and "
               "the exact row counts of its five largest tables are read (shown as evidence). `engine` is "
               "postgresql or mariadb; `socket` the server's socket directory/file; `os_user` runs the client as that "
               "system user (runuser), e.g. postgres for peer authentication.")

    @classmethod
    def extra_validate(cls, args):
        if "{" not in args["engine"] and args["engine"] not in ("postgresql", "mariadb"):
            raise A.SpecError("engine", "expected postgresql or mariadb")

    @classmethod
    def describe(cls, args):
        return f"{args['engine']} database {args['database']}: tables present, row counts of the largest"

    def _query(self, ctx, args, sql: str):
        if args["engine"] == "postgresql":
            argv = ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", args["database"]]
            if args.get("socket"):
                argv += ["-h", args["socket"]]
            if args.get("port"):
                argv += ["-p", args["port"]]
            if args.get("user"):
                argv += ["-U", args["user"]]
            pre = ["runuser", "-u", args["os_user"], "--"] if args.get("os_user") else []
            return ctx.run(pre + argv + ["-c", sql])
        argv = ["mariadb", "--batch", "--skip-column-names"]
        if args.get("socket"):
            argv.append(f"--socket={args['socket']}")
        if args.get("user"):
            argv.append(f"--user={args['user']}")
        return ctx.run(argv + ["-e", sql, args["database"]])

    def run(self, args, ctx):
        evidence = []
        pg = args["engine"] == "postgresql"
        res, ev = self._query(ctx, args, PG_TABLES_SQL if pg else MY_TABLES_SQL)
        evidence.append(ev)
        if res.error or res.rc != 0:
            return A.Outcome(passed=False, detail=f"query failed: {res.error or res.stderr.decode(errors='replace')[-300:]}",
                             commands=evidence)
        tables = [t for t in res.stdout.decode(errors="replace").split() if _ident(t)]
        counts = {}
        for t in tables:
            schema, table = t.split(".", 1)
            sql = (f'SELECT count(*) FROM "{schema}"."{table}"' if pg else
                   f"SET SESSION TRANSACTION READ ONLY; SELECT COUNT(*) FROM `{schema}`.`{table}`")
            r, ev = self._query(ctx, args, sql)
            evidence.append(ev)
            if r.error or r.rc != 0:
                return A.Outcome(passed=False, detail=f"counting {t} failed: {r.error or r.stderr.decode(errors='replace')[-300:]}",
                                 commands=evidence)
            counts[t] = int(r.stdout.split()[-1]) if r.stdout.split() else 0
        need = _int(args.get("min_tables", "1"), "min_tables")
        text = "\n".join(f"{t}: {n} rows" for t, n in counts.items())
        if len(tables) < need:
            return A.Outcome(passed=False, detail=f"{len(tables)} table(s), expected at least {need}", output=text,
                             commands=evidence, value=counts)
        return A.Outcome(passed=True, detail="; ".join(f"{t} {n} rows" for t, n in counts.items()) or "no tables",
                         output=text, commands=evidence, value=counts)


A.ACTIONS.update({c.name: c for c in (BackupRestore, RestoreCompare, DbCheck)})
