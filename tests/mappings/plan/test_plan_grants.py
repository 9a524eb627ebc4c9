"""`plan_grants` is `may_disclose` materialised: for generated consents, organisations, categories and instants,
`may_disclose(...).permit` holds exactly when one of the consent's grants covers that organisation, category and
instant. (`tests/gateway/store/test_visibility.py` holds the database's reading of the same grants to it.)"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappings.plan import DATA_KINDS, Recipient, may_disclose, plan_grants
from tests.support.consents import SORS, consents, instants

EARLY = datetime(1, 1, 1, tzinfo=UTC)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(consent=consents(), data=st.data())
def test_a_grant_covers_exactly_what_may_disclose_permits(consent: dict[str, Any], data: st.DataObject) -> None:
    grants = plan_grants(consent)
    for sor in SORS:
        for kind in DATA_KINDS:
            own = sorted((g for g in grants if (g.sor, g.category) == (sor, kind)), key=lambda g: g.valid_from or EARLY)
            for before, after in zip(own, own[1:], strict=False):
                assert before.valid_to is not None and after.valid_from is not None
                assert before.valid_to <= after.valid_from, "one row per instant: the table's key holds"
    at = data.draw(instants(consent))
    for sor in SORS:
        for kind in DATA_KINDS:
            permitted = may_disclose(consent, Recipient(sor=sor), kind, at).permit
            granted = any(g.covers(at) for g in grants if (g.sor, g.category) == (sor, kind))
            assert permitted == granted, (sor, kind, at, grants)


def test_the_sample_consent_grants_by_sor_in_danish_days() -> None:
    consent = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "provision": {
            "period": {"start": "2025-03-04", "end": "2026-03-03"},
            "actor": [{"reference": {"identifier": {"system": "urn:oid:1.2.208.176.1.1", "value": "375431000016008"}}}],
            "code": [{"coding": [{"system": "x/CodeSystem/disclosure-data", "code": "careplan"}]}],
        },
    }
    (grant,) = plan_grants(consent)
    assert (grant.category, grant.sor) == ("careplan", "375431000016008")
    assert grant.valid_from == datetime(2025, 3, 3, 23, 0, tzinfo=UTC)  # midnight in Copenhagen (CET)
    assert grant.valid_to == datetime(2026, 3, 3, 23, 0, tzinfo=UTC)  # the end day included


def test_nothing_is_granted_by_an_inactive_or_missing_consent() -> None:
    assert plan_grants(None) == ()
    assert plan_grants({"resourceType": "Consent", "status": "inactive", "provision": {}}) == ()
