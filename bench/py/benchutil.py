"""Helpers shared by the workloads of bench/py/run.sh: a deterministic pseudo-random
generator (the inputs must be the same under every interpreter, independent of the
random module's algorithm) and the end-of-run report."""

import sys


class Lcg:
    """A 32-bit linear congruential generator (Numerical Recipes constants)."""

    __slots__ = ("state",)

    def __init__(self, seed):
        self.state = seed & 0xFFFFFFFF

    def next(self):
        self.state = (self.state * 1664525 + 1013904223) & 0xFFFFFFFF
        return self.state

    def below(self, n):
        """A number in [0, n); the high bits, which are the better ones of an LCG."""
        return (self.next() >> 8) % n


def report(*values):
    """Prints the result line (stdout; run.sh compares it across interpreters) and,
    under py-persist, the commits so far on stderr (run.sh collects them)."""
    print(*values)
    sys.stdout.flush()
    try:
        import palloc  # only py-persist has it
    except ImportError:
        return
    s = palloc.stats()
    print(f"py-persist: commits {s['commits']} last_commit_ms {s['last_commit_ms']:.3f} "
          f"bytes_written {s['bytes_written']}", file=sys.stderr)
