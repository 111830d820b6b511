# Functions shared by the benchmarks of the persistent interpreters, lua-persist
# (bench/lua) and py-persist (bench/py): run.sh, programs under the stock interpreter and
# under the persistent one, and resume.sh, resume time against the heap's size. Sourced
# by them; it sources bench/lib.sh. The caller sets:
#   baseline       the stock interpreter (lua5.4, python3.11)
#   persist_name   the persistent one (lua-persist, py-persist; program_args and
#                  resume_args set `persist` to its path)
# and, for the functions that say so, the variables and functions named there.
# shellcheck shell=bash disable=SC2034,SC2154  # the caller's variables

# shellcheck source=SCRIPTDIR/../lib.sh  # (SCRIPTDIR: the calling script's, in bench/*/)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# need_lua: exits unless Debian's lua5.4 is on PATH; sets `lua` to it
need_lua() {
  lua=$(command -v lua5.4 || true)
  if [ -z "$lua" ]; then
    say "lua5.4 is needed (Debian package lua5.4): apt-get install lua5.4"
    exit 1
  fi
}

# need_python: exits unless Debian's python3.11 is there; sets `python` to it, by its full
# path: `python3` on PATH may be another build
need_python() {
  python=/usr/bin/python3.11
  if [ ! -x "$python" ]; then
    say "Debian's python3.11 is needed at $python (Debian package python3.11)"
    exit 1
  fi
}

# ---------------------------------------------------------------------------------------
# run.sh: the programs (`benches`, each run with the argument of `size_full` or, with
# --quick, `size_quick`) by the configurations (`all_configs`: `baseline` first, then
# persist-* ones with a commit interval in `interval`). The caller also sets bench_word
# (what a program is called in messages).

# program_args TAG ARGS...: the command line of a run.sh: --PERSIST-NAME PATH (into
# `persist`; default BUILD_DIR/bin/PERSIST-NAME), --only LIST, --configs LIST and those of
# parse_args; 5 repetitions (1 with --quick), a 300 s limit (60). The tables go to
# BUILD_DIR/bench/TAG-results.txt, the logs to TAG-logs, the arenas to new directories
# TAG-scratch.*; also needs GNU time.
program_args() {
  local tag=$1; shift
  persist='' only='' configs_opt='' scratch_tag=$tag
  value_opts=("--$persist_name" persist "a path" --only only names --configs configs_opt names)
  parse_args "$@"
  common_args 1 5 60 300
  persist=${persist:-$build/bin/$persist_name}
  result_dirs "$tag-results.txt" "$tag-logs"
  need_gnu_time
}

size_of() { if [ "$quick" = 1 ]; then echo "${size_quick[$1]}"; else echo "${size_full[$1]}"; fi; }
row_label() { echo "$1 $(size_of "$1")"; }

# select_programs: `benches` cut down to those --only names; `configs` to those --configs
# names (the baseline always runs)
select_programs() {
  local -a wanted
  local b c
  if [ -n "$only" ]; then
    IFS=, read -r -a wanted <<<"$only"
    for b in "${wanted[@]}"; do
      [ -n "${size_full[$b]:-}" ] || { say "--only: no $bench_word $b (have: ${benches[*]})"; exit 1; }
    done
    benches=("${wanted[@]}")
  fi
  configs=("${all_configs[@]}")
  if [ -n "$configs_opt" ]; then
    IFS=, read -r -a wanted <<<"$configs_opt"
    configs=("$baseline")
    for c in "${wanted[@]}"; do
      [ "$c" = "$baseline" ] && continue
      case " ${all_configs[*]} " in
        *" $c "*) configs+=("$c") ;;
        *) say "--configs: no configuration $c (have: ${all_configs[*]})"; exit 1 ;;
      esac
    done
  fi
}

# skip_persist_if_missing NOTE: without `persist`, have_persist is 0, the persist-*
# configurations are skipped (`skip`), NOTE joins `notes` and `missing` becomes 1
declare -A skip=()
notes=() configs=()
missing=0 have_persist=1
skip_persist_if_missing() {
  local c
  [ -x "$persist" ] && return 0
  have_persist=0
  for c in "${configs[@]}"; do
    case $c in persist-*) skip[$c]="$persist_name is missing" ;; esac
  done
  notes+=("$1")
  missing=1
}

