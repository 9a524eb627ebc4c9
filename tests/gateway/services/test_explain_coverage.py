"""Every element of every notice is explained, and every date in every Danish text comes from an input field.

The notices are those of the demo story as intake makes them (a whole stay through the outbox, so later notices
carry the stay's history), the XDIS01 and XDIS91 samples, MedCom's Flow 1 letter with its XBIN01, and a relayed
FHIR CareCommunication. Each is previewed with `--explain` data before it is taken in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from gateway.api import create_app
from gateway.clock import SequenceIds
from gateway.config import Settings
from gateway.inbound.limits import Limits
from gateway.inbound.oioxml import parse_oioxml
from gateway.services.planning import PlannedNotice
from mappings.documents.discharge import BinaryLetter
from mappings.explain import KINDS
from mappings.notices.danish_text import danish_date, danish_datetime
from tests.support import scenario

HL7 = "x-application/hl7-v2+er7"
XML = "application/xml"
STAY = [
    "adt_a01_inpatient_8859-1.hl7",
    "adt_a21_leave_8859-1.hl7",
    "adt_a22_return_8859-1.hl7",
    "adt_a03_discharge_8859-1.hl7",
    "adt_a13_cancel_discharge_8859-1.hl7",
]
#: A date as our texts write it (`15.01.1999`), with a clock time after it when there is one (`kl. 10:10`).
DANISH_DATE = re.compile(r"\b(\d{2})\.(\d{2})\.(\d{4})(?: kl\. (\d{2}):(\d{2}))?")
#: Any other way of writing a date in a text: ISO, slashes, dashes, two-digit years.
OTHER_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}[-/]\d{1,2}[-/]\d{2,4}\b")


@pytest.fixture(scope="module")
def notices(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, PlannedNotice]]:
    """(input, notice) for every notice of every input, each previewed with explain data, then taken in."""
    import asyncio

    tmp = tmp_path_factory.mktemp("coverage")
    scenario.write_flow1_directory(tmp / "directory.yaml", "http://gp.test/fhir", "http://kommune.test/fhir")
    app = create_app(Settings(data_dir=tmp, insecure_no_auth=True), ids=SequenceIds())
    return asyncio.run(_collect(app))


async def _collect(app: FastAPI) -> list[tuple[str, PlannedNotice]]:
    intake = app.state.intake
    app.state.plans.accept("http://gateway.test", scenario.plan_document())
    found: list[tuple[str, PlannedNotice]] = []
    inputs: list[tuple[str, bytes, str]] = [(name, scenario.adt(name), HL7) for name in STAY]
    for letter in ("xdis01_iso-8859-1.xml", "xdis91_utf-8.xml"):
        inputs.append((letter, (scenario.SAMPLES / "inbound" / letter).read_bytes(), XML))
    inputs.append(("Flow1-XDIS91_Ex_to_FHIR.xml", scenario.medcom("Flow1-XDIS91_Ex_to_FHIR.xml"), XML))
    inputs.append(
        (
            "Bundle-k7bfbc0c (relayed)",
            scenario.medcom("Bundle-k7bfbc0c-553d-11ed-bdc3-0242ac120002.json"),
            "application/fhir+json",
        )
    )
    binary = parse_oioxml(scenario.medcom("Flow1-XBIN01_Ex_to_FHIR.xml"), limits=Limits())
    assert isinstance(binary, BinaryLetter)
    for name, body, media in inputs:
        preview = intake.preview(body, media, explain=True, binaries=binary.objects)
        assert preview.notices, name
        for notice, issues in zip(preview.notices, preview.issues, strict=True):
            assert not [i for i in issues if i.severity in ("error", "fatal")], (name, notice.kind, issues)
            found.append((name, notice))
        if media == HL7:
            await intake.accept(body, media)
    return found


def test_the_story_makes_every_kind_of_notice(notices: list[tuple[str, PlannedNotice]]) -> None:
    kinds = {notice.kind for _, notice in notices}
    assert kinds >= {
        "hospital-notification",
        "care-communication",
        "care-communication-crisisplan",
        "care-communication-admission",
        "care-communication-discharge",
        "care-communication-followup",
        "care-communication-discharge-coordinator",
    }


def leaves(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from leaves(child, f"{path}.{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from leaves(child, f"{path}[{index}]")
    else:
        yield path


def test_every_leaf_element_of_every_notice_is_explained(notices: list[tuple[str, PlannedNotice]]) -> None:
    for name, notice in notices:
        explained = {item.path: item.origin for item in notice.explained}
        expected = set(leaves(notice.message, "Bundle"))
        assert set(explained) == expected, (name, notice.kind, sorted(expected ^ set(explained))[:5])
        unexplained = [(path, o) for path, o in explained.items() if o.kind not in KINDS or not o.source]
        assert not unexplained, (name, notice.kind, unexplained[:5])


def _texts(notice: PlannedNotice) -> Iterator[tuple[str, str]]:
    for item in notice.explained:
        if item.path.endswith((".contentString", ".topic.text")):
            value: Any = notice.message
            for step in re.findall(r"[^.\[\]]+|\[\d+\]", item.path.removeprefix("Bundle.")):
                value = value[int(step[1:-1])] if step.startswith("[") else value[step]
            yield item.path, str(value)


def _written_as(value: str) -> set[str]:
    """Every way our texts may write an input value that is a date or an instant."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return {value}
    if len(value) == 10:
        return {danish_date(date.fromisoformat(value))}
    return {danish_datetime(moment)}


