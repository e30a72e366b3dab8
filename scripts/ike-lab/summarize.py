#!/usr/bin/env python3
"""Summarize stored IKE lab runs: one row per case with the SA state and the
decisive log lines, for checking EXPECT against reality and for the README table.

    scripts/ike-lab/summarize.py [tests/data/ike-lab] [--markdown] [--filter RE]
    scripts/ike-lab/summarize.py --readme   # rewrite README.md from "## Stored runs" on
"""
import collections
import os
import re
import subprocess
import sys

CODES = ("OK IKE_PSK_MISMATCH IKE_VERSION_MISMATCH IKE_MODE_MISMATCH IKE_ID_MISMATCH "
         "IKE_PROPOSAL_MISMATCH PEER_NOT_RESPONDING NAT_T_BLOCKED DPD_TIMEOUT "
         "TRAFFIC_SELECTOR_MISMATCH TS_NARROWED IPSEC_PROPOSAL_MISMATCH PFS_MISMATCH REKEY_FAILED").split()

# decisive log lines, in the order they are worth reporting
MARKERS = [
    r"MAC mismatched", r"invalid HASH_V1 payload length", r"could not decrypt payloads",
    r"integrity check failed", r"received HASH payload does not match",
    r"no IKE config found", r"no peer config found", r"no matching peer config",
    r"no acceptable proposal found", r"no matching proposal found", r"no proposal found",
    r"NO_PROPOSAL_CHOSEN", r"INVALID_KE_PAYLOAD", r"TS_UNACCEPTABLE", r"INVALID_ID_INFORMATION",
    r"AUTHENTICATION_FAILED", r"AUTH_FAILED", r"INVALID_SYNTAX", r"PAYLOAD_MALFORMED",
    r"does not match", r"traffic selectors .* unacceptable", r"no matching CHILD_SA config",
    r"giving up after \d+ retransmits", r"DPD check timed out", r"deleting half open IKE_SA",
    r"sending DPD request", r"CHILD_SA rekeying failed", r"rekeying failed",
    r"failed to establish CHILD_SA", r"establishing CHILD_SA .* failed",
    r"received proposals unacceptable", r"rekeying IKE_SA failed", r"establishing IKE_SA failed",
    r"rejected by peer", r"encountered fatal error", r"TS_UNACCEPTABLE", r"mismatched",
    r"rejected Child SA", r"matching remote ESP/AH proposals failed", r"computed hash does not match",
    r"dropping unexpected", r"no suitable connection", r"does not allow IKEv1",
    # Libreswan
    r"NO_PROPOSAL_CHOSEN", r"no local proposal matches", r"authentication failed",
    r"STATE_.*retransmission", r"max number of retransmissions", r"Protocol not supported",
    r"Informational Exchange message must be encrypted", r"not encrypted",
    r"peer ID .* mismatched", r"no suitable connection", r"Can not authenticate",
    r"ikev1 .* not allowed", r"IKEv1 .* rejected", r"EVENT_v2_LIVENESS", r"liveness",
    r"DPD(?! vendor ID)", r"dropping", r"NO_PROPOSAL", r"initiator established IKE SA",
    r"established Child SA", r"initiator established Child SA",
]
MRE = re.compile("|".join("(?:%s)" % m for m in MARKERS))
STRIP = re.compile(r"^[A-Z][a-z]{2} [ 0-9]\d [\d:]{8}(?:\.\d+)?:? (?:\d\d\[\w+\] )?(?:<[^>]*> )?")


def read(p):
    try:
        with open(p, errors="replace") as f:
            return f.read()
    except OSError:
        return None


def env(d):
    out = {}
    for line in (read(os.path.join(d, "case.env")) or "").splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k] = v.strip("'")
    return out


def sas(d, end):
    t = read(os.path.join(d, f"{end}.list-sas.txt"))
    if t is None:
        return "-"
    ike = len(re.findall(r"ESTABLISHED", t))
    child = len(re.findall(r"INSTALLED", t))
    if "STATE_V2_ESTABLISHED" in t or "STATE_MAIN" in t or "STATE_QUICK" in t or "STATE_V2" in t:
        ike = len(re.findall(r"ESTABLISHED_IKE_SA|STATE_MAIN_[IR]4|STATE_AGGR_[IR]\d", t))
        child = len(re.findall(r"ESTABLISHED_CHILD_SA|STATE_QUICK_[IR]2", t))
    ts = re.findall(r"local\s+(\S.*)\n\s+remote\s+(\S.*)", t)
    tss = [f"{a.strip()} === {b.strip()}" for a, b in ts if "@" not in a]
    s = f"IKE {ike}, CHILD {child}"
    if tss:
        s += " (" + "; ".join(tss) + ")"
    return s


def key_lines(d, end, limit=4):
    t = read(os.path.join(d, f"{end}.log"))
    if t is None:
        return ["(not running)"]
    seen, out = set(), []
    for line in t.splitlines():
        if not MRE.search(line):
            continue
        m = STRIP.sub("", line)
        m = re.sub(r"\b[0-9a-f]{8,}\b", "…", m)
        m = re.sub(r"#\d+", "#N", m)
        m = re.sub(r"\[\d+\]", "[N]", m)
        m = re.sub(r"\{\d+\}", "{N}", m)
        m = re.sub(r"retransmit \d+ of", "retransmit N of", m)
        if m in seen:
            continue
        seen.add(m)
        out.append(m)
        if len(out) >= limit:
            break
    return out


