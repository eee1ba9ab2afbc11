"""The OpenAPI document tells every status and error body the API answers with, and how to sign in.

FastAPI documents only the success answer and its own 422 shape ({detail: [..]}), which is not ours: every
error here is `Error` ({detail, where, error}, api/errors.py), and Open311's are `[{code, description}]`.
`install_openapi` adds them to each operation from what the route is (the statuses in `ERRORS`):
- 422 (400 under Open311) to every operation: parameters, bodies and control characters are checked for all;
- 413 to every operation (the body limit comes first; some reads refuse an answer too large to send, too);
- 400 (an unreadable body) and 409 (stale revision, illegal step, clash) to writes;
- 401 and 403 to operations that need a token (and the bearer security scheme), 404 to those that take a
  parameter or a token (ids, codes, versions, scope), 429 to sign-in, 415 to raw uploads (photos, workbooks).
An operation's own `responses=` win over these. tests/test_fuzz.py holds the document to the server's answers.

The document is written in English and served in the request's language (`?lang=`, `Accept-Language`, the
setting): summaries, descriptions and answer descriptions through the catalogs, paths, parameters and schemas
unchanged. `/docs` asks for the document in its own language. `python -m i18n.check` reads every text of the
document as a message id (`texts`), so an operation without Chinese fails the catalog check like any message.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field

from i18n import N_, current_language, gettext


class Error(BaseModel):
    """An error: what is wrong in words a person can act on, where to look, and its kind."""

    detail: str = Field(description="what is wrong and what to do, in English (stable for scripts and logs)")
    message: str = Field(description="the same for the person reading it, in the request's language "
                                     "(?lang=, the user's preference, Accept-Language, GRIDGOV_LANGUAGE; zh-CN first)")
    code: str = Field(description="stable machine code of the error, the same in every language")
    where: str | None = Field(default=None, description="the field, parameter, file:line or feature to look at")
    error: str = Field(description="the kind, stable across languages: InvalidInput, NotFound, Conflict, "
                                   "Unauthorized, Forbidden, PayloadTooLarge, TooManyRequests, …")
    problems: list[str] | None = Field(default=None, description="every validation problem (422)")


class Open311Error(BaseModel):
    """A GeoReport v2 error (the body is a list of these)."""

    code: int = Field(description="the HTTP status")
    description: str


# Second success answers a route states with `responses=` (FastAPI documents only its `status_code`).
CREATED: dict[int | str, dict[str, Any]] = {201: {"description": "created (200: an existing one replaced)"}}
REPLAYED: dict[int | str, dict[str, Any]] = {200: {"description": "a retry (the same key or content): what the "
                                                                    "first request made, unchanged"}}
ERRORS: dict[int, str] = {
    400: "the body could not be read (not JSON, not UTF-8)",
    401: "no valid token: missing, unknown, revoked or expired (or a wrong password at sign-in)",
    403: "signed in, but the role or its scope does not allow this",
    404: "no such id, code or version (or none in your scope)",
    409: "clashes with stored state: a stale revision, an illegal step, a duplicate",
    413: "the body or the batch is over the limit",
    415: "not a JPEG, PNG or WebP image",
    422: "invalid input, named in `where` (and every problem in `problems`)",
    429: "too many attempts: wait for Retry-After seconds",
}
OPEN311_ERRORS: dict[int, str] = {
    400: "invalid input (GeoReport's catch-all)",
    401: "api_key missing or unknown",
    403: "the api_key's account may not do this",
    404: "no such service, request, token or jurisdiction",
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
_ERROR = "#/components/schemas/Error"
_OPEN311_ERROR = "#/components/schemas/Open311Error"


def _needs_token(dependant: Dependant) -> bool:
    from api.auth import current_user

    return any(d.call is current_user or _needs_token(d) for d in dependant.dependencies)


def _errors_of(route: Any, method: str, parameters: list[dict[str, Any]],
               has_body: bool) -> tuple[dict[int, str], bool]:
    """The statuses this operation can answer besides its own, and whether it needs a token."""
    if route.path.startswith("/open311/"):
        keyed = method == "POST" or any(p.get("name") == "api_key" for p in parameters)
        codes = [400, 404] + ([401, 403] if keyed else [])
        return {**{c: OPEN311_ERRORS[c] for c in codes}, 413: ERRORS[413]}, keyed
    token = _needs_token(route.dependant)
    codes = [413, 422]  # the body limit applies to every request, whatever its method
    if method in WRITES:
        codes += [400, 409]
    if token:
        codes += [401, 403]
    if token or parameters:
        codes.append(404)
    if route.path == "/auth/token":
        codes += [401, 429]
    if method in WRITES and not has_body:
        codes.append(415)  # a raw body (photo, workbook) of a type it does not take
    return {c: ERRORS[c] for c in codes}, token


def document(schema: dict[str, Any], routes: list[Any]) -> dict[str, Any]:
    """Add the error answers, the error models and the security schemes to a generated document."""
    components = schema.setdefault("components", {})
    models = components.setdefault("schemas", {})
    models["Error"] = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    models["Open311Error"] = Open311Error.model_json_schema(ref_template="#/components/schemas/{model}")
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "POST /auth/token, or a device token"},
        "api_key": {"type": "apiKey", "in": "query", "name": "api_key", "description": "Open311: a device token"},
    }
    for route in routes:
        item = schema.get("paths", {}).get(route.path_format)
        if item is None:
            continue
        for method in route.methods or ():
            op = item.get(method.lower())
            if op is None:
                continue
            errors, token = _errors_of(route, method, op.get("parameters", []), "requestBody" in op)
            responses = op.setdefault("responses", {})
            if "422" in responses and "422" not in {str(c) for c in route.responses}:
                del responses["422"]  # FastAPI's {detail: [..]}, never sent
            open311 = route.path.startswith("/open311/")
            for code, description in errors.items():
                if str(code) in responses:
                    continue
                # The body limit answers before any route, in the one shape, under Open311 too.
                body = ({"type": "array", "items": {"$ref": _OPEN311_ERROR}} if open311 and code != 413
                        else {"$ref": _ERROR})
                responses[str(code)] = {"description": description, "content": {"application/json": {"schema": body}}}
            if token:
                op["security"] = [{"bearer": []}, {"api_key": []}] if open311 else [{"bearer": []}]
    text = str(schema.get("paths"))
    if "/HTTPValidationError'" not in text:
        models.pop("HTTPValidationError", None)
        models.pop("ValidationError", None)
    return schema


def _texts_of(doc: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """Every (object, key) of the document whose value a person reads: the API's description, each operation's
    summary and description, each answer's description (the security schemes' stay as they are)."""
    yield doc.get("info", {}), "description"
    for item in doc.get("paths", {}).values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            yield op, "summary"
            yield op, "description"
            for answer in op.get("responses", {}).values():
                yield answer, "description"


def texts(doc: dict[str, Any]) -> list[str]:
    """The document's texts for a person (message ids, English), in order, once each."""
    return list(dict.fromkeys(v for obj, key in _texts_of(doc) if isinstance(v := obj.get(key), str) and v))


