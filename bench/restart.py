#!/usr/bin/env python3
"""Restart-policy benchmark: ours against dockerd after a simulated reboot.

Usage: restart.py OUR_DAEMON_BINARY > bench/out/restart.json (log on stderr).

Both daemons run on private paths set up as bench/containers.py does
(the same Engine class, image and cleanup; dockerd with --bridge=none
--iptables=false --ip-masq=false --ip-forward=false, so neither touches the
host's network); every container runs with --network none.

1. BENCH_CONTAINERS (default 20) containers `--restart always bb sleep
   1000` are created and started through the API in each daemon.
2. A power cut, BENCH_REBOOTS (default 3) times per engine, ours and
   dockerd alternating: the daemon (and dockerd's containerd) is killed
   with SIGKILL, then every shim (anything naming our private paths) and
   every process in the containers' cgroups; the container cgroups are
   removed, mounts under the daemon's paths unmounted and its exec root
   deleted, as a reboot leaves them. Then the daemon is started on the
   same data root and timed: to answering /_ping, and to every container
   reported running with a live init.
3. With the containers running again and one `GET /events` subscriber
   connected: the daemon's RSS (dockerd: dockerd alone, and dockerd +
   containerd), after 2 s.
"""
import json
import os
import shutil
import signal
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import containers as C  # noqa: E402

N = int(os.environ.get("BENCH_CONTAINERS", "20"))
REBOOTS = int(os.environ.get("BENCH_REBOOTS", "3"))
log = C.log


def create_always(e, n):
    ids = []
    for i in range(n):
        cid = C.api(e.sock, "POST", f"/containers/create?name=always{i}", {
            "Image": C.IMAGE, "Cmd": ["sleep", "1000"],
            "HostConfig": {"NetworkMode": "none", "RestartPolicy": {"Name": "always"}}})["Id"]
        e.ids.add(cid)
        C.api(e.sock, "POST", f"/containers/{cid}/start")
        ids.append(cid)
    return ids


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def all_running(e, ids):
    try:
        lst = C.api(e.sock, "GET", "/containers/json", timeout=5) or []
    except Exception:  # noqa: BLE001 - not answering yet
        return False
    running = {c["Id"] for c in lst if c.get("State") == "running"}
    return all(i in running for i in ids)


def power_cut(e, ids):
    inits = []
    for cid in ids:
        pid = C.api(e.sock, "GET", f"/containers/{cid}/json")["State"]["Pid"]
        if pid:
            inits.append(pid)
    procs = sorted({q for p in inits for q in C.cgroup_procs(p)})
    cgs = {d for d in C.container_cgroups() if os.path.basename(d) in ids}
    for p in e.daemon_pids():
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    e.p.wait()
    for q in C.pids_holding([e.data, e.ctl]) + procs:
        try:
            os.kill(q, signal.SIGKILL)
        except OSError:
            pass
    t0 = time.time()
    while any(alive(p) for p in procs) and time.time() - t0 < 20:
        time.sleep(0.02)
    time.sleep(0.2)
    for d in sorted(cgs, key=len, reverse=True):
        for _ in range(50):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)
    C.unmount_under(e.data)
    C.unmount_under(e.ctl)
    shutil.rmtree(os.path.join(e.ctl, "x"), ignore_errors=True)
    for f in ("pid", "s.sock"):
        try:
            os.unlink(os.path.join(e.ctl, f))
        except OSError:
            pass


def boot(e, ids):
    """Starts the daemon; (ms to /_ping, ms to every container running)."""
    t0 = time.perf_counter()
    e.p = C.subprocess.Popen(e.argv, stdin=C.subprocess.DEVNULL, stdout=open(e.logpath, "a"),
                             stderr=C.subprocess.STDOUT)
    ready = None
    while time.perf_counter() - t0 < 120:
        if e.p.poll() is not None:
            raise RuntimeError(f"{e.name} exited: {open(e.logpath).read()[-2000:]}")
        if ready is None and os.path.exists(e.sock) and C.ping(e.sock):
            ready = (time.perf_counter() - t0) * 1000
        if ready is not None and all_running(e, ids):
            done = (time.perf_counter() - t0) * 1000
            for cid in ids:
                pid = C.api(e.sock, "GET", f"/containers/{cid}/json")["State"]["Pid"]
                if not pid or not alive(pid):
                    raise RuntimeError(f"{e.name}: {cid[:12]} reported running without a live init")
            return ready, done
        time.sleep(0.005)
    raise RuntimeError(f"{e.name}: containers not all running after 120 s: {open(e.logpath).read()[-2000:]}")


