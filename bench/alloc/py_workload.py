"""A standard-library Python workload for the allocator benchmarks.

Run with PYTHONMALLOC=malloc (run.sh does) so that every object goes through the
preloaded malloc rather than CPython's own small-object allocator. It serialises and
parses JSON, runs regular expressions over generated text, counts and groups with
collections, and sorts many small objects, checking each result (an AssertionError exits
non-zero).

    python3 py_workload.py [SCALE]     SCALE 1 (default) runs about 1-2 s; 0.1 is quick
"""
import collections
import json
import random
import re
import sys

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


def n(base):
    return max(1, int(base * scale))


rng = random.Random(12345)
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
         "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi"]

# 1. JSON: records of nested dicts and lists, dumped and loaded back.
records = [
    {"id": i, "name": rng.choice(WORDS) + str(i), "score": rng.random(),
     "tags": [rng.choice(WORDS) for _ in range(rng.randint(0, 6))],
     "pos": {"x": rng.randint(-1000, 1000), "y": rng.randint(-1000, 1000)}}
    for i in range(n(20000))
]
for _ in range(2):
    text = json.dumps(records)
    back = json.loads(text)
    assert back == records, "json round trip"
    del text, back

# 2. Regular expressions over generated log lines.
lines = ["%s user=%s id=%d status=%s took=%dms" %
         (rng.choice(WORDS), rng.choice(WORDS), i, rng.choice(["ok", "fail", "retry"]),
          rng.randint(1, 5000)) for i in range(n(50000))]
pattern = re.compile(r"user=(\w+) id=(\d+) status=(\w+) took=(\d+)ms")
statuses = collections.Counter()
slow = []
for line in lines:
    m = pattern.search(line)
    assert m is not None
    statuses[m.group(3)] += 1
    if int(m.group(4)) > 4500:
        slow.append((m.group(1), int(m.group(2))))
assert sum(statuses.values()) == len(lines)
assert len(re.findall(r"\bstatus=fail\b", "\n".join(lines))) == statuses["fail"]

# 3. collections: counting, grouping, a deque as a sliding window.
counts = collections.Counter(w for line in lines for w in line.split()[0:1])
groups = collections.defaultdict(list)
for r in records:
    groups[r["name"][:3]].append(r["id"])
assert sum(len(v) for v in groups.values()) == len(records)
window = collections.deque(maxlen=1000)
acc = 0
for i in range(n(100000)):
    if len(window) == window.maxlen:
        acc -= window[0]
    window.append(i)
    acc += i
assert acc == sum(window)

# 4. Sorting many small objects (tuples, then instances) by several keys.
Point = collections.namedtuple("Point", "x y label")
points = [Point(rng.randint(0, 10**6), rng.randint(0, 10**6), rng.choice(WORDS))
          for _ in range(n(60000))]
by_x = sorted(points, key=lambda p: (p.x, p.y))
assert all(by_x[i].x <= by_x[i + 1].x for i in range(len(by_x) - 1))


class Item:
    __slots__ = ("key", "value")

    def __init__(self, key, value):
        self.key = key
        self.value = value


items = [Item(str(rng.random()), i) for i in range(n(50000))]
items.sort(key=lambda it: it.key)
assert all(items[i].key <= items[i + 1].key for i in range(len(items) - 1))
assert sorted(it.value for it in items) == list(range(len(items)))

print("python workload: scale=%g records=%d lines=%d slow=%d groups=%d points=%d items=%d"
      % (scale, len(records), len(lines), len(slow), len(groups), len(points), len(items)))
