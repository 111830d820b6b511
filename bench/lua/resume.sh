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
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"
build=
quick=0
reps=
sizes=
cjson_mb=
lp=
drop=0
limit=600
keep=0
allow_missing=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --reps) reps=${2:?--reps needs a number}; shift ;;
    --reps=*) reps=${1#--reps=} ;;
    --sizes) sizes=${2:?--sizes needs a list}; shift ;;
    --sizes=*) sizes=${1#--sizes=} ;;
    --cjson-size) cjson_mb=${2:?--cjson-size needs MB}; shift ;;
    --cjson-size=*) cjson_mb=${1#--cjson-size=} ;;
    --lua-persist) lp=${2:?--lua-persist needs a path}; shift ;;
    --lua-persist=*) lp=${1#--lua-persist=} ;;
    --drop-caches) drop=1 ;;
    --timeout) limit=${2:?--timeout needs seconds}; shift ;;
    --timeout=*) limit=${1#--timeout=} ;;
    --keep) keep=1 ;;
    --allow-missing) allow_missing=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "resume.sh: unknown option $1 (try --help)" >&2; exit 1 ;;
    *) [ -z "$build" ] || { echo "resume.sh: one BUILD_DIR only" >&2; exit 1; }; build=$1 ;;
  esac
  shift
done
say() { echo "resume.sh: $*" >&2; }
build=$(resolve_build "$build") || exit 1
[ -n "$reps" ] || { if [ $quick = 1 ]; then reps=5; else reps=11; fi; }
[ -n "$sizes" ] || { if [ $quick = 1 ]; then sizes=10,50; else sizes=10,1024,4096; fi; }
[ -n "$cjson_mb" ] || { if [ $quick = 1 ]; then cjson_mb=50; else cjson_mb=1024; fi; }
for v in "$reps" "$cjson_mb" "$limit"; do
  need_positive "$v" "--reps, --cjson-size and --timeout want positive numbers"
done
IFS=, read -r -a size_list <<<"$sizes"
for mb in "${size_list[@]}"; do
  need_positive "$mb" "--sizes wants positive numbers of MB: $sizes"
done
case ",$sizes," in *",$cjson_mb,"*) ;; *) size_list+=("$cjson_mb") ;; esac
mapfile -t size_list < <(printf '%s\n' "${size_list[@]}" | sort -n -u)
if [ $drop = 1 ] && ! [ -w /proc/sys/vm/drop_caches ]; then
  say "--drop-caches needs root (cannot write /proc/sys/vm/drop_caches)"; exit 1
fi
lp=${lp:-$build/bin/lua-persist}
out_dir=$build/bench
out=$out_dir/lua-resume.txt
logs=$out_dir/lua-resume-logs
timecmd=$here/timecmd.py
heap=$here/heap.lua
mkdir -p "$out_dir"
rm -rf "$logs"
mkdir -p "$logs"

lua=$(command -v lua5.4 || true)
[ -n "$lua" ] || { say "lua5.4 is needed (Debian package lua5.4)"; exit 1; }
command -v python3 >/dev/null || { say "python3 is needed"; exit 1; }
[ -x /usr/bin/time ] || { say "GNU time is needed at /usr/bin/time (Debian package time)"; exit 1; }
notes=()
missing=0
have_lp=1
if [ ! -x "$lp" ]; then
  have_lp=0; missing=1
  notes+=("lua-persist: $lp is missing: only the lua5.4 and lua-cjson rows are measured")
fi
have_cjson=1
if ! "$lua" -e 'require("cjson")' >/dev/null 2>&1; then
  have_cjson=0; missing=1
  notes+=("lua-cjson: not found by lua5.4 (Debian package lua-cjson): no lua-cjson comparison")
fi
for note in "${notes[@]}"; do say "$note"; done

