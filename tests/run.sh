#!/usr/bin/env bash
# Runs the hwagent test suite on a Debian 12 machine: installs the Debian packages the tests use
# (when root), builds a virtualenv with the project and its test dependencies, runs pytest.
# Extra arguments go to pytest:  bash tests/run.sh -k hwmon    bash tests/run.sh -m bench
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(python3-venv python3-pip prometheus prometheus-alertmanager chromium smartmontools mdadm ipmitool systemd)
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
exec "$VENV/bin/python" -m pytest "$@"
