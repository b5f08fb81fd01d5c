#!/usr/bin/env python3
"""The engine's floor: the raw Docker API calls a piece of work needs, issued directly.

    scripts/engine-floor.py cold NAME N [PARALLEL]   network NAME_default, then N containers
                                                     NAME-sI (busybox:1.36, sleep) created and
                                                     started, PARALLEL at a time (default 8);
                                                     then removes all it made (not timed)
    scripts/engine-floor.py noop LABEL               one list of the containers with LABEL

Prints the milliseconds the calls took (two decimals), measured inside the process (the interpreter's own
start is not counted, so the floor is never made slower than it is). The benchmark
(scripts/bench.sh) prints aegis's and Compose v2's times against it. Talks to
/var/run/docker.sock (or DOCKER_HOST=unix://...) over HTTP/1.1, one connection a worker.
"""
import http.client
import json
import os
import socket
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def socket_path():
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        sys.exit("engine-floor: DOCKER_HOST must be a unix socket")
    return host[len("unix://"):]


def call(conn, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    if resp.status >= 300:
        sys.exit(f"engine-floor: {method} {path}: {resp.status} {payload.decode(errors='replace')}")
    return json.loads(payload) if payload else None


def cold(name, n, parallel):
    path = socket_path()
    net = f"{name}_default"
    conns = [UnixConnection(path) for _ in range(parallel)]

    def one(i):
        conn = conns[i % parallel]
        cname = f"{name}-s{i:02d}"
        body = {
            "Image": "busybox:1.36",
            "Cmd": ["sleep", "86400"],
            "StopSignal": "SIGKILL",
            "HostConfig": {"NetworkMode": net},
        }
        cid = call(conn, "POST", f"/containers/create?name={cname}", body)["Id"]
        call(conn, "POST", f"/containers/{cid}/start")
        return cid

    start = time.monotonic()
    main = UnixConnection(path)
    call(main, "GET", "/containers/json?all=1&filters=" + urllib.parse.quote(json.dumps({"name": [name]})))
    call(main, "POST", "/networks/create", {"Name": net, "CheckDuplicate": True})
    # Worker i uses connection i: partition the work so no connection is shared.
    with ThreadPoolExecutor(parallel) as pool:
        ids = [cid for part in pool.map(lambda w: [one(i) for i in range(1, n + 1) if i % parallel == w], range(parallel)) for cid in part]
    took = time.monotonic() - start
    for cid in ids:
        call(main, "DELETE", f"/containers/{cid}?force=true")
    call(main, "DELETE", f"/networks/{net}")
    return took


def noop(label):
    conn = UnixConnection(socket_path())
    start = time.monotonic()
    call(conn, "GET", "/containers/json?all=1&filters=" + urllib.parse.quote(json.dumps({"label": [label]})))
    return time.monotonic() - start


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "cold":
        took = cold(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 8)
    elif len(sys.argv) == 3 and sys.argv[1] == "noop":
        took = noop(sys.argv[2])
    else:
        sys.exit(__doc__)
    print(f"{took * 1000:.2f}")


if __name__ == "__main__":
    main()
