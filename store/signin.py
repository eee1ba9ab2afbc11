"""Sign-in protection: failed sign-ins counted per account name and per client address, in the database.

The counters live in `sign_in_guard` (not in a worker's memory) so every worker of `gridgov serve --workers N`
counts the same attempts; `sign_in_event` is the append-only log of attempts, locks and unlocks.

Policy (settings `GRIDGOV_SIGNIN_*`):
- An account name with `account_failures` failed sign-ins within `window` is locked for `lock`: every
  attempt is a 429 with `Retry-After`, whatever the password. A success resets the count. A dispatcher
  (`DELETE /auth/locks/{name}`) or `gridgov user unlock NAME` lifts a lock early. Names that match no
  account are counted and locked the same way, so the answers never tell which names exist.
- A client address with `address_failures` failed sign-ins within the window waits until the window ends
  (429 with `Retry-After`) — except for names that signed in successfully from that address in the last
  `KNOWN_DAYS`. That is the trade-off for an office behind one NAT address: an attacker there cannot keep
  the office's regular users out (their names are exempt from the address limit); they can still lock the
  accounts whose names they know, as anyone anywhere can, for `lock` minutes at a time; only names new to
  the address wait. The cost accepted: once the address's limit is used up, someone on it can tell which names
  signed in from it lately (their attempts are still checked, new names are refused).
- Attempts are reserved before the password is checked (the counters go up first, in a short transaction
  that locks the two counter rows), so a burst of parallel guesses cannot all pass the check before any is
  counted; a success gives its reservation back. The caller checks the password between the transactions,
  holding no connection during the scrypt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cases import clock
from i18n import T, Text
from store.schema import SignInEventRow, SignInGuardRow, UserRow

KNOWN_DAYS = 30  # a name that signed in from an address this recently is exempt from that address's limit
PRUNE_BATCH = 200


@dataclass(frozen=True)
class SignInPolicy:
    """Thresholds of the sign-in protection (from the settings)."""

    window: timedelta = timedelta(minutes=15)
    account_failures: int = 5
    lock: timedelta = timedelta(minutes=15)
    address_failures: int = 30

    @classmethod
    def from_settings(cls, settings: Any) -> SignInPolicy:
        """The policy the `GRIDGOV_SIGNIN_*` settings describe."""
        return cls(window=timedelta(minutes=settings.signin_window_minutes),
                   account_failures=settings.signin_account_failures,
                   lock=timedelta(minutes=settings.signin_lock_minutes),
                   address_failures=settings.signin_address_failures)


@dataclass(frozen=True)
class Refusal:
    """Why an attempt was not even checked, and how many seconds to wait."""

    message: Text
    retry_after: int


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))


class SignInGuard:
    """The counters, locks and log over one injected session (the caller owns the transaction)."""

    def __init__(self, session: Session, policy: SignInPolicy | None = None) -> None:
        self.session = session
        self.policy = policy or SignInPolicy()

    # -- the rows -----------------------------------------------------------------------------------
    def _locked_rows(self, username: str, client: str | None, now: datetime) -> tuple[
            SignInGuardRow, SignInGuardRow | None]:
        """The account's and the address's counter rows, created if missing and locked until commit.

        One upsert creates and locks them (a row lock on PostgreSQL, the write lock on SQLite), account first,
        so two sign-ins never wait for each other in opposite orders."""
        keys = [("account", username[:64])] + ([("address", client[:64])] if client else [])
        insert = pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        stmt = insert(SignInGuardRow).values(
            [{"scope": s, "key": k, "failures": 0, "window_start": now} for s, k in keys])
        self.session.execute(stmt.on_conflict_do_update(index_elements=["scope", "key"],
                                                        set_={"failures": SignInGuardRow.failures}))
        rows = {(r.scope, r.key): r for r in self.session.scalars(
            sa.select(SignInGuardRow).where(sa.tuple_(SignInGuardRow.scope, SignInGuardRow.key).in_(keys))
            .execution_options(populate_existing=True))}
        return rows[keys[0]], rows.get(keys[1]) if client else None

    def _fresh(self, row: SignInGuardRow, now: datetime) -> None:
        """Start a new window when the old one (or the lock) is over."""
        if row.locked_until is not None and row.locked_until <= now:
            row.locked_until, row.failures, row.window_start = None, 0, now
        if row.window_start + self.policy.window <= now:
            row.failures, row.window_start = 0, now

    def _log(self, username: str, client: str | None, outcome: str, actor: str, now: datetime,
             detail: str = "") -> None:
        self.session.add(SignInEventRow(at=now, username=username[:64], client=client[:64] if client else None,
                                        outcome=outcome, actor=actor[:64], detail=detail))

    def _known(self, username: str, client: str, now: datetime) -> bool:
        """Whether this name signed in successfully from this address recently."""
        return self.session.scalar(sa.select(SignInEventRow.id).where(
            SignInEventRow.username == username[:64], SignInEventRow.client == client[:64],
            SignInEventRow.outcome == "success", SignInEventRow.at >= now - timedelta(days=KNOWN_DAYS)).limit(1)) \
            is not None

    def _refused_lately(self, username: str | None, client: str | None, now: datetime) -> bool:
        """Whether this name (None: any name) was refused to this client in the last minute. The log keeps one
        refusal a minute per locked name and address, and one per throttled address, so a client hammering a
        lock cannot grow the append-only log without bound."""
        q = sa.select(SignInEventRow.id).where(
            SignInEventRow.outcome == "refused", SignInEventRow.at >= now - timedelta(minutes=1),
            SignInEventRow.client.is_(None) if client is None else SignInEventRow.client == client[:64])
        if username is not None:
            q = q.where(SignInEventRow.username == username[:64])
        return self.session.scalar(q.limit(1)) is not None

    # -- one sign-in ------------------------------------------------------------------------------
    def reserve(self, username: str, client: str | None, now: datetime) -> Refusal | None:
        """Count this attempt before its password is checked, or refuse it (logged) and say how long to wait."""
        now = clock.to_local(now)  # a naive time is the county's wall clock
        account, address = self._locked_rows(username, client, now)
        self._fresh(account, now)
        refusal = None
        by_account = True
        if account.locked_until is not None:
            wait = _seconds(account.locked_until - now)
            until = account.locked_until.strftime("%H:%M")
            refusal = Refusal(T("too many failed sign-ins for {username}: the account is locked until {until} (try "
                                "again in {minutes} min), or ask a dispatcher to unlock it", username=username,
                                until=until, minutes=(wait + 59) // 60), wait)
        elif account.failures >= self.policy.account_failures:  # the last allowed attempts are still running
            refusal = Refusal(T("too many failed sign-ins for {username}: try again in {minutes} min",
                                username=username, minutes=(_seconds(self.policy.lock) + 59) // 60),
                              _seconds(self.policy.lock))
        if address is not None:
            self._fresh(address, now)
            if (refusal is None and address.failures >= self.policy.address_failures
                    and not self._known(username, address.key, now)):
                wait = _seconds(address.window_start + self.policy.window - now)
                by_account = False
                refusal = Refusal(T("too many failed sign-ins from this address ({address}): try again in {minutes} "
                                    "min (accounts that signed in from here before are not held back)",
                                    address=address.key, minutes=(wait + 59) // 60), wait)
        if refusal is not None:
            if not self._refused_lately(username if by_account else None, client, now):
                self._log(username, client, "refused", username, now, str(refusal.message))
            return refusal
        account.failures += 1
        if address is not None:
            address.failures += 1
        return None

    def succeeded(self, username: str, client: str | None, now: datetime) -> None:
        """A right password: the account's count starts again and the address gets its reservation back."""
        now = clock.to_local(now)  # a naive time is the county's wall clock
        account, address = self._locked_rows(username, client, now)
        account.failures, account.window_start, account.locked_until = 0, now, None
        if address is not None:
            address.failures = max(0, address.failures - 1)
        self._log(username, client, "success", username, now)

    def failed(self, username: str, client: str | None, now: datetime) -> datetime | None:
        """A wrong name or password (already counted by `reserve`); locks the account at the threshold and
        returns until when."""
        now = clock.to_local(now)  # a naive time is the county's wall clock
        account, _ = self._locked_rows(username, client, now)
        self._log(username, client, "failure", username, now)
        if account.locked_until is None and account.failures >= self.policy.account_failures:
            account.locked_until = now + self.policy.lock
            self._log(username, client, "locked", "system", now,
                      f"{account.failures} failed sign-ins since {account.window_start:%Y-%m-%d %H:%M:%S}; "
                      f"locked until {account.locked_until:%Y-%m-%d %H:%M:%S}")
            return account.locked_until
        return None

    def prune(self, now: datetime) -> int:
        """Drop counter rows whose window is over and that hold no lock (they would start afresh anyway).

        Rows another transaction holds are skipped, never waited for (SKIP LOCKED on PostgreSQL)."""
        now = clock.to_local(now)  # a naive time is the county's wall clock
        stale = (sa.select(SignInGuardRow.scope, SignInGuardRow.key)
                 .where(SignInGuardRow.window_start < now - self.policy.window,
                        sa.or_(SignInGuardRow.locked_until.is_(None), SignInGuardRow.locked_until <= now))
                 .limit(PRUNE_BATCH).with_for_update(skip_locked=True))
        result = self.session.execute(sa.delete(SignInGuardRow).where(
            sa.tuple_(SignInGuardRow.scope, SignInGuardRow.key).in_(stale)))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # -- the command centre -----------------------------------------------------------------------
    def unlock(self, username: str, actor: str, now: datetime) -> datetime | None:
        """Lift an account's lock and clear its failures; returns until when it was locked (None: it was not)."""
        now = clock.to_local(now)  # a naive time is the county's wall clock
        row = self.session.scalars(sa.select(SignInGuardRow).where(
            SignInGuardRow.scope == "account", SignInGuardRow.key == username[:64]).with_for_update()).first()
        if row is None:
            return None
        was = row.locked_until if row.locked_until is not None and row.locked_until > now else None
        if was is None and row.failures == 0:
            return None
        row.failures, row.window_start, row.locked_until = 0, now, None
        self._log(username, None, "unlocked", actor, now,
                  f"was locked until {was:%Y-%m-%d %H:%M:%S}" if was else "failed sign-ins cleared")
        return was

    def locks(self, now: datetime) -> list[dict[str, Any]]:
        """Accounts locked now, soonest to open first, with whether the name is a real account."""
        now = clock.to_local(now)  # a naive time is the county's wall clock
        rows = self.session.execute(
            sa.select(SignInGuardRow, UserRow.id).outerjoin(UserRow, UserRow.username == SignInGuardRow.key)
            .where(SignInGuardRow.scope == "account", SignInGuardRow.locked_until > now)
            .order_by(SignInGuardRow.locked_until, SignInGuardRow.key)).all()
        return [{"username": g.key, "locked_until": g.locked_until.isoformat(), "failures": g.failures,
                 "account_exists": uid is not None} for g, uid in rows if g.locked_until is not None]

    def events(self, username: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest sign-in events (of one name), newest first."""
        q = sa.select(SignInEventRow).order_by(SignInEventRow.id.desc()).limit(limit)
        if username is not None:
            q = q.where(SignInEventRow.username == username)
        return [{"at": e.at.isoformat(), "username": e.username, "client": e.client, "outcome": e.outcome,
                 "actor": e.actor, "detail": e.detail} for e in self.session.scalars(q)]
