"""One handler per error type; every error leaves as an OperationOutcome, never a stack trace."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from gateway.api.formats import XML_TYPES, response_type
from gateway.api.render import fhir_json
from gateway.errors import http_status
from gateway.fhir.parsing import fhirpath_of
from gateway.validation.fhir_xml import resource_to_xml
from mappings.issues import Issue, IssueError, operation_outcome

log = logging.getLogger("gateway.api")

_HTTP_CODES = {404: "not-found", 405: "not-supported", 406: "not-supported", 415: "not-supported"}


async def issue_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, IssueError)
    return fhir_json(operation_outcome(error.issues), http_status(error), error.headers or None)


async def request_validation_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    issues = [
        Issue(
            "error",
            "invalid",
            f"{detail['msg']} ({'.'.join(str(part) for part in detail['loc'])})",
            expression=fhirpath_of(str(detail["loc"][0]), tuple(detail["loc"][1:])),
            message_id="http.invalid-request",
        )
        for detail in error.errors()
    ]
    return fhir_json(operation_outcome(issues), 400)


async def http_exception(_request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code = _HTTP_CODES.get(error.status_code, "processing")
    issue = Issue("error", code, str(error.detail), message_id=f"http.{error.status_code}")  # type: ignore[arg-type]
    return fhir_json(operation_outcome([issue]), error.status_code, dict(error.headers or {}) or None)


async def unexpected_error(request: Request, error: Exception) -> Response:
    incident = str(uuid.uuid4())
    log.error("incident %s on %s %s", incident, request.method, request.url.path, exc_info=error)
    issue = Issue(
        "fatal",
        "exception",
        f"Internal error; the operator can find it in the log as incident {incident}",
        message_id="http.internal-error",
    )
    outcome = operation_outcome([issue])
    # FhirFormats answers in XML from inside the app; a 500 is made outside it (Starlette's ServerErrorMiddleware),
    # so it is written in the format the client asked for here.
    wanted = response_type(request.headers.get("accept"), request.query_params.get("_format"))
    if request.url.path.startswith("/fhir") and wanted in XML_TYPES:
        try:
            return Response(resource_to_xml(outcome), 500, media_type=wanted)
        except Exception:  # noqa: BLE001 - the error answer itself must not fail: JSON then
            log.exception("incident %s: the OperationOutcome could not be written as XML", incident)
    return fhir_json(outcome, 500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(IssueError, issue_error)
    app.add_exception_handler(RequestValidationError, request_validation_error)
    app.add_exception_handler(HTTPException, http_exception)
    app.add_exception_handler(Exception, unexpected_error)
