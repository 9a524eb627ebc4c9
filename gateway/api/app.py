"""`create_app`: the FastAPI application, with collaborators passed in (no work at import time)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy import Engine

from gateway import __version__, web
from gateway.api import error_handlers, fhir, intake, messages, operations, plans, validation
from gateway.api.formats import FhirFormats
from gateway.api.limits import BodySizeLimit
from gateway.api.request_id import RequestIdMiddleware
from gateway.api.security import Authorities
from gateway.clock import Clock, IdSource, SecretSource, SystemClock, SystemSecrets, UuidSource
from gateway.config import Settings
from gateway.delivery.outbox_sql import SqlOutbox
from gateway.fhir.interactions import FhirService, Paging
from gateway.fhir.write_validation import ProfileWriteValidator
from gateway.inbound import Limits
from gateway.security.masking import install_privacy_filter
from gateway.services.attachments import Assembly
from gateway.services.delivery import MessageService, build_worker, delivery_audit, directory_file, http_client
from gateway.services.intake import IntakeService, NoticeCheck
from gateway.services.metrics import Metrics
from gateway.services.parsing import parsing, stop_pools
from gateway.services.plan_history import PlanHistory
from gateway.services.plan_sharing import PlanWriteHooks
from gateway.services.plans import PlanService
from gateway.store.database import make_engine, upgrade
from gateway.store.held import SqlHoldingArea
from gateway.store.search_params import SUPPORTED_TYPES
from gateway.store.sql import SqlResourceStore
from gateway.validation import default_validator
from gateway.web import PlanNarrator
from mappings.issues import Issue
from mappings.plan import PlanContext


def profile_check(message: dict[str, Any]) -> Sequence[Issue]:
    """Every notice is validated against its MedCom profiles before it may enter the outbox (issue 5)."""
    return default_validator().validate(message).issues


def timed(check: NoticeCheck, metrics: Metrics) -> NoticeCheck:
    """`check`, its time per notice observed as `gateway_validation_seconds`."""

    def run(message: dict[str, Any]) -> Sequence[Issue]:
        with metrics.validation_seconds.time():
            return check(message)

    return run


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    ids: IdSource | None = None,
    secrets: SecretSource | None = None,
    migrate: bool = True,
    run_worker: bool = False,
) -> FastAPI:
    """The gateway application. `run_worker` starts the delivery worker with the app's lifespan (`serve`)."""
    engine = engine or make_engine(settings.effective_database_url(), pool_size=settings.request_threads)
    if migrate:
        upgrade(engine)
    clock = clock or SystemClock()
    ids = ids or UuidSource()
    metrics = Metrics()
    metrics.watch_outbox(engine, clock)
    app = FastAPI(
        lifespan=_lifespan(settings, engine, clock, ids, metrics, run_worker),
        title="Care-plan interoperability gateway",
        version=__version__,
        description="FHIR R4 store for shared citizen plans (CarePlan, CareTeam, Consent) and MedCom notices.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.clock = clock
    app.state.metrics = metrics
    app.state.fhir = FhirService(
        SqlResourceStore(engine, clock),
        clock,
        ids,
        Paging(settings.default_page_size, settings.max_page_size),
        ProfileWriteValidator(
            default_validator(), SUPPORTED_TYPES, referential_integrity=settings.enforce_referential_integrity
        ),
        multiple_delete=settings.multiple_delete,
    )
    app.state.authorities = Authorities.build(settings, app.state.fhir.store, clock, ids)
    app.state.plans = PlanService(
        app.state.fhir, PlanContext(base=settings.canonical_base, id_namespace=settings.plan_id_namespace)
    )
    check = timed(profile_check, metrics)
    app.state.messages = MessageService(engine, clock, ids, check=check)
    app.state.assembly = Assembly(SqlHoldingArea(engine), timedelta(seconds=settings.xbin01_wait_seconds))
    app.state.intake = IntakeService(
        app.state.plans,
        app.state.messages.outbox,
        directory_file(settings.effective_directory_file()),
        clock,
        ids,
        limits=Limits(max_bytes=settings.max_body_bytes),
        check=check,
        citizen_namespace=settings.plan_id_namespace,
        assembly=app.state.assembly,
        parsing=parsing(settings.intake_processes, settings.intake_time_budget_seconds),
        header_namespace=settings.header_namespace(),
    )
    app.state.plans.hooks = PlanWriteHooks(
        PlanHistory(app.state.fhir, app.state.plans.context),
        app.state.messages.outbox,
        app.state.intake.directory,
        clock,
        ids,
        narrate=PlanNarrator(app.state.plans.context),
        render_pdf=web.plan_pdf_bytes(clock),
        citizen_key=app.state.intake.citizen_key,
        check=profile_check,
        header_namespace=settings.header_namespace(),
    )
    registry_file = app.state.authorities.registry_file
    web.install(
        app,
        settings,
        plans=app.state.plans,
        outbox=app.state.messages.outbox,
        citizen_key=app.state.intake.citizen_key,
        registry=registry_file,
        clock=clock,
        ids=ids,
        secrets=secrets or SystemSecrets(),
    )
    error_handlers.install(app)
    app.include_router(operations.router)
    app.include_router(intake.router)  # before /fhir/{type}: `$process-message` is not a resource type
    app.include_router(validation.router)  # likewise `$validate`
    app.include_router(fhir.router)
    app.include_router(plans.router)
    app.include_router(messages.router)
    app.add_middleware(FhirFormats)  # inside the size limit: nothing over it is parsed as XML
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware, new_id=ids.new_id)
    return app


