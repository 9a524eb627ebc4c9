"""Security building blocks: client registry, SMART v2 scopes, bearer tokens, caller checks, log masking, limits.

`authenticate` (401) and `require` (403) guard every route; `disclosure_recipient` feeds `mappings.plan.may_disclose`;
`mappings.audit.audit_event` records what happened. See each module's docstring for the standard behind it.
"""

from gateway.security.auth import Caller, authenticate, disclosure_recipient, require
from gateway.security.clients import ClientRecord, ClientRegistry, Organisation
from gateway.security.masking import PrivacyFilter, install_privacy_filter, mask_cpr
from gateway.security.rate_limit import RateLimiter
from gateway.security.scopes import MESSAGES, Interaction, ScopeSet
from gateway.security.tokens import Claims, LocalSigningKey, TokenVerifier, issue_token

__all__ = [
    "MESSAGES",
    "Caller",
    "Claims",
    "ClientRecord",
    "ClientRegistry",
    "Interaction",
    "LocalSigningKey",
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
