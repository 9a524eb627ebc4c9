"""Bearer access tokens: verify JWTs against a JWKS, and mint them with a local key for out-of-the-box use.

Tokens are JWT access tokens as RFC 9068 ("JWT Profile for OAuth 2.0 Access Tokens") describes them for the
client-credentials grant: header `typ` `at+jwt` (or `JWT`), claims `iss`, `aud`, `exp`, `iat`, optional `nbf`,
`sub` = `client_id` (no resource owner), `scope` (space-separated, RFC 8693 §4.2) and `jti`. They are verified with
PyJWT (signature, `iss`, `aud`), while the time claims are checked here against the injected `Clock`, so that
tests pin time by construction (PyJWT would read the wall clock).

Refused before any signature check (RFC 8725 "JWT Best Current Practices" §2.1, §3.1): algorithms other than
`ALLOWED_ALGORITHMS` (so `none` and every HMAC `HS*`), a `kid` not in the JWKS, and a header `alg` that differs from
the algorithm of the key it names (algorithm confusion: an RSA public key used as an HMAC secret). A JWKS holding
symmetric or private keys is refused at construction.

Every failure is an `IssueError` with status 401, issue code `login`, a stable message id (`auth.expired`,
`auth.bad-signature`, `auth.wrong-audience`, ...) and a `WWW-Authenticate: Bearer error="invalid_token"` header
(RFC 6750 §3.1). Messages never contain the token.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from gateway.clock import Clock
from gateway.security.scopes import ScopeSet
from gateway.security.token_cache import DEFAULT_SIZE, VerifiedTokens, token_key
from mappings.issues import Issue, IssueError

#: Asymmetric signatures only (RFC 7518 §3.1 names; EdDSA per RFC 8037).
ALLOWED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"})
#: Larger bearer values are refused unparsed (a JWT with a dozen claims is well under 2 KB).
MAX_TOKEN_BYTES = 8192
_ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt", "jwt"})
KEY_FILE = "signing-key.pem"
JWKS_FILE = "jwks.json"
KEY_FOLDER = "keys"
REALM = "careplan-gateway"


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says. `scopes` holds only the system scopes it grants (others are dropped)."""

    client_id: str
    subject: str
    issuer: str
    scopes: ScopeSet
    issued_at: datetime
    expires_at: datetime
    not_before: datetime | None = None
    token_id: str | None = None


def auth_error(message_id: str, diagnostics: str) -> IssueError:
    """A 401 `IssueError` for a token that cannot be accepted (RFC 6750 §3.1 `invalid_token`)."""
    return IssueError(
        (Issue("error", "login", diagnostics, message_id=message_id),),
        status=401,
        # No error_description: the OperationOutcome carries the detail, and header values stay constant.
        headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token"'},
    )


def _key_error(diagnostics: str) -> IssueError:
    return IssueError.single("security", diagnostics, message_id="auth.jwks-invalid")


