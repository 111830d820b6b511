"""pp_writeloop.py — a dict changed in a loop, with a running checksum kept in the state.

    py-persist pp_writeloop.py explicit     palloc.commit() after every step, then "ack N SUM"
    py-persist --commit-interval MS pp_writeloop.py periodic
                                            no explicit commits; "at N" every 500 steps

At start it prints "start N SUM RECOMPUTED COUNT": the resumed step number, the stored
checksum, the checksum recomputed over the dict, and the number of entries.
"""
import sys

import palloc

W, M = 300, 1 << 32


def fnv1a(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) % M
    return h


def val(k):
    return ("%x." % k) * (1 + k % 7)


def f(k, v):
    """The contribution of one entry: FNV-1a of the value mixed with the key."""
    return (k * 2654435761 + fnv1a(v.encode())) % M


def recompute(t):
    return sum(f(k, v) for k, v in t.items()) % M, len(t)


def step(t, s, n):
    """Step n on dict t whose checksum is s; returns the new checksum."""
    def put(k, v):
        nonlocal s
        old = t.pop(k, None)
        if old is not None:
            s = (s - f(k, old)) % M
        if v is not None:
            t[k] = v
            s = (s + f(k, v)) % M

    put(n, val(n))
    if n % 3 == 0:
        put(n - 1, None)
    if n > W:
        put(n - W, None)
    if n % 5 == 0 and (n - 2) in t:
        put(n - 2, t[n - 2] + "+")
    return s


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
