#!/usr/bin/env python3
"""A stand-in ``smartctl`` executable that replays recordings (argv -> stdout + exit code).

The recording directory comes from ``$FAKE_SMARTCTL_DIR``. ``smartctl --json -x -d sat /dev/sda``
is looked up as ``_--json_-x_-d_sat__dev_sda`` (same naming as tests/support/replay.py). Beside a
recording, optional files change the behaviour:

* ``<name>.rc``      exit code (default 0)
* ``<name>.stderr``  text written to stderr
* ``<name>.sleep``   seconds to sleep before answering (latency; a large value simulates a hang)
* ``<name>.seq/1``, ``<name>.seq/2`` ...  answers served in turn on successive calls (the last one
  repeats), for a device that changes while it is watched (a running self-test); each may have
  its own ``.rc``

A missing recording writes a message naming the argv and the file to stderr and exits 1, like a
smartctl command line error, so a test sees it instead of silently passing. Only the standard
library is used: the agent runs this exactly as it runs the real smartctl.
"""

import os
import sys
import time


def argv_name(args):
    return "_".join(a.replace("/", "_") for a in args) or "_"


def main() -> int:
    base = os.environ.get("FAKE_SMARTCTL_DIR")
    if not base:
        sys.stderr.write("fake smartctl: FAKE_SMARTCTL_DIR is not set\n")
        return 1
    p = os.path.join(base, argv_name(sys.argv[1:]))
    seq = p + ".seq"
    if os.path.isdir(seq):
        counter = os.path.join(seq, ".n")
        n = 1
        if os.path.exists(counter):
            with open(counter) as f:
                n = int(f.read().strip() or 1) + 1
        with open(counter, "w") as f:
            f.write(str(n))
        while n > 1 and not os.path.exists(os.path.join(seq, str(n))):
            n -= 1
        p = os.path.join(seq, str(n))
    if os.path.exists(p + ".sleep"):
        with open(p + ".sleep") as f:
            time.sleep(float(f.read().strip() or 0))
    if not os.path.exists(p):
        sys.stderr.write(f"fake smartctl: no recording for {' '.join(sys.argv[1:])!r}: expected {p}\n")
        return 1
    with open(p, "rb") as f:
        sys.stdout.buffer.write(f.read())
    sys.stdout.flush()
    if os.path.exists(p + ".stderr"):
        with open(p + ".stderr") as f:
            sys.stderr.write(f.read())
    rc = 0
    if os.path.exists(p + ".rc"):
        with open(p + ".rc") as f:
            rc = int(f.read().strip())
    return rc


if __name__ == "__main__":
    sys.exit(main())
