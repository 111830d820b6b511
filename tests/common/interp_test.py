"""What the end-to-end drivers of the persistent interpreters share
(tests/lua/test_lua.py for lua-persist, tests/py/test_py.py for py-persist; the
failure/skip basics also serve tests/alloc/test_alloc.py).

  * Failure / Skip and the checks that raise them;
  * Proc: a child in its own session whose stdout is collected line by line;
  * Ctx: one scenario's temporary directory, its random generator and its children;
  * Pty: an interpreter on a pseudo-terminal that is its controlling terminal;
  * the kill_write_loop scenario (the loop is write_loop.py, replayed here);
  * main(): one scenario per invocation, exit status 0 passed, 1 failed, 77 skipped.

A driver imports this module with a sys.path insert relative to its own file.
"""

import argparse
import fcntl
import os
import random
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import traceback

import write_loop

EXIT_CANNOT_RESUME = 70
EXIT_SKIP = 77
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


def log(msg):
    print(msg, flush=True)


# ------------------------------------------------------------------------- processes

class Proc:
    """A child in its own session. Its stdout is collected line by line by a thread;
    its stderr goes to a file. stdin is a pipe, so a script can block reading it."""

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
        out = "\n".join("    " + l[:300] for l in self.lines[-40:])
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
        """Closes stdin (a script blocked reading it returns) and waits for the exit status."""
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
    """One scenario: its directory, random generator, environment and children.
    `exe` is the interpreter under test; interp() makes its command line on an arena."""

    def __init__(self, args, directory, rng, env, exe):
        self.args = args
        self.dir = directory
        self.rng = rng
        self.env = env
        self.exe = exe
        self.procs = []
        self.counter = 0

    def path(self, name):
        return os.path.join(self.dir, name)

    def interp(self, arena, *rest):
        return [self.exe, "--arena", arena, *rest]

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


def fields_after(proc, key, timeout=LINE_TIMEOUT, start=0):
    """The rest of the first line "KEY ..." (from index `start`) split on spaces."""
    m = proc.wait_line(re.escape(key) + r"(?: (.*))?", timeout, start)
    return (m.group(1) or "").split(" ")


def finish_with(proc, want_rc, where):
    """Closes stdin and waits; the exit status must be `want_rc` (`where` names the run)."""
    rc = proc.finish()
    check(rc == want_rc, f"{where} exited with status {rc}, expected {want_rc}\n{proc.transcript()}")


def check_lines(proc):
    """{NAME: VALUE} of the "CHECK NAME VALUE" lines a script printed."""
    got = {}
    for l in proc.lines:
        m = re.fullmatch(r"CHECK (\S+) ?(.*)", l)
        if m:
            got[m.group(1)] = m.group(2)
    return got


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


class ChangedCopy:
    """A copy of an executable in `directory` whose GNU build-id can be changed in place
    (same file, same path) and changed back: a rebuilt binary, as an arena sees it."""

    def __init__(self, exe, directory):
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, os.path.basename(exe))
        shutil.copy2(exe, self.path)
        with open(self.path, "rb") as f:
            data = f.read()
        self.off, n = elf_build_id(data)
        self.original = data[self.off:self.off + n]
        changed = bytearray(self.original)
        changed[0] ^= 0xff
        self.changed = bytes(changed)
        self.old_id, self.new_id = self.original.hex(), self.changed.hex()

    def _install(self, build_id):
        with open(self.path, "r+b") as f:
            f.seek(self.off)
            f.write(build_id)

    def change(self):
        self._install(self.changed)
        readelf = shutil.which("readelf")
        if readelf:
            shown = subprocess.run([readelf, "-n", self.path], capture_output=True, text=True).stdout
            check(self.new_id in shown, f"readelf does not show the changed build-id {self.new_id}:\n{shown}")

    def restore(self):
        self._install(self.original)


# ------------------------------------------------------------------ pseudo-terminal

ANSI = re.compile(rb"\x1b(\[[0-9;?]*[A-Za-z]|[=>]|\][^\x07]*\x07)")


class Pty:
    """An interpreter on a pseudo-terminal that is its controlling terminal (Ctrl-C
    works). `prompt` is a regular expression for the primary prompt at the end of the
    output."""

    def __init__(self, ctx, cmd, name, prompt):
        self.name = name
        self.cmd = cmd
        self.prompt = prompt
        master, slave = os.openpty()
        # Wide enough that a line editor never scrolls a long input line sideways.
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
        return self.expect(re.escape(line) + r"\n(.*?)" + self.prompt).group(1)

    def check_statement(self, line, want, where):
        """Types one line (see statement()); what it prints must contain `want`."""
        out = self.statement(line)
        check(want in out, f"{where}: {line!r} printed {out!r}, expected {want!r} in it")
        return out

    def statement_value(self, line, pattern):
        """Types one line (see statement()); returns group 1 of `pattern` found in what
        it printed."""
        out = self.statement(line)
        m = re.search(pattern, out)
        check(m is not None, f"{self.name}: {line!r} printed {out!r}, expected {pattern!r}")
        return m.group(1)

    def ctrl_d(self):
        """Ctrl-D at the prompt: the interpreter must exit with status 0."""
        self.send("\x04")
        rc = self.wait_exit()
        check(rc == 0, f"{self.name} ended with status {rc} after Ctrl-D:\n{self.text()[-2000:]}")
        self.close()

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


# ------------------------------------------------------------------- kill_write_loop

