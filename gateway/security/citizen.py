"""`CitizenAccess`: the `gateway.fhir.access.Access` of a citizen signed in to the pages with their CPR number.

The citizen's right of use (issue 12): they see their own plans whole (the store's rule for a viewer with a CPR
number: every member of a plan whose Patient carries it, that Patient, and the AuditEvents about it, as
sundhed.dk's "Min log"), and may write their own plan through `/plans`' service: never delete, never another
citizen's plan. Their writes are audited with the citizen as the agent (identified by the CPR number), while the
plan stays its organisation's: `for_plan` makes an access whose `author` is the plan's author (the plan table's
fact), so what the citizen's write creates (a new wish) is that organisation's too and the plan's consent keeps
deciding for the organisations.
"""

from __future__ import annotations

from gateway.clock import Clock, IdSource
from gateway.fhir.access import AuditRecord, Denied, Interaction
from gateway.security.guard import audit_event_for
from gateway.store.dates import format_instant
from gateway.store.ports import ResourceStore, ResourceTransaction, Viewer
from mappings.audit import AuditAgent
from mappings.issues import Issue
from mappings.plan.codes import CPR_SYSTEM

#: Plan content (`gateway.security.consent`'s categories: careplan, careteam, crisisplan).
PLAN_CONTENT = frozenset({"CarePlan", "CareTeam", "Consent", "Goal"})
#: What a plan page reads: the plan's content and the people and organisations it names.
READABLE = frozenset({*PLAN_CONTENT, "Patient", "Organization", "Practitioner", "PractitionerRole", "RelatedPerson"})
#: What a plan document's transaction writes (`mappings.plan.transaction_from_plan`).
WRITABLE = frozenset({*PLAN_CONTENT, "Patient", "Organization", "Practitioner", "RelatedPerson"})
#: The client id the citizen's AuditEvents carry (the pages act for the citizen).
CITIZEN_CLIENT = "careplan-gateway-pages"


class CitizenAccess:
    audits = True

    def __init__(
        self,
        cpr: str,
        store: ResourceStore,
        clock: Clock,
        ids: IdSource,
        observer: str,
        *,
        plan_author: str | None = None,
    ) -> None:
        """`plan_author`: the SOR code of the organisation whose plan this access writes (`for_plan`)."""
        self.cpr = cpr
        self.store = store
        self.clock = clock
        self.ids = ids
        self.observer = observer
        self.plan_author = plan_author
        self.agent = AuditAgent(CITIZEN_CLIENT, ((CPR_SYSTEM, cpr),), "Borgeren selv")
        self._viewer = Viewer(None, format_instant(clock.now()), cpr=cpr)

    @property
    def viewer(self) -> Viewer:
        return self._viewer

    @property
    def author(self) -> str | None:
        return self.plan_author

    def for_plan(self, plan_id: str) -> CitizenAccess:
        """The access that writes the citizen's plan `plan_id`, as its author's (None author if it is not theirs:
        the write is then refused as any write of another's plan)."""
        with self.store.reading() as tx:
            visible = tx.read_current("CarePlan", plan_id, self.viewer) is not None
            record = tx.plan(plan_id) if visible else None
        author = record.author if record is not None else None
        return CitizenAccess(self.cpr, self.store, self.clock, self.ids, self.observer, plan_author=author)

    def require(self, resource_type: str, interaction: Interaction) -> None:
        allowed = (
            (interaction in ("r", "s") and resource_type in READABLE)
            or (interaction in ("c", "u") and resource_type in WRITABLE)
            or (interaction in ("r", "s") and resource_type == "AuditEvent")
        )
        if allowed:
            return
        issue = Issue(
            "error", "forbidden", f"A citizen's session may not do this with {resource_type}", "", "pages.forbidden"
        )
        record = AuditRecord("E", "operation", outcome="4", detail=f"citizen: {interaction} on {resource_type}")
        raise Denied.of(issue, 403, record)

    def require_source(self, system: str, *, owned: bool) -> None:
        """The citizen writes only their own plan, in its author's name (`for_plan` found it), never a new one
        (`PlanService.accept` holds the plan's source to its author)."""
        if self.plan_author is not None:
            return
        issue = Issue("error", "forbidden", "A citizen writes only their own plan", "", "pages.forbidden")
        raise Denied.of(issue, 403, AuditRecord("C", "create", outcome="4", detail=f"citizen: plan of {system}"))

    def require_sender(self, sor: str, where: str) -> None:
        issue = Issue("error", "forbidden", "A citizen's session sends no messages", where, "pages.forbidden")
        raise Denied.of(issue, 403, AuditRecord("C", "create", outcome="4", detail=f"citizen: message as {sor[:40]}"))

    def record(self, tx: ResourceTransaction, record: AuditRecord) -> None:
        tx.audit(audit_event_for(record, self.agent, self.observer, self.clock, self.ids, tx))

    def record_alone(self, record: AuditRecord) -> None:
        with self.store.writing() as tx:
            self.record(tx, record)
