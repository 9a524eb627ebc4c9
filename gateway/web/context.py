"""The pages' collaborators (`WebContext`, built once by `create_app`) and who is signed in (`page_caller`).

A citizen's session acts through `CitizenAccess`; an organisation's user acts through the very `RequestGuard` an
API client of that organisation gets: the session's subject is a registered client id, looked up in the client
registry on every request (removing the client locks its users out at once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from gateway.clock import Clock, IdSource
from gateway.security.auth import Caller
from gateway.security.citizen import CitizenAccess
from gateway.security.clients import ClientRegistry
from gateway.security.guard import RequestGuard
from gateway.store.ports import ResourceStore
from gateway.web.oidc import OidcClient
from gateway.web.pages import PageServices
from gateway.web.right_of_use import RightOfUse
from gateway.web.sessions import Session, SessionStore
from mappings.documents.plan import PlanDocument
from mappings.issues import IssueError


class SignInRequired(Exception):
    """No live session: the page asks the visitor to sign in."""


@dataclass
class WebContext:
    sessions: SessionStore
    pages: PageServices
    right_of_use: RightOfUse
    render_pdf: Callable[[PlanDocument, str, int], bytes]
    store: ResourceStore
    clock: Clock
    ids: IdSource
    registry: Callable[[], ClientRegistry] | None
    secure_cookies: bool
    oidc: OidcClient | None = None


@dataclass(frozen=True)
class PageCaller:
    session: Session
    web: WebContext
    observer: str

    def citizen(self) -> CitizenAccess:
        if self.session.kind != "citizen":
            raise _not_here()
        web = self.web
        return CitizenAccess(self.session.subject, web.store, web.clock, web.ids, self.observer)

    def organisation(self) -> RequestGuard:
        registry = self.web.registry() if self.web.registry is not None else None
        client = (
            registry.get(self.session.subject) if registry is not None and self.session.kind == "organisation" else None
        )
        if client is None:
            raise _not_here()
        caller = Caller(client.client_id, client.organisation, client.scopes, client.rate_limit, client.sends_as)
        return RequestGuard(caller, self.web.store, self.web.clock, self.web.ids, self.observer)


def _not_here() -> IssueError:
    return IssueError.single("forbidden", "Siden er ikke til dig", message_id="pages.wrong-kind", status=403)


async def web_context(request: Request) -> WebContext:
    """The pages' collaborators (async: no I/O, so FastAPI need not hand it to a worker thread)."""
    web = request.app.state.web
    assert isinstance(web, WebContext)
    return web


def page_caller(request: Request) -> PageCaller:
    """The signed-in person, or `SignInRequired` (the page then says so)."""
    from gateway.web.routes import COOKIE

    web = request.app.state.web
    assert isinstance(web, WebContext)
    session = web.sessions.get(request.cookies.get(COOKIE))
    if session is None:
        raise SignInRequired()
    return PageCaller(session, web, str(request.base_url))