# say_notes: the `notes` so far, as progress
say_notes() {
  local note
  for note in "${notes[@]}"; do say "$note"; done
}

declare -A times=() cputimes=() rss=() status=()
failed=0

# run_one BENCH CONFIG REP: runs a program once, appending its wall time, CPU time and
# peak RSS (KiB) to times/cputimes/rss, or marks the cell FAILED. The caller's
# `program_cmd BENCH CONFIG SIZE DIR` puts the command in `cmd` (DIR: a new scratch
# directory for the arena, for persist-* configurations); optional hooks: run_check LOG
# (after the common checks of a persist-* run: prints why it failed, if it did) and
# run_collect KEY LOG (after a good persist-* run: gathers more from its stderr, and
# puts a note for the progress line in `run_note`). need_output=1: a run that prints
# nothing FAILS. The baseline's output (the programs print checksums) is what the other
# configurations must print.
run_one() {
  local b=$1 c=$2 r=$3 key="$1|$2" log="$logs/$2-$1.log" tf="$logs/$2-$1.time"
  local out_file="$logs/$2-$1.out" want="$logs/$baseline-$1.out" size dir='' why='' rc=0 t0 t1
  size=$(size_of "$b")
  case $c in
    persist-*)
      dir=$(mktemp -d "$out_dir/$scratch_tag-scratch.XXXXXX")
      scratch_dirs+=("$dir") ;;
  esac
  local -a cmd
  program_cmd "$b" "$c" "$size" "$dir"
  # Wall time from the shell's clock (microseconds; GNU time has only 10 ms); CPU time
  # and peak RSS from GNU time.
  t0=$EPOCHREALTIME
  "$gnu_time" -f '%M %U %S' -o "$tf" timeout -k 5 "$limit" "${cmd[@]}" >"$out_file" 2>"$log" || rc=$?
  t1=$EPOCHREALTIME
  why=$(exit_reason $rc "$limit")
  if [ -n "$why" ]; then
    :
  elif [ "${need_output:-0}" = 1 ] && [ ! -s "$out_file" ]; then
    why="no output"
  elif [ "$c" != "$baseline" ] && [ -f "$want" ] && ! cmp -s "$out_file" "$want"; then
    why="output differs from $baseline's (diff $out_file $want)"
  elif [ -n "$dir" ] && [ ! -e "$dir/bench.arena" ]; then
    why="no arena file was created"
  elif [ -n "$dir" ] && declare -F run_check >/dev/null; then
    why=$(run_check "$log")
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
  run_note=
  if [ -n "$dir" ] && declare -F run_collect >/dev/null; then
    run_collect "$key" "$log"
  fi
  say "  $b $size rep $r/$reps $c: $t s, CPU $c_s s, $(( m / 1024 )) MiB$run_note"
}

# program_tables: the wall time, CPU time and peak RSS tables, ratios to the baseline
program_tables() {
  table_nw=22 table_base=$baseline
  table_geomeans=("geomean=benches")
  ratio_table time "Wall time, seconds (lower is better)" 1 "%.3f"
  ratio_table cpu "CPU time (user + system), seconds (lower is better)" 1 "%.2f"
  ratio_table rss "Peak RSS, MiB (lower is better)" 1024 "%.1f"
}

# geomean_target CONFIG BOUND: whether CONFIG's wall-time geomean (from program_tables)
# is within BOUND times the baseline's
geomean_target() {
  local g=${geo[geomean|time|$1]:-n/a}
  case $g in
    n/a|FAILED|-) echo "target: $1 wall-time geomean <= ${2}x $baseline: not measured ($g)" ;;
    *) echo "target: $1 wall-time geomean <= ${2}x $baseline: ${g}x, $(awk -v g="$g" -v b="$2" 'BEGIN{ print (g <= b) ? "met" : "NOT met" }')" ;;
  esac
}

# program_outputs TITLE WIDTH: under TITLE, each program's last output line under the
# baseline (the name WIDTH wide; at most 150 characters of the line)
program_outputs() {
  local b
  [ "$quick" = 1 ] && echo "(--quick: tiny sizes, where start-up dominates; the target is meant for the full sizes)"
  echo
  echo "$1"
  for b in "${benches[@]}"; do
    [ -f "$logs/$baseline-$b.out" ] && printf "  %-$2s %s\n" "$b" "$(tail -n 1 "$logs/$baseline-$b.out" | cut -c1-150)"
  done
  return 0
}

