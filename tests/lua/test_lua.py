#!/usr/bin/env python3
"""End-to-end tests of lua-persist (and of a Lua host under `palloc run`).

One scenario per invocation; every scenario starts real interpreters on an arena in a
fresh temporary directory under --workdir, ends them normally or with SIGKILL, starts
them again and compares what the resumed state reports with values this driver
computes on its own: Python models of the data, its own count of runs, exits and
acknowledged commits.

    test_lua.py --lua-persist build/bin/lua-persist --palloc build/bin/palloc \\
                --host build/bin/lua-host --workdir /tmp SCENARIO [--seed S] [--keep]

Scenarios:
  types            tables, strings, closures with shared upvalues, metatables, suspended
                   coroutines, weak tables, a __gc object, numbers, string.pack, utf8
  counter100       a run counter through 100 restarts, half of them kill -9
  kill_write_loop  a table changed and committed in a loop, killed at random moments
                   (explicit commits, then periodic ones with --commit-interval)
  repl_pty         the interactive interpreter on a pseudo-terminal
  stale_files      files opened before a restart are closed, new files are not aliased
  c_modules        luasocket and cjson after restarts
  changed_binary   a changed lua-persist executable refuses the arena; --fresh recovers
  host_palloc_run  a plain C host embedding Lua, under `palloc run`
  large_heap       a state of more than 1 GB
  coroutine_commit palloc.commit() inside nested running coroutines, then kill -9
  locked           a second lua-persist on an arena in use

Exit status: 0 passed, 1 failed (with the reasons), 77 skipped.
"""

import argparse
import fcntl
import json
import math
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
import threading
import termios
import time
import traceback

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
    its stderr goes to a file. stdin is a pipe, so a script can block on io.read()."""

    def __init__(self, ctx, cmd, name, env=None):
        self.ctx = ctx
        self.cmd = cmd
        self.name = name
        self.err_path = os.path.join(ctx.dir, f"{name}.stderr")
        self.err_file = open(self.err_path, "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err_file,
                                     start_new_session=True, env=env or ctx.env)
        self.pid = self.proc.pid
        self.lines = []
        self.times = []  # when each line arrived (time.monotonic())
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
                self.times.append(time.monotonic())
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
        out = "\n".join("    " + l for l in self.lines[-40:])
        err = "\n".join("    " + l for l in self.stderr().splitlines()[-20:])
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
        """Closes stdin (a script blocked on io.read() returns) and waits for the exit status."""
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
        env = dict(os.environ)
        for name in ("LUA_INIT", "LUA_INIT_5_4", "PALLOC_ARENA", "PALLOC_VERBOSE", "PALLOC_COMMIT_INTERVAL_MS",
                     "PALLOC_DURABILITY", "PALLOC_MAX_SIZE"):
            env.pop(name, None)
        self.env = env

    def path(self, name):
        return os.path.join(self.dir, name)

    def lp(self, arena, *rest):
        return [self.args.lua_persist, "--arena", arena, *rest]

    def spawn(self, cmd, name=None, env=None):
        self.counter += 1
        return Proc(self, cmd, f"{self.counter:03d}-{name or 'proc'}", env)

    def run(self, cmd, timeout=120):
        """Runs to completion with an empty stdin: (status, stdout, stderr)."""
        p = subprocess.run(cmd, input=b"", capture_output=True, timeout=timeout,
                           start_new_session=True, env=self.env)
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
    """The rest of the first line "KEY ..." split on spaces."""
    m = proc.wait_line(re.escape(key) + r"(?: (.*))?", timeout, start)
    return (m.group(1) or "").split(" ")


def finish_ok(proc, where):
    """Closes stdin and waits; the exit status must be 0 (`where` names the run in the failure)."""
    rc = proc.finish()
    check(rc == 0, f"{where} exited with status {rc}\n{proc.transcript()}")


def end_run(proc, how, where, ready):
    """Ends a run of a script: how = "kill" waits for the line `ready` and kills it with
    SIGKILL; anything else is finish_ok."""
    if how == "kill":
        proc.wait_line(ready)
        proc.kill9()
    else:
        finish_ok(proc, where)


# ------------------------------------------------------------------------ helpers

M32 = 1 << 32


def fnv1a(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) % M32
    return h


def lua_float_text(x):
    """Lua's %.14g rendering of a float (tostring), for the values used here."""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    s = "%.14g" % x
    if re.fullmatch(r"-?\d+", s):
        s += ".0"
    return s


# ---------------------------------------------------------------------------- types

class LT:
    """A Lua table in the model: keys and values are tagged tuples or LT."""

    def __init__(self, items=None):
        self.d = dict(items or {})


def I(n):
    return ("i", n)


def F(x):
    return ("f", x)


def S(b):
    return ("s", b if isinstance(b, bytes) else b.encode())


def B(v):
    return ("b", v)


