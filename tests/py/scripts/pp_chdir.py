"""pp_chdir.py — started by a relative path; changes to ./sub1 in its first run.

Prints "n RUN CWD". The script's path is relative to the directory py-persist was started
in, as for python3, not to the one the program moved to.
"""
import os

n = globals().get("n", 0) + 1
if n == 1:
    os.chdir("sub1")
print("n", n, os.getcwd(), flush=True)
