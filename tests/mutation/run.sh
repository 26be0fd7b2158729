#!/usr/bin/env bash
# Mutation testing of the rules and the runbook executor with mutmut 2.5 (pip install mutmut==2.5.1,
# or `pip install -e '.[mutation]'`). Each mutant runs only the tests that cover its module.
#   bash tests/mutation/run.sh              all targets below (about an hour on one core)
#   bash tests/mutation/run.sh counters     one target: counters | disk | platform | board | events |
#                                           verdict | executor
# Prints "mutation score <target>: killed/total = NN.N %" per target; survivors: `mutmut show ID`.
# Text (docstrings, messages) and decorators are not mutated. TESTS_OVERRIDE="..." replaces a target's
# test selection (e.g. to score the same code against an older test suite); PATCH_FILE=x.diff limits
# mutation to the lines that diff adds (mutmut --use-patch-file; needs `pip install whatthepatch`).
# The executor target is limited this way to its core, generated here from the function names: the
# step loop, retries, until/deadline and verify (Executor._eta up to load_record), the part a
# runbook's safety depends on.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-.venv/bin/python}"
MUTMUT="${MUTMUT:-$(dirname "$PY")/mutmut}"
RULE_TESTS="tests/unit/rules tests/unit/disk/test_rules.py tests/unit/platform/test_rules_counters.py tests/unit/platform/test_board_verdict.py tests/unit/kernel_log/test_rules.py tests/unit/core/test_rules_board.py"
declare -A PATHS=(
  [counters]="agent/rules/disk_counters.py"
  [disk]="agent/rules/disk.py"
  [platform]="agent/rules/platform.py,agent/rules/pcie.py,agent/rules/memory.py"
  [board]="agent/rules/board.py,agent/rules/ipmi.py,agent/rules/raid.py"
  [events]="agent/rules/kernel.py,agent/rules/cpu.py,agent/rules/fs.py"
  [verdict]="agent/rules/board_verdict.py,agent/rules/base.py"
  [executor]="agent/recovery/executor.py"
)
declare -A TESTS=(
  [counters]="tests/unit/rules tests/unit/disk/test_rules.py tests/unit/disk/test_findings_doc.py"
  [disk]="tests/unit/rules tests/unit/disk/test_rules.py tests/unit/disk/test_corpus.py"
  [platform]="$RULE_TESTS"
  [board]="$RULE_TESTS"
  [events]="$RULE_TESTS"
  [verdict]="$RULE_TESTS"
  [executor]="tests/unit/recovery/test_executor.py tests/unit/recovery/test_record.py tests/unit/recovery/test_disk_swap_mdadm.py"
)
targets=("${@:-counters disk platform board events verdict executor}")
for t in ${targets[@]}; do
  rm -f .mutmut-cache
  if [ "$t" = executor ] && [ -z "${PATCH_FILE:-}" ]; then
    f=agent/recovery/executor.py
    a=$(grep -n "    def _eta" "$f" | cut -d: -f1); b=$(grep -n "^def load_record" "$f" | cut -d: -f1)
    PATCH_FILE="$(mktemp)"
    { echo "--- $f"; echo "+++ $f"; diff -u <(sed "${a},$((b - 1))d" "$f") "$f" | tail -n +3; } > "$PATCH_FILE" || true
  fi
  "$MUTMUT" run --paths-to-mutate "${PATHS[$t]}" \
      --disable-mutation-types string,fstring,decorator ${PATCH_FILE:+--use-patch-file "$PATCH_FILE"} \
      --runner "$PY -m pytest -x -q -p no:cacheprovider ${TESTS_OVERRIDE:-${TESTS[$t]}}" --no-progress >/dev/null 2>&1 || true
  "$MUTMUT" results > "tests/mutation/results-$t.txt" 2>&1 || true
  "$PY" - "$t" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(".mutmut-cache")
rows = dict(db.execute("SELECT status, COUNT(*) FROM Mutant GROUP BY status").fetchall())
killed = rows.get("ok_killed", 0) + rows.get("ok_suspicious", 0)  # suspicious = killed, but slow
total = sum(rows.values()) - rows.get("skipped", 0)
print(f"mutation score {sys.argv[1]}: killed {killed}/{total} = {100 * killed / max(total, 1):.1f} % ({rows})")
PYEOF
  cp .mutmut-cache "tests/mutation/cache-$t.sqlite" 2>/dev/null || true
done
