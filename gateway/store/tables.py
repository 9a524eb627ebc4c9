"""Database tables (SQLAlchemy Core). Alembic migrations in `migrations/` create them; keep both in step
(`tests/integration/test_migrations.py` compares them).

Every write of a resource adds a row to `fhir_resource_version` (history is never rewritten) and replaces the
current row in `fhir_resource` and its search index rows, all in one transaction. Instants are fixed-width UTC
strings (see `dates.py`) so that ordering is the same on SQLite and PostgreSQL.

The access rule's data (`gateway.store.visibility` reads it in SQL) is written in the same transactions:
`fhir_resource.author` (the SOR code of the organisation that first wrote the resource, never changed), and per
shared plan its row in `plan`, the resources it is made of (`plan_member`, with the data category guarding each)
and what its own Consent permits (`plan_grant`: organisation, category, half-open period), rewritten with every
plan write.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table, Text, UniqueConstraint, true

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TYPE_LEN, ID_LEN, INSTANT_LEN = 64, 64, 27
#: SOR codes are 11-18 digits (DK-core `dk-core-sor-identifier`); plan source systems are URIs we index uniquely.
SOR_LEN, SOURCE_SYSTEM_LEN, SOURCE_VALUE_LEN = 32, 512, 200

resource = Table(
    "fhir_resource",
    metadata,
    Column("resource_type", String(TYPE_LEN), primary_key=True),
    Column("id", String(ID_LEN), primary_key=True),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", String(INSTANT_LEN), nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("content", Text, nullable=True),
    Column("author", String(SOR_LEN), nullable=True),
)
# The order of every search (instant, then id as the tie-break), read from the index without a sort (issue 18).
Index("ix_fhir_resource_type_updated", resource.c.resource_type, resource.c.last_updated, resource.c.id)
Index("ix_fhir_resource_type_author", resource.c.resource_type, resource.c.author)

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
Index("ix_fhir_search_token_owner", search_token.c.resource_type, search_token.c.id, search_token.c.param)

search_reference = Table(
    "fhir_search_reference",
    metadata,
    Column("resource_type", String(TYPE_LEN), nullable=False),
    Column("id", String(ID_LEN), nullable=False),
    Column("param", String(64), nullable=False),
    Column("target_type", String(TYPE_LEN), nullable=False),
    Column("target_id", String(ID_LEN), nullable=False),
)
# The lookups carry the id, so a criterion's id set is read from the index alone (`search_plan`); the token and
# string lookups cannot (values up to 512 characters: PostgreSQL refuses index rows over 2,704 bytes).
Index(
    "ix_fhir_search_reference_lookup",
    search_reference.c.resource_type,
    search_reference.c.param,
    search_reference.c.target_id,
    search_reference.c.target_type,
    search_reference.c.id,
)
Index(
    "ix_fhir_search_reference_owner", search_reference.c.resource_type, search_reference.c.id, search_reference.c.param
)

search_date = Table(
    "fhir_search_date",
    metadata,
    Column("resource_type", String(TYPE_LEN), nullable=False),
    Column("id", String(ID_LEN), nullable=False),
    Column("param", String(64), nullable=False),
    Column("low", String(INSTANT_LEN), nullable=False),
    Column("high", String(INSTANT_LEN), nullable=False),
)
Index(
    "ix_fhir_search_date_lookup",
    search_date.c.resource_type,
    search_date.c.param,
    search_date.c.low,
    search_date.c.high,
    search_date.c.id,
)
# `gt`, `ge` and `eb` bound the upper end (`search_filters._date_match`).
Index(
    "ix_fhir_search_date_high",
    search_date.c.resource_type,
    search_date.c.param,
    search_date.c.high,
    search_date.c.low,
    search_date.c.id,
)
Index(
    "ix_fhir_search_date_owner",
    search_date.c.resource_type,
    search_date.c.id,
    search_date.c.param,
    search_date.c.low,
    search_date.c.high,
)

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
Index("ix_fhir_search_string_owner", search_string.c.resource_type, search_string.c.id, search_string.c.param)

INDEX_TABLES = (search_token, search_reference, search_date, search_string)

# -- the access rule's data (gateway.store.visibility) -----------------------------------------------------------

plan = Table(
    "plan",
    metadata,
    Column("plan_id", String(ID_LEN), primary_key=True),  # the CarePlan's id
    Column("patient_id", String(ID_LEN), nullable=False),
    Column("author", String(SOR_LEN), nullable=True),
    Column("source_system", String(SOURCE_SYSTEM_LEN), nullable=False),
    Column("source_value", String(SOURCE_VALUE_LEN), nullable=False),
    # when a plan for its citizen was first active (stored instant; None: never): the keeper's seniority
    Column("first_active", String(INSTANT_LEN), nullable=True),
    # the day up to which the citizen's own consent decision holds against the author's writes (migration 0016)
    Column("citizen_decision", String(10), nullable=True),
    UniqueConstraint("source_system", "source_value"),
)
Index("ix_plan_patient_id", plan.c.patient_id)

plan_member = Table(
    "plan_member",
    metadata,
    Column("resource_type", String(TYPE_LEN), primary_key=True),
    Column("id", String(ID_LEN), primary_key=True),
    Column("plan_id", String(ID_LEN), primary_key=True),
    Column("category", String(16), primary_key=True),
)
# What a viewer's grants reach: (plan, category) -> the members' types and ids, without reading the table.
Index(
    "ix_plan_member_plan",
    plan_member.c.plan_id,
    plan_member.c.category,
    plan_member.c.resource_type,
    plan_member.c.id,
)

plan_grant = Table(
    "plan_grant",
    metadata,
    Column("plan_id", String(ID_LEN), primary_key=True),
    Column("category", String(16), primary_key=True),
    Column("sor", String(SOR_LEN), primary_key=True),
    Column("valid_from", String(INSTANT_LEN), primary_key=True),  # dates.MIN_INSTANT when unbounded
    Column("valid_to", String(INSTANT_LEN), nullable=False),  # exclusive; dates.MAX_INSTANT when unbounded
)
Index("ix_plan_grant_sor", plan_grant.c.sor, plan_grant.c.category, plan_grant.c.plan_id)

#: Which organisations may reach each resource at some time (its author, and every SOR a grant of one of its plans
#: names, whatever the grant's period), with the resource's `last_updated`: a search walks the rows of its caller in
#: sort order (`ix_resource_access_updated`) and the access rule (`visibility.visible_probe`) still decides each
#: row, so a row here never shows anything. Rewritten for a resource with each of its writes and for a plan's
#: members with each plan write (`gateway.store.access_sql`), in the same transaction.
resource_access = Table(
    "resource_access",
    metadata,
    Column("sor", String(SOR_LEN), primary_key=True),
    Column("resource_type", String(TYPE_LEN), primary_key=True),
    Column("id", String(ID_LEN), primary_key=True),
    Column("last_updated", String(INSTANT_LEN), nullable=False),
)
Index(
    "ix_resource_access_updated",
    resource_access.c.sor,
    resource_access.c.resource_type,
    resource_access.c.last_updated,
    resource_access.c.id,
)
Index("ix_resource_access_resource", resource_access.c.resource_type, resource_access.c.id)

#: One row: a number every write transaction of resources or plan access data moves before it commits, so a value
#: derived from the store (the citizen's plan, `gateway.services.plan_cache`) is current while the number is the
#: one read with it, in every process on this database (`gateway.store.generation`).
store_generation = Table(
    "store_generation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("value", Integer, nullable=False),
)

# -- delivery outbox (gateway.delivery.outbox_sql) ----------------------------------------------------------------

inbound_message = Table(
    "inbound_message",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("received_at", String(INSTANT_LEN), nullable=False),
    Column("content_type", String(128), nullable=False, server_default=""),
    Column("summary", Text, nullable=True),
    Column("body", Text, nullable=True),
    Column("notice_ids", Text, nullable=False),
    #: The SOR code of the organisation that posted it: `/messages` shows a caller only its own (migration 0014).
    Column("poster", String(64), nullable=True),
)
Index("ix_inbound_message_poster", inbound_message.c.poster)

outbox_notice = Table(
    "outbox_notice",
    metadata,
    Column("sequence", Integer, primary_key=True, autoincrement=True),
    Column("id", String(128), nullable=False, unique=True),
    Column("inbound_message_id", String(200), nullable=False, index=True),
    Column("message_header_id", String(128), nullable=False, unique=True),
    Column("citizen", String(200), nullable=False),
    Column("recipient", String(200), nullable=False),
    Column("endpoint", String(1000), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", String(INSTANT_LEN), nullable=False),
    Column("due_at", String(INSTANT_LEN), nullable=True),
    Column("lease_expires_at", String(INSTANT_LEN), nullable=True),
    Column("lease_token", String(64), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("resends", Integer, nullable=False),
    Column("sent_at", String(INSTANT_LEN), nullable=True),
    Column("ack_due_at", String(INSTANT_LEN), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("ack", Text, nullable=True),
    Column("corrects", String(128), nullable=True),
)
Index("ix_outbox_notice_state_due", outbox_notice.c.state, outbox_notice.c.due_at)
Index("ix_outbox_notice_key", outbox_notice.c.citizen, outbox_notice.c.recipient, outbox_notice.c.sequence)
# One notice in flight per (citizen, recipient): a database fact, not only the claim query's (procrastinate).
Index(
    "uq_outbox_notice_in_flight",
    outbox_notice.c.citizen,
    outbox_notice.c.recipient,
    unique=True,
    postgresql_where=outbox_notice.c.state == "sending",
    sqlite_where=outbox_notice.c.state == "sending",
)

# The open notices of a key (its queue), head first: what `outbox_queue` is refreshed from, one index probe.
Index(
    "ix_outbox_notice_open",
    outbox_notice.c.citizen,
    outbox_notice.c.recipient,
    outbox_notice.c.sequence,
    postgresql_where=outbox_notice.c.state.in_(("pending", "sending", "dead")),
    sqlite_where=outbox_notice.c.state.in_(("pending", "sending", "dead")),
)
Index(
    "ix_outbox_notice_ack_due",
    outbox_notice.c.ack_due_at,
    postgresql_where=outbox_notice.c.state == "sent",
    sqlite_where=outbox_notice.c.state == "sent",
)

# One row per ordering key (citizen, recipient), kept by gateway.delivery.outbox_queue: `ready_at` is when the
# key next has a notice to claim (its head's due time, or the lease expiry of its notice in flight; NULL when the
# queue is empty or held), `next_sequence` which notice that is, `held_by` the dead notice holding the queue.
# The claim reads only ready rows, so its cost does not grow with one citizen's backlog; every change to a key's
# notices locks its row first, so concurrent writers of one key are serialised.
outbox_queue = Table(
    "outbox_queue",
    metadata,
    Column("citizen", String(200), primary_key=True),
    Column("recipient", String(200), primary_key=True),
    Column("ready_at", String(INSTANT_LEN), nullable=True),
    Column("next_sequence", Integer, nullable=True),
    Column("held_by", String(128), nullable=True),
)
Index(
    "ix_outbox_queue_ready",
    outbox_queue.c.ready_at,
    outbox_queue.c.next_sequence,
    postgresql_where=outbox_queue.c.ready_at.is_not(None),
    sqlite_where=outbox_queue.c.ready_at.is_not(None),
)

outbox_attempt = Table(
    "outbox_attempt",
    metadata,
    Column("notice_id", String(128), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("bundle_id", String(128), nullable=False),
    Column("started_at", String(INSTANT_LEN), nullable=False),
    Column("finished_at", String(INSTANT_LEN), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("failure", String(64), nullable=True),
    Column("status", Integer, nullable=True),
    Column("detail", Text, nullable=False),
)

# -- page sessions (gateway.web.sessions) ------------------------------------------------------------------------
# Only SHA-256 hashes of sign-in links and session cookies are stored: a copy of the database opens no session.

web_sign_in = Table(
    "web_sign_in",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # citizen | organisation | oidc (a pending OIDC login)
    Column("subject", String(200), nullable=False),  # CPR number, client id, or the OIDC state's data
    Column("expires_at", String(INSTANT_LEN), nullable=False),
    Column("used_at", String(INSTANT_LEN), nullable=True),
)

web_session = Table(
    "web_session",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", String(INSTANT_LEN), nullable=False),
    Column("last_seen_at", String(INSTANT_LEN), nullable=False),
    Column("expires_at", String(INSTANT_LEN), nullable=False),
)

# -- held letters (gateway.store.held, issue 15): an XDIS91 waiting for its XBIN01 attachments, or an XBIN01
# waiting for its XDIS91. Not notices: nothing here is in the outbox until the letter is complete.

held_inbound = Table(
    "held_inbound",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("sender", String(64), nullable=False),
    Column("object_keys", Text, nullable=False),
    Column("content_type", String(128), nullable=False),
    Column("body", Text, nullable=False),
    Column("received_at", String(INSTANT_LEN), nullable=False),
    Column("expires_at", String(INSTANT_LEN), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("poster", String(64), nullable=True),
)
Index("ix_held_inbound_sender_state", held_inbound.c.sender, held_inbound.c.state)

# -- audit trail (gateway.store.audit_log) ------------------------------------------------------------------------

# Append-only: one row per AuditEvent, written in the transaction of what it records, never updated or deleted.
# Single-valued search parameters are columns; the multi-valued ones (agent identifiers, entities) get rows in
# `audit_event_index`. Only the indexes the AuditEvent searches need: time, patient, each token parameter (with the
# time, the default order), and the index lookups.
audit_event = Table(
    "audit_event",
    metadata,
    Column("id", String(ID_LEN), primary_key=True),
    Column("recorded", String(INSTANT_LEN), nullable=False),
    Column("action", String(1), nullable=True),
    Column("outcome", String(2), nullable=True),
    Column("type_system", String(200), nullable=True),
    Column("type_code", String(64), nullable=True),
    Column("subtype_system", String(200), nullable=True),
    Column("subtype_code", String(64), nullable=True),
    Column("patient", String(ID_LEN), nullable=True),
    Column("content", Text, nullable=False),
)
Index("ix_audit_event_recorded", audit_event.c.recorded)
Index("ix_audit_event_patient", audit_event.c.patient, audit_event.c.recorded)
Index("ix_audit_event_action", audit_event.c.action, audit_event.c.recorded)
Index("ix_audit_event_outcome", audit_event.c.outcome, audit_event.c.recorded)
Index("ix_audit_event_type", audit_event.c.type_code, audit_event.c.type_system, audit_event.c.recorded)
Index("ix_audit_event_subtype", audit_event.c.subtype_code, audit_event.c.subtype_system, audit_event.c.recorded)

audit_event_index = Table(
    "audit_event_index",
    metadata,
    Column("event_id", String(ID_LEN), nullable=False),
    Column("param", String(32), nullable=False),
    Column("system", String(512), nullable=True),
    Column("value", String(512), nullable=False),
)
Index("ix_audit_event_index_lookup", audit_event_index.c.param, audit_event_index.c.value, audit_event_index.c.event_id)

# Stored search results (HAPI FHIR's HFJ_SEARCH / HFJ_SEARCH_RESULT): the ordered ids of a search's matches, taken
# in passes from its first page on, so that following `next` links walks exactly that list while resources are
# created, updated and deleted meanwhile. `owner` names the caller (only they may page through it), `query` the
# parameters used (re-read at page time for the criteria, `_include` and the like), `size` the number of stored
# ids, `complete` whether they are all the matches there were (the last pass found the end).
search_result = Table(
    "fhir_search_result",
    metadata,
    Column("search_id", String(ID_LEN), primary_key=True),
    Column("resource_type", String(TYPE_LEN), nullable=False),
    Column("owner", String(80), nullable=False),
    Column("query", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("expires", String(INSTANT_LEN), nullable=False),
    Column("complete", Boolean, nullable=False, server_default=true()),
)
Index("ix_fhir_search_result_expires", search_result.c.expires)

search_result_entry = Table(
    "fhir_search_result_entry",
    metadata,
    Column("search_id", String(ID_LEN), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("resource_id", String(ID_LEN), nullable=False),
)
Index("ix_fhir_search_result_entry_resource", search_result_entry.c.search_id, search_result_entry.c.resource_id)
