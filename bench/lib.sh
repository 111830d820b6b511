# Functions shared by the benchmark scripts (bench/alloc/run.sh, bench/lua/run.sh,
# bench/lua/resume.sh); sourced by them. The caller defines say MESSAGE (progress to
# stderr) and, for the functions that say so, the variables named there.
# shellcheck shell=bash disable=SC2034,SC2154  # the caller's variables

bench_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

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
