#!/usr/bin/env python3
"""Daemon start-to-ready time and idle memory, ours and dockerd's.

Starts each daemon on private paths (socket, data root, exec root, pid
file) N times, measures the wall time from spawn to the first answered
GET /_ping, then, on the last run, idle RSS and PSS after a second of rest
(summed over the daemon's process tree: dockerd's managed containerd
counts). Every daemon is stopped by its own pid. Writes JSON to stdout.
"""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def ping(path):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(path)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = s.recv(64)
        s.close()
        return data.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def tree(pid):
    """pid and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def mem_kib(pid):
    rss = pss = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    k, v = line.split(":", 1)
                    if k == "Rss":
                        rss += int(v.split()[0])
                    elif k == "Pss":
                        pss += int(v.split()[0])
        except OSError:
            pass
    return rss, pss


def run(name, argv_for, runs):
    times, rss, pss = [], None, None
    for i in range(runs):
        d = tempfile.mkdtemp(prefix=f"bench-{name}-")
        with open(os.path.join(d, "daemon.json"), "w") as f:
            f.write("{}")
        sock = os.path.join(d, "s.sock")
        argv = argv_for(d, sock)
        log = open(os.path.join(d, "log"), "w")
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        ready = None
        while time.perf_counter() - t0 < 60:
            if p.poll() is not None:
                break
            if os.path.exists(sock) and ping(sock):
                ready = time.perf_counter() - t0
                break
            time.sleep(0.0005)
        if ready is None:
            p.kill()
            p.wait()
            sys.stderr.write(open(os.path.join(d, "log")).read())
            shutil.rmtree(d, ignore_errors=True)
            raise SystemExit(f"{name} did not become ready")
        times.append(ready * 1000)
        if i == runs - 1:
            time.sleep(1.0)
            rss, pss = mem_kib(p.pid)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
        shutil.rmtree(d, ignore_errors=True)
    return {
        "ready_ms_median": round(statistics.median(times), 2),
        "ready_ms_min": round(min(times), 2),
        "ready_ms_max": round(max(times), 2),
        "idle_rss_kib": rss,
        "idle_pss_kib": pss,
        "runs": runs,
    }


def main():
    ours = sys.argv[1]
    results = {}
    results["balena-engine"] = run(
        "ours",
        lambda d, sock: [
            ours, "-H", f"unix://{sock}", "--data-root", f"{d}/root",
            "--exec-root", f"{d}/exec", "--pidfile", f"{d}/pid",
            "--config-file", f"{d}/daemon.json", "--bridge=none", "--iptables=false",
            "--ip-masq=false", "--ip-forward=false",
        ],
        RUNS,
    )
    dockerd = shutil.which("dockerd")
    if dockerd:
        results["dockerd"] = run(
            "dockerd",
            lambda d, sock: [
                dockerd, "-H", f"unix://{sock}", "--data-root", f"{d}/root",
                "--exec-root", f"{d}/exec", "--pidfile", f"{d}/pid",
                "--config-file", f"{d}/daemon.json", "--bridge=none", "--iptables=false",
                "--ip-masq=false", "--ip-forward=false",
            ],
            max(3, RUNS // 3),
        )
    else:
        results["dockerd"] = None
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
