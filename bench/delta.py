#!/usr/bin/env python3
"""Delta benchmark: balena binary deltas, created and applied, against
rdiff and zstd --patch-from on the same data in the same run.

Usage: delta.py OUR_LINKS_DIR > bench/out/delta.json (progress on stderr).
OUR_LINKS_DIR holds the role symlinks (`balena-engine --install-links`).

1. Two ~100 MB images as docker-save archives (fixed seeds):
   v1 = busybox base layer + 4 app layers of ~25 MiB, each many files of
   4 KiB..1 MiB (log-uniform sizes), half the bytes random, half
   text-like (Zipf-distributed words: gzip ~3x);
   v2 = the same, except ~5% of the app files changed (1-4 regions each:
   overwrites, inserts, deletes of 8 B..4 KiB, new mtime), 2 files added
   and 2 removed, spread over the app layers.
2. BENCH_DELTA_RUNS times (default 3; medians reported), a fresh daemon
   A: load v1 and v2, then `image delta -t app:delta app:v1 app:v2`,
   timed (wall, CLI included) while VmRSS of the daemon is sampled every
   10 ms; VmHWM is reset (clear_refs 5) just before, so it is the exact
   peak. Then a second `image delta` from the same basis (signature
   cached). Sizes from `save` of app:delta: the delta layer tars summed,
   and gzip -6 of each summed.
3. rdiff (librsync, balena's settings) and zstd --patch-from -19 on the
   basis stream (v1's layer tars concatenated) for each v2 layer that
   differs, timed, peak RSS from /usr/bin/time (or sampled). Our deltas
   are also checked with `rdiff patch` (compatibility).
4. docker-registry on 127.0.0.1 (storage on /dev/shm, access log on):
   daemon A pushes app:delta and app:v2; daemon B (fresh, v1 loaded) pulls
   the delta (image id must be v2's), daemon C (fresh, v1 loaded) pulls
   v2. Each BENCH_DELTA_RUNS times with caches warm (after `sync`; runs
   after the first follow an `rmi`), then, when root, as many times with
   caches dropped (rmi, drop_caches, pull). Bytes: the manifest's layers
   not present locally, and the bytes the registry served (access log).

Environment: BENCH_DELTA_DIR (default /var/tmp) holds data roots and files.
Every process started here is stopped by its own pid; temp dirs removed.
"""
import gzip
import hashlib
import http.client
import io
import json
import math
import os
import random
import re
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

WORK_DIR = os.environ.get("BENCH_DELTA_DIR", "/var/tmp")
RUNS = max(1, int(os.environ.get("BENCH_DELTA_RUNS", "3")))
MiB = 1 << 20
APP_LAYERS = 4
LAYER_BYTES = 25 * MiB
CHANGED_FRACTION = 0.05
MTIME = 1_700_000_000


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------- the images ----------

class Text:
    """Text-like bytes: Zipf-distributed words from a fixed vocabulary."""

    def __init__(self, rng):
        letters = "etaoinshrdlcumwfgypbvkjxqz"
        lw = [12, 9, 8, 7.5, 7, 6.5, 6, 6, 4, 4, 3, 3, 2.4, 2.4, 2.2, 2, 2, 2, 1.5, 1, 1, .8, .2, .2, .1, .1]
        words = set()
        while len(words) < 5000:
            words.add("".join(rng.choices(letters, lw, k=rng.randint(2, 11))))
        extra = ["{", "}", "();", "return", "if", "else", "0x%08x" % 1, "=", "==", "//", "#", "\t"]
        self.vocab = sorted(words) + extra
        acc, self.cum = 0.0, []
        for i in range(len(self.vocab)):
            acc += 1.0 / (i + 1)
            self.cum.append(acc)

    def make(self, rng, n):
        out = []
        size = 0
        while size < n:
            words = rng.choices(self.vocab, cum_weights=self.cum, k=12 * 64)
            chunk = "\n".join(" ".join(words[i:i + 12]) for i in range(0, len(words), 12)) + "\n"
            out.append(chunk)
            size += len(chunk)
        return "".join(out).encode()[:n]


def file_size(rng):
    return int(math.exp(rng.uniform(math.log(4096), math.log(1 << 20))))


