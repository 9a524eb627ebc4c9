"""Verified access tokens kept until they expire, so a client's next request with the same token skips the
signature check (issue 18: an ES256 verification and PyJWT's decoding were ~0.15 ms of CPU on every request).

Keyed by the SHA-256 of the token's exact text: only a token byte for byte identical to one that verified can hit,
and the bearer values themselves are not kept in memory longer than a request. Bounded (least recently used out
first), so a flood of distinct valid tokens cannot grow it. Only successes are kept: a refused token is checked
in full every time.

What a hit does not skip: the time rules (`exp`, `nbf`, `iat` against the request's instant) are applied to the
kept claims on every use by `TokenVerifier`, and everything after verification (the client registry lookup, the
intersection with the client's registered scopes, the rate limit) runs per request in `authenticate` and
`access_for`, so a client removed from the registry is refused at once even with a kept token. The trusted keys
are fixed for a verifier's life (a changed JWKS means a new verifier, and a new cache).
"""

from __future__ import annotations

import hashlib
from typing import TypeVar

from gateway.lru import Lru

V = TypeVar("V")
#: Distinct live tokens kept (about 1 KB each with their claims): far more than a gateway's registered clients.
DEFAULT_SIZE = 4096


def token_key(token: str) -> bytes:
    """The cache key of a bearer token: SHA-256 of its exact (ASCII) text."""
    return hashlib.sha256(token.encode("ascii")).digest()


class VerifiedTokens(Lru[bytes, V]):
    """From `token_key` to what verifying that token gave. `forget` drops a token that expired: a kept token is
    never accepted past its `exp`, and is not kept past it."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError("the token cache needs room for at least one token")
        super().__init__(size)
