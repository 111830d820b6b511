#!/usr/bin/env python3
"""kill -9 torture for a persistent web service: py-persist/examples/kv_server.py.

The key/value server (http.server, data in a plain dict) under py-persist, driven by
curl and killed with kill -9 at random moments; its content after every restart must be
what the clients were told, and its stderr may hold nothing but its own "kv_server: "
notes (no traceback, no failed commit, no socket of the previous process that came
back). The torture and its self-check are tests/common/web_torture.py.

    test_web.py --py-persist build/bin/py-persist \
                --server py-persist/examples/kv_server.py [--cycles 8] [--seed S]

Needs only the standard library and curl. Exit status 0 when every check passed; 1
with the reasons otherwise.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import web_torture

if __name__ == "__main__":
    sys.exit(web_torture.main(__doc__, "py-persist", "py-persist/examples/kv_server.py", stderr_notes="kv_server: "))
