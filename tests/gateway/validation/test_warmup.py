"""`warm_for_messages`: the check plans of the MedCom messages the gateway sends and receives are compiled at
start-up from MedCom's own examples, so the notices the gateway builds compile nothing more (and `gateway serve`
freezes those plans with the rest of start-up: `heap.settle_gateway`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from gateway import heap
from gateway.config import Settings
from gateway.validation import Validator, default_validator, warm_for_messages
from gateway.validation.packages import message_examples, shipped_package_files
from gateway.validation.warmup import MESSAGE_PACKAGES
from tests.support import scenario

HL7 = "x-application/hl7-v2+er7"
INBOUND = Path(__file__).parents[3] / "fixtures" / "samples" / "inbound"


@pytest.fixture
def fresh() -> Validator:
    return Validator(default_validator().registry)


def test_every_message_package_ships_example_messages() -> None:
    found = {
        path.parent.parent.name: list(message_examples(path))
        for path in shipped_package_files()
        if path.parent.parent.name in MESSAGE_PACKAGES
    }
    assert set(found) == set(MESSAGE_PACKAGES)
    for name, bundles in found.items():
        assert bundles, name
        assert all(bundle["resourceType"] == "Bundle" and bundle["type"] == "message" for bundle in bundles)


def test_warming_compiles_the_plans_and_validating_the_examples_again_compiles_none(fresh: Validator) -> None:
    assert fresh.compiled_plans == 0
    warmed = warm_for_messages(fresh)
    compiled = fresh.compiled_plans
    assert warmed >= 20 and compiled > 10
    assert warm_for_messages(fresh) == warmed
    assert fresh.compiled_plans == compiled


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    from gateway.api import create_app

    scenario.write_flow1_directory(tmp_path / "directory.yaml", "http://gp.test/fhir", "http://kommune.test/fhir")
    application = create_app(Settings(data_dir=tmp_path, insecure_no_auth=True))
    application.state.plans.accept("http://gateway.test", scenario.plan_document())
    yield application


def test_the_notices_the_gateway_builds_compile_nothing_after_warming(app: FastAPI, fresh: Validator) -> None:
    intake = app.state.intake
    inputs = [
        ((INBOUND / "adt_a01_inpatient_8859-1.hl7").read_bytes(), HL7),
        ((INBOUND / "adt_a03_discharge_8859-1.hl7").read_bytes(), HL7),
        ((INBOUND / "xdis01_iso-8859-1.xml").read_bytes(), "application/xml"),
        ((INBOUND / "xdis91_utf-8.xml").read_bytes(), "application/xml"),
    ]
    # an A03 continues a stay whose admission this gateway did not see here: its first notice, as with --first-of-stay
    notices = [
        notice.message
        for body, media in inputs
        for notice in intake.preview(body, media, first_of_stay=media == HL7).notices
    ]
    assert len(notices) >= 8
    warm_for_messages(fresh)
    compiled = fresh.compiled_plans
    for notice in notices:
        assert fresh.validate(notice).ok
    assert fresh.compiled_plans == compiled


def test_a_gateway_process_warms_before_it_freezes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(heap, "warm_for_messages", lambda validator: calls.append("warm") or 0)
    monkeypatch.setattr(heap, "settle", lambda: calls.append("settle") or 0)
    heap.settle_gateway()
    assert calls == ["warm", "settle"]
