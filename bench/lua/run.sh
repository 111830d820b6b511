#!/usr/bin/env bash
# Runs the Lua benchmark programs of this directory under Debian's lua5.4 (the baseline)
# and under lua-persist with a commit every 100 ms and every 1000 ms (and only at exit),
# and prints three tables (wall time, CPU time and peak RSS, each with the ratio to lua5.4
# and the geometric mean).
# The tables also go to BUILD_DIR/bench/lua-results.txt; progress goes to stderr.
#
#   bench/lua/run.sh [BUILD_DIR] [--quick] [--reps N] [--timeout S] [--lua-persist PATH]
#                    [--only NAME[,NAME...]] [--configs NAME[,NAME...]] [--allow-missing]
#
#   BUILD_DIR           where lua-persist is (BUILD_DIR/bin); default: ./build
#   --quick             tiny sizes (well under a second each), 1 repetition
#   --reps N            repetitions per cell, median taken (default 5; 1 with --quick)
#   --timeout S         a run taking longer than S seconds is stopped and FAILED (a hang);
#                       default 300 (60 with --quick)
#   --lua-persist PATH  the lua-persist to test (default BUILD_DIR/bin/lua-persist)
#   --only LIST         run only these programs (comma-separated names, e.g. n-body)
#   --configs LIST      run only these configurations (lua5.4 always runs)
#   --allow-missing     exit 0 even if lua-persist is missing (only lua5.4 runs then)
#
# Configurations: lua5.4 (Debian's interpreter; the baseline), persist-100
# (lua-persist --commit-interval 100), persist-1000 (lua-persist --commit-interval 1000)
# and persist-exit (lua-persist without --commit-interval: it commits only at exit; this
# separates the cost of periodic commits from the rest), all with the default durability
# and a fresh arena in a new scratch directory under BUILD_DIR/bench for every run,
# removed afterwards. CPU time is user + system time of all the process's threads. Every run's output must equal
# lua5.4's (the programs print checksums). Target: lua-persist within 1.10x of lua5.4
# (geometric mean of the wall-time ratios).
#
# Exit status: 0 all ran; 1 some cell FAILED (crash, non-zero exit, wrong output, no
# arena created); 2 nothing failed but lua-persist was missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"
build=
quick=0
reps=
limit=
lp=
only=
configs_opt=
allow_missing=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --reps) reps=${2:?--reps needs a number}; shift ;;
    --reps=*) reps=${1#--reps=} ;;
    --timeout) limit=${2:?--timeout needs seconds}; shift ;;
    --timeout=*) limit=${1#--timeout=} ;;
    --lua-persist) lp=${2:?--lua-persist needs a path}; shift ;;
    --lua-persist=*) lp=${1#--lua-persist=} ;;
    --only) only=${2:?--only needs names}; shift ;;
    --only=*) only=${1#--only=} ;;
    --configs) configs_opt=${2:?--configs needs names}; shift ;;
    --configs=*) configs_opt=${1#--configs=} ;;
    --allow-missing) allow_missing=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1 (try --help)" >&2; exit 1 ;;
    *) [ -z "$build" ] || { echo "run.sh: one BUILD_DIR only" >&2; exit 1; }; build=$1 ;;
  esac
  shift
done
build=$(resolve_build "$build") || exit 1
[ -n "$reps" ] || { if [ $quick = 1 ]; then reps=1; else reps=5; fi; }
need_positive "$reps" "--reps wants a positive number"
[ -n "$limit" ] || { if [ $quick = 1 ]; then limit=60; else limit=300; fi; }
need_positive "$limit" "--timeout wants a positive number of seconds"
lp=${lp:-$build/bin/lua-persist}
out_dir=$build/bench
out=$out_dir/lua-results.txt
logs=$out_dir/lua-logs
mkdir -p "$out_dir"
rm -rf "$logs"
mkdir -p "$logs"

say() { echo "run.sh: $*" >&2; }

gnu_time=/usr/bin/time
if ! "$gnu_time" -f %e true >/dev/null 2>&1; then
  say "GNU time is needed at $gnu_time (Debian package 'time'): apt-get install time"
  exit 1
