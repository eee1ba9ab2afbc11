"""The `gridgov` entry point: `route` and `route-file` start from a small app, everything else from `cli.main`.

`cli.main` imports every command's modules (the store, the web app's pieces, geopandas through etl) to build its
help; the two routing commands need none of that to start, so they skip it (module start-up well under 1 s).
"""

from __future__ import annotations

import sys

import typer

FAST = ("route", "route-file", "reattribute")


def main() -> None:
    """Dispatch on the first argument."""
    if len(sys.argv) > 1 and sys.argv[1] in FAST:
        from cli.common import use_language
        from cli.route import reattribute_cmd, route_cmd, route_file_cmd

        app = typer.Typer(help="GridGov routing commands.", no_args_is_help=True, pretty_exceptions_enable=False)

        @app.callback()
        def _speak(ctx: typer.Context) -> None:
            use_language(ctx)  # as cli.main does: GRIDGOV_LANGUAGE, zh-CN by default
        app.command("route")(route_cmd)
        app.command("route-file")(route_file_cmd)
        app.command("reattribute")(reattribute_cmd)
        app(prog_name="gridgov")
        return
    from cli.main import app as full

    full(prog_name="gridgov")


if __name__ == "__main__":
    main()
