"""Bearer JWT verification (every refusal a 401 with a stable id) and the local signing key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from gateway.clock import FixedClock
from gateway.security.scopes import ScopeSet
from gateway.security.tokens import LocalSigningKey, TokenVerifier, issue_token
from mappings.issues import IssueError

ISSUER = "https://auth.careplan-gateway.example"
AUDIENCE = "https://careplan-gateway.example/fhir"
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
T = int(NOW.timestamp())

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(algorithm: Any, key: Any, kid: str) -> dict[str, Any]:
    return {**algorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig"}


JWKS = {
    "keys": [
        _jwk(RSAAlgorithm, RSA_KEY, "rsa-1"),
        _jwk(ECAlgorithm, EC_KEY, "ec-1"),
        _jwk(OKPAlgorithm, ED_KEY, "ed-1"),
    ]
}
SIGNERS: dict[str, tuple[Any, str]] = {
    "RS256": (RSA_KEY, "rsa-1"),
    "ES256": (EC_KEY, "ec-1"),
    "EdDSA": (ED_KEY, "ed-1"),
}


def claims(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "herlev-kommune",
        "client_id": "herlev-kommune",
        "iat": T - 60,
        "nbf": T - 60,
        "exp": T + 300,
        "scope": "system/CarePlan.rs openid",
        "jti": "00000000-0000-4000-8000-000000000001",
    }
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not None}


def sign(payload: dict[str, Any], algorithm: str = "RS256", **headers: Any) -> str:
    key, kid = SIGNERS[algorithm]
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid, **headers})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{b64(signature)}"


def verifier(**changes: Any) -> TokenVerifier:
    options: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "clock": FixedClock(NOW)} | changes
    return TokenVerifier(JWKS, **options)


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_a_valid_token_gives_its_claims(algorithm: str) -> None:
    result = verifier().verify(sign(claims(), algorithm))
    assert result.client_id == "herlev-kommune"
    assert result.issuer == ISSUER
    assert str(result.scopes) == "system/CarePlan.rs"  # openid means nothing to a system gateway
    assert result.expires_at == NOW + timedelta(seconds=300)
    assert result.token_id == "00000000-0000-4000-8000-000000000001"


def _hs256_with_public_key() -> str:
    """Algorithm confusion: an HMAC signed with the RSA *public* key, which a naive verifier would accept."""
    secret = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header, payload = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims()
    unsigned = raw_token(header, payload).rsplit(".", 1)[0]
    return unsigned + "." + b64(hmac.new(secret, unsigned.encode(), hashlib.sha256).digest())


def _forged() -> str:
    """Signed by a key we do not trust, under the kid of one we do."""
    return jwt.encode(claims(), OTHER_RSA_KEY, algorithm="RS256", headers={"kid": "rsa-1"})


def _tampered() -> str:
    header, payload, signature = sign(claims()).split(".")
    widened = b64(json.dumps(claims(scope="system/*.cruds")).encode())
    return f"{header}.{widened}.{signature}"


REFUSALS: list[tuple[str, Any, str]] = [
    ("forged signature", _forged, "auth.bad-signature"),
    ("tampered payload", _tampered, "auth.bad-signature"),
    ("expired", lambda: sign(claims(exp=T - 31)), "auth.expired"),
    ("not yet valid", lambda: sign(claims(nbf=T + 31)), "auth.not-yet-valid"),
    ("issued in the future", lambda: sign(claims(iat=T + 3600, nbf=None)), "auth.issued-in-future"),
    ("wrong issuer", lambda: sign(claims(iss="https://evil.example")), "auth.wrong-issuer"),
    ("wrong audience", lambda: sign(claims(aud="https://other-gateway.example/fhir")), "auth.wrong-audience"),
    (
        "unknown kid",
        lambda: jwt.encode(claims(), RSA_KEY, algorithm="RS256", headers={"kid": "rsa-9"}),
        "auth.unknown-key",
    ),
    ("no kid", lambda: jwt.encode(claims(), RSA_KEY, algorithm="RS256"), "auth.unknown-key"),
    ("alg none", lambda: raw_token({"alg": "none", "kid": "rsa-1"}, claims()), "auth.algorithm-refused"),
    ("alg as a list", lambda: raw_token({"alg": ["RS256"], "kid": "rsa-1"}, claims()), "auth.algorithm-refused"),
    ("alg None", lambda: raw_token({"alg": "None", "kid": "rsa-1"}, claims()), "auth.algorithm-refused"),
    ("HS256 with the public key as secret", _hs256_with_public_key, "auth.algorithm-refused"),
    (
        "RSA kid under ES256",
        lambda: jwt.encode(claims(), EC_KEY, algorithm="ES256", headers={"kid": "rsa-1"}),
        "auth.algorithm-refused",
    ),
    ("missing exp", lambda: sign(claims(exp=None)), "auth.claim-missing"),
    ("missing sub", lambda: sign(claims(sub=None)), "auth.claim-missing"),
    ("missing aud", lambda: sign(claims(aud=None)), "auth.claim-missing"),
    ("exp as text", lambda: sign(claims(exp="tomorrow")), "auth.claim-invalid"),
    ("scope as list", lambda: sign(claims(scope=["system/*.cruds"])), "auth.claim-invalid"),
    ("delegated token", lambda: sign(claims(sub="someone-else")), "auth.subject-mismatch"),
    ("ID token type", lambda: sign(claims(), typ="id+jwt"), "auth.wrong-type"),
    ("not a JWT", lambda: "not-a-jwt", "auth.malformed"),
    ("garbage segments", lambda: "aaaa.bbbb.cccc", "auth.malformed"),
    ("huge token", lambda: "a" * 10_000, "auth.malformed"),
    ("non-ASCII", lambda: "ærø.abc.def", "auth.malformed"),
]


@pytest.mark.parametrize(("case", "make", "message_id"), REFUSALS, ids=[case for case, _, _ in REFUSALS])
def test_bad_tokens_are_refused_with_401(case: str, make: Any, message_id: str) -> None:
    token = make()
    with pytest.raises(IssueError) as caught:
        verifier().verify(token)
    error = caught.value
    assert error.status == 401
    assert [(issue.code, issue.message_id) for issue in error.issues] == [("login", message_id)]
    assert error.headers["WWW-Authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in error.headers["WWW-Authenticate"]
    text = str(error) + error.issues[0].diagnostics + json.dumps(error.headers)
    assert token not in text
    assert not [segment for segment in token.split(".") if len(segment) > 8 and segment in text]


@pytest.mark.parametrize(
    ("exp", "nbf", "accepted"),
    [(T - 30, T - 60, True), (T - 31, T - 60, False), (T + 300, T + 30, True), (T + 300, T + 31, False)],
)
def test_leeway_of_thirty_seconds_applies_to_exp_and_nbf(exp: int, nbf: int, accepted: bool) -> None:
    token = sign(claims(exp=exp, nbf=nbf))
    if accepted:
        verifier().verify(token)
    else:
        with pytest.raises(IssueError):
            verifier().verify(token)


def test_an_explicit_now_overrides_the_clock() -> None:
    token = sign(claims())
    with pytest.raises(IssueError, match="expired"):
        verifier().verify(token, now=NOW + timedelta(hours=1))


def test_a_token_that_verified_is_refused_once_it_expires() -> None:
    checking = verifier()
    token = sign(claims(exp=T + 300))
    assert checking.verify(token).client_id == "herlev-kommune"  # verified, and kept
    assert checking.verify(token, now=NOW + timedelta(seconds=330)).client_id == "herlev-kommune"  # leeway
    for _ in range(2):  # the kept claims expire too, and the token is checked in full again afterwards
        with pytest.raises(IssueError) as caught:
            checking.verify(token, now=NOW + timedelta(seconds=331))
        assert caught.value.issues[0].message_id == "auth.expired"


def test_a_kept_token_is_not_valid_before_its_not_before() -> None:
    checking = verifier()
    token = sign(claims(nbf=T - 60))
    checking.verify(token)
    with pytest.raises(IssueError) as caught:
        checking.verify(token, now=NOW - timedelta(seconds=91))
    assert caught.value.issues[0].message_id == "auth.not-yet-valid"


def test_a_token_altered_after_one_that_verified_is_checked_in_full() -> None:
    checking = verifier()
    token = sign(claims(), "ES256")
    checking.verify(token)
    header, payload, signature = token.split(".")
    widened = b64(json.dumps(claims(scope="system/*.cruds")).encode())
    for altered in (f"{header}.{widened}.{signature}", f"{header}.{payload}.{signature[:-2]}AA"):
        with pytest.raises(IssueError) as caught:
            checking.verify(altered)
        assert caught.value.issues[0].message_id in ("auth.bad-signature", "auth.malformed")


@pytest.mark.parametrize(
    ("jwks", "fragment"),
    [
        ({}, "non-empty"),
        ({"keys": []}, "non-empty"),
        ({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]}, "secret material"),
        ({"keys": [{**_jwk(RSAAlgorithm, RSA_KEY, "a")} | {"d": "AQAB"}]}, "secret material"),
        ({"keys": [_jwk(RSAAlgorithm, RSA_KEY, "a"), _jwk(ECAlgorithm, EC_KEY, "a")]}, "unique"),
        ({"keys": [{k: v for k, v in _jwk(RSAAlgorithm, RSA_KEY, "a").items() if k != "kid"}]}, "unique"),
        ({"keys": [_jwk(RSAAlgorithm, RSA_KEY, "a") | {"use": "enc"}]}, "signing"),
        ({"keys": [_jwk(RSAAlgorithm, RSA_KEY, "a") | {"alg": "HS256"}]}, "secret material|refused|unusable"),
    ],
)
def test_unsafe_jwks_is_refused_at_construction(jwks: dict[str, Any], fragment: str) -> None:
    with pytest.raises(IssueError, match=fragment) as caught:
        TokenVerifier(jwks, issuer=ISSUER, audience=AUDIENCE, clock=FixedClock(NOW))
    assert caught.value.issues[0].message_id == "auth.jwks-invalid"


def test_local_key_is_created_once_with_private_permissions(tmp_path: Path) -> None:
    key = LocalSigningKey.load_or_create(tmp_path / "data")
    folder = tmp_path / "data" / "keys"
    for name in ("signing-key.pem", "jwks.json"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert LocalSigningKey.load_or_create(tmp_path / "data").kid == key.kid
    jwks = json.loads((folder / "jwks.json").read_text())
    assert jwks == key.jwks()
    assert "d" not in jwks["keys"][0]  # public only
    assert b"PRIVATE KEY" in (folder / "signing-key.pem").read_bytes()


def test_local_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    LocalSigningKey.load_or_create(tmp_path)
    (tmp_path / "keys" / "signing-key.pem").chmod(0o644)
    with pytest.raises(IssueError) as caught:
        LocalSigningKey.load_or_create(tmp_path)
    assert caught.value.issues[0].message_id == "auth.key-permissions"


def test_issued_token_verifies_against_the_written_jwks(tmp_path: Path) -> None:
    key = LocalSigningKey.load_or_create(tmp_path)
    token = issue_token(
        key,
        client_id="region-psykiatri",
        scopes=ScopeSet.parse("system/CarePlan.cruds"),
        issuer=ISSUER,
        audience=AUDIENCE,
        now=NOW,
        lifetime=timedelta(minutes=15),
        token_id="00000000-0000-4000-8000-000000000007",
    )
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": key.kid, "typ": "at+jwt"}
    checker = TokenVerifier.from_file(
        tmp_path / "keys" / "jwks.json", issuer=ISSUER, audience=AUDIENCE, clock=FixedClock(NOW)
    )
    result = checker.verify(token)
    assert (result.client_id, str(result.scopes)) == ("region-psykiatri", "system/CarePlan.cruds")
    assert result.expires_at == NOW + timedelta(minutes=15)
    with pytest.raises(IssueError, match="expired"):
        checker.verify(token, now=NOW + timedelta(minutes=16))


def test_missing_jwks_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IssueError, match="Cannot read the JWKS"):
        TokenVerifier.from_file(tmp_path / "nope.json", issuer=ISSUER, audience=AUDIENCE, clock=FixedClock(NOW))


@given(st.text(max_size=300) | st.from_regex(r"[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,60}"))
def test_arbitrary_bearer_values_only_ever_give_401(token: str) -> None:
    with pytest.raises(IssueError) as caught:
        verifier().verify(token)
    assert caught.value.status == 401


#: One of several processes racing for the key: it waits for the starting gun, then loads or creates the key and
#: prints its kid. Its disk is slow (every write waits first), so a half-written key file would be seen by the others.
RACER = """
import os, sys, time
from pathlib import Path
from gateway.security.tokens import LocalSigningKey

