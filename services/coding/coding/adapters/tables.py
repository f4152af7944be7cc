"""The coding service's tables (besides the event store). Each is written in the same transaction as the events
that say what happened, so it is always exactly what the stored events (and, for lineage, the consumed lifecycle
events) say."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, PrimaryKeyConstraint, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB

coding_metadata = MetaData()

# "C" collation: codes are ASCII [0-9A-Z], and byte order lets one index range scan find every code that shares
# a 22-character prefix (all the collision sequences a base code competes for).
CODE_TEXT = Text(collation="C")

ACTIVE = "active"
RETIRED = "retired"
WITHDRAWN = "withdrawn"

item_codes_table = Table(
    "item_codes",
    coding_metadata,
    # One row per code ever allocated. The primary key covers active AND retired codes: a code is never reused,
    # neither as a base code nor as a collision sequence.
    Column("code", CODE_TEXT, primary_key=True),
    Column("item_id", Text, nullable=False),
    Column("status", Text, nullable=False),  # active / retired
    Column("base_code", CODE_TEXT, nullable=False),
    Column("collided_with", Text),
    Column("parts", JSONB, nullable=False),
    # The coded elements the code was computed from: a repeated registration request is compared with these
    # (see domain.allocation.same_code_parts), never by recomputing the stored code.
    Column("elements", JSONB, nullable=False),
    Column("pinyin_letters", Text, nullable=False),
    Column("overrides_version", Text, nullable=False),
    Column("replaces", CODE_TEXT),
    Column("allocated_at", DateTime(timezone=True), nullable=False),
    Column("retired_at", DateTime(timezone=True)),
    Column("retire_reason", Text),
    Column("replaced_by", CODE_TEXT),
)
Index("item_codes_one_active_per_item", item_codes_table.c.item_id, unique=True,
      postgresql_where=text("status = 'active'"))
Index("item_codes_item_idx", item_codes_table.c.item_id, item_codes_table.c.allocated_at)

known_items_table = Table(
    "coding_known_items",
    coding_metadata,
    # Items the lifecycle said exist (lifecycle.item.entered.v1): coding codes, retires and links only these, so a
    # forged or stray registration request for an item nobody created is refused instead of taking a code.
    Column("item_id", Text, primary_key=True),
    Column("region_code", Text, nullable=False),
    Column("entered_at", DateTime(timezone=True), nullable=False),
)

item_lineage_table = Table(
    "item_lineage",
    coding_metadata,
    # One row per (predecessor → successor) link of a split or merge (lifecycle.item.lineage_recorded.v1). Codes
    # are not stored here: a successor may be coded later, so they are resolved when read.
    Column("predecessor", Text, nullable=False),
    Column("successor", Text, nullable=False),
    Column("kind", Text, nullable=False),  # split / merge
    Column("reason", Text),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("predecessor", "successor", name="item_lineage_pk"),
)
Index("item_lineage_successor_idx", item_lineage_table.c.successor)

item_services_table = Table(
    "item_services",
    coding_metadata,
    # 事项服务: one row per service ever allocated for an item; withdrawn rows stay, so a sequence is never reused.
    Column("item_id", Text, nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("service_code", CODE_TEXT, nullable=False, unique=True),  # current: item code + sequence
    Column("status", Text, nullable=False),  # active / withdrawn
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("withdrawn_at", DateTime(timezone=True)),
    Column("withdraw_reason", Text),
    PrimaryKeyConstraint("item_id", "sequence", name="item_services_pk"),
)
Index("item_services_active_name", item_services_table.c.item_id, item_services_table.c.name, unique=True,
      postgresql_where=text("status = 'active'"))
