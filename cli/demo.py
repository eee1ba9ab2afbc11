"""`gridgov demo`: build the demo county, load it into an embedded SQLite file and serve it."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cli.common import console, run, serve, settings_for
from gis.errors import Conflict
from store.db import make_engine, session_factory, transaction, upgrade
from store.repo import Repository


def demo_cmd(
    seed: Annotated[int, typer.Option(help="same seed, same county")] = 7,
    months: Annotated[int, typer.Option(help="months of simulated incidents")] = 4,
    serve_it: Annotated[bool, typer.Option("--serve/--no-serve", help="serve the API afterwards")] = True,
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
        from gis.demo import build_demo_county

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
                first = min(i.reported_at for i in demo.incidents).date() if demo.incidents else date.today()
                counts = load_demo(repo, demo, effective_from=first.replace(day=1))
        engine.dispose()
        console.print(f"other commands reach this database with [bold]--database-url "
                      f"{settings.resolved_database_url()}[/] (or GRIDGOV_DATABASE_URL)", highlight=False)
        print("demo " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())), flush=True)

    run(body)
    if serve_it:
        serve(settings, host or settings.host, port or settings.port)
