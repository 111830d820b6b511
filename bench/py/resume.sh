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
# shellcheck source=SCRIPTDIR/../lib.sh
. "$here/../lib.sh"
build=
quick=0
reps=
sizes=
pickle_mb=
pp=
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
    --pickle-size) pickle_mb=${2:?--pickle-size needs MB}; shift ;;
    --pickle-size=*) pickle_mb=${1#--pickle-size=} ;;
    --py-persist) pp=${2:?--py-persist needs a path}; shift ;;
    --py-persist=*) pp=${1#--py-persist=} ;;
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
[ -n "$reps" ] || { if [ $quick = 1 ]; then reps=1; else reps=5; fi; }
[ -n "$sizes" ] || { if [ $quick = 1 ]; then sizes=10,100; else sizes=10,1024,4096; fi; }
[ -n "$pickle_mb" ] || { if [ $quick = 1 ]; then pickle_mb=100; else pickle_mb=1024; fi; }
for v in "$reps" "$pickle_mb" "$limit"; do
  need_positive "$v" "--reps, --pickle-size and --timeout want positive numbers"
done
IFS=, read -r -a size_list <<<"$sizes"
for mb in "${size_list[@]}"; do
  need_positive "$mb" "--sizes wants positive numbers of MB: $sizes"
done
case ",$sizes," in *",$pickle_mb,"*) ;; *) size_list+=("$pickle_mb") ;; esac
mapfile -t size_list < <(printf '%s\n' "${size_list[@]}" | sort -n -u)
if [ $drop = 1 ] && ! [ -w /proc/sys/vm/drop_caches ]; then
  say "--drop-caches needs root (cannot write /proc/sys/vm/drop_caches)"; exit 1
fi
pp=${pp:-$build/bin/py-persist}
out_dir=$build/bench
out=$out_dir/py-resume.txt
logs=$out_dir/py-resume-logs
# The timing helper of the Lua benchmarks serves here unchanged.
timecmd=$here/../lua/timecmd.py
heap=$here/heap.py
mkdir -p "$out_dir"
rm -rf "$logs"
mkdir -p "$logs"

# Debian's interpreter by its full path: `python3` on PATH may be another build.
python=/usr/bin/python3.11
[ -x "$python" ] || { say "Debian's python3.11 is needed at $python (Debian package python3.11)"; exit 1; }
[ -x /usr/bin/time ] || { say "GNU time is needed at /usr/bin/time (Debian package time)"; exit 1; }
notes=()
missing=0
have_pp=1
if [ ! -x "$pp" ]; then
  have_pp=0; missing=1
  notes+=("py-persist: $pp is missing: only the python3.11 and pickle rows are measured")
fi
for note in "${notes[@]}"; do say "$note"; done

scratch=$(mktemp -d "$out_dir/py-resume-scratch.XXXXXX")
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
  res=$("$python" "$timecmd" --timeout "$limit" --out "$outf" "$@") || return 1
}
ms() { awk -v s="$1" 'BEGIN{ printf "%.2f", s * 1000 }'; }
avail_kb() { df -Pk "$1" | awk 'NR==2{print $4}'; }
mem_avail_kb() { awk '/^MemAvailable:/{print $2}' /proc/meminfo; }
disk_mib() { du -smc "$@" 2>/dev/null | awk 'END{print $1}'; }
# in_process FILE PATTERN: the median of the numbers heap.py reported on stderr after
# PATTERN (e.g. "pickle.load ") in FILE
in_process() { sed -n "s/^heap.py: $2\([0-9.]*\) s$/\1/p" "$1" | median; }
cold=()
[ $drop = 1 ] && cold=(--before 'sync; echo 3 > /proc/sys/vm/drop_caches')

start=$(date +%s)
say "scratch: $scratch; free disk $(( $(avail_kb "$scratch") / 1048576 )) GiB, available memory $(( $(mem_avail_kb) / 1048576 )) GiB"

