"""pp_threads.py — palloc.commit() with another thread running, then after joining it.

Prints "run N", "refused RuntimeError: MESSAGE" (or "committed-with-thread EPOCH"),
"joined EPOCH-BEFORE EPOCH-AFTER" and "thread-result V" (V counts the runs).
"""
import threading

import palloc

run = globals().get("run", 0) + 1
print("run", run, flush=True)
results = globals().setdefault("results", [])
go = threading.Event()


def work():
    go.wait(30)
    results.append(run)


t = threading.Thread(target=work)
t.start()
before = palloc.epoch()
try:
    print("committed-with-thread", palloc.commit(), flush=True)
except RuntimeError as e:
    print(f"refused {type(e).__name__}: {e}", flush=True)
go.set()
t.join()
print("joined", before, palloc.commit(), flush=True)
print("thread-result", results, flush=True)
