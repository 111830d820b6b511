#!/usr/bin/env bash
# Resume-time benchmark of lua-persist: builds Lua heaps of about 10 MB, 1 GB and 4 GB
# (heap.lua: a global table of records, committed when the building run exits), then
# times runs that resume each heap and only look at it (heap.lua check: the number of
# records and the last one's name), against starting an empty interpreter: `lua5.4 -e ''`
# and lua-persist on a fresh arena (running the same heap.lua check). The target is a
# flat resume time: independent of the heap's size. At 1 GB it also saves the same records
# with lua-cjson (cjson.encode to a file, under lua5.4) and loads them (cjson.decode of
# the file): the target is a lua-persist resume at least 100x faster than that load.
# The tables also go to BUILD_DIR/bench/lua-resume.txt; progress goes to stderr.
#
#   bench/lua/resume.sh [BUILD_DIR] [--quick] [--reps N] [--sizes MB,MB,...]
#                       [--cjson-size MB] [--lua-persist PATH] [--drop-caches]
#                       [--timeout S] [--keep] [--allow-missing]
#
#   BUILD_DIR           where lua-persist is (BUILD_DIR/bin); default: ./build
#   --quick             heaps of 10 MB and 50 MB only (cjson at 50 MB), fewer repetitions
#   --reps N            repetitions of each start, median taken (default 11; 5 with
#                       --quick); repetitions of the different starts are interleaved
#   --sizes LIST        heap sizes in MB (default 10,1024,4096; with --quick 10,50)
#   --cjson-size MB     the heap for the lua-cjson comparison (default 1024; with --quick
#                       50); added to the sizes if missing
#   --lua-persist PATH  the lua-persist to test (default BUILD_DIR/bin/lua-persist)
#   --drop-caches       cold starts: sync and drop the page cache before every timed run
#                       of every row (needs root; slows the whole machine briefly)
#   --timeout S         a run longer than S seconds FAILS (default 600; builds get 3x)
#   --keep              keep the scratch directory (arenas, JSON file) for inspection
#   --allow-missing     exit 0 even if lua-persist or lua-cjson is missing
#
# Arenas go to a scratch directory under BUILD_DIR/bench (removed at the end, also on
# Ctrl-C); lua-persist creates them with its default --max-size (64G). A heap size is
# skipped, with a note, when the disk (3x the heap plus 2 GB) or the available memory
# (2x the heap plus 2 GB) is short. Exit status: 0 all ran; 1 something FAILED (a run
# crashed, exited non-zero, or a resumed run did not find the data the build left);
# 2 nothing failed but lua-persist or lua-cjson was missing (some rows not measured).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../interp_bench.sh
. "$here/../interp_bench.sh"
baseline=lua5.4 persist_name=lua-persist
resume_args lua --cjson-size cjson_mb 50 5 11 "$@"
heap=$here/heap.lua heap_column=1
need_lua
command -v python3 >/dev/null || { say "python3 is needed"; exit 1; }
timecmd_python=python3
skip_persist_if_missing "lua-persist: $persist is missing: only the lua5.4 and lua-cjson rows are measured"
have_cjson=1
if ! "$lua" -e 'require("cjson")' >/dev/null 2>&1; then
  have_cjson=0; missing=1
  notes+=("lua-cjson: not found by lua5.4 (Debian package lua-cjson): no lua-cjson comparison")
fi
say_notes
resume_scratch lua-resume-scratch

# ---- 1. build the heaps (one lua-persist run each; it commits at exit) ----
build_heaps

# ---- 2. time the starts, interleaved; the persistent runs look at the heap ----
base_cmd=("$lua" -e '') start_args=("$heap" check)
start_rows lua-e "lua5.4 -e ''" "lua-persist, fresh arena"
# expected ROW: what a row must print
expected() {
  case $1 in
    lua-e) echo -n ;;
    fresh) echo "no data" ;;
    resume-*) echo "${b_summary[${1#resume-}]}" ;;
  esac
}
time_starts

