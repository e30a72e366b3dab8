#!/usr/bin/env bash
# Wall time of `vpntrace check` against `vpntrace validate` on the same file (the issue's
# "check ≤ 5× validate" target): both commands run alternately, ROUNDS times each, so
# that a busy moment of the machine hits both; prints the medians, the minima and their
# ratios. Build first: `cargo build --release` (and, for a generated file,
# `cargo build --release --example generate`).
#
#   benches/check_vs_validate.sh FILE [ROUNDS]
#   benches/check_vs_validate.sh --estate N [ROUNDS]      the estate of issue 13, N sites
#   benches/check_vs_validate.sh --reference N [ROUNDS]   the reference generator, N sites
#
# A generated file (seed 1) is written to ${TMPDIR:-/tmp}/vpntrace-{estate,reference}-N.json.
# For the issue's files: benches/check_vs_validate.sh --reference 160 21;
#   benches/check_vs_validate.sh --estate 40 5
set -euo pipefail
usage="usage: benches/check_vs_validate.sh FILE|--estate N|--reference N [ROUNDS]"
case "${1:?$usage}" in
  --estate | --reference)
    preset=${1#--}
    n=${2:?$usage}
    shift 2
    gen=${VPNTRACE_GEN:-$(dirname "$0")/../target/release/examples/generate}
    [ -x "$gen" ] || { echo "no $gen: run cargo build --release --example generate" >&2; exit 2; }
    file="${TMPDIR:-/tmp}/vpntrace-$preset-$n.json"
    "$gen" --preset "$preset" --connections "$n" --seed 1 >"$file" 2>/dev/null
    echo "file: $file ($(wc -c <"$file") bytes)"
    ;;
  *)
    file=$1
    shift
    ;;
esac
rounds=${1:-15}
bin=${VPNTRACE_BIN:-$(dirname "$0")/../target/release/vpntrace}
[ -x "$bin" ] || { echo "no $bin: run cargo build --release" >&2; exit 2; }

run_ms() { # command → milliseconds of wall time
  local t0 t1
  t0=$(date +%s%N)
  "$bin" "$1" "$file" >/dev/null 2>&1 || true # check exits 1 when it finds errors
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000))
}

v=() c=()
for ((i = 0; i < rounds; i++)); do
  v+=("$(run_ms validate)")
  c+=("$(run_ms check)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
minimum() { printf '%s\n' "$@" | sort -n | head -1; }
mv=$(median "${v[@]}") mc=$(median "${c[@]}")
nv=$(minimum "${v[@]}") nc=$(minimum "${c[@]}")
awk -v mv="$mv" -v mc="$mc" -v nv="$nv" -v nc="$nc" -v r="$rounds" 'BEGIN {
  printf "validate: median %.1f ms, min %.1f ms (%d runs)\n", mv/1000, nv/1000, r
  printf "check:    median %.1f ms, min %.1f ms (%d runs)\n", mc/1000, nc/1000, r
  printf "check / validate: %.2f (medians), %.2f (minima)\n", mc/mv, nc/nv
}'
