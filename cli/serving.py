"""Bind the port before announcing it, then run uvicorn on that socket (`gridgov serve`, `gridgov demo`).

uvicorn binds inside `uvicorn.run`, after the caller has printed where it serves; a port already taken then
ended in uvicorn's log line and exit status 1 after "serving on …". Binding here first makes the
announcement true (the socket listens before it is printed) and a taken port a message and exit 2.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from gis.errors import GridGovError
from i18n import T

BACKLOG = 2048  # uvicorn's default


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free one), or a GridGovError saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As uvicorn does: a port left in TIME_WAIT by a stopped server can be taken again at once; a port
        # another process listens on still cannot (on Linux SO_REUSEADDR does not share a listening port).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise GridGovError(T("port {port} on {host} is already in use (another gridgov or program listens "
                                 "there); stop it or choose another with --port or GRIDGOV_PORT", port=port,
                                 host=host)) from None
        if exc.errno == errno.EACCES:
            raise GridGovError(T("not permitted to listen on port {port} on {host} (ports below 1024 need root); "
                                 "choose another with --port or GRIDGOV_PORT", port=port, host=host)) from None
        raise GridGovError(T("cannot listen on {host}:{port}: {why} (check --host/GRIDGOV_HOST)", host=host,
                             port=port, why=exc.strerror or str(exc)), where="host") from None
    sock.set_inheritable(True)  # worker processes serve the same socket
    return sock


def bound_port(sock: socket.socket) -> int:
    """The port a bound socket listens on (the one the system chose for port 0)."""
    port: int = sock.getsockname()[1]
    return port


def run_uvicorn(app: Any, sock: socket.socket, *, workers: int = 1, **options: Any) -> bool:
    """Serve `app` (an ASGI app, or an import string with `factory=True` for workers) on the bound socket until
    stopped; False if the server did not start (its error is in uvicorn's log)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(app, workers=workers, **options)
    try:
        if workers > 1:
            Multiprocess(config, sockets=[sock]).run()
            return True
        server = uvicorn.Server(config)
        server.run(sockets=[sock])
        return server.started
    except KeyboardInterrupt:
        return True
    finally:
        sock.close()
