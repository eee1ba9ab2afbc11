"""Users, password hashes (scrypt, a memory-hard KDF) and API tokens (stored only as SHA-256 hashes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cases import clock
from gis.errors import Conflict, InvalidInput, NotFound, Unauthorized
from i18n import T
from store.epochs import SharedEpochs
from store.schema import TeamRow, TokenRow, UnitRow, UserRow

ROLES = ("grid_worker", "team_member", "dispatcher", "planner", "auditor")
TEAM_ROLES = ("grid_worker", "team_member")  # roles whose scope is one team
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash`, salt and hash base64."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of a password against a stored hash."""
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


# Unknown and disabled names are checked against this hash (same scrypt cost as a real one; no password
# matches an all-zero digest), so a wrong name takes as long to refuse as a wrong password.
DUMMY_HASH = (f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${base64.b64encode(bytes(16)).decode()}"
              f"${base64.b64encode(bytes(32)).decode()}")


def password_matches(password: str, stored: str | None) -> bool:
    """`verify_password`, running the same scrypt against a dummy hash when there is no account."""
    matches = verify_password(password, stored if stored is not None else DUMMY_HASH)
    return matches and stored is not None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class User:
    """A signed-in person or device."""

    id: int
    username: str
    display_name: str
    role: str
    team_code: str | None
    county_code: str | None = None  # limited to one county's cases (several counties in one deployment)
    language: str | None = None  # preferred language of pages and answers (None: the browser's, the setting)


def _user(row: UserRow) -> User:
    return User(row.id, row.username, row.display_name, row.role, row.team_code, row.county_code, row.language)


class Users:
    """Accounts and tokens through one injected session (the caller owns the transaction)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, username: str, password: str, role: str, *, team_code: str | None = None,
            display_name: str | None = None, county_code: str | None = None) -> User:
        """Create an account; team roles need a known team; `county_code` limits it to one county's cases."""
        if role not in ROLES:
            raise InvalidInput(T("unknown role {role}; roles: {items}", role=repr(role), items=', '.join(ROLES)),
                               where="role")
        if len(password) < MIN_PASSWORD:
            raise InvalidInput(T("password too short: at least {MIN_PASSWORD} characters",
                                 MIN_PASSWORD=MIN_PASSWORD), where="password")
        if role in TEAM_ROLES and not team_code:
            raise InvalidInput(T("a {role} belongs to a team: give team_code", role=role), where="team_code")
        if team_code and self.session.scalar(sa.select(TeamRow.id).where(TeamRow.code == team_code)) is None:
            raise InvalidInput(T("unknown team code {team_code}", team_code=team_code), where="team_code")
        if county_code is not None and self.session.scalar(sa.select(UnitRow.id).where(
                UnitRow.code == county_code, UnitRow.layer == "county").limit(1)) is None:
            raise InvalidInput(T("unknown county code {county_code}; `gridgov version list` and GET "
                                 "/units?layer=county show the counties", county_code=county_code), where="county_code")
        if self.session.scalar(sa.select(UserRow.id).where(UserRow.username == username)) is not None:
            raise Conflict(T("user {username} already exists", username=username), where="username")
        row = UserRow(username=username, display_name=display_name or username, role=role, team_code=team_code,
                      county_code=county_code,
                      password_hash=hash_password(password), active=True, created_at=clock.now())
        self.session.add(row)
        self.session.flush()
        return _user(row)

    def password_hash(self, username: str) -> tuple[User | None, str | None]:
        """The active account by this name and its stored hash, or (None, None): for `password_matches`."""
        row = self.session.scalars(sa.select(UserRow).where(UserRow.username == username)).first()
        if row is None or not row.active:
            return None, None
        return _user(row), row.password_hash

    def set_language(self, username: str, language: str | None) -> User:
        """Keep a user's preferred language (zh-CN or en; None: follow the browser and the setting)."""
        from i18n import LANGUAGES, normalize

        if language is not None and normalize(language) not in LANGUAGES:
            raise InvalidInput(T("unknown language {language}; choose zh-CN or en", language=language),
                               where="language", code="unknown_language")
        row = self.session.scalars(sa.select(UserRow).where(UserRow.username == username)).first()
        if row is None:
            raise NotFound(T("no user {username}", username=username))
        row.language = normalize(language)
        self.session.flush()
        return _user(row)

    def get(self, username: str) -> User:
        """One account by name."""
        row = self.session.scalars(sa.select(UserRow).where(UserRow.username == username)).first()
        if row is None:
            raise NotFound(T("no user {username}", username=username))
        return _user(row)

    def _issue(self, user_id: int, kind: str, name: str, ttl: timedelta | None) -> tuple[str, datetime | None]:
        token = secrets.token_urlsafe(32)
        now = clock.now()
        expires = now + ttl if ttl is not None else None
        self.session.add(TokenRow(user_id=user_id, token_hash=_token_hash(token), kind=kind, name=name,
                                  created_at=now, expires_at=expires))
        self.session.flush()
        return token, expires

    def sign_in(self, username: str, password: str, ttl: timedelta) -> tuple[str, datetime | None]:
        """A session token for a correct password (the same message for unknown users and wrong passwords)."""
        row = self.session.scalars(sa.select(UserRow).where(UserRow.username == username)).first()
        if not password_matches(password, row.password_hash if row is not None else None) or not row or not row.active:
            raise Unauthorized(T("wrong username or password"), code="wrong_credentials")
        return self._issue(row.id, "session", "sign-in", ttl)

    def session_token(self, user: User, ttl: timedelta) -> tuple[str, datetime | None]:
        """A sign-in token for an account whose password was checked already."""
        return self._issue(user.id, "session", "sign-in", ttl)

    def device_token(self, username: str, name: str, ttl: timedelta | None = None) -> str:
        """A long-lived API token for a device (a phone, an Open311 client)."""
        user = self.get(username)
        return self._issue(user.id, "device", name, ttl)[0]

    def revoke(self, token: str) -> None:
        """Revoke a token (sign out)."""
        row = self.session.scalars(sa.select(TokenRow).where(TokenRow.token_hash == _token_hash(token))).first()
        if row is not None:
            row.revoked_at = clock.now()

    def authenticate(self, token: str) -> User:
        """The user behind a bearer token, or Unauthorized saying why."""
        return self.check(token)[0]

    def check(self, token: str) -> tuple[User, datetime | None]:
        """`authenticate`, with when the token expires (None: never): what `TokenCache` keeps."""
        row = self.session.execute(
            sa.select(TokenRow, UserRow).join(UserRow, UserRow.id == TokenRow.user_id)
            .where(TokenRow.token_hash == _token_hash(token))).first()
        if row is None:
            raise Unauthorized(T("unknown token: sign in again (POST /auth/token)"), code="unknown_token")
        tok, user = row
        if tok.revoked_at is not None:
            raise Unauthorized(T("this token was revoked: sign in again"), code="token_revoked")
        if tok.expires_at is not None and tok.expires_at <= clock.now():
            raise Unauthorized(T("this token expired: sign in again (POST /auth/token)"), code="token_expired")
        if not user.active:
            raise Unauthorized(T("this account is disabled"), code="account_disabled")
        return _user(user), tok.expires_at


