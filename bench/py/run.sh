#!/usr/bin/env bash
# Runs the Python workloads of this directory under Debian's python3.11 (the baseline)
# and under py-persist with a commit every 100 ms, every 1000 ms and only at exit, and
# prints three tables (wall time, CPU time and peak RSS, each with the ratio to
# python3.11 and the geometric mean) and the commits the periodic configurations made.
# The tables also go to BUILD_DIR/bench/py-results.txt; progress goes to stderr.
#
#   bench/py/run.sh [BUILD_DIR] [--quick] [--reps N] [--timeout S] [--py-persist PATH]
#                   [--only NAME[,NAME...]] [--configs NAME[,NAME...]] [--allow-missing]
#
#   BUILD_DIR           where py-persist is (BUILD_DIR/bin); default: ./build
#   --quick             tiny sizes (well under a second each), 1 repetition
#   --reps N            repetitions per cell, median taken (default 5; 1 with --quick)
#   --timeout S         a run taking longer than S seconds is stopped and FAILED (a hang);
#                       default 300 (60 with --quick)
#   --py-persist PATH   the py-persist to test (default BUILD_DIR/bin/py-persist)
#   --only LIST         run only these workloads (comma-separated names, e.g. nbody)
#   --configs LIST      run only these configurations (python3.11 always runs)
#   --allow-missing     exit 0 even if py-persist is missing (only python3.11 runs then)
#
# Workloads (standard library only, inputs from a fixed LCG): binary_trees (object
# graphs: trees of __slots__ instances, a linked list of plain objects with a dict
# index), json_codec (json.dumps/json.loads of nested records), regex (regex-redux on
# generated DNA, named groups over log lines), word_freq (str.split/strip/lower, dicts
# with str and tuple keys), nbody (float arithmetic on lists).
#
# Configurations: python3.11 (/usr/bin/python3.11: Debian's interpreter, which links the
# VM statically; the baseline); libpython (Debian's shared libpython3.11.so, the one
# py-persist embeds, behind a two-line Py_BytesMain program compiled here: the cost of
# the position-independent shared library without any persistence; n/a without cc or
# Python's headers, Debian package libpython3.11-dev); persist-N (py-persist
# --commit-interval N); persist-exit (--commit-interval 0: it commits only at exit,
# which separates the cost of periodic commits from the rest). Every interpreter runs
# with -E -s -B; py-persist with the default durability (sync) and --fresh on an arena
# in a new scratch directory under BUILD_DIR/bench for every run, removed afterwards. CPU
# time is user + system time of all the process's threads. Every run's output must equal
# python3.11's (the workloads print checksums). Target: persist-100 within 1.15x of
# python3.11 (geometric mean of the wall-time ratios).
#
# Exit status: 0 all ran; 1 some cell FAILED (crash, non-zero exit, wrong output, no
# arena created); 2 nothing failed but py-persist was missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"
build=
quick=0
reps=
limit=
pp=
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
    --py-persist) pp=${2:?--py-persist needs a path}; shift ;;
    --py-persist=*) pp=${1#--py-persist=} ;;
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
pp=${pp:-$build/bin/py-persist}
out_dir=$build/bench
out=$out_dir/py-results.txt
logs=$out_dir/py-logs
mkdir -p "$out_dir"
rm -rf "$logs"
mkdir -p "$logs"

say() { echo "run.sh: $*" >&2; }

gnu_time=/usr/bin/time
if ! "$gnu_time" -f %e true >/dev/null 2>&1; then
  say "GNU time is needed at $gnu_time (Debian package 'time'): apt-get install time"
  exit 1
fi
# Debian's interpreter by its full path: `python3` on PATH may be another build.
python=/usr/bin/python3.11
if [ ! -x "$python" ]; then
  say "Debian's python3.11 is needed at $python (Debian package python3.11)"
  exit 1
fi

# ---- the workloads and their sizes (full: about 1.5-2 s each under python3.11 here) ----
benches=(binary_trees json_codec regex word_freq nbody)
declare -A size_full=([binary_trees]=14 [json_codec]=20000 [regex]=1600
                      [word_freq]=600000 [nbody]=300000)
declare -A size_quick=([binary_trees]=8 [json_codec]=300 [regex]=20
                       [word_freq]=5000 [nbody]=2000)
if [ -n "$only" ]; then
  IFS=, read -r -a wanted <<<"$only"
  for b in "${wanted[@]}"; do
    [ -n "${size_full[$b]:-}" ] || { say "--only: no workload $b (have: ${benches[*]})"; exit 1; }
  done
  benches=("${wanted[@]}")
fi
size_of() { if [ $quick = 1 ]; then echo "${size_quick[$1]}"; else echo "${size_full[$1]}"; fi; }

# ---- the configurations ----
all_configs=(python3.11 libpython persist-100 persist-1000 persist-exit)
configs=("${all_configs[@]}")
declare -A interval=([persist-100]=100 [persist-1000]=1000 [persist-exit]=0)
if [ -n "$configs_opt" ]; then
  IFS=, read -r -a wanted <<<"$configs_opt"
  configs=(python3.11)
  for c in "${wanted[@]}"; do
    [ "$c" = python3.11 ] && continue
    case " ${all_configs[*]} " in
      *" $c "*) configs+=("$c") ;;
      *) say "--configs: no configuration $c (have: ${all_configs[*]})"; exit 1 ;;
    esac
  done
