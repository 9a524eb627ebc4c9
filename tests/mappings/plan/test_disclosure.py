"""Consent honoured: `may_disclose` on the Consent the mapping emits (and its stored form)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mappings.documents.plan import DeniedParty, PlanDocument, parse_plan_document
from mappings.issues import IssueError
from mappings.plan import (
    PlanContext,
    Recipient,
    consent_from_plan,
    crisis_plans_from_plan,
    may_disclose,
)

ROOT = Path(__file__).resolve().parents[3]
CTX = PlanContext()
DURING = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
BOTILBUD = Recipient(sor="378921000016004")
SISTER = Recipient(relationship="SIS")
FATHER = Recipient(relationship="FTH")
STRANGER = Recipient(sor="999999999999999")


def doc(name: str = "kip-slagelse-botilbud.json") -> PlanDocument:
    return parse_plan_document(json.loads((ROOT / "fixtures/samples/plans" / name).read_text("utf-8")))


def consent(**changes: Any) -> dict[str, Any]:
    document = doc()
    updated = document.model_copy(update={"consent": document.consent.model_copy(update=changes)})
    return consent_from_plan(updated, CTX)


@pytest.mark.parametrize(
    "recipient", [BOTILBUD, SISTER, Recipient(sor="329631000016003"), Recipient(sor="375431000016122")]
)
def test_permitted_recipients_may_see_the_plan(recipient: Recipient) -> None:
    decision = may_disclose(consent(), recipient, "careplan", DURING)
    assert decision.permit and decision.code == "consent.permit"


def test_the_excluded_father_is_denied_even_though_relatives_are_permitted() -> None:
    decision = may_disclose(consent(), FATHER, "careplan", DURING)
    assert not decision.permit and decision.code == "consent.excluded"


def test_an_excluded_organisation_is_denied_even_when_also_permitted() -> None:
    document = doc()
    fact = next(member.organisation for member in document.team if member.key == "fact1")
    denied = [*document.consent.denied, DeniedParty(organisation=fact)]
    excluded = document.consent.model_copy(update={"denied": denied})
    resource = consent_from_plan(document.model_copy(update={"consent": excluded}), CTX)
    assert may_disclose(resource, Recipient(sor="329631000016003"), "careplan", DURING).code == "consent.excluded"


def test_a_recipient_not_named_is_denied() -> None:
    decision = may_disclose(consent(), STRANGER, "careplan", DURING)
    assert not decision.permit and decision.code == "consent.not-permitted"


def test_no_consent_at_all_denies() -> None:
    assert may_disclose(None, BOTILBUD, "careplan", DURING).code == "consent.none"


@pytest.mark.parametrize(("decision", "code"), [("withdrawn", "consent.withdrawn"), ("refused", "consent.refused")])
def test_withdrawn_or_refused_consent_denies(decision: str, code: str) -> None:
    resource = consent(decision=decision, permitted=[] if decision == "refused" else ["bo1"])
    result = may_disclose(resource, BOTILBUD, "careplan", DURING)
    assert not result.permit and result.code == code


def test_the_withdrawn_sample_denies_its_once_permitted_fact_team() -> None:
    resource = consent_from_plan(doc("kip-aarhus-tilbagekaldt.json"), CTX)
    assert may_disclose(resource, Recipient(sor="241501000016001"), "careplan", DURING).code == "consent.withdrawn"


@pytest.mark.parametrize(
    ("at", "code"),
    [
        (datetime(2025, 3, 3, 22, 59, tzinfo=UTC), "consent.not-yet-valid"),  # 23:59 on 3 March in Copenhagen
        (datetime(2025, 3, 3, 23, 0, tzinfo=UTC), "consent.permit"),  # 00:00 on 4 March in Copenhagen
        (datetime(2026, 3, 3, 22, 59, tzinfo=UTC), "consent.permit"),  # the last day is included
        (datetime(2026, 3, 3, 23, 0, tzinfo=UTC), "consent.expired"),
    ],
)
def test_the_consent_period_is_honoured_in_danish_days(at: datetime, code: str) -> None:
    assert may_disclose(consent(), BOTILBUD, "careplan", at).code == code


def test_data_outside_the_consented_categories_is_denied() -> None:
    resource = consent(data=["careplan"])
    assert may_disclose(resource, BOTILBUD, "careplan", DURING).permit
    assert may_disclose(resource, BOTILBUD, "crisisplan", DURING).code == "consent.data-not-covered"


@pytest.mark.parametrize(
    "recipient",
    [
        Recipient(sor="5790001234560"),  # the volunteer club's GLN (it has no SOR code) offered as a SOR code
        Recipient(sor="5790000555550"),  # the FACT team's GLN offered as a SOR code
    ],
)
def test_organisations_match_by_sor_code_only(recipient: Recipient) -> None:
    assert not may_disclose(consent(), recipient, "careplan", DURING).permit


def test_a_municipality_code_names_no_department() -> None:
    """Attack 3 of issue 11: the social worker's department shares municipality code 0330 with every other
    department of Slagelse; the consent holds its SOR code, and only that code is permitted."""
    assert "0330" not in json.dumps(consent()["provision"])
    assert not may_disclose(consent(), Recipient(sor="375431000016999"), "careplan", DURING).permit


def test_the_stored_consent_with_rewritten_references_still_decides() -> None:
    stored = json.loads(json.dumps(consent()).replace('"urn:uuid:', '"Organization/'))
    assert may_disclose(stored, BOTILBUD, "careplan", DURING).permit
    assert may_disclose(stored, FATHER, "careplan", DURING).code == "consent.excluded"


def test_a_crisis_plan_is_not_a_disclosure_consent() -> None:
    crisis = crisis_plans_from_plan(doc(), CTX)[0]
    assert may_disclose(crisis, BOTILBUD, "careplan", DURING).code == "consent.not-privacy"


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(IssueError):
        may_disclose(consent(), BOTILBUD, "careplan", datetime(2025, 6, 1))