def test_every_date_in_every_text_comes_from_an_input_field(notices: list[tuple[str, PlannedNotice]]) -> None:
    checked = 0
    for name, notice in notices:
        origins = {item.path: item.origin for item in notice.explained}
        for path, text in _texts(notice):
            values = origins[path].values
            allowed = set().union(*(_written_as(value) for _, value in values)) if values else set()
            literal = " ".join(value for _, value in values)
            for match in DANISH_DATE.finditer(text):
                written = match.group(0)
                assert written in allowed or written in literal, (name, notice.kind, path, written, values)
                checked += 1
            assert not OTHER_DATE.search(text), (name, notice.kind, path, text)
    assert checked >= 10, "the story's texts carry dates to check"


def test_a_date_only_fact_never_gets_a_clock_time(notices: list[tuple[str, PlannedNotice]]) -> None:
    for name, notice in notices:
        for _, text in _texts(notice):
            for line in text.splitlines():
                if line.startswith(("Næste koordinationsmøde", "Kriseplan (", "Forhåndstilkendegivelse (")):
                    assert "kl." not in line, (name, line)


def test_convert_after_intake_gives_the_same_valid_notice(tmp_path: Path, clock: Any) -> None:
    """The bdl-7 defect: converting an input intake already took in added its own Provenance a second time."""
    import asyncio

    from gateway.validation import default_validator

    scenario.write_directory(tmp_path / "directory.yaml", "http://gp.test/fhir", "http://kommune.test/fhir")
    app = create_app(Settings(data_dir=tmp_path, insecure_no_auth=True), clock=clock, ids=SequenceIds())
    intake = app.state.intake
    app.state.plans.accept("http://gateway.test", scenario.plan_document())
    for name in ("adt_a01_inpatient_8859-1.hl7", "adt_a03_discharge_8859-1.hl7"):
        asyncio.run(intake.accept(scenario.adt(name), HL7))
    for name, provenances in (("adt_a01_inpatient_8859-1.hl7", 1), ("adt_a03_discharge_8859-1.hl7", 2)):
        notification = intake.preview(scenario.adt(name), HL7).notices[0].message
        assert not default_validator().validate(notification).errors, name
        found = [e for e in notification["entry"] if e["resource"]["resourceType"] == "Provenance"]
        assert len(found) == provenances, name
