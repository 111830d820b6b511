"""pp_types.py — objects of many types, built in the first run, checked and advanced in every run.

    py-persist pp_types.py SEED HOW     HOW: exit (falls off the end), sysexit (SystemExit(5)),
                                     kill (palloc.commit(), prints COMMITTED, waits on stdin)

Every run prints "CHECK NAME VALUE" lines; test_py.py computes the values it expects on its
own (run k sees the effects of runs 1..k-1 and advances everything once more). The driver
imports initial_values() and canon() from this file (as a module, so the part below
`if __name__ == "__main__"` does not run) and evolves the data in its own process.
"""
import sys


def say(*parts):
    print(*parts, flush=True)


def canon(x, path=()):
    """A text of x that does not depend on hash order (sets sorted); a container inside
    itself is written <cycle>."""
    if id(x) in path:
        return "<cycle>"
    inner = path + (id(x),)
    if isinstance(x, dict):
        return "{" + ", ".join(f"{canon(k, inner)}: {canon(v, inner)}" for k, v in x.items()) + "}"
    if isinstance(x, (set, frozenset)):
        return type(x).__name__ + "(" + ", ".join(sorted(canon(v, inner) for v in x)) + ")"
    if isinstance(x, list):
        return "[" + ", ".join(canon(v, inner) for v in x) + "]"
    if isinstance(x, tuple):
        return "(" + ", ".join(canon(v, inner) for v in x) + ",)"
    return repr(x)


def initial_values():
    """S's attributes in the first run that are plain values: `data` (values of many
    types, one list twice, the dict inside itself) and containers, dates, numbers and a
    JSON document that every run advances."""
    import collections
    import datetime
    import decimal
    import fractions
    import json

    shared = ["shared", 1]
    data = {
        "str": "h\u00e9llo w\u00f6rld \u2603 \U0001F600",
        "bytes": bytes(range(256)),
        "bytearray": bytearray(b"abc"),
        "big": 3 ** 200,
        "negbig": -(2 ** 100) + 1,
        "float": 0.1,
        "inf": float("inf"),
        "negzero": -0.0,
        "complex": complex(1.5, -2.25),
        "tuple": (1, "two", (3.0, None), True),
        "list": list(range(20)),
        "set": {"alpha", "beta", "gamma", "delta"},
        "frozenset": frozenset({1, 2, (3, "four"), "five"}),
        "nested": {"a": [{"b": {"c": [1, 2, {"d": "deep"}]}}]},
        "runs": [],
        "shared1": shared,
        "shared2": shared,
    }
    data["self"] = data
    Point = collections.namedtuple("Point", "x y")
    tz = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    base = datetime.datetime(2024, 2, 28, 23, 30, tzinfo=tz)
    return dict(
        data=data,
        od=collections.OrderedDict((c, i) for i, c in enumerate("abcde")),
        dd=collections.defaultdict(list),
        dq=collections.deque(maxlen=4),
        counter=collections.Counter("mississippi"),
        Point=Point,
        pt=Point(1, 2),
        base=base,
        stamp=base,
        delta=datetime.timedelta(days=1, hours=1, minutes=1, seconds=1, microseconds=1),
        dctx=decimal.Context(prec=40, rounding=decimal.ROUND_DOWN),
        dacc=decimal.Decimal(0),
        facc=fractions.Fraction(0),
        json=json.loads('{"name": "doc", "values": [1, 2.5, null, true, "x\\u00e9"], "runs": []}'),
    )


def build(seed):
    """The state of the first run. Everything lives in one namespace object S."""
    import decimal
    import functools
    import random
    import re
    import types
    import weakref

    S = types.SimpleNamespace(runs=0, **initial_values())
    S.keys = {f"key{i}": i for i in range(1000)}
    S.hash_abc = hash("abc")

    class Base:
        kind = "base"

        def __init__(self, name):
            self.name = name

        def describe(self):
            return f"{self.kind}:{self.name}"

    class Derived(Base):
        kind = "derived"
        made = 0

        def __init__(self, name):
            super().__init__(name)
            Derived.made += 1

        @property
        def upper(self):
            return self.name.upper()

    class Slotted:
        __slots__ = ("x", "y")

        def __init__(self, x, y):
            self.x, self.y = x, y

        def norm2(self):
            return self.x * self.x + self.y * self.y

    S.Base, S.Derived = Base, Derived
    S.objs = [Derived("one"), Derived("two"), Base("three"), Derived("four")]
    S.slotted = Slotted(3, 4)

    def make_counter(start):
        n = start

        def inc(step=1):
            nonlocal n
            n += step
            return n

        def get():
            return n

        return inc, get

    S.inc, S.get = make_counter(100)

    def fib():
        a, b = 0, 1
        while True:
            yield a
            a, b = b, a + b

    S.fib = fib()
    S.squares = (x * x for x in range(1000))

    S.pat = re.compile(r"(?P<word>[a-z]+)-(?P<num>\d+)", re.I)

    decimal.getcontext().prec = 33  # the thread's own context, kept with the thread state

    random.seed(seed)
    S.rng = random.Random(seed + 1)

    S.calls = []

    @functools.lru_cache(maxsize=32)
    def square(x):
        S.calls.append(x)
        return x * x

    S.square = square

    class Node:
        def __init__(self, v):
            self.v = v

    S.wvd = weakref.WeakValueDictionary()
    S.strong = []
    S.died = []
    S.refs = []
    for i in range(12):
        node = Node(i)
        S.wvd[f"n{i}"] = node
        S.refs.append(weakref.ref(node, lambda r, i=i: S.died.append(i)))
        if i % 2 == 0:
            S.strong.append(node)
    return S


