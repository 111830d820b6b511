#!/usr/bin/env python3
"""End-to-end tests of py-persist.

One scenario per invocation; every scenario starts real interpreters on an arena in a
fresh temporary directory under --workdir, ends them normally or with SIGKILL, starts
them again and compares what the resumed state reports with values this driver computes
on its own: models of the data, its own count of runs and acknowledged commits, its own
random.Random sequence, its own replay of a loop.

    test_py.py --py-persist build/bin/py-persist --workdir /tmp SCENARIO [--seed S] [--keep]

Scenarios:
  types            objects of many types (containers, numbers, classes with __slots__,
                   closures, generators, collections, re, datetime, decimal, fractions,
                   json, random, lru_cache, weakref) across exits and kill -9
  counter100       a run counter through 100 runs, half of them ended by kill -9
  kill_write_loop  a dict changed and committed in a loop, killed at random moments
                   (explicit commits, then periodic ones with --commit-interval)
  repl_pty         the interactive interpreter on a pseudo-terminal
  fds              files, sockets and pipes opened before a restart are fenced (EBADF)
                   and never alias new ones
  signals          Python signal handlers, SIGINT and SIGPIPE after restarts
  environment      os.environ, the working directory and the locale the program set
  stdio            output is never printed twice; print and input() after a resume
  refusals         changed binary, undeclared extension, commit with a thread running,
                   arena in use, damaged arena files
  allocators       PYTHONMALLOC / PYTHONDEVMODE / -X dev cannot take the allocators away
  large_heap       a state of about 300 MB
  copy_relocs      no copy relocations in the py-persist executable

Exit status: 0 passed, 1 failed (with the reasons), 77 skipped.
"""

import argparse
import collections
import datetime
import decimal
import fcntl
import fractions
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import traceback
import zlib

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")
EXIT_CANNOT_RESUME = 70
LINE_TIMEOUT = 30  # seconds for an expected line of output


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def expect_equal(what, got, want):
    if got != want:
        raise Failure(f"{what}: got {got!r}, expected {want!r}")


# ------------------------------------------------------------------------- processes

class Proc:
    """A child in its own session. Its stdout is collected line by line by a thread;
    its stderr goes to a file. stdin is a pipe, so a script can block on readline()."""

    def __init__(self, ctx, cmd, name, env=None, cwd=None):
        self.ctx = ctx
        self.cmd = cmd
        self.name = name
        self.err_path = os.path.join(ctx.dir, f"{name}.stderr")
        self.err_file = open(self.err_path, "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err_file,
                                     start_new_session=True, env=env or ctx.env, cwd=cwd)
        self.pid = self.proc.pid
        self.lines = []
        self.eof = False
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.rc = None
        ctx.procs.append(self)

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def stderr(self):
        if not self.err_file.closed:
            self.err_file.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace")

    def transcript(self):
        out = "\n".join("    " + l[:300] for l in self.lines[-30:])
        err = "\n".join("    " + l[:300] for l in self.stderr().splitlines()[-20:])
        return f"  command: {' '.join(self.cmd)}\n  stdout (last lines):\n{out}\n  stderr:\n{err}"

    def wait_line(self, pattern, timeout=LINE_TIMEOUT, start=0):
        """The first line (from index `start`) that fully matches `pattern`: a match object."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    m = rx.fullmatch(self.lines[i])
                    if m:
                        return m
                    i += 1
                if self.eof:
                    self.proc.wait()
                    raise Failure(f"{self.name} ended (status {self.proc.returncode}) without printing a line "
                                  f"matching {pattern!r}\n{self.transcript()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failure(f"{self.name}: no line matching {pattern!r} within {timeout} s\n{self.transcript()}")
                self.cond.wait(left)

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def _reap(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)  # whatever it started, in its session
        except (ProcessLookupError, PermissionError):
            pass
        self.reader.join(10)
        try:
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        self.err_file.close()

    def kill9(self):
        """SIGKILL to the interpreter itself; returns once it is gone and its output read."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.rc = self.proc.wait()
        self._reap()
        return self.rc

    def finish(self, timeout=60):
        """Closes stdin (a script blocked on readline() returns) and waits for the exit status."""
        try:
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            self.rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait()
            self._reap()
            raise Failure(f"{self.name} did not end within {timeout} s\n{self.transcript()}")
        self._reap()
        return self.rc

    def alive(self):
        return self.proc.poll() is None


class Ctx:
    def __init__(self, args, directory, rng):
        self.args = args
        self.dir = directory
        self.rng = rng
        self.procs = []
        self.counter = 0
        # The interpreter must not pick up the driver's Python settings (the driver may
        # run under another Python) nor palloc settings from the caller.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTHON", "PALLOC_", "PY_PERSIST_")) and k not in ("LD_PRELOAD", "VIRTUAL_ENV")}
        env["XDG_DATA_HOME"] = os.path.join(directory, "xdg")  # in case an arena were not passed
        self.env = env

    def path(self, name):
        return os.path.join(self.dir, name)

    def pp(self, arena, *rest):
        return [self.args.py_persist, "--arena", arena, *rest]

    def spawn(self, cmd, name=None, env=None, cwd=None):
        self.counter += 1
        return Proc(self, cmd, f"{self.counter:03d}-{name or 'proc'}", env, cwd)

    def run(self, cmd, timeout=120, env=None, input_text="", cwd=None):
        """Runs to completion: (status, stdout, stderr)."""
        p = subprocess.run(cmd, input=input_text.encode(), capture_output=True, timeout=timeout,
                           start_new_session=True, env=env or self.env, cwd=cwd)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def cleanup(self):
        for p in self.procs:
            if p.alive():
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.proc.wait()
            if not p.err_file.closed:
                p._reap()


def script(name):
    return os.path.join(SCRIPTS, name)


def log(msg):
    print(msg, flush=True)


def fields_after(proc, key, timeout=LINE_TIMEOUT, start=0):
    """The rest of the first line "KEY ..." (from index `start`) split on spaces."""
    m = proc.wait_line(re.escape(key) + r"(?: (.*))?", timeout, start)
    return (m.group(1) or "").split(" ")


def rest_after(proc, key, timeout=LINE_TIMEOUT, start=0):
    """The rest of the first line "KEY ..." as one string."""
    return " ".join(fields_after(proc, key, timeout, start))


def finish_with(proc, want_rc, where):
    rc = proc.finish()
    check(rc == want_rc, f"{where} exited with status {rc}, expected {want_rc}\n{proc.transcript()}")


def message(ctx, text, limit=200):
    """The first line of a message, shortened for the log ($DIR for the scenario's directory)."""
    lines = text.strip().splitlines() or [""]
    return lines[0].replace(ctx.dir, "$DIR")[:limit]


def line_of(*parts):
    """What print(*parts) writes (without the newline)."""
    return " ".join(str(p) for p in parts)


# ---------------------------------------------------------------------------- types

def canon(x, path=()):
    """The same text as pp_types.py's canon: sets sorted, cycles written <cycle>."""
    if id(x) in path:
        return "<cycle>"
    inner = path + (id(x),)
    if isinstance(x, dict):
        return "{" + ", ".join(f"{canon(k, inner)}: {canon(v, inner)}" for k, v in x.items()) + "}"
    if isinstance(x, (set, frozenset)):
        return type(x).__name__ + "(" + ", ".join(sorted(canon(v, inner) for v in x)) + ")"
    if isinstance(x, list):
        return "[" + ", ".join(canon(v, inner) for v in x) + "]"
    if isinstance(x, tuple):
        return "(" + ", ".join(canon(v, inner) for v in x) + ",)"
    return repr(x)