def _lifespan(
    settings: Settings, engine: Engine, clock: Clock, ids: IdSource, metrics: Metrics, run_worker: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Background work while the app serves: the delivery worker (`serve`) and the failed-login audit flush.

    Shutdown (uvicorn's SIGTERM: no new connections, requests in flight answered first) drains: the worker
    finishes and records the send in progress, the failed logins counted so far are audited."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_privacy_filter()  # after uvicorn configured its loggers: no CPR number reaches a log line
        size_thread_pools(settings.request_threads, settings.request_concurrency)
        stop = asyncio.Event()
        observer = f"http://{settings.host}:{settings.port}/"
        authorities: Authorities = app.state.authorities
        tasks = [asyncio.create_task(_every(10.0, stop, authorities.flush_failed_logins, observer), name="audit")]
        async with http_client(settings) as client:
            if run_worker:
                outbox = SqlOutbox(engine, on_attempt=delivery_audit(clock, ids))
                # Intake in this process rings the worker: a new notice is claimed at once, not at the next poll.
                wake = asyncio.Event()
                app.state.messages.outbox.on_enqueued = wake.set
                worker = build_worker(outbox, client, settings, clock, ids, observe=metrics.observe_attempt, wake=wake)
                tasks.append(asyncio.create_task(worker.run(stop), name="delivery-worker"))
                logging.getLogger("gateway.delivery").info("delivery worker started")
            try:
                yield
            finally:
                stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks), timeout=settings.delivery_timeout_seconds + 5)
                await asyncio.to_thread(authorities.flush_failed_logins, observer, everything=True)
                stop_pools()

    return lifespan


def size_thread_pools(threads: int, requests: int) -> None:
    """Requests' blocking work (Starlette's `run_in_threadpool`, FastAPI's sync dependencies: anyio's limiter, 40
    by default) runs `requests` at a time, in arrival order (`Settings.request_concurrency`); the process's other
    blocking work (`asyncio.to_thread`: the delivery worker, the outbox, the audit flush; the loop's default
    executor, min(32, cores + 4) by default: 6 here, which capped the outbox's concurrent transactions) gets
    `threads` threads, as many as the database pool has connections.

    Issue 18 measured 16 clients on 32 request threads at 1.5-2x the CPU per request of the same requests one at a
    time (`GET CarePlan/{id}` 0.46 → 1.14 ms, a search page 3.6 → 7.6 ms, in process on SQLite): every sqlite3 and
    psycopg call drops the GIL and the waiting threads take it in turn, a context switch per call. Taking turns
    per request instead, 2 at a time (1 was cheaper still, but a long request then held every short one back):
    per core, reads 511 → 568/s and a 20-plan search page 133 → 171/s on SQLite (bench/README.md)."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = requests
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(threads, thread_name_prefix="gateway"))


async def _every(seconds: float, stop: asyncio.Event, work: Callable[[str], int], observer: str) -> None:
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except TimeoutError:
            pass
        try:
            await asyncio.to_thread(work, observer)
        except Exception:  # a background chore must not end: log and try again next round
            logging.getLogger("gateway.security").exception("auditing failed logins failed; trying again")
