"""Helpers every command shares: settings, the reader's language, one transaction per command, readable errors,
serving.

Every message a person reads is printed in the language of `GRIDGOV_LANGUAGE` (zh-CN by default, `en` on
request), set once per command (`use_language`). The one-line summaries scripts parse (`imported county=1 …`),
JSON and CSV columns are machine output and stay the same in every language, like the API's JSON keys.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from gis.errors import GridGovError, problem_text
from i18n import T, Text, language, negotiate, render

if TYPE_CHECKING:  # imported when a command needs them: `gridgov route-file --help` stays light
    from config import Settings
    from store.repo import Repository

DbUrl = Annotated[str | None, typer.Option("--database-url", help="overrides GRIDGOV_DATABASE_URL")]
VersionOpt = Annotated[int | None, typer.Option("--version", "-v", help="version id (default: newest draft)")]
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def cli_language() -> str:
    """The language the command speaks: GRIDGOV_LANGUAGE (or `.env`), zh-CN when unset or unknown."""
    from pydantic import ValidationError

    from config import get_settings

    try:
        asked: str | None = get_settings().language
    except ValidationError:  # another setting is wrong: the command says so, in the language asked for
        asked = os.environ.get("GRIDGOV_LANGUAGE")
    return negotiate(default=asked)


def use_language(ctx: typer.Context) -> None:
    """Speak the configured language until the command ends (the language is reset afterwards, so a test
    process that runs commands keeps its own)."""
    ctx.with_resource(language(cli_language()))


def say(message: str | Text, *, to: Console | None = None, style: str | None = None) -> None:
    """Print a message for a person in the reader's language (never read as rich markup)."""
    text = escape(render(message))
    (to or console).print(f"[{style}]{text}[/]" if style else text, highlight=False, soft_wrap=True)


def note(label: Text, message: str | Text, *, style: str = "yellow", to: Console | None = None) -> None:
    """`label message` on stderr (by default), the label styled: `error:`, `note:`, `repaired:` …"""
    (to or err).print(f"[{style}]{escape(render(label))}[/] {escape(render(message))}", highlight=False,
                      soft_wrap=True)


def error_line(exc: GridGovError) -> Text:
    """An error as a person reads it: where to look, then the message, in the reader's language."""
    return T("{where}: {message}", where=exc.where, message=exc.text) if exc.where else T("{message}",
                                                                                            message=exc.text)


def settings_for(database_url: str | None) -> Settings:
    """Settings with an optional database URL override; a bad setting (an unknown GRIDGOV_TIMEZONE …) is a
    message naming the variable and exit status 2, not a traceback."""
    from pydantic import ValidationError

    from config import get_settings

    try:
        return get_settings(database_url=database_url) if database_url else get_settings()
    except ValidationError as exc:
        for e in exc.errors():
            name = "GRIDGOV_" + "_".join(str(p) for p in e["loc"]).upper()
            why = problem_text(e)
            why = why.removeprefix("Value error, ") if isinstance(why, str) else why
            note(T("error:"), T("{name}: {problem}", name=name, problem=why), style="bold red")
        raise typer.Exit(2) from None


@contextmanager
def repository(database_url: str | None) -> Iterator[Repository]:
    """A migrated database and one transaction around the command; errors become a message and exit 2."""
    from store.db import make_engine, session_factory, transaction, upgrade
    from store.epochs import SharedEpochs
    from store.repo import Repository

    settings = settings_for(database_url)
    engine = make_engine(settings.resolved_database_url())
    _counters = SharedEpochs.in_dir(settings.data_dir)  # a change committed here reaches a running server's caches
    try:
        upgrade(engine)
        with transaction(session_factory(engine)) as session:
            yield Repository(session)
    finally:
        engine.dispose()


def run(action: Callable[[], Any]) -> Any:
    """Run a command body, turning GridGov errors into a readable message and exit status 2."""
    try:
        return action()
    except GridGovError as exc:
        note(T("error:"), error_line(exc), style="bold red")
        raise typer.Exit(2) from None


def serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Run uvicorn over the app for these settings, printing the URL to open.

    Workers are stateless (each compiles its own routers), so `workers` > 1 scales across cores.
    """
    from api.app import create_app
    from cli.http_protocol import GuardedHttpToolsProtocol
    from cli.serving import bind, bound_port, run_uvicorn

    # The port is bound and the app built (the database migrated) before anything is announced: a port in use
    # or a bad setting, such as a missing basemap file, is a message and exit status 2, not a traceback from
    # inside uvicorn after "serving on" (cli/serving.py).
    sock = run(lambda: bind(host, port))
    app = run(lambda: create_app(settings))
    url = f"http://{host}:{bound_port(sock)}/"
    say(T("GridGov is serving on {url} (API docs at /docs); Ctrl+C stops it", url=url))
    sys.stdout.flush()
    # Idle and slow clients are cut off (cli/http_protocol.py): headers, body silences, idle keep-alive.
    GuardedHttpToolsProtocol.configure(settings.header_timeout_seconds, settings.body_timeout_seconds)
    limits: dict[str, Any] = {"http": GuardedHttpToolsProtocol, "timeout_keep_alive": settings.keep_alive_seconds,
                              "log_level": "warning"}
    if workers > 1:
        # Worker processes build the app themselves from the environment: hand them the database and deadlines.
        os.environ["GRIDGOV_DATABASE_URL"] = settings.resolved_database_url()
        os.environ["GRIDGOV_HEADER_TIMEOUT_SECONDS"] = str(settings.header_timeout_seconds)
        os.environ["GRIDGOV_BODY_TIMEOUT_SECONDS"] = str(settings.body_timeout_seconds)
        app.state.engine.dispose()
        started = run_uvicorn("api.app:create_app", sock, factory=True, workers=workers, **limits)
    else:
        started = run_uvicorn(app, sock, **limits)
    if not started:
        raise typer.Exit(2)
