#!/usr/bin/env python3
"""vpntrace kernel lab agent: one topology in real Linux network namespaces.

Reads a plan (JSON, written by tests/kernel_lab.rs) on stdin, builds the namespaces,
veth links, bridges, addresses, routes, sysctls and iptables rules it lists, sends the
probes one at a time from the namespace that owns their source, and prints what the
kernel did (JSON) on stdout: whether the client got its reply, and which counters moved
in which namespace (iptables rule and policy counters of every table, /proc/net/snmp and
/proc/net/netstat). It removes every namespace it created before it exits, also on an
error or a signal. The interpretation of the counters is done by the Rust side.

On-prem semantics only (routing, filters, conntrack, NAT, rp_filter, forwarding, local
delivery): there is no IPsec/ESP between namespaces.

Safety: packets are sent only from and to namespaces this agent created; the namespaces
have no link to the host's network.
"""

import ctypes
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)
ROOT_FD = os.open("/proc/self/ns/net", os.O_RDONLY)
NS_FDS = {}
CREATED = []


def log(msg):
    sys.stderr.write("agent: %s\n" % msg)


def setns_fd(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


def enter(ns):
    """Make `ns` (a name, or None for the agent's own namespace) the current one.
    Sockets created afterwards live there, children spawned afterwards run there."""
    if ns is None:
        setns_fd(ROOT_FD)
        return
    fd = NS_FDS.get(ns)
    if fd is None:
        fd = os.open("/run/netns/" + ns, os.O_RDONLY)
        NS_FDS[ns] = fd
    setns_fd(fd)


def run(cmd, stdin=None, ns=None, check=True):
    enter(ns)
    try:
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    finally:
        enter(None)
    if check and p.returncode != 0:
        raise RuntimeError("%s (in %s) failed: %s" % (" ".join(cmd), ns or "root", p.stderr.strip()))
    return p.stdout


def cleanup():
    enter(None)
    if not CREATED:
        return
    batch = "".join("netns del %s\n" % n for n in CREATED)
    subprocess.run(["ip", "-force", "-batch", "-"], input=batch, capture_output=True, text=True)
    for fd in NS_FDS.values():
        try:
            os.close(fd)
        except OSError:
            pass
    NS_FDS.clear()
    del CREATED[:]


def on_signal(signum, _frame):
    cleanup()
    sys.exit(128 + signum)


def write_sysctl(ns, path, value):
    enter(ns)
    try:
        with open("/proc/sys/" + path, "w") as f:
            f.write(str(value))
    finally:
        enter(None)


def build(plan):
    names = [n["name"] for n in plan["namespaces"]]
    root = "".join("netns add %s\n" % n for n in names)
    # Record before creating: a half-built lab is removed too.
    CREATED.extend(names)
    run(["ip", "-batch", "-"], stdin=root)
    run(["ip", "-batch", "-"], stdin="".join(l + "\n" for l in plan["links"]))
    for n in plan["namespaces"]:
        if n["ip"]:
            run(["ip", "-n", n["name"], "-batch", "-"], stdin="".join(l + "\n" for l in n["ip"]))
        for path, value in n["sysctl"]:
            try:
                write_sysctl(n["name"], path, value)
            except OSError as e:
                if not path.startswith("net/bridge/"):
                    raise RuntimeError("sysctl %s=%s in %s: %s" % (path, value, n["name"], e))
        if n["iptables"]:
            run(["iptables-restore"], stdin=n["iptables"], ns=n["name"])


# ----- counters -----------------------------------------------------------------------


def read_proc(ns):
    enter(ns)
    try:
        out = {}
        for fname in ("snmp", "netstat"):
            with open("/proc/self/net/" + fname) as f:
                lines = f.read().splitlines()
            for i in range(0, len(lines) - 1, 2):
                keys = lines[i].split()
                vals = lines[i + 1].split()
                sect = keys[0].rstrip(":")
                if sect not in ("Ip", "IpExt", "TcpExt"):
                    continue
                for k, v in zip(keys[1:], vals[1:]):
                    try:
                        out["%s/%s" % (sect, k)] = int(v)
                    except ValueError:
                        pass
        return out
    finally:
        enter(None)


def read_iptables(ns):
    out = {}
    table = None
    seen = {}
    for line in run(["iptables-save", "-c"], ns=ns).splitlines():
        if line.startswith("*"):
            table = line[1:]
            seen = {}
        elif line.startswith(":"):
            # :CHAIN POLICY [p:b]
            parts = line[1:].split()
            if len(parts) >= 3 and parts[1] != "-":
                out["%s/%s/policy" % (table, parts[0])] = int(parts[2].strip("[]").split(":")[0])
        elif line.startswith("["):
            cnt, rest = line.split("]", 1)
            pk = int(cnt[1:].split(":")[0])
            toks = rest.split()
            chain = toks[1]
            seen[chain] = seen.get(chain, 0) + 1
            key = "#%d" % seen[chain]
            if "--comment" in toks:
                c = toks[toks.index("--comment") + 1].strip('"')
                key = c
            k = "%s/%s/%s" % (table, chain, key)
            out[k] = out.get(k, 0) + pk
    return out


def snapshot(watch):
    snap = {}
    for ns in watch:
        s = read_iptables(ns)
        s.update(read_proc(ns))
        snap[ns] = s
    return snap


def diff(a, b):
    d = {}
    for ns, after in b.items():
        before = a.get(ns, {})
        nd = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) != 0}
        if nd:
            d[ns] = nd
    return d