class TokenVerifier:
    """Verifies bearer JWTs signed by a key of `jwks` (RFC 7517 JWK Set: `{"keys": [...]}`, each with a `kid`)."""

    def __init__(
        self,
        jwks: dict[str, Any],
        *,
        issuer: str,
        audience: str,
        clock: Clock,
        leeway_seconds: int = 30,
        cache_size: int = DEFAULT_SIZE,
    ) -> None:
        self._keys = _load_jwks(jwks)
        self._issuer = issuer
        self._audience = audience
        self._clock = clock
        self._leeway = timedelta(seconds=leeway_seconds)
        self._verified: VerifiedTokens[Claims] = VerifiedTokens(cache_size)

    @classmethod
    def from_file(
        cls, path: Path, *, issuer: str, audience: str, clock: Clock, leeway_seconds: int = 30
    ) -> TokenVerifier:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise _key_error(f"Cannot read the JWKS file {path}: {error}") from error
        return cls(data, issuer=issuer, audience=audience, clock=clock, leeway_seconds=leeway_seconds)

    def verify(self, token: str, *, now: datetime | None = None) -> Claims:
        """The token's claims, or a 401 `IssueError`. `now` defaults to the clock's reading.

        A token that verified before is answered from `VerifiedTokens` with only its time rules checked again
        (`token_cache.py` says what a hit skips and what it never does)."""
        if len(token) > MAX_TOKEN_BYTES or not token.isascii():
            raise auth_error("auth.malformed", "The bearer token is not a JWT")
        now = now or self._clock.now()
        key = token_key(token)
        kept = self._verified.get(key)
        if kept is not None:
            try:
                self._check_times(kept.expires_at, kept.not_before, kept.issued_at, now)
            except IssueError:
                self._verified.forget(key)
                raise
            return kept
        claims = self._verify(token, now)
        self._verified.put(key, claims)
        return claims

    def _verify(self, token: str, now: datetime) -> Claims:
        """Every check of a token not seen before: header, key, signature, `iss`, `aud` and the claims."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise auth_error("auth.malformed", "The bearer token is not a JWT") from error
        algorithm, kid, kind = header.get("alg"), header.get("kid"), header.get("typ")
        if not isinstance(algorithm, str) or algorithm not in ALLOWED_ALGORITHMS:
            raise auth_error("auth.algorithm-refused", f"Tokens signed with {str(algorithm)[:20]!r} are refused")
        if kind is not None and str(kind).lower() not in _ACCEPTED_TYPES:
            raise auth_error("auth.wrong-type", "The token is not an access token (typ)")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise auth_error("auth.unknown-key", "The token names no signing key this gateway trusts (kid)")
        if key.algorithm_name != algorithm:
            raise auth_error("auth.algorithm-refused", f"Key {kid!r} does not sign with {algorithm}")
        payload = self._decode(token, key, algorithm)
        return self._claims(payload, now)

    def _decode(self, token: str, key: jwt.PyJWK, algorithm: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "verify_exp": False,  # checked in _claims against the injected clock
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["iss", "aud", "exp", "iat", "sub"],
                },
            )
        except jwt.InvalidSignatureError as error:
            raise auth_error("auth.bad-signature", "The token's signature does not verify") from error
        except jwt.InvalidAudienceError as error:
            raise auth_error("auth.wrong-audience", "The token is not meant for this gateway (aud)") from error
        except jwt.InvalidIssuerError as error:
            raise auth_error(
                "auth.wrong-issuer", "The token comes from an issuer this gateway does not trust"
            ) from error
        except jwt.MissingRequiredClaimError as error:
            raise auth_error("auth.claim-missing", f"The token lacks the {error.claim!r} claim") from error
        except jwt.DecodeError as error:
            raise auth_error("auth.malformed", "The bearer token is not a JWT") from error
        except jwt.PyJWTError as error:
            raise auth_error("auth.claim-invalid", "The token's claims are malformed") from error

    def _claims(self, payload: dict[str, Any], now: datetime) -> Claims:
        expires_at = _instant(payload, "exp")
        issued_at = _instant(payload, "iat")
        not_before = _instant(payload, "nbf") if "nbf" in payload else None
        self._check_times(expires_at, not_before, issued_at, now)
        subject, client_id = payload.get("sub"), payload.get("client_id", payload.get("sub"))
        if not isinstance(subject, str) or not subject or not isinstance(client_id, str):
            raise auth_error("auth.claim-invalid", "The token's sub and client_id claims must be strings")
        if client_id != subject:
            # RFC 9068 §2.2: with no resource owner, sub is the client; anything else is a delegated token.
            raise auth_error("auth.subject-mismatch", "Only client-credentials tokens are accepted (sub = client_id)")
        scope, token_id = payload.get("scope", ""), payload.get("jti")
        if not isinstance(scope, str):
            raise auth_error("auth.claim-invalid", "The token's scope claim must be a space-separated string")
        return Claims(
            client_id=client_id,
            subject=subject,
            issuer=str(payload["iss"]),
            scopes=ScopeSet.parse(scope, strict=False),
            issued_at=issued_at,
            expires_at=expires_at,
            not_before=not_before,
            token_id=token_id if isinstance(token_id, str) else None,
        )

    def _check_times(
        self, expires_at: datetime, not_before: datetime | None, issued_at: datetime, now: datetime
    ) -> None:
        """The rules that depend on the request's instant, so they run on every use of a kept token too."""
        if now > expires_at + self._leeway:
            raise auth_error("auth.expired", "The token has expired")
        if not_before is not None and now + self._leeway < not_before:
            raise auth_error("auth.not-yet-valid", "The token is not valid yet (nbf)")
        if now + self._leeway < issued_at:
            raise auth_error("auth.issued-in-future", "The token claims to be issued in the future (iat)")


def _instant(payload: dict[str, Any], claim: Literal["exp", "iat", "nbf"]) -> datetime:
    value = payload.get(claim)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise auth_error("auth.claim-invalid", f"The token's {claim!r} claim must be a NumericDate")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise auth_error("auth.claim-invalid", f"The token's {claim!r} claim is out of range") from error


