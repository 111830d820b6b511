"""pp_fds.py — files, sockets and a pipe across restarts.   py-persist pp_fds.py DIR STAGE

stage 1: opens a file for writing, one for reading, an unbuffered binary file, a socket
         pair, a pipe and a listening TCP socket; prints "old {name: fd}"; commits, prints
         COMMITTED and waits (the driver kills it).
stage 2: (resumed) opens new ones first and prints "new {name: fd}"; then uses every old
         object ("stale NAME RESULT", RESULT an errno name, "closed" or "ok:VALUE"); writes
         the new files; checks the new pipe and socket pair ("roundtrip ..."); serves one
         connection on the new listening socket ("port P", then "served LINE"); closes two
         of the old objects, opens kept.txt ("kept {name: fd}") and ends normally.
stage 3: (resumed after that exit) opens stage3.txt first ("new {...}"), then uses the
         objects of both earlier stages ("stale ...").
"""
import errno
import json
import os
import socket
import sys

import palloc

d, stage = sys.argv[1], sys.argv[2]


def say(*parts):
    print(*parts, flush=True)


def attempt(name, fn):
    try:
        result = f"ok:{fn()!r}"
    except OSError as e:
        result = errno.errorcode.get(e.errno, str(e.errno))
    except ValueError as e:
        result = "closed" if "closed" in str(e) else f"ValueError:{e}"
    say("stale", name, result)


def write_flush(f, data):
    f.write(data)
    f.flush()


if stage == "1":
    f_w = open(os.path.join(d, "old_w.txt"), "w")
    write_flush(f_w, "written in stage 1\n")
    f_r = open(os.path.join(d, "input.txt"))
    say("first", f_r.readline().rstrip())
    f_raw = open(os.path.join(d, "old_raw.bin"), "wb", buffering=0)
    f_raw.write(b"raw stage 1\n")
    sa, sb = socket.socketpair()
    sa.sendall(b"ping")
    say("pair", sb.recv(4))
    pr, pw = os.pipe()
    os.write(pw, b"x")
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    say("old", json.dumps({"f_w": f_w.fileno(), "f_r": f_r.fileno(), "f_raw": f_raw.fileno(), "sa": sa.fileno(),
                           "sb": sb.fileno(), "pr": pr, "pw": pw, "srv": srv.fileno()}))
    palloc.commit()
    say("COMMITTED")
    sys.stdin.readline()

elif stage == "2":
    n1 = open(os.path.join(d, "new1.txt"), "w")
    n2 = open(os.path.join(d, "new2.bin"), "wb", buffering=0)
    npr, npw = os.pipe()
    na, nb = socket.socketpair()
    nsrv = socket.socket()
    nsrv.bind(("127.0.0.1", 0))
    nsrv.listen()
    say("new", json.dumps({"n1": n1.fileno(), "n2": n2.fileno(), "npr": npr, "npw": npw, "na": na.fileno(),
                           "nb": nb.fileno(), "nsrv": nsrv.fileno()}))
    attempt("f_w.write+flush", lambda: write_flush(f_w, "STALE through f_w\n"))
    attempt("f_r.raw.read", lambda: f_r.buffer.raw.read(1))
    attempt("f_r.seek", lambda: f_r.seek(0))
    attempt("f_raw.write", lambda: f_raw.write(b"STALE through f_raw\n"))
    attempt("sa.send", lambda: sa.send(b"STALE"))
    attempt("sb.recv", lambda: sb.recv(1))
    attempt("pw.write", lambda: os.write(pw, b"STALE"))
    attempt("pr.read", lambda: os.read(pr, 1))
    attempt("srv.accept", lambda: srv.accept())
    attempt("srv.getsockname", lambda: srv.getsockname())
    text = sys.stdin.readline().rstrip("\n")
    n1.write(text)
    n1.close()
    n2.write(text.encode()[::-1])
    n2.close()
    os.write(npw, b"pipe-ok")
    na.sendall(b"pair-ok")
    say("roundtrip", os.read(npr, 100).decode(), nb.recv(100).decode())
    say("port", nsrv.getsockname()[1])
    conn, _ = nsrv.accept()
    with conn:
        line = conn.makefile().readline().rstrip("\n")
        conn.sendall(f"echo {line}\n".encode())
    say("served", line)
    attempt("f_w.close", f_w.close)
    attempt("f_raw.close", f_raw.close)
    kept = open(os.path.join(d, "kept.txt"), "w")
    write_flush(kept, "kept from stage 2\n")
    say("kept", json.dumps({"kept": kept.fileno()}))

elif stage == "3":
    n3 = open(os.path.join(d, "stage3.txt"), "w")
    say("new", json.dumps({"n3": n3.fileno()}))
    attempt("kept.write+flush", lambda: write_flush(kept, "STALE through kept\n"))
    attempt("sa.send", lambda: sa.send(b"STALE"))
    attempt("pw.write", lambda: os.write(pw, b"STALE"))
    attempt("na.send", lambda: na.send(b"STALE"))
    attempt("npw.write", lambda: os.write(npw, b"STALE"))
    attempt("nsrv.accept", lambda: nsrv.accept())
    n3.write("stage 3\n")
    n3.close()
    say("done")
