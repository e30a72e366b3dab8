#!/usr/bin/env bash
# Wall time of `vpntrace check` against `vpntrace validate` on the same file (the issue's
# "check ≤ 5× validate" target): both commands run alternately, ROUNDS times each, so
# that a busy moment of the machine hits both; prints the medians, the minima and their
# ratios. Build first: `cargo build --release`.
#
#   benches/check_vs_validate.sh FILE [ROUNDS]
#
# For the issue's file: cargo run --release --example generate -- --connections 160
#   --seed 1 > big160.json; benches/check_vs_validate.sh big160.json 21
set -euo pipefail
file=${1:?usage: benches/check_vs_validate.sh FILE [ROUNDS]}
rounds=${2:-15}
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
