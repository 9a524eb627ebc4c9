"""Code tables as data: FHIR ConceptMaps and MedCom use-case tables shipped as JSON, loaded once.

`translate(map_id, code)` answers "what does source code X map to?" from a ConceptMap's first group (the first
target; `None` when the code is not mapped). `hospital_notification_use_cases()` returns the HospitalNotification
use-case table keyed by code. A test checks that every source code of every map has a target.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["concept_map", "hospital_notification_use_cases", "load_table", "targets", "translate"]


@cache
def load_table(name: str) -> dict[str, Any]:
    """The JSON file `<name>.json` shipped in this package."""
    text = resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def concept_map(map_id: str) -> dict[str, Any]:
    table = load_table(map_id)
    if table.get("resourceType") != "ConceptMap":
        raise LookupError(f"{map_id} is not a ConceptMap")
    return table


@cache
def _index(map_id: str) -> dict[str, tuple[dict[str, Any], ...]]:
    index: dict[str, tuple[dict[str, Any], ...]] = {}
    for group in concept_map(map_id)["group"]:
        for element in group["element"]:
            index[element["code"]] = tuple(element.get("target", ()))
    return index


def targets(map_id: str, code: str) -> tuple[dict[str, Any], ...]:
    """All targets of `code` (with their `dependsOn` conditions); empty when unmapped."""
    return _index(map_id).get(code, ())


def translate(map_id: str, code: str) -> str | None:
    """The first target code of `code` in ConceptMap `map_id`, or `None` when the code is not mapped."""
    found = targets(map_id, code)
    return str(found[0]["code"]) if found else None


@cache
def hospital_notification_use_cases() -> dict[str, dict[str, Any]]:
    """The HospitalNotification use-case table (`hospital-notification-use-cases.json`) keyed by code."""
    return {row["code"]: row for row in load_table("hospital-notification-use-cases")["useCases"]}
