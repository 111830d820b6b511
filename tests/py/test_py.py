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
  streams          a Python-level sys.stdout whose flush() runs inside commits: commits
                   never nest, a KeyboardInterrupt raised there reaches the program
  watchdog         faulthandler.dump_traceback_later() armed at the commit: armed again
                   after a kill -9 and restart; cancelling it does not hang
  tracing          sys.settrace and sys.setprofile functions set before a kill -9 are
                   set after the restart and see the program and its on_resume handler,
                   none of py-persist's own code; at the prompt (-i), only the statements

Exit status: 0 passed, 1 failed (with the reasons), 77 skipped.
"""

import collections
import datetime
import decimal
import fractions
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from interp_test import (EXIT_CANNOT_RESUME, LINE_TIMEOUT, ChangedCopy, Ctx, Failure, Pty, Skip, check,
                         check_lines, expect_equal, fields_after, finish_with, kill_write_loop, log)
import interp_test

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")


class PyCtx(Ctx):
    def __init__(self, args, directory, rng):
        # The interpreter must not pick up the driver's Python settings (the driver may
        # run under another Python) nor palloc settings from the caller.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTHON", "PALLOC_", "PY_PERSIST_")) and k not in ("LD_PRELOAD", "VIRTUAL_ENV")}
        env["XDG_DATA_HOME"] = os.path.join(directory, "xdg")  # in case an arena were not passed
        super().__init__(args, directory, rng, env, args.py_persist)

    pp = Ctx.interp


def script(name):
    return os.path.join(SCRIPTS, name)


def rest_after(proc, key, timeout=LINE_TIMEOUT, start=0):
    """The rest of the first line "KEY ..." as one string."""
    return " ".join(fields_after(proc, key, timeout, start))


def message(ctx, text, limit=200):
    """The first line of a message, shortened for the log ($DIR for the scenario's directory)."""
    lines = text.strip().splitlines() or [""]
    return lines[0].replace(ctx.dir, "$DIR")[:limit]


def line_of(*parts):
    """What print(*parts) writes (without the newline)."""
    return " ".join(str(p) for p in parts)


# ---------------------------------------------------------------------------- types

def script_module(name):
    """A test script loaded as a module (its `if __name__ == "__main__"` part, which
    needs py-persist, does not run): the driver's copy of its definitions."""
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), script(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# pp_types.py's first-run values and its text of a value (sets sorted, cycles marked):
# the model below starts from the same values and advances them on its own.
PP_TYPES = script_module("pp_types.py")
canon = PP_TYPES.canon


class TypesModel:
    """What pp_types.py must print in run k, computed here step by step."""

    def __init__(self, seed):
        self.k = 0
        # The first run's plain values (data, od, dd, dq, counter, Point, pt, base, stamp,
        # delta, dctx, dacc, facc, json), as pp_types.py makes them.
        vars(self).update(PP_TYPES.initial_values())
        self.x = 3
        self.n = 100
        self.fib = [0, 1]
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
        # The collections after k runs in closed form (the script changes them once a run;
        # the first-run values here stay as they are).
        first = list(self.od.items())
        od = first[k % len(first):] + first[:k % len(first)]  # the first key moved to the end k times
        dd = sorted((r, list(range(r or 3, k + 1, 3))) for r in {j % 3 for j in range(1, k + 1)})
        # append(j) then appendleft(-j) on a deque of 4: from run 2 on, -k, then -1 1 2 stay.
        dq = [-k, -1, 1, 2] if k > 1 else [-1, 1]
        counter = self.counter + collections.Counter("".join(f"run{j}" for j in range(1, k + 1)))
        pt = self.Point(self.pt.x + k * (k + 1) // 2, self.pt.y)
        out["collections"] = line_of(od, dd, dq, sorted(counter.items()), pt, pt._asdict(), ("x", "y"))
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
        got = check_lines(p)
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

def sc_kill_write_loop(ctx):
    kill_write_loop(ctx, script("pp_writeloop.py"), explicit_slow=(0.2, 0.5), periodic_delays=(0.25, 0.6))


# --------------------------------------------------------------------------- repl_pty

class PyPty(Pty):
    """py-persist's REPL on a pseudo-terminal: prompts ">>> " and "... "."""

    def __init__(self, ctx, cmd, name):
        super().__init__(ctx, cmd, name, r">>> $")

    def more(self, line):
        """Types a line that leaves a compound statement open: python3 answers with the
        continuation prompt."""
        self.send(line + "\n")
        m = self.expect(re.escape(line) + r"\n(.*?)(\.\.\.|>>>) $")
        if m.group(2) != "...":
            raise Failure(f"{self.name}: after {line!r} the statement ran (output {m.group(1)!r}) and the primary "
                          f"prompt came back; python3 waits for the rest of the compound statement with '... '")

    def ctrl_c(self, typed, wait):
        """Types `typed`, waits `wait` seconds and presses Ctrl-C: python3 reports
        KeyboardInterrupt and shows a new primary prompt."""
        self.send(typed)
        time.sleep(wait)
        self.send("\x03")
        self.expect(r"KeyboardInterrupt\n>>> $")


def sc_repl_pty(ctx):
    arena = ctx.path("repl.arena")
    resumed_banner = r"py-persist: resumed the session of epoch (\d+), committed (\d+) s ago \(([^)]*)\)\n>>> $"
    ptys = []
    try:
        # Session 1: define variables, a multi-line function and a class; Ctrl-D.
        s = PyPty(ctx, ctx.pp(arena), "REPL session 1")
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
        s.check_statement("print('CHECK1', f(1), acc.add(5), acc.add(items[2]))", "CHECK1 84 5 8", "session 1")
        s.ctrl_d()

        # Session 2: resumed; the definitions are there; then kill -9 after a statement.
        s = PyPty(ctx, ctx.pp(arena), "REPL session 2")
        ptys.append(s)
        m = s.expect(resumed_banner)
        check(m.group(3) == arena, f"session 2: the banner names {m.group(3)!r}, not the arena {arena!r}")
        check("new persistent session" not in s.text(), f"session 2 claims to be new:\n{s.text()}")
        s.check_statement("print('CHECK2', x, items, f(2), acc.add(1), Acc.total, type(acc).__name__)",
                          "CHECK2 41 [1, 2, 3] 86 9 9 Acc", "session 2")
        out = s.statement("x * 1000 + len(items)")
        check(out.strip() == "41003", f"session 2: an expression statement displayed {out!r}, expected 41003")
        s.check_statement("1/0", "ZeroDivisionError", "session 2")
        s.statement("import palloc")
        e = int(s.statement_value("print('EPOCH', palloc.epoch())", r"EPOCH (\d+)"))
        s.statement("items.append(f(100))")
        # The prompt after a statement comes after its commit: kill -9 now.
        s.kill9()

        # Session 3: the killed session's last statement is there. Ctrl-C at the prompt and
        # in a running loop.
        s = PyPty(ctx, ctx.pp(arena), "REPL session 3")
        ptys.append(s)
        m = s.expect(resumed_banner)
        # One commit after each of `print(...)` and `items.append(...)`.
        expect_equal("session 3: the resumed epoch", int(m.group(1)), e + 2)
        s.check_statement("print('CHECK3', items, acc.add(0), palloc.resumed())",
                          "CHECK3 [1, 2, 3, 282] 9 True", "session 3")
        s.ctrl_c("half typed", 0.2)
        s.check_statement("print('CHECK4', 'after Ctrl-C')", "CHECK4 after Ctrl-C", "session 3")
        s.statement("n = 0")
        s.more("while True: n += 1")
        s.ctrl_c("\n", 0.5)
        s.check_statement("print('CHECK5', n > 0)", "CHECK5 True", "session 3")
        s.statement("x = 'three'")
        s.ctrl_d()

        rc, out, err = ctx.run(ctx.pp(arena, "-c", "print(x, items[-1], acc.add(1), n > 0)"))
        check(rc == 0 and out == "three 282 10 True\n", f"after session 3: status {rc}, output {out!r}, {err!r}")

        # Session 4, with periodic commits: a loop killed with -9 comes back with the progress
        # of its last periodic commit, at the prompt.
        s = PyPty(ctx, ctx.pp(arena, "--commit-interval", "50"), "REPL session 4")
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
    binary = ChangedCopy(ctx.args.py_persist, ctx.path("bin"))
    copy = binary.path
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
    binary.change()
    # The changed copy still runs (a fresh arena works) ...
    count(1, arena_path=ctx.path("other.arena"))
    # ... but refuses the state the unchanged one committed.
    err = refused(ctx, [copy, "--arena", arena, counter, "return"],
                  f"the changed executable (build-id {binary.old_id} -> {binary.new_id})", must_name=copy)
    log(f"    changed build-id refused (status 70): {message(ctx, err, 260)}")
    binary.restore()
    count(3)  # the refusal left the state alone
    binary.change()
    err = count(1, extra=("--fresh",))
    m = re.search(r"(" + re.escape(arena) + r"\.bak-\S+)", err)
    backups = [f for f in os.listdir(ctx.dir) if f.startswith("changed.arena.bak-") and ".wal" not in f]
    check(len(backups) == 1, f"--fresh: expected one backup changed.arena.bak-*, found {backups}; stderr {err!r}")
    backup = os.path.join(ctx.dir, backups[0])
    check(m is None or m.group(1).rstrip(".,;:)") == backup, f"--fresh names {m and m.group(1)}, found {backup}")
    count(2)
    binary.restore()
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


# ------------------------------------------------------------------------- streams

def sc_streams(ctx):
    """A Python-level sys.stdout: its flush() runs inside commits."""
    arena = ctx.path("streams.arena")
    # The program runs for about 2 s; commits nesting inside flush() would never let it end.
    p = ctx.spawn(ctx.pp(arena, "--commit-interval", "50", script("pp_streams.py")), "streams")
    f = fields_after(p, "streams", timeout=60)
    finish_with(p, 0, "the run")
    check(len(f) == 5, f"the result line has {len(f)} fields: {f}")
    calls, depth, caught_loop, caught_commit, commits = map(int, f)
    check(calls >= 4, f"flush was called {calls} times: the periodic commits did not flush sys.stdout")
    expect_equal("deepest nesting of flush() (a commit started inside another commit's flush)", depth, 1)
    expect_equal("KeyboardInterrupts from flush() inside a periodic commit that reached the program", caught_loop, 1)
    expect_equal("KeyboardInterrupts from flush() inside palloc.commit() that reached the program", caught_commit, 1)
    check(commits >= 2, f"only {commits} commits were made")
    log(f"  {calls} flushes in {commits} commits, never nested; the KeyboardInterrupt raised in a periodic "
        "commit's flush and in palloc.commit()'s reached the program")


# ------------------------------------------------------------------------ watchdog

def sc_watchdog(ctx):
    """faulthandler.dump_traceback_later() armed at the commit a restart resumes."""
    arena = ctx.path("watchdog.arena")
    p = ctx.spawn(ctx.pp(arena, script("pp_watchdog.py")), "watchdog-1")
    p.wait_line("armed")
    p.kill9()
    p = ctx.spawn(ctx.pp(arena, script("pp_watchdog.py")), "watchdog-2")
    p.wait_line("cancelled", timeout=30)
    p.wait_line(r"done 2 [0-9.]+", timeout=30)
    finish_with(p, 0, "the resumed run")
    err = p.stderr()
    check("Timeout (0:00:01.500000)!" in err,
          f"the watchdog armed at the commit did not fire in the resumed process:\n{err[-1500:]}")
    check("Timeout (0:00:00.300000)!" in err, f"a watchdog armed after the resume did not fire:\n{err[-1500:]}")
    log("  a watchdog armed at the commit fired in the resumed process; cancelling it and arming a new one worked")


# ------------------------------------------------------------------------- tracing

def sc_tracing(ctx):
    """The program's trace and profile functions across a kill -9 and restart."""
    arena = ctx.path("tracing.arena")
    program = script("pp_tracing.py")
    p = ctx.spawn(ctx.pp(arena, program), "tracing-1")
    p.wait_line("committed")
    p.kill9()
    p = ctx.spawn(ctx.pp(arena, program), "tracing-2")
    resumed = fields_after(p, "resumed")
    files = fields_after(p, "files")
    handler = fields_after(p, "handler")
    work = fields_after(p, "work")
    finish_with(p, 0, "the resumed run")
    expect_equal("run number; sys.gettrace() and sys.getprofile() are the program's functions", resumed,
                 ["2", "True", "True"])
    check(len(files) == 1 and os.path.samefile(files[0], program),
          f"the trace and profile functions saw code other than the program's: {files}")
    expect_equal("the on_resume handler's call was traced", handler, ["True"])
    expect_equal("a call of the resumed program was traced", work, ["True"])
    # The interactive prompt (-i reads its statements from the pipe, as python3 -i does):
    # statements are traced as python3's are, the compile step between them is not.
    statements = ("sys.settrace(tracer); sys.setprofile(profiler)\n"
                  "del events[:]\n"
                  "g = lambda: None\n"
                  "g()\n"
                  "sys.settrace(None); sys.setprofile(None)\n"
                  "print('repl', any(e[:2] == ('trace', 'call') and e[3] == '<lambda>' for e in events),"
                  " *sorted({e[2] for e in events}))\n")
    rc, out, err = ctx.run(ctx.pp(arena, "-i", "-q"), input_text=statements)
    check(rc == 0, f"the interactive session exited with status {rc}:\n{err[-1500:]}")
    repl = next((l.split()[1:] for l in out.splitlines() if l.startswith("repl ")), None)
    expect_equal("at the prompt: the lambda's call was traced, and the files the functions saw", repl,
                 ["True", "<stdin>"])
    log("  the functions survived the restart; they saw the on_resume handler and the program, nothing of "
        "py-persist; at the prompt only the statements")


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
    "streams": sc_streams,
    "watchdog": sc_watchdog,
    "tracing": sc_tracing,
}


if __name__ == "__main__":
    sys.exit(interp_test.main(__doc__, "test_py.py", "py", SCENARIOS, [("--py-persist", None)], PyCtx))