def events_subscriber(sock):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock)
    s.sendall(b"GET /v1.41/events HTTP/1.1\r\nHost: x\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1024)
        if not b:
            raise RuntimeError("events: connection closed")
        head += b
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"events: {head[:200]!r}")
    return s


def main():
    ours = sys.argv[1]
    cli = C.docker_cli()
    if not cli:
        raise SystemExit("restart.py: no docker CLI (DOCKER_CLI)")
    if os.geteuid() != 0:
        raise SystemExit("restart.py needs root")

    def term(*_):
        raise SystemExit("terminated")
    signal.signal(signal.SIGTERM, term)

    net = ["--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false"]
    specs = [("balena-engine", lambda c, root, sock: [
        ours, "-H", f"unix://{sock}", "--data-root", root, "--exec-root", f"{c}/x",
        "--pidfile", f"{c}/pid", "--config-file", f"{c}/daemon.json", *net])]
    dockerd = shutil.which("dockerd")
    if dockerd:
        specs.append(("dockerd", lambda c, root, sock: [
            dockerd, "-H", f"unix://{sock}", "--data-root", root, "--exec-root", f"{c}/x",
            "--pidfile", f"{c}/pid", "--config-file", f"{c}/daemon.json", *net]))
    engines = []
    cgroups_before = C.container_cgroups()
    subscribers = []
    try:
        for name, argv_for in specs:
            e = C.Engine(name, argv_for, cli)
            engines.append(e)
            e.start()
        tar = C.image_tar()
        ids = {}
        for e in engines:
            e.docker("import", "-", C.IMAGE, stdin=tar)
            ids[e.name] = create_always(e, N)
            log(f"{e.name}: {N} always containers running")
        times = {e.name: {"ready_ms": [], "all_running_ms": []} for e in engines}
        for i in range(REBOOTS):
            order = engines if i % 2 == 0 else engines[::-1]
            for e in order:
                power_cut(e, ids[e.name])
                ready, done = boot(e, ids[e.name])
                times[e.name]["ready_ms"].append(round(ready, 1))
                times[e.name]["all_running_ms"].append(round(done, 1))
                log(f"{e.name}: reboot {i + 1}: ready {ready:.0f} ms, all {N} running {done:.0f} ms")
        results = {"containers": N, "reboots": REBOOTS, "loadavg_start": os.getloadavg()}
        for e in engines:
            subscribers.append(events_subscriber(e.sock))
        time.sleep(2)
        for e in engines:
            t = times[e.name]
            r = {
                "ready_ms_median": statistics.median(t["ready_ms"]),
                "all_running_ms_median": statistics.median(t["all_running_ms"]),
                "ready_ms": t["ready_ms"],
                "all_running_ms": t["all_running_ms"],
                "daemon_rss_kib": C.status_kib(e.p.pid, "VmRSS"),
                "daemon_pss_kib": C.smaps(e.p.pid).get("Pss", 0),
            }
            if e.name == "dockerd":
                r["dockerd_containerd_rss_kib"] = e.daemon_rss_kib()
            results[e.name] = r
        if not dockerd:
            results["dockerd"] = None
        results["loadavg_end"] = os.getloadavg()
        print(json.dumps(results, indent=2))
    finally:
        for s in subscribers:
            s.close()
        for e in engines:
            e.cleanup()
        known = set().union(*(e.ids for e in engines))
        for d in sorted(C.container_cgroups() - cgroups_before):
            if os.path.basename(d) in known:
                try:
                    os.rmdir(d)
                except OSError as err:
                    log(f"rmdir {d}: {err}")


if __name__ == "__main__":
    main()
