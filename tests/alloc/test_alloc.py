#!/usr/bin/env python3
"""Integration scenarios for the preloadable allocator (libpalloc.so) and `palloc run`.

The test programs (hashtable, threads, forkexec, workload; built from this directory)
print one event per line, `word key=value ...`. Each scenario runs them under
`palloc run` (or with PALLOC_ARENA and LD_PRELOAD), kills them with SIGKILL at random
moments, restarts them and checks what they resume against what they acknowledged.
Run one scenario per invocation:

    test_alloc.py --tool build/bin/palloc --lib build/lib/libpalloc.so \\
                  --bindir build-tests/bin --workdir /tmp SCENARIO [--cycles N] [--tracker T]

The programs link libpalloc; under `palloc run` or LD_PRELOAD the preloaded library is
the one used (same soname), so --tool/--lib may point at another build of the library
than the one the programs were linked with. --linked says they are the same build (the
`aslr` scenario then also runs the program with no preload at all). --seed reproduces a
run's random choices; the seed is printed first.
"""

import argparse
import json
import os
import random
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from interp_test import EXIT_SKIP as SKIP, Failure, Skip, check as expect

PALLOC_E_DETACHED = 13


def parse_event(line):
    """'word k=v k=v' -> (word, {k: v}); values that look like integers become ints."""
    parts = line.split()
    if not parts:
        return None, {}
    fields = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            if re.fullmatch(r"-?\d+", v):
                v = int(v)
            fields[k] = v
    return parts[0], fields


def group_alive(pgid):
    """Whether any non-zombie process of the process group remains."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2:].split()
        if int(rest[2]) == pgid and rest[0] != "Z":
            return True
    return False


class Proc:
    """A test program in its own process group; stdout read line by line, stderr to a file."""

    def __init__(self, env, argv, extra_env=None, base_env=None, stdin=subprocess.DEVNULL, label="run"):
        self.argv = [str(a) for a in argv]
        env.serial += 1
        self.err_path = env.path(f"{label}-{env.serial}.stderr")
        self.err_file = open(self.err_path, "wb")
        e = dict(base_env if base_env is not None else env.base_env)
        e.update(extra_env or {})
        self.p = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self.err_file, stdin=stdin,
                                  env=e, start_new_session=True)
        self.pgid = self.p.pid
        os.set_blocking(self.p.stdout.fileno(), False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.p.stdout, selectors.EVENT_READ)
        self.buf = b""
        self.eof = False
        self.events = []  # (word, fields, raw line)
        self.next_idx = 0
        self.killed = False
        env.procs.append(self)

    def _read(self, timeout):
        """Reads what is available within `timeout`; False at end of output or on timeout."""
        if self.eof or not self.sel.select(timeout):
            return False
        try:
            chunk = os.read(self.p.stdout.fileno(), 1 << 16)
        except BlockingIOError:
            return False
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            text = line.decode(errors="replace")
            w, f = parse_event(text)
            self.events.append((w, f, text))
        return True

    def stderr(self):
        if not self.err_file.closed:
            self.err_file.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace")

    def describe(self):
        rc = self.p.poll()
        out = "\n".join(t for _, _, t in self.events[-15:])
        return (f"command: {' '.join(self.argv)}\nexit status: {rc}\n"
                f"last stdout lines:\n{out}\nstderr:\n{self.stderr()[-4000:]}")

    def wait_event(self, words, timeout=60):
        """The next event (word, fields), after those returned before, whose word is in `words`."""
        if isinstance(words, str):
            words = (words,)
        deadline = time.monotonic() + timeout
        while True:
            while self.next_idx < len(self.events):
                w, f, _ = self.events[self.next_idx]
                self.next_idx += 1
                if w in words:
                    return w, f
            if self.eof:
                self.p.wait()
                raise Failure(f"the program ended before printing {'/'.join(words)}\n{self.describe()}")
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise Failure(f"timed out after {timeout} s waiting for {'/'.join(words)}\n{self.describe()}")
            self._read(min(left, 0.2))

    def pump(self, seconds):
        """Reads output for `seconds`; fails if the program ends meanwhile."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._read(min(left, 0.1))
            if self.p.poll() is not None:
                while self._read(0.05):
                    pass
                raise Failure(f"the program ended on its own (expected to be killed)\n{self.describe()}")

    def kill(self):
        """SIGKILL to the whole process group; waits until every member is gone."""
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.killed = True
        self.p.wait()
        deadline = time.monotonic() + 20
        while group_alive(self.pgid):
            if time.monotonic() > deadline:
                raise Failure(f"process group {self.pgid} survives SIGKILL")
            time.sleep(0.01)
        while self._read(0.05):
            pass
        self.close()

    def finish(self, timeout=120):
        """Waits for a normal end; returns the exit status."""
        deadline = time.monotonic() + timeout
        while self.p.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                raise Failure(f"timed out waiting for the program to end\n{self.describe()}")
            self._read(0.1)
        while self._read(0.05):
            pass
        self.close()
        return self.p.returncode

    def close(self):
        try:
            self.sel.unregister(self.p.stdout)
        except (KeyError, ValueError):
            pass
        self.p.stdout.close()
        self.err_file.close()

    def all(self, word):
        return [f for w, f, _ in self.events if w == word]


