"""pp_large.py — a large state.   py-persist pp_large.py N SEED HOW

First run: builds N records (a dict with an int, a float, a string and a small list each,
in lists of 1000), prints "built N" and commits. Every run then prints "checksum N C"
computed over the records it finds (C as test_py.py's large_checksum). HOW "kill": prints
"COMMITTED" after the commit and waits (the driver kills it).
"""
import sys
import time
import zlib

import palloc

n, seed, how = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
M = (1 << 61) - 1


def record(i):
    k = (i * 6364136223846793005 + seed) % M
    return {"i": i, "k": k, "f": i / 7, "s": ("%016x" % k) * (4 + i % 5), "l": [i, str(i), k % 1000]}


def checksum(chunks):
    c, total = 0, 0
    for chunk in chunks:
        for r in chunk:
            c = zlib.crc32(r["s"].encode(), c)
            total = (total + r["k"] * (r["i"] + 1) + r["l"][2] + len(r["l"][1])) % M
            if r["f"] != r["i"] / 7 or r["l"][0] != r["i"]:
                total = -1
    return f"{c:08x}:{total}"


t0 = time.monotonic()
if "chunks" not in globals():
    chunks = [[record(i) for i in range(j, min(j + 1000, n))] for j in range(0, n, 1000)]
    print("built", sum(len(c) for c in chunks), flush=True)
    e = palloc.commit()
    print("commit", e, f"{time.monotonic() - t0:.2f}", flush=True)
t1 = time.monotonic()
print("checksum", sum(len(c) for c in chunks), checksum(chunks), f"{time.monotonic() - t1:.2f}", flush=True)
st = palloc.stats()
print("stats", st["size"], st["resumed"], flush=True)
if how == "kill":
    print("COMMITTED", flush=True)
    sys.stdin.readline()
