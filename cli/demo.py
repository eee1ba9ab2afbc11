"""`gridgov demo`: build the demo county, load it into an embedded SQLite file and serve it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cases import clock
from cli.common import console, run, say, serve, settings_for
from gis.demo import DemoCounty, build_demo_county
from gis.errors import Conflict
from i18n import T, Text
from i18n.units import term
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
            step = progress.add_task(T("migrating the schema").render(), total=None)
            upgrade(engine)
            progress.update(step, description=T("generating the demo county (seed {seed})", seed=seed).render())
            demo = build_demo_county(seed=seed, months=months)
            progress.update(step, description=T("storing units, teams, matters, rules and incidents").render())
            with transaction(session_factory(engine)) as session:
                repo = Repository(session)
                if repo.versions():
                    raise Conflict(T("the database already holds data; the demo needs an empty one "
                                     "(leave out --database-url to use the demo's own file)"))
                first = min(i.reported_at for i in demo.incidents).date() if demo.incidents else clock.today()
                counts = load_demo(repo, demo, effective_from=first.replace(day=1), second_county=second_county)
                progress.update(step, description=T("creating the demo accounts").render())
                accounts = demo_accounts(Users(session), demo)
                if second_county:
                    from gis.demo_neighbour import NEIGHBOUR_CODE

                    Users(session).add("dispatcher2", DEMO_PASSWORD, "dispatcher", county_code=NEIGHBOUR_CODE,
                                       display_name="demo dispatcher of 邻县")
                    accounts.append(("dispatcher2", "dispatcher", T("(county {code})", code=NEIGHBOUR_CODE).render()))
            progress.update(step, description=T("replaying the last fortnight as live cases").render())
            from etl.demo_cases import simulate_cases

            states = simulate_cases(session_factory(engine), demo, settings.work_calendar(), clock.now(),
                                    seed=seed)
        counts["live_case"] = sum(states.values())
        engine.dispose()
        say(T("other commands reach this database with --database-url {url} (or GRIDGOV_DATABASE_URL)",
              url=settings.resolved_database_url()))
        table = Table(title=T("demo accounts (password: {password}; POST /auth/token signs in)",
                              password=DEMO_PASSWORD).render())
        for column in (T("username"), T("role"), T("team")):
            table.add_column(column.render())
        for name, role, team in accounts:
            table.add_row(name, term("role", role).render(), team or "")
        console.print(table)
        print("demo " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())), flush=True)

    run(body)
    if serve_it:
        # Pages sign in with the demo accounts by themselves, so the wall opens populated.
        settings = settings.model_copy(update={"demo_sign_in": True})
        host, port = host or settings.host, port or settings.port
        for line in page_lines(f"http://{host}:{port}"):
            say(line)
        serve(settings, host, port)


def page_lines(base: str) -> list[Text]:
    """The closing lines of `gridgov demo`: every page a person opens, by name, with its address."""
    pages = [(T("map wall (command centre)"), "/wall"), (T("command centre big screen"), "/screen"),
             (T("dispatch console"), "/console"), (T("enforcement officer's page"), "/officer"),
             (T("grid worker's phone page"), "/phone"), (T("boundary planner"), "/planner"),
             (T("jurisdiction and dispute lookup"), "/dispute"),
             (T("indicators and annual publication"), "/indicators")]
    return [T("open the pages (each signs in with its demo account by itself):"),
            *(T("  {page}: {url}", page=name, url=base + path) for name, path in pages)]
