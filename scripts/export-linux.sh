#!/bin/sh
# Collects what `vpntrace import --linux ID=OUTDIR` reads from this Linux gateway.
# Run as root on the gateway (iptables-save and swanctl need it): export-linux.sh OUTDIR
# Secrets: swanctl.conf holds the PSK; it stays in OUTDIR (vpntrace never prints it).
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
mkdir -p "$out"
ip -j addr > "$out/ip-addr.json"
ip -j route show table all > "$out/ip-route.json"
if command -v iptables-save >/dev/null 2>&1; then
    iptables-save > "$out/iptables-save.txt"
else
    echo "note: no iptables-save: filter and NAT rules left out" >&2
fi
# The net.ipv4 lines are all vpntrace reads.
sysctl -a 2>/dev/null | grep '^net\.ipv4\.' > "$out/sysctl.txt" || true
for f in /etc/swanctl/swanctl.conf /etc/strongswan/swanctl/swanctl.conf; do
    if [ -r "$f" ]; then cp "$f" "$out/swanctl.conf"; break; fi
done
if command -v swanctl >/dev/null 2>&1 && [ -e "$out/swanctl.conf" ]; then
    if swanctl --list-sas > "$out/list-sas.txt.tmp" 2>/dev/null; then
        mv "$out/list-sas.txt.tmp" "$out/list-sas.txt"
    else
        rm -f "$out/list-sas.txt.tmp"
        echo "note: swanctl --list-sas failed (is charon running?): SAs left out" >&2
    fi
fi
echo "wrote $(ls "$out" | wc -l) file(s) to $out" >&2
