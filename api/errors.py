"""The one place GridGov errors become HTTP responses."""

from __future__ import annotations

import re
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gis.errors import GridGovError, TooManyRequests, validation_message
from i18n import T, Text, negotiate, render, set_language


def error_body(detail: str, where: str | None, error: str, code: str, message: str | Text | None = None,
               **extra: object) -> dict[str, object]:
    """An error as JSON: `detail` in English (stable for scripts and logs), `message` in the reader's language,
    a stable machine `code`, the kind and where to look."""
    return {"detail": detail, "message": render(message if message is not None else detail), "code": code,
            "where": where, "error": error, **extra}


def install_language(app: FastAPI, default: str) -> None:
    """Answer every request in its language: `?lang=`, then `Accept-Language`, then the setting (the signed-in
    user's preference is applied when the token is read, api/deps.py)."""
    app.add_middleware(_Language, default=default)


class _Language:
    def __init__(self, app: ASGIApp, default: str) -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            from urllib.parse import parse_qs

            query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("lang", [None])[0]
            accept = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"accept-language"), None)
            lang = negotiate(query=query, accept=accept, default=self.default)
            set_language(lang)
            scope.setdefault("state", {})["language"] = lang
            scope["state"]["language_asked"] = query is not None
        await self.app(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Map the core's error hierarchy (and request validation) to JSON with a message a person can act on."""

    @app.exception_handler(GridGovError)
    async def _gridgov(request: Request, exc: GridGovError) -> JSONResponse:
        if _open311(request):  # GeoReport v2 clients expect [{code, description}]
            where = f" ({exc.where})" if exc.where else ""
            status = 400 if exc.status == 422 else exc.status  # the spec's catch-all for bad input is 400
            return JSONResponse(status_code=status, content=[{"code": status, "description": f"{exc.message}{where}"}],
                                headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)
        body = error_body(exc.message, exc.where, type(exc).__name__, exc.code, exc.localized())
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
        message = T("no such page or endpoint: {path}", path=request.url.path) if exc.status_code == 404 else None
        return JSONResponse(status_code=exc.status_code, headers=exc.headers, content=error_body(
            str(exc.detail), request.url.path, kind, re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower(), message))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in err['loc'] if p != 'body')}: {err['msg']}" for err in exc.errors()[:20]
        ]
        if _open311(request):
            return JSONResponse(status_code=400, content=[{"code": 400, "description": p} for p in problems])
        first = [str(p) for p in exc.errors()[0]["loc"] if p not in ("body", "path", "query")] if exc.errors() else []
        return JSONResponse(status_code=422, content=error_body(
            "; ".join(problems), ".".join(first) or None, "InvalidInput", "invalid_input",
            validation_message(exc.errors()[:20]), problems=problems))


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
        message = T("the request is over the limit of {limit} bytes; send smaller batches", limit=self.max_bytes)
        return JSONResponse(status_code=413, headers={"Connection": "close"}, content=error_body(
            f"{said} is over the limit of {self.max_bytes} bytes; send smaller batches", "body",
            "PayloadTooLarge", "payload_too_large", message))

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