# ---- 1. build the heaps (one py-persist run each; it commits at exit) ----
declare -A built=() b_time=() b_rss=() b_disk=() b_disk2=() b_first=() b_summary=() b_sum=()
sizes_ok=()
if [ $have_pp = 1 ]; then
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
    say "building a $mb MB heap with py-persist (then it commits at exit)"
    if ! timed "$logs/build-$mb.out" --rss wrap --timeout $(( 3 * limit )) --log "$logs/build-$mb.err" -- \
         "$pp" --arena "$arena" "$heap" build "$mb"; then
      fail "building the $mb MB heap: $pp --arena $arena $heap build $mb (log: $logs/build-$mb.err)"
      continue
    fi
    read -r t _ _ rss <<<"$res"
    if ! grep -q '^records [1-9]' "$logs/build-$mb.out" || ! grep -q '^checksum [0-9]' "$logs/build-$mb.out" ||
       [ ! -e "$arena" ]; then
      fail "building the $mb MB heap: $pp --arena $arena $heap build $mb printed '$(head -c 200 "$logs/build-$mb.out")' and left $([ -e "$arena" ] && echo "an arena" || echo "no arena") (expected records and a checksum, and an arena)"
      continue
    fi
    built[$mb]=1
    sizes_ok+=("$mb")
    b_time[$mb]=$t
    b_rss[$mb]=$rss
    b_disk[$mb]=$(disk_mib "$arena"*)
    b_summary[$mb]=$(sed -n 1p "$logs/build-$mb.out")
    b_sum[$mb]=$(sed -n 's/^checksum //p' "$logs/build-$mb.out")
    say "  built: ${b_summary[$mb]}, $(printf '%.2f' "$t") s, peak RSS $(( rss / 1024 )) MiB, arena files $(du -shc "$arena"* | tail -n 1 | cut -f1) on disk"
    # The first start after the build may have work left by the big commit (its log).
    if timed "$logs/first-$mb.out" --reps 1 --rss wrap "${cold[@]}" -- "$pp" --arena "$arena" "$heap" check 2>"$logs/first-$mb.err" &&
       [ "$(cat "$logs/first-$mb.out")" = "${b_summary[$mb]}" ]; then
      read -r t _ _ rss <<<"$res"
      b_first[$mb]=$t
      b_disk2[$mb]=$(disk_mib "$arena"*)
      say "  first resume: $(ms "$t") ms, peak RSS $(( rss / 1024 )) MiB; arena files now ${b_disk2[$mb]} MiB"
    else
      fail "the first resume of the $mb MB heap: $pp --arena $arena $heap check printed '$(head -c 200 "$logs/first-$mb.out")', expected '${b_summary[$mb]}' (log: $logs/first-$mb.err)"
      unset "built[$mb]"
      unset "sizes_ok[-1]"
      continue
    fi
    say "  free disk now $(( $(avail_kb "$scratch") / 1048576 )) GiB"
  done
fi

# ---- 2. time the starts, interleaved ----
rows=(py-c)
declare -A label=([py-c]="python3.11 -c pass" [fresh]="py-persist, new arena")
declare -A walls=() rss=() bad=()
if [ $have_pp = 1 ]; then
  rows+=(fresh)
  for mb in "${sizes_ok[@]}"; do rows+=("resume-$mb"); label[resume-$mb]="py-persist, resume $mb MB"; done
fi

