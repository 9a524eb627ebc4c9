"""The pages under `/app`: server-rendered HTML (Jinja2), forms that work without JavaScript, no asset from elsewhere.

| page | who | shows |
|---|---|---|
| `GET /app` | anyone | how to sign in |
| `GET/POST /app/sign-in/{token}` | holder of a sign-in link | a button, then a session (a GET never uses the link) |
| `GET /app/mig` | a citizen | their plan, wishes first; forms to add a wish and to change the consent; "who looked" |
| `GET /app/plans/{id}` | an organisation's user | the plan, what changed since the previous meeting, who received it |
| `GET .../plan.pdf` | both | the plan as PDF |
| `POST /app/sign-out` | both | ends the session |

Every form carries the session's CSRF token and is refused when posted from another site; every response forbids
framing and caching and sends no referrer to other sites.
Errors are pages too (`PageRoute`), with the status the API would give.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from datetime import date
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.fhir.access import Access, Denied
from gateway.security.citizen import CitizenAccess
from gateway.security.consent import source_of
from gateway.security.guard import RequestGuard
from gateway.services.plans import PlanReceipt
from gateway.web.context import PageCaller, SignInRequired, WebContext, page_caller, web_context
from gateway.web.right_of_use import WishKind
from gateway.web.sessions import Session, SessionKind
from gateway.web.templating import render
from gateway.web.words import DANISH_TIME
from mappings.issues import IssueError

COOKIE = "gateway_session"
#: A CPR number's shape (10 digits); the plan document checks the date part where a CPR number enters a plan.
CPR = re.compile(r"[0-9]{10}")
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: Chromium sends `Origin: null` on a form post from a no-referrer page, and the
    # Origin check below needs the real one; other sites still never see our URLs (sign-in links carry a token).
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
SAVED = {
    "wish": "Dit ønske er gemt i planen.",
    "consent": "Dit valg er gemt. Det gælder fra nu.",
}


def page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    values.setdefault("session", None)
    return HTMLResponse(render(template, **values), status_code=status, headers=HEADERS)


def message(title: str, *lines: str, status: int = 200, session: Session | None = None) -> HTMLResponse:
    link = {"href": "/app", "text": "Til forsiden"}
    return page("message.html", status, title=title, lines=lines, link=link, session=session)


class PageRoute(APIRoute):
    """Errors on a page become a page: 404 for what may not be seen (as the API), sign-in for no session."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return message("Log ind", "Du skal logge ind for at se siden.", status=401)
            except IssueError as error:
                status = error.status or 400
                if status == 404 or isinstance(error, Denied):
                    return message(
                        "Siden findes ikke",
                        "Planen findes ikke, eller du har ikke lov til at se den.",
                        status=404 if status in (403, 404) else status,
                    )
                return message("Det gik ikke", *(issue.diagnostics for issue in error.issues), status=status)

        return guarded


router = APIRouter(prefix="/app", route_class=PageRoute, include_in_schema=False)
Web = Annotated[WebContext, Depends(web_context)]
Caller = Annotated[PageCaller, Depends(page_caller)]
#: Pages anyone may open (the access-check test's allow-list for `/app`).
PUBLIC_PAGES = frozenset({"/app", "/app/sign-in/{token}", "/app/oidc/login", "/app/oidc/callback"})


def _same_origin(request: Request) -> None:
    """Refuse a form posted from another site (OWASP CSRF Cheat Sheet, "Verifying Origin With Standard Headers"):
    besides the CSRF token for signed-in forms, this is what stops a login CSRF on the sign-in button."""
    origin = request.headers.get("origin")
    fetched_from = request.headers.get("sec-fetch-site")  # Fetch Metadata, sent by current browsers
    if (origin is not None and origin.rstrip("/") != str(request.base_url).rstrip("/")) or fetched_from in (
        "cross-site",
        "same-site",
    ):
        raise IssueError.single(
            "forbidden", "Formularen kom fra et andet websted.", message_id="pages.origin", status=403
        )