DECISIVE = [
    # strongSwan
    r"MAC mismatched", r"calculated HASH does not match", r"invalid HASH_V1 payload length",
    r"could not decrypt payloads", r"no IKE config found", r"IDir .* does not match",
    r"no peer config found", r"no matching peer config found", r"received proposals unacceptable",
    r"no proposal found", r"no acceptable proposal found", r"no matching proposal found",
    r"traffic selectors .* unacceptable", r"no matching CHILD_SA config found",
    r"received \S+ (notify error|error notify|notify, no CHILD_SA built)",
    r"CHILD_SA rekeying failed", r"rekeying IKE_SA failed", r"DPD check timed out",
    r"deleting half open IKE_SA", r"establishing IKE_SA failed, peer not responding",
    r"giving up after \d+ retransmits",
    # Libreswan
    r"rejected by peer", r"computed hash does not match", r"mismatched", r"no local proposal matches",
    r"rejected Child SA", r"dropping unexpected", r"does not allow IKEv1", r"AUTHENTICATION_FAILED", r"NO_PROPOSAL_CHOSEN",
    r"TS_UNACCEPTABLE", r"INVALID_ID_INFORMATION", r"Possible authentication failure",
    r"probable authentication failure", r"max number of retransmissions", r"no suitable connection",
    r"liveness", r"DPD", r"not supported", r"encountered fatal error", r"Protocol not supported",
]


def decisive(d, end):
    lines = key_lines(d, end, limit=200)
    for pat in DECISIVE:
        for m in lines:
            if re.search(pat, m):
                return m
    return ""


def result(d):
    parts = []
    for end in ("idc", "cloud"):
        s = sas(d, end)
        if s == "-":
            parts.append(f"{end}: not running")
            continue
        k = decisive(d, end)
        parts.append(f"{end}: {s}" + (f"; `{k}`" if k else ""))
    return " / ".join(parts)


def readme(root):
    """rewrite the part of README.md after '## Stored runs' (counts and table)"""
    path = os.path.join(root, "README.md")
    with open(path) as f:
        text = f.read()
    mark = "## Stored runs\n"
    head = text[:text.index(mark) + len(mark)]
    cnt, fams, n = collections.Counter(), collections.Counter(), 0
    for c in sorted(os.listdir(root)):
        if not os.path.exists(os.path.join(root, c, "case.env")):
            continue
        e = env(os.path.join(root, c))
        n += 1
        cnt[(e["EXPECT"], c[:2], e["IKE"])] += 1
        fams[(c[:2], e["IKE"])] += 1
    cols = [("ss", "ikev1-main"), ("ss", "ikev1-aggressive"), ("ss", "ikev2"), ("ls", "ikev1-main"), ("ls", "ikev2")]
    ss = sum(v for (f, _), v in fams.items() if f == "ss")
    ls = sum(v for (f, _), v in fams.items() if f == "ls")
    out = [head,
           f"{n} runs: strongSwan<->strongSwan {ss} (ikev1-main {fams[('ss', 'ikev1-main')]}, "
           f"ikev1-aggressive {fams[('ss', 'ikev1-aggressive')]}, ikev2 {fams[('ss', 'ikev2')]}), "
           f"Libreswan<->strongSwan {ls} (ikev1-main {fams[('ls', 'ikev1-main')]}, ikev2 {fams[('ls', 'ikev2')]}).", "",
           "Counts by the stored EXPECT (ss = strongSwan<->strongSwan, ls = Libreswan<->strongSwan):", "",
           "| EXPECT | ss ikev1-main | ss ikev1-aggressive | ss ikev2 | ls ikev1-main | ls ikev2 |",
           "|---|---|---|---|---|---|"]
    for code in CODES:
        out.append(f"| {code} | " + " | ".join(str(cnt[(code, f, v)] or "") for f, v in cols) + " |")
    out += ["", "In *what happened*: per end, the SAs it listed at the end of the run (IKE_SAs / CHILD_SAs, "
            "with the CHILD_SA's selectors) and its most telling log line (picked by "
            "`scripts/ike-lab/summarize.py`). `see NOTE`: read `NOTE` in that run's `case.env`.", "",
            "| case | fam | variant | initiator | change | EXPECT | what happened |", "|---|---|---|---|---|---|---|"]
    t = subprocess.run([sys.executable, os.path.abspath(__file__), root, "--markdown"],
                       capture_output=True, text=True, check=True).stdout
    out.append(t.rstrip("\n"))
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"wrote {path}")


def main():
    args = sys.argv[1:]
    md = "--markdown" in args
    flt = None
    if "--filter" in args:
        flt = re.compile(args[args.index("--filter") + 1])
    pos = [a for i, a in enumerate(args) if not a.startswith("--") and (i == 0 or args[i - 1] != "--filter")]
    root = pos[0] if pos else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "ike-lab")
    if "--readme" in args:
        return readme(root)
    for c in sorted(os.listdir(root)):
        d = os.path.join(root, c)
        if not os.path.isdir(d) or (flt and not flt.search(c)):
            continue
        e = env(d)
        if md:
            fam = {"strongswan-strongswan": "ss", "libreswan-strongswan": "ls"}.get(e.get("FAMILY"), "")
            exp = e.get("EXPECT", "")
            if e.get("EXPECT_MATRIX"):
                exp += f" (matrix: {e['EXPECT_MATRIX']})"
            res = result(d) + (" — see NOTE" if e.get("NOTE") else "")
            print(f"| {c} | {fam} | {e.get('IKE','')} | {e.get('INITIATOR','')} | "
                  f"{e.get('CHANGE','')} | {exp} | {res} |")
        else:
            print(f"== {c}  EXPECT={e.get('EXPECT')}  {e.get('CHANGE')}")
            if e.get("NOTE"):
                print(f"   NOTE: {e['NOTE']}")
            for end in ("idc", "cloud"):
                print(f"   {end:5} {sas(d, end)}")
                for k in key_lines(d, end):
                    print(f"         {k[:200]}")


if __name__ == "__main__":
    main()
