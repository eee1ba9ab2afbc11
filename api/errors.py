"""The one place GridGov errors become HTTP responses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from gis.errors import GridGovError, TooManyRequests


def install_error_handlers(app: FastAPI) -> None:
    """Map the core's error hierarchy (and request validation) to JSON with a message a person can act on."""

    @app.exception_handler(GridGovError)
    async def _gridgov(request: Request, exc: GridGovError) -> JSONResponse:
        if _open311(request):  # GeoReport v2 clients expect [{code, description}]
            where = f" ({exc.where})" if exc.where else ""
            status = 400 if exc.status == 422 else exc.status  # the spec's catch-all for bad input is 400
            return JSONResponse(status_code=status, content=[{"code": status, "description": f"{exc.message}{where}"}])
        body = {"detail": exc.message, "where": exc.where, "error": type(exc).__name__}
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        if isinstance(exc, TooManyRequests):
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse(status_code=exc.status, content=body, headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in err['loc'] if p != 'body')}: {err['msg']}" for err in exc.errors()[:20]
        ]
        if _open311(request):
            return JSONResponse(status_code=400, content=[{"code": 400, "description": p} for p in problems])
        return JSONResponse(status_code=422, content={
            "detail": "; ".join(problems), "where": None, "error": "InvalidInput", "problems": problems})


def _open311(request: Request) -> bool:
    return request.url.path.startswith("/open311/")


def install_body_limit(app: FastAPI, max_bytes: int) -> None:
    """Refuse request bodies over the limit before reading them (413 with the limit stated).

    Plain ASGI middleware: it only looks at the declared length, so it costs nothing per request."""
    app.add_middleware(_BodyLimit, max_bytes=max_bytes)


class _BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                    response = JSONResponse(status_code=413, content={
                        "detail": f"request body of {int(value)} bytes is over the limit of {self.max_bytes} bytes; "
                                  "send smaller batches", "where": "body", "error": "PayloadTooLarge"})
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
