"""The delivery seam: POST a MedCom message Bundle, get an `AttemptOutcome`.

`HttpxSender` is the only place httpx errors and responses are interpreted (style: foreign exceptions are
translated at their seam, nowhere else). The classification:

| what happened | outcome | failure |
|---|---|---|
| 2xx with a positive Acknowledgement for this message | delivered (with `ack`) | |
| 2xx without a (matching) Acknowledgement | delivered (`ack=None`: wait for it) | |
| Acknowledgement `transient-error` (any status) | transient | `negative-ack-transient` |
| Acknowledgement `fatal-error` (any status) | permanent | `negative-ack-fatal` |
| connection refused / DNS | transient | `connect-error` |
| connect/read/write/pool timeout, no complete answer by the deadline | transient | `timeout` |
| connection broken, peer closed without a complete response | transient | `network-error` |
| 5xx | transient (+ `Retry-After`) | `server-error` |
| 408 | transient (+ `Retry-After`) | `request-timeout` |
| 429 | transient (+ `Retry-After`) | `throttled` |
| other 4xx, 1xx/3xx, an unusable endpoint URL | permanent | `client-error` / `unexpected-status` |
| an answer the gateway cannot read (a malformed OperationOutcome, ...) | permanent | `unreadable-answer` |

`transient-error` is retried because HL7 R4 `response-code` defines it as "some internal unexpected error
occurred - wait and try again"; `fatal-error` as "there is no point in re-sending without change".
`Retry-After` (RFC 9110 §10.2.3) is delta-seconds or an HTTP-date.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
import orjson

from gateway.delivery.outcome import AttemptOutcome, Failure
from mappings.issues import IssueError
from mappings.json_shape import items
from mappings.notices.acknowledgement import Ack, parse_acknowledgement

FHIR_JSON = "application/fhir+json"
_DETAIL_LIMIT = 300
#: A `Retry-After` longer than this (seconds) is taken as this: a week, against a delay that would overflow.
_LONGEST_RETRY_AFTER = 7 * 24 * 3600
logger = logging.getLogger(__name__)


class Sender(Protocol):
    async def send(self, endpoint: str, message: Mapping[str, Any]) -> AttemptOutcome:
        """Deliver one message Bundle to `endpoint`; never raises for anything the network or peer does."""
        ...


class HttpxSender:
    """POSTs `application/fhir+json` through one shared `httpx.AsyncClient`.

    The client's timeouts bound each step (connect, each read, each write); `deadline_seconds` bounds the whole
    exchange, answer included. Without it a receiver that answers a byte at a time, each within the read timeout,
    holds the send past the worker's lease, and another worker sends the same notice meanwhile."""

    def __init__(self, client: httpx.AsyncClient, *, deadline_seconds: float | None = None) -> None:
        self._client = client
        self._deadline = deadline_seconds

    async def send(self, endpoint: str, message: Mapping[str, Any]) -> AttemptOutcome:
        try:
            async with asyncio.timeout(self._deadline):
                response = await self._client.post(
                    endpoint,
                    content=orjson.dumps(message),
                    headers={"Content-Type": FHIR_JSON, "Accept": FHIR_JSON},
                )
        except TimeoutError:
            within = f" within {self._deadline:g} s" if self._deadline is not None else ""
            return AttemptOutcome.transient(Failure.TIMEOUT, f"no complete answer{within}")
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            return AttemptOutcome.permanent(Failure.CLIENT_ERROR, f"unusable endpoint {endpoint!r}: {exc}")
        except httpx.ConnectError as exc:
            return AttemptOutcome.transient(Failure.CONNECT, _text(exc, "connection failed"))
        except httpx.TimeoutException as exc:
            return AttemptOutcome.transient(Failure.TIMEOUT, _text(exc, type(exc).__name__))
        except httpx.TransportError as exc:
            return AttemptOutcome.transient(Failure.NETWORK, _text(exc, type(exc).__name__))
        except httpx.HTTPError as exc:  # e.g. a body in a content encoding it does not have
            return AttemptOutcome.transient(Failure.NETWORK, _text(exc, type(exc).__name__))
        try:
            return classify_response(response, _header_id(message))
        except Exception as exc:  # noqa: BLE001 - whatever a peer answers becomes an outcome, never a stuck notice
            logger.exception("unreadable answer from %s", endpoint)
            detail = f"HTTP {response.status_code}, an answer that could not be read: {type(exc).__name__}"
            return AttemptOutcome.permanent(Failure.UNREADABLE, detail, status=response.status_code)


