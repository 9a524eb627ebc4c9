"""`create_app`: the FastAPI application, with collaborators passed in (no work at import time)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from gateway import __version__
from gateway.api import error_handlers, fhir, intake, messages, plans, validation
from gateway.api.limits import BodySizeLimit
from gateway.api.security import Authorities
from gateway.clock import Clock, IdSource, SystemClock, UuidSource
from gateway.config import Settings
from gateway.delivery.outbox_sql import SqlOutbox
from gateway.fhir.interactions import FhirService, Paging
from gateway.fhir.write_validation import ProfileWriteValidator
from gateway.inbound import Limits
from gateway.security.masking import install_privacy_filter
from gateway.services.delivery import MessageService, build_worker, delivery_audit, directory_file, http_client
from gateway.services.intake import IntakeService
from gateway.services.plans import PlanService
from gateway.store.database import make_engine, upgrade
from gateway.store.search_params import SUPPORTED_TYPES
from gateway.store.sql import SqlResourceStore
from gateway.validation import default_validator
from mappings.issues import Issue
from mappings.plan import PlanContext


def profile_check(message: dict[str, Any]) -> Sequence[Issue]:
    """Every notice is validated against its MedCom profiles before it may enter the outbox (issue 5)."""
    return default_validator().validate(message).issues


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    ids: IdSource | None = None,
    migrate: bool = True,
    run_worker: bool = False,
) -> FastAPI:
    """The gateway application. `run_worker` starts the delivery worker with the app's lifespan (`serve`)."""
    engine = engine or make_engine(settings.effective_database_url())
    if migrate:
        upgrade(engine)
    clock = clock or SystemClock()
    ids = ids or UuidSource()
    worker_clock, worker_ids = clock, ids

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        install_privacy_filter()  # after uvicorn configured its loggers: no CPR number reaches a log line
        if not run_worker:
            yield
            return
        stop = asyncio.Event()
        async with http_client(settings) as client:
            outbox = SqlOutbox(engine, on_attempt=delivery_audit(worker_clock, worker_ids))
            worker = build_worker(outbox, client, settings, worker_clock, worker_ids)
            task = asyncio.create_task(worker.run(stop), name="delivery-worker")
            logging.getLogger("gateway.delivery").info("delivery worker started")
            try:
                yield
            finally:
                stop.set()
                await asyncio.wait_for(task, timeout=settings.delivery_timeout_seconds + 5)

    app = FastAPI(
        lifespan=lifespan,
        title="Care-plan interoperability gateway",
        version=__version__,
        description="FHIR R4 store for shared citizen plans (CarePlan, CareTeam, Consent) and MedCom notices.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.fhir = FhirService(
        SqlResourceStore(engine, clock),
        clock,
        ids,
        Paging(settings.default_page_size, settings.max_page_size),
        ProfileWriteValidator(
            default_validator(), SUPPORTED_TYPES, referential_integrity=settings.enforce_referential_integrity
        ),
    )
    app.state.authorities = Authorities.build(settings, app.state.fhir.store, clock, ids)
    app.state.plans = PlanService(
        app.state.fhir, PlanContext(base=settings.canonical_base, id_namespace=settings.plan_id_namespace)
    )
    app.state.messages = MessageService(engine, clock)
    app.state.intake = IntakeService(
        app.state.plans,
        app.state.messages.outbox,
        directory_file(settings.effective_directory_file()),
        clock,
        ids,
        limits=Limits(max_bytes=settings.max_body_bytes),
        check=profile_check,
        citizen_namespace=settings.plan_id_namespace,
    )
    error_handlers.install(app)
    app.include_router(intake.router)  # before /fhir/{type}: `$process-message` is not a resource type
    app.include_router(validation.router)  # likewise `$validate`
    app.include_router(fhir.router)
    app.include_router(plans.router)
    app.include_router(messages.router)

    @app.get("/health", tags=["operations"], summary="Liveness: the process answers and the database is reachable")
    def health() -> dict[str, str]:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return {"status": "ok"}

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