def model_scalar(v):
    tag, x = v
    if tag == "i":
        return f"i:{x}"
    if tag == "f":
        return "f:nan" if math.isnan(x) else "f:" + struct.pack(">d", x).hex()
    if tag == "s":
        return "s:" + x.hex() if len(x) <= 64 else f"S:{len(x)}:{fnv1a(x):08x}"
    if tag == "b":
        return "b:" + ("true" if x else "false")
    raise ValueError(v)


def model_dump(root):
    ids, lines = {}, []

    def visit(t):
        if id(t) in ids:
            return f"T{ids[id(t)]}"
        ids[id(t)] = me = len(ids) + 1
        for ktext, k in sorted((model_scalar(k), k) for k in t.d):
            v = t.d[k]
            text = visit(v) if isinstance(v, LT) else model_scalar(v)
            lines.append(f"T{me} {ktext} {text}")
        return f"T{me}"

    visit(root)
    return lines


def types_model():
    """The `data` table of types.lua, built independently."""
    t = LT()
    for i in range(1, 101):
        t.d[I(i)] = I(i * i)
    t.d[S("name")] = S("short")
    t.d[F(2.5)] = S("float key")
    t.d[B(True)] = S("bool key")
    t.d[I(-7)] = S("negative key")
    c = LT({S("d"): S("deep")})
    nested = LT({S("a"): LT({S("b"): LT({S("c"): c})})})
    c.d[S("up")] = nested
    t.d[S("nested")] = nested
    t.d[S("self")] = t
    shared = LT({S("x"): I(1)})
    t.d[S("shared1")] = shared
    t.d[S("shared2")] = shared
    t.d[S("long1")] = S(b"abc" * 10000 + b"end")
    t.d[S("long2")] = S(bytes(range(256)) * 200)
    t.d[S("nums")] = LT({
        S("maxint"): I(2**63 - 1), S("minint"): I(-2**63), S("zero"): I(0), S("fzero"): F(0.0),
        S("negzero"): F(-0.0), S("tenth"): F(0.1), S("inf"): F(math.inf), S("ninf"): F(-math.inf),
        S("nan"): F(math.nan), S("big"): F(2.0**53), S("huge"): F(1e308), S("tiny"): F(5e-324),
        S("pi"): F(math.pi), S("third"): F(1 / 3), S("neg"): I(-123456789012345),
    })
    packed = (struct.pack("<i", 1234567) + struct.pack("<d", 3.25) + b"zstr\0" + struct.pack("<H", 5) + b"sized"
              + struct.pack("<q", -42))
    t.d[S("packed")] = S(packed)
    t.d[S("utf")] = S("H\u00e4\u20ac\U0001F600".encode("utf-8"))
    t.d[S("empty")] = LT()
    t.d[S("emptystr")] = S(b"")
    t.d[S("holes")] = LT({I(1): S("one"), I(3): S("three"), I(1000): S("thousand")})
    return t


def types_expected_checks(run, exits, final):
    def fib(n):
        a, b = 1, 1
        for _ in range(n - 1):
            a, b = b, a + b
        return a

    x, y = run + 10, 2 * run + 20
    held = 5 if run < 3 else 4
    utf = "H\u00e4\u20ac\U0001F600"
    return {
        "runs": str(run),
        "exits": str(exits),
        "resumed": "true" if run > 1 else "false",
        "shared": f"{run * (run + 1) // 2} true",
        "adders": f"{100 + run} {200 + run} {300 + run}",
        "vec": f"({x},{y}) {x * x + y * y} {x + y} true",
        "class": "hello obj derived derived base computed:anything 42",
        "coroutines": f"true {fib(run)} true {sum(range(1, 21)) * 1000 + run} w{run} suspended suspended",
        "arith": f"true true float integer -inf true {(2**63 - 1) // 7}",
        "unpack": f"1234567 {lua_float_text(3.25)} zstr sized -42",
        "utf8": f"{len(utf)} " + ",".join(str(ord(ch)) for ch in utf),
        "strings": "short true long key short key true 51200",
        "weak": f"{held} {sum(range(1, held + 1))} {held}",
        "gc": "true true",
        "finalized": str(run) if final else "nil finalizable",
    }


