"""Ids of our profiles (StructureDefinitions in `profiles/`), relative to `PlanContext.base`."""

from __future__ import annotations

CARE_PLAN = "kip-careplan"
CARE_TEAM = "kip-careteam"
GOAL = "kip-goal"
CONSENT = "kip-consent"
CRISIS_PLAN = "kip-crisis-plan"
#: For organisations without a SOR code (e.g. a sports club known by GLN only), which cannot meet DK-core's
#: `dk-core-organization-mandatory-identifier` invariant.
ORGANIZATION = "kip-organization"
ITEM_KEY = "plan-item-key"

ALL = (CARE_PLAN, CARE_TEAM, GOAL, CONSENT, CRISIS_PLAN, ORGANIZATION, ITEM_KEY)