fi
lua=$(command -v lua5.4 || true)
if [ -z "$lua" ]; then
  say "lua5.4 is needed (Debian package lua5.4): apt-get install lua5.4"
  exit 1
fi

# ---- the programs and their sizes (full: about 1-3 s each under lua5.4 here) ----
benches=(binary-trees n-body spectral-norm fannkuch-redux word-freq)
declare -A size_full=([binary-trees]=15 [n-body]=750000 [spectral-norm]=800
                      [fannkuch-redux]=10 [word-freq]=150000)
declare -A size_quick=([binary-trees]=10 [n-body]=20000 [spectral-norm]=100
                       [fannkuch-redux]=8 [word-freq]=2000)
if [ -n "$only" ]; then
  IFS=, read -r -a wanted <<<"$only"
  for b in "${wanted[@]}"; do
    [ -n "${size_full[$b]:-}" ] || { say "--only: no program $b (have: ${benches[*]})"; exit 1; }
  done
  benches=("${wanted[@]}")
fi
size_of() { if [ $quick = 1 ]; then echo "${size_quick[$1]}"; else echo "${size_full[$1]}"; fi; }

# ---- the configurations ----
configs=(lua5.4 persist-100 persist-1000 persist-exit)
declare -A interval=([persist-100]=100 [persist-1000]=1000 [persist-exit]="")
if [ -n "$configs_opt" ]; then
  IFS=, read -r -a wanted <<<"$configs_opt"
  configs=(lua5.4)
  for c in "${wanted[@]}"; do
    [ "$c" = lua5.4 ] && continue
    [ -n "${interval[$c]+set}" ] || { say "--configs: no configuration $c (have: lua5.4 persist-100 persist-1000 persist-exit)"; exit 1; }
    configs+=("$c")
  done
fi
declare -A skip=()
notes=()
missing=0
if [ ! -x "$lp" ]; then
  for c in "${configs[@]:1}"; do skip[$c]="lua-persist is missing"; done
  notes+=("lua-persist: $lp is missing: only lua5.4 runs")
  missing=1
fi
for note in "${notes[@]}"; do say "$note"; done

scratch_dirs=()
# shellcheck disable=SC2317  # called from the trap
cleanup() {
  local d
  for d in "${scratch_dirs[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---- running ----
declare -A times=() cputimes=() rss=() status=()
failed=0

# run_one BENCH CONFIG REP: appends "seconds" and "KiB" to times/rss, or marks FAILED
run_one() {
  local b=$1 c=$2 r=$3 key="$1|$2" log="$logs/$2-$1.log" tf="$logs/$2-$1.time"
  local out_file="$logs/$2-$1.out" size dir='' why='' rc=0 t0 t1
  size=$(size_of "$b")
  local -a cmd
  if [ "$c" = lua5.4 ]; then
    cmd=("$lua" "$here/$b.lua" "$size")
  else
    dir=$(mktemp -d "$out_dir/lua-scratch.XXXXXX")
    scratch_dirs+=("$dir")
    cmd=("$lp" --arena "$dir/bench.arena")
    [ -n "${interval[$c]}" ] && cmd+=(--commit-interval "${interval[$c]}")
    cmd+=("$here/$b.lua" "$size")
  fi
  # Wall time from the shell's clock (microseconds; GNU time has only 10 ms), peak RSS
  # from GNU time.
  t0=$EPOCHREALTIME
  "$gnu_time" -f '%M %U %S' -o "$tf" timeout -k 5 "$limit" "${cmd[@]}" >"$out_file" 2>"$log" || rc=$?
  t1=$EPOCHREALTIME
  why=$(exit_reason $rc "$limit")
  if [ -n "$why" ]; then
    :
  elif [ "$c" != lua5.4 ] && [ -f "$logs/lua5.4-$b.out" ] && ! cmp -s "$out_file" "$logs/lua5.4-$b.out"; then
    why="output differs from lua5.4's (diff $out_file $logs/lua5.4-$b.out)"
  elif [ -n "$dir" ] && [ ! -e "$dir/bench.arena" ]; then
    why="no arena file was created"
  fi
  if [ -n "$dir" ]; then
    rm -rf "$dir"
  fi
  if [ -n "$why" ]; then
    mark_failed "$key" "$log" "  $b under $c FAILED ($why); command: ${cmd[*]}; log: $log"
    return 0
  fi
  local t m u s c_s
  t=$(awk -v a="$t0" -v b="$t1" 'BEGIN{ printf "%.3f", b - a }')
  read -r m u s < <(tail -n 1 "$tf")
  c_s=$(awk -v u="$u" -v s="$s" 'BEGIN{ printf "%.2f", u + s }')
  times[$key]="${times[$key]:-} $t"
  cputimes[$key]="${cputimes[$key]:-} $c_s"
  rss[$key]="${rss[$key]:-} $m"
  say "  $b $size rep $r/$reps $c: $t s, CPU $c_s s, $(( m / 1024 )) MiB"
}

start=$(date +%s)
for b in "${benches[@]}"; do
  say "$b $(size_of "$b")"
  for ((r = 1; r <= reps; r++)); do
    for c in "${configs[@]}"; do
      [ -n "${skip[$c]:-}" ] && continue
      [ "${status[$b|$c]:-}" = FAILED ] && continue
      run_one "$b" "$c" "$r"
    done
  done
done

# ---- tables ----
# cell_value BENCH CONFIG METRIC -> the median value, or a word saying why there is none
cell_value() {
  local key="$1|$2"
  if [ -n "${skip[$2]:-}" ]; then echo n/a; return; fi
  if [ "${status[$key]:-}" = FAILED ]; then echo FAILED; return; fi
  case $3 in
    time) echo "${times[$key]:-}" | median ;;
    cpu) echo "${cputimes[$key]:-}" | median ;;
    *) echo "${rss[$key]:-}" | median ;;
  esac
}

