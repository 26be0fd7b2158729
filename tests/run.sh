#!/usr/bin/env bash
# Runs the hwagent test suite on a Debian 12 machine: installs the Debian packages the tests use
# (when root), builds a virtualenv with the project and its test dependencies, runs the static gates
# (ruff, mypy, the complexity ratchet), then pytest: first
# the fast suite, then the VM suite (tests/vm: qemu guests with injected hardware faults and a real
# Prometheus, ~15 min on 2 cores; it installs its own Debian packages and caches its guest image).
# Extra arguments go to the first pytest run:  bash tests/run.sh -k hwmon    bash tests/run.sh -m bench
# The VM stage runs when no arguments other than -q/-v/-x/-r.. are given, or HWAGENT_TESTS_VM=1;
# HWAGENT_TESTS_VM=0 leaves it out. A VM test that fails is run once more (reported as such), except
# the rehearsal of the whole day (tests/vm/test_rehearsal.py, with HWAGENT_VM_REHEARSAL=1: ~25 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(python3-venv python3-pip openssl prometheus prometheus-alertmanager chromium smartmontools mdadm ipmitool systemd groff-base restic borgbackup postgresql mariadb-server mariadb-client dovecot-core dovecot-imapd)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    missing=()
    for p in "${DEB_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "tests/run.sh: installing ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

VENV="${HWAGENT_TEST_VENV:-.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
# static gates before the tests (HWAGENT_TESTS_GATES=0 leaves them out): the lint gate ([tool.ruff]:
# unused imports, bugbear, blind excepts, undeclared lazy imports), the type check ([tool.mypy] in
# pyproject.toml: agent and hwstatus, --strict flags for model/, host.py, rules/ and state/) and the
# complexity ratchet (tools/complexity.py against tools/complexity-baseline.txt)
if [ "${HWAGENT_TESTS_GATES:-1}" != 0 ]; then
    echo "tests/run.sh: ruff" >&2
    "$VENV/bin/python" -m ruff check agent hwstatus tools tests
    echo "tests/run.sh: mypy" >&2
    "$VENV/bin/python" -m mypy
    echo "tests/run.sh: complexity ratchet" >&2
    "$VENV/bin/python" tools/complexity.py
fi
"$VENV/bin/python" -m pytest "$@"

vm="${HWAGENT_TESTS_VM:-auto}"
if [ "$vm" = auto ]; then
    vm=1
    for a in "$@"; do
        case "$a" in -q|-qq|-v|-vv|-x|-r*) ;; *) vm=0 ;; esac
    done
fi
[ "$vm" = 1 ] || exit 0
echo "tests/run.sh: VM suite (tests/vm, -m vm)" >&2
failed="$(mktemp)"
trap 'rm -f "$failed"' EXIT
if HWAGENT_VM_FAILED_FILE="$failed" "$VENV/bin/python" -m pytest -m vm tests/vm -rs "$@"; then
    exit 0
fi
# the rehearsal (~25 min) is not run twice: a failed rehearsal fails the run
mapfile -t again < <(sort -u "$failed" | grep -v "test_rehearsal.py" || true)
if [ ${#again[@]} -eq 0 ] || grep -q "test_rehearsal.py" "$failed"; then
    exit 1  # nothing to retry (a collection or session error, or the rehearsal failed)
fi
echo "tests/run.sh: VM suite: ${#again[@]} test(s) failed; running them once more: ${again[*]}" >&2
exec "$VENV/bin/python" -m pytest -m vm -rs "$@" "${again[@]}"
