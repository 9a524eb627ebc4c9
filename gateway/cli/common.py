"""What every `gateway` command shares: the console, the common options, settings and logging."""

from __future__ import annotations

import typer
from rich.console import Console

from gateway.config import Settings

console = Console()

DATABASE_URL = typer.Option(None, "--database-url", help="SQLAlchemy URL (env GATEWAY_DATABASE_URL)")
DATA_DIR = typer.Option(None, "--data-dir", help="Folder for the SQLite database (env GATEWAY_DATA_DIR)")


LOG_FORMAT = typer.Option(None, "--log-format", help="text or json (env GATEWAY_LOG_FORMAT)")


def configure_logging(settings: Settings) -> None:
    from gateway.logs import configure

    configure(settings.log_level, settings.log_format)
