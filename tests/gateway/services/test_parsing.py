"""Parsing off the event loop: in worker processes (or a thread), each input within its time budget."""

from __future__ import annotations

import pytest

from gateway.inbound import Limits
from gateway.services.parsing import Parsing, ProcessParsing, ThreadParsing, parse_input
from mappings.documents.discharge import AdtEvent
from mappings.issues import IssueError
from tests.support import scenario

HL7 = "x-application/hl7-v2+er7"
#: What an operator who raised every HL7 limit would allow: the oversized A01 then really costs its minute.
UNLIMITED = Limits(max_hl7_repetitions=10**6, max_hl7_elements=10**7)


@pytest.fixture(params=["process", "thread"])
def parsing(request: pytest.FixtureRequest) -> Parsing:
    return ProcessParsing(workers=1, budget_seconds=2) if request.param == "process" else ThreadParsing(2)


async def test_a_document_comes_back_as_the_parser_made_it(parsing: Parsing) -> None:
    body = scenario.adt("adt_a03_discharge_8859-1.hl7")
    document = await parsing.parse("hl7v2", body, HL7, Limits())
    assert isinstance(document, AdtEvent)
    assert document == parse_input("hl7v2", body, HL7, Limits())


async def test_the_parsers_issues_come_back_unchanged(parsing: Parsing) -> None:
    with pytest.raises(IssueError) as refused:
        await parsing.parse("hl7v2", b"MSH|^~\\&|A", HL7, Limits())
    assert refused.value.issues[0].message_id is not None
    with pytest.raises(IssueError) as too_large:
        await parsing.parse("hl7v2", b"MSH" + b"x" * 2000, HL7, Limits(max_bytes=1024))
    assert too_large.value.status == 413


async def test_the_oversized_a01_is_refused_by_the_repetition_limit_before_any_parse(parsing: Parsing) -> None:
    body = scenario.oversized_a01()
    assert 450_000 < len(body) < 600_000
    with pytest.raises(IssueError) as refused:
        await parsing.parse("hl7v2", body, HL7, Limits())
    (issue,) = refused.value.issues
    assert (issue.code, issue.expression, issue.message_id) == ("too-costly", "PID-6", "hl7v2.too-many-repetitions")


async def test_too_many_elements_are_refused_whatever_their_shape() -> None:
    components = scenario.adt("adt_a01_inpatient_8859-1.hl7").replace(b"|M|", b"|" + b"^" * 5000 + b"|")
    with pytest.raises(IssueError) as refused:
        parse_input("hl7v2", components, HL7, Limits())
    assert refused.value.issues[0].message_id == "hl7v2.too-many-elements"


async def test_an_input_over_its_time_budget_has_its_worker_stopped() -> None:
    parsing = ProcessParsing(workers=1, budget_seconds=1)
    with pytest.raises(IssueError) as refused:
        await parsing.parse("hl7v2", scenario.oversized_a01(positions=scenario.READ_FIELDS), HL7, UNLIMITED)
    assert refused.value.issues[0].message_id == "intake.over-time-budget"
    document = await parsing.parse("hl7v2", scenario.adt("adt_a01_inpatient_8859-1.hl7"), HL7, Limits())
    assert isinstance(document, AdtEvent), "a fresh worker took the stopped one's place"