def make_v1(rng, text):
    """Returns app layers as lists of [path, content, mtime, kind]."""
    layers = []
    fileno = 0
    for li in range(APP_LAYERS):
        files, total = [], 0
        kind_bytes = {"bin": 0, "txt": 0}
        while total < LAYER_BYTES:
            n = min(file_size(rng), LAYER_BYTES - total + 4096)
            kind = "bin" if kind_bytes["bin"] <= kind_bytes["txt"] else "txt"
            data = rng.randbytes(n) if kind == "bin" else text.make(rng, n)
            sub = ["lib", "share", "data", "etc", "assets", "modules", "res", "var"][fileno % 8]
            files.append([f"app{li + 1}/{sub}/f{fileno:05}.{kind}", data, MTIME, kind])
            kind_bytes[kind] += n
            total += n
            fileno += 1
        layers.append(files)
    return layers


def modify(rng, text, data, kind):
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        n = int(math.exp(rng.uniform(math.log(8), math.log(4096))))
        new = rng.randbytes(n) if kind == "bin" else text.make(rng, n)
        at = rng.randrange(0, max(1, len(b) - n))
        op = rng.choice(["overwrite", "overwrite", "insert", "delete"])
        if op == "overwrite":
            b[at:at + n] = new
        elif op == "insert":
            b[at:at] = new
        else:
            del b[at:at + n]
    return bytes(b)


def make_v2(rng, text, v1):
    v2 = [[list(f) for f in files] for files in v1]
    all_files = [(li, fi) for li, files in enumerate(v2) for fi in range(len(files))]
    changed = rng.sample(all_files, round(CHANGED_FRACTION * len(all_files)))
    changed_bytes = 0
    for li, fi in changed:
        f = v2[li][fi]
        f[1] = modify(rng, text, f[1], f[3])
        f[2] = MTIME + 86400
        changed_bytes += len(f[1])
    # two removed (layers 1 and 3), two added (layers 2 and 4)
    removed = []
    for li in (0, 2):
        cands = [fi for fi in range(len(v2[li])) if (li, fi) not in changed]
        fi = rng.choice(cands)
        removed.append(v2[li][fi][0])
        del v2[li][fi]
    added = []
    for li in (1, 3):
        n = file_size(rng)
        kind = "bin" if li == 1 else "txt"
        data = rng.randbytes(n) if kind == "bin" else text.make(rng, n)
        path = f"app{li + 1}/new/added{li}.{kind}"
        v2[li].append([path, data, MTIME + 86400, kind])
        added.append(path)
    per_layer = [sum(1 for li, _ in changed if li == i) for i in range(len(v2))]
    return v2, {"files": len(all_files), "changed_files": len(changed),
                "changed_per_app_layer": per_layer, "changed_files_bytes": changed_bytes,
                "removed": removed, "added": added}


def tar_layer(entries, path):
    """entries: (name, bytes|None for dir|str for symlink target, mode, mtime)."""
    with open(path, "wb") as out, tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data, mode, mtime in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime, ti.mode = mtime, mode
            if data is None:
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            elif isinstance(data, str):
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                t.addfile(ti)
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))


def app_entries(files):
    dirs = set()
    for f in files:
        parts = f[0].split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    ents = [(d, None, 0o755, MTIME) for d in sorted(dirs)]
    ents += [(p, data, 0o644, mt) for p, data, mt, _ in sorted(files, key=lambda f: f[0])]
    return ents


def sha_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return "sha256:" + h.hexdigest()


def write_archive(path, layer_paths, tag, created):
    diff_ids = [sha_file(p) for p in layer_paths]
    cfg = json.dumps({
        "architecture": "amd64", "os": "linux", "created": created,
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "WorkingDir": "/app1"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": created, "created_by": f"bench layer {i}"}
                    for i in range(len(layer_paths))],
    }, separators=(",", ":")).encode()
    image_id = "sha256:" + hashlib.sha256(cfg).hexdigest()
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as t:
        names = []
        for i, lp in enumerate(layer_paths):
            n = f"{diff_ids[i][7:]}/layer.tar"
            t.add(lp, arcname=n)
            names.append(n)
        for name, data in ((f"{image_id[7:]}.json", cfg),
                           ("manifest.json", json.dumps([{"Config": f"{image_id[7:]}.json",
                                                          "RepoTags": [tag], "Layers": names}]).encode())):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, MTIME
            t.addfile(ti, io.BytesIO(data))
    return image_id, diff_ids


