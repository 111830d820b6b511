"""The HTTP load and the results table of the key/value web service benchmarks
(bench/lua/web_bench.py, bench/py/web_bench.py): each names its servers ("systems") and
how to start them; this module starts each afresh per round, loads it, checks what it
holds and prints the median round with the ratios to a baseline.

The load is python's http.client: N requests spread over several keep-alive
connections, one after the other (the servers serve one connection at a time). A round
first creates every key, then measures N PUTs (all updates) and N GETs.

A system is a dict: name, title (the table's column), cmd(round, helpers) -> the server's
command line (it may start helper processes and append them to `helpers`; they are
stopped after the round), and optionally health: {field: value} that GET /health must
report. A front end imports this module with a sys.path insert relative to its own file.
"""

import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

START_TIMEOUT = 30


class BenchError(Exception):
    pass


def spawn(cmd, log):
    with open(log + ".out", "wb") as out, open(log + ".err", "wb") as err:
        # Own session: stop() reaches the whole group.
        return subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def wait_for_line(proc, log, prefix, cmd):
    """The first line of LOG.out that starts with `prefix`; BenchError if the process
    ends or START_TIMEOUT passes first (then it is stopped)."""
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


def start_server(cmd, log):
    """Starts a server that prints "listening on HOST:PORT": (process, port)."""
    proc = spawn(cmd, log)
    line = wait_for_line(proc, log, "listening on ", cmd)
    return proc, int(line.rsplit(":", 1)[1])


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


# ------------------------------------------------------------------ the front ends' flow

def add_arguments(ap):
    """The load's options, common to the front ends."""
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


def settle_arguments(args):
    if args.quick:
        args.requests, args.keys, args.rounds = 150, 50, 1
    args.requests = max(1, args.requests)
    args.keys = max(1, args.keys)
    args.connections = max(1, min(args.connections, args.requests))


def make_workdir(args):
    if args.dir:
        os.makedirs(args.dir, exist_ok=True)
    return tempfile.mkdtemp(prefix="web-bench-", dir=args.dir)


def make_values(args):
    """64 JSON values of about --value-size bytes, the same in every run."""
    rng = random.Random(1)
    return [json.dumps({"n": i, "text": "".join(rng.choice("abcdefgh ") for _ in range(args.value_size))})
            for i in range(64)]


def measure(systems, workdir, args, values, service, base="SQLite"):
    """Runs the rounds, removes `workdir` and prints the table (`service` names what was
    measured; ratios are to the system named `base`) and what the persistent servers
    tell of their last commit. Returns {name: [round results]}, or None after a server
    misbehaved (reported, its files kept)."""
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
        return None
    fs = fs_type(os.path.realpath(workdir))
    shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n{service}, {args.requests} requests per measurement over "
          f"{args.connections} keep-alive connections, {args.keys} keys, ~{args.value_size}-byte values, "
          f"{fs} file system, median of {args.rounds} round{'s' if args.rounds != 1 else ''}\n")
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
    for s in systems:
        line = last_commit(s["name"], results[s["name"]][-1]["health"])
        if line:
            print("\n" + line)
    return results


def last_commit(name, health):
    """What a persistent server's /health tells of its last commit ("" when nothing):
    py-persist's kv_server gives milliseconds, lua-persist's microseconds."""
    if "last_commit_pages" not in health:
        return ""
    if "last_commit_ms" in health:
        took = f"{health['last_commit_ms']:.2f} ms"
    else:
        took = f"{health.get('last_commit_us', '?')} us"
    return (f"{name}'s last commit: {health['last_commit_pages']} pages in {took} "
            f"(tracker {health.get('tracker', '?')}, durability {health.get('durability', '?')})")
