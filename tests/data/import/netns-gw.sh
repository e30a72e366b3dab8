#!/bin/sh
# Builds the FAQ 6 gateway in network namespaces (run as root): SUFFIX names them.
#   lan-SUFFIX (192.168.0.20) -- gw-SUFFIX (lan0 192.168.0.1/24, wan0 203.0.113.10/24) -- wan-SUFFIX (203.0.113.1)
# gw NATs everything leaving wan0 except 192.168.0.0/24 → 192.168.1.0/24 (the exemption
# lacks the second VPC subnet 192.168.2.0/24: FAQ 6); FORWARD policy DROP with a user chain.
# `netns-gw.sh down SUFFIX` removes them.
set -eu
if [ "$1" = down ]; then
    for n in lan gw wan; do ip netns del "$n-$2" 2>/dev/null || true; done
    exit 0
fi
s=$1
for n in lan gw wan; do ip netns add "$n-$s"; done
ip link add "l$s" type veth peer name lan0 netns "gw-$s"
ip link set "l$s" netns "lan-$s"
ip link add "w$s" type veth peer name wan0 netns "gw-$s"
ip link set "w$s" netns "wan-$s"
ip -n "lan-$s" addr add 192.168.0.20/24 dev "l$s"
ip -n "lan-$s" link set "l$s" up
ip -n "lan-$s" route add default via 192.168.0.1
ip -n "gw-$s" addr add 192.168.0.1/24 dev lan0
ip -n "gw-$s" addr add 203.0.113.10/24 dev wan0
ip -n "gw-$s" link set lan0 up
ip -n "gw-$s" link set wan0 up
ip -n "gw-$s" route add default via 203.0.113.1
ip -n "wan-$s" addr add 203.0.113.1/24 dev "w$s"
ip -n "wan-$s" link set "w$s" up
ip -n "wan-$s" route add 192.168.0.0/16 via 203.0.113.10
ip netns exec "gw-$s" sysctl -q -w net.ipv4.ip_forward=1
ip netns exec "gw-$s" sysctl -q -w net.ipv4.conf.all.rp_filter=0
ip netns exec "gw-$s" sysctl -q -w net.ipv4.conf.lan0.rp_filter=1
ip netns exec "gw-$s" sysctl -q -w net.ipv4.conf.wan0.rp_filter=1
ip netns exec "gw-$s" iptables-restore <<'RULES'
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 192.168.0.0/24 -d 192.168.1.0/24 -j RETURN
-A POSTROUTING -o wan0 -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:VPN - [0:0]
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i lan0 -o wan0 -j VPN
-A FORWARD -i wan0 -o lan0 -s 192.168.0.0/16 -j ACCEPT
-A VPN -d 192.168.0.0/16 -j ACCEPT
-A VPN -p tcp -m multiport --dports 80,443 -j ACCEPT
-A VPN -j RETURN
COMMIT
RULES
