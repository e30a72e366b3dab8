#!/usr/bin/env bash
# Peak memory (maximum resident set size) and wall time of the release binary on a
# generated topology, measured by GNU time (`apt-get install -y time` if it is missing).
#
#   benches/peak_memory.sh [CONNECTIONS] [--check] [--estate]
#
# Generates CONNECTIONS sites (default 160, seed 1) with the generate example (with
# --estate, the estate of issue 13: `--preset estate`), then runs
#   vpntrace validate FILE
#   vpntrace trace FILE --from 10.0.1.10 --to hz-idc0000-db01 --port 3306
# and, with --check, `vpntrace check --format json FILE`, with the number of findings
# by code and the size of the JSON report (issue 13's targets on the estate at 160: at
# most 300 MB, at most 10 MB of JSON). 10.0.1.10 is the first app instance of site 0
# and hz-idc0000-db01 its IDC database in both presets (see crates/vpntrace-gen for the
# address plans); the flow is delivered both ways.
set -euo pipefail
cd "$(dirname "$0")/.."

n=160
with_check=0
preset=reference
for a in "$@"; do
    case "$a" in
        --check) with_check=1 ;;
        --estate) preset=estate ;;
        ''|*[!0-9]*) echo "usage: $0 [CONNECTIONS] [--check] [--estate]" >&2; exit 2 ;;
        *) n="$a" ;;
    esac
done
if [ ! -x /usr/bin/time ]; then
    echo "GNU time is missing: apt-get install -y time" >&2
    exit 2
fi

cargo build --quiet --release --bin vpntrace --example generate
file="${TMPDIR:-/tmp}/vpntrace-$preset-$n.json"
./target/release/examples/generate --preset "$preset" --connections "$n" --seed 1 \
    >"$file" 2>/dev/null
echo "file: $file ($(wc -c <"$file") bytes)"

measure() {
    local label="$1"
    shift
    local log rc out="${OUT:-/dev/null}"
    log="$(mktemp)"
    set +e
    /usr/bin/time -v ./target/release/vpntrace "$@" >"$out" 2>"$log"
    rc=$?
    set -e
    local rss wall user
    rss=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$log")
    wall=$(sed -n 's/^[[:space:]]*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log")
    user=$(sed -n 's/^[[:space:]]*User time (seconds): //p' "$log")
    printf '%-9s exit %s  wall %-8s  user %6ss  peak RSS %7d KiB (%s MiB)\n' \
        "$label" "$rc" "$wall" "$user" "$rss" \
        "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')"
    if [ "$rc" -gt 1 ]; then
        cat "$log" >&2
    fi
    rm -f "$log"
}

measure validate validate "$file"
measure trace trace "$file" --from 10.0.1.10 --to hz-idc0000-db01 --port 3306
if [ "$with_check" = 1 ]; then
    report="${TMPDIR:-/tmp}/vpntrace-$preset-$n.check.json"
    OUT="$report" measure check check --format json "$file"
    echo "check report: $report ($(wc -c <"$report") bytes)"
    if command -v jq >/dev/null; then
        jq -r '"findings: \(.findings | length)",
               (.findings | group_by(.code) | map("  \(.[0].code) \(length)") | .[])' "$report"
    fi
fi
