#!/bin/sh
# run_twice.sh ARENA PROGRAM [ARGS...] — runs PROGRAM with a fresh persistent heap in
# ARENA, then again resuming the heap the first run committed at exit. Both runs must
# succeed, the second must report that it resumed, and the heap must pass `palloc check`.
set -eu
arena=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
tool=$(dirname "$1")/palloc
mkdir -p "$(dirname "$arena")"
rm -f "$arena" "$arena.wal0" "$arena.wal1"
for run in 1 2; do
  echo "== run $run: PALLOC_ARENA=$arena $*"
  PALLOC_ARENA=$arena PALLOC_VERBOSE=1 "$@" > "$arena.out" 2>&1 || { cat "$arena.out"; echo "run $run failed"; exit 1; }
  tail -3 "$arena.out"
  want=$([ $run = 1 ] && echo "created a new heap" || echo "resumed the heap")
  grep -q "palloc: $want" "$arena.out" || { cat "$arena.out"; echo "run $run: expected '$want'"; exit 1; }
done
# 0 = healthy, 1 = commits still in the logs (normal after a run); worse fails.
rc=0; "$tool" check "$arena" || rc=$?
[ $rc -le 1 ] || { echo "palloc check: exit $rc"; exit 1; }
rm -f "$arena" "$arena.wal0" "$arena.wal1" "$arena.out"