# ---------------------------------------------------------------------------------------
# resume.sh: heaps of `size_list` MB built by `heap` (a script taking build MB, check,
# walk) under the persistent interpreter, then the time of starts that resume them.
# The caller sets sizes (--sizes), drop (--drop-caches: 1), timecmd_python (what runs
# bench/lua/timecmd.py).

timecmd=$bench_lib_dir/lua/timecmd.py
fail() { failed=1; say "FAILED: $*"; }
ms() { awk -v s="$1" 'BEGIN{ printf "%.2f", s * 1000 }'; }
avail_kb() { df -Pk "$1" | awk 'NR==2{print $4}'; }
mem_avail_kb() { awk '/^MemAvailable:/{print $2}' /proc/meminfo; }
disk_mib() { du -smc "$@" 2>/dev/null | awk 'END{print $1}'; }

# timed OUTFILE TIMECMD-ARGS... -- CMD...: runs timecmd.py; sets `res` to its result line
# ("median min max rss") or returns 1 (reported by timecmd.py on stderr).
timed() {
  local outf=$1; shift
  res=$("$timecmd_python" "$timecmd" --timeout "$limit" --out "$outf" "$@") || return 1
}

# resume_args TAG CMP-OPTION CMP-VARIABLE CMP-QUICK REPS-QUICK REPS-FULL ARGS...: the
# command line of a resume.sh: --sizes LIST (heap sizes in MB; default 10,1024,4096, with
# --quick 10,CMP-QUICK), CMP-OPTION MB (into CMP-VARIABLE: the heap of the comparison
# with a serialiser; default 1024, with --quick CMP-QUICK; added to the sizes),
# --PERSIST-NAME PATH (into `persist`), --drop-caches (drop=1), --keep (keep=1) and those
# of parse_args; REPS-FULL repetitions (REPS-QUICK with --quick), a 600 s limit. Sets
# `size_list` (sorted) and `cold` (timecmd.py arguments that drop the page cache, with
# --drop-caches, which needs root). The tables go to BUILD_DIR/bench/TAG-resume.txt, the
# logs to TAG-resume-logs; also needs GNU time.
resume_args() {
  local tag=$1 cmp_opt=$2 cmp_var=$3 cmp_quick=$4 reps_quick=$5 reps_full=$6 mb; shift 6
  sizes='' persist='' drop=0
  printf -v "$cmp_var" %s ''
  value_opts=(--sizes sizes "a list" "$cmp_opt" "$cmp_var" MB "--$persist_name" persist "a path")
  flag_opts=(--drop-caches drop --keep keep)
  parse_args "$@"
  common_args "$reps_quick" "$reps_full" 600 600
  by_quick sizes "10,$cmp_quick" 10,1024,4096
  by_quick "$cmp_var" "$cmp_quick" 1024
  local -n cmp_mb=$cmp_var
  need_positive "$cmp_mb" "$cmp_opt wants a positive number of MB"
  IFS=, read -r -a size_list <<<"$sizes"
  for mb in "${size_list[@]}"; do
    need_positive "$mb" "--sizes wants positive numbers of MB: $sizes"
  done
  case ",$sizes," in *",$cmp_mb,"*) ;; *) size_list+=("$cmp_mb") ;; esac
  mapfile -t size_list < <(printf '%s\n' "${size_list[@]}" | sort -n -u)
  if [ "$drop" = 1 ] && ! [ -w /proc/sys/vm/drop_caches ]; then
    say "--drop-caches needs root (cannot write /proc/sys/vm/drop_caches)"; exit 1
  fi
  cold=()
  [ "$drop" = 1 ] && cold=(--before 'sync; echo 3 > /proc/sys/vm/drop_caches')
  persist=${persist:-$build/bin/$persist_name}
  result_dirs "$tag-resume.txt" "$tag-resume-logs"
  need_gnu_time
}

# resume_scratch PREFIX: `scratch`, a new directory out_dir/PREFIX.XXXXXX, removed at the
# end unless --keep; says how much disk and memory there is; `start`: now
resume_scratch() {
  start=$(date +%s)
  scratch=$(mktemp -d "$out_dir/$1.XXXXXX")
  scratch_dirs=("$scratch")
  clean_scratch_at_exit
  say "scratch: $scratch; free disk $(( $(avail_kb "$scratch") / 1048576 )) GiB, available memory $(( $(mem_avail_kb) / 1048576 )) GiB"
}

