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

The load is python's http.client: N requests spread over several keep-alive
connections, one after the other (the servers serve one connection at a time). Each
round starts every server afresh; the table shows the median round and the ratios to
SQLite.

    web_bench.py --py-persist build/bin/py-persist [--examples py-persist/examples]
                 [--requests 2000] [--rounds 3] [--quick]

Exit status 0; 1 when a server misbehaved; 77 when redis-server or python3-redis is
missing (unless --no-redis).
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

START_TIMEOUT = 30
SKIP = 77

HERE = os.path.dirname(os.path.abspath(__file__))


class BenchError(Exception):
    pass


def wait_for_line(proc, log, prefix, cmd):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with open(log + ".out", "rb") as f:
            for line in f.read().decode(errors="replace").splitlines():
                if line.startswith(prefix):
                    return line
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    stop(proc)
    with open(log + ".err", "rb") as f:
        err = f.read().decode(errors="replace")
    raise BenchError(f"{' '.join(cmd)}: no '{prefix}' line (exit {proc.returncode})\n{err[-2000:]}")


def spawn(cmd, log):
    with open(log + ".out", "wb") as out, open(log + ".err", "wb") as err:
        # Own session: stop() reaches the whole group.
        return subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def start_server(cmd, log):
    proc = spawn(cmd, log)
    line = wait_for_line(proc, log, "listening on ", cmd)
    return proc, int(line.rsplit(":", 1)[1])


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


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


def get_json(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def one_round(system, r, workdir, args, values):
    name = system["name"]
    log = os.path.join(workdir, f"{name}-{r}")
    helpers = []
    try:
        cmd = system["cmd"](r, helpers)
        proc, port = start_server(cmd, log)
        helpers.append(proc)
        keys = [f"bench-{i:05d}" for i in range(args.keys)]
        # Warm-up: creates every key, so the measured PUTs are all updates.
        run_load(port, len(keys), 1, lambda i: ("PUT", "/kv/" + keys[i], values[i % len(values)]),
                 (200, 201))
        put_rps, put_lat = run_load(
            port, args.requests, args.connections,
            lambda i: ("PUT", "/kv/" + keys[i % len(keys)], values[(i * 7) % len(values)]), (200, 201))
        get_rps, get_lat = run_load(
            port, args.requests, args.connections,
            lambda i: ("GET", "/kv/" + keys[(i * 13) % len(keys)], None), (200,))
        # Sanity: the server holds what was written, with the durability it claims.
        _, listed = get_json(port, "/kv")
        _, health = get_json(port, "/health")
        if len(listed["keys"]) != len(keys):
            raise BenchError(f"{name}: {len(listed['keys'])} keys after the run, expected {len(keys)}")
        # The last measured PUT (request number requests-1) wrote the newest value of its key.
        last = keys[(args.requests - 1) % len(keys)]
        expect = values[((args.requests - 1) * 7) % len(values)]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/kv/" + last)
        got = conn.getresponse().read().decode()
        conn.close()
        if got != expect:
            raise BenchError(f"{name}: {last} holds {got[:80]!r}, expected the last value written")
        for field, want in system.get("health", {}).items():
            if health.get(field) != want:
                raise BenchError(f"{name}: /health says {field}={health.get(field)!r}, expected {want!r}")
    finally:
        for p in reversed(helpers):
            stop(p)
    return dict(put=put_rps, get=get_rps, put_lat=put_lat, get_lat=get_lat, health=health)


def pct(lat, p):
    lat = sorted(lat)
    return lat[min(len(lat) - 1, int(p / 100 * len(lat)))]


def median_round(runs, key):
    runs = sorted(runs, key=lambda x: x[key])
    return runs[len(runs) // 2]


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
    ap.add_argument("--requests", type=int, default=2000, help="requests per measurement (2000)")
    ap.add_argument("--connections", type=int, default=4,
                    help="keep-alive connections the requests are spread over, used in turn (4)")
    ap.add_argument("--keys", type=int, default=500, help="distinct keys (500)")
    ap.add_argument("--value-size", type=int, default=100, help="approximate bytes per value (100)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; the median is shown (3)")
    ap.add_argument("--quick", action="store_true",
                    help="a few seconds: 150 requests, 50 keys, 1 round (a smoke test, not a measurement)")
    ap.add_argument("--dir", default=None,
                    help="where the arenas, databases and logs go (default: a temporary directory)")
    args = ap.parse_args()
    if args.quick:
        args.requests, args.keys, args.rounds = 150, 50, 1
    args.requests = max(1, args.requests)
    args.keys = max(1, args.keys)
    args.connections = max(1, min(args.connections, args.requests))

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

    if args.dir:
        os.makedirs(args.dir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="web-bench-", dir=args.dir)
    rng = random.Random(1)
    values = [json.dumps({"n": i, "text": "".join(rng.choice("abcdefgh ") for _ in range(args.value_size))})
              for i in range(64)]

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

    results = {s["name"]: [] for s in systems}
    try:
        for r in range(args.rounds):
            for s in systems:
                res = one_round(s, r, workdir, args, values)
                results[s["name"]].append(res)
                print(f"round {r + 1} {s['name']:12s} PUT {res['put']:8.0f}/s   GET {res['get']:8.0f}/s",
                      file=sys.stderr, flush=True)
    except (BenchError, OSError, http.client.HTTPException, ValueError) as e:
        print(f"web_bench: {e if isinstance(e, BenchError) else repr(e)}\n(files kept in {workdir})",
              file=sys.stderr)
        return 1
    fs = fs_type(os.path.realpath(workdir))
    shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nkey/value web service (http.server), {args.requests} requests per measurement over "
          f"{args.connections} keep-alive connections, {args.keys} keys, ~{args.value_size}-byte values, "
          f"{fs} file system, median of {args.rounds} round{'s' if args.rounds != 1 else ''}\n")
    base = "SQLite"
    others = [s for s in systems if s["name"] != base]
    head = f"{'':24s}" + "".join(f"{s['title']:>21s}" for s in systems) + \
        "".join(f"{s['name'] + '/' + base:>20s}" for s in others)
    print(head)
    print("-" * len(head))
    for key, label in (("put", "PUT, durable each"), ("get", "GET")):
        med = {s["name"]: median_round(results[s["name"]], key) for s in systems}
        print(f"{label + ' req/s':24s}" + "".join(f"{med[s['name']][key]:21.0f}" for s in systems) +
              "".join(f"{med[s['name']][key] / med[base][key]:19.2f}x" for s in others))
        print(f"{'  latency p50/p99 ms':24s}" + "".join(
            f"{pct(med[s['name']][key + '_lat'], 50):>13.2f} / {pct(med[s['name']][key + '_lat'], 99):<5.2f}"
            for s in systems))
    h = results["py-persist"][-1]["health"]
    if "last_commit_pages" in h:
        print(f"\npy-persist's last commit: {h['last_commit_pages']} pages in {h.get('last_commit_ms', 0):.2f} ms "
              f"(tracker {h.get('tracker', '?')}, durability {h.get('durability', '?')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