fi
declare -A skip=()
notes=()
missing=0
if [ ! -x "$pp" ]; then
  for c in "${configs[@]}"; do
    case $c in persist-*) skip[$c]="py-persist is missing" ;; esac
  done
  notes+=("py-persist: $pp is missing: the persist-* configurations do not run")
  missing=1
fi

# The libpython configuration: the shared library py-persist itself loads (so both run
# the same VM code), behind the smallest embedding program.
embed=$out_dir/py-embed
wants_embed=0
case " ${configs[*]} " in *" libpython "*) wants_embed=1 ;; esac
if [ $wants_embed = 1 ]; then
  libpy=
  [ -x "$pp" ] && libpy=$(ldd "$pp" 2>/dev/null | awk '$1 ~ /^libpython3\.11/ {print $3; exit}')
  [ -n "$libpy" ] || libpy=$("$python" -c 'import sysconfig, os; print(os.path.join(sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")))')
  inc=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  why=
  if ! command -v cc >/dev/null; then why="no C compiler (cc)"
  elif [ ! -f "$inc/Python.h" ]; then why="no $inc/Python.h (Debian package libpython3.11-dev)"
  elif [ ! -f "$libpy" ]; then why="no shared libpython ($libpy)"
  elif ! printf '#include <Python.h>\nint main(int argc, char **argv) { return Py_BytesMain(argc, argv); }\n' |
         cc -O2 -I"$inc" -o "$embed" -x c - -x none "$libpy" -Wl,-rpath,"$(dirname "$libpy")" 2>"$logs/embed-cc.log"; then
    why="compiling the embedding program failed ($logs/embed-cc.log)"
  fi
  if [ -n "$why" ]; then
    skip[libpython]=$why
    notes+=("libpython: not measured: $why")
  else
    notes+=("libpython: $embed, a Py_BytesMain program linked to $libpy")
  fi
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
declare -A times=() cputimes=() rss=() status=() commits=() written=()
failed=0

# run_one BENCH CONFIG REP: appends to times/cputimes/rss (and, for py-persist, to
# commits/written from the workload's stderr line), or marks the cell FAILED
run_one() {
  local b=$1 c=$2 r=$3 key="$1|$2" log="$logs/$2-$1.log" tf="$logs/$2-$1.time"
  local out_file="$logs/$2-$1.out" size dir='' why='' rc=0 t0 t1
  size=$(size_of "$b")
  local -a cmd
  case $c in
    python3.11) cmd=("$python" -E -s -B "$here/$b.py" "$size") ;;
    libpython) cmd=("$embed" -E -s -B "$here/$b.py" "$size") ;;
    *)
      dir=$(mktemp -d "$out_dir/py-scratch.XXXXXX")
      scratch_dirs+=("$dir")
      cmd=("$pp" --arena "$dir/bench.arena" --fresh --commit-interval "${interval[$c]}"
           -E -s -B "$here/$b.py" "$size") ;;
  esac
  # Wall time from the shell's clock (microseconds; GNU time has only 10 ms); CPU time
  # and peak RSS from GNU time.
  t0=$EPOCHREALTIME
  "$gnu_time" -f '%M %U %S' -o "$tf" timeout -k 5 "$limit" "${cmd[@]}" >"$out_file" 2>"$log" || rc=$?
  t1=$EPOCHREALTIME
  why=$(exit_reason $rc "$limit")
  if [ -n "$why" ]; then
    :
  elif [ ! -s "$out_file" ]; then
    why="no output"
  elif [ "$c" != python3.11 ] && [ -f "$logs/python3.11-$b.out" ] && ! cmp -s "$out_file" "$logs/python3.11-$b.out"; then
    why="output differs from python3.11's (diff $out_file $logs/python3.11-$b.out)"
  elif [ -n "$dir" ] && [ ! -e "$dir/bench.arena" ]; then
    why="no arena file was created"
  elif [ -n "$dir" ] && ! grep -q '^py-persist: commits ' "$log"; then
    why="the workload did not find the palloc module (no commit report on stderr)"
  fi
  if [ -n "$dir" ]; then
    rm -rf "$dir"
  fi
  if [ -n "$why" ]; then
    mark_failed "$key" "$log" "  $b under $c FAILED ($why); command: ${cmd[*]}; log: $log"
    return 0
  fi
  local t m u s c_s n w
  t=$(awk -v a="$t0" -v b="$t1" 'BEGIN{ printf "%.3f", b - a }')
  read -r m u s < <(tail -n 1 "$tf")
  c_s=$(awk -v u="$u" -v s="$s" 'BEGIN{ printf "%.2f", u + s }')
  times[$key]="${times[$key]:-} $t"
  cputimes[$key]="${cputimes[$key]:-} $c_s"
  rss[$key]="${rss[$key]:-} $m"
  local extra=
  if [ -n "$dir" ]; then
    read -r n w < <(awk '/^py-persist: commits /{ n = $3; w = $7 } END{ print n, w }' "$log")
    commits[$key]="${commits[$key]:-} $n"
    written[$key]="${written[$key]:-} $w"
    extra=", $n commits before the exit one"
  fi
  say "  $b $size rep $r/$reps $c: $t s, CPU $c_s s, $(( m / 1024 )) MiB$extra"
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
table_head=workload table_nw=22 table_w=18 table_base=python3.11
table_geomeans=("geomean=benches")

