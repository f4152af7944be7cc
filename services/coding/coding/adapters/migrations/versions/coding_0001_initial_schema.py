"""The initial schema: the tables `metadata.create_all` made before migrations (a database it made is adopted
at this revision).

Revision ID: coding_0001
Revises: (none)
Create Date: 2026-12-07 22:51:35.282061

A revision never changes once released, and never reads the live models: what it makes is written out here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.migrations import schema_v1

revision: str = "coding_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_v1.create_event_store()
    schema_v1.create_dead_letters()
    op.create_table(
        "coding_known_items",
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("region_code", sa.Text(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("item_id"),
    )
    op.create_table(
        "item_codes",
        sa.Column("code", sa.Text(collation="C"), nullable=False),
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("base_code", sa.Text(collation="C"), nullable=False),
        sa.Column("collided_with", sa.Text(), nullable=True),
        sa.Column("parts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("elements", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("pinyin_letters", sa.Text(), nullable=False),
        sa.Column("overrides_version", sa.Text(), nullable=False),
        sa.Column("replaces", sa.Text(collation="C"), nullable=True),
        sa.Column("allocated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retire_reason", sa.Text(), nullable=True),
        sa.Column("replaced_by", sa.Text(collation="C"), nullable=True),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index("item_codes_item_idx", "item_codes", ["item_id", "allocated_at"], unique=False)
    op.create_index(
        "item_codes_one_active_per_item",
        "item_codes",
        ["item_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "item_lineage",
        sa.Column("predecessor", sa.Text(), nullable=False),
        sa.Column("successor", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("predecessor", "successor", name="item_lineage_pk"),
    )
    op.create_index("item_lineage_successor_idx", "item_lineage", ["successor"], unique=False)
    op.create_table(
        "item_services",
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("service_code", sa.Text(collation="C"), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdraw_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("item_id", "sequence", name="item_services_pk"),
        sa.UniqueConstraint("service_code"),
    )
    op.create_index(
        "item_services_active_name",
        "item_services",
        ["item_id", "name"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )


def downgrade() -> None:
    op.drop_index(
        "item_services_active_name", table_name="item_services", postgresql_where=sa.text("status = 'active'")
    )
    op.drop_table("item_services")
    op.drop_index("item_lineage_successor_idx", table_name="item_lineage")
    op.drop_table("item_lineage")
    op.drop_index(
        "item_codes_one_active_per_item", table_name="item_codes", postgresql_where=sa.text("status = 'active'")
    )
    op.drop_index("item_codes_item_idx", table_name="item_codes")
    op.drop_table("item_codes")
    op.drop_table("coding_known_items")
    schema_v1.drop_dead_letters()
    schema_v1.drop_event_store()
