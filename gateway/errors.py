"""Errors and their HTTP statuses.

    Exception
     └── IssueError (mappings.issues)      one or more Issues; renders as an OperationOutcome
          ├── NotFound                     404: no such resource or version
          ├── Gone                         410: the resource is deleted (FHIR R4 http.html#read)
          └── VersionConflict              412: If-Match names a version that is not current

Everything else that escapes a request is a bug: the API answers 500 with an OperationOutcome carrying only
an incident id, and logs the traceback under that id.
"""

from __future__ import annotations

from mappings.issues import Issue, IssueError

#: Issue type code -> HTTP status, when the error does not pin one itself. FHIR R4 http.html#2.21.0.5:
#: 400 for content that cannot be parsed or fails basic validation, 422 for business rules.
STATUS_BY_CODE: dict[str, int] = {
    "structure": 400,
    "invalid": 400,
    "too-long": 400,  # an element over its limit; a whole body over the limit pins 413 itself
    "not-supported": 400,
    "required": 400,
    "value": 400,
    "invariant": 422,
    "business-rule": 422,
    "code-invalid": 422,
    "processing": 422,
    "duplicate": 409,
    "conflict": 409,
    "multiple-matches": 412,
    "not-found": 404,
    "deleted": 410,
    "login": 401,
    "security": 400,  # hostile content (DTDs, entities); authorisation failures pin 401/403 themselves
    "forbidden": 403,
    "throttled": 429,
    "too-costly": 400,  # e.g. an HL7 v2 message with absurdly many segments
    "exception": 500,
    "transient": 503,
    "timeout": 504,
}


def http_status(error: IssueError) -> int:
    if error.status is not None:
        return error.status
    for issue in error.issues:
        if issue.severity in ("fatal", "error"):
            return STATUS_BY_CODE.get(issue.code, 400)
    return 400


class NotFound(IssueError):
    @classmethod
    def of(cls, resource_type: str, resource_id: str, version_id: int | None = None) -> NotFound:
        what = f"{resource_type}/{resource_id}" + (f"/_history/{version_id}" if version_id else "")
        return cls(
            (Issue("error", "not-found", f"{what} is not known", message_id="fhir.not-found"),),
            status=404,
        )


class Gone(IssueError):
    @classmethod
    def of(cls, resource_type: str, resource_id: str, version_id: int) -> Gone:
        return cls(
            (
                Issue(
                    "error",
                    "deleted",
                    f"{resource_type}/{resource_id} was deleted (version {version_id})",
                    message_id="fhir.deleted",
                ),
            ),
            status=410,
            headers={"ETag": f'W/"{version_id}"'},
        )


class VersionConflict(IssueError):
    @classmethod
    def of(cls, resource_type: str, resource_id: str, expected: int, current: int) -> VersionConflict:
        return cls(
            (
                Issue(
                    "error",
                    "conflict",
                    f"If-Match expected version {expected} of {resource_type}/{resource_id}, "
                    f"but the current version is {current or 'none'}",
                    message_id="fhir.version-conflict",
                ),
            ),
            status=412,
        )