class TokenCache:
    """A worker's memory of tokens it checked: the user, until the token expires, while no process on this host
    changed an account or a token (`SharedEpochs` "auth") and for at most `recheck_s` (changes it cannot see).
    Keyed by the token's hash; failures are never kept. Without shared counters it keeps nothing."""

    def __init__(self, epochs: SharedEpochs | None, recheck_s: float, size: int = 20_000) -> None:
        self.epochs = epochs if recheck_s > 0 else None
        self.recheck_s = recheck_s
        self.size = size
        self._users: OrderedDict[str, tuple[bytes, float, datetime | None, User]] = OrderedDict()
        self._lock = threading.Lock()

    def epoch(self) -> bytes:
        """The counter to file a check under: read it *before* the database (store/epochs.py says why)."""
        return self.epochs.read("auth") if self.epochs is not None else b""

    def get(self, token: str) -> User | None:
        """The user, if a check of this token still holds; None: ask the database."""
        if self.epochs is None:
            return None
        found = self._users.get(_token_hash(token))
        if found is None:
            return None
        epoch, checked, expires, user = found
        if (epoch != self.epochs.read("auth") or time.monotonic() - checked > self.recheck_s
                or (expires is not None and expires <= clock.now())):
            return None
        return user

    def put(self, token: str, epoch: bytes, user: User, expires: datetime | None) -> None:
        """Keep a successful check filed under the counter read before it."""
        if self.epochs is None:
            return
        key = _token_hash(token)
        with self._lock:
            self._users[key] = (epoch, time.monotonic(), expires, user)
            self._users.move_to_end(key)
            while len(self._users) > self.size:
                self._users.popitem(last=False)
