"""The `gateway` command line (typer). Commands call the same services as the API."""

from __future__ import annotations

import logging

import typer
import uvicorn

from gateway.config import load_settings

app = typer.Typer(help="Care-plan interoperability gateway", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command()
def serve(
    host: str = typer.Option(None, help="Bind address (default 127.0.0.1; env GATEWAY_HOST)"),
    port: int = typer.Option(None, help="Port (default 8080; env GATEWAY_PORT)"),
    database_url: str = typer.Option(None, "--database-url", help="SQLAlchemy URL (env GATEWAY_DATABASE_URL)"),
    data_dir: str = typer.Option(None, "--data-dir", help="Folder for the SQLite database (env GATEWAY_DATA_DIR)"),
) -> None:
    """Run the gateway (FHIR API) with uvicorn; creates and migrates the database on start."""
    from gateway.api import create_app

    settings = load_settings(host=host, port=port, database_url=database_url, data_dir=data_dir)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    application = create_app(settings)
    typer.echo(
        f"gateway: FHIR base http://{settings.host}:{settings.port}/fhir, database "
        f"{application.state.engine.url.render_as_string(hide_password=True)}"
    )
    uvicorn.run(application, host=settings.host, port=settings.port, log_level=settings.log_level)


@db_app.command("upgrade")
def db_upgrade(
    database_url: str = typer.Option(None, "--database-url", help="SQLAlchemy URL (env GATEWAY_DATABASE_URL)"),
) -> None:
    """Create or migrate the database schema to the newest version."""
    from gateway.store.database import make_engine, upgrade

    settings = load_settings(database_url=database_url)
    upgrade(make_engine(settings.effective_database_url()))
    typer.echo("database schema is current")


def main() -> None:
    app()
