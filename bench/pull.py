#!/usr/bin/env python3
"""Pull benchmark: ours against dockerd, same image, same registry, same run.

Usage: pull.py OUR_DAEMON_BINARY > bench/out/pull.json (table on stderr).

1. Starts Debian's docker-registry on 127.0.0.1 with its storage on tmpfs
   (/dev/shm), so the registry's reads neither hit the disk nor show in the
   page cache figures.
2. Builds a ~100 MB, 4-layer image (busybox from /bin/busybox; one big
   file; 3,000 small files; 100 medium files; bytes 3/4 random, 1/4
   repeated, so gzip saves ~25%) and pushes it with the registry HTTP API.
3. BENCH_PULL_RUNS times (default 3), for each engine in turn (ours, then
   dockerd when installed; interleaved): a fresh data root on the disk under test
   (BENCH_PULL_DIR, default /var/tmp), daemon started, `sync` and
   `drop_caches`, then POST /images/create through the daemon's socket.
   Measured: wall time of the request; CPU time (user + system) of the
   daemon, which other load on the machine does not inflate; peak VmRSS sampled every 20 ms and
   VmHWM at the end (dockerd: also with its containerd, which 20.10 does
   not pull through); /proc/PID/io write_bytes; sectors written on the
   data root's block device (/proc/diskstats, after a final `sync`); peak
   `Dirty:` (20 ms samples); `Cached:` growth.
4. For ours, an experiment: POSIX_FADV_DONTNEED on every layer file after
   the pull is durable: how long it takes and how much page cache it frees.

Every daemon and the registry are stopped by their own pid; temp dirs are
removed. Needs root (drop_caches).
"""
import gzip
import hashlib
import http.client
import io
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

RUNS = int(os.environ.get("BENCH_PULL_RUNS", "3"))
WORK_DIR = os.environ.get("BENCH_PULL_DIR", "/var/tmp")
REPO, TAG = "bench/pull", "1"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------- the image ----------

def content(rng, n):
    """n bytes: 64 KiB blocks, three random, one repeated text."""
    out = bytearray()
    pattern = (b"balena-engine pull benchmark " * 2300)[:65536]
    i = 0
    while len(out) < n:
        out += pattern if i % 4 == 3 else rng.randbytes(65536)
        i += 1
    return bytes(out[:n])


def tar_of(entries):
    """entries: (name, bytes|None for dir|str for symlink target, mode)."""
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data, mode in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_700_000_000
            ti.mode = mode
            if data is None:
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            elif isinstance(data, str):
                ti.type = tarfile.SYMTYPE
                ti.linkname = data
                t.addfile(ti)
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    return b.getvalue()


def make_layers():
    rng = random.Random(20240601)
    with open("/bin/busybox", "rb") as f:
        bb = f.read()
    l0 = tar_of([("bin", None, 0o755), ("bin/busybox", bb, 0o755), ("bin/sh", "busybox", 0o777),
                 ("tmp", None, 0o1777)])
    l1 = tar_of([("data", None, 0o755), ("data/big.bin", content(rng, 40 << 20), 0o644)])
    small = [("small", None, 0o755)]
    for d in range(30):
        small.append((f"small/{d:02}", None, 0o755))
        for f in range(100):
            small.append((f"small/{d:02}/f{f:03}", content(rng, rng.randint(1024, 19 * 1024)), 0o644))
    l2 = tar_of(small)
    l3 = tar_of([("medium", None, 0o755)] + [
        (f"medium/m{i:03}", content(rng, 300 * 1024), 0o644) for i in range(100)])
    return [l0, l1, l2, l3]


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def push(port, layers):
    """Pushes gzip-compressed layers and a config with the registry API;
    returns (manifest digest, image id, compressed sizes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def upload(data):
        d = sha(data)
        conn.request("HEAD", f"/v2/{REPO}/blobs/{d}")
        r = conn.getresponse()
        r.read()
        if r.status == 200:
            return d
        conn.request("POST", f"/v2/{REPO}/blobs/uploads/", headers={"Content-Length": "0"})
        r = conn.getresponse()
        r.read()
        if r.status != 202:
            raise SystemExit(f"upload start: {r.status}")
        loc = r.getheader("Location")
        if loc.startswith("http"):
            loc = "/" + loc.split("/", 3)[3]
        sep = "&" if "?" in loc else "?"
        conn.request("PUT", f"{loc}{sep}digest={d}", body=data,
                     headers={"Content-Type": "application/octet-stream",
                              "Content-Length": str(len(data))})
        r = conn.getresponse()
        r.read()
        if r.status != 201:
            raise SystemExit(f"upload {d}: {r.status}")
        return d

    descs, sizes = [], []
    for l in layers:
        gz = gzip.compress(l, compresslevel=6, mtime=0)
        descs.append({"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                      "size": len(gz), "digest": upload(gz)})
        sizes.append(len(gz))
    created = "2024-06-01T00:00:00Z"
    cfg = json.dumps({
        "architecture": "amd64", "os": "linux", "created": created,
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(l) for l in layers]},
        "history": [{"created": created, "created_by": f"layer {i}"} for i in range(len(layers))],
    }, separators=(",", ":")).encode()
    man = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": len(cfg), "digest": upload(cfg)},
        "layers": descs,
    }).encode()
    conn.request("PUT", f"/v2/{REPO}/manifests/{TAG}", body=man,
                 headers={"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"})
    r = conn.getresponse()
    r.read()
    if r.status != 201:
        raise SystemExit(f"manifest: {r.status}")
    return sha(man), sha(cfg), sizes


# ---------- the registry ----------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_registry(tmp):
    reg = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not os.path.exists(reg):
        return None, None
    port = free_port()
    cfg = os.path.join(tmp, "registry.yml")
    with open(cfg, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {tmp}/data\n"
                f"http:\n  addr: 127.0.0.1:{port}\n  secret: bench\n")
    p = subprocess.Popen([reg, "serve", cfg], stdin=subprocess.DEVNULL,
                         stdout=open(os.path.join(tmp, "registry.log"), "w"), stderr=subprocess.STDOUT)
    t0 = time.time()
    while time.time() - t0 < 15:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    stop(p)
    raise SystemExit("docker-registry did not start")


# ---------- /proc ----------

def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_io(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                k, v = line.split(":")
                out[k] = int(v)
    except OSError:
        pass
    return out


def cpu_s(pid):
    """User + system CPU seconds of a process (all its threads)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def children(pid):
    out = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out.extend(int(c) for c in f.read().split())
    except OSError:
        pass
    return out


