#!/usr/bin/env python3
"""Networking benchmark: ours against dockerd, each daemon in a network
namespace of its own (so neither touches the host's network).

Usage: network.py OUR_DAEMON_BINARY > bench/out/network.json (log on stderr).

For each engine (ours, and dockerd when installed), in its own netns with
its default bridge, iptables and userland proxy (both defaults):
1. Start latency: `run --rm bb true` through the raw API (create with
   AutoRemove, wait?condition=removed, start, wait's answer), with
   NetworkMode `bridge` versus `none`; BENCH_RUNS (default 15) timed runs
   after 2 warm-ups, engines and modes interleaved.
2. TCP throughput through a published port: a container runs
   `nc -l -p 5001 > /dev/null` published as host port 15001; a client
   sends BENCH_NET_MIB (default 256) MiB and waits for the container to
   close. Two paths: the daemon host's loopback (the userland proxy:
   docker-proxy or balena-engine-proxy) and a second namespace joined by a
   veth pair (iptables DNAT, the kernel's path). Best of 3 each.
3. DNS: a container on a user-defined network asks the embedded server at
   127.0.0.11 for another container's name (UDP A queries from inside the
   asking container's namespace, 2000 after 200 warm-ups): median and p99.

Cleanup, also on failure: containers and networks are removed through
the API, daemons stopped by pid, leftover processes holding our paths
killed by pid, mounts under our temp dirs and the namespace files
unmounted.
"""
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import containers as cb  # noqa: E402  (shared helpers: api, image, cleanup)

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
WARMUPS = 2
MIB = int(os.environ.get("BENCH_NET_MIB", "256"))
DNS_QUERIES = 2000

CLIENT = r"""
import socket, sys, time
host, port, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
buf = b"x" * (1 << 20)
for attempt in range(100):
    try:
        s = socket.create_connection((host, port), timeout=5)
        break
    except OSError:
        time.sleep(0.05)
else:
    raise SystemExit("cannot connect")
s.settimeout(60)
t0 = time.perf_counter()
for _ in range(mib):
    s.sendall(buf)
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
dt = time.perf_counter() - t0
print(mib / dt)
"""

DNSQ = r"""
import random, socket, struct, sys, time, statistics
name, n, warm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect(("127.0.0.11", 53))
lat, fails = [], 0
for i in range(n + warm):
    qid = random.randrange(65536)
    msg = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", 1, 1)
    t0 = time.perf_counter()
    s.send(msg)
    try:
        r = s.recv(4096)
    except socket.timeout:
        fails += 1
        continue
    dt = time.perf_counter() - t0
    if struct.unpack(">H", r[:2])[0] != qid or struct.unpack(">H", r[6:8])[0] < 1:
        fails += 1
        continue
    if i >= warm:
        lat.append(dt * 1e6)
lat.sort()
print(f"{statistics.median(lat)} {lat[int(len(lat) * 0.99) - 1]} {fails}")
"""


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def make_netns(path):
    open(path, "w").close()
    subprocess.run(["unshare", f"--net={path}", "true"], check=True)
    subprocess.run(["nsenter", f"--net={path}", "ip", "link", "set", "lo", "up"], check=True)


def drop_netns(path):
    subprocess.run(["umount", "-l", path], stderr=subprocess.DEVNULL)
    try:
        os.unlink(path)
    except OSError:
        pass


class NetEngine(cb.Engine):
    """An Engine whose daemon runs inside its own network namespace."""

    def __init__(self, name, argv_for, cli):
        super().__init__(name, argv_for, cli)
        self.ns = os.path.join(self.ctl, "netns")
        make_netns(self.ns)
        self.argv = ["nsenter", f"--net={self.ns}", "--"] + self.argv
        self.outside = None

    def daemon_pid(self):
        # nsenter execs the daemon: the pid is the daemon's.
        return self.p.pid

    def in_ns(self, *argv, ns=None, check=True, timeout=300):
        r = subprocess.run(["nsenter", f"--net={ns or self.ns}", "--", *argv],
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"{self.name}: {' '.join(argv)}: {r.stderr[-500:]}")
        return r.stdout

    def wire_outside(self):
        """A second namespace with 10.88.0.2, joined to the daemon's
        (10.88.0.1) by a veth pair."""
        self.outside = os.path.join(self.ctl, "outside")
        make_netns(self.outside)
        self.in_ns("ip", "link", "add", "vout", "type", "veth", "peer", "name", "vin",
                   "netns", str(self.daemon_pid()), ns=self.outside)
        self.in_ns("ip", "addr", "add", "10.88.0.2/24", "dev", "vout", ns=self.outside)
        self.in_ns("ip", "link", "set", "vout", "up", ns=self.outside)
        self.in_ns("ip", "addr", "add", "10.88.0.1/24", "dev", "vin")
        self.in_ns("ip", "link", "set", "vin", "up")

    def cleanup(self):
        super_cleanup = super().cleanup
        try:
            if self.p is not None and self.p.poll() is None:
                for c in cb.api(self.sock, "GET", "/containers/json?all=1", timeout=20) or []:
                    try:
                        cb.api(self.sock, "DELETE", f"/containers/{c['Id']}?force=1", timeout=30)
                    except Exception as e:  # noqa: BLE001
                        log(f"{self.name}: rm {c['Id'][:12]}: {e}")
                for n in cb.api(self.sock, "GET", "/networks", timeout=20) or []:
                    if n["Name"] not in ("bridge", "host", "none"):
                        try:
                            cb.api(self.sock, "DELETE", f"/networks/{n['Id']}", timeout=30)
                        except Exception as e:  # noqa: BLE001
                            log(f"{self.name}: network rm {n['Name']}: {e}")
        except Exception as e:  # noqa: BLE001
            log(f"{self.name}: cleanup: {e}")
        ns, outside = self.ns, self.outside
        super_cleanup()
        for p in (outside, ns):
            if p:
                drop_netns(p)


