"""Sign-in and the `current_user` / `require` dependencies every protected endpoint uses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from api.deps import get_repo
from gis.errors import Forbidden, Unauthorized
from store.db import transaction
from store.repo import Repository
from store.users import User, Users

router = APIRouter(tags=["auth"])
Repo = Annotated[Repository, Depends(get_repo, scope="function")]


class SignIn(BaseModel):
    """A username and password."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    """A bearer token for the Authorization header."""

    access_token: str
    token_type: str = "bearer"
    expires_at: datetime | None
    username: str
    role: str
    team_code: str | None


@router.post("/auth/token", summary="Sign in: a bearer token for the Authorization header")
def sign_in(body: SignIn, repo: Repo, request: Request) -> TokenOut:
    ttl = timedelta(hours=request.app.state.settings.token_ttl_hours)
    users = Users(repo.session)
    token, expires = users.sign_in(body.username, body.password, ttl)
    user = users.get(body.username)
    return TokenOut(access_token=token, expires_at=expires, username=user.username, role=user.role,
                    team_code=user.team_code)


def current_user(request: Request) -> User:
    """The user behind `Authorization: Bearer <token>` (401 when missing, unknown, revoked or expired).

    It reads the token in a short transaction of its own and releases the connection before the endpoint
    runs: an endpoint that opens its own transaction must never wait for a second connection while
    holding one (under load that starves the pool and every request stalls)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("sign in first: send Authorization: Bearer <token> (POST /auth/token gives one)")
    with transaction(request.app.state.sessions) as session:
        return Users(session).authenticate(token.strip())


CurrentUser = Annotated[User, Depends(current_user)]


@router.get("/auth/me", summary="Who the token belongs to")
def me(user: CurrentUser) -> dict[str, str | None]:
    return {"username": user.username, "display_name": user.display_name, "role": user.role,
            "team_code": user.team_code}


@router.post("/auth/logout", summary="Revoke the token used for this call")
def logout(user: CurrentUser, request: Request, repo: Repo) -> dict[str, str]:
    Users(repo.session).revoke(request.headers["authorization"].partition(" ")[2].strip())
    return {"status": f"signed out {user.username}"}


def require(*roles: str) -> Callable[[User], User]:
    """A dependency admitting only these roles (403 naming who may)."""

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden(f"a {user.role} may not do this; allowed: {', '.join(roles)}")
        return user

    return check