scratch=$(mktemp -d "$out_dir/lua-resume-scratch.XXXXXX")
# shellcheck disable=SC2317  # called from the trap
cleanup() {
  if [ "$keep" = 1 ]; then say "kept $scratch"; else rm -rf "$scratch"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

failed=0
fail() { failed=1; say "FAILED: $*"; }

# timed OUTFILE TIMECMD-ARGS... -- CMD...: runs timecmd.py; sets `res` to its result line
# ("median min max rss") or returns 1 (reported by timecmd.py on stderr).
timed() {
  local outf=$1; shift
  res=$(python3 "$timecmd" --timeout "$limit" --out "$outf" "$@") || return 1
}
ms() { awk -v s="$1" 'BEGIN{ printf "%.2f", s * 1000 }'; }
avail_kb() { df -Pk "$1" | awk 'NR==2{print $4}'; }
mem_avail_kb() { awk '/^MemAvailable:/{print $2}' /proc/meminfo; }
disk_mib() { du -smc "$@" 2>/dev/null | awk 'END{print $1}'; }
cold=()
[ $drop = 1 ] && cold=(--before 'sync; echo 3 > /proc/sys/vm/drop_caches')

start=$(date +%s)
say "scratch: $scratch; free disk $(( $(avail_kb "$scratch") / 1048576 )) GiB, available memory $(( $(mem_avail_kb) / 1048576 )) GiB"

# ---- 1. build the heaps (one lua-persist run each; it commits at exit) ----
declare -A built=() b_time=() b_rss=() b_disk=() b_disk2=() b_first=() b_summary=() b_heap=() b_sum=()
sizes_ok=()
if [ $have_lp = 1 ]; then
  for mb in "${size_list[@]}"; do
    need_disk=$(( (3 * mb + 2048) * 1024 )) need_mem=$(( (2 * mb + 2048) * 1024 ))
    if [ "$(avail_kb "$scratch")" -lt $need_disk ]; then
      notes+=("heap $mb MB skipped: less than $(( need_disk / 1048576 )) GiB of free disk")
      say "${notes[-1]}"; continue
    fi
    if [ "$(mem_avail_kb)" -lt $need_mem ]; then
      notes+=("heap $mb MB skipped: less than $(( need_mem / 1048576 )) GiB of available memory")
      say "${notes[-1]}"; continue
    fi
    arena=$scratch/heap-$mb.arena
    say "building a $mb MB heap with lua-persist (then it commits at exit)"
    if ! timed "$logs/build-$mb.out" --rss wrap --timeout $(( 3 * limit )) --log "$logs/build-$mb.err" -- \
         "$lp" --arena "$arena" "$heap" build "$mb"; then
      fail "building the $mb MB heap: $lp --arena $arena $heap build $mb (log: $logs/build-$mb.err)"
      continue
    fi
    read -r t _ _ rss <<<"$res"
    built[$mb]=1
    sizes_ok+=("$mb")
    b_time[$mb]=$t
    b_rss[$mb]=$rss
    b_disk[$mb]=$(disk_mib "$arena"*)
    b_summary[$mb]=$(sed -n 1p "$logs/build-$mb.out")
    b_heap[$mb]=$(sed -n 's/^heap \([0-9.]*\) MB$/\1/p' "$logs/build-$mb.out")
    b_sum[$mb]=$(sed -n 's/^checksum //p' "$logs/build-$mb.out")
    say "  built: ${b_summary[$mb]}, heap ${b_heap[$mb]} MB, $(printf '%.2f' "$t") s, peak RSS $(( rss / 1024 )) MiB, arena files $(du -shc "$arena"* | tail -n 1 | cut -f1) on disk"
    # The first start after the build may have work left by the big commit (its log).
    if timed "$logs/first-$mb.out" --reps 1 --rss wrap "${cold[@]}" -- "$lp" --arena "$arena" "$heap" check 2>"$logs/first-$mb.err" &&
       [ "$(cat "$logs/first-$mb.out")" = "${b_summary[$mb]}" ]; then
      read -r t _ _ rss <<<"$res"
      b_first[$mb]=$t
      b_disk2[$mb]=$(disk_mib "$arena"*)
      say "  first resume: $(ms "$t") ms, peak RSS $(( rss / 1024 )) MiB; arena files now ${b_disk2[$mb]} MiB"
    else
      fail "the first resume of the $mb MB heap: $lp --arena $arena $heap check printed '$(head -c 200 "$logs/first-$mb.out")', expected '${b_summary[$mb]}' (log: $logs/first-$mb.err)"
      unset "built[$mb]"
      unset "sizes_ok[-1]"
      continue
    fi
    say "  free disk now $(( $(avail_kb "$scratch") / 1048576 )) GiB"
  done
fi

# ---- 2. time the starts, interleaved ----
rows=(lua-e)
declare -A label=([lua-e]="lua5.4 -e ''" [fresh]="lua-persist, fresh arena")
declare -A walls=() rss=() bad=()
if [ $have_lp = 1 ]; then
  rows+=(fresh)
  for mb in "${sizes_ok[@]}"; do rows+=("resume-$mb"); label[resume-$mb]="lua-persist, resume $mb MB"; done
fi

# row_cmd ROW: the command of a row in `cmd`, the untimed set-up before it in `before`
row_cmd() {
  before=()
  case $1 in
    lua-e) cmd=("$lua" -e '') ;;
    fresh) cmd=("$lp" --arena "$scratch/fresh/heap.arena" "$heap" check)
           before=(--before "rm -rf '$scratch/fresh' && mkdir '$scratch/fresh'") ;;
    resume-*) cmd=("$lp" --arena "$scratch/heap-${1#resume-}.arena" "$heap" check) ;;
  esac
  [ $drop = 1 ] && before=(--before "${before[1]:+${before[1]} && }sync && echo 3 > /proc/sys/vm/drop_caches")
  return 0
}

