"""kv_server.py: a JSON key/value HTTP API whose data is nothing but a Python dict.

    py-persist --arena kv.arena kv_server.py [PORT] [--port N] [--bind ADDR]

The port can also come from $KV_PORT (0 picks a free one; the "listening on" line
printed at start names it).

Under py-persist the global `store` survives restarts, kill -9 included: each write
calls palloc.commit() before it is answered, so every acknowledged write is on disk.
The script runs from its first line on every start, inside the resumed __main__; that
is what creates a new listening socket (the previous process's sockets fail with EBADF
after a resume); the data is simply still there.

--no-commit skips the commits. It exists for tests/py_web/test_web.py's self-check,
which shows that acknowledged writes are then lost on kill -9, i.e. that the test can
tell; do not use it otherwise.
"""

import os
import sys
import types

try:
    import palloc
except ImportError:
    sys.exit("kv_server.py: run it under py-persist (the palloc module is missing)")


def load_sibling(name):
    """Runs NAME.py from this file's directory as a new module object on every start.
    `import` would not do: sys.modules is part of the persisted state, so an import
    would keep returning the module as it was on the first run, even after an edit."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".py")
    module = types.ModuleType(name)
    module.__file__ = path
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec")
    exec(code, module.__dict__)
    return module


http_kv = load_sibling("http_kv")

ap = http_kv.arg_parser("A JSON key/value HTTP API kept in a dict by py-persist.")
ap.add_argument("--no-commit", action="store_true",
                help="do not commit writes (for the test's self-check only: writes are lost on kill -9)")
opts = http_kv.parse(ap, sys.argv[1:])

# The data: key -> JSON text. Empty only on the very first run; afterwards the dict
# from the last commit is already here.
store = globals().get("store", {})


class DictStorage:
    commit = staticmethod(palloc.commit)

    def get(self, key):
        return store.get(key)

    def put(self, key, text):
        created = key not in store
        store[key] = text
        return created

    def delete(self, key):
        return store.pop(key, None) is not None

    def keys(self):
        return store.keys()

    def info(self):
        st = palloc.stats()
        return {"storage": "py-persist", "epoch": st["epoch"], "resumed": palloc.resumed(),
                "last_commit_pages": st["last_commit_pages"], "last_commit_ms": st["last_commit_ms"],
                "tracker": st["tracker"], "durability": st["durability"]}


storage = DictStorage()
if opts.no_commit:
    storage.commit = None
    print("kv_server: --no-commit: acknowledged writes are NOT durable", file=sys.stderr, flush=True)

if palloc.resumed():
    print(f"kv_server: resumed at epoch {palloc.epoch()} with {len(store)} keys", file=sys.stderr, flush=True)

http_kv.serve(opts, storage)
