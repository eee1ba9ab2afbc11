"""uvicorn's HTTP protocol with read deadlines, so idle and slow clients cannot hold connections forever.

uvicorn 0.54 closes a kept-alive connection that stays idle after a response (`timeout_keep_alive`), but a
connection that never sends a byte, or sends half its headers (slowloris), or stops in the middle of a body,
stays open for good: nothing in uvicorn times a request while it is being read. This subclass of its
httptools protocol (pinned with uvicorn in pyproject.toml; it uses the protocol's parser callbacks) arms one
timer per connection:
- from the connection's start, and from each request's first byte, until its headers are complete
  (`GRIDGOV_HEADER_TIMEOUT_SECONDS`);
- then for each silence while its body arrives (`GRIDGOV_BODY_TIMEOUT_SECONDS`): a large upload on a slow but
  steady link goes on; a client that stops sending does not. While the app itself is not reading (uvicorn
  pauses the socket when its buffer is full) the clock does not run.
A client that misses a deadline gets `408 Request Timeout` (unless an answer has begun) and the connection is
closed. `limit_concurrency` is left unset: it answers 503 to everyone once reached, and these deadlines
already bound how long a slow client holds a connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                    b"content-length: 42\r\nconnection: close\r\n\r\nthe request was not received in time; retry")


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with a header deadline and a body silence limit (seconds, class-wide)."""

    header_timeout: float | None = None  # None: read from the settings (GRIDGOV_*) on the first connection
    body_timeout: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        cls = type(self)
        if cls.header_timeout is None or cls.body_timeout is None:
            from config import get_settings

            settings = get_settings()
            cls.configure(settings.header_timeout_seconds, settings.body_timeout_seconds)

    @classmethod
    def configure(cls, header_timeout: float, body_timeout: float) -> None:
        cls.header_timeout, cls.body_timeout = header_timeout, body_timeout

    def _arm(self, seconds: float | None) -> None:
        self._disarm()
        if seconds is not None:
            self._deadline = self.loop.call_later(seconds, self._expired, seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, seconds: float) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.flow is not None and self.flow.read_paused:
            self._arm(seconds)  # the app is behind, not the client
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started or cycle.response_complete:
            self.transport.write(TIMEOUT_RESPONSE)
        if cycle is not None:
            cycle.keep_alive = False
        self.transport.close()

    # Connection and parser callbacks
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm(self.body_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()
