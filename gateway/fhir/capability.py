"""The CapabilityStatement, generated from what the code supports so it cannot drift from it."""

from __future__ import annotations

from typing import Any

from gateway.fhir.rules import SERVER_ASSIGNED_TYPES
from gateway.store.search_params import SEARCH_PARAMS

R4_SEARCH_PARAM_BASE = "http://hl7.org/fhir/SearchParameter"
_SPECIAL = [
    {"name": "_id", "type": "token", "definition": f"{R4_SEARCH_PARAM_BASE}/Resource-id"},
    {"name": "_lastUpdated", "type": "date", "definition": f"{R4_SEARCH_PARAM_BASE}/Resource-lastUpdated"},
]
_INTERACTIONS = [
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
]


def capability_statement(
    base: str, software_version: str, date: str, *, multiple_delete: bool = False
) -> dict[str, Any]:
    resources = []
    for resource_type, params in SEARCH_PARAMS.items():
        references = [name for name, param in params.items() if param.type == "reference"]
        resources.append(
            {
                "type": resource_type,
                "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
                "interaction": [{"code": code} for code in _INTERACTIONS],
                "versioning": "versioned-update",
                "readHistory": True,
                # Plan and person ids are the server's (HAPI's ClientIdStrategy NOT_ALLOWED, see rules.py).
                "updateCreate": resource_type not in SERVER_ASSIGNED_TYPES,
                "conditionalCreate": True,
                "conditionalRead": "full-support",  # If-None-Match and If-Modified-Since (304)
                "conditionalUpdate": True,
                "conditionalDelete": "multiple" if multiple_delete else "single",
                "searchInclude": [f"{resource_type}:{name}" for name in references],
                "searchRevInclude": _revincludes(resource_type),
                "searchParam": _SPECIAL
                + [
                    {
                        "name": name,
                        "type": param.type,
                        "documentation": f"FHIRPath: {param.expression}"
                        + (f" (targets: {', '.join(param.targets)})" if param.targets else ""),
                    }
                    for name, param in params.items()
                ],
            }
        )
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "careplan-gateway",
        "kind": "instance",
        "software": {"name": "careplan-gateway", "version": software_version},
        "implementation": {"description": "Care-plan interoperability gateway FHIR store", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Search: repeated parameters AND, comma-separated values OR; unknown parameters "
                "are refused with 400 unless the request has Prefer: handling=lenient (then ignored and left out "
                "of the self link). A create with search parameters on its query string is a conditional create "
                "(as If-None-Exist). Paging with _count and _offset; a search of several pages "
                "is stored for an hour and its next links page through that stored list (_getpages), so writes "
                "between pages neither skip nor repeat a match; _sort by _id, _lastUpdated and every string, "
                "date and token parameter (several keys, - descending); _total=none|estimate|accurate; "
                "_summary=true|text|data|count|false; _elements (SUBSETTED tag). Chained parameters one level deep "
                "(subject:Patient.identifier=...), reverse chaining (_has:Type:reference:parameter=...) and "
                "_include:iterate / _revinclude:iterate, all matching only through resources the caller may see. "
                "Deletes are soft (a tombstone version in history; reads answer 410).",
                "resource": resources,
                "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}],
            }
        ],
    }


def _revincludes(target_type: str) -> list[str]:
    found = []
    for source_type, params in SEARCH_PARAMS.items():
        for name, param in params.items():
            if param.type == "reference" and (not param.targets or target_type in param.targets):
                found.append(f"{source_type}:{name}")
    return found