# room_for MB DISK-FACTOR MEM-FACTOR WHAT: whether the disk has DISK-FACTOR x MB + 2 GB free
# and the memory MEM-FACTOR x MB + 2 GB available; if not, a note says WHAT was skipped
room_for() {
  local need_disk=$(( ($2 * $1 + 2048) * 1024 )) need_mem=$(( ($3 * $1 + 2048) * 1024 ))
  if [ "$(avail_kb "$scratch")" -lt $need_disk ]; then
    notes+=("$4 skipped: less than $(( need_disk / 1048576 )) GiB of free disk")
  elif [ "$(mem_avail_kb)" -lt $need_mem ]; then
    notes+=("$4 skipped: less than $(( need_mem / 1048576 )) GiB of available memory")
  else
    return 0
  fi
  say "${notes[-1]}"
  return 1
}

# build_heaps: for every size of `size_list` with room on the disk and in memory, a heap
# built by one run of `heap build MB` (it commits at exit), then the first start after
# it (`heap check`, which must print the build's first line). Fills built[MB]=1, b_time,
# b_rss, b_disk (arena MiB after the build), b_disk2 (after the first start), b_first
# (its seconds), b_summary (the first line), b_heap (the heap's MB, if the build says
# "heap N MB"), b_sum (the checksum) and `sizes_ok`; nothing without `persist`. Optional
# hook: build_check MB ARENA, which prints why a finished build is not right, if it is not.
declare -A built=() b_time=() b_rss=() b_disk=() b_disk2=() b_first=() b_summary=() b_heap=() b_sum=()
sizes_ok=()
build_heaps() {
  local mb arena bout t rss why
  [ "$have_persist" = 1 ] || return 0
  for mb in "${size_list[@]}"; do
    room_for "$mb" 3 2 "heap $mb MB" || continue
    arena=$scratch/heap-$mb.arena bout=$logs/build-$mb.out
    say "building a $mb MB heap with $persist_name (then it commits at exit)"
    if ! timed "$bout" --rss wrap --timeout $(( 3 * limit )) --log "$logs/build-$mb.err" -- \
         "$persist" --arena "$arena" "$heap" build "$mb"; then
      fail "building the $mb MB heap: $persist --arena $arena $heap build $mb (log: $logs/build-$mb.err)"
      continue
    fi
    read -r t _ _ rss <<<"$res"
    if declare -F build_check >/dev/null; then
      why=$(build_check "$mb" "$arena")
      if [ -n "$why" ]; then
        fail "building the $mb MB heap: $persist --arena $arena $heap build $mb $why"
        continue
      fi
    fi
    built[$mb]=1
    sizes_ok+=("$mb")
    b_time[$mb]=$t
    b_rss[$mb]=$rss
    b_disk[$mb]=$(disk_mib "$arena"*)
    b_summary[$mb]=$(sed -n 1p "$bout")
    b_heap[$mb]=$(sed -n 's/^heap \([0-9.]*\) MB$/\1/p' "$bout")
    b_sum[$mb]=$(sed -n 's/^checksum //p' "$bout")
    say "  built: ${b_summary[$mb]}${b_heap[$mb]:+, heap ${b_heap[$mb]} MB}, $(printf '%.2f' "$t") s, peak RSS $(( rss / 1024 )) MiB, arena files $(du -shc "$arena"* | tail -n 1 | cut -f1) on disk"
    # The first start after the build may have work left by the big commit (its log).
    if timed "$logs/first-$mb.out" --reps 1 --rss wrap "${cold[@]}" -- "$persist" --arena "$arena" "$heap" check 2>"$logs/first-$mb.err" &&
       [ "$(cat "$logs/first-$mb.out")" = "${b_summary[$mb]}" ]; then
      read -r t _ _ rss <<<"$res"
      b_first[$mb]=$t
      b_disk2[$mb]=$(disk_mib "$arena"*)
      say "  first resume: $(ms "$t") ms, peak RSS $(( rss / 1024 )) MiB; arena files now ${b_disk2[$mb]} MiB"
    else
      fail "the first resume of the $mb MB heap: $persist --arena $arena $heap check printed '$(head -c 200 "$logs/first-$mb.out")', expected '${b_summary[$mb]}' (log: $logs/first-$mb.err)"
      unset "built[$mb]"
      unset "sizes_ok[-1]"
      continue
    fi
    say "  free disk now $(( $(avail_kb "$scratch") / 1048576 )) GiB"
  done
}

