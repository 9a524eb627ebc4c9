"""authenticate (401) and require (403): the answers a FHIR server gives, each with an OperationOutcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.clock import FixedClock
from gateway.security.auth import Caller, authenticate, disclosure_recipient, require
from gateway.security.clients import ClientRegistry
from gateway.security.scopes import ScopeSet
from gateway.security.tokens import LocalSigningKey, TokenVerifier, issue_token
from mappings.issues import IssueError
from mappings.plan.disclosure import Recipient

ISSUER = "urn:careplan-gateway:local"
AUDIENCE = "https://careplan-gateway.example/fhir"
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[3] / "fixtures" / "clients.example.yaml"


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> LocalSigningKey:
    return LocalSigningKey.load_or_create(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def verifier(key: LocalSigningKey) -> TokenVerifier:
    return TokenVerifier(key.jwks(), issuer=ISSUER, audience=AUDIENCE, clock=FixedClock(NOW))


REGISTRY = ClientRegistry.from_file(EXAMPLE)


def token(key: LocalSigningKey, client_id: str, scopes: str) -> str:
    return issue_token(
        key,
        client_id=client_id,
        scopes=scopes,
        issuer=ISSUER,
        audience=AUDIENCE,
        now=NOW,
        lifetime=timedelta(minutes=5),
    )


def login(key: LocalSigningKey, verifier: TokenVerifier, client_id: str, scopes: str) -> Caller:
    return authenticate(f"Bearer {token(key, client_id, scopes)}", verifier, REGISTRY, NOW)


def test_caller_gets_token_scopes_cut_to_the_registered_ones(key: LocalSigningKey, verifier: TokenVerifier) -> None:
    caller = login(key, verifier, "herlev-kommune", "system/*.cruds system/AuditEvent.rs")
    assert caller.client_id == "herlev-kommune"
    assert str(caller.scopes) == "system/CarePlan.rs system/CareTeam.rs system/Goal.rs system/Patient.rs"
    assert caller.organisation.sor == "953741000016009"


def test_scheme_is_case_insensitive(key: LocalSigningKey, verifier: TokenVerifier) -> None:
    caller = authenticate(f"bearer {token(key, 'herlev-kommune', 'system/CarePlan.r')}", verifier, REGISTRY, NOW)
    assert caller.scopes.permits("CarePlan", "r")


@pytest.mark.parametrize(
    ("header", "message_id", "challenge"),
    [
        (None, "auth.missing-token", 'Bearer realm="careplan-gateway"'),
        ("", "auth.missing-token", 'Bearer realm="careplan-gateway"'),
        ("Basic dXNlcjpwYXNz", "auth.malformed-header", 'error="invalid_token"'),
        ("Bearer", "auth.malformed-header", 'error="invalid_token"'),
        ("Bearer a b", "auth.malformed-header", 'error="invalid_token"'),
        ("Bearer not-a-jwt", "auth.malformed", 'error="invalid_token"'),
    ],
)
def test_missing_or_garbled_header_is_401_with_a_bearer_challenge(
    verifier: TokenVerifier, header: str | None, message_id: str, challenge: str
) -> None:
    with pytest.raises(IssueError) as caught:
        authenticate(header, verifier, REGISTRY, NOW)
    error = caught.value
    assert (error.status, error.issues[0].code, error.issues[0].message_id) == (401, "login", message_id)
    assert error.headers["WWW-Authenticate"].startswith("Bearer ")
    assert challenge in error.headers["WWW-Authenticate"]


def test_unknown_client_is_401(key: LocalSigningKey, verifier: TokenVerifier) -> None:
    with pytest.raises(IssueError) as caught:
        login(key, verifier, "removed-client", "system/*.rs")
    assert (caught.value.status, caught.value.issues[0].message_id) == (401, "auth.unknown-client")


def test_a_client_removed_from_the_registry_is_refused_with_a_token_that_verified_before(
    key: LocalSigningKey, verifier: TokenVerifier
) -> None:
    header = f"Bearer {token(key, 'herlev-kommune', 'system/CarePlan.r')}"
    assert authenticate(header, verifier, REGISTRY, NOW).client_id == "herlev-kommune"
    without = ClientRegistry({record.client_id: record for record in REGISTRY if record.client_id != "herlev-kommune"})
    with pytest.raises(IssueError) as caught:
        authenticate(header, verifier, without, NOW)
    assert (caught.value.status, caught.value.issues[0].message_id) == (401, "auth.unknown-client")


def test_token_checks_use_the_given_instant(key: LocalSigningKey, verifier: TokenVerifier) -> None:
    header = f"Bearer {token(key, 'herlev-kommune', 'system/CarePlan.r')}"
    with pytest.raises(IssueError) as caught:
        authenticate(header, verifier, REGISTRY, NOW + timedelta(hours=2))
    assert caught.value.issues[0].message_id == "auth.expired"


@pytest.mark.parametrize(
    ("client_id", "scopes", "resource_type", "interaction", "allowed"),
    [
        ("herlev-kommune", "system/CarePlan.rs", "CarePlan", "r", True),
        ("herlev-kommune", "system/CarePlan.rs", "CarePlan", "u", False),  # token lacks it
        ("herlev-kommune", "system/CarePlan.cruds", "CarePlan", "c", False),  # registry lacks it
        ("herlev-kommune", "system/*.rs", "AuditEvent", "s", False),
        ("region-revision", "system/AuditEvent.rs", "AuditEvent", "s", True),
        ("region-revision", "system/AuditEvent.rs", "CarePlan", "r", False),
        ("region-integration", "system/Messages.c", "Messages", "c", True),
        ("laegehuset-test", "system/*.read", "Goal", "s", True),  # v1 scope in the token
        ("laegehuset-test", "system/*.read", "Messages", "c", False),
    ],
)
def test_require_passes_or_answers_403_naming_the_scope(
    key: LocalSigningKey,
    verifier: TokenVerifier,
    client_id: str,
    scopes: str,
    resource_type: str,
    interaction: str,
    allowed: bool,
) -> None:
    caller = login(key, verifier, client_id, scopes)
    if allowed:
        require(caller, resource_type, interaction)  # type: ignore[arg-type]
        return
    with pytest.raises(IssueError) as caught:
        require(caller, resource_type, interaction)  # type: ignore[arg-type]
    error, needed = caught.value, f"system/{resource_type}.{interaction}"
    assert (error.status, error.issues[0].code, error.issues[0].message_id) == (
        403,
        "forbidden",
        "auth.insufficient-scope",
    )
    assert needed in error.issues[0].diagnostics
    assert f'scope="{needed}"' in error.headers["WWW-Authenticate"]


def test_disclosure_recipient_is_the_organisation_by_its_sor_code_only() -> None:
    """Issue 11, attack 3: a GLN, provider number or municipality code never stands for the organisation."""
    record = REGISTRY.get("laegehuset-test")
    assert record is not None
    caller = Caller(record.client_id, record.organisation, ScopeSet.empty())
    assert disclosure_recipient(caller) == Recipient(sor="328051000016008")
