"""The `gateway` command line: validate, convert, messages (through typer's runner, in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from tests.support import scenario

runner = CliRunner(env={"COLUMNS": "300"})
MEDCOM = scenario.SAMPLES / "inbound" / "medcom"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GATEWAY_CONFIG_FILE", str(tmp_path / "none.toml"))
    scenario.write_directory(tmp_path / "directory.yaml", "http://127.0.0.1:9/gp", "http://127.0.0.1:9/kommune")
    return tmp_path


def test_validate_passes_medcom_examples_and_fails_a_broken_one(tmp_path: Path, data_dir: Path) -> None:
    good = sorted(MEDCOM.glob("Bundle-*.json"))[:3]
    result = runner.invoke(app, ["validate", *map(str, good)])
    assert result.exit_code == 0, result.output
    broken = json.loads(good[0].read_text("utf-8"))
    broken["type"] = "collection"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken), "utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "broken.json" in result.output


def test_convert_writes_validated_notices(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "out"
    source = scenario.SAMPLES / "inbound" / "xdis91_windows-1252.xml"
    result = runner.invoke(app, ["convert", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    (written,) = out.glob("*.json")
    bundle = json.loads(written.read_text("utf-8"))
    assert bundle["type"] == "message"
    communication = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Communication")
    assert "æ" in json.dumps(communication, ensure_ascii=False) or "ø" in json.dumps(communication, ensure_ascii=False)


def test_convert_refuses_bad_input_with_exit_1(tmp_path: Path, data_dir: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')
    result = runner.invoke(app, ["convert", str(bad)])
    assert result.exit_code == 1
    assert "root:" not in result.output


def test_messages_list_on_an_empty_outbox(data_dir: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["messages", "list"])
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["notice", "inbound", "message", "kind", "recipient", "state", "attempts"] + [
        "resends",
        "last",
        "error",
    ]
