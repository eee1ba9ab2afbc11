"""`gridgov demo`: build the demo county, load it into an embedded SQLite file and serve it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cases import clock
from cli.common import console, run, serve, settings_for
from gis.demo import DemoCounty, build_demo_county
from gis.errors import Conflict
from store.db import make_engine, session_factory, transaction, upgrade
from store.repo import Repository
from store.users import Users

DEMO_PASSWORD = "gridgov-demo"  # a demo on loopback only; never a real deployment's password


def demo_accounts(users: Users, demo: DemoCounty) -> list[tuple[str, str, str | None]]:
    """One account per role so the demo can be tried end to end: report, dispatch, work, check, audit."""
    township = next(t for t in demo.teams if t.kind == "township_team")
    accounts: list[tuple[str, str, str | None]] = [
        ("dispatcher", "dispatcher", None), ("auditor", "auditor", None), ("planner", "planner", None),
        ("worker", "grid_worker", township.code), ("team", "team_member", township.code),
        ("bureau", "team_member", demo.fallback_team_code)]
    for name, role, team in accounts:
        users.add(name, DEMO_PASSWORD, role, team_code=team, display_name=f"demo {role}")
    return accounts


def demo_cmd(
    seed: Annotated[int, typer.Option(help="same seed, same county")] = 7,
    months: Annotated[int, typer.Option(help="months of simulated incidents")] = 4,
    serve_it: Annotated[bool, typer.Option("--serve/--no-serve", help="serve the API afterwards")] = True,
    second_county: Annotated[bool, typer.Option(
        "--second-county", help="add a neighbouring county (邻县) sharing the demo county's border exactly, "
                                "with its own bureau, township teams and a county-limited dispatcher")] = False,
    host: Annotated[str | None, typer.Option(help="default GRIDGOV_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default GRIDGOV_PORT")] = None,
    database_url: Annotated[str | None, typer.Option(help="default: <data_dir>/demo.sqlite, rebuilt")] = None,
) -> None:
    """Build a realistic demo county (deterministic from the seed), load it, serve it; prints the URL."""
    settings = settings_for(database_url)
    if database_url is None and settings.database_url is None:
        # The demo gets a file of its own, rebuilt every run, so it never mixes with real data.
        path = (settings.data_dir / "demo.sqlite").resolve()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        settings = settings.model_copy(update={"database_url": f"sqlite:///{path}"})

    def body() -> None:
        from etl.demo import load_demo  # the generator is only needed here

        engine = make_engine(settings.resolved_database_url())
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=console, transient=True) as progress:
            step = progress.add_task("migrating the schema", total=None)
            upgrade(engine)
            progress.update(step, description=f"generating the demo county (seed {seed})")
            demo = build_demo_county(seed=seed, months=months)
            progress.update(step, description="storing units, teams, matters, rules and incidents")
            with transaction(session_factory(engine)) as session:
                repo = Repository(session)
                if repo.versions():
                    raise Conflict("the database already holds data; the demo needs an empty one "
                                   "(leave out --database-url to use the demo's own file)")
                first = min(i.reported_at for i in demo.incidents).date() if demo.incidents else clock.today()
                counts = load_demo(repo, demo, effective_from=first.replace(day=1), second_county=second_county)
                progress.update(step, description="creating the demo accounts")
                accounts = demo_accounts(Users(session), demo)
                if second_county:
                    from gis.demo_neighbour import NEIGHBOUR_CODE

                    Users(session).add("dispatcher2", DEMO_PASSWORD, "dispatcher", county_code=NEIGHBOUR_CODE,
                                       display_name="demo dispatcher of 邻县")
                    accounts.append(("dispatcher2", "dispatcher", f"(county {NEIGHBOUR_CODE})"))
            progress.update(step, description="replaying the last fortnight as live cases")
            from etl.demo_cases import simulate_cases

            states = simulate_cases(session_factory(engine), demo, settings.work_calendar(), clock.now(),
                                    seed=seed)
        counts["live_case"] = sum(states.values())
        engine.dispose()
        console.print(f"other commands reach this database with [bold]--database-url "
                      f"{settings.resolved_database_url()}[/] (or GRIDGOV_DATABASE_URL)", highlight=False)
        table = Table(title=f"demo accounts (password: {DEMO_PASSWORD}; POST /auth/token signs in)")
        for column in ("username", "role", "team"):
            table.add_column(column)
        for name, role, team in accounts:
            table.add_row(name, role, team or "")
        console.print(table)
        print("demo " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())), flush=True)

    run(body)
    if serve_it:
        # Pages sign in with the demo accounts by themselves, so the wall opens populated.
        settings = settings.model_copy(update={"demo_sign_in": True})
        host, port = host or settings.host, port or settings.port
        console.print(f"open the map wall: [bold]http://{host}:{port}/wall[/]  (phone: /phone, planner: /planner, "
                      "disputes: /dispute)", highlight=False)
        serve(settings, host, port)
