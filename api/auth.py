"""Sign-in and the `current_user` / `require` dependencies every protected endpoint uses."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from api.deps import GridGovRoute, current_user, get_repo  # current_user is re-exported: api.auth.current_user
from cases import clock
from gis.errors import Forbidden, TooManyRequests, Unauthorized
from i18n import T
from store.db import transaction
from store.repo import Repository
from store.signin import SignInGuard, SignInPolicy
from store.users import User, Users, password_matches

router = APIRouter(route_class=GridGovRoute, tags=["auth"])
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


def client_address(request: Request) -> str | None:
    """The caller's address as the server sees it (behind a proxy: what uvicorn's --forwarded-allow-ips admits)."""
    return request.client.host if request.client is not None else None


@router.post("/auth/token", summary="Sign in: a bearer token for the Authorization header",
             responses={401: {"description": "wrong username or password"},
                        429: {"description": "too many failed sign-ins for this account (locked) or from this "
                                             "address; the Retry-After header says how many seconds to wait"}})
def sign_in(body: SignIn, request: Request) -> TokenOut:
    """Failed sign-ins are counted per account and per client address across all workers (`store/signin.py`):
    an account locks for a while after repeated failures (a dispatcher can unlock it), an address waits.
    An unknown name costs the same password hashing as a known one and is counted the same way."""
    settings = request.app.state.settings
    sessions = request.app.state.sessions
    policy = SignInPolicy.from_settings(settings)
    client = client_address(request)
    with transaction(sessions) as session:
        refusal = SignInGuard(session, policy).reserve(body.username, client, clock.now())
        user, stored = (None, None) if refusal else Users(session).password_hash(body.username)
    if refusal is not None:  # raised after the commit, so the refusal stays in the log
        raise TooManyRequests(refusal.message, retry_after=refusal.retry_after, where="username",
                              code="sign_in_throttled")
    right = password_matches(body.password, stored)  # no connection held during the scrypt
    with transaction(sessions) as session:
        guard = SignInGuard(session, policy)
        if right and user is not None:
            guard.succeeded(body.username, client, clock.now())
            token, expires = Users(session).session_token(user, timedelta(hours=settings.token_ttl_hours))
            return TokenOut(access_token=token, expires_at=expires, username=user.username, role=user.role,
                            team_code=user.team_code)
        locked = guard.failed(body.username, client, clock.now())
    with transaction(sessions) as session:
        SignInGuard(session, policy).prune(clock.now())
    if locked is not None:
        until = locked.strftime("%H:%M")
        raise Unauthorized(T("wrong username or password; too many failures: the account is locked until {until}",
                             until=until), code="account_locked")
    raise Unauthorized(T("wrong username or password"), code="wrong_credentials")


CurrentUser = Annotated[User, Depends(current_user)]


@router.get("/auth/me", summary="Who the token belongs to, and their preferred language")
def me(user: CurrentUser) -> dict[str, str | None]:
    return {"username": user.username, "display_name": user.display_name, "role": user.role,
            "team_code": user.team_code, "county_code": user.county_code, "language": user.language}


class LanguageIn(BaseModel):
    """A preferred language: zh-CN or en; null to follow the browser and the server's setting."""

    language: str | None = Field(default=None, max_length=16)


@router.put("/auth/me/language", summary="Keep your preferred language for pages and answers")
def put_language(body: LanguageIn, user: CurrentUser, repo: Repo) -> dict[str, str | None]:
    updated = Users(repo.session).set_language(user.username, body.language)
    return {"username": updated.username, "language": updated.language}


@router.post("/auth/logout", summary="Revoke the token used for this call")
def logout(user: CurrentUser, request: Request, repo: Repo) -> dict[str, str]:
    Users(repo.session).revoke(request.headers["authorization"].partition(" ")[2].strip())
    return {"status": f"signed out {user.username}"}


def require(*roles: str) -> Callable[[User], Coroutine[Any, Any, User]]:
    """A dependency admitting only these roles (403 naming who may). Async: a comparison needs no thread, and a
    sync dependency costs a thread hop per request (under load, a wait for the GIL on each side)."""

    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden(T("a {role} may not do this; allowed: {items}",
                              role=user.role, items=', '.join(roles)))
        return user

    return check


Dispatcher = Annotated[User, Depends(require("dispatcher"))]
Overseer = Annotated[User, Depends(require("dispatcher", "auditor"))]


@router.get("/auth/locks", summary="Accounts locked now after failed sign-ins (dispatchers, auditors)")
def locks(user: Overseer, repo: Repo) -> list[dict[str, Any]]:
    return SignInGuard(repo.session).locks(clock.now())


@router.delete("/auth/locks/{username}", summary="Unlock an account locked after failed sign-ins (dispatchers)")
def unlock(username: str, user: Dispatcher, repo: Repo) -> dict[str, Any]:
    """Clears the account's failed sign-ins too; the unlock is logged with who did it."""
    was = SignInGuard(repo.session).unlock(username, user.username, clock.now())
    return {"username": username, "unlocked": was is not None, "was_locked_until": was.isoformat() if was else None}


@router.get("/auth/events", summary="The sign-in log: attempts, refusals, locks and unlocks (dispatchers, auditors)")
def sign_in_events(user: Overseer, repo: Repo, username: str | None = None,
                   limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[dict[str, Any]]:
    return SignInGuard(repo.session).events(username, limit)