# ---- 3. lua-cjson at cjson_mb: save, load; lua-persist: resume + walk ----
cj_reps=3
[ $quick = 1 ] && cj_reps=1
declare -A cj=()
if [ $have_cjson = 1 ]; then
  json=$scratch/heap.json
  say "lua-cjson: building the same $cjson_mb MB of records under lua5.4 and saving them with cjson.encode"
  if timed "$logs/cjson-save.out" --rss wrap --timeout $(( 3 * limit )) --log "$logs/cjson-save.err" -- \
       "$lua" "$heap" save "$json" "$cjson_mb"; then
    read -r t _ _ m <<<"$res"
    cj[save]=$t; cj[save_rss]=$m
    cj[json_mib]=$(disk_mib "$json")
    cj[summary]=$(sed -n 1p "$logs/cjson-save.out")
    if [ -n "${built[$cjson_mb]:-}" ] && [ "${cj[summary]}" != "${b_summary[$cjson_mb]}" ]; then
      fail "lua5.4 built '${cj[summary]}' but lua-persist '${b_summary[$cjson_mb]}' (not the same data)"
    fi
    say "lua-cjson: loading it with cjson.decode ($cj_reps run(s))"
    if timed_step cjson-load "lua-cjson load" "${cj[summary]}" --reps $cj_reps --rss extra -- "$lua" "$heap" load "$json"; then
      sed 's/^/    | /' "$logs/cjson-load.err" | tail -n 1 >&2
      cj[load]=$step_t; cj[load_rss]=$step_rss
    fi
    rm -f "$json"
  else
    fail "lua-cjson save: $lua $heap save $json $cjson_mb (log: $logs/cjson-save.err)"
  fi
fi
if [ -n "${built[$cjson_mb]:-}" ]; then
  say "lua-persist: resume the $cjson_mb MB heap and read every record ($cj_reps run(s))"
  timed_step walk "resume + walk" "checksum ${b_sum[$cjson_mb]}" --reps $cj_reps --rss extra "${cold[@]}" -- \
    "$persist" --arena "$scratch/heap-$cjson_mb.arena" "$heap" walk &&
    cj[walk]=$step_t cj[walk_rss]=$step_rss
fi

# ---- 4. tables ----
tmp=$out.partial
{
  report_title "Lua resume benchmark: lua-persist"
  resume_header load "$lua ($("$lua" -v 2>&1 | head -n 1))"
  build_table
  echo "Start-up time: median of $reps runs each, interleaved, after the first start above (wall"
  echo "clock, ms; range: fastest-slowest run); the resumed runs run heap.lua check: print #big"
  echo "and the last record's name"
  startup_table "vs lua5.4 -e" 14 "vs fresh arena" 16
  if [ $have_cjson = 1 ] || [ -n "${built[$cjson_mb]:-}" ]; then
    echo "lua-cjson against lua-persist, heap of $cjson_mb MB${cj[summary]:+ (${cj[summary]})}; whole processes, wall clock"
    [ -n "${cj[json_mib]:-}" ] && echo "JSON file: ${cj[json_mib]} MiB; the save and build rows are single runs, load rows the median of $cj_reps"
    printf '%-58s %11s %13s\n' "step" "seconds" "peak RSS MiB"
    rule 84
    cjrow() { if [ -n "${2:-}" ]; then printf '%-58s %11.3f %13d\n' "$1" "$2" $(( ${3:-0} / 1024 )); else printf '%-58s %11s\n' "$1" "${4:-n/a}"; fi; }
    cjrow "save: lua5.4, build + cjson.encode + write the file" "${cj[save]:-}" "${cj[save_rss]:-}"
    cjrow "save: lua-persist, build + commit at exit" "${b_time[$cjson_mb]:-}" "${b_rss[$cjson_mb]:-}"
    cjrow "load: lua5.4, read the file + cjson.decode" "${cj[load]:-}" "${cj[load_rss]:-}"
    cjrow "load: lua-persist, resume (heap.lua check)" "${med[resume-$cjson_mb]:-}" "${rss[resume-$cjson_mb]:-}"
    cjrow "load+use: lua-persist, resume + read every record" "${cj[walk]:-}" "${cj[walk_rss]:-}"
    rule 84
    speedup_target "lua-persist resume >= 100x faster than the cjson load" "${cj[load]:-}" "${med[resume-$cjson_mb]:-}" &&
      [ -n "${cj[walk]:-}" ] && echo "(cjson load / lua-persist resume + reading every record: $(awk -v a="${cj[load]}" -v b="${cj[walk]}" 'BEGIN{ printf "%.2f", a / b }')x)"
  fi
} > "$tmp"
show_results "$out" "$start"
exit_status "something FAILED (see above; logs: $logs)" "some rows were not measured (see the notes above)"
