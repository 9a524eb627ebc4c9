"""`gateway serve`, `gateway worker` and `gateway db`: running the service and its database."""

from __future__ import annotations

import asyncio
import logging
import signal

import typer
import uvicorn

from gateway import heap
from gateway.cli.common import (
    DATA_DIR,
    DATABASE_SETTINGS,
    DATABASE_URL,
    LOG_FORMAT,
    configure_logging,
    errors,
    settings_help,
)
from gateway.config import PUBLIC_PLAN_NAMESPACE, Settings, load_settings

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
    log_format: str = LOG_FORMAT,
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
        log_format=log_format,
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
    engine = open_database(settings.effective_database_url(), create=True, pool_size=settings.request_threads)
    if not settings.insecure_no_auth and settings.plan_id_namespace == PUBLIC_PLAN_NAMESPACE:
        logging.getLogger("gateway.security").warning(
            "GATEWAY_PLAN_ID_NAMESPACE is the public default: anyone can derive a Patient id from a CPR number and "
            "a notice's MessageHeader id from an ADT's MSH-10; set a secret UUID of your own before real use"
        )
    typer.echo(f"gateway: {upgrade_reporting(engine)}")
    application = create_app(settings, engine=engine, migrate=False, run_worker=settings.worker_enabled)
    typer.echo(
        f"gateway: FHIR base http://{settings.host}:{settings.port}/fhir, delivery worker "
        f"{'on' if settings.worker_enabled else 'off'}"
    )
    heap.settle_gateway()  # what start-up made lives as long as the process: kept out of the full collections
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # our handler (text or JSON, with the request id): configure_logging above
        proxy_headers=True,  # the client address behind a trusted proxy: the failed-login limit is per source
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=int(settings.delivery_timeout_seconds) + 5,  # SIGTERM: requests in flight finish
    )


def run_worker(
    database_url: str = DATABASE_URL,
    data_dir: str = DATA_DIR,
    log_format: str = LOG_FORMAT,
    metrics_port: int = typer.Option(
        None, "--metrics-port", metavar="PORT", help="Serve Prometheus metrics on this port"
    ),
) -> None:
    """Run only the delivery worker (for a deployment that separates intake from delivery; run several); migrates
    on start."""
    from prometheus_client import start_http_server

    from gateway.clock import SystemClock, UuidSource
    from gateway.delivery.outbox_sql import SqlOutbox
    from gateway.security.masking import install_privacy_filter
    from gateway.services.delivery import build_worker, delivery_audit, http_client
    from gateway.services.metrics import Metrics
    from gateway.store.connect import open_database, upgrade_reporting

    settings = load_settings(database_url=database_url, data_dir=data_dir, log_format=log_format)
    configure_logging(settings)
    install_privacy_filter()
    engine = open_database(settings.effective_database_url(), create=True, pool_size=4)  # one send, a few reads
    typer.echo(f"gateway worker: {upgrade_reporting(engine)}")
    clock, ids, metrics = SystemClock(), UuidSource(), Metrics()
    if metrics_port:
        metrics.watch_outbox(engine, clock)
        start_http_server(metrics_port, addr=settings.host, registry=metrics.registry)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)  # drain: the send in progress is finished and recorded
        async with http_client(settings) as client:
            outbox = SqlOutbox(engine, on_attempt=delivery_audit(clock, ids))
            await build_worker(outbox, client, settings, clock, ids, observe=metrics.observe_attempt).run(stop)

    typer.echo("gateway worker: delivering; Ctrl-C or SIGTERM stops after the current send")
    heap.settle()  # the worker validates nothing: no profiles to compile first
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