async def _form(request: Request, caller: PageCaller) -> dict[str, str]:
    _same_origin(request)
    form = await request.form()
    values = {key: str(value) for key, value in form.items() if isinstance(value, str)}
    if not caller.session.csrf_ok(values.get("csrf")):
        raise IssueError.single("forbidden", "Formularen er udløbet. Prøv igen.", message_id="pages.csrf", status=403)
    return values


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


@router.get("")
async def index(request: Request, web: Web) -> Response:
    session = await run_in_threadpool(web.sessions.get, request.cookies.get(COOKIE))
    if session is not None:
        return RedirectResponse("/app/mig" if session.kind == "citizen" else "/app/plans", 303)
    return page("index.html", title="Log ind", oidc=web.oidc is not None)


@router.get("/sign-in/{token}")
async def sign_in_form(token: str) -> Response:
    return page("sign_in.html", title="Log ind", token=token)


@router.post("/sign-in/{token}")
async def sign_in(token: str, request: Request, web: Web) -> Response:
    _same_origin(request)
    opened = await run_in_threadpool(web.sessions.redeem_link, token)
    if opened is None:
        return message("Linket virker ikke", "Linket er brugt eller for gammelt. Bed om et nyt.", status=400)
    return signed_in(web, *opened)


def signed_in(web: WebContext, cookie: str, session: Session) -> Response:
    target = "/app/mig" if session.kind == "citizen" else "/app/plans"
    response = RedirectResponse(target, 303, headers=HEADERS)
    _set_cookie(response, web, cookie)
    return response


def _set_cookie(response: Response, web: WebContext, cookie: str) -> None:
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(web.sessions.times.absolute.total_seconds()),
        path="/app",
        secure=web.secure_cookies,
        httponly=True,
        samesite="strict",
    )


@router.get("/oidc/login")
async def oidc_login(web: Web, as_: Annotated[str, Query(alias="as")] = "citizen") -> Response:
    if web.oidc is None:
        return message("Log ind", "Log ind med OpenID Connect er ikke sat op her.", status=404)
    kind: SessionKind = "organisation" if as_ == "organisation" else "citizen"
    url, state, pending = await web.oidc.start(kind)
    await run_in_threadpool(web.sessions.remember_login, state, pending)
    return RedirectResponse(url, 303, headers=HEADERS)


@router.get("/oidc/callback")
async def oidc_callback(web: Web, code: str = "", state: str = "") -> Response:
    """The identity provider's redirect back (a cross-site navigation: a SameSite=Strict cookie set here is sent
    from the next same-site request on, so this answers with a page that continues, not with a redirect)."""
    pending = await run_in_threadpool(web.sessions.recall_login, state) if web.oidc and state else None
    if web.oidc is None or pending is None or not code:
        return message("Log ind mislykkedes", "Prøv at logge ind igen.", status=400)
    claims = await web.oidc.finish(code, pending)
    subject = web.oidc.subject(pending.kind, claims)
    if pending.kind == "organisation" and (web.registry is None or web.registry().get(subject) is None):
        return message("Log ind mislykkedes", "Din organisation er ikke tilmeldt her.", status=403)
    if pending.kind == "citizen" and not CPR.fullmatch(subject):
        return message("Log ind mislykkedes", "Dit CPR-nummer kom ikke med.", status=401)
    cookie, session = await run_in_threadpool(web.sessions.open, pending.kind, subject)
    target = "/app/mig" if session.kind == "citizen" else "/app/plans"
    response = page("continue.html", title="Du er logget ind", target=target)
    _set_cookie(response, web, cookie)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, web: Web, caller: Caller) -> Response:
    await _form(request, caller)
    await run_in_threadpool(web.sessions.close, caller.session)
    response = message("Du er logget ud", "Tak for nu.")
    response.delete_cookie(COOKIE, path="/app", secure=web.secure_cookies, httponly=True, samesite="strict")
    return response


@router.get("/mig")
async def citizen_page(request: Request, web: Web, caller: Caller, gemt: str | None = None) -> Response:
    access = caller.citizen()
    plan_id = await run_in_threadpool(web.pages.citizen_plan_id, access)
    if plan_id is None:
        return message("Din plan", "Du har ingen fælles plan endnu.", session=caller.session)
    team = await run_in_threadpool(web.pages.plan, plan_id, access)
    log, shared = await asyncio.gather(
        run_in_threadpool(web.pages.audit_log, _base(request), plan_id, team.versions.current, access),
        web.pages.shared(plan_id, team.versions.current),
    )
    return page(
        "citizen.html",
        title="Din plan",
        plan=team.plan,
        log=log,
        shared=shared,
        notice=SAVED.get(gemt or ""),
        session=caller.session,
    )