def api_run_rm(sock, mode):
    t0 = time.perf_counter()
    cid = cb.api(sock, "POST", "/containers/create", {
        "Image": cb.IMAGE, "Cmd": ["true"],
        "HostConfig": {"AutoRemove": True, "NetworkMode": mode}})["Id"]
    w = cb.UnixHTTPConnection(sock, 60)
    try:
        w.request("POST", f"/v1.41/containers/{cid}/wait?condition=removed")
        r = w.getresponse()
        if r.status != 200:
            raise RuntimeError(f"wait: {r.status}")
        cb.api(sock, "POST", f"/containers/{cid}/start")
        res = json.loads(r.read())
    finally:
        w.close()
    if res.get("StatusCode") != 0:
        raise RuntimeError(f"run --rm true ({mode}): {res}")
    return (time.perf_counter() - t0) * 1000


def throughput(e, path):
    """MiB/s of MIB MiB into a published port; best of 3."""
    best = 0.0
    for _ in range(3):
        cid = cb.api(e.sock, "POST", "/containers/create", {
            "Image": cb.IMAGE, "Cmd": ["sh", "-c", "nc -l -p 5001 > /dev/null"],
            "ExposedPorts": {"5001/tcp": {}},
            "HostConfig": {"PortBindings": {"5001/tcp": [{"HostPort": "15001"}]}}})["Id"]
        try:
            cb.api(e.sock, "POST", f"/containers/{cid}/start")
            if path == "loopback":
                out = e.in_ns("python3", "-c", CLIENT, "127.0.0.1", "15001", str(MIB))
            else:
                out = e.in_ns("python3", "-c", CLIENT, "10.88.0.1", "15001", str(MIB), ns=e.outside)
            best = max(best, float(out.strip()))
        finally:
            cb.api(e.sock, "DELETE", f"/containers/{cid}?force=1")
    return best


def dns_latency(e):
    cb.api(e.sock, "POST", "/networks/create", {"Name": "benchnet"})
    ids = []
    for name in ("target", "asker"):
        cid = cb.api(e.sock, "POST", f"/containers/create?name={name}", {
            "Image": cb.IMAGE, "Cmd": ["sleep", "1000"],
            "HostConfig": {"NetworkMode": "benchnet"}})["Id"]
        cb.api(e.sock, "POST", f"/containers/{cid}/start")
        ids.append(cid)
    try:
        pid = cb.api(e.sock, "GET", f"/containers/{ids[1]}/json")["State"]["Pid"]
        out = subprocess.run(["nsenter", "-t", str(pid), "-n", "python3", "-c", DNSQ, "target",
                              str(DNS_QUERIES), "200"], capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"{e.name}: dns: {out.stderr[-500:]}")
        med, p99, fails = out.stdout.split()
        return {"median_us": round(float(med), 1), "p99_us": round(float(p99), 1), "failures": int(fails)}
    finally:
        for cid in ids:
            cb.api(e.sock, "DELETE", f"/containers/{cid}?force=1")
        cb.api(e.sock, "DELETE", "/networks/benchnet")


def main():
    ours = sys.argv[1]
    cli = cb.docker_cli()
    if os.geteuid() != 0:
        raise SystemExit("network.py needs root")

    def term(*_):
        raise SystemExit("terminated")
    signal.signal(signal.SIGTERM, term)

    specs = [("balena-engine", lambda c, root, sock: [
        ours, "-H", f"unix://{sock}", "--data-root", root, "--exec-root", f"{c}/x",
        "--pidfile", f"{c}/pid", "--config-file", f"{c}/daemon.json"])]
    dockerd = shutil.which("dockerd")
    if dockerd:
        specs.append(("dockerd", lambda c, root, sock: [
            dockerd, "-H", f"unix://{sock}", "--data-root", root, "--exec-root", f"{c}/x",
            "--pidfile", f"{c}/pid", "--config-file", f"{c}/daemon.json"]))
    engines = []
    results = {"runs": RUNS, "warmups": WARMUPS, "mib": MIB, "dns_queries": DNS_QUERIES,
               "loadavg_start": os.getloadavg()}
    try:
        for name, argv_for in specs:
            e = NetEngine(name, argv_for, cli)
            engines.append(e)
            e.start()
        cb.APPLETS = cb.APPLETS + ["nc"]
        tar = cb.image_tar()
        for e in engines:
            e.docker("import", "-", cb.IMAGE, stdin=tar)
            e.wire_outside()
        lat = {e.name: {"bridge": [], "none": []} for e in engines}
        log("start latency, bridge vs none")
        for i in range(WARMUPS + RUNS):
            for e in engines:
                for mode in ("bridge", "none"):
                    ms = api_run_rm(e.sock, mode)
                    if i >= WARMUPS:
                        lat[e.name][mode].append(ms)
        for e in engines:
            log(f"{e.name}: throughput")
            r = {
                "run_rm_bridge_ms_median": round(statistics.median(lat[e.name]["bridge"]), 1),
                "run_rm_none_ms_median": round(statistics.median(lat[e.name]["none"]), 1),
                "tcp_loopback_proxy_mib_s": round(throughput(e, "loopback"), 0),
                "tcp_outside_dnat_mib_s": round(throughput(e, "outside"), 0),
            }
            log(f"{e.name}: dns")
            r["dns"] = dns_latency(e)
            results[e.name] = r
        results["loadavg_end"] = os.getloadavg()
    finally:
        for e in engines:
            try:
                e.cleanup()
            except Exception as ex:  # noqa: BLE001
                log(f"{e.name}: cleanup failed: {ex}")
    json.dump(results, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
