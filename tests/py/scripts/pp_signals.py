"""pp_signals.py — Python signal handlers across restarts.   py-persist pp_signals.py

The first run installs a SIGUSR1 handler (it counts in the state and prints "usr1 N")
and ignores SIGUSR2. Every run prints "ready RUN PID" and then reads commands from stdin,
one a line, while the driver sends signals:
  sigpipe   writes to a pipe whose read end is closed: "sigpipe BrokenPipeError"
  handlers  prints the Python-level dispositions of SIGUSR1, SIGUSR2, SIGINT, SIGPIPE
  commit    palloc.commit(), then "committed"
  ping      "pong"
  uncaught  blocks on stdin outside any try: SIGINT ends the program
A KeyboardInterrupt while waiting for a command prints "kbi". End of input ends the run.
"""
import os
import signal
import sys

import palloc


def say(*parts):
    print(*parts, flush=True)


if "usr1" not in globals():
    usr1 = []

    def on_usr1(signum, frame):
        # Straight to fd 1: print() here could re-enter a print of the main code.
        usr1.append(signum)
        os.write(1, f"usr1 {len(usr1)}\n".encode())

    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    runs = 0

runs += 1


def name(h):
    if h is on_usr1:
        return "on_usr1"
    if h is signal.default_int_handler:
        return "default_int_handler"
    if h == signal.SIG_IGN:
        return "SIG_IGN"
    if h == signal.SIG_DFL:
        return "SIG_DFL"
    return repr(h)


say("ready", runs, os.getpid())
while True:
    try:
        cmd = sys.stdin.readline()
    except KeyboardInterrupt:
        say("kbi")
        continue
    cmd = cmd.strip()
    if not cmd:
        break
    if cmd == "sigpipe":
        r, w = os.pipe()
        os.close(r)
        try:
            os.write(w, b"x")
            say("sigpipe wrote")
        except BrokenPipeError as e:
            say("sigpipe", type(e).__name__)
        os.close(w)
    elif cmd == "handlers":
        say("handlers", *(name(signal.getsignal(s)) for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT,
                                                              signal.SIGPIPE)))
    elif cmd == "commit":
        palloc.commit()
        say("committed")
    elif cmd == "ping":
        say("pong")
    elif cmd == "uncaught":
        say("waiting")
        sys.stdin.readline()
