# Functions shared by the benchmark scripts (bench/alloc/run.sh and, through
# bench/interp_bench.sh, bench/{lua,py}/{run,resume}.sh); sourced by them. The caller
# defines the variables named by the functions that use them.
# shellcheck shell=bash disable=SC2034,SC2154  # the caller's variables

bench_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench_name=$(basename "$0")

# say MESSAGE: progress, on stderr, under the script's name
say() { echo "$bench_name: $*" >&2; }

# parse_args ARGS...: the command line. Every script takes BUILD_DIR (into `build`),
# --quick (quick=1), --reps N (reps), --timeout S (limit), --allow-missing
# (allow_missing=1) and -h/--help (prints the comment at the top of the script); its own
# options are in the arrays `value_opts` (triples OPTION VARIABLE WHAT: OPTION V and
# OPTION=V set VARIABLE to V; "OPTION needs WHAT" without V) and `flag_opts` (pairs
# OPTION VARIABLE: sets VARIABLE to 1). The variables keep their values when not given.
build='' quick=0 reps='' limit='' allow_missing=0
value_opts=() flag_opts=()
parse_args() {
  local -a vopts=(--reps reps "a number" --timeout limit seconds "${value_opts[@]}")
  local -a fopts=(--quick quick --allow-missing allow_missing "${flag_opts[@]}")
  local i n
  while [ $# -gt 0 ]; do
    n=1
    case $1 in
      -h|--help) sed -n '2,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
      -*)
        n=0
        for ((i = 0; i < ${#fopts[@]}; i += 2)); do
          [ "$1" = "${fopts[i]}" ] && { printf -v "${fopts[i + 1]}" 1; n=1; }
        done
        for ((i = 0; i < ${#vopts[@]}; i += 3)); do
          case $1 in
            "${vopts[i]}")
              [ -n "${2:-}" ] || { echo "$bench_name: ${vopts[i]} needs ${vopts[i + 2]}" >&2; exit 1; }
              printf -v "${vopts[i + 1]}" %s "$2"; n=2 ;;
            "${vopts[i]}"=*) printf -v "${vopts[i + 1]}" %s "${1#*=}"; n=1 ;;
          esac
        done
        [ $n -gt 0 ] || { echo "$bench_name: unknown option $1 (try --help)" >&2; exit 1; } ;;
      *) [ -z "$build" ] || { echo "$bench_name: one BUILD_DIR only" >&2; exit 1; }; build=$1 ;;
    esac
    shift $n
  done
}

# by_quick VARIABLE QUICK FULL: VARIABLE, unless given, becomes QUICK with --quick, else FULL
by_quick() {
  local -n var=$1
  [ -n "$var" ] || { if [ "$quick" = 1 ]; then var=$2; else var=$3; fi; }
}

# common_args REPS-QUICK REPS-FULL LIMIT-QUICK LIMIT-FULL: after parse_args, `build` made
# absolute (exits if it is not a directory), the defaults of `reps` and `limit`, both
# checked to be positive
common_args() {
  build=$(resolve_build "$build") || exit 1
  by_quick reps "$1" "$2"
  need_positive "$reps" "--reps wants a positive number"
  by_quick limit "$3" "$4"
  need_positive "$limit" "--timeout wants a positive number of seconds"
}

# result_dirs RESULTS LOGS: out_dir=BUILD_DIR/bench (created), out=out_dir/RESULTS (the
# tables) and logs=out_dir/LOGS, emptied
result_dirs() {
  out_dir=$build/bench
  out=$out_dir/$1
  logs=$out_dir/$2
  mkdir -p "$out_dir"
  rm -rf "$logs"
  mkdir -p "$logs"
}

# need_gnu_time: exits unless GNU time is at `gnu_time`, which wall/CPU/RSS figures use
gnu_time=/usr/bin/time
need_gnu_time() {
  if ! "$gnu_time" -f %e true >/dev/null 2>&1; then
    say "GNU time is needed at $gnu_time (Debian package 'time'): apt-get install time"
    exit 1
  fi
}

# clean_scratch_at_exit: the directories in `scratch_dirs` are removed when the script
# exits, also on Ctrl-C, unless `keep` is 1
scratch_dirs=() keep=0
# shellcheck disable=SC2317  # called from the trap
remove_scratch() {
  local d
  for d in "${scratch_dirs[@]}"; do
    if [ "$keep" = 1 ]; then say "kept $d"; else rm -rf "$d"; fi
  done
}
clean_scratch_at_exit() {
  trap remove_scratch EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM HUP
}

# resolve_build [DIR]: DIR (default: build/ at the top of the tree) as an absolute path;
# fails with a message if it is not a directory. Use as build=$(resolve_build "$build") || exit 1.
resolve_build() {
  local dir=${1:-$bench_lib_dir/../build}
  (cd "$dir" 2>/dev/null && pwd) || { echo "$(basename "$0"): no build directory $dir" >&2; return 1; }
}

# need_positive VALUE MESSAGE: exits with MESSAGE unless VALUE is a positive integer.
need_positive() {
  case $1 in ''|*[!0-9]*|0) echo "$(basename "$0"): $2" >&2; exit 1 ;; esac
}

# median: the median of the numbers on stdin (separated by spaces or newlines)
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END{if (NR) print v[int((NR+1)/2)]}'; }

# ratio A B: A / B to two decimals, or - unless both are positive
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a > 0 && b > 0) printf "%.2f", a / b; else print "-" }'; }