# ----- listeners and probes -----------------------------------------------------------


class Servers:
    """TCP listeners (never accepted: the handshake is what a probe waits for) and UDP
    echo sockets bound to each address, so that a reply leaves from the address the
    request was sent to."""

    def __init__(self, plan):
        self.udp = []
        self.tcp = []
        for n in plan["namespaces"]:
            if not n.get("listen"):
                continue
            enter(n["name"])
            try:
                for port in plan["ports"]:
                    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    t.bind(("0.0.0.0", port))
                    t.listen(256)
                    self.tcp.append(t)
                    for addr in n["addrs"]:
                        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        u.bind((addr, port))
                        u.setblocking(False)
                        self.udp.append(u)
            finally:
                enter(None)

    def serve(self, ready):
        for u in ready:
            try:
                data, peer = u.recvfrom(2048)
                u.sendto(data, peer)
            except OSError:
                pass


def kernel_source(ns, bind, dst, dport):
    """The source address the kernel picks (or the bound one) toward dst."""
    enter(ns)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if bind:
                s.bind((bind, 0))
            s.connect((dst, dport or 9))
            return s.getsockname()[0]
        except OSError as e:
            return "error:" + (errno_name(e.errno))
        finally:
            s.close()
    finally:
        enter(None)


def errno_name(n):
    import errno
    return errno.errorcode.get(n, str(n))


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF


def probe(p, servers, timeout):
    """Send one probe; wait for its reply. Returns 'ok', 'timeout', 'reply_from:ADDR'
    or 'error:ERRNO' (the client's system call failed, e.g. ENETUNREACH, EPERM)."""
    enter(p["src_ns"])
    try:
        if p["proto"] == "icmp":
            s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        elif p["proto"] == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        enter(None)
    s.setblocking(False)
    deadline = time.monotonic() + timeout
    result = "timeout"
    try:
        if p["bind"] or p["proto"] != "icmp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((p["bind"] or "0.0.0.0", p["sport"] if p["proto"] != "icmp" else 0))
        payload = ("vtlab-%d" % p["sport"]).encode()
        if p["proto"] == "icmp":
            hdr = struct.pack("!BBHHH", 8, 0, 0, p["icmp_id"], 1)
            pkt = struct.pack("!BBHHH", 8, 0, checksum(hdr + payload), p["icmp_id"], 1) + payload
            s.sendto(pkt, (p["dst"], 0))
        elif p["proto"] == "udp":
            s.connect((p["dst"], p["dport"]))
            s.send(payload)
        else:
            rc = s.connect_ex((p["dst"], p["dport"]))
            if rc not in (0, 115):  # EINPROGRESS
                return "error:" + errno_name(rc)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            rlist = [s] + servers.udp if p["proto"] != "tcp" else servers.udp
            wlist = [s] if p["proto"] == "tcp" else []
            r, w, _ = select.select(rlist, wlist, [], left)
            servers.serve([x for x in r if x is not s])
            if p["proto"] == "tcp" and s in w:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                result = "ok" if err == 0 else "error:" + errno_name(err)
                break
            if s in r:
                if p["proto"] == "udp":
                    try:
                        data = s.recv(2048)
                    except OSError as e:
                        result = "error:" + errno_name(e.errno)
                        break
                    if data == payload:
                        result = "ok"
                        break
                else:
                    data, peer = s.recvfrom(2048)
                    ihl = (data[0] & 0x0F) * 4
                    typ = data[ihl]
                    ident, seq = struct.unpack("!HH", data[ihl + 4:ihl + 8])
                    if typ == 0 and ident == p["icmp_id"] and seq == 1:
                        result = "ok" if peer[0] == p["dst"] else "reply_from:" + peer[0]
                        break
    except OSError as e:
        result = "error:" + errno_name(e.errno)
    finally:
        s.close()
    return result


def main():
    plan = json.load(sys.stdin)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    t0 = time.monotonic()
    out = {"probes": [], "error": None}
    try:
        build(plan)
        out["build_ms"] = int((time.monotonic() - t0) * 1000)
        servers = Servers(plan)
        watch = [n["name"] for n in plan["namespaces"] if n.get("watch")]
        # Let links come up (veth carrier, bridge ports).
        time.sleep(0.05)
        before = snapshot(watch)
        timeout = plan["timeout_ms"] / 1000.0
        for p in plan["probes"]:
            src = kernel_source(p["src_ns"], p["bind"], p["dst"], p.get("dport"))
            t = time.monotonic()
            res = probe(p, servers, timeout)
            ms = int((time.monotonic() - t) * 1000)
            # Let what is still in flight land before reading the counters.
            end = time.monotonic() + 0.02
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    break
                r, _, _ = select.select(servers.udp, [], [], left)
                servers.serve(r)
            after = snapshot(watch)
            out["probes"].append({"client": res, "src": src, "ms": ms, "deltas": diff(before, after)})
            before = after
    except Exception as e:  # reported, never hidden: the Rust side fails the topology
        out["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        cleanup()
    out["total_ms"] = int((time.monotonic() - t0) * 1000)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
