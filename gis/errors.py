"""The one error hierarchy of GridGov; `api/` maps it to HTTP statuses, `cli/` to exit codes.

Every error has a stable machine `code` (the class's, or a more precise one given where it is raised) and a
message: marked for translation (`i18n.T`) it is shown in the reader's language, `message` keeps the English.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from i18n import N_, T, Text, render


class GridGovError(Exception):
    """Base of every error GridGov raises on purpose."""

    status = 400

    def __init__(self, message: str | Text, *, where: str | None = None, code: str | None = None) -> None:
        self.text = message
        self.message = str(message)  # English: logs, tests, the `detail` field
        self.where = where  # file:line, feature id, field name: where the person should look
        self.code = code or re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()
        super().__init__(f"{where}: {self.message}" if where else self.message)

    def localized(self, lang: str | None = None) -> str:
        """The message in `lang` (default: the current language)."""
        return render(self.text, lang)


def problem_text(error: Mapping[str, Any]) -> str | Text:
    """A pydantic error's problem for a person: the translated text its validator raised (`ValueError(T(...))`),
    else pydantic's own message."""
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ValueError) and cause.args and isinstance(cause.args[0], Text):
        return cause.args[0]
    return str(error.get("msg", ""))


# Pydantic's error types in words a person reads (the English stays in `detail` and `problems`).
_VALIDATION = {
    "missing": N_("{field}: required"),
    "less_than_equal": N_("{field}: must be at most {le}"),
    "greater_than_equal": N_("{field}: must be at least {ge}"),
    "less_than": N_("{field}: must be less than {lt}"),
    "greater_than": N_("{field}: must be greater than {gt}"),
    "string_too_long": N_("{field}: at most {max_length} characters"),
    "string_too_short": N_("{field}: at least {min_length} characters"),
    "blank": N_("{field}: write some text; empty or only spaces does not count"),  # string_too_short of 1
    "too_long": N_("{field}: at most {max_length} items"),
    "too_short": N_("{field}: at least {min_length} items"),
    "finite_number": N_("{field}: must be a finite number"),
    "literal_error": N_("{field}: must be one of {expected}"),
    "enum": N_("{field}: must be one of {expected}"),
    "string_pattern_mismatch": N_("{field}: not in the expected form"),
    "json_invalid": N_("the body is not valid JSON"),
    "extra_forbidden": N_("{field}: not a known field"),
}


def validation_message(errors: Sequence[Any]) -> Text | str:
    """The first validation problem in the reader's language (all of them stay in `problems`, in English)."""
    if not errors:
        return T("the request is not valid")
    err = errors[0]
    field = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "path", "query"))
    ctx = {k: f"{v:g}" if isinstance(v, float) else str(v) for k, v in dict(err.get("ctx") or {}).items()}
    kind = str(err.get("type"))
    if kind == "string_too_short" and ctx.get("min_length") == "1":
        kind = "blank"  # nothing at all, or nothing left once the spaces were stripped (`api.inputs.Text`)
    template = _VALIDATION.get(kind)
    if template is None:
        return T("{field}: not valid ({problem})", field=field, problem=problem_text(err))
    problem = T(template, field=field, **ctx)
    return T("{problem} (and {n} more problems)", problem=problem, n=len(errors) - 1) if len(errors) > 1 else problem


class InvalidInput(GridGovError):
    """Input a person can fix: bad geometry, coordinates, codes, rows."""

    status = 422


class UnknownCRS(InvalidInput):
    """A coordinate reference system we cannot convert from."""


class NotFound(GridGovError):
    """A code or id that does not exist."""

    status = 404


class Conflict(GridGovError):
    """The request clashes with stored state (duplicate code, stale edit, illegal transition)."""

    status = 409


class PayloadTooLarge(InvalidInput):
    """A batch or file beyond the configured limit."""

    status = 413


class Unauthorized(GridGovError):
    """No valid credentials: missing, unknown, forged, revoked or expired token, or a wrong password."""

    status = 401


class Forbidden(GridGovError):
    """Signed in, but the role or jurisdiction scope does not allow this."""

    status = 403


class TooManyRequests(GridGovError):
    """Too many attempts (failed sign-ins from an account or an address): try again after `retry_after` seconds."""

    status = 429

    def __init__(self, message: str | Text, *, retry_after: int, where: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message, where=where, code=code)
        self.retry_after = max(1, retry_after)


class UnsupportedMedia(InvalidInput):
    """A file of a type we do not accept (e.g. a photo that is not JPEG, PNG or WebP)."""

    status = 415


class Unsupported(GridGovError):
    """A feature this deployment cannot offer (e.g. vector tiles, which need PostGIS, on SQLite)."""

    status = 501
