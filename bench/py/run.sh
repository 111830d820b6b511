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
# shellcheck source=SCRIPTDIR/../interp_bench.sh
. "$here/../interp_bench.sh"
baseline=python3.11 persist_name=py-persist bench_word=workload
program_args py "$@"
need_python

# ---- the workloads and their sizes (full: about 1.5-2 s each under python3.11 here) ----
benches=(binary_trees json_codec regex word_freq nbody)
declare -A size_full=([binary_trees]=14 [json_codec]=20000 [regex]=1600
                      [word_freq]=600000 [nbody]=300000)
declare -A size_quick=([binary_trees]=8 [json_codec]=300 [regex]=20
                       [word_freq]=5000 [nbody]=2000)

# ---- the configurations ----
all_configs=(python3.11 libpython persist-100 persist-1000 persist-exit)
declare -A interval=([persist-100]=100 [persist-1000]=1000 [persist-exit]=0)
select_programs
skip_persist_if_missing "py-persist: $persist is missing: the persist-* configurations do not run"

# The libpython configuration: the shared library py-persist itself loads (so both run
# the same VM code), behind the smallest embedding program.
embed=$out_dir/py-embed
wants_embed=0
case " ${configs[*]} " in *" libpython "*) wants_embed=1 ;; esac
if [ $wants_embed = 1 ]; then
  libpy=
  [ -x "$persist" ] && libpy=$(ldd "$persist" 2>/dev/null | awk '$1 ~ /^libpython3\.11/ {print $3; exit}')
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
say_notes
clean_scratch_at_exit

# ---- running ----
declare -A commits=() written=()
need_output=1
# program_cmd BENCH CONFIG SIZE DIR: the command of a run (see run_one)
program_cmd() {
  case $2 in
    python3.11) cmd=("$python" -E -s -B "$here/$1.py" "$3") ;;
    libpython) cmd=("$embed" -E -s -B "$here/$1.py" "$3") ;;
    *) cmd=("$persist" --arena "$4/bench.arena" --fresh --commit-interval "${interval[$2]}"
            -E -s -B "$here/$1.py" "$3") ;;
  esac
}
# run_check LOG: the workloads report their commits (benchutil.report) under py-persist
run_check() {
  grep -q '^py-persist: commits ' "$1" ||
    echo "the workload did not find the palloc module (no commit report on stderr)"
}
# run_collect KEY LOG: the commits before the exit one and the bytes they wrote
run_collect() {
  local n w
  read -r n w < <(awk '/^py-persist: commits /{ n = $3; w = $7 } END{ print n, w }' "$2")
  commits[$1]="${commits[$1]:-} $n"
  written[$1]="${written[$1]:-} $w"
  run_note=", $n commits before the exit one"
}

start=$(date +%s)
run_cells

# ---- tables ----
table_head=workload table_w=18
tmp=$out.partial
{
  report_title "Python benchmarks: py-persist against python3.11"
  source_line load-at-end
  echo "each cell: median of $reps run(s) (wall clock; CPU time and peak RSS from GNU time); in parentheses: ratio to python3.11"
  echo "python3.11: $python ($("$python" -VV 2>&1 | head -n 1)); all with -E -s -B"
  echo "py-persist: $persist; persist-N = --commit-interval N, persist-exit = --commit-interval 0"
  echo "  (commit at exit only); default durability (sync); --fresh arena in $out_dir per run"
  for note in "${notes[@]}"; do echo "note: $note"; done
  echo
  program_tables
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
  case " ${configs[*]} " in *" persist-100 "*) geomean_target persist-100 1.15 ;; esac
  program_outputs "Workload output (python3.11, last repetition):" 13
} > "$tmp"
show_results "$out" "$start"
exit_status "some runs FAILED (logs: $logs/*.failed)" "py-persist did not run (see the note above)"
