"""The catalogue for planners: upload and download the workbook, create, change and delete teams; the audit log.

Uploads replace a draft's delegation list and rules, so they name the draft revision like every draft edit
(`?revision=`, 409 when stale). Every write is recorded in the audit log with the signed-in user.
"""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.auth import current_user, require
from api.deps import GridGovRoute, get_repo
from api.errors import error_body
from api.inputs import MAX_INT, Id
from api.openapi import CREATED
from etl.catalogue import SHEETS, notes
from etl.workbook import WorkbookProblems, write_xlsx
from gis.errors import InvalidInput, UnsupportedMedia
from gis.model import Team
from i18n import T
from store import audit
from store.catalogue import catalogue_version, delete_team, export_rows, import_catalogue, put_team
from store.db import transaction
from store.repo import Repository
from store.users import User

router = APIRouter(route_class=GridGovRoute, tags=["catalogue"], dependencies=[Depends(current_user)])
Repo = Annotated[Repository, Depends(get_repo, scope="function")]
Planner = Annotated[User, Depends(require("planner"))]
AuditReader = Annotated[User, Depends(require("planner", "auditor"))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ACCEPTED = (XLSX, "application/octet-stream", "")


@router.post("/catalogue", summary="Import a catalogue workbook (.xlsx as the request body) into a draft")
async def upload(request: Request, user: Planner,
                 version: Annotated[Id, Query(description="the draft that takes the delegations and rules")],
                 revision: Annotated[int, Query(ge=0, le=MAX_INT, description="the draft's revision your upload is "
                                                "based on (`revision` in GET /versions/{id})")],
                 ) -> JSONResponse:
    """All or nothing: teams and matters are added or updated, the draft's delegation list and rules replaced
    by the workbook's. A 422 lists every problem as {sheet, row, column, header, message}."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ACCEPTED:
        raise UnsupportedMedia(f"send the .xlsx file itself as the body (content-type {XLSX}), e.g. "
                               "curl --data-binary @catalogue.xlsx; got " + kind, where="content-type")
    data = await request.body()
    if not data:
        raise InvalidInput(T("the request body is empty; send the .xlsx file"), where="body")

    def work() -> dict[str, Any]:
        with transaction(request.app.state.sessions) as session:
            result = import_catalogue(Repository(session), io.BytesIO(data), version_id=version,
                                      expected_revision=revision, actor=user.username, name="upload.xlsx")
        return result.as_dict()

    try:
        return JSONResponse(await run_in_threadpool(work))
    except WorkbookProblems as exc:
        return JSONResponse(status_code=422, content=error_body(
            exc.message, exc.where, "InvalidInput", exc.code, exc.localized(),
            problems=[p.as_dict() for p in exc.problems]))


@router.get("/catalogue.xlsx", summary="The catalogue workbook: every team and matter, a version's delegations and "
            "rules", response_class=Response, responses={200: {"content": {XLSX: {}}}})
def download(repo: Repo, version: Id | None = None) -> Response:
    """Of `version`, else the version in force today, else the newest. It imports back exactly as it is."""
    v = catalogue_version(repo, version)
    assert v.id is not None
    buffer = io.BytesIO()
    write_xlsx(buffer, SHEETS, export_rows(repo, v.id), notes())
    return Response(buffer.getvalue(), media_type=XLSX, headers={
        "Content-Disposition": f'attachment; filename="catalogue-v{v.id}.xlsx"'})


@router.put("/teams/{code}", summary="Create or replace a team (planners)", responses=CREATED)
def put(code: str, body: Team, repo: Repo, user: Planner, response: Response,
        version: Annotated[Id | None, Query(description="the version whose units unit_code must name "
                                                         "(default: in force today, else the newest)")] = None
        ) -> Team:
    if body.code != code:
        raise InvalidInput(T("the body's code {code} differs from the path's {code2}",
                             code=body.code, code2=code), where="code")
    response.status_code = 201 if put_team(repo, body, version, user.username) else 200
    return body


@router.delete("/teams/{code}", summary="Delete a team nothing names any more (planners; 409 lists what does)")
def delete(code: str, repo: Repo, user: Planner) -> Team:
    return delete_team(repo, code, user.username)


@router.get("/audit", summary="Who changed the catalogue, when and what (planners, auditors), newest first")
def audit_log(repo: Repo, user: AuditReader, action: str | None = None, target: str | None = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    return audit.events(repo.session, action=action, target=target, limit=limit)
