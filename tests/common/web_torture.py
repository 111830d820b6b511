"""kill -9 torture for a persistent web service: the key/value example server
(lua-persist/examples/kv_server.lua, py-persist/examples/kv_server.py) under its
persistent interpreter. tests/lua/test_web.py and tests/py_web/test_web.py are the front
ends; they name the interpreter and what the server may print on stderr.

The server runs with a fresh arena in a temporary directory. Worker threads drive it
with real `curl` processes (random PUT, DELETE and GET over a few hundred keys, random
JSON values); at a random moment the server is killed with SIGKILL (sometimes also once
while it starts up and resumes), restarted on the same arena, and its whole content is
compared with what the clients were told:

  * a PUT answered 2xx is there with exactly its value, a DELETE answered 2xx is gone;
  * nothing else changed: no key appears that was never written, no value goes back;
  * a write still in flight when the server died (no answer) may have happened or not;
    the model keeps both possibilities for that key until the next read settles it;
  * where the front end says so, the server never wrote anything on stderr but its own
    notes (no traceback, no internal error, no refused commit).

Each worker owns its own keys, so every key sees one request at a time and the model
is exact. Before the torture a short self-check runs the server with --no-commit and
shows that acknowledged writes are then lost on kill -9 and that the comparison
reports it: the test can fail.

Needs only the standard library and curl.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ABSENT = None          # the model's "key not present"
START_TIMEOUT = 30     # seconds for the server to print its "listening" line
CURL_TIMEOUT = 15      # seconds; a request slower than that counts as unanswered


class Failure(Exception):
    pass


# ---------------------------------------------------------------------------- server

class Server:
    """One arena, started and killed as often as needed."""

    def __init__(self, exe, script, workdir, name, extra=(), stderr_notes=None):
        self.cmd = [exe, "--arena", os.path.join(workdir, name + ".arena")]
        self.script = script
        self.extra = list(extra)
        self.workdir = workdir
        self.name = name
        self.stderr_notes = stderr_notes
        self.starts = 0
        self.proc = None
        self.port = None
        self.log = None

    def spawn(self, fresh):
        self.starts += 1
        self.log = os.path.join(self.workdir, f"{self.name}-{self.starts}")
        args = self.cmd + (["--fresh"] if fresh else []) + [self.script, "--port", "0"] + self.extra
        with open(self.log + ".out", "wb") as out, open(self.log + ".err", "wb") as err:
            # Its own process group: kill -9 reaches the interpreter and anything it started.
            self.proc = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        return args

    def start(self, fresh=False):
        args = self.spawn(fresh)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with open(self.log + ".out", "rb") as f:
                for line in f.read().decode(errors="replace").splitlines():
                    if line.startswith("listening on "):
                        self.port = int(line.rsplit(":", 1)[1])
                        return
            if self.proc.poll() is not None:
                raise Failure(f"server exited with status {self.proc.returncode} before listening\n"
                              f"command: {' '.join(args)}\n{self.logs()}")
            time.sleep(0.01)
        self.kill()
        raise Failure(f"server did not print 'listening on' within {START_TIMEOUT} s\n"
                      f"command: {' '.join(args)}\n{self.logs()}")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc:
            self.proc.wait()
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def logs(self, tail=3000):
        text = []
        for ext in (".out", ".err"):
            try:
                with open(self.log + ext, "rb") as f:
                    data = f.read().decode(errors="replace")
            except OSError:
                continue
            text.append(f"--- {os.path.basename(self.log + ext)} ---\n{data[-tail:]}")
        return "\n".join(text)

    def stderr_problems(self):
        """Lines of the last run's stderr other than the server's own notes (those that
        start with `stderr_notes`): a traceback, an internal error, a commit the
        interpreter refused. Empty when the server's stderr is not checked (stderr_notes None)."""
        if self.stderr_notes is None:
            return []
        try:
            with open(self.log + ".err", "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return []
        return [line for line in lines if line.strip() and not line.startswith(self.stderr_notes)]

    def url(self, key=None):
        base = f"http://127.0.0.1:{self.port}"
        return base + "/kv" if key is None else base + "/kv/" + urllib.parse.quote(key, safe="")


# ---------------------------------------------------------------------------- clients

def curl(method, url, body=None):
    """One request through a curl process: (status or None when unanswered, body)."""
    args = ["curl", "-sS", "--http1.1", "--noproxy", "*", "--max-time", str(CURL_TIMEOUT),
            "-X", method, "-w", "\n%{http_code}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    p = subprocess.run(args + [url], input=(body or "").encode(), capture_output=True)
    out = p.stdout.decode(errors="replace")
    text, _, code = out.rpartition("\n")
    if p.returncode != 0 or not code.isdigit() or code == "000":
        return None, p.stderr.decode(errors="replace").strip()
    return int(code), text


class Model:
    """key -> set of values the server may hold (ABSENT for none)."""

    def __init__(self, keys):
        self.possible = {k: {ABSENT} for k in keys}
        self.lock = threading.Lock()     # only for the counters; keys are owned by one worker
        self.counts = dict(acked=0, unanswered=0, reads=0)

    def count(self, what):
        with self.lock:
            self.counts[what] += 1

    def describe(self, key):
        return " or ".join("absent" if v is ABSENT else repr(short(v)) for v in self.possible[key])


def short(s, n=80):
    return s if len(s) <= n else s[:n] + f"...({len(s)} bytes)"


def random_value(rng, serial):
    """A JSON text; all but the constants carry `serial`, so values never repeat and a
    value coming back from an older write is noticed."""
    kind = rng.randrange(10)
    if kind == 0:
        obj = serial * 1000 + rng.randrange(1000)
    elif kind == 1:
        obj = serial + rng.random()
    elif kind == 2:
        obj = f"s{serial} " + "".join(rng.choice('abc "\\/\n\té€😀\u0001') for _ in range(rng.randrange(30)))
    elif kind == 3:
        obj = {"serial": serial, "tags": ["a", "b"][:rng.randrange(3)], "nested": {"x": [1, 2.5, None, True]}}
    elif kind == 4:
        obj = [serial, [], {}, "x" * rng.randrange(10)]
    elif kind == 5:
        obj = rng.choice([None, True, False]) if rng.random() < 0.5 else {"serial": serial, "flag": False}
    elif kind == 6:
        # Over 1 KiB: curl then sends "Expect: 100-continue".
        obj = {"serial": serial, "blob": "".join(rng.choice("xyz") for _ in range(rng.randrange(1100, 5000)))}
    else:
        obj = {"serial": serial, "n": rng.randrange(-10**12, 10**12), "s": "ключ"}
    text = json.dumps(obj, ensure_ascii=rng.random() < 0.5)
    if rng.random() < 0.1:
        text = " " + text + "\n"      # stored and returned byte for byte
    return text


class Worker(threading.Thread):
    def __init__(self, server, model, keys, rng, stop, errors, serials):
        super().__init__(daemon=True)
        self.server, self.model, self.keys, self.rng = server, model, keys, rng
        self.stop, self.errors, self.serials = stop, errors, serials

    def run(self):
        try:
            while not self.stop.is_set():
                self.one()
        except Exception as e:            # a bug here must fail the test, not hang it
            self.errors.append(f"worker crashed: {e!r}")

    def one(self):
        key = self.rng.choice(self.keys)
        before = self.model.possible[key]
        r = self.rng.random()
        url = self.server.url(key)
        if r < 0.5:
            value = random_value(self.rng, next(self.serials))
            code, text = curl("PUT", url, value)
            if code is None:
                self.model.possible[key] = before | {value}
                self.model.count("unanswered")
            elif code in (200, 201):
                if code == 201 and ABSENT not in before:
                    self.errors.append(f"PUT {key!r}: 201 Created, but the key held {self.model.describe(key)}")
                if code == 200 and before == {ABSENT}:
                    self.errors.append(f"PUT {key!r}: 200 (replaced), but the key was absent")
                self.model.possible[key] = {value}
                self.model.count("acked")
            else:
                self.errors.append(f"PUT {key!r}: unexpected status {code}: {short(text)}")
        elif r < 0.7:
            code, text = curl("DELETE", url)
            if code is None:
                self.model.possible[key] = before | {ABSENT}
                self.model.count("unanswered")
            elif code == 200:
                if before == {ABSENT}:
                    self.errors.append(f"DELETE {key!r}: 200, but the key was absent")
                self.model.possible[key] = {ABSENT}
                self.model.count("acked")
            elif code == 404:
                if ABSENT not in before:
                    self.errors.append(f"DELETE {key!r}: 404, but the key held {self.model.describe(key)}")
                self.model.possible[key] = {ABSENT}
            else:
                self.errors.append(f"DELETE {key!r}: unexpected status {code}: {short(text)}")
        else:
            code, text = curl("GET", url)
            if code is None:
                return
            self.model.count("reads")
            seen = text if code == 200 else ABSENT if code == 404 else "?"
            if seen == "?":
                self.errors.append(f"GET {key!r}: unexpected status {code}: {short(text)}")
            elif seen not in before:
                self.errors.append(f"GET {key!r}: got {'absent' if seen is ABSENT else repr(short(seen))}, "
                                   f"expected {self.model.describe(key)}")
            else:
                self.model.possible[key] = {seen}


def verify(server, model, expect_resumed):
    """Reads everything back; returns the list of differences from the model and
    narrows the model to what was read."""
    problems = []
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=CURL_TIMEOUT)

    def get(path):
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode()

    try:
        status, text = get("/health")
        if status != 200:
            problems.append(f"GET /health: status {status}")
        else:
            health = json.loads(text)
            if "resumed" in health and health["resumed"] != expect_resumed:
                problems.append(f"GET /health: resumed is {health['resumed']}, expected {expect_resumed}")
        status, text = get("/kv")
        if status != 200:
            raise Failure(f"GET /kv: status {status}: {short(text)}")
        listed = json.loads(text)["keys"]
        if len(listed) != len(set(listed)):
            problems.append("GET /kv lists a key twice")
        for key in sorted(set(listed) - set(model.possible)):
            problems.append(f"key {key!r} is listed but was never written")
        for key in sorted(model.possible):
            status, text = get(urllib.parse.urlparse(server.url(key)).path)
            seen = text if status == 200 else ABSENT if status == 404 else "?"
            if seen == "?":
                problems.append(f"GET {key!r}: status {status}: {short(text)}")
                continue
            if (seen is not ABSENT) != (key in listed):
                problems.append(f"key {key!r}: GET says {'present' if seen is not ABSENT else 'absent'}, "
                                f"GET /kv disagrees")
            if seen not in model.possible[key]:
                problems.append(f"key {key!r}: {'absent' if seen is ABSENT else repr(short(seen))}, "
                                f"expected {model.describe(key)}")
            model.possible[key] = {seen}
    except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
        problems.append(f"reading the state back failed: {e!r}")
    finally:
        conn.close()
    return problems


# ---------------------------------------------------------------------------- phases

def make_keys(n):
    odd = ["a b", "ключ", "x/y", "100%", "q?x=1&y", "😀", 'quote"', "plus+sign", "tab\tkey", "~.-_"]
    return [f"k{i:03d}" for i in range(max(0, n - len(odd)))] + odd[:n]


def self_check(args, workdir, interpreter, stderr_notes):
    """Without commits, acknowledged writes must be lost on kill -9, and verify() must
    say so: proof that the torture below can fail."""
    server = Server(args.exe, args.server, workdir, "selfcheck", extra=["--no-commit"], stderr_notes=stderr_notes)
    keys = [f"sc{i:02d}" for i in range(20)]
    model = Model(keys)
    try:
        server.start(fresh=True)
        rng = random.Random(args.seed)
        for i, key in enumerate(keys):
            value = random_value(rng, i)
            code, text = curl("PUT", server.url(key), value)
            if code not in (200, 201):
                raise Failure(f"self-check: PUT {key!r} under --no-commit: status {code}: {short(text)}\n"
                              f"{server.logs()}")
            model.possible[key] = {value}
        server.kill()
        server.start()
        problems = verify(server, model, expect_resumed=True)
    finally:
        server.kill()
    lost = sum(1 for p in problems if p.startswith("key ") and "expected" in p)
    if lost == 0:
        raise Failure("self-check: with --no-commit, all acknowledged writes survived kill -9, so this "
                      "test could not tell lost writes from kept ones (is --no-commit honoured? does "
                      f"{interpreter} commit on its own?)\n" + "\n".join(problems))
    print(f"self-check: without commits {lost} of {len(keys)} acknowledged writes were lost on kill -9 "
          f"and detected", flush=True)


def torture(args, workdir, stderr_notes):
    rng = random.Random(args.seed)
    keys = make_keys(args.keys)
    model = Model(keys)
    server = Server(args.exe, args.server, workdir, "kv", stderr_notes=stderr_notes)
    serials = iter(range(1, 1 << 62))
    start_time = time.monotonic()
    errors = []
    fresh = True
    try:
        for cycle in range(1, args.cycles + 1):
            # Sometimes die during start-up (resuming the arena) before serving anything.
            if not fresh and rng.random() < 0.25:
                server.spawn(fresh=False)
                time.sleep(rng.uniform(0, 0.05))
                server.kill()
            server.start(fresh=fresh)
            problems = verify(server, model, expect_resumed=not fresh)
            if problems:
                raise Failure(f"after restart {cycle - 1}, the state differs from what clients were told:\n"
                              + "\n".join(problems[:40]) + f"\n{server.logs()}")
            fresh = False

            # Kill after a random time; on average the budget left is spread evenly.
            left = max(0.0, args.time_budget - (time.monotonic() - start_time))
            run_for = min(rng.uniform(0, 2 * left / (args.cycles - cycle + 1)), left)
            before = dict(model.counts)
            stop = threading.Event()
            workers = [Worker(server, model, keys[i::args.workers], random.Random(rng.random()), stop,
                              errors, serials) for i in range(args.workers)]
            for w in workers:
                w.start()
            time.sleep(run_for)
            stop.set()                       # no new requests; those in flight are cut
            died = None if server.alive() else server.proc.returncode
            server.kill()
            for w in workers:
                w.join()
            if died is not None:
                raise Failure(f"cycle {cycle}: the server exited by itself (status {died}) before the kill\n"
                              f"{server.logs()}")
            if errors:
                raise Failure(f"cycle {cycle}: the running server answered inconsistently:\n"
                              + "\n".join(errors[:40]) + f"\n{server.logs()}")
            if server.stderr_problems():
                raise Failure(f"cycle {cycle}: the server reported errors:\n{server.logs()}")
            d = {k: model.counts[k] - before[k] for k in before}
            print(f"cycle {cycle}: killed after {run_for:.2f} s: {d['acked']} writes acknowledged, "
                  f"{d['reads']} reads, {d['unanswered']} requests cut by the kill", flush=True)

        server.start()
        problems = verify(server, model, expect_resumed=True)
        problems += [f"stderr: {line}" for line in server.stderr_problems()]
        if problems:
            raise Failure("after the last restart, the state differs from what clients were told:\n"
                          + "\n".join(problems[:40]) + f"\n{server.logs()}")
    finally:
        server.kill()
    present = sum(1 for v in model.possible.values() if v != {ABSENT})
    print(f"torture: {args.cycles} kill -9 cycles in {time.monotonic() - start_time:.1f} s, "
          f"{model.counts['acked']} acknowledged writes, {model.counts['unanswered']} cut; "
          f"final state ({present} keys present) matches", flush=True)


def main(doc, interpreter, server_example, stderr_notes=None):
    """The front end's command line: --INTERPRETER (the binary) and --server (the
    example); `stderr_notes`: the prefix of the server's own stderr lines, any other
    line fails the test (None: stderr is not checked). Returns the exit status."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument(f"--{interpreter}", dest="exe", required=True, help=f"the {interpreter} binary")
    ap.add_argument("--server", required=True, help=server_example)
    ap.add_argument("--cycles", type=int, default=8, help="kill -9 / restart cycles (8)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    ap.add_argument("--keys", type=int, default=300, help="number of keys (300)")
    ap.add_argument("--workers", type=int, default=4, help="concurrent curl loops (4)")
    ap.add_argument("--time-budget", type=float, default=45.0,
                    help="seconds of load over all cycles, roughly (45)")
    ap.add_argument("--no-self-check", action="store_true", help="skip the --no-commit self-check")
    ap.add_argument("--workdir", default=None, help="where to make the temporary directory")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 31)
    args.cycles = max(1, args.cycles)
    args.workers = max(1, min(args.workers, args.keys))
    for tool in ("curl",):
        if not shutil.which(tool):
            print(f"FAIL: {tool} is not installed", file=sys.stderr)
            return 1
    args.exe = os.path.abspath(args.exe)
    args.server = os.path.abspath(args.server)

    workdir = tempfile.mkdtemp(prefix="test-web-", dir=args.workdir)
    print(f"test_web: seed {args.seed}, directory {workdir}", flush=True)
    ok = False
    try:
        if not args.no_self_check:
            self_check(args, workdir, interpreter, stderr_notes)
        torture(args, workdir, stderr_notes)
        ok = True
    except Failure as e:
        print(f"FAIL (seed {args.seed}, files kept in {workdir}):\n{e}", file=sys.stderr)
    finally:
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if ok:
        print("PASS")
    return 0 if ok else 1
