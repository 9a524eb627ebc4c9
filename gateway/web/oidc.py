"""Signing in to the pages with OpenID Connect: authorization code flow with PKCE (OpenID Connect Core 1.0 §3.1,
RFC 7636 S256), with Authlib's OAuth 2.0 parameter and PKCE functions and its JOSE library (joserfc) for the
ID token.

- The issuer's metadata comes from `<issuer>/.well-known/openid-configuration` (OpenID Connect Discovery 1.0) and
  its keys from `jwks_uri`; both are read once per process.
- `state`, `nonce` and the PKCE verifier are kept server-side (`SessionStore.remember_login`), keyed by the hash of
  `state`, and used once.
- The ID token must be signed by the issuer's keys (RS256 or ES256; `none` and HMAC are refused), with `iss` the
  configured issuer, `aud` our client id, our `nonce`, and a valid `exp` (§3.1.3.7).
- A citizen's CPR number is read from `GATEWAY_OIDC_CPR_CLAIM`; an organisation's user must carry, in
  `GATEWAY_OIDC_CLIENT_CLAIM`, the id of a registered client (whose organisation and scopes then apply).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from gateway.clock import Clock, SecretSource
from gateway.web.sessions import PendingLogin, SessionKind
from mappings.issues import IssueError

ALGORITHMS = ("RS256", "ES256")


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str | None
    scope: str
    redirect_uri: str
    cpr_claim: str
    client_claim: str


def _refused(reason: str) -> IssueError:
    return IssueError.single("login", f"Log ind mislykkedes: {reason}", message_id="pages.oidc-refused", status=401)


class OidcClient:
    def __init__(self, settings: OidcSettings, http: httpx.AsyncClient, clock: Clock, secrets: SecretSource) -> None:
        self.settings = settings
        self.http = http
        self.clock = clock
        self.secrets = secrets
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
            self._metadata = await self._json("GET", url)
            if self._metadata.get("issuer") != self.settings.issuer:
                raise _refused("the identity provider's metadata names another issuer")
        return self._metadata

    async def start(self, kind: SessionKind) -> tuple[str, str, PendingLogin]:
        """(the authorization URL to send the browser to, its `state`, what to remember under that state)."""
        metadata = await self.metadata()
        state, nonce, verifier = self.secrets.new_secret(), self.secrets.new_secret(), self.secrets.new_secret()
        url = prepare_grant_uri(
            metadata["authorization_endpoint"],
            self.settings.client_id,
            "code",
            redirect_uri=self.settings.redirect_uri,
            scope=self.settings.scope,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return url, state, PendingLogin(nonce, verifier, kind)

    async def finish(self, code: str, pending: PendingLogin) -> dict[str, Any]:
        """The verified ID token's claims for the authorization `code` (401 `IssueError` otherwise)."""
        metadata = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_uri,
            "client_id": self.settings.client_id,
            "code_verifier": pending.code_verifier,
        }
        auth = (self.settings.client_id, self.settings.client_secret) if self.settings.client_secret else None
        tokens = await self._json("POST", metadata["token_endpoint"], data=form, auth=auth)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise _refused("the identity provider sent no ID token")
        if self._keys is None:
            self._keys = KeySet.import_key_set(await self._json("GET", metadata["jwks_uri"]))  # type: ignore[arg-type]
        try:
            token = jwt.decode(id_token, self._keys, algorithms=list(ALGORITHMS))
            JWTClaimsRegistry(
                now=int(self.clock.now().timestamp()),
                leeway=30,
                iss={"essential": True, "value": self.settings.issuer},
                aud={"essential": True, "value": self.settings.client_id},
                nonce={"essential": True, "value": pending.nonce},
                exp={"essential": True},
            ).validate(token.claims)
        except (JoseError, ValueError) as error:
            raise _refused(f"the ID token does not hold ({type(error).__name__})") from None
        return dict(token.claims)

    def subject(self, kind: SessionKind, claims: dict[str, Any]) -> str:
        claim = self.settings.cpr_claim if kind == "citizen" else self.settings.client_claim
        value = claims.get(claim)
        if not isinstance(value, str) or not value:
            raise _refused(f"the ID token has no {claim!r}")
        return value

    async def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self.http.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise _refused(f"the identity provider did not answer ({type(error).__name__})") from None
        if response.status_code != 200:
            raise _refused(f"the identity provider answered HTTP {response.status_code}")
        body = response.json()
        if not isinstance(body, dict):
            raise _refused("the identity provider's answer is not a JSON object")
        return body
