#!/usr/bin/env bash
# The kernel lab (issue 11): compare vpntrace with the Linux kernel in network namespaces.
# Needs root. Usage: scripts/kernel-lab.sh [--seed N] [--topologies N] [--jobs N] [--bin PATH]
# See tests/kernel_lab/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) export VPNTRACE_LAB_SEED="$2"; shift 2 ;;
    --topologies) export VPNTRACE_LAB_TOPOLOGIES="$2"; shift 2 ;;
    --jobs) export VPNTRACE_LAB_JOBS="$2"; shift 2 ;;
    --bin) export VPNTRACE_BIN="$(realpath "$2")"; shift 2 ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "kernel-lab.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" -ne 0 ]; then
  echo "kernel-lab.sh: the kernel lab needs root (network namespaces); run it with sudo" >&2
  exit 2
fi
export VPNTRACE_KERNEL_LAB=1
exec cargo test --release --test kernel_lab -- --nocapture
