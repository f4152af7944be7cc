"""The lifecycle's own tables (besides the shared event store's): the read models rebuilt from the log (the items
list, the planned-dates schedule, snapshots) and the record of which projection schema built them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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
)
from sqlalchemy.dialects.postgresql import JSONB

# Bump when a read model's content rules change: the service rebuilds its projections from the log at start-up.
# (A change of columns gets a new table name instead, so that old and new processes never share a table.)
PROJECTION_SCHEMA_VERSION = 2  # 2: national_sync is the standing answer

lifecycle_metadata = MetaData()

items_table = Table(
    "lifecycle_items",  # the list projection: one row per item, as of its latest version
    lifecycle_metadata,
    Column("item_id", Text, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("region_code", Text, index=True),
    Column("phase", Text, index=True),
    Column("step", Text),
    Column("code", Text, index=True),
    Column("name", Text),
    Column("short_name", Text),
    Column("item_type", Text),
    Column("police_type", Text),
    Column("service_category", Text),
    Column("latest_revision", Integer),
    Column("published_revision", Integer),
    Column("pending_revision", Integer),
    # the national platform's standing answer: its latest, a rejection only until newer content is published
    Column("national_sync", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
# The list's `q=` search (queries.list_items): name or short name containing it (ILIKE '%q%'), or the code starting
# with it (LIKE 'q%', which the btree on code cannot serve under the database's non-C collation). A trigram index on
# each lets PostgreSQL answer the OR with a BitmapOr instead of reading every row (migration lifecycle_0002).
Index("lifecycle_items_name_trgm", items_table.c.name, postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"})
Index("lifecycle_items_short_name_trgm", items_table.c.short_name, postgresql_using="gin",
      postgresql_ops={"short_name": "gin_trgm_ops"})
Index("lifecycle_items_code_trgm", items_table.c.code, postgresql_using="gin", postgresql_ops={"code": "gin_trgm_ops"})

schedule_table = Table(
    "lifecycle_schedule",  # the next planned action of each item that has one (planning.plan of its state)
    lifecycle_metadata,
    Column("item_id", Text, primary_key=True),
    Column("action", Text, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False, index=True),
    Column("planned_date", Text, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

snapshots_table = Table(
    "lifecycle_snapshots",
    lifecycle_metadata,
    Column("item_id", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("state", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("item_id", "version", name="lifecycle_snapshots_pk"),
)

projection_meta_table = Table(
    "lifecycle_projection_meta",  # which projection schema the read models were built with, and the last rebuild
    lifecycle_metadata,
    Column("name", Text, primary_key=True),
    Column("schema_version", Integer, nullable=False),
    Column("rebuilt_at", DateTime(timezone=True), nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("seconds", Float, nullable=False),
)

PROJECTION_TABLES = (items_table, schedule_table, snapshots_table)
