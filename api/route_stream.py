"""`POST /route` with a streamed batch: NDJSON or Arrow IPC rows in, the same rows plus the decision out.

The body is read and answered one chunk at a time, so a batch of any size (up to GRIDGOV_MAX_UPLOAD_MIB)
costs the memory of one chunk. Rows carry `lat`, `lon` and optionally `matter` (else `?matter=`),
`accuracy_m`, and any other fields, which come back unchanged; the columns added are those of
`gridgov route-file` (etl/route_batch.py). The answer's type follows `Accept` (NDJSON or Arrow IPC stream),
else the request's type. A refusal in the first chunk is an ordinary 4xx error; once rows have been sent
the status is fixed, so a later refusal ends an NDJSON answer with one `{"error": {...}}` line and an
Arrow answer without its end-of-stream marker (readers report a truncated stream).

The work runs in one worker thread that pulls body chunks from, and pushes answer chunks to, the event loop
(anyio.from_thread), so neither parsing nor routing ever blocks the loop.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.from_thread
import pyarrow as pa
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from etl.route_batch import BatchOptions, route_batch
from gis.errors import GridGovError, InvalidInput
from gis.routing.router import Router
from i18n import T

NDJSON = "application/x-ndjson"
ARROW = "application/vnd.apache.arrow.stream"
STREAM_TYPES = {NDJSON: NDJSON, "application/jsonl": NDJSON, "application/ndjson": NDJSON, ARROW: ARROW}
ROWS_PER_CHUNK = 65_536


def stream_type(content_type: str | None) -> str | None:
    """NDJSON or ARROW for a streamed batch's content type, else None (the JSON body)."""
    return STREAM_TYPES.get((content_type or "").split(";")[0].strip().lower())


def answer_type(accept: str | None, request_type: str) -> str:
    """The answer's type: the first streamed type `Accept` names, else the request's."""
    for part in (accept or "").split(","):
        kind = STREAM_TYPES.get(part.split(";")[0].strip().lower())
        if kind:
            return kind
    return request_type


class _Body(io.RawIOBase):
    """The request body as a blocking file, read from the event loop one ASGI message at a time."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._buffer = b""
        self._done = False

    async def _next_message(self) -> dict[str, Any]:
        return dict(await self._receive())

    def readable(self) -> bool:
        return True

    def readinto(self, into: Any) -> int:
        while not self._buffer and not self._done:
            message = anyio.from_thread.run(self._next_message)
            if message["type"] == "http.disconnect":
                raise InvalidInput(T("the client went away before the end of the body"), where="body")
            self._buffer = message.get("body", b"")
            self._done = not message.get("more_body", False)
        n = min(len(into), len(self._buffer))
        into[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def _ndjson_batches(body: io.BufferedIOBase) -> Iterator[pa.RecordBatch]:
    import pyarrow.json as pjson

    schema = pa.schema([("lat", pa.float64()), ("lon", pa.float64()), ("accuracy_m", pa.float64()),
                        ("matter", pa.string()), ("id", pa.string())])
    lines: list[bytes] = []
    size = 0
    line_no = 1

    def parse() -> pa.RecordBatch:
        try:
            table = pjson.read_json(io.BytesIO(b"".join(lines)), parse_options=pjson.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="infer"))
        except pa.ArrowInvalid as exc:
            raise InvalidInput(T("a line is not a JSON object with numeric lat/lon: {problem}", problem=str(exc)),
                               where=f"lines {line_no}-{line_no + len(lines) - 1}") from None
        return table.combine_chunks().to_batches()[0] if table.num_rows else pa.RecordBatch.from_pylist([])

    for line in body:
        if not line.strip():
            continue
        lines.append(line if line.endswith(b"\n") else line + b"\n")
        size += len(line)
        if len(lines) >= ROWS_PER_CHUNK or size > 16 << 20:
            yield parse()
            line_no += len(lines)
            lines, size = [], 0
    if lines:
        yield parse()


def _arrow_batches(body: io.BufferedIOBase) -> Iterator[pa.RecordBatch]:
    try:
        reader = pa.ipc.open_stream(body)
        yield from reader
    except pa.ArrowInvalid as exc:
        raise InvalidInput(T("the body is not an Arrow IPC stream: {problem}", problem=str(exc)),
                           where="body") from None


class RouteStream(Response):
    """The ASGI answer to a streamed `POST /route` (it reads the body itself, while answering)."""

    def __init__(self, router: Router, opts: BatchOptions, request_type: str, reply_type: str) -> None:
        super().__init__(media_type=reply_type)
        self.router, self.opts = router, opts
        self.request_type, self.reply_type = request_type, reply_type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.to_thread.run_sync(self._pump, receive, send)

    def _pump(self, receive: Receive, send: Send) -> None:
        async def send_one(message: dict[str, Any]) -> None:
            await send(message)

        def emit(message: dict[str, Any]) -> None:
            anyio.from_thread.run(send_one, message)

        body = io.BufferedReader(_Body(receive), buffer_size=1 << 20)
        batches = _ndjson_batches(body) if self.request_type == NDJSON else _arrow_batches(body)
        started, row = False, 1
        writer: Any = None
        sink = io.BytesIO()
        try:
            for batch in batches:
                out = route_batch(self.router, batch, self.opts, first_line=row,
                                  where="row" if self.request_type == ARROW else "line")
                row += batch.num_rows
                if self.reply_type == NDJSON:
                    chunk = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n"
                                    for r in out.to_pylist()).encode()
                else:
                    if writer is None:
                        writer = pa.ipc.new_stream(sink, out.schema)
                    writer.write_batch(out)
                    chunk = sink.getvalue()
                    sink.seek(0)
                    sink.truncate()
                if not started:
                    emit({"type": "http.response.start", "status": 200,
                          "headers": [(b"content-type", self.reply_type.encode())]})
                    started = True
                emit({"type": "http.response.body", "body": chunk, "more_body": True})
        except GridGovError as exc:
            if not started:
                from api.errors import error_body

                payload = json.dumps(error_body(exc.message, exc.where, type(exc).__name__, exc.code,
                                                exc.localized()), ensure_ascii=False).encode()
                emit({"type": "http.response.start", "status": exc.status,
                      "headers": [(b"content-type", b"application/json")]})
                emit({"type": "http.response.body", "body": payload, "more_body": False})
                return
            if self.reply_type == NDJSON:
                line = {"error": {"code": exc.code, "detail": exc.message, "where": exc.where}}
                emit({"type": "http.response.body", "body": (json.dumps(line) + "\n").encode(), "more_body": False})
            else:
                emit({"type": "http.response.body", "body": b"", "more_body": False})
            return
        tail = b""
        if not started:
            emit({"type": "http.response.start", "status": 200,
                  "headers": [(b"content-type", self.reply_type.encode())]})
        if self.reply_type == ARROW:
            if writer is None:  # no rows at all: an empty stream with no schema is not readable; send none
                writer = pa.ipc.new_stream(sink, pa.schema([]))
            writer.close()
            tail = sink.getvalue()
        emit({"type": "http.response.body", "body": tail, "more_body": False})