def build_images(d):
    t0 = time.perf_counter()
    rng = random.Random(20240917)
    text = Text(random.Random(7))
    with open("/bin/busybox", "rb") as f:
        bb = f.read()
    base = os.path.join(d, "base.tar")
    tar_layer([("bin", None, 0o755, MTIME), ("bin/busybox", bb, 0o755, MTIME),
               ("bin/sh", "busybox", 0o777, MTIME), ("tmp", None, 0o1777, MTIME)], base)
    v1 = make_v1(rng, text)
    v2, changes = make_v2(random.Random(20240918), text, v1)
    out = {}
    for name, layers, created in (("v1", v1, "2024-09-17T00:00:00Z"), ("v2", v2, "2024-09-18T00:00:00Z")):
        paths = [base]
        for i, files in enumerate(layers):
            p = os.path.join(d, f"{name}-layer{i + 1}.tar")
            tar_layer(app_entries(files), p)
            paths.append(p)
        arch = os.path.join(d, f"{name}.tar")
        image_id, diff_ids = write_archive(arch, paths, f"app:{name}", created)
        out[name] = {"archive": arch, "layers": paths, "id": image_id, "diff_ids": diff_ids,
                     "files": sum(len(f) for f in layers),
                     "bytes": sum(os.path.getsize(p) for p in paths)}
    bins = sum(len(f[1]) for fs in v1 for f in fs if f[3] == "bin")
    txts = sum(len(f[1]) for fs in v1 for f in fs if f[3] == "txt")
    out["changes"] = changes
    out["v1_random_bytes"], out["v1_text_bytes"] = bins, txts
    out["generate_s"] = round(time.perf_counter() - t0, 2)
    return out


# ---------- processes and /proc ----------

