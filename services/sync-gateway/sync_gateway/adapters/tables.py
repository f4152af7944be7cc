"""The sync gateway's tables (besides the event store): the feed, the catalogue read model and national feedback."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

sync_metadata = MetaData()

# The national feed: one entry per public lifecycle event (position = cursor; unique source event id, so
# redelivery never duplicates).
feed_entries_table = Table(
    "feed_entries",
    sync_metadata,
    Column("position", BigInteger, Identity(always=True), primary_key=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("item_id", Text, nullable=False, index=True),
    Column("item_version", Integer, nullable=False),
    Column("type", Text, nullable=False),
    # The published record's region, beside the entry: a caller of some regions reads only its own, and filtering
    # on this column spares PostgreSQL reading the (TOASTed) entries of the others.
    Column("region_code", Text, nullable=False),
    Column("entry", JSONB, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
# Each published item's latest entry (the snapshot lists those online).
catalog_table = Table(
    "catalog",
    sync_metadata,
    Column("item_id", Text, primary_key=True),
    Column("item_version", Integer, nullable=False),
    Column("code", Text, index=True),
    Column("phase", Text, nullable=False),
    Column("region_code", Text, index=True),
    Column("entry", JSONB, nullable=False),
    Column("feed_position", BigInteger, nullable=False),
)
# The latest national answer per item version (the read model of the sync.national.* events, written with them).
national_feedback_table = Table(
    "national_feedback",
    sync_metadata,
    Column("item_id", Text, nullable=False),
    Column("item_version", Integer, nullable=False),
    Column("result", Text, nullable=False),
    Column("reason", Text),
    Column("note", Text),
    Column("code", Text),
    Column("feed_sequence", BigInteger, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("item_id", "item_version", name="national_feedback_pk"),
)