# expected ROW: what a row must print
expected() {
  case $1 in
    lua-e) echo -n ;;
    fresh) echo "no data" ;;
    resume-*) echo "${b_summary[${1#resume-}]}" ;;
  esac
}

say "timing the starts: ${#rows[@]} rows x $reps repetitions$([ $drop = 1 ] && echo ', cold page cache')"
for ((r = 1; r <= reps; r++)); do
  for row in "${rows[@]}"; do
    [ -n "${bad[$row]:-}" ] && continue
    row_cmd "$row"
    if ! timed "$logs/$row.out" --reps 1 --rss none "${before[@]}" -- "${cmd[@]}" 2>"$logs/$row.err"; then
      bad[$row]=FAILED
      fail "${label[$row]}: ${cmd[*]} (log: $logs/$row.err)"
      tail -n 5 "$logs/$row.err" | sed 's/^/    | /' >&2
      continue
    fi
    if [ "$(cat "$logs/$row.out")" != "$(expected "$row")" ]; then
      bad[$row]=FAILED
      fail "${label[$row]}: ${cmd[*]} printed '$(head -c 200 "$logs/$row.out")', expected '$(expected "$row")'"
      continue
    fi
    read -r t _ <<<"$res"
    walls[$row]="${walls[$row]:-} $t"
  done
  say "  round $r/$reps done"
done
# One more run of each under GNU time, for the peak RSS.
for row in "${rows[@]}"; do
  [ -n "${bad[$row]:-}" ] && continue
  row_cmd "$row"
  if timed "$logs/$row.out" --reps 1 --rss wrap "${before[@]}" -- "${cmd[@]}" 2>>"$logs/$row.err"; then
    read -r _ _ _ m <<<"$res"
    rss[$row]=$m
  else
    bad[$row]=FAILED
    fail "${label[$row]} (the RSS run): ${cmd[*]} (log: $logs/$row.err)"
  fi
done

declare -A med=()
for row in "${rows[@]}"; do
  [ -n "${bad[$row]:-}" ] || med[$row]=$(echo "${walls[$row]:-}" | median)
done

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
    if timed "$logs/cjson-load.out" --reps $cj_reps --rss extra -- "$lua" "$heap" load "$json" 2>"$logs/cjson-load.err"; then
      sed 's/^/    | /' "$logs/cjson-load.err" | tail -n 1 >&2
      read -r t _ _ m <<<"$res"
      cj[load]=$t; cj[load_rss]=$m
      [ "$(cat "$logs/cjson-load.out")" = "${cj[summary]}" ] ||
        fail "cjson load printed '$(cat "$logs/cjson-load.out")', expected '${cj[summary]}'"
    else
      fail "lua-cjson load: $lua $heap load $json (log: $logs/cjson-load.err)"
    fi
    rm -f "$json"
  else
    fail "lua-cjson save: $lua $heap save $json $cjson_mb (log: $logs/cjson-save.err)"
  fi
fi
if [ -n "${built[$cjson_mb]:-}" ]; then
  say "lua-persist: resume the $cjson_mb MB heap and read every record ($cj_reps run(s))"
  if timed "$logs/walk.out" --reps $cj_reps --rss extra "${cold[@]}" -- \
       "$lp" --arena "$scratch/heap-$cjson_mb.arena" "$heap" walk 2>"$logs/walk.err"; then
    read -r t _ _ m <<<"$res"
    cj[walk]=$t; cj[walk_rss]=$m
    [ "$(cat "$logs/walk.out")" = "checksum ${b_sum[$cjson_mb]}" ] ||
      fail "resume + walk printed '$(cat "$logs/walk.out")', expected 'checksum ${b_sum[$cjson_mb]}'"
  else
    fail "resume + walk: $lp --arena $scratch/heap-$cjson_mb.arena $heap walk (log: $logs/walk.err)"
  fi
fi

