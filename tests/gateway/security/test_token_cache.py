"""The verified-token cache: bounded, least recently used out first, keyed by the token's exact text."""

from __future__ import annotations

import pytest

from gateway.security.token_cache import VerifiedTokens, token_key


def test_keys_differ_for_tokens_differing_in_one_character() -> None:
    assert token_key("eyJ.a.b") != token_key("eyJ.a.c")
    assert token_key("eyJ.a.b") == token_key("eyJ.a.b")


def test_the_least_recently_used_token_leaves_first() -> None:
    kept: VerifiedTokens[str] = VerifiedTokens(size=2)
    kept.put(b"first", "1")
    kept.put(b"second", "2")
    assert kept.get(b"first") == "1"  # now the most recently used
    kept.put(b"third", "3")
    assert (kept.get(b"first"), kept.get(b"second"), kept.get(b"third")) == ("1", None, "3")
    assert len(kept) == 2


def test_a_forgotten_token_is_gone() -> None:
    kept: VerifiedTokens[str] = VerifiedTokens()
    kept.put(b"token", "claims")
    kept.forget(b"token")
    kept.forget(b"never-kept")
    assert kept.get(b"token") is None


def test_a_cache_without_room_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        VerifiedTokens(size=0)