class Env:
    def __init__(self, args, name):
        self.tool = os.path.abspath(args.tool)
        self.lib = os.path.abspath(args.lib)
        self.bindir = os.path.abspath(args.bindir)
        self.linked = args.linked
        self.durability = args.durability
        os.makedirs(args.workdir, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=f"alloc-{name}-", dir=args.workdir)
        self.rng = random.Random(args.seed)
        self.serial = 0
        self.procs = []
        # A clean environment: nothing palloc-related leaks in from the caller.
        self.base_env = {k: v for k, v in os.environ.items()
                         if not k.startswith("PALLOC_") and k != "LD_PRELOAD"}

    def path(self, name):
        return os.path.join(self.dir, name)

    def prog(self, name):
        p = os.path.join(self.bindir, name)
        expect(os.access(p, os.X_OK), f"test program {p} is missing")
        return p

    def run_argv(self, arena, cmd, tracker=None, durability=None, interval=None):
        argv = [self.tool, "run", "--arena", arena]
        if tracker:
            argv += ["--tracker", tracker]
        if durability or self.durability:
            argv += ["--durability", durability or self.durability]
        if interval:
            argv += ["--commit-interval", str(interval)]
        return argv + ["--"] + [str(c) for c in cmd]

    def start(self, arena, cmd, tracker=None, label="run", interval=None, **kw):
        return Proc(self, self.run_argv(arena, cmd, tracker, interval=interval), label=label, **kw)

    def start_direct(self, arena, cmd, preload=True, extra=None, label="direct", **kw):
        """The program itself, no `palloc run`: ASLR as the caller has it."""
        e = {"PALLOC_ARENA": arena}
        if preload:
            e["LD_PRELOAD"] = self.lib
        e.update(extra or {})
        return Proc(self, [str(c) for c in cmd], extra_env=e, label=label, **kw)

    def tool_run(self, *args, timeout=60):
        return subprocess.run([self.tool, *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, env=self.base_env)

    def info(self, arena):
        p = self.tool_run("info", "--json", arena)
        expect(p.returncode == 0, f"palloc info --json {arena}: exit {p.returncode}\n{p.stderr}")
        return json.loads(p.stdout)

    def check_report(self, arena):
        p = self.tool_run("check", "--json", arena, timeout=300)
        try:
            return p.returncode, json.loads(p.stdout), p
        except json.JSONDecodeError:
            raise Failure(f"palloc check --json {arena}: exit {p.returncode}, no JSON\n{p.stdout}{p.stderr}")

    def check_healthy(self, arena, epoch=None):
        """`palloc check` finds nothing lost: healthy, or only repairable problems (commits
        not yet checkpointed, a checkpoint cut short by the exit, which the logs cover);
        then `palloc recover` makes it healthy at the same epoch."""
        rc, report, p = self.check_report(arena)
        severities = {q["severity"] for q in report["problems"]}
        expect(rc in (0, 1) and severities <= {"repairable"},
               f"palloc check {arena}: exit {rc}\n{p.stdout}{p.stderr}")
        if epoch is not None:
            expect(report["last_valid_epoch"] >= epoch,
                   f"palloc check: last valid epoch {report['last_valid_epoch']} < {epoch}")
        if rc != 0:
            r = self.tool_run("recover", arena, timeout=300)
            expect(r.returncode == 0, f"palloc recover {arena}: exit {r.returncode}\n{r.stdout}{r.stderr}")
            rc2, report2, p2 = self.check_report(arena)
            expect(rc2 == 0 and report2["last_valid_epoch"] == report["last_valid_epoch"],
                   f"after palloc recover: exit {rc2}\n{p2.stdout}{p2.stderr}")
        return report

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def uffd_supported(env):
    p = subprocess.run([env.prog("palloc-test-hashtable"), "--probe"], capture_output=True, text=True,
                       timeout=30, env=env.base_env)
    expect(p.returncode == 0, f"hashtable --probe failed: {p.stderr}")
    return parse_event(p.stdout.strip())[1].get("uffd") == 1


def need_tracker(env, tracker):
    if tracker == "uffd" and not uffd_supported(env):
        raise Skip("this kernel lacks the uffd tracker (Linux >= 6.7 with PAGEMAP_SCAN)")


# --- hashtable -------------------------------------------------------------------------

class Acked:
    """What the hashtable program acknowledged; checks what a restart resumes."""

    def __init__(self, every):
        self.every = every
        self.ops = None  # last acknowledged state: ops, digest, epoch
        self.digest = None
        self.epoch = 0
        self.history = []

    def take_commit(self, f, where):
        if self.ops is not None:
            expect(f["ops"] > self.ops or (f["ops"] == self.ops and f["digest"] == self.digest),
                   f"{where}: commit at ops {f['ops']} after ops {self.ops}")
        expect(f["epoch"] > self.epoch, f"{where}: epoch {f['epoch']} after {self.epoch}")
        self.ops, self.digest, self.epoch = f["ops"], f["digest"], f["epoch"]

    def check_start(self, word, f, where):
        """A run began with `fresh` or `resume`: is that what was committed?"""
        self.history.append((where, word, f.get("ops")))
        if word == "fresh":
            expect(self.ops is None or self.ops == 0 and self.every == 0,
                   f"{where}: started fresh, but ops {self.ops} were acknowledged")
            return
        ops = f["ops"]
        if self.ops is None:
            # The first commit (ops 0) may have landed without its line being printed.
            expect(ops == 0, f"{where}: resumed ops {ops}, but nothing was acknowledged")
        elif ops == self.ops:
            expect(f["digest"] == self.digest,
                   f"{where}: resumed ops {ops} with digest {f['digest']}, acknowledged {self.digest}")
        else:
            # The commit after the last acknowledged one may have landed before the kill.
            expect(self.every and ops == self.ops + self.every,
                   f"{where}: resumed ops {ops}; the last acknowledged commit is ops {self.ops}"
                   + (f" (the next one would be {self.ops + self.every})" if self.every else ""))
        expect(f["epoch"] >= self.epoch, f"{where}: resumed epoch {f['epoch']} < acknowledged {self.epoch}")
        self.ops, self.digest, self.epoch = ops, f["digest"], f["epoch"]

    def take_run(self, proc, where):
        """Checks a finished or killed run's events in order."""
        for w, f, _ in proc.events:
            if w in ("fresh", "resume"):
                self.check_start(w, f, where)
            elif w == "commit":
                self.take_commit(f, where)


def hashtable_cycles(env, start, cycles, every, min_ms=20, max_ms=600):
    """`cycles` runs of the hashtable program killed at random moments."""
    acked = Acked(every)
    prog = env.prog("palloc-test-hashtable")
    for c in range(cycles):
        where = f"cycle {c}"
        p = start([prog, "--commit-every", every, "--seed", 1 + c % 3], label=f"kill{c}")
        if c % 5 == 3:
            # Kill while it opens, recovers or verifies the heap.
            time.sleep(env.rng.uniform(0, 0.08))
            if p.p.poll() is not None:
                p.finish()
                raise Failure(f"{where}: the program ended on its own\n{p.describe()}")
            p.kill()
        else:
            p.wait_event(("resume", "fresh"), timeout=120)
            p.pump(env.rng.uniform(min_ms, max_ms) / 1000)
            p.kill()
        expect("FAIL" not in p.stderr(), f"{where}: {p.describe()}")
        acked.take_run(p, where)
    return acked


def final_run(env, start, acked, where="final run"):
    """A run that exits normally after a few operations; returns its last state."""
    prog = env.prog("palloc-test-hashtable")
    p = start([prog, "--commit-every", acked.every, "--ops", 500], label="final")
    rc = p.finish()
    expect(rc == 0, f"{where}: exit {rc}\n{p.describe()}")
    acked.take_run(p, where)
    fin = p.all("final")
    expect(len(fin) == 1, f"{where}: no final line\n{p.describe()}")
    return fin[0]


def s_hashtable_kill(env, args):
    need_tracker(env, args.tracker)
    arena = env.path("ht.arena")
    start = lambda cmd, label: env.start(arena, cmd, tracker=args.tracker, label=label)
    acked = hashtable_cycles(env, start, args.cycles, every=2000)
    expect(acked.ops is not None and acked.ops > 0, "no commit was ever acknowledged")
    resumes = sum(1 for _, w, _ in acked.history if w == "resume")
    waited = sum(1 for c in range(1, args.cycles) if c % 5 != 3)  # runs not killed early
    expect(resumes >= waited, f"only {resumes} of {args.cycles} runs resumed a heap")
    fin = final_run(env, start, acked)
    # The exit commit made the final state durable: the next run resumes it exactly.
    p = start([env.prog("palloc-test-hashtable"), "--commit-every", 0, "--ops", 0], label="after")
    w, f = p.wait_event(("resume", "fresh"))
    expect(w == "resume" and f["ops"] == fin["ops"] and f["digest"] == fin["digest"],
           f"after a normal exit at ops {fin['ops']}: resumed {f}")
    expect(p.finish() == 0, p.describe())
    env.check_healthy(arena)
    info = env.info(arena)
    expect(info["epoch"] >= acked.epoch, f"palloc info: epoch {info['epoch']} < {acked.epoch}")
    print(f"hashtable ({args.tracker}): {args.cycles} kill cycles, {resumes} resumed, "
          f"last ops {fin['ops']}, epoch {info['epoch']}, size {info['size']}")


def s_hashtable_exit(env, args):
    """Normal exits commit; a SIGKILL after uncommitted work loses exactly that work."""
    arena = env.path("ht.arena")
    prog = env.prog("palloc-test-hashtable")
    tracker = args.tracker
    state = None  # (ops, digest) the next run must resume
    for c in range(args.cycles):
        where = f"cycle {c}"
        n = env.rng.randint(300, 4000)
        kind = ["return", "exit", "hang"][c % 3]
        p = env.start(arena, [prog, "--commit-every", 0, "--ops", n, "--end", kind], tracker=tracker,
                      label=f"exit{c}")
        w, f = p.wait_event(("resume", "fresh"))
        if state is None:
            expect(w == "fresh", f"{where}: {w} {f} on a new arena")
        else:
            expect(w == "resume" and (f["ops"], f["digest"]) == state,
                   f"{where}: resumed {w} {f}, expected ops/digest {state}")
        if state is None:
            c0 = p.wait_event("commit")[1]
            state = (c0["ops"], c0["digest"])
        fin = p.wait_event("final", timeout=120)[1]
        expect(fin["ops"] == state[0] + n, f"{where}: final ops {fin['ops']}")
        if kind == "hang":
            p.kill()  # uncommitted: the next run resumes `state`
        else:
            rc = p.finish()
            expect(rc == 0, f"{where}: exit {rc}\n{p.describe()}")
            state = (fin["ops"], fin["digest"])
        expect("FAIL" not in p.stderr(), f"{where}: {p.describe()}")
    env.check_healthy(arena)
    print(f"hashtable exit: {args.cycles} runs, final ops {state[0]}")


def s_hashtable_background(env, args):
    """`palloc run --commit-interval`: commits from a background thread while the program
    allocates and frees; every kill resumes a heap that validates, and newer each time."""
    need_tracker(env, args.tracker)
    arena = env.path("bg.arena")
    prog = env.prog("palloc-test-hashtable")
    last_epoch = 0
    resumed = 0
    for c in range(args.cycles):
        where = f"cycle {c}"
        p = env.start(arena, [prog, "--commit-every", 0, "--heap-only"], tracker=args.tracker,
                      interval=5, label=f"bg{c}")
        w, f = p.wait_event(("resume-heap", "fresh"), timeout=120)
        if c == 0:
            expect(w == "fresh", f"{where}: {w} {f} on a new arena")
        else:
            expect(w == "resume-heap", f"{where}: {w} {f}: the background commits left no heap")
            expect(f["epoch"] > last_epoch,
                   f"{where}: resumed epoch {f['epoch']}, no newer than {last_epoch} after a run of "
                   "100+ ms with --commit-interval 5")
            last_epoch = f["epoch"]
            resumed += 1
        p.pump(env.rng.uniform(0.1, 0.5))
        p.kill()
        expect("FAIL" not in p.stderr(), f"{where}: {p.describe()}")
    env.check_healthy(arena)
    print(f"hashtable with background commits: {args.cycles} cycles, last epoch {last_epoch}")


def aslr_enabled():
    try:
        with open("/proc/sys/kernel/randomize_va_space") as f:
            if f.read().strip() == "0":
                return False
    except OSError:
        pass
    with open("/proc/self/personality") as f:
        return not (int(f.read().strip(), 16) & 0x0040000)  # ADDR_NO_RANDOMIZE


def s_hashtable_aslr(env, args):
    """No `palloc run`: PALLOC_ARENA (+ LD_PRELOAD), ASLR on. The table keeps only data."""
    if not aslr_enabled():
        raise Skip("ASLR is off on this machine (randomize_va_space 0 or ADDR_NO_RANDOMIZE)")
    arena = env.path("ht.arena")
    extra = {"PALLOC_TRACKER": args.tracker} if args.tracker else {}

    def start(cmd, label):
        # Every other run relies on the program being linked with libpalloc (same build).
        preload = not env.linked or env.rng.random() < 0.5
        return env.start_direct(arena, cmd, preload=preload, extra=extra, label=label)

    acked = hashtable_cycles(env, start, args.cycles, every=2000)
    fin = final_run(env, start, acked)
    p = start([env.prog("palloc-test-hashtable"), "--commit-every", 0, "--ops", 0], "after")
    w, f = p.wait_event(("resume", "fresh"))
    expect(w == "resume" and f["ops"] == fin["ops"] and f["digest"] == fin["digest"],
           f"after a normal exit at ops {fin['ops']}: resumed {f}")
    expect(p.finish() == 0, p.describe())
    # Prove ASLR was on: the stack and anonymous mappings moved between runs.
    starts = [f for proc in env.procs for f in proc.all("start")]
    stacks = {f.get("stack") for f in starts}
    maps = {f.get("mmap") for f in starts}
    expect(len(stacks) > 1 and len(maps) > 1,
           f"ASLR seems off: {len(starts)} runs had {len(stacks)} stack and {len(maps)} mmap addresses")
    env.check_healthy(arena)
    print(f"hashtable with ASLR: {args.cycles} cycles, {len(stacks)} distinct stacks, final ops {fin['ops']}")


# --- threads ---------------------------------------------------------------------------

def s_threads_kill(env, args):
    need_tracker(env, args.tracker)
    arena = env.path("threads.arena")
    prog = env.prog("palloc-test-threads")
    lenient = ["--lenient-count"] if args.lenient_count else []
    cmd = [prog, "--threads", args.threads, "--ops", args.ops, "--commit-ms", 3, "--forever"] + lenient
    rows = []
    for c in range(args.cycles):
        where = f"cycle {c}"
        p = env.start(arena, cmd, tracker=args.tracker, label=f"threads{c}")
        w, f = p.wait_event(("resume", "fresh"), timeout=120)
        expect((w == "fresh") == (c == 0), f"{where}: {w} {f}")
        base = p.wait_event("baseline", timeout=120)[1]
        work = p.wait_event("workload", timeout=300)[1]
        p.pump(env.rng.uniform(0.05, 0.5))
        p.kill()
        expect("FAIL" not in p.stderr(), f"{where}: {p.describe()}")
        rows.append((c, f.get("blocks", 0), f.get("live", 0), base["live"], work["live"], work["size"],
                     work["held"], work["commits"]))
    p = env.start(arena, [prog, "--threads", args.threads, "--ops", args.ops, "--commit-ms", 3,
                          "--exit-after-ms", 300] + lenient, tracker=args.tracker, label="threads-final")
    rc = p.finish(timeout=300)
    expect(rc == 0 and p.all("end"), f"final run: exit {rc}\n{p.describe()}")
    info = env.info(arena)
    table = "\n".join(f"  cycle {r[0]:2}: resumed {r[1]:5} blocks, live {r[2]:6}; baseline live {r[3]:6}; "
                      f"after workload live {r[4]:6}, size {r[5] >> 20} MiB, held {r[6]}, commits {r[7]}"
                      for r in rows)
    print(f"threads ({args.tracker}):\n{table}\n  arena size at the end: {info['size'] >> 20} MiB")
    # A fixed workload, repeated: live blocks after draining and the arena's size must
    # settle. Each killed run may leak what was in flight (a few blocks per thread) and
    # what the C library allocated (stdio buffers); nothing proportional to the workload.
    if len(rows) >= 3:
        first, last = rows[1], rows[-1]
        runs = last[0] - first[0]
        per_run = (last[3] - first[3]) / runs
        expect(per_run <= args.leak_blocks,
               f"live blocks after draining grow by {per_run:.0f} per run (limit {args.leak_blocks}):\n{table}")
        per_run = (last[4] - first[4]) / runs
        expect(per_run <= args.leak_blocks,
               f"live blocks after the workload grow by {per_run:.0f} per run:\n{table}")
        grow = last[5] - first[5]
        expect(grow <= args.grow_mib << 20,
               f"the arena grew by {grow >> 20} MiB over {runs} runs of the same workload "
               f"(limit {args.grow_mib} MiB):\n{table}")
        expect(info["size"] <= last[5] + (args.grow_mib << 20),
               f"palloc info size {info['size']} vs {last[5]} reported by the last run")
    env.check_healthy(arena)


# --- fork, exec, lock ------------------------------------------------------------------

def s_fork(env, args):
    arena = env.path("fork.arena")
    prog = env.prog("palloc-test-forkexec")
    digests = []
    for hang in (False, True, False):
        p = env.start(arena, [prog, "fork"] + (["--hang"] if hang else []) +
                      (["--no-child-grow"] if args.no_child_grow else []), tracker=args.tracker, label="fork")
        f = p.wait_event("parent", timeout=120)[1]
        children = p.all("child")
        expect(len(children) == 3, f"expected 3 child lines\n{p.describe()}")
        for ch in children:
            expect(ch["commit"] == -PALLOC_E_DETACHED,
                   f"a fork child's palloc_heap_commit() returned {ch['commit']}, not -{PALLOC_E_DETACHED}")
        if hang:
            p.kill()
        else:
            rc = p.finish()
            expect(rc == 0, f"fork run: exit {rc}\n{p.describe()}")
        expect("FAIL" not in p.stderr(), p.describe())
        digests.append(f["digest"])
        v = env.start(arena, [prog, "verify"], tracker=args.tracker, label="verify")
        rc = v.finish()
        expect(rc == 0, f"verify: exit {rc}\n{v.describe()}")
        vf = v.all("verify")
        expect(vf and vf[0]["digest"] == f["digest"],
               f"resumed digest {vf[0]['digest'] if vf else None}, the parent committed {f['digest']}")
    expect(len(set(digests)) == 3, f"the parent's runs did not change the heap: {digests}")
    env.check_healthy(arena)
    print(f"fork: 3 parent runs x 3 children, digests {digests}")


def check_env_file(path, how):
    with open(path) as f:
        text = f.read()
    expect("PATH=" in text, f"{how}: {path} holds no environment")
    for line in text.splitlines():
        expect(not line.startswith("PALLOC_"), f"{how}: an exec'd program sees {line}")
        expect(not (line.startswith("LD_PRELOAD=") and "libpalloc" in line), f"{how}: an exec'd program sees {line}")


def s_exec(env, args):
    arena = env.path("exec.arena")
    prog = env.prog("palloc-test-forkexec")
    for how in ("palloc run", "PALLOC_ARENA + LD_PRELOAD"):
        out = env.path("run" if how == "palloc run" else "direct")
        os.makedirs(out, exist_ok=True)
        if how == "palloc run":
            p = env.start(arena, [prog, "exec", out], tracker=args.tracker, label="exec")
        else:
            p = env.start_direct(arena, [prog, "exec", out], label="exec")
        rc = p.finish()
        expect(rc == 0 and p.all("exec"), f"{how}: exit {rc}\n{p.describe()}")
        for name in ("env-system.txt", "env-execv.txt", "env-spawn.txt"):
            check_env_file(os.path.join(out, name), f"{how}, {name}")
        with open(os.path.join(out, "probe.txt")) as f:
            probe = f.read()
        expect("arena=0 resumed=0" in probe, f"{how}: the exec'd program is persistent: {probe}")
    print("exec: system, popen, fork+exec and posix_spawn children see no preload and no PALLOC_ variables")


def s_lock(env, args):
    arena = env.path("lock.arena")
    prog = env.prog("palloc-test-forkexec")
    holder = env.start(arena, [prog, "hold"], tracker=args.tracker, label="holder", stdin=subprocess.PIPE)
    try:
        f = holder.wait_event("holding")[1]
        pid = f["pid"]
        expect(pid == holder.p.pid, f"holder pid {pid}, `palloc run` pid {holder.p.pid} (it should exec)")
        notes = []
        for how in ("palloc run", "PALLOC_ARENA + LD_PRELOAD"):
            if how == "palloc run":
                second = env.start(arena, [prog, "probe"], tracker=args.tracker, label="second")
            else:
                second = env.start_direct(arena, [prog, "probe"], label="second")
            rc = second.finish(timeout=60)
            err = second.stderr()
            expect(rc != 0, f"{how}: a second process on an arena in use exited 0\n{second.describe()}")
            expect(not second.all("probe"), f"{how}: the second process ran its program\n{second.describe()}")
            expect(re.search(rf"\b{pid}\b", err),
                   f"{how}: the error does not name the holder's pid {pid}:\n{err}")
            if rc != 70:
                notes.append(f"{how}: exit status {rc} (70 expected)")
        holder.p.stdin.close()
        rc = holder.finish()
        expect(rc == 0, f"holder: exit {rc}\n{holder.describe()}")
    except BaseException:
        if holder.p.poll() is None:
            holder.kill()
        raise
    # Released: the next process resumes it.
    p = env.start(arena, [prog, "probe"], tracker=args.tracker, label="after")
    rc = p.finish()
    f = p.all("probe")
    expect(rc == 0 and f and f[0]["arena"] == 1 and f[0]["resumed"] == 1,
           f"after the holder exited: exit {rc}\n{p.describe()}")
    print("lock: a second process is refused and names the holder" + ("; " + "; ".join(notes) if notes else ""))


# --- workload: every entry point -------------------------------------------------------

def s_workload_transient(env, args):
    p = Proc(env, [env.prog("palloc-test-workload"), "--expect-transient", "--rounds", 5],
             extra_env={"LD_PRELOAD": env.lib}, label="workload")
    rc = p.finish()
    expect(rc == 0 and p.all("workload"), f"exit {rc}\n{p.describe()}")


def s_workload_persistent(env, args):
    arena = env.path("wl.arena")
    for run in range(2):
        p = env.start(arena, [env.prog("palloc-test-workload"), "--expect-persistent", "--rounds", 3],
                      tracker=args.tracker, label="workload")
        rc = p.finish()
        f = p.all("workload")
        expect(rc == 0 and f and f[0]["resumed"] == run, f"run {run}: exit {rc}\n{p.describe()}")
    env.check_healthy(arena)


def s_free_pages(env, args):
    """A freed block's pages are left out of the next commit, and calloc over them after a
    restart still reads zeros (freepages.c builds the case; run with each tracker)."""
    tracker = args.tracker or "auto"
    need_tracker(env, tracker)
    arena = env.path("free.arena")
    # Verbose commits say how many free pages each left out; a long decommit delay keeps
    # the allocator from discarding the freed span itself before the commit.
    extra = {"PALLOC_VERBOSE": "2", "MIMALLOC_DECOMMIT_DELAY": "600000"}
    p = env.start(arena, [env.prog("palloc-test-freepages")], tracker=tracker, label="free", extra_env=extra)
    _, written = p.wait_event("written")
    _, freed = p.wait_event("freed")
    _, reused = p.wait_event("reused")
    _, called = p.wait_event("calloc")
    p.wait_event("ready")
    p.kill()
    big = freed["big_pages"]
    expect(written["pages"] >= big, f"the written block's commit wrote {written['pages']} pages, fewer than "
           f"its {big}\n{p.describe()}")
    left_out = [int(n) for n in re.findall(r"\((\d+) free ones left out\)", p.stderr())]
    expect(len(left_out) >= 3 and left_out[1] >= big,
           f"the commit after the free left out {left_out[1:2]} free pages, expected at least {big}\n{p.describe()}")
    expect(freed["pages"] < big // 8,
           f"the commit after the free wrote {freed['pages']} pages of a freed {big}-page block\n{p.describe()}")
    expect(reused["same"] == 1, f"calloc did not reuse the freed span, so the case is not built\n{p.describe()}")
    expect(called["pages"] >= big, f"the calloc'd block's commit wrote {called['pages']} pages, fewer than its "
           f"{big}: its zeros are not in the image\n{p.describe()}")
    q = env.start(arena, [env.prog("palloc-test-freepages")], tracker=tracker, label="resume")
    rc = q.finish()
    expect(rc == 0 and q.all("resumed"), f"resumed run: exit {rc}\n{q.describe()}")
    env.check_healthy(arena)


def s_valgrind(env, args):
    vg = shutil.which("valgrind")
    if not vg:
        raise Skip("valgrind is not installed")
    # nouserintercepts: memcheck must not swap palloc's malloc for its own (by default it
    # intercepts every exported malloc); palloc's code then runs, and is checked, under it.
    argv = [vg, "--error-exitcode=1", "--leak-check=no", "--child-silent-after-fork=no",
            "--soname-synonyms=somalloc=nouserintercepts",
            env.prog("palloc-test-workload"), "--expect-transient", "--rounds", 1]
    p = Proc(env, argv, extra_env={"LD_PRELOAD": env.lib}, label="valgrind")
    rc = p.finish(timeout=600)
    err = p.stderr()
    summaries = re.findall(r"ERROR SUMMARY: (\d+) errors", err)
    expect(summaries, f"no valgrind summary\n{p.describe()}")
    errors = sum(int(s) for s in summaries)
    wl = p.all("workload")
    expect(errors == 0 and rc == 0 and wl,
           f"valgrind: {errors} errors in {len(summaries)} processes; the workload "
           f"{'printed nothing' if not wl else 'reports ' + str(wl[0].get('failures')) + ' failed checks'} "
           f"(exit {rc})\n{p.describe()}")
    print(f"valgrind: {len(summaries)} processes, 0 errors")


SCENARIOS = {
    "hashtable_kill": s_hashtable_kill,
    "hashtable_exit": s_hashtable_exit,
    "hashtable_aslr": s_hashtable_aslr,
    "hashtable_background": s_hashtable_background,
    "threads_kill": s_threads_kill,
    "fork": s_fork,
    "exec": s_exec,
    "lock": s_lock,
    "workload_transient": s_workload_transient,
    "workload_persistent": s_workload_persistent,
    "valgrind": s_valgrind,
    "free_pages": s_free_pages,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", required=True, help="the palloc command")
    ap.add_argument("--lib", required=True, help="libpalloc.so to preload")
    ap.add_argument("--bindir", required=True, help="directory of the palloc-test-* programs")
    ap.add_argument("--workdir", default=tempfile.gettempdir())
    ap.add_argument("--linked", action="store_true", help="the programs link this very --lib")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--tracker", choices=["auto", "uffd", "hash"], default=None)
    ap.add_argument("--durability", choices=["sync", "async", "none"], default=None,
                    help="`palloc run --durability` (a process crash loses nothing in any mode)")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--ops", type=int, default=100000, help="threads: fixed workload ops per thread")
    ap.add_argument("--leak-blocks", type=int, default=100, help="threads: allowed live-block growth per run")
    ap.add_argument("--grow-mib", type=int, default=64, help="threads: allowed arena growth over all runs")
    ap.add_argument("--lenient-count", action="store_true",
                    help="threads: a palloc_heap_validate() count below the blocks held is only reported")
    ap.add_argument("--no-child-grow", action="store_true",
                    help="fork: the children allocate only a little (not beyond the parent's heap)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 31)
    env = Env(args, args.scenario)
    print(f"{args.scenario}: seed {args.seed}, work directory {env.dir}", flush=True)
    t0 = time.monotonic()
    try:
        SCENARIOS[args.scenario](env, args)
    except Skip as e:
        print(f"SKIPPED: {e}")
        env.cleanup()
        return SKIP
    except Failure as e:
        print(f"FAILED ({args.scenario}, seed {args.seed}): {e}", file=sys.stderr)
        print(f"work directory kept: {env.dir}", file=sys.stderr)
        return 1
    finally:
        for proc in env.procs:  # nothing outlives the scenario
            if proc.p.poll() is None or group_alive(proc.pgid):
                try:
                    proc.kill()
                except Failure:
                    pass
    print(f"{args.scenario}: passed in {time.monotonic() - t0:.1f} s")
    if not args.keep:
        env.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