@router.post("/mig/{plan_id}/wishes")
async def add_wish(plan_id: str, request: Request, web: Web, caller: Caller) -> Response:
    form = await _form(request, caller)
    kind = form.get("kind", "wish")
    if kind not in ("wish", "dream", "need") or not form.get("text", "").strip():
        return message("Det gik ikke", "Skriv dit ønske med dine egne ord.", status=400, session=caller.session)
    wish_kind = cast(WishKind, kind)
    access = caller.citizen()
    await run_in_threadpool(web.right_of_use.add_wish, _base(request), plan_id, wish_kind, form["text"], access)
    return RedirectResponse("/app/mig?" + urlencode({"gemt": "wish"}), 303, headers=HEADERS)


@router.post("/mig/{plan_id}/consent")
async def change_consent(plan_id: str, request: Request, web: Web, caller: Caller) -> Response:
    form = await _form(request, caller)
    permit = form.get("permit") == "yes"
    today = web.clock.now().astimezone(DANISH_TIME).date()
    access = caller.citizen()
    write: Callable[[str, str, str, bool, date, CitizenAccess], PlanReceipt]
    if "member" in form:
        write = web.right_of_use.set_member
        target = form["member"]
    elif form.get("category") in ("careplan", "careteam", "followup", "crisisplan"):
        write = web.right_of_use.set_category
        target = form["category"]
    else:
        return message("Det gik ikke", "Vælg en person eller en slags oplysninger.", status=400)
    await run_in_threadpool(write, _base(request), plan_id, target, permit, today, access)
    return RedirectResponse("/app/mig?" + urlencode({"gemt": "consent"}), 303, headers=HEADERS)


@router.get("/mig/{plan_id}/plan.pdf")
async def citizen_pdf(plan_id: str, web: Web, caller: Caller) -> Response:
    return await _pdf(web, plan_id, caller.citizen())


@router.get("/plans")
async def organisation_home(web: Web, caller: Caller) -> Response:
    guard = caller.organisation()
    lines = (
        f"Du er logget ind for {guard.caller.organisation.name}.",
        "Åbn en borgers plan fra jeres eget system med adressen /app/plans/<planens id>.",
    )
    return message("Fælles planer", *lines, session=caller.session)


@router.get("/plans/{plan_id}")
async def team_page(plan_id: str, web: Web, caller: Caller) -> Response:
    guard = caller.organisation()
    team = await run_in_threadpool(web.pages.plan, plan_id, guard)
    author = team.versions.author == source_of(guard.caller)
    shared, notices = await asyncio.gather(
        web.pages.shared(plan_id, team.versions.current),
        web.pages.notices(team.versions.current) if author else _nothing(),
    )
    return page(
        "team.html",
        title=f"Fælles plan for {team.plan.citizen}",
        plan=team.plan,
        changes=team.changes,
        previous=team.previous,
        organisation=guard.caller.organisation.name,
        notices=notices,
        shared=shared,
        session=caller.session,
    )


async def _nothing() -> None:
    return None


@router.get("/plans/{plan_id}/plan.pdf")
async def team_pdf(plan_id: str, web: Web, caller: Caller) -> Response:
    return await _pdf(web, plan_id, caller.organisation())


async def _pdf(web: WebContext, plan_id: str, access: Access | CitizenAccess | RequestGuard) -> Response:
    team = await run_in_threadpool(web.pages.plan, plan_id, access)
    data = await run_in_threadpool(web.render_pdf, team.versions.current, plan_id, team.versions.version)
    filename = f"faelles-plan-{team.versions.current.coordination.meeting_date.isoformat()}.pdf"
    headers = HEADERS | {"Content-Disposition": f'inline; filename="{filename}"'}
    return Response(data, media_type="application/pdf", headers=headers)