def classify_response(response: httpx.Response, header_id: str | None) -> AttemptOutcome:
    """The outcome of a complete HTTP response to the message whose `MessageHeader.id` is `header_id`."""
    status = response.status_code
    ack, ack_note = _acknowledgement(response, header_id)
    if ack is not None:
        if ack.positive:
            return AttemptOutcome.delivered(status, ack)
        if ack.code == "transient-error":
            return AttemptOutcome.transient(
                Failure.NEGATIVE_ACK_TRANSIENT,
                ack.reason(),
                status=status,
                retry_after=_retry_after(response),
                ack=ack,
            )
        return AttemptOutcome.permanent(Failure.NEGATIVE_ACK_FATAL, ack.reason(), status=status, ack=ack)
    if 200 <= status < 300:
        return AttemptOutcome.delivered(status, None, ack_note)
    detail = _error_detail(response)
    if status >= 500 or status in (408, 429):
        failure = {408: Failure.REQUEST_TIMEOUT, 429: Failure.THROTTLED}.get(status, Failure.SERVER_ERROR)
        return AttemptOutcome.transient(failure, detail, status=status, retry_after=_retry_after(response))
    if 400 <= status < 500:
        return AttemptOutcome.permanent(Failure.CLIENT_ERROR, detail, status=status)
    return AttemptOutcome.permanent(Failure.UNEXPECTED_STATUS, detail, status=status)


def parse_retry_after(value: str | None) -> timedelta | datetime | None:
    """`Retry-After` as a delay (delta-seconds) or an instant (HTTP-date); `None` if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # `isdigit` alone takes "²"
        return timedelta(seconds=min(int(value), _LONGEST_RETRY_AFTER))
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _retry_after(response: httpx.Response) -> timedelta | datetime | None:
    return parse_retry_after(response.headers.get("Retry-After"))


def _acknowledgement(response: httpx.Response, header_id: str | None) -> tuple[Ack | None, str]:
    """The Acknowledgement in the body if it answers our message, else `None` and why (for the log)."""
    if not response.content:
        return None, "no acknowledgement in the response"
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None, "response body is not JSON"
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        return None, "response body is not an acknowledgement"
    try:
        ack = parse_acknowledgement(body, outcome_optional=True)
    except IssueError as exc:
        return None, f"response body is not an acknowledgement: {exc}"
    if header_id is not None and ack.acknowledged_id != header_id:
        return None, f"acknowledgement answers another message ({ack.acknowledged_id})"
    return ack, ""


def _error_detail(response: httpx.Response) -> str:
    """Diagnostics of an OperationOutcome body if there is one, else the reason phrase and body start."""
    try:
        body = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        texts = [
            str(issue.get("diagnostics") or issue.get("code"))
            for issue in items(body.get("issue"))
            if isinstance(issue, dict)
        ]
        if texts:
            return "; ".join(texts)[:_DETAIL_LIMIT]
    text = response.content[:_DETAIL_LIMIT].decode("utf-8", "replace").strip()
    return f"{response.reason_phrase}: {text}" if text else response.reason_phrase


def _header_id(message: Mapping[str, Any]) -> str | None:
    try:
        header_id = message["entry"][0]["resource"]["id"]
    except (KeyError, IndexError, TypeError):
        return None
    return header_id if isinstance(header_id, str) else None


def _text(exc: Exception, fallback: str) -> str:
    return str(exc) or fallback
