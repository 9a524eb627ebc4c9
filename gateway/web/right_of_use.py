"""The citizen's right of use: their own words in the plan, and who may see what (issue 12).

Each change is a new version of the plan document written through `PlanService.accept`, the same service (and so
the same validation, transaction, access rule and audit trail) as `PUT /plans`, with the citizen's `CitizenAccess`
as the writer. A consent change takes effect on the next request, as every consent change does.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from gateway.fhir.interactions import FhirService
from gateway.security.citizen import CitizenAccess
from gateway.services.plans import PlanReceipt, PlanService
from mappings.issues import IssueError

WishKind = Literal["wish", "dream", "need"]


class RightOfUse:
    def __init__(self, plans: PlanService, fhir: FhirService) -> None:
        self.plans = plans
        self.fhir = fhir

    def add_wish(self, base: str, plan_id: str, kind: WishKind, text: str, access: CitizenAccess) -> PlanReceipt:
        document = self._document(plan_id, access)
        document["wishes"] = [*document.get("wishes", []), {"kind": kind, "text": text.strip()}]
        return self._write(base, plan_id, document, access)

    def set_member(
        self, base: str, plan_id: str, member: str, permit: bool, today: date, access: CitizenAccess
    ) -> PlanReceipt:
        document = self._document(plan_id, access)
        if member not in {m["key"] for m in document["team"]}:
            raise IssueError.single(
                "not-found", "Personen er ikke med i dit team", message_id="pages.member-unknown", status=404
            )
        consent = document["consent"]
        permitted = [key for key in consent.get("permitted", []) if key != member]
        if permit:
            permitted.append(member)
            consent["decision"] = "given"
        consent["permitted"] = permitted
        consent["decided_on"] = today.isoformat()
        return self._write(base, plan_id, document, access)

    def set_category(
        self, base: str, plan_id: str, category: str, permit: bool, today: date, access: CitizenAccess
    ) -> PlanReceipt:
        document = self._document(plan_id, access)
        consent = document["consent"]
        data = [code for code in consent["data"] if code != category]
        if permit:
            data.append(category)
            consent["decision"] = "given"
        if not data:
            raise IssueError.single(
                "business-rule",
                "Mindst én slags oplysninger skal kunne deles. Vil du ikke dele noget, så luk for hver person.",
                message_id="pages.consent-empty",
                status=422,
            )
        consent["data"] = data
        consent["decided_on"] = today.isoformat()
        return self._write(base, plan_id, document, access)

    def _document(self, plan_id: str, access: CitizenAccess) -> dict[str, Any]:
        document: dict[str, Any] = self.plans.read(plan_id, access=access).model_dump(mode="json", exclude_none=True)
        return document

    def _write(self, base: str, plan_id: str, document: dict[str, Any], access: CitizenAccess) -> PlanReceipt:
        return self.plans.accept(
            base, document, expected_plan_id=plan_id, access=access.for_plan(plan_id), by_citizen=True
        )
