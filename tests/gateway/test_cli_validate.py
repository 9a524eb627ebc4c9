"""`gateway validate`: --ig (a package, a folder, a file), --output json, and an unknown --profile as an error."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.validation import resource_to_xml
from tests.gateway.validation.profiles import constraint_profile

runner = CliRunner(env={"COLUMNS": "300"})
PROFILE = "https://fhir.hospital.test/StructureDefinition/named-patient"
#: An R4 core extension outside the extensions package, defined only by the IG below.
SHOE_SIZE = "https://fhir.hospital.test/StructureDefinition/shoe-size"


def _named_patient_profile() -> dict[str, Any]:
    return constraint_profile(PROFILE, "Patient", [{"id": "Patient.name", "path": "Patient.name", "min": 1}])


def _write(folder: Path, name: str, resource: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(resource), "utf-8")
    return path


@pytest.fixture
def patients(tmp_path: Path) -> tuple[Path, Path]:
    nameless = _write(tmp_path / "in", "nameless.json", {"resourceType": "Patient", "id": "a"})
    named = _write(
        tmp_path / "in", "named.json", {"resourceType": "Patient", "id": "b", "name": [{"family": "Hansen"}]}
    )
    return nameless, named


def _package(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, content in (
            ("package/package.json", {"name": "hospital.test.ig", "version": "1.0.0", "dependencies": {}}),
            ("package/StructureDefinition-named-patient.json", _named_patient_profile()),
        ):
            data = json.dumps(content).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("form", ["folder", "file", "xml file", "package"])
def test_ig_gives_the_validator_a_profile_it_does_not_ship(
    tmp_path: Path, patients: tuple[Path, Path], form: str
) -> None:
    profile = _named_patient_profile()
    if form == "folder":
        ig = tmp_path / "ig"
        _write(ig, "StructureDefinition-named-patient.json", profile)
    elif form == "file":
        ig = _write(tmp_path / "ig", "named-patient.json", profile)
    elif form == "xml file":
        ig = tmp_path / "named-patient.xml"
        ig.write_bytes(resource_to_xml(profile))
    else:
        ig = _package(tmp_path / "ig.tgz")
    nameless, named = patients
    assert runner.invoke(app, ["validate", "--ig", str(ig), "--profile", PROFILE, str(named)]).exit_code == 0
    result = runner.invoke(app, ["validate", "--ig", str(ig), "--profile", PROFILE, str(nameless)])
    assert result.exit_code == 1
    assert "Patient.name" in result.output


def test_ig_is_repeatable(tmp_path: Path, patients: tuple[Path, Path]) -> None:
    extension = {
        "resourceType": "StructureDefinition",
        "url": SHOE_SIZE,
        "name": "ShoeSize",
        "status": "draft",
        "kind": "complex-type",
        "abstract": False,
        "context": [{"type": "element", "expression": "Patient"}],
        "type": "Extension",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
        "derivation": "constraint",
        "differential": {
            "element": [
                {"id": "Extension.url", "path": "Extension.url", "fixedUri": SHOE_SIZE},
                {"id": "Extension.value[x]", "path": "Extension.value[x]", "type": [{"code": "integer"}]},
            ]
        },
    }
    profile = _write(tmp_path / "a", "profile.json", _named_patient_profile())
    shoes = _write(tmp_path / "b", "extension.json", extension)
    patient = _write(
        tmp_path / "in",
        "shoes.json",
        {
            "resourceType": "Patient",
            "name": [{"family": "Hansen"}],
            "extension": [{"url": SHOE_SIZE, "valueInteger": 44}],
        },
    )
    only_profile = runner.invoke(app, ["validate", "--ig", str(profile), "--profile", PROFILE, str(patient)])
    assert only_profile.exit_code == 1  # the extension is unknown without its definition
    args = ["validate", "--ig", str(profile), "--ig", str(shoes), "--profile", PROFILE, str(patient)]
    assert runner.invoke(app, args).exit_code == 0


def test_output_json_prints_each_files_operation_outcome(patients: tuple[Path, Path]) -> None:
    nameless, named = patients
    result = runner.invoke(app, ["validate", "--output", "json", str(named), str(nameless)])
    outcomes = json.loads(result.output)
    assert [o["file"] for o in outcomes] == [str(named), str(nameless)]
    assert all(o["outcome"]["resourceType"] == "OperationOutcome" for o in outcomes)
    assert result.exit_code == 0  # the base Patient asks for no name


def test_output_json_carries_the_errors_with_their_paths(tmp_path: Path) -> None:
    broken = _write(tmp_path, "broken.json", {"resourceType": "Patient", "gender": "nonsense"})
    result = runner.invoke(app, ["validate", "--output", "json", str(broken)])
    assert result.exit_code == 1
    [outcome] = json.loads(result.output)
    errors = [i for i in outcome["outcome"]["issue"] if i["severity"] == "error"]
    assert [(i["expression"], i["details"]["coding"][0]["code"]) for i in errors] == [
        (["Patient.gender"], "validation.code-not-in-valueset")
    ]


def test_an_unknown_profile_is_an_error(patients: tuple[Path, Path]) -> None:
    _, named = patients
    result = runner.invoke(
        app, ["validate", "--profile", "https://fhir.hospital.test/StructureDefinition/none", str(named)]
    )
    assert result.exit_code == 1
    assert "is not known here" in result.output


@pytest.mark.parametrize("ig", ["missing-folder", "not-an-ig.txt"])
def test_an_unreadable_ig_is_an_error(tmp_path: Path, patients: tuple[Path, Path], ig: str) -> None:
    (tmp_path / "not-an-ig.txt").write_text("hello", "utf-8")
    result = runner.invoke(app, ["validate", "--ig", str(tmp_path / ig), str(patients[1])])
    assert result.exit_code == 1
