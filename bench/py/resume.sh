#!/usr/bin/env bash
# Resume-time benchmark of py-persist: builds Python heaps of about 10 MB, 1 GB and 4 GB
# (heap.py: a global list of dicts of strings and numbers, committed when the building
# run exits), then times `py-persist --arena ARENA -c pass` on each, against starting
# an empty interpreter: `python3.11 -c pass` and py-persist on a new arena. The target
# is a flat resume time: independent of the heap's size. At 1 GB it also saves the same
# records with pickle (pickle.dump to a file, under python3.11) and loads them
# (pickle.load in a fresh python3.11): the target is a py-persist resume at least 100x
# faster than that load; both are also timed followed by a read of every record. Last,
# on every heap: the time of palloc.commit() after changing one dict entry (and with no
# change at all), against pickle.dump of the whole 1 GB heap (timed inside the processes).
# The tables also go to BUILD_DIR/bench/py-resume.txt; progress goes to stderr.
#
#   bench/py/resume.sh [BUILD_DIR] [--quick] [--reps N] [--sizes MB,MB,...]
#                      [--pickle-size MB] [--py-persist PATH] [--drop-caches]
#                      [--timeout S] [--keep] [--allow-missing]
#
#   BUILD_DIR           where py-persist is (BUILD_DIR/bin); default: ./build
#   --quick             heaps of 10 MB and 100 MB only (pickle at 100 MB), 1 round
#   --reps N            repetitions of each start, median taken (default 5; 1 with
#                       --quick); repetitions of the different starts are interleaved
#   --sizes LIST        heap sizes in MB (default 10,1024,4096; with --quick 10,100)
#   --pickle-size MB    the heap for the pickle comparison (default 1024; with --quick
#                       100); added to the sizes if missing
#   --py-persist PATH   the py-persist to test (default BUILD_DIR/bin/py-persist)
#   --drop-caches       cold starts: sync and drop the page cache before every timed run
#                       of every row (needs root; slows the whole machine briefly)
#   --timeout S         a run longer than S seconds FAILS (default 600; builds get 3x)
#   --keep              keep the scratch directory (arenas, pickle file) for inspection
#   --allow-missing     exit 0 even if py-persist is missing
#
# Arenas go to a scratch directory under BUILD_DIR/bench (removed at the end, also on
# Ctrl-C); py-persist creates them with its default --max-size (64G) and durability
# (sync). A heap size is skipped, with a note, when the disk (3x the heap plus 2 GB) or
# the available memory (2x the heap plus 2 GB) is short. Exit status: 0 all ran; 1
# something FAILED (a run crashed, exited non-zero, or a resumed run did not find the
# data the build left); 2 nothing failed but py-persist was missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../interp_bench.sh
. "$here/../interp_bench.sh"
baseline=python3.11 persist_name=py-persist
resume_args py --pickle-size pickle_mb 100 1 5 "$@"
heap=$here/heap.py
need_python
timecmd_python=$python
skip_persist_if_missing "py-persist: $persist is missing: only the python3.11 and pickle rows are measured"
say_notes

# in_process FILE PATTERN: the median of the numbers heap.py reported on stderr after
# PATTERN (e.g. "pickle.load ") in FILE
in_process() { sed -n "s/^heap.py: $2\([0-9.]*\) s$/\1/p" "$1" | median; }

resume_scratch py-resume-scratch

# ---- 1. build the heaps (one py-persist run each; it commits at exit) ----
# build_check MB ARENA: the build must report its records and checksum, and leave an arena
build_check() {
  local bout="$logs/build-$1.out"
  if ! grep -q '^records [1-9]' "$bout" || ! grep -q '^checksum [0-9]' "$bout" || [ ! -e "$2" ]; then
    echo "printed '$(head -c 200 "$bout")' and left $([ -e "$2" ] && echo "an arena" || echo "no arena") (expected records and a checksum, and an arena)"
  fi
}
build_heaps

# ---- 2. time the starts, interleaved; `-c pass` prints nothing ----
base_cmd=("$python" -c pass) start_args=(-c pass)
start_rows py-c "python3.11 -c pass" "py-persist, new arena"
expected() { :; }
time_starts

# ---- 3. pickle at pickle_mb: save, load, load + read; py-persist: resume + read ----
pk_reps=3
[ $quick = 1 ] && pk_reps=1
declare -A pk=()
pkl=$scratch/heap.pickle
if [ "$(avail_kb "$scratch")" -lt $(( (pickle_mb + 2048) * 1024 )) ] || [ "$(mem_avail_kb)" -lt $(( (3 * pickle_mb + 2048) * 1024 )) ]; then
  notes+=("pickle at $pickle_mb MB skipped: short of disk ($(( pickle_mb / 1024 + 2 )) GiB) or memory ($(( 3 * pickle_mb / 1024 + 2 )) GiB)")
  say "${notes[-1]}"
