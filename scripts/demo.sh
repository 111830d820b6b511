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

say "done: every restart found exactly the last acknowledged commit"