# start_rows BASE-ROW BASE-LABEL FRESH-LABEL: `rows`, the starts to time, and their
# `label`s: BASE-ROW, the stock interpreter (command: `base_cmd`); with `persist`, fresh, the persistent one on a new arena, and resume-MB, resuming
# every heap built; these run `persist --arena ARENA` and `start_args`.
declare -A label=()
start_rows() {
  local mb
  rows=("$1")
  label=([$1]=$2 [fresh]=$3)
  [ "$have_persist" = 1 ] || return 0
  rows+=(fresh)
  for mb in "${sizes_ok[@]}"; do rows+=("resume-$mb"); label[resume-$mb]="$persist_name, resume $mb MB"; done
}

# row_cmd ROW: the command of a row in `cmd`, the untimed set-up before it (timecmd.py
# --before: a new arena's directory made; with --drop-caches, the page cache dropped)
# in `before`
row_cmd() {
  local pre=
  case $1 in
    fresh) cmd=("$persist" --arena "$scratch/fresh/heap.arena" "${start_args[@]}")
           pre="rm -rf '$scratch/fresh' && mkdir '$scratch/fresh'" ;;
    resume-*) cmd=("$persist" --arena "$scratch/heap-${1#resume-}.arena" "${start_args[@]}") ;;
    *) cmd=("${base_cmd[@]}") ;;
  esac
  before=()
  [ -n "$pre" ] && before=(--before "$pre")
  [ "$drop" = 1 ] && before=(--before "${pre:+$pre && }sync && echo 3 > /proc/sys/vm/drop_caches")
  return 0
}

# time_starts: times the starts of `rows` (start_rows), `reps` rounds, the rows of a
# round one after another; then one more run of each under GNU time for the peak RSS.
# The caller's `expected ROW` prints what a row must print. Fills walls (the times of
# the runs), med (their median), rss (KiB) and bad (FAILED rows).
declare -A walls=() rss=() bad=() med=()
time_starts() {
  local r row t m want
  local -a cmd before
  say "timing the starts: ${#rows[@]} rows x $reps repetitions$([ "$drop" = 1 ] && echo ', cold page cache')"
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
      want=$(expected "$row")
      if [ "$(cat "$logs/$row.out")" != "$want" ]; then
        bad[$row]=FAILED
        [ -n "$want" ] && want="'$want'"
        fail "${label[$row]}: ${cmd[*]} printed '$(head -c 200 "$logs/$row.out")', expected ${want:-nothing}"
        continue
      fi
      read -r t _ <<<"$res"
      walls[$row]="${walls[$row]:-} $t"
    done
    say "  round $r/$reps done"
  done
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
  for row in "${rows[@]}"; do
    [ -n "${bad[$row]:-}" ] || med[$row]=$(echo "${walls[$row]:-}" | median)
  done
}

# timed_step NAME LABEL EXPECT TIMECMD-ARGS... -- CMD...: a timed comparison step, its
# stdout in logs/NAME.out and stderr in logs/NAME.err; sets step_t (seconds) and step_rss
# (KiB) and returns 0, or says (as LABEL) that it failed and returns 1; it also fails
# (but returns 0) when its output is not EXPECT
timed_step() {
  local name=$1 what=$2 want=$3 got; shift 3
  local -a cmd=("$@")
  while [ "${cmd[0]}" != -- ]; do cmd=("${cmd[@]:1}"); done
  cmd=("${cmd[@]:1}")
  if ! timed "$logs/$name.out" "$@" 2>"$logs/$name.err"; then
    fail "$what: ${cmd[*]} (log: $logs/$name.err)"
    return 1
  fi
  read -r step_t _ _ step_rss <<<"$res"
  got=$(cat "$logs/$name.out")
  [ "$got" = "$want" ] || fail "$what printed '$got', expected '$want'"
  return 0
}

