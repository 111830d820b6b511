"""kv_server_sqlite.py: the same JSON key/value API as kv_server.py, stored in SQLite,
for comparison (bench/py/web_bench.py). Runs under the plain interpreter:

    /usr/bin/python3 kv_server_sqlite.py [PORT] [--bind ADDR] [--db PATH]

Every write is its own transaction in WAL mode with synchronous=FULL, so, like
kv_server.py under py-persist, a write is durable before it is answered.
"""

import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_kv  # noqa: E402  (after the path is set)

ap = http_kv.arg_parser("The key/value HTTP API on SQLite (WAL, synchronous=FULL).")
ap.add_argument("--db", default="kv.sqlite3", help="database file (default %(default)s)")
opts = http_kv.parse(ap, sys.argv[1:])

# Autocommit mode: the transactions below are explicit, one per write.
con = sqlite3.connect(opts.db, isolation_level=None)
mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
if mode != "wal":
    sys.exit(f"kv_server_sqlite: could not switch to WAL mode (got {mode!r})")
con.execute("PRAGMA synchronous=FULL")
con.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


class SQLiteStorage:
    commit = None        # each write below commits (and syncs) on its own

    def get(self, key):
        row = con.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key, text):
        # One transaction: the existence check and the write are atomic and cost one sync.
        con.execute("BEGIN IMMEDIATE")
        try:
            created = con.execute("SELECT 1 FROM kv WHERE key = ?", (key,)).fetchone() is None
            con.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, text))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return created

    def delete(self, key):
        return con.execute("DELETE FROM kv WHERE key = ?", (key,)).rowcount > 0

    def keys(self):
        return [row[0] for row in con.execute("SELECT key FROM kv")]

    def info(self):
        return {"storage": "sqlite", "sqlite_version": sqlite3.sqlite_version}


http_kv.serve(opts, SQLiteStorage())
