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
# shellcheck source=SCRIPTDIR/../interp_bench.sh
. "$here/../interp_bench.sh"
baseline=lua5.4 persist_name=lua-persist bench_word=program
program_args lua "$@"
need_lua

# ---- the programs and their sizes (full: about 1-3 s each under lua5.4 here) ----
benches=(binary-trees n-body spectral-norm fannkuch-redux word-freq)
declare -A size_full=([binary-trees]=15 [n-body]=750000 [spectral-norm]=800
                      [fannkuch-redux]=10 [word-freq]=150000)
declare -A size_quick=([binary-trees]=10 [n-body]=20000 [spectral-norm]=100
                       [fannkuch-redux]=8 [word-freq]=2000)

# ---- the configurations ----
all_configs=(lua5.4 persist-100 persist-1000 persist-exit)
declare -A interval=([persist-100]=100 [persist-1000]=1000 [persist-exit]="")
select_programs
skip_persist_if_missing "lua-persist: $persist is missing: only lua5.4 runs"
say_notes
clean_scratch_at_exit

# ---- running ----
# program_cmd BENCH CONFIG SIZE DIR: the command of a run (see run_one)
program_cmd() {
  if [ "$2" = lua5.4 ]; then
    cmd=("$lua" "$here/$1.lua" "$3")
  else
    cmd=("$persist" --arena "$4/bench.arena")
    [ -n "${interval[$2]}" ] && cmd+=(--commit-interval "${interval[$2]}")
    cmd+=("$here/$1.lua" "$3")
  fi
}

start=$(date +%s)
run_cells

# ---- tables ----
table_head=program table_w=20
tmp=$out.partial
{
  report_title "Lua benchmarks: lua-persist against lua5.4"
  source_line load
  echo "each cell: median of $reps run(s) (wall clock; peak RSS from GNU time); in parentheses: ratio to lua5.4"
  echo "lua5.4: $lua ($("$lua" -v 2>&1 | head -n 1))"
  echo "lua-persist: $persist; persist-N = lua-persist --commit-interval N, persist-exit = no"
  echo "  --commit-interval (commit at exit only); default durability; fresh arena in $out_dir per run"
  for note in "${notes[@]}"; do echo "note: $note"; done
  echo
  program_tables
  for c in "${configs[@]:1}"; do geomean_target "$c" 1.10; done
  program_outputs "Program output (lua5.4, last repetition):" 15
} > "$tmp"
show_results "$out" "$start"
exit_status "some runs FAILED (logs: $logs/*.failed)" "lua-persist did not run (see the note above)"
