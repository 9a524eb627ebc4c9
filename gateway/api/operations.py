"""Operations endpoints (no token: they carry no patient data): liveness, readiness, Prometheus metrics.

* `GET /health` — liveness: the process answers (it touches nothing else, so a slow database never gets a live
  process restarted by an orchestrator).
* `GET /ready` — readiness: the database answers and its schema is at this code's newest migration (an instance
  started before `gateway db upgrade` finished is not ready); 503 otherwise. It also reports the delivery lag:
  how long the longest-waiting deliverable notice has waited (`worker.lagSeconds`, "lagging" beyond
  `GATEWAY_READY_MAX_WORKER_LAG_SECONDS`) without failing on it: a lagging worker is no reason to stop taking
  messages in.
* `GET /metrics` — Prometheus text format (`gateway.services.metrics`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from gateway.delivery import outbox_queue
from gateway.store.database import schema_revision
from gateway.store.dates import format_instant

router = APIRouter(tags=["operations"])
PATHS = frozenset({"/health", "/ready", "/metrics"})


@router.get("/health", summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: database reachable, migrations current; reports the delivery lag",
    responses={503: {"description": "Not ready: the body says which check failed"}},
)
async def ready(request: Request) -> JSONResponse:
    report = await run_in_threadpool(_readiness, request.app.state)
    return JSONResponse(report, status_code=200 if report["status"] == "ready" else 503)


def _readiness(state: Any) -> dict[str, Any]:
    settings, engine, clock = state.settings, state.engine, state.clock
    try:
        current, newest = schema_revision(engine)
        if current != newest:
            migrations = f"at {current}, this code needs {newest}: run `gateway db upgrade`"
            return {"status": "not ready", "database": "reachable", "migrations": migrations}
        with engine.connect() as connection, connection.begin():
            oldest = outbox_queue.oldest_ready(connection)
    except SQLAlchemyError as error:
        return {"status": "not ready", "database": f"unreachable: {type(error).__name__}"}
    now = clock.now()
    lag = 0.0
    if oldest is not None and oldest <= format_instant(now):
        lag = (now - datetime.fromisoformat(oldest.replace("Z", "+00:00"))).total_seconds()
    return {
        "status": "ready",
        "database": "reachable",
        "migrations": "current",
        "worker": {
            "lagSeconds": round(lag, 3),
            "status": "lagging" if lag > settings.ready_max_worker_lag_seconds else "ok",
        },
    }


@router.get("/metrics", summary="Prometheus metrics (text exposition format)")
async def metrics(request: Request) -> Response:
    body = await run_in_threadpool(generate_latest, request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
