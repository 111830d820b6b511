#!/usr/bin/env bash
# The persistence demonstration: a C program's data survives kill -9 and restarts.
set -euo pipefail
build=${1:-build}
bin=$(cd "$build/bin" && pwd)
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/palloc-demo.XXXXXX")
trap 'rm -rf "$dir"' EXIT
arena=$dir/guestbook.arena

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

round() {
  local n=$1 ms=$2
  say "round $n: guestbook appends entries and commits every 5; kill -9 after ${ms} ms"
  "$bin/guestbook" "$arena" run >"$dir/run.log" 2>&1 &
  local pid=$!
  sleep "$(awk "BEGIN{print $ms/1000}")"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  tail -n 3 "$dir/run.log"
  local last acked resumed
  last=$(grep -o 'committed epoch [0-9]*: [0-9]* entries' "$dir/run.log" | tail -n 1 || true)
  acked=$(echo "$last" | awk '{print $3}' | tr -d :)
  echo "killed (SIGKILL). last acknowledged: ${last:-none}"
  say "restart: open the arena and validate the book"
  "$bin/guestbook" "$arena" show | tee "$dir/show.log"
  resumed=$(awk '/^resumed epoch/{print $3}' "$dir/show.log")
  # The commit in flight when the kill landed may have completed: acked or acked + 1.
  if [ -n "$acked" ] && { [ "$resumed" -lt "$acked" ] || [ "$resumed" -gt $((acked + 1)) ]; }; then
    echo "demo: FAILED: resumed epoch $resumed, last acknowledged $acked" >&2
    exit 1
  fi
}

say "a fresh arena in $dir"
round 1 1300
round 2 900
round 3 $((500 + RANDOM % 1000))

if [ -x "$bin/palloc" ]; then
  say "palloc info"
  "$bin/palloc" info "$arena"
  say "palloc check"
  "$bin/palloc" check "$arena"
fi
# Part two: an ordinary program (plain malloc and strdup) with its whole heap persistent.
heap=$dir/notebook.arena
heap_round() {
  local n=$1 ms=$2
  say "heap round $n: palloc run -- notebook run (plain malloc; commits every 10 notes); kill -9 after ${ms} ms"
  "$bin/palloc" run --arena "$heap" -- "$bin/notebook" run >"$dir/nb.log" 2>&1 &
  local pid=$!
  sleep "$(awk "BEGIN{print $ms/1000}")"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  tail -n 2 "$dir/nb.log"
  local acked resumed
  acked=$(grep -o 'committed epoch [0-9]*' "$dir/nb.log" | tail -n 1 | awk '{print $3}')
  say "restart: the heap comes back; every note is checked"
  "$bin/palloc" run --arena "$heap" --verbose -- "$bin/notebook" show 2>&1 | tee "$dir/nbshow.log"
  resumed=$(awk '/^resumed epoch/{print $3}' "$dir/nbshow.log" | tr -d :)
  if [ -z "$resumed" ] || { [ -n "$acked" ] && { [ "$resumed" -lt "$acked" ] || [ "$resumed" -gt $((acked + 1)) ]; }; }; then
    echo "demo: FAILED: heap resumed at epoch ${resumed:-?}, last acknowledged ${acked:-none}" >&2
    exit 1
  fi
}
heap_round 1 700
heap_round 2 $((400 + RANDOM % 600))

# Parts three and four: the same JSON key/value web service in Lua (lua-persist) and in
# Python (py-persist), its data a plain table / dict; kill -9 between writes and reads.
kv_demo() {
  local label=$1 server=$2
  shift 2
  local kv=$dir/$label.arena log=$dir/$label.log kv_pid port keys
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  start_kv() {
    "$@" --arena "$kv" "$server" "$port" >"$log" 2>&1 &
    kv_pid=$!
    for _ in $(seq 200); do grep -q listening "$log" && return; sleep 0.05; done
    echo "demo: FAILED: the $label service did not start:" >&2; cat "$log" >&2; exit 1
  }
  say "$label: $(basename "$1") runs $server; its data is the global 'store'"
  start_kv "$@"
  for item in milk eggs bread; do
    curl -sf -X PUT --data-binary "{\"item\": \"$item\"}" "http://127.0.0.1:$port/kv/$item" >/dev/null
    echo "PUT /kv/$item -> stored (committed before the answer)"
  done
  curl -sf -X DELETE "http://127.0.0.1:$port/kv/eggs" >/dev/null && echo "DELETE /kv/eggs -> done"
  kill -9 "$kv_pid"; wait "$kv_pid" 2>/dev/null || true
  echo "killed the service (SIGKILL)"
  say "restart: the script runs again from its first line and finds its data"
  start_kv "$@"
  grep resumed "$log" || true
  keys=$(curl -sf "http://127.0.0.1:$port/kv")
  echo "GET /kv -> $keys"
  echo "GET /kv/bread -> $(curl -sf "http://127.0.0.1:$port/kv/bread")"
  kill "$kv_pid"; wait "$kv_pid" 2>/dev/null || true
  if ! python3 -c 'import json, sys; sys.exit(json.loads(sys.argv[1])["keys"] != ["bread", "milk"])' "$keys"; then
    echo "demo: FAILED: the $label service resumed with $keys, expected bread and milk" >&2
    exit 1
  fi
}

examples=$(cd "$(dirname "$0")/.." && pwd)
if command -v curl >/dev/null; then
  [ -x "$bin/lua-persist" ] && kv_demo Lua "$examples/lua-persist/examples/kv_server.lua" "$bin/lua-persist"
  [ -x "$bin/py-persist" ] && kv_demo Python "$examples/py-persist/examples/kv_server.py" "$bin/py-persist"
fi

say "done: every restart found exactly the last acknowledged commit"
