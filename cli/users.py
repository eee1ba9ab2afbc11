"""`gridgov user add|token|unlock`: accounts, device tokens and sign-in locks."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from cases import clock
from cli.common import DbUrl, repository, run
from store.signin import SignInGuard
from store.users import ROLES, Users

user_app = typer.Typer(help="User accounts and API tokens.", no_args_is_help=True)


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Option(help=", ".join(ROLES))],
    team: Annotated[str | None, typer.Option(help="team code (grid workers and team members)")] = None,
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    county: Annotated[str | None, typer.Option(help="limit the account to this county's cases (a county code)")] = None,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          envvar="GRIDGOV_NEW_PASSWORD")] = "",
    database_url: DbUrl = None,
) -> None:
    """Create an account; prints `created user=<name> role=<role>`."""

    def body() -> None:
        with repository(database_url) as repo:
            user = Users(repo.session).add(username, password, role, team_code=team, display_name=name,
                                           county_code=county)
        print(f"created user={user.username} role={user.role} team={user.team_code or ''} "
              f"county={user.county_code or ''}")

    run(body)


@user_app.command("token")
def user_token(
    username: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Option(help="what the token is for, e.g. the device")] = "device",
    database_url: DbUrl = None,
) -> None:
    """Issue a device API token (printed once; only its hash is stored)."""

    def body() -> None:
        with repository(database_url) as repo:
            token = Users(repo.session).device_token(username, name)
        print(token)

    run(body)


@user_app.command("unlock")
def user_unlock(
    username: Annotated[str, typer.Argument()],
    database_url: DbUrl = None,
) -> None:
    """Lift a lock after failed sign-ins (logged as cli:<login>); prints `unlocked user=<name> was_locked=…`."""

    def body() -> None:
        with repository(database_url) as repo:
            was = SignInGuard(repo.session).unlock(username, f"cli:{getpass.getuser()}", clock.now())
        print(f"unlocked user={username} was_locked={'true' if was else 'false'}"
              f"{' until=' + was.isoformat(timespec='seconds') if was else ''}")

    run(body)
