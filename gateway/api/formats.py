"""FHIR XML on the whole REST API (`/fhir`), as pure ASGI middleware around routes that speak FHIR JSON.

FHIR R4 http.html#mime: the formal types are `application/fhir+json` and `application/fhir+xml`; a client may
also use the generic `application/json`, `application/xml` (and `text/json`, `text/xml`), and the server answers
in the type asked for; the `_format` parameter (`json`, `xml`, or a MIME type) overrides `Accept`, for clients
that cannot set headers. Without either, or when `Accept` names nothing we serve (a browser's `text/html`), the
answer is FHIR JSON: RFC 9110 §12.5.1 lets a server send its default rather than 406, and FHIR asks for no 406.

Requests: a body in an XML type is read with the gateway's own R4 XML reader (`gateway.validation.fhir_xml`,
safe lxml settings, no DTDs) and handed on as FHIR JSON, so every route, the transaction processor and the
FHIRPath Patch reader see one format; an XML body that breaks the R4 XML rules is refused with the reader's
issues (400) before any route runs. A body in a type that is neither JSON nor XML nor a form (`_search`) is 415.
Responses: a FHIR JSON answer (resources, Bundles, OperationOutcomes of every error) is rewritten with the R4 XML
writer when XML is wanted. `$process-message` reads FHIR XML messages itself (MedCom's reader), so its request body
is passed through as sent.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.validation.fhir_xml import resource_from_xml, resource_to_xml
from mappings.issues import Issue, IssueError, operation_outcome

log = logging.getLogger("gateway.api")

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
#: Media types a body may have, by format. `application/json+fhir` and `application/xml+fhir` are DSTU2's names,
#: which older clients still send.
JSON_TYPES = frozenset({FHIR_JSON, "application/json", "text/json", "application/json+fhir"})
XML_TYPES = frozenset({FHIR_XML, "application/xml", "text/xml", "application/xml+fhir"})
#: Bodies that are not resources: JSON Patch and JSON Merge Patch documents, and `_search`'s form
#: (FHIR R4 search.html#search-post).
OTHER_BODIES = frozenset(
    {"application/json-patch+json", "application/merge-patch+json", "application/x-www-form-urlencoded"}
)
#: `_format` shorthands (FHIR R4 http.html#mime).
_SHORT = {"json": FHIR_JSON, "xml": FHIR_XML}
_WRITES = frozenset({"POST", "PUT", "PATCH"})


def media_type(value: str) -> str:
    return value.split(";")[0].strip().lower()


def response_type(accept: str | None, format_parameter: str | None) -> str:
    """The media type of the answer: `_format` first, then the most wanted type of `Accept` we serve."""
    if format_parameter:
        wanted = _SHORT.get(format_parameter.strip().lower(), media_type(format_parameter.replace(" ", "+")))
        if wanted in JSON_TYPES or wanted in XML_TYPES:
            return _formal(wanted)
    if not accept:
        return FHIR_JSON
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept.split(",")):
        parts = [part.strip() for part in item.split(";")]
        quality = 1.0
        for parameter in parts[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, position, parts[0].lower()))
    for _quality, _position, wanted in sorted(ranked):
        if wanted in JSON_TYPES or wanted in XML_TYPES:
            return _formal(wanted)
        if wanted in ("*/*", "application/*"):
            return FHIR_JSON
    return FHIR_JSON


def _formal(wanted: str) -> str:
    """DSTU2's names are answered with R4's; the generic types as asked."""
    return {"application/json+fhir": FHIR_JSON, "application/xml+fhir": FHIR_XML}.get(wanted, wanted)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _format_parameter(scope: Scope) -> str | None:
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "_format":
            return str(value)
    return None


class FhirFormats:
    def __init__(self, app: ASGIApp, prefix: str = "/fhir") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != self.prefix and not path.startswith(self.prefix + "/"):
            await self.app(scope, receive, send)
            return
        answer = response_type(_header(scope, b"accept"), _format_parameter(scope))
        send = _rewriting(send, answer) if answer != FHIR_JSON else send
        if scope["method"] in _WRITES and not path.endswith("$process-message"):
            content_type = media_type(_header(scope, b"content-type") or "")
            if content_type in XML_TYPES:
                try:
                    scope, receive = await _as_json(scope, receive)
                except IssueError as error:
                    await _outcome(send, error.issues, 400)
                    return
            elif content_type and content_type not in JSON_TYPES and content_type not in OTHER_BODIES:
                issue = Issue(
                    "error",
                    "not-supported",
                    f"Content-Type {content_type!r} is not supported; send {FHIR_JSON} or {FHIR_XML}",
                    message_id="http.unsupported-media-type",
                )
                await _outcome(send, (issue,), 415)
                return
        await self.app(scope, receive, send)


async def _as_json(scope: Scope, receive: Receive) -> tuple[Scope, Receive]:
    """The request with its FHIR XML body read into FHIR JSON (`IssueError` with the reader's issues)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise IssueError.single("structure", "The client went away", message_id="http.disconnected")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    if not body.strip():
        raise IssueError.single("structure", "The request body is empty", message_id="fhir.empty-body")
    resource = await anyio.to_thread.run_sync(resource_from_xml, body)
    converted = orjson.dumps(resource)
    headers = [
        (key, value) for key, value in scope.get("headers", []) if key not in (b"content-type", b"content-length")
    ]
    headers += [(b"content-type", FHIR_JSON.encode()), (b"content-length", str(len(converted)).encode())]
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": converted, "more_body": False}

    return {**scope, "headers": headers}, replay


def _rewriting(send: Send, answer: str) -> Send:
    """`send`, with FHIR JSON answers rewritten to `answer` (XML through the R4 writer, or a generic JSON type)."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def rewrite(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            content_type = media_type(_header(message, b"content-type") or "")
            if content_type != FHIR_JSON:
                await send(message)  # not FHIR JSON (an intake receipt, a 304): as it is
                return
            start = message
            return
        if start is None or message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        media = answer
        if answer in XML_TYPES and body:
            try:
                body = await anyio.to_thread.run_sync(_to_xml, body)
            except IssueError as error:  # a stored resource the writer cannot express: say so, in JSON
                log.warning("cannot answer in XML: %s", "; ".join(issue.diagnostics for issue in error.issues))
                media = FHIR_JSON
        headers = [(key, value) for key, value in start["headers"] if key not in (b"content-type", b"content-length")]
        headers += [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode())]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return rewrite


def _to_xml(body: bytes) -> bytes:
    resource: dict[str, Any] = orjson.loads(body)
    return resource_to_xml(resource)


async def _outcome(send: Send, issues: tuple[Issue, ...], status: int) -> None:
    body = orjson.dumps(operation_outcome(list(issues)))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", FHIR_JSON.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
