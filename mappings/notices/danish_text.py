"""The Danish texts our notices carry, written from the facts they were given and nothing else.

One date format across every text: `dd.mm.åååå`, and `dd.mm.åååå kl. tt:mm` for an instant in Danish time, the
form MedCom's own examples use in message text (`Flow1-XDIS91_Ex_to_FHIR.xml`: "overlæge K. Petersen 15.01.1999",
carried unchanged into `Flow1-CareCommunication_Ex_from_OIOXML.xml`). A fact known only as a date (a coordination
meeting, an intervention's deadline, the day a crisis plan was made) is written as a date: no clock time is
invented for it.

Each builder returns a `Text`: the words, and the input fields and values they were written from, in the form the
input gave them (ISO 8601), so `--explain` can show them and a test can check every date in the text against them.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from mappings.documents.plan_facts import CrisisPlan, PlanFollowUp
from mappings.explain import Text

DANISH_TIME = ZoneInfo("Europe/Copenhagen")


def danish_date(value: date) -> str:
    """`15.01.1999` (MedCom's examples; see the module docstring)."""
    return value.strftime("%d.%m.%Y")


def danish_datetime(value: datetime) -> str:
    """`01.03.2024 kl. 10:10`, in Danish time whatever offset the input used."""
    return value.astimezone(DANISH_TIME).strftime("%d.%m.%Y kl. %H:%M")


def stay_text(who: str, verb: str, where: str, when: datetime, fields: tuple[tuple[str, str], ...]) -> Text:
    """`Søren er udskrevet fra Psykiatrisk Center Øst 01.03.2024 kl. 10:10.` (`verb`: `indlagt på`, ...).

    `fields` names the inputs of `who`, `where` and `when`, in that order, e.g. `(("PID-5.2", "Søren"), ...)`.
    """
    return Text(f"{who} er {verb} {where} {danish_datetime(when)}.", fields)


def follow_up_text(follow_up: PlanFollowUp) -> Text:
    """The agreed follow-up of the shared plan (coordinator, next meeting, open interventions, crisis plan)."""
    values: list[tuple[str, str]] = [(follow_up.coordinator_field, follow_up.coordinator_name)]
    coordinator = ", ".join(
        part
        for part in (
            follow_up.coordinator_name,
            follow_up.coordinator_role,
            f"tlf. {follow_up.coordinator_phone}" if follow_up.coordinator_phone else None,
        )
        if part
    )
    lines = ["Aftalt opfølgning fra den fælles plan:", f"Koordinator (stafetholder): {coordinator}"]
    if follow_up.next_meeting is not None:
        lines.append(f"Næste koordinationsmøde: {danish_date(follow_up.next_meeting)}")
        values.append(("coordination.next_meeting", follow_up.next_meeting.isoformat()))
    else:
        lines.append("Næste koordinationsmøde: ikke fastlagt")
    if follow_up.interventions_due:
        lines.append("Indsatser inden næste møde:")
        for item in follow_up.interventions_due:
            details = [f"ansvarlig: {item.responsible}" if item.responsible else None]
            if item.due is not None:
                details.append(f"senest {danish_date(item.due)}")
                values.append((f"interventions[{item.key}].until", item.due.isoformat()))
            suffix = ", ".join(d for d in details if d)
            lines.append(f"- {item.description}" + (f" ({suffix})" if suffix else ""))
            values.append((f"interventions[{item.key}].description", item.description))
    lines.append("Kriseplan: foreligger" if follow_up.crisis_plan_present else "Kriseplan: foreligger ikke")
    return Text("\n".join(lines), tuple(values))


_CRISIS_TITLES = {"crisis-plan": "Kriseplan", "advance-directive": "Forhåndstilkendegivelse"}


def crisis_plan_text(plan: CrisisPlan, index: int) -> Text:
    """One crisis plan or advance directive as the citizen made it, with the day it was made."""
    title = _CRISIS_TITLES.get(plan.kind, plan.kind)
    made = f" (udarbejdet {danish_date(plan.made_on)})" if plan.made_on else ""
    values = [(f"crisis_plans[{index}].kind", plan.kind), (f"crisis_plans[{index}].text", plan.text)]
    if plan.made_on:
        values.insert(1, (f"crisis_plans[{index}].made_on", plan.made_on.isoformat()))
    return Text(f"{title}{made}:\n{plan.text}", tuple(values))
