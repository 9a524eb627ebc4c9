"""The CapabilityStatement, generated from what the code supports so it cannot drift from it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.fhir.rules import SERVER_ASSIGNED_TYPES
from gateway.store.search_params import GATEWAY_WRITTEN, SEARCH_PARAMS

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
#: What a client may do with a type only the gateway writes (the audit trail: gateway.fhir.rules.writable).
_READ_ONLY_INTERACTIONS = ["read", "vread", "history-instance", "history-type", "search-type"]


#: The definition of every operation the gateway serves (R4 CapabilityStatement.rest.operation.definition is
#: required). A `$name` route without an entry here fails `test_every_served_operation_is_listed`.
OPERATION_DEFINITIONS = {
    "validate": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
    "process-message": "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message",
}
#: R4 restful-security-service (terminology.hl7.org CodeSystem restful-security-service).
SECURITY_SERVICE_SYSTEM = "http://terminology.hl7.org/CodeSystem/restful-security-service"
#: SMART App Launch's extension for the authorisation server's endpoints (SMART on FHIR 1.0 conformance,
#: http://hl7.org/fhir/smart-app-launch/1.0.0/conformance/); `authorize` and `token` are required inside it.
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
#: Media types of request and response bodies (gateway.api.formats) and of PATCH bodies (gateway.fhir.patch).
FORMATS = ["json", "xml", "application/fhir+json", "application/fhir+xml"]
PATCH_FORMATS = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/fhir+json",
    "application/fhir+xml",
]


@dataclass(frozen=True)
class ServedOperation:
    """A `$name` route: `system` (`/fhir/$name`) or `type` (`/fhir/{type}/$name`)."""

    name: str
    level: str


@dataclass(frozen=True)
class RestSecurity:
    """What the API asks of a caller: nothing (`--insecure-no-auth`), or bearer tokens with SMART system scopes,
    issued by an authorisation server whose endpoints are advertised when they are configured (the oauth-uris
    extension requires both `authorize` and `token`)."""

    authenticated: bool
    token_endpoint: str | None = None
    authorize_endpoint: str | None = None


def capability_statement(
    base: str,
    software_version: str,
    date: str,
    *,
    multiple_delete: bool = False,
    operations: Iterable[ServedOperation] = (),
    security: RestSecurity | None = None,
) -> dict[str, Any]:
    served = sorted(set(operations), key=lambda op: (op.level, op.name))
    type_operations = [_operation(op) for op in served if op.level == "type"]
    system_operations = [_operation(op) for op in served if op.level == "system"]
    resources = []
    for resource_type, params in SEARCH_PARAMS.items():
        references = [name for name, param in params.items() if param.type == "reference"]
        resources.append(
            _without_empty_lists(
                {
                    "type": resource_type,
                    "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
                    "interaction": [
                        {"code": code}
                        for code in (_READ_ONLY_INTERACTIONS if resource_type in GATEWAY_WRITTEN else _INTERACTIONS)
                    ],
                    "versioning": "versioned-update",
                    "readHistory": True,
                    "conditionalRead": "full-support",  # If-None-Match and If-Modified-Since (304)
                }
                | (
                    {"updateCreate": False}
                    if resource_type in GATEWAY_WRITTEN
                    else _write_flags(resource_type, multiple_delete)
                )
                | {
                    "searchInclude": [f"{resource_type}:{name}" for name in references],
                    "searchRevInclude": _revincludes(resource_type),
                    "operation": type_operations,
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
        )
    statement: dict[str, Any] = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "careplan-gateway",
        "kind": "instance",
        "software": {"name": "careplan-gateway", "version": software_version},
        "implementation": {"description": "Care-plan interoperability gateway FHIR store", "url": base},
        "fhirVersion": "4.0.1",
        "format": FORMATS,
        "patchFormat": PATCH_FORMATS,
        "rest": [
            {
                "mode": "server",
                "documentation": "Search: repeated parameters AND, comma-separated values OR; unknown parameters "
                "are refused with 400 unless the request has Prefer: handling=lenient (then ignored and left out "
                "of the self link). A create with search parameters on its query string is a conditional create "
                "(as If-None-Exist). Paging with _count and _offset; a search of several pages "
                "is stored for an hour, in passes (a page and one id, then at least doubling when a page "
                "reaches past them), "
                "and its next links page through that stored list (_getpages), so writes between pages neither "
                "skip nor repeat a match (total is left out until the list is complete unless _total asks for it); "
                "_sort by _id, _lastUpdated and every string, "
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
    rest = statement["rest"][0]
    rest["documentation"] += " " + _WRITES_DOCUMENTATION
    if system_operations:
        rest["operation"] = system_operations
    rest.update(_security(security))
    return statement


_WRITES_DOCUMENTATION = (
    "PATCH takes JSON Patch, FHIRPath Patch or JSON Merge Patch and is checked as an update; conditional create, "
    "update, patch and delete match among the caller's own resources; conditional creates with the same criteria "
    "are serialised (no duplicates under concurrency). JSON and XML by Accept or _format."
)


def _write_flags(resource_type: str, multiple_delete: bool) -> dict[str, Any]:
    return {
        # Plan and person ids are the server's (HAPI's ClientIdStrategy NOT_ALLOWED, see rules.py).
        "updateCreate": resource_type not in SERVER_ASSIGNED_TYPES,
        "conditionalCreate": True,
        "conditionalUpdate": True,
        "conditionalDelete": "multiple" if multiple_delete else "single",
    }


def _operation(operation: ServedOperation) -> dict[str, Any]:
    return {"name": operation.name, "definition": OPERATION_DEFINITIONS[operation.name]}


def _security(security: RestSecurity | None) -> dict[str, Any]:
    if security is None or not security.authenticated:
        return {}
    service: dict[str, Any] = {
        "coding": [{"system": SECURITY_SERVICE_SYSTEM, "code": "SMART-on-FHIR", "display": "SMART-on-FHIR"}],
        "text": "OAuth2 bearer tokens (JWT) with SMART v2 system scopes",
    }
    element: dict[str, Any] = {
        "cors": False,
        "service": [service],
        "description": "Every request but GET /metadata needs an OAuth2 bearer token (a JWT signed by the keys the "
        "gateway trusts, with its issuer and audience) whose SMART system scopes (system/CarePlan.rs, "
        "system/*.cruds, system/Messages.c, ...) allow the interaction; what a caller then sees follows the "
        "citizen's consent. 401 without a valid token, 403 for a missing scope.",
    }
    if security.token_endpoint and security.authorize_endpoint:
        endpoints = [("authorize", security.authorize_endpoint), ("token", security.token_endpoint)]
        element["extension"] = [
            {"url": OAUTH_URIS, "extension": [{"url": name, "valueUri": uri} for name, uri in endpoints]}
        ]
    return {"security": element}


def _without_empty_lists(element: dict[str, Any]) -> dict[str, Any]:
    """FHIR JSON has no empty arrays (R4 json.html#2.6.2.1): a type with no reference parameter lists no includes."""
    return {key: value for key, value in element.items() if value != []}


def _revincludes(target_type: str) -> list[str]:
    found = []
    for source_type, params in SEARCH_PARAMS.items():
        for name, param in params.items():
            if param.type == "reference" and (not param.targets or target_type in param.targets):
                found.append(f"{source_type}:{name}")
    return found
