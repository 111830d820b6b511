#!/usr/bin/env bash
# Runs the allocator benchmarks under several allocators, all by LD_PRELOAD into the same
# binaries, and prints two tables (wall time and peak RSS, each with the ratio to stock
# mimalloc and geometric means). The tables also go to BUILD_DIR/bench/alloc-results.txt;
# progress goes to stderr.
#
#   bench/alloc/run.sh [BUILD_DIR] [--quick] [--lib PATH] [--reps N] [--timeout S]
#                      [--allow-missing]
#
#   BUILD_DIR        where the alloc-* programs are (BUILD_DIR/bin); default: ./build
#   --quick          small workloads (well under a second each), 1 repetition
#   --lib PATH       libpalloc.so to test (default BUILD_DIR/lib/libpalloc.so)
#   --reps N         repetitions per cell, median taken (default 3; 1 with --quick)
#   --timeout S      a run taking longer than S seconds is stopped and FAILED (a hang);
#                    default 300 (60 with --quick)
#   --allow-missing  exit 0 even if the palloc configurations could not run because
#                    libpalloc.so is missing, has no malloc or no persistence
#
# Configurations: glibc (no preload), jemalloc, mimalloc (stock; the baseline), palloc
# (libpalloc.so without PALLOC_* variables: transient mode), palloc-persist (libpalloc.so
# with PALLOC_ARENA in a fresh scratch directory and PALLOC_COMMIT_INTERVAL_MS=100).
#
# Exit status: 0 all ran; 1 some cell FAILED (crash, damaged block, non-zero exit, or the
# preload did not take); 2 nothing failed but the palloc configurations were skipped.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"
lib=''
value_opts=(--lib lib "a path")
parse_args "$@"
common_args 1 3 60 300
lib=${lib:-$build/lib/libpalloc.so}
bin=$build/bin
result_dirs alloc-results.txt alloc-logs
scratch=$out_dir/alloc-scratch
mkdir -p "$scratch"
need_gnu_time

# ---- the workloads ----
benches=(larson xmalloc cache-scratch small realloc trace lua python)
mt_benches=(larson xmalloc cache-scratch)
missing_progs=()
for b in "${benches[@]:0:6}"; do
  [ -x "$bin/alloc-$b" ] || missing_progs+=("alloc-$b")
done
if [ ${#missing_progs[@]} -gt 0 ]; then
  say "missing in $bin: ${missing_progs[*]}; build them first (cmake --build $build --target ${missing_progs[*]})"
  exit 1
fi
lua=$(command -v lua5.4 || true)
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3 || true)
qarg=(); [ $quick = 1 ] && qarg=(--quick)
scale=1; [ $quick = 1 ] && scale=0.05

row_label() { echo "$1"; }
# bench_cmd NAME: the command line of a workload, in the array `cmd`
bench_cmd() {
  case $1 in
    lua) cmd=("$lua" "$here/gc_workload.lua" "$scale") ;;
    python) cmd=("$python" -s "$here/py_workload.py" "$scale") ;;
    *) cmd=("$bin/alloc-$1" "${qarg[@]}") ;;
  esac
}

# ---- the configurations ----
configs=(glibc jemalloc mimalloc palloc palloc-persist)
declare -A preload=(
  [glibc]=
  [jemalloc]=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
  [mimalloc]=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2
  [palloc]=$lib
  [palloc-persist]=$lib
)
declare -A skip=()   # configuration -> why it cannot run
notes=()
for c in jemalloc mimalloc; do
  if [ ! -f "${preload[$c]}" ]; then
    skip[$c]="${preload[$c]} is missing"
    notes+=("$c: ${preload[$c]} is missing (Debian package $([ $c = jemalloc ] && echo libjemalloc2 || echo libmimalloc2.0))")
  fi
done
missing=0
if [ ! -f "$lib" ]; then
  skip[palloc]="libpalloc.so not found"
  notes+=("palloc: $lib is missing: palloc and palloc-persist not run")
elif command -v nm >/dev/null && ! nm -D --defined-only "$lib" 2>/dev/null | awk '$3=="malloc"{f=1} END{exit !f}'; then
  skip[palloc]="no malloc in libpalloc.so"
  notes+=("palloc: $lib does not define malloc (not the allocator yet): palloc and palloc-persist not run")
fi
if [ -n "${skip[palloc]:-}" ]; then
  skip[palloc-persist]=${skip[palloc]}
  missing=1
