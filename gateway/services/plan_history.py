"""Earlier versions of a plan as whole documents: what the plan said when the previous coordination meeting agreed it.

`GET /plans/{id}?version=N` rebuilds an old CarePlan with the *current* Goals, CareTeam and Consent. To show the
team what changed since the previous meeting, each resource of an earlier plan is taken as it was when that plan
version was written: `mappings.plan.transaction_from_plan` writes the plan's resources in one transaction,
everything the CarePlan references before it and its Consents (the consent, crisis plans) after it
("referenced before referencing"). So for CarePlan version v written at L(v): a Consent is its newest version
written before L(v+1) (or the current one), a Goal or CareTeam its newest version written at or before L(v); the
people and organisations the plan names are read as they are now (see VERSIONED).

Every version used is judged by the caller's `Access` as a `vread` of it, and the reading is audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.fhir.access import OPEN, Access, AuditRecord
from gateway.fhir.interactions import FhirService
from gateway.services.plans import PLAN_SCOPED_TYPES, is_crisis_plan, reference_closure, without_crisis_plans
from gateway.store.ports import ResourceTransaction, StoredResource
from mappings.documents.plan import PlanDocument
from mappings.issues import IssueError
from mappings.plan import PlanContext, plan_from_fhir

#: A plan rarely has more versions than this; older ones are not looked at for "the previous meeting".
MAX_VERSIONS = 200
#: The plan's own content is taken as it was; the people and organisations it names as they are now (their
#: names and telephone numbers are what a reader needs today), which also keeps the page fast (bench/bench_pages.py).
VERSIONED = frozenset({"CarePlan", "CareTeam", "Goal", "Consent"})


@dataclass(frozen=True)
class PlanVersions:
    """The current plan and the plan as agreed at the previous coordination meeting (None for the first)."""

    plan_id: str
    version: int
    author: str | None  # meta.source of the CarePlan: the organisation that wrote the plan first
    current: PlanDocument
    previous: PlanDocument | None
    previous_version: int | None


class PlanHistory:
    def __init__(self, fhir: FhirService, context: PlanContext) -> None:
        self.fhir = fhir
        self.context = context

    def with_previous_meeting(self, plan_id: str, access: Access = OPEN) -> PlanVersions:
        def work(tx: ResourceTransaction) -> PlanVersions:
            for resource_type in PLAN_SCOPED_TYPES:
                access.require(resource_type, "r")
            current = tx.read("CarePlan", plan_id)
            self.fhir.check_visible(tx, access, current, "read")
            versions = _versions(tx, "CarePlan", plan_id)
            cache: dict[tuple[str, str], list[StoredResource]] = {}
            used: list[StoredResource] = []
            document = self._document_at(tx, access, versions, 0, used, cache)
            earliest = _first_version_of_previous_meeting(versions)
            previous, previous_version = None, None
            if earliest is not None:
                previous = self._document_at(tx, access, versions, earliest, used, cache)
                previous_version = versions[earliest].version_id
            access.record(tx, AuditRecord("R", "vread", used[:50]))
            assert current.resource is not None
            author = (current.resource.get("meta") or {}).get("source")
            return PlanVersions(plan_id, current.version_id, author, document, previous, previous_version)

        return self.fhir.guarded(access, work)

    def _document_at(
        self,
        tx: ResourceTransaction,
        access: Access,
        versions: list[StoredResource],
        index: int,
        used: list[StoredResource],
        cache: dict[tuple[str, str], list[StoredResource]],
    ) -> PlanDocument:
        """The plan as written with CarePlan `versions[index]` (versions newest first)."""
        plan = versions[index]
        until = plan.last_updated
        consents_until = versions[index - 1].last_updated if index > 0 else None
        hidden: set[str] = set()

        def visible(chosen: StoredResource, subtype: str) -> bool:
            """Whether the caller may see `chosen`. A crisis plan it may not see is left out, as `PlanService.read`
            leaves it out; any other part it may not see makes the plan answer as a missing one (`check_visible`)."""
            try:
                self.fhir.check_visible(tx, access, chosen, subtype)
            except IssueError:
                if chosen.resource is None or not is_crisis_plan(chosen.resource):
                    raise
                hidden.add(f"{chosen.resource_type}/{chosen.id}")
                return False
            used.append(chosen)
            return True

        def resolve(resource_type: str, resource_id: str) -> StoredResource | None:
            bound = consents_until if resource_type == "Consent" else until
            if resource_type not in VERSIONED or (index == 0 and resource_type != "CarePlan"):
                chosen: StoredResource | None = tx.read_current(resource_type, resource_id)  # the plan as it is now
                if chosen is not None and chosen.resource is not None and not visible(chosen, "read"):
                    return None
                return chosen
            key = (resource_type, resource_id)
            if key not in cache:
                cache[key] = _versions(tx, resource_type, resource_id)
            chosen = next(
                (
                    version
                    for version in cache[key]
                    if bound is None
                    or version.last_updated < bound
                    or (resource_type != "Consent" and version.last_updated == bound)
                ),
                None,
            )
            if chosen is not None and not visible(chosen, "vread"):
                return None
            return chosen

        assert plan.resource is not None
        try:
            closure = without_crisis_plans(reference_closure(tx, plan.resource, resolve), hidden)
            return plan_from_fhir(closure, self.context)
        except IssueError as error:
            raise IssueError.single(
                "not-found",
                f"CarePlan/{plan.id} version {plan.version_id} is not a shared-plan document",
                message_id="pages.not-a-plan",
                status=404,
            ) from error


def _first_version_of_previous_meeting(versions: list[StoredResource]) -> int | None:
    """Index (newest first) of the plan as written at the previous coordination meeting: the earliest version
    whose meeting (`CarePlan.created`, `mappings.plan.care_plan`) is the one before the current version's, so that
    what changed between the meetings (a wish the citizen added, a consent change) counts as changed."""
    meetings = [(version.resource or {}).get("created") for version in versions]
    previous = next((index for index, meeting in enumerate(meetings) if meeting != meetings[0]), None)
    if previous is None:
        return None
    while previous + 1 < len(meetings) and meetings[previous + 1] == meetings[previous]:
        previous += 1
    return previous


def _versions(tx: ResourceTransaction, resource_type: str, resource_id: str) -> list[StoredResource]:
    """Live versions, newest first."""
    page = tx.history(resource_type, resource_id, since=None, count=MAX_VERSIONS, offset=0)
    live = [version for version in page.versions if version.resource is not None]
    return sorted(live, key=lambda version: version.version_id, reverse=True)
