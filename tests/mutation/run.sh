#!/usr/bin/env bash
# Mutation testing of the rules and the runbook executor with mutmut 2.5
# (`pip install -e ".[mutation]"`: mutmut 2.5.1, whatthepatch). Runs in a scratch copy of the tree (mutmut edits the
# sources in place), one mutant per mutmut call (a long `mutmut run` can hang on its result pipe),
# each mutant against only the tests that cover its module.
#   bash tests/mutation/run.sh                 every target below (hours on one shared core)
#   bash tests/mutation/run.sh counters        one target: counters | disk | platform | board | events |
#                                              verdict | storage | executor |
#                                              eventstore (agent/events.py)
# Prints "mutation score <target>: killed K/T = NN.N %" per target and writes the survivors' diffs to
# tests/mutation/survivors-<target>.txt (git-ignored). Text (docstrings, messages) and decorators are
# not mutated. TESTS_OVERRIDE="..." replaces a target's test selection (e.g. to score the same code
# against an older test suite), PATHS_OVERRIDE="a.py,b.py" the mutated files. The executor target is limited to its core, generated here from the
# function names: the step loop, retries, until/deadline and verify (Executor._eta up to load_record),
# the part a runbook's safety depends on; CORE_FROM="    def plan" starts it earlier (dry run, start/resume, lock).
# WORKERS=N tests N mutants at a time (separate copies of the tree sharing one cache);
# REGISTER_SECONDS (180) bounds the first, registering mutmut call (it runs the target's tests once).
# See docs/mutation.md for the scores and the equivalent mutants.
set -euo pipefail
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
PY="${PYTHON:-$SRC/.venv/bin/python}"
MUTMUT="${MUTMUT:-$(dirname "$PY")/mutmut}"
RULE_TESTS="tests/unit/rules tests/unit/disk/test_rules.py tests/unit/platform/test_rules_counters.py tests/unit/platform/test_board_verdict.py tests/unit/kernel_log/test_rules.py tests/unit/core/test_rules_board.py"
declare -A PATHS=(
  [counters]="agent/rules/disk_counters.py"
  [disk]="agent/rules/disk.py"
  [platform]="agent/rules/platform.py,agent/rules/pcie.py,agent/rules/memory.py"
  [board]="agent/rules/board.py,agent/rules/ipmi.py,agent/rules/raid.py"
  [events]="agent/rules/kernel.py,agent/rules/cpu.py,agent/rules/fs.py"
  [verdict]="agent/rules/board_verdict.py,agent/rules/base.py"
  [storage]="agent/rules/storage.py"
  [executor]="agent/recovery/executor.py"
  [eventstore]="agent/events.py"
)
declare -A TESTS=(
  [counters]="tests/unit/rules tests/unit/disk/test_rules.py tests/unit/disk/test_findings_doc.py"
  [disk]="tests/unit/rules tests/unit/disk/test_rules.py tests/unit/disk/test_corpus.py"
  [platform]="$RULE_TESTS"
  [board]="$RULE_TESTS"
  [events]="$RULE_TESTS"
  [verdict]="$RULE_TESTS tests/unit/platform/test_board_verdict_caps.py"
  [storage]="tests/unit/rules tests/unit/storage"
  [executor]="tests/unit/recovery/test_executor_guarantees.py tests/unit/recovery/test_executor.py tests/unit/recovery/test_record.py tests/unit/recovery/test_disk_swap_mdadm.py"
  [eventstore]="tests/unit/kernel_log/test_event_store.py tests/unit/kernel_log/test_storm.py tests/unit/kernel_log/test_collector.py tests/unit/kernel_log/test_rules.py tests/unit/platform/test_ipmi.py"
)
targets=("${@:-counters disk platform board events verdict storage executor eventstore}")
for t in ${targets[@]}; do
  work="$(mktemp -d)"
  tar -C "$SRC" --exclude=.venv --exclude=.git --exclude=.mutmut-cache -cf - . | tar -C "$work" -xf -
  cd "$work"
  patch=()
  if [ "$t" = executor ]; then
    f=agent/recovery/executor.py
    a=$(grep -n "^${CORE_FROM:-    def _eta}" "$f" | head -1 | cut -d: -f1); b=$(grep -n "^def load_record" "$f" | cut -d: -f1)
    { echo "--- $f"; echo "+++ $f"; diff -u <(sed "${a},$((b - 1))d" "$f") "$f" | tail -n +3; } > core.diff || true
    patch=(--use-patch-file core.diff)
  fi
  tests="${TESTS_OVERRIDE:-${TESTS[$t]}}"
  paths="${PATHS_OVERRIDE:-${PATHS[$t]}}"
  args=(--paths-to-mutate "$paths" --disable-mutation-types string,fstring,decorator "${patch[@]}"
        --runner "$PY -m pytest -x -q -p no:cacheprovider $tests" --no-progress)
  restore() {  # a mutmut call that had to be killed may leave its mutant in the file
    for f in ${paths//,/ }; do cp "$SRC/$f" "$work/$f"; done
  }
  # registers every mutant in .mutmut-cache, then is stopped; the mutants run one per call below
  timeout -s INT -k 5 "${REGISTER_SECONDS:-180}" "$MUTMUT" run "${args[@]}" >/dev/null 2>&1 || true
  restore
  n=$("$PY" -c "import sqlite3; print(sqlite3.connect('.mutmut-cache').execute('SELECT COUNT(*) FROM Mutant').fetchone()[0])" 2>/dev/null || echo 0)
  if [ "$n" = 0 ]; then
    echo "mutation $t: no mutants registered: the baseline test run ($tests) did not finish within" \
         "REGISTER_SECONDS=${REGISTER_SECONDS:-180} s (or failed); run it alone to see why" >&2
    cd "$SRC"; rm -rf "$work"; continue
  fi
  # WORKERS copies of the tree test the mutants in parallel; each claims the lowest untested id
  # in the shared cache, tests it in its own copy and writes the result back
  worker() {
    local w="$work.w$1" id
    mkdir -p "$w"; tar -C "$work" -cf - . | tar -C "$w" -xf -
    cd "$w"
    while true; do
      id=$("$PY" - "$work/.mutmut-cache" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=300, isolation_level=None)
db.execute("BEGIN IMMEDIATE")
r = db.execute("SELECT MIN(id) FROM Mutant WHERE status = 'untested'").fetchone()[0]
if r is not None:
    db.execute("UPDATE Mutant SET status = 'claimed' WHERE id = ?", (r,))
db.execute("COMMIT")
print(r or "")
PYEOF
)
      [ -z "$id" ] && break
      timeout -s INT -k 10 600 "$MUTMUT" run "$id" "${args[@]}" >/dev/null 2>&1 || true
      for f in ${paths//,/ }; do cp "$SRC/$f" "$w/$f"; done
      "$PY" - "$work/.mutmut-cache" "$id" <<'PYEOF'
import sqlite3, sys
st, h = sqlite3.connect(".mutmut-cache").execute(
    "SELECT status, tested_against_hash FROM Mutant WHERE id = ?", (int(sys.argv[2]),)).fetchone()
if st == "untested":  # the mutmut call was stopped after 600 s: the mutant hangs the tests
    st = "bad_timeout"
db = sqlite3.connect(sys.argv[1], timeout=300)
db.execute("UPDATE Mutant SET status = ?, tested_against_hash = ? WHERE id = ?", (st, h, int(sys.argv[2])))
db.commit()
PYEOF
    done
    cd "$work"; rm -rf "$w"
  }
  for i in $(seq 1 "${WORKERS:-1}"); do worker "$i" & done
  wait
  "$PY" - "$t" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(".mutmut-cache")
rows = dict(db.execute("SELECT status, COUNT(*) FROM Mutant GROUP BY status").fetchall())
killed = rows.get("ok_killed", 0) + rows.get("ok_suspicious", 0)  # suspicious = killed, but slow
total = sum(rows.values()) - rows.get("skipped", 0)
print(f"mutation score {sys.argv[1]}: killed {killed}/{total} = {100 * killed / max(total, 1):.1f} % ({rows})")
PYEOF
  for id in $("$PY" -c "import sqlite3; print(' '.join(str(r[0]) for r in sqlite3.connect('.mutmut-cache').execute(
      \"SELECT id FROM Mutant WHERE status = 'bad_survived' ORDER BY id\")))"); do
    "$MUTMUT" show "$id" 2>/dev/null || true
  done > "$SRC/tests/mutation/survivors-$t${SUFFIX:-}.txt"
  cd "$SRC"
  rm -rf "$work"
done
