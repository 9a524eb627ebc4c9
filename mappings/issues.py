"""The one error vocabulary of the gateway: `Issue` and `IssueError`.

Pure code (mappings, parsers, validators) raises `IssueError`; the API renders it as a FHIR
`OperationOutcome` and the CLI as a table. It uses the standard library only, so every layer can import it.

An `Issue` mirrors `OperationOutcome.issue` (FHIR R4, http://hl7.org/fhir/R4/operationoutcome.html):
`severity` and `code` come from the required value sets `issue-severity` and `issue-type`; `expression` is a
FHIRPath location such as `Bundle.entry[2].resource.class` (or a JSON pointer / HL7 v2 field / XPath for
non-FHIR inputs); `message_id` is a stable code (e.g. `fhir.version-conflict`) placed in
`issue.details.coding`, like HAPI FHIR's numbered message codes, so clients can branch on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["fatal", "error", "warning", "information"]

# http://hl7.org/fhir/R4/valueset-issue-type.html (the codes we use)
IssueCode = Literal[
    "invalid",
    "structure",
    "required",
    "value",
    "invariant",
    "security",
    "login",
    "forbidden",
    "processing",
    "not-supported",
    "duplicate",
    "multiple-matches",
    "not-found",
    "deleted",
    "too-long",
    "code-invalid",
    "extension",
    "too-costly",
    "business-rule",
    "conflict",
    "transient",
    "lock-error",
    "exception",
    "timeout",
    "incomplete",
    "throttled",
    "informational",
]

#: CodeSystem for `Issue.message_id` codes in `OperationOutcome.issue.details.coding`.
MESSAGE_ID_SYSTEM = "urn:careplan-gateway:message-id"


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in an input or an operation."""

    severity: Severity
    code: IssueCode
    diagnostics: str
    expression: str | None = None
    message_id: str | None = None

    def to_fhir(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code}
        if self.message_id:
            issue["details"] = {
                "coding": [{"system": MESSAGE_ID_SYSTEM, "code": self.message_id}],
            }
        issue["diagnostics"] = self.diagnostics
        if self.expression:
            issue["expression"] = [self.expression]
        return issue


@dataclass(eq=False)
class IssueError(Exception):
    """Raised with one or more `Issue`s; `status` lets a caller pin the HTTP status (e.g. 412)."""

    issues: tuple[Issue, ...]
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__("; ".join(issue.diagnostics for issue in self.issues))

    @classmethod
    def single(
        cls,
        code: IssueCode,
        diagnostics: str,
        *,
        expression: str | None = None,
        message_id: str | None = None,
        severity: Severity = "error",
        status: int | None = None,
    ) -> IssueError:
        return cls(
            (Issue(severity, code, diagnostics, expression, message_id),),
            status=status,
        )


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    """A FHIR R4 OperationOutcome resource (as a dict) holding `issues`."""
    rendered = [issue.to_fhir() for issue in issues]
    if not rendered:
        rendered = [{"severity": "information", "code": "informational", "diagnostics": "All OK"}]
    return {"resourceType": "OperationOutcome", "issue": rendered}


def has_errors(issues: Iterable[Issue]) -> bool:
    return any(issue.severity in ("fatal", "error") for issue in issues)
