"""The loop of the kill_write_loop scenarios, defined once in Python.

tests/py/scripts/pp_writeloop.py runs it under py-persist; tests/lua/scripts/writeloop.lua
is the same loop in Lua. The drivers replay it in their own (ordinary) Python process
(interp_test.WriteLoopModel) to know the data after any step N, so what a resumed
interpreter reports is checked against values it had no part in computing.

Step n puts a value under key n, drops key n-1 every third step, keeps a window of W
keys and sometimes appends to an older value; the checksum is the sum of f(key, value)
over the entries. Pure Python with no imports: it is loaded inside py-persist too.
"""

W, M = 300, 1 << 32


def fnv1a(data):
    """FNV-1a of bytes, 32 bits (as lib.lua's)."""
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
    """(checksum, entries) of dict t, computed over its entries."""
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