class TypesModel:
    """What pp_types.py must print in run k, computed here step by step."""

    def __init__(self, seed):
        self.k = 0
        shared = ["shared", 1]
        self.data = {
            "str": "h\u00e9llo w\u00f6rld \u2603 \U0001F600",
            "bytes": bytes(range(256)),
            "bytearray": bytearray(b"abc"),
            "big": 3 ** 200,
            "negbig": -(2 ** 100) + 1,
            "float": 0.1,
            "inf": float("inf"),
            "negzero": -0.0,
            "complex": complex(1.5, -2.25),
            "tuple": (1, "two", (3.0, None), True),
            "list": list(range(20)),
            "set": {"alpha", "beta", "gamma", "delta"},
            "frozenset": frozenset({1, 2, (3, "four"), "five"}),
            "nested": {"a": [{"b": {"c": [1, 2, {"d": "deep"}]}}]},
            "runs": [],
            "shared1": shared,
            "shared2": shared,
        }
        self.data["self"] = self.data
        self.x = 3
        self.n = 100
        self.fib = [0, 1]
        self.od = collections.OrderedDict((c, i) for i, c in enumerate("abcde"))
        self.dd = collections.defaultdict(list)
        self.dq = collections.deque(maxlen=4)
        self.counter = collections.Counter("mississippi")
        self.Point = collections.namedtuple("Point", "x y")
        self.pt = self.Point(1, 2)
        tz = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
        self.base = datetime.datetime(2024, 2, 28, 23, 30, tzinfo=tz)
        self.stamp = self.base
        self.delta = datetime.timedelta(days=1, hours=1, minutes=1, seconds=1, microseconds=1)
        self.dctx = decimal.Context(prec=40, rounding=decimal.ROUND_DOWN)
        self.dacc = decimal.Decimal(0)
        self.facc = fractions.Fraction(0)
        self.json = {"name": "doc", "values": [1, 2.5, None, True, "x\u00e9"], "runs": []}
        self.random = random.Random(seed)
        self.rng = random.Random(seed + 1)
        self.strong = [0, 2, 4, 6, 8, 10]

    def next_run(self):
        """The CHECK lines of the next run: {name: text}."""
        self.k += 1
        k = self.k
        out = {}
        self.data["bytearray"].extend(b"%d" % k)
        self.data["runs"].append(k)
        out["run"] = line_of(k, k > 1)
        out["data"] = canon(self.data)
        out["identity"] = "True True"
        out["hash"] = "True True True True"
        self.x += 1
        out["classes"] = line_of(['derived:one', 'derived:two', 'base:three', 'derived:four'], "ONE", 3, True,
                                 ['Derived', 'Base', 'object'], self.x * self.x + 4 * 4, False)
        self.n += 1
        a = self.n
        self.n += 10
        out["closure"] = line_of(a, a, self.n, self.n)
        while len(self.fib) < 2 * k:
            self.fib.append(self.fib[-1] + self.fib[-2])
        out["generator"] = line_of(self.fib[2 * k - 2], self.fib[2 * k - 1], (k - 1) ** 2)
        self.od.move_to_end(next(iter(self.od)))
        self.dd[k % 3].append(k)
        self.dq.append(k)
        self.dq.appendleft(-k)
        self.counter.update(f"run{k}")
        self.pt = self.pt._replace(x=self.pt.x + k)
        out["collections"] = line_of(list(self.od.items()), sorted(self.dd.items()), list(self.dq),
                                     sorted(self.counter.items()), self.pt, self.pt._asdict(), ("x", "y"))
        out["re"] = line_of([("abc", str(k)), ("XY", str(k * k))], f"{k}=q", True, True)
        self.stamp += self.delta
        out["datetime"] = line_of(self.stamp.isoformat(), (self.stamp - self.base).total_seconds(),
                                  self.stamp.astimezone(datetime.timezone.utc).isoformat(),
                                  self.stamp.strftime("%A %d %B %Y %H:%M"))
        self.dacc = self.dctx.add(self.dacc, self.dctx.divide(decimal.Decimal(1), decimal.Decimal(7 * k)))
        third = decimal.Context(prec=33).divide(decimal.Decimal(1), decimal.Decimal(3))
        out["decimal"] = line_of(self.dacc, 40, "ROUND_DOWN", 33, third)
        self.facc += fractions.Fraction(1, k)
        out["fraction"] = line_of(self.facc, float(self.facc))
        self.json["runs"].append({"run": k, "half": k / 2})
        out["json"] = line_of(json.dumps(self.json, sort_keys=True), True)
        out["random"] = line_of([self.random.random() for _ in range(3)], self.random.randint(0, 10 ** 9),
                                self.rng.getrandbits(64))
        out["lru_cache"] = line_of(sum(i * i for i in range(10)) + (100 + k) ** 2, 10 * (k - 1), 10 + k, 10 + k,
                                   10 + k)
        if self.strong:
            self.strong.pop(0)
        out["weakref"] = line_of([f"n{i}" for i in self.strong], sorted(set(range(12)) - set(self.strong)),
                                 len(self.strong))
        return out


def sc_types(ctx):
    arena = ctx.path("types.arena")
    seed = ctx.rng.randrange(1 << 30)
    model = TypesModel(seed)
    endings = ["exit", "kill", "sysexit", "kill", "exit", "kill"]
    hash_value = None
    for run, how in enumerate(endings, 1):
        p = ctx.spawn(ctx.pp(arena, script("pp_types.py"), str(seed), how), f"types-{run}")
        if how == "kill":
            p.wait_line("COMMITTED")
            p.kill9()
        else:
            finish_with(p, 5 if how == "sysexit" else 0, f"run {run} ({how})")
        got = {}
        for l in p.lines:
            m = re.fullmatch(r"CHECK (\S+) ?(.*)", l)
            if m:
                got[m.group(1)] = m.group(2)
        want = model.next_run()
        for name, text in want.items():
            if got.get(name) != text:
                raise Failure(f"run {run}: CHECK {name}:\n    got      {str(got.get(name))[:1500]}\n"
                              f"    expected {text[:1500]}\n{p.transcript()}")
        hv = got.get("hash_value")
        check(hv is not None and re.fullmatch(r"-?\d+", hv), f"run {run}: no hash value\n{p.transcript()}")
        if hash_value is None:
            hash_value = hv
        expect_equal(f"run {run}: hash('abc')", hv, hash_value)
        log(f"  run {run}: {len(want) + 1} checks as expected; ended by {how}")


# ------------------------------------------------------------------------ counter100

