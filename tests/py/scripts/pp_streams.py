# pp_streams.py — sys.stdout replaced by a Python object whose flush() is slow and, on
# a chosen call, raises KeyboardInterrupt. Every flush comes from a commit (the program
# never flushes): periodic ones (--commit-interval, shorter than one flush) and one
# palloc.commit(). Prints: flushes, the deepest nesting of flush, the interrupts the
# program caught around its loop and around palloc.commit(), the commits made.
import sys
import time

import palloc


class SlowStream:
    def __init__(self, inner, interrupt_on):
        self.inner = inner
        self.interrupt_on = interrupt_on
        self.calls = self.depth = self.max_depth = 0

    def write(self, s):
        return self.inner.write(s)

    def flush(self):
        self.calls += 1
        self.depth += 1
        self.max_depth = max(self.max_depth, self.depth)
        try:
            time.sleep(0.15)  # the commit timer's signals arrive meanwhile
            if self.calls == self.interrupt_on:
                raise KeyboardInterrupt(f"from flush {self.calls}")
            self.inner.flush()
        finally:
            self.depth -= 1


start_epoch = palloc.epoch()
out = SlowStream(sys.__stdout__, interrupt_on=3)
sys.stdout = out
caught_loop = 0
end = time.monotonic() + 2.0
while True:
    try:
        while time.monotonic() < end:
            sum(range(1000))
        break
    except KeyboardInterrupt:
        caught_loop += 1

out.interrupt_on = out.calls + 1
caught_commit = 0
try:
    palloc.commit()
except KeyboardInterrupt:
    caught_commit += 1
sys.stdout = sys.__stdout__
print("streams", out.calls, out.max_depth, caught_loop, caught_commit, palloc.epoch() - start_epoch, flush=True)
