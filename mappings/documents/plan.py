"""The plan document: the shared citizen plan (koordinerende indsatsplan, KIP) as the gateway accepts it.

`parse_plan_document` checks everything in one pass and reports every problem at once: the schema (structure and
formats, `plan_model`) and the business rules (`plan_rules`) together, each as an `Issue` whose `expression` is a
JSON pointer (RFC 6901) into the submitted document, e.g. `/team/2/organisation/sor`. When the schema fails, the
rules still run on every section and list item that passed it on its own, so fixing one problem never uncovers
the next. The models and rules live in their own modules; this one joins them (no import circle).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mappings.documents.plan_model import (
    Citizen,
    Coordination,
    CrisisPlan,
    DeniedParty,
    Goal,
    Intervention,
    Organisation,
    Period,
    PersonName,
    PlanConsent,
    PlanDocument,
    SourceIdentifier,
    TeamMember,
    Wish,
    gln_check_digit_ok,
    iter_organisations,
    municipality_codes,
    plan_document_json_schema,
)
from mappings.documents.plan_rules import PlanParts, check_plan
from mappings.issues import Issue, IssueCode, IssueError

Part = TypeVar("Part", bound=BaseModel)


def json_pointer(location: tuple[str | int, ...]) -> str:
    """RFC 6901 pointer for a pydantic `loc`: `("team", 2, "organisation", "sor")` -> `/team/2/organisation/sor`."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in location)


def _issue_from_pydantic(error: Any) -> Issue:
    kind: str = error["type"]
    location = tuple(part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-")))
    code: IssueCode
    if kind == "missing":
        code, message_id = "required", "plan.field-missing"
    elif kind == "extra_forbidden":
        code, message_id = "structure", "plan.field-unknown"
    elif kind.startswith("plan."):
        code, message_id = "value", kind
    elif kind in {"model_type", "list_type", "dict_type", "string_type", "model_attributes_type"}:
        code, message_id = "structure", "plan.wrong-type"
    else:
        code, message_id = "value", "plan.invalid-value"
    return Issue("error", code, str(error["msg"]), json_pointer(location), message_id)


def _valid(model: type[Part], value: object) -> Part | None:
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _valid_items(model: type[Part], value: object) -> tuple[tuple[int, Part], ...]:
    items = value if isinstance(value, list) else []
    return tuple((index, part) for index, item in enumerate(items) if (part := _valid(model, item)) is not None)


def _keys(value: object) -> tuple[tuple[int, str], ...] | None:
    if not isinstance(value, list):
        return None
    keyed = ((index, item.get("key")) for index, item in enumerate(value) if isinstance(item, dict))
    return tuple((index, key) for index, key in keyed if isinstance(key, str))


def _section(model: type[Part], data: Mapping[str, Any], name: str) -> Part | None:
    return _valid(model, data[name]) if name in data else None


def salvaged_parts(data: Mapping[str, Any]) -> PlanParts:
    """The parts of a document that failed the schema which pass it on their own, for the business rules."""
    return PlanParts(
        citizen=_section(Citizen, data, "citizen"),
        goals=_valid_items(Goal, data.get("goals")),
        interventions=_valid_items(Intervention, data.get("interventions")),
        coordination=_section(Coordination, data, "coordination"),
        team=_valid_items(TeamMember, data.get("team")),
        consent=_section(PlanConsent, data, "consent"),
        # goals and interventions default to none; a missing team is unknown (references to it are not checked)
        keys={
            "team": _keys(data.get("team")),
            "goals": _keys(data.get("goals", [])),
            "interventions": _keys(data.get("interventions", [])),
        },
    )


def parse_plan_document(data: object) -> PlanDocument:
    """Validate `data` (parsed JSON) as a plan document; raise `IssueError` naming every problem at once."""
    if not isinstance(data, dict):
        raise IssueError.single(
            "structure", "A plan document must be a JSON object", expression="", message_id="plan.not-an-object"
        )
    try:
        document = PlanDocument.model_validate(data)
    except ValidationError as error:
        schema = tuple(_issue_from_pydantic(item) for item in error.errors())
        raise IssueError(schema + tuple(check_plan(salvaged_parts(data)))) from None
    issues = tuple(check_plan(PlanParts.of(document)))
    if issues:
        raise IssueError(issues)
    return document


__all__ = [
    "Citizen",
    "Coordination",
    "CrisisPlan",
    "DeniedParty",
    "Goal",
    "Intervention",
    "Organisation",
    "PersonName",
    "PlanConsent",
    "PlanDocument",
    "Period",
    "SourceIdentifier",
    "TeamMember",
    "Wish",
    "gln_check_digit_ok",
    "iter_organisations",
    "json_pointer",
    "municipality_codes",
    "parse_plan_document",
    "plan_document_json_schema",
    "salvaged_parts",
]
