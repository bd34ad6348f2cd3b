"""docker-py containers against our daemon. Usage: docker_py_containers.py SOCKET IMAGE

run (attached and detached), logs, exec_run, wait, stop, kill, remove, and
the error classes docker-py maps from our status codes. Exits non-zero on
a mismatch.
"""
import sys

import docker

sock, image = sys.argv[1], sys.argv[2]
c = docker.DockerClient(base_url="unix://" + sock, version="auto")

# Attached run returns the output; a failing one raises ContainerError.
out = c.containers.run(image, ["sh", "-c", "echo hello"], remove=True)
assert out == b"hello\n", out
try:
    c.containers.run(image, ["sh", "-c", "exit 3"], remove=True)
    raise SystemExit("expected ContainerError")
except docker.errors.ContainerError as e:
    assert e.exit_status == 3, e.exit_status

ctr = c.containers.run(
    image,
    ["sh", "-c", "echo started; trap 'exit 0' TERM; while :; do sleep 0.1; done"],
    detach=True,
    name="py-svc",
    environment={"A": "1"},
    labels={"app": "py"},
    mem_limit="64m",
)
ctr.reload()
assert ctr.status == "running", ctr.status
assert ctr.attrs["HostConfig"]["Memory"] == 64 << 20
assert c.containers.list(filters={"label": "app=py"})[0].id == ctr.id
code, output = ctr.exec_run(["sh", "-c", "echo $A; exit 2"])
assert (code, output) == (2, b"1\n"), (code, output)
for _ in range(50):
    if b"started" in ctr.logs():
        break
    import time
    time.sleep(0.1)
assert ctr.logs() == b"started\n", ctr.logs()
ctr.stop(timeout=5)
assert ctr.wait()["StatusCode"] == 0
ctr.reload()
assert ctr.status == "exited", ctr.status
ctr.remove()
try:
    c.containers.get("py-svc")
    raise SystemExit("expected NotFound")
except docker.errors.NotFound:
    pass
try:
    c.containers.create("no-such-image:1")
    raise SystemExit("expected ImageNotFound")
except docker.errors.ImageNotFound:
    pass
assert c.containers.list(all=True) == []
print("docker-py containers ok")