row_label() { echo "$1 $(size_of "$1")"; }
table_head=program table_nw=22 table_w=20 table_base=lua5.4
table_geomeans=("geomean=benches")

rev=$(source_rev "$here/../..")
cpu=$(cpu_model)
tmp=$out.partial
{
  echo "Lua benchmarks: lua-persist against lua5.4 — $(date -u '+%Y-%m-%d %H:%M:%S UTC')$([ $quick = 1 ] && echo ' (--quick)')"
  echo "source: $rev; machine: $(nproc) CPUs (${cpu:-unknown}), Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "each cell: median of $reps run(s) (wall clock; peak RSS from GNU time); in parentheses: ratio to lua5.4"
  echo "lua5.4: $lua ($("$lua" -v 2>&1 | head -n 1))"
  echo "lua-persist: $lp; persist-N = lua-persist --commit-interval N, persist-exit = no"
  echo "  --commit-interval (commit at exit only); default durability; fresh arena in $out_dir per run"
  for note in "${notes[@]}"; do echo "note: $note"; done
  echo
  ratio_table time "Wall time, seconds (lower is better)" 1 "%.3f"
  ratio_table cpu "CPU time (user + system), seconds (lower is better)" 1 "%.2f"
  ratio_table rss "Peak RSS, MiB (lower is better)" 1024 "%.1f"
  for c in "${configs[@]:1}"; do
    g=${geo[geomean|time|$c]:-n/a}
    case $g in
      n/a|FAILED|-) echo "target: $c wall-time geomean <= 1.10x lua5.4: not measured ($g)" ;;
      *) echo "target: $c wall-time geomean <= 1.10x lua5.4: ${g}x, $(awk -v g="$g" 'BEGIN{ print (g <= 1.10) ? "met" : "NOT met" }')" ;;
    esac
  done
  [ $quick = 1 ] && echo "(--quick: tiny sizes, where start-up dominates; the target is meant for the full sizes)"
  echo
  echo "Program output (lua5.4, last repetition):"
  for b in "${benches[@]}"; do
    [ -f "$logs/lua5.4-$b.out" ] && printf '  %-15s %s\n' "$b" "$(tail -n 1 "$logs/lua5.4-$b.out")"
  done
} > "$tmp"
show_results "$out" "$start"
exit_status "some runs FAILED (logs: $logs/*.failed)" "lua-persist did not run (see the note above)"
