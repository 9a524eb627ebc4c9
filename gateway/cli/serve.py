"""`gateway serve`, `gateway worker` and `gateway db`: running the service and its database."""

from __future__ import annotations

import asyncio
import logging
import signal

import typer
import uvicorn

from gateway.cli.common import DATA_DIR, DATABASE_SETTINGS, DATABASE_URL, configure_logging, errors, settings_help
from gateway.config import Settings, load_settings

LOOPBACK = ("127.0.0.1", "::1", "localhost")
db_app = typer.Typer(help="Database schema", no_args_is_help=True)


def serve(
    host: str = typer.Option(None, metavar="ADDRESS", help="Bind address (default: 127.0.0.1)"),
    port: int = typer.Option(None, metavar="PORT", help="Port (default: 8080)"),
    database_url: str = DATABASE_URL,
    data_dir: str = DATA_DIR,
    worker: bool = typer.Option(None, "--worker/--no-worker", help="Run the delivery worker in this process"),
    insecure_no_auth: bool = typer.Option(
        None, "--insecure-no-auth", help="Serve without authentication (loopback addresses only)"
    ),
) -> None:
    """Run the gateway (FHIR API, plans, messages) with uvicorn; creates and migrates the database on start."""
    from gateway.api import create_app
    from gateway.security.masking import install_privacy_filter
    from gateway.store.connect import open_database, upgrade_reporting

    settings = load_settings(
        host=host,
        port=port,
        database_url=database_url,
        data_dir=data_dir,
        worker_enabled=worker,
        insecure_no_auth=insecure_no_auth,
    )
    configure_logging(settings)
    install_privacy_filter()
    if settings.insecure_no_auth:
        if settings.host not in LOOPBACK:
            errors.print(f"Error: --insecure-no-auth is refused on {settings.host}: bind to 127.0.0.1 or ::1")
            raise typer.Exit(2)
        logging.getLogger("gateway.security").warning(
            "AUTHENTICATION IS OFF (--insecure-no-auth): anyone who can reach %s:%s reads and writes everything",
            settings.host,
            settings.port,
        )
    _check_directory(settings)
    engine = open_database(settings.effective_database_url(), create=True)
    typer.echo(f"gateway: {upgrade_reporting(engine)}")
    application = create_app(settings, engine=engine, migrate=False, run_worker=settings.worker_enabled)
    typer.echo(
        f"gateway: FHIR base http://{settings.host}:{settings.port}/fhir, delivery worker "
        f"{'on' if settings.worker_enabled else 'off'}"
    )
    uvicorn.run(application, host=settings.host, port=settings.port, log_level=settings.log_level)


def run_worker(database_url: str = DATABASE_URL, data_dir: str = DATA_DIR) -> None:
    """Run only the delivery worker (for a deployment that separates intake from delivery); migrates on start."""
    from gateway.clock import SystemClock, UuidSource
    from gateway.delivery.outbox_sql import SqlOutbox
    from gateway.services.delivery import build_worker, delivery_audit, http_client
    from gateway.store.connect import open_database, upgrade_reporting

    settings = load_settings(database_url=database_url, data_dir=data_dir)
    configure_logging(settings)
    engine = open_database(settings.effective_database_url(), create=True)
    typer.echo(f"gateway worker: {upgrade_reporting(engine)}")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with http_client(settings) as client:
            clock, ids = SystemClock(), UuidSource()
            outbox = SqlOutbox(engine, on_attempt=delivery_audit(clock, ids))
            await build_worker(outbox, client, settings, clock, ids).run(stop)

    typer.echo("gateway worker: delivering; Ctrl-C stops after the current send")
    asyncio.run(main())


@db_app.command("upgrade", epilog=settings_help(*DATABASE_SETTINGS))
def db_upgrade(database_url: str = DATABASE_URL, data_dir: str = DATA_DIR) -> None:
    """Create or migrate the database schema to the newest version, and say which it did."""
    from gateway.store.connect import open_database, upgrade_reporting

    settings = load_settings(database_url=database_url, data_dir=data_dir)
    typer.echo(upgrade_reporting(open_database(settings.effective_database_url(), create=True)))


def _check_directory(settings: Settings) -> None:
    """A recipient directory that cannot be read stops the start, rather than failing every discharge later; one
    that does not exist (yet: it is re-read when it changes) is said at start."""
    from gateway.delivery.directory import RecipientDirectory

    path = settings.effective_directory_file()
    if path is None:
        typer.echo("gateway: no recipient directory (GATEWAY_DIRECTORY_FILE): discharges are refused until one is set")
    elif not path.is_file():
        typer.echo(f"gateway: the recipient directory {path} does not exist yet: discharges are refused until it does")
    else:
        RecipientDirectory.from_file(path)
