"""`Validator`: compiles profiles on first use, caches the plans, and validates resources against them."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources as package_resources
from pathlib import Path
from typing import Any

from gateway.validation.binding_checks import codings_of
from gateway.validation.extensions import ExtensionDefinition, definition_of
from gateway.validation.hooks import EvaluationHooks
from gateway.validation.packages import FhirPackage, shipped_package_files
from gateway.validation.plans import CORE_PREFIX, Constraint, ElementPlan, ProfilePlan, TypeRef, compile_plan
from gateway.validation.primitives import (
    PRIMITIVES,
    URI_TYPES,
    UriPattern,
    ValuePattern,
    compile_regex,
    is_example_url,
    regex_of,
)
from gateway.validation.registry import Closure, Registry, build_registry, default_cache_dir, version_key
from gateway.validation.slicing import expected_value
from gateway.validation.snapshots import ensure_snapshot
from gateway.validation.terminology import Membership, Terminology
from gateway.validation.validator import Walker
from gateway.validation.walk_state import Run, Scope
from gateway.validation.xhtml import unresolved_links
from mappings.issues import Issue, IssueError, has_errors, operation_outcome

Resource = dict[str, Any]
#: See `Validator.constraint_observer`.
ConstraintObserver = Callable[[Walker, Constraint, Any, Scope], None]


def _any_error(issues: list[Issue]) -> bool:
    """`mappings.issues.has_errors` compiled with this module: it runs once per reference target checked, where the
    interpreted generator of `has_errors` showed at 1-2 % of a MedCom Bundle's validation (py-spy)."""
    for issue in issues:
        if issue.severity == "error" or issue.severity == "fatal":
            return True
    return False


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """The issues found; `ok` is True when none is an error or fatal."""

    issues: tuple[Issue, ...]

    @property
    def ok(self) -> bool:
        return not has_errors(self.issues)

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(issue for issue in self.issues if issue.severity in ("error", "fatal"))

    def operation_outcome(self) -> dict[str, Any]:
        """The issues as a FHIR R4 OperationOutcome resource (dict)."""
        return operation_outcome(self.issues)