def block_device(path):
    """The /proc/diskstats name of the device holding path (a partition's
    own name: its counters are its own)."""
    st = os.stat(path)
    maj, mi = os.major(st.st_dev), os.minor(st.st_dev)
    link = os.path.realpath(f"/sys/dev/block/{maj}:{mi}")
    return os.path.basename(link)


def sectors_written(dev):
    with open("/proc/diskstats") as f:
        for line in f:
            p = line.split()
            if p[2] == dev:
                return int(p[9])
    return None


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


class Sampler(threading.Thread):
    """Every 20 ms: VmRSS of the daemon (and of its tree) and Dirty:."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.stopped = pid, threading.Event()
        self.rss = self.tree_rss = self.dirty = 0
        self.samples = 0

    def run(self):
        while not self.stopped.is_set():
            r = status_kib(self.pid, "VmRSS")
            t = r + sum(status_kib(c, "VmRSS") for c in children(self.pid))
            d = meminfo("Dirty")
            self.rss, self.tree_rss, self.dirty = max(self.rss, r), max(self.tree_rss, t), max(self.dirty, d)
            self.samples += 1
            self.stopped.wait(0.02)


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


def stop(p, timeout=60):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def unmount_under(path):
    with open("/proc/self/mountinfo") as f:
        points = [l.split()[4] for l in f if l.split()[4].startswith(path + "/")]
    for m in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", m], check=False)


def start_daemon(argv, sock, logpath):
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=open(logpath, "w"),
                         stderr=subprocess.STDOUT)
    t0 = time.time()
    while time.time() - t0 < 60:
        if p.poll() is not None:
            raise SystemExit(f"{argv[0]} exited: {open(logpath).read()[-2000:]}")
        if os.path.exists(sock) and ping(sock):
            return p
        time.sleep(0.01)
    stop(p)
    raise SystemExit(f"{argv[0]} not ready: {open(logpath).read()[-2000:]}")


def api_pull(sock, image, tag):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(600)
    s.connect(sock)
    s.sendall(f"POST /v1.41/images/create?fromImage={image}&tag={tag} HTTP/1.1\r\n"
              f"Host: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
    buf = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            break
        buf += b
    s.close()
    text = buf.decode(errors="replace")
    if not text.startswith("HTTP/1.1 200") or '"error"' in text:
        raise SystemExit(f"pull failed: {text[-2000:]}")
    return text


def fadvise_experiment(data_root):
    """After the pull is durable: POSIX_FADV_DONTNEED on every layer file."""
    subprocess.run(["sync"], check=True)
    before = meminfo("Cached")
    files = 0
    t0 = time.perf_counter()
    for top, _, names in os.walk(os.path.join(data_root, "overlay2")):
        for n in names:
            p = os.path.join(top, n)
            try:
                fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                files += 1
            finally:
                os.close(fd)
    secs = time.perf_counter() - t0
    after = meminfo("Cached")
    return {"files": files, "seconds": round(secs, 4),
            "cached_before_kib": before, "cached_after_kib": after,
            "freed_kib": before - after}


def one_pull(name, argv_for, image, tag, fadvise=False):
    d = tempfile.mkdtemp(prefix=f"bench-pull-{name}-", dir=WORK_DIR)
    ctl = tempfile.mkdtemp(prefix=f"bench-pull-{name}-")
    try:
        with open(os.path.join(ctl, "daemon.json"), "w") as f:
            f.write("{}")
        sock = os.path.join(ctl, "s.sock")
        root = os.path.join(d, "root")
        p = start_daemon(argv_for(ctl, root, sock), sock, os.path.join(ctl, "log"))
        try:
            dev = block_device(d)
            drop_caches()
            time.sleep(0.2)
            pids = [p.pid] + children(p.pid)
            io0 = {q: proc_io(q) for q in pids}
            cpu0 = {q: cpu_s(q) for q in pids}
            sec0 = sectors_written(dev)
            cached0, dirty0 = meminfo("Cached"), meminfo("Dirty")
            sampler = Sampler(p.pid)
            sampler.start()
            t0 = time.perf_counter()
            api_pull(sock, image, tag)
            wall = time.perf_counter() - t0
            sampler.stopped.set()
            sampler.join()
            cpu = {q: cpu_s(q) - cpu0[q] for q in pids}
            hwm = status_kib(p.pid, "VmHWM")
            tree_hwm = hwm + sum(status_kib(c, "VmHWM") for c in children(p.pid))
            cached1 = meminfo("Cached")
            subprocess.run(["sync"], check=True)
            sec1 = sectors_written(dev)
            io1 = {q: proc_io(q) for q in pids}
            wb = {q: io1[q].get("write_bytes", 0) - io0[q].get("write_bytes", 0) for q in pids}
            cwb = {q: io1[q].get("cancelled_write_bytes", 0) - io0[q].get("cancelled_write_bytes", 0)
                   for q in pids}
            r = {
                "wall_s": round(wall, 3),
                "cpu_s": round(cpu[p.pid], 2),
                "tree_cpu_s": round(sum(cpu.values()), 2),
                "peak_rss_kib": sampler.rss,
                "vm_hwm_kib": hwm,
                "tree_peak_rss_kib": sampler.tree_rss,
                "tree_vm_hwm_kib": tree_hwm,
                "write_bytes": wb[p.pid],
                "cancelled_write_bytes": cwb[p.pid],
                "tree_write_bytes": sum(wb.values()),
                "device": dev,
                "device_bytes_written": (sec1 - sec0) * 512 if sec0 is not None else None,
                "dirty_before_kib": dirty0,
                "peak_dirty_kib": sampler.dirty,
                "cached_growth_kib": cached1 - cached0,
                "samples": sampler.samples,
            }
            if fadvise:
                r["fadvise_dontneed"] = fadvise_experiment(root)
            return r
        finally:
            stop(p)
            unmount_under(d)
            unmount_under(ctl)
    finally:
        shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(ctl, ignore_errors=True)


def summarize(runs):
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float)) and v is not None]
    return {k: statistics.median(r[k] for r in runs) for k in keys}


def main():
    ours = sys.argv[1]
    if os.geteuid() != 0:
        raise SystemExit("pull.py needs root (drop_caches)")
    reg_dir = tempfile.mkdtemp(prefix="bench-registry-", dir="/dev/shm")
    reg = None
    try:
        reg, port = start_registry(reg_dir)
        if reg is None:
            log("SKIP: docker-registry is not installed")
            print(json.dumps({"skipped": "docker-registry is not installed"}))
            return
        log("building and pushing the test image ...")
        layers = make_layers()
        manifest, image_id, gz_sizes = push(port, layers)
        unpacked = sum(len(l) for l in layers)
        del layers
        image = f"127.0.0.1:{port}/{REPO}"
        results = {
            "image": {"layers": len(gz_sizes), "unpacked_bytes": unpacked,
                      "compressed_bytes": sum(gz_sizes), "manifest": manifest, "id": image_id},
            "runs": RUNS, "work_dir": WORK_DIR,
        }
        engines = [("balena-engine", lambda c, root, sock: [
            ours, "-H", f"unix://{sock}", "--data-root", root, "--exec-root", f"{c}/exec",
            "--pidfile", f"{c}/pid", "--config-file", f"{c}/daemon.json", "--bridge=none",
            "--iptables=false", "--ip-masq=false", "--ip-forward=false"])]
        dockerd = shutil.which("dockerd")
        if dockerd:
            engines.append(("dockerd", lambda c, root, sock: [
                dockerd, "-H", f"unix://{sock}", "--data-root", root, "--exec-root", f"{c}/exec",
                "--pidfile", f"{c}/pid", "--config-file", f"{c}/daemon.json", "--bridge=none",
                "--iptables=false", "--ip-masq=false", "--ip-forward=false"]))
        # Interleaved (ours, dockerd, ours, ...) so that other load on the
        # machine falls on both alike.
        runs = {name: [] for name, _ in engines}
        for i in range(RUNS):
            for name, argv_for in engines:
                log(f"{name}: pull {i + 1}/{RUNS}")
                r = one_pull(name, argv_for, image, TAG, fadvise=(name == "balena-engine"))
                r["loadavg_1m"] = os.getloadavg()[0]
                runs[name].append(r)
        for name, _ in engines:
            results[name] = {"median": summarize(runs[name]), "all": runs[name]}
        if not dockerd:
            results["dockerd"] = None
        print(json.dumps(results, indent=2))
    finally:
        if reg is not None:
            stop(reg)
        shutil.rmtree(reg_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