# ---- 4. tables ----
rev=$(source_rev "$here/../..")
cpu=$(cpu_model)
fs=$(df -PT "$scratch" | awk 'NR==2{print $2}')
tmp=$out.partial
{
  echo "Lua resume benchmark: lua-persist — $(date -u '+%Y-%m-%d %H:%M:%S UTC')$([ $quick = 1 ] && echo ' (--quick)')"
  echo "source: $rev; machine: $(nproc) CPUs (${cpu:-unknown}), $(( $(awk '/^MemTotal:/{print $2}' /proc/meminfo) / 1048576 )) GiB, Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "lua5.4: $lua ($("$lua" -v 2>&1 | head -n 1)); lua-persist: $lp (default durability and --max-size)"
  echo "arenas on $fs in $out_dir; page cache: $([ $drop = 1 ] && echo 'dropped before every timed run (cold)' || echo 'warm (as the previous run left it)')"
  for note in "${notes[@]}"; do echo "note: $note"; done
  echo
  if [ $have_lp = 1 ]; then
    echo "Building the heaps: one lua-persist run each (heap.lua build MB; commits at exit), then"
    echo "the first start after it (heap.lua check; single runs); arena files: MiB on disk"
    echo "(data file and logs) after the build / after the first start"
    printf '%-9s %9s %-25s %9s %13s %16s %15s\n' "target" "heap MB" "records, last" "build s" "peak RSS MiB" "first start ms" "arena files MiB"
    rule 102
    for mb in "${size_list[@]}"; do
      if [ -n "${built[$mb]:-}" ]; then
        printf '%-9s %9s %-25s %9.2f %13d %16s %15s\n' "$mb MB" "${b_heap[$mb]}" \
          "$(echo "${b_summary[$mb]}" | awk '{print $2", "$4}')" "${b_time[$mb]}" \
          $(( b_rss[$mb] / 1024 )) "$(ms "${b_first[$mb]}")" "${b_disk[$mb]} / ${b_disk2[$mb]}"
      else
        printf '%-9s %10s\n' "$mb MB" "not built"
      fi
    done
    echo
  fi
  echo "Start-up time: median of $reps runs each, interleaved, after the first start above (wall"
  echo "clock, ms; range: fastest-slowest run); the resumed runs run heap.lua check: print #big"
  echo "and the last record's name"
  printf '%-30s %9s %15s %14s %16s %13s\n' "start" "wall ms" "range ms" "vs lua5.4 -e" "vs fresh arena" "peak RSS MiB"
  rule 102
  for row in "${rows[@]}"; do
    if [ -n "${bad[$row]:-}" ]; then printf '%-30s %9s\n' "${label[$row]}" FAILED; continue; fi
    v=${med[$row]}
    r1=$(ratio "$v" "${med[lua-e]:-0}")
    r2=-; [ -n "${med[fresh]:-}" ] && r2=$(ratio "$v" "${med[fresh]}")
    range=$(echo "${walls[$row]}" | awk '{ lo = hi = $1; for (i = 2; i <= NF; i++) { if ($i < lo) lo = $i; if ($i > hi) hi = $i }
                                          printf "%.1f-%.1f", lo * 1000, hi * 1000 }')
    printf '%-30s %9s %15s %14s %16s %13.1f\n' "${label[$row]}" "$(ms "$v")" "$range" "($r1)" "($r2)" \
      "$(awk -v k="${rss[$row]:-0}" 'BEGIN{ print k / 1024 }')"
  done
  rule 102
  if [ ${#sizes_ok[@]} -ge 2 ]; then
    lo=${sizes_ok[0]} hi=${sizes_ok[-1]}
    if [ -n "${med[resume-$lo]:-}" ] && [ -n "${med[resume-$hi]:-}" ]; then
      f=$(ratio "${med[resume-$hi]}" "${med[resume-$lo]}")
      echo "target: flat resume time: resume $hi MB / resume $lo MB = ${f}x;" \
        "$(awk -v f="$f" 'BEGIN{ print (f <= 1.25) ? "met (<= 1.25x)" : "NOT met (> 1.25x)" }')"
    else
      echo "target: flat resume time: not measured (a resume FAILED)"
    fi
  else
    echo "target: flat resume time: not measured (fewer than two heaps)"
  fi
  echo
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
    if [ -n "${cj[load]:-}" ] && [ -n "${med[resume-$cjson_mb]:-}" ]; then
      sp=$(awk -v a="${cj[load]}" -v b="${med[resume-$cjson_mb]}" 'BEGIN{ printf "%.0f", a / b }')
      echo "target: lua-persist resume >= 100x faster than the cjson load: ${sp}x;" \
        "$(awk -v s="$sp" 'BEGIN{ print (s >= 100) ? "met" : "NOT met" }')"
      [ $quick = 1 ] && echo "(--quick: the target is meant for a 1 GB heap)"
      [ -n "${cj[walk]:-}" ] && echo "(cjson load / lua-persist resume + reading every record: $(awk -v a="${cj[load]}" -v b="${cj[walk]}" 'BEGIN{ printf "%.2f", a / b }')x)"
    else
      echo "target: lua-persist resume >= 100x faster than the cjson load: not measured"
    fi
  fi
} > "$tmp"
show_results "$out" "$start"
exit_status "something FAILED (see above; logs: $logs)" "some rows were not measured (see the notes above)"