def translated(doc: dict[str, Any], lang: str) -> dict[str, Any]:
    """A copy of the document with its texts in `lang`; paths, parameters and schemas as they are."""
    out = copy.deepcopy(doc)
    for obj, key in _texts_of(out):
        if isinstance(obj.get(key), str) and obj[key]:
            obj[key] = gettext(obj[key], lang)
    return out


def install_openapi(app: FastAPI) -> None:
    """Document errors and sign-in for every route the app has when the document is first asked for, and serve
    it (and /docs) in the request's language."""
    generate: Callable[[], dict[str, Any]] = app.openapi
    by_language: dict[str, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            # Included routers are contexts over their routes (FastAPI ≥ 0.16x): each knows its full path,
            # methods and dependencies as included.
            routes = [r for r in iter_route_contexts(app.routes)
                      if isinstance(r.original_route, APIRoute) and r.include_in_schema]
            app.openapi_schema = document(generate(), routes)
            by_language.clear()
        lang = current_language()
        if lang == "en":
            return app.openapi_schema
        if lang not in by_language:
            by_language[lang] = translated(app.openapi_schema, lang)
        return by_language[lang]

    app.openapi = openapi  # type: ignore[method-assign]


async def docs(request: Request) -> HTMLResponse:
    """Swagger UI over the document in the page's language (its own `?lang=` or the browser's)."""
    lang = getattr(request.state, "language", None) or current_language()
    return get_swagger_ui_html(openapi_url=f"{request.app.openapi_url}?lang={lang}",
                               title=f"{request.app.title} – {gettext(N_('API documentation'), lang)}",
                               # vendored (web/static/vendor/swagger-ui): the page works with no route to the internet
                               swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
                               swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
                               swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png")
