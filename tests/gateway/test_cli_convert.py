"""`gateway convert`: offline, never storing, letters with their binaries, every element explained."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.inbound.fhir_message import parse_fhir_message
from gateway.inbound.limits import Limits
from tests.mappings.notices.normalise import normalise
from tests.support import scenario

runner = CliRunner(env={"COLUMNS": "300"})
MEDCOM = scenario.SAMPLES / "inbound" / "medcom"
ADT = scenario.SAMPLES / "inbound"
PLAN = scenario.DEMO / "plan.json"
ATTACHMENT_UUID = "c39ea6b2-6052-45e4-a207-415e0205ab6f"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder: no directory, no database."""
    folder = tmp_path / "data"
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(folder))
    monkeypatch.setenv("GATEWAY_CONFIG_FILE", str(tmp_path / "none.toml"))
    monkeypatch.delenv("GATEWAY_DIRECTORY_FILE", raising=False)
    monkeypatch.delenv("GATEWAY_DATABASE_URL", raising=False)
    return folder


def _json(output: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(output)
    return loaded


def test_without_a_directory_it_converts_and_names_recipients_by_identifier(data_dir: Path) -> None:
    result = runner.invoke(
        app, ["convert", str(ADT / "adt_a01_inpatient_8859-1.hl7"), "--plan", str(PLAN), "--explain-format", "json"]
    )
    assert result.exit_code == 0, result.output
    (report,) = _json(result.stdout)["inputs"]
    assert [(n["kind"], n["recipient"]) for n in report["notices"]] == [
        ("hospital-notification", "municipality 0330"),
        ("care-communication-crisisplan", "SOR 265161000016000"),
        ("care-communication-admission", "SOR 378921000016004, GLN 5790000001040"),
    ]
    assert {n["endpoint"] for n in report["notices"]} == {"unknown (no recipient directory)"}
    assert all(n["errors"] == [] and n["offlineGaps"] for n in report["notices"])
    assert not data_dir.exists(), "convert never creates the data folder or a database"


def test_it_never_fails_because_the_input_was_taken_in_and_never_stores(tmp_path: Path, data_dir: Path) -> None:
    import asyncio

    from gateway.api import create_app
    from gateway.clock import SequenceIds
    from gateway.config import Settings

    directory = scenario.write_directory(tmp_path / "directory.yaml", "http://gp.test/fhir", "http://kommune.test/fhir")
    service = create_app(
        Settings(data_dir=data_dir, directory_file=directory, insecure_no_auth=True), ids=SequenceIds()
    )
    service.state.plans.accept("http://gateway.test", scenario.plan_document())
    for name in ("adt_a01_inpatient_8859-1.hl7", "adt_a03_discharge_8859-1.hl7"):
        asyncio.run(service.state.intake.accept(scenario.adt(name), "x-application/hl7-v2+er7"))
    database = data_dir / "gateway.db"
    before = database.stat().st_mtime_ns
    for name in ("adt_a01_inpatient_8859-1.hl7", "adt_a03_discharge_8859-1.hl7"):
        result = runner.invoke(app, ["convert", str(ADT / name), "--directory", str(directory), "--out", str(tmp_path)])
        assert result.exit_code == 0, (name, result.output)
    assert database.stat().st_mtime_ns == before


def test_a_letter_and_its_binary_convert_together_as_medcom_does(tmp_path: Path, data_dir: Path) -> None:
    directory = scenario.write_flow1_directory(tmp_path / "d.yaml", "http://gp.test/fhir", "http://kommune.test/fhir")
    letter, binary = MEDCOM / "Flow1-XDIS91_Ex_to_FHIR.xml", MEDCOM / "Flow1-XBIN01_Ex_to_FHIR.xml"
    result = runner.invoke(app, ["convert", str(letter), str(binary), "--directory", str(directory)])
    assert result.exit_code == 0, result.output
    built = _json(result.stdout)
    expected = parse_fhir_message(
        (MEDCOM / "Flow1-CareCommunication_Ex_from_OIOXML.xml").read_bytes(), "application/fhir+xml", limits=Limits()
    ).bundle
    for bundle in (built, expected):
        next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")["resource"].pop("name")
    assert normalise(built, keep_uuids=(ATTACHMENT_UUID,)) == normalise(expected, keep_uuids=(ATTACHMENT_UUID,))
    alone = runner.invoke(app, ["convert", str(letter), "--directory", str(directory)])
    assert alone.exit_code == 1 and "no XBIN01 with it was supplied" in alone.output


def test_a_stay_not_seen_begin_has_a_documented_way_through(tmp_path: Path, data_dir: Path) -> None:
    discharge = str(ADT / "adt_a03_discharge_8859-1.hl7")
    directory = scenario.write_directory(tmp_path / "directory.yaml", "http://gp.test/fhir", "http://kommune.test/fhir")
    refused = runner.invoke(app, ["convert", discharge, "--plan", str(PLAN), "--directory", str(directory)])
    assert refused.exit_code == 1
    assert "--first-of-stay" in refused.output
    flagged = runner.invoke(
        app,
        ["convert", discharge, "--plan", str(PLAN), "--directory", str(directory), "--first-of-stay",
         "--explain-format", "json"],
    )  # fmt: skip
    assert flagged.exit_code == 0, flagged.output
    (report,) = _json(flagged.stdout)["inputs"]
    assert any("first notice" in note for note in report["notes"])


def test_explain_as_a_table_names_each_elements_origin(tmp_path: Path, data_dir: Path) -> None:
    directory = scenario.write_directory(tmp_path / "directory.yaml", "http://gp.test/fhir", "http://kommune.test/fhir")
    result = runner.invoke(
        app,
        ["convert", str(ADT / "adt_a01_inpatient_8859-1.hl7"), "--plan", str(PLAN), "--directory", str(directory),
         "--explain", "--out", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Bundle.entry[1].resource.identifier[0].value" in result.stdout
    assert "PID-3.1" in result.stdout and "generated id" in result.stdout and "unexplained" not in result.stdout


def test_a_plan_file_that_is_no_plan_is_one_clear_error(tmp_path: Path, data_dir: Path) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text('{"source": {}}', "utf-8")
    result = runner.invoke(app, ["convert", str(ADT / "adt_a01_inpatient_8859-1.hl7"), "--plan", str(bad)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "/source" in result.output