else
  say "pickle: building the same $pickle_mb MB of records under python3.11 and saving them with pickle.dump"
  if timed "$logs/pickle-save.out" --rss wrap --timeout $(( 3 * limit )) --log "$logs/pickle-save.err" -- \
       "$python" "$heap" save "$pkl" "$pickle_mb"; then
    read -r t _ _ m <<<"$res"
    pk[save]=$t; pk[save_rss]=$m
    pk[dump]=$(sed -n 's/^dump_s //p' "$logs/pickle-save.out")
    pk[mib]=$(disk_mib "$pkl")
    pk[summary]=$(sed -n 1p "$logs/pickle-save.out")
    pk[sum]=$(sed -n 's/^checksum //p' "$logs/pickle-save.out")
    if [ -n "${built[$pickle_mb]:-}" ] && [ "${pk[summary]} ${pk[sum]}" != "${b_summary[$pickle_mb]} ${b_sum[$pickle_mb]}" ]; then
      fail "python3.11 built '${pk[summary]}' (checksum ${pk[sum]}) but py-persist '${b_summary[$pickle_mb]}' (checksum ${b_sum[$pickle_mb]}): not the same data"
    fi
    say "pickle: loading it with pickle.load in a fresh python3.11 ($pk_reps run(s))"
    timed_step pickle-load "pickle load" "${pk[summary]}" --reps $pk_reps --rss extra "${cold[@]}" -- "$python" "$heap" load "$pkl" &&
      pk[load]=$step_t pk[load_rss]=$step_rss pk[load_in]=$(in_process "$logs/pickle-load.err" "pickle.load ")
    say "pickle: pickle.load and read every record ($pk_reps run(s))"
    timed_step pickle-walk "pickle load + read" "checksum ${pk[sum]}" --reps $pk_reps --rss extra "${cold[@]}" -- "$python" "$heap" loadwalk "$pkl" &&
      pk[lwalk]=$step_t pk[lwalk_rss]=$step_rss pk[lwalk_in]=$(in_process "$logs/pickle-walk.err" "read every record in ")
  else
    fail "pickle save: $python $heap save $pkl $pickle_mb (log: $logs/pickle-save.err)"
  fi
  rm -f "$pkl"
fi
if [ -n "${built[$pickle_mb]:-}" ]; then
  say "py-persist: resume the $pickle_mb MB heap and read every record ($pk_reps run(s))"
  timed_step walk "resume + read" "checksum ${b_sum[$pickle_mb]}" --reps $pk_reps --rss extra "${cold[@]}" -- \
    "$persist" --arena "$scratch/heap-$pickle_mb.arena" "$heap" walk &&
    pk[walk]=$step_t pk[walk_rss]=$step_rss pk[walk_in]=$(in_process "$logs/walk.err" "read every record in ")
fi

# ---- 4. commit after a small change, on every heap; then the data must be intact ----
commits=10
declare -A ch=()
for mb in "${sizes_ok[@]}"; do
  arena=$scratch/heap-$mb.arena
  say "py-persist: $commits commits of one changed dict entry in the $mb MB heap"
  if timed "$logs/change-$mb.out" --reps 1 --rss none -- "$persist" --arena "$arena" "$heap" change $commits 2>"$logs/change-$mb.err"; then
    # commit_ms FIRST MEDIAN MAX pages LAST kib MEAN empty_ms MEDIAN pages LAST kib MEAN
    read -r _ first medc maxc _ pages _ kib _ emed _ epages _ ekib < "$logs/change-$mb.out"
    ch[$mb]="$first $medc $maxc $pages $kib $emed $epages $ekib"
  else
    fail "commit after a change: $persist --arena $arena $heap change $commits (log: $logs/change-$mb.err)"
  fi
  # Everything the runs above did (and committed at their exit) must have left the data
  # as built.
  if ! "$persist" --arena "$arena" "$heap" walk >"$logs/final-$mb.out" 2>"$logs/final-$mb.err" ||
     [ "$(cat "$logs/final-$mb.out")" != "checksum ${b_sum[$mb]}" ]; then
    fail "the $mb MB heap after all runs: $persist --arena $arena $heap walk printed '$(head -c 200 "$logs/final-$mb.out")', expected 'checksum ${b_sum[$mb]}' (log: $logs/final-$mb.err)"
  fi
  # Done with this arena: free the disk now.
  [ $keep = 1 ] || rm -f "$arena" "$arena".*
done