class WriteLoopModel:
    """The loop's data after n steps, replayed here with write_loop.step."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.t, self.s, self.n = {}, 0, 0

    def at(self, n):
        """(checksum, entries) after step n."""
        if n < self.n:
            self.reset()
        while self.n < n:
            self.n += 1
            self.s = write_loop.step(self.t, self.s, self.n)
        return self.s, len(self.t)


def check_start(p, model, where):
    """Parses "start N SUM RECOMPUTED COUNT" (None if the process died before it) and
    compares it with the model: a state torn between two steps (or two commits) has a
    stored checksum that differs from the data's, or data that is not the one of step N."""
    m = next((re.fullmatch(r"start (\d+) (\d+) (\d+) (\d+)", l) for l in p.lines if l.startswith("start ")), None)
    if m is None:
        return None
    n, stored, recomputed, count = map(int, m.groups())
    want_sum, want_count = model.at(n)
    if stored != recomputed or stored != want_sum or count != want_count:
        raise Failure(f"{where}: resumed step {n}: stored checksum {stored}, recomputed over the data {recomputed}, "
                      f"{count} entries; the model says checksum {want_sum}, {want_count} entries\n{p.transcript()}")
    return n


def write_loop_explicit(ctx, script, cycles, slow):
    """Runs killed at random moments, most after a delay in the range `slow` (seconds),
    a quarter within 30 ms (often before the first commit)."""
    arena = ctx.path("explicit.arena")
    model = WriteLoopModel()
    known = 0      # the last step known to be committed (acknowledged or resumed)
    starts = 0
    for c in range(1, cycles + 1):
        p = ctx.spawn(ctx.interp(arena, script, "explicit"), f"explicit-{c}")
        delay = ctx.rng.uniform(0, 0.03) if ctx.rng.random() < 0.25 else ctx.rng.uniform(*slow)
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
    p = ctx.spawn(ctx.interp(arena, script, "explicit"), "explicit-final")
    p.wait_line(r"start .*")
    p.kill9()
    n = check_start(p, model, "explicit, final start")
    check(n in (known, known + 1), f"explicit, final start: resumed step {n}, last ack {known}")
    check(starts >= cycles // 2, f"explicit: only {starts} of {cycles} runs got as far as printing their start line")
    check(known >= 20, f"explicit: only {known} steps committed in {cycles} cycles")
    return known


def write_loop_periodic(ctx, script, cycles, interval_ms, delays):
    """Runs with --commit-interval and no explicit commits, killed after a delay in the
    range `delays` (seconds)."""
    arena = ctx.path("periodic.arena")
    model = WriteLoopModel()
    prev = 0          # the step resumed last time
    bound = 0         # no run so far can have reached beyond this step
    advanced = 0
    for c in range(1, cycles + 1):
        p = ctx.spawn(ctx.interp(arena, "--commit-interval", str(interval_ms), script, "periodic"), f"periodic-{c}")
        delay = ctx.rng.uniform(*delays)
        time.sleep(delay)
        p.kill9()
        n = check_start(p, model, f"periodic cycle {c}")
        # A resume that had to repair something it could not (a stream left locked by a
        # commit inside a write, say) says so on stderr; the interpreters print nothing else.
        check("Traceback" not in p.stderr(), f"periodic cycle {c}: errors on stderr\n{p.transcript()}")
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


def kill_write_loop(ctx, script, explicit_slow, periodic_delays):
    """The kill_write_loop scenario on `script` (writeloop.lua or pp_writeloop.py):
    25 cycles with explicit commits, then 20 with --commit-interval 10."""
    t0 = time.monotonic()
    known = write_loop_explicit(ctx, script, 25, explicit_slow)
    t1 = time.monotonic()
    last = write_loop_periodic(ctx, script, 20, 10, periodic_delays)
    log(f"  explicit: {known} steps committed, {t1 - t0:.1f} s; periodic (--commit-interval 10): resumed up to "
        f"step {last}, {time.monotonic() - t1:.1f} s")


# ----------------------------------------------------------------------------- main

def main(doc, prog, prefix, scenarios, executables, make_ctx):
    """Parses the command line (the executables, --workdir, --seed, --keep, SCENARIO),
    runs one scenario in a fresh temporary directory and returns the exit status.
    `executables`: [(option, help)] of required executable paths (made absolute);
    `make_ctx(args, directory, rng)` makes the scenario's Ctx."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    for opt, help_text in executables:
        ap.add_argument(opt, required=True, help=help_text)
    ap.add_argument("--workdir", required=True, help="where the temporary directory is made")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("scenario", choices=sorted(scenarios))
    args = ap.parse_args()
    for opt, _ in executables:
        dest = opt.lstrip("-").replace("-", "_")
        path = os.path.abspath(getattr(args, dest))
        if not os.access(path, os.X_OK):
            print(f"{prog}: {opt} {path} is not an executable", file=sys.stderr)
            return 1
        setattr(args, dest, path)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    os.makedirs(args.workdir, exist_ok=True)
    directory = tempfile.mkdtemp(prefix=f"{prefix}-{args.scenario}-", dir=os.path.abspath(args.workdir))
    ctx = make_ctx(args, directory, random.Random(seed))
    log(f"{args.scenario}: seed {seed}, directory {directory}")
    t0 = time.monotonic()
    status = 1
    try:
        scenarios[args.scenario](ctx)
        status = 0
        log(f"PASS {args.scenario} ({time.monotonic() - t0:.1f} s)")
    except Skip as e:
        status = EXIT_SKIP
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