rev=$(source_rev "$here/../..")
cpu=$(cpu_model)
tmp=$out.partial
{
  echo "Python benchmarks: py-persist against python3.11 — $(date -u '+%Y-%m-%d %H:%M:%S UTC')$([ $quick = 1 ] && echo ' (--quick)')"
  echo "source: $rev; machine: $(nproc) CPUs (${cpu:-unknown}), Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) (at the end)"
  echo "each cell: median of $reps run(s) (wall clock; CPU time and peak RSS from GNU time); in parentheses: ratio to python3.11"
  echo "python3.11: $python ($("$python" -VV 2>&1 | head -n 1)); all with -E -s -B"
  echo "py-persist: $pp; persist-N = --commit-interval N, persist-exit = --commit-interval 0"
  echo "  (commit at exit only); default durability (sync); --fresh arena in $out_dir per run"
  for note in "${notes[@]}"; do echo "note: $note"; done
  echo
  ratio_table time "Wall time, seconds (lower is better)" 1 "%.3f"
  ratio_table cpu "CPU time (user + system), seconds (lower is better)" 1 "%.2f"
  ratio_table rss "Peak RSS, MiB (lower is better)" 1024 "%.1f"
  periodic=()
  for c in "${configs[@]}"; do
    case $c in persist-*) [ "${interval[$c]}" != 0 ] && [ -z "${skip[$c]:-}" ] && periodic+=("$c") ;; esac
  done
  if [ ${#periodic[@]} -gt 0 ]; then
    echo "Periodic commits per run (median; the exit commit not counted) and MiB they wrote"
    printf '%-22s' workload
    for c in "${periodic[@]}"; do printf '%22s' "$c"; done
    echo
    rule $((22 + 22 * ${#periodic[@]}))
    for b in "${benches[@]}"; do
      printf '%-22s' "$(row_label "$b")"
      for c in "${periodic[@]}"; do
        if [ "${status[$b|$c]:-}" = FAILED ] || [ -z "${commits[$b|$c]:-}" ]; then
          printf '%22s' FAILED
        else
          printf '%22s' "$(echo "${commits[$b|$c]}" | median) / $(awk -v w="$(echo "${written[$b|$c]}" | median)" 'BEGIN{ printf "%.0f", w / 1048576 }') MiB"
        fi
      done
      echo
    done
    echo
  fi
  for c in "${configs[@]:1}"; do
    case $c in persist-100) ;; *) continue ;; esac
    g=${geo[geomean|time|$c]:-n/a}
    case $g in
      n/a|FAILED|-) echo "target: $c wall-time geomean <= 1.15x python3.11: not measured ($g)" ;;
      *) echo "target: $c wall-time geomean <= 1.15x python3.11: ${g}x, $(awk -v g="$g" 'BEGIN{ print (g <= 1.15) ? "met" : "NOT met" }')" ;;
    esac
  done
  [ $quick = 1 ] && echo "(--quick: tiny sizes, where start-up dominates; the target is meant for the full sizes)"
  echo
  echo "Workload output (python3.11, last repetition):"
  for b in "${benches[@]}"; do
    [ -f "$logs/python3.11-$b.out" ] && printf '  %-13s %s\n' "$b" "$(tail -n 1 "$logs/python3.11-$b.out" | cut -c1-150)"
  done
} > "$tmp"
show_results "$out" "$start"
exit_status "some runs FAILED (logs: $logs/*.failed)" "py-persist did not run (see the note above)"
