#!/usr/bin/env python3
"""Container lifecycle benchmark: ours against dockerd, same image, same client.

Usage: containers.py OUR_DAEMON_BINARY > bench/out/containers.json (log on stderr).

Both daemons run at the same time, each on private paths (socket, data
root under BENCH_CONTAINERS_DIR (default /var/tmp), exec root, pid file,
config file); dockerd with --bridge=none --iptables=false --ip-masq=false.
Every container runs with --network none. The image, `bb`, is imported
into each from a tar of the host's static /bin/busybox and a few applet
symlinks. The client is the same for both: the docker CLI (DOCKER_CLI,
default /usr/local/bin/docker, else `docker` on PATH) with -H unix://SOCK
and a private DOCKER_CONFIG; the same operations are also timed through the
raw API (python over the unix socket), which leaves out the CLI's own
start-up cost.

1. `run --rm --network none bb true`: BENCH_RUNS (default 15) timed runs
   after 2 warm-ups per engine, ours and dockerd interleaved so that other
   load on the machine falls on both alike. Raw API: create (AutoRemove),
   wait?condition=removed (headers read first, as the CLI does), start,
   wait's body.
2. `exec C true` into a running `sleep` container, the same way. Raw
   API: exec create, exec start (hijacked, read to EOF), exec inspect.
3. 20 sequential `run -d --network none bb sleep 1000` (CLI), total time,
   one engine at a time (the other idle).
4. With those 20 running: for each container, PSS (smaps_rollup) of its
   supervising process (ours: balena-engine-shim; dockerd:
   containerd-shim-runc-v2), found as the parent of inspect's State.Pid,
   and of every process in the container's cgroup (the container's init);
   mean per container and its parts; then the same right after one raw-API
   `exec true` into each container. Also the daemon's RSS growth from 0
   to 20 containers (ours: the daemon; dockerd: dockerd + containerd).
   Then the 20 are removed (`rm -f`, timed).

The CLI floor (`docker version`, a ping and a version request) is timed
too: the fixed cost every CLI figure carries.

Cleanup, also on failure or SIGTERM: every container of each daemon is
force-removed through the API, each daemon is stopped by its own pid, any
shim or process left holding our private paths is killed by its pid,
mounts under the temp dirs are unmounted, temp dirs removed.
"""
import http.client
import io
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
WARMUPS = 2
N_DETACHED = int(os.environ.get("BENCH_CONTAINERS", "20"))
WORK_DIR = os.environ.get("BENCH_CONTAINERS_DIR", "/var/tmp")
DEBUG = os.environ.get("BENCH_DEBUG") == "1"
IMAGE = "bb"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def docker_cli():
    c = os.environ.get("DOCKER_CLI")
    if c:
        return c
    if os.access("/usr/local/bin/docker", os.X_OK):
        return "/usr/local/bin/docker"
    return shutil.which("docker")


# ---------- the image ----------

APPLETS = ["sh", "true", "false", "sleep", "cat", "echo", "ls", "ps", "id", "env"]


def image_tar():
    b = io.BytesIO()
    with open("/bin/busybox", "rb") as f:
        bb = f.read()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.GNU_FORMAT) as t:
        def add(name, data=None, link=None, mode=0o755):
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_700_000_000
            ti.mode = mode
            if link is not None:
                ti.type = tarfile.SYMTYPE
                ti.linkname = link
                t.addfile(ti)
            elif data is None:
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
        for d in ("bin", "dev", "etc", "proc", "sys"):
            add(d)
        add("tmp", mode=0o1777)
        add("bin/busybox", bb)
        for a in APPLETS:
            add(f"bin/{a}", link="busybox", mode=0o777)
    return b.getvalue()


