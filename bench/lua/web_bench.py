#!/usr/bin/env python3
"""Requests per second of the key/value web service: lua-persist against SQLite.

Runs the same HTTP API (lua-persist/examples/http_kv.lua) twice, in the same
invocation and in the same directory (so on the same file system):

  lua-persist   kv_server.lua under lua-persist --durability sync: a Lua table,
                palloc.commit() after every write, durable before the answer;
  SQLite        kv_server_sqlite.lua under plain lua5.4: WAL, synchronous=FULL, one
                transaction per write, durable before the answer.

The load is python's http.client: N requests spread over several keep-alive
connections, one after the other (the servers serve one connection at a time). Each
round starts both servers afresh; the table shows the median round.

    web_bench.py --lua-persist build/bin/lua-persist --lua lua5.4 \
                 --examples lua-persist/examples [--requests 2000]
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

START_TIMEOUT = 30


class BenchError(Exception):
    pass


def start(cmd, log):
    with open(log + ".out", "wb") as out, open(log + ".err", "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with open(log + ".out", "rb") as f:
            for line in f.read().decode(errors="replace").splitlines():
                if line.startswith("listening on "):
                    return proc, int(line.rsplit(":", 1)[1])
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    stop(proc)
    with open(log + ".err", "rb") as f:
        err = f.read().decode(errors="replace")
    raise BenchError(f"{' '.join(cmd)}: no 'listening on' line (exit {proc.returncode})\n{err[-2000:]}")


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def fs_type(path):
    best, kind = "", "?"
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            mnt = parts[1]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, kind = mnt, parts[2]
    return kind


def run_load(port, requests, connections, make_request, expect):
    """Sends `requests` requests over `connections` keep-alive connections, one
    connection after the other. Returns (requests per second, latencies in ms)."""
    latencies = []
    per_conn = [requests // connections + (1 if i < requests % connections else 0)
                for i in range(connections)]
    i = 0
    t0 = time.perf_counter()
    for n in per_conn:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(n):
            method, path, body = make_request(i)
            t = time.perf_counter()
            conn.request(method, path, body=body,
                         headers={"Content-Type": "application/json"} if body else {})
            r = conn.getresponse()
            data = r.read()
            latencies.append((time.perf_counter() - t) * 1000)
            if r.status not in expect:
                raise BenchError(f"{method} {path}: status {r.status}: {data[:200]!r}")
            i += 1
        conn.close()
    elapsed = time.perf_counter() - t0
    return requests / elapsed, latencies


def one_round(name, cmd, log, args, values):
    proc, port = start(cmd, log)
    try:
        keys = [f"bench-{i:05d}" for i in range(args.keys)]
        # Warm-up: creates every key, so the measured PUTs mix nothing but updates.
        run_load(port, len(keys), 1, lambda i: ("PUT", "/kv/" + keys[i], values[i % len(values)]),
                 (200, 201))
        put_rps, put_lat = run_load(
            port, args.requests, args.connections,
            lambda i: ("PUT", "/kv/" + keys[i % len(keys)], values[(i * 7) % len(values)]), (200, 201))
        get_rps, get_lat = run_load(
            port, args.requests, args.connections,
            lambda i: ("GET", "/kv/" + keys[(i * 13) % len(keys)], None), (200,))
        # Sanity: the server holds what was written. /health of kv_server.lua also tells
        # how much the last commit wrote.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/kv")
        listed = json.loads(conn.getresponse().read())["keys"]
        conn.request("GET", "/health")
        health = json.loads(conn.getresponse().read())
        conn.close()
        if len(listed) != len(keys):
            raise BenchError(f"{name}: {len(listed)} keys after the run, expected {len(keys)}")
    finally:
        stop(proc)
    return dict(put=put_rps, get=get_rps, put_lat=put_lat, get_lat=get_lat, health=health)


def pct(lat, p):
    lat = sorted(lat)
    return lat[min(len(lat) - 1, int(p / 100 * len(lat)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lua-persist", required=True, help="the lua-persist binary")
    ap.add_argument("--lua", required=True, help="the plain interpreter (lua5.4) for the SQLite server")
    ap.add_argument("--examples", required=True, help="the lua-persist/examples directory")
    ap.add_argument("--requests", type=int, default=2000, help="requests per measurement (2000)")
    ap.add_argument("--connections", type=int, default=4,
                    help="keep-alive connections the requests are spread over, used in turn (4)")
    ap.add_argument("--keys", type=int, default=500, help="distinct keys (500)")
    ap.add_argument("--value-size", type=int, default=100, help="approximate bytes per value (100)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; the median is shown (3)")
    ap.add_argument("--dir", default=None,
                    help="where the arena and the database go (default: a temporary directory)")
    args = ap.parse_args()
    args.connections = max(1, min(args.connections, args.requests))

    examples = os.path.abspath(args.examples)
    lua_persist = shutil.which(args.lua_persist) or args.lua_persist
    lua = shutil.which(args.lua) or args.lua
    workdir = tempfile.mkdtemp(prefix="web-bench-", dir=args.dir)
    rng = random.Random(1)
    values = [json.dumps({"n": i, "text": "".join(rng.choice("abcdefgh ") for _ in range(args.value_size))})
              for i in range(64)]

    systems = [
        ("lua-persist", lambda r: [lua_persist, "--arena", os.path.join(workdir, f"kv-{r}.arena"),
                                   "--fresh", "--durability", "sync",
                                   os.path.join(examples, "kv_server.lua"), "--port", "0"]),
        ("SQLite", lambda r: [lua, os.path.join(examples, "kv_server_sqlite.lua"), "--port", "0",
                              "--db", os.path.join(workdir, f"kv-{r}.sqlite3")]),
    ]
    results = {name: [] for name, _ in systems}
    try:
        for r in range(args.rounds):
            for name, cmd in systems:
                res = one_round(name, cmd(r), os.path.join(workdir, f"{name}-{r}"), args, values)
                results[name].append(res)
                print(f"round {r + 1} {name:12s} PUT {res['put']:8.0f}/s   GET {res['get']:8.0f}/s",
                      file=sys.stderr, flush=True)
    except BenchError as e:
        print(f"web_bench: {e}\n(files kept in {workdir})", file=sys.stderr)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)

    def median_round(name, key):
        runs = sorted(results[name], key=lambda x: x[key])
        return runs[len(runs) // 2]

    print(f"\nkey/value web service, {args.requests} requests per measurement over {args.connections} "
          f"keep-alive connections, {args.keys} keys, ~{args.value_size}-byte values, "
          f"{fs_type(os.path.realpath(workdir))} file system, median of {args.rounds} rounds\n")
    head = f"{'':24s}{'lua-persist (sync)':>20s}{'SQLite (WAL, FULL)':>20s}{'lua-persist/SQLite':>20s}"
    print(head)
    print("-" * len(head))
    for key, label in (("put", "PUT, durable each"), ("get", "GET")):
        a, b = median_round("lua-persist", key), median_round("SQLite", key)
        print(f"{label + ' req/s':24s}{a[key]:20.0f}{b[key]:20.0f}{a[key] / b[key]:19.2f}x")
        la, lb = a[key + "_lat"], b[key + "_lat"]
        print(f"{'  latency p50/p99 ms':24s}{f'{pct(la, 50):.2f} / {pct(la, 99):.2f}':>20s}"
              f"{f'{pct(lb, 50):.2f} / {pct(lb, 99):.2f}':>20s}")
    h = results["lua-persist"][-1]["health"]
    if "last_commit_pages" in h:
        print(f"\nlua-persist's last commit: {h['last_commit_pages']} pages in {h.get('last_commit_us', '?')} us "
              f"(tracker {h.get('tracker', '?')}, durability {h.get('durability', '?')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
