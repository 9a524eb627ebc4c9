"""Signing in with OpenID Connect against a fake identity provider (httpx MockTransport): code flow with PKCE S256,
state and nonce checked, the ID token verified against the provider's keys."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import RSAKey

from gateway.clock import SystemClock, SystemSecrets
from gateway.web.oidc import OidcClient, OidcSettings
from tests.support import scenario

ISSUER = "https://idp.example"
CLIENT = "careplan-pages"
KEY = RSAKey.generate_key(2048, parameters={"kid": "idp-1"})
FORGER = RSAKey.generate_key(2048, parameters={"kid": "idp-1"})


class FakeProvider:
    def __init__(self) -> None:
        self.challenges: dict[str, str] = {}
        self.claims: dict[str, Any] = {}
        self.key = KEY

    def authorize(self, url: str, extra: dict[str, Any]) -> str:
        """What the user's browser would do at the provider: returns the code the provider redirects back with."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert query["code_challenge_method"] == "S256" and query["response_type"] == "code"
        code = f"code-{len(self.challenges)}"
        self.challenges[code] = query["code_challenge"]
        now = int(time.time())
        self.claims[code] = {"iss": ISSUER, "aud": CLIENT, "sub": "x", "iat": now, "exp": now + 300,
                             "nonce": query["nonce"]} | extra  # fmt: skip
        return code

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            endpoints = {"authorization_endpoint": "authorize", "token_endpoint": "token", "jwks_uri": "jwks"}
            return httpx.Response(200, json={"issuer": ISSUER} | {k: f"{ISSUER}/{v}" for k, v in endpoints.items()})
        if request.url.path == "/jwks":
            return httpx.Response(200, json={"keys": [KEY.as_dict(private=False)]})
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        verifier = form["code_verifier"].encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
        if self.challenges.get(form["code"]) != challenge:
            return httpx.Response(400, json={"error": "invalid_grant"})
        token = jwt.encode({"alg": "RS256", "kid": "idp-1"}, self.claims[form["code"]], self.key)
        return httpx.Response(200, json={"access_token": "a", "token_type": "Bearer", "id_token": token})


@pytest.fixture
def provider(app: FastAPI) -> FakeProvider:
    fake = FakeProvider()
    settings = OidcSettings(ISSUER, CLIENT, "secret", "openid", "http://gateway.test/app/oidc/callback",
                            "dk:gov:saml:attribute:CprNumberIdentifier", "careplan_gateway_client")  # fmt: skip
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handle))
    app.state.web.oidc = OidcClient(settings, http, SystemClock(), SystemSecrets())
    return fake


async def log_in(client: httpx.AsyncClient, provider: FakeProvider, kind: str, **claims: Any) -> httpx.Response:
    start = await client.get(f"/app/oidc/login?as={kind}")
    assert start.status_code == 303 and start.headers["location"].startswith(f"{ISSUER}/authorize?")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    code = provider.authorize(start.headers["location"], claims)
    return await client.get(f"/app/oidc/callback?code={code}&state={state}")


async def test_a_citizen_signs_in_with_the_cpr_claim(
    client: httpx.AsyncClient, provider: FakeProvider, plan_id: str
) -> None:
    done = await log_in(client, provider, "citizen", **{"dk:gov:saml:attribute:CprNumberIdentifier": scenario.CPR})
    assert done.status_code == 200 and 'href="/app/mig"' in done.text
    assert "samesite=strict" in done.headers["set-cookie"].lower()
    assert "Din plan, Søren Ærling Østergård" in (await client.get("/app/mig")).text


async def test_an_organisations_user_must_name_a_registered_client(
    client: httpx.AsyncClient, provider: FakeProvider
) -> None:
    ok = await log_in(client, provider, "organisation", careplan_gateway_client="slagelse")
    assert ok.status_code == 200 and 'href="/app/plans"' in ok.text
    client.cookies.clear()
    refused = await log_in(client, provider, "organisation", careplan_gateway_client="somebody-else")
    assert refused.status_code == 403 and "set-cookie" not in refused.headers


async def test_a_forged_token_a_wrong_nonce_and_a_replayed_state_are_refused(
    client: httpx.AsyncClient, provider: FakeProvider
) -> None:
    cpr = {"dk:gov:saml:attribute:CprNumberIdentifier": scenario.CPR}
    provider.key = FORGER
    assert (await log_in(client, provider, "citizen", **cpr)).status_code == 401
    provider.key = KEY
    assert (await log_in(client, provider, "citizen", nonce="not-ours", **cpr)).status_code == 401
    start = await client.get("/app/oidc/login?as=citizen")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    code = provider.authorize(start.headers["location"], cpr)
    assert (await client.get(f"/app/oidc/callback?code={code}&state={state}")).status_code == 200
    client.cookies.clear()
    assert (await client.get(f"/app/oidc/callback?code={code}&state={state}")).status_code == 400, "state used up"
    assert (await client.get("/app/mig")).status_code == 401