# rule N: a line of N dashes
rule() { printf '%0.s-' $(seq 1 "$1"); echo; }

# geomean_of RATIO...: the geometric mean of the ratios to two decimals; or, if one of them
# is not a number, why not: n/a, FAILED (also for missing) or -, in that order of precedence
geomean_of() {
  local vals="" bad="" x
  for x in "$@"; do
    case $x in
      n/a) bad=n/a ;;
      FAILED|missing) [ "$bad" = n/a ] || bad=FAILED ;;
      -) [ -n "$bad" ] || bad=- ;;
      *) vals="$vals $x" ;;
    esac
  done
  if [ -n "$bad" ]; then echo "$bad"
  else echo "$vals" | awk '{ s = 0; for (i = 1; i <= NF; i++) s += log($i); printf "%.2f", exp(s / NF) }'
  fi
}

declare -A geo=()
# ratio_table METRIC TITLE UNIT-DIVISOR FORMAT: the benchmarks (rows: `benches`, labelled
# by `row_label BENCH`) by the configurations (columns: `configs`). A cell is the value of
# `cell_value BENCH CONFIG METRIC` divided by UNIT-DIVISOR in FORMAT, then its ratio to the
# cell of configuration `table_base` in parentheses; or the word cell_value printed
# instead of a number (n/a, FAILED, missing). Below, a row for each entry LABEL=ARRAY of
# `table_geomeans`: the geometric mean of the ratios of the benchmarks in the array
# named ARRAY, kept in geo[LABEL|METRIC|CONFIG] too. The first column is `table_nw` wide
# and headed `table_head`, the others `table_w`.
ratio_table() {
  local metric=$1 title=$2 div=$3 fmt=$4 nw=$table_nw w=$table_w
  echo "$title"
  printf '%-*s' "$nw" "$table_head"
  local b c
  for c in "${configs[@]}"; do printf '%*s' "$w" "$c"; done
  echo
  rule $((nw + w * ${#configs[@]}))
  local -A ratios=()
  for b in "${benches[@]}"; do
    printf '%-*s' "$nw" "$(row_label "$b")"
    local base
    base=$(cell_value "$b" "$table_base" "$metric")
    for c in "${configs[@]}"; do
      local v txt r=-
      v=$(cell_value "$b" "$c" "$metric")
      case $v in
        n/a|FAILED|missing|'') txt=${v:-FAILED}; ratios[$b|$c]=$txt ;;
        *)
          case $base in n/a|FAILED|missing|'') ;; *) r=$(ratio "$v" "$base") ;; esac
          ratios[$b|$c]=$r
          txt=$(awk -v v="$v" -v d="$div" -v f="$fmt" 'BEGIN{ printf f, v / d }')" ($r)" ;;
      esac
      printf '%*s' "$w" "$txt"
    done
    echo
  done
  rule $((nw + w * ${#configs[@]}))
  local group label g
  for group in "${table_geomeans[@]}"; do
    label=${group%=*}
    local -n list=${group##*=}
    local -a rs=()
    printf '%-*s' "$nw" "$label"
    for c in "${configs[@]}"; do
      rs=()
      for b in "${list[@]}"; do rs+=("${ratios[$b|$c]}"); done
      g=$(geomean_of "${rs[@]}")
      geo[$label|$metric|$c]=$g
      case $g in n/a|FAILED|-) printf '%*s' "$w" "$g" ;; *) printf '%*s' "$w" "($g)" ;; esac
    done
    unset -n list
    echo
  done
  echo
}

# run_cells: runs `run_one BENCH CONFIG REP` `reps` times for every benchmark of
# `benches` (announced by `row_label BENCH`) and configuration of `configs`, the
# configurations of a repetition one after another; a configuration in `skip` does not
# run, nor does a cell once FAILED (in `status`)
run_cells() {
  local b c r
  for b in "${benches[@]}"; do
    say "$(row_label "$b")"
    for ((r = 1; r <= reps; r++)); do
      for c in "${configs[@]}"; do
        [ -n "${skip[$c]:-}" ] && continue
        [ "${status[$b|$c]:-}" = FAILED ] && continue
        run_one "$b" "$c" "$r"
      done
    done
  done
}

# cell_value BENCH CONFIG METRIC: the median of the values run_one gathered for METRIC
# (time, cpu or rss: in the arrays times, cputimes or rss, keyed BENCH|CONFIG), or a
# word saying why there is none: n/a (skipped configuration), FAILED or missing (`status`)
declare -A metric_values=([time]=times [cpu]=cputimes [rss]=rss)
cell_value() {
  local key="$1|$2"
  if [ -n "${skip[$2]:-}" ]; then echo n/a; return; fi
  case ${status[$key]:-} in FAILED|missing) echo "${status[$key]}"; return ;; esac
  local -n values=${metric_values[$3]}
  echo "${values[$key]:-}" | median
}

