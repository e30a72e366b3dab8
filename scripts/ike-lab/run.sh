#!/usr/bin/env bash
# IKE negotiation lab: real strongSwan / Libreswan daemons in two network
# namespaces (idc, cloud) joined by a veth pair; one misconfiguration per case.
#
#   sudo scripts/ike-lab/run.sh [case-filter-regex]
#
# Env: JOBS=N (cases run in parallel, default 3), OUT=dir (default
# tests/data/ike-lab), KEEP_WORK=1 keeps the raw work folder, LIST=1 only lists
# the cases, ENV_ONLY=1 only rewrites case.env of stored runs (after editing
# notes.txt). See tests/data/ike-lab/README.md for what is stored.
set -u
LAB_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$LAB_DIR/../.." && pwd)
# shellcheck source=cases.sh
. "$LAB_DIR/cases.sh"
# shellcheck source=lab.sh
. "$LAB_DIR/lab.sh"

FILTER=${1:-.}
JOBS=${JOBS:-3}
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

mapfile -t CASES < <(list_cases | awk -F"|" -v re="$FILTER" '$1 ~ re')
OUT=${OUT:-$REPO/tests/data/ike-lab}
if [ -n "${LIST:-}" ]; then printf '%s\n' "${CASES[@]}"; exit 0; fi
if [ -n "${ENV_ONLY:-}" ]; then   # rewrite case.env of stored runs (after editing notes.txt)
    for line in "${CASES[@]}"; do run_case "$line" 0; done
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (network namespaces, iptables)" >&2; exit 1; }
[ "${#CASES[@]}" -gt 0 ] || { echo "run.sh: no case matches '$FILTER'" >&2; exit 1; }

need() { command -v "$1" >/dev/null 2>&1 || { echo "run.sh: missing $1 ($2)" >&2; exit 1; }; }
need ip iproute2; need iptables iptables; need unshare util-linux
need swanctl strongswan-swanctl
[ -x "$CHARON" ] || { echo "run.sh: missing $CHARON (apt-get install strongswan-charon libcharon-extra-plugins)" >&2; exit 1; }
[ -e /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ] ||
    { echo "run.sh: missing kernel-libipsec plugin (apt-get install libcharon-extra-plugins)" >&2; exit 1; }
if printf '%s\n' "${CASES[@]}" | grep -q '^ls_'; then
    need certutil libnss3-tools
    [ -x "$LIBRESWAN_ROOT/usr/libexec/ipsec/pluto" ] || {
        echo "run.sh: Libreswan not unpacked in $LIBRESWAN_ROOT; do:" >&2
        echo "  (cd /tmp && apt-get download libreswan && dpkg -x libreswan_*.deb $LIBRESWAN_ROOT)" >&2
        echo "  and install its libraries (apt-get install libnss3 libnss3-tools libevent-core-2.1-7 libevent-pthreads-2.1-7 libldns3 libunbound8 libcurl3-nss)" >&2
        exit 1; }
fi

WORK_ROOT=$(mktemp -d /tmp/ike-lab.XXXXXX)
mkdir -p "$OUT"
declare -a RUNNING=()
on_exit() {
    local p
    for p in "${RUNNING[@]}"; do kill -TERM "$p" 2>/dev/null; done
    wait
    # any namespace of this run left behind (a killed case) goes too
    for p in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^ikl$$x"); do ip netns del "$p"; done
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK_ROOT"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

echo "run.sh: ${#CASES[@]} case(s), $JOBS in parallel, storing into $OUT"
idx=0
for line in "${CASES[@]}"; do
    idx=$((idx + 1))
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    # namespaces are named ikl<run pid>x<idx>{i,c}: the subshell's $$ is ours
    ( run_case "$line" "$idx" ) &
    RUNNING+=($!)
done
wait
echo "run.sh: done"
