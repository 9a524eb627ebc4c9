"""The state of one validation (`Run`) and where an element sits in it (`Scope`)."""

from __future__ import annotations

from typing import Any

from gateway.validation.hooks import EvaluationHooks
from gateway.validation.registry import Closure
from mappings.issues import Issue, IssueCode, Severity

Resource = dict[str, Any]


#: An issue as recorded for replay: severity, code, message id, expression suffix, diagnostics, defect key.
Recorded = tuple[Any, Any, str | None, str, str, tuple[str, str] | None]


class Scope:
    """Where an element sits: its resource, the outermost resource, and the closure its profile came from.

    Plain classes with their own `__init__` (this one and `Run`), not dataclasses: mypyc (setup.py) keeps a
    dataclass's generated `__init__` as interpreted Python, and these are made for every resource walked."""

    __slots__ = ("resource", "root", "closure", "hooks", "expr")

    def __init__(
        self,
        resource: Resource,
        root: Resource,
        closure: Closure | None,
        hooks: EvaluationHooks | None = None,
        expr: str = "",
    ) -> None:
        self.resource = resource
        self.root = root
        self.closure = closure
        #: The FHIRPath hooks for constraints evaluated here, made on first need.
        self.hooks = hooks
        #: The expression of `resource` (`Bundle.entry[2].resource`): an element's path in its resource is the rest.
        self.expr = expr


class Run:
    """State of one `validate` call: the issues so far and the Bundle's resources by fullUrl."""

    def __init__(
        self,
        *,
        by_url: dict[str, Resource] | None = None,
        in_bundle: bool = False,
        conformance: dict[tuple[int, str], bool] | None = None,
        memo: dict[tuple[int, Any, int], tuple[bool, bool, str | None]] | None = None,
        checking: bool = False,
        walks: dict[tuple[int, tuple[int, ...], int], tuple[bool, tuple[Recorded, ...]]] | None = None,
    ) -> None:
        self.issues: list[Issue] = []
        self.by_url: dict[str, Resource] = {} if by_url is None else by_url
        self.in_bundle = in_bundle
        self.conformance: dict[tuple[int, str], bool] = {} if conformance is None else conformance
        self.reported_defects: set[tuple[str, str]] = set()
        #: How many references FHIRPath `resolve()` could not follow (a failed invariant that needed one is
        #: undecided).
        self.unresolved = 0
        #: Why `memberOf()` could not answer, each time it could not (an invariant that asked is not checked).
        self.undecided_terms: list[str] = []
        #: Constraint results (satisfied, needed an unresolvable reference) by (constraint, element, root resource).
        self.memo: dict[tuple[int, Any, int], tuple[bool, bool, str | None]] = {} if memo is None else memo
        #: Whether this run only decides conformance (a reference target, a `conformsTo()`), its issues not
        #: reported.
        self.checking = checking
        #: Issues of each (resource, plans, root) walk and of each plan's part of one, relative to the resource's
        #: expression, shared with nested runs: a Bundle entry that is also a reference target is walked once
        #: (FHIR R4 validation is deterministic for a given resource, profiles and Bundle). The flag says whether
        #: the record has every warning.
        self.walks: dict[tuple[int, tuple[int, ...], int], tuple[bool, tuple[Recorded, ...]]] = (
            {} if walks is None else walks
        )
        #: Whether a narrative in the resource links within it (`<a href="#...">`): then the links are checked.
        self.local_links = False
        #: (expression, div) of every narrative met, and the ids of the resources met (what a link may point at).
        self.narratives: dict[str, str] = {}
        self.resource_ids: set[str] = set()
        #: Which invariant-defect issue (by id) stands for which (constraint key, profile).
        self.defect_keys: dict[int, tuple[str, str]] = {}

    def add(self, severity: Severity, code: IssueCode, message_id: str, expression: str, diagnostics: str) -> None:
        self.issues.append(Issue(severity, code, diagnostics, expression, message_id))

    def index_bundle(self, bundle: Resource) -> None:
        self.in_bundle = True
        for entry in bundle.get("entry", []) if isinstance(bundle.get("entry"), list) else []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            full_url = entry.get("fullUrl")
            if isinstance(full_url, str):
                self.by_url[full_url] = resource
            if isinstance(resource.get("id"), str):
                self.by_url.setdefault(f"{resource.get('resourceType')}/{resource['id']}", resource)

    def resolve(self, reference: str, scope: Scope | None = None) -> Resource | None:
        """A Bundle entry by fullUrl (FHIR R4 §2.36.4.1) or `Type/id`, or a contained resource by `#id`."""
        if reference.startswith("#") and scope is not None:
            for holder in (scope.resource, scope.root):
                for contained in holder.get("contained", []):
                    if isinstance(contained, dict) and contained.get("id") == reference[1:]:
                        return contained
            return None
        found = self.by_url.get(reference)
        if found is None and "/" in reference:
            found = self.by_url.get("/".join(reference.rstrip("/").split("/")[-2:]))
        return found