# ---------- raw API over the unix socket ----------

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def api(sock, method, path, body=None, ok=(200, 201, 204), timeout=60):
    c = UnixHTTPConnection(sock, timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        c.request(method, "/v1.41" + path, body=data, headers=headers)
        r = c.getresponse()
        out = r.read()
        if r.status not in ok:
            raise RuntimeError(f"{method} {path}: {r.status} {out[:500]!r}")
        return json.loads(out) if out.strip() else None
    finally:
        c.close()


KNOWN_IDS = set()  # containers created through the raw API


def api_run_rm(sock, phases=None):
    """What `docker run --rm` does, minus attach (`true` prints nothing).
    phases, if given, gets the ms of create, wait (registered), start, and
    start's answer to wait's (exit and removal)."""
    t0 = time.perf_counter()
    cid = api(sock, "POST", "/containers/create", {
        "Image": IMAGE, "Cmd": ["true"],
        "HostConfig": {"AutoRemove": True, "NetworkMode": "none"}})["Id"]
    KNOWN_IDS.add(cid)
    t1 = time.perf_counter()
    w = UnixHTTPConnection(sock, 60)
    try:
        w.request("POST", f"/v1.41/containers/{cid}/wait?condition=removed")
        r = w.getresponse()  # headers: the wait is registered
        if r.status != 200:
            raise RuntimeError(f"wait: {r.status} {r.read()[:300]!r}")
        t2 = time.perf_counter()
        api(sock, "POST", f"/containers/{cid}/start")
        t3 = time.perf_counter()
        res = json.loads(r.read())
        t4 = time.perf_counter()
    finally:
        w.close()
    if res.get("StatusCode") != 0:
        raise RuntimeError(f"run --rm true: {res}")
    if phases is not None:
        for k, a, b in (("create", t0, t1), ("wait", t1, t2), ("start", t2, t3), ("exit_and_remove", t3, t4)):
            phases.setdefault(k, []).append((b - a) * 1000)


def api_exec(sock, cid):
    eid = api(sock, "POST", f"/containers/{cid}/exec", {
        "Cmd": ["true"], "AttachStdout": True, "AttachStderr": True})["Id"]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    try:
        s.connect(sock)
        body = b'{"Detach":false,"Tty":false}'
        s.sendall(f"POST /v1.41/exec/{eid}/start HTTP/1.1\r\nHost: localhost\r\n"
                  f"Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        buf = bytearray()
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
    finally:
        s.close()
    if not (buf.startswith(b"HTTP/1.1 101") or buf.startswith(b"HTTP/1.1 200")):
        raise RuntimeError(f"exec start: {bytes(buf[:300])!r}")
    st = api(sock, "GET", f"/exec/{eid}/json")
    if st.get("Running") or st.get("ExitCode") != 0:
        raise RuntimeError(f"exec true: {st}")


# ---------- /proc ----------

def smaps(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, v = line.split(":", 1)
                v = v.split()
                if len(v) == 2 and v[1] == "kB":
                    out[k] = int(v[0])
    except OSError:
        pass
    return out


def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def ppid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def argv0(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return os.path.basename(f.read().split(b"\0")[0].decode(errors="replace"))
    except OSError:
        return "?"


def children(pid):
    out = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out.extend(int(c) for c in f.read().split())
    except OSError:
        pass
    return out


def cgroup_procs(pid):
    """Pids in the cgroup of pid (v2 unified, else v1 memory/pids)."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = [l.rstrip("\n").split(":", 2) for l in f]
    except OSError:
        return [pid]
    for _, ctrls, path in lines:
        cands = []
        if ctrls == "":
            cands.append("/sys/fs/cgroup" + path)
            cands.append("/sys/fs/cgroup/unified" + path)
        elif "memory" in ctrls.split(","):
            cands.append("/sys/fs/cgroup/memory" + path)
        elif "pids" in ctrls.split(","):
            cands.append("/sys/fs/cgroup/pids" + path)
        for c in cands:
            try:
                with open(os.path.join(c, "cgroup.procs")) as f:
                    pids = [int(x) for x in f.read().split()]
                if pid in pids:
                    return pids
            except OSError:
                continue
    return [pid]


# ---------- daemons ----------

def ping(sock):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(sock)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        ok = s.recv(64).startswith(b"HTTP/1.1 200")
        s.close()
        return ok
    except OSError:
        return False


def unmount_under(path):
    with open("/proc/self/mountinfo") as f:
        points = [l.split()[4] for l in f if l.split()[4].startswith(path + "/")]
    for m in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", m], check=False, stderr=subprocess.DEVNULL)


def pids_holding(paths):
    """Processes whose command line names one of our private paths (a shim
    that outlived its daemon, a containerd-shim of our containerd)."""
    out = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cl = f.read().decode(errors="replace")
        except OSError:
            continue
        if any(p in cl for p in paths):
            out.append(int(d))
    return out


CGROUP_PARENTS = ("balena", "docker")


def container_cgroups():
    """Every /sys/fs/cgroup/**/{balena,docker}/<id> directory."""
    out = set()
    for top in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        try:
            ctrls = [top] + [os.path.join(top, c) for c in os.listdir(top)]
        except OSError:
            continue
        for c in ctrls:
            for parent in CGROUP_PARENTS:
                d = os.path.join(c, parent)
                try:
                    out.update(os.path.join(d, x) for x in os.listdir(d)
                               if len(x) == 64 and os.path.isdir(os.path.join(d, x)))
                except OSError:
                    pass
    return out


class Engine:
    def __init__(self, name, argv_for, cli):
        self.name = name
        self.data = tempfile.mkdtemp(prefix=f"bench-containers-{name}-", dir=WORK_DIR)
        # Short: our shim's socket is EXEC_ROOT/containers/<64 hex>/shim.sock,
        # which must fit in sun_path (107 bytes and a NUL).
        self.ctl = tempfile.mkdtemp(prefix="bc-", dir="/tmp")
        self.sock = os.path.join(self.ctl, "s.sock")
        self.logpath = os.path.join(self.ctl, "log")
        with open(os.path.join(self.ctl, "daemon.json"), "w") as f:
            f.write("{}")
        os.makedirs(os.path.join(self.ctl, "cli"))
        self.argv = argv_for(self.ctl, os.path.join(self.data, "root"), self.sock)
        if DEBUG:
            self.argv.append("--debug")
        self.cli = cli
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")}
        self.env["DOCKER_CONFIG"] = os.path.join(self.ctl, "cli")
        self.p = None
        self.ids = set()  # containers we know we created

    def start(self):
        self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=open(self.logpath, "w"),
                                  stderr=subprocess.STDOUT)
        t0 = time.time()
        while time.time() - t0 < 60:
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {open(self.logpath).read()[-2000:]}")
            if os.path.exists(self.sock) and ping(self.sock):
                return
            time.sleep(0.01)
        raise RuntimeError(f"{self.name} not ready: {open(self.logpath).read()[-2000:]}")

    def docker(self, *args, stdin=None, check=True):
        r = subprocess.run([self.cli, "-H", f"unix://{self.sock}", *args], input=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"{self.name}: docker {' '.join(args)}: rc {r.returncode}: "
                               f"{r.stderr.decode(errors='replace')[-1000:]}")
        return r.stdout.decode()

    def run_d(self):
        cid = self.docker("run", "-d", "--network", "none", IMAGE, "sleep", "1000").strip()
        self.ids.add(cid)
        return cid

    def timed(self, *args):
        t0 = time.perf_counter()
        self.docker(*args)
        return (time.perf_counter() - t0) * 1000

    def daemon_pids(self):
        """Ours: the daemon. dockerd: dockerd and its managed containerd."""
        if self.name == "balena-engine":
            return [self.p.pid]
        return [self.p.pid] + [c for c in children(self.p.pid) if comm(c).startswith("containerd")]

    def daemon_rss_kib(self):
        return sum(status_kib(p, "VmRSS") for p in self.daemon_pids())

    def daemon_pss_kib(self):
        return sum(smaps(p).get("Pss", 0) for p in self.daemon_pids())

    def cleanup(self):
        if self.p is not None and self.p.poll() is None:
            try:
                for c in api(self.sock, "GET", "/containers/json?all=1", timeout=20) or []:
                    try:
                        api(self.sock, "DELETE", f"/containers/{c['Id']}?force=1&v=1", timeout=30)
                    except Exception as e:  # noqa: BLE001 - best effort, keep cleaning
                        log(f"{self.name}: rm {c['Id'][:12]}: {e}")
            except Exception as e:  # noqa: BLE001
                log(f"{self.name}: listing containers: {e}")
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        # Anything still naming our paths (a shim outlives our daemon by
        # design) is ours: stop it by its pid.
        left = pids_holding([self.data, self.ctl])
        for q in left:
            log(f"{self.name}: left over pid {q} ({comm(q)}): killing")
            try:
                os.kill(q, signal.SIGKILL)
            except OSError:
                pass
        if left:
            time.sleep(0.5)
        unmount_under(self.data)
        unmount_under(self.ctl)
        shutil.rmtree(self.data, ignore_errors=True)
        shutil.rmtree(self.ctl, ignore_errors=True)


# ---------- measurements ----------

def pct(xs, p):
    s = sorted(xs)
    return s[max(0, math.ceil(p * len(s)) - 1)]


def summary(xs):
    return {"median_ms": round(statistics.median(xs), 2), "p90_ms": round(pct(xs, 0.9), 2),
            "min_ms": round(min(xs), 2), "max_ms": round(max(xs), 2),
            "all_ms": [round(x, 2) for x in xs]}


def interleaved(engines, fn, runs, what):
    """fn(engine) -> ms. WARMUPS untimed calls each, then runs timed calls
    each, alternating which engine goes first."""
    for e in engines:
        for _ in range(WARMUPS):
            fn(e)
    out = {e.name: [] for e in engines}
    for i in range(runs):
        order = engines if i % 2 == 0 else engines[::-1]
        for e in order:
            out[e.name].append(fn(e))
    for e in engines:
        log(f"{e.name}: {what}: median {statistics.median(out[e.name]):.1f} ms")
    return out


def timed_api(f, *a):
    t0 = time.perf_counter()
    f(*a)
    return (time.perf_counter() - t0) * 1000


SHIM_NAMES = {"balena-engine": "balena-engine-shim", "dockerd": "containerd-shim-runc-v2"}


def memory_per_container(e, ids):
    per, parts = [], {"shim": [], "container": []}
    shim_rss, shim_priv, ct_rss = [], [], []
    extra = []
    for cid in ids:
        st = api(e.sock, "GET", f"/containers/{cid}/json")["State"]
        pid = st["Pid"]
        if not st.get("Running") or not pid:
            raise RuntimeError(f"{e.name}: {cid[:12]} is not running: {st}")
        # The shim is the container init's parent (both shims are child
        # subreapers); walk up a little in case something sits between.
        want = SHIM_NAMES[e.name]
        shim = ppid(pid)
        for _ in range(3):
            if argv0(shim) == want or comm(shim) == want[:15]:
                break
            extra.append(shim)
            shim = ppid(shim)
        else:
            raise RuntimeError(f"{e.name}: no {want} above {pid}: parent chain ends at "
                               f"{shim} {argv0(shim)!r}/{comm(shim)!r}")
        procs = cgroup_procs(pid)
        s = smaps(shim)
        cs = [smaps(q) for q in procs]
        shim_pss = s.get("Pss", 0)
        c_pss = sum(x.get("Pss", 0) for x in cs)
        per.append(shim_pss + c_pss)
        parts["shim"].append(shim_pss)
        parts["container"].append(c_pss)
        shim_rss.append(s.get("Rss", 0))
        shim_priv.append(s.get("Private_Clean", 0) + s.get("Private_Dirty", 0))
        ct_rss.append(sum(x.get("Rss", 0) for x in cs))
        # Other children of the shim outside the container's cgroup.
        for q in children(shim):
            if q not in procs:
                extra.append(q)
    mean = statistics.mean
    return {
        "containers": len(ids),
        "pss_kib_mean": round(mean(per), 1),
        "shim_pss_kib_mean": round(mean(parts["shim"]), 1),
        "container_pss_kib_mean": round(mean(parts["container"]), 1),
        "shim_rss_kib_mean": round(mean(shim_rss), 1),
        "shim_private_kib_mean": round(mean(shim_priv), 1),
        "container_rss_kib_mean": round(mean(ct_rss), 1),
        "pss_kib_all": per,
        "other_processes": sorted({f"{q}:{comm(q)}" for q in extra}),
    }


def detached_phase(e, n):
    log(f"{e.name}: {n} x run -d sleep 1000")
    time.sleep(1.0)
    rss0, pss0 = e.daemon_rss_kib(), e.daemon_pss_kib()
    ids = []
    t0 = time.perf_counter()
    for _ in range(n):
        ids.append(e.run_d())
    total = (time.perf_counter() - t0) * 1000
    time.sleep(1.0)
    rss1, pss1 = e.daemon_rss_kib(), e.daemon_pss_kib()
    mem = memory_per_container(e, ids)
    # Right after one `exec true` in each: what a health check leaves behind.
    for cid in ids:
        api_exec(e.sock, cid)
    mem_exec = memory_per_container(e, ids)
    t0 = time.perf_counter()
    e.docker("rm", "-f", *ids)
    rm_ms = (time.perf_counter() - t0) * 1000
    left = api(e.sock, "GET", "/containers/json?all=1")
    if left:
        raise RuntimeError(f"{e.name}: containers left after rm -f: {[c['Id'][:12] for c in left]}")
    return {
        "run_d_total_ms": round(total, 1),
        "run_d_per_container_ms": round(total / n, 1),
        "rm_f_total_ms": round(rm_ms, 1),
        "daemon_rss_kib_0": rss0, "daemon_rss_kib_n": rss1, "daemon_rss_growth_kib": rss1 - rss0,
        "daemon_pss_kib_0": pss0, "daemon_pss_kib_n": pss1, "daemon_pss_growth_kib": pss1 - pss0,
        "memory": mem,
        "memory_after_exec": mem_exec,
    }


def main():
    ours = sys.argv[1]
    cli = docker_cli()
    if not cli:
        raise SystemExit("containers.py: no docker CLI (DOCKER_CLI)")
    if os.geteuid() != 0:
        raise SystemExit("containers.py needs root")

    def term(*_):
        raise SystemExit("terminated")
    signal.signal(signal.SIGTERM, term)

    specs = [("balena-engine", lambda c, root, sock: [
        ours, "-H", f"unix://{sock}", "--data-root", root, "--exec-root", f"{c}/x",
        "--pidfile", f"{c}/pid", "--config-file", f"{c}/daemon.json", "--bridge=none",
        "--iptables=false", "--ip-masq=false", "--ip-forward=false"])]
    dockerd = shutil.which("dockerd")
    if dockerd:
        specs.append(("dockerd", lambda c, root, sock: [
            dockerd, "-H", f"unix://{sock}", "--data-root", root, "--exec-root", f"{c}/x",
            "--pidfile", f"{c}/pid", "--config-file", f"{c}/daemon.json", "--bridge=none",
            "--iptables=false", "--ip-masq=false", "--ip-forward=false"]))
    engines = []
    cgroups_before = container_cgroups()
    try:
        for name, argv_for in specs:
            e = Engine(name, argv_for, cli)
            engines.append(e)
            e.start()
        tar = image_tar()
        for e in engines:
            e.docker("import", "-", IMAGE, stdin=tar)
        cli_version = subprocess.run([cli, "--version"], capture_output=True, text=True).stdout.strip()
        results = {"runs": RUNS, "warmups": WARMUPS, "detached": N_DETACHED, "cli": cli_version,
                   "work_dir": WORK_DIR, "loadavg_start": os.getloadavg()}

        log("CLI floor (docker version)")
        floor = interleaved(engines, lambda e: e.timed("version", "--format", "{{.Server.Version}}"),
                            RUNS, "docker version")
        log("run --rm true")
        run_cli = interleaved(engines, lambda e: e.timed("run", "--rm", "--network", "none", IMAGE, "true"),
                              RUNS, "run --rm (CLI)")
        phases = {e.name: {} for e in engines}
        run_api = interleaved(engines, lambda e: timed_api(api_run_rm, e.sock, phases[e.name]), RUNS,
                              "run --rm (API)")

        log("exec true")
        sleepers = {e.name: e.run_d() for e in engines}
        exec_cli = interleaved(engines, lambda e: e.timed("exec", sleepers[e.name], "true"), RUNS, "exec (CLI)")
        exec_api = interleaved(engines, lambda e: timed_api(api_exec, e.sock, sleepers[e.name]), RUNS,
                               "exec (API)")
        for e in engines:
            e.docker("rm", "-f", sleepers[e.name])

        for e in engines:
            results[e.name] = {
                "cli_floor": summary(floor[e.name]),
                "run_rm_cli": summary(run_cli[e.name]),
                "run_rm_api": summary(run_api[e.name]),
                # Medians of each request's time (warm-ups included).
                "run_rm_api_phases_ms": {k: round(statistics.median(v), 2)
                                         for k, v in phases[e.name].items()},
                "exec_cli": summary(exec_cli[e.name]),
                "exec_api": summary(exec_api[e.name]),
            }
        for e in engines:
            results[e.name]["detached"] = detached_phase(e, N_DETACHED)
        if not dockerd:
            results["dockerd"] = None
        results["loadavg_end"] = os.getloadavg()
        print(json.dumps(results, indent=2))
    finally:
        for e in engines:
            e.cleanup()
        # Container cgroups left behind (other users' containers on this
        # machine can show up here too: only ours are removed).
        known = set(KNOWN_IDS).union(*(e.ids for e in engines))
        for d in sorted(container_cgroups() - cgroups_before):
            ours_ = os.path.basename(d) in known
            log(f"left over cgroup {d}" + (" (ours: removing)" if ours_ else " (not known to be ours)"))
            if ours_:
                try:
                    os.rmdir(d)
                except OSError as e:
                    log(f"rmdir {d}: {e}")


if __name__ == "__main__":
    main()
