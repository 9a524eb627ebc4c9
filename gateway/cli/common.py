"""What every `gateway` command shares: the consoles, the common options, settings help, output and logging.

Output rules (issue 17): listings are plain aligned columns, never cut or wrapped to a width (a long line is the
terminal's to wrap; piped output stays whole for `grep` and `awk`), and every listing command takes `--json`.
Messages for people go to stderr, results to stdout.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import typer
from rich.console import Console

from gateway.config import Settings

console = Console()
errors = Console(stderr=True, highlight=False)

DATABASE_URL = typer.Option(
    None,
    "--database-url",
    metavar="URL",
    help="Database URL (default: SQLite in the data folder)",
)
DATA_DIR = typer.Option(
    None, "--data-dir", metavar="DIR", help="Data folder: SQLite database, keys, clients (default: gateway-data)"
)
JSON = typer.Option(False, "--json", help="Print JSON instead of columns")

#: The settings each kind of command reads, for its `--help` (all of them: `gateway serve --help`).
DATABASE_SETTINGS = ("data_dir", "database_url")
WORKER_SETTINGS = tuple(name for name in Settings.model_fields if name.startswith(("delivery_", "ack_", "log_")))
CONVERT_SETTINGS = ("directory_file", "canonical_base", "plan_id_namespace")


def settings_help(*names: str) -> str:
    """Help text (a typer epilog) listing settings `names` with their environment variable, meaning and default.

    Generated from `Settings`, so a command's help cannot drift from what it reads.
    """
    lines = ["Settings (environment variable, or the same key in gateway.toml; an option above wins):"]
    for name in names or tuple(Settings.model_fields):
        field = Settings.model_fields[name]
        default = "" if field.default is None else f" (default: {field.default})"  # None: the text says what
        lines.append(f"GATEWAY_{name.upper()}  {field.description or ''}{default}")
    return "\n\n".join(lines)


def print_rows(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Plain aligned columns with a header line; every value whole (ids are never cut)."""
    table = [list(headers)] + [["" if value is None else str(value) for value in row] for row in rows]
    widths = [max(len(row[column]) for row in table) for column in range(len(headers))]
    for row in table:
        typer.echo("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())


def print_json(value: Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
