"""The shared plans' access data in SQL: `plan`, `plan_member`, `plan_grant` (see `tables.py`, `visibility.py`).

Written by `SqlResourceTransaction.save_plan` inside the plan's own write transaction, so the access rule never
sees a plan whose resources and grants disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, insert, select, union_all, update
from sqlalchemy.exc import IntegrityError

from gateway.store import access_sql
from gateway.store import tables as t
from gateway.store.dates import MAX_INSTANT, MIN_INSTANT, format_instant
from gateway.store.ports import CitizenPlan, PlanRecord
from mappings.issues import IssueError
from mappings.plan import Grant
from mappings.plan.codes import CPR_SYSTEM


def _record(row: Any) -> PlanRecord:
    return PlanRecord(
        row.plan_id,
        row.patient_id,
        row.author,
        row.source_system,
        row.source_value,
        row.first_active,
        row.citizen_decision,
    )


def plan(connection: Connection, plan_id: str) -> PlanRecord | None:
    row = connection.execute(select(t.plan).where(t.plan.c.plan_id == plan_id)).first()
    return None if row is None else _record(row)


def plan_by_source(connection: Connection, system: str, value: str) -> PlanRecord | None:
    statement = select(t.plan).where(t.plan.c.source_system == system, t.plan.c.source_value == value)
    row = connection.execute(statement).first()
    return None if row is None else _record(row)


def plans_of_citizen(connection: Connection, cpr: str) -> list[CitizenPlan]:
    """The plans whose Patient carries CPR number `cpr`, each with its CarePlan's status and last update. Not
    limited: which plan counts as the citizen's must not depend on how many others there are."""
    p, r, token = t.plan, t.resource, t.search_token
    patients = select(token.c.id).where(
        token.c.resource_type == "Patient",
        token.c.param == "identifier",
        token.c.system == CPR_SYSTEM,
        token.c.code == cpr,
    )
    status = token.alias("status")
    statement = (
        select(p, status.c.code.label("status"), r.c.last_updated)
        .join(r, and_(r.c.resource_type == "CarePlan", r.c.id == p.c.plan_id))
        .join(
            status,
            and_(status.c.resource_type == "CarePlan", status.c.id == p.c.plan_id, status.c.param == "status"),
        )
        .where(p.c.patient_id.in_(patients), r.c.deleted.is_(False))
        .order_by(p.c.plan_id)
    )
    return [CitizenPlan(_record(row), row.status, row.last_updated) for row in connection.execute(statement)]


def plan_of(connection: Connection, resource_type: str, resource_id: str) -> str | None:
    m = t.plan_member
    statement = (
        select(m.c.plan_id).where(m.c.resource_type == resource_type, m.c.id == resource_id).order_by(m.c.plan_id)
    )
    return connection.execute(statement.limit(1)).scalar()


def save_plan(
    connection: Connection, record: PlanRecord, members: Iterable[tuple[str, str, str]], grants: Iterable[Grant]
) -> None:
    values = {
        "patient_id": record.patient_id,
        "author": record.author,
        "source_system": record.source_system,
        "source_value": record.source_value,
        "first_active": record.first_active,
        "citizen_decision": record.citizen_decision,
    }
    if plan(connection, record.plan_id) is None:
        try:
            with connection.begin_nested():
                connection.execute(insert(t.plan).values(plan_id=record.plan_id, **values))
        except IntegrityError as error:  # the source identifier's UNIQUE key: the backstop of authorship
            raise IssueError.single(
                "conflict",
                f"Another plan already has the source {record.source_system}|{record.source_value}",
                expression="/source",
                message_id="plan.source-taken",
                status=409,
            ) from error
    else:
        connection.execute(update(t.plan).where(t.plan.c.plan_id == record.plan_id).values(**values))
    former = access_sql.plan_members(connection, record.plan_id)
    connection.execute(delete(t.plan_member).where(t.plan_member.c.plan_id == record.plan_id))
    rows = [
        {"resource_type": resource_type, "id": resource_id, "plan_id": record.plan_id, "category": category}
        for resource_type, resource_id, category in dict.fromkeys(members)
    ]
    if rows:
        connection.execute(insert(t.plan_member), rows)
    connection.execute(delete(t.plan_grant).where(t.plan_grant.c.plan_id == record.plan_id))
    granted = [
        {
            "plan_id": record.plan_id,
            "category": grant.category,
            "sor": grant.sor,
            "valid_from": MIN_INSTANT if grant.valid_from is None else format_instant(grant.valid_from),
            "valid_to": MAX_INSTANT if grant.valid_to is None else format_instant(grant.valid_to),
        }
        for grant in grants
    ]
    if granted:
        connection.execute(insert(t.plan_grant), granted)
    # Who may reach a member changes with the plan's members and grants: the former members' rows and the new ones'.
    access_sql.refresh(connection, [*former, *((row["resource_type"], row["id"]) for row in rows)])


def granted(connection: Connection, plan_id: str, category: str, sor: str, at: str) -> bool:
    g = t.plan_grant
    condition = exists().where(
        g.c.plan_id == plan_id, g.c.category == category, g.c.sor == sor, g.c.valid_from <= at, g.c.valid_to > at
    )
    return bool(connection.execute(select(condition)).scalar())


def grant_window(connection: Connection, sor: str, at: str) -> tuple[str, str]:
    """`[since, until)`: the instants around `at` over which the grants `sor` holds stay the same (no grant of any
    plan starts or ends in it), so whatever the access rule let `sor` see at `at` it sees throughout."""
    g = t.plan_grant
    edges = union_all(
        select(g.c.valid_from.label("edge")).where(g.c.sor == sor),
        select(g.c.valid_to.label("edge")).where(g.c.sor == sor),
    ).subquery()
    since = select(func.max(edges.c.edge)).where(edges.c.edge <= at).scalar_subquery()
    until = select(func.min(edges.c.edge)).where(edges.c.edge > at).scalar_subquery()
    row = connection.execute(select(since, until)).one()
    return row[0] or MIN_INSTANT, row[1] or MAX_INSTANT