# resume_header load|load-at-end BASELINE-DESCRIPTION: the report's lines after the
# title: the source and machine, the interpreters, where the arenas are, the notes
resume_header() {
  source_line mem "$1"
  echo "$baseline: $2; $persist_name: $persist (default durability and --max-size)"
  echo "arenas on $(df -PT "$scratch" | awk 'NR==2{print $2}') in $out_dir; page cache: $([ "$drop" = 1 ] && echo 'dropped before every timed run (cold)' || echo 'warm (as the previous run left it)')"
  local note
  for note in "${notes[@]}"; do echo "note: $note"; done
  echo
}

# build_table: the heaps built (build_heaps), with a column of the heap's MB if
# heap_column is 1; nothing without `persist`
build_table() {
  local mb rw=30 w=97
  [ "$have_persist" = 1 ] || return 0
  [ "${heap_column:-0}" = 1 ] && rw=25 w=102
  echo "Building the heaps: one $persist_name run each ($(basename "$heap") build MB; commits at exit), then"
  echo "the first start after it ($(basename "$heap") check; single runs); arena files: MiB on disk"
  echo "(data file and logs) after the build / after the first start"
  heap_cell() { [ "${heap_column:-0}" = 1 ] && printf ' %9s' "$1"; return 0; }
  printf '%-9s%s %-*s %9s %13s %16s %15s\n' "target" "$(heap_cell "heap MB")" "$rw" "records, last" "build s" "peak RSS MiB" "first start ms" "arena files MiB"
  rule "$w"
  for mb in "${size_list[@]}"; do
    if [ -n "${built[$mb]:-}" ]; then
      printf '%-9s%s %-*s %9.2f %13d %16s %15s\n' "$mb MB" "$(heap_cell "${b_heap[$mb]}")" "$rw" \
        "$(echo "${b_summary[$mb]}" | awk '{print $2", "$4}')" "${b_time[$mb]}" \
        $(( b_rss[$mb] / 1024 )) "$(ms "${b_first[$mb]}")" "${b_disk[$mb]} / ${b_disk2[$mb]}"
    else
      printf '%-9s %10s\n' "$mb MB" "not built"
    fi
  done
  echo
}

# startup_table BASE-HEAD BASE-WIDTH FRESH-HEAD FRESH-WIDTH: the starts (time_starts),
# with their ratios to the baseline row and to the persistent interpreter on a new arena
# (row fresh) in columns headed BASE-HEAD and FRESH-HEAD; then the target of a flat
# resume time: the resume of the largest heap within 1.25x of the smallest one's
startup_table() {
  local row v r1 r2 range lo hi f
  printf "%-30s %9s %15s %$2s %$4s %13s\n" "start" "wall ms" "range ms" "$1" "$3" "peak RSS MiB"
  rule 102
  for row in "${rows[@]}"; do
    if [ -n "${bad[$row]:-}" ]; then printf '%-30s %9s\n' "${label[$row]}" FAILED; continue; fi
    v=${med[$row]}
    r1=$(ratio "$v" "${med[${rows[0]}]:-0}")
    r2=-; [ -n "${med[fresh]:-}" ] && r2=$(ratio "$v" "${med[fresh]}")
    range=$(echo "${walls[$row]}" | awk '{ lo = hi = $1; for (i = 2; i <= NF; i++) { if ($i < lo) lo = $i; if ($i > hi) hi = $i }
                                          printf "%.1f-%.1f", lo * 1000, hi * 1000 }')
    printf "%-30s %9s %15s %$2s %$4s %13.1f\n" "${label[$row]}" "$(ms "$v")" "$range" "($r1)" "($r2)" \
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
}

# speedup_target WHAT SLOW FAST: "target: WHAT >= 100x faster ...": SLOW / FAST seconds
# against 100, or not measured if either is missing
speedup_target() {
  if [ -n "$2" ] && [ -n "$3" ]; then
    local sp
    sp=$(awk -v a="$2" -v b="$3" 'BEGIN{ printf "%.0f", a / b }')
    echo "target: $1: ${sp}x; $(awk -v s="$sp" 'BEGIN{ print (s >= 100) ? "met" : "NOT met" }')"
    [ "$quick" = 1 ] && echo "(--quick: the target is meant for a 1 GB heap)"
    return 0
  fi
  echo "target: $1: not measured"
  return 1
}
