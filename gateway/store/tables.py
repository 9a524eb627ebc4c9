"""Database tables (SQLAlchemy Core). Alembic migrations in `migrations/` create them; keep both in step
(`tests/integration/test_migrations.py` compares them).

Every write of a resource adds a row to `fhir_resource_version` (history is never rewritten) and replaces the
current row in `fhir_resource` and its search index rows, all in one transaction. Instants are fixed-width UTC
strings (see `dates.py`) so that ordering is the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table, Text

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TYPE_LEN, ID_LEN, INSTANT_LEN = 64, 64, 27

resource = Table(
    "fhir_resource",
    metadata,
    Column("resource_type", String(TYPE_LEN), primary_key=True),
    Column("id", String(ID_LEN), primary_key=True),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", String(INSTANT_LEN), nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("content", Text, nullable=True),
)
Index("ix_fhir_resource_type_updated", resource.c.resource_type, resource.c.last_updated)

resource_version = Table(
    "fhir_resource_version",
    metadata,
    Column("resource_type", String(TYPE_LEN), primary_key=True),
    Column("id", String(ID_LEN), primary_key=True),
    Column("version_id", Integer, primary_key=True),
    Column("last_updated", String(INSTANT_LEN), nullable=False),
    Column("method", String(8), nullable=False),
    Column("content", Text, nullable=True),
)
Index("ix_fhir_resource_version_updated", resource_version.c.last_updated)
Index(
    "ix_fhir_resource_version_type_updated",
    resource_version.c.resource_type,
    resource_version.c.last_updated,
)

search_token = Table(
    "fhir_search_token",
    metadata,
    Column("resource_type", String(TYPE_LEN), nullable=False),
    Column("id", String(ID_LEN), nullable=False),
    Column("param", String(64), nullable=False),
    Column("system", String(512), nullable=True),
    Column("code", String(512), nullable=False),
)
Index("ix_fhir_search_token_lookup", search_token.c.resource_type, search_token.c.param, search_token.c.code)
Index("ix_fhir_search_token_owner", search_token.c.resource_type, search_token.c.id)

search_reference = Table(
    "fhir_search_reference",
    metadata,
    Column("resource_type", String(TYPE_LEN), nullable=False),
    Column("id", String(ID_LEN), nullable=False),
    Column("param", String(64), nullable=False),
    Column("target_type", String(TYPE_LEN), nullable=False),
    Column("target_id", String(ID_LEN), nullable=False),
)
Index(
    "ix_fhir_search_reference_lookup",
    search_reference.c.resource_type,
    search_reference.c.param,
    search_reference.c.target_id,
)
Index("ix_fhir_search_reference_owner", search_reference.c.resource_type, search_reference.c.id)

search_date = Table(
    "fhir_search_date",
    metadata,
    Column("resource_type", String(TYPE_LEN), nullable=False),
    Column("id", String(ID_LEN), nullable=False),
    Column("param", String(64), nullable=False),
    Column("low", String(INSTANT_LEN), nullable=False),
    Column("high", String(INSTANT_LEN), nullable=False),
)
Index("ix_fhir_search_date_lookup", search_date.c.resource_type, search_date.c.param, search_date.c.low)
Index("ix_fhir_search_date_owner", search_date.c.resource_type, search_date.c.id)

search_string = Table(
    "fhir_search_string",
    metadata,
    Column("resource_type", String(TYPE_LEN), nullable=False),
    Column("id", String(ID_LEN), nullable=False),
    Column("param", String(64), nullable=False),
    Column("normalized", String(512), nullable=False),
    Column("exact", String(512), nullable=False),
)
Index(
    "ix_fhir_search_string_lookup",
    search_string.c.resource_type,
    search_string.c.param,
    search_string.c.normalized,
)
Index("ix_fhir_search_string_owner", search_string.c.resource_type, search_string.c.id)

INDEX_TABLES = (search_token, search_reference, search_date, search_string)
