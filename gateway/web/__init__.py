"""The pages (issue 12): the citizen's own plan, the team's view, sign-in; narratives and the PDF from the same
templates. `install` wires them into the app built by `gateway.api.create_app`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from gateway.clock import Clock, IdSource, SecretSource
from gateway.config import Settings
from gateway.delivery.outbox_sql import SqlOutbox
from gateway.security.clients import ClientRegistry
from gateway.services.plan_history import PlanHistory
from gateway.services.plans import PlanService
from gateway.web.context import WebContext
from gateway.web.narrative import PlanNarrator, xhtml_problems
from gateway.web.oidc import OidcClient, OidcSettings
from gateway.web.pages import PageServices
from gateway.web.pdf import plan_pdf
from gateway.web.right_of_use import RightOfUse
from gateway.web.routes import router
from gateway.web.sessions import SessionStore, SessionTimes
from gateway.web.views import plan_view
from mappings.documents.plan import PlanDocument

__all__ = ["PlanNarrator", "install", "plan_pdf_bytes", "router", "xhtml_problems"]

STATIC = Path(__file__).parent / "static"
PdfRenderer = Callable[[PlanDocument, str, int], bytes]


def plan_pdf_bytes(clock: Clock) -> PdfRenderer:
    def render(document: PlanDocument, plan_id: str, version: int) -> bytes:
        return plan_pdf(plan_view(document, plan_id, version), clock.now())

    return render


def oidc_client(settings: Settings, clock: Clock, secrets: SecretSource) -> OidcClient | None:
    """The OpenID Connect client when an issuer is configured; its one `httpx.AsyncClient` lives with the app."""
    if not settings.oidc_issuer or not settings.oidc_client_id:
        return None
    oidc = OidcSettings(
        issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        scope=settings.oidc_scope,
        redirect_uri=f"{settings.effective_public_url()}/app/oidc/callback",
        cpr_claim=settings.oidc_cpr_claim,
        client_claim=settings.oidc_client_claim,
    )
    return OidcClient(oidc, httpx.AsyncClient(timeout=httpx.Timeout(10.0)), clock, secrets)


def install(
    app: FastAPI,
    settings: Settings,
    *,
    plans: PlanService,
    outbox: SqlOutbox,
    citizen_key: Callable[[str], str],
    registry: Callable[[], ClientRegistry] | None,
    clock: Clock,
    ids: IdSource,
    secrets: SecretSource,
) -> None:
    """Mount `/app` and its static files, and keep the pages' collaborators in `app.state.web`."""
    history = PlanHistory(plans.fhir, plans.context)
    times = SessionTimes(
        link=timedelta(seconds=settings.web_sign_in_link_seconds),
        idle=timedelta(seconds=settings.web_session_idle_seconds),
        absolute=timedelta(seconds=settings.web_session_max_seconds),
    )
    app.state.web = WebContext(
        sessions=SessionStore(outbox.engine, clock, secrets, times),
        pages=PageServices(plans, history, plans.fhir, outbox, citizen_key),
        right_of_use=RightOfUse(plans, plans.fhir),
        render_pdf=plan_pdf_bytes(clock),
        store=plans.fhir.store,
        clock=clock,
        ids=ids,
        registry=registry,
        secure_cookies=settings.effective_public_url().startswith("https://"),
        oidc=oidc_client(settings, clock, secrets),
    )
    app.include_router(router)
    app.mount("/app/static", StaticFiles(directory=STATIC), name="static")
