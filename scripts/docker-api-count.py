#!/usr/bin/env python3
"""Counts Docker Engine API calls: a unix-socket proxy in front of the engine's socket.

    scripts/docker-api-count.py LISTEN_SOCKET LOG_FILE [ENGINE_SOCKET]

Point a client at it with DOCKER_HOST=unix://LISTEN_SOCKET. Every request it forwards is
appended to LOG_FILE as one line, `METHOD PATH` (the query string dropped, the API version
prefix too), so `wc -l` between two moments is the number of calls made in between, and
`sort | uniq -c` says which. Requests are parsed only far enough to find where each one
ends (Content-Length or chunked body) on a kept-alive connection; responses are passed
through untouched. A connection upgraded by the engine (attach, exec start) is piped raw
from then on. Stops on SIGTERM/SIGINT. The benchmark (scripts/bench.sh) uses it to count
the calls of both aegis and Docker Compose v2 the same way.
"""
import asyncio
import os
import re
import signal
import sys

VERSION_PREFIX = re.compile(r"^/v[0-9.]+")


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass


async def forward_requests(creader, ewriter, log):
    """Client → engine: one request at a time, logged, forwarded as read."""
    try:
        while True:
            head = await creader.readuntil(b"\r\n\r\n")
            ewriter.write(head)
            lines = head.decode("latin-1").split("\r\n")
            method, target = (lines[0].split(" ") + ["", ""])[:2]
            path = VERSION_PREFIX.sub("", target.split("?", 1)[0])
            log.write(f"{method} {path}\n")
            log.flush()
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip().lower()
            if "chunked" in headers.get("transfer-encoding", ""):
                while True:
                    size_line = await creader.readuntil(b"\r\n")
                    ewriter.write(size_line)
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                    chunk = await creader.readexactly(size + 2)
                    ewriter.write(chunk)
                    if size == 0:
                        break
            else:
                remaining = int(headers.get("content-length", "0") or "0")
                while remaining > 0:
                    data = await creader.read(min(remaining, 65536))
                    if not data:
                        return
                    ewriter.write(data)
                    remaining -= len(data)
            await ewriter.drain()
            if headers.get("upgrade") or "upgrade" in headers.get("connection", ""):
                # Hijacked stream (attach/exec): no more HTTP framing on this connection.
                await pipe(creader, ewriter)
                return
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            ewriter.write_eof()
        except (OSError, RuntimeError):
            pass


async def main(listen, log_path, engine):
    log = open(log_path, "a", buffering=1)

    async def handle(creader, cwriter):
        ereader, ewriter = await asyncio.open_unix_connection(engine)
        await asyncio.gather(forward_requests(creader, ewriter, log), pipe(ereader, cwriter))
        cwriter.close()
        ewriter.close()

    if os.path.exists(listen):
        os.unlink(listen)
    server = await asyncio.start_unix_server(handle, path=listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    os.unlink(listen)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    engine_socket = sys.argv[3] if len(sys.argv) == 4 else "/var/run/docker.sock"
    asyncio.run(main(sys.argv[1], sys.argv[2], engine_socket))