class SlowFile:
    def __init__(self, file): self.file = file
    def __enter__(self): return self
    def __exit__(self, *exc): return self.file.__exit__(*exc)
    def __getattr__(self, name): return getattr(self.file, name)
    def write(self, data):
        time.sleep(0.2)
        return self.file.write(data)

real_fdopen = os.fdopen
os.fdopen = lambda *args, **kwargs: SlowFile(real_fdopen(*args, **kwargs))
data, ready, go = map(Path, sys.argv[1:])
ready.touch()
while not go.exists():
    time.sleep(0.001)
print(LocalSigningKey.load_or_create(data).kid)
"""


@pytest.mark.parametrize("round_", range(2))
def test_processes_starting_together_make_one_signing_key(tmp_path: Path, round_: int) -> None:
    """Issue 17: `gateway token create` racing `gateway serve` must not read a half-written key or make a second
    one: whoever links a complete key first wins, the others load it."""
    data, go = tmp_path / "data", tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(data), str(tmp_path / f"ready-{n}"), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    while len(list(tmp_path.glob("ready-*"))) < len(racers) and all(r.poll() is None for r in racers):
        time.sleep(0.01)
    go.touch()
    results = [racer.communicate(timeout=60) for racer in racers]
    assert [racer.returncode for racer in racers] == [0] * len(racers), [err[-500:] for _, err in results]
    kids = {out.strip() for out, _ in results}
    assert len(kids) == 1
    assert sorted(p.name for p in (data / "keys").iterdir()) == ["jwks.json", "signing-key.pem"]
    assert LocalSigningKey.load_or_create(data).kid == kids.pop()
