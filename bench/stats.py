#!/usr/bin/env python3
"""CPU cost of one `docker stats` stream: ours against dockerd, same run.

Usage: stats.py OUR_DAEMON_BINARY > bench/out/stats.json (log on stderr).

Both daemons are started as bench/containers.py starts them (private
paths, no bridge, no iptables) and given the same image (`bb`, the host's
static busybox) and one running container (`sleep 1000`, --network none).
Then, for both daemons at the same time:

1. idle: BENCH_STATS_SECS (default 30) seconds with no client;
2. stream: the same time with one `GET /containers/{id}/stats` stream open
   (stream=1, raw API, every document read and decoded).

For each window the CPU time of the daemon's processes is read before and
after, as the run time of their threads (/proc/<pid>/task/*/schedstat,
nanoseconds, every thread sampled each 100 ms so that threads exiting in
the window keep what they ran; the figures below) and as utime + stime
(/proc/<pid>/stat, 10 ms ticks, a cross-check): ours, the daemon and the
container's shim; dockerd, dockerd + containerd + the container's
containerd-shim-runc-v2 (stats go dockerd → containerd → shim, which reads
the cgroup). The cost of the stream is the stream window's CPU minus the
idle window's, per second and per document.
"""
import json
import os
import shutil
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import containers as c  # noqa: E402  (bench/containers.py: daemons, image, cleanup)

SECS = float(os.environ.get("BENCH_STATS_SECS", "30"))
TICK = os.sysconf("SC_CLK_TCK")