def sc_counter100(ctx):
    arena = ctx.path("counter.arena")
    normal = [("return", 0), ("sysexit", 3), ("raise", 1)]
    t0 = time.monotonic()
    for i in range(1, 101):
        how, rc = ("kill", None) if i % 2 == 0 else normal[(i // 2) % 3]
        p = ctx.spawn(ctx.pp(arena, script("pp_counter.py"), how), f"counter-{i}")
        got = int(fields_after(p, "count")[0])
        if got != i:
            raise Failure(f"run {i} ({how}): count is {got}, expected {i}\n{p.transcript()}")
        if how == "kill":
            p.wait_line("committed")
            p.kill9()
        else:
            finish_with(p, rc, f"run {i} ({how})")
            if how == "raise":
                check(f"ValueError: uncaught in run {i}" in p.stderr(), f"run {i}: no traceback\n{p.transcript()}")
    rc, out, err = ctx.run(ctx.pp(arena, "-c", "print('final', count)"))
    check(rc == 0, f"reading the count failed: status {rc}: {err}")
    expect_equal("the count after 100 runs", out.strip(), "final 100")
    log(f"  100 runs (50 ended by kill -9, the others by return, sys.exit(3), an uncaught exception) "
        f"in {time.monotonic() - t0:.1f} s; count = 100")


# ------------------------------------------------------------------- kill_write_loop

M32 = 1 << 32


def fnv1a(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) % M32
    return h


class WriteLoopModel:
    """pp_writeloop.py's dict after n steps, computed here."""
    W = 300

    def __init__(self):
        self.t, self.s, self.n = {}, 0, 0

    @staticmethod
    def f(k, v):
        return (k * 2654435761 + fnv1a(v.encode())) % M32

    def _put(self, k, v):
        old = self.t.pop(k, None)
        if old is not None:
            self.s = (self.s - self.f(k, old)) % M32
        if v is not None:
            self.t[k] = v
            self.s = (self.s + self.f(k, v)) % M32

    def _step(self):
        n = self.n = self.n + 1
        self._put(n, ("%x." % n) * (1 + n % 7))
        if n % 3 == 0:
            self._put(n - 1, None)
        if n > self.W:
            self._put(n - self.W, None)
        if n % 5 == 0 and (n - 2) in self.t:
            self._put(n - 2, self.t[n - 2] + "+")

    def at(self, n):
        """(checksum, entries) after step n."""
        if n < self.n:
            self.__init__()
        while self.n < n:
            self._step()
        return self.s, len(self.t)


def check_start(p, model, where):
    """Parses "start N SUM RECOMPUTED COUNT" (None if the process died before it) and
    compares it with the model: a state torn between two steps (or two commits) has a
    stored checksum that differs from the dict's, or a dict that is not the one of step N."""
    m = next((re.fullmatch(r"start (\d+) (\d+) (\d+) (\d+)", l) for l in p.lines if l.startswith("start ")), None)
    if m is None:
        return None
    n, stored, recomputed, count = map(int, m.groups())
    want_sum, want_count = model.at(n)
    if stored != recomputed or stored != want_sum or count != want_count:
        raise Failure(f"{where}: resumed step {n}: stored checksum {stored}, recomputed over the dict {recomputed}, "
                      f"{count} entries; the model says checksum {want_sum}, {want_count} entries\n{p.transcript()}")
    return n


def write_loop_explicit(ctx, cycles):
    arena = ctx.path("explicit.arena")
    model = WriteLoopModel()
    known = 0      # the last step known to be committed (acknowledged or resumed)
    starts = 0
    for c in range(1, cycles + 1):
        p = ctx.spawn(ctx.pp(arena, script("pp_writeloop.py"), "explicit"), f"explicit-{c}")
        delay = ctx.rng.uniform(0, 0.03) if ctx.rng.random() < 0.25 else ctx.rng.uniform(0.2, 0.5)
        time.sleep(delay)
        p.kill9()
        n = check_start(p, model, f"explicit cycle {c}")
        if n is not None:
            starts += 1
            # The commit of step known+1 may have completed without its "ack" printed.
            if n not in (known, known + 1):
                raise Failure(f"explicit cycle {c}: resumed step {n}, but the last acknowledged commit was step "
                              f"{known} (only {known} or {known + 1} is possible)\n{p.transcript()}")
            known = n
            for l in p.lines:
                m = re.fullmatch(r"ack (\d+) (\d+)", l)
                if not m:
                    continue
                a, s = map(int, m.groups())
                expect_equal(f"explicit cycle {c}: the step after {known}", a, known + 1)
                expect_equal(f"explicit cycle {c}: the checksum acknowledged for step {a}", s, model.at(a)[0])
                known = a
        log(f"  explicit cycle {c:2d}: killed after {delay * 1000:5.1f} ms; resumed step {n}, last ack {known}")
    p = ctx.spawn(ctx.pp(arena, script("pp_writeloop.py"), "explicit"), "explicit-final")
    p.wait_line(r"start .*")
    p.kill9()
    n = check_start(p, model, "explicit, final start")
    check(n in (known, known + 1), f"explicit, final start: resumed step {n}, last ack {known}")
    check(starts >= cycles // 2, f"explicit: only {starts} of {cycles} runs got as far as printing their start line")
    check(known >= 20, f"explicit: only {known} steps committed in {cycles} cycles")
    return known


def write_loop_periodic(ctx, cycles, interval_ms):
    arena = ctx.path("periodic.arena")
    model = WriteLoopModel()
    prev = 0          # the step resumed last time
    bound = 0         # no run so far can have reached beyond this step
    advanced = 0
    for c in range(1, cycles + 1):
        p = ctx.spawn(ctx.pp(arena, "--commit-interval", str(interval_ms), script("pp_writeloop.py"), "periodic"),
                      f"periodic-{c}")
        delay = ctx.rng.uniform(0.25, 0.6)
        time.sleep(delay)
        p.kill9()
        n = check_start(p, model, f"periodic cycle {c}")
        reached = prev
        if n is not None:
            # Periodic commits only move forward, and never past what a run computed.
            if n < prev:
                raise Failure(f"periodic cycle {c}: resumed step {n}, older than the {prev} resumed before")
            if n > bound:
                raise Failure(f"periodic cycle {c}: resumed step {n}, but no run got beyond step {bound}")
            if n > prev:
                advanced += 1
            prev = reached = n
            for l in p.lines:
                m = re.fullmatch(r"at (\d+)", l)
                if m:
                    reached = max(reached, int(m.group(1)))
        # "at N" is printed every 500 steps, after the step's state is installed (a periodic
        # commit may take it before the print): the run reached at most the next multiple.
        bound = max(bound, (reached // 500 + 1) * 500)
        log(f"  periodic cycle {c:2d}: killed after {delay * 1000:5.1f} ms; resumed step {n}")
    check(advanced >= cycles // 3, f"periodic: the resumed step advanced in only {advanced} of {cycles} cycles: "
                                   f"periodic commits do not seem to happen")
    return prev


def sc_kill_write_loop(ctx):
    t0 = time.monotonic()
    known = write_loop_explicit(ctx, 25)
    t1 = time.monotonic()
    last = write_loop_periodic(ctx, 20, 10)
    log(f"  explicit: {known} steps committed, {t1 - t0:.1f} s; periodic (--commit-interval 10): resumed up to "
        f"step {last}, {time.monotonic() - t1:.1f} s")


# --------------------------------------------------------------------------- repl_pty

ANSI = re.compile(rb"\x1b(\[[0-9;?]*[A-Za-z]|[=>]|\][^\x07]*\x07)")


class Pty:
    """py-persist on a pseudo-terminal that is its controlling terminal (Ctrl-C works)."""

    def __init__(self, ctx, cmd, name):
        self.name = name
        master, slave = os.openpty()
        # Wide enough that the line editor never scrolls a long input line sideways.
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 400, 0, 0))
        env = dict(ctx.env, TERM="dumb")
        env.pop("INPUTRC", None)

        def controlling_terminal():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, preexec_fn=controlling_terminal,
                                     env=env)
        os.close(slave)
        self.master = master
        self.raw = b""
        self.pos = 0
        self.pid = self.proc.pid

    def text(self):
        return ANSI.sub(b"", self.raw).replace(b"\r", b"").decode(errors="replace")

    def _pump(self, timeout):
        """Reads what is there within `timeout`: "data", "idle" or "eof"."""
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return "idle"
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the other side is closed
            return "eof"
        if not data:
            return "eof"
        self.raw += data
        return "data"

    def expect(self, pattern, timeout=LINE_TIMEOUT):
        """Waits for `pattern` in the output after the last match; returns the match."""
        rx = re.compile(pattern, re.S)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.text(), self.pos)
            if m:
                self.pos = m.end()
                return m
            left = deadline - time.monotonic()
            ended = False
            if left > 0 and self._pump(min(left, 0.2)) == "eof":
                ended = self.proc.poll() is not None
                time.sleep(0.05)
            if left <= 0 or ended:
                raise Failure(f"{self.name}: no {pattern!r} in the terminal output (status "
                              f"{self.proc.poll()}); after the last match:\n{self.text()[self.pos:][-3000:]}")

    def send(self, text):
        os.write(self.master, text.encode())

    def statement(self, line):
        """Types one line and waits for its echo and the next primary prompt; returns
        what was printed in between."""
        self.send(line + "\n")
        return self.expect(re.escape(line) + r"\n(.*?)>>> $").group(1)

    def more(self, line):
        """Types a line that leaves a compound statement open: python3 answers with the
        continuation prompt."""
        self.send(line + "\n")
        m = self.expect(re.escape(line) + r"\n(.*?)(\.\.\.|>>>) $")
        if m.group(2) != "...":
            raise Failure(f"{self.name}: after {line!r} the statement ran (output {m.group(1)!r}) and the primary "
                          f"prompt came back; python3 waits for the rest of the compound statement with '... '")

    def wait_exit(self, timeout=30):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._pump(0.1)
        while self._pump(0) == "data":
            pass
        if self.proc.poll() is None:
            raise Failure(f"{self.name} did not exit:\n{self.text()[-3000:]}")
        return self.proc.returncode

    def kill9(self):
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait()
        self.close()

    def close(self):
        if self.master is None:
            return
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.poll() is None:
            self.proc.wait()
        os.close(self.master)
        self.master = None


def sc_repl_pty(ctx):
    arena = ctx.path("repl.arena")
    resumed_banner = r"py-persist: resumed the session of epoch (\d+), committed (\d+) s ago \(([^)]*)\)\n>>> $"
    ptys = []
    try:
        # Session 1: define variables, a multi-line function and a class; Ctrl-D.
        s = Pty(ctx, ctx.pp(arena), "REPL session 1")
        ptys.append(s)
        s.expect(r"Python 3\.11[^\n]*\npy-persist: a new persistent session in " + re.escape(arena) + r"\n>>> $")
        s.statement("x = 41")
        s.statement("items = [1, 2, 3]")
        for line in ("def f(a):", "    y = x + a", "    return y * 2"):
            s.more(line)
        s.statement("")
        for line in ("class Acc:", "    total = 0", "    def add(self, v):", "        Acc.total += v",
                     "        return Acc.total"):
            s.more(line)
        s.statement("")
        s.statement("acc = Acc()")
        out = s.statement("print('CHECK1', f(1), acc.add(5), acc.add(items[2]))")
        check("CHECK1 84 5 8" in out, f"session 1: printed {out!r}, expected 'CHECK1 84 5 8'")
        s.send("\x04")
        rc = s.wait_exit()
        check(rc == 0, f"session 1 ended with status {rc} after Ctrl-D:\n{s.text()[-2000:]}")
        s.close()

        # Session 2: resumed; the definitions are there; then kill -9 after a statement.
        s = Pty(ctx, ctx.pp(arena), "REPL session 2")
        ptys.append(s)
        m = s.expect(resumed_banner)
        check(m.group(3) == arena, f"session 2: the banner names {m.group(3)!r}, not the arena {arena!r}")
        check("new persistent session" not in s.text(), f"session 2 claims to be new:\n{s.text()}")
        out = s.statement("print('CHECK2', x, items, f(2), acc.add(1), Acc.total, type(acc).__name__)")
        check("CHECK2 41 [1, 2, 3] 86 9 9 Acc" in out, f"session 2: printed {out!r}")
        out = s.statement("x * 1000 + len(items)")
        check(out.strip() == "41003", f"session 2: an expression statement displayed {out!r}, expected 41003")
        out = s.statement("1/0")
        check("ZeroDivisionError" in out, f"session 2: 1/0 printed {out!r}")
        s.statement("import palloc")
        out = s.statement("print('EPOCH', palloc.epoch())")
        e = int(re.search(r"EPOCH (\d+)", out).group(1))
        s.statement("items.append(f(100))")
        # The prompt after a statement comes after its commit: kill -9 now.
        s.kill9()

        # Session 3: the killed session's last statement is there. Ctrl-C at the prompt and
        # in a running loop.
        s = Pty(ctx, ctx.pp(arena), "REPL session 3")
        ptys.append(s)
        m = s.expect(resumed_banner)
        # One commit after each of `print(...)` and `items.append(...)`.
        expect_equal("session 3: the resumed epoch", int(m.group(1)), e + 2)
        out = s.statement("print('CHECK3', items, acc.add(0), palloc.resumed())")
        check("CHECK3 [1, 2, 3, 282] 9 True" in out, f"session 3: printed {out!r}")
        s.send("half typed")
        time.sleep(0.2)
        s.send("\x03")
        s.expect(r"KeyboardInterrupt\n>>> $")
        out = s.statement("print('CHECK4', 'after Ctrl-C')")
        check("CHECK4 after Ctrl-C" in out, f"session 3: after Ctrl-C at the prompt: {out!r}")
        s.statement("n = 0")
        s.more("while True: n += 1")
        s.send("\n")
        time.sleep(0.5)
        s.send("\x03")
        s.expect(r"KeyboardInterrupt\n>>> $")
        out = s.statement("print('CHECK5', n > 0)")
        check("CHECK5 True" in out, f"session 3: the interrupted loop: {out!r}")
        s.statement("x = 'three'")
        s.send("\x04")
        rc = s.wait_exit()
        check(rc == 0, f"session 3 ended with status {rc}:\n{s.text()[-2000:]}")
        s.close()

        rc, out, err = ctx.run(ctx.pp(arena, "-c", "print(x, items[-1], acc.add(1), n > 0)"))
        check(rc == 0 and out == "three 282 10 True\n", f"after session 3: status {rc}, output {out!r}, {err!r}")

        # Session 4, with periodic commits: a loop killed with -9 comes back with the progress
        # of its last periodic commit, at the prompt.
        s = Pty(ctx, ctx.pp(arena, "--commit-interval", "50"), "REPL session 4")
        ptys.append(s)
        s.expect(resumed_banner)
        s.statement("n = 0")
        s.more("while True: n += 1")
        s.send("\n")
        time.sleep(0.7)
        s.kill9()
        rc, out, err = ctx.run(ctx.pp(arena, "-c", "print(n, x)"))
        f = out.split()
        check(rc == 0 and len(f) == 2 and int(f[0]) > 0 and f[1] == "three",
              f"after the loop killed in session 4: status {rc}, output {out!r} (n should have advanced), {err!r}")
        log(f"  4 sessions on a pseudo-terminal (Ctrl-D, kill -9, Ctrl-D, kill -9 in a loop): variables, a multi-line "
            f"function and class, the killed session's last statement came back; Ctrl-C at the prompt and in a "
            f"loop; periodic commits kept the killed loop's progress (n = {f[0]})")
    finally:
        for s in ptys:
            s.close()


# ------------------------------------------------------------------------------ fds

def sc_fds(ctx):
    arena, d = ctx.path("fds.arena"), ctx.path("files")
    os.mkdir(d)
    with open(os.path.join(d, "input.txt"), "w") as f:
        f.write("input line 1\ninput line 2\n")
    text = "".join(ctx.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(3000))

    p = ctx.spawn(ctx.pp(arena, script("pp_fds.py"), d, "1"), "fds-1")
    expect_equal("stage 1: first line", rest_after(p, "first"), "input line 1")
    expect_equal("stage 1: socket pair", rest_after(p, "pair"), "b'ping'")
    old = json.loads(rest_after(p, "old"))
    p.wait_line("COMMITTED")
    p.kill9()

    p = ctx.spawn(ctx.pp(arena, script("pp_fds.py"), d, "2"), "fds-2")
    new = json.loads(rest_after(p, "new"))
    clash = sorted(f"{n}={fd} (was {o})" for n, fd in new.items() for o, ofd in old.items() if fd == ofd)
    check(not clash, f"stage 2: new objects got the numbers of objects open at the commit: {clash}\n{p.transcript()}")
    p.send(text + "\n")
    expect_equal("stage 2: new pipe and socket pair", rest_after(p, "roundtrip"), "pipe-ok pair-ok")
    port = int(rest_after(p, "port"))
    token = f"tok{ctx.rng.randrange(10**9)}"
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.sendall((token + "\n").encode())
        reply = conn.makefile().readline()
    expect_equal("stage 2: the reply of the new listening socket", reply, f"echo {token}\n")
    expect_equal("stage 2: served", rest_after(p, "served"), token)
    kept = json.loads(rest_after(p, "kept"))
    finish_with(p, 0, "stage 2")
    stale = {}
    for l in p.lines:
        m = re.fullmatch(r"stale (\S+) (.*)", l)
        if m:
            stale[m.group(1)] = m.group(2)
    for op in ("f_w.write+flush", "f_r.raw.read", "f_r.seek", "f_raw.write", "sa.send", "sb.recv", "pw.write",
               "pr.read", "srv.accept", "srv.getsockname"):
        expect_equal(f"stage 2: {op} on an object from before the restart", stale.get(op), "EBADF")

    def content(name, mode="r"):
        with open(os.path.join(d, name), mode) as f:
            return f.read()

    expect_equal("after stage 2: new1.txt", content("new1.txt"), text)
    expect_equal("after stage 2: new2.bin", content("new2.bin", "rb"), text.encode()[::-1])
    expect_equal("after stage 2: old_w.txt", content("old_w.txt"), "written in stage 1\n")
    expect_equal("after stage 2: old_raw.bin", content("old_raw.bin", "rb"), b"raw stage 1\n")
    expect_equal("after stage 2: input.txt", content("input.txt"), "input line 1\ninput line 2\n")
    expect_equal("after stage 2: kept.txt", content("kept.txt"), "kept from stage 2\n")

    # Stage 3 resumes the exit commit of stage 2: the objects still open then are fenced.
    p = ctx.spawn(ctx.pp(arena, script("pp_fds.py"), d, "3"), "fds-3")
    new3 = json.loads(rest_after(p, "new"))
    p.wait_line("done")
    finish_with(p, 0, "stage 3")
    live = {n: fd for n, fd in old.items() if n not in ("f_w", "f_raw")}
    live.update({n: fd for n, fd in new.items() if n not in ("n1", "n2")})
    live.update(kept)
    check(new3["n3"] not in live.values(), f"stage 3: stage3.txt got fd {new3['n3']}, held by an old object "
                                            f"({live})\n{p.transcript()}")
    for l in p.lines:
        m = re.fullmatch(r"stale (\S+) (.*)", l)
        if m:
            expect_equal(f"stage 3: {m.group(1)} on an object from before the restart", m.group(2), "EBADF")
    check(sum(l.startswith("stale ") for l in p.lines) == 6, f"stage 3: missing results\n{p.transcript()}")
    expect_equal("after stage 3: kept.txt", content("kept.txt"), "kept from stage 2\n")
    expect_equal("after stage 3: stage3.txt", content("stage3.txt"), "stage 3\n")
    log(f"  stage 1 fds {sorted(old.values())}; stage 2 new fds {sorted(new.values())}: 10 operations on old "
        f"objects gave EBADF, new files intact; stage 3 (after a normal exit): fd {new3['n3']}, 6 x EBADF")


# -------------------------------------------------------------------------- signals

def wait_reading_stdin(pid, timeout=10):
    """Waits until the process is blocked in read(0, ...), so that a signal sent now
    interrupts that read (and not the code around it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/syscall") as f:
                fields = f.read().split()
        except OSError:  # not available: give the program time to get there
            time.sleep(0.3)
            return
        if len(fields) > 1 and fields[0] == "0" and int(fields[1], 16) == 0:
            return
        time.sleep(0.01)
    raise Failure(f"process {pid} did not get to reading its stdin within {timeout} s")


def sc_signals(ctx):
    arena = ctx.path("signals.arena")
    usr1 = 0
    # (signals of SIGUSR1 in the run, how the run ends)
    plan = [(1, "eof"), (2, "kill"), (3, "kill"), (1, "uncaught")]
    for run, (n_usr1, how) in enumerate(plan, 1):
        p = ctx.spawn(ctx.pp(arena, script("pp_signals.py")), f"signals-{run}")
        ready = fields_after(p, "ready")
        expect_equal(f"run {run}: ready", ready[0], str(run))
        where = f"run {run}"
        p.send("handlers\n")
        expect_equal(f"{where}: Python's handlers", rest_after(p, "handlers"),
                     "on_usr1 SIG_IGN default_int_handler SIG_IGN")
        for _ in range(n_usr1):
            usr1 += 1
            os.kill(p.pid, signal.SIGUSR1)
            p.wait_line(f"usr1 {usr1}")
        os.kill(p.pid, signal.SIGUSR2)  # ignored: the process must live on
        p.send("ping\n")
        p.wait_line("pong")
        p.send("sigpipe\n")
        expect_equal(f"{where}: writing to a closed pipe", rest_after(p, "sigpipe"), "BrokenPipeError")
        mark = len(p.lines)
        wait_reading_stdin(p.pid)  # KeyboardInterrupt in the readline(), inside the try
        os.kill(p.pid, signal.SIGINT)
        p.wait_line("kbi", start=mark)
        p.send("ping\n")
        p.wait_line("pong", start=mark)
        check(p.alive(), f"{where}: the process died\n{p.transcript()}")
        if how == "eof":
            finish_with(p, 0, where)
        elif how == "kill":
            p.send("commit\n")
            p.wait_line("committed")
            p.kill9()
        else:
            p.send("uncaught\n")
            p.wait_line("waiting")
            os.kill(p.pid, signal.SIGINT)
            rc = p.proc.wait(30)
            p.finish()
            check(rc in (130, -signal.SIGINT), f"{where}: an uncaught SIGINT gave status {rc}\n{p.transcript()}")
            check("KeyboardInterrupt" in p.stderr(), f"{where}: no KeyboardInterrupt reported\n{p.transcript()}")
            how += f" SIGINT, status {rc}"
        log(f"  run {run}: SIGUSR1 handler ran {n_usr1}x (total {usr1}), SIGUSR2 ignored, SIGPIPE ignored "
            f"(BrokenPipeError), SIGINT -> KeyboardInterrupt; ended by {how}")


# ---------------------------------------------------------------------- environment

def sc_environment(ctx):
    arena = ctx.path("env.arena")
    base = os.path.realpath(ctx.dir)
    for sub in ("sub1", "sub2"):
        os.mkdir(os.path.join(base, sub))
    endings = ["exit", "kill", "kill", "exit"]
    program = {}   # the program's own changes so far: name -> value or None (removed)
    for run, how in enumerate(endings, 1):
        env = dict(ctx.env, LANG="C", PP_REMOVE="driver keeps giving it", PP_CHANGED=f"driver {run}",
                   PP_DRIVER=f"driver value {run}", PP_SET="driver's PP_SET", PP_LATER="driver's PP_LATER")
        env.pop("LC_ALL", None)
        if run == 1:
            env["PP_GONE"] = "only in run 1"
        p = ctx.spawn(ctx.pp(arena, script("pp_env.py"), base, how), f"env-{run}", env=env, cwd=base)
        if run == 1:
            program.update(PP_SET="set by the program", PP_CHANGED="program value", PP_REMOVE=None)
        elif run == 2:
            program["PP_LATER"] = "from run 2"
        elif run == 3:
            program["PP_SET"] = None
        want = {n: env.get(n) for n in ("PP_SET", "PP_REMOVE", "PP_CHANGED", "PP_DRIVER", "PP_GONE", "PP_LATER")}
        want.update(program)
        cwd = os.path.join(base, "sub1" if run == 1 else "sub2")
        where = f"run {run}"
        got_env = json.loads(rest_after(p, "env"))
        expect_equal(f"{where}: os.environ", got_env, want)
        expect_equal(f"{where}: os.getcwd()", rest_after(p, "cwd"), cwd)
        expect_equal(f"{where}: the locale", rest_after(p, "locale"), "C.UTF-8")
        shell = "|".join("unset" if want[n] is None else want[n]
                         for n in ("PP_SET", "PP_REMOVE", "PP_CHANGED", "PP_DRIVER", "PP_GONE", "PP_LATER"))
        expect_equal(f"{where}: what a shell started with subprocess sees", rest_after(p, "sh"), f"{shell}|{cwd} 0")
        if how == "kill":
            p.wait_line("COMMITTED")
            p.kill9()
        else:
            finish_with(p, 0, where)
        log(f"  run {run}: environment {sum(v is not None for v in want.values())} variables as expected, cwd "
            f"{os.path.basename(cwd)}, locale C.UTF-8, seen by sh too; ended by {how}")

    # A script given by a relative path is found again after the program changed directory.
    shutil.copy(script("pp_chdir.py"), os.path.join(base, "pp_chdir.py"))
    for run in (1, 2, 3):
        rc, out, err = ctx.run(ctx.pp(ctx.path("chdir.arena"), "pp_chdir.py"), cwd=base)
        check(rc == 0 and out == f"n {run} {base}/sub1\n",
              f"`py-persist pp_chdir.py` in {base}, run {run} (the program changed to ./sub1 in run 1): status {rc}, "
              f"stdout {out!r}, expected 'n {run} {base}/sub1'; stderr {err[-600:]!r}")
    log("  a script started by a relative path runs again after the program's chdir")


# ---------------------------------------------------------------------------- stdio

def sc_stdio(ctx):
    arena = ctx.path("stdio.arena")
    endings = ["kill", "exit", "kill", "kill", "exit"]
    all_lines = []
    for run, how in enumerate(endings, 1):
        p = ctx.spawn(ctx.pp(arena, script("pp_stdio.py")), f"stdio-{run}")
        word = f"leftover {run}" if how == "kill" else f"word{ctx.rng.randrange(10**6)} run {run}"
        p.send(f"first {run} {how}\n{word}\n")  # one write: the second line is read ahead
        p.wait_line(f"committed {run}")
        if how == "kill":
            time.sleep(0.2)
            p.kill9()
        else:
            finish_with(p, 0, f"run {run}")
            expect_equal(f"run {run}: input() after the resume", rest_after(p, "got"), word)
            expect_equal(f"run {run}: the streams", rest_after(p, "fileno"), "1 0 False")
        expect_equal(f"run {run}: the first line read", rest_after(p, "read"), f"first {run} {how}")
        err = p.stderr()
        check(err.count(f"stderr {run}\n") == 1, f"run {run}: stderr {err!r}")
        all_lines += p.lines
    counts = collections.Counter(all_lines)
    for run, how in enumerate(endings, 1):
        for text in (f"line {run} a", f"line {run} b", f"read first {run} {how}", f"committed {run}"):
            expect_equal(f"times {text!r} appeared in all runs' output", counts[text], 1)
        expect_equal(f"times 'pending {run}' appeared", counts[f"pending {run}"], 0 if how == "kill" else 1)
    check(not [l for l in all_lines if "leftover" in l],
          "a line read ahead into sys.stdin's buffer by a killed run was read again after the restart")
    order = [l for l in all_lines if l.startswith(("line ", "read ", "committed "))]
    want = [t for run, how in enumerate(endings, 1)
            for t in (f"line {run} a", f"line {run} b", f"read first {run} {how}", f"committed {run}")]
    expect_equal("the order of the lines", order, want)
    log(f"  {len(endings)} runs ({endings.count('kill')} killed): {len(all_lines)} lines of output, none twice, "
        "none lost; stdin read-ahead of a killed run not replayed; input() and print to a pipe after resuming")


# ------------------------------------------------------------------------- refusals

def elf_build_id(data):
    """(offset, length) of the GNU build-id bytes in an ELF64 little-endian file."""
    check(data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "not an ELF64 little-endian file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def section(i):
        name, typ, flags, addr, off, size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
        return name, typ, off, size

    _, _, stroff, _ = section(shstrndx)
    for i in range(shnum):
        name, typ, off, size = section(i)
        end = data.index(b"\0", stroff + name)
        if data[stroff + name:end] == b".note.gnu.build-id":
            namesz, descsz, ntype = struct.unpack_from("<III", data, off)
            check(ntype == 3, f"the build-id note has type {ntype}")
            desc = off + 12 + (namesz + 3) // 4 * 4
            return desc, descsz
    raise Failure("no .note.gnu.build-id section")


def refused(ctx, cmd, what, must_name=None, input_text=""):
    """Runs cmd; it must exit 70 with a message that suggests --fresh (and names
    `must_name`) and print nothing on stdout. Returns stderr."""
    rc, out, err = ctx.run(cmd, timeout=60, input_text=input_text)
    if rc != EXIT_CANNOT_RESUME:
        raise Failure(f"{what}: status {rc}, expected {EXIT_CANNOT_RESUME}\n  stdout: {out[-500:]!r}\n"
                      f"  stderr: {err[-1500:]!r}")
    check(out == "", f"{what}: the refused run printed {out!r}")
    check("--fresh" in err, f"{what}: the message does not suggest --fresh: {err!r}")
    if must_name is not None:
        check(must_name in err, f"{what}: the message does not name {must_name}: {err!r}")
    return err


def refusal_changed_binary(ctx):
    bindir = ctx.path("bin")
    os.mkdir(bindir)
    copy = os.path.join(bindir, "py-persist")
    shutil.copy2(ctx.args.py_persist, copy)
    with open(copy, "rb") as f:
        original = f.read()
    off, n = elf_build_id(original)
    changed = bytearray(original)
    changed[off] ^= 0xff
    old_id, new_id = original[off:off + n].hex(), changed[off:off + n].hex()

    def install(data):
        with open(copy, "r+b") as f:  # in place: same file, same path
            f.seek(off)
            f.write(data[off:off + 1])

    arena = ctx.path("changed.arena")
    counter = script("pp_counter.py")

    def count(want, exe=copy, arena_path=arena, extra=()):
        rc, out, err = ctx.run([exe, "--arena", arena_path, *extra, counter, "return"])
        check(rc == 0 and out == f"count {want}\n",
              f"{' '.join(extra) or 'run'} of {exe} on {os.path.basename(arena_path)}: status {rc}, stdout {out!r}, "
              f"expected 'count {want}'; stderr {err[-1500:]!r}")
        return err

    count(1)
    count(2)
    install(changed)
    readelf = shutil.which("readelf")
    if readelf:
        shown = subprocess.run([readelf, "-n", copy], capture_output=True, text=True).stdout
        check(new_id in shown, f"readelf does not show the changed build-id {new_id}:\n{shown}")
    # The changed copy still runs (a fresh arena works) ...
    count(1, arena_path=ctx.path("other.arena"))
    # ... but refuses the state the unchanged one committed.
    err = refused(ctx, [copy, "--arena", arena, counter, "return"],
                  f"the changed executable (build-id {old_id} -> {new_id})", must_name=copy)
    log(f"    changed build-id refused (status 70): {message(ctx, err, 260)}")
    install(original)
    count(3)  # the refusal left the state alone
    install(changed)
    err = count(1, extra=("--fresh",))
    m = re.search(r"(" + re.escape(arena) + r"\.bak-\S+)", err)
    backups = [f for f in os.listdir(ctx.dir) if f.startswith("changed.arena.bak-") and ".wal" not in f]
    check(len(backups) == 1, f"--fresh: expected one backup changed.arena.bak-*, found {backups}; stderr {err!r}")
    backup = os.path.join(ctx.dir, backups[0])
    check(m is None or m.group(1).rstrip(".,;:)") == backup, f"--fresh names {m and m.group(1)}, found {backup}")
    count(2)
    install(original)
    count(4, arena_path=backup)  # the backup is the old state
    log(f"    --fresh started over and kept {backups[0]}, which the original executable resumes")


def refusal_extension(ctx):
    arena = ctx.path("ext.arena")
    code = ("import palloc\n"
            "n = globals().get('n', 0) + 1\n"
            "try:\n    import _ctypes\n    print('imported')\n"
            "except ImportError as e:\n    print('ImportError', e)\n"
            "print('n', n, palloc.commit() > 0)\n")
    for run in (1, 2):
        rc, out, err = ctx.run(ctx.pp(arena, "-c", code))
        check(rc == 0, f"_ctypes run {run}: status {rc}: {err[-1500:]}")
        lines = out.splitlines()
        check(len(lines) == 2 and lines[0].startswith("ImportError ") and "--extension _ctypes" in lines[0]
              and "_ctypes" in lines[0], f"_ctypes run {run}: {out!r}")
        expect_equal(f"_ctypes run {run}: the commit after the refused import", lines[1], f"n {run} True")
    log(f"    import _ctypes: {lines[0][:150]}...")
    # Declared with --extension (from the first run on), an extension module is imported.
    arena = ctx.path("ext-declared.arena")
    code = "import mmap\nn = globals().get('n', 0) + 1\nprint(n, mmap.PAGESIZE > 0)\n"
    for run in (1, 2):
        rc, out, err = ctx.run(ctx.pp(arena, "--extension", "mmap", "-c", code))
        check(rc == 0 and out == f"{run} True\n", f"--extension mmap, run {run}: status {rc}, {out!r}, {err[-800:]!r}")


def refusal_thread(ctx):
    arena = ctx.path("thread.arena")
    for run in (1, 2):
        rc, out, err = ctx.run(ctx.pp(arena, script("pp_threads.py")))
        check(rc == 0, f"threads run {run}: status {rc}: {err[-1500:]}")
        lines = out.splitlines()
        expect_equal(f"threads run {run}", lines[0], f"run {run}")
        check(lines[1].startswith("refused RuntimeError: ") and "thread" in lines[1],
              f"threads run {run}: palloc.commit() with a thread running: {lines[1]!r}")
        m = re.fullmatch(r"joined (\d+) (\d+)", lines[2])
        check(m and int(m.group(2)) > int(m.group(1)), f"threads run {run}: the commit after join: {lines[2]!r}")
        expect_equal(f"threads run {run}: the thread's work", lines[3], f"thread-result {list(range(1, run + 1))}")
    log(f"    {lines[1][:150]}")


def refusal_locked(ctx):
    arena = ctx.path("locked.arena")
    first = ctx.spawn(ctx.pp(arena, script("pp_counter.py"), "kill"), "locked-first")
    first.wait_line("committed")
    err = refused(ctx, ctx.pp(arena, script("pp_counter.py"), "return"), "a second py-persist on the arena in use")
    check(re.search(rf"\b{first.pid}\b", err), f"the message does not name pid {first.pid}: {err!r}")
    log(f"    second instance refused: {message(ctx, err)}")
    rc, out, err2 = ctx.run(ctx.pp(arena, "--fresh", script("pp_counter.py"), "return"))
    check(rc == EXIT_CANNOT_RESUME, f"--fresh on the arena in use: status {rc}, expected 70: {err2!r}")
    check(not [f for f in os.listdir(ctx.dir) if f.startswith("locked.arena.bak-")],
          "--fresh on the arena in use made a backup")
    check(first.alive(), "the first instance died")
    first.send("\n")
    finish_with(first, 0, "the first instance")
    rc, out, err = ctx.run(ctx.pp(arena, script("pp_counter.py"), "return"))
    check(rc == 0 and out == "count 2\n", f"after the first instance ended: status {rc}, {out!r}, {err!r}")


def refusal_damaged(ctx):
    counter = script("pp_counter.py")
    good = ctx.path("good.arena")
    for _ in range(2):
        rc, out, err = ctx.run(ctx.pp(good, counter, "return"))
        check(rc == 0, f"making an arena: {err}")
    size = os.path.getsize(good)
    files = [f for f in os.listdir(ctx.dir) if f.startswith("good.arena")]

    def variant(name, make):
        arena = ctx.path(name + ".arena")
        for f in files:
            shutil.copy(ctx.path(f), arena + f[len("good.arena"):])
        make(arena)
        rc, out, err = ctx.run(ctx.pp(arena, counter, "return"), timeout=60)
        ok = rc == EXIT_CANNOT_RESUME and out == "" and err.strip() and "Traceback" not in err
        check(ok, f"{name}: status {rc} (expected {EXIT_CANNOT_RESUME} with a message), stdout {out!r}, "
                  f"stderr {err[-1200:]!r}")
        return message(ctx, err)

    def garbage(arena):
        with open(arena, "wb") as f:
            f.write(random.Random(1).randbytes(1 << 20))

    def truncate(length):
        def make(arena):
            os.truncate(arena, length)
        return make

    def wal_garbage(arena):
        for suffix in (".wal0", ".wal1"):
            if os.path.exists(arena + suffix):
                with open(arena + suffix, "r+b") as f:
                    f.write(random.Random(2).randbytes(4096))

    msgs = [variant("garbage", garbage), variant("truncated-4k", truncate(4096)),
            variant("truncated-half", truncate(size // 2)), variant("empty", truncate(0))]
    for m in msgs:
        log(f"    damaged arena refused: {m}")
    # Damaged logs: either a clean refusal or (if the arena itself is complete) a resume.
    arena = ctx.path("walgarbage.arena")
    for f in files:
        shutil.copy(ctx.path(f), arena + f[len("good.arena"):])
    wal_garbage(arena)
    rc, out, err = ctx.run(ctx.pp(arena, counter, "return"), timeout=60)
    check((rc == EXIT_CANNOT_RESUME and out == "") or (rc == 0 and out == "count 3\n"),
          f"garbage in the logs: status {rc}, stdout {out!r}, stderr {err[-1200:]!r}")
    log(f"    garbage in the logs: status {rc}: {message(ctx, err) if rc else 'resumed, count 3'}")


def sc_refusals(ctx):
    for name, fn in (("changed binary", refusal_changed_binary), ("undeclared extension", refusal_extension),
                     ("commit with a thread", refusal_thread), ("arena in use", refusal_locked),
                     ("damaged arena", refusal_damaged)):
        log(f"  {name}:")
        fn(ctx)


# ----------------------------------------------------------------------- allocators

def sc_allocators(ctx):
    code = ("import palloc, sys\n"
            "n = globals().get('n', 0) + 1\n"
            "print(n, palloc.stats()['allocators_routed'], palloc.resumed(), sys.flags.dev_mode)\n")
    env = dict(ctx.env, PYTHONMALLOC="malloc_debug", PYTHONDEVMODE="1")
    arena = ctx.path("env.arena")
    for run in (1, 2):
        rc, out, err = ctx.run(ctx.pp(arena, "-c", code), env=env)
        check(rc == 0, f"PYTHONMALLOC=malloc_debug PYTHONDEVMODE=1, run {run}: status {rc}: {err[-1500:]}")
        f = out.split()
        check(len(f) == 4 and f[:3] == [str(run), "True", str(run > 1)],
              f"PYTHONMALLOC=malloc_debug PYTHONDEVMODE=1, run {run}: n, allocators_routed, resumed, dev_mode = {out!r}")
    log(f"  PYTHONMALLOC=malloc_debug PYTHONDEVMODE=1: allocators routed to palloc in both runs "
        f"(sys.flags.dev_mode {f[3]})")
    arena = ctx.path("xdev.arena")
    for run in (1, 2):
        rc, out, err = ctx.run(ctx.pp(arena, "-X", "dev", "-c", code))
        if rc != 0:
            check(rc == EXIT_CANNOT_RESUME and "py-persist" in err and "Traceback" not in err,
                  f"-X dev, run {run}: neither routed nor a clear refusal: status {rc}, {out!r}, {err[-1500:]!r}")
            log(f"  -X dev refused: {message(ctx, err)}")
            return
        f = out.split()
        check(len(f) == 4 and f[:3] == [str(run), "True", str(run > 1)],
              f"-X dev, run {run}: n, allocators_routed, resumed, dev_mode = {out!r}")
    log(f"  -X dev: allocators routed to palloc in both runs (sys.flags.dev_mode {f[3]})")


# ----------------------------------------------------------------------- large_heap

def large_checksum(n, seed):
    """pp_large.py's checksum of its N records, computed here from the definition."""
    M = (1 << 61) - 1
    c, total = 0, 0
    for i in range(n):
        k = (i * 6364136223846793005 + seed) % M
        c = zlib.crc32((("%016x" % k) * (4 + i % 5)).encode(), c)
        total = (total + k * (i + 1) + k % 1000 + len(str(i))) % M
    return f"{c:08x}:{total}"


def sc_large_heap(ctx):
    free = shutil.disk_usage(ctx.dir).free
    if free < 3 << 30:
        raise Skip(f"only {free / 2**30:.1f} GiB free in {ctx.dir}; large_heap needs 3")
    n, seed = 500_000, ctx.rng.randrange(1 << 40)
    arena = ctx.path("large.arena")
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("want", large_checksum(n, seed)))
    worker.start()  # the expected checksum, while the first run builds its records
    t0 = time.monotonic()
    p = ctx.spawn(ctx.pp(arena, script("pp_large.py"), str(n), str(seed), "kill"), "large-1")
    expect_equal("run 1: built", fields_after(p, "built", timeout=120), [str(n)])
    commit_s = float(fields_after(p, "commit", timeout=120)[1])
    first = fields_after(p, "checksum", timeout=120)
    size = int(fields_after(p, "stats")[0])
    p.wait_line("COMMITTED")
    t_build = time.monotonic() - t0
    p.kill9()
    worker.join()
    want = result["want"]
    expect_equal("run 1: records, checksum", first[:2], [str(n), want])
    check(size >= 300 << 20, f"run 1: the heap is only {size / 2**20:.0f} MiB, expected >= 300 MiB")
    t1 = time.monotonic()
    p = ctx.spawn(ctx.pp(arena, script("pp_large.py"), str(n), str(seed), "exit"), "large-2")
    rc = p.finish(timeout=120)
    t_resume = time.monotonic() - t1
    check(rc == 0, f"run 2 exited with status {rc}\n{p.transcript()}")
    check(not any(l.startswith("built") for l in p.lines), f"run 2 built the records again\n{p.transcript()}")
    got = fields_after(p, "checksum")
    expect_equal("run 2 (resumed after kill -9): records, checksum", got[:2], [str(n), want])
    expect_equal("run 2: stats()['resumed']", fields_after(p, "stats")[1], "True")
    log(f"  {n} records, heap {size / 2**20:.0f} MiB: build+commit {t_build:.1f} s (commit {commit_s:.1f} s), "
        f"resume+verify+exit {t_resume:.1f} s (checksum {got[2]} s); checksum {want}")


