"""`gateway validate` and `convert --explain` output: whole lines when piped, each problem said once, `--json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.cli.files import said_once
from mappings.issues import Issue
from tests.support import scenario

runner = CliRunner(env={"COLUMNS": "80"})
MEDCOM = scenario.SAMPLES / "inbound" / "medcom"


def broken(tmp_path: Path) -> Path:
    bundle = json.loads(sorted(MEDCOM.glob("Bundle-*.json"))[0].read_text("utf-8"))
    bundle["type"] = "collection"
    path = tmp_path / "a-file-with-a-rather-long-name-that-would-not-fit-an-eighty-column-table.json"
    path.write_text(json.dumps(bundle), "utf-8")
    return path


def test_the_summary_is_never_cut_and_says_each_problem_once(tmp_path: Path) -> None:
    path = broken(tmp_path)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    header, row = result.output.splitlines()
    assert header.split() == ["file", "resource", "errors", "warnings", "first", "error"]
    assert row.startswith(str(path))
    first_error = row.split("  ")[-1].strip()
    assert first_error.startswith("Bundle.type: value must match pattern 'message' (http")
    assert first_error.count("Bundle.type") == 1
    assert first_error.endswith("medcom-hospitalNotification-message)")


def test_validate_json_lists_every_issue_per_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "--json", str(broken(tmp_path))])
    (file,) = json.loads(result.output)
    issues = file["outcome"]["issue"]
    assert any(issue["expression"] == ["Bundle.type"] for issue in issues)
    assert all({"severity", "code", "diagnostics"} <= issue.keys() for issue in issues)


def test_said_once_drops_the_element_path_the_diagnostics_repeat() -> None:
    repeated = Issue("error", "value", "MessageHeader.event: value must match", "Bundle.entry[0].resource.event")
    assert said_once(repeated) == "Bundle.entry[0].resource.event: value must match"
    plain = Issue("error", "value", "No such file: x", None)
    assert said_once(plain) == "No such file: x"


def test_explain_is_plain_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GATEWAY_CONFIG_FILE", str(tmp_path / "none.toml"))
    scenario.write_directory(tmp_path / "directory.yaml", "http://127.0.0.1:9/gp", "http://127.0.0.1:9/kommune")
    source = scenario.SAMPLES / "inbound" / "xdis91_windows-1252.xml"
    result = runner.invoke(app, ["convert", str(source), "--explain", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = lines.index(f"{source}: notice 0 (care-communication): where each element came from")
    assert lines[start + 1].split() == ["output", "element", "origin", "input", "field"]
    assert all(len(line.split("  ")) >= 2 for line in lines[start + 2 :] if line)
