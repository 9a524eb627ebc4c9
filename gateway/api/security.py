"""Who is calling: the `access_for` dependency every route (but the allow-list) depends on.

Source address over its failed-login limit → 429 at once (nothing verified, nothing written) → bearer JWT →
`Caller` (401 otherwise: counted per source address, audited once a minute in aggregate, `failed_logins.py`) →
per-client rate limit (429 with Retry-After; shared by all instances through Redis when `GATEWAY_REDIS_URL` is
set) → `RequestGuard` (scopes 403, consent-filtered reads, audit). With `--insecure-no-auth` (loopback only)
every request gets `OPEN`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import orjson
import redis
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from gateway.clock import Clock, IdSource
from gateway.config import Settings
from gateway.datafiles import ReloadingFile
from gateway.fhir.access import OPEN, Access, Denied, Interaction
from gateway.security.auth import authenticate
from gateway.security.clients import ClientRegistry
from gateway.security.failed_logins import FailedLogins, failed_logins, flush
from gateway.security.guard import RequestGuard
from gateway.security.rate_limit import Limiter, RateLimiter, RedisRateLimiter, refuse_if_waiting
from gateway.security.tokens import LocalSigningKey, TokenVerifier
from gateway.store.ports import ResourceStore
from mappings.issues import IssueError

log = logging.getLogger("gateway.security")
#: Routes that answer without authentication: capability discovery and liveness only.
PUBLIC_PATHS = frozenset(
    {"/fhir/metadata", "/plans/schema", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
    | {"/health", "/ready", "/metrics"}  # operations: no patient data (gateway/api/operations.py)
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
    limiter: Limiter | None
    failures: FailedLogins | None = None
    #: the rate limit and failed-login counts live in Redis: counting them is network I/O
    shared_counts: bool = False

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
        shared = redis.Redis.from_url(settings.redis_url, socket_timeout=0.5) if settings.redis_url else None
        rate, burst = settings.rate_limit_per_minute, settings.rate_limit_burst
        prefix = settings.redis_prefix
        limiter: Limiter = (
            RedisRateLimiter(shared, rate, burst, clock, prefix=prefix) if shared else RateLimiter(rate, burst, clock)
        )
        failures = failed_logins(shared, settings.auth_failures_per_minute, prefix)
        return cls(settings, store, clock, ids, verifier, registry_file, limiter, failures, shared is not None)

    def flush_failed_logins(self, observer: str, *, everything: bool = False) -> int:
        """Audit the failed logins of finished minutes (all of them at shutdown): one AuditEvent per source."""
        if self.failures is None:
            return 0
        return flush(self.failures, self.store, self.clock.now(), observer, everything=everything)


def _jwks_from_file(path: Path) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        raise IssueError.single(
            "invalid", f"cannot read the JWKS file {path}: {error}", message_id="auth.jwks"
        ) from error
    return loaded


async def access_for(request: Request) -> Access:
    """The request's `Access`. On the event loop, not the threadpool (issue 18: a hop each way per request), as
    long as nothing in it blocks: the failed-login count and the rate limit in memory, the registry file's `stat`
    (re-read only when it changed), the token check (CPU only, and answered from the verified-token cache after a
    client's first request). With Redis holding the counts (`GATEWAY_REDIS_URL`) they are network round trips, so
    the same work runs on the threadpool."""
    authorities: Authorities = request.app.state.authorities
    if authorities.shared_counts:
        return await run_in_threadpool(access_of, request)
    return access_of(request)


def access_of(request: Request) -> Access:
    """`access_for`'s work, blocking on Redis when the counts live there."""
    authorities: Authorities = request.app.state.authorities
    if authorities.verifier is None or authorities.registry_file is None:
        return OPEN
    now = authorities.clock.now()
    source = request.client.host if request.client else "unknown"
    failures = authorities.failures
    if failures is not None:
        refuse_if_waiting(failures.blocked(source, now), "auth.too-many-failures", "failed authentications")
    registry = authorities.registry_file()
    try:
        caller = authenticate(request.headers.get("authorization"), authorities.verifier, registry, now)
    except IssueError:
        if failures is not None:
            failures.record(source, now)
        raise
    if authorities.limiter is not None:
        authorities.limiter.enforce(caller.client_id, caller.rate_limit)
    return RequestGuard(
        caller, authorities.store, authorities.clock, authorities.ids, str(request.base_url), registry.owners_of
    )


RequestAccess = Annotated[Access, Depends(access_for)]


def require(access: Access, resource_type: str, interaction: Interaction) -> None:
    """Scope check for routes outside the FHIR service; a refusal is audited before it is raised."""
    try:
        access.require(resource_type, interaction)
    except Denied as denied:
        access.record_alone(denied.record)
        raise
