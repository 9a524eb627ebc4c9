"""SMART App Launch v2 system scopes: parsing, v1 equivalence, restricted types and intersection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.security.scopes import INTERACTIONS, Interaction, ScopeSet
from mappings.issues import IssueError


@pytest.mark.parametrize(
    ("text", "resource_type", "allowed"),
    [
        ("system/CarePlan.rs", "CarePlan", "rs"),
        ("system/Consent.cruds", "Consent", "cruds"),
        ("system/CarePlan.read", "CarePlan", "rs"),  # SMART v1 read = v2 rs
        ("system/CarePlan.write", "CarePlan", "cud"),  # SMART v1 write = v2 cud
        ("system/CarePlan.*", "CarePlan", "cruds"),  # SMART v1 * = v2 cruds
        ("system/*.r", "Goal", "r"),
        ("system/*.cud", "CareTeam", "cud"),
        ("system/AuditEvent.rs", "AuditEvent", "rs"),
        ("system/Messages.c", "Messages", "c"),
        ("system/*.cruds", "AuditEvent", ""),  # a wildcard never reaches the audit trail
        ("system/*.cruds", "Messages", ""),  # nor message intake
        ("system/CarePlan.rs system/Goal.r", "Goal", "r"),
        ("system/CarePlan.r system/CarePlan.s", "CarePlan", "rs"),
    ],
)
def test_scope_grants_exactly_its_interactions(text: str, resource_type: str, allowed: str) -> None:
    scopes = ScopeSet.parse(text)
    for interaction in INTERACTIONS:
        assert scopes.permits(resource_type, interaction) is (interaction in allowed), interaction


@pytest.mark.parametrize(
    "text",
    [
        "patient/CarePlan.rs",  # no patient context for system clients
        "user/*.cruds",
        "openid",
        "system/CarePlan.sr",  # letters out of order
        "system/CarePlan.rr",
        "system/CarePlan.x",
        "system/CarePlan",
        "system/careplan.rs",
        "system/Observation.rs?category=laboratory",  # narrowing we do not implement must not widen
        "system/CarePlan.rs/../*.cruds",
    ],
)
def test_strict_parse_refuses_scopes_it_cannot_grant(text: str) -> None:
    with pytest.raises(IssueError) as caught:
        ScopeSet.parse(text)
    assert caught.value.issues[0].message_id == "auth.scope-invalid"


def test_strict_parse_reports_every_bad_scope_at_once() -> None:
    with pytest.raises(IssueError) as caught:
        ScopeSet.parse("openid system/CarePlan.rs patient/*.rs system/Goal.sr")
    assert len(caught.value.issues) == 3


def test_tolerant_parse_drops_what_it_cannot_grant() -> None:
    scopes = ScopeSet.parse("openid patient/*.rs system/Observation.rs?category=x system/CarePlan.rs", strict=False)
    assert str(scopes) == "system/CarePlan.rs"
    assert not scopes.permits("Observation", "r")


def test_canonical_text_puts_wildcard_first_and_letters_in_cruds_order() -> None:
    scopes = ScopeSet.parse(["system/Goal.s system/Goal.r", "system/*.c system/CarePlan.write"])
    assert str(scopes) == "system/*.c system/CarePlan.cud system/Goal.rs"


@pytest.mark.parametrize(
    ("granted", "allowed", "expected"),
    [
        ("system/*.rs", "system/CarePlan.cruds", "system/CarePlan.rs"),
        ("system/CarePlan.cruds", "system/*.r", "system/CarePlan.r"),
        ("system/*.cruds", "system/*.rs", "system/*.rs"),
        ("system/CarePlan.rs", "system/Goal.rs", ""),
        ("system/*.rs", "system/AuditEvent.rs", ""),  # a wildcard token does not unlock the audit trail
        ("system/AuditEvent.rs", "system/AuditEvent.r", "system/AuditEvent.r"),
        ("system/*.r system/CarePlan.s", "system/*.rs", "system/*.r system/CarePlan.s"),
        ("", "system/*.cruds", ""),
    ],
)
def test_intersection_grants_only_what_both_grant(granted: str, allowed: str, expected: str) -> None:
    assert str(ScopeSet.parse(granted).intersect(ScopeSet.parse(allowed))) == expected


_TYPES = ["*", "CarePlan", "Goal", "AuditEvent", "Messages"]
_scope = st.builds(
    lambda resource_type, letters: f"system/{resource_type}." + "".join(c for c in "cruds" if c in letters),
    st.sampled_from(_TYPES),
    st.sets(st.sampled_from(list("cruds")), min_size=1),
)
_scope_sets = st.lists(_scope, max_size=5).map(lambda items: ScopeSet.parse(" ".join(items)))


@given(_scope_sets, _scope_sets, st.sampled_from(_TYPES[1:] + ["Consent"]), st.sampled_from(list(INTERACTIONS)))
def test_intersection_permits_exactly_what_both_permit(
    left: ScopeSet, right: ScopeSet, resource_type: str, interaction: Interaction
) -> None:
    both = left.permits(resource_type, interaction) and right.permits(resource_type, interaction)
    assert left.intersect(right).permits(resource_type, interaction) is both


@given(_scope_sets)
def test_canonical_text_parses_back_to_the_same_set(scopes: ScopeSet) -> None:
    assert ScopeSet.parse(str(scopes)) == scopes


def test_of_builds_one_scope() -> None:
    assert str(ScopeSet.of("Consent", "cruds")) == "system/Consent.cruds"
    assert not ScopeSet.empty()
