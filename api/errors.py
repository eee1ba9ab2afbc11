"""The one place GridGov errors become HTTP responses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gis.errors import GridGovError


def install_error_handlers(app: FastAPI) -> None:
    """Map the core's error hierarchy (and request validation) to JSON with a message a person can act on."""

    @app.exception_handler(GridGovError)
    async def _gridgov(_: Request, exc: GridGovError) -> JSONResponse:
        body = {"detail": exc.message, "where": exc.where, "error": type(exc).__name__}
        return JSONResponse(status_code=exc.status, content=body)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in err['loc'] if p != 'body')}: {err['msg']}" for err in exc.errors()[:20]
        ]
        return JSONResponse(status_code=422, content={
            "detail": "; ".join(problems), "where": None, "error": "InvalidInput", "problems": problems})