def sc_types(ctx):
    arena, marker = ctx.path("types.arena"), ctx.path("finalizer.log")
    want_dump = ["DUMP " + l for l in model_dump(types_model())]
    endings = ["return", "kill", "osexit", "kill", "return"]
    exits = 0
    first_dump = None
    for run, ending in enumerate(endings, 1):
        final = run == len(endings)
        p = ctx.spawn(ctx.lp(arena, script("types.lua"), marker, "final" if final else "more"), f"types-{run}")
        p.wait_line("READY")
        dump = [l for l in p.lines if l.startswith("DUMP ")]
        if first_dump is None:
            first_dump = dump
            if dump != want_dump:
                diff = [f"    got  {a}\n    want {b}" for a, b in zip(dump, want_dump) if a != b][:5]
                raise Failure(f"run 1: the dump of the data differs from the model ({len(dump)} lines, "
                              f"{len(want_dump)} expected):\n" + "\n".join(diff))
        elif dump != first_dump:
            diff = [f"    run 1: {a}\n    now:   {b}" for a, b in zip(first_dump, dump) if a != b][:5]
            raise Failure(f"run {run}: the data changed across the restart ({len(dump)} lines vs "
                          f"{len(first_dump)}):\n" + "\n".join(diff) + "\n" + p.transcript())
        checks = {}
        for l in p.lines:
            m = re.fullmatch(r"CHECK (\S+) ?(.*)", l)
            if m:
                checks[m.group(1)] = m.group(2)
        for name, want in types_expected_checks(run, exits, final).items():
            if checks.get(name) != want:
                raise Failure(f"run {run}: CHECK {name}: got {checks.get(name)!r}, expected {want!r}\n{p.transcript()}")
        if ending == "kill":
            p.kill9()
        else:
            if ending == "osexit":
                p.send("osexit\n")
            finish_ok(p, f"run {run} ({ending})")
            exits += 1
        text = open(marker).read() if os.path.exists(marker) else None
        if final:
            expect_equal(f"after run {run}: the finalizer's log", text, f"finalized finalizable in run {run}\n")
        else:
            check(text is None, f"after run {run} ({ending}): the finalizer of a live object ran: {text!r}")
        log(f"  run {run}: {len(dump)} dump lines and {len(checks)} checks as expected; ended by {ending}")


# ------------------------------------------------------------------------ counter100

