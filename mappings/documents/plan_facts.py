"""What the notices carry from the citizen's shared plan, each part only where the consent permits it.

`PlanFollowUp` (coordinator, next coordination meeting, open interventions, whether a crisis plan exists) goes to
recipients the consent permits `followup` for; `CrisisPlan` (the crisis plan or advance directive itself) to the
admitting ward when it permits `crisisplan`. Made from a `PlanDocument` by `mappings.notices.follow_up`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class InterventionDue:
    """One intervention agreed at the coordination meeting and due before the next one."""

    description: str
    due: date | None = None
    responsible: str | None = None
    #: The intervention's key in the plan (`interventions[<key>]`), for `--explain`.
    key: str = ""


@dataclass(frozen=True, slots=True)
class PlanFollowUp:
    """The agreed follow-up from the shared plan, filled by the lead only where the citizen's consent permits.

    Coordinator (stafetholder) and next coordination meeting (a date: the plan names no time), the interventions
    due until then, and whether a crisis plan (kriseplan / forhåndstilkendegivelse) exists - its presence, not its
    content.
    """

    coordinator_name: str
    coordinator_role: str | None = None
    coordinator_phone: str | None = None
    next_meeting: date | None = None
    interventions_due: tuple[InterventionDue, ...] = ()
    crisis_plan_present: bool = False
    #: The plan field the coordinator's name was read from, e.g. `team[bo1].name`.
    coordinator_field: str = "coordination.coordinator"


@dataclass(frozen=True, slots=True)
class CrisisPlan:
    """A crisis plan or advance directive as the citizen made it in a stable phase (`kind`: `crisis-plan` or
    `advance-directive`), delivered at admission only where the citizen's consent permits `crisisplan`."""

    kind: str
    text: str
    made_on: date | None = None
