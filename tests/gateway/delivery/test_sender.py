"""HttpxSender translates every httpx error and response into an AttemptOutcome (pytest-httpx, no sockets)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from pytest_httpx import HTTPXMock

from fixtures.messages import empty_message
from gateway.delivery.outcome import Failure, OutcomeKind
from gateway.delivery.sender import HttpxSender, parse_retry_after
from mappings.notices.acknowledgement import AckIssue, acknowledgement_from_message

URL = "http://127.0.0.1:8081/fhir/$process-message"
SENT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MESSAGE = empty_message(
    header_id="11111111-1111-4111-8111-111111111111",
    bundle_id="22222222-2222-4222-8222-222222222222",
    provenance_id="33333333-3333-4333-8333-333333333333",
    sent_at=SENT,
)


def _ack(code: Any, message: dict[str, Any] = MESSAGE) -> dict[str, Any]:
    issues = [] if code == "ok" else [AckIssue("error", "value", "MSG_Mailbox_Out_Of_Operation", "mailbox down")]
    return acknowledgement_from_message(message, code=code, sent_at=SENT, base_url="http://gp", issues=issues)


@pytest.fixture
async def sender() -> AsyncIterator[HttpxSender]:
    async with httpx.AsyncClient() as client:
        yield HttpxSender(client)


async def test_posts_fhir_json_and_positive_ack_is_delivered(httpx_mock: HTTPXMock, sender: HttpxSender) -> None:
    httpx_mock.add_response(url=URL, method="POST", status_code=200, json=_ack("ok"))
    outcome = await sender.send(URL, MESSAGE)
    assert outcome.kind is OutcomeKind.DELIVERED
    assert outcome.status == 200
    assert outcome.ack is not None and outcome.ack.acknowledged_id == MESSAGE["entry"][0]["resource"]["id"]
    request = httpx_mock.get_request()
    assert request is not None
    assert request.headers["content-type"] == "application/fhir+json"
    assert orjson.loads(request.content) == MESSAGE


@pytest.mark.parametrize(
    ("body", "note"),
    [
        (b"", "no acknowledgement"),
        (b"<html/>", "not JSON"),
        (b'{"resourceType": "OperationOutcome"}', "not an acknowledgement"),
        (b'{"resourceType": "Bundle", "type": "collection"}', "not an acknowledgement"),
    ],
)
async def test_2xx_without_acknowledgement_is_delivered_awaiting_ack(
    httpx_mock: HTTPXMock, sender: HttpxSender, body: bytes, note: str
) -> None:
    httpx_mock.add_response(url=URL, status_code=202, content=body)
    outcome = await sender.send(URL, MESSAGE)
    assert (outcome.kind, outcome.ack) == (OutcomeKind.DELIVERED, None)
    assert note in outcome.detail


async def test_ack_for_another_message_is_not_taken_as_ours(httpx_mock: HTTPXMock, sender: HttpxSender) -> None:
    other = empty_message(
        header_id="99999999-9999-4999-8999-999999999999", bundle_id="b", provenance_id="p", sent_at=SENT
    )
    httpx_mock.add_response(url=URL, status_code=200, json=_ack("ok", other))
    outcome = await sender.send(URL, MESSAGE)
    assert (outcome.kind, outcome.ack) == (OutcomeKind.DELIVERED, None)
    assert "another message" in outcome.detail


@pytest.mark.parametrize(
    ("code", "kind", "failure"),
    [
        ("transient-error", OutcomeKind.TRANSIENT, Failure.NEGATIVE_ACK_TRANSIENT),
        ("fatal-error", OutcomeKind.PERMANENT, Failure.NEGATIVE_ACK_FATAL),
    ],
)
async def test_negative_acks(
    httpx_mock: HTTPXMock, sender: HttpxSender, code: str, kind: OutcomeKind, failure: Failure
) -> None:
    httpx_mock.add_response(url=URL, status_code=200, json=_ack(code))
    outcome = await sender.send(URL, MESSAGE)
    assert (outcome.kind, outcome.failure) == (kind, failure)
    assert outcome.ack is not None and outcome.ack.code == code
    assert "MSG_Mailbox_Out_Of_Operation: mailbox down" in outcome.detail


@pytest.mark.parametrize(
    ("status", "headers", "kind", "failure", "retry_after"),
    [
        (500, {}, OutcomeKind.TRANSIENT, Failure.SERVER_ERROR, None),
        (502, {}, OutcomeKind.TRANSIENT, Failure.SERVER_ERROR, None),
        (503, {"Retry-After": "120"}, OutcomeKind.TRANSIENT, Failure.SERVER_ERROR, timedelta(seconds=120)),
        (408, {}, OutcomeKind.TRANSIENT, Failure.REQUEST_TIMEOUT, None),
        (429, {"Retry-After": "7"}, OutcomeKind.TRANSIENT, Failure.THROTTLED, timedelta(seconds=7)),
        (
            429,
            {"Retry-After": "Wed, 01 May 2024 12:05:00 GMT"},
            OutcomeKind.TRANSIENT,
            Failure.THROTTLED,
            datetime(2024, 5, 1, 12, 5, tzinfo=UTC),
        ),
        (400, {}, OutcomeKind.PERMANENT, Failure.CLIENT_ERROR, None),
        (401, {}, OutcomeKind.PERMANENT, Failure.CLIENT_ERROR, None),
        (404, {}, OutcomeKind.PERMANENT, Failure.CLIENT_ERROR, None),
        (422, {}, OutcomeKind.PERMANENT, Failure.CLIENT_ERROR, None),
        (302, {"Location": "http://elsewhere"}, OutcomeKind.PERMANENT, Failure.UNEXPECTED_STATUS, None),
    ],
)
async def test_status_codes(
    httpx_mock: HTTPXMock,
    sender: HttpxSender,
    status: int,
    headers: dict[str, str],
    kind: OutcomeKind,
    failure: Failure,
    retry_after: timedelta | datetime | None,
) -> None:
    httpx_mock.add_response(url=URL, status_code=status, headers=headers, text="went wrong")
    outcome = await sender.send(URL, MESSAGE)
    assert (outcome.kind, outcome.failure, outcome.status, outcome.retry_after) == (
        kind,
        failure,
        status,
        retry_after,
    )
    assert "went wrong" in outcome.detail


async def test_operation_outcome_diagnostics_become_the_detail(httpx_mock: HTTPXMock, sender: HttpxSender) -> None:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "structure", "diagnostics": "no"}],
    }
    httpx_mock.add_response(url=URL, status_code=400, json=body)
    outcome = await sender.send(URL, MESSAGE)
    assert outcome.describe() == "client-error (HTTP 400): no"


@pytest.mark.parametrize(
    ("exception", "kind", "failure"),
    [
        (httpx.ConnectError("Connection refused"), OutcomeKind.TRANSIENT, Failure.CONNECT),
        (httpx.ConnectTimeout("slow connect"), OutcomeKind.TRANSIENT, Failure.TIMEOUT),
        (httpx.ReadTimeout("slow read"), OutcomeKind.TRANSIENT, Failure.TIMEOUT),
        (httpx.WriteTimeout("slow write"), OutcomeKind.TRANSIENT, Failure.TIMEOUT),
        (httpx.PoolTimeout("pool"), OutcomeKind.TRANSIENT, Failure.TIMEOUT),
        (httpx.ReadError("reset by peer"), OutcomeKind.TRANSIENT, Failure.NETWORK),
        (httpx.RemoteProtocolError("peer closed connection"), OutcomeKind.TRANSIENT, Failure.NETWORK),
        (httpx.UnsupportedProtocol("ftp"), OutcomeKind.PERMANENT, Failure.CLIENT_ERROR),
    ],
)
async def test_transport_errors(
    httpx_mock: HTTPXMock, sender: HttpxSender, exception: Exception, kind: OutcomeKind, failure: Failure
) -> None:
    httpx_mock.add_exception(exception, url=URL)
    outcome = await sender.send(URL, MESSAGE)
    assert (outcome.kind, outcome.failure, outcome.status) == (kind, failure, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("0", timedelta(0)),
        (" 30 ", timedelta(seconds=30)),
        ("Sun, 06 Nov 1994 08:49:37 GMT", datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)),
        ("soon", None),
        ("-5", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: timedelta | datetime | None) -> None:
    assert parse_retry_after(value) == expected


async def test_httpcore_finds_the_async_library_without_a_failed_import() -> None:
    # httpcore imports sniffio on every request to ask which async library runs; when it is missing, every ask
    # searches the whole sys.path and fails (43.5 µs each, several per send: bench/README.md). pyproject lists it.
    from httpcore._synchronization import current_async_library

    assert current_async_library() == "asyncio"
    assert "sniffio" in sys.modules