def cpu_ms(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            total += int(rest[11]) + int(rest[12])  # utime, stime
        except OSError:
            pass
    return total * 1000 / TICK


def thread_times(pids):
    """tid -> run time (ns) of every live thread of pids (schedstat)."""
    out = {}
    for p in pids:
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/schedstat") as f:
                    out[(p, t)] = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return out


class ThreadClock(threading.Thread):
    """Run time of a set of processes over a window, in ns resolution,
    robust to threads that come and go (tokio's blocking pool, Go's Ms):
    every thread is sampled every 100 ms; each contributes its last sample
    minus its first (0 for threads born in the window)."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids = pids
        self.first = thread_times(pids)
        self.last = dict(self.first)
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.1):
            self.sample()

    def sample(self):
        for k, v in thread_times(self.pids).items():
            self.first.setdefault(k, 0)
            self.last[k] = v

    def finish(self):
        self.stop.set()
        self.join()
        self.sample()
        return sum(self.last[k] - self.first[k] for k in self.last) / 1e6


def measured_pids(e, cid):
    pids = e.daemon_pids()
    st = c.api(e.sock, "GET", f"/containers/{cid}/json")["State"]["Pid"]
    shim = c.ppid(st)
    return pids + [shim]


class StatsReader(threading.Thread):
    """Reads one stats stream until stopped; counts documents."""

    def __init__(self, sock, cid):
        super().__init__(daemon=True)
        self.sock, self.cid = sock, cid
        self.docs = 0
        self.stop = threading.Event()
        self.error = None

    def run(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(5)
            s.connect(self.sock)
            s.sendall(f"GET /v1.41/containers/{self.cid}/stats?stream=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            buf = b""
            head_done = False
            while not self.stop.is_set():
                try:
                    b = s.recv(65536)
                except socket.timeout:
                    continue
                if not b:
                    break
                buf += b
                if not head_done:
                    if b"\r\n\r\n" not in buf:
                        continue
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    if not head.startswith(b"HTTP/1.1 200"):
                        raise RuntimeError(head[:200])
                    head_done = True
                # Chunked body: count complete JSON lines (chunk framing
                # lines are hex sizes, never JSON objects).
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    line = line.strip()
                    if line.startswith(b"{"):
                        json.loads(line)
                        self.docs += 1
        except Exception as ex:  # noqa: BLE001 - reported in the result
            self.error = str(ex)
        finally:
            s.close()


def window(engines, pids, stream):
    readers = {}
    if stream:
        for e in engines:
            r = StatsReader(e.sock, e.cid)
            r.start()
            readers[e.name] = r
        time.sleep(1.5)  # the first document (and dockerd's collector) is up
    clocks = {e.name: ThreadClock(pids[e.name]) for e in engines}
    before = {e.name: cpu_ms(pids[e.name]) for e in engines}
    for k in clocks.values():
        k.start()
    docs0 = {n: r.docs for n, r in readers.items()}
    time.sleep(SECS)
    after = {e.name: cpu_ms(pids[e.name]) for e in engines}
    sched = {n: k.finish() for n, k in clocks.items()}
    out = {}
    for e in engines:
        out[e.name] = {"cpu_ms": round(after[e.name] - before[e.name], 1),
                       "sched_ms": round(sched[e.name], 3)}
        if stream:
            r = readers[e.name]
            out[e.name]["docs"] = r.docs - docs0[e.name]
            out[e.name]["error"] = r.error
    for r in readers.values():
        r.stop.set()
    for r in readers.values():
        r.join(timeout=10)
    return out


def main():
    ours = sys.argv[1]
    cli = c.docker_cli()
    if not cli:
        raise SystemExit("stats.py: no docker CLI (DOCKER_CLI)")
    if os.geteuid() != 0:
        raise SystemExit("stats.py needs root")

    def term(*_):
        raise SystemExit("terminated")
    signal.signal(signal.SIGTERM, term)

    common = ["--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false"]
    specs = [("balena-engine", lambda d, root, sock: [
        ours, "-H", f"unix://{sock}", "--data-root", root, "--exec-root", f"{d}/x",
        "--pidfile", f"{d}/pid", "--config-file", f"{d}/daemon.json", *common])]
    dockerd = shutil.which("dockerd")
    if dockerd:
        specs.append(("dockerd", lambda d, root, sock: [
            dockerd, "-H", f"unix://{sock}", "--data-root", root, "--exec-root", f"{d}/x",
            "--pidfile", f"{d}/pid", "--config-file", f"{d}/daemon.json", *common]))
    engines = []
    cgroups_before = c.container_cgroups()
    try:
        for name, argv_for in specs:
            e = c.Engine(name, argv_for, cli)
            engines.append(e)
            e.start()
        tar = c.image_tar()
        pids = {}
        for e in engines:
            e.docker("import", "-", c.IMAGE, stdin=tar)
            e.cid = e.run_d()
            pids[e.name] = measured_pids(e, e.cid)
        time.sleep(2)
        log = c.log
        log(f"idle window ({SECS:.0f} s)")
        idle = window(engines, pids, False)
        log(f"stream window ({SECS:.0f} s)")
        streamed = window(engines, pids, True)
        results = {"secs": SECS, "loadavg": os.getloadavg(), "cli": cli}
        for e in engines:
            i, s = idle[e.name]["cpu_ms"], streamed[e.name]["cpu_ms"]
            si, ss = idle[e.name]["sched_ms"], streamed[e.name]["sched_ms"]
            docs = streamed[e.name]["docs"]
            extra = ss - si
            results[e.name] = {
                "idle_cpu_ms": i,
                "stream_cpu_ms": s,
                "idle_sched_ms": si,
                "stream_sched_ms": ss,
                "docs": docs,
                "stream_error": streamed[e.name]["error"],
                "stream_cost_ms_per_s": round(extra / SECS, 4),
                "stream_cost_ms_per_doc": round(extra / docs, 4) if docs else None,
                "measured": [c.comm(p) for p in pids[e.name]],
            }
        if not dockerd:
            results["dockerd"] = None
        print(json.dumps(results, indent=2))
    finally:
        for e in engines:
            e.cleanup()
        known = set().union(*(e.ids for e in engines)) if engines else set()
        for d in sorted(c.container_cgroups() - cgroups_before):
            if os.path.basename(d) in known:
                try:
                    os.rmdir(d)
                except OSError as ex:
                    c.log(f"rmdir {d}: {ex}")


if __name__ == "__main__":
    main()
