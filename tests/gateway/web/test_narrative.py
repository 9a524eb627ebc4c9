"""Every resource a plan document becomes carries a generated narrative in the pages' words, valid as FHIR allows."""

from __future__ import annotations

import pytest

from gateway.validation import default_validator
from gateway.web.narrative import PlanNarrator, xhtml_problems
from mappings.documents.plan import parse_plan_document
from mappings.plan import PlanContext, transaction_from_plan
from tests.support import scenario


def narrated() -> list[dict[str, object]]:
    document = parse_plan_document(scenario.plan_document())
    context = PlanContext()
    bundle = PlanNarrator(context)(transaction_from_plan(document, context), document)
    return [entry["resource"] for entry in bundle["entry"]]


def test_every_resource_has_a_generated_narrative_that_fhir_allows_and_validates() -> None:
    resources = narrated()
    assert {r["resourceType"] for r in resources} >= {"Patient", "CarePlan", "CareTeam", "Goal", "Consent"}
    validator = default_validator()
    for resource in resources:
        text = resource["text"]
        assert isinstance(text, dict) and text["status"] == "generated"
        assert xhtml_problems(text["div"]) == [], resource["resourceType"]
        errors = [i for i in validator.validate(resource).issues if i.severity in ("error", "fatal")]
        assert errors == [], (resource["resourceType"], errors[:3])


def test_narratives_use_the_pages_words() -> None:
    by_type: dict[str, list[str]] = {}
    for resource in narrated():
        by_type.setdefault(str(resource["resourceType"]), []).append(resource["text"]["div"])  # type: ignore[index]
    assert any("<strong>Drøm:</strong> At bo i egen lejlighed" in div for div in by_type["Goal"])
    assert "Din stafetholder indtil næste møde er <strong>Mette Kjærgaard</strong>" in by_type["CarePlan"][0]
    assert any("Forhåndstilkendegivelse" in div for div in by_type["Consent"])
    assert any("din far, Bent Østergård" in div for div in by_type["Consent"])


def test_free_text_is_escaped() -> None:
    document = scenario.plan_document()
    document["wishes"][0]["text"] = "<script>alert(1)</script> & mere"
    parsed = parse_plan_document(document)
    context = PlanContext()
    bundle = PlanNarrator(context)(transaction_from_plan(parsed, context), parsed)
    div = next(e["resource"]["text"]["div"] for e in bundle["entry"] if "mere" in str(e["resource"].get("text")))
    assert "&lt;script&gt;" in div and xhtml_problems(div) == []


@pytest.mark.parametrize(
    ("div", "problem"),
    [
        ('<div xmlns="http://www.w3.org/1999/xhtml"><script>x</script></div>', "element"),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">a</p></div>', "attribute onclick"),
        ("<div><p>a</p></div>", "not an XHTML div"),
        ('<div xmlns="http://www.w3.org/1999/xhtml"> </div>', "txt-2"),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><p>a</div>', "well-formed"),
        ('<div xmlns="http://www.w3.org/1999/xhtml"><form><p>a</p></form></div>', "form"),
    ],
)
def test_what_fhir_narratives_may_not_hold_is_found(div: str, problem: str) -> None:
    assert any(problem in found for found in xhtml_problems(div))