# ---------------------------------------------------------------------- copy_relocs

def sc_copy_relocs(ctx):
    readelf = shutil.which("readelf")
    if not readelf:
        raise Skip("readelf is not installed")
    exe = ctx.args.py_persist
    relocs = subprocess.run([readelf, "-rW", exe], capture_output=True, text=True, check=True).stdout
    kinds = collections.Counter(re.findall(r"\bR_X86_64_\w+", relocs))
    check(kinds, f"readelf -rW {exe} shows no relocations at all:\n{relocs[:2000]}")
    copies = [l for l in relocs.splitlines() if "R_X86_64_COPY" in l]
    check(not copies, f"{exe} has copy relocations:\n" + "\n".join(copies[:20]))
    # Nor does the executable define libpython's data itself (what a copy would need).
    syms = subprocess.run([readelf, "--dyn-syms", "-W", exe], capture_output=True, text=True, check=True).stdout
    defined = [l.split()[-1] for l in syms.splitlines()
               if re.search(r"\bOBJECT\b", l) and " UND " not in l and re.search(r"\s_?Py\w+$", l)]
    check(not defined, f"{exe} defines Python data objects: {defined[:20]}")
    log(f"  relocations: {dict(kinds.most_common())}; no R_X86_64_COPY, no Python data defined in the executable")


