"""Per-request read deadlines for the waitress server (slow-header and slow-body clients).

waitress closes a connection only after ``channel_timeout`` seconds *without any byte*; a client
that trickles its request head one byte every few seconds (slowloris) keeps its connection, and
enough of them fill ``connection_limit`` so that real customers wait in the kernel's accept queue.
This channel adds the deadlines nginx has (``client_header_timeout``, ``client_body_timeout``), per
request and not per read:

- the request head must be complete ``header_timeout`` seconds after the connection was accepted
  (first request) or after the first byte of the request arrived (later requests on a kept-alive
  connection; the wait before that byte is the idle timeout's business);
- the body must be complete ``body_timeout`` seconds after the head was.

A client past its deadline is disconnected (nothing is sent: it is not reading anyway). The check
runs in the server's poll loop, which wakes at least once a second (waitress's
``asyncore_loop_timeout``), so a deadline is enforced within about a second of passing.
"""

from __future__ import annotations

import functools
import logging
import time

from waitress.channel import HTTPChannel

log = logging.getLogger("hwstatus")


class DeadlineChannel(HTTPChannel):
    """An HTTPChannel that is closed when a request's head or body is not read in time."""

    will_close: bool  # HTTPChannel's (waitress is untyped)

    def __init__(self, server, sock, addr, adj, map=None, *, header_timeout: float, body_timeout: float):  # noqa: A002 - waitress's name
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self._timed = None           # the request object whose deadline runs
        self._phase = "head"
        self._deadline: float | None = time.monotonic() + header_timeout  # first request: from accept
        super().__init__(server, sock, addr, adj, map=map)

    def received(self, data):
        ok = super().received(data)
        self._track(time.monotonic())
        return ok

    def _track(self, now: float) -> None:
        req = self.request
        if req is None:  # nothing partial: between requests the idle timeout applies
            self._timed, self._deadline = None, None
            return
        if req is not self._timed:
            if self._timed is not None or self._deadline is None:  # a new request on a kept-alive connection
                self._deadline = now + self.header_timeout
            self._timed, self._phase = req, "head"
        if self._phase == "head" and req.headers_finished:
            self._phase, self._deadline = "body", now + self.body_timeout

    def expired(self, now: float) -> bool:
        """True when a request is being read (none being answered) and its deadline has passed."""
        return self._deadline is not None and not self.requests and now > self._deadline

    def readable(self):
        # called by the poll loop for every channel on every pass (at least once a second)
        if not self.will_close and self.expired(time.monotonic()):
            log.debug("closing connection from %s: request %s not read within %.0f s", self.addr[0] if self.addr else "?",
                      self._phase, self.header_timeout if self._phase == "head" else self.body_timeout)
            self.server.deadline_closes = getattr(self.server, "deadline_closes", 0) + 1
            self.will_close = True  # writable() now says yes; handle_write closes the socket
            return False
        return super().readable()


def install(servers, *, header_timeout: float, body_timeout: float) -> None:
    """Make the given waitress server objects accept connections as :class:`DeadlineChannel`."""
    factory = functools.partial(DeadlineChannel, header_timeout=header_timeout, body_timeout=body_timeout)
    for srv in servers:
        srv.channel_class = factory
