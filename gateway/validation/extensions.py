"""What an extension definition allows: where it may be used (context), whether it is a modifier, and which
sub-extensions a complex extension defines (FHIR R4 §2.22, http://hl7.org/fhir/R4/extensibility.html, and
StructureDefinition.context / contextInvariant, http://hl7.org/fhir/R4/structuredefinition.html#context).

An extension is used on an element (its *holder*), known by its path in the resource (`Patient.name`) and its
type (`HumanName`). A context of type `element` names a path or a type: it allows the holder when it names the
holder's path or type, a type the holder's type derives from (`DomainResource` for a Patient, `Element` for any
element), or the holder's path with the resource type replaced by one it derives from (`DomainResource.text`). A
context of type `extension` names the URL of the extension the holder is; one of type `fhirpath` is an expression
evaluated on the resource that selects the holders. Every `contextInvariant` must hold on the holder.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Resource = dict[str, Any]


class Holder:
    """The element an extension is used on (a plain class: `walk_state.Scope` says why)."""

    __slots__ = ("path", "types", "resource_types", "value", "url", "definition_path")

    def __init__(
        self,
        path: str,
        types: tuple[str, ...],
        resource_types: tuple[str, ...],
        value: Any,
        url: str | None = None,
        definition_path: str = "",
    ) -> None:
        #: The holder's path in its resource, without indexes (`Patient.name`, `Observation.value`).
        self.path = path
        #: The holder's type and every type it derives from (`HumanName`, `Element`).
        self.types = types
        #: The resource type and the types it derives from (`Patient`, `DomainResource`, `Resource`).
        self.resource_types = resource_types
        #: The holder itself (a dict, or the `_name` object of a primitive).
        self.value = value
        #: The URL of the holder when it is itself an extension.
        self.url = url
        #: The path of the element definition that describes the holder (`HumanName.family` for the family name
        #: of a patient, `ElementDefinition.binding` for a StructureDefinition's binding).
        self.definition_path = definition_path

    def names(self) -> frozenset[str]:
        """Every path or type an `element` context may name to allow this holder."""
        names = {self.path, f"{self.path}[x]", self.definition_path, *self.types, "Element", "Any"}
        head, dot, rest = self.path.partition(".")
        if dot:
            names.update(f"{ancestor}.{rest}" for ancestor in self.resource_types)
        else:
            names.update(self.resource_types)
            if head in CANONICAL_RESOURCES:
                names.update(("CanonicalResource", "MetadataResource"))
        return frozenset(names)


#: The R4 resources R5 calls CanonicalResource (and MetadataResource): the extensions package for R4 names them as a
#: context (http://hl7.org/fhir/R5/canonicalresource.html lists the resources that implement the pattern).
CANONICAL_RESOURCES = frozenset(
    {
        "ActivityDefinition", "CapabilityStatement", "ChargeItemDefinition", "CodeSystem", "CompartmentDefinition",
        "ConceptMap", "EffectEvidenceSynthesis", "EventDefinition", "Evidence", "EvidenceVariable",
        "ExampleScenario", "GraphDefinition", "ImplementationGuide", "Library", "Measure", "MessageDefinition",
        "NamingSystem", "OperationDefinition", "PlanDefinition", "Questionnaire", "ResearchDefinition",
        "ResearchElementDefinition", "RiskEvidenceSynthesis", "SearchParameter", "StructureDefinition",
        "StructureMap", "TerminologyCapabilities", "TestScript", "ValueSet",
    }
)  # fmt: skip
#: Contexts the FHIR validator corrects for a few core extensions whose published context is too narrow
#: (org.hl7.fhir.validation InstanceValidator, "fixContexts"): `structuredefinition-fhir-type` and `regex` sit
#: on `ElementDefinition.type`.
CONTEXT_FIXES: dict[str, tuple[tuple[str, str], ...]] = {
    "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type": (("element", "ElementDefinition.type"),),
    "http://hl7.org/fhir/StructureDefinition/regex": (("element", "ElementDefinition.type"),),
}
#: Cross-version extensions (http://hl7.org/fhir/versions.html#extensions): defined for every element of every
#: FHIR version without a StructureDefinition of their own; we cannot check them.
CROSS_VERSION = re.compile(r"http://hl7\.org/fhir/[0-9.]+/StructureDefinition/extension-.+")


@dataclass(frozen=True, slots=True)
class ExtensionDefinition:
    """What the validator needs to know of one extension's StructureDefinition."""

    url: str
    modifier: bool
    #: (context type, expression): `element`, `extension` or `fhirpath`.
    contexts: tuple[tuple[str, str], ...]
    #: FHIRPath expressions that must hold on the holder.
    invariants: tuple[str, ...] = ()
    #: The relative URLs of the sub-extensions a complex extension defines (`Extension.extension:name.url`).
    sub_extensions: frozenset[str] = field(default_factory=frozenset)


def definition_of(structure_definition: Resource) -> ExtensionDefinition | None:
    """The parts of an extension's StructureDefinition (with a snapshot) the rules need; None for one that
    defines no extension."""
    if structure_definition.get("type") != "Extension" or structure_definition.get("kind") == "primitive-type":
        return None
    elements = structure_definition.get("snapshot", {}).get("element", [])
    modifier = bool(elements and elements[0].get("isModifier"))
    contexts = tuple(
        (str(context.get("type")), str(context.get("expression")))
        for context in structure_definition.get("context", [])
        if isinstance(context, dict) and isinstance(context.get("expression"), str)
    )
    invariants = tuple(str(i) for i in structure_definition.get("contextInvariant", []) if isinstance(i, str))
    sub_extensions = frozenset(
        str(value)
        for element in elements
        if element.get("path") == "Extension.extension.url"
        for key, value in element.items()
        if key.startswith("fixed") and isinstance(value, str) and element.get("id", "").count(":") == 1
    )
    url = str(structure_definition.get("url"))
    contexts += CONTEXT_FIXES.get(url, ())
    return ExtensionDefinition(url, modifier, contexts, invariants, sub_extensions)


def context_problem(
    definition: ExtensionDefinition,
    holder: Holder,
    select: Callable[[str], list[Any]],
    holds: Callable[[str], bool],
) -> str | None:
    """Why the extension may not be used on `holder`, or None when a context allows it. `select` evaluates a
    `fhirpath` context on the holder's resource (the values it selects); `holds` a context invariant on the
    holder."""
    if definition.contexts:
        names = holder.names()
        allowed = False
        for kind, expression in definition.contexts:
            if kind == "element" and expression in names:
                allowed = True
            elif kind == "extension" and holder.url is not None and expression == holder.url:
                allowed = True
            elif kind == "fhirpath" and any(found is holder.value for found in select(expression)):
                allowed = True
            if allowed:
                break
        if not allowed:
            shown = ", ".join(f"{kind[:1]}:{expression}" for kind, expression in definition.contexts)
            return (
                f"extension {definition.url} is not allowed here (this element is [{holder.types[0]}, "
                f"{holder.path}]; allowed: {shown})"
            )
    for invariant in definition.invariants:
        if not holds(invariant):
            return f"extension {definition.url} is not allowed here: its context invariant {invariant!r} fails"
    return None