def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_hwm(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5\n")
        return True
    except OSError:
        return False


class Sampler(threading.Thread):
    """VmRSS of one process every `period` seconds: the peak."""

    def __init__(self, pid, period=0.01):
        super().__init__(daemon=True)
        self.pid, self.period, self.stopped = pid, period, threading.Event()
        self.peak, self.samples = 0, 0

    def run(self):
        while not self.stopped.is_set():
            self.peak = max(self.peak, status_kib(self.pid, "VmRSS"))
            self.samples += 1
            self.stopped.wait(self.period)

    def finish(self):
        self.stopped.set()
        self.join()
        return self.peak


def stop(p, timeout=60):
    if p is not None and p.poll() is None:
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


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


class Daemon:
    def __init__(self, links, name, started):
        self.dir = tempfile.mkdtemp(prefix=f"bench-delta-{name}-", dir=WORK_DIR)
        self.cli_bin = os.path.join(links, "balena-engine")
        self.sock = os.path.join(self.dir, "s.sock")
        with open(os.path.join(self.dir, "daemon.json"), "w") as f:
            f.write("{}")
        self.logpath = os.path.join(self.dir, "daemon.log")
        argv = [os.path.join(links, "balena-engine-daemon"), "-H", f"unix://{self.sock}",
                "--data-root", f"{self.dir}/root", "--exec-root", f"{self.dir}/exec",
                "--pidfile", f"{self.dir}/pid", "--config-file", f"{self.dir}/daemon.json"]
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=open(self.logpath, "w"),
                                  stderr=subprocess.STDOUT)
        started.append(self)
        t0 = time.time()
        while time.time() - t0 < 60:
            if self.p.poll() is not None:
                raise SystemExit(f"daemon exited: {self.log_tail()}")
            if os.path.exists(self.sock) and ping(self.sock):
                return
            time.sleep(0.01)
        raise SystemExit(f"daemon not ready: {self.log_tail()}")

    def log_tail(self):
        try:
            return open(self.logpath).read()[-3000:]
        except OSError:
            return ""

    def cli(self, *args, check=True, t0=None):
        """Runs our CLI. With t0, stdout lines are read as they come and
        returned with their arrival time since t0 in `.stamps`."""
        argv = [self.cli_bin, "-H", f"unix://{self.sock}", *args]
        if t0 is None:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        else:
            with tempfile.TemporaryFile() as err:
                p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=err, text=True)
                stamps = [(time.perf_counter() - t0, line.rstrip("\n")) for line in p.stdout]
                p.wait()
                err.seek(0)
                r = subprocess.CompletedProcess(argv, p.returncode, "\n".join(l for _, l in stamps),
                                                err.read().decode(errors="replace"))
                r.stamps = stamps
        if check and r.returncode != 0:
            raise SystemExit(f"`balena-engine {' '.join(args)}` failed ({r.returncode}):\n"
                             f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}\ndaemon log:\n{self.log_tail()}")
        return r

    def timed(self, *args):
        """Runs a CLI command with the daemon's VmRSS sampled (10 ms) and
        its VmHWM reset just before; output lines time-stamped."""
        subprocess.run(["sync"], check=True)
        before = status_kib(self.p.pid, "VmRSS")
        hwm_ok = reset_hwm(self.p.pid)
        s = Sampler(self.p.pid)
        s.start()
        t0 = time.perf_counter()
        r = self.cli(*args, t0=t0)
        wall = time.perf_counter() - t0
        peak = s.finish()
        return r, {"wall_s": round(wall, 3), "rss_before_kib": before, "peak_rss_kib": peak,
                   "vm_hwm_kib": status_kib(self.p.pid, "VmHWM") if hwm_ok else None,
                   "samples": s.samples}

    def image_id(self, ref):
        return self.cli("image", "inspect", "-f", "{{.Id}}", ref).stdout.strip()

    def warnings(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return [l.rstrip()[:300] for l in f if re.search(r"WARN|ERROR|panick", l)][-20:]
        except OSError:
            return []

    def close(self):
        stop(self.p)
        unmount_under(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------- rdiff / zstd ----------

def run_measured(argv):
    """(wall seconds, peak RSS KiB) of one command, via /usr/bin/time -v
    when present, else by sampling its VmRSS every 10 ms."""
    gtime = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
    if gtime:
        tf = tempfile.NamedTemporaryFile(prefix="bench-delta-time-", delete=False)
        tf.close()
        t0 = time.perf_counter()
        r = subprocess.run([gtime, "-f", "%M", "-o", tf.name, *argv], capture_output=True)
        wall = time.perf_counter() - t0
        with open(tf.name) as f:
            rss = int(f.read().strip().splitlines()[-1])
        os.unlink(tf.name)
    else:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        s = Sampler(p.pid)
        s.start()
        out, err = p.communicate()
        wall = time.perf_counter() - t0
        rss = s.finish()
        r = subprocess.CompletedProcess(argv, p.returncode, out, err)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {r.stderr.decode(errors='replace')[-2000:]}")
    return wall, rss


def differing(v1, v2):
    """Indices of v2 layers whose chain differs from v1's (the engine's rule)."""
    out, same = [], True
    for i, d in enumerate(v2["diff_ids"]):
        same = same and i < len(v1["diff_ids"]) and v1["diff_ids"][i] == d
        if not same:
            out.append(i)
    return out


def tools(d, imgs, diff_idx):
    basis = os.path.join(d, "basis.stream")
    with open(basis, "wb") as out:
        for p in imgs["v1"]["layers"]:
            with open(p, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
    blen = os.path.getsize(basis)
    res = {"basis_bytes": blen, "peak_rss_source": "/usr/bin/time -v" if os.access("/usr/bin/time", os.X_OK) else "10 ms VmRSS samples"}
    subprocess.run(["sync"], check=True)

    sig = os.path.join(d, "basis.sig")
    t_sig, rss_sig = run_measured(["rdiff", "-f", "-H", "blake2", "-R", "rollsum", "-b", "512", "-S", "32",
                                   "signature", basis, sig])
    rd = {"signature_s": round(t_sig, 3), "signature_bytes": os.path.getsize(sig),
          "signature_peak_rss_kib": rss_sig, "layers": {}}
    t_tot, rss_max, size = t_sig, rss_sig, 0
    for i in diff_idx:
        out = os.path.join(d, f"rdiff-{i}.delta")
        t, rss = run_measured(["rdiff", "-f", "delta", sig, imgs["v2"]["layers"][i], out])
        n = os.path.getsize(out)
        rd["layers"][i] = {"bytes": n, "s": round(t, 3), "peak_rss_kib": rss}
        t_tot += t
        rss_max = max(rss_max, rss)
        size += n
    rd.update({"bytes": size, "total_s": round(t_tot, 3), "peak_rss_kib": rss_max})
    # rdiff patch (apply) for reference
    t_patch = 0.0
    for i in diff_idx:
        out = os.path.join(d, "patched")
        t, _ = run_measured(["rdiff", "-f", "patch", basis, os.path.join(d, f"rdiff-{i}.delta"), out])
        t_patch += t
        if sha_file(out) != imgs["v2"]["diff_ids"][i]:
            raise SystemExit(f"rdiff patch of layer {i} does not rebuild it")
        os.unlink(out)
    rd["patch_s"] = round(t_patch, 3)
    res["rdiff"] = rd

    # zstd: the window must cover the basis (--patch-from uses it as a dictionary)
    # (zstd's own rule: highbit(max(dictionary, source)) + 1, at least 27)
    biggest = max([blen] + [os.path.getsize(imgs["v2"]["layers"][i]) for i in diff_idx])
    wlog = max(27, min(31, biggest.bit_length()))
    zs = {"level": 19, "long": wlog, "layers": {}}
    t_tot, rss_max, size = 0.0, 0, 0
    for i in diff_idx:
        out = os.path.join(d, f"zstd-{i}.zst")
        t, rss = run_measured(["zstd", "-q", "-f", "-19", f"--long={wlog}", f"--patch-from={basis}",
                               imgs["v2"]["layers"][i], "-o", out])
        n = os.path.getsize(out)
        zs["layers"][i] = {"bytes": n, "s": round(t, 3), "peak_rss_kib": rss}
        t_tot += t
        rss_max = max(rss_max, rss)
        size += n
    zs.update({"bytes": size, "total_s": round(t_tot, 3), "peak_rss_kib": rss_max})
    t_dec, rss_dec = 0.0, 0
    for i in diff_idx:
        out = os.path.join(d, "unz")
        t, rss = run_measured(["zstd", "-q", "-f", "-d", f"--long={wlog}", f"--patch-from={basis}",
                               os.path.join(d, f"zstd-{i}.zst"), "-o", out])
        t_dec += t
        rss_dec = max(rss_dec, rss)
        if sha_file(out) != imgs["v2"]["diff_ids"][i]:
            raise SystemExit(f"zstd -d --patch-from of layer {i} does not rebuild it")
        os.unlink(out)
    zs["decompress_s"], zs["decompress_peak_rss_kib"] = round(t_dec, 3), rss_dec
    res["zstd"] = zs
    return basis, sig, res


# ---------- our delta's archive ----------

def delta_sizes(archive, d, basis, imgs, diff_idx):
    """From `save` of the delta image: layer tar sizes, gzip -6 sizes, raw
    `delta` file sizes; each raw delta is checked with `rdiff patch`."""
    res = {"layers": []}
    with tarfile.open(archive) as t:
        man = json.load(t.extractfile("manifest.json"))[0]
        for i, name in enumerate(man["Layers"]):
            data = t.extractfile(name).read()
            gz = gzip.compress(data, compresslevel=6, mtime=0)
            with tarfile.open(fileobj=io.BytesIO(data)) as inner:
                members = inner.getmembers()
                raw = None
                if len(members) == 1 and members[0].name == "delta":
                    raw = inner.extractfile(members[0]).read()
            ent = {"tar_bytes": len(data), "gzip_bytes": len(gz),
                   "delta_bytes": len(raw) if raw is not None else 0}
            if raw is not None:
                dp = os.path.join(d, "ours.delta")
                with open(dp, "wb") as f:
                    f.write(raw)
                out = os.path.join(d, "ours.patched")
                r = subprocess.run(["rdiff", "-f", "patch", basis, dp, out], capture_output=True)
                ent["rdiff_patch_ok"] = r.returncode == 0 and i < len(imgs["v2"]["diff_ids"]) \
                    and sha_file(out) == imgs["v2"]["diff_ids"][i]
                for p in (dp, out):
                    if os.path.exists(p):
                        os.unlink(p)
            res["layers"].append(ent)
    for k in ("tar_bytes", "gzip_bytes", "delta_bytes"):
        res[k] = sum(l[k] for l in res["layers"])
    res["rdiff_patch_ok"] = all(l.get("rdiff_patch_ok", True) for l in res["layers"])
    return res


# ---------- registry ----------

def start_registry(d, started):
    reg = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not os.path.exists(reg):
        raise SystemExit("docker-registry is not installed (apt-get install docker-registry)")
    port = free_port()
    cfg = os.path.join(d, "registry.yml")
    with open(cfg, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\n"
                f"storage:\n  filesystem:\n    rootdirectory: {d}/data\n"
                f"http:\n  addr: 127.0.0.1:{port}\n  secret: bench\n")
    logpath = os.path.join(d, "registry.log")
    p = subprocess.Popen([reg, "serve", cfg], stdin=subprocess.DEVNULL,
                         stdout=open(logpath, "w"), stderr=subprocess.STDOUT)
    started.append(p)
    t0 = time.time()
    while time.time() - t0 < 15:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p, port, logpath
        except OSError:
            time.sleep(0.05)
    raise SystemExit("docker-registry did not start")


ACCESS = re.compile(r'"(GET|HEAD) (/v2/\S+) HTTP/[\d.]+" (\d{3}) (\d+|-)')


def served_bytes(logpath, offset):
    """Bytes the registry sent in GET answers after `offset` in its access log."""
    total, blobs = 0, 0
    with open(logpath, errors="replace") as f:
        f.seek(offset)
        for line in f:
            m = ACCESS.search(line)
            if m and m.group(1) == "GET" and m.group(4) != "-":
                total += int(m.group(4))
                blobs += "/blobs/" in m.group(2)
    return total, blobs


def manifest(port, repo, tag):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", f"/v2/{repo}/manifests/{tag}",
              headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        raise SystemExit(f"manifest {repo}:{tag}: {r.status}")
    return json.loads(body)


def manifest_digest(port, repo, tag):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("HEAD", f"/v2/{repo}/manifests/{tag}",
              headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    r = c.getresponse()
    r.read()
    return r.getheader("Docker-Content-Digest")


# ---------- main ----------

def median_of(runs):
    """Per numeric key, the median over runs (the others from the last run)."""
    out = {}
    for k, v in runs[-1].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            vals = [r[k] for r in runs if isinstance(r.get(k), (int, float))]
            out[k] = statistics.median(vals)
        elif not isinstance(v, (list, dict)):
            out[k] = v
    return out


def main():
    links = sys.argv[1]
    root = os.geteuid() == 0
    d = tempfile.mkdtemp(prefix="bench-delta-files-", dir=WORK_DIR)
    reg_dir = tempfile.mkdtemp(prefix="bench-delta-registry-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    started = []
    res = {"work_dir": WORK_DIR, "root": root, "cpus": os.cpu_count(), "runs": RUNS,
           "loadavg_at_start": open("/proc/loadavg").read().split()[:3]}
    try:
        log("generating images ...")
        imgs = build_images(d)
        diff_idx = differing(imgs["v1"], imgs["v2"])
        res["images"] = {k: ({kk: vv for kk, vv in v.items() if kk not in ("archive", "layers")}
                             | {"layer_bytes": [os.path.getsize(p) for p in v["layers"]]})
                         if k in ("v1", "v2") else v for k, v in imgs.items()}
        res["images"]["differing_layers"] = diff_idx
        log(f"v1 {imgs['v1']['bytes'] / MiB:.1f} MiB, {imgs['v1']['files']} files; "
            f"{imgs['changes']['changed_files']} changed; took {imgs['generate_s']} s")

        # --- create ---
        creates = []
        a = None
        for k in range(RUNS):
            if a is not None:
                a.close()
                started.remove(a)
            a = Daemon(links, f"a{k}", started)
            t0 = time.perf_counter()
            a.cli("load", "-i", imgs["v1"]["archive"])
            a.cli("load", "-i", imgs["v2"]["archive"])
            load_s = round(time.perf_counter() - t0, 2)
            v2_id = a.image_id("app:v2")
            if v2_id != imgs["v2"]["id"]:
                raise SystemExit(f"loaded v2 id {v2_id} != generated {imgs['v2']['id']}")
            log(f"image delta, first and second (run {k + 1}/{RUNS}) ...")
            one = {"load_both_s": load_s}
            for which, tag in (("first", "app:delta"), ("second", "app:delta2")):
                r, m = a.timed("image", "delta", "-t", tag, "app:v1", "app:v2")
                m["output"] = [l for l in r.stdout.splitlines()
                               if re.search(r"Fingerprint complete|Normal size|Created delta", l)]
                fp = re.search(r"Fingerprint complete, took ([\d.]+)(ms|s|µs)", r.stdout)
                if fp:
                    m["fingerprint_s"] = float(fp.group(1)) / {"s": 1, "ms": 1e3, "µs": 1e6}[fp.group(2)]
                # when each phase's last line reached the CLI (since the request)
                for key, pat in (("fingerprint_done_s", "Fingerprint complete"),
                                 ("deltas_done_s", "Delta complete"),
                                 ("created_s", "Created delta")):
                    ts = [t for t, l in r.stamps if pat in l]
                    if ts:
                        m[key] = round(ts[-1], 3)
                one[which] = m
            one["rss_after_kib"] = status_kib(a.p.pid, "VmRSS")
            creates.append(one)
        res["create"] = {"runs": creates,
                         "first": median_of([c["first"] for c in creates]),
                         "second": median_of([c["second"] for c in creates])}
        saved = os.path.join(d, "delta-saved.tar")
        a.cli("save", "-o", saved, "app:delta")

        log("rdiff and zstd ...")
        basis, sig, tres = tools(d, imgs, diff_idx)
        res.update(tres)
        res["delta"] = delta_sizes(saved, d, basis, imgs, diff_idx)
        os.unlink(saved)

        # --- apply ---
        log("registry, push ...")
        reg, port, reglog = start_registry(reg_dir, started)
        host = f"127.0.0.1:{port}"
        for tag, src in (("delta", "app:delta"), ("v2", "app:v2")):
            a.cli("tag", src, f"{host}/bench/app:{tag}")
            t0 = time.perf_counter()
            a.cli("push", f"{host}/bench/app:{tag}")
            res.setdefault("push_s", {})[tag] = round(time.perf_counter() - t0, 2)
        res["daemon_warnings"] = a.warnings()
        a.close()
        started.remove(a)

        mans = {t: manifest(port, "bench/app", t) for t in ("delta", "v2")}
        common = len(imgs["v2"]["diff_ids"]) - len(diff_idx)
        res["apply"] = {}
        for kind, tag in (("delta_pull", "delta"), ("plain_pull", "v2")):
            b = Daemon(links, kind, started)
            b.cli("load", "-i", imgs["v1"]["archive"])
            ref = f"{host}/bench/app:{tag}"
            out = {}
            for mode in (["warm", "cold"] if root else ["warm"]):
                runs = []
                for k in range(RUNS):
                    log(f"{kind}, {mode} caches ({k + 1}/{RUNS}) ...")
                    if runs or mode == "cold":
                        b.cli("rmi", ref)
                    if mode == "cold":
                        drop_caches()
                    off = os.path.getsize(reglog)
                    _, m = b.timed("pull", ref)
                    time.sleep(0.2)  # the access log line is written after the answer
                    m["served_bytes"], m["served_blob_gets"] = served_bytes(reglog, off)
                    m["image_id"] = b.image_id(ref)
                    m["image_id_is_v2"] = m["image_id"] == v2_id
                    m["repo_digests"] = json.loads(b.cli("image", "inspect", "-f", "{{json .RepoDigests}}",
                                                         ref).stdout or "null")
                    runs.append(m)
                out[mode] = median_of(runs) | {
                    "image_id_is_v2": all(r["image_id_is_v2"] for r in runs),
                    "image_id": runs[-1]["image_id"], "repo_digests": runs[-1]["repo_digests"]}
                out[mode + "_runs"] = runs
            layers = mans[tag]["layers"]
            out["manifest_digest"] = manifest_digest(port, "bench/app", tag)
            out["manifest_layer_bytes"] = sum(l["size"] for l in layers)
            out["missing_layer_bytes"] = sum(l["size"] for l in layers[common:])
            out["config_bytes"] = mans[tag]["config"]["size"]
            out["daemon_warnings"] = b.warnings()
            res["apply"][kind] = out
            b.close()
            started.remove(b)
        stop(reg)
        started.remove(reg)
        print(json.dumps(res, indent=2))
    finally:
        for x in reversed(started):
            if isinstance(x, Daemon):
                x.close()
            else:
                stop(x)
        shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(reg_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
