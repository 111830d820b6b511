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

import json
import math
import os
import re
import shutil
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from interp_test import (EXIT_CANNOT_RESUME, ChangedCopy, Ctx, Failure, Pty, Skip, check, check_lines,
                         expect_equal, fields_after, finish_with, kill_write_loop, log)
import interp_test
from write_loop import fnv1a

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")


class LuaCtx(Ctx):
    def __init__(self, args, directory, rng):
        env = dict(os.environ)
        for name in ("LUA_INIT", "LUA_INIT_5_4", "PALLOC_ARENA", "PALLOC_VERBOSE", "PALLOC_COMMIT_INTERVAL_MS",
                     "PALLOC_DURABILITY", "PALLOC_MAX_SIZE"):
            env.pop(name, None)
        super().__init__(args, directory, rng, env, args.lua_persist)

    lp = Ctx.interp


def script(name):
    return os.path.join(SCRIPTS, name)


def end_run(proc, how, where, ready):
    """Ends a run of a script: how = "kill" waits for the line `ready` and kills it with
    SIGKILL; anything else closes stdin and expects exit status 0."""
    if how == "kill":
        proc.wait_line(ready)
        proc.kill9()
    else:
        finish_with(proc, 0, where)


# ------------------------------------------------------------------------ helpers

M32 = 1 << 32


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
        checks = check_lines(p)
        for name, want in types_expected_checks(run, exits, final).items():
            if checks.get(name) != want:
                raise Failure(f"run {run}: CHECK {name}: got {checks.get(name)!r}, expected {want!r}\n{p.transcript()}")
        if ending == "kill":
            p.kill9()
        else:
            if ending == "osexit":
                p.send("osexit\n")
            finish_with(p, 0, f"run {run} ({ending})")
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

def sc_kill_write_loop(ctx):
    kill_write_loop(ctx, script("writeloop.lua"), explicit_slow=(0.03, 0.35), periodic_delays=(0.1, 0.45))


# --------------------------------------------------------------------------- repl_pty

LUA_PROMPT = r"> $"  # the primary prompt (the continuation prompt is ">> ")



def sc_repl_pty(ctx):
    arena = ctx.path("repl.arena")
    ptys = []
    try:
        # Session 1: lua-persist -i; define things; Ctrl-D.
        s = Pty(ctx, ctx.lp(arena, "-i"), "REPL session 1", LUA_PROMPT)
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
        s.check_statement("print('CHECK1', f(1), g(4))", "CHECK1\t42\t8", "session 1")
        s.ctrl_d()
        ended = time.monotonic()

        # Session 2: no arguments on a terminal: the REPL again, resumed.
        s = Pty(ctx, ctx.lp(arena), "REPL session 2", LUA_PROMPT)
        ptys.append(s)
        m = s.expect(r"Lua 5\.4[^\n]*\nlua-persist: resumed the state of epoch (\d+), committed ([0-9.]+) s ago\n> $")
        age = float(m.group(2))
        check(0 <= age <= time.monotonic() - ended + 2, f"session 2: the commit is said to be {age} s old")
        s.check_statement("print('CHECK2', f(1), g(21), #t, t[3], msg)", "CHECK2\t42\t42\t3\t30\thi3", "session 2")
        s.statement("x = 1000")
        s.check_statement("print('CHECK3', f(1))", "CHECK3\t1001", "session 2")
        s.check_statement("error('boom')", "boom", "session 2")
        s.statement("e = require('palloc').epoch()")
        e = int(s.statement_value("print('EPOCH', e)", r"EPOCH\t(\d+)"))
        s.statement("y = f(100) .. '!'")
        # The prompt after a statement comes after its commit: kill -9 now.
        s.kill9()
        killed = time.monotonic()

        # Session 3: -i again: the killed session's last statement is there.
        s = Pty(ctx, ctx.lp(arena, "-i"), "REPL session 3", LUA_PROMPT)
        ptys.append(s)
        m = s.expect(r"lua-persist: resumed the state of epoch (\d+), committed ([0-9.]+) s ago\n> $")
        # A commit after each of the statements `e = ...`, `print(...)`, `y = ...`.
        expect_equal("session 3: the resumed epoch", int(m.group(1)), e + 3)
        check(float(m.group(2)) <= time.monotonic() - killed + 2, f"session 3: commit age {m.group(2)}")
        s.check_statement("print('CHECK4', y, x, f(2), g(5))", "CHECK4\t1100!\t1000\t1002\t10", "session 3")
        s.statement("x = 7")
        s.ctrl_d()

        rc, out, err = ctx.run(ctx.lp(arena, "-e", "print(x, y, f(1))"))
        check(rc == 0 and out == "7\t1100!\t8\n", f"after session 3: status {rc}, output {out!r}, {err!r}")

        # Session 4, with periodic commits: Ctrl-C stops a running loop (the REPL goes on),
        # and a loop killed with -9 comes back with the progress of its last periodic commit.
        s = Pty(ctx, ctx.lp(arena, "--commit-interval", "50", "-i"), "REPL session 4", LUA_PROMPT)
        ptys.append(s)
        s.expect(r"lua-persist: resumed the state of epoch \d+, committed [0-9.]+ s ago\n> $")
        s.statement("n = 0")
        s.send("while true do n = n + 1 end\n")
        time.sleep(0.5)
        s.send("\x03")
        s.expect(r"interrupted!.*?\n> $")
        n_stopped = int(s.statement_value("print('CHECK5', n)", r"CHECK5\t(\d+)"))
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
    finish_with(p, 0, "run 2")
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
    finish_with(p, 0, "run 3")
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

def sc_changed_binary(ctx):
    binary = ChangedCopy(ctx.args.lua_persist, ctx.path("bin"))
    copy = binary.path
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
            raise Failure(f"{when}: the changed executable (build-id {binary.old_id} -> {binary.new_id}) was not "
                          f"refused: status {rc}, expected {EXIT_CANNOT_RESUME}\n  stdout: {out!r}\n  stderr: {err!r}")
        check(copy in err, f"{when}: the message does not name the changed executable {copy}: {err!r}")
        check("build-id" in err or "changed" in err, f"{when}: the message does not say what changed: {err!r}")
        check("--fresh" in err, f"{when}: the message does not suggest --fresh: {err!r}")
        check(out == "", f"{when}: the refused run printed {out!r}")
        return err

    counter(1)
    counter(2)
    binary.change()
    err = refused("after changing the build-id")
    log(f"  changed build-id refused (status 70): {err.strip().splitlines()[0][:200]}")

    # The refusal left the state alone: the original executable resumes it.
    binary.restore()
    counter(3)
    binary.change()
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
    binary.restore()
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
    finish_with(first, 0, "the first instance")
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


if __name__ == "__main__":
    sys.exit(interp_test.main(__doc__, "test_lua.py", "lua", SCENARIOS,
                              [("--lua-persist", None), ("--palloc", None), ("--host", "lua-host (tests/lua/host.c)")],
                              LuaCtx))
