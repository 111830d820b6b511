"""pp_writeloop.py — a dict changed in a loop, with a running checksum kept in the state.

    py-persist pp_writeloop.py explicit     palloc.commit() after every step, then "ack N SUM"
    py-persist --commit-interval MS pp_writeloop.py periodic
                                            no explicit commits; "at N" every 500 steps

At start it prints "start N SUM RECOMPUTED COUNT": the resumed step number, the stored
checksum, the checksum recomputed over the dict, and the number of entries.
"""
import os
import sys

import palloc

# The loop's steps are tests/common/write_loop.py, which the driver replays on its own to
# know the dict after any step. (The entry stays in sys.path across restarts: added once.)
_common = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "common"))
if _common not in sys.path:
    sys.path.insert(0, _common)
from write_loop import recompute, step

if "S" not in globals():
    S = (0, 0, {})  # (step, checksum, dict)
n, s, t = S
print("start", n, s, *recompute(t), flush=True)

mode = sys.argv[1]
if mode == "explicit":
    # In place: only explicit commits, so a half-done step is never committed.
    while True:
        n += 1
        s = step(t, s, n)
        S = (n, s, t)
        palloc.commit()
        print("ack", n, s, flush=True)
elif mode == "periodic":
    # A commit may come between any two bytecodes: each step builds the next state aside
    # and installs it with a single assignment.
    while True:
        n0, s0, t0 = S
        t = dict(t0)
        s = step(t, s0, n0 + 1)
        S = (n0 + 1, s, t)
        if (n0 + 1) % 500 == 0:
            print("at", n0 + 1, flush=True)
else:
    sys.exit("usage: pp_writeloop.py explicit|periodic")
