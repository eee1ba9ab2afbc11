"""A real `gridgov serve` in a subprocess, for tests that need a server on a port (browsers, GDAL, races)."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def running(argv: list[str], probe: str, log_path: Path, env: dict[str, str],
            startup_s: float = 60) -> Iterator[None]:
    """Run a server process until the block ends, once `probe` answers 200 (its output goes to `log_path`).

    `startup_s` bounds the wait: several workers each import and build the app, which on a busy machine can
    take minutes."""
    log = log_path.open("wb")
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + startup_s
    try:
        while True:
            try:
                if httpx.get(probe, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(argv[1:4])} did not start; see {log_path}")
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@contextmanager
def live_server(database_url: str, data_dir: Path, **env: str) -> Iterator[str]:
    """`gridgov serve` over the database on a free loopback port until the block ends; yields the base URL."""
    port = free_port()
    environ = {**os.environ, "GRIDGOV_DATABASE_URL": database_url, "GRIDGOV_TICK_SECONDS": "0",
               "GRIDGOV_DATA_DIR": str(data_dir), **env}
    base = f"http://127.0.0.1:{port}"
    with running([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], f"{base}/health",
                 data_dir / f"server-{port}.log", environ):
        yield base


def token(base: str, username: str, password: str) -> str:
    r = httpx.post(f"{base}/auth/token", json={"username": username, "password": password}, timeout=10)
    assert r.status_code == 200, r.text
    value: str = r.json()["access_token"]
    return value


def serving_pid(conn: http.client.HTTPConnection) -> int:
    """The pid of the server process holding the other end of this loopback connection (Linux /proc): which
    worker of `gridgov serve --workers N` a kept-alive connection talks to."""
    assert conn.sock is not None, "send a request first: a worker owns the connection once it accepted it"
    here, there = conn.sock.getsockname()[1], conn.sock.getpeername()[1]
    local, remote = f"0100007F:{there:04X}", f"0100007F:{here:04X}"
    inodes = [f[9] for f in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
              if f[1] == local and f[2] == remote]
    assert inodes, f"no server socket for local port {here}"
    target = f"socket:[{inodes[0]}]"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) == target for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:
            continue
    raise AssertionError(f"no process holds {target}")


def one_connection_per_worker(base: str, workers: int, within_s: float = 180) -> list[http.client.HTTPConnection]:
    """Kept-alive connections to `workers` different worker processes, opened until each has one (the first
    worker up answers the start-up probe; the others may still be importing on a busy machine)."""
    host, port = base.removeprefix("http://").split(":")
    found: dict[int, http.client.HTTPConnection] = {}
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", "/health")
        conn.getresponse().read()
        pid = serving_pid(conn)
        if pid in found:
            conn.close()
        else:
            found[pid] = conn
        if len(found) == workers:
            return list(found.values())
        time.sleep(0.1)
    raise AssertionError(f"in {within_s:g} s connections reached only {len(found)} of {workers} workers")
