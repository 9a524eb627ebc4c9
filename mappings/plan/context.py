"""`PlanContext`: what the plan mapping takes from outside, and the deterministic ids it derives.

The plan mapping needs no clock and no random ids: every resource id is a UUID v5 of a name built from the
plan's source identifier (or, for shared resources, from the CPR / organisation identifier), so mapping the same
document twice gives byte-identical output (STYLE.md, "Mappings"; FHIR-Converter's deterministic ids).

`id_namespace` is the UUID v5 namespace. The default is a fixed public constant; a deployment should configure its
own secret namespace, because a UUID v5 of a CPR number under a known namespace can be reversed by trying every
CPR number. `base` is the canonical base of our CodeSystems, ValueSets and profiles (see `profiles/README` in
`docs/plan-document.md`); the JSON files in `profiles/` hold `DEFAULT_BASE`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from mappings.uuids import uuid5_text

DEFAULT_BASE = "https://careplan-gateway.example/fhir"
DEFAULT_ID_NAMESPACE = uuid.UUID("5d0c8a52-7d8e-5b6e-9a3c-4b1f0e6b2c11")


@dataclass(frozen=True, slots=True)
class PlanContext:
    base: str = DEFAULT_BASE
    id_namespace: uuid.UUID = DEFAULT_ID_NAMESPACE
    #: The SOR code of the organisation writing the plan. Part of every id, so that two organisations' plans for
    #: one citizen never share a resource (not even the Patient); None for plans written without a caller.
    author: str | None = None

    def __post_init__(self) -> None:
        if not self.base.startswith(("http://", "https://")) or self.base.endswith("/"):
            raise ValueError("PlanContext.base must be an absolute http(s) URL without a trailing slash")

    def resource_id(self, *name: str) -> str:
        """UUID v5 of the `|`-joined name parts, e.g. `("CarePlan", system, value)`, under the author."""
        parts = name if self.author is None else ("author", self.author, *name)
        return uuid5_text(self.id_namespace, "|".join(parts))
