"""Who is calling, and may they do this? `authenticate` (401) and `require` (403), as FHIR servers answer them.

FHIR R4 security.html ("Authentication", "Access Denied") and RFC 6750 §3: a request without credentials, or with
credentials that fail, gets 401 and `WWW-Authenticate: Bearer ...`; an authenticated caller lacking the right gets
403 (`insufficient_scope`). Both carry an OperationOutcome (the API renders the `IssueError`).

The caller's rights are the token's scopes intersected with the client's registered scopes, so neither a
generous token nor a generous registry entry alone grants anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from gateway.security.clients import ClientRegistry, Organisation
from gateway.security.scopes import Interaction, ScopeSet, scope_text
from gateway.security.tokens import REALM, TokenVerifier, auth_error
from mappings.issues import Issue, IssueError
from mappings.plan.disclosure import Recipient

#: RFC 6750 §2.1: `Bearer` (case-insensitive auth-scheme, RFC 9110 §11.1) then a b64token.
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")
_INTERACTION_NAMES = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated client: who it is, for which organisation, and what it may do."""

    client_id: str
    organisation: Organisation
    scopes: ScopeSet
    rate_limit: int | None = None
    #: SOR codes of the senders its messages may name besides its own organisation (`ClientRecord.sends_as`).
    sends_as: frozenset[str] = frozenset()

    def may_send_as(self, sor: str) -> bool:
        return sor == self.organisation.sor or sor in self.sends_as

    @property
    def identifiers(self) -> tuple[tuple[str, str], ...]:
        return self.organisation.identifiers()


def authenticate(
    authorization_header: str | None, verifier: TokenVerifier, registry: ClientRegistry, now: datetime
) -> Caller:
    """The caller behind an `Authorization` header value, or a 401 `IssueError` with `WWW-Authenticate`."""
    if not authorization_header:
        # RFC 6750 §3.1: no error code when the request carried no authentication at all.
        raise IssueError(
            (Issue("error", "login", "This request needs a bearer token", message_id="auth.missing-token"),),
            status=401,
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
        )
    match = _BEARER.fullmatch(authorization_header.strip())
    if match is None:
        raise auth_error("auth.malformed-header", "The Authorization header must be 'Bearer <token>'")
    claims = verifier.verify(match.group(1), now=now)
    client = registry.get(claims.client_id)
    if client is None:
        raise auth_error("auth.unknown-client", "The token's client is not registered with this gateway")
    return Caller(
        client.client_id,
        client.organisation,
        claims.scopes.intersect(client.scopes),
        client.rate_limit,
        client.sends_as,
    )


def require(caller: Caller, resource_type: str, interaction: Interaction) -> None:
    """Pass, or raise 403 `forbidden` naming the missing scope (RFC 6750 §3.1 `insufficient_scope`)."""
    if caller.scopes.permits(resource_type, interaction):
        return
    needed = scope_text(resource_type, {interaction})
    raise IssueError(
        (
            Issue(
                "error",
                "forbidden",
                f"Client {caller.client_id!r} may not {_INTERACTION_NAMES[interaction]} {resource_type}: "
                f"the scope {needed} is needed",
                message_id="auth.insufficient-scope",
            ),
        ),
        status=403,
        headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope", scope="{needed}"'},
    )


def disclosure_recipient(caller: Caller) -> Recipient:
    """The caller's organisation as the recipient `mappings.plan.may_disclose` decides about: by SOR code only."""
    return Recipient(sor=caller.organisation.sor)