# ---- 5. tables ----
tmp=$out.partial
{
  report_title "Python resume benchmark: py-persist"
  resume_header load-at-end "$python ($("$python" -V 2>&1))"
  build_table
  echo "Start-up time: \`... -c pass\`, median of $reps runs each, interleaved, after the first"
  echo "start above (wall clock, ms; range: fastest-slowest run)"
  startup_table "vs python3.11" 16 "vs new arena" 14
  if [ -n "${pk[save]:-}" ] || [ -n "${built[$pickle_mb]:-}" ]; then
    echo "pickle against py-persist, heap of $pickle_mb MB${pk[summary]:+ (${pk[summary]})}; whole processes, wall clock;"
    echo "in process: the step alone, timed inside (pickle.dump, pickle.load, reading every record)"
    [ -n "${pk[mib]:-}" ] && echo "pickle file: ${pk[mib]} MiB (pickle.HIGHEST_PROTOCOL); save and build are single runs, the others the median of $pk_reps"
    printf '%-56s %11s %11s %13s\n' "step" "seconds" "in process" "peak RSS MiB"
    rule 94
    pkrow() { # LABEL SECONDS IN-PROCESS RSS-KIB
      if [ -n "${2:-}" ]; then
        printf '%-56s %11.3f %11s %13d\n' "$1" "$2" "${3:--}" $(( ${4:-0} / 1024 ))
      else
        printf '%-56s %11s\n' "$1" "n/a"
      fi
    }
    pkrow "save: python3.11, build + pickle.dump to the file" "${pk[save]:-}" "${pk[dump]:+$(printf '%.3f' "${pk[dump]}")}" "${pk[save_rss]:-}"
    pkrow "save: py-persist, build + commit at exit" "${b_time[$pickle_mb]:-}" "" "${b_rss[$pickle_mb]:-}"
    pkrow "load: python3.11, pickle.load of the file" "${pk[load]:-}" "${pk[load_in]:-}" "${pk[load_rss]:-}"
    pkrow "load: py-persist, resume (-c pass)" "${med[resume-$pickle_mb]:-}" "" "${rss[resume-$pickle_mb]:-}"
    pkrow "load+use: python3.11, pickle.load + read every record" "${pk[lwalk]:-}" "${pk[lwalk_in]:-}" "${pk[lwalk_rss]:-}"
    pkrow "load+use: py-persist, resume + read every record" "${pk[walk]:-}" "${pk[walk_in]:-}" "${pk[walk_rss]:-}"
    rule 94
    speedup_target "py-persist resume >= 100x faster than the pickle load" "${pk[load]:-}" "${med[resume-$pickle_mb]:-}" &&
      [ -n "${pk[walk]:-}" ] && [ -n "${pk[lwalk]:-}" ] &&
      echo "(pickle load + read / py-persist resume + read, whole processes: $(ratio "${pk[lwalk]}" "${pk[walk]}")x)"
    echo
  fi
  if [ ${#sizes_ok[@]} -gt 0 ]; then
    echo "Commit after a small change: palloc.commit() timed inside py-persist, $commits times after"
    echo "negating one record's \"score\" (ms: the first commit of the run, median, max; pages: of the"
    echo "last commit; KiB: written per commit, mean, log records included), then $commits times with"
    echo "no change (median ms, pages, KiB); last column: pickle.dump of the whole $pickle_mb MB heap"
    echo "(in process, above) / the median commit after a change"
    printf '%-9s %9s %9s %9s %6s %7s   %9s %6s %7s %13s\n' "heap" "first ms" "median" "max" "pages" "KiB" \
      "no change" "pages" "KiB" "pickle.dump/"
    rule 96
    for mb in "${sizes_ok[@]}"; do
      if [ -z "${ch[$mb]:-}" ]; then printf '%-9s %9s\n' "$mb MB" FAILED; continue; fi
      read -r first medc maxc pages kib emed epages ekib <<<"${ch[$mb]}"
      r=-
      [ "$mb" = "$pickle_mb" ] && [ -n "${pk[dump]:-}" ] &&
        r=$(awk -v d="${pk[dump]}" -v c="$medc" 'BEGIN{ if (c > 0) printf "%.0fx", d * 1000 / c; else print "-" }')
      printf '%-9s %9s %9s %9s %6s %7s   %9s %6s %7s %13s\n' "$mb MB" "$first" "$medc" "$maxc" "$pages" "$kib" \
        "$emed" "$epages" "$ekib" "$r"
    done
    rule 96
    if [ -n "${ch[$pickle_mb]:-}" ] && [ -n "${pk[dump]:-}" ]; then
      read -r _ medc _ <<<"${ch[$pickle_mb]}"
      echo "at $pickle_mb MB: a commit after a one-entry change takes ${medc} ms, pickle.dump of the heap $(printf '%.2f' "${pk[dump]}") s"
    fi
  fi
} > "$tmp"
show_results "$out" "$start"
exit_status "something FAILED (see above; logs: $logs)" "some rows were not measured (see the notes above)"
