#!/usr/bin/env python3
"""Scenarios for the `palloc` command-line tool.

Each scenario makes arenas with the fixture program (palloc-test-make-arena), which
prints the facts it produced (epochs, base, roots, pages written) as JSON, damages them
in a precise way where needed, and checks the tool's exit status and output against
those facts. Run one scenario per invocation:

    test_tool.py --tool build/bin/palloc --fixture .../palloc-test-make-arena \
                 --workdir /tmp SCENARIO
"""

import argparse
import glob
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile

HEADER_SLOT_BYTES = 64 * 1024
LOG_HEADER_BYTES = 4096
REGION_ZONE_OFFSET = 1 << 20


class Failure(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise Failure(msg)


class Env:
    def __init__(self, tool, fixture, workdir, name):
        self.tool = tool
        self.fixture = fixture
        self.dir = tempfile.mkdtemp(prefix=f"tool-{name}-", dir=workdir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def run(self, *args, code=None):
        p = subprocess.run([self.tool, *map(str, args)], capture_output=True, text=True, timeout=30)
        if code is not None and p.returncode != code:
            raise Failure(f"palloc {' '.join(map(str, args))}: exit {p.returncode}, expected {code}\n"
                          f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    def json(self, *args, code=0):
        p = self.run(*args, "--json", code=code)
        try:
            return json.loads(p.stdout)
        except json.JSONDecodeError as e:
            raise Failure(f"palloc {' '.join(map(str, args))} --json printed no JSON ({e}):\n{p.stdout}")

    def make(self, name="a", **opts):
        """Runs the fixture; returns its facts."""
        cmd = [self.fixture, "--arena", self.path(name)]
        for k, v in opts.items():
            flag = "--" + k.replace("_", "-")
            cmd += [flag] if v is True else [flag, str(v)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        expect(p.returncode == 0, f"fixture failed ({p.returncode}): {p.stderr}")
        return json.loads(p.stdout)

    def hashes(self):
        """sha256 of every file in the directory (the arena's files and anything new)."""
        out = {}
        for f in sorted(os.listdir(self.dir)):
            with open(self.path(f), "rb") as fh:
                out[f] = hashlib.sha256(fh.read()).hexdigest()
        return out

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))


def log_records(log_path, page_size):
    """(offset, epoch) of each record in a log, walking the record headers (format.h)."""
    out = []
    with open(log_path, "rb") as f:
        data = f.read()
    off = LOG_HEADER_BYTES
    while off + 64 <= len(data):
        magic, _version, epoch = struct.unpack_from("<IIQ", data, off)
        if magic != 0x43455250:
            break
        npages, state_len = struct.unpack_from("<II", data, off + 32)
        out.append((off, epoch))
        off += 64 + npages * (page_size + 16) + state_len + 24
    return out


def slot_seqs(arena):
    with open(arena, "rb") as f:
        f.seek(16)
        s0 = struct.unpack("<Q", f.read(8))[0]
        f.seek(HEADER_SLOT_BYTES + 16)
        s1 = struct.unpack("<Q", f.read(8))[0]
    return s0, s1


def kinds(report):
    return [p["kind"] for p in report["problems"]]


def roots_of(info):
    return sorted(((r["slot"], r["name"], r["value"]) for r in info["roots"]))


def fact_roots(roots):
    return sorted(((r["slot"], r["name"], r["value"]) for r in roots))


# --- scenarios -------------------------------------------------------------------------

def s_usage(env):
    p = env.run(code=64)
    expect("usage: palloc" in p.stderr, "no usage on a missing command")
    for args in (["frobnicate"], ["--frob"], ["info"], ["info", "a", "b"], ["check", "--nope", "x"],
                 ["check", "-q", "--json", "x"], ["create", "--max-size", "12q", "x"], ["help", "bogus"],
                 ["recover", "--discard-damaged"], ["info", "--json=yes", "x"], ["create", "--base"]):
        p = env.run(*args, code=64)
        expect("usage:" in p.stderr, f"no usage line for {args}: {p.stderr}")
    p = env.run("--version", code=0)
    expect(p.stdout.startswith("palloc "), p.stdout)
    p = env.run("--help", code=0)
    for cmd in ("info", "check", "recover", "create"):
        expect(cmd in p.stdout, f"--help does not list {cmd}")
        h1 = env.run("help", cmd, code=0).stdout
        h2 = env.run(cmd, "--help", code=0).stdout
        expect(h1.startswith(f"usage: palloc {cmd}"), h1)
        expect(h1 == h2, f"help {cmd} and {cmd} --help differ")
        expect("exit status" in h1, f"help {cmd} does not document exit statuses")


def s_info(env):
    facts = env.make(commits=5, region=True, depend=True)
    arena = env.path("a")
    before = env.hashes()
    info = env.json("info", arena)
    expect(env.hashes() == before, "info modified the arena")
    expect(info["format_version"] == 1, info)
    for key in ("base", "page_size", "max_size", "size", "epoch"):
        expect(info[key] == facts[key], f"{key}: info says {info[key]}, fixture {facts[key]}")
    expect(info["checkpoint_epoch"] == facts["epoch"], "a closed arena is checkpointed")
    expect(info["pending_records"] == 0 and info["recovery_error"] is None, info)
    expect(roots_of(info) == fact_roots(facts["roots"]), f"roots {info['roots']} vs {facts['roots']}")
    expect([(r["name"], r["length"]) for r in info["regions"]] ==
           [(r["name"], r["length"]) for r in facts["regions"]], info["regions"])
    expect([(b["path"], b["build_id"], b["load_address"]) for b in info["binaries"]] ==
           [(b["path"], b["build_id"], b["load_address"]) for b in facts["binaries"]], info["binaries"])
    expect(info["lock_pid"] is None, "nobody holds the arena")
    expect([l["bytes"] for l in info["logs"]] == [LOG_HEADER_BYTES] * 2, info["logs"])
    expect(len(info["uuid"]) == 36 and info["created_unix_ns"] > 0, info)

    text = env.run("info", arena, code=0).stdout
    expect(hex(facts["base"]) in text, "human info lacks the base address")
    for needle in ("counter", "head", "fixture-region", facts["binaries"][0]["path"],
                   facts["binaries"][0]["build_id"], hex(facts["roots"][1]["value"])):
        expect(needle in text, f"human info lacks {needle!r}:\n{text}")
    # The key/value block is aligned: every value starts in the same column.
    block = text.split("\nlogs:")[0].splitlines()
    cols = set()
    for line in block:
        gap = line.index("  ")
        cols.add(gap + len(line[gap:]) - len(line[gap:].lstrip(" ")))
    expect(len(cols) == 1, f"values not aligned:\n{text}")


def s_info_in_use(env):
    arena = env.path("a")
    proc = subprocess.Popen([env.fixture, "--arena", arena, "--commits", "4", "--mode", "hold"],
                            stdout=subprocess.PIPE, text=True)
    try:
        facts = json.loads(proc.stdout.readline())
        info = env.json("info", arena)
        expect(info["lock_pid"] == facts["pid"] == proc.pid, f"lock_pid {info['lock_pid']}, holder {proc.pid}")
        expect(info["epoch"] == facts["epoch"], "latest epoch of an arena in use")
        expect(info["pending_records"] == facts["epoch"] and info["checkpoint_epoch"] == 0, info)
        expect(roots_of(info) == fact_roots(facts["roots"]), info["roots"])
        text = env.run("info", arena, code=0).stdout
        expect(f"pid {proc.pid}" in text, text)
        report = env.json("check", arena, code=1)
        expect(report["lock_pid"] == proc.pid and report["notes"], report)
        p = env.run("recover", arena, code=3)
        expect(str(proc.pid) in p.stderr, f"recover does not name the holder: {p.stderr}")
        p = env.run("create", "--force-new", arena, code=3)
        expect(str(proc.pid) in p.stderr, p.stderr)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    info = env.json("info", arena)
    expect(info["lock_pid"] is None and info["epoch"] == facts["epoch"], info)


def s_check_healthy(env):
    facts = env.make(commits=4, region=True)
    arena = env.path("a")
    report = env.json("check", arena, code=0)
    expect(report["verdict"] == "healthy" and report["problems"] == [], report)
    expect(report["last_valid_epoch"] == facts["epoch"], report)
    expect(report["pages_checked"] >= facts["size"] // facts["page_size"], report)
    p = env.run("check", arena, code=0)
    expect(p.stdout.count("\n") == 1 and "healthy" in p.stdout, p.stdout)
    p = env.run("check", "-q", arena, code=0)
    expect(p.stdout == "", "--quiet printed something")
    p = env.run("check", "--progress", arena, code=0)
    expect("healthy" in p.stdout, p.stdout)


def s_check_pending(env):
    facts = env.make(commits=4, mode="pending")
    arena = env.path("a")
    report = env.json("check", arena, code=1)
    expect(kinds(report) == ["pending_records"], report)
    expect(report["last_valid_epoch"] == facts["epoch"] and report["checkpoint_epoch"] == 0, report)
    expect(report["pending_records"] == facts["epoch"], report)
    p = env.run("check", arena, code=1)
    expect("repairable" in p.stdout and "what to do" in p.stdout, p.stdout)
    p = env.run("recover", arena, code=0)
    expect(f"replayed {facts['epoch']} commit" in p.stdout, p.stdout)
    env.run("check", arena, code=0)
    info = env.json("info", arena)
    expect(info["checkpoint_epoch"] == info["epoch"] == facts["epoch"], info)
    expect(roots_of(info) == fact_roots(facts["roots"]), info["roots"])
    expect([l["bytes"] for l in info["logs"]] == [LOG_HEADER_BYTES] * 2, info["logs"])
    p = env.run("recover", arena, code=0)
    expect("nothing to recover" in p.stdout, p.stdout)


def s_check_torn_tail(env):
    for mode in ("pending", "close"):
        name = "torn-" + mode
        facts = env.make(name, commits=3, mode=mode)
        arena = env.path(name)
        with open(arena + ".wal0", "ab") as f:
            f.write(b"\xab" * 5000)  # what a crash part-way through appending a record leaves
        report = env.json("check", arena, code=1)
        expect("torn_tail" in kinds(report), report)
        expect(not [p for p in report["problems"] if p["severity"] != "repairable"], report)
        expect(report["last_valid_epoch"] == facts["epoch"], report)
        env.run("recover", arena, code=0)
        env.run("check", arena, code=0)
        expect(env.json("info", arena)["epoch"] == facts["epoch"], "recover changed the epoch")


def s_check_corrupt_page(env):
    facts = env.make(commits=3, pages=2, region=True)
    arena = env.path("a")
    ps = facts["page_size"]
    page = facts["pages"][2]["index"]
    flip_byte(arena, facts["data_offset"] + page * ps + 100)
    report = env.json("check", arena, code=2)
    expect(kinds(report) == ["corrupt_pages"] and report["corrupt_pages"] == 1, report)
    expect(hex(facts["base"] + page * ps) in report["problems"][0]["message"], report)
    p = env.run("check", arena, code=2)
    expect("CORRUPT" in p.stdout and "backup" in p.stdout, p.stdout)
    # A damaged page of a region is named by the region.
    flip_byte(arena, REGION_ZONE_OFFSET + 10)
    report = env.json("check", arena, code=2)
    expect(report["corrupt_pages"] == 2 and "fixture-region" in report["problems"][0]["message"], report)


def s_check_truncated(env):
    facts = env.make(commits=2, pages=1)
    arena = env.path("a")
    written = max(p["index"] for p in facts["pages"]) + 1
    # Cut the file after the written pages: what is lost reads as zeros, as it was.
    os.truncate(arena, facts["data_offset"] + written * facts["page_size"])
    report = env.json("check", arena, code=2)
    expect(kinds(report) == ["truncated"], report)


def s_check_pending_page(env):
    facts = env.make(commits=3, pages=2, mode="pending")
    arena = env.path("a")
    ps = facts["page_size"]
    # The data file still holds epoch 0; the log holds the pages. Damage one of them there.
    page = facts["pages"][0]["index"]
    flip_byte(arena, facts["data_offset"] + page * ps + 7)
    report = env.json("check", arena, code=1)
    expect(report["pages_pending_replay"] == 1 and report["corrupt_pages"] == 0, report)
    expect("pages_pending_replay" in kinds(report), report)
    # A page no commit wrote is not covered by the log.
    untouched = max(p["index"] for p in facts["pages"]) + 10
    flip_byte(arena, facts["data_offset"] + untouched * ps)
    report = env.json("check", arena, code=2)
    expect(report["corrupt_pages"] == 1 and report["pages_pending_replay"] == 1, report)
    flip_byte(arena, facts["data_offset"] + untouched * ps)  # undo
    env.run("check", arena, code=1)
    env.run("recover", arena, code=0)
    env.run("check", arena, code=0)


def s_check_headers(env):
    facts = env.make("one", commits=3)
    arena = env.path("one")
    s0, s1 = slot_seqs(arena)
    older = 0 if s0 < s1 else 1
    flip_byte(arena, older * HEADER_SLOT_BYTES + 100)
    report = env.json("check", arena, code=1)
    expect(kinds(report) == ["header_slot"], report)
    p = env.run("recover", arena, code=0)
    expect(f"rewrote damaged header slot {older}" in p.stdout, p.stdout)
    env.run("check", arena, code=0)
    expect(env.json("info", arena)["epoch"] == facts["epoch"], "slot repair changed the epoch")

    # Whichever slot is damaged, "repairable" must mean that recovering loses nothing.
    for slot in (0, 1):
        facts = env.make(f"slot{slot}", commits=3)
        arena = env.path(f"slot{slot}")
        flip_byte(arena, slot * HEADER_SLOT_BYTES + 140)
        if env.run("check", arena).returncode == 1:
            env.run("recover", arena, code=0)
            expect(env.json("info", arena)["epoch"] == facts["epoch"], f"damaged slot {slot}: commits lost")

    # The newer of two different slots damaged after the logs were emptied: going back to
    # the older slot would lose commits, so it is not "repairable".
    facts = env.make("newer", commits=3, stale_slot=True)
    arena = env.path("newer")
    s0, s1 = slot_seqs(arena)
    expect(s0 != s1, "--stale-slot left equal slots")
    newer = 0 if s0 > s1 else 1
    flip_byte(arena, newer * HEADER_SLOT_BYTES + 140)  # in the state, past seq, uuid and epoch
    report = env.json("check", arena, code=2)
    expect(kinds(report) == ["header_newer_slot"], report)
    expect(report["last_valid_epoch"] == 0 and str(facts["epoch"]) in report["problems"][0]["message"], report)
    env.run("recover", arena, code=2)
    env.run("recover", "--discard-damaged", arena, code=0)
    env.run("check", arena, code=0)

    facts = env.make("both", commits=2)
    arena = env.path("both")
    flip_byte(arena, 100)
    flip_byte(arena, HEADER_SLOT_BYTES + 100)
    report = env.json("check", arena, code=2)
    expect(kinds(report) == ["headers"], report)
    env.run("info", arena, code=2)
    env.run("recover", arena, code=2)


def s_check_not_arena(env):
    junk = env.path("junk")
    with open(junk, "wb") as f:
        f.write(b"this is not an arena\n" * 100)
    open(env.path("empty"), "wb").close()
    env.make("a", commits=1)
    for target in (junk, env.path("empty"), env.path("missing"), env.dir, env.path("a") + ".wal0"):
        for cmd in (["check"], ["check", "-q"], ["info"], ["recover"]):
            p = env.run(*cmd, target, code=3)
            expect(p.stderr.strip() != "", f"{cmd} {target}: no message")
    report = env.json("check", junk, code=3)
    expect(report["verdict"] == "error" and report["exit_code"] == 3, report)
    p = env.run("check", env.path("a") + ".wal0", code=3)
    expect("log file" in p.stderr, p.stderr)


def s_check_read_only(env):
    env.make("pending", commits=3, mode="pending")
    facts = env.make("damaged", commits=3, pages=1, mode="pending")
    arena = env.path("damaged")
    with open(arena + ".wal0", "ab") as f:
        f.write(b"\x00garbage" * 300)
    flip_byte(arena, facts["data_offset"] + 5)
    flip_byte(arena, 100)
    before = env.hashes()
    for name in ("pending", "damaged"):
        for args in (["check"], ["check", "--json"], ["check", "--progress"], ["info"], ["info", "--json"]):
            env.run(*args, env.path(name))
    expect(env.hashes() == before, "check or info changed a file")


def s_recover_discard_damaged(env):
    facts = env.make(commits=5, pages=1, mode="pending")
    arena = env.path("a")
    ps = facts["page_size"]
    recs = log_records(arena + ".wal0", ps)
    expect([e for _, e in recs] == [h["epoch"] for h in facts["history"]], f"log holds {recs}")
    off, epoch = recs[2]
    flip_byte(arena + ".wal0", off + 64 + 10)  # a page of the third commit
    report = env.json("check", arena, code=2)
    expect(kinds(report) == ["log_damaged"], report)
    expect(report["last_valid_epoch"] == epoch - 1, report)
    before = env.hashes()
    p = env.run("recover", arena, code=2)
    expect("--discard-damaged" in p.stderr, p.stderr)
    expect(env.hashes() == before, "a refused recover changed files")

    p = env.run("recover", "--discard-damaged", arena, code=0)
    backups = sorted(glob.glob(arena + ".wal*.damaged-*"))
    expect(len(backups) == 2, f"backups: {backups}")
    for b in backups:
        expect(b in p.stdout, f"recover does not mention {b}:\n{p.stdout}")
        original = os.path.basename(b).split(".damaged-")[0]
        with open(b, "rb") as fh:
            expect(hashlib.sha256(fh.read()).hexdigest() == before[original], f"{b} is not a copy")
    info = env.json("info", arena)
    expect(info["epoch"] == info["checkpoint_epoch"] == epoch - 1, info)
    expect(roots_of(info) == fact_roots(facts["history"][epoch - 2]["roots"]), info["roots"])
    env.run("check", arena, code=0)


def s_recover_missing_log(env):
    facts = env.make(commits=2)
    arena = env.path("a")
    os.unlink(arena + ".wal1")
    report = env.json("check", arena, code=2)
    expect(kinds(report) == ["log_header"], report)
    env.run("recover", arena, code=2)
    p = env.run("recover", "--discard-damaged", arena, code=0)
    expect("recreated" in p.stdout, p.stdout)
    env.run("check", arena, code=0)
    expect(env.json("info", arena)["epoch"] == facts["epoch"], "epoch changed")


def s_create(env):
    arena = env.path("c")
    p = env.run("create", "--max-size", "128m", "--initial-size", "1m", arena, code=0)
    info = env.json("info", arena)
    expect(info["max_size"] == 128 << 20 and info["size"] == 1 << 20 and info["epoch"] == 0, info)
    expect(hex(info["base"]) in p.stdout, p.stdout)
    env.run("check", arena, code=0)
    p = env.run("create", arena, code=3)
    expect("already exists" in p.stderr and "--force-new" in p.stderr, p.stderr)
    uuid = info["uuid"]
    env.run("create", "--force-new", "--max-size", "64m", arena, code=0)
    info = env.json("info", arena)
    expect(info["uuid"] != uuid and info["max_size"] == 64 << 20, info)
    other = env.path("d")
    p = env.run("create", "--base", "0x120000000000", "--max-size", "64m", other, code=0)
    expect(env.json("info", other)["base"] == 0x120000000000, p.stdout)
    p = env.run("create", "--base", "0x123", env.path("e"), code=64)
    expect("32 MiB" in p.stderr, p.stderr)
    junk = env.path("junk")
    with open(junk, "wb") as f:
        f.write(b"precious")
    env.run("create", "--force-new", junk, code=3)
    with open(junk, "rb") as f:
        expect(f.read() == b"precious", "--force-new overwrote a file that was not an arena")


SCENARIOS = {name[2:]: fn for name, fn in globals().items() if name.startswith("s_")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--workdir", default=tempfile.gettempdir())
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    args = ap.parse_args()
    env = Env(args.tool, args.fixture, args.workdir, args.scenario)
    try:
        SCENARIOS[args.scenario](env)
    except Failure as e:
        print(f"FAIL {args.scenario}: {e}\n(files kept in {env.dir})", file=sys.stderr)
        return 1
    env.cleanup()
    print(f"ok {args.scenario}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
