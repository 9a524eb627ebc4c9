"""Who is calling: the `access_for` dependency every route (but the allow-list) depends on.

Bearer JWT → `Caller` (401 otherwise, audited) → per-client rate limit (429 with Retry-After) → `RequestGuard`
(scopes 403, consent-filtered reads, audit). With `--insecure-no-auth` (loopback only) every request gets `OPEN`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request

from gateway.clock import Clock, IdSource
from gateway.config import Settings
from gateway.datafiles import ReloadingFile
from gateway.fhir.access import OPEN, Access, Denied, Interaction
from gateway.security.auth import authenticate
from gateway.security.clients import ClientRegistry
from gateway.security.guard import RequestGuard
from gateway.security.rate_limit import RateLimiter
from gateway.security.tokens import LocalSigningKey, TokenVerifier
from gateway.store.ports import ResourceStore
from mappings.audit import AuditAgent, audit_event
from mappings.issues import IssueError

log = logging.getLogger("gateway.security")
#: Routes that answer without authentication: capability discovery and liveness only.
PUBLIC_PATHS = frozenset(
    {"/fhir/metadata", "/health", "/plans/schema", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)


@dataclass
class Authorities:
    """App-wide security collaborators, built once by `create_app`."""

    settings: Settings
    store: ResourceStore
    clock: Clock
    ids: IdSource
    verifier: TokenVerifier | None
    registry_file: ReloadingFile[ClientRegistry] | None
    limiter: RateLimiter | None

    @classmethod
    def build(cls, settings: Settings, store: ResourceStore, clock: Clock, ids: IdSource) -> Authorities:
        if settings.insecure_no_auth:
            return cls(settings, store, clock, ids, None, None, None)
        jwks = (
            _jwks_from_file(settings.jwks_file)
            if settings.jwks_file
            else LocalSigningKey.load_or_create(settings.data_dir).jwks()
        )
        verifier = TokenVerifier(
            jwks,
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            clock=clock,
            leeway_seconds=settings.token_leeway_seconds,
        )
        # Re-read on change, so `gateway clients add` and `gateway token create` take effect without a restart.
        registry_file = ReloadingFile(
            settings.effective_clients_file(), ClientRegistry.from_file, lambda: ClientRegistry({})
        )
        if not len(registry_file()):
            log.warning(
                "no clients registered yet (%s); `gateway token create` registers the local administrator",
                registry_file.path,
            )
        limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst, clock)
        return cls(settings, store, clock, ids, verifier, registry_file, limiter)


def _jwks_from_file(path: Path) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        raise IssueError.single(
            "invalid", f"cannot read the JWKS file {path}: {error}", message_id="auth.jwks"
        ) from error
    return loaded


def access_for(request: Request) -> Access:
    authorities: Authorities = request.app.state.authorities
    if authorities.verifier is None or authorities.registry_file is None:
        return OPEN
    now = authorities.clock.now()
    registry = authorities.registry_file()
    try:
        caller = authenticate(request.headers.get("authorization"), authorities.verifier, registry, now)
    except IssueError as error:
        _record_refused_login(authorities, request, error)
        raise
    if authorities.limiter is not None:
        authorities.limiter.enforce(caller.client_id, caller.rate_limit)
    return RequestGuard(
        caller, authorities.store, authorities.clock, authorities.ids, str(request.base_url), registry.owners_of
    )


def _record_refused_login(authorities: Authorities, request: Request, error: IssueError) -> None:
    event = audit_event(
        action="E",
        subtype="operation",
        outcome="4",
        recorded=authorities.clock.now(),
        agent=AuditAgent("anonymous", network_address=request.client.host if request.client else None),
        observer=str(request.base_url),
        reason=f"authentication refused: {error.issues[0].message_id} on {request.method} {request.url.path}",
        event_id=authorities.ids.new_id(),
    )
    with authorities.store.writing() as tx:
        tx.create(event, resource_id=event["id"])


RequestAccess = Annotated[Access, Depends(access_for)]


def require(access: Access, resource_type: str, interaction: Interaction) -> None:
    """Scope check for routes outside the FHIR service; a refusal is audited before it is raised."""
    try:
        access.require(resource_type, interaction)
    except Denied as denied:
        access.record_alone(denied.record)
        raise
