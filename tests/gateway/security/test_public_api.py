"""The public surface of gateway.security is reviewed: adding or removing a name must change this test."""

import gateway.security


def test_public_names_are_pinned() -> None:
    assert sorted(gateway.security.__all__) == [
        "Caller",
        "Claims",
        "ClientRecord",
        "ClientRegistry",
        "Interaction",
        "LocalSigningKey",
        "MESSAGES",
        "Organisation",
        "PrivacyFilter",
        "RateLimiter",
        "ScopeSet",
        "TokenVerifier",
        "authenticate",
        "disclosure_recipient",
        "install_privacy_filter",
        "issue_token",
        "mask_cpr",
        "require",
    ]
    assert all(hasattr(gateway.security, name) for name in gateway.security.__all__)
