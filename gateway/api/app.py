"""`create_app`: the FastAPI application, with collaborators passed in (no work at import time)."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine

from gateway import __version__
from gateway.api import error_handlers, fhir
from gateway.api.limits import BodySizeLimit
from gateway.clock import Clock, IdSource, SystemClock, UuidSource
from gateway.config import Settings
from gateway.fhir.interactions import FhirService, Paging
from gateway.store.database import make_engine, upgrade
from gateway.store.sql import SqlResourceStore


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    ids: IdSource | None = None,
    migrate: bool = True,
) -> FastAPI:
    engine = engine or make_engine(settings.effective_database_url())
    if migrate:
        upgrade(engine)
    clock = clock or SystemClock()
    ids = ids or UuidSource()
    app = FastAPI(
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
    )
    error_handlers.install(app)
    app.include_router(fhir.router)

    @app.get("/health", tags=["operations"], summary="Liveness: the process answers and the database is reachable")
    def health() -> dict[str, str]:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return {"status": "ok"}

    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
