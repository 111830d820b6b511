#!/usr/bin/env python3
"""Requests per second of the key/value web service: lua-persist against SQLite.

Runs the same HTTP API (lua-persist/examples/http_kv.lua) twice, in the same
invocation and in the same directory (so on the same file system):

  lua-persist   kv_server.lua under lua-persist --durability sync: a Lua table,
                palloc.commit() after every write, durable before the answer;
  SQLite        kv_server_sqlite.lua under plain lua5.4: WAL, synchronous=FULL, one
                transaction per write, durable before the answer.

The load, its checks and the table are bench/web_load.py's: each round starts both
servers afresh; the table shows the median round.

    web_bench.py --lua-persist build/bin/lua-persist --lua lua5.4 \
                 --examples lua-persist/examples [--requests 2000] [--quick]
"""

import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import web_load


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lua-persist", required=True, help="the lua-persist binary")
    ap.add_argument("--lua", required=True, help="the plain interpreter (lua5.4) for the SQLite server")
    ap.add_argument("--examples", required=True, help="the lua-persist/examples directory")
    web_load.add_arguments(ap)
    args = ap.parse_args()
    web_load.settle_arguments(args)

    examples = os.path.abspath(args.examples)
    lua_persist = shutil.which(args.lua_persist) or args.lua_persist
    lua = shutil.which(args.lua) or args.lua
    workdir = web_load.make_workdir(args)
    values = web_load.make_values(args)

    systems = [
        dict(name="lua-persist", title="lua-persist (sync)", health={"durability": "sync"},
             cmd=lambda r, h: [lua_persist, "--arena", os.path.join(workdir, f"kv-{r}.arena"),
                               "--fresh", "--durability", "sync",
                               os.path.join(examples, "kv_server.lua"), "--port", "0"]),
        dict(name="SQLite", title="SQLite (WAL, FULL)",
             cmd=lambda r, h: [lua, os.path.join(examples, "kv_server_sqlite.lua"), "--port", "0",
                               "--db", os.path.join(workdir, f"kv-{r}.sqlite3")]),
    ]
    return 1 if web_load.measure(systems, workdir, args, values, "key/value web service") is None else 0


if __name__ == "__main__":
    sys.exit(main())