class Validator:
    """Validates FHIR R4 JSON resources against the profiles in a `Registry`.

    A profile is compiled into a check plan the first time it is needed, within the dependency closure of the
    package that holds it, and kept for the life of the validator. Thread-safe for reads once warm; compilation
    races only duplicate work.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        parent: Validator | None = None,
        allow_example_urls: bool = False,
        assume_valid_rest_references: bool = True,
        general_walk: bool = False,
        constraint_observer: ConstraintObserver | None = None,
    ) -> None:
        self.registry = registry
        #: Called with (walker, constraint, value, scope) before each FHIRPath evaluation of a constraint (not
        #: for a native check that holds, nor for a memoised result): how tests see what the walk evaluates.
        self.constraint_observer = constraint_observer
        #: Walk without the shortcuts for objects of a known shape and for plain child values: the slower walk
        #: they are held to in tests (`Walker.general`).
        self.general_walk = general_walk
        #: Whether URLs at example domains (`example.org`, `acme.com`) may stand in uri/url/canonical values and
        #: as unknown extensions: the FHIR validator refuses them unless run with `-allow-example-urls`.
        self.allow_example_urls = allow_example_urls
        #: Whether a reference whose target is not at hand is taken at its word about the target's type
        #: (`Organization/1` is an Organization, so it cannot be a Patient): the FHIR validator's
        #: `-assumeValidRestReferences`, which we apply by default (FHIR R4 §2.3.0: a literal reference names
        #: the type of its target).
        self.assume_valid_rest_references = assume_valid_rest_references
        #: The validator this one extends (`extended`): it compiles, and keeps, the plans of its own packages.
        self._parent = parent
        self._plans: dict[tuple[str, str], ProfilePlan | None] = {}
        self._closures: dict[str, Closure] = {}
        self._terminologies: dict[str, Terminology] = {}
        self._regexes: dict[str, ValuePattern | None] = {}
        #: `expected(slice_node, path, ...)` by id(slice_node), then path: plan nodes live as long as the engine's
        #: plans (never dropped). Nested dicts, not a (node, path) tuple made and hashed for every sliced item.
        self._expected: dict[int, dict[str, Any]] = {}
        self._constraints: dict[tuple[str, str, str | None], Constraint] = parent._constraints if parent else {}
        self._resource_types: dict[str, bool] = {}
        #: `plan(url, closure)` by id(closure), then url; the closure is kept beside its plans, so its id stays its
        #: own. Nested dicts, not a (url, closure) tuple made and hashed on each of the walk's many calls.
        self._located: dict[int, tuple[Closure | None, dict[str, ProfilePlan | None]]] = {}
        self._profile_types: dict[tuple[str, int], tuple[Closure | None, str | None]] = {}
        self._extensions: dict[tuple[str, int], tuple[Closure | None, ExtensionDefinition | None]] = {}
        self._ancestor_types: dict[str, tuple[str, ...]] = {}

    # -- public -------------------------------------------------------------------------------------------------
    def validate(
        self, resource: Resource, profile: str | None = None, *, package: str | None = None
    ) -> ValidationResult:
        """Validate `resource` against `profile` (a canonical URL, optionally `|version`) and its `meta.profile`.

        Without either, the resource is checked against the base R4 definition of its type. Unversioned
        canonicals resolve within `package`'s dependency closure when given (`"medcom.fhir.dk.carecommunication"`
        or `"name#version"`), else to the newest version shipped. Never raises for problems in the resource:
        they are issues. A Bundle's entries are validated too, references resolved by `fullUrl`.
        """
        run = Run()
        if isinstance(resource, dict) and resource.get("resourceType") == "Bundle":
            run.index_bundle(resource)
        root = resource.get("resourceType", "Resource") if isinstance(resource, dict) else "Resource"
        scope = None
        if package is not None:
            key = package if "#" in package else self._newest_package(package)
            if key is None or key not in self.registry.packages:
                raise IssueError.single(
                    "not-found", f"FHIR package {package} is not shipped", message_id="validation.package-unknown"
                )
            scope = Scope(resource, resource, self._closure(key))
        Walker(self, run).resource(resource, str(root), [profile] if profile else [], scope)
        if run.local_links:
            for expr, link in unresolved_links(list(run.narratives.items()), run.resource_ids):
                run.add(
                    "error",
                    "business-rule",
                    "validation.narrative-link",
                    expr,
                    f"the narrative's link {link!r} points at nothing in the resource (no element id or name, no "
                    "contained resource)",
                )
        return ValidationResult(tuple(dict.fromkeys(run.issues)))

    def _newest_package(self, name: str) -> str | None:
        versions = [key for key in self.registry.packages if key.split("#")[0] == name]
        return max(versions, key=lambda key: version_key(key.split("#")[1])) if versions else None

    def extended(
        self,
        packages: Iterable[FhirPackage],
        *,
        allow_example_urls: bool | None = None,
        assume_valid_rest_references: bool | None = None,
    ) -> Validator:
        """A validator that also knows `packages` (the Java validator's `-ig`), with the same options unless
        given; this one is unchanged. The plans of this validator's packages are compiled once, for both."""
        return Validator(
            self.registry.extended(packages),
            parent=self,
            allow_example_urls=self.allow_example_urls if allow_example_urls is None else allow_example_urls,
            assume_valid_rest_references=self.assume_valid_rest_references
            if assume_valid_rest_references is None
            else assume_valid_rest_references,
            general_walk=self.general_walk,
            constraint_observer=self.constraint_observer,
        )

    def example_url(self, url: str) -> bool:
        """Whether `url` is at an example domain that is allowed here (see `allow_example_urls`)."""
        return self.allow_example_urls and is_example_url(url)

    @property
    def compiled_plans(self) -> int:
        """How many check plans (a profile within a dependency closure) this validator has looked up so far, known
        or not: what `gateway.validation.warmup` makes at start-up."""
        return sum(len(plans) for _, plans in self._located.values())

    # -- used by the walker -------------------------------------------------------------------------------------
    def plan(self, url: str, closure: Closure | None) -> ProfilePlan | None:
        """The check plan of the profile `url` resolves to within `closure` (None when unknown or unusable)."""
        held = self._located.get(id(closure))
        if held is None or held[0] is not closure:
            held = self._located[id(closure)] = (closure, {})
        plans = held[1]
        if url in plans:
            return plans[url]
        found = plans[url] = self._plan(url, closure)
        return found

    def _plan(self, url: str, closure: Closure | None) -> ProfilePlan | None:
        located = self.registry.locate(url, closure)
        if located is None or located[1].get("resourceType") != "StructureDefinition":
            return None
        package, definition = located
        key = (package, str(definition.get("url")) + "|" + str(definition.get("version")))
        plans = self._plans_of(package)
        if key in plans:
            return plans[key]
        own_closure = self._closure(package)
        try:
            ensure_snapshot(definition, lambda u: self.registry.resolve(u, own_closure))
            plan: ProfilePlan | None = compile_plan(definition, package, self._constraints)
        except IssueError:
            plan = None
        if plan is not None:
            plan.ancestors = self._ancestors(definition, own_closure)
        plans[key] = plan
        return plan

    def _plans_of(self, package: str) -> dict[tuple[str, str], ProfilePlan | None]:
        """Where the plans of `package` are kept: with the validator that first knew the package."""
        owner = self
        while (
            owner._parent is not None
            and package in owner._parent.registry.packages
            # a plan keeps the walk's per-element steps, which depend on what the validator allows
            and owner._parent.allow_example_urls == owner.allow_example_urls
        ):
            owner = owner._parent
        return owner._plans

    def _ancestors(self, definition: Resource, closure: Closure) -> frozenset[str]:
        """The profiles `definition` derives from, as far as its own package's dependencies pin them: a base found
        only by a version substitution or the newest-version fallback may not be the one the published snapshot
        was built on, so the chain stops there."""
        found: list[str] = []
        base = definition.get("baseDefinition")
        while isinstance(base, str):
            located = self.registry.locate(base, closure)
            if located is None or located[0] not in closure.packages or located[0] in closure.substituted:
                break
            parent = located[1]
            canonical = f"{parent.get('url')}|{parent.get('version')}"
            if canonical in found:
                break  # a cycle: no profile derives from itself
            found.append(canonical)
            base = parent.get("baseDefinition")
        return frozenset(found)

    def _closure(self, package: str) -> Closure:
        if package not in self._closures:
            self._closures[package] = self.registry.closure(package)
        return self._closures[package]

    def closure_of(self, plan: ProfilePlan) -> Closure:
        return self._closure(plan.package)

    def type_plan(self, type_ref: TypeRef, closure: Closure | None) -> ProfilePlan | None:
        if type_ref.code in PRIMITIVES or type_ref.code.startswith("http://"):
            return None
        for profile in type_ref.profiles:
            found = self.plan(profile, closure)
            if found is not None:
                return found
        return self.plan(CORE_PREFIX + type_ref.code, None)

    def extension_definition(self, url: str, closure: Closure | None) -> ExtensionDefinition | None:
        """What the rules need of the extension `url` resolves to (None when unknown: not an extension here)."""
        key = (url, id(closure))
        found = self._extensions.get(key)
        if found is None or found[0] is not closure:
            plan = self.plan(url, closure)  # the plan has a snapshot made, which the definition reads
            definition = self.registry.resolve(url, closure) if plan is not None else None
            found = self._extensions[key] = (closure, definition_of(definition) if definition else None)
        return found[1]

    def type_ancestors(self, code: str) -> tuple[str, ...]:
        """The R4 core types `code` derives from, nearest first (`Age` → `Quantity`, `Element`)."""
        found = self._ancestor_types.get(code)
        if found is None:
            chain: list[str] = []
            definition = self.registry.resolve(CORE_PREFIX + code) if code else None
            while definition is not None and isinstance(definition.get("baseDefinition"), str):
                base = str(definition["baseDefinition"])
                if not base.startswith(CORE_PREFIX) or base[len(CORE_PREFIX) :] in chain:
                    break
                chain.append(base[len(CORE_PREFIX) :])
                definition = self.registry.resolve(base)
            found = self._ancestor_types[code] = tuple(chain)
        return found

    def unknown_type_profile(self, type_ref: TypeRef, closure: Closure | None) -> str | None:
        """The first of the type's profiles when none of them is known (the base type stands in), else None."""
        if not type_ref.profiles or type_ref.code in PRIMITIVES or type_ref.code.startswith("http://"):
            return None
        if any(self.plan(profile, closure) is not None for profile in type_ref.profiles):
            return None
        return type_ref.profiles[0]

    def regex(self, code: str) -> ValuePattern | None:
        if code not in self._regexes:
            definition = self.registry.resolve(CORE_PREFIX + code) if code in PRIMITIVES else None
            pattern = compile_regex(regex_of(definition), code) if definition else None
            if code in URI_TYPES and (code == "canonical" or not self.allow_example_urls):
                pattern = UriPattern(pattern, examples=self.allow_example_urls, absolute=code == "canonical")
            self._regexes[code] = pattern
        return self._regexes[code]

    def is_resource_type(self, code: str) -> bool:
        if code not in self._resource_types:
            definition = self.registry.resolve(CORE_PREFIX + code)
            self._resource_types[code] = definition is not None and definition.get("kind") == "resource"
        return self._resource_types[code]

    def expected(self, slice_node: ElementPlan, path: str, closure: Closure | None) -> Any:
        by_path = self._expected.get(id(slice_node))
        if by_path is None:
            by_path = self._expected[id(slice_node)] = {}
        if path not in by_path:

            def descend(node: ElementPlan) -> ElementPlan | None:
                for type_ref in node.types:
                    if type_ref.profiles:
                        found = self.type_plan(type_ref, closure)
                        return found.root if found else None
                return None

            by_path[path] = expected_value(slice_node, path, descend)
        return by_path[path]

    def terminology(self, closure: Closure | None) -> Terminology:
        key = closure.packages[0] if closure else ""
        if key not in self._terminologies:
            self._terminologies[key] = Terminology(lambda u: self.registry.resolve(u, closure))
        return self._terminologies[key]

    def profile_type(self, url: str, closure: Closure | None) -> str | None:
        key = (url, id(closure))
        found = self._profile_types.get(key)
        if found is None or found[0] is not closure:
            definition = self.registry.resolve(url, closure)
            found = self._profile_types[key] = (closure, str(definition.get("type")) if definition else None)
        return found[1]

    def conforms(self, run: Run, target: Resource, profile: str, scope: Scope) -> bool:
        """Whether `target` validates without errors against `profile` (memoised per run)."""
        key = (id(target), profile)
        if key not in run.conformance:
            run.conformance[key] = True  # a reference cycle counts as conformant while it is being checked
            inner = Run(
                by_url=run.by_url,
                in_bundle=run.in_bundle,
                conformance=run.conformance,
                memo=run.memo,
                checking=True,
                walks=run.walks,
            )
            expr = str(target.get("resourceType"))
            Walker(self, inner).resource(target, expr, [profile], Scope(target, target, scope.closure))
            run.conformance[key] = not _any_error(inner.issues)
        return run.conformance[key]

    def hooks(self, run: Run, scope: Scope) -> EvaluationHooks:
        def member_of(value: Any, url: str) -> bool | None:
            terminology = self.terminology(scope.closure)
            results = [terminology.check(url, system, code) for system, code in codings_of(value)]
            if any(r is Membership.MEMBER for r, _ in results):
                return True
            unchecked = [why for r, why in results if r is Membership.NOT_CHECKED]
            if unchecked:
                run.undecided_terms.append(f"memberOf('{url}') cannot be decided here: {unchecked[0]}")
                return None
            return False if results else None

        def resolve(reference: str) -> Resource | None:
            found = run.resolve(reference, scope)
            if found is None:
                run.unresolved += 1
            return found

        return EvaluationHooks(
            resolve=resolve,
            conforms_to=lambda resource, url: self.conforms(run, resource, url, scope),
            member_of=member_of,
        )


def profiles_folder() -> Path:
    """Our own conformance resources: the `profiles` package's folder (installed as package data)."""
    return Path(str(package_resources.files("profiles")))


@functools.cache
def default_validator() -> Validator:
    """The process-wide validator over the shipped packages and `profiles/`; built once, registry cached on disk."""
    registry = build_registry(shipped_package_files(), [profiles_folder()], cache_dir=default_cache_dir())
    return Validator(registry)


def timed_default_validator() -> tuple[Validator, float]:
    """`default_validator()` and the seconds it took (for start-up measurements)."""
    started = time.perf_counter()
    validator = default_validator()
    return validator, time.perf_counter() - started


__all__ = ["ValidationResult", "Validator", "default_validator"]
