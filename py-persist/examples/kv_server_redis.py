"""kv_server_redis.py: the same JSON key/value API as kv_server.py, stored in Redis,
for comparison (bench/py/web_bench.py). Runs under the plain interpreter with Debian's
python3-redis:

    /usr/bin/python3 kv_server_redis.py [PORT] [--bind ADDR] \
        [--redis-host H] [--redis-port N] [--hash NAME]

All keys live in one Redis hash, so that HSET says whether a key is new and HKEYS
lists them. Durable before the answer only if redis-server runs with
`--appendonly yes --appendfsync always` (the benchmark starts it so): Redis then
writes and fsyncs its append-only file before it replies.
"""

import os
import sys

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_kv  # noqa: E402  (after the path is set)

ap = http_kv.arg_parser("The key/value HTTP API on Redis.")
ap.add_argument("--redis-host", default="127.0.0.1", help="default %(default)s")
ap.add_argument("--redis-port", type=int, default=6379, help="default %(default)s")
ap.add_argument("--hash", default="kv", help="the Redis hash holding the data (default %(default)s)")
opts = http_kv.parse(ap, sys.argv[1:])

db = redis.Redis(host=opts.redis_host, port=opts.redis_port, socket_timeout=30)
db.ping()    # fail at start, not at the first request
durable = db.config_get("appendfsync").get("appendfsync") == "always" and \
    db.config_get("appendonly").get("appendonly") == "yes"
if not durable:
    print("kv_server_redis: redis-server does not run with appendonly yes, appendfsync always: "
          "acknowledged writes are not durable", file=sys.stderr, flush=True)


class RedisStorage:
    commit = None        # redis-server syncs each write before it replies

    def get(self, key):
        value = db.hget(opts.hash, key)
        return None if value is None else value.decode("utf-8")

    def put(self, key, text):
        return db.hset(opts.hash, key, text) == 1

    def delete(self, key):
        return db.hdel(opts.hash, key) > 0

    def keys(self):
        return [k.decode("utf-8") for k in db.hkeys(opts.hash)]

    def info(self):
        return {"storage": "redis", "redis_version": db.info("server").get("redis_version"),
                "durable": durable}


http_kv.serve(opts, RedisStorage())
