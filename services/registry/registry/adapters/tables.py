"""The registry's own tables beside its event store. Every row here can be rebuilt: ``registry_items`` from the item
streams, ``registry_item_phases`` from the lifecycle topic; jobs and idempotency keys are bookkeeping.

Each write updates these rows in the same transaction as the events it appends."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from shared.eventstore import events_table

registry_metadata = MetaData()

# The latest revision of every item, flattened for lists, filters, search, references and the consistency report.
# Its full element set is not copied here: the revision's event holds it (CURRENT_ELEMENTS reads it from there by
# primary key), so a write stores the ≈2 KB of elements once, not twice.
registry_items_table = Table(
    "registry_items",
    registry_metadata,
    Column("item_id", Text, primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("region_code", Text, nullable=False),
    Column("source_ref", Text),
    Column("name", Text, nullable=False),
    Column("short_name", Text, nullable=False),
    Column("item_type", Text, nullable=False),
    Column("police_type", Text, nullable=False),
    Column("service_category", Text, nullable=False),
    Column("national_basic_code", Text),
    Column("composition", Text, nullable=False),
    Column("tier", Text, nullable=False),
    Column("parent_item_id", Text),
    Column("member_item_ids", ARRAY(Text), nullable=False),
    Column("serial_predecessor_ids", ARRAY(Text), nullable=False),
    Column("search_text", Text, nullable=False),  # see registry/domain/search.py
    Column("complete", Boolean, nullable=False),
    Column("author", Text, nullable=False),  # who created the item
    Column("updated_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
# source_ref is the caller's own id: unique per region, so a retried or re-imported item never becomes two.
Index("registry_items_source_ref_uq", registry_items_table.c.region_code, registry_items_table.c.source_ref,
      unique=True, postgresql_where=registry_items_table.c.source_ref.isnot(None))
# Lists are ordered by (region_code, name, item_id): the keyset of cursor pagination, and region prefixes use it too.
Index("registry_items_listing_idx", registry_items_table.c.region_code, registry_items_table.c.name,
      registry_items_table.c.item_id, postgresql_ops={"region_code": "text_pattern_ops"})
Index("registry_items_search_trgm", registry_items_table.c.search_text, postgresql_using="gin",
      postgresql_ops={"search_text": "gin_trgm_ops"})
Index("registry_items_basic_code_idx", registry_items_table.c.national_basic_code,
      postgresql_where=registry_items_table.c.national_basic_code.isnot(None))
Index("registry_items_parent_idx", registry_items_table.c.parent_item_id,
      postgresql_where=registry_items_table.c.parent_item_id.isnot(None))
# Only composites have members: a GIN index entry for every empty array would cost each insert ≈20 µs for nothing.
# Queries add the same predicate (store.dependents) so the planner can use this partial index.
HAS_MEMBERS = func.cardinality(registry_items_table.c.member_item_ids) > 0
Index("registry_items_members_idx", registry_items_table.c.member_item_ids, postgresql_using="gin",
      postgresql_where=HAS_MEMBERS)

# The elements of the row's revision, from its event (stream = item id, version = revision).
CURRENT_ELEMENTS = (select(events_table.c.data["elements"])
                    .where(events_table.c.stream_id == registry_items_table.c.item_id,
                           events_table.c.version == registry_items_table.c.revision)
                    .scalar_subquery().label("elements"))

# What the lifecycle says about each item (consumed from its topic). No row = not yet seen = 形成期.
registry_item_phases_table = Table(
    "registry_item_phases",
    registry_metadata,
    Column("item_id", Text, primary_key=True),
    Column("phase", Text, nullable=False),
    Column("published_revision", Integer),
    Column("lifecycle_version", Integer, nullable=False),  # the lifecycle stream version: older events never win
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)

idempotency_keys_table = Table(
    "idempotency_keys",
    registry_metadata,
    Column("subject", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("item_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

import_jobs_table = Table(
    "registry_import_jobs",
    registry_metadata,
    Column("job_id", Text, primary_key=True),
    Column("subject", Text, nullable=False),
    # The starter's regions (claim prefixes or *): every row the job may write lies within them, and who else may
    # read the job follows from them.
    Column("regions", ARRAY(Text), nullable=False),
    Column("filename", Text),
    Column("format", Text, nullable=False),
    Column("status", Text, nullable=False),  # queued, running, completed, failed
    Column("rows_total", Integer),  # known up front for xlsx (sheet dimension); else when parsing ends
    Column("rows_processed", Integer, nullable=False, server_default=text("0")),
    Column("progress", Float, nullable=False, server_default=text("0")),  # 0..1 (rows or bytes read)
    Column("created", Integer, nullable=False, server_default=text("0")),
    Column("revised", Integer, nullable=False, server_default=text("0")),
    Column("unchanged", Integer, nullable=False, server_default=text("0")),
    Column("failed", Integer, nullable=False, server_default=text("0")),
    Column("error", Text),  # why the whole job failed (unreadable file, missing columns)
    Column("error_code", Text),  # its stable code (the error table's, e.g. IMPORT_FILE_TOO_LARGE_EXPANDED)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("heartbeat_at", DateTime(timezone=True)),
)

import_errors_table = Table(
    "registry_import_errors",
    registry_metadata,
    Column("job_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("row", Integer, nullable=False),
    Column("column", Text),
    Column("field", Text),
    Column("code", Text, nullable=False),
    Column("message", Text, nullable=False),
    PrimaryKeyConstraint("job_id", "seq"),
)
# A caller's recent jobs, newest first (GET /imports): the starter's own by this index, an admin's by the scan.
Index("registry_import_jobs_recent_idx", import_jobs_table.c.subject, import_jobs_table.c.created_at.desc(),
      import_jobs_table.c.job_id.desc())
