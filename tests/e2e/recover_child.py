"""Child process for the crash tests: runs a runbook and SIGKILLs itself at one transition.

python recover_child.py STATE_DIR RUNBOOK WORKDIR KILL_INDEX [RUN_ID]
KILL_INDEX -1 runs to the end; with RUN_ID the run is resumed instead of started. Prints each
transition as it is persisted ("S1 applying").
"""

from __future__ import annotations

import os
import signal
import sys

from agent.host import Host
from agent.recovery import runbook as rbm
from agent.recovery.executor import Executor, NullUI
from agent.recovery.record import RunStore


def main() -> None:
    state, book, work, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    run_id = sys.argv[5] if len(sys.argv) > 5 else None
    seen = []

    def hook(step_id: str, state_name: str) -> None:
        seen.append(f"{step_id} {state_name}")
        print(seen[-1], flush=True)
        if len(seen) - 1 == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    ex = Executor(rbm.load(book), Host(), params={"dir": work}, ui=NullUI(reapply=False), operator="crash-test",
                  store=RunStore(state), on_transition=hook)
    rec = ex.resume(run_id) if run_id else ex.start()
    print(f"STATUS {rec.data['status']}", flush=True)


if __name__ == "__main__":
    main()
