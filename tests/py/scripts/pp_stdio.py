"""pp_stdio.py — standard streams across restarts.   py-persist pp_stdio.py

The driver writes two lines at once: "first R HOW" and a second one, so that the second
sits in sys.stdin's read-ahead buffer when the program commits. Each run prints "line R a"
and "line R b" without flushing (stdout is a pipe: block buffered), reads the first line
and prints it (buffered too), commits (which flushes), writes "committed R" straight to
fd 1 and prints "pending R" without flushing. HOW "kill": it sleeps and the driver kills
it ("pending R" is lost, and the buffered second line must not turn up in the next run).
Otherwise it reads the second line with input() and prints "got LINE".
"""
import os
import sys
import time

import palloc

run = globals().get("run", 0) + 1
print(f"line {run} a")
print(f"line {run} b")
sys.stderr.write(f"stderr {run}\n")
first = sys.stdin.readline().rstrip("\n")
print(f"read {first}")
palloc.commit()
os.write(1, f"committed {run}\n".encode())
print(f"pending {run}")
if first.endswith(" kill"):
    time.sleep(60)
word = input()
print(f"got {word}")
print(f"fileno {sys.stdout.fileno()} {sys.stdin.fileno()} {sys.stdin.isatty()}")
