"""`gateway messages`: whole ids in every listing, and every id it shows (or a unique prefix) works for `show`."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.delivery.outbox import NewNotice
from gateway.delivery.outbox_sql import InboundRecord, SqlOutbox
from gateway.store.database import make_engine
from mappings.issues import IssueError

runner = CliRunner(env={"COLUMNS": "80"})  # narrow, like the terminal of issue 17: ids must still be whole
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ADMISSION = "34cfb0ba-06ac-5a5f-8c55-58a0d7e5dd7a"
DISCHARGE = "34cfb0ba-9999-5d24-8693-7ebfda6fce1d"  # shares its first 9 characters with the admission
NOTICES = {
    ADMISSION: ["b70139e2-5c1e-4f3a-9d1e-6f0b2a7c9d10"],
    DISCHARGE: ["d2bed02f-8865-4b76-a195-80ab4d07f9bc", "b8b56216-9f54-4388-93d8-005d386818bd"],
}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GATEWAY_CONFIG_FILE", str(tmp_path / "none.toml"))
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    outbox = SqlOutbox(make_engine(f"sqlite:///{tmp_path / 'gateway.db'}"))
    for inbound, notice_ids in NOTICES.items():
        notices = [
            NewNotice(
                id=notice_id,
                message_header_id=f"header-{notice_id}",
                citizen="citizen-key",
                recipient="sor:375431000016008",
                endpoint="http://127.0.0.1:9/fhir/$process-message",
                message={"resourceType": "Bundle", "type": "message"},
                kind="hospital-notification",
            )
            for notice_id in notice_ids
        ]
        record = InboundRecord("x-application/hl7-v2+er7", {}, "MSH|...")
        asyncio.run(outbox.enqueue(inbound, notices, T0, inbound=record))
    return tmp_path


def test_list_prints_every_id_whole_one_notice_per_line(data_dir: Path) -> None:
    result = runner.invoke(app, ["messages", "list"])
    assert result.exit_code == 0, result.output
    header, *rows = result.output.splitlines()
    assert header.split()[:3] == ["notice", "inbound", "message"]
    assert [row.split()[:2] for row in rows] == [
        [notice, inbound] for inbound, notices in NOTICES.items() for notice in notices
    ]
    assert "…" not in result.output


def test_list_as_json_is_the_api_shape(data_dir: Path) -> None:
    result = runner.invoke(app, ["messages", "list", "--json", "--state", "pending"])
    listed = json.loads(result.output)
    assert [(n["id"], n["inboundMessageId"], n["state"]) for n in listed] == [
        (notice, inbound, "pending") for inbound, notices in NOTICES.items() for notice in notices
    ]


@pytest.mark.parametrize(
    "reference",
    [DISCHARGE, DISCHARGE[:10], NOTICES[DISCHARGE][0], NOTICES[DISCHARGE][1][:4], "d2bed02f"],
    ids=["inbound id", "inbound prefix", "notice id", "notice prefix", "another notice prefix"],
)
def test_show_takes_any_listed_id_or_a_unique_prefix(data_dir: Path, reference: str) -> None:
    result = runner.invoke(app, ["messages", "show", reference, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["inbound"]["id"] == DISCHARGE
    assert [notice["id"] for notice in shown["notices"]] == NOTICES[DISCHARGE]


def test_show_of_a_notice_prints_its_inbound_message_with_all_its_notices(data_dir: Path) -> None:
    result = runner.invoke(app, ["messages", "show", NOTICES[DISCHARGE][1]])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"inbound message {DISCHARGE}, received ")
    assert all(f"notice {notice}: hospital-notification" in result.output for notice in NOTICES[DISCHARGE])


def test_an_ambiguous_prefix_is_refused_with_its_candidates(data_dir: Path) -> None:
    result = runner.invoke(app, ["messages", "show", "34cfb0ba"])
    assert isinstance(result.exception, IssueError)
    (issue,) = result.exception.issues
    assert issue.message_id == "messages.ambiguous"
    assert f"{ADMISSION} (inbound message)" in issue.diagnostics
    assert f"{DISCHARGE} (inbound message)" in issue.diagnostics


def test_an_unknown_id_is_not_found(data_dir: Path) -> None:
    result = runner.invoke(app, ["messages", "show", "ffff"])
    assert isinstance(result.exception, IssueError)
    assert result.exception.issues[0].message_id == "messages.unknown"


def test_list_wait_gives_up_with_exit_1_while_notices_are_on_their_way(data_dir: Path) -> None:
    """Nothing delivers here (no worker), so the three pending notices never settle."""
    result = runner.invoke(app, ["messages", "list", "--wait", "0.2"])
    assert result.exit_code == 1
    assert "still on their way" in result.output
    assert len(result.stdout.splitlines()) == 4  # the list is printed all the same


def test_list_wait_returns_at_once_when_nothing_is_on_its_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["messages", "list", "--wait", "600"])
    assert result.exit_code == 0, result.output
