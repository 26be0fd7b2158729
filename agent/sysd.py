"""The daemon's contact with its service manager and the C library: sd_notify, the watchdog
interval, glibc malloc tuning. (No systemd library: the notify protocol is one datagram.)"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("hwagent.daemon")


def sd_notify(message: str) -> bool:
    """Send a message to systemd's notify socket; False when not under systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(addr)
            sock.sendall(message.encode())
        return True
    except OSError as exc:
        log.debug("sd_notify failed: %s", exc)
        return False


def _malloc_trim():
    """glibc's malloc_trim(0): hand freed heap pages back to the kernel (start-up garbage from
    imports and the first cycle would otherwise stay resident). No-op where unavailable."""
    try:
        import ctypes  # noqa: PLC0415

        fn = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    return lambda: fn(0)


M_ARENA_MAX = -8  # glibc mallopt parameter


def limit_malloc_arenas(n: int = 2) -> bool:
    """glibc mallopt(M_ARENA_MAX, n), as hwagent.service's MALLOC_ARENA_MAX=2 does, so `agent run`
    started any other way does not grow one malloc arena per collector thread (several MB of RSS
    each). Call before threads start; an explicit MALLOC_ARENA_MAX in the environment wins."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        import ctypes  # noqa: PLC0415

        return bool(ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, n))
    except (OSError, AttributeError):
        return False


def watchdog_interval() -> float | None:
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1e6 / 2
    except ValueError:
        return None
