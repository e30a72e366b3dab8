# shellcheck shell=bash
# Case matrix of the IKE lab (sourced by run.sh; `bash cases.sh` prints it).
#
# One line per case, fields separated by '|':
#   name|family|ike|initiator|side|changes|scenario|expect|faq|change text
# family    ss = strongSwan (idc) <-> strongSwan (cloud)
#           ls = Libreswan (idc)  <-> strongSwan (cloud)
# ike       ikev1-main | ikev1-aggressive | ikev2 (the baseline of both ends)
# side      idc | cloud | - : the end whose setting is changed
# changes   ';'-separated KEY=VALUE overrides of that end's settings (see
#           lab.sh, "per-end settings"); '-' for none
# scenario  normal | noresponder | block4500 | dpd | rekey | rekeydead | rekeyikedead
# expect    expected code (see tests/data/ike-lab/README.md)
# faq       FAQ section number, empty when no FAQ section covers it

_short() { # ikev1-main -> ikev1main
    case "$1" in ikev1-main) echo ikev1main ;; ikev1-aggressive) echo ikev1aggr ;; *) echo "$1" ;; esac
}
_other() { [ "$1" = idc ] && echo cloud || echo idc; }

# _case family tag ike init side changes scenario expect faq text
_case() {
    local fam=$1 tag=$2 ike=$3 init=$4
    shift 4
    echo "${fam}_${tag}_$(_short "$ike")_${init}|${fam}|${ike}|${init}|$1|$2|$3|$4|$5|$6"
}

# prop IKE|ESP variant enc integ prf dh : a proposal string in strongSwan syntax
list_ss_cases() {
    local ike init resp
    for ike in ikev1-main ikev1-aggressive ikev2; do
        for init in idc cloud; do
            resp=$(_other "$init")
            _case ss ok "$ike" "$init" - - normal OK "" "nothing (healthy baseline)"
            _case ss psk "$ike" "$init" idc 'PSK=Wr0ngS3cret-2024' normal IKE_PSK_MISMATCH 1 \
                "idc pre-shared key differs"
            _case ss id "$ike" "$init" idc 'REMOTE_ID=198.51.100.9' normal IKE_ID_MISMATCH 1 \
                "idc expects remote id 198.51.100.9 (cloud sends 198.51.100.1)"
            _case ss idtype "$ike" "$init" idc 'LOCAL_ID=fqdn:198.51.100.2' normal IKE_ID_MISMATCH 1 \
                "idc sends its local id as type FQDN '198.51.100.2' (cloud expects type IPV4_ADDR 198.51.100.2)"
            _case ss p1enc "$ike" "$init" idc 'IKE_ENC=aes128' normal IKE_PROPOSAL_MISMATCH 1 \
                "idc phase-1 encryption aes128 (cloud aes256)"
            _case ss p1integ "$ike" "$init" idc 'IKE_INTEG=sha1' normal IKE_PROPOSAL_MISMATCH 1 \
                "idc phase-1 integrity sha1 (cloud sha256)"
            _case ss dh "$ike" "$init" idc 'IKE_DH=modp3072' normal IKE_PROPOSAL_MISMATCH 1 \
                "idc phase-1 DH group modp3072 (cloud modp2048)"
            _case ss p2enc "$ike" "$init" idc 'ESP_ENC=aes128' normal IPSEC_PROPOSAL_MISMATCH 2 \
                "idc phase-2 encryption aes128 (cloud aes256)"
            _case ss p2integ "$ike" "$init" idc 'ESP_INTEG=sha1' normal IPSEC_PROPOSAL_MISMATCH 2 \
                "idc phase-2 integrity sha1 (cloud sha256)"
            if [ "$ike" = ikev2 ]; then
                _case ss pfs "$ike" "$init" idc 'ESP_DH=' rekey PFS_MISMATCH 2 \
                    "idc phase-2 without PFS (cloud PFS modp2048); CHILD_SA rekeyed by the initiator"
                _case ss pfsgroup "$ike" "$init" idc 'ESP_DH=modp3072' rekey PFS_MISMATCH 2 \
                    "idc PFS group modp3072 (cloud modp2048); CHILD_SA rekeyed by the initiator"
            else
                _case ss pfs "$ike" "$init" idc 'ESP_DH=' normal PFS_MISMATCH 2 \
                    "idc phase-2 without PFS (cloud PFS modp2048)"
            fi
            _case ss ts "$ike" "$init" idc 'LOCAL_TS=172.30.64.0/19' normal TRAFFIC_SELECTOR_MISMATCH 2 \
                "idc local subnet 172.30.64.0/19 (cloud expects 172.30.96.0/19)"
            if [ "$ike" != ikev1-aggressive ]; then
                if [ "$resp" = cloud ]; then
                    _case ss narrowed "$ike" "$init" cloud 'LOCAL_TS=10.0.0.0/8' normal TS_NARROWED 5 \
                        "responder cloud protects only 10.0.0.0/8 (idc asks for 10.0.0.0/8 and 172.30.128.0/17)"
                else
                    _case ss narrowed "$ike" "$init" idc 'LOCAL_TS=172.30.96.0/20' normal TS_NARROWED 5 \
                        "responder idc protects only 172.30.96.0/20 (cloud asks for 172.30.96.0/19)"
                fi
            fi
            _case ss noresponder "$ike" "$init" "$resp" - noresponder PEER_NOT_RESPONDING 1 \
                "responder $resp daemon not running"
            _case ss natt "$ike" "$init" "$resp" - block4500 NAT_T_BLOCKED 1 \
                "UDP 4500 dropped (iptables INPUT) in the responder $resp namespace"
            _case ss dpd "$ike" "$init" "$resp" - dpd DPD_TIMEOUT "" \
                "tunnel up, then all UDP dropped in the responder $resp namespace (dead peer; DPD 3s on both ends)"
        done
    done
    # IKEv2-only: PRF differs
    for init in idc cloud; do
        _case ss p1prf ikev2 "$init" idc 'IKE_PRF=prfsha1' normal IKE_PROPOSAL_MISMATCH 1 \
            "idc phase-1 PRF prfsha1 (cloud prfsha256)"
    done
    # version: v1 vs v2 and v2 vs v1; mode: main vs aggressive and back
    for init in idc cloud; do
        _case ss version ikev2 "$init" idc 'VERSION=1' normal IKE_VERSION_MISMATCH 1 \
            "idc IKEv1 main mode (cloud IKEv2)"
        _case ss version ikev1-main "$init" idc 'VERSION=2' normal IKE_VERSION_MISMATCH 1 \
            "idc IKEv2 (cloud IKEv1 main mode)"
        _case ss mode ikev1-main "$init" idc 'AGGRESSIVE=yes' normal IKE_MODE_MISMATCH 1 \
            "idc aggressive mode (cloud main mode)"
        _case ss mode ikev1-aggressive "$init" idc 'AGGRESSIVE=no' normal IKE_MODE_MISMATCH 1 \
            "idc main mode (cloud aggressive mode)"
    done
    # rekey of an established IKE_SA with the responder gone silent
    for init in idc cloud; do
        _case ss rekeyfail ikev2 "$init" "$(_other "$init")" - rekeydead REKEY_FAILED "" \
            "tunnel up, all UDP dropped in the responder namespace, then the initiator rekeys the CHILD_SA"
        _case ss rekeyikefail ikev2 "$init" "$(_other "$init")" - rekeyikedead REKEY_FAILED "" \
            "tunnel up, all UDP dropped in the responder namespace, then the initiator rekeys the IKE_SA"
    done
}

