"""search indexes: covering lookups, the date's upper bound, the resource order with its tie-break

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 16:00:00.000000

Issue 18: a search's criteria are evaluated as id sets over the index tables, so the lookup indexes carry the
resource id (answered from the index alone); `ix_fhir_search_date_high` makes the prefixes bounded on the upper end
(`gt`, `ge`, `eb`) a range too; `ix_fhir_resource_type_updated` gains the id, the tie-break of every search's
order, so that a page is read in index order without a sort; the `*_owner` indexes gain the parameter, so that a
criterion probed for one resource reads that resource's rows of that parameter (without it SQLite preferred a
range of the value index over the probe). The token and string lookups stay as they were:
their values are up to 512 characters, and PostgreSQL refuses an index row over 2,704 bytes.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: index name -> (table, columns before, columns after); None before: a new index.
_CHANGED: dict[str, tuple[str, list[str] | None, list[str]]] = {
    "ix_fhir_resource_type_updated": (
        "fhir_resource",
        ["resource_type", "last_updated"],
        ["resource_type", "last_updated", "id"],
    ),
    "ix_fhir_search_reference_lookup": (
        "fhir_search_reference",
        ["resource_type", "param", "target_id"],
        ["resource_type", "param", "target_id", "target_type", "id"],
    ),
    "ix_fhir_search_date_lookup": (
        "fhir_search_date",
        ["resource_type", "param", "low"],
        ["resource_type", "param", "low", "high", "id"],
    ),
    "ix_fhir_search_date_high": ("fhir_search_date", None, ["resource_type", "param", "high", "low", "id"]),
    **{
        f"ix_{table}_owner": (table, ["resource_type", "id"], ["resource_type", "id", "param"])
        for table in ("fhir_search_token", "fhir_search_reference", "fhir_search_string")
    },
    # A date probe reads its bounds from the owner index: SQLite preferred the covering value index's range.
    "ix_fhir_search_date_owner": (
        "fhir_search_date",
        ["resource_type", "id"],
        ["resource_type", "id", "param", "low", "high"],
    ),
}


def upgrade() -> None:
    for name, (table, before, after) in _CHANGED.items():
        if before is not None:
            op.drop_index(name, table_name=table)
        op.create_index(name, table, after, unique=False)


def downgrade() -> None:
    for name, (table, before, _after) in _CHANGED.items():
        op.drop_index(name, table_name=table)
        if before is not None:
            op.create_index(name, table, before, unique=False)
