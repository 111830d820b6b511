#!/usr/bin/env python3
"""kill -9 torture for a persistent web service: lua-persist/examples/kv_server.lua.

The key/value server (data in a Lua table) under lua-persist, driven by curl and killed
with kill -9 at random moments; its content after every restart must be what the
clients were told. The torture and its self-check are tests/common/web_torture.py.

    test_web.py --lua-persist build/bin/lua-persist \
                --server lua-persist/examples/kv_server.lua [--cycles 8] [--seed S]

Exit status 0 when every check passed; 1 with the reasons otherwise.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import web_torture

if __name__ == "__main__":
    sys.exit(web_torture.main(__doc__, "lua-persist", "lua-persist/examples/kv_server.lua"))
