"""The `gateway` command line (typer). Commands call the same services as the API; one module per command group.

`main` is the one place a failure turns into what a person reads: an `IssueError` (a bad database URL, a missing
database, a refused key, an unreadable registry, ...) prints its diagnostics as one line each and exits 1; the
traceback only with `gateway --debug ...`. Tracebacks are plain Python ones (typer's "pretty" ones print local
variables, and a database URL's password is one).
"""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError

from gateway import __version__
from gateway.cli.access import LOCAL_ADMIN, clients_app, token_app
from gateway.cli.common import CONVERT_SETTINGS, DATABASE_SETTINGS, WORKER_SETTINGS, errors, settings_help
from gateway.cli.convert import convert_files
from gateway.cli.files import read_fhir_file, validate_files
from gateway.cli.fixtures import fixtures_app
from gateway.cli.messages import messages_app
from gateway.cli.pages import sign_in_link
from gateway.cli.serve import db_app, run_worker, serve
from mappings.issues import IssueError

__all__ = ["LOCAL_ADMIN", "app", "main", "read_fhir_file"]

app = typer.Typer(
    help="Care-plan interoperability gateway: shared citizen plans as FHIR R4, MedCom discharge notices, "
    "fixture receivers and a profile validator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command(epilog=settings_help())(serve)
app.command("worker", epilog=settings_help(*DATABASE_SETTINGS, *WORKER_SETTINGS))(run_worker)
app.command("validate")(validate_files)
app.command("convert", epilog=settings_help(*DATABASE_SETTINGS, *CONVERT_SETTINGS))(convert_files)
app.command("sign-in-link")(sign_in_link)
app.add_typer(db_app, name="db")
app.add_typer(fixtures_app, name="fixtures")
app.add_typer(messages_app, name="messages")
app.add_typer(token_app, name="token")
app.add_typer(clients_app, name="clients")


class _Run:
    debug = False


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"gateway {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit"
    ),
    debug: bool = typer.Option(False, "--debug", help="On failure, print the whole traceback, not one line"),
) -> None:
    _Run.debug = debug


def main() -> None:
    """The `gateway` entry point: the command, and one line per problem when it fails."""
    try:
        app()
    except IssueError as error:
        if _Run.debug:
            raise
        for issue in error.issues:
            errors.print(f"Error: {' '.join(issue.diagnostics.split())}", markup=False, soft_wrap=True)
        sys.exit(1)
    except ValidationError as error:  # a setting (GATEWAY_..., gateway.toml) the gateway cannot run with
        if _Run.debug:
            raise
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"])
            said = f"setting {where}: {problem['msg']}" if where else f"settings: {problem['msg']}"
            errors.print(f"Error: {' '.join(said.split())}", markup=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 - the CLI entry point: anything else is a bug, said in one line
        if _Run.debug:
            raise
        reason = " ".join(str(error).split()) or type(error).__name__
        errors.print(
            f"Error: {type(error).__name__}: {reason} (a bug; `gateway --debug ...` prints the traceback)",
            markup=False,
            soft_wrap=True,
        )
        sys.exit(1)
