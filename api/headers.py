"""Headers every answer carries, whatever route or error produced it."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = (b"x-content-type-options", b"nosniff")


def install_nosniff(app: FastAPI) -> None:
    """`X-Content-Type-Options: nosniff` on every response: a browser takes a photo, a tile or JSON for what its
    Content-Type says, never for HTML it guessed from the bytes (photos are user uploads)."""
    app.add_middleware(_NoSniff)


class _NoSniff:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == NOSNIFF[0] for name, _ in headers):
                    headers.append(NOSNIFF)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_header)
