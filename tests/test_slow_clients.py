"""Idle and slow clients are cut off (issue 15.8): a raw socket that sends nothing, half its headers, or stops in
the middle of a body is answered 408 and disconnected within a bound, by a real `gridgov serve`."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import live_server

DEADLINE = 1.0  # seconds, for headers, for each silence in a body, and for an idle kept-alive connection


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    tmp: Path = tmp_path_factory.mktemp("slow")
    env = {"GRIDGOV_HEADER_TIMEOUT_SECONDS": str(DEADLINE), "GRIDGOV_BODY_TIMEOUT_SECONDS": str(DEADLINE),
           "GRIDGOV_KEEP_ALIVE_SECONDS": "1"}
    with live_server(f"sqlite:///{tmp / 'gridgov.sqlite'}", tmp, **env) as base:
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port)


def closed_after(address: tuple[str, int], send: bytes) -> tuple[float, bytes]:
    """Send `send`, then read until the server closes; seconds until then and what it answered."""
    with socket.create_connection(address, timeout=15) as sock:
        start = time.monotonic()
        if send:
            sock.sendall(send)
        got = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                pytest.fail(f"the server kept the connection open for 15 s after {send[:40]!r}; answered {got!r}")
            if not chunk:
                return time.monotonic() - start, got
            got += chunk


def test_a_connection_that_sends_nothing_is_closed(server: tuple[str, int]) -> None:
    took, got = closed_after(server, b"")
    assert took < DEADLINE + 2 and got.startswith(b"HTTP/1.1 408 ")


def test_half_a_request_is_answered_408_and_closed(server: tuple[str, int]) -> None:
    took, got = closed_after(server, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert took < DEADLINE + 2 and got.startswith(b"HTTP/1.1 408 "), got


def test_a_body_that_stops_arriving_is_answered_408_and_closed(server: tuple[str, int]) -> None:
    head = (b"POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{\"username\": ")
    took, got = closed_after(server, head)
    assert took < DEADLINE + 2 and got.startswith(b"HTTP/1.1 408 "), got


def test_an_idle_kept_alive_connection_is_closed_and_a_prompt_client_is_served(server: tuple[str, int]) -> None:
    took, got = closed_after(server, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200 ") and b'"status":"ok"' in got
    assert took < 1 + 2  # the keep-alive timeout, not the header deadline or never


def test_a_slow_but_steady_body_is_read(server: tuple[str, int]) -> None:
    """Silences shorter than the deadline do not add up to one: a slow link still gets its answer."""
    body = b'{"username": "nobody", "password": "not the password"}'
    with socket.create_connection(server, timeout=15) as sock:
        sock.sendall(b"POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode())
        for i in range(0, len(body), 12):
            time.sleep(DEADLINE / 2)
            sock.sendall(body[i:i + 12])
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 401 "), answer
