"""The `gridgov` entry point: `route` and `route-file` start from a small app, everything else from `cli.main`.

`cli.main` imports every command's modules (the store, the web app's pieces, geopandas through etl) to build its
help; the two routing commands need none of that to start, so they skip it (module start-up well under 1 s).
"""

from __future__ import annotations

import sys

FAST = ("route", "route-file", "reattribute")


def main() -> None:
    """Dispatch on the first argument."""
    if len(sys.argv) > 1 and sys.argv[1] in FAST:
        import typer

        from cli.route import reattribute_cmd, route_cmd, route_file_cmd

        app = typer.Typer(help="GridGov routing commands.", no_args_is_help=True, pretty_exceptions_enable=False)
        app.command("route")(route_cmd)
        app.command("route-file")(route_file_cmd)
        app.command("reattribute")(reattribute_cmd)
        app(prog_name="gridgov")
        return
    from cli.main import app as full

    full(prog_name="gridgov")


if __name__ == "__main__":
    main()
