"""The one place GridGov errors become HTTP responses."""

from __future__ import annotations

import re
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gis.errors import GridGovError, TooManyRequests


def install_error_handlers(app: FastAPI) -> None:
    """Map the core's error hierarchy (and request validation) to JSON with a message a person can act on."""

    @app.exception_handler(GridGovError)
    async def _gridgov(request: Request, exc: GridGovError) -> JSONResponse:
        if _open311(request):  # GeoReport v2 clients expect [{code, description}]
            where = f" ({exc.where})" if exc.where else ""
            status = 400 if exc.status == 422 else exc.status  # the spec's catch-all for bad input is 400
            return JSONResponse(status_code=status, content=[{"code": status, "description": f"{exc.message}{where}"}],
                                headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)
        body = {"detail": exc.message, "where": exc.where, "error": type(exc).__name__}
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        if isinstance(exc, TooManyRequests):
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse(status_code=exc.status, content=body, headers=headers or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """The framework's own refusals (no such path, a method the path does not take) in the same shape."""
        if exc.status_code == 405:  # Starlette names only the first route's methods; name every one the path has
            exc.headers = {**(exc.headers or {}), "Allow": allowed_methods(request)}
        if _open311(request):
            return JSONResponse(status_code=exc.status_code, content=[{"code": exc.status_code,
                                                                        "description": str(exc.detail)}],
                                headers=exc.headers)
        try:
            kind = HTTPStatus(exc.status_code).phrase.replace(" ", "").replace("-", "")  # NotFound, MethodNotAllowed
        except ValueError:
            kind = "HTTPError"
        return JSONResponse(status_code=exc.status_code, headers=exc.headers,
                            content={"detail": str(exc.detail), "where": request.url.path, "error": kind})

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in err['loc'] if p != 'body')}: {err['msg']}" for err in exc.errors()[:20]
        ]
        if _open311(request):
            return JSONResponse(status_code=400, content=[{"code": 400, "description": p} for p in problems])
        first = [str(p) for p in exc.errors()[0]["loc"] if p not in ("body", "path", "query")] if exc.errors() else []
        return JSONResponse(status_code=422, content={
            "detail": "; ".join(problems), "where": ".".join(first) or None, "error": "InvalidInput",
            "problems": problems})


def allowed_methods(request: Request) -> str:
    """Every method the app's documented routes take at the request's path (the `Allow` of a 405)."""
    from fastapi.routing import APIRoute, iter_route_contexts

    routes: list[tuple[re.Pattern[str], set[str]]] | None = getattr(request.app.state, "allow_routes", None)
    if routes is None:
        routes = [(r.path_regex, set(r.methods or ())) for r in iter_route_contexts(request.app.routes)
                  if isinstance(r.original_route, APIRoute) and r.include_in_schema]
        request.app.state.allow_routes = routes
    return ", ".join(sorted({m for pattern, methods in routes if pattern.match(request.url.path) for m in methods}))


def _open311(request: Request) -> bool:
    return request.url.path.startswith("/open311/")


def install_body_limit(app: FastAPI, max_bytes: int) -> None:
    """Refuse request bodies over the limit (413 with the limit stated), counting bytes as they arrive.

    A declared `Content-Length` over the limit is refused before anything is read; a chunked or lying body is
    cut off as soon as the bytes received pass the limit, whatever the framing."""
    app.add_middleware(_BodyLimit, max_bytes=max_bytes)


class _BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, size: int | None) -> JSONResponse:
        said = f"request body of {size} bytes" if size is not None else "request body"
        return JSONResponse(status_code=413, headers={"Connection": "close"}, content={
            "detail": f"{said} is over the limit of {self.max_bytes} bytes; send smaller batches",
            "where": "body", "error": "PayloadTooLarge"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._too_large(int(value))(scope, receive, send)
                return
        received = 0
        over = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Stop here: the app sees a client that went away, and its answer is replaced by the 413.
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:
                if not started:
                    started = True
                    await self._too_large(None)(scope, receive, send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._too_large(None)(scope, receive, send)
