"""docker-py against our daemon, for what keeps a device's apps running.
Usage: docker_py_keepalive.py SOCKET IMAGE

Volumes, events (since/until, decoded), a restart policy, stats, top,
update, rename, put_archive/get_archive and commit, as a supervisor or a
script would use them. Exits non-zero on a mismatch.
"""
import io
import sys
import tarfile
import time

import docker

sock, image = sys.argv[1], sys.argv[2]
c = docker.DockerClient(base_url="unix://" + sock, version="auto")
since = time.time()

# A named volume keeps data across container replacement.
vol = c.volumes.create("py-data", labels={"app": "py"})
assert vol.attrs["Mountpoint"].endswith("/volumes/py-data/_data"), vol.attrs
out = c.containers.run(
    image, ["sh", "-c", "echo kept > /data/f"], volumes={"py-data": {"bind": "/data"}}, remove=True
)
out = c.containers.run(
    image, ["cat", "/data/f"], volumes={"py-data": {"bind": "/data", "mode": "ro"}}, remove=True
)
assert out == b"kept\n", out
assert [v.name for v in c.volumes.list(filters={"label": "app=py"})] == ["py-data"]

# A crashing app under on-failure:2 is restarted twice, then stays down.
crash = c.containers.run(
    image,
    ["sh", "-c", "exit 7"],
    detach=True,
    name="py-crash",
    restart_policy={"Name": "on-failure", "MaximumRetryCount": 2},
)
for _ in range(200):
    crash.reload()
    if crash.status == "exited" and crash.attrs["RestartCount"] == 2:
        break
    time.sleep(0.05)
assert crash.attrs["RestartCount"] == 2, crash.attrs["RestartCount"]
assert crash.attrs["State"]["ExitCode"] == 7

# A running service: stats, top, update, rename, archives, commit.
svc = c.containers.run(
    image,
    ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"],
    detach=True,
    name="py-svc",
    mem_limit="64m",
)
st = svc.stats(stream=False)
assert st["memory_stats"]["limit"] == 64 << 20, st["memory_stats"]
assert st["pids_stats"]["current"] >= 1, st["pids_stats"]
assert st["cpu_stats"]["cpu_usage"]["total_usage"] > 0
top = svc.top()
assert "PID" in top["Titles"], top
assert any("sleep" in " ".join(p) or "sh" in " ".join(p) for p in top["Processes"]), top
svc.update(mem_limit="96m", memswap_limit="192m")
svc.reload()
assert svc.attrs["HostConfig"]["Memory"] == 96 << 20
svc.rename("py-renamed")
svc.reload()
assert svc.name == "py-renamed", svc.name

buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    data = b"from docker-py\n"
    info = tarfile.TarInfo("hello.txt")
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))
assert svc.put_archive("/tmp", buf.getvalue())
stream, stat = svc.get_archive("/tmp/hello.txt")
assert stat["name"] == "hello.txt" and stat["size"] == 15, stat
with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as t:
    assert t.extractfile("hello.txt").read() == b"from docker-py\n"

img = svc.commit(repository="py-committed", tag="v1", changes=["ENV FROM_COMMIT=1"])
out = c.containers.run(
    "py-committed:v1", ["sh", "-c", "cat /tmp/hello.txt; echo $FROM_COMMIT"], remove=True
)
assert out == b"from docker-py\n1\n", out
svc.stop(timeout=5)
svc.remove()
crash.remove()

# The events of all of that, replayed with since/until and decoded.
until = time.time()
evs = list(c.events(since=since, until=until, decode=True))
seen = {(e["Type"], e["Action"].split(":")[0]) for e in evs}
for want in [
    ("volume", "create"),
    ("volume", "mount"),
    ("volume", "unmount"),
    ("container", "create"),
    ("container", "start"),
    ("container", "die"),
    ("container", "update"),
    ("container", "rename"),
    ("container", "commit"),
    ("container", "destroy"),
    ("image", "tag"),
]:
    assert want in seen, (want, sorted(seen))
renames = [e for e in evs if e["Action"] == "rename"]
assert renames[0]["Actor"]["Attributes"]["oldName"] == "/py-svc", renames
starts = [
    e for e in evs
    if e["Action"] == "start" and e["Actor"]["Attributes"]["name"] == "py-crash"
]
assert len(starts) == 3, len(starts)
filtered = list(
    c.events(since=since, until=until, decode=True, filters={"type": "volume", "event": "create"})
)
assert [e["Actor"]["ID"] for e in filtered] == ["py-data"], filtered

c.volumes.get("py-data").remove()
assert c.volumes.list(filters={"label": "app=py"}) == []
print("docker-py keep-alive ok")