else
  # Does the library honour PALLOC_ARENA? A tiny run must leave an arena file behind.
  probe=$scratch/probe
  rm -rf "$probe"; mkdir -p "$probe"
  if ! timeout -k 5 60 env LD_PRELOAD="$lib" PALLOC_ARENA="$probe/bench.arena" PALLOC_COMMIT_INTERVAL_MS=100 \
       "$bin/alloc-small" --depth 4 --list 1000 >"$logs/probe-persist.log" 2>&1; then
    notes+=("palloc-persist: a probe run failed (log: $logs/probe-persist.log); running anyway")
  elif [ ! -e "$probe/bench.arena" ]; then
    skip[palloc-persist]="PALLOC_ARENA ignored"
    notes+=("palloc-persist: $lib ran but created no arena at PALLOC_ARENA (no persistence yet): palloc-persist not run")
    missing=1
  fi
  rm -rf "$probe"
fi
[ -n "$lua" ] || notes+=("lua: lua5.4 is missing (Debian package lua5.4)")
[ -n "$python" ] || notes+=("python: python3 is missing (Debian package python3)")
for note in "${notes[@]}"; do say "$note"; done

# ---- running ----
declare -A times=() rss=() status=() line=()
failed=0

# run_one BENCH CONFIG REP: appends "seconds" and "KiB" to times/rss, or marks FAILED
run_one() {
  local b=$1 c=$2 r=$3 key="$1|$2" log="$logs/$2-$1.log" tf="$logs/$2-$1.time"
  local -a envs=(env)
  [ -n "${preload[$c]}" ] && envs+=("LD_PRELOAD=${preload[$c]}")
  [ "$b" = python ] && envs+=(PYTHONMALLOC=malloc)
  local arena_dir=
  if [ "$c" = palloc-persist ]; then
    arena_dir=$scratch/run
    rm -rf "$arena_dir"; mkdir -p "$arena_dir"
    envs+=("PALLOC_ARENA=$arena_dir/bench.arena" PALLOC_COMMIT_INTERVAL_MS=100)
  fi
  bench_cmd "$b"
  if [ -z "${cmd[0]}" ]; then status[$key]=missing; failed=1; return; fi
  # env (not time or timeout) sets the variables, so only the benchmark is preloaded.
  "$gnu_time" -f '%e %M' -o "$tf" timeout -k 5 "$limit" "${envs[@]}" "${cmd[@]}" >"$log" 2>&1
  local rc=$? why
  why=$(exit_reason $rc "$limit")
  if [ -n "$why" ]; then
    :
  elif grep -q "cannot be preloaded" "$log"; then
    why="the preload did not take"
  elif [ "$b" != lua ] && [ "$b" != python ]; then
    local want=libc.so.6 got
    [ -n "${preload[$c]}" ] && want=$(basename "${preload[$c]}")
    got=$(sed -n 's/.* malloc=\([^ ]*\).*/\1/p' "$log" | tail -n 1)
    [ "$got" = "$want" ] || why="malloc came from ${got:-?}, not $want"
  fi
  if [ -n "$arena_dir" ] && [ -z "$why" ] && [ ! -e "$arena_dir/bench.arena" ]; then
    why="no arena file was created"
  fi
  [ -n "$arena_dir" ] && rm -rf "$arena_dir"
  if [ -n "$why" ]; then
    mark_failed "$key" "$log" "  $b under $c FAILED ($why); log: $log"
    return
  fi
  local t m
  read -r t m < <(tail -n 1 "$tf")
  times[$key]="${times[$key]:-} $t"
  rss[$key]="${rss[$key]:-} $m"
  line[$key]=$(grep -v '^\s*$' "$log" | tail -n 1)
  say "  $b rep $r/$reps $c: $t s, $(( m / 1024 )) MiB"
}

start=$(date +%s)
run_cells
rm -rf "$scratch/run"
rmdir "$scratch" 2>/dev/null

# ---- tables ----
table_head=benchmark table_nw=14 table_w=18 table_base=mimalloc
table_geomeans=("geomean (all)=benches" "geomean (MT)=mt_benches")

tmp=$out.partial
{
  report_title "palloc allocator benchmarks"
  source_line
  echo "each cell: median of $reps run(s) as measured by GNU time; in parentheses: ratio to stock mimalloc"
  echo "libpalloc.so: $lib"
  for note in "${notes[@]}"; do echo "note: $note"; done
  echo "geomean (MT) is over the multi-threaded benchmarks: ${mt_benches[*]}"
  echo
  ratio_table time "Wall time, seconds (lower is better)" 1 "%.2f"
  ratio_table rss "Peak RSS, MiB (lower is better)" 1024 "%.1f"
  echo "Program output (last repetition):"
  for b in "${benches[@]}"; do
    for c in "${configs[@]}"; do
      [ -n "${line[$b|$c]:-}" ] && printf '  %-15s %s\n' "$c" "${line[$b|$c]}"
    done
  done
} > "$tmp"
show_results "$out" "$start"
exit_status "some runs FAILED (logs: $logs/*.failed)" "the palloc configurations did not run (see the notes above)"
