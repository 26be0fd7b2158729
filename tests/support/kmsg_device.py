"""A stand-in for /dev/kmsg with the device's read semantics, for the storm benchmark.

/dev/kmsg hands its reader exactly one record per read(2), and poll/select report it readable as soon
as the kernel stored a record (kernel/printk/printk.c, ``devkmsg_read``/``devkmsg_poll``). A FIFO or a
plain file returns all that is waiting in one read, so a benchmark on one hides what the device costs
the reader per record: a read and a wake-up for every few lines of a storm. A ``SOCK_SEQPACKET`` unix
socket keeps message boundaries the same way: each read returns one message, EAGAIN once none waits,
and select works on it.

The benchmark binds :class:`KmsgSocket` at the fake host's ``dev/kmsg`` and sends one record per
message; the daemon is started through this module (``python tests/support/kmsg_device.py <agent
arguments>``), which makes ``KmsgReader`` connect to a socket found at its path and treat it as the
device. Any other path is opened as before. Works with the code of an older checkout too (its
``KmsgReader`` keeps the same ``fd``/``is_device`` attributes).
"""

from __future__ import annotations

import os
import runpy
import socket
import stat
import sys

__all__ = ["KmsgSocket", "patch_reader"]

SNDBUF = 4 << 20  # the kernel's ring buffer stand-in (capped by net.core.wmem_max unless forced)
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)


class KmsgSocket:
    """The writer's end: records go out one message each, in order; a full buffer blocks the writer."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.server.bind(self.path)
        self.server.listen(1)
        self.conn: socket.socket | None = None

    def accept(self, timeout: float) -> None:
        self.server.settimeout(timeout)
        conn, _ = self.server.accept()
        conn.settimeout(None)
        for opt in (SO_SNDBUFFORCE, socket.SO_SNDBUF):  # root may exceed wmem_max
            try:
                conn.setsockopt(socket.SOL_SOCKET, opt, SNDBUF)
                break
            except OSError:
                continue
        self.conn = conn

    def send(self, records: list[bytes]) -> None:
        assert self.conn is not None
        send = self.conn.send
        for rec in records:
            send(rec)

    def close(self) -> None:
        for s in (self.conn, self.server):
            if s is not None:
                s.close()


def patch_reader(setattr=setattr) -> None:  # noqa: A002 - pytest's monkeypatch.setattr undoes it after a test
    """Make ``KmsgReader`` connect to a unix socket found at its path (one record per read, as the device)."""
    from agent.collectors import kmsg_reader  # noqa: PLC0415 - the agent package on the path (or HWAGENT_BENCH_SRC)

    original = kmsg_reader.KmsgReader.__init__

    def __init__(self, path: str) -> None:
        try:
            is_socket = stat.S_ISSOCK(os.stat(path).st_mode)
        except OSError:
            is_socket = False
        if not is_socket:
            original(self, path)
            return
        original(self, os.devnull)  # a character device: the reader reads it as it reads /dev/kmsg
        os.close(self.fd)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.connect(path)
        sock.setblocking(False)
        self.fd = sock.detach()
        self.path = path

    setattr(kmsg_reader.KmsgReader, "__init__", __init__)


if __name__ == "__main__":
    patch_reader()
    sys.argv = ["agent", *sys.argv[1:]]
    runpy.run_module("agent", run_name="__main__", alter_sys=True)
