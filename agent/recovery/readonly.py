"""Which argvs leave the host unchanged: the dry run's allow-list, deny by default.

Every program on the list declares the options it may be given (with and without a value) and,
where it has them, the subcommands; anything not declared is refused. An argv is split the way
the program itself splits it (:func:`parse`): GNU ``getopt_long`` style for most tools (bundled
short options ``-sSf``, attached values ``-BM`` / ``-o/dev/null``, ``--name=value``, ``--``
ends the options, options may follow positionals), no ``=`` form where the program has none
(curl, ethtool), single-dash words for ``ip``/``find``, and a value-taking option always takes
the next word, so ``systemctl -p status stop x`` is the verb ``stop`` with property ``status``,
exactly as systemctl sees it. Option names must match exactly: a getopt abbreviation
(``--te=long``) is unknown and so refused.

An argument that is still a template (``{params.disk}``) is accepted at load time as an opaque
positional; the executor checks the filled-in argv again before it runs anything.

The per-program table is :data:`agent.recovery.readonly_programs.PROGRAMS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

Check = Callable[[str], "str | None"]  # value -> None (fine) or the reason it is refused
PosCheck = Callable[[list[str]], "str | None"]

_TMPL = re.compile(r"\{[a-z_]+\.[A-Za-z0-9_.:@\-]+(\[\])?\}")


def templated(arg: str) -> bool:
    """Still a template placeholder (only at load time; filled argvs are checked again)."""
    return bool(_TMPL.search(arg))


@dataclass(frozen=True)
class Spec:
    """What one program (or one of its subcommands) may be given."""

    flags: frozenset[str] = frozenset()  # options without a value: "-v", "--verbose"
    valued: Mapping[str, Check | None] = field(default_factory=dict)  # options with a required value
    optional: Mapping[str, Check | None] = field(default_factory=dict)  # value only attached (-bX, --boot=X)
    eq: bool = True  # long options accept --name=value (getopt_long); curl/ethtool do not
    words: bool = False  # options are whole words (find, ip): no bundling, no attached values
    subs: Mapping[str, "Spec"] | None = None  # first positional is a subcommand, one of these
    sub_first: bool = False  # the subcommand must be the very first argument (zpool, zfs)
    positional: PosCheck | None = None  # checks the positionals (after the subcommand)
    need_one: frozenset[str] = frozenset()  # at least one of these options must be given
    only_one: frozenset[str] = frozenset()  # at most one of these (mode options)
    custom: Callable[[list[str]], "str | None"] | None = None  # a program with its own grammar


def F(*names: str) -> frozenset[str]:
    return frozenset(names)


def V(*names: str, check: Check | None = None) -> dict[str, Check | None]:
    return {n: check for n in names}


class _Refused(Exception):
    """A command outside the read-only allow-list."""


def _options(spec: Spec, extra: Sequence[Spec] = ()) -> tuple[set[str], dict[str, Check | None], dict[str, Check | None]]:
    flags, valued, optional = set(spec.flags), dict(spec.valued), dict(spec.optional)
    for s in extra:
        flags |= s.flags
        valued.update(s.valued)
        optional.update(s.optional)
    return flags, valued, optional


def parse(spec: Spec, args: Sequence[str], extra: Sequence[Spec] = ()) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Split ``args`` into (options as (name, value), positionals) the way the program does;
    raises _Refused for an option the spec does not know."""
    flags, valued, optional = _options(spec, extra)
    opts: list[tuple[str, str | None]] = []
    pos: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--" and not spec.words:
            pos.extend(args[i:])
            break
        if not a.startswith("-") or a == "-" or templated(a) and not a.startswith("-"):
            pos.append(a)
            continue
        if spec.words or a.startswith("--"):
            name, eq, value = a.partition("=") if (spec.eq and a.startswith("--")) else (a, "", "")
            if name in flags and not eq:
                opts.append((name, None))
            elif name in valued:
                if eq:
                    opts.append((name, value))
                elif i < len(args):
                    opts.append((name, args[i]))
                    i += 1
                else:
                    raise _Refused(f"option {name!r} needs a value")
            elif name in optional:
                opts.append((name, value if eq else None))
            elif name in flags:
                raise _Refused(f"option {name!r} takes no value (got {a!r})")
            else:
                raise _Refused(f"option {name!r} is not on the read-only list")
            continue
        # bundled short options: -sSf, -BM, -o/dev/null
        j = 1
        while j < len(a):
            name = "-" + a[j]
            rest = a[j + 1:]
            if name in flags:
                opts.append((name, None))
                j += 1
                continue
            if name in valued:
                if rest:
                    opts.append((name, rest))
                elif i < len(args):
                    opts.append((name, args[i]))
                    i += 1
                else:
                    raise _Refused(f"option {name!r} needs a value")
                break
            if name in optional:
                opts.append((name, rest or None))
                break
            raise _Refused(f"option {name!r} (in {a!r}) is not on the read-only list")
    return opts, pos


