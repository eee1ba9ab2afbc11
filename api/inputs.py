"""What every request may carry, checked in one place: integers that fit the database, text without control
characters.

Integers: PostgreSQL's `integer` holds up to 2^31−1 and SQLite's up to 2^63−1; a larger id or count used to
reach the driver and come back as a 500. Every integer parameter and body field that can reach a query uses
`Id` (≥ 1) or `Count` (≥ 0), both capped at 2^31−1, so both backends answer a 422 naming the field.

Text: PostgreSQL refuses NUL in `text` and JSONB (a 500 again), SQLite stored it. `refuse_control_characters`,
an app-wide dependency, refuses before any endpoint runs, naming the field:
- path and query parameters holding any control character (C0 or DEL): they are codes, dates and numbers;
- JSON strings holding a C0 character other than tab, line feed and carriage return, or DEL (notes and
  descriptions may be multi-line; nothing else makes sense in text), and object keys holding any.
A body an endpoint reads itself is not seen here: Open311's form calls `check_text` on every field; photos and
workbooks are bytes checked by type; `POST /route` batches reach no database (matters are looked up in the
compiled router, point ids are only echoed), and may call `check_json` on their document.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Annotated, Any

import annotated_types
from fastapi import Request
from pydantic import BeforeValidator, Strict, StringConstraints

from gis.errors import InvalidInput
from i18n import T

MAX_INT = 2**31 - 1  # PostgreSQL's integer; SQLite's int64 holds it too
Id = Annotated[int, annotated_types.Interval(ge=1, le=MAX_INT)]
Count = Annotated[int, annotated_types.Interval(ge=0, le=MAX_INT)]
# In JSON bodies an integer is a JSON integer: pydantic's lax mode would take "3", 3.0 and true as 3 (a client
# mixing up fields goes unnoticed); parameters stay lax, their values arrive as text.
JsonId = Annotated[int, Strict(), annotated_types.Interval(ge=1, le=MAX_INT)]
JsonCount = Annotated[int, Strict(), annotated_types.Interval(ge=0, le=MAX_INT)]
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _not_a_number(value: Any) -> Any:
    """pydantic would read a number as Unix time; the API documents ISO 8601 text, so a number is a mistake."""
    if (isinstance(value, int | float) and not isinstance(value, bool)) or (
            isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        raise ValueError(T("give an ISO 8601 date or date-time (2026-11-29, 2026-11-29T08:00:00+08:00), not a "
                           "number"))
    return value


Instant = Annotated[datetime, BeforeValidator(_not_a_number)]  # a date-time; never a number read as Unix time
Day = Annotated[date, BeforeValidator(_not_a_number)]
# A reason, note or basis a person must write: spaces around are dropped, and what is left may not be empty.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A control character as a JSON body spells it (raw ones are not JSON): scanned in C before any walk.
_JSON_CONTROL = re.compile(rb"\\u00[01][0-9a-fA-F]|\\u007[fF]|\x7f")


def _refuse(value: str, where: str, pattern: re.Pattern[str]) -> None:
    found = pattern.search(value)
    if found is not None:
        char = found.group()
        raise InvalidInput(T("control character U+{ord} at position {start} is not allowed here; send plain text",
                             ord=format(ord(char), "04X"), start=found.start()), where=where)


def check_text(value: str, where: str, *, multiline: bool = True) -> None:
    """Refuse control characters in text (tab and line breaks allowed when `multiline`), naming `where`."""
    _refuse(value, where, _TEXT_CONTROL if multiline else _ANY_CONTROL)


def check_json(value: Any, where: str = "") -> None:
    """Walk a parsed JSON value, refusing control characters in strings and keys, naming the first one's path."""
    if isinstance(value, str):
        _refuse(value, where or "body", _TEXT_CONTROL)
    elif isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            _refuse(str(key), path, _ANY_CONTROL)
            check_json(item, path)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            check_json(item, f"{where}.{n}" if where else str(n))


async def refuse_control_characters(request: Request) -> None:
    """App-wide dependency: path and query parameters, and a JSON body FastAPI has already read."""
    for name, value in request.path_params.items():
        if isinstance(value, str):
            _refuse(value, name, _ANY_CONTROL)
    for name, value in request.query_params.multi_items():
        _refuse(name, name, _ANY_CONTROL)
        _refuse(value, name, _ANY_CONTROL)
    # Only a body the framework read for a body parameter: an endpoint that streams its body (photos, batches)
    # must not have it read here whole (it checks its own strings).
    body = getattr(request, "_body", None)
    if isinstance(body, bytes) and _JSON_CONTROL.search(body):
        parsed = getattr(request, "_json", None)
        if parsed is None:
            try:
                parsed = json.loads(body)
            except ValueError:
                return  # not JSON: the endpoint's own parsing says what is wrong
        check_json(parsed)
