"""Hostile HTTP clients for the load benchmarks, run as a separate process (loopback only).

    python -m tests.bench.hostile_clients hold PORT IDLE SLOW SECONDS [--tls]
        IDLE connections that send nothing and SLOW slowloris connections that send a header
        byte every 2 s, spread over 40 loopback source addresses (127.0.2.1-40); a connection the
        server closes is opened again. Prints "ready" once all are open.
    python -m tests.bench.hostile_clients badauth PORT N SECONDS [--tls]
        N clients scraping /metrics with a wrong password as fast as the server answers
        (--fresh: a different wrong password every request).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import ssl
import sys
import time

_SEQ = itertools.count()
SOURCES = [f"127.0.2.{i}" for i in range(1, 41)]


def _ctx(tls: bool):
    if not tls:
        return None
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _hold(port: int, i: int, slow: bool, until: float, tls, opened: list) -> None:
    counted = False
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls,
                                                          local_addr=(SOURCES[i % len(SOURCES)], 0))
        except OSError:
            await asyncio.sleep(0.5)
            continue
        if not counted:
            opened.append(1)
            counted = True
        try:
            if slow:
                writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                while time.monotonic() < until and not reader.at_eof():
                    writer.write(b"X")
                    await writer.drain()
                    try:
                        if await asyncio.wait_for(reader.read(1024), 2.0) == b"":
                            break
                    except asyncio.TimeoutError:
                        pass
            else:
                try:
                    await asyncio.wait_for(reader.read(1024), max(0.0, until - time.monotonic()))
                except asyncio.TimeoutError:
                    pass
        except OSError:
            pass
        finally:
            writer.close()


async def _badauth(port: int, until: float, tls, counts: list, fresh: bool) -> None:
    hdr = "Basic " + base64.b64encode(b"prom:wrong-password").decode()
    while time.monotonic() < until:
        if fresh:  # a new wrong password each time: no cache can help, only serialising bcrypt
            hdr = "Basic " + base64.b64encode(b"prom:wrong-%d" % next(_SEQ)).decode()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
            writer.write(f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: {hdr}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            await reader.read()
            writer.close()
            counts.append(1)
        except OSError:
            await asyncio.sleep(0.1)


async def main(argv: list[str]) -> None:
    mode, port = argv[0], int(argv[1])
    tls = _ctx("--tls" in argv)
    if mode == "hold":
        idle, slow, seconds = int(argv[2]), int(argv[3]), float(argv[4])
        until = time.monotonic() + seconds
        opened: list = []
        tasks = [asyncio.create_task(_hold(port, i, i >= idle, until, tls, opened)) for i in range(idle + slow)]
        while len(opened) < idle + slow and time.monotonic() < until:
            await asyncio.sleep(0.05)
        print("ready", len(opened), flush=True)
        await asyncio.gather(*tasks, return_exceptions=True)
    elif mode == "badauth":
        n, seconds = int(argv[2]), float(argv[3])
        until = time.monotonic() + seconds
        counts: list = []
        print("ready", flush=True)
        await asyncio.gather(*(_badauth(port, until, tls, counts, "--fresh" in argv) for _ in range(n)), return_exceptions=True)
        print("requests", len(counts), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
