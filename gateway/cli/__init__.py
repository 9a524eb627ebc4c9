"""The `gateway` command line (typer). Commands call the same services as the API; one module per command group."""

from __future__ import annotations

import typer

from gateway.cli.access import LOCAL_ADMIN, clients_app, token_app
from gateway.cli.convert import convert_files
from gateway.cli.files import read_fhir_file, validate_files
from gateway.cli.fixtures import fixtures_app
from gateway.cli.messages import messages_app
from gateway.cli.serve import db_app, run_worker, serve

__all__ = ["LOCAL_ADMIN", "app", "main", "read_fhir_file"]

app = typer.Typer(help="Care-plan interoperability gateway", no_args_is_help=True, add_completion=False)
app.command()(serve)
app.command("worker")(run_worker)
app.command("validate")(validate_files)
app.command("convert")(convert_files)
app.add_typer(db_app, name="db")
app.add_typer(fixtures_app, name="fixtures")
app.add_typer(messages_app, name="messages")
app.add_typer(token_app, name="token")
app.add_typer(clients_app, name="clients")


def main() -> None:
    app()