# ----------------------------------------------------------------------------- main

SCENARIOS = {
    "types": sc_types,
    "counter100": sc_counter100,
    "kill_write_loop": sc_kill_write_loop,
    "repl_pty": sc_repl_pty,
    "fds": sc_fds,
    "signals": sc_signals,
    "environment": sc_environment,
    "stdio": sc_stdio,
    "refusals": sc_refusals,
    "allocators": sc_allocators,
    "large_heap": sc_large_heap,
    "copy_relocs": sc_copy_relocs,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--py-persist", required=True)
    ap.add_argument("--workdir", required=True, help="where the temporary directory is made")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    args = ap.parse_args()
    args.py_persist = os.path.abspath(args.py_persist)
    if not os.access(args.py_persist, os.X_OK):
        print(f"test_py.py: --py-persist {args.py_persist} is not an executable", file=sys.stderr)
        return 1
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    os.makedirs(args.workdir, exist_ok=True)
    directory = tempfile.mkdtemp(prefix=f"py-{args.scenario}-", dir=os.path.abspath(args.workdir))
    ctx = Ctx(args, directory, random.Random(seed))
    log(f"{args.scenario}: seed {seed}, directory {directory}")
    t0 = time.monotonic()
    status = 1
    try:
        SCENARIOS[args.scenario](ctx)
        status = 0
        log(f"PASS {args.scenario} ({time.monotonic() - t0:.1f} s)")
    except Skip as e:
        status = 77
        log(f"SKIP {args.scenario}: {e}")
    except Failure as e:
        log(f"FAIL {args.scenario} (seed {seed}): {e}")
    except Exception:
        log(f"FAIL {args.scenario} (seed {seed}): unexpected error in the test\n{traceback.format_exc()}")
    finally:
        ctx.cleanup()
        if args.keep:
            log(f"kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
