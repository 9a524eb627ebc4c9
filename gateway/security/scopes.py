"""SMART App Launch v2 system scopes: parse, intersect, and ask "may this caller do that?".

Grammar (SMART App Launch 2.2.0, "Scopes for requesting FHIR Resources",
https://hl7.org/fhir/smart-app-launch/STU2.2/scopes-and-launch-context.html): a resource scope is
`<context>/<ResourceType or *>.<permissions>`, where the permissions are a non-empty subset of `c r u d s`
(create, read, update, delete, search) written in that order (`rs`, `cud`, `cruds`). The v1 suffixes are
accepted and mapped as that page's "Scope Equivalence" says: `read` → `rs`, `write` → `cud`, `*` → `cruds`.

We serve system-to-system clients only (OAuth2 client credentials, SMART Backend Services), so only the `system`
context grants anything. Two choices of ours:

- **Message intake** is `system/Messages.c`. A MedCom message is POSTed whole (FHIR `$process-message`, HL7 v2,
  OIOXML), which no FHIR create on a resource type describes; SMART v2 defines no operation scopes. A pseudo type
  that is no FHIR resource type keeps the one grammar (and this parser) while never colliding with a real type.
- **Restricted types** (`AuditEvent`, `Messages`) are granted only when named: `system/*.r` does not let a client
  read the audit trail (who looked at which citizen) nor submit messages. Least privilege for the auditor scope
  `system/AuditEvent.rs`, as issue 7 asks ("queryable ... by an auditor scope only").

SMART v2 scopes may carry search parameters (`system/Observation.rs?category=...`) that *narrow* access. We do not
implement that narrowing, so such a scope is refused strictly and, when parsing a token, dropped entirely: ignoring
the restriction would widen access.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, cast

from mappings.issues import Issue, IssueError

Interaction = Literal["c", "r", "u", "d", "s"]
INTERACTIONS: tuple[Interaction, ...] = ("c", "r", "u", "d", "s")
WILDCARD = "*"
#: Pseudo resource type of the message-intake scope (see module docstring).
MESSAGES = "Messages"
#: Types a wildcard never covers: they must be named.
RESTRICTED_TYPES = frozenset({"AuditEvent", MESSAGES})
#: SMART App Launch 2.2.0 "Scope Equivalence": v1 suffix → v2 permissions.
V1_SUFFIXES: Mapping[str, str] = {"read": "rs", "write": "cud", "*": "cruds"}

_SCOPE = re.compile(r"(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]{0,63})\.(?P<perms>[a-z*]{1,5})")
_PERMISSIONS = re.compile(r"c?r?u?d?s?")


@dataclass(frozen=True, slots=True)
class ScopeSet:
    """Granted permissions: resource type (or `*`) → interactions. Immutable; `str()` gives canonical v2 text."""

    grants: Mapping[str, frozenset[Interaction]]

    @classmethod
    def empty(cls) -> ScopeSet:
        return cls({})

    @classmethod
    def parse(cls, text: str | Iterable[str], *, strict: bool = True) -> ScopeSet:
        """Parse a space-separated scope string (OAuth2 `scope`, RFC 6749 §3.3) or a list of scopes.

        `strict=True` (client registry) raises one `IssueError` listing every scope it cannot grant;
        `strict=False` (a token's `scope` claim) silently drops them, since an OAuth2 server may grant
        fewer scopes than asked (`openid`, `patient/...`, `launch` mean nothing to a system gateway).
        """
        items = text.split() if isinstance(text, str) else [part for item in text for part in item.split()]
        grants: dict[str, set[Interaction]] = {}
        problems: list[Issue] = []
        for item in items:
            parsed = _parse_one(item)
            if isinstance(parsed, str):
                problems.append(Issue("error", "value", parsed, message_id="auth.scope-invalid"))
                continue
            resource_type, interactions = parsed
            grants.setdefault(resource_type, set()).update(interactions)
        if problems and strict:
            raise IssueError(tuple(problems))
        return cls({key: frozenset(value) for key, value in grants.items() if value})

    @classmethod
    def of(cls, resource_type: str, interactions: str) -> ScopeSet:
        """One scope, e.g. `ScopeSet.of("CarePlan", "rs")`."""
        return cls.parse(f"system/{resource_type}.{interactions}")

    def permits(self, resource_type: str, interaction: Interaction) -> bool:
        return interaction in self._effective(resource_type)

    def intersect(self, other: ScopeSet) -> ScopeSet:
        """What both sets permit: `system/*.rs` ∩ `system/CarePlan.cruds` = `system/CarePlan.rs`.

        `permits` on the result equals `permits` on both operands, for every type and interaction.
        """
        result: dict[str, frozenset[Interaction]] = {}
        for key in set(self.grants) | set(other.grants):
            both = self._effective(key) & other._effective(key)
            if key != WILDCARD and key not in RESTRICTED_TYPES:
                both -= self.grants.get(WILDCARD, frozenset()) & other.grants.get(WILDCARD, frozenset())
            if both:
                result[key] = both
        return ScopeSet(result)

    def _effective(self, resource_type: str) -> frozenset[Interaction]:
        named = self.grants.get(resource_type, frozenset())
        if resource_type == WILDCARD or resource_type in RESTRICTED_TYPES:
            return named
        return named | self.grants.get(WILDCARD, frozenset())

    def __bool__(self) -> bool:
        return bool(self.grants)

    def __str__(self) -> str:
        return " ".join(
            scope_text(key, self.grants[key]) for key in sorted(self.grants, key=lambda key: (key != WILDCARD, key))
        )


def scope_text(resource_type: str, interactions: Iterable[Interaction]) -> str:
    """Canonical v2 text of one scope: `scope_text("CarePlan", {"s", "r"})` → `system/CarePlan.rs`."""
    wanted = set(interactions)
    return f"system/{resource_type}." + "".join(letter for letter in INTERACTIONS if letter in wanted)


def _parse_one(item: str) -> tuple[str, frozenset[Interaction]] | str:
    """`(resource type, interactions)` for a system scope, or a sentence saying why it grants nothing."""
    match = _SCOPE.fullmatch(item)
    if match is None:
        return f"Scope {item[:80]!r} is not a SMART resource scope (<context>/<Type>.<cruds>)"
    if match["context"] != "system":
        return f"Scope {item!r}: only system/ scopes are granted (client credentials, no patient or user context)"
    perms = V1_SUFFIXES.get(match["perms"], match["perms"])
    if not _PERMISSIONS.fullmatch(perms) or not perms:
        return f"Scope {item!r}: permissions must be letters of 'cruds' in that order, or read/write/*"
    return match["type"], frozenset(cast(Interaction, letter) for letter in perms)