# row_cmd ROW: the command of a row in `cmd`, the untimed set-up before it in `before`
row_cmd() {
  before=()
  case $1 in
    py-c) cmd=("$python" -c pass) ;;
    fresh) cmd=("$pp" --arena "$scratch/fresh/heap.arena" -c pass)
           before=(--before "rm -rf '$scratch/fresh' && mkdir '$scratch/fresh'") ;;
    resume-*) cmd=("$pp" --arena "$scratch/heap-${1#resume-}.arena" -c pass) ;;
  esac
  [ $drop = 1 ] && before=(--before "${before[1]:+${before[1]} && }sync && echo 3 > /proc/sys/vm/drop_caches")
  return 0
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
    if [ -s "$logs/$row.out" ]; then
      bad[$row]=FAILED
      fail "${label[$row]}: ${cmd[*]} printed '$(head -c 200 "$logs/$row.out")', expected nothing"
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
    if timed "$logs/pickle-load.out" --reps $pk_reps --rss extra "${cold[@]}" -- "$python" "$heap" load "$pkl" 2>"$logs/pickle-load.err"; then
      read -r t _ _ m <<<"$res"
      pk[load]=$t; pk[load_rss]=$m
      pk[load_in]=$(in_process "$logs/pickle-load.err" "pickle.load ")
      [ "$(cat "$logs/pickle-load.out")" = "${pk[summary]}" ] ||
        fail "pickle load printed '$(cat "$logs/pickle-load.out")', expected '${pk[summary]}'"
    else
      fail "pickle load: $python $heap load $pkl (log: $logs/pickle-load.err)"
    fi
    say "pickle: pickle.load and read every record ($pk_reps run(s))"
    if timed "$logs/pickle-walk.out" --reps $pk_reps --rss extra "${cold[@]}" -- "$python" "$heap" loadwalk "$pkl" 2>"$logs/pickle-walk.err"; then
      read -r t _ _ m <<<"$res"
      pk[lwalk]=$t; pk[lwalk_rss]=$m
      pk[lwalk_in]=$(in_process "$logs/pickle-walk.err" "read every record in ")
      [ "$(cat "$logs/pickle-walk.out")" = "checksum ${pk[sum]}" ] ||
        fail "pickle load + read printed '$(cat "$logs/pickle-walk.out")', expected 'checksum ${pk[sum]}'"
    else
      fail "pickle load + read: $python $heap loadwalk $pkl (log: $logs/pickle-walk.err)"
    fi
  else
    fail "pickle save: $python $heap save $pkl $pickle_mb (log: $logs/pickle-save.err)"
  fi
  rm -f "$pkl"
fi
if [ -n "${built[$pickle_mb]:-}" ]; then
  say "py-persist: resume the $pickle_mb MB heap and read every record ($pk_reps run(s))"
  if timed "$logs/walk.out" --reps $pk_reps --rss extra "${cold[@]}" -- \
       "$pp" --arena "$scratch/heap-$pickle_mb.arena" "$heap" walk 2>"$logs/walk.err"; then
    read -r t _ _ m <<<"$res"
    pk[walk]=$t; pk[walk_rss]=$m
    pk[walk_in]=$(in_process "$logs/walk.err" "read every record in ")
    [ "$(cat "$logs/walk.out")" = "checksum ${b_sum[$pickle_mb]}" ] ||
      fail "resume + read printed '$(cat "$logs/walk.out")', expected 'checksum ${b_sum[$pickle_mb]}'"
  else
    fail "resume + read: $pp --arena $scratch/heap-$pickle_mb.arena $heap walk (log: $logs/walk.err)"
  fi
fi

# ---- 4. commit after a small change, on every heap; then the data must be intact ----
commits=10
declare -A ch=()
for mb in "${sizes_ok[@]}"; do
  arena=$scratch/heap-$mb.arena
  say "py-persist: $commits commits of one changed dict entry in the $mb MB heap"
  if timed "$logs/change-$mb.out" --reps 1 --rss none -- "$pp" --arena "$arena" "$heap" change $commits 2>"$logs/change-$mb.err"; then
    # commit_ms FIRST MEDIAN MAX pages LAST kib MEAN empty_ms MEDIAN pages LAST kib MEAN
    read -r _ first medc maxc _ pages _ kib _ emed _ epages _ ekib < "$logs/change-$mb.out"
    ch[$mb]="$first $medc $maxc $pages $kib $emed $epages $ekib"
  else
    fail "commit after a change: $pp --arena $arena $heap change $commits (log: $logs/change-$mb.err)"
  fi
  # Everything the runs above did (and committed at their exit) must have left the data
  # as built.
  if ! "$pp" --arena "$arena" "$heap" walk >"$logs/final-$mb.out" 2>"$logs/final-$mb.err" ||
     [ "$(cat "$logs/final-$mb.out")" != "checksum ${b_sum[$mb]}" ]; then
    fail "the $mb MB heap after all runs: $pp --arena $arena $heap walk printed '$(head -c 200 "$logs/final-$mb.out")', expected 'checksum ${b_sum[$mb]}' (log: $logs/final-$mb.err)"
  fi
  # Done with this arena: free the disk now.
  [ $keep = 1 ] || rm -f "$arena" "$arena".*
