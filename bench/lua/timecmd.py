#!/usr/bin/env python3
"""Times a command for the Lua benchmarks (resume.sh): wall time with a monotonic clock
over several repetitions, and the command's peak RSS.

    timecmd.py [--reps N] [--timeout S] [--before SHELL-CMD] [--out FILE]
               [--log FILE] [--rss extra|wrap|none] -- CMD ARGS...

Prints one line: "median_s min_s max_s peak_rss_kib" (rss 0 with --rss none) and exits 0,
or says what failed on stderr and exits 1 (non-zero exit, signal, timeout). --before runs
a shell command before each repetition, untimed (e.g. to remove an arena). The command's
stdout (of the last repetition) goes to --out, or is discarded; its stderr passes through,
or with --log goes to FILE and, as it comes, to stderr with "    | " before each line.

The peak RSS comes from GNU time: wait4's ru_maxrss of a child forked from Python would
include Python's own RSS, inherited before exec. GNU time costs about a millisecond, so
by default (--rss extra) the timed repetitions run the command directly and one more,
untimed repetition runs it under GNU time; --rss wrap runs every repetition under GNU time
(for long commands, where a millisecond does not matter).
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

GNU_TIME = "/usr/bin/time"


def copy_stderr(pipe, log):
    """Copies the child's stderr to log and, line by line with a prefix, to ours."""
    for line in iter(pipe.readline, b""):
        log.write(line)
        log.flush()
        sys.stderr.buffer.write(b"    | " + line)
        sys.stderr.buffer.flush()
    pipe.close()


def run_once(cmd, out_path, timeout, rss_file, log):
    """Runs cmd once; returns (wall seconds, None) or (None, why it failed)."""
    argv = [GNU_TIME, "-q", "-f", "%M", "-o", rss_file] + cmd if rss_file else cmd
    with open(out_path or os.devnull, "wb") as out:
        t0 = time.perf_counter()
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.PIPE if log else None,
                                 start_new_session=True)
        except OSError as e:
            return None, f"cannot run {argv[0]}: {e}"
        copier = None
        if log:
            copier = threading.Thread(target=copy_stderr, args=(p.stderr, log))
            copier.start()
        killed = []

        def kill():
            killed.append(True)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        _, status, _ = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        timer.cancel()
        if copier:
            copier.join()
        p.returncode = 0  # reaped above
    if killed:
        return None, f"still running after {timeout:g} s, killed"
    if os.WIFSIGNALED(status):
        return None, f"killed by signal {os.WTERMSIG(status)}"
    rc = os.WEXITSTATUS(status)
    if rc > 128 and rss_file:  # GNU time reports a signal as 128 + its number
        return None, f"killed by signal {rc - 128}"
    if rc != 0:
        return None, f"exit status {rc}"
    return wall, None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--before", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--log", default=None)
    ap.add_argument("--rss", choices=("extra", "wrap", "none"), default="extra")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd or a.reps < 1:
        ap.error("a command and --reps >= 1 are needed")
    if a.rss != "none" and not os.access(GNU_TIME, os.X_OK):
        print(f"timecmd.py: GNU time is needed at {GNU_TIME} (Debian package 'time')",
              file=sys.stderr)
        return 1

    fd, rss_file = tempfile.mkstemp(prefix="timecmd.", suffix=".rss")
    os.close(fd)
    log = open(a.log, "wb") if a.log else None
    try:
        walls, rsss = [], []
        runs = [("timed", a.rss == "wrap")] * a.reps
        if a.rss == "extra":
            runs.append(("rss", True))
        for i, (kind, wrap) in enumerate(runs):
            if a.before and subprocess.run(a.before, shell=True).returncode != 0:
                print(f"timecmd.py: the set-up `{a.before}` failed", file=sys.stderr)
                return 1
            wall, why = run_once(cmd, a.out, a.timeout, rss_file if wrap else None, log)
            if why:
                what = f"rep {i + 1}/{a.reps}" if kind == "timed" else "the RSS run"
                print(f"timecmd.py: {what} of `{' '.join(cmd)}` FAILED: {why}",
                      file=sys.stderr)
                return 1
            if kind == "timed":
                walls.append(wall)
            if wrap:
                with open(rss_file) as f:
                    rsss.append(int(f.read().split()[-1]))
    finally:
        os.unlink(rss_file)
        if log:
            log.close()
    print(f"{statistics.median(walls):.6f} {min(walls):.6f} {max(walls):.6f} "
          f"{max(rsss) if rsss else 0}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
