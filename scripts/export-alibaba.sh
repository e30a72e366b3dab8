#!/bin/sh
# Collects what `vpntrace import --alibaba OUTDIR` reads, with the aliyun CLI (configured
# with credentials that may read VPC, ECS and VPN resources): one file per call, pages
# followed, per-object calls named <Action>.<id>.json.
#   export-alibaba.sh REGION VPC OUTDIR
# Note: DescribeVpnConnections returns each connection's PSK in clear; OUTDIR holds it.
set -eu
[ $# -eq 3 ] || { echo "usage: $0 REGION VPC-ID OUTDIR" >&2; exit 2; }
region=$1 vpc=$2 out=$3
mkdir -p "$out"

# call FILE PRODUCT ACTION ARGS...: one call into FILE (the aliyun CLI prints the body).
call() {
    file=$1; shift
    aliyun "$@" > "$out/$file.tmp" && mv "$out/$file.tmp" "$out/$file"
}

# paged ACTION PRODUCT ARGS...: PageNumber 1, 2, ... until TotalCount is covered;
# page 1 is ACTION.json, page n is ACTION.n.json.
paged() {
    action=$1 product=$2; shift 2
    page=1
    while :; do
        if [ "$page" = 1 ]; then file=$action.json; else file=$action.$page.json; fi
        call "$file" "$product" "$action" --RegionId "$region" --PageSize 50 --PageNumber "$page" "$@"
        total=$(sed -n 's/.*"TotalCount"[^0-9]*\([0-9][0-9]*\).*/\1/p' "$out/$file" | head -n 1)
        [ -n "$total" ] || break
        [ $((page * 50)) -lt "$total" ] || break
        page=$((page + 1))
    done
}

# ids FILE KEY: the values of "KEY": "..." in FILE, one a line.
ids() {
    grep -o "\"$2\"[[:space:]]*:[[:space:]]*\"[^\"]*\"" "$out/$1" | sed 's/.*"\([^"]*\)"$/\1/' | sort -u
}

paged DescribeVpcs vpc --VpcId "$vpc"
paged DescribeVSwitches vpc --VpcId "$vpc"
paged DescribeRouteTableList vpc --VpcId "$vpc"
for t in $(ids DescribeRouteTableList.json RouteTableId); do
    # DescribeRouteEntryList pages by NextToken; 100 entries per table are read.
    call "DescribeRouteEntryList.$t.json" vpc DescribeRouteEntryList --RegionId "$region" --RouteTableId "$t" --MaxResult 100
done
paged DescribeSecurityGroups ecs --VpcId "$vpc"
for g in $(ids DescribeSecurityGroups.json SecurityGroupId); do
    call "DescribeSecurityGroupAttribute.$g.json" ecs DescribeSecurityGroupAttribute --RegionId "$region" --SecurityGroupId "$g"
done
paged DescribeInstances ecs --VpcId "$vpc"
paged DescribeVpnGateways vpc --VpcId "$vpc"
paged DescribeCustomerGateways vpc
for v in $(ids DescribeVpnGateways.json VpnGatewayId); do
    call "DescribeVpnConnections.$v.json" vpc DescribeVpnConnections --RegionId "$region" --VpnGatewayId "$v" --PageSize 50
    call "DescribeVpnRouteEntries.$v.json" vpc DescribeVpnRouteEntries --RegionId "$region" --VpnGatewayId "$v" --PageSize 50
    call "DescribeVpnPbrRouteEntries.$v.json" vpc DescribeVpnPbrRouteEntries --RegionId "$region" --VpnGatewayId "$v" --PageSize 50
done
echo "wrote $(ls "$out" | wc -l) file(s) to $out" >&2
