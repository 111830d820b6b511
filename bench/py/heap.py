"""The data of the resume benchmark (resume.sh): a global list `big` of records, each a
dict of strings, ints, a float and a small list, with as many records as make about MB
megabytes of process memory (RECORD_BYTES each, measured under python3.11). The same
records can be saved and loaded with pickle for comparison.

    heap.py build MB        build `big` (a global: under py-persist it is committed at
                            exit); prints "records N last NAME" and a checksum over
                            every record
    heap.py check           what a resumed run does: looks at `big` without touching its
                            records ("records N last NAME", or "no data")
    heap.py walk            reads every record of `big` (prints the same checksum)
    heap.py change COMMITS  (py-persist, on a built heap) COMMITS times: change one
                            entry of one record's dict and palloc.commit(); then COMMITS
                            commits without a change; prints "commit_ms FIRST MEDIAN MAX
                            pages LAST kib MEAN empty_ms MEDIAN pages LAST kib MEAN"
                            (COMMITS even: the entry ends as it was)
    heap.py save FILE MB    (python3.11) builds the same records in a local list, then
                            pickle.dump's them into FILE; prints the build's lines and
                            "dump_s SECONDS" (the dump alone, timed in the process)
    heap.py load FILE       (python3.11) pickle.load's FILE and prints "records N last
                            NAME" like check
    heap.py loadwalk FILE   pickle.load's FILE, then reads every record like walk

Progress and in-process timings go to stderr; the lines to compare go to stdout.
"""

import gc
import pickle
import sys
import time

# Process memory per record (RSS growth / records, python3.11 and py-persist alike):
# the dict (5 entries), its two fresh strings, the list, the int and the float.
RECORD_BYTES = 540

TAGS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
        "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi"]


def note(msg):
    print(f"heap.py: {msg}", file=sys.stderr, flush=True)


def record(i):
    return {
        "id": i,
        "name": f"item-{i:09d}",
        "text": f"{(i * 2654435761) % 4294967296:08x}: the record number {i} of the benchmark heap",
        "tags": ["red", "green", TAGS[i % 16]],
        "score": i * 0.25,
    }


def fill(mb):
    n = mb * 1048576 // RECORD_BYTES
    t0 = time.perf_counter()
    # The cyclic collector would traverse the growing list again and again; none of
    # this is garbage. The records are then moved to the oldest generation (one full
    # collection), as a long-running program's data would be.
    gc.disable()
    out = [record(i) for i in range(n)]
    gc.enable()
    gc.collect()
    note(f"built {n} records in {time.perf_counter() - t0:.2f} s")
    return out


def summary(t):
    return f"records {len(t)} last {t[-1]['name'] if t else '-'}"


def checksum(t):
    s = 0
    for r in t:
        s += r["id"] + len(r["name"]) + len(r["text"]) + len(r["tags"]) + \
            len(r["tags"][2]) + int(r["score"])
    return s


def timed_checksum(t):
    t0 = time.perf_counter()
    s = checksum(t)
    note(f"read every record in {time.perf_counter() - t0:.3f} s")
    return s


def main():
    global big
    mode = sys.argv[1] if len(sys.argv) > 1 else "check"
    g = globals()
    if mode == "build":
        mb = int(sys.argv[2])
        if "big" in g:
            note("big already exists (a resumed state): not rebuilding")
        else:
            big = fill(mb)
        print(summary(big))
        print(f"checksum {checksum(big)}")
    elif mode == "check":
        print(summary(big) if "big" in g else "no data")
    elif mode == "walk":
        print(f"checksum {timed_checksum(big)}" if "big" in g else "no data")
    elif mode == "change":
        import palloc  # py-persist only
        commits = int(sys.argv[2])
        if "big" not in g:
            print("no data")
            return
        r = big[len(big) // 2 + 1]  # score != 0: negating it changes the value
        before = r["score"]

        def run(change):
            """commits timed commits (after negating the score if change); palloc.stats()
            is called only around the loop, as it allocates and would be committed too.
            Returns the times (ms), the pages of the last commit and the mean KiB the
            commits wrote (pages plus their log records)."""
            ms = []
            s0 = palloc.stats()
            for _ in range(commits):
                if change:
                    r["score"] = -r["score"]
                t0 = time.perf_counter()
                palloc.commit()
                ms.append((time.perf_counter() - t0) * 1000)
            s1 = palloc.stats()
            return ms, s1["last_commit_pages"], (s1["bytes_written"] - s0["bytes_written"]) / commits / 1024

        ms, pages, kib = run(True)
        if r["score"] != before:
            raise SystemExit("heap.py change: an odd number of commits left the record changed")
        ems, epages, ekib = run(False)
        note("commit ms after a change: " + " ".join(f"{x:.2f}" for x in ms) +
             "; without a change: " + " ".join(f"{x:.2f}" for x in ems))

        def med(v):
            return sorted(v)[len(v) // 2]

        print(f"commit_ms {ms[0]:.3f} {med(ms):.3f} {max(ms):.3f} pages {pages} kib {kib:.0f} "
              f"empty_ms {med(ems):.3f} pages {epages} kib {ekib:.0f}")
    elif mode == "save":
        path, mb = sys.argv[2], int(sys.argv[3])
        data = fill(mb)
        print(summary(data))
        print(f"checksum {checksum(data)}")
        t0 = time.perf_counter()
        with open(path, "wb") as f:
            pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
        dt = time.perf_counter() - t0
        note(f"pickle.dump {dt:.2f} s")
        print(f"dump_s {dt:.6f}")
    elif mode in ("load", "loadwalk"):
        t0 = time.perf_counter()
        with open(sys.argv[2], "rb") as f:
            data = pickle.load(f)
        note(f"pickle.load {time.perf_counter() - t0:.3f} s")
        print(summary(data) if mode == "load" else f"checksum {timed_checksum(data)}")
    else:
        raise SystemExit(f"heap.py: unknown mode {mode}")


if __name__ == "__main__":
    main()
