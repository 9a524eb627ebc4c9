"""What every `gateway` command shares: the console, the common options, settings and logging."""

from __future__ import annotations

import logging

import typer
from rich.console import Console

from gateway.config import Settings

console = Console()

DATABASE_URL = typer.Option(None, "--database-url", help="SQLAlchemy URL (env GATEWAY_DATABASE_URL)")
DATA_DIR = typer.Option(None, "--data-dir", help="Folder for the SQLite database (env GATEWAY_DATA_DIR)")


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
