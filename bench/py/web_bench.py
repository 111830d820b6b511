#!/usr/bin/env python3
"""Requests per second of the key/value web service: py-persist against SQLite and Redis.

Runs the same HTTP API (py-persist/examples/http_kv.py, on http.server) three times,
in the same invocation and in the same directory (so on the same file system):

  py-persist  kv_server.py under py-persist --durability sync: a dict,
              palloc.commit() after every write, durable before the answer;
  SQLite      kv_server_sqlite.py under /usr/bin/python3: WAL, synchronous=FULL, one
              transaction per write, durable before the answer;
  Redis       kv_server_redis.py under /usr/bin/python3 (python3-redis) against a
              redis-server started here with --appendonly yes --appendfsync always:
              Redis fsyncs its append-only file before it replies.

The load, its checks and the table are bench/web_load.py's: each round starts every
server afresh; the table shows the median round and the ratios to SQLite.

    web_bench.py --py-persist build/bin/py-persist [--examples py-persist/examples]
                 [--requests 2000] [--rounds 3] [--quick]

Exit status 0; 1 when a server misbehaved; 77 when redis-server or python3-redis is
missing (unless --no-redis).
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from web_load import START_TIMEOUT, BenchError, spawn, stop
import web_load

SKIP = 77


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(redis_server, directory, log):
    """redis-server on a free port with every write fsynced before the reply."""
    os.makedirs(directory, exist_ok=True)
    for _ in range(3):             # the free port may be taken before redis binds it
        port = free_port()
        cmd = [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory,
               "--appendonly", "yes", "--appendfsync", "always", "--save", "",
               "--daemonize", "no", "--protected-mode", "yes"]
        proc = spawn(cmd, log)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            if redis_ping(port):
                return proc, port
            time.sleep(0.02)
        stop(proc)
    with open(log + ".out", "rb") as f:
        out = f.read().decode(errors="replace")
    raise BenchError(f"redis-server did not start\n{out[-2000:]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--py-persist", required=True, help="the py-persist binary")
    ap.add_argument("--examples", default=os.path.join(HERE, "..", "..", "py-persist", "examples"),
                    help="the py-persist/examples directory")
    ap.add_argument("--python", default="/usr/bin/python3",
                    help="the plain interpreter for the SQLite and Redis servers (/usr/bin/python3, "
                         "which has Debian's python3-redis)")
    ap.add_argument("--redis-server", default="redis-server", help="the redis-server binary")
    ap.add_argument("--no-redis", action="store_true", help="leave Redis out")
    web_load.add_arguments(ap)
    args = ap.parse_args()
    web_load.settle_arguments(args)

    examples = os.path.abspath(args.examples)
    py_persist = os.path.abspath(shutil.which(args.py_persist) or args.py_persist)
    python = shutil.which(args.python) or args.python
    if not args.no_redis:
        redis_server = shutil.which(args.redis_server)
        if not redis_server:
            print(f"web_bench: SKIP: {args.redis_server} not found (install redis-server, or --no-redis)")
            return SKIP
        if subprocess.run([python, "-c", "import redis"], capture_output=True).returncode != 0:
            print(f"web_bench: SKIP: {python} cannot import redis (install python3-redis, or --no-redis)")
            return SKIP

    workdir = web_load.make_workdir(args)
    values = web_load.make_values(args)

    def redis_cmd(r, helpers):
        proc, port = start_redis(redis_server, os.path.join(workdir, f"redis-{r}"),
                                 os.path.join(workdir, f"redis-server-{r}"))
        helpers.append(proc)
        return [python, os.path.join(examples, "kv_server_redis.py"), "--port", "0",
                "--redis-port", str(port)]

    systems = [
        dict(name="py-persist", title="py-persist (sync)", health={"durability": "sync"},
             cmd=lambda r, h: [py_persist, "--arena", os.path.join(workdir, f"kv-{r}.arena"), "--fresh",
                               "--durability", "sync", os.path.join(examples, "kv_server.py"), "--port", "0"]),
        dict(name="SQLite", title="SQLite (WAL, FULL)",
             cmd=lambda r, h: [python, os.path.join(examples, "kv_server_sqlite.py"), "--port", "0",
                               "--db", os.path.join(workdir, f"kv-{r}.sqlite3")]),
    ]
    if not args.no_redis:
        systems.append(dict(name="Redis", title="Redis (AOF always)", health={"durable": True}, cmd=redis_cmd))

    results = web_load.measure(systems, workdir, args, values, "key/value web service (http.server)")
    return 1 if results is None else 0


if __name__ == "__main__":
    sys.exit(main())