list_ls_cases() {
    local ike init resp
    for ike in ikev2 ikev1-main; do
        for init in idc cloud; do
            resp=$(_other "$init")
            _case ls ok "$ike" "$init" - - normal OK "" "nothing (healthy baseline)"
            _case ls psk "$ike" "$init" idc 'PSK=Wr0ngS3cret-2024' normal IKE_PSK_MISMATCH 1 \
                "idc (Libreswan) pre-shared key differs"
            _case ls id "$ike" "$init" idc 'REMOTE_ID=198.51.100.9' normal IKE_ID_MISMATCH 1 \
                "idc (Libreswan) expects remote id 198.51.100.9 (cloud sends 198.51.100.1)"
            _case ls p1enc "$ike" "$init" idc 'IKE_ENC=aes128' normal IKE_PROPOSAL_MISMATCH 1 \
                "idc (Libreswan) phase-1 encryption aes128 (cloud aes256)"
            _case ls dh "$ike" "$init" idc 'IKE_DH=modp3072' normal IKE_PROPOSAL_MISMATCH 1 \
                "idc (Libreswan) phase-1 DH group modp3072 (cloud modp2048)"
            _case ls p2enc "$ike" "$init" idc 'ESP_ENC=aes128' normal IPSEC_PROPOSAL_MISMATCH 2 \
                "idc (Libreswan) phase-2 encryption aes128 (cloud aes256)"
            if [ "$ike" = ikev2 ]; then
                _case ls pfs "$ike" "$init" idc 'ESP_DH=' rekey PFS_MISMATCH 2 \
                    "idc (Libreswan) phase-2 without PFS (cloud PFS modp2048); CHILD_SA rekeyed by the initiator"
            else
                _case ls pfs "$ike" "$init" idc 'ESP_DH=' normal PFS_MISMATCH 2 \
                    "idc (Libreswan) phase-2 without PFS (cloud PFS modp2048)"
            fi
            _case ls ts "$ike" "$init" idc 'LOCAL_TS=172.30.64.0/19' normal TRAFFIC_SELECTOR_MISMATCH 2 \
                "idc (Libreswan) local subnet 172.30.64.0/19 (cloud expects 172.30.96.0/19)"
            _case ls noresponder "$ike" "$init" "$resp" - noresponder PEER_NOT_RESPONDING 1 \
                "responder $resp daemon not running"
            _case ls natt "$ike" "$init" "$resp" - block4500 NAT_T_BLOCKED 1 \
                "UDP 4500 dropped (iptables INPUT) in the responder $resp namespace"
        done
    done
    for init in idc cloud; do
        _case ls version ikev2 "$init" idc 'VERSION=1' normal IKE_VERSION_MISMATCH 1 \
            "idc (Libreswan) IKEv1 main mode (cloud IKEv2)"
        _case ls version ikev1-main "$init" idc 'VERSION=2' normal IKE_VERSION_MISMATCH 1 \
            "idc (Libreswan) IKEv2 (cloud IKEv1 main mode)"
        _case ls mode ikev1-main "$init" idc 'AGGRESSIVE=yes' normal IKE_MODE_MISMATCH 1 \
            "idc (Libreswan) aggressive mode (cloud main mode)"
    done
    for init in idc cloud; do
        _case ls dpd ikev2 "$init" "$(_other "$init")" - dpd DPD_TIMEOUT "" \
            "tunnel up, then all UDP dropped in the responder namespace (dead peer; DPD 3s on both ends)"
    done
}

list_cases() { list_ss_cases; list_ls_cases; }

if [ "${BASH_SOURCE[0]}" = "$0" ]; then list_cases; fi
