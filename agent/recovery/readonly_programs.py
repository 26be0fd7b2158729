"""The dry run's allow-list: per program, the options and subcommands that only read.

Deny by default: an option, subcommand or argument shape not listed here is refused, so a new
flag in a tool's next release is refused until someone reads its manual page and adds it. Sources
for each entry are the programs' manual pages (coreutils, util-linux, systemd, iproute2,
smartmontools, mdadm, OpenZFS, apt, restic, borg, ipmitool, curl, rsync, PostgreSQL, MariaDB).
Notable exclusions, each a way a "read" command changes the host: ``date -s``/``date MMDDhhmm``,
``hostname NAME``, ``awk``/``jq``-style programs that can run commands (awk is not listed),
``sort -o``/``--compress-program``, ``uniq IN OUT``, ``dmidecode --dump-bin``, ``sensors -s``,
``smartctl -t/-s/-o/-S/-X/--set`` and ``-l scterc,N,N``/``sataphy,reset``, ``systemctl`` verbs
other than the listed queries, ``ipmitool ... set/write/delete/clear/thresh/power``,
``ethtool -s/-K/-N/--reset/--features``, ``curl -c/-D/-o FILE/--trace FILE``, ``dmesg -c/-n``,
``ip ... save/restore/add/set``, ``restic check`` (takes a lock, ``--read-data*`` downloads
data), ``restic``/``borg`` commands without ``--no-lock``/``--bypass-lock``, ``restic dump``
(downloads data), ``apt-get`` without ``-s``, ``rsync`` without ``-n`` or with a remote side.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from agent.recovery.readonly import (F, Spec, V, any_pos, between_pos, exactly_pos, matches, max_pos, no_pos, one_of,
                                     templated, words)
from agent.recovery.readonly import check_args as _check_args
from agent.recovery.readonly_grammars import (_curl_pos, _curl_url, _date_pos, _ethtool, _find, _ip, _ipmitool_pos,
                                             _no_output_file, _rsync_pos, _smartctl_log, _storcli)

# the only SQL a dry run may send (the db_check action's fixed queries; identifiers checked)
PG_TABLES_SQL = ("SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                 "ORDER BY pg_total_relation_size(c.oid) DESC, 1 LIMIT 5")
MY_TABLES_SQL = ("SET SESSION TRANSACTION READ ONLY; SELECT CONCAT(table_schema, '.', table_name) FROM "
                 "information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' "
                 "ORDER BY data_length + index_length DESC, 1 LIMIT 5")
_PG_COUNT = re.compile(r'SELECT count\(\*\) FROM "[A-Za-z0-9_$]+"\."[A-Za-z0-9_$]+"')
_MY_COUNT = re.compile(r"SET SESSION TRANSACTION READ ONLY; SELECT COUNT\(\*\) FROM `[A-Za-z0-9_$]+`\.`[A-Za-z0-9_$]+`")


PG_DATABASES_SQL = "SELECT datname FROM pg_database ORDER BY 1"


def _pg_sql(v: str) -> str | None:
    return None if v in (PG_TABLES_SQL, PG_DATABASES_SQL) or _PG_COUNT.fullmatch(v) else \
        "only the fixed read-only queries of db_check"


def _runuser(args: list[str]) -> str | None:
    """runuser -u USER -- PROGRAM ARGS...: read-only when PROGRAM ARGS is."""
    if len(args) < 4 or args[0] != "-u" or args[2] != "--" or args[1].startswith("-"):
        return "only runuser -u USER -- PROGRAM ARGS... is allowed"
    ok, why = argv_read_only(args[3:])
    return None if ok else why


def _my_sql(v: str) -> str | None:
    return None if v == MY_TABLES_SQL or _MY_COUNT.fullmatch(v) else "only the fixed read-only queries of db_check"
DEV_NULL = one_of("/dev/null")


_ls = Spec(flags=F(*"-l -a -A -d -h -i -n -R -1 -F -S -t -r -L -H -p -Z -s -k --all --almost-all --directory "
                   "--human-readable --inode --numeric-uid-gid --recursive --classify --dereference --full-time "
                   "--context --size".split()), valued=V("--color", "--time-style", "--sort", "--time", "--block-size"),
           positional=any_pos)
_grep = Spec(flags=F(*"-E -F -G -P -i -v -w -x -c -l -L -o -q -s -r -R -h -H -n -a -I -z -Z --extended-regexp "
                     "--fixed-strings --perl-regexp --ignore-case --invert-match --word-regexp --line-regexp --count "
                     "--files-with-matches --files-without-match --only-matching --quiet --silent --no-messages "
                     "--recursive --dereference-recursive --no-filename --with-filename --line-number --text --null "
                     "--null-data".split()),
             valued=V("-e", "--regexp", "-f", "--file", "-m", "--max-count", "-A", "-B", "-C", "--after-context",
                      "--before-context", "--context", "--include", "--exclude", "--exclude-dir", "--color",
                      "--colour", "--label", "-d", "--directories", "-D", "--devices"), positional=any_pos)
_sum = Spec(flags=F("-c", "--check", "-b", "-t", "--binary", "--text", "--quiet", "--status", "--strict", "-w",
                    "--warn", "--tag", "-z", "--zero", "--ignore-missing"), positional=any_pos)
_systemctl_q = Spec()
_apt_sim = F("-s", "--simulate", "--just-print", "--dry-run", "--recon", "--no-act")
_apt_o = one_of("Dir::Cache::pkgcache=", "Dir::Cache::srcpkgcache=", "APT::Get::Show-Versions=1",
                "APT::Get::Show-Versions=true", "Debug::NoLocking=1")
_restic_global: dict[str, Any] = dict(flags=F("--no-lock", "--no-cache", "-q", "--quiet", "--json", "-v", "--verbose",
                              "--insecure-tls", "--no-extra-verify"),
                      valued=V("-r", "--repo", "--repository-file", "-p", "--password-file", "--cacert",
                               "--limit-download", "--tls-client-cert", "-o", "--option",
                               check=None))
_restic_need = F("--no-lock")
_borg_common = F("--bypass-lock", "-v", "--verbose", "--info", "--warning", "--error", "--critical", "--show-rc",
                 "--log-json", "--debug")

PROGRAMS: dict[str, Spec] = {
    # ---- files and text (no option of these writes) ----
    "cat": Spec(flags=F(*"-A -b -e -E -n -s -t -T -u -v --show-all --number-nonblank --number --squeeze-blank "
                        "--show-ends --show-tabs --show-nonprinting".split()), positional=any_pos),
    "ls": _ls,
    "stat": Spec(flags=F("-L", "--dereference", "-f", "--file-system", "-t", "--terse"),
                 valued=V("-c", "--format", "--printf", "--cached"), positional=any_pos),
    "test": Spec(custom=lambda a: None), "[": Spec(custom=lambda a: None),
    "readlink": Spec(flags=F(*"-f -e -m -n -q -s -v -z --canonicalize --canonicalize-existing --canonicalize-missing "
                             "--no-newline --quiet --silent --verbose --zero".split()), positional=any_pos),
    "realpath": Spec(flags=F(*"-e -m -L -P -q -s -z --canonicalize-existing --canonicalize-missing --logical "
                             "--physical --quiet --strip --no-symlinks --zero".split()),
                     valued=V("--relative-to", "--relative-base"), positional=any_pos),
    "grep": _grep, "egrep": _grep, "fgrep": _grep, "zgrep": _grep,
    "sha256sum": _sum, "md5sum": _sum, "sha1sum": _sum, "sha512sum": _sum, "b2sum": _sum,
    "cmp": Spec(flags=F("-b", "-l", "-s", "--print-bytes", "--verbose", "--quiet", "--silent"),
                valued=V("-i", "--ignore-initial", "-n", "--bytes"), positional=between_pos(1, 4)),
    "diff": Spec(flags=F(*"-r -q -u -N -s -a -b -w -B -i -c --brief --recursive --new-file --report-identical-files "
                          "--text --ignore-space-change --ignore-all-space --ignore-blank-lines --ignore-case "
                          "--unified --no-dereference".split()),
                 valued=V("-x", "--exclude", "-U", "--label"), positional=exactly_pos(2)),
    "wc": Spec(flags=F("-l", "-c", "-w", "-m", "-L", "--lines", "--bytes", "--words", "--chars", "--max-line-length"),
               positional=any_pos),
    "head": Spec(flags=F("-q", "-v", "-z", "--quiet", "--silent", "--verbose", "--zero-terminated"),
                 valued=V("-n", "--lines", "-c", "--bytes"), positional=any_pos),
    "tail": Spec(flags=F("-q", "-v", "-z", "--quiet", "--silent", "--verbose", "--zero-terminated"),
                 valued=V("-n", "--lines", "-c", "--bytes"), positional=any_pos),
    "cut": Spec(flags=F("-s", "-z", "--only-delimited", "--complement", "-n"),
                valued=V("-d", "--delimiter", "-f", "--fields", "-c", "--characters", "-b", "--bytes",
                         "--output-delimiter"), positional=any_pos),
    "sort": Spec(flags=F(*"-n -r -u -h -V -b -f -s -z -g -M -c -C --numeric-sort --reverse --unique "
                          "--human-numeric-sort --version-sort --ignore-leading-blanks --ignore-case --stable "
                          "--zero-terminated --general-numeric-sort --month-sort --check".split()),
                 valued=V("-k", "--key", "-t", "--field-separator"), positional=any_pos),
    "uniq": Spec(flags=F(*"-c -d -u -i -z -D --count --repeated --unique --ignore-case --zero-terminated".split()),
                 valued=V("-f", "--skip-fields", "-s", "--skip-chars", "-w", "--check-chars"), positional=max_pos(1)),
    "jq": Spec(flags=F(*"-r -c -e -s -n -S -j -a -M -C --raw-output --compact-output --exit-status --slurp "
                        "--null-input --sort-keys --tab --join-output --ascii-output".split()),
               valued=V("--indent"), positional=any_pos),
    "echo": Spec(custom=lambda a: None), "printf": Spec(custom=lambda a: None),
    "true": Spec(custom=lambda a: None), "false": Spec(custom=lambda a: None),
    "sleep": Spec(positional=lambda p: None if p and all(templated(x) or matches(r"[0-9.]+[smhd]?", "")(x) is None
                                                        for x in p) else "sleep NUMBER[smhd]"),
    "find": Spec(custom=_find),
    "du": Spec(flags=F(*"-s -h -b -k -m -c -a -x -0 -l -L --summarize --human-readable --bytes --total --all "
                        "--one-file-system --apparent-size --null --dereference".split()),
               valued=V("-d", "--max-depth", "--exclude", "-B", "--block-size", "-t", "--threshold"),
               positional=any_pos),
    "df": Spec(flags=F(*"-h -H -k -T -P -i -a -l --human-readable --si --print-type --portability --inodes --all "
                        "--local --total --sync --no-sync".split()),
               valued=V("-B", "--block-size", "-t", "--type", "-x", "--exclude-type"), optional=V("--output"),
               positional=any_pos),
    # ---- system facts ----
    "uname": Spec(flags=F(*"-a -r -s -n -m -v -o -p -i --all --kernel-release --kernel-name --nodename --machine "
                           "--kernel-version --operating-system --processor --hardware-platform".split()),
                  positional=no_pos),
    "id": Spec(flags=F(*"-u -g -G -n -r -z --user --group --groups --name --real --zero".split()), positional=max_pos(1)),
    "date": Spec(flags=F("-u", "--utc", "--universal", "-R", "--rfc-email"), optional=V("-I", "--iso-8601"),
                 valued=V("-d", "--date", "-r", "--reference", "--rfc-3339"), positional=_date_pos),
    "hostname": Spec(flags=F(*"-s --short -f --fqdn --long -d --domain -i --ip-address -I --all-ip-addresses -A "
                              "--all-fqdns".split()), positional=no_pos),
    "free": Spec(flags=F(*"-b -k -m -g -h -w -t -l --bytes --kibi --mebi --gibi --human --wide --total --si --lohi"
                          .split()), positional=no_pos),
    "nproc": Spec(flags=F("--all"), valued=V("--ignore"), positional=no_pos),
    "lscpu": Spec(flags=F("-J", "--json", "-x", "--hex", "-b", "--online", "-c", "--offline", "-a", "--all", "-y",
                          "--physical"), optional=V("-e", "--extended", "-p", "--parse"), positional=no_pos),
    "uptime": Spec(flags=F("-p", "--pretty", "-s", "--since"), positional=no_pos),
    "lspci": Spec(flags=F("-n", "-nn", "-k", "-v", "-vv", "-vvv", "-D", "-t", "-m", "-mm", "-b", "-q", "-P", "-PP"),
                  valued=V("-s", "-d"), positional=no_pos),
    "lsusb": Spec(flags=F("-v", "--verbose", "-t", "--tree"), valued=V("-s", "-d", "-D"), positional=no_pos),
    "lsmod": Spec(positional=no_pos),
    "modinfo": Spec(flags=F("-0", "--null", "-a", "-d", "-l", "-p", "-n", "--author", "--description", "--license",
                            "--parameters", "--filename"), valued=V("-F", "--field", "-k", "-b", "--basedir"),
                    positional=any_pos),
    "lsinitramfs": Spec(flags=F("-l"), positional=any_pos),
    "findmnt": Spec(flags=F(*"-n -r -l -J -s -m -k -M -D -e -f -P -b -u -v -a -A --verify --verbose --noheadings "
                             "--raw --list --json --fstab --mtab --kernel --df --evaluate --first-only --pairs --bytes "
                             "--notruncate --nofsroot --all --submounts --real --pseudo".split()),
                    valued=V("-o", "--output", "-t", "--types", "-S", "--source", "-T", "--target", "-O", "--options",
                             "-N", "--task", "--mountpoint", "-F", "--tab-file"), positional=max_pos(2)),
    "lsblk": Spec(flags=F(*"-d -n -o -a -b -f -J -l -p -P -r -S -t -z -D -e -i -m -s -O --nodeps --noheadings --all "
                           "--bytes --fs --json --list --paths --pairs --raw --scsi --topology --ascii --perms "
                           "--inverse --output-all".split()) - F("-o", "-e"),
                  valued=V("-o", "--output", "-e", "--exclude", "-I", "--include", "-x", "--sort"), positional=any_pos),
    "blkid": Spec(flags=F("-p", "--probe", "-i", "--info", "-l", "--list-one", "-d", "--no-encoding"),
                  valued={**V("-o", "--output", "-s", "--match-tag", "-t", "--match-token", "-U", "--uuid", "-L",
                           "--label", "-n", "--match-types"), **V("-c", check=DEV_NULL)}, positional=any_pos),
    "findfs": Spec(positional=exactly_pos(1)),
    "getent": Spec(valued=V("-s", "--service"), positional=lambda p: None if p else "needs a database"),
    "ping": Spec(flags=F("-q", "-n", "-4", "-6"), valued=V("-c", "-W", "-w", "-I", check=None),
                 need_one=F("-c"), positional=exactly_pos(1)),
    "dmidecode": Spec(flags=F("-q", "--quiet", "-u", "--dump", "--no-sysfs", "--no-quirks"),
                      valued=V("-t", "--type", "-s", "--string", "-H", "--handle", "--from-dump", "--oem-string"),
                      positional=no_pos),
    "sensors": Spec(flags=F("-u", "-A", "--no-adapter", "-j", "-f", "--fahrenheit", "--bus-list"),
                    valued=V("-c", "--config-file"), positional=any_pos),
    "debconf-show": Spec(positional=exactly_pos(1)),
    "lsinitrd": Spec(positional=any_pos),
    # ---- services, time, logs ----
    "systemctl": Spec(flags=F(*"--value --no-pager --no-legend --plain -a --all -l --full -q --quiet --failed "
                               "--system --reverse --after --before --recursive -r".split()),
                      valued=V("-p", "--property", "-t", "--type", "--state", "-n", "--lines", "-o", "--output"),
                      subs={v: _systemctl_q for v in ("is-active", "is-enabled", "is-failed", "status", "show",
                                                      "list-units", "list-unit-files", "list-timers", "list-sockets",
                                                      "list-dependencies", "cat", "get-default", "is-system-running")}),
    "timedatectl": Spec(flags=F("--value", "-a", "--all", "--no-pager", "--monitor"), valued=V("-p", "--property"),
                        subs={v: Spec(positional=no_pos) for v in ("", "show", "status", "timesync-status",
                                                                  "show-timesync", "list-timezones")}),
    "hwclock": Spec(flags=F("-r", "--show", "--get", "-u", "--utc", "--localtime", "-v", "--verbose", "--noadjfile"),
                    positional=no_pos),
    "journalctl": Spec(flags=F(*"-k --dmesg --no-pager --no-hostname -q --quiet -r --reverse -a --all --utc -x "
                                "--catalog --list-boots -m --merge --show-cursor --disk-usage --system".split()),
                       valued=V("-u", "--unit", "-o", "--output", "-n", "--lines", "-p", "--priority", "-S", "--since",
                                "-U", "--until", "-g", "--grep", "-t", "--identifier", "-D", "--directory", "--file",
                                "--cursor", "--after-cursor", "--output-fields", "--facility"),
                       optional=V("-b", "--boot"), positional=any_pos, custom=None),
    "dmesg": Spec(flags=F(*"-k --kernel -T --ctime -t --notime -x --decode -J --json -r --raw -S --syslog -u "
                           "--userspace -P --nopager -e --reltime -d --show-delta".split()),
                  valued=V("-l", "--level", "-f", "--facility", "--time-format", "-F", "--file", "-s",
                           "--buffer-size", "--since", "--until"), positional=no_pos),
    # ---- storage ----
    "smartctl": Spec(flags=F(*"-i --info -H --health -a --all -x --xall -A --attributes -c --capabilities "
                              "--scan --scan-open".split()),
                     valued={**V("-d", "--device", "-n", "--nocheck", "-T", "--tolerance", "-b", "--badsum", "-r",
                                 "--report", "-q", "--quietmode", "-F", "--firmwarebug", "-g", "--get"),
                             **V("-l", "--log", check=_smartctl_log)},
                     optional=V("-j", "--json", "--identify"), positional=max_pos(1)),
    "mdadm": Spec(flags=F(*"--detail -D --examine -E --query -Q --scan -s --brief -b --verbose -v --misc --export -Y "
                           "--test -t --wait -W --detail-platform --examine-badblocks".split()),
                  need_one=F("--detail", "-D", "--examine", "-E", "--query", "-Q", "--wait", "-W", "--detail-platform",
                             "--examine-badblocks"), positional=any_pos),
    "zpool": Spec(sub_first=True, subs={
        "status": Spec(flags=F("-x", "-P", "-v", "-L", "-p", "-g", "-s", "-t", "-D", "-i", "-e"), positional=any_pos),
        "list": Spec(flags=F("-H", "-p", "-v", "-P", "-L", "-g"), valued=V("-o", "-T"), positional=any_pos),
        "get": Spec(flags=F("-H", "-p"), valued=V("-o"), positional=any_pos),
        "iostat": Spec(flags=F("-v", "-H", "-p", "-y", "-l", "-q", "-g", "-L", "-P"), positional=any_pos),
        "history": Spec(flags=F("-i", "-l"), positional=any_pos),
        "events": Spec(flags=F("-v", "-H"), positional=no_pos),
        "import": Spec(valued=V("-d"), positional=no_pos),
    }),
    "zfs": Spec(sub_first=True, subs={
        "list": Spec(flags=F("-H", "-p", "-r"), valued=V("-d", "-o", "-t", "-s", "-S"), positional=any_pos),
        "get": Spec(flags=F("-H", "-p", "-r"), valued=V("-d", "-o", "-t", "-s"), positional=any_pos),
    }),
    "efibootmgr": Spec(flags=F("-v", "--verbose"), positional=no_pos),
    "sgdisk": Spec(flags=F("-p", "--print", "-v", "--verify", "-O", "--print-mbr"), valued=V("-i", "--info"),
                   need_one=F("-p", "--print", "-v", "--verify", "-O", "--print-mbr", "-i", "--info"),
                   positional=exactly_pos(1)),
    "sfdisk": Spec(flags=F("-d", "--dump", "-l", "--list", "-J", "--json", "-V", "--verify", "-s", "--show-size",
                           "-F", "--list-free", "-q", "--quiet"),
                   need_one=F("-d", "--dump", "-l", "--list", "-J", "--json", "-V", "--verify", "-s", "--show-size",
                              "-F", "--list-free"), positional=any_pos),
    "storcli": Spec(custom=_storcli), "storcli64": Spec(custom=_storcli), "perccli": Spec(custom=_storcli),
    "perccli64": Spec(custom=_storcli),
    "udevadm": Spec(sub_first=True, subs={"info": Spec(
        flags=F("-a", "--attribute-walk", "-x", "--export", "-e", "--export-db", "-r", "--root", "--no-pager"),
        valued=V("-q", "--query", "-p", "--path", "-n", "--name", "-d", "--device-id-of-file", "-P",
                 "--export-prefix", "--property"), positional=any_pos)}),
    "mokutil": Spec(flags=F("--sb-state", "--list-enrolled", "-l", "--list-new", "-N", "--list-delete", "--pk", "--kek",
                            "--db", "--dbx", "--mokx"), valued=V("-t", "--test-key"),
                    need_one=F("--sb-state", "--list-enrolled", "-l", "--list-new", "-N", "--list-delete", "--pk",
                               "--kek", "--db", "--dbx", "--mokx", "-t", "--test-key"), positional=no_pos),
    # ---- network ----
    "ip": Spec(custom=_ip),
    "ethtool": Spec(custom=_ethtool),
    "curl": Spec(eq=False, flags=F(*"-s --silent -S --show-error -f --fail --fail-with-body -k --insecure -I --head -L "
                                     "--location -v --verbose -4 -6 --ipv4 --ipv6 -q --disable --compressed -i "
                                     "--include -g --globoff".split()),
                 valued={**V("-m", "--max-time", "--connect-timeout", "-H", "--header", "-A", "--user-agent",
                             "--resolve", "--cacert", "--retry", "--retry-delay", "-r", "--range"),
                         **V("-o", "--output", check=DEV_NULL), **V("-w", "--write-out", check=_no_output_file),
                         **V("--url", check=_curl_url)},
                 positional=_curl_pos),
    # ---- packages ----
    "dpkg": Spec(flags=F("-l", "--list", "--audit", "-C", "--get-selections", "--print-architecture",
                         "--print-foreign-architectures", "-V", "--verify", "-s", "--status", "-L", "--listfiles",
                         "-S", "--search", "-p", "--print-avail"),
                 only_one=F("-l", "--list", "--audit", "-C", "--get-selections", "--print-architecture", "-V",
                            "--verify", "-s", "--status", "-L", "--listfiles", "-S", "--search", "-p", "--print-avail"),
                 need_one=F("-s", "--status", "-l", "--list", "-L", "--listfiles", "--audit", "-C", "--get-selections",
                            "-S", "--search", "--print-architecture", "--print-foreign-architectures", "-V",
                            "--verify", "-p", "--print-avail"), positional=any_pos),
    "dpkg-query": Spec(flags=F("-W", "--show", "-l", "--list", "-s", "--status", "-L", "--listfiles", "-S", "--search",
                               "-p", "--print-avail"), valued=V("-f", "--showformat"), positional=any_pos),
    "apt-mark": Spec(flags=F("-q", "--quiet"), subs={v: Spec(positional=any_pos) for v in (
        "showhold", "showmanual", "showauto", "showinstall", "showremove", "showpurge")}),
    "apt": Spec(flags=F("-q", "--quiet", "-a", "--all-versions", "--upgradable", "--installed", "--manual-installed"),
                subs={v: Spec(positional=any_pos) for v in ("list", "policy", "show", "search")}),
    "apt-cache": Spec(flags=F("-q", "--quiet", "--installed", "--no-all-versions", "--names-only", "-n", "--full"),
                      subs={v: Spec(positional=any_pos) for v in ("policy", "show", "search", "depends", "rdepends",
                                                                  "madison", "showpkg", "stats", "pkgnames")}),
    # apt-get: only `check` and simulations (-s); -o only to keep apt from rewriting its binary cache
    "apt-get": Spec(flags=F("-q", "-qq", "--quiet", "-V", "--verbose-versions", "-s", "--simulate", "--just-print",
                            "--dry-run", "--recon", "--no-act", "--no-install-recommends"),
                    valued=V("-o", "--option", check=_apt_o),
                    subs={"check": Spec(positional=no_pos),
                          **{v: Spec(need_one=_apt_sim, positional=any_pos) for v in (
                              "upgrade", "dist-upgrade", "full-upgrade", "install", "remove", "purge", "autoremove")}}),
    "needrestart": Spec(flags=F("-b", "-k", "-l", "-q", "-v", "-p"), valued=V("-r", check=one_of("l")),
                        need_one=F("-b"), positional=no_pos),
    "debsums": Spec(flags=F("-s", "--silent", "-c", "--changed", "-a", "--all", "-e", "--config"), positional=any_pos),
    # ---- backups: never a lock, never file data (restic check/dump and borg check/extract are not here) ----
    "restic": Spec(**_restic_global, subs={
        "snapshots": Spec(flags=F("-c", "--compact"), valued=V("--latest", "--path", "--host", "-H", "--tag",
                                                                "-g", "--group-by"), need_one=_restic_need,
                          positional=any_pos),
        "ls": Spec(flags=F("-l", "--long", "--recursive", "--human-readable"), valued=V("--path", "--host", "-H",
                                                                                     "--tag"),
                   need_one=_restic_need, positional=lambda p: None if p else "needs a snapshot"),
        "find": Spec(flags=F("-i", "--ignore-case", "-l", "--long", "--show-pack-id", "--human-readable"),
                     valued=V("-s", "--snapshot", "--path", "--host", "-H", "--tag", "-O", "--oldest", "-N",
                              "--newest"), need_one=_restic_need, positional=any_pos),
        "stats": Spec(valued=V("--mode", "--path", "--host", "-H", "--tag"), need_one=_restic_need, positional=any_pos),
        "cat": Spec(need_one=_restic_need,
                    positional=lambda p: None if p[:1] in (["config"], ["snapshot"]) else "only cat config|snapshot"),
        "diff": Spec(flags=F("--metadata"), need_one=_restic_need, positional=exactly_pos(2)),
        "version": Spec(positional=no_pos),
    }),
    "borg": Spec(flags=_borg_common, valued=V("--lock-wait"), subs={
        "list": Spec(flags=F("--short", "--json", "--json-lines", "--consider-checkpoints"),
                     valued=V("--format", "--last", "--first", "-a", "--glob-archives", "--sort-by", "-P", "--prefix"),
                     need_one=F("--bypass-lock"), positional=between_pos(1, 100)),
        "info": Spec(flags=F("--json"), valued=V("--last", "--first", "-a", "--glob-archives", "--sort-by"),
                     need_one=F("--bypass-lock"), positional=exactly_pos(1)),
        "diff": Spec(flags=F("--numeric-ids", "--numeric-owner", "--same-chunker-params", "--sort", "--json-lines"),
                     need_one=F("--bypass-lock"), positional=between_pos(2, 100)),
    }),
    "rsync": Spec(flags=F(*"-n --dry-run -a --archive -r --recursive -l --links -p --perms -t --times -g --group -o "
                           "--owner -D -H --hard-links -A --acls -X --xattrs -v --verbose -i --itemize-changes -c "
                           "--checksum --numeric-ids --delete -x --one-file-system -h --human-readable --stats "
                           "--no-motd -q --quiet".split()),
                  valued=V("--exclude", "--include", "--out-format"), need_one=F("-n", "--dry-run"),
                  positional=_rsync_pos),
    # ---- databases ----
    "pg_restore": Spec(flags=F("-l", "--list", "-v", "--verbose"), valued=V("-F", "--format"), need_one=F("-l", "--list"),
                       positional=exactly_pos(1)),
    "mariadb-check": Spec(flags=F(*"-c --check -B --databases -A --all-databases -e --extended -m --medium-check -q "
                                   "--quick -F --fast -C --check-only-changed -s --silent".split()),
                          valued=V("-S", "--socket", "-u", "--user", "--defaults-file", "--protocol"),
                          positional=any_pos),
    "named-checkconf": Spec(flags=F("-z", "-p", "-j", "-x"), valued=V("-t"), positional=max_pos(1)),
    "postqueue": Spec(flags=F("-p", "-j"), valued=V("-c"), need_one=F("-p", "-j"), positional=no_pos),
}
PROGRAMS["mysqlcheck"] = PROGRAMS["mariadb-check"]
PROGRAMS["psql"] = Spec(flags=F("-X", "-A", "-t", "-q"), valued={**V("-d", "-h", "-p", "-U"), **V("-c", check=_pg_sql),
                                                              **V("-v", check=one_of("ON_ERROR_STOP=1"))},
                        need_one=F("-c"), positional=no_pos)
PROGRAMS["mariadb"] = Spec(flags=F("--batch", "--skip-column-names", "-B", "-N"),
                           valued={**V("--socket", "-S", "--user", "-u"), **V("-e", "--execute", check=_my_sql)},
                           need_one=F("-e", "--execute"), positional=max_pos(1))
PROGRAMS["mysql"] = PROGRAMS["mariadb"]
PROGRAMS["runuser"] = Spec(custom=_runuser)
PROGRAMS["lslocks"] = Spec(flags=F("-n", "--noheadings", "-J", "--json", "-r", "--raw", "-u", "--notruncate", "-b",
                                   "--bytes"), valued=V("-o", "--output", "-p", "--pid"), positional=no_pos)
PROGRAMS["etckeeper"] = Spec(custom=lambda a: None if a[:2] == ["vcs", "log"] and all(
    x in ("-1", "--oneline", "--stat", "--name-status") or x.startswith(("--format=", "--since=")) or
    re.fullmatch(r"-n[0-9]+", x) for x in a[2:]) else "only etckeeper vcs log [-1|-nN|--oneline|--stat|--format=...]")
# doveadm [-c CONFIG] mailbox status|list ...: the global -c (another dovecot.conf) only comes before the command
PROGRAMS["doveadm"] = Spec(valued=V("-c"), subs={"mailbox": Spec(
    flags=F("-A"), valued=V("-u"),
    positional=words({"status": None, "list": None}, "doveadm mailbox command"))})
PROGRAMS["ipmitool"] = Spec(flags=F("-c", "-v"), valued=V("-I", "-H", "-U", "-p", "-L", "-N", "-R", "-C", "-y", "-f"),
                            positional=_ipmitool_pos)


def check(argv: list[str]) -> str | None:
    """Convenience for tests: the refusal reason for argv (None: read-only)."""
    spec = PROGRAMS.get(argv[0].rsplit("/", 1)[-1]) if argv else None
    return "unknown program" if spec is None else _check_args(spec, argv[1:])


def argv_read_only(argv: Sequence[str]) -> tuple[bool, str]:
    """Is this argv known to leave the host unchanged? -> (verdict, reason). Deny by default."""
    if not argv:
        return False, "empty argv"
    prog = str(argv[0]).rsplit("/", 1)[-1]
    spec = PROGRAMS.get(prog)
    if spec is None:
        return False, f"{prog} is not in the read-only command list"
    reason = _check_args(spec, [str(a) for a in argv[1:]])
    return (reason is None), (f"{prog}: {reason}" if reason else "read-only")