def sc_counter100(ctx):
    arena = ctx.path("counter.arena")
    normal = ["return", "osexit", "osexit_close"]
    t0 = time.monotonic()
    for i in range(1, 101):
        how = "kill" if i % 2 == 0 else normal[(i // 2) % 3]
        p = ctx.spawn(ctx.lp(arena, script("counter.lua"), how), f"counter-{i}")
        got = int(fields_after(p, "count")[0])
        if got != i:
            raise Failure(f"run {i} ({how}): count is {got}, expected {i}\n{p.transcript()}")
        end_run(p, how, f"run {i} ({how})", "committed")
    rc, out, err = ctx.run(ctx.lp(arena, "-e", "io.write('final ', count, '\\n')"))
    check(rc == 0, f"reading the count failed: status {rc}: {err}")
    expect_equal("the count after 100 runs", out.strip(), "final 100")
    log(f"  100 runs (50 ended by kill -9) in {time.monotonic() - t0:.1f} s; count = 100")


# ------------------------------------------------------------------- kill_write_loop

class WriteLoopModel:
    """writeloop.lua's table after n steps, computed in Python."""
    W = 300

    def __init__(self):
        self.t, self.s, self.n = {}, 0, 0

    @staticmethod
    def f(k, v):
        return (k * 2654435761 + fnv1a(v.encode())) % M32

    def _put(self, k, v):
        old = self.t.get(k)
        if old is not None:
            self.s = (self.s - self.f(k, old)) % M32
            del self.t[k]
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
    compares it with the model."""
    m = next((re.fullmatch(r"start (\d+) (\d+) (\d+) (\d+)", l) for l in p.lines if l.startswith("start ")), None)
    if m is None:
        return None
    n, stored, recomputed, count = map(int, m.groups())
    want_sum, want_count = model.at(n)
    if stored != recomputed or stored != want_sum or count != want_count:
        raise Failure(f"{where}: resumed step {n}: stored checksum {stored}, recomputed over the table {recomputed}, "
                      f"{count} entries; the model says checksum {want_sum}, {want_count} entries\n{p.transcript()}")
    return n


def write_loop_explicit(ctx, cycles):
    arena = ctx.path("explicit.arena")
    model = WriteLoopModel()
    known = 0      # the last step known to be committed (acked or resumed)
    starts = 0
    for c in range(1, cycles + 1):
        p = ctx.spawn(ctx.lp(arena, script("writeloop.lua"), "explicit"), f"explicit-{c}")
        delay = ctx.rng.uniform(0, 0.03) if ctx.rng.random() < 0.25 else ctx.rng.uniform(0.03, 0.35)
        time.sleep(delay)
        p.kill9()
        n = check_start(p, model, f"explicit cycle {c}")
        if n is not None:
            starts += 1
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
    p = ctx.spawn(ctx.lp(arena, script("writeloop.lua"), "explicit"), "explicit-final")
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
        cmd = [ctx.args.lua_persist, "--arena", arena, "--commit-interval", str(interval_ms),
               script("writeloop.lua"), "periodic"]
        p = ctx.spawn(cmd, f"periodic-{c}")
        delay = ctx.rng.uniform(0.1, 0.45)
        time.sleep(delay)
        p.kill9()
        n = check_start(p, model, f"periodic cycle {c}")
        reached = prev
        if n is not None:
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
        bound = max(bound, (reached // 500 + 1) * 500 - 1)
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
    def __init__(self, ctx, cmd, name):
        self.name = name
        self.cmd = cmd
        master, slave = os.openpty()
        env = dict(ctx.env, TERM="dumb")
        env.pop("INPUTRC", None)
        def controlling_terminal():  # a session of its own, with the pty as its terminal (Ctrl-C works)
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
                              f"{self.proc.poll()}):\n{self.text()}")

    def send(self, text):
        os.write(self.master, text.encode())

    def statement(self, line):
        """Types one line and waits for its echo and the next prompt."""
        self.send(line + "\n")
        return self.expect(re.escape(line) + r"\n(.*?)> $")

    def wait_exit(self, timeout=30):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._pump(0.1)
        while self._pump(0) == "data":
            pass
        if self.proc.poll() is None:
            raise Failure(f"{self.name} did not exit:\n{self.text()}")
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
    ptys = []
    try:
        # Session 1: lua-persist -i; define things; Ctrl-D.
        s = Pty(ctx, ctx.lp(arena, "-i"), "REPL session 1")
        ptys.append(s)
        s.expect(r"Lua 5\.4.*?\n> $")
        check("resumed the state" not in s.text(), f"session 1 claims to have resumed:\n{s.text()}")
        s.statement("x = 41")
        s.statement("function f(a) return x + a end")
        s.statement("t = {10, 20, 30}")
        s.statement("msg = 'hi' .. #t")
        s.send("function g(n)\n")
        s.expect(r"\n>> $")
        s.send("  return n * 2\n")
        s.expect(r"\n>> $")
        s.statement("end")
        m = s.statement("print('CHECK1', f(1), g(4))")
        check("CHECK1\t42\t8" in m.group(1), f"session 1: f(1), g(4) printed {m.group(1)!r}")
        s.send("\x04")
        rc = s.wait_exit()
        ended = time.monotonic()
        check(rc == 0, f"session 1 ended with status {rc} after Ctrl-D:\n{s.text()}")
        s.close()

        # Session 2: no arguments on a terminal: the REPL again, resumed.
        s = Pty(ctx, ctx.lp(arena), "REPL session 2")
        ptys.append(s)
        m = s.expect(r"Lua 5\.4[^\n]*\nlua-persist: resumed the state of epoch (\d+), committed ([0-9.]+) s ago\n> $")
        age = float(m.group(2))
        check(0 <= age <= time.monotonic() - ended + 2, f"session 2: the commit is said to be {age} s old")
        m = s.statement("print('CHECK2', f(1), g(21), #t, t[3], msg)")
        check("CHECK2\t42\t42\t3\t30\thi3" in m.group(1), f"session 2: got {m.group(1)!r}")
        s.statement("x = 1000")
        m = s.statement("print('CHECK3', f(1))")
        check("CHECK3\t1001" in m.group(1), f"session 2: f sees the new x: got {m.group(1)!r}")
        m = s.statement("error('boom')")
        check("boom" in m.group(1), f"session 2: error('boom') printed {m.group(1)!r}")
        s.statement("e = require('palloc').epoch()")
        m = s.statement("print('EPOCH', e)")
        e = int(re.search(r"EPOCH\t(\d+)", m.group(1)).group(1))
        s.statement("y = f(100) .. '!'")
        # The prompt after a statement comes after its commit: kill -9 now.
        s.kill9()
        killed = time.monotonic()

        # Session 3: -i again: the killed session's last statement is there.
        s = Pty(ctx, ctx.lp(arena, "-i"), "REPL session 3")
        ptys.append(s)
        m = s.expect(r"lua-persist: resumed the state of epoch (\d+), committed ([0-9.]+) s ago\n> $")
        # A commit after each of the statements `e = ...`, `print(...)`, `y = ...`.
        expect_equal("session 3: the resumed epoch", int(m.group(1)), e + 3)
        check(float(m.group(2)) <= time.monotonic() - killed + 2, f"session 3: commit age {m.group(2)}")
        m = s.statement("print('CHECK4', y, x, f(2), g(5))")
        check("CHECK4\t1100!\t1000\t1002\t10" in m.group(1), f"session 3: got {m.group(1)!r}")
        s.statement("x = 7")
        s.send("\x04")
        rc = s.wait_exit()
        check(rc == 0, f"session 3 ended with status {rc}:\n{s.text()}")
        s.close()

        rc, out, err = ctx.run(ctx.lp(arena, "-e", "print(x, y, f(1))"))
        check(rc == 0 and out == "7\t1100!\t8\n", f"after session 3: status {rc}, output {out!r}, {err!r}")

        # Session 4, with periodic commits: Ctrl-C stops a running loop (the REPL goes on),
        # and a loop killed with -9 comes back with the progress of its last periodic commit.
        s = Pty(ctx, ctx.lp(arena, "--commit-interval", "50", "-i"), "REPL session 4")
        ptys.append(s)
        s.expect(r"lua-persist: resumed the state of epoch \d+, committed [0-9.]+ s ago\n> $")
        s.statement("n = 0")
        s.send("while true do n = n + 1 end\n")
        time.sleep(0.5)
        s.send("\x03")
        s.expect(r"interrupted!.*?\n> $")
        m = s.statement("print('CHECK5', n)")
        n_stopped = int(re.search(r"CHECK5\t(\d+)", m.group(1)).group(1))
        check(n_stopped > 0, f"session 4: the interrupted loop did not run: n = {n_stopped}")
        s.send("while true do n = n + 1 end\n")
        time.sleep(0.6)
        s.kill9()
        rc, out, err = ctx.run(ctx.lp(arena, "-e", "print(n, x)"))
        n_resumed = int(out.split()[0]) if rc == 0 and out.split() else -1
        check(n_resumed > n_stopped and out.split()[1] == "7",
              f"after session 4: n = {n_resumed} (was {n_stopped} before the killed loop), output {out!r}, {err!r}")
        log(f"  4 sessions (Ctrl-D, kill -9, Ctrl-D, Ctrl-C then kill -9 in a loop) on a pseudo-terminal; "
            f"variables, functions, the killed session's last statement and the loop's periodic commits "
            f"({n_stopped} -> {n_resumed}) came back")
    finally:
        for s in ptys:
            s.close()


# ------------------------------------------------------------------------ stale_files

def open_fds(pid, directory):
    """{fd: file name} of the process's descriptors open on files in `directory`."""
    fds = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith(directory + "/"):
            fds[int(name)] = os.path.basename(target)
    return fds


def sc_stale_files(ctx):
    arena, d = ctx.path("stale.arena"), ctx.path("files")
    os.mkdir(d)
    with open(os.path.join(d, "input.txt"), "w") as f:
        f.write("input line 1\ninput line 2\n")
    with open(os.path.join(d, "other.txt"), "w") as f:
        f.write("other line 1\nother line 2\n")
    text = "".join(ctx.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(3000)) + "\n"

    p = ctx.spawn(ctx.lp(arena, script("stale_files.lua"), d, "1"), "stale-1")
    p.wait_line("READY")
    old_fds = open_fds(p.pid, d)
    expect_equal("run 1: io.type of the open files", fields_after(p, "types"), ["file"] * 3)
    expect_equal("run 1: first line read", fields_after(p, "first"), ["input", "line", "1"])
    p.kill9()

    p = ctx.spawn(ctx.lp(arena, script("stale_files.lua"), d, "2", text), "stale-2")
    p.wait_line("OPENED")
    new_fds = open_fds(p.pid, d)
    p.send("go\n")
    p.wait_line("DONE")
    finish_ok(p, "run 2")
    got = {}
    for l in p.lines:
        k, _, rest = l.partition(" ")
        got.setdefault(k, rest)
    closed = "error: attempt to use a closed file"
    want = {
        "types": "closed file closed file closed file",
        "tostring": "file (closed)",
        "write_stale": closed,
        "flush_stale": closed,
        "seek_stale": closed,
        "read_stale": closed,
        "tmp_stale": closed,
        "close_stale": closed,
        "other_read": "other line 1",
        "new_close": "true",
        "other_read2": "other line 2",
        "readback": f"{len(text)} true",
        "std_types": "file file file",
    }
    for k, v in want.items():
        if got.get(k) != v:
            raise Failure(f"run 2: {k}: got {got.get(k)!r}, expected {v!r}\n{p.transcript()}")
    check(got.get("lines_stale", "").startswith("error: ") and "closed" in got["lines_stale"],
          f"run 2: the old io.lines iterator: {got.get('lines_stale')!r}")
    check("stdout works" in p.lines, "run 2: io.stdout:write did not reach stdout")
    check("stderr works" in p.stderr(), f"run 2: io.stderr:write did not reach stderr: {p.stderr()!r}")
    for name, want_text in (("old.txt", "written in run 1\n"), ("new.txt", text), ("kept.txt", "from run 2\n"),
                            ("input.txt", "input line 1\ninput line 2\n"),
                            ("other.txt", "other line 1\nother line 2\n")):
        with open(os.path.join(d, name)) as f:
            content = f.read()
        check(content == want_text, f"after run 2: {name} holds {content[:200]!r}, expected {want_text[:200]!r}")

    p = ctx.spawn(ctx.lp(arena, script("stale_files.lua"), d, "3"), "stale-3")
    finish_ok(p, "run 3")
    expect_equal("run 3: io.type(kept)", fields_after(p, "types"), ["closed", "file"])
    expect_equal("run 3: writing to kept", " ".join(fields_after(p, "write_kept")), closed)
    with open(os.path.join(d, "kept.txt")) as f:
        expect_equal("after run 3: kept.txt", f.read(), "from run 2\n")
    reused = sorted(f"{name} got fd {fd}, {old_fds[fd]}'s in run 1" for fd, name in new_fds.items() if fd in old_fds)
    log(f"  run 1 files: {sorted(old_fds.items())}; run 2: {'; '.join(reused) or 'no descriptor reused'}")
    log("  stale handles are closed files after kill -9 and after exit; new files are not disturbed by them")


# -------------------------------------------------------------------------- c_modules

def sc_c_modules(ctx):
    arena = ctx.path("cmod.arena")
    endings = ["return", "kill", "return", "kill", "return"]
    for run, how in enumerate(endings, 1):
        nums = [ctx.rng.randint(-1000, 1000) for _ in range(ctx.rng.randint(1, 8))]
        doc = {"name": f"doc{run}", "list": nums, "nested": {"flag": run % 2 == 0, "text": "caf\u00e9"}}
        p = ctx.spawn(ctx.lp(arena, script("c_modules.lua"), how, json.dumps(doc)), f"cmod-{run}")
        port = int(fields_after(p, "port")[0])
        token = f"tok{ctx.rng.randint(0, 10**9)}"
        with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
            conn.sendall((token + "\n").encode())
            reply = conn.makefile().readline()
        expect_equal(f"run {run}: the reply of the server bound in this run", reply, f"echo {token} run {run}\n")
        p.wait_line(r"cmods \d+")
        end_run(p, how, f"run {run}", "READY")
        where = f"run {run}"
        expect_equal(f"{where}: runs", fields_after(p, "run"), [str(run)])
        got = json.loads(" ".join(fields_after(p, "json")))
        want = dict(doc, run=run, sum=sum(nums))
        expect_equal(f"{where}: cjson round trip", got, want)
        expect_equal(f"{where}: the cjson.encode kept from run 1", " ".join(fields_after(p, "json_old_fn")),
                     f'[{run},"x"]')
        now = time.time()
        for t in fields_after(p, "time"):
            check(abs(float(t) - now) < 30, f"{where}: socket.gettime() = {t}, now is {now:.3f}")
        old = " ".join(fields_after(p, "old_accept"))
        if run == 1:
            expect_equal(f"{where}: accept on the live server", old, "connection nil")
            sent = fields_after(p, "old_send")
            check(len(sent) == 2 and float(sent[0]) == 1 and sent[1] == "nil",
                  f"{where}: send of 1 byte on the live client returned {sent}")
        elif run <= 3:
            expect_equal(f"{where}: accept on the first run's server", old, "nil closed")
            expect_equal(f"{where}: send on the first run's client", " ".join(fields_after(p, "old_send")),
                         "nil closed")
        else:
            expect_equal(f"{where}: the old sockets", old, "dropped")
        if run > 1:
            expect_equal(f"{where}: accept on the previous run's server", " ".join(fields_after(p, "prev_accept")),
                         "closed")
        cmods = int(fields_after(p, "cmods")[0])
        # The modules recorded by the last commit: none before the first one.
        check(cmods >= 2 or run == 1,
              f"{where}: palloc.stats().c_modules = {cmods}, expected at least 2 (socket.core, cjson)")
        log(f"  run {run}: cjson, socket.gettime, old sockets closed, new server served the driver; "
            f"{cmods} C modules; ended by {how}")


# --------------------------------------------------------------------- changed_binary

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


def sc_changed_binary(ctx):
    bindir = ctx.path("bin")
    os.mkdir(bindir)
    copy = os.path.join(bindir, "lua-persist")
    shutil.copy2(ctx.args.lua_persist, copy)
    with open(copy, "rb") as f:
        original = f.read()
    off, n = elf_build_id(original)
    old_id = original[off:off + n].hex()
    changed = bytearray(original)
    changed[off] ^= 0xff
    new_id = changed[off:off + n].hex()

    def install(data):
        with open(copy, "r+b") as f:  # in place: same file, same path
            f.seek(off)
            f.write(data[off:off + 1])

    arena = ctx.path("changed.arena")

    def counter(want, arena_path=arena, extra=()):
        rc, out, err = ctx.run([copy, "--arena", arena_path, *extra, script("counter.lua"), "return"])
        check(rc == 0 and out == f"count {want}\n",
              f"{' '.join(extra) or 'run'} on {os.path.basename(arena_path)}: status {rc}, stdout {out!r}, "
              f"expected 'count {want}'; stderr {err!r}")
        return err

    def refused(when):
        rc, out, err = ctx.run([copy, "--arena", arena, script("counter.lua"), "return"])
        if rc != EXIT_CANNOT_RESUME:
            raise Failure(f"{when}: the changed executable (build-id {old_id} -> {new_id}) was not refused: status "
                          f"{rc}, expected {EXIT_CANNOT_RESUME}\n  stdout: {out!r}\n  stderr: {err!r}")
        check(copy in err, f"{when}: the message does not name the changed executable {copy}: {err!r}")
        check("build-id" in err or "changed" in err, f"{when}: the message does not say what changed: {err!r}")
        check("--fresh" in err, f"{when}: the message does not suggest --fresh: {err!r}")
        check(out == "", f"{when}: the refused run printed {out!r}")
        return err

    counter(1)
    counter(2)
    install(changed)
    readelf = shutil.which("readelf")
    if readelf:
        shown = subprocess.run([readelf, "-n", copy], capture_output=True, text=True).stdout
        check(new_id in shown, f"readelf does not show the changed build-id {new_id}:\n{shown}")
    err = refused("after changing the build-id")
    log(f"  changed build-id refused (status 70): {err.strip().splitlines()[0][:200]}")

    # The refusal left the state alone: the original executable resumes it.
    install(original)
    counter(3)
    install(changed)
    refused("changed again")

    err = counter(1, extra=("--fresh",))
    m = re.search(r"previous state is kept in (\S+)", err)
    check(m is not None, f"--fresh did not say where the old state went: {err!r}")
    backup = m.group(1)
    check(backup.startswith(arena + ".bak-") and os.path.exists(backup), f"--fresh: no backup file {backup}")
    for suffix in (".wal0", ".wal1"):
        check(os.path.exists(backup + suffix), f"--fresh: the backup lacks {backup + suffix}")
    counter(2)
    # The backup is the old state: the original executable resumes it at count 3.
    install(original)
    counter(4, arena_path=backup)
    log(f"  the original executable resumed the state after the refusal; --fresh started over and kept "
        f"{os.path.basename(backup)}, which the original executable resumes")


# -------------------------------------------------------------------- host_palloc_run

def sc_host_palloc_run(ctx):
    arena = ctx.path("host.arena")
    endings = ["return", "kill", "kill", "return", "kill", "return", "return", "kill"]
    for run, how in enumerate(endings, 1):
        cmd = [ctx.args.palloc, "run", "--arena", arena, "--", ctx.args.host, script("host_count.lua"), how]
        p = ctx.spawn(cmd, f"host-{run}")
        got = fields_after(p, "runs")
        want = [str(run), str(run), str(10 * run * (run + 1) // 2), "true" if run > 1 else "false"]
        if got != want:
            raise Failure(f"run {run}: runs, history length, sum, resumed = {got}, expected {want}\n{p.transcript()}")
        end_run(p, how, f"run {run}", "committed")
    log(f"  lua-host under palloc run: {len(endings)} runs ({endings.count('kill')} killed), counts as expected")


# ------------------------------------------------------------------------ large_heap

def sc_large_heap(ctx):
    free = shutil.disk_usage(ctx.dir).free
    if free < 6 << 30:
        raise Skip(f"only {free / 2**30:.1f} GiB free in {ctx.dir}; large_heap needs 6")
    n, size = 1100, 1 << 20
    arena = ctx.path("large.arena")
    samples = sorted({1, 2, n // 2, n} | {ctx.rng.randint(1, n) for _ in range(6)})
    args = [str(n), str(size), ",".join(map(str, samples))]

    def expected_sample(i):
        s = (b"%015d|" % i) * (size // 16)
        h = 0
        for j in range(0, len(s), 4093):
            h = (h + s[j] * (j + 1)) % M32
        return [str(i), str(h), s[:16].decode(), s[-16:].decode()]

    times = []
    for run in (1, 2):
        t0 = time.monotonic()
        p = ctx.spawn(ctx.lp(arena, "--max-size", "8G", script("large_heap.lua"), *args), f"large-{run}")
        rc = p.finish(timeout=300)
        end = time.monotonic()
        times.append(end - t0)
        check(rc == 0, f"run {run} exited with status {rc}\n{p.transcript()}")
        if run == 1:
            expect_equal("run 1: built", fields_after(p, "built"), [str(n)])
        else:
            check(not any(l.startswith("built") for l in p.lines), "run 2 built the table again: it was not resumed")
        expect_equal(f"run {run}: entries, total length, wrong lengths", fields_after(p, "entries"),
                     [str(n), str(n * size), "0"])
        got = [l.split(" ")[1:] for l in p.lines if l.startswith("sample ")]
        expect_equal(f"run {run}: sampled entries", got, [expected_sample(i) for i in samples])
        lua_bytes, arena_bytes, resumed = fields_after(p, "stats")
        check(int(lua_bytes) >= n * size, f"run {run}: stats().lua_bytes = {lua_bytes}, expected >= {n * size}")
        expect_equal(f"run {run}: stats().resumed", resumed, "true" if run == 2 else "false")
        first, last = p.times[0] - t0, p.times[-1] - t0
        expect_equal(f"run {run}: the state existed at start", fields_after(p, "begin"), ["true" if run > 1 else "false"])
        log(f"  run {run}: {times[-1]:.1f} s wall: start{' and resume' if run > 1 else ''} {first:.1f} s, "
            f"script {last - first:.1f} s "
            f"({fields_after(p, 'cpu')[0]} s Lua CPU), exit with its commit {end - t0 - last:.1f} s; lua_bytes "
            f"{int(lua_bytes) / 2**30:.2f} GiB, arena {int(arena_bytes) / 2**30:.2f} GiB")
    log(f"  large heap: build+commit {times[0]:.1f} s, resume+verify {times[1]:.1f} s")


# ------------------------------------------------------------------ coroutine_commit

def sc_coroutine_commit(ctx):
    arena = ctx.path("co.arena")
    p = ctx.spawn(ctx.lp(arena, script("coroutine_commit.lua"), "first"), "co-1")
    expect_equal("run 1: sus", fields_after(p, "sus"), ["true", "101"])
    got = fields_after(p, "COMMITTED")
    expect_equal("run 1: statuses inside co2 (co1, co2, inner)", got[1:], ["normal", "running", "suspended"])
    p.kill9()
    dead = ["false", "cannot", "resume", "dead", "coroutine"]
    inner = {2: (["true", "inner2"], "suspended", "suspended"),
             3: (["true", "inner", "done"], "dead", "suspended"),
             4: (dead, "dead", "dead")}
    for run, how in ((2, "kill"), (3, "return"), (4, "return")):
        p = ctx.spawn(ctx.lp(arena, script("coroutine_commit.lua"), how), f"co-{run}")
        end_run(p, how, f"run {run}", "READY")
        where = f"run {run}"
        expect_equal(f"{where}: run", fields_after(p, "run"), [str(run)])
        expect_equal(f"{where}: state", " ".join(fields_after(p, "state")),
                     f"50 {sum(3 * i for i in range(1, 51))} co1 was here co2 was here inner1 nil nil nil")
        want_inner, after_status, before_status = inner[run]
        expect_equal(f"{where}: status of co1, co2, sus, inner", fields_after(p, "status"),
                     ["dead", "dead", "suspended", before_status])
        expect_equal(f"{where}: resuming co1", fields_after(p, "resume_co1"), dead)
        expect_equal(f"{where}: resuming co2", fields_after(p, "resume_co2"), dead)
        expect_equal(f"{where}: resuming sus", fields_after(p, "sus"), ["true", str(100 + run)])
        expect_equal(f"{where}: resuming inner", fields_after(p, "inner"), want_inner)
        expect_equal(f"{where}: inner afterwards", fields_after(p, "inner_status"), [after_status])
        expect_equal(f"{where}: a new coroutine", fields_after(p, "new"), ["42", "22"])
        expect_equal(f"{where}: the main thread", fields_after(p, "running"), ["false", "true"])
        log(f"  run {run}: co1/co2 dead, state kept, sus at {100 + run}, inner as expected; ended by {how}")


# --------------------------------------------------------------------------- locked

def sc_locked(ctx):
    arena = ctx.path("locked.arena")
    first = ctx.spawn(ctx.lp(arena, script("locked.lua"), "wait"), "locked-first")
    first.wait_line("READY")
    files = [arena, arena + ".wal0", arena + ".wal1"]
    rc, out, err = ctx.run(ctx.lp(arena, script("locked.lua")), timeout=60)
    if rc != EXIT_CANNOT_RESUME:
        raise Failure(f"a second lua-persist on the arena in use: status {rc}, expected {EXIT_CANNOT_RESUME}\n"
                      f"  stdout: {out!r}\n  stderr: {err!r}")
    check(re.search(rf"\b{first.pid}\b", err), f"the message does not name pid {first.pid}: {err!r}")
    check(out == "", f"the refused run printed {out!r}")
    log(f"  second instance refused (status 70): {err.strip().splitlines()[0][:160]}")
    rc, out, err = ctx.run(ctx.lp(arena, "--fresh", script("locked.lua")), timeout=60)
    check(rc == EXIT_CANNOT_RESUME, f"--fresh on the arena in use: status {rc}, expected 70: {err!r}")
    check(not [f for f in os.listdir(ctx.dir) if ".bak-" in f], "--fresh on the arena in use made a backup")
    check(all(os.path.exists(f) for f in files[:2]), "--fresh on the arena in use moved the arena")
    check(first.alive(), "the first instance died")
    finish_ok(first, "the first instance")
    rc, out, err = ctx.run(ctx.lp(arena, script("locked.lua")))
    check(rc == 0 and out == "runs 2\n", f"after the first instance ended: status {rc}, {out!r}, {err!r}")
    log("  --fresh refused too; the first instance was undisturbed and the next run counts 2")


# ----------------------------------------------------------------------------- main

SCENARIOS = {
    "types": sc_types,
    "counter100": sc_counter100,
    "kill_write_loop": sc_kill_write_loop,
    "repl_pty": sc_repl_pty,
    "stale_files": sc_stale_files,
    "c_modules": sc_c_modules,
    "changed_binary": sc_changed_binary,
    "host_palloc_run": sc_host_palloc_run,
    "large_heap": sc_large_heap,
    "coroutine_commit": sc_coroutine_commit,
    "locked": sc_locked,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lua-persist", required=True)
    ap.add_argument("--palloc", required=True)
    ap.add_argument("--host", required=True, help="lua-host (tests/lua/host.c)")
    ap.add_argument("--workdir", required=True, help="where the temporary directory is made")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    args = ap.parse_args()
    for opt in ("lua_persist", "palloc", "host"):
        path = os.path.abspath(getattr(args, opt))
        if not os.access(path, os.X_OK):
            print(f"test_lua.py: --{opt.replace('_', '-')} {path} is not an executable", file=sys.stderr)
            return 1
        setattr(args, opt, path)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    os.makedirs(args.workdir, exist_ok=True)
    directory = tempfile.mkdtemp(prefix=f"lua-{args.scenario}-", dir=os.path.abspath(args.workdir))
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
