#!/bin/sh
# Runs the arena benchmarks and writes their combined output (the tables; progress
# goes to the terminal only) to BUILD_DIR/bench/arena-results.txt.
#
#   bench/run_all.sh [BUILD_DIR] [ARGS...]
#
# BUILD_DIR defaults to ./build next to this script's parent; ARGS (e.g. --quick,
# --dir /mnt/disk) are passed to every program.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
[ $# -gt 0 ] && shift
build=$(cd "$build" && pwd)
bin=$build/bin
out_dir=$build/bench
out=$out_dir/arena-results.txt
mkdir -p "$out_dir"

for p in palloc-bench-commit palloc-bench-open palloc-bench-tracking; do
  if [ ! -x "$bin/$p" ]; then
    echo "run_all.sh: $bin/$p is missing; build it first (make $p)" >&2
    exit 1
  fi
done

tmp=$out.partial
: > "$tmp"
{
  echo "palloc arena benchmarks — $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  rev=$(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
  git -C "$here/.." diff --quiet HEAD -- 2>/dev/null || rev="$rev (with uncommitted changes)"
  echo "source: $rev"
  echo
} >> "$tmp"
status=0
for p in palloc-bench-commit palloc-bench-open palloc-bench-tracking; do
  echo ">>> $p $*" >&2
  start=$(date +%s)
  if "$bin/$p" "$@" >> "$tmp"; then
    echo "<<< $p done in $(( $(date +%s) - start )) s" >&2
  else
    echo "<<< $p FAILED (exit $?)" >&2
    echo "!!! $p failed" >> "$tmp"
    status=1
  fi
  echo >> "$tmp"
done
mv "$tmp" "$out"
echo "results: $out" >&2
exit $status