done

# ---- 5. tables ----
rev=$(source_rev "$here/../..")
cpu=$(cpu_model)
fs=$(df -PT "$scratch" | awk 'NR==2{print $2}')
tmp=$out.partial
{
  echo "Python resume benchmark: py-persist — $(date -u '+%Y-%m-%d %H:%M:%S UTC')$([ $quick = 1 ] && echo ' (--quick)')"
  echo "source: $rev; machine: $(nproc) CPUs (${cpu:-unknown}), $(( $(awk '/^MemTotal:/{print $2}' /proc/meminfo) / 1048576 )) GiB, Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) (at the end)"
  echo "python3.11: $python ($("$python" -V 2>&1)); py-persist: $pp (default durability and --max-size)"
  echo "arenas on $fs in $out_dir; page cache: $([ $drop = 1 ] && echo 'dropped before every timed run (cold)' || echo 'warm (as the previous run left it)')"
  for note in "${notes[@]}"; do echo "note: $note"; done
  echo
  if [ $have_pp = 1 ]; then
    echo "Building the heaps: one py-persist run each (heap.py build MB; commits at exit), then"
    echo "the first start after it (heap.py check; single runs); arena files: MiB on disk"
    echo "(data file and logs) after the build / after the first start"
    printf '%-9s %-30s %9s %13s %16s %15s\n' "target" "records, last" "build s" "peak RSS MiB" "first start ms" "arena files MiB"
    rule 97
    for mb in "${size_list[@]}"; do
      if [ -n "${built[$mb]:-}" ]; then
        printf '%-9s %-30s %9.2f %13d %16s %15s\n' "$mb MB" \
          "$(echo "${b_summary[$mb]}" | awk '{print $2", "$4}')" "${b_time[$mb]}" \
          $(( b_rss[$mb] / 1024 )) "$(ms "${b_first[$mb]}")" "${b_disk[$mb]} / ${b_disk2[$mb]}"
      else
        printf '%-9s %10s\n' "$mb MB" "not built"
      fi
    done
    echo
  fi
  echo "Start-up time: \`... -c pass\`, median of $reps runs each, interleaved, after the first"
  echo "start above (wall clock, ms; range: fastest-slowest run)"
  printf '%-30s %9s %15s %16s %14s %13s\n' "start" "wall ms" "range ms" "vs python3.11" "vs new arena" "peak RSS MiB"
  rule 102
  for row in "${rows[@]}"; do
    if [ -n "${bad[$row]:-}" ]; then printf '%-30s %9s\n' "${label[$row]}" FAILED; continue; fi
    v=${med[$row]}
    r1=$(ratio "$v" "${med[py-c]:-0}")
    r2=-; [ -n "${med[fresh]:-}" ] && r2=$(ratio "$v" "${med[fresh]}")
    range=$(echo "${walls[$row]}" | awk '{ lo = hi = $1; for (i = 2; i <= NF; i++) { if ($i < lo) lo = $i; if ($i > hi) hi = $i }
                                          printf "%.1f-%.1f", lo * 1000, hi * 1000 }')
    printf '%-30s %9s %15s %16s %14s %13.1f\n' "${label[$row]}" "$(ms "$v")" "$range" "($r1)" "($r2)" \
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
    if [ -n "${pk[load]:-}" ] && [ -n "${med[resume-$pickle_mb]:-}" ]; then
      sp=$(awk -v a="${pk[load]}" -v b="${med[resume-$pickle_mb]}" 'BEGIN{ printf "%.0f", a / b }')
      echo "target: py-persist resume >= 100x faster than the pickle load: ${sp}x;" \
        "$(awk -v s="$sp" 'BEGIN{ print (s >= 100) ? "met" : "NOT met" }')"
      [ $quick = 1 ] && echo "(--quick: the target is meant for a 1 GB heap)"
      [ -n "${pk[walk]:-}" ] && [ -n "${pk[lwalk]:-}" ] &&
        echo "(pickle load + read / py-persist resume + read, whole processes: $(ratio "${pk[lwalk]}" "${pk[walk]}")x)"
    else
      echo "target: py-persist resume >= 100x faster than the pickle load: not measured"
    fi
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