# report_title TITLE: TITLE, the date and whether --quick, the first line of a report
report_title() {
  echo "$1 — $(date -u '+%Y-%m-%d %H:%M:%S UTC')$([ "$quick" = 1 ] && echo ' (--quick)')"
}

# shellcheck disable=SC2120  # the arguments are optional
# source_line [mem] [load|load-at-end]: "source: COMMIT; machine: N CPUs (MODEL)", then
# the total memory with mem, the Linux release, and the load average (marked as taken at
# the end with load-at-end)
source_line() {
  local cpu line
  cpu=$(cpu_model)
  line="source: $(source_rev "$bench_lib_dir/.."); machine: $(nproc) CPUs (${cpu:-unknown})"
  case " $* " in *" mem "*) line="$line, $(( $(awk '/^MemTotal:/{print $2}' /proc/meminfo) / 1048576 )) GiB" ;; esac
  line="$line, Linux $(uname -r)"
  case " $* " in
    *" load "*) line="$line, load average $(cut -d' ' -f1-3 /proc/loadavg)" ;;
    *" load-at-end "*) line="$line, load average $(cut -d' ' -f1-3 /proc/loadavg) (at the end)" ;;
  esac
  echo "$line"
}

# source_rev DIR: the short commit of the checkout at DIR, marked if it has uncommitted changes
source_rev() {
  local rev
  rev=$(git -C "$1" rev-parse --short HEAD 2>/dev/null || echo unknown)
  git -C "$1" diff --quiet HEAD -- 2>/dev/null || rev="$rev (with uncommitted changes)"
  echo "$rev"
}

# cpu_model: the processor's model name (empty if unknown)
cpu_model() { awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo 2>/dev/null || true; }

# exit_reason STATUS LIMIT: why a run under `timeout LIMIT` that exited with STATUS
# failed; nothing if STATUS is 0
exit_reason() {
  if [ "$1" -eq 124 ] || [ "$1" -eq 137 ]; then
    echo "still running after $2 s (hung?), killed"
  elif [ "$1" -gt 128 ]; then
    echo "killed by signal $(($1 - 128))"
  elif [ "$1" -ne 0 ]; then
    echo "exit status $1"
  fi
}

# mark_failed KEY LOG MESSAGE: the cell KEY FAILED (in `status`; `failed` set): says
# MESSAGE and the last lines of LOG, which is kept as LOG.failed
mark_failed() {
  status[$1]=FAILED
  failed=1
  say "$3"
  tail -n 5 "$2" | sed 's/^/    | /' >&2
  cp "$2" "$2.failed"
}

# show_results OUT START: OUT.partial (the tables) becomes OUT, printed; says how long
# the whole run took since START (seconds since the epoch)
show_results() {
  mv "$1.partial" "$1"
  cat "$1"
  say "done in $(( $(date +%s) - $2 )) s; results: $1"
}

# exit_status FAILED-MESSAGE MISSING-MESSAGE: exits 1 (saying the first) if `failed` is
# 1; else 2 (saying the second) if `missing` is 1 and `allow_missing` 0; else 0
exit_status() {
  if [ "$failed" = 1 ]; then
    say "$1"
    exit 1
  fi
  if [ "$missing" = 1 ] && [ "$allow_missing" = 0 ]; then
    say "$2; --allow-missing accepts that"
    exit 2
  fi
  exit 0
}