def advance_and_check(S):
    import decimal
    import fractions
    import gc
    import json
    import random
    import re

    S.runs += 1
    k = S.runs
    S.data["bytearray"].extend(b"%d" % k)
    S.data["runs"].append(k)
    say("CHECK run", k, palloc.resumed())
    say("CHECK data", canon(S.data))
    say("CHECK identity", S.data["shared1"] is S.data["shared2"], S.data["self"] is S.data)
    say("CHECK hash", hash("abc") == S.hash_abc, all(S.keys[f"key{i}"] == i for i in range(1000)),
        "gamma" in S.data["set"], (3, "four") in S.data["frozenset"])
    say("CHECK hash_value", hash("abc"))

    S.slotted.x += 1
    say("CHECK classes", [o.describe() for o in S.objs], S.objs[0].upper, S.Derived.made,
        isinstance(S.objs[1], S.Base), [c.__name__ for c in type(S.objs[0]).__mro__],
        S.slotted.norm2(), hasattr(S.slotted, "__dict__"))

    say("CHECK closure", S.inc(), S.get(), S.inc(10), S.get())
    say("CHECK generator", next(S.fib), next(S.fib), next(S.squares))

    S.od.move_to_end(next(iter(S.od)))
    S.dd[k % 3].append(k)
    S.dq.append(k)
    S.dq.appendleft(-k)
    S.counter.update(f"run{k}")
    S.pt = S.pt._replace(x=S.pt.x + k)
    say("CHECK collections", list(S.od.items()), sorted(S.dd.items()), list(S.dq), sorted(S.counter.items()),
        S.pt, S.pt._asdict(), S.Point._fields)

    say("CHECK re", S.pat.findall(f"abc-{k} XY-{k * k}"), S.pat.sub(r"\g<num>=\g<word>", f"q-{k}"),
        bool(S.pat.flags & re.I), re.compile(S.pat.pattern, re.I) is S.pat)

    S.stamp = S.stamp + S.delta
    say("CHECK datetime", S.stamp.isoformat(), (S.stamp - S.base).total_seconds(),
        S.stamp.astimezone(S.stamp.tzinfo.utc).isoformat(), S.stamp.strftime("%A %d %B %Y %H:%M"))

    S.dacc = S.dctx.add(S.dacc, S.dctx.divide(decimal.Decimal(1), decimal.Decimal(7 * k)))
    say("CHECK decimal", str(S.dacc), S.dctx.prec, str(S.dctx.rounding), decimal.getcontext().prec,
        str(decimal.Decimal(1) / decimal.Decimal(3)))
    S.facc += fractions.Fraction(1, k)
    say("CHECK fraction", S.facc, float(S.facc))

    S.json["runs"].append({"run": k, "half": k / 2})
    text = json.dumps(S.json, sort_keys=True)
    say("CHECK json", text, json.loads(text) == S.json)

    say("CHECK random", [random.random() for _ in range(3)], random.randint(0, 10 ** 9), S.rng.getrandbits(64))

    squares = [S.square(i) for i in range(10)] + [S.square(100 + k)]
    info = S.square.cache_info()
    say("CHECK lru_cache", sum(squares), info.hits, info.misses, info.currsize, len(S.calls))

    if S.strong:
        S.strong.pop(0)
    gc.collect()
    say("CHECK weakref", sorted(S.wvd.keys(), key=lambda s: int(s[1:])), sorted(S.died),
        sum(r() is not None for r in S.refs))


if __name__ == "__main__":
    import palloc

    if "S" not in globals():
        S = build(int(sys.argv[1]))
    advance_and_check(S)

    how = sys.argv[2]
    if how == "kill":
        palloc.commit()
        say("COMMITTED")
        sys.stdin.readline()
    elif how == "sysexit":
        raise SystemExit(5)