def _check(spec: Spec, args: list[str]) -> str | None:
    if spec.custom is not None:
        return spec.custom(args)
    sub_spec: Spec | None = None
    if spec.subs is not None:
        if spec.sub_first:
            if not args or args[0].startswith("-"):
                return f"needs a subcommand first (allowed: {', '.join(sorted(s for s in spec.subs if s))})"
        # first pass with every option any subcommand knows, to find the subcommand the way the
        # program does (an option's value is never taken for the subcommand)
        opts, pos = parse(spec, args, tuple(spec.subs.values()))
        sub = pos[0] if pos else ""
        if templated(sub):
            return "the subcommand cannot be a template"
        if sub not in spec.subs:
            allowed = ", ".join(sorted(s for s in spec.subs if s))
            return f"subcommand {sub!r} is not read-only (allowed: {allowed})" if sub else f"needs a subcommand ({allowed})"
        sub_spec = spec.subs[sub]
        opts, pos = parse(spec, args, (sub_spec,))
        pos = pos[1:]
    else:
        opts, pos = parse(spec, args)
    flags, valued, optional = _options(spec, (sub_spec,) if sub_spec else ())
    for name, value in opts:
        chk = valued.get(name) if name in valued else optional.get(name)
        if chk is not None and value is not None and not templated(value):
            why = chk(value)
            if why:
                return f"{name} {value!r}: {why}"
    names = {n for n, _ in opts}
    for s in (spec, sub_spec):
        if s is None:
            continue
        if s.need_one and not names & s.need_one:
            return "needs one of " + ", ".join(sorted(s.need_one))
        if s.only_one and len(names & s.only_one) > 1:
            return "only one of " + ", ".join(sorted(s.only_one))
    check = (sub_spec.positional if sub_spec and sub_spec.positional else spec.positional)
    if check is not None:
        return check([p for p in pos])
    return None


def check_args(spec: Spec, args: list[str]) -> str | None:
    try:
        return _check(spec, args)
    except _Refused as exc:
        return str(exc)


# ---- positional checks used by the table ---------------------------------------------------------

def any_pos(_pos: list[str]) -> str | None:
    return None


def no_pos(pos: list[str]) -> str | None:
    return f"no arguments allowed here (got {pos[0]!r})" if pos else None


def max_pos(n: int) -> PosCheck:
    def chk(pos: list[str]) -> str | None:
        return f"at most {n} argument(s) (got {len(pos)}: {' '.join(pos)})" if len(pos) > n else None
    return chk


def exactly_pos(n: int) -> PosCheck:
    def chk(pos: list[str]) -> str | None:
        return None if len(pos) == n else f"exactly {n} argument(s) needed (got {len(pos)})"
    return chk


def between_pos(lo: int, hi: int) -> PosCheck:
    def chk(pos: list[str]) -> str | None:
        return None if lo <= len(pos) <= hi else f"{lo} to {hi} argument(s) needed (got {len(pos)})"
    return chk


def one_of(*values: str) -> Check:
    def chk(v: str) -> str | None:
        return None if v in values else f"allowed values: {', '.join(values)}"
    return chk


def matches(pattern: str, what: str) -> Check:
    rx = re.compile(pattern)

    def chk(v: str) -> str | None:
        return None if rx.fullmatch(v) else what
    return chk


def words(grammar: Mapping[str, Mapping[str, PosCheck] | None], what: str) -> PosCheck:
    """Positionals as ``WORD [SUBWORD] args...``: grammar maps a word to None (any further
    arguments are operands) or to its allowed second words (each with a check of the rest)."""
    def chk(pos: list[str]) -> str | None:
        if not pos:
            return None if "" in grammar else f"needs a {what}"
        w = pos[0]
        if w not in grammar:
            return f"{what} {w!r} is not read-only (allowed: {', '.join(sorted(k for k in grammar if k))})"
        second = grammar[w]
        if second is None:
            return None
        sw = pos[1] if len(pos) > 1 else ""
        if sw not in second:
            return (f"{w} {sw!r} is not read-only (allowed: {', '.join(sorted(k or '(none)' for k in second))})"
                    if sw else f"{w} needs one of {', '.join(sorted(k for k in second if k))}")
        return second[sw](pos[2:])
    return chk
