"""docker-py against our daemon. Usage: docker_py.py SOCKET REGISTRY IMAGE_ID

Pulls REGISTRY/compat/py:1 (pushed by the Rust test), lists, inspects,
tags and removes it, and checks version/info — the calls the balena
supervisor's peers and users' scripts make. Exits non-zero on a mismatch.
"""
import sys

import docker

sock, registry, image_id = sys.argv[1], sys.argv[2], sys.argv[3]
c = docker.DockerClient(base_url="unix://" + sock, version="auto")

v = c.version()
assert v["ApiVersion"] == "1.41", v
assert v.get("Engine") == "balena-engine", v
assert c.info()["Driver"] == "overlay2"
assert c.ping() is True

name = f"{registry}/compat/py"
img = c.images.pull(name, tag="1")
assert img.id == image_id, (img.id, image_id)
assert f"{name}:1" in img.tags, img.tags
assert any(i.id == image_id for i in c.images.list())
assert c.images.get(f"{name}:1").attrs["RootFS"]["Layers"]
img.tag("py-local", "x")
assert "py-local:x" in c.images.get(image_id).tags
c.images.remove("py-local:x")
try:
    c.images.get("does-not-exist")
    raise SystemExit("expected ImageNotFound")
except docker.errors.ImageNotFound:
    pass
c.images.remove(f"{name}:1")
assert not c.images.list()
print("docker-py ok")
