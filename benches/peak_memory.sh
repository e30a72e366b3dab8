#!/usr/bin/env bash
# Peak memory (maximum resident set size) and wall time of the release binary on a
# generated topology, measured by GNU time (`apt-get install -y time` if it is missing).
#
#   benches/peak_memory.sh [CONNECTIONS] [--check]
#
# Generates CONNECTIONS sites (default 160, seed 1) with the generate example, then runs
#   vpntrace validate FILE
#   vpntrace trace FILE --from 10.0.1.10 --to hz-idc0000-db01 --port 3306
# and, with --check, `vpntrace check FILE` (issue target: at most 1 GiB at 160).
# 10.0.1.10 is the first app instance of site 0 and hz-idc0000-db01 its IDC database
# (see src/gen.rs for the address plan); the flow is delivered both ways.
set -euo pipefail
cd "$(dirname "$0")/.."

n=160
with_check=0
for a in "$@"; do
    case "$a" in
        --check) with_check=1 ;;
        ''|*[!0-9]*) echo "usage: $0 [CONNECTIONS] [--check]" >&2; exit 2 ;;
        *) n="$a" ;;
    esac
done
if [ ! -x /usr/bin/time ]; then
    echo "GNU time is missing: apt-get install -y time" >&2
    exit 2
fi

cargo build --quiet --release --bin vpntrace --example generate
file="${TMPDIR:-/tmp}/vpntrace-gen-$n.json"
./target/release/examples/generate --connections "$n" --seed 1 >"$file" 2>/dev/null
echo "file: $file ($(wc -c <"$file") bytes)"

measure() {
    local label="$1"
    shift
    local log rc
    log="$(mktemp)"
    set +e
    /usr/bin/time -v ./target/release/vpntrace "$@" >/dev/null 2>"$log"
    rc=$?
    set -e
    local rss wall
    rss=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$log")
    wall=$(sed -n 's/^[[:space:]]*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log")
    printf '%-9s exit %s  wall %-8s  peak RSS %7d KiB (%s MiB)\n' \
        "$label" "$rc" "$wall" "$rss" "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')"
    if [ "$rc" -gt 1 ]; then
        cat "$log" >&2
    fi
    rm -f "$log"
}

measure validate validate "$file"
measure trace trace "$file" --from 10.0.1.10 --to hz-idc0000-db01 --port 3306
if [ "$with_check" = 1 ]; then
    measure check check "$file"
fi