def _load_jwks(jwks: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    entries = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(entries, list) or not entries:
        raise _key_error('The JWKS must be an object with a non-empty "keys" list')
    keys: dict[str, jwt.PyJWK] = {}
    for index, entry in enumerate(entries):
        kid = entry.get("kid") if isinstance(entry, dict) else None
        if not isinstance(kid, str) or not kid or kid in keys:
            raise _key_error(f"JWKS key {index} needs a unique 'kid'")
        if entry.get("kty") == "oct" or "d" in entry or "k" in entry:
            raise _key_error(f"JWKS key {kid!r} holds secret material; the JWKS must hold public keys only")
        if entry.get("use", "sig") != "sig":
            raise _key_error(f"JWKS key {kid!r} is not a signing key (use)")
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError as error:
            raise _key_error(f"JWKS key {kid!r} is unusable: {error}") from error
        if key.algorithm_name not in ALLOWED_ALGORITHMS:
            raise _key_error(f"JWKS key {kid!r} uses {key.algorithm_name}, which is refused")
        keys[kid] = key
    return keys


# --- the local signing key ----------------------------------------------------------------------------------


def jwk_thumbprint(public_jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of an EC key: the `kid` of our local key."""
    members = {name: public_jwk[name] for name in ("crv", "kty", "x", "y")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class LocalSigningKey:
    """An ES256 (P-256) key kept in the data folder, so `gateway serve` works before any OAuth2 server exists."""

    private_key: ec.EllipticCurvePrivateKey
    kid: str

    ALGORITHM = "ES256"

    @classmethod
    def load_or_create(cls, data_dir: Path) -> LocalSigningKey:
        """Load `<data_dir>/keys/signing-key.pem`, creating it (mode 0600) and `jwks.json` on first use.

        Creation is atomic, so `gateway serve` and `gateway token create` starting together make one key: each
        writes a complete candidate beside it and hard-links it into place, which fails for all but the first
        (POSIX link(2) never replaces an existing name); the others load the winner. Nobody reads a half-written
        file. An existing key readable by group or others is refused, as OpenSSH refuses such private keys.
        """
        folder = data_dir / KEY_FOLDER
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / KEY_FILE
        if not path.exists():
            pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            _publish(path, pem, replace=False)
        key = cls._load(path)
        jwks_path = folder / JWKS_FILE
        wanted = json.dumps(key.jwks(), indent=2) + "\n"
        if not jwks_path.exists() or jwks_path.read_text(encoding="utf-8") != wanted:
            _publish(jwks_path, wanted.encode(), replace=True)
        return key

    @classmethod
    def _load(cls, path: Path) -> LocalSigningKey:
        if path.stat().st_mode & 0o077:
            raise IssueError.single(
                "security",
                f"The signing key {path} is readable by other users; run: chmod 600 {path}",
                message_id="auth.key-permissions",
            )
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(loaded.curve, ec.SECP256R1):
            raise IssueError.single("security", f"{path} is not a P-256 key", message_id="auth.key-invalid")
        return cls(loaded, jwk_thumbprint(cls._public_jwk(loaded)))

    @staticmethod
    def _public_jwk(private_key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
        return ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)

    def jwks(self) -> dict[str, Any]:
        """The public half as a JWK Set, for `TokenVerifier` and for other parties that verify our tokens."""
        public = self._public_jwk(self.private_key)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": self.ALGORITHM}]}


def _publish(path: Path, content: bytes, *, replace: bool) -> None:
    """Give `path` the whole of `content` in one step: written beside it first (mode 0600 from the start, no
    window in which it is world-readable), then renamed over it (`replace`) or linked in only if `path` does not
    exist yet (another process's file wins)."""
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # O_EXCL, mode 0600
    candidate = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(candidate, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(candidate, path)
    finally:
        candidate.unlink(missing_ok=True)


def issue_token(
    key: LocalSigningKey,
    *,
    client_id: str,
    scopes: ScopeSet | str,
    issuer: str,
    audience: str,
    now: datetime,
    lifetime: timedelta,
    token_id: str | None = None,
) -> str:
    """A signed RFC 9068 access token for `client_id` (`gateway token create --client NAME`)."""
    issued = int(now.timestamp())
    payload: dict[str, Any] = {
        "iss": issuer,
        "sub": client_id,
        "client_id": client_id,
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(lifetime.total_seconds()),
        "scope": str(scopes),
    }
    if token_id is not None:
        payload["jti"] = token_id
    return jwt.encode(payload, key.private_key, algorithm=key.ALGORITHM, headers={"kid": key.kid, "typ": "at+jwt"})
